"""Does the generated sample read right to a coordinator? Partner names, types, wording, measured.

Generates the bundled sample the documented way (``generate(300, 1000, seed=42)``)
and, from each partner's hidden main offering, prints:

* name fits: among partners whose name says what they do ("... Food Pantry",
  "... Fire Department", "... Credit Union"), the share whose main offering is
  one of the things such a name implies (by the cue table below, written
  independently of the generator's own tables);
* type fits: the share whose main offering is plausible for the partner type;
* problem or people phrases: the share of partner texts that use a taxonomy
  phrase naming a problem or people ("failing grades", "hungry", "beginning
  teachers": :func:`matcher.generate.phrase_role`) instead of a service;
* teacher PD to students: partners whose main offering is teacher development
  and whose text offers it "to students and families" or "for ... students";
* duplicate names: partners sharing a name with another.

Usage::

    python scripts/sample_plausibility.py            # 300 schools x 1,000 partners, seed 42
    python scripts/sample_plausibility.py --partners 5000 --seed 1
    python scripts/sample_plausibility.py --show 40  # also print 40 random partners
"""
from __future__ import annotations

import argparse
import re

import numpy as np
import pandas as pd

import matcher.generate as gen
import matcher.generate.partners as gen_partners
from matcher.taxonomy import load_taxonomy

# What a name says its organisation does: a name matching a cue implies one of these main
# offerings (the union over all cues a name matches).
NAME_CUES: tuple[tuple[str, set[str]], ...] = (
    (r"Food (Bank|Pantry|Rescue)|Harvest|Kitchen|Grocer|Fresh Market|'s Market",
     {"food_insecurity", "basic_needs"}),
    (r"Tutor|Learning Center|Homework", {"tutoring", "math", "literacy"}),
    (r"Reads\b|Literacy|Book", {"literacy", "early_childhood"}),
    (r"Librar", {"literacy", "digital_access", "tutoring", "early_childhood", "english_learners",
                 "family_engagement"}),
    (r"Fire ", {"school_safety", "physical_health", "career_exploration", "work_based_learning"}),
    (r"Police|Sheriff", {"school_safety", "substance_use", "sports_recreation", "mentoring"}),
    (r"Athletic|Soccer|Little League|Running Club|Sport", {"sports_recreation"}),
    (r"Bank|Credit Union|Savings", {"financial_literacy", "entrepreneurship"}),
    (r"Software|Technolog|Data Systems|Digital|Labs\b|\bCode\b|Maker|Robotics|STEM",
     {"computer_science", "digital_access", "equipment_donations", "science_engineering", "math",
      "career_exploration"}),
    (r"Engineering", {"science_engineering", "career_exploration", "work_based_learning"}),
    (r"Builders|Construction|Contracting|Manufacturing|Industries|Precision",
     {"work_based_learning", "career_exploration", "facilities", "science_engineering"}),
    (r"LLP|Law Group|Court|Civic|Elections|Clerk", {"civic_education"}),
    (r"Histor|Heritage", {"civic_education", "field_trips", "arts_culture"}),
    (r"Legion|VFW", {"civic_education", "youth_leadership", "volunteering"}),
    (r"Health|Clinic|Pediatric|Hospital|Medical|Dental|Eye Care|Optometry|Vision",
     {"physical_health", "mental_health", "substance_use", "early_childhood"}),
    (r"Behavioral|Counseling|Grief", {"mental_health", "substance_use"}),
    (r"Health Department|Public Health", {"food_insecurity"}),
    (r"\bArts?\b|Artists", {"visual_arts", "arts_culture", "field_trips", "music",
                            "performing_arts"}),
    (r"Symphony|Orchestra|Music", {"music"}),
    (r"Theat|Playhouse|Ballet|Dance", {"performing_arts"}),
    (r"Zoo|Aquarium|Nature Center|Botanical|Conservancy|Watershed|Audubon|Garden Project|"
     r"Public Works|Water Company|Water Department|Conservation District|Power & Light|Energy",
     {"environment", "field_trips", "science_engineering"}),
    (r"Science|Planetarium|Children's Museum|Discovery", {"science_engineering", "field_trips",
                                                          "early_childhood"}),
    (r"Foundation|Fund\b|Trust", {"funding", "equipment_donations", "college_access"}),
    (r"Scholar|College Access|College Bound|First Gen", {"college_access"}),
    (r"Mentor", {"mentoring"}),
    (r"Housing|Shelter|Clothing|Closet|Coats|Human Services|Family Services",
     {"basic_needs", "family_engagement", "food_insecurity", "early_childhood"}),
    (r"Transit|Coach|Bus\b|Public Works", {"transportation", "environment"}),
    (r"Workforce|Job Center|Chamber of Commerce|Business Association",
     {"work_based_learning", "career_exploration", "entrepreneurship"}),
    (r"Parks|Recreation", {"sports_recreation", "after_school", "environment", "facilities"}),
    (r"Immigrant|Refugee|Welcome Center", {"english_learners", "family_engagement"}),
    (r"Early Learning|Child Development|Head Start", {"early_childhood"}),
    (r"Disabilit|Inclusion|Independent Living", {"special_education"}),
    (r"Entrepreneur|Economic", {"financial_literacy", "entrepreneurship"}),
    (r"Peace|Restorative|Violence", {"school_safety"}),
    (r"Graduation|Reengagement|Present\b", {"attendance"}),
    (r"Prevention|Drug-Free", {"substance_use"}),
    (r"Teacher|Educator|Teaching|Education\b", {"teacher_development", "research", "tutoring",
                                                 "literacy", "volunteering", "funding",
                                                 "equipment_donations"}),
    (r"Volunteer|Service Corps|Cares\b", {"volunteering"}),
    (r"Extension|4-H", {"food_insecurity", "environment", "youth_leadership"}),
    (r"Leadership|Scouts", {"youth_leadership"}),
    (r"Consulting|Analytics", {"research"}),
    (r"Creative|Design|Media", {"visual_arts", "career_exploration", "entrepreneurship"}),
    (r"Universit|College|Institute of Technology",
     {"college_access", "research", "teacher_development", "science_engineering",
      "computer_science", "mentoring", "work_based_learning", "career_exploration"}),
    (r"Rotary|Kiwanis|Optimist|Lions", {"volunteering", "literacy", "funding", "youth_leadership",
                                        "physical_health"}),
    (r"Church|Parish|Interfaith|Islamic|Temple", {"food_insecurity", "basic_needs", "tutoring",
                                                   "mentoring"}),
    (r"Community Center|Neighborhood House|Settlement House|YMCA|Boys & Girls|Youth Center|"
     r"Youth Alliance", {"after_school", "sports_recreation", "youth_leadership",
                         "family_engagement", "english_learners", "mentoring"}),
    (r"Youth Services|Youth Commission", {"after_school", "attendance", "mentoring",
                                          "youth_leadership"}),
    (r"PTA|Parent", {"volunteering", "family_engagement", "funding"}),
    (r"Family Resource|Family Alliance", {"family_engagement", "basic_needs", "early_childhood"}),
)
_CUES = [(re.compile(rx), cats) for rx, cats in NAME_CUES]

