"""Open an SQLite database for reading its committed state, never writing beside it.

A reader of a worker's database (``dlq.db``; persist-queue's ``queue/data.db``) meets
what the worker left: a hot rollback journal (killed inside a transaction), a WAL with
committed frames that were never checkpointed, a WAL without its ``-shm`` (a copy or an
rsync of a running worker), a ``-shm`` of a crashed writer, a read-only folder. Plain
``mode=ro`` then fails (hot journal, no ``-shm`` in a read-only folder), or creates or
rewrites ``-wal``/``-shm`` beside the user's file, and ``immutable=1`` reads a torn file
or ignores the WAL. :func:`open_committed` gives the committed state or an error:

=====================================================  ====================================
files beside the database                              how it is read
=====================================================  ====================================
no ``-journal``/``-wal`` content, rollback header      ``mode=ro`` (SQLite's shared lock)
no ``-journal``/``-wal`` content, WAL header            ``immutable=1`` (the file is the
                                                       whole state; the caller repeats the
                                                       read if it changed meanwhile); with
                                                       an empty ``-wal`` and a readable
                                                       ``-shm`` (a live writer just after a
                                                       checkpoint) ``readonly_shm``
``-journal`` with content                              ``mode=ro``; a *hot* journal (its
                                                       writer died) refuses it: copy
``-wal`` with content and a readable ``-shm``          ``mode=ro&readonly_shm=1``: the
                                                       ``-shm`` is mapped read-only; with
                                                       no live writer SQLite reads the WAL
                                                       itself, checksums and all
``-wal`` with content, no readable ``-shm``            copy
=====================================================  ====================================

*Copy*: the database and its ``-journal``/``-wal`` are copied into a private folder
(:func:`tempfile.mkdtemp`, mode 0700), SQLite recovers the copy there (rolls the hot
journal back, or rebuilds the WAL index from the WAL's checksummed frames and folds the
committed frames into the file), the copy is read and the folder removed. A ``-shm`` is
not copied: SQLite discards one that no live process holds. While copying, an open file
description lock (``F_OFD_SETLK``) on SQLite's SHARED byte range of the original keeps
any other process from committing, rolling back or checkpointing-and-deleting, exactly
as a reading connection's lock would; the files must also be unchanged (inode, size,
mtime) from before to after the copy, else the copy is repeated. At most
:data:`MAX_COPY_BYTES` are copied.

The result is a :class:`Committed` description that a second engine (the ADBC fast
path) uses to open the very same state (:attr:`Committed.uri`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sqlite3
import stat
import struct
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .._fsutil import describe_os_error
from ..exceptions import SQLiteStateError

__all__ = ["open_committed", "read_committed", "Committed", "MAX_COPY_BYTES"]

#: Most bytes (database plus journal or WAL) copied to recover a database privately; a
#: larger one is refused (:class:`~syncstats.exceptions.SQLiteStateError`). A DLQ keeps
#: 30 days of failures: a few MB; 4 GiB is far beyond any real one.
MAX_COPY_BYTES = 4 << 30
#: Copies attempted while the files keep changing under the copy.
COPY_ATTEMPTS = 3

_T = TypeVar("_T")
# SQLite's lock bytes (os_unix.c): PENDING_BYTE 0x40000000, SHARED_FIRST = +2, 510 bytes
_PENDING_BYTE = 0x40000000
_SHARED_FIRST = _PENDING_BYTE + 2
_SHARED_SIZE = 510
# a rollback journal's header magic; a journal that *ends* with it names a super-journal
_JOURNAL_MAGIC = bytes.fromhex("d9d505f920a163d7")
# errors of plain read-only access that mean "not without writing": recover a copy
_NEEDS_COPY = frozenset({
    "SQLITE_READONLY_ROLLBACK",  # a hot journal: rolling it back would write
    "SQLITE_READONLY_RECOVERY",  # a WAL index to rebuild: would write the -shm
    "SQLITE_READONLY_CANTINIT",
    "SQLITE_READONLY_CANTLOCK",
    "SQLITE_CANTOPEN",           # e.g. a -shm that vanished meanwhile
})


@dataclass(frozen=True)
class Committed:
    """How :func:`open_committed` reached a database's committed state.

    Attributes
    ----------
    uri : str
        SQLite URI of that state: the original (``mode=ro``, ``mode=ro&readonly_shm=1``
        or ``immutable=1``) or the recovered private copy (``mode=ro``). Valid only
        inside the ``with`` block.
    how : str
        ``'mode=ro'``, ``'readonly_shm'``, ``'immutable'`` or ``'recovered_copy'``.
    copied_bytes : int
        Bytes copied to the private folder (0 unless ``how == 'recovered_copy'``).
    reason : str
        Why the copy was needed ('' when not copied).
    copied : tuple of str
        Names of the files copied.
    """

    uri: str
    how: str
    copied_bytes: int = 0
    reason: str = ""
    copied: tuple[str, ...] = ()

    @property
    def caveat(self) -> str | None:
        """Text of the ``recovered_copy`` issue row, None when read in place."""
        if self.how != "recovered_copy":
            return None
        return (f"{self.reason}: plain read-only access cannot give the committed state "
                f"without writing beside the database; copied {self.copied_bytes} bytes "
                f"({', '.join(self.copied)}) to a private temporary folder, recovered and "
                "read there (the copy is deleted; nothing beside the database is touched)")


def uri(path: Path, params: str) -> str:
    """The ``file:`` URI of *path* (absolute, percent-encoded) with *params*."""
    return f"file:{urllib.parse.quote(str(Path(path).resolve()))}?{params}"


def _stamp(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return (-1, exc.errno or 0, 0)
    return st.st_ino, st.st_size, st.st_mtime_ns


def _stamps(path: Path) -> tuple[tuple[int, int, int] | None, ...]:
    """Stamps of the database and its ``-journal``/``-wal`` (what a read depends on)."""
    return tuple(_stamp(f"{path}{side}") for side in ("", "-journal", "-wal"))


def _readable(path: str) -> OSError | None:
    """None when *path* opens for reading (non-blocking: never hangs on a FIFO)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        return exc
    os.close(fd)
    return None


