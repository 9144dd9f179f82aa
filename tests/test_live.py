"""Live data: schools and partners change from the CLI and the API without retraining.

A change is validated with the data contract (errors name the field), kept in
the change history with its user, and in the very next suggestion, from the
same process, from another process and after a restart. Accounts limit who may
change what.
"""
from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest
from click.testing import CliRunner

from matcher.catalog import Catalog
from matcher.cli import main
from matcher.persistence import load_model

# A food bank close to S1 (40.00, -75.00) that is in no fixture table.
NEW_PARTNER = {
    "name": "Eastside Grocery Rescue",
    "offerings": "Free groceries, weekend food backpacks and a school food pantry for hungry families.",
    "partner_type": "nonprofit",
    "grades": "K-12",
    "latitude": "40.005",
    "longitude": "-75.002",
    "service_radius_km": "25",
}

#: The same partner as an API body (numbers are JSON numbers).
NEW_PARTNER_JSON = {**NEW_PARTNER, "latitude": 40.005, "longitude": -75.002, "service_radius_km": 25}


def run(*args, ok: bool = True):
    result = CliRunner().invoke(main, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, result.output + result.stderr
    return result


def sets(row: dict) -> list[str]:
    return [a for k, v in row.items() for a in ("--set", f"{k}={v}")]


@pytest.fixture
def model_copy(model_file, tmp_path):
    """A private copy of the tiny trained model (its workspace is created beside it)."""
    for f in model_file.parent.iterdir():
        if f.name.startswith(model_file.stem + "."):
            shutil.copy(f, tmp_path / f.name)
    return tmp_path / model_file.name


def recommended(model_path, school="S1", db=None) -> list[str]:
    extra = ["--db", db] if db else []
    rows = json.loads(run("recommend", "--school", school, "--model", model_path, "--format", "json", *extra).stdout)
    return [r["partner_id"] for r in rows]


# --------------------------------------------------------------------------- CLI


def test_cli_add_update_remove_show_at_once(model_copy):
    assert "P100" not in recommended(model_copy)
    out = run("partners", "add", "P100", "--model", model_copy, *sets(NEW_PARTNER)).stdout
    assert "partner P100 added" in out
    top = recommended(model_copy)
    assert top[:2] == ["P1", "P100"] or top[:2] == ["P100", "P1"], top  # the two food banks, side by side
    run("partners", "update", "P100", "--model", model_copy, "--set", "name=Eastside Food Rescue")
    ex = json.loads(run("explain", "--school", "S1", "--partner", "P100", "--model", model_copy,
                        "--format", "json").stdout)
    assert ex["partner_name"] == "Eastside Food Rescue"
    run("partners", "remove", "P100", "--model", model_copy)
    assert "P100" not in recommended(model_copy)
    history = Catalog(model_copy.parent / "outreach.db").history("partner", "P100", 10)
    assert [c.action for c in history] == ["deactivate", "update", "create"]
    assert all(c.user.startswith("cli") for c in history)
    assert history[1].before["name"] == NEW_PARTNER["name"] and history[1].after["name"] == "Eastside Food Rescue"


def test_cli_school_needs_change_the_suggestions(model_copy):
    assert recommended(model_copy, "S2")[0] == "P2"  # counselling, for anxious and grieving students
    run("schools", "update", "S2", "--model", model_copy,
        "--set", "needs=Families run out of groceries; children come to school hungry.")
    assert recommended(model_copy, "S2")[0] in {"P1", "P6"}


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["partners", "add", "P1", "--set", "name=x", "--set", "offerings=tutoring"], 1,
         "partner 'P1' exists already; use `matcher partners update`"),
        (["partners", "update", "P11", "--set", "name=x"], 1, "unknown partner id 'P11'; did you mean 'P1'?"),
        (["partners", "remove", "Q1"], 1, "unknown partner id 'Q1'"),
        (["partners", "add", "P100", "--set", "name"], 2, "expected COLUMN=VALUE, got 'name'"),
        (["partners", "add", "P100", "--set", "name=x", "--set", "offerings=y", "--set", "lat=40"], 1,
         "--set: unknown field 'lat'; did you mean 'latitude'?"),
        (["partners", "add", "P100", "--set", "name=x", "--set", "offerings=tutoring", "--set", "latitude=95",
          "--set", "longitude=1"], 1, "--set: column latitude: '95' is out of range"),
        (["partners", "add", "P100", "--set", "name=x"], 1, "--set: column offerings: offerings is blank"),
        (["schools", "update", "S1", "--set", "grades=K-13"], 1, "--set: column grades:"),
        (["users", "add", "ann", "--role", "coordinator", "--schools", "S1,S9"], 1, "unknown school id 'S9'"),
        (["users", "add", "ann", "--role", "viewer", "--schools", "S1"], 2, "only a coordinator has a scope"),
    ],
)
def test_cli_bad_changes_are_refused_and_change_nothing(model_copy, args, code, message):
    run("info", "--model", model_copy)  # (a workspace appears only with the first change)
    db = model_copy.parent / "outreach.db"
    before = Catalog(db).state() if db.exists() else None
    result = run(*args, "--model", model_copy, ok=False)
    assert result.exit_code == code, result.output
    assert message in result.stderr and "Traceback" not in result.output
    if before is not None:
        assert Catalog(db).state() == before


