"""The package code a pipeline stage runs: its import closure, as DVC deps.

A stage's command (``mrisynth train expert ...``, ``python judge.py ...``) is mapped to its
entry files: the subcommand's module ``mrisynth/cli/<sub>.py`` (not ``cli/main.py``, which
only dispatches and imports every subcommand to build the parser) or the script. The closure
follows every ``import`` in those files with :mod:`ast`, function-level imports included
(the CLI imports lazily), through ``mrisynth`` and through a script's sibling modules; a
module pulls in its packages' ``__init__.py`` (Python runs them on import) and the data files
it reads at run time (:data:`PACKAGE_DATA`). Nothing is imported or executed.

:func:`stage_code_deps` gives the deps as ``dvc.yaml`` lists them: a package folder where all
its modules are in the closure, files otherwise, relative to the stage's folder. Print them
for a pipeline with ``python -m mrisynth.utils.code_deps experiments/quickstart/dvc.yaml``.
"""

from __future__ import annotations

import argparse
import ast
import functools
import os
import shlex
import sys
from collections.abc import Iterable
from pathlib import Path

import yaml

__all__ = [
    "PACKAGE",
    "PACKAGE_DATA",
    "command_entries",
    "import_closure",
    "imported_names",
    "pipeline_code_deps",
    "stage_code_deps",
]

PACKAGE = "mrisynth"

#: Module (below ``mrisynth/``) -> package data it reads at run time; an import does not show
#: them, and a change to them changes the module's output all the same.
PACKAGE_DATA: dict[str, tuple[str, ...]] = {"phantom/text.py": ("phantom/sentences",)}


