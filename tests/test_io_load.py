"""load() on a small hand-made data root, the accounting of every input unit, SyncData."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from samples import FORMATS_EXAMPLE

import syncstats
from syncstats import DeadLetterQueue, SyncData, schemas
from syncstats.io._issues import ERROR_KINDS

STATS = FORMATS_EXAMPLE  # the example of docs/formats.md §1
PAYLOAD = (
    '{"processed": 20, "succeeded": 17, "failed": 3, "to_dlq": 1, "success_rate": "85.0%", '
    '"avg_time_ms": 409, "high_confidence": 15, "low_confidence": 2, '
    '"errors_by_type": {"PlexNotFound": 3}}'
)
WORKER = "[Plugin / Stash2Plex] [Stash2Plex Worker] "


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def stats(**changes: object) -> dict[str, object]:
    return {**STATS, **changes}


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def console(time: str) -> str:
    return f"INFO[{time}] {WORKER}Stats: {PAYLOAD}\n"


def file_form(time: str) -> str:
    msg = (WORKER + "Stats: " + PAYLOAD).replace("\\", "\\\\").replace('"', '\\"')
    return f'time="{time}" level=info msg="{msg}"\n'


def make_root(tmp_path: Path) -> Path:
    """fleet/{stats.json, w1/{2 copies, stash.log, dlq.db, sidecars, notes.txt},
    w2/{empty copy, stash.log, stash.log.1}}"""
    root = tmp_path / "fleet"
    loose = write(root / "stats.json", json.dumps(stats(jobs_processed=5)))
    os.utime(loose, (1_790_870_400, 1_790_870_400))  # 2026-10-01 16:00Z
    w1 = root / "w1"
    write(w1 / "stats-20261001T130000Z.json", json.dumps(stats(jobs_processed=1)))
    write(w1 / "stats-20261001T140000Z.json", json.dumps(stats(jobs_processed=2)))
    write(w1 / "stash.log", console("2026-10-01 13:30:00"))
    q = DeadLetterQueue(w1)
    q.add({"job_id": 1, "scene_id": 10}, KeyError("x"), 5,
          failed_at=datetime(2026, 10, 1, 12, tzinfo=UTC), stack_trace="tb")
    q.add({"job_id": 2, "scene_id": 20}, TimeoutError("t"), 1,
          failed_at=datetime(2026, 10, 1, 11, tzinfo=UTC), stack_trace="tb")
    write(w1 / "dlq.db-wal", b"")  # sidecars: never inputs of their own
    write(w1 / "dlq.db-shm", b"")
    write(w1 / "stats.json.lock", b"")
    write(w1 / "notes.txt", "hello")
    w2 = root / "w2"
    write(w2 / "stats-20261001T120000Z.json", b"")  # torn: no snapshot, so logs are used
    write(w2 / "stash.log", "INFO[2026-10-01 10:00:00] scanning\n" + console("2026-10-01 10:00:01"))
    write(w2 / "archive" / "stash.log.1", file_form("2026-10-01 09:00:00"))
    return root


def issue_set(data: SyncData) -> set[tuple[str, str, object, str]]:
    return {
        (str(s), Path(p).name, None if pd.isna(n) else int(n), str(k))
        for s, p, n, k in data.issues[["source", "path", "line", "kind"]].itertuples(index=False)
    }


def check_dtypes(data: SyncData) -> None:
    for frame, schema in (
        (data.snapshots, schemas.SNAPSHOTS),
        (data.errors, schemas.ERRORS),
        (data.dlq, schemas.DLQ),
        (data.issues, schemas.ISSUES),
    ):
        schemas.validate(frame, schema)
        assert list(frame.columns) == schema.names
        for col, spec in schema.columns.items():
            dtype = frame[col].dtype
            if spec == "datetime":
                assert dtype == pd.DatetimeTZDtype("us", "UTC"), col
            elif spec == "category":
                assert isinstance(dtype, pd.CategoricalDtype), col
            elif spec == "str":
                assert isinstance(dtype, pd.StringDtype), col
            else:
                assert dtype == pd.api.types.pandas_dtype(spec), col


# --------------------------------------------------------------------------------------
# load()
# --------------------------------------------------------------------------------------


def test_load_hand_made_root(tmp_path):
    root = make_root(tmp_path)
    data = syncstats.load(root)
    check_dtypes(data)
    snaps = data.snapshots
    assert snaps[["source", "jobs_processed", "time_from"]].values.tolist() == [
        ["fleet", 5, "mtime"],
        ["w1", 1, "filename"],
        ["w1", 2, "filename"],
        ["w2", 20, "log"],
        ["w2", 20, "log"],
    ]
    assert snaps["snapshot_at"].tolist() == [
        utc("2026-10-01 16:00"),
        utc("2026-10-01 13:00"),
        utc("2026-10-01 14:00"),
        utc("2026-10-01 09:00"),
        utc("2026-10-01 10:00:01"),
    ]
    assert snaps["origin"].tolist() == [
        str(root / "stats.json"),
        str(root / "w1" / "stats-20261001T130000Z.json"),
        str(root / "w1" / "stats-20261001T140000Z.json"),
        f"{root / 'w2' / 'archive' / 'stash.log.1'}:1",
        f"{root / 'w2' / 'stash.log'}:2",
    ]
    assert snaps["total_processing_time"].tolist()[3:] == pytest.approx([8.18, 8.18])
    assert data.errors.groupby("source", observed=True)["count"].sum().to_dict() == {
        "fleet": 206,
        "w1": 412,
        "w2": 6,
    }
    assert set(data.errors["origin"]) == set(snaps["origin"])
    assert data.dlq[["source", "id", "job_id"]].values.tolist() == [["w1", 2, 2], ["w1", 1, 1]]
    assert data.dlq["origin"].tolist() == [str(root / "w1" / "dlq.db")] * 2
    assert issue_set(data) == {
        ("fleet", "stats.json", None, "time_from_mtime"),
        ("w1", "stash.log", None, "not_used"),
        ("w1", "notes.txt", None, "ignored"),
        ("w1", "stats.json.lock", None, "ignored"),  # said, not hidden; -wal/-shm are the DB's
        ("w2", "stats-20261001T120000Z.json", None, "empty"),
    }
    assert data.sources == ["fleet", "w1", "w2"]


def test_discover_groups_files(tmp_path):
    root = make_root(tmp_path)
    found = syncstats.discover(root)
    assert found.layout == "fleet" and found.problems == []
    names = {
        src: {kind: sorted(f.name for f in files) for kind, files in kinds.items() if files}
        for src, kinds in found.sources.items()
    }
    assert names == {
        "fleet": {"snapshots": ["stats.json"]},
        "w1": {
            "snapshots": ["stats-20261001T130000Z.json", "stats-20261001T140000Z.json"],
            "logs": ["stash.log"],
            "dlq": ["dlq.db"],
            "ignored": ["stats.json.lock"],  # dlq.db-wal/-shm are read with dlq.db
            "other": ["notes.txt"],
        },
        "w2": {"snapshots": ["stats-20261001T120000Z.json"], "logs": ["stash.log", "stash.log.1"]},
    }


def test_load_tz_applies_to_logs_only(tmp_path):
    root = make_root(tmp_path)
    data = syncstats.load(root, tz="Europe/Berlin")
    by_source = data.snapshots.groupby("source", observed=True)["snapshot_at"].apply(list)
    assert by_source["w1"] == [utc("2026-10-01 13:00"), utc("2026-10-01 14:00")]
    assert by_source["w2"] == [utc("2026-10-01 07:00"), utc("2026-10-01 08:00:01")]
    with pytest.raises(syncstats.ParameterError):
        syncstats.load(root, tz="Nowhere/Special")


def test_load_errors(tmp_path):
    with pytest.raises(syncstats.InputError, match="nothing-here"):
        syncstats.load(tmp_path / "nothing-here")
    root = make_root(tmp_path)
    with pytest.raises(syncstats.ParameterError):
        syncstats.load(root, on_error="bogus")
    with pytest.raises(syncstats.InputError) as info:
        syncstats.load(root, on_error="raise")
    assert str(info.value).startswith(f"{root / 'w2' / 'stats-20261001T120000Z.json'}: empty")


# --------------------------------------------------------------------------------------
# Accounting: every input unit is a row, an error issue, or a reported duplicate
# --------------------------------------------------------------------------------------


def make_accounting_dir(d: Path) -> tuple[int, int, dict[str, list[str]]]:
    """8 snapshot copies and a history with 6 non-blank lines; returns (N, M, expected)."""
    copies = {
        "stats-20261001T100000Z.json": json.dumps(stats(jobs_processed=10)),
        "stats-20261001T110000Z.json": '{"jobs_processed": 100000000000000000000000000000000}',
        "stats-copy-a.json": json.dumps(stats(jobs_processed=12)),  # mtime: caveat
        "stats-20261001T120000Z.json": json.dumps(STATS)[:50],  # torn
        "stats-20261001T130000Z.json": "",  # empty
        "stats-20261001T140000Z.json": json.dumps(stats(jobs_failed="x")),  # bad value
        "stats-20261001T150000Z.json": json.dumps(stats(jobs_processed=15, snapshot_at="?")),
        "stats-20261001T160000Z.json": json.dumps(STATS),  # duplicate of h.jsonl:1
    }
    for name, text in copies.items():
        write(d / name, text)
    os.utime(d / "stats-copy-a.json", (1_790_000_000, 1_790_000_000))
    history = [
        json.dumps(stats(snapshot_at="2026-10-01T16:00:00Z")),
        json.dumps(stats(jobs_processed=17, snapshot_at="2026-10-01T17:00:00Z")),
        json.dumps(stats(snapshot_at="2026-10-01T18:00:00Z"))[:30],  # torn
        "",
        json.dumps(stats(jobs_processed=19)),  # no snapshot_at
        '{"jobs_processed": NaN, "snapshot_at": "2026-10-01T20:00:00Z"}',  # bad value
        json.dumps(stats(jobs_processed=17, snapshot_at="2026-10-01T17:00:00Z")),  # dup of :2
        "   ",
    ]
    write(d / "h.jsonl", "\r\n".join(history) + "\r\n")
    h = d / "h.jsonl"
    expected = {
        "loaded": sorted(
            [
                str(d / "stats-20261001T100000Z.json"),
                str(d / "stats-20261001T110000Z.json"),
                str(d / "stats-copy-a.json"),
                str(d / "stats-20261001T150000Z.json"),
                f"{h}:1",
                f"{h}:2",
            ]
        ),
        "dropped": sorted(
            [
                str(d / "stats-20261001T120000Z.json"),
                str(d / "stats-20261001T130000Z.json"),
                str(d / "stats-20261001T140000Z.json"),
                f"{h}:3",
                f"{h}:5",
                f"{h}:6",
            ]
        ),
        "caveat_rows": sorted(
            [str(d / "stats-20261001T110000Z.json"), str(d / "stats-20261001T150000Z.json")]
        ),
        "duplicates": sorted([str(d / "stats-20261001T160000Z.json"), f"{h}:7"]),
    }
    return len(copies), 6, expected


def unit(path: str, line: object) -> str:
    return path if pd.isna(line) else f"{path}:{int(line)}"


@pytest.mark.parametrize("how", ["read_snapshots", "load"])
def test_accounting_of_snapshot_units(tmp_path, how):
    d = tmp_path / "root" / "w1"
    n, m, expected = make_accounting_dir(d)
    data = syncstats.read_snapshots(d) if how == "read_snapshots" else syncstats.load(d.parent)
    issues = data.issues
    loaded = set(data.snapshots["origin"])
    err = issues[issues["kind"].isin(ERROR_KINDS)]
    err_units = {unit(p, n_) for p, n_ in err[["path", "line"]].itertuples(index=False)}
    dup = issues[issues["kind"] == "duplicate"]
    dup_units = {unit(p, n_) for p, n_ in dup[["path", "line"]].itertuples(index=False)}
    assert len(data.snapshots) + len(err_units - loaded) + len(dup_units) == n + m
    assert sorted(loaded) == expected["loaded"]
    assert sorted(err_units - loaded) == expected["dropped"]
    assert sorted(err_units & loaded) == expected["caveat_rows"]  # in both frame and issues
    assert sorted(dup_units) == expected["duplicates"]
    assert not dup_units & (loaded | err_units)
    mtime = issues[issues["kind"] == "time_from_mtime"]
    assert mtime["path"].tolist() == [str(d / "stats-copy-a.json")]
    assert set(data.errors["origin"]) <= loaded
    assert len(data.errors) == 2 * 5  # every loaded row but the overflow one has 2 types


# --------------------------------------------------------------------------------------
# SyncData
# --------------------------------------------------------------------------------------


def two_sources(tmp_path: Path) -> tuple[SyncData, SyncData]:
    write(tmp_path / "b" / "stats-20261001T120000Z.json",
          json.dumps(stats(jobs_processed=1, errors_by_type={"TimeoutError": 1})))
    write(tmp_path / "b" / "stats-20261001T100000Z.json", "")
    write(tmp_path / "a" / "stats-20261001T130000Z.json", json.dumps(stats(jobs_processed=2)))
    write(tmp_path / "a" / "stats-20261001T110000Z.json", json.dumps(stats(jobs_processed=3)))
    write(tmp_path / "a" / "stats.json", json.dumps(stats(jobs_processed=4)))
    os.utime(tmp_path / "a" / "stats.json", (1_790_000_000, 1_790_000_000))
    return syncstats.read_snapshots(tmp_path / "b"), syncstats.read_snapshots(tmp_path / "a")


def test_add_and_concat_resort_and_union_categories(tmp_path):
    b, a = two_sources(tmp_path)
    assert b.snapshots["source"].cat.categories.tolist() == ["b"]
    both = b + a
    check_dtypes(both)
    assert both.snapshots[["source", "jobs_processed"]].values.tolist() == [
        ["a", 4], ["a", 3], ["a", 2], ["b", 1]
    ]
    assert both.snapshots["source"].cat.categories.tolist() == ["a", "b"]
    assert both.errors["error_type"].cat.categories.tolist() == [
        "PlexNotFound", "PlexTemporaryError", "TimeoutError"
    ]
    assert both.errors["source"].tolist() == ["a"] * 6 + ["b"]
    # issues keep input order (b's, then a's) and union their kinds
    assert both.issues["kind"].tolist() == ["empty", "time_from_mtime"]
    assert both.issues["kind"].cat.categories.tolist() == ["empty", "time_from_mtime"]
    for name in ("snapshots", "errors", "dlq"):
        pd.testing.assert_frame_equal(
            getattr(syncstats.concat([a, b]), name), getattr(both, name)
        )
    empty = syncstats.concat([])
    check_dtypes(empty)
    assert len(empty.snapshots) == 0


def test_frames_are_never_shared_or_mutated(tmp_path):
    b, a = two_sources(tmp_path)
    snapshot = {n: getattr(a, n).copy(deep=True) for n in ("snapshots", "errors", "issues")}
    alone = a + SyncData()
    both = a + b
    for out in (alone, both, syncstats.concat([a])):
        for name in ("snapshots", "errors", "dlq", "issues"):
            assert getattr(out, name) is not getattr(a, name), name
            assert getattr(out, name) is not getattr(b, name), name
    alone.snapshots.loc[0, "jobs_processed"] = -1
    alone.errors.loc[0, "count"] = -1
    alone.issues.loc[0, "detail"] = "changed"
    both.snapshots.loc[0, "jobs_processed"] = -2
    for name, before in snapshot.items():
        pd.testing.assert_frame_equal(getattr(a, name), before)
    assert b.snapshots["jobs_processed"].tolist() == [1]


def test_syncdata_validates_its_frames(tmp_path):
    b, _ = two_sources(tmp_path)
    with pytest.raises(syncstats.SchemaError, match="jobs_processed"):
        SyncData(snapshots=b.snapshots.astype({"jobs_processed": "float64"}))
    with pytest.raises(syncstats.SchemaError, match="origin"):
        SyncData(errors=b.errors.drop(columns="origin"))
    assert "snapshots=1" in repr(b)
    with pytest.raises(TypeError):
        b + 1  # noqa: B018
