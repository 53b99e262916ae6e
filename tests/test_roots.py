"""Roots as users point at them (issue: first contact): fleet root, one worker's folder,
the worker's plugin data folder, a single file; and nothing in a tree skipped silently."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from helpers_reliability import run_unprivileged

import syncstats
from syncstats import DeadLetterQueue
from syncstats.cli import main
from syncstats.io.discover import discover

DATA = Path(__file__).resolve().parents[1] / "data"
NOW = "2026-10-22T00:00:00Z"


def stats(processed: int, failed: int = 0, **extra: object) -> dict:
    return {
        "jobs_processed": processed, "jobs_succeeded": processed - failed,
        "jobs_failed": failed, "jobs_to_dlq": 0, "total_processing_time": processed * 0.5,
        "session_start": 1790812800.0,
        "errors_by_type": {"PlexNotFound": failed} if failed else {},
        "high_confidence_matches": processed - failed, "low_confidence_matches": 0, **extra,
    }


def history(path: Path, n: int = 4, source: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for h in range(n):
        rec = stats(10 * (h + 1), h, snapshot_at=f"2026-10-01T0{h}:00:00Z")
        if source:
            rec["source"] = source
        lines.append(json.dumps(rec))
    path.write_text("\n".join(lines) + "\n")
    return path


def plugin_folder(base: Path) -> Path:
    """The worker's real plugin data folder, as trek-e/Stash2Plex leaves it."""
    data = base / "plugins" / "Stash2Plex" / "data"
    data.mkdir(parents=True)
    (data / "stats.json").write_text(json.dumps(stats(46, 3), indent=2))
    DeadLetterQueue(data).add({"job_id": 1, "scene_id": 7}, KeyError("gone"), 5)
    (data / "queue").mkdir()
    con = sqlite3.connect(data / "queue" / "data.db")
    con.execute("CREATE TABLE ack_queue_default (_id INTEGER PRIMARY KEY AUTOINCREMENT, "
                "data BLOB, timestamp FLOAT, status INTEGER)")
    con.commit()
    con.close()
    (data / "circuit_breaker.json").write_text(json.dumps(
        {"state": "closed", "failure_count": 0, "success_count": 0, "opened_at": None}))
    (data / "circuit_breaker.json.lock").write_text("")
    (data / "outage_history.json").write_text("[]")
    (data / "sync_timestamps.json").write_text("{}")
    (data / "worker.lock").write_text("")
    (data / "stats.json.tmp").write_text("{")
    (data / "cache").mkdir()
    (data / "cache" / "library.json").write_text("{}")
    return data


def kinds_of(data) -> dict[str, str]:
    """path name -> issue kind."""
    return {Path(p).name: k for p, k in zip(data.issues["path"], data.issues["kind"].astype(str),
                                            strict=True)}


# -- layouts ------------------------------------------------------------------------------
def test_fleet_root_is_one_source_per_folder():
    data = syncstats.load(DATA)
    assert data.layout == "fleet" and data.sources == ["worker-a", "worker-b"]
    assert "layout='fleet'" in repr(data)


def test_one_workers_folder_is_one_source_equal_to_its_part_of_the_fleet():
    fleet = syncstats.load(DATA).select("worker-a")
    one = syncstats.load(DATA / "worker-a")
    assert one.layout == "worker" and one.sources == ["worker-a"]  # not 'snapshots'
    for name in ("snapshots", "errors", "dlq"):
        pd.testing.assert_frame_equal(getattr(one, name), getattr(fleet, name))
    pd.testing.assert_frame_equal(one.issues, fleet.issues)


def test_summary_and_check_of_a_workers_folder_count_each_attempt_once(capsys):
    args = ["--window", "7d", "--now", NOW, "--format", "json"]
    assert main(["summary", str(DATA / "worker-a"), *args]) == 0
    one = json.loads(capsys.readouterr().out)
    assert main(["summary", str(DATA), *args]) == 0
    fleet = json.loads(capsys.readouterr().out)
    part = next(r for r in fleet["per_source"] if r["source"] == "worker-a")
    assert one["sources"] == ["worker-a"]
    assert one["processed"] == part["n"] and one["succeeded"] == part["successes"]
    assert one["processed"] < fleet["processed"]


def test_a_subfolder_of_a_worker_is_never_a_source_of_its_own():
    data = syncstats.load(DATA / "worker-a" / "snapshots")
    assert data.sources == ["worker-a"] and data.layout == "worker"
    one_copy = sorted((DATA / "worker-a" / "snapshots").glob("stats-*.json"))[0]
    single = syncstats.load(one_copy)
    assert single.layout == "file" and single.sources == ["worker-a"]
    assert len(single.snapshots) == 1


