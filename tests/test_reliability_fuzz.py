"""Fuzzing the readers: hostile, torn and malformed inputs become frames + issues.

Every reader either returns frames and issues or, with ``on_error="raise"``, raises the
reader's :class:`~syncstats.exceptions.SyncstatsError` subclass: never another exception,
never a hang (each call runs under :func:`helpers_reliability.time_limit`). Accounting:
every unit given (snapshot file, non-blank history line, log ``Stats:`` line, DLQ row) is
a row or is named by an error-kind issue (see ``helpers_reliability.check_accounting``).

Inputs are real sample files from ``data/``, truncated at every offset or mutated
(hypothesis), plus generated values of the wrong type and a table of special literals.
``SYNCSTATS_SOAK=1`` raises the example counts (see ``tests/soak/README.md``).
"""

from __future__ import annotations

import gzip
import json
import pickle
import sqlite3
import time
import tracemalloc
import zlib
from pathlib import Path

import pandas as pd
import pytest
from helpers_reliability import (
    DATA,
    check_accounting,
    check_raise_mode,
    issue_units,
    sample_copy,
    sample_history_lines,
    sample_log_lines,
    scaled,
    snapshot_units,
    time_limit,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncstats._time import plausible
from syncstats.exceptions import DLQError, LogFormatError, SnapshotFormatError
from syncstats.io import load, read_dlq, read_log, read_snapshots

FUZZ = settings(
    max_examples=scaled(20, 1500),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large],
)
#: Seconds one reader call may take before it counts as a hang.
LIMIT = 30.0

#: Byte strings that mean something to a JSON or log parser.
TOKENS = [
    b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400", b"9" * 40, b"1" * 400,
    b"\xff\xfe", b"\xef\xbb\xbf", b"\r\n", b"\r", b"\n", b"\x00", b"[" * 3000, b"{" * 3000,
    b'"\\ud800"', b'"\\udfff"', b"null", b"true", b"{}", b"[]", b'"', b"\\", b"\\\"",
    b"\\U00110000", b"\\x", b"0.5", b"-0", b"1e-400", b"\t", b"\x1b[31m", b"Stats: {",
    b'"snapshot_at": "9999-99-99"', b'"snapshot_at": 1e400', b"]", b"}", b",", b":",
]

mutation = st.tuples(
    st.sampled_from(["flip", "insert", "delete", "duplicate", "truncate", "token"]),
    st.integers(min_value=0, max_value=2**31),
    st.integers(min_value=1, max_value=255),
    st.sampled_from(TOKENS),
)


def mutate(data: bytes, ops: list[tuple[str, int, int, bytes]]) -> bytes:
    """Apply byte-level mutations (positions taken modulo the current length)."""
    buf = bytearray(data)
    for op, pos, n, token in ops:
        at = pos % (len(buf) + 1)
        if op == "flip" and buf:
            buf[at % len(buf)] ^= n
        elif op == "insert":
            buf[at:at] = bytes([n]) * (1 + pos % 3)
        elif op == "delete":
            del buf[at:at + n % 16 + 1]
        elif op == "duplicate":
            buf[at:at] = buf[at:at + n]
        elif op == "truncate":
            del buf[at:]
        elif op == "token":
            buf[at:at] = token
    return bytes(buf)


def read_snap(path: Path | list[Path], mode: str = "report"):
    with time_limit(LIMIT, f"read_snapshots({path})"):
        return read_snapshots(path, on_error=mode)


def read_logs(path: Path | list[Path], mode: str = "report", tz: str = "UTC"):
    with time_limit(LIMIT, f"read_log({path})"):
        return read_log(path, on_error=mode, tz=tz)


def read_dlqs(path: Path | list[Path], mode: str = "report", decode_jobs: bool = False):
    with time_limit(LIMIT, f"read_dlq({path})"):
        return read_dlq(path, on_error=mode, decode_jobs=decode_jobs)


def check_snapshots_dir(directory: Path, what: str) -> pd.DataFrame:
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    data = read_snap(directory)
    check_accounting(data.snapshots, data.issues, snapshot_units(files), what=what)
    check_raise_mode(lambda m: read_snap(directory, m), data, SnapshotFormatError, what=what)
    return data


def gunzip_prefix(blob: bytes) -> bytes:
    """What a streaming reader gets out of a possibly corrupt gzip stream."""
    out = bytearray()
    inflate = zlib.decompressobj(wbits=31)
    try:
        for i in range(0, len(blob), 64):
            out += inflate.decompress(blob[i:i + 64])
    except zlib.error:
        pass
    return bytes(out)


