"""Shared machinery of the reliability tests (``tests/test_reliability_*.py``).

- counts: :func:`scaled` picks the fast count (``make test``) or the soak count
  (``SYNCSTATS_SOAK=1``; ``SYNCSTATS_SOAK_SCALE=N`` multiplies the soak counts);
- hang guard: :func:`time_limit` (SIGALRM) turns a hang into a failure;
- input accounting: which units (snapshot files, history lines, log ``Stats:`` lines, DLQ
  rows) a reader was given, and the check that each one is either a row or an issue;
- fingerprints of an input tree (bytes, mtimes, modes and directory listings);
- hostile material: code-executing pickles with a canary file, and a canary data set;
- child-process targets (``multiprocessing`` fork context) for the live-writer and crash
  tests: each reports what it completed on a file, one line per completed operation.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import json
import os
import pickle
import random
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from syncstats.io._issues import ERROR_KINDS

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
#: Run a command without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH: root then obeys permission
#: bits (files of mode 0, folders it may not list), as an ordinary user does.
NO_DAC = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
SOAK = os.environ.get("SYNCSTATS_SOAK", "") not in ("", "0")
SOAK_SCALE = max(1, int(os.environ.get("SYNCSTATS_SOAK_SCALE", "1") or 1))


def scaled(fast: int, soak: int) -> int:
    """*fast* in ``make test``; *soak* (times ``SYNCSTATS_SOAK_SCALE``) when soaking."""
    return soak * SOAK_SCALE if SOAK else fast


# --------------------------------------------------------------------------------------
# Hang guard
# --------------------------------------------------------------------------------------


class Hang(BaseException):
    """Raised by :func:`time_limit`; a BaseException so no ``except Exception`` eats it."""


@contextlib.contextmanager
def time_limit(seconds: float, what: str = "call") -> Iterator[None]:
    """Fail with :class:`Hang` when the block runs longer than *seconds* (main thread)."""

    def on_alarm(signum: int, frame: Any) -> None:
        raise Hang(f"{what} did not finish within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --------------------------------------------------------------------------------------
# Sample material from data/
# --------------------------------------------------------------------------------------


def sample_copy() -> bytes:
    """The bytes of one real hourly copy (indented JSON, as ``save_to_file`` writes)."""
    return (DATA / "worker-a" / "snapshots" / "stats-20261022T000000Z.json").read_bytes()


def sample_history_lines(n: int = 5, source: str = "worker-a") -> list[bytes]:
    """The last *n* lines of a real JSON Lines history (without newlines)."""
    lines = (DATA / source / "history.jsonl").read_bytes().splitlines()
    return lines[-n:]


def sample_log_lines(n: int = 3) -> list[bytes]:
    """*n* real ``Stats:`` lines of each form (logrus file form and console form)."""
    out: list[bytes] = []
    for path in (DATA / "worker-a" / "stash.log", DATA / "worker-b" / "console.log"):
        lines = [ln for ln in path.read_bytes().splitlines() if b"Stats: {" in ln]
        out.extend(lines[-n:])
    return out


# --------------------------------------------------------------------------------------
# Units and accounting
# --------------------------------------------------------------------------------------


def _blank(line: bytes) -> bool:
    return not line.strip(b" \t\r\n\x0b\x0c")


def snapshot_units(files: Iterable[Path]) -> set[str]:
    """What ``read_snapshots`` is given: one unit per copy, one per non-blank history line
    (``path`` or ``path:line``, as the ``origin`` column and the issues name them)."""
    units: set[str] = set()
    for f in files:
        name = f.name.lower()
        if name.endswith((".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")):
            data = f.read_bytes()
            if name.endswith(".gz"):
                try:
                    data = gzip.decompress(data)
                except (OSError, EOFError, ValueError, zlib.error):
                    units.add(str(f))  # unreadable as a whole: the file is the unit
                    continue
            if data.startswith(b"\xef\xbb\xbf"):
                data = data[3:]
            for lineno, line in enumerate(data.split(b"\n"), 1):
                if not _blank(line):
                    units.add(f"{f}:{lineno}")
        else:
            units.add(str(f))
    return units


def issue_units(issues: pd.DataFrame, kinds: Iterable[str] = ERROR_KINDS) -> set[str]:
    """``path`` or ``path:line`` of the issues of the given kinds."""
    sel = issues[issues["kind"].astype("str").isin(set(kinds))]
    return {
        p if pd.isna(line) else f"{p}:{int(line)}"
        for p, line in sel[["path", "line"]].itertuples(index=False)
    }


def error_kinds(issues: pd.DataFrame) -> set[str]:
    return set(issues["kind"].astype("str")) & ERROR_KINDS


def check_accounting(
    rows: pd.DataFrame, issues: pd.DataFrame, units: set[str], *, what: str = ""
) -> None:
    """Every unit is a row, or is named by an error-kind issue (or dropped as a duplicate).

    ``rows + units with an error issue and no row + duplicates == units``. A unit may be
    both a row and an error issue: loaded but altered (an ``overflow`` stored saturated, a
    bad ``total_processing_time`` stored as NaN): the ERROR_KINDS contract.
    A file-level error issue of a history (``path`` without a line) covers its lines.
    """
    origins = list(rows["origin"].astype("str"))
    loaded = set(origins)
    assert len(loaded) == len(origins), f"{what}: a unit gave two rows: {origins}"
    assert loaded <= units, f"{what}: rows from unknown units {sorted(loaded - units)[:5]}"
    errors = issue_units(issues)
    dups = issue_units(issues, ["duplicate"])
    whole_files = {u for u in errors if u not in units}

    def covered(unit: str) -> bool:
        return unit in errors or unit in dups or unit.rpartition(":")[0] in whole_files

    missing = {u for u in units - loaded if not covered(u)}
    assert not missing, f"{what}: units neither loaded nor reported: {sorted(missing)[:5]}"
    not_loaded = units - loaded
    assert len(origins) + len(not_loaded) == len(units)
    stray = {u for u in errors if u not in units and not any(
        v.startswith(u + ":") for v in units)}
    assert not stray, f"{what}: issues about units never given: {sorted(stray)[:5]}"


def check_raise_mode(
    call: Callable[[str], Any], report: Any, error_class: type[Exception], *, what: str = ""
) -> None:
    """``on_error='raise'`` raises *error_class* iff report mode met an error-kind issue;
    otherwise it returns the same frames."""
    from syncstats.exceptions import SyncstatsError

    expect_raise = bool(error_kinds(report.issues))
    try:
        result = call("raise")
    except SyncstatsError as exc:
        assert isinstance(exc, error_class), f"{what}: {type(exc).__name__}: {exc}"
        assert expect_raise, f"{what}: raised {exc} although report mode met no error issue"
        return
    assert not expect_raise, (
        f"{what}: did not raise; report mode met {sorted(error_kinds(report.issues))}"
    )
    pd.testing.assert_frame_equal(result.snapshots, report.snapshots)
    pd.testing.assert_frame_equal(result.dlq, report.dlq)


# --------------------------------------------------------------------------------------
# Input trees
# --------------------------------------------------------------------------------------


def fingerprint(root: Path) -> dict[str, tuple[Any, ...]]:
    """Every entry under *root* (itself included): files by sha256, size, mtime and mode;
    directories by their sorted listing, mtime and mode; symlinks by their target."""
    out: dict[str, tuple[Any, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        st = d.lstat()
        listing = tuple(sorted(os.listdir(d)))
        out[str(d.relative_to(root))] = ("dir", listing, st.st_mtime_ns, st.st_mode)
        for name in filenames + [n for n in dirnames if (d / n).is_symlink()]:
            f = d / name
            st = f.lstat()
            rel = str(f.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(f), st.st_mtime_ns)
            elif stat.S_ISREG(st.st_mode):
                digest = hashlib.sha256(f.read_bytes()).hexdigest()
                out[rel] = ("file", digest, st.st_size, st.st_mtime_ns, st.st_mode)
            else:
                out[rel] = ("other", st.st_mode, st.st_mtime_ns)
    return out


def diff_fingerprints(before: dict[str, tuple[Any, ...]],
                      after: dict[str, tuple[Any, ...]]) -> list[str]:
    changes = [f"new: {k}" for k in sorted(after.keys() - before.keys())]
    changes += [f"gone: {k}" for k in sorted(before.keys() - after.keys())]
    changes += [
        f"changed: {k} {before[k]} -> {after[k]}"
        for k in sorted(before.keys() & after.keys())
        if before[k] != after[k]
    ]
    return changes


def copy_data(dst: Path) -> Path:
    """A copy of data/ (contents and mtimes)."""
    shutil.copytree(DATA, dst, copy_function=shutil.copy2)
    return dst


def make_read_only(root: Path) -> None:
    """``chmod -R a-w``: as root this stops nothing, the fingerprint is the proof."""
    for dirpath, _dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            p = Path(dirpath) / name
            p.chmod(p.stat().st_mode & ~0o222)
        Path(dirpath).chmod(Path(dirpath).stat().st_mode & ~0o222)


def make_writable(root: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(root):
        Path(dirpath).chmod(Path(dirpath).stat().st_mode | 0o200)
        for name in filenames:
            p = Path(dirpath) / name
            p.chmod(p.stat().st_mode | 0o200)


def make_quiescent_wal_dlq(path: Path, rows: int = 3) -> Path:
    """A WAL-mode DLQ whose writer has closed it (no ``-wal``/``-shm`` left)."""
    from syncstats.recording.dlq import DLQ_INDEXES, DLQ_SCHEMA

    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(DLQ_SCHEMA)
    for stmt in DLQ_INDEXES:
        conn.execute(stmt)
    for i in range(1, rows + 1):
        conn.execute(
            "INSERT INTO dead_letters (job_id, scene_id, job_data, error_type, error_message,"
            " stack_trace, retry_count, failed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (i, 100 + i, pickle.dumps({"job_id": i}), "PlexNotFound", f"m {i}", "", 1,
             f"2026-10-21 0{i % 10}:00:00"),
        )
    conn.commit()
    conn.close()
    assert not Path(f"{path}-wal").exists() and not Path(f"{path}-shm").exists()
    return path


# --------------------------------------------------------------------------------------
# Hostile pickles
# --------------------------------------------------------------------------------------


class _Reduce:
    """Pickles as ``func(*args)``: what an attacker's blob looks like."""

    def __init__(self, func: Any, args: tuple[Any, ...]):
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


