"""error_breakdown, error_trend, signature/error_signatures and dlq_triage on small frames."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from frames import dlq, dlq_entry, errors_for, hours, snap, snapshots, utc

import syncstats
from syncstats import DeadLetterQueue, read_dlq, schemas
from syncstats.analysis import (
    TRANSIENT_ERRORS,
    dlq_triage,
    error_breakdown,
    error_increments,
    error_signatures,
    error_trend,
    signature,
)
from syncstats.exceptions import ParameterError, SchemaError

DATA = Path(__file__).resolve().parent.parent / "data"
BREAKDOWN_COLUMNS = ["error_type", "count", "share", "cumulative_share", "rank"]


def table(frame: pd.DataFrame) -> list[tuple]:
    return [(str(r.error_type), r.count, r.rank) for r in frame.itertuples(index=False)]


# -- error_breakdown ---------------------------------------------------------------------


def error_inc() -> pd.DataFrame:
    s = snapshots([
        snap(hours(0), 100, 15), snap(hours(1), 110, 20), snap(hours(2), 120, 23),
        snap(hours(3), 130, 29),
    ])
    e = errors_for(s, [
        {"PlexNotFound": 10, "PlexTemporaryError": 5},
        {"PlexNotFound": 13, "PlexTemporaryError": 5, "TimeoutError": 2},
        {"PlexNotFound": 15, "PlexTemporaryError": 6, "TimeoutError": 2},
        {"PlexNotFound": 20, "PlexTemporaryError": 6, "TimeoutError": 3},
    ])
    return error_increments(e, s)


def test_breakdown_of_error_increments():
    got = error_breakdown(error_inc())
    assert list(got.columns) == BREAKDOWN_COLUMNS
    assert isinstance(got["error_type"].dtype, pd.CategoricalDtype)
    assert got["count"].dtype == np.int64 and got["rank"].dtype == np.int64
    assert table(got) == [("PlexNotFound", 10, 1), ("TimeoutError", 3, 2),
                          ("PlexTemporaryError", 1, 3)]
    assert got["share"].tolist() == pytest.approx([10 / 14, 3 / 14, 1 / 14])
    assert got["cumulative_share"].tolist() == pytest.approx([10 / 14, 13 / 14, 1.0])


def test_breakdown_windows_and_ties():
    inc = error_inc()
    # the last 2 h up to the latest end (03:00): intervals ending at 02:00 and 03:00
    got = error_breakdown(inc, window="2h")
    # a tie on count is broken by the type's name
    assert table(got) == [("PlexNotFound", 7, 1), ("PlexTemporaryError", 1, 2),
                          ("TimeoutError", 1, 3)]
    assert got["share"].tolist() == pytest.approx([7 / 9, 1 / 9, 1 / 9])
    assert got["cumulative_share"].iloc[-1] == pytest.approx(1.0)
    # a pair keeps start <= end < stop
    got = error_breakdown(inc, window=(hours(1), hours(2)))
    assert table(got) == [("PlexNotFound", 3, 1), ("TimeoutError", 2, 2)]
    with pytest.raises(ParameterError, match="window"):
        error_breakdown(inc, window="soon")


def test_breakdown_of_dlq_frame_and_missing_type():
    frame = dlq([
        dlq_entry(1, "2026-10-01 00:00", "PlexNotFound"),
        dlq_entry(2, "2026-10-01 01:00", "PermanentError", "bad"),
        dlq_entry(3, "2026-10-01 02:00", "PlexNotFound"),
        dlq_entry(4, "2026-10-01 03:00", None, "?"),  # NULL error_type
        dlq_entry(5, "2026-10-02 03:00", "PlexNotFound"),
    ])
    got = error_breakdown(frame)
    assert table(got) == [("PlexNotFound", 3, 1), ("(missing)", 1, 2), ("PermanentError", 1, 3)]
    assert got["share"].tolist() == pytest.approx([0.6, 0.2, 0.2])
    assert got["cumulative_share"].tolist() == pytest.approx([0.6, 0.8, 1.0])
    assert table(error_breakdown(frame, window="1D")) == [("PlexNotFound", 1, 1)]
    assert error_breakdown(frame.iloc[:0]).empty


def test_breakdown_of_cumulative_errors_frame_is_refused():
    s = snapshots([snap(hours(0), 10, 1)])
    cumulative = errors_for(s, [{"PlexNotFound": 1}])
    with pytest.raises(SchemaError, match="cumulative"):
        error_breakdown(cumulative)
    with pytest.raises(SchemaError, match="expected"):
        error_breakdown(pd.DataFrame({"a": [1]}))


class PlexNotFound(Exception):
    pass


class PlexTemporaryError(Exception):
    pass


class PermanentError(Exception):
    pass


def build_dlq(directory: Path) -> DeadLetterQueue:
    q = DeadLetterQueue(directory)
    t0 = datetime(2026, 10, 1, tzinfo=UTC)
    errors = [
        PlexNotFound("Could not find Plex item for path: /media/videos/a/scene_1900.mp4"),
        PlexNotFound("Could not find Plex item for path: /media/videos/a/scene_1901.mp4"),
        PlexTemporaryError("Plex API error: 503 Service Unavailable"),
        PermanentError("Low confidence match skipped (strict_matching=true)"),
        PlexNotFound("Could not find Plex item for path: /media/videos/b/scene_7.mp4"),
        TimeoutError("timed out"),
        PlexTemporaryError("Plex API error: 502 Bad Gateway"),
    ]
    for i, err in enumerate(errors):
        q.add({"job_id": i, "scene_id": 1900 + i, "data": {}}, err, i % 3,
              failed_at=t0 + timedelta(hours=i))
    return q


def test_breakdown_equals_get_error_summary(tmp_path):
    q = build_dlq(tmp_path / "w")
    frame = read_dlq(tmp_path / "w" / "dlq.db", source="w").dlq
    got = error_breakdown(frame)
    summary = q.get_error_summary()
    assert summary == {"PlexNotFound": 3, "PlexTemporaryError": 2, "PermanentError": 1,
                       "TimeoutError": 1}
    assert dict(zip(got["error_type"].astype(str), got["count"], strict=True)) == summary
    assert table(got) == [("PlexNotFound", 3, 1), ("PlexTemporaryError", 2, 2),
                          ("PermanentError", 1, 3), ("TimeoutError", 1, 4)]


def data_dlqs() -> list[Path]:
    return sorted(DATA.glob("*/dlq.db")) if DATA.is_dir() else []


def test_breakdown_equals_get_error_summary_on_data_dlqs():
    paths = data_dlqs()
    if not paths:
        pytest.skip("data/ holds no */dlq.db yet")
    for path in paths:
        frame = read_dlq(path, source=path.parent.name).dlq
        got = error_breakdown(frame)
        # the worker's own summary, computed read-only (never through DeadLetterQueue,
        # which would create tables in a user's database)
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = conn.execute(
                "SELECT error_type, COUNT(*) FROM dead_letters GROUP BY error_type"
            ).fetchall()
        finally:
            conn.close()
        expected = {"(missing)" if t is None else t: n for t, n in rows}
        assert dict(zip(got["error_type"].astype(str), got["count"], strict=True)) == expected
        assert got["count"].sum() == len(frame)


# -- error_trend -------------------------------------------------------------------------


def test_error_trend_of_dlq_arrivals_zero_filled():
    frame = dlq([
        dlq_entry(1, "2026-10-01 00:10", "A"),
        dlq_entry(2, "2026-10-01 02:30", "B"),
        dlq_entry(3, "2026-10-01 02:40", "A"),
    ])
    got = error_trend(frame, "1h")
    assert list(got.columns) == ["bucket", "error_type", "count"]
    assert got["bucket"].dtype == schemas.UTC_DTYPE and got["count"].dtype == np.int64
    assert [(f"{b:%H}", str(t), c) for b, t, c in got.itertuples(index=False)] == [
        ("00", "A", 1), ("00", "B", 0), ("01", "A", 0), ("01", "B", 0),
        ("02", "A", 1), ("02", "B", 1),
    ]
    top = error_trend(frame, "1h", top=1)
    assert sorted(set(top["error_type"].astype(str))) == ["A", "other"]
    assert top.groupby("error_type", observed=True)["count"].sum().to_dict() == {
        "A": 2, "other": 1}
    later = error_trend(frame, "1h", now="2026-10-01 04:00")
    assert later["bucket"].max() == utc("2026-10-01 04:00")
    assert later["count"].sum() == 3
    early = error_trend(frame, "1h", now="2026-10-01 01:00")
    assert early["count"].sum() == 1
    with pytest.raises(ParameterError, match="top"):
        error_trend(frame, top=0)
    with pytest.raises(SchemaError):
        error_trend(pd.DataFrame({"x": [1]}))


def test_error_trend_of_error_increments_by_source():
    inc = error_inc()
    got = error_trend(inc, "2h", by="source")
    assert list(got.columns) == ["bucket", "source", "error_type", "count"]
    pivot = got.pivot_table(index="bucket", columns="error_type", values="count",
                            observed=True, aggfunc="sum")
    # right-closed buckets: ends 01:00, 02:00 -> (00:00, 02:00]; 03:00 -> (02:00, 04:00]
    assert pivot.loc[hours(0)].to_dict() == {
        "PlexNotFound": 5, "PlexTemporaryError": 1, "TimeoutError": 2}
    assert pivot.loc[hours(2)].to_dict() == {
        "PlexNotFound": 5, "PlexTemporaryError": 0, "TimeoutError": 1}


def test_error_trend_local_hours_over_dst_change():
    frame = dlq([dlq_entry(i, utc("2026-10-24 23:30") + pd.Timedelta(minutes=30 * i))
                 for i in range(1, 9)])
    got = error_trend(frame, "1h", tz="Europe/Berlin")
    assert got["bucket"].tolist() == [utc(f"2026-10-25 0{h}:00") for h in range(4)]
    assert got["count"].tolist() == [2, 2, 2, 2]


# -- signatures --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Could not find Plex item for path: /media/videos/a/scene_1900.mp4",
         "Could not find Plex item for path: <path>"),
        ("Plex API error: 503 Service Unavailable", "Plex API error: <n> Service Unavailable"),
        ("Low confidence match skipped (strict_matching=true)",
         "Low confidence match skipped (strict_matching=true)"),
        ("Job 4f1c2a9e-8b7d-4c3e-9f10-1234567890ab failed", "Job <uuid> failed"),
        ("Job 4F1C2A9E-8B7D-4C3E-9F10-1234567890AB failed", "Job <uuid> failed"),
        ("pointer 0xdeadbeef invalid", "pointer <hex> invalid"),
        ("commit 3f786850e387550fdab836ed7e6dc881de23001b not found", "commit <hex> not found"),
        ("Scene 'My Movie (2019)' not in section \"Movies\"",
         "Scene <str> not in section <str>"),
        ("Request to http://plex.local:32400/library/metadata/48213 timed out after 30s",
         "Request to <url> timed out after <n>s"),
        ("GET https://plex.example.com/api?x=1&y=2 failed", "GET <url> failed"),
        (r"Could not find Plex item for path: C:\Users\me\Videos\scene_1.mp4",
         "Could not find Plex item for path: <path>"),
        ("file ~/videos/a.mp4 missing", "file <path> missing"),
        ("[Errno 111] Connection refused", "[Errno <n>] Connection refused"),
        ("Timed out after 30.5 seconds", "Timed out after <n> seconds"),
        ("rating key 12345 for scene 678", "rating key <n> for scene <n>"),
        ("codec x86 h264 unsupported", "codec x86 h264 unsupported"),  # ids kept whole
        ("  many \t  spaces\n", "many spaces"),
        ("<script>alert(1)</script>", "<script>alert(<n>)</script>"),
    ],
)
def test_signature(message, expected):
    assert signature(message) == expected


def signature_dlq() -> pd.DataFrame:
    nf = "Could not find Plex item for path: /media/videos/{}/scene_{}.mp4"
    return dlq([
        dlq_entry(1, "2026-10-01 00:00", "PlexNotFound", nf.format("a", 1900), scene_id=1900),
        dlq_entry(2, "2026-10-01 02:00", "PlexTemporaryError",
                  "Plex API error: 503 Service Unavailable", scene_id=8),
        dlq_entry(3, "2026-10-01 03:00", "PlexTemporaryError",
                  "Plex API error: 502 Bad Gateway", scene_id=9),
        dlq_entry(4, "2026-10-01 05:00", "PlexNotFound", nf.format("b", 7), scene_id=7),
        dlq_entry(5, "2026-10-01 06:00", "PermanentError",
                  "Low confidence match skipped (strict_matching=true)", scene_id=10),
        dlq_entry(6, "2026-10-01 07:00", "TimeoutError",
                  "Request to http://plex.local:32400/library/metadata/48213 timed out after "
                  "30s", scene_id=11),
        dlq_entry(7, "2026-10-01 08:00", "TimeoutError",
                  "Request to http://plex.local:32400/library/metadata/9 timed out after 5s",
                  scene_id=12),
        dlq_entry(8, "2026-10-01 09:00", "PlexNotFound", nf.format("a", 1900), scene_id=1900),
        dlq_entry(9, "2026-10-01 10:00", "PlexTemporaryError",
                  "Plex API error: 503 Service Unavailable", scene_id=8, source="v"),
    ])


def test_error_signatures_groups_and_counts():
    got = error_signatures(signature_dlq())
    assert list(got.columns) == ["error_type", "signature", "count", "share", "scenes",
                                 "first_seen", "last_seen", "example"]
    assert [(str(r.error_type), r.signature, r.count, r.scenes) for r in got.itertuples()] == [
        ("PlexNotFound", "Could not find Plex item for path: <path>", 3, 2),
        ("PlexTemporaryError", "Plex API error: <n> Service Unavailable", 2, 1),
        ("TimeoutError", "Request to <url> timed out after <n>s", 2, 2),
        ("PermanentError", "Low confidence match skipped (strict_matching=true)", 1, 1),
        ("PlexTemporaryError", "Plex API error: <n> Bad Gateway", 1, 1),
    ]
    assert got["share"].tolist() == pytest.approx([3 / 9, 2 / 9, 2 / 9, 1 / 9, 1 / 9])
    first = got.iloc[0]
    assert first["first_seen"] == utc("2026-10-01 00:00")
    assert first["last_seen"] == utc("2026-10-01 09:00")
    assert first["example"] == "Could not find Plex item for path: /media/videos/a/scene_1900.mp4"
    assert got["count"].dtype == np.int64 and got["scenes"].dtype == np.int64


def test_error_signatures_by_source_and_missing_message():
    frame = signature_dlq()
    by = error_signatures(frame, by_source=True)
    assert list(by.columns)[:3] == ["source", "error_type", "signature"]
    unavailable = by[by["signature"] == "Plex API error: <n> Service Unavailable"]
    assert sorted(zip(unavailable["source"], unavailable["count"], strict=True)) == [
        ("v", 1), ("w", 1)]
    frame.loc[0, "error_message"] = None
    assert "(no message)" in set(error_signatures(frame)["signature"])
    empty = error_signatures(frame.iloc[:0])
    assert empty.empty and list(empty.columns) == list(error_signatures(frame).columns)


# -- dlq_triage --------------------------------------------------------------------------


def triage_dlq() -> pd.DataFrame:
    return dlq([
        dlq_entry(1, "2026-10-01 00:00", "PlexNotFound", scene_id=10, retry_count=5),
        dlq_entry(2, "2026-10-01 06:00", "PlexNotFound", scene_id=10, retry_count=5),
        dlq_entry(3, "2026-10-01 12:00", "PermanentError", "bad", scene_id=20, retry_count=0),
        dlq_entry(4, "2026-10-03 00:00", "PlexTemporaryError", scene_id=30, retry_count=3),
        dlq_entry(5, "2026-10-03 20:00", "PlexTemporaryError", scene_id=40, retry_count=3),
        dlq_entry(6, "2026-10-02 12:00", "PlexNotFound", scene_id=20, retry_count=5),
        dlq_entry(7, "2026-10-04 00:00", "TimeoutError", scene_id=None, retry_count=None),
        dlq_entry(8, "2026-10-01 01:00", "PlexNotFound", scene_id=50, retry_count=5),
        dlq_entry(9, "2026-10-01 02:00", "PermanentError", "bad", scene_id=50, retry_count=0),
    ])


def test_triage_ages_and_oldest():
    t = dlq_triage(triage_dlq())
    assert t.now == utc("2026-10-04 00:00")  # default: the latest failure
    h = pd.Timedelta(hours=1)
    # ages: 0, 4, 24, 36, 60, 66, 70, 71, 72 h
    assert t.age["count"] == 9
    assert t.age["min"] == 0 * h and t.age["max"] == 72 * h
    assert t.age["p50"] == 60 * h
    assert t.age["p90"] == 71.2 * h  # 71 + 0.2 x (72 - 71), linear interpolation
    assert t.age["p99"] == pd.Timedelta(hours=71.92)
    assert t.age["oldest_id"] == 1
    later = dlq_triage(triage_dlq(), now="2026-10-05 00:00")
    assert later.age["min"] == 24 * h and later.age["max"] == 96 * h


def test_triage_arrivals_and_retries():
    t = dlq_triage(triage_dlq(), now="2026-10-06 12:00")
    assert t.arrivals["day"].tolist() == [utc(f"2026-10-0{d}") for d in range(1, 7)]
    assert t.arrivals["count"].tolist() == [5, 1, 2, 1, 0, 0]  # zero-filled up to now
    assert t.arrivals["count"].dtype == np.int64
    assert [(None if pd.isna(r) else int(r), c) for r, c in t.retries.itertuples(index=False)] \
        == [(0, 2), (3, 2), (5, 4), (None, 1)]


def test_triage_repeated_scenes():
    rep = dlq_triage(triage_dlq()).repeated_scenes
    assert rep["scene_id"].tolist() == [10, 20, 50]
    assert rep["entries"].tolist() == [2, 2, 2]
    assert rep["error_types"].tolist() == ["PlexNotFound", "PermanentError, PlexNotFound",
                                           "PermanentError, PlexNotFound"]
    assert rep["first_failed"].tolist() == [utc("2026-10-01 00:00"), utc("2026-10-01 12:00"),
                                            utc("2026-10-01 01:00")]
    assert rep["last_failed"].tolist() == [utc("2026-10-01 06:00"), utc("2026-10-02 12:00"),
                                           utc("2026-10-01 02:00")]


def test_triage_requeue_candidates():
    t = dlq_triage(triage_dlq())
    rq = t.requeue
    assert list(rq.columns) == ["id", "source", "scene_id", "error_type", "failed_at", "age",
                                "reason"]
    # scene 10: its latest entry (2) only; scene 20: latest is transient (6); scene 30: 24 h
    # old; scene 40 (4 h) and the scene-less TimeoutError (0 h) are too recent; scene 50's
    # latest failure is permanent; entry 3 is permanent
    assert rq["id"].tolist() == [2, 6, 4]
    assert rq["scene_id"].tolist() == [10, 20, 30]
    assert rq["error_type"].tolist() == ["PlexNotFound", "PlexNotFound", "PlexTemporaryError"]
    assert rq["age"].tolist() == [pd.Timedelta(hours=66), pd.Timedelta(hours=36),
                                  pd.Timedelta(hours=24)]
    # each reason explains the type and mentions the age of the last failure
    reasons = rq["reason"].tolist()
    assert reasons[0].startswith("item was not in the Plex library yet; a library scan")
    assert "last failure 2d 18h ago (>= 6h)" in reasons[0]
    assert "last failure 1d 12h ago (>= 6h)" in reasons[1]
    assert reasons[2].startswith("temporary server error (5xx/timeout)")
    assert "last failure 1d ago (>= 6h)" in reasons[2]
    assert set(rq["error_type"]) <= set(TRANSIENT_ERRORS)
    # a shorter requeue_after admits the 4 h old one; a longer one keeps only the oldest
    assert dlq_triage(triage_dlq(), requeue_after="3h").requeue["id"].tolist() == [2, 6, 4, 5]
    assert dlq_triage(triage_dlq(), requeue_after="2D").requeue["id"].tolist() == [2]
    # with a later now, the scene-less TimeoutError becomes a candidate of its own
    late = dlq_triage(triage_dlq(), now="2026-10-05 00:00", transient=["TimeoutError"])
    assert late.requeue["id"].tolist() == [7]
    assert late.requeue["reason"][0] == "timed out; transient; last failure 1d ago (>= 6h)"
    with pytest.raises(ParameterError, match="requeue_after"):
        dlq_triage(triage_dlq(), requeue_after="-1h")


def test_triage_empty_dlq():
    t = dlq_triage(schemas.empty(schemas.DLQ), now="2026-10-01")
    assert t.age["count"] == 0 and pd.isna(t.age["p50"])
    assert t.arrivals.empty and t.requeue.empty and t.repeated_scenes.empty
    assert "entries=0" in repr(t)


def test_functions_do_not_modify_their_input():
    frame = signature_dlq()
    inc = error_inc()
    before_dlq, before_inc = frame.copy(deep=True), inc.copy(deep=True)
    error_breakdown(frame, window="1D")
    error_breakdown(inc)
    error_trend(frame, "1h", top=1)
    error_trend(inc, "1h", by="source")
    error_signatures(frame, by_source=True)
    dlq_triage(frame)
    pd.testing.assert_frame_equal(frame, before_dlq)
    pd.testing.assert_frame_equal(inc, before_inc)


def test_public_api_names():
    assert syncstats.error_breakdown is error_breakdown
    assert syncstats.dlq_triage is dlq_triage
