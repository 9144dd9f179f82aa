"""Tests for matcher.grades: parsing, formatting and overlap of grade bands."""
from __future__ import annotations

import pytest

from matcher.config import GRADE_LEVELS
from matcher.grades import ALL_GRADES, format_grades, grades_overlap, parse_grades


def bits(*levels: str) -> int:
    """Mask with the given levels set."""
    return sum(1 << GRADE_LEVELS.index(level) for level in levels)


def span(lo: str, hi: str) -> int:
    """Mask of every level from lo to hi inclusive."""
    i, j = GRADE_LEVELS.index(lo), GRADE_LEVELS.index(hi)
    return bits(*GRADE_LEVELS[i : j + 1])


@pytest.mark.parametrize(
    "text, expected",
    [
        ("PK", bits("PK")),
        ("pk", bits("PK")),
        ("K", bits("K")),
        ("KG", bits("K")),
        ("TK", bits("PK")),
        ("Pre-K", bits("PK")),
        ("PreK", bits("PK")),
        ("pre k", bits("PK")),
        ("1", bits("1")),
        ("01", bits("1")),
        ("09", bits("9")),
        ("12", bits("12")),
        ("K-5", span("K", "5")),
        ("k-5", span("K", "5")),
        ("9-12", span("9", "12")),
        ("PK-8", span("PK", "8")),
        ("Pre-K-2", span("PK", "2")),
        ("6 - 8", span("6", "8")),
        ("6\u20138", span("6", "8")),  # en dash
        ("6;7;8", span("6", "8")),
        ("6,7,8", span("6", "8")),
        ("6; 7 ;8;", span("6", "8")),
        ("K-2;5", span("K", "2") | bits("5")),
        ("K-12", span("K", "12")),
        ("all", ALL_GRADES),
        ("ALL", ALL_GRADES),
        ("  3  ", bits("3")),
        ("5-5", bits("5")),
        ("", 0),
        ("   ", 0),
    ],
)
def test_parse_grades(text: str, expected: int) -> None:
    assert parse_grades(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("13", "'13' is not a grade (use PK, K or 1-12)"),
        ("0", "'0' is not a grade (use PK, K or 1-12)"),
        ("K-13", "'13' is not a grade (use PK, K or 1-12)"),
        ("grade 5", "'grade 5' is not a grade (use PK, K or 1-12)"),
        ("5.0", "'5.0' is not a grade (use PK, K or 1-12)"),
        ("1-2-3", "'1-2-3' is not a grade (use PK, K or 1-12)"),
        ("8-6", "range '8-6' is reversed"),
        ("5-K", "range '5-K' is reversed"),
        ("K-2;12-9", "range '12-9' is reversed"),
    ],
)
def test_parse_grades_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_grades(text)
    assert str(info.value) == message


@pytest.mark.parametrize(
    "mask, text",
    [
        (0, ""),
        (bits("9"), "9"),
        (bits("PK"), "PK"),
        (span("K", "5"), "K-5"),
        (span("6", "8"), "6-8"),
        (ALL_GRADES, "PK-12"),
        (span("K", "2") | bits("5"), "K-2;5"),
        (bits("PK", "12"), "PK;12"),
        (bits("K", "1"), "K-1"),
    ],
)
def test_format_grades(mask: int, text: str) -> None:
    assert format_grades(mask) == text


def test_every_mask_round_trips() -> None:
    for mask in range(ALL_GRADES + 1):
        assert parse_grades(format_grades(mask)) == mask


@pytest.mark.parametrize("mask", [-1, ALL_GRADES + 1])
def test_format_grades_rejects_bad_masks(mask: int) -> None:
    with pytest.raises(ValueError, match="not a grade mask"):
        format_grades(mask)


@pytest.mark.parametrize(
    "a, b, expected",
    [("K-5", "5-8", True), ("K-5", "6-8", False), ("all", "PK", True), ("K-5", "", False), ("", "", False)],
)
def test_grades_overlap(a: str, b: str, expected: bool) -> None:
    assert grades_overlap(parse_grades(a), parse_grades(b)) is expected
