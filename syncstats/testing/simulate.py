"""A seeded, deterministic simulator of a sync worker and the artefacts it leaves behind.

The simulator drives the real recording classes, :class:`~syncstats.SyncStats` and
:class:`~syncstats.DeadLetterQueue`, through a worker that processes Poisson job arrivals
with a day/night cycle, retries transient failures, gives up on jobs (dead-letter queue),
goes through a Plex outage and is restarted now and then. Per source it writes the
artefacts of docs/formats.md (hourly ``stats.json`` copies, a JSON Lines history, the host's log
with the worker's batch-summary lines, ``dlq.db``) and, on request, plants the defects seen
in the wild. ``truth.json`` holds the ground truth of what was simulated.

Run ``python -m syncstats.testing.simulate --out DIR`` (see ``--help``).

Determinism
-----------
Everything derives from the seed: random numbers come only from
:meth:`random.Random.random` (whose sequence Python guarantees across versions) seeded with a
SHA-256 of ``(seed, source, purpose)``, all times are simulated (``session_start``,
``failed_at`` and stack traces are passed explicitly), and processing times are rounded to
milliseconds. Two runs with the same arguments write byte-identical files (``dlq.db`` too,
with the same SQLite library; its header records the library version).

Conventions of the generated artefacts
--------------------------------------
* Hosts run in UTC: log times (local time, no zone) are UTC times.
* Source *i* (0-based, in ``sources`` order) uses style ``A`` when *i* is even, ``B`` when
  odd. Style A: snapshot copies ``stats-20261001T130000Z.json``, history ``snapshot_at`` an
  ISO-8601 string with ``Z``, logrus file-form log in ``stash.log`` (recent part) and
  ``stash.log.1`` (older part). Style B: copies ``stats-2026-10-01T15:00:00+02:00.json``
  (the same instant written in +02:00), ``snapshot_at`` epoch seconds (float), console-form
  log ``console.log``.
* Hourly copies at minute 0 (from one hour after ``start`` up to and including the end),
  of which the snapshot directory keeps the last ``copy_retention_days`` (default 7);
  history lines at minutes 7, 22, 37 and 52 (cron ``7-59/15``) over the whole period. A
  capture finds nothing (and writes nothing) while the live file does not exist.
* Counting is per attempt and attributed to the UTC day in which the attempt *completed*.
* The live ``stats.json`` (with its ``.lock``) and ``dlq.db`` are worked on in a scratch
  directory (``/dev/shm`` when available, for speed); ``dlq.db`` is copied to the output at
  the end.
* ``gap``: the worker keeps running; only captures and host log lines are missing.
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import json
import math
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ..exceptions import CorruptStatsWarning, ParameterError
from ..recording import COUNTER_FIELDS as _COUNTERS
from ..recording import SANITY_CEILING, DeadLetterQueue, SyncStats

__all__ = [
    "DEFECTS",
    "add_arguments",
    "run",
    "source_names",
    "DEFAULT_DEFECTS",
    "DEFAULT_START",
    "simulate",
    "snapshot_file_name",
    "go_quote",
    "stats_file_bytes",
    "main",
]

#: Defects :func:`simulate` can plant.
DEFECTS: frozenset[str] = frozenset(
    {
        "reset",
        "torn_copy",
        "empty_file",
        "doubling",
        "doubling_ceiling",
        "doubling_kept",
        "negative",
        "torn_log",
        "gap",
    }
)
#: Defects planted by default: the first source gets the first set, the second the second,
#: further sources none.
DEFAULT_DEFECTS: tuple[frozenset[str], ...] = (
    frozenset({"reset", "torn_copy", "torn_log"}),
    frozenset({"empty_file", "doubling", "negative", "gap"}),
)
#: Default start of the simulated period.
DEFAULT_START = "2026-10-01T00:00:00Z"

_DOUBLING_KINDS = ("doubling", "doubling_ceiling", "doubling_kept")
_B_OFFSET = timezone(timedelta(hours=2))
_MAX_ATTEMPTS = 5
_SAVE_EVERY = 10
_PLUGIN = "[Plugin / Stash2Plex] "
_WORKER = _PLUGIN + "[Stash2Plex Worker] "
_RELEASES = {"normal": "0.9.4", "buggy": "0.9.5", "fixed": "0.9.6"}

# Load (jobs per hour) of the day/night cycle; source i is scaled by _LOAD[i % 4].
_NIGHT_RATE = 3.0
_PEAK_RATE = 15.0
_LOAD = (1.0, 0.8, 0.9, 1.1)

# Priorities of simultaneous events: shutdown, then captures, then worker events.
_P_SHUTDOWN, _P_CAPTURE, _P_CONTROL, _P_WORK = 0, 1, 2, 3


# -- the worker's exception classes (their names are what the artefacts record) ----------
class PlexNotFound(Exception):  # noqa: N818 - the worker's class name
    """The item is not (yet) in the Plex library; retried."""


class PlexTemporaryError(Exception):
    """A 5xx answer or a timeout of the Plex API; retried."""


class PlexPermanentError(Exception):
    """A Plex API error that retrying cannot fix; straight to the DLQ."""


class PermanentError(Exception):
    """A job that can never succeed (e.g. a skipped low-confidence match)."""


class PlexServerDown(Exception):  # noqa: N818 - the worker's class name
    """Plex is unreachable: the job is re-queued and the attempt is not counted."""


_ERROR_CLASSES: dict[str, type[BaseException]] = {
    "PlexNotFound": PlexNotFound,
    "PlexTemporaryError": PlexTemporaryError,
    "PlexPermanentError": PlexPermanentError,
    "PermanentError": PermanentError,
    "PlexServerDown": PlexServerDown,
    "ConnectionResetError": ConnectionResetError,
    "TimeoutError": TimeoutError,
}
_RETRIED = frozenset({"PlexNotFound", "PlexTemporaryError", "ConnectionResetError", "TimeoutError"})


# -- random numbers ------------------------------------------------------------------------
class _Rng:
    """Random numbers built only on :meth:`random.Random.random` (stable across Pythons)."""

    def __init__(self, *key: object) -> None:
        digest = hashlib.sha256(repr(key).encode()).digest()
        self._r = random.Random(int.from_bytes(digest[:8], "big"))

    def random(self) -> float:
        return self._r.random()

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self._r.random()

    def expo(self, rate: float) -> float:
        return -math.log(1.0 - self._r.random()) / rate

    def randint(self, a: int, b: int) -> int:
        """An int in [a, b]."""
        return a + min(int(self._r.random() * (b - a + 1)), b - a)

    def choice(self, seq: Sequence[Any]) -> Any:
        return seq[min(int(self._r.random() * len(seq)), len(seq) - 1)]

    def weighted(self, pairs: Sequence[tuple[Any, float]]) -> Any:
        u = self._r.random() * sum(w for _, w in pairs)
        for value, weight in pairs:
            u -= weight
            if u < 0:
                return value
        return pairs[-1][0]

    def lognormal(self, median: float, sigma: float) -> float:
        u1, u2 = self._r.random(), self._r.random()
        z = math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)
        return median * math.exp(sigma * z)


# -- small public helpers ------------------------------------------------------------------
def snapshot_file_name(when: float, style: str) -> str:
    """Name of the hourly copy captured at epoch *when* in naming *style*.

    Parameters
    ----------
    when : float
        Capture time, epoch seconds.
    style : {'A', 'B'}
        ``A``: ISO-8601 basic form in UTC with ``Z``; ``B``: extended form in +02:00.

    Returns
    -------
    str

    Examples
    --------
    >>> t = datetime(2026, 10, 1, 13, tzinfo=UTC).timestamp()
    >>> snapshot_file_name(t, "A"), snapshot_file_name(t, "B")
    ('stats-20261001T130000Z.json', 'stats-2026-10-01T15:00:00+02:00.json')
    """
    dt = datetime.fromtimestamp(when, UTC)
    if style == "A":
        return f"stats-{dt:%Y%m%dT%H%M%SZ}.json"
    if style == "B":
        return f"stats-{dt.astimezone(_B_OFFSET).isoformat()}.json"
    raise ParameterError(f"style must be 'A' or 'B', found {style!r}")


_GO_ESCAPES = {i: f"\\x{i:02x}" for i in (*range(0x20), 0x7F)}
_GO_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\", 10: "\\n", 9: "\\t", 13: "\\r"})


def go_quote(text: str) -> str:
    """Quote *text* as Go's ``%q`` does (logrus' file form): ``"`` and ``\\`` escaped.

    Control characters become ``\\n``, ``\\t``, ``\\r`` or ``\\xNN``; other characters,
    non-ASCII included, are kept.

    Examples
    --------
    >>> print(go_quote('Stats: {"a": 1} C:\\\\x'))
    "Stats: {\\"a\\": 1} C:\\\\x"
    """
    return '"' + text.translate(_GO_ESCAPES) + '"'


def stats_file_bytes(payload: Mapping[str, Any]) -> bytes:
    """Serialise a stats object exactly as :meth:`SyncStats.save_to_file` writes it.

    Used for the artefacts the simulator writes directly (inflated, negative copies).

    Examples
    --------
    >>> stats_file_bytes({"jobs_processed": 1})
    b'{\\n  "jobs_processed": 1\\n}\\n'
    """
    return json.dumps(dict(payload), indent=2, sort_keys=False).encode() + b"\n"


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d")


def _parse_start(start: str | datetime) -> float:
    if isinstance(start, datetime):
        dt = start
    else:
        text = str(start).strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise ParameterError(f"start must be an ISO-8601 time, found {start!r}") from None
    if dt.tzinfo is None:
        raise ParameterError(f"start must carry a zone (e.g. a trailing Z), found {start!r}")
    return dt.timestamp()


# -- per-source configuration --------------------------------------------------------------
def _normalise_defects(
    defects: str | Iterable[str] | Mapping[str, Iterable[str]] | None, sources: Sequence[str]
) -> dict[str, frozenset[str]]:
    """Per-source defect sets from the forms :func:`simulate` accepts."""
    if defects is None or defects == "none":
        out = {s: frozenset() for s in sources}
    elif defects == "default":
        out = {
            s: (DEFAULT_DEFECTS[i] if i < len(DEFAULT_DEFECTS) else frozenset())
            for i, s in enumerate(sources)
        }
    elif isinstance(defects, Mapping):
        unknown_sources = sorted(set(defects) - set(sources))
        if unknown_sources:
            raise ParameterError(f"defects name unknown sources {unknown_sources}")
        out = {s: frozenset(defects.get(s, ())) for s in sources}
    elif isinstance(defects, str):
        raise ParameterError(
            f"defects must be 'default', 'none', a set of names or a mapping, found {defects!r}"
        )
    else:
        names = frozenset(defects)
        out = {s: names for s in sources}
    for source, names in out.items():
        unknown = sorted(names - DEFECTS)
        if unknown:
            raise ParameterError(
                f"unknown defect(s) {unknown} for {source}; known: {sorted(DEFECTS)}"
            )
        if len(names & set(_DOUBLING_KINDS)) > 1:
            raise ParameterError(
                f"{source}: choose at most one of {list(_DOUBLING_KINDS)}, found {sorted(names)}"
            )
    return out


@dataclass
class _Plan:
    """When things happen in one run (shared by every source unless per source)."""

    t0: float
    t_end: float
    outage: tuple[float, float]
    copy_from: float


@dataclass
class _Job:
    job_id: int
    scene_id: int
    update_type: str
    data: dict[str, Any]
    enqueued_at: float
    job_key: str
    from_scan: bool
    found_at: float | None
    permanent: str | None
    attempts: int = 0
    next_retry_at: float | None = None
    last_error_type: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "scene_id": self.scene_id,
            "update_type": self.update_type,
            "data": self.data,
            "enqueued_at": self.enqueued_at,
            "job_key": self.job_key,
            "retry_count": max(self.attempts - 1, 0),
            "next_retry_at": self.next_retry_at,
            "last_error_type": self.last_error_type,
        }


@dataclass
class _Entry:
    """One host log entry: message and optional raw (unprefixed) continuation lines."""

    t: float
    seq: int
    level: str
    message: str
    raw: tuple[str, ...] = ()
    tag: str | None = None


def _empty_counts() -> dict[str, Any]:
    return {
        "attempts": 0,
        "succeeded": 0,
        "failed": 0,
        "to_dlq": 0,
        "high_confidence": 0,
        "low_confidence": 0,
        "errors_by_type": {},
        "processing_time_s": 0.0,
        "server_down_uncounted": 0,
    }


_STUDIOS = ("Brazzle Films", "North Pier", "Studio Nine", "Café Lumière", "Harbor Light")
_TAGS = ("outdoor", "interview", "4k", "vintage", "series", "behind the scenes", "remastered")
_PERFORMERS = ("A. Rivera", "J. Okafor", "M. Lindqvist", "S. Tanaka", "L. Moreau", "K. Novak")


def _rating_key(scene_id: int) -> int:
    return 10000 + (scene_id * 7919) % 90000


def _scene_path(scene_id: int) -> str:
    return f"/media/videos/{'abcdef'[scene_id % 6]}/scene_{scene_id}.mp4"


# -- error messages and stack traces -------------------------------------------------------
_PLUGIN_DIR = "/root/.stash/plugins/Stash2Plex"
_SITE = "/usr/lib/python3.11/site-packages"


def _stack_trace(error_type: str, message: str, job: _Job) -> str:
    """A realistic (~1 KB) Python traceback of the worker, ending in the exception line."""
    key = _rating_key(job.scene_id)
    lines = [
        "Traceback (most recent call last):",
        f'  File "{_PLUGIN_DIR}/worker/processor.py", line 214, in _worker_loop',
        "    result = self._process_job(job)",
        "             ^^^^^^^^^^^^^^^^^^^^^^",
    ]
    if error_type == "PlexNotFound":
        lines += [
            f'  File "{_PLUGIN_DIR}/worker/processor.py", line 342, in _process_job',
            '    plex_item = self._matcher.find_plex_item(job["data"]["path"])',
            "                ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
            f'  File "{_PLUGIN_DIR}/plex/matcher.py", line 88, in find_plex_item',
            "    candidates = self._search_by_path(path, library=library)",
            "                 ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
            f'  File "{_PLUGIN_DIR}/plex/matcher.py", line 141, in _search_by_path',
            '    raise PlexNotFound(f"Could not find Plex item for path: {path}")',
            f"plex.exceptions.PlexNotFound: {message}",
        ]
        return "\n".join(lines) + "\n"
    lines += [
        f'  File "{_PLUGIN_DIR}/worker/processor.py", line 351, in _process_job',
        "    self._apply_metadata(job, plex_item)",
        f'  File "{_PLUGIN_DIR}/worker/processor.py", line 377, in _apply_metadata',
        f"    self._plex.update_metadata({key}, fields)",
        f'  File "{_PLUGIN_DIR}/plex/client.py", line 204, in update_metadata',
        '    response = self._request("PUT", f"/library/metadata/{rating_key}", params=fields)',
        "               ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
    ]
    if error_type in ("ConnectionResetError", "TimeoutError"):
        lines += [
            f'  File "{_PLUGIN_DIR}/plex/client.py", line 131, in _request',
            "    response = self._session.request(method, url, timeout=self.timeout, **kwargs)",
            f'  File "{_SITE}/requests/sessions.py", line 589, in request',
            "    resp = self.send(prep, **send_kwargs)",
            f'  File "{_SITE}/requests/sessions.py", line 703, in send',
            "    r = adapter.send(request, **kwargs)",
            f'  File "{_SITE}/urllib3/connectionpool.py", line 793, in urlopen',
            "    response = self._make_request(conn, method, url, **response_kw)",
        ]
        if error_type == "ConnectionResetError":
            lines += [
                '  File "/usr/lib/python3.11/ssl.py", line 1263, in recv_into',
                "    return self.read(nbytes, buffer)",
            ]
        else:
            lines += [
                '  File "/usr/lib/python3.11/socket.py", line 706, in readinto',
                "    return self._sock.recv_into(b)",
            ]
        lines.append(f"{error_type}: {message}")
    else:
        module = "worker.errors" if error_type == "PermanentError" else "plex.exceptions"
        lines += [
            f'  File "{_PLUGIN_DIR}/plex/client.py", line 138, in _request',
            "    self._raise_for_status(response, path)",
            f'  File "{_PLUGIN_DIR}/plex/client.py", line 96, in _raise_for_status',
            f"    raise {error_type}(message)",
            f"{module}.{error_type}: {message}",
        ]
    return "\n".join(lines) + "\n"


def _error_message(error_type: str, job: _Job, rng: _Rng, outage: bool) -> str:
    key = _rating_key(job.scene_id)
    path = job.data["path"]
    if error_type == "PlexNotFound":
        return f"Could not find Plex item for path: {path}"
    if error_type == "PlexTemporaryError":
        if outage:
            return "Plex API error: 503 Service Unavailable"
        return rng.weighted(
            [
                ("Plex API error: 503 Service Unavailable", 5),
                ("Plex API error: 502 Bad Gateway", 2),
                ("Plex API error: 500 Internal Server Error", 2),
                (
                    f"Request to http://plex.local:32400/library/metadata/{key} timed out "
                    "after 30s",
                    2,
                ),
            ]
        )
    if error_type == "PlexPermanentError":
        return rng.weighted(
            [
                (f"Plex API error: 400 Bad Request for ratingKey {key}", 3),
                (f"Plex API error: 404 Not Found for /library/metadata/{key}", 2),
            ]
        )
    if error_type == "PermanentError":
        return rng.weighted(
            [
                ("Low confidence match skipped (strict_matching=true)", 3),
                (f"Scene {job.scene_id} has no file path in Stash", 1),
            ]
        )
    if error_type == "ConnectionResetError":
        return f"Connection reset by peer while updating ratingKey {key}"
    if error_type == "TimeoutError":
        return f"Request to http://plex.local:32400/library/metadata/{key} timed out after 30s"
    return "Plex server at http://plex.local:32400 is not reachable"


# -- one source ----------------------------------------------------------------------------
class _SourceRun:
    """Simulate one worker (source) and write its artefacts into ``out_dir/<source>``."""

    def __init__(
        self,
        *,
        seed: int,
        index: int,
        source: str,
        plan: _Plan,
        defects: frozenset[str],
        out_dir: Path,
        scratch: Path,
    ) -> None:
        self.seed = seed
        self.index = index
        self.source = source
        self.plan = plan
        self.defects = defects
        self.style = "A" if index % 2 == 0 else "B"
        self.dir = out_dir / source
        self.scratch = scratch / f"src{index}"
        self.live = self.scratch / "stats.json"
        self.rng_arrivals = _Rng(seed, source, "arrivals")
        self.rng_work = _Rng(seed, source, "work")
        self.rng_noise = _Rng(seed, source, "noise")
        self.rng_defects = _Rng(seed, source, "defects")
        self.load = _LOAD[index % len(_LOAD)]

        self.events: list[tuple[float, int, int, str, Any]] = []
        self._seq = 0
        self.entries: list[_Entry] = []
        self.totals = _empty_counts()
        self.per_day: dict[str, dict[str, Any]] = {}
        t = plan.t0
        while _day(t) <= _day(plan.t_end - 1.0):
            self.per_day[_day(t)] = _empty_counts()
            t += 86400.0
        self.defect_records: list[dict[str, Any]] = []
        self.sessions: list[dict[str, Any]] = []
        self.restarts: list[str] = []
        self.dlq_added = 0
        self.dlq_deleted = 0
        self.jobs_enqueued = 0
        self.jobs_completed = 0
        self.jobs_dead = 0
        self.pending_at_end = 0
        self.copies: list[str] = []
        self.history: list[str] = []
        self.history_tags: list[str | None] = []

        self.stats: SyncStats | None = None
        self.dlq: DeadLetterQueue | None = None
        self.fix_pending_now = False
        self.dlq_dirty = True
        self.dlq_summary: tuple[int, dict[str, int]] = (0, {})
        self.inflated_copies: list[tuple[str, int]] = []
        self.inflated_log_lines: list[tuple[str, int]] = []
        self.reset_log_lines: list[tuple[str, int]] = []
        self.release = "normal"
        self.worker_free = plan.t0
        self.since_start = 0
        self.inflated: dict[str, Any] | None = None
        self.doubled_saves = 0
        self.copy_defects_done: set[str] = set()
        self.cutoff = plan.t_end - 600.0
        # Defects that show in the copies are placed within the retained copies' window.
        self.gap = self._plan_gap()
        self.reset_at = self._hour_at(0.50, 17 * 60 + 23) if "reset" in defects else None
        self.bug_kind = next((k for k in _DOUBLING_KINDS if k in defects), None)
        self.bug_start = self._hour_at(0.10, 21 * 60 + 41) if self.bug_kind else None
        self.copy_targets = {
            "torn_copy": self._hour_at(0.20, 0),
            "empty_file": self._hour_at(0.30, 0),
            "negative": self._hour_at(0.55, 0),
        }

    # -- planning helpers ----------------------------------------------------------------
    def _hour_at(self, fraction: float, offset_s: int) -> float:
        """The hour at *fraction* of the copies' window (rounded down), plus *offset_s* s."""
        begin = self.plan.copy_from
        hours = math.floor(fraction * (self.plan.t_end - begin) / 3600.0)
        return begin + hours * 3600.0 + offset_s

    def _plan_gap(self) -> tuple[float, float] | None:
        if "gap" not in self.defects:
            return None
        start = self._hour_at(0.75, 13 * 60) + self.rng_defects.randint(0, 20) * 60
        length = 10 * 3600 + self.rng_defects.randint(0, 25) * 60
        return start, min(start + length, self.plan.t_end - 3600.0)

    def _in_gap(self, t: float) -> bool:
        return self.gap is not None and self.gap[0] <= t < self.gap[1]

    def _in_outage(self, t: float) -> bool:
        return self.plan.outage[0] <= t < self.plan.outage[1]

    def _push(self, t: float, prio: int, kind: str, payload: Any = None) -> None:
        self._seq += 1
        heapq.heappush(self.events, (t, prio, self._seq, kind, payload))

    def _log(
        self,
        t: float,
        level: str,
        message: str,
        raw: tuple[str, ...] = (),
        tag: str | None = None,
    ) -> None:
        self._seq += 1
        self.entries.append(_Entry(t, self._seq, level, message, raw, tag))

    # -- set-up ----------------------------------------------------------------------------
    def _rate(self, t: float) -> float:
        """Arrival rate (jobs per second) at epoch *t*: low at 05:00 UTC, peak at 17:00."""
        hour = (t % 86400.0) / 3600.0
        shape = 0.5 * (1.0 - math.cos(2.0 * math.pi * (hour - 5.0) / 24.0))
        return self.load * (_NIGHT_RATE + (_PEAK_RATE - _NIGHT_RATE) * shape) / 3600.0

    def _new_job(self, t: float, job_id: int, from_scan: bool) -> _Job:
        rng = self.rng_arrivals
        scene_id = rng.randint(1, 24000) if not from_scan else rng.randint(24001, 30000)
        update_type = rng.weighted([("metadata", 85), ("images", 10), ("full", 5)])
        data = {
            "path": _scene_path(scene_id),
            "title": f"Scene {scene_id}",
            "studio": rng.choice(_STUDIOS),
            "performers": [rng.choice(_PERFORMERS) for _ in range(rng.randint(0, 2))],
            "tags": [rng.choice(_TAGS) for _ in range(rng.randint(0, 3))],
            "rating100": rng.choice((None, 60, 80, 100)),
        }
        p_notfound = 0.12 if from_scan else 0.012
        found_at = t + rng.expo(1.0 / 720.0) if rng.random() < p_notfound else None
        u = rng.random()
        permanent = "PlexPermanentError" if u < 0.003 else "PermanentError" if u < 0.006 else None
        return _Job(
            job_id=job_id,
            scene_id=scene_id,
            update_type=update_type,
            data=data,
            enqueued_at=round(t, 3),
            job_key=f"scene:{scene_id}",
            from_scan=from_scan,
            found_at=found_at,
            permanent=permanent,
        )

    def _schedule(self) -> None:
        plan, rng = self.plan, self.rng_arrivals
        job_id = 1000 * (self.index + 1) + rng.randint(0, 999)
        # Poisson arrivals with a day/night cycle, by thinning.
        lam_max = self.load * _PEAK_RATE / 3600.0
        arrivals: list[tuple[float, bool]] = []
        t = plan.t0
        while True:
            t += rng.expo(lam_max)
            if t >= self.cutoff:
                break
            if rng.random() < self._rate(t) / lam_max:
                arrivals.append((t, False))
        # A nightly library scan: host log lines, then a burst of jobs for the new files.
        day = plan.t0
        while day < plan.t_end:
            start = day + 2 * 3600 + rng.randint(0, 7200)
            files = rng.randint(8, 30)
            if start + 1800 < self.cutoff:
                self._scan_noise(start, files)
                end = start + 60 + files * 4
                for k in range(files):
                    arrivals.append((end + 5 + k * rng.uniform(8, 40), True))
            day += 86400.0
        arrivals.sort()
        for t, from_scan in arrivals:
            if t >= self.cutoff:
                continue
            job_id += 1
            self._push(t, _P_WORK, "attempt", self._new_job(t, job_id, from_scan))
            self.jobs_enqueued += 1
        # Captures: hourly copies at :00 and history at :07/:22/:37/:52.
        t = plan.t0 + 3600.0
        while t <= plan.t_end:
            self._push(t, _P_CAPTURE, "copy")
            t += 3600.0
        t = plan.t0 + 7 * 60
        while t < plan.t_end:
            self._push(t, _P_CAPTURE, "history")
            t += 900.0
        # Worker life cycle.
        self._push(plan.t0, _P_CONTROL, "start", "start")
        day = plan.t0
        while day < plan.t_end:
            if self.rng_defects.random() < 0.3:
                r = day + self.rng_defects.randint(3600, 86400 - 3600)
                if r < self.cutoff - 3600:
                    self._push(float(r), _P_CONTROL, "restart", "restart")
            day += 86400.0
        if self.reset_at is not None:
            self._push(self.reset_at, _P_CONTROL, "restart", "reset")
        if self.bug_start is not None:
            self._push(self.bug_start, _P_CONTROL, "restart", "buggy_release")
            if self.bug_kind != "doubling_ceiling":
                self._push(self.bug_start + 8 * 3600, _P_CONTROL, "restart", "fixed_release")
        self._push(plan.t_end - 30.0, _P_SHUTDOWN, "shutdown", None)
        self._other_noise()

    # -- host noise --------------------------------------------------------------------------
    def _scan_noise(self, start: float, files: int) -> None:
        rng = self.rng_noise
        total = rng.randint(4000, 4600)
        self._log(start, "info", "Starting scan of 2 paths")
        for pct in (25, 50, 75):
            self._log(
                start + pct * 0.6,
                "info",
                f"[scan] {pct}% complete ({total * pct // 100}/{total} files)",
            )
        took = 60 + files * 4
        self._log(
            start + took,
            "info",
            f"Finished scan: {files} new files, {rng.randint(0, 3)} moved ({took}s)",
        )
        for k in range(min(files, 3)):
            scene = rng.randint(24001, 30000)
            self._log(
                start + 61 + k, "debug", f"[generate] Generating phash for {_scene_path(scene)}"
            )

    def _other_noise(self) -> None:
        plan, rng = self.plan, self.rng_noise
        t = plan.t0
        while True:
            t += rng.expo(1.0 / 1500.0)
            if t >= plan.t_end - 60:
                break
            kind = rng.weighted(
                [("renamer", 4), ("tagger", 3), ("http", 1), ("tb", 0.10), ("raw", 0.03)]
            )
            scene = rng.randint(1, 24000)
            if kind == "renamer":
                title = rng.choice(("Sunset Walk", 'The "Long" Take', "Café Noir", "Back\\Stage"))
                self._log(
                    t,
                    "info",
                    f'[Plugin / Renamer] Renamed "{_scene_path(scene)}" to '
                    f'"/media/videos/{"abcdef"[scene % 6]}/{title} ({scene}).mp4"',
                )
            elif kind == "tagger":
                self._log(
                    t,
                    "info",
                    f"[Plugin / AutoTagger] Processed {rng.randint(1, 40)} "
                    f"scenes, {rng.randint(0, 9)} tags added",
                )
            elif kind == "http":
                self._log(
                    t,
                    "warning",
                    f"http: TLS handshake error from 192.168.1."
                    f"{rng.randint(2, 250)}:{rng.randint(40000, 65000)}: EOF",
                )
            else:
                self._traceback_noise(t, raw=(kind == "raw"))

    def _traceback_noise(self, t: float, raw: bool) -> None:
        lines = [
            "Traceback (most recent call last):",
            '  File "/root/.stash/plugins/FileMonitor/filemonitor.py", line 412, in <module>',
            "    observer.start()",
            '  File "/usr/lib/python3.11/site-packages/watchdog/observers/api.py", line 264,'
            " in start",
            "    emitter.start()",
            '  File "/usr/lib/python3.11/site-packages/watchdog/observers/inotify_c.py", line'
            " 428, in _add_watch",
            '    raise OSError(errno.ENOSPC, "inotify watch limit reached")',
            "OSError: [Errno 28] inotify watch limit reached",
        ]
        prefix = "[Plugin / FileMonitor] "
        if raw:
            # Written straight to the host's output: continuation lines carry no prefix.
            self._log(t, "error", prefix + "Plugin crashed, output follows:", raw=tuple(lines))
        else:
            for k, line in enumerate(lines):
                self._log(t + k * 1e-3, "error", prefix + line)

    # -- worker life cycle -------------------------------------------------------------------
    def _inflating(self) -> bool:
        """Whether the buggy release has doubled the counters at least once by now."""
        return self.release == "buggy" and self.inflated is not None and self.doubled_saves > 0

    def _view_bytes(self) -> bytes | None:
        """What the live stats file holds for the outside world (inflated when buggy)."""
        if self.release == "buggy" and self.inflated is not None:
            return stats_file_bytes(self.inflated)
        try:
            return self.live.read_bytes()
        except FileNotFoundError:
            return None

    def _start_worker(self, t: float, reason: str) -> None:
        if reason == "reset":
            self.stats = SyncStats(session_start=t)
            self.sessions.append(
                {"reason": "reset", "started_at": _iso(t), "session_start": t, "base_processed": 0}
            )
        elif reason == "fixed_release":
            self._deploy_fix(t)
        elif self.live.exists():
            self.stats = SyncStats.load_from_file(self.live)
        else:
            self.stats = SyncStats(session_start=t)
            self.sessions.append(
                {"reason": reason, "started_at": _iso(t), "session_start": t, "base_processed": 0}
            )
        if reason == "buggy_release":
            self.release = "buggy"
            self.inflated = json.loads(self.live.read_bytes()) if self.live.exists() else None
        version = _RELEASES[self.release if reason != "fixed_release" else "fixed"]
        self._log(
            t,
            "info",
            _WORKER + f"Starting sync worker v{version} (data dir: "
            "/root/.stash/plugins/Stash2Plex/data)",
        )
        loaded = self.stats.jobs_processed if self.stats else 0
        self._log(t + 0.001, "debug", _WORKER + f"Loaded stats: {loaded} jobs processed")
        removed = self.dlq.delete_older_than(30, now=datetime.fromtimestamp(t, UTC))
        self.dlq_deleted += removed
        self.dlq_dirty = True
        if removed:
            self._log(t + 0.002, "info", _WORKER + f"Removed {removed} DLQ entries (> 30 days)")
        self.since_start = 0

    def _deploy_fix(self, t: float) -> None:
        """The fixed release starts after the buggy one (doubling defects)."""
        assert self.inflated is not None
        kind = self.bug_kind
        record = {
            "name": kind,
            "start": _iso(self.bug_start or t),
            "fixed_at": _iso(t),
            "doubled_saves": self.doubled_saves,
            "max_counter": max(int(self.inflated.get(k, 0)) for k in _COUNTERS),
        }
        if kind == "doubling":
            os.remove(self.live)
            self.stats = SyncStats(session_start=t)
            base = 0
        else:
            self.live.write_bytes(stats_file_bytes(self.inflated))
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", CorruptStatsWarning)
                self.stats = SyncStats.load_from_file(self.live)
            record["fixed_release_refused_file"] = any(
                issubclass(w.category, CorruptStatsWarning) for w in caught
            )
            if record["fixed_release_refused_file"]:
                self.stats.session_start = t  # load_from_file's fresh stats use the clock
                base = 0
            else:
                base = self.stats.jobs_processed
        self.sessions.append(
            {
                "reason": f"fixed_release ({kind})",
                "started_at": _iso(t),
                "session_start": self.stats.session_start,
                "base_processed": base,
            }
        )
        self.defect_records.append(record)
        self.release = "fixed"
        self.inflated = None

    def _stop_worker(self, t: float, final: bool = False) -> None:
        if self.stats is None:
            return
        if self.since_start % _SAVE_EVERY:
            self._save_and_summarise(t)
        self._log(
            t + 0.5,
            "info",
            _WORKER + ("Shutting down, stats saved" if final else "Worker stopped, stats saved"),
        )
        self.stats = None

    def _save_and_summarise(self, t: float) -> None:
        """Save the live file (every 10 jobs and at shutdown) and log the batch summary."""
        stats = self.stats
        assert stats is not None
        delta = stats.unsaved()
        stats.save_to_file(self.live)
        tag = None
        if self.release == "buggy" and self.inflated is not None:
            self._double(delta)
            view = self.inflated
            tag = "inflated"
            top = max(int(view[k]) for k in _COUNTERS)
            if (
                self.bug_kind != "doubling_ceiling"
                and 2 * top + _SAVE_EVERY >= SANITY_CEILING
                and not self.fix_pending_now
            ):
                # The next save would cross the ceiling: the fix is deployed now.
                self.fix_pending_now = True
                self._push(t + 1.0, _P_CONTROL, "restart", "fixed_release")
        else:
            view = stats.to_dict()
        self._log_summary(t, view, tag)

    def _double(self, delta: Mapping[str, Any]) -> None:
        """The buggy release: the file is merged into totals that already contain it."""
        inf = self.inflated
        assert inf is not None
        for key in _COUNTERS:
            inf[key] = 2 * int(inf.get(key, 0)) + int(delta[key])
        inf["total_processing_time"] = 2 * float(inf.get("total_processing_time", 0.0)) + float(
            delta["total_processing_time"]
        )
        errors = {k: 2 * int(v) for k, v in inf.get("errors_by_type", {}).items()}
        for k, v in delta["errors_by_type"].items():
            errors[k] = errors.get(k, 0) + int(v)
        inf["errors_by_type"] = errors
        self.doubled_saves += 1

    def _log_summary(self, t: float, view: Mapping[str, Any], tag: str | None) -> None:
        processed = int(view["jobs_processed"])
        succeeded = int(view["jobs_succeeded"])
        rate = succeeded / processed * 100.0 if processed else 0.0
        avg_ms = float(view["total_processing_time"]) / processed * 1000.0 if processed else 0.0
        high, low = int(view["high_confidence_matches"]), int(view["low_confidence_matches"])
        self._log(
            t,
            "info",
            _WORKER + f"Sync summary: {succeeded}/{processed} succeeded ({rate:.1f}%), "
            f"avg {avg_ms:.0f}ms, confidence: {high} high / {low} low",
            tag=tag,
        )
        payload = {
            "processed": processed,
            "succeeded": succeeded,
            "failed": int(view["jobs_failed"]),
            "to_dlq": int(view["jobs_to_dlq"]),
            "success_rate": f"{rate:.1f}%",
            "avg_time_ms": int(round(avg_ms)),
            "high_confidence": high,
            "low_confidence": low,
            "errors_by_type": dict(view["errors_by_type"]),
        }
        self._log(t + 0.001, "info", _WORKER + f"Stats: {json.dumps(payload)}", tag=tag or "stats")
        if self.dlq_dirty:  # the same answers as asking every time, without the queries
            self.dlq_summary = (self.dlq.get_count(), self.dlq.get_error_summary())
            self.dlq_dirty = False
        count, by_type = self.dlq_summary
        if count:
            summary = sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0]))
            breakdown = ", ".join(f"{n} {name}" for name, n in summary)
            self._log(t + 0.002, "warning", _WORKER + f"DLQ contains {count} items: {breakdown}")

    # -- attempts ------------------------------------------------------------------------------
    def _outcome(self, job: _Job, start: float) -> tuple[str | None, str, float]:
        """``(error_type or None, confidence or message, seconds)`` of one attempt."""
        rng = self.rng_work
        if self._in_outage(start):
            kind = rng.weighted(
                [
                    ("ok", 0.08),
                    ("PlexServerDown", 0.07),
                    ("PlexTemporaryError", 0.55),
                    ("ConnectionResetError", 0.20),
                    ("TimeoutError", 0.10),
                ]
            )
        elif job.permanent is not None:
            kind = job.permanent
        elif job.found_at is not None and start < job.found_at:
            kind = "PlexNotFound"
        else:
            kind = rng.weighted(
                [
                    ("ok", 0.984),
                    ("PlexTemporaryError", 0.012),
                    ("ConnectionResetError", 0.002),
                    ("TimeoutError", 0.002),
                ]
            )
        if kind == "ok":
            conf = "low" if rng.random() < 0.04 else "high"
            seconds = rng.lognormal(0.62 if conf == "low" else 0.38, 0.45)
            return None, conf, max(round(seconds, 3), 0.001)
        message = _error_message(kind, job, rng, self._in_outage(start))
        if kind in ("TimeoutError",) or "timed out" in message:
            seconds = 30.0 + rng.uniform(0.0, 0.08)
        elif kind == "PlexServerDown":
            seconds = 5.0 + rng.uniform(0.0, 0.05)
        else:
            median = {"PlexNotFound": 0.55, "ConnectionResetError": 0.9}.get(kind, 0.25)
            seconds = rng.lognormal(median, 0.4)
        return kind, message, max(round(seconds, 3), 0.001)

    def _count(self, t: float, error: str | None = None, **increments: float) -> None:
        """Add to the ground truth of the whole run and of the UTC day of *t*."""
        day = self.per_day.setdefault(_day(t), _empty_counts())
        for bucket in (self.totals, day):
            for key, n in increments.items():
                bucket[key] += n
            if error is not None:
                errors = bucket["errors_by_type"]
                errors[error] = errors.get(error, 0) + 1

    def _attempt(self, t: float, job: _Job) -> None:
        if t >= self.cutoff:
            self.pending_at_end += 1
            return
        if self.stats is None or self.worker_free > t:
            self._push(max(self.worker_free, t + 1.0), _P_WORK, "attempt", job)
            return
        error_type, detail, seconds = self._outcome(job, t)
        end = t + seconds
        self.worker_free = end
        self._push(end, _P_WORK, "complete", (job, error_type, detail, seconds))

    def _complete(self, t: float, payload: tuple[_Job, str | None, str, float]) -> None:
        job, error_type, detail, seconds = payload
        stats = self.stats
        assert stats is not None
        if error_type == "PlexServerDown":
            self._count(t, server_down_uncounted=1)
            self._log(
                t,
                "warning",
                _WORKER + f"Plex server is down ({detail}); job {job.job_id} re-queued in 300s",
            )
            self._push(t + 300.0, _P_WORK, "attempt", job)
            return
        job.attempts += 1
        if error_type is None:
            stats.record_success(seconds, confidence=detail)
            confidence = {"high_confidence" if detail == "high" else "low_confidence": 1}
            self._count(t, attempts=1, processing_time_s=seconds, succeeded=1, **confidence)
            self.jobs_completed += 1
        else:
            retry = error_type in _RETRIED and job.attempts < _MAX_ATTEMPTS
            stats.record_failure(error_type, seconds, to_dlq=not retry)
            self._count(
                t,
                error_type,
                attempts=1,
                processing_time_s=seconds,
                failed=1,
                to_dlq=0 if retry else 1,
            )
            job.last_error_type = error_type
            if retry:
                base = 120.0 if error_type == "PlexNotFound" else 60.0
                delay = round(base * 2 ** (job.attempts - 1) * self.rng_work.uniform(0.9, 1.1), 3)
                job.next_retry_at = round(t + delay, 3)
                self._log(
                    t,
                    "debug",
                    _WORKER + f"Job {job.job_id} failed with {error_type} "
                    f"(attempt {job.attempts}/{_MAX_ATTEMPTS}), retrying in {delay:.0f}s",
                )
                self._push(t + delay, _P_WORK, "attempt", job)
            else:
                self.jobs_dead += 1
                self.dlq_dirty = True
                error = _ERROR_CLASSES[error_type](detail)
                self.dlq.add(
                    job.as_dict(),
                    error,
                    max(job.attempts - 1, 0),
                    failed_at=datetime.fromtimestamp(t, UTC),
                    stack_trace=_stack_trace(error_type, detail, job),
                )
                self.dlq_added += 1
                self._log(
                    t,
                    "warning",
                    _WORKER + f"Job {job.job_id} for scene {job.scene_id} "
                    f"moved to DLQ after {job.attempts} attempt(s): {error_type}: {detail}",
                )
        self.since_start += 1
        if self.since_start % _SAVE_EVERY == 0:
            self._save_and_summarise(t)

    # -- captures --------------------------------------------------------------------------------
    def _copy(self, t: float) -> None:
        if self._in_gap(t) or t < self.plan.copy_from:
            return
        data = self._view_bytes()
        if data is None:
            return
        name = snapshot_file_name(t, self.style)
        for defect in ("torn_copy", "empty_file", "negative"):
            if (
                defect in self.defects
                and defect not in self.copy_defects_done
                and t >= self.copy_targets[defect]
                and self.release != "buggy"
            ):
                data = self._plant_copy_defect(defect, t, name, data)
                self.copy_defects_done.add(defect)
                break
        if self._inflating():
            top = max(int(self.inflated[k]) for k in _COUNTERS)
            self.inflated_copies.append((name, top))
            if (
                self.bug_kind == "doubling_ceiling"
                and top > SANITY_CEILING
                and not (self.fix_pending_now)
            ):
                self.fix_pending_now = True
                self._push(t + 300.0, _P_CONTROL, "restart", "fixed_release")
        (self.dir / "snapshots" / name).write_bytes(data)
        self.copies.append(name)

    def _plant_copy_defect(self, defect: str, t: float, name: str, data: bytes) -> bytes:
        record: dict[str, Any] = {"name": defect, "file": f"snapshots/{name}", "time": _iso(t)}
        if defect == "torn_copy":
            cut = len(data) // 2
            record.update({"original_bytes": len(data), "kept_bytes": cut})
            data = data[:cut]
        elif defect == "empty_file":
            record["original_bytes"] = len(data)
            data = b""
        else:
            obj = json.loads(data)
            key = "jobs_succeeded"
            value = -int(obj[key]) if int(obj[key]) > 0 else -1
            record.update({"key": key, "true_value": obj[key], "value": value})
            obj[key] = value
            data = stats_file_bytes(obj)
        self.defect_records.append(record)
        return data

    def _history(self, t: float) -> None:
        if self._in_gap(t):
            return
        data = self._view_bytes()
        if data is None:
            return
        obj = json.loads(data)
        obj["snapshot_at"] = _iso(t) if self.style == "A" else t
        obj["source"] = self.source
        self.history.append(json.dumps(obj))
        self.history_tags.append("inflated" if self._inflating() else None)

    # -- main loop -------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        (self.dir / "snapshots").mkdir(parents=True)
        self.scratch.mkdir(parents=True)
        self._schedule()
        while self.events:
            t, _prio, _seq, kind, payload = heapq.heappop(self.events)
            if kind == "attempt":
                self._attempt(t, payload)
            elif kind == "complete":
                self._complete(t, payload)
            elif kind == "copy":
                self._copy(t)
            elif kind == "history":
                self._history(t)
            elif kind in ("start", "restart"):
                if self.worker_free > t:
                    self._push(self.worker_free + 0.5, _P_CONTROL, kind, payload)
                    continue
                self._control(t, kind, payload)
            elif kind == "shutdown":
                if self.worker_free > t:
                    self._push(self.worker_free + 0.5, _P_SHUTDOWN, kind, payload)
                    continue
                self._stop_worker(t, final=True)
        return self._finish()

    def _control(self, t: float, kind: str, reason: str) -> None:
        if kind == "start":
            self.dlq = DeadLetterQueue(self.scratch)
            self._log(t, "info", "stash version: v0.27.2 - Official Build")
            self._start_worker(t, "start")
            return
        if self.stats is None:  # after the final shutdown
            return
        if reason == "fixed_release" and self.release != "buggy":
            return
        self._stop_worker(t)
        down = 45.0 + self.rng_defects.randint(0, 60)
        self.restarts.append(_iso(t))
        if reason == "reset":
            os.remove(self.live)  # the live file goes away while the worker is stopped
            self.defect_records.append(
                {"name": "reset", "time": _iso(t), "new_session_start": t + down}
            )
        self._start_worker(t + down, reason)
        self.worker_free = t + down

    # -- writing the logs and the manifest --------------------------------------------------------
    def _render(self, entry: _Entry) -> list[str]:
        ts = datetime.fromtimestamp(math.floor(entry.t), UTC).strftime("%Y-%m-%d %H:%M:%S")
        if self.style == "A":
            first = f'time="{ts}" level={entry.level} msg={go_quote(entry.message)}'
        else:
            lvl = {"info": "INFO", "warning": "WARN", "error": "ERRO", "debug": "DEBU"}
            first = f"{lvl[entry.level]}[{ts}] {entry.message}"
        return [first, *entry.raw]

    def _write_logs(self) -> dict[str, Any]:
        entries = sorted(
            (e for e in self.entries if not self._in_gap(e.t)), key=lambda e: (e.t, e.seq)
        )
        t_rot = self.plan.t0 + (2.0 / 3.0) * (self.plan.t_end - self.plan.t0)
        files: dict[str, list[str]] = {}
        tags: dict[str, list[str | None]] = {}
        if self.style == "A":
            names = ["stash.log.1", "stash.log"]
            split = next((i for i, e in enumerate(entries) if e.t >= t_rot), len(entries))
            parts = [entries[:split], entries[split:]]
        else:
            names = ["console.log"]
            parts = [entries]
        for name, part in zip(names, parts, strict=True):
            lines: list[str] = []
            line_tags: list[str | None] = []
            for e in part:
                rendered = self._render(e)
                lines.extend(rendered)
                line_tags.extend([e.tag] + [None] * (len(rendered) - 1))
            files[name], tags[name] = lines, line_tags
        info: dict[str, Any] = {
            "form": "logrus-file" if self.style == "A" else "console",
            "tz": "UTC",
            "files": names[::-1],
        }
        if self.style == "A":
            info["rotated_at"] = _iso(entries[split].t) if split < len(entries) else None
        if "torn_log" in self.defects:
            target = self.plan.t0 + 0.5 * (self.plan.t_end - self.plan.t0)
            done = False
            for name in names:
                for i, line in enumerate(files[name]):
                    if tags[name][i] == "stats" and _line_time(line) >= target:
                        cut = line.index("Stats: ") + 7 + (len(line) - line.index("Stats: ")) // 3
                        self.defect_records.append(
                            {
                                "name": "torn_log",
                                "file": name,
                                "line": i + 1,
                                "time": _iso(_line_time(line)),
                                "original_chars": len(line),
                                "kept_chars": cut,
                            }
                        )
                        files[name][i] = line[:cut]
                        done = True
                        break
                if done:
                    break
        for name in names:
            text = "".join(line + "\n" for line in files[name])
            (self.dir / name).write_bytes(text.encode("utf-8"))
        info["lines"] = {name: len(files[name]) for name in names}
        info["stats_lines"] = {
            name: sum(1 for line in files[name] if "[Stash2Plex Worker] Stats: " in line)
            for name in names
        }
        # Where the inflated (doubling) Stats lines are.
        inflated_at = [
            (name, i + 1)
            for name in names
            for i, tg in enumerate(tags[name])
            if tg == "inflated" and "Stats: " in files[name][i]
        ]
        self.inflated_log_lines = inflated_at
        reset_stats = []
        for rec in self.defect_records:
            if rec["name"] == "reset":
                t_reset = rec["new_session_start"]
                for name in names:
                    for i, line in enumerate(files[name]):
                        if tags[name][i] == "stats" and _line_time(line) >= t_reset:
                            reset_stats.append((name, i + 1))
                            break
                    if reset_stats:
                        break
        self.reset_log_lines = reset_stats
        return info

    def _finish(self) -> dict[str, Any]:
        log_info = self._write_logs()
        history = "".join(line + "\n" for line in self.history)
        (self.dir / "history.jsonl").write_text(history, encoding="utf-8")
        shutil.copyfile(self.scratch / "dlq.db", self.dir / "dlq.db")
        uri = f"file:{self.dir / 'dlq.db'}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True)) as conn:
            rows = int(conn.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0])
            by_type = dict(
                conn.execute("SELECT error_type, COUNT(*) FROM dead_letters GROUP BY error_type")
            )
        for rec in self.defect_records:
            if rec["name"] == "reset":
                t_reset = rec["new_session_start"]
                after = [c for c in self.copies if self._copy_time(c) >= t_reset]
                rec["first_copy_after"] = f"snapshots/{after[0]}" if after else None
                rec["first_history_line_after"] = next(
                    (
                        i + 1
                        for i, line in enumerate(self.history)
                        if json.loads(line)["session_start"] == rec["new_session_start"]
                    ),
                    None,
                )
                if self.reset_log_lines:
                    name, line = self.reset_log_lines[0]
                    rec["first_stats_log_line_after"] = {"file": name, "line": line}
            if rec["name"] in _DOUBLING_KINDS:
                copies = self.inflated_copies
                rec["inflated_copies"] = [f"snapshots/{n}" for n, _ in copies]
                rec["copies_above_ceiling"] = [
                    f"snapshots/{n}" for n, top in copies if top > SANITY_CEILING
                ]
                hist = [i + 1 for i, tg in enumerate(self.history_tags) if tg == "inflated"]
                rec["inflated_history_lines"] = [hist[0], hist[-1]] if hist else None
                logs = self.inflated_log_lines
                rec["inflated_stats_log_lines"] = (
                    {"file": logs[0][0], "first": logs[0][1], "last": logs[-1][1]} if logs else None
                )
        if self.gap is not None:
            self.defect_records.append(
                {
                    "name": "gap",
                    "start": _iso(self.gap[0]),
                    "end": _iso(self.gap[1]),
                    "hours": round((self.gap[1] - self.gap[0]) / 3600.0, 3),
                    "worker": "running (its attempts are in the totals; only the captures "
                    "and the host log lines are missing)",
                }
            )
        final = json.loads(self.live.read_bytes()) if self.live.exists() else None
        return {
            "style": self.style,
            "snapshot_name_form": "basic-Z" if self.style == "A" else "extended+02:00",
            "history_snapshot_at": "iso-Z" if self.style == "A" else "epoch-seconds",
            "load_factor": self.load,
            "totals": _rounded(self.totals),
            "per_day": {d: _rounded(c) for d, c in self.per_day.items()},
            "jobs": {
                "enqueued": self.jobs_enqueued,
                "succeeded": self.jobs_completed,
                "dead_lettered": self.jobs_dead,
                "pending_at_end": self.pending_at_end,
            },
            "dlq": {
                "rows": rows,
                "by_error_type": by_type,
                "added": self.dlq_added,
                "deleted_by_retention": self.dlq_deleted,
            },
            "final_live_file": final,
            "sessions": self.sessions,
            "restarts": self.restarts,
            "files": {
                "snapshots": len(self.copies),
                "first_snapshot": f"snapshots/{self.copies[0]}" if self.copies else None,
                "last_snapshot": f"snapshots/{self.copies[-1]}" if self.copies else None,
                "history_lines": len(self.history),
            },
            "log": log_info,
            "defects": sorted(self.defect_records, key=lambda r: (r["name"], json.dumps(r))),
        }

    def _copy_time(self, name: str) -> float:
        stem = name[len("stats-") : -len(".json")]
        if self.style == "A":
            return datetime.strptime(stem, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
        return datetime.fromisoformat(stem).timestamp()


def _line_time(line: str) -> float:
    """Epoch seconds of a rendered host log line (hosts run in UTC).

    Examples
    --------
    >>> _line_time('INFO[2026-10-01 00:00:01] x') - _line_time('time="2026-10-01 00:00:00" x')
    1.0
    """
    if line.startswith('time="'):
        text = line[6:25]
    else:
        text = line[line.index("[") + 1 : line.index("[") + 20]
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()


def _rounded(counts: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(counts)
    out["processing_time_s"] = round(float(out["processing_time_s"]), 3)
    out["errors_by_type"] = dict(sorted(out["errors_by_type"].items()))
    return out


def _plan_outage(seed: int, t0: float, days: int) -> tuple[float, float]:
    """The Plex outage: a few hours in the afternoon of about a third into the run."""
    rng = _Rng(seed, "outage")
    day = min(days - 1, max(0, round(days / 3)))
    start = t0 + day * 86400.0 + rng.randint(13 * 60, 16 * 60) * 60.0
    return start, start + rng.randint(180, 270) * 60.0


# -- entry points ------------------------------------------------------------------------------
def simulate(
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 7,
    start: str | datetime = DEFAULT_START,
    days: int = 21,
    sources: Sequence[str] = ("worker-a", "worker-b"),
    defects: str | Iterable[str] | Mapping[str, Iterable[str]] | None = "default",
    copy_retention_days: float | None = 7.0,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Simulate the workers and write their artefacts; return the manifest (ground truth).

    Parameters
    ----------
    out_dir : str or os.PathLike
        Output directory; one sub-directory per source plus ``truth.json``.
    seed : int, default 7
        Seed of every random choice.
    start : str or datetime, default '2026-10-01T00:00:00Z'
        Start of the simulated period (timezone-aware).
    days : int, default 21
        Length of the simulated period in days.
    sources : sequence of str, default ('worker-a', 'worker-b')
        Worker names (directory names). Even positions use style A, odd positions style B.
    defects : 'default', 'none', None, iterable of str or mapping, default 'default'
        Defects to plant (see ``DEFECTS``): ``'default'`` (``DEFAULT_DEFECTS`` by
        source position), ``'none'``/None, a set of names for every source, or a mapping
        from source name to names.
    copy_retention_days : float or None, default 7.0
        The snapshot directory keeps the hourly copies of the last this many days (older
        ones are pruned, as a snapshotter with retention does); None or 0 keeps all. The
        JSON Lines history always covers the whole period.
    overwrite : bool, default False
        Replace existing ``out_dir/<source>`` directories and ``truth.json``.

    Returns
    -------
    dict
        The manifest, also written (sorted keys) to ``out_dir/truth.json``.

    Raises
    ------
    ParameterError
        On a bad argument or when output exists and *overwrite* is false.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ParameterError(f"seed must be an int, found {seed!r}")
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ParameterError(f"days must be an int >= 1, found {days!r}")
    sources = list(sources)
    if not sources or len(set(sources)) != len(sources):
        raise ParameterError(f"sources must be distinct names, found {sources!r}")
    for s in sources:
        if not s or s in (".", "..") or "/" in s or "\\" in s or s == "truth.json":
            raise ParameterError(f"bad source name {s!r}")
    per_source = _normalise_defects(defects, sources)
    t0 = _parse_start(start)
    out = Path(out_dir)
    existing = [out / s for s in sources if (out / s).exists()]
    if (out / "truth.json").exists():
        existing.append(out / "truth.json")
    if existing and not overwrite:
        raise ParameterError(
            f"output exists: {', '.join(map(str, existing))}; pass overwrite=True (--overwrite)"
        )
    for path in existing:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    out.mkdir(parents=True, exist_ok=True)
    if copy_retention_days is not None and (
        isinstance(copy_retention_days, bool)
        or not isinstance(copy_retention_days, int | float)
        or not math.isfinite(copy_retention_days)
        or copy_retention_days < 0
    ):
        raise ParameterError(
            f"copy_retention_days must be None or a number >= 0, found {copy_retention_days!r}"
        )
    t_end = t0 + days * 86400.0
    copy_from = t0
    if copy_retention_days:
        copy_from = max(t0, t_end - float(copy_retention_days) * 86400.0)
    plan = _Plan(t0=t0, t_end=t_end, outage=_plan_outage(seed, t0, days), copy_from=copy_from)
    manifest: dict[str, Any] = {
        "generator": {
            "seed": seed,
            "start": _iso(t0),
            "end": _iso(plan.t_end),
            "days": days,
            "sources": sources,
            "defects": {s: sorted(d) for s, d in per_source.items()},
            "hosts_timezone": "UTC",
            "copy_retention_days": copy_retention_days or None,
            "copies_from": _iso(copy_from),
            "counting": "per attempt, attributed to the UTC day the attempt completed",
        },
        "outage": {"start": _iso(plan.outage[0]), "end": _iso(plan.outage[1])},
        "sources": {},
    }
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="syncstats-sim-", dir=base) as scratch:
        for i, source in enumerate(sources):
            run = _SourceRun(
                seed=seed,
                index=i,
                source=source,
                plan=plan,
                defects=per_source[source],
                out_dir=out,
                scratch=Path(scratch),
            )
            manifest["sources"][source] = run.run()
    text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    (out / "truth.json").write_text(text, encoding="utf-8")
    return json.loads(text)


def _parse_defects_args(values: list[str] | None) -> str | dict[str, set[str]] | set[str]:
    if not values:
        return "default"
    if len(values) == 1 and values[0] in ("default", "none"):
        return values[0]
    common: set[str] = set()
    per: dict[str, set[str]] = {}
    for value in values:
        if "=" in value:
            source, _, names = value.partition("=")
            per.setdefault(source, set()).update(n for n in names.split(",") if n and n != "none")
        elif value == "none":
            continue
        else:
            common.update(n for n in value.split(",") if n)
    if per:
        if common:
            raise ParameterError("give defects either for all sources or per source, not both")
        return per
    return common


def source_names(values: Sequence[str]) -> list[str]:
    """``--sources``: names, or one number N for N workers named worker-a, worker-b, ...

    Examples
    --------
    >>> source_names(["3"]), source_names(["x", "y"])
    (['worker-a', 'worker-b', 'worker-c'], ['x', 'y'])
    """
    if len(values) == 1 and values[0].isdigit():
        n = int(values[0])
        if not 1 <= n <= 1000:
            raise ParameterError(f"--sources: expected 1 to 1000 workers, found {n}")
        letters = "abcdefghijklmnopqrstuvwxyz"
        return [f"worker-{letters[i]}" if i < 26 else f"worker-{i + 1}" for i in range(n)]
    return list(values)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The simulator's options (all but the output folder), for both command lines."""
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--start", default=DEFAULT_START, help=f"start (default {DEFAULT_START})")
    parser.add_argument("--days", type=int, default=21, help="days to simulate (default 21)")
    parser.add_argument(
        "--sources", nargs="+", default=["worker-a", "worker-b"],
        help="worker names, or a number N of workers (default: worker-a worker-b)",
    )
    parser.add_argument(
        "--defects",
        action="append",
        metavar="SPEC",
        help="'default' (the default), 'none', a comma list for every source "
        f"(known: {','.join(sorted(DEFECTS))}), or SOURCE=a,b (repeatable)",
    )
    parser.add_argument(
        "--copy-retention-days",
        type=float,
        default=7.0,
        help="keep the hourly copies of the last N days (default 7; 0 keeps all)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace existing source directories"
    )


def run(args: argparse.Namespace, out: str, *, quiet: bool = False) -> dict[str, Any]:
    """Simulate as the parsed *args* say into *out*; print what was written unless *quiet*.

    Raises
    ------
    ParameterError
        On a bad option or when *out* holds a source folder and ``--overwrite`` is not
        given.
    """
    if args.days < 1:
        raise ParameterError(f"--days: expected at least 1, found {args.days}")
    began = time.perf_counter()
    manifest = simulate(
        out,
        seed=args.seed,
        start=args.start,
        days=args.days,
        sources=source_names(args.sources),
        defects=_parse_defects_args(args.defects),
        copy_retention_days=args.copy_retention_days,
        overwrite=args.overwrite,
    )
    took = time.perf_counter() - began
    if not quiet:
        for source, info in manifest["sources"].items():
            t = info["totals"]
            defects = ", ".join(d["name"] for d in info["defects"]) or "none"
            print(
                f"{source}: {t['attempts']} attempts, {t['succeeded']} succeeded, "
                f"{info['dlq']['rows']} DLQ rows, {info['files']['snapshots']} copies, "
                f"{info['files']['history_lines']} history lines; defects: {defects}"
            )
        print(f"wrote {out} in {took:.1f}s", file=sys.stderr)
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (``python -m syncstats.testing.simulate``, ``syncstats
    simulate``)."""
    parser = argparse.ArgumentParser(
        prog="python -m syncstats.testing.simulate",
        description="Simulate sync workers deterministically and write their artefacts.",
    )
    parser.add_argument("--out", required=True, help="output directory")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        run(args, args.out)
    except ParameterError as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
