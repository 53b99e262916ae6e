"""The package's import graph and its private names, built with ``ast`` (ARCHITECTURE.md).

Rule 1 of the layout: no import cycle among syncstats' modules, counting imports inside
functions, under ``TYPE_CHECKING`` and in doctests; a private name (an underscore name or
module) belongs to the folder that holds it. Files in that folder or below it may use it;
others may not, whether they import it, reach it as a module attribute, call it as a
private method of another module's object, or import it in a doctest. Private modules at
the package root (``syncstats/_time.py``, ``_text.py``, ...) serve the whole package.
A second check keeps the package on public pandas/numpy/pyarrow API: no ``obj._name``
that the package does not define itself.
"""

from __future__ import annotations

import ast
import doctest
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "syncstats"
PACKAGE = "syncstats"


def _is_private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


@dataclass
class Module:
    name: str  # dotted, e.g. syncstats.io.log.reader
    path: Path
    is_package: bool
    tree: ast.Module
    #: (line, imported module, imported name or None, where) for every import
    imports: list[tuple[int, str, str | None, str]] = field(default_factory=list)
    #: names bound at module level or in a class body (functions, classes, assignments)
    defined: set[str] = field(default_factory=set)

    @property
    def folder(self) -> tuple[str, ...]:
        """The package (folder) that holds this module."""
        parts = tuple(self.name.split("."))
        return parts if self.is_package else parts[:-1]


def _module_name(path: Path) -> tuple[str, bool]:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _resolve(module: Module, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    base = module.name.split(".") if module.is_package else module.name.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([target] if target else [])])


