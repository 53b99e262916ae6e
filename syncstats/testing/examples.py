"""Small example frames for docstring examples and quick experiments.

The frames have the documented dtypes of :mod:`syncstats.schemas` (as the readers return
them), so every analysis function accepts them.
"""

from __future__ import annotations

import pandas as pd

from .. import schemas

__all__ = ["example_snapshots", "example_errors"]


def example_snapshots() -> pd.DataFrame:
    """A tiny snapshots frame for docstring examples: deltas, a doubling-bug jump, a
    negative (corrupt) snapshot and a fresh start."""
    t = pd.date_range("2026-10-01", periods=8, freq="1h", tz="UTC").as_unit("us")
    rows = [
        # processed, succeeded, failed, to_dlq, high, low
        (100, 90, 10, 1, 90, 0),
        (110, 99, 11, 1, 99, 0),
        (120, 108, 12, 1, 108, 0),
        (130, 117, 13, 1, 117, 0),
        (140, 126, 14, 1, 126, 0),
        (280_000, 252_000, 28_000, 2_000, 252_000, 0),  # doubling-bug jump
        (-5, 0, 0, 0, 0, 0),  # corrupt: negative
        (5, 5, 0, 0, 5, 0),  # fresh start
    ]
    frame = pd.DataFrame(rows, columns=list(schemas.COUNTERS))
    frame.insert(0, "source", pd.Categorical(["w"] * 8))
    frame.insert(1, "snapshot_at", t)
    frame.insert(2, "session_start", pd.Series(t[[0] * 7 + [7]]))
    frame["total_processing_time"] = [40.0, 44.0, 48.0, 52.0, 56.0, 112_000.0, 0.0, 2.0]
    frame["time_from"] = pd.Categorical(["field"] * 8)
    frame["origin"] = [f"h.jsonl:{i}" for i in range(1, 9)]
    return frame


def example_errors() -> pd.DataFrame:
    """Error counts matching :func:`example_snapshots` (first two snapshots only)."""
    return pd.DataFrame(
        {
            "source": pd.Categorical(["w", "w", "w"]),
            "snapshot_at": pd.date_range("2026-10-01", periods=2, freq="1h", tz="UTC")[
                [0, 1, 1]
            ].as_unit("us"),
            "error_type": pd.Categorical(["PlexNotFound", "PlexNotFound", "TimeoutError"]),
            "count": [10, 10, 1],
            "origin": ["h.jsonl:1", "h.jsonl:2", "h.jsonl:2"],
        }
    )
