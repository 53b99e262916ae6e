"""capture_snapshot: the cron-side append of stats.json to a JSON Lines history."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from samples import FORMATS_EXAMPLE

from syncstats import StatsFileError, audit, read_snapshots
from syncstats.recording.capture import capture_snapshot


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
    # absent counters: the arrow engine leaves the file to the reference (a caveat)
    assert set(data.issues["kind"].astype(str)) <= {"engine_fallback"}




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


# == validation: capture refuses what the readers would not load as a plausible snapshot ==========

HISTORY_BEFORE = (
    b'{"jobs_processed": 0, "snapshot_at": "2026-10-01T00:00:00Z", "source": "w"}\n{"jobs_pro'
)

REFUSED = [
    # counters
    pytest.param(b'{"jobs_processed": "x"}',
                 "jobs_processed must be an integer, found str 'x'", id="str-counter"),
    pytest.param(b'{"jobs_processed": 5, "jobs_failed": -1}', "jobs_failed is negative (-1)",
                 id="negative"),
    pytest.param(b'{"jobs_processed": 1.5}', "jobs_processed must be an integer, found 1.5",
                 id="fraction"),
    pytest.param(b'{"jobs_processed": true}', "jobs_processed must be an integer, found bool",
                 id="bool"),
    pytest.param(b'{"jobs_processed": null}', "jobs_processed must be an integer, found NoneType",
                 id="null"),
    pytest.param(b'{"jobs_to_dlq": [3]}', "jobs_to_dlq must be an integer, found list",
                 id="list-counter"),
    pytest.param(b'{"jobs_processed": 10000001}',
                 "jobs_processed=10000001 is above the sanity ceiling 10,000,000", id="ceiling"),
    pytest.param(b'{"jobs_processed": 100000000000000000000000000000000}',
                 "jobs_processed=100000000000000000000000000000000 is above the sanity ceiling",
                 id="doubled-1e32"),
    pytest.param(b'{"high_confidence_matches": 1e400}',
                 "high_confidence_matches must be an integer, found inf", id="inf-counter"),
    # total_processing_time
    pytest.param(b'{"jobs_processed": 1, "total_processing_time": NaN}',
                 "total_processing_time must be a finite number, found nan", id="nan-time"),
    pytest.param(b'{"jobs_processed": 1, "total_processing_time": -0.5}',
                 "total_processing_time is negative (-0.5)", id="negative-time"),
    pytest.param(b'{"jobs_processed": 1, "total_processing_time": "1.0"}',
                 "total_processing_time must be a number, found str '1.0'", id="str-time"),
    # session_start: the readers' window, 2000-01-01 up to 2100-01-01 UTC
    pytest.param(b'{"jobs_processed": 1, "session_start": 1e11}',
                 "session_start=100000000000.0 is not a plausible epoch time", id="start-1e11"),
    pytest.param(b'{"jobs_processed": 1, "session_start": 0}',
                 "session_start=0 is not a plausible epoch time", id="start-0"),
    pytest.param(b'{"jobs_processed": 1, "session_start": 946684799.5}',
                 "session_start=946684799.5 is not a plausible epoch time", id="start-1999"),
    pytest.param(b'{"jobs_processed": 1, "session_start": 4102444800}',
                 "session_start=4102444800 is not a plausible epoch time", id="start-2100"),
    pytest.param(b'{"jobs_processed": 1, "session_start": 1759017612500}',
                 "session_start=1759017612500 is not a plausible epoch time", id="start-millis"),
    pytest.param(b'{"jobs_processed": 1, "session_start": -5}', "session_start is negative (-5)",
                 id="start-negative"),
    pytest.param(b'{"jobs_processed": 1, "session_start": "2026-10-01T00:00:00Z"}',
                 "session_start must be a number, found str", id="start-str"),
    pytest.param(b'{"jobs_processed": 1, "session_start": Infinity}',
                 "session_start must be a finite number, found inf", id="start-inf"),
    pytest.param(b'{"jobs_processed": 1, "session_start": true}',
                 "session_start must be a number, found bool", id="start-bool"),
    # errors_by_type: an object of non-negative integers
    pytest.param(b'{"jobs_failed": 1, "errors_by_type": ["PlexNotFound"]}',
                 "errors_by_type must be an object, found list", id="errors-list"),
    pytest.param(b'{"jobs_failed": 1, "errors_by_type": "PlexNotFound"}',
                 "errors_by_type must be an object, found str", id="errors-str"),
    pytest.param(b'{"jobs_failed": 1, "errors_by_type": {"PlexNotFound": -1}}',
                 "errors_by_type['PlexNotFound'] is negative (-1)", id="errors-negative"),
    pytest.param(b'{"jobs_failed": 1, "errors_by_type": {"PlexNotFound": 1.5}}',
                 "errors_by_type['PlexNotFound'] must be an integer, found 1.5",
                 id="errors-fraction"),
    pytest.param(b'{"jobs_failed": 1, "errors_by_type": {"PlexNotFound": "1"}}',
                 "errors_by_type['PlexNotFound'] must be an integer, found str '1'",
                 id="errors-str-count"),
    pytest.param(b'{"jobs_failed": 1, "errors_by_type": {"X": 20000000}}',
                 "errors_by_type['X']=20000000 is above the sanity ceiling", id="errors-ceiling"),
    # not a stats object at all
    pytest.param(b'{"snapshot_at": "2026-10-01T00:00:00Z"}',
                 "none of the stats keys (jobs_processed, ...); not a stats file",
                 id="no-stats-key"),
    pytest.param(b"{}", "none of the stats keys", id="empty-object"),
]


def listing(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(directory.iterdir())}


@pytest.mark.parametrize("existing", [True, False], ids=["history", "no-history"])
@pytest.mark.parametrize(("content", "why"), REFUSED)
def test_implausible_file_is_refused_and_nothing_is_appended(tmp_path, content, why, existing):
    stats = tmp_path / "worker" / "stats.json"
    stats.parent.mkdir()
    stats.write_bytes(content)
    hist_dir = tmp_path / "hist"
    hist_dir.mkdir()
    hist = hist_dir / "h.jsonl"
    if existing:
        hist.write_bytes(HISTORY_BEFORE)
    before = listing(hist_dir)
    with pytest.raises(StatsFileError) as info:
        capture_snapshot(stats, hist, source="w", now="2026-10-01T01:00:00Z")
    message = str(info.value)
    assert message.startswith(f"{stats}: ")
    assert why in message
    assert message.endswith("; nothing captured")
    assert "\n" not in message
    assert info.value.path == str(stats)
    assert listing(hist_dir) == before  # byte-identical, untouched, not even a lock file
    assert stats.read_bytes() == content


def test_a_refused_value_is_not_retried(tmp_path):
    # A parsed object is whole (the worker replaces the file atomically): no re-reads.
    stats = tmp_path / "stats.json"
    stats.write_text('{"jobs_processed": -3}')
    started = time.monotonic()
    with pytest.raises(StatsFileError, match="jobs_processed is negative"):
        capture_snapshot(stats, tmp_path / "h.jsonl", retries=5, retry_delay=5.0)
    assert time.monotonic() - started < 4.0


def test_long_bad_values_give_a_short_line(tmp_path):
    stats = tmp_path / "stats.json"
    write(stats, {"jobs_processed": "x\n" * 10_000, "errors_by_type": {"E\n" * 500: 1}})
    with pytest.raises(StatsFileError) as info:
        capture_snapshot(stats, tmp_path / "h.jsonl")
    assert "\n" not in str(info.value) and len(str(info.value)) < len(str(stats)) + 200


ACCEPTED = [
    pytest.param(FORMATS_EXAMPLE, id="formats-example"),
    pytest.param({"jobs_processed": 5.0, "jobs_succeeded": 5}, id="integral-float"),
    pytest.param({"jobs_processed": 10_000_000}, id="at-the-ceiling"),
    pytest.param({"jobs_processed": 0, "session_start": 946_684_800}, id="start-min"),
    pytest.param({"jobs_processed": 0, "session_start": None}, id="start-null"),
    pytest.param({"jobs_processed": 0, "session_start": 4_102_444_799.5}, id="start-max"),
    pytest.param({"jobs_failed": 0, "errors_by_type": None}, id="errors-null"),
    pytest.param({"jobs_failed": 0, "errors_by_type": {}}, id="errors-empty"),
    pytest.param({"total_processing_time": 0}, id="only-time"),
    pytest.param({"jobs_processed": 1, "jobs_succeeded": 1, "worker_version": "2.1",
                  "nested": {"a": [1, None]}}, id="unknown-keys"),
]


@pytest.mark.parametrize("obj", ACCEPTED)
def test_plausible_files_are_recorded_as_read(tmp_path, obj):
    stats = tmp_path / "stats.json"
    write(stats, obj)
    hist = tmp_path / "h.jsonl"
    rec = capture_snapshot(stats, hist, source="w", now="2026-10-01T13:00:00Z")
    line = json.loads(hist.read_text())
    assert line == rec == {**obj, "snapshot_at": "2026-10-01T13:00:00Z", "source": "w"}
    assert [type(line[k]) for k in obj] == [type(v) for v in obj.values()]  # 5.0 stays 5.0
    data = read_snapshots(hist)
    assert len(data.snapshots) == 1
    # nothing but, where the arrow engine declines the line, its engine_fallback caveat
    assert set(data.issues["kind"].astype(str)) <= {"engine_fallback"}


def test_invariant_violations_are_recorded_and_flagged_by_the_audit(tmp_path):
    # Decision: recorded, not refused. The file is evidence of what the worker wrote;
    # the loader's audit reports the mismatch and the snapshot stays usable.
    stats = tmp_path / "stats.json"
    obj = {"jobs_processed": 10, "jobs_succeeded": 3, "jobs_failed": 2, "jobs_to_dlq": 4,
           "errors_by_type": {"PlexNotFound": 5}, "high_confidence_matches": 1}
    write(stats, obj)
    hist = tmp_path / "h.jsonl"
    capture_snapshot(stats, hist, source="w", now="2026-10-01T13:00:00Z")
    assert json.loads(hist.read_text())["jobs_processed"] == 10
    data = read_snapshots(hist)
    found = audit(data.snapshots, data.errors)
    assert found["check"].tolist() == ["invariant"]  # a warning, not "invalid": still used
    assert found["detail"].tolist() == [
        "succeeded 3 + failed 2 != processed 10; to_dlq 4 > failed 2; "
        "high 1 + low 0 != succeeded 3; sum(errors_by_type) 5 != failed 2"
    ]


def test_cli_refuses_a_bad_file_with_one_line_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"jobs_processed": "x", "jobs_succeeded": 0}')
    hist = tmp_path / "h.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")])
    )}
    for existing in (False, True):
        if existing:
            hist.write_bytes(HISTORY_BEFORE)
        before = listing(tmp_path)
        proc = subprocess.run(
            [sys.executable, "-m", "syncstats", "snapshot", "bad.json", "--history", "h.jsonl"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )
        assert proc.returncode == 2
        assert proc.stdout == ""
        lines = proc.stderr.splitlines()
        assert len(lines) == 1, proc.stderr
        assert "bad.json" in lines[0]
        assert "jobs_processed must be an integer, found str 'x'" in lines[0]
        assert listing(tmp_path) == before
        assert hist.exists() is existing