def marker_lines(files: list[Path]) -> set[str]:
    """``path:line`` of every line holding ``Stats: {`` (the log units)."""
    units = set()
    for f in files:
        raw = f.read_bytes()
        if f.suffix == ".gz":
            raw = gunzip_prefix(raw)
        for lineno, line in enumerate(raw.split(b"\n"), 1):
            if b"Stats: {" in line:
                units.add(f"{f}:{lineno}")
    return units


def check_logs_dir(directory: Path, what: str, *, strict: bool) -> pd.DataFrame:
    """Log accounting. *strict*: every ``Stats: {`` line is a unit (lines built to be the
    worker's); else (mutated prefixes) rows and error issues only come from such lines."""
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    data = read_logs(directory)
    units = marker_lines(files)
    if strict:
        check_accounting(data.snapshots, data.issues, units, what=what)
    else:
        origins = list(data.snapshots["origin"].astype("str"))
        assert len(set(origins)) == len(origins), what
        assert set(origins) <= units, what
        line_issues = {u for u in issue_units(data.issues) if u.rpartition(":")[2].isdigit()}
        assert line_issues <= units, f"{what}: {sorted(line_issues - units)[:3]}"
    check_raise_mode(lambda m: read_logs(directory, m), data, LogFormatError, what=what)
    return data


# --------------------------------------------------------------------------------------
# Truncation at every offset
# --------------------------------------------------------------------------------------


def test_snapshot_copy_truncated_at_every_offset(tmp_path):
    """A torn stats.json copy (truncated at any byte) is a row only if it still parses
    as the same object; otherwise exactly one error issue names it. Gzipped copies too."""
    full = sample_copy()
    expected = json.loads(full)
    plain, gz = tmp_path / "plain", tmp_path / "gz"
    plain.mkdir()
    gz.mkdir()
    packed = gzip.compress(full, mtime=0)
    for i in range(len(full) + 1):
        stamp = f"20261001T{i // 3600:02d}{i // 60 % 60:02d}{i % 60:02d}Z"
        (plain / f"stats-{stamp}.json").write_bytes(full[:i])
    for i in range(len(packed) + 1):
        stamp = f"20261001T{i // 3600:02d}{i // 60 % 60:02d}{i % 60:02d}Z"
        (gz / f"stats-{stamp}.json.gz").write_bytes(packed[:i])
    data = check_snapshots_dir(plain, "truncated copies")
    loaded = set(data.snapshots["origin"])
    for f in plain.iterdir():
        try:
            parses = json.loads(f.read_bytes()) == expected
        except ValueError:
            parses = False
        assert (str(f) in loaded) == parses, f.name
    assert len(loaded) == 2  # the whole file, and the file without its trailing newline
    data = check_snapshots_dir(gz, "truncated gzipped copies")
    assert len(data.snapshots) == 1  # only the complete stream
    assert set(data.issues["kind"].astype("str")) <= {"unreadable", "empty"}


def test_history_truncated_at_every_offset(tmp_path):
    """A history cut at any byte: every complete line loads, a torn last line is a
    ``torn_line`` issue (or loads, when the cut left valid JSON of the same object)."""
    lines = sample_history_lines(3)
    full = b"\n".join(lines) + b"\n"
    for i in range(len(full) + 1):
        (tmp_path / f"h{i:05d}.jsonl").write_bytes(full[:i])
    data = check_snapshots_dir(tmp_path, "truncated histories")
    kinds = set(data.issues["kind"].astype("str"))
    assert kinds <= {"torn_line", "duplicate", "engine_fallback"}, kinds
    # the same three snapshots at most, every other copy of them reported as a duplicate
    assert len(data.snapshots) == 3


def test_log_truncated_at_every_offset(tmp_path):
    """Logs (file, console and raw stderr forms) cut at any byte: each ``Stats: {``
    line is a row or a ``torn_line`` issue; nothing else."""
    lines = sample_log_lines(1) + [
        b'\x01i\x02[Stash2Plex Worker] Stats: {"processed": 5, "succeeded": 5, '
        b'"avg_time_ms": 100}'
    ]
    full = b"\n".join(lines) + b"\n"
    for i in range(0, len(full) + 1):
        (tmp_path / f"s{i:05d}.log").write_bytes(full[:i])
    data = check_logs_dir(tmp_path, "truncated logs", strict=True)
    kinds = set(data.issues["kind"].astype("str"))
    assert kinds <= {"torn_line", "no_timestamp", "bad_value"}, kinds


