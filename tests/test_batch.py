"""Batch ranking (matcher.batch): exact equality with recommend/rank_chunk, files, resume, Dask."""
from __future__ import annotations

import copy
import io
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import matcher.batch as batch
import matcher.batch.output as batch_output
import matcher.batch.parts as batch_parts
from matcher.batch import COLUMNS, RankIndex, plan_chunks, rank_block, rank_to_file, school_features
from matcher.config import BLOCKS
from matcher.errors import MatcherError
from matcher.features import (
    CATEGORY_SCALE,
    TEXT_SCALE,
    BlockSettings,
    PartnerFeatures,
    SchoolFeatures,
    block_matrices,
    in_person_share,
    need_weights,
    pair_allowed,
    pair_best_sentence_dots,
    pair_blocks,
    pair_distance_km,
    quantize,
)
from matcher.ranking import rank_chunk
from matcher.state import Constraints

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def gen(gen_dir, gen_model_file, gen_model):
    """The shared generated dataset and the model trained on it (default encoder)."""
    return {"dir": gen_dir, "model_path": gen_model_file, "model": gen_model}


@pytest.fixture(scope="session")
def reference_csv(gen, tmp_path_factory):
    """An uninterrupted run's output (top 5, small chunks so there are many)."""
    out = tmp_path_factory.mktemp("ref") / "ranked.csv"
    rank_to_file(gen["model_path"], out, top=5, chunk_size=8, n_jobs=1)
    return out.read_bytes()


def _read(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"school_id": str, "partner_id": str}, keep_default_na=False)


def _random_model(base, n_s: int, n_p: int, seed: int, d: int = 48):
    """The fitted model with random (quantized) features: bigger, and every edge case present."""
    rng = np.random.default_rng(seed)
    m = copy.copy(base)
    n_cat = base.schools_.categories.shape[1]
    n_types = len(base.featurizer_.partner_type_slugs)
    centres = rng.normal(size=(12, d))

    def text(n):
        x = centres[rng.integers(0, 12, n)] + rng.normal(scale=0.9, size=(n, d))
        return quantize(x / np.linalg.norm(x, axis=1, keepdims=True), TEXT_SCALE)

    def cats(n):
        c = np.where(rng.random((n, n_cat)) < 0.12, rng.random((n, n_cat)), 0.0)
        c[rng.random(n) < 0.05] = 0.0  # no category at all
        return quantize(c, CATEGORY_SCALE)

    def grades(n):
        lo = rng.integers(0, 14, n)
        hi = np.minimum(13, lo + rng.integers(0, 8, n))
        g = np.array([sum(1 << b for b in range(a, z + 1)) for a, z in zip(lo, hi)], dtype=np.int32)
        g[rng.random(n) < 0.1] = 0
        return g

    def where(n, nan_share):
        metro = np.array([[40.7, -74.0], [34.0, -118.2], [41.9, -87.6], [29.8, -95.4]])[rng.integers(0, 4, n)]
        loc = metro + rng.normal(scale=0.35, size=(n, 2))
        loc[rng.random(n) < nan_share] = np.nan
        return loc[:, 0].copy(), loc[:, 1].copy()

    s_lat, s_lon = where(n_s, 0.04)
    p_lat, p_lon = where(n_p, 0.03)
    radius = rng.choice([5.0, 10.0, 25.0, 60.0, np.nan], n_p, p=[0.15, 0.3, 0.25, 0.15, 0.15])
    capacity = rng.choice([0.0, 1.0, 3.0, np.inf], n_p, p=[0.08, 0.3, 0.5, 0.12])
    type_code = rng.integers(-1, n_types, n_p).astype(np.int32)
    prefs = np.where(rng.random(n_s) < 0.3, rng.integers(1, 1 << n_types, n_s), 0).astype(np.int32)
    s_cats = cats(n_s)
    weights = need_weights(s_cats)
    in_person = m.featurizer_.in_person
    m.schools_ = SchoolFeatures(text(n_s), s_cats, weights, in_person_share(weights, in_person), grades(n_s),
                                s_lat, s_lon, prefs)
    count = np.where(rng.random(n_p) < 0.4, rng.integers(2, 5, n_p), 0).astype(np.int32)
    start = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
    m.partners_ = PartnerFeatures(
        text(n_p), text(int(count.sum())), start, count, cats(n_p), grades(n_p), p_lat, p_lon, type_code, radius,
        rng.random(n_p) < 0.15, capacity, rng.normal(scale=0.03, size=n_p), rng.normal(scale=0.05, size=n_p),
    )
    m.school_ids_ = np.array([f"S{i:05d}" for i in range(n_s)], dtype=object)
    m.partner_ids_ = np.array([f"P{i:05d}" for i in range(n_p)], dtype=object)
    m._index = {}
    return m


