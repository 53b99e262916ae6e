"""audit, increments and error_increments on small hand-made snapshot frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from frames import COUNTERS, errors_for, hours, snap, snapshots, utc
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from syncstats import schemas
from syncstats.analysis import audit, error_increments, increments
from syncstats.analysis.counters import AUDIT_COLUMNS, INCREMENT_COLUMNS
from syncstats.exceptions import SchemaError

CEILING = 10_000_000


def checks(found: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(snapshot_at as 'HH:MM' or 'NaT', check, severity) of each finding, in order."""
    return [
        ("NaT" if pd.isna(t) else f"{t:%H:%M}", str(c), str(s))
        for t, c, s in zip(found["snapshot_at"], found["check"], found["severity"], strict=True)
    ]


def rows_of(inc: pd.DataFrame, cols: list[str]) -> list[tuple]:
    return [tuple(r) for r in inc[cols].itertuples(index=False)]


def hh(ts: pd.Timestamp) -> str:
    return f"{ts:%H:%M}"


# -- schemas of the results -----------------------------------------------------------


def test_result_columns_and_dtypes():
    s = snapshots([snap(hours(0), 100, 10), snap(hours(1), 110, 11, time_from="mtime")])
    found = audit(s)
    assert list(found.columns) == AUDIT_COLUMNS
    assert found["snapshot_at"].dtype == schemas.UTC_DTYPE
    assert list(found["severity"].cat.categories) == ["error", "warning", "info"]
    inc = increments(s)
    assert list(inc.columns) == INCREMENT_COLUMNS
    assert inc["start"].dtype == schemas.UTC_DTYPE and inc["end"].dtype == schemas.UTC_DTYPE
    assert list(inc["kind"].cat.categories) == ["delta", "reset", "implausible"]
    assert all(inc[c].dtype == np.int64 for c in COUNTERS)
    assert inc["total_processing_time"].dtype == np.float64


def test_clean_series_has_no_findings_and_plain_deltas():
    s = snapshots([snap(hours(h), 100 + 10 * h, 10 + h, to_dlq=h, low=2 * h) for h in range(4)])
    found = audit(s)
    assert found.empty and list(found.columns) == AUDIT_COLUMNS
    inc = increments(s)
    assert rows_of(inc, ["kind", *COUNTERS, "total_processing_time"]) == [
        ("delta", 10, 9, 1, 1, 7, 2, 5.0)
    ] * 3
    assert [hh(t) for t in inc["start"]] == ["00:00", "01:00", "02:00"]
    assert [hh(t) for t in inc["end"]] == ["01:00", "02:00", "03:00"]
    assert inc["origin"].tolist() == ["w.jsonl:2", "w.jsonl:3", "w.jsonl:4"]


def test_missing_column_raises_schema_error():
    s = snapshots([snap(hours(0), 1)]).drop(columns="session_start")
    with pytest.raises(SchemaError, match="session_start"):
        audit(s)
    with pytest.raises(SchemaError, match="session_start"):
        increments(s)


# -- resets -----------------------------------------------------------------------------


def test_reset_by_counter_decrease_mid_series():
    s = snapshots([
        snap(hours(0), 100, 10, to_dlq=2, low=3),
        snap(hours(1), 110, 11, to_dlq=2, low=3),
        snap(hours(2), 4, 1, to_dlq=0, low=1),  # restarted, same session_start
        snap(hours(3), 14, 2, to_dlq=1, low=1),
    ])
    found = audit(s)
    assert checks(found) == [("02:00", "reset", "info")]
    assert found["detail"][0] == (
        "counters restarted (decreased: jobs_processed, jobs_succeeded, jobs_failed, "
        "jobs_to_dlq, high_confidence_matches, low_confidence_matches) after "
        "2026-10-01 01:00:00+00:00"
    )
    assert found["origin"][0] == "w.jsonl:3"
    inc = increments(s)
    assert rows_of(inc, ["kind", *COUNTERS, "total_processing_time"]) == [
        ("delta", 10, 9, 1, 0, 9, 0, 5.0),
        ("reset", 4, 3, 1, 0, 2, 1, 2.0),  # the new values: increase() semantics
        ("delta", 10, 9, 1, 1, 9, 0, 5.0),
    ]


