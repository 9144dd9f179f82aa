"""Tune block weights against past partnerships, cross-validated by school (or by time).

Block similarities do not learn from the history, so they are computed once
for the schools in the history and every trial only re-weights them: a trial
costs a weighted sum and a top-k. Folds split the history *by school* (or by
``start_date`` with ``split="time"``); whatever is learned from history (the
``fit`` method's weights, the popularity baseline) sees only the training
folds, and the gain over the default weights is measured on held-out folds
with nested selection, so it is not flattered by the choice itself.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from matcher import config
from matcher.errors import MatcherError
from matcher.features import block_matrices
from matcher.scoring import Scorer

#: Geography length scales (km) that grid and random search try.
GEO_LENGTHS = (10.0, 25.0, 50.0)


@dataclass
class Trial:
    """One candidate blend: its weights, geo length scale and held-out score per fold."""

    weights: dict[str, float]
    geo_length_km: float
    fold_scores: list[float]

    @property
    def mean(self) -> float:
        return float(np.mean(self.fold_scores))

    @property
    def std(self) -> float:
        return float(np.std(self.fold_scores))


@dataclass
class TuneResult:
    """What ``matcher tune`` found."""

    objective: str
    method: str
    folds: int
    trials: list[Trial]
    best: Trial
    default: Trial
    gain_per_fold: list[float]
    curves: dict[str, dict[int, dict[str, float]]] = field(default_factory=dict)

    @property
    def gain(self) -> float:
        """Mean held-out gain of the (nested-)chosen weights over the default weights."""
        return float(np.mean(self.gain_per_fold))

    @property
    def gain_std(self) -> float:
        return float(np.std(self.gain_per_fold))

    def weights_file(self) -> dict[str, Any]:
        """The ``--output`` JSON: read by every command's ``--weights``."""
        return {
            "weights": {b: round(w, 4) for b, w in self.best.weights.items()},
            "geo_length_km": self.best.geo_length_km,
            "objective": self.objective,
            "cv_mean": round(self.best.mean, 6),
            "cv_std": round(self.best.std, 6),
            "default_cv_mean": round(self.default.mean, 6),
            "heldout_gain": round(self.gain, 6),
            "heldout_gain_std": round(self.gain_std, 6),
            "method": self.method,
            "folds": self.folds,
        }


