"""Kinds of organisation per partner type: what each is called and what it offers.

:data:`PROFILES` is the table: a partner type (matched by keywords in its slug,
label or aliases) covers kinds of organisation (a nonprofit may be a food bank,
a tutoring center or a mentoring network), each with name templates, the
offerings it is known for and the phrases it prefers, all as keywords over
category names and phrases, so any taxonomy works.
"""
from __future__ import annotations

from dataclasses import dataclass

from matcher.generate.keywords import words_hit
from matcher.taxonomy import PartnerType

# Partner grade bands: often wide, sometimes narrow (the main offering narrows them further).
_PARTNER_GRADES: tuple[tuple[str, float], ...] = (
    ("K-12", 0.30), ("PK-12", 0.10), ("9-12", 0.13), ("6-12", 0.10), ("K-5", 0.08),
    ("K-8", 0.07), ("PK-5", 0.05), ("6-8", 0.05), ("3-8", 0.03), ("K-2", 0.03),
    ("11-12", 0.02), ("PK-2", 0.02), ("3-5", 0.02), ("PK-K", 0.01),
)


@dataclass(frozen=True)
class Kind:
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
class Profile:
    """How one kind of partner type behaves: the kinds of organisation it covers, who they serve."""

    key: str
    type_words: tuple[str, ...]      # found in a type's slug/label/aliases
    kinds: tuple[Kind, ...]
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
PROFILES: tuple[Profile, ...] = (
    Profile(
        "library", ("librar",), (
            Kind(("{city} Public Library, {place} Branch", "{place} Branch Library",
                   "{place} Public Library", "{place} Library"),
                  ("reading", "digital", "tutor", "early childhood", "english"),
                  ("family engagement", "after-school", "computer", "career", "college"),
                  ("book", "read", "library", "literacy", "story", "homework", "internet",
                   "hotspot", "digital", "computer", "esl", "english", "conversation", "ged",
                   "adult", "summer", "writing", "databases")),
        ), ("{place} Library",), "public library", 0.5, avoid=_MONEY),
    Profile(
        "higher_education", ("universit", "college", "higher", "postsecondary", "academ"), (
            Kind(("{place} State University", "University of {city} at {place}",
                   "{surname} University", "{surname} College"),
                  ("college", "research", "teacher", *_SCIENCE, "computer", "mentor"),
                  ("tutor", "math", "career", "internship", "arts", "english", "special education"),
                  weight=1.4, national=True),
            Kind(("{place} Community College", "{city} College, {place} Campus"),
                  ("college", *_WORK, "career"),
                  ("tutor", "math", "computer", "family engagement", "english"),
                  weight=1.2),
            Kind(("{place} Technical College", "{place} Institute of Technology"),
                  (*_WORK, "computer", "engineering"), ("career", "college", "math", "robotics")),
            Kind(("{place} State University College of Education",
                   "{surname} School of Education"),
                  ("teacher", "research", "tutor"),
                  ("reading", "math", "special education", "english"),
                  weight=0.6, national=True),
        ), ("{place} College",), "college", 0.6,
        (("9-12", 0.35), ("6-12", 0.15), ("K-12", 0.20), ("11-12", 0.15), ("PK-12", 0.05),
         ("K-8", 0.05), ("6-8", 0.05))),
    Profile(
        "health", ("health", "clinic", "hospital", "medical"), (
            Kind(("{place} Community Health Center", "{place} Health Clinic",
                   "{place} Family Health Center"),
                  ("physical health", "health services", "mental"),
                  (*_FOOD, "substance", "family engagement"),
                  weight=1.4),
            Kind(("{surname} Pediatrics", "{place} Pediatric Associates"),
                  ("physical health", "health services", "early childhood"), ("mental", "reading"),
                  phrases=("pediatric", "checkup", "check-up", "well-child", "vaccin", "immuniz",
                           "physical", "screening", "asthma", "reach out and read", "developmental",
                           "healthy", "health")),
            Kind(("{city} Children's Hospital, {place} Campus", "{place} Medical Center"),
                  ("physical health", "health services", "mental"),
                  ("career", *_WORK, "special education", "substance"),
                  phrases=("health", "medical", "hospital", "nurs", "career", "pathway", "clinical",
                           "cpr", "first aid", "injury", "concussion", "therapy", "speech")),
            Kind(("{place} Family Dental", "{surname} Dental Group", "{place} Smiles Dental"),
                  ("physical health", "health services"), (),
                  phrases=("dental", "dentist", "oral", "sealant", "fluoride", "tooth")),
            Kind(("{place} Eye Care", "{surname} Optometry", "{place} Vision Center"),
                  ("physical health", "health services"), (),
                  phrases=("vision", "eye", "glasses"), weight=0.5),
            Kind(("{place} Behavioral Health", "{place} Counseling Center",
                   "{place} Family Counseling Services"),
                  ("mental", "counsel", "substance"),
                  ("family engagement", "safety", "special education"),
                  weight=1.3, national=True),
            Kind(("{place} County Health Department", "{city} Department of Public Health"),
                  ("physical health", "health services", "substance", "nutrition"), ("mental",),
                  phrases=("health", "vaccin", "immuniz", "screening", "prevention", "education",
                           "nutrition", "healthy", "lead", "dental", "vision", "hearing")),
        ), ("{place} Health",), "health provider", 0.9, volunteers=False),
    Profile(
        "cultural", ("museum", "cultur", "arts", "theater", "theatre", "zoo", "orchestra"), (
            Kind(("{city} Museum of Art", "{place} Art Museum", "{place} Arts Center"),
                  ("visual", "arts and culture", "field trip"), ("history",),
                  phrases=("art", "museum", "gallery", "exhibit", "paint", "draw", "sculpt",
                           "photograph", "ceramic", "cultur", "tour", "visit", "docent")),
            Kind(("{place} Children's Museum", "{place} Discovery Center"),
                  ("field trip", "early childhood", "engineering"),
                  ("arts and culture", "family engagement"),
                  phrases=("museum", "exhibit", "play", "hands-on", "visit", "tinker", "maker",
                           "early", "family", "science")),
            Kind(("{place} Science Center", "{city} Museum of Science", "{place} Planetarium"),
                  ("engineering", "field trip"),
                  ("environment", "math", "teacher", "computer"),
                  phrases=("science", "stem", "museum", "planetarium", "exhibit", "experiment",
                           "space", "astronomy", "maker", "robot", "visit", "engineering")),
            Kind(("{city} Symphony Orchestra", "{place} Youth Orchestra", "{place} Music Academy",
                   "{place} Community Music School"),
                  ("music",), ("arts and culture", "field trip", "performing"),
                  phrases=("music", "orchestra", "symphony", "concert", "instrument", "string",
                           "band", "lesson", "choir", "ensemble", "jazz", "piano", "violin")),
            Kind(("{place} Theater Company", "{place} Repertory Theatre", "{place} Playhouse"),
                  ("theater", "theatre", "performing"),
                  ("arts and culture", "field trip", "reading"),
                  phrases=("theat", "drama", "play", "acting", "stage", "matinee", "performance",
                           "improv", "costume", "set design", "script", "writing", "shakespeare")),
            Kind(("{place} Dance Company", "{city} Ballet", "{place} Dance Theatre"),
                  ("dance", "performing"), ("arts and culture", "sport"),
                  phrases=("dance", "ballet", "choreograph", "movement", "folklorico", "step",
                           "tap", "hip hop", "performance", "recital")),
            Kind(("{city} Zoo", "{place} Aquarium", "{place} Nature Center",
                   "{place} Botanical Garden"),
                  ("field trip", "environment", "outdoor"), ("engineering",),
                  phrases=("zoo", "aquarium", "nature", "animal", "wildlife", "garden", "botanic",
                           "conservation", "habitat", "ecolog", "marine", "outdoor", "plant",
                           "visit", "biology", "ocean", "bird")),
            Kind(("{city} History Museum", "{place} Historical Society",
                   "{place} Heritage Center"),
                  ("history", "civic", "field trip"), ("arts and culture",),
                  phrases=("history", "historic", "heritage", "museum", "primary source",
                           "artifact", "exhibit", "civil rights", "visit", "tour", "oral")),
            Kind(("{place} Arts Council", "{place} Arts Alliance",
                   "{place} Community Arts Center"),
                  ("arts and culture", "visual", "music", *_PERFORMING), ("fund", "after-school")),
        ), ("{place} Cultural Center",), "cultural institution", 0.7),
    Profile(
        "foundation", ("foundation", "philanthrop", "funder", "grantmak"), (
            Kind(("{place} Community Foundation", "{surname} Family Foundation",
                   "{surname} Charitable Trust", "{surname}-{surname2} Foundation"),
                  ("fund", "grant"), ("donation", "college"), weight=2.0, national=True,
                  sessions=False),
            Kind(("{place} Education Foundation", "{city} Public Education Fund",
                   "{place} Schools Foundation"),
                  ("fund", "grant", "equipment", "donation"), ("teacher", "college"),
                  phrases=("grant", "fund", "supplies", "classroom", "teacher", "donation",
                           "materials", "sponsor", "matching", "stipend"), sessions=False),
            Kind(("{surname} Scholarship Fund", "{place} Scholars Foundation"),
                  ("college",), ("fund", "grant"),
                  phrases=("scholarship", "financial aid", "college cost", "college afford",
                           "pell", "college savings", "student aid"),
                  weight=0.6, national=True, sessions=False),
        ), ("{place} Foundation",), "foundation", 0.5, volunteers=False),
    Profile(
        "business", ("business", "company", "corporat", "employer", "firm", "industry"), (
            Kind(("{place} Credit Union", "{place} Savings Bank", "{place} Community Bank",
                   "First National Bank of {place}"),
                  ("financial", "entrepreneur"), ("career", "fund", "volunteer", "college"),
                  phrases=("bank", "saving", "credit", "budget", "money", "financial", "finance",
                           "scholarship", "college savings", "sponsor", "entrepreneur",
                           "business")),
            Kind(("{place} Software", "{surname} Technologies", "{place} Data Systems",
                   "{surname} Labs", "{place} Digital"),
                  ("computer", "digital", "equipment", "career"), (*_WORK, "math", "mentor"),
                  phrases=("coding", "code", "computer", "software", "laptop", "device", "tech",
                           "cyber", "web", "app", "ai", "data", "internet", "hotspot", "chromebook",
                           "tablet", "digital", "hackathon", "refurbished", "it "),
                  weight=1.3, national=True),
            Kind(("{surname} & Co. Engineering", "{surname} Engineering Group",
                   "{place} Engineering Associates"),
                  ("engineering", "robotics", "career"), (*_WORK, "math", "mentor", "computer"),
                  phrases=("engineer", "robot", "stem", "design", "bridge", "circuit", "career",
                           "job shadow", "internship", "workplace", "math", "steam")),
            Kind(("{place} Builders Inc.", "{surname} Construction",
                   "{surname} Brothers Contracting"),
                  (*_WORK, "career", "facilit"), ("volunteer", "equipment"),
                  phrases=("construction", "trades", "carpentry", "weld", "apprentice", "hvac",
                           "plumbing", "electrical", "osha", "renovation", "repair", "playground",
                           "building", "build day", "tools", "career", "job shadow", "site")),
            Kind(("{surname} Manufacturing", "{place} Industries", "{place} Precision Products"),
                  (*_WORK, "career", "engineering"), ("equipment", "volunteer"),
                  phrases=("manufactur", "cnc", "machin", "weld", "apprentice", "mechatronics",
                           "plant tour", "industry", "career", "job shadow", "engineer", "robot")),
            Kind(("{surname} & {surname2} LLP", "{surname} Law Group"),
                  ("civic", "law"), ("mentor", "career", "college"),
                  phrases=("law", "legal", "court", "trial", "rights", "justice", "constitution",
                           "debate", "judge", "civic", "mentor", "career")),
            Kind(("{place} Grocers", "{surname}'s Market", "{place} Fresh Market"),
                  _FOOD, ("volunteer", "fund"),
                  phrases=("food drive", "food box", "free food", "healthy food", "produce",
                           "fruit", "vegetable", "snack", "meal", "grocer",
                           "nutrition", "cooking", "breakfast", "pantry", "drive", "healthy",
                           "sponsor", "donation"), sessions=False),
            Kind(("{place} Power & Light", "{place} Water Company", "{place} Energy"),
                  ("environment", "sustainab", "engineering"), ("career", *_WORK),
                  phrases=("energy", "water", "solar", "conservation", "efficien", "renewable",
                           "electric", "recycl", "utility", "lineworker", "engineer", "stem"),
                  weight=0.6),
            Kind(("{place} Sporting Goods", "{surname} Sports"),
                  ("sport", "recreation"), ("equipment", "volunteer", "fund"),
                  phrases=("equipment", "gear", "jersey", "uniform", "ball", "cleat", "helmet",
                           "bike", "coach"), weight=0.5,
                  sessions=False),
            Kind(("{city} Chamber of Commerce, {place} Office", "{place} Business Association"),
                  ("career", *_WORK, "entrepreneur"), ("mentor", "volunteer", "financial"),
                  weight=0.7),
            Kind(("{place} Creative", "{surname} Design Studio", "{place} Media Group"),
                  ("visual", "career", "entrepreneur"), (*_WORK, "computer"),
                  phrases=("design", "graphic", "media", "photo", "film", "video", "animation",
                           "podcast", "marketing", "advertising", "brand", "career", "internship"),
                  weight=0.5),
            Kind(("{surname} Consulting Group", "{place} Analytics"),
                  ("research", "evaluation"), ("career", "mentor", "teacher"), weight=0.4,
                  national=True),
            Kind(("{place} Charter Coach", "{place} Transit Lines", "{surname} Bus Company"),
                  ("transport",), ("career",), weight=0.4, sessions=False),
        ), ("{surname} Group",), "business", 1.6),
    Profile(
        "community", ("community", "faith", "church", "religio", "congregation", "civic",
                      "neighborhood", "grassroots"), (
            Kind(("{place} Community Church", "St. {saint} Parish", "{place} Interfaith Council",
                   "{place} Baptist Church", "{place} Islamic Center", "{place} Methodist Church"),
                  (*_FOOD, "basic need", "housing", "tutor", "mentor"),
                  ("volunteer", "family engagement", "after-school", "english"), weight=1.5,
                  phrases=("food", "pantry", "meal", "backpack", "coat", "cloth", "shoes",
                           "uniform", "hygiene", "toy", "holiday", "homework", "tutoring", "mentor",
                           "volunteer", "drive", "donation", "snack", "breakfast", "supper")),
            Kind(("{place} Rotary Club", "{place} Kiwanis Club", "{place} Optimist Club"),
                  ("volunteer", "reading", "fund", "leadership"), ("equipment", "college"),
                  phrases=("volunteer", "service", "dictionar", "book", "read", "grant",
                           "scholarship", "sponsor", "interact", "key club", "leadership",
                           "supplies", "drive", "day of service")),
            Kind(("{place} Lions Club",),
                  ("physical health", "health services", "volunteer"), ("reading", "fund"),
                  phrases=("vision", "eye", "glasses", "hearing", "screening", "volunteer",
                           "service", "book", "read", "scholarship"), weight=0.4),
            Kind(("{place} Neighborhood Association", "{place} Community Association",
                   "{place} Block Club"),
                  ("volunteer", "environment", "safety"), ("family engagement", "facilit"),
                  phrases=("volunteer", "cleanup", "clean-up", "garden", "tree", "beautification",
                           "safe passage", "safety", "crossing", "mural", "community", "service")),
            Kind(("{place} Community Center", "{place} Neighborhood House",
                   "{place} Settlement House"),
                  ("after-school", "summer", "family engagement", "english", "sport"),
                  ("food", "facilit", "tutor", "adult learning")),
            Kind(("{place} PTA", "{place} Parent Network", "{place} Parents Council"),
                  ("volunteer", "family engagement", "fund"), ("equipment", "after-school"),
                  phrases=("volunteer", "parent", "family", "fundrais", "bake sale", "supplies",
                           "drive", "grant", "night", "event")),
            Kind(("{place} American Legion Post", "{place} VFW Post"),
                  ("civic", "history", "leadership"), ("volunteer", "college"),
                  phrases=("veteran", "history", "flag", "memorial", "civic", "constitution",
                           "boys state", "girls state", "leadership", "scholarship", "oratory",
                           "american"), weight=0.4),
            Kind(("{city} Retired Teachers Association", "{place} Senior Center"),
                  ("tutor", "reading", "volunteer"), ("mentor",), weight=0.5),
        ), ("{place} Community Group",), "community organization", 0.9),
    Profile(
        "youth", ("youth", "club", "sport", "recreation", "ymca", "scout"), (
            Kind(("{place} YMCA", "Boys & Girls Club of {place}", "{place} Youth Center"),
                  ("after-school", "summer", "sport", "leadership"), ("mentor", "tutor", *_FOOD)),
            Kind(("{place} Youth Soccer League", "{place} Little League", "{place} Running Club"),
                  ("sport", "recreation"), ("leadership", "after-school", "mentor")),
            Kind(("{place} Scouts Council", "{place} 4-H Club"),
                  ("leadership", "outdoor", "environment"), ("after-school", "volunteer")),
        ), ("{place} Youth Club",), "youth organization", 0.6),
    Profile(
        "government", ("government", "agency", "municipal", "city", "county", "public", "state"), (
            Kind(("{place} Parks and Recreation", "{place} Parks Department",
                   "{place} Recreation Center"),
                  ("sport", "recreation", "after-school", "summer", "outdoor", "environment",
                   "facilit"), ("field trip", "volunteer"), weight=1.5,
                  phrases=("park", "recreation", "rec ", "league", "sports", "swim", "pool",
                           "field", "gym", "camp", "summer", "after-school", "after school",
                           "nature", "outdoor", "trail", "hiking", "fitness", "tennis", "soccer",
                           "basketball", "space", "program")),
            Kind(("{city} Fire Department, Station {num}", "{place} Fire Rescue",
                   "{place} Fire District"),
                  ("safety", "physical health", "health services", "career"), (*_WORK,),
                  phrases=("fire", "emergency", "cpr", "first aid", "aed", "stop the bleed",
                           "injury prevention", "water safety", "firefighter", "emt", "career day",
                           "career fair", "safety plan", "drill")),
            Kind(("{city} Police Department, {place} Precinct", "{place} County Sheriff's Office"),
                  ("safety", "violence", "substance"), ("mentor", "career", "civic"),
                  phrases=("safety", "police", "law enforcement", "resource officer",
                           "gang prevention", "violence prevention", "internet", "predator",
                           "stranger danger", "personal safety", "bike safety", "drug",
                           "d.a.r.e", "dare", "alcohol", "vaping prevention", "mentor", "career",
                           "know your rights", "youth court", "teen court")),
            Kind(("{city} Police Athletic League, {place} Chapter",),
                  ("sport", "recreation", "mentor"), ("safety", "after-school", "leadership"),
                  weight=0.5),
            Kind(("{city} Housing Authority, {place} Office", "{place} Housing Authority"),
                  ("basic need", "housing", "family engagement"), ("after-school", "financial"),
                  phrases=("housing", "rent", "shelter", "eviction", "utility", "family",
                           "resource", "case management", "benefits"), weight=0.6),
            Kind(("{place} County Department of Human Services",
                   "{place} County Office of Family Services"),
                  ("basic need", "housing", *_FOOD, "family engagement"),
                  ("early childhood", "mental"),
                  phrases=("snap", "ebt", "wic", "benefit", "food", "meal", "housing",
                           "assistance", "case management", "family", "child care", "emergency",
                           "utility", "resource", "foster", "kinship", "services")),
            Kind(("{place} County Extension Office", "{place} County 4-H"),
                  (*_FOOD, "environment", "leadership"), ("financial", "family engagement"),
                  phrases=("nutrition", "cooking", "healthy", "garden", "farm", "4-h", "agricult",
                           "leadership", "science", "snap", "food", "plants")),
            Kind(("{place} Transit Authority", "{place} County Transit"),
                  ("transport",), ("safety", "career"), weight=0.5),
            Kind(("{place} Workforce Development Board", "{place} American Job Center"),
                  (*_WORK, "career"), ("financial", "adult learning"),
                  phrases=("summer job", "youth employment", "job", "work", "career",
                           "apprentice", "internship", "resume", "interview", "workforce")),
            Kind(("{place} County Board of Elections", "{place} County Juvenile Court",
                   "{place} County Clerk's Office"),
                  ("civic", "law"), ("leadership", "safety"), weight=0.5,
                  phrases=("vot", "election", "poll", "court", "civic", "government", "law",
                           "rights", "mock trial", "know your rights", "citizenship")),
            Kind(("{place} Office of Youth Services", "{place} Youth Commission"),
                  ("after-school", "summer", "attendance", "mentor", "leadership"),
                  ("sport", "career", "mental")),
            Kind(("{place} Public Works", "{place} Soil and Water Conservation District",
                   "{place} Water Department"),
                  ("environment", "sustainab"), ("career", "field trip"),
                  phrases=("water", "recycl", "compost", "waste", "stormwater", "watershed",
                           "conservation", "tree", "rain", "energy", "litter", "cleanup",
                           "environment"), weight=0.6),
        ), ("{place} Public Office",), "public agency", 0.8, volunteers=False),
    Profile(
        "volunteer", ("volunteer", "individual", "parent", "retire"), (
            Kind(("{place} Volunteer Corps", "{surname} Volunteer Group"),
                  ("volunteer", "tutor", "mentor"), ("reading",)),
            Kind(("{city} Retired Teachers Association", "{place} Parent Network"),
                  ("tutor", "reading", "volunteer"), ("mentor", "family engagement")),
        ), ("{place} Volunteers",), "volunteer group", 0.5, avoid=_MONEY),
    Profile(
        "nonprofit", ("nonprofit", "non-profit", "non profit", "charit", "ngo"), (
            Kind(("{surname} Tutoring Collective", "{place} Learning Center", "{place} Tutors",
                   "{place} Homework Club"),
                  ("tutor", "math", "reading"),
                  ("college", "english", "after-school", "mentor", "special education"),
                  weight=1.4, national=True),
            Kind(("{place} Food Bank", "{place} Food Pantry", "Harvest {place}",
                   "{place} Community Kitchen", "{place} Food Rescue"),
                  _FOOD, ("basic need", "family engagement", "volunteer"), weight=1.1,
                  phrases=("food", "pantry", "meal", "backpack", "snack", "produce", "fruit",
                           "vegetable", "groceri", "breakfast", "supper", "nutrition", "cooking",
                           "snap", "drive", "holiday", "fridge", "distribution", "box", "bag")),
            Kind(("{place} Mentoring Network", "{place} Mentors", "{place} Mentoring Partnership"),
                  ("mentor",), ("leadership", "career", "college", "tutor", "attendance"),
                  weight=1.2, national=True),
            Kind(("{place} Literacy Council", "{place} Book Project", "{place} Reads",
                   "Books for {place} Kids"),
                  _READING,
                  ("early childhood", "family engagement", "english", "tutor", "volunteer"),
                  national=True),
            Kind(("{place} Family Resource Center", "{place} Family Services",
                   "{place} Family Alliance"),
                  ("family engagement", "basic need", "early childhood"),
                  ("food", "english", "mental", "financial")),
            Kind(("{place} Youth Alliance", "Boys & Girls Club of {place}", "{place} YMCA",
                   "{place} Youth Center"),
                  ("after-school", "summer", "sport", "recreation", "leadership"),
                  ("mentor", "tutor", *_FOOD, "arts and culture"), weight=1.2),
            Kind(("{place} College Access Network", "{place} Scholars", "First Gen {place}",
                   "{place} College Bound"),
                  ("college",), ("mentor", "career", "financial", "tutor"), national=True),
            Kind(("{place} STEM Collaborative", "Code {place}", "{place} Robotics League",
                   "{place} Maker Lab"),
                  ("computer", "engineering", "robotics", "math"),
                  ("after-school", "mentor", "teacher"),
                  national=True),
            Kind(("{place} Immigrant Services", "{place} Refugee Services",
                   "{place} Welcome Center"),
                  ("english", "family engagement"),
                  ("basic need", "tutor", "civic", "adult learning"),
                  weight=0.6),
            Kind(("{place} Youth Counseling Services", "{place} Center for Grief and Healing",
                   "{place} Family Counseling"),
                  ("mental", "counsel", "substance"), ("family engagement", "safety"), weight=0.6,
                  national=True),
            Kind(("{place} Conservancy", "{place} Watershed Council", "{place} Garden Project",
                   "{place} Audubon Society"),
                  ("environment", "outdoor", "sustainab"), ("field trip", "volunteer"),
                  weight=0.6),
            Kind(("{place} Young Artists", "{place} Youth Arts Project",
                   "{place} Arts Collective"),
                  ("arts and culture", "visual", "music", *_PERFORMING), ("after-school",),
                  weight=0.4),
            Kind(("{place} Music Project", "{place} Youth Orchestra",
                   "{place} Community Music School"),
                  ("music",), ("arts and culture", "after-school"), weight=0.3),
            Kind(("{place} Youth Theater", "{place} Youth Dance Project"),
                  _PERFORMING, ("arts and culture", "reading", "after-school"), weight=0.3),
            Kind(("{place} Early Learning Coalition", "{place} Child Development Center",
                   "{place} Head Start"),
                  ("early childhood", "kindergarten"),
                  ("family engagement", "reading", "special education"),
                  weight=0.6),
            Kind(("{place} Disability Network", "{place} Inclusion Project",
                   "{place} Center for Independent Living"),
                  ("special education", "inclusion"),
                  ("family engagement", "sport", "mental"), weight=0.8),
            Kind(("{place} Young Entrepreneurs", "{place} Youth Economic Alliance"),
                  ("financial", "entrepreneur"), ("career", "college"), weight=0.4, national=True),
            Kind(("{place} Peace Project", "{place} Center for Restorative Practice",
                   "{place} Youth Violence Prevention Network"),
                  ("safety", "violence"), ("mentor", "mental", "leadership"), weight=0.5),
            Kind(("{place} Graduation Coalition", "{place} Youth Reengagement Center",
                   "Every Student Present {place}"),
                  ("attendance", "dropout"),
                  ("mentor", "family engagement", "tutor", "college"), weight=0.7),
            Kind(("{place} Clothing Closet", "{place} Family Shelter", "{place} Housing Alliance",
                   "Coats for {place} Kids"),
                  ("basic need", "housing"), ("food", "family engagement"), weight=0.6),
            Kind(("{place} Volunteer Corps", "{place} Service Corps", "{place} Cares"),
                  ("volunteer",), ("tutor", "mentor", "reading", "environment"), weight=0.5),
            Kind(("{place} Youth Civic League", "{place} Center for Civic Education",
                   "{place} Youth Court"),
                  ("civic", "law", "history"), ("leadership", "college"), weight=0.4),
            Kind(("{place} Prevention Coalition", "{place} Drug-Free Youth Coalition"),
                  ("substance",), ("mental", "leadership"), weight=0.4),
            Kind(("{place} Teacher Center", "{place} Educator Collaborative",
                   "{place} Teaching Fellows"),
                  ("teacher",), ("research", "math", "reading"), weight=0.4, national=True),
            Kind(("{place} Youth Leadership Institute", "{place} Scouts Council"),
                  ("leadership", "character"), ("after-school", "outdoor", "mentor"), weight=0.5),
            Kind(("{place} Youth Sports Alliance", "{place} Youth Soccer League",
                   "{place} Running Club"),
                  ("sport", "recreation"), ("leadership", "after-school", "mentor"), weight=0.5),
            Kind(("Friends of {place} Schools",),
                  ("fund", "volunteer", "equipment"), ("family engagement",), weight=0.4),
        ), ("{place} Youth Alliance",), "nonprofit", 1.8),
)
_FALLBACK_PROFILE = Profile("other", (), (), ("{place} {label}", "{surname} {label} Group"),
                             "", 0.5)
#: Offerings any organisation may add to its own (staff who volunteer or mentor, a career day,
#: a donation drive): a share of partners' extra offerings come from these.
GENERAL_OFFER_WORDS: tuple[str, ...] = ("volunteer", "mentor", "career", "donation")
GENERAL_SHARE = 0.15


def profile_for(ptype: PartnerType) -> Profile:
    """The profile of a partner type: by slug and label, else by aliases, else the fallback."""
    for texts in ((ptype.slug.replace("_", " "), ptype.label), ptype.aliases):
        text = " ".join(texts).lower()
        for prof in PROFILES:
            if words_hit(text, prof.type_words):
                return prof
    return _FALLBACK_PROFILE
