"""The ``matcher`` command line: parse options, call one library function, format the result.

Errors from the library (:class:`matcher.errors.MatcherError`) are turned into
``Error: ...`` lines on stderr with exit status 1 in one place,
:class:`MatcherGroup`; usage mistakes are Click's, with exit status 2.
"""
from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import click

from matcher import config
from matcher.errors import DataError, MatcherError


class MatcherGroup(click.Group):
    """A Click group that maps library errors to ``Error:`` lines, exit 1, no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DataError as exc:
            _fail(exc.problems, ctx)
        except MatcherError as exc:
            _fail([str(exc)], ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, KeyboardInterrupt):
            raise
        except MemoryError:
            _fail(["out of memory: try a smaller input or --chunk-size"], ctx)
        except OSError as exc:
            if ctx.meta.get("debug"):
                raise
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            _fail([f"{where}{exc.strerror or exc}"], ctx)
        except Exception as exc:  # noqa: BLE001 - the one place that guards users from tracebacks
            if ctx.meta.get("debug"):
                raise
            _fail([f"unexpected {type(exc).__name__}: {exc} (run with --debug for details, and please report it)"], ctx)


def _fail(lines: list[str], ctx: click.Context) -> None:
    for line in lines:
        click.echo(f"Error: {line}", err=True)
    ctx.exit(1)


def _weights_options(f):
    f = click.option(
        "--weight", "weight_items", multiple=True, metavar="BLOCK=VALUE",
        help=f"Override one block's weight (repeatable). Blocks: {', '.join(config.BLOCKS)}.",
    )(f)
    f = click.option("--weights", "weights_file", type=click.Path(dir_okay=False), help="JSON or TOML file of block weights.")(f)
    return f


def _model_option(f):
    return click.option(
        "--model", "model_path", type=click.Path(dir_okay=False), default=str(config.DEFAULT_MODEL),
        show_default="models/matcher.joblib", help="Model file.",
    )(f)


def _weights_from(weights_file: str | None, weight_items: tuple[str, ...]) -> dict[str, float]:
    from matcher.weights import parse_weight_options, read_weights_file

    out = read_weights_file(weights_file) if weights_file else {}
    out.update(parse_weight_options(weight_items))
    return out


@click.group(cls=MatcherGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="matcher")
@click.option("--debug", is_flag=True, hidden=True, help="Show tracebacks for unexpected errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Rank the community partners that can meet a school's needs, with reasons.

    Start with `matcher train` (bundled sample data), then
    `matcher recommend --school ID`.
    """
    ctx.meta["debug"] = debug


@main.command()
@click.option("--schools", "schools_path", type=click.Path(dir_okay=False), default=str(config.DEFAULT_SCHOOLS),
              show_default="data/sample/schools.csv", help="Schools CSV.")
@click.option("--partners", "partners_path", type=click.Path(dir_okay=False), default=str(config.DEFAULT_PARTNERS),
              show_default="data/sample/partners.csv", help="Partners CSV.")
@click.option("--history", "history_path", type=click.Path(dir_okay=False), default=None,
              help="Past partnerships CSV (validated; used by evaluate and tune).")
@_model_option
@click.option("--encoder", default=config.DEFAULT_ENCODER, show_default=True,
              help="Text encoder: minilm, static, or a sentence-transformers model folder.")
@_weights_options
def train(schools_path, partners_path, history_path, model_path, encoder, weights_file, weight_items):
    """Fit the model on schools and partners and save it."""
    from matcher.training import train_model

    weights = _weights_from(weights_file, weight_items)
    summary = train_model(schools_path, partners_path, history_path, model_path, weights=weights, encoder=encoder)
    click.echo(summary.text())


