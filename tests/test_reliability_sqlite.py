"""SQLite states left by killed writers: the committed rows or an error, never a write.

Real writer processes commit 40 rows, begin one more transaction (rows that spill into
the file or the WAL, committed rows rewritten and deleted) and are SIGKILLed inside it:

- ``hot-journal``: rollback-journal mode; the file is torn, the journal hot;
- ``wal``: WAL mode with ``wal_autocheckpoint=0``: the committed rows live only in the
  WAL, next to the killed writer's ``-shm``;
- ``wal-no-shm``: the same without ``-shm`` (a copy or rsync of a running worker);
- ``wal-stale-shm``: a ``-shm`` saved after the first 20 commits and put back after 20
  more (an index that no longer matches the WAL).

Each is read in a writable folder and on a read-only bind mount (``unshare -m``; root
gets EROFS there), by the reference reader and by the ADBC engine, in a child process
with its own ``TMPDIR``. The rows must be exactly the committed ones, the folder byte-,
mtime- and listing-identical afterwards, and the private copy gone.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from helpers_reliability import diff_fingerprints, fingerprint
from helpers_sqlite import (
    committed_row,
    killed_writer,
    read_only_mount_works,
    run_reader,
    setpriv_works,
)

from syncstats.io import read_dlq

COMMITTED = 40
EXPECTED = [list(committed_row(i)) for i in range(1, COMMITTED + 1)]
STATES = ("hot-journal", "wal", "wal-no-shm", "wal-stale-shm")
#: How each state must be read: in place (no issue) or from a recovered private copy.
COPIED = {"hot-journal": ("dlq.db", "dlq.db-journal"), "wal": None,
          "wal-no-shm": ("dlq.db", "dlq.db-wal"), "wal-stale-shm": None}


def make_state(d: Path, state: str) -> Path:
    """A folder *d* holding ``dlq.db`` in *state* (see the module docstring)."""
    d.mkdir(parents=True)
    db = d / "dlq.db"
    if state == "hot-journal":
        killed_writer(db, "delete", COMMITTED)
        assert (d / "dlq.db-journal").stat().st_size > 0
    elif state == "wal-stale-shm":
        killed_writer(db, "wal", 20)
        stale = (d / "dlq.db-shm").read_bytes()
        killed_writer(db, "wal", COMMITTED - 20, start=21)
        assert (d / "dlq.db-shm").read_bytes() != stale
        (d / "dlq.db-shm").write_bytes(stale)
    else:
        killed_writer(db, "wal", COMMITTED)
        if state == "wal-no-shm":
            (d / "dlq.db-shm").unlink()
    if state.startswith("wal"):
        # the committed rows are in the WAL only: the file alone holds no table
        con = sqlite3.connect(f"file:{db}?immutable=1", uri=True)
        try:
            with pytest.raises(sqlite3.OperationalError, match="no such table"):
                con.execute("SELECT count(*) FROM dead_letters").fetchone()
        finally:
            con.close()
    # back-date every file: a write by the reader would show as a new mtime
    for f in d.iterdir():
        os.utime(f, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    return db


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("killed")
    return {state: make_state(base / state, state).parent for state in STATES}


def folder_modes() -> list[object]:
    ro = pytest.param("read-only", marks=pytest.mark.skipif(
        not read_only_mount_works(),
        reason="no read-only bind mount here (unshare -m + mount --bind -o ro failed)"))
    return ["writable", ro]


@pytest.mark.parametrize("engine", ["reference", "fast"])
@pytest.mark.parametrize("folder", folder_modes())
@pytest.mark.parametrize("state", STATES)
def test_killed_writer_state_reads_exactly_the_committed_rows_and_writes_nothing(
    originals, tmp_path, state, folder, engine
):
    d = tmp_path / "data"
    shutil.copytree(originals[state], d, copy_function=shutil.copy2)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    before = fingerprint(d)
    out = run_reader(d / "dlq.db", engine=engine, tmpdir=tmp,
                     read_only=d if folder == "read-only" else None)
    assert out["rows"] == EXPECTED, (state, folder, out["issues"])
    assert not diff_fingerprints(before, fingerprint(d))
    assert os.listdir(tmp) == []  # the private copy is gone
    copied = COPIED[state]
    if copied is None:  # read in place, nothing to say
        assert out["issues"] == []
    else:
        [(path, kind, detail)] = out["issues"]
        size = sum((d / name).stat().st_size for name in copied)
        assert (path, kind) == (str(d / "dlq.db"), "recovered_copy")
        assert f"copied {size} bytes ({', '.join(copied)})" in detail
    if engine == "fast":  # the ADBC engine read the same state (the copy, if any)
        assert out["fast"] == [True]


def test_the_private_copy_is_0700_and_removed(originals, tmp_path, monkeypatch):
    from syncstats.io import _sqlite as sqlitestate

    d = tmp_path / "data"
    shutil.copytree(originals["hot-journal"], d, copy_function=shutil.copy2)
    seen: list[tuple[int, list[str]]] = []
    real = sqlitestate._recover

    def spy(path, reason, workdir, *args):
        done = real(path, reason, workdir, *args)
        seen.append((os.stat(workdir).st_mode & 0o777, sorted(os.listdir(workdir))))
        workdirs.append(workdir)
        return done

    workdirs: list[str] = []
    monkeypatch.setattr(sqlitestate, "_recover", spy)
    before = fingerprint(d)
    data = read_dlq(d / "dlq.db")
    assert [list(r) for r in data.dlq[["id", "job_id", "error_message"]].itertuples(
        index=False)] == EXPECTED
    # recovered in place of the copy: the journal rolled back and gone, one file left
    assert seen == [(0o700, ["db"])]
    assert not os.path.exists(workdirs[0])
    assert not diff_fingerprints(before, fingerprint(d))


def test_a_copy_beyond_the_limit_is_refused_as_unreadable(originals, tmp_path,
                                                           monkeypatch):
    from syncstats.io import _sqlite as sqlitestate

    d = tmp_path / "data"
    shutil.copytree(originals["wal-no-shm"], d, copy_function=shutil.copy2)
    monkeypatch.setattr(sqlitestate, "MAX_COPY_BYTES", 100_000)
    before = fingerprint(d)
    data = read_dlq(d / "dlq.db")
    assert data.dlq.empty
    [issue] = data.issues.itertuples()
    assert (issue.path, issue.kind) == (str(d / "dlq.db"), "unreadable")
    assert "more than the limit of 100000 bytes (MAX_COPY_BYTES)" in issue.detail
    assert not diff_fingerprints(before, fingerprint(d))


needs_setpriv = pytest.mark.skipif(
    not setpriv_works(), reason="setpriv cannot drop CAP_DAC_OVERRIDE here, so root "
                                "ignores permission bits")


@needs_setpriv
@pytest.mark.parametrize("call", ["read_dlq(file)", "read_dlq(dir)", "load(root)"])
def test_permission_denied_is_unreadable_naming_the_file_and_the_error(
    originals, tmp_path, call
):
    root = tmp_path / "root"
    d = root / "worker"
    shutil.copytree(originals["hot-journal"], d, copy_function=shutil.copy2)
    db = d / "dlq.db"
    db.chmod(0)
    target = {"read_dlq(file)": db, "read_dlq(dir)": d, "load(root)": root}[call]
    before = fingerprint(root)
    out = run_reader(target, call="load" if call == "load(root)" else "read_dlq",
                     no_dac=True, tmpdir=tmp_path)
    assert out["rows"] == []
    about = [(kind, detail) for path, kind, detail in out["issues"] if path == str(db)]
    assert about == [("unreadable",
                      "cannot be opened for reading: Permission denied (EACCES)")], out
    assert not diff_fingerprints(before, fingerprint(root))


@needs_setpriv
@pytest.mark.parametrize("side", ["-wal", "-journal"])
def test_an_unreadable_wal_or_journal_is_unreadable_not_ignored(originals, tmp_path,
                                                                side):
    d = tmp_path / "data"
    shutil.copytree(originals["wal" if side == "-wal" else "hot-journal"], d,
                    copy_function=shutil.copy2)
    (d / f"dlq.db{side}").chmod(0)
    before = fingerprint(d)
    out = run_reader(d / "dlq.db", no_dac=True, tmpdir=tmp_path)
    assert out["rows"] == []
    [(path, kind, detail)] = out["issues"]
    assert (path, kind) == (str(d / "dlq.db"), "unreadable")
    assert detail.startswith(f"{d / 'dlq.db'}{side}: holds part of dlq.db's state")
    assert detail.endswith("cannot be opened for reading: Permission denied (EACCES); "
                           "the database is not read")
    assert not diff_fingerprints(before, fingerprint(d))


def test_an_rsynced_wal_database_of_another_kind_is_classified_without_writing(tmp_path):
    """A copy of a running worker's ``queue/data.db`` (WAL, no ``-shm``): ``load`` must
    look inside (recovered copy) to tell it holds no ``dead_letters``, and touch nothing."""
    from syncstats.io import load

    src = tmp_path / "running"
    src.mkdir()
    conn = sqlite3.connect(src / "data.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE ack_queue_default (_id INTEGER PRIMARY KEY AUTOINCREMENT,"
                 " data BLOB, timestamp FLOAT, status INTEGER)")
    conn.execute("INSERT INTO ack_queue_default (data, timestamp, status) VALUES (x'00', 1, 0)")
    root = tmp_path / "root"
    queue = root / "worker" / "queue"
    queue.mkdir(parents=True)
    for name in ("data.db", "data.db-wal"):  # the rsync: -shm left out
        shutil.copy2(src / name, queue / name)
    conn.close()
    before = fingerprint(root)
    data = load(root)
    assert not diff_fingerprints(before, fingerprint(root))
    about = data.issues[data.issues["path"] == str(queue / "data.db")]
    assert list(about["kind"].astype("str")) == ["ignored"]
    assert data.dlq.empty


@pytest.mark.parametrize("state", ["hot-journal", "wal-no-shm"])
def test_a_symlinked_database_is_read_with_the_sidecars_beside_its_target(
    originals, tmp_path, state
):
    """SQLite keeps the journal and WAL beside the link's target: so must the planner."""
    d = tmp_path / "data"
    shutil.copytree(originals[state], d, copy_function=shutil.copy2)
    links = tmp_path / "links"
    links.mkdir()
    (links / "dlq.db").symlink_to(d / "dlq.db")
    before = fingerprint(tmp_path)
    data = read_dlq(links / "dlq.db")
    assert [list(r) for r in data.dlq[["id", "job_id", "error_message"]].itertuples(
        index=False)] == EXPECTED
    assert list(data.issues["kind"].astype("str")) == ["recovered_copy"]
    assert list(data.issues["path"]) == [str(links / "dlq.db")]
    assert not diff_fingerprints(before, fingerprint(tmp_path))


