"""The package's shape, read from the source with `ast` (nothing is imported, no TensorFlow):

- no import circle among kerastl's modules;
- no import from a lower layer to a higher one (the order in `LAYERS`), in kerastl, benchmarks/
  and examples/;
- no kerastl module over `MAX_LINES` lines;
- no `KERAS_VERSION` comparison outside the compatibility module (`kerastl/_keras.py`) and the
  encoder families' own modules.

Every import statement counts: at module level, inside functions and under `if`/`try`; `from
kerastl import x` counts as an import of the submodule `kerastl.x` where there is one; relative
imports are resolved. Importing `a.b.c` is counted as an import of `a.b.c` alone, not of the
packages `a` and `a.b` that Python also initialises. Strings handed to `importlib.import_module`
(the lazy public names of `kerastl/__init__.py`, the stand-ins of `_serializable`, the family
registry) are late bindings by design and are not counted.
"""

import ast
import fnmatch
from pathlib import Path
from typing import NamedTuple, Optional

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("kerastl", "benchmarks", "examples")
MAX_LINES = 420  # issue 27: "no module is over about 400 lines"

# Bottom to top. A module's layer is the first entry whose patterns match its dotted name; a
# package's `__init__` is its package's module (`kerastl.tasks`), so its re-exports count as its
# package's layer. Modules of one layer may import each other; the circle test still applies.
LAYERS = [
    ("base", ["kerastl.config", "kerastl.errors", "kerastl._files", "kerastl._wheels", "kerastl._keras",
              "kerastl._logging", "kerastl._serializable", "kerastl.precision", "kerastl.distribute"]),
    ("data", ["kerastl.data", "kerastl.data.*"]),
    ("preprocessing", ["kerastl.preprocessing", "kerastl.preprocessing.*"]),
    ("encoders", ["kerastl.encoders", "kerastl.encoders.*"]),
    ("tasks", ["kerastl.tasks", "kerastl.tasks.*"]),
    ("training", ["kerastl.training", "kerastl.training.*"]),
    ("analysis", ["kerastl.analysis", "kerastl.analysis.*"]),
    ("serving", ["kerastl.serving", "kerastl.serving.*"]),
    ("cli", ["kerastl.cli", "kerastl.cli.*"]),
    ("kerastl", ["kerastl", "kerastl.__main__"]),
    ("scripts", ["benchmarks.*", "examples.*"]),
]

# KERAS_VERSION may be compared only here: the compatibility module and the families' modules.
KERAS_VERSION_ALLOWED = ["kerastl/_keras.py", "kerastl/encoders/hf_tf*.py", "kerastl/encoders/kerashub*.py"]

# Modules that still break a rule while someone else rewrites them. Each is a strict xfail: the
# day the module is fixed the test fails until its entry here is removed.
PENDING_SIZE = {}
PENDING_KERAS_VERSION = {}
# Upward imports known and not yet mended, "importer -> imported": each must still exist (so the
# entry goes once it is mended), and no other may appear.
PENDING_UPWARD = set()


class Import(NamedTuple):
    target: str  # a dotted module name
    line: int


class Module(NamedTuple):
    name: str  # dotted: "kerastl.tasks.saving", "kerastl.tasks" for its __init__
    path: Path
    is_package: bool

    @property
    def rel(self) -> str:
        return self.path.relative_to(ROOT).as_posix()


