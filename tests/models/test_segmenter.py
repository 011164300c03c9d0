"""Articulator segmenter: config checks, padding in ``segment``, training to a high Dice on a
hand-made midsagittal toy, save/load round trip and fine-tuning from a saved file."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from mrisynth.config.schema import ConfigError
from mrisynth.engine.checkpoint import CheckpointError, save_checkpoint
from mrisynth.engine.solvers.segmenter import SegmentationDataset, augment_batch, train_segmenter
from mrisynth.engine.trainer import TrainConfig
from mrisynth.io.contours import AIR, TISSUE, UNTRACED
from mrisynth.metrics.anatomy import dice_per_class
from mrisynth.models.artifacts import load_segmenter, save_segmenter
from mrisynth.models.segmenter import SegmenterConfig, build_segmenter, pad_to_multiple, segment
from mrisynth.phantom.labels import LABELS, N_LABELS

SIZE = 48
TONE = {"background": 0.0, "airway": 0.04, "tongue": 0.75, "lips": 0.6, "jaw_teeth": 0.15}
TONE["other_tissue"] = 0.45


def toy_frames(n: int, size: int = SIZE, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` toy midsagittal frames ``(n, size, size)`` float in [0, 1] and uint8 labels.

    A head disk (other tissue) with an L-shaped airway (pharynx + oral cavity), a tongue
    ellipse and jaw that move with a random phase, lips in front; per-frame gain, jitter of
    the head position and Gaussian noise.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    lut = np.zeros(N_LABELS, np.float32)
    for name, tone in TONE.items():
        lut[LABELS[name]] = tone
    frames = np.empty((n, size, size), np.float32)
    labels = np.empty((n, size, size), np.uint8)
    for i in range(n):
        phase = rng.uniform(0, 2 * np.pi)
        cy, cx = 0.5 + rng.normal(0, 0.02, 2)
        lab = np.zeros((size, size), np.uint8)
        lab[(yy - cy) ** 2 + (xx - cx) ** 2 < 0.44**2] = LABELS["other_tissue"]
        pharynx = (np.abs(xx - cx - 0.12) < 0.05) & (yy > cy - 0.12) & (yy < cy + 0.38)
        oral = (np.abs(yy - cy + 0.12) < 0.05) & (xx > cx - 0.34) & (xx < cx + 0.17)
        lab[pharynx | oral] = LABELS["airway"]
        ty, tx = cy + 0.04 + 0.04 * np.sin(phase), cx - 0.05 + 0.05 * np.cos(phase)
        tongue = ((yy - ty) / 0.13) ** 2 + ((xx - tx) / 0.17) ** 2 < 1
        lab[tongue] = LABELS["tongue"]
        jaw_y = cy + 0.22 + 0.03 * (1 + np.sin(phase))
        jaw = ((yy - jaw_y) / 0.06) ** 2 + ((xx - cx + 0.12) / 0.2) ** 2 < 1
        lab[jaw & ~tongue] = LABELS["jaw_teeth"]
        lab[((yy - cy + 0.05) / 0.1) ** 2 + ((xx - cx + 0.38) / 0.06) ** 2 < 1] = LABELS["lips"]
        img = lut[lab] * rng.uniform(0.8, 1.1) + rng.normal(0, 0.05, lab.shape)
        frames[i] = np.clip(img, 0, 1)
        labels[i] = lab
    return frames, labels


def mean_foreground_dice(pred: np.ndarray, ref: np.ndarray) -> float:
    """Mean over frames and foreground classes present in ``ref`` (independent of MONAI)."""
    return float(np.nanmean(dice_per_class(pred, ref, N_LABELS)[:, 1:]))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on a small shared CPU, several threads of tiny convs mostly wait on
    each other (measured 2-3x slower on 2 busy cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained(one_thread, tmp_path_factory):
    """One CPU training run shared by the tests below: (model, cfg, val metrics, data, s)."""
    torch.manual_seed(0)
    train = toy_frames(40, seed=0)
    val = toy_frames(12, seed=1)
    cfg = SegmenterConfig(img_size=SIZE, lr=1e-2)
    out = tmp_path_factory.mktemp("seg_run")
    train_cfg = TrainConfig(
        max_steps=200,
        batch_size=4,
        warmup_steps=10,
        eval_interval=1000,
        log_interval=20,
        out_dir=str(out),
        progress=False,
        device="cpu",
    )
    t0 = time.perf_counter()
    model, metrics = train_segmenter(*train, *val, cfg=cfg, train_cfg=train_cfg)
    seconds = time.perf_counter() - t0
    return model, cfg, metrics, val, seconds


def test_training_reaches_high_dice(trained):
    model, cfg, metrics, (frames, labels), seconds = trained
    pred = segment(model, frames, batch_size=5)
    dice = mean_foreground_dice(pred, labels)
    print(f"segmenter toy: held-out Dice {dice:.3f} after {seconds:.1f} s")
    assert dice > 0.8
    assert metrics["valid/dice"] > 0.8  # the solver's MONAI metric agrees
    assert abs(metrics["valid/dice"] - dice) < 0.05
    torch.manual_seed(1)
    untrained = segment(build_segmenter(cfg), frames)
    assert mean_foreground_dice(untrained, labels) < 0.4


def test_save_load_round_trip(trained, tmp_path):
    model, cfg, _, (frames, _), _ = trained
    path = save_segmenter(tmp_path / "seg.pt", model, cfg)
    loaded, cfg2 = load_segmenter(path)
    assert cfg2 == cfg
    assert not loaded.training
    np.testing.assert_array_equal(segment(loaded, frames), segment(model, frames))
    with torch.no_grad():
        x = torch.from_numpy(frames[:2, None])
        torch.testing.assert_close(loaded(x), model.eval()(x), rtol=0, atol=0)


def test_fine_tune_from_saved(trained, tmp_path, recording_tracker):
    model, cfg, _, (frames, labels), _ = trained
    path = save_segmenter(tmp_path / "seg.pt", model, cfg)
    # Few steps at a tiny learning rate: the result must start from the saved weights.
    tuned_cfg = SegmenterConfig(img_size=SIZE, lr=1e-8, augment=False)
    train_cfg = TrainConfig(
        max_steps=2, batch_size=4, out_dir=str(tmp_path / "ft"), progress=False, device="cpu"
    )
    tracker = recording_tracker()
    tuned, metrics = train_segmenter(
        frames[:8],
        labels[:8],
        frames[8:],
        labels[8:],
        cfg=tuned_cfg,
        train_cfg=train_cfg,
        init_from=path,
        tracker=tracker,
    )
    assert metrics["valid/dice"] > 0.8
    # the run's config and its model (with the model's own config) reach the tracker
    assert tracker.params["segmenter"]["lr"] == 1e-8 and tracker.params["init_from"] == str(path)
    assert ("model", tmp_path / "ft" / "segmenter.pt") in tracker.artifacts
    logged = tracker.dicts["model/config.json"]
    assert logged["kind"] == "segmenter" and logged["step"] == 2
    assert logged["model_config"]["img_size"] == SIZE
    other = SegmenterConfig(img_size=SIZE, features=(8, 8, 16, 32, 64, 8))
    with pytest.raises(ValueError, match="architecture differs.*features"):
        train_segmenter(
            frames[:8],
            labels[:8],
            frames[8:],
            labels[8:],
            cfg=other,
            train_cfg=TrainConfig(max_steps=1, out_dir=str(tmp_path / "ft2"), progress=False),
            init_from=path,
        )


@pytest.mark.parametrize("shape", [(3, 50, 37), (1, 16, 16), (2, 84, 84), (5, 17, 64)])
def test_segment_pads_and_crops(shape):
    cfg = SegmenterConfig(img_size=16, features=(4, 4, 8, 8, 16, 4))
    model = build_segmenter(cfg).train()
    frames = np.random.default_rng(0).random(shape).astype(np.float32)
    labels = segment(model, frames, batch_size=2)
    assert labels.shape == shape and labels.dtype == np.uint8
    assert labels.max() < cfg.n_classes
    assert model.training  # mode restored
    # Batching does not change the result (eval mode: per-frame instance norm).
    np.testing.assert_array_equal(labels, segment(model, frames, batch_size=len(frames)))


def test_pad_to_multiple_centres_and_crops_back():
    x = np.arange(2 * 17 * 30).reshape(2, 17, 30)
    padded, (rows, cols) = pad_to_multiple(x, 16)
    assert padded.shape == (2, 32, 32)
    np.testing.assert_array_equal(padded[:, rows, cols], x)
    assert (rows.start, cols.start) == (7, 1)  # even split, extra pixel at the far side
    assert padded.sum() == x.sum()  # zero fill
    small, (rows, cols) = pad_to_multiple(x[:, :5, :16], 16, min_size=32)
    assert small.shape == (2, 32, 32)
    np.testing.assert_array_equal(small[:, rows, cols], x[:, :5, :16])


def test_segment_rejects_bad_frames():
    model = build_segmenter(SegmenterConfig(img_size=16, features=(4, 4, 8, 8, 16, 4)))
    with pytest.raises(ValueError, match=r"\(T, H, W\)"):
        segment(model, np.zeros((16, 16), np.float32))
    with pytest.raises(TypeError, match="divide uint8"):
        segment(model, np.zeros((1, 16, 16), np.uint8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        segment(model, np.full((1, 16, 16), 255.0, np.float32))
    with pytest.raises(ValueError, match="NaN"):
        segment(model, np.full((1, 16, 16), np.nan, np.float32))
    with pytest.raises(ValueError, match="batch_size"):
        segment(model, np.zeros((1, 16, 16), np.float32), batch_size=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"img_size": 8}, "img_size"),
        ({"features": (8, 16, 32)}, "6 widths"),
        ({"features": (8, 16, 32, 64, 0, 8)}, "positive integers"),
        ({"features": 8}, "sequence of 6"),
        ({"n_classes": 1}, "n_classes"),
        ({"dropout": 1.0}, "dropout"),
        ({"norm": "layer"}, "norm must be one of"),
        ({"upsample": "bicubic"}, "upsample"),
        ({"lr": 0.0}, "lr must be > 0"),
        ({"lambda_dice": 0.0, "lambda_ce": 0.0}, "lambda_dice"),
        ({"aug_zoom": 1.5}, "aug_zoom"),
        ({"aug_noise_std": -0.1}, "aug_noise_std"),
    ],
)
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SegmenterConfig(**kwargs)


def test_dataset_and_training_inputs_are_checked(tmp_path):
    frames, labels = toy_frames(4, size=16)
    ds = SegmentationDataset(frames, labels, N_LABELS)
    item = ds[0]
    # 16 px frames are padded to the 32 px minimum (label 0 = background around them).
    assert item["image"].shape == (1, 32, 32) and item["image"].dtype == torch.float32
    assert item["label"].shape == (1, 32, 32) and item["label"].dtype == torch.int64
    np.testing.assert_array_equal(item["label"][0, 8:24, 8:24].numpy(), labels[0])
    with pytest.raises(ValueError, match="train_labels shape"):
        SegmentationDataset(frames, labels[:, :8], N_LABELS, name="train")
    with pytest.raises(ValueError, match=r"ids must be in \[0, 3\]"):
        SegmentationDataset(frames, labels, 4)
    with pytest.raises(TypeError, match="integer label ids"):
        SegmentationDataset(frames, labels.astype(np.float32), N_LABELS)
    with pytest.raises(ValueError, match="val_frames must be .*img_size=16"):
        train_segmenter(
            frames,
            labels,
            frames[:, :8, :8],
            labels[:, :8, :8],
            cfg=SegmenterConfig(img_size=16),
            train_cfg=TrainConfig(max_steps=1, out_dir=str(tmp_path), progress=False),
        )


def test_augmentation_keeps_labels_aligned():
    frames, labels = toy_frames(8, size=32)
    image = torch.from_numpy(frames[:, None])
    label = torch.from_numpy(labels[:, None].astype(np.int64))
    cfg = SegmenterConfig(
        img_size=32,
        aug_noise_std=0.0,
        aug_intensity_scale=0.0,
        aug_intensity_shift=0.0,
        aug_shift_px=3.0,
        aug_rotate_deg=5.0,
    )
    torch.manual_seed(0)
    aug_img, aug_lab = augment_batch(image, label, cfg)
    assert aug_img.shape == image.shape and aug_lab.dtype == torch.int64
    assert set(aug_lab.unique().tolist()) <= set(label.unique().tolist())
    assert not torch.equal(aug_lab, label)  # it did move things
    # Image and labels move together: the bright tongue stays on tongue labels.
    tongue = aug_lab == LABELS["tongue"]
    assert aug_img[tongue].mean() > 0.6 > aug_img[aug_lab == LABELS["airway"]].mean() + 0.4


def test_load_segmenter_rejects_other_files(tmp_path):
    path = save_checkpoint(tmp_path / "x.pt", {"format": "something/1", "model": {}})
    with pytest.raises(CheckpointError, match=r"x\.pt: not a model file"):
        load_segmenter(path)
    bad = save_checkpoint(
        tmp_path / "y.pt",
        {"format": "mrisynth.segmenter/1", "config": {"dropout": 2.0}, "model": {}},
    )
    with pytest.raises(ConfigError, match="dropout"):
        load_segmenter(bad)
    with pytest.raises(CheckpointError, match="file not found"):
        load_segmenter(tmp_path / "missing.pt")


def phantom_frames(n: int, seed: int, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """``n`` realistic phantom frames of one random speaker in random articulatory states,
    scaled to [0, 1] by the recording's 99.5th percentile, and their label maps."""
    from mrisynth.phantom.anatomy import sample_anatomy
    from mrisynth.phantom.articulation import ARTICULATORY_PARAMS, neutral_state
    from mrisynth.phantom.geometry import VocalTractGeometry
    from mrisynth.phantom.mri import MRIAppearance, downsample_labels, render_mri

    ranges = {
        "jaw_open_mm": (2, 16),
        "lip_aperture_mm": (-1, 12),
        "lip_protrusion_mm": (0, 5),
        "tongue_body_back_mm": (-8, 8),
        "tongue_body_height_mm": (-6, 8),
        "tongue_tip_back_mm": (-4, 4),
        "tongue_tip_height_mm": (-3, 8),
        "velum_port_mm": (-1, 6),
    }
    rng = np.random.default_rng(seed)
    anatomy = sample_anatomy(rng)
    states = np.repeat(neutral_state(anatomy)[None], n, 0)
    for name, (lo, hi) in ranges.items():
        states[:, ARTICULATORY_PARAMS.index(name)] = rng.uniform(lo, hi, n)
    hr = VocalTractGeometry(anatomy).rasterize(
        states, matrix=size, spacing_mm=200.0 / size, supersample=3
    )
    frames = render_mri(hr, supersample=3, appearance=MRIAppearance.realistic(), rng=rng, fps=83.28)
    frames = np.clip(frames / np.percentile(frames, 99.5), 0, 1).astype(np.float32)
    return frames, downsample_labels(hr, 3)


