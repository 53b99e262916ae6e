"""Fleet scale (issue #8): the Parquet history store and the analysis on Dask.

The dask tests run a real ``distributed.LocalCluster`` (two worker processes) and compare
every engine-agnostic function with the pandas path on the sample data and on a
simulated multi-source fleet split into several partitions.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal, assert_series_equal

import syncstats
from syncstats import cli, fleet, schemas
from syncstats.exceptions import InputError
from syncstats.store.parquet import is_store, store_files

DATA = Path(__file__).resolve().parent.parent / "data"
NOW = "2026-10-21T00:00:00Z"

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def sample() -> syncstats.SyncData:
    return syncstats.load(DATA)


@pytest.fixture(scope="module")
def store(sample, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("store")
    sample.to_parquet(path)
    return path


@pytest.fixture(scope="module")
def fleet_data(tmp_path_factory) -> syncstats.SyncData:
    """Five simulated workers (with the default defects), loaded with pandas."""
    from syncstats.testing.simulate import simulate

    out = tmp_path_factory.mktemp("fleet")
    simulate(out, days=4, sources=[f"w{i}" for i in range(5)], overwrite=True)
    return syncstats.load(out)


@pytest.fixture(scope="module")
def fleet_store(fleet_data, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fleet-store")
    fleet_data.to_parquet(path)
    return path


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def _sorted_issues(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


# -- the store ----------------------------------------------------------------------------
def test_store_round_trip_keeps_every_row_and_dtype(sample, store):
    back = syncstats.read_parquet(store)
    for name in ("snapshots", "errors", "dlq"):
        assert_frame_equal(getattr(back, name), getattr(sample, name))
    assert_frame_equal(_sorted_issues(back.issues), _sorted_issues(sample.issues))
    assert is_store(store) and not is_store(DATA)


def test_store_is_hive_partitioned_by_source_and_month(store):
    dirs = sorted(p.relative_to(store).as_posix() for p in (store / "snapshots").glob("*/*"))
    assert dirs == ["snapshots/source=worker-a/month=2026-10",
                    "snapshots/source=worker-b/month=2026-10"]
    assert sorted(store_files(store, "errors")) == ["worker-a", "worker-b"]


def test_export_twice_writes_nothing_and_rewrites_nothing(sample, tmp_path):
    first = sample.to_parquet(tmp_path)
    assert first == {"snapshots": len(sample.snapshots), "errors": len(sample.errors),
                     "dlq": len(sample.dlq), "issues": len(sample.issues)}
    before = {p: p.read_bytes() for p in tmp_path.rglob("*.parquet")}
    assert sample.to_parquet(tmp_path) == dict.fromkeys(first, 0)
    after = {p: p.read_bytes() for p in tmp_path.rglob("*.parquet")}
    assert after == before


def test_nightly_export_appends_only_new_snapshots(sample, tmp_path):
    cut = pd.Timestamp("2026-10-15", tz="UTC")
    old = sample.snapshots[sample.snapshots["snapshot_at"] < cut]
    older = syncstats.SyncData(snapshots=old.reset_index(drop=True),
                               errors=sample.errors[sample.errors["snapshot_at"] < cut]
                               .reset_index(drop=True))
    older.to_parquet(tmp_path)
    files_before = {p: p.read_bytes() for p in tmp_path.rglob("*.parquet")}
    written = sample.to_parquet(tmp_path)  # the next night: everything, old rows included
    assert written["snapshots"] == len(sample.snapshots) - len(old)
    assert written["errors"] == int((sample.errors["snapshot_at"] >= cut).sum())
    for path, blob in files_before.items():  # old partitions untouched
        assert path.read_bytes() == blob
    back = syncstats.read_parquet(tmp_path)
    assert_frame_equal(back.snapshots, sample.snapshots)
    assert_frame_equal(back.errors, sample.errors)


def test_source_names_that_need_quoting_round_trip(sample, tmp_path):
    names = {"worker-a": "host/a=1 ü:x", "worker-b": "2026"}
    snaps = sample.snapshots.assign(
        source=sample.snapshots["source"].cat.rename_categories(names))
    snaps = schemas.conform(snaps, schemas.SNAPSHOTS)
    syncstats.SyncData(snapshots=snaps).to_parquet(tmp_path)
    back = syncstats.read_parquet(tmp_path)
    assert_frame_equal(back.snapshots, snaps)
    only = syncstats.read_parquet(tmp_path, sources="2026").snapshots
    assert set(only["source"]) == {"2026"} and len(only) == int((snaps["source"] == "2026").sum())


def test_a_changed_dlq_entry_is_stored_again_and_read_as_its_latest_version(sample, tmp_path):
    sample.to_parquet(tmp_path)
    dlq = sample.dlq.copy()
    dlq.loc[0, "retry_count"] = 99
    assert syncstats.SyncData(dlq=dlq).to_parquet(tmp_path)["dlq"] == 1
    back = syncstats.read_parquet(tmp_path).dlq
    assert len(back) == len(sample.dlq)
    key = (dlq.loc[0, "source"], dlq.loc[0, "id"])
    row = back[(back["source"] == key[0]) & (back["id"] == key[1])]
    assert row["retry_count"].tolist() == [99]


def test_not_a_store_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match=r"expected a Parquet store made by `syncstats export"):
        syncstats.read_parquet(tmp_path)
    with pytest.raises(InputError, match="no such directory"):
        syncstats.read_parquet(tmp_path / "missing")


def test_load_reads_a_store_like_a_data_directory(sample, store):
    assert_frame_equal(syncstats.load(store).snapshots, sample.snapshots)


# -- dask, on a real LocalCluster ---------------------------------------------------------
def _both(data: syncstats.SyncData, dask_data: syncstats.SyncData):
    return data.snapshots, data.errors, dask_data.snapshots, dask_data.errors


@pytest.mark.slow
@pytest.mark.parametrize("which", ["sample", "fleet"])
def test_dask_results_equal_pandas(which, client, sample, store, fleet_data, fleet_store):
    data, path = (sample, store) if which == "sample" else (fleet_data, fleet_store)
    lazy = syncstats.read_parquet(path, backend="dask", partition_bytes=1)  # 1 source each
    assert lazy.snapshots.npartitions == len(data.sources)
    snaps, errs, dsnaps, derrs = _both(data, lazy)

    assert_frame_equal(fleet.compute(dsnaps), snaps)
    inc = syncstats.increments(snaps)
    dinc = syncstats.increments(dsnaps)
    assert fleet.is_dask(dinc)
    assert_frame_equal(fleet.compute(dinc), inc)
    assert_frame_equal(fleet.compute(syncstats.audit(dsnaps, derrs)),
                       syncstats.audit(snaps, errs))
    einc = syncstats.error_increments(errs, snaps)
    deinc = syncstats.error_increments(derrs, dsnaps)
    assert_frame_equal(fleet.compute(deinc), einc)

    for kwargs in ({"freq": "1h"}, {"freq": "1D", "by": None},
                   {"freq": "6h", "now": NOW, "tz": "Europe/Paris"}):
        assert_frame_equal(syncstats.trend(dinc, **kwargs), syncstats.trend(inc, **kwargs))
    assert_series_equal(syncstats.success_rate(dinc), syncstats.success_rate(inc))
    assert_frame_equal(syncstats.success_rate(dinc, by="source"),
                       syncstats.success_rate(inc, by="source"))
    for kwargs in ({}, {"window": "2D"}, {"window": ("2026-10-02", NOW)}):
        assert_frame_equal(syncstats.error_breakdown(deinc, **kwargs),
                           syncstats.error_breakdown(einc, **kwargs))
    for kwargs in ({"freq": "6h"}, {"freq": "1D", "by": "source", "top": 2},
                   {"freq": "1h", "now": NOW}):
        assert_frame_equal(syncstats.error_trend(deinc, **kwargs),
                           syncstats.error_trend(einc, **kwargs))

    for window in ("24h", "7d", None):
        got = syncstats.batch_summary(lazy, window=window).to_dict()
        want = syncstats.batch_summary(data, window=window).to_dict()
        assert (got.pop("layout"), want.pop("layout")) == ("store", "fleet")  # where from
        assert got == want


@pytest.mark.slow
def test_in_memory_data_on_dask_equals_pandas(client, fleet_data):
    lazy = fleet.from_syncdata(fleet_data, npartitions=2)
    assert lazy.snapshots.npartitions == 2
    inc = syncstats.increments(fleet_data.snapshots)
    assert_frame_equal(syncstats.trend(syncstats.increments(lazy.snapshots), "1h"),
                       syncstats.trend(inc, "1h"))
    picked = lazy.select(["w1", "w3"])
    assert_frame_equal(fleet.compute(picked.snapshots),
                       fleet_data.select(["w1", "w3"]).snapshots)


def test_frames_partitioned_differently_are_refused(sample, store):
    lazy = syncstats.read_parquet(store, backend="dask", partition_bytes=1)
    other = syncstats.read_parquet(store, backend="dask")
    with pytest.raises(syncstats.ParameterError, match="partitioned by source the same way"):
        syncstats.audit(lazy.snapshots, other.errors)


# -- the command line ---------------------------------------------------------------------
def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_cli_export_then_summary_and_check_with_the_dask_engine(capsys, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(DATA, copy)
    out = tmp_path / "store"
    code, _, err = _run(capsys, "export", str(copy), "--parquet", str(out))
    assert code == 0 and "wrote 4,287 snapshots" in err
    code, _, err = _run(capsys, "export", str(copy), "--parquet", str(out))
    assert code == 0 and "wrote 0 snapshots, 0 errors, 0 dlq, 0 issues" in err

    code, pandas_out, _ = _run(capsys, "summary", str(copy), "--now", NOW, "--window", "7d",
                               "--format", "json")
    assert code == 0
    code, dask_out, _ = _run(capsys, "summary", str(out), "--now", NOW, "--window", "7d",
                             "--format", "json", "--backend", "dask")
    assert code == 0
    want, got = json.loads(pandas_out), json.loads(dask_out)
    assert got["processed"] == want["processed"] > 0
    # the store's issues come from the export; the window's numbers are the same
    assert set(got) == set(want)
    assert (got["layout"], want["layout"]) == ("store", "fleet")
    for key in set(want) - {"issues", "layout"}:
        assert got[key] == want[key], key

    args = ("--now", NOW, "--window", "1h", "--min-success-rate", "0.5", "--slo", "0.9",
            "--max-age", "2h", "--format", "json")
    code_p, out_p, _ = _run(capsys, "check", str(copy), *args)
    code_d, out_d, _ = _run(capsys, "check", str(out), *args, "--backend", "dask")
    assert code_p == code_d
    assert json.loads(out_p)["checks"] == json.loads(out_d)["checks"]


def test_backend_option_is_validated(capsys):
    with pytest.raises(SystemExit):
        cli.main(["summary", str(DATA), "--backend", "spark"])
    with pytest.raises(syncstats.ParameterError, match="backend: expected 'pandas' or 'dask'"):
        syncstats.load(DATA, backend="spark")


def test_the_old_engine_dask_option_points_to_backend(capsys):
    """``--engine dask`` (before 0.3) is refused in one line that names the new option."""
    assert cli.main(["summary", str(DATA), "--engine", "dask"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--backend dask" in err


@pytest.mark.slow
def test_report_on_a_store_with_the_dask_engine_says_what_the_pandas_report_says(
        client, store, tmp_path):
    from syncstats.report import render_report

    kwargs = {"now": NOW, "fmt": "md", "progress": False}
    lazy = render_report(store, out=tmp_path / "dask.md", backend="dask",
                         scheduler=client.scheduler.address, **kwargs)
    eager = render_report(DATA, out=tmp_path / "pandas.md", **kwargs)

    def text(path: Path) -> list[str]:  # the prose and tables, not the figures or the path
        return [line for line in path.read_text().splitlines()
                if not line.startswith(("![", "Data: "))]

    got, want = text(lazy), text(eager)
    assert any("attempts" in line for line in want)
    assert got == want
