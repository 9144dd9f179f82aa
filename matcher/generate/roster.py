"""A roster of real schools (``matcher generate --roster``) as arrays the generator draws from."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from matcher.config import MAX_REPORTED_PROBLEMS
from matcher.errors import DataError

_ROSTER_COLUMNS = ("name", "city", "latitude", "longitude", "level", "enrollment",
                   "st_grade", "end_grade")
_ROSTER_GRADES = {"PK": 0, "KG": 1, "K": 1, **{f"{g:02d}": g + 1 for g in range(1, 13)},
                  **{str(g): g + 1 for g in range(1, 13)}}
_ROSTER_LEVEL_BAND = {"ELEMENTARY": (1, 6), "MIDDLE": (7, 9), "HIGH": (10, 13),
                      "PREKINDERGARTEN": (0, 0), "SECONDARY": (7, 13)}


@dataclass
class Roster:
    """Parsed roster rows."""

    name: np.ndarray
    city: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    enrollment: np.ndarray  # float, NaN = not reported


def load_roster(path: Path) -> Roster:
    """Read and check a roster CSV; DataError naming the file on any problem."""
    if not path.is_file():
        raise DataError([f"{path}: roster file not found"])
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise DataError([f"{path}: cannot read roster as CSV ({exc})"]) from None
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    missing = [c for c in _ROSTER_COLUMNS if c not in raw.columns]
    if missing:
        raise DataError([f"{path}: missing column '{c}'" for c in missing])
    if raw.empty:
        raise DataError([f"{path}: roster has no rows"])

    problems: list[str] = []
    lat = pd.to_numeric(raw["latitude"].str.strip(), errors="coerce").to_numpy(float)
    lon = pd.to_numeric(raw["longitude"].str.strip(), errors="coerce").to_numpy(float)
    names = raw["name"].str.strip().to_numpy(dtype=object)
    for col, vals, limit in (("latitude", lat, 90.0), ("longitude", lon, 180.0)):
        for i in np.flatnonzero(~(np.abs(vals) <= limit)):
            problems.append(f"{path}: row {i + 2}, column {col}: "
                            f"{raw[col].iloc[i]!r} is not a valid {col}")
    for i in np.flatnonzero(names == ""):
        problems.append(f"{path}: row {i + 2}, column name: empty school name")
    if problems:
        problems.sort(key=lambda p: int(re.search(r"row (\d+)", p).group(1)))
        extra = len(problems) - MAX_REPORTED_PROBLEMS
        problems = problems[:MAX_REPORTED_PROBLEMS] + ([f"... and {extra} more"] if extra > 0 else [])
        raise DataError(problems)

    # Grades: real codes where given; otherwise (``M`` or junk) from the level, else K-12.
    st = raw["st_grade"].str.strip().str.upper().map(_ROSTER_GRADES)
    en = raw["end_grade"].str.strip().str.upper().map(_ROSTER_GRADES)
    level = raw["level"].str.strip().str.upper()
    fb_lo = level.map(lambda v: _ROSTER_LEVEL_BAND.get(v, (1, 13))[0])
    fb_hi = level.map(lambda v: _ROSTER_LEVEL_BAND.get(v, (1, 13))[1])
    ok = st.notna() & en.notna() & (st <= en)
    lo = np.where(ok, st, fb_lo).astype(np.int8)
    hi = np.where(ok, en, fb_hi).astype(np.int8)
    enroll = pd.to_numeric(raw["enrollment"].str.strip(), errors="coerce").to_numpy(float)
    enroll[~(enroll > 0)] = np.nan  # -999 and 0 mean "not reported"
    city = raw["city"].str.strip().str.title().to_numpy(dtype=object)
    return Roster(name=names, city=city, lat=lat, lon=lon, lo=lo, hi=hi, enrollment=enroll)
