"""What fits whom: the grades each category and phrase suits, remote delivery, audiences.

Keyword rules over category names and phrases (so any taxonomy works): a
school draws a need, and a partner an offering, only where the category's
grades overlap its own (:data:`CATEGORY_GRADE_RULES`, :func:`category_grades`);
a phrase narrower than its category (:data:`PHRASE_GRADE_RULES`) words a need
only for a grade it fits; remote partners offer only what can be delivered
remotely (:func:`remote_categories`); and sentences fit who an offering is for.
"""
from __future__ import annotations

import numpy as np

from matcher.config import GRADE_LEVELS
from matcher.generate.bands import band_text, parse_band
from matcher.generate.keywords import keyword_mask
from matcher.taxonomy import Taxonomy, load_taxonomy

#: Grade levels a category makes sense for, found by keywords in its name (slug, label, short
#: name; first rule wins); any other category fits every grade (PK-12). A school draws a need,
#: and a partner an offering, only where the category's grades overlap its own.
CATEGORY_GRADE_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("PK-2", ("early childhood", "kindergarten", "preschool", "pre-k")),
    ("9-12", ("college", "dual enrollment", "postsecondary")),
    ("9-12", ("internship", "work-based", "work based", "apprentice", "cte", "vocational")),
    ("6-12", ("career",)),
    ("6-12", ("entrepreneur",)),
    ("5-12", ("substance", "drug", "vaping", "alcohol")),
    ("4-12", ("financial", "money")),
    ("3-12", ("civic",)),
)

