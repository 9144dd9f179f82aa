"""What a query returns: ranked matches and explanations (plain values, JSON-ready)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from matcher.config import DISTANCE_DECIMALS, SCORE_DECIMALS, STRENGTH_THRESHOLDS


def strength(score: float, thresholds: Mapping[str, float] | None = None) -> str:
    """A score in words: the first label of ``thresholds`` whose lowest score it reaches.

    ``thresholds`` maps each label to its lowest score, strongest first;
    default :data:`matcher.config.STRENGTH_THRESHOLDS` (strong, good,
    possible). A score below every threshold gets the last label.

    Examples
    --------
    >>> strength(0.9), strength(0.5), strength(0.1)
    ('strong', 'good', 'possible')
    """
    table = STRENGTH_THRESHOLDS if thresholds is None else thresholds
    for label, lowest in table.items():
        if score >= lowest:
            return label
    return next(reversed(table))


class FilteredMatches(list):
    """Matches that passed a filter, best first, ranks as in the whole ranking (a plain list otherwise).

    Attributes
    ----------
    passing : int
        How many partners of the whole ranking pass the filters (the list holds the first ``n`` of them).
    total : int
        How many partners the whole ranking has (every partner the hard constraints and outreach allow).
    """

    def __init__(self, matches=(), passing: int = 0, total: int = 0):
        super().__init__(matches)
        self.passing = passing
        self.total = total


@dataclass
class Match:
    """One ranked result: a partner for a school (or a school for a partner)."""

    rank: int
    id: str
    name: str
    score: float
    components: dict[str, float]
    distance_km: float | None
    matched_categories: list[str]
    reasons: list[str]
    kind: str = "partner"
    partner_type: str = ""
    grades: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``matcher recommend --format json``."""
        return {
            "rank": self.rank,
            f"{self.kind}_id": self.id,
            "name": self.name,
            "score": round(self.score, SCORE_DECIMALS),
            "strength": strength(self.score),
            "components": {b: round(v, SCORE_DECIMALS) for b, v in self.components.items()},
            "distance_km": None if self.distance_km is None else round(self.distance_km, DISTANCE_DECIMALS),
            "matched_categories": self.matched_categories,
            "reasons": self.reasons,
            **({"partner_type": self.partner_type} if self.kind == "partner" else {}),
            "grades": self.grades,
        }


@dataclass
class Explanation:
    """Why a partner ranks where it does for a school (or why it is left out)."""

    school_id: str
    partner_id: str
    school_name: str
    partner_name: str
    score: float
    rank: int | None
    blocks: list[dict[str, Any]]
    matched_categories: list[dict[str, Any]]
    matched_terms: list[str]
    distance_km: float | None
    excluded_by: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    needs: str = ""
    offerings: str = ""
    highlights: dict[str, list[list[int]]] = field(default_factory=dict)
    contact: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``matcher explain --format json``."""
        return {
            "school_id": self.school_id,
            "partner_id": self.partner_id,
            "school_name": self.school_name,
            "partner_name": self.partner_name,
            "score": round(self.score, SCORE_DECIMALS),
            "rank": self.rank,
            "blocks": self.blocks,
            "matched_categories": self.matched_categories,
            "matched_terms": self.matched_terms,
            "distance_km": None if self.distance_km is None else round(self.distance_km, DISTANCE_DECIMALS),
            "excluded_by": self.excluded_by,
            "reasons": self.reasons,
            "needs": self.needs,
            "offerings": self.offerings,
            "highlights": self.highlights,
            "contact": self.contact,
        }