def _imports_in(
    tree: ast.AST, module: Module, where: str
) -> list[tuple[int, str, str | None, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((node.lineno, alias.name, None, where))
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node.level, node.module)
            for alias in node.names:
                found.append((node.lineno, target, alias.name, where))
    return found


def _doctest_trees(tree: ast.Module) -> list[tuple[int, ast.Module]]:
    """The source of every doctest example in *tree*'s docstrings, parsed."""
    parser = doctest.DocTestParser()
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        doc = ast.get_docstring(node, clean=False)
        if not doc or ">>>" not in doc:
            continue
        line = getattr(node, "lineno", 1)
        for example in parser.get_examples(doc):
            try:
                out.append((line + example.lineno, ast.parse(example.source)))
            except SyntaxError:
                continue
    return out


def _load() -> dict[str, Module]:
    modules: dict[str, Module] = {}
    for path in sorted(ROOT.rglob("*.py")):
        name, is_package = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        modules[name] = Module(name, path, is_package, tree)
    for module in modules.values():
        module.imports = _imports_in(module.tree, module, "code")
        for line, doc_tree in _doctest_trees(module.tree):
            module.imports += [(line, target, name, "doctest")
                               for _, target, name, _ in _imports_in(doc_tree, module, "doctest")]
        for node in ast.walk(module.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                module.defined.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    for sub in ast.walk(t):
                        if isinstance(sub, ast.Name):
                            module.defined.add(sub.id)
                        elif isinstance(sub, ast.Attribute):
                            module.defined.add(sub.attr)
            elif isinstance(node, ast.arg):
                module.defined.add(node.arg)
            elif isinstance(node, ast.keyword) and node.arg:
                module.defined.add(node.arg)
    return modules


MODULES = _load()


def _target_module(target: str, name: str | None) -> str | None:
    """The syncstats module an import refers to (``from a import b`` may name module a.b)."""
    if name and f"{target}.{name}" in MODULES:
        return f"{target}.{name}"
    return target if target in MODULES else None


def _edges() -> dict[str, set[tuple[str, int, str]]]:
    edges: dict[str, set[tuple[str, int, str]]] = {m: set() for m in MODULES}
    for module in MODULES.values():
        for line, target, name, where in module.imports:
            dest = _target_module(target, name)
            # a doctest runs once the package is loaded; a package's __init__ re-exporting
            # its children is a facade, so a child naming its own ancestor is not a cycle
            if dest is None or dest == module.name or where == "doctest":
                continue
            if module.name.startswith(dest + "."):
                continue
            edges[module.name].add((dest, line, where))
            # importing a.b.c runs a/__init__ and a/b/__init__ first
            parts = dest.split(".")
            for i in range(2, len(parts)):
                parent = ".".join(parts[:i])
                if parent != module.name and not module.name.startswith(parent + "."):
                    edges[module.name].add((parent, line, where))
    return edges


def _cycles(edges: dict[str, set[tuple[str, int, str]]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    graph = {m: sorted({d for d, _, _ in e}) for m, e in edges.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def _owner_allows(user: Module, owner_folder: tuple[str, ...]) -> bool:
    """Whether *user* (a module) may use a private name held in *owner_folder*."""
    if owner_folder == (PACKAGE,):
        return True  # root private modules and names serve the whole package
    return user.folder[: len(owner_folder)] == owner_folder


def _private_import_violations() -> list[str]:
    bad = []
    for module in MODULES.values():
        for line, target, name, where in module.imports:
            if not target.startswith(PACKAGE):
                continue
            dest = _target_module(target, name)
            if dest is None:
                continue
            parts = dest.split(".")
            # a private module anywhere on the path: owned by the folder holding it
            for i, part in enumerate(parts[1:], start=1):
                if _is_private(part):
                    owner = tuple(parts[:i])
                    if not _owner_allows(module, owner):
                        bad.append(f"{module.path.relative_to(ROOT.parent)}:{line} ({where}) "
                                   f"imports private module {'.'.join(parts[: i + 1])}")
                    break
            # a private name imported from a module: owned by that module's folder
            if name and _is_private(name) and dest == target:
                owner = MODULES[dest].folder
                if not _owner_allows(module, owner):
                    bad.append(f"{module.path.relative_to(ROOT.parent)}:{line} ({where}) "
                               f"imports private name {name} from {dest}")
    return bad


def _bound_modules(module: Module) -> dict[str, str]:
    """Local names that refer to syncstats modules (``from . import x``, ``import a.b as c``)."""
    out = {}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.ImportFrom):
            target = _resolve(module, node.level, node.module)
            for alias in node.names:
                full = f"{target}.{alias.name}"
                if full in MODULES:
                    out[alias.asname or alias.name] = full
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES and alias.asname:
                    out[alias.asname] = alias.name
    return out


def _usable_in_folder(folder: tuple[str, ...]) -> set[str]:
    """Names a module in *folder* may use: those defined in *folder* or a folder above it
    (a private name belongs to the folder that holds it and the folders below)."""
    names: set[str] = set()
    for m in MODULES.values():
        if folder[: len(m.folder)] == m.folder:
            names |= m.defined
    return names


def _attribute_violations() -> tuple[list[str], list[str]]:
    """Private attributes reached across folders, and private attributes of other libraries."""
    own_all: set[str] = set().union(*(m.defined for m in MODULES.values()))
    cross, external = [], []
    for module in MODULES.values():
        bound = _bound_modules(module)
        allowed = _usable_in_folder(module.folder)
        for node in ast.walk(module.tree):
            if not (isinstance(node, ast.Attribute) and _is_private(node.attr)):
                continue
            where = f"{module.path.relative_to(ROOT.parent)}:{node.lineno}"
            value = node.value
            if isinstance(value, ast.Name) and value.id in bound:
                target = MODULES[bound[value.id]]
                if not _owner_allows(module, target.folder):
                    cross.append(f"{where} reaches {target.name}.{node.attr}")
                continue
            if node.attr in allowed:
                continue
            if node.attr in own_all:
                cross.append(f"{where} uses {node.attr}, private to another folder")
            else:
                external.append(f"{where} uses .{node.attr}, not syncstats' own")
    return cross, external


#: Private attributes of other libraries that are their documented API.
EXTERNAL_ALLOWED = {
    "_asdict", "_replace", "_fields", "_make",  # namedtuple's public API
    "_repr_html_",  # IPython's display protocol
    "_meta",  # dask's documented empty-pandas metadata of a collection
    # the pure-Python unpickler: only its dispatch table can be restricted per opcode
    # (recording/safepickle.py; the C unpickler cannot be)
    "_Unpickler",
}




def test_no_import_cycles() -> None:
    cycles = _cycles(_edges())
    assert not cycles, "import cycles (counting lazy, TYPE_CHECKING and doctest imports):\n" + \
        "\n".join(" <-> ".join(c) for c in cycles)


def test_private_names_stay_in_their_folder() -> None:
    bad = _private_import_violations() + _attribute_violations()[0]
    assert not bad, "private names used outside their folder:\n" + "\n".join(bad)


def test_only_public_api_of_other_libraries() -> None:
    external = [e for e in _attribute_violations()[1]
                if e.rsplit(".", 1)[1].split(",")[0] not in EXTERNAL_ALLOWED]
    assert not external, "private attributes of other libraries:\n" + "\n".join(external)


def test_the_graph_sees_lazy_imports() -> None:
    """The checks above would pass vacuously if the walk missed function-level imports."""
    lazy = [(m.name, line) for m in MODULES.values() for line, _, _, _ in m.imports
            if not any(isinstance(n, (ast.Import, ast.ImportFrom)) and n.lineno == line
                       for n in m.tree.body)]
    assert lazy, "no function-level import found: the walk is broken"
    assert len(MODULES) > 20


@pytest.mark.parametrize("source, expected", [
    ("import syncstats.io._files\n", "imports private module syncstats.io._files"),
    ("from syncstats.analysis import _util\n", "imports private module syncstats.analysis._util"),
    ("from syncstats.analysis.counters import _walk\n", "imports private name _walk"),
    ("from syncstats.analysis import counters\ncounters._walk(None)\n",
     "reaches syncstats.analysis.counters._walk"),
    ("def f(s):\n    return s._bucket_ends()\n", "uses _bucket_ends, private to another folder"),
])
def test_checker_catches_a_reach(source: str, expected: str) -> None:
    """A module outside the owner's folder that imports a private module or name, reaches
    one as a module attribute or calls another folder's private method is reported."""
    tree = ast.parse(source)
    fake = Module("syncstats.plotting_probe", ROOT / "probe.py", False, tree)
    fake.imports = _imports_in(tree, fake, "code")
    MODULES[fake.name] = fake
    try:
        found = [v for v in _private_import_violations() + _attribute_violations()[0]
                 if "probe.py" in v]
    finally:
        del MODULES[fake.name]
    assert any(expected in f for f in found), found


#: The layers, lowest first: a module imports only from its own layer or lower ones
#: (ARCHITECTURE.md). Data flows one way: files -> io -> DataFrames -> analysis ->
#: plotting/report, and the CLI only parses and prints.
LAYERS = [
    ("base", ["syncstats.exceptions", "syncstats._time", "syncstats._text",
              "syncstats._checks", "syncstats._fsutil", "syncstats._dispatch"]),
    ("recording", ["syncstats.recording"]),
    ("schemas", ["syncstats.schemas"]),
    ("store", ["syncstats.store"]),
    ("io", ["syncstats.io"]),
    ("analysis", ["syncstats.analysis"]),
    ("plotting", ["syncstats.plotting"]),
    ("report", ["syncstats.report"]),
    ("top", ["syncstats.fleet", "syncstats.testing", "syncstats.cli", "syncstats.__main__",
             "syncstats"]),
]


def _layer(name: str) -> int:
    best, rank = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (name == p or name.startswith(p + ".")) and len(p) > best:
                best, rank = len(p), i
    assert rank is not None, f"{name} is in no layer of LAYERS"
    return rank


def test_imports_only_go_down_the_layers() -> None:
    bad = []
    for module, edges in _edges().items():
        for dest, line, _ in edges:
            if dest == PACKAGE:
                continue  # the package's own __init__ (a facade)
            if _layer(dest) > _layer(module):
                bad.append(f"{MODULES[module].path.relative_to(ROOT.parent)}:{line} "
                           f"({LAYERS[_layer(module)][0]}) imports {dest} "
                           f"({LAYERS[_layer(dest)][0]})")
    assert not bad, "imports up the layers:\n" + "\n".join(sorted(bad))
