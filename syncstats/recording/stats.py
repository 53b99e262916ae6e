"""``SyncStats``: the worker's cumulative counters, with correct persistence.

This is the recording side described by the worker's design note: the same fields,
methods and semantics, with the cumulative-merge bug fixed. The original merged the whole
file into in-memory totals that already contained it, so every save doubled every counter
(docs/formats.md §1). Here each instance remembers what it last loaded or saved (its
*baseline*) and :meth:`SyncStats.save_to_file` adds to the file only what was recorded
since then, under a file lock, with an atomic replace.
"""

from __future__ import annotations

import glob
import json
import math
import os
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock

from .._fsutil import atomic_write
from .._time import EPOCH_LIMIT, EPOCH_MIN, WINDOW, plausible
from ..exceptions import CorruptStatsWarning, ParameterError

__all__ = [
    "SyncStats",
    "COUNTER_FIELDS",
    "STATS_KEYS",
    "EPOCH_LIMIT",
    "SANITY_CEILING",
    "validate_stats_dict",
]

#: Integer counters of a stats file, in file order.
COUNTER_FIELDS: tuple[str, ...] = (
    "jobs_processed",
    "jobs_succeeded",
    "jobs_failed",
    "jobs_to_dlq",
    "high_confidence_matches",
    "low_confidence_matches",
)
#: The fixed worker's sanity ceiling: a counter above it marks a corrupt/inflated file.
SANITY_CEILING = 10_000_000
#: The keys of the stats object (``SyncStats.to_dict()``): one of them makes a JSON object
#: a snapshot.
STATS_KEYS = frozenset(COUNTER_FIELDS) | {
    "total_processing_time",
    "session_start",
    "errors_by_type",
}
_KNOWN_KEYS = STATS_KEYS
_LOCK_TIMEOUT_S = 60.0


def _as_count(key: str, value: Any, ceiling: int) -> int:
    """Return *value* as a non-negative int no larger than *ceiling*, or raise ValueError."""
    # values are cut to 60 characters: an error message stays one readable line
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(
            f"{key} must be an integer, found {type(value).__name__} {value!r:.60}"
        )
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise ValueError(f"{key} must be an integer, found {value!r}")
        value = int(value)
    if value < 0:
        raise ValueError(f"{key} is negative ({_short(value)})")
    if value > ceiling:
        raise ValueError(f"{key}={_short(value)} is above the sanity ceiling {ceiling:,}")
    return value


def _short(value: Any) -> str:
    """A number for a one-line message: integers beyond 40 digits are abridged."""
    if not isinstance(value, int):
        return repr(value)
    digits = str(abs(value))
    if len(digits) <= 40:
        return str(value)
    return f"{'-' if value < 0 else ''}{digits[:6]}... ({len(digits)} digits)"


