"""Sentence encoders: texts to L2-normalised float32 vectors, offline, on CPU.

Public API::

    from matcher.encoders import load_encoder
    enc = load_encoder("minilm")          # the shipped default
    vecs = enc.encode(["free tutoring after school", "food pantry"])  # (2, 384) float32

Specs accepted by :func:`load_encoder`:

``"minilm"``
    all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0), shipped in the
    package as float16 weights (``matcher/encoders/minilm/``), run by a numpy
    BERT forward pass (:mod:`matcher.encoders.bert`).  384 dimensions.
``"static"``
    WordLlama's static token vectors (256 dimensions), mean-pooled; needs the
    optional extra ``pip install 'matcher[static]'`` (:mod:`matcher.encoders.static`).
a folder path
    A sentence-transformers BERT-family folder: ``config.json``,
    ``model.safetensors``, ``tokenizer.json``, optionally
    ``1_Pooling/config.json`` (mean or cls pooling), ``modules.json`` and
    ``sentence_bert_config.json``.

Nothing here contacts a network; neither torch nor sentence-transformers is
used.  Loaded encoders are cached per spec in the process.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..errors import EncoderError

if TYPE_CHECKING:  # keep numpy out of the import-time path of the CLI
    import numpy as np

__all__ = [
    "Encoder",
    "load_encoder",
    "load_minilm",
    "clear_cache",
    "MINILM_DIR",
    "MINILM_WEIGHTS",
    "MINILM_SHA256",
    "EncoderError",
]

#: The shipped default model's folder inside the package.
MINILM_DIR = Path(__file__).resolve().parent / "minilm"
#: Its weights file (float16 safetensors).
MINILM_WEIGHTS = "model.fp16.safetensors"
#: sha256 of the shipped weights file; checked at every load.
MINILM_SHA256 = "54f6551eace3cd2e824c46aa6a489472460e09bfafa740418dfa3cbdc45b50af"


@runtime_checkable
class Encoder(Protocol):
    """What every encoder offers."""

    name: str
    dim: int
    sha256: str

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """float32 array of shape ``(len(texts), dim)`` with L2-normalised rows."""
        ...


_cache: dict[str, Encoder] = {}
_lock = threading.Lock()


def load_minilm(folder: str | os.PathLike | None = None, *, expected_sha256: str = MINILM_SHA256) -> Encoder:
    """Load the shipped all-MiniLM-L6-v2 (uncached).

    Parameters
    ----------
    folder : path, optional
        Where the shipped files are; default :data:`MINILM_DIR`.  Tests point
        it at a copy to check that a tampered file is refused.
    expected_sha256 : str
        The weights must have this sha256, else :class:`EncoderError`.
    """
    from .bert_load import load_bert

    root = Path(folder) if folder is not None else MINILM_DIR
    return load_bert(
        weights=root / MINILM_WEIGHTS,
        config=root / "config.json",
        tokenizer=root / "tokenizer.json",
        pooling=root / "pooling_config.json",
        modules=root / "modules.json",
        sentence_config=root / "sentence_bert_config.json",
        name="minilm",
        expected_sha256=expected_sha256,
    )


def load_encoder(spec: str = "minilm") -> Encoder:
    """Load (or return the cached) encoder for ``spec``.

    Parameters
    ----------
    spec : str
        ``"minilm"`` (default), ``"static"``, or a path to a
        sentence-transformers BERT folder.

    Returns
    -------
    Encoder
        With ``name``, ``dim``, ``sha256`` and ``encode(texts, batch_size)``.

    Raises
    ------
    EncoderError
        Unknown spec; missing, incomplete or corrupt files (named in the
        message); the shipped weights' sha256 does not match; the static
        encoder's optional dependency is not installed.
    """
    if not isinstance(spec, str) or not spec:
        raise EncoderError(f"encoder spec must be a non-empty string, got {spec!r}")
    if spec in ("minilm", "static"):
        key = spec
    else:
        path = Path(spec).expanduser()
        if not path.exists():
            raise EncoderError(
                f"{spec}: no such encoder folder (use 'minilm', 'static' or a sentence-transformers folder)"
            )
        key = str(path.resolve())
    with _lock:
        enc = _cache.get(key)
        if enc is None:
            if key == "minilm":
                enc = load_minilm()
            elif key == "static":
                from .static import load_static

                enc = load_static()
            else:
                from .bert_load import load_bert_folder

                enc = load_bert_folder(key)
            _cache[key] = enc
    return enc


def clear_cache() -> None:
    """Forget all loaded encoders (tests use this)."""
    with _lock:
        _cache.clear()
