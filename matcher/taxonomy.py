"""The shipped taxonomy of need/offering categories and partner types.

The taxonomy lives in ``matcher/taxonomy.toml``. Each category has a slug,
a label, a short name used in reasons ("meets your food insecurity need"),
a one-line description and many phrases as people write them.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

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
