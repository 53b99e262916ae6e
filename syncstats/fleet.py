"""Fleet scale: the same analysis on Dask (``dask.dataframe`` + ``dask.distributed``).

A Parquet store (:meth:`~syncstats.SyncData.to_parquet`) read with :func:`read_parquet_dask` gives a
:class:`~syncstats.SyncData` whose ``snapshots`` and ``errors`` are dask DataFrames
partitioned **by source**: each partition holds every snapshot of a few whole sources,
sorted by ``(source, snapshot_at)``, and partition *i* of ``errors`` holds the same
sources as partition *i* of ``snapshots``. ``dlq`` and ``issues`` stay pandas (one row
per dead letter or problem: small next to a year of snapshots).

The analysis functions accept those frames and run their one pandas implementation on
each partition (:func:`map_sources`), or, for the aggregates, a per-partition partial
aggregate that is combined and finished exactly as the pandas path finishes a single
partition (:func:`reduce_sources`). So the results equal the pandas path's:

========================  ==========================================================
function                  with dask input
========================  ==========================================================
``increments``            lazy dask DataFrame (per source partition)
``error_increments``      lazy dask DataFrame (per source partition)
``audit``                 lazy dask DataFrame (per source partition)
``trend``                 pandas DataFrame (partial sums per partition, then finished)
``success_rate``          pandas Series/DataFrame (the same)
``error_breakdown``       pandas DataFrame (the same)
``error_trend``           pandas DataFrame (the same)
========================  ==========================================================

:func:`connect` returns a ``distributed.Client``: of a ``LocalCluster`` sized to the
machine, or of an existing scheduler.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from . import schemas
from .exceptions import MissingDependencyError, ParameterError

__all__ = ["is_dask", "read_parquet_dask", "from_syncdata", "connect", "close_client",
           "map_sources", "per_source", "reduce_sources", "compute", "window_rows"]

F = TypeVar("F", bound=Callable[..., Any])

#: Parquet bytes per dask partition (whole sources are never split).
PARTITION_BYTES = 64 << 20


def is_dask(obj: Any) -> bool:
    """True for a dask DataFrame or Series (checked without importing dask)."""
    return type(obj).__module__.split(".")[0] in {"dask", "dask_expr"}


def _no_string_conversion() -> Any:
    """Keep pandas' own ``str`` dtype: dask would turn it into ``string[pyarrow]``."""
    import dask

    return dask.config.set({"dataframe.convert-string": False})


def _require_dask() -> Any:
    try:
        import dask.dataframe as dd
    except ImportError as exc:  # the [dask] extra is not installed
        raise MissingDependencyError(
            "engine='dask' needs the dask extra: pip install 'syncstats[dask]' "
            f"(dask[dataframe] and distributed); import failed: {exc}"
        ) from None
    return dd


def _groups(sizes: dict[str, int], budget: int) -> list[list[str]]:
    """Consecutive sources packed into groups of about *budget* bytes (never split)."""
    groups: list[list[str]] = []
    current: list[str] = []
    total = 0
    for source, size in sizes.items():
        if current and total + size > budget:
            groups.append(current)
            current, total = [], 0
        current.append(source)
        total += size
    if current:
        groups.append(current)
    return groups


def _load_group(
    files: dict[str, list[Path]], *, table: str, categories: list[str]
) -> pd.DataFrame:
    from .io.parquet import load_files

    return load_files(files, table, categories)


