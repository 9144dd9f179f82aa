"""Measure match quality against partnerships that actually happened, beside simple baselines."""
from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from matcher.config import BLOCKS
from matcher.ranking import rank_chunk, top_k

#: Schools ranked per chunk: bounds memory to chunk x partners score matrices.
CHUNK = 128


@dataclass
class EvaluationReport:
    """Metrics of the model's top-K against past partnerships, and the same for baselines."""

    k: int
    n_schools: int
    n_skipped: int
    metrics: dict[str, float]
    violations: int
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``matcher evaluate --format json``."""
        return {
            **{k: round(v, 6) for k, v in self.metrics.items()},
            "violations": self.violations,
            "k": self.k,
            "n_schools": self.n_schools,
            "baselines": {name: {k: round(v, 6) for k, v in m.items()} for name, m in self.baselines.items()},
        }


def relevant_pairs(history) -> dict[str, set[str]]:
    """School -> partners it partnered with successfully (``outcome`` 1)."""
    good = history[history["outcome"] == 1]
    out: dict[str, set[str]] = {}
    for sid, pid in zip(good["school_id"], good["partner_id"]):
        out.setdefault(sid, set()).add(pid)
    return out


def model_rankings(model, school_ids: Sequence[str], k: int, weights: Mapping[str, float] | None = None,
                   include_full: bool = False) -> dict[str, list[str]]:
    """Each known school's top-``k`` partner ids: the ranking ``recommend`` and ``rank`` give."""
    scorer = model.scorer(weights)
    rows = np.array([model.school_row(sid) for sid in school_ids], dtype=np.int64)
    out: dict[str, list[str]] = {}
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        for r, (cols, *_rest) in zip(chunk, rank_chunk(scorer, model.schools_.take(chunk), model.partners_, k,
                                                        include_full)):
            out[model.school_ids_[r]] = [model.partner_ids_[c] for c in cols]
    return out


def baseline_rankings(model, school_ids: Sequence[str], k: int, kind: str, seed: int = 0,
                      popularity: Mapping[str, int] | None = None) -> dict[str, list[str]]:
    """Rankings of a baseline that obeys the same hard constraints: ``random`` or ``popularity``."""
    rng = np.random.default_rng(seed)
    if kind == "popularity":
        counts = np.array([(popularity or {}).get(p, 0) for p in model.partner_ids_], dtype=np.float64)
    scorer = model.scorer()
    rows = np.array([model.school_row(sid) for sid in school_ids], dtype=np.int64)
    out: dict[str, list[str]] = {}
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        ok = scorer.allowed(model.schools_.take(chunk), model.partners_)
        for i, r in enumerate(chunk):
            score = rng.random(len(model.partner_ids_)) if kind == "random" else counts
            out[model.school_ids_[r]] = [model.partner_ids_[c] for c in top_k(score, ok[i], k)]
    return out


def count_violations(model, rankings: Mapping[str, Iterable[str]]) -> int:
    """Ranked pairs that break a hard constraint (grades, distance, capacity), checked afresh."""
    scorer = model.scorer()
    bad = 0
    for sid, pids in rankings.items():
        i = model.school_row(sid)
        cols = np.array([model.partner_row(p) for p in pids], dtype=np.int64)
        if not len(cols):
            continue
        ok = scorer.allowed(model.schools_.take(slice(i, i + 1)), model.partners_.take(cols))
        bad += int((~ok).sum())
    return bad


def evaluate(model, history, k: int = 10, weights: Mapping[str, float] | None = None, seed: int = 0,
             baselines: bool = True) -> EvaluationReport:
    """Score the model's top-``k`` for every school with a successful past partnership.

    Parameters
    ----------
    model : PartnerMatcher
        Fitted model.
    history : pandas.DataFrame
        Past partnerships as read by :func:`matcher.data.read_partnerships`.
    k : int, default 10
    weights : mapping, optional
        Block weights overriding the model's.
    seed : int, default 0
        Seed of the random baseline.
    baselines : bool, default True
        Also score the random, popularity and text-only baselines.

    Returns
    -------
    EvaluationReport
    """
    from matcher.metrics import evaluate_rankings

    relevant = relevant_pairs(history)
    known = set(model.school_ids_)
    skipped = sorted(s for s in relevant if s not in known)
    if skipped:
        warnings.warn(f"{len(skipped)} school(s) in the history are not in the model and were skipped", stacklevel=2)
    relevant = {s: r for s, r in sorted(relevant.items()) if s in known}
    schools = list(relevant)
    n_items = len(model.partner_ids_)

    def score(rankings: dict[str, list[str]]) -> dict[str, float]:
        m = evaluate_rankings(rankings, relevant, k, n_items)
        m.pop("n_schools", None)
        return m

    ranked = model_rankings(model, schools, k, weights)
    report = EvaluationReport(k=k, n_schools=len(schools), n_skipped=len(skipped), metrics=score(ranked),
                              violations=count_violations(model, ranked))
    if baselines:
        popularity = history[history["outcome"] == 1]["partner_id"].value_counts().to_dict()
        text_only = {b: (1.0 if b == "text" else 0.0) for b in BLOCKS}
        report.baselines = {
            "random": score(baseline_rankings(model, schools, k, "random", seed=seed)),
            "popularity": score(baseline_rankings(model, schools, k, "popularity", popularity=popularity)),
            "text_only": score(model_rankings(model, schools, k, text_only)),
        }
    return report