def test_the_plugin_data_folder_is_one_source_and_says_what_it_does_not_read(tmp_path):
    folder = plugin_folder(tmp_path)
    data = syncstats.load(folder)
    assert data.layout == "plugin" and data.sources == ["Stash2Plex"]
    assert len(data.snapshots) == 1 and int(data.snapshots["jobs_processed"].iloc[0]) == 46
    assert len(data.dlq) == 1
    kinds = kinds_of(data)
    for name in ("circuit_breaker.json", "circuit_breaker.json.lock", "outage_history.json",
                 "sync_timestamps.json", "worker.lock", "stats.json.tmp", "data.db",
                 "library.json"):
        assert kinds.get(name) == "ignored", (name, kinds)
    assert "not_snapshot" not in kinds.values()  # state files are not bad snapshots
    assert "the worker's plugin data folder" in syncstats.describe_layout(data.layout)


@pytest.mark.parametrize("name", ["stats.json", "history.jsonl", "stash.log", "dlq.db"])
def test_a_single_file_of_each_kind(tmp_path, name):
    w = tmp_path / "worker-x"
    history(w / "history.jsonl", source="worker-x")
    (w / "stats.json").write_text(json.dumps(stats(30, 1)))
    lines = [f'time="2026-10-01 0{h}:00:00" level=info msg="[Plugin / Stash2Plex] '
             f'[Stash2Plex Worker] Stats: {{\\"processed\\": {10 * (h + 1)}, \\"succeeded\\": '
             f'{10 * (h + 1)}, \\"failed\\": 0, \\"to_dlq\\": 0, \\"avg_time_ms\\": 400, '
             f'\\"errors_by_type\\": {{}}}}"'
             for h in range(3)]
    (w / "stash.log").write_text("\n".join(lines) + "\n")
    DeadLetterQueue(w).add({"job_id": 1, "scene_id": 7}, KeyError("gone"), 5)
    data = syncstats.load(w / name)
    assert data.layout == "file" and data.sources == ["worker-x"]
    expected = {"stats.json": (1, 0), "history.jsonl": (4, 0), "stash.log": (3, 0),
                "dlq.db": (0, 1)}[name]
    assert (len(data.snapshots), len(data.dlq)) == expected
    # a bare stats.json has no capture time: its mtime is used, and said
    assert list(data.issues["kind"].astype(str)) == (["time_from_mtime"] * (name == "stats.json"))


def test_a_fleet_of_plugin_folders(tmp_path):
    for host in ("host1", "host2"):
        src = plugin_folder(tmp_path / "tmp" / host)
        shutil.move(src, tmp_path / "fleet" / host)
    data = syncstats.load(tmp_path / "fleet")
    assert data.layout == "fleet" and data.sources == ["host1", "host2"]
    assert len(data.snapshots) == 2


# -- nothing skipped silently -------------------------------------------------------------
def test_special_files_and_links_are_issues_never_opened(tmp_path):
    w = tmp_path / "fleet" / "w1"
    history(w / "history.jsonl")
    os.mkfifo(w / "stats-20261001T000000Z.json")  # a FIFO would hang a reader
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(w / "worker.sock"))
    (w / "null.log").symlink_to("/dev/null")
    (w / "fifo-link.jsonl").symlink_to(w / "stats-20261001T000000Z.json")
    (w / "broken.jsonl").symlink_to(w / "gone.jsonl")
    (w / "elsewhere").symlink_to(tmp_path)  # a link to a folder: not walked
    try:
        data = syncstats.load(tmp_path / "fleet")
    finally:
        sock.close()
    rows = {Path(p).name: (k, d) for p, k, d in zip(
        data.issues["path"], data.issues["kind"].astype(str), data.issues["detail"],
        strict=True)}
    assert rows["stats-20261001T000000Z.json"][0] == "unreadable"
    assert "FIFO" in rows["stats-20261001T000000Z.json"][1]
    assert "socket" in rows["worker.sock"][1]
    assert "character device" in rows["null.log"][1] and "link" in rows["null.log"][1]
    assert "FIFO" in rows["fifo-link.jsonl"][1]
    assert "broken link" in rows["broken.jsonl"][1]
    assert rows["elsewhere"][0] == "ignored" and "not followed" in rows["elsewhere"][1]
    assert len(data.snapshots) == 4 and data.sources == ["w1"]


def test_a_fleet_roots_own_links_to_worker_folders_are_followed(tmp_path):
    history(tmp_path / "real" / "history.jsonl")
    (tmp_path / "fleet").mkdir()
    (tmp_path / "fleet" / "w9").symlink_to(tmp_path / "real")
    data = syncstats.load(tmp_path / "fleet")
    assert data.sources == ["w9"] and len(data.snapshots) == 4


@pytest.fixture
def shared_tmp(tmp_path):
    yield tmp_path
    for p in tmp_path.rglob("*"):  # let pytest clean up
        if not p.is_symlink():
            p.chmod(0o755)


