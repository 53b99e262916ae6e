"""success_rate (Wilson intervals), trend and burn_rate on small hand-made frames."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from frames import hours, snap, snapshots, utc

from syncstats import schemas
from syncstats.analysis import SRE_WINDOWS, burn_rate, increments, success_rate, trend
from syncstats.analysis._util import wilson
from syncstats.analysis.rates import TREND_COLUMNS
from syncstats.exceptions import ParameterError, SchemaError

Z95 = 1.959963984540054


def inc_frame(n: list[int], k: list[int], source: list[str] | None = None) -> pd.DataFrame:
    data = {"jobs_processed": n, "jobs_succeeded": k}
    if source is not None:
        data["source"] = pd.Categorical(source)
    return pd.DataFrame(data)


# -- Wilson score interval ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "n", "rate", "low", "high"),
    [
        (81, 263, 0.3080, 0.2553, 0.3662),
        (0, 10, 0.0, 0.0, Z95**2 / (10 + Z95**2)),  # 0.2775
        (10, 10, 1.0, 10 / (10 + Z95**2), 1.0),  # 0.7225
        (1, 10, 0.1, 0.0179, 0.4042),
        (50, 100, 0.5, 0.4038, 0.5962),
    ],
)
def test_wilson_known_values(k, n, rate, low, high):
    got = success_rate(inc_frame([n], [k]))
    assert got["n"] == n and got["successes"] == k
    assert got["rate"] == pytest.approx(rate, abs=5e-5)
    assert got["low"] == pytest.approx(low, abs=5e-5)
    assert got["high"] == pytest.approx(high, abs=5e-5)


def test_wilson_extremes():
    r, lo, hi = wilson(0, 10)
    assert float(r) == 0.0 and float(lo) == pytest.approx(0.0, abs=1e-12)
    assert float(hi) == pytest.approx(0.27753, abs=1e-5)
    r, lo, hi = wilson(10, 10)
    assert float(r) == 1.0 and float(hi) == pytest.approx(1.0, abs=1e-12)
    assert float(lo) == pytest.approx(0.72247, abs=1e-5)


def test_wilson_n_zero_is_nan():
    got = success_rate(inc_frame([0, 0], [0, 0]))
    assert got["n"] == 0
    assert math.isnan(got["rate"]) and math.isnan(got["low"]) and math.isnan(got["high"])
    rate, low, high = wilson(np.array([0, 5]), np.array([0, 10]))
    assert np.isnan(rate[0]) and np.isnan(low[0]) and np.isnan(high[0])
    assert rate[1] == 0.5


def test_higher_confidence_is_wider():
    inc = inc_frame([263], [81])
    r95 = success_rate(inc, confidence=0.95)
    r99 = success_rate(inc, confidence=0.99)
    assert r99["rate"] == r95["rate"]
    assert r99["low"] < r95["low"] and r99["high"] > r95["high"]
    assert r99["low"] == pytest.approx(0.2401, abs=5e-5)
    assert r99["high"] == pytest.approx(0.3853, abs=5e-5)
    zero = success_rate(inc_frame([10], [0]), confidence=0.99)
    z99 = 2.5758293035489
    assert zero["high"] == pytest.approx(z99**2 / (10 + z99**2))


@pytest.mark.parametrize("confidence", [0, 1, 1.5, -0.1])
def test_confidence_validated(confidence):
    with pytest.raises(ParameterError, match="confidence"):
        success_rate(inc_frame([10], [5]), confidence=confidence)


def test_success_rate_by_group():
    inc = inc_frame([100, 163, 10, 0], [50, 31, 10, 0], ["a", "a", "b", "c"])
    got = success_rate(inc, by="source")
    assert list(got.columns) == ["source", "n", "successes", "rate", "low", "high"]
    assert got["source"].astype(str).tolist() == ["a", "b", "c"]
    assert got["n"].tolist() == [263, 10, 0]
    assert got["successes"].tolist() == [81, 10, 0]
    assert got["rate"].iloc[0] == pytest.approx(81 / 263)
    assert got["low"].iloc[0] == pytest.approx(0.2553, abs=5e-5)
    assert got["low"].iloc[1] == pytest.approx(0.72247, abs=1e-5)
    assert got[["rate", "low", "high"]].iloc[2].isna().all()
    with pytest.raises(SchemaError):
        success_rate(inc, by="nope")


# -- trend -------------------------------------------------------------------------------


def boundary_increments() -> pd.DataFrame:
    return increments(snapshots([
        snap(utc("2026-10-01 00:00"), 100, 10),
        snap(utc("2026-10-01 00:50"), 110, 11),
        snap(utc("2026-10-01 01:10"), 130, 13),  # 00:50 -> 01:10 counts in the 01:00 bucket
        snap(utc("2026-10-01 04:30"), 150, 15, low=3),
    ]))


def test_trend_buckets_by_end_zero_filled_and_partial():
    t = trend(boundary_increments())
    assert list(t.columns) == ["bucket", "source", *TREND_COLUMNS]
    assert t["bucket"].dtype == schemas.UTC_DTYPE
    assert [f"{b:%H:%M}" for b in t["bucket"]] == ["00:00", "01:00", "02:00", "03:00", "04:00"]
    assert t["source"].astype(str).tolist() == ["w"] * 5
    assert t["processed"].tolist() == [10, 20, 0, 0, 20]
    assert t["succeeded"].tolist() == [9, 18, 0, 0, 18]
    assert t["failed"].tolist() == [1, 2, 0, 0, 2]
    assert t["to_dlq"].tolist() == [0] * 5
    assert all(t[c].dtype == np.int64 for c in ("processed", "succeeded", "failed", "to_dlq"))
    # the last bucket ends at 05:00, after now (default: the latest end, 04:30)
    assert t["partial"].tolist() == [False, False, False, False, True]
    assert t["throughput_per_hour"].tolist() == [10.0, 20.0, 0.0, 0.0, 20.0]
    # rates are NaN on empty buckets, not 0
    assert t["success_rate"].tolist()[:2] == [0.9, 0.9]
    for col in ("success_rate", "success_low", "success_high", "avg_processing_time",
                "low_confidence_share"):
        assert t[col].iloc[2:4].isna().all(), col
    assert t["success_low"].iloc[0] == pytest.approx(0.59585, abs=1e-5)
    assert t["success_high"].iloc[0] == pytest.approx(0.98212, abs=1e-5)
    assert t["avg_processing_time"].tolist()[:2] == [0.5, 0.5]
    assert t["low_confidence_share"].iloc[4] == pytest.approx(3 / 18)


def test_trend_now_adds_buckets_and_drops_later_increments():
    inc = boundary_increments()
    later = trend(inc, now="2026-10-01 05:00", by=None)
    # (04:00, 05:00] ends exactly at now: complete, and no later bucket is added
    assert [f"{b:%H:%M}" for b in later["bucket"]] == [
        "00:00", "01:00", "02:00", "03:00", "04:00",
    ]
    assert later["processed"].tolist() == [10, 20, 0, 0, 20]
    assert later["partial"].tolist() == [False] * 5
    after = trend(inc, now="2026-10-01 05:00:01", by=None)
    assert after["processed"].tolist() == [10, 20, 0, 0, 20, 0]
    assert after["partial"].tolist() == [False] * 5 + [True]
    early = trend(inc, now=utc("2026-10-01 01:30"), by=None)
    assert early["processed"].tolist() == [10, 20]  # the 04:30 increment is left out
    assert early["partial"].tolist() == [False, True]
    before = trend(inc, now="2026-09-30")
    assert before.empty and list(before.columns) == ["bucket", "source", *TREND_COLUMNS]


def test_trend_by_none_aggregates_and_by_source_zero_fills_each_source():
    inc = increments(snapshots([
        snap(hours(0), 100, 10, source="a"), snap(hours(1), 110, 11, source="a"),
        snap(hours(2), 120, 12, source="a"),
        snap(hours(1), 50, 0, source="b"), snap(hours(2), 80, 10, source="b"),
        snap(hours(3.5), 100, 10, source="b"),
    ]))
    total = trend(inc, by=None)
    assert list(total.columns) == ["bucket", *TREND_COLUMNS]
    # ends 01:00 -> (00, 01]; 02:00 -> (01, 02]; 03:30 -> (03, 04]; (02, 03] is empty
    assert total["processed"].tolist() == [10, 40, 0, 20]
    assert total["failed"].tolist() == [1, 11, 0, 0]
    assert total["success_rate"].tolist() == pytest.approx(
        [0.9, 29 / 40, np.nan, 1.0], nan_ok=True)
    per = trend(inc, by="source")
    assert [(str(s), f"{b:%H}", p) for s, b, p in
            zip(per["source"], per["bucket"], per["processed"], strict=True)] == [
        ("a", "00", 10), ("a", "01", 10), ("a", "02", 0), ("a", "03", 0),
        ("b", "00", 0), ("b", "01", 30), ("b", "02", 0), ("b", "03", 20),
    ]
    assert isinstance(per["source"].dtype, pd.CategoricalDtype)
    assert per["partial"].tolist() == [False, False, False, True] * 2


def test_trend_snapshot_on_a_boundary_closes_the_bucket_ending_there():
    """Hourly copies taken exactly at :00: the interval (00:00, 01:00] is the 00:00
    bucket's, not the 01:00 bucket's (buckets are closed on the right)."""
    inc = increments(snapshots([
        snap(hours(0), 100, 10), snap(hours(1), 110, 11), snap(hours(2), 130, 13),
    ]))
    t = trend(inc, by=None)
    assert [f"{b:%H:%M}" for b in t["bucket"]] == ["00:00", "01:00"]
    assert t["processed"].tolist() == [10, 20]
    assert t["partial"].tolist() == [False, False]  # now = 02:00 closes the last bucket


def test_trend_daily_buckets_start_at_local_midnight():
    inc = increments(snapshots([
        snap(utc("2026-09-30 21:00"), 100, 10),
        snap(utc("2026-09-30 21:30"), 110, 10),  # 23:30 in Berlin: Sept 30
        snap(utc("2026-09-30 22:30"), 130, 11),  # 00:30 in Berlin: Oct 1
        snap(utc("2026-10-02 21:59"), 160, 11),  # 23:59 in Berlin: Oct 2
    ]))
    berlin = trend(inc, "1D", tz="Europe/Berlin", by=None)
    assert berlin["bucket"].tolist() == [
        utc("2026-09-29 22:00"), utc("2026-09-30 22:00"), utc("2026-10-01 22:00"),
    ]
    assert berlin["bucket"].dtype == schemas.UTC_DTYPE
    assert berlin["processed"].tolist() == [10, 20, 30]
    assert berlin["throughput_per_hour"].tolist() == pytest.approx([10 / 24, 20 / 24, 30 / 24])
    assert berlin["partial"].tolist() == [False, False, True]
    plain = trend(inc, "1D", by=None)  # UTC days
    assert plain["bucket"].tolist() == [utc("2026-09-30"), utc("2026-10-01"), utc("2026-10-02")]
    assert plain["processed"].tolist() == [30, 0, 30]


def test_trend_daily_bucket_over_dst_change_lasts_25_hours():
    inc = increments(snapshots([
        snap(utc("2026-10-24 12:00"), 100), snap(utc("2026-10-25 12:00"), 200),
        snap(utc("2026-10-26 12:00"), 300),
    ]))
    t = trend(inc, "1D", tz="Europe/Berlin", by=None)
    assert t["bucket"].tolist() == [utc("2026-10-24 22:00"), utc("2026-10-25 23:00")]
    assert t["throughput_per_hour"].tolist() == pytest.approx([100 / 25, 100 / 24])


def test_trend_hourly_over_autumn_dst_change():
    # 02:00-03:00 local happens twice on 2026-10-25 in Berlin: two buckets, no error
    inc = increments(snapshots(
        snap(utc("2026-10-24 23:30") + pd.Timedelta(hours=h), 100 + 10 * h) for h in range(5)
    ))
    t = trend(inc, "1h", tz="Europe/Berlin", by=None)
    assert t["bucket"].tolist() == [utc(f"2026-10-25 0{h}:00") for h in range(4)]
    assert t["processed"].tolist() == [10, 10, 10, 10]
    assert t["throughput_per_hour"].tolist() == [10.0] * 4


@pytest.mark.parametrize("day", ["2026-03-28 20:00", "2026-10-24 20:00"])
def test_trend_two_hour_buckets_over_dst_change_keep_every_attempt(day):
    inc = increments(snapshots(
        snap(utc(day) + pd.Timedelta(hours=h), 100 + 10 * h) for h in range(12)
    ))
    t = trend(inc, "2h", tz="Europe/Berlin", by=None)
    assert t["processed"].sum() == inc["jobs_processed"].sum() == 110
    assert t["bucket"].is_monotonic_increasing and t["bucket"].is_unique
    # every bucket's throughput is the true 10 attempts an hour, also the 1 h bucket
    # made by the skipped or repeated hour (the first and last are half-filled)
    assert t["throughput_per_hour"].iloc[1:-1].tolist() == [10.0] * (len(t) - 2)


def test_trend_parameters_validated():
    inc = boundary_increments()
    with pytest.raises(ParameterError, match="freq"):
        trend(inc, "every hour")
    with pytest.raises(ParameterError, match="tz"):
        trend(inc, tz="Mars/Olympus")
    with pytest.raises(SchemaError):
        trend(inc.drop(columns="end"))


# -- burn rate ---------------------------------------------------------------------------


def burn_increments(last_hour_failed: list[int]) -> pd.DataFrame:
    """3 days of hourly snapshots (100 attempts, 1 failure an hour), then an hour of
    5-minute snapshots (100 attempts each, *last_hour_failed* failures)."""
    rows = [snap(hours(h), 100 * h, h) for h in range(73)]
    p, f = 100 * 72, 72
    for i, failed in enumerate(last_hour_failed, start=1):
        p, f = p + 100, f + failed
        rows.append(snap(hours(72) + pd.Timedelta(minutes=5 * i), p, f))
    return increments(snapshots(rows))


def burn(failed: float, attempts: float, slo: float = 0.95) -> float:
    return failed / attempts / (1 - slo)


def test_burn_rate_fast_burn_pages():
    b = burn_rate(burn_increments([90] * 12), slo=0.95)
    assert list(b.columns) == [
        "long_window", "short_window", "factor", "severity", "burn_long", "burn_short",
        "attempts_long", "attempts_short", "firing",
    ]
    assert b[["long_window", "short_window", "factor", "severity"]].values.tolist() == [
        [lw, sw, f, s] for lw, sw, f, s in SRE_WINDOWS
    ]
    expected_long = [burn(1080, 1200), burn(5 + 1080, 1700), burn(23 + 1080, 3500),
                     burn(71 + 1080, 8300)]
    expected_short = [burn(90, 100), burn(540, 600), burn(1 + 1080, 1300), burn(1085, 1700)]
    assert b["burn_long"].tolist() == pytest.approx(expected_long)
    assert b["burn_short"].tolist() == pytest.approx(expected_short)
    assert b["attempts_long"].tolist() == pytest.approx([1200, 1700, 3500, 8300])
    assert b["attempts_short"].tolist() == pytest.approx([100, 600, 1300, 1700])
    assert b["firing"].tolist() == [True, True, True, True]
    assert b["burn_long"].iloc[0] == pytest.approx(18.0)  # > 14.4: the page fires


def test_burn_rate_long_window_only_does_not_fire():
    # the last hour burned, but the last five minutes were clean: the problem is over
    b = burn_rate(burn_increments([100] * 11 + [0]), slo=0.95)
    first = b.iloc[0]
    assert first["burn_long"] == pytest.approx(burn(1100, 1200)) == pytest.approx(18.333, 1e-4)
    assert first["burn_short"] == 0.0
    assert not first["firing"]
    assert first["burn_long"] > first["factor"] > first["burn_short"]
    # the other alerts still fire: their short windows (30 min to 6 h) hold the bad 55 min
    assert b["firing"].tolist() == [False, True, True, True]


def test_burn_rate_healthy_never_fires():
    b = burn_rate(burn_increments([1] * 12), slo=0.95)
    assert b["burn_long"].tolist() == pytest.approx([0.2] * 4)
    assert not b["firing"].any()


def test_burn_rate_counts_straddling_intervals_pro_rata():
    inc = increments(snapshots(snap(hours(h), 100 * h, 60 * h) for h in range(4)))
    b = burn_rate(inc, slo=0.9)
    first = b.iloc[0]
    assert first["attempts_short"] == pytest.approx(100 / 12)  # 5 min of an hourly interval
    assert first["burn_short"] == pytest.approx(6.0) == first["burn_long"]
    # a 3d window over 3 h of data: all 300 attempts; NaN burn where nothing was tried
    assert b["attempts_long"].iloc[3] == pytest.approx(300)
    empty = burn_rate(inc, now=hours(-1))
    assert empty["burn_long"].isna().all() and not empty["firing"].any()


def test_burn_rate_by_source():
    rows = [snap(hours(h), 100 * h, 90 * h, source="bad") for h in range(3)]
    rows += [snap(hours(h), 100 * h, 0, source="good") for h in range(3)]
    inc = increments(snapshots(rows))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no pandas deprecation warning for a one-column by
        b = burn_rate(inc, by="source")
    assert b["source"].astype(str).tolist() == ["bad"] * 4 + ["good"] * 4
    assert b["burn_long"].tolist() == pytest.approx([18.0] * 4 + [0.0] * 4)
    assert b["firing"].tolist() == [True] * 4 + [False] * 4


@pytest.mark.parametrize("slo", [0, 1, 1.2, -0.5, 95])
def test_burn_rate_slo_validated(slo):
    with pytest.raises(ParameterError, match="slo"):
        burn_rate(boundary_increments(), slo=slo)


def test_functions_do_not_modify_their_input():
    inc = boundary_increments()
    before = inc.copy(deep=True)
    success_rate(inc, by="source")
    trend(inc, "1D", tz="Europe/Berlin")
    trend(inc, by=None, now="2026-10-02")
    burn_rate(inc)
    pd.testing.assert_frame_equal(inc, before)
