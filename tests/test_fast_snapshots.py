"""The fast snapshot readers give exactly what the reference gives.

The reference is the per-record reader (``RecordBuilder.add`` through ``_read_copy``
and the per-line history reader) with the reference frame assembly (one frame per
part, ``pd.concat``, ``schemas.conform``): ``engine="reference"``. Each case is read
with the engine under test (the ``snapshot_engine`` fixture) and compared with the
reference; the engine's ``engine_fallback`` caveats aside, every comparison is exact (row
order of the error rows
within a snapshot included), on the sample data, on hand-made files with the defects
of docs/formats.md (and inputs where Arrow's JSON parser and Python's disagree), and on
generated ones. Some tests also check that the fast path is *taken* (a fast path that
always declined would pass the comparisons and be useless).
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import syncstats.io._records as common_module
import syncstats.io.snapshots._arrow as fast_module
import syncstats.io.snapshots.reader as snapshots_module
from syncstats import load, read_snapshots, schemas
from syncstats.exceptions import ParameterError, SnapshotFormatError
from syncstats.io._files import scan_tree
from syncstats.io._issues import Issues
from syncstats.io._records import RecordBuilder

DATA = Path(__file__).resolve().parents[1] / "data"
GOOD = {
    "jobs_processed": 25, "jobs_succeeded": 20, "jobs_failed": 5, "jobs_to_dlq": 1,
    "total_processing_time": 10.25, "session_start": 1790812800.0,
    "errors_by_type": {"PlexNotFound": 3, "PlexTemporaryError": 2},
    "high_confidence_matches": 19, "low_confidence_matches": 1,
}


def reference(path: Any, **kw: Any) -> Any:
    """read_snapshots with the per-record reader and the reference assembly."""
    return read_snapshots(path, engine="reference", **kw)


def fast(path: Any, **kw: Any) -> Any:
    return read_snapshots(path, engine="arrow", **kw)


def _caveats_aside(issues: pd.DataFrame) -> pd.DataFrame:
    """*issues* without the ``engine_fallback`` rows (the only rows an engine may add),
    with the category set a frame without them has."""
    kept = issues[issues["kind"].astype(str) != "engine_fallback"].reset_index(drop=True)
    return schemas.conform(kept.astype({"kind": str}), schemas.ISSUES)


def assert_same(got: Any, want: Any) -> None:
    for name in ("snapshots", "errors"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(want, name), obj=name)
    assert not (want.issues["kind"].astype(str) == "engine_fallback").any()
    pd.testing.assert_frame_equal(_caveats_aside(got.issues), want.issues, obj="issues")
    schemas.validate(got.snapshots, schemas.SNAPSHOTS)
    schemas.validate(got.errors, schemas.ERRORS)


def check(path: Any, engine: str, *, variants: bool = False, **kw: Any) -> Any:
    """*engine* and the reference equal; with *variants* (the arrow engine) also with one
    worker thread. Returns the result of *engine*."""
    want = reference(path, **kw)
    got = read_snapshots(path, engine=engine, **kw)
    assert_same(got, want)
    if not variants or engine == "reference":
        return got
    old_workers = fast_module.WORKERS
    try:
        fast_module.WORKERS = 1
        assert_same(read_snapshots(path, engine=engine, **kw), want)
    finally:
        fast_module.WORKERS = old_workers
    return got


def blocks_of(data: bytes, path: str = "h.jsonl", **kw: Any) -> list[Any]:
    """parse_chunk over the chunks of *data* (None where a chunk declines)."""
    kw.setdefault("source", None)
    kw.setdefault("fallback", "w")
    return [fast_module.parse_chunk(c, path=path, **kw)[0]
            for c in fast_module.chunks_of(data)]


def line(**changes: Any) -> str:
    rec = {**GOOD, "snapshot_at": "2026-10-01T00:00:00Z", "source": "worker-a", **changes}
    return json.dumps({k: v for k, v in rec.items() if v is not _DROP})


_DROP = object()


# --------------------------------------------------------------------------------------
# Sample data
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["worker-a/history.jsonl", "worker-b/history.jsonl",
                                  "worker-a/snapshots", "worker-b/snapshots", "."])
def test_sample_data(path, snapshot_engine):
    check(DATA / path, snapshot_engine, variants=path != ".")


@pytest.mark.parametrize("worker", ["worker-a", "worker-b"])
def test_sample_histories_take_the_fast_path(worker):
    raw = (DATA / worker / "history.jsonl").read_bytes()
    # worker-a's history has ISO times, worker-b's epoch seconds; error keys in several
    # orders (one per session): every chunk is read by Arrow and numpy
    assert all(b is not None for b in blocks_of(raw))


def test_sample_copies_take_the_fast_path(monkeypatch):
    calls = []
    original = snapshots_module._read_copy
    monkeypatch.setattr(snapshots_module, "_read_copy",
                        lambda f, *a, **k: calls.append(f) or original(f, *a, **k))
    data = fast(DATA / "worker-a" / "snapshots")
    # only the copies with a defect go through the reference (one here: no time)
    assert 0 < len(calls) <= len(data.issues) + 2
    assert len(data.snapshots) > 100


def test_load_of_the_sample(snapshot_engine):
    want = load(DATA, engine="reference")
    got = load(DATA, engine=snapshot_engine)
    # the arrow engine declines nothing in the sample: no engine_fallback caveat
    for name in ("snapshots", "errors", "issues"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(want, name), obj=name)


# --------------------------------------------------------------------------------------
# Histories: defects, and what Arrow reads otherwise than Python's json
# --------------------------------------------------------------------------------------

#: Times at and beyond both ends of the plausibility window (syncstats._time.plausible).
EDGE_TIMES = ["1999-12-31T23:59:59Z", "2000-01-01T00:00:00Z", "2099-12-31T23:59:59Z",
              "2100-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z",
              "2263-01-01T00:00:00Z", "9999-01-01T00:00:00Z", 0, 946684799, 946684800,
              4102444799, 4102444800]
EDGE_EPOCHS = [0, 0.0, 946684799, 946684799.5, 946684800, 946684800.0, 4102444799.5,
               4102444800, -946684800.0]


HISTORY_CASES: dict[str, str | bytes] = {
    "clean": line() + "\n" + line(snapshot_at="2026-10-01T00:15:00Z") + "\n",
    "compact json": json.dumps({**GOOD, "snapshot_at": "2026-10-01T00:00:00Z"},
                               separators=(",", ":")) + "\n",
    "keys reordered": line(errors_by_type={"B": 1, "A": 2}) + "\n"
    + line(errors_by_type={"A": 3, "B": 4}, snapshot_at="2026-10-01T01:00:00Z") + "\n",
    "torn last line": line() + "\n" + line()[:40],
    "torn middle line": line() + "\n" + line()[:40] + "\n" + line() + "\n",
    "blank line": line() + "\n\n" + line() + "\n",
    "whitespace line": line() + "\n   \n" + line() + "\n",
    "indented line": "  " + line() + "\n",
    "trailing blank": line() + "  \n",
    "crlf": line() + "\r\n" + line() + "\r\n",
    "bom": "\ufeff" + line() + "\n",
    "two objects on a line": line() + " " + line() + "\n",
    "empty": "",
    "only newlines": "\n\n",
    "not an object": line() + "\n[1, 2]\n42\nnull\n\"x\"\n",
    "null counter": line(jobs_failed=None) + "\n",
    "missing counter": line(jobs_failed=_DROP) + "\n",
    "bool counter": line(jobs_failed=True) + "\n",
    "float counter": line(jobs_failed=5.0) + "\n",
    "fraction counter": line(jobs_failed=5.5) + "\n",
    "string counter": line(jobs_failed="5") + "\n",
    "negative counter": line(jobs_failed=-5) + "\n",
    "huge counter": line(jobs_processed=10**30) + "\n",
    "int64 edges": line(jobs_processed=2**63 - 1, jobs_failed=-(2**63) + 1) + "\n",
    "int64 min": line(jobs_failed=-(2**63)) + "\n",
    "nan tpt": line(total_processing_time=float("nan")) + "\n",
    "inf tpt": line(total_processing_time=float("inf")) + "\n",
    "null tpt": line(total_processing_time=None) + "\n",
    "missing tpt": line(total_processing_time=_DROP) + "\n",
    "int tpt": line(total_processing_time=12) + "\n",
    "huge int tpt": line(total_processing_time=10**400) + "\n",
    "bool tpt": line(total_processing_time=False) + "\n",
    "null session": line(session_start=None) + "\n",
    "missing session": line(session_start=_DROP) + "\n",
    "nan session": line(session_start=float("nan")) + "\n",
    "huge session": line(session_start=1e12) + "\n",
    "int session": line(session_start=1790812800) + "\n",
    "bool session": line(session_start=True) + "\n",
    "session window": line(session_start=946684800) + "\n"
    + line(session_start=4102444799.5) + "\n",
    "session outside window": line(session_start=0) + "\n"
    + line(session_start=946684799.5) + "\n" + line(session_start=4102444800) + "\n"
    + line(session_start=-1.0) + "\n",
    "errors null": line(errors_by_type=None) + "\n",
    "errors missing": line(errors_by_type=_DROP) + "\n",
    "errors empty": line(errors_by_type={}) + "\n",
    "errors list": line(errors_by_type=[1]) + "\n",
    "errors number": line(errors_by_type=3) + "\n",
    "errors string": line(errors_by_type="x") + "\n",
    "error count null": line(errors_by_type={"A": None, "B": 1}) + "\n",
    "error count float": line(errors_by_type={"A": 1.0, "B": 1.5}) + "\n",
    "error count bool": line(errors_by_type={"A": True}) + "\n",
    "error count string": line(errors_by_type={"A": "1"}) + "\n",
    "error count nested": line(errors_by_type={"A": {"x": 1}}) + "\n",
    "error count list": line(errors_by_type={"A": [1]}) + "\n",
    "error count huge": line(errors_by_type={"A": 10**20}) + "\n",
    "error count int64": line(errors_by_type={"A": 2**63 - 1, "B": -(2**63) + 1}) + "\n",
    "error count int64 min": line(errors_by_type={"A": -(2**63)}) + "\n",
    "error count negative zero": line()[:-1].replace('"PlexNotFound": 3', '"A": -0') + "}\n",
    "error names": json.dumps({**GOOD, "snapshot_at": "2026-10-01T00:00:00Z", "errors_by_type":
                               {"": 1, "a b": 2, "x,y": 3, "é": 4, ":": 5, "[": 6}},
                              ensure_ascii=False) + "\n",
    "error name brace": line(errors_by_type={"{}": 1}) + "\n",
    "error name escaped": line(errors_by_type={'Odd"Name': 1}) + "\n",
    "error name surrogate": line().replace('"PlexNotFound"', '"\\ud800"') + "\n",
    "duplicate error key": line().replace('"PlexTemporaryError"', '"PlexNotFound"') + "\n",
    "duplicate errors_by_type": line()[:-1] + ', "errors_by_type": {"A": 1}}\n',
    "duplicate counter": line()[:-1] + ', "jobs_failed": 7}\n',
    "duplicate unknown key": line()[:-1] + ', "x": 1, "x": [2]}\n',
    "unknown fields": line(extra={"nested": [1, {"a": None}]}, more="text", n=-1.5e3) + "\n",
    "unknown scalar fields": line(extra=[1, [2, None]], more="text", n=-1.5e3, t=True) + "\n",
    "unknown object without errors": line(errors_by_type=_DROP, meta={"a": 1}) + "\n",
    "brace in a string": line(source="a{b}") + "\n",
    "snapshot_at offset": line(snapshot_at="2026-10-01T02:00:00+02:00") + "\n",
    "snapshot_at negative offset": line(snapshot_at="2026-10-01T02:00:00-05:30") + "\n",
    "snapshot_at fraction": line(snapshot_at="2026-10-01T00:00:00.123456Z") + "\n"
    + line(snapshot_at="2026-10-01T00:00:00.5Z") + "\n"
    + line(snapshot_at="2026-10-01T00:00:00,25+01:00") + "\n",
    "snapshot_at long fraction": line(snapshot_at="2026-10-01T00:00:00.1234567Z") + "\n",
    "snapshot_at space": line(snapshot_at="2026-10-01 00:00:00Z") + "\n",
    "snapshot_at no zone": line(snapshot_at="2026-10-01T00:00:00") + "\n",
    "snapshot_at date only": line(snapshot_at="2026-10-01") + "\n",
    "snapshot_at minutes": line(snapshot_at="2026-10-01T13:00") + "\n",
    "snapshot_at padded": line(snapshot_at=" 2026-10-01T00:00:00Z ") + "\n",
    "snapshot_at compact offset": line(snapshot_at="2026-10-01T00:00:00+0200") + "\n",
    "snapshot_at invalid": line(snapshot_at="13:00") + "\n"
    + line(snapshot_at="2026-13-01T00:00:00Z") + "\n"
    + line(snapshot_at="2026-02-29T00:00:00Z") + "\n"
    + line(snapshot_at="2026-10-01T24:00:00Z") + "\n"
    + line(snapshot_at="2026-10-01T00:00:60Z") + "\n"
    + line(snapshot_at="2026-10-01T00:00:00+24:00") + "\n",
    "snapshot_at leap day": line(snapshot_at="2028-02-29T23:59:59Z") + "\n",
    "snapshot_at old": line(snapshot_at="1899-12-31T00:00:00Z") + "\n",
    "snapshot_at epoch": line(snapshot_at=1790812800) + "\n"
    + line(snapshot_at=1790812800.5) + "\n" + line(snapshot_at=946684800.0000005) + "\n",
    "snapshot_at epoch bad": line(snapshot_at=-1) + "\n" + line(snapshot_at=1e11) + "\n",
    # the plausibility window (syncstats._time.plausible): 2000 up to 2100 UTC
    "snapshot_at epoch window": line(snapshot_at=946684800) + "\n"
    + line(snapshot_at=4102444799) + "\n" + line(snapshot_at=4102444799.999999) + "\n",
    "snapshot_at epoch outside window": line(snapshot_at=0) + "\n"
    + line(snapshot_at=946684799) + "\n" + line(snapshot_at=946684799.999999) + "\n"
    + line(snapshot_at=4102444800) + "\n",
    "snapshot_at window": line(snapshot_at="2000-01-01T00:00:00Z") + "\n"
    + line(snapshot_at="2099-12-31T23:59:59Z") + "\n"
    + line(snapshot_at="2099-12-31T23:59:59.999999Z") + "\n"
    + line(snapshot_at="2000-01-01T01:00:00+01:00") + "\n",
    "snapshot_at outside window": line(snapshot_at="1999-12-31T23:59:59Z") + "\n"
    + line(snapshot_at="2100-01-01T00:00:00Z") + "\n"
    + line(snapshot_at="0001-01-01T00:00:00Z") + "\n"
    + line(snapshot_at="1970-01-01T00:00:00Z") + "\n"
    + line(snapshot_at="2263-01-01T00:00:00Z") + "\n"
    + line(snapshot_at="9999-01-01T00:00:00Z") + "\n"
    + line(snapshot_at="2000-01-01T00:59:59+01:00") + "\n"
    + line(snapshot_at="2099-12-31T23:00:00-01:00") + "\n"
    + line(snapshot_at="2099-12-31 23:59:59") + "\n",
    "snapshot_at mixed": line() + "\n" + line(snapshot_at=1790812800) + "\n",
    "snapshot_at missing": line(snapshot_at=_DROP) + "\n",
    "snapshot_at null": line(snapshot_at=None) + "\n",
    "snapshot_at bool": line(snapshot_at=True) + "\n",
    "snapshot_at nested": line(snapshot_at=_DROP, meta={"snapshot_at": 5}) + "\n"
    + line() + "\n",
    "source missing": line(source=_DROP) + "\n",
    "source empty": line(source="") + "\n",
    "source null": line(source=None) + "\n",
    "source number": line(source=5) + "\n",
    "source unicode": json.dumps({**GOOD, "snapshot_at": "2026-10-01T00:00:00Z",
                                  "source": "wörker-ø"}, ensure_ascii=False) + "\n",
    "sources interleaved": "".join(
        line(source=s, snapshot_at=f"2026-10-01T00:{m:02d}:00Z") + "\n"
        for m, s in enumerate(["b", "a", "c", "a", "b", "", "a"])),
    "times out of order": line(snapshot_at="2026-10-02T00:00:00Z") + "\n"
    + line(snapshot_at="2026-10-01T00:00:00Z") + "\n",
    "duplicate snapshots": line() + "\n" + line() + "\n" + line(jobs_processed=26) + "\n",
    "nan literal unknown": line()[:-1] + ', "x": NaN}\n',
    "infinity literal unknown": line()[:-1] + ', "x": -Infinity}\n',
    "inf literal unknown": line()[:-1] + ', "x": Inf}\n',
    "minus inf literal unknown": line()[:-1] + ', "x": -Inf}\n',
    "minus nan literal unknown": line()[:-1] + ', "x": -NaN}\n',
    "Inf in a string": line(source="Info-1") + "\n",
    "NaN in a string": line(source="w-NaNa") + "\n",
    "deep nesting unknown": line()[:-1] + ', "x": ' + "[" * 5000 + "]" * 5000 + "}\n",
    "deep objects unknown": line()[:-1] + ', "x": ' + '{"a":' * 3000 + "1" + "}" * 3000 + "}\n",
    "moderate nesting": line()[:-1] + ', "x": ' + "[" * 400 + "]" * 400 + "}\n",
    "huge float unknown": line()[:-1] + ', "x": 1e999}\n',
    "escape unknown": line()[:-1] + ', "x": "a\\nb"}\n',
    "control char": line(source="a\x01b") + "\n",
    "non utf8": (line() + "\n").encode().replace(b"worker-a", b"worker-\xff"),
    "latin1 source": (line(source="café") + "\n").encode("utf-8"),
}


@pytest.mark.parametrize("case", list(HISTORY_CASES))
def test_history_cases(tmp_path, case, snapshot_engine):
    raw = HISTORY_CASES[case]
    path = tmp_path / "worker-x" / "history.jsonl"
    path.parent.mkdir()
    path.write_bytes(raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass"))
    check(path, snapshot_engine)


@pytest.mark.parametrize("case", ["sources interleaved", "torn middle line", "source empty",
                                  "duplicate snapshots", "error names"])
def test_history_cases_variants(tmp_path, case, snapshot_engine):
    """A directory, an explicit source, one thread, the reference assembly."""
    path = tmp_path / "worker-x" / "history.jsonl"
    path.parent.mkdir()
    path.write_text(HISTORY_CASES[case], encoding="utf-8")  # type: ignore[arg-type]
    check(path, snapshot_engine, variants=True)
    check(path.parent, snapshot_engine, source="explicit", variants=True)
    check(path.parent, snapshot_engine, source="")


@pytest.mark.parametrize("case", ["clean", "compact json", "keys reordered", "int64 edges",
                                  "sources interleaved", "snapshot_at offset",
                                  "snapshot_at fraction", "snapshot_at epoch", "error names",
                                  "snapshot_at epoch window", "snapshot_at window",
                                  "session window",
                                  "unknown scalar fields", "error count int64", "source unicode",
                                  "moderate nesting", "Inf in a string", "NaN in a string",
                                  "null session",
                                  "errors null", "errors missing", "duplicate snapshots"])
def test_history_cases_taken_fast(case):
    """These are read by the fast path (no chunk declines)."""
    raw = HISTORY_CASES[case]
    raw = raw if isinstance(raw, bytes) else raw.encode()
    assert all(b is not None for b in blocks_of(raw)), case


@pytest.mark.parametrize("case", ["torn middle line", "blank line", "crlf", "bom",
                                  "two objects on a line", "inf literal unknown",
                                  "minus nan literal unknown", "deep nesting unknown",
                                  "error count float", "duplicate error key", "int64 min",
                                  "error name escaped", "nan session", "null counter",
                                  "snapshot_at mixed", "non utf8", "error count null",
                                  "snapshot_at outside window", "session outside window",
                                  "snapshot_at epoch outside window"])
def test_history_cases_declined(case):
    raw = HISTORY_CASES[case]
    raw = raw if isinstance(raw, bytes) else raw.encode()
    assert any(b is None for b in blocks_of(raw)), case


def test_chunks_decline_one_by_one(tmp_path, monkeypatch, snapshot_engine):
    """A damaged line costs its chunk only; line numbers run on across chunks, reading
    order (and so every issue's order) is kept, and a chunk read line by line has its
    BOM stripped only at the start of the file."""
    lines = [line(snapshot_at=f"2026-10-01T{h:02d}:{m:02d}:00Z", source="ab"[m % 2],
                  errors_by_type={"X": m, "Y": h} if m % 3 else {"Y": 1})
             for h in range(3) for m in range(60)]
    lines[17] = lines[17][:30]
    lines[100] = ""
    lines[101] = "\ufeff" + lines[101]
    lines[150] = lines[150].replace('"jobs_failed": 5', '"jobs_failed": null')
    path = tmp_path / "w" / "h.jsonl"
    path.parent.mkdir()
    path.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(fast_module, "CHUNK_BYTES", 2000)
    monkeypatch.setattr(fast_module.read_chunks, "__defaults__", (2000,))
    monkeypatch.setattr(fast_module.chunks_of, "__defaults__", (2000,))
    raw = path.read_bytes()
    parts = blocks_of(raw)
    assert len(parts) > 20 and 0 < sum(b is None for b in parts) < len(parts) // 2
    got = check(path, snapshot_engine, variants=True)
    assert {"torn_line", "bad_value"} <= set(got.issues["kind"].astype(str))
    assert len(got.snapshots) > 170


def test_line_longer_than_a_chunk(tmp_path, monkeypatch, snapshot_engine):
    monkeypatch.setattr(fast_module.read_chunks, "__defaults__", (64,))
    monkeypatch.setattr(fast_module.chunks_of, "__defaults__", (64,))
    path = tmp_path / "h.jsonl"
    path.write_text(line() + "\n" + line(snapshot_at="2026-10-01T01:00:00Z") + "\n")
    check(path, snapshot_engine)


def test_gzip_history(tmp_path, snapshot_engine):
    path = tmp_path / "h.jsonl.gz"
    path.write_bytes(gzip.compress((line() + "\n" + line()[:20]).encode()))
    check(path, snapshot_engine)
    (tmp_path / "t.jsonl.gz").write_bytes(gzip.compress(b"x" * 1000)[:30])
    check(tmp_path, snapshot_engine)


def test_read_error_mid_file_takes_back_the_rows(tmp_path, monkeypatch):
    """The reference reads a file whole before it loads anything: a file that fails to
    read is one ``unreadable`` issue, whatever was read before the failure."""
    path = tmp_path / "w" / "h.jsonl"
    path.parent.mkdir()
    path.write_text("".join(line(snapshot_at=f"2026-10-01T00:{m:02d}:00Z") + "\n"
                            for m in range(50)) + "bad\n")
    (tmp_path / "w" / "a.json").write_text(json.dumps(GOOD))  # read before: kept

    def failing(fh: Any, size: int = 0) -> Any:
        yield fh.read(1000).rpartition(b"\n")[0] + b"\n"
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(snapshots_module, "read_chunks", failing)
    got = fast(tmp_path / "w")
    assert got.snapshots["origin"].tolist() == [str(tmp_path / "w" / "a.json")]
    kinds = list(got.issues["kind"].astype(str))
    assert kinds == ["time_from_mtime", "unreadable"]
    assert got.issues.loc[got.issues["kind"] == "unreadable", "path"].iloc[0] == str(path)


def test_on_error_raise(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text(line() + "\n" + line()[:30] + "\n")
    with pytest.raises(SnapshotFormatError) as want:
        reference(path, on_error="raise")
    with pytest.raises(SnapshotFormatError) as got:
        fast(path, on_error="raise")
    assert str(got.value) == str(want.value)


def test_non_utf8_directory_name(tmp_path, snapshot_engine):
    d = tmp_path / os.fsdecode(b"w\xff")
    d.mkdir()
    (d / "history.jsonl").write_text(line(source=_DROP) + "\n")
    got = check(d, snapshot_engine)
    assert got.snapshots["source"].astype(str).tolist() == ["w\\xff"]


# --------------------------------------------------------------------------------------
# Snapshot copies
# --------------------------------------------------------------------------------------


def write_copy(d: Path, name: str, content: Any) -> Path:
    path = d / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


COPY_CASES: dict[str, Any] = {
    "stats-20261001T130000Z.json": GOOD,
    "stats-20261001T131000Z.json": {**GOOD, "errors_by_type": {"B": 1, "A": 2}},
    "stats-2026-10-01T15:20:00+02:00.json": GOOD,
    "stats-20261001T133000.5Z.json": GOOD,
    "stats-20261001T134000+0530.json": GOOD,
    "stats-20261001T135000.json": {**GOOD, "jobs_processed": 7},
    "stats-20261001T140000Z-bom.json": b"\xef\xbb\xbf" + json.dumps(GOOD).encode(),
    "stats-20261001T141000Z-empty.json": "",
    "stats-20261001T142000Z-torn.json": json.dumps(GOOD)[:30],
    "stats-20261001T143000Z-nan.json": json.dumps({**GOOD, "total_processing_time": "NaN"})
    .replace('"NaN"', "NaN"),
    "stats-20261001T144000Z-list.json": [1, 2],
    "stats-20261001T145000Z-nostats.json": {"other": 1},
    "stats-20261001T150000Z-field.json": {**GOOD, "snapshot_at": "2026-10-01T14:59:00Z"},
    "stats-20261001T151000Z-badfield.json": {**GOOD, "snapshot_at": "13:00"},
    "stats-20261001T152000Z-source.json": {**GOOD, "source": "other"},
    "stats-20261001T153000Z-emptysource.json": {**GOOD, "source": ""},
    "stats-20261001T154000Z-bool.json": {**GOOD, "jobs_failed": True},
    "stats-20261001T155000Z-float.json": {**GOOD, "jobs_failed": 5.0},
    "stats-20261001T160000Z-huge.json": {**GOOD, "jobs_processed": 10**30},
    "stats-20261001T161000Z-min.json": {**GOOD, "jobs_processed": -(2**63)},
    "stats-20261001T162000Z-tpt.json": {**GOOD, "total_processing_time": 10**400},
    "stats-20261001T163000Z-tptnull.json": {**GOOD, "total_processing_time": None},
    "stats-20261001T164000Z-tptint.json": {**GOOD, "total_processing_time": 3},
    "stats-20261001T165000Z-session.json": {**GOOD, "session_start": 1e12},
    "stats-20261001T170000Z-sessionnull.json": {**GOOD, "session_start": None},
    "stats-20261001T171000Z-sessionbool.json": {**GOOD, "session_start": False},
    "stats-20261001T172000Z-sessionhuge.json": {**GOOD, "session_start": 10**400},
    "stats-20261001T173000Z-errlist.json": {**GOOD, "errors_by_type": [1]},
    "stats-20261001T174000Z-errnull.json": {**GOOD, "errors_by_type": None},
    "stats-20261001T175000Z-errfloat.json": {**GOOD, "errors_by_type": {"A": 2.0, "B": 2.5}},
    "stats-20261001T180000Z-errbool.json": {**GOOD, "errors_by_type": {"A": False}},
    "stats-20261001T181000Z-minimal.json": {"jobs_processed": 3},
    "stats-20261301T000000Z-baddate.json": GOOD,
    "stats-2026-13-01T00:00:00Z-20261001T182000Z.json": GOOD,
    "stats-20261001T183000.1234567Z.json": GOOD,
    "stats-١٢٣٤٥٦٧٨T١٢٣٤٥٦Z.json": GOOD,
    "notime.json": GOOD,
    "stats-20261001T184000Z.json.gz": gzip.compress(json.dumps(GOOD).encode()),
    "stats-20261001T185000Z-surrogate.json": '{"jobs_processed": 1, "errors_by_type": '
    '{"\\ud800": 1}}',
    "stats-20261001T190000Z-dupe.json": GOOD,
    # the plausibility window (syncstats._time.plausible): names and fields at its ends
    "stats-20000101T000000Z.json": GOOD,
    "stats-20991231T235959Z.json": GOOD,
    "stats-2000-01-01T01:00:00+01:00.json": GOOD,
    "stats-19991231T235959Z.json": GOOD,
    "stats-21000101T000000Z.json": GOOD,
    "stats-00010101T000000Z.json": GOOD,
    "stats-19700101T000000Z.json": GOOD,
    "stats-22630101T000000Z.json": GOOD,
    "stats-99990101T000000Z.json": GOOD,
    "stats-2000-01-01T00:59:59+01:00.json": GOOD,
    "stats-20261001T191500Z-field1970.json": {**GOOD, "snapshot_at": "1970-01-01T00:00:00Z"},
    "stats-20261001T191600Z-field0.json": {**GOOD, "snapshot_at": 0},
    "stats-20261001T191700Z-field2100.json": {**GOOD, "snapshot_at": "2100-01-01T00:00:00Z"},
    "stats-20261001T191800Z-session0.json": {**GOOD, "session_start": 0},
    "stats-20261001T191900Z-session1999.json": {**GOOD, "session_start": 946684799},
    "stats-20261001T192000Z-session2000.json": {**GOOD, "session_start": 946684800},
    "stats-20261001T192100Z-session2100.json": {**GOOD, "session_start": 4102444800},
    "stats-20261001T192200Z-session2099.json": {**GOOD, "session_start": 4102444799.5},
}


def make_copies(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for name, content in COPY_CASES.items():
        write_copy(d, name, content)
    os.utime(d / "notime.json", (1790812800, 1790812800))
    (d / "dir.json").mkdir()
    (d / "sub").mkdir()
    write_copy(d / "sub", "stats-20261001T191000Z.json", GOOD)
    return d


def test_copy_cases(tmp_path, snapshot_engine):
    d = make_copies(tmp_path / "worker-c")
    got = check(d, snapshot_engine, variants=True)
    assert len(got.issues) > 15
    check(d, snapshot_engine, source="explicit")
    check(d, snapshot_engine, source="")
    check(sorted(d.glob("*.json")), snapshot_engine)
    check(str(d / "stats-2026*.json"), snapshot_engine)


def test_copies_and_histories_interleave(tmp_path, snapshot_engine):
    """Files read in path order: copies, a history between them, more copies."""
    d = tmp_path / "w"
    d.mkdir()
    for i in range(5):
        write_copy(d, f"a-{i}-20261001T0{i}0000Z.json", {**GOOD, "jobs_processed": i})
    (d / "b.jsonl").write_text(line(source=_DROP) + "\n" + line()[:10] + "\n")
    write_copy(d, "c-20261001T060000Z.json", {**GOOD, "jobs_failed": None})
    write_copy(d, "d-20261001T070000Z.json", GOOD)
    check(d, snapshot_engine)


def test_discovering(tmp_path, snapshot_engine):
    root = tmp_path / "root"
    make_copies(root / "worker-c")
    (root / "worker-c" / "history.jsonl").write_text(line() + "\n" + line()[:9] + "\n")
    want = load(root, engine="reference")
    got = load(root, engine=snapshot_engine)
    assert_same(got, want)


def test_scan_tree_is_rglob(tmp_path):
    patterns = snapshots_module.SNAPSHOT_PATTERNS
    d = tmp_path / "t"
    for sub in ("a", "a/b", ".hidden", "a/dir.json"):
        (d / sub).mkdir(parents=True)
    for name in ("x.json", "a/y.jsonl", "a/b/z.json.gz", ".hidden/h.json", "a/X.JSON",
                 "a/n.ndjson", "a/q.txt", ".dot.json", "a/b/deep.ndjson.gz"):
        (d / name).write_text("{}")
    os.symlink(d / "a", d / "link")  # a symlinked directory is not entered
    os.symlink(d / "x.json", d / "a" / "lnk.json")
    os.symlink(d / "missing", d / "a" / "broken.json")
    os.symlink(d / "a" / "loop.json", d / "a" / "loop.json")

    def rglob(root: Path) -> list[str]:
        return sorted({str(f) for pat in patterns for f in root.rglob(pat) if f.is_file()})

    cwd = os.getcwd()
    try:
        os.chdir(d)
        for root in (str(d), str(d) + "/", ".", "a", "./a", "a/"):
            assert scan_tree(Path(root), patterns) == rglob(Path(root)), root
    finally:
        os.chdir(cwd)
    # patterns with wildcards beyond a leading "*" are matched as pathlib does
    assert scan_tree(d, ("*.j?on", "*.log.[0-9]*")) == sorted(
        {str(f) for pat in ("*.j?on", "*.log.[0-9]*") for f in d.rglob(pat) if f.is_file()})


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(
    records=st.lists(
        st.fixed_dictionaries(
            {"jobs_processed": st.integers(-5, 10**6)},
            optional={
                "jobs_failed": st.one_of(st.integers(-3, 2**63), st.none(), st.booleans(),
                                         st.floats(allow_nan=True)),
                "total_processing_time": st.one_of(st.floats(), st.integers(0, 10**20),
                                                   st.none()),
                "session_start": st.one_of(st.floats(-2e11, 2e11), st.none(),
                                           st.integers(0, 2 * 10**9),
                                           st.sampled_from(EDGE_EPOCHS)),
                "errors_by_type": st.one_of(
                    st.dictionaries(st.sampled_from(["A", "B", "C é", ""]),
                                    st.one_of(st.integers(-2, 2**63), st.floats(0, 3),
                                              st.none()), max_size=3),
                    st.none(), st.just([1])),
                "source": st.sampled_from(["s1", "s2", "", 3]),
                "snapshot_at": st.sampled_from(["2026-10-01T00:00:00Z", "x", 5.0,
                                                *EDGE_TIMES]),
            },
        ),
        min_size=1, max_size=8,
    ),
    names=st.lists(st.sampled_from(["stats-20261001T{:02d}0000Z.json",
                                    "stats-2026-10-01T{:02d}:00:00+01:00.json",
                                    "s-20261001T{:02d}0000.25Z.json", "x{:02d}.json",
                                    "stats-20261001T{:02d}0000Z.json.gz",
                                    "stats-19991231T2359{:02d}Z.json",
                                    "stats-20000101T0000{:02d}Z.json",
                                    "stats-20991231T2359{:02d}Z.json",
                                    "stats-21000101T0000{:02d}Z.json",
                                    "stats-19700101T0000{:02d}Z.json",
                                    "stats-00010101T0000{:02d}Z.json",
                                    "stats-22630101T0000{:02d}Z.json",
                                    "stats-99990101T0000{:02d}Z.json"]),
                   min_size=8, max_size=8),
)
def test_generated_copies(tmp_path_factory, records, names, snapshot_engine):
    d = tmp_path_factory.mktemp("copies") / "worker"
    d.mkdir()
    for i, rec in enumerate(records):
        name = names[i].format(i)
        data = json.dumps(rec).encode()
        write_copy(d, name, gzip.compress(data) if name.endswith(".gz") else data)
        os.utime(d / name, (1790812800 + i, 1790812800 + i))
    check(d, snapshot_engine)


# --------------------------------------------------------------------------------------
# Generated histories
# --------------------------------------------------------------------------------------

_COUNT = st.one_of(st.integers(-5, 2**40), st.integers(-(2**63), 2**63 + 5))
_VALUE = st.one_of(_COUNT, st.none(), st.booleans(), st.floats(), st.text(max_size=3))
_RECORD = st.fixed_dictionaries(
    {k: _COUNT for k in schemas.COUNTERS},
    optional={
        "total_processing_time": st.one_of(st.floats(0, 1e9), st.integers(0, 10**20),
                                           st.none()),
        "session_start": st.one_of(st.floats(-2e11, 2e11), st.none(),
                                   st.sampled_from(EDGE_EPOCHS)),
        "errors_by_type": st.one_of(
            st.dictionaries(st.sampled_from(["PlexNotFound", "Timeout", "Odd\"Name", "é", ""]),
                            st.one_of(st.integers(-3, 10**6), st.integers(2**62, 2**64)),
                            max_size=4),
            st.dictionaries(st.sampled_from(["A", "B"]), _VALUE, max_size=2),
            st.none(), st.just([])),
        "source": st.one_of(st.sampled_from(["w1", "w2", ""]), st.none(), st.integers()),
        "extra": st.one_of(st.integers(), st.text(max_size=5), st.lists(st.integers(),
                                                                         max_size=3)),
    },
)
_TIMES = st.sampled_from(["iso", "epoch", "offset", "fraction", "mixed", "bad", "edges"])
_DAMAGE = st.sampled_from([None, None, "torn", "blank", "crlf", "bad_type", "bom",
                           "double", "inf"])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(_RECORD, min_size=1, max_size=25), times=_TIMES, damage=_DAMAGE,
       seed=st.integers(0, 2**31), compact=st.booleans(), chunk=st.sampled_from([0, 300]))
def test_generated_histories(tmp_path_factory, records, times, damage, seed, compact,
                             chunk, snapshot_engine):
    rng = np.random.default_rng(seed)
    out = []
    for i, rec in enumerate(records):
        t = pd.Timestamp("2026-10-01", tz="UTC") + pd.Timedelta(minutes=int(rng.integers(0, 90)))
        kind = times if times != "mixed" else ["iso", "epoch"][i % 2]
        when: Any = {
            "iso": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "epoch": t.timestamp() + i / 8,
            "offset": t.tz_convert("America/New_York").isoformat(),
            "fraction": t.strftime("%Y-%m-%dT%H:%M:%S") + f".{i * 12345 % 10**6:06d}Z",
            "bad": ["13:00", "2026-10-01T00:00:00Z", -5][i % 3],
            "edges": EDGE_TIMES[int(rng.integers(0, len(EDGE_TIMES)))],
        }[kind]
        obj = {**rec, "snapshot_at": when}
        out.append(json.dumps(obj, separators=(",", ":") if compact else None))
    k = len(out) // 2
    if damage == "torn":
        out[k] = out[k][: len(out[k]) // 2]
    elif damage == "blank":
        out.insert(k, "")
    elif damage == "crlf":
        out[k] += "\r"
    elif damage == "bad_type":
        out[0] = out[0].replace('"jobs_failed":', '"jobs_failed": "x", "_":', 1)
    elif damage == "bom":
        out[0] = "\ufeff" + out[0]
    elif damage == "double":
        out[k] = out[k] + out[k]
    elif damage == "inf":
        out[k] = out[k][:-1] + ', "z": -Inf}'
    path = tmp_path_factory.mktemp("h") / "history.jsonl"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    old = fast_module.chunks_of.__defaults__, fast_module.read_chunks.__defaults__
    try:
        if chunk:
            fast_module.chunks_of.__defaults__ = (chunk,)
            fast_module.read_chunks.__defaults__ = (chunk,)
        check(path, snapshot_engine)
    finally:
        fast_module.chunks_of.__defaults__, fast_module.read_chunks.__defaults__ = old


# --------------------------------------------------------------------------------------
# The builder: columns from other readers, assembly
# --------------------------------------------------------------------------------------


def _columns(n: int, source: Any, times: Any) -> dict[str, Any]:
    cols: dict[str, Any] = {k: np.arange(n, dtype="int64") * (i + 1)
                            for i, k in enumerate(schemas.COUNTERS)}
    cols["snapshot_at"] = pd.DatetimeIndex(times)
    cols["session_start"] = np.where(np.arange(n) % 2, np.nan, 1790812800.0)
    cols["total_processing_time"] = np.linspace(0, 1, n)
    cols["source"] = source
    return cols


def _builder_frames(fill: Any, fast_frames: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    builder = RecordBuilder(Issues("report"), columnwise=fast_frames)
    fill(builder)
    return builder.frames()


def test_add_columns_lines_and_assembly():
    """add_columns with line numbers, a per-row source, NaT times and records added one
    by one in between: the column-wise assembly equals the reference's."""
    times = pd.to_datetime(["2026-10-01 02:00", None, "2026-10-01 01:00", "2026-10-01 01:00",
                            None], utc=True)

    def fill(b: RecordBuilder) -> None:
        b.add({**GOOD}, source="z", path="copy.json", line=None,
              snapshot_at=pd.Timestamp("2026-10-01T03:00:00Z"), time_from="filename")
        b.add_columns(_columns(5, pd.Categorical(["b", "a", "b", "a", "a"]), times),
                      [(np.array([0, 2, 2]), "E1", np.array([1, 2, 3])),
                       (np.array([2, 4]), "E0", np.array([4, 5])),
                       (np.array([], dtype=int), "E9", np.array([], dtype=int))],
                      "log.txt", lines=np.array([3, 9, 10, 11, 40]))
        b.add({**GOOD, "errors_by_type": {"E0": 7}}, source="a", path="h.jsonl", line=2,
              snapshot_at=pd.Timestamp("2026-10-01T01:00:00Z"), time_from="field")
        b.add_columns(_columns(2, "b", times[:2]), [], "other.txt")

    fast_frames = _builder_frames(fill, True)
    ref_frames = _builder_frames(fill, False)
    for got, want in zip(fast_frames, ref_frames, strict=True):
        pd.testing.assert_frame_equal(got, want)
    snapshots = fast_frames[0]
    assert "log.txt:40" in set(snapshots["origin"]) and "other.txt:2" in set(snapshots["origin"])
    with pytest.raises(ValueError):
        RecordBuilder(Issues("report")).add_columns(
            _columns(2, "b", times[:2]), [], "x", lines=np.array([1]))


def test_frames_twice():
    """frames() again gives the same frames; rows after it are an error (they were
    consumed)."""
    builder = RecordBuilder(Issues("report"))
    builder.add({**GOOD}, source="z", path="c.json", line=None,
                snapshot_at=pd.Timestamp("2026-10-01T03:00:00Z"), time_from="filename")
    first = builder.frames()
    second = builder.frames()
    pd.testing.assert_frame_equal(first[0], second[0])
    assert len(first[1]) == 2
    builder.add({**GOOD}, source="z", path="d.json", line=None,
                snapshot_at=pd.Timestamp("2026-10-01T04:00:00Z"), time_from="filename")
    with pytest.raises(RuntimeError):
        builder.frames()


def test_a_test_of_this_file_can_fail(tmp_path, monkeypatch):
    """The comparison notices a fast path that gets one value wrong."""
    path = tmp_path / "h.jsonl"
    path.write_text(line() + "\n")
    original = fast_module._epoch_us, fast_module._parse_iso

    def off_by_one(col: Any) -> Any:
        out = original[1](col)
        return None if out is None else out + 1

    monkeypatch.setattr(fast_module, "_parse_iso", off_by_one)
    with pytest.raises(AssertionError):
        check(path, "arrow")


@pytest.mark.parametrize("ordered", [True, False])
def test_assembly_in_pieces(tmp_path, monkeypatch, ordered):
    """Sources interleaved over many chunks, each source's times increasing: the frames
    are assembled from the readers' pieces (else by one sort); equal either way."""
    calls = []
    original = common_module._errors_in_pieces
    monkeypatch.setattr(common_module, "_errors_in_pieces",
                        lambda *a: calls.append(1) or original(*a))
    monkeypatch.setattr(fast_module.read_chunks, "__defaults__", (1500,))
    rows = []
    for i in range(120):
        minute = i if ordered or i % 7 else 200 - i
        rows.append(line(source="cab"[i % 3], snapshot_at=f"2026-10-01T{minute // 60:02d}:"
                         f"{minute % 60:02d}:00Z",
                         errors_by_type={"E": i} if i % 4 else {}))
    path = tmp_path / "h.jsonl"
    path.write_text("\n".join(rows) + "\n")
    check(path, "arrow", variants=True)
    assert bool(calls) == ordered


@settings(max_examples=60, deadline=None)
@given(st.lists(st.from_regex(
    r"[a-z]{0,3}-?(\d{4}-?\d{2}-?\d{2}T\d{2}:?\d{2}:?\d{2}(\.\d{1,8})?(Z|[+-]\d{2}:?\d{2})?)?"
    r"[a-zZ]{0,2}\.json", fullmatch=True), min_size=1, max_size=6))
def test_copy_times_is_time_from_name(names):
    from syncstats._time import time_from_name

    for batch in (names, names * 3):
        us, ok = fast_module.copy_times(batch)
        for name, value, good in zip(batch, us, ok, strict=True):
            want = time_from_name(name)[0]
            if good:
                assert want is not None and pd.Timestamp(value, unit="us", tz="UTC") == want


# --------------------------------------------------------------------------------------
# engine=
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["fast", "Arrow", "", None, 1])
def test_bad_engine_is_refused(tmp_path, bad):
    with pytest.raises(ParameterError) as exc:
        read_snapshots(tmp_path, engine=bad)
    message = str(exc.value)
    assert "\n" not in message and "engine" in message and repr(bad) in message
    assert all(repr(e) in message for e in ("auto", "reference", "arrow"))
    with pytest.raises(ParameterError, match="engine"):
        load(tmp_path, engine=bad)


