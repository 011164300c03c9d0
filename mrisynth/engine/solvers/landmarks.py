"""Training of the face landmark regressor (:mod:`mrisynth.models.landmarks`) on phantom faces.

- :func:`render_landmark_data`: face frames of phantom speakers with their ground-truth
  landmarks, rendered by :func:`mrisynth.phantom.face.render_face` (the identities of the
  phantom corpus: speaker ``s`` of seed ``seed`` looks as in the corpus). The mouth is driven by
  random articulator values drawn per frame over the speaking range, so the set covers closed,
  open, spread and rounded lips evenly; blinks and head motion come from the face's own
  samplers.
- :class:`LandmarkSolver`: L1 loss on coordinates in frame units after a random similarity
  transform and colour jitter (:func:`augment_batch`); validation reports the loss, the mean
  error in pixels and the inter-ocular-normalised error of all landmarks (``valid/nme``).
- :func:`train_landmark_regressor`: the run with the shared trainer, exported as
  ``<out_dir>/landmarks.pt`` (a model artifact, :func:`~mrisynth.models.artifacts.
  load_landmark_regressor`).
- :func:`landmark_errors`: a trained regressor's error on held-out frames, mouth and whole
  face, in pixels and inter-ocular distances (the numbers README reports).
- :func:`train_phantom_landmark_regressor`: the whole recipe (render, train, measure on
  held-out speakers), writing ``landmarks.pt`` and ``heldout.json``.

Example::

    tr = render_landmark_data(range(0, 24), 120, size=64, seed=0)
    va = render_landmark_data(range(100, 106), 120, size=64, seed=0)   # other speakers
    model, _ = train_landmark_regressor(tr.frames, tr.landmarks, va.frames, va.landmarks,
                                        cfg=LandmarkConfig(), train_cfg=TrainConfig(...))
    landmark_errors(model, va.frames, va.landmarks)   # {"face_px": ..., "mouth_nme": ...}
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from mrisynth.data.face_landmarks import LANDMARK_NAMES
from mrisynth.engine.recipe import save_last_weights
from mrisynth.engine.tracking import NullTracker
from mrisynth.engine.trainer import Solver, TrainConfig, Trainer
from mrisynth.metrics.landmarks import FACE_LANDMARKS, MOUTH_LANDMARKS, landmark_distance
from mrisynth.models.artifacts import save_landmark_regressor
from mrisynth.models.landmarks import (
    LandmarkConfig,
    LandmarkRegressor,
    build_landmark_regressor,
    check_face_frames,
    predict_landmarks,
)
from mrisynth.phantom.face import render_face, sample_face_identity
from mrisynth.utils.seed import seed_model_init

logger = logging.getLogger(__name__)

__all__ = [
    "LandmarkData",
    "LandmarkDataset",
    "LandmarkSolver",
    "augment_batch",
    "landmark_errors",
    "render_landmark_data",
    "train_landmark_regressor",
    "train_phantom_landmark_regressor",
]

_FPS = 25.0
#: Identity seed offset of the phantom corpus (``phantom.corpus``: ``[seed, 3000 + speaker]``).
_IDENTITY_KEY = 3000


@dataclasses.dataclass
class LandmarkData:
    """Rendered face frames with ground truth.

    Attributes:
        frames: ``(N, S, S, 3)`` uint8 RGB.
        landmarks: ``(N, K, 2)`` float32 pixel ``(x, y)``.
        speaker: ``(N,)`` int speaker index of each frame.
    """

    frames: np.ndarray
    landmarks: np.ndarray
    speaker: np.ndarray


def render_landmark_data(
    speakers: Iterable[int],
    frames_per_speaker: int,
    *,
    size: int = 64,
    seed: int = 0,
    view: str = "frontal",
    crop: tuple[int, int, int] | None = None,
    blink_rate_per_min: float = 120.0,
    progress: bool = True,
) -> LandmarkData:
    """Render phantom face frames of the given speakers with their landmarks.

    Args:
        speakers: speaker indices (their identities are the phantom corpus's for ``seed``).
        frames_per_speaker: frames rendered per speaker (one clip at 25 fps).
        size: rendered frame side in px (≥ 32).
        seed: seed of identities and motion.
        view: ``"frontal"`` or ``"three_quarter"``.
        crop: ``(top, left, side)`` px: keep this square of each rendered frame (landmarks
            shifted with it), e.g. ``(20, 16, 64)`` of a 96-px render for the face box that
            ``experiments/face`` prepares (``roi_box_mm: [20, 16, 64, 64]``); None: the whole
            frame.
        blink_rate_per_min: mean blink rate of the clips. The default 120/min, far above
            conversation's ~26/min, puts about 45 % of the frames inside a blink, so the lids
            get examples of every closure (with ``LandmarkConfig.eyelid_weight`` 1, neither 40
            nor 120/min taught a regressor to close its lids; the weight did).
        progress: show a tqdm bar.

    Returns:
        :class:`LandmarkData` with ``len(speakers) * frames_per_speaker`` frames.
    """
    speakers = list(speakers)
    if not speakers or frames_per_speaker < 1:
        raise ValueError("render_landmark_data: need at least one speaker and one frame each")
    frames, marks, who = [], [], []
    for s in tqdm(speakers, desc="render faces", disable=not progress, leave=False):
        identity = sample_face_identity(np.random.default_rng([seed, _IDENTITY_KEY + s]))
        rng = np.random.default_rng([seed, _IDENTITY_KEY + s, 1])
        n = frames_per_speaker
        # Per-frame draws over the speaking range (face.render_face documents the ranges);
        # a third of the frames have closed lips, as bilabials and pauses do.
        aperture = np.where(rng.random(n) < 0.3, 0.0, rng.uniform(0.0, 20.0, n))
        video = render_face(
            rng.uniform(0.0, 15.0, n),
            aperture,
            rng.uniform(15.0, 55.0, n),
            rng.uniform(-4.0, 10.0, n),
            fps=_FPS,
            identity=identity,
            rng=rng,
            size=size,
            view=view,
            blink_rate_per_min=blink_rate_per_min,
        )
        frames_k, lm = video.frames, video.landmarks
        if crop is not None:
            top, left, side = crop
            if top < 0 or left < 0 or top + side > size or left + side > size:
                raise ValueError(f"render_landmark_data: crop {crop} leaves the {size}-px frame")
            frames_k = frames_k[:, top : top + side, left : left + side]
            lm = lm - np.array([left, top], np.float32)
        frames.append(frames_k)
        marks.append(lm)
        who.append(np.full(n, s))
    return LandmarkData(np.concatenate(frames), np.concatenate(marks), np.concatenate(who))


class LandmarkDataset(Dataset):
    """Frames and landmarks as training samples.

    Items are ``{"image": (3, S, S) uint8, "target": (K, 2) float32}``; targets are in frame
    units (``x / S``, ``y / S``), as the regressor predicts them.

    Raises:
        ValueError: frames not ``(N, S, S, 3)`` of the config's size, or landmarks not
            ``(N, K, 2)`` finite with the config's ``K``.
    """

    def __init__(
        self, frames: np.ndarray, landmarks: np.ndarray, cfg: LandmarkConfig, name: str = "data"
    ) -> None:
        check_face_frames(frames[:1], cfg.img_size, f"{name}_frames")
        lm = np.asarray(landmarks, dtype=np.float32)
        if lm.shape != (len(frames), cfg.n_landmarks, 2) or not np.isfinite(lm).all():
            raise ValueError(
                f"{name}_landmarks must be finite ({len(frames)}, {cfg.n_landmarks}, 2), "
                f"got {lm.shape}"
            )
        frames = np.asarray(frames)
        if frames.dtype != np.uint8:
            frames = (check_face_frames(frames, cfg.img_size, f"{name}_frames") * 255 + 0.5).astype(
                np.uint8
            )
        self.images = torch.from_numpy(np.ascontiguousarray(frames.transpose(0, 3, 1, 2)))
        self.targets = torch.from_numpy(lm / cfg.img_size)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"image": self.images[i], "target": self.targets[i]}


def augment_batch(
    image: torch.Tensor, target: torch.Tensor, cfg: LandmarkConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random similarity transform (landmarks moved with the image) and colour jitter.

    Draws from the global torch RNG, which the trainer seeds and checkpoints.

    Args:
        image: ``(B, 3, S, S)`` float in [0, 1].
        target: ``(B, K, 2)`` landmarks in frame units.
        cfg: augmentation strengths.

    Returns:
        ``(image, target)`` of the same shapes.
    """
    b, _, s, _ = image.shape
    dev = image.device

    def uniform(half_width: float, centre: float = 0.0) -> torch.Tensor:
        return centre + half_width * (2 * torch.rand(b, device=dev) - 1)  # (B,)

    angle = uniform(math.radians(cfg.aug_rotate_deg))
    inv_zoom = 1.0 / uniform(cfg.aug_zoom, 1.0)
    m = torch.stack(
        [
            torch.stack([torch.cos(angle), -torch.sin(angle)], -1),
            torch.stack([torch.sin(angle), torch.cos(angle)], -1),
        ],
        -2,
    ) * inv_zoom.view(b, 1, 1)  # (B, 2, 2): output -> input, normalised coordinates
    t = torch.stack([uniform(cfg.aug_shift_px), uniform(cfg.aug_shift_px)], -1) * 2 / s  # (B, 2)
    grid = F.affine_grid(torch.cat([m, t[:, :, None]], 2), [b, 3, s, s], align_corners=False)
    image = F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)
    # A landmark at input position p (normalised, align_corners=False: (2x + 1) / S - 1) lands
    # where m @ q + t = p, i.e. q = m^-1 (p - t).
    p = 2 * target + 1 / s - 1  # (B, K, 2)
    q = torch.linalg.solve(m[:, None], (p - t[:, None])[..., None])[..., 0]
    target = (q + 1 - 1 / s) / 2
    c = cfg.aug_color
    gain = (1 + c * (2 * torch.rand(b, 3, 1, 1, device=dev) - 1)).to(image.dtype)
    offset = (c / 2 * (2 * torch.rand(b, 3, 1, 1, device=dev) - 1)).to(image.dtype)
    noise = (c / 5 * torch.rand(b, 1, 1, 1, device=dev)) * torch.randn_like(image)
    return (image * gain + offset + noise).clamp(0.0, 1.0), target


