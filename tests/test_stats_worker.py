"""``syncstats.SyncStats`` as a drop-in for the worker's own ``worker.stats.SyncStats``.

Two parts:

1. The worker's public members in every released version (hard-coded below from the
   worker's source) exist on ours with a compatible signature.
2. The worker's own tests (tests/worker/test_stats.py of trek-e/Stash2Plex), ported
   assertion by assertion against ``syncstats.SyncStats``. They were read, not imported:
   nothing of the worker's code runs here. Where ours deliberately differs (a corrupt file
   is set aside with a warning instead of silently ignored) the port says so and checks
   our behaviour in addition to the worker's assertions.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import time
from typing import Any

import pytest

from syncstats import CorruptStatsWarning, SyncStats

# == 1. public members and signatures ===========================================================
#
# worker/stats.py of trek-e/Stash2Plex has four released versions (blob, first commit, tags):
#   c102e19  d9fbf1a  v1.1 .. v1.1.6    the class as the design note describes it; save
#                                       merges the file into the instance (the doubling bug)
#   a397582  d9f875c  v1.2.0 .. v1.2.5  + DEFAULT_TIME_PER_ITEM: float = 2.0, which is a
#                                       dataclass *field* (annotated, first), and
#                                       get_estimated_timeout(...)
#   20bc5d7  effb220  v1.2.6 .. v1.3.1  save overwrites the file with the instance (fix)
#   89f249a  a0b3de0  v1.3.2 .. v1.6.14 atomic save (temp + os.replace), load refuses
#                                       counters < 0 or > 10,000,000; + _MAX_SANE_VALUE
#                                       (private). Unchanged up to HEAD ee39ad2.
# Public members never changed signature after they appeared. The worker calls
# SyncStats(), SyncStats.load_from_file(path), record_success(elapsed, confidence=...),
# record_failure(type(e).__name__, elapsed, to_dlq=...), save_to_file(path),
# get_estimated_timeout(n), and reads the fields, success_rate, avg_processing_time and
# DEFAULT_TIME_PER_ITEM (worker/processor.py, Stash2Plex.py).

REQUIRED = inspect.Parameter.empty
FACTORY = object()  # a field whose default comes from a default_factory

COUNTER_FIELDS_V1_1 = [
    ("jobs_processed", 0),
    ("jobs_succeeded", 0),
    ("jobs_failed", 0),
    ("jobs_to_dlq", 0),
    ("total_processing_time", 0.0),
    ("session_start", FACTORY),  # time.time() at creation
    ("errors_by_type", FACTORY),  # {}
    ("high_confidence_matches", 0),
    ("low_confidence_matches", 0),
]
#: dataclass fields (__init__ parameters) in declaration order, per version
WORKER_FIELDS = {
    "v1.1": COUNTER_FIELDS_V1_1,
    "v1.2.0": [("DEFAULT_TIME_PER_ITEM", 2.0), *COUNTER_FIELDS_V1_1],
    "v1.2.6": [("DEFAULT_TIME_PER_ITEM", 2.0), *COUNTER_FIELDS_V1_1],
    "v1.3.2": [("DEFAULT_TIME_PER_ITEM", 2.0), *COUNTER_FIELDS_V1_1],
}
_V1_1_METHODS: dict[str, tuple[str, list[tuple[str, Any]] | None]] = {
    "record_success": ("method", [("processing_time", REQUIRED), ("confidence", "high")]),
    "record_failure": (
        "method",
        [("error_type", REQUIRED), ("processing_time", REQUIRED), ("to_dlq", False)],
    ),
    "success_rate": ("property", None),
    "avg_processing_time": ("property", None),
    "to_dict": ("method", []),
    "save_to_file": ("method", [("filepath", REQUIRED)]),
    "load_from_file": ("classmethod", [("filepath", REQUIRED)]),
}
_V1_2_METHODS = {
    **_V1_1_METHODS,
    "get_estimated_timeout": (
        "method",
        [
            ("item_count", REQUIRED),
            ("buffer_factor", 1.5),
            ("min_timeout", 30.0),
            ("max_timeout", 600.0),
        ],
    ),
}
WORKER_METHODS = {
    "v1.1": _V1_1_METHODS,
    "v1.2.0": _V1_2_METHODS,
    "v1.2.6": _V1_2_METHODS,
    "v1.3.2": _V1_2_METHODS,
}
#: class attributes readable on the class itself
WORKER_CLASS_ATTRIBUTES = {"v1.2.0": {"DEFAULT_TIME_PER_ITEM": 2.0}}


def _same_default(ours: Any, theirs: Any) -> bool:
    return type(ours) is type(theirs) and ours == theirs


def method_problems(cls: type, name: str, kind: str, params: list | None) -> list[str]:
    """Why *cls* would not accept every call the worker's member *name* accepts."""
    static = inspect.getattr_static(cls, name, None)
    if static is None:
        return [f"{name}: missing"]
    if kind == "property":
        return [] if isinstance(static, property) else [f"{name}: not a property"]
    if kind == "classmethod" and not isinstance(static, classmethod):
        return [f"{name}: not a classmethod"]
    if kind == "method" and not inspect.isfunction(static):
        return [f"{name}: not an instance method"]
    ours = list(inspect.signature(getattr(cls, name)).parameters.values())
    if kind == "method":
        ours = ours[1:]  # self
    problems = []
    for i, (pname, default) in enumerate(params or []):
        if i >= len(ours) or ours[i].name != pname:
            problems.append(f"{name}: parameter {i + 1} is not {pname!r}")
            continue
        p = ours[i]
        if p.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD:
            problems.append(f"{name}: {pname!r} cannot be passed by position and by name")
        if default is not REQUIRED and not _same_default(p.default, default):
            problems.append(f"{name}: {pname!r} defaults to {p.default!r}, not {default!r}")
    for p in ours[len(params or []):]:
        if p.default is REQUIRED and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            problems.append(f"{name}: extra parameter {p.name!r} is required")
    return problems