def test_cli_import_of_changed_rows(model_copy, tmp_path):
    changed = tmp_path / "changed.csv"
    cols = ["partner_id", *NEW_PARTNER]
    rows = [["P100", *NEW_PARTNER.values()],
            ["P7", "Teen Robotics League", "Robotics competitions and coding clubs for middle and high school teams.",
             "nonprofit", "6-12", "40.0", "-75.0", "30"]]
    changed.write_text("\n".join(",".join(f'"{c}"' for c in r) for r in [cols, *rows]) + "\n")
    out = run("partners", "import", changed, "--model", model_copy).stdout
    assert "1 partners added, 1 updated, 0 unchanged" in out
    assert "P100" in recommended(model_copy)
    assert "P7" in recommended(model_copy, "S2")  # now serves grades 6-8 (S2) as well
    # the same file again changes nothing; a bad file changes nothing and names the file and column
    assert "0 partners added, 0 updated, 2 unchanged" in run("partners", "import", changed, "--model", model_copy).stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("partner_id,name\nP200,x\n")
    state = Catalog(model_copy.parent / "outreach.db").state()
    result = run("partners", "import", bad, "--model", model_copy, ok=False)
    assert result.exit_code == 1 and f"{bad}: column offerings: missing required column" in result.stderr
    assert Catalog(model_copy.parent / "outreach.db").state() == state


def test_retrain_from_the_catalogue_keeps_the_changes(model_copy):
    run("partners", "add", "P100", "--model", model_copy, *sets(NEW_PARTNER))
    run("partners", "remove", "P7", "--model", model_copy)
    run("train", "--from-catalog", "--model", model_copy)
    model = load_model(model_copy)
    assert "P100" in model.partner_ids_ and "P7" not in model.partner_ids_
    assert "P100" in recommended(model_copy)


def test_users_add_list_remove(model_copy):
    out = run("users", "add", "ann", "--role", "coordinator", "--schools", "S1,S2", "--model", model_copy).stdout
    token = out.strip().splitlines()[-1]
    assert len(token) >= 24
    assert run("users", "list", "--model", model_copy).stdout == "ann\tcoordinator\tS1,S2\n"
    assert "exists already" in run("users", "add", "ann", "--role", "admin", "--model", model_copy, ok=False).stderr
    run("users", "remove", "ann", "--model", model_copy)
    assert run("users", "list", "--model", model_copy).stdout == ""


# --------------------------------------------------------------------------- API

fastapi = pytest.importorskip("fastapi", reason="the web extra is not installed (pip install 'matcher[web]')")
pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx")

from fastapi.testclient import TestClient  # noqa: E402

from matcher.accounts import Accounts  # noqa: E402
from matcher.web import create_app  # noqa: E402

LOCAL = "http://127.0.0.1"


@pytest.fixture
def model(model_file):
    return load_model(model_file)


@pytest.fixture
def db(tmp_path):
    return tmp_path / "outreach.db"


@pytest.fixture
def client(model, model_file, db):
    return TestClient(create_app(model, model_file, db), base_url=LOCAL, raise_server_exceptions=False)


