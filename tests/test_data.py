"""Tests for matcher.data: reading, validating and normalising the input tables."""
from __future__ import annotations

import io
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matcher import config
from matcher.data import (
    PARTNER_COLUMNS,
    PARTNERSHIP_COLUMNS,
    SCHOOL_COLUMNS,
    read_partners,
    read_partnerships,
    read_schools,
    validate_partners,
    validate_partnerships,
    validate_schools,
)
from matcher.errors import DataError
from matcher.grades import parse_grades
from matcher.taxonomy import load_taxonomy

# The taxonomy is being rewritten: take slugs from it rather than hard-coding them.
TAX = load_taxonomy()
CAT = TAX.category_slugs[0]
CAT2 = TAX.category_slugs[-1]
PTYPE = TAX.partner_type_slugs[0]
VALID_CATEGORIES = ", ".join(TAX.category_slugs)
VALID_TYPES = ", ".join(TAX.partner_type_slugs)
UNKNOWN = "zzqx unheard of"  # far from any slug or partner type
TYPO = CAT[:-1] + ("y" if CAT.endswith("x") else "x")  # one letter off a real slug

SCHOOL_HEADER = list(SCHOOL_COLUMNS)
SCHOOL_ROW = {
    "school_id": "S1", "name": "Lincoln Elementary", "needs": "after-school tutoring",
    "need_categories": CAT, "grades": "K-5", "latitude": "40.7", "longitude": "-74.0",
    "enrollment": "350", "frl_pct": "62.5", "preferred_partner_types": PTYPE,
}
PARTNER_HEADER = list(PARTNER_COLUMNS)
PARTNER_ROW = {
    "partner_id": "P1", "name": "City Food Bank", "offerings": "weekend meal packs",
    "partner_type": PTYPE, "offering_categories": CAT, "grades": "PK-12", "latitude": "40.71",
    "longitude": "-74.01", "service_radius_km": "25", "remote": "no", "capacity": "40",
}
PARTNERSHIP_HEADER = list(PARTNERSHIP_COLUMNS)
PARTNERSHIP_ROW = {"school_id": "S1", "partner_id": "P1", "outcome": "1", "start_date": "2023-09-01"}

KINDS = {
    "schools": (read_schools, SCHOOL_HEADER, SCHOOL_ROW, "school_id"),
    "partners": (read_partners, PARTNER_HEADER, PARTNER_ROW, "partner_id"),
    "partnerships": (read_partnerships, PARTNERSHIP_HEADER, PARTNERSHIP_ROW, "school_id"),
}


def csv_line(cells: list[str]) -> str:
    """One CSV line, quoting cells that need it."""
    return ",".join(f'"{c}"' if ("," in c or '"' in c) else c for c in cells)


def make_rows(row: dict[str, str], id_col: str, n: int) -> list[dict[str, str]]:
    """n copies of a good row with distinct ids."""
    return [{**row, id_col: f"{row[id_col]}{i}"} for i in range(n)]


