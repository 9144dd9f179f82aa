"""Output formats shared by the CLI and the web app: the one CSV writer for people.

Every CSV a person may open in a spreadsheet -- ``recommend --format csv``,
``rank`` (csv), ``assign``, ``outcomes export``, and the web page's and API's
CSV downloads -- is written here, so every one of them is protected from CSV
(formula) injection the same way. As OWASP recommends, a *text* cell that
starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
``'`` in front, so a spreadsheet shows it as text instead of running it as a
formula (a partner named ``=HYPERLINK(...)`` stays a name). Numbers are
never changed: a number cell, or a text cell that is just a number such as
``-5`` or ``+1.5``, is written as it is. Machine formats (JSON, JSON Lines,
parquet) carry the values unchanged.
"""
from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: First characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# A plain decimal number: a spreadsheet reads it as that number, never as a formula.
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def neutralise(text: str) -> str:
    """A text cell as written to a CSV for people: ``'`` in front when it could start a formula.

    Examples
    --------
    >>> neutralise("=HYPERLINK(\\"http://x\\")"), neutralise("@SUM(A1)"), neutralise("-2+3")
    ('\\'=HYPERLINK("http://x")', "'@SUM(A1)", "'-2+3")
    >>> neutralise("Food Bank"), neutralise("-5"), neutralise("+1.5e3"), neutralise("")
    ('Food Bank', '-5', '+1.5e3', '')
    """
    if text and text[0] in FORMULA_STARTS and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def _cell(value: Any) -> Any:
    """A value as a CSV cell: text neutralised, None and NaN empty, numbers as they are."""
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, float) and math.isnan(value):
        return ""
    if hasattr(value, "item") and not isinstance(value, (list, tuple)):  # numpy scalars
        return _cell(value.item())
    return value


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A CSV document (``\\n`` line ends, minimal quoting) with every text cell neutralised.

    Examples
    --------
    >>> print(csv_text(["partner_id", "name", "score"], [["P1", "=1+1", -0.5], ["P2", "Zoo", None]]), end="")
    partner_id,name,score
    P1,'=1+1,-0.5
    P2,Zoo,
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([neutralise(str(h)) for h in header])
    writer.writerows([_cell(v) for v in row] for row in rows)
    return buf.getvalue()


def frame_csv(df) -> str:
    """A DataFrame as :func:`csv_text` writes it (no index; NaN as an empty cell)."""
    columns = [df[c].tolist() for c in df.columns]
    return csv_text([str(c) for c in df.columns], zip(*columns))


def recommendations_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """Recommendation objects as ``matcher recommend --format csv`` writes them.

    ``components`` become ``contrib_<block>`` columns (as in ``matcher rank``), lists are joined with
    ``"; "`` and nulls become empty cells.

    Examples
    --------
    >>> print(recommendations_csv([{"rank": 1, "components": {"text": 0.5}, "reasons": ["a", "b"], "distance_km": None}]))
    rank,contrib_text,reasons,distance_km
    1,0.5,a; b,
    <BLANKLINE>
    """
    flat = []
    for r in rows:
        f: dict[str, Any] = {}
        for k, v in r.items():
            if k == "components":
                f.update({f"contrib_{b}": x for b, x in v.items()})
            elif isinstance(v, list):
                f[k] = "; ".join(v)
            else:
                f[k] = v
        flat.append(f)
    if not flat:
        return ""
    header = list(flat[0])
    return csv_text(header, ([f.get(k) for k in header] for f in flat))
