"""The workspace pages: the partner intake form, the school needs form and the outreach log.

Server-rendered from the address like the main page (``/partners/new``,
``/schools/edit?school=ID``, ``/outreach?status=contacted&school=oak``), so
they work without JavaScript and every view can be bookmarked. Without
JavaScript a form posts back here and comes back with every problem next
to its field and everything typed kept; with it, ``static/forms.js`` and
``static/outreach.js`` send the same values to the JSON API and show its
answer in place. Either way the change goes through
:meth:`matcher.web.service.Service.change` (the data contract, the role
checks, the history) and is in the next suggestions at once.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from matcher.catalog import Conflict
from matcher.errors import DataError, MatcherError, UnknownIdError
from matcher.state import STATUSES, StateError
from matcher.web import forms
from matcher.web.guard import request_user
from matcher.web.schemas import contract_errors
from matcher.web.service import Forbidden, Service

#: A status as the log shows it.
STATUS_NAMES = {"shortlisted": "Shortlisted", "contacted": "Contacted", "declined": "Declined",
                "partnered": "Partnered", "do_not_contact": "Do not contact"}


def status_name(status: str) -> str:
    """A status as the log shows it; one this page does not know (a newer kind of event) in plain words."""
    return STATUS_NAMES.get(status) or status.replace("_", " ").capitalize()


#: Pairs on one page of the outreach log.
PAGE_SIZE = 50
#: Longest filter or id text the pages take from the address.
MAX_FIELD = 200
#: What the record form says of a field left blank (static/outreach.js says the same).
MISSING = {"school_id": "give the school's id", "partner_id": "give the partner's id", "status": "choose a status"}
#: The record form's fields, as its labels name them.
RECORD_LABELS = {"school_id": "School id", "partner_id": "Partner id", "status": "Status", "note": "Note"}


def install(app: FastAPI, svc: Service) -> None:
    """Add the workspace pages' routes to ``app`` (its templates are ``app.state.templates``)."""
    templates = app.state.templates

    def render(request: Request, name: str, ctx: dict[str, Any], status: int = 200) -> HTMLResponse:
        user = request_user(request)
        return templates.TemplateResponse(request, name, {"user": user, "nav": request.url.path, **ctx},
                                          status_code=status)

    for kind in ("partner", "school"):
        _form_routes(app, svc, kind, render)

    @app.get("/outreach", include_in_schema=False, response_class=HTMLResponse)
    def outreach(request: Request):
        ctx, status = outreach_context(svc, request.query_params)
        return render(request, "outreach.html", ctx, status)

    @app.post("/outreach", include_in_schema=False, response_class=HTMLResponse)
    async def record(request: Request):
        typed = _single(await _form(request))
        if not _same_origin(request):
            return render(request, "message.html", _cross_site(), 403)
        user = request_user(request)
        back = {k: request.query_params.get(k, "") for k in ("status", "school", "partner")}
        fields = {k: typed.get(k, "") for k in ("school_id", "partner_id", "status", "note")}
        problems = {k: [msg] for k, msg in MISSING.items() if not fields[k].strip()}
        if not problems:
            problems = {e["field"] or "": [e["msg"]] for e in forms.check_status(fields["status"], fields["note"])}
        status = 422
        if not problems:
            try:
                event = svc.record(fields["school_id"], fields["partner_id"], fields["status"], fields["note"], user)
            except (MatcherError, StateError) as exc:
                problems = {f"{exc.kind}_id" if isinstance(exc, UnknownIdError) else "": [str(exc)]}
                status = _status_of(exc)
        if problems:
            ctx, _ = outreach_context(svc, request.query_params)
            ctx["record"] = {**ctx["record"], **fields, "open": True, "errors": problems}
            return render(request, "outreach.html", ctx, status)
        query = urlencode({**{k: v for k, v in back.items() if v}, "recorded": event["id"]})
        return RedirectResponse(f"/outreach?{query}#log-heading", status_code=303)


# --------------------------------------------------------------------------- the forms


