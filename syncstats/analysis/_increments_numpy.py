"""The numpy engine of :func:`syncstats.analysis.increments` (``engine="numpy"``).

The reference (``counters._increments_reference``, on the same walk as ``audit``) builds a
shifted copy of the whole frame with Timestamp objects; this engine keeps every column an
int64/float64 array. It gives the same frame, value for value and dtype for dtype, on
every frame it accepts, and declines (returns the reason) anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .. import schemas
from ._util import utc_series

__all__ = ["increments_numpy"]

C = list(schemas.COUNTERS)

#: Counters up to 2**53 are exact as float64: the fast path's integer arithmetic then
#: equals the reference's float64 arithmetic bit for bit. A larger *ceiling* (which
#: admits larger counters as usable) sends the frame to the reference.
_EXACT_INT = 2**53
_NAT = np.iinfo(np.int64).min
_I8MAX = np.iinfo(np.int64).max
_KINDS = ["delta", "reset", "implausible"]
#: Intervals filled per step of the fast path (8 MB per int64 temporary).
_CHUNK = 1 << 20
#: Sources with fewer snapshots than this on average are not worth a step each.
_MIN_RUN = 256


def _is_number(value: object, bound: float) -> bool:
    """A real int/float parameter (not bool) with ``abs(value) <= bound``, or NaN."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    return bool(np.isnan(value)) or abs(value) <= bound


def _fast_frame_ok(df: pd.DataFrame) -> bool:
    """Whether *df* has exactly the documented snapshot dtypes the fast path assumes."""
    src = df["source"].dtype
    if not isinstance(src, pd.CategoricalDtype) or not pd.api.types.is_string_dtype(
        src.categories.dtype
    ):
        return False
    if src.categories.dtype == object and pd.api.types.infer_dtype(src.categories) != "string":
        return False
    if df["snapshot_at"].dtype != schemas.UTC_DTYPE:
        return False
    if df["session_start"].dtype != schemas.UTC_DTYPE:
        return False
    if any(df[c].dtype != np.int64 for c in C):
        return False
    return df["total_processing_time"].dtype == np.float64 and "origin" in df.columns


def _sort_order(codes: np.ndarray, times: np.ndarray) -> np.ndarray | None:
    """Positions sorting by (source code, time), stable; None when already sorted.

    Matches ``sort_values(["source", "snapshot_at"], kind="stable")``: categories in
    their order, NaT (*times* already mapped to int64 max) last within a source, ties in
    input order.
    """
    if len(codes) < 2:
        return None
    c_next, c_prev = codes[1:], codes[:-1]
    if (c_next >= c_prev).all() and ((times[1:] >= times[:-1]) | (c_next != c_prev)).all():
        return None
    return np.lexsort((times, codes))


@dataclass
class _Intervals:
    """The fast path's per-interval arrays (one element per increment row)."""

    values: list[np.ndarray]  # the six counters: delta, or the new values after a reset
    tpt: np.ndarray  # total_processing_time, likewise
    start: np.ndarray  # int64 us
    end: np.ndarray  # int64 us
    reset: np.ndarray  # bool
    src: np.ndarray  # source codes

    @classmethod
    def empty(cls, m: int, code_dtype: np.dtype) -> _Intervals:
        return cls([np.empty(m, dtype=np.int64) for _ in C], np.empty(m, dtype=np.float64),
                   np.empty(m, dtype=np.int64), np.empty(m, dtype=np.int64),
                   np.empty(m, dtype=bool), np.empty(m, dtype=code_dtype))


