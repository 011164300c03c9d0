"""Code deps of pipeline stages: the import closure of what a stage's command runs.

The first tests build a small fake ``mrisynth`` package; the last reads every
``experiments/*/dvc.yaml`` and fails when a stage misses a file of its closure (or lists code
it does not run), naming the stage and the file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mrisynth.utils.code_deps import (
    command_entries,
    import_closure,
    main,
    pipeline_code_deps,
    stage_code_deps,
)

REPO = Path(__file__).resolve().parents[2]


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def fake(tmp_path: Path) -> Path:
    """A package with a lazy CLI: ``run`` imports ``a.b`` inside a function; ``c`` is unused."""
    _write(
        tmp_path,
        {
            "mrisynth/__init__.py": "",
            "mrisynth/cli/__init__.py": "",
            "mrisynth/cli/main.py": (
                "COMMANDS: dict = {'go': ('go', 'help'), 'go-far': ('go_far', 'help')}\n"
                "import importlib\n"  # imports every subcommand: not part of any closure
            ),
            "mrisynth/cli/go.py": (
                "from mrisynth.cli.common import x\ndef run():\n    from mrisynth.a import b\n"
            ),
            "mrisynth/cli/go_far.py": "import mrisynth.c.d\n",
            "mrisynth/cli/common.py": "x = 1\n",
            "mrisynth/a/__init__.py": "",
            "mrisynth/a/b.py": "from .e import f\n",  # relative import
            "mrisynth/a/e.py": "f = 1\n",
            "mrisynth/c/__init__.py": "from mrisynth.c.d import g\n",
            "mrisynth/c/d.py": "import numpy\ng = 1\n",
            "mrisynth/c/unused.py": "",
            "exp/run.py": "from helper import h\nimport mrisynth.a.e\n",
            "exp/helper.py": "h = 1\n",
        },
    )
    return tmp_path


def _rel(paths: set[Path], root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in paths}


def test_closure_follows_function_level_and_relative_imports(fake):
    closure = import_closure([fake / "mrisynth/cli/go.py"], fake)
    assert _rel(closure, fake) == {
        "mrisynth/__init__.py",
        "mrisynth/cli/__init__.py",
        "mrisynth/cli/go.py",
        "mrisynth/cli/common.py",
        "mrisynth/a/__init__.py",
        "mrisynth/a/b.py",
        "mrisynth/a/e.py",
    }


def test_closure_runs_package_inits_and_script_siblings(fake):
    far = import_closure([fake / "mrisynth/cli/go_far.py"], fake)
    assert "mrisynth/c/__init__.py" in _rel(far, fake)  # runs on `import mrisynth.c.d`
    assert "mrisynth/c/unused.py" not in _rel(far, fake)
    script = import_closure([fake / "exp/run.py"], fake)
    assert {"exp/run.py", "exp/helper.py", "mrisynth/a/e.py"} <= _rel(script, fake)


def test_command_entries(fake):
    wdir = fake / "exp"
    go = command_entries("${env} A=1 mrisynth go --out x", wdir, fake)
    assert go == [fake / "mrisynth/cli/go.py"]
    # the subcommand's module comes from cli/main.py's table, not from its name
    assert command_entries("mrisynth go-far", wdir, fake) == [fake / "mrisynth/cli/go_far.py"]
    assert command_entries("python run.py --out m", wdir, fake) == [wdir / "run.py"]
    assert command_entries("python -m mrisynth.a.b", wdir, fake) == [fake / "mrisynth/a/b.py"]
    with pytest.raises(ValueError, match="no mrisynth subcommand 'stop'"):
        command_entries("mrisynth stop", wdir, fake)
    with pytest.raises(ValueError, match="runs no mrisynth subcommand"):
        command_entries("bash run.sh", wdir, fake)


def test_stage_deps_list_whole_folders_once(fake):
    deps = stage_code_deps("mrisynth go", fake / "exp", fake)
    # a/ is whole (both modules run); cli/ is not (go_far.py, main.py do not run)
    assert deps == [
        "../mrisynth/__init__.py",
        "../mrisynth/a",
        "../mrisynth/cli/__init__.py",
        "../mrisynth/cli/common.py",
        "../mrisynth/cli/go.py",
    ]
    assert "../mrisynth/c" not in stage_code_deps("mrisynth go-far", fake / "exp", fake)


def _listed_code(stage: dict) -> set[str]:
    return {d for d in stage.get("deps", []) if "mrisynth/" in d or d.endswith(".py")}


@pytest.mark.parametrize(
    "experiment", sorted(p.parent.name for p in REPO.glob("experiments/*/dvc.yaml"))
)
def test_pipelines_list_every_stage_code_dep(experiment):
    """Each stage lists exactly its import closure: a missing file would leave results stale
    after that file changes, an extra one reruns the stage for code it does not run."""
    dvc_yaml = REPO / "experiments" / experiment / "dvc.yaml"
    stages = yaml.safe_load(dvc_yaml.read_text())["stages"]
    wanted = pipeline_code_deps(dvc_yaml, REPO)
    rel = dvc_yaml.relative_to(REPO)
    for name, stage in stages.items():
        listed = _listed_code(stage.get("do", stage))
        missing = sorted(set(wanted[name]) - listed)
        extra = sorted(listed - set(wanted[name]))
        assert not missing, f"{rel} stage {name} misses code deps {missing}"
        assert not extra, f"{rel} stage {name} lists code it does not import: {extra}"


def test_quickstart_training_does_not_run_metrics():
    """The split the issue asks for: a metric edit reruns only `evaluate`, a phantom edit
    touches the phantom stage (and, through its data, everything after it)."""
    deps = pipeline_code_deps(REPO / "experiments/quickstart/dvc.yaml", REPO)
    for stage, paths in deps.items():
        runs_metrics = any("mrisynth/metrics" in p for p in paths)
        assert runs_metrics == (stage == "evaluate"), stage
    assert "../../mrisynth/phantom/mri.py" in deps["phantom"]
    assert not any("mrisynth/phantom" in p for p in deps["prepare"])


def test_main_prints_deps_or_one_error_line(fake, capsys):
    good, bad = fake / "exp/dvc.yaml", fake / "exp/bad.yaml"
    good.write_text("stages:\n  s:\n    cmd: mrisynth go --out x\n")
    bad.write_text("stages:\n  s:\n    cmd: mrisynth go\n  t:\n    cmd: bash x.sh\n")
    assert main([str(good), "--repo", str(fake)]) == 0
    assert "s:\n  - ../mrisynth/__init__.py\n  - ../mrisynth/a\n" in capsys.readouterr().out
    assert main([str(good), str(bad), "--repo", str(fake)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert f"{bad}: stage t: stage command 'bash x.sh'" in err
