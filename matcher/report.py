"""A self-contained HTML report of a tuning run: trial table, per-fold scores, and plots.

Plots use matplotlib when it is installed (``pip install 'matcher[plot]'``),
embedded as inline SVG so the page is one file; without matplotlib the report
still has every table.
"""
from __future__ import annotations

import html
import io
from pathlib import Path

from matcher import config
from matcher.files import atomic_write


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    return buf.getvalue()[buf.getvalue().index("<svg") :]


def _plots(result) -> list[tuple[str, str]]:
    """(title, inline svg) per plot; empty when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    out = []
    trials = result.trials
    fig, axes = plt.subplots(1, len(config.BLOCKS), figsize=(3.2 * len(config.BLOCKS), 3), sharey=True)
    for ax, block in zip(axes, config.BLOCKS):
        ax.scatter([t.weights[block] for t in trials], [t.mean for t in trials], s=12, alpha=0.6)
        ax.scatter([result.best.weights[block]], [result.best.mean], color="crimson", s=40, label="chosen")
        ax.set_xlabel(f"{block} weight")
    axes[0].set_ylabel(result.objective)
    axes[0].legend()
    out.append((f"{result.objective} against each block weight (one dot per trial)", _svg(fig)))
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3))
    folds = range(1, result.folds + 1)
    ax.plot(folds, result.default.fold_scores, "o-", label="default weights")
    if len(result.best.fold_scores) == result.folds:
        ax.plot(folds, result.best.fold_scores, "o-", label="chosen weights")
    ax.set_xlabel("fold")
    ax.set_ylabel(result.objective)
    ax.set_xticks(list(folds))
    ax.legend()
    out.append(("Score per fold", _svg(fig)))
    plt.close(fig)

    if result.curves:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
        for name, curve in result.curves.items():
            ks = sorted(curve)
            ax1.plot(ks, [curve[k]["precision"] for k in ks], label=name)
            ax2.plot(ks, [curve[k]["recall"] for k in ks], label=name)
        ax1.set_xlabel("k")
        ax1.set_ylabel("precision@k")
        ax2.set_xlabel("k")
        ax2.set_ylabel("recall@k")
        ax1.legend()
        out.append(("Precision and recall at k = 1..20", _svg(fig)))
        plt.close(fig)
    return out


def write_tune_report(result, out_dir: str | Path) -> tuple[Path, bool]:
    """Write ``index.html`` into ``out_dir``; return its path and whether plots were drawn."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plots = _plots(result)
    esc = html.escape
    rows = "\n".join(
        "<tr>" + f"<td>{i}</td>" + "".join(f"<td>{t.weights[b]:.2f}</td>" for b in config.BLOCKS)
        + f"<td>{t.geo_length_km:g}</td><td>{t.mean:.4f}</td><td>{t.std:.4f}</td>"
        + "".join(f"<td>{s:.4f}</td>" for s in t.fold_scores) + "</tr>"
        for i, t in enumerate(result.trials[:200], 1)
    )
    n_folds = max(len(t.fold_scores) for t in result.trials)
    head = "".join(f"<th>{esc(b)}</th>" for b in config.BLOCKS) + "<th>geo km</th><th>mean</th><th>sd</th>" + "".join(
        f"<th>fold {f}</th>" for f in range(1, n_folds + 1)
    )
    curve_rows = ""
    for name, curve in result.curves.items():
        curve_rows += "".join(
            f"<tr><td>{esc(name)}</td><td>{k}</td><td>{v['precision']:.4f}</td><td>{v['recall']:.4f}</td></tr>"
            for k, v in sorted(curve.items())
        )
    figures = "\n".join(f"<figure>{svg}<figcaption>{esc(title)}</figcaption></figure>" for title, svg in plots)
    if not plots:
        figures = "<p class=note>Plots need matplotlib: <code>pip install 'matcher[plot]'</code>.</p>"
    verdict = "larger" if result.gain > result.gain_std else "not larger"
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>matcher tuning report</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #222; }}
table {{ border-collapse: collapse; font-variant-numeric: tabular-nums; margin: 1rem 0; }}
th, td {{ border: 1px solid #ccc; padding: .25rem .5rem; text-align: right; }}
th {{ background: #f3f3f3; }} figure {{ margin: 1.5rem 0; }} svg {{ max-width: 100%; height: auto; }}
.big {{ font-size: 1.2rem; }} .note {{ color: #a33; }}
</style></head><body>
<h1>Tuning report</h1>
<p class=big>{esc(result.method)} search, {result.folds}-fold cross-validation, objective {esc(result.objective)}.</p>
<p class=big>Chosen weights: {esc(", ".join(f"{b} {w:.2f}" for b, w in result.best.weights.items()))},
geo length {result.best.geo_length_km:g} km &mdash; {esc(result.objective)} {result.best.mean:.4f} &plusmn; {result.best.std:.4f}
against {result.default.mean:.4f} &plusmn; {result.default.std:.4f} for the default weights.</p>
<p class=big>Held-out gain (nested cross-validation): <b>{result.gain:+.4f} &plusmn; {result.gain_std:.4f}</b> per fold,
{verdict} than the fold spread.</p>
{figures}
<h2>Trials (best first)</h2>
<table><tr><th>#</th>{head}</tr>
{rows}
</table>
<h2>Precision and recall at k</h2>
<table><tr><th>weights</th><th>k</th><th>precision</th><th>recall</th></tr>{curve_rows}</table>
</body></html>
"""
    target = out / "index.html"
    with atomic_write(target, "w") as fh:
        fh.write(page)
    return target, bool(plots)
