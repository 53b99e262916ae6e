"""Crash safety: SIGKILL at random points never corrupts a file or loses a completed write.

- ``syncstats snapshot`` (the CLI, a real process) killed at random points: the history
  always parses (a kill mid-append can leave one torn line, which the next capture steps
  over); every capture that completed is in it, once.
- A process looping ``SyncStats.save_to_file`` killed at random points: ``stats.json``
  always parses and holds at least every save that returned.
- N such processes on one ``stats.json``, killed and replaced at random: the final counts
  equal the completed saves, plus at most one in-flight save per killed process.

Children report each completed operation on a file, one line each, right after it
returns. ``SYNCSTATS_SOAK=1`` kills hundreds of times instead of ~30.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers_reliability import (
    read_reports,
    save_loop,
    scaled,
    sum_counts,
)
from samples import stats_invariants

from syncstats.io import read_snapshots
from syncstats.recording import capture_snapshot
from syncstats.recording.stats import COUNTER_FIELDS, validate_stats_dict

CTX = multiprocessing.get_context("fork")
BASE = pd.Timestamp("2026-10-01T00:00:00Z")
MAX_K = 5


def big_stats() -> dict:
    """A stats file of ~100 KB (many error types): an append spans many pages, so a kill
    can land inside the write itself."""
    errors = {f"Error{i:05d}": 1 for i in range(4000)}
    failed = sum(errors.values())
    return {
        "jobs_processed": failed + 10, "jobs_succeeded": 10, "jobs_failed": failed,
        "jobs_to_dlq": 3, "total_processing_time": 1.5, "session_start": 1790812800.0,
        "errors_by_type": errors, "high_confidence_matches": 9, "low_confidence_matches": 1,
    }


def capture_time(i: int) -> str:
    return (BASE + pd.Timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")


def holds(pid: int, paths: set[str]) -> bool:
    """True when process *pid* has one of *paths* open (Linux ``/proc``)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") in paths:
                return True
        except OSError:
            continue
    return False


