"""trend and error_trend do not scale with the span of the data times (issue 13).

One interval ending in 1970 next to 2026 data, or *now* in the year 4000, used to make a
zero-filled row for each of 500,000 (or 17 million) hourly buckets per group. Only the
last MAX_FILL_BUCKETS buckets are zero-filled now; earlier ones appear with data only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from frames import errors_for, snap, snapshots, utc

from syncstats.analysis import error_increments, error_trend, increments, trend
from syncstats.analysis._util import local_buckets
from syncstats.analysis.rates import MAX_FILL_BUCKETS, TREND_COLUMNS

EPOCH = utc("1970-01-01")
HOUR = pd.Timedelta(1, "h")
FAR = "4000-01-01"
SUMS = {"processed": "jobs_processed", "succeeded": "jobs_succeeded",
        "failed": "jobs_failed", "to_dlq": "jobs_to_dlq"}


def span_snapshots() -> pd.DataFrame:
    """Source a: one interval ending 1970-01-02, then 2026; source b: 2026 only."""
    return snapshots([
        snap(utc("1970-01-01 00:00"), 0, source="a", session=EPOCH),
        snap(utc("1970-01-02 00:00"), 10, 1, 1, source="a", session=EPOCH),
        snap(utc("2026-10-01 00:00"), 20, 2, 1, source="a", session=EPOCH),
        snap(utc("2026-10-01 01:00"), 30, 2, 1, source="a", session=EPOCH),
        snap(utc("2026-10-01 02:30"), 45, 3, 2, source="a", session=EPOCH),
        snap(utc("2026-10-01 00:00"), 100, 10, source="b"),
        snap(utc("2026-10-01 01:00"), 110, 11, source="b"),
        snap(utc("2026-10-01 03:00"), 130, 12, source="b"),
    ])


def span_increments() -> pd.DataFrame:
    inc = increments(span_snapshots())
    assert inc["end"].min() == utc("1970-01-02")  # the fixture is what it says
    return inc


def span_error_increments() -> pd.DataFrame:
    s = span_snapshots()
    e = errors_for(s, [
        {"PlexNotFound": 0}, {"PlexNotFound": 1}, {"PlexNotFound": 2, "TimeoutError": 1},
        {"PlexNotFound": 2, "TimeoutError": 1}, {"PlexNotFound": 3, "TimeoutError": 1},
        {"TimeoutError": 10}, {"TimeoutError": 11}, {"TimeoutError": 12},
    ])
    inc = error_increments(e, s)
    assert inc["end"].min() == utc("1970-01-02")
    return inc


def data_buckets(ends: pd.Series) -> set[pd.Timestamp]:
    """The hourly (right-closed) buckets of interval ends."""
    return set((ends - pd.Timedelta(1, "us")).dt.floor("1h"))


def check_bounded(frame: pd.DataFrame, group: list[str], ends: pd.Series,
                  ref: pd.Timestamp) -> None:
    """At most MAX_FILL_BUCKETS + (data buckets) rows per group; the last
    MAX_FILL_BUCKETS buckets up to the bucket of *ref* all present; earlier buckets are
    those with data; ``attrs["zero_filled_from"]`` where the zero-filled range starts."""
    with_data = data_buckets(ends)
    last = (ref - pd.Timedelta(1, "us")).floor("1h")
    filled = pd.date_range(end=last, periods=MAX_FILL_BUCKETS, freq="1h", unit="us")
    for key, g in frame.groupby(group, observed=True):
        # before: one row per hour since 1970 (~499,000, or ~17.3 million to the year 4000)
        assert len(g) <= MAX_FILL_BUCKETS + len(with_data), key
        b = pd.DatetimeIndex(g["bucket"])
        assert b.is_monotonic_increasing and b.is_unique, key
        assert b[-MAX_FILL_BUCKETS:].equals(pd.DatetimeIndex(filled, name="bucket")), key
        assert set(b[:-MAX_FILL_BUCKETS]) == {t for t in with_data if t < filled[0]}, key
    assert frame.attrs["zero_filled_from"] == filled[0]


def test_trend_of_an_interval_ending_in_1970_fills_the_last_buckets_only():
    inc = span_increments()
    t = trend(inc, "1h")
    assert list(t.columns) == ["bucket", "source", *TREND_COLUMNS]
    check_bounded(t, ["source"], inc["end"], inc["end"].max())
    assert len(t) == 2 * (MAX_FILL_BUCKETS + 1)  # the 1970 bucket, for both sources
    for col, src in SUMS.items():  # every increment counted, in its bucket
        assert t[col].sum() == inc[src].sum(), col
        assert (t.groupby("source", observed=True)[col].sum()
                == inc.groupby("source", observed=True)[src].sum()).all(), col
    old = t[t["bucket"] == utc("1970-01-01 23:00")].set_index("source")
    assert old["processed"].to_dict() == {"a": 10, "b": 0}
    assert old["throughput_per_hour"].to_dict() == {"a": 10.0, "b": 0.0}
    assert not t["partial"].iloc[0]
    # the recent buckets as for a short span (ends 00:00, 01:00, 02:30 / 01:00, 03:00)
    recent = t[t["bucket"] >= utc("2026-09-30 23:00")]
    assert recent[["source", "processed"]].astype({"source": str}).values.tolist() == [
        ["a", 10], ["a", 10], ["a", 0], ["a", 15], ["b", 0], ["b", 10], ["b", 0], ["b", 20]]


def test_trend_with_now_far_in_the_future_fills_the_last_buckets_only():
    inc = span_increments()
    for by in ("source", None):
        t = trend(inc, "1h", by=by, now=FAR)
        check_bounded(t.assign(_all=0) if by is None else t, ["_all" if by is None
                      else "source"], inc["end"], utc(FAR))
        assert t["processed"].sum() == inc["jobs_processed"].sum()
        assert t["failed"].sum() == inc["jobs_failed"].sum()
        assert t["partial"].sum() == 0  # now closes its bucket
    # the most recent buckets are all empty: the data lie before them
    t = trend(inc, "1h", now=FAR, by=None)
    assert (t["processed"].iloc[-MAX_FILL_BUCKETS:] == 0).all()
    assert t["bucket"].iloc[:-MAX_FILL_BUCKETS].tolist() == sorted(data_buckets(inc["end"]))


def test_trend_calendar_buckets_are_bounded_too():
    inc = span_increments()
    # weeks from Monday: 105,000 of them from 1970 to the year 4000
    t = trend(inc, "W-MON", by=None, now=FAR)
    assert len(t) == MAX_FILL_BUCKETS + 2
    last = pd.Timestamp("3999-12-27", tz="UTC")  # the Monday before now
    assert t["bucket"].tolist()[:2] == [utc("1969-12-29"), utc("2026-09-28")]
    assert t["bucket"].iloc[-1] == last
    assert t["bucket"].iloc[2] == last - pd.Timedelta(weeks=MAX_FILL_BUCKETS - 1)
    assert t.attrs["zero_filled_from"] == t["bucket"].iloc[2]
    assert t["processed"].tolist()[:2] == [10, inc["jobs_processed"].sum() - 10]
    assert (t["processed"].iloc[2:] == 0).all()
    assert t["throughput_per_hour"].iloc[0] == 10 / (7 * 24)


def test_error_trend_of_an_interval_ending_in_1970_fills_the_last_buckets_only():
    einc = span_error_increments()
    got = error_trend(einc, "1h", by="source")
    assert list(got.columns) == ["bucket", "source", "error_type", "count"]
    check_bounded(got, ["source", "error_type"], einc["end"], einc["end"].max())
    assert len(got) == 2 * 2 * (MAX_FILL_BUCKETS + 1)
    assert got["count"].sum() == einc["count"].sum()
    want = einc.groupby([einc["source"].astype(str), einc["error_type"].astype(str)])[
        "count"].sum()
    have = got.groupby([got["source"].astype(str), got["error_type"].astype(str)])[
        "count"].sum()
    assert have.to_dict() == {**dict.fromkeys(have.index, 0), **want.to_dict()}
    first = got[got["bucket"] == utc("1970-01-01 23:00")]
    assert first["count"].sum() == 1


def test_error_trend_with_now_far_in_the_future_fills_the_last_buckets_only():
    einc = span_error_increments()
    got = error_trend(einc, "1h", now=FAR)
    check_bounded(got, ["error_type"], einc["end"], utc(FAR))
    assert got["count"].sum() == einc["count"].sum()
    assert (got.groupby("error_type", observed=True)["count"].apply(
        lambda c: (c.iloc[-MAX_FILL_BUCKETS:] == 0).all())).all()


def test_error_trend_of_dlq_arrivals_is_bounded():
    dlq = pd.DataFrame({"error_type": ["A", "B", "A"], "failed_at": pd.to_datetime(
        ["1970-01-01 00:10", "2026-10-01 02:30", "2026-10-01 02:40"], utc=True).as_unit("us")})
    got = error_trend(dlq, "1h")
    assert len(got) == 2 * (MAX_FILL_BUCKETS + 1)
    assert got["count"].sum() == 3
    assert got["bucket"].iloc[0] == utc("1970-01-01 00:00")
    assert got.attrs["zero_filled_from"] == utc("2026-10-01 02:00") - (
        MAX_FILL_BUCKETS - 1) * HOUR


@pytest.mark.parametrize("tz", ["Europe/Berlin", "America/New_York"])
def test_local_zone_buckets_are_bounded_and_keep_every_attempt(tz):
    inc = span_increments()
    t = trend(inc, "1h", tz=tz, now=FAR, by=None)
    assert len(t) <= MAX_FILL_BUCKETS + len(data_buckets(inc["end"]))
    assert t["processed"].sum() == inc["jobs_processed"].sum()
    assert t["bucket"].is_monotonic_increasing and t["bucket"].is_unique
    # every non-empty hour lasts an hour, also the 1970 one
    assert set(t.loc[t["processed"] > 0, "throughput_per_hour"] / t.loc[
        t["processed"] > 0, "processed"]) == {1.0}
    e = error_trend(span_error_increments(), "1h", tz=tz, now=FAR)
    assert e["count"].sum() == span_error_increments()["count"].sum()
    assert len(e) <= 2 * (MAX_FILL_BUCKETS + 5)


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin", "Australia/Lord_Howe"])
@pytest.mark.parametrize("freq", ["15min", "1h", "2h", "1D"])
def test_local_buckets_limit_equals_the_tail_of_the_full_range(tz, freq):
    first = pd.Timestamp("2025-01-01", tz=tz).as_unit("us")
    last = pd.Timestamp("2026-06-01", tz=tz).as_unit("us").floor(freq)
    full, full_ends = local_buckets(first, last, freq)
    assert full.is_unique  # clocks going forward: no bucket twice
    rng = np.random.default_rng(13)
    keep = full[rng.random(len(full)) < 0.05].append(pd.DatetimeIndex([first]))
    for limit in (1, 7, 500, len(full) - 1, len(full), len(full) + 5):
        starts, ends = local_buckets(first, last, freq, limit=limit, keep=keep)
        pick = np.zeros(len(full), dtype=bool)
        pick[-limit:] = True
        pick |= full.isin(keep)
        assert starts.equals(full[pick]), limit
        assert ends.equals(full_ends[pick]), limit


def test_hourly_buckets_over_the_spring_change_count_every_attempt_once():
    # 02:00 does not exist in Berlin on 2026-03-29: it used to give the 03:00 bucket twice
    inc = increments(snapshots([
        snap(utc("2026-03-28 23:30"), 0), snap(utc("2026-03-29 00:30"), 10),
        snap(utc("2026-03-29 01:30"), 30), snap(utc("2026-03-29 02:30"), 60),
    ]))
    t = trend(inc, "1h", tz="Europe/Berlin", by=None)
    assert t["processed"].tolist() == [10, 20, 30]
    assert t["bucket"].is_unique
    assert t["throughput_per_hour"].tolist() == [10.0, 20.0, 30.0]


def test_dask_equals_pandas_on_a_long_span():
    pytest.importorskip("dask.dataframe")
    import dask

    import syncstats
    from syncstats import fleet

    s = span_snapshots()
    data = syncstats.SyncData(snapshots=s, errors=errors_for(s, [{}] * len(s)))
    lazy = fleet.from_syncdata(data, npartitions=2)
    with dask.config.set(scheduler="synchronous"):
        dinc = increments(lazy.snapshots)
        inc = increments(s)
        for kwargs in ({}, {"now": FAR, "by": None}, {"freq": "W-MON", "now": FAR}):
            got, want = trend(dinc, **kwargs), trend(inc, **kwargs)
            pd.testing.assert_frame_equal(got, want)
            # attrs["engine"] (and "engine_fallback"): the pandas result's engine; none on dask
            assert got.attrs == {k: v for k, v in want.attrs.items()
                                 if k not in ("engine", "engine_fallback")}


@pytest.mark.parametrize("freq", ["1h", "1D", "7D"])
def test_error_trend_of_a_dlq_entry_in_year_1(freq):
    dlq = pd.DataFrame({"error_type": ["A", "B"], "failed_at": pd.to_datetime(
        ["0001-01-01 00:10", "2026-10-01 02:30"], utc=True, format="ISO8601").as_unit("us")})
    got = error_trend(dlq, freq)
    assert len(got) == 2 * (MAX_FILL_BUCKETS + 1)  # before: up to 17.8 million rows
    assert got["count"].sum() == 2
    assert got["bucket"].iloc[0] < utc("1970-01-01")
    starts, ends = local_buckets(got["bucket"].iloc[0], got["bucket"].iloc[-1], freq,
                                 limit=3, keep=pd.DatetimeIndex(got["bucket"].iloc[:1]))
    assert len(starts) == 4 and ends[0] - starts[0] == pd.Timedelta(freq)
