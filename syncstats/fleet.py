"""Fleet scale: the same analysis on Dask (``dask.dataframe`` + ``dask.distributed``).

A Parquet store (:meth:`~syncstats.SyncData.to_parquet`) read with
``syncstats.read_parquet(store, backend="dask")`` (or :func:`read_parquet_dask`) gives a
:class:`~syncstats.SyncData` whose ``snapshots`` and ``errors`` are dask DataFrames
partitioned **by source**; every analysis function accepts them (the dispatch is
``syncstats/_dispatch.py``). This module is the public face of that: :func:`connect` a
cluster, convert in-memory data (:func:`from_syncdata`), and bring lazy results to the
client (:func:`compute`, :func:`window_rows`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from ._dispatch import (
    compute,
    concat_parts,
    is_dask,
    map_sources,
    per_source,
    reduce_sources,
    require_dask,
    to_dask,
    window_rows,
)
from .io.store import read_parquet
from .io.syncdata import SyncData

__all__ = ["is_dask", "read_parquet_dask", "from_syncdata", "connect", "close_client",
           "map_sources", "per_source", "reduce_sources", "compute", "window_rows",
           "concat_parts"]


def read_parquet_dask(
    path: str | os.PathLike[str],
    *,
    sources: str | Iterable[str] | None = None,
    partition_bytes: int | None = None,
) -> SyncData:
    """``syncstats.read_parquet(path, backend="dask")``: a store opened lazily.

    Examples
    --------
    >>> import tempfile, syncstats
    >>> store = tempfile.mkdtemp(); _ = syncstats.SyncData().to_parquet(store)
    >>> data = read_parquet_dask(store)
    >>> data.snapshots.npartitions, len(data.snapshots.compute())
    (1, 0)
    """
    return read_parquet(path, sources=sources, backend="dask", partition_bytes=partition_bytes)


def from_syncdata(data: SyncData, *, npartitions: int | None = None) -> SyncData:
    """An in-memory :class:`~syncstats.SyncData` as dask frames partitioned by source.

    Parameters
    ----------
    data : SyncData
        Pandas frames (e.g. from :func:`~syncstats.load`).
    npartitions : int, optional
        Number of partitions (default: one per source); sources are never split.

    Returns
    -------
    SyncData
        ``snapshots``/``errors`` as dask DataFrames laid out as :func:`read_parquet_dask`
        lays them out; ``dlq``/``issues`` unchanged.

    Examples
    --------
    >>> import syncstats
    >>> from_syncdata(syncstats.SyncData()).snapshots.npartitions
    1
    """
    lazy = to_dask({"snapshots": data.snapshots, "errors": data.errors}, npartitions=npartitions)
    return SyncData(**lazy, dlq=data.dlq, issues=data.issues, layout=data.layout)


def connect(scheduler: str | None = None, *, n_workers: int | None = None) -> Any:
    """A ``distributed.Client``: of the scheduler at *scheduler*, else of a new
    ``LocalCluster`` sized to the machine.

    The local cluster runs one single-threaded worker process per core (the analysis is
    pandas code holding the GIL), each with an equal share of the machine's memory.
    Close the client (it is a context manager) to stop the cluster.

    Examples
    --------
    >>> with connect(n_workers=1) as client:            # doctest: +SKIP
    ...     print(client.dashboard_link)
    """
    require_dask()
    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler)
    workers = n_workers or max(1, os.cpu_count() or 1)
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=":0")  # any free port: never a clash
    client = Client(cluster)
    client._syncstats_cluster = cluster  # closed with the client (see close_client)
    return client


def close_client(client: Any) -> None:
    """Close a client from :func:`connect` and the local cluster it started, if any."""
    cluster = getattr(client, "_syncstats_cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()
