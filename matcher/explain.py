"""Explanations in the coordinator's words: one-line reasons, block breakdowns, why-not."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from matcher import config
from matcher.features import distance_ok, grades_ok
from matcher.grades import format_grades
from matcher.text import content_stems
from matcher.weights import GEO_LENGTH, block_total

if TYPE_CHECKING:
    from matcher.features import SchoolFeatures
    from matcher.model import Explanation, PartnerMatcher


def _join(words: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _distance_phrase(model: PartnerMatcher, j: int, d: float | None) -> str | None:
    """'3.2 km away', 'serves remotely' or None when the distance is unknown."""
    if d is None:
        return "serves remotely" if model.partners_.remote[j] else None
    if model.partners_.remote[j] and d > model.partners_.radius_km[j]:
        return f"{d:.1f} km away, serves remotely"
    return f"{d:.1f} km away"


def _shorts(model: PartnerMatcher, cats: list[tuple[str, float, float]], limit: int = 3) -> list[str]:
    pos = {s: i for i, s in enumerate(model.category_slugs_)}
    return [model.category_shorts_[pos[slug]] for slug, _, _ in cats[:limit]]


def reasons_for_school(
    model: PartnerMatcher, s: SchoolFeatures, j: int, cats: list[tuple[str, float, float]], d: float | None
) -> list[str]:
    """Reasons a partner (row j) suits a school: needs met, distance, grades, preferred type."""
    out = []
    shorts = _shorts(model, cats)
    if shorts:
        out.append(f"meets your need{'s' if len(shorts) > 1 else ''} for {_join(shorts)}")
    else:
        offer = model.partners_.categories[j]
        out.append(f"close in wording to your need (offers {model.category_shorts_[int(np.argmax(offer))]})")
    dist = _distance_phrase(model, j, d)
    if dist:
        out.append(dist)
    g = model.partners_.grades[j]
    out.append(f"serves grades {format_grades(int(g))}" if g else "grades not stated")
    pref = int(s.preferred_types[0])
    code = int(model.partners_.type_code[j])
    if pref and code >= 0 and (pref >> code) & 1:
        out.append(f"a {model.partner_type_slugs_[code].replace('_', ' ')} partner, as you prefer")
    return out


def reasons_for_partner(
    model: PartnerMatcher, i: int, j: int, cats: list[tuple[str, float, float]], d: float | None
) -> list[str]:
    """Reasons a school (row i) suits a partner (row j): needs it has that the partner offers."""
    out = []
    shorts = _shorts(model, cats)
    if shorts:
        out.append(f"needs what you offer for {_join(shorts)}")
    else:
        need = model.schools_.categories[i]
        out.append(f"close in wording to your offering (needs {model.category_shorts_[int(np.argmax(need))]})")
    dist = _distance_phrase(model, j, d)
    if dist:
        out.append(dist)
    g = model.schools_.grades[i]
    out.append(f"grades {format_grades(int(g))}" if g else "grades not stated")
    return out


def exclusions(model: PartnerMatcher, i: int, j: int, d: float | None) -> list[str]:
    """Which hard constraints rule out partner row j for school row i, in words."""
    s = model.schools_.take(slice(i, i + 1))
    p = model.partners_.take(slice(j, j + 1))
    dist = np.array([[np.nan if d is None else d]])
    out = []
    if not grades_ok(s, p)[0, 0]:
        out.append(
            f"grades: the partner serves grades {format_grades(int(p.grades[0]))}, "
            f"the school has grades {format_grades(int(s.grades[0]))}"
        )
    if not distance_ok(dist, p)[0, 0]:
        out.append(f"distance: {d:.1f} km away, outside the partner's {p.radius_km[0]:g} km service radius")
    if p.capacity[0] <= 0:
        out.append("capacity: the partner has no capacity left (capacity 0; use --include-full to see it anyway)")
    return out


def explain_pair(model: PartnerMatcher, i: int, j: int, weights: dict[str, float], state=None) -> Explanation:
    """Full explanation for school row i and partner row j under ``weights`` and outreach ``state``."""
    from matcher.ranking import state_mask

    from matcher.features import block_similarities
    from matcher.model import Explanation

    s = model.schools_.take(slice(i, i + 1))
    score, contrib, dist = model.score_pairs(s, model.partners_, weights)
    ok = model.allowed(s, model.partners_, dist)
    extra = state_mask(model, [model.school_ids_[i]], state)
    if extra is not None:
        ok &= extra
    total = block_total(weights)
    d = None if np.isnan(dist[0, j]) else float(dist[0, j])
    sims, _ = block_similarities(s, model.partners_.take(slice(j, j + 1)), weights[GEO_LENGTH])
    blocks = [
        {
            "block": b,
            "similarity": round(float(sims[b][0, 0]), 6),
            "weight": round(weights[b] / total, 6),
            "contribution": round(float(contrib[b][0, j]), 6),
        }
        for b in config.BLOCKS
    ]
    cats = model.matched_categories(i, j)
    pos = {slug: k for k, slug in enumerate(model.category_slugs_)}
    need_terms = content_stems(str(model.school_texts_[i]))
    offer_terms = content_stems(str(model.partner_texts_[j]))
    terms = [need_terms[k] for k in need_terms if k in offer_terms]
    phrases_need = {p for c, p in model.tagger_.index.find(str(model.school_texts_[i]))}
    phrases_offer = {p for c, p in model.tagger_.index.find(str(model.partner_texts_[j]))}
    terms += sorted(phrases_need & phrases_offer - set(terms))
    excluded = exclusions(model, i, j, d)
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
    return Explanation(
        school_id=model.school_ids_[i],
        partner_id=model.partner_ids_[j],
        school_name=model.school_names_[i],
        partner_name=model.partner_names_[j],
        score=float(score[0, j]),
        rank=rank,
        blocks=blocks,
        matched_categories=[
            {"category": slug, "label": model.category_shorts_[pos[slug]], "need": round(n, 3), "offering": round(o, 3)}
            for slug, n, o in cats
        ],
        matched_terms=terms,
        distance_km=d,
        excluded_by=excluded,
        reasons=reasons_for_school(model, s, j, cats, d),
    )

