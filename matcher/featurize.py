"""Tables and texts to feature arrays: the one way a school or partner becomes numbers.

:class:`Featurizer` encodes texts with the sentence encoder, tags them with
the taxonomy's categories, reads grades, places and partner types, and
returns :class:`~matcher.features.SchoolFeatures` /
:class:`~matcher.features.PartnerFeatures`. Fitting a model, a need typed
on the spot, batch ranking of new schools and live changes all call it, so
a text gets the same vector whichever way it arrives.

Texts already encoded (same text, same encoder) are not encoded again: pass
their vectors in ``known`` (a mapping text -> :class:`Encoded`).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from matcher.errors import MatcherError
from matcher.features import (
    CATEGORY_SCALE,
    TEXT_SCALE,
    PartnerFeatures,
    SchoolFeatures,
    in_person_share,
    need_weights,
    quantize,
)
from matcher.text import sentences


@dataclass(frozen=True)
class Encoded:
    """A text's quantized whole-text vector, category strengths and sentence vectors (empty for one sentence)."""

    text: np.ndarray  # (d,) float32
    categories: np.ndarray  # (C,) float32
    sentences: np.ndarray  # (k, d) float32, k = 0 or >= 2


class EncodingCache(Protocol):
    """Where encodings are kept between runs (the workspace database's cache: :class:`matcher.catalog.EncodingCache`)."""

    def lookup(self, texts: Iterable[str], split: bool) -> dict[str, Encoded]: ...

    def store(self, encoded: Mapping[str, Encoded], split: bool) -> None: ...


def _encode_batch(spec: str, sha256: str, tagger, batch: list[str], split: bool) -> list[Encoded]:
    """Encode and tag a batch of distinct texts (runs here or on a Dask worker)."""
    from matcher.encoders import load_encoder

    encoder = load_encoder(spec)
    if encoder.sha256 != sha256:
        raise MatcherError("the text encoder differs from the one this model was trained with: retrain the model")
    emb = encoder.encode(batch)
    cats = quantize(tagger.tag(batch, emb), CATEGORY_SCALE)
    text = quantize(emb, TEXT_SCALE)
    parts = [sentences(t) if split else [t] for t in batch]
    flat = list(dict.fromkeys(s for p in parts if len(p) > 1 for s in p))
    sent_emb = quantize(encoder.encode(flat), TEXT_SCALE) if flat else np.zeros((0, text.shape[1]), np.float32)
    row = {s: i for i, s in enumerate(flat)}
    empty = np.zeros((0, text.shape[1]), dtype=np.float32)
    return [
        Encoded(text[i], cats[i], sent_emb[[row[s] for s in p]] if len(p) > 1 else empty)
        for i, p in enumerate(parts)
    ]


