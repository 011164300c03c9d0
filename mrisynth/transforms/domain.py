"""Domain randomisation: random MRI appearance, so models trained on the phantom meet real scans.

Real rtMRI differs from the phantom in contrast curve, coil shading, noise, blur and small
non-rigid shape differences (``../shared/reference/real-rtmri-notes.md``). Rather than match
one scanner, training draws a new appearance per sample from MONAI's transforms:

- contrast: gamma ``RandAdjustContrast`` and a random monotone intensity curve
  ``RandHistogramShift``;
- coil shading: ``RandBiasField`` (a smooth multiplicative field);
- resolution: ``RandGaussianSmooth``;
- noise: ``RandRicianNoise`` (magnitude images have Rician, not Gaussian, noise);
- shape: ``Rand2DElasticd`` (image bilinear, labels nearest), in :func:`randomize_geometry`.

Random draws come from the global torch RNG (each transform is re-seeded from it per sample),
so a trainer that seeds and checkpoints torch's RNG repeats them exactly on resume.

Example::

    cfg = DomainRandomization()
    image = randomize_appearance(image, cfg)              # (B, C, H, W) in [0, 1]
    image, label = randomize_geometry(image, label, cfg)  # label (B, 1, H, W) int64
"""

from __future__ import annotations

import dataclasses

import torch

__all__ = ["DomainRandomization", "randomize_appearance", "randomize_geometry"]


@dataclasses.dataclass
class DomainRandomization:
    """Strengths of the random appearance; each transform fires with probability ``prob``.

    Raises:
        ValueError: an out-of-range field (the message names it).
    """

    prob: float = 0.5
    """Probability that each transform is applied to a sample, in [0, 1]."""
    gamma: tuple[float, float] = (0.5, 2.0)
    """Range of the contrast gamma (< 1 brightens soft tissue, > 1 darkens it)."""
    histogram_points: int = 6
    """Control points of the random monotone intensity curve (>= 3)."""
    bias_coeff: float = 0.4
    """Largest coefficient of the smooth bias (coil-shading) field, >= 0."""
    blur_sigma: tuple[float, float] = (0.25, 1.0)
    """Range of the Gaussian blur sigma in pixels."""
    noise_std: float = 0.06
    """Largest Rician noise std (intensities in [0, 1]), >= 0."""
    elastic_spacing_px: float = 12.0
    """Spacing of the elastic deformation's control grid in pixels, > 0."""
    elastic_magnitude_px: float = 1.5
    """Largest elastic displacement magnitude in pixels, >= 0 (0 turns it off)."""

    def __post_init__(self) -> None:
        self.gamma = tuple(float(g) for g in self.gamma)
        self.blur_sigma = tuple(float(s) for s in self.blur_sigma)
        if not 0.0 <= self.prob <= 1.0:
            raise ValueError(f"prob must be in [0, 1], got {self.prob}")
        if len(self.gamma) != 2 or not 0 < self.gamma[0] <= self.gamma[1]:
            raise ValueError(f"gamma must be (low, high) with 0 < low <= high, got {self.gamma}")
        if len(self.blur_sigma) != 2 or not 0 <= self.blur_sigma[0] <= self.blur_sigma[1]:
            raise ValueError(
                f"blur_sigma must be (low, high) with 0 <= low <= high, got {self.blur_sigma}"
            )
        if self.histogram_points < 3:
            raise ValueError(f"histogram_points must be >= 3, got {self.histogram_points}")
        for name in ("bias_coeff", "noise_std", "elastic_magnitude_px"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.elastic_spacing_px <= 0:
            raise ValueError(f"elastic_spacing_px must be > 0, got {self.elastic_spacing_px}")


def _plain(x) -> torch.Tensor:
    """MONAI returns MetaTensors; the models get plain tensors."""
    return torch.as_tensor(x).as_subclass(torch.Tensor)


def _seeded(transform):
    transform.set_random_state(seed=int(torch.randint(0, 2**31 - 1, ()).item()))
    return transform


def _appearance_transforms(cfg: DomainRandomization) -> list:
    from monai.transforms import (
        RandAdjustContrast,
        RandBiasField,
        RandGaussianSmooth,
        RandHistogramShift,
        RandRicianNoise,
    )

    p = cfg.prob
    return [
        RandHistogramShift(num_control_points=cfg.histogram_points, prob=p),
        RandAdjustContrast(prob=p, gamma=cfg.gamma),
        RandBiasField(coeff_range=(0.0, cfg.bias_coeff), prob=p),
        RandGaussianSmooth(sigma_x=cfg.blur_sigma, sigma_y=cfg.blur_sigma, prob=p),
        RandRicianNoise(prob=p, std=cfg.noise_std, relative=False, sample_std=True),
    ]


def randomize_appearance(image: torch.Tensor, cfg: DomainRandomization) -> torch.Tensor:
    """A new random MRI appearance per sample (the channels of a sample share it).

    Args:
        image: ``(B, C, H, W)`` float intensities in [0, 1].
        cfg: strengths.

    Returns:
        ``(B, C, H, W)`` float, rescaled to [0, 1] per sample (as a prepared ROI is).
    """
    if image.ndim != 4:
        raise ValueError(f"image must be (B, C, H, W), got shape {tuple(image.shape)}")
    transforms = _appearance_transforms(cfg)
    out = []
    for sample in image:  # (C, H, W)
        x = sample.float()
        for t in transforms:
            x = _plain(_seeded(t)(x)).float()
        lo, hi = x.amin(), x.amax()
        out.append((x - lo) / (hi - lo).clamp_min(1e-6))
    return torch.stack(out).to(image.device, image.dtype)


def randomize_geometry(
    image: torch.Tensor, label: torch.Tensor, cfg: DomainRandomization, label_fill: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """A random smooth non-rigid deformation per sample, the same for image and label.

    Args:
        image: ``(B, C, H, W)`` float.
        label: ``(B, 1, H, W)`` integer ids (resampled nearest-neighbour).
        cfg: strengths (``elastic_magnitude_px = 0`` returns the inputs).
        label_fill: label of pixels moved in from outside the frame.

    Returns:
        The deformed ``(image, label)``; pixels moved in from outside are 0 / ``label_fill``.
    """
    if cfg.elastic_magnitude_px == 0:
        return image, label
    from monai.transforms import Rand2DElasticd

    elastic = Rand2DElasticd(
        keys=("image", "label"),
        spacing=(cfg.elastic_spacing_px, cfg.elastic_spacing_px),
        magnitude_range=(0.0, cfg.elastic_magnitude_px),
        prob=cfg.prob,
        mode=("bilinear", "nearest"),
        padding_mode="zeros",
    )
    images, labels = [], []
    for x, y in zip(image, label):
        d = _seeded(elastic)({"image": x.float(), "label": y.float() - label_fill})
        images.append(_plain(d["image"]).to(image.dtype))
        labels.append((_plain(d["label"]).round() + label_fill).to(label.dtype))
    return torch.stack(images).to(image.device), torch.stack(labels).to(label.device)
