"""Capacity-aware assignment: exact optimum against brute force, greedy bounds, determinism, inputs."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from matcher.assign import Assignment, AssignError, assign
from matcher.errors import MatcherError


def frame(rows) -> pd.DataFrame:
    """Candidates from (school, partner, score) tuples."""
    return pd.DataFrame(rows, columns=["school_id", "partner_id", "score"])


def random_case(rng: np.random.Generator, n_schools=4, n_partners=4, density=0.7):
    """A small random instance: candidates, capacities 0-2 (some unlimited), per_school 1-2, frl."""
    mask = rng.random((n_schools, n_partners)) < density
    si, pj = np.nonzero(mask)
    scores = rng.integers(0, 5, len(si)) / 4  # coarse grid: plenty of ties
    cands = frame([(f"S{i}", f"P{j}", s) for i, j, s in zip(si, pj, scores)])
    cap = {f"P{j}": float(c) for j, c in enumerate(rng.integers(0, 3, n_partners))}
    if rng.random() < 0.2:
        cap["P0"] = math.inf
    frl = {f"S{i}": float(rng.integers(0, 101)) for i in range(n_schools)}
    frl["S0"] = math.nan
    return cands, cap, int(rng.integers(1, 3)), frl


def brute_force(cands, cap, per_school, weight=0.0, frl=None) -> float:
    """Best objective over every subset of candidate pairs that respects the limits."""
    n = len(cands)
    if n == 0:
        return 0.0
    value = cands["score"].to_numpy(float)
    if weight > 0:
        f = np.array([frl.get(s, math.nan) for s in cands["school_id"]])
        value = value * (1 + weight * np.nan_to_num(f) / 100)
    subsets = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(float)
    s_codes, _ = pd.factorize(cands["school_id"])
    p_codes, p_ids = pd.factorize(cands["partner_id"])
    per_s = subsets @ np.eye(s_codes.max() + 1)[s_codes]
    per_p = subsets @ np.eye(len(p_ids))[p_codes]
    limits = np.array([cap[p] for p in p_ids])
    ok = (per_s <= per_school).all(axis=1) & (per_p <= limits).all(axis=1)
    return float((subsets @ value)[ok].max())


def check_limits(result: Assignment, cap, per_school) -> None:
    """Fail if a partner is over capacity, a school over per_school, or a pair repeated."""
    pairs = result.pairs
    assert not pairs.duplicated(["school_id", "partner_id"]).any()
    assert (pairs["school_id"].value_counts() <= per_school).all()
    for pid, taken in pairs["partner_id"].value_counts().items():
        assert taken <= cap[pid], (pid, taken, cap[pid])


# ----------------------------------------------------------------------------- optimality


@pytest.mark.parametrize("equity", [False, True])
def test_exact_matches_brute_force(equity):
    rng = np.random.default_rng(7 + equity)
    for _ in range(100):
        cands, cap, per_school, frl = random_case(rng)
        weight = float(rng.choice([0.5, 1.0, 3.0])) if equity else 0.0
        result = assign(cands, cap, per_school=per_school, equity_weight=weight,
                        frl_pct=frl if equity else None, method="exact")
        assert result.method == "exact-lp"
        check_limits(result, cap, per_school)
        best = brute_force(cands, cap, per_school, weight, frl)
        assert result.total_score == pytest.approx(best, abs=1e-6)
        col = "boosted_score" if equity else "score"
        assert result.pairs[col].sum() == pytest.approx(result.total_score)


def test_exact_matches_brute_force_on_wider_cases():
    rng = np.random.default_rng(11)
    for _ in range(30):
        cands, cap, per_school, _ = random_case(rng, n_schools=6, n_partners=3, density=0.8)
        result = assign(cands, cap, per_school=per_school, method="exact")
        check_limits(result, cap, per_school)
        assert result.total_score == pytest.approx(brute_force(cands, cap, per_school), abs=1e-6)


def medium_case(seed: int, n_schools=300, n_partners=60, k=10):
    """A contested random instance: each school's k candidates among few partners."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_schools):
        for j in rng.choice(n_partners, size=k, replace=False):
            rows.append((f"S{i:04d}", f"P{j:03d}", round(float(rng.random()), 3)))
    cap = {f"P{j:03d}": float(c) for j, c in enumerate(rng.integers(0, 8, n_partners))}
    return frame(rows), cap


