"""Outreach state: what coordinators did with each (school, partner) pair, kept in the workspace database.

Coordinators record events such as "contacted" or "declined" for a pair.
Events are only ever appended (the database refuses UPDATE and DELETE on
them), and the *latest* event of a pair decides how recommendations treat
it (see :meth:`OutreachStore.constraints`):

``do_not_contact``
    never suggested, until a later event for the pair replaces it;
``partnered``
    a current partner: not suggested again unless ``include_current``, and
    each current partnership uses one unit of the partner's capacity;
``declined``
    not suggested for a cooldown (default 180 days) after the event;
``shortlisted``, ``contacted``
    no effect on ranking; shown as the pair's status.

:meth:`OutreachStore.undo` takes a pair back to the status it had before
its latest event by appending that status again (``cleared``, no status,
when there was none before): the log keeps both events.

Events live in the workspace database (:mod:`matcher.workspace`).
"""
from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from matcher.errors import MatcherError
from matcher.workspace import StateError, Workspace, as_utc, iso
from matcher.formats import csv_text
from matcher.ids import normalise_id
from matcher.files import atomic_write

from matcher.config import DEFAULT_COOLDOWN_DAYS, DEFAULT_OUTREACH_DB  # noqa: E402,F401  (re-exported)

#: Every status an event can have, in the usual order of a pair's life.
STATUSES: tuple[str, ...] = ("shortlisted", "contacted", "declined", "partnered", "do_not_contact")
#: The status of an undo that takes a pair back to no status (only :meth:`OutreachStore.undo` records it).
CLEARED = "cleared"

#: Columns of the exported outcomes file (the ``partnerships.csv`` contract).
EXPORT_COLUMNS: tuple[str, ...] = ("school_id", "partner_id", "outcome", "start_date")

Pair = tuple[str, str]


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Event:
    """One recorded event for a (school, partner) pair.

    Attributes
    ----------
    id : int
        Increases with every event in the store; orders events.
    school_id, partner_id : str
    status : str
        One of :data:`STATUSES`.
    note : str
        Free text from the coordinator (may be empty).
    created_at : str
        UTC ISO 8601 timestamp with microseconds,
        e.g. ``"2026-03-01T09:30:00.000000+00:00"``.
    user : str
        Who recorded it (empty when not known).
    """

    id: int
    school_id: str
    partner_id: str
    status: str
    note: str
    created_at: str
    user: str = ""

    @property
    def created(self) -> datetime:
        """``created_at`` as a timezone-aware datetime (UTC)."""
        return datetime.fromisoformat(self.created_at)

    @property
    def day(self) -> str:
        """The UTC date of the event, ``YYYY-MM-DD``."""
        return self.created_at[:10]

    def to_dict(self) -> dict[str, Any]:
        """The event as a JSON-ready dict.

        Examples
        --------
        >>> Event(1, "S1", "P1", "contacted", "", "2026-03-01T09:30:00.000000+00:00").to_dict()["status"]
        'contacted'
        """
        return asdict(self)


@dataclass
class Constraints:
    """How outreach state limits recommendations at one moment.

    Attributes
    ----------
    excluded : set of (school_id, partner_id)
        Pairs never to suggest now: ``do_not_contact``, ``declined`` within
        the cooldown, and ``partnered`` unless ``include_current``.
    reasons : dict
        ``pair -> human-readable reason``, for every excluded pair.
    used_capacity : dict
        ``partner_id -> number of current partnerships`` (pairs whose latest
        status is ``partnered``), whether or not they are excluded.
    status : dict
        ``pair -> latest status`` for every pair with any event, so a
        recommendation can show e.g. "contacted".
    """

    excluded: set[Pair] = field(default_factory=set)
    reasons: dict[Pair, str] = field(default_factory=dict)
    used_capacity: dict[str, int] = field(default_factory=dict)
    status: dict[Pair, str] = field(default_factory=dict)

    def pairs_of_school(self, school_id: str | None) -> list[tuple[str, str]]:
        """``(partner_id, latest status)`` of every pair of this school with any event."""
        index = self.__dict__.get("_by_school")
        if index is None:
            index = {}
            for (s, p), st in sorted(self.status.items()):
                index.setdefault(s, []).append((p, st))
            self.__dict__["_by_school"] = index
        return index.get(school_id, [])

    def is_excluded(self, school_id: str, partner_id: str) -> bool:
        """Whether the pair must not be suggested now.

        Examples
        --------
        >>> Constraints(excluded={("S1", "P1")}).is_excluded("S1", "P1")
        True
        """
        return (school_id, partner_id) in self.excluded


