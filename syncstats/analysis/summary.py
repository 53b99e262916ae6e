"""``batch_summary``: the analyst's one-glance answer, heir of the worker's summary line."""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..fleet import is_dask, window_rows
from ..io.syncdata import SyncData
from ._util import to_timedelta, to_utc, wilson
from .counters import audit, error_increments, increments
from .errors import error_breakdown, error_signatures
from .rates import success_rate

__all__ = ["batch_summary", "Summary", "escape_markdown"]


def _pct(x: float | None, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{100 * x:.{digits}f}%"


def _iso(ts: Any) -> str | None:
    if ts is None or ts is pd.NaT or (isinstance(ts, float) and math.isnan(ts)):
        return None
    return pd.Timestamp(ts).isoformat()


@dataclass(frozen=True)
class Summary:
    """A batch summary. Build it with :func:`batch_summary`.

    Ratios are fractions. ``to_dict()`` is JSON-serialisable; ``str()`` is the text the
    CLI prints; ``to_markdown()`` and ``_repr_html_()`` render the same content.
    """

    start: pd.Timestamp | None
    end: pd.Timestamp | None
    window: pd.Timedelta | None
    sources: list[str]
    processed: int
    succeeded: int
    failed: int
    to_dlq: int
    success_rate: float
    success_low: float
    success_high: float
    confidence: float
    avg_processing_time: float
    high_confidence: int
    low_confidence: int
    low_confidence_share: float
    previous: dict[str, Any] | None
    per_source: pd.DataFrame
    top_errors: pd.DataFrame
    dlq_size: int
    dlq_new: int
    dlq_by_type: dict[str, int]
    top_signatures: pd.DataFrame
    audit_counts: dict[str, int]
    audit_findings: pd.DataFrame
    issue_counts: dict[str, int]
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return str(self)

    # -- derived text ----------------------------------------------------------------
    @property
    def change(self) -> dict[str, float | None]:
        """Change against the previous window: processed (fraction) and rate (points)."""
        if not self.previous:
            return {"processed": None, "success_rate": None}
        prev_n = self.previous["processed"]
        dp = (self.processed - prev_n) / prev_n if prev_n else None
        prev_r = self.previous["success_rate"]
        dr = (self.success_rate - prev_r) if not (
            math.isnan(prev_r) or math.isnan(self.success_rate)
        ) else None
        return {"processed": dp, "success_rate": dr}

    def _window_text(self) -> str:
        if self.start is None or self.end is None:
            return "no data"
        span = f" ({_fmt_td(self.window)})" if self.window is not None else " (all data)"
        return (f"{self.start:%Y-%m-%d %H:%M} → {self.end:%Y-%m-%d %H:%M} UTC{span}")

    def _headline(self) -> str:
        avg_ms = self.avg_processing_time * 1000
        avg = "n/a" if math.isnan(avg_ms) else f"{avg_ms:.0f}ms"
        return (
            f"Sync summary: {self.succeeded:,}/{self.processed:,} succeeded "
            f"({_pct(self.success_rate)}, {self.confidence:.0%} CI {_pct(self.success_low)}"
            f"–{_pct(self.success_high)}), avg {avg}, confidence: "
            f"{self.high_confidence:,} high / {self.low_confidence:,} low"
        )

    def _change_text(self) -> str | None:
        ch = self.change
        if self.previous is None:
            return None
        parts = []
        if ch["processed"] is not None:
            parts.append(f"processed {ch['processed']:+.1%}")
        else:
            parts.append("processed n/a (no attempts before)")
        if ch["success_rate"] is not None:
            parts.append(f"success rate {100 * ch['success_rate']:+.1f} pp")
        return f"vs previous {_fmt_td(self.window)}: " + ", ".join(parts)

    def __str__(self) -> str:
        lines = [f"syncstats batch summary — {self._window_text()}",
                 f"Sources: {', '.join(self.sources) or 'none'}",
                 self._headline()]
        change = self._change_text()
        if change:
            lines.append("  " + change)
        lines.append(
            f"  failed {self.failed:,} attempts, {self.to_dlq:,} jobs to the DLQ; "
            f"low-confidence share {_pct(self.low_confidence_share)}"
        )
        if len(self.per_source) > 1:
            lines.append("Per source:")
            for row in self.per_source.itertuples(index=False):
                lines.append(
                    f"  {row.source}: {row.successes:,}/{row.n:,} "
                    f"({_pct(row.rate)}, CI {_pct(row.low)}–{_pct(row.high)})"
                )
        if len(self.top_errors):
            errs = ", ".join(
                f"{r.error_type} {r.count:,} ({_pct(r.share)})"
                for r in self.top_errors.itertuples(index=False)
            )
            lines.append(f"Top errors: {errs}")
        dlq = ", ".join(f"{n:,} {t}" for t, n in self.dlq_by_type.items())
        lines.append(
            f"DLQ contains {self.dlq_size:,} items"
            + (f" ({self.dlq_new:,} new in window)" if self.window is not None else "")
            + (f": {dlq}" if dlq else "")
        )
        for r in self.top_signatures.itertuples(index=False):
            lines.append(f"  {r.count:>5,} × [{r.error_type}] {r.signature}")
        if self.audit_counts:
            found = ", ".join(f"{n} {k}" for k, n in self.audit_counts.items())
            lines.append(f"Data quality: audit findings in window: {found}")
        else:
            lines.append("Data quality: no audit findings in window")
        if self.issue_counts:
            found = ", ".join(f"{n} {k}" for k, n in self.issue_counts.items())
            lines.append(f"  loader issues: {found}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (times as ISO-8601 strings, ratios as fractions)."""

        def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
            return json.loads(frame.to_json(orient="records", date_format="iso"))

        return {
            "window": {
                "start": _iso(self.start),
                "end": _iso(self.end),
                "length_seconds": None if self.window is None else self.window.total_seconds(),
            },
            "sources": list(self.sources),
            "processed": self.processed,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "to_dlq": self.to_dlq,
            "success_rate": _num(self.success_rate),
            "success_rate_ci": [_num(self.success_low), _num(self.success_high)],
            "confidence": self.confidence,
            "avg_processing_time": _num(self.avg_processing_time),
            "high_confidence": self.high_confidence,
            "low_confidence": self.low_confidence,
            "low_confidence_share": _num(self.low_confidence_share),
            "previous": None if self.previous is None else {
                k: _num(v) if isinstance(v, float) else v for k, v in self.previous.items()
            },
            "change": {k: _num(v) for k, v in self.change.items()},
            "per_source": records(self.per_source),
            "top_errors": records(self.top_errors),
            "dlq": {"size": self.dlq_size, "new_in_window": self.dlq_new,
                    "by_type": dict(self.dlq_by_type),
                    "top_signatures": records(self.top_signatures)},
            "audit": dict(self.audit_counts),
            "issues": dict(self.issue_counts),
        }

    def to_markdown(self) -> str:
        """The summary as Markdown (headline, tables for sources, errors and the DLQ)."""
        esc = _md_escape
        out = [f"## Batch summary — {esc(self._window_text())}", "",
               f"**{esc(self._headline())}**", ""]
        change = self._change_text()
        if change:
            out += [f"- {esc(change)}"]
        out += [f"- failed {self.failed:,} attempts, {self.to_dlq:,} jobs to the DLQ",
                f"- low-confidence share {_pct(self.low_confidence_share)}", ""]
        if len(self.per_source):
            out += ["| source | attempts | succeeded | success rate | 95% CI |",
                    "|---|---:|---:|---:|---|"]
            for r in self.per_source.itertuples(index=False):
                out.append(f"| {esc(str(r.source))} | {r.n:,} | {r.successes:,} | "
                           f"{_pct(r.rate)} | {_pct(r.low)}–{_pct(r.high)} |")
            out.append("")
        if len(self.top_errors):
            out += ["| error type | count | share |", "|---|---:|---:|"]
            for r in self.top_errors.itertuples(index=False):
                out.append(f"| {esc(str(r.error_type))} | {r.count:,} | {_pct(r.share)} |")
            out.append("")
        out.append(f"DLQ contains **{self.dlq_size:,}** items"
                   + (f" ({self.dlq_new:,} new in window)" if self.window is not None else ""))
        if len(self.top_signatures):
            out += ["", "| count | error type | signature |", "|---:|---|---|"]
            for r in self.top_signatures.itertuples(index=False):
                out.append(f"| {r.count:,} | {esc(str(r.error_type))} | {esc(r.signature)} |")
        out.append("")
        if self.audit_counts:
            out.append("Audit findings in window: " + ", ".join(
                f"{n} {esc(k)}" for k, n in self.audit_counts.items()))
        else:
            out.append("No audit findings in window.")
        return "\n".join(out) + "\n"

    def _repr_html_(self) -> str:
        e = html.escape
        rows = "".join(
            f"<tr><td>{e(str(r.source))}</td><td>{r.n:,}</td><td>{_pct(r.rate)}</td>"
            f"<td>{_pct(r.low)}–{_pct(r.high)}</td></tr>"
            for r in self.per_source.itertuples(index=False)
        )
        errs = "".join(
            f"<tr><td>{e(str(r.error_type))}</td><td>{r.count:,}</td><td>{_pct(r.share)}</td></tr>"
            for r in self.top_errors.itertuples(index=False)
        )
        sigs = "".join(
            f"<tr><td>{r.count:,}</td><td>{e(str(r.error_type))}</td><td>{e(r.signature)}</td></tr>"
            for r in self.top_signatures.itertuples(index=False)
        )
        change = self._change_text()
        audit_txt = ", ".join(f"{n} {e(k)}" for k, n in self.audit_counts.items()) or "none"
        return (
            '<div class="syncstats-summary">'
            f"<h3>Batch summary — {e(self._window_text())}</h3>"
            f"<p><b>{e(self._headline())}</b></p>"
            + (f"<p>{e(change)}</p>" if change else "")
            + f"<p>Failed {self.failed:,} attempts; {self.to_dlq:,} jobs to the DLQ; "
            f"low-confidence share {_pct(self.low_confidence_share)}.</p>"
            "<table><tr><th>source</th><th>attempts</th><th>success rate</th><th>CI</th></tr>"
            f"{rows}</table>"
            "<table><tr><th>error type</th><th>count</th><th>share</th></tr>"
            f"{errs}</table>"
            f"<p>DLQ contains {self.dlq_size:,} items.</p>"
            "<table><tr><th>count</th><th>error type</th><th>signature</th></tr>"
            f"{sigs}</table>"
            f"<p>Audit findings in window: {audit_txt}</p></div>"
        )


def _num(x: Any) -> Any:
    if x is None:
        return None
    if isinstance(x, float) and math.isnan(x):
        return None
    return float(x)


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~$])")  # "$": no TeX from data