def _chunk(m, s, k, scorer, include_full=False, ids=None, state=None):
    """rank_chunk over the model's partners with outreach state (what recommend does)."""
    mask = m.state_mask(ids if ids is not None else [None] * len(s), state, include_full)
    return rank_chunk(scorer, s, m.partners_, k, include_full, mask)


def _assert_same(got, want):
    assert len(got) == len(want)
    for (c1, s1, b1, d1), (c2, s2, b2, d2) in zip(got, want):
        assert np.array_equal(c1, c2)
        assert np.array_equal(s1, s2)  # bit for bit
        assert np.array_equal(d1, d2, equal_nan=True)
        assert set(b1) == set(b2)
        for b in b2:
            assert np.array_equal(b1[b], b2[b])


def _random_state(model, seed: int) -> Constraints:
    rng = np.random.default_rng(seed)
    sids, pids = model.school_ids_, model.partner_ids_
    status, excluded, used = {}, set(), {}
    for _ in range(6 * len(sids)):
        pair = (sids[rng.integers(len(sids))], pids[rng.integers(len(pids))])
        st = rng.choice(["contacted", "declined", "partnered", "do_not_contact"])
        status[pair] = st
        if st in ("declined", "do_not_contact") or (st == "partnered" and rng.random() < 0.5):
            excluded.add(pair)
        if st == "partnered":
            used[pair[1]] = used.get(pair[1], 0) + 1
    return Constraints(excluded=excluded, used_capacity=used, status=status)


# --------------------------------------------------------------------------- pair functions


def test_pair_blocks_equal_the_matrix_blocks_bit_for_bit(gen):
    m = _random_model(gen["model"], 300, 500, seed=1)
    s, p = m.schools_, m.partners_
    settings = BlockSettings(25.0, 30.0, 0.25, 0.5)
    sims, known, dist, ok = block_matrices(s, p, settings)
    i, j = np.divmod(np.arange(len(s) * len(p)), len(p))
    whole = np.einsum("ij,ij->i", s.text[i], p.text[j])
    best = pair_best_sentence_dots(s.text, p, i, j, whole)
    covered = np.einsum("ij,ij->i", s.weights[i], p.categories[j])
    pp = p.take(j)
    pdist = pair_distance_km(s.lat[i], s.lon[i], pp.lat, pp.lon)
    psims, pknown = pair_blocks(settings, whole, best, covered, s.weights.sum(axis=1)[i], pdist, s.grades[i],
                                s.in_person[i], s.preferred_types[i], pp)
    for b in BLOCKS:
        assert psims[b].dtype == sims[b].dtype
        assert np.array_equal(psims[b], sims[b].ravel()), b
        assert np.array_equal(pknown[b], known[b].ravel()), b
    assert np.array_equal(pdist, dist.ravel(), equal_nan=True)
    assert np.array_equal(pair_allowed(settings, pdist, s.grades[i], pp), ok.ravel())


# --------------------------------------------------------------------------- exactness


