"""The engines of ``increments`` and ``trend`` (``engine="reference"`` and ``"numpy"``,
through the ``analysis_engine`` fixture) against the reference engine and against a plain
loop written here, on the sample data, hand-made defect fixtures (docs/formats.md) and
hypothesis-generated snapshot frames.

Results must be identical (ints, categories, times, strings exactly; float sums within
rtol 1e-12), and ``attrs["engine"]`` must say the numpy engine ran where it should, so a
silent fallback fails here.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from frames import COUNTERS, hours, snap, snapshots
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import syncstats
from syncstats import schemas
from syncstats._time import check_freq, to_utc
from syncstats.analysis import _increments_numpy as inc_np
from syncstats.analysis import _trend_numpy as trend_np
from syncstats.analysis import rates
from syncstats.analysis._util import utc_series

DATA = Path(__file__).resolve().parents[1] / "data"
CEILING = 10_000_000
KW = {"ceiling": CEILING, "jump_factor": 50, "jump_min": 1000}
US = pd.Timedelta(1, "us")


# -- helpers -------------------------------------------------------------------------


def assert_same(got: pd.DataFrame, ref: pd.DataFrame) -> None:
    """Equal frames: float columns within rtol 1e-12 (sums in another order), the rest
    exactly; the same attrs but ``engine``/``engine_fallback``."""
    floats = [c for c in ref.columns if ref[c].dtype == np.float64]
    pd.testing.assert_frame_equal(got.drop(columns=floats), ref.drop(columns=floats),
                                  check_exact=True)
    pd.testing.assert_frame_equal(got[floats], ref[floats], check_exact=False, rtol=1e-12,
                                  atol=0)
    strip = ("engine", "engine_fallback")
    assert ({k: v for k, v in got.attrs.items() if k not in strip}
            == {k: v for k, v in ref.attrs.items() if k not in strip})


def fast_vs_reference_increments(engine: str, s: pd.DataFrame, *, expect_fast: bool = True,
                                 **kw: Any) -> pd.DataFrame:
    """Assert *engine* equals the reference on *s* (and the numpy engine ran, when
    *expect_fast* and there is an interval); return the reference's result."""
    params = {**KW, **kw}
    ref = syncstats.increments(s, **params, engine="reference")
    assert ref.attrs["engine"] == "reference" and "engine_fallback" not in ref.attrs
    got = syncstats.increments(s, **params, engine=engine)
    if engine == "numpy" and expect_fast and len(ref):
        assert got.attrs["engine"] == "numpy", got.attrs.get("engine_fallback")
    if got.attrs["engine"] == "reference" and engine != "reference":
        assert got.attrs["engine_fallback"]
    pd.testing.assert_frame_equal(got, ref, check_exact=True)  # differences: exact
    pd.testing.assert_frame_equal(syncstats.increments(s, **params), got, check_exact=True)
    return ref


def fast_vs_reference_trend(engine: str, inc: pd.DataFrame, freq: str, by: str | None,
                            now: Any = None, *, expect_fast: bool = True) -> pd.DataFrame:
    ref_now = to_utc(now, "now") if now is not None else None
    kept = inc if ref_now is None else inc[inc["end"] <= ref_now]
    ref = syncstats.trend(inc, freq, by=by, now=now, engine="reference")
    got = syncstats.trend(inc, freq, by=by, now=now, engine=engine)
    finite = np.isfinite(kept["total_processing_time"].to_numpy()).all()
    if engine == "numpy" and expect_fast and len(kept) and finite:
        assert got.attrs["engine"] == "numpy", (freq, by, now, got.attrs)
    assert_same(got, ref)
    assert_same(syncstats.trend(inc, freq, by=by, now=now), got)
    return ref


