"""Batch ranking: every school's top-K partners, exact, fast, to a file that appears atomically.

:func:`rank_to_file` is what ``matcher rank`` runs. The ranking itself is
:class:`RankIndex` (:func:`rank_block` for one call): it returns, school for
school, *exactly* what :func:`matcher.ranking.rank_chunk` (and so ``matcher
recommend``) returns -- the same partners in the same order with bit-identical
scores -- while scoring exactly only a small share of the (school, partner)
pairs and never holding a schools x partners matrix.

How, for a chunk of ~256 schools that lie close together (:func:`plan_chunks`):

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

import contextlib
import io
import math
import threading
from pathlib import Path
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

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

__all__ = [
    "COLUMNS",
    "DEFAULT_CHUNK_SIZE",
    "FORMATS",
    "TEXT_RANK",
    "ChunkResult",
    "RankIndex",
    "RankSummary",
    "parts_dir",
    "plan_chunks",
    "rank_block",
    "rank_to_file",
    "school_features",
]

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
_EPS_KM = 1e-6
#: Spatial pieces of a chunk, each with its own geo bound (tighter than one for the chunk).
_ANCHORS = 8
#: Per-anchor geo bounds are worked out for partners nearer than this many length scales.
_GEO_NEAR = 10.0
_N_GRADES = 14


def _unit_xyz(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """(n, 3) points on the unit sphere (NaN where the location is unknown)."""
    la, lo = np.radians(np.asarray(lat, dtype=np.float64)), np.radians(np.asarray(lon, dtype=np.float64))
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=1)


def _chord_km(xyz: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Great-circle distance (km) from unit vectors to one unit vector (well conditioned when near)."""
    chord = np.sqrt(((xyz - c[None, :]) ** 2).sum(axis=1))
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(chord / 2, 1.0))


def _centre(lat: np.ndarray, lon: np.ndarray) -> tuple[float, float, float]:
    """A centre of some points and a radius (km) around it that holds them all, a hair generous."""
    lat0 = 0.5 * (float(np.min(lat)) + float(np.max(lat)))
    lon0 = 0.5 * (float(np.min(lon)) + float(np.max(lon)))
    radius = float(np.max(_haversine(lat0, lon0, lat, lon))) * (1 + 1e-9) + _EPS_KM
    return lat0, lon0, radius


def _haversine(lat1: np.ndarray | float, lon1: np.ndarray | float, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distance in km (for bounds only; exact distances use matcher.features)."""
    la1, lo1, la2, lo2 = (np.radians(np.asarray(x, dtype=np.float64)) for x in (lat1, lon1, lat2, lon2))
    a = np.sin((la2 - la1) / 2) ** 2 + np.cos(la1) * np.cos(la2) * np.sin((lo2 - lo1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


@dataclass
class ChunkResult:
    """Top-k of every school of a chunk, flattened: rows ``starts[i]:starts[i+1]`` are school i's, best first."""

    starts: np.ndarray  # (n + 1,) int64
    partner: np.ndarray  # (rows,) int32 model partner row
    score: np.ndarray  # (rows,) float64
    contrib: np.ndarray  # (rows, len(BLOCKS)) float64, in BLOCKS order
    dist: np.ndarray  # (rows,) float64, NaN = unknown
    n_candidates: int = 0  # (school, partner) pairs left after geographic blocking
    n_exact: int = 0  # pairs scored exactly

    def as_rank_chunk(self) -> list[tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]]:
        """The same result in :func:`matcher.ranking.rank_chunk`'s form."""
        out = []
        for i in range(len(self.starts) - 1):
            sl = slice(self.starts[i], self.starts[i + 1])
            out.append(
                (
                    self.partner[sl].astype(np.intp),
                    self.score[sl],
                    {b: self.contrib[sl, c] for c, b in enumerate(BLOCKS)},
                    self.dist[sl],
                )
            )
        return out


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
        xyz = _unit_xyz(P.lat, P.lon)
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
        return _reorder(parts, n)

    def _columns(self, s: SchoolFeatures, is_known: bool):
        """Candidate model columns of a group (sorted by partner class), their local positions, each
        school's anchor, and the geo bound of every (anchor, candidate): (A, candidates)."""
        n = len(s)
        if not is_known:  # no distance is known: every partner may serve, geography is not scored
            cols = np.concatenate([self.glob, self.loc])
            return self._by_class(cols, np.zeros(n, np.int64), np.zeros((1, len(cols))))
        lat0, lon0, radius = _centre(s.lat, s.lon)
        c = _unit_xyz(np.array([lat0]), np.array([lon0]))[0]
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
            la, lo, rad = _centre(s.lat[rows], s.lon[rows])
            d_min = np.maximum(_chord_km(p_loc, _unit_xyz(np.array([la]), np.array([lo]))[0]) - rad, 0.0)
            g = self.settings.local_credit + (1.0 - self.settings.local_credit) * np.exp(
                -d_min / self.settings.geo_length_km)
            geo[a_i, located] = np.where(d_min <= r_loc + _EPS_KM, g * (1 + 1e-9), 0.0)
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
        np.matmul(sa[:, self.cols_log], pbuf[:, self.cols_log].T, out=part)  # logistics
        np.multiply(text, gate[:, None], out=tmp)
        np.minimum(tmp, 1.0, out=tmp)
        open_rows = np.flatnonzero(gate < 0)
        if len(open_rows):
            tmp[open_rows] = 1.0
        np.multiply(tmp, tmp, out=tmp)
        np.multiply(tmp, part, out=tmp)
        np.add(tmp, text, out=tmp)
        for c in range(len(edges) - 1):
            lo, hi = edges[c], edges[c + 1]
            if lo < hi:
                np.multiply(tmp[:, lo:hi], inv[:, c % _N_CLASSES, None], out=ub[:, lo:hi])

    def _rank_group(self, s: SchoolFeatures, keys: list, is_known: bool) -> ChunkResult:
        n, k = len(s), self.k
        cols, anchor, geo, edges, n_single = self._columns(s, is_known)
        m_cols = len(cols)
        if m_cols == 0:
            return _empty(n)
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
        scored = _Pairs()
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
            r_idx, c_idx = _select(ub, short, cut, np.full(len(short), np.inf, np.float32), m_cols)
            scored.add(self._exact(s, keys, r_idx, cols[c_idx]), r_idx, c_idx)
            ub[r_idx, c_idx] = -np.inf
            thr[short] = scored.kth_allowed(short, k)
            if deeper >= n_blk:
                break
            short, deeper = short[~np.isfinite(thr[short])], deeper * 4

        # Survivors: every candidate whose bound reaches its school's threshold.
        lo_thr = (thr - MARGIN).astype(np.float32)
        rows = np.flatnonzero(np.isfinite(thr))
        r_idx, c_idx = _select(ub, rows, lo_thr[rows], np.full(len(rows), np.inf, np.float32), m_cols)
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
        out = _Pairs()
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


