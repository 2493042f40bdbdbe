"""Imports point one way (docs/DESIGN.md): config, engine <- data, tasks, models <- train <- driver <- sweep -> store;
store <- analysis <- figures <- app; the command line on top. Checked statically, module by module."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Which first-level parts of the package each part may import (besides itself and the package root).
ALLOWED = {
    "config": set(),
    "engine": set(),  # how models are lowered: a plain dataclass, stdlib only
    "data": set(),
    "tasks": {"config"},
    "models": {"config", "engine"},
    "train": {"config", "tasks", "models", "data"},
    "rules": set(),  # numpy only: the phase and stop rules the engine and the analysis share
    "choices": set(),  # the command line's named choices, read by the modules that act on them
    "driver": {"config", "engine", "tasks", "train", "rules", "choices"},  # never the store: checkpoints come as functions
    "sweep": {"config", "engine", "tasks", "models", "train", "driver", "data", "store", "checkpoints", "rules",
              "choices"},
    "store": {"chunk_files", "config"},  # config: store.read_config's RunConfig (stdlib only)
    "chunk_files": set(),
    "checkpoints": {"store"},
    "analysis": {"store", "rules"},
    "refine": {"analysis", "store", "sweep", "rules", "config"},  # the loop above both sides
    "figures": {"analysis", "store", "rules", "choices"},
    "testing": {"store", "analysis", "rules"},
    "status": {"store"},
    "single_run": {"config", "models", "data", "train", "driver", "rules"},
}
# The app may use the analysis side only: never the JAX side (train, tasks, models, sweep).
APP_ALLOWED = {"figures", "analysis", "store", "config", "rules", "choices"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def _parts(names: set[str]) -> set[str]:
    return {n.split(".")[1] for n in names if n.startswith("gpicl_phase.") and n.count(".") >= 1}


def _part_of(path: Path) -> str:
    rel = path.relative_to(ROOT / "gpicl_phase")
    return rel.parts[0].removesuffix(".py")


def test_package_imports_point_one_way():
    problems = []
    for path in sorted((ROOT / "gpicl_phase").rglob("*.py")):
        part = _part_of(path)
        if part not in ALLOWED:
            continue
        bad = _parts(_imports(path)) - ALLOWED[part] - {part, "__init__"} - {"__version__"}
        if bad:
            problems.append(f"{path.relative_to(ROOT)} ({part}) imports {sorted(bad)}")
    assert not problems, "\n".join(problems)


def test_app_and_analysis_side_never_import_jax():
    """Imported for real in a fresh interpreter, so an import through another module counts too."""
    import subprocess
    import sys

    modules = ["app.main", "app.pages", "gpicl_phase.store", "gpicl_phase.rules", "gpicl_phase.analysis",
               "gpicl_phase.figures", "gpicl_phase.status", "gpicl_phase.testing"]
    code = (f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', 'optax')))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", f"the JAX side was imported: {out.stdout.strip()}"


def test_app_imports_only_the_analysis_side():
    problems = []
    for path in (ROOT / "app").rglob("*.py"):
        bad = _parts(_imports(path)) - APP_ALLOWED - {"__init__", "__version__"}
        if bad:
            problems.append(f"{path.relative_to(ROOT)} imports the JAX side: {sorted(bad)}")
    assert not problems, "\n".join(problems)


def test_every_part_is_listed():
    parts = {_part_of(p) for p in (ROOT / "gpicl_phase").rglob("*.py")}
    top = {"__init__", "__main__", "cli", "commands", "demo"}
    assert parts - top <= set(ALLOWED), f"add {sorted(parts - top - set(ALLOWED))} to ALLOWED"
