"""``read_dlq``: dead-letter-queue databases (read-only) and their CSV/JSON exports."""

from __future__ import annotations

import errno
import math
import os
import sqlite3
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from ... import schemas
from ..._checks import check_choice
from ..._text import clean_path, clean_text, number_text
from ..._time import WINDOW, plausible
from ...exceptions import DLQError, SQLiteStateError, UnsafePickleError
from ...recording.safepickle import safe_loads
from .. import _sqlite as sqlitestate
from .._files import expand_paths, read_bytes
from .._issues import Issues
from .._records import loads
from ..syncdata import SyncData
from . import _adbc

__all__ = ["read_dlq", "is_sqlite", "has_dead_letters", "connect_readonly", "DLQ_COLUMNS"]

#: Values of ``engine=``: the per-row reader below is the reference; ``adbc`` reads clean
#: databases through ADBC and Arrow (:mod:`._adbc`); ``auto`` uses it for databases of
#: :data:`._adbc.MIN_FILE_BYTES` or more.
ENGINES = ("auto", "reference", "adbc")

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
_TEXT_COLUMNS = ("error_type", "error_message", "stack_trace")
#: The job dict's fields (docs/formats.md §4; worker/processor.py) and their columns'
#: dtypes, from :data:`schemas.DLQ_JOB`: always columns, in this order.
_JOB_FIELDS = {c.removeprefix("job."): spec for c, spec in schemas.DLQ_JOB.columns.items()
               if c != schemas.JOB_EXTRA}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
#: Names read as JSON (array or JSON Lines) exports; other non-SQLite files are refused.
_JSON_EXPORTS = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")
_JSON_LINES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")


def is_sqlite(path: Path) -> bool:
    """True when *path* is a regular file starting with the SQLite 3 header.

    Opened non-blocking and checked to be a regular file first: a FIFO planted in a data
    directory must not hang the reader.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode) and os.read(fd, 16) == _SQLITE_MAGIC
    except OSError:
        return False
    finally:
        os.close(fd)


#: Largest string, BLOB or row SQLite hands over (``SQLITE_LIMIT_LENGTH``): a backstop
#: against crafted databases whose schema makes a few bytes read back as gigabytes.
MAX_VALUE_BYTES = 1 << 26
#: Seconds a reader waits for a writer's lock (SQLite's busy timeout).
_TIMEOUT = 10.0
_SIDECAR_SUFFIXES = ("-wal", "-shm", "-journal")


def _uri(path: Path, params: str) -> str:
    return sqlitestate.uri(path, params)


def connect_readonly(path: Path, *, timeout: float = 10.0) -> tuple[sqlite3.Connection, bool]:
    """Open *path*'s committed state in place, read-only; never writes beside it.

    Kept for callers of earlier versions: the connection is to the original file
    (``mode=ro``, ``mode=ro&readonly_shm=1`` or ``immutable=1``, chosen as
    ``syncstats.io.sqlitestate.open_committed`` does); the second value is whether
    ``immutable=1`` was used. A state that can only be read from a recovered private copy
    (a hot journal, a WAL without ``-shm``) raises
    :class:`~syncstats.exceptions.SQLiteStateError`: use ``open_committed`` for those.
    """
    with sqlitestate.open_committed(path, timeout=timeout,
                                    max_value_bytes=MAX_VALUE_BYTES) as (_conn, how):
        if how.how == "recovered_copy":
            raise SQLiteStateError(path, f"{how.reason}: readable only from a recovered "
                                         "copy; use syncstats.io.sqlitestate.open_committed")
    conn = sqlite3.connect(how.uri, uri=True, timeout=timeout)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    return conn, how.how == "immutable"


def _permission_denied(path: Path) -> OSError | None:
    """The error opening *path* for reading when it is a permission error, else None."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        return exc if exc.errno in (errno.EACCES, errno.EPERM) else None
    os.close(fd)
    return None


