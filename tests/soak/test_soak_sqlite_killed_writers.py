"""Soak: DLQ writers killed over and over while readers read (``SYNCSTATS_SOAK=1``).

For each journal mode (rollback journal, WAL with checkpoints disabled) and for
``SYNCSTATS_SOAK_SECONDS`` (default 120) split between them: a writer process commits
1-3 rows a transaction (ids 1, 2, ... with values derived from the id), and some of its
transactions also write and delete big junk rows (spilled into the file or the WAL
before the commit); it is SIGKILLed at random moments and restarted. Meanwhile:

- a reader process loops ``read_dlq`` on a read-only bind mount of the folder (it cannot
  write there even as root): every read must be exactly rows 1..n for some n no smaller
  than the count the writer had reported before the read began, or an ``unreadable``
  issue for a lock held past the timeout; never an exception;
- after each kill, a copy of the dead writer's folder (as is, without its ``-shm``, or
  with a ``-shm`` saved at an earlier kill) is read in this process: the committed
  prefix again, and the folder byte-, mtime- and listing-identical afterwards.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers_reliability import SOAK, diff_fingerprints, fingerprint, read_reports
from helpers_sqlite import committed_row, read_only_mount_works

from syncstats.io import read_dlq

pytestmark = [
    pytest.mark.soak,
    pytest.mark.skipif(not SOAK, reason="soak test: run with SYNCSTATS_SOAK=1"),
]
ROOT = Path(__file__).resolve().parents[2]

WRITER = r"""
import os, random, sqlite3, sys
db, mode, out, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rng = random.Random(seed)
conn = sqlite3.connect(db, isolation_level=None, timeout=30)
conn.execute(f"PRAGMA journal_mode={'WAL' if mode == 'wal' else 'DELETE'}")
if mode == "wal":
    conn.execute("PRAGMA wal_autocheckpoint=0")
conn.execute("PRAGMA cache_size=4")
conn.execute('''CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT, job_id INTEGER, scene_id INTEGER,
    job_data BLOB, error_type TEXT, error_message TEXT, stack_trace TEXT,
    retry_count INTEGER, failed_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)''')
n = conn.execute("SELECT coalesce(max(id), 0) FROM dead_letters").fetchone()[0]
while True:
    conn.execute("BEGIN IMMEDIATE")
    if rng.random() < 0.3:  # uncommitted junk, spilled before the commit
        for j in range(rng.randint(5, 40)):
            conn.execute("INSERT INTO dead_letters (id, job_id, error_message, stack_trace)"
                         " VALUES (?, -1, 'junk', ?)", (10**9 + j, "x" * 3000))
        conn.execute("DELETE FROM dead_letters WHERE id >= ?", (10**9,))
    for _ in range(rng.randint(1, 3)):
        n += 1
        conn.execute(
            "INSERT INTO dead_letters (id, job_id, scene_id, error_type, error_message,"
            " stack_trace, retry_count, failed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (n, 1000 + n, n, "PlexNotFound", f"committed {n}", "", 1, "2026-10-21 00:00:00"))
    conn.execute("COMMIT")
    fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, f"{n}\n".encode())
    os.close(fd)
"""

READER = r"""
import json, os, sys, traceback
from syncstats.io import read_dlq
db, reports, stop, out = sys.argv[1:5]

def reported():
    try:
        lines = open(reports, "rb").read().split(b"\n")[:-1]
    except FileNotFoundError:
        return 0
    return int(lines[-1]) if lines else 0

while not os.path.exists(stop):
    lower = reported()
    rec = {"lower": lower}
    try:
        data = read_dlq(db)
        rows = [[int(r.id), int(r.job_id), str(r.error_message)]
                for r in data.dlq.itertuples()]
        n = len(rows)
        rec.update(n=n, prefix=rows == [[i, 1000 + i, f"committed {i}"]
                                        for i in range(1, n + 1)],
                   issues=[[str(r.kind), str(r.detail)] for r in data.issues.itertuples()])
    except BaseException:
        rec["error"] = traceback.format_exc()[-2000:]
    fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, (json.dumps(rec) + "\n").encode())
    os.close(fd)
