"""``read_log``: the worker's ``Stats:`` batch-summary lines from host logs."""

from __future__ import annotations

import gzip
import json
import os
import re
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from ... import schemas
from ..._time import EARLIEST, LATEST, WINDOW, check_tz, plausible
from ...exceptions import LogFormatError
from .._files import expand_paths
from .._issues import Issues
from .._records import RecordBuilder, loads
from ..syncdata import SyncData

__all__ = ["read_log", "LOG_PATTERNS", "parse_log_line", "go_unquote"]

#: File names a directory search picks up as logs (rotations and gzip included), and
#: what captures of the host's console are commonly saved as (``journalctl ... >
#: stash-journal.txt``, ``docker logs stash > docker-stash.txt``, ``nohup.out``).
LOG_PATTERNS = ("*.log", "*.log.[0-9]*", "*.log.gz", "*.log.txt", "*journal*.txt",
                "*journal*.txt.gz", "docker*.txt", "*.out")
#: Longest line parsed. A ``Stats:`` line is a few hundred bytes (each error type adds
#: about 30); a longer line holding ``Stats: {`` is a ``torn_line`` issue. Lines are read
#: at most this much at a time, so memory stays bounded whatever a line's length.
MAX_LINE_BYTES = 1 << 20

_MARK = b"Stats: {"
#: The worker's own mark: a line holding it is the worker's ``Stats:`` line whatever the
#: capture did to it, so it becomes a snapshot or an issue, never nothing.
WORKER_MARK = "[Stash2Plex Worker] Stats: {"
#: End of journalctl's placeholder for a message with control bytes (the host's
#: coloured lines) when run without ``-a``: ``[1.2K blob data]``. The text is lost.
_BLOB = b"blob data]"
# ECMA-48 control sequences (CSI): logrus' colours (SGR, "\x1b[36m") and any other a
# terminal capture holds; removed wherever they are in the line.
_CSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
# What a capture puts before the host's line (matched at its start, at most
# _MAX_PREFIXES times: "docker compose logs -t" has two). ASCII digits only, as the fast
# path's templates assume. The times there are not used (see read_log).
_CAPTURE = re.compile(
    r"(?:"
    # journalctl: short, short-precise, short-iso(-precise), short-full, short-unix;
    # then host and identifier[pid]
    r"(?:[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
    r"|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:[.,][0-9]{1,9})?"
    r"(?:Z|[+-][0-9]{2}:?[0-9]{2})"
    r"|[A-Z][a-z]{2} [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
    r" [A-Za-z0-9+-]+"
    r"|[0-9]{9,11}\.[0-9]{6})"
    r" [^ ]+ [^ \[\]:]+(?:\[[0-9]+\])?: "
    # docker logs --timestamps (and kubectl logs --timestamps): RFC 3339, nanoseconds
    r"|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
    r"(?:Z|[+-][0-9]{2}:[0-9]{2}) "
    # docker compose logs: the service name, padded, and a bar
    r"|[A-Za-z0-9][A-Za-z0-9_.-]* *\| "
    r")"
)
_MAX_PREFIXES = 3
# logrus text (file) form: time="..." level=info msg="...escaped..."
_FILE_TIME = re.compile(r'(?:^|\s)time="([^"]*)"')
_FILE_MSG = re.compile(r'(?:^|\s)msg="((?:[^"\\]|\\.)*)("?)')
# logrus console form: INFO[2026-10-01 02:19:57] message
_CONSOLE = re.compile(r"^([A-Z]{4})\[([^\]]*)\]\s?(.*)$", re.S)
# raw plugin stderr: \x01 + level char + \x02 + message
_RAW = re.compile(r"^\x01([tdiwe])\x02(.*)$", re.S)
_STATS = re.compile(r"(?:^|\]\s)Stats: (\{.*)$", re.S)
_ESC = re.compile(r'\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[abfnrtv\\"\'])')
#: Escapes Go writes that JSON does not have (\a \v \xNN \UXXXXXXXX \').
_GO_ONLY = re.compile(r"\\[avxU']")
_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_ZONED = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")
# A log time must hold a date and a time of day; logrus' "INFO[0042]" (seconds since the
# host started) does not, and must not be read as the year 42.
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
#: A zone-less log time like the fast path's (see :func:`_parse_naive`).
_SENTINEL_TIME = "2000-01-01 00:00:00"
#: Zone-less times this far outside the window are dropped before localizing (no zone is
#: more than a day from UTC): one year-9999 line would otherwise fail the zone conversion
#: of every line of the batch.
_LOCAL_MARGIN = pd.Timedelta(days=2)

