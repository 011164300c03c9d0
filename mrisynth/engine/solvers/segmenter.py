"""Training of the articulator segmenter (:mod:`mrisynth.models.segmenter`) with the shared
:class:`~mrisynth.engine.trainer.Trainer`.

- :class:`SegmentationDataset`: ``(N, H, W)`` frames + label maps -> ``{"image", "label"}``
  samples, zero-padded to a multiple of 16 px, at least 32 (padding = background, as in
  :func:`~mrisynth.models.segmenter.segment`).
- :func:`augment_batch`: light on-the-fly augmentation of a device batch (intensity gain/offset,
  noise, small rotation/zoom/translation; labels resampled nearest-neighbour).
- :class:`SegmenterSolver`: Dice+CE loss (MONAI ``DiceCELoss``); validation reports the loss and
  the mean foreground Dice (MONAI ``DiceMetric``, classes absent from a frame's reference skipped).
- :func:`train_segmenter`: the whole run, optionally fine-tuning from a saved segmenter
  (``init_from``), e.g. phantom-pretrained weights adapted to a few real annotated frames; it
  exports ``<out_dir>/segmenter.pt``, a model artifact (:mod:`mrisynth.models.artifacts`, like
  the generator's and the expert's) with the config, step, metrics and training config.

Example::

    model, val = train_segmenter(fr_tr, lab_tr, fr_va, lab_va, cfg=SegmenterConfig(img_size=84),
                                 train_cfg=TrainConfig(max_steps=2000, out_dir="runs/seg"))
    labels = segment(load_segmenter("runs/seg/segmenter.pt")[0], frames)  # (T, H, W) uint8
"""

from __future__ import annotations

import functools
import logging
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from monai.losses import DiceCELoss
from monai.metrics import DiceMetric
from torch import nn
from torch.utils.data import Dataset

from mrisynth.config.schema import to_dict
from mrisynth.engine.checkpoint import load_model_state
from mrisynth.engine.recipe import log_run_outputs, log_run_params, save_last_weights
from mrisynth.engine.tracking import NullTracker
from mrisynth.engine.trainer import Solver, TrainConfig, Trainer
from mrisynth.io.contours import AIR, TISSUE, UNTRACED
from mrisynth.models.artifacts import is_artifact, read_artifact, save_segmenter
from mrisynth.models.segmenter import (
    MIN_INPUT_SIZE,
    SegmenterConfig,
    build_segmenter,
    check_frames,
    pad_to_multiple,
)
from mrisynth.phantom.labels import LABELS
from mrisynth.transforms.domain import randomize_appearance, randomize_geometry
from mrisynth.utils.seed import seed_model_init

logger = logging.getLogger(__name__)

__all__ = ["SegmentationDataset", "SegmenterSolver", "augment_batch", "train_segmenter"]
#: Config fields that fix the weights' shapes/meaning; they must match when fine-tuning.
_ARCH_FIELDS = ("features", "n_classes", "norm", "upsample")


class SegmentationDataset(Dataset):
    """Frames and their label maps as training samples.

    Args:
        frames: ``(N, H, W)`` float intensities in [0, 1].
        labels: ``(N, H, W)`` integer label ids in ``[0, n_classes)``.
        n_classes: number of classes of the model.
        name: prefix for error messages (e.g. ``"train"``).

    Items are ``{"image": (1, H', W') float32, "label": (1, H', W') int64}`` with ``H', W'``
    padded up to multiples of 16, at least 32 (image 0, label 0 = background).

    Raises:
        ValueError / TypeError: shapes differ, bad dtype, NaN, intensities outside [0, 1], or
            label ids outside ``[0, n_classes)``.
    """

    def __init__(
        self,
        frames: np.ndarray,
        labels: np.ndarray,
        n_classes: int,
        name: str = "data",
        air_tissue: bool = False,
    ) -> None:
        frames = check_frames(frames, f"{name}_frames")
        labels = np.asarray(labels)
        if labels.shape != frames.shape:
            raise ValueError(
                f"{name}_labels shape {labels.shape} differs from {name}_frames shape "
                f"{frames.shape}"
            )
        if not np.issubdtype(labels.dtype, np.integer):
            raise TypeError(f"{name}_labels must hold integer label ids, got dtype {labels.dtype}")
        if air_tissue:
            odd = sorted(set(np.unique(labels).tolist()) - {AIR, TISSUE, UNTRACED})
            if odd:
                raise ValueError(
                    f"{name}_labels: air/tissue labels must be {AIR} (air), {TISSUE} (tissue) "
                    f"or {UNTRACED} (untraced), got {odd[:5]}"
                )
        else:
            lo, hi = int(labels.min()), int(labels.max())
            if lo < 0 or hi >= n_classes:
                raise ValueError(
                    f"{name}_labels ids must be in [0, {n_classes - 1}] (n_classes={n_classes}), "
                    f"got [{lo}, {hi}]"
                )
        images, _ = pad_to_multiple(frames.astype(np.float32), min_size=MIN_INPUT_SIZE)
        targets, _ = pad_to_multiple(
            labels.astype(np.int64),
            min_size=MIN_INPUT_SIZE,
            value=UNTRACED if air_tissue else 0,  # padding is background / not scored
        )
        self.images = torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(1)  # (N,1,H',W')
        self.labels = torch.from_numpy(np.ascontiguousarray(targets)).unsqueeze(1)  # (N,1,H',W')

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"image": self.images[i], "label": self.labels[i]}