class LandmarkSolver(Solver):
    """Trainer logic of the landmark regressor.

    Batches are ``{"image": (B, 3, S, S) uint8, "target": (B, K, 2)}`` (:class:`LandmarkDataset`).
    Training returns ``{"loss"}``; evaluation ``{"loss", "err_px", "nme"}``: mean Euclidean
    error of all landmarks in pixels, and per frame divided by the inter-ocular distance
    (:func:`mrisynth.metrics.landmarks.landmark_distance`; use ``best_metric="valid/nme"``).
    """

    def __init__(self, cfg: LandmarkConfig, model: LandmarkRegressor | None = None) -> None:
        self.cfg = cfg
        self.net = model if model is not None else build_landmark_regressor(cfg)
        self.opt = torch.optim.AdamW(
            self.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay
        )
        weight = torch.ones(cfg.n_landmarks)
        if cfg.n_landmarks == len(LANDMARK_NAMES):
            lids = [i for i, n in enumerate(LANDMARK_NAMES) if n.endswith(("_upper", "_lower"))]
            lids = [i for i in lids if LANDMARK_NAMES[i].startswith("eye_")]
            weight[lids] = cfg.eyelid_weight
        self.weight = (weight / weight.mean()).view(1, -1, 1)  # (1, K, 1)

    def models(self) -> dict[str, torch.nn.Module]:
        return {"net": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"main": self.opt}

    def run_step(self, batch: dict[str, torch.Tensor], train: bool) -> dict[str, torch.Tensor]:
        image = batch["image"].float() / 255.0  # (B, 3, S, S)
        target = batch["target"]  # (B, K, 2)
        if train and self.cfg.augment:
            image, target = augment_batch(image, target, self.cfg)
        pred = self.net(image).float()  # (B, K, 2)
        loss = ((pred - target).abs() * self.weight.to(pred.device)).mean()
        if train:
            self.optimize(loss)
            return {"loss": loss}
        s = self.cfg.img_size
        ref, out = (target * s).cpu().numpy(), (pred * s).detach().cpu().numpy()
        err = np.linalg.norm(out - ref, axis=-1).mean()
        nme = np.nanmean(landmark_distance(ref, out, FACE_LANDMARKS, normalize=True))
        return {
            "loss": loss,
            "err_px": torch.tensor(float(err)),
            "nme": torch.tensor(float(nme)),
        }


