"""Which words of a need and an offering match, and where they are in each text (for people to see).

Display only: matching never reads anything here. A word both texts use is
shown as *matched* only when it says something about the need:

* not a stop word (scikit-learn's English list and the model's own,
  :data:`matcher.text.STOP_WORDS`), except words of the taxonomy's phrases,
  which are the domain's vocabulary ("fire" in "fire safety");
* not *filler* of the partner corpus (:func:`filler_terms`): a word many
  partners use, or use whatever they offer ("families", "welcome", "ask"),
  found by measuring the corpus, not listed by hand;
* not a name (a word always capitalised, at least once inside a sentence,
  such as "Chicago").

A taxonomy phrase found in both texts ("English learners"), or belonging to
a category both sides share, is matched as a phrase.
"""
from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from matcher import config
from matcher.text import content_stems, stem, token_spans

_SENTENCE_START = frozenset(".!?:;\n\"“(")


@dataclass(frozen=True)
class TextMatch:
    """The matched words of a need and an offering.

    Attributes
    ----------
    terms : list of str
        Matched words (as the need writes them), then phrases both texts use.
    needs, offerings : list of [start, end]
        Character spans of the matched words and phrases in each text, in
        order, overlaps merged (``text[start:end]`` is the matched part).
    """

    terms: list[str] = field(default_factory=list)
    needs: list[list[int]] = field(default_factory=list)
    offerings: list[list[int]] = field(default_factory=list)

    def spans(self) -> dict[str, list[list[int]]]:
        """``{"needs": ..., "offerings": ...}``, the ``highlights`` of an explanation."""
        return {"needs": self.needs, "offerings": self.offerings}


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """Words never shown as matched: scikit-learn's English stop words less the taxonomy's phrase words.

    Examples
    --------
    >>> "whereas" in stop_words(), "fire" in stop_words()
    (True, False)
    """
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    from matcher.taxonomy import load_taxonomy
    from matcher.text import tokens

    domain = {t for c in load_taxonomy().categories for ph in c.phrases for t in tokens(ph)}
    return frozenset(ENGLISH_STOP_WORDS - domain)


def filler_terms(texts: Sequence[str], categories: np.ndarray, common_share: float = config.FILLER_COMMON_SHARE,
                 max_divergence: float = config.FILLER_MAX_DIVERGENCE,
                 min_partners: int = config.FILLER_MIN_PARTNERS) -> frozenset[str]:
    """Stems of the words that say little about what a partner offers, measured on the partner corpus.

    A word is filler when at least ``min_partners`` partners use it and

    * at least ``common_share`` of all partners use it (a word that common
      picks out no one: its inverse document frequency is low), or
    * the partners using it offer the same mix of categories as all partners
      do: the Kullback-Leibler divergence of their category mix from the
      corpus's is below ``max_divergence`` (nats). "Welcome" or "ask", used
      by food banks and robotics clubs alike, are filler; "mentor", used by a
      few kinds of partner only, is not. (A few partners always look
      concentrated by chance, so this part only finds words used widely.)

    Words that are common because a kind of help is common ("mentor" when
    many partners mentor) are still shown as a matched category and as
    highlighted phrases, which come from the taxonomy, not from this list.

    Parameters
    ----------
    texts : sequence of str
        The partners' offerings.
    categories : ndarray of shape (n_partners, n_categories)
        Their category strengths (``PartnerFeatures.categories``).
    common_share, max_divergence, min_partners : float, float, int
        See above; defaults in :mod:`matcher.config`.

    Returns
    -------
    frozenset of str

    Examples
    --------
    >>> texts = ["Tutors for families.", "Food for families.", "Coding for families.", "Food boxes.", "Art class."]
    >>> cats = np.eye(5)
    >>> sorted(filler_terms(texts, cats, common_share=0.5, min_partners=2))
    ['family']
    """
    n = len(texts)
    if n == 0:
        return frozenset()
    weights = np.clip(np.asarray(categories, dtype=np.float64), 0.0, None)
    totals = weights.sum(axis=1, keepdims=True)
    weights = np.divide(weights, totals, out=np.zeros_like(weights), where=totals > 0)
    base = weights.sum(axis=0)
    base = base / base.sum() if base.sum() > 0 else base
    users: dict[str, list[int]] = {}
    for j, text in enumerate(texts):
        for key in content_stems(str(text)):
            users.setdefault(key, []).append(j)
    out = set()
    for key, rows in users.items():
        if len(rows) < min_partners:
            continue
        if len(rows) >= common_share * n:
            out.add(key)
            continue
        mix = weights[rows].sum(axis=0)
        if mix.sum() <= 0:
            continue
        mix = mix / mix.sum()
        nz = mix > 0
        if float((mix[nz] * np.log(mix[nz] / base[nz])).sum()) < max_divergence:
            out.add(key)
    return frozenset(out)


