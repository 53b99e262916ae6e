"""A columnar history store: :class:`~syncstats.SyncData` as hive-partitioned Parquet,
append-only.

Layout (one directory per frame, hive partitions, one file per export and partition)::

    STORE/snapshots/source=worker-a/month=2026-10/part-<stamp>-<hash>.parquet
    STORE/errors/source=worker-a/month=2026-10/part-...parquet
    STORE/dlq/source=worker-a/month=2026-10/part-...parquet      (month of failed_at)
    STORE/issues/source=worker-a/part-...parquet

Partition values are percent-encoded (a source may hold ``/`` or ``=``), the way
pyarrow's hive partitioning writes and reads them. Files never change once written: an
export writes only the rows the store does not hold yet (compared within the partitions
it touches), so running the same nightly export twice writes nothing the second time,
and old partitions are never rewritten. Files hold every schema column but ``source``
(the partition) with the same dtypes as the in-memory frames; :func:`~syncstats.read_parquet`
returns frames that pass :func:`syncstats.schemas.validate`.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock

from .. import schemas
from .._fsutil import atomic_write
from ..exceptions import InputError, ParameterError

__all__ = ["write_parquet", "read_tables", "is_store", "check_store", "TABLES", "store_files",
           "load_files", "MARKER"]

#: Frame name -> (schema, time column that picks the month partition or None).
TABLES: dict[str, tuple[schemas.Schema, str | None]] = {
    "snapshots": (schemas.SNAPSHOTS, "snapshot_at"),
    "errors": (schemas.ERRORS, "snapshot_at"),
    "dlq": (schemas.DLQ, "failed_at"),
    "issues": (schemas.ISSUES, None),
}
#: What makes a row "already stored" (its identity; ``origin`` may differ between reads).
_SNAPSHOT_KEY = ["snapshot_at", "session_start", *schemas.COUNTERS, "total_processing_time"]
_DLQ_KEY = ["id", "job_id", "scene_id", "error_type", "error_message", "stack_trace",
            "retry_count", "failed_at"]
_NO_MONTH = "unknown"
#: Written at the root of every store (so an empty export is still a store).
MARKER = ".syncstats-store"


def _month(times: pd.Series) -> pd.Series:
    out = times.dt.strftime("%Y-%m")
    return out.astype("object").where(times.notna(), _NO_MONTH)


def _part_dir(root: Path, table: str, source: str, month: str | None) -> Path:
    d = root / table / f"source={quote(source, safe='')}"
    return d / f"month={quote(month, safe='')}" if month is not None else d


def _read_dir(directory: Path, schema: schemas.Schema) -> pd.DataFrame:
    files = sorted(directory.glob("part-*.parquet")) if directory.is_dir() else []
    if not files:
        return schemas.empty(schema).drop(columns="source")
    return _read_files(files, schema)


def _read_files(files: list[Path], schema: schemas.Schema) -> pd.DataFrame:
    # partitioning=None: the source comes from our caller, not from parsing the path
    table = pq.read_table([str(f) for f in files] if len(files) > 1 else str(files[0]),
                          partitioning=None)
    return table.to_pandas()


def _new_rows(new: pd.DataFrame, old: pd.DataFrame, key: list[str]) -> pd.Series:
    """Mask of the rows of *new* whose *key* is not in *old* (NaN/NaT match each other)."""
    if old.empty:
        return pd.Series(True, index=new.index)
    left = new[key].astype({c: "str" for c in key if new[c].dtype == "category"})
    right = old[key].astype({c: "str" for c in key if old[c].dtype == "category"})
    right = right.astype({c: left[c].dtype for c in key}).drop_duplicates()
    merged = left.reset_index().merge(right, on=key, how="left", indicator=True)
    merged = merged.drop_duplicates("index").set_index("index")["_merge"]
    return (merged == "left_only").reindex(new.index)


def _encode(frame: pd.DataFrame, schema: schemas.Schema) -> bytes:
    body = frame.drop(columns="source").reset_index(drop=True)
    table = pa.Table.from_pandas(body, preserve_index=False)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def _write_part(directory: Path, frame: pd.DataFrame, schema: schemas.Schema) -> Path:
    data = _encode(frame, schema)
    digest = hashlib.sha256(data).hexdigest()[:16]
    path = directory / f"part-{time.time_ns():020d}-{digest}.parquet"
    atomic_write(path, data)
    return path


def write_parquet(data: Any, path: str | os.PathLike[str]) -> dict[str, int]:
    """Append *data* to the Parquet store at *path* (created if missing).

    Parameters
    ----------
    data : SyncData
        What a reader returned (any object with the four frames as attributes).
    path : str or path
        The store's root directory.

    Returns
    -------
    dict
        Rows written per frame (``snapshots``, ``errors``, ``dlq``, ``issues``); zeros
        when the store already held everything.

    Notes
    -----
    A snapshot is already stored when a row of the same source and month has the same
    time, session start and counters (its origin may differ: the same capture read from
    a copy and from a history). Error rows are written with their new snapshot. A DLQ
    entry is stored again when any of its fields changed (e.g. ``retry_count``);
    :func:`syncstats.read_parquet` returns the latest version of each ``(source, id, failed_at)``.
    Concurrent exports to one store are serialised by a lock file ``STORE/.lock``.

    Examples
    --------
    >>> import tempfile, syncstats
    >>> store = tempfile.mkdtemp()
    >>> data = syncstats.load("data")                       # doctest: +SKIP
    >>> write_parquet(data, store)["snapshots"] > 0         # doctest: +SKIP
    True
    >>> write_parquet(data, store)["snapshots"]             # doctest: +SKIP
    0
    """
    root = Path(path)
    if root.exists() and not root.is_dir():
        raise ParameterError(f"Parquet store {root}: expected a directory, found a file")
    root.mkdir(parents=True, exist_ok=True)
    written = dict.fromkeys(TABLES, 0)
    with FileLock(str(root / ".lock"), timeout=600):
        if not (root / MARKER).is_file():
            atomic_write(root / MARKER, b'{"format": "syncstats-parquet", "version": 1}\n')
        new_snapshot_keys: pd.DataFrame | None = None
        for name, (schema, time_col) in TABLES.items():
            frame = schemas.validate(getattr(data, name), schema)
            if frame.empty:
                continue
            if name == "errors":
                if new_snapshot_keys is None or new_snapshot_keys.empty:
                    continue
                frame = frame.merge(new_snapshot_keys, on=["source", "snapshot_at", "origin"],
                                    how="inner")[frame.columns]
            groups: list[Any] = [frame["source"].astype("str")]
            if time_col is not None:
                groups.append(_month(frame[time_col]).rename("month"))
            fresh = []
            for key, part in frame.groupby(groups, sort=True, observed=True):
                source, month = (key[0], key[1]) if time_col is not None else (key[0], None)
                directory = _part_dir(root, name, source, month)
                if name == "errors":  # only errors of new snapshots reach this point
                    mask = pd.Series(True, index=part.index)
                else:
                    old = _read_dir(directory, schema)
                    id_key = {"snapshots": _SNAPSHOT_KEY, "dlq": _DLQ_KEY}.get(
                        name, [c for c in schema.names if c != "source"])
                    mask = _new_rows(part, old, id_key)
                rows = part[mask.to_numpy()]
                if rows.empty:
                    continue
                _write_part(directory, rows, schema)
                written[name] += len(rows)
                fresh.append(rows)
            if name == "snapshots":
                new_snapshot_keys = (
                    pd.concat(fresh)[["source", "snapshot_at", "origin"]] if fresh
                    else frame.iloc[:0][["source", "snapshot_at", "origin"]]
                )
    return written


def store_files(
    path: str | os.PathLike[str], table: str, sources: Iterable[str] | None = None
) -> dict[str, list[Path]]:
    """The Parquet files of one frame of the store, per source (sorted by month, then
    export time). With *sources*, only those sources' directories are listed."""
    root = Path(path) / table
    if not root.is_dir():
        return {}
    if sources is None:
        with os.scandir(root) as it:
            dirs = {unquote(e.name[len("source="):]): Path(e.path) for e in it
                    if e.name.startswith("source=") and e.is_dir()}
    else:
        dirs = {s: root / f"source={quote(str(s), safe='')}" for s in sources}
    out: dict[str, list[Path]] = {}
    for source, directory in sorted(dirs.items()):
        files = sorted(directory.glob("month=*/part-*.parquet")) if TABLES[table][1] else []
        files += sorted(directory.glob("part-*.parquet"))
        if files:
            out[source] = sorted(files, key=lambda p: (p.parent.name, p.name))
    return out