def field_problems(cls: type, fields: list[tuple[str, Any]]) -> list[str]:
    """Why ``cls(**kwargs)`` would not accept the worker's fields by name with its defaults.

    Positional construction is deliberately not offered (the worker's order changed in
    v1.2.0); the field order is checked so that repr() lists the fields as the worker's.
    """
    if not dataclasses.is_dataclass(cls):
        return ["not a dataclass"]
    ours = {f.name: f for f in dataclasses.fields(cls)}
    params = inspect.signature(cls).parameters
    problems = []
    for name, default in fields:
        if name not in ours or name not in params:
            problems.append(f"field {name}: missing")
            continue
        if params[name].kind not in (params[name].KEYWORD_ONLY, params[name].POSITIONAL_OR_KEYWORD):
            problems.append(f"field {name}: not accepted by name")
        f = ours[name]
        if default is FACTORY:
            if f.default_factory is dataclasses.MISSING:
                problems.append(f"field {name}: no default factory")
        elif not _same_default(f.default, default):
            problems.append(f"field {name}: defaults to {f.default!r}, not {default!r}")
    order = [n for n in ours if n in dict(fields)]
    if order != [n for n, _ in fields if n in ours]:
        problems.append(f"fields in another order: {order}")
    return problems


def incompatibilities(cls: type, version: str) -> list[str]:
    problems = field_problems(cls, WORKER_FIELDS[version])
    for name, (kind, params) in WORKER_METHODS[version].items():
        problems += method_problems(cls, name, kind, params)
    for v, attrs in WORKER_CLASS_ATTRIBUTES.items():
        if list(WORKER_FIELDS).index(version) >= list(WORKER_FIELDS).index(v):
            for name, value in attrs.items():
                if not _same_default(getattr(cls, name, None), value):
                    problems.append(f"class attribute {name} is not {value!r}")
    return problems


@pytest.mark.parametrize("version", list(WORKER_FIELDS))
def test_every_public_member_of_every_worker_version_is_offered(version):
    assert incompatibilities(SyncStats, version) == []