def test_a_wal_database_changing_under_every_read_in_place_is_read_from_a_copy(
    tmp_path, monkeypatch
):
    """A live writer that opens, commits and closes a WAL database between reads makes
    every ``immutable=1`` read stale: after the reads in place, a private copy made
    under a reader's lock is read (``recovered_copy``), never an error, never a write."""
    from itertools import count

    from syncstats.io import _sqlite as sqlitestate

    d = tmp_path / "w"
    d.mkdir()
    conn = sqlite3.connect(d / "dlq.db")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x INTEGER)")
    conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(5)])
    conn.commit()
    conn.close()  # the last connection: checkpointed, -wal and -shm removed
    before = fingerprint(d)
    ticks = count()
    real = sqlitestate._stamps

    def stamps(p):  # the three reads in place (two looks each) all see a change
        n = next(ticks)
        return (*real(p), n) if n < 6 else real(p)

    monkeypatch.setattr(sqlitestate, "_stamps", stamps)
    rows, how = sqlitestate.read_committed(
        d / "dlq.db", lambda c, h: c.execute("SELECT x FROM t ORDER BY x").fetchall())
    assert rows == [(i,) for i in range(5)] and how.how == "recovered_copy"
    assert "live writer" in how.reason
    assert not diff_fingerprints(before, fingerprint(d))
