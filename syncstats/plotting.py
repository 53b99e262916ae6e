"""Axes-level plots of the analysis frames, and a one-figure dashboard.

Every ``plot_*`` function follows seaborn's convention: it draws on *ax* (default
``plt.gca()``), returns that Axes, and never modifies its input frame. Times are shown in
UTC. Each source keeps one colour in every per-source plot (see :func:`source_colors`).
Empty input draws an empty Axes with a centred "no data" text instead of raising.

Data can hold any value, so no plot lets one stall or sink a figure:

* every label taken from the data (source names, error types; in legends, tick labels
  and titles) is shortened with an ellipsis by ``syncstats._text.shorten`` (to
  :data:`LABEL_WIDTH` characters, :data:`TICK_WIDTH` for tick labels), control
  characters escaped, ``$`` shown literally; the frames keep the full text;
* no plot builds a row, bin or bucket per unit of time between the earliest and the
  latest time of the data, which one implausible time (year 1 or 9999) would make
  millions: the heatmap shows at most the last :data:`HEATMAP_DAYS` days, the age
  histogram at most :data:`MAX_BINS` bins from a rule, and the dashboard's time series
  at most :data:`MAX_BUCKETS` buckets; each says how many entries it left out.

This is the only module of syncstats that imports :mod:`matplotlib.pyplot`; the
:mod:`syncstats.analysis` functions stay free of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import matplotlib
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, PercentFormatter

from ._checks import require
from ._text import MAX_LABEL, shorten
from ._time import check_freq, format_duration, to_utc
from .analysis.counters import error_increments, increments
from .analysis.errors import error_breakdown, error_trend
from .analysis.rates import trend as _trend
from .analysis.summary import Summary, batch_summary
from .exceptions import ParameterError
from .io.syncdata import SyncData

__all__ = [
    "source_colors",
    "plot_success_rate",
    "plot_throughput",
    "plot_error_breakdown",
    "plot_error_trend",
    "plot_dlq_heatmap",
    "plot_dlq_age",
    "plot_processing_time",
    "plot_dashboard",
    "NO_DATA",
    "LABEL_WIDTH",
    "TICK_WIDTH",
    "HEATMAP_DAYS",
    "MAX_BINS",
    "MAX_BUCKETS",
]

#: The text an empty plot shows.
NO_DATA = "no data"
_SUCCEEDED_COLOR = "tab:green"
_FAILED_COLOR = "tab:red"
_OTHER_COLOR = "#9e9e9e"
_ALL_SOURCES = "all sources"
#: Characters of a data-derived legend entry or title part (then an ellipsis).
LABEL_WIDTH = MAX_LABEL
#: Characters of a data-derived tick label (rotated, they take the height of the Axes).
TICK_WIDTH = 40
#: Days (rows) the DLQ heatmap shows at most: the last ones, ending at the latest entry.
HEATMAP_DAYS = 92
#: Bins the DLQ age histogram takes at most from a string rule such as ``'auto'``.
MAX_BINS = 100
#: Buckets of the dashboard's time series at most: the last ones, ending at its *now*.
MAX_BUCKETS = 4000


# -- helpers ------------------------------------------------------------------------------


def source_colors(sources: Iterable[Any]) -> dict[str, str]:
    """A stable colour per source: sorted names mapped onto the ``tab10`` cycle.

    Every per-source plot of this module takes its colours from here, so a source has
    the same colour in every panel as long as the plots see the same set of sources
    (the ``source`` categories of a :func:`~syncstats.trend` frame).

    Parameters
    ----------
    sources : iterable
        Source names (any order, duplicates allowed; converted with ``str``).

    Returns
    -------
    dict
        Source name to a hex colour, in sorted name order; the 11th source reuses the
        first colour.

    Examples
    --------
    >>> source_colors(["worker-b", "worker-a", "worker-b"])
    {'worker-a': '#1f77b4', 'worker-b': '#ff7f0e'}
    """
    cycle = [to_hex(c) for c in matplotlib.colormaps["tab10"].colors]
    names = sorted({str(s) for s in sources})
    return {name: cycle[i % len(cycle)] for i, name in enumerate(names)}


def _get_ax(ax: Axes | None) -> Axes:
    return ax if ax is not None else plt.gca()


def _naive_utc(times: pd.Series | pd.Index) -> np.ndarray:
    """UTC datetimes as tz-naive ``datetime64`` (what matplotlib's date axis takes)."""
    times = pd.Series(times)
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    return times.to_numpy(dtype="datetime64[us]")


def _date_axis(axis: Any) -> None:
    locator = mdates.AutoDateLocator(minticks=3, maxticks=6)
    axis.set_major_locator(locator)
    axis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _time_labels(ax: Axes, title: str, ylabel: str) -> None:
    ax.set_title(title)
    # left-aligned, so the date formatter's offset text (bottom right) never overlaps it
    ax.set_xlabel("Bucket start (UTC)", loc="left")
    ax.set_ylabel(ylabel)


def _no_data(ax: Axes, title: str, xlabel: str = "", ylabel: str = "") -> Axes:
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 0.5, NO_DATA, transform=ax.transAxes, ha="center", va="center",
            color="0.4", fontsize="large")
    return ax


