"""Fleet-scale benchmark (issue #8): ``trend(increments(snapshots), "1D")`` on Dask vs pandas.

1. Generates a fleet as a syncstats Parquet store (the layout of ``syncstats/io/parquet.py``:
   ``STORE/snapshots/source=<quoted>/month=YYYY-MM/part-*.parquet``, the same for
   ``errors``, and the ``.syncstats-store`` marker), vectorised with numpy and written
   directly with pyarrow, one file per (source, month) and frame, in parallel processes.
   Hourly snapshots per source, cumulative counters with every invariant holding
   (succeeded + failed = processed, high + low = succeeded, to_dlq <= failed,
   sum(errors) = failed), 1-4 restarts (counter resets, new ``session_start``) per source,
   3 error types per source (a row per type once its count is > 0). The generator also
   keeps the ground truth: per source and UTC day, the jobs that ``increments`` must find.
2. Reads the store back for one source with ``syncstats.read_parquet`` (schema validation,
   ``audit``: no finding but the generated resets).
3. pandas engine, each size in a fresh subprocess: ``read_parquet(store, sources=subset)``
   -> ``increments`` -> ``trend(..., "1D", by=None)`` for growing fractions of the sources,
   until a run exceeds ``--pandas-budget-gb`` (the parent polls the child's RSS every
   0.2 s and kills it there) or fails.
4. dask engine on a ``syncstats.fleet.connect()`` LocalCluster (2 single-threaded worker
   processes): the same subsets (``read_parquet(..., backend="dask")``) and the whole store
   (``syncstats.load(store, backend="dask")``), then
   ``syncstats.trend(syncstats.increments(data.snapshots), "1D", by=None)``.
5. Checks that dask and pandas give identical trend numbers on every subset both ran, and
   both the generator's ground truth (prints ``WARNING`` lines otherwise); prints a table,
   the crossover, a projection to clusters of N machines, and writes ``--json OUT``.

Peak memory per dask worker: the workers' ``VmHWM`` (``/proc/<pid>/status``, reset before
each run through ``/proc/<pid>/clear_refs``) and, as a cross-check, the maximum of the
workers' RSS polled from this process every 0.5 s. The pandas child reports its own
``VmHWM``. The 1-minute load average is recorded before and after every measurement.

Usage::

    .venv/bin/python benchmarks/bench_fleet.py --quick                 # ~1-2 minutes
    .venv/bin/python benchmarks/bench_fleet.py --workdir /tmp/ssfleet --json fleet.json
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import multiprocessing
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

SEED = 20261008
#: Bump when the generator changes, so that a kept store (``--workdir``) is regenerated.
GEN_VERSION = 1
FULL_SOURCES, FULL_HOURS = 10_000, 8_760
QUICK_SOURCES, QUICK_HOURS = 200, 2_000
#: ``--quick``'s dask partition size (the store is ~25 MB: a dozen partitions, not one).
QUICK_PARTITION_MB = 2.0
FRACTIONS = (0.01, 0.03, 0.05, 0.10, 0.30, 1.0)
#: Sources generated per task (fixed: the data do not depend on the number of processes).
CHUNK = 50
T0_US = 1_735_689_600_000_000  # 2025-01-01T00:00:00Z in microseconds
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
#: Fake, fixed export stamp in the file names (``part-<stamp>-<sha256[:16]>.parquet``).
FILE_STAMP = 1_767_225_600_000_000_000
ERROR_TYPES = ("ConnectionResetError", "PermanentError", "PlexNotFound",
               "PlexPermanentError", "PlexTemporaryError", "TimeoutError")
TRUTH_FIELDS = ("jobs_processed", "jobs_succeeded", "jobs_failed", "jobs_to_dlq")
SUMS = ["jobs_processed", "jobs_succeeded", "jobs_failed", "jobs_to_dlq",
        "high_confidence_matches", "low_confidence_matches", "total_processing_time"]
GIB = 1 << 30
MACHINES = (1, 4, 16, 64)


def source_name(i: int) -> str:
    return f"worker-{i:05d}"


def source_names(n: int) -> list[str]:
    return [source_name(i) for i in range(n)]


def loadavg() -> float:
    return round(os.getloadavg()[0], 2)


# ======================================================================================
# Generation
# ======================================================================================


def _file_schemas() -> dict[str, Any]:
    """The Arrow schemas syncstats' writer gives a file (pandas metadata included)."""
    import pandas as pd
    import pyarrow as pa

    from syncstats import schemas

    t = pd.Timestamp(T0_US, unit="us", tz="UTC")
    snap = pd.DataFrame({"source": ["w"], "snapshot_at": [t], "session_start": [t],
                         **{c: [0] for c in schemas.COUNTERS},
                         "total_processing_time": [0.0], "time_from": ["field"],
                         "origin": ["x"]})
    err = pd.DataFrame({"source": ["w"], "snapshot_at": [t], "error_type": ["x"],
                        "count": [1], "origin": ["x"]})
    out = {}
    for name, frame, schema in (("snapshots", snap, schemas.SNAPSHOTS),
                                ("errors", err, schemas.ERRORS)):
        body = schemas.conform(frame, schema).drop(columns="source")
        out[name] = pa.Table.from_pandas(body, preserve_index=False).schema
    return out