def loop_increments(s: pd.DataFrame, ceiling: int = CEILING, jump_factor: float = 50,
                    jump_min: int = 1000) -> list[tuple]:
    """increments() as a plain loop over rows, following its documentation."""
    records = s.to_dict("records")
    codes = s["source"].cat.codes.tolist()
    # by source (category order), then time (a missing time last), then row order
    order = sorted(range(len(records)), key=lambda i: (
        codes[i], pd.isna(records[i]["snapshot_at"]),
        records[i]["snapshot_at"] if pd.notna(records[i]["snapshot_at"]) else 0, i))
    intervals: dict[str, list[dict]] = defaultdict(list)
    last: dict[str, dict] = {}
    for i in order:
        r = records[i]
        vals = [r[c] for c in COUNTERS]
        tpt = r["total_processing_time"]
        usable = (all(0 <= v <= ceiling for v in vals) and not (tpt < 0 or math.isinf(tpt))
                  and pd.notna(r["snapshot_at"]))
        if not usable:
            continue
        src = r["source"]
        prev = last.get(src)
        last[src] = r
        if prev is None:
            continue
        pvals = [prev[c] for c in COUNTERS]
        sess_changed = (pd.notna(r["session_start"]) and pd.notna(prev["session_start"])
                        and r["session_start"] != prev["session_start"])
        reset = any(v < p for v, p in zip(vals, pvals, strict=True)) or sess_changed
        h = (r["snapshot_at"] - prev["snapshot_at"]).total_seconds() / 3600.0
        intervals[src].append({"cur": r, "prev": prev, "reset": reset, "hours": h,
                               "dproc": float(vals[0] - pvals[0])})
    out = []
    for src in sorted(intervals, key=lambda x: s["source"].cat.categories.get_loc(x)):
        ivs = intervals[src]
        rates_ = [iv["dproc"] / iv["hours"] for iv in ivs if not iv["reset"] and iv["hours"] > 0]
        med = statistics.median(rates_) if rates_ else 0.0
        for iv in ivs:
            cur, prev = iv["cur"], iv["prev"]
            threshold = max(jump_min, jump_factor * med * iv["hours"])
            impl = not iv["reset"] and iv["dproc"] > threshold
            if iv["reset"]:
                kind, vals = "reset", [cur[c] for c in COUNTERS]
                tpt = cur["total_processing_time"]
            elif impl:
                kind, vals, tpt = "implausible", [0] * 6, 0.0
            else:
                kind = "delta"
                vals = [cur[c] - prev[c] for c in COUNTERS]
                tpt = cur["total_processing_time"] - prev["total_processing_time"]
            out.append((src, prev["snapshot_at"], cur["snapshot_at"], kind, *vals, tpt,
                        cur["origin"]))
    return out


def rows_of(inc: pd.DataFrame) -> list[tuple]:
    return [tuple(r) for r in inc.astype({"source": str, "kind": str})
            .itertuples(index=False)]


