"""Feature arrays and block similarities: how similar a school and a partner are, one block at a time.

Each block gives a similarity in [0, 1] for a (school, partner) pair, and a
flag saying whether it is *known* (a block with nothing to compare on one
side is left out of the score rather than scored as half-good). The same
elementwise function, :func:`pair_blocks`, computes the blocks of a list of
pairs and, by broadcasting, of a (schools x partners) matrix
(:func:`block_matrices`), so one query, batch ranking and tuning all see the
same numbers, bit for bit.

The blocks:

``text``
    How close the wording is: the mean of the cosine of the whole need and
    whole offering and the cosine of the need and the offering's closest
    sentence (a programme page that lists many things still matches on the
    one sentence that meets the need), less the partner's *hub offset* (how
    close its wording is to every school's: see :func:`hub_statistics`).
``categories``
    The share of the school's need weight that the partner offers (need
    strengths are squared, so the main need counts most), less the
    partner's category hub offset. Unknown when the school has no need
    category.
``grades``
    The share of the school's grades the partner serves. Unknown when either
    side gives no grades.
``geo``
    Within the partner's service area (its ``service_radius_km``, or the
    default radius when it gives none): ``1/2 + 1/2 exp(-distance / L)``.
    Outside it a remote partner gets ``remote_credit * (1 - in-person share
    of the need)``, always below any local partner's credit: remote is a
    fallback. Unknown when either location is unknown.
``partner_type``
    1 when the partner is of a type the school prefers, else 0. Unknown when
    the school states no preference or the partner no type.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Protocol

import numpy as np

from matcher.config import BLOCKS

EARTH_RADIUS_KM = 6371.0088

# popcount of every 14-bit grade mask, for grade-band overlap.
POPCOUNT = np.array([bin(i).count("1") for i in range(1 << 14)], dtype=np.float32)

#: Grids that text embeddings and category strengths are rounded to. On these grids
#: every product and partial sum of a dot product is an integer below 2**24 (for
#: unit vectors, by Cauchy-Schwarz; for up to 64 categories), so float32 matrix
#: products are *exact*: a school's scores do not depend on how many schools share
#: its chunk or on the BLAS kernel, and batch ranking equals one-by-one ranking to
#: the last bit.
TEXT_SCALE = 2048.0
CATEGORY_SCALE = 512.0


def quantize(values: np.ndarray, scale: float) -> np.ndarray:
    """Round to multiples of 1/scale (float32), the grid on which dot products are exact."""
    return (np.rint(np.asarray(values, dtype=np.float64) * scale) / scale).astype(np.float32)


def need_weights(categories: np.ndarray) -> np.ndarray:
    """Weight of each need category in the category block: its strength squared (on the exact grid)."""
    c = np.asarray(categories, dtype=np.float64)
    return quantize(c * c, CATEGORY_SCALE)


def in_person_share(weights: np.ndarray, in_person: np.ndarray) -> np.ndarray:
    """Share of each school's need weight in categories that can only be met on site (0 without needs)."""
    total = weights.sum(axis=1, dtype=np.float64)
    on_site = weights[:, in_person].sum(axis=1, dtype=np.float64)
    return np.where(total > 0, on_site / np.maximum(total, 1e-12), 0.0)


class _Rows:
    """``take`` and ``len`` for a dataclass of row-aligned arrays."""

    def take(self, rows):
        """The features of a subset of rows (an index array or a slice)."""
        shared = getattr(self, "_shared", ())
        return type(self)(**{f.name: getattr(self, f.name) if f.name in shared else getattr(self, f.name)[rows]
                             for f in fields(self)})

    def __len__(self) -> int:
        return len(self.grades)


