"""syncstats.schemas: validate/conform/empty, and every reader's output against them."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import syncstats
from syncstats import SchemaError, schemas

ALL = (schemas.SNAPSHOTS, schemas.ERRORS, schemas.DLQ, schemas.ISSUES)
FIXTURES = Path(__file__).parent / "fixtures" / "logs"


def snapshots_frame() -> pd.DataFrame:
    """A valid one-row snapshots frame, built by hand."""
    return pd.DataFrame(
        {
            "source": pd.Series(["w1"], dtype="category"),
            "snapshot_at": pd.Series([pd.Timestamp("2026-10-01 13:00", tz="UTC")]).astype(
                schemas.UTC_DTYPE
            ),
            "session_start": pd.Series([pd.NaT], dtype=schemas.UTC_DTYPE),
            **{c: np.array([1], dtype="int64") for c in schemas.COUNTERS},
            "total_processing_time": [1.5],
            "time_from": pd.Series(["field"], dtype="category"),
            "origin": pd.Series(["/x/stats.json"], dtype="str"),
        }
    )


def test_schema_tables():
    assert schemas.SNAPSHOTS.names == [
        "source", "snapshot_at", "session_start", "jobs_processed", "jobs_succeeded",
        "jobs_failed", "jobs_to_dlq", "high_confidence_matches", "low_confidence_matches",
        "total_processing_time", "time_from", "origin",
    ]
    assert schemas.ERRORS.names == ["source", "snapshot_at", "error_type", "count", "origin"]
    assert schemas.DLQ.names == [
        "source", "id", "job_id", "scene_id", "error_type", "error_message", "stack_trace",
        "retry_count", "failed_at", "origin",
    ]
    assert schemas.ISSUES.names == ["source", "path", "line", "kind", "detail"]
    assert schemas.UTC_DTYPE == pd.DatetimeTZDtype("us", "UTC")


@pytest.mark.parametrize("schema", ALL, ids=lambda s: s.name)
def test_empty_frames_validate(schema):
    frame = schemas.empty(schema)
    assert schemas.validate(frame, schema) is frame
    assert frame.shape == (0, len(schema.columns))


def test_hand_built_frame_validates():
    frame = snapshots_frame()
    assert schemas.validate(frame, schemas.SNAPSHOTS) is frame


@pytest.mark.parametrize(
    ("column", "dtype", "found"),
    [
        ("jobs_processed", "float64", "float64"),
        ("jobs_failed", "Int64", "Int64"),
        ("snapshot_at", "datetime64[ns, UTC]", "ns, UTC"),
        ("session_start", None, "datetime64[us]"),
        ("origin", "object", "object"),
        ("source", "str", "str"),
        ("time_from", "object", "object"),
    ],
)
def test_validate_rejects_wrong_dtype_naming_the_column(column, dtype, found):
    frame = snapshots_frame()
    if column == "session_start":
        frame[column] = frame[column].dt.tz_convert(None)  # naive
    else:
        frame[column] = frame[column].astype(dtype)
    with pytest.raises(SchemaError) as info:
        schemas.validate(frame, schemas.SNAPSHOTS)
    message = str(info.value)
    assert message.startswith(f"snapshots.{column}: expected dtype")
    assert found in message


def test_validate_rejects_missing_and_misordered_columns():
    frame = snapshots_frame()
    with pytest.raises(SchemaError, match="'origin'") as info:
        schemas.validate(frame.drop(columns="origin"), schemas.SNAPSHOTS)
    assert "snapshots frame" in str(info.value)
    swapped = frame[["snapshot_at", "source", *frame.columns[2:]]]
    with pytest.raises(SchemaError, match="expected columns"):
        schemas.validate(swapped, schemas.SNAPSHOTS)
    issues = schemas.empty(schemas.ISSUES).drop(columns="line")
    with pytest.raises(SchemaError, match="issues frame"):
        schemas.validate(issues, schemas.ISSUES)


def test_validate_allows_extra_columns_after_the_schema():
    frame = schemas.empty(schemas.DLQ)
    frame["job.update_type"] = pd.Series([], dtype="object")
    schemas.validate(frame, schemas.DLQ)
    with pytest.raises(SchemaError):
        schemas.validate(frame[["job.update_type", *schemas.DLQ.names]], schemas.DLQ)


def test_conform_casts_sorts_and_names_problems():
    frame = pd.DataFrame(
        {
            "source": ["b", "a", "a"],
            "snapshot_at": ["2026-10-01T12:00:00Z", "2026-10-01T13:00:00+02:00", None],
            "error_type": ["X", "Y", "Z"],
            "count": [1, 2, 3],
            "origin": ["o1", "o2", "o3"],
            "extra": [True, False, True],
        }
    )
    out = schemas.conform(frame, schemas.ERRORS)
    schemas.validate(out, schemas.ERRORS)
    assert out["error_type"].tolist() == ["Y", "Z", "X"]  # by source, then time (NaT last)
    assert out["snapshot_at"].tolist()[0] == pd.Timestamp("2026-10-01 11:00", tz="UTC")
    assert list(out.columns) == [*schemas.ERRORS.names, "extra"]
    with pytest.raises(SchemaError, match=r"lacks column\(s\) \['count'\]"):
        schemas.conform(frame.drop(columns="count"), schemas.ERRORS)
    with pytest.raises(SchemaError, match=r"^errors\.count: cannot be cast to int64"):
        schemas.conform(frame.assign(count=["1", "two", "3"]), schemas.ERRORS)


# --------------------------------------------------------------------------------------
# Every reader's output passes validate, also when empty
# --------------------------------------------------------------------------------------


def assert_valid(data: syncstats.SyncData) -> None:
    schemas.validate(data.snapshots, schemas.SNAPSHOTS)
    schemas.validate(data.errors, schemas.ERRORS)
    schemas.validate(data.dlq, schemas.DLQ)
    schemas.validate(data.issues, schemas.ISSUES)
    assert data.issues["line"].dtype == pd.Int64Dtype()


def test_every_reader_output_validates(tmp_path):
    w1 = tmp_path / "root" / "w1"
    w1.mkdir(parents=True)
    (w1 / "stats-20261001T130000Z.json").write_text(
        json.dumps({"jobs_processed": 3, "errors_by_type": {"PlexNotFound": 1}})
    )
    (w1 / "h.jsonl").write_text('{"jobs_processed": 1, "snapshot_at": 1790870400}\n{"torn\n')
    shutil.copy(FIXTURES / "stash_console.log", w1 / "stash.log")
    shutil.copy(FIXTURES / "plugin_stderr.log", w1 / "stderr.log")
    q = syncstats.DeadLetterQueue(w1)
    q.add({"job_id": 1, "scene_id": 2, "enqueued_at": 1790870400}, KeyError("k"), 1,
          failed_at=datetime(2026, 10, 1, tzinfo=UTC), stack_trace="")
    results = {
        "snapshots": syncstats.read_snapshots(w1),
        "log": syncstats.read_log(w1, tz="Europe/Berlin"),
        "dlq": syncstats.read_dlq(w1, decode_jobs=True),
        "load": syncstats.load(w1.parent),
    }
    for data in results.values():
        assert_valid(data)
    kinds = {name: sorted(data.issues["kind"]) for name, data in results.items()}
    assert kinds == {
        "snapshots": ["torn_line"],
        "log": ["no_timestamp"],
        "dlq": [],
        "load": ["not_used", "not_used", "torn_line"],
    }
    assert len(results["snapshots"].snapshots) == 2
    assert len(results["log"].snapshots) == 4
    assert len(results["dlq"].dlq) == 1
    assert results["dlq"].dlq["job.enqueued_at"].dtype == schemas.UTC_DTYPE
    assert len(results["load"].snapshots) == 2 and len(results["load"].dlq) == 1


def test_empty_reader_outputs_validate(tmp_path):
    d = tmp_path / "w1"
    d.mkdir()
    (d / "stats-20261001T130000Z.json").write_text("")
    (d / "stash.log").write_text("INFO[2026-10-01 00:00:00] nothing to see\n")
    (d / "dlq.csv").write_text(
        "id,job_id,scene_id,error_type,error_message,stack_trace,retry_count,failed_at\n"
    )
    for data in (
        syncstats.read_snapshots(d),
        syncstats.read_log(d / "stash.log"),
        syncstats.read_dlq(d / "dlq.csv"),
        syncstats.load(d),
    ):
        assert_valid(data)
        assert len(data.snapshots) == 0 and len(data.dlq) == 0