def evil_pickles(canary: Path, module: str = "syncstats_canary_module") -> dict[str, bytes]:
    """Blobs that, if ever unpickled, create *canary* (or import *module*).

    Each payload at every protocol, alone and nested inside a plausible job dict, plus
    hand-written opcodes (INST, OBJ, STACK_GLOBAL, EXT1, persistent ids).
    """
    c = str(canary)
    import builtins
    import subprocess

    payloads: dict[str, Any] = {
        "os.system": _Reduce(os.system, (f"touch {c}.system",)),
        "builtins.exec": _Reduce(builtins.exec, (f"open({c + '.exec'!r}, 'w').close()",)),
        "builtins.eval": _Reduce(builtins.eval, (f"open({c + '.eval'!r}, 'w')",)),
        "builtins.open": _Reduce(builtins.open, (c + ".open", "w")),
        "subprocess.Popen": _Reduce(subprocess.Popen, (["touch", c + ".popen"],)),
        "os.makedirs": _Reduce(os.makedirs, (c + ".dir",)),
    }
    blobs: dict[str, bytes] = {}
    for name, obj in payloads.items():
        for proto in range(pickle.HIGHEST_PROTOCOL + 1):
            blobs[f"{name}/p{proto}"] = pickle.dumps(obj, protocol=proto)
            job = {"job_id": 1, "scene_id": 2, "data": {"title": obj}, "retry_count": 0}
            blobs[f"{name}/nested/p{proto}"] = pickle.dumps(job, protocol=proto)
    cmd = f"touch {c}.inst".encode()
    blobs["INST os.system"] = b"(S'" + cmd + b"'\nios\nsystem\n."
    blobs["GLOBAL+REDUCE posix.system"] = b"cposix\nsystem\n(S'" + cmd + b"'\ntR."
    blobs["OBJ"] = b"\x80\x02cos\nsystem\n(U" + bytes([len(cmd)]) + cmd + b"o."
    blobs["STACK_GLOBAL"] = (
        b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c" + bytes([len(cmd)]) + cmd + b"\x85R."
    )
    blobs["import module"] = f"c{module}\nboom\n.".encode()
    blobs["import module p4"] = (
        b"\x80\x04\x8c" + bytes([len(module)]) + module.encode() + b"\x8c\x04boom\x93."
    )
    blobs["EXT1"] = b"\x80\x02\x82\x01."
    blobs["persistent id"] = b"\x80\x02X\x01\x00\x00\x00xQ."
    blobs["BUILD on dict"] = b"\x80\x02}X\x01\x00\x00\x00a}b."
    blobs["truncated"] = pickle.dumps({"job_id": 1})[:-3]
    blobs["garbage"] = b"\x00\xff not a pickle"
    return blobs


