"""``read_snapshots``: stats-file copies and JSON Lines histories into DataFrames."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from itertools import chain
from operator import itemgetter, methodcaller
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
from tqdm import tqdm

from ... import schemas
from ..._checks import check_choice
from ..._text import clean_path, clean_text
from ..._time import WINDOW, parse_time_value, plausible, time_from_name
from ...exceptions import SnapshotFormatError
from .._files import expand_paths, iter_lines, read_bytes, scan_tree
from .._issues import Issues
from .._records import STATS_KEYS, ColumnBlock, RecordBuilder, loads
from ..syncdata import SyncData
from ._arrow import chunks_of, copy_times, iter_history, read_chunks

__all__ = ["read_snapshots", "SNAPSHOT_PATTERNS", "ENGINES", "check_engine", "is_history"]

#: ``engine=`` values. ``"arrow"`` (what ``"auto"`` picks): JSON Lines histories parsed
#: by Arrow (:mod:`._arrow`), copies validated column-wise, frames assembled column-wise;
#: the per-record readers below are the reference and read every file (or chunk) the
#: Arrow engine declines (an ``engine_fallback`` issue says so). ``"reference"``: the
#: per-record readers and the reference frame assembly only.
ENGINES = ("auto", "reference", "arrow")
#: The copies' fast path spells paths as POSIX strings.
_POSIX = os.sep == "/"

#: File names a directory search picks up as snapshots or histories.
SNAPSHOT_PATTERNS = ("*.json", "*.json.gz", "*.jsonl", "*.jsonl.gz", "*.ndjson", "*.ndjson.gz")


def check_engine(engine: Any) -> bool:
    """Validate an ``engine=`` value; True when it selects the Arrow engine.

    >>> check_engine("auto"), check_engine("reference")
    (True, False)
    >>> check_engine("fast")
    Traceback (most recent call last):
    ...
    syncstats.exceptions.ParameterError: engine: expected one of 'auto', 'reference', \
