"""``matcher rank``: rank every school, chunk by chunk, locally or on Dask, to one file.

:func:`rank_to_file` plans chunks of schools that lie close together, ranks
them with a :class:`~matcher.batch.index.RankIndex` (threads with BLAS pinned
to one thread each, or Dask tasks), keeps each completed chunk on disk so an
interrupted run can resume, and writes the sorted rows atomically.
"""
from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from matcher.batch.geometry import plan_chunks
from matcher.batch.index import DEFAULT_CHUNK_SIZE, RankIndex
from matcher.batch.output import format_of, write_output
from matcher.batch.parts import PARTS_VERSION, Parts, model_fingerprint, sha256_arrays, state_digest, to_part
from matcher.batch.results import ChunkResult
from matcher.cluster import dask_client, distributed_module
from matcher.blas import cpu_count, one_blas_thread, pin_one_blas_thread, unpin_blas
from matcher.features import SchoolFeatures



def school_features(model, schools, batch_size: int = 256,
                    client=None) -> tuple[np.ndarray, np.ndarray, SchoolFeatures]:
    """Ids (sorted), names and features of a schools table, as the model would compute them at fit.

    A school text the model was trained on (and tagged, not given explicit
    categories) keeps the vector and need categories it was trained with, so
    its ranking equals ``matcher recommend --school``; every other text is
    encoded with the model's encoder (distinct texts once, ``batch_size`` at a
    time) and tagged with its taxonomy by the model's featuriser. Grades,
    location, explicit categories and preferred partner types always come from
    the table.

    Parameters
    ----------
    model : PartnerMatcher
    schools : str, path or pandas.DataFrame
        A schools CSV (read with :func:`matcher.data.read_schools`) or a table.
    batch_size : int, default 256
        Distinct new texts encoded per batch.
    client : distributed.Client, optional
        Encode the batches as Dask tasks (the tagger broadcast once) instead of here.
    """
    import pandas as pd

    from matcher import data
    from matcher.featurize import encoded_rows

    df = data.normalised(schools, "schools") if isinstance(schools, pd.DataFrame) else data.read_schools(schools)
    df = df.sort_values("school_id", kind="stable").reset_index(drop=True)
    tagged = np.flatnonzero(~model.school_explicit_)
    known = encoded_rows(model.schools_.text[tagged], model.schools_.categories[tagged],
                         [str(x) for x in model.school_texts_[tagged]])
    f = model.featurizer
    encoded = f.encode([str(x) for x in df["needs"]], known=known, batch_size=batch_size, client=client)
    return df["school_id"].to_numpy(dtype=object), df["name"].to_numpy(dtype=object), f.schools(df, encoded)



@dataclass
class RankSummary:
    """What :func:`rank_to_file` did."""

    output: str
    format: str
    n_schools: int
    n_rows: int
    top: int
    n_chunks: int
    chunks_resumed: int
    seconds: float
    candidates_per_school: float  # partners considered after geographic blocking (this run's chunks)
    exact_per_school: float  # pairs scored exactly (the rest were pruned by the bound)

    def text(self) -> str:
        resumed = f", {self.chunks_resumed} of {self.n_chunks} chunks from the interrupted run" if self.chunks_resumed else ""
        return (
            f"Ranked {self.n_schools:,} schools (top {self.top}) in {self.seconds:.1f} s{resumed}; "
            f"wrote {self.n_rows:,} rows to {self.output} ({self.format})."
        )


def _n_jobs(n_jobs: int | None) -> int:
    if n_jobs is None:
        return cpu_count()
    if int(n_jobs) < 1:
        from matcher.errors import MatcherError

        raise MatcherError(f"n_jobs must be >= 1, got {n_jobs!r}")
    return int(n_jobs)


