"""Issue 13: one plausibility window (2000-01-01 up to 2100-01-01 UTC) for every time column.

Each reader is given hand-made times just inside and outside the window (and the years
1, 1970, 2263 and 9999): inside loads, outside is the reader's existing handling of an
unusable time in that column (an issue; never silently kept, never silently dropped).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import syncstats
from syncstats import StatsFileError, read_dlq, read_log, read_snapshots
from syncstats._time import (
    EARLIEST,
    EPOCH_LIMIT,
    EPOCH_MIN,
    LATEST,
    parse_time_value,
    plausible,
    to_utc,
)
from syncstats.exceptions import ParameterError
from syncstats.recording import DLQ_SCHEMA, validate_stats_dict
from syncstats.recording.capture import capture_snapshot

INSIDE = ["2000-01-01T00:00:00Z", "2099-12-31T23:59:59Z", "2026-10-01T00:00:00Z"]
OUTSIDE = ["1999-12-31T23:59:59Z", "2100-01-01T00:00:00Z", "0001-01-01T00:00:00Z",
           "1970-01-01T00:00:00Z", "2263-01-01T00:00:00Z", "9999-01-01T00:00:00Z"]
EPOCH_INSIDE = [946684800, 946684800.0, 4102444799, 4102444799.5]
EPOCH_OUTSIDE = [0, 0.0, 946684799, 946684799.5, 4102444800, 1e11, -1]


def kinds(data) -> list[tuple[int | None, str]]:
    issues = data.issues
    return [(None if pd.isna(line) else int(line), str(kind))
            for line, kind in zip(issues["line"], issues["kind"], strict=True)]


# --------------------------------------------------------------------------------------
# The window itself
# --------------------------------------------------------------------------------------


def test_constants_and_helper():
    assert EARLIEST == pd.Timestamp("2000-01-01T00:00:00Z")
    assert LATEST == pd.Timestamp("2100-01-01T00:00:00Z")
    assert (EPOCH_MIN, EPOCH_LIMIT) == (946_684_800, 4_102_444_800)
    stamps = pd.Series(pd.to_datetime(INSIDE + OUTSIDE[:2] + [None], utc=True))
    assert plausible(stamps).tolist() == [True] * 3 + [False] * 3
    assert plausible(pd.DatetimeIndex(stamps)).tolist() == [True] * 3 + [False] * 3
    assert [plausible(v) for v in EPOCH_INSIDE] == [True] * len(EPOCH_INSIDE)
    assert [plausible(v) for v in EPOCH_OUTSIDE] == [False] * len(EPOCH_OUTSIDE)
    assert plausible(np.array([np.nan, EPOCH_MIN])).tolist() == [False, True]
    assert plausible(np.array([EPOCH_MIN * 10**6 - 1, EPOCH_MIN * 10**6]), unit="us").tolist() \
        == [False, True]
    assert not plausible(pd.NaT)


@pytest.mark.parametrize("text", OUTSIDE + ["1999-12-31T23:59:59.999999Z",
                                            "2000-01-01T00:59:59+01:00"])
def test_iso_strings_outside_the_window_are_no_times(text):
    assert parse_time_value(text) is None


@pytest.mark.parametrize("text", INSIDE + ["2000-01-01T01:00:00+01:00",
                                           "2099-12-31T23:59:59.999999Z"])
def test_iso_strings_inside_the_window_are_times(text):
    assert plausible(parse_time_value(text))


def test_to_utc_epoch_numbers_use_the_window():
    assert to_utc(EPOCH_MIN, "now") == EARLIEST
    with pytest.raises(ParameterError, match="2000-01-01..2100-01-01"):
        to_utc(0, "--now")


def test_no_copy_of_the_numbers_in_the_package():
    root = Path(syncstats.__file__).parent
    pattern = re.compile(r"1e11|10\s*\*\*\s*11|Timestamp\(0\b|5138")
    found = [f"{p.relative_to(root)}:{i}" for p in root.rglob("*.py")
             for i, text in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if pattern.search(text)]
    assert found == []


# --------------------------------------------------------------------------------------
# Histories: snapshot_at and session_start
# --------------------------------------------------------------------------------------

GOOD = {"jobs_processed": 10, "jobs_succeeded": 9, "jobs_failed": 1, "jobs_to_dlq": 0,
        "high_confidence_matches": 9, "low_confidence_matches": 0,
        "total_processing_time": 5.0, "session_start": 1790812800.0,
        "errors_by_type": {"PlexNotFound": 1}}


def write_history(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.mark.parametrize("when", OUTSIDE + [0, 946684799, 4102444800])
def test_history_line_outside_the_window_is_an_issue(tmp_path, when):
    """The issue's reproduction: syncstats.load of such a history loads no snapshot."""
    hist = write_history(tmp_path / "w" / "history.jsonl",
                         [{**GOOD, "snapshot_at": "2026-10-01T00:00:00Z"},
                          {**GOOD, "snapshot_at": when}])
    data = syncstats.load(hist)
    assert len(data.snapshots) == 1
    assert kinds(data) == [(2, "bad_time")]
    assert plausible(data.snapshots["snapshot_at"]).all()


