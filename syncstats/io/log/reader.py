"""``read_log``: the worker's ``Stats:`` batch-summary lines from host logs."""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import pandas as pd
from tqdm import tqdm

from ..._checks import check_choice
from ..._time import check_tz
from ...exceptions import LogFormatError
from .._files import expand_paths
from .._issues import Issues
from .._records import RecordBuilder
from ..syncdata import SyncData
from ._lines import _MARK, LineReader, is_blob, open_log, resolve_times
from ._templates import FastLog

__all__ = ["read_log", "read_log_files", "read_log_files_reference", "LOG_PATTERNS",
           "MAX_LINE_BYTES", "ENGINES", "check_engine"]

#: File names a directory search picks up as logs (rotations and gzip included), and
#: what captures of the host's console are commonly saved as (``journalctl ... >
#: stash-journal.txt``, ``docker logs stash > docker-stash.txt``, ``nohup.out``).
LOG_PATTERNS = ("*.log", "*.log.[0-9]*", "*.log.gz", "*.log.txt", "*journal*.txt",
                "*journal*.txt.gz", "docker*.txt", "*.out")
#: Longest line parsed. A ``Stats:`` line is a few hundred bytes (each error type adds
#: about 30); a longer line holding ``Stats: {`` is a ``torn_line`` issue. Lines are read
#: at most this much at a time, so memory stays bounded whatever a line's length.
MAX_LINE_BYTES = 1 << 20
#: The values of ``engine=``: ``'auto'`` is ``'templates'`` (it reads every file,
#: leaving each line it cannot read exactly as the reference does to the reference's
#: per-line code); ``'reference'`` reads every line with that code.
ENGINES = ("auto", "reference", "templates")


def check_engine(engine: str) -> str:
    """*engine* if it is one of :data:`ENGINES`, else a one-line ``ParameterError``."""
    return check_choice(engine, "engine", ENGINES)


def _stats_lines(fh: IO[bytes]) -> Iterator[tuple[int, bytes | None, int]]:
    """``(line number, line, length)`` of the lines holding ``Stats: {`` (or ending in
    journalctl's ``blob data]``); the line is None when it is longer than
    :data:`MAX_LINE_BYTES` (read past in bounded chunks)."""
    keep = len(_MARK) - 1
    lineno = 0
    while raw := fh.readline(MAX_LINE_BYTES + 1):
        lineno += 1
        if len(raw) <= MAX_LINE_BYTES or raw.endswith(b"\n"):
            if _MARK in raw or is_blob(raw):
                yield lineno, raw, len(raw)
            continue
        marked, size, tail = _MARK in raw, len(raw), raw[-keep:]
        while not raw.endswith(b"\n") and (raw := fh.readline(MAX_LINE_BYTES)):
            size += len(raw)
            marked = marked or _MARK in raw or _MARK in tail + raw[:keep]
            tail = raw[-keep:]
        if marked:
            yield lineno, None, size