def canary_files(canary: Path) -> list[Path]:
    """Every file an evil pickle for *canary* would create."""
    return sorted(canary.parent.glob(canary.name + "*"))


def write_canary_module(directory: Path, canary: Path,
                        module: str = "syncstats_canary_module") -> Path:
    """A module that creates the canary when imported (put *directory* on sys.path)."""
    path = directory / f"{module}.py"
    path.write_text(f"open({str(canary) + '.import'!r}, 'w').close()\nboom = 1\n")
    return path


# --------------------------------------------------------------------------------------
# The canary data set of the report run
# --------------------------------------------------------------------------------------

XSS = "<script>alert(1)</script>"
XSS_TYPE = "<script>alert(1)</script>$\\frac{1}{0}$"
XSS_MESSAGE = (
    "<script>alert(1)</script> $\\frac{1}{0}$ $<img src=x onerror=alert(2)>$ "
    "`<b>tick</b>` **bold** | pipe [link](javascript:alert(3)) <img src=x onerror=alert(4)>"
)
#: A source (directory) name an attacker may choose: no "/" but HTML all the same.
XSS_SOURCE = "canary<img src=x onerror=alert(5)>"
#: What must never appear raw in the report's HTML.
XSS_MARKERS = ("<script>alert", "<img src=x", "<b>tick</b>", 'href="javascript:')


