"""Analysis: pure functions of DataFrames (no I/O, no pyplot), returning new tidy frames."""

from .._time import format_duration
from .counters import audit, error_increments, increments
from .errors import error_breakdown, error_signatures, error_trend, signature
from .rates import SRE_WINDOWS, burn_rate, success_rate, trend
from .summary import Summary, batch_summary, escape_markdown
from .triage import TRANSIENT_ERRORS, DLQTriage, dlq_triage

__all__ = [
    "DLQTriage",
    "SRE_WINDOWS",
    "Summary",
    "TRANSIENT_ERRORS",
    "audit",
    "batch_summary",
    "burn_rate",
    "dlq_triage",
    "error_breakdown",
    "error_increments",
    "error_signatures",
    "error_trend",
    "escape_markdown",
    "format_duration",
    "increments",
    "signature",
    "success_rate",
    "trend",
]
