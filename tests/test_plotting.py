"""Plots: structure (artists, data, labels), not pixels."""

from __future__ import annotations

import io
import subprocess
import sys

import matplotlib
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.colors import to_hex, to_rgba
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter
from pandas.testing import assert_frame_equal

from syncstats import (
    SyncData,
    batch_summary,
    error_breakdown,
    error_increments,
    error_trend,
    increments,
    schemas,
    trend,
)
from syncstats.exceptions import ParameterError, SchemaError
from syncstats.plotting import (
    NO_DATA,
    plot_dashboard,
    plot_dlq_age,
    plot_dlq_heatmap,
    plot_error_breakdown,
    plot_error_trend,
    plot_processing_time,
    plot_success_rate,
    plot_throughput,
    source_colors,
)

T0 = pd.Timestamp("2026-10-01", tz="UTC")
TAB10 = [to_hex(c) for c in matplotlib.colormaps["tab10"].colors]
# per-hour increments of each source: processed, succeeded, processing seconds per attempt
STEPS = {
    "a": ([10, 20, 10, 10, 4, 5], [9, 18, 10, 5, 4, 5], 0.4),
    "b": ([8, 0, 6, 12, 3, 2], [8, 0, 3, 12, 2, 1], 0.25),
}
ERROR_STEPS = {  # source: {type: per-hour increments}
    "a": {"PlexNotFound": [1, 2, 0, 3, 0, 0], "TimeoutError": [0, 0, 0, 2, 0, 0]},
    "b": {"PlexNotFound": [0, 0, 1, 0, 0, 1], "PermanentError": [0, 0, 2, 0, 1, 0]},
}


@pytest.fixture(autouse=True)
def _close_figures():
    """Close figures even if the shared conftest fixture goes away."""
    yield
    plt.close("all")


def _snapshots() -> pd.DataFrame:
    """Hourly cumulative snapshots 00:30..06:30 of two sources (6 increments each)."""
    # at :30, so that the last bucket (06:00, 07:00] is partial (now = 06:30)
    times = pd.date_range(T0 + pd.Timedelta("30min"), periods=7, freq="1h")
    rows = []
    for source, (proc, succ, secs) in STEPS.items():
        p = np.concatenate([[100], 100 + np.cumsum(proc)])
        s = np.concatenate([[90], 90 + np.cumsum(succ)])
        for i, t in enumerate(times):
            rows.append({
                "source": source, "snapshot_at": t, "session_start": T0,
                "jobs_processed": p[i], "jobs_succeeded": s[i], "jobs_failed": p[i] - s[i],
                "jobs_to_dlq": (p[i] - s[i]) // 2, "high_confidence_matches": s[i],
                "low_confidence_matches": 0, "total_processing_time": p[i] * secs,
                "time_from": "field", "origin": f"{source}.jsonl:{i + 1}",
            })
    return schemas.conform(pd.DataFrame(rows), schemas.SNAPSHOTS)


def _errors() -> pd.DataFrame:
    # at :30, so that the last bucket (06:00, 07:00] is partial (now = 06:30)
    times = pd.date_range(T0 + pd.Timedelta("30min"), periods=7, freq="1h")
    rows = []
    for source, types in ERROR_STEPS.items():
        for etype, steps in types.items():
            cum = np.concatenate([[0], np.cumsum(steps)])
            for i, t in enumerate(times):
                rows.append({"source": source, "snapshot_at": t, "error_type": etype,
                             "count": cum[i], "origin": f"{source}.jsonl:{i + 1}"})
    return schemas.conform(pd.DataFrame(rows), schemas.ERRORS)


def _dlq() -> pd.DataFrame:
    failed = pd.to_datetime(
        ["2026-09-29 23:30", "2026-10-01 00:10", "2026-10-01 00:50", "2026-10-01 03:20",
         "2026-10-01 05:59"], utc=True)
    n = len(failed)
    frame = pd.DataFrame({
        "source": ["a", "a", "b", "a", "b"], "id": range(1, n + 1), "job_id": range(n),
        "scene_id": [7, 7, 8, 9, 10],
        "error_type": ["PlexNotFound", "PlexNotFound", "PermanentError", "TimeoutError",
                       "PlexNotFound"],
        "error_message": ["m"] * n, "stack_trace": [""] * n, "retry_count": [5, 5, 0, 3, 5],
        "failed_at": failed, "origin": ["dlq.db"] * n,
    })
    return schemas.conform(frame, schemas.DLQ)


@pytest.fixture(scope="module")
def _built() -> dict[str, pd.DataFrame]:
    """Built once per module; the function fixtures below hand out deep copies."""
    snaps = _snapshots()
    return {"tr": trend(increments(snaps), "1h"),
            "err_inc": error_increments(_errors(), snaps), "dlq": _dlq()}


