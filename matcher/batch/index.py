"""Exact batch ranking: every school's top-K partners, pruned by an upper bound on the score.

How, for a chunk of ~256 schools that lie close together (:func:`~matcher.batch.geometry.plan_chunks`):

1. **Geographic blocking.** A partner with a service radius (and a location,
   and not remote) can serve a school only within that radius, so the chunk's
   candidates are the partners whose circle reaches the chunk (triangle
   inequality around the chunk's centre) plus those that may serve anywhere
   (remote, no distance limit, no location). Partners with no capacity left
   (unless ``include_full``) are never candidates.
2. **An upper bound on every candidate's score**, from a few matrix products
   per tile of candidates (:mod:`matcher.batch.bound`): the text similarity
   through a low-rank basis plus a Cauchy-Schwarz term on the residuals,
   categories, grades and partner type exactly, geography per anchor point.
3. **A threshold per school.** The best candidate of each of the school's
   top-bound column blocks is scored exactly; the k-th best allowed exact
   score is at most the school's true k-th best.
4. **Exact scoring of the survivors.** Every candidate whose bound reaches the
   threshold (less :data:`MARGIN`, far above float32 rounding) is scored with
   the same formulas as :func:`matcher.features.block_similarities`, pair by
   pair (:func:`matcher.features.pair_block_similarities`), hard constraints
   and outreach state included; then the top-k are taken with the tie-break
   of :func:`matcher.ranking.top_k` (score, then partner row). A pruned pair
   scores below the threshold: it can neither be in the top-k nor tie with it.

Text and category vectors are quantized (see :mod:`matcher.features`), so a
dot product is exact however it is summed, and the other blocks are the
elementwise twins of the matrix functions: pair-by-pair scores equal the
matrix path bit for bit. Where a top-k is too wide for pruning to pay
(``k`` near the number of candidates) the chunk is scored densely instead.
"""
from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from matcher.batch.bound import TEXT_RANK, TILE, BoundTables, Segment
from matcher.batch.geometry import centre, chord_km, plan_chunks, unit_xyz
from matcher.batch.results import ChunkResult, ScoredPairs, empty_result, merge_results, select_between
from matcher.config import BLOCKS
from matcher.features import (
    EARTH_RADIUS_KM,
    PartnerFeatures,
    SchoolFeatures,
    pair_allowed,
    pair_best_sentence_dots,
    pair_blocks,
    pair_distance_km,
    service_radius,
)
from matcher.scoring import Scorer

#: Schools per chunk (the unit of work, of progress and of resumption).
DEFAULT_CHUNK_SIZE = 256
#: Safety margin (score units) added to every bound: float32 rounding in the bound is ~1e-5.
MARGIN = 1e-3
#: Columns per block when finding each school's cut-off among the bounds.
_CUT_BLOCK = 512
#: Candidates scored exactly per school to set its threshold: the top ``_PRE * k`` blocks' maxima.
_PRE = 2
#: Chunks whose candidates number fewer than this many times k are scored densely.
_DENSE_K = 8
#: Pairs per exact-scoring batch (bounds the memory of gathered partner rows).
_PAIR_BATCH = 1 << 15
#: Extra km on geometric tests (haversine rounding is ~1e-9 km).
EPS_KM = 1e-6
#: Spatial pieces of a chunk, each with its own geo bound (tighter than one for the chunk).
_ANCHORS = 8
#: Per-anchor geo bounds are worked out for partners nearer than this many length scales.
_GEO_NEAR = 10.0


class _Scratch(threading.local):
    """Per-thread buffers (reused: fresh large allocations are slow)."""

    scratch: np.ndarray | None = None
    ub: np.ndarray | None = None