def escape_markdown(text: object) -> str:
    r"""Text from the data made safe to embed in Markdown (and the HTML made from it).

    HTML specials become entities and Markdown punctuation (``$`` included, which
    nbconvert would render as TeX) is backslash-escaped, so an error message such as
    ``<script>``, ``*bold*`` or ``$x$`` shows literally.

    Examples
    --------
    >>> escape_markdown("<script>alert(1)</script> | *x*")
    '&lt;script&gt;alert\\(1\\)&lt;/script&gt; \\| \\*x\\*'
    """
    return _MD_SPECIAL.sub(r"\\\1", html.escape(str(text), quote=False))


_md_escape = escape_markdown


def _fmt_td(td: pd.Timedelta | None) -> str:
    if td is None:
        return "all data"
    secs = int(td.total_seconds())
    if secs % 86400 == 0:
        return f"{secs // 86400}d"
    if secs % 3600 == 0:
        return f"{secs // 3600}h"
    return f"{secs // 60}min"


def batch_summary(
    data: SyncData,
    *,
    window: Any = None,
    now: Any = None,
    confidence: float = 0.95,
    top: int = 5,
) -> Summary:
    """Summarise a :class:`~syncstats.SyncData` over a window.

    Parameters
    ----------
    data : SyncData
        What :func:`~syncstats.load` returned.
    window : str or Timedelta, optional
        Length of the window ending at *now* (``"24h"``, ``"7d"``); None for all data.
        Increments are assigned to the window containing their ``end``.
    now : time, optional
        End of the window (default: the latest snapshot or DLQ time in *data*).
    confidence : float, default 0.95
        Level of the success rate's Wilson interval.
    top : int, default 5
        Rows of the error and signature tables.

    Returns
    -------
    Summary
        Window, counts, success rate with CI, change against the previous window of equal
        length, average processing time, low-confidence share, per-source rates, top
        error types, DLQ size and top signatures, audit findings and loader issues.

    Examples
    --------
    >>> from syncstats import load
    >>> print(batch_summary(load("data"), window="7d"))  # doctest: +SKIP
    """
    snaps = data.snapshots
    lazy = is_dask(snaps)  # a fleet on dask: only the windows' rows come to the client
    latest = snaps["snapshot_at"].max().compute() if lazy else (
        snaps["snapshot_at"].max() if len(snaps) else None)
    times = [t for t in (latest, data.dlq["failed_at"].max() if len(data.dlq) else None)
             if t is not None and t is not pd.NaT]
    if now is not None:
        end = to_utc(now, "now")
    elif times:
        end = max(times)
    else:
        end = None
    span = to_timedelta(window, "window") if window is not None else None
    inc = increments(snaps)
    lower = end - 2 * span if (span is not None and end is not None) else None
    if lazy:
        inc = window_rows(inc, "end", lower)
    if end is None:
        cur = inc.iloc[:0]
        start = None
    elif span is not None:
        start = end - span
        cur = inc[(inc["end"] > start) & (inc["end"] <= end)]
    else:
        cur = inc[inc["end"] <= end]
        start = cur["start"].min() if len(cur) else None
    previous = None
    if span is not None and end is not None:
        prev = inc[(inc["end"] > start - span) & (inc["end"] <= start)]
        n_prev = int(prev["jobs_processed"].sum())
        r_prev, _, _ = wilson(prev["jobs_succeeded"].sum(), n_prev, confidence)
        previous = {"processed": n_prev, "succeeded": int(prev["jobs_succeeded"].sum()),
                    "success_rate": float(r_prev)}
    n = int(cur["jobs_processed"].sum())
    k = int(cur["jobs_succeeded"].sum())
    rate, low, high = wilson(k, n, confidence)
    hi_c = int(cur["high_confidence_matches"].sum())
    lo_c = int(cur["low_confidence_matches"].sum())
    tpt = float(cur["total_processing_time"].sum())
    per_source = success_rate(cur, by="source", confidence=confidence)
    per_source["source"] = per_source["source"].astype("str")

    err_inc = error_increments(data.errors, snaps)
    if lazy:
        err_inc = window_rows(err_inc, "end", lower)
    if end is not None:
        lo_t = start if start is not None else pd.Timestamp.min.tz_localize("UTC")
        err_inc = err_inc[(err_inc["end"] > lo_t) & (err_inc["end"] <= end)]
    top_errors = error_breakdown(err_inc).head(top)
    top_errors["error_type"] = top_errors["error_type"].astype("str")

    dlq = data.dlq
    if end is not None:
        dlq = dlq[~(dlq["failed_at"] > end)]
    dlq_new = int(((dlq["failed_at"] > start) & (dlq["failed_at"] <= end)).sum()) if (
        start is not None and end is not None) else len(dlq)
    by_type = error_breakdown(dlq) if len(dlq) else None
    dlq_by_type = ({str(r.error_type): int(r.count) for r in by_type.itertuples(index=False)}
                   if by_type is not None else {})
    sigs = error_signatures(dlq).head(top)
    sigs["error_type"] = sigs["error_type"].astype("str")

    findings = audit(snaps, data.errors)
    if lazy:
        findings = window_rows(findings, "snapshot_at")
    if end is not None:
        # with no window, every finding up to *end* counts (also at the first snapshot,
        # which opens the first interval and so is not after ``start``)
        in_win = findings["snapshot_at"] <= end
        if span is not None:
            in_win &= findings["snapshot_at"] > start
        findings = findings[in_win | findings["snapshot_at"].isna()]
    audit_counts = {str(k): int(v) for k, v in
                    findings["check"].astype("str").value_counts().items()}
    issue_counts = {str(k): int(v) for k, v in
                    data.issues["kind"].astype("str").value_counts().items()}
    return Summary(
        start=start, end=end, window=span, sources=data.sources,
        processed=n, succeeded=k, failed=int(cur["jobs_failed"].sum()),
        to_dlq=int(cur["jobs_to_dlq"].sum()),
        success_rate=float(rate), success_low=float(low), success_high=float(high),
        confidence=confidence,
        avg_processing_time=tpt / n if n else float("nan"),
        high_confidence=hi_c, low_confidence=lo_c,
        low_confidence_share=lo_c / (hi_c + lo_c) if hi_c + lo_c else float("nan"),
        previous=previous, per_source=per_source, top_errors=top_errors,
        dlq_size=len(dlq), dlq_new=dlq_new, dlq_by_type=dlq_by_type, top_signatures=sigs,
        audit_counts=audit_counts, audit_findings=findings.reset_index(drop=True),
        issue_counts=issue_counts,
    )
