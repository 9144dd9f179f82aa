"""The score: block similarities combined into one number, relevance before logistics.

A :class:`Scorer` is a value: the block weights (normalised), the geography
length scale, the service-area and remote settings. Ranking, explanations,
tuning, batch ranking and the web app all take one, so a query can change
any of them without touching the fitted model.

How blocks combine, for one (school, partner) pair:

* Blocks that are *unknown* for the pair (no grades on one side, no
  location, no preference, no need category) are left out: the score is the
  weighted mean of what is known.
* *Relevance* is the weighted mean of the text and category blocks. The
  *logistics* blocks (grades, partner type, and how close a partner is
  inside its service area) count in full only for a partner that meets the
  need: each is multiplied by ``min(1, relevance / relevance_gate) ** 2``.
  So a nearby partner of the preferred type whose offerings do not meet the
  need is not lifted above one whose offerings do, while between partners
  that both meet it, distance and grades decide. Whether a partner serves
  in person at all (the geography block's base, ``local_credit``, against a
  remote partner's ``remote_credit``) counts in full: remote is a fallback
  however weak the match.
* Each block's *contribution* is its share of the score; contributions sum
  to the score.

Examples
--------
>>> s = Scorer.from_weights({"text": 0.6, "categories": 0.25, "grades": 0.05, "geo": 0.07, "partner_type": 0.03})
>>> round(s.weights["text"], 3)
0.6
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from matcher import config
from matcher.config import BLOCKS
from matcher.errors import WeightsError
from matcher.features import BlockSettings, PartnerFeatures, SchoolFeatures, allowed_matrix, block_matrices

#: The blocks that say whether a partner can meet the need; the rest are logistics.
RELEVANCE_BLOCKS = ("text", "categories")
LOGISTICS_BLOCKS = tuple(b for b in BLOCKS if b not in RELEVANCE_BLOCKS)


@dataclass(frozen=True)
class Scorer:
    """Normalised block weights and the settings the blocks depend on.

    Parameters
    ----------
    weights : mapping of block -> float
        Non-negative, summing to 1 (see :meth:`from_weights`).
    geo_length_km : float
        Distance scale of the geography block inside a service area.
    default_radius_km : float
        Service area of an in-person partner that states no radius.
    remote_credit : float
        Geography credit of a remote partner outside its area, for a need that can be met remotely.
    local_credit : float
        Geography credit of any partner serving in person (inside its area), however far within it.
    relevance_gate : float
        Relevance at and above which logistics count in full.
    """

    weights: Mapping[str, float]
    geo_length_km: float = config.DEFAULT_GEO_LENGTH_KM
    default_radius_km: float = config.DEFAULT_SERVICE_RADIUS_KM
    remote_credit: float = config.REMOTE_CREDIT
    local_credit: float = config.LOCAL_CREDIT
    relevance_gate: float = config.RELEVANCE_GATE

    @classmethod
    def from_weights(cls, weights: Mapping[str, float], **settings: float) -> Scorer:
        """A scorer from raw (unnormalised) block weights; refuses weights that cannot be normalised."""
        raw = {b: float(weights.get(b, 0.0)) for b in BLOCKS}
        total = float(np.sum(list(raw.values())))
        if not np.isfinite(total) or total <= 0:
            raise WeightsError("weights: the block weights must sum to a finite number above 0")
        return cls(weights={b: raw[b] / total for b in BLOCKS}, **settings)

    def with_settings(self, **settings: float) -> Scorer:
        """The same scorer with some settings replaced."""
        return replace(self, **settings)

    @property
    def block_settings(self) -> BlockSettings:
        return BlockSettings(self.geo_length_km, self.default_radius_km, self.remote_credit, self.local_credit)

    # ------------------------------------------------------------------ combining
    def combine(self, sims: Mapping[str, np.ndarray], known: Mapping[str, np.ndarray]
                ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Score and per-block contributions from block similarities and known flags (elementwise).

        Every operation is elementwise in a fixed order, so a pair gets the
        same bits whether it is scored alone or in a matrix.
        """
        w = self.weights
        rel_weight, relevance = self._relevance(sims, known)
        gate = np.minimum(1.0, relevance / self.relevance_gate) ** 2
        total = rel_weight
        for b in LOGISTICS_BLOCKS:
            total = total + w[b] * known[b]
        inv = np.where(total > 0, 1.0 / np.where(total > 0, total, 1.0), 0.0)
        contrib = {}
        for b in BLOCKS:
            part = w[b] * known[b] * sims[b]
            if b == "geo":  # serving in person (or only remotely) counts in full; closeness is gated
                base = w[b] * known[b] * np.minimum(sims[b], self.local_credit)
                part = base + gate * (part - base)
            elif b in LOGISTICS_BLOCKS:
                part = part * gate
            contrib[b] = part * inv
        score = np.zeros(np.shape(inv), dtype=np.float64)
        for b in BLOCKS:
            score = score + contrib[b]
        return score, contrib

    def relevance(self, sims: Mapping[str, np.ndarray], known: Mapping[str, np.ndarray]) -> np.ndarray:
        """Weighted mean of the known relevance blocks (text, categories); 1 when neither has weight."""
        return self._relevance(sims, known)[1]

    def _relevance(self, sims, known):
        w = self.weights
        rel_weight = w["text"] * known["text"] + w["categories"] * known["categories"]
        rel_sum = w["text"] * known["text"] * sims["text"] + w["categories"] * known["categories"] * sims["categories"]
        with np.errstate(invalid="ignore", divide="ignore"):
            relevance = np.where(rel_weight > 0, rel_sum / np.where(rel_weight > 0, rel_weight, 1.0), 1.0)
        return rel_weight, relevance

    # ------------------------------------------------------------------ matrices
    def score_matrix(self, s: SchoolFeatures, p: PartnerFeatures, include_full: bool = False):
        """Scores, contributions, distances and the hard-constraint mask for every (school, partner) pair.

        Returns
        -------
        score : (n, m) float64
        contrib : dict of block -> (n, m) float64
        dist : (n, m) float64, NaN where unknown
        allowed : (n, m) bool (grades, service area and, unless ``include_full``, capacity)
        """
        sims, known, dist, ok = block_matrices(s, p, self.block_settings)
        score, contrib = self.combine(sims, known)
        if not include_full:
            ok = ok & (p.capacity > 0)[None, :]
        return score, contrib, dist, ok

    def allowed(self, s: SchoolFeatures, p: PartnerFeatures, include_full: bool = False) -> np.ndarray:
        """The hard constraints alone (grades, service area and, unless ``include_full``, capacity)."""
        ok = allowed_matrix(s, p, self.block_settings)
        return ok if include_full else ok & (p.capacity > 0)[None, :]