@pytest.mark.parametrize("per_school", [1, 2, 3])
def test_greedy_respects_limits_and_is_near_the_optimum(per_school):
    for seed in range(3):
        cands, cap = medium_case(seed)
        exact = assign(cands, cap, per_school=per_school, method="exact")
        greedy = assign(cands, cap, per_school=per_school, method="greedy")
        assert greedy.method == "greedy-regret"
        check_limits(greedy, cap, per_school)
        check_limits(exact, cap, per_school)
        assert greedy.total_score <= exact.total_score + 1e-9
        assert greedy.total_score >= 0.95 * exact.total_score


def test_greedy_is_feasible_and_never_beats_the_optimum_on_small_cases():
    rng = np.random.default_rng(3)
    for _ in range(100):
        cands, cap, per_school, _ = random_case(rng)
        result = assign(cands, cap, per_school=per_school, method="greedy")
        check_limits(result, cap, per_school)
        assert result.total_score <= brute_force(cands, cap, per_school) + 1e-9


@pytest.mark.parametrize("per_school", [1, 3])
def test_both_greedy_passes_respect_the_limits(per_school):
    from matcher import assign as internals

    cands, cap = medium_case(1)
    school, partner, _, partner_ids, score = internals._read_candidates(cands)
    limits = internals._read_capacity(cap, partner_ids)
    for solve in (internals._greedy_regret, internals._greedy_score):
        rows = solve(school, partner, score, limits, per_school, school.max() + 1)
        assert len(np.unique(rows)) == len(rows) > 0
        assert np.bincount(school[rows]).max() <= per_school
        assert (np.bincount(partner[rows], minlength=len(limits)) <= limits).all()


def slow_regret(school, partner, value, cap, per_school):
    """Regret greedy without lazy updates: every school's key recomputed at every step."""
    left, slots, taken = cap.copy(), {s: per_school for s in set(school)}, set()
    while True:
        best_key, best_row = None, None
        for s in sorted(slots):
            rows = [k for k in range(len(value)) if school[k] == s and k not in taken and left[partner[k]] > 0]
            rows.sort(key=lambda k: (-value[k], partner[k]))
            if not rows or not slots[s]:
                continue
            nxt = value[rows[slots[s]]] if len(rows) > slots[s] else 0.0
            key = (nxt - value[rows[0]], -value[rows[0]], s)
            if best_key is None or key < best_key:
                best_key, best_row = key, rows[0]
        if best_row is None:
            return np.array(sorted(taken), dtype=np.int64)
        taken.add(best_row)
        left[partner[best_row]] -= 1
        slots[school[best_row]] -= 1


@pytest.mark.parametrize("per_school", [1, 2, 3])
def test_lazy_regret_heap_matches_recomputing_every_key(per_school):
    from matcher import assign as internals

    for seed in range(4):
        cands, cap = medium_case(seed, n_schools=40, n_partners=12, k=5)
        cands["score"] = (cands["score"] * 8).round() / 8  # ties exercise the tie-breaks
        school, partner, _, partner_ids, score = internals._read_candidates(cands)
        limits = internals._read_capacity(cap, partner_ids)
        ok = np.flatnonzero(limits[partner] > 0)
        s, p, v = school[ok], partner[ok], score[ok]
        fast = internals._greedy_regret(s, p, v, limits, per_school, school.max() + 1)
        np.testing.assert_array_equal(fast, slow_regret(s, p, v, limits, per_school))


def test_greedy_prefers_the_school_with_most_to_lose():
    # A has a fine fallback, B has none: serving A first (higher score) would cost B everything
    cands = frame([("A", "X", 0.9), ("A", "Y", 0.85), ("B", "X", 0.8)])
    result = assign(cands, {"X": 1, "Y": 1}, method="greedy")
    assert result.pairs[["school_id", "partner_id"]].values.tolist() == [["A", "Y"], ["B", "X"]]


def test_auto_switches_to_greedy_above_the_limit():
    cands, cap = medium_case(0, n_schools=20, n_partners=10, k=5)
    assert assign(cands, cap).method == "exact-lp"
    assert assign(cands, cap, exact_max_pairs=len(cands)).method == "exact-lp"
    assert assign(cands, cap, exact_max_pairs=len(cands) - 1).method == "greedy-regret"
    assert assign(cands, cap, method="exact", exact_max_pairs=0).method == "exact-lp"