# Main offerings plausible for each partner type.
_EVERYTHING = set(load_taxonomy().category_slugs)
TYPE_PLAUSIBLE: dict[str, set[str]] = {
    "library": {"literacy", "digital_access", "tutoring", "early_childhood", "english_learners",
                "family_engagement", "after_school", "computer_science"},
    "foundation": {"funding", "equipment_donations", "college_access"},
    "health": {"physical_health", "mental_health", "substance_use", "food_insecurity",
               "early_childhood", "special_education"},
    "higher_education": {"college_access", "research", "teacher_development",
                         "science_engineering", "computer_science", "mentoring", "tutoring",
                         "work_based_learning", "career_exploration"},
    "cultural": {"arts_culture", "visual_arts", "music", "performing_arts", "field_trips",
                 "science_engineering", "environment", "civic_education", "early_childhood"},
    "business": {"career_exploration", "work_based_learning", "financial_literacy",
                 "entrepreneurship", "computer_science", "digital_access", "equipment_donations",
                 "science_engineering", "civic_education", "food_insecurity", "environment",
                 "sports_recreation", "visual_arts", "research", "transportation", "facilities",
                 "volunteering", "mentoring"},
    "government": {"sports_recreation", "after_school", "environment", "facilities",
                   "school_safety", "physical_health", "career_exploration", "basic_needs",
                   "family_engagement", "food_insecurity", "transportation", "work_based_learning",
                   "civic_education", "attendance", "mentoring", "youth_leadership",
                   "substance_use"},
    "community": {"food_insecurity", "basic_needs", "tutoring", "mentoring", "volunteering",
                  "literacy", "funding", "youth_leadership", "physical_health", "environment",
                  "school_safety", "after_school", "family_engagement", "english_learners",
                  "sports_recreation", "civic_education"},
    "nonprofit": _EVERYTHING - {"facilities", "transportation", "research"},
}