def test_dlq_database_truncated(tmp_path):
    """A truncated dlq.db: an issue, or rows. Cut at a page boundary, every row loaded
    equals the original's (SQLite zero-fills a short last page, so a cut inside a page
    may alter the bytes of a value: those reads are only checked for issues vs raising)."""
    src = DATA / "worker-a" / "dlq.db"
    blob = src.read_bytes()
    page = int.from_bytes(blob[16:18], "big")
    original = read_dlqs(src).dlq.set_index("id")
    cols = ["job_id", "scene_id", "error_type", "error_message", "retry_count", "failed_at"]
    boundaries = list(range(0, len(blob), page))
    inside = sorted({17, 100, 1000, len(blob) - 1, *range(page + 7, len(blob), scaled(
        5 * page + 13, 509))})
    paths = []
    for i in boundaries + inside:
        p = tmp_path / f"dlq{i:07d}.db"
        p.write_bytes(blob[:i])
        paths.append(p)
    data = read_dlqs(paths)
    check_raise_mode(lambda m: read_dlqs(paths, m), data, DLQError, what="truncated dlq")
    failed = issue_units(data.issues)
    at_boundary = {str(tmp_path / f"dlq{i:07d}.db") for i in boundaries}
    for origin, rows in data.dlq.groupby("origin", observed=True):
        assert origin not in failed
        if origin in at_boundary:
            got = rows.set_index("id")[cols]
            pd.testing.assert_frame_equal(got, original.loc[got.index, cols],
                                          check_categorical=False, check_dtype=False)
    # a file that gave no row says why (nothing read silently as an empty queue)
    silent = {str(p) for p in paths} - failed - set(data.dlq["origin"].astype("str"))
    assert not silent, sorted(silent)[:3]


# --------------------------------------------------------------------------------------
# Mutations of real samples (hypothesis)
# --------------------------------------------------------------------------------------

SAMPLES = {
    "copy": sample_copy(),
    "history": b"\n".join(sample_history_lines(4)) + b"\n",
    "log": b"\n".join(sample_log_lines(2)) + b"\n",
}


@FUZZ
@given(kind=st.sampled_from(sorted(SAMPLES)),
       files=st.lists(st.lists(mutation, min_size=1, max_size=5), min_size=1, max_size=6))
def test_mutated_samples(tmp_path_factory, kind, files):
    """Real copies, histories and logs with flipped, inserted, deleted or duplicated bytes
    and parser-relevant tokens (NaN, 1e400, BOMs, CRLF, NUL, deep nesting, bad escapes)."""
    d = tmp_path_factory.mktemp("mut")
    for i, ops in enumerate(files):
        raw = mutate(SAMPLES[kind], ops)
        if kind == "copy":
            (d / f"stats-20261001T0000{i:02d}Z.json").write_bytes(raw)
        elif kind == "history":
            (d / f"h{i}.jsonl").write_bytes(raw)
        else:
            (d / f"s{i}.log").write_bytes(raw)
    if kind == "log":
        check_logs_dir(d, f"mutated {kind}", strict=False)
    else:
        check_snapshots_dir(d, f"mutated {kind}")


@FUZZ
@given(ops=st.lists(mutation, min_size=1, max_size=8), decode=st.booleans())
def test_mutated_dlq_database(tmp_path_factory, ops, decode):
    """Byte mutations of a real dlq.db (page headers, b-trees, records): an issue, or
    rows; never an exception from SQLite, pandas or the unpickler."""
    d = tmp_path_factory.mktemp("dlqmut")
    blob = (DATA / "worker-b" / "dlq.db").read_bytes()
    # keep the SQLite header (else it is merely "not a database"); mutate the rest
    p = d / "dlq.db"
    p.write_bytes(blob[:100] + mutate(blob[100:], ops))
    data = read_dlqs(p, decode_jobs=decode)
    check_raise_mode(lambda m: read_dlqs(p, m, decode), data, DLQError, what="mutated dlq")
    n_bad = int((data.issues["kind"] == "bad_row").sum())
    assert len(data.dlq) + n_bad <= 2 * 73 + 10  # never more rows than the file can hold


# --------------------------------------------------------------------------------------
# Values of the wrong type (hypothesis)
# --------------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["\ud800", "12", "1e3", "2026-10-01T00:00:00Z", "9999-99-99", "", "NaN"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
STATS_KEYS = ["jobs_processed", "jobs_succeeded", "jobs_failed", "jobs_to_dlq",
              "total_processing_time", "session_start", "errors_by_type",
              "high_confidence_matches", "low_confidence_matches", "snapshot_at", "source"]
