"""The upper bound on scores that lets batch ranking skip most pairs: partner tables and the tiled bound.

The text similarity of a pair is ``½(q·w + max_j q·s_j)`` (``w`` the partner's
whole text, ``s_j`` its sentences; one-sentence texts have none and score
``q·w``), which is ``max_j q·m_j`` with one *text row* ``m_j = ½(w + s_j)`` per
sentence (or ``m = w``). Each row is bounded through a fixed orthonormal basis
``V`` of the top ``text_rank`` principal directions of the texts:
``q·m = (V'q)·(V'm) + q_r·m_r <= (V'q)·(V'm) + |q_r| |m_r|`` (Cauchy-Schwarz
on the residuals). Categories, grades and partner type enter exactly (they
are bilinear in one-hot and strength vectors), geography through a bound per
anchor point of the chunk. See :mod:`matcher.batch.index` for how the bound
is used.

Candidates are laid out in *segments* (the partners every chunk sees, then a
chunk's local partners), each sorted by a key: one-sentence texts first, then
texts with more sentences before fewer, and within that by partner class (which
blocks are known, so the score's denominator is one number per school). The
``j``-th text rows of a segment's multi-sentence candidates then form a prefix,
so the maximum over rows is a few elementwise maxima over prefixes. The bound
is computed in tiles of columns small enough to stay in the CPU cache, so its
dozen elementwise steps cost little next to the matrix products.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matcher.features import POPCOUNT, PartnerFeatures, SchoolFeatures

#: Dimensions of the text subspace used by the score bound (more: tighter bound, dearer).
TEXT_RANK = 192
#: Partner classes by which blocks are known (grades given, type given, location known).
N_CLASSES = 8
#: Grade bits (PK, K, 1..12).
N_GRADES = 14
#: Candidate columns per tile of the bound (three float32 tiles of 256 schools stay in cache).
TILE = 256


@dataclass
class Segment:
    """Candidates in bound order with their partner-side rows."""

    cols: np.ndarray  # (m,) model partner rows
    edges: np.ndarray  # (n_keys + 1,) start of each key's range
    n_single: int  # one-sentence candidates come first
    single_rows: np.ndarray  # (n_single, r + 2) text rows
    slots: list[np.ndarray]  # slot j: (len_j, r + 2) the j-th text rows of the first len_j multi-sentence ones
    side_cat: np.ndarray  # (m, C + 1) category strengths, -category hub offset
    side_other: np.ndarray  # (m, grades + types) grade bits, partner type one-hot
    remote: np.ndarray  # (m,) 1.0 for remote partners with a location


@dataclass
class SchoolSide:
    """School side of the bound for a group of schools."""

    text: np.ndarray  # (n, r + 2) a_text [V'q, |q_r|, 1]
    cat: np.ndarray  # (n, C + 1)
    other: np.ndarray  # (n, grades + types)
    geo: np.ndarray  # (n, anchors + 1) a_geo on the school's anchor, remote credit last
    gate: np.ndarray  # (n,) 1 / (relevance weight x gate), -1 when relevance has no weight
    inv: np.ndarray  # (n, N_CLASSES) 1 / denominator per partner class


class BoundTables:
    """Partner-side tables of the bound, built once per model.

    Parameters
    ----------
    P : PartnerFeatures
    school_text : ndarray
        The schools' text vectors (with the partners', they fit the basis).
    text_rank : int
        Dimensions of the exact part of the text bound.
    n_types : int
        Number of partner types.
    """

    def __init__(self, P: PartnerFeatures, school_text: np.ndarray, text_rank: int, n_types: int):
        m, d = P.text.shape
        self.text_rank = r = int(min(max(text_rank, 0), d))
        self.V = _basis(P.text, school_text, r)
        self.n_cat, self.n_types = P.categories.shape[1], n_types
        # text rows: partner p's rows are rows[start[p] : start[p] + count[p]]
        self.count = np.maximum(P.sentence_count, 1).astype(np.int64)
        self.start = np.cumsum(self.count) - self.count
        multi = P.sentence_count > 0
        owner = np.repeat(np.arange(m), self.count)
        offset = np.arange(len(owner)) - self.start[owner]
        sentence = np.where(multi[owner], P.sentence_start[owner] + offset, -1)
        self.rows = np.empty((len(owner), r + 2), dtype=np.float32)
        for lo in range(0, len(owner), 8192):
            hi = min(lo + 8192, len(owner))
            o, sen = owner[lo:hi], sentence[lo:hi]
            x = P.text[o].copy()
            has = sen >= 0
            x[has] = 0.5 * (x[has] + P.sentences[sen[has]])
            self.rows[lo:hi, :r], self.rows[lo:hi, r] = self.project(x)
            self.rows[lo:hi, r + 1] = 1e-6 - P.text_offset[o]  # a hair generous: the bound stays above the score
        self.side_cat = np.empty((m, self.n_cat + 1), dtype=np.float32)
        self.side_cat[:, : self.n_cat] = P.categories
        self.side_cat[:, self.n_cat] = 1e-6 - P.category_offset
        self.side_other = np.zeros((m, N_GRADES + n_types), dtype=np.float32)
        self.side_other[:, :N_GRADES] = (P.grades[:, None] >> np.arange(N_GRADES)[None, :]) & 1
        typed = np.flatnonzero(P.type_code >= 0)
        self.side_other[typed, N_GRADES + P.type_code[typed]] = 1.0
        located = ~(np.isnan(P.lat) | np.isnan(P.lon))
        self.remote = (P.remote & located).astype(np.float32)
        # class: bit 0 grades given, bit 1 type given, bit 2 location known
        self.p_class = ((P.grades != 0) + 2 * (P.type_code >= 0) + 4 * located).astype(np.int64)
        most = int(self.count.max()) if m else 1
        self.key = np.where(multi, N_CLASSES * (1 + most - self.count), 0) + self.p_class
        self.n_keys = N_CLASSES * (most + 1)
        self.key_class = np.arange(self.n_keys) % N_CLASSES

    def project(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates of rows in the basis and their residual norms, rounded up.

        float32: the residual norms are rounded up by far more than their error
        (~1e-6), and the bound's margin covers the rest.
        """
        c = x @ self.V
        res = x - c @ self.V.T
        return c, np.sqrt(np.einsum("ij,ij->i", res, res)) * (1 + 1e-4) + 1e-5

    def segment(self, cols: np.ndarray) -> Segment:
        """The candidates ``cols`` in bound order, with their rows gathered."""
        key = self.key[cols]
        order = np.argsort(key, kind="stable")
        cols, key = cols[order], key[order]
        edges = np.searchsorted(key, np.arange(self.n_keys + 1))
        n_single = int(edges[N_CLASSES])
        multi = cols[n_single:]
        counts = self.count[multi]  # descending
        slots = []
        for j in range(int(counts[0]) if len(counts) else 0):
            n_j = int(np.searchsorted(-counts, -(j + 1), side="right"))
            slots.append(self.rows[self.start[multi[:n_j]] + j])
        return Segment(cols=cols, edges=edges, n_single=n_single, single_rows=self.rows[self.start[cols[:n_single]]],
                       slots=slots, side_cat=self.side_cat[cols], side_other=self.side_other[cols],
                       remote=self.remote[cols])

    def school_side(self, s: SchoolFeatures, weights: dict[str, float], anchor: np.ndarray, n_anchors: int,
                    is_known: bool, remote_credit: float, relevance_gate: float) -> SchoolSide:
        """The school side of the bound for schools ``s`` (``anchor``: each one's anchor point)."""
        a, r, n = weights, self.text_rank, len(s)
        text = np.empty((n, r + 2), dtype=np.float32)
        text[:, :r], text[:, r] = self.project(s.text)
        text[:, r + 1] = 1.0
        text *= a["text"]
        need_total = s.weights.sum(axis=1, dtype=np.float64)
        has_need = need_total > 0
        cat = np.zeros((n, self.n_cat + 1), dtype=np.float32)
        cat[has_need, : self.n_cat] = (a["categories"] / need_total[has_need])[:, None] * s.weights[has_need]
        cat[has_need, self.n_cat] = a["categories"]
        other = np.zeros((n, N_GRADES + self.n_types), dtype=np.float32)
        g_known = s.grades != 0
        own = POPCOUNT[s.grades].astype(np.float64)
        bits = (s.grades[:, None] >> np.arange(N_GRADES)[None, :]) & 1
        other[g_known, :N_GRADES] = (a["grades"] / own[g_known])[:, None] * bits[g_known]
        pref = s.preferred_types != 0
        tbits = (s.preferred_types[:, None] >> np.arange(self.n_types)[None, :]) & 1
        other[pref, N_GRADES:] = a["partner_type"] * tbits[pref]
        geo = np.zeros((n, n_anchors + 1), dtype=np.float32)
        if is_known:
            geo[np.arange(n), anchor] = a["geo"]
            geo[:, n_anchors] = a["geo"] * remote_credit * (1.0 - s.in_person)
        rel_weight = a["text"] + a["categories"] * has_need
        with np.errstate(divide="ignore"):
            gate = np.where(rel_weight > 0, 1.0 / (rel_weight * relevance_gate), -1.0)
        cls = np.arange(N_CLASSES)
        pg, pt, pl = (cls & 1) > 0, (cls & 2) > 0, (cls & 4) > 0
        denom = (rel_weight[:, None] + a["grades"] * (g_known[:, None] & pg[None, :])
                 + a["geo"] * (is_known & pl[None, :]) + a["partner_type"] * (pref[:, None] & pt[None, :]))
        inv = np.where(denom > 0, 1.0 / np.where(denom > 0, denom, 1.0), 0.0) * (1 + 1e-6)
        return SchoolSide(text=text, cat=cat, other=other, geo=geo, gate=gate.astype(np.float32),
                          inv=inv.astype(np.float32))

    def bound(self, seg: Segment, geo: np.ndarray, ss: SchoolSide, geo_base: float, out: np.ndarray,
              scratch: np.ndarray) -> None:
        """Upper bounds of ``ss``'s schools against ``seg``'s candidates, into ``out`` (n, m).

        Mirrors :meth:`matcher.scoring.Scorer.combine` with every part bounded from
        above: the text part less the hub offset and the category part likewise
        (each clipped at 0), the logistics gated by the bound on relevance, geography
        whose base (``geo_base``, weighted) counts in full and whose closeness is gated,
        all over the pair's denominator. ``geo`` is (m, anchors + 1): the weighted geo
        bound of each candidate per anchor, and the remote flag. ``scratch`` holds at
        least ``3 * n * TILE`` float32.
        """
        n, m = len(ss.text), len(seg.cols)
        open_rows = np.flatnonzero(ss.gate < 0)
        size = n * TILE
        for lo, hi in _tiles(seg.n_single, m):
            w = hi - lo
            t = scratch[:n * w].reshape(n, w)
            part = scratch[size : size + n * w].reshape(n, w)
            q = scratch[2 * size : 2 * size + n * w].reshape(n, w)
            if hi <= seg.n_single:
                np.matmul(ss.text, seg.single_rows[lo:hi].T, out=t)
            else:
                a, b = lo - seg.n_single, hi - seg.n_single
                np.matmul(ss.text, seg.slots[0][a:b].T, out=t)
                for rows in seg.slots[1:]:
                    e = min(b, len(rows))
                    if e <= a:
                        break
                    more = scratch[size : size + n * (e - a)].reshape(n, e - a)
                    np.matmul(ss.text, rows[a:e].T, out=more)
                    np.maximum(t[:, : e - a], more, out=t[:, : e - a])
            np.maximum(t, 0.0, out=t)
            np.matmul(ss.cat, seg.side_cat[lo:hi].T, out=part)
            np.maximum(part, 0.0, out=part)
            np.add(t, part, out=t)  # relevance
            np.multiply(t, ss.gate[:, None], out=q)  # the gate q = min(1, relevance / gate)^2
            np.minimum(q, 1.0, out=q)
            if len(open_rows):
                q[open_rows] = 1.0
            np.multiply(q, q, out=q)
            np.matmul(ss.other, seg.side_other[lo:hi].T, out=part)  # grades, type: gated
            np.multiply(part, q, out=part)
            np.add(t, part, out=t)
            # geography G: its base counts in full, closeness is gated:
            # min(G, base) + q max(G - base, 0) = G - (1 - q) max(G - base, 0)
            np.matmul(ss.geo, geo[lo:hi].T, out=part)
            np.add(t, part, out=t)
            np.subtract(part, geo_base, out=part)
            np.maximum(part, 0.0, out=part)
            np.subtract(1.0, q, out=q)
            np.multiply(part, q, out=part)
            np.subtract(t, part, out=t)
            keys = np.flatnonzero((seg.edges[:-1] < hi) & (seg.edges[1:] > lo))
            for key in keys:
                x, y = max(seg.edges[key], lo), min(seg.edges[key + 1], hi)
                np.multiply(t[:, x - lo : y - lo], ss.inv[:, self.key_class[key], None], out=out[:, x:y])


def _tiles(n_single: int, m: int):
    """Column ranges of at most TILE, none straddling the one-sentence / multi-sentence boundary."""
    for start, stop in ((0, n_single), (n_single, m)):
        for lo in range(start, stop, TILE):
            yield lo, min(lo + TILE, stop)


def _basis(partner_text: np.ndarray, school_text: np.ndarray, r: int) -> np.ndarray:
    """(d, r) orthonormal: top principal directions (uncentred) of the texts.

    Any orthonormal basis keeps the bound valid; this one keeps it tight. It is
    fitted on an evenly spread sample of rows (deterministic).
    """
    d = partner_text.shape[1]
    if r == 0:
        return np.zeros((d, 0), dtype=np.float32)
    if r >= d:
        return np.eye(d, dtype=np.float32)
    cov = np.zeros((d, d))
    for X in (partner_text, school_text):
        x = X[:: max(1, len(X) // 20_000)]
        cov += (x.T @ x).astype(np.float64) / max(len(x), 1)
    vals, vecs = np.linalg.eigh(cov)
    return np.ascontiguousarray(vecs[:, np.argsort(-vals, kind="stable")[:r]], dtype=np.float32)
