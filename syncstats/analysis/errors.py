"""Error breakdowns (Pareto), error trends and message signatures."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from .. import schemas
from .._checks import require
from .._dispatch import is_dask
from .._time import check_freq, check_tz, to_timedelta, to_utc
from ..exceptions import ParameterError, SchemaError
from ._util import RIGHT_CLOSED, floor_local, local_buckets
from .rates import MAX_FILL_BUCKETS, _fill_start

__all__ = ["error_breakdown", "error_trend", "error_signatures", "signature", "MISSING_TYPE"]

#: Label of entries whose error type is missing (NULL in the DLQ).
MISSING_TYPE = "(missing)"

# Order matters: URLs and UUIDs before paths, hex and numbers.
_SIGNATURE_RULES: tuple[tuple[str, str], ...] = (
    (r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+", "<url>"),
    (r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", "<uuid>"),
    (r"'[^']*'|\"[^\"]*\"", "<str>"),
    (
        r"(?<![\w.])(?:[A-Za-z]:)?(?:[\\/][^\s\\/'\"<>:,;]+){2,}[\\/]?"
        r"|~(?:/[^\s/'\"<>:,;]+)+",
        "<path>",
    ),
    (r"\b0x[0-9a-fA-F]+\b", "<hex>"),
    (r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b", "<hex>"),
    (r"(?<![A-Za-z<\d])\d+(?:\.\d+)?", "<n>"),
    (r"\s+", " "),
)
_COMPILED = tuple((re.compile(p), r) for p, r in _SIGNATURE_RULES)


def signature(message: str) -> str:
    """The normalised template of one error message.

    URLs, UUIDs, quoted strings, paths, hex ids and numbers become ``<url>``,
    ``<uuid>``, ``<str>``, ``<path>``, ``<hex>`` and ``<n>``; white space is folded.

    Examples
    --------
    >>> signature("Could not find Plex item for path: /media/videos/a/scene_1900.mp4")
    'Could not find Plex item for path: <path>'
    >>> signature("Plex API error: 503 Service Unavailable")
    'Plex API error: <n> Service Unavailable'
    >>> signature("Request to http://plex.local:32400/library/metadata/48213 timed out after 30s")
    'Request to <url> timed out after <n>s'
    """
    text = str(message)
    for rx, repl in _COMPILED:
        text = rx.sub(repl, text)
    return text.strip()


def _signatures(messages: pd.Series) -> pd.Series:
    """Vectorised :func:`signature` over the distinct messages only."""
    uniq = pd.Series(messages.dropna().unique(), dtype="object")
    mapped = uniq.astype("str")
    for pattern, repl in _SIGNATURE_RULES:
        mapped = mapped.str.replace(pattern, repl, regex=True)
    lookup = dict(zip(uniq, mapped.str.strip(), strict=True))
    return messages.map(lookup).fillna("(no message)")


def _is_dlq(frame: pd.DataFrame) -> bool:
    return "failed_at" in frame.columns and "error_type" in frame.columns


def _is_error_increments(frame: pd.DataFrame) -> bool:
    return {"end", "error_type", "count"} <= set(frame.columns)


def _window_mask(times: pd.Series, window: Any, latest: Any = None) -> pd.Series:
    """*window* as a mask of *times*; a duration ends at *latest* (default: the latest
    of *times*; the dask path passes the latest time of all partitions)."""
    if window is None:
        return pd.Series(True, index=times.index)
    if isinstance(window, tuple) and len(window) == 2:
        lo, hi = (to_utc(window[0], "window start"), to_utc(window[1], "window end"))
        return (times >= lo) & (times < hi)
    span = to_timedelta(window, "window")
    hi = times.max() if latest is None else latest
    return (times > hi - span) & (times <= hi)


def _time_column(frame: Any) -> str | None:
    if _is_dlq(frame):
        return "failed_at"
    if _is_error_increments(frame):
        return "end"
    return None


def _type_labels(types: pd.Series) -> pd.Series:
    return types.astype("object").where(types.notna(), MISSING_TYPE).astype("str")


def error_breakdown(frame: pd.DataFrame, *, window: Any = None) -> pd.DataFrame:
    """A Pareto table of errors by type, from per-interval error counts or a DLQ frame.

    Parameters
    ----------
    frame : DataFrame
        :func:`error_increments` output (counts summed), or a ``dlq`` frame (one entry
        counts one; a NULL type is labelled ``"(missing)"``).
    window : str, Timedelta or (start, end), optional
        A duration keeps the entries in the last *window* up to the latest time in the
        frame (``end`` or ``failed_at``); a pair keeps ``start <= t < end``.

    Returns
    -------
    DataFrame
        ``error_type`` (category), ``count`` (int64), ``share``, ``cumulative_share``
        (fractions), ``rank`` (int64, 1 = most frequent); sorted by count descending,
        then type. For a DLQ frame the counts equal
        :meth:`~syncstats.DeadLetterQueue.get_error_summary`.

    Examples
    --------
    >>> import pandas as pd
    >>> dlq = pd.DataFrame({"error_type": ["PlexNotFound", "PermanentError", "PlexNotFound"],
    ...                     "failed_at": pd.to_datetime(["2026-10-01"] * 3, utc=True)})
    >>> error_breakdown(dlq)
           error_type  count     share  cumulative_share  rank
    0    PlexNotFound      2  0.666667          0.666667     1
    1  PermanentError      1  0.333333          1.000000     2
    """
    if is_dask(frame):
        from .._dispatch import reduce_sources

        latest = None
        column = _time_column(frame)
        if window is not None and not isinstance(window, tuple) and column is not None:
            latest = frame[column].max().compute()
        return reduce_sources(_breakdown_counts, _breakdown_table, frame, window=window,
                              latest=latest)
    return _breakdown_table(_breakdown_counts(frame, window=window))


def _breakdown_counts(frame: pd.DataFrame, *, window: Any = None,
                      latest: Any = None) -> pd.DataFrame:
    """Counts per type label (one partition's share of :func:`error_breakdown`)."""
    if _is_dlq(frame):
        keep = _window_mask(frame["failed_at"], window, latest)
        types = _type_labels(frame.loc[keep, "error_type"])
        counts = types.value_counts(sort=False)
    elif _is_error_increments(frame):
        keep = _window_mask(frame["end"], window, latest)
        sub = frame.loc[keep]
        counts = sub.groupby(_type_labels(sub["error_type"]), observed=True)["count"].sum()
    elif {"snapshot_at", "error_type", "count"} <= set(frame.columns):
        raise SchemaError(
            "error_breakdown: this looks like the cumulative `errors` frame; pass "
            "error_increments(errors, snapshots) so counts are per interval"
        )
    else:
        raise SchemaError(
            "error_breakdown: expected error_increments() output (end, error_type, count) "
            f"or a dlq frame (error_type, failed_at); found columns {list(frame.columns)}"
        )
    return pd.DataFrame({"error_type": counts.index.astype("str"),
                         "count": counts.to_numpy(dtype="int64")})


def _breakdown_table(counts: pd.DataFrame) -> pd.DataFrame:
    """The Pareto table from per-type counts (of one or several partitions)."""
    counts = counts.groupby("error_type", sort=False)["count"].sum()
    counts = counts[counts > 0]
    table = pd.DataFrame({"error_type": counts.index.astype("str"),
                          "count": counts.to_numpy(dtype="int64")})
    table = table.sort_values(["count", "error_type"], ascending=[False, True], kind="stable")
    total = table["count"].sum()
    table["share"] = table["count"] / total if total else np.nan
    table["cumulative_share"] = table["share"].cumsum()
    table["rank"] = np.arange(1, len(table) + 1, dtype="int64")
    table["error_type"] = table["error_type"].astype("category")
    return table.reset_index(drop=True)


def error_trend(
    frame: pd.DataFrame,
    freq: str = "1h",
    *,
    by: str | None = None,
    top: int | None = None,
    now: Any = None,
    tz: str = "UTC",
) -> pd.DataFrame:
    """Error counts by type per time bucket, zero-filled.

    Buckets with no entry appear with zero counts, from the first bucket with data to the
    bucket containing *now*, but over at most the last
    :data:`~syncstats.analysis.rates.MAX_FILL_BUCKETS` buckets: an earlier bucket appears
    only when it has data (every entry is still counted).

    Parameters
    ----------
    frame : DataFrame
        :func:`error_increments` output (bucketed by ``end`` in right-closed buckets,
        like :func:`trend`) or a ``dlq`` frame (arrivals, bucketed by ``failed_at`` in
        ``[bucket, bucket + freq)``).
    freq : str, default '1h'
        Bucket size.
    by : str, optional
        Extra group column (e.g. ``"source"``).
    top : int, optional
        Keep the *top* most frequent types and fold the rest into ``"other"``.
    now : time, optional
        Last bucket is the one containing *now* (default: the latest time in the data);
        later entries are left out.
    tz : str, default 'UTC'
        Time zone aligning the buckets; ``bucket`` is reported in UTC.

    Returns
    -------
    DataFrame
        Long form: ``bucket`` (UTC), *by* when given, ``error_type`` (category),
        ``count`` (int64); every bucket x type present, zeros included.
        ``attrs["zero_filled_from"]`` (Timestamp, None when empty): every bucket from it
        on is present, earlier rows are the buckets with data only.

    Examples
    --------
    >>> import pandas as pd
    >>> dlq = pd.DataFrame({"error_type": ["A", "B", "A"], "failed_at": pd.to_datetime(
    ...     ["2026-10-01 00:10", "2026-10-01 02:30", "2026-10-01 02:40"], utc=True)})
    >>> error_trend(dlq, "1h").pivot(index="bucket", columns="error_type", values="count")
    error_type                 A  B
    bucket
    2026-10-01 00:00:00+00:00  1  0
    2026-10-01 01:00:00+00:00  0  0
    2026-10-01 02:00:00+00:00  1  1
    >>> error_trend(dlq, "1h").attrs["zero_filled_from"]
    Timestamp('2026-10-01 00:00:00+0000', tz='UTC')
    """
    kwargs = {"by": by, "now": now, "tz": tz}
    if top is not None and top < 1:
        raise ParameterError(f"top must be a positive integer, found {top!r}")
    if is_dask(frame):
        from .._dispatch import reduce_sources

        def finish(parts: pd.DataFrame) -> pd.DataFrame:
            return _error_trend_finish(parts, freq, top=top, arrivals=_is_dlq(frame), **kwargs)

        return reduce_sources(_error_trend_counts, finish, frame, freq=freq, **kwargs)
    return _error_trend_finish(_error_trend_counts(frame, freq, **kwargs), freq, top=top,
                               arrivals=_is_dlq(frame), **kwargs)


def _error_trend_counts(frame: pd.DataFrame, freq: str, *, by: str | None, now: Any,
                        tz: str) -> pd.DataFrame:
    """Counts per (local bucket, *by*, type) and the latest local time of each group:
    one partition's share of :func:`error_trend`, combined by summing (and max)."""
    check_freq(freq)
    check_tz(tz)
    cols = [] if by is None else [by]
    if _is_dlq(frame):
        times = frame["failed_at"]
        counts = pd.Series(1, index=frame.index, dtype="int64")
    elif _is_error_increments(frame):
        times = frame["end"]
        counts = frame["count"].astype("int64")
    else:
        raise SchemaError(
            "error_trend: expected error_increments() output (end, error_type, count) or a "
            f"dlq frame (error_type, failed_at); found columns {list(frame.columns)}"
        )
    require(frame, cols, "error_trend")
    keep = times.notna()
    if now is not None:
        keep &= times <= to_utc(now, "now")
    frame, times, counts = frame[keep], times[keep], counts[keep]
    local = times.dt.tz_convert(tz)
    if not _is_dlq(frame):
        # interval ends, as in trend(): right-closed buckets (an end on a boundary closes
        # the bucket that ends there); DLQ arrivals are instants: [bucket, bucket + freq)
        bucket = floor_local(local - RIGHT_CLOSED, freq)
    else:
        bucket = floor_local(local, freq)
    keys = [bucket.rename("bucket"), *(frame[c].astype("str") for c in cols),
            _type_labels(frame["error_type"]).rename("error_type")]
    work = pd.DataFrame({"count": counts, "_last": local})
    grouped = work.groupby(keys, observed=True, sort=False).agg(
        count=("count", "sum"), _last=("_last", "max"))
    return grouped.reset_index()


def _error_trend_finish(parts: pd.DataFrame, freq: str, *, by: str | None, top: int | None,
                        now: Any, tz: str, arrivals: bool) -> pd.DataFrame:
    """The zero-filled long table from :func:`_error_trend_counts` of all partitions."""
    cols = [] if by is None else [by]
    out_cols = ["bucket", *cols, "error_type", "count"]
    if parts.empty:
        empty = pd.DataFrame({
            "bucket": pd.Series([], dtype=schemas.UTC_DTYPE),
            **{c: pd.Series([], dtype="category") for c in cols},
            "error_type": pd.Series([], dtype="category"),
            "count": pd.Series([], dtype="int64"),
        })[out_cols]
        empty.attrs["zero_filled_from"] = None
        return empty
    types = parts["error_type"].astype("str")
    if top is not None:
        totals = parts.groupby(types)["count"].sum().sort_values(
            ascending=False, kind="stable")
        keep_types = set(totals.index[:top])
        types = types.where(types.isin(keep_types), "other")
    ref = (to_utc(now, "now").tz_convert(tz) if now is not None
           else parts["_last"].max())
    if not arrivals:
        ref = ref - RIGHT_CLOSED
    bucket = parts["bucket"]
    # the last MAX_FILL_BUCKETS buckets, after the earlier ones with data
    buckets, ends = local_buckets(bucket.min(), floor_local(ref, freq), freq,
                                  limit=MAX_FILL_BUCKETS, keep=pd.DatetimeIndex(bucket))
    grouped = parts["count"].groupby(
        [bucket, *(parts[c].astype("str") for c in cols), types.rename("error_type")],
        observed=True).sum()
    levels = [buckets, *(pd.Index(sorted(parts[c].astype("str").unique()), name=c)
                         for c in cols),
              pd.Index(sorted(types.unique()), name="error_type")]
    full = grouped.reindex(pd.MultiIndex.from_product(levels), fill_value=0)
    out = full.rename("count").reset_index()
    out["bucket"] = out["bucket"].dt.tz_convert("UTC").dt.as_unit(schemas.TIME_UNIT)
    for c in (*cols, "error_type"):
        out[c] = out[c].astype("category")
    out["count"] = out["count"].astype("int64")
    out = out[out_cols]
    out.attrs["zero_filled_from"] = _fill_start(buckets, ends)
    return out


def error_signatures(dlq: pd.DataFrame, *, by_source: bool = False) -> pd.DataFrame:
    """Group DLQ messages by a normalised template (see :func:`~syncstats.analysis.signature`).

    Parameters
    ----------
    dlq : DataFrame
        A ``dlq`` frame.
    by_source : bool, default False
        Also split by ``source``.

    Returns
    -------
    DataFrame
        ``error_type`` (category), ``signature`` (str), ``count`` (int64), ``share``
        (fraction of all entries), ``scenes`` (distinct scene ids), ``first_seen``,
        ``last_seen`` (UTC), ``example`` (one original message); most frequent first.

    Examples
    --------
    >>> import pandas as pd
    >>> dlq = pd.DataFrame({
    ...     "error_type": ["PlexNotFound"] * 2 + ["PlexTemporaryError"],
    ...     "error_message": ["Could not find Plex item for path: /media/a/scene_1.mp4",
    ...                       "Could not find Plex item for path: /media/b/scene_2.mp4",
    ...                       "Plex API error: 503 Service Unavailable"],
    ...     "scene_id": [1, 2, 3],
    ...     "failed_at": pd.to_datetime(["2026-10-01", "2026-10-02", "2026-10-03"], utc=True)})
    >>> error_signatures(dlq)[["error_type", "signature", "count", "scenes"]]
               error_type                                signature  count  scenes
    0        PlexNotFound  Could not find Plex item for path: <path>      2       2
    1  PlexTemporaryError  Plex API error: <n> Service Unavailable      1       1
    """
    require(dlq, ["error_type", "error_message", "scene_id", "failed_at"], "dlq")
    cols = ["source"] if by_source else []
    work = pd.DataFrame(
        {
            **{c: dlq[c].astype("str") for c in cols},
            "error_type": _type_labels(dlq["error_type"]),
            "signature": _signatures(dlq["error_message"].astype("object")),
            "scene_id": dlq["scene_id"],
            "failed_at": dlq["failed_at"],
            "message": dlq["error_message"],
        }
    )
    keys = [*cols, "error_type", "signature"]
    if work.empty:
        table = pd.DataFrame(columns=[*keys, "count", "share", "scenes", "first_seen",
                                      "last_seen", "example"])
        return table.astype({"count": "int64", "scenes": "int64", "share": "float64"})
    g = work.groupby(keys, observed=True, sort=False)
    table = g.agg(
        count=("signature", "size"),
        scenes=("scene_id", "nunique"),
        first_seen=("failed_at", "min"),
        last_seen=("failed_at", "max"),
        example=("message", "first"),
    ).reset_index()
    table["share"] = table["count"] / len(work)
    table = table.sort_values(["count", *keys], ascending=[False, *[True] * len(keys)],
                              kind="stable").reset_index(drop=True)
    table["error_type"] = table["error_type"].astype("category")
    table["count"] = table["count"].astype("int64")
    table["scenes"] = table["scenes"].astype("int64")
    table["example"] = table["example"].astype("str")
    table["signature"] = table["signature"].astype("str")
    return table[[*keys, "count", "share", "scenes", "first_seen", "last_seen", "example"]]