@pytest.mark.parametrize("k", [1, 4, 15])
@pytest.mark.parametrize(
    "weights",
    [None, {"text": 1, "categories": 0, "grades": 0, "geo": 0, "partner_type": 0},
     {"text": 0.2, "geo": 2.0, "geo_length_km": 5.0}, {"text": 0, "categories": 1}, {b: 1 for b in BLOCKS}],
)
def test_rank_block_equals_rank_chunk_on_random_features(gen, k, weights):
    m = _random_model(gen["model"], 700, 1500, seed=k)
    w = m.scorer(weights)
    index = RankIndex(m, w, k)
    pruned = False
    for rows in plan_chunks(m.schools_, 128):
        s = m.schools_.take(rows)
        res = index.rank(s)
        _assert_same(res.as_rank_chunk(), _chunk(m, s, k, w))
        pruned |= res.n_exact < res.n_candidates / 3
        assert res.n_candidates < len(s) * len(m.partners_)  # geographic blocking at work
    if weights is None or (weights.get("text", 1) > 0):
        assert pruned, "the bound should prune most candidates"


@pytest.mark.parametrize("include_full", [False, True])
def test_outreach_state_and_full_partners_as_rank_chunk(gen, include_full):
    m = _random_model(gen["model"], 400, 900, seed=5)
    state = _random_state(m, seed=6)
    w = m.scorer()
    index = RankIndex(m, w, 6, include_full=include_full, state=state)
    for rows in plan_chunks(m.schools_, 100):
        ids = list(m.school_ids_[rows])
        s = m.schools_.take(rows)
        got = index.rank(s, ids).as_rank_chunk()
        _assert_same(got, _chunk(m, s, 6, w, include_full, ids, state))


@pytest.mark.parametrize("settings", [{"remote_credit": 0.45}, {"default_radius_km": 12.0}, {"relevance_gate": 0.2},
                                      {"local_credit": 0.8}])
def test_follows_the_scoring_settings(gen, settings):
    m = _random_model(gen["model"], 300, 800, seed=12)
    w = m.scorer({"geo": 0.5}).with_settings(**settings)
    index = RankIndex(m, w, 5)
    for rows in plan_chunks(m.schools_, 100):
        s = m.schools_.take(rows)
        _assert_same(index.rank(s).as_rank_chunk(), _chunk(m, s, 5, w))


def test_rank_block_on_unplanned_rows_and_ad_hoc_needs(gen):
    m = _random_model(gen["model"], 300, 800, seed=9)
    w = m.scorer()
    rows = np.random.default_rng(0).choice(300, 90, replace=False)  # scattered, some unknown locations
    s = m.schools_.take(rows)
    _assert_same(rank_block(m, s, 7, w), _chunk(m, s, 7, w))
    one = m.schools_.take([3])
    _assert_same(rank_block(m, one, 3, w), _chunk(m, one, 3, w))


def test_more_results_than_partners_and_wide_k(gen):
    m = gen["model"]
    w = m.scorer()
    for k in (50, 500):
        _assert_same(rank_block(m, m.schools_, k, w), _chunk(m, m.schools_, k, w))


# --------------------------------------------------------------------------- the file


def test_rank_equals_recommend_for_every_school(gen, tmp_path):
    m = gen["model"]
    out = tmp_path / "ranked.csv"
    summary = rank_to_file(gen["model_path"], out, top=10, n_jobs=2, chunk_size=16)
    df = _read(out)
    assert tuple(df.columns) == COLUMNS
    assert summary.n_rows == len(df) and summary.n_schools == len(m.school_ids_)
    assert list(dict.fromkeys(df["school_id"])) == sorted(m.school_ids_)
    for sid, got in df.groupby("school_id", sort=False):
        want = [r.to_dict() for r in m.recommend(sid, n=10)]
        assert got["partner_id"].tolist() == [r["partner_id"] for r in want]
        assert got["rank"].tolist() == [r["rank"] for r in want]
        for (_, row), r in zip(got.iterrows(), want):
            assert row["score"] == r["score"]
            for b in BLOCKS:
                assert row[f"contrib_{b}"] == r["components"][b]
            if r["distance_km"] is None:
                assert row["distance_km"] == ""
            else:
                assert float(row["distance_km"]) == r["distance_km"]


