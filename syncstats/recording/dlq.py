"""``DeadLetterQueue``: the worker's SQLite dead-letter queue, schema-compatible.

The schema and indexes are exactly those of docs/formats.md §4, so a database created here is
read by the original worker and vice versa. Unlike the original, :meth:`get_by_id` never
runs code from a blob: it decodes with :func:`~syncstats.recording.safepickle.safe_loads`.
"""

from __future__ import annotations

import os
import pickle
import sqlite3
import traceback
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..exceptions import ParameterError, UnsafePickleError
from .safepickle import safe_loads

__all__ = ["DeadLetterQueue", "DLQ_SCHEMA", "DLQ_INDEXES", "format_failed_at"]

#: ``CREATE TABLE`` statement of docs/formats.md §4.
DLQ_SCHEMA = """CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER,
    scene_id INTEGER,
    job_data BLOB,
    error_type TEXT,
    error_message TEXT,
    stack_trace TEXT,
    retry_count INTEGER,
    failed_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
)"""
#: Index statements of docs/formats.md §4.
DLQ_INDEXES = (
    "CREATE INDEX IF NOT EXISTS idx_failed_at ON dead_letters(failed_at)",
    "CREATE INDEX IF NOT EXISTS idx_scene_id ON dead_letters(scene_id)",
)


def format_failed_at(when: datetime) -> str:
    """Format a time as SQLite's ``CURRENT_TIMESTAMP`` text (UTC, seconds).

    Examples
    --------
    >>> from datetime import datetime, timezone, timedelta
    >>> format_failed_at(datetime(2026, 10, 1, 3, 0, tzinfo=timezone(timedelta(hours=1))))
    '2026-10-01 02:00:00'
    """
    if when.tzinfo is None:
        raise ParameterError("failed_at must be timezone-aware, found a naive datetime")
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


class DeadLetterQueue:
    """Dead-letter queue of permanently failed sync jobs (``{data_dir}/dlq.db``).

    Parameters
    ----------
    data_dir : str or os.PathLike
        Directory of the database; created when missing.

    Examples
    --------
    >>> import tempfile
    >>> dlq = DeadLetterQueue(tempfile.mkdtemp())
    >>> dlq.add({"job_id": 1, "scene_id": 123, "data": {}}, ValueError("Plex API error"), 5)
    1
    >>> dlq.get_count(), dlq.get_error_summary()
    (1, {'ValueError': 1})
    >>> dlq.get_by_id(1)["scene_id"]
    123
    """

    def __init__(self, data_dir: str | os.PathLike[str]):
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        self.db_path = os.path.join(os.fspath(data_dir), "dlq.db")
        self._setup_schema()

    def _setup_schema(self) -> None:
        with self._connect() as conn:
            conn.execute(DLQ_SCHEMA)
            for stmt in DLQ_INDEXES:
                conn.execute(stmt)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # ``with sqlite3.connect()`` only commits; ``closing`` also closes the handle.
        with closing(sqlite3.connect(self.db_path, timeout=30.0)) as conn:
            with conn:
                yield conn

    def add(
        self,
        job: Mapping[str, Any],
        error: BaseException,
        retry_count: int,
        *,
        failed_at: datetime | None = None,
        stack_trace: str | None = None,
    ) -> int:
        """Add a failed job; return its DLQ id.

        Parameters
        ----------
        job : dict
            The job dict (``job_id``, ``scene_id``, ``data``, ...); pickled as the worker does.
        error : BaseException
            The exception that ended the job: its class name and ``str()`` are stored.
        retry_count : int
            Attempts made before giving up.
        failed_at : datetime, optional
            Timezone-aware failure time; default: SQLite's ``CURRENT_TIMESTAMP`` (now, UTC).
        stack_trace : str, optional
            Default: the traceback of *error* (as the worker's ``format_exc()``).
        """
        if stack_trace is None:
            if error.__traceback__ is not None:
                stack_trace = "".join(traceback.format_exception(error))
            else:
                stack_trace = traceback.format_exc()
        values = (
            job.get("job_id"),
            job.get("scene_id"),
            pickle.dumps(dict(job)),
            type(error).__name__,
            str(error),
            stack_trace,
            retry_count,
        )
        with self._connect() as conn:
            if failed_at is None:
                cur = conn.execute(
                    "INSERT INTO dead_letters (job_id, scene_id, job_data, error_type,"
                    " error_message, stack_trace, retry_count) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    values,
                )
            else:
                cur = conn.execute(
                    "INSERT INTO dead_letters (job_id, scene_id, job_data, error_type,"
                    " error_message, stack_trace, retry_count, failed_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (*values, format_failed_at(failed_at)),
                )
            return int(cur.lastrowid or 0)

    def get_recent(self, limit: int = 10) -> list[dict[str, Any]]:
        """The *limit* most recent entries (without ``job_data``), newest first.

        Each dict has ``id, job_id, scene_id, error_type, error_message, failed_at``.
        """
        with self._connect() as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute(
                "SELECT id, job_id, scene_id, error_type, error_message, failed_at"
                " FROM dead_letters ORDER BY failed_at DESC, id DESC LIMIT ?",
                (int(limit),),
            ).fetchall()
        return [dict(row) for row in rows]

    def get_by_id(self, dlq_id: int) -> dict[str, Any] | None:
        """The job dict of entry *dlq_id*, or None when there is no such entry.

        Raises
        ------
        UnsafePickleError
            When the blob is not a plain-data pickle of a dict. Nothing is executed.
        """
        with self._connect() as conn:
            row = conn.execute(
                "SELECT job_data FROM dead_letters WHERE id = ?", (int(dlq_id),)
            ).fetchone()
        if row is None:
            return None
        try:
            job = safe_loads(row[0])
        except UnsafePickleError as exc:
            raise UnsafePickleError(f"{self.db_path}: dead_letters id {dlq_id}: {exc}") from None
        if not isinstance(job, dict):
            raise UnsafePickleError(
                f"{self.db_path}: dead_letters id {dlq_id}: job_data decodes to "
                f"{type(job).__name__}, expected a dict"
            )
        return job

    def get_count(self) -> int:
        """Number of entries."""
        with self._connect() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0])

    def delete_older_than(self, days: int = 30, *, now: datetime | None = None) -> int:
        """Delete entries that failed more than *days* days before *now*; return how many.

        Parameters
        ----------
        days : int, default 30
            Retention period.
        now : datetime, optional
            Timezone-aware reference time (default: the current time).
        """
        if days < 0:
            raise ParameterError(f"days must be >= 0, found {days}")
        ref = datetime.now(UTC) if now is None else now
        cutoff = format_failed_at(ref - timedelta(days=days))
        with self._connect() as conn:
            cur = conn.execute("DELETE FROM dead_letters WHERE failed_at < ?", (cutoff,))
            return int(cur.rowcount)

    def get_error_summary(self) -> dict[str, int]:
        """Count of entries grouped by error type, e.g. ``{"PlexNotFound": 3}``."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT error_type, COUNT(*) FROM dead_letters GROUP BY error_type"
            ).fetchall()
        return {row[0]: int(row[1]) for row in rows}
