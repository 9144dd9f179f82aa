"""Capacity-aware assignment: choose school-partner pairs that maximise the total score.

Ranking gives every school its own best partners; when many schools like the
same partner, "everyone takes their top pick" overloads it. :func:`assign`
picks, from candidate pairs that already pass the hard constraints, the set of
pairs with the largest total score such that

* each partner takes at most ``capacity`` schools (``inf`` = no limit),
* each school gets at most ``per_school`` partners,
* each pair is used at most once.

This is a bipartite b-matching. Two solvers:

``exact-lp``
    The b-matching polytope is integral (its constraint matrix is the
    incidence matrix of a bipartite graph, which is totally unimodular), so the
    LP relaxation solved by HiGHS dual simplex returns a 0/1 vertex that is an
    optimal assignment. Used when there are at most ``exact_max_pairs``
    candidate pairs.
``greedy-regret``
    A heuristic for larger problems: repeatedly serve the school that would
    lose the most by not getting its best remaining option now (regret), and
    keep the better of that and plain best-pair-first greedy (see
    :func:`assign`). Near-linear time, no optimality guarantee; measured gaps
    in ``scripts/bench_assign.py``.

Equity: with ``equity_weight = W > 0`` every pair's score is boosted by its
school's share of students on free or reduced-price lunch,
``boosted = score * (1 + W * frl_pct / 100)``, and the boosted score is
maximised, so in a contest for a scarce partner high-need schools win.
"""
from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import linprog

from matcher.errors import MatcherError

__all__ = ["Assignment", "AssignError", "assign", "METHODS"]

#: Accepted values of ``assign(method=...)``.
METHODS = ("auto", "exact", "greedy")

#: Tie-break bonus of the exact solver, relative to the largest objective value:
#: pair number r (of n, in (school_id, partner_id) order) gets
#: ``TIE_BREAK * max_score * (n - r) / n`` added to its score. Small enough that
#: the solution is optimal for the true scores to within
#: ``TIE_BREAK * max_score * pairs chosen`` (reported totals use the true scores).
TIE_BREAK = 1e-7

#: HiGHS feasibility tolerances (default 1e-7): tighter, so that tie-break bonus
#: differences of small problems are resolved; measured to cost no time.
_LP_TOLERANCE = 1e-9

_MAX_PROBLEMS = 5  # input problems listed in one error message


class AssignError(MatcherError):
    """Bad input to :func:`assign`: a malformed candidate table, capacity or parameter."""


