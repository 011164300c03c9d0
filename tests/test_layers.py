"""The package's layer order, read from the imports (``mrisynth.utils.code_deps``: AST,
function-level imports included).

A module may import only from its own layer or the layers below it (``LAYERS`` lists them
bottom first; the longest matching prefix places a module). The same order is stated in
``mrisynth/__init__.py`` and README's layout section.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mrisynth.utils.code_deps import imported_names

ROOT = Path(__file__).resolve().parents[1] / "mrisynth"

#: Bottom first. Prefixes are module names below ``mrisynth``; "" is the package root.
LAYERS: list[tuple[str, ...]] = [
    ("", "utils", "config"),
    ("data.intensity", "data.spec", "data.sequence", "data"),
    ("io",),
    ("transforms",),
    ("data.manifest", "data.prepare", "data.dataset", "data.checks"),
    ("phantom",),
    ("modules",),
    ("models",),
    ("losses", "metrics"),
    ("synthesis",),
    ("engine",),
    ("evaluation",),
    ("recipes",),
    ("cli", "__main__"),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """``mrisynth.*`` modules imported anywhere in a file (names below ``mrisynth``)."""
    return {
        name.removeprefix("mrisynth").removeprefix(".")
        for name in imported_names(path)
        if name == "mrisynth" or name.startswith("mrisynth.")
    }


def _modules() -> dict[str, set[str]]:
    known = {_module_name(p) for p in ROOT.rglob("*.py")}
    graph = {}
    for p in ROOT.rglob("*.py"):
        # `from mrisynth.x import name`: keep `x.name` only where it is a module
        graph[_module_name(p)] = {m for m in _imports(p) if m in known}
    return graph


def layer_of(module: str) -> int:
    """Index in ``LAYERS`` of the longest prefix matching ``module``."""
    best, best_len = None, -1
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            match = prefix == "" or module == prefix or module.startswith(prefix + ".")
            if match and len(prefix) > best_len:
                best, best_len = i, len(prefix)
    if best is None:
        raise AssertionError(f"mrisynth.{module} is in no layer: add it to LAYERS")
    return best


def test_every_module_is_in_a_layer():
    for module in _modules():
        layer_of(module)


def test_no_module_imports_from_a_higher_layer():
    upward = [
        f"mrisynth.{a} (layer {layer_of(a)}) imports mrisynth.{b} (layer {layer_of(b)})"
        for a, deps in sorted(_modules().items())
        for b in sorted(deps)
        if layer_of(b) > layer_of(a)
    ]
    assert not upward, "\n".join(upward)


def test_evaluation_does_not_depend_on_training():
    graph = _modules()
    bad = sorted(
        f"mrisynth.{a} imports mrisynth.{b}"
        for a, deps in graph.items()
        if a == "evaluation" or a.startswith("evaluation.")
        for b in deps
        if b == "engine" or b.startswith("engine.")
    )
    assert not bad, bad


def test_no_import_cycles_between_modules():
    graph = _modules()
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            # a package's __init__ re-exporting its own submodules is not a cycle
            if m == "" or d.startswith(m + "."):
                continue
            if state.get(d) == 1:
                cycle = stack[stack.index(d) :] + [d]
                pytest.fail("import cycle: " + " -> ".join(f"mrisynth.{c}" for c in cycle))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_the_layer_test_sees_an_upward_import(tmp_path):
    # The checker itself: a function-level upward import is found.
    f = tmp_path / "x.py"
    f.write_text("def f():\n    from mrisynth.engine.trainer import Trainer\n")
    assert "engine.trainer" in _imports(f)
    assert layer_of("engine.trainer") > layer_of("models.artifacts")
