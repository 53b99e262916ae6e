"""``DeadLetterQueue``: the docs/formats.md §4 schema, interoperability with the original worker,
the API, and the pickle canary (nothing in a ``job_data`` blob is ever executed)."""

from __future__ import annotations

import os
import pickle
import re
import shlex
import sqlite3
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from syncstats import DeadLetterQueue, ParameterError, UnsafePickleError

# -- docs/formats.md §4, verbatim: the original worker's DDL --------------------------------------
ORIGINAL_DDL = """
CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER, scene_id INTEGER,
    job_data BLOB,            -- pickle of the job dict
    error_type TEXT,          -- exception class name, e.g. PlexNotFound
    error_message TEXT,       -- str(exception), embeds ids and paths
    stack_trace TEXT,
    retry_count INTEGER,
    failed_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP   -- text 'YYYY-MM-DD HH:MM:SS', UTC
);
CREATE INDEX idx_failed_at ON dead_letters(failed_at);
CREATE INDEX idx_scene_id ON dead_letters(scene_id);
"""

# PRAGMA table_info rows: (cid, name, type, notnull, dflt_value, pk)
EXPECTED_COLUMNS = [
    (0, "id", "INTEGER", 0, None, 1),
    (1, "job_id", "INTEGER", 0, None, 0),
    (2, "scene_id", "INTEGER", 0, None, 0),
    (3, "job_data", "BLOB", 0, None, 0),
    (4, "error_type", "TEXT", 0, None, 0),
    (5, "error_message", "TEXT", 0, None, 0),
    (6, "stack_trace", "TEXT", 0, None, 0),
    (7, "retry_count", "INTEGER", 0, None, 0),
    (8, "failed_at", "TIMESTAMP", 0, "CURRENT_TIMESTAMP", 0),
]
# PRAGMA index_list rows without seq: (name, unique, origin, partial)
EXPECTED_INDEXES = {("idx_failed_at", 0, "c", 0), ("idx_scene_id", 0, "c", 0)}
# PRAGMA index_info rows: (seqno, cid, name)
EXPECTED_INDEX_COLUMNS = {
    "idx_failed_at": [(0, 8, "failed_at")],
    "idx_scene_id": [(0, 2, "scene_id")],
}
FAILED_AT_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def make_job(n: int, scene_id: int | None = None) -> dict:
    """A job dict shaped like the worker's (plain builtins only)."""
    scene = 1900 + n if scene_id is None else scene_id
    return {
        "job_id": n,
        "scene_id": scene,
        "update_type": "metadata",
        "data": {"title": f"Scene {scene}", "path": f"/media/videos/a/scene_{scene}.mp4"},
        "enqueued_at": 1759017612.5 + n,
        "job_key": f"scene:{scene}",
        "retry_count": 5,
        "next_retry_at": None,
        "last_error_type": "PlexNotFound",
    }


class PlexNotFound(Exception):
    pass


class PermanentError(Exception):
    pass


def schema_of(db_path: str | os.PathLike[str]) -> dict:
    """Everything about the dead_letters table that must match docs/formats.md §4."""
    with sqlite3.connect(db_path) as conn:
        columns = conn.execute("PRAGMA table_info(dead_letters)").fetchall()
        index_rows = conn.execute("PRAGMA index_list(dead_letters)").fetchall()
        indexes = {tuple(row[1:]) for row in index_rows}
        index_columns = {
            row[1]: conn.execute(f"PRAGMA index_info({row[1]})").fetchall() for row in index_rows
        }
        table_sql = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'dead_letters'"
        ).fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    return {
        "columns": columns,
        "indexes": indexes,
        "index_columns": index_columns,
        "autoincrement": "AUTOINCREMENT" in table_sql.upper(),
        "tables": tables,
    }


def create_original_db(data_dir: Path) -> Path:
    """A dlq.db created exactly as the original worker did."""
    data_dir.mkdir(parents=True, exist_ok=True)
    db = data_dir / "dlq.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(ORIGINAL_DDL)
    conn.close()
    return db


def original_add(db: Path, job: dict, error: Exception, retry_count: int) -> int:
    """Insert a row the way the original worker does (default failed_at)."""
    try:
        raise error
    except Exception as e:
        stack = traceback.format_exc()
        with sqlite3.connect(db) as conn:
            cur = conn.execute(
                "INSERT INTO dead_letters (job_id, scene_id, job_data, error_type,"
                " error_message, stack_trace, retry_count) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    job.get("job_id"),
                    job.get("scene_id"),
                    pickle.dumps(job),
                    type(e).__name__,
                    str(e),
                    stack,
                    retry_count,
                ),
            )
            rowid = cur.lastrowid
        conn.close()
    return rowid


