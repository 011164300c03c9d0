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
#: The pipelines that train models (real_contours and real_template build on the quickstart's
#: models); all but PARTIAL run the whole study, phantom -> evaluate.
EXPERIMENTS = sorted(
    p.parent.name
    for p in (REPO / "experiments").glob("*/params.yaml")
    if p.parent.name not in ("real_contours", "real_template")
)
#: compare trains only an ablation's generator and segmenter (its validation takes the
#: quickstart's models).
PARTIAL = ("compare",)
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
    dvc = yaml.safe_load((REPO / "experiments" / name / "dvc.yaml").read_text())
    stages = set(dvc["stages"])
    # every study has these; the segmenter only where there are articulators (not faces)
    if name not in PARTIAL:
        assert set(STAGES) - {"segmenter"} | {"phantom", "prepare", "evaluate"} <= stages
    assert stages & set(STAGES), f"{name} trains no model: list it with real_contours"
    for stage, kind in STAGES.items():
        if stage not in stages:
            continue
        preset, base = stage_sections(str(params), stage, "mri_small")
        base.pop("freeze", None)
        cfgs = build_configs(kind, preset, [], str(tmp_path), dict(base))
        assert cfgs["model"].img_size == prep.img_size, "prepare.img_size must equal model.img_size"
        assert cfgs["model"].channels == (3 if prep.source == "face" else 1)
        if kind == "generator":  # the loss preset follows the channels unless a stage says
            assert cfgs["loss_preset"] == base.get(
                "loss_preset", "face" if prep.source == "face" else "mri"
            )


def test_wrong_stage_key_is_named(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump({"expert": {"train": {"max_step": 3}}}))
    preset, base = stage_sections(str(bad), "expert", "mri_small")
    with pytest.raises(ConfigError, match=r"train\.max_step: unknown key"):
        build_configs("expert", preset, [], str(tmp_path), base)
    bad.write_text(yaml.safe_dump({"expert": {"trian": {}}}))
    with pytest.raises(ConfigError, match=r"expert\.trian: unknown key"):
        stage_sections(str(bad), "expert", "mri_small")


def test_stage_presets_merge_under_the_experiment_overrides(tmp_path):
    from mrisynth.config.presets import load_preset

    f = tmp_path / "params.yaml"
    picks = {"pretrain": "generator/pretrain_cpu", "model": "mri_small"}
    f.write_text(yaml.safe_dump({"presets": picks, "pretrain": {"train": {"max_steps": 7}}}))
    preset, base = stage_sections(str(f), "pretrain", "face96")
    cfgs = build_configs("generator", preset, ["opt.lr=5e-4"], str(tmp_path), base)
    want = load_preset("generator", "pretrain_cpu")
    assert cfgs["model"].name == "mri_small"
    assert cfgs["train"].max_steps == 7  # the experiment's value...
    assert cfgs["train"].batch_size == want["train"]["batch_size"]  # ...over the preset's
    assert cfgs["opt"].lr == 5e-4  # --set over both
    assert cfgs["opt"].temporal_disc is want["opt"]["temporal_disc"]
    for key, value in want["loss"].items():  # the preset's loss values over the mri weights
        assert getattr(cfgs["loss"], key) == value
    assert cfgs["loss_preset"] == "mri" and cfgs["loss"].temporal == 0.1

    f.write_text(yaml.safe_dump({"presets": {"pretrain": "generator/nope"}}))
    with pytest.raises(ConfigError, match=r"unknown preset 'nope' in configs/generator/"):
        stage_sections(str(f), "pretrain", "mri_small")
    f.write_text(yaml.safe_dump({"presets": {"pretrain": "generator/pretrain_cpu"}}))
    with pytest.raises(ConfigError, match=r"no section or preset 'finetune'"):
        stage_sections(str(f), "finetune", "mri_small")


def test_loss_preset_follows_channels_and_is_part_of_the_stage_schema(tmp_path):
    from mrisynth.losses.weights import GeneratorLossWeights

    face = build_configs("generator", "face_small", [], str(tmp_path))
    assert face["loss_preset"] == "face" and face["loss"] == GeneratorLossWeights.face()
    mri = build_configs("generator", "mri_small", ["loss.sync=0"], str(tmp_path))
    assert mri["loss_preset"] == "mri" and mri["loss"].temporal == 0.1 and mri["loss"].sync == 0
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump({"pretrain": {"loss_preset": "mri", "loss": {"gan": 0.0}}}))
    preset, base = stage_sections(str(f), "pretrain", "face_small")
    cfgs = build_configs("generator", preset, [], str(tmp_path), base)
    assert cfgs["loss_preset"] == "mri" and cfgs["loss"].ssim == 0.1 and cfgs["loss"].gan == 0.0
    f.write_text(yaml.safe_dump({"expert": {"loss_preset": "face"}}))
    preset, base = stage_sections(str(f), "expert", "mri_small")
    with pytest.raises(ConfigError, match="loss weights apply to the generator only"):
        build_configs("expert", preset, [], str(tmp_path), base)
    f.write_text(yaml.safe_dump({"pretrain": {"loss_preset": "wav2lip"}}))
    preset, base = stage_sections(str(f), "pretrain", "mri_small")
    with pytest.raises(ConfigError, match="'wav2lip' is not one of mri, face"):
        build_configs("generator", preset, [], str(tmp_path), base)


def test_real_contours_segmenter_stage_resolves():
    """The randomised segmenter stage gets the quickstart recipe plus domain randomisation."""
    from mrisynth.models.segmenter import SegmenterConfig

    params = REPO / "experiments" / "real_contours" / "params.yaml"
    _, base = stage_sections(str(params), "segmenter_randomized", "mri_small")
    cfg = from_dict(SegmenterConfig, {**base["opt"], "img_size": 48}, where="opt")
    assert cfg.domain is not None and cfg.domain.prob == 0.5
    assert base["train"]["max_steps"] == 300


def test_real_template_params_resolve():
    """The real-recordings template: its phantom (the unseen domain) and adapt sections resolve
    against their schemas, and every speaker it adapts gets an adapt stage."""
    from mrisynth.recipes.adapt import AdaptConfig

    params = REPO / "experiments" / "real_template" / "params.yaml"
    raw = yaml.safe_load(params.read_text())
    cfg = from_dict(PhantomConfig, load_section("phantom", None, params=params), where="phantom")
    assert cfg.fps != 83.28 and cfg.matrix == 68  # not the quickstart's domain
    from_dict(AdaptConfig, raw["adapt"], where="adapt")
    dvc = yaml.safe_load((REPO / "experiments" / "real_template" / "dvc.yaml").read_text())
    assert dvc["stages"]["adapt"]["foreach"] == "${speakers}"
    assert raw["speakers"] and all(isinstance(s, str) for s in raw["speakers"])
    assert {"recordings", "adapt", "judge", "anatomy"} <= set(dvc["stages"])
