"""The one exception hierarchy of syncstats.

Every error syncstats raises on purpose is a :class:`SyncstatsError`. Messages name
the file (and line), column or option concerned, what was expected and what was found.
Warnings are :class:`SyncstatsWarning` subclasses.
"""

from __future__ import annotations

import os

__all__ = [
    "SyncstatsError",
    "InputError",
    "StatsFileError",
    "SnapshotFormatError",
    "LogFormatError",
    "DLQError",
    "SQLiteStateError",
    "UnsafePickleError",
    "SchemaError",
    "NoDataError",
    "ParameterError",
    "OutputError",
    "MissingDependencyError",
    "SyncstatsWarning",
    "CorruptStatsWarning",
]


class SyncstatsError(Exception):
    """Base class of every error syncstats raises on purpose."""


class InputError(SyncstatsError):
    """An input file (or one line or row of it) could not be used.

    Parameters
    ----------
    path : str or os.PathLike
        The file concerned.
    detail : str
        What was expected and what was found.
    line : int, optional
        1-based line number (or DLQ row id) within the file.
    """

    def __init__(self, path: str | os.PathLike[str], detail: str, line: int | None = None):
        self.path = os.fspath(path)
        self.line = line
        self.detail = detail
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {detail}")


class StatsFileError(InputError):
    """A ``stats.json`` file is torn, empty, not an object or holds implausible values."""


class SnapshotFormatError(InputError):
    """A snapshot file or JSON Lines history line could not be read."""


class LogFormatError(InputError):
    """A ``Stats:`` line of a log file could not be read."""


class DLQError(InputError):
    """A dead-letter-queue database or export could not be read."""


class SQLiteStateError(InputError):
    """An SQLite database's committed state cannot be read: the database, or its journal
    or WAL, cannot be opened for reading, a writer keeps it locked, or recovering it
    needs a private copy larger than the limit (:mod:`syncstats.io._sqlite`)."""


class UnsafePickleError(SyncstatsError):
    """A ``job_data`` blob was refused by the restricted unpickler.

    Raised instead of ever executing code from a pickle: the blob referenced a class or
    function other than builtin containers and scalars, was truncated, or was not a pickle.
    """


class SchemaError(SyncstatsError):
    """A DataFrame does not have the documented columns or dtypes."""


class NoDataError(SyncstatsError):
    """A path holds nothing syncstats can load."""


class ParameterError(SyncstatsError, ValueError):
    """An argument or option has a value outside what it accepts."""


class OutputError(SyncstatsError):
    """An output file cannot be written (missing or read-only folder, full disk, ...).

    Parameters
    ----------
    path : str or os.PathLike
        The file or folder concerned.
    detail : str
        What went wrong.
    """

    def __init__(self, path: str | os.PathLike[str], detail: str):
        self.path = os.fspath(path)
        self.detail = detail
        super().__init__(f"{self.path}: {detail}")


class MissingDependencyError(SyncstatsError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class SyncstatsWarning(UserWarning):
    """Base class of syncstats' warnings."""


class CorruptStatsWarning(SyncstatsWarning):
    """A stats file was unreadable or implausible and was set aside."""
