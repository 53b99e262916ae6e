"""A restricted unpickler for DLQ ``job_data`` blobs: data only, never code.

``pickle.loads`` on a file's contents runs whatever the pickle names (``os.system``,
any importable callable). Job dicts hold only builtin containers and scalars, which the
pickle protocol builds with opcodes that need no class lookup, so this unpickler refuses
*every* global lookup except a few builtin container types (older protocols spell
``set``/``frozenset``/``bytearray`` as globals).
"""

from __future__ import annotations

import io
import pickle
from typing import Any

from ..exceptions import UnsafePickleError

__all__ = ["safe_loads", "MAX_BLOB_BYTES"]

#: Largest blob decoded; a job dict is a few hundred bytes.
MAX_BLOB_BYTES = 1 << 20

_ALLOWED_GLOBALS = frozenset(
    {
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "bytearray"),
        ("__builtin__", "set"),
        ("__builtin__", "frozenset"),
        ("__builtin__", "bytearray"),
    }
)


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:  # noqa: D401
        if (module, name) in _ALLOWED_GLOBALS:
            return {"set": set, "frozenset": frozenset, "bytearray": bytearray}[name]
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
    if len(blob) > MAX_BLOB_BYTES:
        raise UnsafePickleError(f"job_data is {len(blob):,} bytes, over the {MAX_BLOB_BYTES:,} limit")
    try:
        return _RestrictedUnpickler(io.BytesIO(bytes(blob))).load()
    except UnsafePickleError:
        raise
    except RecursionError:
        raise UnsafePickleError("job_data is nested too deeply") from None
    except Exception as exc:  # any decoding failure of untrusted bytes
        raise UnsafePickleError(f"job_data is not a valid pickle ({type(exc).__name__}: {exc})") from None
