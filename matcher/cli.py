"""The ``matcher`` command line: parse options, call one library function, format the result.

Errors from the library (:class:`matcher.errors.MatcherError`) are turned into
``Error: ...`` lines on stderr with exit status 1 in one place,
:class:`MatcherGroup`; usage mistakes are Click's, with exit status 2.
"""
from __future__ import annotations

import contextlib
import json
import sys
from typing import Any

import click

from matcher import config
from matcher.cli_catalog import partners, schools, user_name, users
from matcher.errors import DataError, MatcherError, in_words
from matcher.matches import strength
from matcher.state import STATUSES

#: How the library's parameters read on the command line (see :func:`matcher.errors.in_words`).
OPTION_NAMES = {
    "resume=True": "--resume",
    "folds": "--folds",
    "split='time'": "--split time",
    "model": "--model PATH",
    "token": "--token TOKEN",
    "weight": "--weight",
    "include_full=True": "--include-full",
}


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
        click.echo(f"Error: {in_words(line, OPTION_NAMES)}", err=True)
    ctx.exit(1)


def _not_blank(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A text option that says something (a blank one is a usage mistake, exit 2)."""
    if value is not None and not value.strip():
        raise click.BadParameter("is blank", ctx, param)
    return value


def _weight_items(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> dict[str, float]:
    """``--weight BLOCK=VALUE`` options parsed by the library; a bad one is a usage mistake (exit 2)."""
    from matcher.errors import WeightsError
    from matcher.weights import parse_weight_options

    try:
        return parse_weight_options(value, source="--weight")
    except WeightsError as exc:
        raise click.BadParameter(str(exc).removeprefix("--weight: "), ctx, param) from None


def _grade_band(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A ``--grades`` band the library can read (checked now: a bad one is a usage mistake, exit 2)."""
    from matcher.grades import parse_grades

    if value is not None:
        try:
            parse_grades(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx, param) from None
    return value


def _weights_options(f):
    f = click.option(
        "--weight", "weight_items", multiple=True, metavar="BLOCK=VALUE", callback=_weight_items,
        help=f"Override one block's weight (repeatable). Blocks: {', '.join(config.BLOCKS)}.",
    )(f)
    f = click.option("--weights", "weights_file", type=click.Path(dir_okay=False), help="JSON or TOML file of block weights.")(f)
    return f


def _model_option(f):
    return click.option(
        "--model", "model_path", type=click.Path(dir_okay=False), default=str(config.DEFAULT_MODEL),
        show_default="models/matcher.joblib", help="Model file.",
    )(f)


@contextlib.contextmanager
def _progress(total: int, label: str, quiet: bool):
    """A progress bar on stderr (count, rate, time left), or nothing when quiet or not a terminal."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr, show_eta=True, show_pos=True) as bar:
        yield bar.update


def _state_options(f):
    f = click.option("--include-current", is_flag=True, help="Also show current partners (recorded as partnered).")(f)
    f = click.option("--cooldown-days", type=click.IntRange(min=0), default=config.DEFAULT_COOLDOWN_DAYS,
                     show_default=True, help="Days a declined pair stays out of suggestions.")(f)
    f = click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None,
                     help="Workspace database (default: outreach.db beside the model, when it exists).")(f)
    return f


def _state_from(db, cooldown_days: int, include_current: bool):
    """Outreach constraints from the workspace database, or None when there is none."""
    from matcher.state import OutreachStore

    if db is None:
        return None
    return OutreachStore(db).constraints(cooldown_days=cooldown_days, include_current=include_current)


def _load(model_path: str, db_path: str | None):
    """The model caught up with its workspace's live changes, and the workspace (or None)."""
    from matcher.live import load_current

    with _warnings_to_stderr():
        return load_current(model_path, db_path)


@contextlib.contextmanager
def _warnings_to_stderr():
    """Library warnings as ``Warning: ...`` lines on stderr (not Python's warning format)."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        click.echo(f"Warning: {in_words(str(w.message), OPTION_NAMES)}", err=True)


def _weights_from(weights_file: str | None, weight_items: dict[str, float]) -> dict[str, float]:
    """The weights file's weights, overridden by the ``--weight`` options."""
    from matcher.weights import read_weights_file

    return {**(read_weights_file(weights_file) if weights_file else {}), **weight_items}


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
@click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None,
              help="Workspace database to import the tables into (default: outreach.db beside the model).")