def _select(ub: np.ndarray, rows: np.ndarray, lo: np.ndarray, hi: np.ndarray, m_cols: int):
    """(row, col) of the entries of ``ub[rows]`` with ``lo <= bound < hi`` (per row), rows ascending."""
    if len(rows) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    lo = np.maximum(lo, np.finfo(np.float32).min)  # -inf marks pairs scored already (and padding)
    n, width = ub.shape
    if 4 * len(rows) >= n:  # one pass over the whole matrix; rows not asked for never match
        full_lo = np.full(n, np.inf, dtype=np.float32)
        full_lo[rows] = lo
        idx = np.flatnonzero(ub >= full_lo[:, None])
        r, c = np.divmod(idx, width)
        full_hi = np.full(n, np.inf, dtype=np.float32)
        full_hi[rows] = hi
        keep = (c < m_cols) & (ub[r, c] < full_hi[r])
        return r[keep], c[keep]
    sub = ub[rows]
    idx = np.flatnonzero(sub >= lo[:, None])
    r, c = np.divmod(idx, width)
    keep = (c < m_cols) & (sub[r, c] < hi[r])
    return rows[r[keep]], c[keep]


class _Pairs:
    """Exactly scored pairs of a group, accumulated over stages."""

    def __init__(self):
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[tuple] = []
        self._all_cache = None
        self._all_n = 0

    def add(self, exact, rows: np.ndarray, cols: np.ndarray) -> None:
        self.rows.append(rows)
        self.cols.append(cols)
        self.vals.append(exact)

    def _all(self):
        if self._all_cache is None or self._all_n != len(self.rows):
            rows = np.concatenate(self.rows)
            cols = np.concatenate(self.cols)
            score = np.concatenate([v[0] for v in self.vals])
            contrib = np.concatenate([v[1] for v in self.vals])
            dist = np.concatenate([v[2] for v in self.vals])
            ok = np.concatenate([v[3] for v in self.vals])
            self._all_cache, self._all_n = (rows, cols, score, contrib, dist, ok), len(self.rows)
        return self._all_cache

    def count(self) -> int:
        return int(sum(len(r) for r in self.rows))

    def mask_of(self, rows: np.ndarray, m_cols: int) -> np.ndarray:
        """(len(rows), m_cols) bool: which pairs of those rows were scored already."""
        out = np.zeros((len(rows), m_cols), bool)
        if self.rows:
            r, c = np.concatenate(self.rows), np.concatenate(self.cols)
            pos = np.full(int(max(r.max(), rows.max())) + 1, -1)
            pos[rows] = np.arange(len(rows))
            hit = pos[r] >= 0
            out[pos[r[hit]], c[hit]] = True
        return out

    def kth_allowed(self, todo: np.ndarray, k: int) -> np.ndarray:
        """k-th best allowed exact score of each row in ``todo`` (-inf with fewer than k)."""
        rows, _, score, _, _, ok = self._all()
        out = np.full(len(todo), -np.inf)
        size = 1 + max(int(rows.max()) if len(rows) else 0, int(todo.max()) if len(todo) else 0)
        want = np.zeros(size, bool)
        want[todo] = True
        sel = ok & want[rows]
        r, sc = rows[sel], score[sel]
        order = np.lexsort((-sc, r))
        r, sc = r[order], sc[order]
        starts = np.searchsorted(r, todo)
        ends = np.searchsorted(r, todo, side="right")
        has = ends - starts >= k
        out[has] = sc[starts[has] + k - 1]
        return out

    def top(self, n: int, k: int, cols_model: np.ndarray, thr: np.ndarray) -> ChunkResult:
        """Each row's k best allowed pairs (score, then partner row), from those at or above ``thr``."""
        if not self.rows:
            return _empty(n)
        rows, cols, score, contrib, dist, ok = self._all()
        keep = np.flatnonzero(ok & (score >= thr[rows]))
        rows, partner, score = rows[keep], cols_model[cols[keep]], score[keep]
        order = np.lexsort((partner, -score, rows))
        rows = rows[order]
        first = np.searchsorted(rows, np.arange(n))
        rank = np.arange(len(rows)) - first[rows]
        best = rank < k
        pick = keep[order[best]]
        rows = rows[best]
        starts = np.searchsorted(rows, np.arange(n + 1))
        return ChunkResult(
            starts=starts.astype(np.int64),
            partner=cols_model[cols[pick]].astype(np.int32),
            score=self._all_cache[2][pick],
            contrib=self._all_cache[3][pick],
            dist=self._all_cache[4][pick],
        )


def _empty(n: int) -> ChunkResult:
    return ChunkResult(
        starts=np.zeros(n + 1, np.int64),
        partner=np.zeros(0, np.int32),
        score=np.zeros(0),
        contrib=np.zeros((0, len(BLOCKS)), np.float64),
        dist=np.zeros(0),
    )