def _as_seconds(key: str, value: Any, *, epoch: bool = False) -> float:
    """*value* as non-negative finite seconds, or ValueError; with *epoch*, an epoch time
    within the readers' window (``syncstats._time.plausible``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(
            f"{key} must be a number, found {type(value).__name__} {value!r:.60}"
        )
    try:
        seconds = float(value)
    except OverflowError:  # an integer beyond the float range
        seconds = math.inf
    if not math.isfinite(seconds):
        raise ValueError(f"{key} must be a finite number, found {_short(value)}")
    if seconds < 0:
        raise ValueError(f"{key} is negative ({_short(value)})")
    if epoch and not plausible(seconds):
        raise ValueError(
            f"{key}={_short(value)} is not a plausible epoch time "
            f"(expected {EPOCH_MIN} <= t < {EPOCH_LIMIT} s, {WINDOW})"
        )
    return seconds


def validate_stats_dict(data: Any, *, ceiling: int = SANITY_CEILING) -> dict[str, Any]:
    """Check a decoded stats object and return it normalised.

    The one rule for a plausible stats file, used by
    :meth:`~syncstats.SyncStats.load_from_file`, :meth:`~syncstats.SyncStats.from_dict` and
    :func:`~syncstats.capture_snapshot`: counters
    and ``errors_by_type`` counts are non-negative integers (integral floats accepted) no
    larger than *ceiling*; ``total_processing_time`` is a non-negative finite number;
    ``session_start`` is epoch seconds within the readers' window,
    ``EPOCH_MIN <= t <`` :data:`EPOCH_LIMIT` (2000 up to 2100, see
    ``syncstats._time.plausible``);
    ``errors_by_type`` is an object (or null). The invariants between counters are not
    checked: a file that breaks them is evidence, which :func:`~syncstats.audit` reports.
    Missing keys mean 0 (or, for ``session_start``, absent). Unknown keys are kept under
    ``"extra"``.

    Parameters
    ----------
    data : object
        The decoded JSON value.
    ceiling : int, default 10_000_000
        Largest plausible counter value.

    Returns
    -------
    dict
        Keys of :data:`COUNTER_FIELDS`, ``total_processing_time``, ``session_start``
        (float or None), ``errors_by_type`` (dict) and ``extra`` (dict).

    Raises
    ------
    ValueError
        Saying which key is wrong and what it holds.

    Examples
    --------
    >>> validate_stats_dict({"jobs_processed": 2, "jobs_succeeded": 2})["jobs_failed"]
    0
    >>> validate_stats_dict({"session_start": 1759017612500})  # milliseconds, not seconds
    Traceback (most recent call last):
    ...
    ValueError: session_start=1759017612500 is not a plausible epoch time (expected ...)
    """
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, found {type(data).__name__}")
    out: dict[str, Any] = {k: _as_count(k, data.get(k, 0), ceiling) for k in COUNTER_FIELDS}
    out["total_processing_time"] = _as_seconds(
        "total_processing_time", data.get("total_processing_time", 0.0)
    )
    start = data.get("session_start")
    out["session_start"] = (
        None if start is None else _as_seconds("session_start", start, epoch=True)
    )
    errors = data.get("errors_by_type", {})
    if errors is None:
        errors = {}
    if not isinstance(errors, dict):
        raise ValueError(f"errors_by_type must be an object, found {type(errors).__name__}")
    out["errors_by_type"] = {
        str(k): _as_count(f"errors_by_type[{k!r:.60}]", v, ceiling) for k, v in errors.items()
    }
    out["extra"] = {k: v for k, v in data.items() if k not in _KNOWN_KEYS}
    return out


def _read_stats_file(
    path: Path, ceiling: int = SANITY_CEILING
) -> tuple[dict[str, Any] | None, str | None]:
    """Read and validate *path*: ``(normalised, None)``, ``(None, None)`` if missing,
    or ``(None, reason)`` if unreadable or implausible."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror or exc})"
    if not raw.strip():
        return None, "is empty (torn write?)"
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        return None, f"is not valid JSON ({exc}); torn write?"
    try:
        return validate_stats_dict(data, ceiling=ceiling), None
    except ValueError as exc:
        return None, f"holds implausible values: {exc}"


def _quarantine(path: Path, reason: str) -> Path:
    """Rename a bad stats file next to itself (never overwrite it) and warn."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    os.replace(path, target)
    warnings.warn(
        f"{path}: {reason}. Starting fresh stats; the bad file was kept as {target.name}.",
        CorruptStatsWarning,
        stacklevel=3,
    )
    return target


def _atomic_write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Write *payload* to *path* atomically (temporary file, fsync, ``os.replace``)."""
    atomic_write(path, json.dumps(payload, indent=2, sort_keys=False).encode() + b"\n")


