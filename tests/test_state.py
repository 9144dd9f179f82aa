"""Outreach state: append-only events, latest status per pair, constraints, schema, concurrency, export."""
from __future__ import annotations

import multiprocessing
import os
import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from matcher import state, workspace
from matcher.errors import MatcherError
from matcher.state import STATUSES, Constraints, Event, OutreachStore, StateError

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc)


class Clock:
    """A settable clock for tests."""

    def __init__(self, now: datetime = T0):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path, clock) -> OutreachStore:
    return OutreachStore(tmp_path / "outreach.db", clock=clock)


# --------------------------------------------------------------------------- record / history / latest


def test_record_returns_the_stored_event(store):
    event = store.record(" S1 ", "P1", "contacted", note="  called the director ")
    assert event == Event(1, "S1", "P1", "contacted", "called the director", "2026-03-01T09:30:00.000000+00:00")
    assert event.to_dict() == {
        "id": 1, "school_id": "S1", "partner_id": "P1", "status": "contacted",
        "note": "called the director", "created_at": "2026-03-01T09:30:00.000000+00:00", "user": "",
    }
    assert store.history("S1", "P1") == [event]


def test_created_at_is_utc_with_microseconds(tmp_path):
    eastern = timezone(timedelta(hours=-5))
    store = OutreachStore(tmp_path / "o.db", clock=lambda: datetime(2026, 3, 1, 20, 0, 0, 1234, tzinfo=eastern))
    assert store.record("S1", "P1", "shortlisted").created_at == "2026-03-02T01:00:00.001234+00:00"


def test_default_clock_is_now_in_utc(tmp_path):
    before = datetime.now(timezone.utc)
    event = OutreachStore(tmp_path / "o.db").record("S1", "P1", "shortlisted")
    assert before <= event.created <= datetime.now(timezone.utc)
    assert event.created_at.endswith("+00:00")


def test_history_is_oldest_first_and_per_pair(store, clock):
    for status in ("shortlisted", "contacted", "declined", "contacted", "partnered"):
        store.record("S1", "P1", status)
        clock.advance(days=1)
    store.record("S1", "P2", "do_not_contact")
    store.record("S2", "P1", "contacted")
    history = store.history("S1", "P1")
    assert [e.status for e in history] == ["shortlisted", "contacted", "declined", "contacted", "partnered"]
    assert [e.id for e in history] == sorted(e.id for e in history)
    assert store.history("S9", "P9") == []


def test_history_follows_id_even_if_the_clock_goes_backwards(store, clock):
    store.record("S1", "P1", "contacted")
    clock.advance(days=-10)
    store.record("S1", "P1", "partnered")
    assert [e.status for e in store.history("S1", "P1")] == ["contacted", "partnered"]
    assert store.latest()[("S1", "P1")].status == "partnered"


@pytest.mark.parametrize("bad", ["accepted", "", "partner", None, 3])
def test_invalid_status_lists_the_valid_ones(store, bad):
    with pytest.raises(StateError) as info:
        store.record("S1", "P1", bad)
    message = str(info.value)
    assert "unknown outreach status" in message
    for status in STATUSES:
        assert status in message
    assert isinstance(info.value, MatcherError)
    assert store.count() == 0


@pytest.mark.parametrize("spelling", ["Do not contact", "do-not-contact", " DO_NOT_CONTACT "])
def test_status_spelling_is_forgiven(store, spelling):
    assert store.record("S1", "P1", spelling).status == "do_not_contact"


@pytest.mark.parametrize("school, partner", [("", "P1"), ("S1", "   "), (None, "P1"), ("S1", 7)])
def test_blank_or_non_text_ids_are_refused(store, school, partner):
    with pytest.raises(StateError, match="school_id|partner_id"):
        store.record(school, partner, "contacted")


