"""The `syncstats` command line: exit codes, formats, bad paths, empty data."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from syncstats.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"
NOW = "2026-10-22T00:00:00Z"  # the end of the sample data


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def tiny(tmp_path) -> Path:
    """Two sources: w1 healthy (hourly), w2 failing; one DLQ entry in w2."""
    from datetime import UTC, datetime

    from syncstats import DeadLetterQueue

    root = tmp_path / "root"
    for name, fail_every in (("w1", 0), ("w2", 2)):
        d = root / name
        d.mkdir(parents=True)
        lines = []
        for h in range(6):
            processed = 10 * (h + 1)
            failed = processed // fail_every if fail_every else 0
            lines.append(json.dumps({
                "jobs_processed": processed, "jobs_succeeded": processed - failed,
                "jobs_failed": failed, "jobs_to_dlq": 0, "total_processing_time": processed * 0.4,
                "session_start": 1790812800.0,
                "errors_by_type": {"PlexNotFound": failed} if failed else {},
                "high_confidence_matches": processed - failed, "low_confidence_matches": 0,
                "snapshot_at": f"2026-10-01T0{h}:00:00Z", "source": name,
            }))
        (d / "history.jsonl").write_text("\n".join(lines) + "\n")
    DeadLetterQueue(root / "w2").add(
        {"job_id": 1, "scene_id": 5}, KeyError("Could not find Plex item for path: /a/b.mp4"), 4,
        failed_at=datetime(2026, 10, 1, 4, tzinfo=UTC),
    )
    return root


def test_summary_text_markdown_json(capsys, tiny):
    code, out, err = run(capsys, "summary", str(tiny), "--window", "24h",
                         "--now", "2026-10-01T05:00:00Z")
    assert code == 0 and err == ""
    # w1: 50 attempts all ok; w2: 50 attempts, 25 failed (intervals 00:00-05:00)
    assert "Sync summary: 75/100 succeeded (75.0%" in out
    assert "DLQ contains 1 items" in out
    code, md, _ = run(capsys, "summary", str(tiny), "--format", "markdown",
                      "--now", "2026-10-01T05:00:00Z")
    assert code == 0 and md.startswith("## Batch summary") and "| w2 | 50 | 25 | 50.0% |" in md
    code, js, _ = run(capsys, "summary", str(tiny), "--format", "json",
                      "--now", "2026-10-01T05:00:00Z")
    payload = json.loads(js)
    assert (payload["processed"], payload["succeeded"], payload["dlq"]["size"]) == (100, 75, 1)
    assert payload["success_rate"] == pytest.approx(0.75)


def test_check_exit_codes(capsys, tiny):
    now = ["--now", "2026-10-01T05:30:00Z"]
    code, out, _ = run(capsys, "check", str(tiny), "--window", "6h", *now)
    assert code == 0 and "no threshold given" in out
    code, out, _ = run(capsys, "check", str(tiny), "--window", "6h",
                       "--min-success-rate", "0.7", *now)
    assert code == 0 and out.startswith("ok")
    code, out, _ = run(capsys, "check", str(tiny), "--window", "6h",
                       "--min-success-rate", "0.8", *now)
    assert code == 1 and "BREACH min_success_rate" in out
    code, out, _ = run(capsys, "check", str(tiny), "--max-dlq", "0", *now)
    assert code == 1 and "DLQ holds 1 entries" in out
    code, out, _ = run(capsys, "check", str(tiny), "--max-dlq", "1", "--max-dlq-growth", "0",
                       "--window", "2h", *now)
    assert code == 1 and "1 DLQ entries in the last 2h" in out
    code, out, _ = run(capsys, "check", str(tiny), "--max-age", "1h", *now)
    assert code == 0
    # a worker that stopped writing: data older than --max-age breaches even with an empty window
    code, out, _ = run(capsys, "check", str(tiny), "--max-age", "2h",
                       "--min-success-rate", "0.5", "--now", "2026-10-02T00:00:00Z")
    assert code == 1 and "BREACH max_age" in out and "no attempts in the last 1h" in out


def test_check_json_and_slo(capsys, tiny):
    code, out, _ = run(capsys, "check", str(tiny), "--slo", "0.95", "--format", "json",
                       "--now", "2026-10-01T05:00:00Z")
    payload = json.loads(out)
    assert payload["status"] == "breach" and code == 1 == payload["exit_code"]
    (slo,) = [c for c in payload["checks"] if c["check"] == "slo"]
    # 25 % of attempts fail: burn 0.25 / 0.05 = 5 on every window: the tickets (x3, x1)
    # fire, the pages (x14.4, x6) do not
    assert slo["breached"] and "ticket 1D/2h burn 5.0/5.0 > 3" in slo["detail"]
    assert "page" not in slo["detail"]
    # only the thresholds given are evaluated: no SLO check without --slo
    code, out, _ = run(capsys, "check", str(tiny), "--format", "json",
                       "--now", "2026-10-01T05:00:00Z")
    assert [c["check"] for c in json.loads(out)["checks"]] == ["data"] and code == 0


def test_check_missing_and_empty_data_exit_2(capsys, tmp_path):
    code, out, _ = run(capsys, "check", str(tmp_path / "nope"))
    assert code == 2 and "no such file or directory" in out
    empty = tmp_path / "empty"
    (empty / "w").mkdir(parents=True)
    (empty / "w" / "stats-20261001T000000Z.json").write_text("{torn")
    code, out, _ = run(capsys, "check", str(empty), "--format", "json")
    payload = json.loads(out)
    assert code == 2 and payload["status"] == "unknown"
    assert "nothing loadable" in payload["checks"][0]["detail"]


def test_errors_are_one_line(capsys, tmp_path):
    code, out, err = run(capsys, "summary", str(tmp_path / "missing"))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("syncstats summary: error:")
    assert "missing" in err and "Traceback" not in err
    code, _, err = run(capsys, "summary", str(DATA), "--window", "soon")
    assert code == 2 and "--window: expected a duration like '24h' or '7d', found 'soon'" in err


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(Exception, match="no such file or directory"):
        main(["--debug", "summary", str(tmp_path / "missing")])


def test_audit_formats(capsys, tiny):
    # corrupt one snapshot: a negative counter is an `invalid` finding
    hist = tiny / "w1" / "history.jsonl"
    lines = hist.read_text().splitlines()
    row = json.loads(lines[2])
    row["jobs_succeeded"] = -3
    lines[2] = json.dumps(row)
    hist.write_text("\n".join(lines) + "\n")
    code, out, _ = run(capsys, "audit", str(tiny))
    assert code == 0 and "invalid" in out and "jobs_succeeded=-3 < 0" in out
    code, out, _ = run(capsys, "audit", str(tiny), "--format", "csv")
    assert out.splitlines()[0] == "source,snapshot_at,check,severity,detail,origin"
    code, out, _ = run(capsys, "audit", str(tiny), "--format", "json")
    # the invalid snapshot is not also checked for invariants
    assert {f["check"] for f in json.loads(out)} == {"invalid"}


def test_report_refuses_empty_data_before_running_the_notebook(capsys, tmp_path):
    (tmp_path / "w").mkdir()
    code, _, err = run(capsys, "report", str(tmp_path), "--out", str(tmp_path / "r.html"))
    assert code == 2 and "nothing loadable" in err
    assert not (tmp_path / "r.html").exists()


def test_snapshot_command(capsys, tmp_path):
    stats = tmp_path / "worker" / "stats.json"
    stats.parent.mkdir()
    stats.write_text(json.dumps({"jobs_processed": 3, "jobs_succeeded": 3}))
    hist = tmp_path / "hist" / "h.jsonl"
    code, out, _ = run(capsys, "snapshot", str(stats), "--history", str(hist),
                       "--now", "2026-10-01T13:00:00Z")
    assert code == 0 and "captured" in out
    rec = json.loads(hist.read_text())
    assert rec == {"jobs_processed": 3, "jobs_succeeded": 3,
                   "snapshot_at": "2026-10-01T13:00:00Z", "source": "worker"}
    code, _, err = run(capsys, "snapshot", str(tmp_path / "none.json"), "--history", str(hist))
    assert code == 2 and "none.json" in err


def test_help_has_examples():
    for cmd in ("summary", "check", "audit", "report", "snapshot"):
        res = subprocess.run([sys.executable, "-m", "syncstats", cmd, "--help"],
                             capture_output=True, text=True, check=True)
        assert "example" in res.stdout


def test_summary_of_sample_data(capsys, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(DATA, copy)
    code, out, _ = run(capsys, "summary", str(copy), "--window", "7d", "--now", NOW)
    assert code == 0
    assert out.startswith("syncstats batch summary — 2026-10-15 00:00 → 2026-10-22 00:00 UTC (7d)")
    assert "Sources: worker-a, worker-b" in out