def _fallbacks(data: Any) -> pd.DataFrame:
    return data.issues[data.issues["kind"].astype(str) == "engine_fallback"]


def test_engine_fallback_when_arrow_declines(tmp_path):
    """A history chunk with an escaped string and a copy with a snapshot_at field: the
    arrow engine leaves them to the reference, and says so once per file (a caveat: it
    never raises)."""
    d = tmp_path / "w"
    d.mkdir()
    history = d / "history.jsonl"
    history.write_text(line() + "\n" + line(source="a\\nb") + "\n"
                       + line(snapshot_at="2026-10-01T01:00:00Z") + "\n")
    write_copy(d, "stats-20261001T020000Z.json", {**GOOD, "snapshot_at": "2026-10-01T02:00Z"})
    write_copy(d, "stats-20261001T030000Z.json", GOOD)  # clean: read column-wise
    for on_error in ("report", "raise"):
        got = read_snapshots(d, engine="auto", on_error=on_error)
        assert_same(got, reference(d, on_error=on_error))
        fb = _fallbacks(got)
        assert fb["path"].tolist() == [str(history), str(d / "stats-20261001T020000Z.json")]
        assert fb["line"].isna().all()
        assert "1 of its 1 chunk(s), the first from line 1" in fb["detail"].iloc[0]
        assert "snapshot_at field" in fb["detail"].iloc[1]
    assert _fallbacks(reference(d)).empty


def test_no_engine_fallback_on_a_clean_history(tmp_path):
    d = tmp_path / "w"
    d.mkdir()
    (d / "history.jsonl").write_text("".join(
        line(snapshot_at=f"2026-10-01T00:{m:02d}:00Z") + "\n" for m in range(30)))
    write_copy(d, "stats-20261001T020000Z.json", GOOD)
    got = check(d, "auto")
    assert _fallbacks(got).empty
    assert _fallbacks(load(DATA)).empty  # nor on the sample data