# ----------------------------------------------------------------------------- equity


def test_equity_weight_moves_a_scarce_partner_to_the_high_need_school():
    cands = frame([("Rich", "X", 0.80), ("Poor", "X", 0.75)])
    frl = {"Rich": 10.0, "Poor": 90.0}
    plain = assign(cands, {"X": 1}, frl_pct=frl)
    assert plain.pairs["school_id"].tolist() == ["Rich"]
    assert "boosted_score" not in plain.pairs
    for method in ("exact", "greedy"):
        boosted = assign(cands, {"X": 1}, equity_weight=1.0, frl_pct=frl, method=method)
        assert boosted.pairs["school_id"].tolist() == ["Poor"]
        assert boosted.pairs["score"].tolist() == [0.75]
        assert boosted.pairs["boosted_score"].tolist() == pytest.approx([0.75 * 1.9])
        assert boosted.total_score == pytest.approx(0.75 * 1.9)


def test_unknown_frl_gets_no_boost():
    cands = frame([("Known", "X", 0.5), ("Unknown", "X", 0.6), ("Missing", "Y", 0.4)])
    result = assign(cands, {"X": 1, "Y": 1}, equity_weight=1.0, frl_pct={"Known": 30.0, "Unknown": math.nan})
    # 0.5 * 1.3 = 0.65 beats 0.6 * 1.0; a school absent from frl_pct is also unboosted
    assert result.pairs[["school_id", "boosted_score"]].values.tolist() == [
        ["Known", pytest.approx(0.65)], ["Missing", 0.4]]


# ----------------------------------------------------------------------------- capacities


@pytest.mark.parametrize("method", ["exact", "greedy"])
def test_capacity_zero_partner_is_never_used(method):
    cands = frame([("A", "Full", 1.0), ("A", "Open", 0.1), ("B", "Full", 0.9)])
    result = assign(cands, {"Full": 0, "Open": 1}, method=method)
    assert "Full" not in set(result.pairs["partner_id"])
    assert result.pairs[["school_id", "partner_id"]].values.tolist() == [["A", "Open"]]


@pytest.mark.parametrize("method", ["exact", "greedy"])
@pytest.mark.parametrize("unlimited", [math.inf, None, math.nan])
def test_unlimited_capacity(method, unlimited):
    cands = frame([(f"S{i}", "Big", 0.5) for i in range(50)] + [("S0", "Small", 0.9)])
    result = assign(cands, {"Big": unlimited, "Small": 1}, per_school=2, method=method)
    assert (result.pairs["partner_id"] == "Big").sum() == 50
    assert result.schools_served == 50 and result.partners_used == 2
    assert result.total_score == pytest.approx(50 * 0.5 + 0.9)


@pytest.mark.parametrize("method", ["exact", "greedy"])
def test_each_school_gets_at_most_per_school(method):
    cands, cap = medium_case(5, n_schools=50, n_partners=40, k=8)
    unlimited = {p: math.inf for p in cap}
    for n in (1, 2, 5):
        result = assign(cands, unlimited, per_school=n, method=method)
        counts = result.pairs["school_id"].value_counts()
        assert counts.max() == n and len(counts) == 50  # everyone gets exactly their n best
        best = cands.sort_values("score", ascending=False).groupby("school_id").head(n)
        assert result.total_score == pytest.approx(best["score"].sum())


# ----------------------------------------------------------------------------- determinism and ties


@pytest.mark.parametrize("method", ["exact", "greedy"])
def test_deterministic_under_repeats_and_shuffles(method):
    cands, cap = medium_case(3)
    cands["score"] = (cands["score"] * 4).round() / 4  # many ties
    first = assign(cands, cap, per_school=2, method=method)
    again = assign(cands, cap, per_school=2, method=method)
    pd.testing.assert_frame_equal(first.pairs, again.pairs)
    for seed in range(3):
        shuffled = cands.sample(frac=1, random_state=seed)
        shuffled.index = np.random.default_rng(seed).permutation(len(shuffled)) + 1000
        result = assign(shuffled, dict(reversed(list(cap.items()))), per_school=2, method=method)
        pd.testing.assert_frame_equal(first.pairs, result.pairs)
        assert result.total_score == first.total_score


