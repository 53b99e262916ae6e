"""The templates engine of ``read_log`` (``syncstats/io/log/_templates.py``) gives exactly
what the per-line reader (the reference) gives: the same frames, row for row and
dtype for dtype, and the same issues in the same order.

Every case runs with each engine (the ``log_engine`` fixture); with ``'templates'`` it
is compared with ``engine='reference'``. The inputs: the
sample logs of ``data/``, the fixtures, hand-made lines with each defect docs/formats.md §3
lists (and the value oddities the reference judges line by line), lines cut across the
reader's buffer, and hypothesis-generated logs. Each test also checks that the fast path
did take rows where it should (a fast path that declined everything would compare equal).
"""

from __future__ import annotations

import gzip
import json
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from helpers_log import FastRows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import syncstats.io.log._lines as lines_module
import syncstats.io.log._templates as fastlog
import syncstats.io.log.reader as log_module
from syncstats import read_log
from syncstats.exceptions import LogFormatError, ParameterError

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
FIXTURES = Path(__file__).parent / "fixtures" / "logs"
WORKER = "[Plugin / Stash2Plex] [Stash2Plex Worker] "
PAYLOAD = {
    "processed": 2473, "succeeded": 2267, "failed": 206, "to_dlq": 41,
    "success_rate": "91.7%", "avg_time_ms": 409, "high_confidence": 2183,
    "low_confidence": 84, "errors_by_type": {"PlexNotFound": 145, "PlexTemporaryError": 61},
}


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def both(engine, path, **kw):
    """``read_log`` with *engine*, then with the reference."""
    return read_log(path, engine=engine, **kw), read_log(path, engine="reference", **kw)


def assert_same(fast, slow) -> None:
    # exact: rows, their order, dtypes (categories included), error rows in the
    # payload's key order, issues in the reference's order
    for name in ("snapshots", "errors", "issues", "dlq"):
        pd.testing.assert_frame_equal(getattr(fast, name), getattr(slow, name),
                                      check_exact=True, obj=name)


def without_fallback(data):
    """*data* without its ``engine_fallback`` issues (as if they had never been)."""
    issues = data.issues[data.issues["kind"] != "engine_fallback"].reset_index(drop=True)
    for name in issues.columns:
        if isinstance(issues[name].dtype, pd.CategoricalDtype):
            issues[name] = issues[name].cat.remove_unused_categories()
    return replace(data, issues=issues)


def check(engine, path, *, fallback: bool = False, **kw):
    """``read_log`` with *engine*, checked equal to the reference's; the templates
    engine's ``engine_fallback`` caveats (only where *fallback* says files are declined:
    their reads fail part-way) aside."""
    if engine == "reference":
        return read_log(path, engine=engine, **kw)
    fast, slow = both(engine, path, **kw)
    kinds = fast.issues["kind"].astype("str")
    if fallback:
        fast = without_fallback(fast)
    else:
        assert "engine_fallback" not in set(kinds)
    assert_same(fast, slow)
    return fast


def raised(path, **kw) -> str | None:
    try:
        read_log(path, on_error="raise", **kw)
    except LogFormatError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def check_raise(engine, path, **kw) -> None:
    """``on_error='raise'`` raises the same error (or none) with *engine* as with the
    reference."""
    got = raised(path, engine=engine, **kw)
    if engine != "reference":
        assert got == raised(path, engine="reference", **kw)


def go_quote(text: str) -> str:
    """Go's ``%q`` of *text*, as logrus writes a field (backslash, quote, controls)."""
    out = text.replace("\\", "\\\\").replace('"', '\\"')
    named = {"\a": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\v": "\\v", "\f": "\\f",
             "\r": "\\r"}
    out = "".join(named.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x20 or ord(c) == 0x7F
                                   else c) for c in out)
    return '"' + out + '"'


def file_line(payload: str, time: str = "2026-10-01 02:19:57", level: str = "info",
              prefix: str = WORKER) -> str:
    return f'time="{time}" level={level} msg={go_quote(prefix + "Stats: " + payload)}'


def console_line(payload: str, time: str = "2026-10-01 02:19:57", prefix: str = WORKER) -> str:
    return f"INFO[{time}] {prefix}Stats: {payload}"


def coloured_line(payload: str, time: str = "2026-10-01 02:19:57", prefix: str = WORKER) -> str:
    """The host's console (logrus ForceColors, message padded to 44 and a space)."""
    return f"\x1b[36mINFO\x1b[0m[{time}] {prefix + 'Stats: ' + payload:<44} "


def journal_line(payload: str, time: str = "2026-10-01 02:19:57", prefix: str = WORKER) -> str:
    """``journalctl -a``: the coloured line behind the journal's prefix."""
    return "Oct 01 00:19:57 nas stash[812]: " + coloured_line(payload, time, prefix)


