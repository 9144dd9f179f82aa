"""The web app's JSON API, page and token rule, in process (FastAPI's TestClient).

Ranking endpoints must give exactly what `matcher recommend --format json`
prints for the same model, weights and outreach state; every error is a JSON
``{"detail": ...}`` with the right status and never a traceback.
"""
from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone

import pytest

pytest.importorskip("fastapi", reason="the web extra is not installed (pip install 'matcher[web]')")
pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx")

from click.testing import CliRunner  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from matcher.cli import main  # noqa: E402
from matcher.errors import MatcherError, ModelFileError  # noqa: E402
from matcher.persistence import load_model  # noqa: E402
from matcher.web import create_app, is_loopback, serve  # noqa: E402

BLOCKS = ["text", "categories", "grades", "geo", "partner_type"]
LOCAL = "http://127.0.0.1"
TOKEN = "s3cret-tok-0123456789"


@pytest.fixture(scope="module")
def model(model_file):
    return load_model(model_file)


@pytest.fixture
def db(tmp_path):
    return tmp_path / "outreach.db"


@pytest.fixture
def client(model, model_file, db):
    # A tokenless server answers only loopback Host names: TestClient's default "testserver" is refused.
    return TestClient(create_app(model, model_file, db), base_url=LOCAL, raise_server_exceptions=False)


