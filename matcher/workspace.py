"""The workspace database: one SQLite file that holds outreach events, the live catalogue of schools and
partners with its history, cached text encodings and user accounts.

Storage is shared by the CLI and the web app (and by several server
processes). Every change is one ``BEGIN IMMEDIATE`` transaction on a fresh
connection in WAL mode with a 30 s busy timeout, so concurrent writers
(threads or processes) queue up instead of failing or losing changes. WAL
needs a local disk: do not put the file on a network share.

The schema version lives in ``PRAGMA user_version`` and is migrated forward
one step at a time when the file is opened; a file from a newer version of
matcher is refused rather than guessed at.
"""
from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from matcher.errors import MatcherError

#: Seconds a connection waits for another writer before giving up.
BUSY_TIMEOUT_S = 30.0

#: Marks the file as a matcher workspace (``PRAGMA application_id``, "MTCH").
APPLICATION_ID = 0x4D544348


class StateError(MatcherError):
    """A bad change or event, or a workspace database that cannot be used."""


# --------------------------------------------------------------------------- schema


def migrate_1(conn: sqlite3.Connection) -> None:
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
_MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (migrate_1,)

#: Schema version this code writes (``PRAGMA user_version``).
SCHEMA_VERSION = len(_MIGRATIONS)


def _append_only(conn: sqlite3.Connection, table: str) -> None:
    for action in ("UPDATE", "DELETE"):
        conn.execute(
            f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} are append-only'); END"
        )


def migrate_2(conn: sqlite3.Connection) -> None:
    """Version 2: the live catalogue, its append-only history, cached encodings, accounts; events get a user."""
    conn.execute("ALTER TABLE events ADD COLUMN user TEXT NOT NULL DEFAULT ''")
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute("INSERT INTO meta (key, value) VALUES ('revision', '0'), ('generation', '')")
    # One row per school or partner: the data contract's columns as given (JSON), active or not,
    # and the revision of its last change.
    conn.execute(
        """
        CREATE TABLE catalog (
            kind      TEXT NOT NULL,
            id        TEXT NOT NULL,
            row       TEXT NOT NULL,
            active    INTEGER NOT NULL,
            revision  INTEGER NOT NULL,
            PRIMARY KEY (kind, id)
        )
        """
    )
    conn.execute("CREATE INDEX catalog_revision ON catalog (revision)")
    conn.execute(
        """
        CREATE TABLE changes (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,
            revision   INTEGER NOT NULL,
            kind       TEXT NOT NULL,
            entity_id  TEXT NOT NULL,
            action     TEXT NOT NULL,
            user       TEXT NOT NULL,
            at         TEXT NOT NULL,
            before     TEXT,
            after      TEXT
        )
        """
    )
    conn.execute("CREATE INDEX changes_entity ON changes (kind, entity_id, id)")
    _append_only(conn, "changes")
    conn.execute(
        """
        CREATE TABLE encodings (
            encoder     TEXT NOT NULL,
            text_sha    TEXT NOT NULL,
            vector      BLOB NOT NULL,
            categories  BLOB NOT NULL,
            sentences   BLOB NOT NULL,
            PRIMARY KEY (encoder, text_sha)
        ) WITHOUT ROWID
        """
    )
    conn.execute(
        """
        CREATE TABLE users (
            name        TEXT PRIMARY KEY,
            role        TEXT NOT NULL,
            schools     TEXT,
            token_sha   TEXT NOT NULL UNIQUE,
            session_sha TEXT NOT NULL UNIQUE,
            created_at  TEXT NOT NULL
        )
        """
    )


def migrate_3(conn: sqlite3.Connection) -> None:
    """Version 3: cached hub statistics (a partner's mean similarity to its nearest reference schools)."""
    conn.execute(
        """
        CREATE TABLE hub_stats (
            reference    TEXT NOT NULL,
            partner_sha  TEXT NOT NULL,
            text_hub     REAL NOT NULL,
            category_hub REAL NOT NULL,
            PRIMARY KEY (reference, partner_sha)
        ) WITHOUT ROWID
        """
    )


#: Schema migrations in order: ``MIGRATIONS[i]`` takes a database from version ``i`` to
#: ``i + 1``. To change the schema append a function here; never edit one that has shipped.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (migrate_1, migrate_2, migrate_3)

#: Schema version this code writes (``PRAGMA user_version``).
SCHEMA_VERSION = len(MIGRATIONS)


