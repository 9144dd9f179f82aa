"""The live catalogue: schools and partners as rows in the workspace database, every change kept.

``matcher train`` (or an import) fills the catalogue from CSV files; after
that, schools and partners change one at a time (the JSON API, ``matcher
partners|schools add|update|remove``) without retraining. Each change is one
transaction that bumps the catalogue's *revision* and appends to the change
history (who, when, the row before and after). A fitted model records the
revision it was built from; any process that holds a model catches up by
applying the rows changed since (see :mod:`matcher.live`), so a change is in
the next recommendation everywhere, survives a restart, and a reader never
sees half of one.

Rows are kept as the data contract's columns with the text given (see
``data/README.md``); validation and encoding happen before a row is written.
The catalogue also caches text encodings (by encoder sha256 and text hash),
so a text is encoded once, whoever needs it.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from matcher.errors import MatcherError
from matcher.featurize import Encoded
from matcher.ids import normalise_id
from matcher.workspace import StateError, Workspace

#: What the catalogue holds.
KINDS: tuple[str, ...] = ("school", "partner")

#: What a change did to a row.
ACTIONS: tuple[str, ...] = ("create", "update", "deactivate")


class Conflict(MatcherError):
    """A change that contradicts the catalogue as it is now (creating an id that exists, changing a removed one)."""


@dataclass(frozen=True)
class CatalogRow:
    """A school or partner as the catalogue holds it."""

    kind: str
    id: str
    row: dict[str, str]
    active: bool
    revision: int


@dataclass(frozen=True)
class Change:
    """One entry of the change history."""

    id: int
    revision: int
    kind: str
    entity_id: str
    action: str
    user: str
    at: str
    before: dict[str, str] | None
    after: dict[str, str] | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "revision": self.revision, "kind": self.kind, f"{self.kind}_id": self.entity_id,
                "action": self.action, "user": self.user, "at": self.at, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class ImportSummary:
    """What an import did."""

    created: int
    updated: int
    deactivated: int
    unchanged: int
    revision: int


class Catalog:
    """Schools and partners in the workspace database, with their history and cached encodings.

    Parameters
    ----------
    db : Workspace or path
        The workspace database (created if missing).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> cat = Catalog(pathlib.Path(tempfile.mkdtemp()) / "workspace.db")
    >>> cat.put("partner", "P1", {"name": "Food Bank", "offerings": "weekend meals"}, user="ana").action
    'create'
    >>> cat.get("partner", "P1").row["name"], cat.state()[1]
    ('Food Bank', 1)
    """

    def __init__(self, db: Workspace | str | Path):
        self.db = db if isinstance(db, Workspace) else Workspace(db)

    # ------------------------------------------------------------------ reading
    def state(self) -> tuple[str, int]:
        """(generation, revision): which import the catalogue comes from, and its latest change."""
        with self.db.read() as conn:
            meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('generation', 'revision')"))
        return meta["generation"], int(meta["revision"])

    def base(self) -> tuple[str, int] | None:
        """(key, revision) of the model the current generation was started from, when one was (see :meth:`mark_base`)."""
        with self.db.read() as conn:
            meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('generation', 'base')"))
        generation, key, revision = (meta.get("base") or "  ").split(" ")
        return (key, int(revision)) if key and generation == meta["generation"] else None

    def mark_base(self, key: str, revision: int) -> None:
        """Record that the current generation started from the model whose rows hash to ``key``, at ``revision``.

        A process given that model again (a restarted server) then catches up
        from ``revision`` instead of starting over.
        """
        with self.db.transaction() as conn:
            generation = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0]
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('base', ?)", (f"{generation} {key} {int(revision)}",))

    def get(self, kind: str, entity_id: str) -> CatalogRow | None:
        """A row of the catalogue (active or not), or None."""
        kind = _kind(kind)
        with self.db.read() as conn:
            found = conn.execute("SELECT id, row, active, revision FROM catalog WHERE kind = ? AND id = ?",
                                 (kind, normalise_id(str(entity_id)))).fetchone()
        return None if found is None else CatalogRow(kind, found[0], json.loads(found[1]), bool(found[2]), found[3])

    def since(self, revision: int) -> list[CatalogRow]:
        """Every row changed after ``revision``, in revision order (then kind and id)."""
        with self.db.read() as conn:
            rows = conn.execute("SELECT kind, id, row, active, revision FROM catalog WHERE revision > ? "
                                "ORDER BY revision, kind, id", (int(revision),)).fetchall()
        return [CatalogRow(k, i, json.loads(r), bool(a), v) for k, i, r, a, v in rows]

    def table(self, kind: str) -> list[dict[str, str]]:
        """The active rows of a kind, in id order, each with its id column (to train from the catalogue)."""
        kind = _kind(kind)
        with self.db.read() as conn:
            rows = conn.execute("SELECT id, row FROM catalog WHERE kind = ? AND active = 1 ORDER BY id", (kind,))
            return [{f"{kind}_id": i, **json.loads(r)} for i, r in rows]

    def history(self, kind: str | None = None, entity_id: str | None = None, limit: int = 200) -> list[Change]:
        """The latest changes, newest first, optionally of one kind and/or one school or partner."""
        where, params = [], []
        if kind is not None:
            where.append("kind = ?")
            params.append(_kind(kind))
        if entity_id is not None:
            where.append("entity_id = ?")
            params.append(normalise_id(str(entity_id)))
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        with self.db.read() as conn:
            rows = conn.execute(f"SELECT id, revision, kind, entity_id, action, user, at, before, after FROM changes "
                                f"{clause} ORDER BY id DESC LIMIT ?", (*params, int(limit))).fetchall()
        return [Change(*r[:7], _loads(r[7]), _loads(r[8])) for r in rows]

    # ------------------------------------------------------------------ writing
    def put(self, kind: str, entity_id: str, row: Mapping[str, Any], user: str,
            create: bool | None = None) -> Change:
        """Create or replace a school's or partner's row (a validated one: see :mod:`matcher.live`).

        ``create=True`` refuses an id that is already active, ``create=False``
        one that is not; None accepts either. A deactivated row may be created again.
        """
        kind, entity_id = _kind(kind), _entity(entity_id)
        new = {str(k): "" if v is None else str(v) for k, v in row.items() if k != f"{kind}_id"}
        with self.db.transaction() as conn:
            old = conn.execute("SELECT row, active FROM catalog WHERE kind = ? AND id = ?", (kind, entity_id)).fetchone()
            exists = old is not None and bool(old[1])
            if create is True and exists:
                raise Conflict(f"{kind} {entity_id!r} exists already; update it instead")
            if create is False and not exists:
                raise Conflict(f"{kind} {entity_id!r} is not in the catalogue (removed meanwhile?); nothing to update")
            revision = _bump(conn)
            conn.execute("INSERT OR REPLACE INTO catalog (kind, id, row, active, revision) VALUES (?, ?, ?, 1, ?)",
                         (kind, entity_id, _dumps(new), revision))
            before = json.loads(old[0]) if exists else None
            return _log(conn, self.db.now(), revision, kind, entity_id, "update" if exists else "create", user,
                        before, new)

    def deactivate(self, kind: str, entity_id: str, user: str) -> Change:
        """Take a school or partner out of every suggestion (its row and history are kept)."""
        kind, entity_id = _kind(kind), _entity(entity_id)
        with self.db.transaction() as conn:
            old = conn.execute("SELECT row, active FROM catalog WHERE kind = ? AND id = ?", (kind, entity_id)).fetchone()
            if old is None or not old[1]:
                raise Conflict(f"{kind} {entity_id!r} is not in the catalogue (removed meanwhile?); nothing to remove")
            revision = _bump(conn)
            conn.execute("UPDATE catalog SET active = 0, revision = ? WHERE kind = ? AND id = ?",
                         (revision, kind, entity_id))
            return _log(conn, self.db.now(), revision, kind, entity_id, "deactivate", user, json.loads(old[0]), None)

    def import_table(self, kind: str, rows: Sequence[Mapping[str, Any]], user: str, *, replace: bool = True,
                     new_generation: bool = False) -> ImportSummary:
        """Write many rows in one transaction (one revision), each change in the history.

        Parameters
        ----------
        kind : {"school", "partner"}
        rows : sequence of mappings
            Validated rows with their id column (``school_id`` / ``partner_id``).
        user : str
            Recorded with every change.
        replace : bool, default True
            Deactivate the active rows the table does not hold (a full table);
            False applies only the rows given (a file of changed rows).
        new_generation : bool, default False
            Start a new catalogue generation (``matcher train`` does): models
            fitted on an earlier generation no longer catch up with this one.
        """
        kind = _kind(kind)
        key = f"{kind}_id"
        new = {}
        for r in rows:
            entity_id = _entity(r[key])
            new[entity_id] = {str(k): "" if v is None else str(v) for k, v in r.items() if k != key}
        with self.db.transaction() as conn:
            old = {i: (json.loads(r), bool(a)) for i, r, a in
                   conn.execute("SELECT id, row, active FROM catalog WHERE kind = ?", (kind,))}
            revision = _bump(conn)
            if new_generation:
                conn.execute("UPDATE meta SET value = ? WHERE key = 'generation'", (secrets.token_hex(8),))
            now = self.db.now()
            created = updated = unchanged = deactivated = 0
            writes, log = [], []
            for entity_id, row in new.items():
                before = old.get(entity_id)
                if before is not None and before[1] and before[0] == row:
                    unchanged += 1
                    continue
                action = "update" if before is not None and before[1] else "create"
                created += action == "create"
                updated += action == "update"
                writes.append((kind, entity_id, _dumps(row), revision))
                log.append((revision, kind, entity_id, action, user, now,
                            _dumps(before[0]) if action == "update" else None, _dumps(row)))
            gone = [i for i, (r, a) in old.items() if a and i not in new] if replace else []
            for entity_id in gone:
                log.append((revision, kind, entity_id, "deactivate", user, now, _dumps(old[entity_id][0]), None))
            deactivated = len(gone)
            conn.executemany("INSERT OR REPLACE INTO catalog (kind, id, row, active, revision) VALUES (?, ?, ?, 1, ?)",
                             writes)
            conn.executemany("UPDATE catalog SET active = 0, revision = ? WHERE kind = ? AND id = ?",
                             [(revision, kind, i) for i in gone])
            conn.executemany("INSERT INTO changes (revision, kind, entity_id, action, user, at, before, after) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", log)
        return ImportSummary(created, updated, deactivated, unchanged, revision)

    # ------------------------------------------------------------------ encodings
    def encodings(self, encoder_sha: str, texts: Iterable[str], split: bool) -> dict[str, Encoded]:
        """Cached encodings of those ``texts`` the cache holds (for this encoder; with sentences if ``split``)."""
        wanted = {_text_key(t, split): t for t in dict.fromkeys(texts)}
        out: dict[str, Encoded] = {}
        with self.db.read() as conn:
            for sha, vec, cats, sents in _select_in(conn, "SELECT text_sha, vector, categories, sentences FROM "
                                                    "encodings WHERE encoder = ? AND text_sha", encoder_sha, wanted):
                v = np.frombuffer(vec, dtype=np.float32)
                s = np.frombuffer(sents, dtype=np.float32).reshape(-1, len(v))
                out[wanted[sha]] = Encoded(v.copy(), np.frombuffer(cats, dtype=np.float32).copy(), s.copy())
        return out

    def save_encodings(self, encoder_sha: str, encoded: Mapping[str, Encoded], split: bool) -> None:
        """Add encodings to the cache (existing ones are kept)."""
        rows = [(encoder_sha, _text_key(t, split), e.text.astype(np.float32).tobytes(),
                 e.categories.astype(np.float32).tobytes(), e.sentences.astype(np.float32).tobytes())
                for t, e in encoded.items()]
        with self.db.transaction() as conn:
            conn.executemany("INSERT OR IGNORE INTO encodings (encoder, text_sha, vector, categories, sentences) "
                             "VALUES (?, ?, ?, ?, ?)", rows)

    # ------------------------------------------------------------------ hub statistics
    def hub_stats(self, reference: str, keys: Sequence[str]) -> dict[str, tuple[float, float]]:
        """Cached (text, category) hub statistics of those partner ``keys`` the cache holds for ``reference``."""
        with self.db.read() as conn:
            return {sha: (t, c) for sha, t, c in _select_in(
                conn, "SELECT partner_sha, text_hub, category_hub FROM hub_stats WHERE reference = ? AND partner_sha",
                reference, keys)}

    def save_hub_stats(self, reference: str, stats: Mapping[str, tuple[float, float]]) -> None:
        """Add hub statistics to the cache (existing ones are kept)."""
        with self.db.transaction() as conn:
            conn.executemany("INSERT OR IGNORE INTO hub_stats (reference, partner_sha, text_hub, category_hub) "
                             "VALUES (?, ?, ?, ?)", [(reference, k, float(t), float(c)) for k, (t, c) in stats.items()])


class EncodingCache:
    """The catalogue's encoding cache for one encoder, as :meth:`matcher.featurize.Featurizer.encode` uses it."""

    def __init__(self, catalog: Catalog, encoder_sha: str):
        self.catalog = catalog
        self.encoder_sha = encoder_sha

    def lookup(self, texts: Iterable[str], split: bool) -> dict[str, Encoded]:
        return self.catalog.encodings(self.encoder_sha, texts, split)

    def store(self, encoded: Mapping[str, Encoded], split: bool) -> None:
        if encoded:
            self.catalog.save_encodings(self.encoder_sha, encoded, split)

    def hubs(self, reference: str, keys: Sequence[str]) -> dict[str, tuple[float, float]]:
        return self.catalog.hub_stats(reference, keys)

    def store_hubs(self, reference: str, stats: Mapping[str, tuple[float, float]]) -> None:
        if stats:
            self.catalog.save_hub_stats(reference, stats)


