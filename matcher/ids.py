"""School and partner ids as the data contract defines them: one spelling for what looks the same.

Two ids that look identical on screen must be the same id: ``"Café"`` typed
as one character (NFC) or as ``e`` plus a combining accent (NFD), or
``"S1"`` with a zero-width space pasted in, are one id. Every id read from a
table (:mod:`matcher.data`) or given to the CLI, the web app or the outreach
store goes through :func:`normalise_id`, so two rows whose ids differ only
that way are duplicate ids, and a query typed either way finds the school.
"""
from __future__ import annotations

import difflib
import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

#: Characters that take no space on screen: zero-width space, non-joiner and joiner, word joiner,
#: invisible operators, zero-width no-break space (BOM), soft hyphen, Mongolian vowel separator.
INVISIBLE = "\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad\u180e"
_DROP = dict.fromkeys(map(ord, INVISIBLE))


def normalise_id(value: str) -> str:
    """An id in its one spelling: Unicode NFC, invisible characters removed, surrounding spaces stripped.

    Examples
    --------
    >>> normalise_id("Cafe\\u0301") == normalise_id("Caf\\u00e9") == "Caf\\u00e9"
    True
    >>> normalise_id(" S\\u200b1 ")
    'S1'
    """
    if value.isascii():
        return value.strip()
    return unicodedata.normalize("NFC", value.translate(_DROP)).strip()


def folded(text: str) -> str:
    """A name as it is compared: one spelling, case folded, runs of spaces made one.

    Examples
    --------
    >>> folded("  Spring   CROSSING Elementary ")
    'spring crossing elementary'
    """
    return " ".join(normalise_id(str(text)).casefold().split())


def unpadded(text: str) -> str:
    """An id without case or the leading zeros of its numbers, to find one typed with other padding.

    Examples
    --------
    >>> unpadded("S000010"), unpadded("s0010"), unpadded("D12/0001")
    ('s10', 's10', 'd12/1')
    """
    return re.sub(r"(?<![0-9])0+(?=[0-9])", "", str(text).casefold())