def test_latest_per_pair_and_filters(store, clock):
    store.record("S1", "P1", "shortlisted")
    store.record("S1", "P1", "contacted")
    store.record("S1", "P2", "declined")
    store.record("S2", "P1", "partnered")
    store.record("S2", "P1", "do_not_contact")
    latest = store.latest()
    assert list(latest) == [("S1", "P1"), ("S1", "P2"), ("S2", "P1")]
    assert {pair: e.status for pair, e in latest.items()} == {
        ("S1", "P1"): "contacted", ("S1", "P2"): "declined", ("S2", "P1"): "do_not_contact",
    }
    assert list(store.latest(school_id="S1")) == [("S1", "P1"), ("S1", "P2")]
    assert list(store.latest(partner_id="P1")) == [("S1", "P1"), ("S2", "P1")]
    assert list(store.latest(school_id="S2", partner_id="P1")) == [("S2", "P1")]
    assert store.latest(school_id="S9") == {}


def test_events_cannot_be_rewritten(store):
    store.record("S1", "P1", "contacted")
    conn = sqlite3.connect(store.path)
    try:
        for sql in ("UPDATE events SET status = 'partnered'", "DELETE FROM events"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                conn.execute(sql)
    finally:
        conn.close()
    assert [e.status for e in store.history("S1", "P1")] == ["contacted"]


# --------------------------------------------------------------------------- constraints


def test_no_events_no_constraints(store):
    assert store.constraints() == Constraints()


def test_each_status_effect(store):
    for partner, status in zip(["P1", "P2", "P3", "P4", "P5"], STATUSES):
        store.record("S1", partner, status)
    c = store.constraints()
    assert c.excluded == {("S1", "P3"), ("S1", "P4"), ("S1", "P5")}  # declined, partnered, do_not_contact
    assert c.reasons == {
        ("S1", "P3"): "declined on 2026-03-01; may be suggested again after 2026-08-28 (180-day cooldown)",
        ("S1", "P4"): "already a current partner (partnered on 2026-03-01); "
                      "use --include-current to show current partners",
        ("S1", "P5"): "do not contact (recorded 2026-03-01)",
    }
    assert c.used_capacity == {"P4": 1}
    assert c.status == {("S1", f"P{i}"): s for i, s in enumerate(STATUSES, 1)}
    assert c.is_excluded("S1", "P5") and not c.is_excluded("S1", "P1") and not c.is_excluded("S2", "P5")


def test_declined_cooldown_expires(store, clock):
    store.record("S1", "P1", "declined")
    assert ("S1", "P1") in store.constraints(now=T0 + timedelta(days=179)).excluded
    assert ("S1", "P1") not in store.constraints(now=T0 + timedelta(days=181)).excluded
    # The store's clock is the default "now".
    clock.advance(days=179)
    assert ("S1", "P1") in store.constraints().excluded
    clock.advance(days=2)
    later = store.constraints()
    assert ("S1", "P1") not in later.excluded and ("S1", "P1") not in later.reasons
    assert later.status[("S1", "P1")] == "declined"  # still shown as status


def test_cooldown_days_parameter(store):
    store.record("S1", "P1", "declined")
    c = store.constraints(now=T0 + timedelta(days=29), cooldown_days=30)
    assert c.reasons[("S1", "P1")] == "declined on 2026-03-01; may be suggested again after 2026-03-31 (30-day cooldown)"
    assert ("S1", "P1") not in store.constraints(now=T0 + timedelta(days=31), cooldown_days=30).excluded
    assert ("S1", "P1") in store.constraints(now=T0 + timedelta(days=300), cooldown_days=365).excluded
    assert ("S1", "P1") not in store.constraints(now=T0, cooldown_days=0).excluded


@pytest.mark.parametrize("bad", [-1, 1.5, "180", True])
def test_bad_cooldown_is_refused(store, bad):
    with pytest.raises(StateError, match="cooldown_days"):
        store.constraints(cooldown_days=bad)


def test_naive_now_means_utc(store):
    store.record("S1", "P1", "declined")
    assert ("S1", "P1") in store.constraints(now=datetime(2026, 8, 28, 9, 29)).excluded
    assert ("S1", "P1") not in store.constraints(now=datetime(2026, 8, 28, 9, 31)).excluded


def test_latest_status_wins(store, clock):
    store.record("S1", "P1", "partnered")
    clock.advance(days=30)
    store.record("S1", "P1", "declined")
    c = store.constraints()
    assert c.used_capacity == {}  # no longer a current partner
    assert c.reasons[("S1", "P1")].startswith("declined on 2026-03-31")
    # A later event lifts do_not_contact.
    store.record("S1", "P2", "do_not_contact")
    store.record("S1", "P2", "contacted")
    assert ("S1", "P2") not in store.constraints().excluded


def test_include_current(store):
    store.record("S1", "P1", "partnered")
    store.record("S1", "P2", "do_not_contact")
    c = store.constraints(include_current=True)
    assert c.excluded == {("S1", "P2")}
    assert c.used_capacity == {"P1": 1}  # still uses capacity


def test_used_capacity_counts_current_partnerships(store):
    for school in ("S1", "S2", "S3"):
        store.record(school, "P1", "partnered")
    store.record("S4", "P1", "contacted")
    store.record("S1", "P2", "partnered")
    store.record("S3", "P1", "declined")  # ended
    store.record("S2", "P1", "partnered")  # recorded twice: still one partnership
    assert store.constraints().used_capacity == {"P1": 2, "P2": 1}


def test_constraints_for_one_school_keep_global_capacity(store):
    store.record("S1", "P1", "do_not_contact")
    store.record("S2", "P1", "partnered")
    store.record("S2", "P2", "declined")
    store.record("S3", "P1", "partnered")
    one = store.constraints(school_id="S2")
    assert one.excluded == {("S2", "P1"), ("S2", "P2")}
    assert set(one.status) == {("S2", "P1"), ("S2", "P2")}
    assert one.used_capacity == {"P1": 2}
    assert store.constraints(school_id="S9") == Constraints(used_capacity={"P1": 2})
    everything = store.constraints()
    assert {p: r for p, r in everything.reasons.items() if p[0] == "S2"} == one.reasons


# --------------------------------------------------------------------------- concurrency


def test_no_lost_events_with_concurrent_threads(tmp_path):
    store = OutreachStore(tmp_path / "o.db")
    n_threads, per_thread = 8, 50
    start = threading.Barrier(n_threads)
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            # Half the threads share the store object, half open their own: both must work.
            own = store if worker % 2 else OutreachStore(store.path)
            start.wait()
            for i in range(per_thread):
                own.record(f"S{worker}", f"P{i % 5}", STATUSES[i % len(STATUSES)], note=f"{worker}:{i}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    _assert_all_events_present(store, n_threads, per_thread)


def _write_events(path: str, worker: int, per_worker: int, barrier) -> None:
    """Child process body for the multiprocessing test (module level so 'spawn' can import it)."""
    store = OutreachStore(path)  # every child also races to create the file and schema
    barrier.wait()
    for i in range(per_worker):
        store.record(f"S{worker}", f"P{i % 5}", STATUSES[i % len(STATUSES)], note=f"{worker}:{i}")


def test_no_lost_events_with_concurrent_processes(tmp_path):
    path = tmp_path / "fresh" / "o.db"  # not created beforehand
    ctx = multiprocessing.get_context("spawn")
    n_procs, per_proc = 4, 25
    barrier = ctx.Barrier(n_procs)
    procs = [ctx.Process(target=_write_events, args=(str(path), w, per_proc, barrier)) for w in range(n_procs)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * n_procs
    _assert_all_events_present(OutreachStore(path), n_procs, per_proc)


def _assert_all_events_present(store: OutreachStore, workers: int, per_worker: int) -> None:
    """Every (worker, i) note is stored exactly once, ids are 1..N, and each worker's order is kept."""
    conn = sqlite3.connect(store.path)
    try:
        rows = conn.execute("SELECT id, note FROM events ORDER BY id").fetchall()
    finally:
        conn.close()
    assert [r[0] for r in rows] == list(range(1, workers * per_worker + 1))
    notes = [r[1] for r in rows]
    assert sorted(notes) == sorted(f"{w}:{i}" for w in range(workers) for i in range(per_worker))
    for w in range(workers):
        mine = [int(n.split(":")[1]) for n in notes if n.startswith(f"{w}:")]
        assert mine == list(range(per_worker))


def test_database_uses_wal(store):
    conn = sqlite3.connect(store.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


# --------------------------------------------------------------------------- schema and bad files


def _pragma(path: Path, name: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        conn.close()


def test_creates_folder_and_stores_schema_version(tmp_path):
    path = tmp_path / "a" / "b" / "outreach.db"
    OutreachStore(path)
    assert path.is_file()
    assert _pragma(path, "user_version") == workspace.SCHEMA_VERSION == 3
    assert _pragma(path, "application_id") == workspace.APPLICATION_ID
    # Reopening an up-to-date store changes nothing and keeps the events.
    OutreachStore(path).record("S1", "P1", "contacted")
    assert OutreachStore(path).count() == 1


def test_migrations_run_forward_step_by_step(tmp_path, monkeypatch):
    path = tmp_path / "o.db"
    OutreachStore(path, clock=Clock()).record("S1", "P1", "partnered")

    def migrate_next(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE events ADD COLUMN author TEXT NOT NULL DEFAULT ''")

    monkeypatch.setattr(workspace, "MIGRATIONS", (*workspace.MIGRATIONS, migrate_next))
    store = OutreachStore(path)
    assert _pragma(path, "user_version") == workspace.SCHEMA_VERSION + 1
    assert [e.status for e in store.history("S1", "P1")] == ["partnered"]


def test_failed_migration_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "o.db"
    OutreachStore(path).record("S1", "P1", "partnered")

    def migrate_next(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE events ADD COLUMN author TEXT")
        conn.execute("this is not sql")

    monkeypatch.setattr(workspace, "MIGRATIONS", (*workspace.MIGRATIONS, migrate_next))
    with pytest.raises(StateError):
        OutreachStore(path)
    monkeypatch.undo()
    assert _pragma(path, "user_version") == workspace.SCHEMA_VERSION
    assert OutreachStore(path).count() == 1


def test_database_from_the_future_is_refused(tmp_path):
    path = tmp_path / "o.db"
    OutreachStore(path)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {workspace.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StateError, match="newer version of matcher") as info:
        OutreachStore(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "content",
    [b"school_id,partner_id\nS1,P1\n", b"\x00\x01\x02" * 1000, b"SQLite format 3\x00" + b"\xff" * 200],
    ids=["csv", "binary", "truncated-sqlite"],
)
def test_file_that_is_not_sqlite_is_refused(tmp_path, content):
    path = tmp_path / "partnerships.csv"
    path.write_bytes(content)
    with pytest.raises(StateError, match="not a matcher workspace database") as info:
        OutreachStore(path)
    assert str(path) in str(info.value)
    assert path.read_bytes() == content  # left alone


def test_other_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(StateError, match="not a matcher workspace database"):
        OutreachStore(path)


def test_directory_or_memory_path_is_refused(tmp_path):
    with pytest.raises(StateError, match="is a directory"):
        OutreachStore(tmp_path)
    with pytest.raises(StateError, match="needs a file path"):
        OutreachStore(":memory:")


def test_constants():
    assert state.DEFAULT_COOLDOWN_DAYS == 180
    assert state.DEFAULT_OUTREACH_DB.name == "outreach.db"
    assert state.DEFAULT_OUTREACH_DB.parent.name == "models"


# --------------------------------------------------------------------------- export


@pytest.fixture
def decided(store, clock) -> OutreachStore:
    store.record("S2", "P1", "partnered")
    store.record("S1", "P3", "contacted")  # undecided: not exported
    clock.advance(days=3)
    store.record("S1", "P2", "declined")
    store.record("S1", "P1", "declined")
    clock.advance(days=40)
    store.record("S1", "P1", "partnered")  # latest wins, dated by the latest event
    store.record("S3", "P1", "do_not_contact")  # not an outcome
    store.record("S2", "P2", "partnered")
    store.record("S2", "P2", "contacted")  # latest is contacted: not exported
    return store


def test_export_format(decided, tmp_path):
    out = tmp_path / "exports" / "partnerships.csv"
    assert decided.export_outcomes(out) == 3
    assert out.read_bytes().decode("utf-8") == (
        "school_id,partner_id,outcome,start_date\n"
        "S1,P1,1,2026-04-13\n"
        "S1,P2,0,2026-03-04\n"
        "S2,P1,1,2026-03-01\n"
    )


def test_export_of_an_empty_store_is_just_the_header(store, tmp_path):
    out = tmp_path / "p.csv"
    assert store.export_outcomes(out) == 0
    assert out.read_text() == "school_id,partner_id,outcome,start_date\n"


def test_export_reads_back_with_the_data_contract(decided, tmp_path):
    data = pytest.importorskip("matcher.data")
    if not hasattr(data, "read_partnerships"):
        pytest.skip("matcher.data.read_partnerships not available")
    out = tmp_path / "p.csv"
    decided.export_outcomes(out)
    df = data.read_partnerships(out)
    assert list(df.columns[:4]) == ["school_id", "partner_id", "outcome", "start_date"]
    assert df["outcome"].tolist() == [1, 0, 1]
    assert df["start_date"].dt.strftime("%Y-%m-%d").tolist() == ["2026-04-13", "2026-03-04", "2026-03-01"]


def test_export_quotes_awkward_ids(store, tmp_path):
    store.record('S,1 "x"', "Pé", "partnered")
    out = tmp_path / "p.csv"
    store.export_outcomes(out)
    assert out.read_bytes().decode("utf-8").splitlines()[1] == '"S,1 ""x""",Pé,1,2026-03-01'


@pytest.mark.parametrize("fail_at", ["os.replace", "os.fsync"])
def test_failed_export_keeps_the_old_file_and_leaves_no_temp_files(decided, tmp_path, monkeypatch, fail_at):
    out = tmp_path / "p.csv"
    out.write_text("previous export\n")

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fail_at, boom)
    with pytest.raises(StateError, match="cannot write the outcomes file.*No space left") as info:
        decided.export_outcomes(out)
    assert str(out) in str(info.value)
    monkeypatch.undo()
    assert out.read_text() == "previous export\n"
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("outreach.db")) == ["p.csv"]


def test_successful_export_leaves_no_temp_files(decided, tmp_path):
    out = tmp_path / "out" / "p.csv"
    out.parent.mkdir()
    out.write_text("old\n")
    decided.export_outcomes(out)
    assert [p.name for p in out.parent.iterdir()] == ["p.csv"]
    assert out.read_text().startswith("school_id,")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can write anywhere")
def test_export_into_unwritable_folder(decided, tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    out = folder / "p.csv"
    out.write_text("previous export\n")
    folder.chmod(0o555)
    try:
        with pytest.raises(StateError, match="cannot write the outcomes file"):
            decided.export_outcomes(out)
        assert out.read_text() == "previous export\n"
        assert [p.name for p in folder.iterdir()] == ["p.csv"]
    finally:
        folder.chmod(0o755)


def test_export_target_that_is_a_directory(decided, tmp_path):
    target = tmp_path / "dir"
    target.mkdir()
    with pytest.raises(StateError, match="cannot write the outcomes file"):
        decided.export_outcomes(target)
    assert [p.name for p in target.iterdir()] == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".dir")] == []