"""

#: ``unreadable`` details a reader may meet under a live writer: a lock held too long.
BUSY = ("locked", "busy", "changed during")


def check_read(rec: dict, what: str) -> bool:
    """Assert one reader record; True when it loaded rows (not a busy issue)."""
    assert "error" not in rec, f"{what}: {rec['error']}"
    kinds = {k for k, _ in rec["issues"]}
    assert kinds <= {"recovered_copy", "unreadable"}, (what, rec)
    if "unreadable" in kinds:
        assert rec["n"] == 0 and all(any(b in d for b in BUSY) for k, d in rec["issues"]
                                     if k == "unreadable"), (what, rec)
        return False
    assert rec["prefix"], (what, rec)
    assert rec["n"] >= rec["lower"], (what, rec)
    return True


def dead_copy(live: Path, dst: Path, variant: str, stale_shm: bytes | None) -> None:
    shutil.copytree(live, dst, copy_function=shutil.copy2)
    shm = dst / "dlq.db-shm"
    if variant == "no-shm":
        shm.unlink(missing_ok=True)
    elif variant == "stale-shm" and stale_shm is not None and shm.exists():
        shm.write_bytes(stale_shm)


@pytest.mark.skipif(not read_only_mount_works(), reason="no read-only bind mount here")
@pytest.mark.parametrize("mode", ["delete", "wal"])
def test_killed_writers_readers_see_committed_prefixes_and_write_nothing(tmp_path, mode):
    seconds = float(os.environ.get("SYNCSTATS_SOAK_SECONDS", "120")) / 2
    live = tmp_path / "live"
    live.mkdir()
    db = live / "dlq.db"
    reports, stop, out = tmp_path / "writer.out", tmp_path / "stop", tmp_path / "reader.out"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp)}
    rng = random.Random(7)
    seed = 0

    def start_writer() -> subprocess.Popen[bytes]:
        nonlocal seed
        seed += 1
        return subprocess.Popen([sys.executable, "-c", WRITER, str(db), mode,
                                 str(reports), str(seed)], env=env)

    writer = start_writer()
    while not read_reports(reports):
        time.sleep(0.05)
    script = 'mount --bind -o ro "$1" "$1" && shift && exec "$@"'
    reader = subprocess.Popen(["unshare", "-m", "sh", "-c", script, "sh", str(live),
                               sys.executable, "-c", READER, str(db), str(reports),
                               str(stop), str(out)], env=env)
    kills = dead_reads = copies = 0
    stale: bytes | None = None
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            time.sleep(rng.uniform(0.02, 0.6))
            writer.send_signal(signal.SIGKILL)
            writer.wait(30)
            kills += 1
            lower = int(read_reports(reports)[-1]) if read_reports(reports) else 0
            variant = rng.choice(["as-is", "no-shm", "stale-shm"])
            d = tmp_path / f"dead{kills % 2}"
            shutil.rmtree(d, ignore_errors=True)
            dead_copy(live, d, variant, stale)
            before = fingerprint(d)
            data = read_dlq(d / "dlq.db")
            rows = [list(r) for r in data.dlq[["id", "job_id", "error_message"]].itertuples(
                index=False)]
            n = len(rows)
            rec = {"lower": lower, "n": n, "issues": [
                [str(r.kind), str(r.detail)] for r in data.issues.itertuples()],
                "prefix": rows == [list(committed_row(i)) for i in range(1, n + 1)]}
            assert check_read(rec, f"dead copy {variant} after kill {kills}")
            assert not diff_fingerprints(before, fingerprint(d)), variant
            copies += any(k == "recovered_copy" for k, _ in rec["issues"])
            dead_reads += 1
            if (live / "dlq.db-shm").exists() and rng.random() < 0.3:
                stale = (live / "dlq.db-shm").read_bytes()
            writer = start_writer()
            assert reader.poll() is None, "the reader died"
    finally:
        stop.touch()
        if writer.poll() is None:
            writer.send_signal(signal.SIGKILL)
        writer.wait(30)
        reader.wait(120)
    assert reader.returncode == 0
    records = read_reports(out)
    loaded = sum(check_read(rec, f"live read {i}") for i, rec in enumerate(records))
    assert loaded >= len(records) // 2 and loaded > 0
    assert os.listdir(tmp) == []
    print(f"sqlite soak {mode}: {kills} kills, {len(records)} live reads ({loaded} loaded, "
          f"{sum('recovered_copy' in json.dumps(r) for r in records)} from a recovered copy),"
          f" {dead_reads} dead-folder reads ({copies} recovered copies), "
          f"{read_reports(reports)[-1]} rows committed")
