"""Block weights: validate them, read them from a file, parse ``BLOCK=VALUE`` options.

A weights file is JSON or TOML mapping block names to non-negative numbers,
for example ``{"text": 0.6, "categories": 0.3, "geo": 0.1}``. Blocks left
out keep the model's weight. It may also carry the scoring settings
(:data:`SETTINGS`): ``geo_length_km`` (> 0), the distance scale of the
geography block, and ``default_radius_km`` (> 0), the service area of an
in-person partner that states none.
"""
from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from matcher.config import BLOCKS

from matcher.errors import WeightsError

#: Scoring settings a weights mapping may carry besides block weights (each a number > 0).
GEO_LENGTH = "geo_length_km"
DEFAULT_RADIUS = "default_radius_km"
SETTINGS = (GEO_LENGTH, DEFAULT_RADIUS)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def check_weights(weights: Mapping[str, object], source: str = "weights") -> dict[str, float]:
    """Validate a (possibly partial) block -> weight mapping.

    Parameters
    ----------
    weights : mapping of str to number
    source : str
        Named in error messages (a file name or "--weight").

    Returns
    -------
    dict of str to float

    Raises
    ------
    WeightsError
        For an unknown block, a value that is not a finite non-negative number.

    Examples
    --------
    >>> check_weights({"text": 1, "geo": 0.5})
    {'text': 1.0, 'geo': 0.5}
    """
    out: dict[str, float] = {}
    for block, value in weights.items():
        if block in SETTINGS:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or not math.isfinite(value):
                raise WeightsError(f"{source}: {block} must be a number > 0, got {value!r}")
            out[block] = float(value)
            continue
        if block not in BLOCKS:
            raise WeightsError(f"{source}: unknown block {block!r} (blocks are: {', '.join(BLOCKS)})")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise WeightsError(f"{source}: weight of {block!r} must be a number, got {value!r}")
        if not math.isfinite(value) or value < 0:
            raise WeightsError(f"{source}: weight of {block!r} must be a non-negative number, got {value!r}")
        out[block] = float(value)
    return out


def merge_weights(base: Mapping[str, float], *overrides: Mapping[str, float]) -> dict[str, float]:
    """``base`` updated by each override in turn; every block present; not all zero.

    The score divides by the sum of the block weights, so the sum must be a
    finite number above 0: weights so large that they overflow when added
    (``text=1e308, geo=1e308``) would turn every score into 0.

    Examples
    --------
    >>> merge_weights({"text": 1.0}, {"geo": 0.5})["geo"]
    0.5
    >>> merge_weights({"text": 1e308}, {"geo": 1e308})
    Traceback (most recent call last):
    ...
    matcher.errors.WeightsError: weights: the block weights add up to more than the largest number (inf); use smaller weights (only their ratios matter)
    """
    merged = {b: float(base.get(b, 0.0)) for b in BLOCKS}
    merged.update({k: float(base[k]) for k in SETTINGS if k in base})
    for o in overrides:
        merged.update(o)
    total = block_total(merged)
    if not math.isfinite(total):
        raise WeightsError(
            f"weights: the block weights add up to more than the largest number ({total}); "
            "use smaller weights (only their ratios matter)"
        )
    if total <= 0:
        raise WeightsError("weights: at least one block needs a weight above 0")
    return merged


def block_total(weights: Mapping[str, float]) -> float:
    """Sum of the block weights (the score divides by it)."""
    return sum(weights[b] for b in BLOCKS)


def read_weights_file(path: str | Path) -> dict[str, float]:
    """Read a JSON or TOML weights file (by extension; JSON is tried first otherwise).

    A file written by ``matcher tune`` may hold the weights under a ``"weights"`` key
    next to other information; that form is read too.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise WeightsError(f"{path}: cannot read weights file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise WeightsError(f"{path}: weights file is not UTF-8 text") from None
    data: object
    try:
        if p.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        else:
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                if p.suffix.lower() == ".json":
                    raise
                data = tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise WeightsError(f"{path}: not valid JSON or TOML: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("weights"), dict):  # as written by `matcher tune`
        data = {**data["weights"], **{k: data[k] for k in SETTINGS if k in data}}
    if not isinstance(data, dict):
        raise WeightsError(f"{path}: expected a mapping of block name to weight")
    return check_weights(data, source=str(path))


#: A plain non-negative decimal weight: at most 15 digits before and after the point and a
#: two-digit exponent, so any five of them add up to a finite number.
WEIGHT_VALUE = r"(?:[0-9]{1,15}(?:\.[0-9]{0,15})?|\.[0-9]{1,15})(?:[eE][+-]?[0-9]{1,2})?"
#: The same above 0 (a scoring setting): some digit of the number is not 0.
POSITIVE_VALUE = (r"(?:[0-9]{0,14}[1-9][0-9]{0,14}(?:\.[0-9]{0,15})?|[0-9]{0,15}\.[0-9]{0,14}[1-9][0-9]{0,14})"
                  r"(?:[eE][+-]?[0-9]{1,2})?")
#: One ``BLOCK=VALUE`` option, exactly as :func:`parse_weight_options` accepts it (also the
#: web API's ``weight`` query pattern, so its schema and its behaviour agree).
WEIGHT_OPTION = (rf"[ \t]*(?:(?:{'|'.join(BLOCKS)})[ \t]*=[ \t]*{WEIGHT_VALUE}"
                 rf"|(?:{'|'.join(SETTINGS)})[ \t]*=[ \t]*{POSITIVE_VALUE})[ \t]*")


def parse_weight_options(items: Iterable[str], source: str = "`weight`") -> dict[str, float]:
    """Parse repeated ``BLOCK=VALUE`` options (each must match :data:`WEIGHT_OPTION`); ``source`` names them in errors.

    Examples
    --------
    >>> parse_weight_options(["text=0.7", "geo=0"])
    {'text': 0.7, 'geo': 0.0}
    """
    out: dict[str, object] = {}
    for item in items:
        block, sep, value = item.partition("=")
        if not sep:
            raise WeightsError(f"{source}: expected BLOCK=VALUE, got {item!r}")
        try:
            out[block.strip()] = float(value)
        except ValueError:
            raise WeightsError(f"{source}: weight of {block.strip()!r} must be a number, got {value!r}") from None
        check_weights(out, source=source)  # unknown block, negative, not finite: the usual messages
        if not re.fullmatch(WEIGHT_OPTION, item):
            raise WeightsError(f"{source}: weight of {block.strip()!r} must be a plain decimal number such as 0.25 "
                               f"(at most 15 digits before and after the point), got {value.strip()!r}")
    return check_weights(out, source=source)
