"""Synthetic schools, partners and partnership history, at any scale.

:func:`generate` makes three tables that follow the project's data contract
(``schools.csv``, ``partners.csv``, ``partnerships.csv``) and
:func:`write_dataset` writes them. The data is meant to look like what a
district coordinator would collect, and to hide a known signal:

* Schools cluster around ~25 real US metro centres (or, with a roster, sit
  at real school locations) and write their needs as free text built from
  the taxonomy's phrases; only ~30 % also tag categories, so most rows rely
  on text tagging, as real data would.
* Needs fit the school's grades: every category carries the grade levels it
  makes sense for (:data:`CATEGORY_GRADE_RULES`, e.g. college access 9-12,
  kindergarten readiness PK-2, see :func:`category_grades`), a school draws a
  need in proportion to the share of its grades the category fits, and each
  need is worded with a phrase that fits one of those grades
  (:data:`PHRASE_GRADE_RULES`: no "phonics" for a high school).
* Partners cluster around the same places. Each is a kind of organisation
  that fits its type (a nonprofit may be a food bank, a tutoring center or a
  mentoring network; a government partner a fire department or a parks
  department; a business a credit union or a software company), is named
  like one ("Oakwood Food Pantry", "Chicago Fire Department, Station 12") and
  offers what such an organisation gives: its main offering is one it is
  known for, 0-3 more are plausible for it (a few are what anyone may add:
  volunteers, a career day, a donation drive), and it prefers its own
  phrases (a fire department says "fire safety" and "cpr"). Kinds are keyword
  rules over category names (:data:`_PROFILES`), so any taxonomy works. The
  grade band fits the main offering (a college-access nonprofit serves high
  schools) and the other offerings fit the band.
* Partners say only what they offer. The taxonomy's phrases mix a school's
  problems ("failing grades", "hungry"), the people concerned ("beginning
  teachers", "english learners") and services ("tutoring", "food pantry");
  :func:`phrase_role` tells them apart by keywords (:data:`PROBLEM_WORDS`,
  :data:`SERVICE_WORDS`, :data:`PEOPLE_WORDS`, :data:`OTHER_WORDS`). Partner
  texts use offers only; school texts use all three, each in a sentence that
  fits it ("our students struggle with" a problem, "looking for ... for our
  students" an offer). Sentences also fit who an offering is for: teacher
  development, research and grants are never offered "to students and
  families", parent workshops never "for K-5 students".
* About 10 % of partners are remote (:data:`REMOTE_SHARE`); they offer only
  what can be delivered remotely (:func:`remote_categories`: tutoring,
  mentoring, funding, teacher PD, digital access, college advising ...; never
  field trips, food, facilities, donated things, on-site health or sports)
  and have a headquarters downtown in a large city. Only remote partners say
  their sessions run online; in-person partners may say "on campus or online"
  only of an offering that could be remote. About 12 % leave the radius blank
  (:data:`BLANK_RADIUS_SHARE`).
* Partnerships are drawn from a hidden utility (:data:`HIDDEN_UTILITY`):
  each school takes its highest-utility *feasible* partners, with Gumbel
  noise on the utility, and a partnership works out (``outcome`` 1) with a
  probability that rises with utility. Evaluation and tuning should recover
  this ordering of factors. Feasible is what the model allows: grade bands
  overlap, capacity is above 0, and the school is within the partner's
  reach - anywhere for a remote partner, else within ``service_radius_km``,
  else (blank) within :data:`~matcher.config.DEFAULT_SERVICE_RADIUS_KM`.

  Up to :data:`EXACT_MAX_PAIRS` school-partner pairs (2,000 x 10,000), every
  school chooses among *all* its feasible partners, so the only geography in
  the history is the hidden geo term (and the radius limits). Larger datasets
  use an approximation, because scoring every pair would cost
  ``n_schools * n_partners`` (10^12 for a million of each): a school then
  chooses among ~128 sampled candidates - partners near it, partners in the
  rest of its metro (about 50 km around), and remote partners. An in-person
  partner that could reach farther (up to 80 km) is then never a candidate,
  which adds a small geography effect the hidden utility does not have, so
  tune or evaluate weights on data within the exact size when the ordering of
  factors matters.

Everything is vectorised (text is assembled from pre-built pieces with numpy
object-array concatenation) and seeded, so the same seed gives byte-identical
CSVs, and a million rows take seconds. Nothing here hard-codes a taxonomy
slug: category/type affinities, grade levels and delivery come from matching
keywords against whatever :func:`matcher.taxonomy.load_taxonomy` returns (a
category no rule names fits every grade and is delivered in person).
"""
from __future__ import annotations

import math
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from matcher.config import DEFAULT_SERVICE_RADIUS_KM, GRADE_LEVELS, MAX_REPORTED_PROBLEMS
from matcher.errors import DataError
from matcher.taxonomy import Category, PartnerType, Taxonomy, load_taxonomy

__all__ = [
    "Dataset",
    "HIDDEN_UTILITY",
    "SCHOOL_COLUMNS",
    "PARTNER_COLUMNS",
    "PARTNERSHIP_COLUMNS",
    "category_grades",
    "phrase_role",
    "remote_categories",
    "generate",
    "write_dataset",
]

# ---------------------------------------------------------------------------
# Data contract and the hidden signal
# ---------------------------------------------------------------------------

SCHOOL_COLUMNS: tuple[str, ...] = (
    "school_id", "name", "needs", "need_categories", "grades", "latitude", "longitude",
    "enrollment", "frl_pct", "preferred_partner_types",
)
PARTNER_COLUMNS: tuple[str, ...] = (
    "partner_id", "name", "offerings", "partner_type", "offering_categories", "grades",
    "latitude", "longitude", "service_radius_km", "remote", "capacity",
)
PARTNERSHIP_COLUMNS: tuple[str, ...] = ("school_id", "partner_id", "outcome", "start_date")

#: True factor weights used to draw partnerships (``noise`` is the Gumbel scale).
#: For a feasible pair: utility = categories * category match + grades * grade fit
#: + geo * exp(-distance_km / GEO_SCALE_KM) + quality * latent partner quality + noise.
HIDDEN_UTILITY: dict[str, float] = {
    "categories": 0.50,
    "geo": 0.25,
    "quality": 0.15,
    "grades": 0.10,
    "noise": 0.10,
}

#: Length scale of the hidden geo term, in km.
GEO_SCALE_KM = 15.0

#: Weight of a school's dominant need in the hidden category match (the rest share the remainder).
DOMINANT_NEED_WEIGHT = 0.6

#: Default partnerships: about this many per school ...
PARTNERSHIPS_PER_SCHOOL = 10
#: ... but at most this many per partner on average (a partner cannot serve thousands of schools) ...
PARTNERSHIPS_PER_PARTNER = 20
#: ... and never more than this in total (keeps a million-school CSV a sensible size).
MAX_DEFAULT_PARTNERSHIPS = 2_000_000

#: Up to this many school-partner pairs (``n_schools * n_partners``), every school chooses among
#: *all* its feasible partners; above it, among sampled candidates (see the module docstring).
EXACT_MAX_PAIRS = 20_000_000

#: Partnerships start on or before this date (fixed, so output does not depend on today).
HISTORY_END = np.datetime64("2025-06-30")
HISTORY_YEARS = 5

_EARTH_RADIUS_KM = 6371.0088
_KM_PER_DEG = 111.32

# ---------------------------------------------------------------------------
# Built-in geography and names
# ---------------------------------------------------------------------------

# (city, latitude, longitude, relative size, typical spread in km)
_METROS: tuple[tuple[str, float, float, float, float], ...] = (
    ("New York", 40.7128, -74.0060, 19.5, 18.0),
    ("Los Angeles", 34.0522, -118.2437, 13.0, 18.0),
    ("Chicago", 41.8781, -87.6298, 9.4, 16.0),
    ("Dallas", 32.7767, -96.7970, 7.6, 16.0),
    ("Houston", 29.7604, -95.3698, 7.1, 16.0),
    ("Washington", 38.9072, -77.0369, 6.3, 14.0),
    ("Philadelphia", 39.9526, -75.1652, 6.2, 14.0),
    ("Miami", 25.7617, -80.1918, 6.1, 14.0),
    ("Atlanta", 33.7490, -84.3880, 6.1, 16.0),
    ("Boston", 42.3601, -71.0589, 4.9, 12.0),
    ("Phoenix", 33.4484, -112.0740, 4.9, 15.0),
    ("San Francisco", 37.7749, -122.4194, 4.7, 13.0),
    ("Detroit", 42.3314, -83.0458, 4.3, 13.0),
    ("Seattle", 47.6062, -122.3321, 4.0, 12.0),
    ("Minneapolis", 44.9778, -93.2650, 3.7, 12.0),
    ("San Diego", 32.7157, -117.1611, 3.3, 11.0),
    ("Tampa", 27.9506, -82.4572, 3.2, 12.0),
    ("Denver", 39.7392, -104.9903, 3.0, 11.0),
    ("St. Louis", 38.6270, -90.1994, 2.8, 11.0),
    ("Baltimore", 39.2904, -76.6122, 2.8, 10.0),
    ("Orlando", 28.5384, -81.3789, 2.7, 11.0),
    ("Charlotte", 35.2271, -80.8431, 2.7, 11.0),
    ("San Antonio", 29.4241, -98.4936, 2.6, 11.0),
    ("Portland", 45.5152, -122.6784, 2.5, 10.0),
    ("Las Vegas", 36.1699, -115.1398, 2.3, 9.0),
    ("Kansas City", 39.0997, -94.5786, 2.2, 10.0),
    ("Nashville", 36.1627, -86.7816, 2.0, 10.0),
    ("Cleveland", 41.4993, -81.6944, 2.0, 9.0),
    ("Albuquerque", 35.0844, -106.6504, 0.9, 7.0),
)

_PLACE_A = (
    "Oak", "Cedar", "Maple", "Pine", "Willow", "River", "Lake", "Spring", "Sunny", "Green",
    "Fair", "Clear", "Rock", "Stone", "Brook", "Elm", "Ash", "Bay", "Palm", "Meadow",
    "Harbor", "Silver", "Golden", "Red", "Blue", "Glen", "Fox", "Eagle", "Hawk", "Deer",
    "Mill", "Bridge", "Cypress", "Magnolia", "Laurel", "Birch", "Hickory", "Sycamore",
    "Aspen", "Highland", "North", "South", "East", "West", "Pleasant", "Mountain", "Prairie",
)
_PLACE_B = (
    "wood", "view", "dale", "side", "field", "crest", " Ridge", " Valley", "brook", " Park",
    " Hills", " Grove", " Heights", " Springs", " Creek", " Point", " Meadows", "ton",
    "mont", " Lake", " Gardens", " Terrace", " Landing", " Forest", " Crossing",
)
_PEOPLE = (
    "Lincoln", "Washington", "Jefferson", "Roosevelt", "Kennedy", "Franklin", "Madison",
    "Jackson", "Adams", "Carver", "Douglass", "Tubman", "Hamilton", "Monroe", "Garfield",
    "Whitman", "Edison", "Dr. Martin Luther King Jr.", "Thurgood Marshall", "Rosa Parks",
    "Sally Ride", "Cesar Chavez", "Mary McLeod Bethune", "Booker T. Washington",
    "Sojourner Truth", "Amelia Earhart", "Jackie Robinson", "Roberto Clemente",
    "Sandra Day O'Connor", "Ellen Ochoa", "Frederick Douglass", "John Glenn",
    "Eleanor Roosevelt", "Helen Keller", "Langston Hughes", "Maya Angelou", "Dolores Huerta",
    "Barbara Jordan", "Katherine Johnson", "Mae Jemison", "Ruby Bridges", "Daniel Inouye",
)
_SURNAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark",
    "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott",
    "Torres", "Nguyen", "Hill", "Flores", "Green", "Nelson", "Baker", "Hall", "Rivera",
    "Campbell", "Mitchell", "Carter", "Roberts", "Patel", "Kim", "Chen", "Okafor", "Cohen",
    "O'Brien", "Yamamoto", "Haddad", "Kowalski", "Novak", "Singh", "Okoye",
)
_SAINTS = ("Mary", "Joseph", "Anne", "Francis", "Luke", "Paul", "Catherine", "Vincent", "Monica")

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

# Partner grade bands: often wide, sometimes narrow (the main offering narrows them further).
_PARTNER_GRADES: tuple[tuple[str, float], ...] = (
    ("K-12", 0.30), ("PK-12", 0.10), ("9-12", 0.13), ("6-12", 0.10), ("K-5", 0.08),
    ("K-8", 0.07), ("PK-5", 0.05), ("6-8", 0.05), ("3-8", 0.03), ("K-2", 0.03),
    ("11-12", 0.02), ("PK-2", 0.02), ("3-5", 0.02), ("PK-K", 0.01),
)
_RADII_KM = (5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 80)
_RADII_P = (0.05, 0.14, 0.14, 0.16, 0.14, 0.12, 0.08, 0.07, 0.04, 0.03, 0.03)
#: Share of partners that leave ``service_radius_km`` blank (in person, they then serve within
#: :data:`~matcher.config.DEFAULT_SERVICE_RADIUS_KM`).
BLANK_RADIUS_SHARE = 0.12
#: Share of partners that are remote (fewer when the taxonomy has few remote-capable categories).
REMOTE_SHARE = 0.10
_MAX_REMOTE = 0.2  # ... and at most this share of any one partner type

# ---------------------------------------------------------------------------
# What fits whom: grades and delivery of each category (keyword rules, so any taxonomy works)
# ---------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------
# What a phrase says: an offer, a problem, people, or neither (keyword rules, so any taxonomy works)
# ---------------------------------------------------------------------------
# The taxonomy's phrases are written for tagging, so they mix both sides: what a school lacks
# ("failing grades", "chronic absenteeism", "hungry"), who it serves ("english learners", "beginning
# teachers"), and what a partner gives ("tutoring", "food pantry"). Partners only say what they
# give; schools may say any of the three. Words are matched whole (a hyphenated word is one word;
# a leading or trailing ``*`` allows any start or ending).

