"""``SyncData``: the four frames every reader returns, concatenable."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from .. import schemas
from .._dispatch import is_dask
from ..exceptions import ParameterError
from ._issues import ERROR_KINDS

__all__ = ["SyncData", "concat", "LAYOUTS", "describe_layout"]


def _empty(schema: schemas.Schema):  # default_factory helper
    return lambda: schemas.empty(schema)


@dataclass(frozen=True, eq=False)
class SyncData:
    """What was loaded: ``snapshots``, ``errors``, ``dlq`` and the ``issues`` met.

    Attributes
    ----------
    snapshots : DataFrame
        One row per snapshot (schema :data:`syncstats.schemas.SNAPSHOTS`).
    errors : DataFrame
        ``errors_by_type`` in long form (:data:`syncstats.schemas.ERRORS`).
    dlq : DataFrame
        One row per dead-letter entry (:data:`syncstats.schemas.DLQ`).
    issues : DataFrame
        One row per unreadable file, torn line, undecodable value, schema problem or
        fallback taken (:data:`syncstats.schemas.ISSUES`).
    layout : str or None
        What :func:`~syncstats.load` recognised the input as (a key of
        :data:`~syncstats.io.syncdata.LAYOUTS`: ``'fleet'``, ``'worker'``, ``'plugin'``,
        ``'file'``, ``'store'``); None for frames put together otherwise.

    Examples
    --------
    >>> a = SyncData(); b = SyncData()
    >>> (a + b).snapshots.shape
    (0, 12)
    """

    snapshots: pd.DataFrame = field(default_factory=_empty(schemas.SNAPSHOTS))
    errors: pd.DataFrame = field(default_factory=_empty(schemas.ERRORS))
    dlq: pd.DataFrame = field(default_factory=_empty(schemas.DLQ))
    issues: pd.DataFrame = field(default_factory=_empty(schemas.ISSUES))
    layout: str | None = None

    def __post_init__(self) -> None:
        schemas.validate(self.snapshots, schemas.SNAPSHOTS)
        schemas.validate(self.errors, schemas.ERRORS)
        schemas.validate(self.dlq, schemas.DLQ)
        schemas.validate(self.issues, schemas.ISSUES)

    def __add__(self, other: SyncData) -> SyncData:
        if not isinstance(other, SyncData):
            return NotImplemented
        return concat([self, other])

    @property
    def sources(self) -> list[str]:
        """Every source that appears in any frame, sorted."""
        names: set[str] = set()
        for frame in (self.snapshots, self.errors, self.dlq):
            if is_dask(frame):  # lazy: its known categories
                names.update(str(s) for s in frame["source"].cat.categories)
            else:
                names.update(str(s) for s in frame["source"].unique())
        return sorted(names)

    def select(self, sources: str | Iterable[str] | None) -> SyncData:
        """Only the rows of the given sources (all four frames); None keeps everything.

        Raises
        ------
        ParameterError
            When a name is not a source of this data (the message lists the known ones).

        Examples
        --------
        >>> SyncData().select(None).sources
        []
        >>> SyncData().select(["worker-x"])
        Traceback (most recent call last):
        ...
        syncstats.exceptions.ParameterError: sources: unknown source 'worker-x'; known: none
        """
        if sources is None:
            return self
        keep = {sources} if isinstance(sources, str) else {str(s) for s in sources}
        known = self.known_sources()
        unknown = sorted(keep - set(known))
        if unknown:
            names = ", ".join(repr(u) for u in unknown)
            raise ParameterError(
                f"sources: unknown source{'s' * (len(unknown) > 1)} {names}; known: "
                f"{', '.join(known) or 'none'}"
            )

        def pick(frame: pd.DataFrame) -> pd.DataFrame:
            if is_dask(frame):  # lazy: filter per partition
                names = [c for c in frame["source"].cat.categories if c in keep]
                out = frame[frame["source"].isin(names)]
                return out.assign(source=out["source"].cat.set_categories(names))
            mask = frame["source"].astype("str").isin(keep)
            out = frame[mask].reset_index(drop=True)
            for col in out.columns:  # categories are the values present
                if isinstance(out[col].dtype, pd.CategoricalDtype):
                    out[col] = out[col].cat.remove_unused_categories()
            return out

        return SyncData(
            snapshots=pick(self.snapshots), errors=pick(self.errors), dlq=pick(self.dlq),
            issues=pick(self.issues), layout=self.layout,
        )

    def known_sources(self) -> list[str]:
        """:attr:`sources` and the sources that appear only in error ``issues`` (a worker
        whose folder could not be read, say), sorted.

        Examples
        --------
        >>> SyncData().known_sources()
        []
        """
        names = set(self.sources)
        issues = self.issues
        if not is_dask(issues):
            errors = issues[issues["kind"].astype("str").isin(ERROR_KINDS)]
            names.update(str(s) for s in errors["source"].unique() if str(s))
        return sorted(names)

    def to_parquet(self, path: str | os.PathLike[str]) -> dict[str, int]:
        """Append these frames to a Parquet history store (see :mod:`syncstats.store`).

        Hive-partitioned by source and month, append-only and idempotent: rows the store
        already holds are not written again. Returns the rows written per frame.

        Examples
        --------
        >>> import tempfile
        >>> SyncData().to_parquet(tempfile.mkdtemp())
        {'snapshots': 0, 'errors': 0, 'dlq': 0, 'issues': 0}
        """
        from ..store import write_parquet

        return write_parquet(self, path)

    def __repr__(self) -> str:
        layout = "" if self.layout is None else f"layout={self.layout!r}, "
        return (
            f"SyncData({layout}sources={self.sources}, snapshots={_size(self.snapshots)}, "
            f"errors={_size(self.errors)}, dlq={_size(self.dlq)}, issues={_size(self.issues)})"
        )

    def _repr_html_(self) -> str:
        from html import escape

        rows = "".join(
            f"<tr><td>{name}</td><td>{escape(_size(frame, ','))}</td></tr>"
            for name, frame in (
                ("snapshots", self.snapshots),
                ("errors", self.errors),
                ("dlq", self.dlq),
                ("issues", self.issues),
            )
        )
        srcs = escape(", ".join(self.sources)) or "none"
        layout = "" if self.layout is None else f" ({escape(describe_layout(self.layout))})"
        return (
            f"<div><b>SyncData</b>{layout} — sources: {srcs}<table><tr><th>frame</th><th>rows</th>"
            f"</tr>{rows}</table></div>"
        )


#: The layouts :func:`~syncstats.load` recognises, as words.
LAYOUTS = {
    "fleet": "a fleet root: one folder per worker",
    "worker": "one worker's folder",
    "plugin": "the worker's plugin data folder",
    "file": "a single file",
    "store": "a Parquet store",
}


def describe_layout(layout: str | None) -> str:
    """*layout* (``SyncData.layout``) in words.

    Examples
    --------
    >>> describe_layout("worker")
    "one worker's folder"
    """
    return LAYOUTS.get(layout or "", "frames put together by hand")


def _size(frame: pd.DataFrame, spec: str = "") -> str:
    """Row count, without computing a lazy (dask) frame."""
    if is_dask(frame):
        return f"<dask, {frame.npartitions} partitions>"
    return format(len(frame), spec)


def _concat(frames: list[pd.DataFrame], schema: schemas.Schema) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return schemas.empty(schema)
    if len(frames) == 1:
        return frames[0].copy()  # never share a frame between an input and the output
    # Categories differ between inputs: concatenate as strings, re-categorise once.
    cats = [c for c, spec in schema.columns.items() if spec == "category"]
    parts = [f.astype({c: "str" for c in cats}) for f in frames]
    return schemas.conform(pd.concat(parts, ignore_index=True), schema, sort=bool(schema.sort_by))


def concat(items: Iterable[SyncData]) -> SyncData:
    """Concatenate several :class:`SyncData` frame by frame (re-sorted, categories unioned).

    Examples
    --------
    >>> concat([SyncData(), SyncData()]).issues.shape
    (0, 5)
    """
    items = list(items)
    return SyncData(
        snapshots=_concat([i.snapshots for i in items], schemas.SNAPSHOTS),
        errors=_concat([i.errors for i in items], schemas.ERRORS),
        dlq=_concat([i.dlq for i in items], schemas.DLQ),
        issues=_concat([i.issues for i in items], schemas.ISSUES),
    )