def test_the_member_check_catches_incompatible_classes():
    """The check above can fail: each kind of incompatibility is reported."""

    class Broken(SyncStats):
        success_rate = 0.0  # not a property

        def record_success(self, processing_time):  # confidence dropped
            pass

        def to_dict(self, full):  # a new required parameter
            return {}

        def get_estimated_timeout(self, item_count, buffer_factor=1.5, min_timeout=30,
                                  max_timeout=300.0):  # other defaults (30 is an int)
            return 0.0

        @staticmethod
        def load_from_file(path):  # not a classmethod
            return SyncStats()

    assert sorted(incompatibilities(Broken, "v1.3.2")) == sorted([
        "success_rate: not a property",
        "record_success: parameter 2 is not 'confidence'",
        "to_dict: extra parameter 'full' is required",
        "get_estimated_timeout: 'min_timeout' defaults to 30, not 30.0",
        "get_estimated_timeout: 'max_timeout' defaults to 300.0, not 600.0",
        "load_from_file: not a classmethod",
    ])

    @dataclasses.dataclass
    class Fields:
        jobs_succeeded: int = 0
        jobs_processed: int = 1

    problems = field_problems(Fields, COUNTER_FIELDS_V1_1[:3])
    assert "field jobs_processed: defaults to 1, not 0" in problems
    assert "field jobs_failed: missing" in problems
    assert "fields in another order: ['jobs_succeeded', 'jobs_processed']" in problems
    assert "class attribute DEFAULT_TIME_PER_ITEM is not 2.0" in incompatibilities(
        type("NoDefault", (Fields,), {}), "v1.2.0"
    )


def test_repr_lists_the_fields_in_the_workers_order():
    text = repr(SyncStats(session_start=1.0))
    names = [part.split("=")[0] for part in text[len("SyncStats("):-1].split(", ")]
    assert names == [n for n, _ in WORKER_FIELDS["v1.3.2"]]


def test_worker_call_sites_work_as_written(tmp_path):
    """The calls of worker/processor.py and Stash2Plex.py, with the values they pass."""
    data_dir = str(tmp_path)
    stats_path = os.path.join(data_dir, "stats.json")
    stats = SyncStats.load_from_file(stats_path)
    start = time.perf_counter()
    confidence = None  # _process_job returns 'high', 'low' or None
    stats.record_success(time.perf_counter() - start, confidence=confidence or "high")
    stats.record_success(time.perf_counter() - start, confidence="low")
    stats.record_failure(type(KeyError()).__name__, time.perf_counter() - start, to_dlq=True)
    stats.save_to_file(stats_path)
    line = (f"Sync summary: {stats.jobs_succeeded}/{stats.jobs_processed} succeeded "
            f"({stats.success_rate:.1f}%), avg {stats.avg_processing_time*1000:.0f}ms, "
            f"confidence: {stats.high_confidence_matches} high / "
            f"{stats.low_confidence_matches} low")
    assert line.startswith("Sync summary: 2/3 succeeded (66.7%), avg ")
    assert line.endswith("confidence: 1 high / 1 low")
    payload = {"to_dlq": stats.jobs_to_dlq, "errors_by_type": stats.errors_by_type,
               "avg_time_ms": int(stats.avg_processing_time * 1000)}
    assert json.loads(json.dumps(payload))["errors_by_type"] == {"KeyError": 1}
    loaded = SyncStats.load_from_file(stats_path)
    max_wait = loaded.get_estimated_timeout(3)
    time_per_item = (loaded.avg_processing_time if loaded.jobs_processed >= 5
                     else loaded.DEFAULT_TIME_PER_ITEM)
    assert time_per_item == 2.0
    assert max_wait == 30.0  # 3 attempts, ~0 s each: w = 0.6, 3 * ~0.8 * 1.5 ~ 3.6 -> 30.0


# == 2. the worker's tests, ported ==============================================================
# From tests/worker/test_stats.py at HEAD ee39ad2 (last changed in a0b3de0); the three save
# tests that v1.1 (d9fbf1a) wrote differently (a fresh instance saved into an existing
# file) are ported as well, since v1.1 callers relied on that too.


@pytest.fixture
def stats():
    return SyncStats()


@pytest.fixture
def stats_file(tmp_path):
    return str(tmp_path / "stats.json")


