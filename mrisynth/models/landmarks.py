"""Face landmark regressor: a small CNN that places the phantom's face landmarks on RGB frames.

No offline face-landmark detector ships with mrisynth, so landmark metrics on generated or
real video (:mod:`mrisynth.metrics.landmarks`) need one trained here: it learns the
:data:`~mrisynth.phantom.face.LANDMARK_NAMES` of the phantom's face video from its
ground-truth landmarks (training: :mod:`mrisynth.engine.solvers.landmarks`).

Architecture: a stride-2 3×3 conv stem, then three stages of two 3×3 conv + BatchNorm + ReLU,
the first two followed by 2× max pooling (64 px → 8 px), then a linear head on the
*flattened* 8×8 map. A global
pooling head would throw away where features are, which is what a landmark is; the flattened
map keeps it. Two constant coordinate channels (x and y in [-1, 1], CoordConv, Liu et al.
2018) are appended to the input so that the first layers can tell image left from right.
Outputs are coordinates in units of the frame size (``x / W``, ``y / H``) so the loss scale does
not depend on the frame size; :func:`predict_landmarks` returns pixels.

Reference: Liu, R. et al. (2018), "An intriguing failing of convolutional neural networks and
the CoordConv solution", NeurIPS.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from mrisynth.data.face_landmarks import LANDMARK_NAMES

__all__ = [
    "LandmarkConfig",
    "LandmarkRegressor",
    "build_landmark_regressor",
    "check_face_frames",
    "predict_landmarks",
]

_POOLS = 3  # 2x poolings: img_size must be a multiple of 2**3


@dataclasses.dataclass
class LandmarkConfig:
    """Architecture, optimiser and augmentation settings of the landmark regressor.

    Raises:
        ValueError: on any out-of-range value; the message names the field.
    """

    img_size: int = 64
    """Square RGB frame size (px) the regressor reads; a multiple of 8, at least 32."""
    n_landmarks: int = len(LANDMARK_NAMES)
    """Landmarks predicted (the phantom's, in :data:`LANDMARK_NAMES` order)."""
    features: tuple[int, ...] = (16, 24, 48, 64)
    """Conv widths of the stem and the three stages."""
    hidden: int = 128
    """Width of the hidden layer of the regression head."""
    lr: float = 2e-3
    """Peak AdamW learning rate."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    eyelid_weight: float = 3.0
    """Loss weight of the four eyelid landmarks relative to the others (weights renormalised
    to mean 1): the lids move a few pixels in a blink and are a small share of the loss. With
    1 a regressor trained 1000 steps never closed its lids (no blink found on held-out
    speakers); 3 (1500 steps) found every blink at the same mouth error; 5 found them too
    but doubled the mouth error (README)."""
    augment: bool = True
    """Apply the on-the-fly augmentation below to training batches."""
    aug_shift_px: float = 4.0
    """Translation drawn per frame and axis from ``U(-px, px)`` pixels."""
    aug_rotate_deg: float = 10.0
    """In-plane rotation drawn per frame from ``U(-deg, deg)`` degrees."""
    aug_zoom: float = 0.1
    """Isotropic zoom drawn per frame from ``U(1 - z, 1 + z)``."""
    aug_color: float = 0.15
    """Per-channel gain ``U(1 - c, 1 + c)`` and offset ``U(-c/2, c/2)``, and noise std up to
    ``c / 5``: the regressor must not learn one identity's colours."""

    def __post_init__(self) -> None:
        self.features = tuple(self.features)
        if self.img_size < 32 or self.img_size % 2**_POOLS:
            raise ValueError(f"img_size must be a multiple of 8 and >= 32, got {self.img_size}")
        if len(self.features) != 4 or any(
            isinstance(f, bool) or not isinstance(f, int) or f < 1 for f in self.features
        ):
            raise ValueError(f"features must be 4 positive integers, got {self.features}")
        if self.n_landmarks < 1 or self.hidden < 1:
            raise ValueError("n_landmarks and hidden must be >= 1")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not self.eyelid_weight > 0:
            raise ValueError(f"eyelid_weight must be > 0, got {self.eyelid_weight}")
        for name in ("weight_decay", "aug_shift_px", "aug_rotate_deg", "aug_zoom", "aug_color"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.aug_zoom >= 1 or self.aug_color >= 1:
            raise ValueError("aug_zoom and aug_color must be < 1")


def _stage(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class LandmarkRegressor(nn.Module):
    """``(B, 3, S, S)`` RGB in [0, 1] → ``(B, K, 2)`` landmark ``(x / S, y / S)``.

    Args:
        cfg: architecture (``img_size`` S, ``n_landmarks`` K, ``features``, ``hidden``).
    """

    def __init__(self, cfg: LandmarkConfig) -> None:
        super().__init__()
        self.img_size = cfg.img_size
        self.n_landmarks = cfg.n_landmarks
        c = cfg.features
        # A stride-2 stem: full-resolution stages cost most of the compute and a regression
        # head on a flattened map still resolves sub-pixel positions.
        layers: list[nn.Module] = [
            nn.Conv2d(3 + 2, c[0], 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(c[0]),
            nn.ReLU(inplace=True),
        ]
        for i in range(1, 4):
            layers.append(_stage(c[i - 1], c[i]))
            if i < _POOLS:
                layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers)
        side = cfg.img_size // 2**_POOLS
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(cfg.features[-1] * side * side, cfg.hidden),
            nn.ReLU(inplace=True),
            nn.Linear(cfg.hidden, 2 * cfg.n_landmarks),
        )
        ramp = torch.linspace(-1.0, 1.0, cfg.img_size)
        coords = torch.stack(torch.meshgrid(ramp, ramp, indexing="xy"))  # (2, S, S): x, y
        self.register_buffer("coords", coords, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        x = torch.cat([x, self.coords.expand(b, -1, -1, -1).to(x.dtype)], 1)  # (B, 5, S, S)
        # centred at the frame centre so the untrained head starts near the face
        return 0.5 + self.head(self.body(x)).view(b, self.n_landmarks, 2)


def build_landmark_regressor(cfg: LandmarkConfig) -> LandmarkRegressor:
    """The landmark regressor of ``cfg`` (fresh weights)."""
    return LandmarkRegressor(cfg)


def check_face_frames(frames: np.ndarray, img_size: int, what: str = "frames") -> np.ndarray:
    """RGB frames as float32 ``(T, S, S, 3)`` in [0, 1] (uint8 is divided by 255).

    Raises:
        ValueError: not ``(T, img_size, img_size, 3)``, no frames, NaN, or floats outside
            [0, 1]; the message names ``what`` and the sizes.
    """
    arr = np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.shape[0] == 0:
        raise ValueError(f"{what} must be RGB (T, H, W, 3) with T > 0, got shape {arr.shape}")
    if arr.shape[1:3] != (img_size, img_size):
        raise ValueError(
            f"{what} are {arr.shape[1]}x{arr.shape[2]} px; the landmark regressor reads "
            f"{img_size}x{img_size} px frames (resize or crop them first)"
        )
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    out = arr.astype(np.float32)
    if not np.isfinite(out).all() or out.min() < 0 or out.max() > 1:
        raise ValueError(f"{what}: float frames must be finite and in [0, 1]")
    return out


@torch.no_grad()
def predict_landmarks(
    model: LandmarkRegressor, frames: np.ndarray, batch_size: int = 64
) -> np.ndarray:
    """Landmarks of every frame.

    Args:
        model: a trained regressor (its mode is restored afterwards).
        frames: ``(T, S, S, 3)`` RGB, uint8 or float in [0, 1], ``S = model.img_size``.
        batch_size: frames per forward pass.

    Returns:
        ``(T, K, 2)`` float32 pixel ``(x, y)`` (pixel ``(r, c)`` has its centre at
        ``x = c, y = r``, as the phantom's ground truth).
    """
    x = check_face_frames(frames, model.img_size)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(x), batch_size):
        chunk = torch.from_numpy(x[i : i + batch_size]).permute(0, 3, 1, 2).to(device)
        out.append(model(chunk).float().cpu().numpy())
    model.train(was_training)
    return (np.concatenate(out) * model.img_size).astype(np.float32)