def test_unreadable_files_and_folders_are_issues(shared_tmp):
    fleet = shared_tmp / "fleet"
    history(fleet / "w1" / "history.jsonl")
    history(fleet / "w1" / "logs" / "old.jsonl")
    history(fleet / "w2" / "history.jsonl")
    (fleet / "w1" / "stats-20261001T050000Z.json").write_text(json.dumps(stats(60, 2)))
    (fleet / "w1" / "history.jsonl").chmod(0o000)
    (fleet / "w1" / "logs").chmod(0o000)
    (fleet / "w2").chmod(0o000)  # a whole worker's folder
    code = f"""
        import json, syncstats
        d = syncstats.load({str(fleet)!r})
        print(json.dumps({{"sources": d.known_sources(), "snapshots": len(d.snapshots),
                          "issues": d.issues.astype(str).values.tolist()}}))
    """
    res = run_unprivileged(code, shared_tmp)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    by_path = {Path(p).name: (s, k, d) for s, p, _line, k, d in out["issues"]}
    assert by_path["history.jsonl"][1] == "unreadable"
    assert "Permission denied (EACCES)" in by_path["history.jsonl"][2]
    assert by_path["logs"][1] == "unreadable" and "cannot be listed" in by_path["logs"][2]
    assert by_path["w2"][:2] == ("w2", "unreadable")
    assert out["sources"] == ["w1", "w2"] and out["snapshots"] == 1


def test_check_max_age_breaches_for_a_worker_whose_folder_cannot_be_read(shared_tmp):
    fleet = shared_tmp / "fleet"
    history(fleet / "w1" / "history.jsonl")
    history(fleet / "w2" / "history.jsonl")
    (fleet / "w2").chmod(0o000)
    code = f"""
        import sys
        from syncstats.cli import main
        sys.exit(main(["check", {str(fleet)!r}, "--max-age", "2h",
                       "--now", "2026-10-01T04:00:00Z"]))
    """
    res = run_unprivileged(code, shared_tmp)
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert "ok     max_age: w1:" in res.stdout
    assert "BREACH max_age: w2: no readable snapshot" in res.stdout
    assert "unreadable" in res.stdout


def test_discover_reports_the_layout_for_every_form(tmp_path):
    assert discover(DATA).layout == "fleet"
    assert discover(DATA / "worker-b").layout == "worker"
    assert discover(plugin_folder(tmp_path)).layout == "plugin"
    assert discover(DATA / "worker-b" / "console.log").layout == "file"
    with pytest.raises(syncstats.InputError, match="no such file or directory"):
        discover(tmp_path / "missing")


def test_the_summary_says_which_layout_was_recognised(capsys):
    assert main(["summary", str(DATA / "worker-a"), "--window", "7d", "--now", NOW]) == 0
    out = capsys.readouterr().out
    assert "Sources: worker-a (one worker's folder)\n" in out
    assert "1,616/1,753 succeeded" in out  # each attempt once, not 3,503
    summary = syncstats.batch_summary(syncstats.load(DATA), window="7d", now=NOW)
    assert summary.to_dict()["layout"] == "fleet"
    assert "Data: a fleet root: one folder per worker" in summary.to_markdown()


def test_a_file_gone_between_listing_and_stat_is_no_input(tmp_path, monkeypatch):
    """A writer's rollback journal comes and goes with each transaction: seen by the
    listing, gone by the stat, it is neither an input nor a broken link."""
    history(tmp_path / "w1" / "history.jsonl")
    real = os.listdir

    def listing(path):
        names = real(path)
        return [*names, "dlq.db-journal"] if str(path).endswith("w1") else names

    monkeypatch.setattr(os, "listdir", listing)
    data = syncstats.load(tmp_path / "w1")
    assert data.issues.empty and len(data.snapshots) == 4
    (tmp_path / "w1" / "dangling.jsonl").symlink_to(tmp_path / "nowhere")
    data = syncstats.load(tmp_path / "w1")
    assert kinds_of(data) == {"dangling.jsonl": "unreadable"}


@pytest.mark.parametrize("reader", ["read_snapshots", "read_log", "read_dlq"])
def test_the_readers_given_a_folder_skip_nothing_silently(shared_tmp, reader):
    """read_snapshots/read_log/read_dlq of a folder: FIFOs, links to devices, broken links
    and unlistable folders whose names they would read are issues, as for load()."""
    d = shared_tmp / "w1"
    history(d / "history.jsonl")
    DeadLetterQueue(d).add({"job_id": 1, "scene_id": 7}, KeyError("gone"), 5)
    name = {"read_snapshots": "copy.json", "read_log": "stash.log", "read_dlq": "other.db"}
    os.mkfifo(d / name[reader])
    (d / f"null-{name[reader]}").symlink_to("/dev/null")
    (d / f"broken-{name[reader]}").symlink_to(d / "nowhere")
    (d / "locked").mkdir()
    (d / "locked" / name[reader]).write_text("")
    (d / "locked").chmod(0o000)
    code = f"""
        import json, syncstats
        out = syncstats.{reader}({str(d)!r})
        print(json.dumps(out.issues[["path", "kind", "detail"]].astype(str).values.tolist()))
    """
    res = run_unprivileged(code, shared_tmp)
    assert res.returncode == 0, res.stderr
    got = {Path(p).name: (k, det) for p, k, det in json.loads(res.stdout)}
    assert got[name[reader]][0] == "unreadable" and "FIFO" in got[name[reader]][1]
    assert "a link to a character device" in got[f"null-{name[reader]}"][1]
    assert "broken link" in got[f"broken-{name[reader]}"][1]
    assert got["locked"] == ("unreadable", "folder cannot be listed: Permission denied")
