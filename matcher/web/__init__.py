"""The web app: a JSON API and a page for coordinators, served by ``matcher serve``.

Needs the optional extra ``pip install "matcher[web]"`` (FastAPI, uvicorn,
Jinja2 and Swagger UI's files, so ``/docs`` works offline). Everything the
page and ``/docs`` load is served by the package: nothing comes from the
internet.

Security model
--------------
The server listens on loopback (127.0.0.1) by default, where only this
machine can reach it. Without a token it answers only requests whose
``Host`` is a loopback name (``localhost``, ``127.0.0.1``, ``[::1]``, with
or without the port; others get 421), so a web page elsewhere cannot reach
it through DNS rebinding. Listening on any other address needs a token
(``--token`` or the ``MATCHER_TOKEN`` environment variable) of at least
:data:`matcher.config.MIN_TOKEN_CHARS` (16) characters, not blank; with a
token, every request must carry ``Authorization: Bearer <token>`` or the
session cookie the page sets: open ``http://HOST:PORT/?token=<token>`` once
in a browser and the server sets an HttpOnly, SameSite=Strict cookie
(holding a keyed hash of the token, not the token) and redirects to the same
path on this server without the token (which the access log hides, however
it is spelled). Request bodies above :data:`matcher.config.MAX_REQUEST_BYTES`
(1 MiB) are refused with 413 before they are read. Plain HTTP carries the
token in clear: across a network, put the app behind an HTTPS reverse proxy.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from matcher import config
from matcher.blas import pin_one_blas_thread
from matcher.errors import MatcherError
from matcher.web.tokens import TOKEN_ENV, check_token, is_loopback

if TYPE_CHECKING:  # pragma: no cover
    from datetime import datetime

__all__ = ["EXTRA_MESSAGE", "TOKEN_ENV", "check_token", "create_app", "is_loopback", "serve"]

#: What ``matcher serve`` says when the optional extra is missing.
EXTRA_MESSAGE = "the web app needs the optional extra: pip install 'matcher[web]'"



def _check_extra() -> None:
    """Raise the install hint when the web extra is not installed."""
    try:
        import fastapi  # noqa: F401
        import jinja2  # noqa: F401
        import swagger_ui_bundle  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise MatcherError(EXTRA_MESSAGE) from None


def _check_host(host: str, token: str | None, has_accounts: bool = False) -> None:
    if not is_loopback(host) and not token and not has_accounts:
        raise MatcherError(
            f"refusing to listen on {host}: any address but loopback (127.0.0.1) needs a token, "
            f"so give a `token` or set {TOKEN_ENV}, or add accounts with `matcher users add` (clients then send 'Authorization: Bearer TOKEN'; "
            "a browser opens /?token=TOKEN once)"
        )


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket, or a MatcherError naming the address (port taken, bad host...)."""
    h = str(host).strip().strip("[]")
    try:
        family, _, _, _, addr = socket.getaddrinfo(h, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        return socket.create_server(addr[:2] if family == socket.AF_INET else addr, family=family, backlog=2048)
    except socket.gaierror as exc:
        raise MatcherError(f"cannot listen on {host}:{port}: unknown host ({exc.strerror})") from None
    except OSError as exc:
        raise MatcherError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def create_app(
    model: Any,
    model_path: str | Path | None,
    db_path: str | Path | None,
    token: str | None = None,
    cooldown_days: int = config.DEFAULT_COOLDOWN_DAYS,
    clock: Callable[[], datetime] | None = None,
):
    """The FastAPI app serving ``model`` (a fitted PartnerMatcher).

    Parameters
    ----------
    model : PartnerMatcher
        Loaded once (see :func:`matcher.persistence.load_model`).
    model_path : str or Path, optional
        The model's file, for ``/api/health`` (its metadata, as ``matcher info``).
    db_path : str or Path, optional
        Workspace database (outreach, the live catalogue, accounts); default
        ``outreach.db`` beside the model file (:data:`matcher.config.DEFAULT_OUTREACH_DB`
        without one), created if missing.
    token : str, optional
        When given, every request needs ``Authorization: Bearer <token>``
        (or the cookie set by opening ``/?token=<token>``); at least
        ``config.MIN_TOKEN_CHARS`` (16) characters, not blank. Without one,
        only requests whose ``Host`` is a loopback name are answered.
    cooldown_days : int, default 180
        Days a declined pair stays out of suggestions.
    clock : callable, optional
        Current time for the outreach store (tests).
    """
    _check_extra()
    from matcher.web.app import build_app

    return build_app(model, model_path, db_path, token=token, cooldown_days=cooldown_days, clock=clock)


def serve(
    model_path: str | Path | None = None,
    db_path: str | Path | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    *,
    cooldown_days: int = config.DEFAULT_COOLDOWN_DAYS,
    workers: int = 1,
    access_log: bool = True,
    echo: Callable[[str], Any] = print,
) -> None:
    """Load the model, check the address, and serve the app until interrupted.

    Every problem that can be found before serving is a :class:`MatcherError`
    raised before the server starts: the extra not installed, a non-loopback
    host without a token, a missing or bad model, an unusable database, a
    port already taken.

    ``workers`` > 1 runs that many server processes on the one socket, each
    with its own copy of the model (memory grows accordingly); they share the
    outreach database safely (see :mod:`matcher.state`).
    """
    _check_extra()
    if token is None and os.environ.get(TOKEN_ENV):
        token = os.environ[TOKEN_ENV]
    check_token(token, TOKEN_ENV if token is not None and token == os.environ.get(TOKEN_ENV) else "--token")
    model_path = Path(model_path) if model_path is not None else config.DEFAULT_MODEL
    db_path = Path(db_path) if db_path is not None else config.workspace_path(model_path)
    if not is_loopback(host) and not token:
        from matcher.accounts import Accounts

        _check_host(host, token, db_path.exists() and Accounts(db_path).any())
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise MatcherError(f"port must be a whole number from 0 to 65535, got {port!r}")
    if not isinstance(workers, int) or isinstance(workers, bool) or not 1 <= workers <= 64:
        raise MatcherError(f"workers must be a whole number from 1 to 64, got {workers!r}")

    import uvicorn

    from matcher.live import adopt
    from matcher.persistence import load_model
    from matcher.workspace import Workspace

    model = load_model(model_path)
    pin_one_blas_thread()
    model = adopt(model, Workspace(db_path))  # once here, so every worker starts from the same catalogue
    app = create_app(model, model_path, db_path, token=token, cooldown_days=cooldown_days)
    catalog = f"{model.catalog_generation_} {model.catalog_revision_}"
    del model  # the app holds its own (the live model keeps its sentences in a growable copy)
    sock = _listen(host, port)
    bound = sock.getsockname()
    shown = f"[{bound[0]}]" if sock.family == socket.AF_INET6 else bound[0]
    echo(f"matcher web app on http://{shown}:{bound[1]}/ (API docs at /docs); press Ctrl+C to stop")
    if token:
        echo(f"a token is required: send 'Authorization: Bearer <token>', or open http://{shown}:{bound[1]}/?token=<token> once")
    options = dict(log_level="info", access_log=access_log, server_header=False, timeout_graceful_shutdown=5)
    try:
        if workers == 1:
            uvicorn.Server(uvicorn.Config(app, **options)).run(sockets=[sock])
        else:
            from uvicorn.supervisors import Multiprocess

            del app  # each worker loads its own copy
            # Worker processes build the app with app.app_from_env, from these variables.
            os.environ.update({
                "_MATCHER_WEB_MODEL": str(model_path.resolve()),
                "_MATCHER_WEB_DB": str(db_path.resolve()),
                "_MATCHER_WEB_CATALOG": catalog,
                "_MATCHER_WEB_COOLDOWN": str(cooldown_days),
                "_MATCHER_WEB_TOKEN": token or "",
            })
            cfg = uvicorn.Config("matcher.web.app:app_from_env", factory=True, workers=workers, **options)
            import inspect

            if "target" in inspect.signature(Multiprocess).parameters:  # uvicorn before its process manager
                Multiprocess(cfg, target=uvicorn.Server(cfg).run, sockets=[sock]).run()
            else:
                Multiprocess(cfg, sockets=[sock]).run()
    finally:
        sock.close()