def partner_ids(client, school="S1", top=10):
    r = client.get(f"/api/schools/{school}/recommendations", params={"top": top})
    assert r.status_code == 200, r.text
    return [x["partner_id"] for x in r.json()]


def test_api_create_read_replace_remove(client):
    assert "P100" not in partner_ids(client)
    before = _page_partner_count(client)
    r = client.post("/api/partners/P100", json=NEW_PARTNER_JSON)
    assert r.status_code == 201, r.text
    assert _page_partner_count(client) == before + 1  # the page counts the workspace now, not the model file
    assert r.json()["action"] == "create" and r.json()["user"] == "local"
    assert "P100" in partner_ids(client)[:2]
    assert client.get("/api/partners/P100").json()["name"] == NEW_PARTNER["name"]
    assert client.post("/api/partners/P100", json=NEW_PARTNER_JSON).status_code == 409
    r = client.put("/api/partners/P100", json={**NEW_PARTNER_JSON, "latitude": 41.5, "longitude": -76.5})
    assert r.status_code == 200 and r.json()["action"] == "update"
    assert "P100" not in partner_ids(client)  # moved out of reach
    assert "P100" in partner_ids(client, "S4")
    assert client.delete("/api/partners/P100").status_code == 200
    assert "P100" not in partner_ids(client, "S4")
    assert client.get("/api/partners/P100").status_code == 404
    assert client.put("/api/partners/P100", json=NEW_PARTNER_JSON).status_code == 404
    changes = client.get("/api/changes", params={"id": "P100"}).json()
    assert [c["action"] for c in changes] == ["deactivate", "update", "create"]
    assert client.post("/api/partners/P100", json=NEW_PARTNER_JSON).status_code == 201  # created again


def _page_partner_count(client) -> int:
    import re

    found = re.search(r"([0-9,]+) partners in the\s+workspace now", client.get("/").text)
    assert found, "the page's footer names how many partners there are"
    return int(found.group(1).replace(",", ""))


def test_api_refuses_a_bad_row_naming_each_field(client):
    r = client.post("/api/partners/P100", json={**NEW_PARTNER_JSON, "latitude": 95, "grades": "K-13"})
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"latitude", "grades"} <= fields, r.json()
    r = client.post("/api/partners/P100", json={**NEW_PARTNER_JSON, "lat": 40})
    assert r.status_code == 422 and "lat" in r.text
    assert client.get("/api/changes", params={"id": "P100"}).json() == []
    assert "P100" not in partner_ids(client)


def test_api_changes_survive_a_restart(model, model_file, db):
    first = TestClient(create_app(model, model_file, db), base_url=LOCAL)
    assert first.post("/api/partners/P100", json=NEW_PARTNER_JSON).status_code == 201
    assert first.delete("/api/partners/P6").status_code == 200
    again = TestClient(create_app(load_model(model_file), model_file, db), base_url=LOCAL)  # a restarted server
    ids = partner_ids(again)
    assert "P100" in ids and "P6" not in ids
    # and the command line sees them too, with the same workspace
    assert recommended(model_file, db=db)[:3] == ids[:3]


def test_api_changes_reach_another_process(model, model_file, db):
    a = TestClient(create_app(model, model_file, db), base_url=LOCAL)
    b = TestClient(create_app(load_model(model_file), model_file, db), base_url=LOCAL)  # another worker
    partner_ids(b)
    assert a.post("/api/partners/P100", json=NEW_PARTNER_JSON).status_code == 201
    assert "P100" in partner_ids(b)


def test_a_workspace_changed_from_another_model_is_not_applied_silently(model_copy, gen_model_file, tmp_path):
    db = tmp_path / "other.db"
    run("partners", "add", "P100", "--model", gen_model_file, "--db", db, *sets(NEW_PARTNER_JSON))
    result = run("recommend", "--school", "S1", "--model", model_copy, "--db", db)
    assert "Warning:" in result.stderr and "retrain with `matcher train --from-catalog" in result.stderr