def write(tmp_path: Path, name: str, text: str | bytes, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    if isinstance(text, str):
        text = text.encode(encoding)
    path.write_bytes(text)
    return path


def write_table(tmp_path: Path, name: str, header: list[str], rows: list[dict[str, str]]) -> Path:
    lines = [csv_line(header)] + [csv_line([r.get(h, "") for h in header]) for r in rows]
    return write(tmp_path, name, "\n".join(lines) + "\n")


def problems(read: Callable[..., pd.DataFrame], path: object, **kw: object) -> list[str]:
    with pytest.raises(DataError) as info:
        read(path, **kw)
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


# --------------------------------------------------------------------------- valid input


def test_read_schools_normalises(tmp_path: Path) -> None:
    rows = [
        SCHOOL_ROW,
        {"school_id": " S2 ", "name": "Oak", "needs": "", "need_categories": f" {CAT.upper()} ; {CAT2};{CAT}",
         "grades": "6-8", "preferred_partner_types": ""},
    ]
    df = read_schools(write_table(tmp_path, "schools.csv", SCHOOL_HEADER, rows))
    assert list(df.columns) == SCHOOL_HEADER
    assert df["school_id"].tolist() == ["S1", "S2"]
    assert df["needs"].tolist() == ["after-school tutoring", ""]
    assert df.at[0, "need_categories"] == (CAT,)
    assert df.at[1, "need_categories"] == tuple(dict.fromkeys([CAT, CAT2]))
    assert df["grades"].tolist() == [parse_grades("K-5"), parse_grades("6-8")]
    assert df["grades"].dtype == np.int64
    for col in ("latitude", "longitude", "enrollment", "frl_pct"):
        assert df[col].dtype == np.float64
    assert df.at[0, "latitude"] == 40.7 and df.at[0, "enrollment"] == 350 and df.at[0, "frl_pct"] == 62.5
    assert math.isnan(df.at[1, "latitude"]) and math.isnan(df.at[1, "enrollment"])
    assert df["preferred_partner_types"].tolist() == [(PTYPE,), ()]


def test_read_partners_normalises(tmp_path: Path) -> None:
    rows = [
        PARTNER_ROW,
        {"partner_id": "P2", "name": "Online Tutors", "offerings": "", "offering_categories": CAT,
         "remote": "YES", "capacity": "", "service_radius_km": "", "partner_type": ""},
        {"partner_id": "P3", "name": "Museum", "offerings": "field trips", "remote": "",
         "capacity": "0", "partner_type": PTYPE.upper()},
    ]
    df = read_partners(write_table(tmp_path, "partners.csv", PARTNER_HEADER, rows))
    assert list(df.columns) == PARTNER_HEADER
    assert df["remote"].tolist() == [False, True, False]
    assert df["remote"].dtype == bool
    assert df.at[0, "capacity"] == 40 and math.isnan(df.at[1, "capacity"]) and df.at[2, "capacity"] == 0
    assert df.at[0, "service_radius_km"] == 25 and math.isnan(df.at[1, "service_radius_km"])
    assert df["partner_type"].tolist() == [PTYPE, "", PTYPE]
    assert df["offering_categories"].tolist() == [(CAT,), (CAT,), ()]
    assert df["grades"].tolist() == [parse_grades("PK-12"), 0, 0]


def test_read_partnerships_normalises(tmp_path: Path) -> None:
    rows = [PARTNERSHIP_ROW, {"school_id": "S1", "partner_id": "P2", "outcome": "0", "start_date": ""},
            {"school_id": "S2", "partner_id": "P1", "outcome": ""}]
    df = read_partnerships(write_table(tmp_path, "partnerships.csv", PARTNERSHIP_HEADER, rows))
    assert df["outcome"].tolist() == [1, 0, 1]
    assert df["outcome"].dtype == np.int64
    assert df["start_date"].dtype == np.dtype("datetime64[ns]")
    assert df.at[0, "start_date"] == pd.Timestamp("2023-09-01")
    assert pd.isna(df.at[1, "start_date"]) and pd.isna(df.at[2, "start_date"])


def test_optional_columns_may_be_absent(tmp_path: Path) -> None:
    schools = read_schools(write(tmp_path, "s.csv", "school_id,name,needs\nS1,A,tutoring\n"))
    assert list(schools.columns) == SCHOOL_HEADER
    assert schools.at[0, "need_categories"] == () and schools.at[0, "grades"] == 0
    assert math.isnan(schools.at[0, "latitude"])
    partners = read_partners(write(tmp_path, "p.csv", "partner_id,name,offerings\nP1,A,meals\n"))
    assert partners.at[0, "partner_type"] == "" and partners.at[0, "remote"] is np.False_
    assert math.isnan(partners.at[0, "capacity"]) and math.isnan(partners.at[0, "service_radius_km"])
    history = read_partnerships(write(tmp_path, "h.csv", "school_id,partner_id\nS1,P1\n"))
    assert history.at[0, "outcome"] == 1 and pd.isna(history.at[0, "start_date"])


def test_extra_columns_are_kept_after_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, "s.csv", "notes,school_id,name,needs,District\n  hi  ,S1,A,tutoring,7\n")
    df = read_schools(path)
    assert list(df.columns) == SCHOOL_HEADER + ["notes", "District"]
    assert df.at[0, "notes"] == "hi" and df.at[0, "District"] == "7"


