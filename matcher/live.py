"""Live changes: schools and partners added, updated and removed without retraining.

A change is validated with the data contract, encoded and tagged (once: the
encoding goes to the workspace's cache), written to the catalogue in one
transaction, and applied to the fitted model in memory. Applying builds new
feature arrays (rows stay in id order, so every ranking path is unchanged)
and a new model object; whoever holds the old one finishes with it, so no
reader ever sees half a change. Any process catches up with the catalogue's
changes since its model's revision (:func:`catch_up`): after a restart, in
another server worker (in the background: :meth:`LiveModel.watch`), in the
next ``matcher recommend``.

Examples
--------
>>> import pandas as pd, tempfile, pathlib
>>> from matcher.model import PartnerMatcher
>>> from matcher.workspace import Workspace
>>> schools = pd.DataFrame({"school_id": ["S1"], "name": ["Oak"], "needs": ["Students are hungry on Mondays."]})
>>> partners = pd.DataFrame({"partner_id": ["P1"], "name": ["Robots"], "offerings": ["Robot building kits"]})
>>> ws = Workspace(pathlib.Path(tempfile.mkdtemp()) / "workspace.db")
>>> live = LiveModel(start_catalog(PartnerMatcher().fit(schools, partners), ws, schools, partners), ws)
>>> _ = live.put("partner", "P2", {"name": "Food Bank", "offerings": "Weekend food bags"}, user="ana", create=True)
>>> [m.id for m in live.model().recommend("S1", n=2)]
['P2', 'P1']
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import itertools
import json
import logging
import threading
import warnings
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import fields, replace
from typing import Any

import numpy as np
import pandas as pd

from matcher.catalog import Catalog, CatalogRow, Change, EncodingCache
from matcher.data import PARTNER_COLUMNS, SCHOOL_COLUMNS, contacts, validate_partners, validate_schools
from matcher.errors import DataError
from matcher.ranking import carry_remote_partners
from matcher.workspace import Workspace

_LOG = logging.getLogger(__name__)

#: The catalogue columns of each kind (the data contract's), id first.
COLUMNS = {"school": SCHOOL_COLUMNS, "partner": PARTNER_COLUMNS}


def validate(kind: str, rows: Sequence[Mapping[str, Any]], source: str = "body") -> pd.DataFrame:
    """Rows checked against the data contract (every problem at once, as a :class:`DataError`).

    ``rows`` hold the contract's column names with text values, ids included.
    """
    known = COLUMNS[kind]
    unknown = sorted({k for r in rows for k in r} - set(known))
    if unknown:
        raise DataError([f"{source}: unknown field {u!r}{_did_you_mean(u, known)} (fields are: {', '.join(known)})"
                         for u in unknown])

    def cell(v: Any) -> str:
        return "" if v is None else ("true" if v else "false") if isinstance(v, bool) else str(v)

    table = pd.DataFrame([{c: cell(r.get(c)) for c in known} for r in rows], columns=known)
    try:
        return (validate_schools if kind == "school" else validate_partners)(table, source=source)
    except DataError as exc:
        if len(rows) != 1:
            raise
        # One row (an API body, a command line): "body: column offerings: ..." rather than "row 2".
        raise DataError([p.replace(f"{source}: row 2, ", f"{source}: ", 1) for p in exc.problems]) from None


def _did_you_mean(name: str, known: Sequence[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5) or [k for k in known if k.startswith(name)][:1]
    return f"; did you mean {close[0]!r}?" if close else ""


def start_catalog(model, db: Workspace, schools: pd.DataFrame, partners: pd.DataFrame, user: str = "import"):
    """Fill the catalogue from the tables a model was fitted on (a new generation); record it in the model."""
    catalog = Catalog(db)
    catalog.import_table("school", _raw_rows(schools, "school"), user, new_generation=True)
    summary = catalog.import_table("partner", _raw_rows(partners, "partner"), user)
    model.catalog_generation_ = catalog.state()[0]
    model.catalog_revision_ = summary.revision
    return model


def adopt(model, db: Workspace, user: str = "server"):
    """``model`` made the base of the workspace's catalogue.

    A model trained with this workspace (``matcher train``) already is: it is
    caught up with the changes since. Any other model (fitted in Python, or
    on another workspace) starts a new catalogue generation holding its rows,
    so changes can be applied to it from now on.
    """
    catalog = Catalog(db)
    generation, _ = catalog.state()
    if generation and generation == getattr(model, "catalog_generation_", None):
        return catch_up(model, catalog)
    rows = {kind: model_rows(model, kind) for kind in ("school", "partner")}
    key = _rows_key(rows)
    resumed = _resume(model, catalog, key)
    if resumed is not None:  # the model this generation started from (a restarted server): its changes since
        return resumed
    model = copy.copy(model)
    schools = validate("school", rows["school"], source="the model's schools")
    partners = validate("partner", rows["partner"], source="the model's partners")
    model = start_catalog(model, db, schools, partners, user=user)
    catalog.mark_base(key, model.catalog_revision_)
    return model


def _rows_key(rows: Mapping[str, list[dict[str, str]]]) -> str:
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()[:32]


def _resume(model, catalog: Catalog, key: str | None = None):
    """``model`` caught up from the revision its catalogue generation started at, if it is that generation's
    base model (see :meth:`Catalog.mark_base`); else None."""
    base = catalog.base()
    if base is None:
        return None
    if key is None:
        key = _rows_key({kind: model_rows(model, kind) for kind in ("school", "partner")})
    if key != base[0]:
        return None
    model = copy.copy(model)
    model.catalog_generation_, model.catalog_revision_ = catalog.state()[0], base[1]
    return catch_up(model, catalog)


def model_rows(model, kind: str) -> list[dict[str, str]]:
    """A fitted model's schools or partners as the data contract's text cells (what it can tell of them)."""
    from matcher.grades import format_grades

    def num(x: float) -> str:
        return "" if np.isnan(x) or np.isinf(x) else (str(int(x)) if float(x).is_integer() else repr(float(x)))

    f = model.featurizer_
    out = []
    if kind == "school":
        s = model.schools_
        for i, sid in enumerate(model.school_ids_):
            cats = ";".join(f.category_slugs[c] for c in np.flatnonzero(s.categories[i] >= 1.0)) \
                if model.school_explicit_[i] else ""
            prefs = ";".join(t for b, t in enumerate(f.partner_type_slugs) if (int(s.preferred_types[i]) >> b) & 1)
            out.append({"school_id": str(sid), "name": str(model.school_names_[i]), "needs": str(model.school_texts_[i]),
                        "need_categories": cats, "grades": format_grades(int(s.grades[i])) if s.grades[i] else "",
                        "latitude": num(s.lat[i]), "longitude": num(s.lon[i]), "frl_pct": num(model.school_frl_[i]),
                        "preferred_partner_types": prefs})
        return out
    p = model.partners_
    people = partner_contacts(model)
    for j, pid in enumerate(model.partner_ids_):
        out.append({"partner_id": str(pid), "name": str(model.partner_names_[j]), "offerings": str(model.partner_texts_[j]),
                    "partner_type": str(model.partner_type_names_[j] or ""),
                    "grades": format_grades(int(p.grades[j])) if p.grades[j] else "",
                    "latitude": num(p.lat[j]), "longitude": num(p.lon[j]), "service_radius_km": num(p.radius_km[j]),
                    "remote": "true" if p.remote[j] else "false", "capacity": num(p.capacity[j]),
                    **people[j]})
    return out


def partner_contacts(model) -> np.ndarray:
    """The model's partner contact details (a model saved before contacts were kept has none)."""
    found = getattr(model, "partner_contacts_", None)
    if found is None or len(found) != len(model.partner_ids_):
        found = np.empty(len(model.partner_ids_), dtype=object)
        found[:] = [{} for _ in range(len(found))]
    return found


