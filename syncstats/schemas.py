"""The documented schemas of every DataFrame syncstats returns.

One place defines each frame's columns and dtypes; every reader builds its output with
:func:`conform` and checks it with :func:`validate`, and the tests check the same tables.

==============  =====================================================================
frame           columns (dtype)
==============  =====================================================================
``snapshots``   source (category), snapshot_at (datetime64[us, UTC]), session_start
                (datetime64[us, UTC], NaT when unknown; every time the readers load
                lies in 2000..2100, see ``syncstats._time.plausible``), jobs_processed,
                jobs_succeeded, jobs_failed, jobs_to_dlq, high_confidence_matches,
                low_confidence_matches (int64), total_processing_time (float64, s),
                time_from (category: field | filename | mtime | log), origin (str:
                ``path`` or ``path:line``)
``errors``      source (category), snapshot_at (datetime64[us, UTC]), error_type
                (category), count (int64), origin (str: the snapshot's origin, the key
                to join a count to its snapshot row)
``dlq``         source (category), id (int64), job_id, scene_id (Int64), error_type
                (category), error_message, stack_trace (str), retry_count (Int64),
                failed_at (datetime64[us, UTC]), origin (str: the database or export
                path); with ``decode_jobs=True`` also the ``job.*`` columns below
``job.*``       (:data:`DLQ_JOB`, after the ``dlq`` columns) job_id, scene_id (Int64),
                update_type (str), data (object: the dict as decoded), enqueued_at
                (datetime64[us, UTC]), job_key (str), retry_count (Int64),
                next_retry_at (datetime64[us, UTC]), last_error_type (str), extra
                (object: a dict of the job's other keys, None when there are none);
                then up to :data:`MAX_JOB_COLUMNS` ``job.<key>`` columns (object) for
                the first other str keys met (in file and row order), taken out of
                ``extra``. Missing when the job lacks the field or its blob is
                undecodable; a value of another type, an integer beyond int64 or a time
                outside 2000..2100 (``syncstats._time.plausible``) is missing too,
                and an issue
``issues``      source (category), path (str), line (Int64: 1-based line, or DLQ row id;
                NA for a whole file), kind (category), detail (str)
==============  =====================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._time import TIME_UNIT
from .exceptions import SchemaError
from .recording.stats import COUNTER_FIELDS

__all__ = [
    "Schema",
    "SNAPSHOTS",
    "ERRORS",
    "DLQ",
    "DLQ_JOB",
    "JOB_EXTRA",
    "MAX_JOB_COLUMNS",
    "ISSUES",
    "COUNTERS",
    "conform",
    "validate",
    "empty",
    "TIME_UNIT",
    "UTC_DTYPE",
]

#: dtype of every timestamp column.
UTC_DTYPE = pd.DatetimeTZDtype(unit=TIME_UNIT, tz="UTC")

#: Integer counters of the snapshot schema (the recording side's fields, in file order).
COUNTERS: tuple[str, ...] = COUNTER_FIELDS


@dataclass(frozen=True)
class Schema:
    """Name, ordered columns and dtypes of one frame."""

    name: str
    columns: dict[str, str]
    sort_by: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return list(self.columns)


SNAPSHOTS = Schema(
    "snapshots",
    {
        "source": "category",
        "snapshot_at": "datetime",
        "session_start": "datetime",
        **dict.fromkeys(COUNTERS, "int64"),
        "total_processing_time": "float64",
        "time_from": "category",
        "origin": "str",
    },
    sort_by=("source", "snapshot_at"),
)
ERRORS = Schema(
    "errors",
    {
        "source": "category",
        "snapshot_at": "datetime",
        "error_type": "category",
        "count": "int64",
        "origin": "str",
    },
    sort_by=("source", "snapshot_at"),
)
DLQ = Schema(
    "dlq",
    {
        "source": "category",
        "id": "int64",
        "job_id": "Int64",
        "scene_id": "Int64",
        "error_type": "category",
        "error_message": "str",
        "stack_trace": "str",
        "retry_count": "Int64",
        "failed_at": "datetime",
        "origin": "str",
    },
    sort_by=("source", "failed_at"),
)
#: Name of the column of a decoded job's keys that are not :data:`DLQ_JOB` fields.
JOB_EXTRA = "job.extra"
#: The job dict's fields (docs/formats.md §4, Stash2Plex ``worker/processor.py``), always
#: columns with ``read_dlq(decode_jobs=True)``, and ``job.extra``. Integers are
#: nullable (jobs moved straight to the DLQ lack ``retry_count``), epoch seconds UTC
#: times. Not part of :data:`DLQ`: the frame without ``decode_jobs`` lacks them.
DLQ_JOB = Schema(
    "dlq job",
    {
        "job.job_id": "Int64",
        "job.scene_id": "Int64",
        "job.update_type": "str",
        "job.data": "object",
        "job.enqueued_at": "datetime",
        "job.job_key": "str",
        "job.retry_count": "Int64",
        "job.next_retry_at": "datetime",
        "job.last_error_type": "str",
        JOB_EXTRA: "object",
    },
)
#: Most further ``job.<key>`` columns: a job's other keys (int keys, and str keys beyond
#: these, so that 60,000 keys cost no 60,000 columns) stay in ``job.extra``. An int key
#: 1 and a str key "1" thus never share the name ``job.1``: only a str key is a column.
MAX_JOB_COLUMNS = 16

ISSUES = Schema(
    "issues",
    {
        "source": "category",
        "path": "str",
        "line": "Int64",
        "kind": "category",
        "detail": "str",
    },
)


def _dtype(spec: str) -> object:
    if spec == "datetime":
        return UTC_DTYPE
    if spec == "category":
        return "category"
    return pd.api.types.pandas_dtype(spec)


def _cast(series: pd.Series, spec: str) -> pd.Series:
    if spec == "datetime":
        if not isinstance(series.dtype, pd.DatetimeTZDtype):
            series = pd.to_datetime(series, utc=True)
        return series.astype(UTC_DTYPE)
    if spec == "category":
        if isinstance(series.dtype, pd.CategoricalDtype):
            cats = series.cat.categories
            if cats.dtype != object and not pd.api.types.is_string_dtype(cats.dtype):
                return series.astype("str").astype("category")
            # categories are exactly the values present, in lexical order, however the
            # frame was built (sorting by the column is then lexical, as for strings)
            series = series.cat.remove_unused_categories()
            cats = series.cat.categories
            if not cats.is_monotonic_increasing:
                return series.cat.reorder_categories(cats.sort_values())
            return series
        return series.astype("str").astype("category") if len(series) else series.astype(
            pd.CategoricalDtype(pd.Index([], dtype="str"))
        )
    return series.astype(_dtype(spec))


def empty(schema: Schema) -> pd.DataFrame:
    """An empty frame with the schema's columns and dtypes.

    Examples
    --------
    >>> empty(ISSUES).dtypes["line"]
    Int64Dtype()
    """
    return conform(pd.DataFrame({c: pd.Series([], dtype=object) for c in schema.names}), schema)


def conform(frame: pd.DataFrame, schema: Schema, *, sort: bool = True) -> pd.DataFrame:
    """Return *frame* with the schema's columns first, cast to its dtypes, sorted.

    Extra columns (e.g. decoded ``job.*`` fields) are kept after the schema's columns.
    A column that is missing is an error: readers must build every column.

    Raises
    ------
    SchemaError
        Naming the missing column or the column that cannot be cast.
    """
    missing = [c for c in schema.names if c not in frame.columns]
    if missing:
        raise SchemaError(f"{schema.name} frame lacks column(s) {missing}")
    out = {}
    for col, spec in schema.columns.items():
        try:
            out[col] = _cast(frame[col], spec)
        except (TypeError, ValueError, OverflowError) as exc:
            raise SchemaError(
                f"{schema.name}.{col}: cannot be cast to {spec} ({exc})"
            ) from None
    extra = [c for c in frame.columns if c not in schema.columns]
    result = pd.DataFrame(out, index=frame.index)
    for col in extra:
        result[col] = frame[col]
    if sort and schema.sort_by and len(result):
        result = result.sort_values(list(schema.sort_by), kind="stable")
    return result.reset_index(drop=True)


def validate(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Check that *frame* has the schema's columns, in order, with its dtypes.

    Returns
    -------
    DataFrame
        *frame* itself, for chaining.

    Raises
    ------
    SchemaError
        Naming the first column that is missing or of another dtype.

    Examples
    --------
    >>> validate(empty(SNAPSHOTS), SNAPSHOTS).shape
    (0, 12)
    """
    names = list(frame.columns[: len(schema.columns)])
    if names != schema.names:
        raise SchemaError(f"{schema.name} frame: expected columns {schema.names}, found {names}")
    for col, spec in schema.columns.items():
        dtype = frame[col].dtype
        if spec == "category":
            ok = isinstance(dtype, pd.CategoricalDtype)
        elif spec == "datetime":
            ok = dtype == UTC_DTYPE
        elif spec == "str":
            ok = isinstance(dtype, pd.StringDtype)
        else:
            ok = dtype == _dtype(spec)
        if not ok:
            raise SchemaError(f"{schema.name}.{col}: expected dtype {spec}, found {dtype}")
    return frame


def int64_max() -> int:
    """Largest value an int64 counter column holds (larger inputs saturate)."""
    return int(np.iinfo(np.int64).max)
