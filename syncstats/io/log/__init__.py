"""The log reader: the worker's ``Stats:`` lines in a host log, in every capture form.

``reader.py`` is the entry point and the reference implementation; the fast engine
lives in its own file, named after its technique.
"""

from .reader import (
    LOG_PATTERNS,
    MAX_LINE_BYTES,
    PAYLOAD_KEYS,
    WORKER_MARK,
    LineReader,
    check_tz,
    go_unquote,
    is_blob,
    open_log,
    parse_log_line,
    read_log,
    read_log_files,
    read_log_files_reference,
    unwrap,
)

__all__ = [
    "LOG_PATTERNS",
    "LineReader",
    "MAX_LINE_BYTES",
    "PAYLOAD_KEYS",
    "WORKER_MARK",
    "check_tz",
    "go_unquote",
    "is_blob",
    "open_log",
    "parse_log_line",
    "read_log",
    "read_log_files",
    "read_log_files_reference",
    "unwrap",
]
