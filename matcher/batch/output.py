"""Writing a batch ranking to CSV, JSON Lines or parquet, atomically.

CSV and JSON Lines rows are formatted with numpy, a block of rows at a time:
every field becomes a byte matrix (one row per output row) with a start and a
length per row, and the lines are assembled by scattering those bytes into one
buffer. Numbers are printed with fixed decimals, correctly rounded (as
Python's ``format(x, ".6f")``).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from matcher.config import BLOCKS, DISTANCE_DECIMALS, SCORE_DECIMALS


_Field = tuple  # (matrix uint8 (n, w), start (n,), length (n,)) or bytes (a literal)


def _int_field(v: np.ndarray) -> _Field:
    """Decimal digits of non-negative integers."""
    v = np.asarray(v, dtype=np.int64)
    n = len(v)
    nd = np.ones(n, np.int64)
    p = 10
    while n and (v >= p).any():
        nd += v >= p
        p *= 10
    width = int(nd.max()) if n else 1
    mat = np.empty((n, width), np.uint8)
    x = v.copy()
    for j in range(width - 1, -1, -1):
        mat[:, j] = 48 + x % 10
        x //= 10
    return mat, width - nd, nd


def fixed_field(x: np.ndarray, decimals: int) -> _Field:
    """``format(x, f".{decimals}f")`` of finite values, vectorised (Python formats the rare near-ties)."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    scale = 10**decimals
    y = x * scale
    v = np.rint(y)
    frac = y - np.floor(y)
    odd = (x < 0) | (np.abs(frac - 0.5) < 1e-6 + np.abs(y) * 4e-16) | ~np.isfinite(y) | (np.abs(y) > 2**62)
    v = np.where(odd, 0, v).astype(np.int64)
    ip, fp = np.divmod(v, scale)
    imat, istart, ilen = _int_field(ip)
    fmat = np.empty((n, decimals), np.uint8)
    f = fp.copy()
    for j in range(decimals - 1, -1, -1):
        fmat[:, j] = 48 + f % 10
        f //= 10
    mat = np.concatenate([imat, np.full((n, 1), ord("."), np.uint8), fmat], axis=1)
    start, length = istart, ilen + 1 + decimals
    if odd.any():
        rows = np.flatnonzero(odd)
        texts = [format(float(x[i]), f".{decimals}f").encode() for i in rows]
        return _patch((mat, start, length), rows, texts)
    return mat, start, length


def _patch(field: _Field, rows: np.ndarray, texts: list[bytes]) -> _Field:
    """The field with some rows replaced by other bytes."""
    mat, start, length = field
    width = max([mat.shape[1], *(len(t) for t in texts)])
    if width > mat.shape[1]:
        mat = np.concatenate([np.zeros((len(mat), width - mat.shape[1]), np.uint8), mat], axis=1)
        start = start + (width - field[0].shape[1])
    start, length = start.copy(), length.copy()
    for r, t in zip(rows, texts):
        mat[r, : len(t)] = np.frombuffer(t, np.uint8)
        start[r], length[r] = 0, len(t)
    return mat, start, length


def _table_field(table: tuple[np.ndarray, np.ndarray], idx: np.ndarray) -> _Field:
    """Pre-encoded strings (a byte matrix and lengths) picked by index."""
    mat, lens = table
    return mat[idx], np.zeros(len(idx), np.int64), lens[idx]


