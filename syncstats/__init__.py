"""syncstats: a sync worker's stats, logs and dead-letter queue as trustworthy DataFrames.

Recording side: :class:`SyncStats`, :class:`DeadLetterQueue`.
"""

from . import fleet
from .analysis import (
    DLQTriage,
    Summary,
    audit,
    batch_summary,
    burn_rate,
    dlq_triage,
    error_breakdown,
    error_increments,
    error_signatures,
    error_trend,
    escape_markdown,
    format_duration,
    increments,
    success_rate,
    trend,
)
from .exceptions import (
    CorruptStatsWarning,
    DLQError,
    InputError,
    LogFormatError,
    NoDataError,
    ParameterError,
    SchemaError,
    SnapshotFormatError,
    StatsFileError,
    SyncstatsError,
    SyncstatsWarning,
    UnsafePickleError,
)
from .io import (
    SyncData,
    concat,
    discover,
    load,
    read_dlq,
    read_log,
    read_parquet,
    read_snapshots,
)
from .recording import DeadLetterQueue, SyncStats

__version__ = "0.1.0"

__all__ = [
    "CorruptStatsWarning",
    "DLQTriage",
    "DLQError",
    "DeadLetterQueue",
    "InputError",
    "LogFormatError",
    "NoDataError",
    "ParameterError",
    "SchemaError",
    "SnapshotFormatError",
    "StatsFileError",
    "SyncData",
    "Summary",
    "SyncStats",
    "SyncstatsError",
    "SyncstatsWarning",
    "UnsafePickleError",
    "__version__",
    "audit",
    "batch_summary",
    "burn_rate",
    "dlq_triage",
    "error_breakdown",
    "error_increments",
    "error_signatures",
    "error_trend",
    "fleet",
    "escape_markdown",
    "format_duration",
    "increments",
    "success_rate",
    "trend",
    "concat",
    "discover",
    "load",
    "read_dlq",
    "read_log",
    "read_parquet",
    "read_snapshots",
]