def read_log(
    path: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    tz: str = "UTC",
    source: str | None = None,
    on_error: str = "report",
    engine: str = "auto",
) -> SyncData:
    r"""Read the worker's ``Stats:`` batch-summary lines from host log files.

    The host's lines are read in every form they are saved in:

    - the host's log file: logrus key=value, ``time="..." level=info msg="..."`` with
      the message quoted and escaped;
    - the host's console: logrus text, ``INFO[2026-10-01 02:19:57] message``, with its
      colours (``\x1b[36mINFO\x1b[0m[...]``: SGR and other CSI codes are removed
      wherever they are) or without, the message padded with spaces; also what
      ``journalctl -a -o cat`` and ``docker logs`` print;
    - the console behind a capture's prefix: ``journalctl -a`` (``Oct 01 02:19:57 host
      stash[812]:``; also ``-o short-precise``, ``short-iso``, ``short-full``,
      ``short-unix``), ``docker logs --timestamps`` (``2026-10-01T02:19:57.123456789Z``),
      ``docker compose logs`` (``stash-1  |``), and docker's json-file log
      (``{"log": "...", "stream": ..., "time": ...}``);
    - raw plugin stderr (``\x01i\x02[... Worker] Stats: {...}``), which has no time.

    The time used is always the logrus one (the host's local time, see *tz*): a
    capture prefix's time is ignored, as journalctl's is in the journal reader's zone
    and has no year, and docker's is when the daemon received the line; so a line reads
    the same from every capture. Lines without ``Stats: {`` are skipped without being
    parsed. A line holding the worker's mark (``[Stash2Plex Worker] Stats: {``) that is
    not loaded is always an issue (``unknown_form``, ``torn_line``, ``not_snapshot``,
    ...); ``journalctl`` run without ``-a`` shows the coloured lines as ``[1.2K blob
    data]``, whose text is lost: each file with such lines gets one ``journal_blob``
    issue with their count (re-run journalctl with ``-a``).

    Files are streamed (read in blocks of a few MB), so memory does not grow with the
    file's size (only with the number of ``Stats:`` lines).

    Parameters
    ----------
    path : str, path or list of them
        A log file (``.gz`` allowed), a directory (recursively: the names of
        :data:`~syncstats.io.log.LOG_PATTERNS`, ``*.log``, ``*.log.N``, ``*.log.gz``,
        ``*journal*.txt``, ...) or a glob.
    tz : str, default 'UTC'
        Time zone of the host's zone-less (logrus) log timestamps (IANA name), whatever
        the capture; timestamps that carry an offset are used as they are. Ambiguous
        or non-existent local times (DST changes) that cannot be inferred are reported
        and the line is not loaded.
    source : str, optional
        Source name; default: the name of the directory given or of the file's parent.
    on_error : {'report', 'raise'}
        As for :func:`read_snapshots`.
    engine : {'auto', 'reference', 'templates'}
        ``'reference'`` parses each ``Stats:`` line on its own; ``'templates'`` (and
        ``'auto'``) reads the lines of one shape (the line with its digits zeroed) at
        once, vectorised, and leaves any line it cannot read exactly as the reference
        does to the reference's per-line code: same frames, same issues. A file it
        declines as a whole (a read failing part-way) is read by the reference, with an
        ``engine_fallback`` issue saying why.

    Returns
    -------
    SyncData
        ``snapshots`` mapped onto the snapshot schema (``session_start`` NaT,
        ``total_processing_time = avg_time_ms * processed / 1000``, ``time_from='log'``,
        ``origin='path:line'``) and ``errors``. Raw stderr lines have no time:
        ``snapshot_at`` is NaT and the file gets one ``no_timestamp`` issue.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "stash.log"
    >>> _ = p.write_text('INFO[2026-10-01 02:19:57] [Plugin / Stash2Plex] [Stash2Plex Worker] '
    ...     'Stats: {"processed": 10, "succeeded": 9, "failed": 1, "to_dlq": 0, '
    ...     '"avg_time_ms": 400, "errors_by_type": {"PlexNotFound": 1}}\n')
    >>> read_log(p, tz="Europe/Berlin").snapshots[["snapshot_at", "jobs_processed"]]
                    snapshot_at  jobs_processed
    0 2026-10-01 00:19:57+00:00              10
    """
    check_tz(tz)
    check_engine(engine)
    issues = Issues(on_error, LogFormatError)
    problems: list[tuple[str, str, str]] = []
    files = expand_paths(path, patterns=LOG_PATTERNS, what="log", problems=problems)
    default = source
    if default is None and isinstance(path, str | os.PathLike) and Path(path).is_dir():
        default = Path(path).name
    for where, kind, detail in problems:  # nothing in the tree skipped silently
        issues.add(default, where, None, kind, detail)
    snapshots, errors = read_log_files(files, issues, tz=tz, source=default, engine=engine)
    return SyncData(snapshots=snapshots, errors=errors, issues=issues.frame())


def read_log_files(
    files: list[Path], issues: Issues, *, tz: str, source: str | None, engine: str = "auto"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read ``Stats:`` lines of *files* into (snapshots, errors); issues into *issues*.

    *engine* as for :func:`read_log`: the templates engine reads each file or declines
    it (an ``engine_fallback`` issue), and the reference reads a declined file.
    """
    if check_engine(engine) == "reference":
        return read_log_files_reference(files, issues, tz=tz, source=source)
    builder = RecordBuilder(issues)
    times: list[Any] = []  # time text per record of the reference's code
    keys: list[tuple[int, int]] = []  # (file, line) of those records, for the merge
    fast = FastLog(tz, MAX_LINE_BYTES)
    sources: list[str] = []
    for file_no, f in enumerate(
        tqdm(files, desc="logs", unit="file", delay=1.0, disable=None, leave=False)
    ):
        src = source or f.parent.name or "default"
        sources.append(src)
        reader = LineReader(f, src, builder, times, keys, file_no, MAX_LINE_BYTES)
        why = fast.read_file(reader)
        if why is not None:
            issues.add(src, f, None, "engine_fallback",
                       f"the templates engine declined the file: {why}; read by the reference")
            _read_one(f, src, builder, times, issues, keys, file_no)
    drop = resolve_times(builder, times, tz, issues)
    if drop.any():
        keys = [k for k, d in zip(keys, drop.tolist(), strict=True) if not d]
    return fast.frames(builder, keys, files, sources)


def read_log_files_reference(
    files: list[Path], issues: Issues, *, tz: str, source: str | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-line reader: every ``Stats:`` line parsed on its own (the reference)."""
    builder = RecordBuilder(issues)
    times: list[Any] = []  # time text per record (None for raw stderr)
    for f in tqdm(files, desc="logs", unit="file", delay=1.0, disable=None, leave=False):
        src = source or f.parent.name or "default"
        _read_one(f, src, builder, times, issues)
    resolve_times(builder, times, tz, issues)
    return builder.frames()


def _read_one(
    f: Path,
    src: str,
    builder: RecordBuilder,
    times: list[Any],
    issues: Issues,
    keys: list[tuple[int, int]] | None = None,
    file_no: int = 0,
) -> None:
    reader = LineReader(f, src, builder, times, keys, file_no, MAX_LINE_BYTES)
    fh = open_log(f, src, issues)
    if fh is None:
        return
    try:
        with fh:
            for lineno, raw, size in _stats_lines(fh):
                reader.line(lineno, raw, size)
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        reader.unreadable(exc)
    reader.finish()

