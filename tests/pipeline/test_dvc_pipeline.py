"""The quickstart DVC pipeline, end to end on a tiny config (slow).

Runs the real ``experiments/quickstart/dvc.yaml`` in a scratch DVC repository whose
``configs/`` and ``mrisynth/`` point at this checkout, with a tiny ``params.yaml`` (same schema,
smaller numbers). Checks: every stage runs and leaves metrics, plots and an MLflow run; a second
``dvc repro`` does nothing; changing one evaluation param reruns only ``evaluate``.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

# The quickstart's presets with tiny sizes (the same schema as experiments/quickstart).
_STEPS = {"eval_interval": 15, "log_interval": 5, "ckpt_interval": 15, "warmup_steps": 5}
TINY = {
    "presets": {
        "phantom": "tiny",
        "model": "mri_small",
        "expert": "expert/cpu",
        "eval_expert": "expert/cpu",
        "pretrain": "generator/pretrain_cpu",
        "finetune": "generator/finetune_cpu",
        "segmenter": "segmenter/cpu",
        "evaluate": "cpu",
    },
    "phantom": {"face": False, "n_target_speakers": 1, "adapt_utterances_per_language": 2},
    "prepare": {"img_size": 48, "roi_size_mm": 120.0},
    "model": {"img_size": 48, "n_frames": 2},
    "expert": {
        "train": {"max_steps": 60, "batch_size": 16, **_STEPS},
        "opt": {"lr": 5.0e-4, "max_val_pairs": 64},
    },
    "eval_expert": {
        "train": {"max_steps": 60, "batch_size": 16, "seed": 1, **_STEPS},
        "opt": {"lr": 5.0e-4, "max_val_pairs": 64},
    },
    "pretrain": {
        "train": {"max_steps": 30, "batch_size": 8, **_STEPS},
        "opt": {"max_val_clips": 8},
    },
    "finetune": {  # with the frozen expert's sync term: clips then span its window
        "train": {"max_steps": 20, "batch_size": 4, **_STEPS},
        "opt": {"max_val_clips": 8},
        "loss": {"sync": 0.03, "sync_enable_below": None},
    },
    "segmenter": {"train": {"max_steps": 40, "batch_size": 8, **_STEPS}},
    "evaluate": {"n_videos": 1, "warp_stride": 8, "hd95_stride": 8},
}


def _dvc(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, f"dvc {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def _ran(log: str) -> list[str]:
    return re.findall(r"Running stage '[^']*:(\w+)'", log)


@pytest.mark.slow
def test_quickstart_pipeline_tiny(tmp_path):
    root = tmp_path / "repo"
    exp = root / "experiments" / "ci"
    exp.mkdir(parents=True)
    for name in ("configs", "mrisynth"):
        (root / name).symlink_to(REPO / name, target_is_directory=True)
    shutil.copy(REPO / "experiments" / "quickstart" / "dvc.yaml", exp / "dvc.yaml")
    (exp / "params.yaml").write_text(yaml.safe_dump(TINY, sort_keys=False))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    _dvc(root, "init", "-q")

    first = _dvc(root, "repro", "experiments/ci/dvc.yaml")
    assert set(_ran(first)) == {
        "phantom",
        "prepare",
        "expert",
        "eval_expert",
        "pretrain",
        "finetune",
        "segmenter",
        "evaluate",
    }
    metrics = json.loads((exp / "metrics" / "evaluate.json").read_text())
    for key in (
        "model.image_audio.ssim",
        "model.image_audio.dice_mean",
        "real.lse_d",
        "baseline_static.image_audio.ssim",
        "baseline_nearest_neighbour.image_audio.l1",
        "baseline_regression.image_audio.hd95_mean_mm",
        "model.image_audio.warp_error",
    ):
        assert key in metrics, key
    assert (exp / "plots" / "offset_curve.csv").is_file()
    assert (exp / "reports" / "report.html").is_file()
    assert "model.image_audio.ssim" in _dvc(root, "metrics", "show")
    assert (exp / "mlruns" / "mlflow.db").is_file()

    second = _dvc(root, "repro", "experiments/ci/dvc.yaml")
    assert _ran(second) == []

    params = yaml.safe_load((exp / "params.yaml").read_text())
    params["evaluate"]["seed"] = 1  # over the preset's seed 0
    (exp / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    third = _dvc(root, "repro", "experiments/ci/dvc.yaml")
    assert _ran(third) == ["evaluate"]