@dataclass
class SchoolFeatures(_Rows):
    """Feature arrays of a set of schools (row i is one school)."""

    text: np.ndarray  # (n, d) float32, unit rows, quantized
    categories: np.ndarray  # (n, C) float32 need strengths in [0, 1], quantized
    weights: np.ndarray  # (n, C) float32 need weights (strength squared), quantized
    in_person: np.ndarray  # (n,) float64 share of the need weight that only happens on site
    grades: np.ndarray  # (n,) int32 grade mask, 0 = not given
    lat: np.ndarray  # (n,) float64 degrees, NaN = unknown
    lon: np.ndarray
    preferred_types: np.ndarray  # (n,) int32 bit mask over partner types, 0 = no preference


@dataclass(eq=False)  # compared by identity: arrays have no single truth value (and caches key on it)
class PartnerFeatures(_Rows):
    """Feature arrays of a set of partners (row j is one partner).

    Offerings of more than one sentence also keep one embedding per sentence:
    ``sentences[sentence_start[j] : sentence_start[j] + sentence_count[j]]``
    (``sentence_count`` is 0 for a one-sentence text, whose sentence is the
    whole text). The sentence matrix is shared by every subset of rows.
    """

    text: np.ndarray  # (m, d) float32 whole-text embeddings, quantized
    sentences: np.ndarray  # (S, d) float32 sentence embeddings, quantized (shared)
    sentence_start: np.ndarray  # (m,) int64
    sentence_count: np.ndarray  # (m,) int32
    categories: np.ndarray  # (m, C) offering strengths in [0, 1], quantized
    grades: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    type_code: np.ndarray  # (m,) int32 index into the taxonomy's partner types, -1 = unknown
    radius_km: np.ndarray  # (m,) float64 stated service radius, NaN = not given
    remote: np.ndarray  # (m,) bool
    capacity: np.ndarray  # (m,) float64, inf = no limit
    text_offset: np.ndarray  # (m,) float64 hub offset subtracted from the text block
    category_offset: np.ndarray  # (m,) float64 hub offset subtracted from the category block

    _shared = ("sentences",)

    def compact(self, rows) -> PartnerFeatures:
        """The features of ``rows`` in a copy of their own, their sentences one after another.

        Unlike :meth:`take` (which shares the sentence matrix), scoring the
        copy reads contiguous memory: worth it for a subset scored again and
        again (see :func:`matcher.ranking.remote_partners`).
        """
        sub = self.take(rows)
        idx, starts = sentence_rows(sub.sentence_start, sub.sentence_count)
        return replace(sub, sentences=np.take(self.sentences, idx, axis=0), sentence_start=starts)


# --------------------------------------------------------------------------- scoring settings


@dataclass(frozen=True)
class BlockSettings:
    """What the block similarities depend on besides the features (see :class:`matcher.scoring.Scorer`)."""

    geo_length_km: float
    default_radius_km: float
    remote_credit: float
    local_credit: float


# --------------------------------------------------------------------------- distances


def distance_km(s: SchoolFeatures, p: PartnerFeatures) -> np.ndarray:
    """Great-circle (haversine) distance for every pair; NaN where either location is unknown."""
    return _haversine(s.lat[:, None], s.lon[:, None], p.lat[None, :], p.lon[None, :])


def pair_distance_km(s_lat, s_lon, p_lat, p_lon) -> np.ndarray:
    """Haversine distance of each pair (as :func:`distance_km`); NaN where a location is unknown."""
    return _haversine(s_lat, s_lon, p_lat, p_lon)


def _haversine(lat1, lon1, lat2, lon2) -> np.ndarray:
    # Every transcendental function is applied to a fresh array of the pairs (never to a
    # broadcast view), so matrix and pair paths round identically.
    la1, la2 = np.radians(lat1), np.radians(lat2)
    dlat = la2 - la1
    dlon = np.radians(lon2) - np.radians(lon1)
    a = np.sin(dlat / 2) ** 2 + np.cos(la1) * np.cos(la2) * np.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def service_radius(p: PartnerFeatures, default_radius_km: float) -> np.ndarray:
    """Each partner's service radius: the stated one, or the default when none is given."""
    return np.where(np.isnan(p.radius_km), default_radius_km, p.radius_km)


