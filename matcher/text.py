"""Plain-text helpers shared by tagging and explanations: tokens, light stemming, stop words."""
from __future__ import annotations

import re
from functools import lru_cache

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")

#: Words that carry no meaning for matching or for "matched terms" in explanations.
STOP_WORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me more
    most my myself no nor not of off on once only or other our ours ourselves out over own same she should
    so some such than that the their theirs them themselves then there these they this those through to
    too under until up very was we were what when where which while who whom why will with would you your
    yours yourself yourselves us many much need needs want wants help helps like get gets make makes one
    two three new school schools student students kid kids child children year years program programs
    offer offers provide provides partner partners work works well every per via etc""".split()
)


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Strip common English inflections so "tutors", "tutoring" and "tutor" meet."""
    w = word
    if len(w) <= 3:
        return w
    for suffix, repl in (("ies", "y"), ("sses", "ss"), ("xes", "x"), ("ches", "ch"), ("shes", "sh")):
        if w.endswith(suffix):
            w = w[: -len(suffix)] + repl
            break
    else:
        if w.endswith("s") and not w.endswith(("ss", "us", "is")):
            w = w[:-1]
    for suffix, min_len in (("ing", 6), ("ed", 5)):
        if len(w) >= min_len and w.endswith(suffix):
            w = w[: -len(suffix)]
            if len(w) > 2 and w[-1] == w[-2] and w[-1] not in "lsz":
                w = w[:-1]
            break
    if len(w) > 4 and w.endswith("e"):
        w = w[:-1]
    return w


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens of ``text``."""
    return _TOKEN.findall(text.lower().replace("’", "'"))


_TOKEN_ANY_CASE = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?", re.IGNORECASE)


def token_spans(text: str) -> list[tuple[str, int, int]]:
    """``(token, start, end)`` of each word of ``text``: the tokens of :func:`tokens`, with their place in ``text``.

    Examples
    --------
    >>> token_spans("Math tutors, please!")
    [('math', 0, 4), ('tutors', 5, 11), ('please', 13, 19)]
    """
    return [(m.group().lower().replace("’", "'"), m.start(), m.end()) for m in _TOKEN_ANY_CASE.finditer(text)]


def stems(text: str) -> list[str]:
    """Stemmed tokens of ``text``, in order (stop words kept: phrases may contain them)."""
    return [stem(t) for t in tokens(text)]


def content_stems(text: str) -> dict[str, str]:
    """Map stem -> first surface word for the meaningful words of ``text``."""
    out: dict[str, str] = {}
    for t in tokens(text):
        if t in STOP_WORDS or len(t) < 3 or t.isdigit():
            continue
        out.setdefault(stem(t), t)
    return out


_SENTENCE_END = re.compile(r"[.!?][\"'”’)]*(\s+)(?=[\"“(]?[A-Z0-9])")

#: A fragment shorter than this many words ("Thank you!", "Email us.") joins its neighbour.
MIN_SENTENCE_WORDS = 4


def sentences(text: str) -> list[str]:
    """Split a text into sentences; fragments of fewer than :data:`MIN_SENTENCE_WORDS` words join the one before.

    Examples
    --------
    >>> sentences("We run a food pantry. Free weekend bags for families. Call us!")
    ['We run a food pantry.', 'Free weekend bags for families. Call us!']
    >>> sentences("one short text")
    ['one short text']
    """
    text = text.strip()
    cuts = [0, *(m.start(1) for m in _SENTENCE_END.finditer(text)), len(text)]
    out: list[str] = []
    for a, b in zip(cuts, cuts[1:]):
        part = text[a:b].strip()
        if not part:
            continue
        if out and (len(part.split()) < MIN_SENTENCE_WORDS or len(out[-1].split()) < MIN_SENTENCE_WORDS):
            out[-1] = f"{out[-1]} {part}"
        else:
            out.append(part)
    return out or [text]
