"""Readers: files on disk into typed DataFrames (``SyncData``), nothing lost or hidden."""

from .capture import capture_snapshot
from .discover import discover, load
from .dlq import read_dlq
from .log import read_log
from .parquet import read_parquet
from .snapshots import read_snapshots
from .syncdata import LAYOUTS, SyncData, concat, describe_layout

__all__ = [
    "LAYOUTS", "SyncData", "capture_snapshot", "concat", "describe_layout", "discover", "load",
    "read_dlq", "read_log", "read_parquet", "read_snapshots",
]