@click.option("--from-catalog", is_flag=True,
              help="Train on the workspace's current schools and partners (after live changes), not the CSVs.")
@click.option("--backend", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="Where to encode and tag the texts.")
@click.option("--scheduler", default=None, help="Dask scheduler address (tcp://...) or 'local'.")
def train(schools_path, partners_path, history_path, model_path, encoder, weights_file, weight_items, db_path,
          from_catalog, backend, scheduler):
    """Fit the model on schools and partners and save it (texts encoded before are not encoded again)."""
    from matcher.config import workspace_path
    from matcher.training import train_model

    weights = _weights_from(weights_file, weight_items)
    workspace = db_path if db_path is not None else str(workspace_path(model_path))
    with contextlib.ExitStack() as stack:
        client = None
        if backend == "dask":
            from matcher.cluster import dask_client

            client = stack.enter_context(dask_client(scheduler, None))
        summary = train_model(schools_path, partners_path, history_path, model_path, weights=weights, encoder=encoder,
                              workspace=workspace, from_catalog=from_catalog, client=client, user=user_name())
    click.echo(summary.text())


@main.command()
@click.option("--school", "school_id", help="Rank partners for this school (its id, or a name only it has).")
@click.option("--partner", "partner_id",
              help="Rank schools for this partner (id or name; the reverse question).")
@click.option("--need", callback=_not_blank, help="Rank partners for a need typed here.")
@click.option("--grades", callback=_grade_band, help="Grades for --need, e.g. 6-8 or K-5.")
@click.option("--lat", type=click.FloatRange(-90, 90), help="Latitude for --need (with --lon).")
@click.option("--lon", type=click.FloatRange(-180, 180), help="Longitude for --need (with --lat).")
@click.option("--top", type=click.IntRange(min=1), default=config.DEFAULT_TOP, show_default=True, help="How many results.")
@_model_option
@_weights_options
@click.option("--include-full", is_flag=True, help="Also suggest partners with no capacity left.")
@_state_options
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def recommend(school_id, partner_id, need, grades, lat, lon, top, model_path, weights_file, weight_items, include_full,
              db_path, cooldown_days, include_current, fmt):
    """Suggest partners for a school or a need, or schools for a partner."""
    given = [o for o, v in (("--school", school_id), ("--partner", partner_id), ("--need", need)) if v is not None]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --school, --partner or --need")
    if need is None and (grades or lat is not None or lon is not None):
        raise click.UsageError("--grades, --lat and --lon go with --need")
    if (lat is None) != (lon is None):
        raise click.UsageError("give both --lat and --lon, or neither")
    weights = _weights_from(weights_file, weight_items)
    model, db = _load(model_path, db_path)
    state = _state_from(db, cooldown_days, include_current)
    if school_id is not None:
        school_id = model.resolve("school", school_id)
        matches = model.recommend(school_id, n=top, weights=weights, include_full=include_full, state=state)
        title = f"Partners for {school_id} {model.school_names_[model.school_row(school_id)]}"
    elif partner_id is not None:
        partner_id = model.resolve("partner", partner_id)
        matches = model.recommend_schools(partner_id, n=top, weights=weights, include_full=include_full, state=state)
        title = f"Schools for {partner_id} {model.partner_names_[model.partner_row(partner_id)]}"
    else:
        matches = model.recommend_for_need(need, n=top, grades=grades, lat=lat, lon=lon, weights=weights,
                                           include_full=include_full, state=state)
        title = f"Partners for the need: {need[:70]}{'...' if len(need) > 70 else ''}"
    rows = [m.to_dict() for m in matches]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    elif fmt == "csv":
        from matcher.formats import recommendations_csv

        click.echo(recommendations_csv(rows), nl=False)
    else:
        click.echo(_to_table(title, matches))


