"""Request and response schemas of the JSON API: validation and the OpenAPI document in one place."""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from matcher import config
from matcher.ids import INVISIBLE
from matcher.state import STATUSES
from matcher.table import EMAIL_PATTERN, WEBSITE_PATTERN
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
    strength: str = Field(description="The score in words: strong, good or possible (thresholds in docs/web.md).")
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
    strength: str
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
    needs: str = Field(description="The school's needs text.")
    offerings: str = Field(description="The partner's offerings text.")
    highlights: dict[str, list[list[int]]] = Field(
        description="Character spans [start, end) of the matched phrases and words in `needs` and `offerings`.")
    contact: dict[str, str] = Field(description="The partner's contact_name, contact_email and website, when given.")


class EventOut(BaseModel):
    id: int
    school_id: str
    partner_id: str
    status: str
    note: str
    created_at: str = Field(description="UTC ISO 8601 time.")
    user: str = Field("", description="Who recorded it.")


class OutreachEventOut(EventOut):
    """An event of the outreach log, with names and the pair's latest status."""

    school_name: str = Field(description="The school's name (empty when it is no longer in the catalogue).")
    partner_name: str = Field(description="The partner's name (empty when it is no longer in the catalogue).")
    pair_status: str = Field(description="The pair's latest status (what its suggestions go by).")


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
#: An id with something visible in it (ids lose invisible characters: see :mod:`matcher.ids`).
VISIBLE = f"[^{_SPACES}{INVISIBLE}]"

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


def _slugs_pattern(slugs) -> str:
    """Slugs separated by ``;`` or ``,``, as the data contract reads a list column (empty allowed)."""
    item = "(?:" + "|".join(slugs) + ")"
    return f"^(?:{item}(?:[;,]{item})*)?$"


def _taxonomy_lists() -> tuple[str, str, list[str]]:
    from matcher.taxonomy import load_taxonomy

    tax = load_taxonomy()
    return _slugs_pattern(tax.category_slugs), _slugs_pattern(tax.partner_type_slugs), list(tax.partner_type_slugs)


_CATEGORIES, _TYPES, _TYPE_SLUGS = _taxonomy_lists()
#: A partner type slug (the ``type`` filter of a school's recommendations).
PartnerTypeSlug = Literal[tuple(_TYPE_SLUGS)]  # type: ignore[valid-type]
#: A grade band as the API accepts it (the ``grades`` filter of a school's recommendations).
GRADES_PATTERN = _grades_pattern()
#: Longest name, needs or offerings text a body may carry: a body of them stays far below the 1 MiB
#: request limit even with every character escaped (the CSV files allow longer cells).
MAX_TEXT_CHARS = 20_000
_TEXT = {"max_length": MAX_TEXT_CHARS, "pattern": _NOT_BLANK}
#: Coordinates: give both or neither (absent = unknown), as the data contract asks.
_PLACE = {"dependentRequired": {"latitude": ["longitude"], "longitude": ["latitude"]}}


class _RowIn(BaseModel):
    """A school's or partner's row: reports a half-given place together with every other bad field."""

    @model_validator(mode="wrap")
    @classmethod
    def _both_or_neither(cls, data: Any, handler):
        # A wrap validator, not an "after" one: that would run only once every field is valid, so a form
        # would learn of this problem only after fixing the others.
        half = []
        if isinstance(data, dict) and (data.get("latitude") is None) != (data.get("longitude") is None):
            missing = "longitude" if data.get("longitude") is None else "latitude"
            half.append(InitErrorDetails(type=PydanticCustomError("missing_pair", "give both latitude and longitude, "
                                                                  "or neither"), loc=(missing,), input=data))
        try:
            model = handler(data)
        except ValidationError as exc:
            if not half:
                raise
            seen = [{k: e[k] for k in ("type", "loc", "input", "ctx") if k in e} for e in exc.errors()]
            raise ValidationError.from_exception_data(exc.title, [*seen, *half]) from None
        if half:
            raise ValidationError.from_exception_data(cls.__name__, half)
        return model


