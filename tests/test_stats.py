"""``SyncStats``: the seed's semantics, persistence without double counting, concurrency with
real processes, torn/implausible files, and property tests of the docs/formats.md §1 invariants."""

from __future__ import annotations

import copy
import json
import math
import multiprocessing
import os
import tempfile
import time
import warnings
from pathlib import Path

import helpers_recording
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from samples import FORMATS_EXAMPLE

from syncstats import CorruptStatsWarning, ParameterError, SyncStats
from syncstats.recording import COUNTER_FIELDS, SANITY_CEILING

KEY_ORDER = [
    "jobs_processed",
    "jobs_succeeded",
    "jobs_failed",
    "jobs_to_dlq",
    "total_processing_time",
    "session_start",
    "errors_by_type",
    "high_confidence_matches",
    "low_confidence_matches",
]


def counters(obj: SyncStats | dict) -> dict:
    """The countable part of an instance or a stats dict (no session_start, no extras)."""
    data = obj.to_dict() if isinstance(obj, SyncStats) else obj
    out = {k: data.get(k, 0) for k in COUNTER_FIELDS}
    out["total_processing_time"] = data.get("total_processing_time", 0.0)
    out["errors_by_type"] = {k: v for k, v in data.get("errors_by_type", {}).items() if v}
    return out


def check_invariants(data: SyncStats | dict) -> None:
    """docs/formats.md §1 invariants of a healthy file (or instance)."""
    c = counters(data)
    assert c["jobs_succeeded"] + c["jobs_failed"] == c["jobs_processed"], c
    assert sum(c["errors_by_type"].values()) == c["jobs_failed"], c
    assert c["jobs_to_dlq"] <= c["jobs_failed"], c
    assert c["high_confidence_matches"] + c["low_confidence_matches"] == c["jobs_succeeded"], c
    assert all(c[k] >= 0 for k in COUNTER_FIELDS), c
    assert all(v >= 0 for v in c["errors_by_type"].values()), c
    assert c["total_processing_time"] >= 0, c


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def zero_counters() -> dict:
    return counters({})


def record_sample(stats: SyncStats) -> dict:
    """Record a fixed mix of 7 events; return their totals."""
    stats.record_success(0.5, confidence="high")
    stats.record_success(0.25, confidence="high")
    stats.record_success(1.0, confidence="low")
    stats.record_failure("PlexNotFound", 0.25)
    stats.record_failure("PlexNotFound", 0.5, to_dlq=True)
    stats.record_failure("PlexTemporaryError", 2.0)
    stats.record_failure("PermanentError", 0.5, to_dlq=True)
    return {
        "jobs_processed": 7,
        "jobs_succeeded": 3,
        "jobs_failed": 4,
        "jobs_to_dlq": 2,
        "high_confidence_matches": 2,
        "low_confidence_matches": 1,
        "total_processing_time": 5.0,
        "errors_by_type": {"PlexNotFound": 2, "PlexTemporaryError": 1, "PermanentError": 1},
    }


@pytest.fixture
def stats_path(tmp_path) -> Path:
    return tmp_path / "data" / "stats.json"


# == 1. semantics of the seed =====================================================================


def test_fresh_stats_are_zero_and_start_now():
    before = time.time()
    s = SyncStats()
    after = time.time()
    assert counters(s) == zero_counters()
    assert before <= s.session_start <= after
    assert s.errors_by_type == {}
    assert s.success_rate == 0.0
    assert s.avg_processing_time == 0.0


def test_record_success_high_and_low():
    s = SyncStats()
    s.record_success(0.5)  # default confidence is high
    s.record_success(0.25, confidence="high")
    s.record_success(1.0, confidence="low")
    assert (s.jobs_processed, s.jobs_succeeded, s.jobs_failed) == (3, 3, 0)
    assert (s.high_confidence_matches, s.low_confidence_matches) == (2, 1)
    assert s.total_processing_time == 1.75
    assert s.errors_by_type == {}
    assert s.jobs_to_dlq == 0


@pytest.mark.parametrize("confidence", ["medium", "", None, 1, "hi"])
def test_record_success_invalid_confidence_raises_and_records_nothing(confidence):
    s = SyncStats()
    with pytest.raises(ParameterError, match="confidence"):
        s.record_success(0.5, confidence=confidence)
    assert counters(s) == zero_counters()


@pytest.mark.parametrize("seconds", [-0.1, math.nan, math.inf, "1.0", None])
def test_invalid_processing_time_raises_and_records_nothing(seconds):
    s = SyncStats()
    with pytest.raises(ParameterError, match="processing_time"):
        s.record_success(seconds)
    with pytest.raises(ParameterError, match="processing_time"):
        s.record_failure("PlexNotFound", seconds)
    assert counters(s) == zero_counters()


def test_zero_processing_time_is_fine():
    s = SyncStats()
    s.record_success(0)
    s.record_failure("X", 0.0)
    assert s.total_processing_time == 0.0
    assert s.jobs_processed == 2


def test_record_failure_counts_types_and_dlq():
    s = SyncStats()
    s.record_failure("PlexNotFound", 0.5)
    s.record_failure("PlexNotFound", 0.25, to_dlq=True)
    s.record_failure("PermanentError", 1.0, to_dlq=True)
    s.record_failure("TimeoutError", 0.25, to_dlq=False)
    assert (s.jobs_processed, s.jobs_succeeded, s.jobs_failed, s.jobs_to_dlq) == (4, 0, 4, 2)
    assert s.errors_by_type == {"PlexNotFound": 2, "PermanentError": 1, "TimeoutError": 1}
    assert s.total_processing_time == 2.0
    assert (s.high_confidence_matches, s.low_confidence_matches) == (0, 0)


