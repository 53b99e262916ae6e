"""Soak: a whole fleet writing while syncstats reads, for minutes (``SYNCSTATS_SOAK=1``).

Under one data root, at the same time and for ``SYNCSTATS_SOAK_SECONDS`` (default 120):
savers looping ``SyncStats.save_to_file`` on ``stats.json`` (killed at random and
restarted), a DLQ inserter (WAL), a log appender that rotates, and the old in-place
rewriter on a second stats file; meanwhile this process loops ``load``, ``read_dlq``,
``capture_snapshot`` and ``syncstats check``. Every read succeeds (issues only for
torn lines and files renamed away mid-read), DLQ ids stay prefix-closed, captures are
never torn, and the final stats file holds every completed save.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import time

import pandas as pd
import pytest
from helpers_reliability import (
    SOAK,
    append_and_rotate,
    insert_dlq_rows,
    read_reports,
    rewrite_in_place,
    save_loop,
    stats_value,
    sum_counts,
    time_limit,
)
from samples import stats_invariants

from syncstats import cli
from syncstats.exceptions import StatsFileError
from syncstats.io import load, read_dlq
from syncstats.recording import capture_snapshot
from syncstats.recording.stats import COUNTER_FIELDS

pytestmark = [
    pytest.mark.soak,
    pytest.mark.skipif(not SOAK, reason="soak test: run with SYNCSTATS_SOAK=1"),
]
CTX = multiprocessing.get_context("fork")
MAX_K = 5


def test_a_fleet_writing_while_syncstats_reads(tmp_path, capsys):
    seconds = float(os.environ.get("SYNCSTATS_SOAK_SECONDS", "120"))
    root = tmp_path / "data"
    a, b, c = root / "worker-a", root / "worker-b", root / "worker-c"
    for d in (a, b, c):
        d.mkdir(parents=True)
    hist = tmp_path / "history" / "worker-a.jsonl"
    stop = tmp_path / "stop"
    rng = random.Random(1)
    background = [
        CTX.Process(target=insert_dlq_rows,
                    args=(str(b / "dlq.db"), True, 3, str(stop), str(tmp_path / "dlq.out"),
                          0.05)),
        CTX.Process(target=append_and_rotate,
                    args=(str(c), str(stop), 200, str(tmp_path / "log.out"))),
        CTX.Process(target=rewrite_in_place,
                    args=(str(c / "stats.json"), str(stop), 0.003, str(tmp_path / "rw.out"))),
    ]
    for proc in background:
        proc.start()
    savers: list[multiprocessing.Process] = []
    reports = []

    def start_saver() -> None:
        out = tmp_path / f"saver{len(reports)}.out"
        reports.append(out)
        proc = CTX.Process(target=save_loop,
                           args=(str(a / "stats.json"), str(out), len(reports), MAX_K, 10**9))
        proc.start()
        savers.append(proc)

    for _ in range(3):
        start_saver()
    kills = reads = captures = gave_up = 0
    deadline = time.monotonic() + seconds
    base = pd.Timestamp("2026-10-01T00:00:00Z")
    last_dlq = 0
    try:
        while time.monotonic() < deadline:
            with time_limit(120, "load under load"):
                data = load(root)
            kinds = set(data.issues["kind"].astype("str"))
            assert kinds <= {"torn_line", "unreadable", "not_used", "ignored", "bad_json",
                             "empty", "time_from_mtime", "no_timestamp"}, data.issues.tail(5)
            torn_copy = data.issues[data.issues["kind"].isin(["bad_json", "empty"])]
            # only the file rewritten in place is ever seen torn (save_to_file is atomic)
            assert set(torn_copy["path"]) <= {str(c / "stats.json")}
            dlq = read_dlq(b / "dlq.db").dlq.sort_values("id")
            assert list(dlq["id"]) == list(range(1, len(dlq) + 1))
            assert len(dlq) % 3 == 0 and len(dlq) >= last_dlq
            last_dlq = len(dlq)
            try:
                capture_snapshot(c / "stats.json", hist, source="worker-c",
                                 now=base + pd.Timedelta(seconds=captures), retries=30,
                                 retry_delay=0.002)
            except StatsFileError:
                gave_up += 1
            captures += 1
            if reads % 10 == 0:
                cli.main(["check", str(root), "--max-dlq", "1000000"])
                capsys.readouterr()
            reads += 1
            if rng.random() < 0.5:  # kill a saver, start another
                victim = savers.pop(rng.randrange(len(savers)))
                os.kill(victim.pid, signal.SIGKILL)
                victim.join(30)
                kills += 1
                start_saver()
    finally:
        stop.touch()
        for proc in savers:
            os.kill(proc.pid, signal.SIGKILL)
            proc.join(30)
        for proc in background:
            proc.join(60)
    kills += len(savers)
    final = json.loads((a / "stats.json").read_bytes())
    assert not stats_invariants(final)
    done = sum_counts(r for p in reports for r in read_reports(p))
    for key in COUNTER_FIELDS:
        assert done.get(key, 0) <= final[key] <= done.get(key, 0) + MAX_K * kills, key
    for line in hist.read_bytes().splitlines():
        rec = json.loads(line)
        value = stats_value(rec["jobs_failed"])
        assert {k: rec[k] for k in value} == value
    print(f"soak {seconds:.0f} s: {reads} loads, {captures} captures ({gave_up} gave up), "
          f"{kills} saver kills, {sum(len(read_reports(p)) for p in reports)} saves, "
          f"{last_dlq} DLQ rows")
