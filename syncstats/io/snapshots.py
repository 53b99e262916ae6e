"""``read_snapshots``: stats-file copies and JSON Lines histories into DataFrames."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from .. import schemas
from ..exceptions import SnapshotFormatError
from ._common import (
    STATS_KEYS,
    Issues,
    RecordBuilder,
    expand_paths,
    iter_lines,
    loads,
    parse_time_value,
    read_bytes,
    time_from_name,
)
from ._fast import read_history_fast
from .syncdata import SyncData

__all__ = ["read_snapshots", "SNAPSHOT_PATTERNS", "is_history"]

#: Parse clean JSON Lines histories with Arrow (:mod:`syncstats.io._fast`); the per-line
#: reader below is the reference and handles every file the fast path declines.
FAST_PATH = True

#: File names a directory search picks up as snapshots or histories.
SNAPSHOT_PATTERNS = ("*.json", "*.json.gz", "*.jsonl", "*.jsonl.gz", "*.ndjson", "*.ndjson.gz")


def is_history(path: Path) -> bool:
    """True for JSON Lines files (``.jsonl``/``.ndjson``, optionally gzipped)."""
    name = path.name.lower()
    return name.endswith((".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz"))


def read_snapshots(
    path: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    source: str | None = None,
    on_error: str = "report",
) -> SyncData:
    """Read stats snapshots: single files, directories of copies, globs or JSON Lines.

    Parameters
    ----------
    path : str, path or list of them
        A ``stats.json``-style file, a directory (searched recursively for
        ``*.json``/``*.jsonl``/``*.ndjson``, optionally ``.gz``), a glob, or a history.
    source : str, optional
        Source name for every snapshot. Default: a history line's ``"source"`` field,
        else the name of the directory given (or of the file's parent directory).
    on_error : {'report', 'raise'}
        ``'report'``: unreadable files/lines go to ``issues``. ``'raise'``: raise
        :class:`~syncstats.exceptions.SnapshotFormatError` naming the path and line.

    Returns
    -------
    SyncData
        ``snapshots`` and ``errors`` filled; ``dlq`` empty; ``issues`` says what could
        not be read and which fallbacks were taken.

    Notes
    -----
    The snapshot time is the object's ``snapshot_at`` field (ISO-8601 or epoch seconds),
    else a timestamp in the file name (ISO-8601 basic or extended, ``Z`` or an offset;
    no zone means UTC), else the file's mtime — recorded in ``time_from`` and reported
    as an issue because copies' mtimes are unreliable. A history line without a usable
    ``snapshot_at`` is not loaded. Identical snapshots (same source, time and counters,
    e.g. the same capture in a copy and in a history) are loaded once; the duplicates
    are reported.

    Examples
    --------
    >>> import json, pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "worker-a"; d.mkdir()
    >>> _ = (d / "stats-20261001T130000Z.json").write_text(json.dumps(
    ...     {"jobs_processed": 3, "jobs_succeeded": 2, "jobs_failed": 1,
    ...      "errors_by_type": {"PlexNotFound": 1}}))
    >>> data = read_snapshots(d)
    >>> data.snapshots[["source", "snapshot_at", "jobs_processed", "time_from"]]
         source               snapshot_at  jobs_processed time_from
    0  worker-a 2026-10-01 13:00:00+00:00               3  filename
    """
    issues = Issues(on_error, SnapshotFormatError)
    files = expand_paths(path, patterns=SNAPSHOT_PATTERNS, what="snapshot")
    fallback = None
    if isinstance(path, str | os.PathLike) and Path(path).is_dir():
        fallback = Path(path).name
    snapshots, errors = read_snapshot_files(files, issues, source=source, fallback=fallback)
    return SyncData(snapshots=snapshots, errors=errors, issues=issues.frame())


def read_snapshot_files(
    files: list[Path],
    issues: Issues,
    *,
    source: str | None,
    fallback: str | None,
    discovering: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read snapshot copies and histories into (snapshots, errors); issues into *issues*.

    *source* overrides every name; else a history line's ``source`` field, else
    *fallback*, else the file's parent directory name. With *discovering* (``load``),
    a JSON file holding no stats key at all is a file of another kind: an ``ignored``
    caveat rather than an error.
    """
    builder = RecordBuilder(issues)
    for f in tqdm(files, desc="snapshots", unit="file", delay=1.0, disable=None, leave=False):
        default = fallback or f.parent.name or "default"
        if is_history(f):
            _read_history(f, builder, source, default, issues)
        else:
            _read_copy(f, builder, source, default, issues, discovering)
    snapshots, errors = builder.frames()
    return drop_duplicate_snapshots(snapshots, errors, issues)


def _read_copy(
    f: Path,
    builder: RecordBuilder,
    explicit: str | None,
    fallback: str,
    issues: Issues,
    discovering: bool = False,
) -> None:
    source = explicit or fallback
    try:
        raw = read_bytes(f)
    except OSError as exc:
        issues.add(source, f, None, "unreadable", f"cannot be read: {exc.strerror or exc}")
        return
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if not raw.strip():
        issues.add(source, f, None, "empty", "file is empty (torn write?); no snapshot")
        return
    try:
        obj = loads(raw)
    except (ValueError, RecursionError) as exc:
        issues.add(source, f, None, "bad_json", f"not valid JSON (torn write?): {exc}")
        return
    if not isinstance(obj, dict) or not STATS_KEYS.intersection(obj):
        if discovering and isinstance(obj, dict | list):
            issues.add(explicit or fallback, f, None, "ignored",
                       "JSON without any stats key (jobs_processed, ...): not a snapshot file")
            return
        # Not a snapshot: let the builder report why, without resolving a time first.
        builder.add(obj, source=explicit or fallback, path=f, line=None, snapshot_at=None,
                    time_from="field")
        return
    when, time_from = None, "field"
    if isinstance(obj, dict) and "snapshot_at" in obj:
        when = parse_time_value(obj["snapshot_at"])
        if when is None:
            issues.add(
                source, f, None, "bad_time",
                f"snapshot_at {obj['snapshot_at']!r:.60} is not a time; using the file name "
                "or mtime instead",
            )
    if when is None:
        when, _had_zone = time_from_name(f.name)
        time_from = "filename"
    if when is None:
        try:
            mtime = f.stat().st_mtime
        except OSError as exc:
            issues.add(source, f, None, "unreadable", f"cannot stat: {exc}")
            return
        when = pd.Timestamp(round(mtime * 1e6), unit="us", tz="UTC")
        time_from = "mtime"
        issues.add(
            source, f, None, "time_from_mtime",
            "no snapshot_at field and no timestamp in the file name; using the file's mtime "
            f"({when.isoformat()}), which copies do not preserve",
        )
    src = source
    if explicit is None and isinstance(obj, dict):
        field = obj.get("source")
        src = field if isinstance(field, str) and field else fallback
    builder.add(obj, source=src, path=f, line=None, snapshot_at=when, time_from=time_from)


def _read_history(
    f: Path, builder: RecordBuilder, source: str | None, fallback: str, issues: Issues
) -> None:
    try:
        data = read_bytes(f)
    except (OSError, EOFError) as exc:
        issues.add(source or fallback, f, None, "unreadable", f"cannot be read: {exc}")
        return
    if FAST_PATH:
        fast = read_history_fast(data, f, source=source, fallback=fallback)
        if fast is not None:
            builder.add_columns(*fast, path=f)
            return
    for lineno, raw in iter_lines(data):
        try:
            obj = loads(raw)
        except (ValueError, RecursionError) as exc:
            issues.add(source or fallback, f, lineno, "torn_line", f"not valid JSON: {exc}")
            continue
        src = source
        if src is None:
            field = obj.get("source") if isinstance(obj, dict) else None
            src = field if isinstance(field, str) and field else fallback
        if not isinstance(obj, dict):
            builder.add(obj, source=src, path=f, line=lineno, snapshot_at=None, time_from="field")
            continue
        when = parse_time_value(obj.get("snapshot_at"))
        if when is None:
            issues.add(
                src, f, lineno, "bad_time",
                f"snapshot_at {obj.get('snapshot_at')!r:.60} is missing or not a time; "
                "line not loaded",
            )
            continue
        builder.add(obj, source=src, path=f, line=lineno, snapshot_at=when, time_from="field")


def drop_duplicate_snapshots(
    snapshots: pd.DataFrame, errors: pd.DataFrame, issues: Issues
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep one of several identical snapshots (same source, time, session and counters).

    The dropped ones are reported as ``duplicate`` issues naming the kept origin.
    Snapshots at the same time with *different* values are all kept (the audit flags them).
    """
    if len(snapshots) < 2:
        return snapshots, errors
    # cheap pre-check on three columns; the full key only when something may repeat
    if not snapshots.duplicated(subset=["source", "snapshot_at", "jobs_processed"]).any():
        return snapshots, errors
    key = ["source", "snapshot_at", "session_start", *schemas.COUNTERS, "total_processing_time"]
    dup = snapshots.duplicated(subset=key, keep="first")
    if not dup.any():
        return snapshots, errors
    first = snapshots.drop_duplicates(subset=key, keep="first")
    kept = snapshots.loc[dup, key].merge(
        first[[*key, "origin"]], on=key, how="left", suffixes=("", "_kept")
    )["origin"]
    for (src, origin), kept_origin in zip(
        snapshots.loc[dup, ["source", "origin"]].itertuples(index=False), kept, strict=True
    ):
        path, _, line = origin.rpartition(":") if _has_line(origin) else (origin, "", "")
        issues.add(
            str(src), path, int(line) if line else None, "duplicate",
            f"identical to the snapshot at {kept_origin}; loaded once",
        )
    dropped = set(snapshots.loc[dup, "origin"])
    errors = errors[~errors["origin"].isin(dropped)].reset_index(drop=True)
    return snapshots[~dup].reset_index(drop=True), errors


def _has_line(origin: str) -> bool:
    head, sep, tail = origin.rpartition(":")
    return bool(sep) and tail.isdigit()
