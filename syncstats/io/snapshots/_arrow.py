"""Fast paths of ``read_snapshots``: JSON Lines histories and snapshot copies.

Histories. A history is read in chunks of whole lines (:data:`CHUNK_BYTES`, never the
whole file at once). Each *clean* chunk is parsed by one pyarrow call (the scalar
fields, with an explicit schema) and by numpy (``errors_by_type``, read from the bytes,
so that the error rows come out in the JSON object's key order, as the per-line reader
lists them); no Python object is built per line, and a few threads parse consecutive
chunks at once (pyarrow and numpy release the GIL). The rows of a chunk come grouped by
source with their ``origin`` strings already built, so that the final frames are, for
the usual history, a concatenation (see :func:`~syncstats.io._records.assemble_blocks`).

Anything this path cannot reproduce *exactly* as the per-line reader would (a torn or
blank line, a BOM or CR, a backslash escape, an explicit null, a missing counter, a value
of another type, a time outside the forms parsed here, an error count that is not a
plain integer, a duplicate key, ...) makes it decline the chunk, and the caller reads
that chunk line by line: the per-line reader is the reference, and the tests compare
both. A file with one torn line costs one slow chunk, not a slow file.

Why byte checks come first: pyarrow's JSON reader skips blank lines and reads two
objects on one line as two rows (row *i* would no longer be line *i + 1*); it reads
``Inf``, ``-Inf`` and ``-NaN`` and any depth of nesting, which Python's ``json`` (the
reference) does not; and its type *inference* recurses (a line of 100,000 ``[`` crashes
the process), so the schema is explicit and every other field is ignored (checked for
syntax, not typed). Every line must start with ``{`` and end with ``}``, and the row
count must be the line count.

Copies. :func:`copy_times` reads the capture times of many copies' file names at once
(the rest of the copies' fast path is in :mod:`syncstats.io.snapshots`).
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from ... import schemas
from ..._text import clean_text
from ..._time import iso_micros, name_time_texts, parse_time_value, plausible, utc_index
from .._records import ColumnBlock, gather_order, origin_strings

__all__ = [
    "CHUNK_BYTES", "chunks_of", "copy_times", "iter_history", "parse_chunk", "read_chunks",
]

Chunk = bytes | bytearray

#: Bytes per chunk: the unit that falls back to the per-line reader, and the unit of
#: work of a thread (a chunk's Arrow table and numpy arrays are a few times its size).
CHUNK_BYTES = 8 << 20


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


#: Threads parsing chunks (each runs pyarrow single-threaded on its chunk): a few, over
#: large chunks (one thread per small task costs more than it gains).
WORKERS = max(1, min(4, _cpus()))

_C = list(schemas.COUNTERS)
_SCALARS = [(c, pa.int64()) for c in _C] + [
    ("total_processing_time", pa.float64()),
    ("session_start", pa.float64()),
    ("source", pa.string()),
    # declared as an (empty) object: Arrow then rejects a value of another type and a
    # duplicate key, and reports null/absent as invalid, without typing the entries
    ("errors_by_type", pa.struct([])),
]
_PARSE = {
    kind: pj.ParseOptions(
        explicit_schema=pa.schema([*_SCALARS, ("snapshot_at", t)]),
        unexpected_field_behavior="ignore",
    )
    for kind, t in (("string", pa.string()), ("number", pa.float64()))
}
#: one block per chunk, one thread per chunk (the chunks run in parallel instead)
_READ = pj.ReadOptions(block_size=CHUNK_BYTES + (1 << 20), use_threads=False)

_NAT = np.iinfo(np.int64).min
#: "{" and "[" per line from which a line may nest deeper than Python's json reads
_MAX_OPEN = 500
_INF = re.compile(rb"Inf(?![A-Za-z0-9_])")  # not Infinity, not Info
_MINUS_NAN = re.compile(rb"-NaN(?![A-Za-z0-9_])")
_EMPTY_ERRORS = (np.zeros(0, np.int64), np.zeros(0, np.int32), [], np.zeros(0, np.int64))


# --------------------------------------------------------------------------------------
# Times
# --------------------------------------------------------------------------------------


def _parse_iso(col: pa.Array) -> np.ndarray | None:
    """``snapshot_at`` strings to epoch microseconds (UTC), exactly as
    :func:`~syncstats._time.parse_time_value` reads them; None if one is not a time."""
    out, done = iso_micros(col)  # Arrow's parser, for the forms it reads as pandas does
    rest = np.flatnonzero(~done)
    if len(rest):  # other forms (or borderline values): the reference function, per value
        texts = col.take(pa.array(rest)).to_pylist()
        stamps = [parse_time_value(t) for t in texts]
        if any(s is None for s in stamps):
            return None
        out[rest] = utc_index(stamps).asi8
    return out


def _epoch_us(col: pa.Array) -> np.ndarray | None:
    """Epoch-seconds ``snapshot_at`` values to microseconds, as the reference rounds them."""
    secs = col.to_numpy(zero_copy_only=False)
    if not plausible(secs).all():  # also NaN: the reference reports them
        return None
    return np.round(secs * 1e6).astype(np.int64)


# --------------------------------------------------------------------------------------
# errors_by_type, from the bytes
# --------------------------------------------------------------------------------------


def _errors(
    a: np.ndarray,
    base: pa.Buffer,
    starts: np.ndarray,
    ends: np.ndarray,
    has_obj: np.ndarray,
    op: np.ndarray,
    cl: np.ndarray,
    q: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray] | None:
    """Entries of every line's ``errors_by_type`` object, in line and key order.

    Returns ``(row, code, names, count)`` or None when an object is not a flat object of
    plain integers laid out as ``json.dumps`` or a compact writer lays it out (the
    per-line reader then handles the chunk). The line's JSON is valid (Arrow parsed
    it) and holds no backslash, which the reasoning below relies on.
    """
    lines = np.flatnonzero(has_obj)
    if not len(lines):
        return _EMPTY_ERRORS
    first_op = np.searchsorted(op, starts[lines])
    first_cl = np.searchsorted(cl, starts[lines])
    # the line's object and its errors_by_type object, nothing else: then no brace is
    # inside a string, the second "{" opens errors_by_type and the first "}" closes it
    if (
        (np.searchsorted(op, ends[lines]) - first_op != 2).any()
        or (np.searchsorted(cl, ends[lines]) - first_cl != 2).any()
    ):
        return None
    o2 = op[first_op + 1]
    c1 = cl[first_cl]
    if not (o2 < c1).all():
        return None
    qs = np.searchsorted(q, o2)
    nq = np.searchsorted(q, c1) - qs
    # every quote delimits a string (no backslash), so the quotes pair up as keys unless
    # a value is a string: its key's value region then has no ':' right after it
    if (nq & 1).any():
        return None
    m = nq // 2
    total = int(m.sum())
    if total == 0:
        return _EMPTY_ERRORS
    entry_line = np.repeat(np.arange(len(lines)), m)
    first_entry = np.cumsum(m) - m
    qi = qs[entry_line] + 2 * (np.arange(total) - first_entry[entry_line])
    name_start = q[qi] + 1
    name_end = q[qi + 1]
    last = np.zeros(total, dtype=bool)
    last[first_entry[m > 0] + m[m > 0] - 1] = True
    # the value: between the key's closing quote and the next key's opening quote (or
    # the closing brace), laid out as json.dumps (': 12, ') or compact (':12,') writes it
    nxt = np.empty(total, dtype=np.int64)
    nxt[:-1] = name_start[1:] - 1
    nxt[last] = c1[entry_line[last]]
    colon = name_end + 1
    if not (a[colon] == 0x3A).all():
        return None
    lo = colon + 1 + (a[colon + 1] == 0x20)
    before = a[nxt - 1]
    comma_space = (before == 0x20) & (a[nxt - 2] == 0x2C)
    hi = np.where(last, nxt, np.where(comma_space, nxt - 2, nxt - 1))
    if not ((last | comma_space | (before == 0x2C)).all() and (hi > lo).all()):
        return None
    # Valid JSON and no quote inside: a value that Arrow casts to int64 is an integer
    # literal (true, null, 1.5, 1e3, [1] do not cast). The values and the names are
    # the even strings of an Arrow string array over the chunk's bytes.
    offsets = np.empty(2 * total, dtype=np.int32)
    offsets[0::2] = lo
    offsets[1::2] = hi
    even = pa.array(np.arange(0, 2 * total - 1, 2))
    values = pa.StringArray.from_buffers(2 * total - 1, pa.py_buffer(offsets), base).take(even)
    try:
        count = pc.cast(values, pa.int64()).to_numpy()
    except pa.ArrowInvalid:
        return None
    if (count == _NAT).any():  # abs() beyond int64: the reference drops the entry
        return None
    offsets[0::2] = name_start
    offsets[1::2] = name_end
    names = pa.StringArray.from_buffers(2 * total - 1, pa.py_buffer(offsets), base).take(even)
    encoded = pc.dictionary_encode(names)
    codes = encoded.indices.to_numpy().astype(np.int32)
    dictionary = encoded.dictionary.to_pylist()
    if _has_duplicate_keys(codes, first_entry[m > 0], m[m > 0], len(dictionary), entry_line):
        return None  # orjson keeps the last value at the first key's place: reference
    return lines[entry_line].astype(np.int64), codes, dictionary, count


def _has_duplicate_keys(
    codes: np.ndarray, first: np.ndarray, m: np.ndarray, ncodes: int, entry_line: np.ndarray
) -> bool:
    """Whether a line's errors_by_type repeats a key."""
    if ncodes <= 64:
        bits = np.left_shift(np.uint64(1), codes.astype(np.uint64))
        seen = np.bitwise_or.reduceat(bits, first)
        return bool((np.bitwise_count(seen) != m).any())
    key = entry_line.astype(np.int64) * ncodes + codes
    return len(np.unique(key)) != len(key)


