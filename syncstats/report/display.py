"""Display helpers for the report notebooks: labels shortened for tables and text."""

from __future__ import annotations

import pandas as pd

from .._text import shorten

__all__ = ["labels", "shorten"]


def labels(frame: pd.DataFrame, width: int = 60, **widths: int) -> pd.DataFrame:
    """A copy of *frame* for display: text columns shortened with :func:`shorten`.

    The frames keep the full text; one huge value cannot stall the table's layout.

    Parameters
    ----------
    frame : DataFrame
        Any frame.
    width : int, default 60
        Characters kept of a text (object, string or category) value.
    **widths : int
        Per-column widths overriding *width*.

    Examples
    --------
    >>> labels(pd.DataFrame({"e": ["E" * 80], "n": [1]}), width=5)["e"].tolist()
    ['EEEE…']
    """
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or isinstance(out[col].dtype, (pd.CategoricalDtype,
                                                                    pd.StringDtype)):
            w = widths.get(col, width)
            out[col] = out[col].map(lambda v, w=w: v if pd.isna(v) else shorten(v, w))
    return out