def test_header_names_are_matched_loosely(tmp_path: Path) -> None:
    df = read_schools(write(tmp_path, "s.csv", " School ID ,NAME,Needs,Need-Categories\nS1,A,x,\n"))
    assert df["school_id"].tolist() == ["S1"]


@pytest.mark.parametrize("value, expected", [
    ("true", True), ("TRUE", True), ("Yes", True), ("1", True), ("y", True),
    ("false", False), ("No", False), ("0", False), ("", False),
])
def test_remote_values(tmp_path: Path, value: str, expected: bool) -> None:
    rows = [{**PARTNER_ROW, "remote": value}]
    df = read_partners(write_table(tmp_path, "p.csv", PARTNER_HEADER, rows))
    assert df.at[0, "remote"] is np.bool_(expected)


def test_windows_1252_file(tmp_path: Path) -> None:
    text = "school_id,name,needs\nS1,Café Élémentaire,soutien scolaire – lecture\n"
    df = read_schools(write(tmp_path, "s.csv", text, encoding="cp1252"))
    assert df.at[0, "name"] == "Café Élémentaire"
    assert df.at[0, "needs"] == "soutien scolaire – lecture"


def test_utf8_bom(tmp_path: Path) -> None:
    path = write(tmp_path, "s.csv", "\ufeffschool_id,name,needs\nS1,Café,x\n")
    df = read_schools(path)
    assert df["school_id"].tolist() == ["S1"] and df.at[0, "name"] == "Café"


def test_crlf_blank_lines_and_multiline_cells(tmp_path: Path) -> None:
    text = ('school_id,name,needs\r\n\r\nS1,A,"line one\r\nline two"\r\n'
            ',,\r\nS2,B,x\r\n\r\n  \r\n')
    df = read_schools(write(tmp_path, "s.csv", text))
    assert df["school_id"].tolist() == ["S1", "S2"]
    assert df.at[0, "needs"] == "line one\r\nline two"


def test_row_numbers_count_blank_lines_and_multiline_records_once(tmp_path: Path) -> None:
    # Row 1 header, row 2 blank, row 3 spans two lines, row 4 bare separators, row 5 bad.
    text = 'school_id,name,needs,latitude,longitude\n\nS1,A,"two\nlines",1,1\n,,,,\nS2,B,x,abc,1\n'
    path = write(tmp_path, "s.csv", text)
    assert problems(read_schools, path) == [f"{path}: row 5, column latitude: 'abc' is not a number"]


def test_open_file_and_source_name() -> None:
    stream = io.BytesIO(b"school_id,name,needs\nS1,A,\n")
    assert problems(read_schools, stream, source="upload.csv") == [
        "upload.csv: row 2, column needs: needs is blank (fill it in, or add a need_categories column)"
    ]
    df = read_schools(io.StringIO("school_id,name,needs\nS1,A,x\n"), source="upload.csv")
    assert df["school_id"].tolist() == ["S1"]


# --------------------------------------------------------------------------- bad cells