def read(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


class TestSyncStatsRecordSuccess:
    def test_record_success_increments_jobs_processed(self, stats):
        assert stats.jobs_processed == 0
        stats.record_success(0.5)
        assert stats.jobs_processed == 1

    def test_record_success_increments_jobs_succeeded(self, stats):
        assert stats.jobs_succeeded == 0
        stats.record_success(0.5)
        assert stats.jobs_succeeded == 1

    def test_record_success_adds_processing_time(self, stats):
        stats.record_success(0.5)
        stats.record_success(1.2)
        assert stats.total_processing_time == pytest.approx(1.7, rel=1e-6)

    def test_record_success_tracks_high_confidence(self, stats):
        stats.record_success(0.5, confidence="high")
        assert stats.high_confidence_matches == 1
        assert stats.low_confidence_matches == 0

    def test_record_success_tracks_low_confidence(self, stats):
        stats.record_success(0.5, confidence="low")
        assert stats.low_confidence_matches == 1
        assert stats.high_confidence_matches == 0

    def test_record_success_default_high_confidence(self, stats):
        stats.record_success(0.5)
        assert stats.high_confidence_matches == 1

    def test_record_success_multiple_calls(self, stats):
        stats.record_success(0.1, confidence="high")
        stats.record_success(0.2, confidence="low")
        stats.record_success(0.3, confidence="high")
        assert stats.jobs_processed == 3
        assert stats.jobs_succeeded == 3
        assert stats.high_confidence_matches == 2
        assert stats.low_confidence_matches == 1
        assert stats.total_processing_time == pytest.approx(0.6, rel=1e-6)


class TestSyncStatsRecordFailure:
    def test_record_failure_increments_jobs_processed(self, stats):
        stats.record_failure("TestError", 0.5)
        assert stats.jobs_processed == 1

    def test_record_failure_increments_jobs_failed(self, stats):
        stats.record_failure("TestError", 0.5)
        assert stats.jobs_failed == 1

    def test_record_failure_adds_processing_time(self, stats):
        stats.record_failure("TestError", 0.3)
        stats.record_failure("AnotherError", 0.7)
        assert stats.total_processing_time == pytest.approx(1.0, rel=1e-6)

    def test_record_failure_tracks_error_type(self, stats):
        stats.record_failure("PlexNotFound", 0.5)
        assert stats.errors_by_type == {"PlexNotFound": 1}

    def test_record_failure_accumulates_same_error_type(self, stats):
        stats.record_failure("PlexNotFound", 0.1)
        stats.record_failure("PlexNotFound", 0.2)
        stats.record_failure("PlexNotFound", 0.3)
        assert stats.errors_by_type == {"PlexNotFound": 3}

    def test_record_failure_tracks_multiple_error_types(self, stats):
        stats.record_failure("PlexNotFound", 0.1)
        stats.record_failure("PermanentError", 0.2)
        stats.record_failure("PlexNotFound", 0.3)
        stats.record_failure("TransientError", 0.4)
        assert stats.errors_by_type == {
            "PlexNotFound": 2,
            "PermanentError": 1,
            "TransientError": 1,
        }

    def test_record_failure_with_to_dlq_true(self, stats):
        stats.record_failure("PermanentError", 0.5, to_dlq=True)
        assert stats.jobs_to_dlq == 1
        assert stats.jobs_failed == 1

    def test_record_failure_with_to_dlq_false(self, stats):
        stats.record_failure("TransientError", 0.5, to_dlq=False)
        assert stats.jobs_to_dlq == 0
        assert stats.jobs_failed == 1

    def test_record_failure_to_dlq_default_false(self, stats):
        stats.record_failure("TestError", 0.5)
        assert stats.jobs_to_dlq == 0


class TestSyncStatsSuccessRate:
    def test_success_rate_zero_jobs(self, stats):
        assert stats.success_rate == 0.0

    def test_success_rate_all_success(self, stats):
        stats.record_success(0.1)
        stats.record_success(0.2)
        stats.record_success(0.3)
        assert stats.success_rate == 100.0

    def test_success_rate_all_failure(self, stats):
        stats.record_failure("Error1", 0.1)
        stats.record_failure("Error2", 0.2)
        assert stats.success_rate == 0.0

    def test_success_rate_mixed(self, stats):
        stats.record_success(0.1)
        stats.record_success(0.2)
        stats.record_failure("Error", 0.3)
        stats.record_failure("Error", 0.4)
        assert stats.success_rate == 50.0

    def test_success_rate_decimal(self, stats):
        stats.record_success(0.1)
        stats.record_success(0.2)
        stats.record_failure("Error", 0.3)
        assert stats.success_rate == pytest.approx(66.666666, rel=1e-4)


class TestSyncStatsAvgProcessingTime:
    def test_avg_processing_time_zero_jobs(self, stats):
        assert stats.avg_processing_time == 0.0

    def test_avg_processing_time_single_job(self, stats):
        stats.record_success(1.5)
        assert stats.avg_processing_time == 1.5

    def test_avg_processing_time_multiple_jobs(self, stats):
        stats.record_success(1.0)
        stats.record_success(2.0)
        stats.record_success(3.0)
        assert stats.avg_processing_time == pytest.approx(2.0, rel=1e-6)

    def test_avg_processing_time_includes_failures(self, stats):
        stats.record_success(1.0)
        stats.record_failure("Error", 2.0)
        assert stats.avg_processing_time == pytest.approx(1.5, rel=1e-6)


class TestSyncStatsToDict:
    def test_to_dict_returns_all_fields(self, stats):
        stats.record_success(0.5, confidence="high")
        stats.record_failure("PlexNotFound", 0.3, to_dlq=True)
        result = stats.to_dict()
        for key in ("jobs_processed", "jobs_succeeded", "jobs_failed", "jobs_to_dlq",
                    "total_processing_time", "session_start", "errors_by_type",
                    "high_confidence_matches", "low_confidence_matches"):
            assert key in result
        assert len(result) == 9  # and nothing else for an instance not loaded from a file

    def test_to_dict_returns_correct_values(self, stats):
        stats.record_success(0.5, confidence="low")
        stats.record_failure("TestError", 0.3, to_dlq=True)
        result = stats.to_dict()
        assert result["jobs_processed"] == 2
        assert result["jobs_succeeded"] == 1
        assert result["jobs_failed"] == 1
        assert result["jobs_to_dlq"] == 1
        assert result["total_processing_time"] == pytest.approx(0.8, rel=1e-6)
        assert result["errors_by_type"] == {"TestError": 1}
        assert result["high_confidence_matches"] == 0
        assert result["low_confidence_matches"] == 1

    def test_to_dict_json_serializable(self, stats):
        stats.record_success(0.5)
        stats.record_failure("Error", 0.3)
        assert isinstance(json.dumps(stats.to_dict()), str)

    def test_to_dict_empty_stats(self, stats):
        result = stats.to_dict()
        assert result["jobs_processed"] == 0
        assert result["jobs_succeeded"] == 0
        assert result["jobs_failed"] == 0
        assert result["errors_by_type"] == {}


class TestSyncStatsSaveToFile:
    def test_save_to_file_creates_json_file(self, stats, stats_file):
        stats.record_success(0.5)
        stats.save_to_file(stats_file)
        assert os.path.exists(stats_file)

    def test_save_to_file_writes_valid_json(self, stats, stats_file):
        stats.record_success(0.5)
        stats.save_to_file(stats_file)
        data = read(stats_file)
        assert data["jobs_processed"] == 1
        assert data["jobs_succeeded"] == 1

    def test_save_to_file_creates_parent_directories(self, tmp_path):
        nested_path = str(tmp_path / "nested" / "dir" / "stats.json")
        stats = SyncStats()
        stats.record_success(0.5)
        stats.save_to_file(nested_path)
        assert os.path.exists(nested_path)

    # the worker's v1.2.6+ tests load the file into the second instance; v1.1's start it
    # fresh: either way the counts of both sessions add up
    @pytest.mark.parametrize("second", [
        pytest.param(SyncStats.load_from_file, id="loaded"),
        pytest.param(lambda _path: SyncStats(), id="v1.1-fresh"),
    ])
    def test_save_to_file_accumulates_across_sessions(self, stats, stats_file, second):
        stats.record_success(1.0)
        stats.record_failure("Error1", 0.5)
        stats.save_to_file(stats_file)
        stats2 = second(stats_file)
        stats2.record_success(2.0)
        stats2.record_failure("Error2", 0.3)
        stats2.save_to_file(stats_file)
        data = read(stats_file)
        assert data["jobs_processed"] == 4
        assert data["jobs_succeeded"] == 2
        assert data["jobs_failed"] == 2
        assert data["total_processing_time"] == pytest.approx(3.8, rel=1e-6)
        assert data["errors_by_type"] == {"Error1": 1, "Error2": 1}

    def test_save_to_file_accumulates_error_types(self, stats, stats_file):
        stats.record_failure("PlexNotFound", 0.1)
        stats.record_failure("PlexNotFound", 0.2)
        stats.save_to_file(stats_file)
        stats2 = SyncStats.load_from_file(stats_file)
        stats2.record_failure("PlexNotFound", 0.3)
        stats2.record_failure("PermanentError", 0.4)
        stats2.save_to_file(stats_file)
        assert read(stats_file)["errors_by_type"] == {"PlexNotFound": 3, "PermanentError": 1}

    def test_v1_1_save_to_file_merges_error_types(self, stats, stats_file):
        stats.record_failure("PlexNotFound", 0.1)
        stats.record_failure("PlexNotFound", 0.2)
        stats.save_to_file(stats_file)
        stats2 = SyncStats()
        stats2.record_failure("PlexNotFound", 0.3)
        stats2.record_failure("PermanentError", 0.4)
        stats2.save_to_file(stats_file)
        assert read(stats_file)["errors_by_type"] == {"PlexNotFound": 3, "PermanentError": 1}

    def test_save_to_file_preserves_session_start_across_sessions(self, stats, stats_file):
        original_start = stats.session_start
        stats.record_success(0.5)
        stats.save_to_file(stats_file)
        stats2 = SyncStats.load_from_file(stats_file)
        stats2.record_success(0.5)
        stats2.save_to_file(stats_file)
        assert read(stats_file)["session_start"] == original_start

    def test_v1_1_save_to_file_preserves_original_session_start(self, stats, stats_file):
        original_start = stats.session_start
        stats.record_success(0.5)
        stats.save_to_file(stats_file)
        stats2 = SyncStats(session_start=original_start + 60.0)  # a later session
        stats2.record_success(0.5)
        stats2.save_to_file(stats_file)
        assert read(stats_file)["session_start"] == original_start

    def test_save_to_file_no_double_counting_on_repeated_saves(self, stats, stats_file):
        loaded = SyncStats.load_from_file(stats_file)  # no file yet
        loaded.record_success(0.5)
        loaded.save_to_file(stats_file)
        loaded.save_to_file(stats_file)  # periodic save, nothing new
        assert read(stats_file)["jobs_processed"] == 1  # not 2

    def test_save_to_file_no_double_counting_across_sessions(self, stats, stats_file):
        s1 = SyncStats()
        for _ in range(5):
            s1.record_success(0.1)
        s1.save_to_file(stats_file)
        s2 = SyncStats.load_from_file(stats_file)
        for _ in range(3):
            s2.record_success(0.1)
        s2.save_to_file(stats_file)
        s3 = SyncStats.load_from_file(stats_file)
        for _ in range(2):
            s3.record_success(0.1)
        s3.save_to_file(stats_file)
        data = read(stats_file)
        assert data["jobs_processed"] == 10  # 5 + 3 + 2, not inflated
        assert data["jobs_succeeded"] == 10

    def test_save_to_file_handles_corrupted_existing_file(self, stats, stats_file):
        with open(stats_file, "w") as f:
            f.write("not valid json {{{")
        stats.record_success(0.5)
        # Ours: the bad file is kept aside, with a warning (the worker overwrote it).
        with pytest.warns(CorruptStatsWarning, match="not valid JSON"):
            stats.save_to_file(stats_file)
        assert read(stats_file)["jobs_processed"] == 1
        (kept,) = [n for n in os.listdir(os.path.dirname(stats_file)) if ".corrupt-" in n]
        with open(os.path.join(os.path.dirname(stats_file), kept)) as f:
            assert f.read() == "not valid json {{{"


class TestSyncStatsLoadFromFile:
    def test_load_from_file_returns_stats(self, stats, stats_file):
        stats.record_success(0.5)
        stats.save_to_file(stats_file)
        assert isinstance(SyncStats.load_from_file(stats_file), SyncStats)

    def test_load_from_file_returns_correct_values(self, stats, stats_file):
        stats.record_success(1.0, confidence="high")
        stats.record_success(0.5, confidence="low")
        stats.record_failure("TestError", 0.3, to_dlq=True)
        stats.save_to_file(stats_file)
        loaded = SyncStats.load_from_file(stats_file)
        assert loaded.jobs_processed == 3
        assert loaded.jobs_succeeded == 2
        assert loaded.jobs_failed == 1
        assert loaded.jobs_to_dlq == 1
        assert loaded.total_processing_time == pytest.approx(1.8, rel=1e-6)
        assert loaded.high_confidence_matches == 1
        assert loaded.low_confidence_matches == 1
        assert loaded.errors_by_type == {"TestError": 1}

    def test_load_from_file_missing_file_returns_empty_stats(self, tmp_path):
        loaded = SyncStats.load_from_file(str(tmp_path / "nonexistent.json"))
        assert loaded.jobs_processed == 0
        assert loaded.jobs_succeeded == 0
        assert loaded.jobs_failed == 0
        assert loaded.errors_by_type == {}

    @pytest.mark.parametrize(
        ("name", "content", "why"),
        [
            ("corrupted.json", "this is not json", "not valid JSON"),
            ("insane.json", json.dumps({"jobs_processed": 18716292317328674598528195362573230,
                                        "jobs_succeeded": 18716292317328674598528195362573230}),
             "above the sanity ceiling"),
            ("negative.json", json.dumps({"jobs_processed": -5}), "jobs_processed is negative"),
        ],
        ids=["corrupted", "insane", "negative"],
    )
    def test_load_from_file_bad_file_returns_empty_stats(self, tmp_path, name, content, why):
        path = str(tmp_path / name)
        with open(path, "w") as f:
            f.write(content)
        # Ours warns and keeps the file as <name>.corrupt-<time>; the worker said nothing.
        with pytest.warns(CorruptStatsWarning, match=why):
            loaded = SyncStats.load_from_file(path)
        assert loaded.jobs_processed == 0
        assert loaded.jobs_succeeded == 0
        assert loaded.errors_by_type == {}
        (kept,) = tmp_path.glob(f"{name}.corrupt-*")
        assert kept.read_text() == content

    def test_load_from_file_partial_data_uses_defaults(self, tmp_path):
        path = str(tmp_path / "partial.json")
        with open(path, "w") as f:
            json.dump({"jobs_processed": 10}, f)
        loaded = SyncStats.load_from_file(path)
        assert loaded.jobs_processed == 10
        assert loaded.jobs_succeeded == 0
        assert loaded.errors_by_type == {}


class TestSyncStatsInitialization:
    def test_default_values(self):
        stats = SyncStats()
        assert stats.jobs_processed == 0
        assert stats.jobs_succeeded == 0
        assert stats.jobs_failed == 0
        assert stats.jobs_to_dlq == 0
        assert stats.total_processing_time == 0.0
        assert stats.high_confidence_matches == 0
        assert stats.low_confidence_matches == 0
        assert stats.errors_by_type == {}

    def test_session_start_defaults_to_current_time(self):
        before = time.time()
        stats = SyncStats()
        after = time.time()
        assert before <= stats.session_start <= after

    def test_errors_by_type_is_independent(self):
        stats1 = SyncStats()
        stats2 = SyncStats()
        stats1.record_failure("Error1", 0.1)
        assert stats1.errors_by_type == {"Error1": 1}
        assert stats2.errors_by_type == {}
