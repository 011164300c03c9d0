"""Sharing a pipeline's results through a DVC remote, as a lab does (slow).

What is cached (pushed to the remote) and what is not, as ``experiments/*/dvc.yaml`` declares:

- ``data/phantom`` and ``data/prepared`` are ``cache: false``: they are regenerated from the
  params and the code in about a minute, byte-identically on one machine, and are larger than
  the models; keeping them out of the cache keeps the remote small.
- ``models/<stage>`` are cached: they cost the training time (minutes on a CPU, hours at GPU
  size) and are what a lab shares.
- ``metrics/*.json`` and ``plots/*.csv`` are ``cache: false`` and small: git carries them.

The test runs the README's recipe, command for command, on the tiny quickstart cut to its first
three stages (phantom → prepare → expert; the stage definitions as shipped): repro, a local
folder remote, push, commit, clone, pull, repro, status. ``dvc repro`` in the clone regenerates
only the uncached stages, byte-identically (their outputs match the lock, so the pulled expert
is not retrained), and ``dvc status`` is then clean.
"""

import copy
import hashlib
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from test_dvc_pipeline import REPO, TINY, _dvc, _ran, _scratch_repo

_GIT = ["git", "-c", "user.name=ci", "-c", "user.email=ci@localhost"]


def _git(cwd: Path, *args: str) -> str:
    proc = subprocess.run([*_GIT, *args], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, f"git {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _digest(folder: Path) -> dict[str, str]:
    """md5 (DVC's file hash) of every file under ``folder`` that DVC hashes (relative path →
    hex): ``.dvcignore`` leaves out the run metadata that varies between identical runs."""
    return {
        p.relative_to(folder).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.endswith(".run.json") and p.name != "timing.jsonl"
    }


@pytest.mark.slow  # 126 s on 2 cores shared with other jobs (43 s of CPU in this process tree)
def test_remote_push_clone_pull_repro(tmp_path):
    t0 = time.perf_counter()
    params = copy.deepcopy(TINY)  # a short expert: what is trained does not matter here
    params["expert"]["train"].update(max_steps=15, eval_interval=15, ckpt_interval=15)
    root, exp = _scratch_repo(tmp_path, "quickstart", params)
    stages = ["phantom", "prepare", "expert"]
    pipeline = yaml.safe_load((exp / "dvc.yaml").read_text())
    pipeline["stages"] = {k: v for k, v in pipeline["stages"].items() if k in stages}
    (exp / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    # the repository's ignore files, as a lab's clone has them: generated data, models and
    # MLflow runs stay out of git; varying run metadata stays out of the output hashes
    for name in (".gitignore", ".dvcignore", "experiments/.gitignore"):
        shutil.copy(REPO / name, root / name)
    assert _ran(_dvc(root, "repro", "experiments/ci/dvc.yaml")) == stages
    print(f"first repro: {time.perf_counter() - t0:.0f} s")

    remote = tmp_path / "remote"
    _dvc(root, "remote", "add", "-d", "lab", str(remote))
    pushed = _dvc(root, "push", "experiments/ci/dvc.yaml")
    # only the cached outputs travel: the expert's files (content-addressed, so best.pt and
    # the checkpoint it copies are one object) and the folder's .dir manifest; no phantom or
    # prepared data
    stored = {p.parent.name + p.name for p in remote.rglob("*") if p.is_file()}
    lock = (exp / "dvc.lock").read_text()
    manifest = re.search(r"path: models/expert\n\s+hash: md5\n\s+md5: (\w+\.dir)", lock)
    assert manifest, lock
    expected = set(_digest(exp / "models" / "expert").values()) | {manifest.group(1)}
    assert stored == expected, pushed

    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "tiny quickstart up to the expert")
    tracked = _git(root, "ls-files").splitlines()
    assert "experiments/ci/dvc.lock" in tracked and ".dvc/config" in tracked
    assert "experiments/ci/metrics/expert.json" in tracked
    outputs = [f for f in tracked if f.startswith("experiments/")]  # mrisynth/ is a copy
    assert not [f for f in outputs if "/data/" in f or "/models/" in f or "mlruns" in f]

    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", str(root), str(clone))
    cexp = clone / "experiments" / "ci"
    assert not (cexp / "models").exists() and not (cexp / "data").exists()
    assert "lab" in _dvc(clone, "remote", "list")  # the remote came with .dvc/config
    _dvc(clone, "pull", "experiments/ci/dvc.yaml")
    assert _digest(cexp / "models" / "expert") == _digest(exp / "models" / "expert")
    assert not (cexp / "data").exists()  # uncached: nothing to pull

    t1 = time.perf_counter()
    log = _dvc(clone, "repro", "experiments/ci/dvc.yaml")
    print(f"repro in the clone: {time.perf_counter() - t1:.0f} s")
    assert _ran(log) == ["phantom", "prepare"]  # the pulled expert is not retrained
    for out in ("data/phantom", "data/prepared"):  # regenerated byte-identically
        assert _digest(cexp / out) == _digest(exp / out), out
    assert (cexp / "dvc.lock").read_text() == lock
    status = _dvc(clone, "status", "experiments/ci/dvc.yaml")
    assert "up to date" in status, status
    assert _git(clone, "status", "--porcelain") == ""  # nothing to commit after the repro
    print(f"remote round trip: {time.perf_counter() - t0:.0f} s")