SCHOOL_CELL_CASES = [
    ("school_id", "", "school_id is blank (required on every row)"),
    ("school_id", "S10", "duplicate school_id 'S10' (first seen in row 2)"),
    ("latitude", "abc", "'abc' is not a number"),
    ("latitude", "95", "'95' is out of range (latitude must be between -90 and 90)"),
    ("latitude", "-90.5", "'-90.5' is out of range (latitude must be between -90 and 90)"),
    ("longitude", "181", "'181' is out of range (longitude must be between -180 and 180)"),
    ("longitude", "1,5", "'1,5' is not a number"),
    ("longitude", "", "blank, but latitude is given (give both or neither)"),
    ("latitude", "", "blank, but longitude is given (give both or neither)"),
    ("enrollment", "-1", "'-1' is not a whole number >= 0"),
    ("enrollment", "12.5", "'12.5' is not a whole number >= 0"),
    ("enrollment", "many", "'many' is not a number"),
    ("frl_pct", "101", "'101' is out of range (frl_pct must be between 0 and 100)"),
    ("frl_pct", "-3", "'-3' is out of range (frl_pct must be between 0 and 100)"),
    ("frl_pct", "inf", "'inf' is not a number"),
    ("grades", "13", "'13' is not a grade (use PK, K or 1-12)"),
    ("grades", "8-6", "range '8-6' is reversed"),
    ("need_categories", UNKNOWN, f"unknown category '{UNKNOWN}' (valid: {VALID_CATEGORIES})"),
    ("need_categories", f"{CAT};{UNKNOWN}", f"unknown category '{UNKNOWN}' (valid: {VALID_CATEGORIES})"),
    ("need_categories", TYPO, f"unknown category {TYPO!r} (did you mean {CAT!r}?)"),
    ("preferred_partner_types", UNKNOWN, f"unknown partner type '{UNKNOWN}' (valid: {VALID_TYPES})"),
]

PARTNER_CELL_CASES = [
    ("partner_id", "", "partner_id is blank (required on every row)"),
    ("partner_id", "P10", "duplicate partner_id 'P10' (first seen in row 2)"),
    ("partner_type", UNKNOWN, f"unknown partner type '{UNKNOWN}' (valid: {VALID_TYPES})"),
    ("offering_categories", UNKNOWN, f"unknown category '{UNKNOWN}' (valid: {VALID_CATEGORIES})"),
    ("grades", "K-13", "'13' is not a grade (use PK, K or 1-12)"),
    ("latitude", "north", "'north' is not a number"),
    ("longitude", "-200", "'-200' is out of range (longitude must be between -180 and 180)"),
    ("service_radius_km", "0", "'0' is out of range (service_radius_km must be greater than 0; "
                               "leave it blank for no limit)"),
    ("service_radius_km", "-5", "'-5' is out of range (service_radius_km must be greater than 0; "
                                "leave it blank for no limit)"),
    ("service_radius_km", "far", "'far' is not a number"),
    ("remote", "maybe", "'maybe' is not true or false (use true/false, yes/no or 1/0)"),
    ("capacity", "-1", "'-1' is not a whole number >= 0 (leave it blank for no limit)"),
    ("capacity", "2.5", "'2.5' is not a whole number >= 0 (leave it blank for no limit)"),
    ("capacity", "lots", "'lots' is not a number"),
]

PARTNERSHIP_CELL_CASES = [
    ("school_id", "", "school_id is blank (required on every row)"),
    ("partner_id", "", "partner_id is blank (required on every row)"),
    ("outcome", "2", "'2' is not a valid outcome (use 1 if the partnership worked, 0 if not; blank means 1)"),
    ("outcome", "yes", "'yes' is not a valid outcome (use 1 if the partnership worked, 0 if not; blank means 1)"),
    ("start_date", "2023-13-01", "'2023-13-01' is not a date (use YYYY-MM-DD)"),
    ("start_date", "09/01/2023", "'09/01/2023' is not a date (use YYYY-MM-DD)"),
    ("start_date", "1500-01-01", "'1500-01-01' is out of range (years 1678-2261)"),
]


@pytest.mark.parametrize(
    "kind, column, value, message",
    [("schools", *c) for c in SCHOOL_CELL_CASES]
    + [("partners", *c) for c in PARTNER_CELL_CASES]
    + [("partnerships", *c) for c in PARTNERSHIP_CELL_CASES],
)
def test_bad_cell(tmp_path: Path, kind: str, column: str, value: str, message: str) -> None:
    read, header, row, id_col = KINDS[kind]
    rows = make_rows(row, id_col, 3)
    rows[2][column] = value  # third data row: spreadsheet row 4
    path = write_table(tmp_path, f"{kind}.csv", header, rows)
    assert problems(read, path) == [f"{path}: row 4, column {column}: {message}"]


