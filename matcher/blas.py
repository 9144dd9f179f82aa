"""One BLAS thread per worker thread: the one place that pins it.

Batch ranking runs chunks in threads (or Dask workers), the encoder runs
batches in threads, and the web app answers requests in a thread pool; each
does small matrix products, so BLAS threads of their own would only fight
over the cores (measured on the web app: 16 concurrent requests ran ~40x
slower).
"""
from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

_lock = threading.Lock()
_state: dict[str, Any] = {"controller": None, "users": 0, "limiter": None}
_process_limit = None


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Limit BLAS to one thread while any caller is inside the block (process-wide, reference-counted).

    threadpoolctl limits are global to the process, so overlapping blocks in
    several threads share one limit: the first sets it, the last restores the
    original setting.
    """
    with _lock:
        if _state["controller"] is None:
            from threadpoolctl import ThreadpoolController

            _state["controller"] = ThreadpoolController()
        if _state["users"] == 0:
            _state["limiter"] = _state["controller"].limit(limits=1, user_api="blas")
        _state["users"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["users"] -= 1
            if _state["users"] == 0:
                _state["limiter"].restore_original_limits()
                _state["limiter"] = None


def pin_one_blas_thread() -> None:
    """Limit BLAS to one thread for this whole process until :func:`unpin_blas` (a server, a Dask worker)."""
    global _process_limit
    if _process_limit is None:
        from threadpoolctl import threadpool_limits

        _process_limit = threadpool_limits(limits=1, user_api="blas")


def unpin_blas() -> None:
    """Undo :func:`pin_one_blas_thread`."""
    global _process_limit
    if _process_limit is not None:
        _process_limit.restore_original_limits()
        _process_limit = None


def cpu_count() -> int:
    """CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)
