"""A restricted unpickler for DLQ ``job_data`` blobs: data only, never code, bounded work.

``pickle.loads`` on a file's contents runs whatever the pickle names (``os.system``,
any importable callable). Job dicts hold only builtin containers and scalars, which the
pickle protocol builds with opcodes that need no class lookup, so this unpickler refuses
*every* global lookup except a few builtin container types (older protocols spell
``set``/``frozenset``/``bytearray`` as globals, and ``bytes`` as ``bytes()`` or
``_codecs.encode(text, "latin1")``; those are admitted only with exactly such arguments),
and every opcode that builds or modifies an object (``BUILD``, ``INST``, ``OBJ``,
``NEWOBJ``, extension codes).

It also bounds the work a blob can cause, within :data:`MAX_BLOB_BYTES`. It runs on the
pure-Python unpickler (``pickle._Unpickler``, ~10x slower than the C one, still linear
in the blob: about 0.1 s per 1 MiB) because only there can an opcode be checked *before*
it acts:

- integers: at most :data:`MAX_INT_BITS` bits (the text opcodes are checked before they
  are parsed: ``int()`` of 5,000 digits raises ``ValueError`` and its ``repr`` too);
- dict keys and set elements: ``str``, ``bytes``, ``float``, ``bool``, ``None`` or an
  ``int`` of at most 64 bits. Hashes of those are either randomised (``str``, ``bytes``)
  or collide in at most a few dozen values; a tuple, frozenset or big-integer key can be
  crafted so that tens of thousands of keys share one hash, and inserting them into one
  dict is quadratic (minutes for one blob). A key set twice (or a set element given
  twice) is refused too: ``pickle.dumps`` never writes one, and the second value would
  silently replace the first;
- nesting: at most :data:`MAX_DEPTH` levels (cycles are infinitely deep);
- size: at most :data:`MAX_SIZE` items and characters, counting a shared object once per
  reference, so that memo references cannot make a 1 MiB blob stand for a terabyte
  ("billion laughs") that a later ``repr``, ``==`` or ``json.dumps`` would walk.
"""

from __future__ import annotations

import io
import pickle
import struct
from collections.abc import Callable, Iterable
from typing import Any

from ..exceptions import UnsafePickleError

__all__ = ["safe_loads", "MAX_BLOB_BYTES", "MAX_DEPTH", "MAX_INT_BITS", "MAX_SIZE"]

#: Largest blob decoded; a job dict is a few hundred bytes.
MAX_BLOB_BYTES = 1 << 20
#: Deepest container nesting decoded; a job dict is 2-3 levels deep.
MAX_DEPTH = 100
#: Widest integer decoded (a value; keys at most 64 bits). Beyond int64 so that a count
#: of 2**70 still decodes and is reported by the reader for its field, far below the
#: 4,300 digits at which ``int``/``str`` conversions raise.
MAX_INT_BITS = 256
#: Widest integer admitted as a dict key or set element (see the module docstring).
MAX_KEY_INT_BITS = 64
#: Largest decoded value: containers and scalars plus the characters of every str and
#: bytes, each shared object counted once per reference. An unshared 1 MiB blob stays
#: below it; a job dict is ~100.
MAX_SIZE = 1 << 22

_KEY_TYPES = (str, bytes, float, bool, type(None))
_CONTAINERS = (dict, list, tuple, set, frozenset)
_TEXT = (str, bytes, bytearray)
#: Longest text integer opcode (``INT``/``LONG``): the digits of a MAX_INT_BITS number,
#: a sign, an ``L`` and a newline; checked before ``int()`` parses it.
_MAX_INT_TEXT = len(str(1 << MAX_INT_BITS)) + 3
_MAX_INT_BYTES = MAX_INT_BITS // 8 + 1


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


def _check_key(key: Any) -> None:
    """Refuse a dict key or set element whose hash an attacker could make collide."""
    kind = type(key)
    if kind is int:
        if key.bit_length() > MAX_KEY_INT_BITS:
            raise UnsafePickleError(
                f"refused an integer key of {key.bit_length()} bits: keys and set "
                f"elements are integers of at most {MAX_KEY_INT_BITS} bits"
            )
    elif kind not in _KEY_TYPES:
        raise UnsafePickleError(
            f"refused a dict key or set element of type {kind.__name__}: only str, bytes, "
            "int, float, bool and None are decoded as keys"
        )


def _checked_keys(items: Iterable[Any]) -> list[Any]:
    items = list(items)
    for key in items:
        _check_key(key)
    return items


def _new_set(kind: Callable[[list[Any]], Any], items: list[Any]) -> Any:
    result = kind(_checked_keys(items))
    if len(result) != len(items):
        raise UnsafePickleError(f"a {kind.__name__} element is given twice")
    return result


def _safe_set(*args: Any) -> set[Any]:
    # Protocols 0-3 write sets as set([elements]) (empty: set([])).
    if len(args) == 1 and type(args[0]) is list:
        return _new_set(set, args[0])
    raise UnsafePickleError("refused set() with arguments that are not one list")