@pytest.mark.parametrize("error_type", ["", None, 3])
def test_record_failure_needs_an_error_type(error_type):
    s = SyncStats()
    with pytest.raises(ParameterError, match="error_type"):
        s.record_failure(error_type, 0.1)
    assert counters(s) == zero_counters()


def test_success_rate_is_a_percentage():
    s = SyncStats()
    s.record_success(0.1)
    s.record_failure("X", 0.1)
    assert s.success_rate == 50.0  # percent, not the fraction 0.5
    s.record_success(0.1)
    s.record_success(0.1)
    assert s.success_rate == 75.0
    only_failures = SyncStats()
    only_failures.record_failure("X", 0.1)
    assert only_failures.success_rate == 0.0
    assert isinstance(SyncStats().success_rate, float)


def test_success_rate_matches_the_worker_log_format():
    s = SyncStats.from_dict(
        {"jobs_processed": 2473, "jobs_succeeded": 2267, "jobs_failed": 206},
    )
    assert f"{s.success_rate:.1f}%" == "91.7%"


def test_avg_processing_time():
    s = SyncStats()
    s.record_success(1.0)
    s.record_failure("X", 2.0)
    s.record_success(0.0)
    assert s.avg_processing_time == pytest.approx(1.0)
    assert SyncStats().avg_processing_time == 0.0


def test_to_dict_key_order_and_values():
    s = SyncStats(session_start=1759017612.5)
    expected = record_sample(s)
    d = s.to_dict()
    assert list(d) == KEY_ORDER
    assert d["session_start"] == 1759017612.5
    assert counters(d) == expected
    assert json.loads(json.dumps(d)) == d
    d["errors_by_type"]["PlexNotFound"] = 999  # a copy, not the live dict
    assert s.errors_by_type["PlexNotFound"] == 2


def test_to_dict_appends_extras_after_the_known_keys():
    s = SyncStats.from_dict({"jobs_processed": 0, "worker_version": "2.1", "retries": {"a": 1}})
    d = s.to_dict()
    assert list(d) == [*KEY_ORDER, "worker_version", "retries"]
    assert d["worker_version"] == "2.1"
    assert d["retries"] == {"a": 1}


def test_from_dict_round_trip():
    s = SyncStats(session_start=1_790_812_800.0)
    record_sample(s)
    back = SyncStats.from_dict(s.to_dict())
    assert back == s
    assert back.to_dict() == s.to_dict()


def test_from_dict_missing_keys_mean_zero():
    s = SyncStats.from_dict({"jobs_processed": 2, "jobs_succeeded": 2})
    assert s.jobs_processed == 2
    assert s.jobs_failed == s.jobs_to_dlq == s.low_confidence_matches == 0
    assert s.total_processing_time == 0.0
    assert s.errors_by_type == {}
    before = time.time()
    assert SyncStats.from_dict({}).session_start >= before  # absent: now


def test_from_dict_accepts_the_formats_example():
    example = dict(FORMATS_EXAMPLE)
    s = SyncStats.from_dict(example)
    assert s.to_dict() == example
    check_invariants(s)
    assert round(s.avg_processing_time * 1000) == 410


@pytest.mark.parametrize(
    "data",
    [
        {"jobs_processed": -1},
        {"jobs_failed": SANITY_CEILING + 1},
        {"jobs_processed": "12"},
        {"jobs_processed": True},
        {"jobs_processed": 1.5},
        {"total_processing_time": math.nan},
        {"total_processing_time": -1.0},
        {"errors_by_type": {"X": -2}},
        {"errors_by_type": ["X"]},
    ],
    ids=[
        "negative",
        "ceiling",
        "string",
        "bool",
        "fraction",
        "nan",
        "negative-time",
        "neg-err",
        "list",
    ],
)
def test_from_dict_rejects_implausible_values(data):
    with pytest.raises(ParameterError):
        SyncStats.from_dict(data)


def test_from_dict_has_no_baseline_so_saving_adds_everything(stats_path):
    s = SyncStats.from_dict(
        {"jobs_processed": 3, "jobs_succeeded": 3, "high_confidence_matches": 3}
    )
    assert s.unsaved()["jobs_processed"] == 3
    s.save_to_file(stats_path)
    s.save_to_file(stats_path)
    assert read_json(stats_path)["jobs_processed"] == 3


def test_merge_adds_counters_and_keeps_inputs_unchanged():
    a = SyncStats(session_start=1_790_002_000.0)
    b = SyncStats(session_start=1_790_001_000.0)
    ea = record_sample(a)
    b.record_success(0.5, confidence="low")
    b.record_failure("TimeoutError", 0.25, to_dlq=True)
    b.record_failure("PlexNotFound", 0.25)
    a_before, b_before = copy.deepcopy(a.to_dict()), copy.deepcopy(b.to_dict())

    m = a.merge(b)
    assert m is not a and m is not b
    assert m.session_start == 1_790_001_000.0
    assert counters(m) == {
        "jobs_processed": ea["jobs_processed"] + 3,
        "jobs_succeeded": ea["jobs_succeeded"] + 1,
        "jobs_failed": ea["jobs_failed"] + 2,
        "jobs_to_dlq": ea["jobs_to_dlq"] + 1,
        "high_confidence_matches": ea["high_confidence_matches"],
        "low_confidence_matches": ea["low_confidence_matches"] + 1,
        "total_processing_time": ea["total_processing_time"] + 1.0,
        "errors_by_type": {
            "PlexNotFound": 3,
            "PlexTemporaryError": 1,
            "PermanentError": 1,
            "TimeoutError": 1,
        },
    }
    check_invariants(m)
    assert a.to_dict() == a_before
    assert b.to_dict() == b_before
    m.errors_by_type["PlexNotFound"] += 100  # not aliased to an input
    m.record_failure("TimeoutError", 1.0)
    assert a.to_dict() == a_before
    assert b.to_dict() == b_before