def find_modules(root: Path = ROOT) -> dict:
    """{dotted name: Module} of every .py file under the scanned folders of `root`."""
    modules = {}
    for top in SCANNED:
        for path in sorted((root / top).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if any(part.startswith(".") or part == "__pycache__" for part in parts):
                continue
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            modules[".".join(parts)] = Module(".".join(parts), path, is_package)
    return modules


def imports_of(module: Module, known: dict) -> list:
    """Every import statement of `module`, resolved to dotted names (known modules where they are)."""
    tree = ast.parse(module.path.read_text(encoding="utf-8"), filename=str(module.path))
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(Import(alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.append(Import(submodule if submodule in known else source, node.lineno))
    return found


def import_graph(modules: dict) -> dict:
    """{module: {imported module of `modules`: first line}}, scanned modules only."""
    graph = {}
    for name, module in modules.items():
        edges = {}
        for imported in imports_of(module, modules):
            if imported.target in modules and imported.target != name:
                edges.setdefault(imported.target, imported.line)
        graph[name] = edges
    return graph


def cycles(graph: dict) -> list:
    """One circle, as a list of modules [a, b, ..., a], for each strongly connected component of
    more than one module (Tarjan's algorithm, iterative)."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(component)
    return [_circle_in(graph, component) for component in components]


def _circle_in(graph: dict, component: set) -> list:
    """The shortest circle through the first module of `component` (breadth first)."""
    start = min(component)
    previous, frontier = {start: None}, [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node]):
                if child == start:
                    path = [node]
                    while previous[path[-1]] is not None:
                        path.append(previous[path[-1]])
                    return path[::-1] + [start]
                if child in component and child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"no circle in the component {sorted(component)}")


def layer_of(name: str) -> Optional[int]:
    for number, (_, patterns) in enumerate(LAYERS):
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns):
            return number
    return None


def layer_violations(graph: dict) -> dict:
    """{"importer -> imported": "importer (layer) line N imports imported (higher layer)"} for
    every import from a lower layer to a higher one."""
    found = {}
    for importer, edges in sorted(graph.items()):
        for imported, line in sorted(edges.items()):
            low, high = layer_of(importer), layer_of(imported)
            if low is not None and high is not None and high > low:
                found[f"{importer} -> {imported}"] = (
                    f"{importer} ({LAYERS[low][0]}) line {line} imports {imported} ({LAYERS[high][0]})")
    return found


def keras_version_comparisons(path: Path) -> list:
    """The line numbers of comparisons with `KERAS_VERSION` (a name or an attribute) in `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any((isinstance(o, ast.Name) and o.id == "KERAS_VERSION")
                   or (isinstance(o, ast.Attribute) and o.attr == "KERAS_VERSION") for o in operands):
                lines.append(node.lineno)
    return sorted(lines)


def _pending(table: dict, rel: str):
    if rel in table:
        return pytest.mark.xfail(strict=True, reason=f"{rel}: {table[rel]}")
    return ()


MODULES = find_modules()
KERASTL_FILES = sorted(m.rel for m in MODULES.values() if m.name.split(".")[0] == "kerastl")


# ---------------------------------------------------------------------------------- the checks


def test_every_module_has_a_layer():
    assert len(MODULES) > 50  # the walk found the package
    missing = sorted(name for name in MODULES if layer_of(name) is None)
    assert not missing, f"modules in no layer of tests/test_architecture.py LAYERS: {missing}"


def test_no_import_circle():
    found = cycles({name: edges for name, edges in import_graph(MODULES).items() if name.startswith("kerastl")})
    assert not found, "import circles among kerastl's modules:\n" + "\n".join(" -> ".join(c) for c in found)


def test_no_import_from_a_lower_layer_to_a_higher_one():
    found = layer_violations(import_graph(MODULES))
    new = [message for edge, message in found.items() if edge not in PENDING_UPWARD]
    assert not new, "imports from a lower layer to a higher one:\n" + "\n".join(new)
    mended = PENDING_UPWARD - set(found)
    assert not mended, f"mended, remove from PENDING_UPWARD in tests/test_architecture.py: {sorted(mended)}"


@pytest.mark.parametrize("rel", [pytest.param(rel, marks=_pending(PENDING_SIZE, rel)) for rel in KERASTL_FILES])
def test_module_size(rel):
    lines = len((ROOT / rel).read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{rel} has {lines} lines, over {MAX_LINES}: split it"


@pytest.mark.parametrize("rel", [pytest.param(rel, marks=_pending(PENDING_KERAS_VERSION, rel))
                                 for rel in KERASTL_FILES
                                 if not any(fnmatch.fnmatchcase(rel, p) for p in KERAS_VERSION_ALLOWED)])
def test_keras_version_compared_only_in_the_compatibility_module(rel):
    lines = keras_version_comparisons(ROOT / rel)
    assert not lines, (f"{rel} compares KERAS_VERSION on lines {lines}: call a named shim of "
                       f"kerastl/_keras.py instead")


# ------------------------------------------------------------------ the checker, on planted code


def _write(root: Path, files: dict) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_walk_sees_every_kind_of_import(tmp_path):
    _write(tmp_path, {
        "kerastl/__init__.py": "",
        "kerastl/config.py": "def f():\n    from kerastl import tasks\n",  # inside a function
        "kerastl/errors.py": "try:\n    import kerastl.data.batching as b\nexcept ImportError:\n    pass\n",
        "kerastl/data/__init__.py": "from .batching import x\n",  # relative
        "kerastl/data/batching.py": "from .. import errors\nfrom kerastl import keras\n",  # attribute of kerastl
        "kerastl/tasks/__init__.py": "",
        "benchmarks/b.py": "",
        "examples/e.py": "",
    })
    modules = find_modules(tmp_path)
    graph = import_graph(modules)
    assert graph["kerastl.config"] == {"kerastl.tasks": 2}
    assert graph["kerastl.errors"] == {"kerastl.data.batching": 2}
    assert graph["kerastl.data"] == {"kerastl.data.batching": 1}
    assert graph["kerastl.data.batching"] == {"kerastl.errors": 1, "kerastl": 2}
    assert list(layer_violations(graph).values()) == [
        "kerastl.config (base) line 2 imports kerastl.tasks (tasks)",
        "kerastl.data.batching (data) line 2 imports kerastl (kerastl)",
        "kerastl.errors (base) line 2 imports kerastl.data.batching (data)",
    ]
    assert cycles(graph) == [["kerastl.data.batching", "kerastl.errors", "kerastl.data.batching"]]


def test_a_circle_is_reported_as_a_path():
    graph = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1, "d": 1}, "d": {}, "e": {"e": 1}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b": 1}, "b": {}}) == []


def test_keras_version_comparisons_are_found(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("from kerastl._keras import KERAS_VERSION\nimport kerastl._keras as k\n"
                    "x = KERAS_VERSION\nif KERAS_VERSION == 2:\n    pass\ny = 3 if 3 <= k.KERAS_VERSION else 2\n")
    assert keras_version_comparisons(path) == [4, 6]