def _fmt_span(td: pd.Timedelta | None) -> str:
    if td is None or pd.isna(td) or td <= pd.Timedelta(0):
        return "bucket"
    return format_duration(td)


def _bucket_span(trend: pd.DataFrame) -> pd.Timedelta | None:
    """Bucket length: smallest spacing of the buckets, else processed/throughput."""
    buckets = pd.Series(trend["bucket"].dropna().unique()).sort_values()
    if len(buckets) > 1:
        return pd.Timedelta(buckets.diff().min())
    if {"processed", "throughput_per_hour"} <= set(trend.columns):
        ok = (trend["processed"] > 0) & (trend["throughput_per_hour"] > 0)
        if ok.any():
            hours = (trend.loc[ok, "processed"] / trend.loc[ok, "throughput_per_hour"]).iloc[0]
            return pd.Timedelta(hours=float(hours)).round("s")
    return None


def _groups(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame, str]]:
    """(label, rows sorted by bucket, colour) per source; one group without ``source``."""
    if "source" not in frame.columns:
        first = next(iter(source_colors([_ALL_SOURCES]).values()))
        return [(_ALL_SOURCES, frame.sort_values("bucket", kind="stable"), first)]
    col = frame["source"]
    names = col.cat.categories if isinstance(col.dtype, pd.CategoricalDtype) else col.dropna()
    colors = source_colors(names)
    out = []
    for name, rows in frame.groupby(col.astype("str"), sort=True, observed=True):
        out.append((str(name), rows.sort_values("bucket", kind="stable"), colors[str(name)]))
    return out


def _plain(text: object) -> str:
    """Data-derived text shown literally: ``$`` would start matplotlib mathtext (and a
    malformed expression would fail the whole figure)."""
    return str(text).replace("$", r"\$")


def _label(text: object, width: int = LABEL_WIDTH) -> str:
    """Data-derived text as a label: one line of at most *width* characters (a 3,000
    character label costs seconds of layout, 20,000 a MemoryError), shown literally."""
    # shorten first: escaping "$" afterwards cannot be cut in half by the ellipsis
    return _plain(shorten(text, width))


def _hist_bins(values: np.ndarray, bins: Any) -> Any:
    """*bins* for :meth:`~matplotlib.axes.Axes.hist`, a string rule held to :data:`MAX_BINS`.

    The Freedman-Diaconis width (rule ``'fd'``, and ``'auto'`` before numpy 2.3) follows
    the interquartile range, not the range: one entry far older than the rest (year 1)
    asks for hundreds of millions of bins. Such a rule gets :data:`MAX_BINS` equal bins
    instead; numbers and edges given by the caller are kept.
    """
    if not isinstance(bins, str) or len(values) < 2:
        return bins
    lo, hi = float(values.min()), float(values.max())
    q25, q75 = np.percentile(values, [25, 75])
    fd_width = 2.0 * (q75 - q25) / len(values) ** (1 / 3)
    if bins in ("auto", "fd") and fd_width > 0 and (hi - lo) / fd_width > MAX_BINS:
        return MAX_BINS  # checked before numpy builds the edges: they would not fit
    edges = np.histogram_bin_edges(values, bins)
    return edges if len(edges) - 1 <= MAX_BINS else MAX_BINS


def _partial(frame: pd.DataFrame) -> np.ndarray:
    if "partial" not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    return frame["partial"].fillna(False).to_numpy(dtype=bool)


def _draw_series(
    ax: Axes, x: np.ndarray, y: np.ndarray, partial: np.ndarray, color: str, label: str,
    kwargs: Mapping[str, Any],
) -> bool:
    """A solid line over complete buckets, a dotted hollow-marker tail for partial ones.

    Returns whether a partial bucket was drawn.
    """
    style = {"color": color, "marker": "o", "markersize": 3.5, "linewidth": 1.6,
             "label": _label(label), **kwargs}
    ax.plot(x[~partial], y[~partial], **style)
    if not partial.any():
        return False
    first = int(np.flatnonzero(partial)[0])
    complete_before = np.flatnonzero(~partial[:first])
    idx = np.flatnonzero(partial)
    if len(complete_before):
        idx = np.concatenate([[complete_before[-1]], idx])
    tail = {**style, "linestyle": ":", "markerfacecolor": "white",
            "markersize": style["markersize"] + 1.5, "label": f"_partial {style['label']}"}
    ax.plot(x[idx], y[idx], **tail)
    return True


