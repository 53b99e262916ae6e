"""read_dlq on small databases made by DeadLetterQueue or by hand, and on exports."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shlex
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

import syncstats
from syncstats import DeadLetterQueue, schemas
from syncstats.io._issues import ERROR_KINDS
from syncstats.io.dlq import DLQ_COLUMNS


class PlexNotFound(Exception):
    pass


class PermanentError(Exception):
    pass


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def job(job_id: int, scene_id: int, **extra: object) -> dict[str, object]:
    out: dict[str, object] = {
        "job_id": job_id,
        "scene_id": scene_id,
        "update_type": "metadata",
        "data": {"title": f"Scene {scene_id}", "tags": ["a", "b"]},
        "enqueued_at": 1790870400.5,
        "job_key": f"scene_{scene_id}",
        "retry_count": 5,
        "next_retry_at": None,
        "last_error_type": "PlexNotFound",
    }
    out.update(extra)
    return out


def make_dlq(d: Path) -> Path:
    """Three entries; failed_at deliberately not in id order, one given with an offset."""
    q = DeadLetterQueue(d)
    q.add(
        job(11, 1900),
        PlexNotFound("Could not find Plex item for path: /media/videos/a/scene_1900.mp4"),
        5,
        failed_at=datetime(2026, 10, 1, 12, 0, 0, tzinfo=UTC),
        stack_trace="Traceback (most recent call last):\n  ...\nPlexNotFound\n",
    )
    q.add(
        job(12, 1901, enqueued_at=1790866800),
        PermanentError("Plex API error: 503 Service Unavailable"),
        0,
        failed_at=datetime(2026, 10, 1, 13, 30, 0, tzinfo=timezone(timedelta(hours=2))),
        stack_trace="",
    )
    q.add(
        job(13, 1902),
        PlexNotFound("Low confidence match skipped (strict_matching=true)"),
        3,
        failed_at=datetime(2026, 10, 1, 12, 0, 1, tzinfo=UTC),
        stack_trace="tb",
    )
    return Path(q.db_path)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def issue_list(data: syncstats.SyncData) -> list[tuple[object, str]]:
    return [
        (None if pd.isna(line) else int(line), str(kind))
        for line, kind in data.issues[["line", "kind"]].itertuples(index=False)
    ]


def raw_db(path: Path, create: str, rows: list[tuple] = (), insert: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(create)
        for row in rows:
            conn.execute(insert, row)
    conn.close()
    return path


FULL_INSERT = (
    "INSERT INTO dead_letters (id, job_id, scene_id, job_data, error_type, error_message,"
    " stack_trace, retry_count, failed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


# --------------------------------------------------------------------------------------
# Values and dtypes
# --------------------------------------------------------------------------------------


def test_values_and_dtypes(tmp_path):
    db = make_dlq(tmp_path / "w1")
    data = syncstats.read_dlq(db)
    dlq = data.dlq
    schemas.validate(dlq, schemas.DLQ)
    assert list(dlq.columns) == schemas.DLQ.names
    assert dlq["source"].dtype == "category"
    assert dlq["id"].dtype == "int64"
    for col in ("job_id", "scene_id", "retry_count"):
        assert dlq[col].dtype == pd.Int64Dtype()
    assert isinstance(dlq["error_type"].dtype, pd.CategoricalDtype)
    for col in ("error_message", "stack_trace", "origin"):
        assert isinstance(dlq[col].dtype, pd.StringDtype)
    assert dlq["failed_at"].dtype == schemas.UTC_DTYPE
    # Sorted by failed_at: 11:30Z (id 2, given as 13:30+02:00), 12:00:00Z, 12:00:01Z.
    assert dlq["id"].tolist() == [2, 1, 3]
    assert dlq["failed_at"].tolist() == [
        utc("2026-10-01 11:30:00"),
        utc("2026-10-01 12:00:00"),
        utc("2026-10-01 12:00:01"),
    ]
    assert dlq["job_id"].tolist() == [12, 11, 13]
    assert dlq["scene_id"].tolist() == [1901, 1900, 1902]
    assert dlq["retry_count"].tolist() == [0, 5, 3]
    assert dlq["error_type"].tolist() == ["PermanentError", "PlexNotFound", "PlexNotFound"]
    assert dlq["error_message"].iloc[0] == "Plex API error: 503 Service Unavailable"
    assert dlq["stack_trace"].tolist()[1:] == [
        "Traceback (most recent call last):\n  ...\nPlexNotFound\n",
        "tb",
    ]
    assert dlq["source"].tolist() == ["w1"] * 3
    assert dlq["origin"].tolist() == [str(db)] * 3
    assert not any(c.startswith("job.") for c in dlq.columns)
    assert len(data.issues) == 0
    assert len(data.snapshots) == 0 and len(data.errors) == 0


def test_source_from_argument_or_directory(tmp_path):
    db = make_dlq(tmp_path / "w1")
    assert syncstats.read_dlq(db, source="x").dlq["source"].tolist() == ["x"] * 3
    via_dir = syncstats.read_dlq(tmp_path)
    assert via_dir.dlq["source"].tolist() == [tmp_path.name] * 3


def test_directory_reads_databases_and_csv_only(tmp_path):
    d = tmp_path / "w1"
    db = make_dlq(d)
    raw_db(d / "other.db", "CREATE TABLE t (x INTEGER)")
    (d / "notes.txt").write_text("hello")
    (d / "export.csv").write_text(
        "id,job_id,scene_id,error_type,error_message,stack_trace,retry_count,failed_at\n"
        "7,70,700,TimeoutError,timed out,,1,2026-10-02 00:00:00\n"
    )
    data = syncstats.read_dlq(d)
    assert data.dlq["id"].tolist() == [2, 1, 3, 7]
    assert data.dlq["origin"].tolist() == [str(db)] * 3 + [str(d / "export.csv")]
    assert len(data.issues) == 0


# --------------------------------------------------------------------------------------
# Read-only
# --------------------------------------------------------------------------------------


def test_reading_never_writes(tmp_path):
    db = make_dlq(tmp_path / "w1")
    old = os.stat(db).st_mtime_ns - 5_000_000_000
    os.utime(db, ns=(old, old))
    before = (sha(db), os.stat(db).st_mtime_ns, sorted(os.listdir(db.parent)))
    syncstats.read_dlq(db)
    syncstats.read_dlq(db.parent, decode_jobs=True)
    syncstats.load(tmp_path)
    after = (sha(db), os.stat(db).st_mtime_ns, sorted(os.listdir(db.parent)))
    assert after == before
    assert before[2] == ["dlq.db"]  # no journal or sidecar left behind


def test_read_only_copy_in_read_only_directory(tmp_path):
    db = make_dlq(tmp_path / "w1")
    ro = tmp_path / "ro"
    ro.mkdir()
    copy = ro / "dlq.db"
    shutil.copy2(db, copy)
    digest, mtime = sha(copy), os.stat(copy).st_mtime_ns
    os.chmod(copy, 0o444)
    os.chmod(ro, 0o555)
    try:
        if os.geteuid() != 0:  # the mode bits bite: a write would fail
            assert not os.access(copy, os.W_OK) and not os.access(ro, os.W_OK)
        data = syncstats.read_dlq(copy)
        listing = sorted(os.listdir(ro))
    finally:
        os.chmod(ro, 0o755)
        os.chmod(copy, 0o644)
    assert data.dlq["id"].tolist() == [2, 1, 3]
    assert len(data.issues) == 0
    # As root the mode bits do not stop a write, so check that none happened: same bytes,
    # same mtime, no journal or -wal/-shm created next to the file.
    assert (sha(copy), os.stat(copy).st_mtime_ns, listing) == (digest, mtime, ["dlq.db"])


WRITER = """
import select, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
conn.execute("BEGIN IMMEDIATE")
conn.execute(
    "INSERT INTO dead_letters (job_id, scene_id, error_type, error_message, failed_at)"
    " VALUES (99, 9, 'Pending', 'not committed yet', '2026-10-02 00:00:00')"
)
print("locked", flush=True)
select.select([sys.stdin], [], [], 15)  # hold the write lock until told (15 s at most)
conn.execute("COMMIT")
print("committed", flush=True)
"""


@pytest.mark.slow
@pytest.mark.parametrize("journal_mode", ["delete", "wal"])
def test_read_while_another_process_holds_a_write_transaction(tmp_path, journal_mode):
    db = make_dlq(tmp_path / "w1")
    conn = sqlite3.connect(db)
    assert conn.execute(f"PRAGMA journal_mode={journal_mode}").fetchone()[0] == journal_mode
    conn.close()
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline().strip() == "locked"
        start = time.monotonic()
        during = syncstats.read_dlq(db)
        elapsed = time.monotonic() - start
        assert writer.poll() is None  # still holding the lock while we read
        writer.stdin.write("go\n")
        writer.stdin.flush()
        assert writer.stdout.readline().strip() == "committed"
        assert writer.wait(timeout=10) == 0
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    assert elapsed < 5
    assert during.dlq["job_id"].tolist() == [12, 11, 13]
    assert len(during.issues) == 0
    after = syncstats.read_dlq(db)
    assert after.dlq["job_id"].tolist() == [12, 11, 13, 99]
    assert after.dlq["id"].tolist() == [2, 1, 3, 4]


# --------------------------------------------------------------------------------------
# decode_jobs and the pickle canary
# --------------------------------------------------------------------------------------


def test_decode_jobs_adds_job_columns(tmp_path):
    db = make_dlq(tmp_path / "w1")
    data = syncstats.read_dlq(db, decode_jobs=True)
    dlq = data.dlq
    schemas.validate(dlq, schemas.DLQ)
    assert list(dlq.columns[: len(schemas.DLQ.names)]) == schemas.DLQ.names
    assert [c for c in dlq.columns if c.startswith("job.")] == schemas.DLQ_JOB.names
    assert sorted(schemas.DLQ_JOB.names) == sorted([f"job.{k}" for k in job(0, 0)]
                                                    + [schemas.JOB_EXTRA])
    schemas.validate(dlq[schemas.DLQ_JOB.names], schemas.DLQ_JOB)
    assert dlq[schemas.JOB_EXTRA].isna().all()
    assert dlq["job.enqueued_at"].dtype == schemas.UTC_DTYPE
    assert dlq["job.enqueued_at"].tolist() == [
        utc("2026-10-01 15:00:00"),
        utc("2026-10-01 16:00:00.5"),
        utc("2026-10-01 16:00:00.5"),
    ]
    assert dlq["job.next_retry_at"].dtype == schemas.UTC_DTYPE
    assert dlq["job.next_retry_at"].isna().all()
    assert dlq["job.job_id"].tolist() == dlq["job_id"].tolist()
    assert dlq["job.job_key"].tolist() == ["scene_1901", "scene_1900", "scene_1902"]
    assert dlq["job.data"].iloc[1] == {"title": "Scene 1900", "tags": ["a", "b"]}
    assert len(data.issues) == 0


class Canary:
    """Unpickling this runs a shell command that creates *marker*."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_pickle_canary_is_never_executed(tmp_path, protocol):
    marker = tmp_path / "PWNED"
    db = make_dlq(tmp_path / "w1")
    evil = pickle.dumps(Canary(marker), protocol=protocol)
    nested = pickle.dumps({"job_id": 15, "data": Canary(marker)}, protocol=protocol)
    with sqlite3.connect(db) as conn:
        for row_id, blob in ((40, evil), (41, nested), (42, b"\x80\x05not a pickle")):
            conn.execute(
                FULL_INSERT,
                (row_id, 14, 1903, blob, "PlexNotFound", "m", "", 1, "2026-10-01 20:00:00"),
            )
    conn.close()
    data = syncstats.read_dlq(db, decode_jobs=True)
    assert not marker.exists()
    dlq = data.dlq.set_index("id")
    assert sorted(dlq.index) == [1, 2, 3, 40, 41, 42]
    assert dlq.loc[40, "job_id"] == 14  # the row itself is kept
    assert dlq.loc[[40, 41, 42], "job.job_key"].isna().all()
    assert dlq.loc[1, "job.job_key"] == "scene_1900"
    assert issue_list(data) == [(40, "undecodable_job"), (41, "undecodable_job"),
                                (42, "undecodable_job")]
    assert "system" in data.issues["detail"].iloc[0]
    with pytest.raises(syncstats.DLQError) as info:
        syncstats.read_dlq(db, decode_jobs=True, on_error="raise")
    assert str(info.value).startswith(f"{db}:40: undecodable_job")
    # Without decode_jobs the blob is not even read.
    assert len(syncstats.read_dlq(db).issues) == 0
    assert not marker.exists()


