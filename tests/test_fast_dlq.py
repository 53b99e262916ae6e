"""The ADBC/Arrow fast path of ``read_dlq`` gives exactly what the per-row reader (the
reference) gives: frames, dtypes, row order and issues, on the sample databases, on
hand-made databases with the defects of docs/formats.md §4 (SQLite stores any type in any
column), on generated and on byte-mutated databases. Where it cannot, it must decline,
and the tests check that it does (and that it does not decline clean data)."""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from helpers_reliability import scaled
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import syncstats
import syncstats.io.dlq.reader as dlq_module
from syncstats import read_dlq, schemas
from syncstats.io.dlq import _adbc as _fastdlq
from syncstats.recording.dlq import DLQ_INDEXES, DLQ_SCHEMA

DATA = Path(__file__).resolve().parents[1] / "data"
COLUMNS = ("id", "job_id", "scene_id", "job_data", "error_type", "error_message",
           "stack_trace", "retry_count", "failed_at")
INSERT = f"INSERT INTO dead_letters ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * 9)})"
#: The worker's columns without declared types: no affinity, every value kept as given.
UNTYPED = "CREATE TABLE dead_letters (id INTEGER PRIMARY KEY, " + ", ".join(COLUMNS[1:]) + ")"
TRACE = 'Traceback (most recent call last):\n  File "worker.py", line 7, in run\n'