def _size(path: str) -> int:
    try:
        st = os.stat(path)
    except OSError:
        return 0
    return st.st_size if stat.S_ISREG(st.st_mode) else 0


def _wal_header(path: Path) -> bool:
    """True when the database header says WAL (read/write versions 2)."""
    try:
        with open(path, "rb") as fh:
            header = fh.read(20)
    except OSError:
        return False
    return len(header) == 20 and header[18:20] == b"\x02\x02"


def _check_readable(path: Path) -> None:
    """Raise :class:`SQLiteStateError` when the database, or a journal or WAL holding
    part of its state, cannot be read (permission denied, ...)."""
    err = _readable(str(path))
    if err is not None:
        raise SQLiteStateError(path, f"cannot be opened for reading: {describe_os_error(err)}")
    for side in ("-journal", "-wal"):
        name = f"{path}{side}"
        if _size(name) > 0 and (err := _readable(name)) is not None:
            raise SQLiteStateError(
                name, f"holds part of {path.name}'s state ({side[1:]}) but cannot be "
                      f"opened for reading: {describe_os_error(err)}; the database is not read")


def _connect(target: str, timeout: float, max_value_bytes: int | None) -> sqlite3.Connection:
    conn = sqlite3.connect(target, uri=True, timeout=timeout)
    try:
        if max_value_bytes is not None:
            conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max_value_bytes)
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except BaseException:
        conn.close()
        raise
    return conn