def imported_names(path: Path) -> set[str]:
    """Dotted names a file imports anywhere (module level and inside functions).

    ``from a.b import c`` yields ``a.b`` and ``a.b.c`` (``c`` may be a submodule); relative
    imports are resolved against the file's package when it lies in ``mrisynth/``.

    Args:
        path: a Python source file.

    Returns:
        The absolute dotted names, e.g. ``{"mrisynth.io", "mrisynth.io.read_sequence"}``.
    """
    stat = path.stat()
    return set(_imported_names(path.resolve(), stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=4096)
def _imported_names(path: Path, mtime_ns: int, size: int) -> frozenset[str]:
    # cached per file version: pipelines share most of their closures, and parsing dominates
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _package_of(path)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: only meaningful inside the package
                if package is None:
                    continue
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return frozenset(name for name in found if name)


def _package_of(path: Path) -> str | None:
    """``mrisynth.a`` for ``.../mrisynth/a/b.py`` (the package a relative import starts from)."""
    parts = path.resolve().parts
    if PACKAGE not in parts:
        return None
    i = len(parts) - 1 - parts[::-1].index(PACKAGE)
    return ".".join(parts[i:-1])


def _module_files(name: str, repo: Path) -> list[Path]:
    """Files Python runs to import ``name`` from ``repo``: each package's ``__init__.py``
    along the dotted path, then the module itself; ``[]`` where ``name`` is no module there
    (an attribute such as ``mrisynth.io.read_sequence``)."""
    parts = name.split(".")
    files = []
    for i in range(1, len(parts) + 1):
        base = repo.joinpath(*parts[:i])
        if (base / "__init__.py").is_file():
            files.append(base / "__init__.py")
        elif i == len(parts) and base.with_suffix(".py").is_file():
            files.append(base.with_suffix(".py"))
        else:  # the last part an attribute: its packages still run; a missing package: none
            return files if i == len(parts) else []
    return files


def import_closure(entries: Iterable[Path], repo: Path) -> set[Path]:
    """Every file the entry files import, transitively, within ``mrisynth`` and their folders.

    Args:
        entries: Python files a command runs (a CLI module, a script).
        repo: the folder holding the ``mrisynth`` package.

    Returns:
        The entry files, the ``mrisynth`` modules and ``__init__.py`` files they reach,
        the scripts' sibling modules they import, and :data:`PACKAGE_DATA` paths (files or
        folders); all resolved.
    """
    repo = repo.resolve()
    todo = [Path(e).resolve() for e in entries]
    seen: set[Path] = set()
    files: dict[tuple[str, Path], list[Path]] = {}  # name lookups repeat across modules
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imported_names(path):
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                base = repo
            elif not _in_package(path, repo):  # a script's sibling (`from loso import ...`)
                base = path.parent
            else:  # a library
                continue
            if (name, base) not in files:
                files[name, base] = _module_files(name, base)
            todo.extend(f for f in files[name, base] if f not in seen)
    data = set()
    for path in seen:
        if _in_package(path, repo):
            rel = path.relative_to(repo / PACKAGE).as_posix()
            data.update(repo / PACKAGE / d for d in PACKAGE_DATA.get(rel, ()))
    return seen | data


def _in_package(path: Path, repo: Path) -> bool:
    return path.is_relative_to(repo / PACKAGE)


def _commands(repo: Path) -> dict[str, str]:
    """Subcommand -> module under ``mrisynth.cli``, read from ``cli/main.py``'s ``COMMANDS``
    table (parsed, not imported: this module sits below the CLI's layer)."""
    tree = ast.parse((repo / PACKAGE / "cli" / "main.py").read_text(encoding="utf-8"))
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if isinstance(target, ast.Name) and target.id == "COMMANDS" and node.value is not None:
            return {sub: module for sub, (module, _) in ast.literal_eval(node.value).items()}
    raise ValueError(f"{repo / PACKAGE / 'cli' / 'main.py'}: no COMMANDS table")


def command_entries(cmd: str, wdir: Path, repo: Path) -> list[Path]:
    """The Python files a stage's command starts from.

    Args:
        cmd: the stage's ``cmd`` as written in ``dvc.yaml`` (leading ``VAR=value`` words and
            ``${...}`` templates are skipped).
        wdir: the stage's working folder (the folder of its ``dvc.yaml``).
        repo: the folder holding the ``mrisynth`` package.

    Returns:
        ``[mrisynth/cli/<module>.py]`` for ``mrisynth <sub>``, ``[<script>.py]`` for
        ``python <script>.py``, the module's file for ``python -m mrisynth...``.

    Raises:
        ValueError: a command that runs neither (its code would go untracked).
    """
    words = [w for w in shlex.split(cmd) if not (w.startswith("${") or _is_assignment(w))]
    if len(words) >= 2 and words[0] == PACKAGE:
        module = _commands(repo).get(words[1])
        if module is None:
            raise ValueError(f"stage command {cmd!r}: no mrisynth subcommand {words[1]!r}")
        return [repo / PACKAGE / "cli" / f"{module}.py"]
    if words and Path(words[0]).name in ("python", "python3"):
        if len(words) >= 3 and words[1] == "-m":
            files = _module_files(words[2], repo)
            if files:
                return [files[-1]]
        elif len(words) >= 2 and words[1].endswith(".py"):
            return [(wdir / words[1]).resolve()]
    raise ValueError(f"stage command {cmd!r} runs no mrisynth subcommand or Python script")


def _is_assignment(word: str) -> bool:
    name, eq, _ = word.partition("=")
    return bool(eq) and name.isidentifier()


def stage_code_deps(cmd: str, wdir: Path, repo: Path) -> list[str]:
    """A stage's code deps as ``dvc.yaml`` lists them, sorted, relative to ``wdir``.

    A folder of ``mrisynth`` stands for its files where every module in it (subfolders
    included) is in the closure; otherwise the files are listed one by one.

    Args:
        cmd: the stage's command, see :func:`command_entries`.
        wdir: the stage's working folder.
        repo: the folder holding the ``mrisynth`` package.

    Returns:
        Paths such as ``../../mrisynth/phantom``, ``../../mrisynth/cli/phantom.py``,
        ``judge.py``.
    """
    repo, wdir = repo.resolve(), wdir.resolve()
    closure = import_closure(command_entries(cmd, wdir, repo), repo)
    package = repo / PACKAGE
    deps = _collapse(package, closure) | {p for p in closure if not _in_package(p, repo)}
    return sorted(_relative(p, wdir) for p in deps)


def _collapse(folder: Path, closure: set[Path]) -> set[Path]:
    """The closure's paths under ``folder``, a whole subfolder as the folder itself."""
    out: set[Path] = set()
    for child in sorted(folder.iterdir()):
        if child.name == "__pycache__":
            continue
        if child.is_dir():
            modules = [p for p in child.rglob("*.py") if "__pycache__" not in p.parts]
            if child in closure or (modules and all(p in closure for p in modules)):
                out.add(child)
            else:
                out |= _collapse(child, closure)
        elif child in closure:
            out.add(child)
    return out


def _relative(path: Path, wdir: Path) -> str:
    # os.path.relpath, not Path.relative_to: deps of experiments/<name>/ climb to ../../mrisynth
    return Path(os.path.relpath(path, wdir)).as_posix()


def pipeline_code_deps(dvc_yaml: Path, repo: Path) -> dict[str, list[str]]:
    """Code deps of every stage of a ``dvc.yaml`` (a ``foreach`` stage counts once).

    Args:
        dvc_yaml: the pipeline file.
        repo: the folder holding the ``mrisynth`` package.

    Returns:
        Stage name -> :func:`stage_code_deps`, in the file's order.
    """
    stages = yaml.safe_load(dvc_yaml.read_text(encoding="utf-8"))["stages"]
    out: dict[str, list[str]] = {}
    seen: dict[tuple[tuple[Path, ...], Path], list[str]] = {}
    for name, stage in stages.items():
        stage = stage.get("do", stage)
        wdir = dvc_yaml.parent / stage.get("wdir", ".")
        try:
            key = (tuple(command_entries(stage["cmd"], wdir, repo)), wdir)
            if key not in seen:  # e.g. the five `mrisynth train` stages share one closure
                seen[key] = stage_code_deps(stage["cmd"], wdir, repo)
        except (OSError, SyntaxError, ValueError) as e:
            raise ValueError(f"{dvc_yaml}: stage {name}: {e}") from e
        out[name] = seen[key]
    return out


def main(argv: list[str] | None = None) -> int:
    """Print each stage's code deps (``dvc.yaml`` syntax) for the pipelines named."""
    parser = argparse.ArgumentParser(
        prog="python -m mrisynth.utils.code_deps", description=main.__doc__
    )
    parser.add_argument("dvc_yaml", nargs="+", type=Path)
    parser.add_argument(
        "--repo", type=Path, default=Path(__file__).resolve().parents[2], help="holds mrisynth/"
    )
    args = parser.parse_args(argv)
    try:  # every pipeline first: a bad one prints nothing but its error
        found = {path: pipeline_code_deps(path, args.repo) for path in args.dvc_yaml}
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError) as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 2
    for path, stages in found.items():
        print(f"# {path}")
        for stage, deps in stages.items():
            print(f"{stage}:\n" + "".join(f"  - {d}\n" for d in deps), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
