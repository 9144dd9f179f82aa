"""The shipped taxonomy of need/offering categories and partner types.

The taxonomy lives in ``matcher/taxonomy.toml``. Each category has a slug,
a label, a short name used in reasons ("meets your food insecurity need"),
a one-line description and many phrases as people write them.
"""
from __future__ import annotations

import hashlib
import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TAXONOMY_PATH = Path(__file__).with_name("taxonomy.toml")


@dataclass(frozen=True)
class Category:
    """One need/offering category."""

    slug: str
    label: str
    short: str
    description: str
    phrases: tuple[str, ...]
    in_person: bool = False


@dataclass(frozen=True)
class PartnerType:
    """One kind of partner organisation."""

    slug: str
    label: str
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class Taxonomy:
    """Categories and partner types, in file order."""

    categories: tuple[Category, ...]
    partner_types: tuple[PartnerType, ...]
    _type_lookup: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def category_slugs(self) -> tuple[str, ...]:
        return tuple(c.slug for c in self.categories)

    @property
    def in_person_mask(self) -> np.ndarray:
        """Boolean mask over categories: needs that can only be met on site."""
        return np.array([c.in_person for c in self.categories], dtype=bool)

    @property
    def partner_type_slugs(self) -> tuple[str, ...]:
        return tuple(t.slug for t in self.partner_types)

    def category(self, slug: str) -> Category:
        """The category with this slug (KeyError if none)."""
        for c in self.categories:
            if c.slug == slug:
                return c
        raise KeyError(slug)

    def resolve_partner_type(self, text: str) -> str | None:
        """Map a partner type as written ("University", "non-profit") to its slug, or None."""
        key = _type_key(text)
        return self._type_lookup.get(key)


def _type_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


@lru_cache(maxsize=4)
def load_taxonomy(path: str | Path = TAXONOMY_PATH) -> Taxonomy:
    """Load a taxonomy file.

    Parameters
    ----------
    path : str or Path, default: the shipped ``taxonomy.toml``

    Returns
    -------
    Taxonomy

    Examples
    --------
    >>> tax = load_taxonomy()
    >>> len(tax.categories) >= 25
    True
    >>> tax.resolve_partner_type("Non-profit")
    'nonprofit'
    """
    with open(path, "rb") as fh:
        raw = tomllib.load(fh)
    cats = tuple(
        Category(
            slug=c["slug"],
            label=c["label"],
            short=c.get("short", c["label"].lower()),
            description=c["description"],
            phrases=tuple(dict.fromkeys(p.strip().lower() for p in c["phrases"] if p.strip())),
            in_person=bool(c.get("in_person", False)),
        )
        for c in raw["category"]
    )
    types = tuple(
        PartnerType(slug=t["slug"], label=t["label"], aliases=tuple(t.get("aliases", ())))
        for t in raw["partner_type"]
    )
    lookup: dict[str, str] = {}
    for t in types:
        for name in (t.slug, t.label, *t.aliases):
            lookup.setdefault(_type_key(name), t.slug)
    return Taxonomy(categories=cats, partner_types=types, _type_lookup=lookup)


class PhraseIndex:
    """Find taxonomy phrases in text, on lightly stemmed tokens.

    Parameters
    ----------
    taxonomy : Taxonomy

    Examples
    --------
    >>> idx = PhraseIndex(load_taxonomy())
    >>> [p for _, p in idx.find("Our kids are hungry on Mondays")]
    ['hungry']
    """

    def __init__(self, taxonomy: Taxonomy):
        from matcher.text import stems

        self.n_categories = len(taxonomy.categories)
        self._by_first: dict[str, list[tuple[tuple[str, ...], int, str]]] = {}
        for ci, cat in enumerate(taxonomy.categories):
            for phrase in cat.phrases:
                key = tuple(stems(phrase))
                if key:
                    self._by_first.setdefault(key[0], []).append((key, ci, phrase))
        for entries in self._by_first.values():
            entries.sort(key=lambda e: -len(e[0]))  # longest phrase first

    def spans(self, text: str) -> list[tuple[int, str, int, int]]:
        """(category index, phrase, start, end) of every phrase found in ``text``, as :meth:`find` finds them.

        Examples
        --------
        >>> idx = PhraseIndex(load_taxonomy())
        >>> [(p, a, b) for _, p, a, b in idx.spans("Our kids are hungry on Mondays")]
        [('hungry', 13, 19)]
        """
        from matcher.text import stem, token_spans

        toks = token_spans(text)
        keys = [stem(t) for t, _, _ in toks]
        out = []
        i = 0
        while i < len(keys):
            step = 1
            for key, ci, phrase in self._by_first.get(keys[i], ()):
                if tuple(keys[i : i + len(key)]) == key:
                    out.append((ci, phrase, toks[i][1], toks[i + len(key) - 1][2]))
                    step = len(key)
                    break
            i += step
        return out

    def find(self, text: str) -> list[tuple[int, str]]:
        """(category index, phrase) for each distinct phrase found, longest match wins at a position."""
        from matcher.text import stems

        toks = stems(text)
        found: dict[tuple[int, str], None] = {}
        i = 0
        while i < len(toks):
            step = 1
            for key, ci, phrase in self._by_first.get(toks[i], ()):
                if tuple(toks[i : i + len(key)]) == key:
                    found[(ci, phrase)] = None
                    step = len(key)
                    break
            i += step
        return list(found)


