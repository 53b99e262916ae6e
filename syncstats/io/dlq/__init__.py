"""The DLQ reader: the worker's SQLite dead-letter queue and its exports.

``reader.py`` is the entry point and the reference implementation; the fast engine
lives in its own file, named after its technique.
"""

from .reader import (
    DLQ_COLUMNS,
    MAX_VALUE_BYTES,
    connect_readonly,
    has_dead_letters,
    is_sqlite,
    read_dlq,
    read_dlq_files,
)

__all__ = [
    "DLQ_COLUMNS",
    "MAX_VALUE_BYTES",
    "connect_readonly",
    "has_dead_letters",
    "is_sqlite",
    "read_dlq",
    "read_dlq_files",
]
