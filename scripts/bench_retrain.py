#!/usr/bin/env python
"""Benchmark: a re-train after 1% of the partners changed, against a full train, in one run.

Generates schools and partners (default 4,000 x 100,000) with ``matcher.generate``,
trains once with a fresh workspace database (every text encoded and tagged; the
encodings land in the workspace's cache), rewrites the offerings of 1% of the
partners (new text, so it must be encoded), and trains again with the same
workspace: only the changed texts are encoded. Prints both wall times, their
ratio (target: the re-train under 5% of the full train) and checks that the
re-trained model's changed partners are encoded exactly as without the cache.

    python scripts/bench_retrain.py [--schools 4000] [--partners 100000] [--changed 0.01] [--keep DIR]

``--keep DIR`` keeps the data, the workspace and the re-trained model (for
``scripts/bench_serve.py --model DIR/retrained.joblib``).
"""
from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schools", type=int, default=4_000)
    ap.add_argument("--partners", type=int, default=100_000)
    ap.add_argument("--changed", type=float, default=0.01, help="Share of partners whose offerings change.")
    ap.add_argument("--encoder", default="minilm")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", type=Path, help="Folder to keep the data, workspace and models in.")
    a = ap.parse_args()
    if not 0 < a.changed <= 1:
        ap.error("--changed must be in (0, 1]")

    from matcher.generate import generate, write_dataset
    from matcher.persistence import load_model
    from matcher.training import train_model

    with tempfile.TemporaryDirectory(prefix="bench-retrain-") as tmp:
        out = a.keep or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        db = out / "workspace.db"
        db.unlink(missing_ok=True)
        t = time.perf_counter()
        paths = write_dataset(generate(a.schools, a.partners, seed=a.seed), out)
        print(f"generated {a.schools:,} schools x {a.partners:,} partners in {time.perf_counter() - t:.1f} s", flush=True)

        t = time.perf_counter()
        train_model(paths["schools"], paths["partners"], None, out / "full.joblib", encoder=a.encoder, workspace=db)
        full_s = time.perf_counter() - t
        print(f"full train (empty cache):      {full_s:8.1f} s", flush=True)

        changed_path, changed_ids = _change(paths["partners"], out / "partners_changed.csv", a.changed, a.seed)
        t = time.perf_counter()
        train_model(paths["schools"], changed_path, None, out / "retrained.joblib", encoder=a.encoder, workspace=db)
        cached_s = time.perf_counter() - t
        print(f"re-train, {len(changed_ids):,} partners changed: {cached_s:8.1f} s", flush=True)
        ratio = cached_s / full_s
        print(f"ratio re-train / full train:   {ratio:8.3f}   target < 0.05: {'MET' if ratio < 0.05 else 'NOT MET'}")

        model = load_model(out / "retrained.joblib")
        rows = [model.index("partner")[i] for i in changed_ids]
        texts = [str(model.partner_texts_[r]) for r in rows]
        fresh = model.featurizer_.encode(texts, split_sentences=True)  # no cache: encoded now
        same = all(np.array_equal(fresh[t].text, model.partners_.text[r]) for t, r in zip(texts, rows))
        print(f"changed partners encoded as without the cache: {'yes' if same else 'NO'}")
        if not same:
            raise SystemExit(1)


def _change(src: Path, dst: Path, share: float, seed: int) -> tuple[Path, list[str]]:
    """A copy of partners.csv with ``share`` of the offerings rewritten (new text: never in the cache)."""
    with open(src, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields, rows = reader.fieldnames, list(reader)
    rng = np.random.default_rng(seed)
    picked = sorted(rng.choice(len(rows), size=max(1, round(share * len(rows))), replace=False).tolist())
    for i in picked:
        rows[i]["offerings"] = f"{rows[i]['offerings']} From this term also on Saturday mornings (change {i})."
    with open(dst, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return dst, [rows[i]["partner_id"] for i in picked]


if __name__ == "__main__":
    main()