def catch_up(model, catalog: Catalog):
    """``model`` with every catalogue change since its revision applied (the model itself if none or if it
    was not fitted from this catalogue's generation)."""
    generation, revision = catalog.state()
    if generation != getattr(model, "catalog_generation_", None) or revision <= model.catalog_revision_:
        return model
    return apply_rows(model, catalog.since(model.catalog_revision_), catalog, revision)


def apply_rows(model, rows: Sequence[CatalogRow], catalog: Catalog | None = None, revision: int | None = None):
    """A new model with these catalogue rows applied (active rows replace or add, inactive ones leave)."""
    new = copy.copy(model)
    cache = EncodingCache(catalog, model.featurizer_.encoder_info["sha256"]) if catalog is not None else None
    for kind in ("school", "partner"):
        mine = [r for r in rows if r.kind == kind]
        if mine:
            _apply_kind(new, kind, mine, cache)
    changed = {r.kind for r in rows}  # the id tables of a kind no row changed stay valid
    new._index = {kind: table for kind, table in getattr(model, "_index", {}).items() if kind not in changed}
    for kind in sorted(changed):
        new.index(kind)  # built now, while the change is applied, rather than in the next request
    if revision is not None:
        new.catalog_revision_ = revision
    return new


class LiveModel:
    """A fitted model kept current with the catalogue, for a long-running process (the web app).

    :meth:`model` returns the current model (catching up first when another
    process changed the catalogue); :meth:`put` and :meth:`remove` change the
    catalogue and the model. Safe to use from many threads.
    """

    #: Seconds between two looks at the catalogue's revision while :meth:`watch` runs.
    WATCH_INTERVAL = 0.02
    #: Longest a reader waits for a change this process is writing before it reads the model as it is.
    WRITER_WAIT = 1.0

    def __init__(self, model, db: Workspace):
        self.catalog = Catalog(db)
        self._model = _growable(model)
        self._lock = threading.Lock()
        self._stop: threading.Event | None = None
        self._writers: dict[int, int] = {}  # thread id -> its ticket (tickets count up)
        self._tickets = itertools.count(1)
        self._written = threading.Condition()

    def watch(self) -> None:
        """Catch up in a background thread as soon as another process changes the catalogue.

        Without it a process applies another's change when its next request
        asks for the model; with it that request finds the change applied
        (or being applied: it waits for it). :meth:`stop` ends the thread.
        """
        if self._stop is not None:
            return
        self._stop = stop = threading.Event()

        def loop() -> None:
            from matcher.encoders import load_encoder

            try:
                load_encoder(self._model.featurizer_.encoder)  # now, not in the first change's request
            except Exception:  # noqa: BLE001 - the first change will report it
                _LOG.warning("loading the text encoder failed", exc_info=True)
            while not stop.wait(self.WATCH_INTERVAL):
                try:
                    self.model()
                except Exception:  # noqa: BLE001 - the next request meets (and reports) the same problem
                    _LOG.warning("catching up with the catalogue failed; retrying", exc_info=True)
                    stop.wait(1.0)

        threading.Thread(target=loop, name="matcher-catch-up", daemon=True).start()

    def stop(self) -> None:
        """End :meth:`watch`'s thread (if it runs)."""
        if self._stop is not None:
            self._stop.set()
            self._stop = None

    @property
    def revision(self) -> int:
        """The catalogue revision of the model held now (without catching up)."""
        return int(self._model.catalog_revision_)

    def model(self):
        """The current model (never half-updated: a change swaps in a whole new one).

        While this process writes a single change (:meth:`put`, :meth:`remove`),
        other threads wait for it (for the changes being written when they
        arrive, not later ones, and at most :attr:`WRITER_WAIT` seconds): the
        change is encoded and applied without sharing the interpreter with
        every reader, and the readers then see it.
        """
        if self._writers and threading.get_ident() not in self._writers:
            with self._written:
                last = max(self._writers.values(), default=0)
                self._written.wait_for(lambda: min(self._writers.values(), default=last + 1) > last,
                                       timeout=self.WRITER_WAIT)
        current = self._model
        generation, revision = self.catalog.state()
        if generation == current.catalog_generation_ and revision > current.catalog_revision_:
            with self._lock:
                if self._model.catalog_revision_ < revision:
                    self._model = catch_up(self._model, self.catalog)
                current = self._model
        return current

    def put(self, kind: str, entity_id: str, row: Mapping[str, Any], user: str, create: bool | None = None,
            source: str = "body") -> Change:
        """Validate, encode, store and apply a school's or partner's row; returns the history entry.

        ``source`` names the row in error messages (``body`` for the API).
        """
        model = self.model()
        full = {**{k: v for k, v in row.items() if k != f"{kind}_id"}, f"{kind}_id": entity_id}
        df = validate(kind, [full], source=source)
        text = str(df.iloc[0]["needs" if kind == "school" else "offerings"])
        cache = EncodingCache(self.catalog, model.featurizer_.encoder_info["sha256"])
        with self._writing():
            model.featurizer_.encode([text], split_sentences=kind == "partner", cache=cache)  # before the commit
            change = self.catalog.put(kind, str(df.iloc[0][f"{kind}_id"]), _raw_rows(df, kind)[0], user, create)
            self.model()
        return change

    def import_rows(self, kind: str, table: pd.DataFrame, user: str):
        """Apply a validated table of changed rows (a partial import: other rows stay); returns the summary."""
        model = self.model()
        text = "needs" if kind == "school" else "offerings"
        cache = EncodingCache(self.catalog, model.featurizer_.encoder_info["sha256"])
        model.featurizer_.encode([str(t) for t in table[text]], split_sentences=kind == "partner", cache=cache)
        summary = self.catalog.import_table(kind, _raw_rows(table, kind), user, replace=False)
        self.model()
        return summary

    def remove(self, kind: str, entity_id: str, user: str) -> Change:
        """Deactivate a school or partner; returns the history entry."""
        with self._writing():
            change = self.catalog.deactivate(kind, entity_id, user)
            self.model()
        return change

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Mark this thread as writing a change: :meth:`model` holds other threads back until it is done."""
        me = threading.get_ident()
        with self._written:
            self._writers[me] = next(self._tickets)
        try:
            yield
        finally:
            with self._written:
                del self._writers[me]
                self._written.notify_all()


def workspace_for(model_path, db_path=None, create: bool = False) -> Workspace | None:
    """The workspace database of a model: ``db_path``, else ``outreach.db`` beside the model file.

    None when it does not exist (unless ``create``).
    """
    from pathlib import Path

    from matcher.config import workspace_path

    path = Path(db_path) if db_path is not None else workspace_path(model_path)
    if not create and not path.exists():
        return None
    return Workspace(path)


def load_current(model_path, db_path=None):
    """A saved model caught up with its workspace's live changes, and the workspace (or None)."""
    from matcher.persistence import load_model

    model = load_model(model_path)
    db = workspace_for(model_path, db_path)
    if db is None:
        return model, db
    catalog = Catalog(db)
    generation, revision = catalog.state()
    if not generation or generation == getattr(model, "catalog_generation_", None):
        return catch_up(model, catalog), db
    resumed = _resume(model, catalog)
    if resumed is not None:
        return resumed, db
    if revision:
        warnings.warn(f"{db.path}: its schools and partners were changed from another model, so those changes "
                      f"are not in these suggestions; retrain with `matcher train --from-catalog --db {db.path}`",
                      stacklevel=2)
    return model, db