@dataclass
class Assignment:
    """The chosen pairs and how they compare with "everyone takes their top pick".

    Attributes
    ----------
    pairs : DataFrame
        Columns ``school_id``, ``partner_id``, ``score`` and, when
        ``equity_weight > 0``, ``boosted_score`` (:func:`assign_from_model` adds
        ``school_name`` after ``school_id`` and ``partner_name`` after
        ``partner_id``); sorted by ``school_id``, then descending ``score``, then
        ``partner_id``; index 0..n-1. Scores are as computed, not rounded.
    method : str
        Solver used: ``"exact-lp"`` or ``"greedy-regret"``.
    total_score : float
        Sum of the objective over the chosen pairs (boosted scores if
        ``equity_weight > 0``, else scores).
    schools_served : int
        Schools with at least one partner.
    partners_used : int
        Partners with at least one school.
    naive_over_capacity : int
        If every school took its single best candidate regardless of capacity:
        the number of schools above some partner's capacity,
        ``sum over partners of max(0, takers - capacity)``.
    naive_total : float
        The objective total of that naive top-1 choice (infeasible when
        ``naive_over_capacity > 0``).
    schools_without_candidates : int
        Schools that no partner with capacity left may serve (set by
        :func:`assign_from_model`; :func:`assign` sees only schools with candidates).
    """

    pairs: pd.DataFrame
    method: str
    total_score: float
    schools_served: int
    partners_used: int
    naive_over_capacity: int
    naive_total: float
    schools_without_candidates: int = 0

    def text(self, n_schools: int, per_school: int, candidates: int, output: str) -> str:
        """What was assigned, in plain words, for ``matcher assign`` (``n_schools`` asked about, written to ``output``).

        Examples
        --------
        >>> cands = pd.DataFrame({"school_id": ["A", "A", "B"], "partner_id": ["X", "Y", "X"], "score": [0.9, 0.8, 0.7]})
        >>> print(assign(cands, {"X": 1, "Y": 1}).text(2, 1, 20, "out.csv"))
        Assigned 2 pairs (one partner per school, exact-lp method); written to out.csv.
        2 of 2 schools got a partner, from 2 partners, none beyond its capacity; total score 1.500.
        Had every school simply taken its top partner, 1 school would not have fit: that partner would already have been full.
        """
        def many(n: int, word: str) -> str:
            return f"{n:,} {word}{'' if n == 1 else 's'}"

        def it(n: int, one: str, more: str) -> str:
            return one if n == 1 else more

        each = "one partner per school" if per_school == 1 else f"up to {per_school} partners per school"
        boosted = "boosted " if "boosted_score" in self.pairs.columns else ""
        lines = [f"Assigned {many(len(self.pairs), 'pair')} ({each}, {self.method} method); written to {output}.",
                 (f"{self.schools_served:,} of {many(n_schools, 'school')} got a partner, from "
                  f"{many(self.partners_used, 'partner')}, none beyond its capacity; total {boosted}score "
                  f"{self.total_score:.3f}.")]
        alone = self.schools_without_candidates
        crowded = n_schools - self.schools_served - alone
        if crowded:
            lines.append(f"{many(crowded, 'school')} got none: the partners that can serve {it(crowded, 'it', 'them')} "
                         f"(of {it(crowded, 'its', 'their')} {candidates} best-ranked) were full with other schools.")
        if alone:
            lines.append(f"{many(alone, 'school')} got none: no partner with room left can serve "
                         f"{it(alone, 'it', 'them')} (grades, service area or outreach state).")
        if self.naive_over_capacity:
            lines.append(f"Had every school simply taken its top partner, {many(self.naive_over_capacity, 'school')} "
                         "would not have fit: that partner would already have been full.")
        else:
            lines.append("Every school could simply have taken its top partner: none would have been full.")
        return "\n".join(lines)


