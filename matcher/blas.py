"""One BLAS thread per worker thread: the one place that pins it.

Batch ranking runs chunks in threads (or Dask workers) and the web app
answers requests in a thread pool; each does small matrix products, so BLAS
threads of their own would only fight over the cores (measured on the web
app: 16 concurrent requests ran ~40x slower).
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

from threadpoolctl import threadpool_limits

_process_limit = None


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Limit BLAS to one thread inside the ``with`` block."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def pin_one_blas_thread() -> None:
    """Limit BLAS to one thread for this whole process until :func:`unpin_blas` (a server, a Dask worker)."""
    global _process_limit
    if _process_limit is None:
        _process_limit = threadpool_limits(limits=1, user_api="blas")


def unpin_blas() -> None:
    """Undo :func:`pin_one_blas_thread`."""
    global _process_limit
    if _process_limit is not None:
        _process_limit.restore_original_limits()
        _process_limit = None
