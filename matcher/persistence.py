"""Save and load fitted models: a joblib pickle plus a JSON metadata file beside it.

The metadata records versions, weights, the training files' sha256 and row
counts, and the sha256 of the model file, which is verified *before*
unpickling. Model files are pickles: load only files from a trusted source.
Every write goes to a temporary file in the target folder and is moved into
place with ``os.replace``, so a failed or interrupted write leaves any
existing model as it was.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from matcher.errors import ModelFileError

#: Bumped whenever a saved model can no longer be read by this code.
FORMAT_VERSION = 2

_RETRAIN = "retrain it with `matcher train`"


def metadata_path(model_path: str | Path) -> Path:
    """The metadata file that goes with a model file (``matcher.joblib`` -> ``matcher.json``)."""
    p = Path(model_path)
    return p.with_name(p.stem + ".json") if p.suffix != ".json" else p.with_name(p.name + ".meta.json")


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _umask_mode() -> int:
    """The mode a new file gets from the user's umask (mkstemp would give 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def _staged(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path``, moved into place only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Write to a temporary file beside ``path``; move it into place only if the block succeeds."""
    with _staged(path) as tmp, open(tmp, mode) as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


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
    with _staged(target) as tmp:  # the model moves into place last, after its metadata
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
        with atomic_write(metadata_path(target), "w") as fh:
            json.dump(meta, fh, indent=2)
            fh.write("\n")
    return meta


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Read and check a model's metadata file, without touching the pickle."""
    target = Path(path)
    meta_file = metadata_path(target)
    if not target.exists():
        raise ModelFileError(f"{target}: no model file here; {_RETRAIN} (or pass --model PATH)")
    if target.is_dir():
        raise ModelFileError(f"{target}: is a directory, not a model file")
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
