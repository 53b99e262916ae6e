"""read_log on the host's log as it is really captured (docs/formats.md §3): the coloured
console output (logrus ``ForceColors``), behind journalctl's and docker's prefixes, and
journalctl's ``[... blob data]`` placeholders without ``-a``.

The fixtures are literal lines, written here byte for byte as each tool prints them.
Every test reads with the fast path and with the reference and expects the same; and
every line holding the worker's mark must come out as a snapshot row or an issue.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from helpers_log import FastRows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import syncstats
import syncstats.io.log as log_api
import syncstats.io.log.reader as log_module
from syncstats import schemas
from syncstats.io.discover import discover

#: docs/formats.md §3's payload, as the worker's ``json.dumps`` writes it.
P = ('{"processed": 2473, "succeeded": 2267, "failed": 206, "to_dlq": 41, '
     '"success_rate": "91.7%", "avg_time_ms": 409, "high_confidence": 2183, '
     '"low_confidence": 84, "errors_by_type": {"PlexNotFound": 145, "PlexTemporaryError": 61}}')
COUNTS = [2473, 2267, 206, 41, 2183, 84]
MARK = "[Stash2Plex Worker] Stats: {"

# --- the forms, literally ------------------------------------------------------------
#: Host log file: logrus key=value, message quoted and escaped (worked before).
FILE = ('time="2026-10-01 02:19:57" level=info msg="[Plugin / Stash2Plex] [Stash2Plex Worker] '
        'Stats: ' + P.replace('"', '\\"') + '"')
#: Console, colours stripped (worked before).
PLAIN = "INFO[2026-10-01 02:19:57] [Plugin / Stash2Plex] [Stash2Plex Worker] Stats: " + P
#: Console as the host writes it: ForceColors, "%-44s " (a message longer than 44 gets
#: the one trailing space); also what `docker logs` and `journalctl -a -o cat` print.
COLOURED = ("\x1b[36mINFO\x1b[0m[2026-10-01 02:19:57] [Plugin / Stash2Plex] "
            "[Stash2Plex Worker] Stats: " + P + " ")
#: `journalctl -a` (short): journal local time, no year; host; identifier[pid].
JOURNAL = "Oct 01 00:19:57 nas stash[812]: " + COLOURED
#: `journalctl` without -a: the coloured line's text is gone.
JOURNAL_BLOB = "Oct 01 00:19:57 nas stash[812]: [1.2K blob data]"
#: `docker logs --timestamps`: RFC 3339 UTC, nanoseconds.
DOCKER_T = "2026-10-01T00:19:57.123456789Z " + COLOURED
#: Raw plugin stderr (worked before): no time.
RAW = "\x01i\x02[Stash2Plex Worker] Stats: " + P

#: A few noise lines of each capture (coloured, padded to 44).
NOISE = [
    "\x1b[36mINFO\x1b[0m[2026-10-01 02:19:56] [Plugin / Stash2Plex] [Stash2Plex Worker] Sync"
    " summary: 2267/2473 succeeded (91.7%), avg 409ms ",
    "\x1b[37mDEBU\x1b[0m[2026-10-01 02:19:58] scan complete                                ",
    "\x1b[33mWARN\x1b[0m[2026-10-01 02:19:59] [Plugin / Other] Stats: {\"hits\": 3}         ",
    "Oct 01 00:20:00 nas systemd[1]: Started stash.service.",
    "Oct 01 00:20:01 nas stash[812]: \x1b[31mERRO\x1b[0m[2026-10-01 02:20:01] oops           "
    "                              ",
]

LEVELS = [("DEBU", 37), ("INFO", 36), ("WARN", 33), ("ERRO", 31), ("FATA", 31), ("PANI", 31)]


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def write(path: Path, lines: list[str | bytes], end: bytes = b"\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = end.join(ln.encode("utf-8", "surrogateescape") if isinstance(ln, str) else ln
                   for ln in lines) + end
    path.write_bytes(gzip.compress(raw, mtime=0) if path.suffix == ".gz" else raw)
    return path


def read(engine, path, **kw) -> syncstats.SyncData:
    """read_log with *engine*, checked equal to the reference's."""
    fast = syncstats.read_log(path, engine=engine, **kw)
    if engine == "reference":
        return fast
    slow = syncstats.read_log(path, engine="reference", **kw)
    for name in ("snapshots", "errors", "issues"):
        pd.testing.assert_frame_equal(getattr(fast, name), getattr(slow, name),
                                      check_exact=True, obj=name)
    return fast


