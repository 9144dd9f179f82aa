"""Tables of string cells parsed column by column into checked arrays (ids, numbers, places, categories)."""
from __future__ import annotations

import datetime as _dt
import difflib
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from matcher import config
from matcher.errors import DataError
from matcher.ids import normalise_id
from matcher.csvread import (
    Problems,
    Source,
    column_name,
    decode,
    oversized_cells,
    parse_records,
    read_bytes,
    split_lines,
    too_long,
)
from matcher.taxonomy import Taxonomy

_LIST_SEP = re.compile(r"[;,]")
_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0", ""})
_strip = np.frompyfunc(str.strip, 1, 1)


def read_table(path: Source, source: str, known: Sequence[str]) -> Table:
    """Read a CSV file into a table of raw string cells, noting ragged rows."""
    text = decode(read_bytes(path, source), source)
    if not text or text.isspace():
        raise DataError([f"{source}: file is empty"])
    odd_quotes = text.count('"') % 2 == 1
    short_file = len(text) <= config.MAX_CELL_CHARS
    lines = split_lines(text)
    del text  # a million-row file is big: drop each stage once the next one is built
    # Only a line that long, or a quoted cell spanning lines, can hold a cell over the limit:
    # every cell is measured only then (a file that needs no look costs one pass over its lines).
    long_line = not short_file and max(map(len, lines)) > config.MAX_CELL_CHARS
    n_lines = len(lines)
    records = parse_records(lines, source)
    del lines
    may_be_long = long_line or (not short_file and len(records) != n_lines)
    start = next((i for i, rec in enumerate(records) if has_text(rec)), None)
    if start is None:
        raise DataError([f"{source}: file is empty"])
    problems = Problems(source, known)
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
        oversized_cells(records, header, known, problems, skip_last=unclosed)
    body = records[start + 1 :]
    del records
    while body and not has_text(body[-1]):
        body.pop()  # blank lines at the end are common and would cost a slow path
    width = len(header)
    # Record i of the body is spreadsheet row start + 2 + i (rows count from 1, header first).
    rows = np.arange(start + 2, start + 2 + len(body))
    grid = record_grid(body, width)
    if grid is None:
        lengths = np.fromiter(map(len, body), dtype=np.intp, count=len(body))
        fits = lengths == width
        odd = np.flatnonzero(~fits)
        # Blank lines and rows of bare separators are skipped, not ragged.
        ragged = np.zeros(len(body), dtype=bool)
        ragged[odd] = [has_text(body[i]) for i in odd]
        problems.cells(rows, ragged, None, lambda p: f"has {lengths[p]} fields, header has {width}")
        body = [rec for rec, ok in zip(body, fits) if ok]
        rows = rows[fits]
        grid = record_grid(body, width)
        assert grid is not None
    del body
    return make_table(source, header, [grid[:, j] for j in range(width)], rows, known, problems, clean=False)


def record_grid(records: list[list[str]], width: int) -> np.ndarray | None:
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


def has_text(record: Sequence[str]) -> bool:
    """Whether any cell of a raw record holds more than whitespace."""
    return any(cell.strip() for cell in record)


# --------------------------------------------------------------------------- tables


class Table:
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
        problems: Problems,
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

    def coordinates(self, *, required: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Latitude and longitude, which must be given together (on every row if ``required``)."""
        lat, lat_given = self.numbers("latitude", ok=lambda v: (v >= -90) & (v <= 90),
                                      rule="is out of range (latitude must be between -90 and 90)")
        lon, lon_given = self.numbers("longitude", ok=lambda v: (v >= -180) & (v <= 180),
                                      rule="is out of range (longitude must be between -180 and 180)")
        if required:  # a missing column is the caller's ``require``
            for column, given in (("latitude", lat_given), ("longitude", lon_given)):
                if self.has(column):
                    self.flag(column, ~given, lambda p, c=column: f"{c} is blank (required on every row)")
        elif self.has("latitude") and self.has("longitude"):
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
        codes, values = self.parse(column, category_parser(taxonomy), ())
        if self.has(text_column):
            if self.has(column):
                why = f"{text_column} is blank and {column} is empty (fill in at least one)"
            else:
                why = f"{text_column} is blank (fill it in, or add a {column} column)"
            no_categories = np.array([not v for v in values], dtype=bool)[codes]
            self.flag(text_column, (self.text(text_column) == "") & no_categories, lambda p: why)
        return object_array(values)[codes]

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


def make_table(
    source: str,
    header: Sequence[Any],
    columns: Sequence[np.ndarray],
    rows: np.ndarray,
    known: Sequence[str],
    problems: Problems,
    *,
    clean: bool,
) -> Table:
    """Name the columns, check the header and drop all-blank rows."""
    names = [column_name(str(h).strip(), known) for h in header]
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
    table = Table(source, found, cells, rows, problems, clean=clean)
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


def table_from_frame(df: pd.DataFrame, source: str, known: Sequence[str]) -> Table:
    """A DataFrame (cells as strings) as a table; row n is position n - 2."""
    if not isinstance(df, pd.DataFrame):
        df = pd.DataFrame(df)
    if df.shape[1] == 0:
        raise DataError([f"{source}: table is empty"])
    columns = [_stripped(df.iloc[:, j].tolist()) for j in range(df.shape[1])]
    rows = np.arange(2, len(df) + 2)
    problems = Problems(source, known)
    limit = config.MAX_CELL_CHARS
    for j, col in enumerate(columns):
        lengths = np.fromiter(map(len, col), dtype=np.int64, count=len(col))
        if (lengths > limit).any():
            name = column_name(str(df.columns[j]).strip(), known) or f"{j + 1}"
            problems.cells(rows, lengths > limit, name, too_long(lengths))
    return make_table(source, list(df.columns), columns, rows, known, problems, clean=True)


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


def object_array(values: Sequence[Any]) -> np.ndarray:
    """A 1-D object array, even when the values are tuples."""
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = v
    return out


# --------------------------------------------------------------------------- cell parsers


def _slug_key(text: str) -> str:
    """Category as written -> slug form ("Food insecurity" -> "food_insecurity")."""
    return re.sub(r"[\s\-]+", "_", text.strip().lower())


def category_parser(taxonomy: Taxonomy) -> Callable[[str], tuple[str, ...]]:
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


def partner_type_parser(taxonomy: Taxonomy, *, many: bool) -> Callable[[str], Any]:
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


def parse_bool(cell: str) -> bool:
    """true/false, yes/no, y/n, 1/0 in any case; blank is false."""
    key = cell.lower()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    raise ValueError(f"{cell!r} is not true or false (use true/false, yes/no or 1/0)")


def parse_outcome(cell: str) -> int:
    """1 (worked) or 0 (did not); blank is 1."""
    if cell in ("", "1"):
        return 1
    if cell == "0":
        return 0
    raise ValueError(f"{cell!r} is not a valid outcome (use 1 if the partnership worked, 0 if not; blank means 1)")

