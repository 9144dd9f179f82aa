"""Behaviour of the fitted model: right answers, hard constraints, determinism, sklearn conventions."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import partners_frame, schools_frame
from matcher.config import BLOCKS, DEFAULT_SERVICE_RADIUS_KM, DEFAULT_WEIGHTS
from matcher.errors import MatcherError, UnknownIdError
from matcher.model import PartnerMatcher


@pytest.mark.parametrize("school, partner", [("S1", "P1"), ("S2", "P2"), ("S3", "P3"), ("S5", "P5")])
def test_the_partner_that_meets_the_need_comes_first(fitted, school, partner):
    assert fitted.recommend(school, n=1)[0].id == partner


def test_never_suggests_a_partner_that_cannot_serve(fitted):
    ids = [m.id for m in fitted.recommend("S1", n=10)]
    assert "P6" not in ids  # capacity 0
    assert "P7" not in ids  # grades 9-12 vs K-5
    assert "P3" not in ids  # grades 11-12 vs K-5
    far = [m.id for m in fitted.recommend("S4", n=10)]  # 200 km away from everyone
    assert far == ["P5"]  # only the remote partner without limits serves it (P3's grades do not fit)


def test_include_full_lets_capacity_zero_back_in(fitted):
    assert "P6" in [m.id for m in fitted.recommend("S1", n=10, include_full=True)]


def test_components_sum_to_score_and_blocks_are_in_unit_range(fitted):
    for m in fitted.recommend("S2", n=10):
        assert set(m.components) == set(BLOCKS)
        assert sum(m.components.values()) == pytest.approx(m.score, abs=1e-9)
        assert 0 <= m.score <= 1


def test_weights_override_at_query_time_without_refit(fitted):
    text_only = fitted.recommend("S1", n=5, weights={b: (1.0 if b == "text" else 0.0) for b in BLOCKS})
    assert all(m.components["geo"] == 0 for m in text_only)
    geo_only = fitted.recommend("S1", n=5, weights={b: (1.0 if b == "geo" else 0.0) for b in BLOCKS})
    assert [m.score for m in geo_only] == sorted([m.score for m in geo_only], reverse=True)
    assert fitted.weights_ == DEFAULT_WEIGHTS  # the model itself is unchanged


def test_recommend_for_need_and_reverse(fitted):
    assert fitted.recommend_for_need("kids are hungry, we need a food pantry", n=1, grades="K-5")[0].id == "P1"
    schools = [m.id for m in fitted.recommend_schools("P2", n=10)]
    assert schools[0] == "S2" and "S4" not in schools  # S4 is outside P2's 15 km radius
    assert fitted.recommend_schools("P6", n=5) == []  # no capacity left


def test_unknown_id_suggests_close_ones(fitted):
    with pytest.raises(UnknownIdError, match=r"unknown school id 'S11'; did you mean 'S1'"):
        fitted.recommend("S11")
    with pytest.raises(MatcherError, match="whole number >= 1"):
        fitted.recommend("S1", n=0)


# Ids and names as a coordinator types them, against 300 ids of one width (as the sample's S000001..S000300).
TYPED_IDS = [f"S{i:06d}" for i in range(1, 301)]
TYPED_NAMES = [f"School {i}" for i in range(1, 301)]
TYPED_NAMES[0], TYPED_NAMES[200] = "Spring Crossing Elementary", "Millbrook Magnet Elementary"


@pytest.mark.parametrize("typed, first", [
    ("S00001", "S000001"),  # one zero short: the same number, not S000010 or S000201
    ("S00030", "S000030"),  # not S000300
    ("s000001", "S000001"),  # case
    ("S000O01", "S000001"),  # the letter O: one edit from S000001, two from S000201
    ("S0000201", "S000201"),  # one zero too many
    ("spring crossing", "S000001"),  # part of a name
    ("Spring Crossing Elementry", "S000001"),  # a misspelt name
    ("millbrook", "S000201"),
])
def test_suggestions_rank_the_id_meant_first(typed, first):
    from matcher.ids import IdTable

    table = IdTable(TYPED_IDS, TYPED_NAMES)
    assert table.ids[table.suggest(typed)[0]] == first
    order = np.random.default_rng(0).permutation(len(TYPED_IDS))  # ties go by id, whatever the row order
    shuffled = IdTable([TYPED_IDS[i] for i in order], [TYPED_NAMES[i] for i in order])
    assert [shuffled.ids[r] for r in shuffled.suggest(typed)] == [table.ids[r] for r in table.suggest(typed)]


def test_suggestions_are_by_edit_distance_then_id():
    from matcher.ids import IdTable

    table = IdTable(TYPED_IDS, TYPED_NAMES)
    # One edit away, by id; nothing two edits away (S000011) for an id this short.
    assert [table.ids[r] for r in table.suggest("S000O01", n=6)] == ["S000001", "S000101", "S000201"]
    # The same number first, then one edit away by id.
    assert [table.ids[r] for r in table.suggest("S00001", n=4)] == ["S000001", "S000010", "S000011", "S000012"]
    assert table.suggest("nothing like any of them") == [] and table.suggest("") == []


def test_resolve_takes_an_id_or_a_whole_name(fitted):
    assert fitted.resolve("school", "S3") == "S3" and fitted.resolve("school", " cedar  high SCHOOL ") == "S3"
    assert fitted.resolve("partner", "Science Discovery Museum") == "P4"
    with pytest.raises(UnknownIdError, match=r"^unknown school id 'Cedar'; did you mean 'S3'\?$"):
        fitted.resolve("school", "Cedar")  # part of a name: suggested, not taken
    assert fitted.resolve("school", "Cedar", partial=True) == "S3"  # the page's search box takes it
    with pytest.raises(UnknownIdError, match=r"^'school' matches 2 schools: S2 \(Pine Middle School\), "
                                             r"S3 \(Cedar High School\); give one of the ids$") as info:
        fitted.resolve("school", "school", partial=True)
    assert info.value.ambiguous and info.value.suggestions == ["S2", "S3"]


def test_asking_for_more_than_exist_returns_all(fitted):
    # S5 gives no grades and no location, so only capacity rules anyone out (P6 is full).
    assert [m.id for m in fitted.recommend("S5", n=100)] != [] and len(fitted.recommend("S5", n=100)) == 6


def test_explain_names_the_constraint(fitted):
    ex = fitted.explain("S1", "P7")
    assert ex.rank is None and any(e.startswith("grades:") for e in ex.excluded_by)
    assert any(e.startswith("capacity:") for e in fitted.explain("S1", "P6").excluded_by)
    assert any(e.startswith("distance:") for e in fitted.explain("S4", "P1").excluded_by)
    ok = fitted.explain("S1", "P1")
    assert ok.rank == 1 and ok.excluded_by == []
    assert sum(b["contribution"] for b in ok.blocks) == pytest.approx(ok.score, abs=1e-5)
    assert any(c["category"] for c in ok.matched_categories)


def test_shuffled_rows_give_identical_output():
    a = PartnerMatcher().fit(schools_frame(), partners_frame())
    b = PartnerMatcher().fit(schools_frame().sample(frac=1, random_state=1), partners_frame().sample(frac=1, random_state=2))
    for sid in ["S1", "S2", "S3", "S4", "S5"]:
        assert [m.to_dict() for m in a.recommend(sid)] == [m.to_dict() for m in b.recommend(sid)]


def test_ties_are_broken_by_id():
    schools = pd.DataFrame({"school_id": ["S1"], "name": ["A"], "needs": ["tutoring in math"]})
    partners = pd.DataFrame({"partner_id": ["P3", "P1", "P2"], "name": ["x", "y", "z"],
                             "offerings": ["math tutoring"] * 3})
    model = PartnerMatcher().fit(schools, partners)
    assert [m.id for m in model.recommend("S1")] == ["P1", "P2", "P3"]


def test_sklearn_protocol():
    from sklearn.base import clone

    m = PartnerMatcher(weights={"text": 1.0}, geo_length_km=10.0)
    assert m.get_params() == {"default_radius_km": 80.0, "encoder": "minilm", "geo_length_km": 10.0,
                              "weights": {"text": 1.0}}
    c = clone(m)
    assert c.get_params() == m.get_params() and c is not m
    assert m.set_params(geo_length_km=5.0) is m and m.geo_length_km == 5.0
    with pytest.raises(ValueError, match="Invalid parameter"):
        m.set_params(colour=1)
    assert not hasattr(m, "weights_")
    assert repr(m) == "PartnerMatcher(geo_length_km=5.0, weights={'text': 1.0})"


def test_fit_returns_self_and_unfitted_refuses(fitted):
    m = PartnerMatcher()
    with pytest.raises(MatcherError, match="not fitted"):
        m.recommend("S1")
    assert m.fit(schools_frame(), partners_frame()) is m


# Hard constraints hold for any data: hypothesis draws grades, places, radii, remote flags, capacities.
_grades = st.sampled_from(["", "PK", "K-2", "K-5", "3-5", "6-8", "9-12", "11-12", "K-12", "5;9"])
_coord = st.one_of(st.none(), st.tuples(st.floats(38.5, 41.5), st.floats(-76.5, -73.5)))  # up to ~400 km apart
_texts = ["tutoring in reading", "food pantry for families", "counseling for anxious students",
          "robotics club", "college application help", "field trips to the zoo"]


@st.composite
def _dataset(draw):
    ns, np_ = draw(st.integers(1, 6)), draw(st.integers(1, 10))
    srows, prows = [], []
    for i in range(ns):
        c = draw(_coord)
        srows.append({"school_id": f"S{i}", "name": f"School {i}", "needs": draw(st.sampled_from(_texts)),
                      "grades": draw(_grades), "latitude": "" if c is None else f"{c[0]:.4f}",
                      "longitude": "" if c is None else f"{c[1]:.4f}"})
    for j in range(np_):
        c = draw(_coord)
        radius = draw(st.one_of(st.none(), st.floats(1, 80)))
        cap = draw(st.one_of(st.none(), st.integers(0, 3)))
        prows.append({"partner_id": f"P{j}", "name": f"Partner {j}", "offerings": draw(st.sampled_from(_texts)),
                      "grades": draw(_grades), "latitude": "" if c is None else f"{c[0]:.4f}",
                      "longitude": "" if c is None else f"{c[1]:.4f}",
                      "service_radius_km": "" if radius is None else f"{radius:.1f}",
                      "remote": draw(st.sampled_from(["true", "false"])), "capacity": "" if cap is None else str(cap)})
    return pd.DataFrame(srows), pd.DataFrame(prows)


def _violates(s, p) -> list[str]:
    from matcher.features import EARTH_RADIUS_KM
    from matcher.grades import parse_grades

    out = []
    gs, gp = parse_grades(s["grades"]), parse_grades(p["grades"])
    if gs and gp and not gs & gp:
        out.append("grades")
    if p["capacity"] == "0":
        out.append("capacity")
    if s["latitude"] and p["latitude"] and p["remote"] == "false":
        la1, lo1, la2, lo2 = map(np.radians, map(float, (s["latitude"], s["longitude"], p["latitude"], p["longitude"])))
        a = np.sin((la2 - la1) / 2) ** 2 + np.cos(la1) * np.cos(la2) * np.sin((lo2 - lo1) / 2) ** 2
        radius = float(p["service_radius_km"]) if p["service_radius_km"] else DEFAULT_SERVICE_RADIUS_KM
        if 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(a)) > radius:
            out.append("distance")
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_dataset())
def test_no_output_ever_violates_a_hard_constraint(data):
    schools, partners = data
    model = PartnerMatcher().fit(schools, partners)
    srow = schools.set_index("school_id")
    prow = partners.set_index("partner_id")
    for sid in srow.index:
        for m in model.recommend(sid, n=20):
            assert not _violates(srow.loc[sid], prow.loc[m.id]), (sid, m.id)
    for pid in prow.index:
        for m in model.recommend_schools(pid, n=20):
            assert not _violates(srow.loc[m.id], prow.loc[pid]), (m.id, pid)
