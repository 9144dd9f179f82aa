"""Read and validate the three input tables: schools, partners, partnerships.

This is the only module that reads user CSV files. Each ``read_*`` function
reads a file as raw strings and hands it to the matching ``validate_*``
function, which also accepts a DataFrame built elsewhere (the web app, a
notebook). Either way the result is a DataFrame with normalised columns, or
a :class:`~matcher.errors.DataError` that lists every problem in the table
(at most ``config.MAX_REPORTED_PROBLEMS``, then ``"... and N more problems"``).

The file contract
-----------------
CSV, UTF-8 (a BOM is fine; Windows-1252, Excel's default, is accepted too),
one header row. Header names are matched ignoring case, surrounding spaces,
and spaces/hyphens versus underscores (``School ID`` is ``school_id``).
Extra columns are kept, as stripped strings, after the known ones. Blank
lines and rows whose cells are all blank are skipped. Whitespace around
every cell is removed. A cell holds at most ``config.MAX_CELL_CHARS``
(100,000) characters; a longer one is a problem of that cell.

Ids (``school_id``, ``partner_id``) are normalised (:func:`matcher.ids.normalise_id`:
Unicode NFC, zero-width and other invisible characters removed), so two ids
that only look alike are duplicate ids.

``schools.csv``
    required ``school_id`` (unique, non-blank), ``name``, ``needs`` (free
    text; may be blank only if ``need_categories`` is given); optional
    ``need_categories``, ``grades``, ``latitude``, ``longitude``,
    ``enrollment``, ``frl_pct``, ``preferred_partner_types``.
``partners.csv``
    required ``partner_id`` (unique, non-blank), ``name``, ``offerings``
    (may be blank only if ``offering_categories`` is given); optional
    ``partner_type``, ``offering_categories``, ``grades``, ``latitude``,
    ``longitude``, ``service_radius_km``, ``remote``, ``capacity``.
``partnerships.csv``
    required ``school_id``, ``partner_id``; optional ``outcome`` (1 or 0,
    blank means 1), ``start_date`` (YYYY-MM-DD).

Lists of categories or partner types are separated by ``;`` (``,`` works
too: no slug or partner type contains one).

Problem messages
----------------
``<file>: row <n>, column <col>: <what is wrong>`` for a cell,
``<file>: row <n>: <what is wrong>`` for a whole row and ``<file>: <what is
wrong>`` for the file. ``<file>`` is ``str(path)`` as passed (or the
``source`` argument). ``<n>`` is the row number a spreadsheet shows for the
record: the header is row 1, every record (blank lines included) counts one
row, and a quoted cell spanning several lines is still one row. For a
DataFrame, row ``n`` is position ``n - 2`` (as if it were written to CSV).
"""
from __future__ import annotations

import codecs
import csv
import datetime as _dt
import difflib
import gc
import io
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any, Union

import numpy as np
import pandas as pd

from matcher import config
from matcher.errors import DataError
from matcher.grades import parse_grades
from matcher.ids import normalise_id
from matcher.taxonomy import Taxonomy, load_taxonomy

#: What the ``read_*`` functions accept: a path, or an open binary/text file.
Source = Union[str, "os.PathLike[str]", IO[bytes], IO[str]]

#: Normalised columns, in output order (extra columns follow).
SCHOOL_COLUMNS: tuple[str, ...] = (
    "school_id", "name", "needs", "need_categories", "grades", "latitude",
    "longitude", "enrollment", "frl_pct", "preferred_partner_types",
)
PARTNER_COLUMNS: tuple[str, ...] = (
    "partner_id", "name", "offerings", "partner_type", "offering_categories",
    "grades", "latitude", "longitude", "service_radius_km", "remote", "capacity",
)
PARTNERSHIP_COLUMNS: tuple[str, ...] = ("school_id", "partner_id", "outcome", "start_date")

_SCHOOL_REQUIRED = ("school_id", "name", "needs")
_PARTNER_REQUIRED = ("partner_id", "name", "offerings")
_PARTNERSHIP_REQUIRED = ("school_id", "partner_id")

_BINARY_SNIFF_BYTES = 8192
_MAX_CONTROL_SHARE = 0.10
# Bytes that never appear in text: C0 controls other than tab, LF, CR, FF; and DEL.
_CONTROL_BYTES = bytes([*range(0, 9), 11, *range(14, 32), 127])
_NOT_CONTROL = bytes(b for b in range(256) if b not in _CONTROL_BYTES)
# Line breaks str.splitlines() knows but the csv module does not.
_EXOTIC_BREAKS = "\v\f\x1c\x1d\x1e\x85\u2028\u2029"
_LIST_SEP = re.compile(r"[;,]")
# str.strip over an object array, returning an object array (faster than a list round trip).
_strip = np.frompyfunc(str.strip, 1, 1)
_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0", ""})


# --------------------------------------------------------------------------- public API