def _to_table(title: str, matches) -> str:
    lines = [title]
    if not matches:
        lines.append("No match: every candidate is ruled out by grades, distance or capacity (see `matcher explain`).")
        return "\n".join(lines)
    name_w = min(36, max(4, *(len(m.name) for m in matches)))
    kind = matches[0].kind
    header = (f"{'#':>3}  {kind:<{name_w}}  {'type' if kind == 'partner' else 'grades':<16}  {'score':>5}  "
              f"{'match':<8}  {'distance':>9}  why")
    lines += [header, "-" * len(header)]
    for m in matches:
        name = m.name if len(m.name) <= name_w else m.name[: name_w - 1] + "…"
        kind_col = (m.partner_type or "-") if kind == "partner" else (m.grades or "-")
        dist = "-" if m.distance_km is None else f"{m.distance_km:.1f} km"
        lines.append(f"{m.rank:>3}  {name:<{name_w}}  {kind_col:<16}  {m.score:5.3f}  {strength(m.score):<8}  {dist:>9}  "
                     f"{'; '.join(m.reasons)}")
    return "\n".join(lines)


@main.command()
@click.option("--school", "school_id", required=True, help="School id (or a name only it has).")
@click.option("--partner", "partner_id", required=True, help="Partner id (or a name only it has).")
@_model_option
@_weights_options
@_state_options
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def explain(school_id, partner_id, model_path, weights_file, weight_items, db_path, cooldown_days, include_current, fmt):
    """Why a partner ranks where it does for a school, or what rules it out."""
    weights = _weights_from(weights_file, weight_items)
    model, db = _load(model_path, db_path)
    state = _state_from(db, cooldown_days, include_current)
    ex = model.explain(model.resolve("school", school_id), model.resolve("partner", partner_id), weights=weights,
                       state=state)
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
        sim = "-" if b["similarity"] is None else f"{b['similarity']:.3f}"
        note = f"  ({b['note']})" if b.get("note") else ""
        out.append(f"{b['block']:<13} {sim:>10} {b['weight']:>7.3f} {b['contribution']:>12.3f}{note}")
    out.append(f"{'total':<13} {'':>10} {'':>7} {ex.score:>12.3f}")
    out.append("")
    cats = ", ".join(f"{c['label']} (need {c['need']:.2f}, offer {c['offering']:.2f})" for c in ex.matched_categories)
    out.append(f"Matched categories: {cats or 'none'}")
    out.append(f"Matched terms: {', '.join(ex.matched_terms) or 'none'}")
    out.append(f"Distance: {'unknown' if ex.distance_km is None else f'{ex.distance_km:.1f} km'}")
    out.append(f"In short: {'; '.join(ex.reasons)}")
    click.echo("\n".join(out))


@main.command()
@_model_option
@click.option("--history", "history_path", type=click.Path(dir_okay=False), required=True,
              help="Past partnerships CSV to score against.")
@click.option("--k", type=click.IntRange(min=1), default=10, show_default=True, help="Cut-off K of every metric.")
@_weights_options
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random baseline.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def evaluate(model_path, history_path, k, weights_file, weight_items, seed, fmt):
    """Score the model's top-K against past partnerships, beside random, popularity and text-only baselines."""
    from matcher.data import read_partnerships
    from matcher.evaluate import evaluate as run_evaluation

    weights = _weights_from(weights_file, weight_items)
    history = read_partnerships(history_path)
    model, _db = _load(model_path, None)
    with _warnings_to_stderr():
        report = run_evaluation(model, history, k=k, weights=weights, seed=seed)
    if fmt == "json":
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    click.echo(_evaluation_table(report))