def test_roles_and_scopes(model, model_file, db):
    accounts = Accounts(db)
    tokens = {name: accounts.add(name, role, scope) for name, role, scope in
              [("ada", "admin", None), ("cy", "coordinator", ["S1"]), ("vi", "viewer", None)]}
    client = TestClient(create_app(model, model_file, db), base_url=LOCAL)

    def as_(name):
        return {"Authorization": f"Bearer {tokens[name]}"}

    assert client.get("/api/schools").status_code == 401
    assert client.get("/api/me", headers=as_("cy")).json() == {"name": "cy", "role": "coordinator", "schools": ["S1"]}
    school = client.get("/api/schools/S1", headers=as_("cy")).json()
    need = {**{k: v for k, v in school.items() if k != "school_id"}, "needs": "Weekend meals for hungry families."}
    # a coordinator changes its own school and records its outreach, nothing else
    assert client.put("/api/schools/S1", json=need, headers=as_("cy")).status_code == 200
    assert client.put("/api/schools/S2", json=need, headers=as_("cy")).status_code == 403
    assert client.post("/api/partners/P100", json=NEW_PARTNER_JSON, headers=as_("cy")).status_code == 403
    assert client.post("/api/schools/S1/partners/P1/status", json={"status": "contacted"},
                       headers=as_("cy")).status_code == 201
    assert client.post("/api/schools/S2/partners/P2/status", json={"status": "contacted"},
                       headers=as_("cy")).status_code == 403
    # a viewer reads only
    assert client.get("/api/schools/S1/recommendations", headers=as_("vi")).status_code == 200
    for method, path, body in [("put", "/api/schools/S1", need), ("post", "/api/partners/P100", NEW_PARTNER_JSON),
                               ("delete", "/api/partners/P1", None),
                               ("post", "/api/schools/S1/partners/P1/status", {"status": "declined"})]:
        r = client.request(method, path, json=body, headers=as_("vi"))
        assert r.status_code == 403 and "vi (viewer) may not" in r.json()["detail"], (method, path)
    # an admin changes anything; the history says who did what
    assert client.post("/api/partners/P100", json=NEW_PARTNER_JSON, headers=as_("ada")).status_code == 201
    who = {(c.get("school_id") or c.get("partner_id"), c["user"]) for c in client.get("/api/changes", headers=as_("vi")).json()}
    assert {("S1", "cy"), ("P100", "ada")} <= who
    status = client.get("/api/schools/S1/partners/P1/status", headers=as_("vi")).json()
    assert status[-1]["user"] == "cy"


def test_concurrent_writers_and_readers(model, model_file, db):
    """8 writers and 16 readers at once: every write lands once, every read answers, none sees half a change.

    Each partner is created as a robotics club ("v1") and then replaced by a food bank ("v2"): a reader that
    got one version's name with the other version's features would see a "v1" matched on food, or a "v2" not.
    """
    robotics = {**NEW_PARTNER_JSON, "offerings": "Robotics competitions and coding clubs for teams."}
    with TestClient(create_app(model, model_file, db), base_url=LOCAL) as client:
        def write(w: int) -> list[int]:
            codes = []
            for i in range(3):
                pid = f"P{100 + 10 * w + i}"
                codes.append(client.post(f"/api/partners/{pid}", json={**robotics, "name": f"Club {w}-{i} v1"}).status_code)
                codes.append(client.put(f"/api/partners/{pid}",
                                        json={**NEW_PARTNER_JSON, "name": f"Club {w}-{i} v2"}).status_code)
            return codes

        def read(_: int) -> list[tuple[int, str, bool]]:
            seen = []
            for _ in range(6):
                r = client.get("/api/schools/S1/recommendations", params={"top": 50})
                seen.append((r.status_code, "", False))
                for m in r.json() if r.status_code == 200 else []:
                    if m["name"].startswith("Club"):
                        seen.append((200, m["name"][-2:], any("food" in c for c in m["matched_categories"])))
            return seen

        with ThreadPoolExecutor(24) as pool:
            writes = [pool.submit(write, w) for w in range(8)]
            reads = [pool.submit(read, r) for r in range(16)]
            write_codes = [c for f in writes for c in f.result()]
            seen = [x for f in reads for x in f.result()]
        assert set(write_codes) == {200, 201} and write_codes.count(201) == 24
        assert {code for code, *_ in seen} == {200}
        versions = [(v, food) for _, v, food in seen if v]
        assert all(food == (v == "v2") for v, food in versions), versions
        ids = partner_ids(client, top=50)
        assert {f"P{100 + 10 * w + i}" for w in range(8) for i in range(3)} <= set(ids)
        names = {client.get(f"/api/partners/P{100 + 10 * w + i}").json()["name"] for w in range(8) for i in range(3)}
        assert names == {f"Club {w}-{i} v2" for w in range(8) for i in range(3)}
        history = client.get("/api/changes", params={"kind": "partner", "limit": 1000}).json()
        assert sum(c["partner_id"].startswith("P1") and len(c["partner_id"]) == 4 for c in history) == 48