@pytest.mark.parametrize("when", INSIDE + EPOCH_INSIDE)
def test_history_line_inside_the_window_loads(tmp_path, when):
    hist = write_history(tmp_path / "w" / "history.jsonl", [{**GOOD, "snapshot_at": when}])
    data = read_snapshots(hist)
    assert len(data.snapshots) == 1
    assert kinds(data) == []


@pytest.mark.parametrize("start", [0, 0.0, 946684799, 946684799.5, 4102444800, -1.0])
def test_session_start_outside_the_window_is_nat_and_an_issue(tmp_path, start):
    hist = write_history(tmp_path / "w" / "history.jsonl",
                         [{**GOOD, "snapshot_at": "2026-10-01T00:00:00Z",
                           "session_start": start}])
    data = read_snapshots(hist)
    assert len(data.snapshots) == 1
    assert pd.isna(data.snapshots["session_start"].iloc[0])
    assert kinds(data) == [(1, "bad_value")]
    assert "not epoch seconds within 2000-01-01..2100-01-01 UTC" in data.issues["detail"][0]


@pytest.mark.parametrize("start", [946684800, 4102444799.5])
def test_session_start_inside_the_window_is_kept(tmp_path, start):
    hist = write_history(tmp_path / "w" / "history.jsonl",
                         [{**GOOD, "snapshot_at": "2026-10-01T00:00:00Z",
                           "session_start": start}])
    data = read_snapshots(hist)
    assert data.snapshots["session_start"].iloc[0] == pd.Timestamp(start, unit="s", tz="UTC")
    assert kinds(data) == []


# --------------------------------------------------------------------------------------
# Snapshot copies: the field, the file name, the mtime
# --------------------------------------------------------------------------------------

MTIME = 1_790_870_400  # 2026-10-01T16:00:00Z


def write_copy(d: Path, name: str, obj: dict, mtime: float = MTIME) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    path = d / name
    path.write_text(json.dumps(obj), encoding="utf-8")
    os.utime(path, (mtime, mtime))
    return path


@pytest.mark.parametrize("stamp", ["19700101T000000Z", "19991231T235959Z", "21000101T000000Z",
                                   "00010101T000000Z", "22630101T000000Z", "99990101T000000Z",
                                   "2000-01-01T00:59:59+01:00"])
def test_copy_name_outside_the_window_falls_back_to_the_mtime(tmp_path, stamp):
    write_copy(tmp_path / "w", f"stats-{stamp}.json", GOOD)
    data = read_snapshots(tmp_path / "w")
    assert data.snapshots["time_from"].tolist() == ["mtime"]
    assert data.snapshots["snapshot_at"].tolist() == [pd.Timestamp(MTIME, unit="s", tz="UTC")]
    assert [k for _, k in kinds(data)] == ["bad_time", "time_from_mtime"]


