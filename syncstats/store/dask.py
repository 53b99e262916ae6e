"""The Parquet store read lazily: ``snapshots``/``errors`` as dask frames partitioned by source."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from .. import schemas
from .._dispatch import no_string_conversion, require_dask
from .parquet import TABLES, check_store, load_files, store_files

#: Parquet bytes per dask partition (whole sources are never split).
PARTITION_BYTES = 64 << 20


def _groups(sizes: dict[str, int], budget: int) -> list[list[str]]:
    """Consecutive sources packed into groups of about *budget* bytes (never split)."""
    groups: list[list[str]] = []
    current: list[str] = []
    total = 0
    for source, size in sizes.items():
        if current and total + size > budget:
            groups.append(current)
            current, total = [], 0
        current.append(source)
        total += size
    if current:
        groups.append(current)
    return groups


def _load_group(
    files: dict[str, list[Path]], *, table: str, categories: list[str]
) -> pd.DataFrame:
    return load_files(files, table, categories)


def read_tables_dask(
    path: str | os.PathLike[str],
    *,
    sources: str | Iterable[str] | None = None,
    partition_bytes: int = PARTITION_BYTES,
) -> dict[str, Any]:
    """Open a Parquet store lazily: ``snapshots``/``errors`` as source-partitioned dask frames.

    Parameters
    ----------
    path : str or path
        A store written by :meth:`~syncstats.SyncData.to_parquet` / ``syncstats export --parquet``.
    sources : str or list of str, optional
        Only these sources.
    partition_bytes : int, default 64 MiB
        Parquet bytes (snapshots + errors) per partition; whole sources are kept together.

    Returns
    -------
    dict
        ``snapshots`` and ``errors``: dask DataFrames with the pandas schemas (``source``
        categories known: every source of the store); ``dlq``, ``issues``: pandas.
    """
    dd = require_dask()

    root = Path(path)
    check_store(root)
    wanted = [sources] if isinstance(sources, str) else sources
    snap_files = store_files(root, "snapshots", wanted)
    err_files = store_files(root, "errors", wanted)
    names = sorted(set(snap_files) | set(err_files))
    sizes = {
        s: sum(f.stat().st_size for f in [*snap_files.get(s, []), *err_files.get(s, [])])
        for s in names
    }
    groups = _groups(sizes, partition_bytes) or [[]]
    frames = {}
    for table, files in (("snapshots", snap_files), ("errors", err_files)):
        meta = schemas.empty(TABLES[table][0])
        meta["source"] = meta["source"].cat.set_categories(names)
        with no_string_conversion():
            # each task carries only its own sources' file lists
            frames[table] = dd.from_map(
                _load_group, [{s: files.get(s, []) for s in g} for g in groups],
                table=table, categories=names, meta=meta, enforce_metadata=False,
            )
    frames["dlq"] = load_files(store_files(root, "dlq", wanted), "dlq")
    frames["issues"] = load_files(store_files(root, "issues", wanted), "issues")
    return frames