@pytest.mark.parametrize("method", ["exact", "greedy"])
def test_ties_go_to_the_lower_ids(method):
    cands = frame([("B", "X", 0.5), ("A", "X", 0.5), ("C", "Y", 0.5), ("C", "Z", 0.5)])
    result = assign(cands, {"X": 1, "Y": 1, "Z": 1}, method=method)
    assert result.pairs[["school_id", "partner_id"]].values.tolist() == [["A", "X"], ["C", "Y"]]


def test_pairs_are_sorted_and_typed():
    cands = frame([("B", "Y", 0.2), ("A", "Z", 0.7), ("B", "X", 0.9), ("A", "Y", 0.7)])
    result = assign(cands, {"X": 2, "Y": 2, "Z": 2}, per_school=2)
    assert result.pairs.values.tolist() == [["A", "Y", 0.7], ["A", "Z", 0.7], ["B", "X", 0.9], ["B", "Y", 0.2]]
    assert list(result.pairs.index) == [0, 1, 2, 3]
    assert result.pairs["score"].dtype == np.float64


def test_integer_ids_work():
    cands = pd.DataFrame({"school_id": [2, 1, 1], "partner_id": [10, 10, 20], "score": [0.9, 0.8, 0.1]})
    result = assign(cands, {10: 1, 20: 1})
    assert result.pairs[["school_id", "partner_id"]].values.tolist() == [[1, 20], [2, 10]]


# ----------------------------------------------------------------------------- naive baseline and edge cases


def test_naive_over_capacity():
    cands = frame([
        ("S1", "X", 0.9), ("S1", "Y", 0.5),
        ("S2", "X", 0.8), ("S2", "Z", 0.8),  # tie on X vs Z: X is the lower id
        ("S3", "X", 0.7),
        ("S4", "Closed", 0.6), ("S4", "Y", 0.1),
        ("S5", "Y", 0.3),
        ("S6", "Free", 0.4),
    ])
    cap = {"X": 1, "Y": 1, "Z": 5, "Closed": 0, "Free": math.inf}
    result = assign(cands, cap)
    # top picks: X by S1, S2, S3 (2 over); Closed by S4 (1 over); Y by S5; Free by S6
    assert result.naive_over_capacity == 3
    assert result.naive_total == pytest.approx(0.9 + 0.8 + 0.7 + 0.6 + 0.3 + 0.4)
    assert result.total_score <= result.naive_total
    assert result.schools_served == 4  # X and Y have one place each; S4 only fits Closed or Y


@pytest.mark.parametrize("method", ["auto", "exact", "greedy"])
@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_empty_candidates(method, weight):
    result = assign(frame([]), {}, equity_weight=weight, frl_pct={}, method=method)
    assert result.pairs.empty
    expected = ["school_id", "partner_id", "score"] + (["boosted_score"] if weight else [])
    assert list(result.pairs.columns) == expected
    assert (result.total_score, result.schools_served, result.partners_used) == (0.0, 0, 0)
    assert (result.naive_over_capacity, result.naive_total) == (0, 0.0)


def test_all_partners_closed():
    result = assign(frame([("A", "X", 0.5)]), {"X": 0})
    assert result.pairs.empty and result.naive_over_capacity == 1 and result.naive_total == 0.5


# ----------------------------------------------------------------------------- input errors


