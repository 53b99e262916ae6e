"""read_log on hand-written host log excerpts (tests/fixtures/logs) and inline lines."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import syncstats
from syncstats import schemas
from syncstats.io._issues import ERROR_KINDS

FIXTURES = Path(__file__).parent / "fixtures" / "logs"

P1 = (
    '{"processed": 10, "succeeded": 9, "failed": 1, "to_dlq": 0, "success_rate": "90.0%", '
    '"avg_time_ms": 400, "high_confidence": 8, "low_confidence": 1, '
    '"errors_by_type": {"PlexNotFound": 1}}'
)
WORKER = "[Plugin / Stash2Plex] [Stash2Plex Worker] "
#: Counters of the fixtures' two Stats lines, in schema order.
COUNTS = [[10, 9, 1, 0, 8, 1], [20, 17, 3, 1, 15, 2]]


def read(engine, *args, **kwargs) -> syncstats.SyncData:
    """``syncstats.read_log`` with *engine* (each case runs with every engine)."""
    return syncstats.read_log(*args, engine=engine, **kwargs)


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def console(time: str, payload: str = P1, prefix: str = WORKER) -> str:
    return f"INFO[{time}] {prefix}Stats: {payload}"


def file_form(time: str, payload: str = P1, prefix: str = WORKER) -> str:
    msg = (prefix + "Stats: " + payload).replace("\\", "\\\\").replace('"', '\\"')
    return f'time="{time}" level=info msg="{msg}"'


def write_log(path: Path, lines: list[str] | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = lines if isinstance(lines, bytes) else ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def copy_fixture(name: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(FIXTURES / name, dest / "stash.log"))


def issue_list(data: syncstats.SyncData) -> list[tuple[object, str]]:
    return [
        (None if pd.isna(line) else int(line), str(kind))
        for line, kind in data.issues[["line", "kind"]].itertuples(index=False)
    ]


def check_schemas(data: syncstats.SyncData) -> None:
    schemas.validate(data.snapshots, schemas.SNAPSHOTS)
    schemas.validate(data.errors, schemas.ERRORS)
    schemas.validate(data.dlq, schemas.DLQ)
    schemas.validate(data.issues, schemas.ISSUES)


# --------------------------------------------------------------------------------------
# The fixtures: both logrus forms and raw stderr, with noise around
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "lines"),
    [("stash_file_form.log", [3, 12]), ("stash_console.log", [3, 13])],
)
def test_logrus_forms(log_engine, tmp_path, fixture, lines):
    f = copy_fixture(fixture, tmp_path / "host1")
    data = read(log_engine, f)
    check_schemas(data)
    snaps = data.snapshots
    assert snaps["snapshot_at"].tolist() == [utc("2026-10-01 02:09:51"), utc("2026-10-01 02:19:57")]
    assert snaps[list(schemas.COUNTERS)].values.tolist() == COUNTS
    # avg_time_ms * processed / 1000
    assert snaps["total_processing_time"].tolist() == pytest.approx([4.0, 8.18], abs=1e-12)
    assert snaps["session_start"].isna().all()
    assert snaps["time_from"].tolist() == ["log", "log"]
    assert snaps["source"].tolist() == ["host1", "host1"]
    assert snaps["origin"].tolist() == [f"{f}:{n}" for n in lines]
    # Noise (scans, summaries, DLQ lines, tracebacks, other plugins' Stats) is silent.
    assert len(data.issues) == 0
    errs = data.errors[["snapshot_at", "error_type", "count", "origin"]].values.tolist()
    assert errs == [
        [utc("2026-10-01 02:09:51"), "PlexNotFound", 1, f"{f}:{lines[0]}"],
        [utc("2026-10-01 02:19:57"), "PlexNotFound", 2, f"{f}:{lines[1]}"],
        # the file form escapes \" and \\ inside msg="..."
        [utc("2026-10-01 02:19:57"), 'Odd"Name\\Err', 1, f"{f}:{lines[1]}"],
    ]


def test_raw_plugin_stderr_has_nat_time_and_one_issue_per_file(log_engine, tmp_path):
    f = copy_fixture("plugin_stderr.log", tmp_path / "host1")
    g = copy_fixture("plugin_stderr.log", tmp_path / "host2")
    data = read(log_engine, [f, g])
    check_schemas(data)
    snaps = data.snapshots
    assert snaps[list(schemas.COUNTERS)].values.tolist() == COUNTS + COUNTS
    assert snaps["snapshot_at"].isna().all()
    assert snaps["time_from"].tolist() == ["log"] * 4
    assert snaps["origin"].tolist() == [f"{f}:3", f"{f}:9", f"{g}:3", f"{g}:9"]
    assert data.issues[["path", "line", "kind"]].values.tolist() == [
        [str(f), 3, "no_timestamp"],
        [str(g), 3, "no_timestamp"],
    ]
    assert data.issues["detail"].iloc[0].startswith("2 Stats: line(s)")
    assert data.errors["error_type"].tolist().count('Odd"Name\\Err') == 2
    # A caveat: on_error="raise" does not raise for it.
    assert len(read(log_engine, f, on_error="raise").snapshots) == 2


def test_raw_and_timed_lines_mixed(log_engine, tmp_path):
    f = write_log(
        tmp_path / "h" / "stash.log",
        [console("2026-10-01 02:19:57"), "\x01i\x02[Stash2Plex Worker] Stats: " + P1],
    )
    data = read(log_engine, f)
    assert data.snapshots["snapshot_at"].tolist()[0] == utc("2026-10-01 02:19:57")
    assert pd.isna(data.snapshots["snapshot_at"].iloc[1])
    assert issue_list(data) == [(2, "no_timestamp")]


def test_file_form_line_without_time_is_reported(log_engine, tmp_path):
    no_time = file_form("x").replace('time="x" ', "")
    f = write_log(
        tmp_path / "h" / "stash.log",
        [file_form("2026-10-01 02:00:00"), no_time, no_time, file_form('2026-10-01 02:10:00')],
    )
    data = read(log_engine, f)
    assert data.snapshots["origin"].tolist() == [f"{f}:1", f"{f}:4", f"{f}:2", f"{f}:3"]
    assert data.snapshots["snapshot_at"].isna().tolist() == [False, False, True, True]
    assert issue_list(data) == [(2, "no_timestamp")]
    assert data.issues["detail"].iloc[0].startswith("2 Stats: line(s) carry no time")


def test_payload_mapping_and_missing_avg_time(log_engine, tmp_path):
    f = write_log(
        tmp_path / "h" / "stash.log",
        [
            console("2026-10-01 02:00:00", '{"processed": 7, "extra": [1, 2]}'),
            console("2026-10-01 02:10:00", '{"processed": 8, "avg_time_ms": 250}'),
            console("2026-10-01 02:20:00", '{"succeeded": 8, "avg_time_ms": 250}'),
            console("2026-10-01 02:30:00", '{"processed": "many", "avg_time_ms": 250}'),
        ],
    )
    data = read(log_engine, f)
    snaps = data.snapshots
    assert snaps[list(schemas.COUNTERS)].values.tolist() == [[7, 0, 0, 0, 0, 0], [8, 0, 0, 0, 0, 0]]
    assert np.isnan(snaps["total_processing_time"].iloc[0])
    assert snaps["total_processing_time"].iloc[1] == 2.0
    assert issue_list(data) == [(1, "bad_value"), (3, "not_snapshot"), (4, "bad_value")]
    details = data.issues["detail"].tolist()
    assert details[0].startswith("avg_time_ms is None")
    # One issue naming the bad field, not a second one blaming a valid avg_time_ms.
    assert details[2].startswith("jobs_processed must be an integer, found str 'many'")


def test_other_plugins_stats_lines_are_silent(log_engine, tmp_path):
    f = write_log(
        tmp_path / "h" / "stash.log",
        [
            console("2026-10-01 02:00:00", '{"hits": 3}', prefix="[Plugin / Other] "),
            console("2026-10-01 02:00:00", '{"hits": 3}', prefix="[Plugin / Other] Cache "),
            file_form("2026-10-01 02:00:00", '{"hits": 3}', prefix="[Plugin / Other] [W] "),
            '2026/10/01 02:00:00 other-daemon Stats: {"processed": 99}',
            'level=info Stats: {"processed": 99}',
            console("2026-10-01 02:10:00"),
        ],
    )
    data = read(log_engine, f)
    assert data.snapshots["origin"].tolist() == [f"{f}:6"]
    assert len(data.issues) == 0


# --------------------------------------------------------------------------------------
# Torn and undecodable lines
# --------------------------------------------------------------------------------------


def test_torn_lines_reported_with_line_numbers(log_engine, tmp_path):
    good = file_form("2026-10-01 02:19:57")
    f = write_log(
        tmp_path / "h" / "stash.log",
        [
            good,
            good[:120],  # msg="... not closed
            console("2026-10-01 02:20:00")[:-20],  # JSON cut
            good[:-1] + "\\",  # ends inside an escape
            "",
            console("2026-10-01 02:30:00"),
        ],
    )
    data = read(log_engine, f)
    assert data.snapshots["origin"].tolist() == [f"{f}:1", f"{f}:6"]
    assert issue_list(data) == [(2, "torn_line"), (3, "torn_line"), (4, "torn_line")]
    with pytest.raises(syncstats.LogFormatError) as info:
        read(log_engine, f, on_error="raise")
    assert str(info.value).startswith(f"{f}:2: torn_line")


def test_non_utf8_bytes(log_engine, tmp_path):
    data_bytes = b"\n".join(
        [
            b"INFO[2026-10-01 02:00:00] scanning /media/caf\xe9/movie.mp4",  # latin-1 noise
            console("2026-10-01 02:10:00").encode(),
            console("2026-10-01 02:20:00").encode().replace(b"PlexNotFound", b"Plex\xffFound"),
            b"\xff\xfe garbage \x80",
        ]
    )
    f = write_log(tmp_path / "h" / "stash.log", data_bytes + b"\n")
    data = read(log_engine, f)
    assert data.snapshots["origin"].tolist() == [f"{f}:2"]
    assert issue_list(data) == [(3, "torn_line")]
    assert "UTF-8" in data.issues["detail"].iloc[0]


def test_bom_and_crlf(log_engine, tmp_path):
    raw = b"\xef\xbb\xbf" + console("2026-10-01 02:10:00").encode() + b"\r\n"
    raw += file_form("2026-10-01 02:20:00").encode() + b"\r\n"
    f = write_log(tmp_path / "h" / "stash.log", raw)
    data = read(log_engine, f)
    assert data.snapshots["snapshot_at"].tolist() == [
        utc("2026-10-01 02:10:00"),
        utc("2026-10-01 02:20:00"),
    ]
    assert len(data.issues) == 0


# --------------------------------------------------------------------------------------
# Time zones
# --------------------------------------------------------------------------------------


def test_tz_conversion(log_engine, tmp_path):
    f = copy_fixture("stash_console.log", tmp_path / "h")
    data = read(log_engine, f, tz="Europe/Berlin")
    assert data.snapshots["snapshot_at"].tolist() == [
        utc("2026-10-01 00:09:51"),
        utc("2026-10-01 00:19:57"),
    ]
    assert data.errors["snapshot_at"].tolist() == [utc("2026-10-01 00:09:51")] + [
        utc("2026-10-01 00:19:57")
    ] * 2
    f2 = copy_fixture("stash_file_form.log", tmp_path / "h2")
    got = read(log_engine, f2, tz="America/New_York").snapshots["snapshot_at"].tolist()
    assert got == [utc("2026-10-01 06:09:51"), utc("2026-10-01 06:19:57")]


def test_times_without_a_date_are_not_guessed(log_engine, tmp_path):
    f = write_log(
        tmp_path / "h" / "stash.log",
        [
            console("0042"),  # logrus on a TTY: seconds since start, no date
            console("Oct  1 02:19:57"),
            console("2026-10-01T02:19:57.250"),
        ],
    )
    data = read(log_engine, f)
    assert data.snapshots["snapshot_at"].tolist() == [utc("2026-10-01 02:19:57.25")]
    assert issue_list(data) == [(1, "bad_time"), (2, "bad_time")]
    assert "'0042'" in data.issues["detail"].iloc[0]


def test_timestamp_with_offset_is_used_as_is(log_engine, tmp_path):
    f = write_log(
        tmp_path / "h" / "stash.log",
        [console("2026-10-01T02:19:57+02:00"), console("2026-10-01T02:29:57Z")],
    )
    data = read(log_engine, f, tz="America/New_York")
    assert data.snapshots["snapshot_at"].tolist() == [
        utc("2026-10-01 00:19:57"),
        utc("2026-10-01 02:29:57"),
    ]


@pytest.mark.parametrize("tz", ["Mars/Olympus_Mons", "", "../etc/passwd"])
def test_invalid_tz_raises_parameter_error(log_engine, tmp_path, tz):
    f = copy_fixture("stash_console.log", tmp_path / "h")
    with pytest.raises(syncstats.ParameterError, match="tz"):
        read(log_engine, f, tz=tz)


def test_dst_ambiguous_and_nonexistent_times(log_engine, tmp_path):
    f = write_log(
        tmp_path / "h" / "stash.log",
        [
            console("2026-10-25 01:30:00"),  # before the change: CEST
            console("2026-10-25 02:30:00"),  # happens twice: ambiguous
            file_form("2026-03-29 02:30:00"),  # skipped by the clocks: does not exist
            console("2026-10-25 03:30:00"),  # after: CET
        ],
    )
    data = read(log_engine, f, tz="Europe/Berlin")
    assert data.snapshots["snapshot_at"].tolist() == [
        utc("2026-10-24 23:30:00"),
        utc("2026-10-25 02:30:00"),
    ]
    assert data.snapshots["origin"].tolist() == [f"{f}:1", f"{f}:4"]
    assert issue_list(data) == [(2, "bad_time"), (3, "bad_time")]
    assert data.errors["origin"].tolist() == [f"{f}:1", f"{f}:4"]
    # The same wall times are fine in UTC.
    assert len(read(log_engine, f).snapshots) == 4
    with pytest.raises(syncstats.LogFormatError, match="bad_time"):
        read(log_engine, f, tz="Europe/Berlin", on_error="raise")


# --------------------------------------------------------------------------------------
# Files and directories
# --------------------------------------------------------------------------------------


def test_rotated_and_gzipped_logs_from_a_directory(log_engine, tmp_path):
    d = tmp_path / "host1"
    write_log(d / "stash.log", [console("2026-10-03 00:00:00")])
    write_log(d / "stash.log.1", [console("2026-10-02 00:00:00")])
    write_log(d / "old" / "stash.log.2.gz", [console("2026-10-01 00:00:00")])
    write_log(d / "stash-0930.log.gz", [console("2026-09-30 00:00:00")])
    write_log(d / "notes.txt", [console("2026-09-29 00:00:00")])
    data = read(log_engine, d)
    check_schemas(data)
    assert data.snapshots["snapshot_at"].tolist() == [
        utc("2026-09-30"),
        utc("2026-10-01"),
        utc("2026-10-02"),
        utc("2026-10-03"),
    ]
    assert data.snapshots["origin"].tolist() == [
        f"{d / 'stash-0930.log.gz'}:1",
        f"{d / 'old' / 'stash.log.2.gz'}:1",
        f"{d / 'stash.log.1'}:1",
        f"{d / 'stash.log'}:1",
    ]
    assert set(data.snapshots["source"]) == {"host1"}
    assert len(data.issues) == 0
    assert read(log_engine, d, source="x").snapshots["source"].tolist() == ["x"] * 4


def test_corrupt_gzip_is_unreadable(log_engine, tmp_path):
    f = tmp_path / "h" / "stash.log.gz"
    f.parent.mkdir()
    f.write_bytes(gzip.compress((console("2026-10-01 00:00:00") + "\n").encode())[:-12])
    data = syncstats.read_log(f, engine=log_engine)
    # the templates engine declines a file whose read fails part-way: the reference
    # reads it (and says what failed), after a caveat saying so
    fallback = ["engine_fallback"] if log_engine == "templates" else []
    assert [k for _, k in issue_list(data)] == [*fallback, "unreadable"]


def test_missing_log_raises_input_error(log_engine, tmp_path):
    with pytest.raises(syncstats.InputError, match="nope.log"):
        read(log_engine, tmp_path / "nope.log")


def test_on_error_bogus(log_engine, tmp_path):
    f = copy_fixture("stash_console.log", tmp_path / "h")
    with pytest.raises(syncstats.ParameterError):
        read(log_engine, f, on_error="bogus")


def test_accounting_of_stats_lines(log_engine, tmp_path):
    good = console("2026-10-01 02:00:00")
    lines = [
        good,
        "INFO[2026-10-01 02:00:01] noise",
        console("2026-10-01 02:10:00")[:-5],  # torn
        file_form("2026-10-01 02:20:00"),
        file_form("2026-10-01 02:30:00")[:120],  # torn
        console("2026-10-25 02:30:00"),  # ambiguous in Berlin
        console("2026-10-01 02:40:00", '{"processed": 1e40, "avg_time_ms": 1}'),  # overflow
        "\x01i\x02[Stash2Plex Worker] Stats: " + P1,  # no time: caveat
        console("2026-10-01 02:50:00", '{"processed": "many", "avg_time_ms": 1}'),
    ]
    stats_lines = 8
    f = write_log(tmp_path / "h" / "stash.log", lines)
    data = read(log_engine, f, tz="Europe/Berlin")
    loaded = set(data.snapshots["origin"])
    errs = data.issues[data.issues["kind"].isin(ERROR_KINDS)]
    units = {f"{p}:{int(n)}" for p, n in errs[["path", "line"]].itertuples(index=False)}
    assert len(data.snapshots) + len(units - loaded) == stats_lines
    assert units & loaded == {f"{f}:7"}  # the overflow row is in both frames
    assert sorted(int(o.rsplit(":", 1)[1]) for o in loaded) == [1, 4, 7, 8]
    assert issue_list(data) == [
        (3, "torn_line"),
        (5, "torn_line"),
        (7, "overflow"),
        (9, "bad_value"),
        (8, "no_timestamp"),
        (6, "bad_time"),
    ]