def add_canary_source(root: Path, canary: Path) -> Path:
    """A hostile source under *root*: a DLQ of code-executing ``job_data`` and of error
    types/messages with HTML and TeX, and a history whose top error type is HTML.

    The entries are many and recent, so the report's top signature, top DLQ error type
    and top error type of the window are the hostile ones.
    """
    src = root / XSS_SOURCE
    src.mkdir()
    blobs = list(evil_pickles(canary).values())
    conn = sqlite3.connect(src / "dlq.db")
    from syncstats.recording.dlq import DLQ_INDEXES, DLQ_SCHEMA

    conn.execute(DLQ_SCHEMA)
    for stmt in DLQ_INDEXES:
        conn.execute(stmt)
    rows = []
    for i in range(400):
        rows.append((
            9000 + i, 50000 + i, blobs[i % len(blobs)], XSS_TYPE, XSS_MESSAGE,
            f"Traceback: {XSS}", 5, f"2026-10-21 {i % 24:02d}:{i % 60:02d}:00",
        ))
    conn.executemany(
        "INSERT INTO dead_letters (job_id, scene_id, job_data, error_type, error_message,"
        " stack_trace, retry_count, failed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows,
    )
    conn.commit()
    conn.close()
    start = pd.Timestamp("2026-10-20T00:00:00Z")
    lines = []
    for h in range(48):
        failed = 300 * h
        succeeded = 10 * h
        lines.append(json.dumps({
            "jobs_processed": failed + succeeded, "jobs_succeeded": succeeded,
            "jobs_failed": failed, "jobs_to_dlq": 0, "total_processing_time": 0.5 * h,
            "session_start": start.timestamp(), "errors_by_type": {XSS_TYPE: failed},
            "high_confidence_matches": succeeded, "low_confidence_matches": 0,
            "snapshot_at": (start + pd.Timedelta(hours=h)).isoformat(),
        }))
    (src / "history.jsonl").write_text("\n".join(lines) + "\n")
    return src


