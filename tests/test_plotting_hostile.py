"""Plots of hostile data (issue 13): huge or control-laden labels, implausible time spans.

Every test here fails on the code before the fix: labels were drawn whole (a 20,000
character error type was a MemoryError at ``savefig``, 3,000 characters ~11 s), and the
heatmap, a ``'fd'`` age histogram and the dashboard's time series built a row, bin or
bucket per unit of time between the earliest and the latest time.
"""

from __future__ import annotations

import io
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text
from pandas.testing import assert_frame_equal
from test_plotting import _dlq, _errors, _snapshots

from syncstats import (
    SyncData,
    error_breakdown,
    error_increments,
    error_trend,
    increments,
    schemas,
    trend,
)
from syncstats.exceptions import ParameterError
from syncstats.plotting import (
    HEATMAP_DAYS,
    LABEL_WIDTH,
    MAX_BINS,
    MAX_BUCKETS,
    TICK_WIDTH,
    plot_dashboard,
    plot_dlq_age,
    plot_dlq_heatmap,
    plot_error_breakdown,
    plot_error_trend,
    plot_processing_time,
    plot_success_rate,
    plot_throughput,
)

#: The filler that marks hostile text wherever it ends up.
FILL = "x"


def _hostile(n: int) -> str:
    """*n* characters after a newline, an ESC sequence (clear screen) and a ``$``."""
    return "E\n\x1b[2J$" + FILL * n


def _rename(col: pd.Series, old: str, new: str) -> pd.Series:
    return col.astype("str").replace({old: new}).astype("category")


def _hostile_data(n: int) -> SyncData:
    """The test_plotting frames with source ``a``, type ``PlexNotFound`` and every DLQ
    message replaced by hostile text of *n* characters."""
    text = _hostile(n)
    snaps, errs, dlq = _snapshots(), _errors(), _dlq()
    snaps["source"] = _rename(snaps["source"], "a", "a" + text)
    for frame in (errs, dlq):
        frame["source"] = _rename(frame["source"], "a", "a" + text)
        frame["error_type"] = _rename(frame["error_type"], "PlexNotFound", "P" + text)
    dlq["error_message"] = text
    return SyncData(snapshots=schemas.conform(snaps, schemas.SNAPSHOTS),
                    errors=schemas.conform(errs, schemas.ERRORS),
                    dlq=schemas.conform(dlq, schemas.DLQ))


def _frame(name: str, data: SyncData) -> pd.DataFrame:
    if name in ("success_rate", "throughput", "processing_time"):
        return trend(increments(data.snapshots), "1h")
    err = error_increments(data.errors, data.snapshots)
    if name == "error_breakdown":
        return error_breakdown(err)
    if name == "error_trend":
        return error_trend(err, "1h", by="source")
    return data.dlq


HELPERS = {
    # name: (function, whether data text is drawn: sources or error types)
    "success_rate": (plot_success_rate, True),
    "throughput": (plot_throughput, False),
    "processing_time": (plot_processing_time, True),
    "error_breakdown": (plot_error_breakdown, True),
    "error_trend": (plot_error_trend, True),
    "dlq_heatmap": (plot_dlq_heatmap, False),
    "dlq_age": (plot_dlq_age, False),
}


def _check_labels(fig: Figure, drawn: bool) -> list[str]:
    """Every text of *fig*: data text shortened to its width, escaped, literal."""
    texts = [t.get_text() for t in fig.findobj(Text)]
    hostile = [t for t in texts if FILL * 10 in t]
    if drawn:
        assert hostile, "the shortened label is drawn"
    for text in hostile:
        # the ellipsis counts in the width; "$" is escaped after shortening, as "\$"
        width = len(text) - text.count(r"\$")
        assert width <= LABEL_WIDTH, (width, text)
        assert text.endswith("…")
        assert "\\n" in text and "\\u001b[2J" in text  # escaped, not acted on
    assert not any("\x1b" in t for t in texts)
    return hostile


def _png(fig: Figure) -> None:
    buf = io.BytesIO()
    # bbox_inches="tight" measures every text, as Jupyter's inline backend does: the
    # step that took ~11 s for 3,000 characters and ran out of memory for 20,000
    fig.savefig(buf, format="png", bbox_inches="tight", dpi=50)
    assert buf.getvalue()[:4] == b"\x89PNG"


