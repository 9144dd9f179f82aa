"""Sentence templates for needs and offerings, which rows each fits, and how text is finished.

Each template carries flags (:func:`_flag_fits`); a row's bit code
(:func:`matcher.generate.world.row_code`) says which templates fit it.
:func:`render` fills templates from per-row slot arrays, vectorised;
:func:`finish_text` adds the typos and odd casing people write with.
"""
from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

# ---------------------------------------------------------------------------
# Text templates ({P} = capitalised phrase) and what each needs of its row
# ---------------------------------------------------------------------------
# A row (a school's need, a partner's offering) is described by bit flags: how the offering is
# delivered, who it is for, and what the phrase in the sentence says. A template lists flags
# (_TEMPLATE_FLAGS) and is used only for rows they fit:
#   session / goods - offerings run as sessions by people / things, money or places
#   local           - says it happens on site: never for remote partners
#   online          - says it happens online or anywhere: remote partners only
#   hybrid          - "on campus or online": in-person partners whose offering could be remote
#   students        - names students as who gets it (not teacher PD, research, parent workshops)
#   young           - names students or families (not teacher PD, research, funding)
#   staff           - names teachers and staff as who gets it
#   problem / recipients / offer / nonpeople - the phrase names a problem / people served (in
#                     the plural) / a service / anything but people ("our students struggle with"
#                     a problem only)
#   service         - the phrase names a service or thing, not a subject ("we provide algebra")
#   volunteers      - says volunteers do it: organisations that work with volunteers only
BIT_SESSION, BIT_REMOTE, BIT_REMOTE_OK, BIT_SAY_ONLINE = 1, 2, 4, 8
BIT_STUDENTS, BIT_YOUNG, BIT_STAFF = 16, 32, 64
BIT_PROBLEM, BIT_PEOPLE, BIT_TOPIC, BIT_ONLINE_WORD = 128, 256, 512, 1024
BIT_VOLUNTEERS, BIT_PROVIDER, BIT_PLURAL = 2048, 4096, 8192
_N_CODES = 16384


def _flag_fits(flag: str, code: np.ndarray) -> np.ndarray:
    """Which row codes a template flag allows."""
    has = lambda bit: (code & bit) != 0  # noqa: E731
    return {
        "session": has(BIT_SESSION), "goods": ~has(BIT_SESSION), "local": ~has(BIT_REMOTE),
        "online": has(BIT_REMOTE) & ~has(BIT_ONLINE_WORD),
        "hybrid": ~has(BIT_REMOTE) & has(BIT_REMOTE_OK) & ~has(BIT_ONLINE_WORD),
        "students": has(BIT_STUDENTS), "young": has(BIT_YOUNG), "staff": has(BIT_STAFF),
        "problem": has(BIT_PROBLEM) & ~has(BIT_PEOPLE),
        "recipients": has(BIT_PEOPLE) & has(BIT_PLURAL) & ~has(BIT_PROVIDER),
        "offer": ~has(BIT_PROBLEM) & ~has(BIT_PEOPLE), "nonpeople": ~has(BIT_PEOPLE),
        "service": ~has(BIT_TOPIC | BIT_PROBLEM | BIT_PEOPLE),
        "volunteers": has(BIT_VOLUNTEERS),
    }[flag]


