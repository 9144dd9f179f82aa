"""Tests for matcher.metrics: every metric pinned on hand-computed cases, with ranx's definitions.

Notation in the comments: L(r) = 1 / log2(r + 1) is the nDCG discount at rank r,
so L(1) = 1, L(2) = 0.630930, L(3) = 0.5, L(4) = 0.430677.
"""
from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matcher.metrics import curve, evaluate_rankings, gini, per_query_metrics

NAMES = ("precision", "recall", "ndcg", "map", "mrr", "hit_rate")


def L(r: int) -> float:
    """nDCG discount at rank r (1-based)."""
    return 1 / math.log2(r + 1)


def keyed(k: int, precision, recall, ndcg, map_, mrr, hit_rate) -> dict[str, float]:
    """Expected per-query dict in the module's key format."""
    return dict(zip((f"{n}@{k}" for n in NAMES), (precision, recall, ndcg, map_, mrr, hit_rate)))


def assert_metrics(got: dict[str, float], expected: dict[str, float]) -> None:
    """Same keys, values equal to 1e-12."""
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key


# -- per_query_metrics: hand-computed cases -----------------------------------


def test_keys_are_exactly_the_six_metrics_at_k():
    assert list(per_query_metrics(["a"], {"a"}, 7)) == [
        "precision@7", "recall@7", "ndcg@7", "map@7", "mrr@7", "hit_rate@7",
    ]


def test_perfect_ranking_scores_one_everywhere():
    # 3 relevant, all in ranks 1..3, k = 3: P = 3/3, R = 3/3, DCG = IDCG, AP = (1/1 + 2/2 + 3/3)/3, RR = 1/1.
    assert_metrics(per_query_metrics(["a", "b", "c"], {"a", "b", "c"}, 3), keyed(3, 1, 1, 1, 1, 1, 1))


def test_perfect_ranking_with_k_beyond_the_relevant_items():
    # Same 3 relevant first, then 2 misses, k = 5: P = 3/5; IDCG@5 only has min(5, 3) = 3 ideal hits, so nDCG = 1.
    got = per_query_metrics(["a", "b", "c", "x", "y"], {"a", "b", "c"}, 5)
    assert_metrics(got, keyed(5, 3 / 5, 1, 1, 1, 1, 1))


def test_hits_at_ranks_2_and_4_out_of_3_relevant():
    # ranked a b c d e; relevant {b, d, z}: hits at ranks 2 and 4, z never retrieved. R = 3, k = 5.
    # precision = 2 / 5 = 0.4
    # recall    = 2 / 3
    # DCG  = L(2) + L(4) = 0.630930 + 0.430677 = 1.061606
    # IDCG = L(1) + L(2) + L(3) = 1 + 0.630930 + 0.5 = 2.130930   (min(k, R) = 3 ideal hits)
    # nDCG = 1.061606 / 2.130930 = 0.498189
    # AP   = (P@2 + P@4) / R = (1/2 + 2/4) / 3 = 1/3   (ranx divides by R = 3, not by the 2 hits)
    # RR   = 1 / 2 (first hit at rank 2); hit_rate = 1
    got = per_query_metrics(["a", "b", "c", "d", "e"], {"b", "d", "z"}, 5)
    ndcg = (L(2) + L(4)) / (L(1) + L(2) + L(3))
    assert ndcg == pytest.approx(0.498189, abs=1e-6)
    assert_metrics(got, keyed(5, 0.4, 2 / 3, ndcg, 1 / 3, 0.5, 1))


def test_same_ranking_cut_at_k_3_loses_the_rank_4_hit():
    # Top 3 = a b c: one hit at rank 2. P = 1/3, R = 1/3, nDCG = L(2) / (L(1)+L(2)+L(3)) = 0.296082,
    # AP = (1/2) / 3 = 1/6, RR = 1/2.
    got = per_query_metrics(["a", "b", "c", "d", "e"], {"b", "d", "z"}, 3)
    assert_metrics(got, keyed(3, 1 / 3, 1 / 3, L(2) / (L(1) + L(2) + L(3)), 1 / 6, 0.5, 1))
    assert got["ndcg@3"] == pytest.approx(0.296082, abs=1e-6)


