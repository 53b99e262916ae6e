"""The worker simulator: deterministic, truthful about what it simulated, defects as planted.

Small runs (two simulated days) into temporary directories; one full regeneration of the
committed sample under ``data/`` with the command documented in ``data/README.md``.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from syncstats.recording import COUNTER_FIELDS as COUNTERS
from syncstats.recording import SANITY_CEILING, safe_loads, validate_stats_dict
from syncstats.testing.simulate import (
    DEFAULT_DEFECTS,
    DEFECTS,
    main,
    simulate,
    snapshot_file_name,
    stats_file_bytes,
)

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
FILE_LINE = re.compile(
    r'^time="(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)" level=(?P<level>debug|info|warning|error)'
    r' msg="(?P<msg>(?:[^"\\]|\\.)*)"$'
)
CONSOLE_LINE = re.compile(
    r"^(?P<level>DEBU|INFO|WARN|ERRO)\[(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\] (?P<msg>.*)$"
)
GO_ESCAPE = re.compile(r"\\(x[0-9a-f]{2}|.)")
STATS_PREFIX = "[Plugin / Stash2Plex] [Stash2Plex Worker] Stats: "
SHORT = {"days": 2}


# -- helpers --------------------------------------------------------------------------------
def _go_unquote(body: str) -> str:
    simple = {"n": "\n", "t": "\t", "r": "\r"}

    def one(m: re.Match[str]) -> str:
        code = m.group(1)
        if code.startswith("x") and len(code) == 3:
            return chr(int(code[1:], 16))
        return simple.get(code, code)

    return GO_ESCAPE.sub(one, body)


def _parse_log_line(line: str) -> tuple[float, str] | None:
    """``(epoch, message)`` of a host log line (hosts run in UTC), None for raw lines."""
    m = FILE_LINE.match(line)
    if m:
        msg = _go_unquote(m.group("msg"))
    else:
        m = CONSOLE_LINE.match(line)
        if not m:
            return None
        msg = m.group("msg")
    when = datetime.strptime(m.group("ts"), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    return when.timestamp(), msg


def _log_files(source_dir: Path) -> list[Path]:
    return [
        p
        for p in (source_dir / n for n in ("stash.log.1", "stash.log", "console.log"))
        if p.exists()
    ]


def _file_hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _dlq_contents(path: Path) -> dict[str, Any]:
    """Schema and rows of a DLQ; ``job_data`` decoded (pickle bytes vary by protocol)."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        conn.row_factory = sqlite3.Row
        rows = [dict(r) for r in conn.execute("SELECT * FROM dead_letters ORDER BY id")]
        for row in rows:
            row["job_data"] = safe_loads(row["job_data"])
        return {
            "schema": [
                tuple(r)
                for r in conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name")
            ],
            "rows": rows,
            "sequence": [tuple(r) for r in conn.execute("SELECT * FROM sqlite_sequence")],
        }


