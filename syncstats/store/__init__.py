"""The Parquet history store: frames persisted as hive-partitioned Parquet, append-only.

It stores and reads frames and knows nothing of the worker's files: ``syncstats.io``
builds :class:`~syncstats.SyncData` from it (:func:`syncstats.read_parquet`) and writes to
it (:meth:`syncstats.SyncData.to_parquet`).
"""

from .parquet import MARKER, TABLES, check_store, is_store, read_tables, write_parquet

__all__ = ["MARKER", "TABLES", "check_store", "is_store", "read_tables", "write_parquet"]
