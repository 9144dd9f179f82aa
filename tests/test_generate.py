"""Tests of the synthetic data generator (matcher.generate): contract, constraints, determinism."""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matcher.config import DEFAULT_SERVICE_RADIUS_KM, GRADE_LEVELS
from matcher.errors import DataError
import matcher.generate as gen
import matcher.generate.history as gen_history
from matcher.generate import (GEO_SCALE_KM, HIDDEN_UTILITY, Dataset, category_grades, generate,
                              remote_categories, write_dataset)
from matcher.generate.places import METROS
from matcher.taxonomy import Category, PartnerType, Taxonomy, load_taxonomy

ROSTER = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "florida_public_schools.csv"
needs_roster = pytest.mark.skipif(not ROSTER.is_file(), reason=f"real roster not available at {ROSTER}")

# The data contract, written out here (not imported) so the test checks it.
SCHOOL_COLUMNS = ["school_id", "name", "needs", "need_categories", "grades", "latitude", "longitude",
                  "enrollment", "frl_pct", "preferred_partner_types"]
PARTNER_COLUMNS = ["partner_id", "name", "offerings", "partner_type", "offering_categories", "grades",
                   "latitude", "longitude", "service_radius_km", "remote", "capacity",
                   "contact_name", "contact_email", "website"]
PARTNERSHIP_COLUMNS = ["school_id", "partner_id", "outcome", "start_date"]
BAND = re.compile(r"^(PK|K|[1-9]|1[0-2])(?:-(PK|K|[1-9]|1[0-2]))?$")


@pytest.fixture(scope="module")
def data() -> Dataset:
    return generate(600, 400, seed=11)


def band(text: str) -> tuple[int, int]:
    m = BAND.match(text)
    assert m, f"bad grade band {text!r}"
    lo = GRADE_LEVELS.index(m.group(1))
    hi = GRADE_LEVELS.index(m.group(2) or m.group(1))
    assert lo <= hi, text
    return lo, hi


def haversine_km(lat1, lon1, lat2, lon2):
    p1, p2, dl = np.radians(lat1), np.radians(lat2), np.radians(lon2 - lon1)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6371.0088 * np.arcsin(np.sqrt(a))


def joined(d: Dataset) -> pd.DataFrame:
    return (d.partnerships.merge(d.schools, on="school_id", validate="many_to_one")
            .merge(d.partners, on="partner_id", suffixes=("_s", "_p"), validate="many_to_one"))


# --------------------------------------------------------------------------- determinism and sizes


