"""What a taxonomy phrase says (an offer, a problem, people, or neither) and how it is written.

Keyword tables (:data:`PROBLEM_WORDS`, :data:`SERVICE_WORDS`, :data:`PEOPLE_WORDS`,
:data:`OTHER_WORDS` ...) and :func:`phrase_role`, which partners' and schools'
texts use to pick phrases that fit their sentences; :data:`DISPLAY_WORDS` and
:func:`display_phrases` write acronyms and names as people do.
"""
from __future__ import annotations

import re
from functools import lru_cache

from matcher.generate.keywords import term_regex

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


PREPOSITION = re.compile(r" (?:for|with|to|in|at|of|on|from|by|about) ")


@lru_cache(maxsize=1)
def role_patterns() -> tuple[re.Pattern[str], ...]:
    """Compiled :data:`ACTION_STARTS`, people, problem, service, other, topic and provider
    patterns."""
    action = re.compile(r"^(?:" + "|".join(re.escape(w) for w in ACTION_STARTS) + r")(?![a-z0-9-])")
    return (action, term_regex(PEOPLE_WORDS + PROVIDER_WORDS, at_end=True),
            term_regex(PROBLEM_WORDS), term_regex(SERVICE_WORDS),
            term_regex(OTHER_WORDS, at_end=True), term_regex(TOPIC_WORDS, at_end=True),
            term_regex(PROVIDER_WORDS, at_end=True))


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
    action, people, problem, service, other, _, _ = role_patterns()
    text = phrase.strip().lower()
    core = PREPOSITION.split(text)[0]
    if action.search(text):
        return "other"
    if people.search(core):
        return "people"
    if problem.search(text) and not service.search(text):
        return "problem"
    if other.search(core):
        return "other"
    return "offer"


def display_phrases(phrases: list[str]) -> list[str]:
    """Phrases as people write them: acronyms in capitals, some names capitalised."""
    rx = term_regex(tuple(sorted(DISPLAY_WORDS, key=len, reverse=True)))
    return [rx.sub(lambda m: DISPLAY_WORDS[m.group(0)], p) for p in phrases]
