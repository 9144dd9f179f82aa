"""Defaults in one place: paths, block weights, limits.

Everything a user can change (paths, weights) is only a *default* here;
the model takes weights as parameters and the CLI takes paths as options.
"""
from __future__ import annotations

from pathlib import Path

#: Root of a source checkout (the folder holding ``matcher/``, ``data/``, ``models/``).
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Bundled sample data made by ``matcher generate`` (see ``data/README.md``).
SAMPLE_DIR = PROJECT_ROOT / "data" / "sample"
DEFAULT_SCHOOLS = SAMPLE_DIR / "schools.csv"
DEFAULT_PARTNERS = SAMPLE_DIR / "partners.csv"
DEFAULT_HISTORY = SAMPLE_DIR / "partnerships.csv"

#: Where ``matcher train`` writes the model and every other command reads it.
DEFAULT_MODEL = PROJECT_ROOT / "models" / "matcher.joblib"

#: The similarity blocks, in display order.
BLOCKS: tuple[str, ...] = ("text", "categories", "grades", "geo", "partner_type")

#: Default block weights (score = weighted mean of block similarities).
#: Chosen on the bundled sample and the paraphrase acceptance sets: see README "Weights".
DEFAULT_WEIGHTS: dict[str, float] = {
    "text": 0.55,
    "categories": 0.23,
    "grades": 0.05,
    "geo": 0.10,
    "partner_type": 0.03,
}

#: Geography: similarity = exp(-distance / length scale).
DEFAULT_GEO_LENGTH_KM = 25.0

#: Service area of an in-person (not remote) partner that gives no ``service_radius_km``:
#: a hard constraint like a stated radius (see data/README.md). Settable at train time
#: and overridable at query time.
DEFAULT_SERVICE_RADIUS_KM = 80.0

#: Geography credit of a remote partner serving outside its area, for a need that can be met
#: remotely (none for a need that only happens on site); a local partner always gets more (>= 0.5).
REMOTE_CREDIT = 0.1
#: Geography credit of a partner serving in person, however far inside its area (it rises to 1 near
#: the school): always above REMOTE_CREDIT, so an equally relevant local partner beats a remote one.
LOCAL_CREDIT = 0.9

#: Relevance (weighted mean of the text and category blocks) at which grades, geography and
#: partner type count in full; below it they count by (relevance / gate) ** 2.
RELEVANCE_GATE = 0.5

#: Hub correction (CSLS): share of a partner's excess closeness to every school's wording
#: (text) and needs (categories) subtracted from its blocks, measured over its HUB_NEIGHBOURS
#: nearest of at most HUB_REFERENCE_SCHOOLS training schools.
HUB_TEXT = 0.35
HUB_CATEGORIES = 1.0
#: A partner farther than average from every school (a rare offering) is lifted by at most this
#: much of its statistic: CSLS would otherwise add a rare category to every school's match.
HUB_MAX_LIFT = 0.1
HUB_NEIGHBOURS = 10
HUB_REFERENCE_SCHOOLS = 4096
#: Largest request body the web app reads (bytes); a larger one is refused with 413 before it is read.
MAX_REQUEST_BYTES = 1 << 20  # 1 MiB: a need is at most 5,000 characters, a note 4,000
#: Shortest token ``matcher serve --token`` accepts (characters; blank tokens are refused too).
MIN_TOKEN_CHARS = 16

#: The workspace database (outreach state, the live catalogue, cached encodings, accounts) of the
#: default model. Every model's workspace is ``outreach.db`` beside its file (:func:`workspace_path`).
DEFAULT_OUTREACH_DB = PROJECT_ROOT / "models" / "outreach.db"


def workspace_path(model_path: str | Path) -> Path:
    """The default workspace database of a model file: ``outreach.db`` in the same folder."""
    return Path(model_path).with_name(DEFAULT_OUTREACH_DB.name)
#: Days a declined pair stays out of suggestions.
DEFAULT_COOLDOWN_DAYS = 180

#: Default text encoder (see ``matcher.encoders``).
DEFAULT_ENCODER = "minilm"

#: Match strength labels: the lowest score of each label, strongest first (a score below every
#: threshold is the last label). One place for the page, the API and ``recommend --format json``
#: (``strength``). Measured on the three shared sets (563 top-10 suggestions) by
#: ``scripts/strength_thresholds.py``: 86% of "strong" suggestions are the partner a coordinator
#: would call first or an acceptable one, 53% of "good", 3% of "possible"; 92% of first calls
#: score "good" or better. The figures are in docs/web.md, "Match strength".
STRENGTH_THRESHOLDS: dict[str, float] = {"strong": 0.60, "good": 0.45, "possible": 0.0}
STRENGTH_LABELS: tuple[str, ...] = tuple(STRENGTH_THRESHOLDS)

#: "Matched terms" leave out filler of the partner corpus (display only; see
#: :func:`matcher.highlight.filler_terms`): words at least this many partners use...
FILLER_MIN_PARTNERS = 5
#: ...and either this share of all partners use (a low inverse document frequency)...
FILLER_COMMON_SHARE = 0.08
#: ...or whose users offer the corpus's mix of categories (KL divergence below this, in nats).
FILLER_MAX_DIVERGENCE = 0.2

#: Results shown when ``--top`` is not given.
DEFAULT_TOP = 10

#: Decimals of the scores (and each block's contribution) in every output: JSON, CSV, JSON Lines.
SCORE_DECIMALS = 6
#: Decimals of distances in km in every output.
DISTANCE_DECIMALS = 2

#: At most this many problems are listed per file before "... and N more".
MAX_REPORTED_PROBLEMS = 20

#: Longest cell of an input CSV, in characters (a need or offering is a few sentences;
#: a longer cell is a mistake, such as a quote left unclosed, or an attack on memory).
MAX_CELL_CHARS = 100_000

#: Grade levels in order; a grade band is a bit mask over these.
GRADE_LEVELS: tuple[str, ...] = ("PK", "K", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12")
