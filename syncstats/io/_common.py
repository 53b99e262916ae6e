"""Shared machinery of the readers: issue accounting, path expansion, record building."""

from __future__ import annotations

import glob as _glob
import gzip
import json
import math
import os
import re
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .. import schemas
from ..exceptions import InputError, ParameterError

ON_ERROR = ("report", "raise")

#: Issue kinds that mean a unit (file, line, row, value) was not loaded or was altered;
#: with ``on_error="raise"`` they raise. Other kinds are caveats (a fallback was taken,
#: a duplicate was dropped, a file was not used) and never raise.
ERROR_KINDS = frozenset(
    {
        "unreadable",
        "empty",
        "bad_json",
        "torn_line",
        "not_object",
        "not_snapshot",
        "bad_value",
        "bad_time",
        "overflow",
        "undecodable_job",
        "bad_row",
        "no_table",
        "schema",
    }
)


def check_on_error(on_error: str) -> None:
    if on_error not in ON_ERROR:
        raise ParameterError(f"on_error must be one of {ON_ERROR}, found {on_error!r}")


class Issues:
    """Collects issue rows; raises instead when ``on_error='raise'`` and the kind is an error."""

    def __init__(self, on_error: str, error_class: type[InputError] = InputError):
        check_on_error(on_error)
        self.on_error = on_error
        self.error_class = error_class
        self.rows: list[tuple[Any, ...]] = []

    def add(
        self,
        source: str | None,
        path: str | os.PathLike[str],
        line: int | None,
        kind: str,
        detail: str,
    ) -> None:
        path, detail = clean_path(path), clean_text(detail)
        if self.on_error == "raise" and kind in ERROR_KINDS:
            raise self.error_class(path, f"{kind}: {detail}", line)
        source = clean_text(source) if isinstance(source, str) else source
        self.rows.append((source, path, line, kind, detail))

    def extend(self, other: Issues) -> None:
        self.rows.extend(other.rows)

    def frame(self) -> pd.DataFrame:
        if not self.rows:
            return schemas.empty(schemas.ISSUES)
        src, path, line, kind, detail = zip(*self.rows, strict=True)
        frame = pd.DataFrame(
            {
                "source": pd.Series(src, dtype=object).fillna(""),
                "path": list(path),
                "line": pd.array(line, dtype="Int64"),
                "kind": list(kind),
                "detail": list(detail),
            }
        )
        return schemas.conform(frame, schemas.ISSUES, sort=False)


def expand_paths(
    path: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    patterns: tuple[str, ...],
    what: str,
) -> list[Path]:
    """Resolve a file, a directory (searched recursively for *patterns*), a glob, or a list.

    Raises
    ------
    InputError
        When the path does not exist or matches nothing.
    """
    if not isinstance(path, str | os.PathLike):
        out: list[Path] = []
        for p in path:
            out.extend(expand_paths(p, patterns=patterns, what=what))
        return out
    text = os.fspath(path)
    p = Path(text)
    if p.is_dir():
        found = sorted(
            {f for pat in patterns for f in p.rglob(pat) if f.is_file()}, key=lambda f: str(f)
        )
        return found
    if p.is_file():
        return [p]
    if _glob.has_magic(text):
        matches = sorted(Path(m) for m in _glob.glob(text, recursive=True))
        files = [m for m in matches if m.is_file()]
        if not files:
            raise InputError(text, f"the pattern matches no {what} file")
        return files
    raise InputError(text, f"no such file or directory (expected a {what} file or directory)")


def read_bytes(path: Path) -> bytes:
    """Whole file, transparently gunzipped for ``*.gz``.

    Raises
    ------
    OSError
        Also for a truncated or corrupt gzip stream (``EOFError``, ``zlib.error``).
    """
    if path.suffix == ".gz":
        try:
            with gzip.open(path, "rb") as fh:
                return fh.read()
        except (EOFError, zlib.error) as exc:
            raise OSError(f"corrupt or truncated gzip data: {exc}") from None
    return path.read_bytes()


def clean_text(text: str) -> str:
    r"""*text* made encodable as UTF-8, as the frames' string columns need.

    A file name that is not UTF-8 (decoded by Python with ``surrogateescape``) shows its
    bytes as ``\xff``; other lone surrogates (a JSON ``"\ud800"`` escape) show as
    ``\ud800``, instead of failing later in pandas/pyarrow.

    Examples
    --------
    >>> clean_text("PlexNotFound"), clean_text("w" + chr(0xDCFF)), clean_text(chr(0xD800))
    ('PlexNotFound', 'w\\xff', '\\ud800')
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:
            return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def clean_path(path: str | os.PathLike[str]) -> str:
    """A path as text for the frames (see :func:`clean_text`)."""
    return clean_text(os.fspath(path))


def number_text(value: int | float) -> str:
    """A number in short scientific form, also an integer too large for a float.

    Examples
    --------
    >>> number_text(10**40), number_text(-(10**400))
    ('1.000e+40', '-1e+400 (about)')
    """
    try:
        return f"{value:.3e}"
    except OverflowError:
        sign = "-" if value < 0 else ""
        return f"{sign}1e+{int(math.log10(abs(value)))} (about)"


def loads(raw: bytes | str) -> Any:
    """orjson, falling back to the stdlib for what orjson refuses but the worker's
    Python ``json`` writes (NaN/Infinity literals). orjson reads integers beyond 64 bits
    as floats: the loaders saturate such counters anyway (``overflow`` issue)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