def same_rows(got: list[tuple], want: list[tuple]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g[:-2] == w[:-2] and g[-1] == w[-1], (g, w)
        assert (math.isnan(g[-2]) and math.isnan(w[-2])) or g[-2] == w[-2], (g, w)


def loop_trend(inc: pd.DataFrame, freq: str, by: str | None) -> dict[tuple, list]:
    """Hourly (or *freq*) sums per (group, bucket start) as a plain loop, no zero fill:
    right-closed buckets, an interval in the bucket of its end."""
    step = pd.Timedelta(freq)
    sums: dict[tuple, list] = {}
    for r in inc.to_dict("records"):
        t = r["end"] - US
        bucket = t.floor(step)
        key = (str(r[by]) if by else None, bucket)
        acc = sums.setdefault(key, [0, 0, 0, 0, 0.0])
        for j, c in enumerate(("jobs_processed", "jobs_succeeded", "jobs_failed",
                               "jobs_to_dlq")):
            acc[j] += r[c]
        acc[4] += r["total_processing_time"]
    return sums


def check_loop_trend(trend: pd.DataFrame, inc: pd.DataFrame, freq: str, by: str | None) -> None:
    sums = loop_trend(inc, freq, by)
    got = {}
    for r in trend.to_dict("records"):
        key = (str(r[by]) if by else None, r["bucket"])
        if r["processed"] or r["succeeded"] or r["failed"] or r["to_dlq"]:
            got[key] = [r["processed"], r["succeeded"], r["failed"], r["to_dlq"]]
    want = {k: v[:4] for k, v in sums.items() if any(v[:4])}
    assert got == want
    for r in trend.to_dict("records"):
        key = (str(r[by]) if by else None, r["bucket"])
        if r["processed"] > 0:
            assert math.isclose(r["avg_processing_time"] * r["processed"], sums[key][4],
                                rel_tol=1e-9, abs_tol=1e-9)


# -- the sample data -------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample() -> syncstats.SyncData:
    return syncstats.load(DATA)


def test_sample_increments_fast_equals_reference_and_loop(sample, analysis_engine):
    s = sample.snapshots
    ref = fast_vs_reference_increments(analysis_engine, s)
    assert set(ref["kind"].astype(str)) == {"delta", "reset", "implausible"}
    same_rows(rows_of(ref), loop_increments(s))


@pytest.mark.parametrize(("freq", "by"), [("1h", "source"), ("15min", "source"),
                                         ("2h", None)])
def test_sample_trend_fast_equals_reference_and_loop(sample, freq, by, analysis_engine):
    inc = syncstats.increments(sample.snapshots)
    t = fast_vs_reference_trend(analysis_engine, inc, freq, by)
    check_loop_trend(t, inc, freq, by)
    latest = inc["end"].max()
    for now in (latest - pd.Timedelta("3D"), latest + pd.Timedelta("5h")):
        fast_vs_reference_trend(analysis_engine, inc, freq, by, now)


def test_sample_every_snapshot_usable_takes_the_neighbour_path(sample, analysis_engine):
    s = sample.snapshots
    ok = inc_np._usable([s[c].to_numpy() for c in COUNTERS],
                          s["total_processing_time"].to_numpy(),
                          inc_np._i8(s["snapshot_at"]), CEILING)
    clean = s[ok].reset_index(drop=True) if ok is not None else s
    inc = fast_vs_reference_increments(analysis_engine, clean)
    # the origin column is zero-copy slices of the input's Arrow strings
    assert inc["origin"].tolist() == syncstats.increments(clean, **KW, engine="reference")[
        "origin"].tolist()


# -- hand-made fixtures with the docs/formats.md defects ------------------------------------


def _series(rows: list[tuple], source: str = "w", **kw: Any) -> list[dict]:
    return [snap(hours(h), p, f, source=source, **{**kw, **extra}) for h, p, f, extra in rows]


def defects_frame() -> pd.DataFrame:
    a = _series([
        (0, 100, 10, {}), (1, 110, 11, {}), (2, 120, 12, {}),
        (3, 5, 0, {"session": hours(2.5)}),  # reset: counter drop + new session
        (4, 15, 1, {"session": hours(2.5)}),
        (5, 20, 1, {"session": hours(4.5)}),  # new session without a drop
        (6, -3, 0, {"session": hours(4.5)}),  # corrupt: negative
        (7, 30_000_000, 0, {"session": hours(4.5)}),  # above the sanity ceiling
        (8, 60_000, 600, {"session": hours(4.5)}),  # doubling bug below the ceiling
        (9, 60_010, 600, {"session": hours(4.5)}),
        (9, 60_012, 600, {"session": hours(4.5)}),  # duplicate time
        (10, 60_020, 601, {"session": hours(4.5), "tpt": -1.0}),  # invalid time sum
        (11, 60_030, 602, {"session": hours(4.5), "time_from": "mtime"}),
    ])
    b = _series([(0.5, 7, 1, {}), (1.5, 9, 1, {}), (30, 12, 2, {})], source="v")  # a gap
    return snapshots(a + b)


def test_defects_fixture(analysis_engine):
    s = defects_frame()
    ref = fast_vs_reference_increments(analysis_engine, s)
    assert set(ref["kind"].astype(str)) == {"delta", "reset", "implausible"}
    same_rows(rows_of(ref), loop_increments(s))
    for by in ("source", None):
        fast_vs_reference_trend(analysis_engine, ref, "1h", by)
    # kind's categories (delta, reset, implausible) are not in lexical order: reference
    fast_vs_reference_trend(analysis_engine, ref, "1h", "kind", expect_fast=False)


def test_both_fast_layouts_are_used(monkeypatch, analysis_engine):
    calls: list[str] = []
    for name in ("_fill_neighbours", "_fill_gather"):
        real = getattr(inc_np, name)

        def spy(*args: Any, _real: Any = real, _name: str = name) -> Any:
            calls.append(_name)
            return _real(*args)

        monkeypatch.setattr(inc_np, name, spy)
    rows = []
    for src in ("a", "b"):  # counter drops without a session change, unknown sessions
        rows += [snap(hours(h), p, 1, source=src, session=None)
                 for h, p in enumerate([40, 50, 60, 3, 13, 23, 2])]
    s = snapshots(rows)
    inc = fast_vs_reference_increments(analysis_engine, s)
    assert set(calls) == {"_fill_neighbours"}
    assert inc["kind"].astype(str).tolist().count("reset") == 4
    same_rows(rows_of(inc), loop_increments(s))
    for dtype in (object, "string[pyarrow]", "string[python]"):  # cast to str as the reference
        fast_vs_reference_increments(analysis_engine, s.assign(origin=s["origin"].astype(dtype)))
    calls.clear()
    shuffled = s.iloc[::-1].reset_index(drop=True)
    fast_vs_reference_increments(analysis_engine, shuffled)
    assert set(calls) == {"_fill_gather"}


@pytest.mark.parametrize("chunk", [3])
def test_small_chunks_and_blocks(sample, monkeypatch, chunk, analysis_engine):
    # the fast paths work in chunks of 2**20 rows and blocks of 2**14 runs: shrink them
    # so that their seams (a run or a key crossing a chunk) are crossed here
    monkeypatch.setattr(inc_np, "_CHUNK", chunk)
    monkeypatch.setattr(trend_np, "_CHUNK", chunk)
    s = sample.snapshots
    for frame in (s, s.iloc[::-1].reset_index(drop=True), defects_frame()):
        inc = fast_vs_reference_increments(analysis_engine, frame)
        fast_vs_reference_trend(analysis_engine, inc, "1h", "source")
        fast_vs_reference_trend(
            analysis_engine, inc, "1D", None, inc["end"].max() - pd.Timedelta("2D")
        )
    one = s[s["source"] == "worker-a"].reset_index(drop=True)  # reference ids sorted
    fast_vs_reference_trend(
        analysis_engine, fast_vs_reference_increments(analysis_engine, one), "1h", "source"
    )


def with_1970_interval(inc: pd.DataFrame) -> pd.DataFrame:
    """*inc* with one more interval of its first source, ending 1970-01-02, first."""
    row = inc.iloc[:1].copy()
    row["end"] = pd.Timestamp("1970-01-02", tz="UTC").as_unit(schemas.TIME_UNIT)
    row["start"] = row["end"] - pd.Timedelta("1h")
    return pd.concat([row, inc], ignore_index=True)


def check_sums(t: pd.DataFrame, inc: pd.DataFrame) -> None:
    for col, src in (("processed", "jobs_processed"), ("failed", "jobs_failed"),
                     ("to_dlq", "jobs_to_dlq")):
        assert t[col].sum() == inc[src].sum(), col


@pytest.mark.parametrize(("freq", "by"), [("1h", "source"), ("15min", None),
                                         ("1D", "source")])
def test_long_span_trend_fast_equals_reference(sample, freq, by, analysis_engine):
    # an interval ending in 1970 (and now in the year 4000): the zero-filled grid is cut
    # to the last MAX_FILL_BUCKETS buckets; the fast path takes it, as the reference does
    inc = with_1970_interval(syncstats.increments(sample.snapshots))
    for now in (None, "4000-01-01"):
        t = fast_vs_reference_trend(analysis_engine, inc, freq, by, now)
        groups = t[by].nunique() if by else 1
        assert len(t) <= groups * (rates.MAX_FILL_BUCKETS + inc["end"].nunique())
        check_sums(t, inc)
        if now is None:
            check_loop_trend(t, inc, freq, by)
    shuffled = inc.sample(frac=1, random_state=1).reset_index(drop=True)  # unsorted keys
    fast_vs_reference_trend(analysis_engine, shuffled, freq, by)


@pytest.mark.parametrize("chunk", [3, 1 << 20])
def test_cut_grid_fast_equals_reference(sample, monkeypatch, chunk, analysis_engine):
    # a tiny MAX_FILL_BUCKETS cuts the sample's own span: old buckets with data before
    # the zero-filled ones, across chunk seams, sorted and unsorted rows
    for module in (rates, trend_np):  # the one constant, as each engine imported it
        monkeypatch.setattr(module, "MAX_FILL_BUCKETS", 7)
    monkeypatch.setattr(trend_np, "_CHUNK", chunk)
    s = sample.snapshots
    for frame in (s, s.iloc[::-1].reset_index(drop=True), defects_frame()):
        inc = fast_vs_reference_increments(analysis_engine, frame)
        inc = inc[inc["end"].dt.day % 3 != 1].reset_index(drop=True)  # empty days
        for freq, by in (("15min", None), ("1h", "source"), ("2h", "source")):
            t = fast_vs_reference_trend(analysis_engine, inc, freq, by)
            check_loop_trend(t, inc, freq, by)
            # per group: the buckets with data (of any group), then the last 7 all
            last = pd.date_range(end=(inc["end"].max() - US).floor(freq), periods=7,
                                 freq=freq, unit="us")
            with_data = set((inc["end"] - US).dt.floor(freq))
            last = last[last >= min(with_data)]  # (a span shorter than 7 buckets)
            for _, g in t.groupby(by, observed=True) if by else [(None, t)]:
                b = pd.DatetimeIndex(g["bucket"])
                assert list(b[-len(last):]) == list(last)
                assert set(b[:-len(last)]) == {x for x in with_data if x < last[0]}
            assert t.attrs["zero_filled_from"] <= last[0]
        fast_vs_reference_trend(
            analysis_engine, inc, "1h", "source", inc["end"].max() + pd.Timedelta("30h")
        )
        fast_vs_reference_trend(
            analysis_engine, inc.sample(frac=1, random_state=2).reset_index(drop=True),
                                "1h", "source")


def test_nat_snapshot_time_and_nan_processing_time(analysis_engine):
    rows = [snap(hours(h), 10 * h + 10, h) for h in range(5)]
    rows[2]["snapshot_at"] = None  # a raw stderr line: no time
    rows[3]["total_processing_time"] = float("nan")  # usable; its deltas are NaN
    s = snapshots(rows)
    inc = fast_vs_reference_increments(analysis_engine, s)
    assert inc["total_processing_time"].isna().sum() == 2
    same_rows(rows_of(inc), loop_increments(s))
    # NaN sums: the trend fast path declines (pandas skips NaN), the reference runs
    declined = trend_np.trend_numpy(inc, check_freq("1h"), ["source"], None, "UTC", 0.95)
    assert isinstance(declined, str)
    fast_vs_reference_trend(analysis_engine, inc, "1h", "source")


def test_unsorted_input_unused_and_unordered_categories(analysis_engine):
    rows = []
    for src, base in (("b", 50), ("a", 1000), ("c", 7)):
        rows += [snap(hours(h), base + 10 * h, h, source=src) for h in range(6)]
    s = snapshots(rows)
    cats = ["c", "zz-unused", "a", "b"]
    s["source"] = s["source"].cat.set_categories(cats)
    shuffled = s.sample(frac=1, random_state=3).reset_index(drop=True)
    inc = fast_vs_reference_increments(analysis_engine, shuffled)
    # the reference sorts by category order; categories of the result are lexical
    assert inc["source"].astype(str).unique().tolist() == ["c", "a", "b"]
    assert inc["source"].cat.categories.tolist() == ["a", "b", "c"]
    same_rows(rows_of(inc), loop_increments(shuffled))
    # trend: categories out of lexical order go to the reference
    inc2 = inc.assign(source=inc["source"].cat.set_categories(["c", "a", "b"]))
    declined = trend_np.trend_numpy(inc2, check_freq("1h"), ["source"], None, "UTC", 0.95)
    assert isinstance(declined, str)
    fast_vs_reference_trend(analysis_engine, inc, "1h", "source")


def test_object_dtype_categories(analysis_engine):
    s = defects_frame()
    cats = pd.Index(s["source"].cat.categories.tolist(), dtype=object)
    s["source"] = pd.Categorical(s["source"].astype(str), categories=cats)
    assert s["source"].cat.categories.dtype == object
    inc = fast_vs_reference_increments(analysis_engine, s)
    inc["source"] = pd.Categorical(inc["source"].astype(str), categories=cats)
    fast_vs_reference_trend(analysis_engine, inc, "1h", "source")
    # one bucket, every cell filled
    t = fast_vs_reference_trend(analysis_engine, inc, "7D", "source")
    assert t["source"].cat.categories.dtype == object  # the reference keeps the input dtype


def test_object_origin_and_declined_frames(analysis_engine):
    s = defects_frame()
    fast_vs_reference_increments(analysis_engine, s.assign(origin=s["origin"].astype(object)))
    # outside the documented schema: the fast path declines, the reference decides
    as_float = s.assign(jobs_failed=s["jobs_failed"].astype("float64"))
    assert isinstance(inc_np.increments_numpy(as_float, **KW), str)
    as_str = s.assign(source=s["source"].astype(str))
    assert isinstance(inc_np.increments_numpy(as_str, **KW), str)
    assert isinstance(inc_np.increments_numpy(s, **{**KW, "ceiling": 2**60}), str)
    assert isinstance(inc_np.increments_numpy(s.drop(columns="origin"), **KW), str)
    got = syncstats.increments(as_str)
    assert got.attrs == {"engine": "reference", "engine_fallback":
                         "columns not of the documented snapshot dtypes"}
    pd.testing.assert_frame_equal(got, syncstats.increments(as_str, engine="reference"))


def test_trend_declines_outside_utc_fixed_buckets():
    inc = syncstats.increments(defects_frame())
    off = check_freq("1h")
    assert isinstance(trend_np.trend_numpy(inc, off, ["source"], None, "Europe/Berlin", 0.95), str)
    declined = trend_np.trend_numpy(inc, check_freq("MS"), ["source"], None, "UTC", 0.95)
    assert isinstance(declined, str)
    assert isinstance(trend_np.trend_numpy(inc, off, ["source"], None, "UTC", 0.95), pd.DataFrame)


def test_trend_full_grid_keeps_the_input_categories(analysis_engine):
    # every (bucket, source) cell observed: the reference keeps the input dtype,
    # unused categories included (its reindex returns the groupby's own index)
    rows = []
    for src in ("a", "b"):
        rows += [snap(hours(h), 10 * h, 0, source=src) for h in range(4)]
    inc = syncstats.increments(snapshots(rows))
    inc["source"] = inc["source"].cat.add_categories(["zzz"])
    t = fast_vs_reference_trend(analysis_engine, inc, "1h", "source")
    assert t["source"].cat.categories.tolist() == ["a", "b", "zzz"]


@pytest.mark.parametrize("bad", ["fast", "Numpy", "", None])
def test_bad_engine_is_refused(bad):
    inc = syncstats.increments(defects_frame())
    for call in (lambda: syncstats.increments(defects_frame(), engine=bad),
                 lambda: syncstats.trend(inc, "1h", engine=bad)):
        with pytest.raises(syncstats.exceptions.ParameterError) as info:
            call()
        text = str(info.value)
        assert "\n" not in text and "engine" in text and "'numpy'" in text
        assert repr(bad) in text


def test_a_declined_numpy_engine_is_recorded_in_attrs(analysis_engine):
    inc = syncstats.increments(defects_frame(), engine=analysis_engine)
    assert inc.attrs == {"engine": analysis_engine}
    t = syncstats.trend(inc, "1h", engine=analysis_engine)
    assert t.attrs["engine"] == analysis_engine and "engine_fallback" not in t.attrs
    berlin = syncstats.trend(inc, "1h", tz="Europe/Berlin", engine=analysis_engine)
    assert berlin.attrs["engine"] == "reference"
    if analysis_engine == "numpy":
        assert berlin.attrs["engine_fallback"] == "a time zone other than UTC"
    else:  # asked for: not a fallback
        assert "engine_fallback" not in berlin.attrs


def test_utc_series_is_a_view_with_the_schema_dtype():
    i8 = np.array([0, 1_790_812_800_000_000], dtype=np.int64)
    s = utc_series(i8)
    assert s.dtype == schemas.UTC_DTYPE
    assert s.iloc[1] == pd.Timestamp("2026-10-01", tz="UTC")
    assert np.shares_memory(s.to_numpy(dtype="datetime64[us]"), i8)


# -- hypothesis: generated snapshot frames ---------------------------------------------

_op = st.one_of(
    st.tuples(st.just("step"), st.integers(0, 30), st.integers(0, 5)),
    st.tuples(st.just("step"), st.integers(0, 30), st.integers(0, 5)),
    st.tuples(st.just("step"), st.integers(0, 30), st.integers(0, 5)),
    st.tuples(st.just("reset"), st.integers(0, 20), st.booleans()),
    st.tuples(st.just("double"), st.just(0), st.just(0)),
    st.tuples(st.just("corrupt"), st.sampled_from(["negative", "over", "tpt", "nat"]),
              st.just(0)),
)


@st.composite
def snapshot_frames(draw: Any) -> pd.DataFrame:
    rows = []
    for i in range(draw(st.integers(1, 3))):
        src = f"w{draw(st.sampled_from('abc'))}{i}"
        processed, failed, session = draw(st.integers(0, 5000)), 0, 0
        minute = 0
        for op in draw(st.lists(_op, max_size=14)):
            # 0 minutes apart: a duplicate time; up to 3 h apart: several buckets
            minute += draw(st.sampled_from([0, 5, 15, 60, 61, 180]))
            kind = op[0]
            extra: dict[str, Any] = {}
            if kind == "step":
                processed, failed = processed + op[1], failed + min(op[2], op[1])
            elif kind == "reset":
                processed, failed = op[1], 0
                session += 1 if op[2] else 0
            elif kind == "double":
                processed, failed = 2 * processed, 2 * failed
            row = snap(hours(minute / 60), processed, min(failed, processed), source=src,
                       session=hours(-100 + session), tpt=0.5 * processed + 0.1)
            if kind == "corrupt":
                if op[1] == "negative":
                    row["jobs_to_dlq"] = -1
                elif op[1] == "over":
                    row["jobs_processed"] = CEILING + 1
                elif op[1] == "tpt":
                    row["total_processing_time"] = float("inf")
                else:
                    row["snapshot_at"] = None
            rows.append({**row, **extra})
    frame = snapshots(rows)
    if draw(st.booleans()):  # unsorted input
        perm = draw(st.permutations(range(len(frame))))
        frame = frame.iloc[list(perm)].reset_index(drop=True)
    return frame


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(snapshot_frames(), st.sampled_from([10, 1000]))
def test_generated_frames_fast_equals_reference_and_loop(analysis_engine, frame, jump_min):
    inc = fast_vs_reference_increments(analysis_engine, frame, jump_min=jump_min)
    same_rows(rows_of(inc), loop_increments(frame, jump_min=jump_min))


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(snapshot_frames(), st.sampled_from(["1h", "15min", "1D", "7min"]),
       st.sampled_from(["source", None]), st.sampled_from([None, 2.0, 5.5, 100.0]))
def test_generated_frames_trend_fast_equals_reference(analysis_engine, frame, freq, by, now_h):
    inc = syncstats.increments(frame)
    if inc.empty:
        return
    now = None if now_h is None else hours(now_h)
    t = fast_vs_reference_trend(analysis_engine, inc, freq, by, now)
    if now is None:
        check_loop_trend(t, inc, freq, by)