# --------------------------------------------------------------------------- dot products


def sentence_rows(start: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the sentence matrix that hold these partners' sentences, one partner after another, and where
    each partner's run begins among them (``start``, ``count``: the partners' ``sentence_start``/``_count``)."""
    count = np.asarray(count, dtype=np.int64)
    begins = np.cumsum(count) - count
    return np.repeat(np.asarray(start, dtype=np.int64) - begins, count) + np.arange(int(count.sum())), begins


def best_sentence_dots(s_text: np.ndarray, p: PartnerFeatures, whole: np.ndarray) -> np.ndarray:
    """(n, m) cosine of each school with each partner's closest sentence (``whole`` for one-sentence texts)."""
    best = whole.copy()
    multi = np.flatnonzero(p.sentence_count > 0)
    if len(multi) == 0:
        return best
    counts = p.sentence_count[multi].astype(np.int64)
    starts = np.cumsum(counts) - counts
    first = p.sentence_start[multi].astype(np.int64)
    total = int(counts.sum())
    if np.array_equal(first - first[0], starts):  # stored one after another (a fitted model): a view, no copy
        dots = s_text @ p.sentences[first[0] : first[0] + total].T
    else:  # after live changes, or a subset: gather the smaller side (the sentence rows, or the dot columns)
        idx, _ = sentence_rows(first, counts)
        dots = (s_text @ p.sentences[idx].T) if 2 * total < len(p.sentences) else (s_text @ p.sentences.T)[:, idx]
    best[:, multi] = np.maximum.reduceat(dots, starts, axis=1)
    return best


def pair_best_sentence_dots(s_text: np.ndarray, p: PartnerFeatures, rows: np.ndarray, cols: np.ndarray,
                            whole: np.ndarray) -> np.ndarray:
    """Closest-sentence cosine of pairs (school row ``rows[k]``, partner row ``cols[k]``)."""
    best = whole.copy()
    count = p.sentence_count[cols]
    multi = np.flatnonzero(count > 0)
    if len(multi) == 0:
        return best
    reps = count[multi]
    idx, begins = sentence_rows(p.sentence_start[cols[multi]], reps)
    school = s_text[np.repeat(rows[multi], reps)]
    dots = np.einsum("ij,ij->i", school, p.sentences[idx])
    best[multi] = np.maximum.reduceat(dots, begins)
    return best


# --------------------------------------------------------------------------- blocks


