"""Narrowing a school's list (matcher.filters): keyword, partner type, distance, delivery, grades.

Filters only ever remove partners from the model's whole ranking: the partners
left keep their order and their rank in the whole list, and the API, the page
and the library agree.
"""
from __future__ import annotations

import numpy as np
import pytest

from matcher.errors import MatcherError
from matcher.filters import PartnerFilters
from matcher.matches import FilteredMatches


def ranked(model, school, **filters):
    return model.recommend(school, n=10, filters=PartnerFilters.parse(**filters))


def test_no_filter_is_the_plain_ranking(fitted):
    assert not PartnerFilters.parse().active
    plain = fitted.recommend("S3")
    assert [m.to_dict() for m in ranked(fitted, "S3")] == [m.to_dict() for m in plain]


@pytest.mark.parametrize("filters, expected", [
    ({"q": "robot"}, ["P7"]),  # a word starting with the keyword: Robotics
    ({"q": "Teen ROBOTICS"}, ["P7"]),  # every word must match, any case
    ({"q": "advising"}, []),
    ({"q": "adviser"}, ["P3"]),  # same stem: Advisers
    ({"types": ["nonprofit"]}, ["P7", "P1", "P5"]),
    ({"types": ["University"]}, ["P3"]),  # a common spelling of a type
    ({"delivery": "remote"}, ["P3", "P5"]),
    ({"grades": "11"}, ["P3", "P7", "P1", "P2", "P5"]),
    ({"grades": "9", "types": "higher_education"}, []),
    ({"max_km": "5"}, ["P3", "P2", "P5"]),  # P7 and P1 are 6-7 km away
    ({"max_km": "1"}, []),
])
def test_filters_keep_the_order_and_ranks_of_the_whole_ranking(fitted, filters, expected):
    whole = [m.id for m in fitted.recommend("S3")]
    got = ranked(fitted, "S3", **filters)
    assert isinstance(got, FilteredMatches)
    assert [m.id for m in got] == expected
    assert [m.rank for m in got] == [whole.index(m.id) + 1 for m in got]  # not re-ranked
    assert (got.passing, got.total) == (len(expected), len(whole))


def test_n_is_the_first_n_that_pass(fitted):
    got = fitted.recommend("S5", n=2, filters=PartnerFilters.parse(grades="K-12"))
    assert [m.rank for m in got] == [1, 2] and got.passing > 2


def test_in_person_means_inside_the_service_area(fitted):
    # S4 is far from every partner: only a remote partner serves it, and not in person.
    assert [m.id for m in ranked(fitted, "S4")] == ["P5"]
    assert [m.id for m in ranked(fitted, "S4", delivery="remote")] == ["P5"]
    assert ranked(fitted, "S4", delivery="in person") == []


def test_a_need_list_takes_filters_too(fitted):
    got = fitted.recommend_for_need("free groceries for hungry families", filters=PartnerFilters.parse(q="pantry"))
    assert [m.id for m in got] == ["P1"]


@pytest.mark.parametrize("kwargs, message", [
    ({"types": ["spaceship"]}, "type: unknown partner type 'spaceship'"),
    ({"max_km": "far"}, "distance: 'far' is not a number of kilometres greater than 0"),
    ({"max_km": "0"}, "distance: '0' is not a number"),
    ({"delivery": "by post"}, "delivery: 'by_post' is not one of in_person, remote"),
    ({"grades": "13"}, "grades:"),
    ({"q": "x" * 201}, "search: at most 200 characters"),
])
def test_a_filter_not_understood_is_named(kwargs, message):
    with pytest.raises(MatcherError, match=message.replace("(", r"\(")):
        PartnerFilters.parse(**kwargs)


def test_to_query_round_trips():
    f = PartnerFilters.parse(q=" food  bank ", types=["University", "nonprofit"], max_km="12.5", delivery="In person",
                             grades="6-8")
    assert f.to_query() == {"q": "food bank", "type": ["nonprofit", "higher_education"], "max_km": "12.5",
                            "delivery": "in_person", "grades": "6-8"}
    q = f.to_query()
    assert PartnerFilters.parse(q["q"], q["type"], q["max_km"], q["delivery"], q["grades"]) == f


def test_the_search_index_follows_live_changes(fitted):
    import copy

    changed = copy.copy(fitted)
    changed.partner_texts_ = np.array([*fitted.partner_texts_[:-1], "Chess club for teens"], dtype=object)
    assert [m.id for m in ranked(changed, "S3", q="chess")] == ["P7"]
    assert ranked(fitted, "S3", q="chess") == []


# --------------------------------------------------------------------------- the API

fastapi = pytest.importorskip("fastapi", reason="the web extra is not installed (pip install 'matcher[web]')")


@pytest.fixture
def client(model_file, tmp_path):
    from fastapi.testclient import TestClient

    from matcher.persistence import load_model
    from matcher.web import create_app

    return TestClient(create_app(load_model(model_file), model_file, tmp_path / "o.db"), base_url="http://127.0.0.1")


def test_api_filters_as_the_library(client, model_file):
    from matcher.persistence import load_model

    model = load_model(model_file)
    rows = client.get("/api/schools/S3/recommendations", params={"type": ["nonprofit"], "grades": "9-12"}).json()
    expected = model.recommend("S3", filters=PartnerFilters.parse(types=["nonprofit"], grades="9-12"))
    assert [(r["partner_id"], r["rank"]) for r in rows] == [(m.id, m.rank) for m in expected]
    csv = client.get("/api/schools/S3/recommendations.csv", params={"q": "robot"}).text.splitlines()
    assert len(csv) == 2 and csv[1].startswith("2,P7,")


@pytest.mark.parametrize("params, detail", [
    ({"type": "University"}, "query parameter type.0: Input should be"),  # the API takes the slugs
    ({"max_km": "0"}, "query parameter max_km: Input should be greater than 0"),
    ({"delivery": "post"}, "query parameter delivery: Input should be 'in_person' or 'remote'"),
    ({"grades": "K - 5"}, "query parameter grades: not a grade band"),
    ({"kw": "math"}, "query parameter kw: not a parameter of this operation"),
])
def test_api_refuses_a_filter_it_does_not_understand(client, params, detail):
    r = client.get("/api/schools/S3/recommendations", params=params)
    assert r.status_code == 422 and r.json()["detail"].startswith(detail)