def read_parquet_dask(
    path: str | os.PathLike[str],
    *,
    sources: str | Iterable[str] | None = None,
    partition_bytes: int = PARTITION_BYTES,
) -> Any:
    """Open a Parquet store lazily: ``snapshots``/``errors`` as source-partitioned dask frames.

    Parameters
    ----------
    path : str or path
        A store written by :meth:`~syncstats.SyncData.to_parquet` / ``syncstats export --parquet``.
    sources : str or list of str, optional
        Only these sources.
    partition_bytes : int, default 64 MiB
        Parquet bytes (snapshots + errors) per partition; whole sources are kept together.

    Returns
    -------
    SyncData
        ``snapshots`` and ``errors``: dask DataFrames with the pandas schemas (``source``
        categories known: every source of the store); ``dlq``, ``issues``: pandas.

    Examples
    --------
    >>> import tempfile, syncstats
    >>> store = tempfile.mkdtemp(); _ = syncstats.SyncData().to_parquet(store)
    >>> data = read_parquet_dask(store)
    >>> data.snapshots.npartitions, len(data.snapshots.compute())
    (1, 0)
    """
    dd = _require_dask()
    from .io.parquet import TABLES, _check_store, load_files, store_files
    from .io.syncdata import SyncData

    root = Path(path)
    _check_store(root)
    wanted = [sources] if isinstance(sources, str) else sources
    snap_files = store_files(root, "snapshots", wanted)
    err_files = store_files(root, "errors", wanted)
    names = sorted(set(snap_files) | set(err_files))
    sizes = {
        s: sum(f.stat().st_size for f in [*snap_files.get(s, []), *err_files.get(s, [])])
        for s in names
    }
    groups = _groups(sizes, partition_bytes) or [[]]
    frames = {}
    for table, files in (("snapshots", snap_files), ("errors", err_files)):
        meta = schemas.empty(TABLES[table][0])
        meta["source"] = meta["source"].cat.set_categories(names)
        with _no_string_conversion():
            # each task carries only its own sources' file lists
            frames[table] = dd.from_map(
                _load_group, [{s: files.get(s, []) for s in g} for g in groups],
                table=table, categories=names, meta=meta, enforce_metadata=False,
            )
    return SyncData(
        snapshots=frames["snapshots"], errors=frames["errors"],
        dlq=load_files(store_files(root, "dlq", wanted), "dlq"),
        issues=load_files(store_files(root, "issues", wanted), "issues"), layout="store",
    )