def issues(data: syncstats.SyncData) -> list[tuple[int | None, str]]:
    return [(None if pd.isna(n) else int(n), str(k))
            for n, k in data.issues[["line", "kind"]].itertuples(index=False)]


def origins(data: syncstats.SyncData) -> list[int]:
    return [int(o.rsplit(":", 1)[1]) for o in data.snapshots["origin"]]


def assert_the_payload(data: syncstats.SyncData, n: int, when: str) -> None:
    snaps = data.snapshots
    schemas.validate(snaps, schemas.SNAPSHOTS)
    assert len(snaps) == n
    assert snaps[list(schemas.COUNTERS)].values.tolist() == [COUNTS] * n
    assert str(snaps["snapshot_at"].dtype) == str(schemas.UTC_DTYPE)
    assert snaps["snapshot_at"].tolist() == [utc(when)] * n
    assert data.errors["error_type"].tolist() == ["PlexNotFound", "PlexTemporaryError"] * n


# --------------------------------------------------------------------------------------
# Each form
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("level", "colour"), LEVELS)
def test_coloured_console_every_level(log_engine, tmp_path, monkeypatch, level, colour):
    line = COLOURED.replace("\x1b[36mINFO", f"\x1b[{colour}m{level}")
    f = write(tmp_path / "h" / "console.log", [*NOISE, line, line])
    spy = FastRows(monkeypatch)
    # logrus' zone-less time is the host's local time
    data = read(log_engine, f, tz="Europe/Berlin")
    assert_the_payload(data, 2, "2026-10-01 00:19:57")
    assert origins(data) == [6, 7] and issues(data) == []
    # the templates engine reads the coloured form itself
    assert log_engine == "reference" or spy.rows == 2


def test_colour_codes_anywhere_and_padding(log_engine, tmp_path):
    lines = [
        COLOURED + " " * 30,                                  # padded further
        COLOURED.replace("\x1b[36m", "\x1b[1;36m") + "\x1b[0m",  # bold, reset at the end
        COLOURED.replace("[Plugin / Stash2Plex] ", "\x1b[35m[Plugin / Stash2Plex]\x1b[0m "),
        COLOURED.replace("[Stash2Plex Worker] ", "[Stash2Plex Worker]\x1b[0m "),
        "\x1b[K" + COLOURED,                                  # erase-line from a terminal
        COLOURED.replace('"failed": 206', '"failed": \x1b[31m206\x1b[0m'),  # inside the JSON
        COLOURED.replace("02:19:57]", "02:19\x1b[0m:57]"),     # inside the time
    ]
    f = write(tmp_path / "h" / "console.log", lines)
    data = read(log_engine, f)
    assert_the_payload(data, len(lines), "2026-10-01 02:19:57")
    assert issues(data) == []


@pytest.mark.parametrize("line", [
    JOURNAL,                                                    # journalctl -a
    "Oct 01 00:19:57 nas stash[812]: " + PLAIN,                 # colours stripped
    "Oct  1 00:19:57 nas stash[812]: " + COLOURED,              # day padded with a space
    "Oct 01 00:19:57.123456 nas stash[812]: " + COLOURED,       # -o short-precise
    "2026-10-01T00:19:57+0000 nas stash[812]: " + COLOURED,     # -o short-iso
    "2026-10-01T00:19:57.123456+00:00 nas stash[812]: " + COLOURED,  # short-iso-precise
    "Thu 2026-10-01 00:19:57 UTC nas stash[812]: " + COLOURED,  # -o short-full
    "1790813997.123456 nas stash[812]: " + COLOURED,            # -o short-unix
    "Oct 01 00:19:57 nas 4f2a9c1b7d3e[2210]: " + COLOURED,      # docker's journald driver
    "Oct 01 00:19:57 nas stash: " + COLOURED,                   # no pid
])
def test_journalctl_a(log_engine, tmp_path, monkeypatch, line):
    f = write(tmp_path / "h" / "journal.txt", [*NOISE, line])
    spy = FastRows(monkeypatch)
    data = read(log_engine, f, tz="Europe/Berlin")
    # the logrus time is the one used (the journal's is another zone's, and has no year)
    assert_the_payload(data, 1, "2026-10-01 00:19:57")
    assert issues(data) == []
    assert log_engine == "reference" or spy.rows == 1


def test_journal_time_is_not_used(log_engine, tmp_path):
    """The journal prefix's time (journal's zone, no year) never becomes snapshot_at:
    the same line captured twice gets the same time."""
    lines = [JOURNAL.replace("Oct 01 00:19:57", "Dec 31 23:59:59"), JOURNAL, FILE]
    data = read(log_engine, write(tmp_path / "h" / "journal.txt", lines), tz="UTC")
    assert_the_payload(data, 3, "2026-10-01 02:19:57")