def test_hard_constraints_never_violated(gen, tmp_path):
    m = gen["model"]
    out = tmp_path / "ranked.csv"
    rank_to_file(m, out, top=20, n_jobs=1)
    df = _read(out)
    si = np.array([m.school_row(x) for x in df["school_id"]])
    pj = np.array([m.partner_row(x) for x in df["partner_id"]])
    s, p = m.schools_.take(si), m.partners_.take(pj)
    dist = pair_distance_km(s.lat, s.lon, p.lat, p.lon)
    assert pair_allowed(m.scorer().block_settings, dist, s.grades, p).all()
    assert (p.capacity > 0).all()


def test_deterministic_whatever_the_chunks_and_threads(gen, tmp_path, reference_csv):
    for i, (chunk, jobs) in enumerate([(8, 1), (3, 3), (256, 2), (1, 1)]):
        out = tmp_path / f"r{i}.csv"
        rank_to_file(gen["model_path"], out, top=5, chunk_size=chunk, n_jobs=jobs)
        assert out.read_bytes() == reference_csv


def test_schools_file_with_new_schools(gen, tmp_path):
    m = gen["model"]
    schools = pd.read_csv(gen["dir"] / "schools.csv", dtype=str, keep_default_na=False)
    known = schools.iloc[:12].copy()
    new = schools.iloc[12:18].copy()
    new["school_id"] = [f"NEW{i}" for i in range(len(new))]
    new.loc[new.index[0], "needs"] = "Our students need tutors in math and reading after school."
    new.loc[new.index[1], "latitude"] = ""
    new.loc[new.index[1], "longitude"] = ""
    table = pd.concat([known, new])
    path = tmp_path / "schools.csv"
    table.to_csv(path, index=False)
    out = tmp_path / "ranked.csv"
    rank_to_file(m, out, schools=path, top=6, n_jobs=1)
    df = _read(out)
    assert set(df["school_id"]) <= set(table["school_id"])
    for sid in known["school_id"]:  # known schools, unchanged: exactly what recommend gives
        want = m.recommend(sid, n=6)
        assert df[df.school_id == sid]["partner_id"].tolist() == [r.id for r in want]
    ids, _names, feats = school_features(m, path)
    expected = _chunk(m, feats, 6, m.scorer(), ids=list(ids))
    for sid, (cols, scores, _, _) in zip(ids, expected):
        got = df[df.school_id == sid]
        assert got["partner_id"].tolist() == [m.partner_ids_[c] for c in cols]
        assert got["score"].tolist() == [round(float(x), 6) for x in scores]
    # a new school's features are those recommend would compute for its need
    row = list(ids).index("NEW0")
    need = m.need_features("Our students need tutors in math and reading after school.")
    assert np.abs(feats.text[row] - need.text[0]).max() <= 1 / TEXT_SCALE


def test_shuffled_schools_file_gives_the_same_bytes(gen, tmp_path):
    schools = pd.read_csv(gen["dir"] / "schools.csv", dtype=str, keep_default_na=False)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    schools.to_csv(a, index=False)
    schools.sample(frac=1.0, random_state=3).to_csv(b, index=False)
    rank_to_file(gen["model"], tmp_path / "ra.csv", schools=a, top=4, n_jobs=1)
    rank_to_file(gen["model"], tmp_path / "rb.csv", schools=b, top=4, n_jobs=2, chunk_size=5)
    assert (tmp_path / "ra.csv").read_bytes() == (tmp_path / "rb.csv").read_bytes()


def test_outreach_state_respected_like_recommend(gen, tmp_path):
    from matcher.state import OutreachStore

    m = gen["model"]
    store = OutreachStore(tmp_path / "outreach.db")
    first = {r.id for r in m.recommend(m.school_ids_[0], n=3)}
    for pid in sorted(first)[:2]:
        store.record(m.school_ids_[0], pid, "do_not_contact")
    top1 = m.recommend(m.school_ids_[1], n=1)[0].id
    store.record(m.school_ids_[1], top1, "partnered")
    store.record(m.school_ids_[2], m.recommend(m.school_ids_[2], n=1)[0].id, "declined")
    for include_current in (False, True):
        state = store.constraints(include_current=include_current)
        out = tmp_path / f"ranked-{include_current}.csv"
        rank_to_file(m, out, top=5, state=state, n_jobs=2, chunk_size=7)
        df = _read(out)
        for sid in m.school_ids_:
            want = [r.id for r in m.recommend(sid, n=5, state=state)]
            assert df[df.school_id == sid]["partner_id"].tolist() == want