def read_schools(path: Source, *, source: str | None = None) -> pd.DataFrame:
    """Read and validate a schools CSV file.

    Parameters
    ----------
    path : str, path-like or open file
        The CSV file (see the module docstring for the contract).
    source : str, optional
        Name used in problem messages; default ``str(path)`` (or the open
        file's ``name``).

    Returns
    -------
    pandas.DataFrame
        Columns ``school_id``, ``name``, ``needs`` (str), ``need_categories``
        (tuple of slugs), ``grades`` (int mask, 0 = unknown), ``latitude``,
        ``longitude``, ``enrollment``, ``frl_pct`` (float64, NaN = unknown),
        ``preferred_partner_types`` (tuple of slugs), then extra columns.

    Raises
    ------
    DataError
        Listing every problem in the file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "schools.csv"
    >>> _ = p.write_text("school_id,name,needs,grades\\nS1,Lincoln,after-school tutoring,K-5\\n")
    >>> from matcher.grades import format_grades
    >>> df = read_schools(p)
    >>> df["school_id"].tolist(), format_grades(df.at[0, "grades"])
    (['S1'], 'K-5')
    """
    name = _source_name(path, source)
    with _gc_paused():
        return _validate_schools(_read_table(path, name, SCHOOL_COLUMNS))


def read_partners(path: Source, *, source: str | None = None) -> pd.DataFrame:
    """Read and validate a partners CSV file.

    Parameters
    ----------
    path : str, path-like or open file
        The CSV file (see the module docstring for the contract).
    source : str, optional
        Name used in problem messages; default ``str(path)``.

    Returns
    -------
    pandas.DataFrame
        Columns ``partner_id``, ``name``, ``offerings`` (str),
        ``partner_type`` (slug, ``""`` if not given), ``offering_categories``
        (tuple of slugs), ``grades`` (int mask), ``latitude``, ``longitude``
        (float64, NaN = unknown), ``service_radius_km`` (float64, NaN = no
        limit), ``remote`` (bool), ``capacity`` (float64 whole numbers, NaN =
        no limit), then extra columns.

    Raises
    ------
    DataError
        Listing every problem in the file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "partners.csv"
    >>> _ = p.write_text("partner_id,name,offerings,remote\\nP1,Food Bank,weekend meals,Yes\\n")
    >>> df = read_partners(p)
    >>> df["remote"].tolist(), df["capacity"].tolist()
    ([True], [nan])
    """
    name = _source_name(path, source)
    with _gc_paused():
        return _validate_partners(_read_table(path, name, PARTNER_COLUMNS))


def read_partnerships(path: Source, *, source: str | None = None) -> pd.DataFrame:
    """Read and validate a partnerships (history) CSV file.

    Parameters
    ----------
    path : str, path-like or open file
        The CSV file (see the module docstring for the contract).
    source : str, optional
        Name used in problem messages; default ``str(path)``.

    Returns
    -------
    pandas.DataFrame
        Columns ``school_id``, ``partner_id`` (str), ``outcome`` (int 0/1),
        ``start_date`` (datetime64[ns], NaT = unknown), then extra columns.
        Ids are not checked against the schools and partners tables here.

    Raises
    ------
    DataError
        Listing every problem in the file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "partnerships.csv"
    >>> _ = p.write_text("school_id,partner_id,outcome\\nS1,P1,0\\nS1,P2,\\n")
    >>> read_partnerships(p)["outcome"].tolist()
    [0, 1]
    """
    name = _source_name(path, source)
    with _gc_paused():
        return _validate_partnerships(_read_table(path, name, PARTNERSHIP_COLUMNS))


