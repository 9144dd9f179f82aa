"""School and partner ids as the data contract defines them: one spelling for what looks the same.

Two ids that look identical on screen must be the same id: ``"Café"`` typed
as one character (NFC) or as ``e`` plus a combining accent (NFD), or
``"S1"`` with a zero-width space pasted in, are one id. Every id read from a
table (:mod:`matcher.data`) or given to the CLI, the web app or the outreach
store goes through :func:`normalise_id`, so two rows whose ids differ only
that way are duplicate ids, and a query typed either way finds the school.
"""
from __future__ import annotations

import unicodedata

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