# --------------------------------------------------------------------------- applying


def _apply_kind(model, kind: str, rows: Sequence[CatalogRow], cache: EncodingCache | None) -> None:
    ids_attr = f"{kind}_ids_"
    old_ids = getattr(model, ids_attr)
    old_contacts = partner_contacts(model) if kind == "partner" else None
    active = sorted(({**r.row, f"{kind}_id": r.id} for r in rows if r.active), key=lambda r: r[f"{kind}_id"])
    df = validate(kind, active, source=f"{kind}s in the catalogue") if active else None
    f = model.featurizer_
    if kind == "school":
        feats = f.schools(df, f.encode(df["needs"], cache=cache)) if df is not None else None
        old = model.schools_
    else:
        feats = f.partners(df, f.encode(df["offerings"], split_sentences=True, cache=cache)) if df is not None else None
        if feats is not None:
            feats = model.with_hub_offsets(feats)
        old = model.partners_
    new_ids = df[f"{kind}_id"].to_numpy(dtype=object) if df is not None else np.zeros(0, dtype=object)
    place = _Placement(old_ids, [r.id for r in rows], new_ids)
    setattr(model, ids_attr, place(old_ids, new_ids))
    setattr(model, f"{kind}s_", _merge(old, feats, place))
    if kind == "partner" and not old.remote[place.removed].any() and (feats is None or not feats.remote.any()):
        carry_remote_partners(old, model.partners_, place.moved())  # the same remote partners: no new copy
    text_col = "needs" if kind == "school" else "offerings"
    columns = {"school_names_": "name", "school_texts_": text_col} if kind == "school" else \
        {"partner_names_": "name", "partner_texts_": text_col, "partner_type_names_": "partner_type"}
    for attr, col in columns.items():
        add = df[col].to_numpy(dtype=object) if df is not None else np.zeros(0, dtype=object)
        setattr(model, attr, place(getattr(model, attr), add))
    if kind == "partner":
        model.partner_contacts_ = place(old_contacts, contacts(df) if df is not None else np.zeros(0, dtype=object))
    if kind == "school":
        frl = df["frl_pct"].to_numpy(dtype=np.float64) if df is not None else np.zeros(0)
        explicit = np.array([bool(e) for e in df["need_categories"]], dtype=bool) if df is not None else np.zeros(0, bool)
        model.school_frl_ = place(model.school_frl_, frl)
        model.school_explicit_ = place(model.school_explicit_, explicit)