def _seg_cumsum(x: np.ndarray, seg_start: np.ndarray) -> np.ndarray:
    """Cumulative sums along axis 1 restarting at each segment start (index array)."""
    cs = np.cumsum(x, axis=1)
    before = cs - x
    return cs - np.take_along_axis(before, seg_start, axis=1)


def _month_starts_us(hours: int) -> np.ndarray:
    first = np.datetime64(T0_US, "us").astype("M8[M]")
    last = np.datetime64(T0_US + (hours + 1) * HOUR_US, "us").astype("M8[M]") + 1
    return np.arange(first, last + 1).astype("M8[us]").astype(np.int64)


def _gen_chunk(task: tuple[str, int, int, int, int, int]) -> dict[str, Any]:
    """Generate and write sources ``first .. first+count-1``; return their ground truth."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    store_s, first, count, hours, seed, chunk_id = task
    store = Path(store_s)
    rng = np.random.default_rng([seed, chunk_id])
    c, h_n = count, hours
    names = [source_name(first + i) for i in range(c)]
    minute = rng.integers(0, 60, c)
    times = (T0_US + np.arange(h_n, dtype=np.int64)[None, :] * HOUR_US
             + (minute * 60_000_000)[:, None])
    rate = rng.uniform(5, 60, c)[:, None]
    p_succ = rng.uniform(0.85, 0.99, c)[:, None]
    p_high = rng.uniform(0.90, 0.99, c)[:, None]
    proc = rng.poisson(rate, (c, h_n))
    succ = rng.binomial(proc, p_succ)
    fail = proc - succ
    dlq = rng.binomial(fail, 0.15)
    high = rng.binomial(succ, p_high)
    low = succ - high
    tpt = proc * rng.gamma(4.0, 0.15, (c, h_n))
    # three error types per source, failures split among them
    types = np.argsort(rng.random((c, len(ERROR_TYPES))), axis=1)[:, :3].astype(np.int8)
    share = rng.dirichlet([4.0, 2.0, 1.0], c)
    e0 = rng.binomial(fail, share[:, 0:1])
    rest = fail - e0
    e1 = rng.binomial(rest, share[:, 1:2] / (share[:, 1:2] + share[:, 2:3]))
    e2 = rest - e1
    # restarts: a new session (counters from zero) starts between two snapshots
    starts = np.zeros((c, h_n), dtype=bool)
    starts[:, 0] = True
    session_at = np.zeros((c, h_n), dtype=np.int64)
    session_at[:, 0] = T0_US - rng.integers(1, 30 * 24, c) * HOUR_US
    for s in range(c):
        n_restarts = min(int(rng.integers(1, 5)), max(0, (h_n - 1) // 24))
        if n_restarts:
            pos = rng.choice(np.arange(1, h_n), n_restarts, replace=False)
            starts[s, pos] = True
            session_at[s, pos] = times[s, pos] - rng.integers(1, 60, n_restarts) * 60_000_000
    seg = np.maximum.accumulate(np.where(starts, np.arange(h_n)[None, :], 0), axis=1)
    session = np.take_along_axis(session_at, seg, axis=1)
    cum = {name: _seg_cumsum(v, seg) for name, v in (
        ("jobs_processed", proc), ("jobs_succeeded", succ), ("jobs_failed", fail),
        ("jobs_to_dlq", dlq), ("high_confidence_matches", high),
        ("low_confidence_matches", low))}
    cum_tpt = np.round(_seg_cumsum(tpt, seg), 3)
    cum_err = np.stack([_seg_cumsum(e, seg) for e in (e0, e1, e2)], axis=2)  # (c, H, 3)

    # ground truth: what increments() must find per source and UTC day (right-closed
    # buckets): every interval after a source's first snapshot, a reset's new values
    # being exactly the jobs since the restart
    n_days = (h_n + 1) // 24 + 2
    day = (times[:, 1:] - 1 - T0_US) // DAY_US
    flat = (np.arange(c)[:, None] * n_days + day).ravel()
    truth = np.stack([
        np.bincount(flat, weights=v[:, 1:].ravel(), minlength=c * n_days).reshape(c, n_days)
        for v in (proc, succ, fail, dlq)], axis=2).astype(np.int64)

    sch = _file_schemas()
    n = c * h_n
    ts_type = pa.timestamp("us", tz="UTC")
    prefixes = pa.array([f"/var/lib/syncstats/{nm}/history.jsonl:" for nm in names])
    prefix = pa.DictionaryArray.from_arrays(
        pa.array(np.repeat(np.arange(c, dtype=np.int32), h_n)), prefixes).dictionary_decode()
    lines = pc.cast(pa.array(np.tile(np.arange(1, h_n + 1, dtype=np.int64), c)), pa.string())
    origin = pc.cast(pc.binary_join_element_wise(prefix, lines, ""), pa.large_string())
    snap_cols = [
        pa.array(times.ravel(), type=pa.int64()).view(ts_type),
        pa.array(session.ravel(), type=pa.int64()).view(ts_type),
        *(pa.array(cum[k].ravel()) for k in cum),
        pa.array(cum_tpt.ravel()),
        pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int8)),
                                       pa.array(["field"])),
        origin,
    ]
    snaps = pa.Table.from_arrays(snap_cols, schema=sch["snapshots"])
    idx = np.flatnonzero(cum_err.ravel() > 0)
    e_src = idx // (h_n * 3)
    e_row = idx // 3  # the snapshot's row (s * H + h)
    e_slot = idx % 3
    err_cols = [
        pa.array(times.ravel()[e_row], type=pa.int64()).view(ts_type),
        pa.DictionaryArray.from_arrays(pa.array(types[e_src, e_slot]),
                                       pa.array(list(ERROR_TYPES))),
        pa.array(cum_err.ravel()[idx]),
        origin.take(pa.array(e_row)),
    ]
    errs = pa.Table.from_arrays(err_cols, schema=sch["errors"])

    months = _month_starts_us(h_n)
    month_names = [str(np.datetime64(int(m), "us").astype("M8[M]")) for m in months]
    e_bounds = np.searchsorted(e_src, np.arange(c + 1))
    e_times = times.ravel()[e_row]
    files = {"snapshots": 0, "errors": 0}
    nbytes = {"snapshots": 0, "errors": 0}
    for s, nm in enumerate(names):
        parts = {
            "snapshots": (snaps, s * h_n, times[s]),
            "errors": (errs, e_bounds[s], e_times[e_bounds[s]:e_bounds[s + 1]]),
        }
        for table_name, (table, base, t) in parts.items():
            cuts = np.searchsorted(t, months)
            for m, month in enumerate(month_names[:-1]):
                a, b = cuts[m], cuts[m + 1]
                if b <= a:
                    continue
                sink = pa.BufferOutputStream()
                pq.write_table(table.slice(base + a, b - a), sink, compression="zstd")
                data = sink.getvalue().to_pybytes()
                directory = (store / table_name / f"source={quote(nm, safe='')}"
                             / f"month={quote(month, safe='')}")
                directory.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256(data).hexdigest()[:16]
                (directory / f"part-{FILE_STAMP:020d}-{digest}.parquet").write_bytes(data)
                files[table_name] += 1
                nbytes[table_name] += len(data)
    return {"first": first, "truth": truth, "snapshots": n, "errors": len(idx),
            "restarts": int(starts[:, 1:].sum()), "files": files, "bytes": nbytes}


def store_params(sources: int, hours: int, seed: int) -> dict[str, Any]:
    return {"sources": sources, "hours": hours, "seed": seed, "gen_version": GEN_VERSION,
            "chunk": CHUNK, "t0_us": T0_US}


def generate(root: Path, sources: int, hours: int, seed: int, procs: int) -> dict[str, Any]:
    """Generate the store under *root* (``root/store``) unless it holds these parameters.

    Returns the generation record (``root/params.json``, written last: a store without it
    is incomplete and regenerated).
    """
    params = store_params(sources, hours, seed)
    record_path = root / "params.json"
    if record_path.is_file():
        record = json.loads(record_path.read_text())
        if record.get("params") == params and (root / "truth.npy").is_file():
            record["reused"] = True
            print(f"store: reusing {root / 'store'} (generated in {record['seconds']:.0f} s)")
            return record
    if root.exists():
        shutil.rmtree(root)
    store = root / "store"
    store.mkdir(parents=True)
    (store / ".syncstats-store").write_text('{"format": "syncstats-parquet", "version": 1}\n')
    tasks = [(str(store), first, min(CHUNK, sources - first), hours, seed, k)
             for k, first in enumerate(range(0, sources, CHUNK))]
    print(f"store: generating {sources:,} sources x {hours:,} hours = {sources * hours:,} "
          f"snapshots in {root / 'store'} ({len(tasks)} chunks, {procs} processes)")
    load0, t0 = loadavg(), time.perf_counter()
    truth = None
    totals = {"snapshots": 0, "errors": 0, "restarts": 0, "files": {"snapshots": 0, "errors": 0},
              "bytes": {"snapshots": 0, "errors": 0}}
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(procs, mp_context=ctx) as pool:
        for i, res in enumerate(pool.map(_gen_chunk, tasks)):
            if truth is None:
                truth = np.zeros((sources, *res["truth"].shape[1:]), dtype=np.int64)
            truth[res["first"]:res["first"] + len(res["truth"])] = res["truth"]
            for k in ("snapshots", "errors", "restarts"):
                totals[k] += res[k]
            for k in ("files", "bytes"):
                for t in ("snapshots", "errors"):
                    totals[k][t] += res[k][t]
            if (i + 1) % max(1, len(tasks) // 10) == 0 or i + 1 == len(tasks):
                el = time.perf_counter() - t0
                print(f"  {i + 1}/{len(tasks)} chunks, {totals['snapshots']:,} snapshots, "
                      f"{el:.0f} s", flush=True)
    seconds = time.perf_counter() - t0
    np.save(root / "truth.npy", truth)
    record = {"params": params, "seconds": round(seconds, 1), "loadavg": [load0, loadavg()],
              **totals, "store": str(store)}
    record_path.write_text(json.dumps(record, indent=1))
    record["reused"] = False
    print(f"store: {totals['snapshots']:,} snapshots, {totals['errors']:,} error rows, "
          f"{sum(totals['files'].values()):,} files, "
          f"{sum(totals['bytes'].values()) / GIB:.2f} GiB in {seconds:.0f} s")
    return record


def check_store(store: Path, hours: int) -> dict[str, Any]:
    """Read one source back through syncstats: schemas, row counts, audit findings."""
    import syncstats
    from syncstats import schemas

    out: dict[str, Any] = {}
    warnings = []
    for i in (0,):
        name = source_name(i)
        t0 = time.perf_counter()
        data = syncstats.read_parquet(store, sources=[name])
        out["read_one_source_s"] = round(time.perf_counter() - t0, 2)
        schemas.validate(data.snapshots, schemas.SNAPSHOTS)
        schemas.validate(data.errors, schemas.ERRORS)
        if len(data.snapshots) != hours:
            warnings.append(f"{name}: {len(data.snapshots)} snapshots read, {hours} written")
        found = syncstats.audit(data.snapshots, data.errors)
        checks = found["check"].astype("str").value_counts().to_dict()
        out["audit_" + name] = checks
        if set(checks) - {"reset"}:
            warnings.append(f"{name}: audit found {checks} (only resets were generated)")
        inc = syncstats.increments(data.snapshots)
        out["increment_kinds_" + name] = inc["kind"].astype("str").value_counts().to_dict()
    for w in warnings:
        print("WARNING: " + w)
    out["warnings"] = warnings
    print(f"check: {source_name(0)} read back in {out['read_one_source_s']} s, schemas valid, "
          f"audit {out['audit_' + source_name(0)]}")
    return out


def warm_cache(store: Path) -> float:
    """Read every file once, so that every measurement starts from a warm page cache."""
    t0 = time.perf_counter()
    for dirpath, _, files in os.walk(store):
        for f in files:
            with open(os.path.join(dirpath, f), "rb") as fh:
                while fh.read(1 << 22):
                    pass
    return time.perf_counter() - t0


# ======================================================================================
# Measurements
# ======================================================================================


def _vm(pid: int | str, field: str = "VmHWM") -> int:
    """A ``/proc/<pid>/status`` memory field in bytes (0 when unreadable)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _cpu(pid: int) -> float:
    """User + system CPU seconds of a process (0 when it is gone)."""
    import psutil

    try:
        t = psutil.Process(pid).cpu_times()
    except Exception:
        return 0.0
    return t.user + t.system