#: Problems, symptoms, conditions and outcomes: a phrase with one of these says what a school
#: lacks, unless it also has a :data:`SERVICE_WORDS` word ("dropout prevention",
#: "grief counseling").
PROBLEM_WORDS: tuple[str, ...] = (
    "fail*", "absen*", "truan*", "tardy", "tardies", "tardiness", "late to school", "skipping",
    "missing", "missed", "struggling", "falling behind", "behind grade level", "below", "gap",
    "gaps", "loss", "lack", "no", "not", "without", "shortage*", "shortfall", "cuts",
    "underfunded", "unfunded", "constraints", "barrier*", "issues", "behavior problems",
    "attendance problems", "challenging", "challenges", "disruptive", "school refusal",
    "avoidance", "disengage*", "dropout", "dropouts", "drop out", "dropping out", "off track",
    "off-track", "over-age", "hungry", "hunger", "insecur*", "desert", "deserts", "empty stomach",
    "homeless*", "unhoused", "doubled up", "doubled-up", "couch surfing", "motel*", "eviction",
    "instability", "unstable", "crisis", "hardship", "poverty", "debt", "uninsured",
    "unemployment", "incarcerat*", "deportation", "runaway", "violence", "bully", "bullying",
    "cyberbullying", "harassment", "hazing", "gang", "gangs", "fights", "altercations", "weapons",
    "shooter", "suspension*", "expulsion*", "referrals", "discipline", "school-to-prison pipeline",
    "probation", "reentry", "re-entry", "human trafficking", "anxiety", "anxious", "depress*",
    "stress", "stressed", "suicid*", "self-harm", "self harm", "trauma", "ptsd", "grief",
    "grieving", "bereavement", "death", "isolation", "loneliness", "illness", "disorder*",
    "disabilit*", "disabled", "delay", "impair*", "deaf", "blind", "autism", "autistic", "asd",
    "adhd", "attention deficit", "dyslexi*", "dyscalculia", "dysgraphia", "syndrome", "palsy",
    "hard of hearing", "low vision", "disturbance", "sensory processing", "wheelchair",
    "medically fragile", "asthma", "diabetes", "epilepsy", "seizure*", "allerg*", "obesity",
    "lice", "poisoning", "concussion", "covid", "covid-19", "sleep", "addiction", "overdose",
    "vape", "vapes", "vaping", "smoking", "drugs", "drug use", "substance use", "substance abuse",
    "misuse", "abuse", "alcohol", "underage drinking", "drunk driving", "impaired driving",
    "drinking and driving", "opioid", "opioids", "fentanyl", "e-cigarette", "e-cigarettes",
    "juul", "nicotine", "tobacco", "cannabis", "marijuana", "thc", "edibles", "inhalants",
    "stimulants", "gambling", "peer pressure", "risky", "risk", "at-risk", "teen pregnancy",
    "burnout", "morale", "limited", "tight", "special needs", "basic needs", "essential needs",
    "sensory needs", "medical needs", "housing needs", "mental health needs", "needs versus wants",
    "needs and wants", "need", "money for", "pay for", "cover the cost", "cover costs",
    "costs covered", "score", "scores", "level", "levels", "proficiency", "proficient",
    "achievement", "rate", "attendance rates", "graduation rates", "gpa", "grade point average",
    "state test", "state testing", "standardized test", "budget for", "our budget",
    "school budget", "district budget", "learning loss", "unfinished learning", "catch up",
    "catching up", "improve", "improving", "raise", "raising", "poor", "low", "latchkey",
    "working parents", "screen time", "summer slide", "summer melt", "undermatching",
    "language barrier", "language barriers", "child welfare", "foster care", "job loss",
    "house fire", "natural disaster", "bill", "bills", "notice", "theft", "scams", "fraud",
    "credit card", "credit cards", "credit report", "climate change", "pollution", "food waste",
    "e-waste", "litter", "invasive species", "single-use plastic", "incidents", "title i",
    "title ii", "title iii", "title iv", "esser", "federal funding", "state funding",
    "public funding", "costs", "fees", "pay to play",
)
#: Services that answer a problem: with one of these a problem word is part of an offer.
SERVICE_WORDS: tuple[str, ...] = (
    "prevention", "intervention", "interventions", "support", "supports", "services", "service",
    "counseling", "recovery", "relief", "assistance", "aid", "treatment", "screening",
    "screenings", "education", "awareness", "training", "management", "help", "care", "coaching",
    "resources", "skills", "alternatives", "interruption", "mentoring", "tutoring", "shelter",
    "reduction", "cessation", "cleanup", "response", "first aid",
)
#: People and groups: a phrase that ends in one (before any "for", "with", "in" ...) names who
#: is served ("english learners", "homeless students"), not what a partner gives.
PEOPLE_WORDS: tuple[str, ...] = (
    "student", "students", "learner", "learners", "reader", "readers", "non-readers", "kid", "kids",
    "child", "children", "youth", "teen", "teens", "family", "families", "parent", "parents",
    "caregiver", "caregivers", "newcomer", "newcomers", "bilingual", "bilinguals", "multilingual",
    "immigrant", "immigrants", "refugee", "refugees", "seekers", "speaker", "speakers", "athletes",
    "student-athletes", "boys", "girls", "men", "women", "infant", "infants", "toddler", "toddlers",
    "preschoolers", "kindergarteners", "*-olds", "candidates", "grandchildren", "littles", "people",
    "participants", "members", "leaders", "ambassador", "ambassadors", "cadets", "mentee",
    "grantee", "veterans", "alumni", "scouts", "changemakers", "upstander", "makers",
    "entrepreneurs", "ell", "ells", "mll", "mlls", "swd", "lep", "ltel", "sife", "2e", "first-gen",
    "first-generation", "first generation", "first in family", "spanish", "arabic",
    "haitian creole", "vietnamese", "mandarin", "cantonese", "somali", "dari", "pashto",
    "ukrainian", "portuguese", "swahili", "tigrinya", "nepali", "burmese", "hmong", "karenni",
)
#: ... or the adults a school lacks ("school nurse", "beginning teachers", "reading specialist"):
#: people too, but a school does not "serve many" of them.
PROVIDER_WORDS: tuple[str, ...] = (
    "teacher", "teachers", "educator", "educators", "staff", "adult", "adults", "owner", "owners",
    "officials", "legislators", "mayor", "professionals", "professional", "retirees", "dancer",
    "dancers", "actor", "actors", "musician", "musicians", "artist", "artists", "scientist",
    "scientists", "engineer", "engineers", "doctor", "doctors", "nurse", "nurses", "dentist",
    "dentists", "therapist", "therapists", "counselor", "counselors", "clinician", "clinicians",
    "worker", "workers", "psychologist", "psychiatrist", "physician", "pediatrician", "optometrist",
    "audiologist", "dietitian", "nutritionist", "interventionist", "specialist", "specialists",
    "coordinator", "liaison", "advocate", "advocates", "navigator", "navigators", "manager", "aide",
    "assistant", "assistants", "paraprofessional", "director", "clerk", "coach", "coaches",
    "mentor", "mentors", "tutor", "tutors", "volunteer", "volunteers", "chaperone", "chaperones",
    "docent", "docents", "interpreter", "interpreters", "translator", "translators", "evaluator",
    "evaluators", "researcher", "researchers", "professor", "professors", "lawyer", "lawyers",
    "attorney", "attorneys", "judge", "judges", "banker", "bankers", "investors", "donor", "donors",
    "sponsor", "sponsors", "grantmaker", "writer", "author", "authors", "poet", "photographer",
    "conductor", "choreographer", "songwriter", "programmer", "coder", "developer", "mathematician",
    "inventor", "inventors", "naturalist", "ranger", "gardener", "welder", "electrician",
    "machinist", "lineworker", "technician", "officer", "officers", "guards", "lunch monitors",
    "mediators", "messengers", "interrupters", "helpers", "keeper", "keepers", "provider",
    "providers", "partner", "partners", "friends", "buddy", "buddies", "brother", "sister",
    "sisters", "role model", "role models", "intern", "interns", "apprentice", "practitioner",
    "pathologist", "instructor", "instructors", "trainer", "adviser", "advisers", "advisor",
    "advisors", "driver", "drivers", "entrepreneur", "police", "law enforcement", "sro", "slp",
    "bcba", "lcsw", "ot", "cna",
)
#: Neither a service nor a need: descriptions, organisations, traits, places and natural things
#: ("therapeutic", "youth-led", "credit union", "grit", "wetlands"); no one writes them alone.
OTHER_WORDS: tuple[str, ...] = (
    "*-led", "*-based", "*-free", "*-friendly", "*-bound", "*-speaking", "*-informed",
    "*-sensitive", "*-integrated", "*-going", "*-ready", "accessible", "arrived", "available",
    "bound", "covered", "cultural", "multicultural", "emotional", "social-emotional",
    "social emotional", "entrepreneurial", "environmental", "exceptional", "funded",
    "grade-level", "mathematical", "medical", "neurodivergent", "neurodiverse", "philanthropic",
    "possible", "post-secondary", "postsecondary", "provided", "psychiatric", "quasi-experimental",
    "peer-reviewed", "co-designed", "recreational", "remedial", "ready", "therapeutic",
    "vocational", "wireless", "talented", "intramural", "choral", "culinary", "automotive",
    "musical", "sensory", "gifted", "sober", "in-kind", "on-track", "sped", "extracurricular",
    "wrap-around", "wraparound", "recently", "newly", "consistent", "positive", "caring",
    "trusted", "sensory friendly", "heritage", "home language", "native language",
    "first language", "interrupted formal education", "kindness", "empathy", "compassion",
    "gratitude", "perseverance", "grit", "confidence", "self-confidence", "self-efficacy",
    "self-esteem", "resilience", "creativity", "good character", "character traits",
    "respectful behavior", "self-expression", "self-advocacy", "council", "organization",
    "nonprofit", "institution", "society", "association", "authority", "department", "agency",
    "coalition", "credit union", "credit unions", "chamber of commerce", "ymca", "ywca",
    "boys and girls club", "boys & girls club", "pta", "pto", "rivers", "oceans", "wetlands",
    "ecosystem", "ecosystems", "biodiversity", "wildlife", "habitat", "stormwater",
    "the environment", "bees", "chickens", "trail", "trails", "wilderness", "air quality",
    "water quality", "climate resilience", "national park", "national parks", "state park",
    "interviews with students", "brotherhood", "sisterhood", "influence", "wish list",
    # single things, which need "a" ("we offer a laptop"): their plurals are used instead
    "robot", "laptop", "tablet", "chromebook", "ipad", "device", "printer", "projector", "copier",
    "microscope", "telescope", "whiteboard", "smartboard", "smart board", "display", "panel",
    "document camera", "doc cam", "cart", "rug", "refrigerator", "microwave", "coat",
    "winter coat", "mattress", "bike", "bicycle", "van", "bus", "school bus", "charter bus",
    "coach bus", "activity bus", "late bus", "vehicle", "hotspot", "mobile hotspot", "instrument",
    "guitar", "piano", "violin", "viola", "cello", "bass", "drum", "steel drum", "ukulele",
    "trumpet", "trombone", "saxophone", "clarinet", "flute", "3d printer", "laser cutter", "kiln",
    "scoreboard", "greenhouse", "rain barrel", "worm bin", "inhaler", "hearing aid", "epipen",
    "scholarship", "grant", "mini grant", "mini-grant", "micro-grant", "microgrant", "proposal",
    "application", "plan", "fundraiser", "meal", "snack", "meal kit", "food box", "food bag",
    "weekend backpack", "subscription", "software license", "site license", "platform",
    "learning management system", "parent portal", "student information system", "camera",
    "ride", "taxi", "shuttle", "transit pass", "bus pass", "metro card", "metrocard", "fare card",
    "student transit pass", "savings account", "bank account", "checking account", "credit card",
    "prototype", "podcast", "mural", "kit", "gift", "cash gift", "matching gift", "major gift",
    "grocery store", "underwrite", "posse", "questbridge", "naviance", "background check",
    "background checks", "volunteer background check", "corps", "city year", "underwriting",
    "3 to 6 pm", "late afternoon", "2-year college", "four-year college", "hospital",
    "electric school buses",
)
#: Actions and goals rather than things ("learn to code", "host an event", "managing money"),
#: by the phrase's first words.
ACTION_STARTS: tuple[str, ...] = (
    "host", "learn", "give", "giving back", "measure", "measuring", "analyze", "analyzing",
    "quit", "engage", "engaging", "empower", "hire", "hiring", "sing", "start", "starting",
    "apply", "applying", "paying", "explore", "protect", "connect", "register", "pilot a",
    "donate", "getting", "supporting", "managing", "saving", "avoiding", "understanding",
    "filing", "earning", "building credit", "read to", "read with", "walk to", "bike to",
    "book a", "book your", "meet a", "open a", "play sports", "plant trees", "paint the",
    "pick up", "pickup", "we", "make", "hands on", "helping", "someone", "safe place",
    "safe space", "transportation to", "getting to", "learning to", "how", "help with",
    "help at", "living",
)
#: Offers that name a subject rather than a service ("algebra", "civil rights history"): fine
#: after "we specialize in", odd after "we provide".
TOPIC_WORDS: tuple[str, ...] = (
    "history", "government", "democracy", "congress", "legislature", "constitution", "amendment",
    "rights", "justice", "elections", "election", "census", "geography", "current events",
    "studies", "holocaust", "biology", "chemistry", "physics", "astronomy", "anatomy",
    "physiology", "genetics", "neuroscience", "ecology", "mathematics", "maths", "math",
    "algebra", "algebra 1", "algebra i", "algebra 2", "algebra ii", "geometry", "calculus",
    "precalculus", "pre-calculus", "trigonometry", "fractions", "decimals", "ratios",
    "place value", "multiplication", "long division", "economics", "stocks", "stock market",
    "interest rates", "compound interest", "humanities", "folklore", "sustainability",
    "conservation", "python", "java", "javascript", "html", "algorithms", "cybersecurity",
    "cyber security", "artificial intelligence", "ai", "machine learning", "data science",
    "vocabulary", "spelling", "fluency", "comprehension", "phonics", "decoding", "sight words",
    "alphabet", "letter sounds", "poetry", "shakespeare", "opera", "jazz", "science", "sciences",
    "civics", "social justice", "paycheck", "first paycheck", "solar", "trees", "compost",
    "the arts", "knowledge", "venture capital", "careers", "dream jobs", "jobs of the future",
    "grant cycle", "grant deadline", "letter of inquiry", "rfp", "request for proposals",
    "award amount", "funding request", "funding opportunity", "grant opportunity",
    "grant opportunities", "grant dollars", "esser funds", "renewable energy", "clean energy",
    "wind energy", "solar energy",
)
#: Phrases that themselves say where they happen ("online tutoring"): not used in a sentence
#: that says "online" again.
ONLINE_PHRASE_WORDS: tuple[str, ...] = (
    "online", "virtual", "remote", "e-mentoring", "e-learning", "tele*", "distance learning",
    "zoom", "hybrid", "video conferencing",
)
#: Words shown as written in capitals or with a capital (phrases are stored in lower case).
DISPLAY_WORDS: dict[str, str] = {
    **{w: w.upper() for w in (
        "pd", "psat", "ap", "ib", "fafsa", "esl", "esol", "ell", "ells", "eld",
        "stem", "steam", "cte", "ged", "iep", "ieps", "sel", "pbis", "mtss", "rti", "cpr", "aed",
        "hiv", "sti", "ai", "vr", "it", "hvac", "cnc", "emt", "cna", "ffa", "deca", "fbla", "hosa",
        "jrotc", "rotc", "lgbtq", "adhd", "aac", "aba", "pe", "ngss", "pltw", "nasa", "lms",
        "acp", "ebt", "wic", "sfsp", "cacfp", "ccr", "wbl", "syep", "irc", "plc", "plcs",
        "ceu", "ceus", "ypar", "rpp", "irb", "rct", "pdsa", "ela", "ese", "upk", "vpk", "tk",
        "ece", "ecse", "cda", "asq", "sbhc", "dbt", "cbt", "udl", "asl", "ada", "slp", "fll",
        "amc", "csp", "csa", "cs", "ux", "dj", "sbirt", "lep", "ost", "elo", "cclc", "esser",
        "rfp", "ngpf", "nfte", "siop", "wida", "elpac", "telpas", "nyseslat", "hse", "hiset",
        "ymca", "ywca", "pta", "pto", "gpa", "html", "osha", "cdl", "bcba", "lcsw", "sro",
        "mll", "mlls", "swd", "sife", "ltel", "p-ebt", "p-tech", "ar/vr")},
    **{w: w[:1].upper() + w[1:] for w in (
        "english", "spanish", "arabic", "french", "mandarin", "cantonese", "vietnamese", "somali",
        "haitian", "creole", "american", "african", "asian", "hispanic", "latinx", "indigenous",
        "kwanzaa", "juneteenth", "thanksgiving", "shakespeare", "python", "java",
        "javascript", "google", "microsoft", "adobe", "canva", "zoom", "linkedin", "chromebook",
        "chromebooks", "holocaust", "congress", "zearn", "dreambox", "naviance", "earth",
        "arbor", "lego", "scratch", "regents",
        "mckinney-vento", "medicaid", "pell", "americorps", "mlk", "black", "women's",
        "dia", "muertos", "lunar", "ukrainian", "portuguese", "hmong", "nepali")},
    "ipad": "iPad", "ipads": "iPads", "code.org": "Code.org", "aapi": "AAPI", "wifi": "WiFi",
    "wi-fi": "Wi-Fi", "sat prep": "SAT prep", "sat test": "SAT test", "sat score": "SAT score",
    "act prep": "ACT prep", "act test": "ACT test", "act score": "ACT score",
    "snap benefits": "SNAP benefits", "snap ebt": "SNAP EBT", "snap enrollment": "SNAP enrollment",
}