def test_job_data_that_is_not_a_dict(tmp_path):
    db = make_dlq(tmp_path / "w1")
    with sqlite3.connect(db) as conn:
        conn.execute(FULL_INSERT, (9, 1, 2, pickle.dumps([1, 2]), "E", "", "", 0, None))
        conn.execute(FULL_INSERT, (10, 1, 2, None, "E", "", "", 0, None))
    conn.close()
    data = syncstats.read_dlq(db, decode_jobs=True)
    assert issue_list(data) == [(9, "undecodable_job"), (10, "undecodable_job")]
    assert len(data.dlq) == 5


# --------------------------------------------------------------------------------------
# Damaged tables and files
# --------------------------------------------------------------------------------------


def test_table_missing_columns(tmp_path):
    db = raw_db(
        tmp_path / "w1" / "dlq.db",
        "CREATE TABLE dead_letters (id INTEGER PRIMARY KEY AUTOINCREMENT, job_id INTEGER,"
        " error_type TEXT, failed_at TIMESTAMP)",
        [(7, "PlexNotFound", "2026-10-01 12:00:00")],
        "INSERT INTO dead_letters (job_id, error_type, failed_at) VALUES (?, ?, ?)",
    )
    data = syncstats.read_dlq(db)
    schemas.validate(data.dlq, schemas.DLQ)
    assert issue_list(data) == [(None, "schema")]
    assert "['scene_id', 'error_message', 'stack_trace', 'retry_count']" in (
        data.issues["detail"].iloc[0]
    )
    row = data.dlq.iloc[0]
    assert (row["id"], row["job_id"], row["error_type"]) == (1, 7, "PlexNotFound")
    assert row["failed_at"] == utc("2026-10-01 12:00:00")
    for col in ("scene_id", "error_message", "stack_trace", "retry_count"):
        assert data.dlq[col].isna().all(), col