def _partial_handle() -> Line2D:
    return Line2D([], [], color="0.35", linestyle=":", marker="o", markerfacecolor="white",
                  label="partial bucket (in progress)")


def _legend_above_data(ax: Axes, top: float, extra: Sequence[Any] = ()) -> None:
    """An upper-left legend, with the y limit raised so that it clears the highest value
    *top* (bars and areas would otherwise hide behind it)."""
    handles, _ = ax.get_legend_handles_labels()
    handles = [*handles, *extra]
    if top > 0 and np.isfinite(top):
        ax.set_ylim(0, top * (1.12 + 0.075 * len(handles)))
    ax.legend(handles=handles, fontsize="small", loc="upper left", framealpha=0.8)


def _legend(ax: Axes, extra: Sequence[Any] = ()) -> None:
    handles, labels = ax.get_legend_handles_labels()
    handles = [*handles, *extra]
    if handles:
        ax.legend(handles=handles, fontsize="small", loc="best", framealpha=0.8)


# -- time series of the trend frame ------------------------------------------------------


def plot_success_rate(
    trend: pd.DataFrame,
    *,
    slo: float | None = None,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Success rate per time bucket, one line per source, with its Wilson interval.

    Parameters
    ----------
    trend : DataFrame
        :func:`~syncstats.trend` output (``bucket``, optional ``source``,
        ``success_rate``, ``success_low``, ``success_high``, ``partial``).
    slo : float, optional
        Target success fraction in (0, 1), drawn as a dashed horizontal line.
    ax : Axes, optional
        Where to draw (default ``plt.gca()``).
    **kwargs
        Passed to :meth:`~matplotlib.axes.Axes.plot` for each source's line.

    Returns
    -------
    Axes
        *ax*. Each source's line covers its complete buckets; a bucket still in progress
        (``partial``) is drawn with a hollow marker on a dotted segment. The band is the
        ``success_low`` to ``success_high`` interval; buckets with no attempts are gaps.
        Legend entries (source names) are shortened to :data:`LABEL_WIDTH` characters.
        One point per row of *trend*: nothing here scales with its time span.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from syncstats import increments, trend
    >>> from syncstats.testing import example_snapshots
    >>> t = trend(increments(example_snapshots()), "2h")
    >>> fig, ax = plt.subplots()
    >>> ax = plot_success_rate(t, slo=0.95, ax=ax)
    >>> ax.get_ylabel(), ax.lines[0].get_ydata().tolist()
    ('Success rate (attempts)', [0.9, 0.9, nan])
    >>> plt.close(ax.figure)
    """
    require(trend, ["bucket", "success_rate", "success_low", "success_high"], "trend")
    if slo is not None and not 0 < slo < 1:
        raise ParameterError(f"slo must be a fraction in (0, 1), found {slo!r}")
    ax = _get_ax(ax)
    span = _fmt_span(_bucket_span(trend)) if len(trend) else "bucket"
    title = f"Success rate per {span} bucket"
    xlabel, ylabel = "Bucket start (UTC)", "Success rate (attempts)"
    if trend.empty or trend["success_rate"].isna().all():
        return _no_data(ax, title, xlabel, ylabel)
    any_partial = False
    for label, rows, color in _groups(trend):
        x = _naive_utc(rows["bucket"])
        low = rows["success_low"].to_numpy(dtype="float64")
        high = rows["success_high"].to_numpy(dtype="float64")
        ax.fill_between(x, low, high, color=color, alpha=0.18, linewidth=0)
        y = rows["success_rate"].to_numpy(dtype="float64")
        any_partial |= _draw_series(ax, x, y, _partial(rows), color, label, kwargs)
    extra: list[Any] = [Patch(color="0.5", alpha=0.3, label="Wilson interval")]
    if slo is not None:
        ax.axhline(slo, color="0.15", linestyle="--", linewidth=1.2,
                   label=f"SLO {100 * slo:g}%")
    if any_partial:
        extra.append(_partial_handle())
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    _date_axis(ax.xaxis)
    _time_labels(ax, title, ylabel)
    ax.grid(True, alpha=0.3)
    _legend(ax, extra)
    return ax


def plot_processing_time(
    trend: pd.DataFrame,
    *,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Average processing time per attempt, in milliseconds, per time bucket and source.

    Parameters
    ----------
    trend : DataFrame
        :func:`~syncstats.trend` output (``avg_processing_time`` is in seconds).
    ax : Axes, optional
        Where to draw (default ``plt.gca()``).
    **kwargs
        Passed to :meth:`~matplotlib.axes.Axes.plot` for each source's line.

    Returns
    -------
    Axes
        *ax*; partial buckets drawn as in :func:`plot_success_rate`, legend entries
        shortened likewise.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from syncstats import increments, trend
    >>> from syncstats.testing import example_snapshots
    >>> fig, ax = plt.subplots()
    >>> ax = plot_processing_time(trend(increments(example_snapshots()), "2h"), ax=ax)
    >>> ax.get_ylabel(), ax.lines[0].get_ydata().tolist()
    ('Avg processing time per attempt (ms)', [400.0, 400.0, nan])
    >>> plt.close(ax.figure)
    """
    require(trend, ["bucket", "avg_processing_time"], "trend")
    ax = _get_ax(ax)
    span = _fmt_span(_bucket_span(trend)) if len(trend) else "bucket"
    title = f"Processing time per {span} bucket"
    xlabel, ylabel = "Bucket start (UTC)", "Avg processing time per attempt (ms)"
    if trend.empty or trend["avg_processing_time"].isna().all():
        return _no_data(ax, title, xlabel, ylabel)
    any_partial = False
    for label, rows, color in _groups(trend):
        x = _naive_utc(rows["bucket"])
        y = rows["avg_processing_time"].to_numpy(dtype="float64") * 1000.0
        any_partial |= _draw_series(ax, x, y, _partial(rows), color, label, kwargs)
    _date_axis(ax.xaxis)
    ax.set_ylim(bottom=0)
    _time_labels(ax, title, ylabel)
    ax.grid(True, alpha=0.3)
    _legend(ax, [_partial_handle()] if any_partial else [])
    return ax


def plot_throughput(
    trend: pd.DataFrame,
    *,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Succeeded and failed attempts per time bucket as stacked bars (all sources summed).

    Parameters
    ----------
    trend : DataFrame
        :func:`~syncstats.trend` output (``bucket``, ``succeeded``, ``failed``).
    ax : Axes, optional
        Where to draw (default ``plt.gca()``).
    **kwargs
        Passed to both :meth:`~matplotlib.axes.Axes.bar` calls.

    Returns
    -------
    Axes
        *ax*; ``ax.containers[0]`` holds the succeeded bars, ``ax.containers[1]`` the
        failed bars stacked on them. Each bar starts at its bucket's start and is 90% of
        the bucket spacing wide; a partial bucket's bars are hatched and lighter. One
        bar per bucket present in *trend* (no range of buckets is built here).

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from syncstats import increments, trend
    >>> from syncstats.testing import example_snapshots
    >>> fig, ax = plt.subplots()
    >>> ax = plot_throughput(trend(increments(example_snapshots()), "2h"), ax=ax)
    >>> [float(p.get_height()) for p in ax.containers[1]]
    [2.0, 2.0, 0.0, 0.0]
    >>> plt.close(ax.figure)
    """
    require(trend, ["bucket", "succeeded", "failed"], "trend")
    ax = _get_ax(ax)
    span_td = _bucket_span(trend) if len(trend) else None
    title = f"Throughput per {_fmt_span(span_td)} bucket"
    xlabel, ylabel = "Bucket start (UTC)", "Attempts per bucket"
    if trend.empty:
        return _no_data(ax, title, xlabel, ylabel)
    sums = trend.assign(partial=_partial(trend)).groupby("bucket", sort=True).agg(
        succeeded=("succeeded", "sum"), failed=("failed", "sum"), partial=("partial", "any")
    )
    x = _naive_utc(sums.index)
    width = (span_td or pd.Timedelta("1h")) / pd.Timedelta("1D") * 0.9
    ok = sums["succeeded"].to_numpy(dtype="float64")
    bad = sums["failed"].to_numpy(dtype="float64")
    style = {"width": width, "align": "edge", **kwargs}
    ax.bar(x, ok, color=_SUCCEEDED_COLOR, label="succeeded", **style)
    ax.bar(x, bad, bottom=ok, color=_FAILED_COLOR, label="failed", **style)
    partial = sums["partial"].to_numpy(dtype=bool)
    for container in ax.containers[-2:]:
        for patch, is_partial in zip(container.patches, partial, strict=True):
            if is_partial:
                patch.set_alpha(0.45)
                patch.set_hatch("///")
    _date_axis(ax.xaxis)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    _time_labels(ax, title, ylabel)
    ax.grid(True, axis="y", alpha=0.3)
    extra = []
    if partial.any():
        extra.append(Patch(facecolor="white", edgecolor="0.35", hatch="///",
                           label="partial bucket (in progress)"))
    _legend_above_data(ax, float(np.nanmax(ok + bad)), extra)
    return ax


# -- errors --------------------------------------------------------------------------------


def plot_error_breakdown(
    breakdown: pd.DataFrame,
    *,
    ax: Axes | None = None,
    top: int = 10,
    **kwargs: Any,
) -> Axes:
    """A Pareto chart: error counts by type as bars, cumulative share as a line.

    Parameters
    ----------
    breakdown : DataFrame
        :func:`~syncstats.error_breakdown` output (``error_type``, ``count``,
        ``cumulative_share``), drawn in the order given.
    ax : Axes, optional
        Where to draw (default ``plt.gca()``).
    top : int, default 10
        Show the first *top* rows only (the cumulative share still counts all rows).
    **kwargs
        Passed to :meth:`~matplotlib.axes.Axes.bar`.

    Returns
    -------
    Axes
        The primary *ax* (counts). The cumulative share is on a twin y axis, found with
        ``ax.get_shared_x_axes().get_siblings(ax)``. Tick labels (error types) are
        shortened to :data:`TICK_WIDTH` characters.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> import pandas as pd
    >>> from syncstats import error_breakdown
    >>> dlq = pd.DataFrame({"error_type": ["PlexNotFound", "PermanentError", "PlexNotFound"],
    ...                     "failed_at": pd.to_datetime(["2026-10-01"] * 3, utc=True)})
    >>> ax = plot_error_breakdown(error_breakdown(dlq))
    >>> [float(p.get_height()) for p in ax.patches]
    [2.0, 1.0]
    >>> plt.close(ax.figure)
    """
    require(breakdown, ["error_type", "count", "cumulative_share"], "breakdown")
    ax = _get_ax(ax)
    title = "Errors by type (Pareto)"
    ylabel = "Errors (count)"
    if breakdown.empty:
        return _no_data(ax, title, "Error type", ylabel)
    shown = breakdown.head(top)
    labels = [_label(t, TICK_WIDTH) for t in shown["error_type"].astype("str")]
    pos = np.arange(len(shown))
    style = {"color": "tab:blue", **kwargs}
    ax.bar(pos, shown["count"].to_numpy(dtype="float64"), **style)
    ax.set_xticks(pos, labels, rotation=40, ha="right", rotation_mode="anchor",
                  fontsize="small")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(ylabel)
    ax.set_xlabel("Error type")
    if len(breakdown) > len(shown):
        title += f": top {len(shown)} of {len(breakdown)} types"
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    fig = ax.figure
    was_current = fig.gca() is ax
    twin = ax.twinx()
    if was_current:  # twinx makes the twin current: keep plt.gca() on the primary
        fig.sca(ax)
    twin.plot(pos, shown["cumulative_share"].to_numpy(dtype="float64"), color="tab:orange",
              marker="o", markersize=4, label="cumulative share")
    twin.set_ylim(0, 1.05)
    twin.yaxis.set_major_formatter(PercentFormatter(1.0))
    twin.set_ylabel("Cumulative share of errors")
    return ax


def plot_error_trend(
    error_trend: pd.DataFrame,
    *,
    top: int = 5,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Error counts per time bucket as stacked areas by error type.

    Parameters
    ----------
    error_trend : DataFrame
        :func:`~syncstats.error_trend` output (``bucket``, ``error_type``, ``count``;
        any group column such as ``source`` is summed over).
    top : int, default 5
        Keep the *top* types by total count; the others are summed into ``"other"``
        (drawn last, in grey).
    ax : Axes, optional
        Where to draw (default ``plt.gca()``).
    **kwargs
        Passed to :meth:`~matplotlib.axes.Axes.stackplot`.

    Returns
    -------
    Axes
        *ax*; ``ax.collections`` holds one area per type, largest total first (bottom).
        A bucket's count is held over the whole bucket (a step from its start), one
        step per bucket present in *error_trend*. Legend entries (error types) are
        shortened to :data:`LABEL_WIDTH` characters.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> import pandas as pd
    >>> from syncstats import error_trend
    >>> dlq = pd.DataFrame({"error_type": ["A", "B", "A"], "failed_at": pd.to_datetime(
    ...     ["2026-10-01 00:10", "2026-10-01 02:30", "2026-10-01 02:40"], utc=True)})
    >>> ax = plot_error_trend(error_trend(dlq, "1h"))
    >>> ax.get_legend_handles_labels()[1]
    ['A', 'B']
    >>> ax.get_ylabel()
    'Errors per bucket (count)'
    >>> plt.close(ax.figure)
    """
    require(error_trend, ["bucket", "error_type", "count"], "error_trend")
    ax = _get_ax(ax)
    span = _fmt_span(_bucket_span(error_trend)) if len(error_trend) else "bucket"
    title = f"Errors by type per {span} bucket"
    xlabel, ylabel = "Bucket start (UTC)", "Errors per bucket (count)"
    if error_trend.empty:
        return _no_data(ax, title, xlabel, ylabel)
    wide = error_trend.assign(error_type=error_trend["error_type"].astype("str")).pivot_table(
        index="bucket", columns="error_type", values="count", aggfunc="sum", fill_value=0
    ).sort_index()
    totals = wide.sum().sort_values(ascending=False, kind="stable")
    named = [t for t in totals.index if t != "other"]
    keep, rest = named[:top], named[top:]
    has_other = bool(rest) or "other" in wide.columns
    series = {t: wide[t].to_numpy(dtype="float64") for t in keep}
    if has_other:
        fold = [*rest, *(["other"] if "other" in wide.columns else [])]
        series["other"] = wide[fold].sum(axis=1).to_numpy(dtype="float64")
    cycle = [to_hex(c) for c in matplotlib.colormaps["tab10"].colors]
    colors = [cycle[i % len(cycle)] if t != "other" else _OTHER_COLOR
              for i, t in enumerate(series)]
    # each bucket's count is held over the bucket (steps), like the bars of a histogram
    span_td = _bucket_span(error_trend) or pd.Timedelta("1h")
    x = _naive_utc(wide.index.append(pd.DatetimeIndex([wide.index[-1] + span_td])))
    ys = [np.append(v, v[-1]) for v in series.values()]
    style = {"labels": [_label(t) for t in series], "colors": colors, "step": "post",
             "linewidth": 0,
             **kwargs}
    ax.stackplot(x, *ys, **style)
    _date_axis(ax.xaxis)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    _time_labels(ax, title, ylabel)
    ax.grid(True, axis="y", alpha=0.3)
    # legend in drawing order: the most frequent type (bottom area) first, like the Pareto
    _legend_above_data(ax, float(np.sum(ys, axis=0).max()))
    return ax


# -- dead-letter queue -------------------------------------------------------------------


def plot_dlq_heatmap(
    dlq: pd.DataFrame,
    *,
    days: int = HEATMAP_DAYS,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """DLQ arrivals by day (rows, UTC date) and hour of day (columns, 0..23 UTC).

    Parameters
    ----------
    dlq : DataFrame
        A ``dlq`` frame (``failed_at``; rows without a time are left out).
    days : int, default :data:`HEATMAP_DAYS` (92)
        Most rows shown: the last *days* days, ending at the day of the latest entry.
        Older entries are left out and counted in the title, so that one implausible
        time (year 1 or 9999) cannot make millions of rows.
    ax : Axes, optional
        Where to draw (default ``plt.gca()``).
    **kwargs
        Passed to :meth:`~matplotlib.axes.Axes.pcolormesh` (e.g. ``cmap``).

    Returns
    -------
    Axes
        *ax*, with the :class:`~matplotlib.collections.QuadMesh` in ``ax.collections[0]``
        (its array: days x 24 counts, every day from the first shown to the last present,
        at most *days* rows) and a colorbar next to it. Row *i* spans y = i..i+1 and is
        labelled with its date; the first day is at the top. When entries were left out,
        the title's second line says how many.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> import pandas as pd
    >>> dlq = pd.DataFrame({"failed_at": pd.to_datetime(
    ...     ["2026-10-01 00:10", "2026-10-01 00:40", "2026-10-03 23:59"], utc=True)})
    >>> ax = plot_dlq_heatmap(dlq)
    >>> counts = ax.collections[0].get_array()
    >>> counts.shape, int(counts.sum()), int(counts[0, 0])
    ((3, 24), 3, 2)
    >>> plt.close(ax.figure)
    >>> ax = plot_dlq_heatmap(dlq, days=2)
    >>> ax.collections[0].get_array().shape, ax.get_title()
    ((2, 24), 'DLQ arrivals by day and hour\\nlast 2 days; 2 earlier entries left out')
    >>> plt.close(ax.figure)
    """
    require(dlq, ["failed_at"], "dlq")
    if isinstance(days, bool) or not isinstance(days, int | np.integer) or days < 1:
        raise ParameterError(f"days must be a positive integer, found {days!r}")
    ax = _get_ax(ax)
    title = "DLQ arrivals by day and hour"
    xlabel, ylabel = "Hour of day (UTC)", "Day (UTC)"
    times = pd.Series(dlq["failed_at"]).dropna()
    if times.empty:
        return _no_data(ax, title, xlabel, ylabel)
    times = pd.Series(_naive_utc(times))
    day = times.dt.floor("D")
    last = day.max()
    # rows are days: the last *days* of them, not every day since the earliest entry
    first = max(day.min(), last - pd.Timedelta(days=int(days) - 1))
    shown = (day >= first).to_numpy()
    left_out = int((~shown).sum())
    times, day = times[shown], day[shown]
    all_days = pd.date_range(first, last, freq="D")
    counts = pd.crosstab(day, times.dt.hour).reindex(
        index=all_days, columns=range(24), fill_value=0
    )
    n = len(all_days)
    style = {"cmap": "YlOrRd", "shading": "flat", **kwargs}
    mesh = ax.pcolormesh(np.arange(25), np.arange(n + 1), counts.to_numpy(dtype="float64"),
                         **style)
    cbar = ax.figure.colorbar(mesh, ax=ax, label="DLQ entries per hour", pad=0.02)
    cbar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xticks(range(0, 25, 3))
    ax.set_xlim(0, 24)
    step = -(-n // 10)  # at most ~10 day labels
    rows = np.arange(0, n, step)
    # isoformat: strftime's %Y does not pad years before 1000
    ax.set_yticks(rows + 0.5, [d.date().isoformat() for d in all_days[rows]],
                  fontsize="small")
    ax.set_ylim(n, 0)  # first day at the top
    if left_out:
        title += (f"\nlast {days:,} days; {left_out:,} earlier "
                  f"{'entry' if left_out == 1 else 'entries'} left out")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


def plot_dlq_age(
    dlq: pd.DataFrame,
    *,
    now: Any = None,
    ax: Axes | None = None,
    bins: int | str | Sequence[float] = "auto",
    unit: str | None = None,
    **kwargs: Any,
) -> Axes:
    """Histogram of DLQ entry ages (``now - failed_at``) in hours or days.

    Parameters
    ----------
    dlq : DataFrame
        A ``dlq`` frame (``failed_at``; rows without a time or after *now* are left out).
    now : time, optional
        Reference time (default: the latest ``failed_at``, so the plot is reproducible).
    ax : Axes, optional
        Where to draw (default ``plt.gca()``).
    bins : int, str or sequence, default 'auto'
        Passed to :meth:`~matplotlib.axes.Axes.hist` (in the chosen unit). A string rule
        (numpy's, e.g. ``'auto'``, ``'fd'``) gives at most :data:`MAX_BINS` (100) bins:
        when it would give more (an entry far older than the others makes the
        Freedman-Diaconis width tiny next to the range), 100 equal bins are used.
    unit : {'hours', 'days'}, optional
        Default: hours when the oldest entry is at most 72 hours old, else days.
    **kwargs
        Passed to :meth:`~matplotlib.axes.Axes.hist`.

    Returns
    -------
    Axes
        *ax*; the bar heights sum to the number of entries shown.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> import pandas as pd
    >>> dlq = pd.DataFrame({"failed_at": pd.to_datetime(
    ...     ["2026-10-01 00:00", "2026-10-01 06:00", "2026-10-02 00:00"], utc=True)})
    >>> ax = plot_dlq_age(dlq, bins=4)
    >>> ax.get_xlabel()
    'Age at 2026-10-02 00:00 UTC (hours)'
    >>> float(sum(p.get_height() for p in ax.patches))
    3.0
    >>> plt.close(ax.figure)
    """
    require(dlq, ["failed_at"], "dlq")
    if unit not in (None, "hours", "days"):
        raise ParameterError(f"unit must be 'hours', 'days' or None, found {unit!r}")
    ax = _get_ax(ax)
    title = "DLQ entry age"
    times = pd.Series(dlq["failed_at"]).dropna()
    ref = to_utc(now, "now") if now is not None else (times.max() if len(times) else None)
    if ref is not None:
        times = times[times <= ref]
    if times.empty:
        return _no_data(ax, title, f"Age ({unit or 'hours'})", "DLQ entries")
    ages = (ref - times).dt.total_seconds().to_numpy() / 3600.0
    if unit is None:
        unit = "hours" if ages.max() <= 72 else "days"
    if unit == "days":
        ages = ages / 24.0
    style = {"color": "tab:purple", "edgecolor": "white", **kwargs}
    ax.hist(ages, bins=_hist_bins(ages, bins), **style)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    ax.set_xlabel(f"Age at {pd.Timestamp(ref).tz_convert('UTC'):%Y-%m-%d %H:%M} UTC ({unit})")
    ax.set_ylabel("DLQ entries")
    ax.grid(True, axis="y", alpha=0.3)
    return ax


# -- dashboard ---------------------------------------------------------------------------


def plot_dashboard(
    data: SyncData,
    *,
    window: Any = None,
    now: Any = None,
    freq: str = "1h",
    slo: float | None = None,
    summary: Summary | None = None,
) -> Figure:
    """One figure: the batch summary headline over six panels.

    Panels (2 x 3): success rate, throughput, Pareto of error types (from the counters'
    ``errors_by_type``), error types over time, DLQ arrivals by day and hour, processing
    time. All cover the :func:`~syncstats.batch_summary` window (with no *window*: all
    data up to *now*), but the time series show at most the last :data:`MAX_BUCKETS`
    (4,000) buckets of *freq* ending at *now*, and the heatmap at most the last
    :data:`HEATMAP_DAYS` (92) days up to its latest entry; the titles say what was
    left out, so that one implausible time (year 1) cannot make
    millions of buckets. The per-source panels share one legend at the bottom; source
    names and error types are shortened in every label (the frames keep them whole).

    Parameters
    ----------
    data : SyncData
        What :func:`~syncstats.load` returned.
    window : str or Timedelta, optional
        Length of the window ending at *now* (``"24h"``, ``"7d"``); None for all data.
    now : time, optional
        End of the window (default: the latest snapshot or DLQ time).
    freq : str, default '1h'
        Bucket size of the time series.
    slo : float, optional
        Success-rate target drawn on the success-rate panel.
    summary : Summary, optional
        ``batch_summary(data, ...)`` already computed: drawn as it is (its window and
        end; *window* and *now* must then be None), and its increments are not computed
        again.

    Returns
    -------
    Figure
        A new 12 x 9 in figure (constrained layout); ``fig.axes`` starts with the six
        panels in reading order.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from syncstats import SyncData
    >>> fig = plot_dashboard(SyncData())
    >>> len(fig.axes)
    6
    >>> plt.close(fig)
    >>> from syncstats import load
    >>> plot_dashboard(load("data"), window="7d", slo=0.9).savefig("dash.png")  # doctest: +SKIP
    """
    offset = check_freq(freq)
    if summary is None:
        summary = batch_summary(data, window=window, now=now)
    elif window is not None or now is not None:
        raise ParameterError("window and now: pass them to batch_summary, not with summary=")
    start, end = summary.start, summary.end
    # batch_summary's own increments (a Summary built by hand may lack them)
    inc = summary.increments if summary.increments is not None else increments(data.snapshots)
    err = (summary.error_increments if summary.error_increments is not None
           else error_increments(data.errors, data.snapshots))
    dlq = data.dlq
    if end is not None:
        inc = inc[inc["end"] <= end]
        err = err[err["end"] <= end]
        dlq = dlq[dlq["failed_at"] <= end]
    if start is not None and summary.window is not None:
        inc = inc[inc["end"] > start]
        err = err[err["end"] > start]
        dlq = dlq[dlq["failed_at"] > start]
    # Ends in (lower, end] fall in at most MAX_BUCKETS buckets (right-closed buckets, as
    # trend() makes them): the dashboard draws no more than that, whatever the data's span.
    left_out = 0
    if end is not None:
        try:
            lower = end - (MAX_BUCKETS - 1) * offset
        except (OverflowError, pd.errors.OutOfBoundsDatetime):
            lower = None  # before the first representable time: nothing is older
        if lower is not None:
            old_inc, old_err = inc["end"] <= lower, err["end"] <= lower
            left_out = int(old_inc.sum()) + int(old_err.sum())
            inc, err = inc[~old_inc], err[~old_err]
    t = _trend(inc, freq, now=end)
    breakdown = error_breakdown(err)
    et = error_trend(err, freq, now=end)

    fig, axes = plt.subplots(2, 3, figsize=(12, 9), layout="constrained")
    plot_success_rate(t, slo=slo, ax=axes[0, 0])
    plot_throughput(t, ax=axes[0, 1])
    plot_error_breakdown(breakdown, ax=axes[0, 2], top=8)
    plot_error_trend(et, ax=axes[1, 0])
    plot_dlq_heatmap(dlq, ax=axes[1, 1])
    plot_processing_time(t, ax=axes[1, 2])
    # a source keeps its colour in every panel: one figure legend for the per-source panels
    if (legend := axes[1, 2].get_legend()) is not None:
        legend.remove()
    if (legend := axes[0, 0].get_legend()) is not None:
        handles = legend.legend_handles
        labels = [text.get_text() for text in legend.get_texts()]
        legend.remove()
        fig.legend(handles, labels, loc="outside lower center", ncols=len(labels),
                   fontsize="small", frameon=False)
    heading = f"{summary.headline()}\n{summary.window_text()}"
    if left_out:
        heading += (f"\ntime series: last {MAX_BUCKETS:,} {freq} buckets; {left_out:,} "
                    f"earlier counter {'increment' if left_out == 1 else 'increments'} "
                    "left out")
    fig.suptitle(heading, fontsize="medium")
    return fig