def _string_table(values: Sequence[str], fmt: str) -> tuple[np.ndarray, np.ndarray]:
    """Strings as CSV fields or JSON strings, UTF-8, in a byte matrix with lengths.

    CSV cells go through :func:`matcher.formats.neutralise` (formula injection), JSON strings as they are.
    """
    import json

    if fmt == "csv":
        from matcher.formats import neutralise

        values = [neutralise(str(v)) for v in values]
    vals = np.asarray([str(v) for v in values], dtype=str)
    try:  # plain printable ASCII without quotes, commas or backslashes: no escaping needed
        raw = np.char.encode(vals, "ascii") if len(vals) else np.zeros(0, "S1")
        width = max(1, raw.dtype.itemsize)
        mat = np.frombuffer(raw.astype(f"S{width}").tobytes(), np.uint8).reshape(len(vals), width)
        plain = bool(((mat == 0) | ((mat >= 32) & (mat < 127) & (mat != 34) & (mat != 44) & (mat != 92))).all())
    except UnicodeEncodeError:
        plain = False
    if plain:
        lens = np.char.str_len(vals).astype(np.int64) if len(vals) else np.zeros(0, np.int64)
        if fmt == "csv":
            return mat.copy(), lens
        quoted = np.full((len(vals), width + 2), 34, np.uint8)
        quoted[:, 1 : width + 1] = mat
        idx = np.arange(len(vals))
        quoted[idx, lens + 1] = 34
        return quoted, lens + 2
    encode = _csv_quote if fmt == "csv" else (lambda s: json.dumps(s, ensure_ascii=False))
    enc = [encode(str(v)).encode("utf-8") for v in values]
    width = max([1, *(len(e) for e in enc)])
    mat = np.zeros((len(enc), width), np.uint8)
    lens = np.zeros(len(enc), np.int64)
    for i, e in enumerate(enc):
        mat[i, : len(e)] = np.frombuffer(e, np.uint8)
        lens[i] = len(e)
    return mat, lens


def _csv_quote(s: str) -> str:
    """A CSV field as the csv module writes it (QUOTE_MINIMAL)."""
    if any(c in s for c in ',"\r\n'):
        return '"' + s.replace('"', '""') + '"'
    return s


def _join(fields: list, n: int) -> bytes:
    """Concatenate fields row by row into one byte string."""
    lens = np.zeros(n, np.int64)
    for f in fields:
        lens += len(f) if isinstance(f, bytes) else f[2]
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(lens, out=offsets[1:])
    buf = np.empty(int(offsets[-1]), np.uint8)
    pos = offsets[:-1].copy()
    for f in fields:
        if isinstance(f, bytes):
            for j, byte in enumerate(f):
                buf[pos + j] = byte
            pos += len(f)
            continue
        mat, start, length = f
        cols = np.arange(mat.shape[1])[None, :]
        mask = (cols >= start[:, None]) & (cols < (start + length)[:, None])
        dest = pos[:, None] + (cols - start[:, None])
        buf[dest[mask]] = mat[mask]
        pos += length
    return buf.tobytes()


#: Output formats of :func:`rank_to_file`.
FORMATS = ("csv", "jsonl", "parquet")
#: Number columns printed with :data:`SCORE_DECIMALS`: the score and each block's contribution to it.
SCORE_COLUMNS = ("score", *(f"contrib_{b}" for b in BLOCKS))
#: Output columns, in order.
COLUMNS = ("school_id", "school_name", "rank", "partner_id", "partner_name", *SCORE_COLUMNS, "distance_km")
#: Rows formatted (and, for parquet, written as one row group) at a time.
_WRITE_BLOCK = 1 << 16


def text_block(fmt: str, rows: np.ndarray, rank: np.ndarray, school_tabs, partner_tabs) -> bytes:
    """CSV or JSON Lines text of a block of part rows (sorted by school, then rank).

    ``school_tabs`` and ``partner_tabs`` are the pre-encoded ids and names (:func:`_string_table`)
    of the schools and partners the rows point to.
    """
    n = len(rows)
    nums = [fixed_field(rows["score"], SCORE_DECIMALS)]
    nums += [fixed_field(rows["contrib"][:, b].astype(np.float64), SCORE_DECIMALS) for b in range(len(BLOCKS))]
    dist = rows["dist"]
    missing = np.flatnonzero(np.isnan(dist))
    d = fixed_field(np.where(np.isnan(dist), 0.0, dist), DISTANCE_DECIMALS)
    if len(missing):
        d = _patch(d, missing, [b"" if fmt == "csv" else b"null"] * len(missing))
    ids, names = (_table_field(tab, rows["school"]) for tab in school_tabs)
    pids, pnames = (_table_field(tab, rows["partner"]) for tab in partner_tabs)
    rk = _int_field(rank)
    if fmt == "csv":
        fields: list = [ids, b",", names, b",", rk, b",", pids, b",", pnames]
        for f in nums:
            fields += [b",", f]
        fields += [b",", d, b"\n"]
    else:
        fields = [b'{"school_id": ', ids, b', "school_name": ', names, b', "rank": ', rk,
                  b', "partner_id": ', pids, b', "partner_name": ', pnames]
        for name, f in zip(SCORE_COLUMNS, nums):
            fields += [b', "' + name.encode() + b'": ', f]
        fields += [b', "distance_km": ', d, b"}\n"]
    return _join(fields, n)


