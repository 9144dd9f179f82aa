"""Read and validate the input tables: schools, partners, partnerships (and a roster of real schools).

This is the only module that reads user CSV files. Each ``read_*`` function
reads a file as raw strings and hands it to the matching ``validate_*``
function, which also accepts a DataFrame built elsewhere (the web app, a
notebook); a roster is only ever read from a file. Either way the result is a
DataFrame with normalised columns, or a :class:`~matcher.errors.DataError`
that lists every problem in the table (at most
``config.MAX_REPORTED_PROBLEMS``, then ``"... and N more problems"``).

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
a roster of real schools (``matcher generate --roster``)
    required ``name``, ``city``, ``latitude``, ``longitude`` (never
    blank), ``level``, ``enrollment``, ``st_grade``, ``end_grade``, as in
    the NCES Common Core of Data; ``enrollment`` that is blank, not a number,
    ``0`` or ``-999`` means not reported.

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

from typing import Any

import numpy as np
import pandas as pd

from matcher.grades import parse_grades
from matcher.taxonomy import load_taxonomy

from matcher.csvread import Source, gc_paused, source_name
from matcher.table import Table, object_array, parse_bool, parse_outcome, partner_type_parser, read_table, table_from_frame

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
#: A roster of real schools (NCES style), for ``matcher generate --roster``: all required.
ROSTER_COLUMNS: tuple[str, ...] = (
    "name", "city", "latitude", "longitude", "level", "enrollment", "st_grade", "end_grade",
)

_SCHOOL_REQUIRED = ("school_id", "name", "needs")
_PARTNER_REQUIRED = ("partner_id", "name", "offerings")
_PARTNERSHIP_REQUIRED = ("school_id", "partner_id")

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
    name = source_name(path, source)
    with gc_paused():
        return _validate_schools(read_table(path, name, SCHOOL_COLUMNS))


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
    name = source_name(path, source)
    with gc_paused():
        return _validate_partners(read_table(path, name, PARTNER_COLUMNS))


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
    name = source_name(path, source)
    with gc_paused():
        return _validate_partnerships(read_table(path, name, PARTNERSHIP_COLUMNS))


def read_roster(path: Source, *, source: str | None = None) -> pd.DataFrame:
    """Read and validate a roster of real schools (``matcher generate --roster``).

    Parameters
    ----------
    path : str, path-like or open file
        The CSV file: columns :data:`ROSTER_COLUMNS`, as in the NCES-based
        Florida file (extra columns are kept).
    source : str, optional
        Name used in problem messages; default ``str(path)``.

    Returns
    -------
    pandas.DataFrame
        Columns ``name``, ``city``, ``level``, ``st_grade``, ``end_grade``
        (str, as written), ``latitude``, ``longitude`` (float64) and
        ``enrollment`` (float64, NaN when not reported: blank, not a number,
        ``0`` or ``-999``), then extra columns, in file order.

    Raises
    ------
    DataError
        Listing every problem in the file: a missing column, a blank name or
        location, a latitude or longitude that is not a number or out of range.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "roster.csv"
    >>> _ = p.write_text("name,city,latitude,longitude,level,enrollment,st_grade,end_grade\\n"
    ...                  "Alpha Elementary,GAINESVILLE,29.65,-82.34,ELEMENTARY,-999,KG,05\\n")
    >>> df = read_roster(p)
    >>> df["st_grade"].tolist(), df["latitude"].tolist(), df["enrollment"].tolist()
    (['KG'], [29.65], [nan])
    """
    name = source_name(path, source)
    with gc_paused():
        return _validate_roster(read_table(path, name, ROSTER_COLUMNS))


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
    return _validate_schools(table_from_frame(df, source, SCHOOL_COLUMNS))


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
    return _validate_partners(table_from_frame(df, source, PARTNER_COLUMNS))


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
    return _validate_partnerships(table_from_frame(df, source, PARTNERSHIP_COLUMNS))


# --------------------------------------------------------------------------- validators


def _validate_schools(t: Table) -> pd.DataFrame:
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
    preferred = _take(*t.parse("preferred_partner_types", partner_type_parser(taxonomy, many=True), ()), object)
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


def _validate_partners(t: Table) -> pd.DataFrame:
    """Check a partners table and build its normalised frame."""
    taxonomy = load_taxonomy()
    t.require(_PARTNER_REQUIRED)
    partner_id = t.ids("partner_id", unique=True)
    partner_type = _take(*t.parse("partner_type", partner_type_parser(taxonomy, many=False), ""), object)
    categories = t.categories("offering_categories", "offerings", taxonomy)
    grades = _take(*t.parse("grades", parse_grades, 0), np.int64)
    lat, lon = t.coordinates()
    radius, _ = t.numbers("service_radius_km", ok=lambda v: v > 0,
                          rule="is out of range (service_radius_km must be greater than 0; leave it blank for no limit)")
    remote = _take(*t.parse("remote", parse_bool, False), bool)
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


def _validate_partnerships(t: Table) -> pd.DataFrame:
    """Check a partnerships table and build its normalised frame."""
    t.require(_PARTNERSHIP_REQUIRED)
    school_id = t.ids("school_id", unique=False)
    partner_id = t.ids("partner_id", unique=False)
    outcome = _take(*t.parse("outcome", parse_outcome, 1), np.int64)
    start_date = t.dates("start_date")
    return t.frame(
        {
            "school_id": school_id,
            "partner_id": partner_id,
            "outcome": outcome,
            "start_date": start_date,
        }
    )


def _validate_roster(t: Table) -> pd.DataFrame:
    """Check a roster and build its normalised frame."""
    t.require(ROSTER_COLUMNS)
    if t.has("name"):
        t.flag("name", t.text("name") == "", lambda p: "name is blank (required on every row)")
    lat, lon = t.coordinates(required=True)
    # NCES writes -999 (and 0) for "not reported"; the roster is reference data, so an odd
    # enrollment is unknown rather than a problem.
    enrollment = np.asarray(pd.to_numeric(t.text("enrollment"), errors="coerce"), dtype=np.float64)
    enrollment[~(enrollment > 0)] = np.nan
    return t.frame(
        {
            "name": t.text("name"),
            "city": t.text("city"),
            "latitude": lat,
            "longitude": lon,
            "level": t.text("level"),
            "enrollment": enrollment,
            "st_grade": t.text("st_grade"),
            "end_grade": t.text("end_grade"),
        }
    )


def _take(codes: np.ndarray, values: list[Any], dtype: Any) -> np.ndarray:
    """Per-row array from per-value results (see ``Table.parse``)."""
    table = object_array(values) if dtype is object else np.array(values, dtype=dtype)
    return table[codes]