def augment_batch(
    image: torch.Tensor, label: torch.Tensor, cfg: SegmenterConfig, label_fill: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Randomly perturb a batch, each frame independently (draws from the global torch RNG,
    which the trainer seeds and checkpoints, so resumed runs repeat exactly).

    With ``cfg.domain`` set, a random MRI appearance and elastic deformation
    (:mod:`mrisynth.transforms.domain`) come first. Geometry: rotation ``±aug_rotate_deg``,
    zoom ``1 ± aug_zoom``, translation ``±aug_shift_px`` about the image centre; the image is
    resampled bilinearly, the labels nearest-neighbour; pixels moved in from outside become 0
    / ``label_fill`` (background; untraced for air/tissue labels). Intensity: gain
    ``1 ± aug_intensity_scale``, offset ``± aug_intensity_shift``, Gaussian noise of std
    ``U(0, aug_noise_std)``; the result is clamped at 0 (magnitude images).

    Args:
        image: ``(B, 1, H, W)`` float frames.
        label: ``(B, 1, H, W)`` int64 label ids.
        cfg: augmentation strengths.

    Returns:
        The augmented ``(image, label)``, same shapes and dtypes.
    """
    b, _, h, w = image.shape
    dev = image.device
    if cfg.domain is not None:
        image = randomize_appearance(image, cfg.domain)
        image, label = randomize_geometry(image, label, cfg.domain, label_fill)

    def uniform(half_width: float, centre: float = 0.0) -> torch.Tensor:
        return centre + half_width * (2 * torch.rand(b, device=dev) - 1)  # (B,)

    if cfg.aug_rotate_deg > 0 or cfg.aug_zoom > 0 or cfg.aug_shift_px > 0:
        angle = uniform(math.radians(cfg.aug_rotate_deg))
        inv_zoom = 1.0 / uniform(cfg.aug_zoom, 1.0)
        cos, sin = torch.cos(angle) * inv_zoom, torch.sin(angle) * inv_zoom
        # affine_grid maps output -> input in [-1, 1] coords per axis; rescale the off-diagonal
        # terms by the aspect ratio so the rotation is rigid in pixels for non-square frames.
        theta = torch.stack(
            [
                torch.stack([cos, -sin * h / w, 2 * uniform(cfg.aug_shift_px) / w], dim=1),
                torch.stack([sin * w / h, cos, 2 * uniform(cfg.aug_shift_px) / h], dim=1),
            ],
            dim=1,
        )  # (B, 2, 3)
        grid = F.affine_grid(theta, [b, 1, h, w], align_corners=False)
        image = F.grid_sample(image, grid, mode="bilinear", align_corners=False)
        moved = F.grid_sample(label.float() - label_fill, grid, mode="nearest", align_corners=False)
        label = (moved + label_fill).long()
    gain = uniform(cfg.aug_intensity_scale, 1.0).view(b, 1, 1, 1)
    offset = uniform(cfg.aug_intensity_shift).view(b, 1, 1, 1)
    noise_std = (cfg.aug_noise_std * torch.rand(b, device=dev)).view(b, 1, 1, 1)
    image = image * gain + offset + noise_std * torch.randn_like(image)
    return image.clamp_min(0.0), label


class SegmenterSolver(Solver):
    """Trainer logic of the segmenter.

    Batches are ``{"image": (B, 1, H, W) float, "label": (B, 1, H, W) int64}`` (see
    :class:`SegmentationDataset`). Training returns ``{"loss"}``; evaluation returns
    ``{"loss", "dice"}`` where ``dice`` is the mean Dice over foreground classes present in the
    reference (higher is better; use ``best_metric="valid/dice", best_mode="max"``).

    With ``air_tissue``, labels are air/tissue/untraced maps (:mod:`mrisynth.io.contours`,
    e.g. from manual contours of real rtMRI) and the model keeps its phantom classes: the
    loss is the same Dice+CE on the two collapsed classes, air = ``airway`` + ``background``
    (log-sum-exp of their logits), tissue = the rest, untraced pixels ignored; ``dice`` is
    the air Dice.

    Args:
        cfg: model, loss and augmentation settings.
        model: the network to train; default a fresh :func:`build_segmenter` ``(cfg)``.
        air_tissue: train on air/tissue labels (see above).
    """

    def __init__(
        self, cfg: SegmenterConfig, model: nn.Module | None = None, air_tissue: bool = False
    ) -> None:
        self.cfg = cfg
        self.air_tissue = air_tissue
        self.net = model if model is not None else build_segmenter(cfg)
        self.opt = torch.optim.AdamW(
            self.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay
        )
        self.loss_fn = DiceCELoss(
            to_onehot_y=True,
            softmax=True,
            lambda_dice=cfg.lambda_dice,
            lambda_ce=cfg.lambda_ce,
        )
        # ignore_empty: a class missing from a frame's reference gives NaN and is skipped, so
        # small structures are not rewarded for being (correctly) absent.
        self.dice_metric = DiceMetric(
            include_background=False, reduction="mean", num_classes=cfg.n_classes, ignore_empty=True
        )

    def models(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"main": self.opt}

    def run_step(self, batch: dict[str, torch.Tensor], train: bool) -> dict[str, torch.Tensor]:
        image, label = batch["image"], batch["label"]  # (B, 1, H, W), (B, 1, H, W)
        if train and self.cfg.augment:
            fill = UNTRACED if self.air_tissue else LABELS["background"]
            image, label = augment_batch(image, label, self.cfg, fill)
        logits = self.net(image).float()  # (B, C, H, W); float: softmax/log fragile in bf16
        if self.air_tissue:
            return self._air_tissue_step(logits, label, train)
        loss = self.loss_fn(logits, label)
        if train:
            self.optimize(loss)
            return {"loss": loss}
        pred = logits.argmax(dim=1, keepdim=True)  # (B, 1, H, W)
        self.dice_metric(pred, label)
        dice = self.dice_metric.aggregate()
        self.dice_metric.reset()
        return {"loss": loss, "dice": dice.reshape(())}

    def _air_tissue_step(
        self, logits: torch.Tensor, label: torch.Tensor, train: bool
    ) -> dict[str, torch.Tensor]:
        air_ids = [LABELS["airway"], LABELS["background"]]
        tissue_ids = [k for k in range(logits.shape[1]) if k not in air_ids]
        two = torch.stack(
            [logits[:, air_ids].logsumexp(1), logits[:, tissue_ids].logsumexp(1)], 1
        )  # (B, 2, H, W): class 0 = AIR, 1 = TISSUE
        target = label[:, 0]  # (B, H, W)
        valid = target != UNTRACED
        ce = F.cross_entropy(two, target.clamp_max(TISSUE), reduction="none")[valid].mean()
        p_air = two.softmax(1)[:, 0][valid]
        is_air = (target[valid] == AIR).float()
        dice_loss = 1 - (2 * (p_air * is_air).sum() + 1) / (p_air.sum() + is_air.sum() + 1)
        loss = self.cfg.lambda_ce * ce + self.cfg.lambda_dice * dice_loss
        if train:
            self.optimize(loss)
            return {"loss": loss}
        hard = (two.argmax(1) == AIR)[valid].float()
        dice = 2 * (hard * is_air).sum() / (hard.sum() + is_air.sum()).clamp_min(1)
        return {"loss": loss, "dice": dice}


def _check_size(frames: np.ndarray, cfg: SegmenterConfig, name: str) -> None:
    shape = np.shape(frames)
    if len(shape) != 3 or shape[1:] != (cfg.img_size, cfg.img_size):
        raise ValueError(
            f"{name} must be (N, {cfg.img_size}, {cfg.img_size}) to match "
            f"SegmenterConfig.img_size={cfg.img_size}, got shape {shape}"
        )


def _init_weights(trainer: Trainer, model: nn.Module, cfg: SegmenterConfig, path: Path) -> None:
    if not is_artifact(path):
        trainer.init_from(path)  # a trainer checkpoint (model "net") or a plain state_dict
        return
    artifact = read_artifact(path, "segmenter")
    saved = artifact.model_config
    ours = to_dict(cfg)
    diff = [
        f"{k}: {saved.get(k)!r} vs {ours[k]!r}" for k in _ARCH_FIELDS if saved.get(k) != ours[k]
    ]
    if diff:
        raise ValueError(
            f"init_from {path}: architecture differs from cfg ({'; '.join(diff)}); "
            "fine-tuning needs the same features, n_classes, norm and upsample"
        )
    load_model_state(model, artifact.weights["segmenter"], strict=True, source=str(path))
    logger.info("segmenter initialised from %s", path)


def train_segmenter(
    train_frames: np.ndarray,
    train_labels: np.ndarray,
    val_frames: np.ndarray,
    val_labels: np.ndarray,
    *,
    cfg: SegmenterConfig,
    train_cfg: TrainConfig,
    tracker: NullTracker | None = None,
    init_from: str | Path | None = None,
    air_tissue: bool = False,
) -> tuple[nn.Module, dict[str, float]]:
    """Train (or fine-tune) a segmenter with the shared trainer.

    Checkpoints and ``metrics.jsonl`` go to ``train_cfg.out_dir``; an existing run there is
    resumed (``train_cfg.resume``), which takes precedence over ``init_from``. The trained
    model is exported to ``<out_dir>/segmenter.pt`` (load it with
    :func:`mrisynth.models.artifacts.load_segmenter`).

    Args:
        train_frames: ``(N, img_size, img_size)`` float frames in [0, 1].
        train_labels: ``(N, img_size, img_size)`` integer label ids.
        val_frames: ``(M, img_size, img_size)`` held-out frames.
        val_labels: ``(M, img_size, img_size)`` their label ids.
        cfg: model, loss and augmentation settings.
        train_cfg: steps, batch size, schedule, output folder...
        tracker: metrics sink (e.g. an open MLflow :class:`~mrisynth.engine.tracking.Tracker`).
        init_from: weights to start from: a segmenter model file (its architecture must
            match ``cfg``) or a trainer checkpoint of a segmenter run.
        air_tissue: the labels are air/tissue/untraced maps (e.g. manual contours of real
            frames) rather than phantom label ids; see :class:`SegmenterSolver`.

    Returns:
        The trained model (eval mode, on the training device) and the final validation metrics
        ``{"valid/loss": ..., "valid/dice": ...}``.

    Raises:
        ValueError / TypeError: bad arrays (the message names which) or an architecture mismatch
            with ``init_from``.
        CheckpointError: ``init_from`` missing or unreadable.
    """
    if not isinstance(cfg, SegmenterConfig):
        raise TypeError(f"cfg must be a SegmenterConfig, got {type(cfg).__name__}")
    _check_size(train_frames, cfg, "train_frames")
    _check_size(val_frames, cfg, "val_frames")
    train_set = SegmentationDataset(
        train_frames, train_labels, cfg.n_classes, name="train", air_tissue=air_tissue
    )
    val_set = SegmentationDataset(
        val_frames, val_labels, cfg.n_classes, name="val", air_tissue=air_tissue
    )
    seed_model_init(train_cfg.seed)
    model = build_segmenter(cfg)
    trainer = Trainer(train_cfg, SegmenterSolver(cfg, model, air_tissue), tracker=tracker)
    if init_from is not None:
        _init_weights(trainer, model, cfg, Path(init_from))
    run_params = {
        "train": to_dict(train_cfg),
        "segmenter": to_dict(cfg),
        "init_from": str(init_from),
    }
    log_run_params(trainer, tracker, run_params)
    last = trainer.fit(train_set, val_set)
    save = functools.partial(save_segmenter, model=model, cfg=cfg)
    run = {"init_from": init_from and str(init_from)}
    val = save_last_weights(trainer, last, val_set, save, "segmenter.pt", run)
    model.eval()
    log_run_outputs(trainer, tracker, model=trainer.out_dir / "segmenter.pt")
    return model, val