def test_table_without_id_is_not_loaded(tmp_path):
    db = raw_db(
        tmp_path / "w1" / "dlq.db",
        "CREATE TABLE dead_letters (job_id INTEGER, error_type TEXT)",
        [(7, "PlexNotFound")],
        "INSERT INTO dead_letters VALUES (?, ?)",
    )
    data = syncstats.read_dlq(db)
    assert len(data.dlq) == 0
    assert issue_list(data) == [(None, "schema")]


def test_non_integer_and_bad_time_values(tmp_path):
    db = make_dlq(tmp_path / "w1")
    with sqlite3.connect(db) as conn:
        conn.execute(FULL_INSERT, (20, "abc", "1904", None, "E", "m", "", 2, "2026-10-03 00:00:00"))
        conn.execute(FULL_INSERT, (21, 3.5, 1905, None, "E", "m", "", "x", "2026-10-03 00:00:01"))
        conn.execute(FULL_INSERT, (22, 5, 1906, None, "E", "m", "", 1, "last tuesday"))
    conn.close()
    data = syncstats.read_dlq(db)
    schemas.validate(data.dlq, schemas.DLQ)
    dlq = data.dlq.set_index("id")
    assert pd.isna(dlq.loc[20, "job_id"])
    assert dlq.loc[20, "scene_id"] == 1904  # text '1904' got INTEGER affinity
    assert pd.isna(dlq.loc[21, "job_id"])
    assert pd.isna(dlq.loc[21, "retry_count"])
    assert dlq.loc[22, "job_id"] == 5
    assert pd.isna(dlq.loc[22, "failed_at"])
    assert sorted(issue_list(data), key=str) == sorted(
        [(20, "bad_value"), (21, "bad_value"), (21, "bad_value"), (22, "bad_time")], key=str
    )
    details = " | ".join(data.issues["detail"])
    assert "job_id='abc'" in details and "retry_count='x'" in details


