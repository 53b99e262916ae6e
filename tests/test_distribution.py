"""The package as a pip user gets it: notebooks and sample data without the repository,
one version source, every import declared, optional extras refused with a clear error."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest

import syncstats
from syncstats.cli import main
from syncstats.report import NOTEBOOKS, REPORT_NOTEBOOK, copy_notebooks

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "syncstats"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

#: import name -> distribution name, where they differ
DIST_OF = {"IPython": "ipython", "adbc_driver_sqlite": "adbc-driver-sqlite",
           "jupyter_client": "jupyter-client", "dask": "dask", "distributed": "distributed"}


def _imports(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_every_imported_package_is_declared():
    found: set[str] = set()
    for f in PACKAGE.rglob("*.py"):
        found |= _imports(f.read_text())
    for path in NOTEBOOKS.values():
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                code = "\n".join(ln for ln in cell.source.splitlines() if not ln.startswith("%"))
                found |= _imports(code)
    third = {m for m in found if m not in sys.stdlib_module_names and m != "syncstats"}
    declared = {re.split(r"[\[<>=!~ ]", d)[0].lower()
                for d in PYPROJECT["project"]["dependencies"]}
    dask = {re.split(r"[\[<>=!~ ]", d)[0].lower()
            for d in PYPROJECT["project"]["optional-dependencies"]["dask"]}
    missing = sorted(m for m in third
                     if DIST_OF.get(m, m).lower() not in declared | dask)
    assert missing == [], f"imported but not declared in pyproject.toml: {missing}"


def test_one_version_source():
    assert syncstats.__version__ == PYPROJECT["project"]["version"]
    assert syncstats.__version__ == importlib.metadata.version("syncstats")
    assert "0+unknown" != syncstats.__version__


def test_the_notebooks_are_package_data():
    for path in (REPORT_NOTEBOOK, *NOTEBOOKS.values()):
        assert path.is_file() and PACKAGE in path.parents
    data = PYPROJECT["tool"]["setuptools"]["package-data"]["syncstats"]
    assert "report/notebooks/*.ipynb" in data and "py.typed" in data


def test_notebooks_command_copies_ready_to_open(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mydata").mkdir()
    assert main(["notebooks", "nb", "--data", "mydata"]) == 0
    assert "wrote nb/batch_summary.ipynb" in capsys.readouterr().err
    for name in ("batch_summary", "dlq_triage"):
        nb = nbformat.read(tmp_path / "nb" / f"{name}.ipynb", as_version=4)
        params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        assert f"data_path = {str(tmp_path / 'mydata')!r}" in params.source
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    triage = nbformat.read(tmp_path / "nb" / "dlq_triage.ipynb", as_version=4)
    assert "export_path = 'requeue_candidates.csv'" in triage.cells[2].source
    # a second copy is refused, --force replaces
    assert main(["notebooks", "nb"]) == 2
    assert "already exists (pass --force" in capsys.readouterr().err
    assert main(["notebooks", "nb", "--force", "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")
    nb = nbformat.read(tmp_path / "nb" / "batch_summary.ipynb", as_version=4)
    assert f"data_path = {str(tmp_path)!r}" in nb.cells[2].source  # default: the cwd


def test_copy_notebooks_keeps_the_parameters_comments(tmp_path):
    out = copy_notebooks(tmp_path, data="/srv/x")
    nb = nbformat.read(out[0], as_version=4)
    assert "data_path = '/srv/x'  # a data directory" in nb.cells[2].source


def test_simulate_command(tmp_path, capsys):
    assert main(["simulate", str(tmp_path / "demo"), "--days", "1", "--sources", "3",
                 "--defects", "none"]) == 0
    out = capsys.readouterr().out
    assert [ln.split(":")[0] for ln in out.splitlines()] == ["worker-a", "worker-b", "worker-c"]
    truth = json.loads((tmp_path / "demo" / "truth.json").read_text())
    assert sorted(truth["sources"]) == ["worker-a", "worker-b", "worker-c"]
    data = syncstats.load(tmp_path / "demo")
    assert data.sources == ["worker-a", "worker-b", "worker-c"]
    assert main(["simulate", str(tmp_path / "demo"), "--days", "1"]) == 2  # exists
    assert "output exists" in capsys.readouterr().err
    assert main(["simulate", str(tmp_path / "d2"), "--days", "0"]) == 2
    assert "--days: expected at least 1" in capsys.readouterr().err


def test_a_missing_extra_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.dataframe", None)  # import fails as if absent
    with pytest.raises(syncstats.MissingDependencyError, match=r"pip install 'syncstats\[dask\]'"):
        syncstats.load(ROOT / "data" / "worker-a", backend="dask")