def has_dead_letters(path: Path) -> bool:
    """True when *path* is an SQLite database with a ``dead_letters`` table.

    Also True when it cannot be told: a writer keeps it locked past the timeout, the
    file (not a ``-wal``/``-shm``/``-journal`` sidecar) or its journal or WAL cannot be
    opened for reading (permission denied), or recovering its committed state needs a
    copy beyond the limit. A DLQ must not be skipped silently: reading it then reports
    it as ``unreadable``, naming the file and the error.
    """
    if not is_sqlite(path):
        return (not path.name.endswith(_SIDECAR_SUFFIXES)
                and _permission_denied(path) is not None)

    def query(conn: sqlite3.Connection, how: sqlitestate.Committed) -> bool:
        row = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='dead_letters'"
        ).fetchone()
        return row is not None

    try:
        return sqlitestate.read_committed(path, query, timeout=2.0,
                                          max_value_bytes=MAX_VALUE_BYTES)[0]
    except SQLiteStateError:
        return True
    except sqlite3.OperationalError as exc:
        return "locked" in str(exc) or "busy" in str(exc)
    except (sqlite3.Error, UnicodeDecodeError):  # a corrupt schema's non-UTF-8 error text
        return False


def read_dlq(
    path: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    source: str | None = None,
    decode_jobs: bool = False,
    on_error: str = "report",
    engine: str = "auto",
) -> SyncData:
    """Read dead-letter entries from ``dlq.db`` files or CSV/JSON exports.

    Databases are read in their committed state without writing beside them
    (``syncstats.io.sqlitestate.open_committed``): read-only in place, so reading
    works while the worker writes and takes no write lock, or, when only recovery could
    give the committed state (a hot journal, a WAL without ``-shm``), from a private
    recovered copy, with a ``recovered_copy`` issue giving the bytes copied. ``job_data`` is
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
        Decode ``job_data`` and add the job's fields as ``job.<field>`` columns, typed
        as :data:`syncstats.schemas.DLQ_JOB` (nullable ``Int64`` ids and counts,
        ``job.enqueued_at``/``job.next_retry_at`` as UTC times, text as ``str``), the
        job's other keys in ``job.extra`` (a dict) of which up to
        :data:`~syncstats.schemas.MAX_JOB_COLUMNS` str keys become ``job.<key>``
        columns. An undecodable or refused blob (see
        :func:`~syncstats.recording.safepickle.safe_loads`) leaves the row's job
        columns empty and is an ``undecodable_job`` issue (line = the row's id); a
        field of the wrong type is ``bad_value``, an integer beyond int64
        ``overflow``, a time outside the window
        ``syncstats._time.WINDOW`` ``bad_time``: missing, and an issue.
    on_error : {'report', 'raise'}
        As for :func:`read_snapshots`; raises :class:`~syncstats.exceptions.DLQError`.
    engine : {'auto', 'reference', 'adbc'}
        How SQLite databases are read: ``'reference'`` row by row through :mod:`sqlite3`;
        ``'adbc'`` through ADBC's SQLite driver into Arrow, for every database;
        ``'auto'`` (default) through ADBC for databases of 1 MB
        (``_adbc.MIN_FILE_BYTES``) or more, the reference below. When ADBC declines a
        database (see Notes) the reference reads it and an ``engine_fallback`` issue
        (a caveat, never raised) gives the reason. Where ADBC does not apply, no issue:
        a smaller database under ``'auto'``, *decode_jobs* (``job_data`` is decoded row
        by row), CSV/JSON exports, and a virtual ``dead_letters`` table.

    Returns
    -------
    SyncData
        ``dlq`` filled (schema :data:`syncstats.schemas.DLQ`) and ``issues``.

    Notes
    -----
    The ADBC engine (``syncstats/io/dlq/_adbc.py``) declines anything it cannot
    reproduce exactly (a value of an unexpected type, text that is not UTF-8, a time in
    another form, an empty table, a driver error, ...): the row-by-row reader reads the
    database instead, so the frame is the same either way.

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
    check_engine(engine)
    issues = Issues(on_error, DLQError)
    problems: list[tuple[str, str, str]] = []
    files = expand_paths(path, patterns=("*",), what="DLQ", problems=problems)
    given_dir = isinstance(path, str | os.PathLike) and Path(path).is_dir()
    if given_dir:
        files = [f for f in files if f.suffix.lower() == ".csv" or has_dead_letters(f)]
    default = source or (Path(path).name if given_dir else None)
    for where, kind, detail in problems:  # nothing in the tree skipped silently
        issues.add(default, where, None, kind, detail)
    dlq = read_dlq_files(files, issues, source=default, decode_jobs=decode_jobs, engine=engine)
    return SyncData(dlq=dlq, issues=issues.frame())


def check_engine(engine: Any) -> None:
    """Refuse an ``engine=`` value not in :data:`ENGINES` (one-line ParameterError)."""
    check_choice(engine, "engine", ENGINES)


def read_dlq_files(
    files: list[Path], issues: Issues, *, source: str | None, decode_jobs: bool = False,
    engine: str = "auto",
) -> pd.DataFrame:
    """Read DLQ databases/exports into one ``dlq`` frame; issues into *issues*.

    *engine* as for :func:`read_dlq`."""
    check_engine(engine)
    default = source
    parts: list[pd.DataFrame] = []
    for f in tqdm(files, desc="dlq", unit="file", delay=1.0, disable=None, leave=False):
        src = default or f.parent.name or "default"
        if is_sqlite(f):
            raw = _read_sqlite(f, src, decode_jobs, issues, engine)
        elif f.suffix.lower() == ".csv":
            raw = _read_csv(f, src, issues)
        elif f.name.lower().endswith(_JSON_EXPORTS):
            raw = _read_json_export(f, src, issues)
        else:
            _not_a_dlq(f, src, issues)
            continue
        if raw is None:
            continue
        # a DataFrame: the fast path built the rows already (see _read_sqlite)
        parts.append(raw if isinstance(raw, pd.DataFrame)
                     else _normalise(raw, src, f, decode_jobs, issues))
    if not parts:
        frame = schemas.empty(schemas.DLQ)
        if not decode_jobs:
            return frame
        return _with_job_columns(frame, [], "", Path(), np.zeros(0, dtype="int64"), issues)
    frame = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    if decode_jobs:  # over all files at once: a key is a column everywhere or nowhere
        frame = _promote_job_fields(frame)
    if len(parts) == 1:
        # one file, one source: a frame already in failed_at order (a DLQ appends in
        # time order) is what the schema's stable sort would return; skip computing it
        return schemas.conform(frame, schemas.DLQ, sort=not _in_time_order(frame))
    return schemas.conform(frame, schemas.DLQ)


def _in_time_order(frame: pd.DataFrame) -> bool:
    """True when ``failed_at`` never decreases down *frame* and NaT come last only."""
    times = frame["failed_at"].array
    nat = np.asarray(times.isna())
    known = len(nat) - int(nat.sum())
    if nat[:known].any():
        return False
    ticks = times.asi8[:known]
    return bool((ticks[1:] >= ticks[:-1]).all())


def _not_a_dlq(f: Path, src: str, issues: Issues) -> None:
    """One issue for a file that is neither an SQLite database nor a named export."""
    denied = _permission_denied(f)
    if denied is not None:  # is_sqlite could not look at its header
        issues.add(src, f, None, "unreadable",
                   f"cannot be opened for reading: {sqlitestate.describe_os_error(denied)}")
        return
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


def _fast_candidate(f: Path, decode_jobs: bool, engine: str) -> bool:
    """Whether to try :mod:`._adbc` on *f* (it may still decline)."""
    if engine == "reference" or decode_jobs:  # job_data is decoded row by row anyway
        return False
    if engine == "adbc":
        return True
    try:
        big = os.stat(f).st_size >= _adbc.MIN_FILE_BYTES
    except OSError:
        return False
    return big  # adbc-driver-sqlite is a dependency (pyproject.toml), not an option


def _read_sqlite(
    f: Path, src: str, decode_jobs: bool, issues: Issues, engine: str = "auto"
) -> dict[str, Any] | pd.DataFrame | None:
    """The rows of *f*'s ``dead_letters``: raw columns for :func:`_normalise`, or the
    finished frame when the fast path read them; None when nothing can be loaded."""
    wanted = list(DLQ_COLUMNS) + (["job_data"] if decode_jobs else [])
    notes: list[tuple[str, str]] = []  # issues of the read that is kept
    declined: list[str] = []  # why the ADBC engine declined, reported even if unreadable
    fast = _fast_candidate(f, decode_jobs, engine)

    def query(conn: sqlite3.Connection, how: sqlitestate.Committed) -> Any:
        notes.clear()
        tables = {r[0]: r[1] for r in conn.execute(
            "SELECT name, rootpage FROM sqlite_master WHERE type='table'")}
        if "dead_letters" not in tables:
            notes.append(("no_table", "SQLite database without a dead_letters table"))
            return None
        info = conn.execute("PRAGMA table_xinfo(dead_letters)").fetchall()
        # hidden == 2: a VIRTUAL generated column, computed on every read from an
        # expression in the file's schema (which can turn bytes into gigabytes): not read.
        computed = [r[1] for r in info if r[6] == 2 and r[1] in wanted]
        present = [r[1] for r in info if r[6] in (0, 3)]
        missing = [c for c in wanted if c not in present]
        if "id" in missing:
            notes.append(("schema", "dead_letters has no id column; not loaded"))
            return None
        if computed:
            notes.append(("schema", f"dead_letters column(s) {computed} are computed by the "
                                    "database's schema, not stored; not read"))
        absent = [c for c in missing if c not in computed]
        if absent:
            notes.append(("schema",
                          f"dead_letters lacks column(s) {absent}; loaded as missing values"))
        cols = [c for c in wanted if c in present]
        if fast and isinstance(tables["dead_letters"], int) and tables["dead_letters"] > 0:
            # an ordinary table (a virtual one has no b-tree: rootpage 0; its values come
            # from a module, which the two SQLite builds need not share)
            # the same state the reference reads: the original, or the recovered copy
            frame = _adbc.read_dead_letters(
                how.uri, cols, missing, timeout=_TIMEOUT,
                max_value_bytes=MAX_VALUE_BYTES, source=clean_text(src), origin=clean_path(f),
            )
            if isinstance(frame, pd.DataFrame):
                declined.clear()
                return frame
            declined[:] = [frame]  # the last attempt's reason (a retry may run again)
        sql = f"SELECT {', '.join(cols)} FROM dead_letters ORDER BY id"
        text_cols = [c for c in _TEXT_COLUMNS if c in cols]
        # one read transaction: the BLOB census and the rows see the same snapshot
        conn.execute("BEGIN")
        try:
            blobs: set[str] = set()
            if text_cols:
                census = conn.execute(
                    "SELECT " + ", ".join(f"SUM(typeof({c}) = 'blob')" for c in text_cols)
                    + " FROM dead_letters"
                ).fetchone()
                blobs = {c for c, k in zip(text_cols, census, strict=True) if k}
            try:
                rows = conn.execute(sql).fetchall()
            except sqlite3.OperationalError as exc:
                if "decode" not in str(exc).lower():
                    raise
                conn.text_factory = lambda b: b.decode("utf-8", "replace")
                rows = conn.execute(sql).fetchall()
                notes.append(("bad_value",
                              "some text is not valid UTF-8; undecodable bytes shown as U+FFFD"))
        finally:
            conn.rollback()
        return cols, missing, rows, blobs

    def fallback() -> None:
        for reason in declined:
            issues.add(src, f, None, "engine_fallback",
                       f"ADBC engine declined: {reason}; read by the reference engine")

    try:
        result, how = sqlitestate.read_committed(f, query, timeout=_TIMEOUT,
                                                 max_value_bytes=MAX_VALUE_BYTES)
    except SQLiteStateError as exc:
        fallback()
        # the detail names the file concerned when it is the journal or WAL
        detail = exc.detail if exc.path == str(f) else f"{exc.path}: {exc.detail}"
        issues.add(src, f, None, "unreadable", detail)
        return None
    except (sqlite3.Error, UnicodeDecodeError) as exc:  # corrupt: error text not UTF-8
        fallback()
        issues.add(src, f, None, "unreadable", f"cannot be read (opened read-only): {exc}")
        return None
    fallback()
    if how.caveat is not None:
        issues.add(src, f, None, "recovered_copy", how.caveat)
    for kind, detail in notes:
        issues.add(src, f, None, kind, detail)
    if result is None or isinstance(result, pd.DataFrame):
        return result
    cols, missing, rows, blobs = result
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in cols]
    raw: dict[str, Any] = {c: list(v) for c, v in zip(cols, columns, strict=True)}
    for c in missing:
        raw[c] = [None] * len(rows)
    raw["_blob_columns"] = blobs
    return raw


def _read_csv(f: Path, src: str, issues: Issues) -> dict[str, Any] | None:
    try:
        frame = pd.read_csv(f, dtype="object", keep_default_na=False, na_values=[""])
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        issues.add(src, f, None, "unreadable", f"not a readable CSV export: {exc}")
        return None
    columns = {str(c): frame[c].tolist() for c in frame.columns}
    return _records_to_raw(columns, len(frame), f, src, issues, line_offset=2)


def _read_json_export(f: Path, src: str, issues: Issues) -> dict[str, Any] | None:
    try:
        text = read_bytes(f)
    except OSError as exc:
        issues.add(src, f, None, "unreadable", f"cannot be read: {exc}")
        return None
    if not text.strip():
        issues.add(src, f, None, "empty", "export is empty; no entries")
        return None
    records: list[Any] | None
    if f.name.lower().endswith(_JSON_LINES):  # one entry a line, even a single one
        records = _json_lines(text, f, src, issues)
    else:
        try:
            data = loads(text)
            records = data if isinstance(data, list) else None
        except (ValueError, RecursionError):
            records = _json_lines(text, f, src, issues)
    if records is None:
        issues.add(src, f, None, "not_object", "expected a JSON array of DLQ entries")
        return None
    good = [r for r in records if isinstance(r, dict)]
    if len(good) != len(records):
        issues.add(src, f, None, "bad_row", f"{len(records) - len(good)} entries are not objects")
    # columns straight from the records: a DataFrame would choke on text pyarrow refuses
    keys = {k for r in good for k in r}
    columns = {c: [r.get(c) for r in good] for c in DLQ_COLUMNS if c in keys}
    return _records_to_raw(columns, len(good), f, src, issues, line_offset=1)


def _json_lines(text: bytes, f: Path, src: str, issues: Issues) -> list[Any]:
    records = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(loads(line))
        except (ValueError, RecursionError) as exc:
            issues.add(src, f, lineno, "torn_line", f"not valid JSON: {exc}")
    return records


def _records_to_raw(
    columns: dict[str, list[Any]], n: int, f: Path, src: str, issues: Issues, *,
    line_offset: int
) -> dict[str, Any] | None:
    if not n and not columns:
        return {c: [] for c in DLQ_COLUMNS}  # an export without entries: nothing is missing
    missing = [c for c in DLQ_COLUMNS if c not in columns]
    if "id" in missing and n:
        issues.add(src, f, None, "schema", "export has no id column; ids are the row numbers")
        columns = {**columns, "id": list(range(line_offset, line_offset + n))}
        missing.remove("id")
    if missing:
        issues.add(src, f, None, "schema",
                   f"export lacks column(s) {missing}; loaded as missing values")
    return {c: (columns[c] if c in columns else [None] * n) for c in DLQ_COLUMNS}


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def _as_int(value: Any) -> int | None:
    """*value* as a whole number of any size, or None when it is not one: never made up
    from 4.5, inf, ``True``, a BLOB or text other than a number."""
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    if isinstance(value, str):
        text = value.strip()
        digits = text.removeprefix("-").removeprefix("+")
        if len(digits) > 20 and digits.isdigit():  # no int() of 5,000 digits (ValueError)
            return _INT64_MAX + 1 if text[0] != "-" else _INT64_MIN - 1
        try:
            value = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                return None
    if isinstance(value, np.integer):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return None
        value = int(value)
    return value


def _as_int64(value: Any) -> int | None:
    """*value* as an integer within int64, or None when it is not one: never made up
    from 4.5, 1e400, an integer beyond 64 bits, ``True``, a BLOB or other text."""
    number = _as_int(value)
    return number if number is not None and _INT64_MIN <= number <= _INT64_MAX else None


def _show(value: Any, width: int = 60) -> str:
    """``repr`` of *value*, at most *width* characters; a wide integer in short form
    (``repr`` of one beyond 4,300 digits raises)."""
    if type(value) is int and value.bit_length() > 64:
        return number_text(value)
    return f"{value!r:.{width}}"


def _int_column(
    values: list[Any], name: str, src: str, f: Path, ids: np.ndarray, issues: Issues,
    *, text: bool = True,
) -> pd.array:
    """*values* as ``Int64``; a value that is no integer or is beyond int64 is missing
    and an issue (``bad_value`` or ``overflow``). *text*: numbers given as text (SQLite
    stores any type anywhere) count; a job field must be an int or a whole float."""
    kinds = set(map(type, values))
    # pd.array takes True as 1 (a JSON export's true) and "5" as 5 (text is taken only
    # when *text*): those go value by value
    if (text and bool not in kinds) or kinds <= {int, float, type(None)}:
        try:
            with np.errstate(invalid="ignore"):  # 1e300 warns, then raises: handled below
                return pd.array(values, dtype="Int64")
        except (TypeError, ValueError, OverflowError):
            pass
    out: list[int | None] = []
    for i, value in enumerate(values):
        if _is_missing(value):
            out.append(None)
            continue
        number = _as_int(value) if text or type(value) in (int, float) else None
        if number is not None and _INT64_MIN <= number <= _INT64_MAX:
            out.append(number)
            continue
        if number is None:
            issues.add(src, f, int(ids[i]), "bad_value",
                       f"{name}={_show(value)} is not an integer; loaded as missing")
        else:
            issues.add(src, f, int(ids[i]), "overflow",
                       f"{name}={_show(value)} is beyond int64; loaded as missing")
        out.append(None)
    return pd.array(out, dtype="Int64")


def _normalise(
    raw: dict[str, Any], src: str, f: Path, decode_jobs: bool, issues: Issues
) -> pd.DataFrame:
    src, origin = clean_text(src), clean_path(f)
    # Whole numbers within int64 only: 4.5, 1e400 or True are not ids (casting them would
    # silently make up an id).
    as_ids = [_as_int64(v) for v in raw["id"]]
    bad_id = np.array([v is None for v in as_ids], dtype=bool)
    if bad_id.any():
        for i in np.flatnonzero(bad_id):
            issues.add(src, f, None, "bad_row", f"row {i + 1}: id {raw['id'][i]!r:.40} is not "
                       "an integer; row not loaded")
        raw = {k: [v for v, b in zip(vals, bad_id, strict=True) if not b]
               if isinstance(vals, list) else vals  # not the "_blob_columns" set
               for k, vals in raw.items()}
        as_ids = [v for v in as_ids if v is not None]
    n = len(as_ids)
    ids = np.array(as_ids, dtype="int64")
    failed_text = pd.Series(raw["failed_at"], dtype="object")
    # as text; a BLOB (SQLite stores any type anywhere) need not be UTF-8
    as_text = failed_text.map(
        lambda v: v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
    )
    failed = pd.to_datetime(as_text.astype("str"), format="ISO8601", utc=True,
                            errors="coerce").where(failed_text.notna())
    failed = failed.where(plausible(failed))  # year 1, 1970, 2263: the readers' one window
    bad_time = failed_text.notna() & failed.isna()
    for i in np.flatnonzero(bad_time.to_numpy()):
        issues.add(src, f, int(ids[i]), "bad_time",
                   f"failed_at {raw['failed_at'][i]!r:.40} is not a time within "
                   f"{WINDOW}; loaded as NaT")
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
            "origin": [origin] * n,
        }
    )
    blob_columns = raw.get("_blob_columns")  # None: an export, values may be anything
    for col in _TEXT_COLUMNS:
        s = frame[col]
        if blob_columns is not None and col not in blob_columns:
            try:  # the common case, vectorised: text only (no BLOB, no lone surrogate)
                frame[col] = s.astype("str")
                continue
            except UnicodeEncodeError:
                pass
        is_bytes = s.map(type).eq(bytes) if n else s.astype(bool)
        if is_bytes.any():
            s = s.where(~is_bytes, s[is_bytes].map(lambda b: b.decode("utf-8", "replace")))
            issues.add(src, f, None, "bad_value",
                       f"{int(is_bytes.sum())} {col} value(s) stored as BLOB; decoded as UTF-8")
        is_str = s.map(type).eq(str) if n else s.astype(bool)
        if is_str.any():  # lone surrogates (JSON "\ud800" escapes) as visible escapes
            s = s.where(~is_str, s[is_str].map(clean_text))
        frame[col] = s
    if decode_jobs:
        frame = _decode_jobs(frame, raw.get("job_data", [None] * n), src, f, ids, issues)
    return frame


def _decode_jobs(
    frame: pd.DataFrame, blobs: list[Any], src: str, f: Path, ids: np.ndarray, issues: Issues
) -> pd.DataFrame:
    """*frame* with the ``job.*`` columns of :data:`schemas.DLQ_JOB` decoded from
    *blobs*; undecodable blobs and values of the wrong type are issues."""
    jobs: list[dict[Any, Any]] = []
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
    return _with_job_columns(frame, jobs, src, f, ids, issues)


def _with_job_columns(
    frame: pd.DataFrame, jobs: list[dict[Any, Any]], src: str, f: Path, ids: np.ndarray,
    issues: Issues,
) -> pd.DataFrame:
    """*frame* with one column per known job field (typed as :data:`schemas.DLQ_JOB`)
    and ``job.extra``: a dict of a job's other keys (None when it has none)."""
    columns: dict[str, Any] = {}
    for field, spec in _JOB_FIELDS.items():
        values = [job.get(field) for job in jobs]  # one lookup per row and known field
        name = f"job.{field}"
        if spec == "Int64":
            columns[name] = _int_column(values, name, src, f, ids, issues, text=False)
        elif spec == "datetime":
            columns[name] = _epoch_column(values, name, src, f, ids, issues)
        elif spec == "str":
            columns[name] = _text_column(values, name, src, f, ids, issues)
        else:  # a Series: pandas 3 makes a plain object array of text a str column
            columns[name] = pd.Series(values, dtype=object, index=frame.index)
    extra: list[dict[Any, Any] | None] = [None] * len(jobs)
    for i, job in enumerate(jobs):
        if len(job) > sum(field in job for field in _JOB_FIELDS):
            rest = dict(job)  # a copy in C, then one pop per known field
            for field in _JOB_FIELDS:
                rest.pop(field, None)
            extra[i] = rest
    columns[schemas.JOB_EXTRA] = pd.Series(extra, dtype=object, index=frame.index)
    return pd.concat([frame, pd.DataFrame(columns, index=frame.index)], axis=1)