def test_average_precision_divides_by_all_relevant_not_min_k_r():
    # 4 relevant, k = 2, both top slots hits: AP = (1/1 + 2/2) / 4 = 0.5 (min(k, R) would give 1.0).
    # nDCG@2 is still 1: IDCG@2 = L(1) + L(2) = DCG@2. Recall = 2/4.
    got = per_query_metrics(["a", "b", "x"], {"a", "b", "c", "d"}, 2)
    assert_metrics(got, keyed(2, 1, 0.5, 1, 0.5, 1, 1))


def test_no_hits_is_all_zeros():
    assert_metrics(per_query_metrics(["x", "y", "z"], {"a", "b"}, 3), keyed(3, 0, 0, 0, 0, 0, 0))


def test_no_relevant_items_is_all_zeros_like_ranx():
    # ranx's clean_qrels leaves nothing and each metric returns 0.0 (precision: 0 hits / k).
    assert_metrics(per_query_metrics(["a", "b"], set(), 2), keyed(2, 0, 0, 0, 0, 0, 0))


def test_k_larger_than_the_ranking_still_divides_precision_by_k():
    # ranked b a (2 items), relevant {b, d, z}, k = 10: one hit at rank 1.
    # P = 1 / 10 (not 1/2), R = 1/3, nDCG = L(1) / (L(1)+L(2)+L(3)) = 1 / 2.130930 = 0.469279,
    # AP = (1/1) / 3, RR = 1.
    got = per_query_metrics(["b", "a"], {"b", "d", "z"}, 10)
    assert_metrics(got, keyed(10, 0.1, 1 / 3, 1 / (L(1) + L(2) + L(3)), 1 / 3, 1, 1))
    assert got["ndcg@10"] == pytest.approx(0.469279, abs=1e-6)


def test_k_equal_1():
    # Only rank 1 counts: a hit there is 1 everywhere except recall (1/R = 1/2) and AP (1/R = 1/2).
    assert_metrics(per_query_metrics(["a", "b"], {"a", "b"}, 1), keyed(1, 1, 0.5, 1, 0.5, 1, 1))
    # The relevant item at rank 2 is cut off: all zeros.
    assert_metrics(per_query_metrics(["b", "a"], {"a"}, 1), keyed(1, 0, 0, 0, 0, 0, 0))


def test_empty_ranking_is_all_zeros():
    assert_metrics(per_query_metrics([], {"a"}, 5), keyed(5, 0, 0, 0, 0, 0, 0))


def test_ranking_longer_than_k_is_cut():
    # The hit at rank 3 is beyond k = 2, so nothing counts.
    assert_metrics(per_query_metrics(["x", "y", "a"], {"a"}, 2), keyed(2, 0, 0, 0, 0, 0, 0))


def test_ties_are_resolved_by_the_caller():
    # a and b tie on score, only b is relevant. ranx would sort the tie itself; here the list order is the
    # ranking, so the caller must break ties first (e.g. by id, as matcher.ranking.top_k does).
    scores = {"b": 0.7, "a": 0.7, "c": 0.1}
    by_id = [p for p, _ in sorted(scores.items(), key=lambda t: (-t[1], t[0]))]
    assert by_id == ["a", "b", "c"]
    assert per_query_metrics(by_id, {"b"}, 3)["mrr@3"] == 0.5
    assert per_query_metrics(["b", "a", "c"], {"b"}, 3)["mrr@3"] == 1.0  # the other tie order scores differently


def test_relevant_may_be_any_collection():
    assert per_query_metrics(["a", "b"], ["b"], 2) == per_query_metrics(["a", "b"], frozenset({"b"}), 2)


@pytest.mark.parametrize("k", [0, -1, 2.0, True, None])
def test_bad_k_is_rejected(k):
    with pytest.raises(ValueError, match="k must be a positive integer"):
        per_query_metrics(["a"], {"a"}, k)


def test_duplicates_in_a_ranking_are_an_error():
    with pytest.raises(ValueError, match="repeats item 'a'"):
        per_query_metrics(["a", "b", "a"], {"a"}, 2)  # even when the repeat is past k