def _reorder(parts: list[tuple[np.ndarray, ChunkResult]], n: int) -> ChunkResult:
    """Merge results of row subsets back into row order."""
    counts = np.zeros(n, np.int64)
    for rows, res in parts:
        counts[rows] = np.diff(res.starts)
    starts = np.concatenate([[0], np.cumsum(counts)])
    total = int(starts[-1])
    partner = np.empty(total, np.int32)
    score = np.empty(total)
    contrib = np.empty((total, len(BLOCKS)), np.float64)
    dist = np.empty(total)
    for rows, res in parts:
        for j, row in enumerate(rows):
            a, b = res.starts[j], res.starts[j + 1]
            o = starts[row]
            partner[o : o + b - a] = res.partner[a:b]
            score[o : o + b - a] = res.score[a:b]
            contrib[o : o + b - a] = res.contrib[a:b]
            dist[o : o + b - a] = res.dist[a:b]
    return ChunkResult(
        starts, partner, score, contrib, dist,
        n_candidates=sum(r.n_candidates for _, r in parts), n_exact=sum(r.n_exact for _, r in parts),
    )


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


def plan_chunks(s: SchoolFeatures, chunk_size: int = DEFAULT_CHUNK_SIZE) -> list[np.ndarray]:
    """Rows of ``s`` in chunks of at most ``chunk_size`` schools that lie close together.

    Known locations are split recursively at the median of their wider side
    (a k-d tree; ties broken by row, so the plan depends only on the data);
    schools without a location come last, in row order. Every chunk's rows are
    ascending.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    n = len(s)
    known = ~(np.isnan(s.lat) | np.isnan(s.lon))
    out: list[np.ndarray] = []
    lat, lon = s.lat, s.lon
    for group in [np.flatnonzero(known)]:
        stack = [group]
        while stack:
            idx = stack.pop()
            if len(idx) == 0:
                continue
            if len(idx) <= chunk_size:
                out.append(np.sort(idx))
                continue
            la, lo = lat[idx], lon[idx]
            mid = math.radians(0.5 * (float(la.min()) + float(la.max())))
            key = la if (la.max() - la.min()) >= (lo.max() - lo.min()) * math.cos(mid) else lo
            order = idx[np.lexsort((idx, key))]
            # split into whole chunks where possible, so leaves are full
            half = (-(-len(idx) // chunk_size) // 2) * chunk_size
            stack.append(order[half:])
            stack.append(order[:half])
    unknown = np.flatnonzero(~known)
    for start in range(0, len(unknown), chunk_size):
        out.append(unknown[start : start + chunk_size])
    assert sum(len(c) for c in out) == n
    return out


# =========================================================================== schools to rank


def school_features(model, schools, batch_size: int = 256, client=None) -> tuple[np.ndarray, SchoolFeatures]:
    """Ids (sorted) and features of a schools table, as the model would compute them at fit.

    A school text the model was trained on (and tagged, not given explicit
    categories) keeps the vector and need categories it was trained with, so
    its ranking equals ``matcher recommend --school``; every other text is
    encoded with the model's encoder (distinct texts once, ``batch_size`` at a
    time) and tagged with its taxonomy by the model's featuriser. Grades,
    location, explicit categories and preferred partner types always come from
    the table.

    Parameters
    ----------
    model : PartnerMatcher
    schools : str, path or pandas.DataFrame
        A schools CSV (read with :func:`matcher.data.read_schools`) or a table.
    batch_size : int, default 256
        Distinct new texts encoded per batch.
    client : distributed.Client, optional
        Encode the batches as Dask tasks (the tagger broadcast once) instead of here.
    """
    import pandas as pd

    from matcher import data
    from matcher.featurize import encoded_rows

    df = data.normalised(schools, "schools") if isinstance(schools, pd.DataFrame) else data.read_schools(schools)
    df = df.sort_values("school_id", kind="stable").reset_index(drop=True)
    tagged = np.flatnonzero(~model.school_explicit_)
    known = encoded_rows(model.schools_.text[tagged], model.schools_.categories[tagged],
                         [str(x) for x in model.school_texts_[tagged]])
    f = model.featurizer
    encoded = f.encode([str(x) for x in df["needs"]], known=known, batch_size=batch_size, client=client)
    return df["school_id"].to_numpy(dtype=object), f.schools(df, encoded)


# =========================================================================== text output
# Rows are formatted with numpy, a block of rows at a time: every field becomes a byte
# matrix (one row per output row) with a start and a length per row, and the lines are
# assembled by scattering those bytes into one buffer. Numbers are printed with fixed
# decimals, correctly rounded (as Python's format(x, ".6f")).

_Field = tuple  # (matrix uint8 (n, w), start (n,), length (n,)) or bytes (a literal)


def _int_field(v: np.ndarray) -> _Field:
    """Decimal digits of non-negative integers."""
    v = np.asarray(v, dtype=np.int64)
    n = len(v)
    nd = np.ones(n, np.int64)
    p = 10
    while n and (v >= p).any():
        nd += v >= p
        p *= 10
    width = int(nd.max()) if n else 1
    mat = np.empty((n, width), np.uint8)
    x = v.copy()
    for j in range(width - 1, -1, -1):
        mat[:, j] = 48 + x % 10
        x //= 10
    return mat, width - nd, nd


def _fixed_field(x: np.ndarray, decimals: int) -> _Field:
    """``format(x, f".{decimals}f")`` of finite values, vectorised (Python formats the rare near-ties)."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    scale = 10**decimals
    y = x * scale
    v = np.rint(y)
    frac = y - np.floor(y)
    odd = (x < 0) | (np.abs(frac - 0.5) < 1e-6 + np.abs(y) * 4e-16) | ~np.isfinite(y) | (np.abs(y) > 2**62)
    v = np.where(odd, 0, v).astype(np.int64)
    ip, fp = np.divmod(v, scale)
    imat, istart, ilen = _int_field(ip)
    fmat = np.empty((n, decimals), np.uint8)
    f = fp.copy()
    for j in range(decimals - 1, -1, -1):
        fmat[:, j] = 48 + f % 10
        f //= 10
    mat = np.concatenate([imat, np.full((n, 1), ord("."), np.uint8), fmat], axis=1)
    start, length = istart, ilen + 1 + decimals
    if odd.any():
        rows = np.flatnonzero(odd)
        texts = [format(float(x[i]), f".{decimals}f").encode() for i in rows]
        return _patch((mat, start, length), rows, texts)
    return mat, start, length


