"""The per-line reading of host log lines that the reference and the templates engine
share: the line forms and what captures add to them (:func:`unwrap`,
:func:`parse_log_line`, :func:`go_unquote`), the payload's keys, one line to a record
(:class:`LineReader`) and the batch's time resolution (:func:`resolve_times`)."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from ... import schemas
from ..._time import EARLIEST, LATEST, WINDOW, plausible
from .._issues import Issues
from .._records import RecordBuilder, loads

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
    max_line : int
        The longest line read (``syncstats.io.log.MAX_LINE_BYTES``); only said in the
        issue of a longer one.
    """

    def __init__(
        self,
        f: Path,
        src: str,
        builder: RecordBuilder,
        times: list[Any],
        keys: list[tuple[int, int]] | None = None,
        file_no: int = 0,
        max_line: int = 1 << 20,
    ):
        self.f, self.src, self.builder, self.times = f, src, builder, times
        self.max_line = max_line
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
                       f"a Stats: line of {size:,} bytes, over the {self.max_line:,} "
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

    def checkpoint(self) -> tuple[int, ...]:
        """What has been added so far (issues, records, times, keys): for :meth:`rollback`."""
        b = self.builder
        return (len(self.issues.rows), len(b), len(b.err_rows), len(self.times),
                len(self.keys) if self.keys is not None else 0)

    def rollback(self, mark: tuple[int, ...]) -> None:
        """Forget what was added since :meth:`checkpoint` gave *mark* (and this file's
        counts of blob and raw lines)."""
        issues, records, errors, times, keys = mark
        del self.issues.rows[issues:]
        for column in self.builder.cols.values():
            del column[records:]
        del self.builder.err_rows[errors:]
        del self.times[times:]
        if self.keys is not None:
            del self.keys[keys:]
        self.raw_first, self.raw_count, self.blob_first, self.blob_count = None, 0, None, 0

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


def _parse_naive(text: pd.Series) -> pd.Series:
    """Zone-less ISO-8601 times; a value pandas reads with an offset is NaT.

    Each value's result is its own, whatever else is in the batch (pandas decides some
    things for a batch as a whole: an offset in every value gives a zoned result, mixed
    ones an error).
    """
    try:
        out = pd.to_datetime(text, format="ISO8601", errors="coerce")
    except ValueError:  # "22:53-0:19": an offset _ZONED does not take, mixed with naive times
        one = [pd.to_datetime(pd.Series([t]), format="ISO8601", errors="coerce").iloc[0]
               for t in text]
        return pd.Series([pd.NaT if t is pd.NaT or t.tzinfo is not None else t for t in one],
                         index=text.index, dtype="datetime64[us]")
    if out.dt.tz is not None:  # every value had an offset (or is NaT)
        return pd.Series(pd.NaT, index=text.index, dtype="datetime64[us]")
    return out


def resolve_times(builder: RecordBuilder, times: list[Any], tz: str, issues: Issues) -> np.ndarray:
    """Parse the collected time texts at once (vectorised) into UTC timestamps.

    Records whose time is not valid are reported (``bad_time``) and dropped; returns the
    mask of the dropped records. A record's time does not depend on the others' (the
    templates engine reads its own).
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
        local = _parse_naive(text[naive])
        plausible_local = (local >= EARLIEST.tz_localize(None) - _LOCAL_MARGIN) & (
            local < LATEST.tz_localize(None) + _LOCAL_MARGIN)
        local = local.where(plausible_local)
        aware = local.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
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

