"""Exact top-k over scored candidates, deterministic: ties go to the lower row (= smaller id)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from matcher.features import PartnerFeatures, SchoolFeatures

if TYPE_CHECKING:
    from matcher.scoring import Scorer
    from matcher.state import Constraints


def top_k(scores: np.ndarray, allowed: np.ndarray, k: int) -> np.ndarray:
    """Rows of the ``k`` best allowed scores, best first, ties broken by row order.

    Rows are in id order (the model sorts ids at fit), so ties are broken by id.

    Parameters
    ----------
    scores : ndarray of shape (n,)
    allowed : ndarray of bool, shape (n,)
    k : int

    Returns
    -------
    ndarray of int
        At most ``k`` row numbers; fewer when fewer are allowed.

    Examples
    --------
    >>> top_k(np.array([0.2, 0.9, 0.9, 0.5]), np.array([True, True, True, False]), 2)
    array([1, 2])
    """
    cand = np.flatnonzero(allowed)
    if len(cand) > k:
        s = scores[cand]
        kth = -np.partition(-s, k - 1)[k - 1]
        cand = cand[s >= kth]  # keeps every tie at the boundary
    order = np.lexsort((cand, -scores[cand]))[:k]
    return cand[order]


def state_mask(
    partner_index: Mapping[str, int],
    capacity: np.ndarray,
    school_ids: Sequence[str | None],
    state: Constraints | None,
    include_full: bool = False,
) -> np.ndarray | None:
    """Pairs (schools x partners) that outreach state allows, or None when there is no state.

    Excluded pairs (do-not-contact, declined within the cooldown, current
    partners unless included) are out; each current partnership uses one unit
    of its partner's capacity, except for the pair itself when current
    partners are shown.
    """
    if state is None:
        return None
    left = capacity.copy()
    for pid, used in state.used_capacity.items():
        if pid in partner_index:
            left[partner_index[pid]] -= used
    ok = np.repeat((left > 0 if not include_full else np.ones(len(left), bool))[None, :], len(school_ids), axis=0)
    for row, sid in enumerate(school_ids):
        if sid is None:
            continue
        for p_id, status in state.pairs_of_school(sid):
            col = partner_index.get(p_id)
            if col is None:
                continue
            if (sid, p_id) in state.excluded:
                ok[row, col] = False
            elif status == "partnered":  # a current partner shown as such keeps its place
                ok[row, col] = True
    return ok


def rank_chunk(
    scorer: Scorer,
    s: SchoolFeatures,
    p: PartnerFeatures,
    k: int,
    include_full: bool = False,
    mask: np.ndarray | None = None,
) -> list[tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]]:
    """Top-``k`` partners for every school of a chunk: the one ranking path behind recommend and evaluate.

    Parameters
    ----------
    scorer : Scorer
    s : SchoolFeatures
        The chunk's schools (known rows or ad-hoc needs).
    p : PartnerFeatures
        Every partner.
    k : int
    include_full : bool
        Also rank partners with no capacity left.
    mask : ndarray of bool (schools x partners), optional
        Further pairs to leave out (outreach state: see :func:`state_mask`).

    Returns
    -------
    list of (cols, scores, contributions, distances)
        Per school: partner rows best first, their scores, a block -> contributions
        mapping and distances (NaN when unknown), each an array of length <= k.
    """
    # Score only the partners some school of the chunk may have (the hard constraints are cheap, the blocks
    # are not): at 100k partners a school's service areas and grades leave a fraction. Every pair's score is
    # the same either way (per pair, on exact quantized products), and rows stay in id order.
    feasible = scorer.allowed(s, p, include_full)
    if mask is not None:
        feasible &= mask
    keep = np.flatnonzero(feasible.any(axis=0))
    subset = 2 * len(keep) < len(p)
    if subset:
        p, feasible = p.take(keep), feasible[:, keep]
    score, contrib, dist, _ = scorer.score_matrix(s, p, include_full)
    out = []
    for r in range(len(s)):
        cols = top_k(score[r], feasible[r], k)
        out.append((keep[cols] if subset else cols, score[r, cols], {b: c[r, cols] for b, c in contrib.items()},
                    dist[r, cols]))
    return out