class Featurizer:
    """Encode, tag and read schools and partners into feature arrays.

    Parameters
    ----------
    encoder : str
        Encoder spec (``"minilm"``, ``"static"`` or a folder).

    Attributes
    ----------
    encoder_info : dict
        Name, dimensions and weights' sha256 of the encoder.
    tagger : matcher.taxonomy.CategoryTagger
    category_slugs, category_shorts, partner_type_slugs : tuple of str
    in_person : ndarray of bool
        Categories whose needs can only be met on site.
    """

    def __init__(self, encoder: str):
        from matcher.encoders import load_encoder
        from matcher.taxonomy import CategoryTagger, load_taxonomy

        taxonomy = load_taxonomy()
        enc = load_encoder(encoder)
        self.encoder = encoder
        self.encoder_info: dict[str, Any] = {"name": enc.name, "dim": int(enc.dim), "sha256": enc.sha256}
        self.tagger = CategoryTagger(taxonomy, enc)
        self.category_slugs = taxonomy.category_slugs
        self.category_shorts = tuple(c.short for c in taxonomy.categories)
        self.partner_type_slugs = taxonomy.partner_type_slugs
        self.in_person = taxonomy.in_person_mask
        self._type_pos = {s: i for i, s in enumerate(self.partner_type_slugs)}

    @property
    def dim(self) -> int:
        return int(self.encoder_info["dim"])

    # ------------------------------------------------------------------ texts
    def encode(
        self,
        texts: Iterable[str],
        split_sentences: bool = False,
        known: Mapping[str, Encoded] | None = None,
        batch_size: int = 256,
        client=None,
        cache: EncodingCache | None = None,
    ) -> dict[str, Encoded]:
        """Encode and tag the distinct ``texts`` that ``known`` (or ``cache``) lacks; returns text -> :class:`Encoded`.

        ``client`` (a ``distributed.Client``) encodes the batches as Dask tasks,
        the tagger broadcast once; the result is the same as encoding here.
        ``cache`` (see :class:`EncodingCache`) is asked first and given what was encoded.
        """
        distinct = list(dict.fromkeys(texts))
        known = dict(known or {})
        if cache is not None:
            known.update(cache.lookup([t for t in distinct if t not in known], split_sentences))
        out = {t: known[t] for t in distinct if t in known}
        todo = [t for t in distinct if t not in out]
        if not todo:
            return out
        batches = [todo[b : b + batch_size] for b in range(0, len(todo), batch_size)]
        sha = self.encoder_info["sha256"]
        if client is None:
            results = [_encode_batch(self.encoder, sha, self.tagger, b, split_sentences) for b in batches]
        else:
            tagger = client.scatter(self.tagger, broadcast=True, hash=False)
            n = len(batches)
            futures = client.map(_encode_batch, [self.encoder] * n, [sha] * n, [tagger] * n, batches,
                                 [split_sentences] * n, pure=False)
            results = client.gather(futures)
        fresh: dict[str, Encoded] = {}
        for batch, encoded in zip(batches, results):
            fresh.update(zip(batch, encoded))
        if cache is not None:
            cache.store(fresh, split_sentences)
        out.update(fresh)
        return out

    # ------------------------------------------------------------------ tables
    def schools(self, df, encoded: Mapping[str, Encoded]) -> SchoolFeatures:
        """Features of a validated schools table (rows in table order); ``encoded`` holds every needs text."""
        texts = [str(t) for t in df["needs"]]
        cats = self._categories(texts, encoded, list(df["need_categories"]))
        prefs = np.array([self.type_mask(ts, row_id) for ts, row_id in zip(df["preferred_partner_types"], df["school_id"])],
                         dtype=np.int32)
        return self._school_arrays(
            np.stack([encoded[t].text for t in texts]) if texts else np.zeros((0, self.dim), np.float32),
            cats, df["grades"].to_numpy(dtype=np.int32), df["latitude"].to_numpy(dtype=np.float64),
            df["longitude"].to_numpy(dtype=np.float64), prefs,
        )

    def partners(self, df, encoded: Mapping[str, Encoded]) -> PartnerFeatures:
        """Features of a validated partners table (rows in table order), hub offsets 0 (set by the model)."""
        texts = [str(t) for t in df["offerings"]]
        n = len(texts)
        sents = [encoded[t].sentences for t in texts]
        count = np.array([len(s) for s in sents], dtype=np.int32)
        start = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64) if n else np.zeros(0, np.int64)
        capacity = df["capacity"].to_numpy(dtype=np.float64)
        return PartnerFeatures(
            text=np.stack([encoded[t].text for t in texts]) if n else np.zeros((0, self.dim), np.float32),
            sentences=np.concatenate(sents) if n and count.sum() else np.zeros((0, self.dim), np.float32),
            sentence_start=start,
            sentence_count=count,
            categories=self._categories(texts, encoded, list(df["offering_categories"])),
            grades=df["grades"].to_numpy(dtype=np.int32),
            lat=df["latitude"].to_numpy(dtype=np.float64),
            lon=df["longitude"].to_numpy(dtype=np.float64),
            type_code=np.array([self._type_pos.get(t, -1) for t in df["partner_type"]], dtype=np.int32),
            radius_km=df["service_radius_km"].to_numpy(dtype=np.float64),
            remote=df["remote"].to_numpy(dtype=bool),
            capacity=np.where(np.isnan(capacity), np.inf, capacity),
            text_offset=np.zeros(n),
            category_offset=np.zeros(n),
        )

    def need(
        self,
        need: str,
        grades: str | None = None,
        lat: float | None = None,
        lon: float | None = None,
        preferred_types: Sequence[str] = (),
    ) -> SchoolFeatures:
        """Features of a need typed on the spot (encoded and tagged now)."""
        from matcher.grades import parse_grades

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
        enc = self.encode([need])[need]
        return self._school_arrays(
            enc.text[None, :], enc.categories[None, :], np.array([mask], dtype=np.int32),
            np.array([np.nan if lat is None else lat]), np.array([np.nan if lon is None else lon]),
            np.array([self.type_mask(preferred_types)], dtype=np.int32),
        )

    def type_mask(self, types: Iterable[str], owner: str | None = None) -> int:
        """Bit mask of partner types; an unknown type is an error naming it (and the school, if given)."""
        mask = 0
        for t in set(types):
            if t not in self._type_pos:
                who = f"school {owner}: " if owner is not None else ""
                raise MatcherError(f"{who}unknown partner type {t!r} (types are: {', '.join(self.partner_type_slugs)})")
            mask |= 1 << self._type_pos[t]
        return mask

    # ------------------------------------------------------------------ helpers
    def _categories(self, texts: list[str], encoded: Mapping[str, Encoded], explicit: list[tuple[str, ...]]) -> np.ndarray:
        """Tagged strengths; rows with an explicit category list use it instead."""
        n_cat = len(self.category_slugs)
        cats = np.stack([encoded[t].categories for t in texts]) if texts else np.zeros((0, n_cat), np.float32)
        given = [i for i, e in enumerate(explicit) if e]
        if given:
            cats = cats.copy()
            cats[given] = quantize(self.tagger.explicit([explicit[i] for i in given]), CATEGORY_SCALE)
        return cats

    def _school_arrays(self, text, cats, grades, lat, lon, prefs) -> SchoolFeatures:
        weights = need_weights(cats)
        return SchoolFeatures(
            text=text, categories=cats, weights=weights, in_person=in_person_share(weights, self.in_person),
            grades=grades, lat=lat, lon=lon, preferred_types=prefs,
        )


def encoded_rows(text: np.ndarray, categories: np.ndarray, texts: Sequence[str],
                 sentence_rows: Callable[[int], np.ndarray] | None = None) -> dict[str, Encoded]:
    """Already-computed feature rows as a text -> :class:`Encoded` mapping (to reuse instead of re-encoding)."""
    empty = np.zeros((0, text.shape[1]), dtype=np.float32)
    return {t: Encoded(text[i], categories[i], sentence_rows(i) if sentence_rows else empty)
            for i, t in enumerate(texts)}