def docker_line(payload: str, time: str = "2026-10-01 02:19:57", prefix: str = WORKER) -> str:
    """``docker logs --timestamps``: the coloured line behind an RFC 3339 time."""
    return "2026-10-01T00:19:57.123456789Z " + coloured_line(payload, time, prefix)


MAKERS = {"file": file_line, "console": console_line, "coloured": coloured_line,
          "journal": journal_line, "docker": docker_line}


def stats(**changes) -> str:
    payload = dict(PAYLOAD)
    for key, value in changes.items():
        if value is _DROP:
            payload.pop(key, None)
        else:
            payload[key] = value
    return json.dumps(payload)


_DROP = object()


def write(path: Path, lines: list[str | bytes], *, end: bytes = b"\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = end.join(ln.encode("utf-8", "surrogatepass") if isinstance(ln, str) else ln
                   for ln in lines) + end
    path.write_bytes(gzip.compress(raw, mtime=0) if path.suffix == ".gz" else raw)
    return path


def series(n: int, start: int = 0, time_step: int = 7) -> list[str]:
    """*n* worker lines with growing counters, one every *time_step* seconds."""
    out = []
    for i in range(n):
        p = start + 10 * (i + 1)
        s = p - p // 9
        sec = 1_790_000_000 + i * time_step
        when = pd.Timestamp(sec, unit="s").strftime("%Y-%m-%d %H:%M:%S")
        errs = {"PlexNotFound": (p - s) // 2, "PlexTemporaryError": p - s - (p - s) // 2}
        out.append(file_line(stats(processed=p, succeeded=s, failed=p - s,
                                   high_confidence=s - i % 3, low_confidence=i % 3,
                                   avg_time_ms=300 + i % 250, errors_by_type=errs), when))
        out.append(f'time="{when}" level=info msg="[scan] {i % 100}% complete"')
    return out


# --------------------------------------------------------------------------------------
# Sample data and fixtures
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin", "America/New_York"])
@pytest.mark.parametrize("source", ["worker-a", "worker-b"])
def test_sample_logs(log_engine, monkeypatch, source, tz):
    spy = FastRows(monkeypatch)
    data = check(log_engine, DATA / source, tz=tz)
    assert len(data.snapshots) > 400
    # the worker's lines take the fast path (raw stderr lines, bad times and the like
    # are the reference's)
    assert log_engine == "reference" or spy.rows > 0.9 * len(data.snapshots)


def test_fixtures(log_engine, monkeypatch):
    spy = FastRows(monkeypatch)
    for name in ("stash_file_form.log", "stash_console.log", "plugin_stderr.log"):
        check(log_engine, FIXTURES / name)
        check(log_engine, FIXTURES / name, tz="Asia/Kolkata")
        check_raise(log_engine, FIXTURES / name)
    check(log_engine, FIXTURES)
    assert log_engine == "reference" or spy.rows > 0


def test_generated_like_the_benchmark(log_engine, tmp_path, monkeypatch):
    """The benchmark's generator (file form, Go %q, noise, torn noise lines)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench as bench_load
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    info = bench_load.gen_log(tmp_path, 300, 4)
    spy = FastRows(monkeypatch)
    data = check(log_engine, info["input"])
    assert log_engine == "reference" or len(data.snapshots) == spy.rows == 300
    assert len(data.errors) == info["errors"]


# --------------------------------------------------------------------------------------
# Hand-made defects: each line either reads the same or is left to the reference
# --------------------------------------------------------------------------------------

ODD_PAYLOADS = {
    "plain": stats(),
    "no errors": stats(errors_by_type={}),
    "errors null": stats(errors_by_type=None),
    "errors list": stats(errors_by_type=[1, 2]),
    "errors string": stats(errors_by_type="x"),
    "error float": stats(errors_by_type={"A": 1.5}),
    "error integral float": stats(errors_by_type={"A": 2.0}),
    "error bool": stats(errors_by_type={"A": True}),
    "error null": stats(errors_by_type={"A": None}),
    "error huge": stats(errors_by_type={"A": 10**20}),
    "error int64 min": stats(errors_by_type={"A": -(2**63)}),
    "error name digits": stats(errors_by_type={"Http503Error": 3, "E1": 1}),
    "error name unicode": stats(errors_by_type={"Fehlér": 3}),
    "error name unicode raw": json.dumps({**PAYLOAD, "errors_by_type": {"Fehlér": 3}},
                                         ensure_ascii=False),
    "error name quotes": stats(errors_by_type={'Odd"Name\\Err': 1}),
    "error name empty": stats(errors_by_type={"": 4}),
    "error name surrogate": '{"processed": 1, "avg_time_ms": 1, "errors_by_type": {"\\ud800": 1}}',
    "errors reordered": stats(errors_by_type={"PlexTemporaryError": 61, "PlexNotFound": 145}),
    "duplicate error": '{"processed": 3, "avg_time_ms": 2, "errors_by_type": {"A": 1, "A": 2}}',
    "duplicate key": '{"processed": 3, "processed": 4, "avg_time_ms": 2}',
    "processed missing": stats(processed=_DROP),
    "avg missing": stats(avg_time_ms=_DROP),
    "avg float": stats(avg_time_ms=409.5),
    "avg null": stats(avg_time_ms=None),
    "avg string": stats(avg_time_ms="409"),
    "avg bool": stats(avg_time_ms=True),
    "avg huge": stats(avg_time_ms=10**300),
    "avg nan": stats().replace('"avg_time_ms": 409', '"avg_time_ms": NaN'),
    "avg infinity": stats().replace('"avg_time_ms": 409', '"avg_time_ms": Infinity'),
    "counter null": stats(failed=None),
    "counter float": stats(failed=206.0),
    "counter fraction": stats(failed=206.5),
    "counter bool": stats(to_dlq=False),
    "counter string": stats(to_dlq="41"),
    "counter negative": stats(failed=-206),
    "counter minus zero": stats().replace('"to_dlq": 41', '"to_dlq": -0'),
    "counter leading zero": stats().replace('"to_dlq": 41', '"to_dlq": 041'),
    "counter 18 digits": stats(processed=999_999_999_999_999_999),
    "counter 19 digits": stats(processed=2**62 + 1),
    "counter int64 max": stats(processed=2**63 - 1),
    "counter int64 min": stats(processed=-(2**63)),
    "counter overflow": stats(processed=10**32),
    "counter exponent": stats().replace('"to_dlq": 41', '"to_dlq": 4.1e1'),
    "only some counters": '{"processed": 5, "avg_time_ms": 100}',
    "no worker key": '{"hits": 4, "misses": 1}',
    "extra keys": stats(version="1.2.3", host=None, retries=[1, 2], nested={"a": 1}),
    "whitespace": '{ "processed" :5 ,\t"avg_time_ms":100 ,"errors_by_type" : { "A" : 1 } }',
    "not an object": "[1, 2, 3]",
    "torn payload": stats()[:-20],
    "trailing text": stats() + " and more",
    "two objects": stats() + stats(),
    "deep": '{"processed": 1, "avg_time_ms": 1, "x": ' + "[" * 3000 + "]" * 3000 + "}",
    "control char": stats(success_rate="9\t1%"),
}


@pytest.mark.parametrize("form", list(MAKERS))
def test_odd_payloads(log_engine, tmp_path, monkeypatch, form):
    make = MAKERS[form]
    lines = []
    for i, payload in enumerate(ODD_PAYLOADS.values()):
        lines.append(make(payload, f"2026-10-01 02:{i // 60:02d}:{i % 60:02d}"))
        lines.append(make(stats(processed=10 + i), f"2026-10-01 03:{i // 60:02d}:{i % 60:02d}"))
    path = write(tmp_path / "w" / "host.log", lines)
    spy = FastRows(monkeypatch)
    data = check(log_engine, path, tz="Europe/Berlin")
    check_raise(log_engine, path)
    assert log_engine == "reference" or spy.rows >= len(ODD_PAYLOADS)  # the plain lines at least
    assert len(data.snapshots) > len(ODD_PAYLOADS)
    # one file per payload (one source each), read at once; on_error="raise" on each
    alone = tmp_path / "alone"
    for name, payload in ODD_PAYLOADS.items():
        single = write(alone / name.replace(" ", "_") / f"{form}.log", [make(payload)])
        if form in ("file", "journal"):
            check_raise(log_engine, single)
    check(log_engine, alone)


TIMES = [
    "2026-10-01 02:19:57", "2026-10-01T02:19:57", "2026-02-29 00:00:00", "2028-02-29 00:00:00",
    "2026-13-01 00:00:00", "2026-00-10 00:00:00", "2026-04-31 12:00:00", "2026-10-01 24:00:00",
    "2026-10-01 23:60:00", "2026-10-01 23:59:60", "1969-12-31 23:59:59", "1970-01-01 00:00:00",
    "1970-01-02 00:00:00", "1970-01-01 23:59:59", "2200-12-31 23:59:59", "2201-01-01 00:00:00",
    "2262-04-12 00:00:00", "5138-11-16 09:46:39", "9999-12-31 23:59:59", "0000-01-01 00:00:00",
    "2026-10-01 02:19:57Z", "2026-10-01 02:19:57+02:00", "2026-10-01 02:19:57.123",
    "2026-10-01 02:19", "2026-10-01", "0042", "", " 2026-10-01 02:19:57",
    # Europe/Berlin: the autumn hour is ambiguous, the spring one does not exist
    "2026-10-25 02:30:00", "2026-03-29 02:30:00", "2026-10-25 01:59:59", "2026-03-29 03:00:00",
    # the readers' window (syncstats._time.plausible): 2000-01-01 up to 2100-01-01 UTC, in
    # UTC and after each zone's conversion (a day's margin either side)
    "1999-12-31 23:59:59", "2000-01-01 00:00:00", "2099-12-31 23:59:59", "2100-01-01 00:00:00",
    "1999-12-30 23:59:59", "1999-12-31 12:00:00", "2000-01-01 12:00:00", "2099-12-31 12:00:00",
    "2100-01-01 12:00:00", "2100-01-02 00:00:00", "2100-01-03 00:00:00", "1999-12-29 00:00:00",
    "0001-01-01 00:00:00", "2263-01-01 00:00:00", "9999-01-01 00:00:00",
    "1999-12-31 23:59:59Z", "2000-01-01 00:00:00Z", "2099-12-31 23:59:59Z",
    "2100-01-01 00:00:00Z", "2000-01-01 00:30:00+01:00", "2099-12-31 23:30:00-01:00",
    "1970-01-01 00:00:00Z", "0001-01-01 00:00:00Z", "2263-01-01 00:00:00Z",
]


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin", "Australia/Lord_Howe", "Etc/GMT+12"])
def test_times(log_engine, tmp_path, monkeypatch, tz):
    lines = [file_line(stats(processed=i + 1), t) for i, t in enumerate(TIMES)]
    lines += [console_line(stats(processed=100 + i), t) for i, t in enumerate(TIMES)]
    lines += [coloured_line(stats(processed=200 + i), t) for i, t in enumerate(TIMES)]
    lines += [docker_line(stats(processed=300 + i), t) for i, t in enumerate(TIMES)]
    lines.append(f'level=info msg={go_quote(WORKER + "Stats: " + stats())}')  # no time=
    path = write(tmp_path / "w" / "host.log", lines)
    spy = FastRows(monkeypatch)
    check(log_engine, path, tz=tz)
    check_raise(log_engine, path, tz=tz)
    assert log_engine == "reference" or spy.rows > 10


LINES = {
    "crlf": (file_line(stats()) + "\r").encode(),
    "cr twice": (file_line(stats()) + "\r\r").encode(),
    "bom": b"\xef\xbb\xbf" + file_line(stats()).encode(),
    "not utf-8": file_line(stats(success_rate="91\udcff%")).encode("utf-8", "surrogateescape"),
    "latin-1 byte": file_line(stats()).encode().replace(b"91.7%", b"91.7\xe9"),
    "torn quote": file_line(stats())[:-1].encode(),
    "torn mid": file_line(stats())[:-40].encode(),
    "merged": (file_line(stats())[:-30] + file_line(stats(processed=7))).encode(),
    "two stats": (file_line(stats())[:-1] + " Stats: " + stats(processed=9) + '"').encode(),
    "stats in prefix": file_line(stats(), prefix="[Plugin / Stats: {x}] ").encode(),
    "no bracket": file_line(stats(), prefix="Worker ").encode(),
    "empty prefix": file_line(stats(), prefix="").encode(),
    "tab prefix": file_line(stats(), prefix="[W]\t").encode(),
    "other escapes": file_line(stats(), prefix="[W\\n] ").encode(),
    "go escapes": file_line(stats(), prefix="[\x01Bell\x07] ").encode(),
    "newline escape in payload": file_line(stats(success_rate="9\n1")).encode(),
    "x escape raw": b'time="2026-10-01 02:19:57" level=info msg="[W] Stats: {\\"processed\\": 1, '
                    b'\\"avg_time_ms\\": 2, \\"x\\": \\"\\x41\\"}"',
    "bad escape raw": b'time="2026-10-01 02:19:57" level=info msg="[W] Stats: {\\"processed\\": 1, '
                      b'\\"avg_time_ms\\": 2, \\"x\\": \\"\\q\\"}"',
    "unquoted msg": f'time="2026-10-01 02:19:57" level=info msg={WORKER}Stats: {stats()}'.encode(),
    "trailing field": (file_line(stats()) + ' caller="x.go:1"').encode(),
    "trailing space": (file_line(stats()) + " ").encode(),
    "leading space": (" " + file_line(stats())).encode(),
    "time later": f'level=info msg={go_quote(WORKER + "Stats: " + stats())} '
                  f'time="2026-10-01 02:19:57"'.encode(),
    "two times": ('time="2026-10-01 02:19:57" ' + file_line(stats())).encode(),
    "msg in time": f'time="a msg=\\"x" level=info msg={go_quote("Stats: " + stats())}'.encode(),
    "level odd": file_line(stats(), level="INFO2").encode(),
    "console no space": f"INFO[2026-10-01 02:19:57]{WORKER}Stats: {stats()}".encode(),
    "console uptime": f"INFO[0042] {WORKER}Stats: {stats()}".encode(),
    "console lower": f"info[2026-10-01 02:19:57] {WORKER}Stats: {stats()}".encode(),
    "console backslash": console_line(stats(errors_by_type={'Odd"Name\\Err': 1})).encode(),
    "raw stderr": f"\x01i\x02{WORKER}Stats: {stats()}".encode(),
    "raw stderr bad level": f"\x01x\x02{WORKER}Stats: {stats()}".encode(),
    "nul byte": file_line(stats()).encode().replace(b"[Plugin", b"[\x00Plugin"),
    "just the mark": b"Stats: {",
    "mark at start": b"Stats: {" + stats().encode()[1:],
    # a zero-padded number in a line of a template whose first line had none
    "leading zero later": (file_line(stats(to_dlq=41)) + "\n"
                           + file_line(stats(to_dlq=41)).replace("to_dlq\\\": 41",
                                                                  "to_dlq\\\": 04")).encode(),
    "minus zero later": (file_line(stats(to_dlq=-4)) + "\n"
                         + file_line(stats(to_dlq=-4)).replace("-4,", "-0,")).encode(),
    "traceback": ('time="2026-10-01 02:19:57" level=error msg='
                  + go_quote("Traceback:\n  Stats: {\n")).encode(),
    # a digit the template does not read turned into another byte in a later line: the
    # fast path once took such a line (a torn payload) as its template's
    "digit to quote later": (console_line(stats()) + "\n"
                             + console_line(stats()).replace("91.7%", '9".7%')).encode(),
    "extra number leading zero later": (console_line(stats(build=41)) + "\n"
                                        + console_line(stats(build=41)).replace(
                                            '"build": 41', '"build": 04')).encode(),
    "nested number leading zero later": (console_line(stats(extra={"n": 12})) + "\n"
                                         + console_line(stats(extra={"n": 12})).replace(
                                             '"n": 12', '"n": 02')).encode(),
    "colour digit to letter later": (coloured_line(stats()) + "\n" + coloured_line(
        stats()).replace("\x1b[36m", "\x1b[3xm")).encode(),
    "journal pid to letter later": (journal_line(stats()) + "\n" + journal_line(
        stats()).replace("[812]", "[8x2]")).encode(),
    "docker time to letter later": (docker_line(stats()) + "\n" + docker_line(
        stats()).replace("57.123", "57.1x3")).encode(),
    # the capture forms, and what they do to the line
    "coloured": coloured_line(stats()).encode(),
    "coloured padded": (coloured_line(stats()) + " " * 40).encode(),
    "coloured reset at end": (coloured_line(stats()) + "\x1b[0m").encode(),
    "colour in payload": coloured_line(stats()).replace('"failed"', '\x1b[1m"failed"').encode(),
    "colour in time": coloured_line(stats()).replace(":19:", ":19\x1b[0m:").encode(),
    "colour in prefix": coloured_line(stats()).replace("[Plugin", "\x1b[35m[Plugin").encode(),
    "colour broken": coloured_line(stats()).replace("\x1b[36m", "\x1b36m").encode(),
    "colour lone escape": coloured_line(stats()).replace("[Plugin", "\x1b[Plugin").encode(),
    "coloured file form": ("\x1b[36m" + file_line(stats()) + "\x1b[0m").encode(),
    "journal": journal_line(stats()).encode(),
    "journal plain": ("Oct  1 00:19:57 nas stash[812]: " + console_line(stats())).encode(),
    "journal iso": ("2026-10-01T00:19:57+0200 nas stash[812]: "
                    + coloured_line(stats())).encode(),
    "journal file form": ("Oct 01 00:19:57 nas stash[812]: " + file_line(stats())).encode(),
    "journal no colon": journal_line(stats()).replace("]: ", "] ", 1).encode(),
    "journal blob": b"Oct 01 00:19:57 nas stash[812]: [1.2K blob data]",
    "journal blob bare": b"[blob data]",
    "journal blob cr": b"Oct 01 00:19:57 nas stash[812]: [386B blob data]\r\r",
    "journal blob then text": b"Oct 01 00:19:57 nas stash[812]: [386B blob data] x",
    "journal blob marked": (coloured_line(stats()) + " [12B blob data]").encode(),
    "journal blob marked file": (file_line(stats()) + " [12B blob data]").encode(),
    "docker": docker_line(stats()).encode(),
    "docker no fraction": ("2026-10-01T00:19:57Z " + coloured_line(stats())).encode(),
    "docker offset": ("2026-10-01T00:19:57.5+02:00 " + console_line(stats())).encode(),
    "docker bad time": ("2026-10-01 00:19:57.5Z " + coloured_line(stats())).encode(),
    "compose": ("stash-1  | " + docker_line(stats())).encode(),
    "json-file": json.dumps({"log": coloured_line(stats()) + "\n", "stream": "stderr",
                             "time": "2026-10-01T00:19:57.1Z"}).encode(),
    "json-file torn": json.dumps({"log": coloured_line(stats()) + "\n"}).encode()[:-9],
    "json-file nested": json.dumps({"log": json.dumps({"log": coloured_line(stats())})}).encode(),
    "worker mark outside msg": (b'time="2026-10-01 02:19:57" level=info msg="x" '
                                b'y="[Stash2Plex Worker] Stats: {"'),
    "worker mark no worker keys": coloured_line('{"hits": 1}').encode(),
    "worker mark unknown form": ("<14>1 2026-10-01T02:19:57Z nas stash 812 - - "
                                 + console_line(stats())).encode(),
}


def test_odd_lines(log_engine, tmp_path, monkeypatch):
    lines: list[bytes] = []
    for i, raw in enumerate(LINES.values()):
        lines.append(raw)
        lines.append(file_line(stats(processed=10 + i)).encode())
    path = write(tmp_path / "w" / "host.log", lines)
    spy = FastRows(monkeypatch)
    check(log_engine, path)
    check(log_engine, path, tz="Europe/Berlin")
    check_raise(log_engine, path)
    assert log_engine == "reference" or spy.rows >= len(LINES)
    alone = tmp_path / "alone"
    for name, raw in LINES.items():
        check_raise(log_engine, write(alone / name.replace(" ", "_") / "host.log", [raw]))
    check(log_engine, alone)


def test_files_sources_order_and_gzip(log_engine, tmp_path, monkeypatch):
    """Several files: sources, out-of-order times (rotated logs), gzip, empty files, a
    torn last line without newline, an unreadable and a corrupt gzip file."""
    newer = series(40, start=1000)
    older = series(40)
    write(tmp_path / "hostA" / "stash.log", newer)
    write(tmp_path / "hostA" / "stash.log.1", older)
    write(tmp_path / "hostA" / "stash.log.2.gz", series(10, start=5000))
    write(tmp_path / "hostB" / "stash.log", series(15, time_step=0))  # equal times
    (tmp_path / "hostB" / "empty.log").write_bytes(b"")
    (tmp_path / "hostB" / "noeol.log").write_bytes("\n".join(series(3)).encode()
                                                   + b"\n" + file_line(stats()).encode()[:-9])
    good = gzip.compress("\n".join(series(30)).encode() + b"\n", mtime=0)
    (tmp_path / "hostC").mkdir()
    (tmp_path / "hostC" / "cut.log.gz").write_bytes(good[: len(good) * 2 // 3])
    (tmp_path / "hostC" / "bad.log.gz").write_bytes(good[:200] + b"\x00" * 50 + good[250:])
    (tmp_path / "hostC" / "notgz.log.gz").write_bytes(b"not gzip at all")
    spy = FastRows(monkeypatch)
    files = sorted(tmp_path.rglob("*.log*"))
    check(log_engine, files, fallback=True)  # the corrupt gzip files
    check(log_engine, files, tz="Europe/Berlin", source="fleet", fallback=True)
    check(log_engine, tmp_path / "hostA")
    check_raise(log_engine, tmp_path / "hostA")
    for f in files:
        check_raise(log_engine, f)
    assert log_engine == "reference" or spy.rows > 100


# --------------------------------------------------------------------------------------
# The reader's own edges: buffers, overlong lines, template lookups, fallbacks
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("read_bytes", [7, 64, 333, 4096])
@pytest.mark.parametrize("max_line", [64, 300, 1 << 20])
def test_lines_across_reads_and_overlong_lines(
    log_engine, tmp_path, monkeypatch, read_bytes, max_line
):
    monkeypatch.setattr(fastlog, "READ_BYTES", read_bytes)
    monkeypatch.setattr(log_module, "MAX_LINE_BYTES", max_line)
    lines = series(12)
    lines.insert(3, "x" * 900 + "Stats: {" + "y" * 50)            # overlong, marked
    lines.insert(6, "z" * 1000)                                   # overlong, not marked
    lines.insert(9, "Stat" + "s: {" + "q" * 600)                  # mark across reads
    lines.insert(12, "")
    lines.insert(13, "w" * 295 + "Stats: {")                       # mark at the very end
    lines.insert(14, "Oct 01 00:19:57 nas stash[812]: [1.2K blob data]")
    lines.insert(15, "v" * 900 + "[1.2K blob data]")                # overlong blob: a line
    lines.insert(16, coloured_line(stats()))
    lines.insert(17, "[blob data]")
    path = write(tmp_path / "w" / "host.log", lines)
    check(log_engine, path)
    check_raise(log_engine, path)
    (tmp_path / "w" / "host.log").write_bytes(path.read_bytes().rstrip(b"\n"))  # no EOL
    check(log_engine, path)
    (tmp_path / "w" / "host.log").write_bytes(path.read_bytes() + b"v" * 2000)  # long tail
    check(log_engine, path)


def test_template_digits_not_read_are_checked(log_engine, tmp_path, monkeypatch):
    """Lines of one template may differ at any digit of its first line: where the fast
    path reads no number (a string's digits, a number of an unknown key, a capture's
    prefix) the byte must be a digit still, and a number must not get a leading zero;
    else the line is the reference's (a torn payload here, not a row)."""
    plain = console_line(stats(build=41))
    coloured = coloured_line(stats())
    lines = [plain, plain.replace("91.7%", '9".7%'), plain.replace('"build": 41', '"build": 04'),
             plain, coloured, coloured.replace("\x1b[36m", "\x1b[3xm"), coloured]
    path = write(tmp_path / "w" / "host.log", lines)
    spy = FastRows(monkeypatch)
    data = check(log_engine, path)
    assert log_engine == "reference" or spy.rows == 4
    assert [int(o.rsplit(":", 1)[1]) for o in data.snapshots["origin"]] == [1, 4, 5, 7]
    assert data.issues[["line", "kind"]].values.tolist() == [
        [2, "torn_line"], [3, "torn_line"], [6, "unknown_form"]]


def test_template_fallbacks(log_engine, tmp_path, monkeypatch):
    """Few matching rounds (lines looked up one by one) and a cache emptied at once."""
    lines = series(60) + [file_line(stats(success_rate="x" * (i % 9), processed=i))
                          for i in range(60)]
    path = write(tmp_path / "w" / "host.log", lines)
    monkeypatch.setattr(fastlog, "MATCH_ROUNDS", 1)
    spy = FastRows(monkeypatch)
    check(log_engine, path)
    assert log_engine == "reference" or spy.rows > 0
    monkeypatch.setattr(fastlog, "MEMO_MAX", 0)
    check(log_engine, path)
    monkeypatch.setattr(fastlog, "READ_BYTES", 1000)
    check(log_engine, path)


def test_read_errors(log_engine, tmp_path, monkeypatch):
    """A file whose read fails part-way is declined by the templates engine and read by
    the reference (which decides what stays): the same frames, and one
    ``engine_fallback`` issue with the reason."""
    path = write(tmp_path / "w" / "host.log", series(50) + [file_line("[1]")])
    real_open = lines_module._open

    class Flaky:
        """Fails once more than *limit* bytes were read (same for both paths)."""

        def __init__(self, f, limit):
            self.fh, self.limit, self.done = real_open(f), limit, 0

        def _count(self, n):
            self.done += n
            if self.done > self.limit:
                raise OSError(5, "Input/output error")
            return n

        def read(self, n=-1):
            data = self.fh.read(n)
            self._count(len(data))
            return data

        def readline(self, n=-1):
            data = self.fh.readline(n)
            self._count(len(data))
            return data

        def readinto(self, b):
            return self._count(self.fh.readinto(b))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    for limit in (0, 1000, 5000):
        monkeypatch.setattr(lines_module, "_open", lambda f, limit=limit: Flaky(f, limit))
        got, slow = both(log_engine, path)
        kinds = got.issues["kind"].astype("str")
        fallback = got.issues[kinds == "engine_fallback"]
        if log_engine == "reference":
            assert fallback.empty
        else:
            assert len(fallback) == 1 and fallback["line"].isna().all()
            assert fallback["detail"].str.contains("read failed part-way").all()
            assert fallback["detail"].str.contains("Input/output error").all()
        got = without_fallback(got)
        assert_same(got, slow)
        check_raise(log_engine, path)  # a caveat: never raises


def test_bad_engine_is_refused(tmp_path):
    path = write(tmp_path / "w" / "host.log", series(2))
    for bad in ("fast", "arrow", "", None):
        with pytest.raises(ParameterError, match=r"engine: expected one of .*auto.*reference.*"
                                                 r"templates.*found") as info:
            read_log(path, engine=bad)
        assert "\n" not in str(info.value)
    with pytest.raises(ParameterError, match="engine"):
        log_module.read_log_files([path], None, tz="UTC", source=None, engine="Templates")


def test_no_fallback_on_clean_logs(log_engine):
    for data in (read_log(DATA / "worker-a", engine=log_engine),
                 read_log(DATA / "worker-b", engine=log_engine),
                 read_log(FIXTURES, engine=log_engine)):
        assert "engine_fallback" not in set(data.issues["kind"].astype("str"))


def test_on_error_raise_gzip_is_the_references(log_engine, tmp_path):
    good = gzip.compress("\n".join(series(30) + [file_line("[1]")]).encode() + b"\n", mtime=0)
    (tmp_path / "cut.log.gz").write_bytes(good[: len(good) // 2])
    (tmp_path / "ok.log.gz").write_bytes(good)
    check_raise(log_engine, tmp_path / "cut.log.gz")
    check_raise(log_engine, tmp_path / "ok.log.gz")


# --------------------------------------------------------------------------------------
# Fuzzing: generated logs, mutated bytes
# --------------------------------------------------------------------------------------

FUZZ = settings(max_examples=25, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow,
                                       HealthCheck.function_scoped_fixture])

_numbers = st.one_of(
    st.integers(min_value=-3, max_value=10**6),
    st.sampled_from([0, -0, 10**15, 10**18 - 1, 10**18, 2**63 - 1, -(2**63), 10**25]),
)
_values = st.one_of(_numbers, st.sampled_from([None, True, 1.5, 2.0, "7", [], {}]))
_names = st.sampled_from(["PlexNotFound", "PlexTemporaryError", "E1", "Fehlér", 'Q"', "",
                          "PermanentError"])
_payload = st.fixed_dictionaries(
    {"processed": _numbers, "avg_time_ms": st.one_of(_numbers, st.just(12.5))},
    optional={
        "succeeded": _values, "failed": _numbers, "to_dlq": _numbers,
        "high_confidence": _numbers, "low_confidence": _values,
        "success_rate": st.sampled_from(["91.7%", "100.0%", "", 5]),
        "errors_by_type": st.one_of(
            st.dictionaries(_names, st.one_of(_numbers, st.just(1.5)), max_size=4),
            st.none()),
    },
)
_time = st.one_of(
    st.builds(lambda s: pd.Timestamp(s, unit="s").strftime("%Y-%m-%d %H:%M:%S"),
              st.integers(min_value=-10**6, max_value=8_000_000_000)),
    # a day or two either side of the window's ends (2000-01-01 and 2100-01-01 UTC)
    st.builds(lambda s: pd.Timestamp(s, unit="s").strftime("%Y-%m-%d %H:%M:%S"),
              st.one_of(st.integers(946_684_800 - 200_000, 946_684_800 + 200_000),
                        st.integers(4_102_444_800 - 200_000, 4_102_444_800 + 200_000))),
    st.sampled_from(TIMES),
)


@st.composite
def log_lines(draw) -> list[bytes]:
    out: list[bytes] = []
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        kind = draw(st.sampled_from(["file", "file", "file", "console", "coloured",
                                     "journal", "docker", "noise", "raw", "mutated"]))
        payload = json.dumps(draw(_payload), ensure_ascii=draw(st.booleans()))
        when = draw(_time)
        if kind in MAKERS:
            out.append(MAKERS[kind](payload, when).encode())
        elif kind == "raw":
            out.append(f"\x01i\x02{WORKER}Stats: {payload}".encode())
        elif kind == "noise":
            out.append(draw(st.sampled_from([b"", b"time=\"x\" msg=\"y\"", b"Stats: {",
                                             b"\t  File \"x.py\", line 1",
                                             b"Oct 01 00:19:57 nas stash[1]: [1.2K blob data]",
                                             b"[blob data]"])))
        else:
            make = MAKERS[draw(st.sampled_from(["file", "coloured", "journal", "docker"]))]
            raw = bytearray(make(payload, when).encode())
            for _ in range(draw(st.integers(min_value=1, max_value=3))):
                at = draw(st.integers(min_value=0, max_value=len(raw)))
                raw[at:at] = draw(st.sampled_from([b"\\", b'"', b"\r", b"\xff", b"0", b"-",
                                                   b"\\n", b"}", b" ", b"\\u00e9", b"9",
                                                   b"\x1b", b"\x1b[0m", b"m", b"x"]))
            out.append(bytes(raw))
    return out


@FUZZ
@given(lines=log_lines(), tz=st.sampled_from(["UTC", "Europe/Berlin", "America/St_Johns"]),
       crlf=st.booleans())
def test_fuzzed_logs(log_engine, tmp_path_factory, lines, tz, crlf):
    d = tmp_path_factory.mktemp("fuzz")
    path = write(d / "w" / "host.log", lines, end=b"\r\n" if crlf else b"\n")
    check(log_engine, path, tz=tz)


@FUZZ
@given(lines=log_lines(), read_bytes=st.integers(min_value=1, max_value=600),
       max_line=st.integers(min_value=8, max_value=700))
def test_fuzzed_buffers(log_engine, tmp_path_factory, lines, read_bytes, max_line):
    d = tmp_path_factory.mktemp("fuzzbuf")
    path = write(d / "w" / "host.log", lines)
    old = fastlog.READ_BYTES, log_module.MAX_LINE_BYTES
    fastlog.READ_BYTES, log_module.MAX_LINE_BYTES = read_bytes, max_line
    try:
        check(log_engine, path)
    finally:
        fastlog.READ_BYTES, log_module.MAX_LINE_BYTES = old
