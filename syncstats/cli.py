"""The ``syncstats`` command line: a thin wrapper over the library.

Exit codes: 0 ok; 1 a ``check`` threshold breached; 2 data missing or unreadable, or a
usage error. Errors are one line on stderr (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import textwrap
from collections.abc import Iterator, Sequence
from typing import Any

import pandas as pd

from . import __version__
from ._checks import check_count, check_fraction
from ._text import escape_terminal
from ._time import check_freq, format_duration, parse_now, to_timedelta
from .exceptions import NoDataError, ParameterError, SyncstatsError

#: Exit codes: ok, a threshold breached, data missing/unreadable or a usage/user error,
#: and a bug (an unexpected exception: never reported as a data problem).
EXIT_OK, EXIT_BREACH, EXIT_DATA, EXIT_INTERNAL = 0, 1, 2, 3


def _now(value: pd.Timestamp | str | None, data: Any = None) -> pd.Timestamp:
    """``--now`` as parsed by :func:`_validate`: a time, ``'latest'`` (the latest time in
    *data*) or None (the current time)."""
    if value is None:
        return pd.Timestamp.now(tz="UTC").as_unit("us")
    if isinstance(value, pd.Timestamp):
        return value
    from ._dispatch import compute

    times = [] if data is None else [
        t for t in (compute(data.snapshots["snapshot_at"].max()),
                    data.dlq["failed_at"].max())
        if t is not None and not pd.isna(t)
    ]
    if not times:
        raise NoDataError("--now latest: the data holds no timestamp")
    return max(times)


def _validate(args: argparse.Namespace) -> None:
    """Every option checked before any work starts (so before a kernel or a cluster
    starts): one-line ParameterError naming the option. Parsed values replace the text."""
    from ._time import check_tz

    if getattr(args, "tz", None) is not None:
        check_tz(args.tz)
    if hasattr(args, "now"):
        args.now = parse_now(args.now)
        if args.now == "latest" and args.command == "snapshot":
            raise ParameterError("--now: 'latest' needs data to look at; give a time "
                                 "(ISO-8601 or epoch seconds) or leave it out")
    for opt in ("window", "max_age"):
        if getattr(args, opt, None) is not None:
            setattr(args, f"{opt}_td", to_timedelta(getattr(args, opt), _flag(opt)))
    if getattr(args, "freq", None) is not None:
        check_freq(args.freq, "--freq")
    if getattr(args, "min_success_rate", None) is not None:
        args.min_success_rate = check_fraction(args.min_success_rate, "--min-success-rate")
    if getattr(args, "slo", None) is not None:
        args.slo = check_fraction(args.slo, "--slo", allow_one=False)
    for opt in ("max_dlq", "max_dlq_growth"):
        if getattr(args, opt, None) is not None:
            setattr(args, opt, check_count(getattr(args, opt), _flag(opt)))
    if getattr(args, "engine", None) is not None:
        raise ParameterError(f"--engine {args.engine}: the pandas/dask choice is --backend now "
                             f"(--backend {args.engine})")
    if getattr(args, "backend", "pandas") != "dask" and getattr(args, "scheduler", None):
        raise ParameterError("--scheduler: only with --backend dask")


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _load(path: str, tz: str, backend: str = "pandas") -> Any:
    from .io import load

    data = load(path, tz=tz, backend=backend)
    if backend == "dask":  # lazy: empty when the store names no source
        empty = len(data.snapshots["source"].cat.categories) == 0
    else:
        empty = len(data.snapshots) == 0
    if empty and len(data.dlq) == 0:
        kinds = ", ".join(sorted(set(data.issues["kind"].astype("str")))) or "no input files"
        raise NoDataError(f"{path}: nothing loadable (no snapshots, log Stats: lines or DLQ "
                          f"rows; issues: {kinds})")
    return data


@contextlib.contextmanager
def _backend(args: argparse.Namespace) -> Iterator[None]:
    """With ``--backend dask``: a dask client for the command (``--scheduler`` or a
    ``LocalCluster`` sized to the machine), closed afterwards."""
    if getattr(args, "backend", "pandas") != "dask":
        yield
        return
    from .fleet import close_client, connect

    client = connect(args.scheduler)
    try:
        yield
    finally:
        close_client(client)


# -- commands ---------------------------------------------------------------------------
def cmd_summary(args: argparse.Namespace) -> int:
    from .analysis import batch_summary

    data = _load(args.path, args.tz, args.backend)
    summary = batch_summary(data, window=args.window_td, now=_now(args.now, data))
    if args.format == "json":
        print(json.dumps(summary.to_dict(), indent=2))
    elif args.format == "markdown":
        print(summary.to_markdown(), end="")
    else:
        print(summary)
    return EXIT_OK


def cmd_audit(args: argparse.Namespace) -> int:
    from ._dispatch import compute
    from .analysis import audit

    data = _load(args.path, args.tz, args.backend)
    findings = compute(audit(data.snapshots, data.errors))
    if args.format == "json":
        print(findings.to_json(orient="records", date_format="iso", indent=2))
    elif args.format == "csv":
        print(findings.to_csv(index=False), end="")
    elif findings.empty:
        print("No audit findings.")
    else:
        shown = findings.drop(columns=["origin"])
        for col in shown.columns:  # data text never reaches the terminal raw
            if not pd.api.types.is_numeric_dtype(shown[col]) and not isinstance(
                    shown[col].dtype, pd.DatetimeTZDtype):
                shown[col] = shown[col].astype("str").map(escape_terminal)
        with pd.option_context("display.max_rows", None, "display.max_colwidth", 120,
                               "display.width", 200):
            print(shown.to_string(index=False))
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from ._dispatch import compute, is_dask, window_rows
    from .analysis import SRE_WINDOWS, burn_rate, increments, success_rate

    quiet = args.quiet
    try:
        data = _load(args.path, args.tz, args.backend)
    except SyncstatsError as exc:
        return _report_check([{"check": "data", "breached": None, "detail": str(exc)}],
                             args.format, status="unknown", quiet=quiet)
    now = _now(args.now, data)
    window = args.window_td
    results: list[dict[str, Any]] = []
    inc = increments(data.snapshots)
    if is_dask(inc):  # only the rows the checks look at come to this process
        longest = max(to_timedelta(w[0], "window") for w in SRE_WINDOWS)
        inc = window_rows(inc, "end", now - max(window, longest))
    cur = inc[(inc["end"] > now - window) & (inc["end"] <= now)]
    if args.max_age is not None:
        max_age = args.max_age_td
        snaps = data.snapshots.dropna(subset=["snapshot_at"])
        snaps = snaps[snaps["snapshot_at"] <= now]
        latest = compute(snaps.groupby("source", observed=True)["snapshot_at"].max()).dropna()
        # a worker whose files cannot be read is not fresh: it has no snapshot at all
        silent = sorted(set(data.known_sources()) - {str(s) for s in latest.index})
        if latest.empty and not silent:
            results.append({"check": "max_age", "breached": True,
                            "detail": f"no snapshot at or before {now.isoformat()}"})
        for source in silent:
            results.append({
                "check": "max_age", "source": source, "value": None,
                "threshold": max_age.total_seconds(), "breached": True,
                "detail": f"{source}: no readable snapshot at or before "
                          f"{now:%Y-%m-%d %H:%M:%S}Z ({_issue_hint(data, source)})",
            })
        for source, ts in latest.items():
            age = now - ts
            results.append({
                "check": "max_age", "source": str(source), "value": age.total_seconds(),
                "threshold": max_age.total_seconds(), "breached": bool(age > max_age),
                "detail": f"{source}: latest snapshot {ts:%Y-%m-%d %H:%M:%S}Z is "
                          f"{format_duration(age)} old (max {format_duration(max_age)})",
            })
    if args.min_success_rate is not None:
        sr = success_rate(cur)
        n = int(sr["n"])
        if n == 0:
            results.append({"check": "min_success_rate", "breached": False, "value": None,
                            "threshold": args.min_success_rate,
                            "detail": f"no attempts in the last {args.window}; not evaluated"})
        else:
            results.append({
                "check": "min_success_rate", "value": float(sr["rate"]),
                "threshold": args.min_success_rate,
                "breached": bool(sr["rate"] < args.min_success_rate),
                "detail": f"success rate {sr['rate']:.1%} of {n:,} attempts in the last "
                          f"{args.window} (95% CI {sr['low']:.1%}–{sr['high']:.1%}); "
                          f"min {args.min_success_rate:.1%}",
            })
    dlq = data.dlq[~(data.dlq["failed_at"] > now)]
    if args.max_dlq is not None:
        results.append({"check": "max_dlq", "value": len(dlq), "threshold": args.max_dlq,
                        "breached": len(dlq) > args.max_dlq,
                        "detail": f"DLQ holds {len(dlq):,} entries (max {args.max_dlq:,})"})
    if args.max_dlq_growth is not None:
        new = int((dlq["failed_at"] > now - window).sum())
        results.append({"check": "max_dlq_growth", "value": new,
                        "threshold": args.max_dlq_growth, "breached": new > args.max_dlq_growth,
                        "detail": f"{new:,} DLQ entries in the last {args.window} "
                                  f"(max {args.max_dlq_growth:,})"})
    if args.slo is not None:
        burn = burn_rate(inc[inc["end"] <= now], slo=args.slo, now=now)
        firing = burn[burn["firing"]]
        detail = "; ".join(
            f"{r.severity} {r.long_window}/{r.short_window} burn {r.burn_long:.1f}/"
            f"{r.burn_short:.1f} > {r.factor:g}" for r in firing.itertuples(index=False)
        ) or "no burn-rate alert firing"
        results.append({"check": "slo", "threshold": args.slo, "breached": not firing.empty,
                        "value": None if burn.empty else float(burn["burn_long"].max()),
                        "detail": f"SLO {args.slo:.1%}: {detail}"})
    if not results:
        loaded = (f"{len(data.sources):,} sources on dask" if is_dask(data.snapshots)
                  else f"{len(data.snapshots):,} snapshots")
        results.append({"check": "data", "breached": False,
                        "detail": f"data loaded ({loaded}, {len(data.dlq):,} DLQ rows); "
                                  "no threshold given"})
    breached = any(r.get("breached") for r in results)
    return _report_check(results, args.format, status="breach" if breached else "ok",
                         quiet=quiet)


def _issue_hint(data: Any, source: str) -> str:
    """Why a source has no snapshot, from its issues: the most common kind."""
    issues = data.issues
    kinds = issues.loc[issues["source"].astype("str") == source, "kind"].astype("str")
    if kinds.empty:
        return "no snapshot file or log Stats: line"
    top = kinds.value_counts()
    return ", ".join(f"{n:,} {k}" for k, n in top.items()) + " issue(s); see `syncstats audit`"


def _report_check(results: list[dict[str, Any]], fmt: str, *, status: str,
                  quiet: bool = False) -> int:
    """Print the check results; with *quiet*, nothing when all is ok and only the
    breached or failed checks otherwise."""
    code = {"ok": EXIT_OK, "breach": EXIT_BREACH}.get(status, EXIT_DATA)
    if quiet:
        if code == EXIT_OK:
            return code
        results = [r for r in results if r.get("breached") is not False]
    if fmt == "json":
        print(json.dumps({"status": status, "exit_code": code, "checks": results}, indent=2))
    else:
        for r in results:
            flag = {True: "BREACH", False: "ok", None: "ERROR"}[r.get("breached")]
            print(f"{flag:6} {r['check']}: {escape_terminal(r['detail'])}")
    return code


def cmd_snapshot(args: argparse.Namespace) -> int:
    from .recording.capture import capture_snapshot

    rec = capture_snapshot(args.stats, args.history, source=args.source, now=args.now)
    if not args.quiet:
        print(f"captured {escape_terminal(args.stats)} at {rec['snapshot_at']} into "
              f"{escape_terminal(args.history)}")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from .io import load

    data = load(args.path, tz=args.tz)
    written = data.to_parquet(args.parquet)
    if not args.quiet:
        rows = ", ".join(f"{n:,} {name}" for name, n in written.items())
        print(f"{escape_terminal(args.parquet)}: wrote {rows} (rows already stored are "
              "skipped)", file=sys.stderr)
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from .report import render_report

    now = args.now
    if now is None:
        now = _now(None).isoformat()
    elif now == "latest":
        now = None  # the notebook's own default: the latest time in the data
    else:
        now = now.isoformat()
    out = render_report(
        args.path, out=args.out, window=args.window, freq=args.freq, sources=args.source,
        slo=args.slo, now=now,
        fmt=args.format, tz=args.tz, progress=not args.quiet, quiet=args.quiet,
        backend=args.backend, scheduler=args.scheduler,
    )
    if not args.quiet:
        print(f"wrote {escape_terminal(out)}", file=sys.stderr)
    return EXIT_OK


def cmd_simulate(args: argparse.Namespace) -> int:
    from .testing.simulate import run

    run(args, args.out, quiet=args.quiet)
    return EXIT_OK


def cmd_notebooks(args: argparse.Namespace) -> int:
    from .report import copy_notebooks

    written = copy_notebooks(args.dir, data=args.data, overwrite=args.force)
    if not args.quiet:
        for path in written:
            print(f"wrote {escape_terminal(path)}", file=sys.stderr)
        print(f"open them with: jupyter lab {escape_terminal(args.dir)}", file=sys.stderr)
    return EXIT_OK


# -- parser -----------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The ``syncstats`` argument parser (the CLI reference of the docs is built from it)."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(
        prog="syncstats",
        description="Analyse a sync worker's stats snapshots, logs and dead-letter queue.",
        formatter_class=fmt,
        epilog=textwrap.dedent("""\
            PATH is a fleet root (one folder per worker), one worker's folder, the
            worker's plugin data folder, a single file, or a Parquet store.
            Times: ISO-8601 (2026-10-21T00:00Z) or epoch seconds; durations need a
            unit (30min, 24h, 7d, 2w); fractions are in (0, 1] (0.95, not 95).

            examples (on the sample data, whose latest time is in the past):
              syncstats summary data --window 7d --now latest
              syncstats check data --window 1h --min-success-rate 0.9 --max-age 2h --now latest
              syncstats report data --now latest --out reports/batch_summary.html
              syncstats snapshot /srv/worker/stats.json --history /srv/hist/worker.jsonl
            """),
    )
    p.add_argument("--version", action="version", version=f"syncstats {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sp: argparse.ArgumentParser, window: str | None) -> None:
        sp.add_argument("path", help="a fleet root (one folder per worker), one worker's "
                                     "folder, a single file, or a Parquet store")
        sp.add_argument("--tz", default="UTC",
                        help="time zone of zone-less log timestamps (default: UTC)")
        sp.add_argument("--now", default=None,
                        help="analysis time: ISO-8601, epoch seconds, or 'latest' for the "
                             "latest time in the data (default: the current time)")
        if window is not None:
            sp.add_argument("--window", default=window,
                            help=f"window length, e.g. 1h, 24h, 7d (default: {window})")
        sp.add_argument("--backend", choices=["pandas", "dask"], default="pandas",
                        help="'dask': analyse on a dask cluster, for a Parquet store "
                             "larger than memory (default: pandas)")
        sp.add_argument("--engine", default=None, help=argparse.SUPPRESS)  # before 0.3
        sp.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        help="with --backend dask: an existing scheduler (tcp://host:8786); "
                             "default: a LocalCluster sized to this machine")

    s = sub.add_parser(
        "summary", help="print the batch summary", formatter_class=fmt,
        description="Print the batch summary of a data directory over a window.",
        epilog="examples:\n  syncstats summary data --now latest\n"
               "  syncstats summary data --window 7d --now latest --format markdown\n"
               "  syncstats summary data --now 2026-10-21T00:00Z --format json",
    )
    common(s, "24h")
    s.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    s.set_defaults(func=cmd_summary)

    a = sub.add_parser(
        "audit", help="print data-quality findings", formatter_class=fmt,
        description="Print the audit's data-quality findings (resets, invalid counters, "
                    "implausible jumps, gaps, ...).",
        epilog="examples:\n  syncstats audit data\n  syncstats audit data --format csv",
    )
    common(a, None)
    a.add_argument("--format", choices=["text", "csv", "json"], default="text")
    a.set_defaults(func=cmd_audit)

    c = sub.add_parser(
        "check", help="check thresholds (exit 0 ok, 1 breach, 2 no data)", formatter_class=fmt,
        description="Evaluate the thresholds given (and only those) for monitoring/cron. "
                    "Exit 0: ok; 1: a threshold breached; 2: data missing or unreadable.",
        epilog="examples:\n"
               "  syncstats check data --window 1h --min-success-rate 0.9 --now latest\n"
               "  syncstats check data --max-dlq 500 --max-dlq-growth 20 --max-age 2h\n"
               "  syncstats check data --slo 0.95 --format json --now latest\n"
               "  syncstats check /srv/worker --max-age 2h --quiet   # cron: silent when ok",
    )
    common(c, "1h")
    c.add_argument("--min-success-rate", metavar="FRACTION",
                   help="min success rate in the window, a fraction in (0, 1]")
    c.add_argument("--max-dlq", metavar="N", help="max DLQ entries")
    c.add_argument("--max-dlq-growth", metavar="N",
                   help="max new DLQ entries within the window")
    c.add_argument("--slo", metavar="FRACTION",
                   help="evaluate the SRE multiwindow burn-rate alerts for this SLO "
                        "(a fraction in (0, 1), e.g. 0.95)")
    c.add_argument("--max-age", metavar="DURATION",
                   help="a source whose latest snapshot is older than this is a breach")
    c.add_argument("--format", choices=["text", "json"], default="text")
    c.add_argument("--quiet", action="store_true",
                   help="print nothing when every check holds; only breached checks otherwise")
    c.set_defaults(func=cmd_check)

    n = sub.add_parser(
        "snapshot", help="append the stats file to a JSON Lines history (for cron)",
        formatter_class=fmt,
        description="Append the current stats file, stamped with the capture time, to a "
                    "JSON Lines history (atomic append; torn reads retried).",
        epilog="example crontab line (every 15 minutes):\n"
               "  */15 * * * * syncstats snapshot /srv/stash/plugins/Stash2Plex/data/stats.json"
               " --history /var/lib/syncstats/worker-a/history.jsonl --source worker-a --quiet",
    )
    n.add_argument("stats", help="the worker's stats.json")
    n.add_argument("--history", required=True, help="JSON Lines history to append to")
    n.add_argument("--source", help="worker name (default: the stats file's directory name)")
    n.add_argument("--now", default=None,
                   help="capture time, ISO-8601 or epoch seconds (default: the current time)")
    n.add_argument("--quiet", action="store_true")
    n.set_defaults(func=cmd_snapshot)

    e = sub.add_parser(
        "export", help="append a data directory to a Parquet history store",
        formatter_class=fmt,
        description="Load a data directory and append it to a Parquet store, "
                    "hive-partitioned by source and month. Append-only and idempotent: "
                    "rows the store already holds are not written again, old files are "
                    "never rewritten. Analyse the store with any command (PATH = the "
                    "store), e.g. with --backend dask.",
        epilog="example (nightly):\n"
               "  syncstats export /srv/syncstats-data --parquet /srv/store --quiet\n"
               "  syncstats summary /srv/store --backend dask --window 7d",
    )
    e.add_argument("path", help="a fleet root (one folder per worker), one worker's "
                                "folder or a single file")
    e.add_argument("--parquet", required=True, metavar="DIR", help="the store's directory")
    e.add_argument("--tz", default="UTC",
                   help="time zone of zone-less log timestamps (default: UTC)")
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(func=cmd_export)

    r = sub.add_parser(
        "report", help="render the HTML batch-summary report", formatter_class=fmt,
        description="Execute the report notebook (syncstats/report/notebooks/"
                    "batch_summary.ipynb) with papermill and export it "
                    "without code (self-contained HTML, figures embedded).",
        epilog="examples:\n  syncstats report data --now latest\n"
               "  syncstats report data --now latest --out reports/weekly.html --window 7d "
               "--freq 6h\n"
               "  syncstats report data --now latest --format md --source worker-a",
    )
    common(r, "7d")
    r.add_argument("--out", default=None,
                   help="output file (default: reports/batch_summary.<ext>)")
    r.add_argument("--freq", default="1h", help="trend bucket size (default: 1h)")
    r.add_argument("--source", action="append", default=None,
                   help="only this source (repeatable)")
    r.add_argument("--slo", default="0.95",
                   help="SLO target, a fraction in (0, 1) (default: 0.95)")
    r.add_argument("--format", choices=["html", "ipynb", "md"], default="html")
    r.add_argument("--quiet", action="store_true")
    r.set_defaults(func=cmd_report)

    from .testing.simulate import add_arguments as simulate_arguments

    m = sub.add_parser(
        "simulate", help="write simulated sample data (try everything without a worker)",
        formatter_class=fmt,
        description="Simulate sync workers deterministically and write what they leave "
                    "behind (snapshot copies, a JSON Lines history, host logs, dlq.db) "
                    "with the defects seen in the wild, plus truth.json (what happened).",
        epilog="example:\n  syncstats simulate demo && syncstats report demo --now latest\n"
               "  syncstats simulate demo --days 7 --sources 3 --defects none --overwrite",
    )
    m.add_argument("out", metavar="OUT", help="the folder to write (one folder per worker)")
    simulate_arguments(m)
    m.add_argument("--quiet", action="store_true")
    m.set_defaults(func=cmd_simulate)

    b = sub.add_parser(
        "notebooks", help="copy the analyst notebooks, ready to open in Jupyter",
        formatter_class=fmt,
        description="Copy the analyst notebooks (batch summary, DLQ triage) into DIR, "
                    "their data_path parameter set to PATH and their outputs cleared.",
        epilog="example:\n  syncstats notebooks analysis --data /srv/syncstats-data\n"
               "  jupyter lab analysis",
    )
    b.add_argument("dir", metavar="DIR", help="the folder to copy into (created if missing)")
    b.add_argument("--data", default=".", metavar="PATH",
                   help="what the notebooks analyse (default: the current directory)")
    b.add_argument("--force", action="store_true", help="replace notebooks already in DIR")
    b.add_argument("--quiet", action="store_true")
    b.set_defaults(func=cmd_notebooks)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``syncstats`` command."""
    for stream in (sys.stdout, sys.stderr):  # a latin-1 terminal degrades, never fails
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="replace")  # type: ignore[union-attr]
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet = getattr(args, "quiet", False)
    try:
        _validate(args)
        with _quiet(quiet), _backend(args):
            return int(args.func(args))
    except SyncstatsError as exc:
        if args.debug:
            raise
        _error(args, str(exc))
        return EXIT_DATA
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `syncstats summary data | head`: the reader left, not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:  # the user's environment: unwritable path, full disk, ...
        if args.debug:
            raise
        where = exc.filename if exc.filename is not None else "output"
        _error(args, f"{where}: {exc.strerror or exc}")
        return EXIT_DATA
    except Exception as exc:  # a bug: say so in one line unless --debug
        if args.debug:
            raise
        _error(args, f"internal error: {type(exc).__name__}: {exc} (a bug: please report "
                     "it; run with --debug for the traceback)")
        return EXIT_INTERNAL


def _error(args: argparse.Namespace, message: str) -> None:
    """One line on stderr, data text escaped (a message can quote a file's content)."""
    print(f"syncstats {args.command}: error: {escape_terminal(message)}", file=sys.stderr)


@contextlib.contextmanager
def _quiet(quiet: bool) -> Iterator[None]:
    """With ``--quiet``: no warning or log record of any library reaches stderr."""
    if not quiet:
        yield
        return
    import logging
    import warnings

    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