@pytest.fixture
def tr(_built) -> pd.DataFrame:
    return _built["tr"].copy(deep=True)


@pytest.fixture
def err_inc(_built) -> pd.DataFrame:
    return _built["err_inc"].copy(deep=True)


@pytest.fixture
def dlq(_built) -> pd.DataFrame:
    return _built["dlq"].copy(deep=True)


def _lines(ax: Axes) -> dict[str, object]:
    return {line.get_label(): line for line in ax.lines}


# -- the fixture frames are what the analysis produces --------------------------------


def test_fixture_trend_shape(tr):
    assert list(tr["source"].cat.categories) == ["a", "b"]
    assert len(tr) == 12
    assert tr.groupby("source", observed=True)["partial"].sum().tolist() == [1, 1]
    assert tr["partial"].iloc[-1]


# -- common behaviour: returned Axes, gca default, inputs unchanged, empty input --------

CASES = {
    "success_rate": (plot_success_rate, "tr", {"slo": 0.95}),
    "throughput": (plot_throughput, "tr", {}),
    "processing_time": (plot_processing_time, "tr", {}),
    "error_breakdown": (plot_error_breakdown, "breakdown", {}),
    "error_trend": (plot_error_trend, "etrend", {}),
    "dlq_heatmap": (plot_dlq_heatmap, "dlq", {}),
    "dlq_age": (plot_dlq_age, "dlq", {}),
}


@pytest.fixture
def frames(tr, err_inc, dlq) -> dict[str, pd.DataFrame]:
    return {"tr": tr, "breakdown": error_breakdown(err_inc),
            "etrend": error_trend(err_inc, "1h", by="source"), "dlq": dlq}


@pytest.mark.parametrize("name", CASES)
def test_draws_on_given_axes(name, frames):
    func, key, kw = CASES[name]
    fig, (left, right) = plt.subplots(1, 2)
    assert func(frames[key], ax=right, **kw) is right
    assert right.has_data()
    assert not left.has_data()


@pytest.mark.parametrize("name", CASES)
def test_defaults_to_current_axes(name, frames):
    func, key, kw = CASES[name]
    plt.figure()
    current = plt.gca()
    returned = func(frames[key], **kw)
    assert returned is current
    assert plt.gca() is current  # twin axes and colorbars do not steal "current"


@pytest.mark.parametrize("name", CASES)
def test_input_unchanged(name, frames):
    func, key, kw = CASES[name]
    frame = frames[key]
    before = frame.copy(deep=True)
    func(frame, **kw)
    assert_frame_equal(frame, before)


@pytest.mark.parametrize("name", CASES)
def test_empty_input_says_no_data(name, frames):
    func, key, kw = CASES[name]
    empty = frames[key].iloc[:0]
    ax = func(empty, **kw)
    assert [t.get_text() for t in ax.texts] == [NO_DATA]
    assert ax.get_title()


def test_empty_trend_from_analysis_says_no_data():
    empty = trend(increments(_snapshots().iloc[:0]), "1h")
    for func in (plot_success_rate, plot_throughput, plot_processing_time):
        fig, ax = plt.subplots()
        func(empty, ax=ax)
        assert [t.get_text() for t in ax.texts] == [NO_DATA]


def test_missing_column_is_a_schema_error(tr):
    with pytest.raises(SchemaError, match="success_low"):
        plot_success_rate(tr.drop(columns="success_low"))
    with pytest.raises(SchemaError, match="failed_at"):
        plot_dlq_heatmap(pd.DataFrame({"x": [1]}))


# -- success rate ------------------------------------------------------------------------


