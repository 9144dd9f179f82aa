#!/usr/bin/env python
"""Benchmark the numpy MiniLM encoder against this machine's matrix-multiply floor.

For ``--n`` deterministic ~40-word English texts it prints:

* texts/s of ``encode`` in batch (float32 compute), the median of ``--repeats`` runs;
* the floor: the machine's sgemm rate measured in the same run with numpy
  matmul at the encoder's shapes, divided by the encoder's matmul FLOPs per
  text for the actual token lengths, where per layer
  ``2*L*H*3H (QKV) + 2*L*H*H (out) + 2*2*L*H*I (FFN) + 2*2*L*L*H (attention)``;
* the ratio floor / measured (1.0 would be pure matmul at the machine's rate);
* single-query latency: median and p95 of 50 warm one-text (~12 words) queries.

int8 is not offered: numpy has no int8 GEMM (integer matmul does not use the
BLAS and is far slower than sgemm), so float32 is the fastest numpy path.

Usage::

    python scripts/bench_encoder.py --n 512 --repeats 3
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

_SUBJECTS = [
    "the students", "our teachers", "many parents", "the school library", "a local food bank",
    "several volunteers", "the city council", "a small nonprofit", "the science club",
    "younger children", "working families", "the district office", "a retired engineer",
    "the counseling team", "neighbourhood businesses", "the art museum",
]
_VERBS = [
    "need", "offer", "provide", "are looking for", "can donate", "would like to run",
    "support", "organize", "help to fund", "regularly ask for", "hope to expand", "started",
]
_OBJECTS = [
    "after-school tutoring in mathematics", "healthy breakfasts before class", "a weekly food pantry",
    "reading mentors for struggling readers", "warm winter coats", "laptops for homework",
    "art supplies and paint", "mental health counseling", "field trips to the science museum",
    "coding classes for beginners", "sports equipment for the gym", "free dental checkups",
    "bus passes for long commutes", "English classes for adult learners", "a community vegetable garden",
    "music lessons with real instruments", "career mentoring with local employers", "basic school supplies",
]
_CLAUSES = [
    "because attendance has dropped since the winter holidays",
    "so that every child can take part without paying anything",
    "while the building is being renovated over the summer",
    "and they would welcome partners who can commit for a full year",
    "although the budget for next year is still uncertain",
    "since many families in the area work late evening shifts",
    "which the principal described as the most urgent need this term",
    "after a survey showed that most students wanted more support",
    "if enough volunteers can be trained before the next semester begins",
]
_TAILS = [
    "every Tuesday and Thursday afternoon", "for low-income households", "near the downtown bus station",
    "on weekends and during school breaks", "in both Spanish and English", "across the whole district",
    "starting early next month", "with help from the parent association",
]


def make_texts(n: int, words: int = 40, seed: int = 0) -> list[str]:
    """``n`` varied English texts of about ``words`` words, deterministic for a seed."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        parts: list[str] = []
        while sum(len(p.split()) for p in parts) < words:
            s = f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}"
            if rng.random() < 0.7:
                s += " " + str(rng.choice(_CLAUSES))
            if rng.random() < 0.6:
                s += " " + str(rng.choice(_TAILS))
            parts.append(s[0].upper() + s[1:] + ".")
        toks = " ".join(parts).split()[: words + int(rng.integers(-3, 4))]
        out.append(" ".join(toks).rstrip(".,") + ".")
    return out


def encoder_flops(lengths: np.ndarray, H: int, I: int, layers: int) -> float:
    """Matmul FLOPs of the encoder for sequences of the given token lengths."""
    L = lengths.astype(np.float64)
    per_layer = 2 * L * H * 3 * H + 2 * L * H * H + 2 * 2 * L * H * I + 2 * 2 * L * L * H
    return float((per_layer * layers).sum())


def sgemm_rate(M: int, H: int, I: int, seconds: float = 1.0) -> dict[str, float]:
    """GFLOP/s of numpy float32 matmul at the encoder's shapes (M rows).

    Keys: ``blas2`` (one thread, multi-threaded BLAS, wall clock), ``workers2``
    (two threads each with a 1-thread BLAS, wall clock) and ``cpu`` (the
    latter per CPU-second: what one core does when it is not shared).
    """
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    shapes = [(M, H, 3 * H), (M, H, H), (M, H, I), (M, I, H)]
    mats = [(rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32),
             np.empty((m, n), np.float32)) for m, k, n in shapes]
    flops_round = sum(2.0 * m * k * n for m, k, n in shapes)

    def timed(fn, count):
        t0, c0 = time.perf_counter(), time.process_time()
        fn(count)
        return time.perf_counter() - t0, time.process_time() - c0

    _rounds_on(mats, 2)  # warm up
    one = timed(lambda c: _rounds_on(mats, c), 2)[0] / 2
    count = max(3, int(seconds / max(one, 1e-4)))
    res = {}
    res["blas2"] = statistics.median(
        flops_round * count / timed(lambda c: _rounds_on(mats, c), count)[0] / 1e9 for _ in range(3))

    copies = [[(a.copy(), b.copy(), c.copy()) for a, b, c in mats] for _ in range(2)]

    def two_workers(count: int) -> None:
        ws = [threading.Thread(target=_rounds_on, args=(own, count)) for own in copies]
        for w in ws:
            w.start()
        for w in ws:
            w.join()

    with threadpool_limits(1, user_api="blas"):
        runs = [timed(two_workers, count) for _ in range(3)]
    res["workers2"] = statistics.median(2 * flops_round * count / wall / 1e9 for wall, _ in runs)
    res["cpu"] = statistics.median(2 * flops_round * count / cpu / 1e9 for _, cpu in runs)
    return res