def check_store(root: Path) -> None:
    if not root.is_dir():
        raise InputError(root, "Parquet store: no such directory")
    if not (root / MARKER).is_file() and not any((root / t).is_dir() for t in TABLES):
        raise InputError(
            root, "expected a Parquet store made by `syncstats export --parquet` (with "
            f"{MARKER}, snapshots/, errors/, dlq/, issues/), found none of them"
        )


def load_files(files_by_source: dict[str, list[Path]], table: str,
               categories: list[str] | None = None) -> pd.DataFrame:
    """One frame of the store from its files (per source), conformed and sorted.

    *categories* fixes the ``source`` categories (dask partitions share one list).
    """
    schema = TABLES[table][0]
    parts = []
    for source, files in files_by_source.items():
        frame = _read_files(files, schema)
        frame.insert(0, "source", source)
        parts.append(frame)
    if not parts:
        out = schemas.empty(schema)
    else:
        frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        out = schemas.conform(frame, schema)
        if table == "dlq" and len(out):
            # a DLQ entry exported again after it changed: the latest export wins
            out = out.drop_duplicates(["source", "id", "failed_at"], keep="last")
            out = out.reset_index(drop=True)
    if categories is not None:
        out["source"] = out["source"].cat.set_categories(categories)
    return out


def read_tables(
    path: str | os.PathLike[str],
    *,
    sources: str | Iterable[str] | None = None,
    frames: Iterable[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """The store's frames in memory (see :func:`syncstats.read_parquet`).

    Raises
    ------
    InputError
        When *path* is not a store.
    ParameterError
        When *frames* names a frame the store does not have.
    """
    root = Path(path)
    check_store(root)
    if isinstance(sources, str):
        sources = [sources]
    wanted = set(TABLES) if frames is None else set(frames)
    unknown = wanted - set(TABLES)
    if unknown:
        raise ParameterError(f"frames: expected names among {list(TABLES)}, found "
                             f"{sorted(unknown)}")
    return {name: load_files(store_files(root, name, sources), name) for name in TABLES
            if name in wanted}


def is_store(path: str | os.PathLike[str]) -> bool:
    """True when *path* is a directory written by :func:`write_parquet`."""
    return (Path(path) / MARKER).is_file()
