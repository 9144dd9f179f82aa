"""Keyword matching for the generator: words in category names and phrases, as regexes.

The generator's rules are keywords, never taxonomy slugs, so any taxonomy works:
a rule names words, and these helpers find them in a category's name (slug,
label, short name) or in a phrase.
"""
from __future__ import annotations

import re

import numpy as np

from matcher.taxonomy import Category, Taxonomy


def words_hit(text: str, words: tuple[str, ...]) -> bool:
    """True if any word starts a word in ``text``."""
    return any(re.search(r"(?<![a-z])" + re.escape(w), text) for w in words)


def category_name(cat: Category) -> str:
    """Lower-case slug, label and short name of a category (what it is *called*)."""
    return " ".join((cat.slug.replace("_", " "), cat.label, cat.short)).lower()


def keyword_mask(tax: Taxonomy, words: tuple[str, ...]) -> np.ndarray:
    """Boolean per category: does any keyword occur in its name."""
    return np.array([words_hit(category_name(c), words) for c in tax.categories], dtype=bool)


def word_regex(words: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern for whole words or phrases; a trailing ``*`` allows any ending."""
    alts = [re.escape(w[:-1]) if w.endswith("*") else re.escape(w) + r"(?![a-z0-9])"
            for w in words]
    return re.compile(r"(?<![a-z0-9])(?:" + "|".join(alts) + ")")


def term_regex(words: tuple[str, ...], at_end: bool = False) -> re.Pattern[str]:
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
