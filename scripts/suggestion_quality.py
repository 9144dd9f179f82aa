"""Do suggestions look right to a coordinator? Distance of the #1 suggestion and hub partners, measured.

For the bundled sample (and a larger generated set), train with default
settings, run ``matcher rank --top 10`` over every school and print:

* far #1: the share of schools whose first suggestion is more than 100 km away
  (and how many of those are in-person partners);
* hub: the largest share of schools that have one same partner in their top 10
  (and which partner).

Usage::

    python scripts/suggestion_quality.py                       # sample + 2,000 x 5,000 generated
    python scripts/suggestion_quality.py --generated 0         # the sample only
    python scripts/suggestion_quality.py --schools my/schools.csv --partners my/partners.csv
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FAR_KM = 100.0


def matcher(*args: str) -> None:
    run = subprocess.run([sys.executable, "-m", "matcher", *args], capture_output=True, text=True, cwd=ROOT)
    if run.returncode != 0:
        sys.exit(f"matcher {' '.join(args)} failed:\n{run.stderr}")


def measure(label: str, schools: Path, partners: Path, tmp: Path) -> None:
    model = tmp / f"{label}.joblib"
    out = tmp / f"{label}.csv"
    matcher("train", "--schools", str(schools), "--partners", str(partners), "--model", str(model))
    matcher("rank", "--model", str(model), "--output", str(out), "--top", "10")
    ranked = pd.read_csv(out, dtype={"school_id": str, "partner_id": str})
    p = pd.read_csv(partners, dtype={"partner_id": str}, keep_default_na=False)
    remote = dict(zip(p["partner_id"], p["remote"].astype(str).str.lower().isin(["true", "1", "yes", "y", "t"])))
    first = ranked[ranked["rank"] == 1]
    n = ranked["school_id"].nunique()
    far = first[first["distance_km"] > FAR_KM]
    in_person_far = far[~far["partner_id"].map(remote)]
    counts = ranked.groupby("partner_id")["school_id"].nunique().sort_values(ascending=False)
    print(f"{label}: {n:,} schools x {len(p):,} partners")
    print(f"  #1 suggestion more than {FAR_KM:g} km away: {len(far) / n:.1%} ({len(far)} schools; "
          f"{len(in_person_far)} of them in-person partners)")
    print(f"  most common partner in a top 10: {counts.index[0]} in {counts.iloc[0] / n:.1%} of schools "
          f"(next: {', '.join(f'{i} {c / n:.1%}' for i, c in counts.iloc[1:4].items())})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schools", type=Path, default=ROOT / "data" / "sample" / "schools.csv")
    ap.add_argument("--partners", type=Path, default=ROOT / "data" / "sample" / "partners.csv")
    ap.add_argument("--generated", type=int, default=2000, help="schools in a generated set (0: none)")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        measure("sample" if a.schools.parent == ROOT / "data" / "sample" else a.schools.parent.name,
                a.schools, a.partners, tmp_path)
        if a.generated:
            gen = tmp_path / "gen"
            matcher("generate", "--schools", str(a.generated), "--partners", str(int(a.generated * 2.5)),
                    "--seed", str(a.seed), "--out", str(gen))
            measure(f"generated (seed {a.seed})", gen / "schools.csv", gen / "partners.csv", tmp_path)


if __name__ == "__main__":
    main()