#: Payload keys of the ``Stats:`` line and the snapshot fields they hold.
PAYLOAD_KEYS = {
    "processed": "jobs_processed",
    "succeeded": "jobs_succeeded",
    "failed": "jobs_failed",
    "to_dlq": "jobs_to_dlq",
    "high_confidence": "high_confidence_matches",
    "low_confidence": "low_confidence_matches",
    "errors_by_type": "errors_by_type",
}

#: Keys of which a worker's ``Stats:`` payload has at least one.
_WORKER_KEYS = frozenset((*PAYLOAD_KEYS, "avg_time_ms", "success_rate"))


def go_unquote(text: str) -> str:
    r"""Undo Go's ``%q`` escaping of a logrus field value.

    Examples
    --------
    >>> go_unquote(r'Stats: {\"processed\": 1, \"path\": \"C:\\\\x\"}')
    'Stats: {"processed": 1, "path": "C:\\\\x"}'
    """
    if "\\" not in text:
        return text
    if not _GO_ONLY.search(text):
        # Go's %q escapes here are all JSON escapes too: let the C parser undo them
        try:
            return json.loads(f'"{text}"')
        except ValueError:
            pass

    def repl(m: re.Match[str]) -> str:
        esc = m.group(1)
        if esc[0] in "xuU":
            code = int(esc[1:], 16)
            return chr(code) if code <= 0x10FFFF else m.group(0)  # not a code point: as is
        return _SIMPLE.get(esc, esc)

    return _ESC.sub(repl, text)


def unwrap(line: str, keep: list[int] | None = None, *, json_file: bool = True) -> str:
    r"""The host's own text of a captured log line: control sequences (colours) removed
    wherever they are, then the prefixes of journalctl (short forms), ``docker logs
    --timestamps`` and ``docker compose logs`` at its start; a line of docker's
    json-file log (``{"log": "...", "stream": ..., "time": ...}``) gives its ``log``
    text, unwrapped in turn.

    *keep*, when given, receives for each character of the result its index in *line*
    (the fast path maps its offsets back with it; emptied for a json-file line, whose
    text is escaped).

    Examples
    --------
    >>> unwrap('Oct 01 02:19:57 nas stash[812]: \x1b[36mINFO\x1b[0m[2026-10-01 02:19:57] hi ')
    'INFO[2026-10-01 02:19:57] hi '
    """
    if "\x1b" in line:
        if keep is not None:
            pos = 0
            for m in _CSI.finditer(line):
                keep.extend(range(pos, m.start()))
                pos = m.end()
            keep.extend(range(pos, len(line)))
        line = _CSI.sub("", line)
    elif keep is not None:
        keep.extend(range(len(line)))
    cut = 0
    for _ in range(_MAX_PREFIXES):
        m = _CAPTURE.match(line, cut)
        if m is None:
            break
        cut = m.end()
    if keep is not None:
        del keep[:cut]
    if line.startswith('{"log":', cut) and json_file:
        try:
            entry = loads(line[cut:])
        except (ValueError, RecursionError):
            return line[cut:]  # a torn json-file line: reported as in no form
        if isinstance(entry, dict) and isinstance(entry.get("log"), str):
            if keep is not None:
                keep.clear()
            # the "log" text keeps the line's end (CRLF from a TTY)
            return unwrap(entry["log"].rstrip("\r\n"), json_file=False)
    return line[cut:]


def parse_log_line(line: str) -> tuple[str, str | None, str] | None:
    r"""Split one host log line into ``(form, time text or None, message)``.

    *form* is ``'file'`` (logrus key=value), ``'console'`` (logrus text, coloured or not)
    or ``'raw'`` (plugin stderr, no time), after :func:`unwrap` removed what a capture
    added (colours, journalctl's and docker's prefixes, whose times are not returned).
    Returns None for a line of none of these forms. A file-form line whose quoted
    message is not closed (a torn line) gives form ``'torn'``.

    Examples
    --------
    >>> parse_log_line('INFO[2026-10-01 02:19:57] [Plugin / X] Stats: {}')
    ('console', '2026-10-01 02:19:57', '[Plugin / X] Stats: {}')
    >>> parse_log_line('time="2026-10-01 02:19:57" level=info msg="a \\"b\\""')
    ('file', '2026-10-01 02:19:57', 'a "b"')
    >>> parse_log_line('2026-10-01T00:19:57.5Z \x1b[33mWARN\x1b[0m[2026-10-01 02:19:57] x   ')
    ('console', '2026-10-01 02:19:57', 'x   ')
    """
    return _parse_text(unwrap(line))


