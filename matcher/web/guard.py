"""Every request's gate: the token, the loopback Host rule, the body limit, security headers, log redaction."""
from __future__ import annotations

import hmac
import logging
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, quote, unquote_plus, urlencode

from starlette.responses import HTMLResponse, JSONResponse, Response

from matcher import config
from matcher.accounts import LOCAL_USER, TOKEN_USER, session_value
from matcher.workspace import StateError

#: Name of the session cookie set by ``/?token=...``.
COOKIE = "matcher_session"

_CSP_PAGE = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI sets inline styles and uses data: images; it still loads nothing from elsewhere.
_CSP_DOCS = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)



def loopback_host(host: str | bytes | None) -> bool:
    """Whether a ``Host`` header names this machine: ``localhost``, ``127.0.0.1``, ``[::1]``, with or without a port.

    A tokenless server answers only these, so a page on another site cannot
    reach it by pointing its own name at 127.0.0.1 (DNS rebinding): the
    browser would send that name as ``Host``.

    Examples
    --------
    >>> [loopback_host(h) for h in ("localhost:8000", "127.0.0.1", "[::1]:80", "attacker.example", "127.0.0.1.nip.io", "")]
    [True, True, True, False, False, False]
    """
    from matcher.web.tokens import is_loopback

    if isinstance(host, bytes):
        host = host.decode("latin-1")
    host = (host or "").strip().lower()
    if host.startswith("["):
        name, _, port = host[1:].partition("]")
        if port and not (port.startswith(":") and port[1:].isdigit()):
            return False
        return ":" in name and is_loopback(name)
    name, sep, port = host.partition(":")
    if sep and not port.isdigit():
        return False
    return bool(name) and ":" not in name and is_loopback(name)


def _same_origin_path(path: str) -> str:
    """A redirect target on this server: the request path with its leading slashes (and backslashes) made one.

    ``//evil.example/`` would be a link to another site (a scheme-relative URL);
    browsers also read ``/\\evil.example`` so.

    Examples
    --------
    >>> _same_origin_path("//evil.example/"), _same_origin_path("/\\\\evil.example"), _same_origin_path("/a b")
    ('/evil.example/', '/evil.example', '/a%20b')
    """
    return "/" + quote(path.lstrip("/\\"), safe="/:@!$&'()*+,;=-._~")


def request_user(request):
    """The user :class:`GuardMiddleware` identified for a request (the local user when none was needed)."""
    return request.scope.get("state", {}).get("user", LOCAL_USER)


