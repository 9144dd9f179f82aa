"""Outreach state changes what is suggested: each status, the cooldown, capacity used by current partners."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from click.testing import CliRunner

from matcher.cli import main
from matcher.state import OutreachStore

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def store(tmp_path):
    return OutreachStore(tmp_path / "outreach.db", clock=Clock(T0))


def ids(model, school, state, **kw):
    return [m.id for m in model.recommend(school, n=10, state=state, **kw)]


def test_do_not_contact_is_never_suggested(fitted, store):
    assert ids(fitted, "S1", None)[0] == "P1"
    store.record("S1", "P1", "do_not_contact")
    state = store.constraints(now=T0 + timedelta(days=3650))
    assert "P1" not in ids(fitted, "S1", state)
    assert "do not contact" in " ".join(fitted.explain("S1", "P1", state=state).excluded_by)
    assert "S1" not in [m.id for m in fitted.recommend_schools("P1", n=10, state=state)]


@pytest.mark.parametrize("status", ["shortlisted", "contacted"])
def test_shortlisted_and_contacted_change_nothing(fitted, store, status):
    store.record("S1", "P1", status)
    assert ids(fitted, "S1", store.constraints(now=T0)) == ids(fitted, "S1", None)


def test_declined_comes_back_after_the_cooldown(fitted, store):
    store.record("S2", "P2", "declined", "not this year")
    assert "P2" not in ids(fitted, "S2", store.constraints(now=T0 + timedelta(days=179)))
    assert "P2" in ids(fitted, "S2", store.constraints(now=T0 + timedelta(days=181)))
    assert "P2" in ids(fitted, "S2", store.constraints(now=T0 + timedelta(days=31), cooldown_days=30))


def test_current_partner_is_hidden_unless_included_and_uses_capacity(fitted, store):
    # P5 has capacity 2: two current partnerships fill it for every other school.
    assert "P5" in ids(fitted, "S5", None)
    store.record("S1", "P5", "partnered")
    store.record("S2", "P5", "partnered")
    state = store.constraints(now=T0)
    assert "P5" not in ids(fitted, "S5", state)  # no capacity left
    assert "P5" not in ids(fitted, "S1", state)  # a current partner, not a new suggestion
    shown = store.constraints(now=T0, include_current=True)
    assert "P5" in ids(fitted, "S1", shown)  # its own current partner is shown when asked
    assert "P5" not in ids(fitted, "S5", shown)
    store.record("S2", "P5", "declined")  # the latest event wins: one place frees up
    assert "P5" in ids(fitted, "S5", store.constraints(now=T0))


def test_cli_respects_the_database_and_export_feeds_evaluate(model_file, data_dir, tmp_path):
    db = tmp_path / "o.db"
    runner = CliRunner()

    def cli(*args):
        result = runner.invoke(main, [str(a) for a in args])
        assert result.exit_code == 0, result.output + result.stderr
        return result.stdout

    first = cli("recommend", "--model", model_file, "--school", "S2", "--format", "csv", "--db", db).splitlines()[1]
    top = first.split(",")[1]
    cli("outcomes", "record", "--model", model_file, "--db", db, "--school", "S2", "--partner", top, "--status", "do_not_contact")
    again = cli("recommend", "--model", model_file, "--school", "S2", "--format", "csv", "--db", db)
    assert f",{top}," not in again
    ranked = tmp_path / "ranked.csv"
    cli("rank", "--model", model_file, "--output", ranked, "--db", db, "--quiet")
    rows = pd.read_csv(ranked, dtype=str)
    assert top not in set(rows.loc[rows["school_id"] == "S2", "partner_id"])
    assert top in set(rows.loc[rows["school_id"] != "S2", "partner_id"]) or len(rows["school_id"].unique()) == 1
    cli("outcomes", "record", "--model", model_file, "--db", db, "--school", "S1", "--partner", "P1", "--status", "partnered")
    cli("outcomes", "record", "--model", model_file, "--db", db, "--school", "S3", "--partner", "P3", "--status", "declined")
    out = tmp_path / "history.csv"
    cli("outcomes", "export", "--db", db, "--output", out)
    hist = pd.read_csv(out, dtype=str)
    assert list(hist.columns) == ["school_id", "partner_id", "outcome", "start_date"]
    assert hist[["school_id", "partner_id", "outcome"]].values.tolist() == [["S1", "P1", "1"], ["S3", "P3", "0"]]
    assert "ndcg@10" in cli("evaluate", "--model", model_file, "--history", out)