def _parse_text(line: str) -> tuple[str, str | None, str] | None:
    """:func:`parse_log_line` of a line :func:`unwrap` gave."""
    m = _CONSOLE.match(line)
    if m:
        return "console", m.group(2), m.group(3)
    m = _RAW.match(line)
    if m:
        return "raw", None, m.group(2)
    msg = _FILE_MSG.search(line)
    if msg:
        t = _FILE_TIME.search(line)
        form = "file" if msg.group(2) else "torn"
        return form, t.group(1) if t else None, go_unquote(msg.group(1))
    return None


def _open(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def is_blob(raw: bytes) -> bool:
    """A line (without ``Stats: {``) that is journalctl's ``[... blob data]``."""
    return raw.rstrip(b"\r\n").endswith(_BLOB)


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
    file's size (only with the number of ``Stats:`` lines). The worker's lines are read
    by a vectorised fast path (``syncstats.io._fastlog``); any line it cannot read
    exactly as the per-line reader would is read by that reader.

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
    issues = Issues(on_error, LogFormatError)
    problems: list[tuple[str, str, str]] = []
    files = expand_paths(path, patterns=LOG_PATTERNS, what="log", problems=problems)
    default = source
    if default is None and isinstance(path, str | os.PathLike) and Path(path).is_dir():
        default = Path(path).name
    for where, kind, detail in problems:  # nothing in the tree skipped silently
        issues.add(default, where, None, kind, detail)
    snapshots, errors = read_log_files(files, issues, tz=tz, source=default)
    return SyncData(snapshots=snapshots, errors=errors, issues=issues.frame())


#: Take the vectorised fast path (:mod:`syncstats.io._fastlog`) for the lines it can
#: reproduce exactly; False reads every line with the per-line reference below (the
#: tests compare both).
FAST_PATH = True


def read_log_files(
    files: list[Path], issues: Issues, *, tz: str, source: str | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read ``Stats:`` lines of *files* into (snapshots, errors); issues into *issues*."""
    if FAST_PATH:
        from ._templates import Redo, read_log_files_fast

        start = len(issues.rows)
        try:
            return read_log_files_fast(files, issues, tz=tz, source=source)
        except Redo:  # a batch-wide outcome the fast path cannot share: start over
            del issues.rows[start:]
    return read_log_files_reference(files, issues, tz=tz, source=source)


def read_log_files_reference(
    files: list[Path], issues: Issues, *, tz: str, source: str | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-line reader: every ``Stats:`` line parsed on its own (the reference)."""
    builder = RecordBuilder(issues)
    times: list[Any] = []  # time text per record (None for raw stderr)
    for f in tqdm(files, desc="logs", unit="file", delay=1.0, disable=None, leave=False):
        src = source or f.parent.name or "default"
        _read_one(f, src, builder, times, issues)
    _resolve_times(builder, times, tz, issues)
    return builder.frames()


class LineReader:
    """The reference treatment of one file's ``Stats:`` lines, one line at a time.

    Parameters
    ----------
    f : Path
        The file.
    src : str
        Its source name.
    builder : RecordBuilder
        Receives the records (and, through its ``issues``, the issues).
    times : list
        Receives each record's time text (None when the line has none).
    keys : list, optional
        Receives ``(file_no, line)`` of each record added, for the fast path's merge.
    file_no : int
        The file's position in the list read.
    """

    def __init__(
        self,
        f: Path,
        src: str,
        builder: RecordBuilder,
        times: list[Any],
        keys: list[tuple[int, int]] | None = None,
        file_no: int = 0,
    ):
        self.f, self.src, self.builder, self.times = f, src, builder, times
        self.issues = builder.issues
        self.keys, self.file_no = keys, file_no
        self.raw_first: int | None = None
        self.raw_count = 0
        self.blob_first: int | None = None
        self.blob_count = 0

    def line(self, lineno: int, raw: bytes | None, size: int) -> None:
        """Read one line holding ``Stats: {`` (*raw* is None for an overlong line), or
        one :func:`is_blob` takes."""
        src, f, issues = self.src, self.f, self.issues
        if raw is None:
            issues.add(src, f, lineno, "torn_line",
                       f"a Stats: line of {size:,} bytes, over the {MAX_LINE_BYTES:,} "
                       "byte limit of a line (lines merged by a torn write?); not read")
            return
        if _MARK not in raw:  # yielded as journalctl's placeholder (see is_blob)
            self.blobs(lineno, 1)
            return
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            issues.add(src, f, lineno, "torn_line", f"not UTF-8 ({exc.reason})")
            return
        text = unwrap(line.lstrip("\ufeff"))
        # "Stats: {" in a line of another form, or another plugin's: silent, unless the
        # worker's mark says it is the worker's line
        worker = WORKER_MARK in text
        parsed = _parse_text(text)
        if parsed is None:
            if worker:
                issues.add(src, f, lineno, "unknown_form", _unknown_form(text))
            return
        form, when, message = parsed
        m = _STATS.search(message)
        if m is None:
            if worker:
                issues.add(src, f, lineno, "unknown_form",
                           f"the worker's Stats: mark is outside the {form} form's message")
            return
        if form == "torn":
            issues.add(src, f, lineno, "torn_line",
                       "the quoted msg=\"...\" is not closed (torn line)")
            return
        try:
            payload = loads(m.group(1))
        except (ValueError, RecursionError) as exc:
            issues.add(src, f, lineno, "torn_line", f"Stats: payload is not JSON: {exc}")
            return
        if not isinstance(payload, dict):
            issues.add(src, f, lineno, "not_object",
                       f"Stats: payload is {type(payload).__name__}, not an object")
            return
        if not _WORKER_KEYS.intersection(payload):
            if worker:
                issues.add(src, f, lineno, "not_snapshot",
                           "Stats: payload has none of the worker's keys")
            return  # another plugin's "Stats: {...}": none of the worker's keys
        if _add_payload(payload, self.builder, src, f, lineno):
            timeless = form == "raw" or not when
            self.times.append(None if timeless else when)
            if self.keys is not None:
                self.keys.append((self.file_no, lineno))
            if timeless:  # raw stderr, or a file-form line without time="..."
                self.raw_count += 1
                self.raw_first = self.raw_first or lineno

    def blobs(self, first: int, count: int) -> None:
        """*count* lines from line *first* on are journalctl's ``[... blob data]``."""
        self.blob_count += count
        self.blob_first = first if self.blob_first is None else min(self.blob_first, first)

    def unreadable(self, exc: BaseException) -> None:
        """The file failed part-way (lines read before stay)."""
        self.issues.add(self.src, self.f, None, "unreadable", f"read failed part-way: {exc}")

    def finish(self) -> None:
        """The file's one ``journal_blob`` and one ``no_timestamp`` issue, if any."""
        if self.blob_count:
            # one issue, not one a line: without -a every coloured line is a blob
            self.issues.add(
                self.src, self.f, self.blob_first, "journal_blob",
                f"{self.blob_count} line(s) are journalctl's '[... blob data]' placeholder "
                "(messages with colour codes, as the worker's Stats: lines are): their "
                "text is not in the file; re-run journalctl with -a",
            )
        if self.raw_count:
            self.issues.add(
                self.src, self.f, self.raw_first, "no_timestamp",
                f"{self.raw_count} Stats: line(s) carry no time (raw plugin stderr, or no time= "
                "field); their snapshot_at is NaT",
            )


def _unknown_form(text: str) -> str:
    """Why a line holding the worker's mark was not read, with a hint when one helps."""
    if text.startswith('{"log":'):
        hint = "a docker json-file line without a readable \"log\" text (torn?)"
    else:
        hint = ("expected logrus text (coloured or not) or key=value, or raw plugin "
                "stderr, optionally behind a journalctl or docker logs prefix")
    return f"the worker's Stats: line is in no form read ({hint}): {text[:48]!r}...; not read"


def open_log(f: Path, src: str, issues: Issues) -> IO[bytes] | None:
    """*f* opened for reading (gunzipped), or None with an ``unreadable`` issue."""
    try:
        return _open(f)
    except OSError as exc:
        issues.add(src, f, None, "unreadable", f"cannot be read: {exc.strerror or exc}")
        return None


def _read_one(
    f: Path,
    src: str,
    builder: RecordBuilder,
    times: list[Any],
    issues: Issues,
    keys: list[tuple[int, int]] | None = None,
    file_no: int = 0,
) -> None:
    reader = LineReader(f, src, builder, times, keys, file_no)
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


def _add_payload(
    payload: dict[str, Any], builder: RecordBuilder, src: str, f: Path, lineno: int
) -> bool:
    obj: dict[str, Any] = {}
    for key, target in PAYLOAD_KEYS.items():
        if key in payload:
            obj[target] = payload[key]
    if "processed" not in payload:
        builder.issues.add(src, f, lineno, "not_snapshot",
                           "Stats: payload has no 'processed' count")
        return False
    avg = payload.get("avg_time_ms")
    processed = payload.get("processed")
    avg_ok = isinstance(avg, int | float) and not isinstance(avg, bool)
    if avg_ok and isinstance(processed, int | float) and not isinstance(processed, bool):
        try:
            obj["total_processing_time"] = float(avg) * float(processed) / 1000.0
        except OverflowError:  # integers beyond the float range: a bad value is reported
            obj["total_processing_time"] = float("nan")
            if isinstance(avg, int) and abs(avg) > 1e300:
                builder.issues.add(src, f, lineno, "bad_value",
                                   f"avg_time_ms is {avg!r:.40}; total_processing_time is NaN")
    else:
        obj["total_processing_time"] = float("nan")
        if not avg_ok:  # a bad 'processed' is reported (and judged) by builder.add
            builder.issues.add(src, f, lineno, "bad_value",
                               f"avg_time_ms is {avg!r:.40}; total_processing_time is NaN")
    return builder.add(obj, source=src, path=f, line=lineno, snapshot_at=pd.NaT, time_from="log")


def _parse_naive(text: pd.Series, *, sentinel: bool = False) -> pd.Series:
    """Zone-less ISO-8601 times; a value pandas reads with an offset is NaT.

    With *sentinel*, the batch is parsed with one more zone-less time in it: the fast
    path's lines were part of the reference's batch, and pandas decides some things
    (mixed offsets, the resolution) for the batch as a whole.
    """
    if sentinel:
        extra = pd.Series([_SENTINEL_TIME], dtype="object")
        both = _parse_naive(pd.concat([extra, text.astype("object")], ignore_index=True))
        return pd.Series(both.to_numpy()[1:], index=text.index)
    try:
        return pd.to_datetime(text, format="ISO8601", errors="coerce")
    except ValueError:  # "22:53-0:19": an offset _ZONED does not take, mixed with naive times
        one = [pd.to_datetime(pd.Series([t]), format="ISO8601", errors="coerce").iloc[0]
               for t in text]
        return pd.Series([pd.NaT if t is pd.NaT or t.tzinfo is not None else t for t in one],
                         index=text.index, dtype="datetime64[us]")


def _resolve_times(
    builder: RecordBuilder, times: list[Any], tz: str, issues: Issues, *, fast: bool = False
) -> np.ndarray:
    """Parse the collected time texts at once (vectorised) into UTC timestamps.

    Records whose time is not valid are reported (``bad_time``) and dropped; returns the
    mask of the dropped records. *fast* says that the fast path read other records of
    the same batch (see :func:`_parse_naive`).
    """
    n = len(times)
    if not n:
        return np.zeros(0, dtype=bool)
    text = pd.Series(times, dtype="object")
    out = pd.Series(pd.NaT, index=range(n), dtype=schemas.UTC_DTYPE)
    has = text.notna()
    as_str = text.astype("str").str.strip()
    usable = has & as_str.str.match(_DATE_TIME.pattern).fillna(False).astype(bool)
    zoned = usable & as_str.str.contains(_ZONED.pattern, regex=True).fillna(False).astype(bool)
    unit = schemas.TIME_UNIT
    if zoned.any():
        parsed = pd.to_datetime(text[zoned], utc=True, format="ISO8601", errors="coerce")
        out[zoned] = parsed.dt.floor(unit).dt.as_unit(unit)  # nanoseconds: to the column's unit
    naive = usable & ~zoned
    if naive.any():
        local = _parse_naive(text[naive], sentinel=fast)
        plausible_local = (local >= EARLIEST.tz_localize(None) - _LOCAL_MARGIN) & (
            local < LATEST.tz_localize(None) + _LOCAL_MARGIN)
        local = local.where(plausible_local)
        try:
            aware = local.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
        except (TypeError, ValueError, OverflowError, NotImplementedError):
            if fast:  # every naive time of the batch is lost, the fast path's too
                from ._templates import Redo

                raise Redo from None
            aware = pd.Series(pd.NaT, index=local.index, dtype=schemas.UTC_DTYPE)
        out[naive] = aware.dt.tz_convert("UTC").dt.floor(unit).dt.as_unit(unit)
    # As for snapshot_at values: a time outside the window (syncstats._time.plausible) is
    # not a log time
    out = out.where(plausible(out))
    bad = has & out.isna()
    drop = np.zeros(n, dtype=bool)
    if bad.any():
        origins = builder.cols["origin"]
        for i in np.flatnonzero(bad.to_numpy()):
            path, _, line = origins[i].rpartition(":")
            issues.add(
                builder.cols["source"][i], path, int(line), "bad_time",
                f"log time {times[i]!r:.60} is not a valid (or is an ambiguous) time in {tz}, "
                f"or is outside {WINDOW}; line not loaded",
            )
            drop[i] = True
    builder.cols["snapshot_at"] = list(out)
    if drop.any():
        builder.drop(drop)
    return drop
