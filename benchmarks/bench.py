"""syncstats benchmark: its readers and its analysis against naive baselines.

Generates its inputs deterministically (seeded), then measures every workload (five
readers and ``increments`` + ``trend``) and its baselines in a fresh subprocess each (so
peak RSS is per run), three runs each in rotation (one with ``--quick``), and prints the
medians. See ``benchmarks/README.md``.

Usage::

    .venv/bin/python benchmarks/bench.py [--quick] [--json OUT] [--workdir DIR]
                                         [--only NAME ...] [--reps N] [--profile [N]]
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
FULL_SIZES = {"jsonl": 1_000_000, "files": 20_000, "dlq": 1_000_000, "log": 1_000_000,
              "analysis": 10_000_000}
QUICK_DIVISOR = 20
#: Non-``Stats:`` lines per ``Stats:`` line (one of them the "Sync summary:" line).
LOG_NOISE = {"log": 4, "log_noise4x": 16}
#: Input directories of equal length: syncstats keeps "path:line" per row (``origin``), so
#: a longer path would add memory that has nothing to do with the file's size.
INPUT_DIRS = {"log": "log-1x", "log_noise4x": "log-4x"}
WORKLOADS = ("jsonl", "files", "dlq", "log", "log_noise4x", "analysis")
#: Implementations measured per workload; the first is syncstats.
IMPLS = {
    "jsonl": ("syncstats", "baseline"),
    "files": ("syncstats", "baseline"),
    "dlq": ("syncstats", "baseline_all", "baseline_cols"),
    "log": ("syncstats", "baseline"),
    "log_noise4x": ("syncstats", "baseline"),
    "analysis": ("syncstats", "baseline_zip", "baseline_numpy"),
}
BASELINE_LABEL = {
    "baseline": "",
    "baseline_all": " (SELECT *)",
    "baseline_cols": " (8 cols)",
    "baseline_zip": " (zip loop, 1/10 of the rows, s x10)",
    "baseline_numpy": " (numpy sort+diff+bincount)",
}
#: Sources of the analysis input (its rows are split evenly among them).
ANALYSIS_SOURCES = 1000
#: The zip-loop baseline runs on the first 1/ZIP_SCALE of the sources (whole histories)
#: and its time is multiplied by ZIP_SCALE: at full size a Python loop over 10M rows would
#: take a minute per run and 5+ GB for its per-row objects.
ZIP_SCALE = 10
#: Bumped when the analysis generator changes (its inputs are regenerated).
ANALYSIS_VERSION = 1
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
        """The ``stats.json`` object (docs/formats.md §1)."""
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
        """The ``Stats:`` log payload (docs/formats.md §3)."""
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


def _analysis_chunk(rng: Any, sources: range, k: int, categories: Any) -> Any:
    """Snapshots of *sources* (k each) as a ``snapshots`` frame (syncstats.schemas).

    Every source saves every 5 minutes (+0-59 s jitter, from a per-source offset), its
    counters growing by 0-20 attempts per interval with all invariants holding; about
    one snapshot in 2,000 is a reset: the counters restart from what happened since
    (a counter drop) with a new ``session_start``.
    """
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    s = len(sources)
    step = rng.integers(0, 21, size=(s, k))
    failed = rng.binomial(step, 0.1)
    to_dlq = rng.binomial(failed, 0.2)
    ok = step - failed
    low = rng.binomial(ok, 0.04)
    tpt = step * rng.uniform(0.3, 0.6, size=(s, k))
    reset = rng.random((s, k)) < 1 / 2000
    reset[:, 0] = False
    base = rng.integers(0, 5000, size=s)  # attempts before the first snapshot
    offset = rng.integers(0, 300, size=s)
    seconds = T0 + offset[:, None] + 300 * np.arange(k)[None, :] + rng.integers(0, 60, (s, k))
    times = seconds * 1_000_000

    def cumulative(x: Any, start: Any) -> Any:
        # running sum that restarts at each reset: subtract the sum before the last reset
        total = np.cumsum(x, axis=1)
        before = np.where(reset, total - x, -start[:, None])
        return total - np.maximum.accumulate(before, axis=1)

    b_ok = base * 9 // 10
    b_low = b_ok // 25
    b_failed = base - b_ok
    counters = {
        "jobs_processed": cumulative(step, base),
        "jobs_succeeded": cumulative(ok, b_ok),
        "jobs_failed": cumulative(failed, b_failed),
        "jobs_to_dlq": cumulative(to_dlq, b_failed // 5),
        "high_confidence_matches": cumulative(ok - low, b_ok - b_low),
        "low_confidence_matches": cumulative(low, b_low),
    }
    tpt_cum = np.round(cumulative(tpt, base * 0.45), 4)
    restart = np.maximum.accumulate(np.where(reset, times - 1_000_000, 0), axis=1)
    session = np.where(restart > 0, restart, (T0 - 86400) * 1_000_000)
    n = s * k
    code = np.repeat(np.asarray(sources), k)
    names = pa.array(np.asarray(categories, dtype=object)[code], pa.string())
    line = pc.cast(pa.array(np.tile(np.arange(1, k + 1), s)), pa.string())
    origin = pc.binary_join_element_wise(pc.binary_join_element_wise("fleet/", names, ""),
                                         pc.binary_join_element_wise(".jsonl:", line, ""), "")
    utc = pd.DatetimeTZDtype(unit="us", tz="UTC")
    frame = pd.DataFrame({
        "source": pd.Categorical.from_codes(code, categories=categories),
        "snapshot_at": pd.Series(times.ravel().view("M8[us]"), dtype=utc),
        "session_start": pd.Series(session.ravel().view("M8[us]"), dtype=utc),
        **{c: v.ravel() for c, v in counters.items()},
        "total_processing_time": tpt_cum.ravel(),
        "time_from": pd.Categorical.from_codes(np.zeros(n, dtype=np.int8),
                                               categories=pd.Index(["field"], dtype="str")),
        "origin": pd.Series(pd.arrays.ArrowStringArray(origin)).astype("str"),
    })
    return frame


def gen_analysis(out: Path, n: int) -> dict[str, Any]:
    """A ``snapshots`` frame of *n* rows (ANALYSIS_SOURCES sources, sorted by source and
    time as the readers return it) in ``analysis.parquet``, and its first 1/ZIP_SCALE of
    the sources in ``analysis-zip.parquet`` (the zip-loop baseline's input)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from syncstats import schemas

    k = n // ANALYSIS_SOURCES
    categories = pd.Index([f"worker-{i:04d}" for i in range(ANALYSIS_SOURCES)], dtype="str")
    rng = np.random.default_rng(SEED + 500)
    path, zip_path = out / "analysis.parquet", out / "analysis-zip.parquet"
    zip_sources = ANALYSIS_SOURCES // ZIP_SCALE
    writers: dict[str, Any] = {}
    resets = 0
    # 50 sources at a time: the generator's arrays stay small (~0.5 GB at full size)
    for first in range(0, ANALYSIS_SOURCES, 50):
        chunk = _analysis_chunk(rng, range(first, first + 50), k, categories)
        schemas.validate(chunk, schemas.SNAPSHOTS)
        resets += int((chunk["session_start"].diff() > pd.Timedelta(0)).sum())
        table = pa.Table.from_pandas(chunk, preserve_index=False)
        targets = [path] + ([zip_path] if first < zip_sources else [])
        for target in targets:
            if target.name not in writers:
                writers[target.name] = pq.ParquetWriter(target, table.schema)
            writers[target.name].write_table(table, row_group_size=1 << 20)
    for w in writers.values():
        w.close()
    return {"input": str(path), "zip_input": str(zip_path), "rows": k * ANALYSIS_SOURCES,
            "zip_rows": k * zip_sources, "sources": ANALYSIS_SOURCES,
            "zip_sources": zip_sources, "resets": resets,
            "intervals": (k - 1) * ANALYSIS_SOURCES}


GENERATORS = {
    "jsonl": gen_jsonl,
    "files": gen_files,
    "dlq": gen_dlq,
    "log": _gen_log(LOG_NOISE["log"]),
    "log_noise4x": _gen_log(LOG_NOISE["log_noise4x"]),
    "analysis": gen_analysis,
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
    if workload == "analysis":  # numpy's random streams may change between its versions
        import numpy

        params.update(analysis_version=ANALYSIS_VERSION, numpy=numpy.__version__,
                      sources=ANALYSIS_SOURCES, zip_scale=ZIP_SCALE)
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


HOUR_US = 3_600_000_000
COUNTER_COLUMNS = ("jobs_processed", "jobs_succeeded", "jobs_failed", "jobs_to_dlq",
                   "high_confidence_matches", "low_confidence_matches")


def load_snapshots_parquet(path: str) -> Any:
    """The analysis input, loaded (and its schema checked) before the clock starts."""
    import pandas as pd

    from syncstats import schemas

    return schemas.validate(pd.read_parquet(path), schemas.SNAPSHOTS)


def _source_checks(names: Any, hours: Any, processed: Any, succeeded: Any, failed: Any,
                   to_dlq: Any, tpt: Any) -> dict[str, list[float]]:
    """Per source: totals of the hourly sums and hour-weighted totals (a bucket moved to
    another hour changes them), the number of hours with attempts, and the processing
    time (float: compared with a tolerance)."""
    import pandas as pd

    frame = pd.DataFrame({"source": names, "hour": hours, "processed": processed,
                          "succeeded": succeeded, "failed": failed, "to_dlq": to_dlq,
                          "tpt": tpt})
    frame = frame[frame["processed"] > 0]
    frame = frame.assign(wp=frame["processed"] * frame["hour"], wf=frame["failed"] * frame["hour"],
                         buckets=1)
    cols = ["processed", "succeeded", "failed", "to_dlq", "wp", "wf", "buckets", "tpt"]
    g = frame.groupby("source", observed=True)[cols].sum()
    return {str(k): [int(x) for x in row[:-1]] + [float(row[-1])]
            for k, row in zip(g.index, g.to_numpy(dtype=object).tolist(), strict=True)}


def ss_analysis(frame: Any) -> Any:
    """syncstats: ``increments`` then hourly ``trend`` per source."""
    import syncstats

    inc = syncstats.increments(frame)
    return frame, inc, syncstats.trend(inc, "1h", by="source")


def ss_analysis_counts(out: Any) -> dict[str, Any]:
    import numpy as np

    frame, inc, trend = out
    hours = trend["bucket"].to_numpy(dtype="datetime64[us]").view(np.int64) // HOUR_US
    tpt = trend["avg_processing_time"].fillna(0).to_numpy() * trend["processed"].to_numpy()
    kinds = inc["kind"].value_counts()
    return {"rows": len(frame), "intervals": len(inc), "trend_rows": len(trend),
            "resets": int(kinds.get("reset", 0)), "implausible": int(kinds.get("implausible", 0)),
            "per_source": _source_checks(trend["source"].astype(str).to_numpy(), hours,
                                         trend["processed"].to_numpy(),
                                         trend["succeeded"].to_numpy(), trend["failed"].to_numpy(),
                                         trend["to_dlq"].to_numpy(), tpt)}


def base_zip(frame: Any) -> Any:
    """A plain-Python loop over ``zip`` of the columns (as lists): per source, the
    difference to the previous snapshot, or the new values after a reset (a counter
    dropped or ``session_start`` changed), summed per (source, hour of the end time,
    right-closed). The input is sorted by source and time, as the readers return it."""
    n = len(frame)
    columns = [
        frame["source"].tolist(),
        frame["snapshot_at"].to_numpy(dtype="datetime64[us]").view("int64").tolist(),
        frame["session_start"].to_numpy(dtype="datetime64[us]").view("int64").tolist(),
        *(frame[c].tolist() for c in COUNTER_COLUMNS),
        frame["total_processing_time"].tolist(),
    ]
    last: dict[Any, tuple] = {}
    sums: dict[tuple, list] = {}
    hour = HOUR_US
    for src, t, ss, p, s, f, d, hi, lo, tpt in zip(*columns, strict=True):
        prev = last.get(src)
        last[src] = (ss, p, s, f, d, hi, lo, tpt)
        if prev is None:
            continue
        pss, pp, ps, pf, pd_, phi, plo, ptpt = prev
        if p < pp or s < ps or f < pf or d < pd_ or hi < phi or lo < plo or ss != pss:
            inc = [p, s, f, d, hi, lo, tpt]
        else:
            inc = [p - pp, s - ps, f - pf, d - pd_, hi - phi, lo - plo, tpt - ptpt]
        key = (src, (t - 1) // hour)
        acc = sums.get(key)
        if acc is None:
            sums[key] = inc
        else:
            acc[0] += inc[0]
            acc[1] += inc[1]
            acc[2] += inc[2]
            acc[3] += inc[3]
            acc[4] += inc[4]
            acc[5] += inc[5]
            acc[6] += inc[6]
    return n, sums


def base_zip_counts(out: Any) -> dict[str, Any]:
    n, sums = out
    keys = list(sums)
    vals = list(sums.values())
    return {"rows": n, "per_source": _source_checks(
        [k[0] for k in keys], [k[1] for k in keys], [v[0] for v in vals], [v[1] for v in vals],
        [v[2] for v in vals], [v[3] for v in vals], [v[6] for v in vals])}


def base_numpy(frame: Any) -> Any:
    """numpy: sort by (source, time), ``np.diff``, reset mask, hourly ``np.bincount``."""
    import numpy as np

    codes = frame["source"].cat.codes.to_numpy()
    t = frame["snapshot_at"].to_numpy(dtype="datetime64[us]").view(np.int64)
    order = np.lexsort((t, codes))
    codes, t = codes[order], t[order]
    session = frame["session_start"].to_numpy(dtype="datetime64[us]").view(np.int64)[order]
    values = [frame[c].to_numpy()[order] for c in (*COUNTER_COLUMNS, "total_processing_time")]
    same = codes[1:] == codes[:-1]
    reset = session[1:] != session[:-1]
    diffs = [np.diff(v) for v in values]
    for d in diffs[:6]:
        reset |= d < 0
    hour = (t[1:][same] - 1) // HOUR_US
    h0 = int(hour.min())
    nh = int(hour.max()) - h0 + 1
    key = codes[1:][same].astype(np.int64) * nh + (hour - h0)
    size = (int(codes.max()) + 1) * nh
    sums = [np.bincount(key, weights=np.where(reset, v[1:], d)[same], minlength=size)
            for v, d in zip(values, diffs, strict=True)]
    return len(frame), frame["source"].cat.categories, h0, nh, sums


def base_numpy_counts(out: Any) -> dict[str, Any]:
    import numpy as np

    n, categories, h0, nh, sums = out
    size = len(sums[0])
    names = np.asarray(categories, dtype=object)[np.arange(size) // nh]
    hours = h0 + np.arange(size) % nh
    ints = [np.rint(s).astype(np.int64) for s in sums[:6]]
    return {"rows": n, "per_source": _source_checks(names, hours, ints[0], ints[1], ints[2],
                                                    ints[3], sums[6])}


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
    # (load before the clock, the measured call, counts after the clock)
    ("analysis", "syncstats"): (load_snapshots_parquet, ss_analysis, ss_analysis_counts),
    ("analysis", "baseline_zip"): (load_snapshots_parquet, base_zip, base_zip_counts),
    ("analysis", "baseline_numpy"): (load_snapshots_parquet, base_numpy, base_numpy_counts),
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
#: The same for the analysis workload.
ANALYSIS_SOURCES_FILES = ("analysis/*.py", "schemas.py", "exceptions.py")


def source_fingerprint(workload: str = "") -> str:
    """sha256 (12 hex digits) of the sources *workload* runs in the imported syncstats."""
    import hashlib

    import syncstats

    h = hashlib.sha256()
    pkg = Path(syncstats.__file__).parent
    patterns = ANALYSIS_SOURCES_FILES if workload == "analysis" else READER_SOURCES
    for f in sorted(f for pat in patterns for f in pkg.glob(pat)):
        h.update(str(f.relative_to(pkg)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:12]


def child(workload: str, impl: str, path: str, expect: dict[str, int], profile: int) -> None:
    """Run one measurement; print warnings, then one JSON line with the result."""
    import pandas  # noqa: F401  (imported before timing, for every implementation)

    import syncstats  # noqa: F401

    spec = CHILD_FUNCS[workload, impl]
    setup, func, summarize = spec if isinstance(spec, tuple) else (None, spec, None)
    fingerprint = source_fingerprint(workload)
    rss_import = _proc_status("VmRSS")
    arg = setup(path) if setup else path  # e.g. the analysis input, loaded untimed
    rss_input = _proc_status("VmRSS")
    if profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        func(arg)
        prof.disable()
        pstats.Stats(prof, stream=sys.stdout).sort_stats("cumulative").print_stats(profile)
        return
    c0 = time.process_time()
    t0 = time.perf_counter()
    out = func(arg)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    peak = _proc_status("VmHWM")
    counts = summarize(out) if summarize else out
    del arg, out
    warnings = []
    for key in ("rows", "errors", "intervals", "resets", "implausible"):
        if key in counts and expect.get(key) is not None and counts[key] != expect[key]:
            warnings.append(f"{workload}/{impl}: {key}={counts[key]:,} but the generator "
                            f"wrote {expect[key]:,}")
    if counts.get("issues"):
        warnings.append(f"{workload}/{impl}: syncstats reported {counts['issues']:,} issue(s)")
    for w in warnings:
        print("WARNING: " + w)
    result = {"seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": peak,
              "import_rss_mb": rss_import, "input_rss_mb": rss_input, "counts": counts,
              "warnings": warnings,
              "syncstats_fingerprint": fingerprint}
    print(json.dumps(result))


# ======================================================================================
# Parent: orchestration and report
# ======================================================================================


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


#: Target ratios (baseline s / syncstats s) of the performance issue (#6). "Within 2x of
#: the numpy reference" is a ratio of at least 0.5.
TARGETS = {
    ("jsonl", "baseline"): 12, ("files", "baseline"): 3, ("dlq", "baseline_all"): 3,
    ("dlq", "baseline_cols"): 2.5, ("log", "baseline"): 5, ("log_noise4x", "baseline"): 5,
    ("analysis", "baseline_zip"): 4, ("analysis", "baseline_numpy"): 0.5,
}
#: Baselines measured on part of the input, their times multiplied by this factor.
SCALED = {("analysis", "baseline_zip"): ZIP_SCALE}


def child_input(workload: str, impl: str, manifest: dict[str, Any]) -> tuple[str, dict]:
    """The input path of one measurement and the counts its child must find."""
    if (workload, impl) == ("analysis", "baseline_zip"):
        return manifest["zip_input"], {"rows": manifest["zip_rows"]}
    expect = {k: manifest.get(k) for k in ("rows", "errors")}
    if (workload, impl) == ("analysis", "syncstats"):
        # every snapshot is usable; no rise is large enough to be implausible
        expect.update(intervals=manifest["intervals"], resets=manifest["resets"],
                      implausible=0)
    return manifest["input"], expect


def analysis_checks(out: dict[str, Any]) -> list[str]:
    """Compare the per-source hourly sums of syncstats and of each baseline."""
    problems = []
    ss = (out["syncstats"].get("counts") or {}).get("per_source")
    if ss is None:
        return problems
    for impl in IMPLS["analysis"][1:]:
        other = (out[impl].get("counts") or {}).get("per_source")
        if other is None:
            continue
        keys = set(other) if impl == "baseline_zip" else set(ss) | set(other)
        bad = []
        for k in sorted(keys):
            a, b = ss.get(k), other.get(k)
            if a is None or b is None or a[:-1] != b[:-1] or not (
                abs(a[-1] - b[-1]) <= 1e-6 * max(1.0, abs(a[-1]))
            ):
                bad.append(k)
        if bad:
            problems.append(f"analysis: syncstats and {impl} disagree on the hourly sums of "
                            f"{len(bad)} of {len(keys)} sources (first: {bad[0]})")
        out[impl]["sources_compared"] = len(keys)
        out[impl]["sources_disagreeing"] = len(bad)
    return problems


def run_child(
    workload: str, impl: str, manifest: dict[str, Any], profile: int = 0
) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; add the kernel's ru_maxrss for it."""
    path, expect = child_input(workload, impl, manifest)
    cmd = [sys.executable, os.path.abspath(__file__), "--child", workload, impl,
           path, json.dumps(expect), str(profile)]
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
    if "zip_input" in manifest:
        warm(Path(manifest["zip_input"]))
    for rep in range(reps):
        order = impls[rep % len(impls):] + impls[: rep % len(impls)]
        for impl in order:
            res = run_child(workload, impl, manifest)
            runs[impl].append(res)
            if not res.get("failed"):
                log(f"  {workload:<12} {impl:<14} run {rep + 1}/{reps}: "
                    f"{res['seconds']:8.2f} s  peak {res['peak_rss_mb']:8.1f} MB  "
                    f"{ {k: v for k, v in res['counts'].items() if k != 'per_source'} }")
    out: dict[str, Any] = {}
    for impl, rs in runs.items():
        ok = [r for r in rs if not r.get("failed")]
        out[impl] = {
            "runs": rs,
            "median_seconds": _median(rs, "seconds"),
            "median_cpu_seconds": _median(rs, "cpu_seconds"),
            "median_peak_rss_mb": _median(rs, "peak_rss_mb"),
            "median_import_rss_mb": _median(rs, "import_rss_mb"),
            "median_input_rss_mb": _median(rs, "input_rss_mb"),
            "median_ru_maxrss_mb": _median(rs, "ru_maxrss_mb"),
            "rows": ok[0]["counts"]["rows"] if ok else None,
            "counts": ok[0]["counts"] if ok else None,
        }
        scale = SCALED.get((workload, impl))
        if scale:  # measured on 1/scale of the input: report the time scaled up
            rec = out[impl]
            rec["scale"] = scale
            for key in ("median_seconds", "median_cpu_seconds"):
                rec[key + "_measured"] = rec[key]
                rec[key] = rec[key] * scale if rec[key] is not None else None
    ss_rows = out["syncstats"]["rows"]
    mismatches = []
    for impl in impls[1:]:
        b = out[impl]
        if (ss_rows is not None and b["rows"] is not None and b["rows"] != ss_rows
                and (workload, impl) not in SCALED):
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
    if workload == "analysis":
        checks = analysis_checks(out)
        for m in checks:
            log("WARNING: results disagree: " + m)
        mismatches += checks
    out["row_count_mismatches"] = mismatches
    return out


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def table(results: dict[str, Any], manifests: dict[str, Any]) -> str:
    head = ("workload", "input MB", "rows", "syncstats s", "baseline s", "ratio b/s", "target",
            "CPU ratio", "syncstats RSS MB", "baseline RSS MB", "rows/s (syncstats)")
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
                f"{rows_in:,}" + (f" ({man['lines']:,} lines)" if "lines" in man else "")
                + (f" ({man['sources']:,} sources)" if "sources" in man else ""),
                _fmt(ss["median_seconds"], ".2f"),
                _fmt(b["median_seconds"], ".2f"),
                _fmt(b.get("ratio"), ".2f"),
                f">= {TARGETS[wl, impl]:g}" if (wl, impl) in TARGETS else "",
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


def describe_analysis(res: dict[str, Any], man: dict[str, Any]) -> str:
    """The analysis workload's memory: the input loaded before the clock, the peak."""
    lines = [f"analysis: increments + trend('1h', by='source') on {man['rows']:,} snapshots "
             f"of {man['sources']:,} sources ({man['resets']:,} resets); the zip loop ran on "
             f"{man['zip_rows']:,} rows ({man['zip_sources']:,} sources), its time x"
             f"{ZIP_SCALE}. RSS with the input frame loaded (before the clock) -> peak:"]
    for impl in IMPLS["analysis"]:
        r = res[impl]
        if r.get("median_input_rss_mb") is None or r.get("median_peak_rss_mb") is None:
            continue
        before, peak = r["median_input_rss_mb"], r["median_peak_rss_mb"]
        lines.append(f"  {impl:<15} {before:8,.0f} MB -> {peak:8,.0f} MB "
                     f"(+{peak - before:,.0f} MB)")
    for impl in IMPLS["analysis"][1:]:
        if "sources_compared" in res[impl]:
            lines.append(f"  results: syncstats and {impl} agree on the hourly sums of "
                         f"{res[impl]['sources_compared'] - res[impl]['sources_disagreeing']:,}"
                         f" of {res[impl]['sources_compared']:,} sources")
    return "\n".join(lines)


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
    print(f"\nsyncstats benchmark ({scale} size, median of {reps} run(s), each in a "
          "fresh process; ratio = baseline s / syncstats s, > 1 means syncstats is faster; CPU "
          "ratio = the same on process CPU time, which other load on the machine inflates "
          "less)\n")
    print(report)
    flat = memory_flatness(results, manifests)
    if flat:
        print()
        print(describe_flatness(flat))
    if "analysis" in results:
        print()
        print(describe_analysis(results["analysis"], manifests["analysis"]))
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
    print("syncstats sources fingerprint per workload: "
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