def test_plus_is_merge_and_commutes_on_counters():
    a = SyncStats(session_start=1_790_000_005.0)
    b = SyncStats(session_start=1_790_000_010.0)
    record_sample(a)
    b.record_failure("X", 1.0)
    assert (a + b) == a.merge(b)
    assert counters(a + b) == counters(b + a)
    assert (a + b).session_start == (b + a).session_start == 1_790_000_005.0
    assert counters(a + SyncStats()) == counters(a)


def test_merge_combines_extras_self_wins():
    a = SyncStats.from_dict({"v": "a", "only_a": 1})
    b = SyncStats.from_dict({"v": "b", "only_b": 2})
    assert (a + b).extra == {"v": "a", "only_a": 1, "only_b": 2}


def test_adding_something_else_is_a_type_error():
    with pytest.raises(TypeError):
        SyncStats() + 5  # noqa: B018


def test_unsaved_tracks_what_was_recorded_since_last_save(stats_path):
    s = SyncStats()
    s.record_failure("TimeoutError", 1.0, to_dlq=True)
    assert s.unsaved()["jobs_failed"] == 1
    assert s.unsaved()["errors_by_type"] == {"TimeoutError": 1}
    s.save_to_file(stats_path)
    assert counters(s.unsaved()) == zero_counters()
    s.record_success(0.5)
    assert s.unsaved()["jobs_processed"] == 1
    assert s.unsaved()["errors_by_type"] == {}


# == 2. no double counting =======================================================================


def buggy_original_save(stats: SyncStats, path: Path) -> None:
    """The ORIGINAL worker's save: merge the file into totals that already contain it."""
    existing = read_json(path) if path.exists() else {}
    merged = stats.to_dict()
    for key in (*COUNTER_FIELDS, "total_processing_time"):
        merged[key] = existing.get(key, 0) + merged[key]
    errors = dict(existing.get("errors_by_type", {}))
    for key, value in stats.errors_by_type.items():
        errors[key] = errors.get(key, 0) + value
    merged["errors_by_type"] = errors
    merged["session_start"] = existing.get("session_start", stats.session_start)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merged))


def fixed_save(stats: SyncStats, path: Path) -> None:
    stats.save_to_file(path)


def buggy_original_load(path: Path) -> SyncStats:
    """The original load: the file's counters become the instance's (no ceiling check)."""
    if not path.exists():
        return SyncStats()
    data = read_json(path)
    return SyncStats(
        **{k: data[k] for k in COUNTER_FIELDS},
        total_processing_time=data["total_processing_time"],
        session_start=data["session_start"],
        errors_by_type=dict(data["errors_by_type"]),
    )


def run_plugin_invocations(path: Path, save, load, invocations: int = 12) -> dict:
    """Each invocation loads the file, records a few events, saves (sometimes twice).

    Returns the totals of the events recorded.
    """
    expected = zero_counters()
    for i in range(invocations):
        s = load(path)
        for j in range(i % 3 + 1):
            if (i + j) % 4 == 3:
                s.record_failure("PlexNotFound", 0.5, to_dlq=(j == 0))
                expected["jobs_failed"] += 1
                expected["jobs_to_dlq"] += int(j == 0)
                errs = expected["errors_by_type"]
                errs["PlexNotFound"] = errs.get("PlexNotFound", 0) + 1
            else:
                conf = "high" if j % 2 == 0 else "low"
                s.record_success(0.25, confidence=conf)
                expected["jobs_succeeded"] += 1
                expected[f"{conf}_confidence_matches"] += 1
            expected["jobs_processed"] += 1
            expected["total_processing_time"] += 0.5 if (i + j) % 4 == 3 else 0.25
        save(s, path)
        if i % 2 == 0:
            save(s, path)  # saved twice in one invocation
    return expected


def test_record_save_save_load_counts_each_event_once(stats_path):
    s = SyncStats()
    expected = record_sample(s)
    s.save_to_file(stats_path)
    s.save_to_file(stats_path)
    s.save_to_file(stats_path)
    assert counters(read_json(stats_path)) == expected
    loaded = SyncStats.load_from_file(stats_path)
    assert counters(loaded) == expected
    loaded.save_to_file(stats_path)  # nothing new: file unchanged
    assert counters(read_json(stats_path)) == expected
    s.record_success(0.5)
    s.save_to_file(stats_path)
    expected["jobs_processed"] += 1
    expected["jobs_succeeded"] += 1
    expected["high_confidence_matches"] += 1
    expected["total_processing_time"] += 0.5
    assert counters(read_json(stats_path)) == expected


def test_load_record_save_cycles_total_exactly_the_events(stats_path):
    expected = run_plugin_invocations(stats_path, fixed_save, SyncStats.load_from_file)
    on_disk = read_json(stats_path)
    assert counters(on_disk) == expected
    check_invariants(on_disk)
    assert expected["jobs_processed"] == 24  # the scenario really records something


def test_the_original_merge_would_have_doubled(tmp_path):
    """The same scenario through the original save inflates every counter exponentially."""
    path = tmp_path / "stats.json"
    expected = run_plugin_invocations(path, buggy_original_save, buggy_original_load)
    on_disk = read_json(path)
    assert counters(on_disk) != expected
    assert on_disk["jobs_processed"] > 2**12 * 1  # doubled at least once per invocation
    assert on_disk["jobs_processed"] > 100 * expected["jobs_processed"]


def test_buggy_file_is_refused_by_the_fixed_loader_once_above_the_ceiling(tmp_path):
    path = tmp_path / "stats.json"
    run_plugin_invocations(path, buggy_original_save, buggy_original_load, invocations=30)
    assert read_json(path)["jobs_processed"] > SANITY_CEILING
    with pytest.warns(CorruptStatsWarning, match="sanity ceiling"):
        s = SyncStats.load_from_file(path)
    assert counters(s) == zero_counters()