class _Placement:
    """Where rows go when the ``changed`` ids leave ``old_ids`` (sorted) and ``new_ids`` (sorted) join them.

    Calling it on an array of the old rows and one of the new rows gives the
    rows of the result, in id order again, copying the old array once. Rows
    are placed by binary search: no sort of every id (a live change touches a
    few rows of 100,000s).
    """

    def __init__(self, old_ids: np.ndarray, changed: Sequence[str], new_ids: np.ndarray):
        self.n_old = m = len(old_ids)
        wanted = np.array(sorted(set(changed)), dtype=object)
        at = np.searchsorted(old_ids, wanted) if m and len(wanted) else np.zeros(0, dtype=np.int64)
        hit = at < m
        hit[hit] = old_ids[at[hit]] == wanted[hit]
        self.removed = at[hit]  # old rows that leave (removed, or replaced by a new row)
        keep = np.ones(m, dtype=bool)
        keep[self.removed] = False
        kept = np.flatnonzero(keep)
        slots = np.searchsorted(old_ids[kept], new_ids) if len(new_ids) else np.zeros(0, dtype=np.int64)
        # Row i of the result is old row gather[i], except rows at_new: the new rows, in order.
        self.size = len(kept) + len(new_ids)
        self.at_new = slots + np.arange(len(new_ids))
        self.gather = np.insert(kept, slots, 0)  # 0: a placeholder where a new row goes

    def moved(self) -> np.ndarray:
        """The row of the result each old row went to (-1: it left)."""
        out = np.full(self.n_old, -1, dtype=np.int64)
        stays = np.ones(self.size, dtype=bool)
        stays[self.at_new] = False
        out[self.gather[stays]] = np.flatnonzero(stays)
        return out

    def __call__(self, old: np.ndarray, new: np.ndarray) -> np.ndarray:
        out = np.take(old, self.gather, axis=0) if len(old) else np.empty((self.size, *old.shape[1:]), old.dtype)
        out[self.at_new] = new
        return out