NEED_MAIN: tuple[tuple[str, str], ...] = (
    ("Our students struggle with {p}.", "problem students"),
    ("We are looking for help with {p} and {q}.", "nonpeople"),
    ("Many families have asked about {p}.", "offer young"),
    ("We need support with {p}.", ""),
    ("Our biggest need right now is {p}.", "nonpeople"),
    ("We are seeking a partner who can help with {p}.", ""),
    ("Our top priority this year is {p}.", "nonpeople"),
    ("Looking for {p} for our {g} students.", "service students"),
    ("We would love a partner for {p}, especially {q}.", "offer"),
    ("Can anyone help with {p}?", ""),
    ("{P} and {q} are urgent needs for our {lvl} students.", "nonpeople students"),
    ("Our teachers keep seeing the need for {p}.", "offer"),
    ("Priority: {p}.", ""),
    ("We have no budget for {p} and would welcome help.", "service"),
    ("Parents keep asking us about {p}.", "offer young"),
    ("Need: {p}, {q}.", ""),
    ("Our {lvl} students would benefit from {p}.", "offer students"),
    ("Staff have identified {p} as a major gap.", "nonpeople"),
    ("We serve many {p}.", "recipients"),
    ("Many of our students deal with {p}.", "problem students"),
)
NEED_MORE: tuple[tuple[str, str], ...] = (
    ("We are also looking for {p}.", "offer"),
    ("Our counselors mention {p} often.", ""),
    ("Help with {p} would make a big difference.", ""),
    ("We still struggle with {p}.", "problem"),
)
NEED_SECONDARY: tuple[tuple[str, str], ...] = (
    ("We could also use help with {p}.", ""),
    ("Secondary need: {p}.", ""),
    ("Another priority is {p}.", "nonpeople"),
    ("Some families have asked about {p} as well.", "offer young"),
    ("Support with {p} would also help.", ""),
    ("Also interested in {p}.", "offer"),
    ("In addition, {p}.", ""),
    ("Help with {p} would be a bonus.", ""),
    ("Teachers also mentioned {p}.", ""),
)
NEED_CONTEXT = (
    "We are a Title I school serving {n} students.",
    "{name} serves {n} students in grades {g}.",
    "About {frl}% of our students qualify for free or reduced-price lunch.",
    "Our school community is diverse and growing.",
    "We are a neighborhood school in {city}.",
    "Our staff is small but dedicated.",
    "Many of our students are English language learners.",
    "We are a small campus with big goals.",
    "Our PTA is active but stretched thin.",
    "We serve {n} {lvl} students in {city}.",
    "Enrollment has grown every year since we opened.",
)
NEED_CLOSING: tuple[tuple[str, str], ...] = (
    ("Thank you!", ""),
    ("Please reach out to our front office.", ""),
    ("Any help is appreciated.", ""),
    ("We can host sessions after school.", "session"),
    ("Contact our principal to learn more.", ""),
    ("We are flexible on scheduling.", ""),
)
OFFER_MAIN: tuple[tuple[str, str], ...] = (
    ("We offer {p} for {g} students.", "service students"),
    ("Volunteers provide {p} at schools and community sites.",
     "session local service young volunteers"),
    ("Our team runs {p} year-round.", "session service"),
    ("We provide {p} and {q}.", "service"),
    ("Our main focus is {p}.", ""),
    ("Our staff delivers {p} on campus or online.", "session hybrid service"),
    ("Free {p} for schools in {city}.", "local service"),
    ("We specialize in {p}.", ""),
    ("Programs include {p} and {q}.", "session service"),
    ("We partner with schools on {p}.", ""),
    ("Offering {p} to students and families.", "service young"),
    ("Services: {p}, {q}.", "service"),
    ("We bring {p} to schools across {city}.", "session local"),
    ("Trained volunteers help with {p}.", "session young volunteers"),
    ("We deliver {p} by video to {g} students anywhere.", "session online students"),
    ("We run {p} online for schools across the country.", "session online"),
    ("Schools anywhere can apply to us for {p}.", "goods online service"),
    ("Schools in {city} can apply to us for {p}.", "goods local service"),
    ("We offer {p} for teachers and school staff.", "staff service"),
    ("We help schools in {city} with {p}.", "local"),
)
OFFER_SECONDARY: tuple[tuple[str, str], ...] = (
    ("We also offer {p}.", "service"),
    ("Additional services: {p}.", "service"),
    ("We can also help with {p}.", ""),
    ("Our volunteers also support {p}.", "session young volunteers"),
    ("Ask us about {p}.", ""),
    ("Also available on request: {p}.", "service"),
    ("Some sites also provide {p}.", "local service"),
    ("Also available online: {p}.", "session online service"),
    ("Our work also covers {p}.", ""),
)
OFFER_CONTEXT: tuple[tuple[str, str], ...] = (
    ("{name} has served {city} since {year}.", "local"),
    ("Our mission is to help every child thrive.", ""),
    ("We are a {label} based in {city}.", ""),
    ("Founded in {year}, we work with local schools and families.", "local"),
    ("We believe strong communities build strong schools.", ""),
    ("Our staff and volunteers reflect the communities we serve.", "volunteers"),
    ("We serve students in grades {g}.", ""),
    ("We have worked with schools across {city} for years.", "local"),
    ("Based in {city}, we work with schools across the country.", "online"),
    ("Founded in {year}, we serve schools nationwide.", "online"),
)
OFFER_CLOSING: tuple[tuple[str, str], ...] = (
    ("Contact us to schedule a visit.", "local"),
    ("Email us to get started.", ""),
    ("Space is limited.", "session"),
    ("Sessions are available online.", "session online"),
    ("We welcome new school partners.", ""),
    ("We work with schools anywhere in the country.", "online"),
)
_SLOT = re.compile(r"\{(\w+)\}")