def normalised(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    """A ``kind`` (``"schools"``, ``"partners"``, ``"partnerships"``) table as ``read_<kind>`` returns it.

    Tables already normalised by this module pass through; raw string tables
    (e.g. built in Python) are validated first.
    """
    key = "outcome" if kind == "partnerships" else "grades"
    if key in df and df[key].dtype.kind in "iu":
        return df
    validate = {"schools": validate_schools, "partners": validate_partners, "partnerships": validate_partnerships}[kind]
    return validate(df, source=kind)


def validate_schools(df: pd.DataFrame, source: str = "schools.csv") -> pd.DataFrame:
    """Validate and normalise a schools table that is already in memory.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per school, cells as strings (blank cells may be ``""``,
        None or NaN; numbers and bools are turned into their text).
    source : str
        Name used in problem messages.

    Returns
    -------
    pandas.DataFrame
        As :func:`read_schools`.

    Raises
    ------
    DataError
        Listing every problem in the table.

    Examples
    --------
    >>> df = pd.DataFrame({"school_id": ["S1"], "name": ["Lincoln"], "needs": ["tutoring"]})
    >>> validate_schools(df)["need_categories"].tolist()
    [()]
    """
    return _validate_schools(_table_from_frame(df, source, SCHOOL_COLUMNS))


def validate_partners(df: pd.DataFrame, source: str = "partners.csv") -> pd.DataFrame:
    """Validate and normalise a partners table that is already in memory.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per partner, cells as strings (see :func:`validate_schools`).
    source : str
        Name used in problem messages.

    Returns
    -------
    pandas.DataFrame
        As :func:`read_partners`.

    Raises
    ------
    DataError
        Listing every problem in the table.

    Examples
    --------
    >>> df = pd.DataFrame({"partner_id": ["P1"], "name": ["Zoo"], "offerings": ["field trips"],
    ...                    "grades": ["3-5"], "capacity": ["40"]})
    >>> from matcher.grades import format_grades
    >>> out = validate_partners(df)
    >>> format_grades(out.at[0, "grades"]), out["capacity"].tolist()
    ('3-5', [40.0])
    """
    return _validate_partners(_table_from_frame(df, source, PARTNER_COLUMNS))


def validate_partnerships(df: pd.DataFrame, source: str = "partnerships.csv") -> pd.DataFrame:
    """Validate and normalise a partnerships table that is already in memory.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per past partnership, cells as strings.
    source : str
        Name used in problem messages.

    Returns
    -------
    pandas.DataFrame
        As :func:`read_partnerships`.

    Raises
    ------
    DataError
        Listing every problem in the table.

    Examples
    --------
    >>> df = pd.DataFrame({"school_id": ["S1"], "partner_id": ["P1"], "start_date": ["2023-09-01"]})
    >>> validate_partnerships(df)["start_date"].dtype
    dtype('<M8[ns]')
    """
    return _validate_partnerships(_table_from_frame(df, source, PARTNERSHIP_COLUMNS))


# --------------------------------------------------------------------------- problems


class _Problems:
    """Problems found in one table, reported in row then column order."""

    def __init__(self, source: str, order: Sequence[str] = ()):
        self.source = source
        self.total = 0
        self._order = {name: i for i, name in enumerate(order)}
        self._items: list[tuple[int, int, str]] = []  # (row, column rank, message)

    def file(self, message: str) -> None:
        """Record a problem with the whole file."""
        self.total += 1
        self._items.append((0, -1, f"{self.source}: {message}"))

    def column(self, column: str, message: str) -> None:
        """Record a problem with a whole column (missing, duplicated)."""
        self.total += 1
        self._items.append((0, self._rank(column), f"{self.source}: column {column}: {message}"))

    def cells(
        self,
        rows: np.ndarray,
        bad: np.ndarray,
        column: str | None,
        describe: Callable[[int], str],
    ) -> None:
        """Record a problem for each position where ``bad`` is true.

        Only the first few get a message: together with every other check's
        first few they are all that can be shown, and building a million
        messages would cost more than the validation itself.
        """
        positions = np.flatnonzero(bad)
        self.total += len(positions)
        rank = self._rank(column)
        where = "" if column is None else f", column {column}"
        for p in positions[: config.MAX_REPORTED_PROBLEMS]:
            row = int(rows[p])
            self._items.append((row, rank, f"{self.source}: row {row}{where}: {describe(int(p))}"))

    def raise_if_any(self) -> None:
        """Raise a DataError listing what was found, if anything."""
        if not self.total:
            return
        cap = config.MAX_REPORTED_PROBLEMS
        shown = [message for *_, message in sorted(self._items, key=lambda it: it[:2])[:cap]]
        if self.total > cap:
            more = self.total - cap
            shown.append(f"... and {more} more problem{'s' if more != 1 else ''}")
        raise DataError(shown)

    def _rank(self, column: str | None) -> int:
        """Sort key of a column: contract order, then everything else."""
        return -1 if column is None else self._order.get(column, len(self._order))


# --------------------------------------------------------------------------- reading


def _source_name(path: Source, source: str | None) -> str:
    """The file name used in messages."""
    if source is not None:
        return source
    if hasattr(path, "read"):
        return str(getattr(path, "name", "uploaded file"))
    return str(path)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cycle collector: parsing makes millions of small lists that
    cannot form cycles, and the collector would rescan them again and again."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _read_bytes(path: Source, source: str) -> bytes:
    """The file's raw content, or a DataError saying why it cannot be read."""
    if hasattr(path, "read"):
        data = path.read()
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        why = "file not found"
    except IsADirectoryError:
        why = "is a directory"
    except PermissionError:
        # Windows reports opening a folder as a permission error.
        why = "is a directory" if os.path.isdir(path) else "permission denied"
    except OSError as exc:
        why = exc.strerror or str(exc)
    raise DataError([f"{source}: cannot read: {why}"])


def _decode(data: bytes, source: str) -> str:
    """Bytes to text: UTF-8 (BOM or not), else Windows-1252; refuse binary files."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DataError([f"{source}: is UTF-16 text, not UTF-8 (in Excel, save as 'CSV UTF-8')"])
    head = data[:_BINARY_SNIFF_BYTES]
    controls = len(head.translate(None, _NOT_CONTROL))
    if b"\x00" in head or controls > _MAX_CONTROL_SHARE * len(head):
        hint = ""
        if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
            hint = "; it looks like an Excel workbook: save it as 'CSV UTF-8'"
        raise DataError([f"{source}: is not a text CSV file (binary content{hint})"])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        # Excel on Windows saves "CSV" in the ANSI code page, almost always this one.
        return data.removeprefix(codecs.BOM_UTF8).decode("cp1252")
    except UnicodeDecodeError as exc:
        raise DataError(
            [
                f"{source}: cannot decode: not UTF-8 or Windows-1252 text "
                f"(byte 0x{data[exc.start]:02x} at offset {exc.start}); save it as 'CSV UTF-8'"
            ]
        ) from None


def _split_lines(text: str) -> list[str]:
    """Physical lines, with their line breaks, as the csv module sees them."""
    # csv.reader over a list of lines is about twice as fast as over a StringIO;
    # splitlines() is only safe when the text has no breaks csv does not treat as breaks.
    if any(ch in text for ch in _EXOTIC_BREAKS):
        return io.StringIO(text, newline="").readlines()
    return text.splitlines(keepends=True)


_FIELD_LIMIT_LOCK = threading.Lock()
_FIELD_LIMIT_USERS = [0, 0]  # [readers parsing now, the limit before the first of them]


@contextmanager
def _no_csv_field_limit() -> Iterator[None]:
    """Lift the csv module's (process-wide) field size limit while parsing.

    Cell length is checked afterwards against ``config.MAX_CELL_CHARS``, with
    a message naming the row and column, so the csv module's own "field larger
    than field limit" never reaches a user. The old limit is put back when the
    last concurrent reader is done.
    """
    with _FIELD_LIMIT_LOCK:
        if _FIELD_LIMIT_USERS[0] == 0:
            _FIELD_LIMIT_USERS[1] = csv.field_size_limit(sys.maxsize)
        _FIELD_LIMIT_USERS[0] += 1
    try:
        yield
    finally:
        with _FIELD_LIMIT_LOCK:
            _FIELD_LIMIT_USERS[0] -= 1
            if _FIELD_LIMIT_USERS[0] == 0:
                csv.field_size_limit(_FIELD_LIMIT_USERS[1])


def _parse_records(lines: list[str], source: str) -> list[list[str]]:
    """Parse lines into CSV records; a blank line is an empty record."""
    reader = csv.reader(lines)
    try:
        with _no_csv_field_limit():
            return list(reader)
    except csv.Error as exc:
        raise DataError([f"{source}: cannot parse CSV at line {reader.line_num}: {exc}"]) from None


def _too_long(lengths: np.ndarray) -> Callable[[int], str]:
    """The message of a cell over ``config.MAX_CELL_CHARS``, for position ``p`` of ``lengths``."""
    return lambda p: f"the cell has {int(lengths[p]):,} characters; the limit is {config.MAX_CELL_CHARS:,} per cell"


def _oversized_cells(records: list[list[str]], header: Sequence[str], known: Sequence[str], problems: "_Problems",
                     skip_last: bool) -> None:
    """Report every cell longer than ``config.MAX_CELL_CHARS`` (record i is spreadsheet row i + 1)."""
    limit = config.MAX_CELL_CHARS
    names = [_column_name(str(h).strip(), known) or f"{j + 1}" for j, h in enumerate(header)]
    last = len(records) - 1 if skip_last else len(records)
    for i, rec in enumerate(records[:last]):
        if sum(map(len, rec)) <= limit:
            continue
        for j, cell in enumerate(rec):
            if len(cell) > limit:
                column = names[j] if j < len(names) else f"{j + 1}"
                problems.cells(np.array([i + 1]), np.array([True]), column, _too_long(np.array([len(cell)])))


def _read_table(path: Source, source: str, known: Sequence[str]) -> _Table:
    """Read a CSV file into a table of raw string cells, noting ragged rows."""
    text = _decode(_read_bytes(path, source), source)
    if not text or text.isspace():
        raise DataError([f"{source}: file is empty"])
    odd_quotes = text.count('"') % 2 == 1
    short_file = len(text) <= config.MAX_CELL_CHARS
    lines = _split_lines(text)
    del text  # a million-row file is big: drop each stage once the next one is built
    # Only a line that long, or a quoted cell spanning lines, can hold a cell over the limit:
    # every cell is measured only then (a file that needs no look costs one pass over its lines).
    long_line = not short_file and max(map(len, lines)) > config.MAX_CELL_CHARS
    n_lines = len(lines)
    records = _parse_records(lines, source)
    del lines
    may_be_long = long_line or (not short_file and len(records) != n_lines)
    start = next((i for i, rec in enumerate(records) if _has_text(rec)), None)
    if start is None:
        raise DataError([f"{source}: file is empty"])
    problems = _Problems(source, known)
    # The csv module quietly ends an unclosed quoted cell at the end of the file,
    # swallowing every line after the stray quote into one cell. Quotes come in
    # pairs in CSV, so an odd count plus a last cell holding line breaks betrays it.
    last = records[-1]
    unclosed = odd_quotes and any("\n" in cell or "\r" in cell for cell in last)
    if unclosed:
        problems.cells(
            np.array([len(records)]), np.array([True]), None,
            lambda p: "a quoted cell never ends: a stray \" swallows the rest of the file into this row",
        )
    header = records[start]
    if may_be_long:
        _oversized_cells(records, header, known, problems, skip_last=unclosed)
    body = records[start + 1 :]
    del records
    while body and not _has_text(body[-1]):
        body.pop()  # blank lines at the end are common and would cost a slow path
    width = len(header)
    # Record i of the body is spreadsheet row start + 2 + i (rows count from 1, header first).
    rows = np.arange(start + 2, start + 2 + len(body))
    grid = _grid(body, width)
    if grid is None:
        lengths = np.fromiter(map(len, body), dtype=np.intp, count=len(body))
        fits = lengths == width
        odd = np.flatnonzero(~fits)
        # Blank lines and rows of bare separators are skipped, not ragged.
        ragged = np.zeros(len(body), dtype=bool)
        ragged[odd] = [_has_text(body[i]) for i in odd]
        problems.cells(rows, ragged, None, lambda p: f"has {lengths[p]} fields, header has {width}")
        body = [rec for rec, ok in zip(body, fits) if ok]
        rows = rows[fits]
        grid = _grid(body, width)
        assert grid is not None
    del body
    return _make_table(source, header, [grid[:, j] for j in range(width)], rows, known, problems, clean=False)


def _grid(records: list[list[str]], width: int) -> np.ndarray | None:
    """Records as a 2-D object array, or None when they are not all ``width`` long."""
    if not records:
        return np.empty((0, width), dtype=object)
    try:
        # One C call; numpy refuses ragged input, which is how ragged rows are noticed cheaply.
        # Column-major, as every later step walks one column at a time.
        grid = np.array(records, dtype=object, order="F")
    except ValueError:
        return None
    return grid if grid.ndim == 2 and grid.shape[1] == width else None


def _has_text(record: Sequence[str]) -> bool:
    """Whether any cell of a raw record holds more than whitespace."""
    return any(cell.strip() for cell in record)


# --------------------------------------------------------------------------- tables


class _Table:
    """Named columns of string cells, the row number of each record, and the problems found.

    Cells read from a file are kept as read and stripped only when needed:
    columns parsed per distinct value strip just those values, which saves
    most of the cost of stripping a million-row file.
    """

    def __init__(
        self,
        source: str,
        header: list[str],
        cells: dict[str, np.ndarray],
        rows: np.ndarray,
        problems: _Problems,
        *,
        clean: bool,
    ):
        self.source = source
        self.header = header
        self.rows = rows
        self.problems = problems
        self.n = len(rows)
        self._raw = cells
        self._clean = clean
        self._stripped: dict[str, np.ndarray] = {}

    def has(self, column: str) -> bool:
        """Whether the table has this column."""
        return column in self._raw

    @property
    def columns(self) -> list[str]:
        """Column names in header order."""
        return list(self._raw)

    def text(self, column: str) -> np.ndarray:
        """The column's stripped cells (all blank when the column is absent)."""
        if column not in self._raw:
            return np.full(self.n, "", dtype=object)
        if self._clean:
            return self._raw[column]
        if column not in self._stripped:
            self._stripped[column] = _strip(self._raw[column])
        return self._stripped[column]

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the rows where ``mask`` is true."""
        self._raw = {k: v[mask] for k, v in self._raw.items()}
        self._stripped = {k: v[mask] for k, v in self._stripped.items()}
        self.rows = self.rows[mask]
        self.n = len(self.rows)

    def drop(self, column: str) -> None:
        """Forget a column."""
        self._raw.pop(column, None)
        self._stripped.pop(column, None)

    def blank_rows(self, first: str) -> np.ndarray:
        """Rows whose cells are all blank, found from column ``first`` outwards."""
        candidates = np.flatnonzero(self.text(first) == "")
        for column in self._raw:
            if not len(candidates):
                break
            if column != first:
                cells = self._raw[column][candidates]
                candidates = candidates[np.array([not str(v).strip() for v in cells], dtype=bool)]
        blank = np.zeros(self.n, dtype=bool)
        blank[candidates] = True
        return blank

    def flag(self, column: str | None, bad: np.ndarray, describe: Callable[[int], str]) -> None:
        """Record a problem in ``column`` at each position where ``bad`` is true."""
        self.problems.cells(self.rows, bad, column, describe)

    def require(self, required: Sequence[str]) -> None:
        """Report each required column the header lacks."""
        found = ", ".join(self.header) or "no columns"
        for column in required:
            if column not in self._raw:
                self.problems.column(column, f"missing required column (found: {found})")

    def ids(self, column: str, *, unique: bool) -> np.ndarray:
        """Check an id column: never blank and, if ``unique``, never repeated.

        Ids are normalised first (:func:`matcher.ids.normalise_id`: NFC, no
        invisible characters), so ids that only look alike are duplicates.
        """
        ids = self.text(column)
        if not self.has(column):
            return ids
        altered: set[str] = set()
        if not all(map(str.isascii, ids)):
            raw = ids
            ids = _object_array_of_str([normalise_id(v) for v in raw])
            altered = set(ids[raw != ids])
        blank = ids == ""
        self.flag(column, blank, lambda p: f"{column} is blank (required on every row)")
        if unique and self.n:
            repeated = pd.Series(ids, dtype=object).duplicated(keep="first").to_numpy() & ~blank
            if repeated.any():
                first_row = self._first_rows(ids, repeated)
                alike = " (ids differing only in invisible characters or in how accents are encoded are one id)"
                self.flag(
                    column,
                    repeated,
                    lambda p: f"duplicate {column} {ids[p]!r} (first seen in row {first_row[ids[p]]})"
                    + (alike if ids[p] in altered else ""),
                )
        return ids

    def _first_rows(self, ids: np.ndarray, repeated: np.ndarray) -> dict[str, int]:
        """Row where each of the first reported repeated ids first appears."""
        shown = set(ids[np.flatnonzero(repeated)[: config.MAX_REPORTED_PROBLEMS]])
        firsts = np.flatnonzero(pd.Series(ids, dtype=object).isin(shown).to_numpy() & ~repeated)
        return {ids[p]: int(self.rows[p]) for p in firsts}

    def parse(self, column: str, parse: Callable[[str], Any], blank: Any) -> tuple[np.ndarray, list[Any]]:
        """Parse each distinct cell once and flag the failures.

        Returns ``codes`` and ``values``: row i's value is ``values[codes[i]]``.
        A column holds few distinct values (grades, categories, yes/no), so
        this is fast and lets callers derive more per value, not per row.
        """
        if not self.has(column):
            return np.zeros(self.n, dtype=np.intp), [blank]
        codes, uniques = pd.factorize(self._raw[column])
        values: list[Any] = []
        errors: list[str | None] = []
        for cell in uniques:
            try:
                values.append(parse(str(cell).strip()))
                errors.append(None)
            except ValueError as exc:
                values.append(blank)
                errors.append(str(exc))
        failed = np.array([e is not None for e in errors], dtype=bool)
        if failed.any():
            self.flag(column, failed[codes], lambda p: str(errors[codes[p]]))
        return codes, values

    def numbers(
        self,
        column: str,
        *,
        ok: Callable[[np.ndarray], np.ndarray],
        rule: str,
        whole: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Parse a numeric column and flag bad cells.

        Returns the values (float64, NaN when blank) and which cells were
        given (not blank). ``ok`` says which parsed values are allowed;
        ``rule`` completes the message for the others ("'95' is out of range ...").
        """
        if not self.has(column):
            return np.full(self.n, np.nan), np.zeros(self.n, dtype=bool)
        cells = self._raw[column]
        values = np.array(pd.to_numeric(cells, errors="coerce"), dtype=np.float64)
        given = np.ones(self.n, dtype=bool)
        bad = np.zeros(self.n, dtype=bool)
        unparsed = np.flatnonzero(~np.isfinite(values))
        given[unparsed[cells[unparsed] == ""]] = False
        for p in unparsed[cells[unparsed] != ""]:
            # Only odd cells get here: padded with unusual spaces, or not numbers at all.
            text = str(cells[p]).strip()
            try:
                values[p] = float(text) if text else np.nan
            except ValueError:
                values[p] = np.nan
            given[p] = bool(text)
            bad[p] = bool(text) and not np.isfinite(values[p])
        self.flag(column, bad, lambda p: f"{str(cells[p]).strip()!r} is not a number")
        with np.errstate(invalid="ignore"):
            allowed = ok(values)
            if whole:
                allowed &= values == np.floor(values)
        self.flag(column, given & ~bad & ~allowed, lambda p: f"{str(cells[p]).strip()!r} {rule}")
        values[bad] = np.nan
        return values, given

    def coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        """Latitude and longitude, which must be given together."""
        lat, lat_given = self.numbers("latitude", ok=lambda v: (v >= -90) & (v <= 90),
                                      rule="is out of range (latitude must be between -90 and 90)")
        lon, lon_given = self.numbers("longitude", ok=lambda v: (v >= -180) & (v <= 180),
                                      rule="is out of range (longitude must be between -180 and 180)")
        if self.has("latitude") and self.has("longitude"):
            self.flag("latitude", lon_given & ~lat_given,
                      lambda p: "blank, but longitude is given (give both or neither)")
            self.flag("longitude", lat_given & ~lon_given,
                      lambda p: "blank, but latitude is given (give both or neither)")
        elif lat_given.any():
            self.problems.column("longitude", "missing, but latitude is given (give both columns or neither)")
        elif lon_given.any():
            self.problems.column("latitude", "missing, but longitude is given (give both columns or neither)")
        return lat, lon

    def categories(self, column: str, text_column: str, taxonomy: Taxonomy) -> np.ndarray:
        """Parse a category column; flag rows where it and the free text are both blank."""
        codes, values = self.parse(column, _category_parser(taxonomy), ())
        if self.has(text_column):
            if self.has(column):
                why = f"{text_column} is blank and {column} is empty (fill in at least one)"
            else:
                why = f"{text_column} is blank (fill it in, or add a {column} column)"
            no_categories = np.array([not v for v in values], dtype=bool)[codes]
            self.flag(text_column, (self.text(text_column) == "") & no_categories, lambda p: why)
        return _object_array(values)[codes]

    def dates(self, column: str) -> np.ndarray:
        """ISO dates (YYYY-MM-DD) as datetime64[ns]; NaT when blank."""
        if not self.has(column):
            return np.full(self.n, np.datetime64("NaT"), dtype="datetime64[ns]")
        codes, uniques = pd.factorize(self._raw[column])
        cells = pd.Series([str(u).strip() for u in uniques], dtype=object)
        parsed = pd.to_datetime(cells, format="%Y-%m-%d", errors="coerce")
        # pandas >= 3 parses to microseconds, which reach years nanoseconds cannot hold.
        lo, hi = pd.Timestamp.min.ceil("D"), pd.Timestamp.max.floor("D")
        in_range = (parsed.isna() | ((parsed >= lo) & (parsed <= hi))).to_numpy()
        bad_format = (parsed.isna() & (cells != "")).to_numpy()
        self.flag(column, bad_format[codes], lambda p: f"{cells[codes[p]]!r} is not a date (use YYYY-MM-DD)")
        self.flag(column, ~in_range[codes],
                  lambda p: f"{cells[codes[p]]!r} is out of range (years {lo.year + 1}-{hi.year - 1})")
        return parsed.where(in_range).astype("datetime64[ns]").to_numpy()[codes]

    def frame(self, normalised: dict[str, Any]) -> pd.DataFrame:
        """The output DataFrame: normalised columns, then the extra ones as stripped text."""
        self.problems.raise_if_any()
        data = dict(normalised)
        for name in self._raw:
            if name not in data:
                data[name] = self.text(name)
        return pd.DataFrame(data, index=pd.RangeIndex(self.n))


def _make_table(
    source: str,
    header: Sequence[Any],
    columns: Sequence[np.ndarray],
    rows: np.ndarray,
    known: Sequence[str],
    problems: _Problems,
    *,
    clean: bool,
) -> _Table:
    """Name the columns, check the header and drop all-blank rows."""
    names = [_column_name(str(h).strip(), known) for h in header]
    positions: dict[str, list[int]] = {}
    for j, name in enumerate(names):
        if name:
            positions.setdefault(name, []).append(j + 1)
    for name, where in positions.items():
        if len(where) > 1:
            problems.column(name, f"appears {len(where)} times in the header (columns {', '.join(map(str, where))})")
    if problems.total:
        # With two columns of one name every later check would be guesswork.
        problems.raise_if_any()

    cells = {name or f"unnamed_{j + 1}": col for j, (name, col) in enumerate(zip(names, columns))}
    found = [str(h).strip() for h in header if str(h).strip()]
    table = _Table(source, found, cells, rows, problems, clean=clean)
    if table.n:
        # Excel leaves rows of bare separators (",,,") below the data. Start
        # from an id column: it is stripped anyway and rarely blank.
        first = next((c for c in known if table.has(c)), table.columns[0])
        blank = table.blank_rows(first)
        if blank.any():
            table.keep(~blank)
    for j, name in enumerate(names):
        # A blank header cell over an empty column is a trailing separator: drop it.
        if not name and not (table.text(f"unnamed_{j + 1}") != "").any():
            table.drop(f"unnamed_{j + 1}")
    if not table.n and not problems.total:
        problems.file("has a header but no data rows")
    return table


def _table_from_frame(df: pd.DataFrame, source: str, known: Sequence[str]) -> _Table:
    """A DataFrame (cells as strings) as a table; row n is position n - 2."""
    if not isinstance(df, pd.DataFrame):
        df = pd.DataFrame(df)
    if df.shape[1] == 0:
        raise DataError([f"{source}: table is empty"])
    columns = [_stripped(df.iloc[:, j].tolist()) for j in range(df.shape[1])]
    rows = np.arange(2, len(df) + 2)
    problems = _Problems(source, known)
    limit = config.MAX_CELL_CHARS
    for j, col in enumerate(columns):
        lengths = np.fromiter(map(len, col), dtype=np.int64, count=len(col))
        if (lengths > limit).any():
            name = _column_name(str(df.columns[j]).strip(), known) or f"{j + 1}"
            problems.cells(rows, lengths > limit, name, _too_long(lengths))
    return _make_table(source, list(df.columns), columns, rows, known, problems, clean=True)


def _column_name(name: str, known: Sequence[str]) -> str:
    """A known column's canonical name ("School ID" -> "school_id"), else the name as given."""
    key = re.sub(r"[\s\-]+", "_", name.lower())
    return key if key in known else name


def _stripped(values: list[Any]) -> np.ndarray:
    """In-memory cells as an object array of stripped strings."""
    try:
        out = [v.strip() for v in values]
    except (AttributeError, TypeError):  # NaN, None, numbers, bools...
        out = [_cell_text(v) for v in values]
    return _object_array_of_str(out)


def _object_array_of_str(values: list[str]) -> np.ndarray:
    """A 1-D object array of strings (numpy would pick a fixed-width str dtype)."""
    return np.array(values, dtype=object) if values else np.empty(0, dtype=object)


def _cell_text(value: Any) -> str:
    """One in-memory cell as the text a CSV file would hold."""
    if isinstance(value, str):
        return value.strip()
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return ""
        # pandas reads integer columns with blanks as floats: 12.0 means 12.
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, (_dt.date, np.datetime64)):
        return str(pd.Timestamp(value).date())
    if isinstance(value, (tuple, list)):
        return ";".join(_cell_text(v) for v in value)
    return str(value).strip()