def test_success_rate_lines_band_slo(tr):
    fig, ax = plt.subplots()
    plot_success_rate(tr, slo=0.95, ax=ax)
    lines = _lines(ax)
    for source in ("a", "b"):
        rows = tr[tr["source"] == source]
        done = rows[~rows["partial"]]
        np.testing.assert_allclose(lines[source].get_ydata(), done["success_rate"])
        assert list(lines[source].get_xdata()) == list(
            done["bucket"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy())
        # the partial bucket: a dotted segment from the last complete bucket, hollow marker
        tail = lines[f"_partial {source}"]
        np.testing.assert_allclose(
            tail.get_ydata(), rows["success_rate"].iloc[-2:].to_numpy())
        assert tail.get_linestyle() == ":"
        assert to_hex(tail.get_markerfacecolor()) == "#ffffff"
    slo = [line for line in ax.lines if line.get_label().startswith("SLO")]
    assert len(slo) == 1
    assert list(slo[0].get_ydata()) == [0.95, 0.95]
    assert slo[0].get_linestyle() == "--"
    assert "95%" in slo[0].get_label()
    # one Wilson band per source, spanning success_low..success_high
    bands = ax.collections
    assert len(bands) == 2
    ys = bands[0].get_paths()[0].vertices[:, 1]
    a = tr[tr["source"] == "a"]
    assert ys.min() == pytest.approx(a["success_low"].min())
    assert ys.max() == pytest.approx(a["success_high"].max())
    assert bands[0].get_alpha() < 1
    assert isinstance(ax.yaxis.get_major_formatter(), PercentFormatter)
    assert ax.get_ylabel() == "Success rate (attempts)"
    assert "(UTC)" in ax.get_xlabel()
    assert isinstance(ax.xaxis.get_major_formatter(), mdates.ConciseDateFormatter)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:2] == ["a", "b"]
    assert "SLO 95%" in legend and "Wilson interval" in legend
    assert any("partial" in text for text in legend)


def test_success_rate_without_slo_or_source(tr):
    overall = trend(increments(_snapshots()), "1h", by=None)
    fig, ax = plt.subplots()
    plot_success_rate(overall, ax=ax)
    assert not any(line.get_label().startswith("SLO") for line in ax.lines)
    main = [line for line in ax.lines if not line.get_label().startswith("_")]
    assert len(main) == 1
    done = overall[~overall["partial"]]
    np.testing.assert_allclose(main[0].get_ydata(), done["success_rate"])


def test_success_rate_slo_must_be_a_fraction(tr):
    with pytest.raises(ParameterError, match="slo"):
        plot_success_rate(tr, slo=95)


def test_success_rate_kwargs_reach_the_lines(tr):
    fig, ax = plt.subplots()
    plot_success_rate(tr, ax=ax, linewidth=4)
    assert _lines(ax)["a"].get_linewidth() == 4


def test_zero_attempt_bucket_is_a_gap(tr):
    fig, ax = plt.subplots()
    plot_success_rate(tr, ax=ax)
    y = _lines(ax)["b"].get_ydata()  # b processed nothing in its second hour
    assert np.isnan(y[1]) and not np.isnan(y[0])


# -- colours -----------------------------------------------------------------------------


def test_source_colors_sorted_onto_tab10():
    assert source_colors(["b", "a", "b"]) == {"a": TAB10[0], "b": TAB10[1]}
    many = source_colors([f"s{i:02d}" for i in range(12)])
    assert many["s10"] == many["s00"]


def test_a_source_keeps_its_colour_across_plots(tr):
    fig, (left, right, third) = plt.subplots(1, 3)
    plot_success_rate(tr, ax=left)
    plot_processing_time(tr, ax=right)
    # a trend filtered to one source keeps the categories, hence the colour
    plot_processing_time(tr[tr["source"] == "b"], ax=third)
    expected = source_colors(["a", "b"])
    for source in ("a", "b"):
        colours = {to_hex(_lines(ax)[source].get_color()) for ax in (left, right)}
        assert colours == {expected[source]}
        assert to_rgba(left.collections["ab".index(source)].get_facecolor()[0])[:3] == (
            to_rgba(expected[source])[:3])
    assert to_hex(_lines(third)["b"].get_color()) == expected["b"]


# -- processing time ---------------------------------------------------------------------


def test_processing_time_in_ms(tr):
    fig, ax = plt.subplots()
    plot_processing_time(tr, ax=ax)
    lines = _lines(ax)
    for source, (_, _, secs) in STEPS.items():
        rows = tr[(tr["source"] == source) & ~tr["partial"]]
        np.testing.assert_allclose(lines[source].get_ydata(),
                                   rows["avg_processing_time"] * 1000)
        assert np.nanmax(lines[source].get_ydata()) == pytest.approx(secs * 1000)
    assert ax.get_ylabel() == "Avg processing time per attempt (ms)"
    assert "(UTC)" in ax.get_xlabel()


# -- throughput --------------------------------------------------------------------------