def raw_insert(db: Path | str, **values) -> int:
    cols = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    with sqlite3.connect(db) as conn:
        rowid = conn.execute(
            f"INSERT INTO dead_letters ({cols}) VALUES ({marks})", tuple(values.values())
        ).lastrowid
    conn.close()
    return rowid


def raw_rows(db: Path | str, sql: str, args: tuple = ()) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(sql, args).fetchall()
    conn.close()
    return rows


@pytest.fixture
def dlq(tmp_path) -> DeadLetterQueue:
    return DeadLetterQueue(tmp_path / "data")


# -- schema ------------------------------------------------------------------------------------


def test_original_ddl_gives_the_expected_schema(tmp_path):
    """Sanity check of the expected values themselves against the docs/formats.md §4 DDL."""
    schema = schema_of(create_original_db(tmp_path / "orig"))
    assert schema["columns"] == EXPECTED_COLUMNS
    assert schema["indexes"] == EXPECTED_INDEXES
    assert schema["index_columns"] == EXPECTED_INDEX_COLUMNS
    assert schema["autoincrement"]


def test_new_database_has_the_formats_schema(dlq):
    assert Path(dlq.db_path).name == "dlq.db"
    schema = schema_of(dlq.db_path)
    assert schema["columns"] == EXPECTED_COLUMNS
    assert schema["indexes"] == EXPECTED_INDEXES
    assert schema["index_columns"] == EXPECTED_INDEX_COLUMNS
    assert schema["autoincrement"]
    assert schema["tables"] == {"dead_letters", "sqlite_sequence"}


def test_new_database_schema_equals_the_originals(tmp_path):
    ours = DeadLetterQueue(tmp_path / "ours")
    theirs = create_original_db(tmp_path / "theirs")
    assert schema_of(ours.db_path) == schema_of(theirs)


def test_opening_an_original_database_leaves_its_schema_alone(tmp_path):
    db = create_original_db(tmp_path / "data")
    master = "SELECT type, name, sql FROM sqlite_master ORDER BY name"
    before = raw_rows(db, master)
    DeadLetterQueue(tmp_path / "data")
    DeadLetterQueue(tmp_path / "data")
    assert raw_rows(db, master) == before


def test_data_dir_is_created(tmp_path):
    dlq = DeadLetterQueue(tmp_path / "a" / "b")
    assert Path(dlq.db_path) == tmp_path / "a" / "b" / "dlq.db"
    assert Path(dlq.db_path).is_file()


# -- interoperability --------------------------------------------------------------------------


def test_database_written_by_the_original_worker_is_readable(tmp_path):
    db = create_original_db(tmp_path / "data")
    jobs = [make_job(1), make_job(2), make_job(3)]
    errors = [
        PlexNotFound("Could not find Plex item for path: /media/videos/a/scene_1901.mp4"),
        PermanentError("Low confidence match skipped (strict_matching=true)"),
        PlexNotFound("Could not find Plex item for path: /media/videos/a/scene_1903.mp4"),
    ]
    ids = [original_add(db, job, err, 5) for job, err in zip(jobs, errors, strict=True)]

    dlq = DeadLetterQueue(tmp_path / "data")
    assert dlq.get_count() == 3
    for dlq_id, job in zip(ids, jobs, strict=True):
        assert dlq.get_by_id(dlq_id) == job
    assert dlq.get_error_summary() == {"PlexNotFound": 2, "PermanentError": 1}
    recent = dlq.get_recent(10)
    # All share the same CURRENT_TIMESTAMP second or later ones: newest first, then id desc.
    assert [r["id"] for r in recent] == sorted(ids, reverse=True)
    assert recent[0] == {
        "id": ids[2],
        "job_id": 3,
        "scene_id": 1903,
        "error_type": "PlexNotFound",
        "error_message": "Could not find Plex item for path: /media/videos/a/scene_1903.mp4",
        "failed_at": recent[0]["failed_at"],
    }
    assert all(FAILED_AT_RE.match(r["failed_at"]) for r in recent)


