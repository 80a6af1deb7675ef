"""House rules the code keeps: modules with one job (≤ 400 lines), short functions, a docstring on every module,
no engine library imported by core at module level, and packages that import one way."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([*ROOT.joinpath("harness").rglob("*.py"), *ROOT.joinpath("adapters").rglob("*.py")])
ENGINE_LIBRARIES = {"torch", "transformers", "vllm", "llama_cpp", "torchao", "pynvml", "codecarbon", "gguf"}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60  # code lines, the docstring not counted
# Package → packages it may import from at module level (lower floors only). Cycles would show up here.
FLOORS = [
    "interrupts",
    "lifeline",
    "records",
    "hints",
    "plugins",
    "metrics",
    "models",
    "workload",
    "plan",
    "results",
    "gate",
    "loadgen",
    "adapters",
    "measure",
    "hardware",
    "scenarios",
    "execution",
    "report",
    "cli",
]


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _package(path: Path) -> str:
    rel = path.relative_to(ROOT)
    if rel.parts[0] == "adapters":
        return "adapters"
    return rel.parts[1].removesuffix(".py") if len(rel.parts) > 1 else "harness"


def test_modules_are_small_and_documented():
    for path in SOURCES:
        lines = path.read_text().count("\n")
        assert lines <= MAX_MODULE_LINES, f"{path.relative_to(ROOT)}: {lines} lines (split it by job)"
        tree = _tree(path)
        if tree.body:
            assert ast.get_docstring(tree) or path.name in ("__main__.py",), f"{path.relative_to(ROOT)}: no docstring"


def test_functions_are_short():
    for path in SOURCES:
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                body = node.body[1:] if ast.get_docstring(node) else node.body
                length = body[-1].end_lineno - body[0].lineno + 1 if body else 0  # type: ignore[operator]
                assert length <= MAX_FUNCTION_LINES, f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {length}"


def test_core_imports_no_engine_library_at_module_level():
    for path in SOURCES:
        if _package(path) == "adapters":
            continue
        for node in _tree(path).body:
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                assert name.split(".")[0] not in ENGINE_LIBRARIES, f"{path.relative_to(ROOT)} imports {name}"


def test_packages_import_one_way():
    """At module level a package imports only from packages on lower floors (function-level imports are lazy
    and exempt: they load plug-ins by name)."""
    for path in SOURCES:
        mine = _package(path)
        if mine == "harness":
            continue
        for node in _tree(path).body:
            if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith("harness."):
                continue
            theirs = node.module.split(".")[1]  # type: ignore[union-attr]
            if theirs in (mine, "__init__") or theirs not in FLOORS:
                continue
            assert FLOORS.index(theirs) < FLOORS.index(mine), (
                f"{path.relative_to(ROOT)} ({mine}) imports {node.module} from a higher floor"
            )
