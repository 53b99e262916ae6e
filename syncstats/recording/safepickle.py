"""A restricted unpickler for DLQ ``job_data`` blobs: data only, never code.

``pickle.loads`` on a file's contents runs whatever the pickle names (``os.system``,
any importable callable). Job dicts hold only builtin containers and scalars, which the
pickle protocol builds with opcodes that need no class lookup, so this unpickler refuses
*every* global lookup except a few builtin container types (older protocols spell
``set``/``frozenset``/``bytearray`` as globals, and ``bytes`` as ``bytes()`` or
``_codecs.encode(text, "latin1")``; those are admitted only with exactly such arguments).
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Iterator
from typing import Any

from ..exceptions import UnsafePickleError

__all__ = ["safe_loads", "MAX_BLOB_BYTES", "MAX_DEPTH"]

#: Largest blob decoded; a job dict is a few hundred bytes.
MAX_BLOB_BYTES = 1 << 20
#: Deepest container nesting decoded; a job dict is 2-3 levels deep.
MAX_DEPTH = 100


def _binary_args(kind: type, args: tuple[Any, ...]) -> bytes:
    """``bytes``/``bytearray`` arguments as protocols 0-4 write them, or refuse.

    Admits ``()``, ``(bytes,)`` and ``(str, "latin-1")`` only: never an int size, which
    would let a few bytes of pickle allocate gigabytes.
    """
    if not args:
        return b""
    if len(args) == 1 and isinstance(args[0], bytes | bytearray):
        return bytes(args[0])
    if (
        len(args) == 2
        and isinstance(args[0], str)
        and isinstance(args[1], str)
        and args[1].lower().replace("_", "-") in ("latin-1", "latin1")
    ):
        return args[0].encode("latin-1")
    raise UnsafePickleError(
        f"refused {kind.__name__}() with arguments of types {[type(a).__name__ for a in args]}"
    )


def _safe_bytes(*args: Any) -> bytes:
    return _binary_args(bytes, args)


def _safe_bytearray(*args: Any) -> bytearray:
    return bytearray(_binary_args(bytearray, args))


def _safe_codecs_encode(*args: Any) -> bytes:
    # Protocols 0-2 write non-empty bytes as _codecs.encode(text, "latin1").
    return _binary_args(bytes, args)


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "bytearray"): _safe_bytearray,
    ("builtins", "bytes"): _safe_bytes,
    ("__builtin__", "set"): set,
    ("__builtin__", "frozenset"): frozenset,
    ("__builtin__", "bytearray"): _safe_bytearray,
    ("__builtin__", "bytes"): _safe_bytes,
    ("_codecs", "encode"): _safe_codecs_encode,
}


def _check_depth(obj: Any, limit: int) -> None:
    """Raise RecursionError if containers nest deeper than *limit* (or form a cycle).

    The unpickler builds any depth iteratively; the limit protects whoever later walks
    the result (``repr``, ``json.dumps``, pandas). The walk is an explicit-stack
    post-order that visits each shared sub-object once, so it is linear in the blob.
    """
    containers = (dict, list, tuple, set, frozenset)

    def children(item: Any) -> Iterator[Any]:
        items = (*item.keys(), *item.values()) if isinstance(item, dict) else item
        return (c for c in items if isinstance(c, containers))

    if not isinstance(obj, containers):
        return
    height: dict[int, int] = {}  # id -> levels of containers below and including it
    on_path: set[int] = set()
    stack: list[tuple[Any, Iterator[Any], int]] = [(obj, children(obj), 1)]
    on_path.add(id(obj))
    while stack:
        item, it, best = stack[-1]
        child = next(it, None)
        if child is None:
            stack.pop()
            on_path.discard(id(item))
            height[id(item)] = best
            if stack:
                parent, pit, pbest = stack[-1]
                stack[-1] = (parent, pit, max(pbest, best + 1))
            continue
        if id(child) in on_path or len(stack) >= limit:
            raise RecursionError  # a cycle is infinitely deep
        if id(child) in height:
            stack[-1] = (item, it, max(best, height[id(child)] + 1))
            if height[id(child)] + 1 > limit:
                raise RecursionError
            continue
        on_path.add(id(child))
        stack.append((child, children(child), 1))


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:  # noqa: D401
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[(module, name)]
        raise UnsafePickleError(
            f"refused to load global {module}.{name}: only builtin containers and scalars "
            "are decoded"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("refused a persistent id: only builtin data is decoded")


def safe_loads(blob: bytes | bytearray | memoryview | None) -> Any:
    """Decode a pickle that may only contain builtin containers and scalars.

    Parameters
    ----------
    blob : bytes
        The pickle.

    Returns
    -------
    object
        dicts, lists, tuples, sets, str, bytes, int, float, bool and None only.

    Raises
    ------
    UnsafePickleError
        For any blob that names a class or function, is truncated, too large, too
        deeply nested, or is not a pickle at all. Nothing in the blob is executed.

    Examples
    --------
    >>> import pickle
    >>> safe_loads(pickle.dumps({"job_id": 1, "data": {"title": "x"}}))
    {'job_id': 1, 'data': {'title': 'x'}}
    >>> safe_loads(pickle.dumps(print))
    Traceback (most recent call last):
    ...
    syncstats.exceptions.UnsafePickleError: refused to load global builtins.print: ...
    """
    if blob is None:
        raise UnsafePickleError("job_data is NULL")
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise UnsafePickleError(f"job_data is {type(blob).__name__}, expected a BLOB")
    size = memoryview(blob).nbytes
    if size > MAX_BLOB_BYTES:
        raise UnsafePickleError(f"job_data is {size:,} bytes, over the {MAX_BLOB_BYTES:,} limit")
    try:
        result = _RestrictedUnpickler(io.BytesIO(bytes(blob))).load()
        _check_depth(result, MAX_DEPTH)
        return result
    except UnsafePickleError:
        raise
    except RecursionError:
        raise UnsafePickleError("job_data is nested too deeply") from None
    except Exception as exc:  # any decoding failure of untrusted bytes
        raise UnsafePickleError(
            f"job_data is not a valid pickle ({type(exc).__name__}: {exc})"
        ) from None