# --------------------------------------------------------------------------------------
# Child processes (fork context). Each appends one line per completed operation to *out*.
# --------------------------------------------------------------------------------------


def report_line(out: str | os.PathLike[str], text: str) -> None:
    """Append one line with a single ``write`` (O_APPEND): a kill leaves no half line
    that parses."""
    fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (text + "\n").encode())
    finally:
        os.close(fd)


def read_reports(out: str | os.PathLike[str]) -> list[Any]:
    """The complete lines of a report file, JSON-decoded (a torn last line is ignored)."""
    try:
        data = Path(out).read_bytes()
    except FileNotFoundError:
        return []
    lines = data.split(b"\n")
    return [json.loads(line) for line in lines[:-1] if line]


def stats_value(i: int) -> dict[str, Any]:
    """The *i*-th value the in-place writer writes: every field derived from *i*."""
    return {
        "jobs_processed": 3 * i, "jobs_succeeded": 2 * i, "jobs_failed": i,
        "jobs_to_dlq": i // 2, "total_processing_time": i / 4,
        "session_start": 1790812800.0, "errors_by_type": {"PlexNotFound": i},
        "high_confidence_matches": 2 * i, "low_confidence_matches": 0,
        "padding": "x" * (i % 200),
    }


def rewrite_in_place(path: str, stop: str, pause: float, out: str) -> None:
    """The old non-atomic worker: ``open(path, 'w')``, write half, sleep, write the rest."""
    i = 0
    while not os.path.exists(stop):
        i += 1
        text = json.dumps(stats_value(i), indent=2) + "\n"
        cut = random.randrange(1, len(text))
        with open(path, "w") as fh:
            fh.write(text[:cut])
            fh.flush()
            time.sleep(pause)
            fh.write(text[cut:])
        time.sleep(pause * 1.5)
    report_line(out, json.dumps(i))


def log_line(i: int, base: float = 1790812800.0) -> str:
    """The *i*-th ``Stats:`` line of the appending writer (console form, counters = *i*)."""
    when = pd.Timestamp(base + i, unit="s").strftime("%Y-%m-%d %H:%M:%S")
    payload = json.dumps({
        "processed": i, "succeeded": i, "failed": 0, "to_dlq": 0,
        "success_rate": "100.0%", "avg_time_ms": i, "high_confidence": i,
        "low_confidence": 0, "errors_by_type": {},
    })
    return f"INFO[{when}] [Plugin / Stash2Plex] [Stash2Plex Worker] Stats: {payload}\n"


def append_and_rotate(directory: str, stop: str, rotate_every: int, out: str) -> None:
    """Append ``Stats:`` lines in two writes each (a half line is visible in between);
    every *rotate_every* lines rename ``stash.log`` to ``stash.log.1`` and start anew."""
    log = os.path.join(directory, "stash.log")
    i = 0
    while not os.path.exists(stop):
        i += 1
        line = log_line(i).encode()
        cut = random.randrange(1, len(line))
        with open(log, "ab") as fh:
            fh.write(line[:cut])
            fh.flush()
            time.sleep(0.0005)
            fh.write(line[cut:])
        if i % 7 == 0:  # other lines between
            with open(log, "ab") as fh:
                fh.write(b"INFO[2026-10-01 00:00:00] [Plugin / Renamer] renamed \"a\" to \"b\"\n")
        if i % rotate_every == 0:
            os.replace(log, log + ".1")
    report_line(out, json.dumps(i))


