"""A partner's optional contact columns: contact_name, contact_email, website.

Checked by the data contract (an email address; an http or https address),
kept by the model and the live catalogue, accepted and refused alike by the
API, and shown in explanations.
"""
from __future__ import annotations

import pandas as pd
import pytest
from conftest import partners_frame

from matcher.data import contacts, read_partners, validate_partners
from matcher.errors import DataError


def with_contacts(**cells) -> pd.DataFrame:
    df = partners_frame()
    for column, values in cells.items():
        df[column] = values + [""] * (len(df) - len(values))
    return df


def test_contact_columns_are_optional_and_kept():
    df = validate_partners(with_contacts(contact_name=["Ana Ruiz"], contact_email=["ana@food.org"],
                                         website=["https://food.org/schools"]))
    assert contacts(df)[0] == {"contact_name": "Ana Ruiz", "contact_email": "ana@food.org",
                               "website": "https://food.org/schools"}
    assert contacts(df)[1] == {}
    assert contacts(validate_partners(partners_frame())).tolist() == [{}] * len(partners_frame())


@pytest.mark.parametrize("column, cell, message", [
    ("contact_email", "ana at food.org", "is not an email address (like name@example.org)"),
    ("contact_email", "ana@food", "is not an email address"),
    ("contact_email", "<ana@food.org>", "is not an email address"),
    ("website", "food.org", "is not a web address (start it with https:// or http://)"),
    ("website", "javascript:alert(1)", "is not a web address"),
    ("website", "ftp://food.org", "is not a web address"),
    ("website", 'https://food.org/"onmouseover', "is not a web address"),
])
def test_bad_contacts_are_refused_with_row_and_column(tmp_path, column, cell, message):
    path = tmp_path / "partners.csv"
    with_contacts(**{column: ["", cell]}).to_csv(path, index=False)
    with pytest.raises(DataError) as exc:
        read_partners(path)
    assert f"row 3, column {column}: " in str(exc.value) and message in str(exc.value)


@pytest.mark.parametrize("website", ["http://food.org", "https://www.food.org/schools?id=3#k", "HTTPS://FOOD.ORG:8080/"])
def test_good_websites_pass(website):
    assert contacts(validate_partners(with_contacts(website=[website])))[0] == {"website": website}


def test_the_model_and_explanations_carry_contacts():
    from conftest import schools_frame

    from matcher.model import PartnerMatcher

    model = PartnerMatcher().fit(schools_frame(), with_contacts(contact_name=["Ana Ruiz"], contact_email=["ana@food.org"]))
    assert model.explain("S1", "P1").to_dict()["contact"] == {"contact_name": "Ana Ruiz", "contact_email": "ana@food.org"}
    assert model.explain("S1", "P2").contact == {}


fastapi = pytest.importorskip("fastapi", reason="the web extra is not installed (pip install 'matcher[web]')")


@pytest.fixture
def client(model_file, tmp_path):
    from fastapi.testclient import TestClient

    from matcher.persistence import load_model
    from matcher.web import create_app

    return TestClient(create_app(load_model(model_file), model_file, tmp_path / "o.db"), base_url="http://127.0.0.1")


def test_api_takes_contacts_live_and_refuses_bad_ones(client):
    row = client.get("/api/partners/P4").json()
    row.pop("partner_id")
    bad = client.put("/api/partners/P4", json={**row, "contact_email": "curator at museum", "website": "museum.org"})
    assert bad.status_code == 422
    assert {e["field"]: e["msg"] for e in bad.json()["errors"]} == {
        "contact_email": "not an email address (like name@example.org)",
        "website": "not a web address (start it with https:// or http://)"}
    good = client.put("/api/partners/P4", json={**row, "contact_name": "Sam Lee", "contact_email": "sam@museum.org",
                                                "website": "https://museum.org/schools"})
    assert good.status_code == 200, good.text
    assert client.get("/api/partners/P4").json()["contact_email"] == "sam@museum.org"
    ex = client.get("/api/schools/S4/partners/P4/explain").json()
    assert ex["contact"] == {"contact_name": "Sam Lee", "contact_email": "sam@museum.org",
                             "website": "https://museum.org/schools"}
    page = client.get("/", params={"school": "S4", "partner": "P4"}).text
    assert 'href="mailto:sam@museum.org"' in page and 'href="https://museum.org/schools"' in page