def _clear_hwm(pid: int) -> None:
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as fh:
            fh.write("5")  # resets VmHWM to the current RSS
    except OSError:
        pass


class RssPoller:
    """Polls the RSS of some processes in a thread; keeps each one's maximum."""

    def __init__(self, pids: list[int], interval: float, limit: int | None = None,
                 on_limit: Any = None) -> None:
        import psutil

        self.procs = {pid: psutil.Process(pid) for pid in pids}
        self.peak = dict.fromkeys(pids, 0)
        self.interval, self.limit, self.on_limit = interval, limit, on_limit
        self.exceeded = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid, proc in self.procs.items():
                try:
                    rss = proc.memory_info().rss
                except Exception:  # the process ended
                    continue
                self.peak[pid] = max(self.peak[pid], rss)
                if self.limit is not None and rss > self.limit and not self.exceeded:
                    self.exceeded = True
                    self.on_limit()
            self._stop.wait(self.interval)

    def __enter__(self) -> RssPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def pandas_child(store: str, n_sources: int, out: str) -> None:
    """Child process: the pandas engine on the first *n_sources* sources."""
    import pandas as pd  # noqa: F401  (imported before the clock starts)

    import syncstats

    names = source_names(n_sources)
    res: dict[str, Any] = {"import_rss": _vm("self", "VmRSS")}
    t0, c0 = time.perf_counter(), time.process_time()
    data = syncstats.read_parquet(store, sources=names)
    t1 = time.perf_counter()
    res["rss_after_read"] = _vm("self", "VmRSS")
    inc = syncstats.increments(data.snapshots)
    t2 = time.perf_counter()
    tr = syncstats.trend(inc, "1D", by=None)
    t3, c3 = time.perf_counter(), time.process_time()
    res.update(read_s=t1 - t0, increments_s=t2 - t1, trend_s=t3 - t2, total_s=t3 - t0,
               cpu_s=c3 - c0, snapshots=len(data.snapshots), errors=len(data.errors),
               increments=len(inc), hwm=_vm("self"),
               snapshots_mem=int(data.snapshots.memory_usage(deep=True).sum()),
               errors_mem=int(data.errors.memory_usage(deep=True).sum()),
               increments_mem=int(inc.memory_usage(deep=True).sum()))
    tr.to_pickle(out)
    print("RESULT " + json.dumps(res))