#: Embeddings of the shipped taxonomy's phrases for the default encoder, so that
#: training does not re-encode thousands of phrases (``python -m matcher.taxonomy`` rebuilds).
PROTOTYPES_DIR = Path(__file__).with_name("prototypes")
_PROTOTYPE_CACHE: dict[str, np.ndarray] = {}


def _prototype_key(encoder, texts: list[str]) -> str:
    return hashlib.sha256("\n".join([encoder.sha256, *texts]).encode()).hexdigest()[:24]


def prototype_embeddings(encoder, texts: list[str]) -> np.ndarray:
    """Embeddings of the taxonomy's phrases and descriptions: shipped, cached in-process, or encoded now.

    Stored at float16 precision whichever way they are obtained, so a model is
    the same whether the shipped file was used or not.
    """
    key = _prototype_key(encoder, texts)
    if key not in _PROTOTYPE_CACHE:
        shipped = PROTOTYPES_DIR / f"{key}.npy"
        if shipped.exists():
            emb = np.load(shipped)
        else:
            emb = encoder.encode(texts).astype(np.float16)
        _PROTOTYPE_CACHE.clear()
        _PROTOTYPE_CACHE[key] = emb.astype(np.float32)
    return _PROTOTYPE_CACHE[key]


def build_shipped_prototypes() -> Path:
    """Write the default encoder's prototype embeddings for the shipped taxonomy; drop stale files."""
    from matcher.config import DEFAULT_ENCODER
    from matcher.encoders import load_encoder

    encoder = load_encoder(DEFAULT_ENCODER)
    texts = CategoryTagger.prototype_texts(load_taxonomy())
    key = _prototype_key(encoder, texts)
    PROTOTYPES_DIR.mkdir(exist_ok=True)
    for old in PROTOTYPES_DIR.glob("*.npy"):
        old.unlink()
    target = PROTOTYPES_DIR / f"{key}.npy"
    np.save(target, encoder.encode(texts).astype(np.float16))
    return target


