"""batch_summary on a hand-made SyncData: numbers, renderings and escaping."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest
from frames import T0, dlq, dlq_entry, errors_for, hours, issues, snap, snapshots, utc

import syncstats
from syncstats.analysis import Summary, batch_summary
from syncstats.analysis._util import wilson
from syncstats.exceptions import ParameterError

SCRIPT = "Refused <script>alert('x')</script>"


def source_a(h: int) -> dict:
    # 10 attempts an hour, 1 failure (sent to the DLQ), 2 low-confidence matches
    return snap(hours(h), 100 + 10 * h, 10 + h, to_dlq=h, low=2 * h, source="a",
                time_from="mtime" if h in (0, 5, 36) else "field")


def source_b(h: int) -> dict:
    # day 1: 20 attempts an hour, 5 failures; day 2: 30 attempts, 10 failures
    if h <= 24:
        return snap(hours(h), 50 + 20 * h, 5 + 5 * h, source="b")
    return snap(hours(h), 530 + 30 * (h - 24), 125 + 10 * (h - 24), source="b")


def sync_data() -> syncstats.SyncData:
    s = snapshots([source_a(h) for h in range(49)] + [source_b(h) for h in range(49)])
    counts = []
    for r in s.itertuples(index=False):
        if r.source == "a":
            counts.append({"PlexNotFound": r.jobs_failed})
        else:  # one snapshot whose errors do not add up: an invariant finding at 16:00 day 2
            off = 1 if r.snapshot_at == hours(40) else 0
            counts.append({"PlexTemporaryError": r.jobs_failed - off})
    e = errors_for(s, counts)
    nf = "Could not find Plex item for path: /media/videos/{}/scene_{}.mp4"
    d = dlq([
        dlq_entry(1, hours(10), "PlexNotFound", nf.format("a", 1900), scene_id=1900, source="a"),
        dlq_entry(2, hours(30), "PermanentError", SCRIPT, scene_id=2, source="a"),
        dlq_entry(3, hours(40), "PlexNotFound", nf.format("b", 7), scene_id=7, source="a"),
        dlq_entry(4, hours(47), "PlexTemporaryError", "Plex API error: 503 Service Unavailable",
                  scene_id=8, source="a"),
    ])
    i = issues([("a", "a/history.jsonl", 3, "torn_line", "line 3 is not JSON")])
    return syncstats.SyncData(snapshots=s, errors=e, dlq=d, issues=i)


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def test_window_totals_and_previous_window():
    summary = batch_summary(sync_data(), window="24h")
    assert isinstance(summary, Summary)
    assert (summary.start, summary.end) == (utc("2026-10-02"), utc("2026-10-03"))
    assert summary.window == pd.Timedelta("1D")
    assert summary.sources == ["a", "b"]
    # (day 2) a: 240 attempts, 24 failed, 24 to DLQ, 48 low; b: 720 attempts, 240 failed
    assert (summary.processed, summary.succeeded, summary.failed, summary.to_dlq) == (
        960, 696, 264, 24)
    assert (summary.high_confidence, summary.low_confidence) == (648, 48)
    assert summary.low_confidence_share == pytest.approx(48 / 696)
    assert summary.avg_processing_time == pytest.approx(0.5)
    rate, low, high = wilson(696, 960)
    assert summary.success_rate == pytest.approx(0.725) == pytest.approx(float(rate))
    assert (summary.success_low, summary.success_high) == pytest.approx((float(low),
                                                                        float(high)))
    assert summary.previous == {"processed": 720, "succeeded": 576, "success_rate": 0.8}
    assert summary.change["processed"] == pytest.approx(1 / 3)
    assert summary.change["success_rate"] == pytest.approx(-0.075)


def test_per_source_top_errors_dlq_and_audit():
    summary = batch_summary(sync_data(), window="24h")
    per = summary.per_source
    assert per["source"].tolist() == ["a", "b"]
    assert per["n"].tolist() == [240, 720]
    assert per["successes"].tolist() == [216, 480]
    assert per["rate"].tolist() == pytest.approx([0.9, 2 / 3])
    top = summary.top_errors
    assert list(zip(top["error_type"], top["count"], strict=True)) == [
        ("PlexTemporaryError", 240), ("PlexNotFound", 24)]
    assert top["share"].tolist() == pytest.approx([240 / 264, 24 / 264])
    assert (summary.dlq_size, summary.dlq_new) == (4, 3)
    assert summary.dlq_by_type == {"PlexNotFound": 2, "PermanentError": 1,
                                   "PlexTemporaryError": 1}
    sigs = summary.top_signatures
    assert list(zip(sigs["error_type"], sigs["signature"], sigs["count"], strict=True)) == [
        ("PlexNotFound", "Could not find Plex item for path: <path>", 2),
        ("PermanentError", "Refused <script>alert(<str>)</script>", 1),
        ("PlexTemporaryError", "Plex API error: <n> Service Unavailable", 1),
    ]
    # in the window: the errors-sum invariant at b 16:00 and a's mtime snapshot at 12:00
    assert summary.audit_counts == {"invariant": 1, "time_from_mtime": 1}
    found = summary.audit_findings
    assert sorted(zip(found["check"].astype(str), found["snapshot_at"], strict=True)) == [
        ("invariant", hours(40)), ("time_from_mtime", hours(36))]
    assert summary.issue_counts == {"torn_line": 1}


def test_top_limits_tables():
    summary = batch_summary(sync_data(), window="24h", top=1)
    assert summary.top_errors["error_type"].tolist() == ["PlexTemporaryError"]
    assert len(summary.top_signatures) == 1


def test_all_data_when_no_window():
    summary = batch_summary(sync_data())
    assert (summary.start, summary.end, summary.window) == (T0, utc("2026-10-03"), None)
    assert summary.processed == 480 + 480 + 720
    assert summary.succeeded == 432 + 360 + 480
    assert summary.previous is None
    assert summary.change == {"processed": None, "success_rate": None}
    assert (summary.dlq_size, summary.dlq_new) == (4, 4)
    # every finding, also those at the first snapshot (which opens the first interval)
    assert summary.audit_counts == {"invariant": 1, "time_from_mtime": 3}
    assert "vs previous" not in str(summary)
    assert "(all data)" in str(summary)


def test_now_moves_the_window_and_limits_the_dlq():
    summary = batch_summary(sync_data(), window="24h", now=hours(24))
    assert (summary.start, summary.end) == (T0, hours(24))
    assert (summary.processed, summary.succeeded) == (720, 576)
    assert summary.previous == {"processed": 0, "succeeded": 0, "success_rate": summary.previous[
        "success_rate"]}
    assert math.isnan(summary.previous["success_rate"])
    assert summary.change == {"processed": None, "success_rate": None}
    assert "processed n/a (no attempts before)" in str(summary)
    assert (summary.dlq_size, summary.dlq_new) == (1, 1)  # later entries are not there yet
    assert summary.dlq_by_type == {"PlexNotFound": 1}
    assert summary.audit_counts == {"time_from_mtime": 1}  # hour 5 (hour 0 is the start)


def test_str_headline_and_lines():
    summary = batch_summary(sync_data(), window="24h")
    text = str(summary)
    _, low, high = wilson(696, 960)
    assert text.splitlines()[0] == (
        "syncstats batch summary — 2026-10-02 00:00 → 2026-10-03 00:00 UTC (1d)")
    assert "Sources: a, b" in text
    assert (f"Sync summary: 696/960 succeeded (72.5%, 95% CI {pct(low)}–{pct(high)}), "
            "avg 500ms, confidence: 648 high / 48 low") in text
    assert "vs previous 1d: processed +33.3%, success rate -7.5 pp" in text
    assert "failed 264 attempts, 24 jobs to the DLQ; low-confidence share 6.9%" in text
    assert "  a: 216/240 (90.0%" in text and "  b: 480/720 (66.7%" in text
    assert "Top errors: PlexTemporaryError 240 (90.9%), PlexNotFound 24 (9.1%)" in text
    assert ("DLQ contains 4 items (3 new in window): 2 PlexNotFound, 1 PermanentError, "
            "1 PlexTemporaryError") in text
    quality = next(line for line in text.splitlines() if line.startswith("Data quality"))
    assert sorted(quality.split(": ")[-1].split(", ")) == ["1 invariant", "1 time_from_mtime"]
    assert "loader issues: 1 torn_line" in text


def test_to_dict_is_json():
    summary = batch_summary(sync_data(), window="24h")
    d = json.loads(json.dumps(summary.to_dict(), allow_nan=False))
    assert d["window"] == {"start": "2026-10-02T00:00:00+00:00",
                           "end": "2026-10-03T00:00:00+00:00", "length_seconds": 86400.0}
    assert (d["processed"], d["succeeded"], d["failed"], d["to_dlq"]) == (960, 696, 264, 24)
    assert d["success_rate"] == pytest.approx(0.725)
    assert d["previous"] == {"processed": 720, "succeeded": 576, "success_rate": 0.8}
    assert d["change"]["processed"] == pytest.approx(1 / 3)
    assert [(r["source"], r["n"], r["successes"]) for r in d["per_source"]] == [
        ("a", 240, 216), ("b", 720, 480)]
    assert [(r["error_type"], r["count"], r["rank"]) for r in d["top_errors"]] == [
        ("PlexTemporaryError", 240, 1), ("PlexNotFound", 24, 2)]
    assert d["dlq"]["size"] == 4 and d["dlq"]["new_in_window"] == 3
    assert d["dlq"]["by_type"] == {"PlexNotFound": 2, "PermanentError": 1,
                                   "PlexTemporaryError": 1}
    assert d["dlq"]["top_signatures"][0]["count"] == 2
    assert d["audit"] == {"invariant": 1, "time_from_mtime": 1}
    assert d["issues"] == {"torn_line": 1}


def test_to_markdown_contains_the_numbers():
    md = batch_summary(sync_data(), window="24h").to_markdown()
    assert "<script>" not in md
    plain = re.sub(r"\\(.)", r"\1", md)  # undo Markdown backslash escapes
    assert plain.startswith(
        "## Batch summary — 2026-10-02 00:00 → 2026-10-03 00:00 UTC (1d)")
    assert "**Sync summary: 696/960 succeeded (72.5%" in plain
    assert "| a | 240 | 216 | 90.0% |" in plain
    assert "| b | 720 | 480 | 66.7% |" in plain
    assert "| PlexTemporaryError | 240 | 90.9% |" in plain
    assert "| PlexNotFound | 24 | 9.1% |" in plain
    assert "DLQ contains **4** items (3 new in window)" in plain
    assert "| 2 | PlexNotFound | Could not find Plex item for path: &lt;path&gt; |" in plain
    assert "&lt;script&gt;alert(&lt;str&gt;)&lt;/script&gt;" in plain
    audit_line = next(line for line in plain.splitlines()
                      if line.startswith("Audit findings"))
    assert sorted(audit_line.split(": ")[-1].split(", ")) == ["1 invariant",
                                                             "1 time_from_mtime"]


def test_repr_html_escapes_messages():
    page = batch_summary(sync_data(), window="24h")._repr_html_()
    assert "<script>" not in page and "</script>" not in page
    assert "Refused &lt;script&gt;alert(&lt;str&gt;)&lt;/script&gt;" in page
    assert "Sync summary: 696/960 succeeded" in page
    assert "<td>PlexTemporaryError</td><td>240</td><td>90.9%</td>" in page


def test_error_type_with_markup_is_escaped():
    data = sync_data()
    d = data.dlq.copy()
    d["error_type"] = d["error_type"].cat.rename_categories(
        {"PermanentError": "<b>Permanent</b>"})
    data = syncstats.SyncData(snapshots=data.snapshots, errors=data.errors, dlq=d,
                              issues=data.issues)
    summary = batch_summary(data, window="24h")
    page = summary._repr_html_()
    assert "<b>Permanent</b>" not in page
    assert "<td>&lt;b&gt;Permanent&lt;/b&gt;</td>" in page
    assert "<b>Permanent</b>" not in summary.to_markdown()


def test_empty_data():
    summary = batch_summary(syncstats.SyncData())
    assert (summary.processed, summary.start, summary.end) == (0, None, None)
    assert math.isnan(summary.success_rate)
    text = str(summary)
    assert summary.basis == "none" and summary.stale is None
    assert text.splitlines()[:3] == ["syncstats batch summary — no data", "Sources: none",
                                     "Sync summary: no data"]
    assert "0/0" not in text
    d = json.loads(json.dumps(summary.to_dict(), allow_nan=False))
    assert d["success_rate"] is None and d["dlq"]["size"] == 0 and d["per_source"] == []
    assert d["basis"] == "none" and d["session"] == [] and d["stale"] is None
    assert "**Sync summary: no data**" in summary.to_markdown()
    assert "<b>Sync summary: no data</b>" in summary._repr_html_()
    assert "0/0" not in summary.to_markdown() + summary._repr_html_()


def test_parameters_validated():
    with pytest.raises(ParameterError, match="window"):
        batch_summary(sync_data(), window="-1h")
    with pytest.raises(ParameterError, match="now"):
        batch_summary(sync_data(), now="yesterday-ish")


def test_does_not_modify_its_input():
    data = sync_data()
    before = {k: getattr(data, k).copy(deep=True)
              for k in ("snapshots", "errors", "dlq", "issues")}
    batch_summary(data, window="24h")
    batch_summary(data)
    for k, frame in before.items():
        pd.testing.assert_frame_equal(getattr(data, k), frame)


def test_summary_keeps_the_results_it_was_derived_from():
    data = syncstats.load(Path(__file__).resolve().parents[1] / "data")
    s = batch_summary(data, window="7d")
    pd.testing.assert_frame_equal(s.increments, syncstats.increments(data.snapshots))
    pd.testing.assert_frame_equal(s.error_increments,
                                  syncstats.error_increments(data.errors, data.snapshots))
    pd.testing.assert_frame_equal(s.audit, syncstats.audit(data.snapshots, data.errors))