def test_rows_written_by_dlq_read_back_like_the_originals(dlq):
    """The other direction: what DeadLetterQueue writes is what the original would read."""
    job = make_job(7)
    try:
        raise PlexNotFound("Could not find Plex item for path: /media/x.mp4")
    except PlexNotFound as exc:
        dlq_id = dlq.add(job, exc, 3)
    row = raw_rows(
        dlq.db_path,
        "SELECT job_id, scene_id, job_data, error_type, error_message, stack_trace,"
        " retry_count, failed_at FROM dead_letters WHERE id = ?",
        (dlq_id,),
    )[0]
    job_id, scene_id, blob, etype, message, stack, retries, failed_at = row
    assert (job_id, scene_id, etype, retries) == (7, 1907, "PlexNotFound", 3)
    assert message == "Could not find Plex item for path: /media/x.mp4"
    assert pickle.loads(blob) == job  # our own trusted blob: the original would do this
    assert "Traceback (most recent call last)" in stack
    assert "PlexNotFound: Could not find Plex item" in stack
    assert FAILED_AT_RE.match(failed_at)


# -- add ---------------------------------------------------------------------------------------


def test_add_returns_increasing_ids_and_stores_columns(dlq):
    ids = [dlq.add(make_job(n), ValueError(f"bad {n}"), n) for n in range(1, 4)]
    assert ids == [1, 2, 3]
    rows = raw_rows(
        dlq.db_path,
        "SELECT id, job_id, scene_id, error_type, error_message, retry_count FROM dead_letters",
    )
    assert rows == [
        (1, 1, 1901, "ValueError", "bad 1", 1),
        (2, 2, 1902, "ValueError", "bad 2", 2),
        (3, 3, 1903, "ValueError", "bad 3", 3),
    ]


def test_add_default_failed_at_is_now_in_utc(dlq):
    before = datetime.now(UTC).replace(microsecond=0)
    dlq_id = dlq.add(make_job(1), ValueError("x"), 1)
    after = datetime.now(UTC)
    (text,) = raw_rows(dlq.db_path, "SELECT failed_at FROM dead_letters WHERE id = ?", (dlq_id,))[0]
    assert FAILED_AT_RE.match(text)
    stored = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    assert before <= stored <= after


def test_add_explicit_stack_trace_and_traceback_free_error(dlq):
    a = dlq.add(make_job(1), ValueError("never raised"), 0, stack_trace="custom trace")
    b = dlq.add(make_job(2), ValueError("never raised"), 0)
    rows = dict(raw_rows(dlq.db_path, "SELECT id, stack_trace FROM dead_letters"))
    assert rows[a] == "custom trace"
    assert isinstance(rows[b], str)


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (datetime(2026, 10, 1, 2, 19, 57, tzinfo=UTC), "2026-10-01 02:19:57"),
        (datetime(2026, 10, 1, 2, 19, 57, 999999, tzinfo=UTC), "2026-10-01 02:19:57"),
        (
            datetime(2026, 10, 1, 4, 19, 57, tzinfo=timezone(timedelta(hours=2))),
            "2026-10-01 02:19:57",
        ),
        (datetime(2026, 9, 30, 21, 0, tzinfo=timezone(timedelta(hours=-5))), "2026-10-01 02:00:00"),
    ],
    ids=["utc", "utc-microseconds", "plus-2h", "minus-5h-crosses-midnight"],
)
def test_add_explicit_failed_at_is_stored_as_utc_text(dlq, when, expected):
    dlq_id = dlq.add(make_job(1), ValueError("x"), 1, failed_at=when)
    assert raw_rows(dlq.db_path, "SELECT failed_at FROM dead_letters WHERE id = ?", (dlq_id,)) == [
        (expected,)
    ]
    assert dlq.get_recent(1)[0]["failed_at"] == expected


def test_add_naive_failed_at_raises_and_inserts_nothing(dlq):
    with pytest.raises(ParameterError, match="timezone-aware"):
        dlq.add(make_job(1), ValueError("x"), 1, failed_at=datetime(2026, 10, 1, 2, 0))
    assert dlq.get_count() == 0


# -- get_recent / get_by_id / get_count ----------------------------------------------------------


def _add_at(dlq: DeadLetterQueue, n: int, when: datetime, error: Exception | None = None) -> int:
    return dlq.add(make_job(n), error or PlexNotFound(f"missing {n}"), 1, failed_at=when)


