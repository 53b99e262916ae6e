"""``read_dlq(decode_jobs=True)``: typed ``job.*`` columns, hostile values in job blobs
(bounded work, issues instead of exceptions) and one plausibility window for every DLQ
time (issues 12 and 13)."""

from __future__ import annotations

import math
import pickle
import sqlite3
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from helpers_reliability import check_raise_mode, scaled
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncstats import schemas
from syncstats.exceptions import DLQError
from syncstats.io import read_dlq
from syncstats.recording.dlq import DLQ_INDEXES, DLQ_SCHEMA
from syncstats.recording.safepickle import MAX_BLOB_BYTES

COLUMNS = ("id", "job_id", "scene_id", "job_data", "error_type", "error_message",
           "stack_trace", "retry_count", "failed_at")
INSERT = f"INSERT INTO dead_letters ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * 9)})"
PROTOCOLS = [2, 3, 4, 5]


def full_job(i: int, **over: Any) -> dict[Any, Any]:
    """A job as the worker re-enqueues it (worker/processor.py): every field."""
    job: dict[Any, Any] = {
        "job_id": 100 + i, "scene_id": 1900 + i, "update_type": "metadata",
        "data": {"title": f"Scene {i}", "tags": ["a"]}, "enqueued_at": 1790870400.5 + i,
        "job_key": f"scene_{1900 + i}", "retry_count": 3, "next_retry_at": 1790870460.0,
        "last_error_type": "PlexNotFound",
    }
    job.update(over)
    return job


def direct_job(i: int) -> dict[str, Any]:
    """A job sent straight to the DLQ (operations.enqueue): no retry fields."""
    return {"job_id": 100 + i, "scene_id": 1900 + i, "update_type": "metadata",
            "data": {}, "enqueued_at": 1790870400.0 + i, "job_key": f"scene_{1900 + i}"}


