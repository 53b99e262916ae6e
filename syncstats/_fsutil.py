"""Writing syncstats' own outputs safely: temporary file, fsync, ``os.replace``."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "replacement_mode", "check_writable", "describe_os_error"]


def _umask() -> int:
    try:  # Linux: read it without changing it (os.umask(0) would affect other threads)
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def replacement_mode(path: Path) -> int:
    """Mode for a file replacing *path*: the existing file's, else ``0666 & ~umask``
    (``mkstemp`` alone would leave 0600)."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        return 0o666 & ~_umask()


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace *path* with *data* atomically: readers see the old or the new file, whole.

    The bytes go to a temporary file in the same directory, are fsynced and renamed over
    *path*; the directory is fsynced so the rename survives a crash. On any failure the
    temporary file is removed and *path* is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, replacement_mode(path))
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def check_writable(path: str | os.PathLike[str]) -> Path:
    """Refuse early an output *path* that cannot be written: a folder in the way, or a
    nearest existing parent folder that is not writable. Creates nothing.

    Raises
    ------
    OutputError
        Naming the path and what is wrong.
    """
    from .exceptions import OutputError

    target = Path(path)
    if target.is_dir():
        raise OutputError(target, "is a folder; expected a file name to write")
    parent = target.parent
    while not parent.exists():
        if parent == parent.parent:
            break
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(parent, f"is not a folder, so {target} cannot be written")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(parent, f"folder is not writable, so {target} cannot be written")
    try:  # permission bits do not bind root, nor tell a read-only mount or /proc: try it
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".probe", dir=parent)
    except OSError as exc:
        raise OutputError(parent, f"cannot write there ({exc.strerror or exc}), so {target} "
                                  "cannot be written") from None
    os.close(fd)
    os.unlink(probe)
    return target


def describe_os_error(exc: OSError) -> str:
    """``'Permission denied (EACCES)'``: the OS error's text and symbolic name."""
    name = errno.errorcode.get(exc.errno or 0, "")
    return f"{exc.strerror or exc}" + (f" ({name})" if name else "")