def test_throughput_stacked_bars(tr):
    fig, ax = plt.subplots()
    plot_throughput(tr, ax=ax)
    sums = tr.groupby("bucket")[["succeeded", "failed"]].sum()
    ok, bad = ax.containers[0], ax.containers[1]
    assert [p.get_height() for p in ok] == sums["succeeded"].tolist()
    assert [p.get_height() for p in bad] == sums["failed"].tolist()
    assert [p.get_y() for p in bad] == sums["succeeded"].tolist()  # stacked
    assert [p.get_y() for p in ok] == [0] * len(sums)
    # bars start at the bucket start and are 90% of the 1h spacing wide
    starts = mdates.date2num(sums.index.tz_convert("UTC").tz_localize(None))
    np.testing.assert_allclose([p.get_x() for p in ok], starts)
    np.testing.assert_allclose([p.get_width() for p in ok], 0.9 / 24)
    assert ok.patches[-1].get_hatch() and not ok.patches[0].get_hatch()  # partial bucket
    assert ax.get_ylabel() == "Attempts per bucket"
    assert "1h" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()][:2] == ["succeeded", "failed"]
    # the legend has room above the tallest stack
    assert ax.get_ylim()[1] > (sums["succeeded"] + sums["failed"]).max()


def test_throughput_daily_bar_width():
    daily = trend(increments(_snapshots()), "1D", by=None)
    assert len(daily) == 1
    fig, ax = plt.subplots()
    plot_throughput(daily, ax=ax)
    assert ax.containers[0].patches[0].get_width() == pytest.approx(0.9)


# -- errors ------------------------------------------------------------------------------


def test_error_breakdown_pareto(err_inc):
    table = error_breakdown(err_inc)
    fig, ax = plt.subplots()
    assert plot_error_breakdown(table, ax=ax) is ax
    assert [p.get_height() for p in ax.patches] == table["count"].tolist()
    assert [t.get_text() for t in ax.get_xticklabels()] == table["error_type"].tolist()
    twins = [a for a in ax.get_shared_x_axes().get_siblings(ax) if a is not ax]
    assert len(twins) == 1
    twin = twins[0]
    np.testing.assert_allclose(twin.lines[0].get_ydata(), table["cumulative_share"])
    assert isinstance(twin.yaxis.get_major_formatter(), PercentFormatter)
    assert twin.get_ylim() == (0, 1.05)
    assert "count" in ax.get_ylabel()


def test_error_breakdown_top(err_inc):
    table = error_breakdown(err_inc)
    assert len(table) == 3
    fig, ax = plt.subplots()
    plot_error_breakdown(table, ax=ax, top=2)
    assert len(ax.patches) == 2
    twin = next(a for a in ax.get_shared_x_axes().get_siblings(ax) if a is not ax)
    np.testing.assert_allclose(twin.lines[0].get_ydata(), table["cumulative_share"][:2])
    assert "top 2 of 3" in ax.get_title()


def test_error_trend_stacked_top_and_other(err_inc):
    et = error_trend(err_inc, "1h", by="source")
    totals = et.groupby("error_type", observed=True)["count"].sum()
    assert totals.idxmax() == "PlexNotFound"
    fig, ax = plt.subplots()
    plot_error_trend(et, top=1, ax=ax)
    assert ax.get_legend_handles_labels()[1] == ["PlexNotFound", "other"]
    assert len(ax.collections) == 2
    # the top of the stack is the total per bucket (over sources and types)
    per_bucket = et.groupby("bucket")["count"].sum()
    top_edge = ax.collections[-1].get_paths()[0].vertices[:, 1]
    assert top_edge.max() == per_bucket.max()
    bottom = ax.collections[0].get_paths()[0].vertices[:, 1]
    plex = et[et["error_type"] == "PlexNotFound"].groupby("bucket")["count"].sum()
    assert bottom.max() == plex.max()
    assert "count" in ax.get_ylabel()
    assert "(UTC)" in ax.get_xlabel()


def test_error_trend_all_types_without_other(err_inc):
    fig, ax = plt.subplots()
    plot_error_trend(error_trend(err_inc, "1h"), ax=ax)
    assert ax.get_legend_handles_labels()[1] == ["PlexNotFound", "PermanentError",
                                                 "TimeoutError"]


# -- DLQ ---------------------------------------------------------------------------------


def test_dlq_heatmap_counts(dlq):
    fig, ax = plt.subplots()
    plot_dlq_heatmap(dlq, ax=ax)
    counts = np.asarray(ax.collections[0].get_array())
    assert counts.shape == (3, 24)  # 2026-09-29 .. 2026-10-01, zero-filled
    assert counts.sum() == len(dlq)
    assert counts[0, 23] == 1 and counts[1].sum() == 0 and counts[2, 0] == 2
    assert ax.get_xlabel() == "Hour of day (UTC)"
    assert ax.get_ylabel().startswith("Day")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["2026-09-29", "2026-09-30", "2026-10-01"]
    assert ax.get_ylim() == (3, 0)  # the first day on top
    assert len(fig.axes) == 2  # the colorbar