#: Phrases that fit fewer grades than their category, by whole words in the phrase (a trailing
#: ``*`` matches any ending; first rule wins): "phonics" is for young readers, "calculus" for
#: high school. A phrase keeps within its category's grades too. Needs and offerings are worded
#: with phrases that fit a grade the school or partner serves.
PHRASE_GRADE_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("PK-2", ("phonics", "phonemic", "phonological", "letter sounds", "alphabet", "sight words",
              "decodable*", "storytime", "story time", "emergent literacy", "early literacy",
              "early reader", "beginning readers", "imagination library", "reach out and read",
              "counting", "count", "skip counting", "number recognition", "early numeracy",
              "early math", "addition and subtraction", "scratch jr", "playgroup*", "play groups",
              "mommy and me", "creative movement")),
    ("PK-5", ("elementary", "read aloud", "read-aloud", "reading aloud", "reading buddy",
              "reading buddies", "third grade reading", "3rd grade reading", "math facts",
              "math fact fluency", "multiplication*", "place value", "manipulative*",
              "base ten blocks", "crayons", "glue sticks", "cub scouts", "lunch buddy",
              "lunch buddies", "bigs and littles", "safety patrol", "calm corner",
              "calming corner", "book vending machine", "handwriting", "lemonade day",
              "ja biztown", "needs and wants", "needs versus wants", "kids yoga", "play therapy",
              "puppet*", "stranger danger", "body safety")),
    ("K-8", ("recess*", "field day", "lego*", "first lego league", "fll", "vex iq", "scratch*",
             "zones of regulation", "second step", "learning to ride", "learn to ride",
             "girls on the run", "spelling bee", "summer slide", "fractions", "long division")),
    ("6-8", ("middle school", "amc 8", "mathcounts", "pre-algebra", "algebra readiness",
             "builders club")),
    ("9-12", ("high school math", "high school internship", "alternative high school",
              "recovery high school", "calculus", "precalculus", "pre-calculus", "trigonometry",
              "algebra 2", "algebra ii", "ap", "ib", "sat", "act prep", "psat", "regents prep",
              "credit recovery", "course recovery", "gpa", "grade point average", "graduation*",
              "grad night", "dropout*", "drop out", "dropping out", "on-track",
              "on track to graduate", "ninth grade*", "9th grade*", "freshman*", "over-age*",
              "opportunity youth", "disconnected youth", "out-of-school youth",
              "alternative school", "alternative education", "prom", "drinking and driving",
              "drunk driving", "impaired driving", "underage drinking", "driver's education",
              "drivers ed", "driver's license", "teen pregnancy*", "pregnant and parenting teens",
              "teen parents", "sex ed", "sex education", "sexual health", "reproductive health",
              "hiv prevention", "sti prevention", "dating violence", "consent education",
              "student loans", "tuition", "jrotc", "rotc", "cadets", "honor society", "key club",
              "first tech challenge", "boys state", "girls state", "voter registration",
              "register to vote", "pre-registration", "student poll workers", "senior capstone",
              "capstone project", "moot court", "job interview", "paycheck", "first paycheck",
              "filing taxes", "credit card*", "credit score*", "credit report", "building credit",
              "credit building", "investing for teens", "money management for teens",
              "retirement savings", "supported employment", "job coach", "transition services",
              "transition planning", "post-secondary transition",
              "pre-employment transition services", "pre-ets", "vocational rehabilitation",
              "independent living skills")),
    ("4-12", ("puberty*", "menstrual*", "period products", "period poverty", "pads and tampons")),
    ("6-12", ("careers", "teen", "teens", "algebra",
              "algebra 1", "algebra i", "geometry", "statistics class",
              "chemistry", "physics", "biotechnology", "genetics", "forensic*", "anatomy",
              "physiology", "neuroscience", "cybersecurity", "cyber security", "cyberpatriot",
              "ethical hacking", "capture the flag", "machine learning", "data science",
              "cloud computing", "computer engineering", "software engineering", "hackathon*",
              "dating", "sexual harassment", "hazing", "gang*", "human trafficking",
              "credible messengers", "violence interrupters", "violence interruption", "title ix*",
              "trafficking prevention", "juvenile*", "probation", "reentry", "re-entry",
              "diversion", "school-to-prison pipeline", "lgbtq*", "gender and sexuality alliance",
              "suicid*", "self-harm", "self harm", "eating disorder*", "opioid*", "fentanyl*",
              "overdose*", "narcan", "naloxone", "marijuana", "cannabis*", "thc*", "gambling*",
              "adderall misuse", "drug testing", "mock trial*", "youth court", "teen court",
              "model un", "model united nations", "debate*", "speech and debate", "journalism",
              "student newspaper", "school newspaper", "literary magazine", "essay*",
              "stagecraft", "technical theater", "tech theater", "lighting design", "sound design",
              "stage management", "photoshop", "adobe creative suite", "job shadow*",
              "stock market*", "investing basics", "interest rates", "compound interest",
              "sports physical*", "athletic trainer", "student-athletes", "student athletes",
              "varsity", "cheerleading", "yearbook", "youth and government", "junior state")),
)

#: Offerings that can really be delivered remotely (sessions by video, money, software, advice),
#: by keywords in the category's name; categories that also match :data:`IN_PERSON_WORDS`, and
#: every other category, are in-person only. Only partners whose every offering can be delivered
#: remotely are ``remote``, and only their texts say "online".
REMOTE_WORDS: tuple[str, ...] = (
    "mentor", "tutor", "math", "computer", "coding", "college", "career", "teacher",
    "professional development", "fund", "grant", "digital", "software", "mental", "counsel",
    "research", "evaluation", "financial", "family", "english", "language",
)
#: Physical things, places and hands-on services: never delivered remotely (wins over REMOTE_WORDS).
IN_PERSON_WORDS: tuple[str, ...] = (
    "equipment", "suppl", "food", "nutrition", "facilit", "sport", "field trip", "physical",
    "basic need", "cloth", "transport", "housing",
)
#: Offerings that are things, money or places rather than sessions run by people ("sessions",
#: "programs" and "volunteers" wording is not used for them).
GOODS_WORDS: tuple[str, ...] = (
    "fund", "grant", "equipment", "suppl", "donation", "food", "basic need", "housing",
    "facilit", "space", "transport", "internet", "software",
)
#: Phrases a remote partner never uses: they say the offering happens on site.
ON_SITE_PHRASE_WORDS: tuple[str, ...] = (
    "in-school", "school-based", "site-based", "on-site", "community-based", "lunch*", "visit*",
    "in-person", "hands-on", "van", "bus", "center", "centre", "room", "lab",
    "drop-in", "campus", "walk*", "tour*", "supplies", "kits", "books", "device*", "hotspot*",
)


