"""The Arrow fast path for JSON Lines histories gives exactly what the per-line reader
(the reference) gives: on the sample data and on generated histories, clean or not.
(More cases, copies and the frame assembly: ``test_fast_snapshots.py``.)"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncstats import read_snapshots, schemas
from syncstats.io.snapshots._arrow import chunks_of, parse_chunk

DATA = Path(__file__).resolve().parents[1] / "data"


def both(path: Path, engine: str, **kw):
    """The result of *engine* and the reference's."""
    return (read_snapshots(path, engine=engine, **kw),
            read_snapshots(path, engine="reference", **kw))


def assert_same(fast, slow) -> None:
    # exactly: the error rows of a snapshot too come in the JSON object's key order; the
    # engine_fallback caveats are the only issues an engine adds
    pd.testing.assert_frame_equal(fast.snapshots, slow.snapshots)
    pd.testing.assert_frame_equal(fast.errors, slow.errors)
    kind = fast.issues["kind"].astype(str)
    kept = fast.issues[kind != "engine_fallback"].reset_index(drop=True)
    kept = schemas.conform(kept.astype({"kind": str}), schemas.ISSUES)
    pd.testing.assert_frame_equal(kept, slow.issues)


def read_history_fast(raw: bytes, path: Path, *, source, fallback):
    """The history's blocks, or None when a chunk declines (as the per-line reader)."""
    blocks = [parse_chunk(c, source=source, fallback=fallback, path=str(path))[0]
              for c in chunks_of(raw)]
    return None if not blocks or any(b is None for b in blocks) else blocks


@pytest.mark.parametrize("source", ["worker-a", "worker-b"])
def test_sample_histories(source, snapshot_engine):
    path = DATA / source / "history.jsonl"
    raw = path.read_bytes()
    # worker-a's history has ISO times, worker-b's epoch seconds: both take the fast path
    assert read_history_fast(raw, path, source=None, fallback=source) is not None
    fast, slow = both(path, snapshot_engine)
    assert len(fast.snapshots) == raw.count(b"\n")
    assert_same(fast, slow)


def test_fast_path_declines_what_it_cannot_represent(tmp_path, snapshot_engine):
    good = {"jobs_processed": 1, "jobs_succeeded": 1, "snapshot_at": "2026-10-01T00:00:00Z"}
    cases = {
        "torn": json.dumps(good) + '\n{"jobs_pro\n',
        "blank line": json.dumps(good) + "\n\n" + json.dumps(good) + "\n",
        "crlf": json.dumps(good) + "\r\n",
        "null counter": json.dumps({**good, "jobs_failed": None}) + "\n",
        "missing counter": json.dumps({"jobs_processed": 1,
                                       "snapshot_at": "2026-10-01T00:00:00Z"}) + "\n",
        "float count": json.dumps({**good, "errors_by_type": {"A": 1.5}}) + "\n",
        "bad time": json.dumps({**good, "snapshot_at": "13:00"}) + "\n",
        "huge": json.dumps({**good, "jobs_processed": 10**30}) + "\n",
        "no final newline": json.dumps(good),
    }
    for name, text in cases.items():
        path = tmp_path / f"{name}.jsonl"
        path.write_text(text)
        assert read_history_fast(path.read_bytes(), path, source=None, fallback="w") is None, name
        fast, slow = both(path, snapshot_engine)
        assert_same(fast, slow)
        fallbacks = fast.issues[fast.issues["kind"] == "engine_fallback"]
        # a caveat when the decline is otherwise invisible: the reference reports nothing
        # while reading the file (duplicates are found afterwards, over all files)
        quiet = (slow.issues["kind"].astype(str) == "duplicate").all()
        assert len(fallbacks) == (snapshot_engine == "arrow" and quiet), name


_COUNTS = st.integers(min_value=-5, max_value=2**40)
_TYPES = st.sampled_from(["PlexNotFound", "PlexTemporaryError", "TimeoutError", "Odd\"Name"])
_RECORD = st.fixed_dictionaries(
    {
        "jobs_processed": _COUNTS, "jobs_succeeded": _COUNTS, "jobs_failed": _COUNTS,
        "jobs_to_dlq": _COUNTS, "high_confidence_matches": _COUNTS,
        "low_confidence_matches": _COUNTS,
        "total_processing_time": st.floats(0, 1e9, allow_nan=False),
        "errors_by_type": st.dictionaries(_TYPES, st.integers(0, 10**6), max_size=4),
    },
    optional={
        "session_start": st.floats(0, 2e9, allow_nan=False),
        "source": st.sampled_from(["w1", "w2", ""]),
        "extra": st.one_of(st.integers(), st.text(max_size=5)),
    },
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=st.lists(_RECORD, min_size=1, max_size=30),
    times=st.sampled_from(["iso", "epoch", "offset"]),
    damage=st.sampled_from([None, "torn_last", "blank", "bad_type"]),
)
def test_generated_histories(tmp_path_factory, records, times, damage, snapshot_engine):
    lines = []
    for i, rec in enumerate(records):
        t = pd.Timestamp("2026-10-01", tz="UTC") + pd.Timedelta(minutes=15 * i)
        when = {"iso": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "epoch": t.timestamp(),
                "offset": t.tz_convert("Europe/Berlin").isoformat()}[times]
        lines.append(json.dumps({**rec, "snapshot_at": when}))
    if damage == "torn_last":
        lines[-1] = lines[-1][: len(lines[-1]) // 2]
    elif damage == "blank":
        lines.insert(len(lines) // 2, "")
    elif damage == "bad_type":
        lines[0] = lines[0].replace('"jobs_failed": ', '"jobs_failed": "x", "_": ', 1)
    path = tmp_path_factory.mktemp("h") / "history.jsonl"
    path.write_text("\n".join(lines) + "\n")
    fast, slow = both(path, snapshot_engine)
    assert_same(fast, slow)