def test_reset_by_session_start_change_without_decrease():
    new = hours(1.5)
    s = snapshots([
        snap(hours(0), 100, 10),
        snap(hours(1), 110, 11),
        snap(hours(2), 120, 12, session=new),  # every counter grew, but a new session
        snap(hours(3), 130, 13, session=new),
    ])
    found = audit(s)
    assert checks(found) == [("02:00", "reset", "info")]
    assert found["detail"][0] == (
        "counters restarted (session_start changed) after 2026-10-01 01:00:00+00:00"
    )
    inc = increments(s)
    assert rows_of(inc, ["kind", "jobs_processed", "jobs_failed"]) == [
        ("delta", 10, 1), ("reset", 120, 12), ("delta", 10, 1),
    ]


def test_unknown_session_start_is_not_a_reset():
    s = snapshots([
        snap(hours(0), 100, 10, session=None),  # e.g. from a log line: no session_start
        snap(hours(1), 110, 11),
        snap(hours(2), 120, 12, session=None),
    ])
    assert audit(s).empty
    assert increments(s)["kind"].astype(str).tolist() == ["delta", "delta"]


# -- the cumulative-merge (doubling) bug -------------------------------------------------


def doubling_below_ceiling() -> pd.DataFrame:
    # 100 attempts an hour on a base of 10,000, then three saves that double every
    # counter (still below the ceiling), then normal growth on the inflated base.
    processed = [10_000, 10_100, 10_200, 10_300, 10_400, 10_500,
                 21_000, 42_000, 84_000, 84_100, 84_200, 84_300]
    return snapshots(
        snap(hours(h), p, p // 10, to_dlq=p // 100, low=p // 50)
        for h, p in enumerate(processed)
    )


def test_doubling_below_ceiling_is_implausible_jump():
    found = audit(doubling_below_ceiling())
    assert checks(found) == [
        ("06:00", "implausible_jump", "warning"),
        ("07:00", "implausible_jump", "warning"),
        ("08:00", "implausible_jump", "warning"),
    ]
    # median hourly rate over the 11 non-reset intervals is 100/h: threshold 50 x 100 x 1 h
    assert found["detail"].tolist() == [
        f"jobs_processed grew by {g} in 1.00 h (threshold 5,000); interval excluded, "
        "counting resumes from the new base"
        for g in ("10,500", "21,000", "42,000")
    ]
    assert found["origin"].tolist() == ["w.jsonl:7", "w.jsonl:8", "w.jsonl:9"]


def test_doubling_below_ceiling_increments_are_zero_then_count_from_new_base():
    inc = increments(doubling_below_ceiling())
    normal = (100, 90, 10, 1, 88, 2, 50.0)
    zero = (0, 0, 0, 0, 0, 0, 0.0)
    assert rows_of(inc, ["kind", *COUNTERS, "total_processing_time"]) == (
        [("delta", *normal)] * 5 + [("implausible", *zero)] * 3 + [("delta", *normal)] * 3
    )
    assert inc["jobs_processed"].sum() == 800  # not 84,300 - 10,000


def test_jump_parameters_move_the_threshold():
    s = doubling_below_ceiling()
    # threshold max(1000, 500 x 100/h x 1 h) = 50,000: above every jump
    assert audit(s, jump_factor=500).empty
    # threshold max(50,000, 50 x 100/h x 1 h) = 50,000
    assert audit(s, jump_min=50_000).empty
    # jump_min dominates when the rate-based threshold is smaller
    found = audit(s, jump_factor=1, jump_min=30_000)
    assert checks(found) == [("08:00", "implausible_jump", "warning")]
    assert "(threshold 30,000)" in found["detail"][0]
    kinds = increments(s, jump_factor=1, jump_min=30_000)["kind"].astype(str).tolist()
    assert kinds.count("implausible") == 1 and kinds[7] == "implausible"


def doubling_above_ceiling() -> pd.DataFrame:
    fresh = hours(5.5)
    return snapshots([
        snap(hours(0), 1000, 100, to_dlq=10, low=20),
        snap(hours(1), 1100, 110, to_dlq=11, low=22),
        snap(hours(2), 1200, 120, to_dlq=12, low=24),
        snap(hours(3), 1300, 130, to_dlq=13, low=26),
        snap(hours(4), 20_000_000, 2_000_000, to_dlq=200_000, low=400_000),  # over ceiling
        snap(hours(5), 40_000_000, 4_000_000, to_dlq=400_000, low=800_000),
        snap(hours(6), 5, 1, to_dlq=1, low=1, session=fresh),  # the fixed release's fresh start
        snap(hours(7), 15, 2, to_dlq=1, low=2, session=fresh),
    ])


def test_doubling_above_ceiling_is_invalid_then_reset():
    found = audit(doubling_above_ceiling())
    assert checks(found) == [
        ("04:00", "invalid", "error"),
        ("05:00", "invalid", "error"),
        ("06:00", "reset", "info"),
    ]
    assert found["detail"][0] == (
        "jobs_processed=2e+07 > ceiling 10,000,000; jobs_succeeded=1.8e+07 > ceiling "
        "10,000,000; high_confidence_matches=1.76e+07 > ceiling 10,000,000 — snapshot not used"
    )
    assert found["detail"][2].endswith("after 2026-10-01 03:00:00+00:00")  # last usable one


def test_doubling_above_ceiling_increments_skip_invalid_and_reset_to_new_values():
    inc = increments(doubling_above_ceiling())
    assert [(hh(a), hh(b)) for a, b in zip(inc["start"], inc["end"], strict=True)] == [
        ("00:00", "01:00"), ("01:00", "02:00"), ("02:00", "03:00"),
        ("03:00", "06:00"), ("06:00", "07:00"),
    ]
    assert rows_of(inc, ["kind", *COUNTERS, "total_processing_time"]) == [
        ("delta", 100, 90, 10, 1, 88, 2, 50.0),
        ("delta", 100, 90, 10, 1, 88, 2, 50.0),
        ("delta", 100, 90, 10, 1, 88, 2, 50.0),
        ("reset", 5, 4, 1, 1, 3, 1, 2.5),
        ("delta", 10, 9, 1, 0, 8, 1, 5.0),
    ]


def test_ceiling_parameter():
    found = audit(doubling_above_ceiling(), ceiling=2_000_000_000)
    # below this ceiling the doubled snapshots are usable: implausible jumps instead
    assert checks(found) == [
        ("04:00", "implausible_jump", "warning"),
        ("05:00", "implausible_jump", "warning"),
        ("06:00", "reset", "info"),
    ]


# -- corrupt, duplicate, gappy and untimed snapshots ------------------------------------


def test_negative_counter_is_invalid_and_skipped():
    s = snapshots([
        snap(hours(0), 100, 10),
        snap(hours(1), 110, 11),
        snap(hours(2), 120, -1),  # corrupt
        snap(hours(3), 130, 13),
    ])
    found = audit(s)
    assert checks(found) == [("02:00", "invalid", "error")]
    assert found["detail"][0] == "jobs_failed=-1 < 0 — snapshot not used"
    inc = increments(s)
    assert rows_of(inc, ["kind", "jobs_processed", "jobs_failed"]) == [
        ("delta", 10, 1), ("delta", 20, 2),  # the interval spans the corrupt snapshot
    ]
    assert (hh(inc["start"][1]), hh(inc["end"][1])) == ("01:00", "03:00")


@pytest.mark.parametrize("dtype", ["float64", "Int64"])
def test_nan_counter_is_invalid_and_skipped(dtype):
    # outside the int64 schema (a hand-built frame): NaN/NA counts as invalid, not a crash
    s = snapshots([snap(hours(0), 100, 10), snap(hours(1), 110, 11), snap(hours(2), 120, 12)])
    s = s.astype({"jobs_failed": dtype})
    s.loc[1, "jobs_failed"] = None
    before = s.copy(deep=True)
    found = audit(s)
    assert checks(found) == [("01:00", "invalid", "error")]
    assert found["detail"][0] == "jobs_failed=NaN — snapshot not used"
    inc = increments(s)
    assert rows_of(inc, ["kind", "jobs_processed", "jobs_failed"]) == [("delta", 20, 2)]
    pd.testing.assert_frame_equal(s, before)


def test_negative_processing_time_is_invalid():
    s = snapshots([snap(hours(0), 100), snap(hours(1), 110, tpt=-1.0), snap(hours(2), 120)])
    found = audit(s)
    assert checks(found) == [("01:00", "invalid", "error")]
    assert found["detail"][0] == "total_processing_time=-1.0 — snapshot not used"
    assert increments(s)["jobs_processed"].tolist() == [20]


def test_duplicate_timestamps():
    s = snapshots([
        snap(hours(0), 100, 10),
        snap(hours(1), 110, 11),
        snap(hours(1), 110, 11),  # the same capture twice (e.g. a directory and a JSONL)
        snap(hours(2), 120, 12),
        snap(hours(2), -3, 12),  # invalid: not counted as a duplicate
    ])
    found = audit(s)
    assert checks(found) == [
        ("01:00", "duplicate_time", "warning"),
        ("01:00", "duplicate_time", "warning"),
        ("02:00", "invalid", "error"),
    ]
    assert found["origin"].tolist() == ["w.jsonl:2", "w.jsonl:3", "w.jsonl:5"]
    assert found["detail"][0] == "another usable snapshot of this source has the same time"
    inc = increments(s)
    assert rows_of(inc, ["kind", "jobs_processed"]) == [("delta", 10), ("delta", 0), ("delta", 10)]
    assert inc["start"][1] == inc["end"][1] == hours(1)


def test_gap_longer_than_three_median_intervals():
    s = snapshots([
        snap(hours(0), 100), snap(hours(1), 110), snap(hours(2), 120),
        snap(hours(5), 150),  # 3 h: exactly 3x the median, not a gap
        snap(hours(6), 160), snap(hours(7), 170),
        snap(hours(13), 230),  # 6 h
    ])
    found = audit(s)
    assert checks(found) == [("13:00", "gap", "info")]
    assert found["detail"][0] == "6.0 h since the previous snapshot (median 1.00 h)"
    assert increments(s)["jobs_processed"].tolist() == [10, 10, 30, 10, 10, 60]


def test_time_from_mtime_is_info_and_still_used():
    s = snapshots([
        snap(hours(0), 100, time_from="filename"),
        snap(hours(1), 110, time_from="mtime"),
        snap(hours(2), 120, time_from="field"),
    ])
    found = audit(s)
    assert checks(found) == [("01:00", "time_from_mtime", "info")]
    assert found["detail"][0] == "time taken from the file's mtime (unreliable for copies)"
    assert increments(s)["jobs_processed"].tolist() == [10, 10]


def test_nat_snapshot_time_is_no_time_and_skipped():
    s = snapshots([
        snap(hours(0), 100, 10),
        snap(None, 999, 99, time_from="log"),  # a raw stderr line: no time
        snap(hours(1), 110, 11),
    ])
    found = audit(s)
    assert checks(found) == [("NaT", "no_time", "warning")]
    assert found["detail"][0] == "no snapshot time (raw stderr line?) — not used"
    inc = increments(s)
    assert rows_of(inc, ["kind", "jobs_processed"]) == [("delta", 10)]
    assert inc["origin"].tolist() == ["w.jsonl:3"]


def test_sources_are_independent():
    s = snapshots([
        snap(hours(0), 100, source="a"), snap(hours(1), 110, source="a"),
        snap(hours(0), 5, source="b"), snap(hours(1), 50, source="b"),
        snap(hours(2), 1, source="b"),  # a reset of b only
    ])
    found = audit(s)
    assert [(str(r.source), r.check) for r in found.itertuples()] == [("b", "reset")]
    inc = increments(s)
    assert rows_of(inc, ["source", "kind", "jobs_processed"]) == [
        ("a", "delta", 10), ("b", "delta", 45), ("b", "reset", 1),
    ]


# -- invariants --------------------------------------------------------------------------


def invariant_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    s = snapshots([
        snap(hours(0), 100, 10),  # counters fine; its errors sum to 9 != 10
        snap(hours(1), 110, 11, succeeded=98),  # 98 + 11 != 110
        snap(hours(2), 120, 12, to_dlq=13),  # to_dlq > failed
        snap(hours(3), 130, 13, to_dlq=13, high=115),  # 115 + 0 != 117; errors 14 != 13
        snap(hours(4), 140, 14, to_dlq=20, low=1, succeeded=120, high=118),  # all three
    ])
    e = errors_for(s, [
        {"PlexNotFound": 9},
        {"PlexNotFound": 11},
        {"PlexNotFound": 11, "TimeoutError": 1},
        {"PlexNotFound": 12, "TimeoutError": 2},
        {"PlexNotFound": 13, "TimeoutError": 1},
    ])
    return s, e


def test_invariant_violations_each_listed():
    s, _ = invariant_frames()
    found = audit(s)
    assert checks(found) == [
        ("01:00", "invariant", "warning"),
        ("02:00", "invariant", "warning"),
        ("03:00", "invariant", "warning"),
        ("04:00", "invariant", "warning"),
    ]
    assert found["detail"].tolist() == [
        "succeeded 98 + failed 11 != processed 110",
        "to_dlq 13 > failed 12",
        "high 115 + low 0 != succeeded 117",
        "succeeded 120 + failed 14 != processed 140; to_dlq 20 > failed 14; "
        "high 118 + low 1 != succeeded 120",
    ]
    # violations are warnings: every snapshot is still used
    inc = increments(s)
    assert inc["kind"].astype(str).tolist() == ["delta"] * 4
    assert inc["jobs_processed"].tolist() == [10, 10, 10, 10]


def test_sum_of_errors_checked_only_with_errors_given():
    s, e = invariant_frames()
    found = audit(s, e)
    assert checks(found) == [
        ("00:00", "invariant", "warning"),  # only with errors given
        ("01:00", "invariant", "warning"),
        ("02:00", "invariant", "warning"),
        ("03:00", "invariant", "warning"),
        ("04:00", "invariant", "warning"),
    ]
    assert found["detail"].tolist() == [
        "sum(errors_by_type) 9 != failed 10",
        "succeeded 98 + failed 11 != processed 110",
        "to_dlq 13 > failed 12",
        "high 115 + low 0 != succeeded 117; sum(errors_by_type) 14 != failed 13",
        "succeeded 120 + failed 14 != processed 140; to_dlq 20 > failed 14; "
        "high 118 + low 1 != succeeded 120",
    ]
    fixed = e.assign(count=e["count"].where(e["origin"] != "w.jsonl:1", 10))
    assert "00:00" not in [t for t, _, _ in checks(audit(s, fixed))]


def test_out_of_range_error_count_makes_snapshot_invalid():
    s, e = invariant_frames()
    bad = e.assign(count=e["count"].where(e["origin"] != "w.jsonl:2", -1))
    found = audit(s, bad)
    assert ("01:00", "invalid", "error") in checks(found)
    row = found[found["check"] == "invalid"].iloc[0]
    assert row["detail"] == "an errors_by_type count is < 0 or > 10,000,000 — snapshot not used"


# -- error_increments -------------------------------------------------------------------


def error_case() -> tuple[pd.DataFrame, pd.DataFrame]:
    s = snapshots([
        snap(hours(0), 100, 10),
        snap(hours(1), 110, 12),
        snap(hours(2), 5, 1),  # reset
        snap(hours(3), 20, 3),
        snap(hours(4), 20_000, 2_000),  # implausible jump
        snap(hours(5), 20_010, 2_001),
    ])
    e = errors_for(s, [
        {"PlexNotFound": 10},
        {"PlexNotFound": 11, "TimeoutError": 1},
        {"PlexNotFound": 1},
        {"PlexNotFound": 2, "TimeoutError": 1},
        {"PlexNotFound": 1_000, "TimeoutError": 1_000},
        {"PlexNotFound": 1_001, "TimeoutError": 1_000},
    ])
    return s, e


def test_error_increments_same_intervals_and_kinds():
    s, e = error_case()
    inc = increments(s)
    assert inc["kind"].astype(str).tolist() == [
        "delta", "reset", "delta", "implausible", "delta",
    ]
    err = error_increments(e, s)
    assert list(err.columns) == ["source", "start", "end", "kind", "error_type", "count"]
    assert err["count"].dtype == np.int64
    assert [(hh(r.end), str(r.kind), str(r.error_type), r.count) for r in err.itertuples()] == [
        ("01:00", "delta", "PlexNotFound", 1),
        ("01:00", "delta", "TimeoutError", 1),
        ("02:00", "reset", "PlexNotFound", 1),  # the new value
        ("03:00", "delta", "PlexNotFound", 1),
        ("03:00", "delta", "TimeoutError", 1),
        # 04:00 implausible: zeros, left out; 05:00 counted from the inflated base
        ("05:00", "delta", "PlexNotFound", 1),
    ]
    keys = set(zip(inc["start"], inc["end"], inc["kind"].astype(str), strict=True))
    assert set(zip(err["start"], err["end"], err["kind"].astype(str), strict=True)) <= keys


def test_error_count_decrease_without_reset_contributes_zero():
    s = snapshots([snap(hours(0), 100, 10), snap(hours(1), 110, 11)])
    e = errors_for(s, [{"A": 6, "B": 4}, {"A": 8, "B": 3}])  # B decreased: corruption
    err = error_increments(e, s)
    assert [(str(r.error_type), r.count) for r in err.itertuples()] == [("A", 2)]


def test_error_increments_empty_inputs():
    s, e = error_case()
    empty = error_increments(e.iloc[:0], s)
    assert empty.empty
    assert list(empty.columns) == ["source", "start", "end", "kind", "error_type", "count"]
    assert error_increments(e, s.iloc[:1]).empty
    with pytest.raises(SchemaError):
        error_increments(e.drop(columns="origin"), s)


# -- identities --------------------------------------------------------------------------


def test_window_sum_is_what_happened_in_the_window():
    s = snapshots([
        snap(hours(0), 100, 10), snap(hours(1), 110, 11), snap(hours(2), 130, 13),
        snap(hours(3), 160, 16),
        snap(hours(4), 5, 1),  # reset
        snap(hours(5), 25, 3), snap(hours(6), 30, 3),
    ])
    inc = increments(s)
    win = inc[(inc["end"] > hours(1)) & (inc["end"] <= hours(5))]
    # 01:00 -> 03:00 before the reset, plus everything counted since it (up to 05:00)
    assert win["jobs_processed"].sum() == (160 - 110) + 25 == 75
    assert win["jobs_failed"].sum() == (16 - 11) + 3 == 8
    whole = inc[(inc["end"] > hours(0)) & (inc["end"] <= hours(3))]
    assert whole[COUNTERS].sum().tolist() == (
        s.loc[3, COUNTERS].to_numpy() - s.loc[0, COUNTERS].to_numpy()
    ).tolist()


def test_functions_do_not_modify_their_input():
    s, e = error_case()
    s2, e2 = s.copy(deep=True), e.copy(deep=True)
    audit(s, e)
    increments(s)
    error_increments(e, s)
    pd.testing.assert_frame_equal(s, s2)
    pd.testing.assert_frame_equal(e, e2)
    shuffled = s.iloc[::-1]  # unsorted input is sorted on a copy
    before = shuffled.copy(deep=True)
    assert increments(shuffled)["jobs_processed"].sum() == increments(s)["jobs_processed"].sum()
    pd.testing.assert_frame_equal(shuffled, before)


# -- property: never negative, and the sum identity --------------------------------------

_step = st.tuples(st.just("step"), st.integers(0, 40), st.integers(0, 40), st.integers(0, 40),
                  st.integers(0, 40))
_double = st.tuples(st.just("double"), st.just(0))
_op = st.one_of(
    _step, _step, _step, _step, _step, _step, _step, _double, _double,
    st.tuples(st.just("reset"), st.integers(0, 60), st.booleans()),
    st.tuples(st.just("session"), st.just(0)),
    st.tuples(st.just("negative"), st.integers(0, 5), st.integers(1, 50)),
    st.tuples(st.just("over"), st.integers(0, 5), st.integers(1, 10**9)),
)


def _build(base: int, ops: list[tuple], source: str) -> list[dict]:
    """Snapshot rows of one source, hourly: a worker's cumulative counters with resets,
    new sessions, corrupt (negative / over-ceiling) snapshots and doubling saves."""
    p_f, p_s, d, lo = base // 10, base - base // 10, base // 100, base // 20
    session = 0
    rows = []
    for h, op in enumerate(ops):
        kind = op[0]
        if kind == "step":
            _, df, ds, dd, dl = op
            p_f, p_s = p_f + df, p_s + ds
            d, lo = d + min(dd, df), lo + min(dl, ds)
        elif kind == "reset":
            p_f, p_s, d, lo = op[1] // 7, op[1] - op[1] // 7, 0, op[1] // 9
            session += 1 if op[2] else 0
        elif kind == "session":
            session += 1
        elif kind == "double":
            p_f, p_s, d, lo = 2 * p_f, 2 * p_s, 2 * d, 2 * lo
        row = snap(hours(h), p_f + p_s, p_f, to_dlq=d, low=lo, source=source,
                   session=hours(-100 + session), tpt=0.25 * (p_f + p_s))
        if kind in ("negative", "over"):  # this snapshot only; the worker's state is intact
            col = COUNTERS[op[1]]
            row[col] = -op[2] if kind == "negative" else CEILING + op[2]
        rows.append(row)
    return rows


def ok_rows(s: pd.DataFrame) -> np.ndarray:
    vals = s[COUNTERS].to_numpy(dtype="int64")
    return ((vals >= 0) & (vals <= CEILING)).all(axis=1)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.one_of(st.integers(0, 100), st.integers(10_000, 200_000)),
                       st.lists(_op, min_size=6, max_size=25)),
             min_size=1, max_size=2),
    st.sampled_from([10, 1000]),
)
@example(  # every kind at once: doublings below and above the ceiling, corrupt snapshots
    [(50_000, [("step", 5, 20, 1, 2)] * 5 + [("double", 0)] * 2 + [("negative", 2, 7)]
      + [("step", 5, 20, 1, 2)] * 3 + [("double", 0)] * 7 + [("reset", 30, True)]
      + [("over", 0, 5)] + [("step", 1, 2, 3, 4)] * 3 + [("session", 0)]),
     (7, [("step", 1, 1, 1, 1)] * 4 + [("reset", 3, False), ("step", 0, 0, 0, 0)])],
    1000,
)
def test_increments_never_negative_and_sum_identity(sources, jump_min):
    rows = []
    for i, (base, ops) in enumerate(sources):
        rows += _build(base, ops, f"s{i}")
    s = snapshots(rows)
    inc = increments(s, jump_min=jump_min)
    got_all = inc[COUNTERS].to_numpy(dtype="int64")
    event(f"kinds {sorted(set(inc['kind'].astype(str)))}, invalid {int((~ok_rows(s)).sum() > 0)}")
    assert (got_all >= 0).all()
    # the check itself in numpy (snapshots() returns the frame sorted by source, time)
    vals, ok = s[COUNTERS].to_numpy(dtype="int64"), ok_rows(s)
    snap_src = s["source"].astype(str).to_numpy()
    times, sessions = s["snapshot_at"].to_numpy(), s["session_start"].to_numpy()
    inc_src = inc["source"].astype(str).to_numpy()
    kinds = inc["kind"].astype(str).to_numpy()
    starts, ends = inc["start"].to_numpy(), inc["end"].to_numpy()
    for src in np.unique(snap_src):
        m, k = (snap_src == src) & ok, inc_src == src
        u, t, sess = vals[m], times[m], sessions[m]
        assert k.sum() == max(len(u) - 1, 0)
        if len(u) < 2:
            continue
        assert (starts[k] == t[:-1]).all() and (ends[k] == t[1:]).all()
        prev, cur, got, kind = u[:-1], u[1:], got_all[k], kinds[k]
        expected_reset = (cur < prev).any(axis=1) | (sess[1:] != sess[:-1])
        assert ((kind == "reset") == expected_reset).all()
        is_reset, is_impl = kind == "reset", kind == "implausible"
        delta = ~is_reset & ~is_impl
        assert (got[is_reset] == cur[is_reset]).all()
        assert (got[is_impl] == 0).all()
        assert (cur[is_impl, 0] - prev[is_impl, 0] > jump_min).all()
        assert (got[delta] == cur[delta] - prev[delta]).all()
        # sum(delta) + sum(reset values)
        #   == last - first + sum_{reset} prev - sum_{implausible} (cur - prev)
        lhs = got.sum(axis=0)
        rhs = (u[-1] - u[0] + prev[is_reset].sum(axis=0)
               - (cur[is_impl] - prev[is_impl]).sum(axis=0))
        assert lhs.tolist() == rhs.tolist()


def test_example_frames_doctest_values():
    # the documented example: a doubling jump, a corrupt snapshot and a fresh start
    from syncstats.testing import example_snapshots

    inc = increments(example_snapshots())
    assert inc["kind"].astype(str).tolist() == [
        "delta", "delta", "delta", "delta", "implausible", "reset",
    ]
    assert inc["end"].iloc[-1] == utc("2026-10-01 07:00")
