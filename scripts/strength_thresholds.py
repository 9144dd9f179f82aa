#!/usr/bin/env python
"""Measure where the match strength labels (strong / good / possible) should start.

For each shared acceptance set (a folder with ``schools.csv``, ``partners.csv``
and ``expect.json``: for every school the partner a coordinator would call
first, acceptable alternatives, and partners ruled out by grades, distance or
capacity), it trains a model on the set as ``matcher train`` does and takes
every school's suggestions as ``matcher recommend --top 10`` makes them (hard
constraints and all). Each suggestion is

* **expected**: the partner a coordinator would call first,
* **acceptable**: one of the listed alternatives,
* **ruled out**: a partner the set rules out (never, if the constraints work),
* **other**: anything else (not what a coordinator would call first).

It prints, for a range of cut-offs, the share of suggestions at or above the
cut-off that are expected or acceptable (precision) and the share of expected
partners kept (recall); then, per label of the thresholds in force
(``matcher.config.STRENGTH_THRESHOLDS``) and of any ``--try`` thresholds, how
many suggestions fall in the band and which share is expected/acceptable,
other and ruled out. Last, the scores the ruled-out partners would have had
with the hard constraints lifted, to show the label never stands in for them.

    python scripts/strength_thresholds.py                  # the three shared sets
    python scripts/strength_thresholds.py DIR [DIR ...] [--top 10] [--try 0.6,0.45]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KINDS = ("expected", "acceptable", "other", "ruled out")


def shared_sets() -> list[Path]:
    """The shared sets beside the checkout (``../shared``), or in /work/shared."""
    for base in (ROOT.parent / "shared", Path("/work/shared")):
        if (base / "acceptance").is_dir():
            return [base / "acceptance", base / "devset", base / "realdev"]
    return []


def suggestions(folder: Path, top: int) -> dict[str, list[float]]:
    """Scores of the suggestions by kind, and (``"lifted"``) of ruled-out pairs with the constraints lifted."""
    from matcher.persistence import load_model
    from matcher.training import train_model

    expect = json.loads((folder / "expect.json").read_text())
    full = set(expect.get("full", []))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "matcher.joblib"
        history = folder / "partnerships.csv"
        train_model(folder / "schools.csv", folder / "partners.csv", history if history.exists() else None, path)
        model = load_model(path)
    out: dict[str, list[float]] = {k: [] for k in (*KINDS, "lifted")}
    for sid, e in expect["schools"].items():
        never = set(e["never"]) | full
        for m in model.recommend(sid, n=top):
            kind = ("expected" if m.id == e["expect"] else "acceptable" if m.id in e["ok"]
                    else "ruled out" if m.id in never else "other")
            out[kind].append(m.score)
        out["lifted"] += [model.explain(sid, pid).score for pid in sorted(never) if pid in model.index("partner")]
    return out


def cutoff_table(s: dict[str, list[float]], cuts) -> list[str]:
    good = np.asarray(s["expected"] + s["acceptable"])
    first = np.asarray(s["expected"])
    rest = np.asarray(s["other"] + s["ruled out"])
    lines = [f"  {'score >=':>9} {'suggestions':>11} {'expected/acceptable':>20} {'expected kept':>14}"]
    for c in cuts:
        n_good, n_rest = int((good >= c).sum()), int((rest >= c).sum())
        prec = n_good / (n_good + n_rest) if n_good + n_rest else float("nan")
        lines.append(f"  {c:9.2f} {n_good + n_rest:11d} {prec:20.0%} {(first >= c).mean():14.0%}")
    return lines


def band_table(s: dict[str, list[float]], thresholds: dict[str, float]) -> list[str]:
    """Per label: suggestions in the band, and the share of each kind."""
    from matcher.matches import strength

    lines = [f"  {'label':<9} {'from':>5} {'suggestions':>11} {'expected/acceptable':>20} {'(expected)':>10} "
             f"{'other':>6} {'ruled out':>9}"]
    for label, lowest in thresholds.items():
        counts = {k: sum(strength(x, thresholds) == label for x in s[k]) for k in KINDS}
        n = sum(counts.values())

        def share(k: int) -> str:
            return f"{k / n:.0%}" if n else "-"

        lines.append(f"  {label:<9} {lowest:5.2f} {n:11d} {share(counts['expected'] + counts['acceptable']):>20} "
                     f"{share(counts['expected']):>10} {share(counts['other']):>6} {share(counts['ruled out']):>9}")
    return lines


def main() -> int:
    from matcher import config
    from matcher.matches import strength

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sets", nargs="*", type=Path)
    ap.add_argument("--top", type=int, default=10, help="suggestions per school (default 10, as check_acceptance)")
    ap.add_argument("--try", dest="trial", default="",
                    help="other thresholds to compare, strong,good (e.g. 0.6,0.45)")
    a = ap.parse_args()
    sets = a.sets or shared_sets()
    if not sets:
        ap.error("no sets given and no shared sets found")
    tables = [config.STRENGTH_THRESHOLDS]
    if a.trial:
        strong, good = (float(x) for x in a.trial.split(","))
        tables.append({"strong": strong, "good": good, "possible": 0.0})
    pooled: dict[str, list[float]] = {k: [] for k in (*KINDS, "lifted")}
    cuts = np.round(np.arange(0.30, 0.76, 0.05), 2)
    for folder in sets:
        s = suggestions(folder, a.top)
        print(f"== {folder.name}: {sum(len(s[k]) for k in KINDS)} suggestions")
        for k in pooled:
            pooled[k] += s[k]
        for t in tables:
            print("\n".join(band_table(s, t)))
    print(f"== all sets: {sum(len(pooled[k]) for k in KINDS)} suggestions (top {a.top} per school)")
    print("\n".join(cutoff_table(pooled, cuts)))
    for t in tables:
        print(f"labels {t}:")
        print("\n".join(band_table(pooled, t)))
    lifted = pooled["lifted"]
    if lifted:
        labels = [strength(x) for x in lifted]
        print(f"ruled-out pairs with the hard constraints lifted ({len(lifted)}): "
              + ", ".join(f"{lab} {labels.count(lab)}" for lab in config.STRENGTH_LABELS)
              + " (the constraints, not the label, keep them out)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
