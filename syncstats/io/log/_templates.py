"""Vectorised fast path for the ``Stats:`` lines of host logs.

The per-line reader of :mod:`syncstats.io.log` is the reference: it decodes each line,
matches three regular expressions, undoes Go's ``%q`` escaping, parses the JSON payload
and validates the record, tens of microseconds per line. This module gets the same
frames and issues without looking at lines one by one in Python:

1. The file is read in blocks of a few MB into one reused buffer. ``Stats: {`` is found
   with numpy (the ``{`` bytes, then the seven bytes before each); line boundaries and
   numbers come from the newline positions. The noise lines (80% of a host log) cost
   two vector comparisons per byte.
2. A ``Stats:`` line has a *template*: the line with every ASCII digit replaced by
   ``0``. The worker writes one line shape, so a log holds few templates (55 in the
   benchmark's million lines). The first line of each template is read by the
   reference code itself (:func:`~syncstats.io.log.parse_log_line`, ``loads``) and
   tokenised; when it gives a record without issue, the template keeps where each
   number and the time sit in the line. Lines of one length are compared with a
   template's first line as a matrix, eight bytes at a time (equal except at its
   digits, where they must have digits).
3. Lines of one template differ from its first line in digits only, and the
   reference's decisions depend on digits only through values: a zero-padded number
   is not JSON, a date may not exist or not exist in the zone. Those are checked per
   line, vectorised; the numbers are read from the digit bytes (int64 arithmetic, at
   most 18 digits), times by numpy's ISO-8601 parser from the time's digits (a block
   holding a date that does not exist by the reference's own parser) and pandas'
   ``tz_localize`` as the reference calls it.
4. The frames are built column-wise from arrays grown in place, in reading order,
   merged with the reference's records when there are any.

Captured lines (colour codes, journalctl's and docker's prefixes) are templates like
any other: the template's first line is unwrapped by the reference's
:func:`~syncstats.io.log.unwrap`, whose index map puts the time and the payload back
in the raw line; every other digit of the line (a prefix's time, a pid, a colour code)
must be a digit in each line of the template too, so that the reference would unwrap
and parse it alike. journalctl's ``[... blob data]`` lines are found from the lines'
last bytes (no extra scan of the block).

Whatever a template or a line does not satisfy (other escapes, floats, nulls, numbers
of more than 18 digits or zero-padded, nested values, two CRs at the end, BOMs, torn or
overlong lines, other forms, colour codes inside the time or the payload, json-file
lines, bad times, ...) goes to the reference, line by line and in line order, so the
issues come out in the reference's order: fast rows never have one. A file whose read
fails part-way is declined as a whole (:meth:`FastLog.read_file` discards what it read
of it): ``syncstats.io.log.reader`` has the reference read it, with an
``engine_fallback`` issue. Nothing here depends on the other files' lines: the
reference's time of a line is its own (``_lines.resolve_times``).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.lib.stride_tricks import sliding_window_view

from ... import schemas
from ..._text import clean_path, clean_text
from ..._time import EPOCH_LIMIT, EPOCH_MIN, plausible
from .._records import RecordBuilder, loads
from ._lines import (
    _BLOB,
    _CONSOLE,
    _FILE_MSG,
    _FILE_TIME,
    _LOCAL_MARGIN,
    _STATS,
    _WORKER_KEYS,
    PAYLOAD_KEYS,
    LineReader,
    _parse_naive,
    _parse_text,
    open_log,
    unwrap,
)

__all__ = ["FastLog"]

#: Bytes read at a time, into one buffer: memory stays a small multiple of this
#: whatever the file size. Larger reads cost more here (the temporaries of a block
#: leave the CPU caches), smaller ones pay numpy's per-call costs more often.
READ_BYTES = 8 << 20
#: Templates remembered (per call); the cache is emptied when it grows past this, so a
#: log whose lines all differ cannot grow it without bound.
MEMO_MAX = 50_000
#: Longest number (digits) read by the fast path (int64 holds them all); larger counters
#: (the doubling bug's) are left to the reference.
MAX_DIGITS = 18
#: Templates looked for per line length and block by comparing matrices; a block with
#: more (a log whose lines all differ) has the rest looked up line by line.
MATCH_ROUNDS = 8

_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_MARK7 = np.frombuffer(b"Stats: ", dtype=np.uint8)
_CANONICAL_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}")
#: The digits of a canonical time: year, month, day, hour, minute, second.
_TIME_DIGITS = ((0, 4), (5, 2), (8, 2), (11, 2), (14, 2), (17, 2))
_COUNTER_KEYS = [k for k, v in PAYLOAD_KEYS.items() if v in schemas.COUNTERS]
_COUNTER_COLUMN = {k: schemas.COUNTERS.index(PAYLOAD_KEYS[k]) for k in _COUNTER_KEYS}
#: One JSON token of a payload that has no backslash (so strings have no escapes).
_TOKEN = re.compile(
    rb'[ \t\r\n]*(?:"([^"\\]*)"|(-?)([0-9]+)(?![0-9.eE])|(true|false|null)|([{}\[\],:]))'
)
_LITERALS = {b"true": True, b"false": False, b"null": None}
_ANY_DIGIT = re.compile(rb"[0-9]")
_US = 1_000_000
#: The reference's zone-less times kept for localizing (the window and its margin).
_LOCAL_MIN_S = EPOCH_MIN - int(_LOCAL_MARGIN.total_seconds())
_LOCAL_MAX_S = EPOCH_LIMIT + int(_LOCAL_MARGIN.total_seconds())
#: A line's time as numpy reads it, and where the time's 14 digits go in it.
_STAMP = np.frombuffer(b"2000-01-01T00:00:00", dtype=np.uint8)
_STAMP_DIGITS = np.array([0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18])
_STAMP_SEPARATORS = np.array([4, 7, 10, 13, 16])


class _Declined(Exception):
    """A template (or line) the fast path leaves to the reference."""


# --------------------------------------------------------------------------------------
# Templates
# --------------------------------------------------------------------------------------


@dataclass
class Template:
    """Where the numbers of one line shape sit, and what they mean.

    Attributes
    ----------
    digits : ndarray
        Byte offsets, from the line's start, of every digit read: the time's 14 first
        (year to second), then the numbers'.
    fields : list of (first, end, field, negative)
        Each number: its digit columns ``first:end`` (indices into *digits*), the
        field it gives (0-5 the counters of :data:`syncstats.schemas.COUNTERS`, 6
        ``avg_time_ms``, 7+ the error counts in the payload's key order) and whether
        it has a minus sign. Absent counters are 0.
    leading : ndarray
        Digit columns of the first digit of numbers of two digits or more (a ``0``
        there is a leading zero: not JSON).
    errors : ndarray
        Error-type codes in the payload's key order.
    """

    digits: np.ndarray
    fields: list[tuple[int, int, int, bool]]
    leading: np.ndarray
    errors: np.ndarray


#: Fields of a template before the error counts: counters (6), avg_time_ms.
_AVG_FIELD = len(schemas.COUNTERS)
_ERROR_FIELDS = _AVG_FIELD + 1


def _tokens(u: bytes) -> list[tuple[bytes, Any, Any]]:
    """Top-level ``(key, kind, value)`` of a JSON object without backslashes.

    *kind* is ``'int'`` (value: ``(sign, digits start, digits end)``), ``'str'``,
    ``'lit'`` or ``'obj'`` (value: list of ``(key, kind, value)``, scalars only).

    Raises
    ------
    _Declined
        For anything else (floats, arrays, deeper nesting, trailing text).
    """
    pos = 0

    def token() -> re.Match[bytes]:
        nonlocal pos
        m = _TOKEN.match(u, pos)
        if m is None:
            raise _Declined
        pos = m.end()
        return m

    def obj(nested: bool) -> list[tuple[bytes, Any, Any]]:
        out: list[tuple[bytes, Any, Any]] = []
        m = token()
        if m.group(5) == b"}":
            return out
        while True:
            if m.group(1) is None:
                raise _Declined
            key = m.group(1)
            if token().group(5) != b":":
                raise _Declined
            v = token()
            if v.group(1) is not None:
                out.append((key, "str", v.group(1)))
            elif v.group(3) is not None:
                out.append((key, "int", (v.group(2), v.start(3), v.end(3))))
            elif v.group(4) is not None:
                out.append((key, "lit", _LITERALS[v.group(4)]))
            elif v.group(5) == b"{" and not nested:
                out.append((key, "obj", obj(True)))
            else:
                raise _Declined
            sep = token().group(5)
            if sep == b"}":
                return out
            if sep != b",":
                raise _Declined
            m = token()

    if token().group(5) != b"{":
        raise _Declined
    top = obj(False)
    if u[pos:].strip(b" \t\r\n"):
        raise _Declined
    return top


def _same(tokens: list[tuple[bytes, Any, Any]], u: bytes, value: dict[str, Any]) -> bool:
    """The tokens say exactly what the reference's parse says (keys, order, values)."""
    keys = [k.decode("utf-8") for k, _, _ in tokens]
    if len(set(keys)) != len(keys) or list(value) != keys:
        return False
    for key, (_, kind, tok) in zip(keys, tokens, strict=True):
        got = value[key]
        if kind == "int":
            sign, a, b = tok
            if type(got) is not int or got != int(sign + u[a:b]):
                return False
        elif kind == "str":
            if got != tok.decode("utf-8"):
                return False
        elif kind == "lit":
            if got is not tok:
                return False
        elif not isinstance(got, dict) or not _same(tok, u, got):
            return False
    return True


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _unbroken(keep: list[int], start: int, end: int) -> bool:
    """Characters *start:end* of :func:`~syncstats.io.log.unwrap`'s text are one piece
    of the line (*keep*: their indices there)."""
    return 0 <= start < end <= len(keep) and keep[end - 1] - keep[start] == end - 1 - start


def _ints(tokens: list[tuple[bytes, Any, Any]]) -> Iterator[tuple[bytes, int, int]]:
    """Every integer token of :func:`_tokens`' result, nested ones too."""
    for _, kind, tok in tokens:
        if kind == "int":
            yield tok
        elif kind == "obj":
            yield from _ints(tok)


def make_template(raw: bytes, error_code: dict[str, int]) -> Template:
    """The template of one line (without its newline), decided by the reference code.

    Raises
    ------
    _Declined
        When the line does not give a record without issue, or is not a shape the
        fast path reads (see the module docstring).
    """
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _Declined from None
    if line.endswith("\r") and not line.endswith("\r\r"):
        # CRLF (docker logs of a TTY): the reference strips the CR; the template's
        # lines all end in one CR too (the CR is no digit: it is compared)
        line = line[:-1]
    if line.rstrip("\r\n") != line or line.startswith("\ufeff"):
        raise _Declined  # more CRs, and BOMs: the reference strips them
    keep: list[int] = []  # index in the line of each character of text
    text = unwrap(line, keep)
    parsed = _parse_text(text)  # what parse_log_line(line) gives
    if parsed is None:
        raise _Declined
    form, when, message = parsed
    m = _STATS.search(message)
    if m is None or form not in ("file", "console") or when is None:
        raise _Declined
    if not _CANONICAL_TIME.fullmatch(when):
        raise _Declined
    try:
        payload = loads(m.group(1))
    except (ValueError, RecursionError):
        raise _Declined from None
    if not isinstance(payload, dict) or "processed" not in payload:
        raise _Declined
    if not _WORKER_KEYS.intersection(payload):
        raise _Declined
    # spans of text: the payload as written (c0:c1) and the time (ct:ct + 19)
    if form == "file":
        fm = _FILE_MSG.search(text)
        tm = _FILE_TIME.search(text)
        if fm is None or tm is None or tm.group(1) != when:
            raise _Declined
        body = fm.group(1)
        # \" is the only escape taken: the payload then has no backslash at all, and
        # unescaping is a plain replacement (what go_unquote gives for it)
        if "\\" in body.replace('\\"', "") or body.replace('\\"', '"') != message:
            raise _Declined
        start = m.start(1)
        c0, c1 = fm.start(1) + start + message.count('"', 0, start), fm.end(1)
        ct = tm.start(1)
    else:
        cm = _CONSOLE.match(text)
        if cm is None or cm.group(2) != when or cm.group(3) != message:
            raise _Declined
        c0, c1 = cm.start(3) + m.start(1), len(text)
        ct = cm.start(2)
    # each span one piece of the line (no colour code inside): offsets in bytes
    if not (_unbroken(keep, c0, c1) and _unbroken(keep, ct, ct + 19)):
        raise _Declined
    p0, p1 = _byte_offset(line, keep[c0]), _byte_offset(line, keep[c1 - 1] + 1)
    t0 = _byte_offset(line, keep[ct])
    if raw[t0:t0 + 19] != when.encode("ascii"):
        raise _Declined
    escaped = raw[p0:p1]
    u = escaped.replace(b'\\"', b'"')
    if b"\\" in u or u.decode("utf-8") != m.group(1):
        raise _Declined
    tokens = _tokens(u)
    if not _same(tokens, u, payload):
        raise _Declined
    # raw offset of unescaped index i: each '"' before it was two bytes (\") in the line
    quotes = np.cumsum(np.frombuffer(u, dtype=np.uint8) == ord('"')) if form == "file" else None

    def number(tok: tuple[bytes, int, int], whole: bool = False) -> tuple[int, int, int]:
        sign, a, b = tok
        if b - a > MAX_DIGITS and not whole:  # whole: only where it is, not read
            raise _Declined
        first = p0 + a + (int(quotes[a - 1]) if quotes is not None and a else 0)
        return first, b - a, -1 if sign else 1

    found = {k.decode("utf-8"): (kind, tok) for k, kind, tok in tokens}
    # the time's digits first (columns 0-13 of Template.digits), then the fields
    digits: list[int] = [t0 + o + k for o, n in _TIME_DIGITS for k in range(n)]
    fields: list[tuple[int, int, int] | None] = [None] * len(schemas.COUNTERS)
    for key in _COUNTER_KEYS:
        if key in found:
            kind, tok = found[key]
            if kind != "int":
                raise _Declined  # null, bool, string: a bad_value issue
            fields[_COUNTER_COLUMN[key]] = number(tok)
    kind, tok = found.get("avg_time_ms", ("missing", None))
    if kind != "int":
        raise _Declined  # floats too: left to the reference
    fields.append(number(tok))
    errors = []
    kind, tok = found.get("errors_by_type", ("lit", None))
    if kind == "obj":
        for key, k2, t2 in tok:
            if k2 != "int" or _ANY_DIGIT.search(key):
                # a name with digits may differ between lines of one template
                raise _Declined
            errors.append(error_code.setdefault(clean_text(key.decode("utf-8")),
                                                len(error_code)))
            fields.append(number(t2))
    elif not (kind == "lit" and tok is None):  # null is "no errors"; others: an issue
        raise _Declined
    plan: list[tuple[int, int, int, bool]] = []
    for field, spec in enumerate(fields):
        if spec is None:
            continue
        first, n, sign = spec
        plan.append((len(digits), len(digits) + n, field, sign < 0))
        digits.extend(range(first, first + n))
    # Lines of the template may differ from this one at any digit: the digits not read
    # (times and pids of a capture's prefix, colour codes, strings, other numbers) are
    # checked to be digits too (else the reference could parse the line otherwise),
    # and every number, read or not, to have no leading zero (not JSON).
    column = {offset: i for i, offset in enumerate(digits)}
    for offset, byte in enumerate(raw):
        if 48 <= byte <= 57 and offset not in column:
            column[offset] = len(digits)
            digits.append(offset)
    leading = [column[number(tok, whole=True)[0]] for tok in _ints(tokens) if tok[2] - tok[1] > 1]
    return Template(
        digits=np.asarray(digits, dtype=np.int64),
        fields=plan,
        leading=np.asarray(leading, dtype=np.int64),
        errors=np.asarray(errors, dtype=np.int32),
    )


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------


def _segments(
    fh: IO[bytes], max_line: int
) -> Iterator[tuple[bytes | bytearray | None, int, int]]:
    """The file as ``(data, lo, hi)``: whole lines ``data[lo:hi]`` (the last line of the
    file may have no newline), and ``(None, size, marked)`` for a line longer than
    *max_line*, streamed through without being kept.

    The file is read into one buffer, reused (so *data* is valid until the next item
    is asked for): memory stays one buffer whatever the file or line size. The start
    of a line carried over from one read is joined to its end in the next (a segment
    of one line); once longer than *max_line* it is only counted and searched for
    ``Stats: {``, piece by piece.
    """
    mark = b"Stats: {"
    keep = len(mark) - 1
    pending = b""
    long_size = -1  # >= 0 while inside an overlong line
    marked = False
    tail = b""

    def go_long(head: bytes | bytearray, data: bytes | bytearray, pos: int) -> None:
        nonlocal long_size, marked, tail, pending
        marked = (mark in head or data.find(mark, pos) >= 0
                  or mark in head[-keep:] + data[pos:pos + keep])
        long_size = len(head) + len(data) - pos
        tail = (head[-keep:] + data[max(pos, len(data) - keep):])[-keep:]
        pending = b""

    buffer = bytearray(READ_BYTES)
    view = memoryview(buffer)
    while size := fh.readinto(view):
        data: bytes | bytearray = buffer if size == len(buffer) else buffer[:size]
        pos = 0
        if long_size >= 0:
            nl = data.find(b"\n")
            end = len(data) if nl < 0 else nl + 1
            marked = marked or data.find(mark, 0, end) >= 0 or mark in tail + data[:keep]
            long_size += end
            tail = (tail + data[max(0, end - keep):end])[-keep:]
            if nl < 0:
                continue
            yield None, long_size, marked
            long_size, pos = -1, end
        elif pending:
            nl = data.find(b"\n")
            if nl < 0:
                if len(pending) + len(data) > max_line:
                    go_long(pending, data, 0)
                else:
                    pending += data
                continue
            first = pending + data[:nl + 1]
            pending = b""
            yield first, 0, len(first)
            pos = nl + 1
        cut = data.rfind(b"\n", pos)
        if cut < 0:
            if len(data) - pos > max_line:
                go_long(b"", data, pos)
            else:
                pending = data[pos:]
            continue
        if cut + 1 > pos:
            yield data, pos, cut + 1
        if len(data) - cut - 1 > max_line:  # overlong already: not copied
            go_long(b"", data, cut + 1)
        else:
            pending = data[cut + 1:]
    if long_size >= 0:
        yield None, long_size, marked
    elif pending:
        yield pending, 0, len(pending)


def _local_times(stamp: np.ndarray) -> np.ndarray:
    """Epoch seconds of the zone-less times ``YYYY-MM-DDTHH:MM:SS`` (rows of bytes of
    *stamp*), int64's minimum (NaT) where the reference's parser takes none (no such
    date or time of day)."""
    text = np.ascontiguousarray(stamp).view(f"S{_STAMP.size}").ravel()
    try:
        parsed = text.astype("datetime64[s]")  # numpy's ISO-8601 parser: all or nothing
    except ValueError:  # some date or time does not exist: the reference's parser says which
        naive = _parse_naive(pd.Series(text.astype(str), dtype="object"))
        parsed = naive.to_numpy(dtype="datetime64[s]", na_value=np.datetime64("NaT"))
    return parsed.view(np.int64)


class _Growing:
    """Columns grown in place (``ndarray.resize``: a ``realloc``), so the frames are
    built from them without a concatenation: memory is what a big log costs most (each
    page first touched costs more than the work on it)."""

    def __init__(self, **columns: tuple[np.dtype, tuple[int, ...]]):
        self.size = 0
        self.arrays = {k: np.empty((1024, *shape), dtype=dt) for k, (dt, shape) in columns.items()}

    def append(self, **values: Any) -> None:
        n = len(next(iter(values.values())))
        end = self.size + n
        for key, value in values.items():
            arr = self.arrays[key]
            if end > arr.shape[0]:
                arr.resize((max(end, 2 * arr.shape[0]), *arr.shape[1:]), refcheck=False)
            arr[self.size:end] = value
        self.size = end

    def get(self, key: str) -> np.ndarray:
        """The column, trimmed to its size (its spare capacity given back)."""
        arr = self.arrays[key]
        if arr.shape[0] != self.size:
            arr.resize((self.size, *arr.shape[1:]), refcheck=False)
        return arr


class FastLog:
    """Rows read by the fast path, over all files of one call.

    Parameters
    ----------
    tz : str
        Time zone of the logs' zone-less times.
    max_line : int
        The reference's longest line (:data:`syncstats.io.log.MAX_LINE_BYTES`).
    """

    def __init__(self, tz: str, max_line: int):
        self.tz = tz
        self.max_line = max_line
        self.error_code: dict[str, int] = {}
        self.memo: dict[bytes, int] = {}  # template text -> index in templates (-1: no)
        self.templates: list[Template] = []
        counters = len(schemas.COUNTERS)
        self.snaps = _Growing(
            file=(np.dtype(np.int32), ()), line=(np.dtype(np.int64), ()),
            counters=(np.dtype(np.int64), (counters,)), tpt=(np.dtype(np.float64), ()),
            time=(np.dtype(np.int64), ()), nerr=(np.dtype(np.int32), ()))
        self.errors = _Growing(code=(np.dtype(np.int32), ()), count=(np.dtype(np.int64), ()))

    @property
    def rows(self) -> int:
        return self.snaps.size

    def read_file(self, reader: LineReader) -> str | None:
        """Read one file (*reader*'s): fast rows here, the other ``Stats:`` lines through
        *reader*, the reference's per-line code.

        Returns None when the file is read, else why it was declined; what was read of
        it then is discarded (here and in *reader*), for the reference to read it all.
        """
        f, file_no = reader.f, reader.file_no
        fh = open_log(f, reader.src, reader.issues)
        if fh is None:
            return None
        marks = self.mark(), reader.checkpoint()
        lineno = 1
        try:
            with fh:
                for data, lo, hi in _segments(fh, self.max_line):
                    if data is None:  # an overlong line: (None, size, marked)
                        if hi:  # it holds "Stats: {": the reference's torn_line
                            reader.line(lineno, None, lo)
                        lineno += 1
                    else:
                        lineno += self._lines(data, lo, hi, lineno, file_no, reader)
        except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
            # the reference decides what a read failing part-way leaves (the lines it
            # read before, line by line; these were read a block at a time)
            self.rollback(marks[0])
            reader.rollback(marks[1])
            return f"the read failed part-way ({exc})"
        reader.finish()
        return None

    def _template_of(self, raw: bytes, text: bytes) -> int:
        """The template of a line (*text*: the line with its digits zeroed)."""
        tid = self.memo.get(text)
        if tid is None:
            try:
                self.templates.append(make_template(raw, self.error_code))
                tid = len(self.templates) - 1
            except _Declined:
                tid = -1
            self.memo[text] = tid
        return tid

    def _match(
        self, data: bytes | bytearray, starts: np.ndarray, ends: np.ndarray
    ) -> list[tuple[int, np.ndarray, np.ndarray | None]]:
        """The lines' templates: ``(template, lines, digits)`` per template found, where
        *lines* index *starts* and *digits* is the template's digit bytes of those lines
        (one row per digit), or None (to be read from *data*). Lines of no template are
        in no group.

        Lines of one length are compared as a matrix with the first of them: a line
        is of its template when it has the same bytes except where the template has
        digits (that these are digits too is checked when they are read). A few
        rounds find the templates of a block; lines left are looked up one by one.
        """
        if len(self.memo) > MEMO_MAX:
            self.memo.clear()
            self.templates.clear()
        a = np.frombuffer(data, dtype=np.uint8)
        groups: list[tuple[int, np.ndarray, np.ndarray | None]] = []
        lengths = ends - starts
        by_length = np.argsort(lengths, kind="stable")
        for sel in np.split(by_length, np.flatnonzero(np.diff(lengths[by_length])) + 1):
            length = int(lengths[sel[0]])
            if length < 8:
                continue  # not a Stats line of the worker's (the reference says so)
            # compared 8 bytes at a time: windows a multiple of 8 wide (a line near the
            # end of the buffer has no such window: looked up alone)
            width = -(-length // 8) * 8
            room = starts[sel] + width <= a.size
            todo = np.flatnonzero(room)
            left = np.arange(todo.size)
            if todo.size:
                m = sliding_window_view(a, width)[starts[sel[todo]]]
                words = m.view(np.uint64)
            for _ in range(MATCH_ROUNDS if todo.size else 0):
                if not left.size:
                    break
                rep = m[left[0]]
                raw = rep[:length].tobytes()
                text = raw.translate(_DIGITS_TO_ZERO)
                tid = self._template_of(raw, text)
                keep = np.zeros(width, dtype=np.uint8)
                keep[:length] = np.where(np.frombuffer(text, dtype=np.uint8) == 0x30, 0, 0xFF)
                mask = keep.view(np.uint64)
                rest = words if left.size == todo.size else words[left]
                hit = (((rest ^ rep.view(np.uint64)) & mask) == 0).all(axis=1)
                rows = left[hit]
                if tid >= 0:
                    t = self.templates[tid]
                    # one row per digit, one column per line (contiguous rows: each
                    # number is then a few vector operations)
                    digits = np.take(m if rows.size == m.shape[0] else m[rows], t.digits, axis=1)
                    groups.append((tid, sel[todo[rows]], np.ascontiguousarray(digits.T)))
                left = left[~hit]
            rest_rows = np.concatenate((sel[todo[left]], sel[~room]))
            if rest_rows.size:
                ids = self._template_ids(data, starts[rest_rows].tolist(),
                                         ends[rest_rows].tolist())
                for tid in np.unique(ids[ids >= 0]).tolist():
                    groups.append((tid, rest_rows[ids == tid], None))
        return groups

    def _template_ids(
        self, data: bytes | bytearray, starts: list[int], ends: list[int]
    ) -> np.ndarray:
        """Index in :attr:`templates` of each line, looked up one by one."""
        texts = list(map(bytes.translate, map(bytes, map(data.__getitem__, map(
            slice, starts, ends))), repeat(_DIGITS_TO_ZERO)))
        ids = list(map(self.memo.get, texts))
        if None in ids:
            for i, tid in enumerate(ids):
                if tid is None:
                    ids[i] = self._template_of(bytes(data[starts[i]:ends[i]]), texts[i])
        return np.asarray(ids, dtype=np.int64)

    def _lines(
        self,
        data: bytes | bytearray,
        lo: int,
        hi: int,
        base: int,
        file_no: int,
        reader: LineReader,
    ) -> int:
        """Read the ``Stats:`` lines of ``data[lo:hi]`` (first line number *base*);
        returns the number of lines there."""
        a = np.frombuffer(data, dtype=np.uint8)[lo:hi]
        nl = np.flatnonzero(a == 0x0A)
        nlines = int(nl.size + (a[-1] != 0x0A))
        brace = np.flatnonzero(a == 0x7B)
        brace = brace[brace >= 7]
        hit = a[brace - 7] == _MARK7[0]
        for k in range(1, 7):
            hit &= a[brace - 7 + k] == _MARK7[k]
        marks = brace[hit]
        li = np.searchsorted(nl, marks)
        li = li[np.r_[True, li[1:] != li[:-1]]] if li.size else li
        self._blobs(a, nl, li, base, reader)  # journalctl's "[... blob data]" lines
        if not li.size:
            return nlines
        has_nl = li < nl.size
        if nl.size:
            starts = np.where(li > 0, nl[np.maximum(li - 1, 0)] + 1, 0) + lo
            ends = np.where(has_nl, nl[np.minimum(li, nl.size - 1)], hi - lo) + lo
        else:
            starts, ends = np.full_like(li, lo), np.full_like(li, hi)
        linenos = base + li
        n = li.size
        fast = np.zeros(n, dtype=bool)
        short = np.flatnonzero((ends - starts) <= self.max_line)
        if short.size:
            groups = self._match(data, starts[short], ends[short])
            if groups:
                groups = [(tid, short[rows], digits) for tid, rows, digits in groups]
                self._read_fast(data, starts, groups, fast, linenos, file_no)
        for i in np.flatnonzero(~fast).tolist():  # the reference, in line order
            s, e = int(starts[i]), int(ends[i])
            if e - s > self.max_line:
                reader.line(int(linenos[i]), None, e - s + bool(has_nl[i]))
            else:
                reader.line(int(linenos[i]), bytes(data[s:e + bool(has_nl[i])]), 0)
        return int(nlines)

    def _blobs(
        self, a: np.ndarray, nl: np.ndarray, marked: np.ndarray, base: int, reader: LineReader
    ) -> None:
        """Count the lines of *a* that :func:`~syncstats.io.log.is_blob` takes (lines
        holding ``Stats: {``, *marked*, are not) into *reader*.

        Only the lines' last bytes are looked at (*nl* is known): no scan of the block.
        """
        ends = nl if a[-1] == 0x0A else np.append(nl, a.size)  # past each line's text
        last = ends - 1  # the line's last byte (or the previous newline: an empty line)
        tail = a[np.maximum(last, 0)]
        cr = np.flatnonzero(tail == 0x0D)
        if cr.size:  # CRLF: the reference strips the CRs
            last[cr] -= 1
            more = cr[a[np.maximum(last[cr], 0)] == 0x0D]
            for i in more.tolist():  # more than one CR: rare
                while last[i] > 0 and a[last[i]] == 0x0D:
                    last[i] -= 1
            tail = a[np.maximum(last, 0)]
        n = len(_BLOB)
        cand = np.flatnonzero((tail == _BLOB[-1]) & (last >= n - 1))
        if not cand.size:
            return
        q = last[cand] - (n - 1)  # where "blob data]" would start
        hit = np.ones(cand.size, dtype=bool)
        for k in range(n - 1):  # a window across a newline never matches
            hit &= a[q + k] == _BLOB[k]
        lines = cand[hit]
        starts = np.where(lines > 0, nl[np.maximum(lines - 1, 0)] + 1, 0) if nl.size else lines * 0
        lines = lines[ends[lines] - starts <= self.max_line]
        if marked.size:
            lines = lines[~np.isin(lines, marked)]
        if lines.size:
            reader.blobs(base + int(lines[0]), int(lines.size))

    def _read_fast(
        self,
        data: bytes | bytearray,
        starts: np.ndarray,
        groups: list[tuple[int, np.ndarray, np.ndarray | None]],
        fast: np.ndarray,
        linenos: np.ndarray,
        file_no: int,
    ) -> None:
        """Values of the lines of each ``(template, lines, digits)`` group into the
        columns; *fast* is set for the lines read here (the others are the reference's:
        no template, or values it must judge)."""
        a = np.frombuffer(data, dtype=np.uint8)
        n = fast.size
        head = np.zeros((_ERROR_FIELDS, n), dtype=np.int64)  # field-major
        secs = np.zeros(n, dtype=np.int64)  # zone-less times (NaT: int64's minimum)
        nerr = np.zeros(n, dtype=np.int64)
        errs: list[tuple[np.ndarray, Template, np.ndarray]] = []
        for tid, rows, digits in groups:
            t = self.templates[tid]
            if digits is None:
                digits = a[t.digits[:, None] + starts[rows]]
            clock = digits[:_STAMP_DIGITS.size]  # the time's digits (bytes)
            # one row per digit, one column per line: each number is a few vector ops
            digits = digits - np.uint8(48)
            ok = (digits <= 9).all(axis=0)  # the template's digits are digits here too
            if t.leading.size:
                ok &= (digits[t.leading] != 0).all(axis=0)
            fast[rows] = ok
            # the time as text, one column per line: the line's digits between fixed
            # separators (the template's are '-', ':' and ' ' or 'T', the same to both)
            text = np.empty((_STAMP.size, rows.size), dtype=np.uint8)
            text[_STAMP_SEPARATORS] = _STAMP[_STAMP_SEPARATORS, None]
            text[_STAMP_DIGITS] = clock
            if ok.all():
                secs[rows] = _local_times(text.T)
            else:
                secs[rows[ok]] = _local_times(text[:, ok].T)
            counts = np.empty((t.errors.size, rows.size), dtype=np.int64)
            for first, end, field, negative in t.fields:
                value = digits[first].astype(np.int64)
                for j in range(first + 1, end):
                    value *= 10
                    value += digits[j]
                if negative:
                    value = -value
                if field < _ERROR_FIELDS:
                    head[field, rows] = value
                else:
                    counts[field - _ERROR_FIELDS] = value
            if t.errors.size:
                nerr[rows] = t.errors.size
                errs.append((rows, t, counts))
        fast &= (secs >= _LOCAL_MIN_S) & (secs < _LOCAL_MAX_S)
        utc = secs
        if self.tz != "UTC" and fast.any():
            sel = np.flatnonzero(fast)
            stamps = pd.DatetimeIndex((secs[sel] * _US).astype("datetime64[us]"))
            aware = stamps.tz_localize(self.tz, ambiguous="NaT", nonexistent="NaT")
            good = ~np.asarray(aware.isna())
            utc = np.zeros_like(secs)
            utc[sel[good]] = aware[good].tz_convert("UTC").as_unit("us").asi8 // _US
            fast[sel[~good]] = False
        fast &= plausible(utc)  # outside the window: the reference reports the line
        keep = np.flatnonzero(fast)
        if not keep.size:
            return
        # error entries: a row's in its payload's key order, rows in line order
        k = nerr[keep]
        offsets = np.concatenate(([0], np.cumsum(k)))
        where = np.full(n, -1, dtype=np.int64)
        where[keep] = np.arange(keep.size)
        err_code = np.empty(int(offsets[-1]), dtype=np.int32)
        err_count = np.empty(int(offsets[-1]), dtype=np.int64)
        for rows, t, counts in errs:
            mine = where[rows] >= 0
            dest = offsets[where[rows[mine]]][:, None] + np.arange(t.errors.size)
            err_code[dest] = t.errors
            err_count[dest] = counts[:, mine].T
        self.snaps.append(
            file=np.full(keep.size, file_no, dtype=np.int32),
            line=linenos[keep],
            counters=head[:_AVG_FIELD, keep].T,
            # float(avg) * float(processed) / 1000, as the reference computes it
            tpt=(head[_AVG_FIELD, keep].astype(np.float64)
                 * head[0, keep].astype(np.float64) / 1000.0),
            time=utc[keep] * _US,
            nerr=k,
        )
        if err_code.size:
            self.errors.append(code=err_code, count=err_count)

    def mark(self) -> tuple[int, int]:
        return self.snaps.size, self.errors.size

    def rollback(self, mark: tuple[int, int]) -> None:
        self.snaps.size, self.errors.size = mark

    def frames(
        self,
        builder: RecordBuilder,
        keys: list[tuple[int, int]],
        files: list[Path],
        sources: list[str],
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The frames of the call: these rows and the reference's records in *builder*
        (*keys*: their ``(file, line)``, times resolved), merged in reading order, as
        the reference's ``RecordBuilder.frames`` would give them all.

        Parameters
        ----------
        builder : RecordBuilder
            The records the reference's per-line code added, times resolved.
        keys : list of (int, int)
            Their file (index in *files*) and line.
        files, sources : list
            The files read and the source of each.
        """
        if not self.rows:
            return builder.frames()
        return _assemble(self, builder, keys, files, sources)


# --------------------------------------------------------------------------------------
# The reader
# --------------------------------------------------------------------------------------


def _assemble(
    fast: FastLog,
    builder: RecordBuilder,
    keys: list[tuple[int, int]],
    files: list[Path],
    sources: list[str],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fast rows and the reference's records, merged in reading order, as the frames
    the reference returns (``RecordBuilder.frames``: conformed, sorted).

    Memory is what costs here (a million snapshots have six million error rows, whose
    ``origin`` strings alone are 300 MB): no column is built twice.
    """
    snaps, errs = fast.snaps, fast.errors
    file_, line, counters = snaps.get("file"), snaps.get("line"), snaps.get("counters")
    tpt, when, nerr = snaps.get("tpt"), snaps.get("time"), snaps.get("nerr")
    err_code, err_count = errs.get("code"), errs.get("count")
    names = [""] * len(fast.error_code)
    for name, code in fast.error_code.items():
        names[code] = name
    if keys:
        file_, line, counters, tpt, when, nerr, err_code, err_count = _merge(
            builder, keys, fast.error_code, names,
            file_, line, counters, tpt, when, nerr, err_code, err_count)
    n = file_.size
    # the source of a row is its file's; categories as conform makes them: the names
    # present, in lexical order
    src_of_file = [clean_text(s) for s in sources]
    src_names = sorted(set(src_of_file))
    code_type = _code_type(len(src_names))
    file_src = np.array([src_names.index(s) for s in src_of_file], dtype=code_type)
    src_code = file_src[file_] if len(src_names) > 1 else np.zeros(n, dtype=code_type)
    # schemas.conform's stable sort by (source, snapshot_at), NaT last: nothing to do
    # for a log read in time order; else a stable lexsort (the same permutation)
    nat = np.iinfo(np.int64).min
    t = np.where(when == nat, np.iinfo(np.int64).max, when) if (when == nat).any() else when
    if n > 1 and not np.all((src_code[1:] > src_code[:-1])
                            | ((src_code[1:] == src_code[:-1]) & (t[1:] >= t[:-1]))):
        order = np.lexsort((t, src_code))
        nerr = nerr.astype(np.int64)
        first = np.concatenate(([0], np.cumsum(nerr)[:-1]))
        # each row's error entries, rows in the new order (entries keep theirs)
        moved = nerr[order]
        take = np.repeat(first[order] - np.concatenate(([0], np.cumsum(moved)[:-1])),
                         moved) + np.arange(err_code.size)
        file_, line, src_code, nerr = file_[order], line[order], src_code[order], moved
        counters, tpt, when = counters[order], tpt[order], when[order]
        err_code, err_count = err_code[take], err_count[take]
        del take
    del t
    origin, error_origin = _origins(files, file_, line, nerr)
    del line, file_
    # The frames take the columns without copies where pandas allows it (the counters
    # as one 2-D block, the strings): a page of memory first touched costs more than
    # the work done on it.
    snapshot_at = pd.DatetimeIndex(when.view("datetime64[us]")).tz_localize("UTC")
    del when
    frame = pd.DataFrame(counters, columns=list(schemas.COUNTERS), copy=False)
    frame.insert(0, "source", _categorical(src_code, src_names))
    frame.insert(1, "snapshot_at", snapshot_at)
    frame.insert(2, "session_start", pd.DatetimeIndex(
        np.full(n, np.datetime64("NaT", "us"))).tz_localize("UTC"))
    frame["total_processing_time"] = tpt
    frame["time_from"] = _categorical(np.zeros(n, dtype=np.int8), ["log"])
    frame["origin"] = _strings(origin)
    schemas.validate(frame, schemas.SNAPSHOTS)
    if not err_code.size:
        return frame, schemas.empty(schemas.ERRORS)
    error_type = _categorical(err_code, names)
    del err_code
    errors = pd.DataFrame({
        "source": _categorical(np.repeat(src_code, nerr), src_names),
        "snapshot_at": snapshot_at.repeat(nerr),
        "error_type": error_type,
        "count": err_count,
        "origin": _strings(error_origin),
    }, copy=False)
    schemas.validate(errors, schemas.ERRORS)
    return frame, errors


#: Snapshot rows per piece of the ``origin`` columns (see :func:`_origins`).
_ORIGIN_ROWS = 1 << 17


def _origins(
    files: list[Path], file_: np.ndarray, line: np.ndarray, nerr: np.ndarray
) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """``"path:line"`` of each snapshot row, and of each error row (its snapshot's).

    Built by Arrow's string kernels as large strings (which pandas' ``str`` dtype
    holds without a copy), a piece of rows at a time: Arrow grows a result buffer as
    it fills it, so one call for six million strings touches 1.7 times the memory it
    returns, and memory is what costs here.
    """
    large = pa.large_string()
    empty = pa.scalar("", large)
    # the system allocator: on the machines measured, pages Arrow's default allocator
    # (mimalloc) hands out for these buffers cost twice the kernel time
    pool = pa.system_memory_pool()
    prefixes = pa.array([clean_path(f) + ":" for f in files], large)
    snaps, errs = [], []
    for lo in range(0, max(line.size, 1), _ORIGIN_ROWS):
        hi = min(lo + _ORIGIN_ROWS, line.size)
        numbers = pc.cast(pa.array(line[lo:hi]), large, memory_pool=pool)
        if len(files) == 1:
            prefix: Any = pa.scalar(prefixes[0].as_py(), large)
        else:
            prefix = pc.take(prefixes, pa.array(file_[lo:hi]), memory_pool=pool)
        piece = pc.binary_join_element_wise(prefix, numbers, empty, memory_pool=pool)
        snaps.append(piece)
        rows = np.repeat(np.arange(hi - lo, dtype=np.int32), nerr[lo:hi])
        errs.append(pc.take(piece, pa.array(rows), memory_pool=pool))
    return pa.chunked_array(snaps, type=large), pa.chunked_array(errs, type=large)


def _merge(
    builder: RecordBuilder,
    keys: list[tuple[int, int]],
    code_of: dict[str, int],
    names: list[str],
    f_file: np.ndarray,
    f_line: np.ndarray,
    counters: np.ndarray,
    tpt: np.ndarray,
    when: np.ndarray,
    nerr: np.ndarray,
    err_code: np.ndarray,
    err_count: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """The fast rows and the reference's records (*keys*: their ``(file, line)``) in
    reading order, with their error entries."""
    c = builder.cols
    ns = len(keys)
    s_file = np.array([k[0] for k in keys], dtype=np.int64)
    s_line = np.array([k[1] for k in keys], dtype=np.int64)
    s_counters = np.array([c[k] for k in schemas.COUNTERS], dtype=np.int64).reshape(-1, ns).T
    s_when = pd.DatetimeIndex(c["snapshot_at"])
    s_when = s_when.tz_localize("UTC") if s_when.tz is None else s_when.tz_convert("UTC")
    s_err = builder.err_rows
    for _, etype, _ in s_err:
        if etype not in code_of:
            code_of[etype] = len(names)
            names.append(etype)
    s_nerr = np.bincount(np.array([e[0] for e in s_err], dtype=np.int64), minlength=ns)
    order = np.argsort(np.concatenate((f_file, s_file)) * (1 << 40)
                       + np.concatenate((f_line, s_line)), kind="stable")
    all_nerr = np.concatenate((nerr, s_nerr)).astype(np.int64)
    first = np.concatenate(([0], np.cumsum(all_nerr)[:-1]))
    moved = all_nerr[order]
    # a record's entries are contiguous (the reference adds them record by record)
    take = np.repeat(first[order] - np.concatenate(([0], np.cumsum(moved)[:-1])),
                     moved) + np.arange(int(all_nerr.sum()))
    e_code = np.concatenate((err_code, np.array([code_of[e[1]] for e in s_err], dtype=np.int32)))
    e_count = np.concatenate((err_count, np.array([e[2] for e in s_err], dtype=np.int64)))
    return (
        np.concatenate((f_file, s_file))[order],
        np.concatenate((f_line, s_line))[order],
        np.concatenate((counters, s_counters))[order],
        np.concatenate((tpt, np.asarray(c["total_processing_time"], dtype=np.float64)))[order],
        np.concatenate((when, s_when.as_unit(schemas.TIME_UNIT).asi8))[order],
        moved, e_code[take], e_count[take],
    )


def _categorical(codes: np.ndarray, names: list[str]) -> pd.Categorical:
    """A categorical as ``schemas.conform`` leaves it: the categories present, sorted
    (found with a bincount: conform's ``remove_unused_categories`` sorts the codes)."""
    used = np.flatnonzero(np.bincount(codes, minlength=len(names)))
    present = [names[i] for i in used]
    rank = np.argsort(np.argsort(np.array(present, dtype=object)))
    remap = np.full(len(names), -1, dtype=_code_type(len(present)))
    remap[used] = rank
    return pd.Categorical.from_codes(
        remap[codes], pd.Index(sorted(present), dtype="str"), validate=False)


def _code_type(categories: int) -> type[np.signedinteger[Any]]:
    """The codes' dtype pandas keeps for so many categories (no conversion later)."""
    return np.int8 if categories < 127 else np.int16 if categories < 32_000 else np.int32


def _strings(values: pa.Array | pa.ChunkedArray) -> Any:
    """Arrow large strings as the frames' ``str`` column (no copy)."""
    return pd.array(values, dtype="str")
