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
    MissingDependencyError,
    NoDataError,
    OutputError,
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
    describe_layout,
    discover,
    load,
    read_dlq,
    read_log,
    read_parquet,
    read_snapshots,
)
from .recording import DeadLetterQueue, SyncStats, capture_snapshot


def _version() -> str:
    """The installed distribution's version: pyproject.toml is the one place it is written."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("syncstats")
    except PackageNotFoundError:  # a source tree on sys.path, never installed
        return "0+unknown"


__version__ = _version()

__all__ = [
    "CorruptStatsWarning",
    "DLQTriage",
    "DLQError",
    "DeadLetterQueue",
    "InputError",
    "LogFormatError",
    "MissingDependencyError",
    "NoDataError",
    "OutputError",
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
    "capture_snapshot",
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
    "describe_layout",
    "discover",
    "load",
    "read_dlq",
    "read_log",
    "read_parquet",
    "read_snapshots",
]
