"""Readers: files on disk into typed DataFrames (``SyncData``), nothing lost or hidden."""

from .discover import discover, load
from .dlq import read_dlq
from .log import read_log
from .snapshots import read_snapshots
from .store import read_parquet
from .syncdata import LAYOUTS, SyncData, concat, describe_layout

__all__ = [
    "LAYOUTS", "SyncData", "concat", "describe_layout", "discover", "load",
    "read_dlq", "read_log", "read_parquet", "read_snapshots",
]
