"""What the page and `explain` show as matched between a need and an offering (matcher.highlight).

Matched words leave out stop words and the partner corpus's filler, measured
rather than listed by hand; the spans point at exactly the matched words and
phrases of each text; the explanation (API and CLI) carries both texts, the
spans and the partner's contact details.
"""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from matcher.cli import main
from matcher.highlight import filler_terms, match_texts, shared_terms, stop_words
from matcher.text import stem


def test_filler_is_measured_on_the_partner_corpus():
    # "families" and "welcome" are used by partners of every kind; "mentor" by mentoring partners only.
    kinds = ["Food pantry", "Math tutoring", "Robotics club", "Art classes", "Swim lessons"]
    texts, cats = [], []
    for k, kind in enumerate(kinds * 4):
        extra = " Mentor pairs for teens." if k % 5 == 1 else ""
        texts.append(f"{kind} for families. We welcome new schools.{extra}")
        cats.append(np.eye(5)[k % 5])
    found = filler_terms(texts, np.array(cats), common_share=0.9, min_partners=4)
    assert {"family", "welcom"} <= found
    assert stem("mentor") not in found and stem("pantry") not in found


def test_a_common_word_is_filler_but_not_below_the_minimum_count():
    texts = ["Free tutoring.", "Free meals.", "Free art.", "Chess.", "Swimming.", "Coats.", "Robots.", "Music.",
             "Books.", "Buses."]
    cats = np.eye(10)
    assert filler_terms(texts, cats, common_share=0.25, min_partners=3) == {"free"}
    assert filler_terms(texts, cats, common_share=0.25, min_partners=4) == frozenset()


def test_shared_terms_leave_out_stop_words_filler_and_names():
    need = "Chicago families are asking for math tutors; anything helps."
    offer = "Math tutoring for families in Chicago, anything you like."
    assert shared_terms(need, offer, filler={"family"}) == {"math": "math", "tutor": "tutors"}
    assert "anything" in ENGLISH_STOP_WORDS and "anything" in stop_words()
    assert "fire" in ENGLISH_STOP_WORDS and "fire" not in stop_words()  # a taxonomy word ("fire safety") stays


def test_spans_point_at_the_matched_words_and_phrases(fitted):
    need = "Our kids come to school hungry and need math tutors."
    offer = "We run a food pantry and free math tutoring."
    found = match_texts(need, offer, fitted.need_features(need).categories[0],
                        fitted.featurizer.need(offer).categories[0], fitted.featurizer_)
    need_marked = [need[a:b] for a, b in found.needs]
    offer_marked = [offer[a:b] for a, b in found.offerings]
    assert "math" in need_marked and "tutors" in need_marked and "hungry" in need_marked
    assert "math" in offer_marked and "tutoring" in offer_marked and "food pantry" in offer_marked
    assert found.terms[:2] == ["math", "tutors"]
    for spans in (found.needs, found.offerings):
        assert spans == sorted(spans) and all(a < b for a, b in spans)
        assert all(b1 < a2 for (_, b1), (a2, _) in itertools.pairwise(spans))  # merged, never overlapping


def test_the_model_measures_its_filler_at_fit(fitted, gen_model):
    assert isinstance(fitted.filler_terms_, frozenset)
    assert {"famili", "family"} & set(gen_model.filler_terms_) or "welcom" in gen_model.filler_terms_
    for sid in gen_model.school_ids_[:20]:
        for m in gen_model.recommend(sid, n=3):
            terms = gen_model.explain(sid, m.id).matched_terms
            assert not {stem(t) for t in terms if " " not in t} & gen_model.filler_terms_
            assert not {t.lower() for t in terms} & ENGLISH_STOP_WORDS


def test_explain_json_carries_both_texts_spans_and_contact(model_file):
    result = CliRunner().invoke(main, ["explain", "--model", str(model_file), "--school", "S1", "--partner", "P1",
                                       "--format", "json"])
    assert result.exit_code == 0, result.output
    ex = json.loads(result.stdout)
    assert ex["needs"].startswith("Many of our children come to school hungry")
    assert ex["offerings"].startswith("Weekend food backpacks")
    marked = [ex["offerings"][a:b] for a, b in ex["highlights"]["offerings"]]
    assert "Weekend food" in marked and "groceries" in marked
    assert [ex["needs"][a:b] for a, b in ex["highlights"]["needs"]]
    assert ex["contact"] == {}


def test_api_explain_matches_the_cli(model_file, tmp_path):
    pytest.importorskip("fastapi", reason="the web extra is not installed")
    from fastapi.testclient import TestClient

    from matcher.persistence import load_model
    from matcher.web import create_app

    client = TestClient(create_app(load_model(model_file), model_file, tmp_path / "o.db"), base_url="http://127.0.0.1")
    api = client.get("/api/schools/S1/partners/P1/explain").json()
    cli = json.loads(CliRunner().invoke(main, ["explain", "--model", str(model_file), "--school", "S1", "--partner",
                                               "P1", "--format", "json", "--db", str(tmp_path / "o.db")]).stdout)
    assert {k: api[k] for k in ("needs", "offerings", "highlights", "matched_terms", "contact")} == \
        {k: cli[k] for k in ("needs", "offerings", "highlights", "matched_terms", "contact")}
