"""The numpy engine of :func:`syncstats.analysis.trend` (``engine="numpy"``).

UTC buckets of a fixed size as integers, (group, bucket) cells as integer keys, sums
over runs of a key with ``np.add.reduceat``: no tz-aware Series, no groupby. It declines
(returns the reason) where it would not give the reference's frame.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import schemas
from ._util import MAX_FILL_BUCKETS, TREND_SUMS, is_fixed, utc_series, wilson

__all__ = ["trend_numpy"]

#: Rows per step when computing bucket keys (8 MB per int64 temporary).
_CHUNK = 1 << 20
_NAT = np.iinfo(np.int64).min


def trend_numpy(
    increments: pd.DataFrame,
    offset: pd.DateOffset,
    cols: list[str],
    ref: pd.Timestamp | None,
    tz: str,
    confidence: float,
) -> pd.DataFrame | str:
    """The reference ``trend`` in numpy for UTC buckets of a fixed size, or why not (str).

    The reference groups by a tz-aware bucket Series and a categorical, then reindexes to
    the full (bucket, group) product; here a bucket is an integer (``(end - 1us) //
    freq``), a (group, bucket) cell an integer key, the sums run over consecutive rows of
    a key (``np.add.reduceat``; the increments frame comes sorted by source and end, so
    keys are already in order and are computed chunk by chunk, without an array per row)
    and the product grid is a flat array. Integer sums and every time, group and category
    equal the reference's; the float sums (processing time) are plain ``reduceat`` sums
    in key order, which can differ from pandas' compensated sums in the last bits
    (tests: rtol 1e-12). Declines (returns the reason) for other
    zones (DST), calendar frequencies, NaT ends, a non-categorical or missing group, more
    than one group column, categories out of lexical order, other dtypes, and
    non-finite processing times.
    """
    if tz != "UTC":
        return "a time zone other than UTC"
    if len(cols) > 1:
        return "more than one group column"
    if not is_fixed(offset):
        return "a calendar frequency"
    step_td = pd.Timedelta(offset)
    step = step_td // pd.Timedelta(1, "us")
    if step <= 0 or step_td != pd.Timedelta(step, "us"):
        return "a frequency not a whole number of microseconds"
    frame = increments
    if frame["end"].dtype != schemas.UTC_DTYPE:
        return "end not of the documented dtype"
    if any(frame[c].dtype != np.int64 for c in TREND_SUMS[:-1]):
        return "a counter not int64"
    if frame["total_processing_time"].dtype != np.float64:
        return "total_processing_time not float64"
    group = frame[cols[0]] if cols else None
    if group is not None and not (
        isinstance(group.dtype, pd.CategoricalDtype)
        and pd.api.types.is_string_dtype(group.cat.categories.dtype)
    ):
        return "a group column not a categorical of str"
    end = frame["end"].to_numpy(dtype="datetime64[us]").view(np.int64)
    keep = None
    if ref is not None:
        if ref.unit != schemas.TIME_UNIT:
            return "now not in microseconds"
        ref_i8 = int(ref.asm8.view(np.int64))
        keep = end <= ref_i8  # NaT (int64 min) is kept here: it declines below
        if keep.all():
            keep = None
        else:
            end = end[keep]

    def kept(values: np.ndarray) -> np.ndarray:
        return values if keep is None else values[keep]

    if len(end) == 0:
        return "no increment"
    if int(end.min()) == _NAT:
        return "a missing end"
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
            return "a missing group"
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
            return "group categories not str in lexical order"
        lut = np.zeros(len(cats), dtype=np.int64)
        lut[present] = np.arange(len(present))
    ngroups = max(len(names), 1)
    size = ngroups * nb
    if size > 4 * len(end) + 10_000_000:  # a huge, nearly empty grid: let pandas do it
        return "a huge, nearly empty bucket grid"
    order, starts, cells = _cell_keys(end, codes, lut, first, step, nb, old)

    def values(col: str) -> np.ndarray:
        v = kept(frame[col].to_numpy())
        return v if order is None else v[order]

    tpt = values("total_processing_time")
    if not np.isfinite(tpt.min()) or not np.isfinite(tpt.max()):  # no NaN/inf
        return "a processing time not finite"
    sums = {}
    for col in TREND_SUMS[:-1]:
        full = np.zeros(size, dtype=np.int64)
        full[cells] = np.add.reduceat(values(col), starts)
        sums[col] = full
    full = np.zeros(size, dtype=np.float64)
    full[cells] = np.add.reduceat(tpt, starts)
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
    old: np.ndarray | None = None,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Each row's (group, bucket) cell key ``rank * nb + bucket``, as runs.

    Returns ``(order, starts, cells)``: *order* sorts the rows by key (None when they
    already are), *starts* the first (sorted) row of each key's run, *cells* its key.
    Sorted rows (the common case) are done chunk by chunk. With
    *old* (the sorted numbers of the buckets before the zero-filled ones), a bucket
    ``b - first`` below ``len(old)`` is slot ``searchsorted(old, b)`` instead.
    """
    n = len(end)
    starts, cells = [], []
    last_key = None
    for a in range(0, n, _CHUNK):
        bucket = end[a:a + _CHUNK] - 1
        bucket //= step
        bucket -= first
        _early_slots(bucket, old, first)
        if codes is None:
            key = bucket
        else:
            key = lut[codes[a:a + _CHUNK]]
            key *= nb
            key += bucket
        if last_key is not None and key[0] < last_key or not (key[1:] >= key[:-1]).all():
            return _cell_keys_unsorted(end, codes, lut, first, step, nb, old)
        new = np.flatnonzero(key[1:] != key[:-1]) + 1
        if last_key is None or key[0] != last_key:
            new = np.concatenate(([0], new))
        starts.append(new + a)
        cells.append(key[new])
        last_key = int(key[-1])
    return None, np.concatenate(starts), np.concatenate(cells)


def _cell_keys_unsorted(
    end: np.ndarray,
    codes: np.ndarray | None,
    lut: np.ndarray | None,
    first: int,
    step: int,
    nb: int,
    old: np.ndarray | None = None,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """:func:`_cell_keys` for rows in any order: whole arrays and a stable sort."""
    bucket = (end - 1) // step - first
    _early_slots(bucket, old, first)
    key = bucket if codes is None else lut[codes] * nb + bucket
    order = np.argsort(key, kind="stable")  # stable: each key's rows stay in row order
    key = key[order]
    starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    return order, starts, key[starts]


def _early_slots(bucket: np.ndarray, old: np.ndarray | None, first: int) -> None:
    """Bucket numbers ``b - first`` before the zero-filled range to their slots, in place
    (an increasing map: rows in key order stay in order)."""
    if old is None:
        return
    early = bucket < len(old)
    if early.any():
        bucket[early] = np.searchsorted(old, bucket[early] + first)