def increments_numpy(
    snapshots: pd.DataFrame, *, ceiling: int, jump_factor: float, jump_min: int
) -> pd.DataFrame | str:
    """The reference ``increments`` in numpy, or why not (a str) where it would differ.

    The reference turns tz-aware times into Timestamp objects and builds a shifted copy
    of the whole frame; here every column stays an int64/float64 array, an interval is a
    pair of rows (a snapshot and the previous usable one of its source), and the
    per-source median rate (needed only to judge rises above *jump_min*) is computed only
    for the sources that have such a rise. A frame sorted by source and time with every
    snapshot usable (what the readers return) takes differences of neighbouring rows,
    source by source (:func:`_fill_neighbours`); any other frame gathers the pairs by
    index, in chunks (:func:`_fill_gather`). Either way the result's arrays are written
    once and temporaries stay small: on a small VM the first touch of fresh memory costs
    as much as the arithmetic.

    Declines (returns the reason) for anything outside the documented schema: non-int64
    counters (so no NaN counters), a non-categorical or missing source, other time
    units, no ``origin`` column, a *ceiling* above 2**53, odd parameters, and no
    interval at all.
    """
    df = snapshots
    n = len(df)
    if n < 2:
        return "fewer than two snapshots"
    if not _fast_frame_ok(df):
        return "columns not of the documented snapshot dtypes"
    if not (isinstance(ceiling, (int, np.integer)) and not isinstance(ceiling, bool)
            and abs(int(ceiling)) <= _EXACT_INT):
        return "ceiling not an integer up to 2**53"
    if not (_is_number(jump_min, _EXACT_INT) and _is_number(jump_factor, float("inf"))):
        return "jump_min or jump_factor not a plain number in range"
    codes = df["source"].cat.codes.to_numpy()
    if (codes < 0).any():  # a missing source: groupby drops it in the reference
        return "a missing source"
    times = _i8(df["snapshot_at"])
    sessions = _i8(df["session_start"])
    vals = [df[c].to_numpy() for c in C]
    tpt = df["total_processing_time"].to_numpy()
    usable = _usable(vals, tpt, times, ceiling)
    if usable is None:
        order = _sort_order(codes, times)
    else:
        if (times == _I8MAX).any():
            return "a snapshot_at at the largest time"
        order = _sort_order(codes, np.where(times == _NAT, _I8MAX, times))
    cols = (codes, times, sessions, vals, tpt)
    first = None
    if order is None and usable is None:
        # each source's first row (the frame is sorted by source)
        first = np.flatnonzero(np.concatenate(([True], codes[1:] != codes[:-1])))
        if len(first) > n // _MIN_RUN + 64:  # many tiny sources: gather instead
            first = None
    present = None
    if first is not None:
        iv = _fill_neighbours(*cols, first)
        origin = _origin_runs(df["origin"], first)
        # sources with at least two snapshots, i.e. one interval
        sizes = np.diff(np.append(first, n))
        present = np.unique(codes[first[sizes > 1]])
    else:
        iv, rows = _fill_gather(*cols, order, usable)
        origin = df["origin"].take(rows).astype("str").reset_index(drop=True)
    if len(iv.reset) == 0:
        return "no interval"
    kind = iv.reset.astype(np.int8)
    # a delta of jobs_processed above jump_min may be implausible (then it counts 0)
    implausible = _implausible(iv.src, iv.end, iv.start, iv.values[0], iv.reset,
                               jump_factor=jump_factor, jump_min=jump_min)
    if implausible is not None:
        for o in iv.values:
            o[implausible] = 0
        iv.tpt[implausible] = 0.0
        kind[implausible] = 2
    source = _recoded_source(df["source"], iv.src, present)
    if source is None:
        return "a source category that is not a str"
    data: dict[str, Any] = {
        "source": source,
        "start": utc_series(iv.start),
        "end": utc_series(iv.end),
        "kind": pd.Categorical.from_codes(kind, categories=_KINDS, validate=False),
    }
    data.update(zip(C, iv.values, strict=True))
    data["total_processing_time"] = iv.tpt
    data["origin"] = origin
    return pd.DataFrame(data, copy=False)


