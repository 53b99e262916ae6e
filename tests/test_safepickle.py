"""``safe_loads``: plain builtin data decodes, everything else is refused without running it."""

from __future__ import annotations

import pickle
import sys
import textwrap
from collections import OrderedDict
from datetime import datetime

import pytest

from syncstats import UnsafePickleError
from syncstats.recording.safepickle import MAX_BLOB_BYTES, MAX_DEPTH, safe_loads

JOB = {
    "job_id": 17,
    "scene_id": 1900,
    "update_type": "metadata",
    "data": {"title": "Scene 1900", "path": "/media/videos/a/scene_1900.mp4", "tags": ["a", "b"]},
    "enqueued_at": 1759017612.5,
    "job_key": "scene:1900",
    "retry_count": 5,
    "next_retry_at": None,
    "last_error_type": "PlexNotFound",
}

PLAIN_VALUES = [
    pytest.param({"a": 1, "b": [1, 2]}, id="dict"),
    pytest.param({}, id="empty-dict"),
    pytest.param([1, "two", 3.0, None], id="list"),
    pytest.param((1, (2, 3)), id="tuple"),
    pytest.param((), id="empty-tuple"),
    pytest.param({1, 2, 3}, id="set"),
    pytest.param(set(), id="empty-set"),
    pytest.param(frozenset({"x", "y"}), id="frozenset"),
    pytest.param(b"\x00\x01raw\xff", id="bytes"),
    pytest.param(bytes(range(256)), id="all-bytes"),
    pytest.param(b"", id="empty-bytes"),
    pytest.param(bytearray(b"xy\x80"), id="bytearray"),
    pytest.param("scène ✓", id="str"),
    pytest.param("", id="empty-str"),
    pytest.param(0, id="zero"),
    pytest.param(-7, id="negative-int"),
    pytest.param(2**100, id="big-int"),
    pytest.param(1.5, id="float"),
    pytest.param(float("inf"), id="inf"),
    pytest.param(True, id="true"),
    pytest.param(False, id="false"),
    pytest.param(None, id="none"),
    pytest.param(JOB, id="job-dict"),
]


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("value", PLAIN_VALUES)
def test_plain_builtins_round_trip_in_every_protocol(value, protocol):
    result = safe_loads(pickle.dumps(value, protocol=protocol))
    assert result == value
    assert type(result) is type(value)


def test_nested_types_are_preserved():
    value = {"s": {1, 2}, "f": frozenset({3}), "t": (b"x", [None]), "b": bytearray(b"z")}
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        result = safe_loads(pickle.dumps(value, protocol=protocol))
        assert result == value
        assert {k: type(v) for k, v in result.items()} == {k: type(v) for k, v in value.items()}


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview], ids=lambda t: t.__name__)
def test_accepts_bytes_like_input(wrap):
    assert safe_loads(wrap(pickle.dumps(JOB))) == JOB


def test_shared_references_decode_fast():
    """A DAG with 2**60 paths but 60 distinct lists is fine (no path explosion)."""
    value: list = [1]
    for _ in range(60):
        value = [value, value]
    result = safe_loads(pickle.dumps(value))
    levels = 0
    while result != [1]:  # never compare whole DAGs: == would walk all 2**60 paths
        assert len(result) == 2
        assert result[0] is result[1]
        result = result[0]
        levels += 1
    assert levels == 60


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_every_truncation_is_refused(protocol):
    blob = pickle.dumps(JOB, protocol=protocol)
    for cut in range(len(blob)):
        with pytest.raises(UnsafePickleError):
            safe_loads(blob[:cut])


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"hello world",
        b'{"job_id": 1, "scene_id": 2}',
        b"\x00\x01\x02\x03",
        b"\x80\x05",
        b"\x80\x63junk",
        b"SQLite format 3\x00",
        bytes(range(255, -1, -1)),
    ],
    ids=["empty", "text", "json", "nul-bytes", "proto-header-only", "bad-proto", "sqlite", "noise"],
)
def test_non_pickle_bytes_are_refused(blob):
    with pytest.raises(UnsafePickleError, match="not a valid pickle"):
        safe_loads(blob)


def test_null_is_refused():
    with pytest.raises(UnsafePickleError, match="NULL"):
        safe_loads(None)


@pytest.mark.parametrize("value", ["a str", 12, 1.5, ["list"]], ids=["str", "int", "float", "list"])
def test_non_blob_types_are_refused(value):
    with pytest.raises(UnsafePickleError, match="expected a BLOB"):
        safe_loads(value)


