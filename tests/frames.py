"""Builders of small hand-made frames with the exact dtypes of :mod:`syncstats.schemas`.

Every builder returns a frame cast with :func:`syncstats.schemas.conform` and checked with
:func:`syncstats.schemas.validate`, so the analysis tests see what a reader returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from syncstats import schemas

T0 = pd.Timestamp("2026-10-01 00:00", tz="UTC")
SESSION = pd.Timestamp("2026-09-30 00:00", tz="UTC")
COUNTERS = list(schemas.COUNTERS)


def utc(text: str) -> pd.Timestamp:
    """A UTC timestamp in microseconds (the unit of every time column)."""
    return pd.Timestamp(text, tz="UTC").as_unit(schemas.TIME_UNIT)


def _times(values: Iterable[Any]) -> pd.Series:
    """Strings, Timestamps or None/NaT as a UTC series (naive values are UTC)."""
    out = []
    for v in values:
        if v is None or v is pd.NaT:
            out.append(pd.NaT)
            continue
        ts = pd.Timestamp(v)
        out.append(ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC"))
    return pd.Series(pd.to_datetime(out, utc=True), dtype=schemas.UTC_DTYPE)


def hours(h: float) -> pd.Timestamp:
    """``T0 + h`` hours."""
    return (T0 + pd.Timedelta(hours=h)).as_unit(schemas.TIME_UNIT)


def snap(
    at: Any,
    processed: int,
    failed: int = 0,
    to_dlq: int = 0,
    low: int = 0,
    *,
    succeeded: int | None = None,
    high: int | None = None,
    source: str = "w",
    session: Any = SESSION,
    tpt: float | None = None,
    time_from: str = "field",
    origin: str | None = None,
) -> dict[str, Any]:
    """One snapshot row; consistent by default (succeeded = processed - failed,
    high = succeeded - low, total_processing_time = 0.5 s per attempt)."""
    s = processed - failed if succeeded is None else succeeded
    hi = s - low if high is None else high
    return {
        "source": source,
        "snapshot_at": at,
        "session_start": session,
        "jobs_processed": processed,
        "jobs_succeeded": s,
        "jobs_failed": failed,
        "jobs_to_dlq": to_dlq,
        "high_confidence_matches": hi,
        "low_confidence_matches": low,
        "total_processing_time": 0.5 * processed if tpt is None else tpt,
        "time_from": time_from,
        "origin": origin,
    }


def snapshots(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """A ``snapshots`` frame; a missing origin becomes ``<source>.jsonl:<n>`` (1-based)."""
    rows = [dict(r) for r in rows]
    for i, r in enumerate(rows, start=1):
        if r.get("origin") is None:
            r["origin"] = f"{r['source']}.jsonl:{i}"
    if not rows:
        return schemas.empty(schemas.SNAPSHOTS)
    frame = pd.DataFrame(rows, columns=schemas.SNAPSHOTS.names)
    frame["snapshot_at"] = _times(frame["snapshot_at"]).to_numpy()
    frame["session_start"] = _times(frame["session_start"]).to_numpy()
    out = schemas.conform(frame, schemas.SNAPSHOTS)
    return schemas.validate(out, schemas.SNAPSHOTS)


def errors(rows: Iterable[Sequence[Any]]) -> pd.DataFrame:
    """An ``errors`` frame from ``(source, snapshot_at, error_type, count, origin)`` rows."""
    frame = pd.DataFrame(list(rows), columns=schemas.ERRORS.names)
    if frame.empty:
        return schemas.empty(schemas.ERRORS)
    frame["snapshot_at"] = _times(frame["snapshot_at"]).to_numpy()
    return schemas.validate(schemas.conform(frame, schemas.ERRORS), schemas.ERRORS)


def errors_for(snaps: pd.DataFrame, counts: Sequence[Mapping[str, int]]) -> pd.DataFrame:
    """An ``errors`` frame giving ``counts[i]`` (type -> count) to the i-th snapshot row."""
    rows = []
    for row, by_type in zip(snaps.itertuples(index=False), counts, strict=True):
        for etype, n in by_type.items():
            rows.append((row.source, row.snapshot_at, etype, n, row.origin))
    return errors(rows)


def dlq_entry(
    id: int,
    failed_at: Any,
    error_type: str | None = "PlexNotFound",
    message: str = "Could not find Plex item for path: /media/videos/a/scene_1.mp4",
    *,
    scene_id: int | None = 1,
    job_id: int | None = None,
    retry_count: int | None = 5,
    source: str = "w",
    stack_trace: str = "Traceback (most recent call last): ...",
    origin: str = "w/dlq.db",
) -> dict[str, Any]:
    """One dead-letter row (job_id defaults to 1000 + id)."""
    return {
        "source": source,
        "id": id,
        "job_id": 1000 + id if job_id is None else job_id,
        "scene_id": scene_id,
        "error_type": error_type,
        "error_message": message,
        "stack_trace": stack_trace,
        "retry_count": retry_count,
        "failed_at": failed_at,
        "origin": origin,
    }


def dlq(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """A ``dlq`` frame (NULL error types stay missing, as read from the database)."""
    rows = [dict(r) for r in rows]
    if not rows:
        return schemas.empty(schemas.DLQ)
    frame = pd.DataFrame(rows, columns=schemas.DLQ.names)
    frame["failed_at"] = _times(frame["failed_at"]).to_numpy()
    for col in ("job_id", "scene_id", "retry_count"):
        frame[col] = frame[col].astype("Int64")
    out = schemas.conform(frame, schemas.DLQ)
    return schemas.validate(out, schemas.DLQ)


def issues(rows: Iterable[Sequence[Any]] = ()) -> pd.DataFrame:
    """An ``issues`` frame from ``(source, path, line, kind, detail)`` rows."""
    frame = pd.DataFrame(list(rows), columns=schemas.ISSUES.names)
    if frame.empty:
        return schemas.empty(schemas.ISSUES)
    frame["line"] = frame["line"].astype("Int64")
    return schemas.validate(schemas.conform(frame, schemas.ISSUES), schemas.ISSUES)
