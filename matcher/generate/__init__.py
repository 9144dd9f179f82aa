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
  rules over category names (:data:`~matcher.generate.organisations.PROFILES`),
  so any taxonomy works. The grade band fits the main offering (a
  college-access nonprofit serves high schools) and the other offerings fit
  the band.
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

Where each part lives (imports point down this list):

=====================  =====================================================
``generator``          :func:`generate`: sizes and a seed to a :class:`Dataset`
``schools``            the schools table and its free-text needs
``partners``           the partners table and its free-text offerings
``history``            partnerships drawn from the hidden utility
``world``              what is derived from the taxonomy once per call
``templates``          sentence templates, which rows each fits, typos
``organisations``      kinds of organisation per partner type
``phrases``            what a taxonomy phrase says (:func:`phrase_role`)
``fit``                grades, remote delivery and audience of categories
``places``             metros, scattered locations, place and people names
``roster``             a real roster's rows as arrays (read by ``matcher.data``)
``bands``              grade bands as positions
``keywords``           keyword rules as regexes
``dataset``            :class:`Dataset` and :func:`write_dataset`
=====================  =====================================================
"""
from __future__ import annotations

from matcher.data import PARTNER_COLUMNS, PARTNERSHIP_COLUMNS, SCHOOL_COLUMNS
from matcher.generate.dataset import Dataset, write_dataset
from matcher.generate.fit import (CATEGORY_GRADE_RULES, FAMILY_AUDIENCE_WORDS, GOODS_WORDS, IN_PERSON_WORDS,
                                  ON_SITE_PHRASE_WORDS, PHRASE_GRADE_RULES, REMOTE_WORDS, SCHOOL_AUDIENCE_WORDS,
                                  STAFF_AUDIENCE_WORDS, category_grades, remote_categories)
from matcher.generate.generator import generate
from matcher.generate.history import (DOMINANT_NEED_WEIGHT, EXACT_MAX_PAIRS, GEO_SCALE_KM, HIDDEN_UTILITY,
                                      HISTORY_END, HISTORY_YEARS, MAX_DEFAULT_PARTNERSHIPS,
                                      PARTNERSHIPS_PER_PARTNER, PARTNERSHIPS_PER_SCHOOL)
from matcher.generate.organisations import GENERAL_OFFER_WORDS
from matcher.generate.partners import BLANK_RADIUS_SHARE
from matcher.generate.phrases import (ACTION_STARTS, DISPLAY_WORDS, ONLINE_PHRASE_WORDS, OTHER_WORDS, PEOPLE_WORDS,
                                      PROBLEM_WORDS, PROVIDER_WORDS, SERVICE_WORDS, TOPIC_WORDS, phrase_role)
from matcher.generate.world import REMOTE_SHARE

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
    # The generator's documented constants and keyword tables.
    "GEO_SCALE_KM",
    "DOMINANT_NEED_WEIGHT",
    "PARTNERSHIPS_PER_SCHOOL",
    "PARTNERSHIPS_PER_PARTNER",
    "MAX_DEFAULT_PARTNERSHIPS",
    "EXACT_MAX_PAIRS",
    "HISTORY_END",
    "HISTORY_YEARS",
    "REMOTE_SHARE",
    "BLANK_RADIUS_SHARE",
    "CATEGORY_GRADE_RULES",
    "PHRASE_GRADE_RULES",
    "REMOTE_WORDS",
    "IN_PERSON_WORDS",
    "GOODS_WORDS",
    "ON_SITE_PHRASE_WORDS",
    "STAFF_AUDIENCE_WORDS",
    "SCHOOL_AUDIENCE_WORDS",
    "FAMILY_AUDIENCE_WORDS",
    "GENERAL_OFFER_WORDS",
    "PROBLEM_WORDS",
    "SERVICE_WORDS",
    "PEOPLE_WORDS",
    "PROVIDER_WORDS",
    "OTHER_WORDS",
    "ACTION_STARTS",
    "TOPIC_WORDS",
    "ONLINE_PHRASE_WORDS",
    "DISPLAY_WORDS",
]