@dataclass(frozen=True)
class _Kind:
    """One kind of organisation within a partner type: what it is called and what it gives.

    ``main`` and ``also`` are keywords found in category names (slug, label, short name), earlier
    keywords weigh more; ``phrases`` are keywords of the phrases it would use for those categories
    (a fire department teaches "fire safety" and "cpr", not "restorative circles").
    """

    names: tuple[str, ...]
    main: tuple[str, ...]             # what it is known for: its main offering is one of these
    also: tuple[str, ...] = ()        # what else it plausibly gives
    phrases: tuple[str, ...] = ()     # the phrases it prefers within those categories
    weight: float = 1.0
    national: bool = False            # may work remotely, nationwide
    sessions: bool = True             # runs sessions (not a funder or a shop that gives things)


@dataclass(frozen=True)
class _Profile:
    """How one kind of partner type behaves: the kinds of organisation it covers, who they serve."""

    key: str
    type_words: tuple[str, ...]      # found in a type's slug/label/aliases
    kinds: tuple[_Kind, ...]
    names: tuple[str, ...]           # neutral names, for a taxonomy none of the kinds fits
    noun: str                        # "We are a {noun} based in {city}."
    weight: float
    grades: tuple[tuple[str, float], ...] = _PARTNER_GRADES
    avoid: tuple[str, ...] = ()      # categories with these words never fit, despite a keyword
    volunteers: bool = True          # works with volunteers (a clinic or an agency has staff)


# Category keywords used below (matched against category names, so any taxonomy works):
_FOOD = ("food", "nutrition")
_READING = ("reading",)
_SCIENCE = ("engineering", "robotics")
_PERFORMING = ("theater", "theatre", "dance", "performing")
_WORK = ("internship", "work-based", "cte", "apprentice")
_MONEY = ("financial", "money")

# First match wins, so specific kinds (library, university) come before broad ones (government).
# A type is matched on its slug and label first, and on its aliases only if those match nothing
# (aliases are broad: a nonprofit's may list "ymca", a government's "parks and recreation").
_PROFILES: tuple[_Profile, ...] = (
    _Profile(
        "library", ("librar",), (
            _Kind(("{city} Public Library, {place} Branch", "{place} Branch Library",
                   "{place} Public Library", "{place} Library"),
                  ("reading", "digital", "tutor", "early childhood", "english"),
                  ("family engagement", "after-school", "computer", "career", "college"),
                  ("book", "read", "library", "literacy", "story", "homework", "internet",
                   "hotspot", "digital", "computer", "esl", "english", "conversation", "ged",
                   "adult", "summer", "writing", "databases")),
        ), ("{place} Library",), "public library", 0.5, avoid=_MONEY),
    _Profile(
        "higher_education", ("universit", "college", "higher", "postsecondary", "academ"), (
            _Kind(("{place} State University", "University of {city} at {place}",
                   "{surname} University", "{surname} College"),
                  ("college", "research", "teacher", *_SCIENCE, "computer", "mentor"),
                  ("tutor", "math", "career", "internship", "arts", "english", "special education"),
                  weight=1.4, national=True),
            _Kind(("{place} Community College", "{city} College, {place} Campus"),
                  ("college", *_WORK, "career"),
                  ("tutor", "math", "computer", "family engagement", "english"),
                  weight=1.2),
            _Kind(("{place} Technical College", "{place} Institute of Technology"),
                  (*_WORK, "computer", "engineering"), ("career", "college", "math", "robotics")),
            _Kind(("{place} State University College of Education",
                   "{surname} School of Education"),
                  ("teacher", "research", "tutor"),
                  ("reading", "math", "special education", "english"),
                  weight=0.6, national=True),
        ), ("{place} College",), "college", 0.6,
        (("9-12", 0.35), ("6-12", 0.15), ("K-12", 0.20), ("11-12", 0.15), ("PK-12", 0.05),
         ("K-8", 0.05), ("6-8", 0.05))),
    _Profile(
        "health", ("health", "clinic", "hospital", "medical"), (
            _Kind(("{place} Community Health Center", "{place} Health Clinic",
                   "{place} Family Health Center"),
                  ("physical health", "health services", "mental"),
                  (*_FOOD, "substance", "family engagement"),
                  weight=1.4),
            _Kind(("{surname} Pediatrics", "{place} Pediatric Associates"),
                  ("physical health", "health services", "early childhood"), ("mental", "reading"),
                  phrases=("pediatric", "checkup", "check-up", "well-child", "vaccin", "immuniz",
                           "physical", "screening", "asthma", "reach out and read", "developmental",
                           "healthy", "health")),
            _Kind(("{city} Children's Hospital, {place} Campus", "{place} Medical Center"),
                  ("physical health", "health services", "mental"),
                  ("career", *_WORK, "special education", "substance"),
                  phrases=("health", "medical", "hospital", "nurs", "career", "pathway", "clinical",
                           "cpr", "first aid", "injury", "concussion", "therapy", "speech")),
            _Kind(("{place} Family Dental", "{surname} Dental Group", "{place} Smiles Dental"),
                  ("physical health", "health services"), (),
                  phrases=("dental", "dentist", "oral", "sealant", "fluoride", "tooth")),
            _Kind(("{place} Eye Care", "{surname} Optometry", "{place} Vision Center"),
                  ("physical health", "health services"), (),
                  phrases=("vision", "eye", "glasses"), weight=0.5),
            _Kind(("{place} Behavioral Health", "{place} Counseling Center",
                   "{place} Family Counseling Services"),
                  ("mental", "counsel", "substance"),
                  ("family engagement", "safety", "special education"),
                  weight=1.3, national=True),
            _Kind(("{place} County Health Department", "{city} Department of Public Health"),
                  ("physical health", "health services", "substance", "nutrition"), ("mental",),
                  phrases=("health", "vaccin", "immuniz", "screening", "prevention", "education",
                           "nutrition", "healthy", "lead", "dental", "vision", "hearing")),
        ), ("{place} Health",), "health provider", 0.9, volunteers=False),
    _Profile(
        "cultural", ("museum", "cultur", "arts", "theater", "theatre", "zoo", "orchestra"), (
            _Kind(("{city} Museum of Art", "{place} Art Museum", "{place} Arts Center"),
                  ("visual", "arts and culture", "field trip"), ("history",),
                  phrases=("art", "museum", "gallery", "exhibit", "paint", "draw", "sculpt",
                           "photograph", "ceramic", "cultur", "tour", "visit", "docent")),
            _Kind(("{place} Children's Museum", "{place} Discovery Center"),
                  ("field trip", "early childhood", "engineering"),
                  ("arts and culture", "family engagement"),
                  phrases=("museum", "exhibit", "play", "hands-on", "visit", "tinker", "maker",
                           "early", "family", "science")),
            _Kind(("{place} Science Center", "{city} Museum of Science", "{place} Planetarium"),
                  ("engineering", "field trip"),
                  ("environment", "math", "teacher", "computer"),
                  phrases=("science", "stem", "museum", "planetarium", "exhibit", "experiment",
                           "space", "astronomy", "maker", "robot", "visit", "engineering")),
            _Kind(("{city} Symphony Orchestra", "{place} Youth Orchestra", "{place} Music Academy",
                   "{place} Community Music School"),
                  ("music",), ("arts and culture", "field trip", "performing"),
                  phrases=("music", "orchestra", "symphony", "concert", "instrument", "string",
                           "band", "lesson", "choir", "ensemble", "jazz", "piano", "violin")),
            _Kind(("{place} Theater Company", "{place} Repertory Theatre", "{place} Playhouse"),
                  ("theater", "theatre", "performing"),
                  ("arts and culture", "field trip", "reading"),
                  phrases=("theat", "drama", "play", "acting", "stage", "matinee", "performance",
                           "improv", "costume", "set design", "script", "writing", "shakespeare")),
            _Kind(("{place} Dance Company", "{city} Ballet", "{place} Dance Theatre"),
                  ("dance", "performing"), ("arts and culture", "sport"),
                  phrases=("dance", "ballet", "choreograph", "movement", "folklorico", "step",
                           "tap", "hip hop", "performance", "recital")),
            _Kind(("{city} Zoo", "{place} Aquarium", "{place} Nature Center",
                   "{place} Botanical Garden"),
                  ("field trip", "environment", "outdoor"), ("engineering",),
                  phrases=("zoo", "aquarium", "nature", "animal", "wildlife", "garden", "botanic",
                           "conservation", "habitat", "ecolog", "marine", "outdoor", "plant",
                           "visit", "biology", "ocean", "bird")),
            _Kind(("{city} History Museum", "{place} Historical Society",
                   "{place} Heritage Center"),
                  ("history", "civic", "field trip"), ("arts and culture",),
                  phrases=("history", "historic", "heritage", "museum", "primary source",
                           "artifact", "exhibit", "civil rights", "visit", "tour", "oral")),
            _Kind(("{place} Arts Council", "{place} Arts Alliance",
                   "{place} Community Arts Center"),
                  ("arts and culture", "visual", "music", *_PERFORMING), ("fund", "after-school")),
        ), ("{place} Cultural Center",), "cultural institution", 0.7),
    _Profile(
        "foundation", ("foundation", "philanthrop", "funder", "grantmak"), (
            _Kind(("{place} Community Foundation", "{surname} Family Foundation",
                   "{surname} Charitable Trust", "{surname}-{surname2} Foundation"),
                  ("fund", "grant"), ("donation", "college"), weight=2.0, national=True,
                  sessions=False),
            _Kind(("{place} Education Foundation", "{city} Public Education Fund",
                   "{place} Schools Foundation"),
                  ("fund", "grant", "equipment", "donation"), ("teacher", "college"),
                  phrases=("grant", "fund", "supplies", "classroom", "teacher", "donation",
                           "materials", "sponsor", "matching", "stipend"), sessions=False),
            _Kind(("{surname} Scholarship Fund", "{place} Scholars Foundation"),
                  ("college",), ("fund", "grant"),
                  phrases=("scholarship", "financial aid", "college cost", "college afford",
                           "pell", "college savings", "student aid"),
                  weight=0.6, national=True, sessions=False),
        ), ("{place} Foundation",), "foundation", 0.5, volunteers=False),
    _Profile(
        "business", ("business", "company", "corporat", "employer", "firm", "industry"), (
            _Kind(("{place} Credit Union", "{place} Savings Bank", "{place} Community Bank",
                   "First National Bank of {place}"),
                  ("financial", "entrepreneur"), ("career", "fund", "volunteer", "college"),
                  phrases=("bank", "saving", "credit", "budget", "money", "financial", "finance",
                           "scholarship", "college savings", "sponsor", "entrepreneur",
                           "business")),
            _Kind(("{place} Software", "{surname} Technologies", "{place} Data Systems",
                   "{surname} Labs", "{place} Digital"),
                  ("computer", "digital", "equipment", "career"), (*_WORK, "math", "mentor"),
                  phrases=("coding", "code", "computer", "software", "laptop", "device", "tech",
                           "cyber", "web", "app", "ai", "data", "internet", "hotspot", "chromebook",
                           "tablet", "digital", "hackathon", "refurbished", "it "),
                  weight=1.3, national=True),
            _Kind(("{surname} & Co. Engineering", "{surname} Engineering Group",
                   "{place} Engineering Associates"),
                  ("engineering", "robotics", "career"), (*_WORK, "math", "mentor", "computer"),
                  phrases=("engineer", "robot", "stem", "design", "bridge", "circuit", "career",
                           "job shadow", "internship", "workplace", "math", "steam")),
            _Kind(("{place} Builders Inc.", "{surname} Construction",
                   "{surname} Brothers Contracting"),
                  (*_WORK, "career", "facilit"), ("volunteer", "equipment"),
                  phrases=("construction", "trades", "carpentry", "weld", "apprentice", "hvac",
                           "plumbing", "electrical", "osha", "renovation", "repair", "playground",
                           "building", "build day", "tools", "career", "job shadow", "site")),
            _Kind(("{surname} Manufacturing", "{place} Industries", "{place} Precision Products"),
                  (*_WORK, "career", "engineering"), ("equipment", "volunteer"),
                  phrases=("manufactur", "cnc", "machin", "weld", "apprentice", "mechatronics",
                           "plant tour", "industry", "career", "job shadow", "engineer", "robot")),
            _Kind(("{surname} & {surname2} LLP", "{surname} Law Group"),
                  ("civic", "law"), ("mentor", "career", "college"),
                  phrases=("law", "legal", "court", "trial", "rights", "justice", "constitution",
                           "debate", "judge", "civic", "mentor", "career")),
            _Kind(("{place} Grocers", "{surname}'s Market", "{place} Fresh Market"),
                  _FOOD, ("volunteer", "fund"),
                  phrases=("food drive", "food box", "free food", "healthy food", "produce",
                           "fruit", "vegetable", "snack", "meal", "grocer",
                           "nutrition", "cooking", "breakfast", "pantry", "drive", "healthy",
                           "sponsor", "donation"), sessions=False),
            _Kind(("{place} Power & Light", "{place} Water Company", "{place} Energy"),
                  ("environment", "sustainab", "engineering"), ("career", *_WORK),
                  phrases=("energy", "water", "solar", "conservation", "efficien", "renewable",
                           "electric", "recycl", "utility", "lineworker", "engineer", "stem"),
                  weight=0.6),
            _Kind(("{place} Sporting Goods", "{surname} Sports"),
                  ("sport", "recreation"), ("equipment", "volunteer", "fund"),
                  phrases=("equipment", "gear", "jersey", "uniform", "ball", "cleat", "helmet",
                           "bike", "coach"), weight=0.5,
                  sessions=False),
            _Kind(("{city} Chamber of Commerce, {place} Office", "{place} Business Association"),
                  ("career", *_WORK, "entrepreneur"), ("mentor", "volunteer", "financial"),
                  weight=0.7),
            _Kind(("{place} Creative", "{surname} Design Studio", "{place} Media Group"),
                  ("visual", "career", "entrepreneur"), (*_WORK, "computer"),
                  phrases=("design", "graphic", "media", "photo", "film", "video", "animation",
                           "podcast", "marketing", "advertising", "brand", "career", "internship"),
                  weight=0.5),
            _Kind(("{surname} Consulting Group", "{place} Analytics"),
                  ("research", "evaluation"), ("career", "mentor", "teacher"), weight=0.4,
                  national=True),
            _Kind(("{place} Charter Coach", "{place} Transit Lines", "{surname} Bus Company"),
                  ("transport",), ("career",), weight=0.4, sessions=False),
        ), ("{surname} Group",), "business", 1.6),
    _Profile(
        "community", ("community", "faith", "church", "religio", "congregation", "civic",
                      "neighborhood", "grassroots"), (
            _Kind(("{place} Community Church", "St. {saint} Parish", "{place} Interfaith Council",
                   "{place} Baptist Church", "{place} Islamic Center", "{place} Methodist Church"),
                  (*_FOOD, "basic need", "housing", "tutor", "mentor"),
                  ("volunteer", "family engagement", "after-school", "english"), weight=1.5,
                  phrases=("food", "pantry", "meal", "backpack", "coat", "cloth", "shoes",
                           "uniform", "hygiene", "toy", "holiday", "homework", "tutoring", "mentor",
                           "volunteer", "drive", "donation", "snack", "breakfast", "supper")),
            _Kind(("{place} Rotary Club", "{place} Kiwanis Club", "{place} Optimist Club"),
                  ("volunteer", "reading", "fund", "leadership"), ("equipment", "college"),
                  phrases=("volunteer", "service", "dictionar", "book", "read", "grant",
                           "scholarship", "sponsor", "interact", "key club", "leadership",
                           "supplies", "drive", "day of service")),
            _Kind(("{place} Lions Club",),
                  ("physical health", "health services", "volunteer"), ("reading", "fund"),
                  phrases=("vision", "eye", "glasses", "hearing", "screening", "volunteer",
                           "service", "book", "read", "scholarship"), weight=0.4),
            _Kind(("{place} Neighborhood Association", "{place} Community Association",
                   "{place} Block Club"),
                  ("volunteer", "environment", "safety"), ("family engagement", "facilit"),
                  phrases=("volunteer", "cleanup", "clean-up", "garden", "tree", "beautification",
                           "safe passage", "safety", "crossing", "mural", "community", "service")),
            _Kind(("{place} Community Center", "{place} Neighborhood House",
                   "{place} Settlement House"),
                  ("after-school", "summer", "family engagement", "english", "sport"),
                  ("food", "facilit", "tutor", "adult learning")),
            _Kind(("{place} PTA", "{place} Parent Network", "{place} Parents Council"),
                  ("volunteer", "family engagement", "fund"), ("equipment", "after-school"),
                  phrases=("volunteer", "parent", "family", "fundrais", "bake sale", "supplies",
                           "drive", "grant", "night", "event")),
            _Kind(("{place} American Legion Post", "{place} VFW Post"),
                  ("civic", "history", "leadership"), ("volunteer", "college"),
                  phrases=("veteran", "history", "flag", "memorial", "civic", "constitution",
                           "boys state", "girls state", "leadership", "scholarship", "oratory",
                           "american"), weight=0.4),
            _Kind(("{city} Retired Teachers Association", "{place} Senior Center"),
                  ("tutor", "reading", "volunteer"), ("mentor",), weight=0.5),
        ), ("{place} Community Group",), "community organization", 0.9),
    _Profile(
        "youth", ("youth", "club", "sport", "recreation", "ymca", "scout"), (
            _Kind(("{place} YMCA", "Boys & Girls Club of {place}", "{place} Youth Center"),
                  ("after-school", "summer", "sport", "leadership"), ("mentor", "tutor", *_FOOD)),
            _Kind(("{place} Youth Soccer League", "{place} Little League", "{place} Running Club"),
                  ("sport", "recreation"), ("leadership", "after-school", "mentor")),
            _Kind(("{place} Scouts Council", "{place} 4-H Club"),
                  ("leadership", "outdoor", "environment"), ("after-school", "volunteer")),
        ), ("{place} Youth Club",), "youth organization", 0.6),
    _Profile(
        "government", ("government", "agency", "municipal", "city", "county", "public", "state"), (
            _Kind(("{place} Parks and Recreation", "{place} Parks Department",
                   "{place} Recreation Center"),
                  ("sport", "recreation", "after-school", "summer", "outdoor", "environment",
                   "facilit"), ("field trip", "volunteer"), weight=1.5,
                  phrases=("park", "recreation", "rec ", "league", "sports", "swim", "pool",
                           "field", "gym", "camp", "summer", "after-school", "after school",
                           "nature", "outdoor", "trail", "hiking", "fitness", "tennis", "soccer",
                           "basketball", "space", "program")),
            _Kind(("{city} Fire Department, Station {num}", "{place} Fire Rescue",
                   "{place} Fire District"),
                  ("safety", "physical health", "health services", "career"), (*_WORK,),
                  phrases=("fire", "emergency", "cpr", "first aid", "aed", "stop the bleed",
                           "injury prevention", "water safety", "firefighter", "emt", "career day",
                           "career fair", "safety plan", "drill")),
            _Kind(("{city} Police Department, {place} Precinct", "{place} County Sheriff's Office"),
                  ("safety", "violence", "substance"), ("mentor", "career", "civic"),
                  phrases=("safety", "police", "law enforcement", "resource officer",
                           "gang prevention", "violence prevention", "internet", "predator",
                           "stranger danger", "personal safety", "bike safety", "drug",
                           "d.a.r.e", "dare", "alcohol", "vaping prevention", "mentor", "career",
                           "know your rights", "youth court", "teen court")),
            _Kind(("{city} Police Athletic League, {place} Chapter",),
                  ("sport", "recreation", "mentor"), ("safety", "after-school", "leadership"),
                  weight=0.5),
            _Kind(("{city} Housing Authority, {place} Office", "{place} Housing Authority"),
                  ("basic need", "housing", "family engagement"), ("after-school", "financial"),
                  phrases=("housing", "rent", "shelter", "eviction", "utility", "family",
                           "resource", "case management", "benefits"), weight=0.6),
            _Kind(("{place} County Department of Human Services",
                   "{place} County Office of Family Services"),
                  ("basic need", "housing", *_FOOD, "family engagement"),
                  ("early childhood", "mental"),
                  phrases=("snap", "ebt", "wic", "benefit", "food", "meal", "housing",
                           "assistance", "case management", "family", "child care", "emergency",
                           "utility", "resource", "foster", "kinship", "services")),
            _Kind(("{place} County Extension Office", "{place} County 4-H"),
                  (*_FOOD, "environment", "leadership"), ("financial", "family engagement"),
                  phrases=("nutrition", "cooking", "healthy", "garden", "farm", "4-h", "agricult",
                           "leadership", "science", "snap", "food", "plants")),
            _Kind(("{place} Transit Authority", "{place} County Transit"),
                  ("transport",), ("safety", "career"), weight=0.5),
            _Kind(("{place} Workforce Development Board", "{place} American Job Center"),
                  (*_WORK, "career"), ("financial", "adult learning"),
                  phrases=("summer job", "youth employment", "job", "work", "career",
                           "apprentice", "internship", "resume", "interview", "workforce")),
            _Kind(("{place} County Board of Elections", "{place} County Juvenile Court",
                   "{place} County Clerk's Office"),
                  ("civic", "law"), ("leadership", "safety"), weight=0.5,
                  phrases=("vot", "election", "poll", "court", "civic", "government", "law",
                           "rights", "mock trial", "know your rights", "citizenship")),
            _Kind(("{place} Office of Youth Services", "{place} Youth Commission"),
                  ("after-school", "summer", "attendance", "mentor", "leadership"),
                  ("sport", "career", "mental")),
            _Kind(("{place} Public Works", "{place} Soil and Water Conservation District",
                   "{place} Water Department"),
                  ("environment", "sustainab"), ("career", "field trip"),
                  phrases=("water", "recycl", "compost", "waste", "stormwater", "watershed",
                           "conservation", "tree", "rain", "energy", "litter", "cleanup",
                           "environment"), weight=0.6),
        ), ("{place} Public Office",), "public agency", 0.8, volunteers=False),
    _Profile(
        "volunteer", ("volunteer", "individual", "parent", "retire"), (
            _Kind(("{place} Volunteer Corps", "{surname} Volunteer Group"),
                  ("volunteer", "tutor", "mentor"), ("reading",)),
            _Kind(("{city} Retired Teachers Association", "{place} Parent Network"),
                  ("tutor", "reading", "volunteer"), ("mentor", "family engagement")),
        ), ("{place} Volunteers",), "volunteer group", 0.5, avoid=_MONEY),
    _Profile(
        "nonprofit", ("nonprofit", "non-profit", "non profit", "charit", "ngo"), (
            _Kind(("{surname} Tutoring Collective", "{place} Learning Center", "{place} Tutors",
                   "{place} Homework Club"),
                  ("tutor", "math", "reading"),
                  ("college", "english", "after-school", "mentor", "special education"),
                  weight=1.4, national=True),
            _Kind(("{place} Food Bank", "{place} Food Pantry", "Harvest {place}",
                   "{place} Community Kitchen", "{place} Food Rescue"),
                  _FOOD, ("basic need", "family engagement", "volunteer"), weight=1.1,
                  phrases=("food", "pantry", "meal", "backpack", "snack", "produce", "fruit",
                           "vegetable", "groceri", "breakfast", "supper", "nutrition", "cooking",
                           "snap", "drive", "holiday", "fridge", "distribution", "box", "bag")),
            _Kind(("{place} Mentoring Network", "{place} Mentors", "{place} Mentoring Partnership"),
                  ("mentor",), ("leadership", "career", "college", "tutor", "attendance"),
                  weight=1.2, national=True),
            _Kind(("{place} Literacy Council", "{place} Book Project", "{place} Reads",
                   "Books for {place} Kids"),
                  _READING,
                  ("early childhood", "family engagement", "english", "tutor", "volunteer"),
                  national=True),
            _Kind(("{place} Family Resource Center", "{place} Family Services",
                   "{place} Family Alliance"),
                  ("family engagement", "basic need", "early childhood"),
                  ("food", "english", "mental", "financial")),
            _Kind(("{place} Youth Alliance", "Boys & Girls Club of {place}", "{place} YMCA",
                   "{place} Youth Center"),
                  ("after-school", "summer", "sport", "recreation", "leadership"),
                  ("mentor", "tutor", *_FOOD, "arts and culture"), weight=1.2),
            _Kind(("{place} College Access Network", "{place} Scholars", "First Gen {place}",
                   "{place} College Bound"),
                  ("college",), ("mentor", "career", "financial", "tutor"), national=True),
            _Kind(("{place} STEM Collaborative", "Code {place}", "{place} Robotics League",
                   "{place} Maker Lab"),
                  ("computer", "engineering", "robotics", "math"),
                  ("after-school", "mentor", "teacher"),
                  national=True),
            _Kind(("{place} Immigrant Services", "{place} Refugee Services",
                   "{place} Welcome Center"),
                  ("english", "family engagement"),
                  ("basic need", "tutor", "civic", "adult learning"),
                  weight=0.6),
            _Kind(("{place} Youth Counseling Services", "{place} Center for Grief and Healing",
                   "{place} Family Counseling"),
                  ("mental", "counsel", "substance"), ("family engagement", "safety"), weight=0.6,
                  national=True),
            _Kind(("{place} Conservancy", "{place} Watershed Council", "{place} Garden Project",
                   "{place} Audubon Society"),
                  ("environment", "outdoor", "sustainab"), ("field trip", "volunteer"),
                  weight=0.6),
            _Kind(("{place} Young Artists", "{place} Youth Arts Project",
                   "{place} Arts Collective"),
                  ("arts and culture", "visual", "music", *_PERFORMING), ("after-school",),
                  weight=0.4),
            _Kind(("{place} Music Project", "{place} Youth Orchestra",
                   "{place} Community Music School"),
                  ("music",), ("arts and culture", "after-school"), weight=0.3),
            _Kind(("{place} Youth Theater", "{place} Youth Dance Project"),
                  _PERFORMING, ("arts and culture", "reading", "after-school"), weight=0.3),
            _Kind(("{place} Early Learning Coalition", "{place} Child Development Center",
                   "{place} Head Start"),
                  ("early childhood", "kindergarten"),
                  ("family engagement", "reading", "special education"),
                  weight=0.6),
            _Kind(("{place} Disability Network", "{place} Inclusion Project",
                   "{place} Center for Independent Living"),
                  ("special education", "inclusion"),
                  ("family engagement", "sport", "mental"), weight=0.8),
            _Kind(("{place} Young Entrepreneurs", "{place} Youth Economic Alliance"),
                  ("financial", "entrepreneur"), ("career", "college"), weight=0.4, national=True),
            _Kind(("{place} Peace Project", "{place} Center for Restorative Practice",
                   "{place} Youth Violence Prevention Network"),
                  ("safety", "violence"), ("mentor", "mental", "leadership"), weight=0.5),
            _Kind(("{place} Graduation Coalition", "{place} Youth Reengagement Center",
                   "Every Student Present {place}"),
                  ("attendance", "dropout"),
                  ("mentor", "family engagement", "tutor", "college"), weight=0.7),
            _Kind(("{place} Clothing Closet", "{place} Family Shelter", "{place} Housing Alliance",
                   "Coats for {place} Kids"),
                  ("basic need", "housing"), ("food", "family engagement"), weight=0.6),
            _Kind(("{place} Volunteer Corps", "{place} Service Corps", "{place} Cares"),
                  ("volunteer",), ("tutor", "mentor", "reading", "environment"), weight=0.5),
            _Kind(("{place} Youth Civic League", "{place} Center for Civic Education",
                   "{place} Youth Court"),
                  ("civic", "law", "history"), ("leadership", "college"), weight=0.4),
            _Kind(("{place} Prevention Coalition", "{place} Drug-Free Youth Coalition"),
                  ("substance",), ("mental", "leadership"), weight=0.4),
            _Kind(("{place} Teacher Center", "{place} Educator Collaborative",
                   "{place} Teaching Fellows"),
                  ("teacher",), ("research", "math", "reading"), weight=0.4, national=True),
            _Kind(("{place} Youth Leadership Institute", "{place} Scouts Council"),
                  ("leadership", "character"), ("after-school", "outdoor", "mentor"), weight=0.5),
            _Kind(("{place} Youth Sports Alliance", "{place} Youth Soccer League",
                   "{place} Running Club"),
                  ("sport", "recreation"), ("leadership", "after-school", "mentor"), weight=0.5),
            _Kind(("Friends of {place} Schools",),
                  ("fund", "volunteer", "equipment"), ("family engagement",), weight=0.4),
        ), ("{place} Youth Alliance",), "nonprofit", 1.8),
)
_FALLBACK_PROFILE = _Profile("other", (), (), ("{place} {label}", "{surname} {label} Group"),
                             "", 0.5)