def assign(
    candidates: pd.DataFrame,
    capacity: Mapping[str, float],
    per_school: int = 1,
    equity_weight: float = 0.0,
    frl_pct: Mapping[str, float] | None = None,
    method: str = "auto",
    exact_max_pairs: int = 2_000_000,
) -> Assignment:
    """Choose school-partner pairs maximising the total score within capacities.

    Parameters
    ----------
    candidates : DataFrame
        Columns ``school_id``, ``partner_id``, ``score`` (finite, >= 0); one
        row per feasible pair, each pair at most once. Other columns are ignored.
    capacity : mapping of partner id to number
        How many schools each partner can take: a whole number >= 0, or
        ``inf`` / NaN / None for no limit. Every partner in ``candidates``
        must be present.
    per_school : int, default 1
        Most partners a school gets.
    equity_weight : float, default 0
        ``W >= 0``; when positive the objective is
        ``score * (1 + W * frl_pct / 100)`` (no boost where frl_pct is unknown).
    frl_pct : mapping of school id to percent, optional
        Share of students on free or reduced-price lunch, 0-100, NaN =
        unknown; schools not in it count as unknown. Required when
        ``equity_weight > 0``.
    method : {"auto", "exact", "greedy"}, default "auto"
        ``"exact"`` solves the LP (see module docstring); ``"greedy"`` runs the
        regret heuristic; ``"auto"`` is exact when there are at most
        ``exact_max_pairs`` candidate rows, else greedy.
    exact_max_pairs : int, default 2_000_000
        Size limit of ``"auto"``. Measured (``scripts/bench_assign.py``,
        top-20 candidates): exact takes ~2 s CPU at 200k pairs, ~16 s and
        ~1 GB at 1M, ~45 s and ~1.6 GB at 2M; greedy ~6 s and little memory
        at 2M.

    Returns
    -------
    Assignment

    Raises
    ------
    AssignError
        Missing columns, bad or duplicate rows, unknown or bad capacities,
        bad parameters.

    Notes
    -----
    Determinism: the input is put in (school_id, partner_id) order before
    solving, so the same set of candidate rows, in any order, gives the same
    pairs. Ties go to the lower (school_id, partner_id):

    * exact: each pair gets a bonus ``TIE_BREAK * max_score * (n - r) / n``
      where r is its rank in (school_id, partner_id) order. The bonus also
      means that, among equally good solutions, one with more pairs is
      preferred (zero-score pairs are taken when they cost nothing). This
      is a preference, not a strict rule: solutions with equal scores and
      equal rank sums, and (in problems of many thousand pairs) bonus
      differences below the solver's tolerance, are settled by the solver's
      deterministic pivoting.
    * greedy: every comparison ends with (school_id, partner_id) order.

    Greedy with regret: each school's remaining options are its candidates
    whose partners still have capacity, best first. With ``r`` slots left and
    option values ``v1 >= v2 >= ...``, its *regret* is ``v1 - v(r+1)`` (0 if
    there is no ``(r+1)``-th option): what it loses if its best partner fills
    up before it is served. A heap holds every school keyed by (largest
    regret, then best value, then school id); the top school takes its best
    option; when a partner fills, only the schools that have it among their
    first ``r+1`` remaining options are re-keyed (lazy updates, stale heap
    entries are skipped by a version number). Regret shines when partners
    have room for most schools but misjudges scarcity (it serves a school
    whose only option is poor before one that would use the slot better), so
    the same pass is also run in plain score order (best pair first) and the
    better total is returned (on some instances with capacity far below
    demand the plain pass is several percent better). Both run in
    O(pairs log pairs) and have no optimality guarantee; measured gaps are
    in ``scripts/bench_assign.py``.

    Examples
    --------
    >>> cands = pd.DataFrame({"school_id": ["A", "A", "B"],
    ...                       "partner_id": ["X", "Y", "X"],
    ...                       "score": [0.9, 0.8, 0.7]})
    >>> result = assign(cands, {"X": 1, "Y": 1})
    >>> result.pairs.values.tolist()
    [['A', 'Y', 0.8], ['B', 'X', 0.7]]
    >>> result.method, result.total_score, result.naive_over_capacity
    ('exact-lp', 1.5, 1)
    """
    if method not in METHODS:
        raise AssignError(f"unknown assignment method {method!r}; use one of {', '.join(METHODS)}")
    per_school = _whole_number("per_school", per_school, minimum=1)
    exact_max_pairs = _whole_number("exact_max_pairs", exact_max_pairs, minimum=0)
    try:
        w = float(equity_weight)
    except (TypeError, ValueError):
        raise AssignError(f"equity_weight must be a number, not {equity_weight!r}") from None
    if not (w >= 0 and math.isfinite(w)):
        raise AssignError(f"equity_weight must be a finite number >= 0, not {equity_weight!r}")
    if w > 0 and frl_pct is None:
        raise AssignError("equity_weight > 0 needs each school's frl_pct")

    school, partner, school_ids, partner_ids, score = _read_candidates(candidates)
    cap = _read_capacity(capacity, partner_ids)
    objective = score
    if w > 0:
        frl = _read_frl(frl_pct or {}, school_ids)
        objective = score * (1.0 + w * np.nan_to_num(frl, nan=0.0)[school] / 100.0)

    naive_over, naive_total = _naive(school, partner, objective, cap)

    use_exact = method == "exact" or (method == "auto" and len(score) <= exact_max_pairs)
    usable = np.flatnonzero(cap[partner] > 0)  # capacity-0 partners can never be chosen
    solve = _solve_exact if use_exact else _solve_greedy
    chosen = usable[solve(school[usable], partner[usable], objective[usable], cap,
                          per_school, len(school_ids))]
    _check(school[chosen], partner[chosen], cap, per_school)

    pairs = pd.DataFrame({"school_id": school_ids[school[chosen]],
                          "partner_id": partner_ids[partner[chosen]],
                          "score": score[chosen]})
    if w > 0:
        pairs["boosted_score"] = objective[chosen]
    # school_id, partner_id codes are ranks in sorted order, so sorting codes sorts ids
    order = np.lexsort((partner[chosen], -score[chosen], school[chosen]))
    pairs = pairs.iloc[order].reset_index(drop=True)
    return Assignment(
        pairs=pairs,
        method="exact-lp" if use_exact else "greedy-regret",
        total_score=float(objective[chosen].sum()),
        schools_served=int(len(np.unique(school[chosen]))),
        partners_used=int(len(np.unique(partner[chosen]))),
        naive_over_capacity=naive_over,
        naive_total=naive_total,
    )


