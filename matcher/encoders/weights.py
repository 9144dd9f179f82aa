"""Encoder weights on disk: safetensors files read and written with the ``safetensors`` package.

Reading checks the file's sha256 first when one is expected; every problem
is an :class:`~matcher.errors.EncoderError` naming the file.

The package writes a header's metadata in a different order from run to run,
so :func:`write_weights` stores its metadata as one sorted JSON value (under
:data:`METADATA_KEY`), which :func:`read_weights` unpacks: the same tensors
and metadata always give the same bytes.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from matcher.errors import EncoderError
from matcher.files import atomic_write

#: The one metadata key :func:`write_weights` uses (its value: the metadata as sorted JSON).
METADATA_KEY = "matcher_metadata_json"


def read_weights(
    path: str | os.PathLike, expected_sha256: str | None = None
) -> tuple[dict[str, np.ndarray], dict[str, str], str]:
    """Tensors, metadata and sha256 of a safetensors file.

    Parameters
    ----------
    path : path-like
    expected_sha256 : str, optional
        When given, the file's sha256 must equal it (checked before parsing).

    Raises
    ------
    EncoderError
        Missing or unreadable file, sha256 mismatch, or not a valid safetensors file.
    """
    import safetensors
    import safetensors.numpy

    path = Path(path)
    try:
        buf = path.read_bytes()
    except FileNotFoundError:
        raise EncoderError(f"{path}: weights file is missing") from None
    except OSError as exc:
        raise EncoderError(f"{path}: cannot read weights file ({exc.strerror or exc})") from None
    digest = hashlib.sha256(buf).hexdigest()
    if expected_sha256 is not None and digest != expected_sha256:
        raise EncoderError(
            f"{path}: sha256 mismatch (expected {expected_sha256}, found {digest}); "
            "the file is corrupt or was modified: reinstall matcher"
        )
    try:
        tensors = safetensors.numpy.load(buf)
        with safetensors.safe_open(str(path), framework="np") as fh:
            metadata = dict(fh.metadata() or {})
        if set(metadata) == {METADATA_KEY}:
            metadata = json.loads(metadata[METADATA_KEY])
    except Exception as exc:  # the package raises SafetensorError, and TypeError for dtypes numpy lacks
        raise EncoderError(f"{path}: not a valid safetensors file ({exc})") from None
    return tensors, metadata, digest


def write_weights(path: str | os.PathLike, tensors: Mapping[str, np.ndarray],
                  metadata: Mapping[str, str] | None = None) -> str:
    """Write tensors as a safetensors file, atomically; returns the file's sha256."""
    import safetensors.numpy

    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    data = safetensors.numpy.save({k: np.ascontiguousarray(v) for k, v in tensors.items()},
                                  metadata={METADATA_KEY: json.dumps(meta, sort_keys=True)} if meta else None)
    with atomic_write(path) as fh:
        fh.write(data)
    return hashlib.sha256(data).hexdigest()
