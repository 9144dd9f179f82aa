"""Grade bands as bit masks.

A grade band is an ``int`` whose bit *i* is set when the band includes
``config.GRADE_LEVELS[i]``: bit 0 is PK, bit 1 is K, bit 2 is grade 1, ...,
bit 13 is grade 12. ``0`` means "not given" (unknown), never "no grades".

Masks make the common questions cheap: two bands overlap when ``a & b``,
and a whole column of bands is a plain integer array.
"""
from __future__ import annotations

import re
from functools import lru_cache

from matcher.config import GRADE_LEVELS

#: Every grade level, PK to 12.
ALL_GRADES: int = (1 << len(GRADE_LEVELS)) - 1

_INDEX = {level: i for i, level in enumerate(GRADE_LEVELS)}

# Other ways people write PK and K (upper-cased, spaces removed); Pre-K is folded by _PRE_K.
# TK (transitional kindergarten) is the year before K, so it counts as PK.
_ALIASES = {"TK": "PK", "KG": "K", "KINDERGARTEN": "K"}

_DASHES = str.maketrans({"\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2010": "-", "\u2011": "-"})
_PRE_K = re.compile(r"PRE[\s-]*K(?:INDERGARTEN)?\b", re.IGNORECASE)
_RANGE = re.compile(r"^([A-Z0-9]+)\s*-\s*([A-Z0-9]+)$", re.IGNORECASE)
_HINT = "use PK, K or 1-12"


def parse_grades(text: str) -> int:
    """Parse a grade band as people write it into a bit mask.

    Parameters
    ----------
    text : str
        Levels (``PK``, ``K``, ``1``..``12``; also ``Pre-K``, ``PreK``,
        ``TK`` for PK, ``KG`` for K, ``01``..``09``), ranges (``K-5``,
        ``6 - 8``, ``6–8``) and lists of either separated by ``;`` or ``,``
        (``6;7;8``, ``K-2;5``), or ``all``. Case and spaces do not matter.

    Returns
    -------
    int
        The mask; ``0`` for blank text (grades not given).

    Raises
    ------
    ValueError
        For a level that is not a grade (``'13' is not a grade (use PK, K
        or 1-12)``) or a range written high to low (``range '8-6' is
        reversed``).

    Examples
    --------
    >>> format_grades(parse_grades("k-5"))
    'K-5'
    >>> parse_grades("PK") == 1, parse_grades("")
    (True, 0)
    """
    return _parse_cached(str(text))


@lru_cache(maxsize=4096)
def _parse_cached(text: str) -> int:
    """Parse one whole cell (cached: a column holds few distinct bands)."""
    mask = 0
    for part in re.split(r"[;,]", text.translate(_DASHES)):
        part = part.strip()
        if part:
            mask |= _parse_part(part)
    return mask


def _parse_part(part: str) -> int:
    """Parse one level, range or the word 'all'."""
    # Fold "Pre-K" first so its hyphen is not taken for a range.
    text = _PRE_K.sub("PK", part)
    if text.upper() == "ALL":
        return ALL_GRADES
    m = _RANGE.match(text)
    if m is None:
        return 1 << _level(text)
    lo, hi = _level(m[1]), _level(m[2])
    if lo > hi:
        raise ValueError(f"range {part!r} is reversed")
    return ((1 << (hi + 1)) - 1) ^ ((1 << lo) - 1)


def _level(written: str) -> int:
    """Bit index of one level as written, such as 'k' or '07'."""
    key = re.sub(r"\s+", "", written.upper())
    key = _ALIASES.get(key, key)
    if key.isdigit() and key.isascii():
        key = str(int(key))  # "07" -> "7"
    if key in _INDEX:
        return _INDEX[key]
    raise ValueError(f"{written!r} is not a grade ({_HINT})")


def format_grades(mask: int) -> str:
    """Write a mask compactly: contiguous runs as ranges joined by ``;``.

    Parameters
    ----------
    mask : int
        A mask from :func:`parse_grades`.

    Returns
    -------
    str
        ``"K-5"``, ``"PK-12"``, ``"K-2;5"``, ``"9"``; ``""`` for 0.

    Raises
    ------
    ValueError
        If ``mask`` is negative or has bits beyond grade 12.

    Examples
    --------
    >>> format_grades(parse_grades("K;1;2;5"))
    'K-2;5'
    >>> format_grades(0)
    ''
    """
    mask = int(mask)
    if mask < 0 or mask > ALL_GRADES:
        raise ValueError(f"{mask} is not a grade mask (must be between 0 and {ALL_GRADES})")
    runs: list[str] = []
    i, n = 0, len(GRADE_LEVELS)
    while i < n:
        if not mask >> i & 1:
            i += 1
            continue
        j = i
        while j + 1 < n and mask >> (j + 1) & 1:
            j += 1
        runs.append(GRADE_LEVELS[i] if i == j else f"{GRADE_LEVELS[i]}-{GRADE_LEVELS[j]}")
        i = j + 1
    return ";".join(runs)


def grades_overlap(a: int, b: int) -> bool:
    """Whether two bands share a grade level (False when either is unknown).

    Parameters
    ----------
    a, b : int
        Masks from :func:`parse_grades`.

    Returns
    -------
    bool

    Examples
    --------
    >>> grades_overlap(parse_grades("K-5"), parse_grades("5-8"))
    True
    >>> grades_overlap(parse_grades("K-5"), 0)
    False
    """
    return bool(a & b)
