"""Cumulative counters into what happened: ``audit``, ``increments``, ``error_increments``.

One pass (:func:`_walk`) classifies every snapshot and every interval between consecutive
*usable* snapshots of a source; :func:`audit` reports it and :func:`increments` turns it
into per-interval counts, so the two can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .. import schemas
from .._checks import require
from .._dispatch import per_source
from ..recording.stats import SANITY_CEILING
from ._util import utc_series

__all__ = ["audit", "increments", "error_increments", "AUDIT_COLUMNS", "INCREMENT_COLUMNS"]

C = list(schemas.COUNTERS)

#: Columns of :func:`audit`'s result.
AUDIT_COLUMNS = ["source", "snapshot_at", "check", "severity", "detail", "origin"]
#: Columns of :func:`increments`' result.
INCREMENT_COLUMNS = [
    "source", "start", "end", "kind", *C, "total_processing_time", "origin",
]
SEVERITY = {
    "invalid": "error",
    "no_time": "warning",
    "invariant": "warning",
    "implausible_jump": "warning",
    "duplicate_time": "warning",
    "reset": "info",
    "gap": "info",
    "time_from_mtime": "info",
}
_NEEDED = ["source", "snapshot_at", "session_start", *C, "total_processing_time"]


@dataclass
class _Walk:
    frame: pd.DataFrame  # snapshots sorted by source, snapshot_at (stable)
    invalid: np.ndarray  # per row
    invalid_detail: pd.Series
    usable: np.ndarray
    prev: pd.DataFrame  # per row: previous usable snapshot's values (NaN when none)
    has_prev: np.ndarray
    reset: np.ndarray
    implausible: np.ndarray
    hours: np.ndarray
    threshold: np.ndarray
    median_interval_h: pd.Series
    error_sum: pd.Series | None


def _walk(
    snapshots: pd.DataFrame,
    errors: pd.DataFrame | None = None,
    *,
    ceiling: int = SANITY_CEILING,
    jump_factor: float = 50,
    jump_min: int = 1000,
) -> _Walk:
    require(snapshots, _NEEDED, "snapshots")
    df = snapshots.sort_values(["source", "snapshot_at"], kind="stable").reset_index(drop=True)
    if "origin" not in df.columns:
        df["origin"] = df.index.astype("str")
    missing = df[C].isna().to_numpy()
    if missing.any():  # NaN/NA counters (outside the int64 schema): unusable, see below
        for c in C:
            df[c] = df[c].fillna(0).astype("int64")
    vals = df[C].to_numpy(dtype="int64")
    tpt = df["total_processing_time"].to_numpy(dtype="float64")
    negative = vals < 0
    above = vals > ceiling
    bad_tpt = (tpt < 0) | np.isinf(tpt)
    err_bad = np.zeros(len(df), dtype=bool)
    error_sum = None
    if errors is not None:
        require(errors, ["origin", "count"], "errors")
        by_origin = errors.groupby("origin", observed=True)["count"]
        error_sum = df["origin"].map(by_origin.sum()).fillna(0).astype("int64")
        neg_or_big = errors[(errors["count"] < 0) | (errors["count"] > ceiling)]["origin"]
        err_bad = df["origin"].isin(set(neg_or_big)).to_numpy()
    invalid = missing.any(axis=1) | negative.any(axis=1) | above.any(axis=1) | bad_tpt | err_bad
    detail = pd.Series("", index=df.index, dtype="object")
    if invalid.any():
        rows = np.flatnonzero(invalid)
        texts = []
        for i in rows:
            parts = [f"{C[j]}=NaN" for j in np.flatnonzero(missing[i])]
            parts += [f"{C[j]}={vals[i, j]:,} < 0" for j in np.flatnonzero(negative[i])]
            parts += [f"{C[j]}={vals[i, j]:.3g} > ceiling {ceiling:,}"
                      for j in np.flatnonzero(above[i])]
            if bad_tpt[i]:
                parts.append(f"total_processing_time={tpt[i]}")
            if err_bad[i]:
                parts.append(f"an errors_by_type count is < 0 or > {ceiling:,}")
            texts.append("; ".join(parts) + " — snapshot not used")
        detail.iloc[rows] = texts
    usable = ~invalid & df["snapshot_at"].notna().to_numpy()

    cols = ["snapshot_at", "session_start", *C, "total_processing_time", "origin"]
    prev = pd.DataFrame(index=df.index, columns=cols)
    u = df.loc[usable]
    shifted = u.groupby("source", observed=True, sort=False)[cols].shift(1)
    prev = shifted.reindex(df.index)
    has_prev = usable & prev["snapshot_at"].notna().to_numpy()
    prev_vals = prev[C].to_numpy(dtype="float64")
    decreased = (vals < prev_vals).any(axis=1)
    s_now, s_prev = df["session_start"], prev["session_start"]
    session_changed = (s_now.notna() & s_prev.notna() & (s_now != s_prev)).to_numpy()
    reset = has_prev & (decreased | session_changed)

    hours = (
        (df["snapshot_at"] - prev["snapshot_at"]).dt.total_seconds().to_numpy() / 3600.0
    )
    dproc = vals[:, 0] - prev_vals[:, 0]
    normal = has_prev & ~reset & (hours > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(normal, dproc / hours, np.nan)
    rate_s = pd.Series(rate, index=df.index)
    med_rate = rate_s.groupby(df["source"], observed=True).transform("median").to_numpy()
    med_rate = np.nan_to_num(med_rate, nan=0.0)
    threshold = np.maximum(jump_min, jump_factor * med_rate * np.nan_to_num(hours))
    implausible = has_prev & ~reset & (dproc > threshold)
    interval = pd.Series(np.where(has_prev & (hours > 0), hours, np.nan), index=df.index)
    median_interval = interval.groupby(df["source"], observed=True).median()
    return _Walk(
        frame=df, invalid=invalid, invalid_detail=detail, usable=usable, prev=prev,
        has_prev=has_prev, reset=reset, implausible=implausible, hours=hours,
        threshold=threshold, median_interval_h=median_interval, error_sum=error_sum,
    )


def _findings(df: pd.DataFrame, mask: np.ndarray, check: str, details: list[str]) -> pd.DataFrame:
    sub = df.loc[mask, ["source", "snapshot_at", "origin"]]
    return sub.assign(check=check, severity=SEVERITY[check], detail=details)


@per_source(2)
def audit(
    snapshots: pd.DataFrame,
    errors: pd.DataFrame | None = None,
    *,
    ceiling: int = SANITY_CEILING,
    jump_factor: float = 50,
    jump_min: int = 1000,
) -> pd.DataFrame:
    """Data-quality findings of a snapshots frame: one row per finding.

    Parameters
    ----------
    snapshots : DataFrame
        A ``snapshots`` frame (see :mod:`syncstats.schemas`).
    errors : DataFrame, optional
        The matching ``errors`` frame; enables the ``sum(errors) == failed`` check.
    ceiling : int, default 10_000_000
        A counter above it makes a snapshot unusable (the worker's sanity ceiling).
    jump_factor, jump_min : float, int
        A rise of ``jobs_processed`` larger than ``max(jump_min, jump_factor *
        median_hourly_rate * hours_elapsed)`` since the previous usable snapshot, with no
        reset, is implausible. The median hourly rate is taken over the source's
        non-reset intervals between usable snapshots.

    Returns
    -------
    DataFrame
        ``source`` (category), ``snapshot_at`` (UTC), ``check``, ``severity`` (category:
        error | warning | info), ``detail`` (str), ``origin`` (str). Checks:

        - ``invalid`` (error): a counter negative, NaN or above *ceiling*, a negative or
          infinite ``total_processing_time``, or an error count out of range; the
          snapshot is not used by :func:`increments`;
        - ``no_time`` (warning): no snapshot time (raw stderr log lines); not used;
        - ``invariant`` (warning): ``succeeded + failed != processed``,
          ``sum(errors) != failed``, ``to_dlq > failed`` or ``high + low != succeeded``;
          the snapshot is still used;
        - ``reset`` (info): relative to the previous usable snapshot a counter
          decreased or ``session_start`` changed;
        - ``implausible_jump`` (warning): see *jump_factor* (the doubling bug's mark);
        - ``duplicate_time`` (warning): several usable snapshots at the same time;
        - ``gap`` (info): an interval longer than 3x the source's median interval;
        - ``time_from_mtime`` (info): the snapshot's time is its file's mtime.

    Examples
    --------
    >>> import pandas as pd
    >>> from syncstats.testing import example_snapshots
    >>> found = audit(example_snapshots())
    >>> found[["check", "severity"]].astype(str).values.tolist()
    [['implausible_jump', 'warning'], ['invalid', 'error'], ['reset', 'info']]
    """
    w = _walk(snapshots, errors, ceiling=ceiling, jump_factor=jump_factor, jump_min=jump_min)
    df = w.frame
    parts: list[pd.DataFrame] = []
    if w.invalid.any():
        parts.append(_findings(df, w.invalid, "invalid", list(w.invalid_detail[w.invalid])))
    no_time = ~w.invalid & df["snapshot_at"].isna().to_numpy()
    if no_time.any():
        parts.append(_findings(df, no_time, "no_time",
                               ["no snapshot time (raw stderr line?) — not used"] * no_time.sum()))
    ok = ~w.invalid
    v = df[C].to_numpy(dtype="int64")
    p_, s_, f_, d_, h_, l_ = (v[:, i] for i in range(6))
    checks = [
        (s_ + f_ != p_, lambda i: f"succeeded {s_[i]:,} + failed {f_[i]:,} != processed {p_[i]:,}"),
        (d_ > f_, lambda i: f"to_dlq {d_[i]:,} > failed {f_[i]:,}"),
        (h_ + l_ != s_, lambda i: f"high {h_[i]:,} + low {l_[i]:,} != succeeded {s_[i]:,}"),
    ]
    if w.error_sum is not None:
        es = w.error_sum.to_numpy()
        checks.append(
            (es != f_, lambda i: f"sum(errors_by_type) {es[i]:,} != failed {f_[i]:,}")
        )
    bad_any = np.zeros(len(df), dtype=bool)
    for mask, _ in checks:
        bad_any |= mask & ok
    if bad_any.any():
        texts = []
        for i in np.flatnonzero(bad_any):
            texts.append("; ".join(fmt(i) for mask, fmt in checks if mask[i]))
        parts.append(_findings(df, bad_any, "invariant", texts))
    if w.reset.any():
        prev = w.prev
        texts = []
        for i in np.flatnonzero(w.reset):
            dec = [c for c in C if df.at[i, c] < prev.at[i, c]]
            why = f"decreased: {', '.join(dec)}" if dec else "session_start changed"
            texts.append(f"counters restarted ({why}) after {prev.at[i, 'snapshot_at']}")
        parts.append(_findings(df, w.reset, "reset", texts))
    if w.implausible.any():
        texts = []
        for i in np.flatnonzero(w.implausible):
            grew = df.at[i, "jobs_processed"] - int(w.prev.at[i, "jobs_processed"])
            texts.append(
                f"jobs_processed grew by {grew:,} in {w.hours[i]:.2f} h "
                f"(threshold {w.threshold[i]:,.0f}); interval excluded, counting resumes "
                "from the new base"
            )
        parts.append(_findings(df, w.implausible, "implausible_jump", texts))
    # duplicates among usable snapshots only (an invalid copy does not make one)
    dup = np.zeros(len(df), dtype=bool)
    dup[w.usable] = df.loc[w.usable].duplicated(["source", "snapshot_at"], keep=False).to_numpy()
    if dup.any():
        parts.append(_findings(df, dup, "duplicate_time",
                               ["another usable snapshot of this source has the same time"]
                               * int(dup.sum())))
    med = df["source"].map(w.median_interval_h).astype("float64").to_numpy()
    gap = w.has_prev & (w.hours > 3 * med)
    if gap.any():
        texts = [f"{w.hours[i]:.1f} h since the previous snapshot (median {med[i]:.2f} h)"
                 for i in np.flatnonzero(gap)]
        parts.append(_findings(df, gap, "gap", texts))
    if "time_from" in df.columns:
        mt = (df["time_from"].astype("str") == "mtime").to_numpy()
        if mt.any():
            parts.append(_findings(df, mt, "time_from_mtime",
                                   ["time taken from the file's mtime (unreliable for copies)"]
                                   * int(mt.sum())))
    if not parts:
        out = pd.DataFrame({c: pd.Series([], dtype="object") for c in AUDIT_COLUMNS})
    else:
        out = pd.concat(parts)
        out = out.sort_index(kind="stable")
    out = out[AUDIT_COLUMNS].reset_index(drop=True)
    return out.astype(
        {
            "source": "category",
            "snapshot_at": schemas.UTC_DTYPE,
            "check": "category",
            "severity": pd.CategoricalDtype(["error", "warning", "info"]),
            "detail": "str",
            "origin": "str",
        }
    )


@per_source()
def increments(
    snapshots: pd.DataFrame,
    *,
    ceiling: int = SANITY_CEILING,
    jump_factor: float = 50,
    jump_min: int = 1000,
) -> pd.DataFrame:
    """What happened between consecutive usable snapshots of each source.

    Unusable snapshots (``invalid`` or ``no_time`` in :func:`audit`) are skipped. For a
    ``delta`` interval the values are the differences; for a ``reset`` the new values
    (the counter restarted from zero, as Prometheus' ``increase()`` treats resets); for
    an ``implausible`` jump zeros (the jump is excluded; counting resumes from the new
    base). Counter increments are never negative. ``total_processing_time`` is not used
    to detect resets (log-derived values are approximate) and is not clipped.

    Parameters
    ----------
    snapshots : DataFrame
        A ``snapshots`` frame.
    ceiling, jump_factor, jump_min
        As for :func:`audit`.

    Returns
    -------
    DataFrame
        ``source`` (category), ``start``, ``end`` (UTC), ``kind`` (category: delta |
        reset | implausible), the six counters (int64), ``total_processing_time``
        (float64 s) and ``origin`` (str, the interval's end snapshot). Summing it over a
        window gives what happened in that window.

    Examples
    --------
    >>> from syncstats.testing import example_snapshots
    >>> inc = increments(example_snapshots())
    >>> inc[["kind", "jobs_processed"]].to_dict("list")  # doctest: +NORMALIZE_WHITESPACE
    {'kind': ['delta', 'delta', 'delta', 'delta', 'implausible', 'reset'],
     'jobs_processed': [10, 10, 10, 10, 0, 5]}
    """
    return _increments(snapshots, ceiling=ceiling, jump_factor=jump_factor, jump_min=jump_min)


def _increments(
    snapshots: pd.DataFrame, *, ceiling: int, jump_factor: float, jump_min: int
) -> pd.DataFrame:
    """:func:`increments` of a frame holding whole sources (a pure per-source computation).

    The vectorised fast path (:func:`_increments_fast`) runs when it can reproduce the
    reference (:func:`_increments_reference`) exactly; otherwise the reference runs.
    """
    require(snapshots, _NEEDED, "snapshots")
    fast = _increments_fast(snapshots, ceiling=ceiling, jump_factor=jump_factor,
                            jump_min=jump_min)
    if fast is not None:
        return fast
    return _increments_reference(snapshots, ceiling=ceiling, jump_factor=jump_factor,
                                 jump_min=jump_min)


def _increments_reference(
    snapshots: pd.DataFrame, *, ceiling: int, jump_factor: float, jump_min: int
) -> pd.DataFrame:
    """The reference implementation of :func:`increments`, on :func:`_walk` (as audit)."""
    w = _walk(snapshots, ceiling=ceiling, jump_factor=jump_factor, jump_min=jump_min)
    df, m = w.frame, w.has_prev
    cur = df.loc[m, [*C, "total_processing_time"]].to_numpy(dtype="float64")
    prev = w.prev.loc[m, [*C, "total_processing_time"]].to_numpy(dtype="float64")
    reset = w.reset[m][:, None]
    impl = w.implausible[m][:, None]
    values = np.where(reset, cur, np.where(impl, 0.0, cur - prev))
    kind = np.select([w.reset[m], w.implausible[m]], ["reset", "implausible"], "delta")
    out = pd.DataFrame(
        {
            "source": df.loc[m, "source"].to_numpy(),
            "start": w.prev.loc[m, "snapshot_at"].to_numpy(),
            "end": df.loc[m, "snapshot_at"].to_numpy(),
            "kind": pd.Categorical(kind, categories=["delta", "reset", "implausible"]),
        }
    )
    for j, c in enumerate(C):
        out[c] = values[:, j].astype("int64")
    out["total_processing_time"] = values[:, -1]
    out["origin"] = df.loc[m, "origin"].astype("str").to_numpy()
    return out.astype(
        {"source": "category", "start": schemas.UTC_DTYPE, "end": schemas.UTC_DTYPE,
         "origin": "str"}
    )


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


def _increments_fast(
    snapshots: pd.DataFrame, *, ceiling: int, jump_factor: float, jump_min: int
) -> pd.DataFrame | None:
    """:func:`_increments_reference` in numpy, or None where it would not be identical.

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

    Declines (returns None) for anything outside the documented schema: non-int64
    counters (so no NaN counters), a non-categorical or missing source, other time
    units, no ``origin`` column, a *ceiling* above 2**53, odd parameters, and no
    interval at all.
    """
    df = snapshots
    n = len(df)
    if n < 2 or not _fast_frame_ok(df):
        return None
    if not (isinstance(ceiling, (int, np.integer)) and not isinstance(ceiling, bool)
            and abs(int(ceiling)) <= _EXACT_INT):
        return None
    if not (_is_number(jump_min, _EXACT_INT) and _is_number(jump_factor, float("inf"))):
        return None
    codes = df["source"].cat.codes.to_numpy()
    if (codes < 0).any():  # a missing source: groupby drops it in the reference
        return None
    times = _i8(df["snapshot_at"])
    sessions = _i8(df["session_start"])
    vals = [df[c].to_numpy() for c in C]
    tpt = df["total_processing_time"].to_numpy()
    usable = _usable(vals, tpt, times, ceiling)
    if usable is None:
        order = _sort_order(codes, times)
    else:
        if (times == _I8MAX).any():
            return None
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
        return None
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
        return None
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


@per_source(2)
def error_increments(
    errors: pd.DataFrame,
    snapshots: pd.DataFrame,
    *,
    ceiling: int = SANITY_CEILING,
    jump_factor: float = 50,
    jump_min: int = 1000,
) -> pd.DataFrame:
    """Per-interval error counts by type, on the same intervals and kinds as :func:`increments`.

    Error counts are joined to their snapshot by ``origin``. A count that decreased
    without a counter reset (corruption) contributes 0, not a negative number.

    Returns
    -------
    DataFrame
        Long form: ``source`` (category), ``start``, ``end`` (UTC), ``kind`` (category),
        ``error_type`` (category), ``count`` (int64); only non-zero counts.

    Examples
    --------
    >>> from syncstats.testing import example_errors, example_snapshots
    >>> err = error_increments(example_errors(), example_snapshots())
    >>> err[["kind", "error_type", "count"]].values.tolist()
    [['delta', 'TimeoutError', 1]]
    """
    require(errors, ["origin", "error_type", "count"], "errors")
    w = _walk(snapshots, ceiling=ceiling, jump_factor=jump_factor, jump_min=jump_min)
    df, m = w.frame, w.has_prev
    cols = ["source", "start", "end", "kind", "error_type", "count"]
    if not m.any() or errors.empty:
        return _empty_error_increments()
    wide = errors.pivot_table(
        index="origin", columns="error_type", values="count", aggfunc="sum", observed=True
    )
    wide.columns = wide.columns.astype("str")
    cur = wide.reindex(df.loc[m, "origin"].to_numpy()).fillna(0).to_numpy(dtype="float64")
    prev = wide.reindex(w.prev.loc[m, "origin"].to_numpy()).fillna(0).to_numpy(dtype="float64")
    reset = w.reset[m][:, None]
    impl = w.implausible[m][:, None]
    values = np.where(reset, cur, np.where(impl, 0.0, np.maximum(cur - prev, 0.0)))
    kind = np.select([w.reset[m], w.implausible[m]], ["reset", "implausible"], "delta")
    n, k = values.shape
    rows, types = np.nonzero(values)
    out = pd.DataFrame(
        {
            "source": df.loc[m, "source"].to_numpy()[rows],
            "start": w.prev.loc[m, "snapshot_at"].to_numpy()[rows],
            "end": df.loc[m, "snapshot_at"].to_numpy()[rows],
            "kind": pd.Categorical(kind[rows], categories=["delta", "reset", "implausible"]),
            "error_type": wide.columns.to_numpy()[types],
            "count": values[rows, types].astype("int64"),
        }
    )
    return out[cols].astype(
        {"source": "category", "start": schemas.UTC_DTYPE, "end": schemas.UTC_DTYPE,
         "error_type": "category"}
    )


def _empty_error_increments() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source": pd.Series([], dtype="category"),
            "start": pd.Series([], dtype=schemas.UTC_DTYPE),
            "end": pd.Series([], dtype=schemas.UTC_DTYPE),
            "kind": pd.Categorical([], categories=["delta", "reset", "implausible"]),
            "error_type": pd.Series([], dtype="category"),
            "count": pd.Series([], dtype="int64"),
        }
    )
