"""Reading a CSV file's bytes into records, and collecting the problems found, each naming file, row and column."""
from __future__ import annotations

import codecs
import csv
import gc
import io
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Union

import numpy as np

from matcher import config
from matcher.errors import DataError

#: What the ``read_*`` functions accept: a path, or an open binary/text file.
Source = Union[str, "os.PathLike[str]", IO[bytes], IO[str]]

_BINARY_SNIFF_BYTES = 8192
_MAX_CONTROL_SHARE = 0.10
# Bytes that never appear in text: C0 controls other than tab, LF, CR, FF; and DEL.
_CONTROL_BYTES = bytes([*range(0, 9), 11, *range(14, 32), 127])
_NOT_CONTROL = bytes(b for b in range(256) if b not in _CONTROL_BYTES)
# Line breaks str.splitlines() knows but the csv module does not.
_EXOTIC_BREAKS = "\v\f\x1c\x1d\x1e\x85\u2028\u2029"

# --------------------------------------------------------------------------- problems


class Problems:
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


def source_name(path: Source, source: str | None) -> str:
    """The file name used in messages."""
    if source is not None:
        return source
    if hasattr(path, "read"):
        return str(getattr(path, "name", "uploaded file"))
    return str(path)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cycle collector: parsing makes millions of small lists that
    cannot form cycles, and the collector would rescan them again and again."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read_bytes(path: Source, source: str) -> bytes:
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


def decode(data: bytes, source: str) -> str:
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


def split_lines(text: str) -> list[str]:
    """Physical lines, with their line breaks, as the csv module sees them."""
    # csv.reader over a list of lines is about twice as fast as over a StringIO;
    # splitlines() is only safe when the text has no breaks csv does not treat as breaks.
    if any(ch in text for ch in _EXOTIC_BREAKS):
        return io.StringIO(text, newline="").readlines()
    return text.splitlines(keepends=True)


_FIELD_LIMIT_LOCK = threading.Lock()
_FIELD_LIMIT_USERS = [0, 0]  # [readers parsing now, the limit before the first of them]


@contextmanager
def no_csv_field_limit() -> Iterator[None]:
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


def parse_records(lines: list[str], source: str) -> list[list[str]]:
    """Parse lines into CSV records; a blank line is an empty record."""
    reader = csv.reader(lines)
    try:
        with no_csv_field_limit():
            return list(reader)
    except csv.Error as exc:
        raise DataError([f"{source}: cannot parse CSV at line {reader.line_num}: {exc}"]) from None


def too_long(lengths: np.ndarray) -> Callable[[int], str]:
    """The message of a cell over ``config.MAX_CELL_CHARS``, for position ``p`` of ``lengths``."""
    return lambda p: f"the cell has {int(lengths[p]):,} characters; the limit is {config.MAX_CELL_CHARS:,} per cell"


def oversized_cells(records: list[list[str]], header: Sequence[str], known: Sequence[str], problems: "Problems",
                     skip_last: bool) -> None:
    """Report every cell longer than ``config.MAX_CELL_CHARS`` (record i is spreadsheet row i + 1)."""
    limit = config.MAX_CELL_CHARS
    names = [column_name(str(h).strip(), known) or f"{j + 1}" for j, h in enumerate(header)]
    last = len(records) - 1 if skip_last else len(records)
    for i, rec in enumerate(records[:last]):
        if sum(map(len, rec)) <= limit:
            continue
        for j, cell in enumerate(rec):
            if len(cell) > limit:
                column = names[j] if j < len(names) else f"{j + 1}"
                problems.cells(np.array([i + 1]), np.array([True]), column, too_long(np.array([len(cell)])))


def column_name(name: str, known: Sequence[str]) -> str:
    """A known column's canonical name ("School ID" -> "school_id"), else the name as given."""
    key = re.sub(r"[\s\-]+", "_", name.lower())
    return key if key in known else name