# ----------------------------------------------------------------------------- inputs


def _whole_number(name: str, value: object, minimum: int) -> int:
    """``value`` as an int >= minimum, or an AssignError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise AssignError(f"{name} must be a whole number >= {minimum}, not {value!r}")
    return int(value)


def _problems(what: str, items: list[str]) -> AssignError:
    """One error listing the first few of ``items``."""
    more = f" (and {len(items) - _MAX_PROBLEMS} more)" if len(items) > _MAX_PROBLEMS else ""
    return AssignError(f"{what}: " + "; ".join(items[:_MAX_PROBLEMS]) + more)


def _read_candidates(candidates: pd.DataFrame):
    """Validated (school codes, partner codes, school ids, partner ids, scores); codes follow sorted ids."""
    if not isinstance(candidates, pd.DataFrame):
        raise AssignError(f"candidates must be a table (DataFrame), not {type(candidates).__name__}")
    missing = [c for c in ("school_id", "partner_id", "score") if c not in candidates.columns]
    if missing:
        raise AssignError("candidates: missing column(s) " + ", ".join(missing))
    labels = candidates.index
    score = pd.to_numeric(candidates["score"], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~(np.isfinite(score) & (score >= 0)))
    if len(bad):
        raw = candidates["score"].to_numpy()
        raise _problems("candidates", [f"row {labels[i]!r}: score {raw[i]!r} is not a finite number >= 0"
                                       for i in bad])
    ids = {}
    for col in ("school_id", "partner_id"):
        values = candidates[col].to_numpy()
        nulls = np.flatnonzero(pd.isna(values))
        if len(nulls):
            raise _problems("candidates", [f"row {labels[i]!r}: {col} is missing" for i in nulls])
        try:
            ids[col] = pd.factorize(values, sort=True)  # codes are ranks in id order
        except TypeError:
            raise AssignError(f"candidates: {col} mixes types that cannot be ordered") from None
    (school, school_ids), (partner, partner_ids) = ids["school_id"], ids["partner_id"]
    school, partner = school.astype(np.int64), partner.astype(np.int64)
    key = school * max(len(partner_ids), 1) + partner
    dup = pd.Series(key).duplicated(keep="first").to_numpy()
    if dup.any():
        raise _problems("candidates", [f"row {labels[i]!r}: pair ({school_ids[school[i]]!r}, "
                                       f"{partner_ids[partner[i]]!r}) appears more than once"
                                       for i in np.flatnonzero(dup)])
    # canonical (school, partner) order, so the solvers see the same problem however rows are shuffled
    order = np.argsort(key, kind="stable")
    return (school[order], partner[order], np.asarray(school_ids, dtype=object),
            np.asarray(partner_ids, dtype=object), score[order])


def _read_capacity(capacity: Mapping[str, float], partner_ids: np.ndarray) -> np.ndarray:
    """Capacity of each partner code as float64 (inf = no limit)."""
    if not isinstance(capacity, (Mapping, pd.Series)):
        raise AssignError(f"capacity must map partner ids to numbers, not {type(capacity).__name__}")
    problems, out = [], np.empty(len(partner_ids), dtype=np.float64)
    for j, pid in enumerate(partner_ids):
        if pid not in capacity:
            problems.append(f"partner {pid!r} has no capacity")
            continue
        v = capacity[pid]
        try:
            v = math.inf if v is None or pd.isna(v) else float(v)
        except (TypeError, ValueError):
            problems.append(f"partner {pid!r}: capacity {v!r} is not a number")
            continue
        if not (v >= 0 and (v == math.inf or v == int(v))):
            problems.append(f"partner {pid!r}: capacity {v!r} is not a whole number >= 0")
        out[j] = v
    if problems:
        raise _problems("capacity", problems)
    return out


def _read_frl(frl_pct: Mapping[str, float], school_ids: np.ndarray) -> np.ndarray:
    """frl_pct of each school code (NaN = unknown)."""
    if not isinstance(frl_pct, (Mapping, pd.Series)):
        raise AssignError(f"frl_pct must map school ids to percents, not {type(frl_pct).__name__}")
    frl = pd.Series(frl_pct, dtype=object).reindex(pd.Index(school_ids, dtype=object))
    values = pd.to_numeric(frl, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero((pd.notna(frl.to_numpy()) & np.isnan(values)) | (values < 0) | (values > 100))
    if len(bad):
        raise _problems("frl_pct", [f"school {school_ids[i]!r}: {frl.iloc[i]!r} is not a percent "
                                    "between 0 and 100" for i in bad])
    return values


# ----------------------------------------------------------------------------- solvers


def _naive(school, partner, objective, cap) -> tuple[int, float]:
    """Over-capacity count and total if every school took its best candidate."""
    if len(school) == 0:
        return 0, 0.0
    order = np.lexsort((partner, -objective, school))  # best first, ties to the lower partner id
    first = order[np.r_[True, school[order][1:] != school[order][:-1]]]
    takers = np.bincount(partner[first], minlength=len(cap)).astype(np.float64)
    over = np.maximum(takers - cap, 0)  # inf capacity -> 0
    return int(over.sum()), float(objective[first].sum())


def _solve_exact(school, partner, value, cap, per_school, n_schools) -> np.ndarray:
    """Rows of an optimal b-matching, via the LP relaxation (integral by total unimodularity)."""
    n = len(value)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    # only binding rows: a school with <= per_school candidates or a partner with
    # capacity >= its candidates can never be violated, and fewer rows solve faster
    s_deg = np.bincount(school, minlength=n_schools)
    p_deg = np.bincount(partner, minlength=len(cap))
    s_rows = np.flatnonzero(s_deg > per_school)
    p_rows = np.flatnonzero(p_deg > cap)
    s_row_of = np.full(n_schools, -1)
    s_row_of[s_rows] = np.arange(len(s_rows))
    p_row_of = np.full(len(cap), -1)
    p_row_of[p_rows] = len(s_rows) + np.arange(len(p_rows))
    rs, rp = s_row_of[school], p_row_of[partner]
    rows = np.concatenate([rs[rs >= 0], rp[rp >= 0]])
    cols = np.concatenate([np.flatnonzero(rs >= 0), np.flatnonzero(rp >= 0)])
    if len(rows) == 0:
        return np.arange(n)  # nothing binds: take every pair
    a_ub = sparse.csr_array((np.ones(len(rows)), (rows, cols)), shape=(len(s_rows) + len(p_rows), n))
    b_ub = np.concatenate([np.full(len(s_rows), float(per_school)), cap[p_rows]])
    # rows are in (school, partner) order, so the bonus prefers lower ids; see TIE_BREAK
    scale = float(value.max()) or 1.0
    bonus = TIE_BREAK * scale * (n - np.arange(n)) / n
    tight = {"dual_feasibility_tolerance": _LP_TOLERANCE, "primal_feasibility_tolerance": _LP_TOLERANCE}
    # dual simplex ends on a vertex, and vertices of this polytope are 0/1
    res = linprog(-(value + bonus), A_ub=a_ub, b_ub=b_ub, bounds=(0, 1), method="highs-ds", options=tight)
    if res.status == 4:  # numerical trouble at the tight tolerance: HiGHS defaults are still exact here
        res = linprog(-(value + bonus), A_ub=a_ub, b_ub=b_ub, bounds=(0, 1), method="highs-ds")
    if res.status != 0:  # x = 0 is feasible and the box bounds the LP, so this is a solver failure
        raise RuntimeError(f"assignment LP failed: {res.message}")
    x = res.x
    if np.abs(x - np.round(x)).max() > 1e-6:  # a vertex of a TU polytope is 0/1
        raise RuntimeError("assignment LP returned a fractional solution")
    return np.flatnonzero(x > 0.5)


def _solve_greedy(school, partner, value, cap, per_school, n_schools) -> np.ndarray:
    """Rows of the better of regret greedy and plain score-order greedy (see :func:`assign`)."""
    if len(value) == 0:
        return np.zeros(0, dtype=np.int64)
    by_regret = _greedy_regret(school, partner, value, cap, per_school, n_schools)
    by_score = _greedy_score(school, partner, value, cap, per_school, n_schools)
    # exact sums of the same numbers in the same order, so the comparison is reproducible
    return by_score if value[by_score].sum() > value[by_regret].sum() else by_regret


def _greedy_score(school, partner, value, cap, per_school, n_schools) -> np.ndarray:
    """Rows taken best pair first, ties to the lower (school_id, partner_id), while limits allow."""
    order = np.lexsort((partner, school, -value)).tolist()
    left = [c if c <= len(value) else len(value) + 1 for c in cap.tolist()]
    slots = [per_school] * n_schools
    S, P = school.tolist(), partner.tolist()
    taken = []
    for k in order:
        s, p = S[k], P[k]
        if slots[s] and left[p] > 0:
            slots[s] -= 1
            left[p] -= 1
            taken.append(k)
    return np.sort(np.array(taken, dtype=np.int64))


def _greedy_regret(school, partner, value, cap, per_school, n_schools) -> np.ndarray:
    """Rows chosen by greedy-with-regret (see :func:`assign`)."""
    n = len(value)
    # position k: a school's options best first, ties to the lower partner id
    order = np.lexsort((partner, -value, school))
    P = partner[order].tolist()
    V = value[order].tolist()
    S = school[order]
    bounds = np.searchsorted(S, np.arange(n_schools + 1))
    start, end = bounds[:-1].tolist(), bounds[1:].tolist()
    # each partner's positions, to find the schools to re-key when it fills
    by_partner = np.argsort(partner[order], kind="stable")
    p_bounds = np.searchsorted(partner[order][by_partner], np.arange(len(cap) + 1))
    left = [c if c <= n else n + 1 for c in cap.tolist()]  # a capacity >= n never fills; keep ints
    slots = np.full(n_schools, per_school, dtype=np.int64)
    ptr = np.array(start, dtype=np.int64)  # first option not yet taken or skipped
    wend = np.zeros(n_schools, dtype=np.int64)  # options in [ptr, wend) decide the key
    version = [0] * n_schools
    heap: list[tuple[float, float, int, int]] = []

    def rekey(s: int) -> None:
        """Recompute school s's regret from its remaining options and push it."""
        version[s] += 1
        k, e, r = int(ptr[s]), end[s], int(slots[s])
        while k < e and left[P[k]] <= 0:  # full partners never reopen: skip them for good
            k += 1
        ptr[s] = k
        if k == e or r == 0:
            wend[s] = k
            return
        seen, j, nxt = 1, k + 1, 0.0
        while j < e:
            if left[P[j]] > 0:
                seen += 1
                if seen == r + 1:
                    nxt = V[j]
                    break
            j += 1
        wend[s] = min(j + 1, e)
        heapq.heappush(heap, (nxt - V[k], -V[k], s, version[s]))

    for s in range(n_schools):
        rekey(s)
    taken = []
    while heap:
        _, _, s, ver = heapq.heappop(heap)
        if ver != version[s]:
            continue  # stale: the school was re-keyed since
        k = int(ptr[s])
        p = P[k]
        taken.append(k)
        left[p] -= 1
        slots[s] -= 1
        ptr[s] = k + 1
        rekey(s)
        if left[p] == 0:
            pos = by_partner[p_bounds[p]:p_bounds[p + 1]]
            ts = S[pos]
            hit = (slots[ts] > 0) & (pos >= ptr[ts]) & (pos < wend[ts])
            for t in ts[hit].tolist():
                rekey(t)
    return np.sort(order[np.array(taken, dtype=np.int64)])


