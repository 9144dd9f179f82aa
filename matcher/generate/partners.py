"""The partners table: types, kinds of organisation, offerings, names, reach, capacity, text."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from matcher.data import PARTNER_COLUMNS
from matcher.generate.bands import band_text, parse_band
from matcher.generate.dataset import row_ids
from matcher.generate.history import Side
from matcher.generate.organisations import GENERAL_SHARE
from matcher.generate.places import (FIRST_NAMES, SAINTS, SURNAMES, headquarters, locations, place_names,
                                     random_items)
from matcher.generate.roster import Roster
from matcher.generate.templates import (OFFER_CLOSING, OFFER_CONTEXT, OFFER_MAIN, OFFER_SECONDARY, finish_text,
                                        pick_templates, render, sentences)
from matcher.generate.world import World, grade_fit, phrase_pos, row_code, row_grade

_RADII_KM = (5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 80)
_RADII_P = (0.05, 0.14, 0.14, 0.16, 0.14, 0.12, 0.08, 0.07, 0.04, 0.03, 0.03)
#: Share of partners that leave ``service_radius_km`` blank (in person, they then serve within
#: :data:`~matcher.config.DEFAULT_SERVICE_RADIUS_KM`).
BLANK_RADIUS_SHARE = 0.12
#: Shares of partners that give a contact person, an email address and a website.
CONTACT_SHARES = {"contact_name": 0.65, "contact_email": 0.60, "website": 0.80}
#: The web domain's ending by partner type (``.org`` otherwise).
_TLD = {"business": "com", "higher_education": "edu", "government": "gov"}


def make_partners(n: int, world: World, roster: Roster | None, n_metros: int,
                   rng: np.random.Generator) -> tuple[pd.DataFrame, Side]:
    """Partner table and its hidden truth."""
    K = world.n_cat
    tax = world.tax
    kinds = world.kinds
    T = len(tax.partner_types)
    ptype = rng.choice(T, size=n, p=world.type_weight)
    if n >= T:  # every type appears at least once
        ptype[rng.choice(n, size=T, replace=False)] = rng.permutation(T)
    # Remote partners (more often of types whose offers can be delivered remotely) offer only
    # what can be delivered remotely.
    remote = rng.random(n) < world.p_remote[ptype]
    # The kind of organisation (a food bank, a fire department, a credit union) fits the type;
    # remote partners are national kinds.
    kind = np.zeros(n, np.int64)
    for key, idx in _groups(ptype.astype(np.int64) * 2 + remote):
        members = np.flatnonzero(kinds.type_of == key // 2)
        p = kinds.prior[key % 2, members]
        kind[idx] = members[rng.choice(members.size, size=idx.size, p=p / p.sum())]

    # The main offering is what that kind is known for; the grade band fits the main offering
    # (a college-access nonprofit serves high schools); 0-3 extras fit the kind (a few are what
    # anyone may add: volunteers, a career day) and the band.
    n_offers = rng.choice(4, size=n, p=(0.30, 0.35, 0.20, 0.15)) + 1
    cats = np.full((n, 4), -1, dtype=np.int32)
    lo = np.empty(n, np.int8)
    hi = np.empty(n, np.int8)
    bands = sorted({b for prof in world.type_profiles for b, _ in prof.grades}, key=parse_band)
    band_lo, band_hi = (np.array(x, np.int8) for x in zip(*(parse_band(b) for b in bands)))
    band_fit = np.stack([grade_fit(world, int(a), int(b)) for a, b in zip(band_lo, band_hi)])
    w_band = np.zeros((T, len(bands)))
    for t, prof in enumerate(world.type_profiles):
        for b, w in prof.grades:
            w_band[t, bands.index(b)] += w
    for key, idx in _groups(kind * 2 + remote):
        k, r = key // 2, key % 2
        offer_p, main_p = kinds.offer[r, k], kinds.main[r, k]
        cats[idx, 0] = rng.choice(K, size=idx.size, p=main_p)
        # Narrow bands that fit the offering well win over wide ones that barely do.
        w = w_band[kinds.type_of[k], :, None] * band_fit ** 2        # (bands, K)
        w[:, w.sum(axis=0) == 0] = w_band[kinds.type_of[k], :, None]
        cdf = np.cumsum(w / w.sum(axis=0), axis=0)[:, cats[idx, 0]].T
        pick = np.minimum((rng.random(idx.size)[:, None] > cdf).sum(axis=1), len(bands) - 1)
        lo[idx], hi[idx] = band_lo[pick], band_hi[pick]
        for b in np.unique(pick).tolist():
            sub = idx[pick == b]
            extra = np.empty((sub.size, 3), np.int32)
            mixed = rng.random((sub.size, 3)) < GENERAL_SHARE
            for pool, rows in ((offer_p, ~mixed), (world.general[r], mixed)):
                p = pool * band_fit[b]
                p = p if p.sum() > 0 else pool
                extra[rows] = rng.choice(K, size=int(rows.sum()), p=p / p.sum())
            cats[sub, 1:] = extra
    cats[np.arange(4)[None, :] >= n_offers[:, None]] = -1
    for j in range(1, 4):  # drop repeats
        dup = (cats[:, :j] == cats[:, j:j + 1]).any(axis=1)
        cats[dup, j] = -1
    offers = np.zeros((n, K), dtype=bool)
    rows = np.repeat(np.arange(n), 4)
    flat = cats.ravel()
    offers[rows[flat >= 0], flat[flat >= 0]] = True

    # In-person partners sit around the metros they serve; remote ones at a headquarters.
    lat, lon, city = locations(rng, n, roster, 7.0, n_metros)
    at_hq = np.flatnonzero(remote)
    lat[at_hq], lon[at_hq], city[at_hq] = headquarters(rng, at_hq.size, roster)
    radius = np.array(_RADII_KM, dtype=float)[rng.choice(len(_RADII_KM), size=n, p=_RADII_P)]
    radius[rng.random(n) < BLANK_RADIUS_SHARE] = np.nan
    capacity = np.ceil(30 * rng.beta(1.3, 2.5, n)).clip(1, 30)
    u = rng.random(n)
    capacity[u < 0.05] = 0
    capacity[(u >= 0.05) & (u < 0.15)] = np.nan
    quality = rng.beta(2.0, 2.0, n)

    names = _partner_names(world, rng, kind, ptype, city)
    offerings = _partner_text(world, rng, cats, kind, ptype, names, city, lo, hi, remote)

    slug_i = np.where(cats >= 0, cats, K)
    tagged = world.slug[slug_i[:, 0]]
    for j in range(1, 4):
        tagged = tagged + world.slug_sep[slug_i[:, j]]
    tagged[rng.random(n) >= 0.30] = ""

    df = pd.DataFrame({
        "partner_id": row_ids("P", n),
        "name": names,
        "offerings": offerings,
        "partner_type": np.array(tax.partner_type_slugs, dtype=object)[ptype],
        "offering_categories": tagged,
        "grades": band_text(lo, hi),
        "latitude": lat,
        "longitude": lon,
        "service_radius_km": pd.array(np.where(np.isnan(radius), 0, radius).astype(np.int64),
                                      dtype="Int64"),
        "remote": remote,
        "capacity": pd.array(np.nan_to_num(capacity).astype(np.int64), dtype="Int64"),
    }, columns=list(PARTNER_COLUMNS))
    df.loc[np.isnan(radius), "service_radius_km"] = pd.NA
    df.loc[np.isnan(capacity), "capacity"] = pd.NA
    return df, Side(lat=lat, lon=lon, lo=lo, hi=hi, cats=cats, offers=offers, radius=radius,
                     remote=remote, capacity=capacity, quality=quality)


def _groups(key: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(value, row indices) for each distinct value of ``key``, in ascending order of value."""
    order = np.argsort(key, kind="stable")
    values, first = np.unique(key[order], return_index=True)
    bounds = np.append(first, len(key))
    for v, a, b in zip(values.tolist(), bounds[:-1], bounds[1:]):
        yield v, order[a:b]