def _form_routes(app: FastAPI, svc: Service, kind: str, render) -> None:
    plural = f"{kind}s"

    @app.get(f"/{plural}/new", include_in_schema=False, response_class=HTMLResponse, name=f"new_{kind}_form")
    def new_form(request: Request):
        return render(request, "entity_form.html", form_context(svc, kind, None, request_user(request)))

    @app.post(f"/{plural}/new", include_in_schema=False, response_class=HTMLResponse, name=f"new_{kind}_save")
    async def new_save(request: Request):
        return await _save(request, svc, kind, None, render)

    @app.get(f"/{plural}/edit", include_in_schema=False, response_class=HTMLResponse, name=f"edit_{kind}_form")
    def edit_form(request: Request):
        entity_id = (request.query_params.get(kind) or "").strip()[:MAX_FIELD]
        user = request_user(request)
        choose = {"choose": True, "title": f"Edit a {kind}", "heading": f"Edit a {kind}", "asked": entity_id}
        if not entity_id:
            return render(request, "entity_form.html", {**form_context(svc, kind, None, user), **choose})
        try:
            values = svc.row(kind, entity_id)
        except UnknownIdError as exc:
            ctx = {**form_context(svc, kind, None, user), **choose}
            hits = svc.search_schools(entity_id, 50) if kind == "school" else []
            if len(hits) == 1:
                return RedirectResponse(f"/{plural}/edit?{urlencode({kind: hits[0]['school_id']})}", status_code=303)
            if hits:
                ctx["choices"] = [{**h, "href": f"/{plural}/edit?{urlencode({kind: h['school_id']})}"} for h in hits]
                return render(request, "entity_form.html", ctx)
            ctx["unknown"] = {"message": str(exc), "suggestions": [(s, f"/{plural}/edit?{urlencode({kind: s})}")
                                                                   for s in exc.suggestions]}
            return render(request, "entity_form.html", ctx, 404)
        saved = request.query_params.get("saved")
        ctx = form_context(svc, kind, values[f"{kind}_id"], user, values=values,
                           saved=saved if saved in ("created", "updated") else None)
        return render(request, "entity_form.html", ctx)

    @app.post(f"/{plural}/edit", include_in_schema=False, response_class=HTMLResponse, name=f"edit_{kind}_save")
    async def edit_save(request: Request):
        entity_id = (request.query_params.get(kind) or "").strip()[:MAX_FIELD]
        if not entity_id:
            return RedirectResponse(f"/{plural}/edit", status_code=303)
        return await _save(request, svc, kind, entity_id, render)


def form_context(svc: Service, kind: str, entity_id: str | None, user, values: Mapping[str, Any] | None = None,
                 errors: list[dict[str, Any]] | None = None, saved: str | None = None) -> dict[str, Any]:
    """Context of ``entity_form.html``: a new ``kind`` (``entity_id`` None) or an existing one."""
    plural = f"{kind}s"
    editing = entity_id is not None
    errors = errors or []
    form_fields = forms.fields(kind, values, errors, editing=editing)
    if kind == "partner":
        can_edit, why = user.can_change_partners, "Only an admin can add or change partners."
    elif editing:
        can_edit = user.can_change_school(entity_id)
        why = ("Your account may change these schools only: " + ", ".join(user.schools or ()) + "."
               if user.role == "coordinator" else "")
    else:
        can_edit, why = user.role in ("admin", "coordinator"), ""
    if not can_edit:
        if user.role == "viewer":
            why = "Viewers can read everything but change nothing."
        what = "this form is read-only" if editing else f"you cannot add a {kind} here"
        why = f"You are signed in as {user.name} ({user.role}), so {what}. {why} Ask an admin if you need to."
    name = (values or {}).get("name") or ""
    ctx = {
        "kind": kind,
        "plural": plural,
        "editing": editing,
        "entity_id": entity_id,
        "title": (f"Edit {kind} {entity_id}" if editing else f"Add a {kind}"),
        "heading": (f"{name or entity_id}" if editing else ("Partner intake" if kind == "partner" else "Add a school")),
        "action": f"/{plural}/edit?{urlencode({kind: entity_id})}" if editing else f"/{plural}/new",
        "api_url": f"/api/{plural}/{quote(entity_id, safe='')}" if editing else f"/api/{plural}",
        "api_method": "PUT" if editing else "POST",
        "edit_url": f"/{plural}/edit?{kind}=",
        "fields": form_fields,
        "groups": [(key, heading, [f for f in form_fields if f.group == key]) for key, heading in forms.GROUPS],
        "general": forms.general_errors(errors, form_fields),
        "error_count": len(errors),
        "can_edit": can_edit,
        "why_not": why if not can_edit else "",
        "saved": saved,
        "choose": False,
        "next_links": _next_links(kind, entity_id) if saved else [],
    }
    return ctx