# --------------------------------------------------------------------------------------
# One chunk
# --------------------------------------------------------------------------------------


def _time_kind(chunk: Chunk) -> str | None:
    """Whether the chunk's first ``snapshot_at`` is a string or a number (the Arrow
    schema declares one; a chunk mixing both declines)."""
    at = chunk.find(b'"snapshot_at"')
    if at < 0:
        return None
    at += len(b'"snapshot_at"')
    while at < len(chunk) and chunk[at] in b" \t:":
        at += 1
    if at >= len(chunk):
        return None
    return "string" if chunk[at] == 0x22 else "number"


def parse_chunk(
    chunk: Chunk, *, source: str | None, fallback: str, path: str, first_line: int = 1
) -> tuple[ColumnBlock | None, int]:
    """The lines of one chunk of a history as a block, or None.

    Parameters
    ----------
    chunk : bytes or bytearray
        Whole lines of a history (each ending with a newline to be parsed here).
    source : str, optional
        Source name for every row (``read_snapshots(source=...)``).
    fallback : str
        Source of a line without a (non-empty string) ``"source"`` field.
    path : str
        The file, as :func:`~syncstats.io._files.clean_path` spells it (``origin``).
    first_line : int
        The file's line number of the chunk's first line.

    Returns
    -------
    (ColumnBlock or None, int)
        The rows (grouped by source, see the module's docstring) and the chunk's number
        of lines; ``(None, 0)`` when the per-line reader must read the chunk.
    """
    size = len(chunk)
    if not size or chunk[-1] != 0x0A:  # a last line without newline may be torn
        return None, 0
    a = np.frombuffer(chunk, dtype=np.uint8)
    ends = np.flatnonzero(a == 0x0A)
    n = len(ends)
    starts = np.empty(n, dtype=np.int64)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    if (
        not (a[starts] == 0x7B).all()  # "{" first: no blank line, BOM or indent
        or not (a[ends - 1] == 0x7D).all()  # "}" last: no CR, no trailing blank
        or chunk.find(b"\\") >= 0  # escapes: decoded by the reference only
    ):
        return None, 0
    if not chunk.isascii():
        try:  # Arrow does not validate UTF-8 and Python would fail to decode the text
            str(chunk, "utf-8")
        except UnicodeDecodeError:
            return None, 0
    kind = _time_kind(chunk)
    if kind is None:
        return None, 0
    # What Arrow's parser reads but Python's json (the reference) does not: nesting
    # deeper than its recursion limit (a line with fewer than 500 "{" and "[" is not),
    # and the literals Inf, -Inf and -NaN (NaN, Infinity and -Infinity it reads).
    op = np.flatnonzero(a == 0x7B)  # {
    opens = np.diff(np.searchsorted(op, ends), prepend=0)
    if chunk.find(b"[") >= 0:
        opens += np.diff(np.searchsorted(np.flatnonzero(a == 0x5B), ends), prepend=0)
    if (opens >= _MAX_OPEN).any():
        return None, 0
    if chunk.find(b"I") >= 0 and _INF.search(chunk):
        return None, 0
    if (a[np.flatnonzero(a == 0x2D) + 1] == 0x4E).any() and _MINUS_NAN.search(chunk):
        return None, 0
    # the bytes _errors needs, found while the chunk is in the cache (before Arrow)
    cl = np.flatnonzero(a == 0x7D)  # }
    q = np.flatnonzero(a == 0x22)  # "
    base = pa.py_buffer(chunk)
    try:
        table = pj.read_json(pa.BufferReader(base), read_options=_READ,
                             parse_options=_PARSE[kind])
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OverflowError):
        return None, 0
    if table.num_rows != n:  # two objects on a line
        return None, 0
    col = {name: table.column(name).combine_chunks() for name in table.column_names}

    counters = {}
    for c in _C:
        if col[c].null_count:  # explicit null (a caveat) or missing key (taken as 0)
            return None, 0
        counters[c] = col[c].to_numpy()
        if (counters[c] == _NAT).any():  # -2**63: beyond -(2**63 - 1), an overflow caveat
            return None, 0
    tpt = col["total_processing_time"]
    if tpt.null_count:
        return None, 0
    tpt_values = tpt.to_numpy()
    if not np.isfinite(tpt_values).all():  # NaN/Infinity/huge integers: the reference
        return None, 0
    start_col = col["session_start"]
    session_start = start_col.to_numpy(zero_copy_only=False).astype(np.float64)
    if start_col.null_count:
        present = session_start[start_col.is_valid().to_numpy(zero_copy_only=False)]
    else:
        present = session_start
    # NaN (a literal) or outside the window: the reference reports it; null/absent is NaT
    if not plausible(present).all():
        return None, 0

    when = col["snapshot_at"]
    if when.null_count:
        return None, 0
    snap = _parse_iso(when) if kind == "string" else _epoch_us(when)
    if snap is None:
        return None, 0

    if source is not None:
        src_codes = np.zeros(n, dtype=np.int32)
        src_names = [clean_text(source)]
    else:
        src = col["source"]
        if src.null_count or pc.any(pc.equal(src, "")).as_py():
            src = pc.if_else(pc.or_kleene(pc.is_null(src), pc.equal(src, "")), fallback, src)
        enc = pc.dictionary_encode(src)
        src_codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int32)
        src_names = [clean_text(s) for s in enc.dictionary.to_pylist()]

    has_obj = col["errors_by_type"].is_valid().to_numpy(zero_copy_only=False)
    errors = _errors(a, base, starts, ends, has_obj, op, cl, q)
    if errors is None:
        return None, 0
    err_rows, err_codes, err_names, err_counts = errors
    lines = np.arange(first_line, first_line + n, dtype=np.int64)
    # Rows grouped by source (in the sources' lexical order), each source's rows in file
    # order: the final frames are sorted by source, then time, stably, so this changes
    # nothing there, and a history whose times increase per source is then assembled by
    # concatenating these groups (see RecordBuilder).
    order = sorted(range(len(src_names)), key=src_names.__getitem__)
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    src_codes = rank[src_codes]
    src_names = [src_names[i] for i in order]
    if len(order) > 1 and (src_codes[1:] < src_codes[:-1]).any():
        group = np.argsort(src_codes, kind="stable")
        per_row = np.bincount(err_rows, minlength=n)
        lens = per_row[group]
        if len(err_rows):
            take = gather_order(per_row, group, lens, len(err_rows), np.int64)
            err_codes, err_counts = err_codes[take], err_counts[take]
        err_rows = np.repeat(np.arange(n, dtype=np.int64), lens)
        src_codes, snap, session_start = src_codes[group], snap[group], session_start[group]
        counters = {k: v[group] for k, v in counters.items()}
        tpt_values, lines = tpt_values[group], lines[group]
    origin = origin_strings(lines, path)
    block = ColumnBlock(
        source_codes=src_codes,
        source_names=src_names,
        snapshot_at=snap,
        session_start=session_start,
        counters=counters,
        total_processing_time=tpt_values.astype(np.float64),
        time_from="field",
        path=path,
        lines=lines,
        err_rows=err_rows,
        err_codes=err_codes,
        err_names=[clean_text(e) for e in err_names],
        err_counts=err_counts,
        origin=origin,
        err_origin=origin.take(pa.array(err_rows.astype(np.int32))),
    )
    return block, n


