"""Explanations in the coordinator's words: one-line reasons, block breakdowns, why-not.

Functions here read a fitted model's data (features, names, texts, the
featuriser's taxonomy) and a :class:`~matcher.scoring.Scorer`; they never
call back into the model.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from matcher.config import BLOCKS, SCORE_DECIMALS
from matcher.features import block_matrices, service_radius
from matcher.grades import format_grades
from matcher.highlight import pair_match
from matcher.matches import Explanation
from matcher.ranking import state_mask

if TYPE_CHECKING:
    from matcher.features import SchoolFeatures
    from matcher.featurize import Featurizer
    from matcher.scoring import Scorer

#: Strength at which a need or an offering counts as present in a category.
MATCH_THRESHOLD = 0.5

#: Plain names of the blocks, for people.
BLOCK_LABELS = {
    "text": "what they offer matches the need",
    "categories": "same kind of help",
    "grades": "grades served",
    "geo": "distance",
    "partner_type": "kind of partner",
}

def matched_categories(need: np.ndarray, offer: np.ndarray, featurizer: Featurizer,
                       threshold: float = MATCH_THRESHOLD) -> list[tuple[str, float, float]]:
    """(slug, need strength, offering strength) of categories both sides have, strongest first."""
    both = np.flatnonzero((need >= threshold) & (offer >= threshold))
    both = both[np.argsort(-(need[both] * offer[both]), kind="stable")]
    return [(featurizer.category_slugs[c], float(need[c]), float(offer[c])) for c in both]


def _join(words: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _shorts(featurizer: Featurizer, cats: list[tuple[str, float, float]], limit: int = 3) -> list[str]:
    pos = {s: i for i, s in enumerate(featurizer.category_slugs)}
    return [featurizer.category_shorts[pos[slug]] for slug, _, _ in cats[:limit]]


def _radius_phrase(model: Any, j: int, scorer: Scorer) -> str:
    r = model.partners_.radius_km[j]
    return f"{r:g} km service area" if not np.isnan(r) else f"no service area given: assumed {scorer.default_radius_km:g} km"


def _distance_phrase(model: Any, j: int, d: float | None, scorer: Scorer, in_person: float) -> str | None:
    """'3.2 km away', '1143.4 km away, serves remotely' or None when the distance is unknown."""
    p = model.partners_
    if d is None:
        return "serves remotely" if p.remote[j] else None
    radius = float(service_radius(p.take(slice(j, j + 1)), scorer.default_radius_km)[0])
    if p.remote[j] and d > radius:
        extra = " (your need is met on site)" if in_person >= 0.5 else ""
        return f"{d:.1f} km away, serves remotely{extra}"
    return f"{d:.1f} km away"


def reasons_for_school(model: Any, s: SchoolFeatures, j: int, cats: list[tuple[str, float, float]],
                       d: float | None, scorer: Scorer) -> list[str]:
    """Reasons a partner (row j) suits a school: needs met, distance, grades, preferred type."""
    f = model.featurizer_
    out = []
    shorts = _shorts(f, cats)
    if shorts:
        out.append(f"meets your need{'s' if len(shorts) > 1 else ''} for {_join(shorts)}")
    else:
        offer = model.partners_.categories[j]
        out.append(f"close in wording to your need (offers {f.category_shorts[int(np.argmax(offer))]})")
    dist = _distance_phrase(model, j, d, scorer, float(s.in_person[0]))
    if dist:
        out.append(dist)
    g = model.partners_.grades[j]
    out.append(f"serves grades {format_grades(int(g))}" if g else "grades not stated")
    pref = int(s.preferred_types[0])
    code = int(model.partners_.type_code[j])
    if pref and code >= 0 and (pref >> code) & 1:
        out.append(f"a {f.partner_type_slugs[code].replace('_', ' ')} partner, as you prefer")
    return out


def reasons_for_partner(model: Any, i: int, j: int, cats: list[tuple[str, float, float]], d: float | None,
                        scorer: Scorer) -> list[str]:
    """Reasons a school (row i) suits a partner (row j): needs it has that the partner offers."""
    f = model.featurizer_
    out = []
    shorts = _shorts(f, cats)
    if shorts:
        out.append(f"needs what you offer for {_join(shorts)}")
    else:
        need = model.schools_.categories[i]
        out.append(f"close in wording to your offering (needs {f.category_shorts[int(np.argmax(need))]})")
    dist = _distance_phrase(model, j, d, scorer, float(model.schools_.in_person[i]))
    if dist:
        out.append(dist)
    g = model.schools_.grades[i]
    out.append(f"grades {format_grades(int(g))}" if g else "grades not stated")
    return out


def exclusions(model: Any, i: int, j: int, d: float | None, scorer: Scorer) -> list[str]:
    """Which hard constraints rule out partner row j for school row i, in words."""
    sg, p = int(model.schools_.grades[i]), model.partners_
    pg = int(p.grades[j])
    out = []
    if sg and pg and not sg & pg:
        out.append(f"grades: the partner serves grades {format_grades(pg)}, the school has grades {format_grades(sg)}")
    radius = float(service_radius(p.take(slice(j, j + 1)), scorer.default_radius_km)[0])
    if d is not None and d > radius and not p.remote[j]:
        out.append(f"distance: {d:.1f} km away, outside the partner's service area ({_radius_phrase(model, j, scorer)})")
    if p.capacity[j] <= 0:
        out.append("capacity: the partner has no capacity left (capacity 0)")
    return out


def _unknown_note(block: str) -> str:
    return {
        "categories": "not scored: no need category found in the school's text",
        "grades": "not scored: grades not given on both sides",
        "geo": "not scored: a location is unknown",
        "partner_type": "not scored: no preferred partner type, or the partner's type is not given",
    }.get(block, "not scored")


def explain_pair(model: Any, i: int, j: int, scorer: Scorer, state=None) -> Explanation:
    """Full explanation for school row i and partner row j under ``scorer`` and outreach ``state``."""
    s = model.schools_.take(slice(i, i + 1))
    score, contrib, dist, ok = scorer.score_matrix(s, model.partners_)
    extra = state_mask(model.index("partner"), model.partners_.capacity, [model.school_ids_[i]], state)
    if extra is not None:
        ok &= extra
    d = None if np.isnan(dist[0, j]) else float(dist[0, j])
    sims, known, _, _ = block_matrices(s, model.partners_.take(slice(j, j + 1)), scorer.block_settings)
    relevance = float(scorer.relevance(sims, known)[0, 0])
    blocks = []
    for b in BLOCKS:
        is_known = bool(known[b][0, 0])
        entry: dict[str, Any] = {
            "block": b,
            "label": BLOCK_LABELS[b],
            "similarity": round(float(sims[b][0, 0]), SCORE_DECIMALS) if is_known else None,
            "weight": round(_effective_weight(scorer, known, b, relevance), SCORE_DECIMALS),
            "contribution": round(float(contrib[b][0, j]), SCORE_DECIMALS),
        }
        if not is_known:
            entry["note"] = _unknown_note(b)
        blocks.append(entry)
    f = model.featurizer_
    cats = matched_categories(model.schools_.categories[i], model.partners_.categories[j], f)
    pos = {slug: k for k, slug in enumerate(f.category_slugs)}
    need_text, offer_text = str(model.school_texts_[i]), str(model.partner_texts_[j])
    text_match = pair_match(model, i, j)
    people = getattr(model, "partner_contacts_", None)
    contact = dict(people[j]) if people is not None and len(people) == len(model.partner_ids_) else {}
    excluded = exclusions(model, i, j, d, scorer)
    if state is not None:
        pair = (model.school_ids_[i], model.partner_ids_[j])
        if pair in state.excluded:
            excluded.append(f"outreach: {state.reasons.get(pair, 'excluded by recorded outreach')}")
        elif not ok[0, j] and not excluded:
            used = state.used_capacity.get(model.partner_ids_[j], 0)
            excluded.append(f"capacity: all {model.partners_.capacity[j]:g} places are taken by current partnerships ({used})")
    rank = None
    if ok[0, j]:
        better = (score[0] > score[0, j]) | ((score[0] == score[0, j]) & (np.arange(score.shape[1]) < j))
        rank = int((better & ok[0]).sum()) + 1
    reasons = reasons_for_school(model, s, j, cats, d, scorer)
    if np.isnan(model.partners_.radius_km[j]) and not model.partners_.remote[j]:
        reasons.append(_radius_phrase(model, j, scorer))
    if relevance < scorer.relevance_gate:
        factor = min(1.0, relevance / scorer.relevance_gate) ** 2
        reasons.append(f"meets the need only partly: grades, distance and type count x{factor:.2f}")
    return Explanation(
        school_id=model.school_ids_[i],
        partner_id=model.partner_ids_[j],
        school_name=model.school_names_[i],
        partner_name=model.partner_names_[j],
        score=float(score[0, j]),
        rank=rank,
        blocks=blocks,
        matched_categories=[
            {"category": slug, "label": f.category_shorts[pos[slug]], "need": round(n, 3), "offering": round(o, 3)}
            for slug, n, o in cats
        ],
        matched_terms=text_match.terms,
        distance_km=d,
        excluded_by=excluded,
        reasons=reasons,
        needs=need_text,
        offerings=offer_text,
        highlights=text_match.spans(),
        contact=contact,
    )


def _effective_weight(scorer: Scorer, known, block: str, relevance: float) -> float:
    """Share of the score a block would carry for this pair (its weight over the known weights, gated)."""
    w = scorer.weights
    total = sum(w[b] * bool(known[b][0, 0]) for b in BLOCKS)
    if not total or not known[block][0, 0]:
        return 0.0
    gate = 1.0 if block in ("text", "categories") else min(1.0, relevance / scorer.relevance_gate) ** 2
    return w[block] * gate / total