class _Problem:
    """Block similarities and constraint masks for the history's schools, computed once."""

    def __init__(self, model, history, k: int):
        known_s = set(model.school_ids_)
        known_p = set(model.partner_ids_)
        hist = history[history["school_id"].isin(known_s) & history["partner_id"].isin(known_p)]
        if hist.empty:
            raise MatcherError("no past partnership names a school and a partner of the model: nothing to tune on")
        self.model = model
        self.k = k
        self.hist = hist.reset_index(drop=True)
        self.school_ids = sorted(set(hist["school_id"]))
        rows = np.array([model.school_row(s) for s in self.school_ids])
        self.schools = model.schools_.take(rows)
        self.allowed = model.scorer().allowed(self.schools, model.partners_)
        self.row_of = {sid: i for i, sid in enumerate(self.school_ids)}
        self.col_of = {pid: j for j, pid in enumerate(model.partner_ids_)}
        self._blocks: dict[float, tuple[dict, dict]] = {}

    def blocks(self, length: float) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Block similarities and known flags of every (history school, partner) pair at a geo length scale."""
        if length not in self._blocks:
            scorer = self.scorer({}, length)
            sims, known, _, _ = block_matrices(self.schools, self.model.partners_, scorer.block_settings)
            self._blocks[length] = (sims, known)
        return self._blocks[length]

    def scorer(self, weights: Mapping[str, float], length: float) -> Scorer:
        base = self.model.scorer()
        return Scorer.from_weights(weights or base.weights, geo_length_km=length,
                                   default_radius_km=base.default_radius_km)

    def scores(self, weights: Mapping[str, float], length: float) -> np.ndarray:
        """Score of every (history school, partner) pair under ``weights``; -inf where not allowed."""
        sims, known = self.blocks(length)
        out, _ = self.scorer(weights, length).combine(sims, known)
        return np.where(self.allowed, out, -np.inf)

    def top(self, scores: np.ndarray, rows: np.ndarray, k: int) -> dict[str, list[str]]:
        """Top-k partner ids for the given school rows (ties by id, as ``ranking.top_k``)."""
        from matcher.ranking import top_k

        ids = self.model.partner_ids_
        return {self.school_ids[r]: [ids[c] for c in top_k(scores[r], self.allowed[r], k)] for r in rows}


def fold_assignment(history, folds: int, split: str, seed: int) -> tuple[list[np.ndarray], list[str]]:
    """Split history schools into ``folds`` groups: shuffled by school, or by first ``start_date``."""
    schools = sorted(set(history["school_id"]))
    if folds < 2 or folds > len(schools):
        raise MatcherError(f"`folds` must be between 2 and the number of schools in the history ({len(schools)})")
    if split == "time":
        if "start_date" not in history or history["start_date"].isna().all():
            raise MatcherError("`split='time'` needs start_date in the history file")
        first = history.groupby("school_id")["start_date"].min()
        order = sorted(schools, key=lambda s: (first.get(s), s))
    else:
        order = list(np.random.default_rng(seed).permutation(schools))
    return [np.array(part) for part in np.array_split(np.array(order, dtype=object), folds)], order


def simplex_grid(step: float = 0.1) -> list[dict[str, float]]:
    """Every weight vector on the simplex with the given step (blocks in config order)."""
    n = round(1 / step)
    out = []
    for combo in itertools.product(range(n + 1), repeat=len(config.BLOCKS) - 1):
        if sum(combo) <= n:
            parts = [*combo, n - sum(combo)]
            out.append({b: p / n for b, p in zip(config.BLOCKS, parts)})
    return out


def _fit_weights(problem: _Problem, train_schools: set[str], seed: int) -> dict[str, float]:
    """Non-negative logistic regression of past outcomes on block similarities (interpretable weights)."""
    from scipy.optimize import minimize

    rng = np.random.default_rng(seed)
    feats, labels = [], []
    sims, _ = problem.blocks(problem.model.geo_length_km)
    blocks = [sims[b] for b in config.BLOCKS]
    hist = problem.hist[problem.hist["school_id"].isin(train_schools)]
    for sid, group in hist.groupby("school_id"):
        r = problem.row_of[sid]
        pos = [problem.col_of[p] for p, o in zip(group["partner_id"], group["outcome"]) if o == 1]
        neg_pool = np.flatnonzero(problem.allowed[r])
        if not pos or not len(neg_pool):
            continue
        negs = rng.choice(neg_pool, size=min(len(neg_pool), 5 * len(pos)), replace=False)
        for c, y in [*((c, 1) for c in pos), *((c, 0) for c in negs if c not in pos)]:
            feats.append([blk[r, c] for blk in blocks])
            labels.append(y)
    if not labels or len(set(labels)) < 2:
        raise MatcherError("not enough past partnerships in the training folds to fit weights")
    x, y_true = np.array(feats), np.array(labels, dtype=np.float64)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ theta[:-1] + theta[-1]
        p = 1 / (1 + np.exp(-z))
        eps = 1e-12
        value = -np.mean(y_true * np.log(p + eps) + (1 - y_true) * np.log(1 - p + eps)) + 1e-3 * np.sum(theta[:-1] ** 2)
        grad_z = (p - y_true) / len(y_true)
        return value, np.append(x.T @ grad_z + 2e-3 * theta[:-1], grad_z.sum())

    bounds = [(0, None)] * len(config.BLOCKS) + [(None, None)]
    res = minimize(loss, np.append(np.full(len(config.BLOCKS), 0.5), 0.0), jac=True, bounds=bounds, method="L-BFGS-B")
    coef = np.maximum(res.x[:-1], 0)
    if coef.sum() <= 0:
        coef = np.ones_like(coef)
    return {b: float(c / coef.sum()) for b, c in zip(config.BLOCKS, coef)}


def tune(
    model,
    history,
    k: int = 10,
    method: str = "grid",
    trials: int = 60,
    folds: int = 5,
    seed: int = 0,
    split: str = "school",
    n_jobs: int = 1,
    progress: Callable[[int], None] | None = None,
) -> TuneResult:
    """Search block weights (and the geography length scale) by cross-validated ``ndcg@k``.

    Parameters
    ----------
    model : PartnerMatcher
        Fitted on the schools and partners (its features do not use the history).
    history : pandas.DataFrame
        Past partnerships (``outcome`` 1 = relevant).
    k : int, default 10
    method : {"grid", "random", "fit"}
        ``grid``: the weight simplex in steps of 0.1 (x ``GEO_LENGTHS``), subsampled
        to ``trials`` with the seed when larger; ``random``: ``trials`` Dirichlet draws;
        ``fit``: non-negative logistic weights learned on each training fold.
    trials, folds, seed : int
    split : {"school", "time"}
    n_jobs : int
        Worker threads (numpy releases the GIL in the heavy parts).
    progress : callable, optional
        Called with the number of trials just finished.

    Returns
    -------
    TuneResult
    """
    from joblib import Parallel, delayed

    from matcher.metrics import curve, evaluate_rankings

    if method not in ("grid", "random", "fit"):
        raise MatcherError(f"unknown method {method!r} (use grid, random or fit)")
    problem = _Problem(model, history, k)
    parts, _ = fold_assignment(problem.hist, folds, split, seed)
    relevant: dict[str, set[str]] = {}
    for sid, pid, o in zip(problem.hist["school_id"], problem.hist["partner_id"], problem.hist["outcome"]):
        if o == 1:
            relevant.setdefault(sid, set()).add(pid)
    fold_rows = [np.array([problem.row_of[s] for s in part]) for part in parts]
    n_items = len(model.partner_ids_)
    objective = f"ndcg@{k}"

    def fold_score(scores: np.ndarray, f: int) -> float:
        rel = {s: relevant[s] for s in parts[f] if s in relevant}
        return evaluate_rankings(problem.top(scores, fold_rows[f], k), rel, k, n_items)[objective] if rel else 0.0

    def run(weights: dict[str, float], length: float) -> Trial:
        scores = problem.scores(weights, length)
        result = Trial(dict(weights), length, [fold_score(scores, f) for f in range(folds)])
        if progress:
            progress(1)
        return result

    default = run(model.weights_, model.geo_length_km)
    if method == "fit":
        fold_trials = []
        for f in range(folds):
            train = set(problem.school_ids) - set(parts[f])
            w = _fit_weights(problem, train, seed + f)
            fold_trials.append(Trial(w, model.geo_length_km, [fold_score(problem.scores(w, model.geo_length_km), f)]))
            if progress:
                progress(1)
        all_w = _fit_weights(problem, set(problem.school_ids), seed)
        best = run(all_w, model.geo_length_km)
        gains = [t.fold_scores[0] - default.fold_scores[f] for f, t in enumerate(fold_trials)]
        trial_list = [best]
    else:
        rng = np.random.default_rng(seed)
        if method == "grid":
            cands = [(w, g) for w in simplex_grid(0.1) for g in GEO_LENGTHS]
            if len(cands) > trials:
                cands = [cands[i] for i in sorted(rng.choice(len(cands), size=trials, replace=False))]
        else:
            cands = [(dict(zip(config.BLOCKS, rng.dirichlet(np.ones(len(config.BLOCKS))))), float(rng.choice(GEO_LENGTHS)))
                     for _ in range(trials)]
        trial_list = Parallel(n_jobs=n_jobs, prefer="threads")(delayed(run)(w, g) for w, g in cands)
        trial_list = [default, *trial_list]
        scores = np.array([t.fold_scores for t in trial_list])  # trials x folds
        gains = []
        for f in range(folds):  # nested: choose on the other folds, score on this one
            others = np.delete(scores, f, axis=1).mean(axis=1)
            gains.append(float(scores[int(np.argmax(others)), f] - default.fold_scores[f]))
        best = trial_list[int(np.argmax(scores.mean(axis=1)))]
    trial_list.sort(key=lambda t: (-t.mean, t.std))
    all_rows = np.concatenate(fold_rows)
    ks = list(range(1, 21))
    curves = {}
    for name, w, g in [("tuned", best.weights, best.geo_length_km), ("default", model.weights_, model.geo_length_km)]:
        curves[name] = curve(problem.top(problem.scores(w, g), all_rows, max(ks)), relevant, ks)
    return TuneResult(objective, method, folds, trial_list, best, default, gains, curves)


@dataclass
class TuneRun:
    """What :func:`tune_files` did: the search result and where it wrote the weights (and report)."""

    result: TuneResult
    output: str
    report: str | None = None
    plotted: bool = False


def tune_files(
    schools_path,
    partners_path,
    history_path,
    output,
    *,
    k: int = 10,
    method: str = "grid",
    trials: int = 60,
    folds: int = 5,
    split: str = "school",
    seed: int = 0,
    n_jobs: int = 1,
    encoder: str = config.DEFAULT_ENCODER,
    report_dir=None,
    progress: Callable[[int], Callable[[int], None] | None] | None = None,
) -> TuneRun:
    """``matcher tune``: read the tables, fit, search the weights, write them (JSON, atomically) and a report.

    ``progress`` is called once with the number of steps and may return a
    function called with the steps just finished (e.g. a progress bar's ``update``).
    """
    import json

    from matcher.data import read_partners, read_partnerships, read_schools
    from matcher.files import atomic_write
    from matcher.model import PartnerMatcher

    schools, partners = read_schools(schools_path), read_partners(partners_path)
    history = read_partnerships(history_path)
    model = PartnerMatcher(encoder=encoder).fit(schools, partners)
    steps = folds if method == "fit" else min(trials, 10_000) + 1
    update = progress(steps) if progress is not None else None
    result = tune(model, history, k=k, method=method, trials=trials, folds=folds, seed=seed, split=split,
                  n_jobs=n_jobs, progress=update)
    with atomic_write(output, "w") as fh:
        json.dump(result.weights_file(), fh, indent=2)
        fh.write("\n")
    run = TuneRun(result, str(output))
    if report_dir:
        from matcher.report import write_tune_report

        path, run.plotted = write_tune_report(result, report_dir)
        run.report = str(path)
    return run
