#!/usr/bin/env python
"""Benchmark ``matcher rank`` (exact top-K for every school) against a text-only reference.

For each size (schools x partners) this script

1. generates data with ``matcher generate`` (cached in ``--workdir``);
2. trains a model with ``matcher train --encoder static`` (cached): the WordLlama
   static encoder (256-d) embeds the 230k texts in about a minute, where the
   default MiniLM encoder (384-d) needs ~1 h at 130k x 100k on 2 cores. The model
   is otherwise the full one: every block (text, categories, grades, geo,
   partner type), every hard constraint (grades, service radius, capacity).
   The cost of ranking depends on the embeddings only through their dimension
   and how well the score bound prunes; measured on 2,000 schools x 30,000
   partners trained both ways, the pairs scored exactly per school were 85
   (static) and 90 (MiniLM) of 12,690 candidates, and MiniLM's 384-d ranking
   took ~14 % longer (0.50 s against 0.44 s);
3. runs the **reference** in a fresh process: TF-IDF of needs and offerings
   (sklearn ``TfidfVectorizer``, fitted on both) and ``sparse_dot_topn``'s
   ``sp_matmul_topn`` top-10 over all pairs with ``n_threads=2`` -- the text
   block only, no constraints, no output file. The generated texts share many
   words, so this product is much denser (slower) than the synthetic TF-IDF of
   ``shared/PERF_NOTES.md`` (20k terms, ~30 a row, Zipf); that one is run too
   (top-n time only) as a second, harder reference;
4. runs ``matcher rank --top 10 --quiet`` (or, before the command is wired,
   ``matcher.batch.rank_to_file`` with the same arguments) in a fresh process:
   load the model, rank every school exactly, write the CSV atomically.

Times are wall clock of the whole process; peak RSS is the child's maxrss
(``os.wait4``); pairs/s = schools x partners / wall. The machine may be shared:
the 1-minute load average before each run is printed, and each process's CPU
time too.

Data made outside the project (``--data DIR``, a folder with ``schools.csv`` and
``partners.csv``) is ranked the same way, e.g. the US-wide scale data with a
quarter of partners remote and a Zipf vocabulary::

    python ../shared/scale/make_scale_data.py 130000 100000 /tmp/scale130k
    python scripts/bench_rank.py --data /tmp/scale130k

``--default-radius KM`` ranks with another default service radius for partners
that give none (a query-time setting, as ``--weight default_radius_km=KM``);
``--default-radius 20000`` is the old "no limit" behaviour, to see what service
areas do to the speed.

Usage::

    python scripts/bench_rank.py              # 10k x 10k, 50k x 50k, 130k x 100k
    python scripts/bench_rank.py --quick      # 10k x 10k only
    python scripts/bench_rank.py --sizes 130k --n-jobs 2 --repeat 2
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = {"10k": (10_000, 10_000), "50k": (50_000, 50_000), "130k": (130_000, 100_000)}
PY = sys.executable

REFERENCE = r"""
import sys, time, json
import numpy as np, pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sparse_dot_topn import sp_matmul_topn
t0 = time.perf_counter()
s = pd.read_csv(sys.argv[1], usecols=["needs"], dtype=str, keep_default_na=False)["needs"]
p = pd.read_csv(sys.argv[2], usecols=["offerings"], dtype=str, keep_default_na=False)["offerings"]
t1 = time.perf_counter()
vec = TfidfVectorizer(dtype=np.float32).fit(pd.concat([s, p]))
A, B = vec.transform(s), vec.transform(p)
t2 = time.perf_counter()
C = sp_matmul_topn(A, B.T.tocsr(), top_n=int(sys.argv[3]), n_threads=2, sort=True)
t3 = time.perf_counter()
print(json.dumps({"read": t1 - t0, "tfidf": t2 - t1, "topn": t3 - t2, "nnz": int(C.nnz), "vocab": len(vec.vocabulary_)}))
"""

SYNTHETIC = r"""
import sys, time, json
import numpy as np
import scipy.sparse as sp
from sparse_dot_topn import sp_matmul_topn
# PERF_NOTES' setup: 20k-term vocabulary, ~30 non-zeros a row, Zipf-distributed terms, float32;
# the Zipf offset (60) is calibrated so that 50k x 50k takes ~4.2 s here, as PERF_NOTES measured.
def tfidf(n, rng, vocab=20_000, nnz=30):
    p = 1.0 / (np.arange(vocab) + 60.0)
    p /= p.sum()
    cols = rng.choice(vocab, size=(n, nnz), p=p)
    vals = rng.lognormal(size=(n, nnz)).astype(np.float32)
    m = sp.csr_matrix((vals.ravel(), cols.ravel().astype(np.int32), np.arange(0, n * nnz + 1, nnz)), shape=(n, vocab))
    m.sum_duplicates()
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    return (sp.diags(1 / np.maximum(norms, 1e-12)).astype(np.float32) @ m).tocsr()
rng = np.random.default_rng(0)
t0 = time.perf_counter()
A, B = tfidf(int(sys.argv[1]), rng), tfidf(int(sys.argv[2]), rng)
t1 = time.perf_counter()
C = sp_matmul_topn(A, B.T.tocsr(), top_n=int(sys.argv[3]), n_threads=2, sort=True)
t2 = time.perf_counter()
print(json.dumps({"read": 0.0, "tfidf": t1 - t0, "topn": t2 - t1, "nnz": int(C.nnz)}))
"""

RANK = r"""
import sys, json
from matcher.batch import rank_to_file
s = rank_to_file(sys.argv[1], sys.argv[2], top=int(sys.argv[3]), n_jobs=int(sys.argv[4]))
print(json.dumps({"candidates_per_school": s.candidates_per_school, "exact_per_school": s.exact_per_school,
                  "rows": s.n_rows, "seconds": s.seconds}))
