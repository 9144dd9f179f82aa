"""The workspace pages without a browser: forms posted without JavaScript, roles, the outreach log and its API.

The forms' fields come from the API's body schema; a form posted without
JavaScript goes through the same checks as the API and comes back with every
problem on its field and everything typed kept; a viewer's form is
read-only; a form posted from another site changes nothing. The outreach log
filters by the pairs' latest status and by school, and its CSV is the one
CSV writer's.
"""
from __future__ import annotations

import csv
import io
import re

import pytest

pytest.importorskip("fastapi", reason="the web extra is not installed (pip install 'matcher[web]')")
pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx")

from fastapi.testclient import TestClient  # noqa: E402

from matcher.accounts import Accounts  # noqa: E402
from matcher.persistence import load_model  # noqa: E402
from matcher.state import OutreachStore  # noqa: E402
from matcher.web import create_app, forms, schemas, workspace_pages  # noqa: E402

LOCAL = "http://127.0.0.1"
PANTRY = {"partner_id": "P100", "name": "Payday Pantry", "grades": "K-5", "latitude": "40.001", "longitude": "-75.001",
          "offerings": "Groceries for families who run out before payday, and breakfast for hungry children.",
          "service_radius_km": "10", "partner_type": "nonprofit"}


@pytest.fixture
def db(tmp_path):
    return tmp_path / "outreach.db"


@pytest.fixture
def client(model_file, db):
    return TestClient(create_app(load_model(model_file), model_file, db), base_url=LOCAL, raise_server_exceptions=False)


def field_errors(html: str) -> dict[str, str]:
    return {m[0]: m[1] for m in re.findall(r'<p class="field-error" id="f-([a-z_]+)-error">([^<]+)</p>', html)}


def ids(client, school: str) -> list[str]:
    return [r["partner_id"] for r in client.get(f"/api/schools/{school}/recommendations").json()]


# --------------------------------------------------------------------------- forms without JavaScript


def test_a_bad_form_shows_every_problem_on_its_field_and_keeps_what_was_typed(client):
    typed = {"partner_id": "P200", "name": "", "offerings": "Robot kits", "grades": "K-13", "latitude": "95",
             "capacity": "-2", "service_radius_km": "far", "offering_categories": ["math", "science_engineering"],
             "remote": "true"}
    r = client.post("/partners/new", data=typed)
    assert r.status_code == 422
    errors = field_errors(r.text)
    assert set(errors) == {"name", "grades", "latitude", "longitude", "capacity", "service_radius_km"}, errors
    assert "give both latitude and longitude" in errors["longitude"]
    assert "grade band" in errors["grades"]  # in words, not the pattern
    assert "6 problems to fix" in r.text
    for name in errors:  # each error is tied to its field for a screen reader
        tag = re.search(rf'<(?:input|textarea|select)[^>]*id="f-{name}"[^>]*>', r.text, re.S).group(0)
        assert 'aria-invalid="true"' in tag and f"f-{name}-error" in tag, name
    for name in ("partner_id", "offerings", "grades", "latitude", "capacity", "service_radius_km"):
        assert re.search(rf'id="f-{name}"[^>]*value="{re.escape(typed[name])}"', r.text, re.S) or \
            f">{typed[name]}</textarea>" in r.text, name
    assert 'value="math" checked' in r.text and 'value="science_engineering" checked' in r.text
    assert re.search(r'id="f-remote"[^>]*checked', r.text)
    assert client.get("/api/partners/P200").status_code == 404  # nothing saved