@pytest.mark.parametrize(
    "kind, column, value, message",
    [("schools", *c) for c in SCHOOL_CELL_CASES[:5]] + [("partners", *c) for c in PARTNER_CELL_CASES[2:5]],
)
def test_bad_cell_in_a_dataframe(kind: str, column: str, value: str, message: str) -> None:
    validate = {"schools": validate_schools, "partners": validate_partners}[kind]
    _, header, row, id_col = KINDS[kind]
    rows = make_rows(row, id_col, 3)
    rows[2][column] = value
    with pytest.raises(DataError) as info:
        validate(pd.DataFrame(rows, columns=header), source="upload")
    assert info.value.problems == [f"upload: row 4, column {column}: {message}"]


@pytest.mark.parametrize("kind, text_col, cat_col", [
    ("schools", "needs", "need_categories"), ("partners", "offerings", "offering_categories")])
def test_blank_free_text_needs_categories(tmp_path: Path, kind: str, text_col: str, cat_col: str) -> None:
    read, header, row, id_col = KINDS[kind]
    rows = make_rows(row, id_col, 3)
    rows[0][text_col] = ""  # fine: categories stand in
    rows[1][text_col] = rows[1][cat_col] = ""
    path = write_table(tmp_path, f"{kind}.csv", header, rows)
    assert problems(read, path) == [
        f"{path}: row 3, column {text_col}: {text_col} is blank and {cat_col} is empty (fill in at least one)"
    ]


def test_one_coordinate_column_missing(tmp_path: Path) -> None:
    path = write(tmp_path, "s.csv", "school_id,name,needs,latitude\nS1,A,x,40\nS2,B,y,\n")
    assert problems(read_schools, path) == [
        f"{path}: column longitude: missing, but latitude is given (give both columns or neither)"
    ]


# --------------------------------------------------------------------------- whole-file problems


@pytest.mark.parametrize("kind", list(KINDS))
def test_missing_required_column(tmp_path: Path, kind: str) -> None:
    read, header, row, id_col = KINDS[kind]
    required = {"schools": ["school_id", "name", "needs"], "partners": ["partner_id", "name", "offerings"],
                "partnerships": ["school_id", "partner_id"]}[kind]
    for column in required:
        kept = [h for h in header if h != column]
        path = write_table(tmp_path, f"{kind}.csv", kept, [row])
        found = ", ".join(kept)
        assert f"{path}: column {column}: missing required column (found: {found})" in problems(read, path)


def test_ragged_rows(tmp_path: Path) -> None:
    text = "school_id,name,needs\nS1,A,x\nS2,B,y,extra\nS3,C\nS4,D,z\n,,,,\n"
    path = write(tmp_path, "s.csv", text)
    assert problems(read_schools, path) == [
        f"{path}: row 3: has 4 fields, header has 3",
        f"{path}: row 4: has 2 fields, header has 3",
    ]