def test_sqlite_file_without_dead_letters(tmp_path):
    db = raw_db(tmp_path / "w1" / "dlq.db", "CREATE TABLE jobs (id INTEGER)")
    data = syncstats.read_dlq(db)
    assert len(data.dlq) == 0
    assert issue_list(data) == [(None, "no_table")]
    with pytest.raises(syncstats.DLQError, match="no_table"):
        syncstats.read_dlq(db, on_error="raise")


@pytest.mark.parametrize(
    ("content", "kind"),
    [(b"not a database\nsecond line\n\xff\xfe\n", "unreadable"), (b"", "empty")],
)
def test_non_sqlite_file(tmp_path, content, kind):
    f = tmp_path / "w1" / "dlq.db"
    f.parent.mkdir()
    f.write_bytes(content)
    data = syncstats.read_dlq(f)
    assert len(data.dlq) == 0
    assert issue_list(data) == [(None, kind)]
    assert data.issues["path"].tolist() == [str(f)]
    with pytest.raises(syncstats.DLQError) as info:
        syncstats.read_dlq(f, on_error="raise")
    assert str(info.value).startswith(f"{f}: {kind}")


def test_missing_database_raises_input_error(tmp_path):
    with pytest.raises(syncstats.InputError, match="nope.db"):
        syncstats.read_dlq(tmp_path / "nope.db")


def test_on_error_bogus(tmp_path):
    with pytest.raises(syncstats.ParameterError):
        syncstats.read_dlq(make_dlq(tmp_path / "w1"), on_error="bogus")


# --------------------------------------------------------------------------------------
# Exports
# --------------------------------------------------------------------------------------