def test_get_recent_orders_newest_first_then_id_and_limits(dlq):
    t0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
    a = _add_at(dlq, 1, t0 + timedelta(hours=2))
    b = _add_at(dlq, 2, t0)
    c = _add_at(dlq, 3, t0 + timedelta(days=1))
    d = _add_at(dlq, 4, t0 + timedelta(hours=2))  # same second as a: higher id first
    e = _add_at(dlq, 5, t0 - timedelta(days=3))
    assert [r["id"] for r in dlq.get_recent(10)] == [c, d, a, b, e]
    assert [r["id"] for r in dlq.get_recent(2)] == [c, d]
    assert [r["id"] for r in dlq.get_recent()] == [c, d, a, b, e]
    assert dlq.get_recent(0) == []
    first = dlq.get_recent(1)[0]
    assert set(first) == {"id", "job_id", "scene_id", "error_type", "error_message", "failed_at"}
    assert first["failed_at"] == "2026-10-02 12:00:00"


def test_get_recent_default_limit_is_ten(dlq):
    for n in range(12):
        dlq.add(make_job(n), ValueError("x"), 0)
    assert [r["id"] for r in dlq.get_recent()] == list(range(12, 2, -1))


def test_get_by_id_returns_the_job_or_none(dlq):
    job = make_job(5)
    dlq_id = dlq.add(job, ValueError("x"), 2)
    assert dlq.get_by_id(dlq_id) == job
    assert dlq.get_by_id(dlq_id + 1) is None
    assert dlq.get_by_id(0) is None
    assert dlq.get_by_id(-1) is None


def test_get_count(dlq):
    assert dlq.get_count() == 0
    for n in range(4):
        dlq.add(make_job(n), ValueError("x"), 0)
    assert dlq.get_count() == 4


# -- delete_older_than -------------------------------------------------------------------------


def test_delete_older_than_deletes_exactly_the_older_rows(dlq):
    now = datetime(2026, 10, 31, 12, 0, 0, tzinfo=UTC)
    keep = {
        _add_at(dlq, 1, now - timedelta(days=1)),
        _add_at(dlq, 2, now - timedelta(days=29, hours=23)),
        _add_at(dlq, 3, now - timedelta(days=30)),  # exactly at the cutoff: not older
        _add_at(dlq, 4, now + timedelta(hours=1)),
    }
    drop = {
        _add_at(dlq, 5, now - timedelta(days=30, seconds=1)),
        _add_at(dlq, 6, now - timedelta(days=31)),
        _add_at(dlq, 7, now - timedelta(days=400)),
    }
    assert dlq.delete_older_than(30, now=now) == len(drop)
    assert {r[0] for r in raw_rows(dlq.db_path, "SELECT id FROM dead_letters")} == keep
    assert dlq.delete_older_than(30, now=now) == 0
    assert dlq.get_count() == len(keep)


def test_delete_older_than_converts_an_aware_now_to_utc(dlq):
    # 2026-10-31 14:00 at +02:00 is 12:00 UTC; cutoff (1 day) is 2026-10-30 12:00:00 UTC.
    now = datetime(2026, 10, 31, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    kept = _add_at(dlq, 1, datetime(2026, 10, 30, 12, 0, 0, tzinfo=UTC))
    _add_at(dlq, 2, datetime(2026, 10, 30, 11, 59, 59, tzinfo=UTC))
    assert dlq.delete_older_than(1, now=now) == 1
    assert [r["id"] for r in dlq.get_recent()] == [kept]


def test_delete_older_than_default_now_and_days(dlq):
    recent = dlq.add(make_job(1), ValueError("x"), 0)
    _add_at(dlq, 2, datetime.now(UTC) - timedelta(days=31))
    assert dlq.delete_older_than() == 1
    assert [r["id"] for r in dlq.get_recent()] == [recent]


def test_delete_older_than_zero_days_deletes_everything_before_now(dlq):
    now = datetime(2026, 10, 31, 12, 0, tzinfo=UTC)
    _add_at(dlq, 1, now - timedelta(seconds=1))
    kept = _add_at(dlq, 2, now)
    assert dlq.delete_older_than(0, now=now) == 1
    assert [r["id"] for r in dlq.get_recent()] == [kept]


def test_delete_older_than_rejects_bad_arguments(dlq):
    _add_at(dlq, 1, datetime(2020, 1, 1, tzinfo=UTC))
    with pytest.raises(ParameterError):
        dlq.delete_older_than(-1)
    with pytest.raises(ParameterError, match="timezone-aware"):
        dlq.delete_older_than(30, now=datetime(2026, 10, 31, 12, 0))
    assert dlq.get_count() == 1


# -- get_error_summary -------------------------------------------------------------------------


def test_error_summary_empty(dlq):
    assert dlq.get_error_summary() == {}


def test_error_summary_equals_group_by(dlq):
    errors = [PlexNotFound("a"), PermanentError("b"), PlexNotFound("c"), TimeoutError("d")]
    errors += [ConnectionResetError("e"), PlexNotFound("f"), PermanentError("g")]
    for n, err in enumerate(errors):
        dlq.add(make_job(n), err, 1)
    expected = dict(
        raw_rows(dlq.db_path, "SELECT error_type, COUNT(*) FROM dead_letters GROUP BY error_type")
    )
    summary = dlq.get_error_summary()
    assert summary == expected
    assert summary == {
        "PlexNotFound": 3,
        "PermanentError": 2,
        "TimeoutError": 1,
        "ConnectionResetError": 1,
    }
    assert sum(summary.values()) == dlq.get_count()


# -- the pickle canary ---------------------------------------------------------------------------


class _OpenForWrite:
    """Unpickling this opens (creates) a file."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


class _SystemTouch:
    """Unpickling this runs a shell command creating a file."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(self.path)}",))