def _fill_neighbours(
    codes: np.ndarray, times: np.ndarray, sessions: np.ndarray, vals: list[np.ndarray],
    tpt: np.ndarray, first: np.ndarray,
) -> _Intervals:
    """Intervals of a frame sorted by source and time whose snapshots are all usable:
    every row but a source's first (*first*: those rows), paired with the row before it.

    A source's intervals are ``rows[s + 1:e]`` minus ``rows[s:e - 1]``: each result
    array is written once, source by source, straight from slices of the input. A
    decrease is a negative difference, so the new values of a reset are put in after,
    at its few rows only.
    """
    ends = np.append(first[1:], len(codes))
    lengths = ends - first - 1
    offsets = np.concatenate(([0], np.cumsum(lengths)))
    m = int(offsets[-1])
    iv = _Intervals.empty(m, codes.dtype)
    for s, e, o in zip(first.tolist(), ends.tolist(), offsets[:-1].tolist(), strict=True):
        if e - s < 2:
            continue
        cur, prv, dst = slice(s + 1, e), slice(s, e - 1), slice(o, o + e - s - 1)
        for v, dest in zip(vals, iv.values, strict=True):
            np.subtract(v[cur], v[prv], out=dest[dst])
        np.subtract(tpt[cur], tpt[prv], out=iv.tpt[dst])
        iv.start[dst] = times[prv]
        iv.end[dst] = times[cur]
        iv.src[dst] = codes[s]
        sc, sp = sessions[cur], sessions[prv]
        np.logical_and((sc != _NAT) & (sp != _NAT), sc != sp, out=iv.reset[dst])
    for dest in iv.values:  # a counter decreased (exact: counters are at most 2**53)
        iv.reset |= dest < 0
    at = np.flatnonzero(iv.reset)
    if len(at):  # a reset counts the new values: what happened since the restart
        k = np.searchsorted(offsets, at, side="right") - 1
        rows = first[k] + 1 + (at - offsets[k])
        for v, dest in zip(vals, iv.values, strict=True):
            dest[at] = v[rows]
        iv.tpt[at] = tpt[rows]
    return iv


def _fill_gather(
    codes: np.ndarray, times: np.ndarray, sessions: np.ndarray, vals: list[np.ndarray],
    tpt: np.ndarray, order: np.ndarray | None, usable: np.ndarray | None,
) -> tuple[_Intervals, np.ndarray]:
    """Intervals of any frame (unsorted, unusable snapshots): each usable snapshot with
    a previous usable one of its source, as index pairs; also the input row of each."""
    # upos: sorted positions of the usable rows (None: all of them)
    if usable is None:
        upos = None
        ucodes = codes if order is None else codes[order]
    else:
        upos = np.flatnonzero(usable if order is None else usable[order])
        ucodes = codes[upos if order is None else order[upos]]
    # the k-th usable row has a previous usable row of the same source when k in kk
    kk = np.flatnonzero(ucodes[1:] == ucodes[:-1]) + 1
    del ucodes
    m = len(kk)

    def rows(k: np.ndarray) -> np.ndarray:
        pos = k if upos is None else upos[k]
        return pos if order is None else order[pos]

    iv = _Intervals.empty(m, codes.dtype)
    origin_rows = np.empty(m, dtype=np.int64)
    for a in range(0, m, _CHUNK):
        b = min(a + _CHUNK, m)
        k = kk[a:b]
        rc, rp = rows(k), rows(k - 1)
        origin_rows[a:b] = rc
        sc, sp = sessions[rc], sessions[rp]
        r = (sc != _NAT) & (sp != _NAT) & (sc != sp)
        cur = [v[rc] for v in vals]
        prv = [v[rp] for v in vals]
        for c_, p_ in zip(cur, prv, strict=True):
            r |= c_ < p_
        iv.reset[a:b] = r
        for dest, c_, p_ in zip(iv.values, cur, prv, strict=True):
            seg = dest[a:b]
            np.subtract(c_, p_, out=seg)
            np.copyto(seg, c_, where=r)
        tc = tpt[rc]
        seg = iv.tpt[a:b]
        np.subtract(tc, tpt[rp], out=seg)
        np.copyto(seg, tc, where=r)
        iv.start[a:b] = times[rp]
        iv.end[a:b] = times[rc]
        iv.src[a:b] = codes[rc]
    return iv, origin_rows


def _origin_runs(origin: pd.Series, first: np.ndarray) -> pd.Series:
    """``origin`` of every row but each source's first (*first*: those rows).

    An Arrow-backed ``str`` column is sliced, one zero-copy slice per source, instead of
    copying every string (at ten million rows the copy is ~0.4 GB of fresh memory).
    """
    n = len(origin)
    ends = np.append(first[1:], n)
    arrow = None
    dtype = origin.dtype
    # only the "str" dtype itself (Arrow storage, NaN as missing): the reference casts
    # anything else to it, which slices would not
    if (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"
            and dtype.na_value is np.nan):
        arrow = origin.array.__arrow_array__()
    if not isinstance(arrow, pa.ChunkedArray | pa.Array):
        keep = np.ones(n, dtype=bool)
        keep[first] = False
        return origin[keep].astype("str").reset_index(drop=True)
    chunks = [c for s, e in zip(first.tolist(), ends.tolist(), strict=True) if e - s > 1
              for c in _chunks(arrow.slice(s + 1, e - s - 1))]
    return pd.Series(pa.chunked_array(chunks, type=arrow.type), dtype=origin.dtype)