def _needs_copy(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorname", "") in _NEEDS_COPY


@contextlib.contextmanager
def _shared_lock(path: Path, timeout: float) -> Iterator[None]:
    """Hold a read lock on SQLite's SHARED byte range of *path*, as a reading connection
    does: no other process can then commit, roll a hot journal back, or checkpoint and
    delete the WAL. An open-file-description lock (Linux): unlike a POSIX lock it is not
    dropped when SQLite closes its own descriptor of the same file. Reads nothing, writes
    nothing. Without OFD locks (other systems) no lock is taken: the stamps alone guard.
    """
    try:
        import fcntl

        setlk = fcntl.F_OFD_SETLK  # type: ignore[attr-defined]
    except (ImportError, AttributeError):
        yield
        return

    def lock(fd: int, kind: int, start: int, length: int) -> bool:
        # struct flock: l_type, l_whence, l_start, l_len, l_pid (0 for OFD locks)
        try:
            fcntl.fcntl(fd, setlk, struct.pack("@hhqqi4x", kind, os.SEEK_SET, start,
                                               length, 0))
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                return False
            raise
        return True

    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        deadline = time.monotonic() + timeout
        while True:
            # as SQLite: PENDING first (a writer waiting to commit has priority), then
            # SHARED, then PENDING released
            if lock(fd, fcntl.F_RDLCK, _PENDING_BYTE, 1):
                got = lock(fd, fcntl.F_RDLCK, _SHARED_FIRST, _SHARED_SIZE)
                lock(fd, fcntl.F_UNLCK, _PENDING_BYTE, 1)
                if got:
                    break
            if time.monotonic() >= deadline:
                raise SQLiteStateError(path, "database is locked by another process "
                                             f"(waited {timeout:g} s); not read")
            time.sleep(0.02)
        yield
    finally:
        os.close(fd)  # releases the OFD lock


def _copy_file(src: str, dst: str, budget: int) -> int:
    """Copy *src* to *dst* (created exclusively), at most *budget* bytes; the count."""
    done = 0
    fd = os.open(src, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SQLiteStateError(src, "not a regular file; not copied")
        out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            while chunk := os.read(fd, 1 << 20):
                done += len(chunk)
                if done > budget:
                    raise _Grew
                os.write(out, chunk)
        finally:
            os.close(out)
    finally:
        os.close(fd)
    return done


class _Grew(Exception):
    """A file grew past the copy budget while it was copied."""


def _super_journal(journal: str) -> bool:
    """True when the rollback journal names a super-journal (a multi-database
    transaction): recovering it would look for, and may delete, files beside the user's
    database."""
    try:
        with open(journal, "rb") as fh:
            fh.seek(-8, os.SEEK_END)
            return fh.read(8) == _JOURNAL_MAGIC
    except OSError:
        return False


def _recover(path: Path, reason: str, workdir: str, timeout: float,
             max_value_bytes: int | None) -> Committed:
    """Copy *path* and its journal/WAL into *workdir*, recover the copy there and turn
    it into a self-contained rollback-journal database; how it was done."""
    limit = MAX_COPY_BYTES
    sides = [s for s in ("-journal", "-wal") if _size(f"{path}{s}") > 0]
    total = _size(str(path)) + sum(_size(f"{path}{s}") for s in sides)
    if total > limit:
        raise SQLiteStateError(path, f"{reason}; recovering it needs a private copy of "
                                     f"{total} bytes, more than the limit of {limit} "
                                     "bytes (MAX_COPY_BYTES); not read")
    free = shutil.disk_usage(workdir).free
    if free < 2 * total + (16 << 20):  # the copy, and the WAL folded into it
        raise SQLiteStateError(path, f"{reason}; recovering it needs a private copy of "
                                     f"{total} bytes and the temporary folder {workdir} "
                                     f"has {free} bytes free; not read")
    copy = os.path.join(workdir, "db")
    for _attempt in range(COPY_ATTEMPTS):
        for name in os.listdir(workdir):
            os.unlink(os.path.join(workdir, name))
        with _shared_lock(path, timeout):
            before = _stamps(path)
            sides = [s for s in ("-journal", "-wal") if _size(f"{path}{s}") > 0]
            if "-journal" in sides and _super_journal(f"{path}-journal"):
                raise SQLiteStateError(
                    f"{path}-journal", "hot journal of a multi-database transaction (it "
                    "names a super-journal); not recovered, the database is not read")
            copied = 0
            try:
                copied += _copy_file(str(path), copy, limit)
                for side in sides:
                    copied += _copy_file(f"{path}{side}", copy + side, limit - copied)
            except _Grew:
                raise SQLiteStateError(path, f"{reason}; it grew past the copy limit of "
                                             f"{limit} bytes while copied; not read") from None
            except FileNotFoundError:
                continue  # a journal or WAL went away meanwhile: copy again
            stable = _stamps(path) == before
        if stable:
            break
    else:
        raise SQLiteStateError(path, f"{reason}; the files kept changing while they were "
                                     f"copied ({COPY_ATTEMPTS} attempts); not read")
    # Recover in the private folder: a read-write connection rolls a hot journal back,
    # or rebuilds the WAL index from the checksummed frames (uncommitted frames are
    # ignored); journal_mode=DELETE then folds the committed frames into the file.
    conn = sqlite3.connect(copy, timeout=timeout, isolation_level=None)
    try:
        if max_value_bytes is not None:
            conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max_value_bytes)
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        conn.execute("PRAGMA journal_mode=DELETE").fetchall()
    finally:
        conn.close()
    names = tuple(f"{path.name}{s}" for s in ("", *sides))
    return Committed(uri(Path(copy), "mode=ro"), "recovered_copy", copied, reason, names)


_LIVE = "a live writer kept changing the file during reads in place"


def _plan(path: Path) -> tuple[str, str]:
    """``(how, reason)``: how to read *path* in place, or ``('copy', reason)``."""
    if _size(f"{path}-wal") > 0:
        if os.path.isfile(f"{path}-shm") and _readable(f"{path}-shm") is None:
            return "readonly_shm", ""
        return "copy", "a WAL without a readable -shm"
    wal_like = _wal_header(path) or os.path.exists(f"{path}-wal")
    if _size(f"{path}-journal") > 0:
        if wal_like:  # mode=ro would open (create) -wal and -shm once past the journal
            return "copy", "a rollback journal beside a WAL database"
        return "mode=ro", ""  # a hot one refuses it: then copied
    if wal_like:
        if (os.path.isfile(f"{path}-wal") and os.path.isfile(f"{path}-shm")
                and _readable(f"{path}-shm") is None):
            # an empty WAL with its index: a live writer may append any moment (just
            # after a checkpoint), so read as a reader does, under its locks
            return "readonly_shm", ""
        # the file is the whole state; mode=ro would open (create) -wal and -shm
        return "immutable", ""
    return "mode=ro", ""  # a rollback-journal database: mode=ro creates nothing


def _as_given(exc: SQLiteStateError, real: Path, given: Path) -> SQLiteStateError:
    """*exc* naming the path as the caller gave it rather than its resolved form."""
    name = exc.path
    if name.startswith(str(real)):
        name = str(given) + name[len(str(real)):]
    return SQLiteStateError(name, exc.detail, exc.line)


_REASONS = {
    "SQLITE_READONLY_ROLLBACK": "a hot rollback journal (its writer died inside a "
                                "transaction)",
    "SQLITE_READONLY_RECOVERY": "a WAL whose -shm index must be rebuilt",
}
_PARAMS = {"mode=ro": "mode=ro", "readonly_shm": "mode=ro&readonly_shm=1",
           "immutable": "immutable=1"}


@contextlib.contextmanager
def open_committed(
    path: str | os.PathLike[str], *, timeout: float = 10.0,
    max_value_bytes: int | None = None, copy_if_live: bool = False,
) -> Iterator[tuple[sqlite3.Connection, Committed]]:
    """A read-only connection to *path*'s committed state, and how it was reached.

    Parameters
    ----------
    path : str or os.PathLike
        An SQLite database.
    timeout : float, default 10.0
        Seconds to wait for a writer's lock.
    max_value_bytes : int, optional
        ``SQLITE_LIMIT_LENGTH`` of the connection(s).
    copy_if_live : bool, default False
        Read a private copy instead of the file in place when the plan is
        ``immutable=1`` (what :func:`read_committed` asks for once such reads kept
        seeing a live writer change the files).

    Yields
    ------
    (sqlite3.Connection, Committed)
        The connection is closed, and a private copy removed, when the block ends.
        ``Committed.uri`` opens the same state for another engine within the block.

    Raises
    ------
    SQLiteStateError
        The database, or its journal or WAL, cannot be read (the message names the file
        and the OS error), is locked past *timeout*, or needs a private copy beyond
        :data:`MAX_COPY_BYTES`.
    sqlite3.Error
        SQLite refused the database (corrupt, busy, not a database).

    Notes
    -----
    With ``how == 'immutable'`` SQLite does not lock: a writer may change the file during
    the read. :func:`read_committed` repeats such a read when the files changed.
    """
    given = Path(path)
    # SQLite resolves symbolic links and keeps the journal and WAL beside the target:
    # look there too (messages name the path as given)
    path = Path(os.path.realpath(given))
    try:
        _check_readable(path)
        how, reason = _plan(path)
        if copy_if_live and how == "immutable":
            how, reason = "copy", _LIVE
    except SQLiteStateError as exc:
        raise _as_given(exc, path, given) from None
    conn: sqlite3.Connection | None = None
    workdir: str | None = None
    stack = contextlib.ExitStack()
    try:
        if how in ("readonly_shm", "copy"):
            # planned before the lock: a writer may be closing (it deletes -shm, then
            # -wal; SQLite would then create a -wal beside the database, or a copy would
            # be made for nothing). Under the SHARED lock no writer can delete them:
            # plan again, keep the lock only for a WAL read (a rollback-journal read
            # must not hold it: a committing writer waits for it holding PENDING, which
            # blocks SQLite's own SHARED lock).
            held = contextlib.ExitStack()
            held.enter_context(_shared_lock(path, timeout))
            how, reason = _plan(path)
            if copy_if_live and how == "immutable":
                how, reason = "copy", _LIVE
            if how == "readonly_shm":
                stack.enter_context(held)
            else:
                held.close()
        if how != "copy":
            try:
                target = uri(path, _PARAMS[how])
                conn = _connect(target, timeout, max_value_bytes)
                done = Committed(target, how)
            except sqlite3.Error as exc:
                if not _needs_copy(exc):
                    raise
                name = getattr(exc, "sqlite_errorname", "")
                how, reason = "copy", _REASONS.get(name, f"read-only access refused ({name})")
            finally:
                stack.close()  # SQLite holds its own SHARED lock from here on
        if how == "copy":
            workdir = tempfile.mkdtemp(prefix="syncstats-sqlite-")  # mode 0700
            done = _recover(path, reason, workdir, timeout, max_value_bytes)
            conn = _connect(done.uri, timeout, max_value_bytes)
        assert conn is not None
    except BaseException as exc:  # nothing opened or copied may outlive a failed open
        stack.close()
        if conn is not None:
            conn.close()
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
        if isinstance(exc, SQLiteStateError):
            raise _as_given(exc, path, given) from None
        raise
    try:
        yield conn, done
    finally:
        stack.close()
        if conn is not None:
            conn.close()
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


def read_committed(
    path: str | os.PathLike[str], query: Callable[[sqlite3.Connection, Committed], _T], *,
    timeout: float = 10.0, max_value_bytes: int | None = None, attempts: int = 3,
) -> tuple[_T, Committed]:
    """Run *query* on :func:`open_committed`'s connection: ``(result, how)``.

    A read with ``immutable=1`` (a WAL-header database with no ``-wal`` content) is kept
    only when the database, ``-journal`` and ``-wal`` are unchanged from before to after
    it (a writer that opened it meanwhile would checkpoint into it); else it is repeated
    (planned afresh: a writer's -wal is then seen), up to *attempts* times, and then read
    once more from a private copy (``recovered_copy``).

    Parameters
    ----------
    path : str or os.PathLike
        An SQLite database.
    query : callable
        ``query(connection, committed)``; may open ``committed.uri`` with another engine.
    timeout, max_value_bytes
        As for :func:`open_committed`.
    attempts : int, default 3
        Reads tried while an immutable read keeps seeing the files change.

    Returns
    -------
    (result, Committed)
    """
    path = Path(path)
    real = Path(os.path.realpath(path))
    for attempt in range(attempts + 1):
        before = _stamps(real)
        # the last try reads a private copy made under a reader's lock, which a closing
        # writer cannot checkpoint away under us
        live = attempt == attempts
        with open_committed(path, timeout=timeout, max_value_bytes=max_value_bytes,
                            copy_if_live=live) as (conn, how):
            try:
                result = query(conn, how)
                error = None
            except sqlite3.Error as exc:
                error = exc
        if how.how != "immutable" or _stamps(real) == before:
            if error is not None:
                raise error
            return result, how
    raise SQLiteStateError(path, f"changed during each of {attempts} reads and a copy (a "
                                 "writer checkpointing into it); not read")