def _object_array(values: Sequence[Any]) -> np.ndarray:
    """A 1-D object array, even when the values are tuples."""
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = v
    return out


# --------------------------------------------------------------------------- cell parsers


def _slug_key(text: str) -> str:
    """Category as written -> slug form ("Food insecurity" -> "food_insecurity")."""
    return re.sub(r"[\s\-]+", "_", text.strip().lower())


def _category_parser(taxonomy: Taxonomy) -> Callable[[str], tuple[str, ...]]:
    """Parser of one ``;``-separated list of category slugs."""
    valid = taxonomy.category_slugs
    by_key = {_slug_key(slug): slug for slug in valid}

    def parse(cell: str) -> tuple[str, ...]:
        slugs: list[str] = []
        unknown: list[str] = []
        for part in _LIST_SEP.split(cell):
            key = _slug_key(part)
            slug = by_key.get(key)
            if slug is not None:
                if slug not in slugs:
                    slugs.append(slug)
            elif key:
                unknown.append(part.strip())
        if unknown:
            raise ValueError(_unknown("category", "categories", unknown, valid, _slug_key))
        return tuple(slugs)

    return parse


def _partner_type_parser(taxonomy: Taxonomy, *, many: bool) -> Callable[[str], Any]:
    """Parser of one partner type (or a ``;``-separated list of them)."""
    valid = taxonomy.partner_type_slugs

    def parse(cell: str) -> Any:
        slugs: list[str] = []
        unknown: list[str] = []
        for part in _LIST_SEP.split(cell) if many else [cell]:
            part = part.strip()
            if not part:
                continue
            slug = taxonomy.resolve_partner_type(part)
            if slug is None:
                unknown.append(part)
            elif slug not in slugs:
                slugs.append(slug)
        if unknown:
            raise ValueError(_unknown("partner type", "partner types", unknown, valid, None))
        return tuple(slugs) if many else (slugs[0] if slugs else "")

    return parse


