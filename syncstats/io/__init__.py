"""Readers: files on disk into typed DataFrames (``SyncData``), nothing lost or hidden."""

from .capture import capture_snapshot
from .discover import discover, load
from .dlq import read_dlq
from .log import read_log
from .parquet import read_parquet
from .snapshots import read_snapshots
from .syncdata import SyncData, concat

__all__ = [
    "SyncData",
    "capture_snapshot", "concat", "discover", "load", "read_dlq", "read_log", "read_parquet",
    "read_snapshots"]