def test_a_bare_string_is_refused():
    with pytest.raises(TypeError):
        per_query_metrics("abc", {"a"}, 2)
    with pytest.raises(TypeError):
        per_query_metrics(["a"], "a", 2)


# -- evaluate_rankings ---------------------------------------------------------


def test_mean_over_several_queries():
    # k = 2, catalogue a..e (n_items = 5).
    # s1: a b, rel {a}     -> P 1/2, R 1,   nDCG L(1)/L(1) = 1,             AP (1/1)/1 = 1,   RR 1,   hit 1
    # s2: c a, rel {a, d}  -> P 1/2, R 1/2, nDCG L(2)/(L(1)+L(2)) = 0.386853, AP (1/2)/2 = 1/4, RR 1/2, hit 1
    # s3: b c, rel {d}     -> all 0
    # s4: rel {} -> not evaluated; s5 is only in rankings -> ignored (its "e" counts nowhere).
    rankings = {"s1": ["a", "b"], "s2": ["c", "a"], "s3": ["b", "c"], "s4": ["a"], "s5": ["e"]}
    relevant = {"s1": {"a"}, "s2": {"a", "d"}, "s3": {"d"}, "s4": set()}
    got = evaluate_rankings(rankings, relevant, 2, 5)
    ndcg_s2 = L(2) / (L(1) + L(2))
    assert ndcg_s2 == pytest.approx(0.386853, abs=1e-6)
    assert got["n_schools"] == 3 and isinstance(got["n_schools"], int)
    assert got["precision@2"] == pytest.approx((1 / 2 + 1 / 2 + 0) / 3)  # 1/3
    assert got["recall@2"] == pytest.approx((1 + 1 / 2 + 0) / 3)  # 1/2
    assert got["ndcg@2"] == pytest.approx((1 + ndcg_s2 + 0) / 3)  # 0.462284
    assert got["map@2"] == pytest.approx((1 + 1 / 4 + 0) / 3)  # 0.416667
    assert got["mrr@2"] == pytest.approx((1 + 1 / 2 + 0) / 3)  # 1/2
    assert got["hit_rate@2"] == pytest.approx(2 / 3)
    # Shown by evaluated queries: a (s1, s2), b (s1, s3), c (s2, s3) -> coverage 3/5.
    assert got["coverage@2"] == pytest.approx(3 / 5)
    # Exposure over all 5 items, ascending: [0, 0, 2, 2, 2]; sum 6; sum i*x = 3*2 + 4*2 + 5*2 = 24.
    # G = 2*24 / (5*6) - 6/5 = 1.6 - 1.2 = 0.4
    assert got["gini@2"] == pytest.approx(0.4)


def test_means_equal_the_mean_of_per_query_metrics():
    rankings = {"s1": ["a", "b", "c"], "s2": ["c", "b", "a"]}
    relevant = {"s1": {"b"}, "s2": {"a", "b"}}
    got = evaluate_rankings(rankings, relevant, 3, 3)
    for key in per_query_metrics([], {"a"}, 3):
        per_q = [per_query_metrics(rankings[q], relevant[q], 3)[key] for q in relevant]
        assert got[key] == pytest.approx(sum(per_q) / len(per_q))


def test_query_absent_from_rankings_counts_as_empty():
    # s1 is perfect at k = 1, s2 has no ranking at all -> every mean is (1 + 0) / 2.
    got = evaluate_rankings({"s1": ["a"]}, {"s1": {"a"}, "s2": {"b"}}, 1, 2)
    for name in NAMES:
        assert got[f"{name}@1"] == pytest.approx(0.5)
    assert got["n_schools"] == 2
    # Only a is shown: coverage 1/2; exposure ascending [0, 1]: G = 2*(2*1) / (2*1) - 3/2 = 0.5.
    assert got["coverage@1"] == 0.5
    assert got["gini@1"] == pytest.approx(0.5)