def _bytes_pickle_of_size(size: int) -> bytes:
    """A valid protocol-5 pickle of exactly *size* bytes."""
    n = size
    blob = pickle.dumps(b"x" * n, protocol=5)
    for _ in range(3):  # framing makes the overhead depend on the length
        n += size - len(blob)
        blob = pickle.dumps(b"x" * n, protocol=5)
    assert len(blob) == size
    return blob


def test_size_limit_boundary():
    assert len(safe_loads(_bytes_pickle_of_size(MAX_BLOB_BYTES))) > 0
    with pytest.raises(UnsafePickleError, match="limit"):
        safe_loads(_bytes_pickle_of_size(MAX_BLOB_BYTES + 1))


def test_too_large_valid_pickle_is_refused():
    with pytest.raises(UnsafePickleError, match="over the"):
        safe_loads(pickle.dumps({"data": "x" * MAX_BLOB_BYTES}))


def _nested_lists(depth: int) -> bytes:
    """A protocol-0 pickle of *depth* nested lists, written by hand (dumps would recurse)."""
    return b"(" * depth + b"l" * depth + b"."


def test_nesting_up_to_the_limit_decodes():
    result = safe_loads(_nested_lists(MAX_DEPTH))
    depth = 0
    while isinstance(result, list):
        depth += 1
        result = result[0] if result else None
    assert depth == MAX_DEPTH


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 100_000], ids=["limit+1", "100k"])
def test_deep_nesting_is_refused(depth):
    with pytest.raises(UnsafePickleError, match="nested too deeply"):
        safe_loads(_nested_lists(depth))


def test_deep_dicts_are_refused():
    value: dict = {}
    for _ in range(MAX_DEPTH + 5):
        value = {"k": value}
    with pytest.raises(UnsafePickleError, match="nested too deeply"):
        safe_loads(pickle.dumps(value))


def test_cyclic_structure_is_refused():
    value: list = []
    value.append({"self": value})
    with pytest.raises(UnsafePickleError, match="nested too deeply"):
        safe_loads(pickle.dumps(value))


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize(
    ("value", "name"),
    [
        (datetime(2026, 10, 1, 2, 19, 57), "datetime.datetime"),
        (OrderedDict(a=1), "collections.OrderedDict"),
        ({"when": datetime(2026, 1, 1)}, "datetime.datetime"),
        (print, "print"),
        (ValueError("x"), "ValueError"),
    ],
    ids=["datetime", "ordereddict", "datetime-in-dict", "function", "exception"],
)
def test_any_global_is_refused(value, name, protocol):
    blob = pickle.dumps(value, protocol=protocol)
    # importing dask.distributed installs tblib's copyreg reducer for exceptions: the
    # pickle then names tblib's rebuilder first; it must be refused all the same
    if b"tblib" in blob:
        name = "tblib"
    with pytest.raises(UnsafePickleError, match=rf"refused to load global .*{name}"):
        safe_loads(blob)


@pytest.mark.parametrize(
    "blob",
    [
        b"c__builtin__\nbytearray\n(I1000000000\ntR.",
        b"cbuiltins\nbytes\n(I1000000000\ntR.",
        b"c_codecs\nencode\n(Vabc\nVrot13\ntR.",
        b"c_codecs\nencode\n(I1\nVlatin1\ntR.",
    ],
    ids=["bytearray-size", "bytes-size", "codec-rot13", "encode-int"],
)
def test_admitted_constructors_only_take_pickle_shaped_arguments(blob):
    """bytes/bytearray/_codecs.encode are admitted for protocols 0-2, never as a memory bomb."""
    with pytest.raises(UnsafePickleError, match="refused"):
        safe_loads(blob)


def test_persistent_ids_are_refused():
    with pytest.raises(UnsafePickleError, match="persistent id"):
        safe_loads(b"Pkey\n.")


def test_refused_global_is_never_imported(tmp_path, monkeypatch):
    """The module a pickle names is not even imported (its import side effect never runs)."""
    marker = tmp_path / "imported.txt"
    module = "syncstats_canary_mod_safepickle"
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent(
            f"""
            import pathlib
            pathlib.Path({str(marker)!r}).write_text("imported")
            def thing(*args):
                return args
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    blob = f"c{module}\nthing\n(tR.".encode()
    with pytest.raises(UnsafePickleError, match=module):
        safe_loads(blob)
    assert module not in sys.modules
    assert not marker.exists()
    # Control: the plain unpickler really would import it.
    assert pickle.loads(blob) == ()
    assert marker.read_text() == "imported"
    sys.modules.pop(module, None)
