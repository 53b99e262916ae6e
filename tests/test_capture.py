"""capture_snapshot: the cron-side append of stats.json to a JSON Lines history."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from syncstats import StatsFileError, read_snapshots
from syncstats.io.capture import capture_snapshot


def write(path: Path, obj) -> None:
    path.write_text(json.dumps(obj))


def test_appends_stamped_lines_and_reads_back(tmp_path):
    stats = tmp_path / "worker-a" / "stats.json"
    stats.parent.mkdir()
    hist = tmp_path / "h" / "history.jsonl"
    for i, when in enumerate(["2026-10-01T13:00:00Z", "2026-10-01T13:15:00.250000+00:00"]):
        write(stats, {"jobs_processed": 10 + i, "jobs_succeeded": 10 + i, "new_key": [1]})
        capture_snapshot(stats, hist, now=when)
    lines = [json.loads(x) for x in hist.read_text().splitlines()]
    assert [x["snapshot_at"] for x in lines] == ["2026-10-01T13:00:00Z",
                                                  "2026-10-01T13:15:00.250000Z"]
    assert [x["source"] for x in lines] == ["worker-a", "worker-a"]
    assert lines[0]["new_key"] == [1]  # unknown keys captured as they are
    data = read_snapshots(hist)
    assert data.snapshots["jobs_processed"].tolist() == [10, 11]
    assert data.snapshots["time_from"].astype(str).tolist() == ["field", "field"]
    assert data.issues.empty


def test_values_are_captured_as_read_even_inflated(tmp_path):
    stats = tmp_path / "stats.json"
    stats.write_text('{"jobs_processed": 100000000000000000000000000000000, "jobs_failed": -1}')
    hist = tmp_path / "h.jsonl"
    capture_snapshot(stats, hist, source="w", now="2026-10-01T00:00:00Z")
    rec = json.loads(hist.read_text())
    assert rec["jobs_processed"] == 10**32 and rec["jobs_failed"] == -1


def test_torn_read_is_retried_not_recorded(tmp_path):
    stats = tmp_path / "stats.json"
    stats.write_text('{"jobs_processed": 5, "jobs_succ')  # the worker is mid-rewrite

    def finish():
        time.sleep(0.15)
        write(stats, {"jobs_processed": 6, "jobs_succeeded": 6})

    t = threading.Thread(target=finish)
    t.start()
    hist = tmp_path / "h.jsonl"
    capture_snapshot(stats, hist, source="w", retry_delay=0.1, retries=10)
    t.join()
    assert json.loads(hist.read_text())["jobs_processed"] == 6


def test_still_torn_after_retries_raises_and_appends_nothing(tmp_path):
    stats = tmp_path / "stats.json"
    stats.write_text("")
    hist = tmp_path / "h.jsonl"
    with pytest.raises(StatsFileError, match=r"stats\.json: empty .* after 3 reads"):
        capture_snapshot(stats, hist, retries=2, retry_delay=0.01)
    assert not hist.exists()
    stats.write_text("[1, 2]")
    with pytest.raises(StatsFileError, match="expected a JSON object, found list"):
        capture_snapshot(stats, hist, retries=0)
    with pytest.raises(StatsFileError, match="no such file"):
        capture_snapshot(tmp_path / "missing.json", hist, retries=0)


def test_steps_over_a_torn_tail(tmp_path):
    stats = tmp_path / "stats.json"
    write(stats, {"jobs_processed": 1})
    hist = tmp_path / "h.jsonl"
    hist.write_text('{"jobs_processed": 0, "snapshot_at": "2026-10-01T00:00:00Z"}\n{"jobs_pro')
    capture_snapshot(stats, hist, source="w", now="2026-10-01T01:00:00Z")
    lines = hist.read_text().splitlines()
    assert lines[1] == '{"jobs_pro'
    assert json.loads(lines[2])["jobs_processed"] == 1
    data = read_snapshots(hist)
    assert data.snapshots["jobs_processed"].tolist() == [0, 1]
    assert data.issues[["line", "kind"]].astype(str).values.tolist() == [["2", "torn_line"]]


def test_concurrent_captures_never_interleave(tmp_path):
    stats = tmp_path / "stats.json"
    write(stats, {"jobs_processed": 1, "pad": "x" * 20000})  # lines far above PIPE_BUF
    hist = tmp_path / "h.jsonl"
    threads = [threading.Thread(target=capture_snapshot, args=(stats, hist),
                                kwargs={"source": f"w{i}"}) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = hist.read_text().splitlines()
    assert sorted(json.loads(x)["source"] for x in lines) == [f"w{i}" for i in range(8)]


def test_never_writes_to_the_stats_file(tmp_path):
    stats = tmp_path / "stats.json"
    write(stats, {"jobs_processed": 1})
    before = (stats.read_bytes(), stats.stat().st_mtime_ns)
    capture_snapshot(stats, tmp_path / "h.jsonl", source="w")
    assert (stats.read_bytes(), stats.stat().st_mtime_ns) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.jsonl", "h.jsonl.lock",
                                                          "stats.json"]