@pytest.mark.slow
def test_phantom_segmentation_generalises_to_new_speaker(tmp_path):
    """Two training speakers, a third held out; all 8 foreground classes (~1-3 min on CPU)."""
    pytest.importorskip("mrisynth.phantom.mri")
    parts = [phantom_frames(20, seed) for seed in (0, 1)]
    frames = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    val_frames, val_labels = phantom_frames(12, seed=2)
    torch.manual_seed(0)
    cfg = SegmenterConfig(img_size=64, lr=1e-2, features=(16, 16, 32, 64, 128, 16))
    train_cfg = TrainConfig(
        max_steps=300, batch_size=4, warmup_steps=10, eval_interval=1000,
        out_dir=str(tmp_path), progress=False, device="cpu",
    )  # fmt: skip
    model, metrics = train_segmenter(
        frames, labels, val_frames, val_labels, cfg=cfg, train_cfg=train_cfg
    )
    dice = mean_foreground_dice(segment(model, val_frames), val_labels)
    print(f"segmenter phantom: held-out speaker Dice {dice:.3f}")
    assert dice > 0.75


def _air_tissue(labels: np.ndarray) -> np.ndarray:
    """Phantom labels -> air (airway, background) / tissue maps, as manual contours give."""
    air = np.isin(labels, (LABELS["airway"], LABELS["background"]))
    return np.where(air, AIR, TISSUE).astype(np.uint8)