def _next_links(kind: str, entity_id: str | None) -> list[tuple[str, str]]:
    """Where to go after saving: the suggestions the change affects."""
    if entity_id is None:
        return []
    if kind == "partner":
        return [("See the schools this partner could serve", f"/?{urlencode({'partner': entity_id})}"),
                ("Add another partner", "/partners/new")]
    return [("See this school's suggestions", f"/?{urlencode({'school': entity_id})}"),
            ("Edit another school", "/schools/edit")]


async def _save(request: Request, svc: Service, kind: str, entity_id: str | None, render) -> Response:
    """A form posted without JavaScript: save it and go to the saved view, or show it again with every problem."""
    typed = await _form(request)
    if not _same_origin(request):
        return render(request, "message.html", _cross_site(), 403)
    user = request_user(request)
    editing = entity_id is not None
    payload = forms.body(kind, typed, with_id=not editing)
    errors = forms.check(kind, payload, with_id=not editing)
    status = 422
    if not errors:
        row = {k: v for k, v in payload.items() if k != f"{kind}_id"}
        target = entity_id if editing else payload[f"{kind}_id"]
        try:
            change = svc.change(kind, target, row, user, create=not editing)
        except DataError as exc:
            errors = contract_errors(exc.problems)
        except Conflict as exc:
            errors, status = [{"field": None if editing else f"{kind}_id", "msg": str(exc)}], 409
        except (MatcherError, StateError) as exc:
            errors, status = [{"field": None, "msg": str(exc)}], _status_of(exc)
        else:
            saved = "updated" if editing else "created"
            query = urlencode({kind: change[f"{kind}_id"], "saved": saved})
            return RedirectResponse(f"/{kind}s/edit?{query}", status_code=303)
    lists = {f.name for f in forms.fields(kind) if f.widget in ("categories", "types")}
    values = {k: ";".join(v) if k in lists else (v[-1] if v else "") for k, v in typed.items()}
    if editing:
        values[f"{kind}_id"] = entity_id
    ctx = form_context(svc, kind, entity_id, user, values=values, errors=errors)
    return render(request, "entity_form.html", ctx, status)


# --------------------------------------------------------------------------- the outreach log