@pytest.mark.parametrize("n", [3_000, 20_000])
@pytest.mark.parametrize("name", HELPERS)
def test_helper_shortens_hostile_labels(name, n):
    func, drawn = HELPERS[name]
    frame = _frame(name, _hostile_data(n))
    before = frame.copy(deep=True)
    fig, ax = plt.subplots(layout="constrained")
    assert func(frame, ax=ax) is ax
    _check_labels(fig, drawn)
    _png(fig)
    assert_frame_equal(frame, before)  # the frame keeps the full text


def test_tick_labels_have_their_own_width():
    fig, ax = plt.subplots()
    plot_error_breakdown(_frame("error_breakdown", _hostile_data(3_000)), ax=ax)
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    long = [t for t in ticks if FILL in t]
    assert long and all(len(t) - t.count(r"\$") == TICK_WIDTH for t in long)
    assert "PermanentError" in ticks  # short labels are kept whole


def test_legend_entries_of_sources_and_types_are_shortened():
    data = _hostile_data(20_000)
    fig, ax = plt.subplots()
    plot_success_rate(_frame("success_rate", data), ax=ax)
    labels = ax.get_legend_handles_labels()[1]
    assert labels[0].startswith(r"aE\n\u001b[2J\$x") and len(labels[0]) == LABEL_WIDTH + 1
    assert labels[1] == "b"
    fig, ax = plt.subplots()
    plot_error_trend(_frame("error_trend", data), ax=ax)
    labels = ax.get_legend_handles_labels()[1]
    assert sum(label.startswith(r"PE\n") for label in labels) == 1
    assert max(len(label) for label in labels) == LABEL_WIDTH + 1  # "\$" is 2 characters


@pytest.mark.parametrize("n", [3_000, 20_000])
def test_dashboard_shortens_hostile_labels(n):
    fig = plot_dashboard(_hostile_data(n))
    hostile = _check_labels(fig, drawn=True)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[0] in hostile and legend[1] == "b"  # one source legend, shortened
    assert FILL * 10 not in fig.get_suptitle()
    _png(fig)


# -- implausible time spans ---------------------------------------------------------------


def _with_times(frame: pd.DataFrame, column: str, times: list[str]) -> pd.DataFrame:
    """*frame* plus copies of its first rows at *times* (microsecond unit: years 1..9999)."""
    extra = frame.iloc[: len(times)].copy()
    extra[column] = pd.DatetimeIndex(times).tz_localize("UTC").as_unit("us")
    if "id" in extra:
        extra["id"] = np.arange(len(times)) + 1000
    return pd.concat([frame, extra], ignore_index=True)


SPAN = ["0001-01-01 00:00", "9999-12-31 23:59"]


def test_dlq_heatmap_shows_the_last_days_only():
    dlq = schemas.conform(_with_times(_dlq(), "failed_at", SPAN), schemas.DLQ)
    fig, ax = plt.subplots()
    started = time.perf_counter()
    plot_dlq_heatmap(dlq, ax=ax)
    counts = np.asarray(ax.collections[0].get_array())
    # before: one row per day from year 1 to 9999 (3.65 million rows, a MemoryError)
    assert counts.shape == (HEATMAP_DAYS, 24)
    assert counts.sum() == 1  # only the 9999-12-31 entry is in its last 92 days
    assert ax.get_title().endswith(f"\nlast {HEATMAP_DAYS} days; 6 earlier entries left out")
    assert [t.get_text() for t in ax.get_yticklabels()][0] == "9999-10-01"  # 12-31 - 91 d
    _png(fig)
    assert time.perf_counter() - started < 60  # generous: seconds before, ~0.2 s now


def test_dlq_heatmap_with_an_old_outlier_keeps_the_recent_days():
    dlq = schemas.conform(_with_times(_dlq(), "failed_at", SPAN[:1]), schemas.DLQ)
    fig, ax = plt.subplots()
    plot_dlq_heatmap(dlq, ax=ax)
    counts = np.asarray(ax.collections[0].get_array())
    assert counts.shape == (HEATMAP_DAYS, 24)
    assert counts.sum() == len(_dlq())  # every recent entry is shown
    assert counts[-1, 0] == 2 and counts[-3, 23] == 1  # 2026-10-01 00h, 2026-09-29 23h
    assert ax.get_title().endswith("; 1 earlier entry left out")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "2026-07-02"  # 2026-10-01 minus 91 days

    fig, ax = plt.subplots()
    plot_dlq_heatmap(dlq, ax=ax, days=2)
    assert np.asarray(ax.collections[0].get_array()).shape == (2, 24)
    assert ax.get_title().endswith("\nlast 2 days; 2 earlier entries left out")


