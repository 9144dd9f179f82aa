"""What batch ranking returns, and the exactly scored pairs it collects on the way."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matcher.config import BLOCKS


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



def select_between(ub: np.ndarray, rows: np.ndarray, lo: np.ndarray, hi: np.ndarray, m_cols: int):
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


class ScoredPairs:
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
            return empty_result(n)
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


def empty_result(n: int) -> ChunkResult:
    return ChunkResult(
        starts=np.zeros(n + 1, np.int64),
        partner=np.zeros(0, np.int32),
        score=np.zeros(0),
        contrib=np.zeros((0, len(BLOCKS)), np.float64),
        dist=np.zeros(0),
    )


def merge_results(parts: list[tuple[np.ndarray, ChunkResult]], n: int) -> ChunkResult:
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


