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

from ..exceptions import StatsFileError

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

    The stats file is read as it is (values are not judged here); a torn read of a
    file being rewritten is retried and never recorded. The line is appended under an
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
        When the stats file is missing, or still torn after every retry.

    Examples
    --------
    >>> import json, pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "stats.json").write_text(json.dumps({"jobs_processed": 1}))
    >>> rec = capture_snapshot(d / "stats.json", d / "h.jsonl", source="w",
    ...                        now="2026-10-01T13:00:00Z")
    >>> (d / "h.jsonl").read_text()
    '{"jobs_processed": 1, "snapshot_at": "2026-10-01T13:00:00Z", "source": "w"}\\n'
    """
    stats = Path(stats_path)
    hist = Path(history)
    obj = _read_stats(stats, retries, retry_delay)
    when = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    when = when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")
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
