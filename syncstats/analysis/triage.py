"""``dlq_triage``: what sits in the dead-letter queue and what could be requeued."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import schemas
from .._checks import require
from .._time import format_duration, to_timedelta, to_utc

__all__ = ["dlq_triage", "DLQTriage", "TRANSIENT_ERRORS", "ARRIVAL_DAYS"]

#: Days of ``DLQTriage.arrivals`` that are zero-filled at most: the last ones, up to
#: the day of *now*. Earlier days are listed only when they have entries, so that one
#: implausible time (year 1) cannot make a row for each of 740,000 days.
ARRIVAL_DAYS = 366

#: Error types that may succeed later: not-found (item not yet scanned into the library),
#: temporary server errors, and network-level failures.
TRANSIENT_ERRORS: tuple[str, ...] = (
    "PlexNotFound",
    "PlexTemporaryError",
    "PlexServerDown",
    "ConnectionResetError",
    "ConnectionError",
    "TimeoutError",
)
_REASONS = {
    "PlexNotFound": "item was not in the Plex library yet; a library scan may have added it",
    "PlexTemporaryError": "temporary server error (5xx/timeout); the server may have recovered",
    "PlexServerDown": "server was down; it may be back",
    "ConnectionResetError": "network failure; transient",
    "ConnectionError": "network failure; transient",
    "TimeoutError": "timed out; transient",
}


@dataclass(frozen=True)
class DLQTriage:
    """The result of :func:`dlq_triage`: several small tidy frames.

    Attributes
    ----------
    now : Timestamp
        The reference time of the ages.
    age : Series
        ``count``, ``min``, ``p50``, ``p90``, ``p99``, ``max`` (Timedelta) of
        ``now - failed_at``, and ``oldest_id``.
    arrivals : DataFrame
        ``day`` (UTC midnight), ``count``: entries per day up to the day of *now*,
        zero-filled over at most the last
        :data:`~syncstats.analysis.triage.ARRIVAL_DAYS` (366) days; an earlier day
        appears only with entries (at most one row per entry, whatever the span).
    retries : DataFrame
        ``retry_count``, ``count``: the retry_count distribution.
    repeated_scenes : DataFrame
        ``scene_id``, ``entries``, ``error_types`` (str, comma-joined), ``first_failed``,
        ``last_failed``: scenes with more than one entry, most entries first.
    requeue : DataFrame
        Candidates: ``id``, ``source``, ``scene_id``, ``error_type``, ``failed_at``,
        ``age``, ``reason``; transient types whose scene's last failure is older than
        ``requeue_after`` (one row per scene: its latest entry).
    """

    now: pd.Timestamp
    age: pd.Series
    arrivals: pd.DataFrame
    retries: pd.DataFrame
    repeated_scenes: pd.DataFrame
    requeue: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"DLQTriage(now={self.now}, entries={int(self.age['count'])}, "
            f"repeated_scenes={len(self.repeated_scenes)}, requeue={len(self.requeue)})"
        )


def dlq_triage(
    dlq: pd.DataFrame,
    *,
    now: Any = None,
    requeue_after: Any = "6h",
    transient: Iterable[str] = TRANSIENT_ERRORS,
) -> DLQTriage:
    """Age, arrivals, retries, repeated scenes and requeue candidates of a DLQ frame.

    Parameters
    ----------
    dlq : DataFrame
        A ``dlq`` frame.
    now : time, optional
        Reference time of the ages (default: the latest ``failed_at``, so that results
        are reproducible; pass the current time for a live view).
    requeue_after : str or Timedelta, default '6h'
        A transient failure older than this is a requeue candidate.
    transient : iterable of str
        Error types considered transient (default
        :data:`~syncstats.analysis.triage.TRANSIENT_ERRORS`).

    Returns
    -------
    DLQTriage

    Examples
    --------
    >>> import pandas as pd
    >>> dlq = pd.DataFrame({"id": [1, 2, 3], "source": ["w"] * 3, "scene_id": [7, 7, 8],
    ...     "error_type": ["PlexNotFound", "PlexNotFound", "PermanentError"],
    ...     "retry_count": [5, 5, 0],
    ...     "failed_at": pd.to_datetime(["2026-10-01 00:00", "2026-10-01 01:00",
    ...                                  "2026-10-02 00:00"], utc=True)})
    >>> t = dlq_triage(dlq)
    >>> t.requeue[["id", "scene_id", "error_type"]].values.tolist()
    [[2, 7, 'PlexNotFound']]
    >>> t.repeated_scenes[["scene_id", "entries"]].values.tolist()
    [[7, 2]]
    """
    require(dlq, ["id", "scene_id", "error_type", "retry_count", "failed_at"], "dlq")
    after = to_timedelta(requeue_after, "requeue_after")
    times = dlq["failed_at"]
    if now is not None:
        ref = to_utc(now, "now")
    elif times.notna().any():
        ref = times.max()
    else:
        ref = pd.Timestamp.now(tz="UTC").as_unit(schemas.TIME_UNIT)
    age = ref - times
    q = age.dropna()
    if len(q):
        oldest = dlq.loc[times.idxmin(), "id"] if times.notna().any() else pd.NA
        summary = pd.Series(
            {
                "count": len(dlq),
                "min": q.min(),
                "p50": q.quantile(0.5),
                "p90": q.quantile(0.9),
                "p99": q.quantile(0.99),
                "max": q.max(),
                "oldest_id": oldest,
            },
            dtype="object",
        )
    else:
        summary = pd.Series({"count": len(dlq), "min": pd.NaT, "p50": pd.NaT, "p90": pd.NaT,
                             "p99": pd.NaT, "max": pd.NaT, "oldest_id": pd.NA}, dtype="object")

    day = times.dt.floor("1D")
    if day.notna().any():
        last = ref.floor("1D")
        first = max(day.min(), last - pd.Timedelta(days=ARRIVAL_DAYS - 1))
        # zero-fill the recent days only: a row per day since the earliest entry would
        # scale with the span of the data, not with its size
        days = pd.date_range(first, last, freq="1D", name="day")
        per_day = day.value_counts()
        older = per_day.index[per_day.index < first].sort_values().rename("day")
        arrivals = per_day.reindex(older.append(days), fill_value=0).rename(
            "count").reset_index()
    else:
        arrivals = pd.DataFrame({"day": pd.Series([], dtype=schemas.UTC_DTYPE),
                                 "count": pd.Series([], dtype="int64")})
    arrivals["count"] = arrivals["count"].astype("int64")

    retries = (
        dlq["retry_count"].value_counts(dropna=False).sort_index().rename("count")
        .rename_axis("retry_count").reset_index()
    )
    retries["count"] = retries["count"].astype("int64")

    types = dlq["error_type"].astype("object").fillna("(missing)").astype("str")
    scenes = dlq.assign(_type=types).dropna(subset=["scene_id"])
    g = scenes.groupby("scene_id", sort=False)
    rep = g.agg(
        entries=("id", "size"),
        error_types=("_type", lambda s: ", ".join(sorted(set(s)))),
        first_failed=("failed_at", "min"),
        last_failed=("failed_at", "max"),
    ).reset_index()
    rep = rep[rep["entries"] > 1].sort_values(
        ["entries", "scene_id"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)
    rep["entries"] = rep["entries"].astype("int64")

    transient_set = set(transient)
    latest = dlq.assign(_type=types, _age=age).sort_values(["failed_at", "id"], kind="stable")
    has_scene = latest["scene_id"].notna()
    last_per_scene = pd.concat([
        latest[has_scene].drop_duplicates("scene_id", keep="last"),
        latest[~has_scene],
    ])
    cand = last_per_scene[last_per_scene["_type"].isin(transient_set)
                          & (last_per_scene["_age"] >= after)]
    requeue = pd.DataFrame(
        {
            "id": cand["id"].to_numpy(),
            "source": (cand["source"].astype("str").to_numpy() if "source" in cand
                       else np.full(len(cand), "")),
            "scene_id": cand["scene_id"].to_numpy(),
            "error_type": cand["_type"].to_numpy(),
            "failed_at": cand["failed_at"].to_numpy(),
            "age": cand["_age"].to_numpy(),
            "reason": [
                f"{_REASONS.get(t, 'transient error type')}; last failure "
                f"{format_duration(a)} ago (>= {format_duration(after)})"
                for t, a in zip(cand["_type"], cand["_age"], strict=True)
            ],
        }
    ).sort_values(["failed_at", "id"], kind="stable").reset_index(drop=True)
    requeue["scene_id"] = requeue["scene_id"].astype("Int64")
    return DLQTriage(
        now=ref, age=summary, arrivals=arrivals, retries=retries, repeated_scenes=rep,
        requeue=requeue,
        params={"requeue_after": after, "transient": sorted(transient_set)},
    )