class SchoolIn(_RowIn):
    """A school's row: the schools.csv columns (``school_id`` comes from the path); absent = blank."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={**_PLACE, "examples": [
        {"name": "Oak Elementary", "needs": "Our students are hungry on Mondays.", "grades": "K-5",
         "latitude": 41.88, "longitude": -87.63}]})
    name: str = Field(..., **_TEXT)
    needs: str = Field(..., **_TEXT)
    need_categories: Annotated[str, Field(pattern=_CATEGORIES, description="Category slugs, ;-separated.")] = None
    grades: Annotated[str, Field(pattern=_grades_pattern())] = None
    latitude: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)] = None
    longitude: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)] = None
    enrollment: Annotated[int, Field(ge=0, le=10**9), BeforeValidator(_integral)] = None
    frl_pct: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] = None
    preferred_partner_types: Annotated[str, Field(pattern=_TYPES, description="Type slugs, ;-separated.")] = None


class PartnerIn(_RowIn):
    """A partner's row: the partners.csv columns (``partner_id`` comes from the path); absent = blank."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={**_PLACE, "examples": [
        {"name": "Harvest Food Pantry", "offerings": "Weekend food bags for families.", "partner_type": "nonprofit",
         "grades": "K-12", "latitude": 41.9, "longitude": -87.7, "service_radius_km": 30, "remote": False,
         "capacity": 10}]})
    name: str = Field(..., **_TEXT)
    offerings: str = Field(..., **_TEXT)
    partner_type: Literal[tuple(_TYPE_SLUGS)] = None  # type: ignore[valid-type]
    offering_categories: Annotated[str, Field(pattern=_CATEGORIES, description="Category slugs, ;-separated.")] = None
    grades: Annotated[str, Field(pattern=_grades_pattern())] = None
    latitude: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)] = None
    longitude: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)] = None
    service_radius_km: Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)] = None
    remote: bool = None  # type: ignore[assignment]
    capacity: Annotated[int, Field(ge=0, le=10**9), BeforeValidator(_integral)] = None
    contact_name: Annotated[str, Field(max_length=200, description="Who to contact.")] = None
    contact_email: Annotated[str, Field(max_length=320, pattern=f"^(?:{EMAIL_PATTERN})?$",
                                        description="An email address, like name@example.org.")] = None
    website: Annotated[str, Field(max_length=2000, pattern=f"^(?:{WEBSITE_PATTERN})?$",
                                  description="A web address starting with https:// or http://.")] = None


class SchoolNewIn(SchoolIn):
    """A new school's row with its id (``POST /api/schools``): an id problem is reported with the others."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={**_PLACE, "examples": [
        {"school_id": "S900001", "name": "Oak Elementary", "needs": "Our students are hungry on Mondays.",
         "grades": "K-5", "latitude": 41.88, "longitude": -87.63}]})
    school_id: str = Field(..., max_length=200, pattern=VISIBLE, description="The new school's id (unique).")


class PartnerNewIn(PartnerIn):
    """A new partner's row with its id (``POST /api/partners``): an id problem is reported with the others."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={**_PLACE, "examples": [
        {"partner_id": "P900001", "name": "Harvest Food Pantry", "offerings": "Weekend food bags for families.",
         "partner_type": "nonprofit", "latitude": 41.9, "longitude": -87.7, "service_radius_km": 30}]})
    partner_id: str = Field(..., max_length=200, pattern=VISIBLE, description="The new partner's id (unique).")


#: The body of a row's PUT, and of a create with the id in the body, per kind.
ROW_BODIES: dict[str, type[BaseModel]] = {"school": SchoolIn, "partner": PartnerIn}
NEW_ROW_BODIES: dict[str, type[BaseModel]] = {"school": SchoolNewIn, "partner": PartnerNewIn}


