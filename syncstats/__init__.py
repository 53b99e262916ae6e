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
    "SyncStats",
    "SyncstatsError",
    "SyncstatsWarning",
    "UnsafePickleError",
    "__version__",
]