def train_landmark_regressor(
    train_frames: np.ndarray,
    train_landmarks: np.ndarray,
    val_frames: np.ndarray,
    val_landmarks: np.ndarray,
    *,
    cfg: LandmarkConfig,
    train_cfg: TrainConfig,
    tracker: NullTracker | None = None,
) -> tuple[LandmarkRegressor, dict[str, float]]:
    """Train a landmark regressor with the shared trainer and export ``<out_dir>/landmarks.pt``.

    Args:
        train_frames: ``(N, S, S, 3)`` RGB (uint8 or float in [0, 1]), ``S = cfg.img_size``.
        train_landmarks: ``(N, K, 2)`` pixel ``(x, y)``.
        val_frames: ``(M, S, S, 3)`` held-out frames (other speakers).
        val_landmarks: ``(M, K, 2)``.
        cfg: model, optimiser and augmentation settings.
        train_cfg: steps, batch size, schedule, output folder (an existing run is resumed).
        tracker: metrics sink.

    Returns:
        The trained model (eval mode) and the final validation metrics
        (``valid/loss``, ``valid/err_px``, ``valid/nme``).

    Raises:
        ValueError / TypeError: bad arrays or config (the message names which).
    """
    if not isinstance(cfg, LandmarkConfig):
        raise TypeError(f"cfg must be a LandmarkConfig, got {type(cfg).__name__}")
    train_set = LandmarkDataset(train_frames, train_landmarks, cfg, "train")
    val_set = LandmarkDataset(val_frames, val_landmarks, cfg, "val")
    seed_model_init(train_cfg.seed)
    model = build_landmark_regressor(cfg)
    trainer = Trainer(train_cfg, LandmarkSolver(cfg, model), tracker=tracker)
    last = trainer.fit(train_set, val_set)
    save = functools.partial(save_landmark_regressor, model=model, cfg=cfg)
    val = save_last_weights(trainer, last, val_set, save, "landmarks.pt")
    model.eval()
    return model, val


