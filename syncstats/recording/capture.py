"""``capture_snapshot``: append the current stats file to a JSON Lines history (for cron)."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import pandas as pd
from filelock import FileLock

from .._time import WINDOW, plausible
from ..exceptions import StatsFileError
from .stats import STATS_KEYS, validate_stats_dict

__all__ = ["capture_snapshot"]


def _read_stats(path: Path, retries: int, delay: float) -> dict[str, Any]:
    """Read a stats file the worker may be rewriting in place; retry torn reads."""
    last = "not read"
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(delay)
        try:
            if not stat.S_ISREG(path.stat().st_mode):  # a FIFO would block cron forever
                raise StatsFileError(path, "not a regular file; nothing captured")
            raw = path.read_bytes()
        except FileNotFoundError:
            last = "no such file"
            continue
        except OSError as exc:
            raise StatsFileError(path, f"cannot be read: {exc.strerror or exc}") from None
        if not raw.strip():
            last = "empty (being rewritten?)"
            continue
        try:
            obj = json.loads(raw)  # not orjson: it turns integers beyond 64 bits into floats
        except (ValueError, RecursionError) as exc:
            last = f"not valid JSON ({exc}); torn read?"
            continue
        if not isinstance(obj, dict):
            raise StatsFileError(path, f"expected a JSON object, found {type(obj).__name__}")
        return obj
    raise StatsFileError(path, f"{last} after {retries + 1} reads; nothing captured")


def _check_stats(path: Path, obj: dict[str, Any]) -> None:
    """Refuse what is not a plausible stats object, by the package's existing rules.

    The rules are :func:`~syncstats.recording.validate_stats_dict` (which
    ``SyncStats.load_from_file`` applies too) and the readers' "has a stats key" test
    (``RecordBuilder``). A parsed object is not re-read: the worker replaces the file
    atomically, so it is whole, and a value that is wrong now stays wrong. Invariant
    violations (succeeded + failed != processed, ...) are not refused: they are
    evidence, recorded as read, and the loader's audit reports them.
    """
    if not STATS_KEYS.intersection(obj):
        raise StatsFileError(
            path,
            "JSON object has none of the stats keys (jobs_processed, ...); not a stats "
            "file; nothing captured",
        )
    try:
        validate_stats_dict(obj)
    except ValueError as exc:
        raise StatsFileError(path, f"implausible value: {exc}; nothing captured") from None


def capture_snapshot(
    stats_path: str | os.PathLike[str],
    history: str | os.PathLike[str],
    *,
    source: str | None = None,
    now: Any = None,
    retries: int = 5,
    retry_delay: float = 0.2,
) -> dict[str, Any]:
    """Append the stats file, stamped with the capture time, to a JSON Lines history.

    The stats file is recorded as read, once it passes the rules the readers apply to a
    snapshot: a torn read of a file being rewritten is retried and never recorded; a
    file that is not a stats object, or holds an implausible value, is refused and
    nothing is appended. Implausible means a counter (or an ``errors_by_type`` count)
    that is not a non-negative integer or is above the sanity ceiling of 10,000,000, a
    ``total_processing_time`` that is not a non-negative finite number, a
    ``session_start`` outside the readers' window (2000 up to 2100, see
    ``syncstats._time.plausible``), or an
    ``errors_by_type`` that is not an object (see
    :func:`~syncstats.recording.validate_stats_dict`). Counters that break the
    invariants (``jobs_succeeded + jobs_failed != jobs_processed``, ...) are recorded:
    they are evidence, and the loader's audit reports them. The line is appended under an
    exclusive lock (``<history>.lock``) with one ``write`` and an ``fsync``, so a
    history is never corrupted by concurrent captures, and a capture killed mid-way
    leaves at most a torn last line, which the next capture steps over and the reader
    reports. The user's stats file is only read.

    Parameters
    ----------
    stats_path : str or os.PathLike
        The worker's ``stats.json``.
    history : str or os.PathLike
        The JSON Lines history (created when missing, with its directory).
    source : str, optional
        Worker name stored as ``"source"`` (default: the stats file's directory name).
    now : time, optional
        Capture time (default: the current time), stored as ISO-8601 UTC ``snapshot_at``.
    retries, retry_delay : int, float
        Re-reads of a torn or empty stats file, and the pause between them (s).

    Returns
    -------
    dict
        The record appended.

    Raises
    ------
    StatsFileError
        When the stats file is missing, not a regular file, unreadable, still torn after
        every retry, not a JSON object with a stats key, or holds an implausible value,
        or when the capture time is outside the readers' window (a clock reset).
        The one-line message names the file and says why; the history is unchanged.

    Examples
    --------
    >>> import json, pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "stats.json").write_text(json.dumps({"jobs_processed": 1}))
    >>> rec = capture_snapshot(d / "stats.json", d / "h.jsonl", source="w",
    ...                        now="2026-10-01T13:00:00Z")
    >>> (d / "h.jsonl").read_text()
    '{"jobs_processed": 1, "snapshot_at": "2026-10-01T13:00:00Z", "source": "w"}\\n'
    >>> _ = (d / "stats.json").write_text(json.dumps({"jobs_processed": "x"}))
    >>> try:
    ...     capture_snapshot(d / "stats.json", d / "h.jsonl", source="w")
    ... except StatsFileError as exc:
    ...     print(str(exc).split("stats.json: ")[1])
    implausible value: jobs_processed must be an integer, found str 'x'; nothing captured
    >>> len((d / "h.jsonl").read_text().splitlines())  # nothing appended
    1
    """
    stats = Path(stats_path)
    hist = Path(history)
    obj = _read_stats(stats, retries, retry_delay)
    _check_stats(stats, obj)
    when = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    when = when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")
    if not plausible(when):  # a clock reset to 1970: the reader would not load the line
        raise StatsFileError(stats, f"the capture time {when.isoformat()} is outside "
                             f"{WINDOW} (is the clock right?); nothing captured")
    record = dict(obj)
    record["snapshot_at"] = when.strftime("%Y-%m-%dT%H:%M:%S") + (
        f".{when.microsecond:06d}Z" if when.microsecond else "Z"
    )
    record["source"] = source or stats.resolve().parent.name or "default"
    line = json.dumps(record, separators=(", ", ": "), allow_nan=True).encode() + b"\n"
    hist.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{hist}.lock", timeout=60):
        fd = os.open(hist, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size:
                with open(hist, "rb") as fh:
                    fh.seek(size - 1)
                    if fh.read(1) != b"\n":
                        line = b"\n" + line  # step over a torn tail left by a killed writer
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
    return record