def _select_in(conn: sqlite3.Connection, query: str, first: Any, keys: Iterable[str]) -> Iterator[tuple]:
    """Rows of ``query ... IN (keys)`` (its one other parameter ``first``), asked 500 keys at a time."""
    keys = list(keys)
    for start in range(0, len(keys), 500):
        part = keys[start : start + 500]
        yield from conn.execute(f"{query} IN ({','.join('?' * len(part))})", (first, *part))


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise StateError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    return kind


def _entity(value: Any) -> str:
    if not isinstance(value, str) or not normalise_id(value):
        raise StateError(f"an id must be non-blank text, not {value!r}")
    return normalise_id(value)


def _bump(conn: sqlite3.Connection) -> int:
    conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'revision'")
    return int(conn.execute("SELECT value FROM meta WHERE key = 'revision'").fetchone()[0])


def _log(conn: sqlite3.Connection, now: str, revision: int, kind: str, entity_id: str, action: str, user: str,
         before: dict | None, after: dict | None) -> Change:
    cur = conn.execute("INSERT INTO changes (revision, kind, entity_id, action, user, at, before, after) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (revision, kind, entity_id, action, user, now, _dumps(before), _dumps(after)))
    return Change(int(cur.lastrowid), revision, kind, entity_id, action, user, now, before, after)  # type: ignore[arg-type]


def _dumps(row: Mapping[str, str] | None) -> str | None:
    return None if row is None else json.dumps(dict(row), sort_keys=True, ensure_ascii=False)


def _loads(text: str | None) -> dict[str, str] | None:
    return None if text is None else json.loads(text)


def _text_key(text: str, split: bool) -> str:
    return hashlib.sha256(("sentences\n" if split else "whole\n").encode() + text.encode("utf-8")).hexdigest()
