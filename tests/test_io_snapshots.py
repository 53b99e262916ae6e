"""read_snapshots on small hand-written stats copies and JSON Lines histories."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from samples import FORMATS_EXAMPLE

import syncstats
from syncstats import schemas

INT64_MAX = int(np.iinfo(np.int64).max)

STATS = FORMATS_EXAMPLE  # the example of docs/formats.md §1


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def write_json(path: Path, obj: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(lines) + "\n").encode()
    if path.suffix == ".gz":
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def stats(**changes: object) -> dict[str, object]:
    out = dict(STATS)
    out.update(changes)
    return out


def issue_list(data: syncstats.SyncData) -> list[tuple[str, object, str]]:
    """(file name, line or None, kind) of every issue, in order; the arrow engine's
    ``engine_fallback`` caveats aside (tests/test_fast_snapshots.py checks them)."""
    return [
        (Path(p).name, None if pd.isna(line) else int(line), str(kind))
        for p, line, kind in data.issues[["path", "line", "kind"]].itertuples(index=False)
        if kind != "engine_fallback"
    ]


def reported(data: syncstats.SyncData) -> pd.DataFrame:
    """``data.issues`` without the arrow engine's ``engine_fallback`` caveats (which
    tests/test_fast_snapshots.py checks): what every engine reports."""
    return data.issues[data.issues["kind"] != "engine_fallback"].reset_index(drop=True)


def check_schemas(data: syncstats.SyncData) -> None:
    schemas.validate(data.snapshots, schemas.SNAPSHOTS)
    schemas.validate(data.errors, schemas.ERRORS)
    schemas.validate(data.dlq, schemas.DLQ)
    schemas.validate(data.issues, schemas.ISSUES)
    assert len(data.dlq) == 0


# --------------------------------------------------------------------------------------
# Files, directories, globs
# --------------------------------------------------------------------------------------


def test_single_copy_every_column(tmp_path):
    f = write_json(tmp_path / "w1" / "stats-20261001T130000Z.json", STATS)
    data = syncstats.read_snapshots(f)
    check_schemas(data)
    assert len(data.snapshots) == 1
    row = data.snapshots.iloc[0]
    assert row["source"] == "w1"
    assert row["snapshot_at"] == utc("2026-10-01 13:00:00")
    assert row["session_start"] == utc("2025-09-28 00:00:12.5")
    assert [int(row[c]) for c in schemas.COUNTERS] == [2473, 2267, 206, 41, 2183, 84]
    assert row["total_processing_time"] == pytest.approx(1013.9311, abs=1e-9)
    assert row["time_from"] == "filename"
    assert row["origin"] == str(f)
    assert data.errors[["error_type", "count"]].values.tolist() == [
        ["PlexNotFound", 145],
        ["PlexTemporaryError", 61],
    ]
    assert len(reported(data)) == 0


def test_directory_is_searched_recursively(tmp_path):
    root = tmp_path / "w1"
    write_json(root / "a" / "stats-20261001T130000Z.json", stats(jobs_processed=1))
    write_json(root / "b" / "deep" / "stats-20261001T140000Z.json", stats(jobs_processed=2))
    write_lines(
        root / "b" / "hist.jsonl",
        [json.dumps(stats(jobs_processed=3, snapshot_at="2026-10-01T15:00:00Z"))],
    )
    (root / "notes.txt").write_text("not a snapshot")
    (root / "stats.json.lock").write_text("")
    data = syncstats.read_snapshots(root)
    snaps = data.snapshots
    assert snaps["jobs_processed"].tolist() == [1, 2, 3]
    assert snaps["snapshot_at"].tolist() == [
        utc("2026-10-01 13:00"),
        utc("2026-10-01 14:00"),
        utc("2026-10-01 15:00"),
    ]
    # Every file takes the name of the directory given, however deep it lies.
    assert snaps["source"].tolist() == ["w1", "w1", "w1"]
    assert snaps["time_from"].tolist() == ["filename", "filename", "field"]
    assert snaps["origin"].tolist()[2] == f"{root / 'b' / 'hist.jsonl'}:1"
    assert len(reported(data)) == 0


def test_glob_and_list_of_paths(tmp_path):
    a = write_json(tmp_path / "w1" / "stats-20261001T130000Z.json", stats(jobs_processed=1))
    b = write_json(tmp_path / "w2" / "stats-20261001T140000Z.json", stats(jobs_processed=2))
    write_json(tmp_path / "w2" / "other-20261001T150000Z.txt", stats(jobs_processed=3))
    data = syncstats.read_snapshots(str(tmp_path / "w*" / "stats-*.json"))
    assert data.snapshots[["source", "jobs_processed"]].values.tolist() == [["w1", 1], ["w2", 2]]
    data = syncstats.read_snapshots([a, b])
    assert data.snapshots["origin"].tolist() == [str(a), str(b)]


def test_glob_matching_nothing_raises_input_error(tmp_path):
    pattern = str(tmp_path / "nothing-*.json")
    with pytest.raises(syncstats.InputError, match="nothing-"):
        syncstats.read_snapshots(pattern)


def test_nonexistent_path_raises_input_error_naming_it(tmp_path):
    missing = tmp_path / "no" / "such-stats.json"
    with pytest.raises(syncstats.InputError) as info:
        syncstats.read_snapshots(missing)
    assert str(missing) in str(info.value)
    assert info.value.path == str(missing)


# --------------------------------------------------------------------------------------
# Histories
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["history.jsonl", "history.jsonl.gz", "history.ndjson"])
def test_history_snapshot_at_forms(tmp_path, name):
    lines = [
        json.dumps(stats(jobs_processed=1, snapshot_at="2026-10-01T13:00:00Z")),
        json.dumps(stats(jobs_processed=2, snapshot_at="2026-10-01T16:00:00+02:00")),
        json.dumps(stats(jobs_processed=3, snapshot_at="2026-10-01T15:00:00")),
        json.dumps(stats(jobs_processed=4, snapshot_at=1790870400)),
        json.dumps(stats(jobs_processed=5, snapshot_at=1790874000.25)),
    ]
    f = write_lines(tmp_path / "w1" / name, lines)
    data = syncstats.read_snapshots(f)
    check_schemas(data)
    snaps = data.snapshots
    assert snaps["jobs_processed"].tolist() == [1, 2, 3, 4, 5]
    assert snaps["snapshot_at"].tolist() == [
        utc("2026-10-01 13:00:00"),
        utc("2026-10-01 14:00:00"),  # +02:00 offset converted
        utc("2026-10-01 15:00:00"),  # no zone: UTC
        utc("2026-10-01 16:00:00"),  # epoch seconds
        utc("2026-10-01 17:00:00.25"),
    ]
    assert set(snaps["time_from"]) == {"field"}
    assert snaps["origin"].tolist() == [f"{f}:{i}" for i in range(1, 6)]
    assert len(data.errors) == 10
    assert data.errors["origin"].tolist() == [f"{f}:{i}" for i in range(1, 6) for _ in (0, 1)]
    assert len(reported(data)) == 0


def test_history_bom_crlf_and_blank_lines(tmp_path):
    a = json.dumps(stats(jobs_processed=1, snapshot_at="2026-10-01T13:00:00Z")).encode()
    b = json.dumps(stats(jobs_processed=2, snapshot_at="2026-10-01T14:00:00Z")).encode()
    c = json.dumps(stats(jobs_processed=3, snapshot_at="2026-10-01T15:00:00Z")).encode()
    f = tmp_path / "w1" / "h.jsonl"
    f.parent.mkdir()
    f.write_bytes(b"\xef\xbb\xbf" + a + b"\r\n\r\n" + b + b"\r\n   \t\r\n" + c + b"\r\n\r\n")
    data = syncstats.read_snapshots(f)
    assert data.snapshots["jobs_processed"].tolist() == [1, 2, 3]
    assert data.snapshots["origin"].tolist() == [f"{f}:1", f"{f}:3", f"{f}:5"]
    assert len(reported(data)) == 0


def test_copy_with_bom_and_crlf(tmp_path):
    f = tmp_path / "w1" / "stats-20261001T130000Z.json"
    f.parent.mkdir()
    f.write_bytes(b"\xef\xbb\xbf" + json.dumps(STATS, indent=2).replace("\n", "\r\n").encode())
    data = syncstats.read_snapshots(f)
    assert data.snapshots["jobs_processed"].tolist() == [2473]
    assert len(reported(data)) == 0


def test_history_torn_last_line(tmp_path):
    good = [
        json.dumps(stats(jobs_processed=1, snapshot_at="2026-10-01T13:00:00Z")),
        "",
        json.dumps(stats(jobs_processed=2, snapshot_at="2026-10-01T14:00:00Z")),
    ]
    torn = json.dumps(stats(jobs_processed=3, snapshot_at="2026-10-01T15:00:00Z"))[:57]
    f = tmp_path / "w1" / "h.jsonl"
    f.parent.mkdir()
    f.write_text("\n".join([*good, torn]))  # no final newline: cut mid-write
    data = syncstats.read_snapshots(f)
    assert data.snapshots["jobs_processed"].tolist() == [1, 2]
    assert issue_list(data) == [("h.jsonl", 4, "torn_line")]
    assert reported(data)["source"].tolist() == ["w1"]


def test_history_line_without_usable_snapshot_at_is_not_loaded(tmp_path):
    f = write_lines(
        tmp_path / "w1" / "h.jsonl",
        [
            json.dumps(stats(jobs_processed=1)),
            json.dumps(stats(jobs_processed=2, snapshot_at="yesterday-ish")),
            json.dumps(stats(jobs_processed=3, snapshot_at="2026-10-01T15:00:00Z")),
            "[1, 2, 3]",
            # Not ISO-8601 date-times: pandas alone would invent a date or read a year.
            json.dumps(stats(jobs_processed=5, snapshot_at="13:00")),
            json.dumps(stats(jobs_processed=6, snapshot_at="0042")),
            json.dumps(stats(jobs_processed=7, snapshot_at="1790870400")),
            json.dumps(stats(jobs_processed=8, snapshot_at=True)),
            json.dumps(stats(jobs_processed=9, snapshot_at="2026-10-02")),  # a date: midnight
        ],
    )
    data = syncstats.read_snapshots(f)
    assert data.snapshots["jobs_processed"].tolist() == [3, 9]
    assert data.snapshots["snapshot_at"].tolist()[1] == utc("2026-10-02 00:00")
    assert issue_list(data) == [
        ("h.jsonl", 1, "bad_time"),
        ("h.jsonl", 2, "bad_time"),
        ("h.jsonl", 4, "not_object"),
        ("h.jsonl", 5, "bad_time"),
        ("h.jsonl", 6, "bad_time"),
        ("h.jsonl", 7, "bad_time"),
        ("h.jsonl", 8, "bad_time"),
    ]


# --------------------------------------------------------------------------------------
# Torn copies, time sources
# --------------------------------------------------------------------------------------


def test_torn_and_empty_copies_give_issues_and_no_rows(tmp_path):
    d = tmp_path / "w1"
    d.mkdir()
    (d / "stats-20261001T130000Z.json").write_bytes(b"")
    (d / "stats-20261001T140000Z.json").write_bytes(b" \n\t\r\n")
    (d / "stats-20261001T150000Z.json").write_text(json.dumps(STATS)[:40])
    (d / "stats-20261001T160000Z.json").write_text('"just a string"')
    (d / "stats-20261001T170000Z.json").write_text('{"hello": 1}')
    write_json(d / "stats-20261001T180000Z.json", stats(jobs_processed=7))
    data = syncstats.read_snapshots(d)
    assert data.snapshots["jobs_processed"].tolist() == [7]
    assert issue_list(data) == [
        ("stats-20261001T130000Z.json", None, "empty"),
        ("stats-20261001T140000Z.json", None, "empty"),
        ("stats-20261001T150000Z.json", None, "bad_json"),
        ("stats-20261001T160000Z.json", None, "not_object"),
        ("stats-20261001T170000Z.json", None, "not_snapshot"),
    ]
    assert len(data.errors) == 2


@pytest.mark.parametrize(
    "name",
    [
        "stats-20261001T130000Z.json",
        "stats-2026-10-01T13:00:00Z.json",
        "stats-2026-10-01T15:00:00+02:00.json",
        "stats-2026-10-01T15:00:00+0200.json",
        "stats-20261001T150000+0200.json",
        "stats-20261001T080000-0500.json",
        "stats-20261001T130000.json",  # no zone: UTC
        "stats-20261001T130000Z.json.gz",
    ],
)
def test_time_from_file_name(tmp_path, name):
    f = tmp_path / "w1" / name
    f.parent.mkdir()
    raw = json.dumps(STATS).encode()
    f.write_bytes(gzip.compress(raw) if name.endswith(".gz") else raw)
    os.utime(f, (1_000_000_000, 1_000_000_000))  # an mtime that must not be used
    data = syncstats.read_snapshots(f)
    assert data.snapshots["snapshot_at"].tolist() == [utc("2026-10-01 13:00:00")]
    assert data.snapshots["time_from"].tolist() == ["filename"]
    assert len(reported(data)) == 0


def test_mtime_fallback_is_used_and_reported(tmp_path):
    f = write_json(tmp_path / "w1" / "stats.json", STATS)
    os.utime(f, (1_790_870_400.5, 1_790_870_400.5))
    data = syncstats.read_snapshots(f)
    assert data.snapshots["snapshot_at"].tolist() == [utc("2026-10-01 16:00:00.5")]
    assert data.snapshots["time_from"].tolist() == ["mtime"]
    assert issue_list(data) == [("stats.json", None, "time_from_mtime")]
    assert "2026-10-01T16:00:00.500000+00:00" in reported(data)["detail"].iloc[0]
    # A caveat, not an error: on_error="raise" still loads it.
    raised = syncstats.read_snapshots(f, on_error="raise")
    assert raised.snapshots["time_from"].tolist() == ["mtime"]
    assert reported(raised)["kind"].tolist() == ["time_from_mtime"]


def test_snapshot_at_field_wins_over_file_name(tmp_path):
    f = write_json(
        tmp_path / "w1" / "stats-20261001T130000Z.json", stats(snapshot_at="2026-10-01T12:34:56Z")
    )
    data = syncstats.read_snapshots(f)
    assert data.snapshots["snapshot_at"].tolist() == [utc("2026-10-01 12:34:56")]
    assert data.snapshots["time_from"].tolist() == ["field"]
    assert len(reported(data)) == 0


def test_bad_snapshot_at_in_copy_falls_back_to_file_name(tmp_path):
    f = write_json(tmp_path / "w1" / "stats-20261001T130000Z.json", stats(snapshot_at="soon"))
    data = syncstats.read_snapshots(f)
    assert data.snapshots["snapshot_at"].tolist() == [utc("2026-10-01 13:00:00")]
    assert data.snapshots["time_from"].tolist() == ["filename"]
    assert issue_list(data) == [(f.name, None, "bad_time")]


# --------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("literal", ["100000000000000000000000000000000", "1e32"])
def test_counter_above_int64_saturates_with_overflow_issue(tmp_path, literal):
    body = json.dumps(stats(jobs_processed=0)).replace(
        '"jobs_processed": 0', f'"jobs_processed": {literal}'
    )
    assert literal in body
    f = tmp_path / "w1" / "stats-20261001T130000Z.json"
    f.parent.mkdir()
    f.write_text(body)
    data = syncstats.read_snapshots(f)
    assert data.snapshots["jobs_processed"].tolist() == [INT64_MAX]
    assert data.snapshots["jobs_succeeded"].tolist() == [2267]
    assert issue_list(data) == [(f.name, None, "overflow")]
    assert "jobs_processed=1.000e+32" in reported(data)["detail"].iloc[0]


def test_negative_counters_kept_as_read_without_issue(tmp_path):
    f = write_json(
        tmp_path / "w1" / "stats-20261001T130000Z.json",
        stats(jobs_failed=-5, jobs_to_dlq=-1, errors_by_type={"PlexNotFound": -5}),
    )
    data = syncstats.read_snapshots(f)
    assert data.snapshots[["jobs_failed", "jobs_to_dlq"]].values.tolist() == [[-5, -1]]
    assert data.errors["count"].tolist() == [-5]
    assert len(reported(data)) == 0


def test_string_counter_is_bad_value_and_no_row(tmp_path):
    f = write_json(tmp_path / "w1" / "stats-20261001T130000Z.json", stats(jobs_failed="206"))
    data = syncstats.read_snapshots(f)
    assert len(data.snapshots) == 0
    assert len(data.errors) == 0
    assert issue_list(data) == [(f.name, None, "bad_value")]
    assert "jobs_failed" in reported(data)["detail"].iloc[0]


def test_missing_keys_are_zero_and_unknown_keys_ignored(tmp_path):
    f = write_json(
        tmp_path / "w1" / "stats-20261001T130000Z.json",
        {"jobs_processed": 5, "future_counter": 9, "nested": {"a": [1, 2]}, "note": "x"},
    )
    data = syncstats.read_snapshots(f)
    check_schemas(data)
    row = data.snapshots.iloc[0]
    assert [int(row[c]) for c in schemas.COUNTERS] == [5, 0, 0, 0, 0, 0]
    assert row["total_processing_time"] == 0.0
    assert pd.isna(row["session_start"])
    assert list(data.snapshots.columns) == schemas.SNAPSHOTS.names
    assert len(data.errors) == 0
    assert len(reported(data)) == 0


def test_nan_and_infinity_literals(tmp_path):
    d = tmp_path / "w1"
    d.mkdir()
    # Python's json writes these literals; orjson refuses them.
    (d / "stats-20261001T130000Z.json").write_text(
        '{"jobs_processed": 3, "total_processing_time": NaN, "session_start": Infinity}'
    )
    (d / "stats-20261001T140000Z.json").write_text('{"jobs_processed": NaN}')
    (d / "stats-20261001T150000Z.json").write_text(
        '{"jobs_processed": 4, "jobs_failed": -Infinity}'
    )
    data = syncstats.read_snapshots(d)
    assert data.snapshots["jobs_processed"].tolist() == [3]
    assert np.isnan(data.snapshots["total_processing_time"].iloc[0])
    assert pd.isna(data.snapshots["session_start"].iloc[0])
    assert issue_list(data) == [
        ("stats-20261001T130000Z.json", None, "bad_value"),  # session_start: stored NaT
        ("stats-20261001T140000Z.json", None, "bad_value"),  # no row
        ("stats-20261001T150000Z.json", None, "bad_value"),  # no row
    ]


def test_errors_long_form_carries_snapshot_origin(tmp_path):
    d = tmp_path / "w1"
    copy = write_json(
        d / "stats-20261001T130000Z.json", stats(errors_by_type={"PlexNotFound": 3})
    )
    hist = write_lines(
        d / "h.jsonl",
        [
            json.dumps(
                stats(
                    snapshot_at="2026-10-01T12:00:00Z",
                    errors_by_type={"PermanentError": 1, "TimeoutError": 2},
                )
            ),
            json.dumps(stats(snapshot_at="2026-10-01T14:00:00Z", errors_by_type={})),
        ],
    )
    data = syncstats.read_snapshots(d)
    assert data.errors[["snapshot_at", "error_type", "count", "origin"]].values.tolist() == [
        [utc("2026-10-01 12:00"), "PermanentError", 1, f"{hist}:1"],
        [utc("2026-10-01 12:00"), "TimeoutError", 2, f"{hist}:1"],
        [utc("2026-10-01 13:00"), "PlexNotFound", 3, str(copy)],
    ]
    assert set(data.errors["source"]) == {"w1"}
    assert set(data.errors["origin"]) <= set(data.snapshots["origin"])


def test_identical_snapshots_loaded_once(tmp_path):
    d = tmp_path / "w1"
    copy = write_json(d / "stats-20261001T130000Z.json", STATS)
    hist = write_lines(
        d / "history.jsonl",
        [
            json.dumps(stats(snapshot_at="2026-10-01T13:00:00Z")),  # same capture
            json.dumps(stats(snapshot_at="2026-10-01T13:00:00Z", jobs_processed=2474)),
        ],
    )
    data = syncstats.read_snapshots(d)
    # history.jsonl sorts first, so its line is the one kept.
    assert data.snapshots["origin"].tolist() == [f"{hist}:1", f"{hist}:2"]
    assert data.snapshots["jobs_processed"].tolist() == [2473, 2474]
    assert issue_list(data) == [(copy.name, None, "duplicate")]
    assert f"{hist}:1" in reported(data)["detail"].iloc[0]
    assert data.errors["origin"].tolist() == [f"{hist}:1"] * 2 + [f"{hist}:2"] * 2


def test_duplicate_lines_within_history_report_line_numbers(tmp_path):
    line = json.dumps(stats(snapshot_at="2026-10-01T13:00:00Z"))
    f = write_lines(tmp_path / "w1" / "h.jsonl", [line, line, "", line])
    data = syncstats.read_snapshots(f)
    assert data.snapshots["origin"].tolist() == [f"{f}:1"]
    assert issue_list(data) == [("h.jsonl", 2, "duplicate"), ("h.jsonl", 4, "duplicate")]
    assert len(data.errors) == 2


# --------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------


def test_source_override_field_and_directory_name(tmp_path):
    d = tmp_path / "w1"
    write_json(d / "stats-20261001T130000Z.json", stats(jobs_processed=1))
    write_lines(
        d / "h.jsonl",
        [
            json.dumps(stats(jobs_processed=2, snapshot_at="2026-10-01T14:00:00Z", source="alpha")),
            json.dumps(stats(jobs_processed=3, snapshot_at="2026-10-01T15:00:00Z")),
            json.dumps(stats(jobs_processed=4, snapshot_at="2026-10-01T16:00:00Z", source="")),
        ],
    )
    data = syncstats.read_snapshots(d)
    got = data.snapshots[["source", "jobs_processed"]].values.tolist()
    assert got == [["alpha", 2], ["w1", 1], ["w1", 3], ["w1", 4]]
    assert data.errors.groupby("source", observed=True).size().to_dict() == {"alpha": 2, "w1": 6}
    over = syncstats.read_snapshots(d, source="override")
    assert over.snapshots["source"].tolist() == ["override"] * 4
    assert over.snapshots["jobs_processed"].tolist() == [1, 2, 3, 4]
    assert over.snapshots["source"].cat.categories.tolist() == ["override"]


# --------------------------------------------------------------------------------------
# on_error
# --------------------------------------------------------------------------------------


def test_on_error_raise_names_path_and_line(tmp_path):
    f = write_lines(
        tmp_path / "w1" / "h.jsonl",
        [json.dumps(stats(snapshot_at="2026-10-01T13:00:00Z")), '{"jobs_processed": 1,'],
    )
    with pytest.raises(syncstats.SnapshotFormatError) as info:
        syncstats.read_snapshots(f, on_error="raise")
    assert str(info.value).startswith(f"{f}:2: torn_line")
    assert (info.value.path, info.value.line) == (str(f), 2)
    assert isinstance(info.value, syncstats.InputError)


def test_on_error_raise_on_empty_copy_names_path(tmp_path):
    f = tmp_path / "w1" / "stats-20261001T130000Z.json"
    f.parent.mkdir()
    f.write_bytes(b"")
    with pytest.raises(syncstats.SnapshotFormatError, match="empty") as info:
        syncstats.read_snapshots(f, on_error="raise")
    assert str(info.value).startswith(f"{f}: ")
    assert info.value.line is None


def test_on_error_raise_on_overflow(tmp_path):
    f = tmp_path / "w1" / "stats-20261001T130000Z.json"
    f.parent.mkdir()
    f.write_text('{"jobs_processed": 100000000000000000000000000000000}')
    with pytest.raises(syncstats.SnapshotFormatError, match="overflow"):
        syncstats.read_snapshots(f, on_error="raise")


def test_on_error_bogus_raises_parameter_error(tmp_path):
    f = write_json(tmp_path / "w1" / "stats-20261001T130000Z.json", STATS)
    with pytest.raises(syncstats.ParameterError, match="bogus"):
        syncstats.read_snapshots(f, on_error="bogus")