# --------------------------------------------------------------------------- store


class OutreachStore:
    """An append-only log of outreach events in a SQLite file.

    Safe to share between threads, and between processes using the same
    file: each operation opens its own connection and every change is a
    single transaction.

    Parameters
    ----------
    path : str or Path
        The database file; it and its folder are created if missing.
    clock : callable, optional
        Returns the current time (aware, or naive meaning UTC); default
        ``datetime.now(timezone.utc)``. Inject one for tests.
    hold_open : bool, default False
        Keep one idle connection open until :meth:`close` (for a server). A
        reader needs SQLite's WAL index file (``-shm``), which the first
        connection to open the database re-creates; on a full disk that
        fails, and every read with it. Held open, the index stays in place,
        so reads keep working on a full disk while writes fail with a
        :class:`StateError` that says the disk is full.

    Raises
    ------
    StateError
        When the file is not a SQLite database, belongs to something else,
        was written by a newer version of matcher, or cannot be created.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> store = OutreachStore(pathlib.Path(tempfile.mkdtemp()) / "outreach.db")
    >>> store.record("S1", "P1", "contacted", "called the director").status
    'contacted'
    >>> [e.status for e in store.history("S1", "P1")]
    ['contacted']
    """

    def __init__(self, path: str | Path | Workspace, clock: Callable[[], datetime] | None = None, *,
                 hold_open: bool = False):
        self.db = path if isinstance(path, Workspace) else Workspace(path, clock, hold_open=hold_open)
        self.path = self.db.path

    def close(self) -> None:
        """Close the connection kept by ``hold_open`` (operations still work: each opens its own)."""
        self.db.close()

    def __repr__(self) -> str:
        return f"OutreachStore({str(self.path)!r})"

    # ------------------------------------------------------------------ writing

    def record(self, school_id: str, partner_id: str, status: str, note: str = "", user: str = "") -> Event:
        """Append an event for a pair and return it as stored.

        Parameters
        ----------
        school_id, partner_id : str
            Ids as in the schools and partners tables (not checked against
            them here), normalised as the tables' ids are
            (:func:`matcher.ids.normalise_id`).
        status : str
            One of :data:`STATUSES`; case, spaces and hyphens are forgiven
            (``"Do not contact"`` is ``do_not_contact``).
        note : str, optional
            Free text kept with the event.

        Returns
        -------
        Event

        Raises
        ------
        StateError
            For an unknown status (the message lists the valid ones) or a
            blank id.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> store = OutreachStore(pathlib.Path(tempfile.mkdtemp()) / "o.db")
        >>> store.record("S1", "P2", "Declined", note="no capacity this year").status
        'declined'
        """
        school_id = _clean_id(school_id, "school_id")
        partner_id = _clean_id(partner_id, "partner_id")
        status = normalise_status(status)
        if note is None:
            note = ""
        if not isinstance(note, str):
            raise StateError(f"note must be text, not {type(note).__name__}")
        note = note.strip()
        with self.db.transaction() as conn:
            return self._append(conn, school_id, partner_id, status, note, user)

    def undo(self, school_id: str, partner_id: str, user: str = "") -> Event:
        """Undo the pair's latest event: record the status it had before again, or ``cleared`` if none.

        The log stays append-only: the undo is one more event, whose note
        names the event it undoes. Undoing an undo brings back what it
        undid. A declined pair restored this way starts a new cooldown.

        Returns
        -------
        Event
            The event recorded.

        Raises
        ------
        NothingToUndo
            When the pair has no event.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> store = OutreachStore(pathlib.Path(tempfile.mkdtemp()) / "o.db")
        >>> _ = store.record("S1", "P1", "contacted"); _ = store.record("S1", "P1", "do_not_contact")
        >>> store.undo("S1", "P1").status
        'contacted'
        >>> _ = store.record("S1", "P2", "do_not_contact")
        >>> store.undo("S1", "P2").status, store.constraints().status.get(("S1", "P2"))
        ('cleared', None)
        """
        school_id = _clean_id(school_id, "school_id")
        partner_id = _clean_id(partner_id, "partner_id")
        with self.db.transaction() as conn:
            last = conn.execute("SELECT id, status FROM events WHERE school_id = ? AND partner_id = ? "
                                "ORDER BY id DESC LIMIT 2", (school_id, partner_id)).fetchall()
            if not last:
                raise NothingToUndo(f"no outreach is recorded for {school_id} and {partner_id}: nothing to undo")
            status = last[1][1] if len(last) > 1 else CLEARED
            note = f"undo of #{last[0][0]} ({last[0][1].replace('_', ' ')})"
            return self._append(conn, school_id, partner_id, status, note, user)

    def _append(self, conn, school_id: str, partner_id: str, status: str, note: str, user: str) -> Event:
        """Insert one event inside the caller's write transaction."""
        # The clock is read inside the write lock, so created_at never goes backwards
        # relative to id order among writers sharing a clock.
        created_at = iso(self.db.clock())
        cur = conn.execute(
            "INSERT INTO events (school_id, partner_id, status, note, created_at, user) VALUES (?, ?, ?, ?, ?, ?)",
            (school_id, partner_id, status, note, created_at, str(user or "")),
        )
        return Event(int(cur.lastrowid), school_id, partner_id, status, note, created_at,  # type: ignore[arg-type]
                     str(user or ""))

    # ------------------------------------------------------------------ reading

    def history(self, school_id: str, partner_id: str) -> list[Event]:
        """All events of a pair, oldest first.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> store = OutreachStore(pathlib.Path(tempfile.mkdtemp()) / "o.db")
        >>> _ = store.record("S1", "P1", "shortlisted"); _ = store.record("S1", "P1", "contacted")
        >>> [e.status for e in store.history("S1", "P1")]
        ['shortlisted', 'contacted']
        """
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE school_id = ? AND partner_id = ? ORDER BY id",
                (normalise_id(str(school_id)), normalise_id(str(partner_id))),
            ).fetchall()
        return [Event(*row) for row in rows]

    def latest(self, school_id: str | None = None, partner_id: str | None = None) -> dict[Pair, Event]:
        """The latest event of every pair, optionally for one school and/or partner.

        Parameters
        ----------
        school_id, partner_id : str, optional
            Keep only pairs with this school / partner.

        Returns
        -------
        dict
            ``(school_id, partner_id) -> Event``, ordered by school then partner.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> store = OutreachStore(pathlib.Path(tempfile.mkdtemp()) / "o.db")
        >>> _ = store.record("S1", "P1", "contacted"); _ = store.record("S1", "P1", "partnered")
        >>> store.latest()[("S1", "P1")].status
        'partnered'
        """
        with self.db.read() as conn:
            return _latest(conn, school_id, partner_id)

    def log(self, school_id: str | None = None, partner_id: str | None = None) -> list[Event]:
        """Every event, oldest first (the outreach log), optionally of one school and/or partner.

        Parameters
        ----------
        school_id, partner_id : str, optional
            Keep only events of this school / partner.

        Returns
        -------
        list of Event

        Examples
        --------
        >>> import tempfile, pathlib
        >>> store = OutreachStore(pathlib.Path(tempfile.mkdtemp()) / "o.db")
        >>> _ = store.record("S1", "P1", "contacted"); _ = store.record("S2", "P1", "declined", "no room")
        >>> [(e.school_id, e.status, e.note) for e in store.log()]
        [('S1', 'contacted', ''), ('S2', 'declined', 'no room')]
        >>> [e.school_id for e in store.log(school_id="S2")]
        ['S2']
        """
        where, params = [], []
        for column, value in (("school_id", school_id), ("partner_id", partner_id)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(normalise_id(str(value)))
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        with self.db.read() as conn:
            rows = conn.execute(f"SELECT {_EVENT_COLUMNS} FROM events {clause} ORDER BY id", params).fetchall()
        return [Event(*row) for row in rows]

    def count(self) -> int:
        """Number of events stored.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> OutreachStore(pathlib.Path(tempfile.mkdtemp()) / "o.db").count()
        0
        """
        with self.db.read() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def constraints(
        self,
        now: datetime | None = None,
        cooldown_days: int = DEFAULT_COOLDOWN_DAYS,
        include_current: bool = False,
        *,
        school_id: str | None = None,
    ) -> Constraints:
        """What the recorded outreach means for recommendations at ``now``.

        Parameters
        ----------
        now : datetime, optional
            Moment to evaluate cooldowns at (naive means UTC); default the
            store's clock.
        cooldown_days : int, default 180
            A declined pair may be suggested again this many days after the
            decline. 0 turns the cooldown off.
        include_current : bool, default False
            Whether current partners (latest status ``partnered``) may be
            suggested; they count against capacity either way.
        school_id : str, optional
            Only this school's pairs in ``excluded``, ``reasons`` and
            ``status`` (cheaper for one recommendation); ``used_capacity``
            always counts every school.

        Returns
        -------
        Constraints

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from datetime import datetime, timezone
        >>> t0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
        >>> store = OutreachStore(pathlib.Path(tempfile.mkdtemp()) / "o.db", clock=lambda: t0)
        >>> _ = store.record("S1", "P1", "declined")
        >>> store.constraints().reasons[("S1", "P1")]
        'declined on 2026-03-01; may be suggested again after 2026-08-28 (180-day cooldown)'
        """
        if isinstance(cooldown_days, bool) or not isinstance(cooldown_days, int) or cooldown_days < 0:
            raise StateError(f"cooldown_days must be a whole number of days >= 0, not {cooldown_days!r}")
        moment = as_utc(now if now is not None else self.db.clock())
        cooldown = timedelta(days=cooldown_days)
        out = Constraints()
        with self.db.read() as conn:
            conn.execute("BEGIN")  # one snapshot for both queries
            try:
                latest = _latest(conn, school_id)
                out.used_capacity = _used_capacity(conn)
            finally:
                with contextlib.suppress(sqlite3.Error):  # keep the original error, if any
                    conn.execute("ROLLBACK")
        for pair, event in latest.items():
            if event.status == CLEARED:
                continue
            out.status[pair] = event.status
            if event.status == "do_not_contact":
                out.excluded.add(pair)
                out.reasons[pair] = f"do not contact (recorded {event.day})"
            elif event.status == "partnered":
                if not include_current:
                    out.excluded.add(pair)
                    out.reasons[pair] = (
                        f"already a current partner (partnered on {event.day}); "
                        "use --include-current to show current partners"
                    )
            elif event.status == "declined":
                until = event.created + cooldown
                if moment < until:
                    out.excluded.add(pair)
                    out.reasons[pair] = (
                        f"declined on {event.day}; may be suggested again after "
                        f"{until.date().isoformat()} ({cooldown_days}-day cooldown)"
                    )
        return out

    # ------------------------------------------------------------------ export

    def export_outcomes(self, output: str | Path) -> int:
        """Write decided pairs as a ``partnerships.csv`` file for training.

        One row per pair whose latest status is ``partnered`` (outcome 1) or
        ``declined`` (outcome 0), with ``start_date`` the UTC date of that
        event, sorted by school then partner. The file is written to a
        temporary file and moved into place, so a failure leaves any
        existing file untouched.

        Parameters
        ----------
        output : str or Path
            Target CSV file (its folder is created if missing).

        Returns
        -------
        int
            Rows written (header not counted).

        Raises
        ------
        StateError
            When the file cannot be written.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> store = OutreachStore(d / "o.db")
        >>> _ = store.record("S1", "P1", "partnered"); _ = store.record("S1", "P2", "contacted")
        >>> store.export_outcomes(d / "partnerships.csv")
        1
        """
        target = Path(output).expanduser()
        rows = [
            (event.school_id, event.partner_id, 1 if event.status == "partnered" else 0, event.day)
            for event in self.latest().values()  # already sorted by school_id, partner_id
            if event.status in ("partnered", "declined")
        ]
        text = csv_text(EXPORT_COLUMNS, rows)  # the one CSV writer: ids like "=1+1" neutralised
        try:
            # Bytes, not text mode: UTF-8 whatever the locale, no newline translation.
            with atomic_write(target, "wb") as fh:
                fh.write(text.encode("utf-8"))
        except OSError as exc:
            raise StateError(f"{target}: cannot write the outcomes file ({exc.strerror or exc})") from None
        return len(rows)

# --------------------------------------------------------------------------- helpers

_EVENT_COLUMNS = "id, school_id, partner_id, status, note, created_at, user"


def _latest(conn: sqlite3.Connection, school_id: str | None = None, partner_id: str | None = None) -> dict[Pair, Event]:
    """Latest event per pair, optionally filtered, ordered by school then partner."""
    where, params = [], []
    if school_id is not None:
        where.append("school_id = ?")
        params.append(normalise_id(str(school_id)))
    if partner_id is not None:
        where.append("partner_id = ?")
        params.append(normalise_id(str(partner_id)))
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    # Latest = highest id, not latest created_at: ids follow commit order
    # even if a clock is adjusted backwards.
    sql = (
        f"SELECT {_EVENT_COLUMNS} FROM events WHERE id IN "
        f"(SELECT MAX(id) FROM events {clause} GROUP BY school_id, partner_id) "
        "ORDER BY school_id, partner_id"
    )
    return {(row[1], row[2]): Event(*row) for row in conn.execute(sql, params)}


def _used_capacity(conn: sqlite3.Connection) -> dict[str, int]:
    """partner_id -> number of pairs whose latest status is partnered."""
    rows = conn.execute(
        "SELECT partner_id, COUNT(*) FROM events WHERE status = 'partnered' AND id IN "
        "(SELECT MAX(id) FROM events GROUP BY school_id, partner_id) "
        "GROUP BY partner_id ORDER BY partner_id"
    )
    return {partner: int(n) for partner, n in rows}


class NothingToUndo(MatcherError):
    """Undo asked for a pair with no outreach recorded."""


def normalise_status(status: str) -> str:
    """Return the canonical spelling of a status, or raise StateError listing the valid ones.

    Examples
    --------
    >>> normalise_status(" Do-not contact ")
    'do_not_contact'
    """
    if isinstance(status, str):
        key = "_".join(status.strip().lower().replace("-", " ").split())
        if key in STATUSES:
            return key
    raise StateError(f"unknown outreach status {status!r}; use one of: {', '.join(STATUSES)}")


def _clean_id(value: str, name: str) -> str:
    """An id in its one spelling (see :mod:`matcher.ids`); refuse a blank or non-text one."""
    if not isinstance(value, str):
        raise StateError(f"{name} must be text, not {type(value).__name__}")
    value = normalise_id(value)
    if not value:
        raise StateError(f"{name} must not be blank")
    return value


__all__ = [
    "CLEARED",
    "DEFAULT_COOLDOWN_DAYS",
    "DEFAULT_OUTREACH_DB",
    "EXPORT_COLUMNS",
    "STATUSES",
    "Constraints",
    "Event",
    "NothingToUndo",
    "OutreachStore",
    "StateError",
    "normalise_status",
]
