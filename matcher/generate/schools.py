"""The schools table: levels, grades, names, enrollment, needs and their free text."""
from __future__ import annotations

import numpy as np
import pandas as pd

from matcher.config import GRADE_LEVELS
from matcher.data import SCHOOL_COLUMNS
from matcher.generate.bands import band_text, draw_bands
from matcher.generate.dataset import row_ids
from matcher.generate.history import DOMINANT_NEED_WEIGHT, Side
from matcher.generate.places import locations, place_names, random_items, scatter
from matcher.generate.roster import Roster
from matcher.generate.templates import (NEED_CLOSING, NEED_CONTEXT, NEED_MAIN, NEED_MORE, NEED_SECONDARY,
                                        choose, finish_text, pick_templates, render, sentences)
from matcher.generate.world import World, grade_fit, phrase_pos, row_code, row_grade

_LEVEL_WORDS = ("elementary", "middle school", "high school", "K-8", "secondary", "K-12")
# Synthetic school mix; K-12 schools only come from a roster.
_LEVEL_MIX = (0.55, 0.20, 0.17, 0.05, 0.03, 0.0)
_LEVEL_GRADES: tuple[tuple[tuple[str, float], ...], ...] = (
    (("K-5", 0.55), ("PK-5", 0.25), ("K-6", 0.07), ("K-4", 0.05), ("PK-4", 0.03),
     ("PK-6", 0.03), ("K-2", 0.01), ("3-5", 0.01)),
    (("6-8", 0.80), ("7-8", 0.08), ("5-8", 0.07), ("7-9", 0.05)),
    (("9-12", 0.93), ("10-12", 0.04), ("8-12", 0.03)),
    (("K-8", 0.70), ("PK-8", 0.30)),
    (("6-12", 0.85), ("7-12", 0.15)),
    (("K-12", 0.70), ("PK-12", 0.30)),
)
_LEVEL_SUFFIXES: tuple[tuple[str, ...], ...] = (
    ("Elementary School",) * 5 + ("Elementary",) * 3
    + ("Primary School", "Academy", "Community School", "Magnet Elementary"),
    ("Middle School",) * 6 + ("Junior High School", "Academy", "STEM Academy", "Middle Academy"),
    ("High School",) * 7 + ("Senior High School", "Academy", "Preparatory Academy",
                            "Early College High School", "Career and Technical High School"),
    ("K-8", "K-8 School", "K-8 Academy", "Academy", "Charter School"),
    ("Academy", "Secondary School", "Preparatory School", "Collegiate Academy", "6-12 School"),
    ("Academy", "School", "Charter School", "Community School"),
)
# (median enrollment, log-sd) per level
_LEVEL_ENROLLMENT = ((500, 0.35), (750, 0.35), (1400, 0.45), (650, 0.40), (500, 0.50), (600, 0.50))


