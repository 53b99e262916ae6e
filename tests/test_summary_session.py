"""batch_summary with no increment in the window: session totals (issue 12 item 2) and the
STALE line (issue 12 item 6), on a hand-written stats.json, hand-made frames and data/."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest
from frames import errors_for, hours, snap, snapshots, utc

import syncstats
from syncstats.analysis import batch_summary
from syncstats.analysis._util import wilson
from syncstats.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"

#: One live stats.json, as SyncStats.save_to_file writes it: 46 attempts since
#: session_start 2026-10-01 02:00 UTC (epoch 1790820000).
STATS = {
    "jobs_processed": 46,
    "jobs_succeeded": 41,
    "jobs_failed": 5,
    "jobs_to_dlq": 2,
    "total_processing_time": 23.0,
    "session_start": 1790820000.0,
    "errors_by_type": {"PlexNotFound": 3, "PlexTemporaryError": 2},
    "high_confidence_matches": 39,
    "low_confidence_matches": 2,
}
MTIME = utc("2026-10-14 07:00")  # the file's mtime: a bare stats.json has no capture time


@pytest.fixture
def one_file(tmp_path: Path) -> Path:
    path = tmp_path / "worker-x" / "stats.json"
    path.parent.mkdir()
    path.write_text(json.dumps(STATS, indent=2) + "\n")
    os.utime(path, (MTIME.timestamp(), MTIME.timestamp()))
    return path


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def test_one_stats_json_gives_its_totals_since_session_start(one_file: Path):
    data = syncstats.load(one_file.parent.parent)
    snaps = data.snapshots
    assert len(snaps) == 1 and snaps["time_from"].astype(str).tolist() == ["mtime"]
    assert snaps["snapshot_at"].tolist() == [MTIME]
    assert len(syncstats.increments(snaps)) == 0  # increments need two snapshots

    s = batch_summary(data, window="7d", now="latest")
    assert s.basis == "session" and s.stale is None and s.previous is None
    assert (s.processed, s.succeeded, s.failed, s.to_dlq) == (46, 41, 5, 2)
    assert (s.high_confidence, s.low_confidence) == (39, 2)
    assert s.avg_processing_time == pytest.approx(23.0 / 46)
    rate, low, high = wilson(41, 46)
    assert (s.success_rate, s.success_low, s.success_high) == pytest.approx(
        (float(rate), float(low), float(high)))
    assert list(zip(s.top_errors["error_type"], s.top_errors["count"], strict=True)) == [
        ("PlexNotFound", 3), ("PlexTemporaryError", 2)]
    assert s.top_errors["share"].tolist() == pytest.approx([0.6, 0.4])
    row = s.session.iloc[0]
    assert (row["source"], row["snapshots"], row["time_from"], row["n"]) == (
        "worker-x", 1, "mtime", 46)
    assert row["session_start"] == utc("2026-10-01 02:00")
    assert row["session_age"] == pd.Timedelta(days=13, hours=5)

    text = str(s)
    lines = text.splitlines()
    assert "0/0" not in text
    assert lines[0].startswith("syncstats batch summary — totals since session start, "
                               "not a window (no increments in 2026-10-07 07:00 → ")
    assert lines[2] == (f"Sync summary: 41/46 succeeded ({pct(rate)}, 95% CI {pct(low)}–"
                        f"{pct(high)}), avg 500ms, confidence: 39 high / 2 low")
    assert lines[3] == ("  since session start 2026-10-01 02:00 UTC (13d 5h ago), not a "
                        "window: only one snapshot (increments need two); its time is the "
                        "file's mtime")
    assert ("Top errors (since session start): PlexNotFound 3 (60.0%), "
            "PlexTemporaryError 2 (40.0%)") in lines
    cmd = (f"syncstats snapshot {one_file} --history /var/lib/syncstats/worker-x/history.jsonl "
           "--source worker-x")
    assert f"  {cmd}" in lines and f"  cron: */15 * * * * {cmd} --quiet" in lines

    d = json.loads(json.dumps(s.to_dict(), allow_nan=False))
    assert (d["basis"], d["processed"], d["succeeded"], d["stale"]) == ("session", 46, 41, None)
    assert d["success_rate"] == pytest.approx(41 / 46)
    [sess] = d["session"]
    assert sess["session_age_seconds"] == 13 * 86400 + 5 * 3600
    assert (sess["n"], sess["successes"], sess["failures"], sess["to_dlq"]) == (46, 41, 5, 2)
    assert sess["session_start"].startswith("2026-10-01T02:00:00")
    assert [(e["error_type"], e["count"]) for e in d["session_errors"]] == [
        ("PlexNotFound", 3), ("PlexTemporaryError", 2)]
    assert d["capture_history"] == [f"*/15 * * * * {cmd} --quiet"]

    md, page = re.sub(r"\\(.)", r"\1", s.to_markdown()), s._repr_html_()  # unescape md
    for out in (md, page):
        assert "0/0" not in out and "41/46 succeeded" in out
        assert "since session start 2026-10-01 02:00 UTC (13d 5h ago), not a window" in out
        assert "*/15 * * * *" in out


def test_one_stats_json_through_the_cli(one_file: Path, capsys):
    assert main(["summary", str(one_file.parent.parent), "--window", "7d",
                 "--now", "latest"]) == 0
    out = capsys.readouterr().out
    assert "Sync summary: 41/46 succeeded" in out and "0/0" not in out
    assert main(["summary", str(one_file.parent.parent), "--window", "7d", "--now",
                 "2026-11-25T07:00Z", "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["processed"] == 46 and d["basis"] == "session"
    assert d["stale"]["message"] == (
        "STALE: latest data 2026-10-14 07:00 UTC is 42d old, older than the 7d window — "
        "pass --now latest to analyse the latest data")


def mixed() -> syncstats.SyncData:
    """a: hourly history over 2 days (10 attempts/h, 1 failure); x: one snapshot;
    b: two snapshots, both a day before the window."""
    rows = [snap(hours(h), 10 * h, h, source="a") for h in range(49)]
    rows.append(snap(hours(47.5), 46, 5, 2, 2, source="x", session=utc("2026-10-01 02:00"),
                     tpt=23.0))
    rows += [snap(hours(h), 100 + h, 10, source="b") for h in (1, 2)]
    s = snapshots(rows)
    counts = [{"PlexNotFound": int(r.jobs_failed)} if r.source != "x" else
              {"PlexNotFound": 3, "PlexTemporaryError": 2} for r in s.itertuples()]
    return syncstats.SyncData(snapshots=s, errors=errors_for(s, counts))


def test_mixed_headline_is_the_window_and_session_totals_stand_apart():
    s = batch_summary(mixed(), window="24h")  # 2026-10-02 00:00 → 2026-10-03 00:00
    assert s.basis == "window" and s.stale is None
    # the headline is a's window only: 24 intervals of 10 attempts, 1 failure
    assert (s.processed, s.succeeded, s.failed) == (240, 216, 24)
    assert s.per_source["source"].tolist() == ["a"]
    assert s.session["source"].tolist() == ["b", "x"]
    b, x = (r for _, r in s.session.iterrows())
    assert (x["n"], x["successes"], x["snapshots"], x["snapshot_at"]) == (46, 41, 1, hours(47.5))
    assert x["session_age"] == hours(47.5) - utc("2026-10-01 02:00")
    assert (b["n"], b["successes"], b["snapshots"], b["snapshot_at"]) == (102, 92, 2, hours(2))
    errs = s.session_errors
    assert list(zip(errs["source"], errs["error_type"], errs["count"], strict=True)) == [
        ("b", "PlexNotFound", 10), ("x", "PlexNotFound", 3), ("x", "PlexTemporaryError", 2)]

    lines = str(s).splitlines()
    assert lines[2].startswith("Sync summary: 216/240 succeeded")
    assert lines[3] == "  window totals of a; since session start below: b, x"
    i = lines.index("Since session start, not in the window totals above:")
    assert lines[i + 1].startswith("  b: 92/102 succeeded (")
    assert lines[i + 1].endswith(") since session start 2026-09-30 00:00 UTC (1d 2h before the "
                                 "snapshot of 2026-10-01 02:00 UTC), not a window; no "
                                 "increment in the window (latest snapshot 2026-10-01 "
                                 "02:00 UTC)")
    assert lines[i + 2] == "    errors: PlexNotFound 10 (100.0%)"
    assert lines[i + 3].startswith("  x: 41/46 succeeded (")
    assert "(1d 21h 30m before the snapshot of 2026-10-02 23:30 UTC)" in lines[i + 3]
    assert "only one snapshot (increments need two)" in lines[i + 3]
    # a capture hint for x only (b has a history; it just stopped before the window)
    hints = [line for line in lines if line.startswith("  syncstats snapshot")]
    assert hints == ["  syncstats snapshot /path/stats.json "
                     "--history /var/lib/syncstats/x/history.jsonl --source x"]
    md = s.to_markdown()
    assert "Since session start, not in the window totals above:" in md
    assert "| x | 46 | 41 |" in md and "| a | 240 | 216 |" in md


def test_latest_usable_snapshot_is_taken():
    # the newest snapshot is invalid (a negative counter): the one before it is used
    rows = [snap(hours(0), 46, 5, source="x"), snap(hours(1), 50, 5, source="x"),
            snap(hours(2), -1, 0, source="x")]
    rows[2]["jobs_processed"] = -1
    s = snapshots(rows)
    data = syncstats.SyncData(snapshots=s)
    summary = batch_summary(data, window="10min", now=hours(2))  # no interval ends in it
    assert summary.basis == "session"
    assert summary.session[["n", "snapshots"]].values.tolist() == [[50, 2]]
    assert summary.session["snapshot_at"].tolist() == [hours(1)]
    assert summary.processed == 50
    # a later snapshot is not there yet at *now*
    early = batch_summary(data, window="10min", now=hours(0.5))
    assert early.session[["n", "snapshots"]].values.tolist() == [[46, 1]]


def test_stale_line_comes_first():
    data = mixed()
    s = batch_summary(data, window="7d", now="2026-11-14 00:00")
    msg = ("STALE: latest data 2026-10-03 00:00 UTC is 42d old, older than the 7d window — "
           "pass --now latest to analyse the latest data")
    assert s.stale["message"] == msg
    assert s.stale["latest"] == hours(48) and s.stale["age"] == pd.Timedelta(days=42)
    assert str(s).splitlines()[0] == msg
    assert s.to_markdown().splitlines()[0] == f"**{msg}**"
    assert s._repr_html_().startswith(f'<div class="syncstats-summary"><p><b>{msg}</b></p>')
    d = s.to_dict()
    assert d["stale"] == {"latest": "2026-10-03T00:00:00+00:00", "age_seconds": 42 * 86400,
                          "message": msg}
    # no increment in the window: every source's latest snapshot, since session start
    assert s.basis == "session" and s.session["source"].tolist() == ["a", "b", "x"]
    assert s.processed == 480 + 102 + 46


def test_stale_boundary_and_when_not_stale():
    data = mixed()
    at_start = batch_summary(data, window="7d", now=hours(48) + pd.Timedelta("7D"))
    assert at_start.stale is not None  # a snapshot at the window's start is not in it
    inside = batch_summary(data, window="7d", now=hours(48) + pd.Timedelta("7D")
                           - pd.Timedelta("1s"))
    assert inside.stale is None and inside.basis == "window"
    assert batch_summary(data, window="7d", now="latest").stale is None
    assert batch_summary(data, now="2026-11-14").stale is None  # no window: all data
    assert not str(batch_summary(data, window="7d")).startswith("STALE")


def test_stale_without_now_when_only_the_dlq_is_recent():
    from frames import dlq, dlq_entry

    base = mixed()
    data = syncstats.SyncData(snapshots=base.snapshots, errors=base.errors,
                              dlq=dlq([dlq_entry(1, hours(48 + 24 * 10), source="a")]))
    s = batch_summary(data, window="7d")
    assert s.end == hours(48 + 240)
    assert s.stale["message"] == (
        "STALE: latest data 2026-10-03 00:00 UTC is 10d old, older than the 7d window — "
        "no snapshot since; is the worker (or its snapshot capture) still running?")


@pytest.fixture(scope="module")
def sample():
    return syncstats.load(DATA)


def test_sample_data_stale_session_totals_equal_the_latest_files(sample):
    s = batch_summary(sample, window="7d", now="2026-12-03T13:35Z")
    assert s.stale["message"] == (
        "STALE: latest data 2026-10-22 00:00 UTC is 42d 13h old, older than the 7d window — "
        "pass --now latest to analyse the latest data")
    assert s.basis == "session"
    files = {"worker-a": DATA / "worker-a/snapshots/stats-20261022T000000Z.json",
             "worker-b": DATA / "worker-b/snapshots/stats-2026-10-22T02:00:00+02:00.json"}
    for source, path in files.items():
        raw = json.loads(path.read_text())
        row = s.session.set_index("source").loc[source]
        assert row["snapshot_at"] == utc("2026-10-22 00:00")
        assert (row["n"], row["successes"], row["failures"], row["to_dlq"]) == (
            raw["jobs_processed"], raw["jobs_succeeded"], raw["jobs_failed"], raw["jobs_to_dlq"])
        expected = pd.Timestamp(raw["session_start"], unit="s", tz="UTC")
        assert abs(row["session_start"] - expected) < pd.Timedelta("1us")
        errs = s.session_errors[s.session_errors["source"] == source]
        assert dict(zip(errs["error_type"], errs["count"], strict=True)) == {
            k: v for k, v in raw["errors_by_type"].items() if v}
    assert s.processed == sum(json.loads(p.read_text())["jobs_processed"]
                              for p in files.values())
    # with --now latest the same data has a window: no session fallback, not stale
    latest = batch_summary(sample, window="7d", now="latest")
    assert latest.basis == "window" and latest.stale is None and latest.session.empty
    assert latest.processed == 3074


@pytest.mark.parametrize("kwargs", [{"window": "24h"}, {"window": "7d", "now": "2026-11-14"},
                                    {"window": "7d"}, {}])
def test_dask_equals_pandas_with_session_totals_and_stale(kwargs):
    dask = pytest.importorskip("dask")
    from syncstats import fleet

    data = mixed()
    with dask.config.set(scheduler="synchronous"):  # no cluster: one process, in order
        lazy = fleet.from_syncdata(data, npartitions=2)
        got = batch_summary(lazy, **kwargs).to_dict()
    want = batch_summary(data, **kwargs).to_dict()
    assert got == want
    assert len(want["session"]) >= 1


def test_scope_says_what_the_headline_covers(one_file: Path):
    data = syncstats.load(one_file.parent.parent)
    assert batch_summary(data, window="7d", now="latest").scope == (
        "since session start 2026-10-01 02:00 UTC (13d 5h ago), not a window")
    assert batch_summary(mixed(), window="24h").scope == (
        "2026-10-02 00:00 → 2026-10-03 00:00 UTC (1d)")
    assert batch_summary(mixed(), window="7d", now="2026-11-14").scope == (
        "since each source's session start (see below), not a window")
    page = batch_summary(data, window="7d", now="latest")._repr_html_()
    assert "<th>since</th>" not in page and page.count("<table>") == 2  # no empty tables
    assert "not a window: only one snapshot (increments need two)" in page


def test_unknown_session_start_is_said():
    data = syncstats.SyncData(snapshots=snapshots([snap(hours(3), 46, 5, source="x",
                                                        session=None)]))
    s = batch_summary(data, window="1h")
    assert s.basis == "session" and s.processed == 46
    assert pd.isna(s.session["session_age"].iloc[0])
    assert str(s).splitlines()[3] == ("  since session start (unknown), not a window: only one "
                                      "snapshot (increments need two)")
    assert s.to_dict()["session"][0]["session_age_seconds"] is None