def _merge(old, new, place: _Placement):
    """Feature arrays of the result of ``place`` (each array copied once)."""
    shared = getattr(old, "_shared", ())
    values = {}
    for fld in fields(old):
        name = fld.name
        if name in shared:  # rows another array points into: appended to, never reordered
            more = getattr(new, name) if new is not None else None
            values[name] = _appended(getattr(old, name), more) if more is not None and len(more) else getattr(old, name)
            continue
        add = getattr(new, name) if new is not None else getattr(old, name)[:0]
        if name == "sentence_start":
            add = add + len(old.sentences)
        values[name] = place(getattr(old, name), add)
    return type(old)(**values)


#: Buffers that sentence matrices grow in: id(buffer) -> (weak reference to it, rows handed out so far).
_GROWING: dict[int, tuple[weakref.ref, int]] = {}
_GROWING_LOCK = threading.Lock()


def _appended(rows: np.ndarray, more: np.ndarray) -> np.ndarray:
    """``rows`` followed by ``more``, usually without copying ``rows``.

    A changed partner's sentences are appended to the shared sentence matrix.
    It lives in a buffer with spare rows: when ``rows`` is the newest view of
    its buffer, ``more`` is written after it and a longer view returned. The
    models holding ``rows`` never read past their own length, so they are
    unaffected; any other case (an older view, no room) copies into a new
    buffer with a quarter more room.
    """
    with _GROWING_LOCK:
        base = rows.base
        known = _GROWING.get(id(base)) if base is not None else None
        n, k = len(rows), len(more)
        if (known is not None and known[0]() is base and known[1] == n and rows.ctypes.data == base.ctypes.data
                and len(base) >= n + k):
            base[n : n + k] = more
            _GROWING[id(base)] = (known[0], n + k)
            return base[: n + k]
        buf = np.empty((n + k + max(1024, (n + k) // 4), rows.shape[1]), dtype=rows.dtype)
        buf[:n] = rows
        buf[n : n + k] = more
        for key in [key for key, (ref, _) in _GROWING.items() if ref() is None or ref() is base]:
            del _GROWING[key]  # gone, or no longer grown (its views stay valid)
        _GROWING[id(buf)] = (weakref.ref(buf), n + k)
        return buf[: n + k]


def _growable(model):
    """``model`` with its partners' sentence matrix in a buffer with spare rows (see :func:`_appended`), so that
    the first change a long-running process applies does not copy it while requests wait."""
    p = getattr(model, "partners_", None)
    if p is None or p.sentences.base is not None and id(p.sentences.base) in _GROWING:
        return model
    model = copy.copy(model)
    model.partners_ = replace(p, sentences=_appended(p.sentences, p.sentences[:0]))
    return model


def _raw_rows(df: pd.DataFrame, kind: str) -> list[dict[str, str]]:
    """A validated table back as the contract's text cells (what the catalogue keeps)."""
    from matcher.grades import format_grades

    out = []
    for rec in df.to_dict("records"):
        row: dict[str, str] = {}
        for col in COLUMNS[kind]:
            v = rec.get(col)
            if col == "grades":
                row[col] = format_grades(int(v)) if v else ""
            elif isinstance(v, tuple):
                row[col] = ";".join(v)
            elif isinstance(v, (bool, np.bool_)):
                row[col] = "true" if v else "false"
            elif v is None or (isinstance(v, float) and np.isnan(v)):
                row[col] = ""
            elif isinstance(v, float) and v.is_integer():
                row[col] = str(int(v))
            else:
                row[col] = str(v)
        out.append(row)
    return out


__all__ = ["COLUMNS", "LiveModel", "adopt", "apply_rows", "catch_up", "model_rows", "load_current", "partner_contacts",
           "start_catalog", "validate", "workspace_for"]
