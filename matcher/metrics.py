"""Offline ranking metrics with binary relevance, defined exactly as the ``ranx`` library defines them.

Every formula below was checked against ranx's source (github.com/AmenRa/ranx,
commit 2cae52f0, ``ranx/metrics/``), so numbers from this module and from
``ranx.evaluate`` agree on the same data:

* ``precision@k``  = hits in the top k / **k** (``precision.py``: ``_hits(...) / k``;
  a ranking shorter than k is *not* given a smaller denominator).
* ``recall@k``     = hits in the top k / number of relevant items (``recall.py``).
* ``ndcg@k``       = DCG@k / IDCG@k with gain = rel and discount log2(rank + 1)
  (``ndcg.py``, ``jarvelin=True``, ranx's default ``"ndcg"``; with 0/1 relevance
  the Burges gain 2**rel - 1 is the same). IDCG@k puts the relevant items first:
  sum over ranks 1..min(k, R) of 1 / log2(rank + 1).
* ``map@k``        = (sum of precision@r over the ranks r <= k holding a hit) / **R**,
  R = number of relevant items (``average_precision.py``: ``/ qrels.shape[0]``,
  not ``min(k, R)``), so a perfect top-k with R > k scores k / R, not 1.
* ``mrr@k``        = 1 / rank of the first hit within the top k, else 0
  (``reciprocal_rank.py``; its docstring says k is ignored, but the code cuts
  the run at ``fix_k(k, run)``, so k is honoured).
* ``hit_rate@k``   = 1 if any of the top k is relevant, else 0 (``hit_rate.py``).

A query with no relevant items scores 0 on every metric in ranx
(``clean_qrels`` leaves nothing and each metric returns ``0.0``);
:func:`per_query_metrics` does the same. :func:`evaluate_rankings` instead
leaves such queries out of the means (as trec_eval does), because a school with
no known partner says nothing about the ranker. The mean over queries is the
plain arithmetic mean (``ranx/meta/evaluate.py``: ``np.mean(scores)``), and a
query missing from the run counts as an empty ranking, as ranx's
``Run.make_comparable`` does.

Ties: ranx orders a run by score itself. Here a ranking is already an ordered
list, so ties must be broken by the caller before the metrics see it (the
model's :func:`matcher.ranking.top_k` breaks them by id).
"""
from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

import numpy as np

__all__ = ["per_query_metrics", "evaluate_rankings", "curve", "gini"]

_METRICS = ("precision", "recall", "ndcg", "map", "mrr", "hit_rate")


def per_query_metrics(ranked: Sequence[str], relevant: Collection[str], k: int) -> dict[str, float]:
    """Precision, recall, nDCG, AP, reciprocal rank and hit rate of one ranking at cutoff ``k``.

    Parameters
    ----------
    ranked : sequence of str
        Item ids, best first. Only the first ``k`` count; a shorter list is
        scored as is (precision still divides by ``k``).
    relevant : collection of str
        The ids that count as hits (binary relevance). Empty means every
        metric is 0, as in ranx.
    k : int
        Cutoff, >= 1.

    Returns
    -------
    dict of str to float
        Keys ``precision@k``, ``recall@k``, ``ndcg@k``, ``map@k``, ``mrr@k``
        and ``hit_rate@k`` (with the number in place of ``k``).

    Raises
    ------
    ValueError
        If ``k`` is not a positive integer or ``ranked`` repeats an id.
    TypeError
        If ``ranked`` or ``relevant`` is a bare string (almost always a
        forgotten list).

    Examples
    --------
    Hits at ranks 2 and 4, three relevant items:

    >>> m = per_query_metrics(["a", "b", "c", "d", "e"], {"b", "d", "z"}, k=5)
    >>> round(m["precision@5"], 4), round(m["recall@5"], 4), m["mrr@5"]
    (0.4, 0.6667, 0.5)
    >>> round(m["map@5"], 4), round(m["ndcg@5"], 4)
    (0.3333, 0.4982)
    """
    k = _check_k(k)
    rel = _as_set(relevant, "relevant")
    hits = _hit_vector(ranked, rel, k)
    return _metrics_from_hits(hits, len(rel), k)