class CategoryTagger:
    """Tag texts with taxonomy categories from phrases and from sentence embeddings.

    A category's strength in a text combines two views: the taxonomy phrases
    found in it (precise, but only for the words listed) and how near the
    text's embedding is to the category's description and best-matching
    phrases (generalises to words nobody listed). Strengths are in [0, 1].

    A short generic text ("school supplies for students and families") is
    near *every* category; left alone it would be tagged with many and cover
    every need. So a text's nearness is lowered by how much its mean nearness
    over all categories exceeds :attr:`typical_nearness` (how near a category
    description is, on average, to the other categories: a property of the
    encoder and the taxonomy, not of anyone's data). Specific texts are not
    changed.

    Parameters
    ----------
    taxonomy : Taxonomy
    encoder : object with ``encode(texts) -> (n, d) unit rows``
    """

    #: Nearness (cosine) at which a category is half-present, and how fast it rises around it.
    midpoint = 0.42
    slope = 0.03
    #: Nearness bonus for the first taxonomy phrase found, and for each further one.
    phrase_bonus = 0.12
    #: Extra nearness a category needs when none of its phrases is in the text: a long real text
    #: is near many categories, and nearness alone over-tags it.
    unphrased_margin = 0.05

    def __init__(self, taxonomy: Taxonomy, encoder):
        self.taxonomy = taxonomy
        self.index = PhraseIndex(taxonomy)
        self.phrase_cat = np.array(
            [ci for ci, c in enumerate(taxonomy.categories) for _ in c.phrases], dtype=np.int32
        )
        texts = self.prototype_texts(taxonomy)
        n_phrases = len(self.phrase_cat)
        emb = prototype_embeddings(encoder, texts)
        self.phrase_emb = emb[:n_phrases]
        self.desc_emb = emb[n_phrases:]
        near = self.embedding_nearness(self.desc_emb).astype(np.float64)
        n = self.n_categories
        self.typical_nearness = float((near.sum() - np.trace(near)) / (n * (n - 1))) if n > 1 else 0.0

    @staticmethod
    def prototype_texts(taxonomy: Taxonomy) -> list[str]:
        """Every phrase, then every category's label and description, in taxonomy order."""
        phrases = [p for c in taxonomy.categories for p in c.phrases]
        return phrases + [f"{c.label}: {c.description}" for c in taxonomy.categories]

    @property
    def n_categories(self) -> int:
        return len(self.taxonomy.categories)

    def phrase_counts(self, texts: list[str]) -> np.ndarray:
        """How many distinct taxonomy phrases of each category each text contains."""
        out = np.zeros((len(texts), self.n_categories), dtype=np.float32)
        for i, t in enumerate(texts):
            for ci, _ in self.index.find(t):
                out[i, ci] += 1
        return out

    def embedding_nearness(self, emb: np.ndarray, chunk: int = 2048) -> np.ndarray:
        """Cosine nearness of each text to each category: mean of its 3 best phrases and its description."""
        slots = self.__dict__.get("_slots")
        if slots is None:  # (categories x longest phrase list) of phrase columns, padded with a -inf column
            groups = [np.flatnonzero(self.phrase_cat == ci) for ci in range(self.n_categories)]
            slots = np.full((self.n_categories, max(len(g) for g in groups)), len(self.phrase_cat), dtype=np.int64)
            for ci, g in enumerate(groups):
                slots[ci, : len(g)] = g
            self.__dict__["_slots"] = slots
        near = np.empty((len(emb), self.n_categories), dtype=np.float32)
        for start in range(0, len(emb), chunk):  # bounded memory: texts x phrases is large
            e = emb[start : start + chunk]
            sims = np.concatenate([e @ self.phrase_emb.T, np.full((len(e), 1), -np.inf, np.float32)], axis=1)
            best3 = -np.partition(-sims[:, slots], 2, axis=2)[:, :, :3]
            near[start : start + chunk] = 0.5 * best3.mean(axis=2) + 0.5 * (e @ self.desc_emb.T)
        return near

    def tag(self, texts: list[str], emb: np.ndarray) -> np.ndarray:
        """Category strengths in [0, 1], shape (n_texts, n_categories).

        Phrases found add to the embedding nearness rather than decide alone,
        so a phrase used in another sense ("bank" in "food bank") needs the
        rest of the text to agree before its category counts.
        """
        counts = self.phrase_counts(texts)
        bonus = self.phrase_bonus * np.where(counts > 0, 1.0 + 0.5 * (counts - 1), 0.0)
        near = self.embedding_nearness(emb).astype(np.float64)
        generic = np.maximum(near.mean(axis=1, keepdims=True) - self.typical_nearness, 0.0)
        margin = np.where(counts > 0, 0.0, self.unphrased_margin)
        z = (near - generic + bonus - margin - self.midpoint) / self.slope
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)

    def explicit(self, slugs_per_row: list[tuple[str, ...]]) -> np.ndarray:
        """Strength 1 for the categories a row lists explicitly."""
        pos = {s: i for i, s in enumerate(self.taxonomy.category_slugs)}
        out = np.zeros((len(slugs_per_row), self.n_categories), dtype=np.float32)
        for i, slugs in enumerate(slugs_per_row):
            for s in slugs:
                out[i, pos[s]] = 1.0
        return out


if __name__ == "__main__":  # python -m matcher.taxonomy: refresh the shipped prototype embeddings
    print(build_shipped_prototypes())