# --------------------------------------------------------------------------------------
# A whole history
# --------------------------------------------------------------------------------------


def chunks_of(data: bytes, size: int = CHUNK_BYTES) -> Iterator[bytes]:
    """*data* (a whole history in memory) in consecutive pieces of whole lines.

    Parameters
    ----------
    data : bytes
        The file's bytes.
    size : int
        Bytes per piece, at least (a piece ends at the next newline; the last may lack
        its newline).

    Yields
    ------
    bytes
        The pieces, in order.
    """
    start, total = 0, len(data)
    while start < total:
        cut = data.find(b"\n", min(start + size, total) - 1)
        end = total if cut < 0 else cut + 1
        yield data[start:end]
        start = end


def read_chunks(fh: IO[bytes], size: int = CHUNK_BYTES) -> Iterator[bytearray]:
    """A file in consecutive pieces of whole lines, read as they are needed.

    Parameters
    ----------
    fh : binary file
        Open for reading, at its start.
    size : int
        Bytes per piece, at most (unless one line is longer).

    Yields
    ------
    bytearray
        The pieces, in order; the whole file is never in memory. ``OSError`` from the
        reads propagates.
    """
    try:
        left = os.fstat(fh.fileno()).st_size - fh.tell()
    except (OSError, AttributeError, ValueError):
        left = size
    rest = b""
    while True:
        # a buffer as large as what is left (a small file: a small buffer), at most
        # *size*; at the expected end, whatever a plain read finds (the file may grow)
        want = min(size, left) if left > 0 else 0
        if want:
            buf = bytearray(len(rest) + want)
            buf[: len(rest)] = rest
            got = fh.readinto(memoryview(buf)[len(rest):]) or 0
            del buf[len(rest) + got:]
        else:
            piece = fh.read(size)
            got = len(piece)
            buf = bytearray(rest) + piece
        left -= got
        if not got:
            if rest:
                yield bytearray(rest)
            return
        cut = buf.rfind(b"\n") + 1
        if not cut:  # one line longer than a chunk: read on
            rest = bytes(buf)
            continue
        rest = bytes(buf[cut:])
        del buf[cut:]
        yield buf