def test_dask_train_equals_local(data_dir, tmp_path):
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    import numpy as np

    from matcher.cluster import dask_client
    from matcher.training import train_model

    args = (data_dir / "schools.csv", data_dir / "partners.csv", None)
    train_model(*args, tmp_path / "local.joblib")
    with dask_client("local", n_jobs=1) as client:
        train_model(*args, tmp_path / "dask.joblib", client=client)
    local, dask = load_model(tmp_path / "local.joblib"), load_model(tmp_path / "dask.joblib")
    for attr in ("text", "categories"):
        np.testing.assert_array_equal(getattr(local.partners_, attr), getattr(dask.partners_, attr))
        np.testing.assert_array_equal(getattr(local.schools_, attr), getattr(dask.schools_, attr))
    assert [m.to_dict() for m in local.recommend("S1")] == [m.to_dict() for m in dask.recommend("S1")]


def test_retrain_reuses_cached_encodings_and_hub_statistics(data_dir, tmp_path):
    """A re-train with the workspace encodes and measures only changed partners, and equals a train without it."""
    import sqlite3

    import numpy as np
    import pandas as pd

    from matcher import config
    from matcher.features import hub_statistics
    from matcher.training import train_model

    db = tmp_path / "ws.db"
    schools = data_dir / "schools.csv"
    train_model(schools, data_dir / "partners.csv", None, tmp_path / "first.joblib", workspace=db)
    partners = pd.read_csv(data_dir / "partners.csv", dtype=str, keep_default_na=False)
    partners.loc[[0, 2], "offerings"] = ["Weekend food bags for families.", "Coding clubs and robotics teams."]
    changed = tmp_path / "partners.csv"
    partners.to_csv(changed, index=False)

    def hub_rows() -> int:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT COUNT(*) FROM hub_stats").fetchone()[0]

    before = hub_rows()
    assert before == len(partners)
    train_model(schools, changed, None, tmp_path / "cached.joblib", workspace=db)
    assert hub_rows() == before + 2
    train_model(schools, changed, None, tmp_path / "plain.joblib")
    cached, plain = load_model(tmp_path / "cached.joblib"), load_model(tmp_path / "plain.joblib")
    # The cached hub statistics are what the cached model's own features give, bit for bit ...
    text_hub, cat_hub = hub_statistics(cached.hub_reference_, cached.partners_, config.HUB_NEIGHBOURS)
    np.testing.assert_array_equal(cached.partners_.text_offset,
                                  config.HUB_TEXT * np.maximum(text_hub - cached.hub_means_[0], -config.HUB_MAX_LIFT))
    np.testing.assert_array_equal(cached.partners_.category_offset, config.HUB_CATEGORIES * np.maximum(
        cat_hub - cached.hub_means_[1], -config.HUB_MAX_LIFT))
    # ... and those features are a train without the cache's, but for a rare last-bit flip of one component
    # (a text encoded in another batch: padding changes the encoder's rounding by a quantization step).
    np.testing.assert_array_equal(cached.partners_.categories, plain.partners_.categories)
    np.testing.assert_allclose(cached.partners_.text, plain.partners_.text, atol=2.0 ** -10)
    np.testing.assert_allclose(cached.partners_.text_offset, plain.partners_.text_offset, atol=1e-5)