def pair_blocks(
    settings: BlockSettings,
    whole: np.ndarray,
    best: np.ndarray,
    covered: np.ndarray,
    need_total: np.ndarray,
    dist: np.ndarray,
    s_grades: np.ndarray,
    s_in_person: np.ndarray,
    s_preferred: np.ndarray,
    p: PartnerFeatures,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Every block's similarity and known flag, elementwise over broadcastable arrays.

    Pairs are rows of 1-d arrays, or a (schools x partners) grid when school
    arrays have shape (n, 1) and partner arrays (1, m) (:func:`block_matrices`).
    ``whole``/``best``/``covered`` are the float32 dot products (exact on the
    quantized grids), ``need_total`` the school's need weight sum.

    Returns
    -------
    sims, known : dict of block -> float64 array
    """
    shape = np.broadcast_shapes(np.shape(whole), np.shape(dist))
    passage = 0.5 * (np.asarray(whole, dtype=np.float64) + np.asarray(best, dtype=np.float64))
    text = np.clip(passage - p.text_offset, 0.0, 1.0)

    has_need = need_total > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        coverage = np.asarray(covered, dtype=np.float64) / np.maximum(need_total, 1e-12)
    categories = np.where(has_need, np.clip(coverage - p.category_offset, 0.0, 1.0), 0.0)

    both = POPCOUNT[s_grades & p.grades]
    own = POPCOUNT[s_grades]
    grades_known = (s_grades != 0) & (p.grades != 0)
    grades = np.where(grades_known, both / np.maximum(own, 1), 0.0).astype(np.float64)

    geo_known = ~np.isnan(dist)
    with np.errstate(invalid="ignore"):
        inside = dist <= service_radius(p, settings.default_radius_km)
        local = settings.local_credit + (1.0 - settings.local_credit) * np.exp(-dist / settings.geo_length_km)
    remote = settings.remote_credit * (1.0 - s_in_person)
    geo = np.where(inside, local, np.where(p.remote, remote, 0.0))
    geo = np.where(geo_known, geo, 0.0)

    code = np.maximum(p.type_code, 0)
    type_known = (s_preferred != 0) & (p.type_code >= 0)
    partner_type = np.where(type_known, (s_preferred >> code) & 1, 0).astype(np.float64)

    sims = {"text": text, "categories": categories, "grades": grades, "geo": geo, "partner_type": partner_type}
    known = {
        "text": np.ones(shape, dtype=bool),
        "categories": has_need,
        "grades": grades_known,
        "geo": geo_known,
        "partner_type": type_known,
    }
    return ({b: np.broadcast_to(sims[b], shape) for b in BLOCKS},
            {b: np.broadcast_to(known[b], shape) for b in BLOCKS})


def pair_allowed(settings: BlockSettings, dist: np.ndarray, s_grades: np.ndarray, p: PartnerFeatures) -> np.ndarray:
    """Grade and distance hard constraints, elementwise (capacity is checked by the caller).

    Grade bands must overlap when both sides give them; a school must lie
    within the partner's service area (stated or default radius) unless the
    partner is remote or a location is unknown.
    """
    grades = (s_grades == 0) | (p.grades == 0) | ((s_grades & p.grades) != 0)
    with np.errstate(invalid="ignore"):
        inside = dist <= service_radius(p, settings.default_radius_km)
    return grades & (inside | np.isnan(dist) | p.remote)


def block_matrices(
    s: SchoolFeatures, p: PartnerFeatures, settings: BlockSettings
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Blocks, known flags, distances and the grade/distance constraint for every (school, partner) pair."""
    whole = s.text @ p.text.T
    best = best_sentence_dots(s.text, p, whole)
    covered = s.weights @ p.categories.T
    need_total = s.weights.sum(axis=1)[:, None]
    dist = distance_km(s, p)
    pc = _as_row(p)
    sims, known = pair_blocks(settings, whole, best, covered, need_total, dist, s.grades[:, None],
                              s.in_person[:, None], s.preferred_types[:, None], pc)
    return sims, known, dist, pair_allowed(settings, dist, s.grades[:, None], pc)


def allowed_matrix(s: SchoolFeatures, p: PartnerFeatures, settings: BlockSettings) -> np.ndarray:
    """The grade and service-area hard constraints for every (school, partner) pair."""
    return pair_allowed(settings, distance_km(s, p), s.grades[:, None], _as_row(p))


def _as_row(p: PartnerFeatures) -> PartnerFeatures:
    """Partner arrays as (1, m) rows, to broadcast against (n, 1) school columns."""
    row = {f.name: getattr(p, f.name) for f in fields(p)}
    for name in ("grades", "type_code", "radius_km", "remote", "text_offset", "category_offset"):
        row[name] = row[name][None, :]
    return PartnerFeatures(**row)


# --------------------------------------------------------------------------- hubness


class HubCache(Protocol):
    """Where hub statistics are kept between fits (the workspace's cache, :class:`matcher.catalog.EncodingCache`)."""

    def hubs(self, reference: str, keys: Sequence[str]) -> Mapping[str, tuple[float, float]]: ...

    def store_hubs(self, reference: str, stats: Mapping[str, tuple[float, float]]) -> None: ...


#: Bumped when :func:`hub_statistics` computes differently, so cached statistics are not reused.
HUB_METHOD = "csls-passage-1"


def hub_keys(reference: SchoolFeatures, p: PartnerFeatures, k: int) -> tuple[str, list[str]]:
    """The digest of the reference schools (and ``k``), and one digest per partner of all its statistics read.

    A partner's hub statistics depend only on these, so a fit may reuse the
    ones a cache holds for the same digests (bit for bit: the dot products
    of quantized features are exact).
    """
    ref = hashlib.sha256(f"{HUB_METHOD} k={k} {reference.text.shape} {reference.weights.shape}".encode())
    for arr in (reference.text, reference.weights):
        ref.update(np.ascontiguousarray(arr).tobytes())
    keys = []
    for j in range(len(p)):
        h = hashlib.sha256(p.text[j].tobytes())
        start, count = int(p.sentence_start[j]), int(p.sentence_count[j])
        h.update(p.sentences[start : start + count].tobytes())
        h.update(p.categories[j].tobytes())
        keys.append(h.hexdigest())
    return ref.hexdigest(), keys


def cached_hub_statistics(reference: SchoolFeatures, p: PartnerFeatures, k: int,
                          cache: HubCache | None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`hub_statistics`, computed only for the partners ``cache`` lacks (and then given to it)."""
    if cache is None:
        return hub_statistics(reference, p, k)
    ref, keys = hub_keys(reference, p, k)
    known = cache.hubs(ref, keys)
    missing = np.array([j for j, key in enumerate(keys) if key not in known], dtype=np.int64)
    text_hub = np.array([known.get(key, (0.0, 0.0))[0] for key in keys])
    cat_hub = np.array([known.get(key, (0.0, 0.0))[1] for key in keys])
    if len(missing):
        t, c = hub_statistics(reference, p.take(missing), k)
        text_hub[missing], cat_hub[missing] = t, c
        cache.store_hubs(ref, {keys[j]: (float(a), float(b)) for j, a, b in zip(missing.tolist(), t, c)})
    return text_hub, cat_hub


def hub_statistics(reference: SchoolFeatures, p: PartnerFeatures, k: int) -> tuple[np.ndarray, np.ndarray]:
    """How close each partner is to *every* school: its mean text and category similarity to its ``k`` nearest.

    CSLS (cross-domain similarity local scaling, Conneau et al. 2018): a
    partner whose wording or categories sit near every school's (a short
    generic text, a long list of everything) would otherwise crowd every
    list. The model subtracts a share of each partner's excess over the mean
    (its *hub offset*). ``reference`` is a fixed sample of the training
    schools, so a partner's offset does not depend on the query.

    Returns
    -------
    text_hub, category_hub : ndarray of shape (m,)
    """
    m = len(p)
    text_hub = np.zeros(m)
    cat_hub = np.zeros(m)
    if len(reference) == 0 or m == 0:
        return text_hub, cat_hub
    kk = min(k, len(reference))
    total = reference.weights.sum(axis=1, dtype=np.float64)
    has_need = total > 0
    for start in range(0, m, 4096):  # bounded memory: reference x partners
        part = p.take(slice(start, start + 4096))
        whole = reference.text @ part.text.T
        best = best_sentence_dots(reference.text, part, whole)
        passage = np.clip(0.5 * (whole.astype(np.float64) + best), 0.0, 1.0)
        text_hub[start : start + len(part)] = _top_mean(passage, kk)
        if has_need.any():
            cov = (reference.weights[has_need] @ part.categories.T) / total[has_need, None]
            cat_hub[start : start + len(part)] = _top_mean(cov, min(k, int(has_need.sum())))
    return text_hub, cat_hub


def _top_mean(mat: np.ndarray, k: int) -> np.ndarray:
    """Mean of each column's ``k`` largest values."""
    return -np.partition(-mat, k - 1, axis=0)[:k].mean(axis=0)
