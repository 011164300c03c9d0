"""Every experiment's params.yaml resolves against the typed schema (fast check)."""

from pathlib import Path

import pytest
import yaml

from mrisynth.cli.train import build_configs, stage_sections
from mrisynth.config.presets import load_section
from mrisynth.config.schema import ConfigError, from_dict
from mrisynth.data.prepare import PrepareConfig
from mrisynth.evaluation.evaluate import EvalConfig
from mrisynth.phantom.corpus import PhantomConfig

REPO = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted(p.parent.name for p in (REPO / "experiments").glob("*/params.yaml"))
STAGES = {
    "expert": "expert",
    "eval_expert": "expert",
    "pretrain": "generator",
    "finetune": "generator",
    "segmenter": "segmenter",
}


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_params_resolve(name, tmp_path):
    params = REPO / "experiments" / name / "params.yaml"
    from_dict(PhantomConfig, load_section("phantom", None, params=params), where="phantom")
    prep = from_dict(PrepareConfig, load_section("prepare", None, params=params), where="prepare")
    from_dict(EvalConfig, load_section("evaluate", None, params=params), where="evaluate")
    for stage, kind in STAGES.items():
        preset, base = stage_sections(str(params), stage, "mri_small")
        base.pop("freeze", None)
        cfgs = build_configs(kind, preset, [], str(tmp_path), base)
        assert cfgs["model"].img_size == prep.img_size, "prepare.img_size must equal model.img_size"
    dvc = yaml.safe_load((REPO / "experiments" / name / "dvc.yaml").read_text())
    assert set(STAGES) | {"phantom", "prepare", "evaluate"} <= set(dvc["stages"])


def test_wrong_stage_key_is_named(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump({"expert": {"train": {"max_step": 3}}}))
    preset, base = stage_sections(str(bad), "expert", "mri_small")
    with pytest.raises(ConfigError, match=r"train\.max_step: unknown key"):
        build_configs("expert", preset, [], str(tmp_path), base)
    bad.write_text(yaml.safe_dump({"expert": {"trian": {}}}))
    with pytest.raises(ConfigError, match=r"expert\.trian: unknown key"):
        stage_sections(str(bad), "expert", "mri_small")
