"""Feature blocks: how similar a school and a partner are, one block at a time.

Each block gives a similarity in [0, 1] for every (school, partner) pair of
a chunk; the model combines them with weights. The same functions serve one
query (a 1-row chunk) and batch ranking (many rows), so both give the same
numbers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matcher.config import NEUTRAL

EARTH_RADIUS_KM = 6371.0088

#: Geography similarity of a remote partner however far away: neutral, as for an unknown place
REMOTE_FLOOR = NEUTRAL

# popcount of every 14-bit grade mask, for grade-band overlap.
_POPCOUNT = np.array([bin(i).count("1") for i in range(1 << 14)], dtype=np.float32)


#: Grids that text embeddings and category strengths are rounded to. On these grids
#: every product and partial sum of a dot product is an integer below 2**24 (for
#: unit vectors, by Cauchy-Schwarz), so float32 matrix products are *exact*: a
#: school's scores do not depend on how many schools share its chunk or on the
#: BLAS kernel, and batch ranking equals one-by-one ranking to the last bit.
TEXT_SCALE = 2048.0
CATEGORY_SCALE = 512.0


def quantize(values: np.ndarray, scale: float) -> np.ndarray:
    """Round to multiples of 1/scale (float32), the grid on which dot products are exact."""
    return (np.rint(np.asarray(values, dtype=np.float64) * scale) / scale).astype(np.float32)


@dataclass
class SchoolFeatures:
    """Feature arrays of a set of schools (row i is one school)."""

    text: np.ndarray  # (n, d) float32, unit rows
    categories: np.ndarray  # (n, C) float32 need strengths in [0, 1]
    grades: np.ndarray  # (n,) int32 grade mask, 0 = not given
    lat: np.ndarray  # (n,) float64 degrees, NaN = unknown
    lon: np.ndarray
    preferred_types: np.ndarray  # (n,) int32 bit mask over partner types, 0 = no preference

    def take(self, rows: np.ndarray | slice) -> SchoolFeatures:
        """The features of a subset of rows."""
        return SchoolFeatures(*(getattr(self, f)[rows] for f in self.__dataclass_fields__))

    def __len__(self) -> int:
        return len(self.grades)


@dataclass
class PartnerFeatures:
    """Feature arrays of a set of partners (row j is one partner)."""

    text: np.ndarray
    categories: np.ndarray  # offering strengths in [0, 1]
    grades: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    type_code: np.ndarray  # (n,) int32 index into the taxonomy's partner types, -1 = unknown
    radius_km: np.ndarray  # (n,) float64, inf = no distance limit
    remote: np.ndarray  # (n,) bool
    capacity: np.ndarray  # (n,) float64, inf = no limit

    def take(self, rows: np.ndarray | slice) -> PartnerFeatures:
        """The features of a subset of rows."""
        return PartnerFeatures(*(getattr(self, f)[rows] for f in self.__dataclass_fields__))

    def __len__(self) -> int:
        return len(self.grades)


def distance_km(s: SchoolFeatures, p: PartnerFeatures) -> np.ndarray:
    """Great-circle (haversine) distance for every pair; NaN where either location is unknown."""
    lat1 = np.radians(s.lat)[:, None]
    lat2 = np.radians(p.lat)[None, :]
    dlat = lat2 - lat1
    dlon = np.radians(p.lon)[None, :] - np.radians(s.lon)[:, None]
    a = np.sin(dlat / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def text_similarity(s: SchoolFeatures, p: PartnerFeatures) -> np.ndarray:
    """Cosine of the sentence embeddings, negative values clipped to 0."""
    return np.clip(s.text @ p.text.T, 0.0, 1.0)


def category_similarity(s: SchoolFeatures, p: PartnerFeatures) -> np.ndarray:
    """Share of the school's need strength that the partner's offerings cover."""
    need_total = s.categories.sum(axis=1, keepdims=True)
    covered = s.categories @ p.categories.T
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = np.where(need_total > 0, covered / np.maximum(need_total, 1e-12), NEUTRAL)
    return np.clip(sim, 0.0, 1.0).astype(np.float32)


def grade_similarity(s: SchoolFeatures, p: PartnerFeatures) -> np.ndarray:
    """Share of the school's grades the partner serves; neutral when either side gives none."""
    both = _POPCOUNT[s.grades[:, None] & p.grades[None, :]]
    own = _POPCOUNT[s.grades][:, None]
    known = (s.grades[:, None] != 0) & (p.grades[None, :] != 0)
    return np.where(known, both / np.maximum(own, 1), NEUTRAL).astype(np.float32)


def geo_similarity(dist: np.ndarray, p: PartnerFeatures, length_km: float) -> np.ndarray:
    """exp(-distance / length); remote partners at least REMOTE_FLOOR; neutral when unknown."""
    with np.errstate(invalid="ignore"):
        sim = np.exp(-dist / length_km)
    sim = np.where(p.remote[None, :], np.maximum(sim, REMOTE_FLOOR), sim)
    return np.where(np.isnan(dist), NEUTRAL, sim).astype(np.float32)


