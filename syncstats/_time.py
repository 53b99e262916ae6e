"""One home for the time rules: user-given times and durations, data time values.

Every command-line option, library parameter and reader that turns text into a time or a
duration goes through these functions, so a rule (what a time looks like, that a duration
needs a unit, which times are plausible: :data:`EARLIEST` to :data:`LATEST`) is written
once.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .exceptions import ParameterError

__all__ = [
    "iso_micros",
    "name_time_texts",
    "TIME_UNIT", "ISO_DATETIME", "EARLIEST", "LATEST", "EPOCH_MIN", "EPOCH_LIMIT", "WINDOW",
    "plausible", "parse_time_value", "to_utc", "parse_now",
    "to_timedelta", "check_freq", "format_duration",
]

#: Resolution of every timestamp in the frames (``datetime64[us, UTC]``).
TIME_UNIT = "us"

#: An ISO-8601 date, optionally with a time and a zone (extended form, or the basic form
#: ``20261001T130000Z``). ``pd.Timestamp`` alone would also take "13:00" as today, "0042"
#: as the year 42, "05/10/2026" as May or October, or "Oct 1 2026": guesses, not values.
ISO_DATETIME = re.compile(
    r"^(?:\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?"
    r"|\d{8}T\d{6}(?:[.,]\d+)?)"
    r"\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?$"
)
#: The plausibility window, the one rule for "a time a worker could have written", applied
#: by every reader, fast engine and the capture check to every time column (snapshot_at
#: from a field, a file name or an mtime; session_start; log times; the DLQ's failed_at
#: and its jobs' epoch fields): from EARLIEST inclusive to LATEST exclusive. The worker
#: was released in 2025; a time before 2000 (a device whose clock reset to 1970) or from
#: 2100 on is a defect to report, not data, and no window computation scales with an
#: implausible span. Use :func:`plausible`; do not copy the numbers.
EARLIEST = pd.Timestamp("2000-01-01T00:00:00Z")
#: First implausible time after the window (exclusive bound).
LATEST = pd.Timestamp("2100-01-01T00:00:00Z")
#: The window in epoch seconds: ``EPOCH_MIN <= t < EPOCH_LIMIT`` (946684800, 4102444800).
EPOCH_MIN = int(EARLIEST.timestamp())
EPOCH_LIMIT = int(LATEST.timestamp())
#: The window as text, for messages.
WINDOW = f"{EARLIEST:%Y-%m-%d}..{LATEST:%Y-%m-%d} UTC"
_EPOCH_TEXT = re.compile(r"^[+-]?\d+(?:\.\d+)?$")


def plausible(value: Any, unit: str = "s") -> Any:
    """Whether times lie in the window ``EARLIEST <= t < LATEST`` (NaT, NaN: False).

    *value* is a timestamp (or datetime), a datetime-like Series, Index or array (a
    boolean mask of the same shape), or numbers: epoch *unit*s (``"s"`` or ``"us"``).

    Examples
    --------
    >>> plausible(pd.Timestamp("1999-12-31T23:59:59Z")), plausible(EARLIEST)
    (False, True)
    >>> plausible(np.array([0, EPOCH_MIN, EPOCH_LIMIT - 1, EPOCH_LIMIT])).tolist()
    [False, True, True, False]
    """
    if isinstance(value, datetime | np.datetime64):
        ts = pd.Timestamp(value)
        if ts is pd.NaT:
            return False
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
        return bool(EARLIEST <= ts < LATEST)
    if pd.api.types.is_datetime64_any_dtype(getattr(value, "dtype", None)):
        inside = (value >= EARLIEST) & (value < LATEST)  # NaT compares False
        return inside if isinstance(inside, pd.Series) else np.asarray(inside, dtype=bool)
    scale = {"s": 1, "us": 1_000_000}[unit]
    with np.errstate(invalid="ignore"):
        out = (value >= EPOCH_MIN * scale) & (value < EPOCH_LIMIT * scale)
    return out if isinstance(out, np.ndarray | pd.Series) else bool(out)


def parse_time_value(value: Any) -> pd.Timestamp | None:
    """A data time value (ISO-8601 string or epoch seconds) as a UTC timestamp.

    Strings without a zone are taken as UTC. Returns None when the value is unusable,
    a time outside the window (:func:`plausible`) included.

    Examples
    --------
    >>> parse_time_value(1759017612.5)
    Timestamp('2025-09-28 00:00:12.500000+0000', tz='UTC')
    >>> parse_time_value("2026-10-01T15:00:00+02:00")
    Timestamp('2026-10-01 13:00:00+0000', tz='UTC')
    >>> parse_time_value("05/10/2026") is None
    True
    >>> parse_time_value("0001-01-01T00:00:00Z"), parse_time_value(0)
    (None, None)
    """
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            if not math.isfinite(value) or not plausible(value):
                return None
            return pd.Timestamp(round(value * 1e6), unit="us", tz="UTC")
        if isinstance(value, str):
            if not ISO_DATETIME.match(value.strip()):
                return None
            ts = pd.Timestamp(value.strip())
            if ts is pd.NaT:
                return None
            ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
            return ts if plausible(ts) else None
    except (ValueError, OverflowError, TypeError):
        return None
    return None


def to_utc(value: Any, name: str, *, within_window: bool = False) -> pd.Timestamp:
    """A user-given time as a UTC timestamp in microseconds.

    Accepts a Timestamp or datetime (naive = UTC), an ISO-8601 string, or epoch seconds
    (a number, or a string of digits). Anything else, an ambiguous form such as
    ``05/10/2026`` included, is refused naming the parameter. Epoch seconds must lie in
    the plausible window, and with *within_window* (the command line's ``--now``, the
    report) any time must: analysis functions take any time, and bound their work
    themselves.

    Examples
    --------
    >>> to_utc("2026-10-21T00:00Z", "now")
    Timestamp('2026-10-21 00:00:00+0000', tz='UTC')
    >>> to_utc(1790812800, "now")
    Timestamp('2026-10-01 00:00:00+0000', tz='UTC')
    >>> to_utc("05/10/2026", "--now")
    Traceback (most recent call last):
    ...
    syncstats.exceptions.ParameterError: --now: expected an ISO-8601 time ... found '05/10/2026'
    """
    if isinstance(value, str):
        text = value.strip()
        if _EPOCH_TEXT.match(text):
            value = float(text)
        elif not ISO_DATETIME.match(text):
            raise ParameterError(f"{name}: expected an ISO-8601 time (2026-10-21T00:00Z) or "
                                 f"epoch seconds, found {value!r}")
    if isinstance(value, bool):
        raise ParameterError(f"{name}: expected a time, found {value!r}")
    if isinstance(value, int | float | np.integer | np.floating):
        ts = parse_time_value(float(value))
        if ts is None:
            raise ParameterError(f"{name}: epoch seconds must be finite, within "
                                 f"{WINDOW} ({EPOCH_MIN} to {EPOCH_LIMIT}), found {value!r}")
        return ts.as_unit(TIME_UNIT)
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ParameterError(f"{name}: expected a time, found {value!r} ({exc})") from None
    if ts is pd.NaT:
        raise ParameterError(f"{name}: expected a time, found NaT")
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if within_window and not plausible(ts):
        raise ParameterError(f"{name}: expected a time within {WINDOW}, found {value!r}")
    return ts.as_unit(TIME_UNIT)


def parse_now(value: str | None) -> pd.Timestamp | str | None:
    """``--now``: None (the current time, decided later), ``'latest'``, or a time.

    Examples
    --------
    >>> parse_now("LATEST"), parse_now("2026-10-21")
    ('latest', Timestamp('2026-10-21 00:00:00+0000', tz='UTC'))
    """
    if value is None:
        return None
    if value.strip().lower() == "latest":
        return "latest"
    return to_utc(value, "--now", within_window=True)


_DAY_WEEK = re.compile(r"(\d)\s*([dw])(?![a-z])")


def to_timedelta(value: Any, name: str) -> pd.Timedelta:
    """A positive duration with a unit, such as ``"24h"``, ``"7d"`` or a Timedelta.

    A bare number is refused (pandas would read ``"24"`` as 24 nanoseconds), with the
    likely meaning as a hint.

    Examples
    --------
    >>> to_timedelta("7d", "--window")
    Timedelta('7 days 00:00:00')
    >>> to_timedelta("24", "--window")
    Traceback (most recent call last):
    ...
    syncstats.exceptions.ParameterError: --window: '24' has no unit; did you mean 24h? ...
    """
    if isinstance(value, bool) or isinstance(value, int | float | np.integer | np.floating):
        raise ParameterError(f"{name}: {value!r} has no unit; did you mean {value}h? "
                             "(units: s, min, h, d, w)")
    text = value
    if isinstance(value, str):
        stripped = value.strip()
        if _EPOCH_TEXT.match(stripped):
            raise ParameterError(f"{name}: {value!r} has no unit; did you mean {stripped}h? "
                                 "(units: s, min, h, d, w)")
        # "7d"/"2w" read naturally; pandas deprecates the lowercase unit letters
        text = _DAY_WEEK.sub(lambda m: m.group(1) + m.group(2).upper(), stripped)
    try:
        td = pd.Timedelta(text)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ParameterError(
            f"{name}: expected a duration like '24h' or '7d', found {value!r} ({exc})"
        ) from None
    if td is pd.NaT or td <= pd.Timedelta(0):
        raise ParameterError(f"{name}: expected a positive duration, found {value!r}")
    return td


def check_freq(freq: Any, name: str = "freq") -> pd.DateOffset:
    """A pandas frequency (``'1h'``, ``'6h'``, ``'1D'``, ``'1W'``), refused early when bad.

    Examples
    --------
    >>> check_freq("6h")
    <6 * Hours>
    """
    if isinstance(freq, str) and _EPOCH_TEXT.match(freq.strip()):
        raise ParameterError(f"{name}: {freq!r} has no unit; did you mean {freq.strip()}h? "
                             "(a pandas frequency such as 1h, 6h, 1D, 1W)")
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except (ValueError, TypeError):
        raise ParameterError(f"{name}: expected a pandas frequency like '1h', '6h', '1D' or "
                             f"'1W', found {freq!r}") from None
    if offset is None:
        raise ParameterError(f"{name}: expected a pandas frequency like '1h' or '1D', "
                             f"found {freq!r}")
    return offset


def format_duration(td: Any) -> str:
    """A duration as compact text: ``'13d 5h'``, ``'6h'``, ``'2h 30m'``, ``'45s'``.

    Examples
    --------
    >>> import pandas as pd
    >>> format_duration(pd.Timedelta("13 days 05:39:00")), format_duration("6h")
    ('13d 5h 39m', '6h')
    """
    if td is None or td is pd.NaT:
        return "n/a"
    secs = int(round(pd.Timedelta(td).total_seconds()))
    sign = "-" if secs < 0 else ""
    secs = abs(secs)
    d, rem = divmod(secs, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    parts = [f"{d}d"] * bool(d) + [f"{h}h"] * bool(h) + [f"{m}m"] * bool(m)
    if not parts:
        parts = [f"{s}s"]
    return sign + " ".join(parts)


def epoch_to_utc(seconds: np.ndarray) -> pd.DatetimeIndex:
    """Epoch seconds (float, NaN for unknown) to UTC timestamps (microseconds)."""
    micros = np.round(seconds * 1e6)
    out = pd.to_datetime(micros, unit="us", utc=True, errors="coerce")
    return pd.DatetimeIndex(out).as_unit(TIME_UNIT)


def utc_index(values: list[Any]) -> pd.DatetimeIndex:
    """Snapshot times already parsed to ``pd.Timestamp`` (aware, UTC) or NaT into an index."""
    index = pd.DatetimeIndex(values)
    # All NaT (e.g. only raw stderr log lines): the index has no zone to convert from.
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    return index.as_unit(TIME_UNIT)


NAME_TIME_BASIC = re.compile(
    r"(?P<date>\d{8})T(?P<time>\d{6})(?P<frac>\.\d+)?(?P<tz>Z|[+-]\d{2}:?\d{2})?(?![\d])"
)
NAME_TIME_EXTENDED = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})T(?P<time>\d{2}:\d{2}:\d{2})(?P<frac>\.\d+)?"
    r"(?P<tz>Z|[+-]\d{2}:?\d{2})?(?![\d])"
)


def name_time_texts(name: str) -> list[str]:
    """The ISO-8601 texts of the time-like parts of a file name, in the order
    :func:`time_from_name` tries them (extended form first, then basic, spelled as the
    extended form: ``YYYY-MM-DDTHH:MM:SS[.f][Z|+HH:MM]``).

    >>> name_time_texts("stats-20261001T130000+0200.json")
    ['2026-10-01T13:00:00+02:00']
    """
    out = []
    for rx in (NAME_TIME_EXTENDED, NAME_TIME_BASIC):
        m = rx.search(name)
        if not m:
            continue
        date, time_, frac, tz = m.group("date", "time", "frac", "tz")
        if rx is NAME_TIME_BASIC:
            date = f"{date[:4]}-{date[4:6]}-{date[6:]}"
            time_ = f"{time_[:2]}:{time_[2:4]}:{time_[4:]}"
        if tz and tz != "Z" and ":" not in tz:
            tz = f"{tz[:3]}:{tz[3:]}"
        out.append(f"{date}T{time_}{frac or ''}{tz or ''}")
    return out


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
    for text in name_time_texts(name):
        try:
            ts = pd.Timestamp(text)
        except ValueError:
            continue
        if ts.tzinfo is None:
            return ts.tz_localize("UTC"), False
        return ts.tz_convert("UTC"), True
    return None, False


#: The ISO-8601 forms :func:`iso_micros` hands to Arrow: those on which Arrow's parser
#: and ``pd.Timestamp`` (the reference) agree to the microsecond.
_ARROW_ISO = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})?$"
_HAS_ZONE = r"(?:Z|[+-]\d{2}:\d{2})$"


def iso_micros(texts: Any) -> tuple[np.ndarray, np.ndarray]:
    """Epoch microseconds (UTC) of ISO-8601 strings, parsed by Arrow, and a mask of the
    values parsed: ``YYYY-MM-DD[T ]HH:MM:SS[.f{1,6}][Z|+HH:MM]`` (no zone: UTC) inside
    the window (:func:`plausible`). The other values (another form, an invalid date, a
    time outside the window) are for :func:`parse_time_value` or :func:`time_from_name`,
    which judge them.

    >>> us, ok = iso_micros(["2026-10-01T13:00:00Z", "2026-10-01 15:00:00.5+02:00", "x"])
    >>> ok.tolist(), (us[ok] // 10**6).tolist()
    ([True, True, False], [1790859600, 1790859600])
    """
    arr = texts if isinstance(texts, pa.Array) else pa.array(texts, type=pa.string())
    n = len(arr)
    ok = pc.fill_null(pc.match_substring_regex(arr, _ARROW_ISO), False)
    if not pc.all(ok).as_py():
        arr = pc.if_else(ok, arr, "2000-01-01T00:00:00Z")
    zoned = pc.if_else(pc.match_substring_regex(arr, _HAS_ZONE), arr,
                       pc.binary_join_element_wise(arr, "Z", ""))
    try:
        us = pc.cast(zoned, pa.timestamp("us", "UTC")).cast(pa.int64()).to_numpy(
            zero_copy_only=False)
    except pa.ArrowInvalid:  # an invalid date or time somewhere: the reference, per value
        return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    mask = ok.to_numpy(zero_copy_only=False) & plausible(us, unit="us")
    return np.array(us, dtype=np.int64), mask  # a writable copy: callers fill the rest


def check_tz(tz: str) -> str:
    """*tz* if it names an IANA time zone; else a one-line ParameterError.

    Examples
    --------
    >>> check_tz("Europe/Berlin")
    'Europe/Berlin'
    """
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ParameterError(f"tz must be an IANA time zone name like 'UTC' or "
                             f"'Europe/Berlin', found {tz!r}") from None
    return tz