def iter_history(
    chunks: Iterable[Chunk],
    path: str,
    *,
    source: str | None,
    fallback: str,
    workers: int | None = None,
) -> Iterator[tuple[Chunk, int, ColumnBlock | None]]:
    """Parse consecutive chunks of a history, a few at a time (:data:`WORKERS`
    threads, each on one chunk).

    Parameters
    ----------
    chunks : iterable of bytes or bytearray
        The history in consecutive pieces of whole lines (:func:`chunks_of`,
        :func:`read_chunks`).
    path : str
        The file as :func:`~syncstats.io._files.clean_path` spells it.
    source, fallback : str
        As for :func:`parse_chunk`.
    workers : int, optional
        Threads (0: parse nothing, every chunk is for the per-line reader).

    Yields
    ------
    (chunk, int, ColumnBlock or None)
        In file order: each chunk, the file's line number of its first line and its
        block, or None when the per-line reader must read it (from that line, with a
        BOM stripped only when it is line 1).
    """
    workers = WORKERS if workers is None else workers
    try:  # a directory name that is not UTF-8: Arrow cannot take it (the reference can)
        (source or "").encode("utf-8")
        fallback.encode("utf-8")
    except UnicodeEncodeError:
        workers = 0

    def lines_in(chunk: Chunk) -> int:
        count = int(np.count_nonzero(np.frombuffer(chunk, dtype=np.uint8) == 0x0A))
        return count + (1 if chunk and chunk[-1] != 0x0A else 0)

    line = 1
    if workers <= 1:
        for chunk in chunks:
            block = parse_chunk(chunk, source=source, fallback=fallback, path=path,
                                first_line=line)[0] if workers else None
            yield chunk, line, block
            line += lines_in(chunk)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="syncstats-jsonl") as pool:
        pending: deque[tuple[Chunk, int, Future[tuple[ColumnBlock | None, int]]]] = deque()
        for chunk in chunks:
            pending.append((chunk, line, pool.submit(
                parse_chunk, chunk, source=source, fallback=fallback, path=path,
                first_line=line)))
            line += lines_in(chunk)
            while len(pending) > workers:
                done, first, future = pending.popleft()
                yield done, first, future.result()[0]
        while pending:
            done, first, future = pending.popleft()
            yield done, first, future.result()[0]


# --------------------------------------------------------------------------------------
# Snapshot copies: many small files
# --------------------------------------------------------------------------------------


def copy_times(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Capture times in file names, as :func:`~syncstats._time.time_from_name`
    reads them.

    Parameters
    ----------
    names : list of str
        File names.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Epoch microseconds (UTC) and whether each name was parsed here; a name that was
        not (no time, or a form or value :func:`~syncstats._time.iso_micros` leaves
        alone) is for the reference function.

    Examples
    --------
    >>> us, ok = copy_times(["stats-20261001T130000Z.json", "x.json"])
    >>> ok.tolist(), us[0] == 1790859600 * 10**6
    ([True, False], np.True_)
    """
    # one spelling of a name's time (syncstats._time.name_time_texts, which
    # time_from_name tries), parsed by Arrow; the rest is the reference function's
    texts = [next(iter(name_time_texts(name)), None) for name in names]
    return iso_micros(texts)
