"""Outreach state: what coordinators did with each (school, partner) pair.

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

Storage is one SQLite file shared by the CLI and the web app. Every change
is one ``BEGIN IMMEDIATE`` transaction on a fresh connection in WAL mode
with a 30 s busy timeout, so concurrent writers (threads or processes)
queue up instead of failing or losing events. WAL needs a local disk: do
not put the file on a network share.

The schema version lives in ``PRAGMA user_version`` and is migrated forward
one step at a time when a store is opened; a file from a newer version of
matcher is refused rather than guessed at.
"""
from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from matcher.errors import MatcherError
from matcher.formats import csv_text
from matcher.ids import normalise_id
from matcher.files import atomic_write

from matcher.config import DEFAULT_COOLDOWN_DAYS, DEFAULT_OUTREACH_DB  # noqa: E402,F401  (re-exported)

#: Every status an event can have, in the usual order of a pair's life.
STATUSES: tuple[str, ...] = ("shortlisted", "contacted", "declined", "partnered", "do_not_contact")

#: Columns of the exported outcomes file (the ``partnerships.csv`` contract).
EXPORT_COLUMNS: tuple[str, ...] = ("school_id", "partner_id", "outcome", "start_date")

#: Seconds a connection waits for another writer before giving up.
BUSY_TIMEOUT_S = 30.0

#: Marks the file as a matcher outreach store (``PRAGMA application_id``, "MTCH").
APPLICATION_ID = 0x4D544348

Pair = tuple[str, str]


class StateError(MatcherError):
    """A bad outreach event, or an outreach database that cannot be used."""


# --------------------------------------------------------------------------- schema


def _migrate_1(conn: sqlite3.Connection) -> None:
    """Version 1: the append-only events table and its indexes."""
    # Status is checked in Python, not with a CHECK constraint, so a later
    # migration can add a status without rebuilding the table.
    conn.execute(
        """
        CREATE TABLE events (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            school_id   TEXT NOT NULL,
            partner_id  TEXT NOT NULL,
            status      TEXT NOT NULL,
            note        TEXT NOT NULL DEFAULT '',
            created_at  TEXT NOT NULL
        )
        """
    )
    # (pair, id) serves history() and the latest-per-pair GROUP BY.
    conn.execute("CREATE INDEX events_pair ON events (school_id, partner_id, id)")
    conn.execute("CREATE INDEX events_partner ON events (partner_id, id)")
    # Append-only is part of the contract: make the database enforce it too.
    for action in ("UPDATE", "DELETE"):
        conn.execute(
            f"CREATE TRIGGER events_no_{action.lower()} BEFORE {action} ON events "
            "BEGIN SELECT RAISE(ABORT, 'outreach events are append-only'); END"
        )
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")


#: Schema migrations in order: ``_MIGRATIONS[i]`` takes a database from
#: version ``i`` to ``i + 1``. To change the schema append a function here;
#: never edit one that has shipped (existing files already ran it).
_MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_migrate_1,)

