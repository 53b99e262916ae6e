"""The scheduled report: execute the report notebook (package data) and export it.

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
from importlib import resources
from pathlib import Path
from typing import Any

from .._checks import check_fraction
from .._dispatch import check_backend
from .._fsutil import atomic_write, check_writable
from .._time import check_freq, to_timedelta, to_utc
from ..exceptions import NoDataError, ParameterError, SyncstatsError
from .handoff import write_handoff

__all__ = ["render_report", "ReportError", "REPORT_NOTEBOOK", "NOTEBOOKS", "export_notebook",
           "execute_in_place"]

_PACKAGE = Path(str(resources.files("syncstats.report")))  # installed unzipped: a real folder
#: The analyst notebooks shipped with the package, by name.
NOTEBOOKS = {
    "batch_summary": _PACKAGE / "notebooks" / "batch_summary.ipynb",
    "dlq_triage": _PACKAGE / "notebooks" / "dlq_triage.ipynb",
}
#: The report notebook (``syncstats/report/notebooks/batch_summary.ipynb``, package data).
REPORT_NOTEBOOK = NOTEBOOKS["batch_summary"]
_TEMPLATES = _PACKAGE / "templates"
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
    backend: str = "pandas",
    scheduler: str | None = None,
    quiet: bool = False,
) -> Path:
    """Render the batch-summary report of a data directory or Parquet store.

    Every parameter, the sources named and that *out* can be written are checked before
    the kernel starts. With the pandas backend the data is loaded once, here, and the
    kernel is handed the loaded frames (Arrow files in a private temporary folder, the
    notebook's ``loaded_dir`` parameter; :func:`syncstats.report.read_handoff`) instead of
    reading *path* again.

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
    backend : {'pandas', 'dask'}
        ``'dask'``: the notebook analyses *path* (best a Parquet store) on a dask cluster
        and brings only the report window's rows into the kernel.
    scheduler : str, optional
        With ``backend='dask'``: address of an existing scheduler (default: a
        ``LocalCluster`` sized to the machine, started by the notebook).
    quiet : bool, default False
        No progress bar (as ``progress=False``). The kernel's own stderr (its start-up
        log lines) never reaches this process's stderr: it is kept aside and quoted only
        when the kernel fails.

    Returns
    -------
    Path
        The report written.

    Raises
    ------
    ParameterError
        For a bad parameter or a source not in the data (before the notebook runs).
    OutputError
        When *out* cannot be written (before the notebook runs).
    NoDataError
        When *path* holds nothing loadable (checked before the notebook runs).
    ReportError
        When a cell fails; the message names the cell's error.
    """
    import papermill as pm

    from .._time import check_tz
    from ..io import load
    from ..store import is_store

    if fmt not in _FORMATS:
        raise ParameterError(f"format must be one of {sorted(_FORMATS)}, found {fmt!r}")
    check_backend(backend)
    to_timedelta(window, "window")
    check_freq(freq, "freq")
    slo = check_fraction(slo, "slo", allow_one=False)
    if now is not None:
        now = to_utc(now, "now", within_window=True).isoformat()
    check_tz(tz)
    if isinstance(sources, str):
        sources = [sources]
    target = Path(out) if out is not None else Path("reports") / f"batch_summary{_FORMATS[fmt]}"
    check_writable(target)
    data_path = Path(path).resolve()
    if backend == "dask" and is_store(data_path):  # lazy: lists the store's sources only
        data = load(data_path, backend="dask")
        empty = not data.sources
    else:
        data = load(data_path, tz=tz)
        empty = len(data.snapshots) == 0
    if empty and len(data.dlq) == 0:
        raise NoDataError(f"{path}: nothing loadable (no snapshots, log Stats: lines or DLQ rows)")
    if sources:
        data.select(sources)  # an unknown name is refused here, listing the known ones
    nb_path = Path(notebook) if notebook is not None else REPORT_NOTEBOOK
    if not nb_path.is_file():
        raise ReportError(f"{nb_path}: report notebook not found")
    params = {
        "data_path": str(data_path),
        "window": window,
        "freq": freq,
        "sources": list(sources) if sources else None,
        "slo": float(slo),
        "now": now,
        "tz": tz,
        "backend": backend,
        "scheduler": scheduler,
    }
    with tempfile.TemporaryDirectory(prefix="syncstats-report-") as tmp:
        if backend == "pandas":  # the kernel takes the data loaded here instead of reloading
            params["loaded_dir"] = str(write_handoff(data, Path(tmp) / "loaded"))
        executed = Path(tmp) / "executed.ipynb"
        kernel_log = Path(tmp) / "kernel.log"
        try:
            with open(kernel_log, "wb") as log:
                nb = pm.execute_notebook(
                    str(nb_path), str(executed), parameters=params, kernel_name=kernel_name,
                    cwd=tmp, progress_bar=progress and not quiet,
                    log_output=False, execution_timeout=timeout,
                    kernel_manager_class=_kernel_manager(tmp, log),
                )
        except pm.PapermillExecutionError as exc:
            raise ReportError(
                f"{nb_path.name}: cell {exc.exec_count} failed: {exc.ename}: {exc.evalue}"
            ) from None
        except RuntimeError as exc:  # the kernel died or never started
            tail = kernel_log.read_text(errors="replace").strip().splitlines()[-1:]
            raise ReportError(f"{nb_path.name}: the kernel failed: {exc}"
                              + (f" (kernel: {tail[0]})" if tail else "")) from None
        nb.metadata.pop("papermill", None)
        for cell in nb.cells:
            cell.metadata.pop("papermill", None)
            cell.metadata.pop("execution", None)
        body, extra = export_notebook(nb, fmt)
    for name, blob in extra.items():
        atomic_write(target.parent / name, blob)
    atomic_write(target, body)
    return target


def _kernel_home(tmp: str) -> str:
    """A writable HOME for the kernel: this process's, or *tmp* where there is none
    (cron's ``env -i``) — given to the kernel only, never set in this process."""
    home = os.environ.get("HOME")
    return home if home and os.access(home, os.W_OK) else tmp


def _kernel_manager(tmp: str, stderr: Any) -> type:
    """A kernel manager class for papermill/nbclient that starts the kernel with a
    writable HOME, its connection file in *tmp*, and its stderr to *stderr* (a file)."""
    from jupyter_client.manager import AsyncKernelManager

    home = _kernel_home(tmp)

    class _ReportKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            kwargs.setdefault("connection_file", str(Path(tmp) / "kernel.json"))
            super().__init__(**kwargs)

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            kw["env"] = {**(kw.get("env") or os.environ), "HOME": home}
            kw["stderr"] = stderr
            await super()._async_launch_kernel(kernel_cmd, **kw)

    return _ReportKernelManager


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