def _run_local(index: RankIndex, feats: SchoolFeatures, ids, chunks, todo, n_jobs: int):
    """(chunk, result) as chunks complete, ``n_jobs`` threads, BLAS pinned to one thread each."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    def job(c):
        rows = chunks[c]
        return index.rank(feats.take(rows), ids[rows])

    with one_blas_thread():
        if n_jobs == 1:
            for c in todo:
                yield c, job(c)
            return
        ex = ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="matcher-rank")
        try:
            it = iter(todo)
            pending = {}
            for c in it:
                pending[ex.submit(job, c)] = c
                if len(pending) >= 2 * n_jobs:
                    break
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in sorted(done, key=pending.get):
                    c = pending.pop(fut)
                    yield c, fut.result()
                    nxt = next(it, None)
                    if nxt is not None:
                        pending[ex.submit(job, nxt)] = nxt
        finally:
            ex.shutdown(wait=True, cancel_futures=True)


def _dask_rank(index: RankIndex, s: SchoolFeatures, keys) -> ChunkResult:
    """A Dask task: rank one chunk on a worker."""
    return index.rank(s, keys)


def _run_dask(index: RankIndex, feats: SchoolFeatures, ids, chunks, todo, n_jobs: int, client):
    """(chunk, result) as Dask tasks complete on ``client``; the index (model included) is broadcast once."""
    distributed = distributed_module()
    pending: dict = {}
    futures: dict = {}
    try:
        client.run(pin_one_blas_thread)
        idx_f = client.scatter(index, broadcast=True, hash=False)
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        window = 2 * n_workers + 2
        it = iter(todo)
        ac = distributed.as_completed()

        def submit(c):
            rows = chunks[c]
            fut = client.submit(_dask_rank, idx_f, feats.take(rows), list(ids[rows]), pure=False)
            pending[fut.key] = c
            futures[fut.key] = fut
            ac.add(fut)

        for c in it:
            submit(c)
            if len(pending) >= window:
                break
        for fut in ac:
            c = pending.pop(fut.key)
            futures.pop(fut.key, None)
            res = fut.result()
            yield c, res
            nxt = next(it, None)
            if nxt is not None:
                submit(nxt)
    finally:
        if futures:
            with contextlib.suppress(Exception):
                client.cancel(list(futures.values()))
        with contextlib.suppress(Exception):
            client.run(unpin_blas)


def rank_to_file(
    model,
    output,
    *,
    schools=None,
    top: int = 10,
    fmt: str | None = None,
    weights: Mapping[str, float] | None = None,
    include_full: bool = False,
    state=None,
    n_jobs: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    resume: bool = False,
    backend: str = "local",
    scheduler=None,
    progress=None,
) -> RankSummary:
    """Rank partners for every school and write one row per (school, rank) to ``output``.

    The rows are exactly what ``matcher recommend --school`` gives for each school
    (same partners, order and scores), sorted by school id, then rank. Columns:
    :data:`COLUMNS` -- ``school_id, school_name, rank, partner_id, partner_name,
    score``, the weighted contribution of each block (``contrib_text``,
    ``contrib_categories``, ``contrib_grades``, ``contrib_geo``,
    ``contrib_partner_type``; they add up to the score, as ``recommend``'s
    ``components``) and ``distance_km`` (empty / null when a location is unknown).
    CSV and JSON Lines print scores and contributions with 6 decimals and
    distances with 2 (as ``recommend`` does); parquet keeps full precision
    (float64, as computed).

    The output appears atomically when the run completes. Completed chunks are
    kept in ``OUTPUT.parts/`` (one file per chunk, written atomically, and a
    manifest of the run's parameters, model and data digests) until then, so an
    interrupted run (Ctrl-C, kill, crash) can be continued with ``resume=True``;
    the result is byte-identical to an uninterrupted run. Resuming with another
    model, other schools, weights, top, chunk size or outreach state is refused.
    Memory grows with ``chunk_size`` and ``n_jobs``, not with schools x partners
    (the finished rows, ~50 bytes each, are gathered once at the end to sort them).

    Parameters
    ----------
    model : PartnerMatcher or str or path
        A fitted model, or a model file (loaded and checked with
        :func:`matcher.persistence.load_model`).
    output : str or path
        File to write.
    schools : str, path or DataFrame, optional
        Schools to rank (a schools.csv, see :func:`school_features`); default:
        every school the model was trained on.
    top : int, default 10
    fmt : {"csv", "jsonl", "parquet"}, optional
        Default: from the output's extension (``.jsonl``, ``.parquet``), else csv.
        Parquet needs pyarrow (``pip install 'matcher[parquet]'``).
    weights : mapping, optional
        Block weights overriding the model's.
    include_full : bool, default False
        Also suggest partners with no capacity left.
    state : matcher.state.Constraints, optional
        Outreach state, respected as ``recommend`` does.
    n_jobs : int, optional
        Worker threads (local) or Dask workers of a local cluster; default one per CPU.
    chunk_size : int, default 256
        Schools per chunk: the unit of work, memory and resumption.
    resume : bool, default False
        Continue from the completed chunks of an interrupted run.
    backend : {"local", "dask"}
        ``dask`` runs chunks as Dask tasks (``pip install 'matcher[dask]'``).
    scheduler : str or distributed.Client, optional
        For ``dask``: a scheduler address (``tcp://host:port``), a Client, or
        ``"local"``/None for an in-process cluster of ``n_jobs`` workers.
    progress : callable, optional
        Called once with the number of schools to rank; may return a function
        that is then called with the number of schools done each time a chunk
        completes (e.g. a click progress bar's ``update``).

    Returns
    -------
    RankSummary

    Raises
    ------
    MatcherError
        Bad options, missing optional dependency, a resume that does not match,
        another run writing the same output.
    """
    import time

    from matcher import __version__
    from matcher.errors import MatcherError
    from matcher.model import check_n

    t0 = time.perf_counter()
    check_n(top)
    if not isinstance(chunk_size, (int, np.integer)) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise MatcherError(f"chunk_size must be a whole number >= 1, got {chunk_size!r}")
    n_jobs = _n_jobs(n_jobs)
    fmt = format_of(output, fmt)
    if backend not in ("local", "dask"):
        raise MatcherError(f"unknown backend {backend!r} (backends are: local, dask)")
    if backend == "dask":
        distributed_module()
    with contextlib.ExitStack() as stack:
        if backend == "dask":  # one client for encoding new schools and for ranking
            scheduler = stack.enter_context(dask_client(scheduler, n_jobs))
        if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
            from matcher.persistence import load_model, read_metadata

            model_sha = read_metadata(model)["model_sha256"]
            model = load_model(model)
        else:
            model.check_fitted()
            model_sha = model_fingerprint(model)
        scorer = model.scorer(weights)
        if schools is None:
            ids, feats = np.asarray(model.school_ids_, dtype=object), model.schools_
            names = np.asarray(model.school_names_, dtype=object)
            schools_sha = "model"
        else:
            ids, names, feats = school_features(model, schools, client=scheduler if backend == "dask" else None)
            schools_sha = sha256_arrays(ids, *(getattr(feats, f) for f in feats.__dataclass_fields__))
        chunks = plan_chunks(feats, int(chunk_size))
        manifest = {
            "parts_version": PARTS_VERSION,
            "matcher": __version__,
            "model_sha256": model_sha,
            "schools_sha256": schools_sha,
            "state_sha256": state_digest(state),
            "plan_sha256": sha256_arrays(np.array([len(c) for c in chunks]), *chunks),
            "weights": {k: float(v) for k, v in sorted(scorer.weights.items())},
            "settings": [scorer.geo_length_km, scorer.default_radius_km, scorer.remote_credit, scorer.local_credit,
                         scorer.relevance_gate],
            "top": int(top),
            "include_full": bool(include_full),
            "chunk_size": int(chunk_size),
            "n_schools": int(len(ids)),
            "n_chunks": len(chunks),
        }
        with Parts(output) as parts:
            done = parts.start(manifest, resume, chunks)
            update = progress(len(ids)) if progress is not None else None
            if update is not None and done:
                update(int(sum(len(chunks[c]) for c in done)))
            todo = [c for c in range(len(chunks)) if c not in done]
            n_cand = n_exact = n_ranked = 0
            if todo:
                with one_blas_thread():
                    index = RankIndex(model, scorer, int(top), include_full, state)
                if backend == "dask":
                    runner = _run_dask(index, feats, ids, chunks, todo, n_jobs, scheduler)
                else:
                    runner = _run_local(index, feats, ids, chunks, todo, n_jobs)
                try:
                    for c, res in runner:
                        parts.write(c, to_part(chunks[c], res))
                        n_cand += res.n_candidates
                        n_exact += res.n_exact
                        n_ranked += len(chunks[c])
                        if update is not None:
                            update(len(chunks[c]))
                finally:
                    runner.close()
            rows = parts.read_all(len(chunks))
            rows = rows[np.argsort(rows["school"], kind="stable")]
            write_output(output, fmt, rows, (ids, names),
                         (np.asarray(model.partner_ids_, dtype=object), np.asarray(model.partner_names_, dtype=object)),
                         parts.dir)
            parts.remove(len(chunks))
        return RankSummary(
            output=str(output),
            format=fmt,
            n_schools=int(len(ids)),
            n_rows=int(len(rows)),
            top=int(top),
            n_chunks=len(chunks),
            chunks_resumed=len(done),
            seconds=time.perf_counter() - t0,
            candidates_per_school=n_cand / max(n_ranked, 1),
            exact_per_school=n_exact / max(n_ranked, 1),
        )
