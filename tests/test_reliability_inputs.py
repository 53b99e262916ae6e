"""Untrusted inputs: never executed, never modified, never able to hang a reader.

- No code execution: pickles that would run ``os.system``, ``exec``/``eval``, ``open``,
  ``subprocess.Popen`` or import a module (every protocol, nested in a job dict, and
  hand-written INST/OBJ/STACK_GLOBAL/EXT1 opcodes) are refused by every code path:
  ``DeadLetterQueue.get_by_id``, ``read_dlq(decode_jobs=True)``, ``load`` and the HTML
  report (one papermill run on a copy of data/ with a hostile source). An audit hook
  records any process spawn, ``pickle.find_class`` or canary open/import meanwhile.
- The report escapes data: error types, messages and source (directory) names holding
  HTML, Markdown and TeX show as text, and the HTML loads nothing from the network.
- Inputs are never modified: a fingerprint of the whole tree (every file's bytes, mtime
  and mode, every directory's listing and mtime) is unchanged by ``load``,
  ``syncstats check|summary|audit``, ``read_dlq(decode_jobs=True)`` and ``report``, on a
  writable and on a read-only (``chmod -R a-w``) copy, including a WAL-mode DLQ.
- FIFOs, symlink loops and sockets planted in a data directory do not hang a reader.
"""

from __future__ import annotations

import ast
import html
import os
import pickle
import socket
import sqlite3
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from helpers_reliability import (
    DATA,
    ROOT,
    XSS_MARKERS,
    XSS_TYPE,
    add_canary_source,
    canary_files,
    copy_data,
    diff_fingerprints,
    error_kinds,
    evil_pickles,
    fingerprint,
    make_quiescent_wal_dlq,
    make_read_only,
    make_writable,
    scaled,
    time_limit,
    write_canary_module,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncstats import cli
from syncstats.exceptions import StatsFileError, UnsafePickleError
from syncstats.io import load, read_dlq, read_log, read_snapshots
from syncstats.recording import DeadLetterQueue, capture_snapshot
from syncstats.recording.safepickle import safe_loads

CANARY_MODULE = "syncstats_canary_module"

# --------------------------------------------------------------------------------------
# An audit hook (installed once, recording only while armed)
# --------------------------------------------------------------------------------------

_EVENTS: list[tuple[str, str]] = []
_ARMED: list[str] = []  # canary path prefixes while armed
_HOOKED = False
_SPAWN = ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "subprocess.Popen",
          "os.fork", "os.forkpty", "pickle.find_class", "ctypes.dlopen")


def _hook(event: str, args: tuple) -> None:
    if not _ARMED:
        return
    if event.startswith(_SPAWN):
        _EVENTS.append((event, repr(args)[:200]))
    elif event == "import" and args and str(args[0]).startswith(CANARY_MODULE):
        _EVENTS.append((event, str(args[0])))
    elif event in ("open", "os.mkdir", "os.rename", "os.remove", "shutil.copyfile"):
        text = " ".join(str(a) for a in args[:2])
        if any(prefix in text for prefix in _ARMED):
            _EVENTS.append((event, text[:200]))


class watching:
    """Record spawns, ``pickle.find_class`` and canary opens/imports in this process."""

    def __init__(self, canary: Path):
        self.canary = canary

    def __enter__(self) -> list[tuple[str, str]]:
        global _HOOKED
        if not _HOOKED:
            sys.addaudithook(_hook)
            _HOOKED = True
        _EVENTS.clear()
        _ARMED.append(str(self.canary))
        return _EVENTS

    def __exit__(self, *exc: object) -> None:
        _ARMED.clear()


def assert_nothing_ran(canary: Path, events: list[tuple[str, str]]) -> None:
    assert not events, events
    assert not canary_files(canary), canary_files(canary)
    assert CANARY_MODULE not in sys.modules


@pytest.fixture
def canary(tmp_path, monkeypatch):
    """A canary path, and a module on sys.path that creates it when imported."""
    path = tmp_path / "canary" / "CANARY"
    path.parent.mkdir()
    mods = tmp_path / "mods"
    mods.mkdir()
    write_canary_module(mods, path, CANARY_MODULE)
    monkeypatch.syspath_prepend(str(mods))
    yield path
    sys.modules.pop(CANARY_MODULE, None)


