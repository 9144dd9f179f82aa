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
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI, Path as PathParam, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from matcher import config
from matcher.errors import MatcherError, UnknownIdError
from matcher.formats import recommendations_csv
from matcher.ids import normalise_id
from matcher.state import OutreachStore, StateError

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


class NeedIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"need": "tutoring in math for middle schoolers", "grades": "6-8",
                                         "lat": 27.9, "lon": -82.4, "top": 10}]},
    )
    need: str = Field(min_length=1, max_length=5000, description="What the school needs, in plain words.")
    grades: str | None = Field(None, max_length=100, description="Grade band, e.g. '6-8' or 'K-5'.")
    lat: float | None = Field(None, ge=-90, le=90, description="Latitude (with lon).")
    lon: float | None = Field(None, ge=-180, le=180, description="Longitude (with lat).")
    top: int = Field(config.DEFAULT_TOP, ge=1, le=MAX_TOP, description="How many results.")
    include_full: bool = Field(False, description="Also suggest partners with no capacity left.")
    weights: dict[str, float] | None = Field(None, description="Block weights overriding the model's, e.g. {\"geo\": 0.2}.")


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"status": "contacted", "note": "emailed the director"}]})
    status: Status
    note: str = Field("", max_length=4000, description="Free-text note kept with the event.")


_ERRORS = {404: {"model": ErrorOut, "description": "Unknown school or partner id"},
           422: {"model": ErrorOut, "description": "Invalid parameter or body"}}


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
        self.store = OutreachStore(config.DEFAULT_OUTREACH_DB if db_path is None else db_path, clock=clock)
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
        from matcher.weights import parse_weight_options

        return parse_weight_options(items or [])

    def shares(self, weights: dict[str, float] | None = None) -> dict[str, float]:
        """Each block's share of the score (weights normalised to sum 1)."""
        from matcher.weights import block_total

        w = self.model.resolve_weights(weights)
        total = block_total(w)
        return {b: w[b] / total for b in config.BLOCKS}

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
        return str(self.model.school_names_[self.model._position("school", normalise_id(school_id))])

    def partner_name(self, partner_id: str) -> str:
        return str(self.model.partner_names_[self.model._position("partner", normalise_id(partner_id))])

    def for_school(self, school_id: str, top: int, include_full=False, include_current=False, weights=None):
        school_id = normalise_id(school_id)
        self.model._position("school", school_id)  # unknown id -> 404 before touching the database
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
        self.model._position("partner", partner_id)
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
        self.model._position("school", school_id)
        self.model._position("partner", partner_id)
        return school_id, partner_id





# --------------------------------------------------------------------------- auth + headers


def session_value(token: str) -> str:
    """The cookie value for a token: a keyed hash, so the cookie never holds the token itself."""
    return hmac.new(token.encode("utf-8"), b"matcher-web-session-v1", hashlib.sha256).hexdigest()


class GuardMiddleware:
    """Token check (when a token is set) and security headers on every response (plain ASGI, cheap)."""

    def __init__(self, app, token: str | None):
        self.app = app
        self.token = token.encode("utf-8") if token else None
        self.session = session_value(token) if token else None

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

        if self.token is not None and not self._authorised(scope):
            response = self._login_or_refuse(scope)
            return await response(scope, receive, send_with_headers)
        return await self.app(scope, receive, send_with_headers)

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
            location = scope.get("path", "/") + (f"?{rest}" if rest else "")
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


