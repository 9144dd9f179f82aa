"""The FastAPI app behind ``matcher serve``: JSON API, the coordinator page, offline API docs.

Every ranking request reads the outreach state fresh from the database, so a
status recorded a moment ago changes the next suggestions. The JSON of the
ranking endpoints is exactly ``matcher recommend --format json`` (same
objects, same order) plus a ``status`` field where a school-partner pair is
known.
"""
from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from matcher import config
from matcher.catalog import Conflict
from matcher.errors import DataError, MatcherError, UnknownIdError, in_words
from matcher.filters import DELIVERY, MAX_QUERY_CHARS, PartnerFilters
from matcher.formats import recommendations_csv
from matcher.state import StateError
from matcher.web.guard import GuardMiddleware, redact_access_log, request_user
from matcher.web.schemas import (
    BODY_ERRORS,
    CHANGE_ERRORS,
    ERRORS,
    GRADES_PATTERN,
    NEW_ROW_BODIES,
    PATTERN_MESSAGES,
    VISIBLE,
    ChangeOut,
    ErrorOut,
    EventOut,
    ExplanationOut,
    HealthOut,
    NeedIn,
    OutreachEventOut,
    PartnerIn,
    PartnerMatchOut,
    PartnerMatchStatusOut,
    PartnerTypeSlug,
    SchoolIn,
    SchoolMatchOut,
    SchoolOut,
    Status,
    StatusIn,
    UserOut,
    contract_errors,
    request_errors,
    row_out,
)
from matcher.web.service import MAX_LIMIT, MAX_TOP, Forbidden, Service
from matcher.weights import WEIGHT_OPTION

log = logging.getLogger("matcher.web")

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


# --------------------------------------------------------------------------- the app