def type_similarity(s: SchoolFeatures, p: PartnerFeatures) -> np.ndarray:
    """1 if the partner's type is one the school prefers, 0 if not; neutral without a preference."""
    code = np.maximum(p.type_code, 0)[None, :]
    hit = ((s.preferred_types[:, None] >> code) & 1).astype(np.float32)
    hit = np.where(p.type_code[None, :] < 0, 0.0, hit)
    return np.where(s.preferred_types[:, None] == 0, NEUTRAL, hit).astype(np.float32)


def block_similarities(
    s: SchoolFeatures, p: PartnerFeatures, geo_length_km: float
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every block's similarity matrix (schools x partners) and the distance matrix."""
    dist = distance_km(s, p)
    blocks = {
        "text": text_similarity(s, p),
        "categories": category_similarity(s, p),
        "grades": grade_similarity(s, p),
        "geo": geo_similarity(dist, p, geo_length_km),
        "partner_type": type_similarity(s, p),
    }
    return blocks, dist


def grades_ok(s: SchoolFeatures, p: PartnerFeatures) -> np.ndarray:
    """Hard constraint: grade bands overlap when both sides give grades."""
    sg, pg = s.grades[:, None], p.grades[None, :]
    return (sg == 0) | (pg == 0) | ((sg & pg) != 0)


def distance_ok(dist: np.ndarray, p: PartnerFeatures) -> np.ndarray:
    """Hard constraint: within the partner's service radius, unless remote or location unknown."""
    with np.errstate(invalid="ignore"):
        inside = dist <= p.radius_km[None, :]
    return inside | np.isnan(dist) | p.remote[None, :] | np.isinf(p.radius_km)[None, :]


# --------------------------------------------------------------------------- pairs
# The same blocks for a list of (school, partner) pairs: row r of ``s`` goes with
# row r of ``p``. Every operation is the elementwise twin of the one above, in the
# same order and dtypes, so a pair gets bit for bit the value it has in the
# (schools x partners) matrices; batch ranking (matcher.batch) scores only the pairs
# that can matter with these and relies on that equality.


def pair_distance_km(s: SchoolFeatures, p: PartnerFeatures) -> np.ndarray:
    """Haversine distance of each pair (as :func:`distance_km`); NaN where a location is unknown."""
    lat1 = np.radians(s.lat)
    lat2 = np.radians(p.lat)
    dlat = lat2 - lat1
    dlon = np.radians(p.lon) - np.radians(s.lon)
    a = np.sin(dlat / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def pair_block_similarities(
    s: SchoolFeatures,
    p: PartnerFeatures,
    geo_length_km: float,
    text_dot: np.ndarray | None = None,
    covered: np.ndarray | None = None,
    need_total: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every block's similarity for each pair, and the distances (as :func:`block_similarities`).

    The dot products ``text_dot`` (``s.text . p.text``), ``covered``
    (``s.categories . p.categories``) and ``need_total`` (``s.categories`` row sums),
    float32 per pair, may be given when they were computed elsewhere (then
    ``s.text``/``p.text`` and the category arrays are not read): on the quantized
    grids they are exact however they were summed.
    """
    dist = pair_distance_km(s, p)
    if text_dot is None:
        text_dot = np.einsum("ij,ij->i", s.text, p.text)
    if need_total is None:
        need_total = s.categories.sum(axis=1)
    if covered is None:
        covered = np.einsum("ij,ij->i", s.categories, p.categories)
    with np.errstate(invalid="ignore", divide="ignore"):
        cat = np.where(need_total > 0, covered / np.maximum(need_total, 1e-12), NEUTRAL)
    both = _POPCOUNT[s.grades & p.grades]
    own = _POPCOUNT[s.grades]
    known = (s.grades != 0) & (p.grades != 0)
    with np.errstate(invalid="ignore"):
        geo = np.exp(-dist / geo_length_km)
    geo = np.where(p.remote, np.maximum(geo, REMOTE_FLOOR), geo)
    code = np.maximum(p.type_code, 0)
    hit = ((s.preferred_types >> code) & 1).astype(np.float32)
    hit = np.where(p.type_code < 0, 0.0, hit)
    blocks = {
        "text": np.clip(np.asarray(text_dot, dtype=np.float32), 0.0, 1.0),
        "categories": np.clip(cat, 0.0, 1.0).astype(np.float32),
        "grades": np.where(known, both / np.maximum(own, 1), NEUTRAL).astype(np.float32),
        "geo": np.where(np.isnan(dist), NEUTRAL, geo).astype(np.float32),
        "partner_type": np.where(s.preferred_types == 0, NEUTRAL, hit).astype(np.float32),
    }
    return blocks, dist


def pair_allowed(s: SchoolFeatures, p: PartnerFeatures, dist: np.ndarray) -> np.ndarray:
    """Grade and distance hard constraints of each pair (:func:`grades_ok` & :func:`distance_ok`)."""
    grades = (s.grades == 0) | (p.grades == 0) | ((s.grades & p.grades) != 0)
    with np.errstate(invalid="ignore"):
        inside = dist <= p.radius_km
    return grades & (inside | np.isnan(dist) | p.remote | np.isinf(p.radius_km))