FUZZ = settings(max_examples=scaled(20, 1000), deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@contextlib.contextmanager
def fast_path(min_bytes: int = 0, batch_rows: int | None = None) -> Iterator[list[bool]]:
    """Let ``engine="auto"`` try ADBC on files of *min_bytes* or more; yield what each
    attempt gave (True: a frame, False: declined). Patches tuning constants only."""
    calls: list[bool] = []
    real = _fastdlq.read_dead_letters

    def spy(*args: Any, **kwargs: Any) -> pd.DataFrame | str:
        frame = real(*args, **kwargs)
        calls.append(isinstance(frame, pd.DataFrame))
        return frame

    saved = (_fastdlq.MIN_FILE_BYTES, _fastdlq.BATCH_ROWS)
    _fastdlq.MIN_FILE_BYTES = min_bytes
    if batch_rows is not None:
        _fastdlq.BATCH_ROWS = batch_rows
    _fastdlq.read_dead_letters = spy
    try:
        yield calls
    finally:
        _fastdlq.read_dead_letters = real
        _fastdlq.MIN_FILE_BYTES, _fastdlq.BATCH_ROWS = saved


def outcome(path: Path | list[Path], **kw: Any) -> Any:
    """read_dlq's result, or the exception it raised (compared by type and message)."""
    try:
        return read_dlq(path, **kw)
    except Exception as exc:  # noqa: BLE001 - both engines must fail alike
        return exc


def without_fallbacks(issues: pd.DataFrame) -> pd.DataFrame:
    """*issues* without the ``engine_fallback`` caveats (the reference has none); kinds as
    str (the categories differ by the rows dropped)."""
    out = issues[issues["kind"].astype(str) != "engine_fallback"].reset_index(drop=True)
    return out.astype({c: str for c in out.columns
                       if isinstance(out[c].dtype, pd.CategoricalDtype)})


def compare(path: Path | list[Path], batch_rows: int | None = None, *,
            engine: str = "adbc", **kw: Any) -> list[bool]:
    """Read *path* with *engine* and with the reference; assert both give the same
    frames and issues (but the engine's ``engine_fallback`` caveats, one per decline).
    Returns the ADBC engine's attempts."""
    with fast_path(batch_rows=batch_rows) as calls:
        fast = outcome(path, engine=engine, **kw)
        attempts = list(calls)
    slow = outcome(path, engine="reference", **kw)
    if isinstance(slow, Exception) or isinstance(fast, Exception):
        assert repr(fast) == repr(slow)
        return attempts
    schemas.validate(fast.dlq, schemas.DLQ)
    pd.testing.assert_frame_equal(fast.dlq, slow.dlq)
    fallbacks = fast.issues[fast.issues["kind"].astype(str) == "engine_fallback"]
    assert len(fallbacks) == attempts.count(False), fast.issues
    assert fallbacks["line"].isna().all()
    pd.testing.assert_frame_equal(without_fallbacks(fast.issues), without_fallbacks(slow.issues))
    pd.testing.assert_frame_equal(fast.snapshots, slow.snapshots)
    pd.testing.assert_frame_equal(fast.errors, slow.errors)
    return attempts


def tried(engine: str, *attempts: bool) -> list[bool]:
    """The ADBC attempts expected of *engine*: none for the reference."""
    return list(attempts) if engine == "adbc" else []


def make_db(path: Path, rows: list[tuple[Any, ...]], *, create: str = DLQ_SCHEMA,
            pragmas: tuple[str, ...] = (), raw_sql: tuple[str, ...] = ()) -> Path:
    """A database with *rows* (values for :data:`COLUMNS`; id None = autoincrement)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")  # test files: no fsync
    for pragma in pragmas:
        conn.execute(pragma)
    conn.execute(create)
    if create == DLQ_SCHEMA:
        for stmt in DLQ_INDEXES:
            conn.execute(stmt)
    conn.executemany(INSERT, rows)
    for sql in raw_sql:
        conn.execute(sql)
    conn.commit()
    conn.close()
    return path


def row(i: int, **over: Any) -> tuple[Any, ...]:
    """A clean row as the worker writes it (ids 1, 2, ...; failed_at rising)."""
    etype = ("PlexNotFound", "PlexTemporaryError", "PermanentError")[i % 3]
    values = {
        "id": i, "job_id": 1000 + i, "scene_id": 1900 + i % 7,
        "job_data": pickle.dumps({"job_id": 1000 + i, "scene_id": 1900 + i % 7}),
        "error_type": etype,
        "error_message": f"Could not find Plex item for path: /media/videos/scene_{i}.mp4",
        "stack_trace": f"{TRACE}{etype}: scene {i}\n",
        "retry_count": i % 6,
        "failed_at": f"2026-10-{1 + i // 86400 % 28:02d} {i // 3600 % 24:02d}:"
                     f"{i // 60 % 60:02d}:{i % 60:02d}",
    }
    values.update(over)
    return tuple(values[c] for c in COLUMNS)


def clean_rows(n: int, start: int = 1) -> list[tuple[Any, ...]]:
    return [row(i) for i in range(start, start + n)]


# --------------------------------------------------------------------------------------
# Clean data takes the fast path and gives the reference's frames
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["worker-a", "worker-b"])
def test_sample_databases(source, dlq_engine):
    assert compare(DATA / source / "dlq.db", engine=dlq_engine) == tried(dlq_engine, True)


def test_sample_directory_with_both_sources(dlq_engine):
    files = [DATA / "worker-a" / "dlq.db", DATA / "worker-b" / "dlq.db"]
    assert compare(files, engine=dlq_engine) == tried(dlq_engine, True, True)


def test_directory_mixing_fast_declined_and_exported_files(tmp_path, dlq_engine):
    d = tmp_path / "w"
    make_db(d / "a.db", clean_rows(4))
    make_db(d / "b.db", [row(1), row(2, error_type=b"\xff")])  # declined
    (d / "export.csv").write_text(
        "id,job_id,scene_id,error_type,error_message,stack_trace,retry_count,failed_at\n"
        "7,70,700,TimeoutError,timed out,,1,2026-10-01 00:00:02\n"
    )
    assert sorted(compare(d, engine=dlq_engine)) == tried(dlq_engine, False, True)


def test_generated_database_in_several_batches(tmp_path, dlq_engine):
    rows = clean_rows(2500)
    rows[100] = row(101, error_message="naïve ☃ \U0001f600 text", stack_trace="a\x00b")
    rows[200] = row(201, error_type="Zeta", stack_trace="")
    rows[300] = row(301, error_type="éclair", job_id=None, scene_id=None, retry_count=None)
    rows[400] = row(401, error_message=None, stack_trace=None, error_type=None)
    rows[500] = row(501, failed_at=None)
    rows[600] = row(601, job_id=2**63 - 1, scene_id=-(2**63), retry_count=0)
    db = make_db(tmp_path / "w" / "dlq.db", rows)
    assert compare(db, batch_rows=1000, engine=dlq_engine) == tried(dlq_engine, True)
    assert compare(db, engine=dlq_engine) == tried(dlq_engine, True)


def test_rows_not_in_time_order_are_sorted_alike(tmp_path, dlq_engine):
    rows = [row(1, failed_at="2026-10-02 00:00:00"), row(2, failed_at="2026-10-01 00:00:00"),
            row(3, failed_at=None), row(4, failed_at="2026-10-01 00:00:00"),
            # the ends of the plausible window (outside it: see test_dlq_decode.py)
            row(5, failed_at="2000-01-01 00:00:00"), row(6, failed_at="2099-12-31 23:59:59")]
    db = make_db(tmp_path / "w" / "dlq.db", rows)
    assert compare(db, engine=dlq_engine) == tried(dlq_engine, True)
    assert read_dlq(db, engine=dlq_engine).dlq["id"].tolist() == [5, 2, 4, 1, 6, 3]


def test_missing_and_computed_columns(tmp_path, dlq_engine):
    create = ("CREATE TABLE dead_letters (id INTEGER PRIMARY KEY, job_id INTEGER, "
              "error_type TEXT, failed_at TIMESTAMP, "
              "stack_trace TEXT GENERATED ALWAYS AS (error_type || '!') VIRTUAL)")
    db = tmp_path / "w" / "dlq.db"
    db.parent.mkdir()
    conn = sqlite3.connect(db)
    conn.execute(create)
    conn.executemany("INSERT INTO dead_letters (job_id, error_type, failed_at) VALUES (?, ?, ?)",
                     [(1, "PlexNotFound", "2026-10-01 00:00:00"), (2, None, None)])
    conn.commit()
    conn.close()
    assert compare(db, engine=dlq_engine) == tried(dlq_engine, True)
    assert len(read_dlq(db, engine=dlq_engine).issues) == 2  # computed + absent columns


def test_text_columns_without_any_value(tmp_path):
    rows = [row(i, error_type=None, error_message=None, stack_trace=None, failed_at=None)
            for i in range(1, 6)]
    assert compare(make_db(tmp_path / "w" / "dlq.db", rows)) == [True]


def test_small_files_use_the_reference_by_default(tmp_path):
    db = make_db(tmp_path / "w" / "dlq.db", clean_rows(3))
    with fast_path(min_bytes=_fastdlq.MIN_FILE_BYTES) as calls:
        read_dlq(db)
    assert calls == []
    with fast_path(min_bytes=os.stat(db).st_size) as calls:
        read_dlq(db)
    assert calls == [True]


def test_decode_jobs_reads_job_data_with_the_reference(tmp_path):
    db = make_db(tmp_path / "w" / "dlq.db", clean_rows(5))
    assert compare(db, decode_jobs=True) == []


# --------------------------------------------------------------------------------------
# Defects: the fast path declines, the reference reports them
# --------------------------------------------------------------------------------------

NO_PK = "CREATE TABLE dead_letters (" + ", ".join(COLUMNS) + ")"
#: A clean row 1 and 2, then row 3 with the defect: in the first Arrow batch or in a
#: later one, depending on the batch size.
DECLINED = {
    "integer error_message": (row(3, error_message=5), UNTYPED),
    "real error_type": (row(3, error_type=1e300), UNTYPED),
    "utf-8 blob stack_trace": (row(3, stack_trace=b"Traceback"), DLQ_SCHEMA),
    "binary blob error_type": (row(3, error_type=b"\xff\xfe"), DLQ_SCHEMA),
    "text retry_count": (row(3, retry_count="x"), DLQ_SCHEMA),
    "real job_id": (row(3, job_id=3.5), DLQ_SCHEMA),
    "blob scene_id": (row(3, scene_id=b"\x01"), DLQ_SCHEMA),
    "integer failed_at": (row(3, failed_at=1790812800), DLQ_SCHEMA),
    "real failed_at": (row(3, failed_at=1790812800.5), DLQ_SCHEMA),
    # canonical, but outside the readers' one window (2000-01-01 up to 2100-01-01 UTC)
    "failed_at year 1": (row(3, failed_at="0001-01-01 00:00:00"), DLQ_SCHEMA),
    "failed_at 1969": (row(3, failed_at="1969-12-31 23:59:59"), DLQ_SCHEMA),
    "failed_at 1970": (row(3, failed_at="1970-01-01 00:00:00"), DLQ_SCHEMA),
    "failed_at 1999": (row(3, failed_at="1999-12-31 23:59:59"), DLQ_SCHEMA),
    "failed_at 2100": (row(3, failed_at="2100-01-01 00:00:00"), DLQ_SCHEMA),
    "failed_at 2263": (row(3, failed_at="2263-01-01 00:00:00"), DLQ_SCHEMA),
    "failed_at 9999": (row(3, failed_at="9999-12-31 23:59:59"), DLQ_SCHEMA),
    "null id": (row(3, id=None), NO_PK),
    "duplicate id": (row(3, id=1), NO_PK),
    "real id": (row(3, id=2.5), NO_PK),
    "text id": (row(3, id="7"), NO_PK.replace("id,", "id TEXT,")),
}
TIMES = ["2026-10-01T12:00:00", "2026-10-01 12:00:00.5", "2026-10-01 12:00:00Z",
         "2026-10-01 12:00:00+02:00", "2026-02-30 00:00:00", "2026-02-29 00:00:00",
         "1000-02-29 00:00:00", "2026-10-01 24:00:00", "2026-10-01 23:59:60",
         "2026-10-01 12:00", "2026-10-01", "last tuesday", "", " 2026-10-01 12:00:00",
         "2026-10-01 12:00:00 ", "2026-1-01 12:00:00", "-001-10-01 12:00:00",
         "2026-10-01 12:60:00", "+2026-10-01 12:00", "2026-10-01\t12:00:00"]


@pytest.mark.parametrize("batch_rows", [2, 65_536])
@pytest.mark.parametrize("case", sorted(DECLINED))
def test_defects_decline(tmp_path, case, batch_rows):
    defect, create = DECLINED[case]
    db = make_db(tmp_path / "w" / "dlq.db", [row(1), row(2), defect], create=create)
    assert compare(db, batch_rows=batch_rows) == [False]


@pytest.mark.parametrize("rows", [[], [row(1, failed_at=b"2026-10-01 00:00:00"), row(2)]],
                         ids=["empty table", "blob time in the first batch"])
def test_more_declines(tmp_path, rows):
    assert compare(make_db(tmp_path / "w" / "dlq.db", rows)) == [False]


@pytest.mark.parametrize("when", TIMES)
def test_times_not_in_the_canonical_form_decline(tmp_path, when):
    db = make_db(tmp_path / "w" / "dlq.db", [row(1), row(2, failed_at=when)])
    assert compare(db) == [False]


def test_invalid_utf8_text_declines(tmp_path):
    for i, col in enumerate(("error_type", "error_message", "stack_trace", "failed_at")):
        db = make_db(tmp_path / f"w{i}" / "dlq.db", clean_rows(3),
                     raw_sql=(f"UPDATE dead_letters SET {col} = CAST(X'41EDA080' AS TEXT) "
                              "WHERE id = 2",))
        assert compare(db) == [False], col
        assert "bad_value" in set(read_dlq(db).issues["kind"].astype(str))


def test_utf16_database_declines(tmp_path):
    db = make_db(tmp_path / "w" / "dlq.db", clean_rows(3), pragmas=("PRAGMA encoding='UTF-16le'",))
    assert compare(db) == [False]


def test_value_longer_than_the_reference_reads(tmp_path, monkeypatch):
    monkeypatch.setattr(dlq_module, "MAX_VALUE_BYTES", 5000)
    db = make_db(tmp_path / "w" / "dlq.db", [row(1), row(2, stack_trace="x" * 6000)])
    assert compare(db) == [False]
    assert read_dlq(db).issues["kind"].astype(str).tolist() == ["unreadable"]
    db2 = make_db(tmp_path / "w2" / "dlq.db", [row(1), row(2, stack_trace="x" * 4000)])
    assert compare(db2) == [True]


def test_virtual_table_is_left_to_the_reference(tmp_path):
    db = tmp_path / "w" / "dlq.db"
    db.parent.mkdir()
    conn = sqlite3.connect(db)
    try:
        conn.execute("CREATE VIRTUAL TABLE dead_letters USING fts5("
                     + ", ".join(c for c in COLUMNS) + ")")
    except sqlite3.OperationalError:
        pytest.skip("no fts5 in this SQLite")
    conn.execute(INSERT, row(1))
    conn.commit()
    conn.close()
    assert compare(db) == []


def test_blob_time_in_a_later_batch_reads_as_its_text(tmp_path):
    # ADBC types the column from the first batch (text) and hands a later BLOB over as
    # its bytes; the reference decodes the BLOB: same time, no issue either way.
    rows = [row(1), row(2), row(3, failed_at=b"2026-10-01 00:00:03")]
    db = make_db(tmp_path / "w" / "dlq.db", rows)
    assert compare(db, batch_rows=2) == [True]


@pytest.mark.parametrize("batch_rows", [2, 65_536])
def test_values_changing_type_after_the_first_batch(tmp_path, batch_rows):
    cases = {
        "null then text": [row(1, error_type=None), row(2, error_type=None), row(3)],
        "null then int": [row(1, job_id=None), row(2, job_id=None), row(3)],
        "int then text": [row(1), row(2), row(3, error_type=7)],
        "text then real": [row(1), row(2), row(3, job_id=1.5)],
        "text then blob": [row(1), row(2), row(3, stack_trace=b"\x80")],
    }
    for i, rows in enumerate(cases.values()):
        compare(make_db(tmp_path / f"w{i}" / "dlq.db", rows, create=UNTYPED),
                batch_rows=batch_rows)


# --------------------------------------------------------------------------------------
# Read-only: the fast path opens the file as the reference does and writes nothing
# --------------------------------------------------------------------------------------


def listing(d: Path) -> list[str]:
    return sorted(os.listdir(d))


def test_never_writes_next_to_the_database(tmp_path):
    db = make_db(tmp_path / "w" / "dlq.db", clean_rows(20))
    old = os.stat(db).st_mtime_ns - 5_000_000_000
    os.utime(db, ns=(old, old))
    before = (db.read_bytes(), os.stat(db).st_mtime_ns, listing(db.parent))
    assert compare(db) == [True]
    assert (db.read_bytes(), os.stat(db).st_mtime_ns, listing(db.parent)) == before


def test_quiescent_wal_database_creates_no_sidecars(tmp_path):
    db = make_db(tmp_path / "w" / "dlq.db", clean_rows(20), pragmas=("PRAGMA journal_mode=WAL",))
    assert listing(db.parent) == ["dlq.db"]
    digest = db.read_bytes()
    assert compare(db) == [True]
    assert listing(db.parent) == ["dlq.db"] and db.read_bytes() == digest


def test_read_only_directory(tmp_path):
    for mode in ("delete", "wal"):
        src = make_db(tmp_path / mode / "dlq.db", clean_rows(20),
                      pragmas=(f"PRAGMA journal_mode={mode}",))
        ro = tmp_path / f"ro-{mode}"
        ro.mkdir()
        copy = ro / "dlq.db"
        shutil.copy2(src, copy)
        digest, mtime = copy.read_bytes(), os.stat(copy).st_mtime_ns
        os.chmod(copy, 0o444)
        os.chmod(ro, 0o555)
        try:
            assert compare(copy) == [True]
            names = listing(ro)
        finally:
            os.chmod(ro, 0o755)
            os.chmod(copy, 0o644)
        assert (copy.read_bytes(), os.stat(copy).st_mtime_ns, names) == (digest, mtime,
                                                                          ["dlq.db"])


WRITER = """
import select, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
conn.execute(sys.argv[2])
conn.execute(
    "INSERT INTO dead_letters (job_id, scene_id, error_type, error_message, failed_at)"
    " VALUES (99, 9, 'Pending', 'not committed yet', '2026-10-30 00:00:00')"
)
print("locked", flush=True)
select.select([sys.stdin], [], [], float(sys.argv[3]))
conn.execute("COMMIT")
print("committed", flush=True)
"""


@contextlib.contextmanager
def writer(db: Path, begin: str, hold: float) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db), begin, str(hold)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        if proc.poll() is None:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        proc.wait(timeout=20)


@pytest.mark.parametrize("journal_mode", ["delete", "wal"])
def test_reads_committed_rows_while_a_writer_holds_its_lock(tmp_path, journal_mode):
    db = make_db(tmp_path / "w" / "dlq.db", clean_rows(20),
                 pragmas=(f"PRAGMA journal_mode={journal_mode}",))
    with writer(db, "BEGIN IMMEDIATE", 15) as proc:
        start = time.monotonic()
        assert compare(db) == [True]
        assert time.monotonic() - start < 5
        assert proc.poll() is None  # still holding the lock while we read
        assert 99 not in read_dlq(db).dlq["job_id"].tolist()
    after = read_dlq(db).dlq
    assert after["job_id"].tolist()[-1] == 99


def test_busy_database_waits_for_the_timeout_then_declines(tmp_path):
    db = make_db(tmp_path / "w" / "dlq.db", clean_rows(20))
    kw = {"cols": list(dlq_module.DLQ_COLUMNS), "missing": [], "max_value_bytes": 1 << 26,
          "source": "w", "origin": str(db)}
    uri = dlq_module._uri(db, "mode=ro")
    # an exclusive lock (a writer committing) held for 1 s: the fast path waits for it
    with writer(db, "BEGIN EXCLUSIVE", 1.0):
        start = time.monotonic()
        frame = _fastdlq.read_dead_letters(uri, timeout=10.0, **kw)
        waited = time.monotonic() - start
    assert isinstance(frame, pd.DataFrame) and len(frame) == 21 and waited > 0.5
    # held past the timeout: declined (the reference then reports the lock)
    with writer(db, "BEGIN EXCLUSIVE", 15):
        assert isinstance(_fastdlq.read_dead_letters(uri, timeout=0.2, **kw), str)


# --------------------------------------------------------------------------------------
# Fuzzed databases
# --------------------------------------------------------------------------------------

#: failed_at at and beyond both ends of the readers' window (syncstats._time.plausible)
WINDOW_EDGES = ["1999-12-31 23:59:59", "2000-01-01 00:00:00", "2099-12-31 23:59:59",
                "2100-01-01 00:00:00", "0001-01-01 00:00:00", "1970-01-01 00:00:00",
                "2263-01-01 00:00:00", "9999-01-01 00:00:00"]
good = {
    "job_id": st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
    "error_type": st.one_of(st.none(), st.sampled_from(["PlexNotFound", "B", "a", "é", ""])),
    "error_message": st.one_of(st.none(), st.text(max_size=8)),
    "failed_at": st.one_of(
        st.none(),
        # mostly within the readers' window (2000 up to 2100 UTC), a few just beyond it
        st.datetimes(datetime(1999, 12, 31, 23), datetime(2100, 1, 1, 1)),
        st.datetimes(),
    ).map(lambda d: d if d is None else d.strftime("%Y-%m-%d %H:%M:%S").rjust(19, "0"))
    | st.sampled_from(WINDOW_EDGES),
}
good["scene_id"] = good["retry_count"] = good["job_id"]
good["stack_trace"] = good["error_message"]
anything = st.one_of(
    st.none(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False),
    st.text(max_size=6), st.binary(max_size=6),
    st.sampled_from([b"\xed\xa0\x80", b"\xff", "2026-10-01 00:00:00", b"2026-10-01 00:00:00",
                     "2026-02-29 00:00:00", "2026-10-01T00:00:00", 4.0, "12", ""]),
)


@st.composite
def db_rows(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    """Clean rows, then (mostly) one or two cells replaced by any SQLite value: a defect
    anywhere, in the first Arrow batch or a later one, and still often none."""
    n = draw(st.integers(0, 7))
    cells = [{"id": i + 1, "job_data": None, **{c: draw(s) for c, s in good.items()}}
             for i in range(n)]
    if n:
        for _ in range(draw(st.integers(0, 2))):
            i, col = draw(st.integers(0, n - 1)), draw(st.sampled_from(sorted(good)))
            cells[i][col] = draw(anything)
    return [tuple(values[c] for c in COLUMNS) for values in cells]


@FUZZ
@given(rows=db_rows(), typed=st.booleans(), batch_rows=st.sampled_from([2, 65_536]))
def test_fuzzed_databases(rows, typed, batch_rows):
    with tempfile.TemporaryDirectory() as d:
        db = make_db(Path(d) / "w" / "dlq.db", rows, create=DLQ_SCHEMA if typed else UNTYPED)
        compare(db, batch_rows=batch_rows)


mutation = st.tuples(st.integers(100, 172_031), st.integers(1, 255))


@FUZZ
@given(flips=st.lists(mutation, min_size=1, max_size=6))
def test_byte_mutated_sample_database(flips):
    blob = bytearray((DATA / "worker-b" / "dlq.db").read_bytes())
    for at, x in flips:
        blob[at % len(blob)] ^= x
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "w" / "dlq.db"
        db.parent.mkdir()
        db.write_bytes(bytes(blob))
        compare(db)


def test_the_fuzz_strategy_reaches_the_fast_path():
    """Guard against a fuzz test that only ever exercises the decline."""
    taken = 0
    with tempfile.TemporaryDirectory() as d:
        for i in range(3):
            db = make_db(Path(d) / f"w{i}" / "dlq.db", clean_rows(3))
            taken += sum(compare(db))
    assert taken == 3


# --------------------------------------------------------------------------------------
# Skipping the schema's sort when a file's rows are already in time order
# --------------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(times=st.lists(st.one_of(st.none(), st.integers(0, 5)), max_size=8))
def test_skipping_the_sort_only_when_it_changes_nothing(times):
    stamps = [None if t is None else pd.Timestamp("2026-10-01", tz="UTC") + pd.Timedelta(t, "s")
              for t in times]
    frame = pd.DataFrame({c: [None] * len(times) for c in schemas.DLQ.names})
    frame["source"] = "w"
    frame["id"] = range(len(times))
    frame["failed_at"] = pd.Series(stamps, dtype=schemas.UTC_DTYPE)
    sorted_frame = schemas.conform(frame, schemas.DLQ)
    if dlq_module._in_time_order(frame):
        assert sorted_frame["id"].tolist() == list(range(len(times)))
    pd.testing.assert_frame_equal(
        schemas.conform(frame, schemas.DLQ, sort=not dlq_module._in_time_order(frame)),
        sorted_frame,
    )


def test_time_order_detection():
    def order(*times: str | None) -> bool:
        return dlq_module._in_time_order(pd.DataFrame(
            {"failed_at": pd.Series([None if t is None else pd.Timestamp(t, tz="UTC")
                                     for t in times], dtype=schemas.UTC_DTYPE)}))

    assert order() and order("2026-10-01") and order(None, None)
    assert order("2026-10-01", "2026-10-01", "2026-10-02", None)
    assert not order("2026-10-02", "2026-10-01")
    assert not order("2026-10-01", None, "2026-10-02")
    assert not order(None, "2026-10-01")


@pytest.mark.parametrize("seed", [88, 264, 619])
def test_a_corrupt_schema_whose_error_text_is_not_utf8_is_an_issue(seed, tmp_path):
    # These byte flips of the sample DLQ make SQLite's error message non-UTF-8: Python's
    # sqlite3 then raises UnicodeDecodeError, which must become an `unreadable` issue.
    import random

    buf = bytearray((DATA / "worker-b" / "dlq.db").read_bytes())
    rng = random.Random(seed)
    for _ in range(rng.randint(1, 6)):
        at = rng.randrange(100, len(buf))
        buf[at] ^= rng.randrange(1, 256)
    path = tmp_path / "dlq.db"
    path.write_bytes(bytes(buf))
    data = syncstats.read_dlq(path)
    assert "unreadable" in set(data.issues["kind"].astype(str)), data.issues
    assert syncstats.load(tmp_path).dlq.empty


# --------------------------------------------------------------------------------------
# engine=: validated; a decline is an engine_fallback caveat with the reason
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["fast", "ADBC", "", None, 1])
def test_bad_engine_is_refused(tmp_path, bad):
    db = make_db(tmp_path / "w" / "dlq.db", clean_rows(2))
    with pytest.raises(syncstats.exceptions.ParameterError) as info:
        read_dlq(db, engine=bad)
    text = str(info.value)
    assert "\n" not in text and "engine" in text and "'adbc'" in text and repr(bad) in text


def test_a_declined_database_is_an_engine_fallback_with_the_reason(tmp_path):
    db = make_db(tmp_path / "w" / "dlq.db", [row(1), row(2, error_type=5)], create=UNTYPED)
    for engine in ("adbc", "auto"):
        with fast_path(min_bytes=0):
            issues = read_dlq(db, engine=engine, on_error="raise").issues
        assert issues["kind"].astype(str).tolist() == ["engine_fallback"]
        assert pd.isna(issues["line"].iloc[0]) and issues["path"].iloc[0] == str(db)
        assert "a text column holds a number or a BLOB" in issues["detail"].iloc[0]


def test_a_clean_database_has_no_engine_fallback(tmp_path, dlq_engine):
    db = make_db(tmp_path / "w" / "dlq.db", clean_rows(4))
    assert len(read_dlq(db, engine=dlq_engine).issues) == 0
    assert len(syncstats.load(tmp_path, engine=dlq_engine).issues) == 0


def test_small_files_decode_jobs_and_exports_are_no_fallback(tmp_path):
    db = make_db(tmp_path / "w" / "dlq.db", [row(1), row(2, error_type=5)], create=UNTYPED)
    assert len(read_dlq(db).issues) == 0  # auto, below MIN_FILE_BYTES: not applicable
    assert "engine_fallback" not in set(
        read_dlq(db, engine="adbc", decode_jobs=True).issues["kind"].astype(str))
