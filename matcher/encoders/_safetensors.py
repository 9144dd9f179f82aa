"""A small reader and writer of the safetensors format, in numpy only.

The format: 8 bytes little-endian unsigned header length ``n``; ``n`` bytes of
UTF-8 JSON mapping each tensor name to ``{"dtype", "shape", "data_offsets"}``
(offsets relative to the start of the data, which follows the header) plus an
optional ``"__metadata__"`` mapping of str to str; then the raw little-endian
tensor data.  See https://github.com/huggingface/safetensors (format only; this
module does not use that package).

Every problem with a file is reported as :class:`matcher.errors.EncoderError`
naming the file.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import EncoderError

__all__ = ["read_safetensors", "write_safetensors", "parse_safetensors", "sha256_file"]

#: safetensors dtype name -> numpy dtype (little-endian).  BF16 is read as
#: uint16 and widened to float32 by :func:`_bf16_to_f32`.
_DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_NAMES = {
    np.dtype("<f8"): "F64",
    np.dtype("<f4"): "F32",
    np.dtype("<f2"): "F16",
    np.dtype("<i8"): "I64",
    np.dtype("<i4"): "I32",
    np.dtype("<i2"): "I16",
    np.dtype("i1"): "I8",
    np.dtype("<u8"): "U64",
    np.dtype("<u4"): "U32",
    np.dtype("<u2"): "U16",
    np.dtype("u1"): "U8",
    np.dtype("?"): "BOOL",
}
_MAX_HEADER = 100 * 1024 * 1024  # the reference implementation's limit


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _bf16_to_f32(a: np.ndarray) -> np.ndarray:
    return (a.astype(np.uint32) << 16).view(np.float32)


def parse_safetensors(
    buf: bytes | bytearray | memoryview, name: str
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Parse a whole safetensors file held in memory.

    Parameters
    ----------
    buf : bytes-like
        The file's bytes.
    name : str
        The file's name, used in error messages.

    Returns
    -------
    tensors : dict of str to numpy.ndarray
        Read-only views into ``buf`` (BF16 tensors are converted to float32).
    metadata : dict of str to str

    Raises
    ------
    EncoderError
        Truncated file, bad header, unknown dtype, offsets that do not match the
        shapes, overlapping or out-of-range data.
    """
    size = len(buf)
    if size < 8:
        raise EncoderError(f"{name}: not a safetensors file (only {size} bytes)")
    n = int.from_bytes(bytes(buf[:8]), "little")
    if n < 2 or n > _MAX_HEADER:
        raise EncoderError(f"{name}: not a safetensors file (header length {n} is implausible)")
    if 8 + n > size:
        raise EncoderError(
            f"{name}: truncated safetensors file (header needs {8 + n} bytes, file has {size})"
        )
    try:
        header = json.loads(bytes(buf[8 : 8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EncoderError(f"{name}: corrupt safetensors header ({exc})") from None
    if not isinstance(header, dict):
        raise EncoderError(f"{name}: corrupt safetensors header (not a JSON object)")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise EncoderError(f"{name}: corrupt safetensors header (__metadata__ must map str to str)")
    data_len = size - 8 - n
    mv = memoryview(buf)[8 + n :]
    tensors: dict[str, np.ndarray] = {}
    spans = []
    for key, info in header.items():
        try:
            dtype_name = info["dtype"]
            shape = info["shape"]
            begin, end = info["data_offsets"]
            ok = (
                isinstance(dtype_name, str)
                and isinstance(shape, list)
                and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
                and isinstance(begin, int)
                and isinstance(end, int)
            )
        except (TypeError, KeyError, ValueError):
            ok = False
        if not ok:
            raise EncoderError(f"{name}: corrupt safetensors header (bad entry for tensor {key!r})")
        if dtype_name not in _DTYPES:
            raise EncoderError(f"{name}: tensor {key!r} has unsupported dtype {dtype_name!r}")
        dt = _DTYPES[dtype_name]
        count = 1
        for d in shape:
            count *= d
        if not 0 <= begin <= end or end - begin != count * dt.itemsize:
            raise EncoderError(
                f"{name}: corrupt safetensors header (tensor {key!r}: offsets {begin}..{end} "
                f"do not match shape {shape} of {dtype_name})"
            )
        if end > data_len:
            raise EncoderError(
                f"{name}: truncated safetensors file (tensor {key!r} needs bytes up to {end}, "
                f"data has {data_len})"
            )
        spans.append((begin, end, key))
        arr = np.frombuffer(mv[begin:end], dtype=dt).reshape(tuple(shape))
        if dtype_name == "BF16":
            arr = _bf16_to_f32(arr)
        tensors[key] = arr
    spans.sort()
    pos = 0
    for begin, end, key in spans:
        if begin < pos:
            raise EncoderError(f"{name}: corrupt safetensors header (tensor {key!r} overlaps another)")
        pos = end
    if pos != data_len:
        raise EncoderError(
            f"{name}: corrupt safetensors file ({data_len - pos} bytes after the last tensor)"
        )
    return tensors, metadata


def read_safetensors(
    path: str | os.PathLike, expected_sha256: str | None = None
) -> tuple[dict[str, np.ndarray], dict[str, str], str]:
    """Read a safetensors file.

    Parameters
    ----------
    path : path-like
    expected_sha256 : str, optional
        When given, the file's sha256 must equal it.

    Returns
    -------
    tensors : dict of str to numpy.ndarray
    metadata : dict of str to str
    sha256 : str
        Hex sha256 of the file as stored.

    Raises
    ------
    EncoderError
        Missing or unreadable file, sha256 mismatch, or any format problem.
    """
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
    tensors, metadata = parse_safetensors(buf, str(path))
    return tensors, metadata, digest


def write_safetensors(
    path: str | os.PathLike,
    tensors: Mapping[str, np.ndarray],
    metadata: Mapping[str, str] | None = None,
) -> str:
    """Write tensors as a safetensors file, in the given order.

    The header is padded with spaces to a multiple of 8 bytes, as the reference
    writer does, so the data is aligned.  Output is deterministic: the same
    tensors and metadata give the same bytes.

    Returns
    -------
    str
        Hex sha256 of the written file.
    """
    header: dict[str, object] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    arrays = []
    offset = 0
    for key, arr in tensors.items():
        a = np.asarray(arr)
        dt = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
        if dt not in _NAMES:
            raise ValueError(f"tensor {key!r}: dtype {a.dtype} cannot be written as safetensors")
        a = np.asarray(a, dtype=dt, order="C")  # (ascontiguousarray would make 0-d arrays 1-d)
        header[key] = {
            "dtype": _NAMES[dt],
            "shape": list(a.shape),
            "data_offsets": [offset, offset + a.nbytes],
        }
        offset += a.nbytes
        arrays.append(a)
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-(8 + len(raw)) % 8)
    h = hashlib.sha256()
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        for chunk in (len(raw).to_bytes(8, "little"), raw, *(a.tobytes() for a in arrays)):
            f.write(chunk)
            h.update(chunk)
    os.replace(tmp, path)
    return h.hexdigest()
