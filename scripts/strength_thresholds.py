#!/usr/bin/env python
"""Measure where the match-strength labels (strong / good / possible) should start.

For each shared acceptance set (a folder with ``schools.csv``, ``partners.csv``
and ``expect.json``: for every school the partner a coordinator would call
first, acceptable alternatives and ruled-out partners), it fits a model on the
set, scores every partner each school may use (hard constraints applied, as
``matcher recommend`` does) and prints the score distribution of

* **expected**: the partner a coordinator would call first,
* **acceptable**: the listed alternatives,
* **other**: every other allowed partner,

then, for a range of cut-offs, the share of the partners scoring at or above it
that are expected or acceptable (precision) and the share of expected partners
it keeps (recall). Last it prints the labels of the thresholds in force
(``matcher.config.STRENGTH_THRESHOLDS``) on the pooled sets, which is what
docs/web.md quotes.

    python scripts/strength_thresholds.py [DIR ...]   # default: the three shared sets
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared"
DEFAULT_SETS = [SHARED / "acceptance", SHARED / "devset", SHARED / "realdev"]
if not DEFAULT_SETS[0].exists():  # a worktree beside the main checkout
    SHARED = Path("/work/shared")
    DEFAULT_SETS = [SHARED / "acceptance", SHARED / "devset", SHARED / "realdev"]


def scores_of(folder: Path) -> dict[str, list[float]]:
    """Scores of expected, acceptable and other allowed partners, over every school of the set."""
    from matcher.data import read_partners, read_schools
    from matcher.model import PartnerMatcher

    expect = json.loads((folder / "expect.json").read_text())
    model = PartnerMatcher().fit(read_schools(folder / "schools.csv"), read_partners(folder / "partners.csv"))
    out: dict[str, list[float]] = {"expected": [], "acceptable": [], "other": []}
    for sid, e in expect["schools"].items():
        for m in model.recommend(sid, n=len(model.partner_ids_)):
            kind = "expected" if m.id == e["expect"] else "acceptable" if m.id in e["ok"] else "other"
            out[kind].append(m.score)
    return out


def describe(values: list[float]) -> str:
    if not values:
        return "n=0"
    v = np.asarray(values)
    q = np.quantile(v, [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0])
    return f"n={len(v):4d}  min {q[0]:.3f}  p10 {q[1]:.3f}  p25 {q[2]:.3f}  median {q[3]:.3f}  " \
           f"p75 {q[4]:.3f}  p90 {q[5]:.3f}  max {q[6]:.3f}"


def cutoff_table(s: dict[str, list[float]], cuts) -> list[str]:
    good = np.asarray(s["expected"] + s["acceptable"])
    first = np.asarray(s["expected"])
    other = np.asarray(s["other"])
    lines = [f"  {'score >=':>9} {'precision':>10} {'expected kept':>14} {'others above':>13}"]
    for c in cuts:
        n_good, n_other = int((good >= c).sum()), int((other >= c).sum())
        prec = n_good / (n_good + n_other) if n_good + n_other else float("nan")
        lines.append(f"  {c:9.2f} {prec:10.2f} {(first >= c).mean():14.2f} {n_other:13d}")
    return lines


def main() -> int:
    from matcher import config
    from matcher.matches import strength

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sets", nargs="*", type=Path, default=DEFAULT_SETS)
    a = ap.parse_args()
    pooled: dict[str, list[float]] = {"expected": [], "acceptable": [], "other": []}
    cuts = np.round(np.arange(0.30, 0.81, 0.05), 2)
    for folder in a.sets:
        s = scores_of(folder)
        print(f"== {folder}")
        for kind in ("expected", "acceptable", "other"):
            print(f"  {kind:<10} {describe(s[kind])}")
            pooled[kind] += s[kind]
        print("\n".join(cutoff_table(s, cuts)))
    print("== all sets pooled")
    for kind in ("expected", "acceptable", "other"):
        print(f"  {kind:<10} {describe(pooled[kind])}")
    print("\n".join(cutoff_table(pooled, cuts)))
    print(f"\nthresholds in force (matcher.config.STRENGTH_THRESHOLDS): {config.STRENGTH_THRESHOLDS}")
    for kind in ("expected", "acceptable", "other"):
        labels = [strength(x) for x in pooled[kind]]
        shares = ", ".join(f"{lab} {labels.count(lab) / max(1, len(labels)):.0%}" for lab in config.STRENGTH_LABELS)
        print(f"  {kind:<10} {shares}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
