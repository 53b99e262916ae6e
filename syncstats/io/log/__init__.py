"""The log reader: the worker's ``Stats:`` lines in a host log, in every capture form.

``reader.py`` is the entry point (``engine=`` is chosen there) and the reference
implementation; ``_templates.py`` is the fast engine, named after its technique; both
read lines with ``_lines.py`` (line forms, payload, one line to a record, times).
"""

from ..._time import check_tz
from ._lines import (
    PAYLOAD_KEYS,
    WORKER_MARK,
    LineReader,
    go_unquote,
    is_blob,
    open_log,
    parse_log_line,
    unwrap,
)
from .reader import (
    ENGINES,
    LOG_PATTERNS,
    MAX_LINE_BYTES,
    check_engine,
    read_log,
    read_log_files,
    read_log_files_reference,
)

__all__ = [
    "ENGINES",
    "LOG_PATTERNS",
    "LineReader",
    "MAX_LINE_BYTES",
    "PAYLOAD_KEYS",
    "WORKER_MARK",
    "check_engine",
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