def cli_json(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads(result.stdout)


def cli_text(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output + result.stderr
    return result.stdout


def without_status(rows):
    for r in rows:
        assert "status" in r
    return [{k: v for k, v in r.items() if k != "status"} for r in rows]


def record(client, school, partner, status, note=""):
    r = client.post(f"/api/schools/{school}/partners/{partner}/status", json={"status": status, "note": note})
    assert r.status_code == 201, r.text
    return r.json()


# --------------------------------------------------------------------------- paths


def test_health_is_the_model_metadata(client, model_file):
    r = client.get("/api/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["model"] == cli_json("info", "--model", model_file, "--format", "json")


def test_school_search_for_the_picker(client):
    assert client.get("/api/schools", params={"q": "oak"}).json() == [
        {"school_id": "S1", "name": "Oak Elementary", "grades": "K-5"}
    ]
    ids = [s["school_id"] for s in client.get("/api/schools", params={"q": "S"}).json()]
    assert ids == ["S1", "S2", "S3", "S4", "S5"]  # id prefix matches, in id order
    assert [s["school_id"] for s in client.get("/api/schools", params={"q": "s3"}).json()][0] == "S3"  # exact id first
    assert [s["school_id"] for s in client.get("/api/schools", params={"q": "SCHOOL"}).json()] == ["S2", "S3"]
    assert len(client.get("/api/schools", params={"limit": 2}).json()) == 2
    assert client.get("/api/schools", params={"q": "zzz"}).json() == []
    assert client.get("/api/schools", params={"limit": 0}).status_code == 422


def test_school_recommendations_equal_the_cli(client, model_file, db):
    api = client.get("/api/schools/S1/recommendations", params={"top": 10}).json()
    cli = cli_json("recommend", "--model", model_file, "--db", db, "--school", "S1", "--top", 10, "--format", "json")
    assert without_status(api) == cli
    assert api[0]["partner_id"] == "P1" and api[0]["status"] is None
    assert [r["partner_id"] for r in client.get("/api/schools/S1/recommendations", params={"top": 2}).json()] == \
        [r["partner_id"] for r in cli[:2]]


def test_results_follow_recorded_state_like_the_cli(client, model_file, db):
    record(client, "S1", "P1", "do_not_contact", "asked us not to call")
    record(client, "S1", "P4", "contacted")
    record(client, "S2", "P2", "partnered")  # uses one of P2's 3 places
    record(client, "S1", "P5", "declined")
    for school in ["S1", "S2", "S3", "S4", "S5"]:
        for extra_api, extra_cli in [({}, []), ({"include_current": "true"}, ["--include-current"]),
                                     ({"include_full": "true"}, ["--include-full"]),
                                     ({"weight": ["text=0.1", "geo=0.5"]}, ["--weight", "text=0.1", "--weight", "geo=0.5"])]:
            api = client.get(f"/api/schools/{school}/recommendations", params={"top": 10, **extra_api}).json()
            cli = cli_json("recommend", "--model", model_file, "--db", db, "--school", school, "--format", "json", *extra_cli)
            assert without_status(api) == cli, (school, extra_api)
    s1 = client.get("/api/schools/S1/recommendations").json()
    assert "P1" not in [r["partner_id"] for r in s1] and "P5" not in [r["partner_id"] for r in s1]
    assert {r["partner_id"]: r["status"] for r in s1}["P4"] == "contacted"
    s2 = client.get("/api/schools/S2/recommendations", params={"include_current": "true"}).json()
    assert {r["partner_id"]: r["status"] for r in s2}["P2"] == "partnered"


def test_need_recommendations_equal_the_cli(client, model_file, db):
    record(client, "S1", "P2", "partnered")
    body = {"need": "therapy for grieving teens", "grades": "6-8", "lat": 40.0, "lon": -75.0, "top": 10}
    api = client.post("/api/recommendations", json=body)
    assert api.status_code == 200
    cli = cli_json("recommend", "--model", model_file, "--db", db, "--need", body["need"], "--grades", "6-8",
                   "--lat", "40.0", "--lon", "-75.0", "--top", 10, "--format", "json")
    assert api.json() == cli and cli[0]["partner_id"] == "P2"
    plain = client.post("/api/recommendations", json={"need": "weekend food for hungry families"}).json()
    assert plain == cli_json("recommend", "--model", model_file, "--db", db, "--need", "weekend food for hungry families",
                             "--format", "json")
    weighted = client.post("/api/recommendations", json={"need": "food", "weights": {"text": 0.0, "categories": 1}}).json()
    assert weighted[0]["components"]["text"] == 0


def test_partner_recommendations_equal_the_cli(client, model_file, db):
    record(client, "S3", "P3", "declined")
    api = client.get("/api/partners/P3/recommendations", params={"top": 10}).json()
    cli = cli_json("recommend", "--model", model_file, "--db", db, "--partner", "P3", "--format", "json")
    assert without_status(api) == cli
    assert "S3" not in [r["school_id"] for r in api]
    api = client.get("/api/partners/P1/recommendations").json()
    assert without_status(api) == cli_json("recommend", "--model", model_file, "--db", db, "--partner", "P1",
                                           "--format", "json")


def test_explain_equals_the_cli(client, model_file, db):
    record(client, "S1", "P4", "do_not_contact")
    for partner in ["P1", "P4", "P6", "P7"]:
        api = client.get(f"/api/schools/S1/partners/{partner}/explain")
        assert api.status_code == 200
        assert api.json() == cli_json("explain", "--model", model_file, "--db", db, "--school", "S1",
                                      "--partner", partner, "--format", "json")
    ex = client.get("/api/schools/S1/partners/P4/explain").json()
    assert ex["rank"] is None and any(e.startswith("outreach: do not contact") for e in ex["excluded_by"])
    assert any(e.startswith("grades:") for e in client.get("/api/schools/S1/partners/P7/explain").json()["excluded_by"])
    assert client.get("/api/schools/S1/partners/P1/explain").json()["rank"] == 1


def test_status_record_and_history(client, db):
    first = record(client, "S1", "P1", "shortlisted")
    assert set(first) == {"id", "school_id", "partner_id", "status", "note", "created_at", "user"}
    assert first["user"] == "local"  # the single loopback user
    second = record(client, "S1", "P1", "contacted", "  called the director ")
    assert second["note"] == "called the director" and second["id"] > first["id"]
    history = client.get("/api/schools/S1/partners/P1/status").json()
    assert history == [first, second]
    assert client.get("/api/schools/S1/partners/P2/status").json() == []


def test_declined_cooldown_uses_the_apps_clock(model, model_file, db):
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    now = {"t": t0}
    client = TestClient(create_app(model, model_file, db, cooldown_days=30, clock=lambda: now["t"]), base_url=LOCAL)
    record(client, "S1", "P1", "declined")
    ids = lambda: [r["partner_id"] for r in client.get("/api/schools/S1/recommendations").json()]  # noqa: E731
    assert "P1" not in ids()
    now["t"] = t0 + timedelta(days=31)
    assert ids()[0] == "P1"


def test_school_csv_equals_the_cli_csv(client, model_file, db):
    record(client, "S2", "P2", "do_not_contact")
    r = client.get("/api/schools/S2/recommendations.csv", params={"top": 5})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="partners-S2.csv"' in r.headers["content-disposition"]
    assert r.text == cli_text("recommend", "--model", model_file, "--db", db, "--school", "S2", "--top", 5, "--format", "csv")
    r = client.get("/api/partners/P1/recommendations.csv")
    assert r.text == cli_text("recommend", "--model", model_file, "--db", db, "--partner", "P1", "--format", "csv")


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "method, path, kwargs, detail",
    [
        ("get", "/api/schools/S11/recommendations", {}, "unknown school id 'S11'; did you mean 'S1'?"),
        ("get", "/api/schools/S11/recommendations.csv", {}, "unknown school id 'S11'"),
        ("get", "/api/partners/Q1/recommendations", {}, "unknown partner id 'Q1'"),
        ("get", "/api/schools/S1/partners/P9/explain", {}, "unknown partner id 'P9'"),
        ("get", "/api/schools/X1/partners/P1/explain", {}, "unknown school id 'X1'"),
        ("get", "/api/schools/S1/partners/P11/status", {}, "unknown partner id 'P11'; did you mean 'P1'?"),
        ("post", "/api/schools/S1/partners/P11/status", {"json": {"status": "contacted"}}, "unknown partner id 'P11'"),
        ("post", "/api/schools/S9/partners/P1/status", {"json": {"status": "contacted"}}, "unknown school id 'S9'"),
    ],
)
def test_unknown_ids_are_404_with_suggestions(client, method, path, kwargs, detail):
    r = getattr(client, method)(path, **kwargs)
    assert r.status_code == 404
    body = r.json()
    assert body["detail"].startswith(detail)
    if "did you mean" in detail:
        assert body["suggestions"][0] in detail


def test_the_api_takes_ids_and_names_as_the_cli_does(client, model_file, db):
    from click.testing import CliRunner

    from matcher.cli import main

    by_name = client.get("/api/schools/pine%20MIDDLE%20school/recommendations")
    assert by_name.status_code == 200 and by_name.json() == client.get("/api/schools/S2/recommendations").json()
    cli = CliRunner().invoke(main, ["recommend", "--model", str(model_file), "--db", str(db), "--school",
                                    "pine MIDDLE school", "--format", "csv"])
    assert client.get("/api/schools/pine%20MIDDLE%20school/recommendations.csv").text == cli.stdout
    part = client.get("/api/schools/Pine/recommendations")  # part of a name: suggested, as on the command line
    assert part.status_code == 404 and part.json() == {"detail": "unknown school id 'Pine'; did you mean 'S2'?",
                                                      "suggestions": ["S2"]}
    r = client.post("/api/schools/Cedar%20High%20School/partners/State%20University%20Access%20Office/status",
                    json={"status": "contacted"})
    assert r.status_code == 201 and (r.json()["school_id"], r.json()["partner_id"]) == ("S3", "P3")
    assert "Partners for Pine Middle School" in client.get("/?school=Pine").text  # the page's search box


def test_unknown_ids_record_nothing(client, model, model_file, db):
    from matcher.state import OutreachStore

    client.post("/api/schools/S1/partners/P404/status", json={"status": "declined"})
    client.post("/api/schools/S404/partners/P1/status", json={"status": "declined"})
    client.post("/api/schools/S1/partners/P1/status", json={"status": "bogus"})
    client.post("/api/schools/S1/partners/P1/status", json={"note": "no status"})
    assert OutreachStore(db).count() == 0


@pytest.mark.parametrize(
    "method, path, kwargs, detail",
    [
        ("get", "/api/schools/S1/recommendations?top=0", {}, "query parameter top: Input should be greater than or equal to 1"),
        ("get", "/api/schools/S1/recommendations?top=-3", {}, "query parameter top"),
        ("get", "/api/schools/S1/recommendations?top=ten", {}, "query parameter top: Input should be a valid integer"),
        ("get", "/api/schools/S1/recommendations?top=100000", {}, "query parameter top: Input should be less than or equal to 1000"),
        ("get", "/api/partners/P1/recommendations?top=0", {}, "query parameter top"),
        ("get", "/api/schools/S1/recommendations?weight=colour=1", {}, "weight: unknown block 'colour'"),
        ("get", "/api/schools/S1/recommendations?weight=text", {}, "weight: expected BLOCK=VALUE"),
        ("get", "/api/schools/S1/partners/P1/explain?weight=text=-1", {}, "weight: weight of 'text' must be a non-negative number"),
        ("post", "/api/recommendations", {"json": {"need": "tutoring", "top": 0}}, "body top: Input should be greater than or equal to 1"),
        ("post", "/api/recommendations", {"json": {"need": ""}}, "body need: String should have at least 1 character"),
        ("post", "/api/recommendations", {"json": {"need": "   "}}, "the need text is empty"),
        ("post", "/api/recommendations", {"json": {"top": 3}}, "body need: Field required"),
        ("post", "/api/recommendations", {"json": {"need": "tutoring", "lat": 40}}, "give both latitude and longitude"),
        ("post", "/api/recommendations", {"json": {"need": "tutoring", "lat": 95, "lon": 0}}, "body lat: Input should be less than or equal to 90"),
        ("post", "/api/recommendations", {"json": {"need": "tutoring", "grades": "13-14"}}, "grades:"),
        ("post", "/api/recommendations", {"json": {"need": "tutoring", "grade": "6-8"}}, "body grade: Extra inputs are not permitted"),
        ("post", "/api/recommendations", {"json": {"need": "tutoring", "weights": {"colour": 1}}}, "body weights.colour: Extra inputs are not permitted"),
        ("post", "/api/recommendations", {"content": b"{not json", "headers": {"content-type": "application/json"}}, "body: not valid JSON"),
        ("post", "/api/recommendations", {"json": ["need"]}, "body: Input should be a valid dictionary"),
        ("post", "/api/schools/S1/partners/P1/status", {"json": {"status": "maybe"}}, "body status: Input should be 'shortlisted', 'contacted', 'declined', 'partnered' or 'do_not_contact'"),
        ("post", "/api/schools/S1/partners/P1/status", {"json": {"status": "contacted", "note": 3}}, "body note: Input should be a valid string"),
        ("post", "/api/schools/S1/partners/P1/status", {}, "body: a JSON object is required"),
    ],
)
def test_bad_input_is_422_with_a_clear_message(client, method, path, kwargs, detail):
    r = getattr(client, method)(path, **kwargs)
    assert r.status_code == 422, r.text
    assert detail in r.json()["detail"]
    assert "Traceback" not in r.text


def test_unexpected_errors_are_500_without_a_traceback(client, monkeypatch):
    svc = client.app.state.service

    def boom(*a, **k):
        raise RuntimeError("secret internals at /srv/x.py line 3")

    monkeypatch.setattr(svc.model, "recommend", boom)
    r = client.get("/api/schools/S1/recommendations")
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error: the server logged the details"}
    assert "secret" not in r.text and "Traceback" not in r.text


def test_unknown_route_and_method_are_json(client):
    r = client.get("/api/nothing")
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}
    r = client.delete("/api/schools/S1/partners/P1/status")
    assert r.status_code == 405 and "detail" in r.json()


# --------------------------------------------------------------------------- token rule


def test_token_required_on_every_request(model, model_file, db):
    client = TestClient(create_app(model, model_file, db, token=TOKEN))
    for path in ["/api/health", "/api/schools", "/api/schools/S1/recommendations", "/", "/docs", "/openapi.json",
                 "/static/app.js"]:
        r = client.get(path)
        assert r.status_code == 401, path
        assert r.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/api/health", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/health", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    assert client.post("/api/schools/S1/partners/P1/status", json={"status": "contacted"}).status_code == 401
    ok = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/api/health", headers=ok).status_code == 200
    assert client.get("/api/schools/S1/recommendations", headers=ok).json()[0]["partner_id"] == "P1"
    assert client.post("/api/schools/S1/partners/P1/status", json={"status": "contacted"}, headers=ok).status_code == 201
    r = client.get("/", headers={"Accept": "text/html"})
    assert r.status_code == 401 and "?token=" in r.text


def test_page_token_once_sets_a_cookie(model, model_file, db):
    client = TestClient(create_app(model, model_file, db, token=TOKEN))
    assert client.get("/?token=nope&school=S1", follow_redirects=False).status_code == 401
    r = client.get(f"/?school=S1&token={TOKEN}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/?school=S1"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert TOKEN not in cookie  # a keyed hash, not the token
    page = client.get("/?school=S1")  # the client keeps the cookie, as a browser does
    assert page.status_code == 200 and "Community Food Bank" in page.text
    assert client.get("/api/schools", params={"q": "oak"}).status_code == 200
    client.cookies.clear()
    assert client.get("/api/health").status_code == 401


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.org"])
def test_serve_refuses_other_hosts_without_a_token(host, monkeypatch, tmp_path):
    monkeypatch.delenv("MATCHER_TOKEN", raising=False)
    with pytest.raises(MatcherError, match=f"refusing to listen on {host}: .*needs a token"):
        serve(tmp_path / "none.joblib", tmp_path / "o.db", host, 0, None)  # refused before loading anything
    assert not (tmp_path / "o.db").exists()


def test_loopback_rule():
    assert is_loopback("127.0.0.1") and is_loopback("127.8.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1") and not is_loopback("")


def test_serve_errors_before_starting(tmp_path, model_file, monkeypatch):
    monkeypatch.setenv("MATCHER_TOKEN", "from-env-0123456789")
    with pytest.raises(ModelFileError, match="no model file here"):
        serve(tmp_path / "none.joblib", tmp_path / "o.db", "0.0.0.0", 0, None)  # token from env: host accepted
    bad = tmp_path / "dir.db"
    bad.mkdir()
    with pytest.raises(MatcherError, match="is a directory"):
        serve(model_file, bad, "127.0.0.1", 0, None)
    with pytest.raises(MatcherError, match="port must be"):
        serve(model_file, tmp_path / "o.db", "127.0.0.1", 70000, None)


def test_serve_without_the_extra_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import fails as if not installed
    with pytest.raises(MatcherError, match=r"^the web app needs the optional extra: pip install 'matcher\[web\]'$"):
        serve(tmp_path / "m.joblib", tmp_path / "o.db", "127.0.0.1", 0, None)


# --------------------------------------------------------------------------- page and docs


def test_page_views(client):
    home = client.get("/")
    assert home.status_code == 200 and "Start here" in home.text and 'for="school"' in home.text
    page = client.get("/?school=S1")
    assert page.status_code == 200
    cards = [r["partner_id"] for r in client.get("/api/schools/S1/recommendations").json()]
    positions = [page.text.index(f'data-id="{p}"') for p in cards]
    assert positions == sorted(positions)  # the page lists the API's partners in the API's order
    assert 'data-status="do_not_contact"' in page.text and "/api/schools/S1/recommendations.csv" in page.text
    assert client.get("/?school=oak").text.count('class="match"') == len(client.get("/api/schools/S1/recommendations").json())
    choose = client.get("/?school=school")
    assert choose.status_code == 200 and "Several schools match" in choose.text
    missing = client.get("/?school=S11")
    assert missing.status_code == 404 and "unknown school id &#39;S11&#39;; did you mean &#39;S1&#39;?" in missing.text
    assert client.get("/?school=S1&top=0").status_code == 422
    why = client.get("/?school=S1&partner=P7")
    assert why.status_code == 200 and "Not suggested: ruled out by" in why.text and "grades:" in why.text
    assert client.get("/?school=S1&partner=P1").text.count("Suggested at rank 1") == 1
    assert "unknown partner id" in client.get("/?school=S1&partner=P77").text
    need = client.get("/", params={"need": "therapy for grieving teens", "grades": "6-8"})
    assert need.status_code == 200 and "Hope Counseling Center" in need.text and 'id="csv-button"' in need.text
    assert client.get("/", params={"need": "therapy", "lat": "north"}).status_code == 422
    partner = client.get("/?partner=P3")
    assert partner.status_code == 200 and "Cedar High School" in partner.text
    assert client.get("/?partner=P33").status_code == 404


def test_page_shows_history_and_hides_excluded(client):
    record(client, "S1", "P1", "do_not_contact", "asked us not to call")
    page = client.get("/?school=S1")
    assert 'data-id="P1"' not in page.text
    pair = client.get("/?school=S1&partner=P1").text
    assert "asked us not to call" in pair and "outreach: do not contact" in pair


def test_docs_are_served_offline(client):
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert 'src="/static/swagger/swagger-ui-bundle.js"' in docs.text
    assert "http://" not in docs.text and "https://" not in docs.text  # nothing from elsewhere
    for asset in ["/static/swagger/swagger-ui-bundle.js", "/static/swagger/swagger-ui.css", "/static/docs-init.js",
                  "/static/app.js", "/static/app.css"]:
        assert client.get(asset).status_code == 200, asset
    spec = client.get("/openapi.json").json()
    assert {"/api/health", "/api/schools", "/api/schools/{school_id}/recommendations", "/api/recommendations",
            "/api/partners/{partner_id}/recommendations", "/api/schools/{school_id}/partners/{partner_id}/explain",
            "/api/schools/{school_id}/partners/{partner_id}/status"} <= set(spec["paths"])
    assert client.get("/redoc").status_code == 404  # ReDoc would need a CDN
    assert "default-src 'self'" in client.get("/").headers["content-security-policy"]


# --------------------------------------------------------------------------- the CLI command (once wired)


def test_cli_serve_command_refuses_before_starting(tmp_path, monkeypatch):
    if "serve" not in main.commands:
        pytest.skip("`matcher serve` is not wired into matcher/cli.py yet")
    monkeypatch.delenv("MATCHER_TOKEN", raising=False)
    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--model", str(tmp_path / "m.joblib")])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: refusing to listen on 0.0.0.0")
    result = CliRunner().invoke(main, ["serve", "--model", str(tmp_path / "none.joblib"), "--db", str(tmp_path / "o.db")])
    assert result.exit_code == 1 and "no model file here" in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_access_log_never_shows_the_token():
    import logging

    from matcher.web.guard import RedactTokenFilter

    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", "/?school=S1&token=s3cret&top=3", "1.1", 303), None)
    RedactTokenFilter().filter(record)
    assert "s3cret" not in record.getMessage() and "token=[hidden]&top=3" in record.getMessage()


def test_serve_checks_workers(model_file, tmp_path):
    with pytest.raises(MatcherError, match="workers must be"):
        serve(model_file, tmp_path / "o.db", "127.0.0.1", 0, None, workers=0)
