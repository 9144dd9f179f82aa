"""Saving and loading models: round trip, and every kind of bad model file is a clear error."""
from __future__ import annotations

import json
import shutil

import pytest

from matcher.errors import ModelFileError
from matcher.files import file_sha256
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

    joblib.dump({"not": "a model"}, copy)
    meta = json.loads(metadata_path(copy).read_text())
    meta["model_sha256"] = file_sha256(copy)
    metadata_path(copy).write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="not a fitted matcher model"):
        load_model(copy)


# --------------------------------------------------------------------------- interrupted saves

_KILLED_SAVE = """
import os, sys
import matcher.persistence as persistence
model = persistence.load_model(sys.argv[1])
model.marker_ = "new"
point, calls, real = sys.argv[2], [0], os.replace
def replace(src, dst):
    if point.isdigit() and calls[0] == int(point):
        os._exit(137)  # as SIGKILL: no cleanup runs
    real(src, dst)
    calls[0] += 1
os.replace = replace
if point == "dump":
    import joblib
    def dump(obj, path):
        with open(path, "wb") as fh:
            fh.write(b"half a model")
        os._exit(137)
    joblib.dump = dump
persistence.save_model(model, sys.argv[1])
"""


def _save_killed_at(path, point):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _KILLED_SAVE, str(path), str(point)], capture_output=True, text=True)
    assert done.returncode in (0, 137), done.stderr


@pytest.mark.parametrize("point, survivor", [(0, "old"), (1, "old"), (2, "new"), ("never", "new")],
                         ids=["before-metadata", "after-metadata", "after-model", "complete"])
def test_interrupted_train_always_leaves_a_loadable_model(copy, point, survivor):
    # os.replace calls in save_model: 0 the pending metadata, 1 the model, 2 the metadata.
    _save_killed_at(copy, point)
    model = load_model(copy)
    assert getattr(model, "marker_", "old") == survivor
    assert read_metadata(copy)["model_sha256"] == file_sha256(copy)


def test_stale_pending_metadata_is_ignored_and_replaced(copy, fitted):
    from matcher.persistence import pending_metadata_path, save_model

    pending = pending_metadata_path(copy)
    pending.write_text(json.dumps({**json.loads(metadata_path(copy).read_text()), "model_sha256": "0" * 64}))
    assert load_model(copy) is not None  # the old pair still verifies
    save_model(fitted, copy)
    assert not pending.exists() and load_model(copy) is not None


def test_orphan_temp_files_of_a_killed_train_are_removed_by_the_next_run(copy, fitted, monkeypatch):
    import os
    import time

    import matcher.files as files
    import matcher.persistence as persistence

    _save_killed_at(copy, "dump")
    orphans = list(copy.parent.glob(f".{copy.name}.*.tmp"))
    assert len(orphans) == 1  # what kill -9 leaves
    assert load_model(copy) is not None  # the old model is untouched
    running = copy.parent / f".{copy.name}.{os.getppid()}-busy.tmp"  # a concurrent train's file: kept
    running.write_bytes(b"")
    old = time.time() - 3600
    for f in [*orphans, running]:
        os.utime(f, (old, old))
    monkeypatch.setattr(files, "_STARTED", time.time())  # the next run starts after the kill
    persistence.save_model(fitted, copy)
    assert not any(f.exists() for f in orphans)
    assert running.exists()
    assert list(copy.parent.glob(f".{copy.name}.*.tmp")) == [running]


def test_full_disk_message_names_the_file_and_keeps_the_old_model(copy, data_dir, monkeypatch):
    import errno

    import joblib
    from click.testing import CliRunner

    from matcher.cli import main

    before = copy.read_bytes()

    def full(obj, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(joblib, "dump", full)
    result = CliRunner().invoke(main, ["train", "--schools", str(data_dir / "schools.csv"),
                                       "--partners", str(data_dir / "partners.csv"), "--model", str(copy)])
    assert result.exit_code == 1
    assert result.stderr == f"Error: {copy}: No space left on device\n"
    assert copy.read_bytes() == before and load_model(copy) is not None
    assert not list(copy.parent.glob(".*.tmp"))


@pytest.mark.parametrize("command", ["rank", "assign", "export"])
def test_full_disk_message_names_the_output_file(model_file, tmp_path, monkeypatch, command):
    import errno
    import os

    from click.testing import CliRunner

    from matcher.cli import main
    from matcher.state import OutreachStore

    out = tmp_path / "out.csv"
    out.write_text("the old file\n")
    db = tmp_path / "o.db"
    OutreachStore(db).record("S1", "P1", "partnered")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    args = {"rank": ["rank", "--model", str(model_file), "--output", str(out), "--quiet", "--db", str(db)],
            "assign": ["assign", "--model", str(model_file), "--output", str(out), "--db", str(db)],
            "export": ["outcomes", "export", "--db", str(db), "--output", str(out)]}[command]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert str(out) in result.stderr and "No space left on device" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert out.read_text() == "the old file\n"  # nothing half-written replaced it
