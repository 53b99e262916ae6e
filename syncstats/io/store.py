"""The reader of a Parquet history store (``syncstats export --parquet``) into SyncData."""

from __future__ import annotations

import os
from collections.abc import Iterable

from .._dispatch import check_backend
from ..exceptions import ParameterError
from ..store import is_store, read_tables
from .syncdata import SyncData

__all__ = ["read_parquet", "is_store"]


def read_parquet(
    path: str | os.PathLike[str],
    *,
    sources: str | Iterable[str] | None = None,
    frames: Iterable[str] | None = None,
    backend: str = "pandas",
    partition_bytes: int | None = None,
) -> SyncData:
    """Read a Parquet store written by :meth:`SyncData.to_parquet`.

    Parameters
    ----------
    path : str or path
        The store's root directory.
    sources : str or list of str, optional
        Only these sources (only their partitions are read).
    frames : list of str, optional
        Only these frames (``'snapshots'``, ``'errors'``, ``'dlq'``, ``'issues'``); the
        others are returned empty. Default: all (with ``backend='pandas'``).
    backend : {'pandas', 'dask'}
        ``'pandas'``: everything in memory. ``'dask'``: ``snapshots`` and ``errors`` as
        lazy dask DataFrames partitioned by source (see :mod:`syncstats.fleet`), for
        histories larger than memory; ``dlq`` and ``issues`` stay pandas.
    partition_bytes : int, optional
        With ``backend='dask'``: Parquet bytes per partition (default 64 MiB).

    Returns
    -------
    SyncData
        The same frames, columns and dtypes as the reader that produced them. Issues
        come grouped by source (a reader lists them in reading order).

    Raises
    ------
    InputError
        When *path* is not a store.

    Examples
    --------
    >>> import tempfile, syncstats
    >>> store = tempfile.mkdtemp()
    >>> _ = syncstats.SyncData().to_parquet(store)
    >>> syncstats.read_parquet(store).snapshots.shape
    (0, 12)
    """
    check_backend(backend)
    if backend == "dask":
        if frames is not None:
            raise ParameterError("frames: only with backend='pandas' (dask reads all four)")
        from ..store.dask import PARTITION_BYTES, read_tables_dask

        tables = read_tables_dask(path, sources=sources,
                                  partition_bytes=partition_bytes or PARTITION_BYTES)
    else:
        tables = read_tables(path, sources=sources, frames=frames)
    return SyncData(**tables, layout="store")
