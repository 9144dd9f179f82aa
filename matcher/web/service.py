"""The web app's service: the model and the outreach store behind every route and the page."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from pathlib import Path

from matcher import config
from matcher.errors import MatcherError
from matcher.ids import normalise_id
from matcher.state import OutreachStore

#: Largest ``top`` a request may ask for (bounds the work one request can cause).
MAX_TOP = 1000
#: Largest ``limit`` of the school search.
MAX_LIMIT = 200


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




