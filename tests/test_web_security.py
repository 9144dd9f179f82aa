"""The web app as an attacker and a careless user meet it: one regression test per defect of issue 12.

Bad input is a 4xx that never echoes the input back; the tokenless server
answers only loopback Host names; bodies are bounded; weak tokens are
refused; the token never reaches the access log; the login redirect stays
on this server; a full disk still serves reads; ids with "/" work everywhere;
and the OpenAPI schema says what the app does.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from urllib.parse import quote

import pandas as pd
import pytest

pytest.importorskip("fastapi", reason="the web extra is not installed (pip install 'matcher[web]')")
pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx")

from click.testing import CliRunner  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from matcher import config  # noqa: E402
from matcher.cli import main  # noqa: E402
from matcher.errors import MatcherError  # noqa: E402
from matcher.persistence import load_model  # noqa: E402
from matcher.state import OutreachStore  # noqa: E402
from matcher.web import create_app, serve  # noqa: E402

LOCAL = "http://127.0.0.1"
TOKEN = "a-long-enough-token-42"


@pytest.fixture(scope="module")
def model(model_file):
    return load_model(model_file)


@pytest.fixture
def db(tmp_path):
    return tmp_path / "outreach.db"


@pytest.fixture
def client(model, model_file, db):
    return TestClient(create_app(model, model_file, db), base_url=LOCAL, raise_server_exceptions=False)


# --------------------------------------------------------------------------- 1: surrogates, no echo


@pytest.mark.parametrize(
    "path, body, field",
    [
        ("/api/recommendations", b'{"need": "\\ud800 x"}', "body need"),
        ("/api/schools/S1/partners/P1/status", b'{"status": "contacted", "note": "\\udfff"}', "body note"),
        ("/api/recommendations", b'{"need": "x", "\\ud800": 1}', "body"),
        ("/api/recommendations", b'{"need": "x", "weights": {"\\ud800": 1}}', "body weights"),
    ],
    ids=["need", "note", "key", "weights-key"],
)
def test_surrogate_in_json_string_is_422_not_500(client, db, path, body, field):
    r = client.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail.startswith(field)
    assert "input" not in json.dumps(r.json().get("errors", []))
    assert OutreachStore(db).count() == 0


@pytest.mark.parametrize(
    "body, headers",
    [
        (json.dumps({"need": "sensitive words " * 400}), {"content-type": "application/json"}),  # over 5,000 characters
        (json.dumps({"need": "x", "top": "sensitive words"}), {"content-type": "application/json"}),
        (b"need=sensitive words", {"content-type": "text/plain"}),
    ],
    ids=["too-long", "wrong-type", "not-json"],
)
def test_422_never_echoes_the_input_back(client, body, headers):
    r = client.post("/api/recommendations", content=body, headers=headers)
    assert r.status_code == 422
    assert "sensitive" not in r.text
    assert all(set(e) == {"type", "loc", "field", "msg"} for e in r.json()["errors"])


# --------------------------------------------------------------------------- 3: body limit


def test_body_above_1_mib_is_413(client, db):
    assert config.MAX_REQUEST_BYTES == 1 << 20
    big = json.dumps({"status": "contacted", "note": "x" * config.MAX_REQUEST_BYTES}).encode()
    r = client.post("/api/schools/S1/partners/P1/status", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "1 MiB" in r.json()["detail"] and "xxxx" not in r.text
    assert OutreachStore(db).count() == 0
    small = json.dumps({"need": "tutoring", "top": 2}).encode() + b" " * (config.MAX_REQUEST_BYTES - 100)
    assert client.post("/api/recommendations", content=small, headers={"content-type": "application/json"}).status_code == 200


def test_body_limit_reads_at_most_the_limit(model, model_file, db):
    """A 200 MB body, streamed without Content-Length: refused after ~1 MiB, the rest never read."""
    app = create_app(model, model_file, db)
    chunk = b"x" * 65536
    read = {"chunks": 0}

    async def receive():
        read["chunks"] += 1
        return {"type": "http.request", "body": chunk, "more_body": read["chunks"] < 200 * 16}

    sent = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/api/recommendations", "raw_path": b"/api/recommendations", "query_string": b"",
             "root_path": "", "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")],
             "client": ("127.0.0.1", 5), "server": ("127.0.0.1", 80)}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413
    assert read["chunks"] * len(chunk) <= config.MAX_REQUEST_BYTES + len(chunk)
    # A declared length above the limit is refused before reading anything.
    read["chunks"], sent[:] = 0, []
    declared = {**scope, "headers": [*scope["headers"], (b"content-length", str(200 * 10**6).encode())]}
    asyncio.run(app(declared, receive, send))
    assert sent[0]["status"] == 413 and read["chunks"] == 0


# --------------------------------------------------------------------------- 4: Host rule (DNS rebinding)


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8000", "127.0.0.1.nip.io", "localhost.evil",
                                  "10.0.0.5:8000", ""])
def test_tokenless_server_answers_only_loopback_host_names(client, db, host):
    r = client.post("/api/schools/S1/partners/P1/status", json={"status": "contacted"}, headers={"host": host})
    assert r.status_code == 421
    assert "answers only to localhost, 127.0.0.1 or [::1]" in r.json()["detail"]
    assert client.get("/", headers={"host": host}).status_code == 421
    assert OutreachStore(db).count() == 0


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:8000", "localhost", "LOCALHOST:8000", "[::1]", "[::1]:8000"])
def test_loopback_host_names_are_served(client, host):
    assert client.get("/api/health", headers={"host": host}).status_code == 200


def test_with_a_token_any_host_is_served(model, model_file, db):
    client = TestClient(create_app(model, model_file, db, token=TOKEN), base_url="http://matcher.example.org")
    assert client.get("/api/health", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert client.get("/api/health").status_code == 401


# --------------------------------------------------------------------------- 6: ids with "/"


@pytest.fixture(scope="module")
def slashed(tmp_path_factory):
    """A model whose ids contain "/" (and other characters a URL must encode)."""
    from matcher.training import train_model

    d = tmp_path_factory.mktemp("slash")
    pd.DataFrame({"school_id": ["D12/0001", "D12/0002"], "name": ["Oak", "Pine"],
                  "needs": ["weekend food for hungry families", "college application help"],
                  "grades": ["K-5", "9-12"]}).to_csv(d / "schools.csv", index=False)
    pd.DataFrame({"partner_id": ["FB/1", "U 2?#"], "name": ["Food Bank", "Campus"],
                  "offerings": ["free groceries and weekend food backpacks", "college admissions advising"],
                  "grades": ["K-12", "9-12"], "remote": ["true", "true"]}).to_csv(d / "partners.csv", index=False)
    train_model(d / "schools.csv", d / "partners.csv", None, d / "m.joblib")
    return d / "m.joblib"


def test_ids_with_a_slash_reach_every_route(slashed, tmp_path):
    client = TestClient(create_app(load_model(slashed), slashed, tmp_path / "o.db"), base_url=LOCAL)
    s, p = quote("D12/0001", safe=""), quote("FB/1", safe="")  # as the page's encodeURIComponent sends them
    assert client.get(f"/api/schools/{s}/recommendations").json()[0]["partner_id"] == "FB/1"
    assert client.get(f"/api/schools/{s}/recommendations.csv").status_code == 200
    assert client.get(f"/api/partners/{p}/recommendations").json()[0]["school_id"] == "D12/0001"
    assert client.get(f"/api/partners/{p}/recommendations.csv").status_code == 200
    assert client.get(f"/api/schools/{s}/partners/{p}/explain").json()["partner_id"] == "FB/1"
    r = client.post(f"/api/schools/{s}/partners/{p}/status", json={"status": "shortlisted"})
    assert r.status_code == 201 and (r.json()["school_id"], r.json()["partner_id"]) == ("D12/0001", "FB/1")
    assert [e["status"] for e in client.get(f"/api/schools/{s}/partners/{p}/status").json()] == ["shortlisted"]
    odd = quote("U 2?#", safe="")
    assert client.get(f"/api/schools/{quote('D12/0002', safe='')}/partners/{odd}/explain").status_code == 200
    assert client.get("/api/schools/D12%2F9999/recommendations").status_code == 404
    # The page: its buttons carry the ids the script encodes; its links and CSV address work.
    page = client.get("/", params={"school": "D12/0001"})
    assert page.status_code == 200 and 'data-school="D12/0001"' in page.text and 'data-partner="FB/1"' in page.text
    csv_href = page.text.split('id="csv-link" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert client.get(csv_href).status_code == 200
    assert "Food Bank" in client.get("/", params={"school": "D12/0001", "partner": "FB/1"}).text
    assert client.get("/", params={"partner": "FB/1"}).status_code == 200


# --------------------------------------------------------------------------- 9: weak tokens


@pytest.mark.parametrize("token, message", [
    ("a", "too short (1 character); use at least 16"),
    (" ", "is blank"),
    ("", "is blank"),
    ("x" * 15, "too short (15 characters)"),
    (" " + "x" * 20, "starts or ends with a space"),
])
def test_weak_tokens_are_refused(model, model_file, db, tmp_path, monkeypatch, token, message):
    monkeypatch.delenv("MATCHER_TOKEN", raising=False)
    with pytest.raises(MatcherError, match=re.escape(message)):
        serve(tmp_path / "none.joblib", db, "0.0.0.0", 0, token)  # refused before loading anything
    with pytest.raises(MatcherError, match=re.escape(message)):
        create_app(model, model_file, db, token=token)
    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--token", token, "--model", str(tmp_path / "m")])
    assert result.exit_code == 1 and result.stderr.startswith("Error: --token: ") and message in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_weak_token_from_the_environment_is_refused_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MATCHER_TOKEN", "short")
    with pytest.raises(MatcherError, match="^MATCHER_TOKEN: too short"):
        serve(tmp_path / "none.joblib", tmp_path / "o.db", "0.0.0.0", 0, None)
    monkeypatch.setenv("MATCHER_TOKEN", "x" * 16)  # long enough: on to the next check
    with pytest.raises(MatcherError, match="no model file here"):
        serve(tmp_path / "none.joblib", tmp_path / "o.db", "0.0.0.0", 0, None)


# --------------------------------------------------------------------------- 10: the access log


@pytest.mark.parametrize("target", ["/?%74oken=s3cret-value", "/?school=S1&tok%65n=s3cret-value&top=3",
                                    "/?TOKEN=s3cret-value", "/?token=s3cret-value", "/?to%6B%65n=s3cret-value"])
def test_percent_encoded_token_key_is_hidden_in_the_access_log(target):
    from matcher.web.guard import RedactTokenFilter

    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", target, "1.1", 303), None)
    RedactTokenFilter().filter(record)
    assert "s3cret-value" not in record.getMessage() and "=[hidden]" in record.getMessage()


def test_percent_encoded_token_still_logs_in_and_is_hidden(model, model_file, db):
    client = TestClient(create_app(model, model_file, db, token=TOKEN))
    r = client.get(f"/?%74oken={TOKEN}&school=S1", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/?school=S1"


# --------------------------------------------------------------------------- 11: the login redirect


@pytest.mark.parametrize("path, location", [
    ("//evil.example/", "/evil.example/"),
    ("///evil.example/x", "/evil.example/x"),
    ("/%5Cevil.example", "/evil.example"),
    ("/%5C%5Cevil.example", "/evil.example"),
    ("/", "/"),
])
def test_login_redirects_only_to_a_path_on_this_server(model, model_file, db, path, location):
    from urllib.parse import unquote

    app = create_app(model, model_file, db, token=TOKEN)
    # Sent as a browser sends it (an HTTP client library would read "//evil.example/" as another host).
    status, headers = _asgi_get(app, unquote(path), f"token={TOKEN}".encode())
    assert status == 303
    assert headers["location"] == location and not headers["location"].startswith(("//", "/\\"))


def _asgi_get(app, path: str, query: bytes) -> tuple[int, dict[str, str]]:
    """GET ``path`` straight through the ASGI interface; the status and headers of the answer."""
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": query, "root_path": "",
             "headers": [(b"host", b"127.0.0.1:8000")], "client": ("127.0.0.1", 5), "server": ("127.0.0.1", 8000)}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], {k.decode(): v.decode() for k, v in sent[0]["headers"]}


# --------------------------------------------------------------------------- 12: full disk


def test_full_disk_writes_are_503_naming_the_cause_and_the_page_is_not_422(client, db, monkeypatch):
    real = sqlite3.connect

    class FullDisk:
        def __init__(self, conn):
            self._conn = conn

        def execute(self, sql, *args):
            if sql.startswith("INSERT"):
                raise sqlite3.OperationalError("database or disk is full")
            return self._conn.execute(sql, *args)

        def __getattr__(self, name):
            return getattr(self._conn, name)

    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: FullDisk(real(*a, **k)))
    r = client.post("/api/schools/S1/partners/P1/status", json={"status": "contacted"})
    assert r.status_code == 503
    assert r.json()["detail"] == (f"workspace database unavailable: {db}: cannot save to the workspace database: "
                                  "the disk is full (database or disk is full); free some space and try again")
    assert client.get("/api/schools/S1/recommendations").status_code == 200  # reads still served
    assert client.get("/?school=S1").status_code == 200

    def broken(*a, **k):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(sqlite3, "connect", broken)
    page = client.get("/?school=S1")  # the database itself, not the user's input: 503, not 422
    assert page.status_code == 503 and "disk I/O error (is the disk full or failing?)" in page.text


_FULL_TMPFS = textwrap.dedent(
    """
    import os, sys, tempfile
    from fastapi.testclient import TestClient
    from matcher.persistence import load_model
    from matcher.web import create_app

    folder = sys.argv[2]
    os.system(f"mount -t tmpfs -o size=1m tmpfs {folder}") == 0 or sys.exit(77)
    model = load_model(sys.argv[1])
    client = TestClient(create_app(model, sys.argv[1], f"{folder}/o.db"), base_url="http://127.0.0.1")
    assert client.post("/api/schools/S1/partners/P1/status", json={"status": "contacted"}).status_code == 201
    with open(f"{folder}/filler", "wb", buffering=0) as fh:  # fill the disk (unbuffered: nothing left to flush)
        try:
            while True:
                fh.write(b"x" * 65536)
        except OSError:
            pass
    out = [client.post("/api/schools/S1/partners/P2/status", json={"status": "declined", "note": "n" * 3000})]
    out += [client.get(p) for p in ("/api/schools/S1/recommendations", "/api/schools/S1/partners/P1/status",
                                    "/?school=S1", "/?school=S1&partner=P1")]
    print([r.status_code for r in out], out[0].json()["detail"])
    """
)


def test_full_disk_on_a_real_tmpfs_reads_still_served(model_file, tmp_path):
    """The same on a real full file system, where SQLite's own files cannot grow (needs unshare and tmpfs)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("needs unshare (util-linux) to mount a private tmpfs")
    folder = tmp_path / "small"
    folder.mkdir()
    done = subprocess.run([unshare, "--mount", "--map-root-user", sys.executable, "-c", _FULL_TMPFS,
                           str(model_file), str(folder)], capture_output=True, text=True, timeout=120)
    if done.returncode != 0 and ("unshare" in done.stderr or done.returncode == 77):
        pytest.skip(f"cannot mount a private tmpfs here: {done.stderr.strip()[:200]}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("[503, 200, 200, 200, 200]"), done.stdout
    assert "the disk is full" in done.stdout


# --------------------------------------------------------------------------- 16: OpenAPI contract


def test_openapi_contract_matches_behaviour(client):
    assert client.get("/api/schools/S1/recommendations?weight=").status_code == 200  # the schema allows it
    assert client.get("/api/schools/S1/recommendations?weight=&weight=geo=0.2").status_code == 200
    for body in [{"need": "food", "include_full": 0}, {"need": "food", "top": "3"}, {"need": "food", "top": True},
                 {"need": "food", "lat": "40", "lon": 0}, {"need": "food", "weights": {"text": "1"}}]:
        r = client.post("/api/recommendations", json=body)
        assert r.status_code == 422, body
    assert client.post("/api/recommendations", json={"need": "food", "top": 3.0}).status_code == 200  # an integer in JSON
    r = client.post("/api/recommendations", content=b'{"need": "caf\xe9"}', headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"] == "body: not valid JSON (a JSON body must be UTF-8 text)"
    for method in ["OPTIONS", "DELETE", "PUT"]:
        r = client.request(method, "/api/schools/S1/partners/P1/status")
        assert r.status_code == 405 and r.headers["allow"] == "GET, POST"
    spec = client.get("/openapi.json").json()
    status_path = spec["paths"]["/api/schools/{school_id}/partners/{partner_id}/status"]
    assert set(status_path) == {"get", "post"}
    assert "422" in status_path["post"]["responses"] and "413" in status_path["post"]["responses"]
    assert "503" in status_path["get"]["responses"] and "421" in status_path["get"]["responses"]
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {**spec["components"]["securitySchemes"]["bearerAuth"],
                                                                   "type": "http", "scheme": "bearer"}


def test_openapi_declares_the_bearer_token_when_the_server_has_one(model, model_file, db):
    client = TestClient(create_app(model, model_file, db, token=TOKEN))
    spec = client.get("/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for operations in spec["paths"].values():
        for operation in operations.values():
            assert operation["security"] == [{"bearerAuth": []}] and "401" in operation["responses"]
