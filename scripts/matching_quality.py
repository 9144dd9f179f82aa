"""How well does matching do, for a few weight settings, on every set we can score?

For each setting it prints:

* first / top 3 / violations on the paraphrase and real-wording sets in
  ``../shared/`` (``acceptance``, ``devset``, ``realdev``), scored as
  ``check_acceptance.py`` does (skipped when ``../shared`` is absent);
* on the bundled sample: the share of #1 suggestions more than 100 km away,
  the largest share of schools with one same partner in their top 10, and
  ``ndcg@10`` against the sample's past partnerships.

Usage::

    python scripts/matching_quality.py
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))

from matcher.config import BLOCKS, DEFAULT_WEIGHTS  # noqa: E402
from matcher.data import read_partners, read_partnerships, read_schools  # noqa: E402
from matcher.evaluate import evaluate  # noqa: E402
from matcher.model import PartnerMatcher  # noqa: E402

SETTINGS = {
    "default": {},
    "text only": {b: float(b == "text") for b in BLOCKS},
    "text + categories": {"grades": 0.0, "geo": 0.0, "partner_type": 0.0},
    "the earlier defaults (.60/.25/.05/.07/.03)": {"text": 0.60, "categories": 0.25, "grades": 0.05, "geo": 0.07,
                                                   "partner_type": 0.03},
}


def score_set(model: PartnerMatcher, folder: Path, weights) -> str:
    expect = json.loads((folder / "expect.json").read_text())
    top1 = top3 = bad = 0
    for sid, e in expect["schools"].items():
        ids = [m.id for m in model.recommend(sid, n=10, weights=weights)]
        top1 += ids[:1] == [e["expect"]]
        top3 += bool({e["expect"], *e["ok"]} & set(ids[:3]))
        bad += len((set(e["never"]) | set(expect["full"])) & set(ids))
    n = len(expect["schools"])
    return f"{top1}/{n} · {top3}/{n} · {bad}"


def sample_figures(model: PartnerMatcher, history, weights) -> str:
    far, counts = 0, {}
    for sid in model.school_ids_:
        ranked = model.recommend(sid, n=10, weights=weights)
        far += bool(ranked and ranked[0].distance_km is not None and ranked[0].distance_km > 100)
        for m in ranked:
            counts[m.id] = counts.get(m.id, 0) + 1
    n = len(model.school_ids_)
    ndcg = evaluate(model, history, k=10, weights=weights, baselines=False).metrics["ndcg@10"]
    return f"{far / n:.1%} · {max(counts.values()) / n:.1%} · {ndcg:.3f}"


def main() -> None:
    sets = [s for s in ("acceptance", "devset", "realdev") if (SHARED / s / "expect.json").exists()]
    models = {s: PartnerMatcher().fit(read_schools(SHARED / s / "schools.csv"), read_partners(SHARED / s / "partners.csv"))
              for s in sets}
    sample = ROOT / "data" / "sample"
    sample_model = PartnerMatcher().fit(read_schools(sample / "schools.csv"), read_partners(sample / "partners.csv"))
    history = read_partnerships(sample / "partnerships.csv")
    print(f"default weights: {DEFAULT_WEIGHTS}")
    print("| weights | " + " | ".join(f"{s}: first · top 3 · violations" for s in sets)
          + " | sample: far #1 · hub · ndcg@10 |")
    print("|---" * (len(sets) + 2) + "|")
    for label, weights in SETTINGS.items():
        cells = [score_set(models[s], SHARED / s, weights) for s in sets]
        print(f"| {label} | " + " | ".join(cells) + f" | {sample_figures(sample_model, history, weights)} |", flush=True)


if __name__ == "__main__":
    main()