def _payloads(target: Path) -> dict[str, bytes]:
    q = shlex.quote(str(target))
    popen_args = pickle.dumps(["touch", str(target)], protocol=0)[:-1]  # list, no STOP
    cmd = f"touch {q}".encode()
    return {
        "reduce-open": pickle.dumps(_OpenForWrite(target)),
        "reduce-os-system": pickle.dumps(_SystemTouch(target), protocol=2),
        "global-subprocess-popen": b"csubprocess\nPopen\n(" + popen_args + b"tR.",
        # GLOBAL, SHORT_BINUNICODE, TUPLE1, REDUCE, STOP
        "global-os-system": b"\x80\x04cos\nsystem\n\x8c" + bytes([len(cmd)]) + cmd + b"\x85R.",
        "proto0-os-system": f"cos\nsystem\n(S'touch {q}'\ntR.".encode(),
        "nested-in-job-dict": b"(dp0\nVjob_id\np1\nI1\nsVdata\np2\ncos\nsystem\n(S'touch "
        + q.encode()
        + b"'\ntRs.",
    }


PAYLOAD_NAMES = list(_payloads(Path("/x")))


def _wait_for(path: Path, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.01)
    return path.exists()


@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_canary_payloads_are_live(tmp_path, name):
    """Control: the plain unpickler really creates the file, so the canary can fire."""
    target = tmp_path / "pwned"
    blob = _payloads(target)[name]
    code = "import pickle, sys; obj = pickle.loads(sys.stdin.buffer.read())\n"
    code += "getattr(obj, 'wait', lambda: None)()"
    subprocess.run([sys.executable, "-c", code], input=blob, check=True, timeout=30)
    assert _wait_for(target)


@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_get_by_id_refuses_malicious_pickles_without_running_them(tmp_path, name):
    db = create_original_db(tmp_path / "data")
    target = tmp_path / "pwned"
    good = original_add(db, make_job(1), PlexNotFound("x"), 1)
    evil = raw_insert(
        db,
        job_id=2,
        scene_id=2,
        job_data=_payloads(target)[name],
        error_type="PlexNotFound",
        error_message="y",
        stack_trace="",
        retry_count=1,
    )
    dlq = DeadLetterQueue(tmp_path / "data")
    with pytest.raises(UnsafePickleError, match=rf"dead_letters id {evil}") as info:
        dlq.get_by_id(evil)
    assert "refused to load global" in str(info.value)
    time.sleep(0.05)  # a spawned command would have had time to run
    assert not target.exists()
    # The rest of the queue is unaffected.
    assert dlq.get_by_id(good) == make_job(1)
    assert dlq.get_count() == 2
    assert dlq.get_error_summary() == {"PlexNotFound": 2}


@pytest.mark.parametrize(
    ("blob", "match"),
    [
        (None, "NULL"),
        (b"not a pickle", "not a valid pickle"),
        (pickle.dumps(make_job(1))[:-5], "not a valid pickle"),
        (pickle.dumps([1, 2, 3]), "decodes to list, expected a dict"),
        (pickle.dumps("text"), "decodes to str, expected a dict"),
    ],
    ids=["null", "garbage", "truncated", "list", "str"],
)
def test_get_by_id_refuses_undecodable_blobs(tmp_path, blob, match):
    db = create_original_db(tmp_path / "data")
    dlq_id = raw_insert(db, job_id=1, scene_id=1, job_data=blob, error_type="X")
    dlq = DeadLetterQueue(tmp_path / "data")
    with pytest.raises(UnsafePickleError, match=match):
        dlq.get_by_id(dlq_id)