@pytest.mark.parametrize("stamp", ["20000101T000000Z", "20991231T235959Z"])
def test_copy_name_inside_the_window_is_used(tmp_path, stamp):
    write_copy(tmp_path / "w", f"stats-{stamp}.json", GOOD)
    data = read_snapshots(tmp_path / "w")
    assert data.snapshots["time_from"].tolist() == ["filename"]
    assert kinds(data) == []


def test_copy_field_outside_the_window_falls_back_to_the_name(tmp_path):
    write_copy(tmp_path / "w", "stats-20261001T130000Z.json",
               {**GOOD, "snapshot_at": "1970-01-01T00:00:00Z"})
    data = read_snapshots(tmp_path / "w")
    assert data.snapshots["time_from"].tolist() == ["filename"]
    assert data.snapshots["snapshot_at"].tolist() == [pd.Timestamp("2026-10-01T13:00Z")]
    assert kinds(data) == [(None, "bad_time")]


@pytest.mark.parametrize("mtime", [0, 946684799, 4102444800])
def test_copy_mtime_outside_the_window_is_an_issue(tmp_path, mtime):
    write_copy(tmp_path / "w", "notime.json", GOOD, mtime=mtime)
    data = read_snapshots(tmp_path / "w")
    assert len(data.snapshots) == 0
    assert kinds(data) == [(None, "bad_time")]


# --------------------------------------------------------------------------------------
# Host logs: file and console forms
# --------------------------------------------------------------------------------------

WORKER = "[Plugin / Stash2Plex] [Stash2Plex Worker] "
PAYLOAD = json.dumps({"processed": 5, "succeeded": 5, "avg_time_ms": 100})


def file_line(when: str) -> str:
    msg = json.dumps(WORKER + "Stats: " + PAYLOAD)
    return f'time="{when}" level=info msg={msg}'


def console_line(when: str) -> str:
    return f"INFO[{when}] {WORKER}Stats: {PAYLOAD}"


LOG_OUTSIDE = ["1999-12-31 23:59:59", "2100-01-01 00:00:00", "0001-01-01 00:00:00",
               "1970-01-01 00:00:00", "1970-01-02 00:00:00", "2263-01-01 00:00:00",
               "9999-01-01 00:00:00", "1999-12-31T23:59:59Z", "2000-01-01T00:30:00+01:00"]
LOG_INSIDE = ["2000-01-01 00:00:00", "2099-12-31 23:59:59", "2026-10-01 02:19:57",
              "1999-12-31T23:30:00-01:00"]


@pytest.mark.parametrize("form", [file_line, console_line], ids=["file", "console"])
@pytest.mark.parametrize("when", LOG_OUTSIDE)
def test_log_time_outside_the_window_is_an_issue(tmp_path, form, when):
    path = tmp_path / "w" / "host.log"
    path.parent.mkdir()
    path.write_text(form("2026-10-01 02:19:57") + "\n" + form(when) + "\n", encoding="utf-8")
    data = read_log(path, tz="UTC")
    assert len(data.snapshots) == 1
    assert kinds(data) == [(2, "bad_time")]
    assert "outside 2000-01-01..2100-01-01 UTC" in data.issues["detail"][0]


@pytest.mark.parametrize("form", [file_line, console_line], ids=["file", "console"])
@pytest.mark.parametrize("when", LOG_INSIDE)
def test_log_time_inside_the_window_loads(tmp_path, form, when):
    path = tmp_path / "w" / "host.log"
    path.parent.mkdir()
    path.write_text(form(when) + "\n", encoding="utf-8")
    data = read_log(path, tz="UTC")
    assert len(data.snapshots) == 1
    assert kinds(data) == []