@main.command()
@click.option("--school", "school_id", help="Rank partners for this school id.")
@click.option("--partner", "partner_id", help="Rank schools for this partner id (the reverse question).")
@click.option("--need", help="Rank partners for a need typed here.")
@click.option("--grades", help="Grades for --need, e.g. 6-8 or K-5.")
@click.option("--lat", type=float, help="Latitude for --need (with --lon).")
@click.option("--lon", type=float, help="Longitude for --need (with --lat).")
@click.option("--top", type=click.IntRange(min=1), default=config.DEFAULT_TOP, show_default=True, help="How many results.")
@_model_option
@_weights_options
@click.option("--include-full", is_flag=True, help="Also suggest partners with no capacity left.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def recommend(school_id, partner_id, need, grades, lat, lon, top, model_path, weights_file, weight_items, include_full, fmt):
    """Suggest partners for a school or a need, or schools for a partner."""
    from matcher.persistence import load_model

    given = [o for o, v in (("--school", school_id), ("--partner", partner_id), ("--need", need)) if v is not None]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --school, --partner or --need")
    if need is None and (grades or lat is not None or lon is not None):
        raise click.UsageError("--grades, --lat and --lon go with --need")
    if (lat is None) != (lon is None):
        raise click.UsageError("give both --lat and --lon, or neither")
    weights = _weights_from(weights_file, weight_items)
    model = load_model(model_path)
    if school_id is not None:
        matches = model.recommend(school_id, n=top, weights=weights, include_full=include_full)
        title = f"Partners for {school_id} {model.school_names_[model._position('school', school_id)]}"
    elif partner_id is not None:
        matches = model.recommend_schools(partner_id, n=top, weights=weights, include_full=include_full)
        title = f"Schools for {partner_id} {model.partner_names_[model._position('partner', partner_id)]}"
    else:
        matches = model.recommend_for_need(need, n=top, grades=grades, lat=lat, lon=lon, weights=weights, include_full=include_full)
        title = f"Partners for the need: {need[:70]}{'...' if len(need) > 70 else ''}"
    rows = [m.to_dict() for m in matches]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    elif fmt == "csv":
        click.echo(_to_csv(rows), nl=False)
    else:
        click.echo(_to_table(title, matches))


def _to_csv(rows: list[dict[str, Any]]) -> str:
    flat = []
    for r in rows:
        f: dict[str, Any] = {}
        for k, v in r.items():
            if k == "components":
                f.update({f"component_{b}": x for b, x in v.items()})
            elif isinstance(v, list):
                f[k] = "; ".join(v)
            else:
                f[k] = "" if v is None else v
        flat.append(f)
    buf = io.StringIO()
    if flat:
        w = csv.DictWriter(buf, fieldnames=list(flat[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(flat)
    return buf.getvalue()


def _to_table(title: str, matches) -> str:
    lines = [title]
    if not matches:
        lines.append("No match: every candidate is ruled out by grades, distance or capacity (see `matcher explain`).")
        return "\n".join(lines)
    name_w = min(36, max(4, *(len(m.name) for m in matches)))
    kind = matches[0].kind
    header = f"{'#':>3}  {kind:<{name_w}}  {'type' if kind == 'partner' else 'grades':<16}  {'score':>5}  {'distance':>9}  why"
    lines += [header, "-" * len(header)]
    for m in matches:
        name = m.name if len(m.name) <= name_w else m.name[: name_w - 1] + "…"
        kind_col = (m.partner_type or "-") if kind == "partner" else (m.grades or "-")
        dist = "-" if m.distance_km is None else f"{m.distance_km:.1f} km"
        lines.append(f"{m.rank:>3}  {name:<{name_w}}  {kind_col:<16}  {m.score:5.3f}  {dist:>9}  {'; '.join(m.reasons)}")
    return "\n".join(lines)


@main.command()
@click.option("--school", "school_id", required=True, help="School id.")
@click.option("--partner", "partner_id", required=True, help="Partner id.")
@_model_option
@_weights_options
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def explain(school_id, partner_id, model_path, weights_file, weight_items, fmt):
    """Why a partner ranks where it does for a school, or what rules it out."""
    from matcher.persistence import load_model

    weights = _weights_from(weights_file, weight_items)
    model = load_model(model_path)
    ex = model.explain(school_id, partner_id, weights=weights)
    if fmt == "json":
        click.echo(json.dumps(ex.to_dict(), indent=2, ensure_ascii=False))
        return
    out = [f"{ex.partner_id} {ex.partner_name}  for  {ex.school_id} {ex.school_name}"]
    if ex.excluded_by:
        out.append("Not suggested, ruled out by:")
        out += [f"  - {e}" for e in ex.excluded_by]
    else:
        out.append(f"Rank {ex.rank} of the partners this school can use, score {ex.score:.3f}")
    out.append("")
    out.append(f"{'block':<13} {'similarity':>10} {'weight':>7} {'contribution':>12}")
    for b in ex.blocks:
        out.append(f"{b['block']:<13} {b['similarity']:>10.3f} {b['weight']:>7.3f} {b['contribution']:>12.3f}")
    out.append(f"{'total':<13} {'':>10} {'':>7} {ex.score:>12.3f}")
    out.append("")
    cats = ", ".join(f"{c['label']} (need {c['need']:.2f}, offer {c['offering']:.2f})" for c in ex.matched_categories)
    out.append(f"Matched categories: {cats or 'none'}")
    out.append(f"Matched terms: {', '.join(ex.matched_terms) or 'none'}")
    out.append(f"Distance: {'unknown' if ex.distance_km is None else f'{ex.distance_km:.1f} km'}")
    out.append(f"In short: {'; '.join(ex.reasons)}")
    click.echo("\n".join(out))


@main.command()
@click.option("--schools", "n_schools", type=click.IntRange(min=1), required=True, help="Number of schools.")
@click.option("--partners", "n_partners", type=click.IntRange(min=1), required=True, help="Number of partners.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same files).")
@click.option("--roster", type=click.Path(dir_okay=False), help="Real schools CSV to take names, places and grades from.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Folder to write the three CSVs to.")
def generate(n_schools, n_partners, seed, roster, out_dir):
    """Write realistic synthetic schools, partners and past partnerships."""
    from matcher.generate import generate as make, write_dataset

    data = make(n_schools, n_partners, seed=seed, roster=roster)
    paths = write_dataset(data, out_dir)
    for name, path in paths.items():
        n = {"schools": len(data.schools), "partners": len(data.partners), "partnerships": len(data.partnerships)}[name]
        click.echo(f"wrote {path} ({n:,} rows)")


@main.command()
@_model_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def info(model_path, fmt):
    """Show a model's metadata (reads only the metadata file, never the pickle)."""
    from matcher.persistence import read_metadata

    meta = read_metadata(model_path)
    if fmt == "json":
        click.echo(json.dumps(meta, indent=2))
        return
    enc = meta.get("encoder", {})
    lines = [
        f"model:       {model_path}",
        f"created:     {meta['created']}",
        f"format:      {meta['format_version']}",
        f"trained on:  {meta['n_schools']:,} schools, {meta['n_partners']:,} partners, {meta['n_history']:,} past partnerships",
        f"encoder:     {enc.get('name')} ({enc.get('dim')}-d, weights sha256 {str(enc.get('sha256'))[:12]}…)",
        f"weights:     {', '.join(f'{b}={w:g}' for b, w in meta['weights'].items())}",
        f"geo length:  {meta['geo_length_km']:g} km",
        f"versions:    {', '.join(f'{k} {v}' for k, v in meta['versions'].items())}",
        f"model sha256: {meta['model_sha256']}",
    ]
    for name, f in meta.get("training_files", {}).items():
        lines.append(f"{name + ':':<12} {f['path']} ({f['rows']:,} rows, sha256 {f['sha256'][:12]}…)")
    click.echo("\n".join(lines))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
