import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from matcher.ranking import top_k


def test_ties_go_to_the_lower_row():
    scores = np.array([0.5, 0.7, 0.7, 0.7, 0.1])
    assert top_k(scores, np.ones(5, bool), 2).tolist() == [1, 2]
    assert top_k(scores, np.ones(5, bool), 4).tolist() == [1, 2, 3, 0]


def test_more_than_there_are_returns_all_allowed():
    scores = np.array([0.3, 0.2, 0.9])
    allowed = np.array([True, False, True])
    assert top_k(scores, allowed, 10).tolist() == [2, 0]
    assert top_k(scores, np.zeros(3, bool), 3).tolist() == []


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]), min_size=1, max_size=60),
    st.integers(1, 70),
    st.integers(0, 2**32 - 1),
)
def test_matches_a_full_stable_sort(values, k, seed):
    scores = np.array(values)
    allowed = np.random.default_rng(seed).random(len(values)) < 0.8
    idx = np.flatnonzero(allowed)
    expected = sorted(idx, key=lambda i: (-scores[i], i))[:k]
    assert top_k(scores, allowed, k).tolist() == expected


def _spread(model, seed=3):
    """The model with its partners spread over the country (30 km service areas), a third of them remote: most
    partners are out of a school's reach, so ranking scores a subset."""
    import copy
    from dataclasses import replace

    rng = np.random.default_rng(seed)
    p = model.partners_
    m = len(p)
    spread = copy.copy(model)
    spread.partners_ = replace(p, lat=rng.uniform(25, 49, m), lon=rng.uniform(-124, -67, m), radius_km=np.full(m, 30.0),
                               remote=rng.random(m) < 1 / 3)
    return spread


def _rankings(model, k=10):
    from matcher.ranking import rank_chunk

    scorer = model.scorer(None)
    singles = [rank_chunk(scorer, model.schools_.take([i]), model.partners_, k)[0] for i in range(len(model.schools_))]
    return [(c.tolist(), s.tolist(), {b: v.tolist() for b, v in x.items()}, d.tolist())
            for c, s, x, d in singles + rank_chunk(scorer, model.schools_, model.partners_, k)]


def test_remote_partners_scored_from_their_own_copy_rank_exactly_as_gathered(gen_model, monkeypatch):
    """The contiguous copy of remote partners changes no score, rank or tie; after live changes it is carried
    over (same remote partners) or made again (a remote partner changed), and still ranks exactly the same."""
    from matcher import ranking
    from matcher.catalog import CatalogRow
    from matcher.live import apply_rows

    model = _spread(gen_model)
    monkeypatch.setattr(ranking, "REMOTE_COPY_MIN", 10**9)
    gathered = _rankings(model)
    monkeypatch.setattr(ranking, "REMOTE_COPY_MIN", 1)
    assert _rankings(model) == gathered
    copied = ranking.remote_partners(model.partners_)
    assert copied[0].tolist() == np.flatnonzero(model.partners_.remote).tolist()

    school = model.schools_.take([0])
    local = {"name": "Next door", "offerings": str(model.school_texts_[0]), "latitude": str(school.lat[0]),
             "longitude": str(school.lon[0]), "service_radius_km": "30"}
    first_id = str(model.partner_ids_[0])
    changes = [CatalogRow("partner", "A-local", local, True, 1),  # sorts before every id: every row moves
               CatalogRow("partner", str(model.partner_ids_[np.flatnonzero(~model.partners_.remote)[0]]), local, True, 1)]
    moved = apply_rows(model, changes)
    assert ranking.remote_partners(moved.partners_)[1] is copied[1]  # carried over, rows moved
    with_copy = _rankings(moved)
    monkeypatch.setattr(ranking, "REMOTE_COPY_MIN", 10**9)
    assert with_copy == _rankings(moved)
    monkeypatch.setattr(ranking, "REMOTE_COPY_MIN", 1)
    assert "A-local" in [str(i) for i in moved.partner_ids_] and first_id in [str(i) for i in moved.partner_ids_]

    remote = apply_rows(moved, [CatalogRow("partner", "B-remote", {**local, "remote": "true"}, True, 2)])
    assert ranking.remote_partners(remote.partners_)[1] is not copied[1]  # a new remote partner: a new copy
    with_copy = _rankings(remote)
    monkeypatch.setattr(ranking, "REMOTE_COPY_MIN", 10**9)
    assert with_copy == _rankings(remote)