def _no_unknown_query(request: Request) -> None:
    """Refuse (422) an API query parameter the operation does not take, so ``?tpo=5`` is not silently ignored."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None or not request.url.path.startswith("/api/"):
        return
    known = {p.alias for p in dependant.query_params}
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise RequestValidationError([{"type": "extra_forbidden", "loc": ("query", name),
                                       "msg": "not a parameter of this operation"} for name in unknown])


def build_app(model, model_path, db_path, token: str | None = None,
              cooldown_days: int = config.DEFAULT_COOLDOWN_DAYS, clock: Callable[[], datetime] | None = None) -> FastAPI:
    """See :func:`matcher.web.create_app`."""
    import swagger_ui_bundle

    from matcher import __version__ as version
    from matcher.web import pages, workspace_pages
    from matcher.web.tokens import check_token

    check_token(token)
    svc = Service(model, model_path, db_path, cooldown_days, clock)
    redact_access_log()
    app = FastAPI(
        title="matcher",
        version=str(version),
        description=(
            "Rank the community partners that can meet a school's needs, with reasons, and record outreach. "
            "Ranking endpoints return exactly what `matcher recommend --format json` prints, plus each pair's "
            "latest outreach `status`. Errors are `{\"detail\": \"...\"}` with status 404 (unknown id, with close "
            "ids in `suggestions`), 422 (invalid input, including a body that is not UTF-8 JSON; the input is never "
            "echoed back), 413 (body above 1 MiB), 503 (workspace database unusable, e.g. a full disk: reads still "
            "work), and, when the server has a token, 401 (token missing); without a token, 421 for a `Host` that "
            "is not localhost, 127.0.0.1 or [::1]. Ids containing `/` go in the path percent-encoded (`%2F`)."
        ),
        docs_url=None,  # served below from the package's own Swagger UI files
        redoc_url=None,  # ReDoc would load its script from a CDN
        dependencies=[Depends(_no_unknown_query)],
        lifespan=_watching(svc),
    )
    app.state.service = svc
    app.state.templates = Jinja2Templates(directory=str(TEMPLATES))
    # |tojson keeps the API's key order (Jinja sorts keys by default) in the data the page embeds.
    app.state.templates.env.policies["json.dumps_kwargs"] = {"sort_keys": False, "ensure_ascii": False}
    app.mount("/static/swagger", StaticFiles(directory=str(swagger_ui_bundle.swagger_ui_path)), name="swagger")
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    _install_error_handlers(app)
    app.add_middleware(GuardMiddleware, token=token, accounts=svc.accounts)
    _document_security(app, token is not None)

    # ------------------------------------------------------------------ API

    @app.get("/api/health", response_model=HealthOut, tags=["meta"])
    def health():
        """Liveness and the loaded model's metadata (as `matcher info --format json`)."""
        return JSONResponse({"status": "ok", "model": svc.meta})

    @app.get("/api/schools", response_model=list[SchoolOut], responses=ERRORS, tags=["schools"])
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
    # Filters of a school's partners (matcher.filters): they narrow the ranking, ranks are kept.
    q_q = Query("", max_length=MAX_QUERY_CHARS, description="Keywords that must all appear in the partner's name, "
                "offerings, type or contact name (a word there may start with each: `robot` finds robotics).")
    type_q = Query([], description="Only partners of these types (repeatable).")
    max_km_q = Query(None, gt=0, le=1e6, allow_inf_nan=False, description="Only partners at most this far (km).")
    delivery_q = Query(None, description="`in_person`: the school is in the partner's service area; "
                                         "`remote`: the partner serves remotely.")
    grades_q = Query("", max_length=100, pattern=GRADES_PATTERN,
                     description="Only partners serving at least one of these grades (e.g. 6-8).")
    school_p = PathParam(description="School id, or a name only one school has (any case), as `--school`.",
                         max_length=200)
    partner_p = PathParam(description="Partner id, or a name only one partner has (any case), as `--partner`.",
                          max_length=200)

    # `:path` so an id may contain "/" (sent as %2F, which the server decodes before routing).
    @app.get("/api/schools/{school_id:path}/recommendations", response_model=list[PartnerMatchStatusOut],
             responses=ERRORS, tags=["recommendations"])
    def school_recommendations(school_id: str = school_p, top: int = top_q, include_full: bool = full_q,
                               include_current: bool = current_q, weight: list[str] = weight_q, q: str = q_q,
                               type: list[PartnerTypeSlug] = type_q, max_km: float | None = max_km_q,
                               delivery: Literal[DELIVERY] | None = delivery_q, grades: str = grades_q):
        """Partners for a school, best first: `matcher recommend --school ID --format json` plus `status`.

        With filters (`q`, `type`, `max_km`, `delivery`, `grades`), the first `top` partners of the whole
        ranking that pass, each with its rank in the whole ranking."""
        filters = PartnerFilters.parse(q, type, max_km, delivery, grades)
        rows = svc.for_school(school_id, top, include_full, include_current, svc.weights(weight), filters)
        return JSONResponse(rows)

    @app.get("/api/schools/{school_id:path}/recommendations.csv",
             responses={**ERRORS, 200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
             response_class=Response, tags=["recommendations"])
    def school_recommendations_csv(school_id: str = school_p, top: int = top_q, include_full: bool = full_q,
                                   include_current: bool = current_q, weight: list[str] = weight_q, q: str = q_q,
                                   type: list[PartnerTypeSlug] = type_q, max_km: float | None = max_km_q,
                                   delivery: Literal[DELIVERY] | None = delivery_q, grades: str = grades_q):
        """The same list as CSV, with the columns of `matcher recommend --format csv`."""
        filters = PartnerFilters.parse(q, type, max_km, delivery, grades)
        rows = svc.for_school(school_id, top, include_full, include_current, svc.weights(weight), filters)
        for r in rows:
            r.pop("status")
        return _csv_response(rows, f"partners-{school_id}.csv")

    @app.post("/api/recommendations", response_model=list[PartnerMatchOut], responses=BODY_ERRORS,
              tags=["recommendations"])
    def need_recommendations(body: NeedIn):
        """Partners for a need typed on the spot: `matcher recommend --need ... --format json`."""
        weights = body.weights.given() if body.weights is not None else None
        rows = svc.for_need(body.need, body.top, body.grades, body.lat, body.lon, body.include_full, weights)
        return JSONResponse(rows)

    @app.get("/api/partners/{partner_id:path}/recommendations", response_model=list[SchoolMatchOut], responses=ERRORS,
             tags=["recommendations"])
    def partner_recommendations(partner_id: str = partner_p, top: int = top_q, include_full: bool = full_q,
                                include_current: bool = current_q, weight: list[str] = weight_q):
        """Schools a partner could serve: `matcher recommend --partner ID --format json` plus `status`."""
        return JSONResponse(svc.for_partner(partner_id, top, include_full, include_current, svc.weights(weight)))

    @app.get("/api/partners/{partner_id:path}/recommendations.csv",
             responses={**ERRORS, 200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
             response_class=Response, tags=["recommendations"])
    def partner_recommendations_csv(partner_id: str = partner_p, top: int = top_q, include_full: bool = full_q,
                                    include_current: bool = current_q, weight: list[str] = weight_q):
        """The same list as CSV, with the columns of `matcher recommend --partner ID --format csv`."""
        rows = svc.for_partner(partner_id, top, include_full, include_current, svc.weights(weight))
        for r in rows:
            r.pop("status")
        return _csv_response(rows, f"schools-{partner_id}.csv")

    @app.get("/api/schools/{school_id:path}/partners/{partner_id:path}/explain", response_model=ExplanationOut,
             responses=ERRORS, tags=["explain"])
    def explain(school_id: str = school_p, partner_id: str = partner_p, include_current: bool = current_q,
                weight: list[str] = weight_q):
        """Why a partner ranks where it does for a school, or which constraint or outreach state keeps it out."""
        return JSONResponse(svc.explain(school_id, partner_id, include_current, svc.weights(weight)))

    @app.post("/api/schools/{school_id:path}/partners/{partner_id:path}/status", status_code=201,
              response_model=EventOut, responses=BODY_ERRORS, tags=["outreach"])
    def record_status(request: Request, body: StatusIn, school_id: str = school_p, partner_id: str = partner_p):
        """Record an outreach event for the pair (append-only); returns the stored event (with its user)."""
        return JSONResponse(svc.record(school_id, partner_id, body.status, body.note, _user(request)), status_code=201)

    @app.post("/api/schools/{school_id:path}/partners/{partner_id:path}/status/undo", status_code=201,
              response_model=EventOut, responses={**ERRORS, 409: {"model": ErrorOut, "description": "No outreach "
                                                                   "is recorded for the pair: nothing to undo"}},
              tags=["outreach"])
    def undo_status(request: Request, school_id: str = school_p, partner_id: str = partner_p):
        """Undo the pair's latest event: record the status before it again (`cleared` when there was none)."""
        return JSONResponse(svc.undo(school_id, partner_id, _user(request)), status_code=201)

    @app.get("/api/schools/{school_id:path}/partners/{partner_id:path}/status", response_model=list[EventOut],
             responses=ERRORS, tags=["outreach"])
    def status_history(school_id: str = school_p, partner_id: str = partner_p):
        """The pair's outreach events, oldest first."""
        return JSONResponse(svc.history(school_id, partner_id))

    log_status_q = Query([], description="Only pairs whose latest status is one of these (repeat it; all when absent).")
    log_school_q = Query("", max_length=200, description="Only this school id, or schools whose id or name contains the text.")
    log_partner_q = Query("", max_length=200,
                          description="Only this partner id, or partners whose id or name contains the text.")

    @app.get("/api/outreach", response_model=list[OutreachEventOut], responses=ERRORS, tags=["outreach"])
    def outreach_log(status: list[Status] = log_status_q, school: str = log_school_q, partner: str = log_partner_q):
        """The outreach log: every event of the pairs that pass the filters, oldest first, with names."""
        return JSONResponse(svc.outreach_log(status, school, partner))

    @app.get("/api/outreach.csv", responses={**ERRORS, 200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
             response_class=Response, tags=["outreach"])
    def outreach_log_csv(status: list[Status] = log_status_q, school: str = log_school_q,
                         partner: str = log_partner_q):
        """The outreach log as CSV (one row per event: when, school, partner, status, note, who, the pair's status)."""
        return Response(svc.outreach_csv(svc.outreach_log(status, school, partner)), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": 'attachment; filename="outreach-log.csv"'})

    # ------------------------------------------------------------------ live changes

    for kind, body_model in (("school", SchoolIn), ("partner", PartnerIn)):
        _change_routes(app, svc, kind, body_model)

    @app.get("/api/changes", response_model=list[ChangeOut], responses=ERRORS, tags=["changes"])
    def changes(
        kind: Literal["school", "partner"] | None = Query(None, description="Only schools or only partners."),
        id: str | None = Query(None, max_length=200, description="Only this school or partner."),
        limit: int = Query(100, ge=1, le=1000, description="At most this many changes."),
    ):
        """The history of changes to schools and partners, newest first (who, when, the row before and after)."""
        return JSONResponse(svc.changes(kind, id, limit))

    @app.get("/api/me", response_model=UserOut, tags=["meta"])
    def me(request: Request):
        """Who the server takes you for, and what you may change."""
        return JSONResponse(_user(request).to_dict())

    # ------------------------------------------------------------------ docs (offline)

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request):
        return app.state.templates.TemplateResponse(request, "docs.html", {"title": app.title})

    # ------------------------------------------------------------------ page

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    def page(request: Request):
        ctx, status = pages.page_context(svc, request.query_params)
        ctx.update(nav="/", user=request_user(request))
        return app.state.templates.TemplateResponse(request, "index.html", ctx, status_code=status)

    workspace_pages.install(app, svc)  # the forms and the outreach log

    return app


def _watching(svc: Service):
    """The app's lifespan: while it serves, the live model catches up with other processes' changes at once."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        svc.live.watch()
        try:
            yield
        finally:
            svc.live.stop()

    return lifespan


def app_from_env() -> FastAPI:
    """The app of one worker process of ``serve(..., workers=N)``, configured by the parent's variables."""
    import os

    from matcher.blas import pin_one_blas_thread
    from matcher.persistence import load_model

    model_path = os.environ["_MATCHER_WEB_MODEL"]
    model = load_model(model_path)
    generation, revision = os.environ["_MATCHER_WEB_CATALOG"].split(" ")
    model.catalog_generation_, model.catalog_revision_ = generation, int(revision)  # as the parent adopted it
    pin_one_blas_thread()
    return build_app(model, model_path, os.environ["_MATCHER_WEB_DB"], token=os.environ.get("_MATCHER_WEB_TOKEN") or None,
                     cooldown_days=int(os.environ["_MATCHER_WEB_COOLDOWN"]))


def _user(request: Request):
    """The user the guard identified (the local user when none was needed)."""
    return request_user(request)


class _EntityId(Convertor):
    """A school or partner id in a path, ``/`` included, but not a path that ends in a sub-resource
    (``.../recommendations``, ``.../partners/P1/status``): those routes answer such paths."""

    regex = r"(?!.*/(?:recommendations(?:\.csv)?|partners/.+/(?:status(?:/undo)?|explain))$).+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("entity", _EntityId())


def _change_routes(app: FastAPI, svc: Service, kind: str, body_model) -> None:
    """POST (create), PUT (replace), DELETE (deactivate) and GET of one school or partner."""
    plural = f"{kind}s"
    id_p = PathParam(description=f"{kind.title()} id.", max_length=200, pattern=VISIBLE)
    what = ("validated with the data contract (422 names every bad field), encoded and in the next "
            "recommendation at once, kept in the change history with your name")

    def get_row(request: Request, entity_id: str = id_p):
        return JSONResponse(row_out(kind, svc.row(kind, entity_id)))

    def create(request: Request, body, entity_id: str = id_p):
        return JSONResponse(svc.change(kind, entity_id, body.model_dump(), _user(request), create=True),
                            status_code=201)

    def create_with_id(request: Request, body):
        row = body.model_dump()
        entity_id = row.pop(f"{kind}_id")
        return JSONResponse(svc.change(kind, entity_id, row, _user(request), create=True), status_code=201)

    create_with_id.__annotations__ = {"request": Request, "body": NEW_ROW_BODIES[kind]}

    def replace(request: Request, body, entity_id: str = id_p):
        return JSONResponse(svc.change(kind, entity_id, body.model_dump(), _user(request), create=False))

    def remove(request: Request, entity_id: str = id_p):
        return JSONResponse(svc.remove(kind, entity_id, _user(request)))

    for fn in (get_row, create, replace, remove):  # real annotations: FastAPI reads them (no postponed strings)
        fn.__annotations__ = {"request": Request, "entity_id": str, **({"body": body_model} if fn in (create, replace) else {})}
    path = f"/api/{plural}/{{entity_id:entity}}"
    app.get(path, responses=ERRORS, tags=[plural], name=f"get_{kind}", operation_id=f"get_{kind}",
            summary=f"A {kind}'s row",
            description=f"The {kind}'s row as the workspace holds it (the {plural}.csv columns).")(get_row)
    app.post(path, status_code=201, response_model=ChangeOut, responses=CHANGE_ERRORS, tags=[plural],
             name=f"create_{kind}", summary=f"Create a {kind}", description=f"Create a {kind}: {what}.")(create)
    # The created row is at its id (the change's own `id` is not a row id: said so for clients and fuzzers).
    created = {201: {"links": {f"Get{kind.title()}": {
        "operationId": f"get_{kind}", "parameters": {"entity_id": f"$response.body#/{kind}_id"},
        "description": f"The {kind} just created."}}}}
    app.post(f"/api/{plural}", status_code=201, response_model=ChangeOut, responses={**CHANGE_ERRORS, **created},
             tags=[plural],
             name=f"create_{kind}_with_id", summary=f"Create a {kind} (id in the body)",
             description=f"Create a {kind} whose `{kind}_id` is in the body, so a bad id is reported with every "
                         f"other bad field (the intake form uses this): {what}.")(create_with_id)
    app.put(path, response_model=ChangeOut, responses=CHANGE_ERRORS, tags=[plural], name=f"replace_{kind}",
            summary=f"Replace a {kind}'s row", description=f"Replace the {kind}'s whole row: {what}.")(replace)
    app.delete(path, response_model=ChangeOut, responses=CHANGE_ERRORS, tags=[plural], name=f"remove_{kind}",
               summary=f"Remove a {kind}",
               description=f"Take the {kind} out of every suggestion; its row and history are kept.")(remove)


def _csv_response(rows: list[dict[str, Any]], filename: str) -> Response:
    safe = "".join(c if (c.isascii() and c.isalnum()) or c in "-_." else "_" for c in filename)  # a header is latin-1
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
        log.error("workspace database error: %s", exc)
        return _error(503, f"workspace database unavailable: {exc}")

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden):
        return _error(403, str(exc))

    @app.exception_handler(Conflict)
    async def conflict(request: Request, exc: Conflict):
        return _error(409, str(exc))

    @app.exception_handler(DataError)
    async def bad_row(request: Request, exc: DataError):
        errors = contract_errors(exc.problems)  # "body: column offerings: ..." for the one row of a body
        return _error(422, "; ".join(f"{e['field']}: {e['msg']}" if e["field"] else e["msg"] for e in errors),
                      errors=errors)

    @app.exception_handler(MatcherError)
    async def matcher_error(request: Request, exc: MatcherError):
        return _error(422, in_words(str(exc), {}))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        errors = request_errors(exc.errors())
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
    if err.get("type") == "string_pattern_mismatch" and name in PATTERN_MESSAGES:
        return f"{where} {name}: {PATTERN_MESSAGES[name]}"
    return f"{where} {name}: {msg}".replace("  ", " ") if name else f"{where}: {msg}"