def test_air_tissue_fine_tuning_learns_the_collapsed_classes(trained, tmp_path):
    """Fine-tuning on air/tissue maps trains the 9-class model; untraced pixels are ignored."""
    model, cfg, _, _, _ = trained
    path = save_segmenter(tmp_path / "seg.pt", model, cfg)
    frames, labels = toy_frames(24, seed=5)
    # a new appearance: inverted contrast, which the phantom-trained model has never seen
    frames = 1.0 - frames
    target = _air_tissue(labels)
    target[:, :, :8] = UNTRACED  # an untraced stripe: anything goes there
    before = segment(model, frames[16:])
    train_cfg = TrainConfig(
        max_steps=60, batch_size=8, out_dir=str(tmp_path / "ft"), progress=False, device="cpu"
    )
    tuned, metrics = train_segmenter(
        frames[:16],
        target[:16],
        frames[16:],
        target[16:],
        cfg=SegmenterConfig(img_size=SIZE, lr=3e-3),
        train_cfg=train_cfg,
        init_from=path,
        air_tissue=True,
    )
    after = segment(tuned, frames[16:])
    ref = target[16:] == AIR
    scored = target[16:] != UNTRACED

    def accuracy(pred):
        air = np.isin(pred, (LABELS["airway"], LABELS["background"]))
        return float((air == ref)[scored].mean())

    assert accuracy(after) > 0.95 > accuracy(before) + 0.1
    assert metrics["valid/dice"] > 0.9
    with pytest.raises(ValueError, match="air/tissue labels must be 0"):
        SegmentationDataset(frames, labels, N_LABELS, air_tissue=True)


def test_domain_randomised_training_batches(trained):
    from mrisynth.transforms.domain import DomainRandomization

    frames, labels = toy_frames(8, size=32)
    image = torch.from_numpy(frames[:, None])
    label = torch.from_numpy(labels[:, None].astype(np.int64))
    cfg = SegmenterConfig(img_size=32, domain=DomainRandomization(prob=1.0))
    torch.manual_seed(3)
    a_img, a_lab = augment_batch(image, label, cfg)
    torch.manual_seed(3)
    b_img, b_lab = augment_batch(image, label, cfg)
    torch.testing.assert_close(a_img, b_img, rtol=0, atol=0)  # torch's RNG drives it
    assert torch.equal(a_lab, b_lab) and type(a_img) is torch.Tensor
    assert set(a_lab.unique().tolist()) <= set(label.unique().tolist())
    assert (a_img - image).abs().mean() > 0.05