def _unknown(
    what: str,
    plural: str,
    unknown: list[str],
    valid: Sequence[str],
    key: Callable[[str], str] | None,
) -> str:
    """Message for names not in the taxonomy, with a suggestion when one is close."""
    names = ", ".join(repr(u) for u in unknown)
    if key is not None and len(unknown) == 1:
        by_key = {key(v): v for v in valid}
        close = difflib.get_close_matches(key(unknown[0]), list(by_key), n=1, cutoff=0.75)
        if close:
            return f"unknown {what} {names} (did you mean {by_key[close[0]]!r}?)"
    label = what if len(unknown) == 1 else plural
    return f"unknown {label} {names} (valid: {', '.join(valid)})"


def _parse_bool(cell: str) -> bool:
    """true/false, yes/no, y/n, 1/0 in any case; blank is false."""
    key = cell.lower()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    raise ValueError(f"{cell!r} is not true or false (use true/false, yes/no or 1/0)")


def _parse_outcome(cell: str) -> int:
    """1 (worked) or 0 (did not); blank is 1."""
    if cell in ("", "1"):
        return 1
    if cell == "0":
        return 0
    raise ValueError(f"{cell!r} is not a valid outcome (use 1 if the partnership worked, 0 if not; blank means 1)")


# --------------------------------------------------------------------------- validators