def test_journalctl_without_a_is_reported_once_with_the_count(log_engine, tmp_path):
    lines = [
        "-- Logs begin at Thu 2026-10-01 00:00:00 UTC, end at Thu 2026-10-01 01:00:00 UTC. --",
        "Oct 01 00:19:50 nas systemd[1]: Started stash.service.",  # printable: shown
        JOURNAL_BLOB,
        "Oct 01 00:19:57 nas stash[812]: [386B blob data]",
        "Oct 01 00:19:58 nas stash[812]: [blob data]",
        "[1.2K blob data]",                                          # -o cat
        "Oct 01 00:19:59 nas stash[812]: " + PLAIN,                  # no codes: shown
    ]
    f = write(tmp_path / "h" / "journal.txt", lines)
    data = read(log_engine, f)
    assert origins(data) == [7]
    assert issues(data) == [(3, "journal_blob")]
    detail = data.issues["detail"].iloc[0]
    assert detail.startswith("4 line(s) are journalctl's '[... blob data]' placeholder")
    assert "re-run journalctl with -a" in detail
    with pytest.raises(syncstats.LogFormatError, match=r"journal\.txt:3: journal_blob: 4 line"):
        syncstats.read_log(f, on_error="raise")
    # each file says so: here in a gzipped copy, and with CRLF ends
    g = write(tmp_path / "h2" / "journal.log.gz", lines)
    h = write(tmp_path / "h3" / "journal.log", lines, end=b"\r\n")
    both = read(log_engine, [f, g, h])
    assert issues(both) == [(3, "journal_blob")] * 3


def test_journalctl_a_o_cat(log_engine, tmp_path):
    """``journalctl -a -o cat``: the coloured lines alone (what the console shows)."""
    lines = [NOISE[1], COLOURED, NOISE[2], COLOURED.replace("02:19:57", "02:29:57")]
    data = read(log_engine, write(tmp_path / "h" / "journal-cat.txt", lines))
    assert data.snapshots["snapshot_at"].tolist() == [utc("2026-10-01 02:19:57"),
                                                      utc("2026-10-01 02:29:57")]
    assert issues(data) == []


@pytest.mark.parametrize("line", [
    COLOURED,                                                  # docker logs
    DOCKER_T,                                                  # docker logs --timestamps
    "2026-10-01T00:19:57Z " + COLOURED,                        # no fraction
    "2026-10-01T00:19:57.5+00:00 " + COLOURED,                 # kubectl-style offset
    "stash-1  | " + COLOURED,                                  # docker compose logs
    "stash-1  | " + DOCKER_T,                                  # docker compose logs -t
    "\x1b[36mstash-1  |\x1b[0m " + COLOURED,                   # ... with its colours
])
def test_docker_logs(log_engine, tmp_path, monkeypatch, line):
    f = write(tmp_path / "h" / "docker-stash.log", [NOISE[0], line, NOISE[1]])
    spy = FastRows(monkeypatch)
    data = read(log_engine, f, tz="Europe/Berlin")
    assert_the_payload(data, 1, "2026-10-01 00:19:57")
    assert issues(data) == []
    assert log_engine == "reference" or spy.rows == 1


def test_docker_logs_of_a_tty_crlf(log_engine, tmp_path, monkeypatch):
    """``docker run -t``: the console's lines end in CRLF; read by the fast path too."""
    lines = [NOISE[0], DOCKER_T, COLOURED, DOCKER_T + "\r", NOISE[1]]
    f = write(tmp_path / "h" / "docker.log", lines, end=b"\r\n")
    spy = FastRows(monkeypatch)
    data = read(log_engine, f, tz="Europe/Berlin")
    assert_the_payload(data, 3, "2026-10-01 00:19:57")
    assert issues(data) == []
    # the line ending in two CRs is the reference's
    assert log_engine == "reference" or spy.rows == 2


def test_docker_timestamp_is_not_used(log_engine, tmp_path):
    """docker's time (UTC, when the daemon got the line) differs from the host's logrus
    time by the pipe's delay; the logrus time is used, as for the log file."""
    line = DOCKER_T.replace("00:19:57.123456789Z", "00:19:58.999999999Z")
    data = read(log_engine, write(tmp_path / "h" / "docker.log", [line]), tz="Europe/Berlin")
    assert_the_payload(data, 1, "2026-10-01 00:19:57")


