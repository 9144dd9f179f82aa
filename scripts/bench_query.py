#!/usr/bin/env python
"""Benchmark: train time and single-query latency at 10k schools x 10k partners.

Generates data with ``matcher generate`` (in-process), times ``train_model``
(read + validate + encode + tag + save), loads the model once, then times
many single queries: partners for a known school, schools for a partner, and
partners for an ad-hoc need (which encodes the need text). Prints medians
and p95 in milliseconds.

    python scripts/bench_query.py [--schools 10000] [--partners 10000] [--queries 200]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def _ms(samples: list[float]) -> str:
    a = np.array(samples) * 1000
    return f"median {np.median(a):7.2f} ms   p95 {np.percentile(a, 95):7.2f} ms   (n={len(a)})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schools", type=int, default=10_000)
    ap.add_argument("--partners", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    from matcher.generate import generate, write_dataset
    from matcher.persistence import load_model
    from matcher.training import train_model

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        paths = write_dataset(generate(a.schools, a.partners, seed=a.seed), tmp)
        print(f"generate {a.schools:,} x {a.partners:,}: {time.perf_counter() - t:.1f} s")
        model_path = Path(tmp) / "model.joblib"
        t = time.perf_counter()
        summary = train_model(paths["schools"], paths["partners"], paths["partnerships"], model_path)
        train_s = time.perf_counter() - t
        print(f"train: {train_s:.1f} s wall ({summary.n_schools:,} schools, {summary.n_partners:,} partners, "
              f"model file {model_path.stat().st_size / 2**20:.0f} MiB)")
        t = time.perf_counter()
        model = load_model(model_path)
        print(f"load model: {(time.perf_counter() - t) * 1000:.0f} ms")

        rng = np.random.default_rng(a.seed)
        school_ids = rng.choice(model.school_ids_, size=a.queries)
        partner_ids = rng.choice(model.partner_ids_, size=a.queries)
        needs = rng.choice(model.school_texts_, size=max(20, a.queries // 4))
        model.recommend(school_ids[0])  # warm caches (id index, encoder for needs below)
        model.recommend_for_need(str(needs[0]))
        timings: dict[str, list[float]] = {"school -> top 10 partners": [], "partner -> top 10 schools": [],
                                           "ad-hoc need -> top 10 partners": []}
        for sid in school_ids:
            t = time.perf_counter()
            model.recommend(sid, n=10)
            timings["school -> top 10 partners"].append(time.perf_counter() - t)
        for pid in partner_ids:
            t = time.perf_counter()
            model.recommend_schools(pid, n=10)
            timings["partner -> top 10 schools"].append(time.perf_counter() - t)
        for need in needs:
            t = time.perf_counter()
            model.recommend_for_need(str(need), n=10)
            timings["ad-hoc need -> top 10 partners"].append(time.perf_counter() - t)
        for name, samples in timings.items():
            print(f"{name:<32} {_ms(samples)}")
        print(f"summary: train {train_s:.1f} s; known-school query median "
              f"{statistics.median(timings['school -> top 10 partners']) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