def _piece(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


def from_syncdata(data: Any, *, npartitions: int | None = None) -> Any:
    """An in-memory :class:`~syncstats.SyncData` as dask frames partitioned by source.

    Parameters
    ----------
    data : SyncData
        Pandas frames (e.g. from :func:`~syncstats.load`).
    npartitions : int, optional
        Number of partitions (default: one per source); sources are never split.

    Returns
    -------
    SyncData
        ``snapshots``/``errors`` as dask DataFrames laid out as :func:`read_parquet_dask`
        lays them out; ``dlq``/``issues`` unchanged.

    Examples
    --------
    >>> import syncstats
    >>> from_syncdata(syncstats.SyncData()).snapshots.npartitions
    1
    """
    dd = _require_dask()
    from .io.syncdata import SyncData

    names = sorted({str(s) for f in (data.snapshots, data.errors)
                    for s in f["source"].unique()})
    n = max(1, min(npartitions or len(names), len(names) or 1))
    groups = [names[i * len(names) // n:(i + 1) * len(names) // n] for i in range(n)]
    frames = {}
    for table in ("snapshots", "errors"):
        frame = getattr(data, table)
        frame = frame.assign(source=frame["source"].cat.set_categories(names))
        pieces = [frame[frame["source"].isin(g)].reset_index(drop=True) for g in groups]
        with _no_string_conversion():
            frames[table] = dd.from_map(_piece, pieces, meta=frame.iloc[:0],
                                        enforce_metadata=False)
    return SyncData(snapshots=frames["snapshots"], errors=frames["errors"], dlq=data.dlq,
                    issues=data.issues, layout=data.layout)


def connect(scheduler: str | None = None, *, n_workers: int | None = None) -> Any:
    """A ``distributed.Client``: of the scheduler at *scheduler*, else of a new
    ``LocalCluster`` sized to the machine.

    The local cluster runs one single-threaded worker process per core (the analysis is
    pandas code holding the GIL), each with an equal share of the machine's memory.
    Close the client (it is a context manager) to stop the cluster.

    Examples
    --------
    >>> with connect(n_workers=1) as client:            # doctest: +SKIP
    ...     print(client.dashboard_link)
    """
    _require_dask()
    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler)
    workers = n_workers or max(1, os.cpu_count() or 1)
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=":0")  # any free port: never a clash
    client = Client(cluster)
    client._syncstats_cluster = cluster  # closed with the client (see close_client)
    return client


def close_client(client: Any) -> None:
    """Close a client from :func:`connect` and the local cluster it started, if any."""
    cluster = getattr(client, "_syncstats_cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


def _meta_of(func: Callable[..., Any], frames: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return func(*(f._meta for f in frames), **kwargs)


def map_sources(func: Callable[..., pd.DataFrame], *frames: Any, **kwargs: Any) -> Any:
    """Apply the pandas *func* to each source partition (partition *i* of every frame).

    The frames must be partitioned by source the same way (as :func:`read_parquet_dask`
    makes them); *func* sees whole sources, so per-source rules hold exactly.
    """
    dd = _require_dask()
    counts = {f.npartitions for f in frames}
    if len(counts) != 1:
        raise ParameterError(
            f"{func.__name__}: the dask frames have {sorted(counts)} partitions; they must "
            "be partitioned by source the same way (use syncstats.read_parquet(..., "
            "engine='dask'))"
        )
    meta = _meta_of(func, frames, kwargs)
    with _no_string_conversion():
        return dd.map_partitions(func, *frames, meta=meta, align_dataframes=False,
                                 enforce_metadata=False, **kwargs)


def per_source(frames: int = 1) -> Callable[[F], F]:
    """Decorator: a pandas function of whole sources accepts source-partitioned dask frames.

    The first *frames* positional arguments are frames (a ``None`` one is left out);
    when any is a dask frame, all must be, and the function runs on each partition
    through :func:`map_sources` (lazily); otherwise it is called as is.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            given = args[:frames]
            if not any(is_dask(f) for f in given):
                return func(*args, **kwargs)
            lazy = [f for f in given if f is not None]
            if not all(is_dask(f) for f in lazy):
                raise ParameterError(
                    f"{func.__name__}: mix of dask and pandas frames; pass both as dask "
                    "frames partitioned by source (syncstats.load(..., engine='dask'))"
                )
            if len(args) > frames:
                raise ParameterError(f"{func.__name__}: pass options by keyword with dask")
            return map_sources(func, *lazy, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def reduce_sources(
    partial: Callable[..., pd.DataFrame],
    finish: Callable[[pd.DataFrame], Any],
    frame: Any,
    **kwargs: Any,
) -> Any:
    """``finish(partial(all rows))`` computed as ``finish(concat(partial(partition)))``.

    *partial* returns additive aggregates (sums, maxima) that *finish* combines again;
    its output per partition is small (one row per bucket and group), so only those
    rows travel to the client.
    """
    meta = _meta_of(partial, (frame,), kwargs)
    with _no_string_conversion():
        parts = frame.map_partitions(partial, meta=meta, enforce_metadata=False, **kwargs)
    return finish(compute(parts))


def window_rows(frame: Any, column: str, lower: Any = None) -> pd.DataFrame:
    """*frame*'s rows with ``column > lower`` (all when *lower* is None) as pandas.

    The way to bring a window of a lazy result (increments, audit findings) to the
    client: the filter runs on the workers. A pandas *frame* is filtered the same way.
    """
    if lower is not None:
        frame = frame[frame[column] > lower]
    return compute(frame) if is_dask(frame) else frame


def compute(obj: Any) -> Any:
    """Compute a dask object; categorical columns whose categories differ between
    partitions are unioned (sorted, as the pandas path's) instead of becoming object."""
    if not is_dask(obj):
        return obj
    import dask

    if not hasattr(obj, "npartitions") or getattr(obj, "ndim", 0) == 0:  # a lazy scalar
        return obj.compute()
    parts = dask.compute(*obj.to_delayed())
    parts = [p for p in parts if len(p)] or list(parts[:1])
    return concat_parts(parts)


def concat_parts(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate partition results; a categorical column whose categories differ
    between partitions gets their sorted union (pandas would fall back to object)."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    if isinstance(first, pd.Series):
        return pd.concat(parts)
    cats = [c for c in first.columns if isinstance(first[c].dtype, pd.CategoricalDtype)
            and any(not p[c].cat.categories.equals(first[c].cat.categories) for p in parts)]
    fixed = []
    if cats:  # data-dependent categories (error types...): the sorted union, as conform
        union = {c: sorted(set().union(*(set(p[c].cat.categories) for p in parts)))
                 for c in cats}
        for p in parts:
            p = p.copy()
            for c in cats:
                p[c] = p[c].cat.set_categories(union[c])
            fixed.append(p)
    else:  # same categories everywhere (fixed sets such as increments' kind): kept
        fixed = parts
    return pd.concat(fixed, ignore_index=True)
