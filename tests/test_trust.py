"""Suggestions a coordinator trusts: service areas, remote as a fallback, relevance before logistics,
no generic partner everywhere, unknown is not half-bad."""
from __future__ import annotations

import pandas as pd
import pytest

from matcher.config import DEFAULT_SERVICE_RADIUS_KM
from matcher.model import PartnerMatcher

CHICAGO = (41.88, -87.63)
NEW_YORK = (40.71, -74.01)


def _fit(schools, partners, **params) -> PartnerMatcher:
    s = pd.DataFrame(schools, columns=["school_id", "name", "needs", "grades", "latitude", "longitude"])
    p = pd.DataFrame(partners, columns=["partner_id", "name", "offerings", "partner_type", "grades", "latitude",
                                        "longitude", "service_radius_km", "remote"])
    return PartnerMatcher(**params).fit(s.astype(str), p.astype(str))


def _ids(model, school="S1", n=10):
    return [m.id for m in model.recommend(school, n=n)]


SCHOOL = [("S1", "Lakeview Elementary", "Our students need weekend food bags; many families run out of groceries.",
           "K-5", *CHICAGO)]


def test_far_in_person_partner_without_a_radius_is_never_suggested():
    # The far partner's wording is even closer than the local one's.
    model = _fit(SCHOOL, [
        ("P1", "NYC Food Bank", "Weekend food bags and groceries for families.", "nonprofit", "K-12", *NEW_YORK, "", "false"),
        ("P2", "Chicago Pantry", "A school pantry with free groceries for hungry families.", "nonprofit", "K-12",
         41.90, -87.70, "", "false"),
    ])
    assert _ids(model) == ["P2"]
    ex = model.explain("S1", "P1")
    assert ex.rank is None
    assert any(f"no service area given: assumed {DEFAULT_SERVICE_RADIUS_KM:g} km" in e for e in ex.excluded_by)
    assert any("no service area given" in r for r in model.explain("S1", "P2").reasons)


def test_default_radius_is_a_parameter_and_a_query_setting():
    partners = [("P1", "Suburban Food Bank", "Weekend food bags and groceries for families.", "nonprofit", "K-12",
                 42.30, -87.90, "", "false")]  # ~52 km away
    assert _ids(_fit(SCHOOL, partners)) == ["P1"]
    narrow = _fit(SCHOOL, partners, default_radius_km=30.0)
    assert _ids(narrow) == []
    assert [m.id for m in narrow.recommend("S1", weights={"default_radius_km": 60.0})] == ["P1"]


def test_local_partner_beats_an_equally_relevant_remote_one():
    offer = "Weekend food bags and groceries for families."
    model = _fit(SCHOOL, [
        ("P1", "National Food Program", offer, "nonprofit", "K-12", *NEW_YORK, "", "true"),
        ("P2", "Chicago Food Program", offer, "nonprofit", "K-12", 41.80, -87.60, "40", "false"),
    ])
    assert _ids(model) == ["P2", "P1"]


def test_remote_partner_gets_no_distance_credit_for_an_on_site_need():
    offer = "Weekend food bags and groceries for families."
    model = _fit(SCHOOL, [("P1", "National Food Program", offer, "nonprofit", "K-12", *NEW_YORK, "", "true")])
    geo = next(b for b in model.explain("S1", "P1").blocks if b["block"] == "geo")
    assert geo["similarity"] < 0.01  # almost all of this need happens on site
    online = _fit([("S1", "Lakeview Elementary", "Our teachers want online coaching on classroom management.",
                    "K-5", *CHICAGO)],
                  [("P1", "Coaching Network", "Virtual coaching for teachers on classroom management.", "nonprofit",
                    "K-12", *NEW_YORK, "", "true")])
    assert next(b for b in online.explain("S1", "P1").blocks if b["block"] == "geo")["similarity"] > 0


def test_logistics_do_not_lift_a_partner_that_does_not_meet_the_need():
    model = _fit([("S1", "Lakeview Elementary", "Students with IEPs need specialists for special education and "
                   "support for students with disabilities.", "K-5", *CHICAGO)], [
        ("P1", "Neighborhood Bank", "Financial literacy workshops for families.", "business", "K-5", 41.881, -87.631,
         "5", "false"),
        ("P2", "Disability Resource Center", "Special education advocates and therapists for students with "
         "disabilities and their IEP teams.", "health", "PK-12", 42.20, -87.90, "60", "false"),
    ])
    assert _ids(model) == ["P2", "P1"]


def test_generic_partner_does_not_outrank_a_specific_one_for_a_specific_need():
    schools = [
        ("S1", "Lakeview Elementary", "Our second graders need swimming lessons at a pool.", "K-5", *CHICAGO),
        ("S2", "Oak Middle", "We need tutors for math after school.", "6-8", 41.85, -87.65),
        ("S3", "Pine High", "Students want mentors and career days.", "9-12", 41.90, -87.62),
        ("S4", "Elm Elementary", "Families need coats and clothing for winter.", "K-5", 41.87, -87.66),
        ("S5", "Birch Middle", "Our band needs instruments.", "6-8", 41.86, -87.61),
    ]
    partners = [
        ("P1", "Everything Helpers", "Supporting students and families with programs, resources and activities.",
         "community", "K-12", 41.88, -87.63, "30", "false"),
        ("P2", "City Swim Club", "Free swimming lessons and water safety at our pool for school groups.", "nonprofit",
         "K-12", 41.89, -87.64, "30", "false"),
        ("P3", "Math Tutors Inc", "Volunteer math tutors after school.", "nonprofit", "K-12", 41.86, -87.64, "30",
         "false"),
    ]
    model = _fit(schools, partners)
    assert _ids(model)[0] == "P2"
    assert _ids(model, "S2")[0] == "P3"


def test_unknown_grades_are_not_penalised():
    offer = "Weekend food bags and groceries for families."
    model = _fit(SCHOOL, [
        ("P1", "Food Program A", offer, "nonprofit", "", 41.80, -87.60, "40", "false"),
        ("P2", "Food Program B", offer, "nonprofit", "K-1", 41.80, -87.60, "40", "false"),  # 2 of the 6 grades
    ])
    assert _ids(model) == ["P1", "P2"]
    # unknown grades are left out of the mean: the same score as with no grades block at all
    no_grades = {"grades": 0.0}
    assert model.recommend("S1", n=1)[0].score == pytest.approx(model.recommend("S1", n=1, weights=no_grades)[0].score)
    grades = next(b for b in model.explain("S1", "P1").blocks if b["block"] == "grades")
    assert grades["similarity"] is None and grades["contribution"] == 0 and "not scored" in grades["note"]


def test_components_still_sum_to_the_score_with_unknown_blocks_and_the_gate():
    model = _fit(SCHOOL + [("S2", "Nowhere School", "We need a robotics club.", "", "", "")], [
        ("P1", "Food Program", "Weekend food bags.", "", "", "", "", "", "true"),
        ("P2", "Robotics League", "Robotics competitions and kits.", "nonprofit", "6-12", 41.8, -87.6, "20", "false"),
    ])
    for sid in ("S1", "S2"):
        for m in model.recommend(sid):
            assert sum(m.components.values()) == pytest.approx(m.score, abs=1e-12)