def cli(stats: Path, history: Path, i: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "syncstats", "snapshot", str(stats), "--history", str(history),
         "--source", "worker-a", "--now", capture_time(i), "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_sigkill_of_the_snapshot_cli_never_corrupts_the_history(tmp_path):
    stats = tmp_path / "worker-a" / "stats.json"
    stats.parent.mkdir()
    stats.write_text(json.dumps(big_stats(), indent=2))
    history = tmp_path / "hist" / "worker-a.jsonl"
    scratch = tmp_path / "scratch.jsonl"

    def expected(i: int) -> bytes:
        """The exact line capture ``i`` appends (the library writes the same bytes)."""
        scratch.unlink(missing_ok=True)
        capture_snapshot(stats, scratch, source="worker-a", now=capture_time(i))
        return scratch.read_bytes()

    start = time.monotonic()
    first = cli(stats, history, 0)
    assert first.wait(60) == 0, first.stderr.read()
    durations = [time.monotonic() - start]
    completed, killed = {0}, set()
    kills = scaled(30, 400)
    parallel = 2
    rng = random.Random(20261001)
    # Three kills in four fall at a random time of a run (mostly start-up: imports); the
    # fourth waits until the process has stats.json, the history or its lock open (read,
    # lock, append, fsync: milliseconds of a ~1 s run) and kills it then.
    targets = {str(stats), str(history), f"{history}.lock"}
    estimate = durations[0]
    running: dict[int, tuple[subprocess.Popen, float, float | None]] = {}
    i = 0
    while len(killed) < kills and i < 4 * kills:
        while len(running) < parallel and len(killed) + len(running) < kills:
            i += 1
            started = time.monotonic()
            deadline = None if i % 4 == 0 else started + estimate * rng.uniform(0.0, 1.05)
            running[i] = (cli(stats, history, i), started, deadline)
        time.sleep(0.001)
        now = time.monotonic()
        for j, (proc, started, deadline) in list(running.items()):
            rc = proc.poll()
            if rc is not None:
                assert rc == 0, proc.stderr.read()
                completed.add(j)
                durations.append(now - started)
                estimate = sorted(durations)[len(durations) // 2]
                del running[j]
            elif (now >= deadline) if deadline is not None else holds(proc.pid, targets):
                if deadline is None:
                    time.sleep(rng.uniform(0.0, 0.002))
                proc.send_signal(signal.SIGKILL)
                proc.wait(30)
                killed.add(j)
                del running[j]
        assert time.monotonic() - start < 900
    final = i + 1
    capture_snapshot(stats, history, source="worker-a", now=capture_time(final))
    completed.add(final)

    lines = {j: expected(j) for j in completed | killed}
    data = history.read_bytes()
    assert data.endswith(b"\n")
    seen: dict[str, int] = {}
    torn = 0
    for line in data.split(b"\n")[:-1]:
        try:
            rec = json.loads(line)
        except ValueError:
            torn += 1  # a kill inside the append: a strict prefix of a killed capture's line
            assert any(lines[j].startswith(line) for j in killed), line[:120]
            continue
        j = int((pd.Timestamp(rec["snapshot_at"]) - BASE).total_seconds())
        assert line + b"\n" == lines[j]
        seen[rec["snapshot_at"]] = seen.get(rec["snapshot_at"], 0) + 1
    assert all(n == 1 for n in seen.values()), "a capture was recorded twice"
    missing = [j for j in completed if capture_time(j) not in seen]
    assert not missing, f"completed captures missing from the history: {missing}"
    assert json.loads(data.split(b"\n")[-2])["snapshot_at"] == capture_time(final)
    read = read_snapshots(history)
    assert len(read.snapshots) == len(seen)
    assert sorted(read.issues["kind"].astype("str")) == ["torn_line"] * torn
    print(f"CLI kills: {len(killed)} killed, {len(completed)} completed, "
          f"{len(seen) - len(completed)} killed after appending, {torn} torn lines")


def run_saver(stats: Path, out: Path, seed: int) -> multiprocessing.Process:
    proc = CTX.Process(target=save_loop, args=(str(stats), str(out), seed, MAX_K, 10**9))
    proc.start()
    return proc


def read_stats(stats: Path) -> dict:
    """The stats file must always parse and validate (atomic replace)."""
    data = json.loads(stats.read_bytes())
    validate_stats_dict(data)
    problems = stats_invariants(data)
    assert not problems, problems
    return data


def check_bounds(final: dict, done: dict, killed: int) -> None:
    """completed <= final <= completed + MAX_K per killed process, counter by counter."""
    slack = MAX_K * killed
    for key in COUNTER_FIELDS:
        assert done.get(key, 0) <= final[key] <= done.get(key, 0) + slack, key
    for etype, n in done["errors_by_type"].items():
        assert n <= final["errors_by_type"].get(etype, 0) <= n + slack, etype
    assert set(final["errors_by_type"]) <= {"PlexNotFound", "TimeoutError"}


def no_leftovers(directory: Path) -> list[str]:
    names = sorted(os.listdir(directory))
    assert not [n for n in names if ".corrupt-" in n], names  # never quarantined
    return [n for n in names if n.endswith(".tmp")]


@pytest.mark.slow
def test_sigkill_of_a_save_loop_loses_no_completed_save(tmp_path):
    stats = tmp_path / "data" / "stats.json"
    rng = random.Random(7)
    kills = scaled(30, 500)
    reports: list[Path] = []
    for k in range(kills):
        out = tmp_path / f"out{k}.txt"
        reports.append(out)
        proc = run_saver(stats, out, seed=k)
        time.sleep(rng.uniform(0.0, 0.12))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(30)
        if stats.exists():
            final = read_stats(stats)
            done = sum_counts(r for p in reports for r in read_reports(p))
            check_bounds(final, done, killed=k + 1)
    final = read_stats(stats)
    done = sum_counts(r for p in reports for r in read_reports(p))
    check_bounds(final, done, killed=kills)
    leftovers = no_leftovers(stats.parent)
    saves = sum(len(read_reports(p)) for p in reports)
    print(f"save loop: {kills} kills, {saves} completed saves, final jobs_processed "
          f"{final['jobs_processed']} (completed {done['jobs_processed']}), "
          f"{len(leftovers)} temp files left by kills")
    assert saves > 0


@pytest.mark.slow
def test_concurrent_savers_with_random_sigkills(tmp_path):
    """N processes x many saves to one stats.json, random SIGKILLs, replacements started:
    completed_sum <= final <= completed_sum + MAX_K * killed, invariants always hold."""
    stats = tmp_path / "data" / "stats.json"
    rng = random.Random(11)
    workers = 4
    kills = scaled(30, 400)
    reports: list[Path] = []
    live: list[multiprocessing.Process] = []
    seed = 0

    def start() -> None:
        nonlocal seed
        seed += 1
        out = tmp_path / f"out{seed}.txt"
        reports.append(out)
        live.append(run_saver(stats, out, seed))

    for _ in range(workers):
        start()
    for k in range(kills):
        time.sleep(rng.uniform(0.0, 0.08))
        victim = live.pop(rng.randrange(len(live)))
        os.kill(victim.pid, signal.SIGKILL)
        victim.join(30)
        if stats.exists():
            read_stats(stats)
        if k < kills - workers:
            start()
    for proc in live:  # the last ones are killed too
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(30)
    total_killed = seed
    final = read_stats(stats)
    done = sum_counts(r for p in reports for r in read_reports(p))
    check_bounds(final, done, killed=total_killed)
    leftovers = no_leftovers(stats.parent)
    saves = sum(len(read_reports(p)) for p in reports)
    print(f"concurrent savers: {total_killed} processes killed, {saves} completed saves, "
          f"final jobs_processed {final['jobs_processed']} (completed "
          f"{done['jobs_processed']}), {len(leftovers)} temp files left by kills")
    assert saves > workers


@pytest.mark.slow
def test_the_next_capture_steps_over_a_torn_tail(tmp_path):
    """A capture killed mid-append leaves a line without its newline; the next capture
    (the CLI, a real process) starts on a new line, and the reader reports the torn one."""
    stats = tmp_path / "worker-a" / "stats.json"
    stats.parent.mkdir()
    stats.write_text(json.dumps(big_stats()))
    history = tmp_path / "worker-a.jsonl"
    capture_snapshot(stats, history, source="worker-a", now=capture_time(1))
    whole = history.read_bytes()
    capture_snapshot(stats, history, source="worker-a", now=capture_time(2))
    line2 = history.read_bytes()[len(whole):]
    for cut in (len(line2) // 2, 1, len(line2) - 2, len(line2) - 1):
        history.write_bytes(whole + line2[:cut])  # killed inside write(): a prefix
        if cut == len(line2) // 2:  # the CLI once (a real process), then the library
            proc = cli(stats, history, 3)
            assert proc.wait(120) == 0, proc.stderr.read()
        else:
            capture_snapshot(stats, history, source="worker-a", now=capture_time(3))
        lines = history.read_bytes().split(b"\n")
        assert lines[-1] == b""
        assert lines[1] == line2[:cut]  # the torn line is kept as it is ...
        assert json.loads(lines[2])["snapshot_at"] == capture_time(3)  # ... and stepped over
        read = read_snapshots(history)
        assert len(read.snapshots) == 2 + (cut == len(line2) - 1)  # only "\n" missing: whole
        kinds = list(read.issues["kind"].astype("str"))
        assert kinds == ([] if cut == len(line2) - 1 else ["torn_line"])
