"""Arrow-native fast path for clean JSON Lines histories.

A history written by ``syncstats snapshot`` (or any well-formed one) is parsed in one
pyarrow call and turned into columns with numpy; no Python object is built per line.
Anything this path cannot represent *exactly* as the per-line reader would (a torn or
blank line, a BOM or CR, an explicit null, a value of another type, a time that does not
parse, an error count that is not an integer) makes it decline, and the caller reads the
file line by line instead: that reader is the reference, and a test checks that both give
the same frames.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from .. import schemas

__all__ = ["read_history_fast"]

_C = list(schemas.COUNTERS)
_SCALARS = pa.schema(
    [(c, pa.int64()) for c in _C]
    + [
        ("total_processing_time", pa.float64()),
        ("session_start", pa.float64()),
    ]
)
_BLOCK = 16 << 20


#: Every byte but the JSON structure characters (deleted to see the nesting).
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b"{}[]")
#: A stats object per line, with an errors_by_type object or without: nothing deeper.
_FLAT = re.compile(rb"(?:\{\{\}\}|\{\})*")
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


def _plain(data: bytes) -> bool:
    """No BOM, CR or blank line: Arrow's row *i* is then the file's line *i + 1*.

    Also valid UTF-8 without surrogate escapes (Arrow would hand back text Python cannot
    decode) and nested no deeper than stats objects are (Arrow's JSON parser recurses:
    a line of 100,000 ``[`` crashes the process with a segmentation fault, and so does a
    line ``null``: every line must be an object).
    """
    lines = data.count(b"\n")
    if (
        data.startswith((b"\xef\xbb\xbf", b"\n"))
        or b"\r" in data
        or b"\n\n" in data
        or not data.endswith(b"\n")  # a last line without newline may be torn
        or not data.startswith(b"{")
        or data.count(b"\n{") != lines - 1
        or data.count(b"}\n") != lines
        or not _FLAT.fullmatch(data.translate(None, _NOT_STRUCTURE))
        or _SURROGATE.search(data)
    ):
        return False
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


def _parse_iso(when: pa.ChunkedArray) -> pd.DatetimeIndex | None:
    """ISO-8601 strings to UTC times, as :func:`~syncstats.io._common.parse_time_value`
    would parse them, or None when one does not parse."""
    try:  # the form syncstats writes: 2026-10-01T13:00:00Z, parsed by Arrow in C++
        ts = pc.strptime(when, format="%Y-%m-%dT%H:%M:%SZ", unit="us")
        return pd.DatetimeIndex(ts.to_pandas()).tz_localize("UTC")
    except (pa.ArrowInvalid, ValueError):
        pass
    if not pc.all(pc.match_substring_regex(when, r"^\s*\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")).as_py():
        return None
    try:
        text = pd.Series(when.to_numpy(zero_copy_only=False), dtype="object")
        return pd.DatetimeIndex(pd.to_datetime(text, format="ISO8601", utc=True))
    except (ValueError, OverflowError):
        return None


def _column(table: pa.Table, name: str) -> pa.ChunkedArray | None:
    return table.column(name) if name in table.column_names else None


def read_history_fast(
    data: bytes, path: Path, *, source: str | None, fallback: str
) -> tuple[dict[str, Any], list[tuple[np.ndarray, str, np.ndarray]]] | None:
    """Columns of a clean history, or None when the per-line reader must be used.

    Returns ``(columns, errors)`` where *columns* holds numpy arrays / lists for the
    snapshot frame and *errors* is a list of ``(row indices, error type, counts)``.
    """
    if not data or not _plain(data):
        return None
    try:  # a directory name that is not UTF-8: Arrow cannot take it (the reference can)
        (source or "").encode("utf-8")
        fallback.encode("utf-8")
    except UnicodeEncodeError:
        return None
    table = None
    # snapshot_at is an ISO string (else Arrow infers timestamp[s] and loses offsets) or
    # epoch seconds: try both declarations; any other failure means "not clean".
    for when_type in (pa.string(), pa.float64()):
        schema = _SCALARS.append(pa.field("snapshot_at", when_type))
        try:
            table = pj.read_json(
                io.BytesIO(data),
                read_options=pj.ReadOptions(block_size=_BLOCK),
                parse_options=pj.ParseOptions(
                    explicit_schema=schema, unexpected_field_behavior="infer"
                ),
            )
            break
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OverflowError):
            continue
    if table is None:
        return None
    n = table.num_rows
    if n != data.count(b"\n"):
        return None
    cols: dict[str, Any] = {}
    for c in _C:
        col = table.column(c)
        if col.null_count:  # an explicit null (a caveat) or a missing key: per-line reader
            return None
        cols[c] = col.to_numpy()
    for c in ("total_processing_time",):
        col = table.column(c)
        if col.null_count:
            return None
        cols[c] = col.to_numpy()
    start = table.column("session_start").to_numpy(zero_copy_only=False)
    start = np.asarray(start, dtype="float64")
    finite = start[~np.isnan(start)]
    if finite.size and (np.abs(finite) >= 1e11).any():
        return None
    cols["session_start"] = start

    when = _column(table, "snapshot_at")
    if when is None or when.null_count:
        return None
    if pa.types.is_string(when.type) or pa.types.is_large_string(when.type):
        parsed = _parse_iso(when)
        if parsed is None:
            return None
    elif pa.types.is_integer(when.type) or pa.types.is_floating(when.type):
        secs = np.asarray(when.to_numpy(), dtype="float64")
        if not (np.isfinite(secs) & (secs >= 0) & (secs < 1e11)).all():
            return None
        parsed = pd.to_datetime(np.round(secs * 1e6), unit="us", utc=True)
    else:
        return None
    cols["snapshot_at"] = pd.DatetimeIndex(parsed).as_unit(schemas.TIME_UNIT)

    if source is not None:
        cols["source"] = source
    else:
        src = _column(table, "source")
        if src is None:
            cols["source"] = fallback
        elif not (pa.types.is_string(src.type) or pa.types.is_null(src.type)):
            return None
        else:
            src = pc.if_else(pc.or_kleene(pc.is_null(src), pc.equal(src, "")), fallback, src)
            uniq = pc.unique(src)
            if len(uniq) == 1:
                cols["source"] = uniq[0].as_py()
            else:
                codes = pc.index_in(src, value_set=uniq)
                cols["source"] = pd.Categorical.from_codes(
                    codes.to_numpy().astype("int32"), uniq.to_pylist()
                )

    errors: list[tuple[np.ndarray, str, np.ndarray]] = []
    err = _column(table, "errors_by_type")
    if err is not None and not pa.types.is_null(err.type):
        if not pa.types.is_struct(err.type):
            return None
        combined = err.combine_chunks() if err.num_chunks != 1 else err.chunk(0)
        if combined.null_count:  # "errors_by_type": null — the per-line reader says so
            return None
        for i in range(combined.type.num_fields):
            field = combined.type.field(i)
            child = combined.field(i)
            if pa.types.is_null(field.type):
                continue
            if not pa.types.is_integer(field.type):
                return None
            mask = child.is_valid().to_numpy(zero_copy_only=False)
            rows = np.flatnonzero(mask)
            values = child.fill_null(0).to_numpy()[rows].astype("int64")
            errors.append((rows, field.name, values))
    return cols, errors
