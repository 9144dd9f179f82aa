"""The FastAPI app behind ``matcher serve``: JSON API, the coordinator page, offline API docs.

Every ranking request reads the outreach state fresh from the database, so a
status recorded a moment ago changes the next suggestions. The JSON of the
ranking endpoints is exactly ``matcher recommend --format json`` (same
objects, same order) plus a ``status`` field where a school-partner pair is
known.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, quote, unquote_plus, urlencode

from fastapi import FastAPI, Path as PathParam, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from matcher import config
from matcher.errors import MatcherError, UnknownIdError
from matcher.formats import recommendations_csv
from matcher.ids import normalise_id
from matcher.state import OutreachStore, StateError
from matcher.weights import WEIGHT_OPTION

log = logging.getLogger("matcher.web")

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

#: Largest ``top`` a request may ask for (bounds the work one request can cause).
MAX_TOP = 1000
#: Largest ``limit`` of the school search.
MAX_LIMIT = 200
#: Name of the session cookie set by ``/?token=...``.
COOKIE = "matcher_session"

Status = Literal["shortlisted", "contacted", "declined", "partnered", "do_not_contact"]

_CSP_PAGE = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI sets inline styles and uses data: images; it still loads nothing from elsewhere.
_CSP_DOCS = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


# --------------------------------------------------------------------------- schemas (validation + /docs)


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


_ERRORS = {404: {"model": ErrorOut, "description": "Unknown school or partner id"},
           422: {"model": ErrorOut, "description": "Invalid parameter or body (including a body that is not UTF-8 JSON)"},
           503: {"model": ErrorOut, "description": "The outreach database cannot be used (for example, the disk is full)"}}
_BODY_ERRORS = {**_ERRORS, 413: {"model": ErrorOut, "description": "Request body larger than 1 MiB"}}


# --------------------------------------------------------------------------- the service


class Service:
    """The model, the outreach store and the queries the API and page share."""

    def __init__(self, model, model_path, db_path, cooldown_days: int, clock):
        if isinstance(cooldown_days, bool) or not isinstance(cooldown_days, int) or cooldown_days < 0:
            raise MatcherError(f"cooldown_days must be a whole number of days >= 0, not {cooldown_days!r}")
        if not hasattr(model, "partners_"):
            raise MatcherError("the web app needs a fitted model")
        self.model = model
        self.model_path = None if model_path is None else Path(model_path)
        self.cooldown_days = cooldown_days
        # Opened (and created) now, so an unusable database fails before serving.
        # Held open so that reads keep working on a full disk (see OutreachStore's hold_open).
        self.store = OutreachStore(config.DEFAULT_OUTREACH_DB if db_path is None else db_path, clock=clock,
                                   hold_open=True)
        if self.model_path is not None:
            from matcher.persistence import read_metadata

            self.meta = read_metadata(self.model_path)
        else:
            self.meta = {"n_schools": len(model.school_ids_), "n_partners": len(model.partner_ids_)}
        from matcher.grades import format_grades

        self.school_grades = [format_grades(int(g)) for g in model.schools_.grades]
        self._search_keys = [f"{i}\n{n}".lower() for i, n in zip(model.school_ids_, model.school_names_)]
        self._ids_lower = [str(i).lower() for i in model.school_ids_]

    # ------------------------------------------------------------------ state

    def state(self, include_current: bool = False, school_id: str | None = None):
        """Outreach constraints now (one school's pairs only when ``school_id`` is given)."""
        return self.store.constraints(
            cooldown_days=self.cooldown_days, include_current=include_current, school_id=school_id
        )

    def weights(self, items: Sequence[str] | None) -> dict[str, float]:
        """``weight=BLOCK=VALUE`` query items; an empty one (``?weight=``, as a blank form field sends) sets nothing."""
        from matcher.weights import parse_weight_options

        return parse_weight_options([i for i in items or [] if i])

    def shares(self, weights: dict[str, float] | None = None) -> dict[str, float]:
        """Each block's share of the score (weights normalised to sum 1)."""
        return dict(self.model.scorer(weights).weights)

    # ------------------------------------------------------------------ queries

    def search_schools(self, q: str, limit: int) -> list[dict[str, str]]:
        """Schools whose id or name contains ``q``: exact id first, then ids starting with q, then the rest."""
        q = (q or "").strip().lower()
        m = self.model
        if not q:
            hits = range(min(limit, len(m.school_ids_)))
        else:
            exact, prefix, rest = [], [], []
            for i, key in enumerate(self._search_keys):
                if q in key:
                    idl = self._ids_lower[i]
                    (exact if idl == q else prefix if idl.startswith(q) else rest).append(i)
                    if len(exact) + len(prefix) >= limit:
                        break
            hits = (exact + prefix + rest)[:limit]
        return [{"school_id": str(m.school_ids_[i]), "name": str(m.school_names_[i]), "grades": self.school_grades[i]}
                for i in hits]

    def school_name(self, school_id: str) -> str:
        return str(self.model.school_names_[self.model.school_row(normalise_id(school_id))])

    def partner_name(self, partner_id: str) -> str:
        return str(self.model.partner_names_[self.model.partner_row(normalise_id(partner_id))])

    def for_school(self, school_id: str, top: int, include_full=False, include_current=False, weights=None):
        school_id = normalise_id(school_id)
        self.model.school_row(school_id)  # unknown id -> 404 before touching the database
        state = self.state(include_current, school_id=school_id)
        matches = self.model.recommend(school_id, n=top, weights=weights, include_full=include_full, state=state)
        rows = [m.to_dict() for m in matches]
        for r in rows:
            r["status"] = state.status.get((school_id, r["partner_id"]))
        return rows

    def for_need(self, need: str, top: int, grades=None, lat=None, lon=None, include_full=False, weights=None):
        state = self.state(False)
        matches = self.model.recommend_for_need(need, n=top, grades=grades, lat=lat, lon=lon, weights=weights,
                                                include_full=include_full, state=state)
        return [m.to_dict() for m in matches]

    def for_partner(self, partner_id: str, top: int, include_full=False, include_current=False, weights=None):
        partner_id = normalise_id(partner_id)
        self.model.partner_row(partner_id)
        state = self.state(include_current)
        matches = self.model.recommend_schools(partner_id, n=top, weights=weights, include_full=include_full, state=state)
        rows = [m.to_dict() for m in matches]
        for r in rows:
            r["status"] = state.status.get((r["school_id"], partner_id))
        return rows

    def explain(self, school_id: str, partner_id: str, include_current=False, weights=None) -> dict[str, Any]:
        school_id, partner_id = self._check_pair(school_id, partner_id)
        state = self.state(include_current, school_id=school_id)
        return self.model.explain(school_id, partner_id, weights=weights, state=state).to_dict()

    def history(self, school_id: str, partner_id: str) -> list[dict[str, Any]]:
        school_id, partner_id = self._check_pair(school_id, partner_id)
        return [e.to_dict() for e in self.store.history(school_id, partner_id)]

    def record(self, school_id: str, partner_id: str, status: str, note: str) -> dict[str, Any]:
        school_id, partner_id = self._check_pair(school_id, partner_id)  # never record events for unknown ids
        return self.store.record(school_id, partner_id, status, note).to_dict()

    def _check_pair(self, school_id: str, partner_id: str) -> tuple[str, str]:
        """The pair's ids in their one spelling; UnknownIdError when the model does not know one."""
        school_id, partner_id = normalise_id(school_id), normalise_id(partner_id)
        self.model.school_row(school_id)
        self.model.partner_row(partner_id)
        return school_id, partner_id





# --------------------------------------------------------------------------- auth + headers


def session_value(token: str) -> str:
    """The cookie value for a token: a keyed hash, so the cookie never holds the token itself."""
    return hmac.new(token.encode("utf-8"), b"matcher-web-session-v1", hashlib.sha256).hexdigest()


def loopback_host(host: str | bytes | None) -> bool:
    """Whether a ``Host`` header names this machine: ``localhost``, ``127.0.0.1``, ``[::1]``, with or without a port.

    A tokenless server answers only these, so a page on another site cannot
    reach it by pointing its own name at 127.0.0.1 (DNS rebinding): the
    browser would send that name as ``Host``.

    Examples
    --------
    >>> [loopback_host(h) for h in ("localhost:8000", "127.0.0.1", "[::1]:80", "attacker.example", "127.0.0.1.nip.io", "")]
    [True, True, True, False, False, False]
    """
    from matcher.web import is_loopback

    if isinstance(host, bytes):
        host = host.decode("latin-1")
    host = (host or "").strip().lower()
    if host.startswith("["):
        name, _, port = host[1:].partition("]")
        if port and not (port.startswith(":") and port[1:].isdigit()):
            return False
        return ":" in name and is_loopback(name)
    name, sep, port = host.partition(":")
    if sep and not port.isdigit():
        return False
    return bool(name) and ":" not in name and is_loopback(name)


def _same_origin_path(path: str) -> str:
    """A redirect target on this server: the request path with its leading slashes (and backslashes) made one.

    ``//evil.example/`` would be a link to another site (a scheme-relative URL);
    browsers also read ``/\\evil.example`` so.

    Examples
    --------
    >>> _same_origin_path("//evil.example/"), _same_origin_path("/\\\\evil.example"), _same_origin_path("/a b")
    ('/evil.example/', '/evil.example', '/a%20b')
    """
    return "/" + quote(path.lstrip("/\\"), safe="/:@!$&'()*+,;=-._~")


class GuardMiddleware:
    """Host rule, token check, request-body limit and security headers on every response (plain ASGI, cheap).

    In order: without a token, a ``Host`` other than a loopback name is
    refused (421); with one, a request without it is refused (401); then a
    body above ``max_body`` bytes is refused (413) -- by its
    ``Content-Length`` before reading anything, or as soon as the bytes read
    pass the limit -- so no request makes the server hold more than that.
    """

    def __init__(self, app, token: str | None, max_body: int = config.MAX_REQUEST_BYTES):
        self.app = app
        self.token = token.encode("utf-8") if token else None
        self.session = session_value(token) if token else None
        self.max_body = max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        csp = _CSP_DOCS if path.startswith("/docs") else _CSP_PAGE

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                    (b"content-security-policy", csp.encode()),
                ]
                if path.startswith("/api/"):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        if self.token is None:
            host = next((v for k, v in scope.get("headers", []) if k == b"host"), None)
            if not loopback_host(host):
                shown = (host or b"").decode("latin-1")[:100]
                response = JSONResponse(
                    {"detail": f"this server answers only to localhost, 127.0.0.1 or [::1] (Host {shown!r} refused); "
                               "to serve other names, start it with a token"}, status_code=421)
                return await response(scope, receive, send_with_headers)
        elif not self._authorised(scope):
            response = self._login_or_refuse(scope)
            return await response(scope, receive, send_with_headers)
        body = await self._bounded_body(scope, receive)
        if body is None:  # the client went away
            return None
        if isinstance(body, Response):
            return await body(scope, receive, send_with_headers)
        return await self.app(scope, _replay(body, receive), send_with_headers)

    async def _bounded_body(self, scope, receive) -> bytes | Response | None:
        """The whole request body, or a 413 response as soon as it is known to pass the limit."""
        too_large = JSONResponse(
            {"detail": f"request body too large: the limit is {self.max_body:,} bytes (1 MiB)"}, status_code=413,
            headers={"connection": "close"})
        length = next((v for k, v in scope.get("headers", []) if k == b"content-length"), None)
        if length is not None and length.strip().isdigit() and int(length) > self.max_body:
            return too_large
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _authorised(self, scope) -> bool:
        auth = cookie = b""
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                auth = value
            elif name == b"cookie":
                cookie = value
        scheme, _, given = auth.partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self.token):
            return True
        if cookie:
            jar = SimpleCookie()
            try:
                jar.load(cookie.decode("latin-1"))
            except Exception:  # noqa: BLE001 - a malformed cookie header is simply not a session
                return False
            morsel = jar.get(COOKIE)
            if morsel is not None and hmac.compare_digest(morsel.value.encode(), self.session.encode()):
                return True
        return False

    def _login_or_refuse(self, scope) -> Response:
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = [v for k, v in query if k == "token"]
        if scope.get("method") == "GET" and given and hmac.compare_digest(given[-1].encode("utf-8"), self.token):
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            location = _same_origin_path(scope.get("path", "/")) + (f"?{rest}" if rest else "")
            response = Response(status_code=303, headers={"location": location})
            response.set_cookie(COOKIE, self.session, httponly=True, samesite="strict", path="/",
                                secure=scope.get("scheme") == "https")
            return response
        accept = dict(scope.get("headers", [])).get(b"accept", b"")
        headers = {"www-authenticate": 'Bearer realm="matcher"'}
        if b"text/html" in accept and not scope.get("path", "").startswith("/api/"):
            return HTMLResponse(_UNAUTHORISED_PAGE, status_code=401, headers=headers)
        detail = ("a token is required: send 'Authorization: Bearer <token>'" if not given
                  else "wrong token")
        return JSONResponse({"detail": detail}, status_code=401, headers=headers)