def test_same_seed_gives_identical_tables_and_bytes(tmp_path):
    a, b = generate(80, 60, seed=5), generate(80, 60, seed=5)
    for name in ("schools", "partners", "partnerships"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    pa, pb = write_dataset(a, tmp_path / "a"), write_dataset(b, tmp_path / "b")
    for key in pa:
        assert pa[key].read_bytes() == pb[key].read_bytes()


def test_different_seed_differs():
    a, b = generate(80, 60, seed=1), generate(80, 60, seed=2)
    assert not a.schools["needs"].equals(b.schools["needs"])
    assert not a.partners["offerings"].equals(b.partners["offerings"])
    assert not a.partnerships.equals(b.partnerships)


def test_schools_do_not_depend_on_partner_count():
    # (As long as the number of metros used, one per 100 rows of the smaller table, is the same.)
    pd.testing.assert_frame_equal(generate(50, 10, seed=3).schools, generate(50, 90, seed=3).schools)
    pd.testing.assert_frame_equal(generate(10, 50, seed=3).partners, generate(90, 50, seed=3).partners)


def test_small_samples_partner_mostly_locally():
    """Few rows use few metros, so most partnerships are local rather than with remote partners."""
    d = generate(500, 300, seed=6)
    assert len(d.partnerships) >= 4900
    assert joined(d)["remote"].mean() < 0.5


@pytest.mark.parametrize("n_s,n_p", [(0, 0), (0, 5), (5, 0), (1, 1), (10, 7), (123, 45)])
def test_sizes_are_exact(n_s, n_p):
    d = generate(n_s, n_p, seed=0)
    assert (len(d.schools), len(d.partners)) == (n_s, n_p)
    assert list(d.schools.columns) == SCHOOL_COLUMNS
    assert list(d.partnerships.columns) == PARTNERSHIP_COLUMNS
    if n_s == 0 or n_p == 0:
        assert d.partnerships.empty


def test_partnership_count():
    # Default: about 10 per school (enough partners here that feasibility is not the limit).
    d = generate(100, 300, seed=4)
    assert 950 <= len(d.partnerships) <= 1000
    assert len(generate(100, 300, seed=4, n_partnerships=321).partnerships) == 321
    assert generate(100, 300, seed=4, n_partnerships=0).partnerships.empty
    # ... and at most 20 per partner on average.
    assert len(generate(200, 5, seed=4).partnerships) <= 100


def test_bad_sizes_raise():
    with pytest.raises(ValueError):
        generate(-1, 5)
    with pytest.raises(ValueError):
        generate(5, 5, n_partnerships=-3)


# --------------------------------------------------------------------------- the data contract


def test_columns_are_the_contract(data):
    assert list(data.schools.columns) == SCHOOL_COLUMNS
    assert list(data.partners.columns) == PARTNER_COLUMNS
    assert list(data.partnerships.columns) == PARTNERSHIP_COLUMNS


def test_contacts_are_valid_and_partial(data):
    from matcher.data import validate_partners
    from matcher.generate.partners import CONTACT_SHARES

    p = data.partners
    for column, share in CONTACT_SHARES.items():
        assert abs((p[column] != "").mean() - share) < 0.1, column
    assert p["contact_email"].str.fullmatch(r"(|[a-z]+(\.[a-z]+)?@[a-z0-9]+\.(org|com|edu|gov))").all()
    assert p["website"].str.fullmatch(r"(|https://www\.[a-z0-9]+\.(org|com|edu|gov))").all()
    named = p["contact_name"] != ""
    assert p.loc[named & (p["contact_email"] != ""), "contact_email"].str.contains(r"\.").all()
    validated = validate_partners(p)  # the data contract accepts them
    assert validated["contact_email"].tolist() == p["contact_email"].tolist()


def test_school_values(data):
    s = data.schools
    tax = load_taxonomy()
    assert s["school_id"].is_unique and s["school_id"].str.fullmatch(r"S\d{6,}").all()
    assert s["name"].str.len().gt(3).all() and s["needs"].str.len().gt(10).all()
    assert s["latitude"].between(-90, 90).all() and s["longitude"].between(-180, 180).all()
    assert (s["latitude"].round(5) == s["latitude"]).all()
    assert s["enrollment"].ge(0).all() and s["enrollment"].dtype.kind == "i"
    assert s["frl_pct"].between(0, 100).all() and (s["frl_pct"].round(1) == s["frl_pct"]).all()
    for text in s["grades"]:
        band(text)
    tagged = s["need_categories"].str.len() > 0
    assert 0.2 < tagged.mean() < 0.4
    slugs = set(tax.category_slugs)
    for text in s.loc[tagged, "need_categories"]:
        cats = text.split(";")
        assert 1 <= len(cats) <= 3 and set(cats) <= slugs and len(set(cats)) == len(cats)
    pref = s["preferred_partner_types"].str.len() > 0
    assert 0.15 < pref.mean() < 0.35
    types = set(tax.partner_type_slugs)
    assert all(set(t.split(";")) <= types for t in s.loc[pref, "preferred_partner_types"])
    # Grade bands fit the school's name.
    high = s["name"].str.contains("High School") & ~s["name"].str.contains("Junior")
    assert all(band(g)[0] >= GRADE_LEVELS.index("8") for g in s.loc[high, "grades"])
    middle = s["name"].str.contains("Middle School")
    assert all(band(g)[1] <= GRADE_LEVELS.index("9") for g in s.loc[middle, "grades"])


def test_partner_values(data):
    p = data.partners
    tax = load_taxonomy()
    assert p["partner_id"].is_unique and p["partner_id"].str.fullmatch(r"P\d{6,}").all()
    assert p["latitude"].between(-90, 90).all() and p["longitude"].between(-180, 180).all()
    assert set(p["partner_type"]) <= set(tax.partner_type_slugs)
    for text in p["grades"]:
        band(text)
    radius = p["service_radius_km"]
    assert radius.dropna().gt(0).all() and radius.dropna().le(80).all()
    assert 0.06 < radius.isna().mean() < 0.2
    assert p["remote"].dtype == bool and 0.05 < p["remote"].mean() < 0.16
    cap = p["capacity"]
    assert cap.dropna().between(0, 30).all()
    assert 0.01 < (cap == 0).mean() < 0.1 and 0.04 < cap.isna().mean() < 0.18
    tagged = p["offering_categories"].str.len() > 0
    assert 0.2 < tagged.mean() < 0.4
    assert all(1 <= len(t.split(";")) <= 4 for t in p.loc[tagged, "offering_categories"])


def test_partnership_values(data):
    ps = data.partnerships
    assert set(ps["outcome"]) <= {0, 1} and 0.7 < ps["outcome"].mean() < 0.9
    dates = pd.to_datetime(ps["start_date"], format="%Y-%m-%d")
    assert dates.min() >= pd.Timestamp("2020-01-01") and dates.max() <= pd.Timestamp("2025-12-31")
    assert dates.is_monotonic_increasing
    assert set(ps["school_id"]) <= set(data.schools["school_id"])
    assert set(ps["partner_id"]) <= set(data.partners["partner_id"])
    assert not ps.duplicated(["school_id", "partner_id"]).any()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_partner_type_appears(seed):
    p = generate(10, 300, seed=seed).partners
    assert set(p["partner_type"]) == set(load_taxonomy().partner_type_slugs)


def reach_km(radius, remote, default: float = DEFAULT_SERVICE_RADIUS_KM) -> np.ndarray:
    """How far partners serve, as the model reads them: remote anywhere, else the radius, else
    the default radius."""
    radius = np.asarray(radius, dtype=float)
    return np.where(np.asarray(remote, dtype=bool), np.inf,
                    np.where(np.isnan(radius), default, radius))


def assert_feasible(d: Dataset) -> None:
    """Every partnership overlaps in grades, is within the partner's reach and has capacity."""
    j = joined(d)
    assert len(j) == len(d.partnerships)
    s_band = np.array([band(g) for g in j["grades_s"]])
    p_band = np.array([band(g) for g in j["grades_p"]])
    assert (np.maximum(s_band[:, 0], p_band[:, 0]) <= np.minimum(s_band[:, 1], p_band[:, 1])).all()
    dist = haversine_km(j["latitude_s"], j["longitude_s"], j["latitude_p"], j["longitude_p"])
    assert (dist <= reach_km(j["service_radius_km"], j["remote"]) + 1e-6).all()
    assert (j["capacity"].isna() | (j["capacity"] > 0)).all()


def test_partnerships_respect_hard_constraints(data):
    assert len(data.partnerships) > 1000
    assert_feasible(data)


def random_feasible_distances(d: Dataset, n: int = 200_000) -> np.ndarray:
    """Distances (km) of random school-partner pairs that satisfy the hard constraints."""
    rng = np.random.default_rng(0)
    s, p = d.schools, d.partners
    s_band = np.array([band(g) for g in s["grades"]])
    p_band = np.array([band(g) for g in p["grades"]])
    si, pi = rng.integers(0, len(s), n), rng.integers(0, len(p), n)
    dist = haversine_km(s["latitude"].to_numpy()[si], s["longitude"].to_numpy()[si],
                        p["latitude"].to_numpy()[pi], p["longitude"].to_numpy()[pi])
    reach = reach_km(p["service_radius_km"].astype(float), p["remote"])[pi]
    capacity = p["capacity"].astype(float).to_numpy()[pi]
    ok = ((np.maximum(s_band[si, 0], p_band[pi, 0]) <= np.minimum(s_band[si, 1], p_band[pi, 1]))
          & (dist <= reach) & ~(capacity == 0))
    return dist[ok]


def category_match_rates(d: Dataset) -> tuple[float, float]:
    """Share of partnerships (tagged on both sides) whose partner offers the school's first tagged
    need, and the same share over random school-partner pairs."""
    j = joined(d)
    both = (j["need_categories"] != "") & (j["offering_categories"] != "")
    first_need = j.loc[both, "need_categories"].str.split(";").str[0]
    offered = j.loc[both, "offering_categories"].str.split(";")
    chosen = np.mean([n in o for n, o in zip(first_need, offered)])
    rng = np.random.default_rng(0)
    s = d.schools[d.schools["need_categories"] != ""]
    p = d.partners[d.partners["offering_categories"] != ""]
    si, pi = rng.integers(0, len(s), 20000), rng.integers(0, len(p), 20000)
    needs = s["need_categories"].str.split(";").str[0].to_numpy()[si]
    offers = p["offering_categories"].str.split(";").to_numpy()[pi]
    return chosen, np.mean([n in o for n, o in zip(needs, offers)])


def test_partnerships_follow_the_hidden_signal():
    """Partnerships favour category matches and nearby partners over random feasible pairs."""
    d = generate(1500, 1500, seed=8)
    chosen, random = category_match_rates(d)
    # All feasible partners are candidates, so category matches (the strongest factor) are
    # found wherever they are: ~7x random here, under 3x with the sampled (local) candidates.
    assert chosen > 4 * random
    j = joined(d)
    dist = haversine_km(j["latitude_s"], j["longitude_s"], j["latitude_p"], j["longitude_p"])
    geo = np.exp(-dist / GEO_SCALE_KM).mean()
    assert geo > 1.5 * np.exp(-random_feasible_distances(d) / GEO_SCALE_KM).mean()


# --------------------------------------------------------------------------- exact vs sampled


def generate_with_truth(monkeypatch, *args, **kwargs):
    """generate(...) plus the hidden truth of schools and partners and the drawn row indices."""
    seen = {}
    real = gen_history.draw_partnerships

    def spy(s, p, n, rng):
        seen["links"] = real(s, p, n, rng)
        seen["s"], seen["p"] = s, p
        return seen["links"]

    monkeypatch.setattr(gen_history, "draw_partnerships", spy)
    d = generate(*args, **kwargs)
    monkeypatch.setattr(gen_history, "draw_partnerships", real)
    return d, seen["s"], seen["p"], seen["links"]


def hidden_terms(s, p, si: np.ndarray, pj: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Feasibility and the (unweighted) hidden-utility terms of pairs, computed independently."""
    dist = haversine_km(s.lat[si], s.lon[si], p.lat[pj], p.lon[pj])
    s_lo, s_hi = s.lo[si].astype(int), s.hi[si].astype(int)
    overlap = np.minimum(s_hi, p.hi[pj]) - np.maximum(s_lo, p.lo[pj]) + 1
    within = dist <= reach_km(p.radius[pj], p.remote[pj])
    feasible = (overlap > 0) & within & ~(p.capacity[pj] == 0)
    cat = np.zeros(len(si))
    for k in range(s.cats.shape[1]):
        c = s.cats[si, k]
        cat += s.cat_w[si, k] * ((c >= 0) & p.offers[pj, np.maximum(c, 0)])
    return feasible, {"categories": cat, "geo": np.exp(-dist / GEO_SCALE_KM),
                      "grades": np.maximum(overlap, 0) / (s_hi - s_lo + 1),
                      "quality": p.quality[pj]}


def test_history_orders_factors_like_the_hidden_utility(monkeypatch):
    """Successful partnerships beat random feasible pairs most on categories, then geo, quality,
    grades (each term's lift times its hidden weight), as the hidden utility says."""
    _, s, p, links = generate_with_truth(monkeypatch, 300, 1000, seed=42)
    ok = links.outcome == 1
    feasible, chosen = hidden_terms(s, p, links.school[ok], links.partner[ok])
    assert feasible.all()
    rng = np.random.default_rng(0)
    si, pj = rng.integers(0, len(s.lat), 200_000), rng.integers(0, len(p.lat), 200_000)
    feasible, random = hidden_terms(s, p, si, pj)
    lift = {k: HIDDEN_UTILITY[k] * (chosen[k].mean() - random[k][feasible].mean()) for k in chosen}
    assert lift["categories"] > 3 * max(lift["geo"], lift["quality"], lift["grades"])
    assert lift["categories"] > lift["geo"] > lift["quality"] > lift["grades"] > 0, lift


def test_each_school_takes_its_best_feasible_partners(monkeypatch):
    """Without noise, a school's partners are exactly its top partners among all feasible ones."""
    monkeypatch.setitem(HIDDEN_UTILITY, "noise", 0.0)
    _, s, p, links = generate_with_truth(monkeypatch, 40, 300, seed=3)
    n_s, n_p = len(s.lat), len(p.lat)
    si, pj = np.repeat(np.arange(n_s), n_p), np.tile(np.arange(n_p), n_s)
    feasible, terms = hidden_terms(s, p, si, pj)
    util = sum(HIDDEN_UTILITY[k] * v for k, v in terms.items()).reshape(n_s, n_p)
    util[~feasible.reshape(n_s, n_p)] = -np.inf
    taken = np.zeros((n_s, n_p), dtype=bool)
    taken[links.school, links.partner] = True
    assert len(links.school) == 400 and np.isfinite(util[taken]).all()
    for i in np.flatnonzero(taken.any(axis=1)):
        assert util[i, taken[i]].min() >= util[i, ~taken[i]].max() - 1e-5  # float32 utility


def beyond_reach(d: Dataset, default: float = DEFAULT_SERVICE_RADIUS_KM) -> tuple[int, int]:
    """Partnerships with an in-person partner that leaves its radius blank: how many, and how
    many of those are farther than ``default`` km."""
    j = joined(d)
    dist = haversine_km(j["latitude_s"], j["longitude_s"], j["latitude_p"], j["longitude_p"])
    blank = ~j["remote"] & j["service_radius_km"].isna()
    return int(blank.sum()), int((blank & (dist > default)).sum())


@pytest.mark.parametrize("exact", [True, False])
def test_blank_radius_serves_within_the_default_radius(monkeypatch, exact):
    """An in-person partner without a radius serves within the model's default radius, on the
    exact path and the sampled one (forced here); a smaller default shrinks its reach too."""
    if not exact:
        monkeypatch.setattr(gen_history, "EXACT_MAX_PAIRS", 0)
    n_blank, far = beyond_reach(generate(300, 1000, seed=42))
    assert n_blank > 50 and far == 0
    monkeypatch.setattr(gen_history, "DEFAULT_SERVICE_RADIUS_KM", 5.0)
    n_blank, far = beyond_reach(generate(300, 1000, seed=42), default=5.0)
    assert n_blank > 0 and far == 0


def test_sampled_candidates_keep_the_guarantees(monkeypatch):
    """The large-data path (forced here) is deterministic, feasible and draws the target count."""
    monkeypatch.setattr(gen_history, "EXACT_MAX_PAIRS", 0)
    a, b = generate(600, 400, seed=11), generate(600, 400, seed=11)
    pd.testing.assert_frame_equal(a.partnerships, b.partnerships)
    assert len(a.partnerships) == 6000
    assert not a.partnerships.duplicated(["school_id", "partner_id"]).any()
    assert_feasible(a)
    chosen, random = category_match_rates(a)
    assert chosen > 2 * random


def test_exact_blocks_of_one_school(monkeypatch, data):
    """Many partners shrink the exact path's blocks (to bound memory); one school a block works."""
    monkeypatch.setattr(gen_history, "_EXACT_CELLS", 1)
    d = generate(600, 400, seed=11)
    assert len(d.partnerships) == len(data.partnerships) == 6000
    assert not d.partnerships.duplicated(["school_id", "partner_id"]).any()
    assert_feasible(d)


def test_hidden_utility_weights():
    w = HIDDEN_UTILITY
    assert {"categories", "geo", "quality", "grades", "noise"} <= set(w)
    assert w["categories"] > w["geo"] > w["quality"] > w["grades"] > 0 and w["noise"] > 0


def test_text_follows_tagged_categories(data):
    """Rows that tag categories mention a phrase of the first one (typos aside)."""
    tax = load_taxonomy()
    s = data.schools[data.schools["need_categories"] != ""]
    hits = [any(ph in text.lower() for ph in tax.category(cats.split(";")[0]).phrases)
            for text, cats in zip(s["needs"], s["need_categories"])]
    assert np.mean(hits) > 0.8


def test_text_has_typos_and_casing_variety():
    s = generate(2000, 10, seed=2).schools["needs"]
    assert (s == s.str.lower()).mean() > 0.02 and (s == s.str.upper()).mean() > 0.005
    assert s.nunique() > 0.99 * len(s)


# --------------------------------------------------------------------------- what fits whom

IN_PERSON_ONLY = ["field_trips", "food_insecurity", "facilities", "equipment_donations",
                  "basic_needs", "physical_health", "sports_recreation", "transportation"]


@pytest.mark.parametrize("slug,grades", [
    ("college_access", "9-12"), ("work_based_learning", "9-12"), ("career_exploration", "6-12"),
    ("early_childhood", "PK-2"), ("substance_use", "5-12"), ("tutoring", "PK-12"),
    ("food_insecurity", "PK-12"),
])
def test_category_grades(slug, grades):
    assert category_grades()[slug] == grades


def test_remote_categories():
    remote = set(remote_categories())
    assert {"tutoring", "mentoring", "funding", "teacher_development", "digital_access",
            "college_access", "mental_health"} <= remote
    assert not remote & set(IN_PERSON_ONLY)


def fits(lo: np.ndarray, hi: np.ndarray, cats: np.ndarray) -> np.ndarray:
    """Per row: every category in ``cats`` (-1 = none) overlaps the grades lo..hi."""
    table = {k: band(v) for k, v in category_grades().items()}
    slugs = load_taxonomy().category_slugs
    c_lo = np.array([table[s][0] for s in slugs])[np.maximum(cats, 0)]
    c_hi = np.array([table[s][1] for s in slugs])[np.maximum(cats, 0)]
    ok = (cats < 0) | ((np.maximum(lo[:, None], c_lo) <= np.minimum(hi[:, None], c_hi)))
    return ok.all(axis=1)


@pytest.fixture(scope="module")
def truth():
    """A larger sample and its hidden truth (schools' needs, partners' offers)."""
    mp = pytest.MonkeyPatch()
    try:
        yield generate_with_truth(mp, 3000, 3000, seed=21)
    finally:
        mp.undo()


def test_needs_fit_the_schools_grades(truth):
    d, s, _, _ = truth
    assert fits(s.lo, s.hi, s.cats).all()
    # Known answers: no college access for an elementary school, no kindergarten readiness
    # for a high school.
    slugs = load_taxonomy().category_slugs
    elementary = s.hi <= GRADE_LEVELS.index("6")
    high = s.lo >= GRADE_LEVELS.index("9")
    assert elementary.sum() > 1000 and high.sum() > 300
    for slug in ("college_access", "work_based_learning", "career_exploration"):
        assert not (s.cats[elementary] == slugs.index(slug)).any(), slug
    assert not (s.cats[high] == slugs.index("early_childhood")).any()
    # The tagged column agrees.
    bands = category_grades()
    for grades, tags in zip(d.schools["grades"], d.schools["need_categories"]):
        lo, hi = band(grades)
        for tag in filter(None, tags.split(";")):
            c_lo, c_hi = band(bands[tag])
            assert max(lo, c_lo) <= min(hi, c_hi), (grades, tag)


@pytest.mark.parametrize("word", ["fafsa", "calculus", "credit recovery", "dual enrollment",
                                  "internship", "sat prep", "dropout"])
def test_elementary_needs_never_mention_high_school_things(truth, word):
    s = truth[0].schools
    elementary = s["grades"].map(lambda g: band(g)[1] <= GRADE_LEVELS.index("5"))
    assert not s.loc[elementary, "needs"].str.lower().str.contains(word).any()
    high = s["grades"].map(lambda g: band(g)[0] >= GRADE_LEVELS.index("9"))
    assert not s.loc[high, "needs"].str.lower().str.contains("phonics|pre-k|kindergarten").any()


def test_offerings_fit_the_partners_grades(truth):
    d, _, p, _ = truth
    assert fits(p.lo, p.hi, p.cats).all()
    # A partner whose main offering is college access serves high-school grades.
    college = p.cats[:, 0] == load_taxonomy().category_slugs.index("college_access")
    assert college.sum() > 20 and (p.hi[college] >= GRADE_LEVELS.index("9")).all()


def test_remote_partners_offer_only_what_can_be_delivered_remotely(truth):
    d, _, p, _ = truth
    slugs = load_taxonomy().category_slugs
    remote_ok = np.isin(slugs, remote_categories())
    assert 0.07 < p.remote.mean() < 0.14
    assert not (p.offers[p.remote] & ~remote_ok).any()
    in_person = [slugs.index(c) for c in IN_PERSON_ONLY]
    assert not p.offers[np.ix_(p.remote, in_person)].any()
    assert p.offers[~p.remote][:, in_person].any()  # in-person partners do offer them
    # The tagged column agrees.
    tags = d.partners.loc[d.partners["remote"], "offering_categories"]
    assert not {t for ts in tags for t in ts.split(";") if t} - set(remote_categories())


def test_delivery_wording_fits_the_partner(truth):
    d, _, p, _ = truth
    text = d.partners["offerings"].str.lower()
    remote = d.partners["remote"].to_numpy()
    online = text.str.contains("sessions are available online|by video|nationwide|"
                               "across the country|schools anywhere")
    assert not online[~remote].any()
    assert online[remote].mean() > 0.5  # remote partners mostly say so
    on_site = text.str.contains("at schools and community sites|schedule a visit|classrooms\\.|"
                                "some sites also|on campus or online|has served")
    assert not on_site[remote].any()
    # "On campus or online" only where the main offering could be delivered remotely.
    remote_ok = np.isin(load_taxonomy().category_slugs, remote_categories())
    hybrid = text.str.contains("on campus or online").to_numpy()
    assert hybrid.sum() > 10 and remote_ok[p.cats[hybrid, 0]].all()


def test_in_person_partners_serve_the_schools_around_them(truth):
    """Most partners are in person, near the schools they could serve; a blank radius is common
    enough that the default radius matters; remote partners have a headquarters in a big city."""
    d, s, p, _ = truth
    blank = np.isnan(p.radius)
    assert 0.09 < blank.mean() < 0.16 and 0.09 < blank[~p.remote].mean() < 0.16
    # Every in-person partner has schools within its reach (they cluster in the same metros).
    step = 50
    near = np.zeros(len(p.lat), dtype=bool)
    for i in range(0, len(s.lat), step):
        dist = haversine_km(s.lat[i:i + step, None], s.lon[i:i + step, None], p.lat, p.lon)
        near |= (dist <= reach_km(p.radius, p.remote)).any(axis=0)
    assert near[~p.remote].mean() > 0.95
    hq = d.partners.loc[d.partners["remote"]]
    metros = {name: (lat, lon) for name, lat, lon, *_ in METROS}
    dist = [haversine_km(lat, lon, *metros[min(metros, key=lambda m: haversine_km(
        lat, lon, *metros[m]))]) for lat, lon in zip(hq["latitude"], hq["longitude"])]
    assert np.max(dist) <= 12.01  # downtown offices


def test_history_only_has_pairs_the_model_allows(truth):
    d, s, p, links = truth
    feasible, _ = hidden_terms(s, p, links.school, links.partner)
    assert len(links.school) == 30_000 and feasible.all()
    assert_feasible(d)


# --------------------------------------------------------------------------- what partners say


@pytest.mark.parametrize("phrase,role", [
    ("food pantry", "offer"), ("one-on-one tutoring", "offer"), ("dropout prevention", "offer"),
    ("grief counseling", "offer"), ("pd workshop", "offer"), ("homeless shelter", "offer"),
    ("failing grades", "problem"), ("chronic absenteeism", "problem"), ("hungry", "problem"),
    ("food insecurity", "problem"), ("budget cuts", "problem"), ("teacher shortage", "problem"),
    ("failing students", "people"), ("beginning teachers", "people"),
    ("english learners", "people"), ("school nurse", "people"),
    ("students with disabilities", "people"),
    ("therapeutic", "other"), ("youth-led", "other"), ("learn to code", "other"),
    ("credit union", "other"), ("laptop", "other"),
])
def test_phrase_role(phrase, role):
    assert gen.phrase_role(phrase) == role


def used_phrases(texts, names, roles):
    """Taxonomy phrases each text uses (longest first), ignoring the partner's own name and the
    templates' own "volunteers"."""
    alts = sorted(roles, key=len, reverse=True)
    rx = re.compile(r"(?<![a-z0-9-])(?:" + "|".join(re.escape(p) for p in alts) + r")(?![a-z0-9-])")
    out = []
    for text, name in zip(texts, names):
        text = re.sub(r"(?:trained|our|staff and) volunteers|volunteers provide", " ",
                      text.lower().replace(name.lower(), " "))
        out.append([m.group(0) for m in rx.finditer(text)])
    return out


@pytest.fixture(scope="module")
def roles():
    return {p: gen.phrase_role(p) for c in load_taxonomy().categories for p in c.phrases}


def test_partners_say_what_they_offer_never_a_problem(truth, roles):
    """Partner texts use only offer phrases ("tutoring", "food pantry"), never a symptom
    ("failing grades", "hungry") or people ("beginning teachers"); schools use all three."""
    d = truth[0]
    p, s = d.partners, d.schools
    text = p["offerings"].str.lower()
    for phrase in ("failing grades", "failing students", "chronic absenteeism", "hungry",
                   "food insecurity", "beginning teachers", "struggling readers",
                   "english learners"):
        assert not text.str.contains(phrase, regex=False).any(), phrase
    used = used_phrases(p["offerings"], p["name"], roles)
    wrong = [u for u in used if any(roles[x] in ("problem", "people") for x in u)]
    assert len(wrong) <= 0.01 * len(p)  # typos can turn a template word into a phrase
    said = [roles[x] for u in used_phrases(s["needs"], s["name"], roles) for x in u]
    assert said.count("problem") > 0.1 * len(s) and said.count("people") > 0.05 * len(s)


def test_school_sentences_fit_what_the_phrase_says(truth):
    """"Our students struggle with" takes a problem, "looking for ... for our students" an offer."""
    needs = truth[0].schools["needs"].str.lower()
    struggle = needs.str.extract(r"our students struggle with ([^.]+)\.")[0].dropna()
    looking = needs.str.extract(r"looking for ([^.]+) for our [^ ]+ students\.")[0].dropna()
    assert len(struggle) > 10 and len(looking) > 50
    known = {p for c in load_taxonomy().categories for p in c.phrases}
    assert all(gen.phrase_role(x) == "problem" for x in struggle if x in known)
    assert all(gen.phrase_role(x) == "offer" for x in looking if x in known)


def main_offering(p) -> np.ndarray:
    return np.array(load_taxonomy().category_slugs)[p.cats[:, 0]]


def test_names_fit_the_main_offering(truth):
    """Known answers: a food bank gives food, a credit union financial literacy, a fire department
    safety, first aid or careers, a tutoring center tutoring; a partner whose main offering is food
    has a food name or is of a type that plausibly gives food."""
    d, _, p, _ = truth
    names, types, main = d.partners["name"], d.partners["partner_type"].to_numpy(), main_offering(p)
    cases = {
        r"Food (?:Bank|Pantry)|Harvest|Grocers|Fresh Market": {"food_insecurity"},
        r"Credit Union|Savings Bank|Community Bank": {"financial_literacy", "entrepreneurship"},
        r"Fire (?:Department|Rescue|District)": {"school_safety", "physical_health",
                                               "career_exploration", "work_based_learning"},
        r"Tutor": {"tutoring", "math", "literacy"},
        r"Software|Technologies|Data Systems": {"computer_science", "digital_access",
                                                "equipment_donations", "career_exploration"},
        r"Dental|Eye Care|Optometry": {"physical_health"},
        r"Symphony|Orchestra": {"music"},
    }
    for pattern, allowed in cases.items():
        named = names.str.contains(pattern).to_numpy()
        assert named.sum() >= 5, pattern
        assert set(main[named]) <= allowed, (pattern, set(main[named]) - allowed)
    food = main == "food_insecurity"
    food_name = names.str.contains(r"Food|Harvest|Grocer|Market|Kitchen|Pantry").to_numpy()
    assert food.sum() > 30
    assert (food_name[food] | np.isin(types[food], ["community", "government", "health"])).all()
    # ... and a foundation gives money (or things, or scholarships), never food or sports.
    foundation = types == "foundation"
    assert set(main[foundation]) <= {"funding", "equipment_donations", "college_access"}


def test_kinds_of_organisation_use_their_own_phrases(truth):
    """A fire department teaches fire safety, CPR or careers, not restorative circles."""
    d, _, p, _ = truth
    fire = d.partners["name"].str.contains("Fire (?:Department|Rescue|District)").to_numpy()
    text = d.partners.loc[fire, "offerings"].str.lower()
    words = r"fire|emergency|cpr|first aid|aed|bleed|injury|drill|safety plan|career|emt|water safety"
    assert fire.sum() >= 10 and text.str.contains(words).mean() > 0.9


def test_teacher_development_goes_to_teachers(truth):
    """Teacher PD, research and grants are never offered "to students and families" or "for K-5
    students"; parent workshops are never "for K-5 students"."""
    d, _, p, _ = truth
    main = main_offering(p)
    text = d.partners["offerings"].str.lower()
    to_students = text.str.contains(r"students and families|for [^ .]+ students\.").to_numpy()
    adults = np.isin(main, ["teacher_development", "research", "funding"])
    assert adults.sum() > 50 and not to_students[adults].any()
    families = main == "family_engagement"
    assert families.sum() > 20
    assert not text[families].str.contains(r"for [^ .]+ students\.").any()
    assert text.str.contains("for teachers and school staff").sum() > 5


# --------------------------------------------------------------------------- other taxonomies


def _taxonomy(n_categories: int, type_names: list[str]) -> Taxonomy:
    cats = tuple(Category(slug=f"cat_{i}", label=f"Category {i}", short=f"thing {i}",
                          description=f"Help of kind {i}.",
                          phrases=(f"thing {i}", f"widget {i} help", f"gizmo {i}"))
                 for i in range(n_categories))
    types = tuple(PartnerType(slug=t, label=t.title(), aliases=()) for t in type_names)
    return Taxonomy(categories=cats, partner_types=types)


@pytest.mark.parametrize("n_cat,types", [(1, ["zebra"]), (3, ["library", "mystery"]),
                                          (70, ["business", "health", "other"])])
def test_any_taxonomy_works(n_cat, types):
    tax = _taxonomy(n_cat, types)
    d = generate(200, 100, seed=1, taxonomy=tax)
    slugs = set(tax.category_slugs)
    for col, frame in (("need_categories", d.schools), ("offering_categories", d.partners)):
        tags = frame.loc[frame[col] != "", col]
        assert all(set(t.split(";")) <= slugs for t in tags)
    assert set(d.partners["partner_type"]) == set(types)
    assert len(d.partnerships) > 0


def test_many_categories_still_match():
    """Past 64 categories (several mask words) category matches still drive partnerships."""
    d = generate(400, 4000, seed=3, taxonomy=_taxonomy(70, ["business", "health"]))
    chosen, random = category_match_rates(d)
    assert chosen > 2.5 * random


# --------------------------------------------------------------------------- writing


def test_write_dataset(tmp_path, data):
    out = tmp_path / "new" / "dir"
    paths = write_dataset(data, out)
    assert set(paths) == {"schools", "partners", "partnerships"}
    assert sorted(os.listdir(out)) == ["partners.csv", "partnerships.csv", "schools.csv"]
    assert all(p.parent == out for p in paths.values())
    back = pd.read_csv(paths["partners"], dtype=str, keep_default_na=False)
    assert list(back.columns) == PARTNER_COLUMNS
    assert set(back["remote"]) == {"true", "false"}
    assert back["capacity"].str.fullmatch(r"\d*").all()  # integers or blank
    assert back["service_radius_km"].str.fullmatch(r"\d*").all()
    schools = pd.read_csv(paths["schools"], dtype=str, keep_default_na=False)
    assert len(schools) == len(data.schools) and list(schools.columns) == SCHOOL_COLUMNS
    # Rewriting replaces the files and leaves nothing else behind.
    write_dataset(generate(5, 5, seed=1), out)
    assert sorted(os.listdir(out)) == ["partners.csv", "partnerships.csv", "schools.csv"]
    assert len(pd.read_csv(out / "schools.csv")) == 5


def test_write_dataset_failure_keeps_old_files(tmp_path, monkeypatch):
    write_dataset(generate(5, 5, seed=1), tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(OSError):
        write_dataset(generate(9, 9, seed=2), tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_written_files_validate(tmp_path, data):
    data_mod = pytest.importorskip("matcher.data", reason="matcher.data (the CSV readers) is not available")
    paths = write_dataset(data, tmp_path)
    schools = data_mod.read_schools(paths["schools"])
    partners = data_mod.read_partners(paths["partners"])
    links = data_mod.read_partnerships(paths["partnerships"])
    assert (len(schools), len(partners), len(links)) == (
        len(data.schools), len(data.partners), len(data.partnerships))


# --------------------------------------------------------------------------- rosters


@needs_roster
def test_real_roster():
    real = pd.read_csv(ROSTER, dtype=str)
    d = generate(300, 200, seed=1, roster=ROSTER)
    s, p = d.schools, d.partners
    assert set(s["name"]) <= set(real["name"])
    assert s["latitude"].between(24, 31.5).all() and s["longitude"].between(-88, -79.5).all()
    # Partners cluster around the roster's schools, not the built-in metros.
    assert p["latitude"].between(23.5, 32).all() and p["longitude"].between(-88.5, -79).all()
    # Grade spans and enrollment come from the roster rows (where reported).
    code = {"PK": "PK", "KG": "K", **{f"{g:02d}": str(g) for g in range(1, 13)}}
    unique = real[~real["name"].duplicated(keep=False)].set_index("name")
    rows = unique.loc[unique.index.intersection(s["name"])]
    got = s.set_index("name").loc[rows.index]
    reported = rows["st_grade"].isin(list(code)) & rows["end_grade"].isin(list(code))
    assert reported.sum() > 100
    want = [code[a] if a == b else f"{code[a]}-{code[b]}"
            for a, b in zip(rows.loc[reported, "st_grade"], rows.loc[reported, "end_grade"])]
    assert list(got.loc[reported, "grades"]) == want
    known = rows["enrollment"].astype(int) > 0
    assert (got.loc[known, "enrollment"] == rows.loc[known, "enrollment"].astype(int)).all()
    assert len(d.partnerships) > 0
    # More schools than roster rows: rows are reused with a suffix.
    big = generate(len(real) + 50, 20, seed=1, roster=ROSTER).schools
    assert len(big) == len(real) + 50 and big["name"].str.endswith(" 2").sum() >= 50


def _write_roster(path: Path, rows: list[dict], drop: str | None = None) -> Path:
    df = pd.DataFrame(rows)
    if drop:
        df = df.drop(columns=drop)
    df.to_csv(path, index=False)
    return path


ROWS = [
    {"ncesid": "1", "name": "ALPHA ELEMENTARY", "city": "GAINESVILLE", "county": "ALACHUA", "state": "FL",
     "zip": "32603", "latitude": "29.65", "longitude": "-82.34", "level": "ELEMENTARY", "enrollment": "500",
     "st_grade": "KG", "end_grade": "05", "districtid": "1"},
    {"ncesid": "2", "name": "BETA HIGH", "city": "OCALA", "county": "MARION", "state": "FL",
     "zip": "34470", "latitude": "29.19", "longitude": "-82.14", "level": "HIGH", "enrollment": "-999",
     "st_grade": "09", "end_grade": "12", "districtid": "2"},
    {"ncesid": "3", "name": "GAMMA SCHOOL", "city": "OCALA", "county": "MARION", "state": "FL",
     "zip": "34470", "latitude": "29.18", "longitude": "-82.13", "level": "NOT REPORTED", "enrollment": "0",
     "st_grade": "M", "end_grade": "M", "districtid": "2"},
]


def test_small_roster_is_reused(tmp_path):
    roster = _write_roster(tmp_path / "r.csv", ROWS)
    s = generate(10, 5, seed=0, roster=roster).schools
    base_names = set(s["name"].str.replace(r" \d+$", "", regex=True))
    assert base_names == {"ALPHA ELEMENTARY", "BETA HIGH", "GAMMA SCHOOL"}
    assert s["name"].is_unique  # reused rows get " 2", " 3", ...
    assert dict(zip(s["name"], s["grades"]))["ALPHA ELEMENTARY"] == "K-5"
    assert dict(zip(s["name"], s["grades"]))["BETA HIGH"] == "9-12"
    assert dict(zip(s["name"], s["grades"]))["GAMMA SCHOOL"] == "K-12"  # not reported
    assert dict(zip(s["name"], s["enrollment"]))["ALPHA ELEMENTARY"] == 500
    assert (s["enrollment"] > 0).all()  # -999 and 0 are filled in
    base = {r["name"]: (float(r["latitude"]), float(r["longitude"])) for r in ROWS}
    for name, lat, lon in zip(s["name"], s["latitude"], s["longitude"]):
        lat0, lon0 = base[re.sub(r" \d+$", "", name)]
        assert haversine_km(lat, lon, lat0, lon0) <= 3.01  # reused rows move a little


def test_missing_roster_raises(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(DataError, match="nope.csv"):
        generate(5, 5, roster=missing)


def test_roster_missing_column_raises(tmp_path):
    roster = _write_roster(tmp_path / "r.csv", ROWS, drop="latitude")
    with pytest.raises(DataError, match=r"r\.csv.*latitude"):
        generate(5, 5, roster=roster)


@pytest.mark.parametrize("content", ["", "name,city\n", "\x00\x01\x02garbage\xff", 'a,"b\n'])
def test_malformed_roster_raises(tmp_path, content):
    path = tmp_path / "bad.csv"
    path.write_bytes(content.encode("latin-1"))
    with pytest.raises(DataError, match="bad.csv"):
        generate(5, 5, roster=path)


def test_roster_bad_value_raises(tmp_path):
    rows = [dict(r) for r in ROWS]
    rows[1]["latitude"] = "north"
    roster = _write_roster(tmp_path / "r.csv", rows)
    with pytest.raises(DataError, match=r"r\.csv: row 3, column latitude"):
        generate(5, 5, roster=roster)


def test_roster_problems_are_listed_cell_by_cell(tmp_path):
    """The roster is read by matcher.data like every input: every bad cell, in row order."""
    rows = [dict(r) for r in ROWS]
    rows[0]["name"] = " "
    rows[1]["longitude"] = "-200"
    rows[2]["latitude"] = rows[2]["longitude"] = ""
    roster = _write_roster(tmp_path / "r.csv", rows)
    with pytest.raises(DataError) as err:
        generate(5, 5, roster=roster)
    assert err.value.problems == [
        f"{roster}: row 2, column name: name is blank (required on every row)",
        f"{roster}: row 3, column longitude: '-200' is out of range (longitude must be between -180 and 180)",
        f"{roster}: row 4, column latitude: latitude is blank (required on every row)",
        f"{roster}: row 4, column longitude: longitude is blank (required on every row)",
    ]


def test_generate_command_reports_a_bad_roster(tmp_path):
    from click.testing import CliRunner

    from matcher.cli import main

    rows = [dict(r) for r in ROWS]
    rows[1]["latitude"] = "north"
    roster = _write_roster(tmp_path / "r.csv", rows)
    result = CliRunner().invoke(main, ["generate", "--schools", "5", "--partners", "5", "--roster", str(roster),
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.stderr == f"Error: {roster}: row 3, column latitude: 'north' is not a number\n"
    assert "Traceback" not in result.output + result.stderr
    assert not (tmp_path / "out").exists()