@pytest.mark.parametrize("content", [b"", b"   \n\n", b"\xef\xbb\xbf", b"\n,,\n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = write(tmp_path, "s.csv", content)
    assert problems(read_schools, path) == [f"{path}: file is empty"]


def test_header_only(tmp_path: Path) -> None:
    path = write(tmp_path, "s.csv", "school_id,name,needs\n\n")
    assert problems(read_schools, path) == [f"{path}: has a header but no data rows"]


@pytest.mark.parametrize("content, hint", [
    (b"school_id,name\x00\x00\x01", ""),
    (bytes(range(1, 32)) * 20, ""),
    (b"PK\x03\x04\x14\x00\x06\x00" + bytes(200), "; it looks like an Excel workbook: save it as 'CSV UTF-8'"),
])
def test_binary_file(tmp_path: Path, content: bytes, hint: str) -> None:
    path = write(tmp_path, "s.csv", content)
    assert problems(read_schools, path) == [f"{path}: is not a text CSV file (binary content{hint})"]


def test_utf16_file(tmp_path: Path) -> None:
    path = write(tmp_path, "s.csv", "school_id,name,needs\nS1,A,x\n", encoding="utf-16")
    assert problems(read_schools, path) == [
        f"{path}: is UTF-16 text, not UTF-8 (in Excel, save as 'CSV UTF-8')"
    ]


def test_undecodable_file(tmp_path: Path) -> None:
    path = write(tmp_path, "s.csv", b"school_id,name,needs\nS1,A\x81,x\n")  # 0x81: invalid in both
    assert problems(read_schools, path) == [
        f"{path}: cannot decode: not UTF-8 or Windows-1252 text (byte 0x81 at offset 25); save it as 'CSV UTF-8'"
    ]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    assert problems(read_partners, path) == [f"{path}: cannot read: file not found"]
    assert problems(read_partners, str(path)) == [f"{path}: cannot read: file not found"]


def test_directory(tmp_path: Path) -> None:
    assert problems(read_partners, tmp_path) == [f"{tmp_path}: cannot read: is a directory"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_unreadable_file(tmp_path: Path) -> None:
    path = write(tmp_path, "s.csv", "school_id,name,needs\n")
    path.chmod(0)
    try:
        assert problems(read_schools, path) == [f"{path}: cannot read: permission denied"]
    finally:
        path.chmod(0o600)


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulated: tests may run as root, who can read anything.
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    import matcher.csvread as csvread_module

    monkeypatch.setattr(csvread_module, "open", refuse, raising=False)
    path = write(tmp_path, "s.csv", "school_id,name,needs\n")
    assert problems(read_schools, path) == [f"{path}: cannot read: permission denied"]


def test_unclosed_quote(tmp_path: Path) -> None:
    path = write(tmp_path, "s.csv", 'school_id,name,needs\nS1,A,"' + "x" * 200_000 + "\nS2,B,y\n")
    assert problems(read_schools, path) == [  # the cause, not the csv module's field limit
        f'{path}: row 2: a quoted cell never ends: a stray " swallows the rest of the file into this row'
    ]
    path = write(tmp_path, "s.csv", 'school_id,name,needs\nS1,A,"tutoring\nS2,B,y\nS3,C,z\n')
    assert problems(read_schools, path) == [
        f'{path}: row 2: a quoted cell never ends: a stray " swallows the rest of the file into this row'
    ]


def test_literal_quotes_inside_unquoted_cells_are_fine(tmp_path: Path) -> None:
    df = read_schools(write(tmp_path, "s.csv", 'school_id,name,needs\nS1,A,"5"" rulers"\nS2,B,12" rulers\n'))
    assert df["needs"].tolist() == ['5" rulers', '12" rulers']


def test_duplicate_header_names(tmp_path: Path) -> None:
    path = write(tmp_path, "s.csv", "school_id,name,needs,Name,notes,notes\nS1,A,x,B,,\n")
    assert problems(read_schools, path) == [
        f"{path}: column name: appears 2 times in the header (columns 2, 4)",
        f"{path}: column notes: appears 2 times in the header (columns 5, 6)",
    ]


def test_blank_header_cells(tmp_path: Path) -> None:
    # Trailing separators on every line are dropped; a named-less column with data is kept.
    df = read_schools(write(tmp_path, "s.csv", "school_id,name,needs,,,\nS1,A,x,,7,\n"))
    assert list(df.columns) == SCHOOL_HEADER + ["unnamed_5"]


# --------------------------------------------------------------------------- many problems


def test_all_problems_reported_together_in_row_order(tmp_path: Path) -> None:
    rows = make_rows(PARTNER_ROW, "partner_id", 4)
    rows[3]["capacity"] = "-2"
    rows[3]["remote"] = "perhaps"
    rows[1]["latitude"] = "999"
    rows[2]["partner_id"] = rows[0]["partner_id"]
    path = write_table(tmp_path, "partners.csv", PARTNER_HEADER, rows)
    assert problems(read_partners, path) == [
        f"{path}: row 3, column latitude: '999' is out of range (latitude must be between -90 and 90)",
        f"{path}: row 4, column partner_id: duplicate partner_id 'P10' (first seen in row 2)",
        f"{path}: row 5, column remote: 'perhaps' is not true or false (use true/false, yes/no or 1/0)",
        f"{path}: row 5, column capacity: '-2' is not a whole number >= 0 (leave it blank for no limit)",
    ]


def test_missing_column_and_bad_cells_together(tmp_path: Path) -> None:
    path = write(tmp_path, "s.csv", "school_id,needs,grades\nS1,x,K-5\nS2,y,14\n")
    assert problems(read_schools, path) == [
        f"{path}: column name: missing required column (found: school_id, needs, grades)",
        f"{path}: row 3, column grades: '14' is not a grade (use PK, K or 1-12)",
    ]


def test_problem_cap(tmp_path: Path) -> None:
    cap = config.MAX_REPORTED_PROBLEMS
    rows = make_rows(SCHOOL_ROW, "school_id", cap + 15)
    for r in rows:
        r["latitude"] = "x"
    rows[-1]["frl_pct"] = "200"
    path = write_table(tmp_path, "schools.csv", SCHOOL_HEADER, rows)
    found = problems(read_schools, path)
    assert len(found) == cap + 1
    assert found[0] == f"{path}: row 2, column latitude: 'x' is not a number"
    assert found[cap - 1] == f"{path}: row {cap + 1}, column latitude: 'x' is not a number"
    assert found[-1] == "... and 16 more problems"


def test_problem_cap_counts_ragged_rows(tmp_path: Path) -> None:
    cap = config.MAX_REPORTED_PROBLEMS
    text = "school_id,name,needs\n" + "".join(f"S{i},A\n" for i in range(cap + 1))
    found = problems(read_schools, write(tmp_path, "s.csv", text))
    assert found[-1] == "... and 1 more problem"


def test_many_rows_few_problems(tmp_path: Path) -> None:
    rows = make_rows(PARTNER_ROW, "partner_id", 5000)
    rows[4321]["grades"] = "K-5;99"
    path = write_table(tmp_path, "partners.csv", PARTNER_HEADER, rows)
    assert problems(read_partners, path) == [
        f"{path}: row 4323, column grades: '99' is not a grade (use PK, K or 1-12)"
    ]
    rows[4321]["grades"] = "K-5"
    assert len(read_partners(write_table(tmp_path, "partners.csv", PARTNER_HEADER, rows))) == 5000


# --------------------------------------------------------------------------- DataFrames


def test_validate_dataframe_with_nan_and_numbers() -> None:
    df = pd.DataFrame({
        "partner_id": ["P1", "P2"], "name": ["A", "B"], "offerings": ["meals", np.nan],
        "offering_categories": [np.nan, CAT], "capacity": [12.0, np.nan], "remote": [True, False],
        "latitude": [40.5, None], "longitude": [-74.25, None], "grades": ["K-5", None],
    })
    out = validate_partners(df)
    assert out["offerings"].tolist() == ["meals", ""]
    assert out["capacity"].tolist()[0] == 12 and math.isnan(out["capacity"].tolist()[1])
    assert out["remote"].tolist() == [True, False]
    assert out.at[0, "latitude"] == 40.5 and out["offering_categories"].tolist() == [(), (CAT,)]


def test_validate_dataframe_uses_source_and_positions() -> None:
    df = pd.DataFrame({"school_id": ["S1", "S1"], "partner_id": ["P1", "P2"], "outcome": ["1", "5"]},
                      index=[10, 20])
    with pytest.raises(DataError) as info:
        validate_partnerships(df)
    assert info.value.problems == [
        "partnerships.csv: row 3, column outcome: "
        "'5' is not a valid outcome (use 1 if the partnership worked, 0 if not; blank means 1)"
    ]
    assert validate_partnerships(df.iloc[:1]).index.tolist() == [0]


def test_validate_empty_dataframe() -> None:
    with pytest.raises(DataError) as info:
        validate_schools(pd.DataFrame({"school_id": [], "name": [], "needs": []}))
    assert info.value.problems == ["schools.csv: has a header but no data rows"]


def test_a_cell_over_the_limit_is_reported_in_the_data_contract_format(tmp_path: Path) -> None:
    limit = config.MAX_CELL_CHARS
    assert limit == 100_000  # documented in data/README.md
    big = ("tutoring " * 120_000).strip()  # about 1 MB
    path = write(tmp_path, "s.csv", f"school_id,name,needs\nS1,A,ok\nS2,B,{big}\nS3,C,ok\n")
    assert problems(read_schools, path) == [
        f"{path}: row 3, column needs: the cell has {len(big):,} characters; the limit is 100,000 per cell"
    ]
    # a quoted cell spanning lines, each line short
    spread = '"' + "line\n" * 25_000 + '"'
    path = write(tmp_path, "p.csv", f"partner_id,name,offerings\nP1,A,{spread}\n")
    assert problems(read_partners, path) == [
        f"{path}: row 2, column offerings: the cell has 125,000 characters; the limit is 100,000 per cell"
    ]
    at_limit = "x" * limit
    path = write(tmp_path, "ok.csv", f"school_id,name,needs\nS1,A,{at_limit}\n")
    assert read_schools(path)["needs"][0] == at_limit
    df = pd.DataFrame({"school_id": ["S1"], "name": ["A"], "needs": ["y" * (limit + 1)]})
    with pytest.raises(DataError, match=r"schools.csv: row 2, column needs: the cell has 100,001 characters"):
        validate_schools(df)


def test_the_csv_modules_field_limit_never_surfaces(tmp_path: Path) -> None:
    import csv

    before = csv.field_size_limit()
    for text in ["school_id,name,needs\nS1,A," + "x" * 200_000 + "\n",
                 'school_id,name,needs\nS1,A,"' + "x" * 200_000 + '"\n']:
        path = write(tmp_path, "s.csv", text)
        (message,) = problems(read_schools, path)
        assert "field limit" not in message and "row 2, column needs" in message
    assert csv.field_size_limit() == before  # the process-wide limit is put back


@pytest.mark.parametrize(
    "first, second",
    [("Caf\u00e9-1", "Cafe\u0301-1"), ("S1", "S\u200b1"), ("S1", "\ufeffS1\u2060")],
    ids=["nfc-vs-nfd", "zero-width-space", "bom-and-word-joiner"],
)
def test_look_alike_ids_are_duplicate_ids(tmp_path: Path, first: str, second: str) -> None:
    from matcher.ids import normalise_id

    path = write(tmp_path, "s.csv", f"school_id,name,needs\n{first},A,tutoring\n{second},B,meals\n")
    assert problems(read_schools, path) == [
        f"{path}: row 3, column school_id: duplicate school_id {normalise_id(first)!r} (first seen in row 2) "
        "(ids differing only in invisible characters or in how accents are encoded are one id)"
    ]
    path = write(tmp_path, "p.csv", f"partner_id,name,offerings\n{second},A,tutoring\nP2,B,meals\n")
    assert read_partners(path)["partner_id"].tolist() == [normalise_id(first), "P2"]
    path = write(tmp_path, "h.csv", f"school_id,partner_id\n{second},{second}\n")
    assert read_partnerships(path)["school_id"].tolist() == [normalise_id(first)]


def test_look_alike_ids_find_the_same_school_in_the_cli_and_the_outreach_store(model_file, tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from matcher.cli import main
    from matcher.state import OutreachStore

    plain = CliRunner().invoke(main, ["recommend", "--model", str(model_file), "--school", "S1", "--format", "json"])
    hidden = CliRunner().invoke(main, ["recommend", "--model", str(model_file), "--school", "S\u200b1", "--format", "json"])
    assert hidden.exit_code == 0 and json.loads(hidden.stdout) == json.loads(plain.stdout)
    store = OutreachStore(tmp_path / "o.db")
    store.record("S\u200b1", "P\ufeff1", "contacted")
    assert [(e.school_id, e.partner_id) for e in store.history("S1", "P1")] == [("S1", "P1")]