def evaluate_rankings(
    rankings: Mapping[str, Sequence[str]],
    relevant: Mapping[str, Collection[str]],
    k: int,
    n_items: int,
) -> dict[str, float]:
    """Mean ranking metrics over queries plus catalogue coverage and exposure Gini.

    The evaluated queries are those in ``relevant`` with at least one relevant
    item; a query among them that is missing from ``rankings`` counts as an
    empty ranking (all zeros). Rankings of queries not evaluated are ignored,
    including for coverage and Gini.

    Parameters
    ----------
    rankings : mapping of str to sequence of str
        Query id -> item ids, best first (ties already broken by the caller).
    relevant : mapping of str to collection of str
        Query id -> ids of its relevant items.
    k : int
        Cutoff, >= 1.
    n_items : int
        Size of the catalogue that could be recommended (the denominator of
        coverage and the length of the exposure vector for Gini).

    Returns
    -------
    dict of str to float
        The mean of each :func:`per_query_metrics` key, then
        ``coverage@k`` (share of the ``n_items`` catalogue in at least one
        evaluated top-k list), ``gini@k`` (Gini coefficient of top-k
        appearances over all ``n_items`` items, unseen items counting 0;
        0 when nothing is shown) and ``n_schools`` (number of evaluated
        queries, an int).

    Raises
    ------
    ValueError
        If ``k`` or ``n_items`` is not a positive integer, a ranking repeats
        an id, the top-k lists show more distinct items than ``n_items``, or
        no query has a relevant item (a mean over nothing is undefined and
        usually means the ids of ``rankings`` and ``relevant`` do not match).

    Examples
    --------
    >>> r = evaluate_rankings({"s1": ["a", "b"], "s2": ["a", "c"]},
    ...                       {"s1": {"a"}, "s2": {"b"}}, k=2, n_items=4)
    >>> r["precision@2"], r["hit_rate@2"], r["coverage@2"], r["n_schools"]
    (0.25, 0.5, 0.75, 2)
    """
    k = _check_k(k)
    n_items = _check_positive_int(n_items, "n_items")
    queries = _evaluated_queries(relevant)

    sums = dict.fromkeys(_METRICS, 0.0)
    exposure: dict[str, int] = {}
    for q in queries:
        ranked = rankings.get(q, ())
        rel = _as_set(relevant[q], f"relevant[{q!r}]")
        scores = _metrics_from_hits(_hit_vector(ranked, rel, k), len(rel), k)
        for name in _METRICS:
            sums[name] += scores[f"{name}@{k}"]
        for item in list(ranked)[:k]:
            exposure[item] = exposure.get(item, 0) + 1

    if len(exposure) > n_items:
        raise ValueError(
            f"the top-{k} lists show {len(exposure)} distinct items but n_items is {n_items}"
        )
    # Items never shown are part of the catalogue too: they enter Gini as zeros.
    counts = np.zeros(n_items, dtype=np.float64)
    counts[: len(exposure)] = list(exposure.values())

    n = len(queries)
    out: dict[str, float] = {f"{name}@{k}": sums[name] / n for name in _METRICS}
    out[f"coverage@{k}"] = len(exposure) / n_items
    out[f"gini@{k}"] = gini(counts)
    out["n_schools"] = n
    return out


def curve(
    rankings: Mapping[str, Sequence[str]],
    relevant: Mapping[str, Collection[str]],
    ks: Sequence[int],
) -> dict[int, dict[str, float]]:
    """Mean precision and recall at each cutoff in ``ks`` (for a precision/recall-vs-k plot).

    Uses the same queries and the same definitions as :func:`evaluate_rankings`,
    so ``curve(r, rel, [k])[k]["precision"]`` equals
    ``evaluate_rankings(r, rel, k, n)[f"precision@{k}"]``.

    Parameters
    ----------
    rankings : mapping of str to sequence of str
        Query id -> item ids, best first.
    relevant : mapping of str to collection of str
        Query id -> ids of its relevant items.
    ks : sequence of int
        Cutoffs, each >= 1, e.g. ``range(1, 21)``.

    Returns
    -------
    dict of int to dict
        ``{k: {"precision": mean precision@k, "recall": mean recall@k}}``
        in the order of ``ks``.

    Raises
    ------
    ValueError
        As :func:`evaluate_rankings`: a bad cutoff, a repeated id or no query
        with a relevant item.

    Examples
    --------
    >>> c = curve({"s1": ["a", "b", "c"]}, {"s1": {"b", "c"}}, ks=[1, 2, 3])
    >>> [c[k]["precision"] for k in (1, 2, 3)]
    [0.0, 0.5, 0.6666666666666666]
    >>> [c[k]["recall"] for k in (1, 2, 3)]
    [0.0, 0.5, 1.0]
    """
    ks = [_check_k(k) for k in ks]
    if not ks:
        return {}
    queries = _evaluated_queries(relevant)
    k_max = max(ks)
    cuts = np.asarray(ks)

    prec = np.zeros(len(ks))
    rec = np.zeros(len(ks))
    for q in queries:
        rel = _as_set(relevant[q], f"relevant[{q!r}]")
        # One pass up to the largest cutoff; hits at k is then a prefix sum.
        cum = np.concatenate(([0.0], np.cumsum(_hit_vector(rankings.get(q, ()), rel, k_max))))
        hits_at = cum[np.minimum(cuts, len(cum) - 1)]
        prec += hits_at / cuts
        rec += hits_at / len(rel)

    n = len(queries)
    return {k: {"precision": float(prec[i] / n), "recall": float(rec[i] / n)} for i, k in enumerate(ks)}