def _chunks(arrow: pa.ChunkedArray | pa.Array) -> list[pa.Array]:
    return list(arrow.chunks) if isinstance(arrow, pa.ChunkedArray) else [arrow]


def _i8(times: pd.Series) -> np.ndarray:
    """A ``datetime64[us, UTC]`` column as int64 microseconds (a view; NaT = int64 min)."""
    return times.to_numpy(dtype="datetime64[us]").view(np.int64)


def _usable(vals: list[np.ndarray], tpt: np.ndarray, times: np.ndarray,
            ceiling: int) -> np.ndarray | None:
    """Per row: usable as :func:`_walk` decides it (no NaN counters here); None when
    every row is (checked on column minima and maxima first, without a mask per row)."""
    all_ok = all(v.min() >= 0 and v.max() <= ceiling for v in vals)
    with np.errstate(invalid="ignore"):
        bad_tpt = (tpt < 0) | np.isinf(tpt)
    if all_ok and not bad_tpt.any() and not (times == _NAT).any():
        return None
    invalid = bad_tpt
    for v in vals:
        invalid |= (v < 0) | (v > ceiling)
    return ~invalid & (times != _NAT)


def _implausible(
    codes: np.ndarray,
    end: np.ndarray,
    start: np.ndarray,
    dproc: np.ndarray,
    reset: np.ndarray,
    *,
    jump_factor: float,
    jump_min: int,
) -> np.ndarray | None:
    """The ``implausible`` flag of each interval as :func:`_walk` decides it (None: none).

    *dproc* is the rise of ``jobs_processed`` (any value where *reset*). The threshold is
    at least *jump_min*, so only a rise above *jump_min* can be implausible; the
    per-source median rate, the costly part, is computed only for sources that have one
    (with the same pandas groupby median as the reference).
    """
    if not len(dproc) or not dproc.max() > jump_min:  # one pass, no mask: nothing to judge
        return None
    cand = ~reset & (dproc > jump_min)
    if not cand.any():
        return None
    out = np.zeros(len(dproc), dtype=bool)
    in_src = np.isin(codes, np.unique(codes[cand]))
    sub = np.flatnonzero(in_src)
    hours = (
        pd.TimedeltaIndex((end[sub] - start[sub]).view("m8[us]")).total_seconds().to_numpy()
        / 3600.0
    )
    d = dproc[sub].astype("float64")
    normal = ~reset[sub] & (hours > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = d[normal] / hours[normal]
    med = pd.Series(rate).groupby(codes[sub][normal]).median()
    med_rate = np.nan_to_num(
        pd.Series(codes[sub]).map(med).to_numpy(dtype="float64"), nan=0.0
    )
    threshold = np.maximum(jump_min, jump_factor * med_rate * hours)
    out[sub] = cand[sub] & (d > threshold)
    return out if out.any() else None


def _recoded_source(
    source: pd.Series, codes: np.ndarray, present: np.ndarray | None = None
) -> pd.Categorical | None:
    """``source`` of the given rows (*codes* of *source*) as the reference's
    ``astype("category")`` makes it: categories exactly the values present, sorted, str.

    *present*: the sorted distinct codes, when the caller knows them.
    """
    cats = source.cat.categories
    if present is None:
        counts = np.zeros(len(cats), dtype=np.int64)
        for a in range(0, len(codes), _CHUNK):  # bincount copies its input to intp
            counts += np.bincount(codes[a:a + _CHUNK], minlength=len(cats))
        present = np.flatnonzero(counts)
    names = cats[present].tolist()
    if not all(isinstance(x, str) for x in names):
        return None
    ranked = sorted(range(len(names)), key=names.__getitem__)
    categories = pd.Index([names[i] for i in ranked], dtype="str")
    if len(present) < len(cats) or ranked != list(range(len(names))):
        lut = np.full(len(cats), -1, dtype=codes.dtype)
        lut[present[ranked]] = np.arange(len(names))
        codes = lut[codes]
    return pd.Categorical.from_codes(codes, categories=categories, validate=False)
