"""Running chunks on a dask.distributed cluster: an existing one (``--scheduler``) or a local one.

Each chunk is one Dask task calling the same ``run_chunk`` as the local executor; workers write their own
cells into the shared store (one Zarr chunk per cell, so writers never collide). The store path must be
reachable from every worker (a shared file system for a multi-machine cluster).
"""

from __future__ import annotations

import os


def _worker_run(chunk, path, axis_names, work, done):
    from gpicl_phase.sweep import execute

    execute.enable_compile_cache()
    return execute.run_chunk(chunk, path, axis_names, work, done)


def run_on_dask(todo, path: str, axis_names, work, *, record, workers: int | None, scheduler: str | None) -> None:
    """Submits every pending chunk and records results as they complete."""
    from distributed import Client, LocalCluster, as_completed

    if scheduler:
        client, cluster = Client(scheduler), None
    else:
        # Processes, not threads: each worker owns its XLA runtime; one thread each avoids oversubscription.
        cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
        client = Client(cluster)
    try:
        abspath = os.path.abspath(path)
        futures = {}
        for i, (chunk, done) in enumerate(todo):
            fut = client.submit(_worker_run, chunk, abspath, axis_names, work, done, pure=False,
                                key=f"gpicl-chunk-{i}-{os.getpid()}")
            futures[fut] = chunk
        for fut in as_completed(futures):
            record(fut.result(), futures[fut])
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