@dataclass(kw_only=True)
class SyncStats:
    """Cumulative statistics of sync job processing (counted per attempt).

    A drop-in for the worker's own ``worker.stats.SyncStats`` (trek-e/Stash2Plex, every
    released version): the same fields, methods, properties, defaults and results, with
    the persistence fixed and bad input refused instead of counted. The differences are
    listed in the README (*The recording side: a drop-in SyncStats*).

    Attributes
    ----------
    DEFAULT_TIME_PER_ITEM : float, default 2.0
        Seconds per item :meth:`get_estimated_timeout` assumes before any job was
        measured. A dataclass field in the worker (so a keyword argument here too), and a
        class attribute: ``SyncStats.DEFAULT_TIME_PER_ITEM == 2.0``.
    jobs_processed, jobs_succeeded, jobs_failed, jobs_to_dlq : int
        Attempts processed, succeeded and failed; jobs given up on (sent to the DLQ).
    total_processing_time : float
        Seconds summed over all attempts.
    session_start : float
        Unix epoch seconds when counting began; preserved by :meth:`save_to_file`.
    errors_by_type : dict of str to int
        Failures by exception class name.
    high_confidence_matches, low_confidence_matches : int
        Successes by match confidence.
    extra : dict
        Keys of the file this instance does not know (later worker versions); they
        survive a load/save round trip.

    Notes
    -----
    Persistence is delta-based: an instance remembers the counters it last loaded or
    saved, and :meth:`save_to_file` adds only the difference to what is on disk, under
    a file lock. Saving twice, or load-record-save cycles, never double count.

    All arguments are keyword-only. The worker's positional order changed between its
    releases (v1.2.0 made ``DEFAULT_TIME_PER_ITEM`` the first field), so a positional
    call cannot mean the same thing for every version: it is refused rather than guessed.

    Examples
    --------
    >>> stats = SyncStats()
    >>> stats.record_success(0.5, confidence="high")
    >>> stats.record_failure("PlexNotFound", 0.2, to_dlq=True)
    >>> f"Success rate: {stats.success_rate:.1f}%"
    'Success rate: 50.0%'
    """

    # Declared first, as in the worker, so repr() prints the fields in the worker's order.
    DEFAULT_TIME_PER_ITEM: float = 2.0
    jobs_processed: int = 0
    jobs_succeeded: int = 0
    jobs_failed: int = 0
    jobs_to_dlq: int = 0
    total_processing_time: float = 0.0
    session_start: float = field(default_factory=time.time)
    errors_by_type: dict[str, int] = field(default_factory=dict)
    high_confidence_matches: int = 0
    low_confidence_matches: int = 0
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    _baseline: dict[str, Any] = field(
        default_factory=lambda: SyncStats._zero_baseline(), init=False, repr=False, compare=False
    )
    _synced: bool = field(default=False, init=False, repr=False, compare=False)

    # -- recording -------------------------------------------------------------------
    def record_success(self, processing_time: float, confidence: str = "high") -> None:
        """Record one successful attempt.

        Parameters
        ----------
        processing_time : float
            Seconds the attempt took (>= 0).
        confidence : {'high', 'low'}
            Match confidence. Anything else raises: the worker counts every value but
            ``'high'`` as low, which would hide a caller's typo in the counts.

        Raises
        ------
        ParameterError
            For another confidence or a negative, non-finite or non-numeric time; nothing
            is recorded then.

        Examples
        --------
        >>> s = SyncStats(); s.record_success(0.3, confidence="low"); s.low_confidence_matches
        1
        """
        # Equality, not str(): a str-valued enum member compares equal to "high" in the
        # worker too, and "HIGH" must not become high here while the worker counts it low.
        high = isinstance(confidence, str) and confidence == "high"
        if not high and not (isinstance(confidence, str) and confidence == "low"):
            raise ParameterError(f"confidence must be 'high' or 'low', found {confidence!r:.60}")
        seconds = _check_time(processing_time)
        self.jobs_processed += 1
        self.jobs_succeeded += 1
        self.total_processing_time += seconds
        if high:
            self.high_confidence_matches += 1
        else:
            self.low_confidence_matches += 1

    def record_failure(self, error_type: str, processing_time: float, to_dlq: bool = False) -> None:
        """Record one failed attempt.

        Parameters
        ----------
        error_type : str
            Exception class name, e.g. ``"PlexNotFound"``.
        processing_time : float
            Seconds the attempt took (>= 0).
        to_dlq : bool, default False
            Whether the job was given up on and moved to the dead-letter queue.

        Examples
        --------
        >>> s = SyncStats(); s.record_failure("PlexNotFound", 0.1); s.errors_by_type
        {'PlexNotFound': 1}
        """
        if not isinstance(error_type, str) or not error_type:
            raise ParameterError(f"error_type must be a non-empty str, found {error_type!r}")
        seconds = _check_time(processing_time)
        self.jobs_processed += 1
        self.jobs_failed += 1
        self.total_processing_time += seconds
        if to_dlq:
            self.jobs_to_dlq += 1
        self.errors_by_type[error_type] = self.errors_by_type.get(error_type, 0) + 1

    # -- derived ---------------------------------------------------------------------
    @property
    def success_rate(self) -> float:
        """Success rate as a *percentage* (0-100), 0.0 when nothing was processed.

        Kept in percent for compatibility with the worker; DataFrames use fractions.
        """
        if self.jobs_processed == 0:
            return 0.0
        return self.jobs_succeeded / self.jobs_processed * 100.0

    @property
    def avg_processing_time(self) -> float:
        """Mean seconds per attempt, 0.0 when nothing was processed."""
        if self.jobs_processed == 0:
            return 0.0
        return self.total_processing_time / self.jobs_processed

    def get_estimated_timeout(
        self,
        item_count: int,
        buffer_factor: float = 1.5,
        min_timeout: float = 30.0,
        max_timeout: float = 600.0,
    ) -> float:
        """Seconds to allow for processing *item_count* items, as the worker computes it.

        The time per item is :attr:`avg_processing_time` once 5 or more attempts were
        processed; with 1-4 it is the blend ``w * avg + (1 - w) * DEFAULT_TIME_PER_ITEM``
        with ``w = jobs_processed / 5``; with none, ``DEFAULT_TIME_PER_ITEM``. The
        estimate ``item_count * per_item * buffer_factor`` is clamped to
        ``[min_timeout, max_timeout]``.

        Parameters
        ----------
        item_count : int
            Items to process (>= 0).
        buffer_factor : float, default 1.5
            Safety margin multiplier (>= 0).
        min_timeout, max_timeout : float, default 30.0 and 600.0
            Bounds of the result (0 <= min_timeout <= max_timeout).

        Returns
        -------
        float
            The timeout in seconds.

        Raises
        ------
        ParameterError
            For a negative, fractional or non-numeric *item_count*, a negative or
            non-finite factor or bound, or ``min_timeout > max_timeout`` (the worker
            returns ``min_timeout`` then, or 30 s for a NaN; neither is an estimate).

        Examples
        --------
        >>> SyncStats().get_estimated_timeout(100)  # 100 * 2.0 s * 1.5, within 30..600
        300.0
        >>> s = SyncStats()
        >>> for _ in range(5): s.record_success(0.5)
        >>> s.get_estimated_timeout(10)  # 10 * 0.5 s * 1.5 = 7.5, raised to the minimum
        30.0
        """
        if (
            isinstance(item_count, bool)
            or not isinstance(item_count, int | float)
            or not (math.isfinite(item_count) and item_count == int(item_count))
            or item_count < 0
        ):
            raise ParameterError(
                f"item_count must be a non-negative integer, found {item_count!r:.60}"
            )
        for name, value in (
            ("buffer_factor", buffer_factor),
            ("min_timeout", min_timeout),
            ("max_timeout", max_timeout),
        ):
            try:
                _as_seconds(name, value)
            except ValueError as exc:
                raise ParameterError(str(exc)) from None
        if min_timeout > max_timeout:
            raise ParameterError(
                f"min_timeout ({min_timeout!r}) must not exceed max_timeout ({max_timeout!r})"
            )
        # The worker's expressions in its order, so the floats are bit-identical to its.
        if self.jobs_processed >= 5:
            time_per_item = self.avg_processing_time
        elif self.jobs_processed > 0:
            weight = self.jobs_processed / 5.0
            time_per_item = (weight * self.avg_processing_time) + (
                (1 - weight) * self.DEFAULT_TIME_PER_ITEM
            )
        else:
            time_per_item = self.DEFAULT_TIME_PER_ITEM
        estimated = item_count * time_per_item * buffer_factor
        return max(min_timeout, min(estimated, max_timeout))

    # -- conversion ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The JSON-serialisable stats object, in the worker's key order, plus extras.

        Examples
        --------
        >>> sorted(SyncStats(session_start=0.0).to_dict())[:3]
        ['errors_by_type', 'high_confidence_matches', 'jobs_failed']
        """
        out: dict[str, Any] = {
            "jobs_processed": self.jobs_processed,
            "jobs_succeeded": self.jobs_succeeded,
            "jobs_failed": self.jobs_failed,
            "jobs_to_dlq": self.jobs_to_dlq,
            "total_processing_time": self.total_processing_time,
            "session_start": self.session_start,
            "errors_by_type": dict(self.errors_by_type),
            "high_confidence_matches": self.high_confidence_matches,
            "low_confidence_matches": self.low_confidence_matches,
        }
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, ceiling: int = SANITY_CEILING) -> SyncStats:
        """Build stats from a stats object (validated; unknown keys kept in ``extra``).

        The result has no baseline: saving it adds all of its counts to the file.

        Raises
        ------
        ParameterError
            If a value is negative, above *ceiling* or of the wrong type.

        Examples
        --------
        >>> SyncStats.from_dict({"jobs_processed": 3, "jobs_succeeded": 3}).jobs_processed
        3
        """
        try:
            norm = validate_stats_dict(dict(data), ceiling=ceiling)
        except ValueError as exc:
            raise ParameterError(f"stats dict: {exc}") from None
        return cls._from_normalised(norm)

    @classmethod
    def _from_normalised(cls, norm: Mapping[str, Any]) -> SyncStats:
        kwargs = {k: norm[k] for k in COUNTER_FIELDS}
        start = norm["session_start"]
        return cls(
            **kwargs,
            total_processing_time=norm["total_processing_time"],
            session_start=time.time() if start is None else start,
            errors_by_type=dict(norm["errors_by_type"]),
            extra=dict(norm["extra"]),
        )

    # -- merging ---------------------------------------------------------------------
    def merge(self, other: SyncStats) -> SyncStats:
        """Return the sum of two stats (a new object; neither input changes).

        Counters and error counts add up, ``session_start`` is the earlier one, extras
        are combined (``self`` wins on conflicts). Baselines add up too, so saving the
        merged object adds exactly what both had not yet saved.

        Examples
        --------
        >>> a = SyncStats(session_start=10.0); a.record_success(1.0)
        >>> b = SyncStats(session_start=5.0); b.record_failure("TimeoutError", 2.0)
        >>> m = a + b
        >>> (m.jobs_processed, m.session_start, m.errors_by_type)
        (2, 5.0, {'TimeoutError': 1})
        """
        if not isinstance(other, SyncStats):
            return NotImplemented
        totals = _add_values(self._values(), other._values())
        merged = SyncStats(
            DEFAULT_TIME_PER_ITEM=self.DEFAULT_TIME_PER_ITEM,
            **{k: totals[k] for k in COUNTER_FIELDS},
            total_processing_time=totals["total_processing_time"],
            session_start=min(self.session_start, other.session_start),
            errors_by_type=totals["errors_by_type"],
            extra={**other.extra, **self.extra},
        )
        merged._baseline = _add_values(self._baseline, other._baseline)
        merged._synced = self._synced or other._synced
        return merged

    __add__ = merge

    # -- persistence -----------------------------------------------------------------
    def save_to_file(
        self, filepath: str | os.PathLike[str], *, now: float | None = None
    ) -> None:
        """Add what was recorded since the last load/save to *filepath*, atomically.

        Under an exclusive lock (``<file>.lock``) the current file is read, this
        instance's unsaved counts are added, and the result is written to a temporary
        file, fsynced and renamed over the original. The file's ``session_start`` and
        unknown keys are preserved. A torn or implausible file on disk is set aside (see
        :meth:`load_from_file`) and counting restarts from this instance's unsaved counts.
        When a file this instance had loaded or saved is gone (deleted, replaced or set
        aside), the new file starts a new session: its ``session_start`` is *now*, so the
        reset is visible to readers.

        Parameters
        ----------
        filepath : str or os.PathLike
            The stats file; its directory is created when missing.
        now : float, optional
            Epoch seconds used as the new ``session_start`` in that case (default: the
            current time).

        Examples
        --------
        >>> import tempfile, os
        >>> d = tempfile.mkdtemp(); p = os.path.join(d, "stats.json")
        >>> s = SyncStats(); s.record_success(0.1); s.save_to_file(p); s.save_to_file(p)
        >>> SyncStats.load_from_file(p).jobs_processed
        1
        """
        path = Path(filepath)
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(f"{path}.lock", timeout=_LOCK_TIMEOUT_S):
            # temporaries are only made under this lock: any left now were a killed saver's
            for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
                stale.unlink(missing_ok=True)
            on_disk, problem = _read_stats_file(path)
            if problem is not None:
                _quarantine(path, problem)
            current = self._values()
            delta = _sub_values(current, self._baseline)
            if on_disk is None:
                base = _zero_values()
                # A file this instance had synced with is gone (deleted, replaced or set
                # aside as corrupt): counting restarts, so a new session starts now.
                synced = self._synced
                session_start = self.session_start if not synced else (
                    time.time() if now is None else float(now)
                )
                extra = dict(self.extra)
            else:
                base = {k: on_disk[k] for k in (*COUNTER_FIELDS, "total_processing_time")}
                base["errors_by_type"] = on_disk["errors_by_type"]
                session_start = on_disk["session_start"]
                if session_start is None:
                    session_start = self.session_start
                extra = {**self.extra, **on_disk["extra"]}
            total = _add_values(base, delta)
            payload = SyncStats(
                **{k: total[k] for k in COUNTER_FIELDS},
                total_processing_time=total["total_processing_time"],
                session_start=session_start,
                errors_by_type=total["errors_by_type"],
                extra=extra,
            ).to_dict()
            _atomic_write_json(path, payload)
        self.session_start = session_start
        self._baseline = current
        self._synced = True

    @classmethod
    def load_from_file(
        cls, filepath: str | os.PathLike[str], *, ceiling: int = SANITY_CEILING
    ) -> SyncStats:
        """Load stats from *filepath*.

        A missing file gives fresh stats. A torn, empty, non-object or implausible file
        (negative counters, counters above *ceiling*, values of the wrong type) gives
        fresh stats too, and the bad file is renamed next to itself as
        ``<name>.corrupt-<UTC time>`` (never overwritten) with a
        :class:`~syncstats.exceptions.CorruptStatsWarning` saying what was wrong.

        Examples
        --------
        >>> SyncStats.load_from_file("/nonexistent/stats.json").jobs_processed
        0
        """
        path = Path(filepath)
        if not path.exists():
            return cls()
        with FileLock(f"{path}.lock", timeout=_LOCK_TIMEOUT_S):
            norm, problem = _read_stats_file(path, ceiling)
            if problem is not None:
                _quarantine(path, problem)
        if norm is None:
            return cls()
        stats = cls._from_normalised(norm)
        stats._baseline = stats._values()
        stats._synced = True
        return stats

    # -- internals -------------------------------------------------------------------
    @staticmethod
    def _zero_baseline() -> dict[str, Any]:
        return _zero_values()

    def _values(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in COUNTER_FIELDS}
        out["total_processing_time"] = self.total_processing_time
        out["errors_by_type"] = dict(self.errors_by_type)
        return out

    def unsaved(self) -> dict[str, Any]:
        """What this instance recorded since it was created, loaded or last saved.

        Examples
        --------
        >>> s = SyncStats(); s.record_failure("TimeoutError", 1.0); s.unsaved()["jobs_failed"]
        1
        """
        return _sub_values(self._values(), self._baseline)


def _check_time(processing_time: float) -> float:
    try:
        return _as_seconds("processing_time", processing_time)
    except ValueError as exc:
        raise ParameterError(str(exc)) from None


def _zero_values() -> dict[str, Any]:
    out: dict[str, Any] = dict.fromkeys(COUNTER_FIELDS, 0)
    out["total_processing_time"] = 0.0
    out["errors_by_type"] = {}
    return out


def _add_values(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: a[k] + b[k] for k in (*COUNTER_FIELDS, "total_processing_time")}
    errors = dict(a["errors_by_type"])
    for k, v in b["errors_by_type"].items():
        errors[k] = errors.get(k, 0) + v
    out["errors_by_type"] = errors
    return out


def _sub_values(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: a[k] - b[k] for k in (*COUNTER_FIELDS, "total_processing_time")}
    errors = {k: v - b["errors_by_type"].get(k, 0) for k, v in a["errors_by_type"].items()}
    out["errors_by_type"] = {k: v for k, v in errors.items() if v}
    return out