def render(templates: tuple[str, ...], which: np.ndarray, slots: dict[str, np.ndarray]) -> np.ndarray:
    """Fill template ``which[i]`` for row i from per-row slot arrays; -1 -> ""; adds a trailing space."""
    out = np.full(len(which), "", dtype=object)
    for t, tpl in enumerate(templates):
        idx = np.flatnonzero(which == t)
        if idx.size == 0:
            continue
        parts = _SLOT.split(tpl)  # literal, slot, literal, ..., literal
        acc = np.full(idx.size, parts[0], dtype=object)
        for j in range(1, len(parts), 2):
            acc = acc + slots[parts[j]][idx] + parts[j + 1]
        out[idx] = acc + " "
    return out


def choose(rng: np.random.Generator, n_templates: int, n: int, p_use: float = 1.0) -> np.ndarray:
    """Random template index per row, or -1 (no sentence) with probability 1 - p_use."""
    which = rng.integers(0, n_templates, n)
    if p_use < 1.0:
        which[rng.random(n) >= p_use] = -1
    return which


def choose_fitting(rng: np.random.Generator, table: np.ndarray, code: np.ndarray,
                    p_use: float = 1.0) -> np.ndarray:
    """Random template index per row among those that fit its pattern (``table[code[i]]``:
    which templates fit rows of that pattern), or -1 (no sentence) when none fits or with
    probability 1 - p_use."""
    count = table.sum(axis=1)
    # Fitting template indices of each pattern, left-aligned.
    order = np.argsort(~table, axis=1, kind="stable")
    k = (rng.random(len(code)) * count[code]).astype(np.int64)
    which = np.where(count[code] > 0, order[code, np.minimum(k, table.shape[1] - 1)], -1)
    if p_use < 1.0:
        which[rng.random(len(code)) >= p_use] = -1
    return which


def finish_text(rng: np.random.Generator, text: np.ndarray) -> np.ndarray:
    """Drop the trailing space, then add typos and odd casing to some rows, as people write."""
    text = np.array([s[:-1] for s in text], dtype=object)
    n = len(text)
    # ~20% of rows get typos in ~5% of their words (at least one).
    rows = np.flatnonzero(rng.random(n) < 0.20)
    if rows.size:
        n_words = np.array([s.count(" ") + 1 for s in text[rows]])
        n_edits = np.clip(rng.binomial(n_words, 0.05), 1, 8)
        where = rng.random((rows.size, 8))
        kind = rng.random((rows.size, 8)) < 0.5
        text[rows] = [_typo(s, k, w, d) for s, k, w, d in zip(text[rows], n_edits, where, kind)]
    # Casing: a few all lower-case, a few shouted, a few Title Cased.
    u = rng.random(n)
    for lo, hi, fn in ((0.0, 0.04, str.lower), (0.04, 0.06, str.upper), (0.06, 0.08, str.title)):
        sel = np.flatnonzero((u >= lo) & (u < hi))
        text[sel] = [fn(s) for s in text[sel]]
    return text


def _typo(s: str, n_edits: int, where: np.ndarray, drop: np.ndarray) -> str:
    """Swap two adjacent letters or drop one, at n_edits random spots inside words."""
    for e in range(n_edits):
        i = int(where[e] * (len(s) - 2)) + 1
        if i + 1 < len(s) and s[i].isalpha() and s[i + 1].isalpha() and s[i - 1].isalpha():
            s = s[:i] + s[i + 1:] if drop[e] else s[:i] + s[i + 1] + s[i] + s[i + 2:]
    return s


@lru_cache(maxsize=None)
def _fitting(templates: tuple[tuple[str, str], ...]) -> np.ndarray:
    """Which templates (columns) fit each row code (rows, see :func:`row_code`), by the
    templates' flags; rows that must say "online" take only templates flagged so."""
    code = np.arange(_N_CODES)
    table = np.ones((_N_CODES, len(templates)), dtype=bool)
    for t, (_, flags) in enumerate(templates):
        for flag in flags.split():
            table[:, t] &= _flag_fits(flag, code)
        if "online" not in flags.split():
            table[(code & BIT_SAY_ONLINE) != 0, t] = False
    return table


def pick_templates(rng: np.random.Generator, templates: tuple[tuple[str, str], ...],
                   code: np.ndarray, p_use: float = 1.0) -> np.ndarray:
    """A random template per row among those that fit its code (-1: none, or not used)."""
    return choose_fitting(rng, _fitting(templates), code, p_use)


def sentences(rng: np.random.Generator, templates: tuple[tuple[str, str], ...], code: np.ndarray,
              p_use: float, fill: dict[str, np.ndarray]) -> np.ndarray:
    """One sentence per row from the templates that fit its code (or none, with probability
    1 - p_use), filled from the per-row slot arrays ``fill``."""
    return render(tuple(t for t, _ in templates), pick_templates(rng, templates, code, p_use), fill)
