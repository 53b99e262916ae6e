"""``load``: discover and read everything a fleet of workers, or one worker, left on disk.

Layouts recognised (see :func:`discover`): a fleet root (one folder per worker), one
worker's own folder, the worker's plugin data folder, and a single file.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path

from .._checks import check_choice
from .._dispatch import check_backend, to_dask
from .._fsutil import describe_os_error
from ..exceptions import InputError
from ._files import examine, special_kind
from ._issues import Issues
from .dlq import has_dead_letters, read_dlq_files
from .dlq.reader import ENGINES as DLQ_ENGINES
from .log import ENGINES as LOG_ENGINES
from .log import LOG_PATTERNS, check_tz, read_log_files
from .snapshots import SNAPSHOT_PATTERNS, read_snapshot_files
from .snapshots.reader import ENGINES as SNAPSHOT_ENGINES
from .store import is_store, read_parquet
from .syncdata import SyncData, concat

__all__ = ["load", "discover", "Discovery", "source_name"]

#: Files that belong to another file (SQLite sidecars): read as part of their database.
_SIDECARS = ("*-wal", "*-shm", "*-journal")
#: Files the worker leaves that hold no data: lock files, temporaries of interrupted writes.
_LEFTOVERS = ("*.lock", "*.tmp")
#: State files of the worker's plugin data folder that syncstats does not read (yet):
#: ``ignored`` caveats, never mistaken for snapshot files.
_WORKER_STATE = (
    "circuit_breaker.json", "outage_history.json", "sync_timestamps.json",
    "recovery_state.json", "reconciliation_state.json",
)
#: Names that make a folder one worker's own: its stats file, snapshot copies and
#: histories, logs, DLQ, and the plugin data folder's own files and sub-folders.
_WORKER_FILES = (
    "stats.json", "stats-*.json", "stats-*.json.gz", "*.jsonl", "*.jsonl.gz", "*.ndjson",
    "*.ndjson.gz", "dlq.db", "worker.lock", *LOG_PATTERNS, *_WORKER_STATE,
)
_WORKER_DIRS = ("snapshots", "logs", "queue", "cache")
#: What only the worker's plugin data folder holds (as opposed to a folder of copies).
_PLUGIN_MARKERS = ("queue", "cache", "worker.lock", *_WORKER_STATE)


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(name, p) for p in patterns)


@dataclass
class Discovery:
    """What :func:`~syncstats.discover` found: the layout and, per source, its files by kind.

    ``problems`` lists ``(source, path, kind, detail)`` for entries that cannot be read
    (unlistable folders, FIFOs, sockets, devices, broken links) or are not followed
    (links to folders); :func:`~syncstats.load` turns them into ``issues`` rows.
    """

    layout: str
    sources: dict[str, dict[str, list[Path]]] = field(default_factory=dict)
    problems: list[tuple[str, Path, str, str]] = field(default_factory=list)

    def kinds(self, source: str) -> dict[str, list[Path]]:
        return self.sources.setdefault(
            source, {"snapshots": [], "logs": [], "dlq": [], "ignored": [], "other": []}
        )


def _examine(path: Path, source: str, found: Discovery, *, follow: bool = False) -> str | None:
    """``'dir'``, ``'file'`` (a readable regular file, or a link to one) or None when
    *path* is not to be read; then why is in ``found.problems``. Links to folders are
    followed only with *follow* (a fleet root's own entries, named by the user)."""
    what, kind, detail = examine(path, follow=follow)
    if kind is not None:
        found.problems.append((source, path, kind, detail))
    elif what == "file" and not os.access(path, os.R_OK):
        denied = PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        found.problems.append((source, path, "unreadable",
                               f"cannot be opened for reading: {describe_os_error(denied)}"))
        return None
    return what


def _walk(folder: Path, source: str, found: Discovery) -> list[Path]:
    """Every readable regular file below *folder*, sorted; the rest goes to problems.

    Unlike ``Path.rglob``, an unreadable folder is not skipped silently, and special
    files (FIFOs, sockets, devices) are reported instead of vanishing.
    """
    files: list[Path] = []
    pending = [folder]
    while pending:
        parent = pending.pop()
        try:
            names = sorted(os.listdir(parent))
        except OSError as exc:
            found.problems.append((source, parent, "unreadable",
                                   f"folder cannot be listed: {exc.strerror or exc}"))
            continue
        for name in names:
            path = parent / name
            what = _examine(path, source, found)
            if what == "dir":
                pending.append(path)
            elif what == "file":
                files.append(path)
    return sorted(files, key=str)


def _classify(files: list[Path], kinds: dict[str, list[Path]]) -> None:
    for f in files:
        name = f.name
        if _matches(name, _SIDECARS):
            if f.with_name(name.rsplit("-", 1)[0]).exists():  # read (or reported) with its DB
                continue
            kinds["ignored"].append(f)
        elif _matches(name, _LEFTOVERS) or name in _WORKER_STATE:
            kinds["ignored"].append(f)
        elif _matches(name, SNAPSHOT_PATTERNS):
            kinds["snapshots"].append(f)
        elif _matches(name, LOG_PATTERNS):
            kinds["logs"].append(f)
        elif has_dead_letters(f):
            kinds["dlq"].append(f)
        else:
            kinds["other"].append(f)


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError:
        return []


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _worker_kind(folder: Path, depth: int = 0) -> str | None:
    """``'plugin'`` or ``'worker'`` when *folder* directly holds a worker's files, or
    a ``snapshots/``/``logs/`` folder of them; None otherwise. A folder holding two or
    more worker folders besides is a fleet root (the files beside them form one more
    source), whatever it holds itself."""
    entries = _entries(folder)
    names = {e.name for e in entries}
    kind = None
    if names & set(_PLUGIN_MARKERS) and ("stats.json" in names or "dlq.db" in names):
        kind = "plugin"
    elif any(not _is_dir(e) and _matches(e.name, _WORKER_FILES) for e in entries):
        kind = "worker"
    elif depth == 0 and any(_is_dir(e) and e.name in ("snapshots", "logs")
                            and _worker_kind(Path(e.path), 1) for e in entries):
        kind = "worker"
    if kind is None or depth > 0:
        return kind
    workers = [e for e in entries if _is_dir(e) and e.name not in _WORKER_DIRS
               and _worker_kind(Path(e.path), 1)]
    return None if len(workers) >= 2 else kind


#: Folder names that say what a folder holds, not whose it is: a source in such a folder
#: is named after the folder above (``worker-a/snapshots`` is worker-a's; the plugin's
#: ``.../plugins/Stash2Plex/data`` is Stash2Plex's).
_GENERIC_NAMES = ("data", *_WORKER_DIRS)


def source_name(folder: Path) -> str:
    """The source a worker's folder (or a file in it) is named after: the folder's name,
    or its parent's when the folder's name is generic (``data``, ``snapshots``, ``logs``,
    ``queue``, ``cache``).

    Examples
    --------
    >>> from pathlib import Path
    >>> source_name(Path("/srv/worker-a")), source_name(Path("/srv/worker-a/snapshots"))
    ('worker-a', 'worker-a')
    >>> source_name(Path("/srv/stash/plugins/Stash2Plex/data"))
    'Stash2Plex'
    """
    folder = folder.resolve()
    if folder.name in _GENERIC_NAMES and folder.parent.name:
        return folder.parent.name
    return folder.name or "default"


def discover(root: str | os.PathLike[str]) -> Discovery:
    """Recognise the layout of *root* and group its files by source and kind.

    Layouts, tried in this order:

    - a single **file** of any kind read (stats file or copy, JSON Lines history, log,
      DLQ database or export): one source, named after its folder;
    - the worker's **plugin data folder** (``stats.json`` or ``dlq.db`` next to
      ``queue/``, ``circuit_breaker.json``, ``outage_history.json``, ...): one source; the
      files syncstats does not read are ``ignored`` caveats;
    - **one worker's folder**: it directly holds a stats file, ``stats-*.json`` copies, a
      ``.jsonl`` history, logs or ``dlq.db``, or a ``snapshots/`` or ``logs/`` folder of
      them: everything below it is **one** source named after it;
    - a **fleet root**: one folder per worker, each a source named after it. A folder
      with two or more worker folders in it is a fleet root even when it holds worker
      files itself: those form one more source, named after the root.

    A folder below a worker's folder is never a source of its own. A source is named by
    :func:`~syncstats.io.discover.source_name`: after its folder, or the folder above
    when the name only says what the folder holds (``data``, ``snapshots``, ``logs``).
    Kinds: ``snapshots``
    (``*.json``, ``*.jsonl``, ``*.ndjson``, optionally gzipped), ``logs`` (``*.log``,
    ``*.log.N``, ``*.log.gz``), ``dlq`` (SQLite files holding a ``dead_letters`` table),
    ``ignored`` (lock files, temporaries, the worker's state files, stray SQLite sidecars)
    and ``other``. SQLite ``-wal``/``-shm``/``-journal`` files beside their database are
    read with it.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp()); (root / "w1").mkdir()
    >>> _ = (root / "w1" / "stash.log").write_text("")
    >>> found = discover(root)
    >>> found.layout, {s: {k: len(v) for k, v in kinds.items() if v}
    ...                for s, kinds in found.sources.items()}
    ('fleet', {'w1': {'logs': 1}})
    >>> discover(root / "w1").layout
    'worker'
    """
    base = Path(root)
    try:
        mode = base.stat().st_mode
    except FileNotFoundError:
        raise InputError(base, "no such file or directory (expected a data directory, a "
                               "worker's folder or a file)") from None
    except OSError as exc:
        raise InputError(base, f"cannot be examined: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(mode):
        special = special_kind(mode)
        if special is not None:
            raise InputError(base, f"{special}, not a file or directory: not opened")
        found = Discovery("file")
        src = source_name(base.parent)
        _classify([base], found.kinds(src))
        return found
    layout = _worker_kind(base)
    if layout is not None:
        found = Discovery(layout)
        src = source_name(base)
        _classify(_walk(base, src, found), found.kinds(src))
        return found
    found = Discovery("fleet")
    root_name = base.resolve().name or "default"
    try:
        entries = sorted(os.scandir(base), key=lambda e: e.name)
    except OSError as exc:
        raise InputError(base, f"folder cannot be listed: {exc.strerror or exc}") from None
    top_files: list[Path] = []
    for entry in entries:
        path = Path(entry.path)
        what = _examine(path, entry.name, found, follow=True)
        if what == "dir":
            _classify(_walk(path, entry.name, found), found.kinds(entry.name))
        elif what == "file":
            top_files.append(path)
    if top_files:
        _classify(top_files, found.kinds(root_name))
    return found


def load(
    root: str | os.PathLike[str],
    *,
    tz: str = "UTC",
    on_error: str = "report",
    backend: str = "pandas",
    engine: str = "auto",
) -> SyncData:
    """Discover and read every snapshot, history, log and DLQ under *root*.

    Parameters
    ----------
    root : str or os.PathLike
        A fleet root (one folder per worker), one worker's own folder, the worker's
        plugin data folder, a single file, or a Parquet store: see :func:`discover` for
        how each is recognised and how sources are named. ``SyncData.layout`` says which
        layout was recognised.
    tz : str, default 'UTC'
        Time zone of zone-less log timestamps (see :func:`read_log`).
    on_error : {'report', 'raise'}
        As for :func:`read_snapshots`.
    backend : {'pandas', 'dask'}
        ``'dask'``: ``snapshots`` and ``errors`` as dask DataFrames partitioned by source
        (:mod:`syncstats.fleet`), which every analysis function accepts. A Parquet store
        (``syncstats export --parquet``) as *root* is read lazily then; a data directory
        is read into memory and split by source.
    engine : str, default 'auto'
        The readers' engine: ``'auto'`` (each reader's fast engine where it applies, the
        reference elsewhere), ``'reference'``, or a reader's named engine; see
        :func:`read_snapshots`, :func:`read_log` and :func:`read_dlq`. A reader's named
        engine applies to that reader only; the other readers take ``'auto'`` (e.g.
        ``'arrow'``: Arrow for snapshots and histories, ``'auto'`` for logs and DLQs).
        An ``engine_fallback`` caveat in ``issues`` names each file a fast engine left
        to the reference.

    Returns
    -------
    SyncData
        All four frames. When *root* is a Parquet store, its frames
        (:func:`~syncstats.read_parquet`). Per source, ``snapshots`` come from snapshot files and
        histories when any of them holds a snapshot, else from the ``Stats:`` lines of
        its logs; the ``origin`` column says which file (and line) each row comes from.
        Log files not needed are reported as ``not_used`` issues, files of no known kind
        and files syncstats does not read as ``ignored``, folders that cannot be listed
        and files that cannot be opened (FIFOs, sockets, devices, broken links, permission
        denied) as ``unreadable``.

    Raises
    ------
    InputError
        When *root* does not exist or cannot be listed.

    Examples
    --------
    >>> data = load("data")  # doctest: +SKIP
    >>> data.layout  # doctest: +SKIP
    'fleet'
    >>> data.snapshots.groupby("source", observed=True).size()  # doctest: +SKIP
    """
    check_tz(tz)
    check_backend(backend)
    check_choice(engine, "engine", _LOAD_ENGINES)  # one line naming every reader's engines
    if is_store(root):
        return read_parquet(root, backend=backend)
    data = _load_files(root, tz, on_error, engine)
    if backend == "dask":
        frames = to_dask({"snapshots": data.snapshots, "errors": data.errors})
        return replace(data, **frames)
    return data


#: load's engines: "auto", "reference" and each reader's named engine (snapshots' "arrow",
#: the log's "templates", the DLQ's "adbc").
_LOAD_ENGINES = tuple(dict.fromkeys((*SNAPSHOT_ENGINES, *LOG_ENGINES, *DLQ_ENGINES)))


def _load_files(
    root: str | os.PathLike[str], tz: str, on_error: str, engine: str = "auto"
) -> SyncData:
    # a reader's named engine applies to that reader; the others take their default
    snapshot_engine = engine if engine in SNAPSHOT_ENGINES else "auto"
    log_engine = engine if engine in LOG_ENGINES else "auto"
    dlq_engine = engine if engine in DLQ_ENGINES else "auto"
    found = discover(root)
    parts: list[SyncData] = []
    problems: dict[str, list[tuple[str, Path, str, str]]] = {}
    for p in found.problems:
        problems.setdefault(p[0], []).append(p)
    for source in sorted(set(found.sources) | set(problems)):
        kinds = found.kinds(source)
        issues = Issues(on_error)
        for _, path, kind, detail in problems.get(source, []):
            issues.add(source, path, None, kind, detail)
        snapshots, errors = read_snapshot_files(
            kinds["snapshots"], issues, source=source, fallback=source, discovering=True,
            engine=snapshot_engine,
        )
        if len(snapshots) == 0 and kinds["logs"]:
            snapshots, errors = read_log_files(kinds["logs"], issues, tz=tz, source=source,
                                               engine=log_engine)
        else:
            for f in kinds["logs"]:
                issues.add(source, f, None, "not_used",
                           "log not read: this source's snapshots come from snapshot files")
        dlq = read_dlq_files(kinds["dlq"], issues, source=source, engine=dlq_engine)
        for f in kinds["ignored"]:
            issues.add(source, f, None, "ignored", _ignored_reason(f.name))
        for f in kinds["other"]:
            issues.add(source, f, None, "ignored", "not a snapshot, history, log or DLQ database")
        parts.append(SyncData(snapshots=snapshots, errors=errors, dlq=dlq, issues=issues.frame()))
    return replace(concat(parts), layout=found.layout)


def _ignored_reason(name: str) -> str:
    if name in _WORKER_STATE:
        return "a worker state file syncstats does not read"
    if name.endswith(".lock"):
        return "a lock file: holds no data"
    if name.endswith(".tmp"):
        return "a temporary file left by an interrupted write: not the current data"
    return "an SQLite sidecar without its database"
