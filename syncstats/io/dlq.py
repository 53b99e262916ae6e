"""``read_dlq``: dead-letter-queue databases (read-only) and their CSV/JSON exports."""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from .. import schemas
from ..exceptions import DLQError, UnsafePickleError
from ..recording.safepickle import safe_loads
from ._common import Issues, expand_paths, loads, read_bytes
from .syncdata import SyncData

__all__ = ["read_dlq", "is_sqlite", "has_dead_letters", "connect_readonly", "DLQ_COLUMNS"]

#: Columns of ``dead_letters`` loaded by default (``job_data`` only with ``decode_jobs``).
DLQ_COLUMNS = (
    "id",
    "job_id",
    "scene_id",
    "error_type",
    "error_message",
    "stack_trace",
    "retry_count",
    "failed_at",
)
_SQLITE_MAGIC = b"SQLite format 3\x00"
_EPOCH_JOB_FIELDS = ("enqueued_at", "next_retry_at")
#: Names read as JSON (array or JSON Lines) exports; other non-SQLite files are refused.
_JSON_EXPORTS = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")


def is_sqlite(path: Path) -> bool:
    """True when *path* starts with the SQLite 3 header."""
    try:
        with open(path, "rb") as fh:
            return fh.read(16) == _SQLITE_MAGIC
    except OSError:
        return False


def connect_readonly(path: Path, *, timeout: float = 10.0) -> tuple[sqlite3.Connection, bool]:
    """Open *path* read-only (``mode=ro``); never takes a write lock.

    Falls back to ``immutable=1`` when ``mode=ro`` cannot open it (a read-only
    directory holding a WAL database without its ``-shm`` file). Returns the connection
    and whether the fallback was taken.
    """
    quoted = urllib.parse.quote(str(path.resolve()))
    try:
        conn = sqlite3.connect(f"file:{quoted}?mode=ro", uri=True, timeout=timeout)
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        return conn, False
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise
        conn = sqlite3.connect(f"file:{quoted}?immutable=1", uri=True, timeout=timeout)
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        return conn, True


def has_dead_letters(path: Path) -> bool:
    """True when *path* is an SQLite database with a ``dead_letters`` table."""
    if not is_sqlite(path):
        return False
    try:
        conn, _ = connect_readonly(path, timeout=2.0)
    except sqlite3.Error:
        return False
    try:
        row = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='dead_letters'"
        ).fetchone()
        return row is not None
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def read_dlq(
    path: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    source: str | None = None,
    decode_jobs: bool = False,
    on_error: str = "report",
) -> SyncData:
    """Read dead-letter entries from ``dlq.db`` files or CSV/JSON exports.

    Databases are opened read-only (SQLite URI ``mode=ro``), so reading works while the
    worker writes and never modifies the file or takes a write lock. ``job_data`` is
    not read unless *decode_jobs*; it is never unpickled: the restricted decoder admits
    only builtin containers and scalars.

    Parameters
    ----------
    path : str, path or list of them
        A database, a ``.csv``/``.json``/``.jsonl`` export, a directory (every SQLite
        file holding ``dead_letters`` and every ``.csv``, recursively) or a glob.
    source : str, optional
        Source name; default: the directory given, or the file's parent directory.
    decode_jobs : bool, default False
        Decode ``job_data`` and add the job's fields as ``job.<field>`` columns
        (``job.enqueued_at``/``job.next_retry_at`` as UTC times). An undecodable or
        refused blob leaves the row's job columns empty and is an ``undecodable_job``
        issue (line = the row's id).
    on_error : {'report', 'raise'}
        As for :func:`read_snapshots`; raises :class:`~syncstats.exceptions.DLQError`.

    Returns
    -------
    SyncData
        ``dlq`` filled (schema :data:`syncstats.schemas.DLQ`) and ``issues``.

    Examples
    --------
    >>> import tempfile
    >>> from syncstats import DeadLetterQueue
    >>> d = tempfile.mkdtemp()
    >>> _ = DeadLetterQueue(d).add({"job_id": 7, "scene_id": 1900}, KeyError("x"), 3)
    >>> read_dlq(d + "/dlq.db", source="w").dlq[["source", "job_id", "error_type"]]
      source  job_id error_type
    0      w       7   KeyError
    """
    issues = Issues(on_error, DLQError)
    files = expand_paths(path, patterns=("*",), what="DLQ")
    given_dir = isinstance(path, str | os.PathLike) and Path(path).is_dir()
    if given_dir:
        files = [f for f in files if f.suffix.lower() == ".csv" or has_dead_letters(f)]
    default = source or (Path(path).name if given_dir else None)
    dlq = read_dlq_files(files, issues, source=default, decode_jobs=decode_jobs)
    return SyncData(dlq=dlq, issues=issues.frame())


