"""The generated tables (in the data contract's columns) and writing them to CSV atomically."""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from matcher.files import staged


@dataclass
class Dataset:
    """The three generated tables, in the data contract's column order.

    Attributes
    ----------
    schools : pandas.DataFrame
        Columns :data:`matcher.data.SCHOOL_COLUMNS`.
    partners : pandas.DataFrame
        Columns :data:`matcher.data.PARTNER_COLUMNS`.
    partnerships : pandas.DataFrame
        Columns :data:`matcher.data.PARTNERSHIP_COLUMNS`, sorted by ``start_date``.
    """

    schools: pd.DataFrame
    partners: pd.DataFrame
    partnerships: pd.DataFrame

    def __repr__(self) -> str:  # the default would print three whole tables
        return (f"Dataset(schools={len(self.schools)}, partners={len(self.partners)}, "
                f"partnerships={len(self.partnerships)})")


def write_dataset(data: Dataset, out_dir: str | Path) -> dict[str, Path]:
    """Write ``schools.csv``, ``partners.csv`` and ``partnerships.csv`` atomically.

    Each file is first written to a temporary file in ``out_dir`` and then
    moved into place (:func:`matcher.files.staged`), so a reader never sees a
    half-written file and an interrupted run leaves the old files intact.

    Parameters
    ----------
    data : Dataset
    out_dir : str or Path
        Created (with parents) if missing.

    Returns
    -------
    dict of str to Path
        ``{"schools": ..., "partners": ..., "partnerships": ...}``.

    Examples
    --------
    >>> import tempfile
    >>> from matcher.generate import generate
    >>> paths = write_dataset(generate(5, 5), tempfile.mkdtemp())
    >>> sorted(p.name for p in paths.values())
    ['partners.csv', 'partnerships.csv', 'schools.csv']
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = {
        "schools": _for_csv(data.schools),
        "partners": _for_csv(data.partners),
        "partnerships": _for_csv(data.partnerships),
    }
    paths = {key: out / f"{key}.csv" for key in tables}
    # Every temporary file is written before any is moved into place, so the three files
    # change together as closely as the filesystem allows, and a failure changes none.
    with contextlib.ExitStack() as stack:
        for key, frame in tables.items():
            tmp = stack.enter_context(staged(paths[key]))
            # newline="": the same bytes on every platform.
            with open(tmp, "w", encoding="utf-8", newline="") as fh:
                frame.to_csv(fh, index=False, lineterminator="\n")
                fh.flush()
                os.fsync(fh.fileno())
    return paths


def row_ids(prefix: str, n: int) -> np.ndarray:
    """Zero-padded ids ("S000001"), at least six digits."""
    width = max(6, len(str(n)))
    if n == 0:  # np.char.zfill cannot take an empty array
        return np.empty(0, dtype=object)
    return np.char.add(prefix, np.char.zfill(np.arange(1, n + 1).astype(str), width)).astype(object)


def _for_csv(frame: pd.DataFrame) -> pd.DataFrame:
    """Booleans as lower-case true/false, as the data contract writes them."""
    out = frame.copy(deep=False)
    for col in out.columns:
        if out[col].dtype == bool:
            out[col] = np.where(out[col].to_numpy(), "true", "false")
    return out
