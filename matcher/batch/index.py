"""Exact batch ranking: every school's top-K partners, pruned by an upper bound on the score.

How, for a chunk of ~256 schools that lie close together (:func:`~matcher.batch.geometry.plan_chunks`):

1. **Geographic blocking.** A partner with a service radius (and a location,
   and not remote) can serve a school only within that radius, so the chunk's
   candidates are the partners whose circle reaches the chunk (triangle
   inequality around the chunk's centre) plus those that may serve anywhere
   (remote, no distance limit, no location). Partners with no capacity left
   (unless ``include_full``) are never candidates.
2. **An upper bound on every candidate's score, in one matrix product.** The
   text similarity is bounded through a fixed orthonormal basis ``V`` of the
   top ``text_rank`` principal directions of the texts:
   ``q.p = (V'q).(V'p) + q_r.p_r <= (V'q).(V'p) + |q_r| |p_r|`` (Cauchy-Schwarz
   on the residuals ``q_r = q - VV'q``). Categories, grades and partner type
   enter exactly (they are bilinear in one-hot and strength vectors);
   geography through a per-partner bound from the distance to each of a few
   anchor points of the chunk. All of it is one float32 GEMM of
   ``text_rank + ~75`` columns per (school, candidate).
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

from matcher.batch.geometry import centre, chord_km, plan_chunks, unit_xyz
from matcher.batch.results import ChunkResult, ScoredPairs, empty_result, merge_results, select_between
from matcher.config import BLOCKS
from matcher.features import (
    EARTH_RADIUS_KM,
    POPCOUNT,
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
#: Dimensions of the text subspace used by the score bound (more: tighter bound, dearer).
TEXT_RANK = 160
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
_N_GRADES = 14



class _Scratch(threading.local):
    """Per-thread buffers (reused: fresh large allocations are slow)."""

    pbuf: np.ndarray | None = None
    ub: np.ndarray | None = None


#: Partner classes by which blocks are known (grades given, type given, location known):
#: the score's denominator (the sum of the known weights) is constant within a class.
_N_CLASSES = 8


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
        # Class of each partner: bit 0 grades given, bit 1 type given, bit 2 location known.
        self.p_class = ((P.grades != 0) + 2 * (P.type_code >= 0) + 4 * known).astype(np.int64)

        # Text basis: top principal directions of partner and school texts (any orthonormal
        # basis keeps the bound valid; a good one keeps it tight).
        d = P.text.shape[1]
        r = int(min(max(text_rank, 0), d))
        self.text_rank = r
        self.V = self._basis(model.schools_.text, r)
        pr, pe = self._project(P.text)
        n_cat = P.categories.shape[1]
        n_types = len(model.featurizer_.partner_type_slugs)
        self.n_cat, self.n_types = n_cat, n_types
        # Partner side of the bound, one row per partner, in column blocks:
        # f V'p (r) | f |p - VV'p| (1) | -text hub offset (1) | categories (C) | -category hub offset (1)
        # | grade bits (14) | partner type one-hot (T) | geo bound per anchor (A, set per chunk) | remote (1)
        # where f = 2 for one-sentence texts (their closest sentence is the whole text) and 1 otherwise.
        self.cols_text = slice(0, r + 2)
        self.cols_cat = slice(r + 2, r + 3 + n_cat)
        self.cols_log = slice(self.cols_cat.stop, self.cols_cat.stop + _N_GRADES + n_types + _ANCHORS + 1)
        self.col_grade = self.cols_log.start
        self.col_type = self.col_grade + _N_GRADES
        self.col_geo = self.col_type + n_types
        self.col_remote = self.col_geo + _ANCHORS
        self.cols_other = slice(self.col_grade, self.col_geo)
        self.cols_geo = slice(self.col_geo, self.col_remote + 1)
        self.K = self.cols_log.stop
        f = np.where(P.sentence_count > 0, 1.0, 2.0).astype(np.float32)
        pa = np.zeros((m, self.K), dtype=np.float32)
        pa[:, :r] = pr * f[:, None]
        pa[:, r] = pe * f
        pa[:, r + 1] = 1e-6 - P.text_offset  # a hair generous: the bound stays above the score
        pa[:, r + 2 : r + 2 + n_cat] = P.categories
        pa[:, r + 2 + n_cat] = 1e-6 - P.category_offset
        pa[:, self.col_grade : self.col_type] = (P.grades[:, None] >> np.arange(_N_GRADES)[None, :]) & 1
        typed = np.flatnonzero(P.type_code >= 0)
        pa[typed, self.col_type + P.type_code[typed]] = 1.0
        pa[:, self.col_remote] = P.remote & known
        self.pa = pa  # a chunk gathers its candidates' rows
        # Sentences of multi-sentence texts, projected the same way: (S, r + 1).
        sp, se = self._project(P.sentences)
        self.sent_pa = np.ascontiguousarray(np.concatenate([sp, se[:, None], np.zeros((len(se), 1), np.float32)], axis=1))
        self._scratch = _Scratch()

    # ------------------------------------------------------------ setup
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_scratch"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._scratch = _Scratch()

    def _basis(self, school_text: np.ndarray, r: int) -> np.ndarray:
        """(d, r) orthonormal: top principal directions (uncentred) of the texts.

        Any orthonormal basis keeps the bound valid; this one keeps it tight. It is
        fitted on an evenly spread sample of rows (deterministic).
        """
        P, S = self.P.text, school_text
        d = P.shape[1]
        if r == 0:
            return np.zeros((d, 0), dtype=np.float32)
        if r >= d:
            return np.eye(d, dtype=np.float32)
        cov = np.zeros((d, d))
        for X in (P, S):
            x = X[:: max(1, len(X) // 20_000)]
            cov += (x.T @ x).astype(np.float64) / max(len(x), 1)
        vals, vecs = np.linalg.eigh(cov)
        return np.ascontiguousarray(vecs[:, np.argsort(-vals, kind="stable")[:r]], dtype=np.float32)

    def _project(self, text: np.ndarray, batch: int = 8192) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates in the basis and residual norms of text rows.

        float32: the residual norms are rounded up by far more than their error
        (~1e-6), and the bound's margin covers the rest.
        """
        n = len(text)
        pr = np.empty((n, self.text_rank), dtype=np.float32)
        pe = np.empty(n, dtype=np.float32)
        for start in range(0, n, batch):
            x = text[start : start + batch]
            c = x @ self.V
            res = x - c @ self.V.T
            pr[start : start + batch] = c
            pe[start : start + batch] = np.sqrt(np.einsum("ij,ij->i", res, res)) * (1 + 1e-4) + 1e-5
        return pr, pe

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
        """Candidate model columns of a group (sorted by partner class), their local positions, each
        school's anchor, and the geo bound of every (anchor, candidate): (A, candidates)."""
        n = len(s)
        if not is_known:  # no distance is known: every partner may serve, geography is not scored
            cols = np.concatenate([self.glob, self.loc])
            return self._by_class(cols, np.zeros(n, np.int64), np.zeros((1, len(cols))))
        lat0, lon0, radius = centre(s.lat, s.lon)
        c = unit_xyz(np.array([lat0]), np.array([lon0]))[0]
        b = radius / EARTH_RADIUS_KM
        # local partner p can reach a school iff angle(c, p) <= reach_p + b (triangle inequality):
        # cos(angle) >= cos(reach_p + b), with a little slack for rounding
        dot_loc = self.loc_xyz @ c
        limit = self.loc_cos * math.cos(b) - self.loc_sin * math.sin(b)
        sel = np.flatnonzero((dot_loc >= limit - 1e-9) | (self.loc_reach + b >= math.pi))
        cols = np.concatenate([self.glob, self.loc[sel]])
        # Geography within the service area, bounded per anchor: the group split in up to
        # _ANCHORS spatial pieces, a school's distance to a partner being at least
        # (anchor -> partner) - (the piece's radius). Outside its area a partner gets none
        # here (a remote one gets its remote credit through the school side).
        pieces = plan_chunks(s, max(1, -(-n // _ANCHORS)))
        anchor = np.empty(n, np.int64)
        geo = np.zeros((len(pieces), len(cols)), dtype=np.float64)
        located = np.flatnonzero(~np.isnan(self.p_xyz[cols, 0]))
        p_loc = self.p_xyz[cols[located]]
        r_loc = self.radius[cols[located]]
        for a_i, rows in enumerate(pieces):
            anchor[rows] = a_i
            la, lo, rad = centre(s.lat[rows], s.lon[rows])
            d_min = np.maximum(chord_km(p_loc, unit_xyz(np.array([la]), np.array([lo]))[0]) - rad, 0.0)
            g = self.settings.local_credit + (1.0 - self.settings.local_credit) * np.exp(
                -d_min / self.settings.geo_length_km)
            geo[a_i, located] = np.where(d_min <= r_loc + EPS_KM, g * (1 + 1e-9), 0.0)
        return self._by_class(cols, anchor, geo)

    def _by_class(self, cols: np.ndarray, anchor: np.ndarray, geo: np.ndarray):
        """Candidates reordered one-sentence texts first, then by partner class; the class ranges
        (one-sentence classes 0..7, then multi-sentence classes 0..7) and the number of one-sentence ones."""
        key = self.p_class[cols] + _N_CLASSES * (self.P.sentence_count[cols] > 0)
        order = np.argsort(key, kind="stable")
        cols, key, geo = cols[order], key[order], geo[:, order]
        edges = np.searchsorted(key, np.arange(2 * _N_CLASSES + 1))
        return cols, anchor, geo, edges, int(edges[_N_CLASSES])

    def _school_side(self, s: SchoolFeatures, anchor: np.ndarray, is_known: bool):
        """School side of the bound (n, K), each school's 1 / (relevance weight x gate), and
        1 / denominator per (school, partner class) (n, classes)."""
        a, r = self.a, self.text_rank
        n = len(s)
        qr, qe = self._project(s.text)
        need_total = s.weights.sum(axis=1, dtype=np.float64)
        has_need = need_total > 0
        sa = np.zeros((n, self.K), dtype=np.float32)
        sa[:, :r] = 0.5 * a["text"] * qr
        sa[:, r] = 0.5 * a["text"] * qe.astype(np.float64)
        sa[:, r + 1] = a["text"]
        cat = self.cols_cat.start
        sa[has_need, cat : cat + self.n_cat] = (a["categories"] / need_total[has_need])[:, None] * s.weights[has_need]
        sa[has_need, cat + self.n_cat] = a["categories"]
        g_known = s.grades != 0
        own = POPCOUNT[s.grades].astype(np.float64)
        bits = (s.grades[:, None] >> np.arange(_N_GRADES)[None, :]) & 1
        sa[g_known, self.col_grade : self.col_type] = (a["grades"] / own[g_known])[:, None] * bits[g_known]
        pref = s.preferred_types != 0
        tbits = (s.preferred_types[:, None] >> np.arange(self.n_types)[None, :]) & 1
        sa[pref, self.col_type : self.col_geo] = a["partner_type"] * tbits[pref]
        if is_known:
            sa[np.arange(n), self.col_geo + anchor] = a["geo"]
            sa[:, self.col_remote] = a["geo"] * self.settings.remote_credit * (1.0 - s.in_person)
        rel_weight = a["text"] + a["categories"] * has_need
        # 1 / (relevance weight x gate); -1 marks schools whose relevance has no weight (gate open)
        with np.errstate(divide="ignore"):
            gate = np.where(rel_weight > 0, 1.0 / (rel_weight * self.scorer.relevance_gate), -1.0)
        cls = np.arange(_N_CLASSES)
        pg, pt, pl = (cls & 1) > 0, (cls & 2) > 0, (cls & 4) > 0
        denom = (rel_weight[:, None] + a["grades"] * (g_known[:, None] & pg[None, :])
                 + a["geo"] * (is_known & pl[None, :]) + a["partner_type"] * (pref[:, None] & pt[None, :]))
        inv = np.where(denom > 0, 1.0 / np.where(denom > 0, denom, 1.0), 0.0) * (1 + 1e-6)
        return sa, gate.astype(np.float32), inv.astype(np.float32)

    def _buffers(self, n: int, width: int, m_cols: int) -> tuple[np.ndarray, ...]:
        """This thread's candidate-side matrix (m_cols, K), bound buffer (n, width) and three
        (n, m_cols) work buffers (reused: fresh large allocations are slow)."""
        sc = self._scratch
        if sc.pbuf is None or sc.pbuf.shape[0] < m_cols:
            sc.pbuf = np.empty((m_cols + m_cols // 4, self.K), dtype=np.float32)
        size = n * width
        if sc.ub is None or sc.ub.size < 4 * size:
            sc.ub = np.empty(4 * size + size // 4, dtype=np.float32)
        work = (sc.ub[(i + 1) * size : (i + 1) * size + n * m_cols].reshape(n, m_cols) for i in range(3))
        return (sc.pbuf[:m_cols], sc.ub[:size].reshape(n, width), *work)

    def _bound(self, ub: np.ndarray, work: tuple[np.ndarray, ...], sa: np.ndarray, gate: np.ndarray,
               inv: np.ndarray, pbuf: np.ndarray, cols: np.ndarray, edges: np.ndarray, n_single: int) -> None:
        """Upper bounds of the scores of ``sa``'s schools against the candidates, into ``ub``.

        Mirrors :meth:`Scorer.combine` with every part bounded from above: the text part
        (the whole text, plus the closest of the sentences for multi-sentence texts, less
        the hub offset, clipped at 0), the category part (likewise), the logistics part
        gated by the bound on relevance, all over the pair's denominator. Candidates are
        ordered one-sentence first, then by partner class (``edges``).
        """
        text, part, tmp = work
        ct = self.cols_text
        np.matmul(sa[:, ct], pbuf[:, ct].T, out=text)
        if n_single < len(cols):
            counts = self.P.sentence_count[cols[n_single:]]
            first = np.cumsum(counts) - counts
            idx = np.repeat(self.P.sentence_start[cols[n_single:]] - first, counts) + np.arange(counts.sum())
            sent = sa[:, ct] @ self.sent_pa[idx].T
            text[:, n_single:] += np.maximum.reduceat(sent, first, axis=1)
        np.maximum(text, 0.0, out=text)
        np.matmul(sa[:, self.cols_cat], pbuf[:, self.cols_cat].T, out=part)
        np.maximum(part, 0.0, out=part)
        np.add(text, part, out=text)  # relevance numerator
        np.multiply(text, gate[:, None], out=tmp)  # the gate q = min(1, relevance / gate)^2
        np.minimum(tmp, 1.0, out=tmp)
        open_rows = np.flatnonzero(gate < 0)
        if len(open_rows):
            tmp[open_rows] = 1.0
        np.multiply(tmp, tmp, out=tmp)
        np.matmul(sa[:, self.cols_other], pbuf[:, self.cols_other].T, out=part)  # grades, type: gated
        np.multiply(part, tmp, out=part)
        np.add(text, part, out=text)
        # geography G: its in-person (or remote) base counts in full, closeness inside the area is gated:
        # min(G, base) + q max(G - base, 0) = G - (1 - q) max(G - base, 0)
        np.matmul(sa[:, self.cols_geo], pbuf[:, self.cols_geo].T, out=part)
        np.add(text, part, out=text)
        np.subtract(part, self.a["geo"] * self.settings.local_credit, out=part)
        np.maximum(part, 0.0, out=part)
        np.subtract(1.0, tmp, out=tmp)
        np.multiply(part, tmp, out=part)
        np.subtract(text, part, out=text)
        for c in range(len(edges) - 1):
            lo, hi = edges[c], edges[c + 1]
            if lo < hi:
                np.multiply(text[:, lo:hi], inv[:, c % _N_CLASSES, None], out=ub[:, lo:hi])

    def _rank_group(self, s: SchoolFeatures, keys: list, is_known: bool) -> ChunkResult:
        n, k = len(s), self.k
        cols, anchor, geo, edges, n_single = self._columns(s, is_known)
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
        pbuf, ub, *work = self._buffers(n, width, m_cols)
        np.take(self.pa, cols, axis=0, out=pbuf)
        pbuf[:, self.col_geo : self.col_geo + len(geo)] = geo.T
        sa, gate, inv = self._school_side(s, anchor, is_known)
        self._bound(ub[:, :m_cols], tuple(work), sa, gate, inv, pbuf, cols, edges, n_single)
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

