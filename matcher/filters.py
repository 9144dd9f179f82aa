"""Narrowing a partner list: keyword search, partner type, distance, in person or remote, grades.

Filters narrow the model's whole ranking, not its top ``n``: a filtered list
is the first ``n`` partners of the ranking that pass, each keeping its rank
in the whole ranking (rank 3, 7, 12, ...). They only ever remove partners:
scores, order and the hard constraints are unchanged, and the same filters
give the same list every time (:meth:`matcher.model.PartnerMatcher.recommend`
takes them as ``filters``; the page and the API read them from the address).

``q``
    Words that must all appear in the partner's name, offerings, type or
    contact name: a word matches a word there that starts with it
    (``robot`` finds "robotics") or has the same stem (``tutoring`` finds
    "tutors"). Stop words ("for", "the") are ignored.
``types``
    Partner types (``nonprofit``, ``higher_education``, ...; common
    spellings such as "University" are understood): the partner is one of them.
``max_km``
    The partner is at most this far from the school (both locations known).
``delivery``
    ``in_person``: the school is inside the partner's service area (its
    ``service_radius_km``, or the default area when it gives none), so the
    partner can come on site; when a location is unknown, a partner that
    does not serve remotely. ``remote``: the partner serves remotely.
``grades``
    A grade band: the partner states grades and serves at least one of them.

Examples
--------
>>> PartnerFilters.parse(q=" math ", types=["University"], max_km="25", delivery="remote", grades="6-8").describe()
['“math”', 'higher education', 'within 25 km', 'remote', 'grades 6-8']
>>> PartnerFilters().active
False
"""
from __future__ import annotations

import bisect
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from matcher.errors import MatcherError
from matcher.features import SchoolFeatures, distance_km, service_radius
from matcher.grades import format_grades, parse_grades
from matcher.text import STOP_WORDS, stem, tokens

#: The values of ``delivery``.
DELIVERY = ("in_person", "remote")
#: Longest keyword search, in characters.
MAX_QUERY_CHARS = 200

