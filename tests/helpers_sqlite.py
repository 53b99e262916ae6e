"""SQLite states left by killed writers, and a reader run in a locked-down process.

Shared by ``tests/test_reliability_sqlite.py`` and ``tests/soak/``:

- :func:`killed_writer`: a real process commits rows one transaction each, begins one
  more transaction writing rows big enough to spill the page cache into the database
  (rollback journal) or the WAL, and is SIGKILLed inside it: the files a crash leaves;
- :func:`run_reader`: ``read_dlq`` in a child process, optionally on a read-only bind
  mount of the folder (``unshare -m`` + ``mount --bind -o ro``: even root gets EROFS) or
  without the DAC capabilities (``setpriv``: root then obeys permission bits); its own
  ``TMPDIR``, so a test can check that the private copy is gone afterwards.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from helpers_reliability import NO_DAC, setpriv_works  # noqa: F401 (re-exported)

ROOT = Path(__file__).resolve().parents[1]

def committed_row(i: int) -> tuple[int, int, str]:
    """``(id, job_id, error_message)`` of the *i*-th committed row (ids start at 1)."""
    return i, 1000 + i, f"committed {i}"


WRITER = r"""
import os, sqlite3, sys, time
db, mode, start, count, pending, ready = sys.argv[1:7]
start, count, pending = int(start), int(count), int(pending)
conn = sqlite3.connect(db, isolation_level=None, timeout=30)
if mode == "wal":
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")  # committed rows stay in the WAL only
else:
    conn.execute("PRAGMA journal_mode=DELETE")
conn.execute("PRAGMA cache_size=4")  # spill uncommitted pages to the db file / the WAL
conn.execute('''CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT, job_id INTEGER, scene_id INTEGER,
    job_data BLOB, error_type TEXT, error_message TEXT, stack_trace TEXT,
    retry_count INTEGER, failed_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)''')
for i in range(start, start + count):
    conn.execute(
        "INSERT INTO dead_letters (id, job_id, scene_id, error_type, error_message,"
        " stack_trace, retry_count, failed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (i, 1000 + i, i, "PlexNotFound", f"committed {i}", "", 1, "2026-10-21 00:00:00"))
conn.execute("BEGIN IMMEDIATE")
for j in range(pending):
    conn.execute(
        "INSERT INTO dead_letters (job_id, scene_id, error_type, error_message,"
        " stack_trace, retry_count, failed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (-1, -1, "Uncommitted", "never committed", "x" * 3000, 9, "2026-10-22 00:00:00"))
conn.execute("UPDATE dead_letters SET error_message = 'torn' WHERE id <= ?", (start,))
conn.execute("DELETE FROM dead_letters WHERE id > ? AND job_id > 0", (start + count // 2,))
# more work elsewhere pushes the changed dead_letters pages out of the 4-page cache
conn.execute("CREATE TABLE IF NOT EXISTS filler (x BLOB)")
for j in range(pending):
    conn.execute("INSERT INTO filler VALUES (?)", (os.urandom(2000),))
fd = os.open(ready, os.O_WRONLY | os.O_CREAT, 0o644)
os.close(fd)
time.sleep(60)  # SIGKILLed here, inside the transaction
"""


def killed_writer(db: Path, mode: str, committed: int, *, start: int = 1,
                  pending: int = 60) -> None:
    """Commit rows *start* .. *start* + *committed* - 1, then die (SIGKILL) inside a
    transaction that wrote *pending* more rows and rewrote committed ones."""
    ready = db.parent.parent / f".ready-{os.getpid()}-{db.parent.name}"
    ready.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db), mode, str(start),
                             str(committed), str(pending), str(ready)])
    try:
        for _ in range(3000):
            if ready.exists() or proc.poll() is not None:
                break
            time.sleep(0.01)
        assert ready.exists(), f"writer did not reach its transaction (rc={proc.poll()})"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        ready.unlink(missing_ok=True)
    assert proc.returncode == -signal.SIGKILL


@functools.cache
def read_only_mount_works() -> bool:
    """Whether ``unshare -m`` + ``mount --bind -o ro`` gives a folder even root cannot
    write (a private mount namespace: nothing is visible outside the child)."""
    with tempfile.TemporaryDirectory(prefix="syncstats-romount-") as tmp:
        probe = Path(tmp)
        script = 'mount --bind -o ro "$1" "$1" && ! touch "$1/w" 2>/dev/null'
        try:
            done = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", str(probe)],
                                  capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return False
        return done.returncode == 0 and not (probe / "w").exists()


READER = r"""
import json, sys
from syncstats.io import load
from syncstats.io.dlq import _adbc as _fastdlq
from syncstats.io.dlq import reader as dlq
engine, call, target = sys.argv[1], sys.argv[2], sys.argv[3]
engine = "adbc" if engine == "fast" else engine
used = []
if engine == "adbc":
    real = _fastdlq.read_dead_letters
    def spy(uri, *a, **k):
        out = real(uri, *a, **k)
        used.append(not isinstance(out, str))
        return out
    _fastdlq.read_dead_letters = spy
if call == "load":
    data = load(target, engine=engine)
else:
    data = dlq.read_dlq(target, engine=engine)
frame = data.dlq
print(json.dumps({
    "rows": [[int(r.id), int(r.job_id), str(r.error_message)]
             for r in frame.itertuples()],
    "issues": [[str(r.path), str(r.kind), str(r.detail)]
               for r in data.issues.itertuples()],
    "fast": used,
}))
"""


def run_reader(target: Path, *, engine: str = "reference", call: str = "read_dlq",
               read_only: Path | None = None,
               no_dac: bool = False, tmpdir: Path | None = None,
               timeout: float = 60) -> dict[str, Any]:
    """``read_dlq(target, engine=...)`` (or ``load``; *engine* ``"fast"`` means
    ``"adbc"``) in a child process: its rows (id, job_id,
    error_message), issues (path, kind, detail) and fast-path results (True: a frame).

    *read_only*: run in a private mount namespace where that folder is bind-mounted
    read-only. *no_dac*: without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH (permission bits
    bind root). *tmpdir*: the child's ``TMPDIR``.
    """
    cmd = [sys.executable, "-c", READER, engine, call, str(target)]
    if no_dac:
        cmd = [*NO_DAC, *cmd]
    if read_only is not None:
        script = 'mount --bind -o ro "$1" "$1" && shift && exec "$@"'
        cmd = ["unshare", "-m", "sh", "-c", script, "sh", str(read_only), *cmd]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, f"reader failed ({done.returncode}): {done.stderr[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])
