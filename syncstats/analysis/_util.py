"""Small helpers shared by the analysis functions: argument checks, time handling."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from .. import schemas
from .._time import check_freq, format_duration, to_timedelta, to_utc  # noqa: F401
from ..exceptions import ParameterError, SchemaError
from ..fleet import is_dask

TimeLike = str | pd.Timestamp | np.datetime64 | Any
WindowLike = str | pd.Timedelta | Any


def require(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise SchemaError naming the columns of *frame* that are missing."""
    if not isinstance(frame, pd.DataFrame) and not is_dask(frame):
        raise SchemaError(f"{what}: expected a DataFrame, found {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{what}: the frame lacks column(s) {missing}; found {list(frame.columns)}"
        )


#: Shift that turns flooring (left-closed buckets) into right-closed buckets for interval
#: ends: ``(bucket, bucket + freq]``.
RIGHT_CLOSED = pd.Timedelta(1, "us")


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
    first: pd.Timestamp, last: pd.Timestamp, freq: Any
) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """Starts and ends of the buckets of a fixed *freq* from *first* to *last*.

    *first* and *last* are bucket starts as :func:`floor_local` returns them (tz-aware,
    local zone). The buckets follow the local wall clock as :func:`floor_local` does: the
    repeated hour when clocks go back gives two buckets, a skipped one none, so every
    floored time is a bucket start and a bucket's end is the next bucket's start.
    """
    tz = first.tz
    wall = pd.date_range(
        first.tz_localize(None).floor(freq),
        last.tz_localize(None).floor(freq) + pd.tseries.frequencies.to_offset(freq),
        freq=freq,
    )
    both = [wall.tz_localize(tz, ambiguous=np.full(len(wall), flag), nonexistent="shift_forward")
            for flag in (True, False)]
    edges = both[0].union(both[1])
    edges = edges[edges >= first]
    n = int((edges <= last).sum())
    return edges[:n].rename("bucket"), edges[1 : n + 1]


def check_tz(tz: str) -> str:
    from ..io.log import check_tz as _check

    return _check(tz)


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