def _partner_names(world: World, rng: np.random.Generator, kind: np.ndarray, ptype: np.ndarray,
                   city: np.ndarray) -> np.ndarray:
    """Names that fit each partner's kind of organisation, hence its type and main offering
    ("Oakwood Food Pantry", "Garcia & Co. Engineering", "Chicago Fire Department, Station 12")."""
    n = len(kind)
    kinds = world.kinds
    which = kinds.name_start[kind] + (rng.random(n) * kinds.name_count[kind]).astype(np.int64)
    labels = np.array([t.label for t in world.tax.partner_types], dtype=object)
    slots = {
        "place": place_names(rng, n), "city": city, "surname": random_items(rng, SURNAMES, n),
        "surname2": random_items(rng, SURNAMES, n), "saint": random_items(rng, SAINTS, n),
        "label": labels[ptype], "num": rng.integers(1, 120, n).astype(str).astype(object),
    }
    return np.array([s[:-1] for s in render(kinds.names, which, slots)], dtype=object)


def _partner_text(world: World, rng: np.random.Generator, cats: np.ndarray, kind: np.ndarray,
                  ptype: np.ndarray, names: np.ndarray, city: np.ndarray, lo: np.ndarray,
                  hi: np.ndarray, remote: np.ndarray) -> np.ndarray:
    """Free-text offerings: the main offer, other offers, mission/context, a closing line.
    Phrases are offers (never problems or people), preferably ones the kind of organisation
    would use, and fit a grade the partner serves; the wording fits the offering's delivery and
    audience and the partner."""
    n = len(cats)
    mode = 1 + remote.astype(np.int64)

    def lists(j: int) -> np.ndarray:
        c = np.maximum(cats[:, j], 0)
        own = world.kind_list[kind, c]
        return np.where(own >= 0, own, c)

    g0 = row_grade(world, rng, lo, hi, cats[:, 0])
    l0 = lists(0)
    main = phrase_pos(world, l0, g0, mode, rng)
    other = phrase_pos(world, l0, g0, mode, rng, avoid=main)
    g1 = row_grade(world, rng, lo, hi, cats[:, 1])
    l1 = lists(1)
    extra = [phrase_pos(world, l1, g1, mode, rng)]
    extra += [phrase_pos(world, lists(j), row_grade(world, rng, lo, hi, cats[:, j]), mode, rng)
              for j in (2, 3)]
    q_sec = (cats[:, 1] >= 0) & (rng.random(n) < 0.5)
    q = np.where(q_sec, extra[0], other)
    # ... and then the sentence about the second offering words it differently.
    extra[0] = np.where(q_sec, phrase_pos(world, l1, g1, mode, rng, avoid=extra[0]), extra[0])
    nouns = np.array([p.noun or t.label.lower()
                      for p, t in zip(world.type_profiles, world.tax.partner_types)], dtype=object)
    text_, cap = world.text, world.text_cap
    slots = {
        "p": text_[main], "P": cap[main], "q": text_[q],
        "g": band_text(lo, hi), "name": names, "city": city, "label": nouns[ptype],
        "year": rng.integers(1890, 2021, n).astype(str).astype(object),
    }
    runs = world.kinds.sessions[kind]
    helpers = np.array([p.volunteers for p in world.type_profiles])[ptype]
    plain = row_code(world, cats[:, 0], remote, sessions=runs, volunteers=helpers)

    ctx = sentences(rng, OFFER_CONTEXT, plain, 0.6, slots)
    ctx_first = rng.random(n) < 0.5
    text = np.where(ctx_first, ctx, "") + sentences(
        rng, OFFER_MAIN, row_code(world, cats[:, 0], remote, main, sessions=runs,
                                  volunteers=helpers), 1.0, slots)
    for j in (1, 2, 3):
        code = row_code(world, cats[:, j], remote, extra[j - 1], sessions=runs,
                         volunteers=helpers)
        which = np.where(cats[:, j] >= 0, pick_templates(rng, OFFER_SECONDARY, code), -1)
        text = text + render(tuple(t for t, _ in OFFER_SECONDARY), which,
                              {"p": text_[extra[j - 1]], "P": cap[extra[j - 1]]})
    text = text + np.where(ctx_first, "", ctx)
    # Remote partners usually say so in the closing line.
    says_online = remote & (rng.random(n) < 0.6)
    closing = pick_templates(rng, OFFER_CLOSING, plain, 0.3)
    closing[says_online] = pick_templates(
        rng, OFFER_CLOSING, row_code(world, cats[:, 0], remote, say_online=True, sessions=runs,
                                       volunteers=helpers)[says_online])
    text = text + render(tuple(t for t, _ in OFFER_CLOSING), closing, slots)
    return finish_text(rng, text)