_CATEGORY_LIST = "not a list of category slugs separated by ; (such as tutoring;mentoring)"
#: What a field's pattern means, instead of the pattern itself (the errors' ``msg`` and the API's ``detail``).
PATTERN_MESSAGES: dict[str, str] = {
    "need": "the need text is empty: describe what the school needs",
    "grades": "not a grade band (use PK, K or 1-12, a range such as 6-8, a list such as K-2;5, or all; no spaces)",
    "name": "is blank: give a name",
    "needs": "is blank: describe what the school needs",
    "offerings": "is blank: describe what the partner offers",
    "school_id": "is blank: give the school an id",
    "partner_id": "is blank: give the partner an id",
    "need_categories": _CATEGORY_LIST,
    "offering_categories": _CATEGORY_LIST,
    "preferred_partner_types": "not a list of partner types separated by ; (business, nonprofit, health...)",
    "contact_email": "not an email address (like name@example.org)",
    "website": "not a web address (start it with https:// or http://)",
}


def request_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic's errors as the API's ``errors`` list: ``{type, loc, field, msg}``, the input never echoed.

    ``field`` is the body field at fault (None for a query parameter or the body as a whole).

    Examples
    --------
    >>> request_errors([{"type": "missing", "loc": ("body", "name"), "msg": "Field required", "input": {}}])
    [{'type': 'missing', 'loc': ['body', 'name'], 'field': 'name', 'msg': 'Field required'}]
    """
    out = []
    for e in errors:
        loc = [_short(p) for p in e.get("loc", ())]
        field = loc[1] if len(loc) > 1 and loc[0] == "body" and isinstance(loc[1], str) else None
        msg = e.get("msg", "invalid")
        if e.get("type") == "string_pattern_mismatch" and len(loc) == 2 and loc[1] in PATTERN_MESSAGES:
            msg = PATTERN_MESSAGES[loc[1]]  # what the pattern means, not the pattern
        out.append({"type": e.get("type"), "loc": loc, "field": field, "msg": msg})
    return out


def contract_errors(problems: Iterable[str]) -> list[dict[str, Any]]:
    """The data contract's problems with one row (``body: column C: ...``) as the API's ``errors`` list.

    Examples
    --------
    >>> contract_errors(["body: column latitude: '95' is out of range"])
    [{'type': 'data_contract', 'loc': ['body', 'latitude'], 'field': 'latitude', 'msg': "'95' is out of range"}]
    """
    out = []
    for problem in problems:
        m = re.search(r"column ([A-Za-z_]+): (.*)$", problem)
        field, msg = (m.group(1), m.group(2)) if m else (None, problem)
        out.append({"type": "data_contract", "loc": ["body", field] if field else ["body"], "field": field, "msg": msg})
    return out


def _short(part: Any, limit: int = 100) -> Any:
    """A location part of an error (a field name, or a key the client sent), at most ``limit`` characters."""
    if isinstance(part, str) and len(part) > limit:
        return part[:limit] + "…"
    return part


def row_out(kind: str, row: dict[str, Any]) -> dict[str, Any]:
    """A catalogue row (text cells) as the JSON its PUT accepts back: numbers as numbers, blanks left out.

    A cell the strict body would not take as it is (text the CSV contract
    reads leniently) stays text, so nothing is lost in the round trip.
    """
    key = f"{kind}_id"
    body = SchoolIn if kind == "school" else PartnerIn
    cells = {k: v for k, v in row.items() if k in body.model_fields and v not in ("", None)}
    try:
        typed = body.model_validate(cells, strict=False).model_dump(exclude_none=True)
    except ValidationError:
        typed = cells
    return {key: row[key], **typed}


class ChangeOut(BaseModel):
    id: int
    revision: int
    kind: str
    action: str
    user: str
    at: str
    before: dict[str, str] | None
    after: dict[str, str] | None
    model_config = ConfigDict(extra="allow")


class UserOut(BaseModel):
    name: str
    role: str
    schools: list[str] | None


ERRORS = {404: {"model": ErrorOut, "description": "Unknown school or partner id"},
           422: {"model": ErrorOut, "description": "Invalid parameter or body (including a body that is not UTF-8 JSON)"},
           503: {"model": ErrorOut, "description": "The workspace database cannot be used (for example, the disk is full)"}}

BODY_ERRORS = {**ERRORS, 413: {"model": ErrorOut, "description": "Request body larger than 1 MiB"}}
CHANGE_ERRORS = {**BODY_ERRORS, 403: {"model": ErrorOut, "description": "Your account may not change this"},
                 409: {"model": ErrorOut, "description": "It exists already (use PUT to replace it)"}}