def shared_terms(need_text: str, offer_text: str, filler: Iterable[str] = ()) -> dict[str, str]:
    """Meaningful words of the need that the offering uses too: stem -> the need's word.

    Examples
    --------
    >>> shared_terms("Chicago families are asking for math tutors.", "Math tutoring for families in Chicago.",
    ...              filler={"family"})
    {'math': 'math', 'tutor': 'tutors'}
    """
    stops = stop_words()
    skip = set(filler) | _names(need_text) | _names(offer_text)
    need, offer = content_stems(need_text), content_stems(offer_text)
    return {k: w for k, w in need.items() if k in offer and k not in skip and w not in stops}


def match_texts(need_text: str, offer_text: str, need_categories: np.ndarray, offer_categories: np.ndarray,
                featurizer, filler: Iterable[str] = (), threshold: float = 0.5) -> TextMatch:
    """The matched words and phrases of a need and an offering, and their spans in each text.

    Parameters
    ----------
    need_text, offer_text : str
    need_categories, offer_categories : ndarray of shape (n_categories,)
        Category strengths of each side; a phrase of a category both reach
        ``threshold`` in is matched even when only one text uses it.
    featurizer : matcher.featurize.Featurizer
        For the taxonomy's phrases.
    filler : iterable of str
        Stems never shown as matched (:func:`filler_terms`).

    Returns
    -------
    TextMatch
    """
    index = featurizer.tagger.index
    need_found, offer_found = index.spans(need_text), index.spans(offer_text)
    shared = shared_terms(need_text, offer_text, filler)
    both = set(np.flatnonzero((np.asarray(need_categories) >= threshold) & (np.asarray(offer_categories) >= threshold)))
    phrases_need = {ph for _, ph, _, _ in need_found}
    phrases_offer = {ph for _, ph, _, _ in offer_found}
    terms = list(shared.values())
    terms += sorted(phrases_need & phrases_offer - set(terms))
    return TextMatch(terms=terms,
                     needs=_marks(need_text, need_found, both, phrases_offer, shared),
                     offerings=_marks(offer_text, offer_found, both, phrases_need, shared))


def pair_match(model, i: int, j: int) -> TextMatch:
    """:func:`match_texts` for school row ``i`` and partner row ``j`` of a fitted model."""
    return match_texts(str(model.school_texts_[i]), str(model.partner_texts_[j]), model.schools_.categories[i],
                       model.partners_.categories[j], model.featurizer_, model_filler(model))


def model_filler(model) -> frozenset[str]:
    """The model's filler terms (measured at fit; measured once here for a model saved before they were)."""
    found = getattr(model, "filler_terms_", None)
    if found is None:
        found = _MEASURED.get(model)
        if found is None:
            found = _MEASURED[model] = filler_terms(model.partner_texts_, model.partners_.categories)
    return found


_MEASURED: weakref.WeakKeyDictionary[Any, frozenset[str]] = weakref.WeakKeyDictionary()


def _names(text: str) -> set[str]:
    """Stems of words written as names in ``text``: capitalised every time, at least once inside a sentence."""
    capital: dict[str, bool] = {}
    inside: set[str] = set()
    for tok, a, _ in token_spans(text):
        word, key = text[a:a + len(tok)], stem(tok)
        is_capital = word[:1].isupper() and word[1:].islower()
        capital[key] = capital.get(key, True) and is_capital
        before = text[:a].rstrip()
        if is_capital and before and before[-1] not in _SENTENCE_START:
            inside.add(key)
    return {k for k in inside if capital[k]}


def _marks(text: str, found: list[tuple[int, str, int, int]], categories: set[int], other_phrases: set[str],
           shared: dict[str, str]) -> list[list[int]]:
    """[start, end] of the matched phrases and words of ``text``, in order, overlaps merged."""
    spans = [(a, b) for ci, phrase, a, b in found if ci in categories or phrase in other_phrases]
    spans += [(a, b) for tok, a, b in token_spans(text) if stem(tok) in shared]
    out: list[list[int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


__all__ = ["TextMatch", "filler_terms", "match_texts", "model_filler", "pair_match", "shared_terms", "stop_words"]
