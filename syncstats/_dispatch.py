"""The one place that dispatches pandas vs dask (the backends of every analysis function).

A Parquet store (:meth:`~syncstats.SyncData.to_parquet`) read with
:func:`syncstats.fleet.read_parquet_dask` gives a
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

The public face of this module is :mod:`syncstats.fleet`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import pandas as pd

from .exceptions import MissingDependencyError, ParameterError

__all__ = ["BACKENDS", "check_backend", "is_dask", "require_dask", "no_string_conversion",
           "to_dask", "map_sources", "per_source", "reduce_sources", "compute", "window_rows",
           "concat_parts"]

F = TypeVar("F", bound=Callable[..., Any])

#: The backends every analysis function and reader accepts.
BACKENDS = ("pandas", "dask")


def check_backend(backend: Any, name: str = "backend") -> str:
    """*backend* if it is ``'pandas'`` or ``'dask'``; else a one-line ParameterError."""
    if backend not in BACKENDS:
        raise ParameterError(f"{name}: expected 'pandas' or 'dask', found {backend!r}")
    return backend


def is_dask(obj: Any) -> bool:
    """True for a dask DataFrame or Series (checked without importing dask)."""
    return type(obj).__module__.split(".")[0] in {"dask", "dask_expr"}


def no_string_conversion() -> Any:
    """Keep pandas' own ``str`` dtype: dask would turn it into ``string[pyarrow]``."""
    import dask

    return dask.config.set({"dataframe.convert-string": False})


def require_dask() -> Any:
    try:
        import dask.dataframe as dd
    except ImportError as exc:  # the [dask] extra is not installed
        raise MissingDependencyError(
            "backend='dask' needs the dask extra: pip install 'syncstats[dask]' "
            f"(dask[dataframe] and distributed); import failed: {exc}"
        ) from None
    return dd


def _piece(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


def to_dask(frames: dict[str, pd.DataFrame], *, npartitions: int | None = None
            ) -> dict[str, Any]:
    """``snapshots``/``errors`` of *frames* (pandas) as dask DataFrames partitioned by
    source, laid out as a Parquet store read with ``backend='dask'``; sources are never
    split (default: one partition per source). Returns the two dask frames."""
    dd = require_dask()

    names = sorted({str(s) for f in (frames["snapshots"], frames["errors"])
                    for s in f["source"].unique()})
    n = max(1, min(npartitions or len(names), len(names) or 1))
    groups = [names[i * len(names) // n:(i + 1) * len(names) // n] for i in range(n)]
    out = {}
    for table in ("snapshots", "errors"):
        frame = frames[table]
        frame = frame.assign(source=frame["source"].cat.set_categories(names))
        pieces = [frame[frame["source"].isin(g)].reset_index(drop=True) for g in groups]
        with no_string_conversion():
            out[table] = dd.from_map(_piece, pieces, meta=frame.iloc[:0],
                                        enforce_metadata=False)
    return out


def _meta_of(func: Callable[..., Any], frames: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return func(*(f._meta for f in frames), **kwargs)


def map_sources(func: Callable[..., pd.DataFrame], *frames: Any, **kwargs: Any) -> Any:
    """Apply the pandas *func* to each source partition (partition *i* of every frame).

    The frames must be partitioned by source the same way (as
    :func:`syncstats.fleet.read_parquet_dask` makes them); *func* sees whole sources, so
    per-source rules hold exactly.
    """
    dd = require_dask()
    counts = {f.npartitions for f in frames}
    if len(counts) != 1:
        raise ParameterError(
            f"{func.__name__}: the dask frames have {sorted(counts)} partitions; they must "
            "be partitioned by source the same way (use syncstats.read_parquet(..., "
            "backend='dask'))"
        )
    meta = _meta_of(func, frames, kwargs)
    with no_string_conversion():
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
                    "frames partitioned by source (syncstats.load(..., backend='dask'))"
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
    with no_string_conversion():
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
