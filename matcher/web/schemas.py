"""Request and response schemas of the JSON API: validation and the OpenAPI document in one place."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from matcher import config
from matcher.state import STATUSES
from matcher.web.service import MAX_TOP


Status = Literal[STATUSES]  # type: ignore[valid-type]


class ErrorOut(BaseModel):
    detail: str = Field(description="What went wrong, in words.")
    suggestions: list[str] | None = Field(None, description="Close ids, for an unknown school or partner id.")


class SchoolOut(BaseModel):
    school_id: str
    name: str
    grades: str = Field(description="Grade band, e.g. 'K-5' (empty when not stated).")


class PartnerMatchOut(BaseModel):
    """One object of ``matcher recommend --school/--need --format json``."""

    rank: int
    partner_id: str
    name: str
    score: float
    components: dict[str, float] = Field(description="Each block's weighted contribution; they add up to score.")
    distance_km: float | None
    matched_categories: list[str]
    reasons: list[str]
    partner_type: str
    grades: str


class PartnerMatchStatusOut(PartnerMatchOut):
    status: str | None = Field(description="Latest outreach status of this school-partner pair, or null.")


class SchoolMatchOut(BaseModel):
    """One object of ``matcher recommend --partner --format json``, plus the pair's status."""

    rank: int
    school_id: str
    name: str
    score: float
    components: dict[str, float]
    distance_km: float | None
    matched_categories: list[str]
    reasons: list[str]
    grades: str
    status: str | None


class ExplanationOut(BaseModel):
    """``matcher explain --format json``."""

    school_id: str
    partner_id: str
    school_name: str
    partner_name: str
    score: float
    rank: int | None = Field(description="Rank among the partners this school can use; null when ruled out.")
    blocks: list[dict[str, Any]]
    matched_categories: list[dict[str, Any]]
    matched_terms: list[str]
    distance_km: float | None
    excluded_by: list[str] = Field(description="Hard constraints or outreach state keeping the partner out.")
    reasons: list[str]


class EventOut(BaseModel):
    id: int
    school_id: str
    partner_id: str
    status: str
    note: str
    created_at: str = Field(description="UTC ISO 8601 time.")


class HealthOut(BaseModel):
    status: str
    model: dict[str, Any] = Field(description="The model's metadata, as `matcher info --format json`.")


def _grades_pattern() -> str:
    """A regular expression of the grade bands the API accepts, so its schema says exactly what is accepted.

    Levels PK, K, 1-12 (any case), ranges low-high, lists of them separated
    by ``;`` or ``,``, or ``all``; no spaces. Ranges are listed one by one, so
    a reversed range (``8-6``), which the schema cannot otherwise rule out,
    does not match. (The CLI and the CSV files are more forgiving, see
    :func:`matcher.grades.parse_grades`.)
    """
    def any_case(level: str) -> str:
        return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in level)

    levels = [any_case(level) for level in config.GRADE_LEVELS]
    ranges = [f"{lo}-{hi}" for i, lo in enumerate(levels) for hi in levels[i:]]
    item = "(?:" + "|".join([*ranges, *levels, any_case("all")]) + ")"
    return f"^(?:{item}(?:[;,]{item})*)?$"


#: Text with something besides spaces: every character ``str.strip`` removes, listed (a JSON Schema
#: ``\S`` differs from Python's idea of a space, e.g. for U+001C), so the schema and the check agree.
_SPACES = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_NOT_BLANK = f"[^{_SPACES}]"

_BLOCK_WEIGHT = {"ge": 0, "le": 1e100, "allow_inf_nan": False}


def _integral(value: Any) -> Any:
    """``3.0`` as ``3``: JSON Schema's integer includes numbers with no fraction; strings and bools stay refused."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: A JSON integer, strictly: ``3`` or ``3.0``, never ``"3"`` or ``true``.
_WholeNumber = Annotated[int, BeforeValidator(_integral)]


class WeightsIn(BaseModel):
    """Block weights overriding the model's (blocks left out keep theirs); not all five 0."""

    model_config = ConfigDict(
        extra="forbid", strict=True,
        json_schema_extra={"not": {"required": list(config.BLOCKS),
                                   "properties": {b: {"const": 0} for b in config.BLOCKS}},
                           "examples": [{"geo": 0.2}]},
    )
    text: float = Field(None, **_BLOCK_WEIGHT)
    categories: float = Field(None, **_BLOCK_WEIGHT)
    grades: float = Field(None, **_BLOCK_WEIGHT)
    geo: float = Field(None, **_BLOCK_WEIGHT)
    partner_type: float = Field(None, **_BLOCK_WEIGHT)
    geo_length_km: float = Field(None, ge=0.001, le=1e100, allow_inf_nan=False,
                                 description="Distance at which the geography similarity falls to 1/e.")

    def given(self) -> dict[str, float]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class NeedIn(BaseModel):
    # strict: what the schema says is what is accepted (`include_full: 0` is not a boolean, "3" not an integer)
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"need": "tutoring in math for middle schoolers", "grades": "6-8",
                                         "lat": 27.9, "lon": -82.4, "top": 10}],
                           "dependentRequired": {"lat": ["lon"], "lon": ["lat"]}},
    )
    need: str = Field(min_length=1, max_length=5000, pattern=_NOT_BLANK,
                      description="What the school needs, in plain words (not only spaces).")
    grades: str | None = Field(None, max_length=100, pattern=_grades_pattern(),
                               description="Grade band: PK, K, 1-12, ranges such as '6-8' or 'K-5', lists such as "
                                           "'K-2;5', or 'all'.")
    lat: float = Field(None, ge=-90, le=90, allow_inf_nan=False, description="Latitude (give lon too).")
    lon: float = Field(None, ge=-180, le=180, allow_inf_nan=False, description="Longitude (give lat too).")
    top: _WholeNumber = Field(config.DEFAULT_TOP, ge=1, le=MAX_TOP, description="How many results.")
    include_full: bool = Field(False, description="Also suggest partners with no capacity left.")
    weights: WeightsIn | None = Field(None, description="Block weights overriding the model's, e.g. {\"geo\": 0.2}.")


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [{"status": "contacted", "note": "emailed the director"}]})
    status: Status
    note: str = Field("", max_length=4000, description="Free-text note kept with the event.")


ERRORS = {404: {"model": ErrorOut, "description": "Unknown school or partner id"},
           422: {"model": ErrorOut, "description": "Invalid parameter or body (including a body that is not UTF-8 JSON)"},
           503: {"model": ErrorOut, "description": "The workspace database cannot be used (for example, the disk is full)"}}
BODY_ERRORS = {**ERRORS, 413: {"model": ErrorOut, "description": "Request body larger than 1 MiB"}}