def _safe_frozenset(*args: Any) -> frozenset[Any]:
    # Protocols 0-3 write frozensets as frozenset([elements]), the empty one as frozenset().
    if not args:
        return frozenset()
    if len(args) == 1 and type(args[0]) is list:
        return _new_set(frozenset, args[0])
    raise UnsafePickleError("refused frozenset() with arguments that are not one list")


_ALLOWED_GLOBALS: dict[tuple[str, str], Callable[..., Any]] = {
    ("builtins", "set"): _safe_set,
    ("builtins", "frozenset"): _safe_frozenset,
    ("builtins", "bytearray"): _safe_bytearray,
    ("builtins", "bytes"): _safe_bytes,
    ("__builtin__", "set"): _safe_set,
    ("__builtin__", "frozenset"): _safe_frozenset,
    ("__builtin__", "bytearray"): _safe_bytearray,
    ("__builtin__", "bytes"): _safe_bytes,
    ("_codecs", "encode"): _safe_codecs_encode,
}
_CALLABLES = frozenset(map(id, _ALLOWED_GLOBALS.values()))


def _int_value(value: int) -> int:
    if value.bit_length() > MAX_INT_BITS:
        raise UnsafePickleError(
            f"refused an integer of {value.bit_length()} bits (limit {MAX_INT_BITS})"
        )
    return value