def _patch(field: _Field, rows: np.ndarray, texts: list[bytes]) -> _Field:
    """The field with some rows replaced by other bytes."""
    mat, start, length = field
    width = max([mat.shape[1], *(len(t) for t in texts)])
    if width > mat.shape[1]:
        mat = np.concatenate([np.zeros((len(mat), width - mat.shape[1]), np.uint8), mat], axis=1)
        start = start + (width - field[0].shape[1])
    start, length = start.copy(), length.copy()
    for r, t in zip(rows, texts):
        mat[r, : len(t)] = np.frombuffer(t, np.uint8)
        start[r], length[r] = 0, len(t)
    return mat, start, length


def _table_field(table: tuple[np.ndarray, np.ndarray], idx: np.ndarray) -> _Field:
    """Pre-encoded strings (a byte matrix and lengths) picked by index."""
    mat, lens = table
    return mat[idx], np.zeros(len(idx), np.int64), lens[idx]


def _string_table(values: Sequence[str], fmt: str) -> tuple[np.ndarray, np.ndarray]:
    """Strings as CSV fields or JSON strings, UTF-8, in a byte matrix with lengths.

    CSV cells go through :func:`matcher.formats.neutralise` (formula injection), JSON strings as they are.
    """
    import json

    if fmt == "csv":
        from matcher.formats import neutralise

        values = [neutralise(str(v)) for v in values]
    vals = np.asarray([str(v) for v in values], dtype=str)
    try:  # plain printable ASCII without quotes, commas or backslashes: no escaping needed
        raw = np.char.encode(vals, "ascii") if len(vals) else np.zeros(0, "S1")
        width = max(1, raw.dtype.itemsize)
        mat = np.frombuffer(raw.astype(f"S{width}").tobytes(), np.uint8).reshape(len(vals), width)
        plain = bool(((mat == 0) | ((mat >= 32) & (mat < 127) & (mat != 34) & (mat != 44) & (mat != 92))).all())
    except UnicodeEncodeError:
        plain = False
    if plain:
        lens = np.char.str_len(vals).astype(np.int64) if len(vals) else np.zeros(0, np.int64)
        if fmt == "csv":
            return mat.copy(), lens
        quoted = np.full((len(vals), width + 2), 34, np.uint8)
        quoted[:, 1 : width + 1] = mat
        idx = np.arange(len(vals))
        quoted[idx, lens + 1] = 34
        return quoted, lens + 2
    encode = _csv_quote if fmt == "csv" else (lambda s: json.dumps(s, ensure_ascii=False))
    enc = [encode(str(v)).encode("utf-8") for v in values]
    width = max([1, *(len(e) for e in enc)])
    mat = np.zeros((len(enc), width), np.uint8)
    lens = np.zeros(len(enc), np.int64)
    for i, e in enumerate(enc):
        mat[i, : len(e)] = np.frombuffer(e, np.uint8)
        lens[i] = len(e)
    return mat, lens


def _csv_quote(s: str) -> str:
    """A CSV field as the csv module writes it (QUOTE_MINIMAL)."""
    if any(c in s for c in ',"\r\n'):
        return '"' + s.replace('"', '""') + '"'
    return s


def _join(fields: list, n: int) -> bytes:
    """Concatenate fields row by row into one byte string."""
    lens = np.zeros(n, np.int64)
    for f in fields:
        lens += len(f) if isinstance(f, bytes) else f[2]
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(lens, out=offsets[1:])
    buf = np.empty(int(offsets[-1]), np.uint8)
    pos = offsets[:-1].copy()
    for f in fields:
        if isinstance(f, bytes):
            for j, byte in enumerate(f):
                buf[pos + j] = byte
            pos += len(f)
            continue
        mat, start, length = f
        cols = np.arange(mat.shape[1])[None, :]
        mask = (cols >= start[:, None]) & (cols < (start + length)[:, None])
        dest = pos[:, None] + (cols - start[:, None])
        buf[dest[mask]] = mat[mask]
        pos += length
    return buf.tobytes()


#: Output formats of :func:`rank_to_file`.
FORMATS = ("csv", "jsonl", "parquet")
#: Output columns, in order.
COLUMNS = ("school_id", "rank", "partner_id", "score", *(f"contrib_{b}" for b in BLOCKS), "distance_km")
#: Decimals printed in CSV and JSON Lines (as ``matcher recommend`` rounds them).
SCORE_DECIMALS = 6
DISTANCE_DECIMALS = 2
#: Rows formatted (and, for parquet, written as one row group) at a time.
_WRITE_BLOCK = 1 << 16


def _text_block(fmt: str, rows: np.ndarray, rank: np.ndarray, school_tab, partner_tab) -> bytes:
    """CSV or JSON Lines text of a block of part rows (sorted by school, then rank)."""
    n = len(rows)
    nums = [_fixed_field(rows["score"], SCORE_DECIMALS)]
    nums += [_fixed_field(rows["contrib"][:, b].astype(np.float64), SCORE_DECIMALS) for b in range(len(BLOCKS))]
    dist = rows["dist"]
    missing = np.flatnonzero(np.isnan(dist))
    d = _fixed_field(np.where(np.isnan(dist), 0.0, dist), DISTANCE_DECIMALS)
    if len(missing):
        d = _patch(d, missing, [b"" if fmt == "csv" else b"null"] * len(missing))
    ids = _table_field(school_tab, rows["school"])
    pids = _table_field(partner_tab, rows["partner"])
    rk = _int_field(rank)
    if fmt == "csv":
        fields: list = [ids, b",", rk, b",", pids]
        for f in nums:
            fields += [b",", f]
        fields += [b",", d, b"\n"]
    else:
        names = COLUMNS
        fields = [b'{"' + names[0].encode() + b'": ', ids, b', "rank": ', rk, b', "partner_id": ', pids]
        for name, f in zip(names[3:-1], nums):
            fields += [b', "' + name.encode() + b'": ', f]
        fields += [b', "distance_km": ', d, b"}\n"]
    return _join(fields, n)