def test_two_instances_sharing_a_file_do_not_double_count(stats_path):
    a = SyncStats.load_from_file(stats_path)
    b = SyncStats.load_from_file(stats_path)
    for _ in range(3):
        a.record_success(0.25)
        a.save_to_file(stats_path)
        b.record_failure("X", 0.25)
        b.save_to_file(stats_path)
        b.save_to_file(stats_path)
    assert counters(read_json(stats_path)) == {
        **zero_counters(),
        "jobs_processed": 6,
        "jobs_succeeded": 3,
        "jobs_failed": 3,
        "high_confidence_matches": 3,
        "total_processing_time": 1.5,
        "errors_by_type": {"X": 3},
    }


def test_saving_a_merge_of_two_loaded_instances_adds_only_their_new_events(stats_path):
    seed = SyncStats()
    expected = record_sample(seed)
    seed.save_to_file(stats_path)
    a = SyncStats.load_from_file(stats_path)
    b = SyncStats.load_from_file(stats_path)
    a.record_success(0.5, confidence="low")
    b.record_failure("TimeoutError", 1.0, to_dlq=True)
    b.record_success(0.25)
    merged = a + b
    assert merged.jobs_processed == 2 * 7 + 3  # in memory both loaded bases add up...
    merged.save_to_file(stats_path)
    merged.save_to_file(stats_path)
    expected.update(
        jobs_processed=10,
        jobs_succeeded=5,
        jobs_failed=5,
        jobs_to_dlq=3,
        high_confidence_matches=3,
        low_confidence_matches=2,
        total_processing_time=6.75,
    )
    expected["errors_by_type"]["TimeoutError"] = 1
    assert counters(read_json(stats_path)) == expected  # ...but the file gets only the news


