"""Exact top-k over scored candidates, deterministic: ties go to the lower row (= smaller id)."""
from __future__ import annotations

import threading
import weakref
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


#: Fewest remote partners worth their own copy: below it, gathering them costs less than scoring twice
#: (measured: 1,000 of 10,000 break even, 10,000 of 100,000 rank 1.7 times faster).
REMOTE_COPY_MIN = 2000
#: Contiguous copies of remote partners, one per partner set (see :func:`remote_partners`).
_REMOTE: weakref.WeakKeyDictionary[PartnerFeatures, tuple[np.ndarray, PartnerFeatures]] = weakref.WeakKeyDictionary()
_REMOTE_LOCK = threading.Lock()


def remote_partners(p: PartnerFeatures) -> tuple[np.ndarray, PartnerFeatures]:
    """The rows of ``p``'s remote partners and their features in one contiguous copy (made once per ``p``).

    Remote partners are in reach of every school, so at state scale they
    are most of any school's feasible partners. Gathering their rows (and
    sentences) out of the whole catalogue for every request costs several
    times more than scoring them from a copy of their own: 17 vs 2.4 ms for
    10,000 remote partners of 100,000 on this kind of machine.
    """
    with _REMOTE_LOCK:
        found = _REMOTE.get(p)
    if found is None:
        rows = np.flatnonzero(p.remote)
        found = (rows, p.compact(rows))
        with _REMOTE_LOCK:
            found = _REMOTE.setdefault(p, found)
    return found


def carry_remote_partners(old: PartnerFeatures, new: PartnerFeatures, moved: np.ndarray) -> None:
    """Let ``new`` use ``old``'s remote copy (if it has one made): for a change that left every remote
    partner as it was, whose row ``r`` of ``old`` is row ``moved[r]`` of ``new``."""
    with _REMOTE_LOCK:
        found = _REMOTE.get(old)
        if found is not None:
            _REMOTE[new] = (moved[found[0]], found[1])


def _score_subset(scorer: Scorer, s: SchoolFeatures, p: PartnerFeatures, keep: np.ndarray, include_full: bool):
    """Scores of partners ``keep`` (and, when they have their own copy, every remote partner): (rows, score,
    contributions, distances), rows ascending."""
    if np.count_nonzero(p.remote) < REMOTE_COPY_MIN:
        score, contrib, dist, _ = scorer.score_matrix(s, p.take(keep), include_full)
        return keep, score, contrib, dist
    # Remote partners are in reach of every school: most of a school's feasible partners at state scale.
    # They are scored from their own contiguous copy; only the local ones are gathered.
    remote_rows, remote = remote_partners(p)
    local = keep[~p.remote[keep]]
    parts = [scorer.score_matrix(s, remote, include_full), scorer.score_matrix(s, p.take(local), include_full)]
    rows = np.concatenate([remote_rows, local])
    order = np.argsort(rows, kind="stable")
    score, dist = (np.concatenate([part[i] for part in parts], axis=1)[:, order] for i in (0, 2))
    contrib = {b: np.concatenate([part[1][b] for part in parts], axis=1)[:, order] for b in parts[0][1]}
    return rows[order], score, contrib, dist


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
        keep, score, contrib, dist = _score_subset(scorer, s, p, keep, include_full)
        feasible = feasible[:, keep]
    else:
        score, contrib, dist, _ = scorer.score_matrix(s, p, include_full)
    out = []
    for r in range(len(s)):
        cols = top_k(score[r], feasible[r], k)
        out.append((keep[cols] if subset else cols, score[r, cols], {b: c[r, cols] for b, c in contrib.items()},
                    dist[r, cols]))
    return out