def _parquet_modules():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        from matcher.errors import MatcherError

        raise MatcherError(
            "parquet output needs pyarrow: pip install pyarrow (or pip install 'matcher[parquet]'), "
            "or write --format csv or jsonl"
        ) from None
    return pa, pq


def _atomic_output(path, tmp_dir):
    """Write to a temporary file in ``tmp_dir`` (same filesystem), fsync, then move it to ``path``.

    Temporaries live in the run's parts folder, so a killed run leaves none beside the output.
    The output gets the umask's mode like every other output (see :func:`matcher.persistence.atomic_write`).
    """
    from matcher.persistence import atomic_write

    return atomic_write(path, "wb", tmp_dir=tmp_dir)


def _write_output(path, fmt: str, rows: np.ndarray, school_ids: np.ndarray, partner_ids: np.ndarray, tmp_dir) -> None:
    """Write all rows (sorted by school, then rank) to ``path`` atomically."""
    school = rows["school"]
    first = np.searchsorted(school, school, side="left")
    rank = np.arange(len(rows)) - first + 1
    if fmt == "parquet":
        pa, pq = _parquet_modules()
        schema = pa.schema(
            [("school_id", pa.string()), ("rank", pa.int32()), ("partner_id", pa.string()), ("score", pa.float64())]
            + [(f"contrib_{b}", pa.float64()) for b in BLOCKS]
            + [("distance_km", pa.float64())]
        )
        with _atomic_output(path, tmp_dir) as fh:
            with pq.ParquetWriter(fh, schema) as writer:
                for start in range(0, max(len(rows), 1), _WRITE_BLOCK):
                    blk = rows[start : start + _WRITE_BLOCK]
                    dist = blk["dist"]
                    cols = [
                        pa.array(school_ids[blk["school"]], pa.string()),
                        pa.array(rank[start : start + _WRITE_BLOCK].astype(np.int32)),
                        pa.array(partner_ids[blk["partner"]], pa.string()),
                        pa.array(blk["score"]),
                        *(pa.array(np.ascontiguousarray(blk["contrib"][:, b])) for b in range(len(BLOCKS))),
                        pa.array(dist, mask=np.isnan(dist)),
                    ]
                    writer.write_table(pa.Table.from_arrays(cols, schema=schema))
        return
    used_s = np.unique(school)
    s_tab = _string_table(school_ids[used_s], fmt)
    used_p = np.unique(rows["partner"])
    p_tab = _string_table(partner_ids[used_p], fmt)
    with _atomic_output(path, tmp_dir) as fh:
        if fmt == "csv":
            fh.write((",".join(COLUMNS) + "\n").encode())
        for start in range(0, len(rows), _WRITE_BLOCK):
            blk = rows[start : start + _WRITE_BLOCK].copy()
            blk["school"] = np.searchsorted(used_s, blk["school"])
            blk["partner"] = np.searchsorted(used_p, blk["partner"])
            fh.write(_text_block(fmt, blk, rank[start : start + _WRITE_BLOCK], s_tab, p_tab))


# =========================================================================== runs on disk

#: Record of one chunk's results in a part file.
PART_DTYPE = np.dtype(
    [("school", "<i4"), ("partner", "<i4"), ("score", "<f8"), ("contrib", "<f8", (len(BLOCKS),)), ("dist", "<f8")]
)
#: Bumped when part files or the chunk plan change meaning (old parts are then refused).
PARTS_VERSION = 2
_MANIFEST = "manifest.json"
#: Manifest key of the completed chunks' sha256 (``{"000003": "ab12..."}``), not a run parameter.
_CHUNK_SUMS = "chunk_sha256"


def parts_dir(output) -> Path:
    """Where a run keeps its completed chunks: ``OUTPUT.parts/`` beside the output."""
    from pathlib import Path

    out = Path(output)
    return out.with_name(out.name + ".parts")


def _to_part(rows: np.ndarray, res: ChunkResult) -> np.ndarray:
    """A chunk's result as part records (``rows``: the chunk's school indices in the run)."""
    part = np.empty(len(res.partner), dtype=PART_DTYPE)
    part["school"] = np.repeat(rows, np.diff(res.starts))
    part["partner"] = res.partner
    part["score"] = res.score
    part["contrib"] = res.contrib
    part["dist"] = res.dist
    return part


