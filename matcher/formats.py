"""Output formats shared by the CLI and the web app."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any


def recommendations_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """Recommendation objects as ``matcher recommend --format csv`` writes them.

    ``components`` become ``component_<block>`` columns, lists are joined with
    ``"; "``, nulls become empty cells and whole-number floats print without
    ``.0`` (as the page's JavaScript prints them).

    Examples
    --------
    >>> print(recommendations_csv([{"rank": 1, "components": {"text": 0.5}, "reasons": ["a", "b"], "distance_km": None}]))
    rank,component_text,reasons,distance_km
    1,0.5,a; b,
    <BLANKLINE>
    """
    def cell(v: Any) -> Any:
        return int(v) if isinstance(v, float) and v.is_integer() else v

    flat = []
    for r in rows:
        f: dict[str, Any] = {}
        for k, v in r.items():
            if k == "components":
                f.update({f"component_{b}": cell(x) for b, x in v.items()})
            elif isinstance(v, list):
                f[k] = "; ".join(v)
            else:
                f[k] = "" if v is None else cell(v)
        flat.append(f)
    buf = io.StringIO()
    if flat:
        w = csv.DictWriter(buf, fieldnames=list(flat[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(flat)
    return buf.getvalue()