stats_objects = st.one_of(
    st.dictionaries(st.sampled_from(STATS_KEYS), json_values, min_size=1),
    st.fixed_dictionaries(
        {"jobs_processed": st.integers(0, 10**6)},
        optional={k: json_values for k in STATS_KEYS[1:]},
    ),
    json_values,
)


def dumps(obj: object) -> bytes:
    return json.dumps(obj, allow_nan=True).encode("utf-8", "surrogatepass")


@FUZZ
@given(objs=st.lists(stats_objects, min_size=1, max_size=8), when=scalars)
def test_wrong_typed_values_in_copies_and_histories(tmp_path_factory, objs, when):
    """Random JSON values (huge ints, NaN, inf, strings, nesting, lone surrogates) in
    every field of copies and of history lines."""
    d = tmp_path_factory.mktemp("typed")
    lines = []
    for i, obj in enumerate(objs):
        (d / f"stats-20261001T0000{i:02d}Z.json").write_bytes(dumps(obj))
        if isinstance(obj, dict):
            obj = {"snapshot_at": when if i % 2 else "2026-10-01T00:00:00Z", **obj}
        lines.append(dumps(obj))
    (d / "history.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    check_snapshots_dir(d, "typed values")


PAYLOAD_KEYS = ["processed", "succeeded", "failed", "to_dlq", "success_rate", "avg_time_ms",
                "high_confidence", "low_confidence", "errors_by_type"]


@FUZZ
@given(payloads=st.lists(
    st.fixed_dictionaries({"processed": json_values},
                          optional={k: json_values for k in PAYLOAD_KEYS[1:]}),
    min_size=1, max_size=8),
    times=st.lists(st.one_of(st.sampled_from(
        ["2026-10-01 02:19:57", "2026-03-29 02:30:00", "0001-01-01 00:00:00",
         "2026-10-01 02:19:57.123456789123", "9999-12-31 23:59:59", "2026-13-01 00:00:00",
         "2026-10-01T02:19:57+99:00", "0042", ""]), st.text(max_size=12)), min_size=8,
        max_size=8),
    tz=st.sampled_from(["UTC", "Europe/Berlin", "America/St_Johns"]))
def test_wrong_typed_values_in_log_payloads(tmp_path_factory, payloads, times, tz):
    """``Stats:`` payloads with random values and odd log times, in all three forms."""
    d = tmp_path_factory.mktemp("logtyped")
    out = []
    for i, payload in enumerate(payloads):
        body = dumps(payload).decode("utf-8", "surrogatepass")
        when = times[i].replace("]", "").replace("\n", "").replace("\r", "")
        form = i % 3
        if form == 0:
            out.append(f"INFO[{when}] [Plugin / Stash2Plex] [Stash2Plex Worker] Stats: {body}")
        elif form == 1:
            esc = body.replace("\\", "\\\\").replace('"', '\\"')
            wq = when.replace('"', "")
            out.append(f'time="{wq}" level=info msg="[Plugin / Stash2Plex] [Stash2Plex '
                       f'Worker] Stats: {esc}"')
        else:
            out.append(f"\x01i\x02[Stash2Plex Worker] Stats: {body}")
    (d / "s.log").write_bytes(("\n".join(out) + "\n").encode("utf-8", "surrogatepass"))
    files = [d / "s.log"]
    with time_limit(LIMIT, "read_log"):
        data = read_log(d, tz=tz)
    check_accounting(data.snapshots, data.issues, marker_lines(files), what="typed log")
    check_raise_mode(lambda m: read_log(d, tz=tz, on_error=m), data, LogFormatError)


DLQ_COLS = ["id", "job_id", "scene_id", "job_data", "error_type", "error_message",
            "stack_trace", "retry_count", "failed_at"]
sql_values = st.one_of(
    st.none(), st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False), st.floats(allow_nan=False, allow_infinity=True),
    st.text(max_size=12), st.binary(max_size=12),
    st.sampled_from([b"\xed\xa0\x80", b"\xff", "2026-10-01 00:00:00", "garbage", 4.5, 1e300,
                     pickle.dumps({"job_id": 1}), pickle.dumps([1, 2]), b"\x80\x04N."]),
)