#: Offerings any organisation may add to its own (staff who volunteer or mentor, a career day,
#: a donation drive): a share of partners' extra offerings come from these.
GENERAL_OFFER_WORDS: tuple[str, ...] = ("volunteer", "mentor", "career", "donation")
_GENERAL_SHARE = 0.15
#: Offerings of adults' work at school rather than of students' activities: teacher development
#: goes to teachers, research, funding and facilities to the school. Sentences about students or
#: families ("for K-5 students", "to students and families") are not used for them.
STAFF_AUDIENCE_WORDS: tuple[str, ...] = ("teacher", "professional development", "staff")
SCHOOL_AUDIENCE_WORDS: tuple[str, ...] = ("research", "evaluation", "fund", "grant", "facilit")
#: Offerings for families rather than students ("parent workshops"): no "for K-5 students".
FAMILY_AUDIENCE_WORDS: tuple[str, ...] = ("family engagement", "adult learning", "parent")


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
_BIT_SESSION, _BIT_REMOTE, _BIT_REMOTE_OK, _BIT_SAY_ONLINE = 1, 2, 4, 8
_BIT_STUDENTS, _BIT_YOUNG, _BIT_STAFF = 16, 32, 64
_BIT_PROBLEM, _BIT_PEOPLE, _BIT_TOPIC, _BIT_ONLINE_WORD = 128, 256, 512, 1024
_BIT_VOLUNTEERS, _BIT_PROVIDER, _BIT_PLURAL = 2048, 4096, 8192
_N_CODES = 16384


def _flag_fits(flag: str, code: np.ndarray) -> np.ndarray:
    """Which row codes a template flag allows."""
    has = lambda bit: (code & bit) != 0  # noqa: E731
    return {
        "session": has(_BIT_SESSION), "goods": ~has(_BIT_SESSION), "local": ~has(_BIT_REMOTE),
        "online": has(_BIT_REMOTE) & ~has(_BIT_ONLINE_WORD),
        "hybrid": ~has(_BIT_REMOTE) & has(_BIT_REMOTE_OK) & ~has(_BIT_ONLINE_WORD),
        "students": has(_BIT_STUDENTS), "young": has(_BIT_YOUNG), "staff": has(_BIT_STAFF),
        "problem": has(_BIT_PROBLEM) & ~has(_BIT_PEOPLE),
        "recipients": has(_BIT_PEOPLE) & has(_BIT_PLURAL) & ~has(_BIT_PROVIDER),
        "offer": ~has(_BIT_PROBLEM) & ~has(_BIT_PEOPLE), "nonpeople": ~has(_BIT_PEOPLE),
        "service": ~has(_BIT_TOPIC | _BIT_PROBLEM | _BIT_PEOPLE),
        "volunteers": has(_BIT_VOLUNTEERS),
    }[flag]