CSV = (
    "id,job_id,scene_id,error_type,error_message,stack_trace,retry_count,failed_at\n"
    "1,11,1900,PlexNotFound,Could not find Plex item for path: /media/videos/a/scene_1900.mp4,"
    '"Traceback (most recent call last):\n  File ""worker.py"", line 1\nPlexNotFound: x",5,'
    "2026-10-01 12:00:00\n"
    '2,12,,PermanentError,"Plex API error: 503, Service Unavailable",,0,'
    "2026-10-01T13:00:00+02:00\n"
)


def test_csv_export(tmp_path):
    f = tmp_path / "w1" / "dlq-export.csv"
    f.parent.mkdir()
    f.write_text(CSV)
    data = syncstats.read_dlq(f)
    dlq = data.dlq
    schemas.validate(dlq, schemas.DLQ)
    assert dlq["id"].tolist() == [2, 1]
    assert dlq["failed_at"].tolist() == [utc("2026-10-01 11:00"), utc("2026-10-01 12:00")]
    assert dlq["job_id"].tolist() == [12, 11]
    assert pd.isna(dlq["scene_id"].iloc[0]) and dlq["scene_id"].iloc[1] == 1900
    assert dlq["error_message"].iloc[0] == "Plex API error: 503, Service Unavailable"
    assert pd.isna(dlq["stack_trace"].iloc[0])
    assert dlq["stack_trace"].iloc[1] == (
        'Traceback (most recent call last):\n  File "worker.py", line 1\nPlexNotFound: x'
    )
    assert dlq["retry_count"].tolist() == [0, 5]
    assert dlq["origin"].tolist() == [str(f)] * 2
    assert len(data.issues) == 0


def test_json_array_export(tmp_path):
    records = [
        {"id": 1, "job_id": 11, "scene_id": 1900, "error_type": "PlexNotFound",
         "error_message": "m1", "stack_trace": "t", "retry_count": 5,
         "failed_at": "2026-10-01 12:00:00"},
        {"id": 2, "job_id": None, "scene_id": 1901, "error_type": "TimeoutError",
         "error_message": "m2", "stack_trace": None, "retry_count": 1,
         "failed_at": "2026-10-01T12:30:00Z", "extra": "ignored"},
    ]
    f = tmp_path / "w1" / "dlq.json"
    f.parent.mkdir()
    f.write_text(json.dumps(records))
    data = syncstats.read_dlq(f)
    schemas.validate(data.dlq, schemas.DLQ)
    assert data.dlq["id"].tolist() == [1, 2]
    assert data.dlq["job_id"].tolist()[0] == 11 and pd.isna(data.dlq["job_id"].iloc[1])
    assert data.dlq["failed_at"].tolist() == [utc("2026-10-01 12:00"), utc("2026-10-01 12:30")]
    assert "extra" not in data.dlq.columns
    assert len(data.issues) == 0


def test_accounting_of_rows(tmp_path):
    # A database: every row is in the frame; caveats (undecodable job, bad value) name ids.
    db = make_dlq(tmp_path / "w1")
    with sqlite3.connect(db) as conn:
        conn.execute(FULL_INSERT, (30, "abc", 1, None, "E", "", "", 0, "2026-10-04 00:00:00"))
        conn.execute(FULL_INSERT, (31, 1, 1, b"junk", "E", "", "", 0, "2026-10-04 00:00:00"))
    conn.close()
    n_rows = 5
    data = syncstats.read_dlq(db, decode_jobs=True)
    errs = data.issues[data.issues["kind"].isin(ERROR_KINDS)]
    assert len(data.dlq) == n_rows
    assert set(errs["line"]) == {30, 31} <= set(data.dlq["id"])
    # A JSON Lines export: loaded rows + torn lines == non-blank lines.
    record = dict.fromkeys(DLQ_COLUMNS, None)
    lines = [
        json.dumps({**record, "id": i, "job_id": i, "failed_at": "2026-10-01 12:00:00"})
        for i in (1, 2, 3)
    ]
    f = tmp_path / "w2" / "dlq.jsonl"
    f.parent.mkdir()
    f.write_text("\n".join([lines[0], '{"id": 9, "job', "", lines[1], lines[2][:-3], ""]))
    data = syncstats.read_dlq(f)
    errs = data.issues[data.issues["kind"].isin(ERROR_KINDS)]
    units = set(zip(errs["path"], errs["line"], strict=True))
    assert units == {(str(f), 2), (str(f), 5)}
    assert len(data.dlq) + len(units) == 4
    assert data.dlq["id"].tolist() == [1, 2]
    assert set(errs["kind"]) == {"torn_line"}
