"""Cumulative counters into what happened: ``audit``, ``increments``, ``error_increments``.

One pass (:func:`_walk`) classifies every snapshot and every interval between consecutive
*usable* snapshots of a source; :func:`audit` reports it and :func:`increments` turns it
into per-interval counts, so the two can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import schemas
from .._checks import require
from .._dispatch import per_source
from ..recording.stats import SANITY_CEILING
from ._increments_numpy import increments_numpy
from ._util import check_engine, with_engine

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
    engine: str = "auto",
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
    engine : {'auto', 'reference', 'numpy'}
        ``'reference'``: the pandas implementation (on the walk :func:`audit` makes);
        ``'numpy'`` and ``'auto'`` (default): vectorised numpy on int64/float64 arrays,
        the same frame, for frames of the documented snapshot schema. Where numpy
        declines (other dtypes, a missing source, a *ceiling* above 2**53, fewer than two
        snapshots, ...) the reference runs, for ``'numpy'`` as for ``'auto'``.
        ``result.attrs["engine"]`` says which ran (``"numpy"`` or ``"reference"``) and,
        when numpy declined, ``result.attrs["engine_fallback"]`` why (absent otherwise).
        With dask, per partition; not recorded on the dask result.

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
    check_engine(engine)
    return _increments(snapshots, ceiling=ceiling, jump_factor=jump_factor, jump_min=jump_min,
                       engine=engine)


def _increments(
    snapshots: pd.DataFrame, *, ceiling: int, jump_factor: float, jump_min: int,
    engine: str = "auto",
) -> pd.DataFrame:
    """:func:`increments` of a frame holding whole sources (a pure per-source computation).

    The numpy engine (:mod:`._increments_numpy`) runs unless *engine* is ``"reference"``;
    where it declines, the reference (:func:`_increments_reference`) runs.
    """
    require(snapshots, _NEEDED, "snapshots")
    kw = {"ceiling": ceiling, "jump_factor": jump_factor, "jump_min": jump_min}
    declined = None
    if engine != "reference":
        fast = increments_numpy(snapshots, **kw)
        if isinstance(fast, pd.DataFrame):
            return with_engine(fast, "numpy")
        declined = fast
    return with_engine(_increments_reference(snapshots, **kw), "reference", declined)


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
