"""Saving and loading models: round trip, and every kind of bad model file is a clear error."""
from __future__ import annotations

import json
import shutil

import pytest

from matcher.errors import ModelFileError
from matcher.persistence import load_model, metadata_path, read_metadata


@pytest.fixture
def copy(model_file, tmp_path):
    target = tmp_path / "m.joblib"
    shutil.copy(model_file, target)
    shutil.copy(metadata_path(model_file), metadata_path(target))
    return target


def test_round_trip_gives_the_same_answers(fitted, copy):
    loaded = load_model(copy)
    for sid in ["S1", "S2", "S3"]:
        assert [m.to_dict() for m in loaded.recommend(sid)] == [m.to_dict() for m in fitted.recommend(sid)]


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "does not match its metadata"),
        (lambda p: p.write_bytes(b"\x00" * 100), "does not match its metadata"),
        (lambda p: p.write_bytes(p.read_bytes()[:-1] + b"x"), "does not match its metadata"),
        (lambda p: metadata_path(p).unlink(), "metadata file is missing"),
        (lambda p: metadata_path(p).write_text("{oops"), "metadata file is unreadable"),
        (lambda p: p.unlink(), "no model file here"),
    ],
    ids=["truncated", "corrupt", "tampered", "no-metadata", "bad-metadata", "missing"],
)
def test_bad_model_files_say_retrain(copy, damage, message):
    damage(copy)
    with pytest.raises(ModelFileError, match=message) as info:
        load_model(copy)
    assert "retrain" in str(info.value)


def test_incompatible_format_version(copy):
    meta = json.loads(metadata_path(copy).read_text())
    meta["format_version"] = 999
    metadata_path(copy).write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="incompatible version of matcher"):
        read_metadata(copy)


def test_pickle_that_is_not_a_model_is_refused(copy):
    import joblib

    from matcher.persistence import file_sha256

    joblib.dump({"not": "a model"}, copy)
    meta = json.loads(metadata_path(copy).read_text())
    meta["model_sha256"] = file_sha256(copy)
    metadata_path(copy).write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="not a fitted matcher model"):
        load_model(copy)
