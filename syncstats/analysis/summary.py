"""``batch_summary``: the analyst's one-glance answer, heir of the worker's summary line."""

from __future__ import annotations

import html
import json
import math
import os
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .._dispatch import compute, is_dask, window_rows
from .._text import escape_terminal, shorten
from .._time import format_duration, to_timedelta, to_utc
from ..io.syncdata import SyncData, describe_layout
from ._util import wilson
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


#: Columns of :attr:`Summary.session`: the totals of a source's latest usable snapshot.
SESSION_COLUMNS = [
    "source", "snapshot_at", "session_start", "session_age", "snapshots", "time_from",
    "origin", "n", "successes", "failures", "to_dlq", "rate", "low", "high",
    "high_confidence", "low_confidence", "avg_processing_time",
]
#: Columns of :attr:`Summary.session_errors`.
SESSION_ERROR_COLUMNS = ["source", "error_type", "count", "share"]

_CRON = "*/15 * * * *"


def _empty_session() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype="object") for c in SESSION_COLUMNS})


def _empty_session_errors() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype="object") for c in SESSION_ERROR_COLUMNS})


@dataclass(frozen=True)
class Summary:
    """A batch summary. Build it with :func:`batch_summary`.

    Ratios are fractions. ``to_dict()`` is JSON-serialisable; ``str()`` is the text the
    CLI prints; ``to_markdown()`` and ``_repr_html_()`` render the same content.

    ``basis`` says what the headline counts are: ``"window"`` (increments in the window),
    ``"session"`` (no source has an increment in the window, e.g. a single ``stats.json``:
    the totals since ``session_start`` of each source's latest snapshot, see ``session``)
    or ``"none"`` (no data). ``session`` lists, per source with no increment in the
    window, those session totals; with basis ``"window"`` they are *not* part of the
    headline. ``stale`` is set when the latest data is older than the window.
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
    basis: str = "window"
    session: pd.DataFrame = field(default_factory=_empty_session)
    session_errors: pd.DataFrame = field(default_factory=_empty_session_errors)
    stale: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: What the data was recognised as (``SyncData.layout``), None if not loaded by ``load``.
    layout: str | None = None
    #: The results the summary was derived from, over all the data (lazy on dask): the
    #: :func:`~syncstats.increments`, :func:`~syncstats.error_increments` and
    #: :func:`~syncstats.audit` of its snapshots, kept so that a report showing more than
    #: the summary (trends, burn rates, findings) does not compute them again.
    increments: Any = field(default=None, repr=False, compare=False)
    error_increments: Any = field(default=None, repr=False, compare=False)
    audit: Any = field(default=None, repr=False, compare=False)

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

    def window_text(self) -> str:
        """The window as plain text: its bounds and length, or "no data"."""
        if self.start is None or self.end is None:
            return "no data"
        span = f" ({_fmt_td(self.window)})" if self.window is not None else " (all data)"
        return (f"{self.start:%Y-%m-%d %H:%M} → {self.end:%Y-%m-%d %H:%M} UTC{span}")

    def _title(self) -> str:
        if self.basis != "session":
            return self.window_text()
        return (f"totals since session start, not a window (no increments in "
                f"{self.window_text()})")

    def _session_label(self, row: Any) -> str:
        """'since session start 2026-10-01 02:00 UTC (13d 5h ago), not a window'."""
        if pd.isna(row.session_start):
            since = "since session start (unknown)"
        else:
            age = format_duration(row.session_age)
            when = ("ago" if self.end is not None and row.snapshot_at == self.end
                    else f"before the snapshot of {row.snapshot_at:%Y-%m-%d %H:%M} UTC")
            since = f"since session start {row.session_start:%Y-%m-%d %H:%M} UTC ({age} {when})"
        return since + ", not a window"

    @property
    def scope(self) -> str:
        """What the headline counts cover, as text: the window, or the session totals.

        Examples
        --------
        >>> from syncstats import SyncData
        >>> batch_summary(SyncData()).scope
        'no data'
        """
        if self.basis == "session":
            return self._session_scope()
        return self.window_text()

    def _session_scope(self) -> str:
        """What the session-basis headline covers."""
        if len(self.session) == 1:
            return self._session_label(next(self.session.itertuples(index=False)))
        return "since each source's session start (see below), not a window"

    def _scope_line(self) -> str:
        """The session-basis scope, with the reason when it is one source."""
        scope = self._session_scope()
        if len(self.session) == 1:
            scope += ": " + self._why_no_window(next(self.session.itertuples(index=False)))
        return scope

    @staticmethod
    def _why_no_window(row: Any) -> str:
        if row.snapshots == 1:
            why = "only one snapshot (increments need two)"
        else:
            why = ("no increment in the window (latest snapshot "
                   f"{row.snapshot_at:%Y-%m-%d %H:%M} UTC)")
        if row.time_from == "mtime":
            why += "; its time is the file's mtime"
        return why

    def _session_block(self) -> bool:
        """Whether the per-source session lines are shown (not when the headline is the
        session totals of a single source)."""
        return len(self.session) > 0 and not (self.basis == "session" and len(self.session) == 1)

    def headline(self) -> str:
        """The one-line verdict the text, Markdown and HTML forms open with (plain text)."""
        if self.basis == "none" or (self.processed == 0 and self.basis == "window"):
            what = ("no attempts in the window" if self.basis == "window" else
                    "no data" if self.end is None else "no snapshot data up to the end")
            return f"Sync summary: {what}"
        avg_ms = self.avg_processing_time * 1000
        avg = "n/a" if math.isnan(avg_ms) else f"{avg_ms:.0f}ms"
        return (
            f"Sync summary: {self.succeeded:,}/{self.processed:,} succeeded "
            f"({_pct(self.success_rate)}, {self.confidence:.0%} CI {_pct(self.success_low)}"
            f"–{_pct(self.success_high)}), avg {avg}, confidence: "
            f"{self.high_confidence:,} high / {self.low_confidence:,} low"
        )

    def _stale_text(self) -> str | None:
        return None if self.stale is None else self.stale["message"]

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

    def _session_errors_of(self, source: str) -> pd.DataFrame:
        e = self.session_errors
        return e[e["source"] == source]

    def _capture_hints(self, quote: Any = shlex.quote) -> list[str]:
        """How to capture a history, for each session source with a single snapshot."""
        out = []
        for r in self.session.itertuples(index=False):
            if r.snapshots != 1:
                continue
            origin = str(r.origin)
            # cron runs elsewhere: absolute paths, and the history away from the worker's
            # folder (syncstats never writes beside the worker's files)
            live = os.path.abspath(origin) if origin.endswith("stats.json") else "/path/stats.json"
            hist = f"/var/lib/syncstats/{r.source}/history.jsonl"
            cmd = (f"syncstats snapshot {quote(live)} --history {quote(hist)} "
                   f"--source {quote(str(r.source))}")
            out.append(cmd)
        return out

    def _layout_text(self) -> str:
        return "" if self.layout is None else f" ({describe_layout(self.layout)})"

    def __str__(self) -> str:
        t = escape_terminal
        lines = []
        stale = self._stale_text()
        if stale:
            lines.append(stale)
        lines += [f"syncstats batch summary — {self._title()}",
                  f"Sources: {', '.join(t(s) for s in self.sources) or 'none'}"
                  + self._layout_text(),
                  self.headline()]
        if self.basis == "session":
            lines.append("  " + self._scope_line())
        elif len(self.session) and self.processed:
            covered = [str(s) for s in self.per_source["source"]]
            lines.append(f"  window totals of {', '.join(t(s) for s in covered)}; "
                         f"since session start below: "
                         f"{', '.join(t(s) for s in self.session['source'])}")
        change = self._change_text()
        if change:
            lines.append("  " + change)
        lines.append(
            f"  failed {self.failed:,} attempts, {self.to_dlq:,} jobs to the DLQ; "
            f"low-confidence share {_pct(self.low_confidence_share)}"
        )
        if self.basis == "window" and len(self.per_source) > 1:
            lines.append("Per source:")
            for row in self.per_source.itertuples(index=False):
                lines.append(
                    f"  {t(row.source)}: {row.successes:,}/{row.n:,} "
                    f"({_pct(row.rate)}, CI {_pct(row.low)}–{_pct(row.high)})"
                )
        if len(self.top_errors):
            errs = ", ".join(
                f"{t(r.error_type)} {r.count:,} ({_pct(r.share)})"
                for r in self.top_errors.itertuples(index=False)
            )
            scope = " (since session start)" if self.basis == "session" else ""
            lines.append(f"Top errors{scope}: {errs}")
        if self._session_block():
            extra = "" if self.basis == "session" else ", not in the window totals above"
            lines.append(f"Since session start{extra}:")
            for r in self.session.itertuples(index=False):
                lines.append(
                    f"  {t(r.source)}: {r.successes:,}/{r.n:,} succeeded ({_pct(r.rate)}, "
                    f"CI {_pct(r.low)}–{_pct(r.high)}) {self._session_label(r)}; "
                    f"{self._why_no_window(r)}"
                )
                errs = self._session_errors_of(r.source)
                if len(errs):
                    lines.append("    errors: " + ", ".join(
                        f"{t(e.error_type)} {e.count:,} ({_pct(e.share)})"
                        for e in errs.itertuples(index=False)))
        hints = self._capture_hints()
        if hints:
            lines.append("For window numbers, capture a history (then run the summary again):")
            for cmd in hints:
                lines.append(f"  {t(cmd)}")
                lines.append(f"  cron: {_CRON} {t(cmd)} --quiet")
        dlq = ", ".join(f"{n:,} {t(k)}" for k, n in self.dlq_by_type.items())
        lines.append(
            f"DLQ contains {self.dlq_size:,} items"
            + (f" ({self.dlq_new:,} new in window)" if self.window is not None else "")
            + (f": {dlq}" if dlq else "")
        )
        for r in self.top_signatures.itertuples(index=False):
            lines.append(f"  {r.count:>5,} × [{t(r.error_type)}] {t(r.signature)}")
        if self.audit_counts:
            found = ", ".join(f"{n} {t(k)}" for k, n in self.audit_counts.items())
            lines.append(f"Data quality: audit findings in window: {found}")
        else:
            lines.append("Data quality: no audit findings in window")
        if self.issue_counts:
            found = ", ".join(f"{n} {t(k)}" for k, n in self.issue_counts.items())
            lines.append(f"  loader issues: {found}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (times as ISO-8601 strings, ratios as fractions)."""

        def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
            return json.loads(frame.to_json(orient="records", date_format="iso"))

        session = self.session.copy()
        session["session_age"] = [None if pd.isna(v) else pd.Timedelta(v).total_seconds()
                                  for v in session["session_age"]]
        session = session.rename(columns={"session_age": "session_age_seconds"})
        stale = None if self.stale is None else {
            "latest": _iso(self.stale["latest"]),
            "age_seconds": self.stale["age"].total_seconds(),
            "message": self.stale["message"],
        }
        return {
            "stale": stale,
            "basis": self.basis,
            "window": {
                "start": _iso(self.start),
                "end": _iso(self.end),
                "length_seconds": None if self.window is None else self.window.total_seconds(),
            },
            "sources": list(self.sources),
            "layout": self.layout,
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
            "session": records(session),
            "session_errors": records(self.session_errors),
            "capture_history": [f"{_CRON} {c} --quiet" for c in self._capture_hints()],
            "dlq": {"size": self.dlq_size, "new_in_window": self.dlq_new,
                    "by_type": dict(self.dlq_by_type),
                    "top_signatures": records(self.top_signatures)},
            "audit": dict(self.audit_counts),
            "issues": dict(self.issue_counts),
        }

    def to_markdown(self) -> str:
        """The summary as Markdown (headline, tables for sources, errors and the DLQ)."""
        esc = _md_escape
        out = []
        stale = self._stale_text()
        if stale:
            out += [f"**{esc(stale)}**", ""]
        out += [f"## Batch summary — {esc(self._title())}", ""]
        if self.layout is not None:
            out += [f"Data: {esc(describe_layout(self.layout))}", ""]
        out += [f"**{esc(self.headline())}**", ""]
        if self.basis == "session":
            out += [f"- {esc(self._scope_line())}"]
        change = self._change_text()
        if change:
            out += [f"- {esc(change)}"]
        out += [f"- failed {self.failed:,} attempts, {self.to_dlq:,} jobs to the DLQ",
                f"- low-confidence share {_pct(self.low_confidence_share)}", ""]
        if self.basis == "window" and len(self.per_source):
            out += ["| source | attempts | succeeded | success rate | 95% CI |",
                    "|---|---:|---:|---:|---|"]
            for r in self.per_source.itertuples(index=False):
                out.append(f"| {esc(str(r.source))} | {r.n:,} | {r.successes:,} | "
                           f"{_pct(r.rate)} | {_pct(r.low)}–{_pct(r.high)} |")
            out.append("")
        if self._session_block():
            extra = "" if self.basis == "session" else ", not in the window totals above"
            out += [f"Since session start{extra}:", "",
                    "| source | attempts | succeeded | success rate | 95% CI | since |",
                    "|---|---:|---:|---:|---|---|"]
            for r in self.session.itertuples(index=False):
                out.append(f"| {esc(str(r.source))} | {r.n:,} | {r.successes:,} | "
                           f"{_pct(r.rate)} | {_pct(r.low)}–{_pct(r.high)} | "
                           f"{esc(self._session_label(r))}; {esc(self._why_no_window(r))} |")
            out.append("")
        hints = self._capture_hints()
        if hints:
            out += ["For window numbers, capture a history from cron:", ""]
            out += [f"- {esc(f'{_CRON} {c} --quiet')}" for c in hints]
            out += [""]
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
        def e(x: object, width: int = 60) -> str:
            return html.escape(shorten(x, width))

        def h(x: object) -> str:  # our own text around data: escaped, not shortened
            return html.escape(escape_terminal(x))

        rows = "".join(
            f"<tr><td>{e(r.source)}</td><td>{r.n:,}</td><td>{_pct(r.rate)}</td>"
            f"<td>{_pct(r.low)}–{_pct(r.high)}</td></tr>"
            for r in self.per_source.itertuples(index=False)
        ) if self.basis == "window" else ""
        errs = "".join(
            f"<tr><td>{e(r.error_type)}</td><td>{r.count:,}</td><td>{_pct(r.share)}</td></tr>"
            for r in self.top_errors.itertuples(index=False)
        )
        sigs = "".join(
            f"<tr><td>{r.count:,}</td><td>{e(r.error_type)}</td><td>{e(r.signature, 100)}</td>"
            "</tr>"
            for r in self.top_signatures.itertuples(index=False)
        )
        session = ""
        if self._session_block():
            extra = "" if self.basis == "session" else ", not in the window totals above"
            srows = "".join(
                f"<tr><td>{e(r.source)}</td><td>{r.n:,}</td><td>{_pct(r.rate)}</td>"
                f"<td>{_pct(r.low)}–{_pct(r.high)}</td>"
                f"<td>{h(self._session_label(r))}; {h(self._why_no_window(r))}</td></tr>"
                for r in self.session.itertuples(index=False)
            )
            session = (
                f"<p>Since session start{extra}:</p>"
                "<table><tr><th>source</th><th>attempts</th><th>success rate</th><th>CI</th>"
                f"<th>since</th></tr>{srows}</table>"
            )
        hints = "".join(f"<pre>{h(f'{_CRON} {c} --quiet')}</pre>"
                        for c in self._capture_hints())
        if hints:
            session += f"<p>For window numbers, capture a history from cron:</p>{hints}"
        change = self._change_text()
        stale = self._stale_text()
        scope = self._scope_line() if self.basis == "session" else None
        audit_txt = ", ".join(f"{n} {e(k)}" for k, n in self.audit_counts.items()) or "none"
        return (
            '<div class="syncstats-summary">'
            + (f"<p><b>{h(stale)}</b></p>" if stale else "")
            + f"<h3>Batch summary — {h(self._title())}</h3>"
            f"<p><b>{h(self.headline())}</b></p>"
            + (f"<p>{h(scope)}</p>" if scope else "")
            + (f"<p>{h(change)}</p>" if change else "")
            + f"<p>Failed {self.failed:,} attempts; {self.to_dlq:,} jobs to the DLQ; "
            f"low-confidence share {_pct(self.low_confidence_share)}.</p>"
            + ("<table><tr><th>source</th><th>attempts</th><th>success rate</th><th>CI</th>"
               f"</tr>{rows}</table>" if rows else "")
            + session
            + "<table><tr><th>error type</th><th>count</th><th>share</th></tr>"
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

    Control characters are shown as escapes first (``syncstats._text.escape_terminal``),
    so a newline in the data cannot start a Markdown line of its own (a heading, a table
    row); then HTML specials become entities and Markdown punctuation (``$`` included,
    which nbconvert would render as TeX) is backslash-escaped, so an error message such
    as ``<script>``, ``*bold*`` or ``$x$`` shows literally.

    Examples
    --------
    >>> escape_markdown("<script>alert(1)</script> | *x*")
    '&lt;script&gt;alert\\(1\\)&lt;/script&gt; \\| \\*x\\*'
    >>> "\n" in escape_markdown("ok\n# Sync summary: 999/999")
    False
    """
    return _MD_SPECIAL.sub(r"\\\1", html.escape(escape_terminal(text), quote=False))


_md_escape = escape_markdown


def _fmt_td(td: pd.Timedelta | None) -> str:
    return "all data" if td is None else format_duration(td)


def _age(td: pd.Timedelta) -> str:
    """A coarse age: the two largest units of :func:`format_duration` ('42d 13h')."""
    return " ".join(format_duration(td).split()[:2])


def _session_totals(
    snaps: Any,
    errors: Any,
    invalid: set[tuple[str, str]],
    sources: list[str],
    end: pd.Timestamp,
    confidence: float,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """Per source of *sources*: the totals of its latest usable snapshot at or before *end*.

    Returns the ``session`` frame, the ``session_errors`` frame and the sums of
    ``total_processing_time`` by source. On dask only the latest snapshot of each source
    comes to the client; when it is unusable the source has no session totals.
    """
    if not sources:
        return _empty_session(), _empty_session_errors(), {}
    sel = snaps[snaps["source"].isin(sources) & (snaps["snapshot_at"] <= end)]  # no NaT
    if is_dask(sel):
        latest = compute(sel.groupby("source", observed=True)["snapshot_at"].max()).dropna()
        sizes = compute(sel.groupby("source", observed=True).size())
        rows = compute(sel[sel["snapshot_at"].isin(list(latest.to_numpy()))])
        rows = rows[rows["snapshot_at"].to_numpy()
                    == rows["source"].astype("str").map(
                        {str(k): v for k, v in latest.items()}).to_numpy()]
        counts = {str(k): int(v) for k, v in sizes.items()}
    else:
        rows = sel
        counts = None
    rows = rows.assign(source=rows["source"].astype("str"), origin=rows["origin"].astype("str"))
    bad = [(s, o) in invalid for s, o in zip(rows["source"], rows["origin"], strict=True)]
    rows = rows[~pd.Series(bad, index=rows.index, dtype=bool)]
    if counts is None:
        counts = {str(k): int(v) for k, v in rows["source"].value_counts().items()}
    rows = rows.sort_values(["source", "snapshot_at"], kind="stable")
    rows = rows.groupby("source", sort=True).tail(1).reset_index(drop=True)
    if rows.empty:
        return _empty_session(), _empty_session_errors(), {}
    out = []
    for r in rows.itertuples(index=False):
        n, k = int(r.jobs_processed), int(r.jobs_succeeded)
        rate, low, high = wilson(k, n, confidence)
        out.append({
            "source": r.source, "snapshot_at": r.snapshot_at,
            "session_start": r.session_start,
            "session_age": r.snapshot_at - r.session_start,
            "snapshots": counts.get(r.source, 1), "time_from": str(r.time_from),
            "origin": r.origin, "n": n, "successes": k, "failures": int(r.jobs_failed),
            "to_dlq": int(r.jobs_to_dlq), "rate": float(rate), "low": float(low),
            "high": float(high), "high_confidence": int(r.high_confidence_matches),
            "low_confidence": int(r.low_confidence_matches),
            "avg_processing_time": float(r.total_processing_time) / n if n else float("nan"),
        })
    session = pd.DataFrame(out, columns=SESSION_COLUMNS)
    tpt = {r.source: float(r.total_processing_time) for r in rows.itertuples(index=False)}

    keys = set(zip(rows["source"], rows["origin"], strict=True))
    err = errors[errors["origin"].isin(list(rows["origin"]))]
    err = compute(err)
    err = err.assign(source=err["source"].astype("str"), error_type=err["error_type"].astype("str"))
    at = dict(zip(rows["source"], rows["snapshot_at"], strict=True))
    mine = [(s, o) in keys and t == at.get(s)
            for s, o, t in zip(err["source"], err["origin"], err["snapshot_at"], strict=True)]
    err = err[pd.Series(mine, index=err.index, dtype=bool)]
    err = err[err["count"] > 0]
    err = (err.groupby(["source", "error_type"], sort=False)["count"].sum().reset_index()
           .sort_values(["source", "count", "error_type"], ascending=[True, False, True],
                        kind="stable"))
    total = err.groupby("source")["count"].transform("sum")
    err["share"] = (err["count"] / total).astype("float64")
    session_errors = err[SESSION_ERROR_COLUMNS].reset_index(drop=True)
    return session, session_errors, tpt


def _breakdown_of(session_errors: pd.DataFrame) -> pd.DataFrame:
    """``error_breakdown``'s table of the session errors of all sources together."""
    by = (session_errors.groupby("error_type", sort=False)["count"].sum().reset_index()
          .sort_values(["count", "error_type"], ascending=[False, True], kind="stable")
          .reset_index(drop=True))
    total = by["count"].sum()
    by["count"] = by["count"].astype("int64")
    by["share"] = (by["count"] / total if total else by["count"] * 0.0).astype("float64")
    by["cumulative_share"] = by["share"].cumsum().astype("float64")
    by["rank"] = pd.Series(range(1, len(by) + 1), dtype="int64")
    by["error_type"] = by["error_type"].astype("str")
    return by[["error_type", "count", "share", "cumulative_share", "rank"]]


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
    now : time or 'latest', optional
        End of the window (default, or ``"latest"``: the latest snapshot or DLQ time in
        *data*).
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

        A source with no increment in the window (a single ``stats.json``: increments
        need two snapshots) is reported by the totals since ``session_start`` of its
        latest usable snapshot at or before *now* (``Summary.session``), labelled as such,
        never as 0/0. When no source has an increment in the window these session totals
        are the headline (``basis == "session"``); when some have, the headline is the
        window's and the session totals are listed beside it, not added to it.
        ``Summary.stale`` is set when the latest snapshot is not after the window's start.

    Examples
    --------
    >>> import pandas as pd
    >>> from syncstats import SyncData, schemas
    >>> row = {"source": "w", "snapshot_at": pd.Timestamp("2026-10-14 07:00", tz="UTC"),
    ...        "session_start": pd.Timestamp("2026-10-01 02:00", tz="UTC"),
    ...        "jobs_processed": 46, "jobs_succeeded": 41, "jobs_failed": 5,
    ...        "jobs_to_dlq": 2, "high_confidence_matches": 39, "low_confidence_matches": 2,
    ...        "total_processing_time": 23.0, "time_from": "field", "origin": "stats.json"}
    >>> snaps = schemas.conform(pd.DataFrame([row]), schemas.SNAPSHOTS)
    >>> s = batch_summary(SyncData(snapshots=snaps), window="7d")
    >>> s.basis, s.processed, s.succeeded
    ('session', 46, 41)
    >>> print(str(s).splitlines()[3])  # doctest: +NORMALIZE_WHITESPACE
      since session start 2026-10-01 02:00 UTC (13d 5h ago), not a window: only one
      snapshot (increments need two)
    """
    snaps = data.snapshots
    lazy = is_dask(snaps)  # a fleet on dask: only the windows' rows come to the client
    if isinstance(now, str) and now.strip().lower() == "latest":
        now = None
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
    # each computed once, here; kept in the Summary for the report notebook
    inc_all = inc = increments(snaps)
    err_all = error_increments(data.errors, snaps)
    findings_all = findings = audit(snaps, data.errors)
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

    if lazy:
        findings = window_rows(findings, "snapshot_at")
    invalid = findings[findings["check"].astype("str") == "invalid"]
    invalid_keys = set(zip(invalid["source"].astype("str"), invalid["origin"].astype("str"),
                           strict=True))

    # sources with no increment in the window: totals since session start instead
    in_window = set(cur["source"].astype("str").unique())
    others = [s for s in data.sources if s not in in_window]
    if end is not None:
        session, session_errors, session_tpt = _session_totals(
            snaps, data.errors, invalid_keys, others, end, confidence)
    else:
        session, session_errors, session_tpt = _empty_session(), _empty_session_errors(), {}
    basis = "window" if len(cur) else "session" if len(session) else "none"

    stale = None
    if span is not None and end is not None:
        before = snaps[snaps["snapshot_at"] <= end]["snapshot_at"].max()
        last = compute(before) if lazy else before
        if last is None or pd.isna(last):
            dl = data.dlq["failed_at"]
            last = dl[dl <= end].max() if len(dl) else None
        if last is not None and not pd.isna(last) and last <= start:
            hint = ("pass --now latest to analyse the latest data" if now is not None else
                    "no snapshot since; is the worker (or its snapshot capture) still running?")
            stale = {"latest": last, "age": end - last, "message": (
                f"STALE: latest data {last:%Y-%m-%d %H:%M} UTC is {_age(end - last)} old, "
                f"older than the {_fmt_td(span)} window — {hint}")}

    if basis == "session":
        n = int(session["n"].sum())
        k = int(session["successes"].sum())
        failed = int(session["failures"].sum())
        to_dlq = int(session["to_dlq"].sum())
        hi_c = int(session["high_confidence"].sum())
        lo_c = int(session["low_confidence"].sum())
        tpt = float(sum(session_tpt.values()))
        per_source = session[["source", "n", "successes", "rate", "low", "high"]].copy()
        per_source["source"] = per_source["source"].astype("str")
        previous = None  # session totals have no previous window
        top_errors = _breakdown_of(session_errors).head(top)
    else:
        n = int(cur["jobs_processed"].sum())
        k = int(cur["jobs_succeeded"].sum())
        failed = int(cur["jobs_failed"].sum())
        to_dlq = int(cur["jobs_to_dlq"].sum())
        hi_c = int(cur["high_confidence_matches"].sum())
        lo_c = int(cur["low_confidence_matches"].sum())
        tpt = float(cur["total_processing_time"].sum())
        per_source = success_rate(cur, by="source", confidence=confidence)
        per_source["source"] = per_source["source"].astype("str")
        err_inc = err_all
        if lazy:
            err_inc = window_rows(err_inc, "end", lower)
        if end is not None:
            lo_t = start if start is not None else pd.Timestamp.min.tz_localize("UTC")
            err_inc = err_inc[(err_inc["end"] > lo_t) & (err_inc["end"] <= end)]
        top_errors = error_breakdown(err_inc).head(top)
        top_errors["error_type"] = top_errors["error_type"].astype("str")
    rate, low, high = wilson(k, n, confidence)

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
        processed=n, succeeded=k, failed=failed, to_dlq=to_dlq,
        success_rate=float(rate), success_low=float(low), success_high=float(high),
        confidence=confidence,
        avg_processing_time=tpt / n if n else float("nan"),
        high_confidence=hi_c, low_confidence=lo_c,
        low_confidence_share=lo_c / (hi_c + lo_c) if hi_c + lo_c else float("nan"),
        previous=previous, per_source=per_source, top_errors=top_errors,
        dlq_size=len(dlq), dlq_new=dlq_new, dlq_by_type=dlq_by_type, top_signatures=sigs,
        audit_counts=audit_counts, audit_findings=findings.reset_index(drop=True),
        issue_counts=issue_counts, basis=basis, session=session,
        session_errors=session_errors, stale=stale, layout=data.layout,
        increments=inc_all, error_increments=err_all, audit=findings_all,
    )
