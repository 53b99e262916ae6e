"""The snapshot reader: stats files, their copies and JSON Lines histories.

``reader.py`` is the entry point and the reference implementation; the fast engine
lives in its own file, named after its technique.
"""

from .reader import (
    SNAPSHOT_PATTERNS,
    drop_duplicate_snapshots,
    is_history,
    read_snapshot_files,
    read_snapshots,
)

__all__ = [
    "SNAPSHOT_PATTERNS",
    "drop_duplicate_snapshots",
    "is_history",
    "read_snapshot_files",
    "read_snapshots",
]