class GuardMiddleware:
    """Who is asking, the Host rule, the request-body limit and security headers (plain ASGI, cheap).

    Who is asking: with accounts (:mod:`matcher.accounts`), the account whose
    token (``Authorization: Bearer``, or the session cookie a browser got
    from ``/?token=``) the request carries; with a shared ``token``, whoever
    presents it; with neither, the single local user -- and then a ``Host``
    other than a loopback name is refused (421), so a web page elsewhere
    cannot reach the server by pointing its own name at 127.0.0.1. A request
    without valid credentials where they are needed is refused (401). The
    user is put in ``scope["state"]["user"]``. Then a body above ``max_body``
    bytes is refused (413) -- by its ``Content-Length`` before reading
    anything, or as soon as the bytes read pass the limit -- so no request
    makes the server hold more than that.
    """

    def __init__(self, app, token: str | None, max_body: int = config.MAX_REQUEST_BYTES, accounts=None):
        self.app = app
        self.token = token.encode("utf-8") if token else None
        self.session = session_value(token) if token else None
        self.accounts = accounts
        self.max_body = max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        csp = _CSP_DOCS if path.startswith("/docs") else _CSP_PAGE

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                    (b"content-security-policy", csp.encode()),
                ]
                if path.startswith("/api/"):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            with_accounts = self.accounts is not None and self.accounts.any()
        except StateError as exc:  # the workspace cannot be read: nobody can be identified
            response = JSONResponse({"detail": f"workspace database unavailable: {exc}"}, status_code=503)
            return await response(scope, receive, send_with_headers)
        if self.token is None and not with_accounts:
            host = next((v for k, v in scope.get("headers", []) if k == b"host"), None)
            if not loopback_host(host):
                shown = (host or b"").decode("latin-1")[:100]
                response = JSONResponse(
                    {"detail": f"this server answers only to localhost, 127.0.0.1 or [::1] (Host {shown!r} refused); "
                               "to serve other names, start it with a token"}, status_code=421)
                return await response(scope, receive, send_with_headers)
            user = LOCAL_USER
        else:
            user = self._user(scope, with_accounts)
            if user is None:
                response = self._login_or_refuse(scope, with_accounts)
                return await response(scope, receive, send_with_headers)
        scope.setdefault("state", {})["user"] = user
        body = await self._bounded_body(scope, receive)
        if body is None:  # the client went away
            return None
        if isinstance(body, Response):
            return await body(scope, receive, send_with_headers)
        return await self.app(scope, _replay(body, receive), send_with_headers)

    async def _bounded_body(self, scope, receive) -> bytes | Response | None:
        """The whole request body, or a 413 response as soon as it is known to pass the limit."""
        too_large = JSONResponse(
            {"detail": f"request body too large: the limit is {self.max_body:,} bytes (1 MiB)"}, status_code=413,
            headers={"connection": "close"})
        length = next((v for k, v in scope.get("headers", []) if k == b"content-length"), None)
        if length is not None and length.strip().isdigit() and int(length) > self.max_body:
            return too_large
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _user(self, scope, with_accounts: bool):
        """The user the request's credentials name, or None."""
        auth = cookie = b""
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                auth = value
            elif name == b"cookie":
                cookie = value
        scheme, _, given = auth.partition(b" ")
        if scheme.lower() == b"bearer" and given.strip():
            return self._for_token(given.strip().decode("latin-1"), with_accounts)
        if cookie:
            jar = SimpleCookie()
            try:
                jar.load(cookie.decode("latin-1"))
            except Exception:  # noqa: BLE001 - a malformed cookie header is simply not a session
                return None
            morsel = jar.get(COOKIE)
            if morsel is not None:
                if self.session is not None and hmac.compare_digest(morsel.value.encode(), self.session.encode()):
                    return TOKEN_USER
                if with_accounts:
                    return self.accounts.for_session(morsel.value)
        return None

    def _for_token(self, token: str, with_accounts: bool):
        if self.token is not None and hmac.compare_digest(token.encode("utf-8"), self.token):
            return TOKEN_USER
        return self.accounts.for_token(token) if with_accounts else None

    def _login_or_refuse(self, scope, with_accounts: bool) -> Response:
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = [v for k, v in query if k == "token"]
        if scope.get("method") == "GET" and given and self._for_token(given[-1], with_accounts) is not None:
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            location = _same_origin_path(scope.get("path", "/")) + (f"?{rest}" if rest else "")
            response = Response(status_code=303, headers={"location": location})
            response.set_cookie(COOKIE, session_value(given[-1]), httponly=True, samesite="strict", path="/",
                                secure=scope.get("scheme") == "https")
            return response
        accept = dict(scope.get("headers", [])).get(b"accept", b"")
        headers = {"www-authenticate": 'Bearer realm="matcher"'}
        if b"text/html" in accept and not scope.get("path", "").startswith("/api/"):
            return HTMLResponse(_UNAUTHORISED_PAGE, status_code=401, headers=headers)
        detail = ("a token is required: send 'Authorization: Bearer <token>'" if not given
                  else "wrong token")
        return JSONResponse({"detail": detail}, status_code=401, headers=headers)


def _replay(body: bytes, receive):
    """A ``receive`` that gives the body already read, then waits on the real one (for a disconnect)."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _redact_query(target: str) -> str:
    """A request target with the value of every ``token`` parameter hidden, however its name is percent-encoded.

    Examples
    --------
    >>> _redact_query("/?school=S1&%74ok%65n=s3cret&top=3")
    '/?school=S1&%74ok%65n=[hidden]&top=3'
    """
    path, sep, query = target.partition("?")
    if not sep:
        return target
    parts = []
    for item in query.split("&"):
        key, eq, _ = item.partition("=")
        if unquote_plus(key).strip().lower() == "token":
            item = f"{key}=[hidden]"
        parts.append(item)
    return f"{path}?{'&'.join(parts)}"


class RedactTokenFilter(logging.Filter):
    """Hide ``token=...`` in access-log lines, so opening ``/?token=...`` never writes the token to a log.

    The parameter's name is compared after percent-decoding (``%74oken=`` is
    ``token=`` to the server, so it is hidden too).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, str) and "?" in a for a in record.args):
            record.args = tuple(_redact_query(a) if isinstance(a, str) and "?" in a else a for a in record.args)
        return True


def redact_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactTokenFilter) for f in access.filters):
        access.addFilter(RedactTokenFilter())


_UNAUTHORISED_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Token needed - matcher</title></head>
<body><main><h1>A token is needed</h1>
<p>This matcher server asks for a token. Open this page once with <code>?token=YOUR_TOKEN</code> added to the
address (for example <code>/?token=...</code>); the browser then keeps a session cookie and the token is
removed from the address.</p><p>Programs send the header <code>Authorization: Bearer YOUR_TOKEN</code>.</p>
</main></body></html>"""