def _replay(body: bytes, receive):
    """A ``receive`` that gives the body already read, then waits on the real one (for a disconnect)."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _redact_query(target: str) -> str:
    """A request target with the value of every ``token`` parameter hidden, however its name is percent-encoded.

    Examples
    --------
    >>> _redact_query("/?school=S1&%74ok%65n=s3cret&top=3")
    '/?school=S1&%74ok%65n=[hidden]&top=3'
    """
    path, sep, query = target.partition("?")
    if not sep:
        return target
    parts = []
    for item in query.split("&"):
        key, eq, _ = item.partition("=")
        if unquote_plus(key).strip().lower() == "token":
            item = f"{key}=[hidden]"
        parts.append(item)
    return f"{path}?{'&'.join(parts)}"


class RedactTokenFilter(logging.Filter):
    """Hide ``token=...`` in access-log lines, so opening ``/?token=...`` never writes the token to a log.

    The parameter's name is compared after percent-decoding (``%74oken=`` is
    ``token=`` to the server, so it is hidden too).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, str) and "?" in a for a in record.args):
            record.args = tuple(_redact_query(a) if isinstance(a, str) and "?" in a else a for a in record.args)
        return True


def _redact_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactTokenFilter) for f in access.filters):
        access.addFilter(RedactTokenFilter())


