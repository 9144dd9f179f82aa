"""Everything the generator derives from the taxonomy once per call: the world.

Category popularity, the kinds of organisation each partner type covers and
what they offer (:class:`Kinds`), grades, delivery and audience of every
category, and the phrase tables that texts are worded from (:class:`World`);
plus the per-row lookups into them (:func:`row_grade`, :func:`phrase_pos`,
:func:`row_code`, :func:`grade_fit`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from matcher.config import GRADE_LEVELS
from matcher.generate.bands import parse_band
from matcher.generate.fit import (GOODS_WORDS, ON_SITE_PHRASE_WORDS, PHRASE_GRADE_RULES, category_audience,
                                  category_bands, remote_mask)
from matcher.generate.keywords import keyword_mask, term_regex, word_regex
from matcher.generate.organisations import GENERAL_OFFER_WORDS, Profile, profile_for
from matcher.generate.phrases import ONLINE_PHRASE_WORDS, PREPOSITION, display_phrases, phrase_role, role_patterns
from matcher.generate.templates import (BIT_ONLINE_WORD, BIT_PEOPLE, BIT_PLURAL, BIT_PROBLEM, BIT_PROVIDER,
                                        BIT_REMOTE, BIT_REMOTE_OK, BIT_SAY_ONLINE, BIT_SESSION, BIT_STAFF,
                                        BIT_STUDENTS, BIT_TOPIC, BIT_VOLUNTEERS, BIT_YOUNG)
from matcher.taxonomy import Taxonomy

#: Share of partners that are remote (fewer when the taxonomy has few remote-capable categories).
REMOTE_SHARE = 0.10
_MAX_REMOTE = 0.2  # ... and at most this share of any one partner type


# Keywords that make a need more common at some school levels (elementary ... K-12) ...
_LEVEL_NEED_WORDS: tuple[tuple[str, ...], ...] = (
    ("early", "literacy", "reading", "kindergarten", "phonics", "pre-k", "play"),
    ("mentor", "after-school", "after school", "stem", "transition", "bully"),
    ("college", "career", "dual", "internship", "job", "graduation", "credit", "workforce",
     "financial", "scholarship"),
    ("literacy", "reading", "mentor", "after-school", "after school"),
    ("college", "career", "dual", "internship", "graduation", "mentor"),
    (),
)
# ... and keywords of basic needs, more common where many students are low-income.
_POVERTY_NEED_WORDS = ("food", "nutrition", "hunger", "meal", "cloth", "housing", "homeless",
                       "basic need", "uniform", "hygiene", "transport")


def _ranked_fit(tax: Taxonomy, words: tuple[str, ...], avoid: np.ndarray) -> np.ndarray:
    """Per category: 1 for the first category the keywords name, less for each later one, 0 if
    none names it (or it is avoided)."""
    fit = np.zeros(len(tax.categories))
    rank = 0
    for w in words:
        hit = keyword_mask(tax, (w,)) & (fit == 0) & ~avoid
        if hit.any():
            fit[hit] = 1.0 / (1.0 + 0.5 * rank)
            rank += 1
    return fit


@dataclass
class Kinds:
    """Every kind of organisation of every partner type, flattened (one row per kind)."""

    type_of: np.ndarray       # (N,) partner type index
    prior: np.ndarray         # (2, N) P(kind | type, remote): row 0 in person, row 1 remote
    main: np.ndarray          # (2, N, K) main offering distribution, in person / remote
    offer: np.ndarray         # (2, N, K) other offerings' distribution, in person / remote
    names: tuple[str, ...]    # name templates of all kinds, kind after kind
    name_start: np.ndarray    # (N,) first template of each kind
    name_count: np.ndarray    # (N,)
    phrases: tuple[tuple[str, ...], ...]  # phrase keywords of each kind
    sessions: np.ndarray      # (N,) runs sessions (False: gives money or things only)
    p_remote: np.ndarray      # (T,) chance that a partner of each type is remote

    @classmethod
    def build(cls, tax: Taxonomy, profiles: list[Profile], popularity: np.ndarray,
              remote_ok: np.ndarray) -> Kinds:
        """Kinds whose main offering the taxonomy has; a type with none gets one neutral kind
        that may offer anything."""
        K = len(tax.categories)
        weight_by_demand = np.sqrt(popularity)
        type_of, prior, main, offer, names, phrases, national, sessions = ([] for _ in range(8))
        for t, prof in enumerate(profiles):
            avoid = keyword_mask(tax, prof.avoid) if prof.avoid else np.zeros(K, dtype=bool)
            found = 0
            for kind in prof.kinds:
                m = _ranked_fit(tax, kind.main, avoid)
                if not m.any():
                    continue
                a = np.maximum(m, 0.5 * _ranked_fit(tax, kind.also, avoid))
                # Kinds whose offerings are in demand are more common.
                prior.append(kind.weight * float((m * weight_by_demand).sum() / m.sum()))
                main.append(m * weight_by_demand)
                offer.append(a * weight_by_demand)
                type_of.append(t)
                names.append(kind.names)
                phrases.append(kind.phrases)
                national.append(kind.national)
                sessions.append(kind.sessions)
                found += 1
            if not found:
                everything = np.where(avoid, 0.0, weight_by_demand)
                if not everything.any():
                    everything = weight_by_demand.copy()
                prior.append(1.0)
                main.append(everything)
                offer.append(everything)
                type_of.append(t)
                names.append(prof.names)
                phrases.append(())
                national.append(True)
                sessions.append(True)
        type_arr = np.array(type_of, np.int64)
        prior_arr = np.array(prior)
        main_arr = np.array(main)
        offer_arr = np.array(offer)
        main_arr /= main_arr.sum(axis=1, keepdims=True)
        offer_arr /= offer_arr.sum(axis=1, keepdims=True)
        T = len(profiles)
        mass = np.zeros(T)
        np.add.at(mass, type_arr, prior_arr)
        prior_arr /= mass[type_arr]
        # Remote partners are national kinds offering only what can be delivered remotely; types
        # with more of those (funders, tutoring nonprofits) are more often remote.
        remote_mass = (main_arr @ remote_ok.astype(float)) * np.array(national)
        remote_prior = prior_arr * remote_mass
        by_type = np.zeros(T)
        np.add.at(by_type, type_arr, remote_prior)
        remote_prior /= np.where(by_type > 0, by_type, 1.0)[type_arr]

        def remote_only(dist: np.ndarray) -> np.ndarray:
            out = dist * remote_ok
            total = out.sum(axis=1, keepdims=True)
            return np.divide(out, total, out=np.zeros_like(out), where=total > 0)

        starts = np.cumsum([0] + [len(n) for n in names])[:-1]
        return cls(
            type_of=type_arr, prior=np.stack([prior_arr, remote_prior]),
            main=np.stack([main_arr, remote_only(main_arr)]),
            offer=np.stack([offer_arr, remote_only(offer_arr)]),
            names=tuple(t for n in names for t in n), name_start=starts.astype(np.int64),
            name_count=np.array([len(n) for n in names], np.int64), phrases=tuple(phrases),
            sessions=np.array(sessions, dtype=bool), p_remote=by_type ** 2,
        )


@dataclass
class World:
    """Everything derived from the taxonomy once per call."""

    tax: Taxonomy
    n_cat: int
    popularity: np.ndarray             # (K,) demand popularity of each category
    type_profiles: tuple[Profile, ...]
    type_weight: np.ndarray            # (T,) how common each partner type is
    kinds: Kinds                      # kinds of organisation per type, what they offer
    general: np.ndarray                # (2, K) extra offerings anyone may add: in person, remote
    cat_type_cdf: np.ndarray           # (K, T) cumulative P(type | need), for preferred types
    cat_lo: np.ndarray                 # (K,) lowest grade a category fits (GRADE_LEVELS position)
    cat_hi: np.ndarray                 # (K,) highest grade
    remote_ok: np.ndarray              # (K,) can be delivered remotely
    session: np.ndarray                # (K,) delivered as sessions by people (not things/places)
    audience: np.ndarray               # (K,) 0 students, 1 families, 2 staff, 3 the school
    p_remote: np.ndarray               # (T,) chance that a partner of each type is remote
    # Phrase lists by (mode, grade, list): mode 0 = schools (offers, problems, people), 1 =
    # partners in person (offers), 2 = remote partners (offers, no on-site phrases); list c < K is
    # category c, lists from K on are a kind's preferred phrases of a category (kind_list).
    text: np.ndarray                   # phrase per table position, object array
    text_cap: np.ndarray               # same, first letter upper-cased
    text_bits: np.ndarray              # (positions,) what each phrase says (BIT_* flags)
    text_start: np.ndarray             # (3, G, L) first table position of each list
    text_count: np.ndarray             # (3, G, L) list lengths (>= 1)
    kind_list: np.ndarray              # (N kinds, K) list of a kind's phrases of a category
    slug: np.ndarray                   # (K+1,) slugs, "" at index K (= no category)
    slug_sep: np.ndarray               # (K+1,) ";slug", "" at index K
    level_boost: np.ndarray            # (levels, K) multiplicative boost
    poverty_boost: np.ndarray          # (K,)

    @classmethod
    def build(cls, tax: Taxonomy, rng: np.random.Generator) -> World:
        """Derive popularity, kinds, affinities and phrase tables from the taxonomy."""
        K, T = len(tax.categories), len(tax.partner_types)
        # Some needs are far more common than others; the spread is seeded.
        popularity = rng.gamma(1.5, 1.0, K) + 0.05
        popularity /= popularity.sum()

        profiles = [profile_for(t) for t in tax.partner_types]
        type_weight = np.array([p.weight for p in profiles])
        type_weight /= type_weight.sum()
        remote_ok = remote_mask(tax)
        kinds = Kinds.build(tax, profiles, popularity, remote_ok)
        # P(type | need) for schools that state preferred partner types, from what each type's
        # kinds offer.
        type_cat = np.zeros((T, K))
        np.add.at(type_cat, kinds.type_of,
                  kinds.prior[0][:, None] * (kinds.main[0] + kinds.offer[0]) / 2)
        joint = type_cat * type_weight[:, None]
        p_type_given_cat = (joint / np.maximum(joint.sum(axis=0, keepdims=True), 1e-300)).T
        cat_type_cdf = np.cumsum(p_type_given_cat, axis=1)
        cat_type_cdf[:, -1] = 1.0
        general = popularity * np.where(keyword_mask(tax, GENERAL_OFFER_WORDS).any(),
                                        keyword_mask(tax, GENERAL_OFFER_WORDS), 1.0)
        general = np.stack([general, general * remote_ok])

        p_remote = kinds.p_remote
        for _ in range(20):  # scale to REMOTE_SHARE overall, no type above _MAX_REMOTE
            mean = float(type_weight @ p_remote)
            if mean <= 0:
                break
            p_remote = np.minimum(p_remote * (REMOTE_SHARE / mean), _MAX_REMOTE)
        cat_lo, cat_hi = category_bands(tax)
        text, text_cap, bits, text_start, text_count, kind_list = _phrase_tables(
            tax, cat_lo, cat_hi, kinds, kinds.offer[0] > 0)
        slugs = [c.slug for c in tax.categories]
        # "Financial literacy" is not an early-reading need, whatever the word "literacy" says.
        money = keyword_mask(tax, ("financial", "money"))
        level_boost = np.stack([np.where(keyword_mask(tax, w) & ~(money & (lv != 2)), 3.0, 1.0)
                                for lv, w in enumerate(_LEVEL_NEED_WORDS)])
        poverty_boost = np.where(keyword_mask(tax, _POVERTY_NEED_WORDS), 1.0, 0.0)
        return cls(
            tax=tax, n_cat=K, popularity=popularity, type_profiles=tuple(profiles),
            type_weight=type_weight, kinds=kinds, general=general, cat_type_cdf=cat_type_cdf,
            cat_lo=cat_lo, cat_hi=cat_hi, remote_ok=remote_ok,
            session=~keyword_mask(tax, GOODS_WORDS), audience=category_audience(tax), p_remote=p_remote,
            text=text, text_cap=text_cap,
            text_bits=bits, text_start=text_start, text_count=text_count, kind_list=kind_list,
            slug=np.array(slugs + [""], dtype=object),
            slug_sep=np.array([";" + s for s in slugs] + [""], dtype=object),
            level_boost=level_boost, poverty_boost=poverty_boost,
        )


def _phrase_tables(tax: Taxonomy, cat_lo: np.ndarray, cat_hi: np.ndarray, kinds: Kinds,
                   offered: np.ndarray
                   ) -> tuple[np.ndarray, ...]:
    """Phrase lists per (mode, grade, list), flattened: (text, capitalised text, bits, start,
    count, kind_list).

    Lists 0..K-1 are the categories; then one list per (kind, category it offers) whose
    phrases the kind's keywords pick out (a fire department's "fire safety"), falling back to
    the category's list for a grade none of them fits.
    """
    G, K = len(GRADE_LEVELS), len(tax.categories)
    rules = [(parse_band(band), word_regex(words)) for band, words in PHRASE_GRADE_RULES]
    on_site = word_regex(ON_SITE_PHRASE_WORDS)
    topic, provider = role_patterns()[5:]
    plural = re.compile(r"[a-z](?<![su])s$")
    online = term_regex(ONLINE_PHRASE_WORDS)
    cat_phrases, cat_lo_p, cat_hi_p, cat_allowed = [], [], [], []
    for c, cat in enumerate(tax.categories):
        phrases = list(cat.phrases) if cat.phrases else [cat.short.lower()]
        lo = np.full(len(phrases), cat_lo[c])
        hi = np.full(len(phrases), cat_hi[c])
        for i, ph in enumerate(phrases):
            band = next((b for b, rx in rules if rx.search(ph)), None)
            # A phrase keeps within its category's grades (unless that leaves no grade at all).
            if band is not None and max(band[0], cat_lo[c]) <= min(band[1], cat_hi[c]):
                lo[i], hi[i] = max(band[0], cat_lo[c]), min(band[1], cat_hi[c])
        role = np.array([phrase_role(ph) for ph in phrases])
        local = np.array([bool(on_site.search(ph)) for ph in phrases])
        allowed = [role != "other", role == "offer", (role == "offer") & ~local]
        for mode in range(3):
            if not allowed[mode].any():  # an odd taxonomy: any phrase will do
                allowed[mode] = (role == "offer") if (role == "offer").any() else np.ones(
                    len(phrases), dtype=bool)
        cat_phrases.append(phrases)
        cat_lo_p.append(lo)
        cat_hi_p.append(hi)
        cat_allowed.append((allowed, role))

    # Kind lists: a kind's keywords pick phrases of each category it offers.
    kind_list = np.full((len(kinds.phrases), K), -1, np.int64)
    extra: list[tuple[int, np.ndarray]] = []  # (category, phrase mask) per extra list
    for k, words in enumerate(kinds.phrases):
        if not words:
            continue
        hit_rx = re.compile(r"(?<![a-z])(?:" + "|".join(re.escape(w) for w in words) + ")")
        for c in np.flatnonzero(offered[k]).tolist():
            picked = np.array([bool(hit_rx.search(p)) for p in cat_phrases[c]])
            if (picked & cat_allowed[c][0][1]).any():
                kind_list[k, c] = K + len(extra)
                extra.append((c, picked))

    # Each phrase once (display form, what it says), then lists of positions into them.
    offset = np.cumsum([0] + [len(p) for p in cat_phrases])
    flat = [ph for phrases in cat_phrases for ph in phrases]
    uniq = np.array(display_phrases(flat), dtype=object)
    uniq_cap = np.array([p[:1].upper() + p[1:] for p in uniq], dtype=object)
    roles = np.concatenate([cat_allowed[c][1] for c in range(K)])
    uniq_bits = np.array([
        (BIT_PROBLEM * (r == "problem")) | (BIT_PEOPLE * (r == "people"))
        | (BIT_TOPIC * bool(topic.search(PREPOSITION.split(ph)[0]) or topic.search(ph)))
        | (BIT_ONLINE_WORD * bool(online.search(ph)))
        | (BIT_PROVIDER * (r == "people" and bool(provider.search(PREPOSITION.split(ph)[0]))))
        | (BIT_PLURAL * bool(plural.search(PREPOSITION.split(ph)[0])))
        for ph, r in zip(flat, roles)], np.int64)
    L = K + len(extra)
    items: list[np.ndarray] = []
    n_items = 0
    start = np.zeros((3, G, L), np.int64)
    count = np.zeros((3, G, L), np.int64)
    for lst in range(L):
        hits: np.ndarray | None = None
        if lst < K:
            c = lst
        else:
            c, hits = extra[lst - K]
        lo, hi = cat_lo_p[c], cat_hi_p[c]
        allowed = cat_allowed[c][0]
        for mode in range(3):
            ok = allowed[mode] if hits is None else allowed[mode] & hits
            for g in range(G):
                fits = ok & (lo <= g) & (g <= hi)
                if hits is not None and not fits.any():
                    start[mode, g, lst], count[mode, g, lst] = start[mode, g, c], count[mode, g, c]
                    continue
                if not fits.any():
                    fits = ok if ok.any() else allowed[mode]
                pick = offset[c] + np.flatnonzero(fits)
                start[mode, g, lst], count[mode, g, lst] = n_items, len(pick)
                items.append(pick)
                n_items += len(pick)
    idx = np.concatenate(items) if items else np.zeros(0, np.int64)
    return uniq[idx], uniq_cap[idx], uniq_bits[idx], start, count, kind_list


def row_grade(world: World, rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray,
               cats: np.ndarray) -> np.ndarray:
    """A random grade each row serves that its category fits (any of the row's if none does)."""
    c = np.maximum(cats, 0)
    a = np.maximum(lo, world.cat_lo[c]).astype(np.int64)
    b = np.minimum(hi, world.cat_hi[c]).astype(np.int64)
    none = (a > b) | (cats < 0)
    a = np.where(none, lo, a)
    b = np.where(none, hi, b)
    return a + (rng.random(len(c)) * (b - a + 1)).astype(np.int64)


def phrase_pos(world: World, lists: np.ndarray, grade: np.ndarray, mode: np.ndarray | int,
                rng: np.random.Generator, avoid: np.ndarray | None = None) -> np.ndarray:
    """Random phrase (position in ``world.text``) of each row's phrase list (a category, or a kind's
    phrases of it) fitting the row's grade and mode; differs from ``avoid`` (same list, grade and
    mode) when possible."""
    start = world.text_start[mode, grade, lists]
    count = world.text_count[mode, grade, lists]
    if avoid is None:
        off = (rng.random(len(lists)) * count).astype(np.int64)
    else:
        # Step 1..count-1 past the avoided phrase, so two phrases of one list differ.
        prev = avoid - start
        step = 1 + (rng.random(len(lists)) * np.maximum(count - 1, 1)).astype(np.int64)
        off = np.where(count > 1, (prev + step) % count, 0)
    return start + off


def row_code(world: World, cats: np.ndarray, remote: np.ndarray | bool = False,
              phrase: np.ndarray | None = None, say_online: np.ndarray | bool = False,
              sessions: np.ndarray | bool = True,
              volunteers: np.ndarray | bool = True) -> np.ndarray:
    """Bit flags of each row (see :data:`BIT_SESSION` ...): delivery and audience of its
    category (sessions only where the partner runs any), whether the partner is remote, and
    what the phrase in the sentence says."""
    c = np.maximum(cats, 0)
    aud = world.audience[c]
    code = ((world.session[c] & sessions) * BIT_SESSION + world.remote_ok[c] * BIT_REMOTE_OK
            + (aud == 0) * BIT_STUDENTS + (aud <= 1) * BIT_YOUNG + (aud == 2) * BIT_STAFF
            + np.asarray(remote, dtype=np.int64) * BIT_REMOTE
            + np.asarray(say_online, dtype=np.int64) * BIT_SAY_ONLINE
            + np.asarray(volunteers, dtype=np.int64) * BIT_VOLUNTEERS).astype(np.int64)
    if phrase is not None:
        code |= world.text_bits[phrase]
    return code


def grade_fit(world: World, lo: int, hi: int) -> np.ndarray:
    """Per category: the share of grades lo..hi it fits (0 = none)."""
    overlap = np.minimum(hi, world.cat_hi) - np.maximum(lo, world.cat_lo) + 1
    return np.maximum(overlap, 0) / (hi - lo + 1)
