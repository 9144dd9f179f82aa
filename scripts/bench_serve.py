#!/usr/bin/env python
"""Benchmark: the web app under concurrent load, and live changes under load.

Generates 10,000 partners x 2,000 schools with ``matcher.generate`` and trains
a model (a few minutes; ``--model PATH`` reuses one, ``--keep DIR`` keeps the
one made here), starts ``matcher serve`` on a free loopback port in a
subprocess (``--workers 2`` processes by default, one per core), sends a bounded number of requests (default 2,000
``GET /api/schools/{id}/recommendations?top=10`` from 16 client threads, each
with its own keep-alive connection, schools drawn at random), checks every
answer (status 200, a JSON list of ``top`` partners), and prints requests/s,
p50/p95/p99 latency and the error count. Target: p95 under 100 ms, zero
errors.

Then live changes (``--edits 40``): while the same 16 threads keep reading,
one editor creates a partner that answers a random school's need next door
(``POST /api/partners/{id}``), then moves it away (``PUT``), and measures
for each change the time from sending it until a read on another connection
(either worker) shows it (the partner is first for that school, then no
longer among its suggestions). Prints change -> visible p50/p95/max (target
p95 under 1 s; run it with a 100k-partner model, e.g. the one
``scripts/bench_retrain.py --keep DIR`` leaves) and the reads' p95 during
the edits. Traffic goes to 127.0.0.1 only; the server is stopped at the end.

    python scripts/bench_serve.py [--model PATH] [--requests 2000] [--threads 16] [--top 10] [--edits 40]
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


def _schools(model: Path) -> list[tuple[str, str, float, float]]:
    """(id, needs, latitude, longitude) of every school."""
    from matcher.persistence import load_model

    m = load_model(model)
    return [(str(i), str(t), float(la), float(lo)) for i, t, la, lo in
            zip(m.school_ids_, m.school_texts_, m.schools_.lat, m.schools_.lon)]


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


def _request(conn: http.client.HTTPConnection, method: str, path: str, body: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    headers = {"Accept": "application/json", **({"Content-Type": "application/json"} if data else {})}
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    return resp.status, json.loads(resp.read() or b"null")


def run_edits(port: int, schools: list, edits: int, seed: int, timeout_s: float = 30) -> tuple[list[float], list[str]]:
    """Create a partner next to a school with its need, then move it away; seconds until each change is visible."""
    rng = random.Random(seed + 1)
    writer = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    reader = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    visible: list[float] = []
    errors: list[str] = []
    placed = [s for s in schools if s[2] == s[2]]  # schools with a location
    for i in range(edits):
        sid, needs, lat, lon = rng.choice(placed)
        pid = f"BENCH{seed}-{i:05d}"
        row = {"name": f"Bench partner {i}", "offerings": needs, "latitude": lat, "longitude": lon,
               "service_radius_km": 30, "grades": "PK-12"}
        path = f"/api/schools/{sid}/recommendations?top=10"
        for method, body, shown in (("POST", row, True),
                                    ("PUT", {**row, "latitude": -lat, "longitude": lon + 180 if lon < 0 else lon - 180},
                                     False)):
            t = time.perf_counter()
            status, answer = _request(writer, method, f"/api/partners/{pid}", body)
            if status not in (200, 201):
                errors.append(f"{method} {pid}: HTTP {status} {answer}")
                break
            while True:
                status, rows = _request(reader, "GET", path)
                ids = [r["partner_id"] for r in rows] if status == 200 else []
                if (ids[:1] == [pid]) if shown else (pid not in ids):
                    visible.append(time.perf_counter() - t)
                    break
                if time.perf_counter() - t > timeout_s:
                    errors.append(f"{method} {pid}: not visible for {sid} after {timeout_s:.0f} s (top: {ids[:3]})")
                    break
        time.sleep(0.1)
    writer.close()
    reader.close()
    return visible, errors


def _readers_during(port: int, paths: list[str], threads: int, top: int, busy: threading.Event):
    """Read ``paths`` round-robin from ``threads`` connections until ``busy`` clears; latencies and errors."""
    out: dict[str, list] = {"lat": [], "err": []}
    lock = threading.Lock()

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        lat, err, j = [], [], k
        while busy.is_set():
            p = paths[j % len(paths)]
            j += threads
            t = time.perf_counter()
            try:
                status, rows = _request(conn, "GET", p)
                if status == 200 and isinstance(rows, list) and len(rows) <= top:
                    lat.append(time.perf_counter() - t)
                else:
                    err.append(f"{p}: HTTP {status}")
            except (OSError, http.client.HTTPException, ValueError) as exc:
                err.append(f"{p}: {type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.close()
        with lock:
            out["lat"].extend(lat)
            out["err"].extend(err)

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for th in pool:
        th.start()
    return pool, out


def _line(name: str, ms: list[float]) -> str:
    ms = sorted(ms)
    return (f"  {name:<10} p50 {_percentile(ms, 50):7.1f} ms   p95 {_percentile(ms, 95):7.1f} ms   "
            f"p99 {_percentile(ms, 99):7.1f} ms   max {ms[-1] if ms else float('nan'):7.1f} ms   (n={len(ms)})")


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
    ap.add_argument("--edits", type=int, default=40, help="Live changes to time under load (0: none).")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if not 1 <= a.requests <= 100_000 or not 1 <= a.threads <= 256 or not 0 <= a.edits <= 10_000:
        ap.error("--requests must be 1..100000, --threads 1..256 and --edits 0..10000")

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
            schools = _schools(model)
            ids = [s[0] for s in schools]
            rng = random.Random(a.seed)
            path = "/api/schools/{}/recommendations?top=" + str(a.top)
            warm = [path.format(rng.choice(ids)) for _ in range(a.warmup)]
            run_load(port, warm, min(a.threads, 4), a.top, a.time_limit)
            paths = [path.format(rng.choice(ids)) for _ in range(a.requests)]
            t = time.perf_counter()
            lat, errors = run_load(port, paths, a.threads, a.top, a.time_limit)
            wall = time.perf_counter() - t
            visible, edit_errors, during = [], [], {"lat": [], "err": []}
            if a.edits:
                busy = threading.Event()
                busy.set()
                pool, during = _readers_during(port, paths, a.threads, a.top, busy)
                try:
                    visible, edit_errors = run_edits(port, schools, a.edits, a.seed)
                finally:
                    busy.clear()
                    for th in pool:
                        th.join()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        ms = sorted(x * 1000 for x in lat)
        print(f"GET /api/schools/{{id}}/recommendations?top={a.top}: {a.requests:,} requests from {a.threads} threads "
              f"over {len(ids):,} schools in {wall:.1f} s")
        print(f"  throughput {len(lat) / wall:8.1f} requests/s")
        print(_line("latency", ms))
        print(f"  errors     {len(errors)}")
        for e in errors[:10]:
            print(f"    {e}")
        verdict = "MET" if errors == [] and _percentile(ms, 95) < 100 else "NOT MET"
        print(f"target (p95 < 100 ms, zero errors): {verdict}")
        failed = bool(errors)
        if a.edits:
            seen = sorted(x * 1000 for x in visible)
            reads = sorted(x * 1000 for x in during["lat"])
            print(f"live changes: {a.edits} partners created next to a school and moved away ({len(seen)} changes), "
                  f"{a.threads} threads reading meanwhile")
            print(_line("visible", seen))
            print(_line("reads", reads))
            print(f"  errors     {len(edit_errors) + len(during['err'])}")
            for e in (edit_errors + during["err"])[:10]:
                print(f"    {e}")
            ok = not edit_errors and not during["err"] and _percentile(seen, 95) < 1000
            print(f"target (change -> visible p95 < 1 s, zero errors): {'MET' if ok else 'NOT MET'}")
            failed = failed or bool(edit_errors or during["err"])
        sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