def read_dlq_files(
    files: list[Path], issues: Issues, *, source: str | None, decode_jobs: bool = False
) -> pd.DataFrame:
    """Read DLQ databases/exports into one ``dlq`` frame; issues into *issues*."""
    default = source
    parts: list[pd.DataFrame] = []
    for f in tqdm(files, desc="dlq", unit="file", delay=1.0, disable=None, leave=False):
        src = default or f.parent.name or "default"
        if is_sqlite(f):
            raw = _read_sqlite(f, src, decode_jobs, issues)
        elif f.suffix.lower() == ".csv":
            raw = _read_csv(f, src, issues)
        elif f.name.lower().endswith(_JSON_EXPORTS):
            raw = _read_json_export(f, src, issues)
        else:
            _not_a_dlq(f, src, issues)
            continue
        if raw is None:
            continue
        parts.append(_normalise(raw, src, f, decode_jobs, issues))
    if not parts:
        return schemas.empty(schemas.DLQ)
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return schemas.conform(frame, schemas.DLQ)


def _not_a_dlq(f: Path, src: str, issues: Issues) -> None:
    """One issue for a file that is neither an SQLite database nor a named export."""
    try:
        size = f.stat().st_size
    except OSError as exc:
        issues.add(src, f, None, "unreadable", f"cannot be read: {exc.strerror or exc}")
        return
    if size == 0:
        issues.add(src, f, None, "empty", "file is empty; not an SQLite database")
        return
    issues.add(src, f, None, "unreadable",
               "not an SQLite database (no 'SQLite format 3' header) nor a "
               ".csv/.json/.jsonl export; not read")


def _read_sqlite(
    f: Path, src: str, decode_jobs: bool, issues: Issues
) -> dict[str, Any] | None:
    try:
        conn, immutable = connect_readonly(f)
    except sqlite3.Error as exc:
        issues.add(src, f, None, "unreadable", f"cannot be opened read-only: {exc}")
        return None
    try:
        if immutable:
            issues.add(src, f, None, "immutable_fallback",
                       "mode=ro could not open it; read as immutable (read-only copy?)")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "dead_letters" not in tables:
            issues.add(src, f, None, "no_table", "SQLite database without a dead_letters table")
            return None
        present = [r[1] for r in conn.execute("PRAGMA table_info(dead_letters)")]
        wanted = list(DLQ_COLUMNS) + (["job_data"] if decode_jobs else [])
        missing = [c for c in wanted if c not in present]
        if "id" in missing:
            issues.add(src, f, None, "schema", "dead_letters has no id column; not loaded")
            return None
        if missing:
            issues.add(src, f, None, "schema",
                       f"dead_letters lacks column(s) {missing}; loaded as missing values")
        cols = [c for c in wanted if c in present]
        sql = f"SELECT {', '.join(cols)} FROM dead_letters ORDER BY id"
        try:
            rows = conn.execute(sql).fetchall()
        except sqlite3.OperationalError as exc:
            if "decode" not in str(exc).lower():
                raise
            conn.text_factory = lambda b: b.decode("utf-8", "replace")
            rows = conn.execute(sql).fetchall()
            issues.add(src, f, None, "bad_value",
                       "some text is not valid UTF-8; undecodable bytes shown as U+FFFD")
    except sqlite3.Error as exc:
        issues.add(src, f, None, "unreadable", f"cannot be read: {exc}")
        return None
    finally:
        conn.close()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in cols]
    raw: dict[str, Any] = {c: list(v) for c, v in zip(cols, columns, strict=True)}
    for c in missing:
        raw[c] = [None] * len(rows)
    return raw


def _read_csv(f: Path, src: str, issues: Issues) -> dict[str, Any] | None:
    try:
        frame = pd.read_csv(f, dtype="object", keep_default_na=False, na_values=[""])
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        issues.add(src, f, None, "unreadable", f"not a readable CSV export: {exc}")
        return None
    return _records_to_raw(frame, f, src, issues, line_offset=2)


def _read_json_export(f: Path, src: str, issues: Issues) -> dict[str, Any] | None:
    try:
        text = read_bytes(f)
    except OSError as exc:
        issues.add(src, f, None, "unreadable", f"cannot be read: {exc}")
        return None
    if not text.strip():
        issues.add(src, f, None, "empty", "export is empty; no entries")
        return None
    try:
        data = loads(text)
        records = data if isinstance(data, list) else None
    except ValueError:
        records = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(loads(line))
            except ValueError as exc:
                issues.add(src, f, lineno, "torn_line", f"not valid JSON: {exc}")
    if records is None:
        issues.add(src, f, None, "not_object", "expected a JSON array of DLQ entries")
        return None
    good = [r for r in records if isinstance(r, dict)]
    if len(good) != len(records):
        issues.add(src, f, None, "bad_row", f"{len(records) - len(good)} entries are not objects")
    return _records_to_raw(pd.DataFrame(good), f, src, issues, line_offset=1)


