"""Who may use the web app: the token rule and loopback addresses (no web framework needed)."""
from __future__ import annotations

import ipaddress

from matcher import config
from matcher.errors import MatcherError

#: Environment variable read for the token when ``--token`` is not given.
TOKEN_ENV = "MATCHER_TOKEN"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (only this machine can connect).

    Examples
    --------
    >>> [is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "0.0.0.0", "192.168.1.5", "example.org")]
    [True, True, True, True, False, False, False]
    """
    h = str(host).strip().strip("[]")
    if h.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve anywhere




def check_token(token: str | None, source: str = "token") -> None:
    """Refuse a token that is blank, padded with spaces or shorter than ``config.MIN_TOKEN_CHARS``.

    ``None`` means no token (loopback only). Anyone who can reach the port can
    try tokens as fast as the server answers, so a short one is no lock.

    Examples
    --------
    >>> check_token(None); check_token("q8Zr-4kT1xP0vN7w")
    >>> check_token("a")
    Traceback (most recent call last):
    ...
    matcher.errors.MatcherError: token: too short (1 character); use at least 16, for example: python -c 'import secrets; print(secrets.token_urlsafe(24))'
    """
    if token is None:
        return
    hint = "python -c 'import secrets; print(secrets.token_urlsafe(24))'"
    if not isinstance(token, str) or not token.strip():
        raise MatcherError(f"{source}: is blank; use at least {config.MIN_TOKEN_CHARS} characters, for example: {hint}")
    if token != token.strip():
        raise MatcherError(f"{source}: starts or ends with a space, which a client's header would not carry; remove it")
    if len(token) < config.MIN_TOKEN_CHARS:
        n = len(token)
        raise MatcherError(
            f"{source}: too short ({n} character{'s' if n != 1 else ''}); use at least {config.MIN_TOKEN_CHARS}, "
            f"for example: {hint}"
        )