def landmark_errors(
    model: LandmarkRegressor, frames: np.ndarray, landmarks: np.ndarray
) -> dict[str, float]:
    """A regressor's error against ground truth, mean over frames.

    Args:
        model: a trained regressor.
        frames: ``(N, S, S, 3)`` RGB frames.
        landmarks: ``(N, K, 2)`` their ground-truth pixel landmarks.

    Returns:
        ``{"face_px", "mouth_px", "face_nme", "mouth_nme"}``: mean Euclidean error of all /
        the mouth landmarks, in pixels and in inter-ocular distances.
    """
    pred = predict_landmarks(model, frames)
    out = {}
    for part, idx in (("face", FACE_LANDMARKS), ("mouth", MOUTH_LANDMARKS)):
        out[f"{part}_px"] = float(np.nanmean(landmark_distance(landmarks, pred, idx)))
        out[f"{part}_nme"] = float(
            np.nanmean(landmark_distance(landmarks, pred, idx, normalize=True))
        )
    return out


def train_phantom_landmark_regressor(
    out_dir: str | Path,
    *,
    train_speakers: int = 24,
    val_speakers: int = 6,
    first_train_speaker: int = 0,
    frames_per_speaker: int = 80,
    size: int = 64,
    crop: tuple[int, int, int] | None = None,
    steps: int = 1500,
    seed: int = 0,
    blink_rate_per_min: float = 120.0,
    cfg: LandmarkConfig | None = None,
) -> dict[str, float]:
    """Render phantom faces, train a regressor and measure it on held-out speakers.

    Speakers ``first_train_speaker ..`` (``train_speakers`` of them) train it; speakers
    ``1000 ..`` (never in training) are held out. A pipeline that evaluates on the phantom
    corpus's speakers ``0 .. n`` starts its training speakers past them, so that the regressor
    has not seen the faces it measures. Writes ``<out_dir>/landmarks.pt`` and
    ``<out_dir>/heldout.json``.

    Args:
        out_dir: run folder (resumed if it holds a run).
        train_speakers, val_speakers: number of speakers of each side.
        first_train_speaker: index of the first training speaker (< 1000 - train_speakers).
        frames_per_speaker: frames rendered per speaker.
        size: rendered frame side (px).
        crop: ``(top, left, side)`` crop of the rendered frames (:func:`render_landmark_data`);
            the regressor's ``img_size`` is ``side`` (else ``size``).
        steps: training steps (batch 32, AdamW, cosine schedule).
        seed: seed of the data and of training.
        blink_rate_per_min: blink rate of the rendered clips (:func:`render_landmark_data`).
        cfg: model settings (default :class:`LandmarkConfig` at the frame size).

    Returns:
        The held-out errors (:func:`landmark_errors`) with ``frames``, ``speakers``.
    """
    if not 0 <= first_train_speaker <= 1000 - train_speakers:
        raise ValueError(
            f"first_train_speaker={first_train_speaker}: the training speakers must stay below "
            "the held-out ones (1000 ..)"
        )
    side = crop[2] if crop is not None else size
    cfg = cfg or LandmarkConfig(img_size=side)
    kw = dict(size=size, seed=seed, crop=crop, blink_rate_per_min=blink_rate_per_min)
    first = first_train_speaker
    tr = render_landmark_data(range(first, first + train_speakers), frames_per_speaker, **kw)
    va = render_landmark_data(range(1000, 1000 + val_speakers), frames_per_speaker, **kw)
    train_cfg = TrainConfig(
        max_steps=steps,
        batch_size=32,
        warmup_steps=min(50, steps // 10),
        eval_interval=max(steps // 4, 1),
        ckpt_interval=steps,
        out_dir=str(out_dir),
        seed=seed,
    )
    model, _ = train_landmark_regressor(
        tr.frames, tr.landmarks, va.frames, va.landmarks, cfg=cfg, train_cfg=train_cfg
    )
    errors = {
        **landmark_errors(model, va.frames, va.landmarks),
        "frames": float(len(va.frames)),
        "speakers": float(val_speakers),
    }
    Path(out_dir, "heldout.json").write_text(json.dumps(errors, indent=2, sort_keys=True) + "\n")
    return errors
