"""Snapshot records, once: the row builder (the one-row form of the snapshot rules), the
column blocks the fast engines fill (the column form), and their assembly into frames."""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .. import schemas
from .._text import clean_path, clean_text, number_text
from .._time import WINDOW, epoch_to_utc, plausible, utc_index
from ..recording.stats import STATS_KEYS
from ._issues import Issues, empty_frame


def loads(raw: bytes | str) -> Any:
    """orjson, falling back to the stdlib for what orjson refuses but the worker's
    Python ``json`` writes (NaN/Infinity literals). orjson reads integers beyond 64 bits
    as floats: the loaders saturate such counters anyway (``overflow`` issue)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


_INT64_MAX = schemas.int64_max()
_NAT = np.iinfo(np.int64).min


@dataclass
class ColumnBlock:
    """Validated snapshot rows as columns, with their error counts (no Python object per
    row): what the fast readers hand to :meth:`RecordBuilder.add_block`.

    Attributes
    ----------
    source_codes, source_names : numpy.ndarray, list of str
        Each row's source as a code into *source_names* (already :func:`clean_text`-ed).
    snapshot_at : numpy.ndarray
        int64 epoch microseconds, UTC; NaT as the smallest int64.
    session_start : numpy.ndarray
        float64 epoch seconds; NaN when unknown.
    counters : dict of numpy.ndarray
        int64 per name of :data:`~syncstats.schemas.COUNTERS`.
    total_processing_time : numpy.ndarray
        float64 seconds.
    time_from : str or (numpy.ndarray, list of str)
        One value for all rows, or codes into names.
    path : str
        The file (already :func:`clean_path`-ed).
    lines : numpy.ndarray or None
        int64 line numbers (``origin`` is ``"path:line"``); None with *origins*.
    origins : list of str, optional
        Each row's ``origin`` when *lines* is None.
    err_rows, err_codes, err_names, err_counts
        Error entries in the reference's order (by row, then as read): row index in this
        block (non-decreasing), code into *err_names* (cleaned), count (int64).
    """

    source_codes: np.ndarray
    source_names: list[str]
    snapshot_at: np.ndarray
    session_start: np.ndarray
    counters: dict[str, np.ndarray]
    total_processing_time: np.ndarray
    time_from: str | tuple[np.ndarray, list[str]]
    path: str
    lines: np.ndarray | None
    err_rows: np.ndarray
    err_codes: np.ndarray
    err_names: list[str]
    err_counts: np.ndarray
    origins: list[str] | None = None
    #: each row's and each error entry's ``origin``, when the reader built them (Arrow
    #: large_string arrays); the assembly uses them when the rows need no sorting but
    #: by source (see :func:`assemble_blocks`)
    origin: pa.Array | None = None
    err_origin: pa.Array | None = None

    def __len__(self) -> int:
        return len(self.snapshot_at)


class RecordBuilder:
    """Accumulates normalised snapshot records (column lists) and their error counts.

    Each record is validated once here; values are kept as read (negative or inflated
    counters included) except where they cannot be represented, which is an issue.
    """

    def __init__(self, issues: Issues, *, columnwise: bool = True):
        """*columnwise*: :meth:`frames` assembles column-wise (:func:`assemble_blocks`);
        False: the reference assembly (one frame per part, ``pd.concat``,
        :func:`~syncstats.schemas.conform`), the ``"reference"`` engine's."""
        self.issues = issues
        self.columnwise = columnwise
        self.cols: dict[str, list[Any]] = {
            k: []
            for k in (
                "source",
                "snapshot_at",
                "session_start",
                *schemas.COUNTERS,
                "total_processing_time",
                "time_from",
                "origin",
            )
        }
        self.err_rows: list[tuple[Any, ...]] = []  # (record index, error_type, count)
        #: rows added in columns (:class:`ColumnBlock`), and the rows added one by one
        #: before them (moved here by ``_flush``), in reading order
        self.chunks: list[ColumnBlock] = []
        #: the frames of the rows already assembled (the blocks are then gone)
        self._assembled: tuple[pd.DataFrame, pd.DataFrame] | None = None

    def __len__(self) -> int:
        return len(self.cols["origin"])

    def add(
        self,
        obj: Any,
        *,
        source: str,
        path: Path | str,
        line: int | None,
        snapshot_at: Any,
        time_from: str,
    ) -> bool:
        """Validate one stats object; append it and return True, or record why not."""
        if not isinstance(obj, dict):
            self.issues.add(
                source, path, line, "not_object",
                f"expected a JSON object, found {type(obj).__name__}",
            )
            return False
        if not STATS_KEYS.intersection(obj):
            self.issues.add(
                source, path, line, "not_snapshot",
                "JSON object has none of the stats keys (jobs_processed, ...); not a snapshot",
            )
            return False
        counters: list[int] = []
        caveats: list[tuple[str, str]] = []
        for key in schemas.COUNTERS:
            value = obj.get(key, 0)
            if value is None:
                caveats.append(("bad_value", f"{key} is null; taken as 0"))
                value = 0
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.issues.add(
                    source, path, line, "bad_value",
                    f"{key} must be an integer, found {type(value).__name__} {value!r:.60}; "
                    "snapshot not loaded",
                )
                return False
            if isinstance(value, float):
                if not math.isfinite(value) or value != math.floor(value):
                    self.issues.add(
                        source, path, line, "bad_value",
                        f"{key} must be an integer, found {value!r}; snapshot not loaded",
                    )
                    return False
            value = int(value)
            if value > _INT64_MAX or value < -_INT64_MAX:
                caveats.append(
                    ("overflow",
                     f"{key}={number_text(value)} does not fit int64; stored saturated")
                )
                value = _INT64_MAX if value > 0 else -_INT64_MAX
            counters.append(value)
        tpt = obj.get("total_processing_time", 0.0)
        if tpt is None or isinstance(tpt, bool) or not isinstance(tpt, int | float):
            caveats.append(("bad_value", f"total_processing_time is {tpt!r:.60}; stored as NaN"))
            tpt = math.nan
        try:
            tpt = float(tpt)
        except OverflowError:  # an integer beyond the float range
            caveats.append(("bad_value", f"total_processing_time={number_text(tpt)} is beyond "
                            "the float range; stored as NaN"))
            tpt = math.nan
        start = obj.get("session_start")
        if start is not None and (
            isinstance(start, bool)
            or not isinstance(start, int | float)
            # outside the window (also NaN/inf, and ints too large for math.isfinite)
            or not plausible(start)
        ):
            caveats.append(("bad_value", f"session_start is {start!r:.60}, not epoch seconds "
                            f"within {WINDOW}; stored as NaT"))
            start = None
        errors = obj.get("errors_by_type", {})
        if errors is None:
            errors = {}
        if not isinstance(errors, dict):
            caveats.append(
                ("bad_value", f"errors_by_type is {type(errors).__name__}, not an object; ignored")
            )
            errors = {}
        idx = len(self)
        for etype, count in errors.items():
            if isinstance(count, bool) or not isinstance(count, int) or abs(count) > _INT64_MAX:
                if (
                    isinstance(count, float)
                    and math.isfinite(count)
                    and count == int(count)
                    and abs(count) <= _INT64_MAX
                ):
                    count = int(count)
                else:
                    caveats.append(
                        ("bad_value", f"errors_by_type[{etype!r}]={count!r:.60} is not an "
                         "integer; entry dropped")
                    )
                    continue
            self.err_rows.append((idx, clean_text(str(etype)), count))
        for kind, detail in caveats:
            self.issues.add(source, path, line, kind, detail)
        c = self.cols
        c["source"].append(clean_text(source))
        c["snapshot_at"].append(snapshot_at)
        c["session_start"].append(np.nan if start is None else float(start))
        for key, value in zip(schemas.COUNTERS, counters, strict=True):
            c[key].append(value)
        c["total_processing_time"].append(float(tpt))
        c["time_from"].append(time_from)
        origin = clean_path(path)
        c["origin"].append(origin if line is None else f"{origin}:{line}")
        return True

    def drop(self, mask: np.ndarray) -> None:
        """Remove the records where *mask* is True (their issues are already recorded)."""
        keep = np.flatnonzero(~mask)
        for key, values in self.cols.items():
            self.cols[key] = [values[i] for i in keep]
        new_index = np.full(len(mask), -1, dtype="int64")
        new_index[keep] = np.arange(len(keep))
        self.err_rows = [
            (int(new_index[i]), e, c) for i, e, c in self.err_rows if new_index[i] >= 0
        ]

    def add_columns(
        self,
        cols: dict[str, Any],
        errors: list[tuple[np.ndarray, str, np.ndarray]],
        path: Path | str,
        *,
        lines: np.ndarray | None = None,
    ) -> None:
        """Append a whole validated history at once (a fast reader's columns).

        Parameters
        ----------
        cols : dict
            ``snapshot_at`` (timestamps, UTC), ``session_start`` (epoch seconds, NaN when
            unknown), the counters, ``total_processing_time``, ``source`` (one name for
            every row, or one per row) and optionally ``time_from`` (default ``"field"``).
        errors : list of (rows, type, counts)
            Error counts per error type: row indices into *cols* and their counts.
        path : path or str
            The file the rows come from (``origin`` is ``"path:line"``).
        lines : numpy.ndarray, optional
            The file line number of each row; default: row *i* is line *i + 1*.
        """
        n = len(cols["snapshot_at"])
        if lines is None:
            lines = np.arange(1, n + 1, dtype="int64")
        elif len(lines) != n:
            raise ValueError(f"lines has {len(lines)} entries for {n} rows")
        when = pd.DatetimeIndex(cols["snapshot_at"])
        when = when.tz_localize("UTC") if when.tz is None else when.tz_convert("UTC")
        source = cols["source"]
        if isinstance(source, str):  # one name for the whole file
            codes, names = np.zeros(n, dtype=np.int32), [source]
        else:
            cat = pd.Categorical(source)
            codes, names = cat.codes.astype(np.int32), [str(c) for c in cat.categories]
        errors = [e for e in errors if len(e[0])]
        if errors:
            rows = np.concatenate([np.asarray(e[0], dtype=np.int64) for e in errors])
            ecodes = np.repeat(np.arange(len(errors), dtype=np.int32),
                               [len(e[0]) for e in errors])
            counts = np.concatenate([np.asarray(e[2]) for e in errors]).astype("int64")
            order = np.argsort(rows, kind="stable")  # by row, then in the list's order
            rows, ecodes, counts = rows[order], ecodes[order], counts[order]
        else:
            rows = np.zeros(0, dtype=np.int64)
            ecodes = np.zeros(0, dtype=np.int32)
            counts = np.zeros(0, dtype=np.int64)
        self.add_block(ColumnBlock(
            source_codes=codes,
            source_names=[clean_text(s) for s in names],
            snapshot_at=when.as_unit(schemas.TIME_UNIT).asi8,
            session_start=np.asarray(cols["session_start"], dtype="float64"),
            counters={k: np.asarray(cols[k], dtype="int64") for k in schemas.COUNTERS},
            total_processing_time=np.asarray(cols["total_processing_time"], dtype="float64"),
            time_from=cols.get("time_from", "field"),
            path=clean_path(path),
            lines=np.asarray(lines, dtype="int64"),
            err_rows=rows,
            err_codes=ecodes,
            err_names=[clean_text(e[1]) for e in errors],
            err_counts=counts,
        ))

    def add_block(self, block: ColumnBlock) -> None:
        """Append validated rows given as columns (after the rows added so far)."""
        self._flush()  # keep reading order: rows added one by one so far come first
        self.chunks.append(block)

    def flush(self) -> None:
        """Move the rows added one by one so far into a block (see :meth:`mark`)."""
        self._flush()

    def mark(self) -> int:
        """A point to :meth:`rollback` to; call after :meth:`flush`."""
        return len(self.chunks)

    def rollback(self, mark: int) -> None:
        """Forget every row added since :meth:`mark` returned *mark*."""
        del self.chunks[mark:]
        self.cols = {k: [] for k in self.cols}
        self.err_rows = []

    def _flush(self) -> None:
        """Move the rows added one by one into ``chunks`` (reading order is kept)."""
        if not len(self):
            return
        c = self.cols
        src = pd.factorize(pd.Series(c["source"], dtype=object))
        tf = pd.factorize(pd.Series(c["time_from"], dtype=object))
        if self.err_rows:
            idx, etype, count = zip(*self.err_rows, strict=True)
            ecodes, enames = pd.factorize(pd.Series(etype, dtype=object))
            rows = np.asarray(idx, dtype=np.int64)
            counts = np.asarray(count, dtype=np.int64)
        else:
            rows, counts = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
            ecodes, enames = np.zeros(0, dtype=np.int32), []
        self.chunks.append(ColumnBlock(
            source_codes=np.asarray(src[0], dtype=np.int32),
            source_names=[str(s) for s in src[1]],
            snapshot_at=utc_index(c["snapshot_at"]).asi8,
            session_start=np.asarray(c["session_start"], dtype="float64"),
            counters={k: np.asarray(c[k], dtype="int64") for k in schemas.COUNTERS},
            total_processing_time=np.asarray(c["total_processing_time"], dtype="float64"),
            time_from=(np.asarray(tf[0], dtype=np.int32), [str(t) for t in tf[1]]),
            path="",
            lines=None,
            origins=list(c["origin"]),
            err_rows=rows,
            err_codes=np.asarray(ecodes, dtype=np.int32),
            err_names=[str(e) for e in enames],
            err_counts=counts,
        ))
        self.cols = {k: [] for k in self.cols}
        self.err_rows = []

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(snapshots, errors) frames, conformed to their schemas and sorted.

        The rows are consumed (their memory freed) as the frames are built: calling
        this again returns the same frames; adding rows after it is an error.
        """
        self._flush()
        if not self.columnwise:
            return _reference_frames(self.chunks)
        if self._assembled is not None:
            if self.chunks:
                raise RuntimeError("rows added after RecordBuilder.frames()")
            return self._assembled
        self._assembled = assemble_blocks(self.chunks)
        return self._assembled


# --------------------------------------------------------------------------------------
# Frames from blocks
# --------------------------------------------------------------------------------------


def _block_origin(block: ColumnBlock) -> pa.Array:
    """Each row's ``origin`` as an Arrow large_string array."""
    if block.lines is None:
        return pa.array(block.origins or [], type=pa.large_string())
    return origin_strings(block.lines, block.path)