# --------------------------------------------------------------------------------------
# Snapshot records
# --------------------------------------------------------------------------------------

STATS_KEYS = frozenset(
    (*schemas.COUNTERS, "total_processing_time", "session_start", "errors_by_type")
)
_INT64_MAX = schemas.int64_max()


class RecordBuilder:
    """Accumulates normalised snapshot records (column lists) and their error counts.

    Each record is validated once here; values are kept as read (negative or inflated
    counters included) except where they cannot be represented, which is an issue.
    """

    def __init__(self, issues: Issues):
        self.issues = issues
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
        #: whole files added at once: (snapshot columns frame, errors frame or None)
        self.chunks: list[tuple[pd.DataFrame, pd.DataFrame | None]] = []

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
            or not -1e11 < start < 1e11  # also NaN/inf, and ints too large for math.isfinite
        ):
            caveats.append(("bad_value", f"session_start is {start!r:.60}; stored as NaT"))
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
    ) -> None:
        """Append a whole validated history at once (the Arrow fast path's columns).

        Row *i* is the file's line *i + 1*; *errors* holds ``(rows, type, counts)``.
        """
        self._flush()  # keep reading order: rows added one by one so far come first
        n = len(cols["snapshot_at"])
        # "path:line" for every row, built by Arrow's string kernels (no Python strings)
        numbers = pc.cast(pa.array(np.arange(1, n + 1, dtype="int64")), pa.string())
        origin = pd.Series(
            pd.arrays.ArrowStringArray(
                pc.binary_join_element_wise(f"{clean_path(path)}:", numbers, "")
            ) if n else [], dtype="str",
        )
        source = cols["source"]
        if isinstance(source, str):  # one name for the whole file
            source = pd.Categorical.from_codes(np.zeros(n, dtype="int8"), [clean_text(source)])
        frame = pd.DataFrame(
            {
                "source": source,
                "snapshot_at": cols["snapshot_at"],
                "session_start": epoch_to_utc(cols["session_start"]),
                **{k: np.asarray(cols[k], dtype="int64") for k in schemas.COUNTERS},
                "total_processing_time": np.asarray(cols["total_processing_time"],
                                                    dtype="float64"),
                "time_from": pd.Categorical.from_codes(np.zeros(n, dtype="int8"), ["field"]),
                "origin": origin.array,
            }
        )
        err = None
        errors = [e for e in errors if len(e[0])]
        if errors:
            rows = np.concatenate([e[0] for e in errors])
            codes = np.repeat(np.arange(len(errors)), [len(e[0]) for e in errors])
            counts = np.concatenate([e[2] for e in errors]).astype("int64")
            order = np.argsort(rows, kind="stable")  # by line, as the per-line reader
            rows, codes, counts = rows[order], codes[order], counts[order]
            err = frame[["source", "snapshot_at", "origin"]].take(rows).reset_index(drop=True)
            names = pd.Index([clean_text(e[1]) for e in errors])
            if names.is_unique:
                etype: Any = pd.Categorical.from_codes(codes, names)
            else:  # two names that clean_text made equal
                etype = names.to_numpy()[codes]
            err.insert(2, "error_type", etype)
            err.insert(3, "count", counts)
        self.chunks.append((frame, err))

    def _flush(self) -> None:
        """Move the rows added one by one into ``chunks`` (reading order is kept)."""
        snaps, errs = self._slow_frames()
        if snaps is not None:
            self.chunks.append((snaps, errs))
            self.cols = {k: [] for k in self.cols}
            self.err_rows = []

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(snapshots, errors) frames, conformed to their schemas and sorted."""
        self._flush()
        snap_parts = [c[0] for c in self.chunks]
        err_parts = [c[1] for c in self.chunks if c[1] is not None]
        if not snap_parts:
            return schemas.empty(schemas.SNAPSHOTS), schemas.empty(schemas.ERRORS)
        frame = snap_parts[0] if len(snap_parts) == 1 else pd.concat(
            snap_parts, ignore_index=True)
        if err_parts:
            errors = err_parts[0] if len(err_parts) == 1 else pd.concat(
                err_parts, ignore_index=True)
            errors = schemas.conform(errors, schemas.ERRORS)
        else:
            errors = schemas.empty(schemas.ERRORS)
        return schemas.conform(frame, schemas.SNAPSHOTS), errors

    def _slow_frames(self) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
        """The records added one by one, as unconformed frames (None when there are none)."""
        c = self.cols
        if not len(self):
            return None, None
        snap_at = to_utc(c["snapshot_at"])
        frame = pd.DataFrame(
            {
                "source": c["source"],
                "snapshot_at": snap_at,
                "session_start": epoch_to_utc(np.asarray(c["session_start"], dtype="float64")),
                **{k: np.asarray(c[k], dtype="int64") for k in schemas.COUNTERS},
                "total_processing_time": np.asarray(c["total_processing_time"], dtype="float64"),
                "time_from": c["time_from"],
                "origin": c["origin"],
            }
        )
        if self.err_rows:
            idx, etype, count = zip(*self.err_rows, strict=True)
            idx_arr = np.asarray(idx, dtype="int64")
            errors = pd.DataFrame(
                {
                    "source": frame["source"].to_numpy()[idx_arr],
                    "snapshot_at": snap_at[idx_arr],
                    "error_type": list(etype),
                    "count": np.asarray(count, dtype="int64"),
                    "origin": frame["origin"].to_numpy()[idx_arr],
                }
            )
        else:
            errors = None
        return frame, errors


def epoch_to_utc(seconds: np.ndarray) -> pd.DatetimeIndex:
    """Epoch seconds (float, NaN for unknown) to UTC timestamps (microseconds)."""
    micros = np.round(seconds * 1e6)
    out = pd.to_datetime(micros, unit="us", utc=True, errors="coerce")
    return pd.DatetimeIndex(out).as_unit(schemas.TIME_UNIT)


def to_utc(values: list[Any]) -> pd.DatetimeIndex:
    """Snapshot times already parsed to ``pd.Timestamp`` (aware, UTC) or NaT into an index."""
    index = pd.DatetimeIndex(values)
    # All NaT (e.g. only raw stderr log lines): the index has no zone to convert from.
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    return index.as_unit(schemas.TIME_UNIT)


_BASIC = re.compile(
    r"(?P<date>\d{8})T(?P<time>\d{6})(?P<frac>\.\d+)?(?P<tz>Z|[+-]\d{2}:?\d{2})?(?![\d])"
)
_EXTENDED = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})T(?P<time>\d{2}:\d{2}:\d{2})(?P<frac>\.\d+)?"
    r"(?P<tz>Z|[+-]\d{2}:?\d{2})?(?![\d])"
)


def time_from_name(name: str) -> tuple[pd.Timestamp | None, bool]:
    """Capture time embedded in a file name (ISO-8601 basic or extended, ``Z`` or offset).

    Returns ``(timestamp in UTC, had_zone)``, or ``(None, False)`` when the name holds none.

    Examples
    --------
    >>> time_from_name("stats-20261001T130000Z.json")
    (Timestamp('2026-10-01 13:00:00+0000', tz='UTC'), True)
    >>> time_from_name("stats-2026-10-01T15:00:00+02:00.json")[0]
    Timestamp('2026-10-01 13:00:00+0000', tz='UTC')
    """
    for rx in (_EXTENDED, _BASIC):
        m = rx.search(name)
        if not m:
            continue
        date, time_, frac, tz = m.group("date", "time", "frac", "tz")
        if rx is _BASIC:
            date = f"{date[:4]}-{date[4:6]}-{date[6:]}"
            time_ = f"{time_[:2]}:{time_[2:4]}:{time_[4:]}"
        if tz and tz != "Z" and ":" not in tz:
            tz = f"{tz[:3]}:{tz[3:]}"
        try:
            ts = pd.Timestamp(f"{date}T{time_}{frac or ''}{tz or ''}")
        except ValueError:
            continue
        if ts.tzinfo is None:
            return ts.tz_localize("UTC"), False
        return ts.tz_convert("UTC"), True
    return None, False


#: An ISO-8601 date, optionally with a time and a zone: what a ``snapshot_at`` string
#: must look like (``pd.Timestamp`` alone would also take "13:00" as today, "0042" as
#: the year 42 or "Oct 1 2026": guesses, not values from the file).
ISO_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?"
    r"\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?$"
)


def parse_time_value(value: Any) -> pd.Timestamp | None:
    """A ``snapshot_at`` value (ISO-8601 string or epoch seconds) as a UTC timestamp.

    Strings without a zone are taken as UTC. Returns None when the value is unusable.

    Examples
    --------
    >>> parse_time_value(1759017612.5)
    Timestamp('2025-09-28 00:00:12.500000+0000', tz='UTC')
    >>> parse_time_value("2026-10-01T15:00:00+02:00")
    Timestamp('2026-10-01 13:00:00+0000', tz='UTC')
    """
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            if not math.isfinite(value) or not 0 <= value < 1e11:
                return None
            return pd.Timestamp(round(value * 1e6), unit="us", tz="UTC")
        if isinstance(value, str):
            if not ISO_DATETIME.match(value.strip()):
                return None
            ts = pd.Timestamp(value.strip())
            if ts is pd.NaT:
                return None
            return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    except (ValueError, OverflowError, TypeError):
        return None
    return None


def iter_lines(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Numbered non-blank lines of *data*, without BOM or CR."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for lineno, raw in enumerate(data.split(b"\n"), 1):
        raw = raw.rstrip(b"\r")
        if raw.strip():
            yield lineno, raw