def add_contacts(table: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Fill the optional contact columns of a partners table, for the shares in :data:`CONTACT_SHARES`.

    The email is the person's (``first.last@``) or, without a person,
    ``info@`` the partner's domain, which is its name's first words.
    """
    n = len(table)
    given, surname = random_items(rng, FIRST_NAMES, n), random_items(rng, SURNAMES, n)
    has = {c: rng.random(n) < share for c, share in CONTACT_SHARES.items()}
    out = table.copy()
    person, email, site = [""] * n, [""] * n, [""] * n
    for i, (name, ptype) in enumerate(zip(table["name"].tolist(), table["partner_type"].tolist())):
        words = ["".join(ch for ch in w if ch.isalnum()) for w in name.lower().split()]
        domain = "".join([w for w in words if w and w not in ("the", "of", "and", "for")][:3]) or "partner"
        domain = f"{domain}.{_TLD.get(ptype, 'org')}"
        if has["contact_name"][i]:
            person[i] = f"{given[i]} {surname[i]}"
        if has["contact_email"][i]:
            local = ".".join("".join(ch for ch in w if ch.isalnum()) for w in person[i].lower().split()) or "info"
            email[i] = f"{local}@{domain}"
        if has["website"][i]:
            site[i] = f"https://www.{domain}"
    out["contact_name"], out["contact_email"], out["website"] = person, email, site
    return out