def _rounds_on(own, count):
    for _ in range(count):
        for a, b, c in own:
            np.matmul(a, b, out=c)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=512, help="number of ~40-word texts (default 512)")
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats; medians are reported (default 3)")
    ap.add_argument("--batch-size", type=int, default=None, help="encode batch size (default: the encoder's)")
    ap.add_argument("--workers", type=int, default=None, help="1 or 2 (default: the encoder's choice)")
    ap.add_argument("--spec", default="minilm", help="encoder spec (default minilm)")
    ap.add_argument("--queries", type=int, default=50, help="warm single queries timed (default 50)")
    args = ap.parse_args(argv)

    from matcher.encoders import load_encoder
    from matcher.encoders.bert import DEFAULT_BATCH_SIZE

    t0 = time.perf_counter()
    enc = load_encoder(args.spec)
    load_s = time.perf_counter() - t0
    texts = make_texts(args.n, 40, seed=0)
    lengths = np.array([len(x) for x in enc.tokenize(texts)])
    H, I, layers = enc.hidden, enc.intermediate, enc.num_layers
    flops_per_text = encoder_flops(lengths, H, I, layers) / len(texts)
    bs = args.batch_size or DEFAULT_BATCH_SIZE
    kw = {} if args.workers is None else {"workers": args.workers}

    print(f"load average at start: {os.getloadavg()[0]:.2f} (on a shared machine wall-clock figures vary)")
    print(f"machine: {os.cpu_count()} CPUs; encoder {enc.name} (dim {enc.dim}, {layers} layers), loaded in {load_s:.2f} s")
    print(f"texts: {len(texts)} of ~40 words, tokens/text mean {lengths.mean():.1f} (min {lengths.min()}, max {lengths.max()})")
    print(f"matmul FLOPs per text: {flops_per_text / 1e6:.1f} MFLOP")

    enc.encode(texts[: min(len(texts), 2 * bs)], batch_size=bs, **kw)  # warm up
    rates, cpu_rates, gemm2, gemmw, gemmc = [], [], [], [], []
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        enc.encode(texts, batch_size=bs, **kw)
        rates.append(len(texts) / (time.perf_counter() - t0))
        cpu_rates.append(len(texts) / (time.process_time() - c0))
        g = sgemm_rate(int(bs * lengths.mean()), H, I)
        gemm2.append(g["blas2"])
        gemmw.append(g["workers2"])
        gemmc.append(g["cpu"])
    rate, cpu_rate = statistics.median(rates), statistics.median(cpu_rates)
    g2, gw, gc = statistics.median(gemm2), statistics.median(gemmw), statistics.median(gemmc)
    best = max(g2, gw)
    floor = best * 1e9 / flops_per_text
    cpu_floor = gc * 1e9 / flops_per_text
    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    print(f"sgemm at encoder shapes: {g2:.1f} GFLOP/s with a 2-thread BLAS, {gw:.1f} GFLOP/s as two 1-thread workers"
          f" ({gc:.1f} per CPU-second)")
    print(f"floor (best sgemm rate / FLOPs per text): {floor:.1f} texts/s")
    print(f"fp32 batch (batch_size {bs}): {rate:.1f} texts/s  (runs: {', '.join(f'{r:.1f}' for r in rates)})")
    print(f"ratio floor/measured: {floor / rate:.2f}x  (effective {rate * flops_per_text / 1e9:.1f} GFLOP/s)")
    print(f"CPU-time view (insensitive to other load): {cpu_rate:.1f} texts per CPU-second vs floor "
          f"{cpu_floor:.1f}: ratio {cpu_floor / cpu_rate:.2f}x; x{ncpu} CPUs = {cpu_rate * ncpu:.1f} texts/s on an idle machine")
    if args.workers is None:
        alt = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            enc.encode(texts, batch_size=bs, workers=1)
            alt.append(len(texts) / (time.perf_counter() - t0))
        print(f"  for comparison, one thread driving the multi-threaded BLAS (workers=1): "
              f"{statistics.median(alt):.1f} texts/s")
    print("int8: not offered (numpy has no int8 GEMM)")

    q_texts = make_texts(args.queries + 5, 12, seed=1)
    for t in q_texts[:5]:
        enc.encode([t])
    lat = []
    for t in q_texts[5:]:
        t0 = time.perf_counter()
        enc.encode([t])
        lat.append((time.perf_counter() - t0) * 1e3)
    lat.sort()
    p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]
    print(f"single query (~12 words, {len(lat)} warm): median {statistics.median(lat):.2f} ms, p95 {p95:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
