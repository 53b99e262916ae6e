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
from ..exceptions import ParameterError
from ._util import (
    RIGHT_CLOSED,
    check_freq,
    check_tz,
    floor_local,
    local_buckets,
    to_timedelta,
    to_utc,
    utc_series,
    wilson,
)

__all__ = ["success_rate", "trend", "burn_rate", "SRE_WINDOWS", "TREND_COLUMNS",
           "MAX_FILL_BUCKETS"]

_SUMS = [
    "jobs_processed", "jobs_succeeded", "jobs_failed", "jobs_to_dlq",
    "high_confidence_matches", "low_confidence_matches", "total_processing_time",
]
#: Value columns of :func:`trend` (after ``bucket`` and, when grouped, the ``by`` column).
TREND_COLUMNS = [
    "processed", "succeeded", "failed", "to_dlq", "success_rate", "success_low",
    "success_high", "avg_processing_time", "throughput_per_hour", "low_confidence_share",
    "partial",
]
#: Buckets that :func:`~syncstats.trend` and :func:`~syncstats.error_trend` zero-fill
#: at most, per group: the last ones, up to the bucket of the reference time. An earlier
#: bucket appears only when it has data, so one implausible time (an interval ending in
#: 1970 next to 2026 data, or *now* in the year 4000) cannot make a row for each of
#: millions of empty buckets. 100,000 hourly buckets are 11 years.
MAX_FILL_BUCKETS = 100_000
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
    if is_dask(increments):  # partial sums per source partition, finished as below
        cols = _by_list(by)
        require(increments, ["end", *_SUMS, *cols], "increments")
        offset = check_freq(freq)
        check_tz(tz)
        ref = to_utc(now, "now") if now is not None else None
        opts = {"freq": freq, "offset": offset, "cols": cols, "ref": ref, "tz": tz}
        return reduce_sources(_trend_sums, partial(_trend_finish, confidence=confidence,
                                                   **opts), increments, **opts)
    return _trend(increments, freq, by=by, now=now, tz=tz, confidence=confidence)


