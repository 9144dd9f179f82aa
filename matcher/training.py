"""Train from CSV files to a saved model: read, validate, fit, save atomically."""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from matcher import config
from matcher.errors import MatcherError


@dataclass
class TrainSummary:
    """What ``matcher train`` did, for the printed summary."""

    n_schools: int
    n_partners: int
    n_history: int
    vocabulary: int
    encoder: str
    dim: int
    categories_found: int
    n_categories: int
    share_tagged: float
    seconds: float
    model_path: str

    def text(self) -> str:
        """A few human lines."""
        hist = f", {self.n_history:,} past partnerships" if self.n_history else ""
        return "\n".join(
            [
                f"Trained on {self.n_schools:,} schools and {self.n_partners:,} partners{hist} in {self.seconds:.1f} s.",
                f"Text: {self.encoder} encoder ({self.dim}-d); {self.vocabulary:,} distinct words in needs and offerings.",
                f"Categories: {self.categories_found} of {self.n_categories} found; "
                f"{self.share_tagged:.0%} of schools and partners tagged with at least one.",
                f"Model saved to {self.model_path}",
            ]
        )


def train_model(
    schools_path: str | Path = config.DEFAULT_SCHOOLS,
    partners_path: str | Path = config.DEFAULT_PARTNERS,
    history_path: str | Path | None = None,
    model_path: str | Path = config.DEFAULT_MODEL,
    weights: Mapping[str, float] | None = None,
    encoder: str = config.DEFAULT_ENCODER,
    workspace: str | Path | None = None,
    from_catalog: bool = False,
    client=None,
    user: str = "import",
) -> TrainSummary:
    """Read and validate the tables, fit a :class:`~matcher.model.PartnerMatcher`, save it.

    Every input is validated before anything is written, and the model is
    written atomically, so a failed run leaves an existing model untouched.

    Parameters
    ----------
    workspace : str or Path, optional
        The workspace database: the tables are imported into its catalogue
        (a new generation, every change in the history), texts it has
        encoded before are not encoded again, and the model can then follow
        live changes (:mod:`matcher.live`).
    from_catalog : bool, default False
        Train on the workspace catalogue's current schools and partners
        instead of the CSV files (after live changes).
    client : distributed.Client, optional
        Encode and tag on a Dask cluster; the model is the same as a local train.
    user : str
        Recorded in the change history for the import.
    """
    from matcher.data import read_partners, read_partnerships, read_schools
    from matcher.model import PartnerMatcher
    from matcher.files import file_sha256
    from matcher.persistence import save_model
    from matcher.text import tokens

    from matcher.catalog import Catalog

    start = time.perf_counter()
    if from_catalog:
        if workspace is None or not Path(workspace).exists():
            raise MatcherError(f"training from the catalogue needs an existing workspace database ({workspace})")
        catalog = Catalog(workspace)
        from matcher.live import validate

        schools = validate("school", catalog.table("school"), source="the catalogue's schools")
        partners = validate("partner", catalog.table("partner"), source="the catalogue's partners")
        if not len(schools) or not len(partners):
            raise MatcherError(f"{workspace}: the catalogue has no schools or no partners to train on")
    else:
        schools = read_schools(schools_path)
        partners = read_partners(partners_path)
    history = read_partnerships(history_path) if history_path else None
    if not from_catalog:  # opened (and created) only once every input is valid
        catalog = Catalog(workspace) if workspace is not None else None
    from matcher.weights import DEFAULT_RADIUS, GEO_LENGTH

    weights = dict(weights or {})
    geo_length = weights.pop(GEO_LENGTH, config.DEFAULT_GEO_LENGTH_KM)
    radius = weights.pop(DEFAULT_RADIUS, config.DEFAULT_SERVICE_RADIUS_KM)
    model = PartnerMatcher(weights=weights or None, geo_length_km=geo_length, encoder=encoder, default_radius_km=radius)
    cache = None
    if catalog is not None:
        from matcher.catalog import EncodingCache
        from matcher.encoders import load_encoder

        cache = EncodingCache(catalog, load_encoder(encoder).sha256)
    model.fit(schools, partners, history, cache=cache, client=client)
    files: dict[str, tuple[str | Path, Any]] = {}
    if not from_catalog:
        files = {"schools": (schools_path, schools), "partners": (partners_path, partners)}
    if history is not None and history_path is not None:
        files["history"] = (history_path, history)
    info = {k: {"path": str(p), "sha256": file_sha256(p), "rows": len(df)} for k, (p, df) in files.items()}
    if catalog is not None:
        from matcher.live import start_catalog

        if from_catalog:
            model.catalog_generation_, model.catalog_revision_ = catalog.state()
        else:
            start_catalog(model, catalog.db, schools, partners, user=user)
    save_model(model, model_path, info)
    strong = np.vstack([model.schools_.categories, model.partners_.categories]) >= 0.5
    vocab = {t for text in (*model.school_texts_, *model.partner_texts_) for t in tokens(str(text))}
    return TrainSummary(
        n_schools=len(model.school_ids_),
        n_partners=len(model.partner_ids_),
        n_history=len(history) if history is not None else 0,
        vocabulary=len(vocab),
        encoder=str(model.featurizer_.encoder_info["name"]),
        dim=int(model.featurizer_.encoder_info["dim"]),
        categories_found=int(strong.any(axis=0).sum()),
        n_categories=len(model.featurizer_.category_slugs),
        share_tagged=float(strong.any(axis=1).mean()),
        seconds=time.perf_counter() - start,
        model_path=str(model_path),
    )
