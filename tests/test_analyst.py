"""evaluate and tune: report shape, baselines, no leakage, determinism, weights files every command accepts."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from matcher.cli import main


def cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output + result.stderr
    return result.stdout


def test_evaluate_json_has_exactly_the_contract_keys(gen_model_file, gen_dir):
    out = json.loads(cli("evaluate", "--model", gen_model_file, "--history", gen_dir / "partnerships.csv",
                         "--k", "5", "--format", "json"))
    metrics = ["precision@5", "recall@5", "ndcg@5", "map@5", "mrr@5", "hit_rate@5", "coverage@5", "gini@5"]
    assert set(out) == {*metrics, "violations", "k", "n_schools", "baselines"}
    assert out["k"] == 5 and out["violations"] == 0 and out["n_schools"] > 0
    assert set(out["baselines"]) == {"random", "popularity", "text_only"}
    for base in out["baselines"].values():
        assert set(base) == set(metrics)


def test_evaluate_rankings_are_the_recommend_rankings(gen_model, gen_history):
    from matcher.evaluate import model_rankings

    schools = sorted(set(gen_history["school_id"]))[:10]
    ranked = model_rankings(gen_model, schools, 10)
    for sid in schools:
        assert ranked[sid] == [m.id for m in gen_model.recommend(sid, n=10)]


def test_evaluate_skips_unknown_schools_with_a_count(gen_model, gen_history):
    from matcher.evaluate import evaluate

    extra = gen_history.iloc[:2].copy()
    extra["school_id"] = ["NOPE1", "NOPE2"]
    extra["outcome"] = 1
    with pytest.warns(UserWarning, match="2 school\\(s\\) in the history are not in the model"):
        report = evaluate(gen_model, pd.concat([gen_history, extra]), k=10, baselines=False)
    assert report.n_skipped == 2


def test_random_baseline_is_seeded_and_obeys_constraints(gen_model, gen_history):
    from matcher.evaluate import baseline_rankings, count_violations

    schools = sorted(set(gen_history["school_id"]))
    a = baseline_rankings(gen_model, schools, 10, "random", seed=1)
    assert a == baseline_rankings(gen_model, schools, 10, "random", seed=1)
    assert a != baseline_rankings(gen_model, schools, 10, "random", seed=2)
    assert count_violations(gen_model, a) == 0


def test_tune_is_deterministic_and_beats_default_on_held_out_folds(gen_model, gen_history):
    from matcher.tune import tune

    a = tune(gen_model, gen_history, method="random", trials=15, folds=3, seed=3)
    b = tune(gen_model, gen_history, method="random", trials=15, folds=3, seed=3)
    assert a.weights_file() == b.weights_file()
    assert [t.fold_scores for t in a.trials] == [t.fold_scores for t in b.trials]
    assert abs(sum(a.best.weights.values()) - 1) < 1e-9
    assert a.best.mean >= a.default.mean  # the default is one of the trials


def test_fit_weights_never_see_held_out_pairs(gen_model, gen_history):
    """Changing the held-out schools' history leaves the weights fitted on the training folds unchanged."""
    from matcher.tune import _fit_weights, _Problem, fold_assignment

    parts, _ = fold_assignment(gen_history, 3, "school", 0)
    held_out, train = set(parts[0]), set(gen_history["school_id"]) - set(parts[0])
    base = _fit_weights(_Problem(gen_model, gen_history, 10), train, seed=0)
    changed = gen_history.copy()
    mask = changed["school_id"].isin(held_out)
    changed.loc[mask, "outcome"] = 1 - changed.loc[mask, "outcome"]
    changed.loc[mask, "partner_id"] = np.roll(changed.loc[mask, "partner_id"].to_numpy(), 3)
    assert _fit_weights(_Problem(gen_model, changed, 10), train, seed=0) == base


def test_folds_split_by_school_and_by_time(gen_history):
    from matcher.tune import fold_assignment

    parts, _ = fold_assignment(gen_history, 4, "school", 0)
    flat = [s for p in parts for s in p]
    assert sorted(flat) == sorted(set(gen_history["school_id"])) and len(flat) == len(set(flat))
    tparts, order = fold_assignment(gen_history, 4, "time", 0)
    first = gen_history.groupby("school_id")["start_date"].min()
    assert [first[s] for s in order] == sorted(first[s] for s in order)


def test_tune_output_is_accepted_by_every_weights_option(gen_dir, gen_model_file, tmp_path):
    out = tmp_path / "tuned.json"
    text = cli("tune", "--schools", gen_dir / "schools.csv", "--partners", gen_dir / "partners.csv",
               "--history", gen_dir / "partnerships.csv", "--method", "fit", "--folds", "3", "--output", out,
               "--report", tmp_path / "report")
    assert "held-out gain over default" in text
    saved = json.loads(out.read_text())
    assert set(saved["weights"]) == {"text", "categories", "grades", "geo", "partner_type"}
    assert (tmp_path / "report" / "index.html").read_text().startswith("<!doctype html>")
    sid = json.loads(cli("recommend", "--model", gen_model_file, "--partner", "P000001", "--format", "json"))
    school = sid[0]["school_id"] if sid else "S000001"
    for args in (["recommend", "--school", school], ["recommend", "--partner", "P000001"],
                 ["explain", "--school", school, "--partner", "P000001"],
                 ["evaluate", "--history", gen_dir / "partnerships.csv"],
                 ["rank", "--output", tmp_path / "ranked.csv", "--quiet"],
                 ["assign", "--output", tmp_path / "assigned.csv"]):
        cli(*args, "--model", gen_model_file, "--weights", out)
    cli("train", "--schools", gen_dir / "schools.csv", "--partners", gen_dir / "partners.csv",
        "--model", tmp_path / "m2.joblib", "--weights", out)
    meta = json.loads((tmp_path / "m2.json").read_text())
    assert meta["geo_length_km"] == saved["geo_length_km"]
    assert meta["weights"] == pytest.approx(saved["weights"], abs=1e-9)
