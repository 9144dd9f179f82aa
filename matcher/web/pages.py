"""The coordinator page's view model: the query string in, the template's context out.

The page is server-rendered from the address (``/?school=ID``, ``/?need=...``,
``/?partner=ID``, ``/?school=ID&partner=ID`` for one pair), so it works
without JavaScript, a reload shows the current state, and every view can be
bookmarked. The JavaScript only adds the search-as-you-type picker, status
buttons and the download of a need list's CSV (written here, by the one CSV
writer of :mod:`matcher.formats`, and only saved by the browser).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from matcher import config
from matcher.errors import MatcherError, UnknownIdError
from matcher.explain import BLOCK_LABELS
from matcher.formats import recommendations_csv
from matcher.state import STATUSES, StateError

#: Button labels of the outreach statuses.
STATUS_LABELS = {
    "shortlisted": "Shortlist",
    "contacted": "Contacted",
    "declined": "Declined",
    "partnered": "Partnered",
    "do_not_contact": "Do not contact",
}

_TRUE = {"1", "true", "on", "yes"}
#: Schools listed when a typed text matches several.
MAX_CHOICES = 50


def page_context(svc, qp: Mapping[str, str]) -> tuple[dict[str, Any], int]:
    """Context for ``index.html`` and the HTTP status of the page."""
    from matcher.web.service import MAX_TOP

    form = {k: (qp.get(k) or "").strip() for k in ("school", "partner", "need", "grades", "lat", "lon", "top")}
    include_full = (qp.get("include_full") or "").lower() in _TRUE
    include_current = (qp.get("include_current") or "").lower() in _TRUE
    ctx: dict[str, Any] = {
        "form": form,
        "include_full": include_full,
        "include_current": include_current,
        "meta": svc.meta,
        "blocks": config.BLOCKS,
        "block_labels": BLOCK_LABELS,
        "statuses": [(s, STATUS_LABELS[s]) for s in STATUSES],
        "mode": None,
        "heading": "",
        "items": [],
        "rows": [],
        "error": None,
        "choices": None,
        "detail": None,
        "csv_href": None,
        "csv_text": None,
        "school_id": None,
        "top": config.DEFAULT_TOP,
        "max_top": MAX_TOP,
    }
    flags = {"include_full": "1" if include_full else None, "include_current": "1" if include_current else None}

    def href(**params) -> str:
        merged = {"top": ctx["top"] if ctx["top"] != config.DEFAULT_TOP else None, **flags, **params}
        return "/?" + urlencode({k: v for k, v in merged.items() if v not in (None, "")})

    # ---- top
    if form["top"]:
        try:
            top = int(form["top"])
            if not 1 <= top <= MAX_TOP:
                raise ValueError
            ctx["top"] = top
        except ValueError:
            ctx["error"] = {"message": f"'How many' must be a whole number from 1 to {MAX_TOP}, got {form['top']!r}",
                            "suggestions": []}
            return ctx, 422
    top = ctx["top"]
    shares = svc.shares()
    ctx["shares"] = shares
    scale = max(shares.values()) or 1.0

    def bars(components: Mapping[str, float]) -> list[dict[str, Any]]:
        return [{"block": b, "label": BLOCK_LABELS[b], "value": components[b],
                 "pct": max(0.0, min(100.0, 100.0 * components[b] / scale))} for b in config.BLOCKS]

    try:
        if form["need"]:
            ctx["mode"] = "need"
            lat = _float(form["lat"], "latitude")
            lon = _float(form["lon"], "longitude")
            need = form["need"]
            ctx["heading"] = f"Partners for the need: {need[:70]}{'…' if len(need) > 70 else ''}"
            rows = svc.for_need(need, top, form["grades"] or None, lat, lon, include_full)
            ctx["rows"] = rows
            ctx["csv_text"] = recommendations_csv(rows)  # the Download CSV button's file: the one CSV writer
            ctx["items"] = [_item(r, "partner", None, bars, None) for r in rows]
        elif form["school"]:
            school_id = _resolve_school(svc, form["school"], ctx, href)
            if school_id is None:
                return ctx, 200 if ctx["choices"] else 404
            ctx["mode"] = "school"
            ctx["school_id"] = school_id
            form["school"] = school_id
            ctx["heading"] = f"Partners for {school_id} {svc.school_name(school_id)}"
            rows = svc.for_school(school_id, top, include_full, include_current)
            ctx["rows"] = rows
            ctx["items"] = [_item(r, "partner", school_id, bars, href(school=school_id, partner=r["partner_id"]))
                            for r in rows]
            ctx["csv_href"] = f"/api/schools/{_q(school_id)}/recommendations.csv?" + urlencode(
                {"top": top, **{k: "true" for k, v in flags.items() if v}})
            if form["partner"]:
                return ctx, _detail(svc, ctx, school_id, form["partner"], include_current, bars, href)
        elif form["partner"]:
            ctx["mode"] = "partner"
            partner_id = svc.model.resolve("partner", form["partner"], partial=True)
            form["partner"] = partner_id
            ctx["heading"] = f"Schools for {partner_id} {svc.partner_name(partner_id)}"
            rows = svc.for_partner(partner_id, top, include_full, include_current)
            ctx["rows"] = rows
            ctx["partner_id"] = partner_id
            ctx["items"] = [_item(r, "school", r["school_id"], bars, href(school=r["school_id"], partner=partner_id),
                                  partner_id=partner_id) for r in rows]
            ctx["csv_href"] = f"/api/partners/{_q(partner_id)}/recommendations.csv?" + urlencode(
                {"top": top, **{k: "true" for k, v in flags.items() if v}})
    except UnknownIdError as exc:
        key = "school" if exc.kind == "school" else "partner"
        ctx["error"] = {"message": str(exc), "suggestions": [(s, href(**{key: s})) for s in exc.suggestions]}
        ctx["mode"] = None
        return ctx, 404
    except StateError as exc:  # the workspace database itself (full disk...): not the user's input
        ctx["error"] = {"message": f"workspace database unavailable: {exc}", "suggestions": []}
        ctx["mode"] = None
        return ctx, 503
    except MatcherError as exc:
        ctx["error"] = {"message": str(exc), "suggestions": []}
        ctx["mode"] = None
        return ctx, 422
    return ctx, 200


def _q(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _float(text: str, what: str) -> float | None:
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise MatcherError(f"{what} must be a number, got {text!r}") from None


def _resolve_school(svc, text: str, ctx: dict[str, Any], href) -> str | None:
    """The school the text stands for (an id or a name, as the CLI and the API take them, or the only
    name containing it: :meth:`matcher.model.PartnerMatcher.resolve`); else the choices, or an error."""
    try:
        return svc.model.resolve("school", text, partial=True)
    except UnknownIdError as exc:
        if not exc.ambiguous:
            ctx["error"] = {"message": f"{exc}", "suggestions": [(s, href(school=s)) for s in exc.suggestions]}
            return None
        choices = exc.candidates[:MAX_CHOICES]
    grades = svc.school_grades([i for i, _ in choices])
    ctx["choices"] = [{"school_id": i, "name": n, "grades": g, "href": href(school=i)} for (i, n), g in zip(choices, grades)]
    ctx["mode"] = "choose"
    ctx["heading"] = f"Schools matching “{text}”"
    return None


def _item(row: dict[str, Any], kind: str, school_id: str | None, bars, link: str | None, partner_id: str | None = None):
    """A result card's data."""
    return {
        "row": row,
        "id": row[f"{kind}_id"],
        "kind": kind,
        "school_id": school_id,
        "partner_id": partner_id if partner_id is not None else row.get("partner_id"),
        "href": link,
        "bars": bars(row["components"]),
        "status": row.get("status"),
        "distance": "—" if row["distance_km"] is None else f"{row['distance_km']:.1f} km",
    }