class _RestrictedUnpickler(pickle._Unpickler):  # pure Python: see the module docstring
    dispatch = dict(pickle._Unpickler.dispatch)

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[(module, name)]
        raise UnsafePickleError(
            f"refused to load global {module}.{name}: only builtin containers and scalars "
            "are decoded"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("refused a persistent id: only builtin data is decoded")

    def load_refused(self) -> None:
        raise UnsafePickleError(
            "refused an opcode that builds or modifies objects (BUILD, INST, OBJ, NEWOBJ, "
            "extension codes): only builtin data is decoded"
        )

    # integers: the width is checked before the value is built

    def _int_line(self) -> bytes:
        line = self.readline()
        if len(line) > _MAX_INT_TEXT:  # before int() parses it (ValueError past 4,300)
            raise UnsafePickleError(
                f"refused an integer of {len(line):,} digits (limit {MAX_INT_BITS} bits)"
            )
        return line

    def load_int(self) -> None:
        data = self._int_line()
        if data in (b"00\n", b"01\n"):  # protocol 0's False and True
            self.append(data == b"01\n")
        else:
            self.append(_int_value(int(data, 0)))

    def load_long(self) -> None:
        data = self._int_line()[:-1]
        self.append(_int_value(int(data[:-1] if data.endswith(b"L") else data, 0)))

    def load_long1(self) -> None:
        (n,) = self.read(1)
        self.append(_int_value(pickle.decode_long(self.read(n))))

    def load_long4(self) -> None:
        (n,) = struct.unpack("<i", self.read(4))
        if not 0 <= n <= _MAX_INT_BYTES:  # before reading (and allocating) n bytes
            raise UnsafePickleError(f"refused an integer of {n:,} bytes (limit "
                                    f"{MAX_INT_BITS} bits)")
        self.append(_int_value(pickle.decode_long(self.read(n))))

    # containers: keys are checked before they are inserted; only builtins are filled

    def load_dict(self) -> None:
        items = self.pop_mark()
        result: dict[Any, Any] = {}
        _set_items(result, items)
        self.append(result)

    def load_setitem(self) -> None:
        value = self.stack.pop()
        key = self.stack.pop()
        _set_items(self.stack[-1], [key, value])

    def load_setitems(self) -> None:
        items = self.pop_mark()
        _set_items(self.stack[-1], items)

    def load_additems(self) -> None:
        items = self.pop_mark()
        target = self.stack[-1]
        if type(target) is not set:
            raise UnsafePickleError(f"refused adding items to a {type(target).__name__}")
        size = len(target)
        target.update(_checked_keys(items))
        if len(target) != size + len(items):
            raise UnsafePickleError("a set element is given twice")

    def load_frozenset(self) -> None:
        items = self.pop_mark()  # first: it rebinds self.append to the outer stack
        self.append(_new_set(frozenset, items))

    def load_append(self) -> None:
        value = self.stack.pop()
        _extend(self.stack[-1], [value])

    def load_appends(self) -> None:
        items = self.pop_mark()
        _extend(self.stack[-1], items)

    def load_reduce(self) -> None:
        args = self.stack.pop()
        func = self.stack[-1]
        if id(func) not in _CALLABLES or type(args) is not tuple:
            raise UnsafePickleError("refused a call of something that is not an admitted "
                                    "builtin constructor")
        self.stack[-1] = func(*args)


def _set_items(target: Any, items: list[Any]) -> None:
    if type(target) is not dict:  # the stock opcode calls any object's __setitem__
        raise UnsafePickleError(f"refused setting items of a {type(target).__name__}")
    if len(items) % 2:
        raise UnsafePickleError("a dict key without a value")
    keys = _checked_keys(items[0::2])
    size = len(target)
    target.update(zip(keys, items[1::2], strict=True))
    if len(target) != size + len(keys):
        raise UnsafePickleError("a dict key is given twice")


def _extend(target: Any, items: list[Any]) -> None:
    if type(target) is not list:  # the stock opcode calls any object's extend/append
        raise UnsafePickleError(f"refused appending to a {type(target).__name__}")
    target.extend(items)


for _opcode, _method in {
    pickle.INT: _RestrictedUnpickler.load_int,
    pickle.LONG: _RestrictedUnpickler.load_long,
    pickle.LONG1: _RestrictedUnpickler.load_long1,
    pickle.LONG4: _RestrictedUnpickler.load_long4,
    pickle.DICT: _RestrictedUnpickler.load_dict,
    pickle.SETITEM: _RestrictedUnpickler.load_setitem,
    pickle.SETITEMS: _RestrictedUnpickler.load_setitems,
    pickle.ADDITEMS: _RestrictedUnpickler.load_additems,
    pickle.FROZENSET: _RestrictedUnpickler.load_frozenset,
    pickle.APPEND: _RestrictedUnpickler.load_append,
    pickle.APPENDS: _RestrictedUnpickler.load_appends,
    pickle.REDUCE: _RestrictedUnpickler.load_reduce,
    **dict.fromkeys(
        (pickle.BUILD, pickle.INST, pickle.OBJ, pickle.NEWOBJ, pickle.NEWOBJ_EX,
         pickle.EXT1, pickle.EXT2, pickle.EXT4),
        _RestrictedUnpickler.load_refused,
    ),
}.items():
    _RestrictedUnpickler.dispatch[_opcode[0]] = _method
del _opcode, _method


def _check_shape(obj: Any) -> None:
    """Refuse *obj* if containers nest deeper than :data:`MAX_DEPTH` (or form a cycle),
    raising RecursionError, or if it is larger than :data:`MAX_SIZE`.

    The unpickler builds any depth iteratively; the limits protect whoever later walks
    the result (``repr``, ``==``, ``json.dumps``, pandas). The walk is an explicit-stack
    post-order that visits each shared sub-object once (its height and size are kept),
    so it is linear in the blob even where the value it stands for is not.
    """
    if type(obj) not in _CONTAINERS:
        return
    done: dict[int, tuple[int, int]] = {}  # id -> (levels below and including, size)
    on_path = {id(obj)}
    stack = [_open(obj)]  # [container, its container children, height, size]
    while stack:
        top = stack[-1]
        child = next(top[1], None)
        if child is None:
            stack.pop()
            on_path.discard(id(top[0]))
            done[id(top[0])] = (top[2], top[3])
            if stack:
                parent = stack[-1]
                parent[2] = max(parent[2], top[2] + 1)
                parent[3] += top[3]
                _check_size(parent[3])
            continue
        key = id(child)
        if key in on_path or len(stack) >= MAX_DEPTH:
            raise RecursionError  # a cycle is infinitely deep
        if key in done:
            height, size = done[key]
            if len(stack) + height > MAX_DEPTH:
                raise RecursionError
            top[2] = max(top[2], height + 1)
            top[3] += size
            _check_size(top[3])
            continue
        on_path.add(key)
        stack.append(_open(child))
    _check_size(done[id(obj)][1])


def _open(item: Any) -> list[Any]:
    """A walk frame: *item*, an iterator of its container children, height 1 and the
    size of *item* without those children (1 + its scalars + their characters)."""
    slots = (*item, *item.values()) if type(item) is dict else item
    size = 1
    children = []
    for value in slots:
        kind = type(value)
        if kind in _CONTAINERS:
            children.append(value)
        else:
            size += 1 + len(value) if kind in _TEXT else 1
    _check_size(size)
    return [item, iter(children), 1, size]


def _check_size(size: int) -> None:
    if size > MAX_SIZE:
        raise UnsafePickleError(
            f"job_data decodes to more than {MAX_SIZE:,} items and characters (a shared "
            "object counted once per reference)"
        )


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
        deeply nested, decodes to too much (:data:`MAX_SIZE`), holds an integer wider
        than :data:`MAX_INT_BITS`, a key that is no str, bytes, int of 64 bits, float,
        bool or None, or a key given twice, or is not a pickle at all. Nothing in the
        blob is executed, and the work is linear in its size (about 0.1 s per MiB).

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
        _check_shape(result)
        return result
    except UnsafePickleError:
        raise
    except RecursionError:
        raise UnsafePickleError("job_data is nested too deeply") from None
    except Exception as exc:  # any decoding failure of untrusted bytes
        raise UnsafePickleError(
            f"job_data is not a valid pickle ({type(exc).__name__}: {exc})"
        ) from None