def _evaluation_table(report) -> str:
    names = ["model", *report.baselines]
    cols = {"model": report.metrics, **report.baselines}
    lines = [f"Evaluated {report.n_schools:,} schools with a successful past partnership (K = {report.k})"
             + (f"; {report.n_skipped:,} not in the model were skipped" if report.n_skipped else "")]
    header = f"{'metric':<14}" + "".join(f"{n:>12}" for n in names) + "   model gain over best baseline"
    lines += [header, "-" * len(header)]
    for metric, value in report.metrics.items():
        base = [cols[n][metric] for n in names[1:]]
        best = max(base) if base else 0.0
        if metric.startswith("gini"):
            gain = ""
        elif best > 0:
            gain = f"{(value - best) / best:+.0%}"
        else:
            gain = "n/a"
        lines.append(f"{metric:<14}" + "".join(f"{cols[n][metric]:>12.4f}" for n in names) + f"   {gain}")
    lines.append(f"{'violations':<14}{report.violations:>12}   (top-K entries breaking a hard constraint; must be 0)")
    return "\n".join(lines)


@main.command()
@click.option("--schools", "schools_path", type=click.Path(dir_okay=False), default=str(config.DEFAULT_SCHOOLS),
              show_default="data/sample/schools.csv", help="Schools CSV.")
@click.option("--partners", "partners_path", type=click.Path(dir_okay=False), default=str(config.DEFAULT_PARTNERS),
              show_default="data/sample/partners.csv", help="Partners CSV.")
@click.option("--history", "history_path", type=click.Path(dir_okay=False), required=True, help="Past partnerships CSV.")
@click.option("--k", type=click.IntRange(min=1), default=10, show_default=True, help="Objective: ndcg@K.")
@click.option("--method", type=click.Choice(["grid", "random", "fit"]), default="grid", show_default=True)
@click.option("--trials", type=click.IntRange(min=1), default=60, show_default=True, help="Trials for grid/random.")
@click.option("--folds", type=click.IntRange(min=2), default=5, show_default=True)
@click.option("--split", type=click.Choice(["school", "time"]), default="school", show_default=True,
              help="Fold by school, or by first start_date.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--n-jobs", type=click.IntRange(min=1), default=1, show_default=True, help="Worker threads.")
@click.option("--encoder", default=config.DEFAULT_ENCODER, show_default=True, help="Text encoder.")
@click.option("--output", type=click.Path(dir_okay=False), required=True, help="Where to write the chosen weights (JSON).")
@click.option("--report", "report_dir", type=click.Path(file_okay=False), help="Folder for an HTML report with plots.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def tune(schools_path, partners_path, history_path, k, method, trials, folds, split, seed, n_jobs, encoder, output,
         report_dir, quiet):
    """Search block weights by cross-validated ndcg@K on past partnerships; write them for --weights."""
    from matcher.tune import tune_files

    with contextlib.ExitStack() as stack:
        run = tune_files(schools_path, partners_path, history_path, output, k=k, method=method, trials=trials,
                         folds=folds, split=split, seed=seed, n_jobs=n_jobs, encoder=encoder, report_dir=report_dir,
                         progress=lambda total: stack.enter_context(_progress(total, "tuning", quiet)))
    click.echo(_tune_table(run.result))
    click.echo(f"Chosen weights written to {output} (use: matcher recommend --weights {output} ...)")
    if run.report:
        click.echo(f"Report written to {run.report}")
        if not run.plotted:
            click.echo("Plots need matplotlib: pip install 'matcher[plot]' (the report has the tables).", err=True)


_SHORT = {"partner_type": "type"}