def test_a_good_form_saves_and_links_to_the_schools_it_could_serve(client):
    assert "P100" not in ids(client, "S1")
    r = client.post("/partners/new", data=PANTRY, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/partners/edit?partner=P100&saved=created"
    page = client.get(r.headers["location"]).text
    assert "Saved." in page and 'href="/?partner=P100">See the schools this partner could serve' in page
    assert ids(client, "S1")[0] == "P100"  # in the next suggestions, same app
    assert client.get("/api/changes", params={"id": "P100"}).json()[0]["user"] == "local"
    r = client.post("/partners/new", data=PANTRY)  # again: the id is taken, said on the id
    assert r.status_code == 409 and "exists already" in field_errors(r.text)["partner_id"]


def test_editing_a_school_replaces_its_row_and_changes_its_list(client):
    assert ids(client, "S5")[0] == "P5"
    page = client.get("/schools/edit", params={"school": "S5"}).text
    assert "classroom management" in page and re.search(r'id="f-school_id"[^>]*readonly', page, re.S)
    r = client.post("/schools/edit?school=S5", follow_redirects=False, data={
        "school_id": "S9 (ignored: the address names the school)", "name": "Maple Academy",
        "needs": "Students want hands-on science field trips to a museum.", "need_categories": ["field_trips"]})
    assert r.status_code == 303 and r.headers["location"] == "/schools/edit?school=S5&saved=updated"
    page = client.get(r.headers["location"]).text
    assert 'href="/?school=S5">See this school&#39;s suggestions' in page
    assert 'value="field_trips" checked' in page
    assert ids(client, "S5")[0] == "P4"
    assert client.get("/api/schools/S9").status_code == 404


def test_the_school_picker_finds_by_name(client):
    r = client.get("/schools/edit", params={"school": "maple"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/schools/edit?school=S5"
    r = client.get("/schools/edit", params={"school": "elementary"})
    assert r.status_code == 200 and "/schools/edit?school=S1" in r.text and "/schools/edit?school=S4" in r.text
    r = client.get("/schools/edit", params={"school": "S55"})
    assert r.status_code == 404 and "unknown school id" in r.text


def test_a_form_from_another_site_changes_nothing(client):
    for headers in ({"origin": "http://evil.example"}, {"sec-fetch-site": "cross-site"}, {"origin": "null"},
                    {"sec-fetch-site": "same-site", "origin": LOCAL}):
        r = client.post("/partners/new", data=PANTRY, headers=headers)
        assert r.status_code == 403 and "another site" in r.text
        r = client.post("/outreach", data={"school_id": "S1", "partner_id": "P1", "status": "contacted"}, headers=headers)
        assert r.status_code == 403
    assert client.get("/api/partners/P100").status_code == 404
    assert client.get("/api/outreach").json() == []
    same = {"origin": "null", "sec-fetch-site": "same-origin"}  # what Chromium sends under Referrer-Policy: no-referrer
    assert client.post("/partners/new", data=PANTRY, headers=same, follow_redirects=False).status_code == 303
    assert client.post("/schools/new", data={"school_id": "S9", "name": "Elm", "needs": "Tutors"},
                       headers={"origin": LOCAL}, follow_redirects=False).status_code == 303


def test_roles_viewer_reads_only_coordinator_its_schools(model_file, db):
    accounts = Accounts(db)
    tokens = {name: accounts.add(name, role, scope) for name, role, scope in
              [("vi", "viewer", None), ("cy", "coordinator", ["S1"])]}
    client = TestClient(create_app(load_model(model_file), model_file, db), base_url=LOCAL)

    def get(path, who):
        return client.get(path, headers={"Authorization": f"Bearer {tokens[who]}"}).text

    for path in ("/partners/new", "/schools/new"):  # nothing to show: no form, and why
        page = get(path, "vi")
        assert 'id="entity-form"' not in page and "vi (viewer), so you cannot add a" in page and "Viewers can read" in page
    page = get("/schools/edit?school=S1", "vi")  # the row, read-only
    assert '<fieldset class="bare" disabled>' in page and "vi (viewer), so this form is read-only" in page
    assert 'type="submit"' not in page.split('id="entity-form"')[1].split("</form>")[0]
    assert "Oak Elementary" in page
    assert "Only an admin can add or change partners" in get("/partners/new", "cy")
    assert "Only an admin can add or change partners" in get("/partners/edit?partner=P1", "cy")
    assert "disabled" not in get("/schools/edit?school=S1", "cy").split('id="entity-form"')[1][:200]
    assert "may change these schools only: S1" in get("/schools/edit?school=S2", "cy")
    assert 'id="record-form"' not in get("/outreach", "vi") and "viewers can read the log" in get("/outreach", "vi")
    r = client.post("/partners/new", data=PANTRY, headers={"Authorization": f"Bearer {tokens['vi']}"})
    assert r.status_code == 403 and "vi (viewer) may not change partner" in r.text
    r = client.post("/outreach", data={"school_id": "S2", "partner_id": "P1", "status": "contacted"},
                    headers={"Authorization": f"Bearer {tokens['cy']}"})
    assert r.status_code == 403 and "may not record outreach for school" in r.text
    assert client.get("/api/outreach", headers={"Authorization": f"Bearer {tokens['vi']}"}).json() == []


def test_the_form_is_driven_by_the_schema(monkeypatch):
    class WithColumns(schemas.PartnerNewIn):
        contact_name: str = None  # type: ignore[assignment]
        bus_route: str = schemas.Field(None, description="Which bus line reaches it.")

    monkeypatch.setitem(schemas.NEW_ROW_BODIES, "partner", WithColumns)
    by_name = {f.name: f for f in forms.fields("partner", {"bus_route": "12"})}
    assert by_name["contact_name"].label == "Contact person" and by_name["contact_name"].group == "contact"
    assert by_name["bus_route"].label == "Bus route" and by_name["bus_route"].help == "Which bus line reaches it."
    assert by_name["bus_route"].value == "12"
    assert [f.name for f in forms.fields("partner")][:3] == ["partner_id", "name", "offerings"]
    required = {f.name for f in forms.fields("school") if f.required}
    assert required == {"school_id", "name", "needs"}


def test_form_text_to_a_body_as_the_page_script_does():
    body = forms.body("school", {"school_id": " S9 ", "name": "Elm", "needs": "Tutors", "enrollment": "1200",
                                 "frl_pct": "55.5", "latitude": "-0.5", "longitude": "1e1", "grades": "",
                                 "preferred_partner_types": ["health", "library"]})
    assert body == {"school_id": "S9", "name": "Elm", "needs": "Tutors", "latitude": -0.5, "longitude": 10.0,
                    "enrollment": 1200, "frl_pct": 55.5, "preferred_partner_types": "health;library"}
    assert forms.check("school", body) == []
    assert forms.body("school", {"enrollment": "12.5", "frl_pct": "lots"}, with_id=False) == {
        "enrollment": 12.5, "frl_pct": "lots"}
    problems = forms.check("school", {"enrollment": 12.5, "frl_pct": "lots"}, with_id=False)
    assert {p["field"] for p in problems} == {"name", "needs", "enrollment", "frl_pct"}


# --------------------------------------------------------------------------- the API the forms use


def test_create_with_the_id_in_the_body_reports_every_problem_at_once(client):
    r = client.post("/api/partners", json={"partner_id": " ", "name": "", "offerings": "x", "latitude": 95,
                                           "grades": "K-13"})
    assert r.status_code == 422
    fields = {e["field"]: e for e in r.json()["errors"]}
    assert set(fields) == {"partner_id", "name", "latitude", "longitude", "grades"}
    assert fields["longitude"]["msg"] == "give both latitude and longitude, or neither"
    assert fields["partner_id"]["msg"] == "is blank: give the partner an id"
    assert all(set(e) == {"type", "loc", "field", "msg"} for e in r.json()["errors"])
    body = {k: v for k, v in PANTRY.items()} | {"latitude": 40.001, "longitude": -75.001, "service_radius_km": 10}
    r = client.post("/api/partners", json=body)
    assert r.status_code == 201 and r.json()["partner_id"] == "P100" and r.json()["action"] == "create"
    assert client.post("/api/partners", json=body).status_code == 409
    r = client.post("/api/schools", json={"school_id": "S9", "name": "Elm", "needs": "Tutors", "longitude": 3})
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["latitude"]
    assert client.post("/api/schools", json={"school_id": "S9", "name": "Elm", "needs": "Tutors"}).status_code == 201


# --------------------------------------------------------------------------- the outreach log


@pytest.fixture
def logged(client):
    for school, partner, status, note in [("S1", "P1", "contacted", "Called Ana"), ("S2", "P2", "shortlisted", ""),
                                          ("S2", "P2", "declined", "=no room"), ("S3", "P3", "partnered", "signed")]:
        r = client.post(f"/api/schools/{school}/partners/{partner}/status", json={"status": status, "note": note})
        assert r.status_code == 201
    return client


def test_the_outreach_store_log(db):
    store = OutreachStore(db)
    store.record("S1", "P1", "contacted", "hi", user="ana")
    store.record("S2", "P1", "declined")
    store.record("S1", "P2", "shortlisted")
    assert [(e.school_id, e.partner_id) for e in store.log()] == [("S1", "P1"), ("S2", "P1"), ("S1", "P2")]
    assert [e.partner_id for e in store.log(school_id="S1")] == ["P1", "P2"]
    assert [e.school_id for e in store.log(partner_id="P1")] == ["S1", "S2"]
    assert store.log()[0].user == "ana"


def test_the_log_filters_by_latest_status_and_school(logged):
    page = logged.get("/outreach").text
    assert "3 pairs, 4 events" in page
    assert [m for m in re.findall(r'data-school="(S\d)"', page)] == ["S3", "S2", "S1"]  # most recent first
    assert "Called Ana" in page and "=no room" in page and "by local" in page
    page = logged.get("/outreach", params={"status": "declined"}).text
    assert re.findall(r'data-school="(S\d)"', page) == ["S2"]
    assert "Shortlisted" in page  # the pair's whole history, not only its latest event
    assert 'href="/api/outreach.csv?status=declined"' in page
    page = logged.get("/outreach", params={"school": "oak"}).text
    assert re.findall(r'data-school="(S\d)"', page) == ["S1"]
    assert logged.get("/outreach", params={"status": "maybe"}).status_code == 422
    rows = logged.get("/api/outreach", params={"status": ["declined", "partnered"]}).json()
    assert [(r["school_id"], r["status"], r["pair_status"]) for r in rows] == [
        ("S2", "shortlisted", "declined"), ("S2", "declined", "declined"), ("S3", "partnered", "partnered")]
    assert rows[0]["school_name"] == "Pine Middle School" and rows[0]["partner_name"] == "Hope Counseling Center"


def test_the_log_csv(logged):
    r = logged.get("/api/outreach.csv", params={"school": "S2"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="outreach-log.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(x["status"], x["note"], x["pair_status"]) for x in rows] == [
        ("shortlisted", "", "declined"), ("declined", "'=no room", "declined")]  # formula cell neutralised
    assert list(rows[0]) == ["created_at", "school_id", "school_name", "partner_id", "partner_name", "status",
                             "note", "user", "pair_status"]


def test_the_log_pages_and_keeps_a_removed_partner(logged, monkeypatch):
    monkeypatch.setattr(workspace_pages, "PAGE_SIZE", 2)
    page = logged.get("/outreach").text
    assert "Page 1 of 2" in page and 'href="/outreach?page=2"' in page
    page = logged.get("/outreach", params={"page": "2"}).text
    assert re.findall(r'data-school="(S\d)"', page) == ["S1"] and "Page 2 of 2" in page
    assert logged.delete("/api/partners/P1").status_code == 200
    page = logged.get("/outreach", params={"partner": "P1"}).text
    assert re.findall(r'data-school="(S\d)"', page) == ["S1"] and "Called Ana" in page


def test_recording_without_javascript(logged):
    r = logged.post("/outreach?status=contacted", data={"school_id": "S1", "partner_id": "P1", "status": "partnered",
                                                        "note": "signed"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/outreach?status=contacted&recorded=")
    page = logged.get(r.headers["location"].split("#")[0]).text
    assert "Recorded “Partnered” for Oak Elementary and Community Food Bank." in page
    r = logged.post("/outreach", data={"school_id": "", "partner_id": "P1", "status": "", "note": "keep me"})
    assert r.status_code == 422 and "2 problems to fix" in r.text
    assert 'id="r-school_id-error">give the school&#39;s id<' in r.text and "choose a status" in r.text
    assert ">keep me</textarea>" in r.text and re.search(r'id="r-partner_id"[^>]*value="P1"', r.text, re.S)
    r = logged.post("/outreach", data={"school_id": "S55", "partner_id": "P1", "status": "contacted"})
    assert r.status_code == 404 and 'id="r-school_id-error">unknown school id' in r.text
    r = logged.post("/outreach", data={"school_id": "S1", "partner_id": "P1", "status": "contacted", "note": "x" * 4001})
    assert r.status_code == 422 and 'id="r-note-error"' in r.text and "at most 4000" in r.text
    assert len(logged.get("/api/outreach").json()) == 5


def test_the_log_shows_a_status_it_does_not_know(logged, db):
    from matcher.workspace import Workspace

    with Workspace(db).transaction() as conn:  # an event of a kind this page predates (an undo's "cleared", say)
        conn.execute("INSERT INTO events (school_id, partner_id, status, note, created_at, user) VALUES "
                     "('S1', 'P1', 'cleared', 'undo', '2030-01-01T00:00:00.000000+00:00', 'ana')")
    page = logged.get("/outreach")
    assert page.status_code == 200 and "Cleared" in page.text and "3 pairs, 5 events" in page.text
    assert re.findall(r'data-school="(S\d)"', logged.get("/outreach", params={"status": "contacted"}).text) == []
