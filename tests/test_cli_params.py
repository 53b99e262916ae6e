"""The command line refuses nonsense early, in one line; quiet means quiet; the user's
environment errors are theirs, bugs are bugs; data never drives the terminal."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import syncstats
from syncstats.cli import EXIT_DATA, EXIT_INTERNAL, main

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
NOW = "2026-10-22T00:00:00Z"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("argv", "message"), [
    (["check", "DATA", "--window", "24"],
     "--window: '24' has no unit; did you mean 24h?"),
    (["summary", "DATA", "--window", "7"], "--window: '7' has no unit; did you mean 7h?"),
    (["check", "DATA", "--max-age", "2"], "--max-age: '2' has no unit"),
    (["check", "DATA", "--window=-1h"], "--window: expected a positive duration"),
    (["check", "DATA", "--min-success-rate", "99"],
     "--min-success-rate: expected a fraction in (0, 1], found 99; did you mean 0.99 (99%)?"),
    (["check", "DATA", "--min-success-rate", "0"], "expected a fraction in (0, 1], found 0"),
    (["check", "DATA", "--min-success-rate", "high"], "found 'high'"),
    (["check", "DATA", "--slo", "95"], "--slo: expected a fraction in (0, 1), found 95; did you"),
    (["check", "DATA", "--slo", "1"], "--slo of 1 leaves no error budget"),
    (["report", "DATA", "--slo", "99.9"], "did you mean 0.999 (99.9%)?"),
    (["check", "DATA", "--max-dlq=-1"], "--max-dlq: expected a whole number >= 0"),
    (["check", "DATA", "--max-dlq-growth", "2.5"], "--max-dlq-growth: expected a whole number"),
    (["check", "DATA", "--now", "05/10/2026"], "--now: expected an ISO-8601 time"),
    (["summary", "DATA", "--now", "yesterday"], "--now: expected an ISO-8601 time"),
    (["summary", "DATA", "--now", "1e30"], "--now: expected an ISO-8601 time"),
    (["summary", "DATA", "--tz", "Mars/Olympus"], "Mars/Olympus"),
    (["report", "DATA", "--freq", "1x"], "--freq: expected a pandas frequency"),
    (["report", "DATA", "--freq", "6"], "--freq: '6' has no unit"),
    (["report", "DATA", "--window", "week"], "--window: expected a duration"),
    (["report", "DATA", "--now", "latest", "--source", "worker-x"],
     "unknown source 'worker-x'; known: worker-a, worker-b"),
    (["snapshot", "x.json", "--history", "h.jsonl", "--now", "latest"], "--now: 'latest'"),
])
def test_nonsense_is_refused_in_one_line_before_any_work(capsys, monkeypatch, argv, message):
    import papermill

    def no_kernel(*a, **k):  # the refusal must come before a kernel starts
        raise AssertionError("a kernel was started")

    monkeypatch.setattr(papermill, "execute_notebook", no_kernel)
    code, out, err = run(capsys, *[str(DATA) if a == "DATA" else a for a in argv])
    assert code == EXIT_DATA and out == ""
    assert err.count("\n") == 1 and err.startswith(f"syncstats {argv[0]}: error: ")
    assert message in err


def test_valid_forms_are_taken(capsys):
    for now in ("2026-10-22T00:00:00Z", "2026-10-22", "20261022T000000Z", "1792627200",
                "latest", "LATEST"):
        code, out, err = run(capsys, "summary", str(DATA), "--window", "7d", "--now", now)
        assert code == 0 and err == "" and "2026-10-15 00:00 → 2026-10-22 00:00 UTC" in out, now
    code, out, _ = run(capsys, "check", str(DATA), "--now", NOW, "--window", "30min",
                       "--min-success-rate", "1", "--max-dlq", "0", "--format", "json")
    checks = {c["check"]: c for c in json.loads(out)["checks"]}
    assert code == 1 and checks["max_dlq"]["breached"] and checks["max_dlq"]["threshold"] == 0


def test_select_refuses_unknown_sources_listing_the_known_ones():
    data = syncstats.load(DATA)
    assert data.select("worker-a").sources == ["worker-a"]
    with pytest.raises(syncstats.ParameterError,
                       match=r"unknown sources 'w1', 'worker-x'; known: worker-a, worker-b"):
        data.select(["worker-a", "worker-x", "w1"])


def test_an_unwritable_out_is_a_user_error_before_the_kernel(capsys, monkeypatch, tmp_path):
    import papermill

    monkeypatch.setattr(papermill, "execute_notebook",
                        lambda *a, **k: pytest.fail("a kernel was started"))
    (tmp_path / "taken").mkdir()
    for out, what in ((tmp_path / "taken", "is a folder"),
                      ("/proc/report.html", "cannot write there"),
                      (tmp_path / "file.txt" / "r.html", "is not a folder")):
        if what == "is not a folder":
            (tmp_path / "file.txt").write_text("")
        code, stdout, err = run(capsys, "report", str(DATA), "--now", "latest", "--out", str(out))
        assert code == EXIT_DATA and stdout == "" and err.count("\n") == 1
        assert what in err and "internal error" not in err


def test_the_users_os_errors_are_one_line_exit_2_and_bugs_exit_3(capsys, monkeypatch, tmp_path):
    from syncstats import cli

    def disk_full(args):
        raise OSError(28, "No space left on device", str(tmp_path / "out.parquet"))

    monkeypatch.setattr(cli, "cmd_export", disk_full)  # the parser is built per call
    code, _, err = run(capsys, "export", str(DATA), "--parquet", str(tmp_path / "s"))
    assert code == EXIT_DATA and err.count("\n") == 1
    assert "out.parquet: No space left on device" in err and "internal" not in err

    def bug(args):
        raise KeyError("oops")

    monkeypatch.setattr(cli, "cmd_export", bug)
    code, _, err = run(capsys, "export", str(DATA), "--parquet", str(tmp_path / "s"))
    assert code == EXIT_INTERNAL and "internal error: KeyError" in err


def subprocess_run(*argv: str, env: dict | None = None, cwd: Path = ROOT,
                   encoding: str = "utf-8"):
    return subprocess.run([sys.executable, "-m", "syncstats", *argv], cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                          capture_output=True, encoding=encoding, timeout=600)


@pytest.mark.slow
def test_quiet_means_quiet(tmp_path):
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"jobs_processed": 3, "jobs_succeeded": 3, "jobs_failed": 0,
                                 "jobs_to_dlq": 0, "total_processing_time": 1.5,
                                 "session_start": 1790812800.0, "errors_by_type": {},
                                 "high_confidence_matches": 3, "low_confidence_matches": 0}))
    runs = [
        ("report", str(DATA), "--now", "latest", "--window", "24h", "--out",
         str(tmp_path / "r.html"), "--quiet"),
        ("snapshot", str(stats), "--history", str(tmp_path / "h.jsonl"), "--source", "w",
         "--quiet"),
        ("export", str(DATA), "--parquet", str(tmp_path / "store"), "--quiet"),
        ("check", str(DATA), "--now", NOW, "--max-age", "2h", "--quiet"),
    ]
    for argv in runs:
        res = subprocess_run(*argv, cwd=tmp_path)
        assert (res.returncode, res.stdout, res.stderr) == (0, "", ""), argv
    assert (tmp_path / "r.html").stat().st_size > 10_000
    assert len((tmp_path / "h.jsonl").read_text().splitlines()) == 1
    # quiet but breached: the breach is said, nothing else
    res = subprocess_run("check", str(DATA), "--now", NOW, "--max-dlq", "1", "--max-age", "2h",
                         "--quiet")
    assert res.returncode == 1 and res.stderr == ""
    assert res.stdout.startswith("BREACH max_dlq") and res.stdout.count("\n") == 1


def test_output_degrades_on_a_latin1_terminal():
    res = subprocess_run("summary", str(DATA), "--window", "7d", "--now", "latest",
                         env={"PYTHONIOENCODING": "latin-1"}, encoding="latin-1")
    assert res.returncode == 0, res.stderr
    assert "2026-10-15 00:00 ? 2026-10-22 00:00 UTC" in res.stdout  # "→" replaced


def test_data_never_drives_the_terminal(capsys, tmp_path):
    evil = "w\x1b[2J\x07\nSync summary: 999 of 999"
    d = tmp_path / "fleet" / evil
    d.mkdir(parents=True)
    (d / "history.jsonl").write_text(json.dumps({
        "jobs_processed": 1, "jobs_succeeded": 1, "jobs_failed": 0, "jobs_to_dlq": 0,
        "total_processing_time": 0.1, "session_start": 1790812800.0, "errors_by_type": {},
        "high_confidence_matches": 1, "low_confidence_matches": 0,
        "snapshot_at": "2026-10-01T00:00:00Z"}) + "\n")
    code, out, err = run(capsys, "check", str(tmp_path / "fleet"), "--now",
                         "2026-10-01T01:00:00Z", "--max-age", "2h")
    assert code == 0 and err == ""
    assert "\x1b" not in out and "\x07" not in out and out.count("\n") == 1
    assert "w\\u001b[2J\\u0007\\nSync summary: 999 of 999" in out


CONTROL = "".join(map(chr, [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029, 0x202E]))


@pytest.mark.slow
def test_random_control_characters_never_reach_the_terminal(tmp_path_factory):
    """check, audit and summary print folder names (source names) and error types that
    hold any control character escaped, on the layout's own lines only."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    name = st.text(st.sampled_from(CONTROL + "ab-"), min_size=1, max_size=12).filter(
        lambda s: s not in (".", "..") and "\x00" not in s and "/" not in s)

    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(source=name, error=st.text(st.sampled_from(CONTROL + "E"), min_size=1, max_size=8))
    def check(source: str, error: str) -> None:
        root = tmp_path_factory.mktemp("fleet")
        (root / source).mkdir()
        lines = []
        for h, (processed, failed) in enumerate([(10, 1), (20, 2), (5, -1)]):
            lines.append(json.dumps({
                "jobs_processed": processed, "jobs_succeeded": processed - failed,
                "jobs_failed": failed, "jobs_to_dlq": 0, "total_processing_time": 1.0,
                "session_start": 1790812800.0, "errors_by_type": {error: failed},
                "high_confidence_matches": processed - failed, "low_confidence_matches": 0,
                "snapshot_at": f"2026-10-01T0{h}:00:00Z"}))
        (root / source / "history.jsonl").write_text("\n".join(lines) + "\n")
        for argv, expected_lines in (
            (["check", str(root), "--max-age", "2h", "--now", "2026-10-01T03:00:00Z"], 1),
            (["audit", str(root)], None),
            (["summary", str(root), "--window", "24h", "--now", "2026-10-01T03:00:00Z"], None),
        ):
            buf, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(err):
                code = main(argv)
            out = buf.getvalue()
            assert code in (0, 1), (argv, err.getvalue())
            printed = out.replace("\n", "")
            assert not any(c in CONTROL for c in printed), (argv, out)
            if expected_lines is not None:
                assert out.count("\n") == expected_lines, out

    check()