class RankIndex:
    """Partner-side structures for exact batch ranking with one model, scorer and state.

    Build it once and rank any number of school chunks with :meth:`rank`
    (thread-safe; each thread keeps its own buffers). Picklable, so it can be
    broadcast to Dask workers.

    Parameters
    ----------
    model : PartnerMatcher
        Fitted model (its partners and the texts its bound basis is fitted on).
    scorer : Scorer
        Weights and settings (see ``PartnerMatcher.scorer``).
    k : int
        Partners per school.
    include_full : bool, default False
        Also rank partners with no capacity left.
    state : matcher.state.Constraints, optional
        Outreach state (excluded pairs, capacity used by current partnerships),
        applied exactly as :func:`matcher.ranking.state_mask` does.
    text_rank : int, default :data:`TEXT_RANK`
        Dimensions of the exact part of the text bound.
    """

    def __init__(self, model, scorer: Scorer, k: int, include_full: bool = False, state=None,
                 text_rank: int = TEXT_RANK):
        self.P = P = model.partners_
        self.partner_index = model.index("partner")
        self.scorer = scorer
        self.settings = scorer.block_settings
        self.a = dict(scorer.weights)
        self.k = int(k)
        self.include_full = bool(include_full)
        m = len(P)
        self.n_partners = m
        self._state_parts(state)
        raw_ok = np.ones(m, bool) if self.include_full else (P.capacity > 0)
        cand = raw_ok & (self.left_ok | self.override_true)
        known = ~(np.isnan(P.lat) | np.isnan(P.lon))
        radius = service_radius(P, self.settings.default_radius_km)
        local = cand & known & ~P.remote
        self.glob = np.flatnonzero(cand & ~local).astype(np.int64)
        self.loc = np.flatnonzero(local).astype(np.int64)
        # Geometry on the unit sphere: a chunk's tests are dot products with its centre.
        xyz = unit_xyz(P.lat, P.lon)
        self.p_xyz = xyz
        self.radius = radius
        self.loc_xyz = np.ascontiguousarray(xyz[self.loc])
        reach = np.minimum(radius[self.loc] / EARTH_RADIUS_KM, math.pi)
        self.loc_cos, self.loc_sin, self.loc_reach = np.cos(reach), np.sin(reach), reach
        self.tables = BoundTables(P, model.schools_.text, text_rank, len(model.featurizer_.partner_type_slugs))
        self.text_rank = self.tables.text_rank
        self.glob_seg = self.tables.segment(self.glob)  # the candidates of every chunk, gathered once
        self._scratch = _Scratch()

    # ------------------------------------------------------------ setup
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_scratch"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._scratch = _Scratch()

    def _state_parts(self, state) -> None:
        """Outreach state as a per-partner capacity test plus per-school exceptions (as ``state_mask``)."""
        m = self.n_partners
        self.has_state = state is not None
        self.overrides: dict[Any, tuple[np.ndarray, np.ndarray]] = {}
        self.override_true = np.zeros(m, bool)
        if state is None:
            self.left_ok = np.ones(m, bool)
            return
        pos = self.partner_index
        left = self.P.capacity.copy()
        for pid, used in state.used_capacity.items():
            if pid in pos:
                left[pos[pid]] -= used
        self.left_ok = np.ones(m, bool) if self.include_full else left > 0
        for sid in sorted({s for s, _ in state.status}):
            cols, oks = [], []
            for p_id, status in state.pairs_of_school(sid):
                col = pos.get(p_id)
                if col is None:
                    continue
                if (sid, p_id) in state.excluded:
                    cols.append(col), oks.append(False)
                elif status == "partnered":
                    cols.append(col), oks.append(True)
            if cols:
                self.overrides[sid] = (np.array(cols, dtype=np.int64), np.array(oks, dtype=bool))
                self.override_true[np.array(cols)[np.array(oks)]] = True

    # ------------------------------------------------------------ ranking
    def rank(self, s: SchoolFeatures, school_ids: Sequence[Any] | None = None) -> ChunkResult:
        """Exact top-k partners of every school of ``s`` (schools near each other rank fastest).

        ``school_ids`` (for outreach state) may be None for ad-hoc needs.
        """
        n = len(s)
        keys = list(school_ids) if school_ids is not None else [None] * n
        known = ~(np.isnan(s.lat) | np.isnan(s.lon))
        parts: list[tuple[np.ndarray, ChunkResult]] = []
        for rows, is_known in ((np.flatnonzero(known), True), (np.flatnonzero(~known), False)):
            if len(rows) == 0:
                continue
            step = len(rows) if is_known else 64  # unknown locations see every partner: smaller pieces
            for start in range(0, len(rows), step):
                sub = rows[start : start + step]
                parts.append((sub, self._rank_group(s.take(sub), [keys[i] for i in sub], is_known)))
        if len(parts) == 1 and len(parts[0][0]) == n:
            return parts[0][1]
        return merge_results(parts, n)

    def _columns(self, s: SchoolFeatures, is_known: bool):
        """The candidate segments of a group (every chunk's, then this group's local partners), the
        geo bound of each segment's candidates per anchor point ((m, anchors + 1), the remote flag
        last), each school's anchor and the number of anchors."""
        n = len(s)
        if not is_known:  # no distance is known: every partner may serve, geography is not scored
            segs = [self.glob_seg, self.tables.segment(self.loc)]
            return segs, [np.zeros((len(g.cols), 1), np.float32) for g in segs], np.zeros(n, np.int64), 0
        lat0, lon0, radius = centre(s.lat, s.lon)
        c = unit_xyz(np.array([lat0]), np.array([lon0]))[0]
        b = radius / EARTH_RADIUS_KM
        # local partner p can reach a school iff angle(c, p) <= reach_p + b (triangle inequality):
        # cos(angle) >= cos(reach_p + b), with a little slack for rounding
        dot_loc = self.loc_xyz @ c
        limit = self.loc_cos * math.cos(b) - self.loc_sin * math.sin(b)
        sel = np.flatnonzero((dot_loc >= limit - 1e-9) | (self.loc_reach + b >= math.pi))
        segs = [self.glob_seg, self.tables.segment(self.loc[sel])]
        # Geography within the service area, bounded per anchor: the group split in up to
        # _ANCHORS spatial pieces, a school's distance to a partner being at least
        # (anchor -> partner) - (the piece's radius). Outside its area a partner gets none
        # here (a remote one gets its remote credit through the school side).
        pieces = plan_chunks(s, max(1, -(-n // _ANCHORS)))
        anchor = np.empty(n, np.int64)
        centres = []
        for a_i, rows in enumerate(pieces):
            anchor[rows] = a_i
            la, lo, rad = centre(s.lat[rows], s.lon[rows])
            centres.append((unit_xyz(np.array([la]), np.array([lo]))[0], rad))
        return segs, [self._geo(seg, centres) for seg in segs], anchor, len(pieces)

    def _geo(self, seg: Segment, centres: list) -> np.ndarray:
        """(m, anchors + 1): each candidate's geo bound per anchor (0 outside its area), its remote flag."""
        out = np.zeros((len(seg.cols), len(centres) + 1), dtype=np.float32)
        out[:, -1] = seg.remote
        located = np.flatnonzero(~np.isnan(self.p_xyz[seg.cols, 0]))
        p_loc = self.p_xyz[seg.cols[located]]
        r_loc = self.radius[seg.cols[located]]
        lc, length = self.settings.local_credit, self.settings.geo_length_km
        for a_i, (xyz, rad) in enumerate(centres):
            d_min = np.maximum(chord_km(p_loc, xyz) - rad, 0.0)
            g = lc + (1.0 - lc) * np.exp(-d_min / length)
            out[located, a_i] = np.where(d_min <= r_loc + EPS_KM, g * (1 + 1e-9), 0.0)
        return out

    def _buffers(self, n: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """This thread's bound buffer (n, width) and the bound's scratch (reused: fresh large
        allocations are slow)."""
        sc = self._scratch
        if sc.ub is None or sc.ub.size < n * width:
            sc.ub = np.empty(n * width + n * width // 4, dtype=np.float32)
        if sc.scratch is None or sc.scratch.size < 3 * n * TILE:
            sc.scratch = np.empty(3 * n * TILE, dtype=np.float32)
        return sc.ub[: n * width].reshape(n, width), sc.scratch

    def _rank_group(self, s: SchoolFeatures, keys: list, is_known: bool) -> ChunkResult:
        n, k = len(s), self.k
        segs, geos, anchor, n_anchors = self._columns(s, is_known)
        cols = np.concatenate([seg.cols for seg in segs])
        m_cols = len(cols)
        if m_cols == 0:
            return empty_result(n)
        if _DENSE_K * k >= m_cols:  # a top-k this wide prunes little: score every candidate
            return self._rank_dense(s, keys, cols)
        depth = _PRE * k
        # blocks small enough that each school's top ``depth`` block maxima pin down its cut-off
        blk = int(min(_CUT_BLOCK, max(8, 2 ** int(math.log2(max(1, m_cols // (8 * depth)))))))
        n_blk = -(-m_cols // blk)
        width = n_blk * blk
        ub, scratch = self._buffers(n, width)
        ss = self.tables.school_side(s, self.a, anchor, n_anchors, is_known, self.settings.remote_credit,
                                     self.scorer.relevance_gate)
        start = 0
        for seg, geo in zip(segs, geos):
            stop = start + len(seg.cols)
            self.tables.bound(seg, geo, ss, self.a["geo"] * self.settings.local_credit, ub[:, start:stop], scratch)
            start = stop
        ub[:, m_cols:] = -np.inf

        # Threshold: score exactly the best candidate of each school's top blocks.
        arg = ub.reshape(n, n_blk, blk).argmax(axis=2)
        flat = ub.reshape(-1)
        block_max = flat[(np.arange(n)[:, None] * n_blk + np.arange(n_blk)[None, :]) * blk + arg]
        if depth < n_blk:
            top_b = np.argpartition(-block_max, depth - 1, axis=1)[:, :depth]
        else:
            top_b = np.broadcast_to(np.arange(n_blk), (n, n_blk))
        r_idx = np.repeat(np.arange(n), top_b.shape[1])
        c_idx = (top_b * blk + np.take_along_axis(arg, top_b, axis=1)).ravel()
        keep = (c_idx < m_cols) & np.isfinite(np.take_along_axis(block_max, top_b, axis=1).ravel())
        r_idx, c_idx = r_idx[keep], c_idx[keep]
        order = np.lexsort((c_idx, r_idx))
        r_idx, c_idx = r_idx[order], c_idx[order]
        scored = ScoredPairs()
        scored.add(self._exact(s, keys, r_idx, cols[c_idx]), r_idx, c_idx)
        ub[r_idx, c_idx] = -np.inf  # scored: no later stage selects a pair twice
        everything = np.arange(n)
        thr = scored.kth_allowed(everything, k)
        short = everything[~np.isfinite(thr)]
        deeper = 4 * depth
        while len(short):  # rows whose top blocks gave fewer than k allowed partners: look deeper
            if deeper >= n_blk:
                cut = np.full(len(short), -np.inf, dtype=np.float32)
            else:
                cut = -np.partition(-block_max[short], deeper - 1, axis=1)[:, deeper - 1]
            r_idx, c_idx = select_between(ub, short, cut, np.full(len(short), np.inf, np.float32), m_cols)
            scored.add(self._exact(s, keys, r_idx, cols[c_idx]), r_idx, c_idx)
            ub[r_idx, c_idx] = -np.inf
            thr[short] = scored.kth_allowed(short, k)
            if deeper >= n_blk:
                break
            short, deeper = short[~np.isfinite(thr[short])], deeper * 4

        # Survivors: every candidate whose bound reaches its school's threshold.
        lo_thr = (thr - MARGIN).astype(np.float32)
        rows = np.flatnonzero(np.isfinite(thr))
        r_idx, c_idx = select_between(ub, rows, lo_thr[rows], np.full(len(rows), np.inf, np.float32), m_cols)
        if len(r_idx):
            scored.add(self._exact(s, keys, r_idx, cols[c_idx]), r_idx, c_idx)
        res = scored.top(n, k, cols, thr)
        res.n_candidates = n * m_cols
        res.n_exact = scored.count()
        return res

    def _rank_dense(self, s: SchoolFeatures, keys: list, cols: np.ndarray) -> ChunkResult:
        """Every candidate scored with the matrix functions (as rank_chunk, on fewer columns)."""
        from matcher.ranking import top_k

        n, k = len(s), self.k
        cols = np.sort(cols)  # ties go to the lower partner row, as in rank_chunk
        p = self.P.take(cols)
        out = ScoredPairs()
        for start in range(0, n, 16):
            sub = s.take(slice(start, start + 16))
            score, contrib, dist, ok = self.scorer.score_matrix(sub, p, self.include_full)
            if self.has_state:
                r = np.repeat(np.arange(len(sub)), len(cols))
                ok &= self._state_ok(keys[start : start + 16], r, np.tile(cols, len(sub))).reshape(ok.shape)
            for i in range(len(sub)):
                c = top_k(score[i], ok[i], k)
                vals = (score[i, c], np.stack([contrib[b][i, c] for b in BLOCKS], axis=1), dist[i, c],
                        np.ones(len(c), bool))
                out.add(vals, np.full(len(c), start + i), c)
        res = out.top(n, k, cols, np.full(n, -np.inf))
        res.n_candidates = res.n_exact = n * len(cols)
        return res

    # ------------------------------------------------------------ exact scores
    def _exact(self, s: SchoolFeatures, keys: list, rows: np.ndarray, mcols: np.ndarray):
        """Exact scores, contributions, distances and allowed flags of pairs (rows ascending)."""
        n_pairs = len(rows)
        out_score = np.empty(n_pairs, dtype=np.float64)
        out_contrib = np.empty((n_pairs, len(BLOCKS)), dtype=np.float64)
        out_dist = np.empty(n_pairs, dtype=np.float64)
        out_ok = np.empty(n_pairs, dtype=bool)
        P = self.P
        need_total = s.weights.sum(axis=1)
        for start in range(0, n_pairs, _PAIR_BATCH):
            sl = slice(start, start + _PAIR_BATCH)
            r, c = rows[sl], mcols[sl]
            whole, covered = _pair_dots(s, P, r, c)
            best = pair_best_sentence_dots(s.text, P, r, c, whole)
            pp = _gather(P, c)
            dist = pair_distance_km(s.lat[r], s.lon[r], pp.lat, pp.lon)
            sims, known = pair_blocks(self.settings, whole, best, covered, need_total[r], dist, s.grades[r],
                                      s.in_person[r], s.preferred_types[r], pp)
            score, contrib = self.scorer.combine(sims, known)
            for b_i, b in enumerate(BLOCKS):
                out_contrib[sl, b_i] = contrib[b]
            out_score[sl] = score
            out_dist[sl] = dist
            ok = pair_allowed(self.settings, dist, s.grades[r], pp)
            if self.has_state:
                ok &= self._state_ok(keys, r, c)
            out_ok[sl] = ok
        return out_score, out_contrib, out_dist, out_ok

    def _state_ok(self, keys: list, rows: np.ndarray, mcols: np.ndarray) -> np.ndarray:
        ok = self.left_ok[mcols].copy()
        if not self.overrides:
            return ok
        m = self.n_partners
        o_keys, o_vals = [], []
        for row in np.unique(rows):
            entry = self.overrides.get(keys[row])
            if entry is not None:
                o_keys.append(row * m + entry[0])
                o_vals.append(entry[1])
        if not o_keys:
            return ok
        ok_keys = np.concatenate(o_keys)
        ok_vals = np.concatenate(o_vals)
        order = np.argsort(ok_keys, kind="stable")
        ok_keys, ok_vals = ok_keys[order], ok_vals[order]
        pair_keys = rows.astype(np.int64) * m + mcols
        at = np.minimum(np.searchsorted(ok_keys, pair_keys), len(ok_keys) - 1)
        hit = ok_keys[at] == pair_keys
        ok[hit] = ok_vals[at[hit]]
        return ok


_NONE = np.zeros((0, 0), dtype=np.float32)


def _gather(P: PartnerFeatures, cols: np.ndarray) -> PartnerFeatures:
    """The per-pair partner arrays the blocks read (no text or category rows: those enter as dot products)."""
    return PartnerFeatures(
        text=_NONE, sentences=_NONE, sentence_start=P.sentence_start[cols], sentence_count=P.sentence_count[cols],
        categories=_NONE, grades=P.grades[cols], lat=P.lat[cols], lon=P.lon[cols], type_code=P.type_code[cols],
        radius_km=P.radius_km[cols], remote=P.remote[cols], capacity=P.capacity[cols],
        text_offset=P.text_offset[cols], category_offset=P.category_offset[cols],
    )


def _pair_dots(s: SchoolFeatures, P: PartnerFeatures, rows: np.ndarray, mcols: np.ndarray, block: int = 8):
    """Whole-text and category dot products of pairs (rows ascending), exact, without gathering school rows.

    Pairs are taken a few schools at a time: the gathered partner rows are
    multiplied by all those schools at once (BLAS), and each pair keeps its own.
    """
    n_pairs = len(rows)
    text_dot = np.empty(n_pairs, dtype=np.float32)
    covered = np.empty(n_pairs, dtype=np.float32)
    if n_pairs == 0:
        return text_dot, covered
    first = rows[0] // block * block
    edges = np.searchsorted(rows, np.arange(first, rows[-1] + block + 1, block))
    for b in range(len(edges) - 1):
        lo, hi = edges[b], edges[b + 1]
        if lo == hi:
            continue
        base = first + b * block
        c = mcols[lo:hi]
        r = rows[lo:hi] - base
        pick = np.arange(hi - lo)
        text_dot[lo:hi] = (P.text[c] @ s.text[base : base + block].T)[pick, r]
        covered[lo:hi] = (P.categories[c] @ s.weights[base : base + block].T)[pick, r]
    return text_dot, covered


def rank_block(model, s: SchoolFeatures, k: int, scorer: Scorer, include_full: bool = False, school_ids=None,
               state=None, index: RankIndex | None = None):
    """Exact top-``k`` partners of every school of ``s``: :func:`matcher.ranking.rank_chunk`'s result, faster.

    Same return value as ``rank_chunk`` over the model's partners, with outreach
    ``state`` for ``school_ids``; pass ``index`` (built with the same model,
    scorer, k, include_full and state) to reuse it across calls.
    """
    if index is None:
        index = RankIndex(model, scorer, k, include_full, state)
    return index.rank(s, school_ids).as_rank_chunk()