@pytest.mark.parametrize("days", [0, -1, 2.5, True])
def test_dlq_heatmap_days_must_be_a_positive_integer(days):
    with pytest.raises(ParameterError, match="days"):
        plot_dlq_heatmap(_dlq(), days=days)


def _many_dlq(times: list[str]) -> pd.DataFrame:
    """200 entries a minute apart from 2026-10-01, plus entries at *times*."""
    base = pd.concat([_dlq()] * 40, ignore_index=True)
    base["failed_at"] = T0 + pd.to_timedelta(np.arange(len(base)), unit="min")
    base["id"] = np.arange(len(base)) + 1
    return schemas.conform(_with_times(base, "failed_at", times), schemas.DLQ)


T0 = pd.Timestamp("2026-10-01", tz="UTC").as_unit("us")


@pytest.mark.parametrize("bins", ["fd", "auto"])
def test_dlq_age_rule_bins_are_bounded(bins):
    dlq = _many_dlq(SPAN[:1])  # the year-1 entry is ~2026 years old at the latest entry
    fig, ax = plt.subplots()
    plot_dlq_age(dlq, ax=ax, bins=bins)
    # before: 'fd' asked for ~150 million bins (199 s, then a MemoryError); 'auto' too
    # before numpy 2.3 (numpy#28400), which pyproject allows
    assert 1 <= len(ax.patches) <= MAX_BINS
    assert sum(p.get_height() for p in ax.patches) == len(dlq)
    assert "days" in ax.get_xlabel()


def test_dlq_age_keeps_explicit_and_plausible_bins():
    dlq = _many_dlq([])
    fig, ax = plt.subplots()
    plot_dlq_age(dlq, ax=ax, bins="fd")
    expected = len(np.histogram_bin_edges(
        (dlq["failed_at"].max() - dlq["failed_at"]).dt.total_seconds() / 3600, "fd")) - 1
    assert len(ax.patches) == expected < MAX_BINS
    fig, ax = plt.subplots()
    plot_dlq_age(_many_dlq(SPAN[:1]), ax=ax, bins=150)
    assert len(ax.patches) == 150  # the caller's number is the caller's cost


@pytest.mark.parametrize(("frame", "when"), [("snapshots", SPAN[0]), ("dlq", SPAN[1])])
def test_dashboard_time_series_are_bounded(frame, when):
    data = SyncData(snapshots=_snapshots(), errors=_errors(), dlq=_dlq())
    if frame == "snapshots":  # two copies of source a in year 1, with lower counters
        old = _with_times(_snapshots(), "snapshot_at", [when, "0001-01-01 01:00"]).iloc[-2:]
        old[["jobs_processed", "jobs_succeeded", "jobs_failed", "jobs_to_dlq",
             "high_confidence_matches", "total_processing_time"]] = [[0] * 6, [1] * 6]
        old["session_start"] = old["snapshot_at"].iloc[0]
        snaps = schemas.conform(pd.concat([old, _snapshots()], ignore_index=True),
                                schemas.SNAPSHOTS)
        data = SyncData(snapshots=snaps, errors=_errors(), dlq=_dlq())
        expected_buckets = 7  # 2026-10-01 00:00 .. 06:00: the year-1 interval left out
    else:  # a DLQ entry at 9999 moves "now" there: the recent increments are left out
        data = SyncData(snapshots=_snapshots(), errors=_errors(),
                        dlq=schemas.conform(_with_times(_dlq(), "failed_at", [when]),
                                            schemas.DLQ))
        expected_buckets = 0
    started = time.perf_counter()
    fig = plot_dashboard(data)
    # before: one bucket per hour from year 1 to 2026 (17.7 million per source)
    throughput = fig.axes[1]
    bars = len(throughput.containers[0]) if throughput.containers else 0
    assert bars == expected_buckets <= MAX_BUCKETS
    assert "earlier counter increment" in fig.get_suptitle()
    assert "left out" in fig.get_suptitle()
    heat = np.asarray(fig.axes[4].collections[0].get_array())
    assert heat.shape[0] <= HEATMAP_DAYS
    _png(fig)
    assert time.perf_counter() - started < 60  # generous: minutes and GBs before