def test_changes_applied_one_after_another_leave_earlier_models_as_they_were(model_file):
    """Sentences of changed partners are appended in place when they can be: a model made before never sees them."""
    from matcher.catalog import CatalogRow
    from matcher.live import apply_rows

    base = load_model(model_file)
    school = str(base.school_ids_[0])
    rows = [CatalogRow("partner", f"PX{i}", {"name": f"Extra {i}", "offerings": f"Robotics club {i}. Coding camps. "
                                             "Science fairs for every grade.", "remote": "true"}, True, i + 1)
            for i in range(3)]
    models = [base]
    for row in rows:
        models.append(apply_rows(models[-1], [row]))
    before = [[(m.id, m.score) for m in model.recommend(school, n=50)] for model in models]
    for i, model in enumerate(models):
        assert {f"PX{j}" for j in range(i)} <= set(model.partner_ids_)
        assert not {f"PX{j}" for j in range(i, 3)} & set(model.partner_ids_)
    again = apply_rows(models[1], [rows[2]])  # a branch from an older model: its own copy
    assert "PX2" in set(again.partner_ids_) and "PX1" not in set(again.partner_ids_)
    after = [[(m.id, m.score) for m in model.recommend(school, n=50)] for model in models]
    assert before == after


def live_model(model, db):
    """A LiveModel over the workspace ``db`` (what the web app's service holds)."""
    from matcher.live import LiveModel, adopt
    from matcher.workspace import Workspace

    return LiveModel(adopt(model, Workspace(db)), Workspace(db))


def test_a_watching_process_applies_another_process_change_before_it_is_asked(model, model_file, db):
    """`LiveModel.watch` (the web app's lifespan starts it) catches up in the background, not in the next request."""
    import time

    a, b = live_model(model, db), live_model(load_model(model_file), db)  # b: another process
    b.watch()
    try:
        change = a.put("partner", "P100", NEW_PARTNER, user="ana", create=True)
        deadline = time.monotonic() + 10
        while b.revision < change.revision and time.monotonic() < deadline:
            time.sleep(0.01)
        assert b.revision == change.revision  # applied by the watcher: b.model() was never called
    finally:
        b.stop()
    assert "P100" in [m.id for m in b.model().recommend("S1", n=10)]


def test_readers_wait_for_a_change_being_written_at_most_the_writer_wait(model, db, monkeypatch):
    """While a change is encoded and applied, readers wait for it (then see it); a stuck writer holds them at most
    WRITER_WAIT seconds."""
    import threading
    import time

    live = live_model(model, db)
    live.WRITER_WAIT = 8.0  # far above the time the change takes once released, however busy the machine
    featurizer = live.model().featurizer_
    entered, release = threading.Event(), threading.Event()
    encode = featurizer.encode

    def slow_encode(*args, **kwargs):
        entered.set()
        release.wait(10)
        return encode(*args, **kwargs)

    monkeypatch.setattr(featurizer, "encode", slow_encode)
    writer = threading.Thread(target=live.put, args=("partner", "P100", NEW_PARTNER, "ana"), kwargs={"create": True})
    writer.start()
    assert entered.wait(10)
    threading.Timer(0.2, release.set).start()
    assert "P100" in live.model().partner_ids_  # waited for the writer, then read its change
    writer.join(10)

    entered.clear()
    release.clear()
    live.WRITER_WAIT = 0.2
    writer = threading.Thread(target=live.remove, args=("partner", "P100", "ana"))
    monkeypatch.setattr(live.catalog, "deactivate", lambda *a, **k: (entered.set(), release.wait(10))[0] or None)
    writer.start()
    assert entered.wait(10)
    threading.Timer(3, release.set).start()
    started = time.monotonic()
    assert "P100" in live.model().partner_ids_  # the writer is stuck: read as it is after WRITER_WAIT
    assert 0.15 <= time.monotonic() - started < 2
    writer.join(10)


