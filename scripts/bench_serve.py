#!/usr/bin/env python
"""Benchmark: the web app under concurrent load, a school's top 10 at 10k partners.

Generates 10,000 partners x 2,000 schools with ``matcher.generate`` and trains
a model (a few minutes; ``--model PATH`` reuses one, ``--keep DIR`` keeps the
one made here), starts ``matcher serve`` on a free loopback port in a
subprocess (``--workers 2`` processes by default, one per core), sends a bounded number of requests (default 2,000
``GET /api/schools/{id}/recommendations?top=10`` from 16 client threads, each
with its own keep-alive connection, schools drawn at random), checks every
answer (status 200, a JSON list of ``top`` partners), and prints requests/s,
p50/p95/p99 latency and the error count. Target: p95 under 100 ms, zero
errors. Traffic goes to 127.0.0.1 only; the server is stopped at the end.

    python scripts/bench_serve.py [--model PATH] [--requests 2000] [--threads 16] [--top 10]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train(schools: int, partners: int, seed: int, out: Path) -> Path:
    from matcher.generate import generate, write_dataset
    from matcher.training import train_model

    t = time.perf_counter()
    paths = write_dataset(generate(schools, partners, seed=seed), out)
    print(f"generated {schools:,} schools x {partners:,} partners in {time.perf_counter() - t:.1f} s", flush=True)
    model_path = out / "model.joblib"
    t = time.perf_counter()
    train_model(paths["schools"], paths["partners"], paths["partnerships"], model_path)
    print(f"trained in {time.perf_counter() - t:.1f} s -> {model_path}", flush=True)
    return model_path


def _start(model: Path, db: Path, port: int, workers: int, log_path: Path) -> subprocess.Popen:
    code = ("import sys; from matcher.web import serve; "
            "serve(sys.argv[1], sys.argv[2], '127.0.0.1', int(sys.argv[3]), None, workers=int(sys.argv[4]), "
            "access_log=False)")
    env = {k: v for k, v in os.environ.items() if k != "MATCHER_TOKEN"}
    log = open(log_path, "w")
    return subprocess.Popen([sys.executable, "-c", code, str(model), str(db), str(port), str(workers)], stdout=log,
                            stderr=subprocess.STDOUT, cwd=ROOT, env=env)


def _wait_ready(port: int, proc: subprocess.Popen, log_path: Path, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/health")
            body = json.loads(conn.getresponse().read())
            conn.close()
            return body
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not start:\n" + log_path.read_text()) from None
            time.sleep(0.2)


def _school_ids(model: Path) -> list[str]:
    from matcher.persistence import load_model

    return [str(i) for i in load_model(model).school_ids_]


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def run_load(port: int, paths: list[str], threads: int, top: int, deadline_s: float) -> tuple[list[float], list[str]]:
    """Send every path once, spread over ``threads`` keep-alive connections; latencies (s) and errors."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    chunks = [paths[i::threads] for i in range(threads)]
    stop_at = time.monotonic() + deadline_s

    def worker(chunk: list[str]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        bad: list[str] = []
        for path in chunk:
            if time.monotonic() > stop_at:
                bad.append(f"{path}: not sent, time limit reached")
                continue
            t = time.perf_counter()
            try:
                conn.request("GET", path, headers={"Accept": "application/json"})
                resp = conn.getresponse()
                body = resp.read()
                dt = time.perf_counter() - t
                if resp.status != 200:
                    bad.append(f"{path}: HTTP {resp.status} {body[:200]!r}")
                    continue
                rows = json.loads(body)
                if not isinstance(rows, list) or not rows or len(rows) > top or "partner_id" not in rows[0]:
                    bad.append(f"{path}: unexpected body {body[:200]!r}")
                    continue
                mine.append(dt)
            except (OSError, http.client.HTTPException, ValueError) as exc:
                bad.append(f"{path}: {type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.close()
        with lock:
            latencies.extend(mine)
            errors.extend(bad)

    pool = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    return latencies, errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, help="Reuse this model instead of generating and training one.")
    ap.add_argument("--keep", type=Path, help="Folder to keep the generated data and model in (default: a temp folder).")
    ap.add_argument("--schools", type=int, default=2_000)
    ap.add_argument("--partners", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=2_000, help="Requests to send (bounded; default 2000).")
    ap.add_argument("--threads", type=int, default=16, help="Client threads, each with its own connection.")
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2, help="Server processes (the machine has 2 cores).")
    ap.add_argument("--warmup", type=int, default=50, help="Requests sent first and not counted.")
    ap.add_argument("--time-limit", type=float, default=300, help="Stop sending after this many seconds.")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if not 1 <= a.requests <= 100_000 or not 1 <= a.threads <= 256:
        ap.error("--requests must be 1..100000 and --threads 1..256")

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        tmp_path = Path(tmp)
        if a.model is not None:
            model = a.model
        else:
            out = a.keep or tmp_path
            out.mkdir(parents=True, exist_ok=True)
            model = _train(a.schools, a.partners, a.seed, out)
        port = _free_port()
        log_path = tmp_path / "server.log"
        t = time.perf_counter()
        proc = _start(model, tmp_path / "outreach.db", port, a.workers, log_path)
        try:
            health = _wait_ready(port, proc, log_path)
            meta = health["model"]
            print(f"server up in {time.perf_counter() - t:.1f} s: {meta['n_schools']:,} schools, "
                  f"{meta['n_partners']:,} partners, {a.workers} worker process(es) (port {port})", flush=True)
            ids = _school_ids(model)
            rng = random.Random(a.seed)
            path = "/api/schools/{}/recommendations?top=" + str(a.top)
            warm = [path.format(rng.choice(ids)) for _ in range(a.warmup)]
            run_load(port, warm, min(a.threads, 4), a.top, a.time_limit)
            paths = [path.format(rng.choice(ids)) for _ in range(a.requests)]
            t = time.perf_counter()
            lat, errors = run_load(port, paths, a.threads, a.top, a.time_limit)
            wall = time.perf_counter() - t
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        lat.sort()
        ms = [x * 1000 for x in lat]
        print(f"GET /api/schools/{{id}}/recommendations?top={a.top}: {a.requests:,} requests from {a.threads} threads "
              f"over {len(ids):,} schools in {wall:.1f} s")
        print(f"  throughput {len(lat) / wall:8.1f} requests/s")
        print(f"  latency    p50 {_percentile(ms, 50):6.1f} ms   p95 {_percentile(ms, 95):6.1f} ms   "
              f"p99 {_percentile(ms, 99):6.1f} ms   max {ms[-1] if ms else float('nan'):6.1f} ms")
        print(f"  errors     {len(errors)}")
        for e in errors[:10]:
            print(f"    {e}")
        verdict = "MET" if errors == [] and _percentile(ms, 95) < 100 else "NOT MET"
        print(f"target (p95 < 100 ms, zero errors): {verdict}")
        sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
