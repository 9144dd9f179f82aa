"""Match strength in words (strong / good / possible): one table of thresholds, everywhere the score is."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from matcher import config
from matcher.cli import main
from matcher.matches import strength


@pytest.mark.parametrize("score, label", [
    (1.0, "strong"), (config.STRENGTH_THRESHOLDS["strong"], "strong"), (0.5999, "good"),
    (config.STRENGTH_THRESHOLDS["good"], "good"), (0.4499, "possible"), (0.0, "possible"), (-0.1, "possible"),
])
def test_labels_follow_the_thresholds(score, label):
    assert config.STRENGTH_THRESHOLDS == {"strong": 0.60, "good": 0.45, "possible": 0.0}
    assert strength(score) == label


def test_other_thresholds_and_the_last_label_below_all():
    table = {"high": 0.8, "low": 0.3}
    assert [strength(x, table) for x in (0.9, 0.5, 0.1)] == ["high", "low", "low"]


def test_every_suggestion_says_its_strength(model_file):
    result = CliRunner().invoke(main, ["recommend", "--model", str(model_file), "--school", "S2", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows and all(r["strength"] == strength(r["score"]) for r in rows)
    assert rows[0]["strength"] == "strong"  # counselling for a grieving school