def run_pandas(store: Path, n_sources: int, budget: int, tmp: Path) -> dict[str, Any]:
    out = tmp / f"pandas-{n_sources}.pkl"
    cmd = [sys.executable, __file__, "--_pandas-child", str(store), str(n_sources), str(out)]
    load0 = loadavg()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with RssPoller([proc.pid], 0.2, budget, proc.kill) as poll:
        stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    rec: dict[str, Any] = {"sources": n_sources, "loadavg": [load0, loadavg()],
                           "child_wall_s": round(wall, 2),
                           "polled_peak_rss": poll.peak[proc.pid]}
    if poll.exceeded:
        rec["status"] = f"over budget (killed at > {budget / GIB:.1f} GiB RSS)"
    elif proc.returncode != 0:
        rec["status"] = f"failed (exit {proc.returncode}): {stderr.strip()[-300:]}"
    else:
        line = next(x for x in stdout.splitlines() if x.startswith("RESULT "))
        rec.update(json.loads(line[7:]))
        rec["status"] = "ok"
        rec["trend_path"] = str(out)
    return rec


def _trend_partial(inc: Any) -> Any:
    """Fallback (until ``trend`` dispatches to dask): one partition's daily sums, with the
    latest ``end`` of each day, so that ``trend`` of their concatenation equals ``trend``
    of all increments (a bucket's latest end lies in that bucket)."""
    import pandas as pd

    day = ((inc["end"] - pd.Timedelta(1, "us")).dt.floor("1D")).rename("day")
    g = inc.groupby(day, sort=True)
    out = g[SUMS].sum()
    out["end"] = g["end"].max()
    return out.reset_index(drop=True)