@pytest.mark.parametrize("cands, cap, kwargs, message", [
    (frame([("A", "X", 0.5)]).drop(columns="score"), {"X": 1}, {}, "missing column"),
    (frame([("A", "X", -0.5)]), {"X": 1}, {}, "finite number >= 0"),
    (frame([("A", "X", math.nan)]), {"X": 1}, {}, "finite number >= 0"),
    (frame([("A", "X", "high")]), {"X": 1}, {}, "finite number >= 0"),
    (frame([("A", "X", 0.5), ("A", "X", 0.4)]), {"X": 1}, {}, "more than once"),
    (frame([(None, "X", 0.5)]), {"X": 1}, {}, "school_id is missing"),
    (frame([("A", "X", 0.5)]), {}, {}, "has no capacity"),
    (frame([("A", "X", 0.5)]), {"X": -1}, {}, "whole number >= 0"),
    (frame([("A", "X", 0.5)]), {"X": 1.5}, {}, "whole number >= 0"),
    (frame([("A", "X", 0.5)]), {"X": "many"}, {}, "not a number"),
    (frame([("A", "X", 0.5)]), {"X": 1}, {"per_school": 0}, "per_school"),
    (frame([("A", "X", 0.5)]), {"X": 1}, {"per_school": 1.5}, "per_school"),
    (frame([("A", "X", 0.5)]), {"X": 1}, {"method": "magic"}, "unknown assignment method"),
    (frame([("A", "X", 0.5)]), {"X": 1}, {"equity_weight": -1}, "equity_weight"),
    (frame([("A", "X", 0.5)]), {"X": 1}, {"equity_weight": math.inf}, "equity_weight"),
    (frame([("A", "X", 0.5)]), {"X": 1}, {"equity_weight": 1}, "needs each school's frl_pct"),
    (frame([("A", "X", 0.5)]), {"X": 1}, {"equity_weight": 1, "frl_pct": {"A": 120}}, "between 0 and 100"),
    (frame([("A", "X", 0.5)]), {"X": 1}, {"exact_max_pairs": -1}, "exact_max_pairs"),
])
def test_bad_input_raises_a_matcher_error(cands, cap, kwargs, message):
    with pytest.raises(AssignError, match=message) as info:
        assign(cands, cap, **kwargs)
    assert isinstance(info.value, MatcherError)


def test_error_lists_a_few_problems():
    cands = frame([(f"S{i}", "X", -1.0) for i in range(8)])
    with pytest.raises(AssignError, match=r"and 3 more"):
        assign(cands, {"X": 1})


# --------------------------------------------------------------------------- `matcher assign` for people


def test_assign_command_writes_names_rounded_scores_and_a_plain_summary(tmp_path):
    """Two identical schools want the same one-place food bank; a high school no partner serves."""
    import csv

    from click.testing import CliRunner

    from matcher.cli import main

    need = "Our children come to school hungry and need weekend food."
    pd.DataFrame({"school_id": ["A1", "A2", "H1"], "name": ["Ash Elementary", "Alder Elementary", "Hill High"],
                  "needs": [need, need, "Teens want a robotics club."], "grades": ["K-5", "K-5", "9-12"],
                  "latitude": ["40.0", "40.0", "40.0"], "longitude": ["-75.0", "-75.0", "-75.0"]}
                 ).to_csv(tmp_path / "schools.csv", index=False)
    pd.DataFrame({"partner_id": ["F1", "F2"], "name": ["Food Bank", "Corner Pantry"],
                  "offerings": ["Weekend food backpacks for hungry children.", "Free groceries for families."],
                  "grades": ["K-5", "K-5"], "latitude": ["40.0", "40.0"], "longitude": ["-75.0", "-75.0"],
                  "service_radius_km": ["20", "20"], "capacity": ["1", "1"]}).to_csv(tmp_path / "partners.csv", index=False)
    runner = CliRunner()
    model = tmp_path / "m.joblib"
    assert runner.invoke(main, ["train", "--schools", str(tmp_path / "schools.csv"), "--partners",
                                str(tmp_path / "partners.csv"), "--model", str(model)]).exit_code == 0
    out = tmp_path / "assigned.csv"
    result = runner.invoke(main, ["assign", "--model", str(model), "--output", str(out)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"Assigned 2 pairs (one partner per school, exact-lp method); written to {out}."
    assert lines[1].startswith("2 of 3 schools got a partner, from 2 partners, none beyond its capacity; total score ")
    assert lines[2:] == [
        "1 school got none: no partner with room left can serve it (grades, service area or outreach state).",
        ("Had every school simply taken its top partner, 1 school would not have fit: that partner would already have "
         "been full."),
    ]
    with open(out, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["school_id", "school_name", "partner_id", "partner_name", "score"]
    names = {"A1": "Ash Elementary", "A2": "Alder Elementary", "F1": "Food Bank", "F2": "Corner Pantry"}
    assert [r["school_id"] for r in rows] == ["A1", "A2"] and sorted(r["partner_id"] for r in rows) == ["F1", "F2"]
    assert all(r["school_name"] == names[r["school_id"]] and r["partner_name"] == names[r["partner_id"]] for r in rows)
    assert all(len(r["score"].split(".")[1]) <= 6 for r in rows)  # rounded as recommend rounds
    total = sum(float(r["score"]) for r in rows)
    assert lines[1].endswith(f"total score {total:.3f}.")