def gini(exposure: Iterable[float]) -> float:
    """Gini coefficient of an exposure vector: 0 when even, towards 1 when concentrated.

    Uses the sorted formula ``G = 2 * sum_i i * x_(i) / (n * sum x) - (n + 1) / n``
    with ``x`` ascending and ``i`` from 1. Its largest value, one item taking
    everything, is ``(n - 1) / n``.

    Parameters
    ----------
    exposure : iterable of float
        One non-negative number per catalogue item (0 for items never shown).

    Returns
    -------
    float
        The coefficient; 0 for an empty vector or when every value is 0.

    Raises
    ------
    ValueError
        If a value is negative.

    Examples
    --------
    >>> gini([3, 1, 0, 0])
    0.625
    >>> gini([2, 2, 2])
    0.0
    """
    x = np.sort(np.asarray(list(exposure), dtype=np.float64))
    if x.size and x[0] < 0:
        raise ValueError("exposure must be non-negative")
    total = x.sum()
    if total == 0:
        # Nobody was shown anything: no inequality to measure (and 0/0 otherwise).
        return 0.0
    n = x.size
    i = np.arange(1, n + 1)
    g = 2.0 * float(np.dot(i, x)) / (n * total) - (n + 1) / n
    # Snap float noise so an even vector reports exactly 0, never -1e-17.
    return 0.0 if abs(g) < 1e-12 else float(g)


def _metrics_from_hits(hits: np.ndarray, n_relevant: int, k: int) -> dict[str, float]:
    """All six metrics from a 0/1 hit vector of length <= k."""
    keys = [f"{name}@{k}" for name in _METRICS]
    if n_relevant == 0 or not hits.any():
        # ranx returns 0.0 for every metric when a query has no relevant items or no hits.
        return dict.fromkeys(keys, 0.0)
    ranks = np.arange(1, hits.size + 1)
    n_hits = float(hits.sum())
    discount = 1.0 / np.log2(ranks + 1)
    # Ideal list: all relevant items first, but only min(k, R) of them fit in the top k.
    idcg = float((1.0 / np.log2(np.arange(1, min(k, n_relevant) + 1) + 1)).sum())
    precision_at_hits = np.cumsum(hits)[hits > 0] / ranks[hits > 0]
    values = (
        n_hits / k,
        n_hits / n_relevant,
        float(np.dot(hits, discount)) / idcg,
        # ranx divides by all relevant items, not min(k, R).
        float(precision_at_hits.sum()) / n_relevant,
        1.0 / float(ranks[hits > 0][0]),
        1.0,
    )
    return dict(zip(keys, values))


def _hit_vector(ranked: Sequence[str], relevant: set[str], k: int) -> np.ndarray:
    """0/1 array over the first k of ``ranked``, after checking it has no repeats."""
    if isinstance(ranked, (str, bytes)):
        raise TypeError("ranked must be a sequence of ids, not a single string")
    items = list(ranked)
    seen: set[str] = set()
    for item in items:
        if item in seen:
            # ranx keys a run by id, so a repeat cannot be expressed there; here it is a caller bug.
            raise ValueError(f"ranking repeats item {item!r}")
        seen.add(item)
    return np.fromiter((item in relevant for item in items[:k]), dtype=np.float64)


def _as_set(relevant: Collection[str], name: str) -> set[str]:
    """The relevant ids as a set, refusing a bare string."""
    if isinstance(relevant, (str, bytes)):
        raise TypeError(f"{name} must be a collection of ids, not a single string")
    return set(relevant)


def _evaluated_queries(relevant: Mapping[str, Collection[str]]) -> list[str]:
    """Queries with at least one relevant item, in mapping order; raises if there are none."""
    queries = [q for q, rel in relevant.items() if len(rel) > 0]
    if not queries:
        raise ValueError("no query has a relevant item, so there is nothing to average over")
    return queries


def _check_k(k: int) -> int:
    """Validate a cutoff (ranx's k=0 'whole run' is not offered: every list here is a top-k)."""
    return _check_positive_int(k, "k")


def _check_positive_int(value: int, name: str) -> int:
    """Return ``value`` as int if it is an integer >= 1, else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
