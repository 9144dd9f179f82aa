"""Undo of a pair's latest outreach event: the status before it again, in the append-only log."""
from __future__ import annotations

import pytest

from matcher.state import CLEARED, NothingToUndo, OutreachStore


@pytest.fixture
def store(tmp_path):
    return OutreachStore(tmp_path / "o.db")


def test_undo_records_the_status_before(store):
    store.record("S1", "P1", "contacted", "called")
    store.record("S1", "P1", "do_not_contact")
    assert store.constraints().is_excluded("S1", "P1")
    event = store.undo("S1", "P1", user="ana")
    assert (event.status, event.user) == ("contacted", "ana") and event.note.startswith("undo of #2")
    assert not store.constraints().is_excluded("S1", "P1")
    assert [e.status for e in store.history("S1", "P1")] == ["contacted", "do_not_contact", "contacted"]


def test_undo_of_the_first_event_clears_the_pair(store):
    store.record("S1", "P1", "partnered")
    assert store.constraints().used_capacity == {"P1": 1}
    assert store.undo("S1", "P1").status == CLEARED
    c = store.constraints()
    assert c.status == {} and c.excluded == set() and c.used_capacity == {}
    assert store.undo("S1", "P1").status == "partnered"  # undoing the undo brings it back


def test_nothing_to_undo(store):
    with pytest.raises(NothingToUndo, match="nothing to undo"):
        store.undo("S1", "P9")


fastapi = pytest.importorskip("fastapi", reason="the web extra is not installed (pip install 'matcher[web]')")


def test_api_undo(model_file, tmp_path):
    from fastapi.testclient import TestClient

    from matcher.persistence import load_model
    from matcher.web import create_app

    client = TestClient(create_app(load_model(model_file), model_file, tmp_path / "o.db"), base_url="http://127.0.0.1")
    url = "/api/schools/S2/partners/P2/status"
    assert client.post(url + "/undo").status_code == 409
    assert client.post(url, json={"status": "do_not_contact"}).status_code == 201
    assert "P2" not in [r["partner_id"] for r in client.get("/api/schools/S2/recommendations").json()]
    undone = client.post(url + "/undo")
    assert undone.status_code == 201 and undone.json()["status"] == "cleared"
    rows = client.get("/api/schools/S2/recommendations").json()
    assert rows[0]["partner_id"] == "P2" and rows[0]["status"] is None
    assert client.post("/api/schools/S2/partners/P99/status/undo").status_code == 404