class Workspace:
    """One workspace database file: connections, transactions and migrations.

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
    """

    def __init__(self, path: str | Path, clock: Callable[[], datetime] | None = None, *, hold_open: bool = False):
        if str(path) in ("", ":memory:") or str(path).startswith("file:"):
            # Every operation opens a new connection, so an in-memory db would be empty each time.
            raise StateError(f"{path!r}: the workspace database needs a file path")
        self.path = Path(path).expanduser()
        self.clock = clock or utc_now
        self._initialise()
        self._held: sqlite3.Connection | None = None
        if hold_open:
            with self.errors():
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
        return f"Workspace({str(self.path)!r})"

    def now(self) -> str:
        """The clock's time as stored (UTC ISO 8601 with microseconds, sorts as text)."""
        return iso(self.clock())

    def connect(self) -> sqlite3.Connection:
        """A new autocommit connection; transactions are begun explicitly."""
        return sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_S, isolation_level=None)

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A connection for one read; sqlite errors become StateError."""
        with self.errors():
            conn = self.connect()
            try:
                yield conn
            finally:
                conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A connection inside BEGIN IMMEDIATE, committed on success and rolled back otherwise."""
        with self.errors():
            conn = self.connect()
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
    def errors(self) -> Iterator[None]:
        """Turn sqlite and file-system errors into a StateError naming the file."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise StateError(_describe(self.path, exc)) from None
        except OSError as exc:
            raise StateError(f"{self.path}: cannot open the workspace database ({exc.strerror or exc})") from None

    def _initialise(self) -> None:
        """Create or check the file, switch it to WAL, and migrate it to SCHEMA_VERSION."""
        if self.path.is_dir():
            raise StateError(f"{self.path}: is a directory, not an workspace database file")
        with self.errors():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                with self.errors():
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
        conn = self.connect()
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
                if version == len(MIGRATIONS):
                    return
                conn.execute("BEGIN IMMEDIATE")
                try:
                    # Re-read under the write lock: another process may have migrated meanwhile.
                    version, app_id = _header(conn)
                    _check_header(self.path, conn, version, app_id)
                    for step in range(version, len(MIGRATIONS)):
                        MIGRATIONS[step](conn)
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


class _Busy(Exception):
    """Another connection holds the lock during setup; try again."""


def utc_now() -> datetime:
    """The default clock."""
    return datetime.now(timezone.utc)


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; naive input is taken to be UTC already."""
    if not isinstance(moment, datetime):
        raise StateError(f"expected a datetime, not {type(moment).__name__}")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def iso(moment: datetime) -> str:
    """UTC ISO 8601 with microseconds, so stored timestamps sort as text."""
    return as_utc(moment).isoformat(timespec="microseconds")


def _header(conn: sqlite3.Connection) -> tuple[int, int]:
    """The file's (user_version, application_id); reading them also detects non-SQLite files."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
    return version, app_id


def _check_header(path: Path, conn: sqlite3.Connection, version: int, app_id: int) -> None:
    """Refuse files that belong to something else or to a newer matcher."""
    if app_id not in (0, APPLICATION_ID):
        raise StateError(f"{path}: is a SQLite database of some other program, not a matcher workspace database")
    if version == 0:
        tables = conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
        if tables:
            raise StateError(f"{path}: is a SQLite database with other tables, not a matcher workspace database")
    elif app_id != APPLICATION_ID:
        raise StateError(f"{path}: is a SQLite database of some other program, not a matcher workspace database")
    if version > len(MIGRATIONS):
        raise StateError(
            f"{path}: was written by a newer version of matcher (schema version {version}, this "
            f"version knows up to {len(MIGRATIONS)}); upgrade matcher to use it"
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
        return f"{path}: is not a matcher workspace database (not a SQLite file, or damaged): {text}"
    if "disk is full" in lower:
        return f"{path}: cannot save to the workspace database: the disk is full ({text}); free some space and try again"
    if "disk i/o error" in lower:
        return f"{path}: cannot use the workspace database: disk I/O error (is the disk full or failing?)"
    if _is_busy(exc):
        return (
            f"{path}: the workspace database is busy (another program kept it locked for more "
            f"than {BUSY_TIMEOUT_S:g} s); try again"
        )
    if "unable to open" in lower or "readonly" in lower or "read-only" in lower:
        return f"{path}: cannot open the workspace database for writing ({text})"
    return f"{path}: workspace database error: {text}"


