"""The import rule of the library: scripts -> engines -> checkpoints -> models -> data / plots -> base, one way.

Read from the source with ``ast`` (imports inside functions count too), so a deferred import cannot hide a cycle.
Layers, lowest first:

0. base: the modules directly in ``utils/`` (errors, yaml_io, hyp, boxes, nms, device, dist, run_dir, ...)
1. ``utils/data/``, ``utils/plots/``
2. ``models/``
3. ``utils/checkpoints/``
4. engines: ``utils/train/``, ``utils/evaluation/``, ``utils/inference/``, ``utils/exporters/``, ``utils/deploy/``
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENTRY_POINTS = {"utils.convert"}  # `python -m utils.convert`: a command, at the scripts' level
PACKAGE_LAYERS = {
    "data": 1, "plots": 1, "checkpoints": 3, "train": 4, "evaluation": 4, "inference": 4, "exporters": 4, "deploy": 4
}  # fmt: skip


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def library_modules() -> dict[str, Path]:
    files = sorted((ROOT / "utils").rglob("*.py")) + sorted((ROOT / "models").rglob("*.py"))
    return {module_name(path): path for path in files if module_name(path) not in ENTRY_POINTS}


def layer(module: str) -> int:
    parts = module.split(".")
    if parts[0] == "models":
        return 2
    if len(parts) == 2 and parts[1] not in PACKAGE_LAYERS:  # utils.errors, utils.boxes, ... and the utils package
        return 0
    return PACKAGE_LAYERS[parts[1]] if len(parts) > 1 else 0


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The library modules ``path`` imports anywhere in its body (``from utils import dist`` counts as utils.dist)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in known)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = library_modules()
    return {name: imported_modules(path, set(modules)) - {name} for name, path in modules.items()}


def test_imports_run_down_the_layers() -> None:
    upward = sorted(
        f"{module} (layer {layer(module)}) imports {target} (layer {layer(target)})"
        for module, targets in import_graph().items()
        for target in targets
        if layer(target) > layer(module)
    )
    assert not upward, "\n".join(upward)


def test_no_import_cycle() -> None:
    graph = import_graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                return path + [module, target]
            if target not in state and (cycle := visit(target, path + [module])):
                return cycle
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module, [])
            assert cycle is None, " -> ".join(cycle[cycle.index(cycle[-1]) :])


def test_the_checker_sees_an_upward_import_and_a_cycle(tmp_path: Path) -> None:
    """The two checks above can fail: a base module importing models is caught, and so is a two-module cycle."""
    bad = tmp_path / "bad.py"
    bad.write_text("def late():\n    from models.yolo import DetectionModel\n    from utils import dist\n")
    assert imported_modules(bad, {"models.yolo", "utils.dist"}) == {"models.yolo", "utils.dist"}
    assert layer("models.yolo") > layer("utils.boxes") and layer("utils.train.trainer") > layer("utils.checkpoints.x")


def test_base_data_and_plots_modules_import_without_models() -> None:
    """Imported for real, in a fresh interpreter where ``import models`` fails."""
    names = sorted(name for name in library_modules() if name.startswith("utils") and layer(name) <= 1)
    code = "import importlib, sys\nsys.modules['models'] = None\n" + "".join(
        f"importlib.import_module({name!r})\n" for name in names
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(names) > 20


@pytest.mark.parametrize("script", ["train.py", "val.py", "detect.py", "export.py"])
def test_no_script_imports_another(script: str) -> None:
    scripts = {"train", "val", "detect", "export"}
    tree = ast.parse((ROOT / script).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & scripts