def test_jsonl_matches_csv(gen, tmp_path, reference_csv):
    out = tmp_path / "ranked.jsonl"
    summary = rank_to_file(gen["model_path"], out, top=5, n_jobs=1)
    assert summary.format == "jsonl"
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    csv_rows = pd.read_csv(io.BytesIO(reference_csv), dtype={"school_id": str, "partner_id": str})
    assert len(rows) == len(csv_rows)
    for r, (_, c) in zip(rows, csv_rows.iterrows()):
        assert list(r) == list(COLUMNS)
        for col in COLUMNS:
            if col == "distance_km" and r[col] is None:
                assert np.isnan(c[col])
            else:
                assert r[col] == c[col], col


def test_parquet_or_a_clear_error(gen, tmp_path, monkeypatch):
    out = tmp_path / "ranked.parquet"
    try:
        import pyarrow.parquet as pq
    except ImportError:
        with pytest.raises(MatcherError, match="pip install pyarrow"):
            rank_to_file(gen["model"], out, top=3)
        return
    rank_to_file(gen["model"], out, top=3, n_jobs=1)
    table = pq.read_table(out).to_pandas()
    assert tuple(table.columns) == COLUMNS
    m = gen["model"]
    for sid in m.school_ids_[:10]:
        want = m.recommend(sid, n=3)
        got = table[table.school_id == sid]
        assert got["partner_id"].tolist() == [r.id for r in want]
        assert got["score"].tolist() == [r.score for r in want]  # full precision in parquet
        assert got["contrib_text"].astype(float).tolist() == [r.components["text"] for r in want]
    again = tmp_path / "again.parquet"
    rank_to_file(gen["model"], again, top=3, n_jobs=2, chunk_size=5)
    assert again.read_bytes() == out.read_bytes()
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if it were not installed
    with pytest.raises(MatcherError, match="pip install pyarrow"):
        rank_to_file(gen["model"], tmp_path / "no.parquet", top=3)


def test_progress_reports_every_school(gen, tmp_path):
    calls = []

    def progress(total):
        calls.append(("total", total))
        return lambda n: calls.append(("done", n))

    rank_to_file(gen["model"], tmp_path / "r.csv", top=2, chunk_size=9, n_jobs=2, progress=progress)
    assert calls[0] == ("total", 60)
    assert sum(n for what, n in calls[1:] if what == "done") == 60


# --------------------------------------------------------------------------- atomic output, resume


class Interrupt(KeyboardInterrupt):
    pass


def _interrupted_run(gen, out, after: int, monkeypatch, **kw):
    """A run that is interrupted (as by Ctrl-C) after ``after`` chunks were written."""
    written = []
    real = batch_parts.Parts.write

    def write(self, c, part):
        if len(written) == after:
            raise Interrupt()
        real(self, c, part)
        written.append(c)

    monkeypatch.setattr(batch_parts.Parts, "write", write)
    with pytest.raises(Interrupt):
        rank_to_file(gen["model_path"], out, **kw)
    monkeypatch.setattr(batch_parts.Parts, "write", real)
    return written


def test_interrupted_run_leaves_no_output_and_resumes_byte_identical(gen, tmp_path, monkeypatch, reference_csv):
    out = tmp_path / "ranked.csv"
    written = _interrupted_run(gen, out, 3, monkeypatch, top=5, chunk_size=8, n_jobs=2)
    assert not out.exists()
    parts = batch.parts_dir(out)
    assert len(list(parts.glob("chunk-*.npy"))) == len(written) == 3
    assert (parts / "manifest.json").exists()
    with pytest.raises(MatcherError, match="`resume=True`"):  # not silently restarted
        rank_to_file(gen["model_path"], out, top=5, chunk_size=8)
    summary = rank_to_file(gen["model_path"], out, top=5, chunk_size=8, n_jobs=1, resume=True)
    assert summary.chunks_resumed == 3
    assert out.read_bytes() == reference_csv
    assert not parts.exists()
    assert list(tmp_path.iterdir()) == [out]  # nothing left beside the output