def _tune_table(result, top: int = 10) -> str:
    blocks = list(config.BLOCKS)
    lines = [f"{result.method} search, {result.folds}-fold cross-validation by {result.objective} "
             f"(mean ± spread over folds); best {min(top, len(result.trials))} of {len(result.trials)} trials:"]
    header = f"{'#':>3}  " + "  ".join(f"{_SHORT.get(b, b):>10}" for b in blocks) + f"  {'geo km':>6}  {'mean':>7}  {'± sd':>6}"
    lines += [header, "-" * len(header)]
    for i, t in enumerate(result.trials[:top], 1):
        lines.append(f"{i:>3}  " + "  ".join(f"{t.weights[b]:>10.2f}" for b in blocks)
                     + f"  {t.geo_length_km:>6g}  {t.mean:>7.4f}  {t.std:>6.4f}")
    d, b = result.default, result.best
    lines.append(f"default weights:  {result.objective} {d.mean:.4f} ± {d.std:.4f}")
    lines.append(f"chosen weights:   {result.objective} {b.mean:.4f} ± {b.std:.4f}  "
                 + ", ".join(f"{k}={v:.2f}" for k, v in b.weights.items()) + f", geo_length_km={b.geo_length_km:g}")
    verdict = "larger than" if result.gain > result.gain_std else "NOT larger than"
    lines.append(f"held-out gain over default (nested CV): {result.gain:+.4f} ± {result.gain_std:.4f} per fold "
                 f"({verdict} the fold spread)")
    return "\n".join(lines)


@main.command()
@_model_option
@click.option("--schools", "schools_path", type=click.Path(dir_okay=False), default=None,
              help="Rank these schools (a schools.csv; may hold new schools). Default: every school in the model.")
@click.option("--top", type=click.IntRange(min=1), default=config.DEFAULT_TOP, show_default=True, help="Partners per school.")
@click.option("--output", type=click.Path(dir_okay=False), required=True, help="File to write (appears when complete).")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "parquet"]), default=None,
              help="Default: from the output's extension, else csv. parquet needs pyarrow.")
@click.option("--n-jobs", type=click.IntRange(min=1), default=None, help="Worker threads (default: one per CPU).")
@click.option("--chunk-size", type=click.IntRange(min=1), default=256, show_default=True, help="Schools per chunk.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run from its completed chunks.")
@_weights_options
@click.option("--include-full", is_flag=True, help="Also suggest partners with no capacity left.")
@_state_options
@click.option("--backend", type=click.Choice(["local", "dask"]), default="local", show_default=True)
@click.option("--scheduler", default=None, help="Dask scheduler address (tcp://...) or 'local'.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def rank(model_path, schools_path, top, output, fmt, n_jobs, chunk_size, resume, weights_file, weight_items, include_full,
         db_path, cooldown_days, include_current, backend, scheduler, quiet):
    """Rank partners for every school into one file (batch; same results as recommend)."""
    from matcher.batch import parts_dir, rank_to_file

    weights = _weights_from(weights_file, weight_items)
    model, db = _load(model_path, db_path)
    state = _state_from(db, cooldown_days, include_current)
    try:
        with contextlib.ExitStack() as stack:
            summary = rank_to_file(model, output, schools=schools_path, top=top, fmt=fmt, weights=weights,
                                   include_full=include_full, state=state, n_jobs=n_jobs, chunk_size=chunk_size,
                                   resume=resume, backend=backend, scheduler=scheduler,
                                   progress=lambda total: stack.enter_context(_progress(total, "ranking schools", quiet)))
    except KeyboardInterrupt:
        click.echo(f"\nInterrupted: finished chunks are kept in {parts_dir(output)}; "
                   "run the same command with --resume to continue.", err=True)
        raise click.exceptions.Exit(130) from None
    click.echo(summary.text())