def make_db(path: Path, blobs: list[bytes | None], **over: list[Any]) -> Path:
    """A worker-schema database, one row per blob (ids 1, 2, ...); *over* replaces a
    column's values."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute(DLQ_SCHEMA)
    for stmt in DLQ_INDEXES:
        conn.execute(stmt)
    rows = []
    for i, blob in enumerate(blobs, 1):
        values = {"id": i, "job_id": 100 + i, "scene_id": 1900 + i, "job_data": blob,
                  "error_type": "PlexNotFound", "error_message": "m", "stack_trace": "",
                  "retry_count": 3, "failed_at": f"2026-10-01 12:00:{i % 60:02d}"}
        values.update({c: v[i - 1] for c, v in over.items()})
        rows.append(tuple(values[c] for c in COLUMNS))
    conn.executemany(INSERT, rows)
    conn.commit()
    conn.close()
    return path


def issues_of(data: Any) -> list[tuple[int | None, str, str]]:
    return [(None if pd.isna(line) else int(line), str(kind), detail)
            for line, kind, detail in data.issues[["line", "kind", "detail"]]
            .itertuples(index=False)]


# --------------------------------------------------------------------------------------
# A. Types survive decoding
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_job_columns_have_the_documented_dtypes(tmp_path, protocol):
    blobs = [pickle.dumps(direct_job(1), protocol=protocol),
             pickle.dumps(full_job(2), protocol=protocol)]
    db = make_db(tmp_path / "w" / "dlq.db", blobs)
    data = read_dlq(db, decode_jobs=True)
    dlq = data.dlq.set_index("id")
    assert len(data.issues) == 0
    schemas.validate(data.dlq[schemas.DLQ_JOB.names], schemas.DLQ_JOB)
    # jobs sent straight to the DLQ lack retry_count: NA, not a float 3.0 for the other
    assert dlq["job.retry_count"].dtype == pd.Int64Dtype()
    assert pd.isna(dlq.loc[1, "job.retry_count"]) and dlq.loc[2, "job.retry_count"] == 3
    assert dlq["job.job_id"].tolist() == [101, 102]
    assert dlq["job.enqueued_at"].tolist() == [pd.Timestamp("2026-10-01 16:00:01", tz="UTC"),
                                               pd.Timestamp("2026-10-01 16:00:02.5", tz="UTC")]
    assert pd.isna(dlq.loc[1, "job.next_retry_at"])
    assert dlq.loc[2, "job.next_retry_at"] == pd.Timestamp("2026-10-01 16:01:00", tz="UTC")
    for col in ("job.update_type", "job.job_key", "job.last_error_type"):
        assert isinstance(dlq[col].dtype, pd.StringDtype), col
    assert pd.isna(dlq.loc[1, "job.last_error_type"])
    assert dlq.loc[2, "job.data"] == {"title": "Scene 2", "tags": ["a"]}
    assert dlq[schemas.JOB_EXTRA].isna().all()


def test_no_rows_still_have_the_job_columns(tmp_path):
    db = make_db(tmp_path / "w" / "dlq.db", [])
    frame = read_dlq(db, decode_jobs=True).dlq
    assert len(frame) == 0
    schemas.validate(frame[schemas.DLQ_JOB.names], schemas.DLQ_JOB)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_counts_beyond_int64_in_a_pickle_are_overflow_issues(tmp_path, protocol):
    blobs = [pickle.dumps(full_job(1, retry_count=2**70), protocol=protocol),
             pickle.dumps(full_job(2, job_id=-(2**100), scene_id=2**63 - 1), protocol=protocol)]
    db = make_db(tmp_path / "w" / "dlq.db", blobs)
    data = read_dlq(db, decode_jobs=True)
    dlq = data.dlq.set_index("id")
    assert pd.isna(dlq.loc[1, "job.retry_count"]) and pd.isna(dlq.loc[2, "job.job_id"])
    assert dlq.loc[2, "job.scene_id"] == 2**63 - 1
    found = issues_of(data)
    assert [(line, kind) for line, kind, _ in found] == [(2, "overflow"), (1, "overflow")] or \
        sorted((line, kind) for line, kind, _ in found) == [(1, "overflow"), (2, "overflow")]
    details = " | ".join(d for _, _, d in found)
    assert "job.retry_count=1.181e+21 is beyond int64" in details
    assert "job.job_id=-1.268e+30 is beyond int64" in details
    assert "not an integer" not in details
    assert set(data.issues["path"]) == {str(db)}


def test_counts_beyond_int64_in_sqlite_columns_are_overflow_issues(tmp_path):
    """Text and REAL beyond int64 (SQLite keeps what it cannot make an INTEGER): not
    "not an integer" but "beyond int64", also for 5,000 digits (int() refuses those)."""
    huge = [b"9" * 5000, str(2**70), 2.0**70, "-" + "9" * 30, "1e30", "abc", 4.5, 7]
    db = make_db(tmp_path / "w" / "dlq.db", [None] * len(huge), retry_count=huge)
    data = read_dlq(db)
    dlq = data.dlq.set_index("id")
    assert dlq["retry_count"].isna().sum() == 7 and dlq.loc[8, "retry_count"] == 7
    kinds = {line: (kind, detail) for line, kind, detail in issues_of(data)}
    assert {line: kind for line, (kind, _) in kinds.items()} == {
        1: "overflow", 2: "overflow", 3: "overflow", 4: "overflow", 5: "overflow",
        6: "bad_value", 7: "bad_value"}
    assert all("beyond int64" in kinds[i][1] for i in range(1, 6))
    assert "is not an integer" in kinds[6][1]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_wrong_typed_job_fields_are_issues(tmp_path, protocol):
    """A job field of another type is missing and an issue: never True as 1, "7" as 7
    or 5 as "5" (a SQLite column may hold text numbers; a pickle says what it is)."""
    job = full_job(1, job_id="7", retry_count=True, update_type=5, scene_id=3.0,
                   job_key="scene_\ud800", last_error_type=None, next_retry_at=math.nan)
    db = make_db(tmp_path / "w" / "dlq.db", [pickle.dumps(job, protocol=protocol)])
    data = read_dlq(db, decode_jobs=True)
    row = data.dlq.iloc[0]
    assert pd.isna(row["job.job_id"]) and pd.isna(row["job.retry_count"])
    assert pd.isna(row["job.update_type"]) and row["job.scene_id"] == 3
    assert row["job.job_key"] == "scene_\\ud800"  # lone surrogate shown as an escape
    assert pd.isna(row["job.last_error_type"]) and pd.isna(row["job.next_retry_at"])
    assert sorted((line, kind, d.split("=")[0]) for line, kind, d in issues_of(data)) == [
        (1, "bad_value", "job.job_id"), (1, "bad_value", "job.retry_count"),
        (1, "bad_value", "job.update_type")]


# --------------------------------------------------------------------------------------
# B. Hostile values in job blobs: issues, bounded work, never code
# --------------------------------------------------------------------------------------


def _dict_pickle(pairs: list[tuple[bytes, bytes]], protocol: int) -> bytes:
    """``{key: value, ...}`` written by hand: EMPTY_DICT MARK ... SETITEMS STOP."""
    return b"\x80" + bytes([protocol]) + b"}(" + b"".join(k + v for k, v in pairs) + b"u."


def _long1(value: int) -> bytes:
    data = pickle.encode_long(value)
    return b"\x8a" + bytes([len(data)]) + data


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_hostile_numbers_are_issues_not_exceptions(tmp_path, protocol):
    """5,000-digit keys (ValueError from str()), enqueued_at=10**400 (OverflowError from
    float arithmetic): undecodable_job rows; 2**200 (within the unpickler's 256 bits) is
    a bad_time issue. The other rows decode."""
    blobs = [
        pickle.dumps({10**4999: 1, **full_job(1)}, protocol=protocol),
        pickle.dumps(full_job(2, enqueued_at=10**400), protocol=protocol),
        pickle.dumps(full_job(3, enqueued_at=2**200), protocol=protocol),
        pickle.dumps(full_job(4), protocol=protocol),
    ]
    db = make_db(tmp_path / "w" / "dlq.db", blobs)
    data = read_dlq(db, decode_jobs=True)
    dlq = data.dlq.set_index("id")
    assert sorted(dlq.index) == [1, 2, 3, 4]
    found = sorted(issues_of(data))
    assert [(line, kind) for line, kind, _ in found] == [
        (1, "undecodable_job"), (2, "undecodable_job"), (3, "bad_time")]
    assert "refused an integer" in found[0][2] and "refused an integer" in found[1][2]
    assert found[2][2].startswith("job.enqueued_at=1.607e+60 is not epoch seconds")
    assert pd.isna(dlq.loc[3, "job.enqueued_at"]) and dlq.loc[3, "job.job_id"] == 103
    assert dlq.loc[4, "job.job_key"] == "scene_1904"
    check_raise_mode(lambda m: read_dlq(db, decode_jobs=True, on_error=m), data, DLQError)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_colliding_keys_are_an_undecodable_row_in_bounded_time(tmp_path, protocol):
    """75,000 int keys of one hash (k * (2**61 - 1) + 1) took minutes to unpickle."""
    pairs = [(_long1(k * (2**61 - 1) + 1), b"N") for k in range(75_000)]
    blob = _dict_pickle(pairs, protocol)
    assert len(blob) <= MAX_BLOB_BYTES
    db = make_db(tmp_path / "w" / "dlq.db", [blob, pickle.dumps(full_job(2))])
    start = time.perf_counter()
    data = read_dlq(db, decode_jobs=True)
    assert time.perf_counter() - start < 2.0
    assert [(line, kind) for line, kind, _ in issues_of(data)] == [(1, "undecodable_job")]
    assert data.dlq.set_index("id").loc[2, "job.job_id"] == 102


def test_rows_of_60000_keys_take_bounded_time_and_lose_nothing(tmp_path):
    """Five rows of 60,000 distinct keys were 300,000 columns built one by one
    (minutes): now the known fields, job.extra and at most MAX_JOB_COLUMNS others."""
    jobs = [{**full_job(i), **{f"k{i}_{j}": j for j in range(60_000)}} for i in range(5)]
    blobs = [pickle.dumps(j, protocol=5) for j in jobs]
    assert max(map(len, blobs)) <= MAX_BLOB_BYTES
    db = make_db(tmp_path / "w" / "dlq.db", blobs)
    start = time.perf_counter()
    data = read_dlq(db, decode_jobs=True)
    assert time.perf_counter() - start < 2.0 * len(blobs)
    assert len(data.issues) == 0
    frame = data.dlq.sort_values("id").reset_index(drop=True)
    job_columns = [c for c in frame.columns if c.startswith("job.")]
    assert len(job_columns) == len(schemas.DLQ_JOB.names) + schemas.MAX_JOB_COLUMNS
    # the first row's first keys are the columns; every value is somewhere, once
    promoted = [f"job.k0_{j}" for j in range(schemas.MAX_JOB_COLUMNS)]
    assert job_columns[len(schemas.DLQ_JOB.names):] == promoted
    for i, job in enumerate(jobs):
        row = frame.iloc[i]
        rebuilt = {k: v for k, v in row[promoted].items() if v is not None}
        rebuilt = {k.removeprefix("job."): v for k, v in rebuilt.items()}
        rebuilt.update(row[schemas.JOB_EXTRA])
        assert rebuilt == {k: v for k, v in job.items() if k.startswith("k")}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_int_and_str_keys_do_not_overwrite_each_other(tmp_path, protocol):
    """Only str keys become columns: 1 and "1" (both "job.1" by name) are kept apart,
    1 in job.extra with its type; a key named "extra" stays in job.extra too."""
    job = {**full_job(1), "1": "str key", 1: "int key", "extra": "x", b"raw": 2, None: 3}
    db = make_db(tmp_path / "w" / "dlq.db", [pickle.dumps(job, protocol=protocol)])
    data = read_dlq(db, decode_jobs=True)
    row = data.dlq.iloc[0]
    assert row["job.1"] == "str key"
    assert row[schemas.JOB_EXTRA] == {1: "int key", "extra": "x", b"raw": 2, None: 3}
    assert len(data.issues) == 0


def test_unknown_keys_are_columns_alike_in_every_file(tmp_path):
    """The cap counts keys over all files read at once: a key is a column for every row
    or for none."""
    a = make_db(tmp_path / "w" / "a" / "dlq.db", [pickle.dumps(full_job(1))])
    many = {f"new{j}": j for j in range(schemas.MAX_JOB_COLUMNS + 4)}
    b = make_db(tmp_path / "w" / "b" / "dlq.db",
                [pickle.dumps({**full_job(2), "priority": 5, **many}),
                 pickle.dumps({**full_job(3), "new19": "late"})])
    frame = read_dlq([a, b], decode_jobs=True).dlq.sort_values(["origin", "id"])
    extra_columns = [c for c in frame.columns if c.startswith("job.")][
        len(schemas.DLQ_JOB.names):]
    assert extra_columns == ["job.priority"] + [f"job.new{j}" for j in range(15)]
    assert frame["job.priority"].tolist() == [None, 5, None]
    assert frame[schemas.JOB_EXTRA].tolist() == [
        None, {f"new{j}": j for j in range(15, 20)}, {"new19": "late"}]


keys = st.one_of(st.text(max_size=6), st.sampled_from(["1", "job_id", "extra", "data"]),
                 st.integers(-(2**70), 2**70), st.binary(max_size=3), st.none(),
                 st.tuples(st.integers(0, 3)))
leaves = st.one_of(st.none(), st.booleans(), st.floats(), st.text(max_size=8),
                   st.integers(-(10**90), 10**90), st.integers(-(2**70), 2**70))
values = st.recursive(leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=4), inner, max_size=4),
    st.builds(lambda x, n: [x] * n, inner, st.integers(0, 300))), max_leaves=8)
jobs = st.dictionaries(keys, values, max_size=12) | st.builds(
    lambda d, extra: {**full_job(0), **d, **extra},
    st.dictionaries(st.sampled_from(list(full_job(0))), leaves),
    st.dictionaries(keys, values, max_size=6))


@settings(max_examples=scaled(30, 1000), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(batch=st.lists(st.tuples(jobs, st.sampled_from(PROTOCOLS)), min_size=1, max_size=4))
def test_random_jobs_lose_nothing_and_take_bounded_time(tmp_path_factory, batch):
    """Every key of every job is a column value or a job.extra entry, or the row has an
    issue (row id = line); dtypes as documented; under 2 s per blob."""
    blobs = [pickle.dumps(job, protocol=p) for job, p in batch]
    d = tmp_path_factory.mktemp("jobs")
    db = make_db(d / "dlq.db", blobs)
    start = time.perf_counter()
    data = read_dlq(db, decode_jobs=True)
    assert time.perf_counter() - start < 2.0 * len(blobs)
    frame = data.dlq.set_index("id")
    schemas.validate(data.dlq[schemas.DLQ_JOB.names], schemas.DLQ_JOB)
    flagged = set(data.issues["line"].dropna().astype(int))
    known = {c.removeprefix("job.") for c in schemas.DLQ_JOB.names} - {"extra"}
    for i, (job, _) in enumerate(batch, 1):
        row = frame.loc[i]
        undecodable = ((data.issues["line"] == i)
                       & (data.issues["kind"] == "undecodable_job")).any()
        if undecodable:
            assert row[schemas.DLQ_JOB.names].isna().all()
            continue
        extra = row[schemas.JOB_EXTRA] or {}
        for key, value in job.items():
            if type(key) is str and key in known:
                got = row[f"job.{key}"]
                missing = not isinstance(got, list | dict | tuple) and pd.isna(got)
                assert not missing or _missing(value) or i in flagged, (key, value)
            elif type(key) is str and f"job.{key}" in frame.columns and key != "extra":
                assert key not in extra and (row[f"job.{key}"] is not None or value is None)
            else:
                assert key in extra, (key, value)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# --------------------------------------------------------------------------------------
# C. One plausibility window for every DLQ time
# --------------------------------------------------------------------------------------


def test_implausible_failed_at_is_nat_and_an_issue_in_both_engines(tmp_path):
    """The readers' one window (2000-01-01 up to 2100-01-01 UTC, syncstats._time): a
    clock reset to 1970, 2263 (beyond pandas' nanosecond range) and 9999 are no times."""
    times = ["0001-01-01 00:00:00", "9999-12-31 23:59:59", "1969-12-31 23:59:59",
             "2263-01-01 00:00:00", "2000-01-01 00:00:00", "2099-12-31 23:59:59",
             "2100-01-01 00:00:00", "1970-01-01 00:00:00", "1999-12-31 23:59:59"]
    db = make_db(tmp_path / "w" / "dlq.db", [None] * len(times), failed_at=times)
    fast, slow = read_dlq(db, engine="adbc"), read_dlq(db, engine="reference")
    pd.testing.assert_frame_equal(fast.dlq, slow.dlq)
    fallback = fast.issues["kind"].astype(str) == "engine_fallback"  # ADBC must decline
    assert fallback.tolist()[:1] == [True] and "plausible window" in fast.issues["detail"][0]
    pd.testing.assert_frame_equal(fast.issues[~fallback].astype({"kind": str}).reset_index(
        drop=True), slow.issues.astype({"kind": str}))
    dlq = slow.dlq.set_index("id").sort_index()
    assert dlq["failed_at"].isna().tolist() == [True, True, True, True, False, False, True,
                                                True, True]
    found = issues_of(slow)
    assert [(line, kind) for line, kind, _ in found] == [
        (1, "bad_time"), (2, "bad_time"), (3, "bad_time"), (4, "bad_time"), (7, "bad_time"),
        (8, "bad_time"), (9, "bad_time")]
    assert ("'0001-01-01 00:00:00' is not a time within 2000-01-01..2100-01-01 UTC"
            in found[0][2])
    assert set(slow.issues["path"]) == {str(db)}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_implausible_epoch_fields_are_nat_and_issues(tmp_path, protocol):
    cases = [(-1, True), (1e11, True), (10**20, True), ("2026-10-01", True), (True, True),
             (math.inf, True), (946684800, False), (4102444799.5, False), (None, False),
             (0, True), (946684799, True), (946684799.5, True), (4102444800, True)]
    blobs = [pickle.dumps(full_job(i, enqueued_at=v, next_retry_at=v), protocol=protocol)
             for i, (v, _) in enumerate(cases, 1)]
    db = make_db(tmp_path / "w" / "dlq.db", blobs)
    data = read_dlq(db, decode_jobs=True)
    dlq = data.dlq.set_index("id")
    flagged = sorted({line for line, kind, _ in issues_of(data) if kind == "bad_time"})
    assert flagged == [i for i, (_, bad) in enumerate(cases, 1) if bad]
    assert len(data.issues) == 2 * len(flagged)  # one per field
    for i, (value, bad) in enumerate(cases, 1):
        for col in ("job.enqueued_at", "job.next_retry_at"):
            assert pd.isna(dlq.loc[i, col]) == (bad or value is None), (i, col)
    assert dlq.loc[7, "job.next_retry_at"] == pd.Timestamp("2000-01-01", tz="UTC")
    details = [d for _, _, d in issues_of(data)]
    assert ("job.enqueued_at=-1 is not epoch seconds within 2000-01-01..2100-01-01 UTC; "
            "loaded as NaT") in details


def test_true_in_an_export_is_no_count(tmp_path):
    """pd.array(..., dtype="Int64") reads True as 1: a JSON export's ``true`` is no
    retry_count (nor 1e30 one within int64)."""
    export = tmp_path / "w" / "dlq.json"
    export.parent.mkdir()
    export.write_text('[{"id": 1, "retry_count": true, "job_id": 1e30, "scene_id": 4},'
                      ' {"id": 2, "retry_count": 2, "job_id": 5, "scene_id": 4}]')
    data = read_dlq(export)
    dlq = data.dlq.set_index("id").sort_index()
    assert dlq["retry_count"].isna().tolist() == [True, False]
    assert pd.isna(dlq.loc[1, "job_id"]) and dlq.loc[2, "job_id"] == 5
    assert sorted((line, kind) for line, kind, _ in issues_of(data) if line) == [
        (1, "bad_value"), (1, "overflow")]
