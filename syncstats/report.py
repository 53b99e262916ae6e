"""The scheduled report: execute ``notebooks/batch_summary.ipynb`` and export it.

papermill runs the notebook with an explicit kernel and working directory; nbconvert
exports it without code cells. The HTML is self-contained (figures as PNG data URIs, no
scripts fetched from the network) and is written atomically: a failed run never leaves a
half-written report in place.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._fsutil import atomic_write
from .exceptions import NoDataError, ParameterError, SyncstatsError

__all__ = ["render_report", "ReportError", "REPORT_NOTEBOOK", "export_notebook"]

_ROOT = Path(__file__).resolve().parent
#: The report notebook (the repository's ``notebooks/batch_summary.ipynb``).
REPORT_NOTEBOOK = _ROOT.parent / "notebooks" / "batch_summary.ipynb"
_TEMPLATES = _ROOT / "templates"
_FORMATS = {"html": ".html", "ipynb": ".ipynb", "md": ".md"}
_REMOTE = re.compile(r"<script[^>]+src=\"(?:https?:)?//|<link[^>]+href=\"(?:https?:)?//")


class ReportError(SyncstatsError):
    """The report notebook failed to execute or export."""


def export_notebook(nb: Any, fmt: str) -> tuple[bytes, dict[str, bytes]]:
    """Export an executed notebook node without code: ``(main file bytes, extra files)``.

    HTML embeds figures and loads nothing from the network; Markdown refers to figure
    files returned in the second item (``name -> bytes``).
    """
    import nbformat

    if fmt == "ipynb":
        return nbformat.writes(nb).encode(), {}
    opts = {"exclude_input": True, "exclude_input_prompt": True, "exclude_output_prompt": True}
    if fmt == "html":
        from nbconvert import HTMLExporter

        exporter = HTMLExporter(
            template_name="syncstats_offline", extra_template_basedirs=[str(_TEMPLATES)], **opts
        )
        body, _ = exporter.from_notebook_node(nb)
        remote = _REMOTE.search(body)
        if remote:  # never ship a report that phones home
            raise ReportError(f"the HTML export references a remote resource: {remote.group(0)}")
        return body.encode(), {}
    if fmt == "md":
        from nbconvert import MarkdownExporter

        body, resources = MarkdownExporter(**opts).from_notebook_node(
            nb, resources={"output_files_dir": "figures"}
        )
        return body.encode(), dict(resources.get("outputs", {}))
    raise ParameterError(f"format must be one of {sorted(_FORMATS)}, found {fmt!r}")


def render_report(
    path: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    window: str = "7d",
    freq: str = "1h",
    sources: Sequence[str] | None = None,
    slo: float = 0.95,
    now: str | None = None,
    fmt: str = "html",
    tz: str = "UTC",
    notebook: str | os.PathLike[str] | None = None,
    kernel_name: str = "python3",
    progress: bool = True,
    timeout: int = 600,
    engine: str = "pandas",
    scheduler: str | None = None,
) -> Path:
    """Render the batch-summary report of a data directory or Parquet store.

    Parameters
    ----------
    path : str or os.PathLike
        Data directory (as for :func:`~syncstats.load`).
    out : str or os.PathLike, optional
        Output file; default ``reports/batch_summary.<html|ipynb|md>``.
    window, freq, sources, slo, now, tz
        The notebook's parameters (window length, trend bucket size, sources to keep
        (None: all), SLO target, analysis time as ISO-8601 (None: the latest data),
        zone of log timestamps).
    fmt : {'html', 'ipynb', 'md'}
        Output format. HTML has no code cells, figures embedded, no network fetches.
    notebook : str or os.PathLike, optional
        The notebook to execute (default :data:`REPORT_NOTEBOOK`).
    kernel_name : str, default 'python3'
        Jupyter kernel (the environment's own ipykernel).
    progress : bool, default True
        Show papermill's progress bar on stderr.
    timeout : int, default 600
        Seconds a cell may run.
    engine : {'pandas', 'dask'}
        ``'dask'``: the notebook analyses *path* (best a Parquet store) on a dask cluster
        and brings only the report window's rows into the kernel.
    scheduler : str, optional
        With ``engine='dask'``: address of an existing scheduler (default: a
        ``LocalCluster`` sized to the machine, started by the notebook).

    Returns
    -------
    Path
        The report written.

    Raises
    ------
    NoDataError
        When *path* holds nothing loadable (checked before the notebook runs).
    ReportError
        When a cell fails; the message names the cell's error.
    """
    import papermill as pm

    from .io import load
    from .io.parquet import is_store

    if fmt not in _FORMATS:
        raise ParameterError(f"format must be one of {sorted(_FORMATS)}, found {fmt!r}")
    if engine not in ("pandas", "dask"):
        raise ParameterError(f"engine: expected 'pandas' or 'dask', found {engine!r}")
    data_path = Path(path).resolve()
    if engine == "dask" and is_store(data_path):  # lazy: lists the store's sources only
        data = load(data_path, engine="dask")
        empty = not data.sources
    else:
        data = load(data_path, tz=tz)
        empty = len(data.snapshots) == 0
    if empty and len(data.dlq) == 0:
        raise NoDataError(f"{path}: nothing loadable (no snapshots, log Stats: lines or DLQ rows)")
    nb_path = Path(notebook) if notebook is not None else REPORT_NOTEBOOK
    if not nb_path.is_file():
        raise ReportError(f"{nb_path}: report notebook not found")
    target = Path(out) if out is not None else Path("reports") / f"batch_summary{_FORMATS[fmt]}"
    params = {
        "data_path": str(data_path),
        "window": window,
        "freq": freq,
        "sources": list(sources) if sources else None,
        "slo": float(slo),
        "now": now,
        "tz": tz,
        "engine": engine,
        "scheduler": scheduler,
    }
    env_home = os.environ.get("HOME")
    if not env_home or not os.access(env_home, os.W_OK):  # cron's env -i
        os.environ["HOME"] = tempfile.gettempdir()
    with tempfile.TemporaryDirectory(prefix="syncstats-report-") as tmp:
        executed = Path(tmp) / "executed.ipynb"
        try:
            nb = pm.execute_notebook(
                str(nb_path), str(executed), parameters=params, kernel_name=kernel_name,
                cwd=str(nb_path.parent), progress_bar=progress, log_output=False,
                execution_timeout=timeout,
            )
        except pm.PapermillExecutionError as exc:
            raise ReportError(
                f"{nb_path.name}: cell {exc.exec_count} failed: {exc.ename}: {exc.evalue}"
            ) from None
        nb.metadata.pop("papermill", None)
        for cell in nb.cells:
            cell.metadata.pop("papermill", None)
            cell.metadata.pop("execution", None)
        body, extra = export_notebook(nb, fmt)
    for name, blob in extra.items():
        atomic_write(target.parent / name, blob)
    atomic_write(target, body)
    return target


def execute_in_place(notebook: str | os.PathLike[str], *, kernel_name: str = "python3",
                     timeout: int = 600) -> None:
    """Re-execute a committed notebook in its own directory and save it with its outputs.

    No timing or papermill metadata is recorded, so an unchanged result gives an
    unchanged file (what ``make notebooks`` runs; nbval then checks the outputs).
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(notebook).resolve()
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name=kernel_name, record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    nb.metadata.pop("widgets", None)
    atomic_write(path, (nbformat.writes(nb) + "\n").encode())


if __name__ == "__main__":  # python -m syncstats.report NOTEBOOK...
    import sys

    for arg in sys.argv[1:]:
        print(f"executing {arg}", file=sys.stderr)
        execute_in_place(arg)