def test_coverage_and_gini_on_a_tiny_exposure_example():
    # k = 1, four schools, catalogue a b c d: a is shown 3 times, b once -> exposures [3, 1, 0, 0].
    # coverage = 2 / 4 = 0.5
    # ascending x = [0, 0, 1, 3], n = 4, sum x = 4, sum i*x = 3*1 + 4*3 = 15
    # G = 2*15 / (4*4) - 5/4 = 1.875 - 1.25 = 0.625
    rankings = {"s1": ["a", "c"], "s2": ["a"], "s3": ["a", "d"], "s4": ["b"]}  # c and d lie past k
    relevant = {s: {"a"} for s in rankings}
    got = evaluate_rankings(rankings, relevant, 1, 4)
    assert got["coverage@1"] == 0.5
    assert got["gini@1"] == pytest.approx(0.625)
    assert gini([3, 1, 0, 0]) == pytest.approx(0.625)
    assert got["precision@1"] == pytest.approx(3 / 4)


def test_gini_is_zero_for_equal_exposure():
    # k = 2: a b c d each shown exactly twice -> G = 0, coverage 4/4.
    rankings = {"s1": ["a", "b"], "s2": ["c", "d"], "s3": ["a", "c"], "s4": ["b", "d"]}
    got = evaluate_rankings(rankings, {s: {"a"} for s in rankings}, 2, 4)
    assert got["gini@2"] == 0.0
    assert got["coverage@2"] == 1.0
    assert gini([5, 5, 5]) == 0.0


def test_gini_is_zero_when_nothing_is_shown():
    got = evaluate_rankings({"s1": []}, {"s1": {"a"}, "s2": {"b"}}, 3, 10)
    assert got["gini@3"] == 0.0
    assert got["coverage@3"] == 0.0
    assert gini([]) == 0.0 and gini([0, 0]) == 0.0


def test_gini_of_one_item_taking_everything_is_n_minus_1_over_n():
    # ascending [0, 0, 0, 0, 7]: G = 2*(5*7) / (5*7) - 6/5 = 0.8 = (5 - 1) / 5.
    assert gini([7, 0, 0, 0, 0]) == pytest.approx(0.8)


def test_gini_rejects_negative_exposure():
    with pytest.raises(ValueError):
        gini([1, -1])


def test_more_shown_items_than_the_catalogue_is_an_error():
    with pytest.raises(ValueError, match="n_items"):
        evaluate_rankings({"s1": ["a", "b", "c"]}, {"s1": {"a"}}, 3, 2)


@pytest.mark.parametrize("n_items", [0, -3, 2.5])
def test_bad_n_items_is_rejected(n_items):
    with pytest.raises(ValueError, match="n_items"):
        evaluate_rankings({"s1": ["a"]}, {"s1": {"a"}}, 1, n_items)


def test_no_query_with_a_relevant_item_is_an_error():
    with pytest.raises(ValueError, match="no query has a relevant item"):
        evaluate_rankings({"s1": ["a"]}, {"s1": set()}, 1, 1)
    with pytest.raises(ValueError, match="no query has a relevant item"):
        evaluate_rankings({"s1": ["a"]}, {}, 1, 1)


def test_duplicates_are_an_error_in_evaluate_too():
    with pytest.raises(ValueError, match="repeats"):
        evaluate_rankings({"s1": ["a", "a"]}, {"s1": {"a"}}, 2, 3)


# -- curve ----------------------------------------------------------------------


def test_curve_by_hand():
    # ranked a b c, relevant {b, c}: hits at 2 and 3.
    # k=1: P 0/1, R 0/2;  k=2: P 1/2, R 1/2;  k=3: P 2/3, R 2/2;  k=5: P 2/5 (divides by k), R 1.
    c = curve({"s1": ["a", "b", "c"]}, {"s1": {"b", "c"}}, [1, 2, 3, 5])
    assert list(c) == [1, 2, 3, 5]
    assert [c[k]["precision"] for k in c] == pytest.approx([0, 1 / 2, 2 / 3, 2 / 5])
    assert [c[k]["recall"] for k in c] == pytest.approx([0, 1 / 2, 1, 1])


def test_curve_matches_evaluate_rankings_at_every_k():
    rng = random.Random(7)
    items = [f"p{i}" for i in range(15)]
    rankings = {f"s{q}": rng.sample(items, rng.randint(0, 15)) for q in range(6)}
    relevant = {f"s{q}": set(rng.sample(items, rng.randint(0, 4))) for q in range(7)}  # s6 has no ranking
    ks = range(1, 21)
    c = curve(rankings, relevant, ks)
    for k in ks:
        full = evaluate_rankings(rankings, relevant, k, len(items))
        assert c[k]["precision"] == pytest.approx(full[f"precision@{k}"], abs=1e-12)
        assert c[k]["recall"] == pytest.approx(full[f"recall@{k}"], abs=1e-12)