@main.command()
@_model_option
@click.option("--per-school", type=click.IntRange(min=1), default=1, show_default=True, help="Partners per school at most.")
@click.option("--equity-weight", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Boost high-need schools: score x (1 + W x frl_pct/100).")
@click.option("--candidates", type=click.IntRange(min=1), default=20, show_default=True,
              help="Each school's top partners considered.")
@click.option("--method", type=click.Choice(["auto", "exact", "greedy"]), default="auto", show_default=True,
              help="exact (LP) when small enough, else greedy-with-regret.")
@_weights_options
@_state_options
@click.option("--output", type=click.Path(dir_okay=False), required=True, help="CSV of assigned pairs.")
def assign(model_path, per_school, equity_weight, candidates, method, weights_file, weight_items, db_path, cooldown_days,
           include_current, output):
    """Allocate partners to schools within every partner's capacity, maximising the total score."""
    from matcher.assign import assign_from_model
    from matcher.files import atomic_write

    weights = _weights_from(weights_file, weight_items)
    model, db = _load(model_path, db_path)
    state = _state_from(db, cooldown_days, include_current)
    result = assign_from_model(model, per_school=per_school, equity_weight=equity_weight,
                               candidates_per_school=candidates, weights=weights, state=state, method=method)
    from matcher.formats import frame_csv

    with atomic_write(output, "w") as fh:
        fh.write(frame_csv(result.pairs.round({"score": config.SCORE_DECIMALS, "boosted_score": config.SCORE_DECIMALS})))
    click.echo(result.text(len(model.school_ids_), per_school, candidates, output))


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


@main.group()
def outcomes() -> None:
    """Record outreach outcomes and export them as past partnerships."""


@outcomes.command("record")
@click.option("--school", "school_id", required=True, help="School id (or a name only it has).")
@click.option("--partner", "partner_id", required=True, help="Partner id (or a name only it has).")
@click.option("--status", required=True, type=click.Choice(list(STATUSES)))
@click.option("--note", default="", help="Free-text note.")
@_model_option
@click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None,
              help="Workspace database (default: outreach.db beside the model; created if missing).")
def outcomes_record(school_id, partner_id, status, note, model_path, db_path):
    """Append one outreach event for a school-partner pair the model knows."""
    from matcher.config import workspace_path
    from matcher.state import OutreachStore

    model, _ = _load(model_path, db_path)
    school_id, partner_id = model.resolve("school", school_id), model.resolve("partner", partner_id)
    event = OutreachStore(db_path or workspace_path(model_path)).record(school_id, partner_id, status, note)
    click.echo(f"recorded #{event.id}: {event.school_id} {model.school_names_[model.school_row(school_id)]} / "
               f"{event.partner_id} {model.partner_names_[model.partner_row(partner_id)]} -> {event.status} "
               f"at {event.created_at}")


@outcomes.command("export")
@click.option("--db", "db_path", type=click.Path(dir_okay=False), default=str(config.DEFAULT_OUTREACH_DB),
              show_default="models/outreach.db")
@click.option("--output", type=click.Path(dir_okay=False), required=True, help="partnerships.csv to write.")
def outcomes_export(db_path, output):
    """Write recorded outcomes (partnered = 1, declined = 0) in the partnerships.csv format."""
    from pathlib import Path

    from matcher.state import OutreachStore

    if not Path(db_path).exists():
        raise click.UsageError(f"no workspace database at {db_path}")
    n = OutreachStore(db_path).export_outcomes(output)
    click.echo(f"wrote {output} ({n:,} rows)")


@main.command()
@_model_option
@click.option("--db", "db_path", type=click.Path(dir_okay=False), default=str(config.DEFAULT_OUTREACH_DB),
              show_default="models/outreach.db", help="Outreach database (created if missing).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback needs --token.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port (0: any free one).")
@click.option("--token", envvar="MATCHER_TOKEN", default=None,
              help="Require 'Authorization: Bearer TOKEN' on every request (or env MATCHER_TOKEN; at least "
                   "16 characters); a browser opens /?token=TOKEN once. Without one, only loopback Host names are served.")
@click.option("--cooldown-days", type=click.IntRange(min=0), default=config.DEFAULT_COOLDOWN_DAYS, show_default=True,
              help="Days a declined pair stays out of suggestions.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Server processes (each loads the model).")
def serve(model_path, db_path, host, port, token, cooldown_days, workers):
    """Serve the JSON API and the coordinator page (needs: pip install 'matcher[web]')."""
    from matcher.web import serve as run_server

    run_server(model_path, db_path, host, port, token, cooldown_days=cooldown_days, workers=workers)


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


main.add_command(partners)
main.add_command(schools)
main.add_command(users)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