_SEARCH: weakref.WeakKeyDictionary[Any, _SearchIndex] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class PartnerFilters:
    """What a partner list is narrowed to (every field optional; see the module docstring)."""

    q: str = ""
    types: tuple[str, ...] = ()
    max_km: float | None = None
    delivery: str | None = None
    grades: int = 0

    @classmethod
    def parse(cls, q: str | None = None, types: str | Iterable[str] = (), max_km: float | str | None = None,
              delivery: str | None = None, grades: str | None = None) -> PartnerFilters:
        """Filters from what a person typed; a :class:`MatcherError` names each value that is not understood.

        ``types`` (one string or several) may hold several types separated by
        ``,`` or ``;``; blank values mean "no filter".
        """
        from matcher.taxonomy import load_taxonomy

        problems = []
        q = " ".join((q or "").split())
        if len(q) > MAX_QUERY_CHARS:
            problems.append(f"search: at most {MAX_QUERY_CHARS} characters")
        taxonomy = load_taxonomy()
        slugs: list[str] = []
        for item in [types] if isinstance(types, str) else types or ():
            for part in str(item).replace(";", ",").split(","):
                if not part.strip():
                    continue
                slug = taxonomy.resolve_partner_type(part.strip())
                if slug is None:
                    problems.append(f"type: unknown partner type {part.strip()!r} "
                                    f"(valid: {', '.join(taxonomy.partner_type_slugs)})")
                elif slug not in slugs:
                    slugs.append(slug)
        km = None
        if max_km not in (None, ""):
            try:
                km = float(max_km)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                km = float("nan")
            if not np.isfinite(km) or km <= 0:
                problems.append(f"distance: {max_km!r} is not a number of kilometres greater than 0")
        delivery = (delivery or "").strip().lower().replace("-", "_").replace(" ", "_") or None
        if delivery is not None and delivery not in DELIVERY:
            problems.append(f"delivery: {delivery!r} is not one of {', '.join(DELIVERY)}")
        mask = 0
        if grades and grades.strip():
            try:
                mask = parse_grades(grades)
            except ValueError as exc:
                problems.append(f"grades: {exc}")
        if problems:
            raise MatcherError("; ".join(problems))
        order = {s: i for i, s in enumerate(taxonomy.partner_type_slugs)}
        return cls(q=q, types=tuple(sorted(slugs, key=order.__getitem__)), max_km=km, delivery=delivery, grades=mask)

    @property
    def active(self) -> bool:
        """Whether any filter is set."""
        return bool(self.words or self.types or self.max_km is not None or self.delivery or self.grades)

    @property
    def words(self) -> list[str]:
        """The search's meaningful words."""
        return [w for w in tokens(self.q) if w not in STOP_WORDS]

    def describe(self) -> list[str]:
        """Each active filter in a few words, for a page or a report."""
        out = [f"“{self.q}”"] if self.words else []
        out += [t.replace("_", " ") for t in self.types]
        if self.max_km is not None:
            out.append(f"within {self.max_km:g} km")
        if self.delivery:
            out.append(self.delivery.replace("_", " "))
        if self.grades:
            out.append(f"grades {format_grades(self.grades)}")
        return out

    def mask(self, model: Any, school: SchoolFeatures, default_radius_km: float) -> np.ndarray:
        """Which of the model's partners pass, for one school (a row of ``school``): bool array, one per partner."""
        p = model.partners_
        keep = np.ones(len(model.partner_ids_), dtype=bool)
        for w in self.words:
            keep &= _search_index(model).rows(w)
        if self.types:
            codes = [model.featurizer_.partner_type_slugs.index(t) for t in self.types]
            keep &= np.isin(p.type_code, codes)
        if self.grades:
            keep &= (p.grades.astype(np.int64) & self.grades) != 0
        if self.max_km is not None or self.delivery:
            d = distance_km(school.take(slice(0, 1)), p)[0]
            with np.errstate(invalid="ignore"):
                if self.max_km is not None:
                    keep &= d <= self.max_km  # an unknown distance (NaN) never passes
                if self.delivery == "remote":
                    keep &= p.remote
                elif self.delivery == "in_person":
                    known = ~np.isnan(d)
                    keep &= np.where(known, d <= service_radius(p, default_radius_km), ~p.remote)
        return keep

    def to_query(self) -> dict[str, Any]:
        """The filters as query parameters of the API and the page (only those set)."""
        out: dict[str, Any] = {}
        if self.q:
            out["q"] = self.q
        if self.types:
            out["type"] = list(self.types)
        if self.max_km is not None:
            out["max_km"] = f"{self.max_km:g}"
        if self.delivery:
            out["delivery"] = self.delivery
        if self.grades:
            out["grades"] = format_grades(self.grades)
        return out


class _SearchIndex:
    """Which partners use a word: every word of their name, offerings, type and contact name, and its stem."""

    def __init__(self, model: Any):
        contacts = getattr(model, "partner_contacts_", None)
        self.n = len(model.partner_ids_)
        postings: dict[str, set[int]] = {}
        for j in range(self.n):
            person = contacts[j].get("contact_name", "") if contacts is not None and len(contacts) > j else ""
            text = " ".join([str(model.partner_names_[j]), str(model.partner_texts_[j]),
                             str(model.partner_type_names_[j] or "").replace("_", " "), person])
            for t in tokens(text):
                postings.setdefault(t, set()).add(j)
                postings.setdefault(stem(t), set()).add(j)
        self.words = sorted(postings)
        self.postings = postings

    def rows(self, word: str) -> np.ndarray:
        """Partners using a word that starts with ``word`` or shares its stem: bool array, one per partner."""
        out = np.zeros(self.n, dtype=bool)
        hits = set(self.postings.get(stem(word), ()))
        at = bisect.bisect_left(self.words, word)
        while at < len(self.words) and self.words[at].startswith(word):
            hits |= self.postings[self.words[at]]
            at += 1
        out[list(hits)] = True
        return out


def _search_index(model: Any) -> _SearchIndex:
    """The model's search index, built once per model object (a live change makes a new object)."""
    found = _SEARCH.get(model)
    if found is None or found.n != len(model.partner_ids_):
        found = _SEARCH[model] = _SearchIndex(model)
    return found


__all__ = ["DELIVERY", "MAX_QUERY_CHARS", "PartnerFilters"]
