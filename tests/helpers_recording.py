"""Worker processes for the concurrency test of ``SyncStats``.

Run as ``multiprocessing`` targets (fork context: the children inherit the imports, so a
worker starts in milliseconds). Each target writes its result as JSON to *out*.

``writer``: wait for the file *go*, then *saves* times: (re)load or reuse an instance,
record 1-4 events, ``save_to_file`` (every fifth time twice); result: the recorded totals.
``reader``: wait for *go*, then poll the stats file with ``json.loads`` until *stop*
exists; result: how many reads, the distinct ``jobs_processed`` values seen, problems.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from samples import stats_invariants

from syncstats.recording import SyncStats

ERROR_TYPES = ("PlexNotFound", "PlexTemporaryError", "TimeoutError")


def _wait_for(path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {path}")
        time.sleep(0.002)


def writer(stats: Path, go: Path, seed: int, saves: int, reload: bool) -> dict:
    rng = random.Random(seed)
    totals = {
        "jobs_processed": 0,
        "jobs_succeeded": 0,
        "jobs_failed": 0,
        "jobs_to_dlq": 0,
        "high_confidence_matches": 0,
        "low_confidence_matches": 0,
        "total_processing_time": 0.0,
        "errors_by_type": {},
    }
    _wait_for(go)
    instance = None
    for i in range(saves):
        if reload or instance is None:
            instance = SyncStats.load_from_file(stats)  # one plugin invocation
        for _ in range(rng.randint(1, 4)):
            seconds = rng.choice((0.25, 0.5, 1.0))
            totals["jobs_processed"] += 1
            totals["total_processing_time"] += seconds
            if rng.random() < 0.6:
                conf = rng.choice(("high", "low"))
                instance.record_success(seconds, confidence=conf)
                totals["jobs_succeeded"] += 1
                totals[f"{conf}_confidence_matches"] += 1
            else:
                etype = rng.choice(ERROR_TYPES)
                to_dlq = rng.random() < 0.3
                instance.record_failure(etype, seconds, to_dlq=to_dlq)
                totals["jobs_failed"] += 1
                totals["jobs_to_dlq"] += int(to_dlq)
                totals["errors_by_type"][etype] = totals["errors_by_type"].get(etype, 0) + 1
        instance.save_to_file(stats)
        if i % 5 == 0:
            instance.save_to_file(stats)  # saving twice must not double count
    return totals


def reader(stats: Path, go: Path, stop: Path) -> dict:
    reads, seen, problems, last = 0, set(), [], -1
    _wait_for(go)
    while not stop.exists():
        try:
            raw = stats.read_bytes()
        except FileNotFoundError:
            continue
        reads += 1
        try:
            data = json.loads(raw)
        except ValueError as exc:
            problems.append(f"torn read ({exc}): {raw[:200]!r}")
            continue
        problems.extend(stats_invariants(data))
        if data.get("jobs_processed", 0) < last:
            problems.append(f"jobs_processed went back from {last} to {data['jobs_processed']}")
        last = data.get("jobs_processed", 0)
        seen.add(last)
    return {"reads": reads, "distinct": len(seen), "problems": problems[:20]}


def run(target: str, out: str, *args: object) -> None:
    """Process entry point: run ``writer`` or ``reader`` and write its result to *out*."""
    result = {"writer": writer, "reader": reader}[target](*args)
    Path(out).write_text(json.dumps(result))
