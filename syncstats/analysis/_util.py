"""Small helpers shared by the analysis functions: argument checks, time handling."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import schemas
from .._checks import check_choice
from ..exceptions import ParameterError

TimeLike = str | pd.Timestamp | np.datetime64 | Any
WindowLike = str | pd.Timedelta | Any


RIGHT_CLOSED = pd.Timedelta(1, "us")

#: Summed columns of ``trend`` (increments' counters and processing time).
TREND_SUMS = [
    "jobs_processed", "jobs_succeeded", "jobs_failed", "jobs_to_dlq",
    "high_confidence_matches", "low_confidence_matches", "total_processing_time",
]
#: Buckets that :func:`~syncstats.trend` and :func:`~syncstats.error_trend` zero-fill
#: at most, per group: the last ones, up to the bucket of the reference time. An earlier
#: bucket appears only when it has data, so one implausible time (an interval ending in
#: 1970 next to 2026 data, or *now* in the year 4000) cannot make a row for each of
#: millions of empty buckets. 100,000 hourly buckets are 11 years.
MAX_FILL_BUCKETS = 100_000


def is_fixed(offset: pd.DateOffset) -> bool:
    """Whether *offset* is a fixed length (a Timedelta), not a calendar offset."""
    try:
        pd.Timedelta(offset)
        return True
    except (ValueError, TypeError):
        return False


#: Values of ``engine=`` of :func:`~syncstats.analysis.increments` and
#: :func:`~syncstats.analysis.trend`.
ENGINES = ("auto", "reference", "numpy")


def check_engine(engine: Any) -> None:
    """Refuse an ``engine=`` value not in :data:`ENGINES` (one-line ParameterError)."""
    check_choice(engine, "engine", ENGINES)


def with_engine(frame: pd.DataFrame, engine: str, declined: str | None = None) -> pd.DataFrame:
    """*frame* with ``attrs["engine"]`` (which engine built it) and, when the numpy engine
    declined, ``attrs["engine_fallback"]`` (why): the analysis functions have no issues
    frame, so a fallback is visible there."""
    frame.attrs["engine"] = engine
    if declined is not None:
        frame.attrs["engine_fallback"] = declined
    return frame


def floor_local(times: Any, freq: Any) -> Any:
    """Floor tz-aware times (a Series or a Timestamp) to *freq* on their local wall clock.

    Like ``dt.floor(freq)``, but a floored wall time that occurs twice (the hour repeated
    when clocks go back) keeps the DST flag of the time floored, and one that does not
    exist (clocks go forward) moves forward to the first time that exists, instead of
    raising.
    """
    if isinstance(times, pd.Timestamp):
        return times.floor(freq, ambiguous=bool(times.dst()), nonexistent="shift_forward")
    try:
        return times.dt.floor(freq, nonexistent="shift_forward")
    except ValueError:  # an ambiguous wall time
        dst = np.array([t is not pd.NaT and bool(t.dst()) for t in times])
        return times.dt.floor(freq, ambiguous=dst, nonexistent="shift_forward")


def local_buckets(
    first: pd.Timestamp,
    last: pd.Timestamp,
    freq: Any,
    *,
    limit: int | None = None,
    keep: pd.DatetimeIndex | None = None,
) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """Starts and ends of the buckets of a fixed *freq* from *first* to *last*.

    *first* and *last* are bucket starts as :func:`floor_local` returns them (tz-aware,
    local zone). The buckets follow the local wall clock as :func:`floor_local` does: the
    repeated hour when clocks go back gives two buckets, a skipped one none, so every
    floored time is a bucket start and a bucket's end is the next bucket's start.

    Parameters
    ----------
    first, last : Timestamp
        The first and the last bucket start.
    freq : str or DateOffset
        A fixed bucket size.
    limit : int, optional
        Return only the last *limit* buckets up to *last*. Their number is worked out
        from the span first, so the range built has about *limit* buckets whatever the
        span (one implausible time cannot make millions).
    keep : DatetimeIndex, optional
        Bucket starts (from :func:`floor_local`, e.g. those with data) to return as well
        when they come before the last *limit* buckets, each with its own end.

    Returns
    -------
    (DatetimeIndex, DatetimeIndex)
        The starts (named ``bucket``, increasing) and their ends.

    Examples
    --------
    >>> first, last = pd.Timestamp("2026-10-01", tz="UTC"), pd.Timestamp(
    ...     "2026-10-01 05:00", tz="UTC")
    >>> starts, ends = local_buckets(first, last, "1h", limit=2, keep=pd.DatetimeIndex([first]))
    >>> [f"{t:%H}" for t in starts], [f"{t:%H}" for t in ends]
    (['00', '04', '05'], ['01', '05', '06'])
    """
    tz = first.tz
    step = pd.tseries.frequencies.to_offset(freq)
    start = first
    if limit is not None:
        # integer microseconds: a span of thousands of years overflows a Timedelta (ns)
        step_us = pd.Timedelta(step) // pd.Timedelta(1, "us")
        first_us, last_us = (int(t.tz_localize(None).as_unit("us").asm8.view("i8"))
                             for t in (first, last))
        # clocks going forward skip up to 2 h about twice a year: a margin of wall time so
        # that the range still holds *limit* buckets
        pad = -(-(limit * step_us // (180 * 86_400_000_000) + 2) * 7_200_000_000 // step_us)
        if (last_us - first_us) // step_us > limit + pad:
            lo = pd.Timestamp(last_us - (limit + pad) * step_us, unit="us")
            start = lo.tz_localize(tz, ambiguous=True, nonexistent="shift_forward")
    wall = pd.date_range(
        start.tz_localize(None).floor(freq),
        last.tz_localize(None).floor(freq) + step,
        freq=freq,
    )
    both = [wall.tz_localize(tz, ambiguous=np.full(len(wall), flag), nonexistent="shift_forward")
            for flag in (True, False)]
    # unique: wall times skipped when clocks go forward all shift to the same instant
    edges = both[0].union(both[1]).unique()
    edges = edges[edges >= start]
    n = int((edges <= last).sum())
    starts, ends = edges[:n], edges[1 : n + 1]
    if limit is not None:
        starts, ends = starts[-limit:], ends[-limit:]
    if keep is not None and len(starts):
        old = keep[(keep < starts[0]) & (keep >= first)].unique().sort_values()
        if len(old):
            old = old.tz_convert(tz).as_unit(starts.unit)
            starts = old.append(starts)
            ends = _bucket_ends(old, step).as_unit(ends.unit).append(ends)
    return starts.rename("bucket"), ends


def _bucket_ends(starts: pd.DatetimeIndex, step: pd.DateOffset) -> pd.DatetimeIndex:
    """The end of each bucket starting at *starts*: the next of :func:`local_buckets`'
    bucket starts, found without building the range in between."""
    tz = starts.tz

    def i8(times: Any) -> np.ndarray:  # UTC microseconds
        return pd.DatetimeIndex(times).tz_convert("UTC").tz_localize(None).as_unit(
            "us").to_numpy().view("i8")

    wall = starts.tz_localize(None) + step
    # the later reading of the next wall time is a bucket start after the start...
    ends = i8(wall.tz_localize(tz, ambiguous=np.zeros(len(wall), dtype=bool),
                               nonexistent="shift_forward")).copy()
    begin = i8(starts)
    todo = np.arange(len(ends))
    # ...but where clocks go back, earlier ones may lie between: step back to the first
    while len(todo):
        at = pd.Series(ends[todo].view("M8[us]")).dt.tz_localize("UTC").dt.tz_convert(tz)
        prev = i8(floor_local(at - RIGHT_CLOSED, step))
        later = prev > begin[todo]  # (">": ends even for a start off the grid)
        ends[todo[later]] = prev[later]
        todo = todo[later]
    return pd.DatetimeIndex(ends.view("M8[us]")).tz_localize("UTC").tz_convert(tz)


def wilson(successes: Any, n: Any, confidence: float = 0.95) -> tuple[Any, Any, Any]:
    """Rate and Wilson score interval, vectorised; NaN where ``n == 0``.

    Examples
    --------
    >>> rate, low, high = wilson(81, 263, 0.95)
    >>> round(float(rate), 4), round(float(low), 4), round(float(high), 4)
    (0.308, 0.2553, 0.3662)
    """
    from statistics import NormalDist

    if not 0 < confidence < 1:
        raise ParameterError(f"confidence must be in (0, 1), found {confidence!r}")
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    s = np.asarray(successes, dtype="float64")
    n_ = np.asarray(n, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        p = s / n_
        denom = 1 + z * z / n_
        centre = (p + z * z / (2 * n_)) / denom
        half = z / denom * np.sqrt(p * (1 - p) / n_ + z * z / (4 * n_ * n_))
        low = np.clip(centre - half, 0.0, 1.0)
        high = np.clip(centre + half, 0.0, 1.0)
    empty = n_ <= 0
    p = np.where(empty, np.nan, p)
    low = np.where(empty, np.nan, low)
    high = np.where(empty, np.nan, high)
    return p, low, high


def utc_series(i8: np.ndarray) -> pd.Series:
    """int64 microseconds since the epoch as a ``datetime64[us, UTC]`` Series, no copy.

    ``tz_localize`` and the constructor with a tz-aware dtype both copy, and at ten
    million rows the copy costs more than the arithmetic that made the values.

    Parameters
    ----------
    i8 : ndarray
        int64 microseconds since 1970-01-01 UTC (int64 min is NaT). Not modified, and
        must not be modified afterwards: the result is a view of it.

    Returns
    -------
    Series
        ``datetime64[us, UTC]``, with a RangeIndex.

    Examples
    --------
    >>> utc_series(np.array([1_790_812_800_000_000])).iloc[0]
    Timestamp('2026-10-01 00:00:00+0000', tz='UTC')
    """
    naive = pd.Series(np.asarray(i8, dtype=np.int64).view(f"M8[{schemas.TIME_UNIT}]"),
                      copy=False)
    return pd.Series(naive.array.view(schemas.UTC_DTYPE), copy=False)