def test_save_writes_atomically_and_leaves_no_temp_files(stats_path):
    s = SyncStats()
    for _ in range(5):
        s.record_success(0.1)
        s.save_to_file(stats_path)
    leftovers = [p.name for p in stats_path.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    assert list(read_json(stats_path)) == KEY_ORDER


# == 3. real processes ============================================================================


@pytest.mark.slow
def test_concurrent_processes_lose_nothing_and_never_tear_the_file(tmp_path):
    """4 writer processes x 25 saves on one file, and a reader polling it all along."""
    stats = tmp_path / "stats.json"
    go, stop = tmp_path / "go", tmp_path / "stop"
    ctx = multiprocessing.get_context("fork")
    outs = [tmp_path / f"writer{n}.json" for n in range(4)]
    writers = [
        ctx.Process(
            target=helpers_recording.run,
            args=("writer", str(out), stats, go, seed, 25, seed % 2 == 1),
        )
        for seed, out in enumerate(outs, start=1)
    ]
    reader_out = tmp_path / "reader.json"
    reader = ctx.Process(
        target=helpers_recording.run, args=("reader", str(reader_out), stats, go, stop)
    )
    procs = [*writers, reader]
    try:
        for proc in procs:
            proc.start()
        go.touch()
        for proc in writers:
            proc.join(timeout=60)
            assert proc.exitcode == 0
        stop.touch()
        reader.join(timeout=60)
        assert reader.exitcode == 0
    finally:
        stop.touch()
        for proc in procs:
            if proc.is_alive():
                proc.kill()
                proc.join()
    results = [json.loads(out.read_text()) for out in outs]
    seen = json.loads(reader_out.read_text())

    expected = zero_counters()
    for r in results:
        for key in (*COUNTER_FIELDS, "total_processing_time"):
            expected[key] += r[key]
        for k, v in r["errors_by_type"].items():
            expected["errors_by_type"][k] = expected["errors_by_type"].get(k, 0) + v
    on_disk = read_json(stats)
    assert counters(on_disk) == expected
    check_invariants(on_disk)
    assert expected["jobs_processed"] >= 100  # 4 processes x 25 saves x >= 1 event

    assert seen["problems"] == []
    assert seen["reads"] > 0
    assert seen["distinct"] >= 2  # the reader really overlapped the writers
    assert not list(tmp_path.glob("stats.json.corrupt-*"))
    assert not list(tmp_path.glob("*.tmp"))


# == 4. torn and implausible files ================================================================

BAD_FILES = [
    pytest.param(b"", "is empty", id="empty"),
    pytest.param(b"  \n\t", "is empty", id="whitespace"),
    pytest.param(b'{"jobs_processed": 12, "jobs_succ', "not valid JSON", id="truncated"),
    pytest.param(b"\xff\xfe\x00garbage", "not valid JSON", id="binary"),
    pytest.param(b"[1, 2, 3]", "expected a JSON object, found list", id="array"),
    pytest.param(b'"stats"', "expected a JSON object, found str", id="string"),
    pytest.param(b'{"jobs_processed": 5, "jobs_failed": -3}', "jobs_failed is negative", id="neg"),
    pytest.param(
        b'{"jobs_processed": 10000001}', "jobs_processed=10000001 is above", id="above-ceiling"
    ),
    pytest.param(b'{"jobs_processed": 1e32}', "above the sanity ceiling", id="inflated-1e32"),
    pytest.param(
        b'{"jobs_processed": 100000000000000000000000000000000}', "above the sanity", id="1e32-int"
    ),
    pytest.param(b'{"jobs_processed": "12"}', "jobs_processed must be an integer", id="str-count"),
    pytest.param(b'{"jobs_processed": true}', "jobs_processed must be an integer", id="bool"),
    pytest.param(b'{"total_processing_time": NaN}', "total_processing_time must be", id="nan"),
    pytest.param(b'{"total_processing_time": Infinity}', "total_processing_time", id="inf"),
    pytest.param(b'{"errors_by_type": {"X": -1}}', "errors_by_type['X'] is negative", id="neg-err"),
    pytest.param(b'{"errors_by_type": [1]}', "errors_by_type must be an object", id="err-list"),
]


def corrupt_copies(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.corrupt-*"))


@pytest.mark.parametrize(("content", "problem"), BAD_FILES)
def test_load_sets_a_bad_file_aside_and_starts_fresh(stats_path, content, problem):
    stats_path.parent.mkdir(parents=True)
    stats_path.write_bytes(content)
    with pytest.warns(CorruptStatsWarning) as record:
        s = SyncStats.load_from_file(stats_path)
    assert counters(s) == zero_counters()
    assert s.extra == {}
    assert len(record) == 1
    message = str(record[0].message)
    assert problem in message
    assert str(stats_path) in message
    assert not stats_path.exists()
    (kept,) = corrupt_copies(stats_path)
    assert kept.parent == stats_path.parent
    assert kept.name in message
    assert kept.read_bytes() == content
    # Saving afterwards writes only what was recorded.
    s.record_success(0.5)
    s.save_to_file(stats_path)
    assert read_json(stats_path)["jobs_processed"] == 1
    assert kept.read_bytes() == content


@pytest.mark.parametrize(("content", "problem"), BAD_FILES)
def test_save_over_a_bad_file_sets_it_aside_and_writes_only_unsaved_counts(
    stats_path, content, problem
):
    stats_path.parent.mkdir(parents=True)
    stats_path.write_text(json.dumps({"jobs_processed": 40, "jobs_succeeded": 40}))
    s = SyncStats.load_from_file(stats_path)  # a baseline of 40 already on disk
    expected = record_sample(s)
    stats_path.write_bytes(content)  # the file goes bad behind our back
    with pytest.warns(CorruptStatsWarning, match="Starting fresh") as record:
        s.save_to_file(stats_path)
    assert problem in str(record[0].message)
    on_disk = read_json(stats_path)
    assert counters(on_disk) == expected
    check_invariants(on_disk)
    (kept,) = corrupt_copies(stats_path)
    assert kept.read_bytes() == content


def test_ceiling_itself_is_plausible(stats_path):
    stats_path.parent.mkdir(parents=True)
    stats_path.write_text(json.dumps({"jobs_processed": SANITY_CEILING}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert SyncStats.load_from_file(stats_path).jobs_processed == SANITY_CEILING
    assert corrupt_copies(stats_path) == []


def test_custom_ceiling(stats_path):
    stats_path.parent.mkdir(parents=True)
    stats_path.write_text(json.dumps({"jobs_processed": 11, "jobs_succeeded": 11}))
    with pytest.warns(CorruptStatsWarning, match="ceiling 10"):
        assert SyncStats.load_from_file(stats_path, ceiling=10).jobs_processed == 0


def test_two_bad_files_are_both_kept(stats_path):
    stats_path.parent.mkdir(parents=True)
    for content in (b"{torn", b"[]"):
        stats_path.write_bytes(content)
        with pytest.warns(CorruptStatsWarning):
            SyncStats.load_from_file(stats_path)
    kept = corrupt_copies(stats_path)
    assert len(kept) == 2
    assert sorted(p.read_bytes() for p in kept) == [b"[]", b"{torn"]


def test_missing_file_gives_fresh_stats_without_warning(stats_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = SyncStats.load_from_file(stats_path)
    assert counters(s) == zero_counters()
    assert not stats_path.exists()
    assert not stats_path.parent.exists()  # loading creates nothing


def test_save_creates_missing_directories(tmp_path):
    path = tmp_path / "a" / "b" / "stats.json"
    s = SyncStats()
    s.record_success(0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.save_to_file(path)
    assert read_json(path)["jobs_processed"] == 1


def test_valid_file_loads_without_warning(stats_path):
    s = SyncStats(session_start=1_790_812_923.0)
    expected = record_sample(s)
    s.save_to_file(stats_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = SyncStats.load_from_file(stats_path)
    assert counters(loaded) == expected
    assert loaded.session_start == 1_790_812_923.0
    assert corrupt_copies(stats_path) == []


# == 5. session_start, unknown keys, missing keys ==================================================


def test_session_start_of_the_file_is_preserved(stats_path):
    first = SyncStats(session_start=1_790_001_000.0)
    first.record_success(0.5)
    first.save_to_file(stats_path)
    later = SyncStats(session_start=1_790_002_000.0)
    later.record_failure("X", 0.5)
    later.save_to_file(stats_path)
    on_disk = read_json(stats_path)
    assert on_disk["session_start"] == 1_790_001_000.0
    assert on_disk["jobs_processed"] == 2
    assert later.session_start == 1_790_001_000.0  # the instance adopts the file's start
    assert SyncStats.load_from_file(stats_path).session_start == 1_790_001_000.0


def test_file_without_session_start_takes_the_instances(stats_path):
    stats_path.parent.mkdir(parents=True)
    stats_path.write_text(json.dumps({"jobs_processed": 1, "jobs_succeeded": 1}))
    s = SyncStats(session_start=1_790_001_500.0)
    s.record_success(0.5)
    s.save_to_file(stats_path)
    on_disk = read_json(stats_path)
    assert on_disk["session_start"] == 1_790_001_500.0
    assert on_disk["jobs_processed"] == 2


def test_unknown_keys_survive_a_round_trip(stats_path):
    extras = {"worker_version": "2.1.0", "jobs_skipped": 7, "nested": {"a": [1, 2]}}
    stats_path.parent.mkdir(parents=True)
    stats_path.write_text(json.dumps({"jobs_processed": 1, "jobs_succeeded": 1, **extras}))
    s = SyncStats.load_from_file(stats_path)
    assert s.extra == extras
    s.record_success(0.5, confidence="low")
    s.save_to_file(stats_path)
    on_disk = read_json(stats_path)
    assert {k: on_disk[k] for k in extras} == extras
    assert list(on_disk)[: len(KEY_ORDER)] == KEY_ORDER
    assert on_disk["jobs_processed"] == 2
    # A fresh instance saving into the file keeps them too.
    other = SyncStats()
    other.record_failure("X", 0.5)
    other.save_to_file(stats_path)
    assert {k: read_json(stats_path)[k] for k in extras} == extras


def test_missing_keys_mean_zero_and_are_written_back(stats_path):
    stats_path.parent.mkdir(parents=True)
    stats_path.write_text(json.dumps({"jobs_processed": 2, "jobs_succeeded": 2}))
    s = SyncStats.load_from_file(stats_path)
    assert (s.jobs_failed, s.jobs_to_dlq, s.high_confidence_matches) == (0, 0, 0)
    assert s.errors_by_type == {}
    assert s.total_processing_time == 0.0
    s.record_failure("PlexNotFound", 0.5)
    s.save_to_file(stats_path)
    on_disk = read_json(stats_path)
    assert list(on_disk) == KEY_ORDER
    assert counters(on_disk) == {
        **zero_counters(),
        "jobs_processed": 3,
        "jobs_succeeded": 2,
        "jobs_failed": 1,
        "total_processing_time": 0.5,
        "errors_by_type": {"PlexNotFound": 1},
    }


def test_null_errors_by_type_means_none(stats_path):
    stats_path.parent.mkdir(parents=True)
    stats_path.write_text('{"jobs_processed": 0, "errors_by_type": null}')
    assert SyncStats.load_from_file(stats_path).errors_by_type == {}


# == 6. property tests =============================================================================

ERROR_TYPES = ("PlexNotFound", "PlexTemporaryError", "TimeoutError")
TIMES = st.sampled_from((0.0, 0.25, 0.5, 1.0, 2.5))  # exact in binary: sums compare exactly
INDEX = st.integers(0, 15)
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("success"), INDEX, st.sampled_from(("high", "low")), TIMES),
        st.tuples(st.just("failure"), INDEX, st.sampled_from(ERROR_TYPES), st.booleans(), TIMES),
        st.tuples(st.just("save"), INDEX),
        st.tuples(st.just("load")),
        st.tuples(st.just("new")),
        st.tuples(st.just("merge"), INDEX, INDEX),
    ),
    max_size=40,
)


class Tally:
    """The model: counters as plain numbers."""

    def __init__(self, data: dict | None = None):
        self.c = copy.deepcopy(data) if data is not None else zero_counters()

    def __add__(self, other: Tally) -> Tally:
        out = Tally(self.c)
        for key in (*COUNTER_FIELDS, "total_processing_time"):
            out.c[key] += other.c[key]
        for k, v in other.c["errors_by_type"].items():
            out.c["errors_by_type"][k] = out.c["errors_by_type"].get(k, 0) + v
        return out

    @classmethod
    def success(cls, confidence: str, seconds: float) -> Tally:
        t = cls()
        t.c.update(jobs_processed=1, jobs_succeeded=1, total_processing_time=seconds)
        t.c[f"{confidence}_confidence_matches"] = 1
        return t

    @classmethod
    def failure(cls, error_type: str, to_dlq: bool, seconds: float) -> Tally:
        t = cls()
        t.c.update(jobs_processed=1, jobs_failed=1, total_processing_time=seconds)
        t.c["jobs_to_dlq"] = int(to_dlq)
        t.c["errors_by_type"] = {error_type: 1}
        return t


def run_operations(path: Path, ops: list[tuple]) -> None:
    # Each pool entry: [instance, model of its counters, model of its unsaved counts]
    pool: list[list] = [[SyncStats(), Tally(), Tally()]]
    file_model: Tally | None = None
    for op in ops:
        kind = op[0]
        if kind == "success":
            entry = pool[op[1] % len(pool)]
            entry[0].record_success(op[3], confidence=op[2])
            event = Tally.success(op[2], op[3])
            entry[1], entry[2] = entry[1] + event, entry[2] + event
        elif kind == "failure":
            entry = pool[op[1] % len(pool)]
            entry[0].record_failure(op[2], op[4], to_dlq=op[3])
            event = Tally.failure(op[2], op[3], op[4])
            entry[1], entry[2] = entry[1] + event, entry[2] + event
        elif kind == "save":
            entry = pool[op[1] % len(pool)]
            entry[0].save_to_file(path)
            file_model = (file_model or Tally()) + entry[2]
            entry[2] = Tally()
            assert entry[0].session_start == read_json(path)["session_start"]
        elif kind == "load":
            inst = SyncStats.load_from_file(path)
            pool.append([inst, Tally((file_model or Tally()).c), Tally()])
        elif kind == "new":
            pool.append([SyncStats(), Tally(), Tally()])
        elif kind == "merge" and len(pool) >= 2:
            i = op[1] % len(pool)
            j = (i + 1 + op[2] % (len(pool) - 1)) % len(pool)
            (a, ma, pa), (b, mb, pb) = pool[i], pool[j]
            before = (a.to_dict(), b.to_dict())
            merged = a + b
            assert (a.to_dict(), b.to_dict()) == before
            assert merged.session_start == min(a.session_start, b.session_start)
            pool = [e for k, e in enumerate(pool) if k not in (i, j)]  # discard the parts
            pool.append([merged, ma + mb, pa + pb])

        for inst, model, unsaved in pool:
            check_invariants(inst)
            assert counters(inst) == model.c
            assert counters(inst.unsaved()) == unsaved.c
        if file_model is None:
            assert not path.exists()
        else:
            on_disk = read_json(path)
            check_invariants(on_disk)
            assert counters(on_disk) == file_model.c

    final = SyncStats.load_from_file(path)
    assert counters(final) == (file_model or Tally()).c


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPERATIONS)
def test_any_operation_sequence_keeps_invariants_and_exact_totals(ops):
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorruptStatsWarning)  # never a quarantine here
        with tempfile.TemporaryDirectory() as tmp:
            run_operations(Path(tmp) / "stats.json", ops)


def test_model_catches_a_double_counting_save(tmp_path, monkeypatch):
    """The property harness is not vacuous: a save that re-adds the baseline is caught."""
    from syncstats.recording import stats as stats_module

    real_sub = stats_module._sub_values
    monkeypatch.setattr(stats_module, "_sub_values", lambda a, b: real_sub(a, Tally().c))
    ops = [("success", 0, "high", 0.5), ("save", 0), ("save", 0)]
    with pytest.raises(AssertionError):
        run_operations(tmp_path / "stats.json", ops)


@settings(max_examples=100, deadline=None)
@given(
    data=st.fixed_dictionaries(
        {},
        optional={
            **{k: st.integers(0, SANITY_CEILING) for k in COUNTER_FIELDS},
            "total_processing_time": st.floats(0, 1e9, allow_nan=False),
            "session_start": st.floats(946_684_800, 4_102_444_799, allow_nan=False),
            "errors_by_type": st.dictionaries(
                st.sampled_from(ERROR_TYPES), st.integers(0, SANITY_CEILING), max_size=3
            ),
            "some_future_key": st.text(max_size=5),
        },
    )
)
def test_any_plausible_dict_round_trips(data):
    s = SyncStats.from_dict(data)
    out = s.to_dict()
    for key, value in data.items():
        assert out[key] == value
    assert SyncStats.from_dict(out) == s


def test_deleted_file_starts_a_new_session(tmp_path):
    """A file deleted under a running worker restarts counting with a new session_start,
    so readers see the reset; only the counts since the last save are in the new file."""
    path = tmp_path / "stats.json"
    s = SyncStats(session_start=1_790_000_100.0)
    s.record_success(0.1)
    s.save_to_file(path)
    assert json.loads(path.read_text())["session_start"] == 1_790_000_100.0
    path.unlink()
    s.record_failure("PlexNotFound", 0.2)
    s.save_to_file(path, now=1_790_000_500.0)
    on_disk = json.loads(path.read_text())
    assert on_disk["session_start"] == 1_790_000_500.0
    assert (on_disk["jobs_processed"], on_disk["jobs_failed"]) == (1, 1)
    assert s.session_start == 1_790_000_500.0


def test_fresh_instance_keeps_its_own_session_start(tmp_path):
    path = tmp_path / "stats.json"
    s = SyncStats(session_start=1_790_000_123.0)
    s.record_success(0.1)
    s.save_to_file(path, now=1_790_000_999.0)
    assert json.loads(path.read_text())["session_start"] == 1_790_000_123.0


def test_replacement_keeps_the_file_mode(tmp_path):
    path = tmp_path / "stats.json"
    SyncStats(session_start=1_790_812_800.0).save_to_file(path)
    os.chmod(path, 0o640)
    s = SyncStats.load_from_file(path)
    s.record_success(0.1)
    s.save_to_file(path)
    assert path.stat().st_mode & 0o777 == 0o640


def test_save_removes_temporaries_of_killed_savers(tmp_path):
    path = tmp_path / "stats.json"
    stale = tmp_path / ".stats.json.abc123.tmp"  # what a saver killed before os.replace leaves
    stale.write_text('{"jobs_proc')
    other = tmp_path / ".other.json.abc123.tmp"
    other.write_text("x")
    s = SyncStats(session_start=1_790_000_001.0)
    s.record_success(0.1)
    s.save_to_file(path)
    assert not stale.exists() and other.exists()
    assert json.loads(path.read_text())["jobs_processed"] == 1


# == 7. get_estimated_timeout (the worker's queue-drain timeout) ================================
# Expected values are worked out by hand from the worker's rule: per_item = avg with >= 5
# attempts, w*avg + (1-w)*2.0 with w = n/5 for 1-4, 2.0 with none; then
# item_count * per_item * buffer_factor, clamped to [min_timeout, max_timeout].


def test_default_time_per_item_is_a_class_attribute_of_two_seconds():
    assert SyncStats.DEFAULT_TIME_PER_ITEM == 2.0
    assert SyncStats().DEFAULT_TIME_PER_ITEM == 2.0
    assert "DEFAULT_TIME_PER_ITEM" not in SyncStats().to_dict()  # not a counter of the file


def test_estimated_timeout_with_no_jobs_uses_the_default():
    # 0 jobs: 2.0 s/item; 40 items * 2.0 * 1.5 = 120.0 (inside 30..600)
    assert SyncStats().get_estimated_timeout(40) == 120.0


def test_estimated_timeout_with_three_jobs_blends_measured_and_default():
    s = SyncStats()
    for seconds in (0.5, 1.0, 1.5):  # avg 3.0 / 3 = 1.0 s
        s.record_success(seconds)
    # w = 3/5 = 0.6; per_item = 0.6 * 1.0 + 0.4 * 2.0 = 1.4; 100 * 1.4 * 1.5 = 210.0
    # (the measured average alone would give 150.0, the default alone 300.0)
    assert s.get_estimated_timeout(100) == pytest.approx(210.0, rel=1e-12)


def test_estimated_timeout_with_four_jobs_blends():
    s = SyncStats()
    for _ in range(4):
        s.record_success(1.0)
    # w = 0.8; per_item = 0.8 * 1.0 + 0.2 * 2.0 = 1.2; 100 * 1.2 * 1.5 = 180.0
    assert s.get_estimated_timeout(100) == pytest.approx(180.0, rel=1e-12)


def test_estimated_timeout_from_five_jobs_uses_the_measured_average():
    five = SyncStats()
    for _ in range(5):
        five.record_success(1.0)
    # 5 jobs, avg 1.0: 100 * 1.0 * 1.5 = 150.0 (no blend from 5 on)
    assert five.get_estimated_timeout(100) == 150.0
    ten = SyncStats()
    for _ in range(8):
        ten.record_success(0.25)
    ten.record_failure("PlexNotFound", 1.5)  # failures' time counts too
    ten.record_failure("PlexNotFound", 1.5)
    # 10 attempts, 8 * 0.25 + 2 * 1.5 = 5.0 s, avg 0.5; 100 * 0.5 * 1.5 = 75.0
    assert ten.get_estimated_timeout(100) == 75.0


def test_estimated_timeout_is_clamped_at_both_ends():
    s = SyncStats()
    assert s.get_estimated_timeout(5) == 30.0  # 5 * 2.0 * 1.5 = 15.0 -> raised to 30.0
    assert s.get_estimated_timeout(0) == 30.0  # 0 -> 30.0
    assert s.get_estimated_timeout(1000) == 600.0  # 3000.0 -> cut to 600.0
    assert s.get_estimated_timeout(200) == 600.0  # exactly 600.0 -> 600.0
    assert s.get_estimated_timeout(5, min_timeout=10.0) == 15.0  # 15.0 within 10..600
    assert s.get_estimated_timeout(1000, max_timeout=1000.0) == 1000.0  # 3000.0 -> 1000.0
    assert s.get_estimated_timeout(40, buffer_factor=1.0) == 80.0  # 40 * 2.0 * 1.0
    assert s.get_estimated_timeout(40, 2.0, 0.0, 100.0) == 100.0  # positional, as the worker's


def test_estimated_timeout_uses_the_instances_default():
    s = SyncStats(DEFAULT_TIME_PER_ITEM=4.0)
    assert s.get_estimated_timeout(20) == 120.0  # 20 * 4.0 * 1.5
    s.record_success(1.0)
    # w = 0.2; per_item = 0.2 * 1.0 + 0.8 * 4.0 = 3.4; 20 * 3.4 * 1.5 = 102.0
    assert s.get_estimated_timeout(20) == pytest.approx(102.0, rel=1e-12)


def worker_formula(n: int, total: float, default: float, items: int) -> float:
    """The worker's get_estimated_timeout, transcribed (defaults 1.5, 30.0, 600.0)."""
    avg = total / n if n else 0.0
    if n >= 5:
        per = avg
    elif n > 0:
        w = n / 5.0
        per = (w * avg) + ((1 - w) * default)
    else:
        per = default
    return max(30.0, min(items * per * 1.5, 600.0))


@settings(max_examples=200, deadline=None)
@given(
    times=st.lists(st.floats(0, 50, allow_nan=False), max_size=9),
    items=st.integers(0, 500),
    default=st.floats(0.01, 10),
)
def test_estimated_timeout_is_bit_identical_to_the_worker(times, items, default):
    s = SyncStats(DEFAULT_TIME_PER_ITEM=default)
    for t in times:
        s.record_success(t)
    expected = worker_formula(len(times), s.total_processing_time, default, items)
    assert s.get_estimated_timeout(items) == expected


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((-1,), {}, "item_count must be a non-negative integer"),
        ((1.5,), {}, "item_count"),
        (("3",), {}, "item_count"),
        ((True,), {}, "item_count"),
        ((None,), {}, "item_count"),
        ((10,), {"buffer_factor": math.nan}, "buffer_factor must be a finite number"),
        ((10,), {"buffer_factor": -1.0}, "buffer_factor is negative"),
        ((10,), {"min_timeout": math.inf}, "min_timeout"),
        ((10,), {"max_timeout": "600"}, "max_timeout"),
        ((10,), {"min_timeout": 60.0, "max_timeout": 30.0}, "must not exceed max_timeout"),
    ],
)
def test_estimated_timeout_refuses_what_is_not_an_estimate(args, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        SyncStats().get_estimated_timeout(*args, **kwargs)


def test_fields_are_keyword_only():
    # The worker's positional order differs between its releases (see test_stats_worker.py).
    with pytest.raises(TypeError):
        SyncStats(5)  # type: ignore[misc]
    assert SyncStats(jobs_processed=5).jobs_processed == 5


@pytest.mark.parametrize("confidence", ["HIGH", "Low", " high"])
def test_confidence_is_exact(confidence):
    # The worker counts "HIGH" as low; lower-casing would count it high: refused instead.
    s = SyncStats()
    with pytest.raises(ParameterError, match="confidence must be 'high' or 'low'"):
        s.record_success(0.1, confidence=confidence)
    assert counters(s) == zero_counters()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"session_start": 1e11}, "session_start=100000000000.0 is not a plausible epoch time"),
        # the readers' window: 2000-01-01 up to 2100-01-01 UTC
        ({"session_start": 0}, "session_start=0 is not a plausible epoch time"),
        ({"session_start": 946684799}, "session_start=946684799 is not a plausible epoch time"),
        ({"session_start": 4102444800}, "session_start=4102444800 is not a plausible epoch"),
        ({"session_start": 10**400}, "session_start must be a finite number, found 100000..."),
        ({"session_start": -1.0}, "session_start is negative"),
        ({"session_start": "2026-10-01"}, "session_start must be a number, found str"),
        ({"total_processing_time": 10**400}, "total_processing_time must be a finite number"),
        ({"jobs_processed": "x" * 500}, "jobs_processed must be an integer, found str 'xxx"),
    ],
)
def test_implausible_times_and_long_values_give_one_short_line(data, problem):
    with pytest.raises(ParameterError) as info:
        SyncStats.from_dict(data)
    message = str(info.value)
    assert problem in message
    assert "\n" not in message and len(message) < 200


def test_session_start_inside_the_window_is_kept():
    first = 946_684_800  # 2000-01-01T00:00:00Z, the first plausible time
    assert SyncStats.from_dict({"session_start": first}).session_start == first
    last = 4_102_444_799.5  # just before 2100-01-01T00:00:00Z
    assert SyncStats.from_dict({"session_start": last}).session_start == last