def _check(school: np.ndarray, partner: np.ndarray, cap: np.ndarray, per_school: int) -> None:
    """Raise if a solver broke a constraint (a bug, never a user error)."""
    if len(school) and (np.bincount(school).max() > per_school
                        or (np.bincount(partner, minlength=len(cap)) > cap).any()):
        raise RuntimeError("assignment exceeds a capacity or per_school limit")


def assign_from_model(
    model,
    per_school: int = 1,
    equity_weight: float = 0.0,
    candidates_per_school: int = 20,
    weights: Mapping[str, float] | None = None,
    state=None,
    method: str = "auto",
) -> Assignment:
    """Allocate partners to every school of a fitted model.

    Each school's candidates are its top ``candidates_per_school`` partners by
    the same ranking as ``matcher recommend`` (so hard constraints and outreach
    state already hold); capacities are the partners' ``capacity`` less their
    current partnerships (unlimited when blank). The pairs carry each school's
    and partner's name.
    """
    from matcher.evaluate import CHUNK
    from matcher.ranking import rank_chunk

    scorer = model.scorer(weights)
    k = max(candidates_per_school, per_school)
    rows_s, rows_p, scores = [], [], []
    for start in range(0, len(model.school_ids_), CHUNK):
        rows = np.arange(start, min(start + CHUNK, len(model.school_ids_)))
        ids = list(model.school_ids_[rows])
        mask = model.state_mask(ids, state)
        for r, (cols, sc, _c, _d) in zip(rows, rank_chunk(scorer, model.schools_.take(rows), model.partners_, k,
                                                          False, mask)):
            rows_s += [model.school_ids_[r]] * len(cols)
            rows_p += list(model.partner_ids_[cols])
            scores += list(sc)
    candidates = pd.DataFrame({"school_id": rows_s, "partner_id": rows_p, "score": scores})
    capacity = {}
    used = state.used_capacity if state is not None else {}
    for pid, cap in zip(model.partner_ids_, model.partners_.capacity):
        capacity[pid] = math.inf if math.isinf(cap) else max(0.0, cap - used.get(pid, 0))
    frl = dict(zip(model.school_ids_, getattr(model, "school_frl_", np.full(len(model.school_ids_), np.nan))))
    result = assign(candidates, capacity, per_school=per_school, equity_weight=equity_weight,
                    frl_pct=frl if equity_weight > 0 else None, method=method)
    result.schools_without_candidates = len(model.school_ids_) - len(set(rows_s))
    pairs = result.pairs
    pairs.insert(1, "school_name", pairs["school_id"].map(dict(zip(model.school_ids_, model.school_names_))))
    pairs.insert(3, "partner_name", pairs["partner_id"].map(dict(zip(model.partner_ids_, model.partner_names_))))
    return result