def _trend_finish(parts: Any) -> Any:
    import syncstats

    return syncstats.trend(parts, "1D", by=None)


def _not_dispatched(exc: Exception) -> bool:
    return "expected a DataFrame" in str(exc)


def dask_trend(snapshots: Any) -> tuple[Any, dict[str, str]]:
    """``trend(increments(snapshots), "1D", by=None)`` through the public calls; while the
    dispatch to dask is missing, through ``syncstats.fleet`` (said in the result)."""
    import syncstats
    from syncstats.exceptions import SchemaError

    api = {}
    try:
        inc = syncstats.increments(snapshots)
        api["increments"] = "syncstats.increments"
    except SchemaError as exc:
        if not _not_dispatched(exc):
            raise
        inc = syncstats.fleet.map_sources(syncstats.increments, snapshots)
        api["increments"] = "syncstats.fleet.map_sources(syncstats.increments) [fallback]"
    try:
        tr = syncstats.trend(inc, "1D", by=None)
        api["trend"] = "syncstats.trend"
    except SchemaError as exc:
        if not _not_dispatched(exc):
            raise
        tr = syncstats.fleet.reduce_sources(_trend_partial, _trend_finish, inc)
        api["trend"] = "syncstats.fleet.reduce_sources(daily partial sums) + trend [fallback]"
    return tr, api


def run_dask(client: Any, pids: list[int], store: Path, n_sources: int | None,
             rows: int, partition_bytes: int | None) -> dict[str, Any]:
    """One dask run: all sources through ``syncstats.load(store, backend="dask")`` when
    *n_sources* is None, else (or with a *partition_bytes*) through
    ``syncstats.read_parquet(store, sources=..., backend="dask")``."""
    from distributed import get_task_stream

    import syncstats

    for pid in pids:
        _clear_hwm(pid)
    base = {pid: _vm(pid, "VmRSS") for pid in pids}
    cpu0 = {pid: _cpu(pid) for pid in pids}
    load0 = loadavg()
    with RssPoller(pids, 0.5) as poll:
        t0 = time.perf_counter()
        if n_sources is None and partition_bytes is None:
            data = syncstats.load(store, backend="dask")
        else:
            data = syncstats.read_parquet(
                store, backend="dask", partition_bytes=partition_bytes,
                sources=None if n_sources is None else source_names(n_sources))
        t1 = time.perf_counter()
        with get_task_stream(client) as ts:
            tr, api = dask_trend(data.snapshots)
        t2 = time.perf_counter()
    hwm = {pid: _vm(pid) for pid in pids}
    cpu = sum(_cpu(pid) - cpu0[pid] for pid in pids)
    per_worker: dict[str, float] = {}
    durations = []
    for task in ts.data:
        comp = sum(s["stop"] - s["start"] for s in task.get("startstops", ())
                   if s.get("action") == "compute")
        per_worker[task.get("worker", "?")] = per_worker.get(task.get("worker", "?"), 0) + comp
        durations.append(comp)
    busy = sum(durations)
    big = [d for d in durations if d > 0.01] or durations or [0.0]
    return {
        "sources": n_sources, "snapshots": rows, "npartitions": data.snapshots.npartitions,
        "api": api, "loadavg": [load0, loadavg()], "open_s": t1 - t0,
        "compute_s": t2 - t1, "total_s": t2 - t0,
        "tasks": len(durations), "busy_s": busy, "busy_per_worker_s": per_worker,
        "task_s": {"max": max(big), "median": statistics.median(big), "n_over_10ms": len(big)},
        "rows_per_busy_s": rows / busy if busy else None,
        "workers_cpu_s": cpu, "rows_per_cpu_s": rows / cpu if cpu else None,
        "hwm_per_worker": [hwm[p] for p in pids],
        "polled_peak_per_worker": [poll.peak[p] for p in pids],
        "rss_before_per_worker": [base[p] for p in pids],
        "client_hwm": _vm("self"), "trend": tr,
    }


def compare(a: Any, b: Any) -> dict[str, Any]:
    """Integer columns and buckets equal exactly; float columns within 1e-9 (relative)."""
    out: dict[str, Any] = {"same_shape": a.shape == b.shape}
    if not out["same_shape"] or list(a.columns) != list(b.columns):
        out["equal"] = False
        return out
    exact = ["bucket", "processed", "succeeded", "failed", "to_dlq", "partial"]
    out["exact_equal"] = all(a[c].reset_index(drop=True).equals(b[c].reset_index(drop=True))
                             for c in exact)
    rel = 0.0
    for c in a.columns:
        if c in exact:
            continue
        x, y = a[c].to_numpy(dtype="float64"), b[c].to_numpy(dtype="float64")
        if not np.array_equal(np.isnan(x), np.isnan(y)):
            rel = float("inf")
            break
        ok = ~np.isnan(x)
        if ok.any():
            d = np.abs(x[ok] - y[ok]) / np.maximum(np.abs(y[ok]), 1e-300)
            rel = max(rel, float(d.max()))
    out["max_rel_diff_float"] = rel
    out["equal"] = out["exact_equal"] and rel <= 1e-9
    return out


