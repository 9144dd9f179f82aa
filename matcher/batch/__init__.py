"""Batch ranking: every school's top-K partners, exact, fast, to a file that appears atomically.

:func:`rank_to_file` is what ``matcher rank`` runs. The package is split by job:

* :mod:`matcher.batch.geometry` -- places on the sphere and the chunk plan;
* :mod:`matcher.batch.index` -- :class:`RankIndex`, the exact pruned top-k (its
  docstring says how the bound works);
* :mod:`matcher.batch.results` -- chunk results and scored pairs;
* :mod:`matcher.batch.output` -- CSV / JSON Lines / parquet writing;
* :mod:`matcher.batch.parts` -- completed chunks on disk, for ``--resume``;
* :mod:`matcher.batch.run` -- the run itself (local threads or Dask).
"""
from matcher.batch.geometry import plan_chunks
from matcher.batch.index import DEFAULT_CHUNK_SIZE, TEXT_RANK, RankIndex, rank_block
from matcher.batch.output import COLUMNS, FORMATS
from matcher.batch.parts import parts_dir
from matcher.batch.results import ChunkResult
from matcher.batch.run import RankSummary, rank_to_file, school_features

__all__ = [
    "COLUMNS",
    "DEFAULT_CHUNK_SIZE",
    "FORMATS",
    "TEXT_RANK",
    "ChunkResult",
    "RankIndex",
    "RankSummary",
    "parts_dir",
    "plan_chunks",
    "rank_block",
    "rank_to_file",
    "school_features",
]
