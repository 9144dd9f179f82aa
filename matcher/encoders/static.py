"""The "static" encoder: WordLlama's pretrained static token vectors, mean-pooled.

WordLlama (MIT, https://github.com/dleemiller/WordLlama) ships in its wheel a
16 MB ``weights/l2_supercat_256.safetensors`` (32000 x 256 float16 token
vectors) and the matching tokenizer ``tokenizers/l2_supercat_tokenizer_config.json``.
We use those two files directly: ``WordLlama.load()`` is never called, because
it may try the network, and in 0.4.0 its offline path looks for the tokenizer
under ``tokenizer/`` while the wheel ships ``tokenizers/``.  The package is not
even imported (its import configures logging); its files are found with
``importlib.util.find_spec``.

An embedding is the mean of the text's token vectors (no special tokens, as
WordLlama does), L2-normalised; an empty text gives a zero row.  This equals
WordLlama's own ``embed(texts, norm=True)`` exactly.  A smooth
inverse-frequency weighting ``a / (a + p(rank))`` with Zipf ``p`` from the
token id (the vocabulary is roughly in frequency order) was measured against
the plain mean: Spearman correlation of pairwise similarities with MiniLM's on
300 needs/offers sentences 0.740 (mean) vs 0.736 / 0.742 / 0.741 for
a = 1e-4 / 1e-3 / 1e-2, i.e. no gain, so the simpler plain mean is kept.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import EncoderError
from .weights import read_weights

__all__ = ["StaticEncoder", "load_static", "wordllama_files", "EXTRA_MESSAGE"]

EXTRA_MESSAGE = "the static encoder needs the optional extra: pip install 'matcher[static]'"
_WEIGHTS = "weights/l2_supercat_256.safetensors"
_TOKENIZER = "tokenizers/l2_supercat_tokenizer_config.json"


def wordllama_files() -> tuple[Path, Path]:
    """Paths of the installed wordllama's weights and tokenizer files.

    Raises
    ------
    EncoderError
        wordllama is not installed (with the install hint), or a file is missing.
    """
    try:
        spec = importlib.util.find_spec("wordllama")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise EncoderError(EXTRA_MESSAGE)
    root = Path(next(iter(spec.submodule_search_locations)))
    weights, tok = root / _WEIGHTS, root / _TOKENIZER
    for p in (weights, tok):
        if not p.is_file():
            raise EncoderError(
                f"{p}: missing from the installed wordllama package; reinstall it: pip install 'matcher[static]'"
            )
    return weights, tok


class StaticEncoder:
    """Mean of static token vectors, L2-normalised.

    Attributes
    ----------
    name : str
        ``"static"``.
    dim : int
        256.
    sha256 : str
        Hex sha256 of the weights file as stored.
    """

    def __init__(self, table: np.ndarray, tokenizer, sha256: str, name: str = "static") -> None:
        self.name = name
        self.sha256 = sha256
        self.dim = int(table.shape[1])
        self._table = np.ascontiguousarray(table, dtype=np.float32)
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self._tokenizer = tokenizer

    def __repr__(self) -> str:
        return f"<StaticEncoder {self.name!r} dim={self.dim}>"

    def encode(self, texts: Sequence[str], batch_size: int = 1024) -> np.ndarray:
        """float32 ``(len(texts), dim)``, rows L2-normalised (zero for a text with no tokens).

        ``batch_size`` only bounds how many texts are tokenized at once.
        """
        from .bert import check_texts

        texts = check_texts(texts)
        n = len(texts)
        out = np.zeros((n, self.dim), dtype=np.float32)
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        vmax = self._table.shape[0] - 1
        for b0 in range(0, n, batch_size):
            encs = self._tokenizer.encode_batch(texts[b0 : b0 + batch_size], add_special_tokens=False)
            lens = np.fromiter((len(e.ids) for e in encs), dtype=np.int64, count=len(encs))
            nz = np.flatnonzero(lens)
            if nz.size == 0:
                continue
            ids = np.fromiter((i for e in encs for i in e.ids), dtype=np.int64, count=int(lens.sum()))
            np.clip(ids, 0, vmax, out=ids)
            starts = np.concatenate(([0], np.cumsum(lens)[:-1]))[nz]
            sums = np.add.reduceat(self._table[ids], starts, axis=0)
            out[b0 + nz] = sums / lens[nz, None]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.maximum(norms, 1e-12, out=norms)
        out /= norms
        return out


def load_static() -> StaticEncoder:
    """Load the static encoder from the installed wordllama package's files.

    Raises
    ------
    EncoderError
        wordllama missing (install hint), or its files missing or corrupt.
    """
    weights, tok_path = wordllama_files()
    tensors, _, digest = read_weights(weights)
    table = tensors.get("embedding.weight")
    if table is None or table.ndim != 2 or table.dtype.kind != "f":
        raise EncoderError(f"{weights}: expected a 2-D floating tensor 'embedding.weight'")
    from tokenizers import Tokenizer  # lazy import

    try:
        tok = Tokenizer.from_file(str(tok_path))
    except Exception as exc:
        raise EncoderError(f"{tok_path}: cannot load tokenizer ({exc})") from None
    if tok.get_vocab_size(with_added_tokens=True) > table.shape[0]:
        raise EncoderError(f"{tok_path}: tokenizer vocabulary is larger than the weights table in {weights}")
    table = table.astype(np.float32)
    if not np.isfinite(table).all():
        raise EncoderError(f"{weights}: non-finite values (corrupt file)")
    return StaticEncoder(table, tok, digest)
