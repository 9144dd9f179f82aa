"""The partner-matching model: schools and partners as feature blocks, fitted the scikit-learn way."""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from matcher import config
from matcher.errors import MatcherError, UnknownIdError
from matcher.explain import explain_pair, matched_categories, reasons_for_partner, reasons_for_school
from matcher.features import PartnerFeatures, SchoolFeatures, cached_hub_statistics, hub_statistics
from matcher.grades import format_grades
from matcher.highlight import filler_terms
from matcher.ids import IdTable, normalise_id
from matcher.matches import Explanation, FilteredMatches, Match
from matcher.params import ParamsMixin
from matcher.ranking import rank_chunk, state_mask, top_k
from matcher.scoring import Scorer
from matcher.weights import SETTINGS, check_weights, merge_weights

if TYPE_CHECKING:
    from matcher.featurize import Featurizer
    from matcher.filters import PartnerFilters
    from matcher.state import Constraints


class PartnerMatcher(ParamsMixin):
    """Rank partners for schools (and schools for partners) by an explained, weighted similarity.

    Schools and partners become feature blocks, each a similarity in [0, 1]
    (see :mod:`matcher.features`): ``text`` (sentence-embedding closeness of
    needs and offerings), ``categories`` (the school's need categories that
    the partner offers), ``grades``, ``geo`` and ``partner_type``. The score
    (see :mod:`matcher.scoring`) is the weighted mean of the blocks known for
    the pair, with grades, geography and type counting in full only for a
    partner that meets the need. Hard constraints (grade bands overlap,
    inside the partner's service area unless it is remote, capacity left)
    are never broken.

    Parameters
    ----------
    weights : dict of str to float, optional
        Block weights; blocks left out take :data:`matcher.config.DEFAULT_WEIGHTS`.
        Any query can override them without refitting.
    geo_length_km : float, default 25
        Distance scale of the geography block.
    encoder : str, default "minilm"
        Text encoder: ``"minilm"``, ``"static"`` or a sentence-transformers folder.
    default_radius_km : float, default 80
        Service area of an in-person partner that gives no ``service_radius_km``.

    Attributes
    ----------
    school_ids_, partner_ids_ : ndarray of str
        Ids in sorted order; row i of every school array is ``school_ids_[i]``.
    schools_ : SchoolFeatures
    partners_ : PartnerFeatures
    weights_ : dict of str to float
        Weights in force, every block present.
    featurizer_ : Featurizer
        How texts and tables become features (encoder, tagger, taxonomy).
    hub_reference_ : SchoolFeatures
        The training schools partners' hub offsets are measured against.
    hub_means_ : tuple of float
        Mean text and category hub statistics over the training partners.
    partner_contacts_ : ndarray of dict
        Each partner's contact columns that are given (``contact_name``,
        ``contact_email``, ``website``).
    filler_terms_ : frozenset of str
        Stems of words too common across partners to show as matched
        (:func:`matcher.highlight.filler_terms`; display only).

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
        default_radius_km: float = config.DEFAULT_SERVICE_RADIUS_KM,
    ):
        self.weights = weights
        self.geo_length_km = geo_length_km
        self.encoder = encoder
        self.default_radius_km = default_radius_km

    # ------------------------------------------------------------------ fit
    def fit(self, schools, partners, history=None, *, cache=None, client=None) -> PartnerMatcher:
        """Fit on a schools table and a partners table.

        Parameters
        ----------
        schools, partners : pandas.DataFrame
            As read by :func:`matcher.data.read_schools` / :func:`~matcher.data.read_partners`,
            or raw string tables with the same columns (validated here).
        history : pandas.DataFrame, optional
            Past partnerships (validated; counted).
        cache : matcher.catalog.EncodingCache, optional
            Encodings and hub statistics kept between runs (the workspace's
            cache; :class:`matcher.featurize.EncodingCache` and
            :class:`matcher.features.HubCache`): only texts it lacks are
            encoded, only partners it lacks are measured against the reference
            schools.
        client : distributed.Client, optional
            Encode on a Dask cluster (the result is the same as here).

        Returns
        -------
        self
        """
        from matcher import data
        from matcher.featurize import Featurizer

        check_weights({"geo_length_km": self.geo_length_km, "default_radius_km": self.default_radius_km},
                      source="parameters")
        self.weights_ = merge_weights(config.DEFAULT_WEIGHTS, check_weights(self.weights or {}, source="weights"))
        for key in SETTINGS:
            self.weights_.pop(key, None)  # the settings are their own parameters
        start = time.perf_counter()
        schools = data.normalised(schools, "schools").sort_values("school_id", kind="stable").reset_index(drop=True)
        partners = data.normalised(partners, "partners").sort_values("partner_id", kind="stable").reset_index(drop=True)
        self.n_history_ = len(data.normalised(history, "partnerships")) if history is not None else 0

        featurizer = Featurizer(self.encoder)
        self.featurizer_ = featurizer
        self.school_ids_ = schools["school_id"].to_numpy(dtype=object)
        self.partner_ids_ = partners["partner_id"].to_numpy(dtype=object)
        self.school_names_ = schools["name"].to_numpy(dtype=object)
        self.partner_names_ = partners["name"].to_numpy(dtype=object)
        self.school_texts_ = schools["needs"].to_numpy(dtype=object)
        self.partner_texts_ = partners["offerings"].to_numpy(dtype=object)
        self.partner_type_names_ = partners["partner_type"].to_numpy(dtype=object)
        self.partner_contacts_ = data.contacts(partners)
        self.school_frl_ = schools["frl_pct"].to_numpy(dtype=np.float64)
        self.school_explicit_ = np.array([bool(e) for e in schools["need_categories"]])
        self._index: dict[str, dict[str, int]] = {}

        self.schools_ = featurizer.schools(
            schools, featurizer.encode(schools["needs"], cache=cache, client=client))
        partners_ = featurizer.partners(
            partners, featurizer.encode(partners["offerings"], split_sentences=True, cache=cache, client=client))
        n = len(self.schools_)
        step = max(1, -(-n // config.HUB_REFERENCE_SCHOOLS))
        self.hub_reference_ = self.schools_.take(slice(0, n, step))
        text_hub, cat_hub = cached_hub_statistics(self.hub_reference_, partners_, config.HUB_NEIGHBOURS, cache)
        self.hub_means_ = (float(text_hub.mean()) if len(text_hub) else 0.0,
                           float(cat_hub.mean()) if len(cat_hub) else 0.0)
        self.partners_ = self._offsets(partners_, text_hub, cat_hub)
        self.filler_terms_ = filler_terms(self.partner_texts_, self.partners_.categories)
        self.catalog_generation_: str | None = None
        self.catalog_revision_ = 0
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def with_hub_offsets(self, p: PartnerFeatures) -> PartnerFeatures:
        """New partners' features with hub offsets measured against this model's reference schools and means."""
        self.check_fitted()
        text_hub, cat_hub = hub_statistics(self.hub_reference_, p, config.HUB_NEIGHBOURS)
        return self._offsets(p, text_hub, cat_hub)

    def _offsets(self, p: PartnerFeatures, text_hub: np.ndarray, cat_hub: np.ndarray) -> PartnerFeatures:
        """``p`` with its hub offsets set against the fitted means: a partner nearer to every school
        than the average partner is discounted; one farther is lifted, but at most by HUB_MAX_LIFT."""
        p.text_offset = config.HUB_TEXT * np.maximum(text_hub - self.hub_means_[0], -config.HUB_MAX_LIFT)
        p.category_offset = config.HUB_CATEGORIES * np.maximum(cat_hub - self.hub_means_[1], -config.HUB_MAX_LIFT)
        return p

    # ------------------------------------------------------------ lookups
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "partners_")

    def check_fitted(self) -> None:
        """Raise a :class:`MatcherError` unless the model is fitted (the one fitted check)."""
        if not self.__sklearn_is_fitted__():
            raise MatcherError("this PartnerMatcher is not fitted yet: call fit(schools, partners) first")

    @property
    def featurizer(self) -> Featurizer:
        """How texts become features for this model (its encoder, tagger and taxonomy)."""
        self.check_fitted()
        return self.featurizer_

    def index(self, kind: str) -> dict[str, int]:
        """Id -> row for ``kind`` ``"school"`` or ``"partner"`` (built once)."""
        return self._table(kind).pos

    def _table(self, kind: str) -> IdTable:
        """The ids and names of ``kind``, for lookups and suggestions (built once per model)."""
        self.check_fitted()
        if not hasattr(self, "_index"):
            self._index = {}
        table = self._index.get(kind)
        if table is None:
            ids, names = ((self.school_ids_, self.school_names_) if kind == "school"
                          else (self.partner_ids_, self.partner_names_))
            table = self._index[kind] = IdTable(ids, names)
        return table

    def school_row(self, school_id: str) -> int:
        """Row of a school id, or :class:`UnknownIdError` with close ids and names."""
        return self._row("school", school_id)

    def partner_row(self, partner_id: str) -> int:
        """Row of a partner id, or :class:`UnknownIdError` with close ids and names."""
        return self._row("partner", partner_id)

    def _row(self, kind: str, id_: str) -> int:
        table = self._table(kind)
        row = table.pos.get(normalise_id(str(id_)))
        if row is None:
            raise UnknownIdError(kind, str(id_), [table.ids[r] for r in table.suggest(str(id_))])
        return row

    def resolve(self, kind: str, id_or_name: str, partial: bool = False) -> str:
        """The id of the school (``kind="school"``) or partner that a typed id or name stands for.

        The one rule of the command line, the API and the page: the id itself
        (in its one spelling, see :func:`matcher.ids.normalise_id`); else the
        one whose name is the text, ignoring case and runs of spaces. With
        ``partial`` (the page's search box, where the list shown names what
        was found) also the one whose name contains the text.

        Parameters
        ----------
        kind : {"school", "partner"}
        id_or_name : str
        partial : bool, default False

        Returns
        -------
        str
            The id.

        Raises
        ------
        UnknownIdError
            When nothing matches (``suggestions``: close ids, and ids of close
            names, see :meth:`matcher.ids.IdTable.suggest`), or when several
            names match (``ambiguous``; ``candidates`` are their ids and names,
            in id order).

        Examples
        --------
        >>> import pandas as pd
        >>> from matcher.model import PartnerMatcher
        >>> m = PartnerMatcher().fit(
        ...     pd.DataFrame({"school_id": ["S1", "S2", "S3"], "name": ["Oak Elementary", "Oak Ridge High", "Oak Ridge High"],
        ...                   "needs": ["tutoring", "mentors", "meals"]}),
        ...     pd.DataFrame({"partner_id": ["P1"], "name": ["Library"], "offerings": ["tutoring"]}))
        >>> m.resolve("school", "S2"), m.resolve("school", "oak  ELEMENTARY"), m.resolve("school", "elem", partial=True)
        ('S2', 'S1', 'S1')
        >>> m.resolve("school", "Oak Ridge High")
        Traceback (most recent call last):
        ...
        matcher.errors.UnknownIdError: 'Oak Ridge High' matches 2 schools: S2 (Oak Ridge High), S3 (Oak Ridge High); give one of the ids
        >>> m.resolve("school", "S02")
        Traceback (most recent call last):
        ...
        matcher.errors.UnknownIdError: unknown school id 'S02'; did you mean 'S2'?
        """
        table = self._table(kind)
        text = str(id_or_name)
        row = table.pos.get(normalise_id(text))
        if row is None:
            rows = table.named(text, partial)
            if not rows:
                raise UnknownIdError(kind, text, [table.ids[r] for r in table.suggest(text)])
            if len(rows) > 1:
                rows = sorted(rows, key=lambda r: table.ids[r])
                raise UnknownIdError(kind, text, ambiguous=True, candidates=[(table.ids[r], table.names[r]) for r in rows])
            row = rows[0]
        return table.ids[row]

    # ------------------------------------------------------------ scoring
    def scorer(self, overrides: Mapping[str, float] | None = None) -> Scorer:
        """The model's :class:`Scorer`, with block weights and settings (``geo_length_km``,
        ``default_radius_km``) overridden by ``overrides`` (partial mappings allowed)."""
        self.check_fitted()
        over = check_weights(overrides or {})
        settings = {**self._settings_in_force(), **{k: v for k, v in over.items() if k in SETTINGS}}
        weights = merge_weights(self.weights_, {k: v for k, v in over.items() if k not in SETTINGS})
        return Scorer.from_weights(weights, **settings)

    def _settings_in_force(self) -> dict[str, float]:
        return {"geo_length_km": float(self.geo_length_km), "default_radius_km": float(self.default_radius_km)}

    def need_features(self, need: str, grades: str | None = None, lat: float | None = None,
                      lon: float | None = None, preferred_types: Sequence[str] = ()) -> SchoolFeatures:
        """Features of an ad-hoc need typed on the spot (encoded and tagged now)."""
        return self.featurizer.need(need, grades, lat, lon, preferred_types)

    def state_mask(self, school_ids: Sequence[str | None], state: Constraints | None,
                   include_full: bool = False) -> np.ndarray | None:
        """Pairs (schools x partners) that outreach ``state`` allows, or None without state."""
        return state_mask(self.index("partner"), self.partners_.capacity, school_ids, state, include_full)

    # ------------------------------------------------------------ queries
    def recommend(
        self,
        school_id: str,
        n: int = config.DEFAULT_TOP,
        weights: Mapping[str, float] | None = None,
        include_full: bool = False,
        state: Constraints | None = None,
        filters: PartnerFilters | None = None,
    ) -> list[Match]:
        """Partners for a known school, best first.

        Parameters
        ----------
        school_id : str
        n : int, default 10
            How many; asking for more than there are returns all there are.
        weights : mapping, optional
            Block weights (and settings) overriding the model's for this query.
        include_full : bool, default False
            Also suggest partners with no capacity left.
        state : matcher.state.Constraints, optional
            Outreach state: pairs it excludes are not suggested, and current
            partnerships use up capacity.
        filters : matcher.filters.PartnerFilters, optional
            Keep only the partners that pass (keyword, type, distance,
            delivery, grades): the first ``n`` of the whole ranking that
            pass, each with its rank in the whole ranking (nothing is
            re-ranked).

        Returns
        -------
        list of Match
            A :class:`~matcher.matches.FilteredMatches` when ``filters`` are
            set (it also says how many partners pass and how many were ranked).
        """
        i = self.school_row(school_id)
        return self._rank_partners(self.schools_.take(slice(i, i + 1)), n, weights, include_full, [school_id], state,
                                   filters)

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
        filters: PartnerFilters | None = None,
    ) -> list[Match]:
        """Partners for a need typed on the spot (optionally with grades and a location); ``filters`` as in
        :meth:`recommend`."""
        check_n(n)
        s = self.need_features(need, grades, lat, lon)
        return self._rank_partners(s, n, weights, include_full, None, state, filters)

    def recommend_schools(
        self,
        partner_id: str,
        n: int = config.DEFAULT_TOP,
        weights: Mapping[str, float] | None = None,
        include_full: bool = False,
        state: Constraints | None = None,
    ) -> list[Match]:
        """Schools a known partner could serve, best first (the reverse question)."""
        check_n(n)
        j = self.partner_row(partner_id)
        scorer = self.scorer(weights)
        p = self.partners_.take(slice(j, j + 1))
        score, contrib, dist, ok = scorer.score_matrix(self.schools_, p, include_full)
        extra = self.state_mask(list(self.school_ids_), state, include_full)
        if extra is not None:
            ok &= extra[:, j : j + 1]
        out = []
        for rank, i in enumerate(top_k(score[:, 0], ok[:, 0], n), 1):
            d = _dist(dist[i, 0])
            cats = matched_categories(self.schools_.categories[i], self.partners_.categories[j], self.featurizer_)
            out.append(Match(
                rank=rank, id=self.school_ids_[i], name=self.school_names_[i], score=float(score[i, 0]),
                components={b: float(c[i, 0]) for b, c in contrib.items()}, distance_km=d,
                matched_categories=[c for c, _, _ in cats],
                reasons=reasons_for_partner(self, i, j, cats, d, scorer),
                kind="school", grades=format_grades(int(self.schools_.grades[i])),
            ))
        return out

    def _rank_partners(self, s: SchoolFeatures, n: int, weights, include_full: bool,
                       school_ids: list[str] | None, state: Constraints | None,
                       filters: PartnerFilters | None = None) -> list[Match]:
        """Rank every partner for a one-school chunk (then keep the first ``n`` that pass ``filters``)."""
        check_n(n)
        scorer = self.scorer(weights)
        mask = self.state_mask(school_ids or [None], state, include_full)
        narrow = filters is not None and filters.active
        k = len(self.partner_ids_) if narrow else n
        ((cols, scores, contrib, dist),) = rank_chunk(scorer, s, self.partners_, max(k, 1), include_full, mask)
        ranks = np.arange(1, len(cols) + 1)
        if narrow:
            passing = np.flatnonzero(filters.mask(self, s, scorer.default_radius_km)[cols])
            chosen = passing[:n]
            total = len(cols)
            cols, scores, dist, ranks = cols[chosen], scores[chosen], dist[chosen], ranks[chosen]
            contrib = {b: c[chosen] for b, c in contrib.items()}
        out = []
        for row, (rank, j) in enumerate(zip(ranks.tolist(), cols)):
            d = _dist(dist[row])
            cats = matched_categories(s.categories[0], self.partners_.categories[j], self.featurizer_)
            out.append(Match(
                rank=rank, id=self.partner_ids_[j], name=self.partner_names_[j], score=float(scores[row]),
                components={b: float(c[row]) for b, c in contrib.items()}, distance_km=d,
                matched_categories=[c for c, _, _ in cats],
                reasons=reasons_for_school(self, s, j, cats, d, scorer),
                partner_type=self.partner_type_names_[j], grades=format_grades(int(self.partners_.grades[j])),
            ))
        return FilteredMatches(out, passing=len(passing), total=total) if narrow else out

    def explain(
        self,
        school_id: str,
        partner_id: str,
        weights: Mapping[str, float] | None = None,
        state: Constraints | None = None,
    ) -> Explanation:
        """Every block's similarity, weight and contribution for one pair, and what excludes it."""
        i = self.school_row(school_id)
        j = self.partner_row(partner_id)
        return explain_pair(self, i, j, self.scorer(weights), state)


def check_n(n: int) -> None:
    """Refuse a result count that is not a whole number >= 1."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise MatcherError(f"the number of results must be a whole number >= 1, got {n!r}")


def _dist(d: float) -> float | None:
    return None if np.isnan(d) else float(d)
