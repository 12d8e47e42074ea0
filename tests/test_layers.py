"The package's structure: no import cycles, arrows pointing down, small modules, shipped plug-ins that resolve."
import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "prx_nb"
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("_"))
MACHINERY = {"config", "runtime", "checkpoints", "runlog", "objective", "evaluation", "train", "cli"}


def shipped_technique_modules() -> set[str]:
    "Modules of the techniques and optimizers prx_nb ships, read from the plug-in registries (the one list of them)."
    from prx_nb.plugins import OPTIMIZERS, TECHNIQUES as REGISTRY
    shipped = {*REGISTRY.shipped.values(), *OPTIMIZERS.shipped.values()} - {"prx_nb.plugins"}
    return {module.removeprefix("prx_nb.") for module in shipped}


TECHNIQUES = shipped_technique_modules()


def imported_modules(name: str) -> set[str]:
    "prx_nb modules that module `name` imports anywhere (top level or inside functions)."
    tree = ast.parse((PACKAGE / f"{name}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:                                   # from .x import y / from . import x
                found |= {node.module} if node.module else {a.name for a in node.names}
            elif node.module and node.module.startswith("prx_nb"):
                parts = node.module.split(".")
                found |= {parts[1]} if len(parts) > 1 else {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("prx_nb.")}
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: imported_modules(name) for name in MODULES}


def test_no_import_cycles():
    state = {}

    def visit(node, path):
        if state.get(node) == "open":
            cycle = path[path.index(node):] + [node]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if state.get(node) == "done":
            return
        state[node] = "open"
        for child in sorted(GRAPH[node]):
            visit(child, path + [node])
        state[node] = "done"

    for name in MODULES:
        visit(name, [])


def test_arrows_point_down():
    for name in TECHNIQUES:
        assert not GRAPH[name] & MACHINERY, f"technique {name} imports the trainer: {GRAPH[name] & MACHINERY}"
    assert not GRAPH["plugins"] & (MACHINERY | TECHNIQUES), GRAPH["plugins"]
    assert not GRAPH["config"] & {"train", "runlog", "checkpoints", "objective", "evaluation", "cli"}, GRAPH["config"]
    assert "metrics" not in GRAPH["model"]


@pytest.mark.parametrize("name", MODULES)
def test_module_is_small(name):
    lines = len((PACKAGE / f"{name}.py").read_text().splitlines())
    assert lines <= 600, f"prx_nb/{name}.py has {lines} lines: split its chapter"


@pytest.mark.parametrize("order", ["forward", "reverse"])
def test_modules_import_in_any_order(order):
    "With no cycles the order cannot matter; the two extreme orders check it in one fresh process each."
    names = MODULES if order == "forward" else MODULES[::-1]
    code = "; ".join(f"import prx_nb.{name}" for name in names)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]


def test_every_shipped_part_resolves_to_itself():
    from prx_nb.plugins import OPTIMIZERS, TECHNIQUES as TECHS, TRACKERS
    for registry in (TECHS, OPTIMIZERS, TRACKERS):
        for name in registry.shipped:
            part = registry[name]
            assert registry.entries[name] is part
    assert {TECHS[name].name for name in TECHS.shipped} == set(TECHS.shipped)


def test_python_floor_is_the_one_tested():
    "pyproject's floor: 3.11 (tomllib); CI runs on it, and this interpreter must satisfy it."
    floor = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert floor == ">=3.11"
    assert sys.version_info >= (3, 11)