def name_implies(name: str) -> set[str] | None:
    """Main offerings a name implies (None: the name says nothing about what it offers)."""
    hit = [cats for rx, cats in _CUES if rx.search(name)]
    return set().union(*hit) if hit else None


def phrase_matcher() -> tuple[re.Pattern[str], dict[str, str]]:
    """One pattern for every taxonomy phrase (longest first) and each phrase's role."""
    roles = {p: gen.phrase_role(p) for c in load_taxonomy().categories for p in c.phrases}
    alts = sorted(roles, key=len, reverse=True)
    rx = re.compile(r"(?<![a-z0-9-])(?:" + "|".join(re.escape(p) for p in alts) + r")(?![a-z0-9-])")
    return rx, roles


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schools", type=int, default=300)
    ap.add_argument("--partners", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--show", type=int, default=0, help="print this many random partners")
    args = ap.parse_args()

    seen = {}
    real = gen_partners.make_partners

    def spy(*a, **k):
        seen["df"], seen["side"] = real(*a, **k)
        return seen["df"], seen["side"]

    gen_partners.make_partners = spy
    gen.generate(args.schools, args.partners, seed=args.seed)
    gen_partners.make_partners = real
    p, side = seen["df"], seen["side"]
    slugs = np.array(load_taxonomy().category_slugs)
    main_cat = slugs[side.cats[:, 0]]

    implied = [name_implies(n) for n in p["name"]]
    cued = np.array([s is not None for s in implied])
    fits = np.array([s is not None and m in s for s, m in zip(implied, main_cat)])
    type_ok = np.array([m in TYPE_PLAUSIBLE.get(t, _EVERYTHING)
                        for t, m in zip(p["partner_type"], main_cat)])
    rx, roles = phrase_matcher()
    # The templates' own "volunteers" ("trained volunteers help with") are not a phrase used.
    # Neither the templates' own "volunteers" ("trained volunteers help with") nor the partner's
    # name ("... Retired Teachers Association has served ...") is a phrase it uses.
    texts = pd.Series([t.lower().replace(name.lower(), " ") for t, name in
                       zip(p["offerings"], p["name"])], index=p.index).str.replace(
        r"(?:trained|our|staff and) volunteers|volunteers provide", " ", regex=True)
    bad_hits = [[m.group(0) for m in rx.finditer(t) if roles[m.group(0)] in ("problem", "people")]
                for t in texts]
    bad = np.array([bool(h) for h in bad_hits])
    pd_rows = main_cat == "teacher_development"
    to_students = texts.str.contains(r"students and families|for [^ .]+ students\.").to_numpy()
    pd_students = pd_rows & to_students

    n = len(p)
    print(f"{args.schools} schools x {n} partners, seed {args.seed}")
    print(f"  name says what it offers: {cued.mean():.1%} of partners; of those, the main offering "
          f"fits the name: {fits[cued].mean():.1%} ({int((cued & ~fits).sum())} do not)")
    print(f"  main offering plausible for the partner type: {type_ok.mean():.1%} "
          f"({int((~type_ok).sum())} not)")
    print(f"  texts with a problem or people phrase: {bad.mean():.1%} ({int(bad.sum())})")
    common = {}
    for h in bad_hits:
        for w in h:
            common[w] = common.get(w, 0) + 1
    if common:
        top = sorted(common.items(), key=lambda kv: -kv[1])[:8]
        print("    most common: " + ", ".join(f"{w!r} {c}" for w, c in top))
    print(f"  teacher PD offered to students: {int(pd_students.sum())} of {int(pd_rows.sum())}")
    print(f"  partners sharing a name: {p['name'].duplicated(keep=False).mean():.1%}")
    misfit = np.flatnonzero(cued & ~fits)[:10]
    if misfit.size:
        print("  names that do not fit (first 10): " + "; ".join(
            f"{p['name'].iloc[i]} -> {main_cat[i]}" for i in misfit))
    if args.show:
        rng = np.random.default_rng(0)
        for i in rng.choice(n, size=min(args.show, n), replace=False):
            r = p.iloc[i]
            print(f"\n{r['partner_id']} | {r['name']} | {r['partner_type']} | {r['grades']} | "
                  f"remote={r['remote']} | main={main_cat[i]}\n    {r['offerings']}")


if __name__ == "__main__":
    main()