#: Schema version this code writes (``PRAGMA user_version``).
SCHEMA_VERSION = len(_MIGRATIONS)


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
    """

    id: int
    school_id: str
    partner_id: str
    status: str
    note: str
    created_at: str

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

    def __init__(self, path: str | Path, clock: Callable[[], datetime] | None = None, *, hold_open: bool = False):
        if str(path) in ("", ":memory:") or str(path).startswith("file:"):
            # Every operation opens a new connection, so an in-memory db would be empty each time.
            raise StateError(f"{path!r}: the outreach store needs a file path")
        self.path = Path(path).expanduser()
        self._clock = clock or _utc_now
        self._initialise()
        self._held: sqlite3.Connection | None = None
        if hold_open:
            with self._errors():
                held = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                       check_same_thread=False)
                held.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # maps the WAL index
            self._held = held

    def close(self) -> None:
        """Close the connection kept by ``hold_open`` (operations still work: each opens its own)."""
        held, self._held = self._held, None
        if held is not None:
            with contextlib.suppress(sqlite3.Error):
                held.close()

    def __repr__(self) -> str:
        return f"OutreachStore({str(self.path)!r})"

    # ------------------------------------------------------------------ writing

    def record(self, school_id: str, partner_id: str, status: str, note: str = "") -> Event:
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
        with self._transaction() as conn:
            # Read the clock inside the write lock so created_at never goes
            # backwards relative to id order among writers sharing a clock.
            created_at = _iso(self._clock())
            cur = conn.execute(
                "INSERT INTO events (school_id, partner_id, status, note, created_at) VALUES (?, ?, ?, ?, ?)",
                (school_id, partner_id, status, note, created_at),
            )
            event_id = int(cur.lastrowid)  # type: ignore[arg-type]
        return Event(event_id, school_id, partner_id, status, note, created_at)

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
        with self._read() as conn:
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
        with self._read() as conn:
            return _latest(conn, school_id, partner_id)

    def count(self) -> int:
        """Number of events stored.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> OutreachStore(pathlib.Path(tempfile.mkdtemp()) / "o.db").count()
        0
        """
        with self._read() as conn:
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
        moment = _as_utc(now if now is not None else self._clock())
        cooldown = timedelta(days=cooldown_days)
        out = Constraints()
        with self._read() as conn:
            conn.execute("BEGIN")  # one snapshot for both queries
            try:
                latest = _latest(conn, school_id)
                out.used_capacity = _used_capacity(conn)
            finally:
                with contextlib.suppress(sqlite3.Error):  # keep the original error, if any
                    conn.execute("ROLLBACK")
        for pair, event in latest.items():
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

    # ------------------------------------------------------------------ plumbing

    def _connect(self) -> sqlite3.Connection:
        """A new autocommit connection; transactions are begun explicitly."""
        return sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_S, isolation_level=None)

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A connection for one read; sqlite errors become StateError."""
        with self._errors():
            conn = self._connect()
            try:
                yield conn
            finally:
                conn.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A connection inside BEGIN IMMEDIATE, committed on success and rolled back otherwise."""
        with self._errors():
            conn = self._connect()
            try:
                # IMMEDIATE takes the write lock up front (waiting up to the busy
                # timeout); a deferred transaction upgrading later can fail with
                # SQLITE_BUSY straight away, without waiting.
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):  # keep the original error
                        conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                conn.close()

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn sqlite and file-system errors into a StateError naming the file."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise StateError(_describe(self.path, exc)) from None
        except OSError as exc:
            raise StateError(f"{self.path}: cannot open the outreach database ({exc.strerror or exc})") from None

    def _initialise(self) -> None:
        """Create or check the file, switch it to WAL, and migrate it to SCHEMA_VERSION."""
        if self.path.is_dir():
            raise StateError(f"{self.path}: is a directory, not an outreach database file")
        with self._errors():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                with self._errors():
                    self._setup_once()
                return
            except _Busy:
                # Switching to WAL needs a moment alone with the file and does not
                # always use the busy handler, so retry while other processes set up.
                if time.monotonic() > deadline:
                    raise StateError(_describe(self.path, sqlite3.OperationalError("database is locked"))) from None
                time.sleep(0.01)

    def _setup_once(self) -> None:
        """One attempt at _initialise; raises _Busy when another connection is in the way."""
        conn = self._connect()
        try:
            try:
                # One read transaction, so the checks see a single snapshot even
                # while another process is creating the schema.
                conn.execute("BEGIN")
                try:
                    version, app_id = _header(conn)
                    _check_header(self.path, conn, version, app_id)
                finally:
                    with contextlib.suppress(sqlite3.Error):  # keep the original error, if any
                        conn.execute("ROLLBACK")
                if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                    if mode.lower() != "wal":
                        raise _Busy()
                if version == len(_MIGRATIONS):
                    return
                conn.execute("BEGIN IMMEDIATE")
                try:
                    # Re-read under the write lock: another process may have migrated meanwhile.
                    version, app_id = _header(conn)
                    _check_header(self.path, conn, version, app_id)
                    for step in range(version, len(_MIGRATIONS)):
                        _MIGRATIONS[step](conn)
                        conn.execute(f"PRAGMA user_version = {step + 1}")
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):  # keep the original error
                        conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if _is_busy(exc):
                    raise _Busy() from None
                raise
        finally:
            conn.close()


# --------------------------------------------------------------------------- helpers

_EVENT_COLUMNS = "id, school_id, partner_id, status, note, created_at"


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


class _Busy(Exception):
    """Another connection holds the lock during setup; try again."""


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


def _utc_now() -> datetime:
    """The default clock."""
    return datetime.now(timezone.utc)


def _as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; naive input is taken to be UTC already."""
    if not isinstance(moment, datetime):
        raise StateError(f"expected a datetime, not {type(moment).__name__}")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _iso(moment: datetime) -> str:
    """UTC ISO 8601 with microseconds, so stored timestamps sort as text."""
    return _as_utc(moment).isoformat(timespec="microseconds")


def _header(conn: sqlite3.Connection) -> tuple[int, int]:
    """The file's (user_version, application_id); reading them also detects non-SQLite files."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
    return version, app_id


def _check_header(path: Path, conn: sqlite3.Connection, version: int, app_id: int) -> None:
    """Refuse files that belong to something else or to a newer matcher."""
    if app_id not in (0, APPLICATION_ID):
        raise StateError(f"{path}: is a SQLite database of some other program, not a matcher outreach database")
    if version == 0:
        tables = conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
        if tables:
            raise StateError(f"{path}: is a SQLite database with other tables, not a matcher outreach database")
    elif app_id != APPLICATION_ID:
        raise StateError(f"{path}: is a SQLite database of some other program, not a matcher outreach database")
    if version > len(_MIGRATIONS):
        raise StateError(
            f"{path}: was written by a newer version of matcher (schema version {version}, this "
            f"version knows up to {len(_MIGRATIONS)}); upgrade matcher to use it"
        )


def _is_busy(exc: sqlite3.Error) -> bool:
    """Whether a sqlite error means 'someone else holds the lock'."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _describe(path: Path, exc: sqlite3.DatabaseError) -> str:
    """A coordinator-readable message for a sqlite error on the store's file."""
    text = str(exc)
    lower = text.lower()
    if "not a database" in lower or "malformed" in lower or "disk image" in lower:
        return f"{path}: is not an outreach database (not a SQLite file, or damaged): {text}"
    if "disk is full" in lower:
        return f"{path}: cannot save to the outreach database: the disk is full ({text}); free some space and try again"
    if "disk i/o error" in lower:
        return f"{path}: cannot use the outreach database: disk I/O error (is the disk full or failing?)"
    if _is_busy(exc):
        return (
            f"{path}: the outreach database is busy (another program kept it locked for more "
            f"than {BUSY_TIMEOUT_S:g} s); try again"
        )
    if "unable to open" in lower or "readonly" in lower or "read-only" in lower:
        return f"{path}: cannot open the outreach database for writing ({text})"
    return f"{path}: outreach database error: {text}"


__all__ = [
    "APPLICATION_ID",
    "DEFAULT_COOLDOWN_DAYS",
    "DEFAULT_OUTREACH_DB",
    "EXPORT_COLUMNS",
    "SCHEMA_VERSION",
    "STATUSES",
    "Constraints",
    "Event",
    "OutreachStore",
    "StateError",
    "normalise_status",
]
