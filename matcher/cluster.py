"""A Dask cluster to run on: the one place that opens a client (for ``rank`` and ``train``)."""
from __future__ import annotations

import contextlib

_DASK_EXTRA = 'the dask backend needs the optional extra: pip install "matcher[dask]" (dask[distributed])'


def distributed_module():
    """The ``distributed`` package, or an error saying how to install it."""
    try:
        import distributed
    except ImportError:
        from matcher.errors import MatcherError

        raise MatcherError(_DASK_EXTRA) from None
    return distributed


@contextlib.contextmanager
def dask_client(scheduler, n_jobs: int | None = None):
    """A Dask client: the given one, one for a scheduler address, or an in-process LocalCluster."""
    distributed = distributed_module()
    if isinstance(scheduler, distributed.Client):
        yield scheduler
        return
    if scheduler in (None, "", "local"):
        with distributed.LocalCluster(n_workers=n_jobs, threads_per_worker=1, processes=False,
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            yield client
        return
    try:
        client = distributed.Client(scheduler, timeout="30s")
    except (OSError, TimeoutError) as exc:
        from matcher.errors import MatcherError

        raise MatcherError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    with client:
        yield client


