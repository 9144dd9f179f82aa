"""Save and load fitted models: a joblib pickle plus a JSON metadata file beside it.

The metadata records versions, weights, the training files' sha256 and row
counts, and the sha256 of the model file, which is verified *before*
unpickling. Model files are pickles: load only files from a trusted source.
The sha256 guarantees integrity (the pickle is the one that was trained
with this metadata: not truncated, corrupt or swapped), not authenticity:
anyone who can write the model file can write a matching metadata file.

Every write is atomic (:mod:`matcher.files`). How a model and its metadata,
two files, are replaced so that an interrupted ``train`` always leaves a pair
that loads is described in :func:`save_model`.
"""
from __future__ import annotations

import contextlib
import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from matcher.errors import ModelFileError
from matcher.files import atomic_write, file_sha256, staged

#: Bumped whenever a saved model can no longer be read by this code.
FORMAT_VERSION = 2

_RETRAIN = "retrain it with `matcher train`"


def metadata_path(model_path: str | Path) -> Path:
    """The metadata file that goes with a model file (``matcher.joblib`` -> ``matcher.json``)."""
    p = Path(model_path)
    return p.with_name(p.stem + ".json") if p.suffix != ".json" else p.with_name(p.name + ".meta.json")


def pending_metadata_path(model_path: str | Path) -> Path:
    """Where :func:`save_model` puts the new metadata while the new model moves into place."""
    meta = metadata_path(model_path)
    return meta.with_name(meta.name + ".pending")


def _versions() -> dict[str, str]:
    import numpy
    import pandas
    import sklearn

    from matcher import __version__

    return {
        "matcher": __version__,
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "python": platform.python_version(),
    }


def save_model(model: Any, path: str | Path, training_files: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Save a fitted model and its metadata atomically; return the metadata.

    Two files cannot be replaced in one step, so the order is chosen so that
    a run killed at any moment leaves a model that loads, the old or the new:

    1. the new model is written to a temporary file and its sha256 taken;
    2. the new metadata (naming that sha256) is written to ``NAME.json.pending``
       -- the old model and old metadata still verify;
    3. the new model moves into place -- now the *pending* metadata is the one
       that verifies, and :func:`read_metadata` picks it;
    4. the pending metadata moves to ``NAME.json``.

    Loading accepts the metadata, of the two, whose sha256 matches the model
    file; a stale pending file (killed between 2 and 3) matches nothing and
    is replaced by the next save.

    Parameters
    ----------
    model : PartnerMatcher
        A fitted model.
    path : str or Path
        Target ``.joblib`` file; the metadata goes to :func:`metadata_path`.
    training_files : dict, optional
        ``{"schools": {"path": ..., "sha256": ..., "rows": ...}, ...}``.
    """
    import joblib

    target = Path(path)
    pending = pending_metadata_path(target)
    meta: dict[str, Any] = {}
    try:
        with staged(target) as tmp:  # step 3 happens when this block ends
            joblib.dump(model, tmp)
            meta = {
                "format_version": FORMAT_VERSION,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "versions": _versions(),
                "weights": model.weights_,
                "geo_length_km": model.geo_length_km,
                "default_radius_km": model.default_radius_km,
                "encoder": model.featurizer_.encoder_info,
                "n_schools": len(model.school_ids_),
                "n_partners": len(model.partner_ids_),
                "n_history": int(getattr(model, "n_history_", 0)),
                "n_categories": len(model.featurizer_.category_slugs),
                "training_files": training_files or {},
                "model_file": target.name,
                "model_sha256": file_sha256(tmp),
            }
            with atomic_write(pending, "w") as fh:
                json.dump(meta, fh, indent=2)
                fh.write("\n")
    except BaseException:
        with contextlib.suppress(OSError):
            if meta and target.exists() and file_sha256(target) == meta["model_sha256"]:
                os.replace(pending, metadata_path(target))  # interrupted just after step 3: finish
            else:
                pending.unlink()  # the model did not move: the pending file describes nothing
        raise
    os.replace(pending, metadata_path(target))
    return meta


def _load_metadata(meta_file: Path, target: Path) -> dict[str, Any]:
    """One metadata file, read and checked."""
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(f"{meta_file}: the model's metadata file is missing; {_RETRAIN}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{meta_file}: the model's metadata file is unreadable ({exc}); {_RETRAIN}") from None
    if not isinstance(meta, dict) or "model_sha256" not in meta:
        raise ModelFileError(f"{meta_file}: not a matcher metadata file; {_RETRAIN}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{target}: made by an incompatible version of matcher (model format "
            f"{meta.get('format_version')!r}, this version reads {FORMAT_VERSION}); {_RETRAIN}"
        )
    return meta


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Read and check a model's metadata file, without unpickling the model.

    Normally this reads ``NAME.json`` only. When a save was interrupted after
    the new model moved into place (see :func:`save_model`), a pending
    metadata file is left too; then the model file is hashed and the
    metadata that matches it is returned.
    """
    target = Path(path)
    if not target.exists():
        raise ModelFileError(f"{target}: no model file here; {_RETRAIN} (or give the `model` path)")
    if target.is_dir():
        raise ModelFileError(f"{target}: is a directory, not a model file")
    pending = pending_metadata_path(target)
    if pending.exists():
        try:
            candidate = _load_metadata(pending, target)
        except ModelFileError:
            candidate = None
        if candidate is not None and candidate["model_sha256"] == file_sha256(target):
            return candidate
    return _load_metadata(metadata_path(target), target)


def load_model(path: str | Path) -> Any:
    """Load a model after checking its metadata and sha256.

    Raises
    ------
    ModelFileError
        When the file is missing, truncated, corrupt, tampered with or incompatible.
    """
    import pickle

    import joblib

    target = Path(path)
    meta = read_metadata(target)
    if file_sha256(target) != meta["model_sha256"]:
        raise ModelFileError(
            f"{target}: the model file does not match its metadata (sha256 differs: truncated, "
            f"corrupt or changed since training); {_RETRAIN}"
        )
    try:
        model = joblib.load(target)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise ModelFileError(f"{target}: cannot load the model ({type(exc).__name__}: {exc}); {_RETRAIN}") from None
    if type(model).__name__ != "PartnerMatcher" or not hasattr(model, "partners_"):
        raise ModelFileError(f"{target}: not a fitted matcher model; {_RETRAIN}")
    return model
