"""The data :func:`~syncstats.report.render_report` loaded, handed to the report kernel.

Arrow IPC files (one per frame) and a small JSON file in the render's private temporary
folder: the kernel reads them instead of loading the data directory a second time. Arrow
keeps the values and the dtypes (categories, time zones, pandas' ``str``); an empty
categorical's categories are restored to ``str``. Nothing is unpickled.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from ..exceptions import InputError
from ..io.syncdata import SyncData

__all__ = ["write_handoff", "read_handoff"]

_FRAMES = ("snapshots", "errors", "dlq", "issues")
_META = "syncdata.json"


def _restore(frame: pd.DataFrame) -> pd.DataFrame:
    """Arrow gives an empty categorical object categories; the frames' are ``str``."""
    for col in frame.columns:
        dtype = frame[col].dtype
        if isinstance(dtype, pd.CategoricalDtype) and len(dtype.categories) == 0:
            frame[col] = frame[col].cat.set_categories(pd.Index([], dtype="str"))
    return frame


def write_handoff(data: SyncData, directory: str | os.PathLike[str]) -> Path:
    """Write *data* (pandas frames) into *directory* (created) for :func:`read_handoff`."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    for name in _FRAMES:
        getattr(data, name).to_feather(root / f"{name}.arrow")
    (root / _META).write_text(json.dumps({"layout": data.layout}))
    return root


def read_handoff(directory: str | os.PathLike[str]) -> SyncData:
    """The :class:`~syncstats.SyncData` :func:`write_handoff` wrote into *directory*.

    Examples
    --------
    >>> import tempfile, syncstats
    >>> d = write_handoff(syncstats.SyncData(layout="file"), tempfile.mkdtemp())
    >>> read_handoff(d).layout
    'file'
    """
    root = Path(directory)
    try:
        meta = json.loads((root / _META).read_text())
        frames = {name: _restore(pd.read_feather(root / f"{name}.arrow"))
                  for name in _FRAMES}
    except (OSError, ValueError) as exc:
        raise InputError(root, f"expected the data render_report handed over: {exc}") from None
    return SyncData(**frames, layout=meta.get("layout"))
