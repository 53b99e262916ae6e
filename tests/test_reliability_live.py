"""Reading while another process writes: no exception, no torn data, no stale regression.

- ``read_dlq``/``load`` while a process inserts DLQ rows in transactions of three (rollback
  journal and WAL, one connection per transaction as the worker does): every read
  succeeds, ids are 1..n (prefix-closed, n a multiple of 3: no torn transaction), every
  row is whole, counts never decrease; nothing is created next to the database.
- ``capture_snapshot`` while a process rewrites ``stats.json`` in place (``open('w')``,
  half, sleep, the rest: the old non-atomic worker): torn reads are retried, never
  recorded; every history line is one of the values written.
- ``read_log`` while a process appends ``Stats:`` lines in two writes each and rotates
  ``stash.log`` to ``stash.log.1``: no exception; every row comes from a complete line.

``SYNCSTATS_SOAK=1`` reads many more times.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers_reliability import (
    SOAK,
    append_and_rotate,
    error_kinds,
    insert_dlq_rows,
    read_reports,
    rewrite_in_place,
    scaled,
    stats_value,
    time_limit,
)

from syncstats.exceptions import StatsFileError
from syncstats.io import load, read_dlq, read_log, read_snapshots
from syncstats.recording import capture_snapshot
from syncstats.recording.dlq import DLQ_SCHEMA

CTX = multiprocessing.get_context("fork")


def wait_until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the writer"
        time.sleep(0.005)


def count_rows(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


@pytest.mark.slow
@pytest.mark.parametrize("wal", [False, True], ids=["rollback-journal", "wal"])
def test_dlq_reads_while_a_process_inserts(tmp_path, wal):
    db = tmp_path / "worker-a" / "dlq.db"
    db.parent.mkdir()
    conn = sqlite3.connect(db)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(DLQ_SCHEMA)
    conn.close()
    stop, out = tmp_path / "stop", tmp_path / "out"
    # a pause between transactions bounds the table's growth over a long (soak) run
    pause = 0.02 if SOAK else 0.004
    writer = CTX.Process(target=insert_dlq_rows,
                         args=(str(db), wal, 3, str(stop), str(out), pause))
    writer.start()
    try:
        wait_until(lambda: count_rows(db) >= 3)
        last, counts = 0, []
        for k in range(scaled(16, 400)):
            with time_limit(60, "reading a DLQ being written"):
                data = read_dlq(db) if k % 2 else load(db.parent)
            assert not error_kinds(data.issues), data.issues["detail"].tolist()
            dlq = data.dlq.sort_values("id")
            n = len(dlq)
            assert list(dlq["id"]) == list(range(1, n + 1)), "ids not prefix-closed"
            assert n % 3 == 0, f"{n} rows: a transaction of 3 was read torn"
            assert (dlq["job_id"].astype("int64") == dlq["id"]).all()
            expect = dlq["id"].map(lambda i: f"Could not find /media/{i}.mp4")
            assert (dlq["error_message"].astype("str") == expect).all(), "a torn row"
            assert n >= last, f"count went back from {last} to {n}"
            last = n
            counts.append(n)
    finally:
        stop.touch()
        writer.join(60)
    assert writer.exitcode == 0
    (total,) = read_reports(out)
    assert last <= total == len(read_dlq(db).dlq)
    assert len(set(counts)) > 3, f"the writer did not progress during the reads: {counts}"
    sidecars = sorted(p.name for p in db.parent.iterdir() if p.name != "dlq.db")
    assert not [s for s in sidecars if not s.startswith("dlq.db-")], sidecars
    print(f"DLQ {'WAL' if wal else 'rollback'}: {len(counts)} reads, rows "
          f"{counts[0]}..{counts[-1]} of {total}")


@pytest.mark.slow
def test_capture_never_records_a_torn_stats_file(tmp_path, monkeypatch):
    stats = tmp_path / "worker-a" / "stats.json"
    stats.parent.mkdir()
    stats.write_text(json.dumps(stats_value(0)))
    history = tmp_path / "history.jsonl"
    torn = []
    real_read_bytes = Path.read_bytes

    def spying_read_bytes(self):  # counts the torn reads capture_snapshot meets
        raw = real_read_bytes(self)
        if self == stats:
            try:
                json.loads(raw)
            except ValueError:
                torn.append(len(raw))
        return raw

    monkeypatch.setattr(Path, "read_bytes", spying_read_bytes)
    stop, out = tmp_path / "stop", tmp_path / "out"
    writer = CTX.Process(target=rewrite_in_place, args=(str(stats), str(stop), 0.002, str(out)))
    writer.start()
    captures, failures = scaled(60, 3000), 0
    base = pd.Timestamp("2026-10-01T00:00:00Z")
    try:
        for i in range(captures):
            try:
                capture_snapshot(stats, history, source="worker-a",
                                 now=base + pd.Timedelta(seconds=i), retries=30,
                                 retry_delay=0.001)
            except StatsFileError:
                failures += 1  # still torn after every retry: nothing recorded
            time.sleep(0.001)
    finally:
        stop.touch()
        writer.join(30)
    assert writer.exitcode == 0
    lines = history.read_bytes().split(b"\n")
    assert lines[-1] == b""
    for line in lines[:-1]:
        rec = json.loads(line)
        value = stats_value(rec["jobs_failed"])
        assert {k: rec[k] for k in value} == value, "a capture recorded a torn or mixed file"
    assert len(lines) - 1 == captures - failures
    assert failures <= captures // 10
    assert torn, "no torn read happened: the race was not exercised"
    assert len(read_snapshots(history).snapshots) == captures - failures
    print(f"capture vs in-place writer: {captures} captures, {failures} gave up, "
          f"{len(torn)} torn reads retried")


@pytest.mark.slow
def test_read_log_while_a_process_appends_and_rotates(tmp_path):
    logs = tmp_path / "worker-a"
    logs.mkdir()
    stop, out = tmp_path / "stop", tmp_path / "out"
    writer = CTX.Process(target=append_and_rotate, args=(str(logs), str(stop), 40, str(out)))
    writer.start()
    base = pd.Timestamp(1790812800.0, unit="s", tz="UTC")
    reads, rows, torn = scaled(20, 1500), 0, 0
    try:
        wait_until(lambda: (logs / "stash.log").exists() or (logs / "stash.log.1").exists())
        for _ in range(reads):
            with time_limit(60, "read_log of a log being appended"):
                data = read_log(logs)
            kinds = set(data.issues["kind"].astype("str"))
            assert kinds <= {"torn_line", "unreadable"}, data.issues.to_dict("records")
            snaps = data.snapshots
            i = snaps["jobs_processed"]
            assert (snaps["jobs_succeeded"] == i).all() and (snaps["jobs_failed"] == 0).all()
            assert (snaps["high_confidence_matches"] == i).all()
            assert (snaps["total_processing_time"] == i * i / 1000.0).all()
            when = base + pd.to_timedelta(i, unit="s")
            assert (snaps["snapshot_at"] == when).all(), "a row from a torn line"
            rows += len(snaps)
            # a line half written when read: a torn line (the rest, read on, is no line)
            torn += int((data.issues["kind"] == "torn_line").sum())
    finally:
        stop.touch()
        writer.join(30)
    assert writer.exitcode == 0
    (total,) = read_reports(out)
    assert total > 40, "the writer did not rotate"
    final = read_log(logs)
    assert not error_kinds(final.issues)
    print(f"log reader: {reads} reads during {total} appends, {rows} rows, "
          f"{torn} torn tails seen")
    assert os.path.exists(logs / "stash.log.1")