def _records_to_raw(
    frame: pd.DataFrame, f: Path, src: str, issues: Issues, *, line_offset: int
) -> dict[str, Any] | None:
    missing = [c for c in DLQ_COLUMNS if c not in frame.columns]
    if "id" in missing and len(frame):
        issues.add(src, f, None, "schema", "export has no id column; ids are the row numbers")
        frame = frame.assign(id=np.arange(line_offset, line_offset + len(frame)))
        missing.remove("id")
    if missing:
        issues.add(src, f, None, "schema",
                   f"export lacks column(s) {missing}; loaded as missing values")
    return {
        c: (frame[c].tolist() if c in frame.columns else [None] * len(frame))
        for c in DLQ_COLUMNS
    }


def _int_column(
    values: list[Any], name: str, src: str, f: Path, ids: np.ndarray, issues: Issues
) -> pd.array:
    try:
        return pd.array(values, dtype="Int64")
    except (TypeError, ValueError, OverflowError):
        pass
    obj = pd.Series(values, dtype="object")
    num = pd.to_numeric(obj, errors="coerce")
    whole = num.where(np.isfinite(num) & (num == np.floor(num)) & (num.abs() < 2**63))
    bad = obj.notna() & whole.isna()
    for i in np.flatnonzero(bad.to_numpy()):
        issues.add(src, f, int(ids[i]), "bad_value",
                   f"{name}={values[i]!r:.60} is not an integer; loaded as missing")
    return pd.array(whole.astype("Float64").round(), dtype="Int64")


def _normalise(
    raw: dict[str, Any], src: str, f: Path, decode_jobs: bool, issues: Issues
) -> pd.DataFrame:
    n = len(raw["id"])
    id_series = pd.to_numeric(pd.Series(raw["id"], dtype="object"), errors="coerce")
    bad_id = id_series.isna().to_numpy()
    if bad_id.any():
        for i in np.flatnonzero(bad_id):
            issues.add(src, f, None, "bad_row", f"row {i + 1}: id {raw['id'][i]!r:.40} is not "
                       "an integer; row not loaded")
        raw = {k: [v for v, b in zip(vals, bad_id, strict=True) if not b]
               for k, vals in raw.items()}
        id_series = id_series[~bad_id]
        n = len(id_series)
    ids = id_series.to_numpy(dtype="int64")
    failed_text = pd.Series(raw["failed_at"], dtype="object")
    failed = pd.to_datetime(failed_text.astype("str"), format="ISO8601", utc=True,
                            errors="coerce").where(failed_text.notna())
    bad_time = failed_text.notna() & failed.isna()
    for i in np.flatnonzero(bad_time.to_numpy()):
        issues.add(src, f, int(ids[i]), "bad_time",
                   f"failed_at {raw['failed_at'][i]!r:.40} is not a time; loaded as NaT")
    frame = pd.DataFrame(
        {
            "source": [src] * n,
            "id": ids,
            "job_id": _int_column(raw["job_id"], "job_id", src, f, ids, issues),
            "scene_id": _int_column(raw["scene_id"], "scene_id", src, f, ids, issues),
            "error_type": pd.Series(raw["error_type"], dtype="object"),
            "error_message": pd.Series(raw["error_message"], dtype="object"),
            "stack_trace": pd.Series(raw["stack_trace"], dtype="object"),
            "retry_count": _int_column(raw["retry_count"], "retry_count", src, f, ids, issues),
            "failed_at": failed.dt.tz_convert("UTC").dt.as_unit(schemas.TIME_UNIT),
            "origin": [str(f)] * n,
        }
    )
    for col in ("error_type", "error_message", "stack_trace"):
        s = frame[col]
        is_bytes = s.map(type).eq(bytes) if n else s.astype(bool)
        if is_bytes.any():
            frame[col] = s.where(~is_bytes, s[is_bytes].map(
                lambda b: b.decode("utf-8", "replace")))
            issues.add(src, f, None, "bad_value",
                       f"{int(is_bytes.sum())} {col} value(s) stored as BLOB; decoded as UTF-8")
    if decode_jobs:
        frame = _decode_jobs(frame, raw.get("job_data", [None] * n), src, f, ids, issues)
    return frame


def _decode_jobs(
    frame: pd.DataFrame, blobs: list[Any], src: str, f: Path, ids: np.ndarray, issues: Issues
) -> pd.DataFrame:
    jobs: list[dict[str, Any]] = []
    for i, blob in enumerate(blobs):
        try:
            job = safe_loads(blob)
        except UnsafePickleError as exc:
            issues.add(src, f, int(ids[i]), "undecodable_job", str(exc))
            jobs.append({})
            continue
        if not isinstance(job, dict):
            issues.add(src, f, int(ids[i]), "undecodable_job",
                       f"job_data decodes to {type(job).__name__}, expected a dict")
            jobs.append({})
            continue
        jobs.append(job)
    table = pd.DataFrame.from_records(jobs, index=frame.index) if jobs else pd.DataFrame()
    for key in table.columns:
        col = table[key]
        if key in _EPOCH_JOB_FIELDS:
            num = pd.to_numeric(col, errors="coerce")
            col = pd.to_datetime(num * 1e6, unit="us", utc=True, errors="coerce").dt.as_unit(
                schemas.TIME_UNIT
            )
        frame[f"job.{key}"] = col
    return frame
