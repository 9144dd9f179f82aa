"""The school and partner forms: their fields read from the API's body schema, typed text in, field errors out.

The fields, their order, whether they are required, their kind (text,
number, whole number, yes/no, one of a list) and their help come from the
pydantic body of ``POST /api/schools`` / ``POST /api/partners``
(:data:`matcher.web.schemas.NEW_ROW_BODIES`), so a column added to the data
contract and the API appears on the form by itself. :data:`HINTS` only adds
a coordinator's words (label, help) and a better control where one fits
(a text area, checkboxes of the taxonomy's categories).

The same conversion from typed text to a JSON body runs here (the form
posted without JavaScript) and in ``static/forms.js`` (with it): blank
fields are left out, a number that does not read as one is sent as typed so
the API names the field. Either way the body is checked by the API's own
model, then by the data contract, and every problem is reported at once.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from matcher.web.schemas import NEW_ROW_BODIES, request_errors

#: Words and controls for the fields the coordinator knows; any other field gets a label made from its name.
HINTS: dict[str, dict[str, Any]] = {
    "school_id": {"label": "School id", "help": "A short unique id, such as S000123. It cannot be changed later."},
    "partner_id": {"label": "Partner id", "help": "A short unique id, such as P000123. It cannot be changed later."},
    "name": {"label": "Name"},
    "needs": {"label": "What the school needs", "widget": "textarea",
              "help": "In plain words, as a teacher would say it: the matcher reads this text."},
    "offerings": {"label": "What the partner offers", "widget": "textarea",
                  "help": "In plain words: programs, services, who runs them. The matcher reads this text."},
    "need_categories": {"label": "Need categories", "widget": "categories", "group": "more",
                        "help": "Optional. Leave all unticked to have them read from the needs text."},
    "offering_categories": {"label": "Offering categories", "widget": "categories", "group": "more",
                            "help": "Optional. Leave all unticked to have them read from the offerings text."},
    "partner_type": {"label": "Type of organisation", "widget": "select", "group": "who"},
    "preferred_partner_types": {"label": "Preferred partner types", "widget": "types", "group": "more",
                                "help": "Optional: kinds of organisation the school would rather work with."},
    "grades": {"label": "Grades", "group": "who", "short": True,
               "help": "Such as K-5, 6-8, 9-12 or a list like K-2;5. Blank: not stated."},
    "latitude": {"label": "Latitude", "group": "where", "help": "Decimal degrees, such as 41.88. Give both, or neither."},
    "longitude": {"label": "Longitude", "group": "where", "help": "Decimal degrees, such as -87.63 (west is negative)."},
    "service_radius_km": {"label": "Service radius (km)", "group": "where",
                          "help": "How far it travels to schools. Blank: no limit."},
    "remote": {"label": "Also works remotely (online)", "group": "where"},
    "capacity": {"label": "Capacity", "group": "who", "help": "How many schools it can take on. Blank: no limit."},
    "enrollment": {"label": "Enrollment", "group": "who", "help": "Number of students (optional)."},
    "frl_pct": {"label": "Free or reduced-price lunch (%)", "group": "who", "help": "0 to 100 (optional)."},
    "contact_name": {"label": "Contact person", "group": "contact"},
    "contact_email": {"label": "Contact email", "group": "contact", "input": "email"},
    "website": {"label": "Website", "group": "contact", "input": "url", "placeholder": "https://"},
}

#: The form's sections, in order: (key, heading).
GROUPS: tuple[tuple[str, str], ...] = (
    ("about", "About"), ("who", "Who and how many"), ("where", "Where"), ("contact", "Contact"),
    ("more", "Categories and preferences"),
)

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


@dataclass
class FormField:
    """One field of a form, as the template draws it."""

    name: str
    label: str
    kind: str  # "text", "number", "integer", "boolean", "choice", "list"
    widget: str  # "input", "textarea", "select", "checkbox", "categories", "types"
    required: bool
    help: str = ""
    group: str = "about"
    input: str = "text"  # the <input type>
    placeholder: str = ""
    options: list[tuple[str, str]] = field(default_factory=list)  # (value, label)
    value: str = ""  # as typed; a list field's values joined by ";"
    errors: list[str] = field(default_factory=list)
    readonly: bool = False
    short: bool = False  # a narrow box (ids, numbers, grade bands)

    @property
    def chosen(self) -> set[str]:
        """The ticked values of a list field."""
        return {v for v in re.split(r"[;,]", self.value) if v.strip()} if self.value else set()

    @property
    def dom_id(self) -> str:
        return f"f-{self.name}"


def fields(kind: str, values: Mapping[str, Any] | None = None, errors: Sequence[Mapping[str, Any]] = (),
           editing: bool = False) -> list[FormField]:
    """The form's fields for ``kind``, in the schema's order with the id first, filled with ``values``.

    Parameters
    ----------
    kind : {"school", "partner"}
    values : mapping, optional
        Field name -> text as typed (or a catalogue row's text cells).
    errors : sequence of dict
        The API's ``errors`` items (``field``, ``msg``); each lands on its field.
    editing : bool
        The id is shown but cannot be changed.

    Examples
    --------
    >>> fs = fields("partner", {"name": "Zoo"}, [{"field": "offerings", "msg": "Field required"}])
    >>> [f.name for f in fs][:3], fs[1].value, fs[2].errors
    (['partner_id', 'name', 'offerings'], 'Zoo', ['Field required'])
    """
    from matcher.taxonomy import load_taxonomy

    schema = NEW_ROW_BODIES[kind].model_json_schema()
    required = set(schema.get("required", ()))
    key = f"{kind}_id"
    names = [key, *[n for n in schema["properties"] if n != key]]
    tax = load_taxonomy()
    categories = [(c.slug, c.label) for c in tax.categories]
    types = [(t.slug, t.label) for t in tax.partner_types]
    values = values or {}
    out = []
    for name in names:
        prop = schema["properties"][name]
        hint = HINTS.get(name, {})
        kind_, widget = _kind(prop)
        widget = {"categories": "categories", "types": "types", "textarea": "textarea", "select": "select"}.get(
            hint.get("widget", ""), widget)
        options = categories if widget == "categories" else types if widget in ("types", "select") else []
        if widget == "select" and "enum" in prop:
            labels = dict(types)
            options = [(v, labels.get(v, v.replace("_", " "))) for v in prop["enum"]]
        value = values.get(name)
        text = "" if value is None else ("true" if value else "") if isinstance(value, bool) else str(value)
        out.append(FormField(
            name=name, label=hint.get("label") or name.replace("_", " ").capitalize(), kind=kind_, widget=widget,
            required=name in required, help=hint.get("help") or prop.get("description", ""),
            group="about" if name in (key, "name", "needs", "offerings") else hint.get("group", "more"),
            input=hint.get("input", "text"), placeholder=hint.get("placeholder", ""), options=options, value=text,
            errors=[str(e["msg"]) for e in errors if e.get("field") == name],
            readonly=editing and name == key, short=name == key or kind_ in ("number", "integer") or hint.get("short", False)))
        if out[-1].readonly:
            out[-1].help, out[-1].required = f"The {kind}'s id cannot be changed.", False
    return out


def general_errors(errors: Sequence[Mapping[str, Any]], form_fields: Sequence[FormField]) -> list[str]:
    """The errors that belong to no field of the form (shown above it)."""
    names = {f.name for f in form_fields}
    return [str(e["msg"]) for e in errors if e.get("field") not in names]


def body(kind: str, typed: Mapping[str, str | Sequence[str]], with_id: bool = True) -> dict[str, Any]:
    """A JSON body from a form's typed text, as ``static/forms.js`` builds it.

    Blank fields are left out; numbers become numbers when they read as
    one (else they stay text, so the API names the field); a ticked
    checkbox is ``true``; a list field's ticked values are joined by ``;``.

    Examples
    --------
    >>> body("partner", {"partner_id": "P9", "name": " Zoo ", "latitude": "41.5", "capacity": "ten",
    ...                  "remote": "true", "offering_categories": ["math", "science_engineering"], "grades": ""})
    {'partner_id': 'P9', 'name': 'Zoo', 'offering_categories': 'math;science_engineering', 'latitude': 41.5, 'remote': True, 'capacity': 'ten'}
    """
    out: dict[str, Any] = {}
    for f in fields(kind):
        if f.readonly or (f.name == f"{kind}_id" and not with_id):
            continue
        raw = typed.get(f.name)
        if isinstance(raw, (list, tuple)):
            text = ";".join(str(v).strip() for v in raw if str(v).strip())
        else:
            text = "" if raw is None else str(raw).strip()
        if not text:
            continue
        out[f.name] = _typed(f.kind, text)
    return out


def check(kind: str, payload: Mapping[str, Any], with_id: bool = True) -> list[dict[str, Any]]:
    """Every problem the API's body model finds in ``payload`` (``[]`` when it passes), as the API lists them."""
    from matcher.web.schemas import ROW_BODIES

    model = NEW_ROW_BODIES[kind] if with_id else ROW_BODIES[kind]
    try:
        model.model_validate(payload)
    except ValidationError as exc:
        return request_errors([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()])
    return []


def check_status(status: str, note: str) -> list[dict[str, Any]]:
    """Every problem of an outreach status and note, as ``POST .../status`` would list them."""
    from matcher.web.schemas import StatusIn

    try:
        StatusIn.model_validate({"status": status, "note": note})
    except ValidationError as exc:
        return request_errors([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()])
    return []


def _typed(kind: str, text: str) -> Any:
    if kind == "boolean":
        return text.lower() in ("true", "1", "on", "yes")
    if kind in ("number", "integer") and _NUMBER.fullmatch(text):
        number = float(text)
        if kind == "integer" and math.isfinite(number) and number.is_integer():
            return int(number)
        return number
    return text


def _kind(prop: Mapping[str, Any]) -> tuple[str, str]:
    """(kind, default widget) of a JSON schema property."""
    t = prop.get("type")
    if "enum" in prop:
        return "choice", "select"
    if t == "boolean":
        return "boolean", "checkbox"
    if t == "integer":
        return "integer", "input"
    if t == "number":
        return "number", "input"
    return "text", "input"