def test_dlq_heatmap_ignores_missing_times(dlq):
    with_nat = dlq.copy()
    with_nat.loc[0, "failed_at"] = pd.NaT
    fig, ax = plt.subplots()
    plot_dlq_heatmap(with_nat, ax=ax)
    assert np.asarray(ax.collections[0].get_array()).sum() == len(dlq) - 1


def test_dlq_age_hours_and_days(dlq):
    fig, ax = plt.subplots()
    plot_dlq_age(dlq, ax=ax)
    assert sum(p.get_height() for p in ax.patches) == len(dlq)
    assert "hours" in ax.get_xlabel() and "2026-10-01 05:59 UTC" in ax.get_xlabel()
    assert max(p.get_x() + p.get_width() for p in ax.patches) == pytest.approx(30 + 29 / 60)

    fig, ax = plt.subplots()
    plot_dlq_age(dlq, ax=ax, now="2026-10-10", bins=5)
    assert "days" in ax.get_xlabel()
    assert len(ax.patches) == 5

    fig, ax = plt.subplots()
    plot_dlq_age(dlq, ax=ax, now="2026-10-01 01:00", unit="days")
    assert sum(p.get_height() for p in ax.patches) == 3  # later entries left out
    assert "days" in ax.get_xlabel()
    with pytest.raises(ParameterError):
        plot_dlq_age(dlq, unit="weeks")


# -- dashboard ---------------------------------------------------------------------------


def _syncdata() -> SyncData:
    return SyncData(snapshots=_snapshots(), errors=_errors(), dlq=_dlq())


def test_dashboard():
    fig = plot_dashboard(_syncdata(), slo=0.9)
    assert isinstance(fig, Figure)
    assert len(fig.axes) >= 6
    assert fig.get_layout_engine() is not None
    assert fig.get_size_inches().tolist() == [12, 9]
    assert "Sync summary" in fig.get_suptitle()
    titles = [ax.get_title() for ax in fig.axes[:6]]
    assert titles[0].startswith("Success rate") and titles[5].startswith("Processing time")
    assert not any(ax.texts for ax in fig.axes[:6])  # every panel has data
    assert [t.get_text() for t in fig.legends[0].get_texts()][:2] == ["a", "b"]
    # the heatmap shows every DLQ entry when there is no window
    assert np.asarray(fig.axes[4].collections[0].get_array()).sum() == len(_dlq())
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:4] == b"\x89PNG"


def test_dashboard_window():
    fig = plot_dashboard(_syncdata(), window="3h", now="2026-10-01 06:00")
    assert "(3h)" in fig.get_suptitle()
    tp = fig.axes[1]
    assert len(tp.containers[0]) == 3  # buckets 04:00, 05:00, 06:00
    heat = np.asarray(fig.axes[4].collections[0].get_array())
    assert heat.sum() == 2  # the 03:20 and 05:59 entries are in (03:00, 06:00]


def test_dashboard_draws_a_precomputed_summary_as_its_own():
    data = _syncdata()
    summary = batch_summary(data, window="3h", now="2026-10-01 06:00")
    ours = plot_dashboard(data, summary=summary)
    theirs = plot_dashboard(data, window="3h", now="2026-10-01 06:00")
    assert ours.get_suptitle() == theirs.get_suptitle()
    for a, b in zip(ours.axes, theirs.axes, strict=True):
        assert a.get_title() == b.get_title()
        assert [p.get_height() for p in a.patches] == [p.get_height() for p in b.patches]
    with pytest.raises(ParameterError, match="window and now"):
        plot_dashboard(data, window="3h", summary=summary)


def test_dashboard_of_empty_data():
    fig = plot_dashboard(SyncData())
    assert len(fig.axes) == 6
    assert all([t.get_text() for t in ax.texts] == [NO_DATA] for ax in fig.axes)


def test_analysis_does_not_import_pyplot():
    code = ("import sys, syncstats, syncstats.analysis; "
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_data_text_is_not_mathtext():
    """Error types from the data are drawn literally: '$' never starts mathtext, so a
    malformed expression cannot fail the figure."""
    import pandas as pd

    from syncstats import error_breakdown
    from syncstats.plotting import plot_error_breakdown

    dlq = pd.DataFrame({"error_type": [r"Bad$\foo{$Err", "<script>alert(1)</script>"],
                        "failed_at": pd.to_datetime(["2026-10-01", "2026-10-02"], utc=True)})
    fig, ax = plt.subplots()
    plot_error_breakdown(error_breakdown(dlq), ax=ax)
    fig.canvas.draw()  # would raise ValueError from mathtext without escaping
    texts = [t.get_text() for t in ax.get_xticklabels()]
    assert r"Bad\$\foo{\$Err" in texts
