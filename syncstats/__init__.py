"""syncstats: a sync worker's stats, logs and dead-letter queue as trustworthy DataFrames.

Recording side: :class:`SyncStats`, :class:`DeadLetterQueue`.
"""

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
from .io import SyncData, concat, discover, load, read_dlq, read_log, read_snapshots
from .recording import DeadLetterQueue, SyncStats

__version__ = "0.1.0"

__all__ = [
    "CorruptStatsWarning",
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
    "SyncStats",
    "SyncstatsError",
    "SyncstatsWarning",
    "UnsafePickleError",
    "__version__",
    "concat",
    "discover",
    "load",
    "read_dlq",
    "read_log",
    "read_snapshots",
]
