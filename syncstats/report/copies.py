"""``copy_notebooks``: the analyst notebooks, copied out of the package for one's own data."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .._fsutil import atomic_write, check_writable
from ..exceptions import OutputError
from .render import NOTEBOOKS

__all__ = ["copy_notebooks"]


def _set(source: str, name: str, value: str) -> str:
    """*source* (a parameters cell) with ``name = ...`` set to *value* (comment kept)."""
    rx = re.compile(rf"^{name} = [^#\n]*?(\s*#.*)?$", re.M)
    if not rx.search(source):
        raise OutputError(name, "the notebook's parameters cell does not set it")
    return rx.sub(lambda m: f"{name} = {value!r}{m.group(1) or ''}", source, count=1)


def copy_notebooks(
    dest: str | os.PathLike[str],
    *,
    data: str | os.PathLike[str] = ".",
    overwrite: bool = False,
) -> list[Path]:
    """Copy the analyst notebooks (batch summary, DLQ triage) into *dest*, ready to open.

    Each copy's ``data_path`` parameter is *data* made absolute, the DLQ triage's
    ``export_path`` is ``requeue_candidates.csv`` beside it, and outputs are cleared
    (the packaged ones show the sample data): run them on your data.

    Parameters
    ----------
    dest : str or os.PathLike
        The folder to copy into (created if missing).
    data : str or os.PathLike, default '.'
        What the notebooks analyse: anything :func:`~syncstats.load` takes. Relative to
        the current directory.
    overwrite : bool, default False
        Replace notebooks already in *dest*; otherwise they are refused.

    Returns
    -------
    list of Path
        The notebooks written.

    Raises
    ------
    OutputError
        When *dest* cannot be written or already holds a notebook (without *overwrite*).

    Examples
    --------
    >>> import tempfile
    >>> [p.name for p in copy_notebooks(tempfile.mkdtemp(), data="data")]
    ['batch_summary.ipynb', 'dlq_triage.ipynb']
    """
    import nbformat

    folder = Path(dest)
    data_path = str(Path(data).resolve())
    targets = {name: folder / src.name for name, src in NOTEBOOKS.items()}
    for target in targets.values():
        check_writable(target)
        if target.exists() and not overwrite:
            raise OutputError(target, "already exists (pass --force to replace it)")
    written = []
    for name, src in NOTEBOOKS.items():
        nb = nbformat.read(src, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            if "parameters" in cell.metadata.get("tags", []):
                cell.source = _set(cell.source, "data_path", data_path)
                if name == "dlq_triage":
                    cell.source = _set(cell.source, "export_path", "requeue_candidates.csv")
            cell.outputs = []
            cell.execution_count = None
        atomic_write(targets[name], (nbformat.writes(nb) + "\n").encode())
        written.append(targets[name])
    return written
