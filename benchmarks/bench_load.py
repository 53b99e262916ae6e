"""Load benchmark: syncstats' readers against naive pandas baselines.

Generates its inputs deterministically (seeded), then measures every reader and its
baseline in a fresh subprocess each (so peak RSS is per run), three runs each in rotation
(one with ``--quick``), and prints the medians. See ``benchmarks/README.md``.

Usage::

    .venv/bin/python benchmarks/bench_load.py [--quick] [--json OUT] [--workdir DIR]
                                              [--only NAME ...] [--reps N] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SEED = 20261001
#: Bump when a generator changes, so that reused inputs (``--workdir``) are regenerated.
GEN_VERSION = 2
#: Full-size record counts; ``--quick`` divides each by QUICK_DIVISOR.
FULL_SIZES = {"jsonl": 1_000_000, "files": 20_000, "dlq": 1_000_000, "log": 1_000_000}
QUICK_DIVISOR = 20
#: Non-``Stats:`` lines per ``Stats:`` line (one of them the "Sync summary:" line).
LOG_NOISE = {"log": 4, "log_noise4x": 16}
#: Input directories of equal length: syncstats keeps "path:line" per row (``origin``), so
#: a longer path would add memory that has nothing to do with the file's size.
INPUT_DIRS = {"log": "log-1x", "log_noise4x": "log-4x"}
WORKLOADS = ("jsonl", "files", "dlq", "log", "log_noise4x")
#: Implementations measured per workload; the first is syncstats.
IMPLS = {
    "jsonl": ("syncstats", "baseline"),
    "files": ("syncstats", "baseline"),
    "dlq": ("syncstats", "baseline_all", "baseline_cols"),
    "log": ("syncstats", "baseline"),
    "log_noise4x": ("syncstats", "baseline"),
}
BASELINE_LABEL = {
    "baseline": "",
    "baseline_all": " (SELECT *)",
    "baseline_cols": " (8 cols)",
}
T0 = 1790812800  # 2026-10-01T00:00:00Z

# ======================================================================================
# Input generation
# ======================================================================================

ERROR_TYPES = (
    "PlexNotFound",
    "PlexTemporaryError",
    "PlexPermanentError",
    "PermanentError",
    "ConnectionResetError",
    "TimeoutError",
)
ERROR_CUM_WEIGHTS = (50, 75, 83, 91, 96, 100)


class Worker:
    """A simulated worker's cumulative ``SyncStats`` (healthy: all invariants hold).

    Starts with one failure of each of the first five error types, so every snapshot
    carries ~5 (later 6) entries in ``errors_by_type``.
    """

    def __init__(self, seed: int, session_start: float):
        self.rng = random.Random(seed)
        self.session_start = session_start
        self.processed = self.failed = 5
        self.succeeded = self.to_dlq = self.high = self.low = 0
        self.tpt = 2.5
        self.errors = dict.fromkeys(ERROR_TYPES[:5], 1)

    def step(self, jobs: int = 10) -> None:
        """Process a batch of *jobs* (the worker saves stats every 10 jobs)."""
        rng = self.rng
        r = rng.random()
        failed = 0 if r < 0.7 else 1 if r < 0.9 else 2 if r < 0.97 else 3
        for et in rng.choices(ERROR_TYPES, cum_weights=ERROR_CUM_WEIGHTS, k=failed):
            self.errors[et] = self.errors.get(et, 0) + 1
        ok = jobs - failed
        low = 1 if ok and rng.random() < 0.05 else 0
        self.processed += jobs
        self.succeeded += ok
        self.failed += failed
        self.high += ok - low
        self.low += low
        if failed and rng.random() < 0.25:
            self.to_dlq += 1
        self.tpt += rng.uniform(2.0, 6.0)

    def stats(self) -> dict[str, Any]:
        """The ``stats.json`` object (FORMATS.md §1)."""
        return {
            "jobs_processed": self.processed,
            "jobs_succeeded": self.succeeded,
            "jobs_failed": self.failed,
            "jobs_to_dlq": self.to_dlq,
            "total_processing_time": round(self.tpt, 4),
            "session_start": self.session_start,
            "errors_by_type": dict(self.errors),
            "high_confidence_matches": self.high,
            "low_confidence_matches": self.low,
        }

    def payload(self) -> dict[str, Any]:
        """The ``Stats:`` log payload (FORMATS.md §3)."""
        p = self.processed
        return {
            "processed": p,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "to_dlq": self.to_dlq,
            "success_rate": f"{100.0 * self.succeeded / p:.1f}%",
            "avg_time_ms": round(self.tpt / p * 1000),
            "high_confidence": self.high,
            "low_confidence": self.low,
            "errors_by_type": dict(self.errors),
        }

    def summary(self) -> str:
        p = self.processed
        return (
            f"Sync summary: {self.succeeded}/{p} succeeded ({100.0 * self.succeeded / p:.1f}%), "
            f"avg {round(self.tpt / p * 1000)}ms, confidence: {self.high} high / {self.low} low"
        )


def _utc(seconds: int, fmt: str) -> str:
    return time.strftime(fmt, time.gmtime(seconds))


def _write_chunks(fh: Any, lines: list[str]) -> None:
    fh.write("".join(lines))
    lines.clear()


def gen_jsonl(out: Path, n: int) -> dict[str, Any]:
    """*n* history lines of 4 interleaved workers (stats object + snapshot_at + source)."""
    sources = [f"worker-{c}" for c in "abcd"]
    workers = [Worker(SEED + i, float(T0 - 3600 * (i + 1))) for i in range(len(sources))]
    path = out / "history.jsonl"
    errors = 0
    buf: list[str] = []
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            k = i % len(sources)
            w = workers[k]
            w.step()
            obj = w.stats()
            obj["snapshot_at"] = _utc(T0 + 7 * i, "%Y-%m-%dT%H:%M:%SZ")
            obj["source"] = sources[k]
            errors += len(obj["errors_by_type"])
            buf.append(json.dumps(obj) + "\n")
            if len(buf) >= 10_000:
                _write_chunks(fh, buf)
        _write_chunks(fh, buf)
    return {"input": str(path), "rows": n, "errors": errors}


def gen_files(out: Path, n: int) -> dict[str, Any]:
    """*n* snapshot copies ``stats-YYYYMMDDTHHMMSSZ.json`` (content as the worker writes it)."""
    d = out / "worker-a"
    d.mkdir(parents=True, exist_ok=True)
    w = Worker(SEED + 100, float(T0 - 3600))
    errors = 0
    for i in range(n):
        w.step()
        obj = w.stats()
        errors += len(obj["errors_by_type"])
        name = _utc(T0 + 600 * i, "stats-%Y%m%dT%H%M%SZ.json")
        (d / name).write_text(json.dumps(obj, indent=2), encoding="utf-8")
    return {"input": str(d), "rows": n, "errors": errors}


_DLQ_TYPES = (
    "PlexNotFound",
    "PermanentError",
    "PlexPermanentError",
    "PlexTemporaryError",
    "ConnectionResetError",
    "TimeoutError",
)
_DLQ_CUM = (40, 60, 75, 90, 95, 100)
_FRAMES = (
    ("/root/.stash/plugins/Stash2Plex/worker/processor.py", "process_job",
     "result = self._sync_scene(job, attempt=attempt)"),
    ("/root/.stash/plugins/Stash2Plex/worker/processor.py", "_sync_scene",
     "item = self.matcher.find(scene, strict=self.config.strict_matching)"),
    ("/root/.stash/plugins/Stash2Plex/plex/matcher.py", "find",
     "candidates = self._search(scene.title, scene.files[0].path)"),
    ("/root/.stash/plugins/Stash2Plex/plex/matcher.py", "_search",
     "return self.client.library.section(self.section).search(title=title)"),
    ("/opt/venv/lib/python3.11/site-packages/plexapi/library.py", "search",
     "return self.fetchItems(key, cls=cls, container_start=start, **kwargs)"),
    ("/opt/venv/lib/python3.11/site-packages/plexapi/base.py", "fetchItems",
     "data = self._server.query(ekey, params=url_kw, headers=headers)"),
    ("/opt/venv/lib/python3.11/site-packages/plexapi/server.py", "query",
     "response = method(url, headers=headers, timeout=timeout, **kwargs)"),
    ("/opt/venv/lib/python3.11/site-packages/plexapi/server.py", "_raise_for_status",
     "raise exceptions.get(response.status_code, BadRequest)(message)"),
)
_STUDIOS = ("Studio Aurora", "Northwind Films", "Blue Harbor", "Kestrel", "Lumen & Co", "Orbit")
_TAGS = ("outdoor", "interview", "4k", "behind the scenes", "remaster", "series", "short")


def _stacks(count: int) -> list[str]:
    """*count* traceback bodies (~1 KB each) differing in their line numbers."""
    rng = random.Random(SEED + 7)
    out = []
    for _ in range(count):
        parts = ["Traceback (most recent call last):\n"]
        for path, func, code in _FRAMES:
            parts.append(f'  File "{path}", line {rng.randint(20, 900)}, in {func}\n    {code}\n')
        out.append("".join(parts))
    return out


def _dlq_message(etype: str, sid: int, i: int) -> str:
    if etype == "PlexNotFound":
        letter = chr(97 + sid % 26)
        return f"Could not find Plex item for path: /media/videos/{letter}/scene_{sid}.mp4"
    if etype == "PermanentError":
        return "Low confidence match skipped (strict_matching=true)"
    if etype == "PlexPermanentError":
        return f"Plex API error: 400 Bad Request (scene {sid})"
    if etype == "PlexTemporaryError":
        return "Plex API error: " + ("503 Service Unavailable", "504 Gateway Timeout")[i % 2]
    if etype == "ConnectionResetError":
        return "[Errno 104] Connection reset by peer"
    return "timed out"


def gen_dlq(out: Path, n: int) -> dict[str, Any]:
    """A ``dlq.db`` with *n* rows: the worker's exact schema and indexes, pickled jobs."""
    from syncstats.recording.dlq import DLQ_INDEXES, DLQ_SCHEMA

    path = out / "dlq.db"
    tmp = out / "dlq.db.part"
    tmp.unlink(missing_ok=True)
    rng = random.Random(SEED + 3)
    stacks = _stacks(256)
    conn = sqlite3.connect(tmp)
    try:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")
        conn.execute(DLQ_SCHEMA)
        sql = (
            "INSERT INTO dead_letters (job_id, scene_id, job_data, error_type, error_message,"
            " stack_trace, retry_count, failed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        )
        batch: list[tuple[Any, ...]] = []
        etypes = rng.choices(_DLQ_TYPES, cum_weights=_DLQ_CUM, k=n)
        for i in range(n):
            etype = etypes[i]
            jid = 100_000 + i
            sid = (i * 7919) % 250_000 + 1
            retry = 5 if etype in ("PlexNotFound", "PlexTemporaryError") else 0
            enq = float(T0 + 2 * i - 3600 - (i % 977))
            scene_path = f"/media/videos/{chr(97 + sid % 26)}/scene_{sid}.mp4"
            job = {
                "job_id": jid,
                "scene_id": sid,
                "update_type": "metadata",
                "data": {
                    "path": scene_path,
                    "title": f"Scene {sid}",
                    "studio": _STUDIOS[sid % len(_STUDIOS)],
                    "performers": [f"Performer {sid % 613}", f"Performer {sid % 419}"],
                    "tags": [_TAGS[sid % 7], _TAGS[(sid // 7) % 7]],
                    "date": f"20{10 + sid % 16}-0{1 + sid % 9}-1{sid % 10}",
                    "rating100": sid % 101,
                },
                "enqueued_at": enq,
                "job_key": f"scene_{sid}_metadata",
                "retry_count": retry,
                "next_retry_at": enq + 300.0 * retry,
                "last_error_type": etype,
            }
            msg = _dlq_message(etype, sid, i)
            trace = f"{stacks[i % 256]}{etype}: {msg}\n"
            failed_at = _utc(T0 + 2 * i, "%Y-%m-%d %H:%M:%S")
            batch.append((jid, sid, pickle.dumps(job), etype, msg, trace, retry, failed_at))
            if len(batch) >= 20_000:
                conn.executemany(sql, batch)
                batch.clear()
        if batch:
            conn.executemany(sql, batch)
        conn.commit()
        for stmt in DLQ_INDEXES:
            conn.execute(stmt)
        conn.commit()
    finally:
        conn.close()
    os.replace(tmp, path)
    return {"input": str(path), "rows": n}


# Go's strconv.Quote (``%q``) as logrus applies it to a field value: backslash and quote
# escaped, control characters as \n/\t/... or \xNN; printable Unicode kept as is.
_GO_CTRL = re.compile(r"[\x00-\x1f\x7f]")
_GO_NAMED = {"\a": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\v": "\\v",
             "\f": "\\f", "\r": "\\r"}


def _go_ctrl(m: re.Match[str]) -> str:
    c = m.group()
    return _GO_NAMED.get(c) or f"\\x{ord(c):02x}"


def go_quote(text: str) -> str:
    """Quote *text* as Go's ``%q`` does (for the generated messages)."""
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    if _GO_CTRL.search(text):
        text = _GO_CTRL.sub(_go_ctrl, text)
    return '"' + text + '"'


_PLUGIN = "[Plugin / Stash2Plex] [Stash2Plex Worker] "
_NOISE = (
    ("info", "[scan] Scanning /media/videos/{c}/scene_{k}.mp4"),
    ("info", "[scan] {p}% complete ({t}/977)"),
    ("debug", '[Plugin / Renamer] Renamed "scene_{k}.mp4" → "Scène {k} – {c}.mp4"'),
    ("warning", _PLUGIN + "Plex API error: 503 Service Unavailable, retrying in 30s (job {k})"),
    ("error", "[Plugin / Stash2Plex] Traceback (most recent call last):\n  File "
              '"/root/.stash/plugins/Stash2Plex/worker/processor.py", line {t}, in process_job\n'
              "PlexNotFound: Could not find Plex item for path: /media/videos/{c}/scene_{k}.mp4"),
    ("info", _PLUGIN + "DLQ contains {t} items: {p} PlexNotFound, 1 PermanentError"),
    ("info", "[Plugin / Tagger] Identify: matched scene {k} with score 0.{p}"),
    ("debug", _PLUGIN + "Processing job scene_{k}_metadata (attempt {a})"),
    ("info", "Generating thumbnails for /media/videos/{c}/scene_{k}.mp4"),
    ("info", "[Plugin / Auto Backup] Backup of stash-go.sqlite finished in {p}.{t}s"),
)


def gen_log(out: Path, n: int, noise: int) -> dict[str, Any]:
    """A logrus file-form host log: *n* ``Stats:`` lines, each after *noise* other lines.

    One of the *noise* lines is the worker's "Sync summary:" line; the others are other
    plugins, scan progress, escaped multi-line tracebacks and a few torn lines. The
    ``Stats:`` lines depend only on the seed, not on *noise*.
    """
    path = out / "host.log"
    w = Worker(SEED + 200, float(T0 - 3600))
    rng = random.Random(SEED + 300 + noise)
    lines = 0
    torn = 0
    errors = 0
    last_s, last_ts = -1, ""
    buf: list[str] = []

    def stamp() -> str:
        nonlocal last_s, last_ts
        s = T0 + lines // 2
        if s != last_s:
            last_s, last_ts = s, _utc(s, "%Y-%m-%d %H:%M:%S")
        return last_ts

    # The templates' variable parts need no escaping: quote each template once.
    noise_lines = [f'time="{{ts}}" level={level} msg={go_quote(tmpl)}\n' for level, tmpl in _NOISE]
    rand = rng.random
    with open(path, "w", encoding="utf-8") as fh:
        for _ in range(n):
            w.step()
            for j in rng.choices(range(len(noise_lines)), k=noise - 1):
                k = int(rand() * 249_999) + 1
                line = noise_lines[j].format(ts=stamp(), c=chr(97 + k % 26), k=k, p=k % 100,
                                             t=k % 977, a=1 + k % 5)
                if k % 100_000 == 7:  # a torn line (non-atomic append)
                    line = line[: len(line) // 2] + "\n"
                    torn += 1
                buf.append(line)
                lines += 1
            buf.append(f'time="{stamp()}" level=info msg={go_quote(_PLUGIN + w.summary())}\n')
            lines += 1
            payload = json.dumps(w.payload())
            errors += len(w.errors)
            msg = go_quote(_PLUGIN + "Stats: " + payload)
            buf.append(f'time="{stamp()}" level=info msg={msg}\n')
            lines += 1
            if len(buf) >= 20_000:
                _write_chunks(fh, buf)
        _write_chunks(fh, buf)
    return {"input": str(path), "rows": n, "lines": lines, "torn_noise_lines": torn,
            "errors": errors}


def _gen_log(noise: int):
    def gen(out: Path, n: int) -> dict[str, Any]:
        return gen_log(out, n, noise)

    return gen


GENERATORS = {
    "jsonl": gen_jsonl,
    "files": gen_files,
    "dlq": gen_dlq,
    "log": _gen_log(LOG_NOISE["log"]),
    "log_noise4x": _gen_log(LOG_NOISE["log_noise4x"]),
}


def _size_of(path: Path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    return path.stat().st_size


def prepare(workload: str, root: Path, n: int) -> dict[str, Any]:
    """Generate (or reuse) the input of *workload*; return its manifest."""
    params = {"workload": workload, "n": n, "seed": SEED, "version": GEN_VERSION}
    if workload.startswith("log"):
        params["noise_per_stats"] = LOG_NOISE[workload]
        params["dir"] = INPUT_DIRS[workload]
    manifest_path = root / f"manifest-{workload}.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("params") == params and Path(manifest["input"]).exists():
            manifest["reused"] = True
            return manifest
    out = root / INPUT_DIRS.get(workload, workload)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    log(f"generating {workload} (n={n:,}) in {out} ...")
    t0 = time.perf_counter()
    info = GENERATORS[workload](out, n)
    seconds = time.perf_counter() - t0
    manifest = {
        "params": params,
        **info,
        "bytes": _size_of(Path(info["input"])),
        "generation_seconds": round(seconds, 2),
    }
    manifest_path.write_text(json.dumps(manifest, indent=2))
    manifest["reused"] = False
    log(f"  done in {seconds:.1f} s, {manifest['bytes'] / 1e6:,.1f} MB")
    return manifest


def warm(path: Path) -> None:
    """Read *path* (file or directory) once so every measured run starts page-cache warm."""
    files = sorted(path.iterdir()) if path.is_dir() else [path]
    for f in files:
        with open(f, "rb") as fh:
            while fh.read(1 << 24):
                pass


# ======================================================================================
# Measured implementations (run inside the child)
# ======================================================================================


def ss_snapshots(path: str) -> dict[str, int]:
    from syncstats import read_snapshots

    data = read_snapshots(path)
    return {"rows": len(data.snapshots), "errors": len(data.errors), "issues": len(data.issues)}


def ss_dlq(path: str) -> dict[str, int]:
    from syncstats import read_dlq

    data = read_dlq(path)
    return {"rows": len(data.dlq), "issues": len(data.issues)}


def ss_log(path: str) -> dict[str, int]:
    from syncstats import read_log

    data = read_log(path)
    return {"rows": len(data.snapshots), "errors": len(data.errors), "issues": len(data.issues)}


def base_jsonl(path: str) -> dict[str, int]:
    """json.loads per line, DataFrame(list of dicts), a Python loop for errors_by_type."""
    import pandas as pd

    records = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            records.append(json.loads(line))
    snapshots = pd.DataFrame(records)
    snapshots["snapshot_at"] = pd.to_datetime(snapshots["snapshot_at"], utc=True, format="ISO8601")
    long = []
    for rec in records:
        for etype, count in (rec.get("errors_by_type") or {}).items():
            long.append({"source": rec.get("source"), "snapshot_at": rec["snapshot_at"],
                         "error_type": etype, "count": count})
    errors = pd.DataFrame(long)
    return {"rows": len(snapshots), "errors": len(errors)}


def base_files(path: str) -> dict[str, int]:
    """open + json.load per file, DataFrame(list of dicts)."""
    import pandas as pd

    records = []
    for f in sorted(Path(path).glob("*.json")):
        with open(f, encoding="utf-8") as fh:
            obj = json.load(fh)
        obj["file"] = f.name
        records.append(obj)
    return {"rows": len(pd.DataFrame(records))}


def base_dlq_all(path: str) -> dict[str, int]:
    import pandas as pd

    conn = sqlite3.connect(path)
    try:
        frame = pd.read_sql_query("SELECT * FROM dead_letters", conn)
    finally:
        conn.close()
    return {"rows": len(frame)}


def base_dlq_cols(path: str) -> dict[str, int]:
    import pandas as pd

    conn = sqlite3.connect(path)
    try:
        frame = pd.read_sql_query(
            "SELECT id, job_id, scene_id, error_type, error_message, stack_trace, retry_count,"
            " failed_at FROM dead_letters",
            conn,
        )
    finally:
        conn.close()
    return {"rows": len(frame)}


_BASE_STATS = re.compile(
    r'^time="([^"]*)" level=\w+ msg="\[Plugin / Stash2Plex\] \[Stash2Plex Worker\] '
    r'Stats: (\{.*\})"$'
)


def base_log(path: str) -> dict[str, int]:
    """A regex on every line, naive unescape + json.loads on matches, DataFrame."""
    import pandas as pd

    records = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            m = _BASE_STATS.match(line.rstrip("\n"))
            if m:
                payload = json.loads(m.group(2).replace('\\"', '"').replace("\\\\", "\\"))
                payload["time"] = m.group(1)
                records.append(payload)
    frame = pd.DataFrame(records)
    if len(frame):
        frame["time"] = pd.to_datetime(frame["time"], format="%Y-%m-%d %H:%M:%S", utc=True)
    return {"rows": len(frame)}


CHILD_FUNCS = {
    ("jsonl", "syncstats"): ss_snapshots,
    ("jsonl", "baseline"): base_jsonl,
    ("files", "syncstats"): ss_snapshots,
    ("files", "baseline"): base_files,
    ("dlq", "syncstats"): ss_dlq,
    ("dlq", "baseline_all"): base_dlq_all,
    ("dlq", "baseline_cols"): base_dlq_cols,
    ("log", "syncstats"): ss_log,
    ("log", "baseline"): base_log,
    ("log_noise4x", "syncstats"): ss_log,
    ("log_noise4x", "baseline"): base_log,
}


def _proc_status(key: str) -> float:
    """A ``/proc/self/status`` memory field in MB (NaN where /proc is missing)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


#: The sources the readers run (fingerprinted per run: which reader version was measured).
READER_SOURCES = ("io/*.py", "schemas.py", "exceptions.py", "recording/safepickle.py")


def source_fingerprint() -> str:
    """sha256 (12 hex digits) of the readers' sources in the imported syncstats."""
    import hashlib

    import syncstats

    h = hashlib.sha256()
    pkg = Path(syncstats.__file__).parent
    for f in sorted(f for pat in READER_SOURCES for f in pkg.glob(pat)):
        h.update(str(f.relative_to(pkg)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:12]


def child(workload: str, impl: str, path: str, expect: dict[str, int], profile: int) -> None:
    """Run one measurement; print warnings, then one JSON line with the result."""
    import pandas  # noqa: F401  (imported before timing, for every implementation)

    import syncstats  # noqa: F401

    func = CHILD_FUNCS[workload, impl]
    fingerprint = source_fingerprint()
    rss_import = _proc_status("VmRSS")
    if profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        counts = func(path)
        prof.disable()
        pstats.Stats(prof, stream=sys.stdout).sort_stats("cumulative").print_stats(profile)
        return
    c0 = time.process_time()
    t0 = time.perf_counter()
    counts = func(path)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    peak = _proc_status("VmHWM")
    warnings = []
    for key in ("rows", "errors"):
        if key in counts and expect.get(key) is not None and counts[key] != expect[key]:
            warnings.append(f"{workload}/{impl}: {key}={counts[key]:,} but the generator "
                            f"wrote {expect[key]:,}")
    if counts.get("issues"):
        warnings.append(f"{workload}/{impl}: syncstats reported {counts['issues']:,} issue(s)")
    for w in warnings:
        print("WARNING: " + w)
    result = {"seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": peak,
              "import_rss_mb": rss_import, "counts": counts, "warnings": warnings,
              "syncstats_fingerprint": fingerprint}
    print(json.dumps(result))


# ======================================================================================
# Parent: orchestration and report
# ======================================================================================


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_child(
    workload: str, impl: str, manifest: dict[str, Any], profile: int = 0
) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; add the kernel's ru_maxrss for it."""
    expect = {k: manifest.get(k) for k in ("rows", "errors")}
    cmd = [sys.executable, os.path.abspath(__file__), "--child", workload, impl,
           manifest["input"], json.dumps(expect), str(profile)]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env)
        assert proc.stdout is not None
        out = proc.stdout.read().decode()
        proc.stdout.close()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    if profile:
        return {"profile": out, "stderr": stderr}
    lines = out.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        log(f"ERROR: {workload}/{impl} exited with {proc.returncode}:\n{tail}")
        return {"failed": True, "returncode": proc.returncode, "stderr_tail": tail}
    result = json.loads(lines[-1])
    for line in lines[:-1]:
        log(line)
    # ru_maxrss of this child alone (KiB on Linux): a cross-check of VmHWM.
    result["ru_maxrss_mb"] = usage.ru_maxrss / 1024
    # Other processes on the machine inflate wall time (not CPU time): record the load.
    result["loadavg_1min_before"] = load_before
    return result


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if not r.get("failed")]
    return statistics.median(values) if values else None


def measure(workload: str, manifest: dict[str, Any], reps: int) -> dict[str, Any]:
    impls = IMPLS[workload]
    runs: dict[str, list[dict[str, Any]]] = {impl: [] for impl in impls}
    warm(Path(manifest["input"]))
    for rep in range(reps):
        order = impls[rep % len(impls):] + impls[: rep % len(impls)]
        for impl in order:
            res = run_child(workload, impl, manifest)
            runs[impl].append(res)
            if not res.get("failed"):
                log(f"  {workload:<12} {impl:<14} run {rep + 1}/{reps}: "
                    f"{res['seconds']:8.2f} s  peak {res['peak_rss_mb']:8.1f} MB  "
                    f"{res['counts']}")
    out: dict[str, Any] = {}
    for impl, rs in runs.items():
        ok = [r for r in rs if not r.get("failed")]
        out[impl] = {
            "runs": rs,
            "median_seconds": _median(rs, "seconds"),
            "median_cpu_seconds": _median(rs, "cpu_seconds"),
            "median_peak_rss_mb": _median(rs, "peak_rss_mb"),
            "median_import_rss_mb": _median(rs, "import_rss_mb"),
            "median_ru_maxrss_mb": _median(rs, "ru_maxrss_mb"),
            "rows": ok[0]["counts"]["rows"] if ok else None,
            "counts": ok[0]["counts"] if ok else None,
        }
    ss_rows = out["syncstats"]["rows"]
    mismatches = []
    for impl in impls[1:]:
        b = out[impl]
        if ss_rows is not None and b["rows"] is not None and b["rows"] != ss_rows:
            mismatches.append(f"{workload}: syncstats loaded {ss_rows:,} rows, {impl} "
                              f"{b['rows']:,}")
        s, bs = out["syncstats"]["median_seconds"], b["median_seconds"]
        b["ratio"] = bs / s if s and bs else None
        sc, bc = out["syncstats"]["median_cpu_seconds"], b["median_cpu_seconds"]
        b["ratio_cpu"] = bc / sc if sc and bc else None
    ss_err = (out["syncstats"]["counts"] or {}).get("errors")
    base_err = (out.get("baseline", {}).get("counts") or {}).get("errors")
    if ss_err is not None and base_err is not None and ss_err != base_err:
        mismatches.append(f"{workload}: syncstats has {ss_err:,} error rows, baseline "
                          f"{base_err:,}")
    for m in mismatches:
        log("WARNING: row counts disagree: " + m)
    out["row_count_mismatches"] = mismatches
    return out


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def table(results: dict[str, Any], manifests: dict[str, Any]) -> str:
    head = ("workload", "input MB", "rows", "syncstats s", "baseline s", "ratio b/s", "CPU ratio",
            "syncstats RSS MB", "baseline RSS MB", "rows/s (syncstats)")
    rows = []
    for wl, res in results.items():
        man = manifests[wl]
        ss = res["syncstats"]
        rows_in = man["rows"]
        for impl in IMPLS[wl][1:]:
            b = res[impl]
            rate = rows_in / ss["median_seconds"] if ss["median_seconds"] else None
            rows.append((
                wl + BASELINE_LABEL[impl],
                _fmt(man["bytes"] / 1e6, ",.1f"),
                f"{rows_in:,}" + (f" ({man['lines']:,} lines)" if "lines" in man else ""),
                _fmt(ss["median_seconds"], ".2f"),
                _fmt(b["median_seconds"], ".2f"),
                _fmt(b.get("ratio"), ".2f"),
                _fmt(b.get("ratio_cpu"), ".2f"),
                _fmt(ss["median_peak_rss_mb"], ",.0f"),
                _fmt(b["median_peak_rss_mb"], ",.0f"),
                _fmt(rate, ",.0f"),
            ))
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]

    def line(cells: tuple[str, ...]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        return "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs) + " |"

    sep = "|" + "|".join("-" * (w + 1) + ":" if i else ":" + "-" * (w + 1)
                         for i, w in enumerate(widths)) + "|"
    return "\n".join([line(head), sep, *(line(r) for r in rows)])


def memory_flatness(results: dict[str, Any], manifests: dict[str, Any]) -> dict[str, Any] | None:
    if "log" not in results or "log_noise4x" not in results:
        return None
    out: dict[str, Any] = {
        "input_mb": {wl: manifests[wl]["bytes"] / 1e6 for wl in ("log", "log_noise4x")},
        "lines": {wl: manifests[wl]["lines"] for wl in ("log", "log_noise4x")},
        "stats_lines": manifests["log"]["rows"],
    }
    d_in = out["input_mb"]["log_noise4x"] - out["input_mb"]["log"]
    for impl in ("syncstats", "baseline"):
        a = results["log"][impl]["median_peak_rss_mb"]
        b = results["log_noise4x"][impl]["median_peak_rss_mb"]
        if a is None or b is None:
            continue
        out[impl] = {"peak_rss_mb_1x": a, "peak_rss_mb_4x": b, "delta_mb": b - a,
                     "delta_per_input_mb": (b - a) / d_in if d_in else None}
    return out


def describe_flatness(flat: dict[str, Any]) -> str:
    a, b = flat["input_mb"]["log"], flat["input_mb"]["log_noise4x"]
    text = [f"Log memory vs file size (same {flat['stats_lines']:,} Stats lines; "
            f"{flat['lines']['log']:,} vs {flat['lines']['log_noise4x']:,} lines, "
            f"{a:,.0f} MB vs {b:,.0f} MB, +{b - a:,.0f} MB):"]
    for impl in ("syncstats", "baseline"):
        if impl in flat:
            f = flat[impl]
            text.append(f"  {impl:<9} peak RSS {f['peak_rss_mb_1x']:,.0f} MB -> "
                        f"{f['peak_rss_mb_4x']:,.0f} MB (delta {f['delta_mb']:+,.0f} MB, "
                        f"{f['delta_per_input_mb']:+.3f} MB per input MB)")
    return "\n".join(text)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        workload, impl, path, expect, profile = argv[1:6]
        child(workload, impl, path, json.loads(expect), int(profile))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help=f"1/{QUICK_DIVISOR} of every input, one run per measurement")
    ap.add_argument("--json", metavar="OUT", help="write every number to OUT (JSON)")
    ap.add_argument("--workdir", metavar="DIR",
                    help="generate inputs under DIR (kept; reused when present) instead "
                         "of a temporary directory")
    ap.add_argument("--only", nargs="+", metavar="NAME", choices=WORKLOADS,
                    help="workloads to run ('log' includes log_noise4x)")
    ap.add_argument("--reps", type=int, help="runs per measurement (default 3, 1 with --quick)")
    ap.add_argument("--profile", type=int, nargs="?", const=10, metavar="N", default=0,
                    help="instead of timing, print syncstats' top N functions by cumtime "
                         "(cProfile) for each workload")
    args = ap.parse_args(argv)

    selected = list(WORKLOADS)
    if args.only:
        wanted = set(args.only) | ({"log_noise4x"} if "log" in args.only else set())
        selected = [w for w in WORKLOADS if w in wanted]
    reps = args.reps or (1 if args.quick else 3)
    scale = "quick" if args.quick else "full"
    if args.workdir:
        root = Path(args.workdir) / scale
        root.mkdir(parents=True, exist_ok=True)
        cleanup = None
    else:
        cleanup = tempfile.mkdtemp(prefix="syncstats-bench-")
        root = Path(cleanup)
    try:
        manifests = {}
        for wl in selected:
            base = "log" if wl.startswith("log") else wl
            n = FULL_SIZES[base] // (QUICK_DIVISOR if args.quick else 1)
            manifests[wl] = prepare(wl, root, n)
        if args.profile:
            for wl in selected:
                warm(Path(manifests[wl]["input"]))
                res = run_child(wl, "syncstats", manifests[wl], profile=args.profile)
                print(f"### cProfile: syncstats on {wl} ({manifests[wl]['rows']:,} rows)")
                print(res["profile"])
            return 0
        results = {}
        for wl in selected:
            log(f"measuring {wl} ({reps} run(s) each) ...")
            results[wl] = measure(wl, manifests[wl], reps)
    finally:
        if cleanup:
            shutil.rmtree(cleanup, ignore_errors=True)

    report = table(results, manifests)
    print(f"\nsyncstats load benchmark ({scale} size, median of {reps} run(s), each in a "
          "fresh process; ratio = baseline s / syncstats s, > 1 means syncstats is faster; CPU "
          "ratio = the same on process CPU time, which other load on the machine inflates "
          "less)\n")
    print(report)
    flat = memory_flatness(results, manifests)
    if flat:
        print()
        print(describe_flatness(flat))
    gen = {wl: (m["generation_seconds"], m["reused"]) for wl, m in manifests.items()}
    print("\nInput generation: " + ", ".join(
        f"{wl} {s:.1f} s" + (" (reused)" if reused else "") for wl, (s, reused) in gen.items()))
    loads = [run["loadavg_1min_before"] for wl, r in results.items() for impl in IMPLS[wl]
             for run in r[impl]["runs"] if "loadavg_1min_before" in run]
    if loads:
        print(f"1-min load average before each run ({os.cpu_count()} CPUs): min "
              f"{min(loads):.2f}, median {statistics.median(loads):.2f}, max {max(loads):.2f}")
    problems = [m for r in results.values() for m in r["row_count_mismatches"]]
    per_wl = {wl: list(dict.fromkeys(run["syncstats_fingerprint"] for run in r["syncstats"]["runs"]
                                     if "syncstats_fingerprint" in run))
              for wl, r in results.items()}
    print("syncstats reader fingerprint per workload: "
          + "; ".join(f"{wl} {'/'.join(fps)}" for wl, fps in per_wl.items()))
    for wl, fps in per_wl.items():
        if len(fps) > 1:
            problems.append(f"{wl}: the readers' sources changed between runs ({len(fps)} "
                            "versions measured); its median mixes versions")
    problems += [w for wl, r in results.items() for impl in IMPLS[wl]
                 for run in r[impl]["runs"] for w in run.get("warnings", [])]
    failed = [f"{wl}/{impl}" for wl, r in results.items() for impl in IMPLS[wl]
              if any(run.get("failed") for run in r[impl]["runs"])]
    if problems or failed:
        print("\nWarnings:")
        for p in dict.fromkeys(problems):
            print("  " + p)
        for f in failed:
            print(f"  {f}: a run failed (see stderr)")
    if args.json:
        import numpy
        import pandas

        doc = {
            "meta": {
                "scale": scale,
                "reps": reps,
                "seed": SEED,
                "generator_version": GEN_VERSION,
                "python": sys.version.split()[0],
                "pandas": pandas.__version__,
                "numpy": numpy.__version__,
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
            "inputs": manifests,
            "results": results,
            "memory_flatness": flat,
            "warnings": list(dict.fromkeys(problems)),
            "failed": failed,
            "table": report,
        }
        Path(args.json).write_text(json.dumps(doc, indent=2))
        log(f"wrote {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