def test_curve_edge_cases():
    assert curve({"s1": ["a"]}, {"s1": {"a"}}, []) == {}
    with pytest.raises(ValueError):
        curve({"s1": ["a"]}, {"s1": {"a"}}, [0, 1])
    with pytest.raises(ValueError, match="repeats"):
        curve({"s1": ["a", "a"]}, {"s1": {"a"}}, [1])


# -- against a line-by-line transliteration of ranx's numba code ----------------


def ranx_reference(ranked: list[str], relevant: set[str], k: int) -> dict[str, float]:
    """Loops copied from ranx/metrics/{precision,recall,ndcg,average_precision,reciprocal_rank,hit_rate}.py."""
    if not relevant:
        return keyed(k, 0, 0, 0, 0, 0, 0)
    kk = min(k, len(ranked))  # fix_k
    hit_list = [1.0 if ranked[i] in relevant else 0.0 for i in range(kk)]
    hits = sum(hit_list)
    dcg = sum(hit_list[i] / math.log2(i + 2) for i in range(kk))
    idcg = sum(1 / math.log2(i + 2) for i in range(min(k, len(relevant)))) or 1.0
    ap = sum(sum(hit_list[: r + 1]) / (r + 1) for r in range(kk) if hit_list[r]) / len(relevant)
    rr = next((1 / (i + 1) for i in range(kk) if hit_list[i]), 0.0)
    return keyed(k, hits / k, hits / len(relevant), dcg / idcg, ap, rr, 1.0 if hits else 0.0)


@given(
    ranked=st.lists(st.integers(0, 12), unique=True, max_size=13).map(lambda xs: [f"p{x}" for x in xs]),
    relevant=st.sets(st.integers(0, 12), max_size=6).map(lambda xs: {f"p{x}" for x in xs}),
    k=st.integers(1, 15),
)
def test_matches_ranx_reference_and_stays_in_range(ranked, relevant, k):
    got = per_query_metrics(ranked, relevant, k)
    assert_metrics(got, ranx_reference(ranked, relevant, k))
    assert all(0.0 <= v <= 1.0 for v in got.values())
    n_hits = sum(1 for p in ranked[:k] if p in relevant)
    assert got[f"precision@{k}"] * k == pytest.approx(n_hits)
    assert (got[f"hit_rate@{k}"] == 1.0) == (got[f"mrr@{k}"] > 0) == (n_hits > 0)


# -- against ranx itself, when it happens to be installed -------------------------


def test_matches_ranx_on_random_cases():
    reason = "ranx is not a dependency; this cross-check runs only where it is installed"
    ranx = pytest.importorskip("ranx", reason=reason)
    rng = random.Random(0)
    compared = 0
    for _ in range(100):
        items = [f"p{i}" for i in range(rng.randint(1, 20))]
        n_rel = min(5, len(items))
        relevant = {f"s{q}": set(rng.sample(items, rng.randint(1, n_rel))) for q in range(rng.randint(1, 6))}
        rankings = {q: rng.sample(items, rng.randint(0, len(items))) for q in relevant if rng.random() > 0.2}
        rankings = {q: r for q, r in rankings.items() if r}
        if not rankings:
            continue  # ranx's Run cannot be built without any document
        k = rng.randint(1, 25)
        qrels = ranx.Qrels({q: {d: 1 for d in r} for q, r in relevant.items()})
        # Strictly decreasing scores carry our order into ranx, so no tie is left for it to break.
        run = ranx.Run({q: {d: float(len(r) - i) for i, d in enumerate(r)} for q, r in rankings.items()})
        names = [f"{n}@{k}" for n in NAMES]
        theirs = ranx.evaluate(qrels, run, names, make_comparable=True)
        ours = evaluate_rankings(rankings, relevant, k, len(items))
        for name in names:
            assert ours[name] == pytest.approx(float(theirs[name]), abs=1e-9), name
        compared += 1
    assert compared > 50
