"""dlq_triage's arrivals do not scale with the span of the data times (issue 13)."""

from __future__ import annotations

import pandas as pd

from syncstats.analysis.triage import ARRIVAL_DAYS, dlq_triage


def _dlq(times: list[str]) -> pd.DataFrame:
    n = len(times)
    return pd.DataFrame({
        "id": range(1, n + 1), "source": ["w"] * n, "scene_id": range(n),
        "error_type": ["PlexNotFound"] * n, "retry_count": [5] * n,
        "failed_at": pd.DatetimeIndex(times).tz_localize("UTC").as_unit("us"),
    })


def test_arrivals_zero_fill_the_last_days_only():
    t = dlq_triage(_dlq(["0001-01-01 00:00", "2026-10-01 00:10", "2026-10-01 05:00",
                         "2026-10-03 12:00"]))
    arrivals = t.arrivals
    # before: a row per day from year 1 to 2026 (739,892 rows)
    assert len(arrivals) == 1 + ARRIVAL_DAYS
    assert arrivals["count"].sum() == 4  # every entry is still counted
    assert arrivals["day"].iloc[0] == pd.Timestamp("0001-01-01", tz="UTC")
    assert arrivals["day"].iloc[1] == pd.Timestamp("2026-10-03", tz="UTC") - pd.Timedelta(
        days=ARRIVAL_DAYS - 1)
    assert arrivals["day"].is_monotonic_increasing
    assert arrivals["count"].tail(3).tolist() == [2, 0, 1]


def test_arrivals_of_a_short_span_are_unchanged():
    t = dlq_triage(_dlq(["2026-10-01 00:10", "2026-10-03 12:00"]), now="2026-10-04 01:00")
    assert t.arrivals["count"].tolist() == [1, 0, 1, 0]
    assert t.arrivals["day"].iloc[0] == pd.Timestamp("2026-10-01", tz="UTC")