def _copy_time(name: str) -> float:
    stem = name[len("stats-") : -len(".json")]
    if stem.endswith("Z"):
        return datetime.strptime(stem, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    return datetime.fromisoformat(stem).timestamp()


def _copies(source_dir: Path) -> list[tuple[float, Path]]:
    return sorted((_copy_time(p.name), p) for p in (source_dir / "snapshots").iterdir())


def _iso_epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _defect(manifest: dict[str, Any], source: str, name: str) -> dict[str, Any]:
    found = [d for d in manifest["sources"][source]["defects"] if d["name"] == name]
    assert len(found) == 1, manifest["sources"][source]["defects"]
    return found[0]


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def default_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    """Two runs with the default defects and the same seed."""
    a = tmp_path_factory.mktemp("default-1")
    b = tmp_path_factory.mktemp("default-2")
    manifest = simulate(a, **SHORT)
    simulate(b, **SHORT)
    return a, b, manifest


@pytest.fixture(scope="module")
def default_run(default_runs: tuple[Path, Path, dict[str, Any]]) -> tuple[Path, dict[str, Any]]:
    return default_runs[0], default_runs[2]


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("clean")
    return out, simulate(out, defects="none", **SHORT)


# -- determinism ------------------------------------------------------------------------------
def test_same_seed_gives_byte_identical_files(default_runs) -> None:
    a, b, _ = default_runs
    hashes_a, hashes_b = _file_hashes(a), _file_hashes(b)
    assert hashes_a == hashes_b
    assert {"truth.json", "worker-a/dlq.db", "worker-b/console.log"} <= set(hashes_a)
    assert not [name for name in hashes_a if name.endswith(".lock")]


def test_other_seed_differs(tmp_path: Path) -> None:
    one = simulate(tmp_path / "s7", days=1, sources=["w"], defects="none")
    two = simulate(tmp_path / "s8", seed=8, days=1, sources=["w"], defects="none")
    assert one["sources"]["w"]["totals"] != two["sources"]["w"]["totals"]


def test_truth_file_is_the_returned_manifest(default_run) -> None:
    out, manifest = default_run
    text = (out / "truth.json").read_text(encoding="utf-8")
    assert json.loads(text) == manifest
    assert text == json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# -- ground truth -----------------------------------------------------------------------------
def test_clean_run_totals_equal_final_snapshot(clean_run) -> None:
    out, manifest = clean_run
    for source, info in manifest["sources"].items():
        totals = info["totals"]
        last_time, last = _copies(out / source)[-1]
        assert last_time == _iso_epoch(manifest["generator"]["end"])
        final = json.loads(last.read_bytes())
        assert final == info["final_live_file"]
        assert final["jobs_processed"] == totals["attempts"]
        assert final["jobs_succeeded"] == totals["succeeded"]
        assert final["jobs_failed"] == totals["failed"]
        assert final["jobs_to_dlq"] == totals["to_dlq"]
        assert final["high_confidence_matches"] == totals["high_confidence"]
        assert final["low_confidence_matches"] == totals["low_confidence"]
        assert final["errors_by_type"] == totals["errors_by_type"]
        assert final["total_processing_time"] == pytest.approx(totals["processing_time_s"])
        assert info["defects"] == []
        assert final["session_start"] == _iso_epoch(manifest["generator"]["start"])


def test_per_day_counts_add_up_to_totals(default_run) -> None:
    _, manifest = default_run
    for info in manifest["sources"].values():
        days = info["per_day"]
        assert sorted(days) == ["2026-10-01", "2026-10-02"]
        for key in ("attempts", "succeeded", "failed", "to_dlq", "high_confidence"):
            assert sum(d[key] for d in days.values()) == info["totals"][key]
        errors: dict[str, int] = {}
        for d in days.values():
            for k, v in d["errors_by_type"].items():
                errors[k] = errors.get(k, 0) + v
        assert errors == info["totals"]["errors_by_type"]
        t = info["totals"]
        assert t["succeeded"] + t["failed"] == t["attempts"]
        assert t["high_confidence"] + t["low_confidence"] == t["succeeded"]
        assert t["to_dlq"] == info["jobs"]["dead_lettered"]


def test_outage_collapses_success(tmp_path: Path) -> None:
    manifest = simulate(tmp_path, days=3, sources=["w"], defects="none")
    start, end = (_iso_epoch(manifest["outage"][k]) for k in ("start", "end"))
    assert 3 * 3600 <= end - start <= 4.5 * 3600
    day = manifest["sources"]["w"]["per_day"][manifest["outage"]["start"][:10]]
    others = [
        d
        for k, d in manifest["sources"]["w"]["per_day"].items()
        if k != manifest["outage"]["start"][:10]
    ]
    rate = day["succeeded"] / day["attempts"]
    assert rate < min(d["succeeded"] / d["attempts"] for d in others) - 0.15
    assert day["errors_by_type"]["PlexTemporaryError"] > 20


def test_live_file_format_is_what_syncstats_writes(clean_run) -> None:
    out, _ = clean_run
    for _, path in _copies(out / "worker-a")[:5]:
        data = path.read_bytes()
        assert stats_file_bytes(json.loads(data)) == data
        validate_stats_dict(json.loads(data))


# -- log lines --------------------------------------------------------------------------------
@pytest.mark.parametrize("run", ["clean_run", "default_run"])
def test_every_stats_log_line_parses_and_adds_up(run: str, request: pytest.FixtureRequest) -> None:
    out, manifest = request.getfixturevalue(run)
    torn = {
        (source, d["file"], d["line"])
        for source, info in manifest["sources"].items()
        for d in info["defects"]
        if d["name"] == "torn_log"
    }
    for source in manifest["sources"]:
        seen = 0
        for path in _log_files(out / source):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if "Stats: " not in line or "[Stash2Plex Worker]" not in line:
                    continue
                if (source, path.name, number) in torn:
                    with pytest.raises(ValueError):
                        json.loads(line.split("Stats: ", 1)[1])
                    continue
                parsed = _parse_log_line(line)
                assert parsed is not None, line
                _, msg = parsed
                assert msg.startswith(STATS_PREFIX)
                stats = json.loads(msg[len(STATS_PREFIX) :])
                seen += 1
                assert stats["succeeded"] + stats["failed"] == stats["processed"]
                assert stats["high_confidence"] + stats["low_confidence"] == stats["succeeded"]
                assert sum(stats["errors_by_type"].values()) == stats["failed"]
                assert stats["to_dlq"] <= stats["failed"]
                assert re.fullmatch(r"\d+\.\d%", stats["success_rate"])
                assert isinstance(stats["avg_time_ms"], int)
        assert seen > 20


def test_log_forms_and_timestamps(default_run) -> None:
    out, manifest = default_run
    start, end = (_iso_epoch(manifest["generator"][k]) for k in ("start", "end"))
    forms = {"worker-a": FILE_LINE, "worker-b": CONSOLE_LINE}
    assert [p.name for p in _log_files(out / "worker-a")] == ["stash.log.1", "stash.log"]
    assert [p.name for p in _log_files(out / "worker-b")] == ["console.log"]
    for source, pattern in forms.items():
        previous = start
        raw = 0
        for path in _log_files(out / source):
            for line in path.read_text(encoding="utf-8").splitlines():
                if pattern.match(line):
                    when, _ = _parse_log_line(line)
                    assert previous <= when <= end
                    previous = when
                else:
                    raw += 1  # torn lines still match; raw lines are traceback continuations
        summary = "Sync summary: "
        text = "".join(p.read_text(encoding="utf-8") for p in _log_files(out / source))
        assert text.count(summary) == text.count("Stash2Plex Worker] Stats: ")
        assert "DLQ contains " in text
        assert raw == 0 or "Traceback (most recent call last):" in text


def test_file_form_escapes_quotes_and_backslashes() -> None:
    line = (
        'time="2026-10-01 00:30:29" level=info msg="[Plugin / Renamer] Renamed '
        '\\"/a/b.mp4\\" to \\"/a/Back\\\\Stage.mp4\\""'
    )
    _, msg = _parse_log_line(line)
    assert msg == '[Plugin / Renamer] Renamed "/a/b.mp4" to "/a/Back\\Stage.mp4"'


# -- captures ---------------------------------------------------------------------------------
def test_capture_names_and_times(default_run) -> None:
    out, manifest = default_run
    names_a = [p.name for _, p in _copies(out / "worker-a")]
    names_b = [p.name for _, p in _copies(out / "worker-b")]
    assert all(re.fullmatch(r"stats-\d{8}T\d{6}Z\.json", n) for n in names_a)
    assert all(re.fullmatch(r"stats-\d{4}-\d\d-\d\dT\d\d:00:00\+02:00\.json", n) for n in names_b)
    t = datetime(2026, 10, 1, 13, tzinfo=UTC).timestamp()
    assert snapshot_file_name(t, "B") == "stats-2026-10-01T15:00:00+02:00.json"
    for source in ("worker-a", "worker-b"):
        assert all(when % 3600 == 0 for when, _ in _copies(out / source))
        lines = (out / source / "history.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(lines) == manifest["sources"][source]["files"]["history_lines"] > 100
        for line in lines:
            obj = json.loads(line)
            assert obj["source"] == source
            at = obj["snapshot_at"]
            if source == "worker-a":
                assert isinstance(at, str) and at.endswith("Z")
                at = _iso_epoch(at)
            else:
                assert isinstance(at, float)
            assert (at % 3600) // 60 in (7, 22, 37, 52) and at % 60 == 0


# -- the dead-letter queue --------------------------------------------------------------------
@pytest.mark.parametrize("run", ["clean_run", "default_run"])
def test_dlq_matches_manifest(run: str, request: pytest.FixtureRequest) -> None:
    out, manifest = request.getfixturevalue(run)
    keys = {
        "job_id",
        "scene_id",
        "update_type",
        "data",
        "enqueued_at",
        "job_key",
        "retry_count",
        "next_retry_at",
        "last_error_type",
    }
    for source, info in manifest["sources"].items():
        with closing(sqlite3.connect(f"file:{out / source / 'dlq.db'}?mode=ro", uri=True)) as c:
            rows = c.execute(
                "SELECT job_id, scene_id, job_data, error_type, error_message, stack_trace,"
                " retry_count, failed_at FROM dead_letters"
            ).fetchall()
            summary = dict(
                c.execute("SELECT error_type, COUNT(*) FROM dead_letters GROUP BY error_type")
            )
        assert len(rows) == info["dlq"]["rows"] == info["totals"]["to_dlq"] > 0
        assert summary == info["dlq"]["by_error_type"]
        for job_id, scene_id, blob, etype, message, trace, retries, failed_at in rows:
            job = safe_loads(blob)
            assert set(job) == keys
            assert (job["job_id"], job["scene_id"]) == (job_id, scene_id)
            assert job["last_error_type"] == etype and job["retry_count"] == retries
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", failed_at)
            assert trace.startswith("Traceback (most recent call last):\n")
            assert trace.rstrip("\n").endswith(f"{etype}: {message}")
            assert 700 <= len(trace) <= 1800
            if etype in ("PlexPermanentError", "PermanentError"):
                assert retries == 0
            if etype == "PlexNotFound":
                assert message.startswith("Could not find Plex item for path: /media/videos/")


# -- defects ----------------------------------------------------------------------------------
def test_default_defects_are_planted(default_run) -> None:
    _, manifest = default_run
    assert manifest["generator"]["defects"] == {
        "worker-a": sorted(DEFAULT_DEFECTS[0]),
        "worker-b": sorted(DEFAULT_DEFECTS[1]),
    }
    for source, names in manifest["generator"]["defects"].items():
        assert sorted(d["name"] for d in manifest["sources"][source]["defects"]) == names


def test_torn_copy_empty_file_negative(default_run) -> None:
    out, manifest = default_run
    torn = _defect(manifest, "worker-a", "torn_copy")
    data = (out / "worker-a" / torn["file"]).read_bytes()
    assert 0 < len(data) == torn["kept_bytes"] < torn["original_bytes"]
    with pytest.raises(ValueError):
        json.loads(data)
    empty = _defect(manifest, "worker-b", "empty_file")
    assert (out / "worker-b" / empty["file"]).stat().st_size == 0
    negative = _defect(manifest, "worker-b", "negative")
    obj = json.loads((out / "worker-b" / negative["file"]).read_bytes())
    assert obj[negative["key"]] == negative["value"] < 0
    with pytest.raises(ValueError, match="negative"):
        validate_stats_dict(obj)
    # Every other copy is a healthy stats file.
    bad = {torn["file"], empty["file"], negative["file"]}
    for source in ("worker-a", "worker-b"):
        for _, path in _copies(out / source):
            if f"snapshots/{path.name}" not in bad:
                validate_stats_dict(json.loads(path.read_bytes()))


def test_torn_log_line(default_run) -> None:
    out, manifest = default_run
    torn = _defect(manifest, "worker-a", "torn_log")
    lines = (out / "worker-a" / torn["file"]).read_text(encoding="utf-8").splitlines()
    line = lines[torn["line"] - 1]
    assert len(line) == torn["kept_chars"] < torn["original_chars"]
    assert "Stats: {" in line and not line.endswith('}"')
    assert FILE_LINE.match(lines[torn["line"]])  # the next line is whole


def _valid_copies(source_dir: Path) -> list[tuple[float, dict[str, Any], Path]]:
    out = []
    for t, path in _copies(source_dir):
        try:
            obj = validate_stats_dict(json.loads(path.read_bytes()))
        except ValueError:
            continue
        out.append((t, obj, path))
    return out


def test_reset(default_run) -> None:
    out, manifest = default_run
    reset = _defect(manifest, "worker-a", "reset")
    copies = _valid_copies(out / "worker-a")
    before = [c for c in copies if c[0] < _iso_epoch(reset["time"])]
    after = [c for c in copies if c[0] >= reset["new_session_start"]]
    assert f"snapshots/{after[0][2].name}" == reset["first_copy_after"]
    assert after[0][1]["session_start"] == reset["new_session_start"]
    assert before[-1][1]["session_start"] == _iso_epoch(manifest["generator"]["start"])
    assert after[0][1]["jobs_processed"] < before[-1][1]["jobs_processed"]
    history = (out / "worker-a" / "history.jsonl").read_text(encoding="utf-8").splitlines()
    first = json.loads(history[reset["first_history_line_after"] - 1])
    previous = json.loads(history[reset["first_history_line_after"] - 2])
    assert first["session_start"] == reset["new_session_start"] != previous["session_start"]


def test_gap(default_run) -> None:
    out, manifest = default_run
    gap = _defect(manifest, "worker-b", "gap")
    start, end = _iso_epoch(gap["start"]), _iso_epoch(gap["end"])
    assert 9.5 <= gap["hours"] <= 11
    source = out / "worker-b"
    assert not [p for t, p in _copies(source) if start <= t < end]
    times = [
        json.loads(line)["snapshot_at"]
        for line in (source / "history.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert not [t for t in times if start <= t < end]
    assert max(b - a for a, b in zip(times, times[1:], strict=False)) >= 9.5 * 3600
    for line in (source / "console.log").read_text(encoding="utf-8").splitlines():
        parsed = _parse_log_line(line)
        assert parsed is None or not start <= parsed[0] < end
    # The worker kept running: attempts were simulated during the gap.
    day = manifest["sources"]["worker-b"]["per_day"]
    assert (
        sum(d["attempts"] for d in day.values())
        == manifest["sources"]["worker-b"]["totals"]["attempts"]
    )


def _doubling_copies(out: Path, record: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads((out / name).read_bytes()) for name in record["inflated_copies"]]


def test_doubling_below_ceiling_then_fresh_start(default_run) -> None:
    out, manifest = default_run
    rec = _defect(manifest, "worker-b", "doubling")
    inflated = _doubling_copies(out / "worker-b", rec)
    assert len(inflated) >= 3 and rec["doubled_saves"] >= 3
    values = [c["jobs_processed"] for c in inflated]
    assert all(b >= 2 * a for a, b in zip(values, values[1:], strict=False) if b != a)
    assert max(max(c[k] for k in COUNTERS) for c in inflated) < SANITY_CEILING
    assert rec["copies_above_ceiling"] == []
    fixed = _iso_epoch(rec["fixed_at"])
    later = [obj for t, obj, _ in _valid_copies(out / "worker-b") if t > fixed]
    assert later[0]["session_start"] == pytest.approx(fixed, abs=1.0)
    assert later[0]["jobs_processed"] < values[-1]
    # The log shows the inflated counters too (and they still add up, tested above).
    log = (out / "worker-b" / "console.log").read_text(encoding="utf-8").splitlines()
    where = rec["inflated_stats_log_lines"]
    first, last = (
        json.loads(log[where[k] - 1].split("Stats: ", 1)[1])["processed"] for k in ("first", "last")
    )
    assert last >= 2 ** (rec["doubled_saves"] - 1) * first


@pytest.mark.parametrize("kind", ["doubling_ceiling", "doubling_kept"])
def test_doubling_variants(kind: str, tmp_path: Path) -> None:
    manifest = simulate(tmp_path, days=2, sources=["w"], defects={"w": [kind]})
    rec = _defect(manifest, "w", kind)
    inflated = _doubling_copies(tmp_path / "w", rec)
    fixed = _iso_epoch(rec["fixed_at"])
    later = [json.loads(p.read_bytes()) for t, p in _copies(tmp_path / "w") if t > fixed]
    assert later
    if kind == "doubling_ceiling":
        assert rec["copies_above_ceiling"]
        assert max(inflated[-1][k] for k in COUNTERS) > SANITY_CEILING
        assert rec["fixed_release_refused_file"] is True
        assert later[0]["jobs_processed"] < 1000
        assert later[0]["session_start"] == pytest.approx(fixed, abs=1.0)
    else:
        assert rec["copies_above_ceiling"] == [] and rec["fixed_release_refused_file"] is False
        assert later[0]["jobs_processed"] >= rec["max_counter"]
        assert later[0]["session_start"] == inflated[0]["session_start"]


# -- interface --------------------------------------------------------------------------------
def test_cli_and_parameters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    args = ["--out", str(out), "--days", "1", "--sources", "x", "y", "--defects", "y=gap"]
    assert main(args) == 0
    truth = json.loads((out / "truth.json").read_text(encoding="utf-8"))
    assert truth["generator"]["defects"] == {"x": [], "y": ["gap"]}
    assert "x: " in capsys.readouterr().out
    with pytest.raises(SystemExit):  # output exists
        main(args)
    assert main([*args, "--overwrite", "--defects", "none"]) == 0
    with pytest.raises(SystemExit):
        main(["--out", str(out), "--overwrite", "--defects", "nonsense"])
    with pytest.raises(ValueError, match="at most one"):
        simulate(tmp_path / "z", days=1, defects={"worker-a": ["doubling", "doubling_kept"]})
    with pytest.raises(ValueError, match="zone"):
        simulate(tmp_path / "z", start="2026-10-01T00:00:00")
    assert {"reset", "gap", "doubling_ceiling"} <= DEFECTS


# -- the committed sample ---------------------------------------------------------------------
def _documented_command() -> list[str]:
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    m = re.search(r"^\s*\.venv/bin/python -m syncstats\.testing\.simulate (.+)$", readme,
                  re.MULTILINE)
    assert m, "data/README.md must show the regeneration command"
    return m.group(1).split()


@pytest.mark.slow
def test_committed_data_equals_a_regeneration(tmp_path: Path) -> None:
    """``data/`` is exactly what the documented command writes.

    Every file is compared by SHA-256 except ``dlq.db``, compared by its schema and table
    contents with ``job_data`` decoded: SQLite writes its library version into the file
    header and ``pickle``'s default protocol depends on the Python version, so those bytes
    depend on the build (two runs on one machine are byte-identical: see the determinism
    test).
    """
    args = _documented_command()
    assert args[:2] == ["--out", "data"]
    assert main(["--out", str(tmp_path / "data"), *args[2:]]) == 0
    fresh = _file_hashes(tmp_path / "data")
    committed = {k: v for k, v in _file_hashes(DATA).items() if k != "README.md"}
    assert sorted(committed) == sorted(fresh)
    for name in committed:
        if name.endswith("dlq.db"):
            assert _dlq_contents(DATA / name) == _dlq_contents(tmp_path / "data" / name), name
        else:
            assert committed[name] == fresh[name], name
