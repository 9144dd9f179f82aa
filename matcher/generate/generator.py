"""One call from sizes and a seed to a :class:`~matcher.generate.dataset.Dataset`."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from matcher.data import PARTNERSHIP_COLUMNS
from matcher.generate import history, partners, schools
from matcher.generate.dataset import Dataset
from matcher.generate.places import metro_count
from matcher.generate.roster import load_roster
from matcher.generate.world import World
from matcher.taxonomy import Taxonomy, load_taxonomy


def generate(
    n_schools: int,
    n_partners: int,
    seed: int = 0,
    roster: str | Path | None = None,
    n_partnerships: int | None = None,
    *,
    taxonomy: Taxonomy | None = None,
) -> Dataset:
    """Generate synthetic schools, partners and partnership history.

    Parameters
    ----------
    n_schools, n_partners : int
        Table sizes (exact; 0 gives an empty table with the right columns).
    seed : int, default 0
        Seed; the same seed (and roster and taxonomy) gives identical tables.
        Without a roster, schools and partners sit around the largest US metros,
        about one metro per 100 rows of the smaller table (3 to 29), so small
        samples still have partners to choose from nearby. Beyond that, schools
        do not depend on ``n_partners`` and partners not on ``n_schools``.
    roster : str or Path, optional
        CSV of real schools (columns ``name, city, latitude, longitude, level,
        enrollment, st_grade, end_grade``, as in the NCES-based Florida file),
        read and checked by :func:`matcher.data.read_roster`.
        Schools then take real names, locations, grade spans and enrollment
        (rows are reused with a numeric name suffix and a small location jitter
        when ``n_schools`` exceeds the roster), and partners cluster around
        the roster's locations instead of the built-in metros.
    n_partnerships : int, optional
        Partnerships to draw. Default: about 10 per school, at most 20 per
        partner and 2,000,000 in all. Fewer are drawn only when schools do
        not have enough feasible partners.
    taxonomy : Taxonomy, optional
        Categories and partner types to use; default :func:`load_taxonomy`.

    Returns
    -------
    Dataset

    Raises
    ------
    ValueError
        A negative size.
    DataError
        A roster that is missing, unreadable, lacks a column or has bad values
        (every problem, each naming file, row and column).

    Examples
    --------
    >>> data = generate(30, 20, seed=1)
    >>> len(data.schools), len(data.partners)
    (30, 20)
    >>> data.schools["school_id"].iloc[0]
    'S000001'
    >>> set(data.partnerships["outcome"]) <= {0, 1}
    True
    """
    for name, value in (("n_schools", n_schools), ("n_partners", n_partners)):
        if int(value) != value or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if n_partnerships is not None and (int(n_partnerships) != n_partnerships or n_partnerships < 0):
        raise ValueError(f"n_partnerships must be a non-negative integer, got {n_partnerships!r}")
    n_schools, n_partners = int(n_schools), int(n_partners)
    tax = taxonomy if taxonomy is not None else load_taxonomy()
    if not tax.categories or not tax.partner_types:
        raise ValueError("the taxonomy needs at least one category and one partner type")
    ros = load_roster(Path(roster)) if roster is not None else None

    # Independent streams, so schools do not change when only n_partners does (and vice versa).
    seq = np.random.SeedSequence(int(seed))
    pop_rng, school_rng, partner_rng, link_rng, contact_rng = (np.random.default_rng(s) for s in seq.spawn(5))

    world = World.build(tax, pop_rng)
    n_metros = metro_count(n_schools, n_partners)
    # Through the modules, so a test (or a script) can watch the hidden truth go by.
    school_table, s_truth = schools.make_schools(n_schools, world, ros, n_metros, school_rng)
    partner_table, p_truth = partners.make_partners(n_partners, world, ros, n_metros, partner_rng)
    partner_table = partners.add_contacts(partner_table, contact_rng)
    if n_partnerships is None:
        n_partnerships = history.default_partnerships(n_schools, n_partners)
    links = history.draw_partnerships(s_truth, p_truth, int(n_partnerships), link_rng)
    partnerships = pd.DataFrame({
        "school_id": school_table["school_id"].to_numpy()[links.school],
        "partner_id": partner_table["partner_id"].to_numpy()[links.partner],
        "outcome": links.outcome,
        "start_date": links.start_date,
    }, columns=list(PARTNERSHIP_COLUMNS))
    return Dataset(schools=school_table, partners=partner_table, partnerships=partnerships)