class RedactTokenFilter(logging.Filter):
    """Hide ``token=...`` in access-log lines, so opening ``/?token=...`` never writes the token to a log."""

    _pattern = re.compile(r"([?&]token=)[^&\s]*")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, str) and "token=" in a for a in record.args):
            record.args = tuple(self._pattern.sub(r"\1[hidden]", a) if isinstance(a, str) else a for a in record.args)
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
    from matcher.web import pages

    svc = Service(model, model_path, db_path, cooldown_days, clock)
    _redact_access_log()
    app = FastAPI(
        title="matcher",
        version=str(version),
        description=(
            "Rank the community partners that can meet a school's needs, with reasons, and record outreach. "
            "Ranking endpoints return exactly what `matcher recommend --format json` prints, plus each pair's "
            "latest outreach `status`. Errors are `{\"detail\": \"...\"}` with status 404 (unknown id, with close "
            "ids in `suggestions`), 422 (invalid input) or 401 (token missing, when the server has one)."
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
    weight_q = Query([], description="Override one block's weight, BLOCK=VALUE (repeatable, as `--weight`).")
    school_p = PathParam(description="School id.", max_length=200)
    partner_p = PathParam(description="Partner id.", max_length=200)

    @app.get("/api/schools/{school_id}/recommendations", response_model=list[PartnerMatchStatusOut],
             responses=_ERRORS, tags=["recommendations"])
    def school_recommendations(school_id: str = school_p, top: int = top_q, include_full: bool = full_q,
                               include_current: bool = current_q, weight: list[str] = weight_q):
        """Partners for a school, best first: `matcher recommend --school ID --format json` plus `status`."""
        rows = svc.for_school(school_id, top, include_full, include_current, svc.weights(weight))
        return JSONResponse(rows)

    @app.get("/api/schools/{school_id}/recommendations.csv", responses={**_ERRORS, 200: {"content": {"text/csv": {}}}},
             response_class=Response, tags=["recommendations"])
    def school_recommendations_csv(school_id: str = school_p, top: int = top_q, include_full: bool = full_q,
                                   include_current: bool = current_q, weight: list[str] = weight_q):
        """The same list as CSV, with the columns of `matcher recommend --format csv`."""
        rows = svc.for_school(school_id, top, include_full, include_current, svc.weights(weight))
        for r in rows:
            r.pop("status")
        return _csv_response(rows, f"partners-{school_id}.csv")

    @app.post("/api/recommendations", response_model=list[PartnerMatchOut], responses=_ERRORS,
              tags=["recommendations"])
    def need_recommendations(body: NeedIn):
        """Partners for a need typed on the spot: `matcher recommend --need ... --format json`."""
        rows = svc.for_need(body.need, body.top, body.grades, body.lat, body.lon, body.include_full, body.weights)
        return JSONResponse(rows)

    @app.get("/api/partners/{partner_id}/recommendations", response_model=list[SchoolMatchOut], responses=_ERRORS,
             tags=["recommendations"])
    def partner_recommendations(partner_id: str = partner_p, top: int = top_q, include_full: bool = full_q,
                                include_current: bool = current_q, weight: list[str] = weight_q):
        """Schools a partner could serve: `matcher recommend --partner ID --format json` plus `status`."""
        return JSONResponse(svc.for_partner(partner_id, top, include_full, include_current, svc.weights(weight)))

    @app.get("/api/partners/{partner_id}/recommendations.csv", responses={**_ERRORS, 200: {"content": {"text/csv": {}}}},
             response_class=Response, tags=["recommendations"])
    def partner_recommendations_csv(partner_id: str = partner_p, top: int = top_q, include_full: bool = full_q,
                                    include_current: bool = current_q, weight: list[str] = weight_q):
        """The same list as CSV, with the columns of `matcher recommend --partner ID --format csv`."""
        rows = svc.for_partner(partner_id, top, include_full, include_current, svc.weights(weight))
        for r in rows:
            r.pop("status")
        return _csv_response(rows, f"schools-{partner_id}.csv")

    @app.get("/api/schools/{school_id}/partners/{partner_id}/explain", response_model=ExplanationOut,
             responses=_ERRORS, tags=["explain"])
    def explain(school_id: str = school_p, partner_id: str = partner_p, include_current: bool = current_q,
                weight: list[str] = weight_q):
        """Why a partner ranks where it does for a school, or which constraint or outreach state keeps it out."""
        return JSONResponse(svc.explain(school_id, partner_id, include_current, svc.weights(weight)))

    @app.post("/api/schools/{school_id}/partners/{partner_id}/status", status_code=201, response_model=EventOut,
              responses=_ERRORS, tags=["outreach"])
    def record_status(body: StatusIn, school_id: str = school_p, partner_id: str = partner_p):
        """Record an outreach event for the pair (append-only); returns the stored event."""
        return JSONResponse(svc.record(school_id, partner_id, body.status, body.note), status_code=201)

    @app.get("/api/schools/{school_id}/partners/{partner_id}/status", response_model=list[EventOut],
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
    """Every error is ``{"detail": "..."}``: 404 unknown ids, 422 bad input, 500 without a traceback."""

    @app.exception_handler(UnknownIdError)
    async def unknown_id(request: Request, exc: UnknownIdError):
        return JSONResponse({"detail": str(exc), "suggestions": exc.suggestions}, status_code=404)

    @app.exception_handler(StateError)
    async def state_error(request: Request, exc: StateError):
        # Inputs are validated before the store is touched, so this is the database itself.
        log.error("outreach database error: %s", exc)
        return JSONResponse({"detail": f"outreach database unavailable: {exc}"}, status_code=503)

    @app.exception_handler(MatcherError)
    async def matcher_error(request: Request, exc: MatcherError):
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        return JSONResponse({"detail": "; ".join(_describe(e) for e in errors) or "invalid request",
                             "errors": json.loads(json.dumps(errors, default=str))}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error: the server logged the details"}, status_code=500)


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
    return f"{where} {name}: {msg}".replace("  ", " ") if name else f"{where}: {msg}"
