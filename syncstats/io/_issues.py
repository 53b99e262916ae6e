"""Issue accounting shared by every reader: the ``issues`` table, its kinds, ``on_error``."""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from .. import schemas
from .._text import clean_path, clean_text
from ..exceptions import InputError, ParameterError

ON_ERROR = ("report", "raise")
_EMPTY: dict[str, pd.DataFrame] = {}


def empty_frame(schema: schemas.Schema) -> pd.DataFrame:
    """``schemas.empty(schema)``, built once (conform is slow for what it does here)."""
    if schema.name not in _EMPTY:
        _EMPTY[schema.name] = schemas.empty(schema)
    return _EMPTY[schema.name].copy()


#: Issue kinds that mean a unit (file, line, row, value) was not loaded or was altered;
#: with ``on_error="raise"`` they raise. Other kinds are caveats (a fallback was taken,
#: a duplicate was dropped, a file was not used) and never raise.
ERROR_KINDS = frozenset(
    {
        "unreadable",
        "empty",
        "bad_json",
        "torn_line",
        "unknown_form",
        "journal_blob",
        "not_object",
        "not_snapshot",
        "bad_value",
        "bad_time",
        "overflow",
        "undecodable_job",
        "bad_row",
        "no_table",
        "schema",
    }
)


def check_on_error(on_error: str) -> None:
    if on_error not in ON_ERROR:
        raise ParameterError(f"on_error must be one of {ON_ERROR}, found {on_error!r}")


class Issues:
    """Collects issue rows; raises instead when ``on_error='raise'`` and the kind is an error."""

    def __init__(self, on_error: str, error_class: type[InputError] = InputError):
        check_on_error(on_error)
        self.on_error = on_error
        self.error_class = error_class
        self.rows: list[tuple[Any, ...]] = []

    def add(
        self,
        source: str | None,
        path: str | os.PathLike[str],
        line: int | None,
        kind: str,
        detail: str,
    ) -> None:
        path, detail = clean_path(path), clean_text(detail)
        if self.on_error == "raise" and kind in ERROR_KINDS:
            raise self.error_class(path, f"{kind}: {detail}", line)
        source = clean_text(source) if isinstance(source, str) else source
        self.rows.append((source, path, line, kind, detail))

    def extend(self, other: Issues) -> None:
        self.rows.extend(other.rows)

    def frame(self) -> pd.DataFrame:
        if not self.rows:
            return empty_frame(schemas.ISSUES)
        src, path, line, kind, detail = zip(*self.rows, strict=True)
        frame = pd.DataFrame(
            {
                "source": pd.Series(src, dtype=object).fillna(""),
                "path": list(path),
                "line": pd.array(line, dtype="Int64"),
                "kind": list(kind),
                "detail": list(detail),
            }
        )
        return schemas.conform(frame, schemas.ISSUES, sort=False)
