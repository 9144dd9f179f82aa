"""Grade bands as positions in :data:`~matcher.config.GRADE_LEVELS`: parse, write, draw."""
from __future__ import annotations

import numpy as np

from matcher.config import GRADE_LEVELS


def _weighted(pairs: tuple[tuple[str, float], ...]) -> tuple[list[str], np.ndarray]:
    """Split (value, weight) pairs into values and normalised probabilities."""
    vals = [v for v, _ in pairs]
    p = np.array([w for _, w in pairs], dtype=float)
    return vals, p / p.sum()


def _grade_index(code: str) -> int:
    """Position of a grade code ("PK", "K", "1".."12") in GRADE_LEVELS."""
    return GRADE_LEVELS.index(code)


def parse_band(band: str) -> tuple[int, int]:
    """("K-5") -> (1, 6) as GRADE_LEVELS positions."""
    lo, _, hi = band.partition("-")
    return _grade_index(lo), _grade_index(hi or lo)


def band_text(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Grade band strings ("K-5", or "PK" for a single grade) from positions."""
    labels = np.array(GRADE_LEVELS, dtype=object)
    return np.where(lo == hi, labels[lo], labels[lo] + "-" + labels[hi])


def draw_bands(rng: np.random.Generator, pairs: tuple[tuple[str, float], ...],
                n: int) -> tuple[np.ndarray, np.ndarray]:
    """n grade bands drawn from (band, weight) pairs, as lo/hi positions."""
    vals, p = _weighted(pairs)
    parsed = np.array([parse_band(v) for v in vals], dtype=np.int8)
    which = rng.choice(len(vals), size=n, p=p)
    return parsed[which, 0], parsed[which, 1]
