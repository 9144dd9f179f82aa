"""Accounts with scopes: who may change what through the web app.

``matcher users add NAME --role admin|coordinator|viewer [--schools ID,...]``
creates an account and prints its token once; only a hash of it is stored.

* an **admin** changes everything: schools, partners, outreach;
* a **coordinator** changes the schools in its scope (every school when no
  scope is given) and their outreach, not partners;
* a **viewer** reads and changes nothing.

With no account and no shared token, a server on loopback serves one local
user with every right (the single-user default); once an account exists,
every request needs a token.

Examples
--------
>>> import tempfile, pathlib
>>> accounts = Accounts(pathlib.Path(tempfile.mkdtemp()) / "workspace.db")
>>> token = accounts.add("ana", "coordinator", schools=["S1"])
>>> user = accounts.for_token(token)
>>> user.name, user.can_change_school("S1"), user.can_change_school("S2"), user.can_change_partners
('ana', True, False, False)
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matcher.ids import normalise_id
from matcher.workspace import StateError, Workspace

#: The roles, most rights first.
ROLES: tuple[str, ...] = ("admin", "coordinator", "viewer")

#: Characters of a generated token (about 190 bits).
TOKEN_BYTES = 24


@dataclass(frozen=True)
class User:
    """Someone using the web app (or the command line), and what they may change."""

    name: str
    role: str
    schools: tuple[str, ...] | None = None  # a coordinator's scope; None = every school

    @property
    def can_change_partners(self) -> bool:
        return self.role == "admin"

    def can_change_school(self, school_id: str) -> bool:
        """Whether this user may change the school (its needs, its outreach)."""
        if self.role == "admin":
            return True
        if self.role == "coordinator":
            return self.schools is None or normalise_id(str(school_id)) in self.schools
        return False

    def to_dict(self) -> dict:
        return {"name": self.name, "role": self.role, "schools": None if self.schools is None else list(self.schools)}


#: The single user of a loopback server without accounts or token.
LOCAL_USER = User("local", "admin")
#: Whoever presents the server's shared ``--token``.
TOKEN_USER = User("token", "admin")


def session_value(token: str) -> str:
    """The cookie value for a token: a keyed hash, so the cookie never holds the token itself."""
    return hmac.new(token.encode("utf-8"), b"matcher-web-session-v1", hashlib.sha256).hexdigest()


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Accounts:
    """The accounts kept in the workspace database.

    Parameters
    ----------
    db : Workspace or path
    """

    def __init__(self, db: Workspace | str | Path):
        self.db = db if isinstance(db, Workspace) else Workspace(db)

    def add(self, name: str, role: str, schools: Sequence[str] | None = None) -> str:
        """Create an account; returns its token (shown once, stored only as a hash)."""
        name = str(name).strip()
        if not name or any(c.isspace() for c in name):
            raise StateError(f"an account name must be one word, not {name!r}")
        if role not in ROLES:
            raise StateError(f"unknown role {role!r}; use one of: {', '.join(ROLES)}")
        scope = None
        if schools is not None:
            scope = sorted({normalise_id(str(s)) for s in schools if str(s).strip()})
            if role != "coordinator":
                raise StateError("only a coordinator has a scope of schools")
        token = secrets.token_urlsafe(TOKEN_BYTES)
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise StateError(f"an account named {name!r} exists already")
            conn.execute("INSERT INTO users (name, role, schools, token_sha, session_sha, created_at) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         (name, role, None if scope is None else json.dumps(scope), _sha(token),
                          _sha(session_value(token)), self.db.now()))
        return token

    def remove(self, name: str) -> None:
        """Delete an account (its past changes keep its name)."""
        with self.db.transaction() as conn:
            if not conn.execute("DELETE FROM users WHERE name = ?", (str(name),)).rowcount:
                raise StateError(f"no account named {name!r}")

    def list(self) -> list[User]:
        """Every account, by name."""
        with self.db.read() as conn:
            return [_user(*row) for row in conn.execute("SELECT name, role, schools FROM users ORDER BY name")]

    def any(self) -> bool:
        """Whether at least one account exists."""
        with self.db.read() as conn:
            return conn.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None

    def for_token(self, token: str) -> User | None:
        """The account whose token this is, or None."""
        return self._find("token_sha", _sha(token))

    def for_session(self, cookie: str) -> User | None:
        """The account a session cookie belongs to, or None."""
        return self._find("session_sha", _sha(cookie))

    def _find(self, column: str, digest: str) -> User | None:
        with self.db.read() as conn:
            row = conn.execute(f"SELECT name, role, schools FROM users WHERE {column} = ?", (digest,)).fetchone()
        return None if row is None else _user(*row)


def _user(name: str, role: str, schools: str | None) -> User:
    return User(name, role, None if schools is None else tuple(json.loads(schools)))
