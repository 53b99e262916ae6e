"""Reports and notebooks: the scheduled HTML report and the analyst notebooks.

The notebooks are package data (``syncstats/report/notebooks/``): :func:`render_report`
executes the report notebook with papermill and exports it without code;
:func:`copy_notebooks` gives an analyst their own copies, pointed at their data.
"""

from .copies import copy_notebooks
from .display import labels, shorten
from .handoff import read_handoff, write_handoff
from .render import (
    NOTEBOOKS,
    REPORT_NOTEBOOK,
    ReportError,
    execute_in_place,
    export_notebook,
    render_report,
)

__all__ = [
    "NOTEBOOKS", "REPORT_NOTEBOOK", "ReportError", "copy_notebooks", "execute_in_place",
    "export_notebook", "labels", "read_handoff", "render_report", "shorten", "write_handoff",
]