def test_interrupted_while_writing_the_output(gen, tmp_path, monkeypatch, reference_csv):
    out = tmp_path / "ranked.csv"

    def broken(*args, **kwargs):
        raise Interrupt()

    monkeypatch.setattr(batch_output, "text_block", broken)
    with pytest.raises(Interrupt):
        rank_to_file(gen["model_path"], out, top=5, chunk_size=8)
    assert list(tmp_path.iterdir()) == [batch.parts_dir(out)]
    assert not list(batch.parts_dir(out).glob("*.tmp")) and not list(batch.parts_dir(out).glob(".*.tmp"))
    monkeypatch.undo()
    summary = rank_to_file(gen["model_path"], out, top=5, chunk_size=8, resume=True)
    assert summary.chunks_resumed == summary.n_chunks
    assert out.read_bytes() == reference_csv


@pytest.mark.slow
def test_killed_process_resumes_byte_identical(gen, tmp_path, reference_csv):
    out = tmp_path / "ranked.csv"
    child = textwrap.dedent(
        f"""
        import time
        import matcher.batch as b
        import matcher.batch.parts as bp
        real = bp.Parts.write
        def slow(self, c, part):
            real(self, c, part)
            time.sleep(0.25)
        bp.Parts.write = slow
        b.rank_to_file({str(gen["model_path"])!r}, {str(out)!r}, top=5, chunk_size=8, n_jobs=1)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", child], cwd=ROOT)
    parts = batch.parts_dir(out)
    deadline = time.monotonic() + 120
    while len(list(parts.glob("chunk-*.npy"))) < 2:
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    assert not out.exists()
    done = len(list(parts.glob("chunk-*.npy")))
    summary = rank_to_file(gen["model_path"], out, top=5, chunk_size=8, resume=True)
    assert summary.chunks_resumed == done >= 2
    assert out.read_bytes() == reference_csv


@pytest.mark.parametrize(
    "change, message",
    [({"top": 4}, "top"), ({"chunk_size": 9}, "chunk_size"), ({"weights": {"text": 0.9}}, "weights"),
     ({"include_full": True}, "include_full")],
)
def test_resume_with_other_parameters_is_refused(gen, tmp_path, monkeypatch, change, message):
    out = tmp_path / "ranked.csv"
    _interrupted_run(gen, out, 2, monkeypatch, top=5, chunk_size=8, n_jobs=1)
    kw = {"top": 5, "chunk_size": 8, **change}
    with pytest.raises(MatcherError, match=f"cannot resume.*{message}"):
        rank_to_file(gen["model_path"], out, resume=True, **kw)
    assert not out.exists()


def test_resume_with_another_model_or_schools_is_refused(gen, tmp_path, monkeypatch):
    out = tmp_path / "ranked.csv"
    _interrupted_run(gen, out, 2, monkeypatch, top=5, chunk_size=8, n_jobs=1)
    other = _random_model(gen["model"], 60, 120, seed=3)
    with pytest.raises(MatcherError, match="the model"):
        rank_to_file(other, out, top=5, chunk_size=8, resume=True)
    with pytest.raises(MatcherError, match="the schools"):
        rank_to_file(gen["model_path"], out, schools=gen["dir"] / "schools.csv", top=5, chunk_size=8, resume=True)
    with pytest.raises(MatcherError, match="outreach state"):
        rank_to_file(gen["model_path"], out, top=5, chunk_size=8, resume=True, state=Constraints())


def test_resume_skips_a_corrupt_part(gen, tmp_path, monkeypatch, reference_csv):
    out = tmp_path / "ranked.csv"
    written = _interrupted_run(gen, out, 3, monkeypatch, top=5, chunk_size=8, n_jobs=1)
    parts = batch.parts_dir(out)
    (parts / f"chunk-{written[0]:06d}.npy").write_bytes(b"not a part")
    (parts / ".chunk-000099.npy.abc.tmp").write_bytes(b"left by a killed run")
    summary = rank_to_file(gen["model_path"], out, top=5, chunk_size=8, resume=True)
    assert summary.chunks_resumed == 2
    assert out.read_bytes() == reference_csv


def test_a_second_run_on_the_same_output_is_refused(gen, tmp_path):
    import fcntl

    out = tmp_path / "ranked.csv"
    parts = batch.parts_dir(out)
    parts.mkdir()
    with open(parts / ".lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(MatcherError, match="another"):
            rank_to_file(gen["model"], out, top=2)


def test_bad_options(gen, tmp_path):
    with pytest.raises(MatcherError):
        rank_to_file(gen["model"], tmp_path / "r.csv", top=0)
    with pytest.raises(MatcherError, match="format"):
        rank_to_file(gen["model"], tmp_path / "r.csv", fmt="xlsx")
    with pytest.raises(MatcherError, match="backend"):
        rank_to_file(gen["model"], tmp_path / "r.csv", backend="spark")
    with pytest.raises(MatcherError, match="chunk_size"):
        rank_to_file(gen["model"], tmp_path / "r.csv", chunk_size=0)


# --------------------------------------------------------------------------- dask


def test_dask_missing_gives_a_clear_error(gen, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(MatcherError, match=r'pip install "matcher\[dask\]"'):
        rank_to_file(gen["model"], tmp_path / "r.csv", backend="dask")


@pytest.mark.slow
@pytest.mark.parametrize("processes", [False, True])
def test_dask_equals_local(gen, tmp_path, reference_csv, processes):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=processes, host="127.0.0.1",
                                  protocol="tcp://", dashboard_address=None) as cluster:
        out = tmp_path / "ranked.csv"
        rank_to_file(gen["model_path"], out, top=5, chunk_size=8, backend="dask", scheduler=cluster.scheduler_address)
        assert out.read_bytes() == reference_csv


@pytest.mark.slow
def test_dask_in_process_cluster(gen, tmp_path, reference_csv):
    pytest.importorskip("distributed")
    out = tmp_path / "ranked.csv"
    rank_to_file(gen["model_path"], out, top=5, chunk_size=8, backend="dask", scheduler="local", n_jobs=2)
    assert out.read_bytes() == reference_csv


# --------------------------------------------------------------------------- formatting


@pytest.mark.parametrize("decimals", [2, 6])
def test_fixed_decimals_match_python_format(decimals):
    rng = np.random.default_rng(decimals)
    x = np.concatenate([
        rng.random(5000), rng.random(500) * 20000, [0.0, 1.0, 0.0078125, 0.5, 2.5e-7, 12.345, 1e-9, 0.9999995],
        np.round(rng.random(500), decimals + 1) + 0.5 * 10.0 ** -(decimals + 1),  # near ties
    ])
    mat, start, length = batch_output.fixed_field(x, decimals)
    got = [bytes(mat[i, start[i] : start[i] + length[i]]).decode() for i in range(len(x))]
    assert got == [format(float(v), f".{decimals}f") for v in x]


def test_ids_that_need_quoting(gen, tmp_path):
    m = copy.copy(gen["model"])
    m.school_ids_ = np.array([f'S,{i}"x' if i % 7 == 0 else f"S{i}" for i in range(len(m.school_ids_))],
                             dtype=object)
    out = tmp_path / "q.csv"
    rank_to_file(m, out, top=2, n_jobs=1)
    df = _read(out)
    assert set(df["school_id"]) <= set(m.school_ids_)
    assert 'S,0"x' in set(df["school_id"])
    js = tmp_path / "q.jsonl"
    rank_to_file(m, js, top=2, n_jobs=1)
    assert {json.loads(line)["school_id"] for line in js.read_text().splitlines()} == set(df["school_id"])


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_rows_carry_the_school_and_partner_names(gen, tmp_path, fmt):
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    m = copy.copy(gen["model"])
    odd = ['Oak, "the" school', "Café Ünïcode", "=HYPERLINK(1)", "plain"]  # quoting, UTF-8, a formula start
    m.school_names_ = np.array([odd[i % 4] + f" {i}" for i in range(len(m.school_ids_))], dtype=object)
    m.partner_names_ = np.array([odd[(i + 1) % 4] + f" {i}" for i in range(len(m.partner_ids_))], dtype=object)
    out = tmp_path / f"named.{fmt}"
    rank_to_file(m, out, top=3, n_jobs=1)
    if fmt == "csv":
        df = _read(out)
    elif fmt == "jsonl":
        df = pd.DataFrame([json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()])
    else:
        import pyarrow.parquet as pq

        df = pq.read_table(out).to_pandas()

    def unquote(v: str) -> str:  # a CSV for people neutralises a formula start with a '
        return v[1:] if fmt == "csv" and v.startswith("'=") else v
    assert tuple(df.columns) == COLUMNS and len(df) > 0
    names = dict(zip(m.school_ids_, m.school_names_))
    pnames = dict(zip(m.partner_ids_, m.partner_names_))
    assert [unquote(v) for v in df["school_name"]] == [names[i] for i in df["school_id"]]
    assert [unquote(v) for v in df["partner_name"]] == [pnames[i] for i in df["partner_id"]]


@pytest.mark.slow
def test_new_schools_are_encoded_as_dask_tasks_and_rank_as_locally(gen, tmp_path):
    """--schools with new rows: encoding runs on the Dask workers, and the output equals a local run."""
    distributed = pytest.importorskip("distributed")
    schools = pd.read_csv(gen["dir"] / "schools.csv", dtype=str, keep_default_na=False).head(12)
    schools["school_id"] = [f"NEW{i:03d}" for i in range(len(schools))]
    schools["needs"] = schools["needs"] + " We also want mentors for our new students."
    path = tmp_path / "new_schools.csv"
    schools.to_csv(path, index=False)
    local = tmp_path / "local.csv"
    rank_to_file(gen["model_path"], local, schools=path, top=5, chunk_size=4, n_jobs=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, host="127.0.0.1",
                                  protocol="tcp://", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client, distributed.get_task_stream(client) as stream:
        out = tmp_path / "dask.csv"
        rank_to_file(gen["model_path"], out, schools=path, top=5, chunk_size=4, backend="dask", scheduler=client)
    assert any(t["key"][0].startswith("_encode_batch") if isinstance(t["key"], tuple) else
               str(t["key"]).startswith("_encode_batch") for t in stream.data), "no encoding task ran on Dask"
    assert out.read_bytes() == local.read_bytes()


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_rank_output_gets_the_umask_mode_not_0600(gen, tmp_path, fmt):
    import os
    import stat

    out = tmp_path / f"ranked.{fmt}"
    old = os.umask(0o022)
    try:
        rank_to_file(gen["model_path"], out, top=2, n_jobs=1)
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


def test_resume_ranks_a_bit_flipped_chunk_again(gen, tmp_path, monkeypatch, reference_csv):
    out = tmp_path / "ranked.csv"
    written = _interrupted_run(gen, out, 3, monkeypatch, top=5, chunk_size=8, n_jobs=1)
    parts = batch.parts_dir(out)
    sums = json.loads((parts / "manifest.json").read_text())["chunk_sha256"]
    assert sorted(sums) == sorted(f"{c:06d}" for c in written)  # one sha256 per completed chunk
    victim = parts / f"chunk-{written[1]:06d}.npy"
    data = bytearray(victim.read_bytes())
    data[-3] ^= 0x01  # a flipped bit inside a score: still a valid .npy file
    victim.write_bytes(bytes(data))
    assert np.load(victim).dtype == batch_parts.PART_DTYPE
    summary = rank_to_file(gen["model_path"], out, top=5, chunk_size=8, resume=True)
    assert summary.chunks_resumed == 2
    assert out.read_bytes() == reference_csv