def _detail(svc, ctx, school_id: str, partner_text: str, include_current: bool, bars, href) -> int:
    """The pair panel: explanation, why-not verdict and history. Returns the page status."""
    try:
        ex = svc.explain(school_id, svc.model.resolve("partner", partner_text, partial=True), include_current)
    except UnknownIdError as exc:
        ctx["detail_error"] = {"message": str(exc),
                               "suggestions": [(s, href(school=school_id, partner=s) + "#detail") for s in exc.suggestions]}
        return 404
    history = svc.history(school_id, ex["partner_id"])
    rows = ctx["rows"]
    shown = [r["partner_id"] for r in rows]
    verdict: dict[str, Any] = {"kind": "", "text": "", "weak": []}
    if ex["excluded_by"]:
        verdict["kind"] = "excluded"
        verdict["text"] = "Not suggested: ruled out by"
    elif ex["partner_id"] in shown:
        verdict["kind"] = "shown"
        verdict["text"] = f"Suggested at rank {ex['rank']} (score {ex['score']:.3f})."
    else:
        verdict["kind"] = "below"
        last = rows[-1] if rows else None
        verdict["text"] = (f"Allowed, but ranks #{ex['rank']} (score {ex['score']:.3f}), below the top {len(rows)} shown"
                           + (f"; #{last['rank']} {last['name']} scores {last['score']:.3f}." if last else "."))
        if last:
            mine = {b["block"]: b["contribution"] for b in ex["blocks"]}
            gaps = sorted(((last["components"][b] - mine[b], b) for b in config.BLOCKS), reverse=True)
            verdict["weak"] = [f"{BLOCK_LABELS[b]}: {mine[b]:.3f} vs {last['components'][b]:.3f} (−{gap:.3f})"
                               for gap, b in gaps if gap > 0.0005][:3]
    contrib = {b["block"]: b["contribution"] for b in ex["blocks"]}
    ctx["detail"] = {
        "ex": ex,
        "verdict": verdict,
        "history": history,
        "block_rows": [{**b, "label": BLOCK_LABELS[b["block"]], "pct": bar["pct"]}
                       for b, bar in zip(ex["blocks"], bars(contrib))],
        "status": history[-1]["status"] if history else None,
    }
    ctx["form"]["partner"] = ex["partner_id"]
    return 200