def _epoch_column(
    values: list[Any], name: str, src: str, f: Path, ids: np.ndarray, issues: Issues
) -> pd.arrays.DatetimeArray:
    """Epoch seconds as UTC times; other types and times outside the window of
    ``syncstats._time.plausible`` are NaT and a ``bad_time`` issue."""
    n = len(values)
    present = np.fromiter((not _is_missing(v) for v in values), dtype=bool, count=n)
    number = np.fromiter((type(v) in (int, float) for v in values), dtype=bool, count=n)
    secs = np.full(n, np.nan)
    if number.any():  # ints are at most 256 bits (safe_loads): all within the float range
        secs[number] = [float(v) for v, ok in zip(values, number, strict=True) if ok]
    # a guard for the conversion only (1e12 s in microseconds fits int64); the window
    # that decides is syncstats._time.plausible's
    ok = np.isfinite(secs) & (np.abs(secs) < 1e12)
    micros = np.where(ok, np.rint(np.where(ok, secs, 0.0) * 1e6), 0).astype("int64")
    times = pd.Series(pd.to_datetime(micros, unit="us", utc=True)).where(ok)
    times = times.where(plausible(times)).astype(schemas.UTC_DTYPE)
    bad = present & times.isna().to_numpy()
    for i in np.flatnonzero(bad):
        issues.add(src, f, int(ids[i]), "bad_time",
                   f"{name}={_show(values[i])} is not epoch seconds within "
                   f"{WINDOW}; loaded as NaT")
    return times.array