_UNAUTHORISED_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Token needed - matcher</title></head>
<body><main><h1>A token is needed</h1>
<p>This matcher server asks for a token. Open this page once with <code>?token=YOUR_TOKEN</code> added to the
address (for example <code>/?token=...</code>); the browser then keeps a session cookie and the token is
removed from the address.</p><p>Programs send the header <code>Authorization: Bearer YOUR_TOKEN</code>.</p>
</main></body></html>"""


# --------------------------------------------------------------------------- the app


def build_app(model, model_path, db_path, token: str | None = None,
              cooldown_days: int = config.DEFAULT_COOLDOWN_DAYS, clock: Callable[[], datetime] | None = None) -> FastAPI:
    """See :func:`matcher.web.create_app`."""
    import swagger_ui_bundle

    from matcher import __version__ as version
    from matcher.web import check_token, pages

    check_token(token)
    svc = Service(model, model_path, db_path, cooldown_days, clock)
    _redact_access_log()
    app = FastAPI(
        title="matcher",
        version=str(version),
        description=(
            "Rank the community partners that can meet a school's needs, with reasons, and record outreach. "
            "Ranking endpoints return exactly what `matcher recommend --format json` prints, plus each pair's "
            "latest outreach `status`. Errors are `{\"detail\": \"...\"}` with status 404 (unknown id, with close "
            "ids in `suggestions`), 422 (invalid input, including a body that is not UTF-8 JSON; the input is never "
            "echoed back), 413 (body above 1 MiB), 503 (outreach database unusable, e.g. a full disk: reads still "
            "work), and, when the server has a token, 401 (token missing); without a token, 421 for a `Host` that "
            "is not localhost, 127.0.0.1 or [::1]. Ids containing `/` go in the path percent-encoded (`%2F`)."
        ),
        docs_url=None,  # served below from the package's own Swagger UI files
        redoc_url=None,  # ReDoc would load its script from a CDN
    )
    app.state.service = svc
    app.state.templates = Jinja2Templates(directory=str(TEMPLATES))
    # |tojson keeps the API's key order (Jinja sorts keys by default) in the data the page embeds.
    app.state.templates.env.policies["json.dumps_kwargs"] = {"sort_keys": False, "ensure_ascii": False}
    app.mount("/static/swagger", StaticFiles(directory=str(swagger_ui_bundle.swagger_ui_path)), name="swagger")
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    _install_error_handlers(app)
    app.add_middleware(GuardMiddleware, token=token)
    _document_security(app, token is not None)

    # ------------------------------------------------------------------ API

    @app.get("/api/health", response_model=HealthOut, tags=["meta"])
    def health():
        """Liveness and the loaded model's metadata (as `matcher info --format json`)."""
        return JSONResponse({"status": "ok", "model": svc.meta})

    @app.get("/api/schools", response_model=list[SchoolOut], responses=_ERRORS, tags=["schools"])
    def schools(
        q: str = Query("", max_length=200, description="Text contained in the school id or name (any case)."),
        limit: int = Query(20, ge=1, le=MAX_LIMIT, description="At most this many schools."),
    ):
        """Schools whose id or name contains `q`, for a picker: exact id first, then ids starting with `q`."""
        return JSONResponse(svc.search_schools(q, limit))

    top_q = Query(config.DEFAULT_TOP, ge=1, le=MAX_TOP, description="How many results.")
    full_q = Query(False, description="Also suggest partners with no capacity left (`--include-full`).")
    current_q = Query(False, description="Also show current partners (`--include-current`).")
    weight_q = Query([], description="Override one block's weight, BLOCK=VALUE (repeatable, as `--weight`); "
                                     "an empty value sets nothing.",
                     json_schema_extra={"items": {"type": "string", "pattern": f"^(?:{WEIGHT_OPTION})?$"}})
    school_p = PathParam(description="School id.", max_length=200)
    partner_p = PathParam(description="Partner id.", max_length=200)

    # `:path` so an id may contain "/" (sent as %2F, which the server decodes before routing).
    @app.get("/api/schools/{school_id:path}/recommendations", response_model=list[PartnerMatchStatusOut],
             responses=_ERRORS, tags=["recommendations"])
    def school_recommendations(school_id: str = school_p, top: int = top_q, include_full: bool = full_q,
                               include_current: bool = current_q, weight: list[str] = weight_q):
        """Partners for a school, best first: `matcher recommend --school ID --format json` plus `status`."""
        rows = svc.for_school(school_id, top, include_full, include_current, svc.weights(weight))
        return JSONResponse(rows)

    @app.get("/api/schools/{school_id:path}/recommendations.csv",
             responses={**_ERRORS, 200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
             response_class=Response, tags=["recommendations"])
    def school_recommendations_csv(school_id: str = school_p, top: int = top_q, include_full: bool = full_q,
                                   include_current: bool = current_q, weight: list[str] = weight_q):
        """The same list as CSV, with the columns of `matcher recommend --format csv`."""
        rows = svc.for_school(school_id, top, include_full, include_current, svc.weights(weight))
        for r in rows:
            r.pop("status")
        return _csv_response(rows, f"partners-{school_id}.csv")

    @app.post("/api/recommendations", response_model=list[PartnerMatchOut], responses=_BODY_ERRORS,
              tags=["recommendations"])
    def need_recommendations(body: NeedIn):
        """Partners for a need typed on the spot: `matcher recommend --need ... --format json`."""
        weights = body.weights.given() if body.weights is not None else None
        rows = svc.for_need(body.need, body.top, body.grades, body.lat, body.lon, body.include_full, weights)
        return JSONResponse(rows)

    @app.get("/api/partners/{partner_id:path}/recommendations", response_model=list[SchoolMatchOut], responses=_ERRORS,
             tags=["recommendations"])
    def partner_recommendations(partner_id: str = partner_p, top: int = top_q, include_full: bool = full_q,
                                include_current: bool = current_q, weight: list[str] = weight_q):
        """Schools a partner could serve: `matcher recommend --partner ID --format json` plus `status`."""
        return JSONResponse(svc.for_partner(partner_id, top, include_full, include_current, svc.weights(weight)))

    @app.get("/api/partners/{partner_id:path}/recommendations.csv",
             responses={**_ERRORS, 200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
             response_class=Response, tags=["recommendations"])
    def partner_recommendations_csv(partner_id: str = partner_p, top: int = top_q, include_full: bool = full_q,
                                    include_current: bool = current_q, weight: list[str] = weight_q):
        """The same list as CSV, with the columns of `matcher recommend --partner ID --format csv`."""
        rows = svc.for_partner(partner_id, top, include_full, include_current, svc.weights(weight))
        for r in rows:
            r.pop("status")
        return _csv_response(rows, f"schools-{partner_id}.csv")

    @app.get("/api/schools/{school_id:path}/partners/{partner_id:path}/explain", response_model=ExplanationOut,
             responses=_ERRORS, tags=["explain"])
    def explain(school_id: str = school_p, partner_id: str = partner_p, include_current: bool = current_q,
                weight: list[str] = weight_q):
        """Why a partner ranks where it does for a school, or which constraint or outreach state keeps it out."""
        return JSONResponse(svc.explain(school_id, partner_id, include_current, svc.weights(weight)))

    @app.post("/api/schools/{school_id:path}/partners/{partner_id:path}/status", status_code=201,
              response_model=EventOut, responses=_BODY_ERRORS, tags=["outreach"])
    def record_status(body: StatusIn, school_id: str = school_p, partner_id: str = partner_p):
        """Record an outreach event for the pair (append-only); returns the stored event."""
        return JSONResponse(svc.record(school_id, partner_id, body.status, body.note), status_code=201)

    @app.get("/api/schools/{school_id:path}/partners/{partner_id:path}/status", response_model=list[EventOut],
             responses=_ERRORS, tags=["outreach"])
    def status_history(school_id: str = school_p, partner_id: str = partner_p):
        """The pair's outreach events, oldest first."""
        return JSONResponse(svc.history(school_id, partner_id))

    # ------------------------------------------------------------------ docs (offline)

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request):
        return app.state.templates.TemplateResponse(request, "docs.html", {"title": app.title})

    # ------------------------------------------------------------------ page

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    def page(request: Request):
        ctx, status = pages.page_context(svc, request.query_params)
        return app.state.templates.TemplateResponse(request, "index.html", ctx, status_code=status)

    return app


def app_from_env() -> FastAPI:
    """The app of one worker process of ``serve(..., workers=N)``, configured by the parent's variables."""
    import os

    from matcher.persistence import load_model
    from matcher.web import _single_threaded_blas

    model_path = os.environ["_MATCHER_WEB_MODEL"]
    model = load_model(model_path)
    _single_threaded_blas()
    return build_app(model, model_path, os.environ["_MATCHER_WEB_DB"], token=os.environ.get("_MATCHER_WEB_TOKEN") or None,
                     cooldown_days=int(os.environ["_MATCHER_WEB_COOLDOWN"]))


def _csv_response(rows: list[dict[str, Any]], filename: str) -> Response:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in filename)
    return Response(recommendations_csv(rows), media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="{safe}"'})


def _install_error_handlers(app: FastAPI) -> None:
    """Every error is ``{"detail": "..."}``: 404 unknown ids, 422 bad input, 503 database, 500 without a traceback.

    No error echoes the request's input back (pydantic's ``input`` is left
    out), and any text that is echoed (a field name, an id) is made valid
    UTF-8 first: a lone surrogate such as ``"\\ud800"`` in a JSON string
    cannot be encoded, which used to turn a 422 into a 500.
    """

    @app.exception_handler(UnknownIdError)
    async def unknown_id(request: Request, exc: UnknownIdError):
        return _error(404, str(exc), suggestions=exc.suggestions)

    @app.exception_handler(StateError)
    async def state_error(request: Request, exc: StateError):
        # Inputs are validated before the store is touched, so this is the database itself.
        log.error("outreach database error: %s", exc)
        return _error(503, f"outreach database unavailable: {exc}")

    @app.exception_handler(MatcherError)
    async def matcher_error(request: Request, exc: MatcherError):
        return _error(422, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        errors = [{"type": e.get("type"), "loc": [_short(p) for p in e.get("loc", ())], "msg": e.get("msg", "invalid")}
                  for e in exc.errors()]
        return _error(422, "; ".join(_describe(e) for e in errors) or "invalid request", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 400:  # FastAPI's "error parsing the body": a body that is not UTF-8
            return _error(422, "body: not valid JSON (a JSON body must be UTF-8 text)")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # Starlette names only the first matching route's methods
            allowed = _allowed_methods(request)
            if allowed:
                headers = {k: v for k, v in headers.items() if k.lower() != "allow"}
                headers["allow"] = ", ".join(allowed)
        return _error(exc.status_code, str(exc.detail), headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(500, "internal error: the server logged the details")


def _error(status: int, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    """An error response ``{"detail": ..., **extra}`` whose text is valid UTF-8 whatever was sent."""
    return JSONResponse(_valid_text({"detail": detail, **extra}), status_code=status, headers=headers)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _valid_text(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings replaced by U+FFFD (JSON allows them, UTF-8 does not)."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_valid_text(k): _valid_text(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_valid_text(v) for v in value]
    return value


def _short(part: Any, limit: int = 100) -> Any:
    """A location part of a validation error (a field name, or a key the client sent), at most ``limit`` characters."""
    if isinstance(part, str) and len(part) > limit:
        return part[:limit] + "…"
    return part


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on this path (the ``Allow`` header of a 405)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        route_methods = getattr(route, "methods", None)
        if route_methods and route.matches(request.scope)[0] in (Match.FULL, Match.PARTIAL):
            methods |= set(route_methods)
    return sorted(methods)


def _document_security(app: FastAPI, with_token: bool) -> None:
    """Make ``/openapi.json`` say what the middleware does: bearer token or Host rule, body limit."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {})
        components.setdefault("securitySchemes", {})["bearerAuth"] = {
            "type": "http", "scheme": "bearer",
            "description": "The server's token (`matcher serve --token`, at least 16 characters). "
                           "Required when the server has one; a server without one listens on loopback only.",
        }
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                if with_token:
                    operation["security"] = [{"bearerAuth": []}]
                    responses["401"] = {"description": "Token missing or wrong", "content": error}
                else:
                    operation["security"] = [{}]
                    responses["421"] = {"description": "Host is not localhost, 127.0.0.1 or [::1] (no token)",
                                        "content": error}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


#: What a pattern means, instead of the pattern itself.
_PATTERN_MESSAGES = {
    "need": "the need text is empty: describe what the school needs",
    "grades": "not a grade band (use PK, K or 1-12, a range such as 6-8, a list such as K-2;5, or all; no spaces)",
}


def _describe(err: dict[str, Any]) -> str:
    """One readable line for a pydantic error: 'query parameter top: Input should be ...'."""
    loc = [str(p) for p in err.get("loc", ())]
    where = {"query": "query parameter", "path": "path parameter", "body": "body"}.get(loc[0], loc[0]) if loc else ""
    name = ".".join(loc[1:])
    msg = err.get("msg", "invalid")
    if err.get("type") == "json_invalid":
        return "body: not valid JSON"
    if err.get("type") == "missing" and loc and loc[0] == "body" and len(loc) == 1:
        return "body: a JSON object is required"
    if err.get("type") == "string_pattern_mismatch" and name in _PATTERN_MESSAGES:
        return f"{where} {name}: {_PATTERN_MESSAGES[name]}"
    return f"{where} {name}: {msg}".replace("  ", " ") if name else f"{where}: {msg}"