@FUZZ
@given(
    columns=st.lists(st.sampled_from(DLQ_COLS), unique=True, min_size=1),
    rows=st.lists(st.lists(sql_values, min_size=9, max_size=9), max_size=12),
    id_pk=st.booleans(), decode=st.booleans(),
)
def test_wrong_typed_values_in_dlq_databases(tmp_path_factory, columns, rows, id_pk, decode):
    """SQLite stores any type in any column: every DLQ row is loaded (values it cannot
    use become issues) or is a ``bad_row`` issue; a table without ids is a schema issue."""
    d = tmp_path_factory.mktemp("dlqtyped")
    p = d / "dlq.db"
    conn = sqlite3.connect(p)
    decl = ", ".join(f"{c} INTEGER PRIMARY KEY" if c == "id" and id_pk else c for c in columns)
    conn.execute(f"CREATE TABLE dead_letters ({decl})")
    n = 0
    for i, row in enumerate(rows):
        values = [i + 1 if (c == "id" and id_pk) else v for c, v in zip(columns, row,
                                                                           strict=False)]
        conn.execute(f"INSERT INTO dead_letters VALUES ({', '.join('?' * len(columns))})",
                     values)
        n += 1
    conn.commit()
    conn.close()
    data = read_dlqs(p, decode_jobs=decode)
    check_raise_mode(lambda m: read_dlqs(p, m, decode), data, DLQError, what="typed dlq")
    bad_rows = int((data.issues["kind"] == "bad_row").sum())
    if "id" in columns:
        assert len(data.dlq) + bad_rows == n
    else:
        assert len(data.dlq) == 0
        assert "schema" in set(data.issues["kind"].astype("str"))


@FUZZ
@given(records=st.lists(st.dictionaries(st.sampled_from(DLQ_COLS), json_values, min_size=1),
                        max_size=8),
       as_lines=st.booleans())
def test_wrong_typed_values_in_dlq_json_exports(tmp_path_factory, records, as_lines):
    """JSON (array or JSON Lines) DLQ exports with random values: rows or issues."""
    d = tmp_path_factory.mktemp("dlqjson")
    p = d / ("dlq.jsonl" if as_lines else "dlq.json")
    if as_lines:
        p.write_bytes(b"\n".join(dumps(r) for r in records) + b"\n")
    else:
        p.write_bytes(dumps(records))
    data = read_dlqs(p)
    check_raise_mode(lambda m: read_dlqs(p, m), data, DLQError, what="json export")
    bad_rows = int((data.issues["kind"] == "bad_row").sum())
    assert len(data.dlq) + bad_rows == len(records) or not records


# --------------------------------------------------------------------------------------
# Special literals, one table for every reader
# --------------------------------------------------------------------------------------

SPECIAL = {
    "huge float": b'{"jobs_processed": 1e400, "total_processing_time": 1e400}',
    "huge int": b'{"jobs_processed": %d}' % 10**40,
    "huger int": b'{"jobs_processed": 1, "total_processing_time": %d, "session_start": %d}'
    % (10**400, 10**400),
    "huge counter": b'{"jobs_processed": %d, "errors_by_type": {"a": 1e300, "b": %d}}'
    % (10**400, 10**400),
    "nan": b'{"jobs_processed": NaN, "total_processing_time": NaN}',
    "infinity": b'{"jobs_processed": 1, "total_processing_time": Infinity, '
    b'"session_start": -Infinity}',
    "deep array": b"[" * 100_000,
    "deep object": b'{"jobs_processed": 1, "x": ' + b'{"a": ' * 50_000,
    "deep closed": b"[" * 5000 + b"]" * 5000,
    "non-utf8": b'{"jobs_processed": 1, "source": "\xff\xfe\xfa"}',
    "lone surrogate": b'{"jobs_processed": 1, "source": "\\ud800", '
    b'"errors_by_type": {"\\udfff": 1}}',
    "utf-16": '{"jobs_processed": 1}'.encode("utf-16"),
    "bom": b'\xef\xbb\xbf{"jobs_processed": 1}',
    "double bom": b'\xef\xbb\xbf\xef\xbb\xbf{"jobs_processed": 1}',
    "crlf": b'{"jobs_processed": 1,\r\n "jobs_succeeded": 1}\r\n',
    "nul": b'{"jobs_processed": 1}\x00',
    "empty": b"",
    "whitespace": b" \r\n\t ",
    "not an object": b"[1, 2, 3]",
    "string": b'"jobs_processed"',
    "bad snapshot_at": b'{"jobs_processed": 1, "snapshot_at": "2026-10-01T25:61:00+99:99"}',
    "huge snapshot_at": b'{"jobs_processed": 1, "snapshot_at": 1e400}',
    "int snapshot_at": b'{"jobs_processed": 1, "snapshot_at": %d}' % 10**400,
}