def check_truth(tr: Any, truth: np.ndarray, n_sources: int) -> bool:
    """The trend's daily counts equal the generator's ground truth."""
    import pandas as pd

    t = truth[:n_sources].sum(axis=0)  # (days, 4)
    days = pd.date_range(pd.Timestamp(T0_US, unit="us", tz="UTC"), periods=len(t), freq="D")
    got = tr.set_index("bucket")[["processed", "succeeded", "failed", "to_dlq"]]
    want = pd.DataFrame(t, index=days.as_unit("us"), columns=got.columns)
    want = want[want.sum(axis=1) > 0]
    got_nz = got[got.sum(axis=1) > 0]
    return bool(len(got_nz) == len(want) and (got_nz.to_numpy() == want.to_numpy()).all()
                and (got_nz.index == want.index).all())


# ======================================================================================
# Report
# ======================================================================================


def _gb(x: float | None) -> str:
    return "—" if not x else f"{x / GIB:.2f}"


def _s(x: float | None) -> str:
    return "—" if x is None else (f"{x:.1f}" if x >= 10 else f"{x:.2f}")


def projection(full: dict[str, Any], n_workers: int) -> list[dict[str, Any]]:
    """Projected time of the full run on N machines like this one (n_workers each)."""
    rows = []
    per_worker_rate = full["rows_per_busy_s"]
    serial = full["open_s"]  # the client lists the store and builds the graph: not spread
    # the workers' CPU time is what an uncontended worker would need (busy time includes
    # waiting for a core on a loaded machine); None when not recorded
    cpu = full.get("workers_cpu_s")
    for n in MACHINES:
        workers = n * n_workers
        map_s = max(full["busy_s"] / workers, full["task_s"]["max"])
        row = {"machines": n, "workers": workers, "map_s": map_s,
               "serial_s": serial, "total_s": serial + map_s,
               "rows_per_s": full["snapshots"] / (serial + map_s),
               "map_rows_per_s": per_worker_rate * workers,
               "worker_hours": full["busy_s"] / 3600}
        if cpu:
            scale = cpu / full["busy_s"]
            row["map_cpu_s"] = max(cpu / workers, full["task_s"]["max"] * scale)
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Fleet-scale benchmark (issue #8): a generated Parquet store of hourly "
                    "snapshots, trend(increments(snapshots), '1D', by=None) with the dask "
                    "engine (LocalCluster, 2 single-threaded workers) and with the pandas "
                    "engine on growing subsets, the crossover, and a projection to N "
                    "machines. See benchmarks/README.md.",
        epilog="examples:\n"
               "  bench_fleet.py --quick\n"
               "  bench_fleet.py --workdir /tmp/ssfleet --pandas-budget-gb 6.5 --json full.json\n"
               "  bench_fleet.py --workdir /tmp/ssfleet --skip-pandas --fractions 1\n\n"
               "WARNING lines: dask != pandas trend on a subset, a trend != the generator's "
               "ground truth,\na store that does not read back cleanly, or the fallback "
               "through syncstats.fleet being used.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help=f"{QUICK_SOURCES} sources x {QUICK_HOURS} hours (~1-2 minutes)")
    ap.add_argument("--sources", type=int, default=None,
                    help=f"number of sources (default {FULL_SOURCES:,}; "
                         f"{QUICK_SOURCES} with --quick)")
    ap.add_argument("--hours", type=int, default=None,
                    help=f"hourly snapshots per source (default {FULL_HOURS:,}; "
                         f"{QUICK_HOURS} with --quick)")
    ap.add_argument("--seed", type=int, default=SEED, help=f"generator seed (default {SEED})")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="keep the store under DIR/fleet-<sources>x<hours>-s<seed>-v<gen> and "
                         "reuse it when it was generated with the same parameters (default: "
                         "a temporary directory, deleted afterwards)")
    ap.add_argument("--json", type=Path, default=None, metavar="OUT",
                    help="write every measurement to OUT")
    ap.add_argument("--pandas-budget-gb", type=float, default=12.0,
                    help="stop the pandas steps at the first size whose RSS exceeds this "
                         "many GiB (the child is killed there; default 12)")
    ap.add_argument("--fractions", type=str, default=",".join(str(f) for f in FRACTIONS),
                    help="comma-separated fractions of the sources measured (the first "
                         "sources by name); 1.0 is the whole store (default "
                         f"{','.join(str(f) for f in FRACTIONS)})")
    ap.add_argument("--partition-mb", type=float, default=None,
                    help="Parquet MiB per dask partition, through read_parquet(..., "
                         "partition_bytes=) (default: the library's 64 MiB, through "
                         f"syncstats.load for the whole store; {QUICK_PARTITION_MB} with "
                         "--quick)")
    ap.add_argument("--gen-procs", type=int, default=2, help="generator processes (default 2)")
    ap.add_argument("--skip-pandas", action="store_true", help="dask runs only")
    ap.add_argument("--_pandas-child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._pandas_child:
        store, n, out = args._pandas_child
        pandas_child(store, int(n), out)
        return 0

    sources = args.sources or (QUICK_SOURCES if args.quick else FULL_SOURCES)
    hours = args.hours or (QUICK_HOURS if args.quick else FULL_HOURS)
    fractions = sorted({float(f) for f in args.fractions.split(",")})
    sizes = sorted({max(1, round(f * sources)) for f in fractions})
    budget = int(args.pandas_budget_gb * GIB)
    part_mb = args.partition_mb or (QUICK_PARTITION_MB if args.quick else None)
    part_bytes = int(part_mb * (1 << 20)) if part_mb else None
    tmp = Path(tempfile.mkdtemp(prefix="bench_fleet-"))
    workroot = args.workdir or tmp
    root = workroot / f"fleet-{sources}x{hours}-s{args.seed}-v{GEN_VERSION}"
    report: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
        "params": store_params(sources, hours, args.seed), "sizes": sizes,
        "pandas_budget_bytes": budget, "partition_bytes": part_bytes, "warnings": [],
    }
    try:
        import dask
        import pandas as pd
        import pyarrow

        import syncstats

        report["machine"].update(pandas=pd.__version__, pyarrow=pyarrow.__version__,
                                 dask=dask.__version__, syncstats=syncstats.__version__
                                 if hasattr(syncstats, "__version__") else "?")
        gen = generate(root, sources, hours, args.seed, args.gen_procs)
        report["generation"] = gen
        store = Path(gen["store"])
        truth = np.load(root / "truth.npy")
        report["check"] = check_store(store, hours)
        report["warnings"] += report["check"]["warnings"]
        report["warm_cache_s"] = round(warm_cache(store), 1)

        # ---- pandas engine, fresh subprocess per size ------------------------------------
        pandas_runs: dict[int, dict[str, Any]] = {}
        if not args.skip_pandas:
            for n in sizes:
                rec = run_pandas(store, n, budget, tmp)
                pandas_runs[n] = rec
                extra = (f" (read {_s(rec['read_s'])} s; frames: snapshots "
                         f"{_gb(rec['snapshots_mem'])}, errors {_gb(rec['errors_mem'])}, "
                         f"increments {_gb(rec['increments_mem'])} GiB)"
                         if rec["status"] == "ok" else "")
                print(f"pandas {n:>6,} sources: {rec['status']}, "
                      f"{_s(rec.get('total_s'))} s, peak {_gb(rec.get('hwm'))} GiB "
                      f"(polled {_gb(rec['polled_peak_rss'])}){extra}, load {rec['loadavg']}",
                      flush=True)
                if rec["status"] != "ok":
                    break

        # ---- dask engine ---------------------------------------------------------------
        dask_runs: dict[int, dict[str, Any]] = {}
        client = syncstats.fleet.connect()
        try:
            pids = sorted(client.run(os.getpid).values())
            report["dask_workers"] = len(pids)
            run_dask(client, pids, store, 1, hours, part_bytes)  # warm-up (imports)
            for n in sizes:
                rec = run_dask(client, pids, store, None if n == sources else n, n * hours,
                               part_bytes)
                dask_runs[n] = rec
                print(f"dask   {n:>6,} sources: {_s(rec['total_s'])} s (open "
                      f"{_s(rec['open_s'])} s), {rec['npartitions']} partitions, peak/worker "
                      f"{'/'.join(_gb(x) for x in rec['hwm_per_worker'])} GiB, "
                      f"load {rec['loadavg']}", flush=True)
        finally:
            syncstats.fleet.close_client(client)

        # ---- checks --------------------------------------------------------------------
        for n, rec in dask_runs.items():
            rec["truth_ok"] = check_truth(rec["trend"], truth, n)
            if not rec["truth_ok"]:
                report["warnings"].append(f"dask trend of {n} sources != ground truth")
            p = pandas_runs.get(n)
            if p and p["status"] == "ok":
                p_tr = pd.read_pickle(p["trend_path"])
                p["truth_ok"] = check_truth(p_tr, truth, n)
                if not p["truth_ok"]:
                    report["warnings"].append(f"pandas trend of {n} sources != ground truth")
                rec["vs_pandas"] = compare(rec["trend"], p_tr)
                if not rec["vs_pandas"]["equal"]:
                    report["warnings"].append(
                        f"dask and pandas trends differ on {n} sources: {rec['vs_pandas']}")
            rec["trend_rows"] = len(rec.pop("trend"))
        apis = {json.dumps(r["api"]) for r in dask_runs.values()}
        if any("fallback" in a for a in apis):
            report["warnings"].append(
                "the dask dispatch of increments/trend is not available: ran through "
                f"syncstats.fleet ({sorted(apis)})")

        # ---- table ---------------------------------------------------------------------
        table = []
        for n in sizes:
            p, d = pandas_runs.get(n), dask_runs.get(n)
            row = {"sources": n, "snapshots": n * hours,
                   "pandas_s": p.get("total_s") if p else None,
                   "pandas_peak": (p.get("hwm") or p.get("polled_peak_rss")) if p else None,
                   "pandas_status": p["status"] if p else "not run",
                   "dask_s": d["total_s"] if d else None,
                   "dask_open_s": d["open_s"] if d else None,
                   "dask_peak_worker": max(d["hwm_per_worker"]) if d else None,
                   "dask_rows_per_s": n * hours / d["total_s"] if d else None,
                   "match": (d.get("vs_pandas") or {}).get("equal") if d else None,
                   "truth": d.get("truth_ok") if d else None,
                   "loadavg": {"pandas": p["loadavg"] if p else None,
                               "dask": d["loadavg"] if d else None}}
            table.append(row)
        report["table"] = table
        report["pandas_runs"] = {str(k): v for k, v in pandas_runs.items()}
        report["dask_runs"] = {str(k): v for k, v in dask_runs.items()}
        print()
        print("| sources | snapshots | pandas s | pandas peak RSS GiB | dask s (open) | "
              "dask peak/worker GiB | dask rows/s | dask = pandas | = truth | load 1m p/d |")
        print("|---:|---:|---:|---:|---:|---:|---:|:--:|:--:|---|")
        for r in table:
            ps = _s(r["pandas_s"]) if r["pandas_status"] == "ok" else r["pandas_status"]
            lp = r["loadavg"]["pandas"][0] if r["loadavg"]["pandas"] else "—"
            ld = r["loadavg"]["dask"][0] if r["loadavg"]["dask"] else "—"
            match = {True: "yes", False: "NO", None: "—"}[r["match"]]
            print(f"| {r['sources']:,} | {r['snapshots']:,} | {ps} | {_gb(r['pandas_peak'])} | "
                  f"{_s(r['dask_s'])} ({_s(r['dask_open_s'])}) | "
                  f"{_gb(r['dask_peak_worker'])} | "
                  f"{r['dask_rows_per_s'] or 0:,.0f} | {match} | "
                  f"{ {True: 'yes', False: 'NO', None: '—'}[r['truth']] } | {lp} / {ld} |")

        # ---- crossover -----------------------------------------------------------------
        faster = [r["sources"] for r in table if r["pandas_status"] == "ok" and r["dask_s"]
                  and r["dask_s"] < r["pandas_s"]]
        impossible = [r["sources"] for r in table if r["pandas_status"] not in ("ok",
                                                                                "not run")]
        ok_runs = [p for p in pandas_runs.values() if p["status"] == "ok"]
        largest = max(ok_runs, key=lambda p: p["snapshots"], default=None)
        # marginal peak RSS per snapshot (with its ~3 error rows) of the largest pandas run
        per_row = ((largest["hwm"] - largest["import_rss"]) / largest["snapshots"]
                   if largest else None)
        cross = {"dask_faster_from_sources": min(faster) if faster else None,
                 "pandas_over_budget_at_sources": min(impossible) if impossible else None,
                 "pandas_peak_bytes_per_snapshot": per_row}
        if per_row:
            base = largest["import_rss"]
            cross["pandas_projected_peak_full_gib"] = (base + per_row * sources * hours) / GIB
            cross["pandas_max_snapshots_in_budget"] = int((budget - base) / per_row)
            cross["pandas_max_snapshots_in_24gib"] = int((24 * GIB - base) / per_row)
        report["crossover"] = cross
        print()
        if args.skip_pandas:
            print("crossover: not measured (--skip-pandas)")
        else:
            print(f"crossover: dask faster from {cross['dask_faster_from_sources']} sources "
                  f"on; pandas over budget ({args.pandas_budget_gb} GiB) at "
                  f"{cross['pandas_over_budget_at_sources']} sources")
        if per_row:
            print(f"  pandas peak RSS per snapshot (largest run, above the import): "
                  f"{per_row:,.0f} B -> the whole store would need "
                  f"~{cross['pandas_projected_peak_full_gib']:.1f} GiB; "
                  f"~{cross['pandas_max_snapshots_in_budget']:,} snapshots fit the budget, "
                  f"~{cross['pandas_max_snapshots_in_24gib']:,} the machine's 24 GiB")

        # ---- projection ----------------------------------------------------------------
        full = dask_runs.get(max(sizes))
        if full:
            proj = projection(full, len(pids))
            report["projection"] = proj
            print()
            print(f"projection of the largest dask run ({full['snapshots']:,} snapshots, "
                  f"{full['npartitions']} partitions, {full['rows_per_busy_s']:,.0f} rows/s "
                  f"per busy worker, {full['rows_per_cpu_s'] or 0:,.0f} per worker CPU "
                  f"second) to N machines of {len(pids)} workers:")
            print("| machines | workers | map s | map s at CPU time | client s | total s | "
                  "rows/s | worker-hours |")
            print("|---:|---:|---:|---:|---:|---:|---:|---:|")
            for r in proj:
                print(f"| {r['machines']} | {r['workers']} | {_s(r['map_s'])} | "
                      f"{_s(r.get('map_cpu_s'))} | {_s(r['serial_s'])} | {_s(r['total_s'])} | "
                      f"{r['rows_per_s']:,.0f} | {r['worker_hours']:.3f} |")
            print("  assumptions: map phase (read + increments + partial sums per partition) "
                  "scales linearly with workers at the measured busy-time throughput (or, "
                  "'at CPU time', at the workers' CPU-time throughput: an uncontended core), "
                  "bounded below by the longest partition task; the client's store listing "
                  "and graph "
                  "build (open) stay serial; the reduce (a few rows per partition) is "
                  "negligible; storage delivers the Parquet bytes as fast as the page cache "
                  "did here.")
        for w in report["warnings"]:
            print("WARNING: " + w)
        if args.json:
            args.json.write_text(json.dumps(report, indent=1, default=str))
            print(f"wrote {args.json}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