def _time_from(block: ColumnBlock) -> tuple[np.ndarray, list[str]]:
    if isinstance(block.time_from, str):
        return np.zeros(len(block), dtype=np.int32), [block.time_from]
    return block.time_from


def _reference_frames(blocks: list[ColumnBlock]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reference assembly: one frame per block, ``pd.concat``, ``conform`` (sorts)."""
    snap_parts, err_parts = [], []
    for b in blocks:
        n = len(b)
        snap_at = pd.DatetimeIndex(b.snapshot_at.view("M8[us]")).tz_localize("UTC")
        tf_codes, tf_names = _time_from(b)
        frame = pd.DataFrame(
            {
                "source": np.asarray(b.source_names, dtype=object)[b.source_codes]
                if n else [],
                "snapshot_at": snap_at,
                "session_start": epoch_to_utc(b.session_start),
                **{k: b.counters[k] for k in schemas.COUNTERS},
                "total_processing_time": b.total_processing_time,
                "time_from": np.asarray(tf_names, dtype=object)[tf_codes] if n else [],
                "origin": pd.Series(pd.arrays.ArrowStringArray(_block_origin(b)), dtype="str")
                .array if n else [],
            }
        )
        snap_parts.append(frame)
        if len(b.err_rows):
            idx = b.err_rows
            err_parts.append(pd.DataFrame(
                {
                    "source": frame["source"].to_numpy()[idx],
                    "snapshot_at": snap_at[idx],
                    "error_type": np.asarray(b.err_names, dtype=object)[b.err_codes],
                    "count": b.err_counts,
                    "origin": frame["origin"].to_numpy()[idx],
                }
            ))
    if not snap_parts or not sum(len(f) for f in snap_parts):
        return empty_frame(schemas.SNAPSHOTS), empty_frame(schemas.ERRORS)
    frame = pd.concat(snap_parts, ignore_index=True)
    if err_parts:
        errors = schemas.conform(pd.concat(err_parts, ignore_index=True), schemas.ERRORS)
    else:
        errors = empty_frame(schemas.ERRORS)
    return schemas.conform(frame, schemas.SNAPSHOTS), errors


def _code_dtype(n: int) -> type[np.signedinteger[Any]]:
    """The integer type pandas stores the codes of *n* categories in (no recast)."""
    if n < 2**7:
        return np.int8
    if n < 2**15:
        return np.int16
    return np.int32 if n < 2**31 else np.int64


def _unify(
    parts: list[tuple[np.ndarray, list[str]]], used_only: np.ndarray | None = None
) -> tuple[np.ndarray, pd.Index]:
    """Per-block ``(codes, names)`` as one code array into sorted categories.

    The categories are exactly the values that occur, in lexical order: what
    :func:`~syncstats.schemas.conform` makes of a string column.
    """
    index: dict[str, int] = {}
    luts = [np.array([index.setdefault(nm, len(index)) for nm in names] or [0],
                     dtype=np.int64) for _, names in parts]
    used = np.zeros(len(index), dtype=bool)
    for (codes, names), lut in zip(parts, luts, strict=True):
        if len(codes):
            used[lut[np.bincount(codes, minlength=len(names)) > 0]] = True
    names = list(index)
    present = pd.Index([nm for nm, u in zip(names, used, strict=True) if u], dtype="str")
    order = present.argsort(kind="stable")
    rank = np.full(len(names), -1, dtype=np.int64)
    rank[np.flatnonzero(used)[order]] = np.arange(len(order))
    dtype = _code_dtype(len(order))
    out = [(rank[lut].astype(dtype))[codes] for (codes, _), lut in zip(parts, luts,
                                                                       strict=True)]
    codes = np.concatenate(out) if out else np.zeros(0, dtype=dtype)
    return codes, present[order]


def _categorical(codes: np.ndarray, cats: pd.Index) -> pd.Categorical:
    return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(cats))


_UTC_US = pd.DatetimeTZDtype("us", "UTC")


def _utc(micros: np.ndarray) -> pd.arrays.DatetimeArray:
    """Epoch microseconds as a UTC datetime array (public API: a view of the int64
    values as ``M8[us]`` given the UTC dtype; 3x faster than ``tz_localize("UTC")``,
    measured on 6M values)."""
    return pd.array(micros.view("M8[us]"), dtype=_UTC_US)


def _take(values: np.ndarray, perm: np.ndarray | None) -> np.ndarray:
    return values if perm is None else values[perm]


def origin_strings(lines: np.ndarray, prefix: str) -> pa.Array:
    """``"prefix:line"`` for every line number, built by Arrow (no Python strings)."""
    numbers = pc.cast(pa.array(lines, type=pa.int64()), pa.large_string())
    return pc.binary_join_element_wise(
        pa.scalar(f"{prefix}:", pa.large_string()), numbers, pa.scalar("", pa.large_string())
    )


def release_memory() -> None:
    """Give the blocks Arrow's pool keeps (the parsed tables) back before a large
    allocation (peak RSS). Only syncstats' own Arrow memory: no process-wide call such
    as glibc's ``malloc_trim`` from a library function."""
    pa.default_memory_pool().release_unused()


def assemble_blocks(blocks: list[ColumnBlock]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(snapshots, errors) of *blocks*: equal to :func:`_reference_frames`, built
    column-wise.

    One stable sort permutation from integer keys (none when the rows are already in
    order); the error rows gathered snapshot by snapshot in that order (a stable sort by
    snapshot is exactly that, since each snapshot's entries are contiguous and in
    order); ``origin`` strings built by Arrow once, in their final order. *blocks* is
    emptied, and each column freed once taken (memory).
    """
    parts = [b for b in blocks if len(b)]
    blocks.clear()
    if not parts:
        return empty_frame(schemas.SNAPSHOTS), empty_frame(schemas.ERRORS)
    sizes = np.array([len(b) for b in parts], dtype=np.int64)
    total = int(sizes.sum())
    large = total >= _LARGE
    if large:
        release_memory()
    row_base = np.concatenate(([0], np.cumsum(sizes)[:-1]))

    src, src_cats = _unify([(b.source_codes, b.source_names) for b in parts])
    when = np.concatenate([b.snapshot_at for b in parts])
    # schemas.SNAPSHOTS.sort_by, stable, NaT last within a source (as sort_values)
    nat = when == _NAT
    s0, s1, w0, w1, n0, n1 = src[:-1], src[1:], when[:-1], when[1:], nat[:-1], nat[1:]
    in_order = bool(
        ((s1 > s0) | ((s1 == s0) & ((n1 & ~n0) | ((n1 == n0) & (w1 >= w0))))).all()
    )
    del s0, s1, w0, w1, n0, n1
    segments = _source_segments(parts, src, when, nat)
    if in_order:
        perm = None
    elif segments is not None:
        perm = np.concatenate([np.arange(base + lo, base + hi) for _, base, lo, hi, *_ in
                               segments])
    else:
        perm = np.lexsort((when, nat, src))
    del nat
    src, when = _take(src, perm), _take(when, perm)

    def column(name: str, dtype: Any) -> np.ndarray:
        """Attribute *name* of every block, concatenated, in sorted order; freed."""
        values = np.concatenate([getattr(b, name) for b in parts]).astype(dtype, copy=False)
        for b in parts:
            setattr(b, name, _NONE)
        return _take(values, perm)

    counters = np.empty((len(schemas.COUNTERS), total), dtype=np.int64)
    buf = np.empty(total, dtype=np.int64)
    for k, name in enumerate(schemas.COUNTERS):
        np.concatenate([b.counters[name] for b in parts], out=buf)
        if perm is None:
            counters[k] = buf
        else:
            np.take(buf, perm, out=counters[k])
        for b in parts:
            b.counters[name] = _NONE
    del buf
    tf_codes, tf_cats = _unify([_time_from(b) for b in parts])
    paths = {b.path for b in parts}
    if segments is not None:
        # the readers' strings, in pieces: no string is built or copied here
        origin = _chunked([b.origin.slice(lo, hi - lo)  # type: ignore[union-attr]
                           for b, _, lo, hi, *_ in segments])
    elif all(b.lines is not None for b in parts) and len(paths) == 1:
        origin = origin_strings(column("lines", np.int64), paths.pop())
    else:
        origin = pa.concat_arrays([_block_origin(b) for b in parts])
        if perm is not None:
            origin = origin.take(pa.array(perm))
    # counters first, as one 2-D block (no copy), then the other columns inserted
    snapshots = pd.DataFrame(counters.T, columns=list(schemas.COUNTERS), copy=False)
    snapshots.insert(0, "source", _categorical(src, src_cats))
    snapshots.insert(1, "snapshot_at", _utc(when))
    snapshots.insert(2, "session_start", epoch_to_utc(column("session_start", np.float64)))
    snapshots["total_processing_time"] = column("total_processing_time", np.float64)
    snapshots["time_from"] = _categorical(_take(tf_codes, perm), tf_cats)
    snapshots["origin"] = pd.Series(pd.arrays.ArrowStringArray(origin), dtype="str",
                                    copy=False).array
    del counters, tf_codes

    # the error rows: grouped by snapshot row in reading order, gathered in sorted order
    per_row = np.zeros(total, dtype=np.int64)
    for b, base in zip(parts, row_base, strict=True):
        if len(b.err_rows):
            per_row[base: base + len(b)] = np.bincount(b.err_rows, minlength=len(b))
    n_err = int(per_row.sum())
    if not n_err:
        return snapshots, empty_frame(schemas.ERRORS)
    if segments is not None and all(b.err_origin is not None for b in parts):
        return snapshots, _errors_in_pieces(parts, segments, src, src_cats, snapshots)
    for b in parts:
        b.err_rows = _NONE
    lens = _take(per_row, perm)
    index_type = np.int32 if max(total, n_err) < 2**31 else np.int64
    pos = np.repeat(np.arange(total, dtype=index_type), lens)
    # the largest column (the strings) first, after giving back what is free (peak
    # RSS), in a thread while this one gathers the others (Arrow releases the GIL)
    if large:
        release_memory()
    with ThreadPoolExecutor(1) if large else _Inline() as pool:
        strings = pool.submit(_take_strings, origin, pos)
        del origin
        ecode, etype_cats = _unify([(b.err_codes, b.err_names) for b in parts])
        counts = np.concatenate([b.err_counts for b in parts]).astype(np.int64, copy=False)
        for b in parts:
            b.err_codes = b.err_counts = _NONE
        if perm is not None:
            order = gather_order(per_row, perm, lens, n_err, index_type)
            ecode = ecode[order]
            counts = counts[order]
            del order
        used = np.zeros(len(src_cats), dtype=bool)
        used[src[lens > 0]] = True  # the sources with error rows: the errors' categories
        del per_row, lens
        if used.all():
            esrc, esrc_cats = src[pos], src_cats
        else:
            esrc, esrc_cats = _unify([(src[pos], list(src_cats))])
        e_when = snapshots["snapshot_at"].array.take(pos)
        del pos
        e_origin = strings.result()
    errors = pd.DataFrame(
        {
            "source": _categorical(esrc, esrc_cats),
            "snapshot_at": e_when,
            "error_type": _categorical(ecode, etype_cats),
            "count": counts,
            "origin": pd.Series(pd.arrays.ArrowStringArray(e_origin), dtype="str",
                                copy=False).array,
        },
        copy=False,
    )
    return snapshots, errors


_NONE = np.zeros(0, dtype=np.int64)


class _Done:
    """A finished task's result (see :class:`_Inline`)."""

    def __init__(self, value: Any):
        self.value = value

    def result(self) -> Any:
        return self.value


class _Inline:
    """A stand-in for a one-thread pool that runs each task at once (small inputs: a
    thread costs more than it saves)."""

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, func: Any, *args: Any) -> _Done:
        return _Done(func(*args))

#: rows from which giving freed memory back first is worth its time (peak RSS)
_LARGE = 200_000
#: pieces of a string column above which they are joined into one array (pandas works
#: on each piece of a chunked column)
_MAX_PIECES = 2000

#: (block, its first row's index, first row, end row, first entry, end entry)
Segment = tuple[ColumnBlock, int, int, int, int, int]


def _chunked(pieces: list[pa.Array]) -> pa.ChunkedArray:
    out = pa.chunked_array(pieces, type=pa.large_string())
    return out if out.num_chunks <= _MAX_PIECES else pa.chunked_array([out.combine_chunks()])


def _entry_range(block: ColumnBlock, lo: int, hi: int) -> tuple[int, int]:
    rows = block.err_rows
    return int(np.searchsorted(rows, lo)), int(np.searchsorted(rows, hi))


def _source_segments(
    parts: list[ColumnBlock], src: np.ndarray, when: np.ndarray, nat: np.ndarray
) -> list[Segment] | None:
    """The sorted order as runs of blocks' rows, when it is that simple: each block's
    rows grouped by source (as the fast history reader leaves them) and each source's
    times non-decreasing in reading order (no NaT). The stable sort by source and time
    is then the blocks' runs of the first source, of the second, ... Else None."""
    if nat.any() or not all(b.origin is not None for b in parts):
        return None
    bounds = []
    base = 0
    ncat = int(src.max()) + 1
    for b in parts:
        codes = src[base: base + len(b)]
        if (codes[1:] < codes[:-1]).any():
            return None
        bounds.append((base, np.searchsorted(codes, np.arange(ncat + 1))))
        base += len(b)
    segments: list[Segment] = []
    for code in range(ncat):
        last = None
        for b, (base, edge) in zip(parts, bounds, strict=True):
            lo, hi = int(edge[code]), int(edge[code + 1])
            if lo == hi:
                continue
            times = when[base + lo: base + hi]
            if (times[1:] < times[:-1]).any() or (last is not None and times[0] < last):
                return None
            last = times[-1]
            segments.append((b, base, lo, hi, *_entry_range(b, lo, hi)))
    return segments


def _errors_in_pieces(
    parts: list[ColumnBlock],
    segments: list[Segment],
    src: np.ndarray,
    src_cats: pd.Index,
    snapshots: pd.DataFrame,
) -> pd.DataFrame:
    """The errors frame of blocks whose rows are in *segments* order: each segment's
    entries, copied in place (no gather over all entries, no index array)."""
    ecode, etype_cats = _unify([(b.err_codes, b.err_names) for b in parts])
    offsets = np.concatenate(([0], np.cumsum([len(b.err_rows) for b in parts])))
    where = {id(b): int(o) for b, o in zip(parts, offsets[:-1], strict=True)}
    n_err = sum(e1 - e0 for *_, e0, e1 in segments)
    if not n_err:
        return empty_frame(schemas.ERRORS)
    code = np.empty(n_err, dtype=ecode.dtype)
    count = np.empty(n_err, dtype=np.int64)
    when = np.empty(n_err, dtype=np.int64)
    seg_src = np.empty(len(segments), dtype=src.dtype)
    seg_len = np.empty(len(segments), dtype=np.int64)
    origin = []
    at = row = 0
    for k, (b, _, lo, hi, e0, e1) in enumerate(segments):
        seg_src[k], seg_len[k] = src[row], e1 - e0
        row += hi - lo
        if e0 == e1:
            continue
        o, end = where[id(b)], at + e1 - e0
        code[at:end] = ecode[o + e0: o + e1]
        count[at:end] = b.err_counts[e0:e1]
        when[at:end] = b.snapshot_at[b.err_rows[e0:e1]]
        origin.append(b.err_origin.slice(e0, e1 - e0))  # type: ignore[union-attr]
        at = end
    esrc = np.repeat(seg_src, seg_len)
    used = np.zeros(len(src_cats), dtype=bool)
    used[seg_src[seg_len > 0]] = True
    if used.all():
        esrc_cats = src_cats
    else:
        esrc, esrc_cats = _unify([(esrc, list(src_cats))])
    return pd.DataFrame(
        {
            "source": _categorical(esrc, esrc_cats),
            "snapshot_at": _utc(when),
            "error_type": _categorical(code, etype_cats),
            "count": count,
            "origin": pd.Series(pd.arrays.ArrowStringArray(_chunked(origin)), dtype="str",
                                copy=False).array,
        },
        copy=False,
    )


#: rows per piece of a large string gather (Arrow grows a take's output by doubling:
#: one take of 300 MB of strings peaks at twice that)
_TAKE_ROWS = 1 << 20


def _take_strings(values: pa.Array, indices: np.ndarray) -> pa.ChunkedArray:
    """``values.take(indices)`` in pieces (peak memory)."""
    return pa.chunked_array(
        [values.take(pa.array(indices[i: i + _TAKE_ROWS]))
         for i in range(0, len(indices), _TAKE_ROWS)],
        type=values.type,
    )


def gather_order(
    per_row: np.ndarray, perm: np.ndarray, lens: np.ndarray, n_err: int, dtype: Any
) -> np.ndarray:
    """Indices of the error entries in sorted order: the entries of sorted snapshot *r*
    are ``first[perm[r]] + 0 .. lens[r] - 1`` (*first*: where a row's entries start)."""
    first = np.cumsum(per_row) - per_row
    has = lens > 0
    src_first = first[perm[has]]
    del first
    starts = (np.cumsum(lens) - lens)[has]
    # +1 per entry, and at each snapshot's first entry a jump from the previous one's last
    order = np.ones(n_err, dtype=dtype)
    order[0] = src_first[0]
    order[starts[1:]] = src_first[1:] - (src_first[:-1] + lens[has][:-1] - 1)
    return np.cumsum(order, out=order)
