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
