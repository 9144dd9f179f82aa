"""The partner-matching model: feature blocks + weights -> scores, fitted the scikit-learn way."""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from matcher import config
from matcher.errors import MatcherError, UnknownIdError
from matcher.features import (
    CATEGORY_SCALE,
    TEXT_SCALE,
    PartnerFeatures,
    SchoolFeatures,
    block_similarities,
    distance_ok,
    grades_ok,
    quantize,
)
from matcher.params import ParamsMixin
from matcher.weights import GEO_LENGTH, block_total, check_weights, merge_weights

if TYPE_CHECKING:
    from matcher.state import Constraints


@dataclass
class Match:
    """One ranked result: a partner for a school (or a school for a partner)."""

    rank: int
    id: str
    name: str
    score: float
    components: dict[str, float]
    distance_km: float | None
    matched_categories: list[str]
    reasons: list[str]
    kind: str = "partner"
    partner_type: str = ""
    grades: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``matcher recommend --format json``."""
        return {
            "rank": self.rank,
            f"{self.kind}_id": self.id,
            "name": self.name,
            "score": round(self.score, 6),
            "components": {b: round(v, 6) for b, v in self.components.items()},
            "distance_km": None if self.distance_km is None else round(self.distance_km, 2),
            "matched_categories": self.matched_categories,
            "reasons": self.reasons,
            **({"partner_type": self.partner_type} if self.kind == "partner" else {}),
            "grades": self.grades,
        }


@dataclass
class Explanation:
    """Why a partner ranks where it does for a school (or why it is left out)."""

    school_id: str
    partner_id: str
    school_name: str
    partner_name: str
    score: float
    rank: int | None
    blocks: list[dict[str, Any]]
    matched_categories: list[dict[str, Any]]
    matched_terms: list[str]
    distance_km: float | None
    excluded_by: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``matcher explain --format json``."""
        return {
            "school_id": self.school_id,
            "partner_id": self.partner_id,
            "school_name": self.school_name,
            "partner_name": self.partner_name,
            "score": round(self.score, 6),
            "rank": self.rank,
            "blocks": self.blocks,
            "matched_categories": self.matched_categories,
            "matched_terms": self.matched_terms,
            "distance_km": None if self.distance_km is None else round(self.distance_km, 2),
            "excluded_by": self.excluded_by,
            "reasons": self.reasons,
        }