'arrow'; found 'fast'
    """
    return check_choice(engine, "engine", ENGINES) != "reference"


def is_history(path: Path) -> bool:
    """True for JSON Lines files (``.jsonl``/``.ndjson``, optionally gzipped)."""
    name = path.name.lower()
    return name.endswith((".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz"))


def read_snapshots(
    path: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    source: str | None = None,
    on_error: str = "report",
    engine: str = "auto",
) -> SyncData:
    """Read stats snapshots: single files, directories of copies, globs or JSON Lines.

    Parameters
    ----------
    path : str, path or list of them
        A ``stats.json``-style file, a directory (searched recursively for
        ``*.json``/``*.jsonl``/``*.ndjson``, optionally ``.gz``), a glob, or a history.
    source : str, optional
        Source name for every snapshot. Default: a history line's ``"source"`` field,
        else the name of the directory given (or of the file's parent directory).
    on_error : {'report', 'raise'}
        ``'report'``: unreadable files/lines go to ``issues``. ``'raise'``: raise
        :class:`~syncstats.exceptions.SnapshotFormatError` naming the path and line.
    engine : {'auto', 'reference', 'arrow'}
        ``'arrow'`` (and ``'auto'``, which picks it): histories parsed by Arrow in chunks,
        copies validated column-wise, the frames assembled column-wise; whatever it
        cannot reproduce exactly (a chunk with a torn line, a copy with a defect or a
        ``snapshot_at`` field, ...) is read by the reference, and an ``engine_fallback``
        caveat (never raised) names the file and why, unless the reference reported an
        issue in that file (which already says why). ``'reference'``: the per-record
        reader and the reference assembly. Both give the same frames. Not tried, so no
        ``engine_fallback``: gzipped files, files the reference reports as unreadable,
        empty or not a JSON object, and paths given as ``Path`` objects off POSIX.

    Returns
    -------
    SyncData
        ``snapshots`` and ``errors`` filled; ``dlq`` empty; ``issues`` says what could
        not be read and which fallbacks were taken.

    Notes
    -----
    The snapshot time is the object's ``snapshot_at`` field (ISO-8601 or epoch seconds),
    else a timestamp in the file name (ISO-8601 basic or extended, ``Z`` or an offset;
    no zone means UTC), else the file's mtime — recorded in ``time_from`` and reported
    as an issue because copies' mtimes are unreliable. A time outside the readers'
    window (2000-01-01 up to 2100-01-01 UTC, ``syncstats._time.plausible``) is not
    usable: a ``bad_time`` issue, and the next source of a time is tried (a copy whose
    mtime is outside it too is not loaded); a ``session_start`` outside it is NaT and a
    ``bad_value`` issue. A history line without a usable ``snapshot_at`` is not loaded.
    Identical snapshots (same source, time and counters,
    e.g. the same capture in a copy and in a history) are loaded once; the duplicates
    are reported.

    Examples
    --------
    >>> import json, pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "worker-a"; d.mkdir()
    >>> _ = (d / "stats-20261001T130000Z.json").write_text(json.dumps(
    ...     {"jobs_processed": 3, "jobs_succeeded": 2, "jobs_failed": 1,
    ...      "errors_by_type": {"PlexNotFound": 1}}))
    >>> data = read_snapshots(d)
    >>> data.snapshots[["source", "snapshot_at", "jobs_processed", "time_from"]]
         source               snapshot_at  jobs_processed time_from
    0  worker-a 2026-10-01 13:00:00+00:00               3  filename
    """
    fast = check_engine(engine)
    issues = Issues(on_error, SnapshotFormatError)
    files: list[Path] | list[str] | None = None
    problems: list[tuple[str, str, str]] = []
    if isinstance(path, str | os.PathLike) and Path(path).is_dir():
        # strings: no Path per file
        files = scan_tree(Path(path), SNAPSHOT_PATTERNS, problems)
    if files is None:
        files = expand_paths(path, patterns=SNAPSHOT_PATTERNS, what="snapshot",
                             problems=problems)
    for where, kind, detail in problems:  # nothing in the tree skipped silently
        issues.add(source, where, None, kind, detail)
    fallback = None
    if isinstance(path, str | os.PathLike) and Path(path).is_dir():
        fallback = Path(path).name
    snapshots, errors = read_snapshot_files(files, issues, source=source, fallback=fallback,
                                            engine="arrow" if fast else "reference")
    return SyncData(snapshots=snapshots, errors=errors, issues=issues.frame())


def read_snapshot_files(
    files: Sequence[Path | str],
    issues: Issues,
    *,
    source: str | None,
    fallback: str | None,
    discovering: bool = False,
    engine: str = "auto",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read snapshot copies and histories into (snapshots, errors); issues into *issues*.

    *source* overrides every name; else a history line's ``source`` field, else
    *fallback*, else the file's parent directory name. With *discovering* (``load``),
    a JSON file holding no stats key at all is a file of another kind: an ``ignored``
    caveat rather than an error. *files* are paths (or path strings as ``str(Path)``
    spells them). *engine* as for :func:`read_snapshots`.
    """
    fast = check_engine(engine)
    builder = RecordBuilder(issues, columnwise=fast)
    copies = _CopyBatch(builder, issues, source, fallback, discovering)
    queue = copies.queued.append
    progress = tqdm(files, desc="snapshots", unit="file", delay=1.0, disable=None, leave=False)
    if fast and _POSIX and set(map(type, files)) == {str}:
        # path strings (scan_tree): every plain copy read in one tight loop first, then
        # each run of them queued at once, the other files read by the reference
        objs = _read_objects(progress)
        done = 0
        for i in [i for i, obj in enumerate(objs) if obj is None] + [len(objs)]:
            copies.extend(files[done:i], objs[done:i])
            done = i + 1
            if i == len(objs):
                break
            f = files[i]
            copies.flush()
            default = fallback or f.rpartition("/")[0].rpartition("/")[2] or "default"
            if f[-10:].lower().endswith(_HISTORY_SUFFIXES):
                _read_history(Path(f), builder, source, default, issues, fast)
            else:  # unreadable, gzip, not a JSON object: the reference reports it
                _read_copy(Path(f), builder, source, default, issues, discovering)
        files = []
    for f in progress if files else ():
        text = os.fspath(f)
        name = os.path.basename(text)
        history = name.lower().endswith(_HISTORY_SUFFIXES)
        if not history and fast and _POSIX:
            obj = _read_json_object(text)
            if obj is not None:
                queue((text, obj))
                continue
        default = fallback or Path(f).parent.name or "default"
        copies.flush()
        if history:
            _read_history(Path(f), builder, source, default, issues, fast)
        else:  # unreadable, gzip, not a JSON object: the reference reports it
            _read_copy(Path(f), builder, source, default, issues, discovering)
    copies.flush()
    snapshots, errors = builder.frames()
    return drop_duplicate_snapshots(snapshots, errors, issues)


_HISTORY_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
#: names that are not read as plain copies (histories, gzip)
_NOT_PLAIN = (*_HISTORY_SUFFIXES, ".gz")
_INT64_MAX = schemas.int64_max()
_BOM = b"\xef\xbb\xbf"


def _read_objects(paths: Iterable[str]) -> list[dict[str, Any] | None]:
    """The JSON object of each plain copy, None for a file the reference must read (a
    history, gzip, unreadable, not a JSON object). One loop, names bound locally: the
    per-file cost is the point with thousands of small copies."""
    out: list[dict[str, Any] | None] = []
    append = out.append
    o_open, o_read, o_close, rdonly, loads = os.open, os.read, os.close, os.O_RDONLY, \
        orjson.loads
    for path in paths:
        if path[-10:].lower().endswith(_NOT_PLAIN):
            append(None)
            continue
        try:
            fd = o_open(path, rdonly)
            try:
                raw = o_read(fd, 1 << 16)
                if len(raw) == 1 << 16:
                    raw = _read_rest(fd, raw)
            finally:
                o_close(fd)
            obj = loads(raw[3:] if raw.startswith(_BOM) else raw)
        except (OSError, ValueError, RecursionError):
            append(None)
            continue
        append(obj if type(obj) is dict else None)
    return out


def _read_rest(fd: int, head: bytes) -> bytes:
    parts = [head]
    while chunk := os.read(fd, 1 << 20):
        parts.append(chunk)
    return b"".join(parts)


def _read_json_object(path: str) -> dict[str, Any] | None:
    """The JSON object in a plain copy, or None (a file for the reference)."""
    return _read_objects([path])[0]


class _CopyBatch:
    """Snapshot copies read one by one but validated and added column-wise.

    The reader queues ``(path, parsed object)`` (``os.read`` + orjson: no Path, no
    pandas); :meth:`flush` checks the queued values all at once and adds the files the
    reference (:func:`_read_copy`) would load without any issue as one block; every
    other file goes through :func:`_read_copy` itself, in its place in the order.
    """

    def __init__(
        self,
        builder: RecordBuilder,
        issues: Issues,
        explicit: str | None,
        fallback: str | None,
        discovering: bool,
    ):
        self.builder = builder
        self.issues = issues
        self.explicit = explicit
        self.fallback = fallback
        self.discovering = discovering
        self.queued: list[tuple[str, dict[str, Any]]] = []
        self.paths: list[str] = []
        self.objs: list[dict[str, Any]] = []

    def extend(self, paths: list[str], objs: list[Any]) -> None:
        """Queue copies (their paths and parsed objects)."""
        self._gather()
        self.paths += paths
        self.objs += objs

    def _gather(self) -> None:
        if self.queued:
            paths, objs = zip(*self.queued, strict=True)
            self.paths += paths
            self.objs += objs
            self.queued.clear()

    def flush(self) -> None:
        """Add the queued copies, in order."""
        self._gather()
        if not self.paths:
            return
        paths, objs = self.paths, self.objs
        self.paths, self.objs = [], []
        names = _file_names(paths)
        if self.fallback:
            defaults = [self.fallback] * len(paths)
        else:
            defaults = [p.rpartition("/")[0].rpartition("/")[2] or "default" for p in paths]
        ok, columns = _copy_columns(objs, names, defaults, self.explicit)
        start = 0
        n = len(objs)
        while start < n:
            if ok[start]:
                end = start + int(np.argmin(ok[start:])) if not ok[start:].all() else n
                self.builder.add_block(_copy_block(columns, paths, start, end))
            else:
                end = start + 1
                reported = len(self.issues.rows)
                _read_copy(Path(paths[start]), self.builder, self.explicit, defaults[start],
                           self.issues, self.discovering)
                reason = _copy_reason(objs[start], bool(columns["name_time_ok"][start]))
                if reason and len(self.issues.rows) == reported:  # else its issue says why
                    _declined(self.issues, self.explicit or defaults[start], paths[start],
                              reason)
            start = end


def _copy_reason(obj: dict[str, Any], name_time_ok: bool) -> str | None:
    """Why the column-wise checks left a copy to the reference (None: a JSON object
    with no stats key is not a snapshot, so there was nothing to decline)."""
    if STATS_KEYS.isdisjoint(obj):
        return None
    if "snapshot_at" in obj:
        return "this copy (a snapshot_at field: only file-name times are read column-wise)"
    if not name_time_ok:
        return "this copy (no file-name time it reads exactly: a time from another source)"
    return "this copy (a value it does not take column-wise: null, another type, overflow)"


def _file_names(paths: list[str]) -> list[str]:
    """The last component of each POSIX path (at C speed when all share a directory)."""
    head = paths[0].rpartition("/")[0] + "/" if "/" in paths[0] else ""
    if head and all(map(methodcaller("startswith", head), paths)):
        names = list(map(itemgetter(slice(len(head), None)), paths))
        if "/" not in "".join(names):
            return names
    return [p.rpartition("/")[2] for p in paths]


def _int_column(values: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Python ints as int64 and a mask of the values the reference stores unchanged
    (an int, not a bool, within +-(2**63 - 1))."""
    n = len(values)
    if set(map(type, values)) <= {int}:
        try:
            arr = np.array(values, dtype=np.int64)
            return arr, arr != np.iinfo(np.int64).min
        except OverflowError:
            pass
    ok = np.fromiter(
        (type(v) is int and -_INT64_MAX <= v <= _INT64_MAX for v in values), dtype=bool, count=n
    )
    arr = np.array([v if good else 0 for v, good in zip(values, ok, strict=True)],
                   dtype=np.int64)
    return arr, ok


_ROW_KEYS = (*schemas.COUNTERS, "total_processing_time", "session_start", "errors_by_type")


def _copy_rows(objs: list[dict[str, Any]]) -> dict[str, tuple[Any, ...] | list[Any]]:
    """Each stats key's values (default as the reference takes a missing key), one tuple
    per key; at C speed when every object has every key (the usual copy)."""
    try:
        return {k: list(map(itemgetter(k), objs)) for k in _ROW_KEYS}
    except KeyError:
        default = {"total_processing_time": 0.0, "session_start": None,
                   "errors_by_type": None}
        return {k: [o.get(k, default.get(k, 0)) for o in objs] for k in _ROW_KEYS}


def _copy_columns(
    objs: list[dict[str, Any]], names: list[str], defaults: list[str], explicit: str | None
) -> tuple[np.ndarray, dict[str, Any]]:
    """Column-wise values of parsed copies, and which copies the reference would load
    with exactly these values and no issue."""
    n = len(objs)
    ok = ~np.fromiter(map(methodcaller("__contains__", "snapshot_at"), objs), dtype=bool,
                      count=n)
    ok &= np.fromiter(map(STATS_KEYS.isdisjoint, objs), dtype=bool, count=n) == 0
    rows = _copy_rows(objs)
    cols: dict[str, Any] = {}
    for key in schemas.COUNTERS:
        cols[key], good = _int_column(rows[key])
        ok &= good
    tpt = rows["total_processing_time"]
    if not set(map(type, tpt)) <= {float, int}:
        good = np.fromiter((type(v) in (float, int) for v in tpt), dtype=bool, count=n)
        ok &= good
        tpt = [v if g else 0.0 for v, g in zip(tpt, good, strict=True)]
    try:
        cols["total_processing_time"] = np.array(tpt, dtype=np.float64)
    except OverflowError:  # an integer beyond the float range: a caveat
        good = np.fromiter((_fits_float(v) for v in tpt), dtype=bool, count=n)
        ok &= good
        cols["total_processing_time"] = np.array(
            [v if g else 0.0 for v, g in zip(tpt, good, strict=True)], dtype=np.float64)
    # session_start: None (or absent) is NaT; a number within the window is kept; anything
    # else (also NaN and a bool) is a caveat
    start = rows["session_start"]
    if set(map(type, start)) <= {float}:
        values = np.array(start, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            good = plausible(values)
    else:
        good = np.fromiter(
            (v is None or (type(v) in (float, int) and plausible(v))
             for v in start),
            dtype=bool, count=n,
        )
        values = np.array(
            [v if g and v is not None else np.nan for v, g in zip(start, good, strict=True)],
            dtype=np.float64,
        )
    ok &= good
    cols["session_start"] = values
    # errors_by_type: absent or null is {}; anything but an object is a caveat
    errs = rows["errors_by_type"]
    if set(map(type, errs)) != {dict}:
        good = np.fromiter((type(e) is dict or e is None for e in errs), dtype=bool,
                           count=n)
        ok &= good
        errs = [e if type(e) is dict else {} for e in errs]
    lens = np.fromiter(map(len, errs), dtype=np.int64, count=n)
    etypes = list(chain.from_iterable(errs))
    counts, good_count = _int_column(list(chain.from_iterable(map(dict.values, errs))))
    if not good_count.all():  # a bool, float, null or huge count: a caveat (or a float
        bad = np.repeat(np.arange(n), lens)[~good_count]  # the reference converts)
        ok[bad] = False
    cols["err_codes"], cols["err_names"] = _encode(etypes)
    cols["err_counts"] = counts
    cols["err_lens"] = lens
    cols["snapshot_at"], good = copy_times(names)
    cols["name_time_ok"] = good
    ok &= good
    if explicit is not None:
        cols["source"] = [explicit or d for d in defaults]
    else:
        fields = list(map(methodcaller("get", "source"), objs))
        if fields.count(None) == n:  # the worker's own file has no "source"
            cols["source"] = defaults
        else:
            cols["source"] = [f if isinstance(f, str) and f else d
                              for f, d in zip(fields, defaults, strict=True)]
    return ok, cols


def _encode(values: list[str]) -> tuple[np.ndarray, list[str]]:
    """Codes of *values* into their distinct values (cleaned as the reference does; two
    that clean to the same text keep separate codes, which the assembly merges)."""
    index = {v: i for i, v in enumerate(dict.fromkeys(values))}
    codes = np.fromiter(map(index.__getitem__, values), dtype=np.int32, count=len(values))
    return codes, [clean_text(str(v)) for v in index]


def _clean_paths(paths: list[str]) -> list[str]:
    """``clean_path`` of each path; all at once when all are UTF-8 (the usual case)."""
    try:
        "\n".join(paths).encode("utf-8")
    except UnicodeEncodeError:
        return [clean_path(p) for p in paths]
    return paths


def _fits_float(value: Any) -> bool:
    try:
        float(value)
    except OverflowError:
        return False
    return True


def _copy_block(cols: dict[str, Any], paths: list[str], start: int, end: int) -> ColumnBlock:
    """Copies *start* to *end* of a batch as a block (origin: the file's path)."""
    lens = cols["err_lens"]
    first = int(lens[:start].sum())
    last = first + int(lens[start:end].sum())
    codes, names = _encode(cols["source"][start:end])
    return ColumnBlock(
        source_codes=codes,
        source_names=names,
        snapshot_at=cols["snapshot_at"][start:end],
        session_start=cols["session_start"][start:end],
        counters={k: cols[k][start:end] for k in schemas.COUNTERS},
        total_processing_time=cols["total_processing_time"][start:end],
        time_from="filename",
        path="",
        lines=None,
        origins=_clean_paths(paths[start:end]),
        err_rows=np.repeat(np.arange(end - start, dtype=np.int32), lens[start:end]),
        err_codes=cols["err_codes"][first:last],
        err_names=cols["err_names"],
        err_counts=cols["err_counts"][first:last],
    )


def _read_copy(
    f: Path,
    builder: RecordBuilder,
    explicit: str | None,
    fallback: str,
    issues: Issues,
    discovering: bool = False,
) -> None:
    source = explicit or fallback
    try:
        raw = read_bytes(f)
    except OSError as exc:
        issues.add(source, f, None, "unreadable", f"cannot be read: {exc.strerror or exc}")
        return
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if not raw.strip():
        issues.add(source, f, None, "empty", "file is empty (torn write?); no snapshot")
        return
    try:
        obj = loads(raw)
    except (ValueError, RecursionError) as exc:
        issues.add(source, f, None, "bad_json", f"not valid JSON (torn write?): {exc}")
        return
    if not isinstance(obj, dict) or not STATS_KEYS.intersection(obj):
        if discovering and isinstance(obj, dict | list):
            issues.add(explicit or fallback, f, None, "ignored",
                       "JSON without any stats key (jobs_processed, ...): not a snapshot file")
            return
        # Not a snapshot: let the builder report why, without resolving a time first.
        builder.add(obj, source=explicit or fallback, path=f, line=None, snapshot_at=None,
                    time_from="field")
        return
    when, time_from = None, "field"
    if isinstance(obj, dict) and "snapshot_at" in obj:
        when = parse_time_value(obj["snapshot_at"])
        if when is None:
            issues.add(
                source, f, None, "bad_time",
                f"snapshot_at {obj['snapshot_at']!r:.60} is not a time; using the file name "
                "or mtime instead",
            )
    if when is None:
        when, _had_zone = time_from_name(f.name)
        time_from = "filename"
        if when is not None and not plausible(when):
            issues.add(
                source, f, None, "bad_time",
                f"the time in the file name ({when.isoformat()}) is outside {WINDOW}; "
                "using the file's mtime instead",
            )
            when = None
    if when is None:
        try:
            mtime = f.stat().st_mtime
        except OSError as exc:
            issues.add(source, f, None, "unreadable", f"cannot stat: {exc}")
            return
        when = pd.Timestamp(round(mtime * 1e6), unit="us", tz="UTC")
        time_from = "mtime"
        if not plausible(when):
            issues.add(
                source, f, None, "bad_time",
                f"the file's mtime ({when.isoformat()}) is outside {WINDOW} and there is no "
                "other time; snapshot not loaded",
            )
            return
        issues.add(
            source, f, None, "time_from_mtime",
            "no usable snapshot_at field or timestamp in the file name; using the file's "
            f"mtime ({when.isoformat()}), which copies do not preserve",
        )
    src = source
    if explicit is None and isinstance(obj, dict):
        field = obj.get("source")
        src = field if isinstance(field, str) and field else fallback
    builder.add(obj, source=src, path=f, line=None, snapshot_at=when, time_from=time_from)


def _declined(issues: Issues, source: str, path: Path | str, reason: str) -> None:
    """The Arrow engine tried *path* and left (part of) it to the reference: a caveat."""
    issues.add(source, path, None, "engine_fallback",
               f"the arrow engine declined {reason}; read by the reference reader")


def _read_history(
    f: Path, builder: RecordBuilder, source: str | None, fallback: str, issues: Issues,
    fast: bool = False,
) -> None:
    if fast and f.suffix != ".gz" and issues.on_error == "report":
        _read_history_streamed(f, builder, source, fallback, issues)
        return
    try:
        data = read_bytes(f)
    except (OSError, EOFError) as exc:
        issues.add(source or fallback, f, None, "unreadable", f"cannot be read: {exc}")
        return
    if fast and f.suffix != ".gz":
        _add_history(chunks_of(data), f, builder, source, fallback, issues)
    else:
        _read_history_lines(data, f, builder, source, fallback, issues)


def _read_history_streamed(
    f: Path, builder: RecordBuilder, source: str | None, fallback: str, issues: Issues
) -> None:
    """The fast path reading the file chunk by chunk (never whole: memory, and the
    parsing of one chunk overlaps the reading of the next).

    The reference reads the whole file first and loads nothing from a file it cannot
    read to the end: a read error after some chunks takes back what they added.
    """
    builder.flush()  # rows added one by one so far stay, whatever happens to this file
    marks = builder.mark(), len(issues.rows)
    try:
        with f.open("rb") as fh:
            _add_history(read_chunks(fh), f, builder, source, fallback, issues)
    except OSError as exc:
        builder.rollback(marks[0])
        del issues.rows[marks[1]:]
        issues.add(source or fallback, f, None, "unreadable", f"cannot be read: {exc}")


def _add_history(
    chunks: Iterable[bytes | bytearray],
    f: Path,
    builder: RecordBuilder,
    source: str | None,
    fallback: str,
    issues: Issues,
) -> None:
    """Clean chunks as blocks; the others line by line (the reference), in file order;
    one ``engine_fallback`` caveat for the file when a chunk was declined and the
    reference reported nothing there (its issues would say why)."""
    declined: list[int] = []  # first line of each declined chunk
    chunks_seen = 0
    reported = len(issues.rows)
    for chunk, first_line, block in iter_history(
        chunks, clean_path(f), source=source, fallback=fallback
    ):
        chunks_seen += 1
        if block is not None:
            builder.add_block(block)
        else:
            _read_history_lines(bytes(chunk), f, builder, source, fallback, issues,
                                start=first_line, bom=first_line == 1)
            declined.append(first_line)
    if declined and len(issues.rows) == reported:  # else the file's issues say why
        _declined(issues, source or fallback, f,
                  f"{len(declined)} of its {chunks_seen} chunk(s), the first from line "
                  f"{declined[0]} (a line it does not parse exactly as Python's json: torn, "
                  "escaped, null, another type, another time form, ...)")


def _read_history_lines(
    data: bytes,
    f: Path,
    builder: RecordBuilder,
    source: str | None,
    fallback: str,
    issues: Issues,
    *,
    start: int = 1,
    bom: bool = True,
) -> None:
    """The per-line reader (the reference): *data* holds the file's lines from *start*."""
    for lineno, raw in iter_lines(data, start=start, bom=bom):
        try:
            obj = loads(raw)
        except (ValueError, RecursionError) as exc:
            issues.add(source or fallback, f, lineno, "torn_line", f"not valid JSON: {exc}")
            continue
        src = source
        if src is None:
            field = obj.get("source") if isinstance(obj, dict) else None
            src = field if isinstance(field, str) and field else fallback
        if not isinstance(obj, dict):
            builder.add(obj, source=src, path=f, line=lineno, snapshot_at=None, time_from="field")
            continue
        when = parse_time_value(obj.get("snapshot_at"))
        if when is None:
            issues.add(
                src, f, lineno, "bad_time",
                f"snapshot_at {obj.get('snapshot_at')!r:.60} is missing or not a time; "
                "line not loaded",
            )
            continue
        builder.add(obj, source=src, path=f, line=lineno, snapshot_at=when, time_from="field")


def drop_duplicate_snapshots(
    snapshots: pd.DataFrame, errors: pd.DataFrame, issues: Issues
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep one of several identical snapshots (same source, time, session and counters).

    The dropped ones are reported as ``duplicate`` issues naming the kept origin.
    Snapshots at the same time with *different* values are all kept (the audit flags them).
    """
    if len(snapshots) < 2:
        return snapshots, errors
    if not _may_repeat(snapshots):
        return snapshots, errors
    # cheap pre-check on three columns; the full key only when something may repeat
    if not snapshots.duplicated(subset=["source", "snapshot_at", "jobs_processed"]).any():
        return snapshots, errors
    key = ["source", "snapshot_at", "session_start", *schemas.COUNTERS, "total_processing_time"]
    dup = snapshots.duplicated(subset=key, keep="first")
    if not dup.any():
        return snapshots, errors
    first = snapshots.drop_duplicates(subset=key, keep="first")
    kept = snapshots.loc[dup, key].merge(
        first[[*key, "origin"]], on=key, how="left", suffixes=("", "_kept")
    )["origin"]
    for (src, origin), kept_origin in zip(
        snapshots.loc[dup, ["source", "origin"]].itertuples(index=False), kept, strict=True
    ):
        path, _, line = origin.rpartition(":") if _has_line(origin) else (origin, "", "")
        issues.add(
            str(src), path, int(line) if line else None, "duplicate",
            f"identical to the snapshot at {kept_origin}; loaded once",
        )
    dropped = set(snapshots.loc[dup, "origin"])
    errors = errors[~errors["origin"].isin(dropped)].reset_index(drop=True)
    return snapshots[~dup].reset_index(drop=True), errors


def _may_repeat(snapshots: pd.DataFrame) -> bool:
    """False when no two rows share source and time: in a frame sorted by them (as the
    readers return it) such rows are neighbours, which integer arrays show at once."""
    source = snapshots["source"]
    if not isinstance(source.dtype, pd.CategoricalDtype):
        return True
    code = source.cat.codes.to_numpy()
    when = snapshots["snapshot_at"].array.asi8  # NaT compares equal to NaT, as in duplicated
    same_source = code[1:] == code[:-1]
    if not ((code[1:] > code[:-1]) | (same_source & (when[1:] >= when[:-1]))).all():
        return True  # not sorted (NaT first, or another order): let pandas look
    return bool((same_source & (when[1:] == when[:-1])).any())


def _has_line(origin: str) -> bool:
    head, sep, tail = origin.rpartition(":")
    return bool(sep) and tail.isdigit()