"""


def run(cmd: list[str], env=None) -> dict:
    """Run a process; wall time, peak RSS (MiB), CPU seconds and its stdout."""
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        sys.stderr.write(err.decode(errors="replace"))
        raise SystemExit(f"failed ({status}): {' '.join(cmd)}")
    return {
        "wall": wall,
        "rss_mib": usage.ru_maxrss / 1024,
        "cpu": usage.ru_utime + usage.ru_stime,
        "load": load,
        "stdout": out.decode(errors="replace"),
    }


def _rows(path: Path) -> int:
    import pandas as pd

    return len(pd.read_csv(path, usecols=[0], dtype=str))


def has_rank_command() -> bool:
    r = subprocess.run([PY, "-m", "matcher", "rank", "--help"], capture_output=True)
    return r.returncode == 0


def prepare(label: str, workdir: Path, seed: int, encoder: str, data: Path | None = None) -> tuple[Path, Path]:
    if data is None:
        data = workdir / f"data-{label}-{seed}"
    if not (data / "partners.csv").exists():
        n_s, n_p = SIZES[label]
        print(f"  generating {n_s:,} schools x {n_p:,} partners ...", flush=True)
        subprocess.run([PY, "-m", "matcher", "generate", "--schools", str(n_s), "--partners", str(n_p),
                        "--seed", str(seed), "--out", str(data)], check=True, stdout=subprocess.DEVNULL)
    model = (workdir / f"model-{label}-{encoder}.joblib") if label not in SIZES else data / f"model-{encoder}.joblib"
    if not model.exists():
        print(f"  training ({encoder} encoder) ...", flush=True)
        t = time.perf_counter()
        subprocess.run([PY, "-m", "matcher", "train", "--schools", str(data / "schools.csv"),
                        "--partners", str(data / "partners.csv"), "--encoder", encoder, "--model", str(model)],
                       check=True, stdout=subprocess.DEVNULL)
        print(f"  trained in {time.perf_counter() - t:.0f} s", flush=True)
    return data, model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10k,50k,130k", help="comma-separated: " + ", ".join(SIZES))
    ap.add_argument("--quick", action="store_true", help="10k x 10k only")
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "matcher-bench-rank"),
                    help="cache for generated data and models")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--encoder", default="static", help="encoder for training (static: fast; minilm: ~1 h at 130k)")
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1, help="runs of each; the best is reported")
    ap.add_argument("--no-synthetic", dest="synthetic", action="store_false",
                    help="skip the second reference: sp_matmul_topn on synthetic TF-IDF as in PERF_NOTES")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--data", type=Path, help="rank this folder's schools.csv and partners.csv instead of generated data")
    ap.add_argument("--default-radius", type=float, help="default service radius (km) at query time")
    args = ap.parse_args()
    labels = ["10k"] if args.quick else [s.strip() for s in args.sizes.split(",") if s.strip()]
    if args.data is not None:
        labels = [args.data.name]
    for lab in labels:
        if lab not in SIZES and args.data is None:
            raise SystemExit(f"unknown size {lab!r}: use {', '.join(SIZES)}")
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cli = has_rank_command()
    print(f"matcher rank via {'the CLI' if cli else 'matcher.batch.rank_to_file (no `matcher rank` command yet)'}; "
          f"{os.cpu_count()} CPUs; n_jobs={args.n_jobs}; top {args.top}")
    results = []
    for lab in labels:
        data, model = prepare(lab, workdir, args.seed, args.encoder, args.data)
        n_s, n_p = (_rows(data / "schools.csv"), _rows(data / "partners.csv")) if args.data else SIZES[lab]
        print(f"{lab}: {n_s:,} schools x {n_p:,} partners", flush=True)
        out = workdir / f"ranked-{lab}.csv"
        best_ref = best_rank = None
        for _ in range(args.repeat):
            ref = run([PY, "-c", REFERENCE, str(data / "schools.csv"), str(data / "partners.csv"), str(args.top)])
            ref.update(json.loads(ref.pop("stdout").strip().splitlines()[-1]))
            if args.synthetic:
                syn = run([PY, "-c", SYNTHETIC, str(n_s), str(n_p), str(args.top)])
                syn.update(json.loads(syn.pop("stdout").strip().splitlines()[-1]))
                ref["syn_topn"] = syn["topn"]
                ref["syn_rss_mib"] = syn["rss_mib"]
            if cli:
                cmd = [PY, "-m", "matcher", "rank", "--model", str(model), "--output", str(out), "--top",
                       str(args.top), "--n-jobs", str(args.n_jobs), "--quiet"]
                if args.default_radius is not None:
                    cmd += ["--weight", f"default_radius_km={args.default_radius:g}"]
            else:
                cmd = [PY, "-c", RANK, str(model), str(out), str(args.top), str(args.n_jobs)]
            shutil.rmtree(str(out) + ".parts", ignore_errors=True)
            rk = run(cmd)
            stdout = rk.pop("stdout").strip().splitlines()
            if not cli and stdout:
                rk.update(json.loads(stdout[-1]))
            best_ref = ref if best_ref is None or ref["wall"] < best_ref["wall"] else best_ref
            best_rank = rk if best_rank is None or rk["wall"] < best_rank["wall"] else best_rank
        pairs = n_s * n_p
        row = {
            "size": lab, "schools": n_s, "partners": n_p,
            "rank_wall": best_rank["wall"], "rank_rss_mib": best_rank["rss_mib"], "rank_cpu": best_rank["cpu"],
            "rank_load": best_rank["load"], "pairs_per_s": pairs / best_rank["wall"],
            "ref_wall": best_ref["wall"], "ref_topn": best_ref["topn"], "ref_tfidf": best_ref["tfidf"],
            "ref_rss_mib": best_ref["rss_mib"], "ref_load": best_ref["load"],
            "ratio": best_rank["wall"] / best_ref["wall"],
            "syn_topn": best_ref.get("syn_topn"),
            "ratio_syn": best_rank["wall"] / best_ref["syn_topn"] if best_ref.get("syn_topn") else None,
            "candidates_per_school": best_rank.get("candidates_per_school"),
            "exact_per_school": best_rank.get("exact_per_school"),
        }
        results.append(row)
        extra = ""
        if row["exact_per_school"] is not None:
            extra = (f"; candidates/school {row['candidates_per_school']:,.0f}, "
                     f"scored exactly {row['exact_per_school']:,.0f}")
        print(f"  reference: {row['ref_wall']:.1f} s wall (tf-idf {row['ref_tfidf']:.1f} s, top-n {row['ref_topn']:.1f} s), "
              f"{row['ref_rss_mib']:,.0f} MiB, load {row['ref_load']:.1f}")
        print(f"  matcher rank: {row['rank_wall']:.1f} s wall ({row['rank_cpu']:.1f} s CPU), "
              f"{row['rank_rss_mib']:,.0f} MiB peak RSS, {row['pairs_per_s'] / 1e6:,.0f} M pairs/s, "
              f"load {row['rank_load']:.1f}{extra}")
        if row["syn_topn"]:
            print(f"  synthetic reference (PERF_NOTES' TF-IDF, top-n only): {row['syn_topn']:.1f} s")
        print(f"  ratio to reference: {row['ratio']:.2f}x" + (
            f"; to the synthetic reference: {row['ratio_syn']:.2f}x" if row["ratio_syn"] else ""), flush=True)
    print()
    print(f"{'size':>6} {'rank s':>8} {'RSS MiB':>8} {'Mpairs/s':>9} {'ref s':>7} {'ratio':>6} {'syn s':>6} {'ratio':>6}")
    for r in results:
        syn = f"{r['syn_topn']:>6.1f} {r['ratio_syn']:>6.2f}" if r["syn_topn"] else ""
        print(f"{r['size']:>6} {r['rank_wall']:>8.1f} {r['rank_rss_mib']:>8.0f} {r['pairs_per_s'] / 1e6:>9.0f} "
              f"{r['ref_wall']:>7.1f} {r['ratio']:>6.2f} {syn}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
