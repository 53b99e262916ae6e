"""The recording side: what the worker uses to produce stats files and the DLQ."""

from .capture import capture_snapshot
from .dlq import DLQ_INDEXES, DLQ_SCHEMA, DeadLetterQueue, format_failed_at
from .safepickle import safe_loads
from .stats import (
    COUNTER_FIELDS,
    EPOCH_LIMIT,
    SANITY_CEILING,
    SyncStats,
    validate_stats_dict,
)

__all__ = [
    "COUNTER_FIELDS",
    "DLQ_INDEXES",
    "DLQ_SCHEMA",
    "DeadLetterQueue",
    "EPOCH_LIMIT",
    "SANITY_CEILING",
    "SyncStats",
    "capture_snapshot",
    "format_failed_at",
    "safe_loads",
    "validate_stats_dict",
]