def _level_of(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """School level (index into _LEVEL_WORDS) implied by a grade band."""
    return np.select(
        [hi <= 7, lo >= 9, (lo >= 5) & (hi <= 10), (lo <= 4) & (hi <= 10), lo >= 5],
        [0, 2, 1, 3, 4], default=5).astype(np.int8)


def make_schools(n: int, world: World, roster: Roster | None, n_metros: int,
                  rng: np.random.Generator) -> tuple[pd.DataFrame, Side]:
    """School table and its hidden truth."""
    K = world.n_cat
    if roster is None:
        level = rng.choice(len(_LEVEL_MIX), size=n, p=_LEVEL_MIX).astype(np.int8)
        lo = np.empty(n, np.int8)
        hi = np.empty(n, np.int8)
        for lv in range(len(_LEVEL_MIX)):
            idx = np.flatnonzero(level == lv)
            lo[idx], hi[idx] = draw_bands(rng, _LEVEL_GRADES[lv], idx.size)
        lat, lon, city = locations(rng, n, None, 0.0, n_metros)
        names = np.empty(n, dtype=object)
        for lv in range(len(_LEVEL_MIX)):
            idx = np.flatnonzero(level == lv)
            names[idx] = (place_names(rng, idx.size, p_person=0.4) + " "
                          + random_items(rng, _LEVEL_SUFFIXES[lv], idx.size))
        real_enroll = np.full(n, np.nan)
    else:
        R = len(roster.lat)
        # Every roster row once (random order) before any is reused.
        rows = np.concatenate([rng.permutation(R) for _ in range(-(-n // R))])[:n] if n else \
            np.empty(0, np.int64)
        cycle = np.arange(n) // R
        names = roster.name[rows].copy()
        again = np.flatnonzero(cycle > 0)
        names[again] = names[again] + " " + (cycle[again] + 1).astype(str).astype(object)
        lat, lon = roster.lat[rows].copy(), roster.lon[rows].copy()
        if again.size:  # reused rows move up to a couple of km, so they are distinct schools
            lat[again], lon[again] = scatter(rng, lat[again], lon[again],
                                              np.full(again.size, 1.0), 3.0)
        lat, lon = np.round(lat, 5), np.round(lon, 5)
        city = roster.city[rows]
        lo, hi = roster.lo[rows], roster.hi[rows]
        level = _level_of(lo, hi)
        real_enroll = roster.enrollment[rows]

    med = np.array([e[0] for e in _LEVEL_ENROLLMENT])[level]
    sd = np.array([e[1] for e in _LEVEL_ENROLLMENT])[level]
    enroll = np.round(med * np.exp(rng.normal(size=n) * sd)).astype(np.int64)
    enroll = np.where(np.isnan(real_enroll), enroll, np.nan_to_num(real_enroll)).astype(np.int64)
    frl_mean = rng.uniform(0.3, 0.7, n)  # neighbourhoods differ a lot
    frl = np.round(rng.beta(4 * frl_mean, 4 * (1 - frl_mean)) * 100, 1)

    # Needs: a dominant one plus 0-2 more; common needs depend on level and poverty, and a
    # need is drawn in proportion to the share of the school's grades its category fits.
    cats = np.full((n, 3), -1, dtype=np.int32)
    poor = frl >= 60
    G = len(GRADE_LEVELS)
    key = ((level.astype(np.int64) * G + lo) * G + hi) * 2 + poor
    groups, inverse = np.unique(key, return_inverse=True)
    inverse = inverse.ravel()
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(groups) + 1))
    for g, k in enumerate(groups.tolist()):
        idx = order[bounds[g]:bounds[g + 1]]
        is_poor, g_hi, g_lo, lv = k % 2, k // 2 % G, k // 2 // G % G, k // 2 // G // G
        fit = grade_fit(world, g_lo, g_hi)
        p = (world.popularity * world.level_boost[lv] * (1 + 2.0 * is_poor * world.poverty_boost)
             * fit)
        if p.sum() <= 0:  # no category fits these grades (an odd taxonomy): any will do
            p = world.popularity.copy()
        cats[idx] = rng.choice(K, size=(idx.size, 3), p=p / p.sum())
    n_needs = rng.choice(3, size=n, p=(0.35, 0.40, 0.25)) + 1
    cats[n_needs < 2, 1] = -1
    cats[n_needs < 3, 2] = -1
    cats[cats[:, 1] == cats[:, 0], 1] = -1
    cats[(cats[:, 2] == cats[:, 0]) | (cats[:, 2] == cats[:, 1]), 2] = -1
    present = cats >= 0
    n_extra = present[:, 1:].sum(axis=1)
    cat_w = np.zeros((n, 3))
    cat_w[:, 0] = np.where(n_extra > 0, DOMINANT_NEED_WEIGHT, 1.0)
    cat_w[:, 1:] = np.where(present[:, 1:], (1 - DOMINANT_NEED_WEIGHT)
                            / np.maximum(n_extra, 1)[:, None], 0.0)

    grades = band_text(lo, hi)
    needs = _school_text(world, rng, cats, lo, hi, names, city, grades, level, enroll, frl)

    slug_i = np.where(present, cats, K)
    tagged = world.slug[slug_i[:, 0]] + world.slug_sep[slug_i[:, 1]] + world.slug_sep[slug_i[:, 2]]
    tagged[rng.random(n) >= 0.30] = ""

    # ~25% state preferred partner types, usually fitting their dominant need.
    T = len(world.tax.partner_types)
    types = np.array(world.tax.partner_type_slugs, dtype=object)
    cdf = world.cat_type_cdf[np.maximum(cats[:, 0], 0)]
    t1 = np.minimum((rng.random(n)[:, None] > cdf).sum(axis=1), T - 1)
    t2 = (t1 + rng.integers(1, max(T, 2), n)) % T
    preferred = types[t1].copy()
    two = (rng.random(n) < 0.3) & (t2 != t1)
    preferred[two] = preferred[two] + ";" + types[t2[two]]
    preferred[rng.random(n) >= 0.25] = ""

    df = pd.DataFrame({
        "school_id": row_ids("S", n),
        "name": names,
        "needs": needs,
        "need_categories": tagged,
        "grades": grades,
        "latitude": lat,
        "longitude": lon,
        "enrollment": enroll,
        "frl_pct": frl,
        "preferred_partner_types": preferred,
    }, columns=list(SCHOOL_COLUMNS))
    return df, Side(lat=lat, lon=lon, lo=lo, hi=hi, cats=cats, cat_w=cat_w)


def _school_text(world: World, rng: np.random.Generator, cats: np.ndarray, lo: np.ndarray,
                 hi: np.ndarray, names: np.ndarray, city: np.ndarray, grades: np.ndarray,
                 level: np.ndarray, enroll: np.ndarray, frl: np.ndarray) -> np.ndarray:
    """Free-text needs: context, the dominant need (once or twice), other needs, a closing line.
    Each need is worded with a phrase that fits one of the school's grades (an offer, a problem
    or the people concerned), in a sentence that fits what the phrase says."""
    n = len(cats)
    own = [np.maximum(cats[:, j], 0) for j in range(3)]
    g0 = row_grade(world, rng, lo, hi, cats[:, 0])
    main = phrase_pos(world, own[0], g0, 0, rng)
    other = phrase_pos(world, own[0], g0, 0, rng, avoid=main)
    grade = [g0] + [row_grade(world, rng, lo, hi, cats[:, j]) for j in (1, 2)]
    need = [None] + [phrase_pos(world, own[j], grade[j], 0, rng) for j in (1, 2)]
    # {q} is a second need when there is one (half the time), else another phrase of the first.
    sec = cats[:, 1] >= 0
    q_sec = sec & (rng.random(n) < 0.5)
    q = np.where(q_sec, need[1], other)
    # ... and then the sentence about the second need words it differently.
    need[1] = np.where(q_sec, phrase_pos(world, own[1], grade[1], 0, rng, avoid=need[1]),
                       need[1])
    text_, cap = world.text, world.text_cap
    slots = {
        "p": text_[main], "P": cap[main], "q": text_[q],
        "g": grades, "lvl": np.array(_LEVEL_WORDS, dtype=object)[level], "name": names,
        "city": city, "n": enroll.astype(str).astype(object),
        "frl": np.round(frl).astype(np.int64).astype(str).astype(object),
    }

    # Context goes first or last, never both.
    ctx = render(NEED_CONTEXT, choose(rng, len(NEED_CONTEXT), n, 0.6), slots)
    ctx_last = rng.random(n) < 0.3
    text = np.where(ctx_last, "", ctx) + sentences(
        rng, NEED_MAIN, row_code(world, cats[:, 0], phrase=main), 1.0, slots)
    text = text + sentences(rng, NEED_MORE, row_code(world, cats[:, 0], phrase=other), 0.35,
                            {"p": text_[other], "P": cap[other]})
    for j in (1, 2):
        code = row_code(world, cats[:, j], phrase=need[j])
        which = np.where(cats[:, j] >= 0, pick_templates(rng, NEED_SECONDARY, code), -1)
        text = text + render(tuple(t for t, _ in NEED_SECONDARY), which,
                              {"p": text_[need[j]], "P": cap[need[j]]})
    text = text + np.where(ctx_last, ctx, "")
    # "We can host sessions" only where the dominant need is something run in sessions.
    text = text + sentences(rng, NEED_CLOSING, row_code(world, cats[:, 0]), 0.3, slots)
    return finish_text(rng, text)