class _Parts:
    """The parts folder of a run: a lock, the manifest and one file per completed chunk.

    The manifest records the run's parameters and, under ``chunk_sha256``, the
    sha256 of every completed chunk file; ``--resume`` uses only chunks whose
    file still has that sha256 (a damaged one is ranked again). A chunk's
    sha256 is recorded before its file moves into place, so every chunk file
    a killed run leaves is covered.
    """

    def __init__(self, output):
        self.dir = parts_dir(output)
        self._lock = None
        self._manifest: dict = {}
        self._sums: dict[str, str] = {}

    def __enter__(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.dir / ".lock", "a+")
        try:
            import fcntl

            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - not POSIX: no lock
            pass
        except OSError:
            from matcher.errors import MatcherError

            self._lock.close()
            raise MatcherError(f"another `matcher rank` is writing {self.dir.name[:-6]} (its parts are locked)") from None
        return self

    def __exit__(self, *exc):
        if self._lock is not None:
            self._lock.close()

    def chunk_path(self, c: int):
        return self.dir / f"chunk-{c:06d}.npy"

    def start(self, manifest: dict, resume: bool, chunks: list[np.ndarray]) -> set[int]:
        """Check or write the manifest; the chunks already done (when resuming)."""
        import json

        from matcher.errors import MatcherError

        for tmp in self.dir.glob(".*.tmp"):  # left by a killed run
            tmp.unlink(missing_ok=True)
        mpath = self.dir / _MANIFEST
        old = None
        if mpath.exists():
            try:
                old = json.loads(mpath.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                old = None
        name = self.dir.name
        if old is not None and not resume and not any(self.dir.glob("chunk-*.npy")):
            old = None  # an earlier run stopped before finishing a chunk: nothing to keep
        if old is not None and not resume:
            raise MatcherError(
                f"{name} holds the completed chunks of an interrupted run: pass --resume to continue it, "
                f"or delete {name} to start over"
            )
        if old is not None:
            sums = old.pop(_CHUNK_SUMS, None)
            diff = [k for k in sorted(set(old) | set(manifest)) if old.get(k) != manifest.get(k)]
            if diff:
                what = ", ".join(_describe(k, old.get(k), manifest.get(k)) for k in diff)
                raise MatcherError(
                    f"cannot resume: the interrupted run in {name} differs in {what}; rerun it with the same "
                    f"model, schools and options, or delete {name} to start over"
                )
            self._manifest = manifest
            self._sums = {k: v for k, v in sums.items() if isinstance(v, str)} if isinstance(sums, dict) else {}
            done = {c for c in range(len(chunks)) if self._valid(c, chunks[c])}
            self._sums = {k: v for k, v in self._sums.items() if k.isdigit() and int(k) in done}
            return done
        for f in self.dir.glob("chunk-*.npy"):  # no manifest: nothing trustworthy to resume
            f.unlink(missing_ok=True)
        self._manifest, self._sums = manifest, {}
        self._save_manifest(fsync=True)
        return set()

    def _save_manifest(self, fsync: bool = False) -> None:
        """Write the manifest with the chunk sums recorded so far (atomically)."""
        import json

        from matcher.persistence import atomic_write

        with atomic_write(self.dir / _MANIFEST, "w", fsync=fsync) as fh:
            json.dump({**self._manifest, _CHUNK_SUMS: dict(sorted(self._sums.items()))}, fh, indent=2, sort_keys=True)
            fh.write("\n")

    def _valid(self, c: int, rows: np.ndarray) -> bool:
        import hashlib

        path = self.chunk_path(c)
        if not path.exists():
            return False
        try:
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() != self._sums.get(f"{c:06d}"):
                raise ValueError("sha256 differs")  # damaged, or never recorded
            part = np.load(io.BytesIO(data), allow_pickle=False)
        except (OSError, ValueError, EOFError):
            path.unlink(missing_ok=True)
            return False
        if part.dtype != PART_DTYPE or not np.isin(part["school"], rows).all():
            path.unlink(missing_ok=True)
            return False
        return True

    def write(self, c: int, part: np.ndarray) -> None:
        import hashlib

        from matcher.persistence import atomic_write

        buf = io.BytesIO()
        np.save(buf, part, allow_pickle=False)
        data = buf.getvalue()
        # No fsync: a chunk that did not reach the disk fails its sha256 on resume and is ranked again.
        with atomic_write(self.chunk_path(c), "wb", fsync=False) as fh:
            fh.write(data)
            self._sums[f"{c:06d}"] = hashlib.sha256(data).hexdigest()
            self._save_manifest()  # before the chunk moves into place

    def read_all(self, n_chunks: int) -> np.ndarray:
        parts = [np.load(self.chunk_path(c), allow_pickle=False) for c in range(n_chunks)]
        return np.concatenate(parts) if parts else np.zeros(0, PART_DTYPE)

    def remove(self, n_chunks: int) -> None:
        for c in range(n_chunks):
            self.chunk_path(c).unlink(missing_ok=True)
        (self.dir / _MANIFEST).unlink(missing_ok=True)
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        (self.dir / ".lock").unlink(missing_ok=True)
        try:
            self.dir.rmdir()
        except OSError:  # something else was put there: leave it
            pass


def _describe(key: str, old, new) -> str:
    if key in ("model_sha256", "schools_sha256", "state_sha256", "plan_sha256"):
        return {"model_sha256": "the model", "schools_sha256": "the schools", "state_sha256": "the outreach state",
                "plan_sha256": "the chunk plan"}[key]
    return f"{key} ({old!r} then, {new!r} now)"


def _sha256_arrays(*arrays) -> str:
    import hashlib

    h = hashlib.sha256()
    for a in arrays:
        a = np.asarray(a)
        if a.dtype == object:
            for v in a:
                b = str(v).encode("utf-8")
                h.update(len(b).to_bytes(8, "little"))
                h.update(b)
        else:
            h.update(str(a.dtype).encode())
            h.update(str(a.shape).encode())
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def model_fingerprint(model) -> str:
    """sha256 of everything in a fitted model that ranking reads."""
    S, P = model.schools_, model.partners_
    import json

    meta = json.dumps({"weights": model.weights_, "geo": model.geo_length_km, "radius": model.default_radius_km,
                       "enc": model.featurizer_.encoder_info, "types": list(model.featurizer_.partner_type_slugs)},
                      sort_keys=True)
    return _sha256_arrays(
        np.array([meta], dtype=object), model.school_ids_, model.partner_ids_,
        *(getattr(S, f) for f in S.__dataclass_fields__), *(getattr(P, f) for f in P.__dataclass_fields__),
    )


def _state_digest(state) -> str | None:
    if state is None:
        return None
    import json

    blob = json.dumps(
        {
            "excluded": sorted(map(list, state.excluded)),
            "used": sorted(state.used_capacity.items()),
            "status": sorted([list(k) + [v] for k, v in state.status.items()]),
        }
    )
    return _sha256_arrays(np.array([blob], dtype=object))


# =========================================================================== the run


@dataclass
class RankSummary:
    """What :func:`rank_to_file` did."""

    output: str
    format: str
    n_schools: int
    n_rows: int
    top: int
    n_chunks: int
    chunks_resumed: int
    seconds: float
    candidates_per_school: float  # partners considered after geographic blocking (this run's chunks)
    exact_per_school: float  # pairs scored exactly (the rest were pruned by the bound)

    def text(self) -> str:
        resumed = f", {self.chunks_resumed} of {self.n_chunks} chunks from the interrupted run" if self.chunks_resumed else ""
        return (
            f"Ranked {self.n_schools:,} schools (top {self.top}) in {self.seconds:.1f} s{resumed}; "
            f"wrote {self.n_rows:,} rows to {self.output} ({self.format})."
        )


def _n_jobs(n_jobs: int | None) -> int:
    import os

    if n_jobs is None:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # pragma: no cover
            return max(1, os.cpu_count() or 1)
    if int(n_jobs) < 1:
        from matcher.errors import MatcherError

        raise MatcherError(f"n_jobs must be >= 1, got {n_jobs!r}")
    return int(n_jobs)


def _run_local(index: RankIndex, feats: SchoolFeatures, ids, chunks, todo, n_jobs: int):
    """(chunk, result) as chunks complete, ``n_jobs`` threads, BLAS pinned to one thread each."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    from threadpoolctl import threadpool_limits

    def job(c):
        rows = chunks[c]
        return index.rank(feats.take(rows), ids[rows])

    with threadpool_limits(limits=1, user_api="blas"):
        if n_jobs == 1:
            for c in todo:
                yield c, job(c)
            return
        ex = ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="matcher-rank")
        try:
            it = iter(todo)
            pending = {}
            for c in it:
                pending[ex.submit(job, c)] = c
                if len(pending) >= 2 * n_jobs:
                    break
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in sorted(done, key=pending.get):
                    c = pending.pop(fut)
                    yield c, fut.result()
                    nxt = next(it, None)
                    if nxt is not None:
                        pending[ex.submit(job, nxt)] = nxt
        finally:
            ex.shutdown(wait=True, cancel_futures=True)


_DASK_EXTRA = 'the dask backend needs the optional extra: pip install "matcher[dask]" (dask[distributed])'


def _distributed():
    try:
        import distributed
    except ImportError:
        from matcher.errors import MatcherError

        raise MatcherError(_DASK_EXTRA) from None
    return distributed


def _dask_rank(index: RankIndex, s: SchoolFeatures, keys) -> ChunkResult:
    """A Dask task: rank one chunk on a worker."""
    return index.rank(s, keys)


_BLAS_LIMIT = None


def _pin_blas() -> None:
    """On a Dask worker's process: one BLAS thread per worker thread for the run (see _unpin_blas)."""
    global _BLAS_LIMIT
    if _BLAS_LIMIT is None:
        from threadpoolctl import threadpool_limits

        _BLAS_LIMIT = threadpool_limits(limits=1, user_api="blas")


def _unpin_blas() -> None:
    global _BLAS_LIMIT
    if _BLAS_LIMIT is not None:
        _BLAS_LIMIT.restore_original_limits()
        _BLAS_LIMIT = None


@contextlib.contextmanager
def _dask_client(scheduler, n_jobs: int):
    """A Dask client: the given one, one for a scheduler address, or an in-process LocalCluster."""
    distributed = _distributed()
    if isinstance(scheduler, distributed.Client):
        yield scheduler
        return
    if scheduler in (None, "", "local"):
        with distributed.LocalCluster(n_workers=n_jobs, threads_per_worker=1, processes=False,
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            yield client
        return
    try:
        client = distributed.Client(scheduler, timeout="30s")
    except (OSError, TimeoutError) as exc:
        from matcher.errors import MatcherError

        raise MatcherError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    with client:
        yield client


def _run_dask(index: RankIndex, feats: SchoolFeatures, ids, chunks, todo, n_jobs: int, client):
    """(chunk, result) as Dask tasks complete on ``client``; the index (model included) is broadcast once."""
    distributed = _distributed()
    pending: dict = {}
    futures: dict = {}
    try:
        client.run(_pin_blas)
        idx_f = client.scatter(index, broadcast=True, hash=False)
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        window = 2 * n_workers + 2
        it = iter(todo)
        ac = distributed.as_completed()

        def submit(c):
            rows = chunks[c]
            fut = client.submit(_dask_rank, idx_f, feats.take(rows), list(ids[rows]), pure=False)
            pending[fut.key] = c
            futures[fut.key] = fut
            ac.add(fut)

        for c in it:
            submit(c)
            if len(pending) >= window:
                break
        for fut in ac:
            c = pending.pop(fut.key)
            futures.pop(fut.key, None)
            res = fut.result()
            yield c, res
            nxt = next(it, None)
            if nxt is not None:
                submit(nxt)
    finally:
        if futures:
            with contextlib.suppress(Exception):
                client.cancel(list(futures.values()))
        with contextlib.suppress(Exception):
            client.run(_unpin_blas)


def _format_of(output, fmt: str | None) -> str:
    from pathlib import Path

    from matcher.errors import MatcherError

    if fmt is None:
        suffix = Path(output).suffix.lower()
        fmt = {".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}.get(suffix, "csv")
    if fmt not in FORMATS:
        raise MatcherError(f"unknown output format {fmt!r} (formats are: {', '.join(FORMATS)})")
    if fmt == "parquet":
        _parquet_modules()
    return fmt


def rank_to_file(
    model,
    output,
    *,
    schools=None,
    top: int = 10,
    fmt: str | None = None,
    weights: Mapping[str, float] | None = None,
    include_full: bool = False,
    state=None,
    n_jobs: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    resume: bool = False,
    backend: str = "local",
    scheduler=None,
    progress=None,
) -> RankSummary:
    """Rank partners for every school and write one row per (school, rank) to ``output``.

    The rows are exactly what ``matcher recommend --school`` gives for each school
    (same partners, order and scores), sorted by school id, then rank. Columns:
    :data:`COLUMNS` -- ``school_id, rank, partner_id, score``, the weighted
    contribution of each block (``contrib_text``, ``contrib_categories``,
    ``contrib_grades``, ``contrib_geo``, ``contrib_partner_type``; they add up to
    the score) and ``distance_km`` (empty / null when a location is unknown).
    CSV and JSON Lines print scores and contributions with 6 decimals and
    distances with 2 (as ``recommend`` does); parquet keeps full precision
    (float64, as computed).

    The output appears atomically when the run completes. Completed chunks are
    kept in ``OUTPUT.parts/`` (one file per chunk, written atomically, and a
    manifest of the run's parameters, model and data digests) until then, so an
    interrupted run (Ctrl-C, kill, crash) can be continued with ``resume=True``;
    the result is byte-identical to an uninterrupted run. Resuming with another
    model, other schools, weights, top, chunk size or outreach state is refused.
    Memory grows with ``chunk_size`` and ``n_jobs``, not with schools x partners
    (the finished rows, ~50 bytes each, are gathered once at the end to sort them).

    Parameters
    ----------
    model : PartnerMatcher or str or path
        A fitted model, or a model file (loaded and checked with
        :func:`matcher.persistence.load_model`).
    output : str or path
        File to write.
    schools : str, path or DataFrame, optional
        Schools to rank (a schools.csv, see :func:`school_features`); default:
        every school the model was trained on.
    top : int, default 10
    fmt : {"csv", "jsonl", "parquet"}, optional
        Default: from the output's extension (``.jsonl``, ``.parquet``), else csv.
        Parquet needs pyarrow (``pip install 'matcher[parquet]'``).
    weights : mapping, optional
        Block weights overriding the model's.
    include_full : bool, default False
        Also suggest partners with no capacity left.
    state : matcher.state.Constraints, optional
        Outreach state, respected as ``recommend`` does.
    n_jobs : int, optional
        Worker threads (local) or Dask workers of a local cluster; default one per CPU.
    chunk_size : int, default 256
        Schools per chunk: the unit of work, memory and resumption.
    resume : bool, default False
        Continue from the completed chunks of an interrupted run.
    backend : {"local", "dask"}
        ``dask`` runs chunks as Dask tasks (``pip install 'matcher[dask]'``).
    scheduler : str or distributed.Client, optional
        For ``dask``: a scheduler address (``tcp://host:port``), a Client, or
        ``"local"``/None for an in-process cluster of ``n_jobs`` workers.
    progress : callable, optional
        Called once with the number of schools to rank; may return a function
        that is then called with the number of schools done each time a chunk
        completes (e.g. a click progress bar's ``update``).

    Returns
    -------
    RankSummary

    Raises
    ------
    MatcherError
        Bad options, missing optional dependency, a resume that does not match,
        another run writing the same output.
    """
    import time

    from matcher import __version__
    from matcher.errors import MatcherError
    from matcher.model import check_n

    t0 = time.perf_counter()
    check_n(top)
    if not isinstance(chunk_size, (int, np.integer)) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise MatcherError(f"chunk_size must be a whole number >= 1, got {chunk_size!r}")
    n_jobs = _n_jobs(n_jobs)
    fmt = _format_of(output, fmt)
    if backend not in ("local", "dask"):
        raise MatcherError(f"unknown backend {backend!r} (backends are: local, dask)")
    if backend == "dask":
        _distributed()
    with contextlib.ExitStack() as stack:
        if backend == "dask":  # one client for encoding new schools and for ranking
            scheduler = stack.enter_context(_dask_client(scheduler, n_jobs))
        if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
            from matcher.persistence import load_model, read_metadata

            model_sha = read_metadata(model)["model_sha256"]
            model = load_model(model)
        else:
            model.check_fitted()
            model_sha = model_fingerprint(model)
        scorer = model.scorer(weights)
        if schools is None:
            ids, feats = np.asarray(model.school_ids_, dtype=object), model.schools_
            schools_sha = "model"
        else:
            ids, feats = school_features(model, schools, client=scheduler if backend == "dask" else None)
            schools_sha = _sha256_arrays(ids, *(getattr(feats, f) for f in feats.__dataclass_fields__))
        chunks = plan_chunks(feats, int(chunk_size))
        manifest = {
            "parts_version": PARTS_VERSION,
            "matcher": __version__,
            "model_sha256": model_sha,
            "schools_sha256": schools_sha,
            "state_sha256": _state_digest(state),
            "plan_sha256": _sha256_arrays(np.array([len(c) for c in chunks]), *chunks),
            "weights": {k: float(v) for k, v in sorted(scorer.weights.items())},
            "settings": [scorer.geo_length_km, scorer.default_radius_km, scorer.remote_credit, scorer.local_credit,
                         scorer.relevance_gate],
            "top": int(top),
            "include_full": bool(include_full),
            "chunk_size": int(chunk_size),
            "n_schools": int(len(ids)),
            "n_chunks": len(chunks),
        }
        with _Parts(output) as parts:
            done = parts.start(manifest, resume, chunks)
            update = progress(len(ids)) if progress is not None else None
            if update is not None and done:
                update(int(sum(len(chunks[c]) for c in done)))
            todo = [c for c in range(len(chunks)) if c not in done]
            n_cand = n_exact = n_ranked = 0
            if todo:
                from threadpoolctl import threadpool_limits

                with threadpool_limits(limits=1, user_api="blas"):
                    index = RankIndex(model, scorer, int(top), include_full, state)
                if backend == "dask":
                    runner = _run_dask(index, feats, ids, chunks, todo, n_jobs, scheduler)
                else:
                    runner = _run_local(index, feats, ids, chunks, todo, n_jobs)
                try:
                    for c, res in runner:
                        parts.write(c, _to_part(chunks[c], res))
                        n_cand += res.n_candidates
                        n_exact += res.n_exact
                        n_ranked += len(chunks[c])
                        if update is not None:
                            update(len(chunks[c]))
                finally:
                    runner.close()
            rows = parts.read_all(len(chunks))
            rows = rows[np.argsort(rows["school"], kind="stable")]
            _write_output(output, fmt, rows, ids, np.asarray(model.partner_ids_, dtype=object), parts.dir)
            parts.remove(len(chunks))
        return RankSummary(
            output=str(output),
            format=fmt,
            n_schools=int(len(ids)),
            n_rows=int(len(rows)),
            top=int(top),
            n_chunks=len(chunks),
            chunks_resumed=len(done),
            seconds=time.perf_counter() - t0,
            candidates_per_school=n_cand / max(n_ranked, 1),
            exact_per_school=n_exact / max(n_ranked, 1),
        )