def outreach_context(svc: Service, qp: Mapping[str, str]) -> tuple[dict[str, Any], int]:
    """Context of ``outreach.html`` from the address, and the page's HTTP status.

    ``status`` keeps the pairs whose latest status it is; ``school`` and
    ``partner`` an exact id or ids and names containing the text;
    ``page`` pages through the pairs, most recently active first.
    """
    status = (qp.get("status") or "").strip()
    school = (qp.get("school") or "").strip()[:MAX_FIELD]
    partner = (qp.get("partner") or "").strip()[:MAX_FIELD]
    filters = {"status": status, "school": school, "partner": partner}
    ctx: dict[str, Any] = {
        "title": "Outreach log",
        "filters": filters,
        "statuses": [(s, STATUS_NAMES[s]) for s in STATUSES],
        "status_name": status_name,
        "record_labels": RECORD_LABELS,
        "error": None,
        "pairs": [],
        "chips": [],
        "n_pairs": 0,
        "n_events": 0,
        "pages": None,
        "flash": None,
        "record": {"school_id": (qp.get("record_school") or "")[:MAX_FIELD],
                   "partner_id": (qp.get("record_partner") or "")[:MAX_FIELD], "status": "", "note": "",
                   "open": bool(qp.get("record_school") or qp.get("record_partner")), "errors": {}},
    }
    if status and status not in STATUSES:
        ctx["error"] = f"unknown status {status!r}; choose one of: {', '.join(STATUSES)}"
        filters["status"] = ""
        return ctx, 422
    try:
        rows = svc.outreach_log((), school, partner)
    except StateError as exc:
        ctx["error"] = f"workspace database unavailable: {exc}"
        return ctx, 503
    pairs: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        pair = pairs.setdefault((r["school_id"], r["partner_id"]), {
            "school_id": r["school_id"], "school_name": r["school_name"], "partner_id": r["partner_id"],
            "partner_name": r["partner_name"], "status": r["pair_status"], "events": []})
        pair["events"].append({**r, "when": r["created_at"][:16].replace("T", " ")})
        pair["last"] = r["id"]
    counts = {s: 0 for s in STATUSES}
    for p in pairs.values():
        counts[p["status"]] = counts.get(p["status"], 0) + 1

    def href(**changes: Any) -> str:
        query = {k: v for k, v in {**filters, **changes}.items() if v not in ("", None) and (k, v) != ("page", 1)}
        return "/outreach" + (f"?{urlencode(query)}" if query else "")

    ctx["chips"] = [("", "All", len(pairs), href(status=""))] + [
        (s, STATUS_NAMES[s], counts[s], href(status=s)) for s in STATUSES]
    shown = sorted((p for p in pairs.values() if not status or p["status"] == status), key=lambda p: -p["last"])
    page = _page(qp.get("page"), len(shown))
    for p in shown[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]:
        p["events"].reverse()  # newest first
        p["anchor"] = f"pair-{p['last']}"
        p["suggest_href"] = "/?" + urlencode({"school": p["school_id"], "partner": p["partner_id"]}) + "#detail"
        p["record_href"] = href(record_school=p["school_id"], record_partner=p["partner_id"], page=page) + "#record"
        ctx["pairs"].append(p)
    ctx["n_pairs"] = len(shown)
    ctx["n_events"] = sum(len(p["events"]) for p in shown)
    last = max(1, -(-len(shown) // PAGE_SIZE))
    if last > 1:
        ctx["pages"] = {"page": page, "last": last, "prev": href(page=page - 1) if page > 1 else None,
                        "next": href(page=page + 1) if page < last else None}
    csv_filters = [("status", status)] if status else []
    csv_filters += [(k, v) for k, v in (("school", school), ("partner", partner)) if v]
    ctx["csv_href"] = "/api/outreach.csv" + (f"?{urlencode(csv_filters)}" if csv_filters else "")
    recorded = qp.get("recorded")
    if recorded:
        found = next((r for r in rows if str(r["id"]) == recorded), None)
        ctx["flash"] = (f"Recorded “{status_name(found['status'])}” for {found['school_name'] or found['school_id']} "
                        f"and {found['partner_name'] or found['partner_id']}." if found
                        else "Recorded. The current filters hide it; clear them to see it.")
    return ctx, 200


def _page(text: str | None, n: int) -> int:
    try:
        page = int(text or 1)
    except ValueError:
        page = 1
    return min(max(page, 1), max(1, -(-n // PAGE_SIZE)))


# --------------------------------------------------------------------------- posting forms safely


async def _form(request: Request) -> dict[str, list[str]]:
    """A posted ``application/x-www-form-urlencoded`` body: name -> values, in order."""
    raw = await request.body()
    out: dict[str, list[str]] = {}
    if "application/x-www-form-urlencoded" in request.headers.get("content-type", ""):
        for k, v in parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True):
            out.setdefault(k, []).append(v)
    return out


def _single(typed: Mapping[str, list[str]]) -> dict[str, str]:
    return {k: (v[-1] if v else "") for k, v in typed.items()}


def _same_origin(request: Request) -> bool:
    """Whether a posted form comes from this server's own pages (a cross-site form may not change anything).

    Browsers say where a request comes from in ``Sec-Fetch-Site``; one too
    old for that sends ``Origin``, compared with ``Host``. (The pages'
    ``Referrer-Policy: no-referrer`` makes a browser send ``Origin: null``
    even for its own forms, so ``null`` is refused only without
    ``Sec-Fetch-Site``.) A request with neither is not from a browser, and
    is let through as the JSON API would.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc.lower() == (request.headers.get("host") or "").lower()


def _cross_site() -> dict[str, Any]:
    return {"title": "Refused", "message": "This form was sent from another site, so nothing was changed. "
                                           "Open the form on this server and send it again."}


def _status_of(exc: Exception) -> int:
    if isinstance(exc, UnknownIdError):
        return 404
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, StateError):  # inputs are checked before the store is touched: the database itself
        return 503
    return 422
