"""Past partnerships drawn from the hidden utility.

Every school takes its highest-utility *feasible* partners (Gumbel-top-k on
:data:`HIDDEN_UTILITY` plus noise), and a partnership works out with a
probability that rises with utility. Up to :data:`EXACT_MAX_PAIRS` pairs every
school scores all partners (:class:`_ExactScorer`); above that, ~128 sampled
candidates each (near, rest of the metro, remote: :class:`_Scorer`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from matcher.config import DEFAULT_SERVICE_RADIUS_KM

#: True factor weights used to draw partnerships (``noise`` is the Gumbel scale).
#: For a feasible pair: utility = categories * category match + grades * grade fit
#: + geo * exp(-distance_km / GEO_SCALE_KM) + quality * latent partner quality + noise.
HIDDEN_UTILITY: dict[str, float] = {
    "categories": 0.50,
    "geo": 0.25,
    "quality": 0.15,
    "grades": 0.10,
    "noise": 0.10,
}

#: Length scale of the hidden geo term, in km.
GEO_SCALE_KM = 15.0

#: Weight of a school's dominant need in the hidden category match (the rest share the remainder).
DOMINANT_NEED_WEIGHT = 0.6

#: Default partnerships: about this many per school ...
PARTNERSHIPS_PER_SCHOOL = 10
#: ... but at most this many per partner on average (a partner cannot serve thousands of schools) ...
PARTNERSHIPS_PER_PARTNER = 20
#: ... and never more than this in total (keeps a million-school CSV a sensible size).
MAX_DEFAULT_PARTNERSHIPS = 2_000_000

#: Up to this many school-partner pairs (``n_schools * n_partners``), every school chooses among
#: *all* its feasible partners; above it, among sampled candidates (see the module docstring).
EXACT_MAX_PAIRS = 20_000_000

#: Partnerships start on or before this date (fixed, so output does not depend on today).
HISTORY_END = np.datetime64("2025-06-30")
HISTORY_YEARS = 5

_EARTH_RADIUS_KM = 6371.0088


@dataclass
class Side:
    """Hidden truth about one table, used to draw partnerships."""

    lat: np.ndarray
    lon: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    cats: np.ndarray              # schools: (n, 3) need categories, dominant first, -1 = none
    cat_w: np.ndarray | None = None   # schools: (n, 3) weights of those needs
    offers: np.ndarray | None = None  # partners: (n, K) bool
    radius: np.ndarray | None = None  # partners: km, NaN = no limit
    remote: np.ndarray | None = None
    capacity: np.ndarray | None = None  # NaN = no limit
    quality: np.ndarray | None = None


_EXACT_CHUNK = 256          # schools per block when scoring all partners (fixed: determinism) ...
_EXACT_CELLS = 1 << 21      # ... fewer when there are many partners, to bound a block's memory

_FINE_CELL_DEG = 0.1     # ~11 km: "nearby" partners
_COARSE_CELL_DEG = 0.5   # ~50 km: the rest of the metro
_N_FINE, _N_COARSE, _N_GLOBAL = 56, 56, 16  # candidates per school from each pool
_CHUNK = 2048             # schools per vectorised block (fixed: part of determinism)


@dataclass
class _Grid:
    """Partners sorted by grid cell, for sampling a school's neighbourhood."""

    cell: float
    width: int
    keys: np.ndarray    # sorted cell keys
    order: np.ndarray   # partner index for each sorted position
    gx: np.ndarray      # per partner cell column
    gy: np.ndarray      # per partner cell row

    @classmethod
    def build(cls, lat: np.ndarray, lon: np.ndarray, members: np.ndarray, cell: float) -> _Grid:
        """Index ``members`` (partner indices) by cell."""
        width = cls.width_for(cell)
        gx, gy = cls.cells(lat, lon, cell)
        key = gy[members] * width + gx[members]
        srt = np.argsort(key, kind="stable")
        return cls(cell, width, key[srt], members[srt], gx, gy)

    @staticmethod
    def width_for(cell: float) -> int:
        """Cells per row of the grid (with a margin for the neighbours of edge cells)."""
        return int(math.ceil(360 / cell)) + 3

    @staticmethod
    def cells(lat: np.ndarray, lon: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
        """Cell column and row of points."""
        return (np.floor((lon + 180.0) / cell).astype(np.int64) + 1,
                np.floor((lat + 90.0) / cell).astype(np.int64) + 1)


@dataclass
class _Links:
    """Drawn partnerships as row indices plus outcome and date."""

    school: np.ndarray
    partner: np.ndarray
    outcome: np.ndarray
    start_date: np.ndarray


def default_partnerships(n_schools: int, n_partners: int) -> int:
    """About 10 per school, at most 20 per partner and 2M in all."""
    return int(min(PARTNERSHIPS_PER_SCHOOL * n_schools, PARTNERSHIPS_PER_PARTNER * n_partners,
                   MAX_DEFAULT_PARTNERSHIPS))


def _stratified(total: np.ndarray, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """k distinct positions in [0, total) per row (all of them if total <= k), and a validity mask."""
    j = np.arange(k)[None, :]
    step = np.maximum(total / k, 1.0)[:, None]
    a = np.floor(j * step).astype(np.int64)
    b = np.floor((j + 1) * step).astype(np.int64)
    pos = a + (rng.random((len(total), k)) * (b - a)).astype(np.int64)
    return pos, pos < total[:, None]


def _neighbours(grid: _Grid, lat: np.ndarray, lon: np.ndarray, k: int,
                rng: np.random.Generator) -> np.ndarray:
    """Up to k distinct partners from the 3x3 cells around each school (-1 = none)."""
    gx, gy = _Grid.cells(lat, lon, grid.cell)
    rows = gy[:, None] + np.array([-1, 0, 1])[None, :]
    # In a row of cells, the three neighbouring columns are contiguous in sorted-key order.
    start = np.searchsorted(grid.keys, rows * grid.width + (gx - 1)[:, None], "left")
    end = np.searchsorted(grid.keys, rows * grid.width + (gx + 1)[:, None], "right")
    length = end - start
    cum = np.cumsum(length, axis=1)
    pos, ok = _stratified(cum[:, -1], k, rng)
    seg = (pos >= cum[:, :1]).astype(np.int64) + (pos >= cum[:, 1:2])
    before = np.take_along_axis(cum - length, seg, axis=1)
    at = np.take_along_axis(start, seg, axis=1) + pos - before
    return np.where(ok, grid.order[np.where(ok, at, 0)] if grid.order.size else 0, -1)


def _spread(deficit: int, spare: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Share ``deficit`` extra picks among rows in proportion to their spare room (never above it)."""
    add = np.zeros_like(spare)
    total = int(spare.sum())
    if deficit <= 0 or total == 0:
        return add
    if total <= deficit:
        return spare.copy()
    add = spare * deficit // total
    room = np.flatnonzero(spare > add)
    rest = deficit - int(add.sum())
    add[rng.permutation(room)[:rest]] += 1
    return add


def _reach(p: Side) -> np.ndarray:
    """How far each partner serves, in km: anywhere (inf) if remote, else its radius, else the
    model's default radius (:data:`~matcher.config.DEFAULT_SERVICE_RADIUS_KM`)."""
    radius = np.where(np.isnan(p.radius), DEFAULT_SERVICE_RADIUS_KM, p.radius)
    return np.where(p.remote, np.inf, radius)


def _unit_xyz(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points on the unit sphere, so a distance is one chord instead of several trig calls."""
    la, lo = np.radians(lat), np.radians(lon)
    return np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)


class _ExactScorer:
    """Hidden utility of blocks of schools against every partner that has capacity."""

    def __init__(self, s: Side, p: Side) -> None:
        self.s = s
        alive = np.flatnonzero(~(p.capacity == 0))  # capacity 0 can never take a school
        self.alive = alive
        self.sx, self.sy, self.sz = _unit_xyz(s.lat, s.lon)
        px, py, pz = _unit_xyz(p.lat[alive], p.lon[alive])
        self.px, self.py, self.pz = px[None, :], py[None, :], pz[None, :]
        self.p_lo = p.lo[alive][None, :].astype(np.int16)
        self.p_hi = p.hi[alive][None, :].astype(np.int16)
        self.reach = _reach(p)[alive][None, :]
        quality = HIDDEN_UTILITY["quality"] * p.quality[alive]
        self.quality = quality.astype(np.float32)[None, :]
        # One contiguous row per category: a school's need gathers a whole row at once.
        self.offers_t = np.ascontiguousarray(p.offers[alive].T)
        self.block = int(min(_EXACT_CHUNK, max(1, _EXACT_CELLS // max(alive.size, 1))))

    def score(self, rows: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Noisy hidden utility of each (school, partner) pair (-inf where infeasible) and the
        feasibility mask; columns are :attr:`alive` partners.

        Distances and feasibility are float64 (a partner's radius is a hard limit); the utility
        is float32, like the Gumbel noise in it, which halves the memory traffic.
        """
        s, w, f32 = self.s, HIDDEN_UTILITY, np.float32
        shape = (len(rows), self.alive.size)
        # Great-circle distance from the chord between unit vectors (in place: blocks are big).
        dist = self.px - self.sx[rows, None]
        dist *= dist
        d = self.py - self.sy[rows, None]
        d *= d
        dist += d
        np.subtract(self.pz, self.sz[rows, None], out=d)
        d *= d
        dist += d
        np.sqrt(dist, out=dist)
        dist *= 0.5
        np.minimum(dist, 1.0, out=dist)
        np.arcsin(dist, out=dist)
        dist *= 2 * _EARTH_RADIUS_KM
        s_lo = s.lo[rows, None].astype(np.int16)
        s_hi = s.hi[rows, None].astype(np.int16)
        overlap = np.minimum(s_hi, self.p_hi) - np.maximum(s_lo, self.p_lo) + 1
        feasible = dist <= self.reach
        feasible &= overlap > 0
        # geo * exp(-distance / scale)
        util = dist.astype(f32)
        util *= f32(-1.0 / GEO_SCALE_KM)
        np.exp(util, out=util)
        util *= f32(w["geo"])
        np.maximum(overlap, 0, out=overlap)
        util += overlap * (w["grades"] / (s_hi - s_lo + 1)).astype(f32)
        for j in range(s.cats.shape[1]):
            # An absent need (-1) has weight 0, so any row will do for it.
            hit = self.offers_t[np.maximum(s.cats[rows, j], 0)]
            util += (w["categories"] * s.cat_w[rows, j, None]).astype(f32) * hit
        util += self.quality
        # Gumbel noise as -log(Exp(1)), as in the sampled path.
        noise = rng.standard_exponential(shape, dtype=f32)
        np.log(np.maximum(noise, f32(1e-30), out=noise), out=noise)
        noise *= f32(w["noise"])
        util -= noise
        np.putmask(util, ~feasible, f32(-np.inf))
        return util, feasible


class _Scorer:
    """Candidate sampling and hidden utility for blocks of schools (large-data approximation)."""

    def __init__(self, s: Side, p: Side) -> None:
        # Partners are renumbered in fine-cell order, so the candidates of nearby schools sit
        # close together in memory: random gathers over a million partners are the bottleneck.
        gx, gy = _Grid.cells(p.lat, p.lon, _FINE_CELL_DEG)
        self.perm = np.argsort(gy * _Grid.width_for(_FINE_CELL_DEG) + gx, kind="stable")
        p = Side(lat=p.lat[self.perm], lon=p.lon[self.perm], lo=p.lo[self.perm],
                  hi=p.hi[self.perm], cats=p.cats[self.perm], offers=p.offers[self.perm],
                  radius=p.radius[self.perm], remote=p.remote[self.perm],
                  capacity=p.capacity[self.perm], quality=p.quality[self.perm])
        self.s, self.p = s, p
        alive = np.flatnonzero(~(p.capacity == 0))  # capacity 0 can never take a school
        self.fine = _Grid.build(p.lat, p.lon, alive, _FINE_CELL_DEG)
        self.coarse = _Grid.build(p.lat, p.lon, alive, _COARSE_CELL_DEG)
        # Remote partners are the only far-away candidates (everyone else serves within a radius).
        self.pool = alive[p.remote[alive]]
        self.sx, self.sy, self.sz = _unit_xyz(s.lat, s.lon)
        self.px, self.py, self.pz = _unit_xyz(p.lat, p.lon)
        # One gather instead of three: how far each partner reaches (inf = anywhere).
        self.reach = _reach(p)
        self.quality = HIDDEN_UTILITY["quality"] * p.quality
        # Offers as 64-bit masks (several words per partner past 64 categories): one gather
        # and a bit test is several times faster than 2-D fancy indexing of a bool matrix.
        K = p.offers.shape[1]
        self.words = max(1, -(-K // 64))
        self.bits = np.zeros((len(p.lat), self.words), dtype=np.uint64)
        for k in range(K):
            self.bits[:, k // 64] |= p.offers[:, k].astype(np.uint64) << np.uint64(k % 64)

    def school_order(self, rows: np.ndarray) -> np.ndarray:
        """``rows`` in fine-cell order, so one block of schools shares its candidates' memory."""
        gx, gy = _Grid.cells(self.s.lat[rows], self.s.lon[rows], _FINE_CELL_DEG)
        return rows[np.argsort(gy * _Grid.width_for(_FINE_CELL_DEG) + gx, kind="stable")]

    def candidates(self, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Distinct candidate partners per school (-1 = none): near, rest of metro, remote."""
        slat, slon = self.s.lat[rows], self.s.lon[rows]
        near = _neighbours(self.fine, slat, slon, _N_FINE, rng)
        metro = _neighbours(self.coarse, slat, slon, _N_COARSE, rng)
        # Drop metro picks inside the fine neighbourhood (they could repeat a near pick) ...
        metro[_in_block(self.fine, metro, slat, slon)] = -1
        if not self.pool.size:
            return np.concatenate([near, metro], axis=1)
        pos, ok = _stratified(np.full(len(rows), self.pool.size), _N_GLOBAL, rng)
        far = np.where(ok, self.pool[np.minimum(pos, self.pool.size - 1)], -1)
        # ... and far picks inside the metro neighbourhood, for the same reason.
        far[_in_block(self.coarse, far, slat, slon)] = -1
        return np.concatenate([near, metro, far], axis=1)

    def utility(self, rows: np.ndarray, cand: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Noisy hidden utility of each candidate pair; -inf where the pair is infeasible."""
        s, p, w = self.s, self.p, HIDDEN_UTILITY
        c = np.maximum(cand, 0)
        dx = self.px[c] - self.sx[rows, None]
        dy = self.py[c] - self.sy[rows, None]
        dz = self.pz[c] - self.sz[rows, None]
        dist = (2 * _EARTH_RADIUS_KM) * np.arcsin(np.minimum(np.sqrt(dx * dx + dy * dy + dz * dz) / 2, 1.0))
        s_lo = s.lo[rows, None].astype(np.int16)
        s_hi = s.hi[rows, None].astype(np.int16)
        overlap = np.minimum(s_hi, p.hi[c]) - np.maximum(s_lo, p.lo[c]) + 1
        feasible = (cand >= 0) & (overlap > 0) & (dist <= self.reach[c])
        util = w["grades"] * (np.maximum(overlap, 0) / (s_hi - s_lo + 1))
        mask = self.bits[:, 0].take(c) if self.words == 1 else None
        for j in range(s.cats.shape[1]):
            sc = np.maximum(s.cats[rows, j], 0).astype(np.uint64)
            word = mask if mask is not None else self.bits.ravel().take(
                c * self.words + (sc // 64).astype(np.int64)[:, None])
            hit = (word & (np.uint64(1) << (sc % 64))[:, None]) != 0
            util += (w["categories"] * s.cat_w[rows, j, None]) * hit
        util += w["geo"] * np.exp(dist * (-1.0 / GEO_SCALE_KM))
        util += self.quality.take(c)
        # Gumbel noise as -log(Exp(1)); float32 is plenty for noise and several times faster.
        expo = rng.standard_exponential(cand.shape, dtype=np.float32)
        util -= w["noise"] * np.log(np.maximum(expo, np.float32(1e-30)))
        util[~feasible] = -np.inf
        return util


def _in_block(grid: _Grid, cand: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Whether each candidate lies in the 3x3 cells of ``grid`` around its school."""
    gx, gy = _Grid.cells(lat, lon, grid.cell)
    c = np.maximum(cand, 0)
    return (np.abs(grid.gx[c] - gx[:, None]) <= 1) & (np.abs(grid.gy[c] - gy[:, None]) <= 1)


def _top(util: np.ndarray, take: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of the ``take[i]`` largest entries of each row."""
    kmax = int(take.max(initial=0))
    if kmax == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    if kmax < util.shape[1]:
        # Only the best kmax matter: partition, then order just those.
        part = np.argpartition(-util, kmax - 1, axis=1)[:, :kmax]
        best = np.take_along_axis(part, np.argsort(-np.take_along_axis(util, part, axis=1),
                                                   axis=1, kind="stable"), axis=1)
    else:
        best = np.argsort(-util, axis=1, kind="stable")
    chosen = np.arange(best.shape[1])[None, :] < take[:, None]
    r = np.nonzero(chosen)[0]
    return r, best[chosen]


def draw_partnerships(s: Side, p: Side, n_target: int, rng: np.random.Generator) -> _Links:
    """Each school picks its highest-utility feasible partners: among all of them when there are
    at most :data:`EXACT_MAX_PAIRS` pairs, else among sampled candidates."""
    n_s, n_p = len(s.lat), len(p.lat)
    if n_s == 0 or n_p == 0 or n_target == 0:
        return _Links(*(np.empty(0, np.int64) for _ in range(3)), np.empty(0, dtype=object))
    exact = _ExactScorer(s, p) if n_s * n_p <= EXACT_MAX_PAIRS else None
    sampled = None if exact else _Scorer(s, p)
    block = exact.block if exact is not None else _CHUNK

    # How many partners each school wants: overdispersed around the mean, summing to the target.
    appetite = rng.gamma(4.0, 0.25, n_s)
    want = rng.multinomial(n_target, appetite / appetite.sum())
    # Schools that want none are scored only if others fall short (saves most of the work
    # when partnerships are few per school).
    queue = [np.flatnonzero(want > 0), np.flatnonzero(want == 0)]
    if sampled is not None:  # nearby schools together, so a block's candidates share memory
        queue = [sampled.school_order(q) for q in queue]
    queue = np.concatenate(queue)
    n_wanting = int((want > 0).sum())

    sel_s, sel_p, sel_u = [], [], []
    carry = 0
    for at in range(0, n_s, block):
        if at >= n_wanting and carry == 0:
            break
        rows = queue[at:at + block]
        if exact is not None:
            util, feasible = exact.score(rows, rng)
            n_feas = feasible.sum(axis=1)
        else:
            cand = sampled.candidates(rows, rng)
            util = sampled.utility(rows, cand, rng)
            n_feas = np.isfinite(util).sum(axis=1)
        # Gumbel-top-k: the k best noisy utilities; shortfalls move on to schools with room.
        base = np.minimum(want[rows], n_feas)
        deficit = carry + int((want[rows] - base).sum())
        extra = _spread(deficit, n_feas - base, rng)
        carry = deficit - int(extra.sum())
        r, col = _top(util, base + extra)
        sel_s.append(rows[r])
        sel_p.append(exact.alive[col] if exact is not None else sampled.perm[cand[r, col]])
        sel_u.append(util[r, col])

    school = np.concatenate(sel_s)
    partner = np.concatenate(sel_p)
    util = np.concatenate(sel_u).astype(np.float64)
    n = len(util)

    # Outcome: P(success) rises with utility; the intercept is set so ~80% succeed.
    z = (util - util.mean()) / (util.std() or 1.0) if n else util
    lo_b, hi_b = -10.0, 10.0
    for _ in range(50):
        mid = (lo_b + hi_b) / 2
        if n and np.mean(1 / (1 + np.exp(-(mid + 1.2 * z)))) < 0.8:
            lo_b = mid
        else:
            hi_b = mid
    outcome = (rng.random(n) < 1 / (1 + np.exp(-(lo_b + 1.2 * z)))).astype(np.int64)

    # Start dates: school years over the last five; most start in August/September.
    first_year = int(str(HISTORY_END)[:4]) - HISTORY_YEARS  # school years first_year .. end - 1
    aug1 = np.array([np.datetime64(f"{first_year + i}-08-01") for i in range(HISTORY_YEARS)])
    aug1 = aug1[rng.integers(0, HISTORY_YEARS, n)]
    days = np.where(rng.random(n) < 0.55, rng.integers(0, 61, n), rng.integers(0, 334, n))
    start = np.minimum(aug1 + days.astype("timedelta64[D]"), HISTORY_END)
    dates = np.datetime_as_string(start, unit="D").astype(object)

    order = np.lexsort((partner, school, start))
    return _Links(school=school[order], partner=partner[order], outcome=outcome[order],
                  start_date=dates[order])