def test_special_literals_in_copies_and_histories(tmp_path):
    copies, hist = tmp_path / "copies", tmp_path / "hist"
    copies.mkdir()
    hist.mkdir()
    for i, raw in enumerate(SPECIAL.values()):
        (copies / f"stats-20261001T0000{i:02d}Z.json").write_bytes(raw)
        line = raw.replace(b"\r\n", b" ").replace(b"\n", b" ")
        (hist / f"h{i:02d}.jsonl").write_bytes(line + b"\r\n" + line + b"\n")
    check_snapshots_dir(copies, "special copies")
    check_snapshots_dir(hist, "special histories")


@pytest.mark.parametrize("tz", ["Europe/Berlin", "America/St_Johns"])
def test_special_literals_in_logs(tmp_path, tz):
    prefix = b"INFO[2026-10-01 02:19:57] [Plugin / Stash2Plex] [Stash2Plex Worker] Stats: "
    lines = []
    for raw in SPECIAL.values():
        payload = raw.replace(b"jobs_processed", b"processed").replace(b"\r\n", b" ")
        if payload.startswith(b"{"):
            lines.append(prefix + payload)
    lines += [
        b"\xef\xbb\xbf" + prefix + b'{"processed": 1}\r',
        b'time="2026-10-01 02:19:57" level=info msg="[Stash2Plex Worker] Stats: '
        b'{\\"processed\\": 1, \\"x\\": \\"\\U00110000\\ud800\\xff\\"}"',
        b'time="2026-10-01 02:19:57" level=info msg="[Stash2Plex Worker] Stats: '
        b'{\\"processed\\": 1, \\"errors_by_type\\": {\\"\\ud800\\": 1}}"',
        b'time="2026-10-01 02:19:57" level=info msg="[Stash2Plex Worker] Stats: {\\"proc',
        b"INFO[2026-10-01 02:19:57.123456789123] [Stash2Plex Worker] Stats: {\"processed\": 1}",
        b"INFO[0001-01-01 00:00:00] [Stash2Plex Worker] Stats: {\"processed\": 1}",
        b"INFO[9999-12-31 23:59:59] [Stash2Plex Worker] Stats: {\"processed\": 1}",
        b"INFO[2026-03-29 02:30:00] [Stash2Plex Worker] Stats: {\"processed\": 1}",
        prefix + b'{"processed": 1, "avg_time_ms": %d}' % 10**400,
        prefix + b'{"processed": %d, "avg_time_ms": 5}' % 10**400,
    ]
    (tmp_path / "s.log").write_bytes(b"\n".join(lines) + b"\n")
    (tmp_path / "crlf.log").write_bytes(b"\r\n".join(lines) + b"\r\n")
    with time_limit(LIMIT, "read_log"):
        data = read_log(tmp_path, tz=tz)
    units = marker_lines(sorted(tmp_path.iterdir()))
    check_accounting(data.snapshots, data.issues, units, what="special logs")
    check_raise_mode(lambda m: read_log(tmp_path, tz=tz, on_error=m), data, LogFormatError)
    assert len(data.snapshots) >= 8  # one hostile time does not cost the others theirs
    assert plausible(data.snapshots["snapshot_at"]).all()  # the readers' one window


def test_special_literals_in_dlq_exports(tmp_path):
    for i, raw in enumerate(SPECIAL.values()):
        rec = raw.replace(b"jobs_processed", b"id")
        (tmp_path / f"a{i:02d}.json").write_bytes(b"[" + rec + b"]" if rec[:1] == b"{" else rec)
        (tmp_path / f"l{i:02d}.jsonl").write_bytes(rec + b"\n" + rec + b"\n")
        (tmp_path / f"c{i:02d}.csv").write_bytes(b"id,error_type,failed_at\r\n" + rec + b"\n")
    (tmp_path / "big.json").write_bytes(
        b'[{"id": %d}, {"id": 1e400}, {"id": 4.5}, {"id": true}, {"id": "7"}, {"id": -0.0}]'
        % 10**30
    )
    paths = sorted(tmp_path.iterdir())
    data = read_dlqs(paths)
    check_raise_mode(lambda m: read_dlqs(paths, m), data, DLQError, what="special exports")
    big = data.dlq[data.dlq["origin"].astype("str").str.endswith("big.json")]
    assert sorted(big["id"]) == [0, 7]  # 10**30, inf, 4.5 and true are not ids