def insert_dlq_rows(db: str, wal: bool, batch: int, stop: str, out: str,
                    pause: float = 0.001) -> None:
    """Insert *batch* rows per transaction until *stop* exists (one connection per
    transaction, as the worker's DeadLetterQueue does; *pause* s between them)."""
    from syncstats.recording.dlq import DLQ_SCHEMA

    blob = pickle.dumps({"job_id": 1, "scene_id": 2, "data": {}})
    n = 0
    while not os.path.exists(stop):
        conn = sqlite3.connect(db, timeout=30.0)
        try:
            if wal:
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(DLQ_SCHEMA)
            with conn:
                for _ in range(batch):
                    n += 1
                    conn.execute(
                        "INSERT INTO dead_letters (job_id, scene_id, job_data, error_type,"
                        " error_message, stack_trace, retry_count) VALUES (?,?,?,?,?,?,?)",
                        (n, n, blob, "PlexNotFound", f"Could not find /media/{n}.mp4", "", 1),
                    )
        finally:
            conn.close()
        time.sleep(pause)
    report_line(out, json.dumps(n))


def save_loop(stats: str, out: str, seed: int, max_k: int, saves: int) -> None:
    """One worker: record *k* events (1..max_k), ``save_to_file``, report the counts."""
    from syncstats.recording import SyncStats

    rng = random.Random(seed)
    instance = SyncStats()
    for _ in range(saves):
        k = rng.randint(1, max_k)
        counts = {"jobs_processed": k, "jobs_succeeded": 0, "jobs_failed": 0,
                  "jobs_to_dlq": 0, "high_confidence_matches": 0,
                  "low_confidence_matches": 0, "errors_by_type": {}}
        for _ in range(k):
            if rng.random() < 0.7:
                conf = rng.choice(("high", "low"))
                instance.record_success(0.25, confidence=conf)
                counts["jobs_succeeded"] += 1
                counts[f"{conf}_confidence_matches"] += 1
            else:
                etype = rng.choice(("PlexNotFound", "TimeoutError"))
                to_dlq = rng.random() < 0.3
                instance.record_failure(etype, 0.5, to_dlq=to_dlq)
                counts["jobs_failed"] += 1
                counts["jobs_to_dlq"] += int(to_dlq)
                counts["errors_by_type"][etype] = counts["errors_by_type"].get(etype, 0) + 1
        instance.save_to_file(stats)
        report_line(out, json.dumps(counts))


def sum_counts(reports: Iterable[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {"errors_by_type": {}}
    for rep in reports:
        for key, value in rep.items():
            if key == "errors_by_type":
                for etype, n in value.items():
                    total[key][etype] = total[key].get(etype, 0) + n
            else:
                total[key] = total.get(key, 0) + value
    return total


@functools.cache
def setpriv_works() -> bool:
    """Whether ``setpriv`` can drop CAP_DAC_OVERRIDE so that root obeys mode bits."""
    with tempfile.TemporaryDirectory(prefix="syncstats-setpriv-") as tmp:
        secret = Path(tmp) / "secret"
        secret.write_text("x")
        secret.chmod(0)
        try:
            done = subprocess.run([*NO_DAC, "cat", str(secret)], capture_output=True,
                                  timeout=30)
        except (OSError, subprocess.SubprocessError):
            return False
        return done.returncode != 0 and b"ermission denied" in done.stderr


def run_unprivileged(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run Python *code* (dedented) in a child where permission bits bind, even as root
    (skips the test when that cannot be arranged here)."""
    import pytest

    prefix: list[str] = []
    if os.geteuid() == 0:
        if not setpriv_works():
            pytest.skip("root without a working setpriv: permission bits cannot bind")
        prefix = NO_DAC
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([*prefix, sys.executable, "-c", textwrap.dedent(code)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=120)