_NEED_MAIN: tuple[tuple[str, str], ...] = (
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
_NEED_MORE: tuple[tuple[str, str], ...] = (
    ("We are also looking for {p}.", "offer"),
    ("Our counselors mention {p} often.", ""),
    ("Help with {p} would make a big difference.", ""),
    ("We still struggle with {p}.", "problem"),
)
_NEED_SECONDARY: tuple[tuple[str, str], ...] = (
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
_NEED_CONTEXT = (
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
_NEED_CLOSING: tuple[tuple[str, str], ...] = (
    ("Thank you!", ""),
    ("Please reach out to our front office.", ""),
    ("Any help is appreciated.", ""),
    ("We can host sessions after school.", "session"),
    ("Contact our principal to learn more.", ""),
    ("We are flexible on scheduling.", ""),
)
_OFFER_MAIN: tuple[tuple[str, str], ...] = (
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
_OFFER_SECONDARY: tuple[tuple[str, str], ...] = (
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
_OFFER_CONTEXT: tuple[tuple[str, str], ...] = (
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
_OFFER_CLOSING: tuple[tuple[str, str], ...] = (
    ("Contact us to schedule a visit.", "local"),
    ("Email us to get started.", ""),
    ("Space is limited.", "session"),
    ("Sessions are available online.", "session online"),
    ("We welcome new school partners.", ""),
    ("We work with schools anywhere in the country.", "online"),
)
_SLOT = re.compile(r"\{(\w+)\}")

# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


@dataclass
class Dataset:
    """The three generated tables, in the data contract's column order.

    Attributes
    ----------
    schools : pandas.DataFrame
        Columns :data:`SCHOOL_COLUMNS`.
    partners : pandas.DataFrame
        Columns :data:`PARTNER_COLUMNS`.
    partnerships : pandas.DataFrame
        Columns :data:`PARTNERSHIP_COLUMNS`, sorted by ``start_date``.
    """

    schools: pd.DataFrame
    partners: pd.DataFrame
    partnerships: pd.DataFrame

    def __repr__(self) -> str:  # the default would print three whole tables
        return (f"Dataset(schools={len(self.schools)}, partners={len(self.partners)}, "
                f"partnerships={len(self.partnerships)})")


def generate(
    n_schools: int,
    n_partners: int,
    seed: int = 0,
    roster: str | Path | None = None,
    n_partnerships: int | None = None,
    *,
    taxonomy: Taxonomy | None = None,
) -> Dataset:
    """Generate synthetic schools, partners and partnership history.

    Parameters
    ----------
    n_schools, n_partners : int
        Table sizes (exact; 0 gives an empty table with the right columns).
    seed : int, default 0
        Seed; the same seed (and roster and taxonomy) gives identical tables.
        Without a roster, schools and partners sit around the largest US metros,
        about one metro per 100 rows of the smaller table (3 to 29), so small
        samples still have partners to choose from nearby. Beyond that, schools
        do not depend on ``n_partners`` and partners not on ``n_schools``.
    roster : str or Path, optional
        CSV of real schools (columns ``name, city, latitude, longitude, level,
        enrollment, st_grade, end_grade``, as in the NCES-based Florida file).
        Schools then take real names, locations, grade spans and enrollment
        (rows are reused with a numeric name suffix and a small location jitter
        when ``n_schools`` exceeds the roster), and partners cluster around
        the roster's locations instead of the built-in metros.
    n_partnerships : int, optional
        Partnerships to draw. Default: about 10 per school, at most 20 per
        partner and 2,000,000 in all. Fewer are drawn only when schools do
        not have enough feasible partners.
    taxonomy : Taxonomy, optional
        Categories and partner types to use; default :func:`load_taxonomy`.

    Returns
    -------
    Dataset

    Raises
    ------
    ValueError
        A negative size.
    DataError
        A roster that is missing, unreadable, lacks a column or has bad values.

    Examples
    --------
    >>> data = generate(30, 20, seed=1)
    >>> len(data.schools), len(data.partners)
    (30, 20)
    >>> data.schools["school_id"].iloc[0]
    'S000001'
    >>> set(data.partnerships["outcome"]) <= {0, 1}
    True
    """
    for name, value in (("n_schools", n_schools), ("n_partners", n_partners)):
        if int(value) != value or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if n_partnerships is not None and (int(n_partnerships) != n_partnerships or n_partnerships < 0):
        raise ValueError(f"n_partnerships must be a non-negative integer, got {n_partnerships!r}")
    n_schools, n_partners = int(n_schools), int(n_partners)
    tax = taxonomy if taxonomy is not None else load_taxonomy()
    if not tax.categories or not tax.partner_types:
        raise ValueError("the taxonomy needs at least one category and one partner type")
    ros = _load_roster(Path(roster)) if roster is not None else None

    # Independent streams, so schools do not change when only n_partners does (and vice versa).
    seq = np.random.SeedSequence(int(seed))
    pop_rng, school_rng, partner_rng, link_rng = (np.random.default_rng(s) for s in seq.spawn(4))

    world = _World.build(tax, pop_rng)
    n_metros = _metro_count(n_schools, n_partners)
    schools, s_truth = _make_schools(n_schools, world, ros, n_metros, school_rng)
    partners, p_truth = _make_partners(n_partners, world, ros, n_metros, partner_rng)
    if n_partnerships is None:
        n_partnerships = _default_partnerships(n_schools, n_partners)
    links = _draw_partnerships(s_truth, p_truth, int(n_partnerships), link_rng)
    partnerships = pd.DataFrame({
        "school_id": schools["school_id"].to_numpy()[links.school],
        "partner_id": partners["partner_id"].to_numpy()[links.partner],
        "outcome": links.outcome,
        "start_date": links.start_date,
    }, columns=list(PARTNERSHIP_COLUMNS))
    return Dataset(schools=schools, partners=partners, partnerships=partnerships)


def write_dataset(data: Dataset, out_dir: str | Path) -> dict[str, Path]:
    """Write ``schools.csv``, ``partners.csv`` and ``partnerships.csv`` atomically.

    Each file is first written to a temporary file in ``out_dir`` and then
    moved into place with :func:`os.replace`, so a reader never sees a
    half-written file and an interrupted run leaves the old files intact.

    Parameters
    ----------
    data : Dataset
    out_dir : str or Path
        Created (with parents) if missing.

    Returns
    -------
    dict of str to Path
        ``{"schools": ..., "partners": ..., "partnerships": ...}``.

    Examples
    --------
    >>> import tempfile
    >>> paths = write_dataset(generate(5, 5), tempfile.mkdtemp())
    >>> sorted(p.name for p in paths.values())
    ['partners.csv', 'partnerships.csv', 'schools.csv']
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = {
        "schools": _for_csv(data.schools),
        "partners": _for_csv(data.partners),
        "partnerships": _for_csv(data.partnerships),
    }
    # Write every temp file before replacing any, so the three files change together
    # as closely as the filesystem allows.
    temps: dict[str, Path] = {}
    try:
        for key, frame in tables.items():
            # Not mkstemp: its 0600 mode would survive os.replace; "x" mode honours the umask.
            tmp = out / f".{key}.csv.{os.getpid()}.{secrets.token_hex(4)}.tmp"
            temps[key] = tmp
            with open(tmp, "x", encoding="utf-8", newline="") as fh:
                frame.to_csv(fh, index=False, lineterminator="\n")
                fh.flush()
                os.fsync(fh.fileno())
        paths: dict[str, Path] = {}
        for key, tmp in temps.items():
            paths[key] = out / f"{key}.csv"
            os.replace(tmp, paths[key])
        return paths
    finally:
        for tmp in temps.values():
            if tmp.exists():
                tmp.unlink()


# ---------------------------------------------------------------------------
# Taxonomy-derived world: popularity, type <-> category affinities, phrases
# ---------------------------------------------------------------------------


def _words_hit(text: str, words: tuple[str, ...]) -> bool:
    """True if any word starts a word in ``text``."""
    return any(re.search(r"(?<![a-z])" + re.escape(w), text) for w in words)


def _category_name(cat: Category) -> str:
    """Lower-case slug, label and short name of a category (what it is *called*)."""
    return " ".join((cat.slug.replace("_", " "), cat.label, cat.short)).lower()


def _keyword_mask(tax: Taxonomy, words: tuple[str, ...]) -> np.ndarray:
    """Boolean per category: does any keyword occur in its name."""
    return np.array([_words_hit(_category_name(c), words) for c in tax.categories], dtype=bool)


def _word_regex(words: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern for whole words or phrases; a trailing ``*`` allows any ending."""
    alts = [re.escape(w[:-1]) if w.endswith("*") else re.escape(w) + r"(?![a-z0-9])"
            for w in words]
    return re.compile(r"(?<![a-z0-9])(?:" + "|".join(alts) + ")")


def _category_bands(tax: Taxonomy) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest grade (GRADE_LEVELS positions) each category makes sense for."""
    lo = np.zeros(len(tax.categories), np.int8)
    hi = np.full(len(tax.categories), len(GRADE_LEVELS) - 1, np.int8)
    assigned = np.zeros(len(tax.categories), dtype=bool)
    for band, words in CATEGORY_GRADE_RULES:
        hit = _keyword_mask(tax, words) & ~assigned
        lo[hit], hi[hit] = _parse_band(band)
        assigned |= hit
    return lo, hi


def _remote_mask(tax: Taxonomy) -> np.ndarray:
    """Boolean per category: can it be delivered remotely."""
    return _keyword_mask(tax, REMOTE_WORDS) & ~_keyword_mask(tax, IN_PERSON_WORDS)


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
    lo, hi = _category_bands(tax)
    return dict(zip(tax.category_slugs, _band_text(lo, hi)))


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
    return tuple(s for s, ok in zip(tax.category_slugs, _remote_mask(tax)) if ok)


def _term_regex(words: tuple[str, ...], at_end: bool = False) -> re.Pattern[str]:
    """Whole words or phrases (a hyphenated word is one word); ``*`` allows any start or ending.
    With ``at_end`` the match must end the text."""
    alts = []
    for w in words:
        core = re.escape(w.strip("*"))
        if w.startswith("*"):
            core = "[a-z0-9-]+" + core
        if w.endswith("*"):
            core += "[a-z0-9-]*"
        alts.append(core)
    return re.compile(r"(?<![a-z0-9-])(?:" + "|".join(alts) + ")"
                      + ("$" if at_end else r"(?![a-z0-9-])"))


_PREPOSITION = re.compile(r" (?:for|with|to|in|at|of|on|from|by|about) ")


@lru_cache(maxsize=1)
def _role_patterns() -> tuple[re.Pattern[str], ...]:
    """Compiled :data:`ACTION_STARTS`, people, problem, service, other, topic and provider
    patterns."""
    action = re.compile(r"^(?:" + "|".join(re.escape(w) for w in ACTION_STARTS) + r")(?![a-z0-9-])")
    return (action, _term_regex(PEOPLE_WORDS + PROVIDER_WORDS, at_end=True),
            _term_regex(PROBLEM_WORDS), _term_regex(SERVICE_WORDS),
            _term_regex(OTHER_WORDS, at_end=True), _term_regex(TOPIC_WORDS, at_end=True),
            _term_regex(PROVIDER_WORDS, at_end=True))


def phrase_role(phrase: str) -> str:
    """What a taxonomy phrase says, as the generator uses it.

    Partners' offerings are worded only with ``"offer"`` phrases (a service,
    a thing, an activity); schools' needs with ``"offer"``, ``"problem"`` (a
    symptom, condition or outcome: :data:`PROBLEM_WORDS`, unless the phrase
    also names a service, :data:`SERVICE_WORDS`) and ``"people"`` phrases
    (who is served: :data:`PEOPLE_WORDS`, by the phrase's last word before
    any "for", "with", "in" ...). ``"other"`` phrases (descriptions,
    organisations, traits, actions: :data:`OTHER_WORDS`, :data:`ACTION_STARTS`)
    are used by neither.

    Parameters
    ----------
    phrase : str
        A lower-case phrase.

    Returns
    -------
    str
        ``"offer"``, ``"problem"``, ``"people"`` or ``"other"``.

    Examples
    --------
    >>> [phrase_role(p) for p in ("food pantry", "hungry", "failing grades", "dropout prevention")]
    ['offer', 'problem', 'problem', 'offer']
    >>> [phrase_role(p) for p in ("beginning teachers", "english learners", "therapeutic")]
    ['people', 'people', 'other']
    """
    action, people, problem, service, other, _, _ = _role_patterns()
    text = phrase.strip().lower()
    core = _PREPOSITION.split(text)[0]
    if action.search(text):
        return "other"
    if people.search(core):
        return "people"
    if problem.search(text) and not service.search(text):
        return "problem"
    if other.search(core):
        return "other"
    return "offer"


def _display(phrases: list[str]) -> list[str]:
    """Phrases as people write them: acronyms in capitals, some names capitalised."""
    rx = _term_regex(tuple(sorted(DISPLAY_WORDS, key=len, reverse=True)))
    return [rx.sub(lambda m: DISPLAY_WORDS[m.group(0)], p) for p in phrases]


def _profile_for(ptype: PartnerType) -> _Profile:
    """The profile of a partner type: by slug and label, else by aliases, else the fallback."""
    for texts in ((ptype.slug.replace("_", " "), ptype.label), ptype.aliases):
        text = " ".join(texts).lower()
        for prof in _PROFILES:
            if _words_hit(text, prof.type_words):
                return prof
    return _FALLBACK_PROFILE


def _ranked_fit(tax: Taxonomy, words: tuple[str, ...], avoid: np.ndarray) -> np.ndarray:
    """Per category: 1 for the first category the keywords name, less for each later one, 0 if
    none names it (or it is avoided)."""
    fit = np.zeros(len(tax.categories))
    rank = 0
    for w in words:
        hit = _keyword_mask(tax, (w,)) & (fit == 0) & ~avoid
        if hit.any():
            fit[hit] = 1.0 / (1.0 + 0.5 * rank)
            rank += 1
    return fit


def _audience(tax: Taxonomy) -> np.ndarray:
    """Per category: who it is for, 0 students, 1 families, 2 teachers and staff, 3 the school."""
    out = np.zeros(len(tax.categories), np.int8)
    for code, words in ((3, SCHOOL_AUDIENCE_WORDS), (2, STAFF_AUDIENCE_WORDS),
                        (1, FAMILY_AUDIENCE_WORDS)):
        out[_keyword_mask(tax, words) & (out == 0)] = code
    return out


@dataclass
class _Kinds:
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
    def build(cls, tax: Taxonomy, profiles: list[_Profile], popularity: np.ndarray,
              remote_ok: np.ndarray) -> _Kinds:
        """Kinds whose main offering the taxonomy has; a type with none gets one neutral kind
        that may offer anything."""
        K = len(tax.categories)
        weight_by_demand = np.sqrt(popularity)
        type_of, prior, main, offer, names, phrases, national, sessions = ([] for _ in range(8))
        for t, prof in enumerate(profiles):
            avoid = _keyword_mask(tax, prof.avoid) if prof.avoid else np.zeros(K, dtype=bool)
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
class _World:
    """Everything derived from the taxonomy once per call."""

    tax: Taxonomy
    n_cat: int
    popularity: np.ndarray             # (K,) demand popularity of each category
    type_profiles: tuple[_Profile, ...]
    type_weight: np.ndarray            # (T,) how common each partner type is
    kinds: _Kinds                      # kinds of organisation per type, what they offer
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
    text_bits: np.ndarray              # (positions,) what each phrase says (_BIT_* flags)
    text_start: np.ndarray             # (3, G, L) first table position of each list
    text_count: np.ndarray             # (3, G, L) list lengths (>= 1)
    kind_list: np.ndarray              # (N kinds, K) list of a kind's phrases of a category
    slug: np.ndarray                   # (K+1,) slugs, "" at index K (= no category)
    slug_sep: np.ndarray               # (K+1,) ";slug", "" at index K
    level_boost: np.ndarray            # (levels, K) multiplicative boost
    poverty_boost: np.ndarray          # (K,)

    @classmethod
    def build(cls, tax: Taxonomy, rng: np.random.Generator) -> _World:
        """Derive popularity, kinds, affinities and phrase tables from the taxonomy."""
        K, T = len(tax.categories), len(tax.partner_types)
        # Some needs are far more common than others; the spread is seeded.
        popularity = rng.gamma(1.5, 1.0, K) + 0.05
        popularity /= popularity.sum()

        profiles = [_profile_for(t) for t in tax.partner_types]
        type_weight = np.array([p.weight for p in profiles])
        type_weight /= type_weight.sum()
        remote_ok = _remote_mask(tax)
        kinds = _Kinds.build(tax, profiles, popularity, remote_ok)
        # P(type | need) for schools that state preferred partner types, from what each type's
        # kinds offer.
        type_cat = np.zeros((T, K))
        np.add.at(type_cat, kinds.type_of,
                  kinds.prior[0][:, None] * (kinds.main[0] + kinds.offer[0]) / 2)
        joint = type_cat * type_weight[:, None]
        p_type_given_cat = (joint / np.maximum(joint.sum(axis=0, keepdims=True), 1e-300)).T
        cat_type_cdf = np.cumsum(p_type_given_cat, axis=1)
        cat_type_cdf[:, -1] = 1.0
        general = popularity * np.where(_keyword_mask(tax, GENERAL_OFFER_WORDS).any(),
                                        _keyword_mask(tax, GENERAL_OFFER_WORDS), 1.0)
        general = np.stack([general, general * remote_ok])

        p_remote = kinds.p_remote
        for _ in range(20):  # scale to REMOTE_SHARE overall, no type above _MAX_REMOTE
            mean = float(type_weight @ p_remote)
            if mean <= 0:
                break
            p_remote = np.minimum(p_remote * (REMOTE_SHARE / mean), _MAX_REMOTE)
        cat_lo, cat_hi = _category_bands(tax)
        text, text_cap, bits, text_start, text_count, kind_list = _phrase_tables(
            tax, cat_lo, cat_hi, kinds, kinds.offer[0] > 0)
        slugs = [c.slug for c in tax.categories]
        # "Financial literacy" is not an early-reading need, whatever the word "literacy" says.
        money = _keyword_mask(tax, ("financial", "money"))
        level_boost = np.stack([np.where(_keyword_mask(tax, w) & ~(money & (lv != 2)), 3.0, 1.0)
                                for lv, w in enumerate(_LEVEL_NEED_WORDS)])
        poverty_boost = np.where(_keyword_mask(tax, _POVERTY_NEED_WORDS), 1.0, 0.0)
        return cls(
            tax=tax, n_cat=K, popularity=popularity, type_profiles=tuple(profiles),
            type_weight=type_weight, kinds=kinds, general=general, cat_type_cdf=cat_type_cdf,
            cat_lo=cat_lo, cat_hi=cat_hi, remote_ok=remote_ok,
            session=~_keyword_mask(tax, GOODS_WORDS), audience=_audience(tax), p_remote=p_remote,
            text=text, text_cap=text_cap,
            text_bits=bits, text_start=text_start, text_count=text_count, kind_list=kind_list,
            slug=np.array(slugs + [""], dtype=object),
            slug_sep=np.array([";" + s for s in slugs] + [""], dtype=object),
            level_boost=level_boost, poverty_boost=poverty_boost,
        )


def _phrase_tables(tax: Taxonomy, cat_lo: np.ndarray, cat_hi: np.ndarray, kinds: _Kinds,
                   offered: np.ndarray
                   ) -> tuple[np.ndarray, ...]:
    """Phrase lists per (mode, grade, list), flattened: (text, capitalised text, bits, start,
    count, kind_list).

    Lists 0..K-1 are the categories; then one list per (kind, category it offers) whose
    phrases the kind's keywords pick out (a fire department's "fire safety"), falling back to
    the category's list for a grade none of them fits.
    """
    G, K = len(GRADE_LEVELS), len(tax.categories)
    rules = [(_parse_band(band), _word_regex(words)) for band, words in PHRASE_GRADE_RULES]
    on_site = _word_regex(ON_SITE_PHRASE_WORDS)
    topic, provider = _role_patterns()[5:]
    plural = re.compile(r"[a-z](?<![su])s$")
    online = _term_regex(ONLINE_PHRASE_WORDS)
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
    uniq = np.array(_display(flat), dtype=object)
    uniq_cap = np.array([p[:1].upper() + p[1:] for p in uniq], dtype=object)
    roles = np.concatenate([cat_allowed[c][1] for c in range(K)])
    uniq_bits = np.array([
        (_BIT_PROBLEM * (r == "problem")) | (_BIT_PEOPLE * (r == "people"))
        | (_BIT_TOPIC * bool(topic.search(_PREPOSITION.split(ph)[0]) or topic.search(ph)))
        | (_BIT_ONLINE_WORD * bool(online.search(ph)))
        | (_BIT_PROVIDER * (r == "people" and bool(provider.search(_PREPOSITION.split(ph)[0]))))
        | (_BIT_PLURAL * bool(plural.search(_PREPOSITION.split(ph)[0])))
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


# ---------------------------------------------------------------------------
# Roster
# ---------------------------------------------------------------------------

_ROSTER_COLUMNS = ("name", "city", "latitude", "longitude", "level", "enrollment",
                   "st_grade", "end_grade")
_ROSTER_GRADES = {"PK": 0, "KG": 1, "K": 1, **{f"{g:02d}": g + 1 for g in range(1, 13)},
                  **{str(g): g + 1 for g in range(1, 13)}}
_ROSTER_LEVEL_BAND = {"ELEMENTARY": (1, 6), "MIDDLE": (7, 9), "HIGH": (10, 13),
                      "PREKINDERGARTEN": (0, 0), "SECONDARY": (7, 13)}


@dataclass
class _Roster:
    """Parsed roster rows."""

    name: np.ndarray
    city: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    enrollment: np.ndarray  # float, NaN = not reported


def _load_roster(path: Path) -> _Roster:
    """Read and check a roster CSV; DataError naming the file on any problem."""
    if not path.is_file():
        raise DataError([f"{path}: roster file not found"])
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise DataError([f"{path}: cannot read roster as CSV ({exc})"]) from None
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    missing = [c for c in _ROSTER_COLUMNS if c not in raw.columns]
    if missing:
        raise DataError([f"{path}: missing column '{c}'" for c in missing])
    if raw.empty:
        raise DataError([f"{path}: roster has no rows"])

    problems: list[str] = []
    lat = pd.to_numeric(raw["latitude"].str.strip(), errors="coerce").to_numpy(float)
    lon = pd.to_numeric(raw["longitude"].str.strip(), errors="coerce").to_numpy(float)
    names = raw["name"].str.strip().to_numpy(dtype=object)
    for col, vals, limit in (("latitude", lat, 90.0), ("longitude", lon, 180.0)):
        for i in np.flatnonzero(~(np.abs(vals) <= limit)):
            problems.append(f"{path}: row {i + 2}, column {col}: "
                            f"{raw[col].iloc[i]!r} is not a valid {col}")
    for i in np.flatnonzero(names == ""):
        problems.append(f"{path}: row {i + 2}, column name: empty school name")
    if problems:
        problems.sort(key=lambda p: int(re.search(r"row (\d+)", p).group(1)))
        extra = len(problems) - MAX_REPORTED_PROBLEMS
        problems = problems[:MAX_REPORTED_PROBLEMS] + ([f"... and {extra} more"] if extra > 0 else [])
        raise DataError(problems)

    # Grades: real codes where given; otherwise (``M`` or junk) from the level, else K-12.
    st = raw["st_grade"].str.strip().str.upper().map(_ROSTER_GRADES)
    en = raw["end_grade"].str.strip().str.upper().map(_ROSTER_GRADES)
    level = raw["level"].str.strip().str.upper()
    fb_lo = level.map(lambda v: _ROSTER_LEVEL_BAND.get(v, (1, 13))[0])
    fb_hi = level.map(lambda v: _ROSTER_LEVEL_BAND.get(v, (1, 13))[1])
    ok = st.notna() & en.notna() & (st <= en)
    lo = np.where(ok, st, fb_lo).astype(np.int8)
    hi = np.where(ok, en, fb_hi).astype(np.int8)
    enroll = pd.to_numeric(raw["enrollment"].str.strip(), errors="coerce").to_numpy(float)
    enroll[~(enroll > 0)] = np.nan  # -999 and 0 mean "not reported"
    city = raw["city"].str.strip().str.title().to_numpy(dtype=object)
    return _Roster(name=names, city=city, lat=lat, lon=lon, lo=lo, hi=hi, enrollment=enroll)


# ---------------------------------------------------------------------------
# Small vectorised helpers
# ---------------------------------------------------------------------------


def _pick(rng: np.random.Generator, table: tuple[str, ...], n: int) -> np.ndarray:
    """n random items of ``table`` as an object array."""
    arr = np.empty(len(table), dtype=object)
    arr[:] = list(table)
    return arr[rng.integers(0, len(table), n)]


def _weighted(pairs: tuple[tuple[str, float], ...]) -> tuple[list[str], np.ndarray]:
    """Split (value, weight) pairs into values and normalised probabilities."""
    vals = [v for v, _ in pairs]
    p = np.array([w for _, w in pairs], dtype=float)
    return vals, p / p.sum()


def _grade_index(code: str) -> int:
    """Position of a grade code ("PK", "K", "1".."12") in GRADE_LEVELS."""
    return GRADE_LEVELS.index(code)


def _parse_band(band: str) -> tuple[int, int]:
    """("K-5") -> (1, 6) as GRADE_LEVELS positions."""
    lo, _, hi = band.partition("-")
    return _grade_index(lo), _grade_index(hi or lo)


def _band_text(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Grade band strings ("K-5", or "PK" for a single grade) from positions."""
    labels = np.array(GRADE_LEVELS, dtype=object)
    return np.where(lo == hi, labels[lo], labels[lo] + "-" + labels[hi])


def _draw_bands(rng: np.random.Generator, pairs: tuple[tuple[str, float], ...],
                n: int) -> tuple[np.ndarray, np.ndarray]:
    """n grade bands drawn from (band, weight) pairs, as lo/hi positions."""
    vals, p = _weighted(pairs)
    parsed = np.array([_parse_band(v) for v in vals], dtype=np.int8)
    which = rng.choice(len(vals), size=n, p=p)
    return parsed[which, 0], parsed[which, 1]


def _level_of(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """School level (index into _LEVEL_WORDS) implied by a grade band."""
    return np.select(
        [hi <= 7, lo >= 9, (lo >= 5) & (hi <= 10), (lo <= 4) & (hi <= 10), lo >= 5],
        [0, 2, 1, 3, 4], default=5).astype(np.int8)


def _scatter(rng: np.random.Generator, lat0: np.ndarray, lon0: np.ndarray, sigma_km: np.ndarray,
             max_km: float) -> tuple[np.ndarray, np.ndarray]:
    """Scatter points around centres: Gaussian with a heavier tail, clipped at max_km."""
    n = len(lat0)
    sigma = sigma_km * np.where(rng.random(n) < 0.2, 2.2, 1.0)  # some suburbs sprawl further
    dx, dy = rng.normal(size=(2, n)) * sigma
    r = np.hypot(dx, dy)
    scale = np.minimum(1.0, max_km / np.maximum(r, 1e-9))
    lat = lat0 + dy * scale / _KM_PER_DEG
    lon = lon0 + dx * scale / (_KM_PER_DEG * np.cos(np.radians(lat0)))
    return np.round(lat, 5), np.round(lon, 5)


def _ids(prefix: str, n: int) -> np.ndarray:
    """Zero-padded ids ("S000001"), at least six digits."""
    width = max(6, len(str(n)))
    if n == 0:  # np.char.zfill cannot take an empty array
        return np.empty(0, dtype=object)
    return np.char.add(prefix, np.char.zfill(np.arange(1, n + 1).astype(str), width)).astype(object)


def _render(templates: tuple[str, ...], which: np.ndarray, slots: dict[str, np.ndarray]) -> np.ndarray:
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


def _choose(rng: np.random.Generator, n_templates: int, n: int, p_use: float = 1.0) -> np.ndarray:
    """Random template index per row, or -1 (no sentence) with probability 1 - p_use."""
    which = rng.integers(0, n_templates, n)
    if p_use < 1.0:
        which[rng.random(n) >= p_use] = -1
    return which


def _row_grade(world: _World, rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray,
               cats: np.ndarray) -> np.ndarray:
    """A random grade each row serves that its category fits (any of the row's if none does)."""
    c = np.maximum(cats, 0)
    a = np.maximum(lo, world.cat_lo[c]).astype(np.int64)
    b = np.minimum(hi, world.cat_hi[c]).astype(np.int64)
    none = (a > b) | (cats < 0)
    a = np.where(none, lo, a)
    b = np.where(none, hi, b)
    return a + (rng.random(len(c)) * (b - a + 1)).astype(np.int64)


def _phrase_pos(world: _World, lists: np.ndarray, grade: np.ndarray, mode: np.ndarray | int,
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


def _choose_fitting(rng: np.random.Generator, table: np.ndarray, code: np.ndarray,
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


def _finish_text(rng: np.random.Generator, text: np.ndarray) -> np.ndarray:
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


def _place_names(rng: np.random.Generator, n: int, p_person: float = 0.0) -> np.ndarray:
    """Plausible place names ("Cedar Ridge", "Oakwood"), some named after people; never the
    same word twice ("Spring Springs")."""
    a = rng.integers(0, len(_PLACE_A), n)
    b = rng.integers(0, len(_PLACE_B), n)
    first = np.array(_PLACE_A, dtype=object)
    second = np.array(_PLACE_B, dtype=object)
    clash = np.array([[y.strip().lower().rstrip("s") == x.lower() for y in _PLACE_B]
                      for x in _PLACE_A])
    b = np.where(clash[a, b], (b + 1) % len(_PLACE_B), b)
    names = first[a] + second[b]
    if p_person > 0:
        person = rng.random(n) < p_person
        names[person] = _pick(rng, _PEOPLE, int(person.sum()))
    return names


def _metro_count(n_schools: int, n_partners: int) -> int:
    """How many of the largest metros to use: about one per 100 rows of the smaller table."""
    # Spreading 300 partners over 29 metros would leave ~10 per metro, too few to choose
    # from, and partnerships would mostly go to remote partners.
    smaller = min(n_schools, n_partners) if n_schools and n_partners else max(n_schools, n_partners)
    return int(np.clip(smaller // 100, 3, len(_METROS)))


def _locations(rng: np.random.Generator, n: int, roster: _Roster | None, sigma_km: float,
               n_metros: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lat, lon, city) for n new points around the largest metros or the roster's schools."""
    if roster is None:
        w = np.array([m[3] for m in _METROS[:n_metros]])
        m = rng.choice(n_metros, size=n, p=w / w.sum())
        lat0 = np.array([x[1] for x in _METROS])[m]
        lon0 = np.array([x[2] for x in _METROS])[m]
        spread = np.array([x[4] for x in _METROS])[m]
        city = np.array([x[0] for x in _METROS], dtype=object)[m]
        lat, lon = _scatter(rng, lat0, lon0, spread, 45.0)
        return lat, lon, city
    a = rng.integers(0, len(roster.lat), n)
    lat, lon = _scatter(rng, roster.lat[a], roster.lon[a], np.full(n, sigma_km), 40.0)
    return lat, lon, roster.city[a]


def _headquarters(rng: np.random.Generator, n: int,
                  roster: _Roster | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lat, lon, city) of remote partners' offices: downtown in a big metro, or a roster city."""
    if roster is not None:
        return _locations(rng, n, roster, 3.0, 0)
    # National organisations sit in large cities, whether or not the sample's schools do.
    w = np.array([m[3] for m in _METROS])
    m = rng.choice(len(_METROS), size=n, p=w / w.sum())
    lat0 = np.array([x[1] for x in _METROS])[m]
    lon0 = np.array([x[2] for x in _METROS])[m]
    lat, lon = _scatter(rng, lat0, lon0, np.full(n, 3.0), 12.0)
    return lat, lon, np.array([x[0] for x in _METROS], dtype=object)[m]


# ---------------------------------------------------------------------------
# Schools
# ---------------------------------------------------------------------------


@dataclass
class _Side:
    """Hidden truth about one table, used to draw partnerships."""

    lat: np.ndarray
    lon: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    cats: np.ndarray              # schools: (n, 3) need categories, dominant first, -1 = none
    cat_w: np.ndarray | None = None   # schools: (n, 3) weights of those needs
    offers: np.ndarray | None = None  # partners: (n, K) bool
    radius: np.ndarray | None = None  # partners: km, NaN = no limit
    remote: np.ndarray | None = None
    capacity: np.ndarray | None = None  # NaN = no limit
    quality: np.ndarray | None = None


def _make_schools(n: int, world: _World, roster: _Roster | None, n_metros: int,
                  rng: np.random.Generator) -> tuple[pd.DataFrame, _Side]:
    """School table and its hidden truth."""
    K = world.n_cat
    if roster is None:
        level = rng.choice(len(_LEVEL_MIX), size=n, p=_LEVEL_MIX).astype(np.int8)
        lo = np.empty(n, np.int8)
        hi = np.empty(n, np.int8)
        for lv in range(len(_LEVEL_MIX)):
            idx = np.flatnonzero(level == lv)
            lo[idx], hi[idx] = _draw_bands(rng, _LEVEL_GRADES[lv], idx.size)
        lat, lon, city = _locations(rng, n, None, 0.0, n_metros)
        names = np.empty(n, dtype=object)
        for lv in range(len(_LEVEL_MIX)):
            idx = np.flatnonzero(level == lv)
            names[idx] = (_place_names(rng, idx.size, p_person=0.4) + " "
                          + _pick(rng, _LEVEL_SUFFIXES[lv], idx.size))
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
            lat[again], lon[again] = _scatter(rng, lat[again], lon[again],
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
        fit = _grade_fit(world, g_lo, g_hi)
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

    grades = _band_text(lo, hi)
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
        "school_id": _ids("S", n),
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
    return df, _Side(lat=lat, lon=lon, lo=lo, hi=hi, cats=cats, cat_w=cat_w)


def _school_text(world: _World, rng: np.random.Generator, cats: np.ndarray, lo: np.ndarray,
                 hi: np.ndarray, names: np.ndarray, city: np.ndarray, grades: np.ndarray,
                 level: np.ndarray, enroll: np.ndarray, frl: np.ndarray) -> np.ndarray:
    """Free-text needs: context, the dominant need (once or twice), other needs, a closing line.
    Each need is worded with a phrase that fits one of the school's grades (an offer, a problem
    or the people concerned), in a sentence that fits what the phrase says."""
    n = len(cats)
    own = [np.maximum(cats[:, j], 0) for j in range(3)]
    g0 = _row_grade(world, rng, lo, hi, cats[:, 0])
    main = _phrase_pos(world, own[0], g0, 0, rng)
    other = _phrase_pos(world, own[0], g0, 0, rng, avoid=main)
    grade = [g0] + [_row_grade(world, rng, lo, hi, cats[:, j]) for j in (1, 2)]
    need = [None] + [_phrase_pos(world, own[j], grade[j], 0, rng) for j in (1, 2)]
    # {q} is a second need when there is one (half the time), else another phrase of the first.
    sec = cats[:, 1] >= 0
    q_sec = sec & (rng.random(n) < 0.5)
    q = np.where(q_sec, need[1], other)
    # ... and then the sentence about the second need words it differently.
    need[1] = np.where(q_sec, _phrase_pos(world, own[1], grade[1], 0, rng, avoid=need[1]),
                       need[1])
    text_, cap = world.text, world.text_cap
    slots = {
        "p": text_[main], "P": cap[main], "q": text_[q],
        "g": grades, "lvl": np.array(_LEVEL_WORDS, dtype=object)[level], "name": names,
        "city": city, "n": enroll.astype(str).astype(object),
        "frl": np.round(frl).astype(np.int64).astype(str).astype(object),
    }

    def sentences(templates: tuple[tuple[str, str], ...], code: np.ndarray, p_use: float,
                  fill: dict[str, np.ndarray]) -> np.ndarray:
        return _render(tuple(t for t, _ in templates), _pick_templates(rng, templates, code, p_use),
                       fill)

    # Context goes first or last, never both.
    ctx = _render(_NEED_CONTEXT, _choose(rng, len(_NEED_CONTEXT), n, 0.6), slots)
    ctx_last = rng.random(n) < 0.3
    text = np.where(ctx_last, "", ctx) + sentences(
        _NEED_MAIN, _row_code(world, cats[:, 0], phrase=main), 1.0, slots)
    text = text + sentences(_NEED_MORE, _row_code(world, cats[:, 0], phrase=other), 0.35,
                            {"p": text_[other], "P": cap[other]})
    for j in (1, 2):
        code = _row_code(world, cats[:, j], phrase=need[j])
        which = np.where(cats[:, j] >= 0, _pick_templates(rng, _NEED_SECONDARY, code), -1)
        text = text + _render(tuple(t for t, _ in _NEED_SECONDARY), which,
                              {"p": text_[need[j]], "P": cap[need[j]]})
    text = text + np.where(ctx_last, ctx, "")
    # "We can host sessions" only where the dominant need is something run in sessions.
    text = text + sentences(_NEED_CLOSING, _row_code(world, cats[:, 0]), 0.3, slots)
    return _finish_text(rng, text)


def _grade_fit(world: _World, lo: int, hi: int) -> np.ndarray:
    """Per category: the share of grades lo..hi it fits (0 = none)."""
    overlap = np.minimum(hi, world.cat_hi) - np.maximum(lo, world.cat_lo) + 1
    return np.maximum(overlap, 0) / (hi - lo + 1)


# ---------------------------------------------------------------------------
# Partners
# ---------------------------------------------------------------------------


def _make_partners(n: int, world: _World, roster: _Roster | None, n_metros: int,
                   rng: np.random.Generator) -> tuple[pd.DataFrame, _Side]:
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
    bands = sorted({b for prof in world.type_profiles for b, _ in prof.grades}, key=_parse_band)
    band_lo, band_hi = (np.array(x, np.int8) for x in zip(*(_parse_band(b) for b in bands)))
    band_fit = np.stack([_grade_fit(world, int(a), int(b)) for a, b in zip(band_lo, band_hi)])
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
            mixed = rng.random((sub.size, 3)) < _GENERAL_SHARE
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
    lat, lon, city = _locations(rng, n, roster, 7.0, n_metros)
    at_hq = np.flatnonzero(remote)
    lat[at_hq], lon[at_hq], city[at_hq] = _headquarters(rng, at_hq.size, roster)
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
        "partner_id": _ids("P", n),
        "name": names,
        "offerings": offerings,
        "partner_type": np.array(tax.partner_type_slugs, dtype=object)[ptype],
        "offering_categories": tagged,
        "grades": _band_text(lo, hi),
        "latitude": lat,
        "longitude": lon,
        "service_radius_km": pd.array(np.where(np.isnan(radius), 0, radius).astype(np.int64),
                                      dtype="Int64"),
        "remote": remote,
        "capacity": pd.array(np.nan_to_num(capacity).astype(np.int64), dtype="Int64"),
    }, columns=list(PARTNER_COLUMNS))
    df.loc[np.isnan(radius), "service_radius_km"] = pd.NA
    df.loc[np.isnan(capacity), "capacity"] = pd.NA
    return df, _Side(lat=lat, lon=lon, lo=lo, hi=hi, cats=cats, offers=offers, radius=radius,
                     remote=remote, capacity=capacity, quality=quality)


def _groups(key: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(value, row indices) for each distinct value of ``key``, in ascending order of value."""
    order = np.argsort(key, kind="stable")
    values, first = np.unique(key[order], return_index=True)
    bounds = np.append(first, len(key))
    for v, a, b in zip(values.tolist(), bounds[:-1], bounds[1:]):
        yield v, order[a:b]


def _partner_names(world: _World, rng: np.random.Generator, kind: np.ndarray, ptype: np.ndarray,
                   city: np.ndarray) -> np.ndarray:
    """Names that fit each partner's kind of organisation, hence its type and main offering
    ("Oakwood Food Pantry", "Garcia & Co. Engineering", "Chicago Fire Department, Station 12")."""
    n = len(kind)
    kinds = world.kinds
    which = kinds.name_start[kind] + (rng.random(n) * kinds.name_count[kind]).astype(np.int64)
    labels = np.array([t.label for t in world.tax.partner_types], dtype=object)
    slots = {
        "place": _place_names(rng, n), "city": city, "surname": _pick(rng, _SURNAMES, n),
        "surname2": _pick(rng, _SURNAMES, n), "saint": _pick(rng, _SAINTS, n),
        "label": labels[ptype], "num": rng.integers(1, 120, n).astype(str).astype(object),
    }
    return np.array([s[:-1] for s in _render(kinds.names, which, slots)], dtype=object)


@lru_cache(maxsize=None)
def _fitting(templates: tuple[tuple[str, str], ...]) -> np.ndarray:
    """Which templates (columns) fit each row code (rows, see :func:`_row_code`), by the
    templates' flags; rows that must say "online" take only templates flagged so."""
    code = np.arange(_N_CODES)
    table = np.ones((_N_CODES, len(templates)), dtype=bool)
    for t, (_, flags) in enumerate(templates):
        for flag in flags.split():
            table[:, t] &= _flag_fits(flag, code)
        if "online" not in flags.split():
            table[(code & _BIT_SAY_ONLINE) != 0, t] = False
    return table


def _row_code(world: _World, cats: np.ndarray, remote: np.ndarray | bool = False,
              phrase: np.ndarray | None = None, say_online: np.ndarray | bool = False,
              sessions: np.ndarray | bool = True,
              volunteers: np.ndarray | bool = True) -> np.ndarray:
    """Bit flags of each row (see :data:`_BIT_SESSION` ...): delivery and audience of its
    category (sessions only where the partner runs any), whether the partner is remote, and
    what the phrase in the sentence says."""
    c = np.maximum(cats, 0)
    aud = world.audience[c]
    code = ((world.session[c] & sessions) * _BIT_SESSION + world.remote_ok[c] * _BIT_REMOTE_OK
            + (aud == 0) * _BIT_STUDENTS + (aud <= 1) * _BIT_YOUNG + (aud == 2) * _BIT_STAFF
            + np.asarray(remote, dtype=np.int64) * _BIT_REMOTE
            + np.asarray(say_online, dtype=np.int64) * _BIT_SAY_ONLINE
            + np.asarray(volunteers, dtype=np.int64) * _BIT_VOLUNTEERS).astype(np.int64)
    if phrase is not None:
        code |= world.text_bits[phrase]
    return code


def _pick_templates(rng: np.random.Generator, templates: tuple[tuple[str, str], ...],
                    code: np.ndarray, p_use: float = 1.0) -> np.ndarray:
    """A random template per row among those that fit its code (-1: none, or not used)."""
    return _choose_fitting(rng, _fitting(templates), code, p_use)


def _partner_text(world: _World, rng: np.random.Generator, cats: np.ndarray, kind: np.ndarray,
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

    g0 = _row_grade(world, rng, lo, hi, cats[:, 0])
    l0 = lists(0)
    main = _phrase_pos(world, l0, g0, mode, rng)
    other = _phrase_pos(world, l0, g0, mode, rng, avoid=main)
    g1 = _row_grade(world, rng, lo, hi, cats[:, 1])
    l1 = lists(1)
    extra = [_phrase_pos(world, l1, g1, mode, rng)]
    extra += [_phrase_pos(world, lists(j), _row_grade(world, rng, lo, hi, cats[:, j]), mode, rng)
              for j in (2, 3)]
    q_sec = (cats[:, 1] >= 0) & (rng.random(n) < 0.5)
    q = np.where(q_sec, extra[0], other)
    # ... and then the sentence about the second offering words it differently.
    extra[0] = np.where(q_sec, _phrase_pos(world, l1, g1, mode, rng, avoid=extra[0]), extra[0])
    nouns = np.array([p.noun or t.label.lower()
                      for p, t in zip(world.type_profiles, world.tax.partner_types)], dtype=object)
    text_, cap = world.text, world.text_cap
    slots = {
        "p": text_[main], "P": cap[main], "q": text_[q],
        "g": _band_text(lo, hi), "name": names, "city": city, "label": nouns[ptype],
        "year": rng.integers(1890, 2021, n).astype(str).astype(object),
    }
    runs = world.kinds.sessions[kind]
    helpers = np.array([p.volunteers for p in world.type_profiles])[ptype]
    plain = _row_code(world, cats[:, 0], remote, sessions=runs, volunteers=helpers)

    def sentences(templates: tuple[tuple[str, str], ...], code: np.ndarray, p_use: float,
                  fill: dict[str, np.ndarray]) -> np.ndarray:
        return _render(tuple(t for t, _ in templates), _pick_templates(rng, templates, code, p_use),
                       fill)

    ctx = sentences(_OFFER_CONTEXT, plain, 0.6, slots)
    ctx_first = rng.random(n) < 0.5
    text = np.where(ctx_first, ctx, "") + sentences(
        _OFFER_MAIN, _row_code(world, cats[:, 0], remote, main, sessions=runs,
                               volunteers=helpers), 1.0, slots)
    for j in (1, 2, 3):
        code = _row_code(world, cats[:, j], remote, extra[j - 1], sessions=runs,
                         volunteers=helpers)
        which = np.where(cats[:, j] >= 0, _pick_templates(rng, _OFFER_SECONDARY, code), -1)
        text = text + _render(tuple(t for t, _ in _OFFER_SECONDARY), which,
                              {"p": text_[extra[j - 1]], "P": cap[extra[j - 1]]})
    text = text + np.where(ctx_first, "", ctx)
    # Remote partners usually say so in the closing line.
    says_online = remote & (rng.random(n) < 0.6)
    closing = _pick_templates(rng, _OFFER_CLOSING, plain, 0.3)
    closing[says_online] = _pick_templates(
        rng, _OFFER_CLOSING, _row_code(world, cats[:, 0], remote, say_online=True, sessions=runs,
                                       volunteers=helpers)[says_online])
    text = text + _render(tuple(t for t, _ in _OFFER_CLOSING), closing, slots)
    return _finish_text(rng, text)


# ---------------------------------------------------------------------------
# Partnerships
# ---------------------------------------------------------------------------

_EXACT_CHUNK = 256          # schools per block when scoring all partners (fixed: determinism) ...
_EXACT_CELLS = 1 << 21      # ... fewer when there are many partners, to bound a block's memory

_FINE_CELL_DEG = 0.1     # ~11 km: "nearby" partners
_COARSE_CELL_DEG = 0.5   # ~50 km: the rest of the metro
_N_FINE, _N_COARSE, _N_GLOBAL = 56, 56, 16  # candidates per school from each pool
_CHUNK = 2048             # schools per vectorised block (fixed: part of determinism)


@dataclass
class _Grid:
    """Partners sorted by grid cell, for sampling a school's neighbourhood."""

    cell: float
    width: int
    keys: np.ndarray    # sorted cell keys
    order: np.ndarray   # partner index for each sorted position
    gx: np.ndarray      # per partner cell column
    gy: np.ndarray      # per partner cell row

    @classmethod
    def build(cls, lat: np.ndarray, lon: np.ndarray, members: np.ndarray, cell: float) -> _Grid:
        """Index ``members`` (partner indices) by cell."""
        width = cls.width_for(cell)
        gx, gy = cls.cells(lat, lon, cell)
        key = gy[members] * width + gx[members]
        srt = np.argsort(key, kind="stable")
        return cls(cell, width, key[srt], members[srt], gx, gy)

    @staticmethod
    def width_for(cell: float) -> int:
        """Cells per row of the grid (with a margin for the neighbours of edge cells)."""
        return int(math.ceil(360 / cell)) + 3

    @staticmethod
    def cells(lat: np.ndarray, lon: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
        """Cell column and row of points."""
        return (np.floor((lon + 180.0) / cell).astype(np.int64) + 1,
                np.floor((lat + 90.0) / cell).astype(np.int64) + 1)


@dataclass
class _Links:
    """Drawn partnerships as row indices plus outcome and date."""

    school: np.ndarray
    partner: np.ndarray
    outcome: np.ndarray
    start_date: np.ndarray


def _default_partnerships(n_schools: int, n_partners: int) -> int:
    """About 10 per school, at most 20 per partner and 2M in all."""
    return int(min(PARTNERSHIPS_PER_SCHOOL * n_schools, PARTNERSHIPS_PER_PARTNER * n_partners,
                   MAX_DEFAULT_PARTNERSHIPS))


def _stratified(total: np.ndarray, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """k distinct positions in [0, total) per row (all of them if total <= k), and a validity mask."""
    j = np.arange(k)[None, :]
    step = np.maximum(total / k, 1.0)[:, None]
    a = np.floor(j * step).astype(np.int64)
    b = np.floor((j + 1) * step).astype(np.int64)
    pos = a + (rng.random((len(total), k)) * (b - a)).astype(np.int64)
    return pos, pos < total[:, None]


def _neighbours(grid: _Grid, lat: np.ndarray, lon: np.ndarray, k: int,
                rng: np.random.Generator) -> np.ndarray:
    """Up to k distinct partners from the 3x3 cells around each school (-1 = none)."""
    gx, gy = _Grid.cells(lat, lon, grid.cell)
    rows = gy[:, None] + np.array([-1, 0, 1])[None, :]
    # In a row of cells, the three neighbouring columns are contiguous in sorted-key order.
    start = np.searchsorted(grid.keys, rows * grid.width + (gx - 1)[:, None], "left")
    end = np.searchsorted(grid.keys, rows * grid.width + (gx + 1)[:, None], "right")
    length = end - start
    cum = np.cumsum(length, axis=1)
    pos, ok = _stratified(cum[:, -1], k, rng)
    seg = (pos >= cum[:, :1]).astype(np.int64) + (pos >= cum[:, 1:2])
    before = np.take_along_axis(cum - length, seg, axis=1)
    at = np.take_along_axis(start, seg, axis=1) + pos - before
    return np.where(ok, grid.order[np.where(ok, at, 0)] if grid.order.size else 0, -1)


def _spread(deficit: int, spare: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Share ``deficit`` extra picks among rows in proportion to their spare room (never above it)."""
    add = np.zeros_like(spare)
    total = int(spare.sum())
    if deficit <= 0 or total == 0:
        return add
    if total <= deficit:
        return spare.copy()
    add = spare * deficit // total
    room = np.flatnonzero(spare > add)
    rest = deficit - int(add.sum())
    add[rng.permutation(room)[:rest]] += 1
    return add


def _reach(p: _Side) -> np.ndarray:
    """How far each partner serves, in km: anywhere (inf) if remote, else its radius, else the
    model's default radius (:data:`~matcher.config.DEFAULT_SERVICE_RADIUS_KM`)."""
    radius = np.where(np.isnan(p.radius), DEFAULT_SERVICE_RADIUS_KM, p.radius)
    return np.where(p.remote, np.inf, radius)


def _unit_xyz(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points on the unit sphere, so a distance is one chord instead of several trig calls."""
    la, lo = np.radians(lat), np.radians(lon)
    return np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)


class _ExactScorer:
    """Hidden utility of blocks of schools against every partner that has capacity."""

    def __init__(self, s: _Side, p: _Side) -> None:
        self.s = s
        alive = np.flatnonzero(~(p.capacity == 0))  # capacity 0 can never take a school
        self.alive = alive
        self.sx, self.sy, self.sz = _unit_xyz(s.lat, s.lon)
        px, py, pz = _unit_xyz(p.lat[alive], p.lon[alive])
        self.px, self.py, self.pz = px[None, :], py[None, :], pz[None, :]
        self.p_lo = p.lo[alive][None, :].astype(np.int16)
        self.p_hi = p.hi[alive][None, :].astype(np.int16)
        self.reach = _reach(p)[alive][None, :]
        quality = HIDDEN_UTILITY["quality"] * p.quality[alive]
        self.quality = quality.astype(np.float32)[None, :]
        # One contiguous row per category: a school's need gathers a whole row at once.
        self.offers_t = np.ascontiguousarray(p.offers[alive].T)
        self.block = int(min(_EXACT_CHUNK, max(1, _EXACT_CELLS // max(alive.size, 1))))

    def score(self, rows: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Noisy hidden utility of each (school, partner) pair (-inf where infeasible) and the
        feasibility mask; columns are :attr:`alive` partners.

        Distances and feasibility are float64 (a partner's radius is a hard limit); the utility
        is float32, like the Gumbel noise in it, which halves the memory traffic.
        """
        s, w, f32 = self.s, HIDDEN_UTILITY, np.float32
        shape = (len(rows), self.alive.size)
        # Great-circle distance from the chord between unit vectors (in place: blocks are big).
        dist = self.px - self.sx[rows, None]
        dist *= dist
        d = self.py - self.sy[rows, None]
        d *= d
        dist += d
        np.subtract(self.pz, self.sz[rows, None], out=d)
        d *= d
        dist += d
        np.sqrt(dist, out=dist)
        dist *= 0.5
        np.minimum(dist, 1.0, out=dist)
        np.arcsin(dist, out=dist)
        dist *= 2 * _EARTH_RADIUS_KM
        s_lo = s.lo[rows, None].astype(np.int16)
        s_hi = s.hi[rows, None].astype(np.int16)
        overlap = np.minimum(s_hi, self.p_hi) - np.maximum(s_lo, self.p_lo) + 1
        feasible = dist <= self.reach
        feasible &= overlap > 0
        # geo * exp(-distance / scale)
        util = dist.astype(f32)
        util *= f32(-1.0 / GEO_SCALE_KM)
        np.exp(util, out=util)
        util *= f32(w["geo"])
        np.maximum(overlap, 0, out=overlap)
        util += overlap * (w["grades"] / (s_hi - s_lo + 1)).astype(f32)
        for j in range(s.cats.shape[1]):
            # An absent need (-1) has weight 0, so any row will do for it.
            hit = self.offers_t[np.maximum(s.cats[rows, j], 0)]
            util += (w["categories"] * s.cat_w[rows, j, None]).astype(f32) * hit
        util += self.quality
        # Gumbel noise as -log(Exp(1)), as in the sampled path.
        noise = rng.standard_exponential(shape, dtype=f32)
        np.log(np.maximum(noise, f32(1e-30), out=noise), out=noise)
        noise *= f32(w["noise"])
        util -= noise
        np.putmask(util, ~feasible, f32(-np.inf))
        return util, feasible


class _Scorer:
    """Candidate sampling and hidden utility for blocks of schools (large-data approximation)."""

    def __init__(self, s: _Side, p: _Side) -> None:
        # Partners are renumbered in fine-cell order, so the candidates of nearby schools sit
        # close together in memory: random gathers over a million partners are the bottleneck.
        gx, gy = _Grid.cells(p.lat, p.lon, _FINE_CELL_DEG)
        self.perm = np.argsort(gy * _Grid.width_for(_FINE_CELL_DEG) + gx, kind="stable")
        p = _Side(lat=p.lat[self.perm], lon=p.lon[self.perm], lo=p.lo[self.perm],
                  hi=p.hi[self.perm], cats=p.cats[self.perm], offers=p.offers[self.perm],
                  radius=p.radius[self.perm], remote=p.remote[self.perm],
                  capacity=p.capacity[self.perm], quality=p.quality[self.perm])
        self.s, self.p = s, p
        alive = np.flatnonzero(~(p.capacity == 0))  # capacity 0 can never take a school
        self.fine = _Grid.build(p.lat, p.lon, alive, _FINE_CELL_DEG)
        self.coarse = _Grid.build(p.lat, p.lon, alive, _COARSE_CELL_DEG)
        # Remote partners are the only far-away candidates (everyone else serves within a radius).
        self.pool = alive[p.remote[alive]]
        self.sx, self.sy, self.sz = _unit_xyz(s.lat, s.lon)
        self.px, self.py, self.pz = _unit_xyz(p.lat, p.lon)
        # One gather instead of three: how far each partner reaches (inf = anywhere).
        self.reach = _reach(p)
        self.quality = HIDDEN_UTILITY["quality"] * p.quality
        # Offers as 64-bit masks (several words per partner past 64 categories): one gather
        # and a bit test is several times faster than 2-D fancy indexing of a bool matrix.
        K = p.offers.shape[1]
        self.words = max(1, -(-K // 64))
        self.bits = np.zeros((len(p.lat), self.words), dtype=np.uint64)
        for k in range(K):
            self.bits[:, k // 64] |= p.offers[:, k].astype(np.uint64) << np.uint64(k % 64)

    def school_order(self, rows: np.ndarray) -> np.ndarray:
        """``rows`` in fine-cell order, so one block of schools shares its candidates' memory."""
        gx, gy = _Grid.cells(self.s.lat[rows], self.s.lon[rows], _FINE_CELL_DEG)
        return rows[np.argsort(gy * _Grid.width_for(_FINE_CELL_DEG) + gx, kind="stable")]

    def candidates(self, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Distinct candidate partners per school (-1 = none): near, rest of metro, remote."""
        slat, slon = self.s.lat[rows], self.s.lon[rows]
        near = _neighbours(self.fine, slat, slon, _N_FINE, rng)
        metro = _neighbours(self.coarse, slat, slon, _N_COARSE, rng)
        # Drop metro picks inside the fine neighbourhood (they could repeat a near pick) ...
        metro[_in_block(self.fine, metro, slat, slon)] = -1
        if not self.pool.size:
            return np.concatenate([near, metro], axis=1)
        pos, ok = _stratified(np.full(len(rows), self.pool.size), _N_GLOBAL, rng)
        far = np.where(ok, self.pool[np.minimum(pos, self.pool.size - 1)], -1)
        # ... and far picks inside the metro neighbourhood, for the same reason.
        far[_in_block(self.coarse, far, slat, slon)] = -1
        return np.concatenate([near, metro, far], axis=1)

    def utility(self, rows: np.ndarray, cand: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Noisy hidden utility of each candidate pair; -inf where the pair is infeasible."""
        s, p, w = self.s, self.p, HIDDEN_UTILITY
        c = np.maximum(cand, 0)
        dx = self.px[c] - self.sx[rows, None]
        dy = self.py[c] - self.sy[rows, None]
        dz = self.pz[c] - self.sz[rows, None]
        dist = (2 * _EARTH_RADIUS_KM) * np.arcsin(np.minimum(np.sqrt(dx * dx + dy * dy + dz * dz) / 2, 1.0))
        s_lo = s.lo[rows, None].astype(np.int16)
        s_hi = s.hi[rows, None].astype(np.int16)
        overlap = np.minimum(s_hi, p.hi[c]) - np.maximum(s_lo, p.lo[c]) + 1
        feasible = (cand >= 0) & (overlap > 0) & (dist <= self.reach[c])
        util = w["grades"] * (np.maximum(overlap, 0) / (s_hi - s_lo + 1))
        mask = self.bits[:, 0].take(c) if self.words == 1 else None
        for j in range(s.cats.shape[1]):
            sc = np.maximum(s.cats[rows, j], 0).astype(np.uint64)
            word = mask if mask is not None else self.bits.ravel().take(
                c * self.words + (sc // 64).astype(np.int64)[:, None])
            hit = (word & (np.uint64(1) << (sc % 64))[:, None]) != 0
            util += (w["categories"] * s.cat_w[rows, j, None]) * hit
        util += w["geo"] * np.exp(dist * (-1.0 / GEO_SCALE_KM))
        util += self.quality.take(c)
        # Gumbel noise as -log(Exp(1)); float32 is plenty for noise and several times faster.
        expo = rng.standard_exponential(cand.shape, dtype=np.float32)
        util -= w["noise"] * np.log(np.maximum(expo, np.float32(1e-30)))
        util[~feasible] = -np.inf
        return util


def _in_block(grid: _Grid, cand: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Whether each candidate lies in the 3x3 cells of ``grid`` around its school."""
    gx, gy = _Grid.cells(lat, lon, grid.cell)
    c = np.maximum(cand, 0)
    return (np.abs(grid.gx[c] - gx[:, None]) <= 1) & (np.abs(grid.gy[c] - gy[:, None]) <= 1)


def _top(util: np.ndarray, take: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of the ``take[i]`` largest entries of each row."""
    kmax = int(take.max(initial=0))
    if kmax == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    if kmax < util.shape[1]:
        # Only the best kmax matter: partition, then order just those.
        part = np.argpartition(-util, kmax - 1, axis=1)[:, :kmax]
        best = np.take_along_axis(part, np.argsort(-np.take_along_axis(util, part, axis=1),
                                                   axis=1, kind="stable"), axis=1)
    else:
        best = np.argsort(-util, axis=1, kind="stable")
    chosen = np.arange(best.shape[1])[None, :] < take[:, None]
    r = np.nonzero(chosen)[0]
    return r, best[chosen]


def _draw_partnerships(s: _Side, p: _Side, n_target: int, rng: np.random.Generator) -> _Links:
    """Each school picks its highest-utility feasible partners: among all of them when there are
    at most :data:`EXACT_MAX_PAIRS` pairs, else among sampled candidates."""
    n_s, n_p = len(s.lat), len(p.lat)
    if n_s == 0 or n_p == 0 or n_target == 0:
        return _Links(*(np.empty(0, np.int64) for _ in range(3)), np.empty(0, dtype=object))
    exact = _ExactScorer(s, p) if n_s * n_p <= EXACT_MAX_PAIRS else None
    sampled = None if exact else _Scorer(s, p)
    block = exact.block if exact is not None else _CHUNK

    # How many partners each school wants: overdispersed around the mean, summing to the target.
    appetite = rng.gamma(4.0, 0.25, n_s)
    want = rng.multinomial(n_target, appetite / appetite.sum())
    # Schools that want none are scored only if others fall short (saves most of the work
    # when partnerships are few per school).
    queue = [np.flatnonzero(want > 0), np.flatnonzero(want == 0)]
    if sampled is not None:  # nearby schools together, so a block's candidates share memory
        queue = [sampled.school_order(q) for q in queue]
    queue = np.concatenate(queue)
    n_wanting = int((want > 0).sum())

    sel_s, sel_p, sel_u = [], [], []
    carry = 0
    for at in range(0, n_s, block):
        if at >= n_wanting and carry == 0:
            break
        rows = queue[at:at + block]
        if exact is not None:
            util, feasible = exact.score(rows, rng)
            n_feas = feasible.sum(axis=1)
        else:
            cand = sampled.candidates(rows, rng)
            util = sampled.utility(rows, cand, rng)
            n_feas = np.isfinite(util).sum(axis=1)
        # Gumbel-top-k: the k best noisy utilities; shortfalls move on to schools with room.
        base = np.minimum(want[rows], n_feas)
        deficit = carry + int((want[rows] - base).sum())
        extra = _spread(deficit, n_feas - base, rng)
        carry = deficit - int(extra.sum())
        r, col = _top(util, base + extra)
        sel_s.append(rows[r])
        sel_p.append(exact.alive[col] if exact is not None else sampled.perm[cand[r, col]])
        sel_u.append(util[r, col])

    school = np.concatenate(sel_s)
    partner = np.concatenate(sel_p)
    util = np.concatenate(sel_u).astype(np.float64)
    n = len(util)

    # Outcome: P(success) rises with utility; the intercept is set so ~80% succeed.
    z = (util - util.mean()) / (util.std() or 1.0) if n else util
    lo_b, hi_b = -10.0, 10.0
    for _ in range(50):
        mid = (lo_b + hi_b) / 2
        if n and np.mean(1 / (1 + np.exp(-(mid + 1.2 * z)))) < 0.8:
            lo_b = mid
        else:
            hi_b = mid
    outcome = (rng.random(n) < 1 / (1 + np.exp(-(lo_b + 1.2 * z)))).astype(np.int64)

    # Start dates: school years over the last five; most start in August/September.
    first_year = int(str(HISTORY_END)[:4]) - HISTORY_YEARS  # school years first_year .. end - 1
    aug1 = np.array([np.datetime64(f"{first_year + i}-08-01") for i in range(HISTORY_YEARS)])
    aug1 = aug1[rng.integers(0, HISTORY_YEARS, n)]
    days = np.where(rng.random(n) < 0.55, rng.integers(0, 61, n), rng.integers(0, 334, n))
    start = np.minimum(aug1 + days.astype("timedelta64[D]"), HISTORY_END)
    dates = np.datetime_as_string(start, unit="D").astype(object)

    order = np.lexsort((partner, school, start))
    return _Links(school=school[order], partner=partner[order], outcome=outcome[order],
                  start_date=dates[order])


def _for_csv(frame: pd.DataFrame) -> pd.DataFrame:
    """Booleans as lower-case true/false, as the data contract writes them."""
    out = frame.copy(deep=False)
    for col in out.columns:
        if out[col].dtype == bool:
            out[col] = np.where(out[col].to_numpy(), "true", "false")
    return out
