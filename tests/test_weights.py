import json

import pytest

from matcher.config import BLOCKS, DEFAULT_WEIGHTS
from matcher.errors import WeightsError
from matcher.weights import check_weights, merge_weights, parse_weight_options, read_weights_file


def test_defaults_cover_every_block_and_are_positive():
    assert set(DEFAULT_WEIGHTS) == set(BLOCKS)
    assert all(w >= 0 for w in DEFAULT_WEIGHTS.values()) and sum(DEFAULT_WEIGHTS.values()) > 0


@pytest.mark.parametrize(
    "weights, message",
    [
        ({"txt": 1}, "unknown block 'txt'"),
        ({"text": -1}, "must be a non-negative number"),
        ({"text": "a"}, "must be a number"),
        ({"text": float("nan")}, "must be a non-negative number"),
        ({"text": True}, "must be a number"),
    ],
)
def test_check_weights_rejects(weights, message):
    with pytest.raises(WeightsError, match=message):
        check_weights(weights)


def test_merge_keeps_unlisted_blocks_and_refuses_all_zero():
    merged = merge_weights(DEFAULT_WEIGHTS, {"text": 0.9})
    assert merged["text"] == 0.9 and merged["geo"] == DEFAULT_WEIGHTS["geo"]
    with pytest.raises(WeightsError, match="at least one block"):
        merge_weights({b: 0 for b in BLOCKS})


def test_read_json_and_toml_and_tune_format(tmp_path):
    j = tmp_path / "w.json"
    j.write_text(json.dumps({"text": 0.5, "geo": 0.5}))
    assert read_weights_file(j) == {"text": 0.5, "geo": 0.5}
    t = tmp_path / "w.toml"
    t.write_text("text = 0.25\ncategories = 0.75\n")
    assert read_weights_file(t) == {"text": 0.25, "categories": 0.75}
    nested = tmp_path / "tuned.json"
    nested.write_text(json.dumps({"weights": {"text": 1}, "objective": "ndcg@10"}))
    assert read_weights_file(nested) == {"text": 1.0}


@pytest.mark.parametrize(
    "content, message",
    [("{not json", "not valid JSON or TOML"), ("[1, 2]", "expected a mapping"), ('{"foo": 1}', "unknown block 'foo'")],
)
def test_read_bad_files(tmp_path, content, message):
    p = tmp_path / "w.json"
    p.write_text(content)
    with pytest.raises(WeightsError, match=message):
        read_weights_file(p)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(WeightsError, match="nope.json: cannot read weights file"):
        read_weights_file(tmp_path / "nope.json")


def test_parse_weight_options():
    assert parse_weight_options(["text=1", "geo=0.5"]) == {"text": 1.0, "geo": 0.5}
    with pytest.raises(WeightsError, match="expected BLOCK=VALUE"):
        parse_weight_options(["text"])
    with pytest.raises(WeightsError, match="unknown block"):
        parse_weight_options(["colour=1"])


def test_weights_that_overflow_when_summed_are_refused(data_dir, model_file, tmp_path):
    from click.testing import CliRunner

    from matcher.cli import main

    with pytest.raises(WeightsError, match="add up to more than the largest number"):
        merge_weights(DEFAULT_WEIGHTS, {"text": 1e308, "geo": 1e308})
    weights_file = tmp_path / "huge.toml"
    weights_file.write_text("text = 1e308\ngeo = 1e308\n")
    huge = ["--weights", str(weights_file)]
    target = tmp_path / "m.joblib"
    result = CliRunner().invoke(main, ["train", "--schools", str(data_dir / "schools.csv"),
                                       "--partners", str(data_dir / "partners.csv"), "--model", str(target), *huge])
    assert result.exit_code == 1 and not target.exists()
    assert result.stderr.startswith("Error: weights: the block weights add up to more than the largest number")
    result = CliRunner().invoke(main, ["recommend", "--model", str(model_file), "--school", "S1", *huge])
    assert result.exit_code == 1 and "add up to more than the largest number" in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_weight_options_are_plain_decimals_so_five_always_add_up_to_a_finite_sum():
    import re

    from matcher.weights import WEIGHT_OPTION

    assert parse_weight_options(["text=999999999999999.999999999999999e99", " geo = .5 "])["geo"] == 0.5
    for item in ["text=1e308", "text=1_000", "text=\u0661", "text=0x10"]:
        assert not re.fullmatch(WEIGHT_OPTION, item)
        with pytest.raises(WeightsError, match="must be a (plain decimal |non-negative )?number"):
            parse_weight_options([item])