def test_docker_json_file_log(log_engine, tmp_path):
    """/var/lib/docker/containers/<id>/<id>-json.log: a JSON object a line."""
    entry = {"log": COLOURED + "\n", "stream": "stderr", "time": "2026-10-01T00:19:57.1Z"}
    lines = [json.dumps(entry), json.dumps({**entry, "log": COLOURED + "\r\n"}),
             json.dumps(entry)[:-40], '{"log": 5, "x": "' + MARK + '"}']
    f = write(tmp_path / "h" / "4f2a-json.log", lines)
    data = read(log_engine, f, tz="Europe/Berlin")
    assert origins(data) == [1, 2]
    assert issues(data) == [(3, "unknown_form"), (4, "unknown_form")]
    assert "docker json-file" in data.issues["detail"].iloc[0]


def test_all_forms_in_one_file(log_engine, tmp_path, monkeypatch):
    lines = [FILE, PLAIN, COLOURED, JOURNAL, JOURNAL_BLOB, DOCKER_T, RAW, *NOISE]
    f = write(tmp_path / "h" / "capture.log", lines)
    spy = FastRows(monkeypatch)
    data = read(log_engine, f)
    assert origins(data) == [1, 2, 3, 4, 6, 7]
    assert issues(data) == [(5, "journal_blob"), (7, "no_timestamp")]
    assert log_engine == "reference" or spy.rows == 5  # raw stderr has no time: the reference's


def test_parse_log_line_and_unwrap():
    assert log_api.parse_log_line(DOCKER_T) == ("console", "2026-10-01 02:19:57",
                                                   "[Plugin / Stash2Plex] [Stash2Plex Worker] "
                                                   "Stats: " + P + " ")
    assert log_api.unwrap(JOURNAL) == log_api.unwrap(COLOURED) == PLAIN + " "
    keep: list[int] = []
    text = log_api.unwrap(JOURNAL, keep)
    assert "".join(JOURNAL[i] for i in keep) == text


# --------------------------------------------------------------------------------------
# Nothing lost: every line with the worker's mark is a row or an issue
# --------------------------------------------------------------------------------------

#: The worker's line mangled in every way a capture (or a torn write) does.
MANGLED = [
    COLOURED, JOURNAL, DOCKER_T, FILE, PLAIN, RAW,
    COLOURED[:-30],                                             # torn payload
    COLOURED.replace("INFO", "info"),                           # not a logrus level
    COLOURED.replace("\x1b[36m", "\x1b36m"),                    # broken colour code
    COLOURED.replace("\x1b[0m[", "\x1b[0m ["),                  # not logrus text
    "<14>1 2026-10-01T02:19:57Z nas stash 812 - - " + PLAIN,    # RFC 5424 syslog
    "Oct 01 00:19:57 nas stash[812] " + COLOURED,               # journal prefix without ':'
    "2026-10-01 00:19:57.123 " + COLOURED,                      # not RFC 3339
    "\x01x\x02[Stash2Plex Worker] Stats: " + P,                 # raw stderr, bad level
    'time="2026-10-01 02:19:57" level=info msg="x" extra="' + MARK + '}"',  # outside msg
    COLOURED.replace(P, '{"hits": 3}'),                         # none of the worker's keys
    COLOURED.replace(P, '{"succeeded": 3, "avg_time_ms": 1}'),  # no 'processed'
    COLOURED.replace(P, '{"processed": 1e40, "avg_time_ms": 1}'),  # overflow
    COLOURED.replace(P, P[:-1] + ', "x": NaN}'),                # NaN: read (Python json)
    COLOURED.replace('"processed": 2473', '"processed": "x"'),   # bad value
    COLOURED.replace("2026-10-01 02:19:57", "0042"),            # uptime, no date
    COLOURED.replace("2026-10-01 02:19:57", "2026-10-25 02:30:00"),  # ambiguous (Berlin)
    COLOURED.replace("Plex", "Pl\udcffex", 1),                  # not UTF-8
    COLOURED[:200] + COLOURED,                                  # two lines merged
    "\ufeff" + COLOURED,                                        # BOM
    COLOURED + "\r",                                            # CRLF
    COLOURED + " [12B blob data]",                              # blob-like end, marked
    json.dumps({"log": COLOURED + "\n", "stream": "stderr"}),   # docker json-file
    json.dumps({"log": COLOURED + "\n"})[:-3],                  # ... torn
    "x" * 3000 + MARK,                                          # overlong (limit below)
]


def marked_lines(lines: list[str]) -> list[int]:
    return [i + 1 for i, ln in enumerate(lines) if MARK in ln]