class IdTable:
    """The ids and names of schools (or partners): what a typed id or name stands for, and close ones.

    A fitted model keeps one per kind. Looking up an id or a whole name is a
    dictionary hit; suggestions for an unknown one compare the text with every
    id by edit distance (vectorised, in a band of the distance asked for) and
    with names through a word index, so they take milliseconds with 100,000s
    of rows.

    Parameters
    ----------
    ids : sequence of str
        Ids in their one spelling (:func:`normalise_id`), unique.
    names : sequence of str
        The name of each id.

    Attributes
    ----------
    pos : dict of str to int
        Id -> row.

    Examples
    --------
    >>> t = IdTable(["S000001", "S000010", "S000201"], ["Spring Crossing Elementary", "Oak Hill", "Spring Lake"])
    >>> t.pos["S000010"], t.named("SPRING crossing elementary"), t.named("spring"), t.named("spring", partial=True)
    (1, [0], [], [0, 2])
    >>> [t.ids[r] for r in t.suggest("S00001")]
    ['S000001', 'S000010', 'S000201']
    >>> [t.ids[r] for r in t.suggest("spring crossing elementry")], [t.ids[r] for r in t.suggest("Oak")]
    (['S000001'], ['S000010'])
    """

    #: Names compared by closeness at most (those sharing the text's rarest words); below it, all of them.
    CLOSE_NAMES = 5000
    #: How close a name must be to suggest its id (:class:`difflib.SequenceMatcher` ratio).
    NAME_CUTOFF = 0.75

    def __init__(self, ids: Sequence[Any], names: Sequence[Any]):
        self.ids = list(map(str, ids))
        self._given_names = names
        self.pos = dict(zip(self.ids, range(len(self.ids))))

    def named(self, text: str, partial: bool = False) -> list[int]:
        """Rows whose name is ``text`` (ignoring case and runs of spaces); with ``partial`` and none
        such, rows whose name contains it. In row order; empty when none."""
        key = folded(text)
        if not key:
            return []
        rows = self._by_name.get(key, [])
        if rows or not partial:
            return list(rows)
        return [r for r, n in enumerate(self._folded_names) if key in n]

    def suggest(self, text: str, n: int = 3) -> list[int]:
        """Rows of the ids most like ``text``, best first, ties by id.

        First the same id with other zero padding or case (``S00001`` for
        ``S000001``); then ids at most ``max(1, len // 4)`` edits away (Levenshtein),
        nearest first; then ids whose name contains the text (3 characters or
        more), shortest name first; then ids whose name is close to it.
        """
        q = normalise_id(str(text)).casefold()
        rank: dict[int, tuple] = {}

        def add(rows: Iterable[int], key: tuple) -> None:
            for r in rows:
                if key < rank.get(r, (9,)):
                    rank[r] = key

        if not q or not self.ids:
            return []
        target = unpadded(q)
        same = np.flatnonzero(self._zeroless == q.replace("0", ""))  # a superset, checked exactly below
        add((int(r) for r in same if unpadded(self._folded_ids[r]) == target), (0,))
        k = max(1, len(q) // 4)
        near = np.flatnonzero(np.abs(self._id_lens - len(q)) <= k)
        if len(near):
            dist = _edit_distances(q, self._id_codes[near], self._id_lens[near], k)
            add_near = near[dist <= k]
            for r, d in zip(add_near.tolist(), dist[dist <= k].tolist()):
                add([r], (1, d))
        key = folded(text)
        if len(key) >= 3:
            for r, name in enumerate(self._folded_names):
                if key in name:
                    add([r], (2, len(name) - len(key)))
        for r, ratio in self._close_names(key):
            add([r], (3, -ratio))
        return sorted(rank, key=lambda r: (rank[r], self.ids[r]))[:n]

    def _close_names(self, key: str) -> list[tuple[int, float]]:
        """Rows whose name is close to ``key`` and their closeness (names that share a word with it, when many)."""
        if not key:
            return []
        rows: Iterable[int] = range(len(self.names))
        if len(self.names) > self.CLOSE_NAMES:
            postings = sorted((self._words[w] for w in set(key.split()) if w in self._words), key=len)
            chosen: set[int] = set()
            for p in postings:
                if chosen and len(chosen) + len(p) > self.CLOSE_NAMES:
                    break
                chosen.update(p[: self.CLOSE_NAMES])
            rows = sorted(chosen)
        matcher = difflib.SequenceMatcher()
        matcher.set_seq2(key)
        out = []
        for r in rows:
            matcher.set_seq1(self._folded_names[r])
            if (matcher.real_quick_ratio() >= self.NAME_CUTOFF and matcher.quick_ratio() >= self.NAME_CUTOFF
                    and matcher.ratio() >= self.NAME_CUTOFF):
                out.append((r, matcher.ratio()))
        return out

    @functools.cached_property
    def names(self) -> list[str]:
        """The name of each row (made text on first use: lookups by id do not need them)."""
        return list(map(str, self._given_names))

    @functools.cached_property
    def _folded_names(self) -> list[str]:
        return [folded(n) for n in self.names]

    @functools.cached_property
    def _by_name(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for r, n in enumerate(self._folded_names):
            out.setdefault(n, []).append(r)
        return out

    @functools.cached_property
    def _words(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for r, n in enumerate(self._folded_names):
            for w in set(n.split()):
                out.setdefault(w, []).append(r)
        return out

    @functools.cached_property
    def _folded_ids(self) -> np.ndarray:
        return np.array([i.casefold() for i in self.ids], dtype=str)

    @functools.cached_property
    def _zeroless(self) -> np.ndarray:
        return np.char.replace(self._folded_ids, "0", "")

    @functools.cached_property
    def _id_lens(self) -> np.ndarray:
        return np.char.str_len(self._folded_ids).astype(np.int64)

    @functools.cached_property
    def _id_codes(self) -> np.ndarray:
        a = self._folded_ids
        width = a.dtype.itemsize // 4
        return a.view(np.uint32).reshape(len(a), width)


def _edit_distances(query: str, codes: np.ndarray, lens: np.ndarray, k: int) -> np.ndarray:
    """Levenshtein distance of ``query`` to each row of ``codes`` (code points, 0 after the end), or k + 1 when above k.

    Only the band of cells within ``k`` of the diagonal is computed: a cell outside it is more than ``k`` already.
    """
    n, width = codes.shape
    big = k + 1
    prev = np.minimum(np.arange(width + 1, dtype=np.int64), big)[None, :].repeat(n, axis=0)
    for i, ch in enumerate(query, 1):
        cur = np.full((n, width + 1), big, dtype=np.int64)
        cur[:, 0] = min(i, big)
        for j in range(max(1, i - k), min(width, i + k) + 1):
            best = np.minimum(prev[:, j] + 1, cur[:, j - 1] + 1)
            np.minimum(best, prev[:, j - 1] + (codes[:, j - 1] != ord(ch)), out=best)
            cur[:, j] = np.minimum(best, big)
        prev = cur
    return prev[np.arange(n), lens]
