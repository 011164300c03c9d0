"""Phantom package structure: no import cycle, and derived geometry data cached per instance."""

from __future__ import annotations

import ast
import gc
import weakref
from pathlib import Path

import numpy as np

import mrisynth.phantom
from mrisynth.phantom import articulation, geometry
from mrisynth.phantom.anatomy import SpeakerAnatomy
from mrisynth.phantom.articulation import consonant_gestures, plan_trajectory
from mrisynth.phantom.geometry import VocalTractGeometry
from mrisynth.phantom.inventory import SILENCE, Phoneme, PhoneSegment

PACKAGE = "mrisynth.phantom"
PACKAGE_DIR = Path(mrisynth.phantom.__file__).resolve().parent


def _module_names() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        rel = path.relative_to(PACKAGE_DIR).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        out[".".join([PACKAGE, *parts])] = path
    return out


def _imports(name: str, path: Path, modules: set[str]) -> set[str]:
    """Package modules imported anywhere in ``path`` (top level, functions, ``if`` blocks)."""
    is_pkg = path.name == "__init__.py"
    base = name if is_pkg else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                pkg = base.split(".")
                pkg = pkg[: len(pkg) - (node.level - 1)]
                mod = ".".join([*pkg, node.module] if node.module else pkg)
            else:
                mod = node.module or ""
            # ``from pkg import sub`` imports the submodule ``pkg.sub``
            targets = [mod] + [f"{mod}.{alias.name}" for alias in node.names]
        else:
            continue
        for t in targets:
            # ``import a.b.c`` also runs ``a.b``; count the deepest package module only
            while t and t not in modules:
                t = t.rpartition(".")[0]
            if t and t != name and t != PACKAGE:
                found.add(t)
    return found


def _import_graph() -> dict[str, set[str]]:
    mods = _module_names()
    return {name: _imports(name, path, set(mods)) for name, path in mods.items()}


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m) :] + [m]
            if m not in state and (cyc := visit(m)):
                return cyc
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (cyc := visit(n)):
            return cyc
    return None


def test_import_graph_sees_function_level_imports():
    graph = _import_graph()
    # corpus imports these inside functions only: the scan must see them
    assert {f"{PACKAGE}.articulation", f"{PACKAGE}.geometry", f"{PACKAGE}.mri"} <= graph[
        f"{PACKAGE}.corpus"
    ]
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_phantom_has_no_import_cycle():
    graph = _import_graph()
    assert f"{PACKAGE}.articulation" not in graph[f"{PACKAGE}.geometry"]
    assert f"{PACKAGE}.articulatory_state" in graph[f"{PACKAGE}.geometry"]
    assert f"{PACKAGE}.articulatory_state" in graph[f"{PACKAGE}.articulation"]
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_module_level_cache_of_geometries():
    for mod in (articulation, geometry):
        caches = [k for k, v in vars(mod).items() if "cache" in k.lower() and isinstance(v, dict)]
        assert caches == [], f"{mod.__name__} keeps a module-level cache: {caches}"


def test_landmarks_are_a_cached_property_of_the_geometry():
    geom = VocalTractGeometry(SpeakerAnatomy())
    marks = geom.landmarks
    assert geom.landmarks is marks
    assert set(marks) == {"dental", "alveolar", "postalveolar", "retroflex", "palatal", "velar"}
    for p, n in marks.values():
        assert p.shape == (2,) and n.shape == (2,)
        assert np.isclose(np.linalg.norm(n), 1.0)
    other = VocalTractGeometry(SpeakerAnatomy())
    assert other.landmarks is not marks


def test_geometry_is_freed_after_use():
    geom = VocalTractGeometry(SpeakerAnatomy())
    consonant_gestures(Phoneme("t", "consonant", "alveolar", "stop"), geom, 0.0, 0.1)
    consonant_gestures(Phoneme("k", "consonant", "velar", "stop"), geom, 0.1, 0.2)
    geom.rasterize(geom.neutral[None], matrix=16, supersample=1)
    ref = weakref.ref(geom)
    del geom
    gc.collect()
    assert ref() is None, "something outside the geometry still holds it"


def test_planning_leaves_no_geometry_alive(monkeypatch):
    made: list[weakref.ref] = []

    class Tracked(VocalTractGeometry):
        def __init__(self, anatomy: SpeakerAnatomy) -> None:
            super().__init__(anatomy)
            made.append(weakref.ref(self))

    monkeypatch.setattr(articulation, "VocalTractGeometry", Tracked)
    segs = [
        PhoneSegment(SILENCE, 0.0, 0.1),
        PhoneSegment("t", 0.1, 0.18),
        PhoneSegment("a", 0.18, 0.35),
        PhoneSegment(SILENCE, 0.35, 0.45),
    ]
    plan_trajectory(segs, SpeakerAnatomy(), rng=np.random.default_rng(0))
    gc.collect()
    assert len(made) == 1 and made[0]() is None