def test_dlq_database_with_bad_ids_blobs_and_huge_values(tmp_path):
    """Ids that are no ids (NULL, 4.5, text, 2**63 as text, inf), BLOBs (also non-UTF-8)
    in text and time columns, values beyond int64: rows, bad_row issues, no crash."""
    p = tmp_path / "dlq.db"
    conn = sqlite3.connect(p)
    conn.execute("CREATE TABLE dead_letters (id, job_id, scene_id, job_data, error_type, "
                 "error_message, stack_trace, retry_count, failed_at)")
    rows = [
        (None, 1, 1, None, "PlexNotFound", "m", "", 1, "2026-10-01 00:00:00"),
        (4.5, 1, 1, None, "PlexNotFound", "m", "", 1, "2026-10-01 00:00:00"),
        ("abc", 1, 1, None, "PlexNotFound", "m", "", 1, "2026-10-01 00:00:00"),
        (str(2**63), 1, 1, None, "PlexNotFound", "m", "", 1, "2026-10-01 00:00:00"),
        (float("inf"), 1, 1, None, "PlexNotFound", "m", "", 1, "2026-10-01 00:00:00"),
        (1, "x", 2.5, b"\x80\x04N.", b"\xff\xfe", b"\xed\xa0\x80", 3.5, "9", b"\x80"),
        (2, 2**63 - 1, -(2**63), b"", "t", "m", "s", 10**18, "9999-12-31 23:59:59"),
        ("3", None, None, pickle.dumps({"job_id": 3}), None, None, None, None, None),
    ]
    conn.executemany("INSERT INTO dead_letters VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()
    for decode in (False, True):
        data = read_dlqs(p, decode_jobs=decode)
        check_raise_mode(lambda m, d=decode: read_dlqs(p, m, d), data, DLQError)
        assert sorted(data.dlq["id"]) == [1, 2, 3]
        assert int((data.issues["kind"] == "bad_row").sum()) == 5
        row2 = data.dlq.set_index("id").loc[2]
        assert row2["job_id"] == 2**63 - 1 and row2["scene_id"] == -(2**63)


def test_gzip_corruption_is_an_issue(tmp_path):
    """Truncated or corrupt gzip streams (EOFError, zlib.error) in every reader."""
    good_hist = gzip.compress(b"\n".join(sample_history_lines(20)) + b"\n", mtime=0)
    good_log = gzip.compress(b"\n".join(sample_log_lines(20)) + b"\n", mtime=0)
    good_copy = gzip.compress(sample_copy(), mtime=0)
    rec = json.dumps([{"id": 1, "error_type": "x"}] * 50).encode()
    good_export = gzip.compress(rec, mtime=0)

    def corrupt(blob: bytes, how: str) -> bytes:
        if how == "truncated":
            return blob[: len(blob) // 2]
        buf = bytearray(blob)
        for k in range(12, len(buf) - 8, 7):
            buf[k] ^= 0x5A
        return bytes(buf)

    for how in ("truncated", "flipped"):
        d = tmp_path / how
        d.mkdir()
        (d / "stats-20261001T000000Z.json.gz").write_bytes(corrupt(good_copy, how))
        (d / "history.jsonl.gz").write_bytes(corrupt(good_hist, how))
        check_snapshots_dir(d, f"{how} gzip snapshots")
        logs = d / "logs"
        logs.mkdir()
        (logs / "stash.log.gz").write_bytes(corrupt(good_log, how))
        check_logs_dir(logs, f"{how} gzip log", strict=False)
        p = d / "dlq.json.gz"
        p.write_bytes(corrupt(good_export, how))
        data = read_dlqs(p)
        assert "unreadable" in set(data.issues["kind"].astype("str")) or len(data.dlq)
        check_raise_mode(lambda m, p=p: read_dlqs(p, m), data, DLQError)


def test_non_utf8_and_surrogate_names_and_values(tmp_path):
    """File and directory names that are not UTF-8, and lone surrogates in values, load
    (as ``\\xff``/``\\ud800`` escapes) instead of failing in pandas/pyarrow."""
    root = tmp_path / "root"
    root.mkdir()
    bad_dir = bytes(root) + b"/w\xff"
    Path(bad_dir.decode("utf-8", "surrogateescape")).mkdir()
    copy = (bad_dir + b"/stats-20261001T000000Z-\xfe.json").decode("utf-8", "surrogateescape")
    Path(copy).write_bytes(sample_copy())
    hist = (bad_dir + b"/h\xfe.jsonl").decode("utf-8", "surrogateescape")
    Path(hist).write_bytes(b'{"jobs_processed": 1, "snapshot_at": "2026-10-01T00:00:00Z", '
                           b'"source": "\\ud800", "errors_by_type": {"\\udcff": 1}}\n')
    clean = (bad_dir + b"/clean\xfe.jsonl").decode("utf-8", "surrogateescape")
    Path(clean).write_bytes(b"\n".join(sample_history_lines(3)) + b"\n")  # Arrow fast path
    log = (bad_dir + b"/s\xfe.log").decode("utf-8", "surrogateescape")
    Path(log).write_bytes(sample_log_lines(1)[0] + b"\n")
    export = (bad_dir + b"/d\xfe.json").decode("utf-8", "surrogateescape")
    Path(export).write_bytes(b'[{"id": 1, "error_type": "\\ud800", "error_message": "a\\udfff"}]')
    with time_limit(LIMIT, "load"):
        data = load(root)
    assert "w\\xff" in data.sources
    assert len(data.snapshots) == 5
    assert set(data.snapshots["source"].astype("str")) == {"w\\xff"}  # load: dir names
    direct = read_snap(Path(bad_dir.decode("utf-8", "surrogateescape")))
    assert set(direct.snapshots["source"].astype("str")) == {"\\ud800", "w\\xff",
                                                             "worker-a"}
    # JSON's "\udcff" is the surrogateescape of byte 0xff: shown as such
    assert "\\xff" in set(data.errors["error_type"].astype("str"))
    assert data.snapshots["origin"].str.contains("\\xfe", regex=False).all()
    dlq = read_dlqs(Path(export))
    assert list(dlq.dlq["error_type"].astype("str")) == ["\\ud800"]
    for frame in (data.snapshots, data.errors, data.issues, dlq.dlq, direct.snapshots):
        for col in frame.columns:
            if frame[col].dtype == object or str(frame[col].dtype) in ("str", "category"):
                frame[col].dropna().astype("str").map(lambda s: s.encode("utf-8"))


# --------------------------------------------------------------------------------------
# One gigantic log line: streamed in bounded memory and time
# --------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("marked", [True, False], ids=["stats-line", "other-line"])
def test_a_100_mb_log_line_is_streamed_in_bounded_memory(tmp_path, marked):
    """A single 100 MB line (soak: 1 GB) between two good ``Stats:`` lines: both good
    lines load, the giant one is one ``torn_line`` issue (or skipped when it is not a
    ``Stats:`` line), peak traced memory stays far below the line's size."""
    size = scaled(100, 1000) * 2**20
    good = sample_log_lines(1)
    p = tmp_path / "huge.log"
    chunk = b"a" * 2**20
    with open(p, "wb") as fh:
        fh.write(good[0] + b"\n")
        head = b"INFO[2026-10-21 00:00:00] [Stash2Plex Worker] Stats: {\"processed\": 1, \"x\": \""
        fh.write(head if marked else b"INFO[2026-10-21 00:00:00] [Plugin / Other] ")
        for _ in range(size // len(chunk)):
            fh.write(chunk)
        fh.write(b'"}\n' + good[1] + b"\n")
    tracemalloc.start()
    start = time.monotonic()
    try:
        with time_limit(max(60.0, size / 2**20 * 0.5), "read_log of a huge line"):
            data = read_log(p)
        elapsed = time.monotonic() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(data.snapshots) == 2
    kinds = list(data.issues["kind"].astype("str"))
    assert kinds == (["torn_line"] if marked else [])
    assert peak < 24 * 2**20, f"peak traced memory {peak / 2**20:.1f} MiB"
    assert elapsed < max(30.0, size / 2**20 * 0.3), f"{elapsed:.1f} s"
    p.unlink()


def test_overlong_line_detection_across_chunk_boundaries(tmp_path, monkeypatch):
    """The ``Stats: {`` mark is found wherever it falls in an overlong line (small limit)."""
    import syncstats.io.log.reader as log_module

    monkeypatch.setattr(log_module, "MAX_LINE_BYTES", 64)
    good = b'INFO[2026-10-01 00:00:00] [W] Stats: {"processed": 1}\n'
    assert len(good) < 64
    lines = [good]
    for offset in range(0, 200, 3):
        lines.append(b"x" * offset + b"Stats: {" + b"y" * (200 - offset) + b"\n")
    lines.append(b"z" * 500 + b"\n")
    lines.append(good.replace(b"1}", b"2}"))
    (tmp_path / "s.log").write_bytes(b"".join(lines))
    data = read_logs(tmp_path / "s.log")
    assert list(data.snapshots["jobs_processed"]) == [1, 2]
    torn = data.issues[data.issues["kind"] == "torn_line"]
    # every marked line longer than the limit is one issue, at its own line number
    expect = [i + 1 for i, ln in enumerate(lines) if b"Stats: {" in ln and len(ln) > 64]
    assert list(torn["line"]) == expect
