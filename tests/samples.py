"""Shared test data: the stats example of docs/formats.md §1 and its invariants."""

from __future__ import annotations

import math
from typing import Any

#: The stats.json example of docs/formats.md §1 (a healthy file).
FORMATS_EXAMPLE: dict[str, Any] = {
    "jobs_processed": 2473,
    "jobs_succeeded": 2267,
    "jobs_failed": 206,
    "jobs_to_dlq": 41,
    "total_processing_time": 1013.9311,
    "session_start": 1759017612.5,
    "errors_by_type": {"PlexNotFound": 145, "PlexTemporaryError": 61},
    "high_confidence_matches": 2183,
    "low_confidence_matches": 84,
}


def stats_invariants(data: object) -> list[str]:
    """The healthy-file invariants of docs/formats.md §1 that *data* breaks."""
    if not isinstance(data, dict):
        return [f"not an object: {type(data).__name__}"]
    out = []
    if data["jobs_succeeded"] + data["jobs_failed"] != data["jobs_processed"]:
        out.append("succeeded + failed != processed")
    if sum(data["errors_by_type"].values()) != data["jobs_failed"]:
        out.append("sum(errors_by_type) != failed")
    if data["jobs_to_dlq"] > data["jobs_failed"]:
        out.append("to_dlq > failed")
    if data["high_confidence_matches"] + data["low_confidence_matches"] != data["jobs_succeeded"]:
        out.append("high + low != succeeded")
    if any(v < 0 for k, v in data.items() if k.startswith(("jobs_", "high_", "low_"))):
        out.append("negative counter")
    if not math.isfinite(data["total_processing_time"]):
        out.append("total_processing_time not finite")
    return out
