"""A roster of real schools (``matcher generate --roster``) as arrays the generator draws from.

The file is read and checked by :func:`matcher.data.read_roster`, like every
other input, so a bad roster is reported cell by cell; this module turns its
rows into grade positions, enrollment and title-cased cities.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from matcher.data import read_roster

# NCES grade codes as GRADE_LEVELS positions ("M" = not reported is not here).
_ROSTER_GRADES = {"PK": 0, "KG": 1, "K": 1, **{f"{g:02d}": g + 1 for g in range(1, 13)},
                  **{str(g): g + 1 for g in range(1, 13)}}
# Grade positions (lo, hi) of a school level, for rows whose grade codes are not reported.
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


def load_roster(path: str | Path) -> Roster:
    """Read a roster CSV (:func:`matcher.data.read_roster`: DataError on any problem) as arrays."""
    rows = read_roster(path)
    # Grades: real codes where given; otherwise (``M`` or junk) from the level, else K-12.
    st = rows["st_grade"].str.upper().map(_ROSTER_GRADES)
    en = rows["end_grade"].str.upper().map(_ROSTER_GRADES)
    level = rows["level"].str.upper()
    fb_lo = level.map(lambda v: _ROSTER_LEVEL_BAND.get(v, (1, 13))[0])
    fb_hi = level.map(lambda v: _ROSTER_LEVEL_BAND.get(v, (1, 13))[1])
    ok = st.notna() & en.notna() & (st <= en)
    lo = np.where(ok, st, fb_lo).astype(np.int8)
    hi = np.where(ok, en, fb_hi).astype(np.int8)
    return Roster(
        name=rows["name"].to_numpy(dtype=object),
        city=rows["city"].str.title().to_numpy(dtype=object),
        lat=rows["latitude"].to_numpy(dtype=float),
        lon=rows["longitude"].to_numpy(dtype=float),
        lo=lo,
        hi=hi,
        enrollment=rows["enrollment"].to_numpy(dtype=float),
    )