def evil_dlq(directory: Path, blobs: dict[str, bytes]) -> tuple[DeadLetterQueue, dict[int, str]]:
    dlq = DeadLetterQueue(directory)
    ids = {}
    conn = sqlite3.connect(dlq.db_path)
    for name, blob in blobs.items():
        cur = conn.execute(
            "INSERT INTO dead_letters (job_id, scene_id, job_data, error_type, error_message,"
            " stack_trace, retry_count) VALUES (1, 2, ?, 'PlexNotFound', 'm', '', 1)", (blob,),
        )
        ids[int(cur.lastrowid)] = name
    conn.commit()
    conn.close()
    return dlq, ids


# --------------------------------------------------------------------------------------
# No code execution
# --------------------------------------------------------------------------------------


def test_the_canary_works(canary):
    """The payloads are real: plain ``pickle.loads`` would run them (checked on two)."""
    blobs = evil_pickles(canary, CANARY_MODULE)
    pickle.loads(blobs["builtins.open/p2"]).close()
    assert canary_files(canary) == [Path(f"{canary}.open")]
    pickle.loads(blobs["import module"])
    assert Path(f"{canary}.import").exists()
    for f in canary_files(canary):
        f.unlink()
    sys.modules.pop(CANARY_MODULE)


def test_evil_pickles_are_never_executed(tmp_path, canary):
    blobs = evil_pickles(canary, CANARY_MODULE)
    dlq, ids = evil_dlq(tmp_path / "worker-a", blobs)
    with watching(canary) as events:
        for name, blob in blobs.items():
            with pytest.raises(UnsafePickleError):
                safe_loads(blob)
                pytest.fail(f"{name} was decoded")
        for dlq_id in ids:
            with pytest.raises(UnsafePickleError):
                dlq.get_by_id(dlq_id)
        data = read_dlq(dlq.db_path, decode_jobs=True)
        loaded = load(tmp_path)
    assert_nothing_ran(canary, events)
    undecodable = data.issues[data.issues["kind"] == "undecodable_job"]
    assert sorted(undecodable["line"]) == sorted(ids)
    assert len(data.dlq) == len(ids) and len(loaded.dlq) == len(ids)
    assert not [c for c in data.dlq.columns if c.startswith("job.") and
                data.dlq[c].notna().any()]


mutated_pickle = st.tuples(
    st.sampled_from(sorted(evil_pickles(Path("/nonexistent/CANARY")))),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4),
    st.binary(max_size=16),
)


@settings(max_examples=scaled(150, 20000), deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=mutated_pickle, raw=st.binary(max_size=64))
def test_mutated_and_random_pickles_are_never_executed(canary, case, raw):
    """Evil pickles with bytes flipped or appended, and random bytes: refused or plain
    builtin data, never a global looked up, never a canary."""
    name, flips, tail = case
    blob = bytearray(evil_pickles(canary, CANARY_MODULE)[name])
    for pos, value in flips:
        blob[pos % len(blob)] = value
    with watching(canary) as events:
        for candidate in (bytes(blob) + tail, raw, b"\x80\x04" + raw):
            with time_limit(10, "safe_loads"):
                try:
                    out = safe_loads(candidate)
                except UnsafePickleError:
                    continue
            assert_plain(out)
    assert_nothing_ran(canary, events)


def assert_plain(obj: object, depth: int = 0) -> None:
    assert depth < 200
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert_plain(k, depth + 1)
            assert_plain(v, depth + 1)
    elif isinstance(obj, list | tuple | set | frozenset):
        for v in obj:
            assert_plain(v, depth + 1)
    else:
        assert obj is None or type(obj) in (str, bytes, bytearray, int, float, bool,
                                            complex), type(obj)


FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__", "breakpoint"}
FORBIDDEN_ATTRS = {
    ("pickle", "load"), ("pickle", "loads"), ("pickle", "Unpickler"), ("marshal", "loads"),
    ("marshal", "load"), ("os", "system"), ("os", "popen"), ("yaml", "load"),
    ("shelve", "open"), ("importlib", "import_module"), ("subprocess", "run"),
    ("subprocess", "Popen"), ("subprocess", "call"), ("subprocess", "check_output"),
}


