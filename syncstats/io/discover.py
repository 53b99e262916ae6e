"""``load``: discover and read everything a fleet of workers left under one root."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

from ..exceptions import InputError, ParameterError
from ._common import Issues
from .dlq import has_dead_letters, read_dlq_files
from .log import LOG_PATTERNS, check_tz, read_log_files
from .snapshots import SNAPSHOT_PATTERNS, read_snapshot_files
from .syncdata import SyncData, concat

__all__ = ["load", "discover"]

#: Files that belong to another file (SQLite sidecars, lock files): not inputs of their own.
_SIDECARS = ("*-wal", "*-shm", "*-journal", "*.lock", "*.tmp")


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(name, p) for p in patterns)


def discover(root: str | os.PathLike[str]) -> dict[str, dict[str, list[Path]]]:
    """Group the files under *root* by source and kind.

    Each first-level directory of *root* is a source named after it; files directly in
    *root* belong to a source named after *root*. Kinds: ``snapshots`` (``*.json``,
    ``*.jsonl``, ``*.ndjson``, optionally gzipped), ``logs`` (``*.log``, ``*.log.N``,
    ``*.log.gz``), ``dlq`` (SQLite files holding a ``dead_letters`` table), ``sidecars``
    (``-wal``/``-shm``/``-journal``, ``.lock``, ``.tmp``) and ``other``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp()); (root / "w1").mkdir()
    >>> _ = (root / "w1" / "stash.log").write_text("")
    >>> {s: {k: len(v) for k, v in kinds.items() if v} for s, kinds in discover(root).items()}
    {'w1': {'logs': 1}}
    """
    base = Path(root)
    if not base.exists():
        raise InputError(base, "no such directory (expected the root of a data directory)")
    if base.is_file():
        entries = [base]
        root_name = base.parent.name or "default"
    else:
        entries = sorted(base.iterdir())
        root_name = base.resolve().name or "default"
    groups: dict[str, dict[str, list[Path]]] = {}

    def bucket(name: str) -> dict[str, list[Path]]:
        return groups.setdefault(
            name, {"snapshots": [], "logs": [], "dlq": [], "sidecars": [], "other": []}
        )

    for entry in entries:
        if entry.is_dir():
            files = sorted((f for f in entry.rglob("*") if f.is_file()), key=str)
            kinds = bucket(entry.name)
        elif not entry.is_file():  # a FIFO, socket or device: never opened (a FIFO would hang)
            bucket(root_name)["other"].append(entry)
            continue
        else:
            files = [entry]
            kinds = bucket(root_name)
        for f in files:
            name = f.name
            if _matches(name, _SIDECARS):
                kinds["sidecars"].append(f)
            elif _matches(name, SNAPSHOT_PATTERNS):
                kinds["snapshots"].append(f)
            elif _matches(name, LOG_PATTERNS):
                kinds["logs"].append(f)
            elif has_dead_letters(f):
                kinds["dlq"].append(f)
            else:
                kinds["other"].append(f)
    return groups


def load(
    root: str | os.PathLike[str],
    *,
    tz: str = "UTC",
    on_error: str = "report",
    engine: str = "pandas",
) -> SyncData:
    """Discover and read every snapshot, history, log and DLQ under *root*.

    Parameters
    ----------
    root : str or os.PathLike
        A data directory: one first-level directory per source (see :func:`discover`).
    tz : str, default 'UTC'
        Time zone of zone-less log timestamps (see :func:`read_log`).
    on_error : {'report', 'raise'}
        As for :func:`read_snapshots`.
    engine : {'pandas', 'dask'}
        ``'dask'``: ``snapshots`` and ``errors`` as dask DataFrames partitioned by source
        (:mod:`syncstats.fleet`), which every analysis function accepts. A Parquet store
        (``syncstats export --parquet``) as *root* is read lazily then; a data directory
        is read into memory and split by source.

    Returns
    -------
    SyncData
        All four frames. When *root* is a Parquet store, its frames
        (:func:`~syncstats.read_parquet`). Per source, ``snapshots`` come from snapshot files and
        histories when any of them holds a snapshot, else from the ``Stats:`` lines of
        its logs; the ``origin`` column says which file (and line) each row comes from.
        Log files not needed are reported as ``not_used`` issues, files of no known kind
        as ``ignored``.

    Raises
    ------
    InputError
        When *root* does not exist.

    Examples
    --------
    >>> data = load("data")  # doctest: +SKIP
    >>> data.snapshots.groupby("source", observed=True).size()  # doctest: +SKIP
    """
    check_tz(tz)
    if engine not in ("pandas", "dask"):
        raise ParameterError(f"engine: expected 'pandas' or 'dask', found {engine!r}")
    from .parquet import is_store, read_parquet

    if is_store(root):
        return read_parquet(root, engine=engine)
    data = _load_files(root, tz, on_error)
    if engine == "dask":
        from ..fleet import from_syncdata

        return from_syncdata(data)
    return data


def _load_files(root: str | os.PathLike[str], tz: str, on_error: str) -> SyncData:
    parts: list[SyncData] = []
    for source, kinds in discover(root).items():
        issues = Issues(on_error)
        snapshots, errors = read_snapshot_files(
            kinds["snapshots"], issues, source=source, fallback=source, discovering=True
        )
        if len(snapshots) == 0 and kinds["logs"]:
            snapshots, errors = read_log_files(kinds["logs"], issues, tz=tz, source=source)
        else:
            for f in kinds["logs"]:
                issues.add(source, f, None, "not_used",
                           "log not read: this source's snapshots come from snapshot files")
        dlq = read_dlq_files(kinds["dlq"], issues, source=source)
        for f in kinds["other"]:
            issues.add(source, f, None, "ignored", "not a snapshot, history, log or DLQ database")
        parts.append(SyncData(snapshots=snapshots, errors=errors, dlq=dlq, issues=issues.frame()))
    return concat(parts)
