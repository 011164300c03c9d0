"""Model artifacts: one format for all three kinds, old formats, mismatches, stable bytes."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from mrisynth.data.spec import DataSpec
from mrisynth.models.artifacts import (
    ARTIFACT_FORMAT,
    Artifact,
    check_same_front_end,
    generator_mask,
    load_generator,
    load_model,
    load_segmenter,
    load_sync_expert,
    read_artifact,
    run_info_path,
    save_artifact,
    save_segmenter,
    upgrade_artifact,
)
from mrisynth.models.builders import ModelConfig, build_generator, build_sync_expert
from mrisynth.models.segmenter import SegmenterConfig, build_segmenter
from mrisynth.utils.state_files import CheckpointError, save_checkpoint

SIZE = 32


def tiny_cfg(**kw) -> ModelConfig:
    return dataclasses.replace(ModelConfig.preset("tiny"), **kw)


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _artifact(kind: str, **kw) -> tuple[Artifact, torch.nn.Module]:
    torch.manual_seed(0)
    cfg = tiny_cfg()
    if kind == "generator":
        model = build_generator(cfg)
        mask = np.zeros((SIZE, SIZE), bool)
        mask[10:20, 5:25] = True
        extra = dict(mask=mask, info={"mask_kind": "vocal_tract", "clip_frames": 2})
        weights = {"generator": _state(model)}
    elif kind == "sync_expert":
        model = build_sync_expert(cfg)
        extra = {}
        weights = {"expert": _state(model)}
    else:
        seg_cfg = SegmenterConfig(img_size=SIZE, features=(4, 4, 8, 8, 16, 4))
        model = build_segmenter(seg_cfg)
        art = Artifact(
            kind="segmenter",
            weights={"segmenter": _state(model)},
            model_config=dataclasses.asdict(seg_cfg),
            data_spec=DataSpec(fps=None, sample_rate=None, img_size=SIZE, channels=1),
            **kw,
        )
        return art, model
    art = Artifact(
        kind=kind,
        weights=weights,
        model_config=dataclasses.asdict(cfg),
        data_spec=DataSpec.of_model(cfg, spacing_mm=(2.5, 2.5)),
        train_config={"max_steps": 10, "out_dir": "runs/x"},
        metrics={"valid/loss": 0.25},
        step=10,
        **{**extra, **kw},
    )
    return art, model


@pytest.mark.parametrize("kind", ["generator", "sync_expert", "segmenter"])
def test_round_trip_of_every_kind(kind, tmp_path):
    art, model = _artifact(kind, run={"git_commit": "abc123", "sources": {"expert": "e.pt"}})
    path = save_artifact(tmp_path / f"{kind}.pt", art)
    raw = torch.load(path, weights_only=True)  # plain, safe to load
    assert raw["format"] == ARTIFACT_FORMAT and raw["kind"] == kind
    assert "abc123" not in repr({k: v for k, v in raw.items() if k not in ("weights", "mask")})
    back = read_artifact(path)
    assert back.kind == kind and back.step == art.step and back.metrics == art.metrics
    assert back.data_spec == art.data_spec and back.train_config == art.train_config
    assert back.run == {"git_commit": "abc123", "sources": {"expert": "e.pt"}}
    assert back.package_version == art.package_version and back.path == path
    if kind == "generator":
        np.testing.assert_array_equal(back.mask, art.mask)
        assert back.info == art.info
    rebuilt, _ = load_model(path, kind)
    assert not rebuilt.training
    for k, v in model.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[k], v), k


def test_identical_artifacts_are_byte_identical_and_run_metadata_stays_outside(tmp_path):
    a, _ = _artifact("generator", run={"git_commit": "one"})
    b, _ = _artifact("generator", run={"git_commit": "two", "timing": {"step_s": 0.1}})
    pa, pb = save_artifact(tmp_path / "a" / "g.pt", a), save_artifact(tmp_path / "b" / "g.pt", b)
    assert pa.read_bytes() == pb.read_bytes()
    assert run_info_path(pa).read_text() != run_info_path(pb).read_text()
    # A rewrite without run metadata leaves no stale sidecar behind.
    save_artifact(pa, dataclasses.replace(a, run={}))
    assert not run_info_path(pa).exists()


def test_wrong_kind_newer_format_and_foreign_files_are_refused(tmp_path):
    art, _ = _artifact("sync_expert")
    path = save_artifact(tmp_path / "expert.pt", art)
    with pytest.raises(CheckpointError, match="holds a 'sync_expert' model, expected 'generator'"):
        load_generator(path)
    raw = torch.load(path, weights_only=True)
    newer = save_checkpoint(tmp_path / "newer.pt", {**raw, "format": "mrisynth.artifact/3"})
    with pytest.raises(
        CheckpointError, match=r"newer\.pt: written in mrisynth\.artifact/3.*upgrade"
    ):
        read_artifact(newer)
    other = save_checkpoint(tmp_path / "other.pt", {"state_dict": {}})
    with pytest.raises(CheckpointError, match=r"other\.pt: not a model file"):
        read_artifact(other)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fps": 83.28}, "checkpoint fps 25.0 != expected fps 83.28"),
        ({"sample_rate": 22050}, "checkpoint sample_rate 16000 != expected sample_rate 22050"),
        ({"img_size": 64}, "checkpoint img_size 32 != expected img_size 64"),
        ({"channels": 3}, "checkpoint channels 1 != expected channels 3"),
        ({"model_cfg": tiny_cfg(fps=50.0)}, "checkpoint fps 25.0 != model config fps 50.0"),
    ],
)
def test_data_spec_mismatch_names_the_file_and_both_values(tmp_path, kwargs, message):
    art, _ = _artifact("sync_expert")
    path = save_artifact(tmp_path / "expert.pt", art)
    with pytest.raises(ValueError, match=r"expert\.pt: " + message.replace(".", r"\.")):
        load_sync_expert(path, **kwargs)
    load_sync_expert(path, fps=25.0, img_size=SIZE)  # matching values pass


def test_front_end_check_covers_the_sync_window():
    check_same_front_end(tiny_cfg(), tiny_cfg(), "e.pt")
    with pytest.raises(ValueError, match="e.pt: checkpoint sync_window_ms 200.0 != model config"):
        check_same_front_end(tiny_cfg(), tiny_cfg(sync_window_ms=400.0), "e.pt")
    with pytest.raises(
        ValueError, match="e.pt: checkpoint img_size 32 != model config img_size 48"
    ):
        check_same_front_end(tiny_cfg(), tiny_cfg(img_size=48), "e.pt")


# ---------------------------------------------------------------------------------- old formats
def _legacy_meta(kind: str, cfg: ModelConfig, **extra) -> dict:
    return {
        "kind": kind,
        "model_config": dataclasses.asdict(cfg),
        "fps": cfg.fps,
        "sample_rate": cfg.mel.sample_rate,
        "img_size": cfg.img_size,
        "channels": cfg.channels,
        **extra,
    }


def test_files_of_the_earlier_formats_still_load(tmp_path):
    art, gen = _artifact("generator")
    cfg = tiny_cfg()
    mask = torch.from_numpy(art.mask)
    meta = _legacy_meta("generator", cfg, mask=mask, mask_kind="vocal_tract", clip_frames=2)
    # mrisynth.model/1: the generator / expert export of release 0.1
    old = save_checkpoint(
        tmp_path / "generator.pt",
        {
            "format": "mrisynth.model/1",
            "meta": {**meta, "sources": {"expert": "e.pt", "init_from": None}},
            "models": art.weights,
            "step": 7,
            "metrics": {"valid/l1": 0.1},
            "train_config": {"max_steps": 7},
            "git_commit": "deadbeef",
            "source": "best.pt",
        },
    )
    back = read_artifact(old, "generator")
    assert back.step == 7 and back.metrics == {"valid/l1": 0.1}
    assert back.run["git_commit"] == "deadbeef" and back.info["clip_frames"] == 2
    np.testing.assert_array_equal(back.mask, art.mask)
    np.testing.assert_array_equal(generator_mask(old), art.mask)
    model, cfg2 = load_generator(old, model_cfg=cfg)
    assert cfg2 == cfg and torch.equal(
        model.state_dict()["head.weight"], gen.state_dict()["head.weight"]
    )
    # a trainer checkpoint (mrisynth.trainer/1) of the generator solver
    trainer_ckpt = save_checkpoint(
        tmp_path / "step_00000007.pt",
        {
            "format": "mrisynth.trainer/1",
            "models": art.weights,
            "solver": {"meta": meta},
            "step": 7,
            "config": {"max_steps": 7},
        },
    )
    assert read_artifact(trainer_ckpt).kind == "generator"
    # mrisynth.segmenter/1
    seg, seg_model = _artifact("segmenter")
    old_seg = save_checkpoint(
        tmp_path / "seg.pt",
        {
            "format": "mrisynth.segmenter/1",
            "config": seg.model_config,
            "model": seg.weights["segmenter"],
        },
    )
    loaded, seg_cfg = load_segmenter(old_seg)
    assert seg_cfg.img_size == SIZE
    for k, v in seg_model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)
    # and one call upgrades a file to the current format
    new = upgrade_artifact(old, tmp_path / "up" / "generator.pt")
    raw = torch.load(new, weights_only=True)
    assert raw["format"] == ARTIFACT_FORMAT and read_artifact(new).step == 7
    assert json.loads(run_info_path(new).read_text())["git_commit"] == "deadbeef"


def test_save_segmenter_keeps_step_metrics_and_config(tmp_path):
    seg, model = _artifact("segmenter")
    cfg = SegmenterConfig(**{**seg.model_config, "features": tuple(seg.model_config["features"])})
    path = save_segmenter(
        tmp_path / "segmenter.pt",
        model,
        cfg,
        metrics={"valid/dice": 0.9},
        step=12,
        train_config={"max_steps": 12},
    )
    back = read_artifact(path, "segmenter")
    assert back.step == 12 and back.metrics == {"valid/dice": 0.9}
    assert back.train_config == {"max_steps": 12} and back.config() == cfg