class PartnerMatcher(ParamsMixin):
    """Rank partners for schools (and schools for partners) by a weighted similarity.

    Schools and partners become feature blocks, each giving a similarity in
    [0, 1]: ``text`` (sentence-embedding cosine of needs and offerings),
    ``categories`` (share of the school's need categories the partner
    offers), ``grades`` (share of the school's grades served), ``geo``
    (``exp(-distance / geo_length_km)``) and ``partner_type`` (a type the
    school prefers). The score is the weighted mean of the blocks. Hard
    constraints (grade bands overlap, within service radius unless remote,
    capacity left) are never broken.

    Parameters
    ----------
    weights : dict of str to float, optional
        Block weights; blocks left out take :data:`matcher.config.DEFAULT_WEIGHTS`.
        Any query can override them without refitting.
    geo_length_km : float, default 25
        Distance at which the geography similarity falls to 1/e.
    encoder : str, default "minilm"
        Text encoder: ``"minilm"``, ``"static"`` or a sentence-transformers folder.

    Attributes
    ----------
    school_ids_, partner_ids_ : ndarray of str
        Ids in sorted order; row i of every school array is ``school_ids_[i]``.
    schools_ : SchoolFeatures
    partners_ : PartnerFeatures
    weights_ : dict of str to float
        Weights in force, every block present.
    encoder_info_ : dict
        Name, dimensions and weights' sha256 of the encoder used at fit.

    Examples
    --------
    >>> import pandas as pd
    >>> from matcher.model import PartnerMatcher
    >>> schools = pd.DataFrame({"school_id": ["S1"], "name": ["Oak Elementary"],
    ...                         "needs": ["Our students are hungry on Mondays."]})
    >>> partners = pd.DataFrame({"partner_id": ["P1", "P2"], "name": ["Food Bank", "Robotics Club"],
    ...                          "offerings": ["Weekend food bags for families", "Robot building kits"]})
    >>> model = PartnerMatcher().fit(schools, partners)
    >>> [m.id for m in model.recommend("S1", n=2)]
    ['P1', 'P2']
    """

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        geo_length_km: float = config.DEFAULT_GEO_LENGTH_KM,
        encoder: str = config.DEFAULT_ENCODER,
    ):
        self.weights = weights
        self.geo_length_km = geo_length_km
        self.encoder = encoder

    # ------------------------------------------------------------------ fit
    def fit(self, schools, partners, history=None) -> PartnerMatcher:
        """Fit on a schools table and a partners table.

        Parameters
        ----------
        schools, partners : pandas.DataFrame
            As read by :func:`matcher.data.read_schools` / :func:`~matcher.data.read_partners`,
            or raw string tables with the same columns (validated here).
        history : pandas.DataFrame, optional
            Past partnerships (validated; kept as counts for later use).

        Returns
        -------
        self
        """
        from matcher import data
        from matcher.encoders import load_encoder
        from matcher.taxonomy import CategoryTagger, load_taxonomy

        if not (self.geo_length_km and self.geo_length_km > 0):
            raise MatcherError(f"geo_length_km must be > 0, got {self.geo_length_km!r}")
        self.weights_ = merge_weights(config.DEFAULT_WEIGHTS, check_weights(self.weights or {}))
        self.weights_.pop(GEO_LENGTH, None)  # the length scale is its own parameter
        start = time.perf_counter()
        schools = _validated(schools, data.validate_schools, "schools")
        partners = _validated(partners, data.validate_partners, "partners")
        schools = schools.sort_values("school_id", kind="stable").reset_index(drop=True)
        partners = partners.sort_values("partner_id", kind="stable").reset_index(drop=True)
        if history is not None:
            history = _validated(history, data.validate_partnerships, "partnerships")
            self.n_history_ = len(history)
        else:
            self.n_history_ = 0

        taxonomy = load_taxonomy()
        self.category_slugs_ = taxonomy.category_slugs
        self.category_shorts_ = tuple(c.short for c in taxonomy.categories)
        self.partner_type_slugs_ = taxonomy.partner_type_slugs
        encoder = load_encoder(self.encoder)
        self.encoder_info_: dict[str, Any] = {"name": encoder.name, "dim": int(encoder.dim), "sha256": encoder.sha256}
        self.tagger_ = CategoryTagger(taxonomy, encoder)

        self.school_ids_ = schools["school_id"].to_numpy(dtype=object)
        self.partner_ids_ = partners["partner_id"].to_numpy(dtype=object)
        self.school_names_ = schools["name"].to_numpy(dtype=object)
        self.partner_names_ = partners["name"].to_numpy(dtype=object)
        self.school_texts_ = schools["needs"].to_numpy(dtype=object)
        self.partner_texts_ = partners["offerings"].to_numpy(dtype=object)
        self.partner_type_names_ = partners["partner_type"].to_numpy(dtype=object)
        self.school_frl_ = schools["frl_pct"].to_numpy(dtype=np.float64)
        self._school_pos: dict[str, int] | None = None
        self._partner_pos: dict[str, int] | None = None

        texts = list(dict.fromkeys([*self.school_texts_, *self.partner_texts_]))
        emb = encoder.encode(texts)
        row = {t: i for i, t in enumerate(texts)}
        s_emb = emb[[row[t] for t in self.school_texts_]]
        p_emb = emb[[row[t] for t in self.partner_texts_]]
        s_text, p_text = quantize(s_emb, TEXT_SCALE), quantize(p_emb, TEXT_SCALE)

        s_cats = self._categories(list(self.school_texts_), s_emb, list(schools["need_categories"]))
        p_cats = self._categories(list(self.partner_texts_), p_emb, list(partners["offering_categories"]))

        type_pos = {s: i for i, s in enumerate(self.partner_type_slugs_)}
        self.schools_ = SchoolFeatures(
            text=s_text,
            categories=quantize(s_cats, CATEGORY_SCALE),
            grades=schools["grades"].to_numpy(dtype=np.int32),
            lat=schools["latitude"].to_numpy(dtype=np.float64),
            lon=schools["longitude"].to_numpy(dtype=np.float64),
            preferred_types=np.array(
                [sum(1 << type_pos[t] for t in set(ts)) for ts in schools["preferred_partner_types"]], dtype=np.int32
            ),
        )
        radius = partners["service_radius_km"].to_numpy(dtype=np.float64)
        capacity = partners["capacity"].to_numpy(dtype=np.float64)
        self.partners_ = PartnerFeatures(
            text=p_text,
            categories=quantize(p_cats, CATEGORY_SCALE),
            grades=partners["grades"].to_numpy(dtype=np.int32),
            lat=partners["latitude"].to_numpy(dtype=np.float64),
            lon=partners["longitude"].to_numpy(dtype=np.float64),
            type_code=np.array([type_pos.get(t, -1) for t in self.partner_type_names_], dtype=np.int32),
            radius_km=np.where(np.isnan(radius), np.inf, radius),
            remote=partners["remote"].to_numpy(dtype=bool),
            capacity=np.where(np.isnan(capacity), np.inf, capacity),
        )
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _categories(self, texts: list[str], emb: np.ndarray, explicit: list[tuple[str, ...]]) -> np.ndarray:
        """Tagged category strengths; rows with an explicit category list use it instead."""
        tagged = self.tagger_.tag(texts, emb)
        given = np.array([bool(e) for e in explicit])
        if given.any():
            tagged[given] = self.tagger_.explicit([e for e in explicit if e])
        return tagged

    # ------------------------------------------------------------ helpers
    def _check_fitted(self) -> None:
        if not hasattr(self, "partners_"):
            raise MatcherError("this PartnerMatcher is not fitted yet: call fit(schools, partners) first")

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "partners_")

    def _partner_index(self) -> dict[str, int]:
        """partner id -> row."""
        pos = getattr(self, "_partner_pos", None)
        if pos is None:
            pos = self._partner_pos = {v: i for i, v in enumerate(self.partner_ids_)}
        return pos

    def _position(self, kind: str, id_: str) -> int:
        """Row of a school or partner id; UnknownIdError with close ids if absent."""
        attr = f"_{kind}_pos"
        pos = getattr(self, attr, None)
        ids = self.school_ids_ if kind == "school" else self.partner_ids_
        if pos is None:
            pos = {v: i for i, v in enumerate(ids)}
            setattr(self, attr, pos)
        try:
            return pos[id_]
        except KeyError:
            import difflib

            close = difflib.get_close_matches(str(id_), list(ids), n=3, cutoff=0.6)
            raise UnknownIdError(kind, str(id_), close) from None

    def resolve_weights(self, override: Mapping[str, float] | None = None) -> dict[str, float]:
        """The model's weights (and ``geo_length_km``) updated by ``override`` (partial mappings allowed)."""
        self._check_fitted()
        return merge_weights({**self.weights_, GEO_LENGTH: self.geo_length_km}, check_weights(override or {}))

    def need_features(
        self,
        need: str,
        grades: str | None = None,
        lat: float | None = None,
        lon: float | None = None,
        preferred_types: Sequence[str] = (),
    ) -> SchoolFeatures:
        """Features of an ad-hoc need typed on the spot (encoded and tagged now)."""
        from matcher.encoders import load_encoder
        from matcher.grades import parse_grades

        self._check_fitted()
        if not need or not need.strip():
            raise MatcherError("the need text is empty: describe what the school needs")
        if (lat is None) != (lon is None):
            raise MatcherError("give both latitude and longitude, or neither")
        if lat is not None and lon is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise MatcherError(f"location ({lat}, {lon}) is out of range")
        try:
            mask = parse_grades(grades) if grades else 0
        except ValueError as exc:
            raise MatcherError(f"grades: {exc}") from None
        encoder = load_encoder(self.encoder)
        if encoder.sha256 != self.encoder_info_["sha256"]:
            raise MatcherError("the text encoder differs from the one this model was trained with: retrain the model")
        emb = encoder.encode([need])
        type_pos = {s: i for i, s in enumerate(self.partner_type_slugs_)}
        unknown = [t for t in preferred_types if t not in type_pos]
        if unknown:
            raise MatcherError(f"unknown partner type {unknown[0]!r} (types are: {', '.join(self.partner_type_slugs_)})")
        return SchoolFeatures(
            text=quantize(emb, TEXT_SCALE),
            categories=quantize(self.tagger_.tag([need], emb), CATEGORY_SCALE),
            grades=np.array([mask], dtype=np.int32),
            lat=np.array([np.nan if lat is None else lat], dtype=np.float64),
            lon=np.array([np.nan if lon is None else lon], dtype=np.float64),
            preferred_types=np.array([sum(1 << type_pos[t] for t in set(preferred_types))], dtype=np.int32),
        )

    # ------------------------------------------------------------ scoring
    def score_pairs(
        self, s: SchoolFeatures, p: PartnerFeatures, weights: Mapping[str, float]
    ) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
        """Scores, weighted block contributions and distances for every pair of a chunk."""
        sims, dist = block_similarities(s, p, weights.get(GEO_LENGTH, self.geo_length_km))
        total = block_total(weights)
        contrib = {b: (weights[b] / total) * sims[b] for b in config.BLOCKS}
        score = np.zeros(sims["text"].shape, dtype=np.float64)
        for b in config.BLOCKS:
            score += contrib[b]
        return score, contrib, dist

    @staticmethod
    def allowed(s: SchoolFeatures, p: PartnerFeatures, dist: np.ndarray, include_full: bool = False) -> np.ndarray:
        """Pairs that no hard constraint rules out."""
        ok = grades_ok(s, p) & distance_ok(dist, p)
        if not include_full:
            ok &= (p.capacity > 0)[None, :]
        return ok

    # ------------------------------------------------------------ queries
    def recommend(
        self,
        school_id: str,
        n: int = config.DEFAULT_TOP,
        weights: Mapping[str, float] | None = None,
        include_full: bool = False,
        state: Constraints | None = None,
    ) -> list[Match]:
        """Partners for a known school, best first.

        Parameters
        ----------
        school_id : str
        n : int, default 10
            How many; asking for more than there are returns all there are.
        weights : mapping, optional
            Block weights overriding the model's for this query.
        include_full : bool, default False
            Also suggest partners with no capacity left.
        state : matcher.state.Constraints, optional
            Outreach state: pairs it excludes are not suggested, and current
            partnerships use up capacity.

        Returns
        -------
        list of Match
        """
        self._check_fitted()
        i = self._position("school", school_id)
        return self._rank_partners(self.schools_.take(slice(i, i + 1)), n, weights, include_full, [school_id], state)

    def recommend_for_need(
        self,
        need: str,
        n: int = config.DEFAULT_TOP,
        grades: str | None = None,
        lat: float | None = None,
        lon: float | None = None,
        weights: Mapping[str, float] | None = None,
        include_full: bool = False,
        state: Constraints | None = None,
    ) -> list[Match]:
        """Partners for a need typed on the spot (optionally with grades and a location)."""
        s = self.need_features(need, grades, lat, lon)
        return self._rank_partners(s, n, weights, include_full, None, state)

    def recommend_schools(
        self,
        partner_id: str,
        n: int = config.DEFAULT_TOP,
        weights: Mapping[str, float] | None = None,
        include_full: bool = False,
        state: Constraints | None = None,
    ) -> list[Match]:
        """Schools a known partner could serve, best first (the reverse question)."""
        from matcher.explain import reasons_for_partner
        from matcher.ranking import state_mask, top_k

        self._check_fitted()
        _check_n(n)
        j = self._position("partner", partner_id)
        w = self.resolve_weights(weights)
        p = self.partners_.take(slice(j, j + 1))
        score, contrib, dist = self.score_pairs(self.schools_, p, w)
        ok = self.allowed(self.schools_, p, dist, include_full)
        extra = state_mask(self, list(self.school_ids_), state, include_full)
        if extra is not None:
            ok &= extra[:, j : j + 1]
        rows = top_k(score[:, 0], ok[:, 0], n)
        out = []
        for rank, i in enumerate(rows, 1):
            d = _dist(dist[i, 0])
            cats = self.matched_categories(i, j)
            out.append(
                Match(
                    rank=rank,
                    id=self.school_ids_[i],
                    name=self.school_names_[i],
                    score=float(score[i, 0]),
                    components={b: float(contrib[b][i, 0]) for b in config.BLOCKS},
                    distance_km=d,
                    matched_categories=[c for c, _, _ in cats],
                    reasons=reasons_for_partner(self, i, j, cats, d),
                    kind="school",
                    grades=_fmt_grades(self.schools_.grades[i]),
                )
            )
        return out

    def _rank_partners(
        self,
        s: SchoolFeatures,
        n: int,
        weights: Mapping[str, float] | None,
        include_full: bool,
        school_ids: list[str] | None = None,
        state: Constraints | None = None,
    ) -> list[Match]:
        """Rank every partner for a one-school chunk."""
        from matcher.explain import reasons_for_school
        from matcher.ranking import rank_chunk

        _check_n(n)
        w = self.resolve_weights(weights)
        ((cols, scores, contrib, dist),) = rank_chunk(self, s, n, w, include_full, school_ids, state)
        out = []
        for rank, j in enumerate(cols, 1):
            d = _dist(dist[rank - 1])
            cats = self._matched(s.categories[0], j)
            out.append(
                Match(
                    rank=rank,
                    id=self.partner_ids_[j],
                    name=self.partner_names_[j],
                    score=float(scores[rank - 1]),
                    components={b: float(contrib[b][rank - 1]) for b in config.BLOCKS},
                    distance_km=d,
                    matched_categories=[c for c, _, _ in cats],
                    reasons=reasons_for_school(self, s, j, cats, d),
                    partner_type=self.partner_type_names_[j],
                    grades=_fmt_grades(self.partners_.grades[j]),
                )
            )
        return out

    def matched_categories(self, i: int, j: int) -> list[tuple[str, float, float]]:
        """(slug, need strength, offering strength) shared by school row i and partner row j."""
        return self._matched(self.schools_.categories[i], j)

    def _matched(self, need: np.ndarray, j: int, threshold: float = 0.5) -> list[tuple[str, float, float]]:
        offer = self.partners_.categories[j]
        both = np.flatnonzero((need >= threshold) & (offer >= threshold))
        both = both[np.argsort(-(need[both] * offer[both]), kind="stable")]
        return [(self.category_slugs_[c], float(need[c]), float(offer[c])) for c in both]

    def explain(
        self,
        school_id: str,
        partner_id: str,
        weights: Mapping[str, float] | None = None,
        state: Constraints | None = None,
    ) -> Explanation:
        """Every block's similarity, weight and contribution for one pair, and what excludes it."""
        from matcher.explain import explain_pair

        self._check_fitted()
        i = self._position("school", school_id)
        j = self._position("partner", partner_id)
        return explain_pair(self, i, j, self.resolve_weights(weights), state)


def _validated(df, validate, source: str):
    """``df`` as :mod:`matcher.data` normalises it (validating raw string tables)."""
    key = "outcome" if source == "partnerships" else "grades"
    normalised = key in df and df[key].dtype.kind in "iu"
    return df if normalised else validate(df, source=source)


def _check_n(n: int) -> None:
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise MatcherError(f"the number of results must be a whole number >= 1, got {n!r}")


def _dist(d: float) -> float | None:
    return None if np.isnan(d) else float(d)


def _fmt_grades(mask: int) -> str:
    from matcher.grades import format_grades

    return format_grades(int(mask))
