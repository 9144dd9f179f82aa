"""``matcher partners|schools add|update|remove|import`` and ``matcher users``: live changes from the command line.

Each change is validated with the data contract, encoded, stored in the
workspace database (``outreach.db`` beside the model, or ``--db``) with the
user in the change history, and in the next ``matcher recommend``, the API
and the page at once, without retraining. :mod:`matcher.cli` adds these
groups to the ``matcher`` command (and maps their errors).
"""
from __future__ import annotations

import click

from matcher import config


def _options(f):
    f = click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None,
                     help="Workspace database (default: outreach.db beside the model).")(f)
    f = click.option("--model", "model_path", type=click.Path(dir_okay=False), default=str(config.DEFAULT_MODEL),
                     show_default="models/matcher.joblib", help="The trained model.")(f)
    return f


def _live(model_path: str, db_path: str | None):
    from matcher.live import LiveModel, adopt, workspace_for
    from matcher.persistence import load_model

    db = workspace_for(model_path, db_path, create=True)
    return LiveModel(adopt(load_model(model_path), db, user=user_name()), db)


def user_name() -> str:
    """Who is making a change from the command line (recorded in the history)."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name in this environment
        return "cli"


def _fields(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected COLUMN=VALUE, got {item!r}", param_hint="--set")
        out[key.strip()] = value
    return out


def _say(change) -> None:
    what = {"create": "added", "update": "updated", "deactivate": "removed"}[change.action]
    click.echo(f"{change.kind} {change.entity_id} {what} (revision {change.revision}, by {change.user}); "
               "in the next recommendation")


def _group(kind: str) -> click.Group:
    plural = f"{kind}s"
    text = "needs" if kind == "school" else "offerings"

    @click.group(name=plural, help=f"Add, update, remove or import {plural} without retraining.")
    def group() -> None:
        pass

    @group.command("add")
    @click.argument("entity_id")
    @click.option("--set", "items", multiple=True, metavar="COLUMN=VALUE", required=True,
                  help=f"A {plural}.csv column, e.g. --set name='...' --set {text}='...' (repeat).")
    @_options
    def add(entity_id, items, model_path, db_path):
        live = _live(model_path, db_path)
        if entity_id in live.model().index(kind):
            raise click.ClickException(f"{kind} {entity_id!r} exists already; use `matcher {plural} update`")
        _say(live.put(kind, entity_id, _fields(items), user=user_name(), create=True, source="--set"))

    @group.command("update")
    @click.argument("entity_id")
    @click.option("--set", "items", multiple=True, metavar="COLUMN=VALUE", required=True,
                  help="Columns to change (the others keep their values); repeat.")
    @_options
    def update(entity_id, items, model_path, db_path):
        live = _live(model_path, db_path)
        model = live.model()
        (model.school_row if kind == "school" else model.partner_row)(entity_id)  # unknown id: suggestions
        current = live.catalog.get(kind, entity_id)
        row = {**(current.row if current is not None else {}), **_fields(items)}
        _say(live.put(kind, entity_id, row, user=user_name(), create=False, source="--set"))

    @group.command("remove")
    @click.argument("entity_id")
    @_options
    def remove(entity_id, model_path, db_path):
        live = _live(model_path, db_path)
        model = live.model()
        (model.school_row if kind == "school" else model.partner_row)(entity_id)
        _say(live.remove(kind, entity_id, user=user_name()))

    @group.command("import")
    @click.argument("path", type=click.Path(dir_okay=False))
    @_options
    def import_rows(path, model_path, db_path):
        from matcher.data import read_partners, read_schools

        table = (read_schools if kind == "school" else read_partners)(path)
        live = _live(model_path, db_path)
        s = live.import_rows(kind, table, user=user_name())
        click.echo(f"{path}: {s.created} {plural} added, {s.updated} updated, {s.unchanged} unchanged "
                   f"(revision {s.revision}); in the next recommendation")

    for cmd, doc in ((add, f"Add a new {kind}."), (update, f"Change some columns of a {kind}."),
                     (remove, f"Take a {kind} out of every suggestion (its row and history are kept)."),
                     (import_rows, f"Add or replace the {plural} of a CSV of changed rows (the others stay).")):
        cmd.help = doc
    return group


partners = _group("partner")
schools = _group("school")


@click.group(help="Accounts for the web app: who may change what.")
def users() -> None:
    pass


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["admin", "coordinator", "viewer"]), required=True,
              help="admin: everything; coordinator: its schools and their outreach; viewer: nothing.")
@click.option("--schools", "scope", default=None, help="A coordinator's schools, comma-separated (default: all).")
@_options
def users_add(name, role, scope, model_path, db_path):
    """Create an account and print its token (shown once: only a hash is kept)."""
    from matcher.accounts import Accounts
    from matcher.live import workspace_for

    if scope is not None and role != "coordinator":
        raise click.BadParameter("only a coordinator has a scope of schools", param_hint="--schools")
    schools = None
    if scope is not None:
        live = _live(model_path, db_path)
        schools = [s.strip() for s in scope.split(",") if s.strip()]
        for school_id in schools:
            live.model().school_row(school_id)  # an unknown id is refused, with suggestions
    token = Accounts(workspace_for(model_path, db_path, create=True)).add(name, role, schools)
    click.echo(f"account {name} ({role}) created; its token (keep it, it is not shown again):")
    click.echo(token)


@users.command("list")
@_options
def users_list(model_path, db_path):
    """List the accounts."""
    from matcher.accounts import Accounts
    from matcher.live import workspace_for

    db = workspace_for(model_path, db_path)
    for u in Accounts(db).list() if db is not None else []:
        click.echo(f"{u.name}\t{u.role}\t{'all schools' if u.schools is None else ','.join(u.schools)}")


@users.command("remove")
@click.argument("name")
@_options
def users_remove(name, model_path, db_path):
    """Delete an account."""
    from matcher.accounts import Accounts
    from matcher.live import workspace_for

    Accounts(workspace_for(model_path, db_path, create=True)).remove(name)
    click.echo(f"account {name} removed")
