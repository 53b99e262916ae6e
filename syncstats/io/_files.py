"""Files under the readers: path expansion, the tree walk, whole-file reads, numbered lines."""

from __future__ import annotations

import errno
import fnmatch
import glob as _glob
import gzip
import os
import stat
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..exceptions import InputError


def expand_paths(
    path: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    patterns: tuple[str, ...],
    what: str,
    problems: list[tuple[str, str, str]] | None = None,
) -> list[Path]:
    """Resolve a file, a directory (searched recursively for *patterns*), a glob, or a list.

    With *problems*, what a directory search could not read is appended to it (see
    :func:`scan_tree`).

    Raises
    ------
    InputError
        When the path does not exist or matches nothing.
    """
    if not isinstance(path, str | os.PathLike):
        out: list[Path] = []
        for p in path:
            out.extend(expand_paths(p, patterns=patterns, what=what, problems=problems))
        return out
    text = os.fspath(path)
    p = Path(text)
    if p.is_dir():
        names = scan_tree(p, patterns, problems)
        if names is not None:
            return [Path(n) for n in names]
        found = sorted(
            {f for pat in patterns for f in p.rglob(pat) if f.is_file()}, key=lambda f: str(f)
        )
        return found
    if p.is_file():
        return [p]
    if _glob.has_magic(text):
        matches = sorted(Path(m) for m in _glob.glob(text, recursive=True))
        files = [m for m in matches if m.is_file()]
        if not files:
            raise InputError(text, f"the pattern matches no {what} file")
        return files
    raise InputError(text, f"no such file or directory (expected a {what} file or directory)")


#: errno values pathlib treats as "no such file" (``Path.is_file`` is then False)
_IGNORED_ERRNOS = (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP)


def special_kind(mode: int) -> str | None:
    """What a non-regular, non-directory file is, for an issue (such files are never
    opened: a FIFO would block a reader forever); None for a file or a folder."""
    for test, what in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return what
    return None if stat.S_ISREG(mode) or stat.S_ISDIR(mode) else "not a regular file"


def examine(path: str | os.PathLike[str], *, follow: bool = False
            ) -> tuple[str | None, str | None, str | None]:
    """``(what, kind, detail)`` of a directory entry, without opening it: *what* is
    ``'dir'`` (a folder to enter), ``'file'`` (a regular file or a link to one) or None;
    *kind*/*detail* say why an entry is not read (an issue's), both None for a file, a
    folder, or an entry gone since it was listed (a writer's journal). Links to folders
    are entered only with *follow*."""
    try:
        is_link = os.path.islink(path)
        mode = os.stat(path).st_mode
    except OSError as exc:
        if exc.errno == errno.ENOENT and not os.path.lexists(path):
            return None, None, None
        if exc.errno in (errno.ENOENT, errno.ELOOP):
            return None, "unreadable", "broken link: its target does not exist"
        return None, "unreadable", f"cannot be examined: {exc.strerror or exc}"
    if stat.S_ISDIR(mode):
        if is_link and not follow:  # a link to / must not walk the machine
            return None, "ignored", "link to a folder, not followed: pass its target"
        return "dir", None, None
    what = special_kind(mode)
    if what is not None:
        return None, "unreadable", f"{'a link to ' if is_link else ''}{what}: not opened"
    return "file", None, None


def scan_tree(
    root: Path,
    patterns: tuple[str, ...],
    problems: list[tuple[str, str, str]] | None = None,
) -> list[str] | None:
    """The files under directory *root* whose names match one of *patterns*, as sorted
    path strings: what ``sorted({f for pat in patterns for f in root.rglob(pat) if
    f.is_file()}, key=str)`` gives (as Python 3.11's pathlib walks: symlinked directories
    not entered), in one ``os.scandir`` walk and without a ``stat`` per file (``*suffix``
    patterns by a string test, others by :func:`fnmatch.fnmatchcase`). None off POSIX
    (pathlib matches case-insensitively there).

    Nothing is skipped silently: with *problems*, every folder that cannot be listed and
    every matching name that is not a regular file (a FIFO, socket or device, a link to
    one, a broken link, a link to a folder) is appended as ``(path, kind, detail)``.
    """
    if os.name != "posix":
        return None
    simple = [p for p in patterns if p.startswith("*") and not _glob.has_magic(p[1:])]
    suffixes = tuple(p[1:] for p in simple)
    others = [p for p in patterns if p not in simple]  # e.g. "*.log.[0-9]*": fnmatch
    found: list[str] = []
    pending = [str(root)]
    while pending:
        parent = pending.pop()
        try:
            with os.scandir(parent) as it:
                entries = list(it)
        except OSError as exc:
            if problems is not None and not (exc.errno == errno.ENOENT and parent != str(root)):
                problems.append((parent, "unreadable",
                                 f"folder cannot be listed: {exc.strerror or exc}"))
            continue
        # a child's path as pathlib spells it ("." is dropped, "/" gets no extra slash)
        prefix = "" if parent == "." else parent if parent.endswith("/") else parent + "/"
        for entry in entries:
            name = entry.name
            matches = name.endswith(suffixes) or any(
                fnmatch.fnmatchcase(name, p) for p in others)
            if matches:
                try:
                    is_file = entry.is_file()
                except OSError as exc:
                    if exc.errno not in _IGNORED_ERRNOS:
                        raise
                    is_file = False
                if is_file:  # a file (or a link to one) is not a directory to enter
                    found.append(prefix + name)
                    continue
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError as exc:
                if exc.errno not in _IGNORED_ERRNOS:
                    raise
                is_dir = False
            if is_dir:
                pending.append(prefix + name)
            elif matches and problems is not None:
                _, kind, detail = examine(prefix + name)
                if kind is not None:
                    problems.append((prefix + name, kind, detail))
    found.sort()
    return found


def read_bytes(path: Path) -> bytes:
    """Whole file, transparently gunzipped for ``*.gz``.

    Raises
    ------
    OSError
        Also for a truncated or corrupt gzip stream (``EOFError``, ``zlib.error``).
    """
    if path.suffix == ".gz":
        try:
            with gzip.open(path, "rb") as fh:
                return fh.read()
        except (EOFError, zlib.error) as exc:
            raise OSError(f"corrupt or truncated gzip data: {exc}") from None
    return path.read_bytes()


def iter_lines(data: bytes, *, start: int = 1, bom: bool = True) -> Iterator[tuple[int, bytes]]:
    """Numbered non-blank lines of *data*, without BOM or CR.

    *start* is the number of *data*'s first line (a chunk of a file); a BOM is stripped
    only with *bom* (at the start of a file).
    """
    if bom and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for lineno, raw in enumerate(data.split(b"\n"), start):
        raw = raw.rstrip(b"\r")
        if raw.strip():
            yield lineno, raw