def test_log_zone_conversion_decides_at_the_edges(tmp_path):
    """Local times are judged after conversion to UTC: 2000-01-01 00:30 in Berlin is
    1999-12-31 23:30 UTC (outside); 1999-12-31 20:00 in New York is 2000-01-01 01:00 UTC."""
    path = tmp_path / "w" / "host.log"
    path.parent.mkdir()
    path.write_text(console_line("2000-01-01 00:30:00") + "\n", encoding="utf-8")
    assert kinds(read_log(path, tz="Europe/Berlin")) == [(1, "bad_time")]
    path.write_text(console_line("1999-12-31 20:00:00") + "\n", encoding="utf-8")
    data = read_log(path, tz="America/New_York")
    assert data.snapshots["snapshot_at"].tolist() == [pd.Timestamp("2000-01-01T01:00Z")]


# --------------------------------------------------------------------------------------
# DLQ rows
# --------------------------------------------------------------------------------------


def make_dlq(path: Path, times: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute(DLQ_SCHEMA)
    conn.executemany(
        "INSERT INTO dead_letters (id, job_id, scene_id, job_data, error_type, error_message, "
        "stack_trace, retry_count, failed_at) VALUES (?, ?, ?, NULL, 'PlexNotFound', 'm', '', "
        "3, ?)",
        [(i, 100 + i, 1900 + i, t) for i, t in enumerate(times, 1)])
    conn.commit()
    conn.close()
    return path


@pytest.mark.parametrize("when", ["0001-01-01 00:00:00", "1970-01-01 00:00:00",
                                  "1999-12-31 23:59:59", "2100-01-01 00:00:00",
                                  "2263-01-01 00:00:00", "9999-12-31 23:59:59"])
def test_dlq_failed_at_outside_the_window_is_nat_and_an_issue(tmp_path, when):
    db = make_dlq(tmp_path / "w" / "dlq.db", ["2026-10-01 12:00:00", when])
    data = read_dlq(db)
    dlq = data.dlq.set_index("id")
    assert dlq["failed_at"].isna().tolist() == [False, True]
    assert kinds(data) == [(2, "bad_time")]


def test_dlq_failed_at_at_the_window_edges_loads(tmp_path):
    db = make_dlq(tmp_path / "w" / "dlq.db", ["2000-01-01 00:00:00", "2099-12-31 23:59:59"])
    data = read_dlq(db)
    assert data.dlq["failed_at"].notna().all()
    assert kinds(data) == []


# --------------------------------------------------------------------------------------
# The capture check
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("start", [0, 946684799, 4102444800])
def test_capture_refuses_a_session_start_outside_the_window(tmp_path, start):
    stats = tmp_path / "worker" / "stats.json"
    stats.parent.mkdir()
    stats.write_text(json.dumps({"jobs_processed": 1, "session_start": start}))
    hist = tmp_path / "h.jsonl"
    with pytest.raises(StatsFileError, match="session_start.* is not a plausible epoch time"):
        capture_snapshot(stats, hist, source="w", now="2026-10-01T01:00:00Z")
    assert not hist.exists()
    with pytest.raises(ValueError, match="not a plausible epoch time"):
        validate_stats_dict({"session_start": start})


def test_capture_refuses_a_capture_time_outside_the_window(tmp_path):
    stats = tmp_path / "worker" / "stats.json"
    stats.parent.mkdir()
    stats.write_text(json.dumps({"jobs_processed": 1, "session_start": 1790812800}))
    hist = tmp_path / "h.jsonl"
    with pytest.raises(StatsFileError, match="capture time 1970-01-01.* is outside"):
        capture_snapshot(stats, hist, source="w", now="1970-01-01T00:00:00Z")
    assert not hist.exists()
    capture_snapshot(stats, hist, source="w", now="2000-01-01T00:00:00Z")
    assert len(read_snapshots(hist).snapshots) == 1