#: Offerings of adults' work at school rather than of students' activities: teacher development
#: goes to teachers, research, funding and facilities to the school. Sentences about students or
#: families ("for K-5 students", "to students and families") are not used for them.
STAFF_AUDIENCE_WORDS: tuple[str, ...] = ("teacher", "professional development", "staff")
SCHOOL_AUDIENCE_WORDS: tuple[str, ...] = ("research", "evaluation", "fund", "grant", "facilit")
#: Offerings for families rather than students ("parent workshops"): no "for K-5 students".
FAMILY_AUDIENCE_WORDS: tuple[str, ...] = ("family engagement", "adult learning", "parent")


def category_bands(tax: Taxonomy) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest grade (GRADE_LEVELS positions) each category makes sense for."""
    lo = np.zeros(len(tax.categories), np.int8)
    hi = np.full(len(tax.categories), len(GRADE_LEVELS) - 1, np.int8)
    assigned = np.zeros(len(tax.categories), dtype=bool)
    for band, words in CATEGORY_GRADE_RULES:
        hit = keyword_mask(tax, words) & ~assigned
        lo[hit], hi[hit] = parse_band(band)
        assigned |= hit
    return lo, hi


def remote_mask(tax: Taxonomy) -> np.ndarray:
    """Boolean per category: can it be delivered remotely."""
    return keyword_mask(tax, REMOTE_WORDS) & ~keyword_mask(tax, IN_PERSON_WORDS)


def category_grades(taxonomy: Taxonomy | None = None) -> dict[str, str]:
    """Grade levels each category makes sense for, as the generator uses them.

    Found by :data:`CATEGORY_GRADE_RULES` (keywords in a category's name), so
    any taxonomy works; a category no rule names fits every grade (``PK-12``).

    Parameters
    ----------
    taxonomy : Taxonomy, optional
        Default :func:`~matcher.taxonomy.load_taxonomy`.

    Returns
    -------
    dict of str to str
        Category slug -> grade band (``"9-12"``), in taxonomy order.

    Examples
    --------
    >>> bands = category_grades()
    >>> bands["college_access"], bands["early_childhood"], bands["tutoring"]
    ('9-12', 'PK-2', 'PK-12')
    """
    tax = taxonomy if taxonomy is not None else load_taxonomy()
    lo, hi = category_bands(tax)
    return dict(zip(tax.category_slugs, band_text(lo, hi)))


def remote_categories(taxonomy: Taxonomy | None = None) -> tuple[str, ...]:
    """Categories that can be delivered remotely; all others are in-person only.

    Found by :data:`REMOTE_WORDS` and :data:`IN_PERSON_WORDS` (keywords in a
    category's name). Generated remote partners offer only these categories.

    Parameters
    ----------
    taxonomy : Taxonomy, optional
        Default :func:`~matcher.taxonomy.load_taxonomy`.

    Returns
    -------
    tuple of str
        Category slugs, in taxonomy order.

    Examples
    --------
    >>> remote = remote_categories()
    >>> "tutoring" in remote, "funding" in remote, "field_trips" in remote
    (True, True, False)
    """
    tax = taxonomy if taxonomy is not None else load_taxonomy()
    return tuple(s for s, ok in zip(tax.category_slugs, remote_mask(tax)) if ok)


def category_audience(tax: Taxonomy) -> np.ndarray:
    """Per category: who it is for, 0 students, 1 families, 2 teachers and staff, 3 the school."""
    out = np.zeros(len(tax.categories), np.int8)
    for code, words in ((3, SCHOOL_AUDIENCE_WORDS), (2, STAFF_AUDIENCE_WORDS),
                        (1, FAMILY_AUDIENCE_WORDS)):
        out[keyword_mask(tax, words) & (out == 0)] = code
    return out