def forbidden_calls(source: str, where: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Name) and f.id in FORBIDDEN_CALLS:
            found.append(f"{where}:{node.lineno}: {f.id}()")
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
            if (f.value.id, f.attr) in FORBIDDEN_ATTRS:
                found.append(f"{where}:{node.lineno}: {f.value.id}.{f.attr}()")
    return found


def test_no_code_execution_primitives_in_the_package_or_report_notebooks():
    """No eval/exec/pickle.loads/os.system/subprocess call in syncstats or in the code
    cells of the notebooks the report executes (the restricted unpickler subclasses
    ``pickle.Unpickler``: a class base, not a call)."""
    import nbformat

    found = []
    for path in sorted((ROOT / "syncstats").rglob("*.py")):
        found += forbidden_calls(path.read_text(), str(path.relative_to(ROOT)))
    for path in sorted((ROOT / "syncstats" / "report" / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                code = "\n".join(line for line in cell.source.splitlines()
                                 if not line.lstrip().startswith(("%", "!")))
                found += forbidden_calls(code, f"{path.name} cell {i}")
    assert not found, found


# --------------------------------------------------------------------------------------
# The report: one papermill run on a hostile copy of data/
# --------------------------------------------------------------------------------------


class _Text(HTMLParser):
    """Visible text of an HTML page (what a browser shows, entities decoded)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.fetching: list[str] = []  # elements that load something by URL

    def handle_starttag(self, tag: str, attrs: list) -> None:
        names = {k for k, _ in attrs}
        if (tag in ("script", "img", "iframe") and "src" in names) or (
                tag == "link" and "href" in names):
            srcs = [v for k, v in attrs if k in ("src", "href")]
            if not all(v and v.startswith("data:") for v in srcs):
                self.fetching.append(f"<{tag} {attrs}>")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


@pytest.fixture(scope="module")
def report_run(tmp_path_factory):
    """Render the report once: (html, input tree changes, canary files, seconds)."""
    from syncstats.report import render_report

    tmp = tmp_path_factory.mktemp("report")
    data = copy_data(tmp / "data")
    canary = tmp / "canary" / "CANARY"
    canary.parent.mkdir()
    add_canary_source(data, canary)
    before = fingerprint(data)
    start = time.monotonic()
    out = render_report(data, out=tmp / "out" / "r.html", progress=False)
    seconds = time.monotonic() - start
    changes = diff_fingerprints(before, fingerprint(data))
    return out.read_text(), changes, canary_files(canary), seconds


@pytest.mark.slow
def test_report_executes_no_pickle_and_modifies_no_input(report_run):
    text, changes, canaries, seconds = report_run
    assert not canaries, canaries
    assert not changes, changes
    print(f"report rendered in {seconds:.1f} s")


@pytest.mark.slow
def test_report_escapes_html_from_the_data(report_run):
    text = report_run[0]
    raw = [m for m in XSS_MARKERS if m in text]
    assert not raw, f"unescaped data in the report HTML: {raw}"
    assert "href=\"javascript:" not in text.lower()
    assert html.escape("<script>alert(1)</script>", quote=False) in text
    parser = _Text()
    parser.feed(text)
    assert not parser.fetching, parser.fetching  # inline template scripts only
    visible = "".join(parser.parts)
    assert "<script>alert(1)</script>" in visible  # shown as text
    assert "canary<img src=x onerror=alert(5)>" in visible  # the source name, as text


@pytest.mark.slow
def test_report_loads_nothing_from_the_network(report_run):
    parser = _Text()
    parser.feed(report_run[0])
    assert not parser.fetching, parser.fetching
    text = report_run[0].lower()
    for needle in ('src="http', "src='http", 'src="//', 'href="http', "url(http", "@import"):
        if needle == 'href="http':  # links a reader may follow are fine; stylesheets not
            assert '<link rel="stylesheet" href="http' not in text
            continue
        assert needle not in text, needle


@pytest.mark.slow
def test_report_shows_tex_like_text_verbatim(report_run):
    """``$...$`` in the data is not rendered as TeX (which would show the backslash
    escapes and double-escape ``&lt;``): the sentences show the error type verbatim."""
    parser = _Text()
    parser.feed(report_run[0])
    visible = "".join(parser.parts)
    assert visible.count(XSS_TYPE) >= 3  # the tables show it verbatim ...
    assert f"{XSS_TYPE} caused" in visible  # ... the sentences of cells 14 and 17 too
    assert f"({XSS_TYPE}), covers" in visible
    assert "&lt;" not in visible and "&amp;" not in visible  # nothing escaped twice


# --------------------------------------------------------------------------------------
# Inputs are never modified
# --------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("read_only", [False, True], ids=["writable", "read-only"])
def test_readers_and_commands_never_modify_their_inputs(tmp_path, capsys, read_only):
    data = copy_data(tmp_path / "data")
    wal = data / "worker-wal"
    wal.mkdir()
    make_quiescent_wal_dlq(wal / "dlq.db")
    canary = tmp_path / "CANARY"
    evil_dlq(data / "worker-evil", evil_pickles(canary, CANARY_MODULE))
    if read_only:
        make_read_only(data)
    dlqs = sorted(data.glob("*/dlq.db"))
    ops = {
        "load": lambda: load(data),
        "syncstats check": lambda: cli.main(
            ["check", str(data), "--max-dlq", "10", "--max-age", "2h", "--slo", "0.9",
             "--min-success-rate", "0.9", "--max-dlq-growth", "5"]),
        "syncstats summary": lambda: cli.main(["summary", str(data), "--window", "7d"]),
        "syncstats audit": lambda: cli.main(["audit", str(data), "--format", "json"]),
        "read_dlq(decode_jobs=True)": lambda: [read_dlq(p, decode_jobs=True) for p in dlqs],
        "read_dlq(dir)": lambda: read_dlq(data / "worker-wal"),
        "read_snapshots": lambda: read_snapshots(data / "worker-a"),
        "read_log": lambda: read_log(data / "worker-b"),
    }
    try:
        before = fingerprint(data)
        with watching(canary) as events:
            for name, op in ops.items():
                with time_limit(120, name):
                    result = op()
                if name == "load":
                    assert len(result.dlq) > 150 and not error_kinds(
                        result.issues[result.issues["source"] == "worker-wal"].reset_index())
                after = fingerprint(data)
                assert not diff_fingerprints(before, after), (name, diff_fingerprints(
                    before, after))
        capsys.readouterr()
        assert_nothing_ran(canary, events)
    finally:
        if read_only:
            make_writable(data)


# --------------------------------------------------------------------------------------
# Hostile directory entries
# --------------------------------------------------------------------------------------


def test_fifos_sockets_and_symlink_loops_do_not_hang_the_readers(tmp_path, capsys):
    root = tmp_path / "data"
    (root / "worker-a").mkdir(parents=True)
    (root / "worker-a" / "stats-20261001T000000Z.json").write_bytes(
        (DATA / "worker-a" / "snapshots" / "stats-20261022T000000Z.json").read_bytes())
    for name in ("trap", "trap.json", "trap.log", "dlq.db"):
        os.mkfifo(root / name)
        os.mkfifo(root / "worker-a" / f"in-{name}")
    (root / "worker-a" / "loop").symlink_to(root / "worker-a")
    (root / "worker-a" / "fifo-link.db").symlink_to(root / "trap")
    (root / "worker-a" / "dangling.json").symlink_to(root / "nowhere.json")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(root / "worker-a" / "s.sock"))
        before = fingerprint(root)
        with time_limit(60, "readers on a directory with FIFOs"):
            data = load(root)
            read_snapshots(root / "worker-a")
            read_log(root / "worker-a") if list((root / "worker-a").glob("*.log")) else None
            read_dlq(root / "worker-a")
            cli.main(["check", str(root)])
            with pytest.raises(StatsFileError, match="not a regular file"):
                capture_snapshot(root / "trap.json", tmp_path / "h.jsonl")
            assert cli.main(["snapshot", str(root / "trap.json"), "--history",
                             str(tmp_path / "h.jsonl")]) == 2
        capsys.readouterr()
        assert len(data.snapshots) == 1
        assert not diff_fingerprints(before, fingerprint(root))
    finally:
        sock.close()