def _text_column(
    values: list[Any], name: str, src: str, f: Path, ids: np.ndarray, issues: Issues
) -> pd.array:
    """Text as the package's ``str`` dtype; other types are missing and ``bad_value``."""
    for i, value in enumerate(values):
        if not (value is None or type(value) is str):
            issues.add(src, f, int(ids[i]), "bad_value",
                       f"{name}={_show(value)} is not text; loaded as missing")
            values[i] = None
    try:
        return pd.array(values, dtype="str")
    except UnicodeEncodeError:  # lone surrogates: pyarrow refuses them; shown as escapes
        return pd.array([None if v is None else clean_text(v) for v in values], dtype="str")


def _promotable(key: Any) -> bool:
    """Whether an unknown job key may become a ``job.<key>`` column: short printable
    text (an int key 1 and a str key "1" would both be named ``job.1``)."""
    return (type(key) is str and 0 < len(key) <= 64 and key.isprintable()
            and key != schemas.JOB_EXTRA.removeprefix("job."))


def _promote_job_fields(frame: pd.DataFrame) -> pd.DataFrame:
    """Move the first :data:`schemas.MAX_JOB_COLUMNS` unknown str keys (in row order)
    out of ``job.extra`` into ``job.<key>`` columns (object dtype).

    Hostile rows of 60,000 keys thus add 16 columns, not 60,000; the scan for keys stops
    once the cap is reached, and each row is then only intersected with the chosen keys.
    """
    extras = frame[schemas.JOB_EXTRA].tolist()
    chosen: dict[str, None] = {}
    for rest in extras:
        if len(chosen) >= schemas.MAX_JOB_COLUMNS:
            break
        if rest is None:
            continue
        for key in rest:
            if key not in chosen and _promotable(key):
                chosen[key] = None
                if len(chosen) >= schemas.MAX_JOB_COLUMNS:
                    break
    if not chosen:
        return frame
    columns: dict[str, list[Any]] = {f"job.{key}": [None] * len(extras) for key in chosen}
    for i, rest in enumerate(extras):
        if rest is None or not rest.keys() & chosen.keys():
            continue
        rest = dict(rest)
        for key in chosen:
            if key in rest:
                columns[f"job.{key}"][i] = rest.pop(key)
        extras[i] = rest or None
    out = frame.copy(deep=False)
    out[schemas.JOB_EXTRA] = pd.Series(extras, dtype=object, index=frame.index)
    added = pd.DataFrame({c: pd.Series(v, dtype=object, index=frame.index)
                          for c, v in columns.items()})
    return pd.concat([out, added], axis=1)