def parquet_modules():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        from matcher.errors import MatcherError

        raise MatcherError(
            "parquet output needs pyarrow: pip install pyarrow (or pip install 'matcher[parquet]'), "
            "or write --format csv or jsonl"
        ) from None
    return pa, pq


def _atomic_output(path, tmp_dir):
    """Write to a temporary file in ``tmp_dir`` (same filesystem), fsync, then move it to ``path``.

    Temporaries live in the run's parts folder, so a killed run leaves none beside the output.
    The output gets the umask's mode like every other output (see :func:`matcher.files.atomic_write`).
    """
    from matcher.files import atomic_write

    return atomic_write(path, "wb", tmp_dir=tmp_dir)


def write_output(path, fmt: str, rows: np.ndarray, schools: tuple[np.ndarray, np.ndarray],
                 partners: tuple[np.ndarray, np.ndarray], tmp_dir) -> None:
    """Write all rows (sorted by school, then rank) to ``path`` atomically.

    ``schools`` and ``partners`` are (ids, names) arrays that the rows' ``school`` and ``partner`` index;
    names are looked up here, once per school or partner written, not carried in the rows.
    """
    (school_ids, school_names), (partner_ids, partner_names) = schools, partners
    school = rows["school"]
    first = np.searchsorted(school, school, side="left")
    rank = np.arange(len(rows)) - first + 1
    if fmt == "parquet":
        pa, pq = parquet_modules()
        schema = pa.schema(
            [("school_id", pa.string()), ("school_name", pa.string()), ("rank", pa.int32()),
             ("partner_id", pa.string()), ("partner_name", pa.string())]
            + [(c, pa.float64()) for c in SCORE_COLUMNS]
            + [("distance_km", pa.float64())]
        )
        with _atomic_output(path, tmp_dir) as fh:
            with pq.ParquetWriter(fh, schema) as writer:
                for start in range(0, max(len(rows), 1), _WRITE_BLOCK):
                    blk = rows[start : start + _WRITE_BLOCK]
                    dist = blk["dist"]
                    cols = [
                        pa.array(school_ids[blk["school"]], pa.string()),
                        pa.array(school_names[blk["school"]], pa.string()),
                        pa.array(rank[start : start + _WRITE_BLOCK].astype(np.int32)),
                        pa.array(partner_ids[blk["partner"]], pa.string()),
                        pa.array(partner_names[blk["partner"]], pa.string()),
                        pa.array(blk["score"]),
                        *(pa.array(np.ascontiguousarray(blk["contrib"][:, b])) for b in range(len(BLOCKS))),
                        pa.array(dist, mask=np.isnan(dist)),
                    ]
                    writer.write_table(pa.Table.from_arrays(cols, schema=schema))
        return
    used_s = np.unique(school)
    s_tabs = (_string_table(school_ids[used_s], fmt), _string_table(school_names[used_s], fmt))
    used_p = np.unique(rows["partner"])
    p_tabs = (_string_table(partner_ids[used_p], fmt), _string_table(partner_names[used_p], fmt))
    with _atomic_output(path, tmp_dir) as fh:
        if fmt == "csv":
            fh.write((",".join(COLUMNS) + "\n").encode())
        for start in range(0, len(rows), _WRITE_BLOCK):
            blk = rows[start : start + _WRITE_BLOCK].copy()
            blk["school"] = np.searchsorted(used_s, blk["school"])
            blk["partner"] = np.searchsorted(used_p, blk["partner"])
            fh.write(text_block(fmt, blk, rank[start : start + _WRITE_BLOCK], s_tabs, p_tabs))


def format_of(output, fmt: str | None) -> str:
    from pathlib import Path

    from matcher.errors import MatcherError

    if fmt is None:
        suffix = Path(output).suffix.lower()
        fmt = {".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}.get(suffix, "csv")
    if fmt not in FORMATS:
        raise MatcherError(f"unknown output format {fmt!r} (formats are: {', '.join(FORMATS)})")
    if fmt == "parquet":
        parquet_modules()
    return fmt