def test_a_mixed_batch_of_changes_keeps_every_other_row_and_the_id_order(model_file):
    """Creates sorting first, between and last, a replaced row and a removed one, applied at once: the result is in
    id order, every untouched partner keeps its row exactly, and each changed one has its own features."""
    from dataclasses import fields

    import numpy as np

    from matcher.catalog import CatalogRow
    from matcher.live import apply_rows, partner_contacts

    base = load_model(model_file)
    ids = [str(i) for i in base.partner_ids_]
    replaced, removed = ids[1], ids[-1]
    new_ids = ["A-first", ids[0] + "x", ids[-2] + "x", "zz-last"]  # each sorts right after its anchor

    def row(name, text):
        return {"name": name, "offerings": text, "latitude": "40.01", "longitude": "-75.01", "remote": "false",
                "contact_email": f"{name.split()[0].lower()}@example.org"}

    rows = [CatalogRow("partner", pid, row(f"New{k} partner", f"Chess club {k}. Weekend robotics."), True, 9)
            for k, pid in enumerate(new_ids)]
    rows += [CatalogRow("partner", replaced, row("Replaced partner", "Free eye exams and glasses."), True, 9),
             CatalogRow("partner", removed, {}, False, 9)]
    after = apply_rows(base, rows)

    got = [str(i) for i in after.partner_ids_]
    assert got == sorted(set(ids) - {removed} | set(new_ids))
    old_row = {pid: j for j, pid in enumerate(ids)}
    for j, pid in enumerate(got):
        if pid in new_ids or pid == replaced:
            continue
        i = old_row[pid]
        for f in fields(base.partners_):
            if f.name in ("sentences", "sentence_start"):
                continue
            was = getattr(base.partners_, f.name)[i]
            assert np.array_equal(getattr(after.partners_, f.name)[j], was, equal_nan=was.dtype.kind == "f"), pid
        a, b = after.partners_, base.partners_
        assert np.array_equal(a.sentences[a.sentence_start[j]: a.sentence_start[j] + a.sentence_count[j]],
                              b.sentences[b.sentence_start[i]: b.sentence_start[i] + b.sentence_count[i]])
        assert (after.partner_names_[j], after.partner_texts_[j]) == (base.partner_names_[i], base.partner_texts_[i])
        assert partner_contacts(after)[j] == partner_contacts(base)[i]
    for k, pid in enumerate(new_ids):
        j = got.index(pid)
        assert after.partner_names_[j] == f"New{k} partner"
        assert partner_contacts(after)[j]["contact_email"] == f"new{k}@example.org"
    j = got.index(replaced)
    assert after.partner_texts_[j] == "Free eye exams and glasses."
    fresh = base.featurizer_.encode(["Free eye exams and glasses."], split_sentences=True)["Free eye exams and glasses."]
    assert np.array_equal(after.partners_.text[j], fresh.text)
    # Every row scores as a ranking over the new ids expects: a partner's id and its row agree.
    assert after.index("partner")[replaced] == j and removed not in after.index("partner")


def test_readers_wait_only_for_the_changes_being_written_when_they_arrive(model, db, monkeypatch):
    """A change that starts after a reader arrived does not hold it back (a stream of changes cannot starve reads)."""
    import threading
    import time

    live = live_model(model, db)
    live.WRITER_WAIT = 8.0
    featurizer = live.model().featurizer_
    encode, deactivate = featurizer.encode, live.catalog.deactivate
    gates = [threading.Event(), threading.Event()]
    entered = [threading.Event(), threading.Event()]

    def gated_encode(batch, *args, **kwargs):
        batch = list(batch)
        if batch == [NEW_PARTNER["offerings"]] and not entered[0].is_set():  # the put's own encoding
            entered[0].set()
            gates[0].wait(20)
        return encode(batch, *args, **kwargs)

    def gated_deactivate(*args, **kwargs):
        entered[1].set()
        gates[1].wait(20)
        return deactivate(*args, **kwargs)

    monkeypatch.setattr(featurizer, "encode", gated_encode)
    monkeypatch.setattr(live.catalog, "deactivate", gated_deactivate)
    first = threading.Thread(target=live.put, args=("partner", "P100", NEW_PARTNER, "ana"), kwargs={"create": True})
    first.start()
    assert entered[0].wait(10)
    seen: dict[str, object] = {}
    reader = threading.Thread(target=lambda: seen.update(ids=set(live.model().partner_ids_), at=time.monotonic()))
    reader.start()
    time.sleep(1.0)  # the reader is waiting for the first change (it arrived before the second one began)
    second = threading.Thread(target=live.remove, args=("partner", "P2", "ben"))
    second.start()
    assert entered[1].wait(10)  # a second change is being written too, begun after the reader arrived
    released = time.monotonic()
    gates[0].set()
    reader.join(5)
    assert not reader.is_alive() and seen["at"] - released < 2  # not held back by the second change
    assert "P100" in seen["ids"] and "P2" in seen["ids"]
    gates[1].set()
    first.join(10)
    second.join(10)
    ids = set(live.model().partner_ids_)
    assert "P100" in ids and "P2" not in ids