def _validate_schools(t: _Table) -> pd.DataFrame:
    """Check a schools table and build its normalised frame."""
    taxonomy = load_taxonomy()
    t.require(_SCHOOL_REQUIRED)
    school_id = t.ids("school_id", unique=True)
    categories = t.categories("need_categories", "needs", taxonomy)
    grades = _take(*t.parse("grades", parse_grades, 0), np.int64)
    lat, lon = t.coordinates()
    enrollment, _ = t.numbers("enrollment", ok=lambda v: v >= 0, rule="is not a whole number >= 0", whole=True)
    frl_pct, _ = t.numbers("frl_pct", ok=lambda v: (v >= 0) & (v <= 100),
                           rule="is out of range (frl_pct must be between 0 and 100)")
    preferred = _take(*t.parse("preferred_partner_types", _partner_type_parser(taxonomy, many=True), ()), object)
    return t.frame(
        {
            "school_id": school_id,
            "name": t.text("name"),
            "needs": t.text("needs"),
            "need_categories": categories,
            "grades": grades,
            "latitude": lat,
            "longitude": lon,
            "enrollment": enrollment,
            "frl_pct": frl_pct,
            "preferred_partner_types": preferred,
        }
    )


def _validate_partners(t: _Table) -> pd.DataFrame:
    """Check a partners table and build its normalised frame."""
    taxonomy = load_taxonomy()
    t.require(_PARTNER_REQUIRED)
    partner_id = t.ids("partner_id", unique=True)
    partner_type = _take(*t.parse("partner_type", _partner_type_parser(taxonomy, many=False), ""), object)
    categories = t.categories("offering_categories", "offerings", taxonomy)
    grades = _take(*t.parse("grades", parse_grades, 0), np.int64)
    lat, lon = t.coordinates()
    radius, _ = t.numbers("service_radius_km", ok=lambda v: v > 0,
                          rule="is out of range (service_radius_km must be greater than 0; leave it blank for no limit)")
    remote = _take(*t.parse("remote", _parse_bool, False), bool)
    capacity, _ = t.numbers("capacity", ok=lambda v: v >= 0,
                            rule="is not a whole number >= 0 (leave it blank for no limit)", whole=True)
    return t.frame(
        {
            "partner_id": partner_id,
            "name": t.text("name"),
            "offerings": t.text("offerings"),
            "partner_type": partner_type,
            "offering_categories": categories,
            "grades": grades,
            "latitude": lat,
            "longitude": lon,
            "service_radius_km": radius,
            "remote": remote,
            "capacity": capacity,
        }
    )


def _validate_partnerships(t: _Table) -> pd.DataFrame:
    """Check a partnerships table and build its normalised frame."""
    t.require(_PARTNERSHIP_REQUIRED)
    school_id = t.ids("school_id", unique=False)
    partner_id = t.ids("partner_id", unique=False)
    outcome = _take(*t.parse("outcome", _parse_outcome, 1), np.int64)
    start_date = t.dates("start_date")
    return t.frame(
        {
            "school_id": school_id,
            "partner_id": partner_id,
            "outcome": outcome,
            "start_date": start_date,
        }
    )


def _take(codes: np.ndarray, values: list[Any], dtype: Any) -> np.ndarray:
    """Per-row array from per-value results (see ``_Table.parse``)."""
    table = _object_array(values) if dtype is object else np.array(values, dtype=dtype)
    return table[codes]
