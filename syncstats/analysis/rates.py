"""Success rates with Wilson intervals, time trends and SLO burn rates."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from .. import schemas
from .._checks import require
from .._dispatch import compute, is_dask, reduce_sources, window_rows
from .._time import check_freq, check_tz, to_timedelta, to_utc
from ..exceptions import ParameterError
from ._trend_numpy import trend_numpy
from ._util import (
    MAX_FILL_BUCKETS,
    RIGHT_CLOSED,
    TREND_SUMS,
    check_engine,
    floor_local,
    is_fixed,
    local_buckets,
    wilson,
    with_engine,
)

__all__ = ["success_rate", "trend", "burn_rate", "SRE_WINDOWS", "TREND_COLUMNS",
           "MAX_FILL_BUCKETS"]

_SUMS = TREND_SUMS
#: Value columns of :func:`trend` (after ``bucket`` and, when grouped, the ``by`` column).
TREND_COLUMNS = [
    "processed", "succeeded", "failed", "to_dlq", "success_rate", "success_low",
    "success_high", "avg_processing_time", "throughput_per_hour", "low_confidence_share",
    "partial",
]
#: The SRE workbook's multiwindow, multi-burn-rate alerts for a 30-day SLO:
#: (long window, short window, burn-rate factor, severity).
SRE_WINDOWS: tuple[tuple[str, str, float, str], ...] = (
    ("1h", "5min", 14.4, "page"),
    ("6h", "30min", 6.0, "page"),
    ("1D", "2h", 3.0, "ticket"),
    ("3D", "6h", 1.0, "ticket"),
)


def _by_list(by: str | Sequence[str] | None) -> list[str]:
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


def success_rate(
    increments: pd.DataFrame,
    *,
    by: str | Sequence[str] | None = None,
    confidence: float = 0.95,
) -> pd.Series | pd.DataFrame:
    """Success rate (a fraction) with its Wilson score interval.

    Parameters
    ----------
    increments : DataFrame
        From :func:`increments` (any rows: filter to a window first).
    by : str or list of str, optional
        Group columns (e.g. ``"source"``); None for one overall rate.
    confidence : float, default 0.95
        Confidence level of the interval.

    Returns
    -------
    Series or DataFrame
        ``n`` (attempts), ``successes``, ``rate``, ``low``, ``high``; a Series when
        *by* is None, else a frame with the group columns first. ``rate``/``low``/
        ``high`` are NaN when ``n == 0``.

    Examples
    --------
    >>> import pandas as pd
    >>> inc = pd.DataFrame({"jobs_processed": [263], "jobs_succeeded": [81]})
    >>> success_rate(inc).round(4).to_dict()
    {'n': 263.0, 'successes': 81.0, 'rate': 0.308, 'low': 0.2553, 'high': 0.3662}
    """
    require(increments, ["jobs_processed", "jobs_succeeded", *_by_list(by)], "increments")
    cols = _by_list(by)
    if is_dask(increments):
        return reduce_sources(_rate_sums, partial(_rate_finish, cols=cols, confidence=confidence),
                              increments, cols=cols)
    return _rate_finish(_rate_sums(increments, cols=cols), cols=cols, confidence=confidence)


def _rate_sums(increments: pd.DataFrame, *, cols: list[str]) -> pd.DataFrame:
    """Attempts and successes per group (one partition's share of :func:`success_rate`)."""
    sums = ["jobs_processed", "jobs_succeeded"]
    if cols:
        return increments.groupby(cols, observed=True, sort=True)[sums].sum().reset_index()
    return pd.DataFrame({c: [increments[c].sum()] for c in sums})


def _rate_finish(parts: pd.DataFrame, *, cols: list[str],
                 confidence: float) -> pd.Series | pd.DataFrame:
    """:func:`success_rate` from :func:`_rate_sums` of one or several partitions."""
    if cols:
        g = parts.groupby(cols, observed=True, sort=True)[
            ["jobs_processed", "jobs_succeeded"]
        ].sum()
        rate, low, high = wilson(g["jobs_succeeded"], g["jobs_processed"], confidence)
        return pd.DataFrame(
            {
                "n": g["jobs_processed"].astype("int64"),
                "successes": g["jobs_succeeded"].astype("int64"),
                "rate": rate, "low": low, "high": high,
            },
            index=g.index,
        ).reset_index()
    n = int(parts["jobs_processed"].sum())
    k = int(parts["jobs_succeeded"].sum())
    rate, low, high = wilson(k, n, confidence)
    return pd.Series(
        {"n": n, "successes": k, "rate": float(rate), "low": float(low), "high": float(high)},
        dtype="float64",
    )


def trend(
    increments: pd.DataFrame,
    freq: str = "1h",
    *,
    by: str | None = "source",
    now: Any = None,
    tz: str = "UTC",
    confidence: float = 0.95,
    engine: str = "auto",
) -> pd.DataFrame:
    """Counts, success rate and throughput per time bucket.

    Each increment is assigned to the bucket containing its ``end`` (the snapshot that
    closes the interval). Buckets are closed on the right, ``(bucket, bucket + freq]``,
    so a snapshot taken exactly on a boundary (hourly copies at :00) closes the bucket
    that ends there; an interval that spans a boundary counts entirely in the later
    bucket, so use snapshots at least as frequent as *freq*. Buckets with no increment
    appear with zero counts (rates NaN), from the first bucket with data to the bucket
    containing *now*, but over at most the last
    :data:`~syncstats.analysis.rates.MAX_FILL_BUCKETS` buckets: an earlier bucket appears
    only when it has data (every increment is still counted), and
    ``attrs["zero_filled_from"]`` is the first zero-filled bucket (UTC). Increments
    ending after *now* are left out.

    Parameters
    ----------
    increments : DataFrame
        From :func:`increments`.
    freq : str, default '1h'
        Bucket size, a pandas frequency (``'15min'``, ``'1h'``, ``'1D'``, ``'7D'``).
    by : str or None, default 'source'
        Group column; None aggregates all sources.
    now : time, optional
        The analysis time (default: the latest ``end``). A bucket that ends after it is
        ``partial``.
    tz : str, default 'UTC'
        Time zone whose clock aligns the buckets (daily buckets start at local
        midnight); ``bucket`` is always reported in UTC.
    confidence : float, default 0.95
        Level of the Wilson interval ``success_low``/``success_high``.
    engine : {'auto', 'reference', 'numpy'}
        ``'reference'``: pandas groupby and reindex (any zone, any frequency);
        ``'numpy'`` and ``'auto'`` (default): integer bucket keys and ``np.add.reduceat``
        for UTC buckets of a fixed size; integer sums, groups and times equal the
        reference's, float sums within 1e-12 relative (no compensated summation). Where
        numpy declines (another *tz*, a calendar *freq*, a missing ``end``, ...) the
        reference runs, for ``'numpy'`` as for ``'auto'``. ``result.attrs["engine"]``
        says which ran and, when numpy declined, ``result.attrs["engine_fallback"]``
        why. With dask increments the reference's per-partition sums run (no attrs).

    Returns
    -------
    DataFrame
        ``bucket`` (UTC start), the *by* column when grouped, then ``processed``,
        ``succeeded``, ``failed``, ``to_dlq`` (int64), ``success_rate``,
        ``success_low``, ``success_high`` (fractions), ``avg_processing_time`` (s per
        attempt), ``throughput_per_hour`` (attempts), ``low_confidence_share``
        (fraction of successes), ``partial`` (bool). Sorted by group, then bucket;
        ``attrs["zero_filled_from"]`` (Timestamp, None when empty): every bucket from
        it on is present, earlier rows are the buckets with data only.

    Examples
    --------
    >>> from syncstats import increments
    >>> from syncstats.testing import example_snapshots
    >>> t = trend(increments(example_snapshots()), "2h", by=None)
    >>> t[["bucket", "processed", "success_rate", "partial"]]
                         bucket  processed  success_rate  partial
    0 2026-10-01 00:00:00+00:00         20           0.9    False
    1 2026-10-01 02:00:00+00:00         20           0.9    False
    2 2026-10-01 04:00:00+00:00          0           NaN    False
    3 2026-10-01 06:00:00+00:00          5           1.0     True
    >>> t.attrs["zero_filled_from"]
    Timestamp('2026-10-01 00:00:00+0000', tz='UTC')
    """
    check_engine(engine)
    if is_dask(increments):  # partial sums per source partition, finished as below
        cols = _by_list(by)
        require(increments, ["end", *_SUMS, *cols], "increments")
        offset = check_freq(freq)
        check_tz(tz)
        ref = to_utc(now, "now") if now is not None else None
        opts = {"freq": freq, "offset": offset, "cols": cols, "ref": ref, "tz": tz}
        return reduce_sources(_trend_sums, partial(_trend_finish, confidence=confidence,
                                                   **opts), increments, **opts)
    return _trend(increments, freq, by=by, now=now, tz=tz, confidence=confidence, engine=engine)


def _trend(
    increments: pd.DataFrame,
    freq: str,
    *,
    by: str | None,
    now: Any,
    tz: str,
    confidence: float,
    engine: str = "auto",
) -> pd.DataFrame:
    """:func:`trend` on a pandas frame: the checks, then the numpy engine or the reference."""
    cols = _by_list(by)
    require(increments, ["end", *_SUMS, *cols], "increments")
    offset = check_freq(freq)
    check_tz(tz)
    ref = to_utc(now, "now") if now is not None else None
    declined = None
    if engine != "reference":
        fast = trend_numpy(increments, offset, cols, ref, tz, confidence)
        if isinstance(fast, pd.DataFrame):
            return with_engine(fast, "numpy")
        declined = fast
    return with_engine(_trend_reference(increments, freq, offset, cols, ref, tz, confidence),
                       "reference", declined)


def _trend_sums(
    increments: pd.DataFrame,
    *,
    freq: str,
    offset: pd.DateOffset,
    cols: list[str],
    ref: pd.Timestamp | None,
    tz: str,
) -> pd.DataFrame:
    """Sums per (local bucket, group) and the latest ``end`` of each: the additive part
    of :func:`trend` (summed again, and maxed, over partitions by :func:`_trend_finish`)."""
    inc = increments
    if ref is not None:
        inc = inc[inc["end"] <= ref]
    if inc.empty:
        return pd.DataFrame({"bucket": pd.Series([], dtype=pd.DatetimeTZDtype(
            schemas.TIME_UNIT, tz)), **{c: inc[c].iloc[:0] for c in cols},
            **{c: inc[c].iloc[:0] for c in _SUMS}, "_last_end": inc["end"].iloc[:0]})
    # right-closed buckets: an end exactly on a boundary belongs to the bucket ending there
    local_end = inc["end"].dt.tz_convert(tz) - RIGHT_CLOSED
    bucket = floor_local(local_end, freq) if is_fixed(offset) else _floor_calendar(
        local_end, offset
    )
    keys = [bucket.rename("bucket"), *(inc[c] for c in cols)]
    work = inc[_SUMS].assign(_last_end=inc["end"])
    return work.groupby(keys, observed=True, sort=True).agg(
        {**dict.fromkeys(_SUMS, "sum"), "_last_end": "max"}).reset_index()


def _trend_reference(
    increments: pd.DataFrame,
    freq: str,
    offset: pd.DateOffset,
    cols: list[str],
    ref: pd.Timestamp | None,
    tz: str,
    confidence: float,
) -> pd.DataFrame:
    """The reference implementation of :func:`trend` (any zone, any frequency)."""
    opts = {"freq": freq, "offset": offset, "cols": cols, "ref": ref, "tz": tz}
    return _trend_finish(_trend_sums(increments, **opts), confidence=confidence, **opts)


def _trend_finish(
    parts: pd.DataFrame,
    *,
    freq: str,
    offset: pd.DateOffset,
    cols: list[str],
    ref: pd.Timestamp | None,
    tz: str,
    confidence: float,
) -> pd.DataFrame:
    """:func:`trend`'s table from :func:`_trend_sums` of one or several partitions."""
    if parts.empty:
        return _empty_trend(cols)
    sums = parts.groupby(["bucket", *cols], observed=True, sort=True).agg(
        {**dict.fromkeys(_SUMS, "sum"), "_last_end": "max"})
    if ref is None:
        ref = sums.pop("_last_end").max()
    else:
        sums = sums.drop(columns="_last_end")
    bucket = sums.index.get_level_values("bucket")
    first = bucket.min()
    last = _floor_one(ref.tz_convert(tz) - RIGHT_CLOSED, offset, freq)
    if is_fixed(offset):
        buckets, bucket_ends = local_buckets(first, last, freq, limit=MAX_FILL_BUCKETS,
                                             keep=bucket)
    else:
        buckets = _calendar_buckets(first, last, offset, tz, bucket)
        bucket_ends = buckets + offset
    if cols:
        groups = sums.index.get_level_values(cols[0])
        levels = [buckets, pd.Index(sorted(groups.unique()), name=cols[0])]
        full = pd.MultiIndex.from_product(levels)
    else:
        full = buckets
    sums = sums.reindex(full, fill_value=0)
    out = sums.reset_index()
    out["bucket"] = out["bucket"].dt.tz_convert("UTC").dt.as_unit(schemas.TIME_UNIT)
    p = out["jobs_processed"].to_numpy(dtype="float64")
    s = out["jobs_succeeded"].to_numpy(dtype="float64")
    rate, low, high = wilson(s, p, confidence)
    starts = out["bucket"]
    end_of = pd.Series(bucket_ends.tz_convert("UTC").as_unit(schemas.TIME_UNIT),
                       index=buckets.tz_convert("UTC").as_unit(schemas.TIME_UNIT))
    ends = starts.map(end_of)
    hours = (ends - starts).dt.total_seconds().to_numpy() / 3600.0
    with np.errstate(divide="ignore", invalid="ignore"):
        conf_total = (out["high_confidence_matches"] + out["low_confidence_matches"]).to_numpy()
        result = pd.DataFrame(
            {
                "bucket": starts,
                **{c: out[c] for c in cols},
                "processed": out["jobs_processed"].astype("int64"),
                "succeeded": out["jobs_succeeded"].astype("int64"),
                "failed": out["jobs_failed"].astype("int64"),
                "to_dlq": out["jobs_to_dlq"].astype("int64"),
                "success_rate": rate,
                "success_low": low,
                "success_high": high,
                "avg_processing_time": np.where(
                    p > 0, out["total_processing_time"].to_numpy() / p, np.nan
                ),
                "throughput_per_hour": p / hours,
                "low_confidence_share": np.where(
                    conf_total > 0, out["low_confidence_matches"].to_numpy() / conf_total, np.nan
                ),
                "partial": (ends > ref).to_numpy(),
            }
        )
    if cols:
        result = result.sort_values([cols[0], "bucket"], kind="stable").reset_index(drop=True)
        result[cols[0]] = result[cols[0]].astype("category")
    result.attrs["zero_filled_from"] = _fill_start(buckets, bucket_ends)
    return result


def _fill_start(starts: pd.DatetimeIndex, ends: pd.DatetimeIndex) -> pd.Timestamp:
    """The start (UTC) of the last run of *starts* without a gap: every bucket from it on
    is present (zero-filled); before it only the buckets with data are."""
    gaps = np.flatnonzero(ends[:-1] != starts[1:])
    first = gaps[-1] + 1 if len(gaps) else 0
    return starts[first].tz_convert("UTC").as_unit(schemas.TIME_UNIT)


def _floor_calendar(times: pd.Series, offset: pd.DateOffset) -> pd.Series:
    """Floor to non-fixed offsets (months, weeks anchored, ...): roll back to an anchor."""
    day = times.dt.normalize()
    on = pd.Series([offset.is_on_offset(t) for t in day.dt.tz_localize(None)], index=day.index)
    rolled = day.where(on, day - offset)
    return rolled


def _calendar_buckets(first: pd.Timestamp, last: pd.Timestamp, offset: pd.DateOffset,
                      tz: str, data: pd.Index) -> pd.DatetimeIndex:
    """:func:`local_buckets` for calendar offsets: the last :data:`MAX_FILL_BUCKETS`
    bucket starts up to *last*, after the earlier starts in *data* (those with data)."""
    start = first
    try:  # offset arithmetic first: no range is built from an implausible first bucket
        lo = (last.tz_localize(None) - offset * (MAX_FILL_BUCKETS - 1)).tz_localize(
            tz, ambiguous=True, nonexistent="shift_forward")
    except (OverflowError, pd.errors.OutOfBoundsDatetime):
        lo = None  # before any time there can be: nothing is cut
    if lo is not None and lo > first:
        start = lo
    buckets = pd.date_range(start, last, freq=offset, tz=tz, name="bucket")
    buckets = buckets[-MAX_FILL_BUCKETS:]
    old = data[data < buckets[0]].unique().sort_values().as_unit(buckets.unit)
    return old.append(buckets).rename("bucket")


def _floor_one(ts: pd.Timestamp, offset: pd.DateOffset, freq: str) -> pd.Timestamp:
    if is_fixed(offset):
        return floor_local(ts, freq)
    day = ts.normalize()
    return day if offset.is_on_offset(day.tz_localize(None)) else day - offset


def _empty_trend(cols: list[str]) -> pd.DataFrame:
    data: dict[str, Any] = {"bucket": pd.Series([], dtype=schemas.UTC_DTYPE)}
    for c in cols:
        data[c] = pd.Series([], dtype="category")
    for c in ("processed", "succeeded", "failed", "to_dlq"):
        data[c] = pd.Series([], dtype="int64")
    for c in ("success_rate", "success_low", "success_high", "avg_processing_time",
              "throughput_per_hour", "low_confidence_share"):
        data[c] = pd.Series([], dtype="float64")
    data["partial"] = pd.Series([], dtype="bool")
    empty = pd.DataFrame(data)
    empty.attrs["zero_filled_from"] = None
    return empty


def burn_rate(
    increments: pd.DataFrame,
    slo: float = 0.95,
    windows: Sequence[tuple[str, str, float, str]] = SRE_WINDOWS,
    *,
    now: Any = None,
    by: str | None = None,
) -> pd.DataFrame:
    """Multiwindow error-budget burn rates (SRE workbook) and the alerts that would fire.

    The burn rate of a window is its failure fraction divided by the error budget
    ``1 - slo``. An alert fires when both its long and its short window burn faster than
    its factor. Increments that overlap a window's edge count pro rata to the overlap
    (uniform rate within an interval), so short windows still see data between hourly
    snapshots.

    Parameters
    ----------
    increments : DataFrame
        From :func:`increments`.
    slo : float, default 0.95
        Target success fraction of attempts, in (0, 1).
    windows : sequence of (long, short, factor, severity)
        Default :data:`~syncstats.analysis.rates.SRE_WINDOWS` (1h/5m x14.4, 6h/30m x6,
        1d/2h x3, 3d/6h x1).
    now : time, optional
        End of every window (default: the latest ``end``).
    by : str, optional
        Group column (e.g. ``"source"``).

    Returns
    -------
    DataFrame
        One row per alert (and group): ``long_window``, ``short_window``, ``factor``,
        ``severity``, ``burn_long``, ``burn_short`` (NaN with no attempts),
        ``attempts_long``, ``attempts_short``, ``firing`` (bool).

    Examples
    --------
    >>> from syncstats import increments
    >>> from syncstats.testing import example_snapshots
    >>> b = burn_rate(increments(example_snapshots()), slo=0.95)
    >>> b[["long_window", "burn_long", "firing"]].round(2).values.tolist()
    [['1h', 0.0, False], ['6h', 1.71, False], ['1D', 1.78, False], ['3D', 1.78, True]]
    """
    if not 0 < slo < 1:
        raise ParameterError(f"slo must be a fraction in (0, 1), found {slo!r}")
    cols = _by_list(by)
    require(increments, ["start", "end", "jobs_processed", "jobs_failed", *cols], "increments")
    ref = to_utc(now, "now") if now is not None else increments["end"].max()
    if is_dask(increments):  # only increments ending inside the longest window count
        ref = compute(ref)
        longest = max(to_timedelta(w[0], "window") for w in windows)
        increments = window_rows(increments, "end", ref - longest)
    budget = 1.0 - slo
    start = increments["start"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    end = increments["end"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    ref64 = ref.tz_convert("UTC").tz_localize(None).to_datetime64()
    span = (end - start) / np.timedelta64(1, "s")
    groups = [((), increments.index)] if not cols else list(
        increments.groupby(cols if len(cols) > 1 else cols[0], observed=True).groups.items()
    )
    rows = []
    for key, idx in groups:
        sel = increments.index.isin(idx)
        for long_w, short_w, factor, severity in windows:
            res = {}
            for label, w in (("long", long_w), ("short", short_w)):
                lo = ref64 - to_timedelta(w, "window").to_timedelta64()
                overlap = (np.minimum(end, ref64) - np.maximum(start, lo)) / np.timedelta64(1, "s")
                with np.errstate(divide="ignore", invalid="ignore"):
                    frac = np.where(span > 0, np.clip(overlap / span, 0, 1),
                                    ((end > lo) & (end <= ref64)).astype(float))
                frac = np.where(sel, frac, 0.0)
                n = float((increments["jobs_processed"].to_numpy() * frac).sum())
                f = float((increments["jobs_failed"].to_numpy() * frac).sum())
                res[label] = (f / n / budget if n > 0 else np.nan, n)
            row = {} if not cols else dict(zip(cols, key if isinstance(key, tuple) else (key,),
                                               strict=True))
            burn_l, n_l = res["long"]
            burn_s, n_s = res["short"]
            row.update(
                long_window=long_w, short_window=short_w, factor=float(factor),
                severity=severity, burn_long=burn_l, burn_short=burn_s,
                attempts_long=n_l, attempts_short=n_s,
                firing=bool(burn_l > factor and burn_s > factor),
            )
            rows.append(row)
    return pd.DataFrame(rows)
