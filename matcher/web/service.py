"""The web app's service: the model and the outreach store behind every route and the page."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matcher import config
from matcher.accounts import LOCAL_USER, Accounts, User
from matcher.catalog import Conflict
from matcher.errors import MatcherError, UnknownIdError
from matcher.highlight import match_texts, model_filler, pair_match
from matcher.ids import normalise_id
from matcher.live import LiveModel, adopt, partner_contacts
from matcher.state import CLEARED, NothingToUndo, OutreachStore
from matcher.workspace import Workspace

#: Largest ``top`` a request may ask for (bounds the work one request can cause).
MAX_TOP = 1000
#: Largest ``limit`` of the school search.
MAX_LIMIT = 200
#: Columns of the outreach log's CSV: one row per event, with the pair's latest status.
OUTREACH_COLUMNS: tuple[str, ...] = ("created_at", "school_id", "school_name", "partner_id", "partner_name", "status",
                                     "note", "user", "pair_status")


class Service:
    """The live model, the workspace database and the queries the API and page share.

    Each request works on one model object (:meth:`current`): a change made
    meanwhile swaps in a new one, never half of one.
    """

    def __init__(self, model, model_path, db_path, cooldown_days: int, clock):
        if isinstance(cooldown_days, bool) or not isinstance(cooldown_days, int) or cooldown_days < 0:
            raise MatcherError(f"cooldown_days must be a whole number of days >= 0, not {cooldown_days!r}")
        if not hasattr(model, "partners_"):
            raise MatcherError("the web app needs a fitted model")
        self.model_path = None if model_path is None else Path(model_path)
        self.cooldown_days = cooldown_days
        if db_path is None:
            db_path = config.workspace_path(model_path) if model_path is not None else config.DEFAULT_OUTREACH_DB
        # Opened (and created) now, so an unusable database fails before serving.
        # Held open so that reads keep working on a full disk (see Workspace's hold_open).
        self.db = Workspace(db_path, clock, hold_open=True)
        self.store = OutreachStore(self.db)
        self.accounts = Accounts(self.db)
        self.live = LiveModel(adopt(model, self.db), self.db)
        if self.model_path is not None:
            from matcher.persistence import read_metadata

            self.meta = read_metadata(self.model_path)
        else:
            self.meta = {"n_schools": len(model.school_ids_), "n_partners": len(model.partner_ids_)}
        self._search: tuple[Any, list[str], list[str], list[str]] | None = None
        self._cache: dict[str, Any] = {}

    def current(self):
        """The model now (caught up with every change in the workspace)."""
        return self.live.model()

    @property
    def model(self):
        return self.current()

    def size(self) -> dict[str, int]:
        """How many schools and partners the model has now (live changes included)."""
        m = self.current()
        return {"schools": len(m.school_ids_), "partners": len(m.partner_ids_)}

    def close(self) -> None:
        self.db.close()

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
        return dict(self.current().scorer(weights).weights)

    # ------------------------------------------------------------------ queries

    def _search_index(self, m):
        if self._search is None or self._search[0] is not m:
            from matcher.grades import format_grades

            self._search = (m, [format_grades(int(g)) for g in m.schools_.grades],
                            [f"{i}\n{n}".lower() for i, n in zip(m.school_ids_, m.school_names_)],
                            [str(i).lower() for i in m.school_ids_])
        return self._search[1:]

    def search_schools(self, q: str, limit: int) -> list[dict[str, str]]:
        """Schools whose id or name contains ``q``: exact id first, then ids starting with q, then the rest."""
        q = (q or "").strip().lower()
        m = self.current()
        grades, keys, ids_lower = self._search_index(m)
        if not q:
            hits = range(min(limit, len(m.school_ids_)))
        else:
            exact, prefix, rest = [], [], []
            for i, key in enumerate(keys):
                if q in key:
                    idl = ids_lower[i]
                    (exact if idl == q else prefix if idl.startswith(q) else rest).append(i)
                    if len(exact) + len(prefix) >= limit:
                        break
            hits = (exact + prefix + rest)[:limit]
        return [{"school_id": str(m.school_ids_[i]), "name": str(m.school_names_[i]), "grades": grades[i]}
                for i in hits]

    def school_grades(self, school_ids: Sequence[str]) -> list[str]:
        """Each school's grade band as people write it (``K-5``)."""
        m = self.current()
        grades = self._search_index(m)[0]
        return [grades[m.school_row(i)] for i in school_ids]

    def school_name(self, school_id: str) -> str:
        m = self.current()
        return str(m.school_names_[m.school_row(normalise_id(school_id))])

    def partner_name(self, partner_id: str) -> str:
        m = self.current()
        return str(m.partner_names_[m.partner_row(normalise_id(partner_id))])

    def for_school(self, school_id: str, top: int, include_full=False, include_current=False, weights=None,
                   filters=None):
        return self.ranking(school_id, top, include_full, include_current, weights, filters)[0]

    def ranking(self, school_id: str, top: int, include_full=False, include_current=False, weights=None,
                filters=None) -> tuple[list[dict[str, Any]], int | None, int | None]:
        """A school's partners (``filters``: a :class:`matcher.filters.PartnerFilters`), and, when filtered,
        how many of the whole ranking pass and how many it has (else ``None, None``)."""
        m = self.current()
        school_id = m.resolve("school", school_id)  # an id or a name, as the CLI; unknown -> 404 before the database
        state = self.state(include_current, school_id=school_id)
        matches = m.recommend(school_id, n=top, weights=weights, include_full=include_full, state=state,
                              filters=filters)
        rows = [x.to_dict() for x in matches]
        for r in rows:
            r["status"] = state.status.get((school_id, r["partner_id"]))
        return rows, getattr(matches, "passing", None), getattr(matches, "total", None)

    def for_need(self, need: str, top: int, grades=None, lat=None, lon=None, include_full=False, weights=None):
        state = self.state(False)
        matches = self.current().recommend_for_need(need, n=top, grades=grades, lat=lat, lon=lon, weights=weights,
                                                    include_full=include_full, state=state)
        return [x.to_dict() for x in matches]

    def for_partner(self, partner_id: str, top: int, include_full=False, include_current=False, weights=None):
        m = self.current()
        partner_id = m.resolve("partner", partner_id)
        state = self.state(include_current)
        matches = m.recommend_schools(partner_id, n=top, weights=weights, include_full=include_full, state=state)
        rows = [x.to_dict() for x in matches]
        for r in rows:
            r["status"] = state.status.get((r["school_id"], partner_id))
        return rows

    def explain(self, school_id: str, partner_id: str, include_current=False, weights=None) -> dict[str, Any]:
        m = self.current()
        school_id, partner_id = self._check_pair(m, school_id, partner_id)
        state = self.state(include_current, school_id=school_id)
        return m.explain(school_id, partner_id, weights=weights, state=state).to_dict()

    def history(self, school_id: str, partner_id: str) -> list[dict[str, Any]]:
        school_id, partner_id = self._check_pair(self.current(), school_id, partner_id)
        return [e.to_dict() for e in self.store.history(school_id, partner_id)]

    def record(self, school_id: str, partner_id: str, status: str, note: str, user: User = LOCAL_USER) -> dict[str, Any]:
        school_id, partner_id = self._check_pair(self.current(), school_id, partner_id)  # never for unknown ids
        if not user.can_change_school(school_id):
            raise Forbidden(f"{user.name} ({user.role}) may not record outreach for school {school_id!r}")
        return self.store.record(school_id, partner_id, status, note, user=user.name).to_dict()

    def undo(self, school_id: str, partner_id: str, user: User = LOCAL_USER) -> dict[str, Any]:
        """Undo the pair's latest outreach event (:meth:`matcher.state.OutreachStore.undo`); 409 if it has none."""
        school_id, partner_id = self._check_pair(self.current(), school_id, partner_id)
        if not user.can_change_school(school_id):
            raise Forbidden(f"{user.name} ({user.role}) may not record outreach for school {school_id!r}")
        try:
            return self.store.undo(school_id, partner_id, user=user.name).to_dict()
        except NothingToUndo as exc:
            raise Conflict(str(exc)) from None

    def latest_events(self, school_id: str | None = None, partner_id: str | None = None) -> dict[tuple[str, str], dict]:
        """(school_id, partner_id) -> the pair's latest outreach event, for one school's or one partner's pairs
        (a pair whose last event was undone to no status has none)."""
        school_id = None if school_id is None else normalise_id(school_id)
        partner_id = None if partner_id is None else normalise_id(partner_id)
        return {pair: e.to_dict() for pair, e in self.store.latest(school_id, partner_id).items() if e.status != CLEARED}

    def texts(self, pairs: Sequence[tuple[str, str]], need: str | None = None, grades: str | None = None,
              lat: float | None = None, lon: float | None = None) -> list[dict[str, Any]]:
        """For each (school_id, partner_id): the need and offering texts, the spans of their matched words
        (``highlights``), the matched ``terms`` and the partner's ``contact``. With ``need``, the need is that
        text (school ids are ignored), as the need list has it."""
        m = self.current()
        people = partner_contacts(m)
        typed = m.need_features(need, grades, lat, lon) if need is not None else None
        out: list[dict[str, Any]] = []
        for school_id, partner_id in pairs:
            try:
                j = m.partner_row(partner_id)
                if typed is None:
                    i = m.school_row(school_id)
                    found, need_text = pair_match(m, i, j), str(m.school_texts_[i])
                else:
                    need_text = str(need)
                    found = match_texts(need_text, str(m.partner_texts_[j]), typed.categories[0],
                                        m.partners_.categories[j], m.featurizer_, model_filler(m))
            except UnknownIdError:  # removed by a live change since the list was made
                out.append({"needs": "", "offerings": "", "highlights": {"needs": [], "offerings": []},
                            "terms": [], "contact": {}})
                continue
            out.append({"needs": need_text, "offerings": str(m.partner_texts_[j]), "highlights": found.spans(),
                        "terms": found.terms, "contact": dict(people[j])})
        return out

    # ------------------------------------------------------------------ the outreach log

    def outreach_log(self, statuses: Sequence[str] = (), school: str = "", partner: str = "") -> list[dict[str, Any]]:
        """Every event of the pairs that pass the filters, oldest first, with names and the pair's latest status.

        ``statuses`` keeps the pairs whose latest status is one of them (all
        when empty); ``school`` / ``partner`` keep an exact id, or else every
        id or name containing the text (any case), as the page's picker does.
        """
        from matcher.state import normalise_status

        wanted = {normalise_status(st) for st in statuses}
        m = self.current()
        names = {"school": self._names(m, "school"), "partner": self._names(m, "partner")}
        events = self.store.log()
        pair_status = {(e.school_id, e.partner_id): e.status for e in events}  # the last one wins
        keep = {"school": self._matching(names["school"], school, {e.school_id for e in events}),
                "partner": self._matching(names["partner"], partner, {e.partner_id for e in events})}
        out = []
        for e in events:
            latest = pair_status[(e.school_id, e.partner_id)]
            if (wanted and latest not in wanted) or (keep["school"] is not None and e.school_id not in keep["school"]) \
                    or (keep["partner"] is not None and e.partner_id not in keep["partner"]):
                continue
            out.append({"id": e.id, "created_at": e.created_at, "school_id": e.school_id,
                        "school_name": names["school"].get(e.school_id, ""), "partner_id": e.partner_id,
                        "partner_name": names["partner"].get(e.partner_id, ""), "status": e.status, "note": e.note,
                        "user": e.user, "pair_status": latest})
        return out

    @staticmethod
    def outreach_csv(rows: Sequence[dict[str, Any]]) -> str:
        """The outreach log as CSV for people (the one CSV writer: formula cells neutralised)."""
        from matcher.formats import csv_text

        return csv_text(OUTREACH_COLUMNS, ([r[c] for c in OUTREACH_COLUMNS] for r in rows))

    def _names(self, m, kind: str) -> dict[str, str]:
        """Id -> name of the model's schools or partners (built once per model)."""
        key = f"names_{kind}"
        cached = self._cache.get(key)
        if cached is None or cached[0] is not m:
            ids, names = (m.school_ids_, m.school_names_) if kind == "school" else (m.partner_ids_, m.partner_names_)
            cached = self._cache[key] = (m, {str(i): str(n) for i, n in zip(ids, names)})
        return cached[1]

    @staticmethod
    def _matching(names: dict[str, str], text: str, logged: set[str]) -> set[str] | None:
        """Ids a filter text keeps: an exact id, else every id or name containing it (None: no filter)."""
        text = normalise_id(text or "")
        if not text:
            return None
        if text in names or text in logged:
            return {text}
        low = text.lower()
        return {i for i in {*names, *logged} if low in i.lower() or low in names.get(i, "").lower()}

    # ------------------------------------------------------------------ live changes

    def row(self, kind: str, entity_id: str) -> dict[str, Any]:
        """A school's or partner's row as the catalogue holds it (404 for an unknown or removed one)."""
        m = self.current()
        entity_id = normalise_id(entity_id)
        (m.school_row if kind == "school" else m.partner_row)(entity_id)
        found = self.live.catalog.get(kind, entity_id)
        return {f"{kind}_id": entity_id, **(found.row if found is not None else {})}

    def change(self, kind: str, entity_id: str, row: dict[str, Any], user: User, create: bool) -> dict[str, Any]:
        """Create (``create``) or replace a school or partner; the history entry."""
        entity_id = normalise_id(entity_id)
        self._may_change(kind, entity_id, user)
        m = self.current()
        known = entity_id in m.index(kind)
        if create and known:
            raise Conflict(f"{kind} {entity_id!r} exists already; use PUT to replace it")
        if not create and not known:
            (m.school_row if kind == "school" else m.partner_row)(entity_id)  # 404 with suggestions
        return self.live.put(kind, entity_id, row, user=user.name, create=create).to_dict()

    def remove(self, kind: str, entity_id: str, user: User) -> dict[str, Any]:
        """Deactivate a school or partner; the history entry."""
        entity_id = normalise_id(entity_id)
        self._may_change(kind, entity_id, user)
        m = self.current()
        (m.school_row if kind == "school" else m.partner_row)(entity_id)
        return self.live.remove(kind, entity_id, user=user.name).to_dict()

    def changes(self, kind: str | None = None, entity_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The latest changes to schools and partners, newest first."""
        return [c.to_dict() for c in self.live.catalog.history(kind, entity_id, limit)]

    def _may_change(self, kind: str, entity_id: str, user: User) -> None:
        allowed = user.can_change_partners if kind == "partner" else user.can_change_school(entity_id)
        if not allowed:
            raise Forbidden(f"{user.name} ({user.role}) may not change {kind} {entity_id!r}")

    @staticmethod
    def _check_pair(m, school_id: str, partner_id: str) -> tuple[str, str]:
        """The pair's ids (each given by id or name, as the CLI takes them); UnknownIdError for an unknown one."""
        return m.resolve("school", school_id), m.resolve("partner", partner_id)


class Forbidden(MatcherError):
    """The user's role or scope does not allow this change (403)."""