def _trend(
    increments: pd.DataFrame,
    freq: str,
    *,
    by: str | None,
    now: Any,
    tz: str,
    confidence: float,
) -> pd.DataFrame:
    """:func:`trend` on a pandas frame: the checks, then the fast path or the reference."""
    cols = _by_list(by)
    require(increments, ["end", *_SUMS, *cols], "increments")
    offset = check_freq(freq)
    check_tz(tz)
    ref = to_utc(now, "now") if now is not None else None
    fast = _trend_fast(increments, offset, cols, ref, tz, confidence)
    if fast is not None:
        return fast
    return _trend_reference(increments, freq, offset, cols, ref, tz, confidence)


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
    bucket = floor_local(local_end, freq) if _is_fixed(offset) else _floor_calendar(
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
    if _is_fixed(offset):
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


#: Longest run of rows in one (group, bucket) for which the compensated float sum is done
#: position by position across all runs at once; longer runs go to the reference.
_MAX_RUN = 512
#: Runs summed together by the compensated loop (its buffers stay in the CPU cache).
_KAHAN_BLOCK = 1 << 14
#: Rows per step when computing bucket keys (8 MB per int64 temporary).
_CHUNK = 1 << 20
_NAT = np.iinfo(np.int64).min


def _trend_fast(
    increments: pd.DataFrame,
    offset: pd.DateOffset,
    cols: list[str],
    ref: pd.Timestamp | None,
    tz: str,
    confidence: float,
) -> pd.DataFrame | None:
    """:func:`_trend_reference` in numpy for UTC buckets of a fixed size, or None.

    The reference groups by a tz-aware bucket Series and a categorical, then reindexes to
    the full (bucket, group) product; here a bucket is an integer (``(end - 1us) //
    freq``), a (group, bucket) cell an integer key, the sums run over consecutive rows of
    a key (``np.add.reduceat``; the increments frame comes sorted by source and end, so
    keys are already in order and are computed chunk by chunk, without an array per row)
    and the product grid is a flat array. Each float sum (processing time) takes the same
    road as pandas' (``reduceat`` when the reference's group ids are sorted, else its
    compensated summation in row order), so every value is identical. Declines for other
    zones (DST), calendar frequencies, NaT ends, a non-categorical or missing group, more
    than one group column, categories out of lexical order, other dtypes, and
    non-finite processing times.
    """
    if tz != "UTC" or len(cols) > 1 or not _is_fixed(offset):
        return None
    step_td = pd.Timedelta(offset)
    step = step_td // pd.Timedelta(1, "us")
    if step <= 0 or step_td != pd.Timedelta(step, "us"):
        return None
    frame = increments
    if frame["end"].dtype != schemas.UTC_DTYPE:
        return None
    if any(frame[c].dtype != np.int64 for c in _SUMS[:-1]):
        return None
    if frame["total_processing_time"].dtype != np.float64:
        return None
    group = frame[cols[0]] if cols else None
    if group is not None and not (
        isinstance(group.dtype, pd.CategoricalDtype)
        and pd.api.types.is_string_dtype(group.cat.categories.dtype)
    ):
        return None
    end = frame["end"].to_numpy(dtype="datetime64[us]").view(np.int64)
    keep = None
    if ref is not None:
        if ref.unit != schemas.TIME_UNIT:
            return None
        ref_i8 = int(ref.asm8.view(np.int64))
        keep = end <= ref_i8  # NaT (int64 min) is kept here: it declines below
        if keep.all():
            keep = None
        else:
            end = end[keep]

    def kept(values: np.ndarray) -> np.ndarray:
        return values if keep is None else values[keep]

    if len(end) == 0 or int(end.min()) == _NAT:
        return None
    if ref is None:
        ref_i8 = int(end.max())
    # right-closed buckets: an end exactly on a boundary belongs to the bucket ending there
    first = (int(end.min()) - 1) // step
    last = (ref_i8 - 1) // step
    old = None
    if last - first >= MAX_FILL_BUCKETS:
        # as the reference: the last MAX_FILL_BUCKETS buckets, after the earlier ones with
        # data (their numbers); slot k >= len(old) is bucket first + k
        cut = last - MAX_FILL_BUCKETS + 1
        early = end[end <= cut * step]
        old = np.unique((early - 1) // step)
        first = cut - len(old)
    nb = last - first + 1
    names: list[str] = []
    codes = lut = present = None
    if group is not None:
        codes = kept(group.cat.codes.to_numpy())
        if int(codes.min()) < 0:
            return None
        cats = group.cat.categories
        counts = np.zeros(len(cats), dtype=np.int64)
        for a in range(0, len(codes), _CHUNK):
            counts += np.bincount(codes[a:a + _CHUNK], minlength=len(cats))
        present = np.flatnonzero(counts)
        names = cats[present].tolist()
        # The reference orders groups by sorted() of their values in one case and by
        # category order in another (below): both agree when the categories present are
        # in lexical order, as every reader makes them. Other orders go to the reference.
        if not all(isinstance(x, str) for x in names) or names != sorted(names):
            return None
        lut = np.zeros(len(cats), dtype=np.int64)
        lut[present] = np.arange(len(present))
    ngroups = max(len(names), 1)
    size = ngroups * nb
    if size > 4 * len(end) + 10_000_000:  # a huge, nearly empty grid: let pandas do it
        return None
    order, starts, cells, ref_sorted = _cell_keys(end, codes, lut, first, step, nb, ngroups,
                                                  old)

    def values(col: str) -> np.ndarray:
        v = kept(frame[col].to_numpy())
        return v if order is None else v[order]

    tpt = values("total_processing_time")
    if not np.isfinite(tpt.min()) or not np.isfinite(tpt.max()):  # no NaN/inf
        return None
    lengths = np.diff(np.append(starts, len(tpt)))
    sums = {}
    for col in _SUMS[:-1]:
        full = np.zeros(size, dtype=np.int64)
        full[cells] = np.add.reduceat(values(col), starts)
        sums[col] = full
    full = np.zeros(size, dtype=np.float64)
    if ref_sorted:  # as pandas calls it: on the (1, n) block, along its rows
        full[cells] = np.add.reduceat(tpt.reshape(1, -1), starts, axis=1)[0]
    elif lengths.max() <= _MAX_RUN:
        full[cells] = _kahan_run_sums(tpt, starts, lengths)
    else:  # long runs (e.g. all sources in one): the reference is faster there
        return None
    sums["total_processing_time"] = full

    grid = first + np.arange(nb, dtype=np.int64)
    if old is not None:
        grid[:len(old)] = old
    bucket_start = np.tile(grid * step, ngroups)
    p = sums["jobs_processed"].astype("float64")
    s = sums["jobs_succeeded"].astype("float64")
    rate, low, high = wilson(s, p, confidence)
    # the reference's bucket length: a timedelta64[us] difference, in seconds, / 3600
    hours = pd.TimedeltaIndex(np.array([step], dtype="m8[us]")).total_seconds()[0] / 3600.0
    with np.errstate(divide="ignore", invalid="ignore"):
        conf_total = sums["high_confidence_matches"] + sums["low_confidence_matches"]
        data: dict[str, Any] = {"bucket": utc_series(bucket_start)}
        if group is not None:
            rank = np.arange(size) // nb
            if len(cells) == size:
                # Every (bucket, group) cell has data: the reference's reindex then keeps
                # the groupby's own index, whose level has the input column's dtype
                # (unused categories included).
                data[cols[0]] = pd.Categorical.from_codes(present[rank], dtype=group.dtype)
            else:
                data[cols[0]] = pd.Categorical.from_codes(
                    rank, categories=pd.Index(names, dtype="str")
                )
        data.update({
            "processed": sums["jobs_processed"],
            "succeeded": sums["jobs_succeeded"],
            "failed": sums["jobs_failed"],
            "to_dlq": sums["jobs_to_dlq"],
            "success_rate": rate,
            "success_low": low,
            "success_high": high,
            "avg_processing_time": np.where(p > 0, sums["total_processing_time"] / p, np.nan),
            "throughput_per_hour": p / hours,
            "low_confidence_share": np.where(
                conf_total > 0, sums["low_confidence_matches"] / conf_total, np.nan
            ),
            "partial": bucket_start + step > ref_i8,
        })
    out = pd.DataFrame(data, copy=False)
    gaps = np.flatnonzero(np.diff(grid) != 1)
    fill = grid[gaps[-1] + 1 if len(gaps) else 0] * step
    out.attrs["zero_filled_from"] = pd.Timestamp(fill, unit="us", tz="UTC")
    return out


def _cell_keys(
    end: np.ndarray,
    codes: np.ndarray | None,
    lut: np.ndarray | None,
    first: int,
    step: int,
    nb: int,
    ngroups: int,
    old: np.ndarray | None = None,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, bool]:
    """Each row's (group, bucket) cell key ``rank * nb + bucket``, as runs.

    Returns ``(order, starts, cells, ref_sorted)``: *order* sorts the rows by key (None
    when they already are), *starts* the first (sorted) row of each key's run, *cells*
    its key, and *ref_sorted* whether the reference's own group ids (bucket-major) are
    sorted in row order. Sorted rows (the common case) are done chunk by chunk. With
    *old* (the sorted numbers of the buckets before the zero-filled ones), a bucket
    ``b - first`` below ``len(old)`` is slot ``searchsorted(old, b)`` instead.
    """
    n = len(end)
    starts, cells = [], []
    last_key = last_ref = None
    ref_sorted = True
    for a in range(0, n, _CHUNK):
        bucket = end[a:a + _CHUNK] - 1
        bucket //= step
        bucket -= first
        _early_slots(bucket, old, first)
        if codes is None:
            key = ref = bucket
        else:
            rank = lut[codes[a:a + _CHUNK]]
            # (once they are out of order, the reference's ids need no more checking)
            ref = rank + bucket * ngroups if ref_sorted else None
            key = rank
            key *= nb
            key += bucket
        if last_key is not None and key[0] < last_key or not (key[1:] >= key[:-1]).all():
            return _cell_keys_unsorted(end, codes, lut, first, step, nb, ngroups, old)
        if ref_sorted and ref is not None:
            ref_sorted = (last_ref is None or ref[0] >= last_ref) and bool(
                (ref[1:] >= ref[:-1]).all()
            )
            last_ref = int(ref[-1])
        new = np.flatnonzero(key[1:] != key[:-1]) + 1
        if last_key is None or key[0] != last_key:
            new = np.concatenate(([0], new))
        starts.append(new + a)
        cells.append(key[new])
        last_key = int(key[-1])
    return None, np.concatenate(starts), np.concatenate(cells), ref_sorted


def _cell_keys_unsorted(
    end: np.ndarray,
    codes: np.ndarray | None,
    lut: np.ndarray | None,
    first: int,
    step: int,
    nb: int,
    ngroups: int,
    old: np.ndarray | None = None,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, bool]:
    """:func:`_cell_keys` for rows in any order: whole arrays and a stable sort."""
    bucket = (end - 1) // step - first
    _early_slots(bucket, old, first)
    if codes is None:
        ref = key = bucket
    else:
        rank = lut[codes]
        ref = bucket * ngroups + rank
        key = rank * nb + bucket
    ref_sorted = bool((ref[1:] >= ref[:-1]).all())
    order = np.argsort(key, kind="stable")  # stable: each key's rows stay in row order
    key = key[order]
    starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    return order, starts, key[starts], ref_sorted


def _early_slots(bucket: np.ndarray, old: np.ndarray | None, first: int) -> None:
    """Bucket numbers ``b - first`` before the zero-filled range to their slots, in place
    (an increasing map: rows in key order stay in order)."""
    if old is None:
        return
    early = bucket < len(old)
    if early.any():
        bucket[early] = np.searchsorted(old, bucket[early] + first)


def _kahan_run_sums(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Sum of each run ``values[start:start + length]`` as pandas' groupby sums floats.

    pandas adds a group's values in row order with Kahan compensation (``y = v - c;
    t = s + y; c = (t - s) - y; s = t``); a plain sum can differ in the last bits. Here
    step *j* adds the *j*-th value of many runs at once, which costs one vectorised step
    per position of the longest run. Runs are taken in blocks of neighbours, so a block's
    values and buffers stay in the CPU cache. Values must be finite (pandas special-cases
    infinities).
    """
    out = np.empty(len(starts))
    block = _KAHAN_BLOCK
    buffers = [np.empty(min(block, len(starts))) for _ in range(4)]
    idx = np.empty(len(buffers[0]), dtype=np.int64)
    for b0 in range(0, len(starts), block):
        sl = slice(b0, b0 + block)
        out[sl] = _kahan_block(values, starts[sl], lengths[sl], buffers, idx)
    return out


def _kahan_block(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray,
                 buffers: list[np.ndarray], idx: np.ndarray) -> np.ndarray:
    """:func:`_kahan_run_sums` of one block of runs, in preallocated buffers."""
    order = np.argsort(-lengths, kind="stable")
    run_start, run_len = starts[order], lengths[order]
    g = len(starts)
    total, comp, y, t = (b[:g] for b in buffers)
    total[:] = 0.0
    comp[:] = 0.0
    # active[j]: how many runs are longer than j (a prefix, as runs are longest first)
    active = np.searchsorted(-run_len, -np.arange(int(run_len[0])), side="left")
    for j, k in enumerate(active.tolist()):
        s_, c_, y_, t_, i_ = total[:k], comp[:k], y[:k], t[:k], idx[:k]
        np.add(run_start[:k], j, out=i_)
        np.take(values, i_, out=y_)
        np.subtract(y_, c_, out=y_)  # y = v - c
        np.add(s_, y_, out=t_)  # t = s + y
        np.subtract(t_, s_, out=c_)
        np.subtract(c_, y_, out=c_)  # c = (t - s) - y
        s_[:] = t_
    out = np.empty(g)
    out[order] = total
    return out


def _is_fixed(offset: pd.DateOffset) -> bool:
    try:
        pd.Timedelta(offset)
        return True
    except (ValueError, TypeError):
        return False


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
    if _is_fixed(offset):
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