def assert_nothing_lost(
    data: syncstats.SyncData, path: Path, lines: list[str], *, only: bool = True
) -> None:
    """Every line with the mark is a row or has an issue; with *only*, no other line is
    (a mangled line that lost the mark may still be read, from its payload's keys)."""
    rows = set(origins(data))
    per_line = data.issues[(data.issues["path"] == str(path)) & data.issues["line"].notna()
                           & ~data.issues["kind"].isin(["no_timestamp", "journal_blob"])]
    reported = {int(n) for n in per_line["line"]}
    marked = set(marked_lines(lines))
    assert not marked - rows - reported, sorted(marked - rows - reported)
    if only:  # the count: one row or issue per marked line, none for the others
        assert len(rows | reported) == len(marked)


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin"])
def test_every_worker_line_is_a_row_or_an_issue(log_engine, tmp_path, monkeypatch, tz):
    monkeypatch.setattr(log_module, "MAX_LINE_BYTES", 2000)
    lines = [ln for m in MANGLED for ln in (m, NOISE[0])]
    f = write(tmp_path / "h" / "mangled.log", lines)
    data = read(log_engine, f, tz=tz)
    assert all(MARK in ln for ln in MANGLED)
    assert_nothing_lost(data, f, lines)
    # the reasons are given: each kind seen at least once
    kinds = set(data.issues["kind"])
    assert {"unknown_form", "torn_line", "not_snapshot", "bad_value", "overflow",
            "bad_time"} <= kinds
    unknown = data.issues[data.issues["kind"] == "unknown_form"]
    assert len(unknown) >= 8
    assert all(re.search(r"no form read|outside", d) for d in unknown["detail"])
    # alone, on_error="raise": each line not loaded raises a LogFormatError naming it
    for i, line in enumerate(MANGLED):
        g = write(tmp_path / f"alone{i}" / "x.log", [line])
        one = read(log_engine, g, tz=tz)
        assert_nothing_lost(one, g, [line])
        if len(one.snapshots) == 0:
            with pytest.raises(syncstats.LogFormatError, match=rf"^{re.escape(str(g))}:1: "):
                syncstats.read_log(g, tz=tz, on_error="raise")


_WRAPS = [
    lambda s: s,
    lambda s: "Oct 01 00:19:57 nas stash[812]: " + s,
    lambda s: "2026-10-01T00:19:57.123456789Z " + s,
    lambda s: "stash-1  | " + s,
    lambda s: json.dumps({"log": s + "\n", "stream": "stderr"}),
]
_MUTATIONS = [b"\x1b", b"[", b"m", b"\x1b[0m", b"\\", b'"', b"0", b"9", b" ", b"\r", b"\xff",
              b"}", b":", b"|", b"\x01"]


@st.composite
def captured_lines(draw) -> list[bytes]:
    out: list[bytes] = []
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        base = draw(st.sampled_from([COLOURED, PLAIN, FILE, RAW, NOISE[0], NOISE[2],
                                     JOURNAL_BLOB, "[blob data]"]))
        line = bytearray(draw(st.sampled_from(_WRAPS))(base).encode("utf-8", "surrogateescape"))
        for _ in range(draw(st.integers(min_value=0, max_value=3))):
            at = draw(st.integers(min_value=0, max_value=len(line)))
            if draw(st.booleans()):
                line[at:at] = draw(st.sampled_from(_MUTATIONS))
            else:
                del line[at:at + draw(st.integers(min_value=1, max_value=3))]
        out.append(bytes(line).replace(b"\n", b""))
    return out


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(lines=captured_lines(), tz=st.sampled_from(["UTC", "Europe/Berlin"]))
def test_fuzzed_captures_lose_nothing(log_engine, tmp_path_factory, lines, tz):
    f = write(tmp_path_factory.mktemp("cap") / "h" / "x.log", lines)
    data = read(log_engine, f, tz=tz)
    text = [ln.decode("utf-8", "replace") for ln in lines]
    assert_nothing_lost(data, f, text, only=False)


# --------------------------------------------------------------------------------------
# What users name these captures
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["console.log", "docker-stash.log", "stash.log.1",
                                  "journal.txt", "stash-journal.txt", "journalctl.txt.gz",
                                  "stash.log.txt", "docker-stash.txt", "nohup.out"])
def test_capture_names_are_logs(tmp_path, name):
    write(tmp_path / "w1" / name, [COLOURED])
    write(tmp_path / "w1" / "notes.txt", [COLOURED])  # not a capture's name: not read
    assert [f.name for f in discover(tmp_path).sources["w1"]["logs"]] == [name]
    data = syncstats.read_log(tmp_path / "w1")
    assert origins(data) == [1] and data.snapshots["origin"].iloc[0].endswith(name + ":1")
