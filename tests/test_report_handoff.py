"""The report kernel gets the data render_report loaded: Arrow files, equal frames, no pickle."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd
import pytest

import syncstats
from syncstats.report import read_handoff, write_handoff

DATA = Path(__file__).resolve().parents[1] / "data"
FRAMES = ("snapshots", "errors", "dlq", "issues")


@pytest.mark.parametrize("make", [
    lambda: syncstats.load(DATA),
    lambda: syncstats.load(DATA).select("worker-a"),
    lambda: syncstats.load(DATA / "worker-a"),
    lambda: syncstats.SyncData(),
], ids=["fleet", "selected", "worker", "empty"])
def test_the_handed_over_data_equals_what_was_loaded(tmp_path, make):
    data = make()
    back = read_handoff(write_handoff(data, tmp_path / "h"))
    assert back.layout == data.layout
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(back, name), getattr(data, name), check_exact=True)


def test_a_missing_handoff_is_an_input_error_naming_the_folder(tmp_path):
    with pytest.raises(syncstats.InputError, match="render_report handed over"):
        read_handoff(tmp_path / "nothing")


def test_the_report_package_never_unpickles():
    root = Path(syncstats.__file__).parent / "report"
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        attrs = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        assert "pickle" not in names and "read_pickle" not in attrs, path
    for nb in (root / "notebooks").glob("*.ipynb"):
        assert "pickle" not in nb.read_text(), nb
