"""MRI appearance model: phantom label maps -> real-time-MRI-like magnitude frames.

The phantom geometry draws supersampled label maps ``(T, H*s, W*s)`` (ids in
:mod:`mrisynth.phantom.labels`). :func:`render_mri` turns them into ``(T, H, W)`` frames that
look like a spiral rtMRI reconstruction (USC 75-speaker style, 84x84 at ~83 fps):

1. per-label mean intensity plus a smooth static texture field (soft tissue bright, air ~0,
   teeth and bone very dark), partial volume by block-averaging the supersampled intensities;
2. off-resonance blur and signal loss of tissue next to dark (air/bone) regions;
3. coil-sensitivity shading falling away from a receive coil (anterior-superior by default);
4. k-space undersampling: per-frame golden-angle spiral arms (or radial spokes) rasterised onto
   the Cartesian grid, density-compensated, with a fraction of the zero-filled aliasing kept
   (streaks) and circular k-space support plus a Gaussian apodisation (blur);
5. complex Gaussian noise, injected in k-space so that it passes the same apodisation and
   temporal smoothing as the signal (correlated like a regularised recon) and pre-scaled so
   that its final std per channel is ``reference_intensity / snr``;
6. zero-phase exponential smoothing along time, imitating the temporal finite-difference
   penalty of the reconstruction (no lag, so audio/video alignment is kept), then magnitude
   (Rician statistics).

Everything that does not change over a recording (texture field, coil map, k-space weights)
is built once per call, so per-frame work is one look-up, one FFT pair and a few array ops.

References: speech-production reference §1 (USC: 2 of 13 spiral interleaves per frame,
temporal penalty, coil shading; off-resonance blur at air-tissue boundaries, Lim 2019).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields

import numpy as np
import scipy.fft
from scipy import ndimage

from mrisynth.phantom.labels import LABEL_NAMES, LABELS, N_LABELS

__all__ = [
    "APPEARANCE_PRESETS",
    "MRIAppearance",
    "render_mri",
    "downsample_labels",
    "TRAJECTORIES",
]

#: k-space trajectories :func:`render_mri` can imitate; "none" = fully sampled Cartesian.
TRAJECTORIES: tuple[str, ...] = ("spiral", "radial", "none")

# Mean magnitude per label at full coil sensitivity (arbitrary units, brightest tissue ~0.85).
# Bone and enamel give almost no signal (reference §1), so teeth and hard palate sit near air.
_DEFAULT_INTENSITY: dict[str, float] = {
    "background": 0.0,
    "airway": 0.0,
    "tongue": 0.75,
    "lips": 0.8,
    "jaw_teeth": 0.07,
    "velum": 0.7,
    "hard_palate": 0.06,
    "pharyngeal_wall": 0.72,
    "other_tissue": 0.7,
}
# Relative std of the static texture per label. "other_tissue" gets the largest so that the
# head/neck shows fat-, brain- and spine-like bright/dark patches.
_DEFAULT_TEXTURE: dict[str, float] = {
    "background": 0.0,
    "airway": 0.0,
    "tongue": 0.12,
    "lips": 0.15,
    "jaw_teeth": 0.3,
    "velum": 0.12,
    "hard_palate": 0.3,
    "pharyngeal_wall": 0.15,
    "other_tissue": 0.35,
}

_GOLDEN_RATIO = (1.0 + math.sqrt(5.0)) / 2.0
_MASK_POOL = 64  # distinct per-frame sampling patterns; frames cycle through them
_MAX_KEY_SUPERSAMPLE = 4  # 9**4 = 6561-entry look-up table for the fast partial-volume path


def _check_range(name: str, value: float, low: float, high: float = math.inf) -> None:
    if not (isinstance(value, (int, float)) and low <= value <= high and not math.isnan(value)):
        raise ValueError(f"MRIAppearance.{name} must lie in [{low}, {high}], got {value!r}")


def _label_table(name: str, given: Mapping[str, float], default: Mapping[str, float]) -> dict:
    unknown = sorted(set(given) - set(LABELS))
    if unknown:
        raise ValueError(
            f"MRIAppearance.{name} has unknown label names {unknown}; known: {list(LABEL_NAMES)}"
        )
    table = {**default, **given}
    for label, value in table.items():
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise ValueError(
                f"MRIAppearance.{name}[{label!r}] must be finite and >= 0, got {value!r}"
            )
    return {label: float(table[label]) for label in LABEL_NAMES}


@dataclass(frozen=True)
class MRIAppearance:
    """How phantom labels look in a real-time speech MRI frame.

    Every effect can be switched off (``0``, ``math.inf`` for ``snr``, ``"none"`` for
    ``trajectory``); :meth:`clean` does all of that at once, :meth:`realistic` is the default.
    Intensities are in arbitrary units with the brightest tissue ~0.85 at full coil sensitivity.
    """

    intensity: Mapping[str, float] = field(default_factory=dict)
    """Mean magnitude per label name (missing names take the defaults); each >= 0."""
    texture_std: Mapping[str, float] = field(default_factory=dict)
    """Relative std of the smooth static texture per label name (0 = flat); each >= 0."""
    texture_scale_px: float = 4.0
    """Correlation length of the texture field, output pixels (> 0)."""
    coil_strength: float = 0.9
    """Depth of coil shading in [0, 1]: 0 = flat, 1 = sensitivity alone (-> 0 far away)."""
    coil_position: tuple[float, float] = (0.1, 0.4)
    """Coil centre as (row, column) fractions of the field of view; face left, superior up."""
    coil_falloff: float = 0.3
    """Distance (fraction of the field of view) at which the loop-coil sensitivity is ~35 %."""
    snr: float = 50.0
    """Brightest label mean / noise std per real and imaginary channel; ``math.inf`` = none."""
    trajectory: str = "spiral"
    """k-space sampling to imitate: "spiral", "radial" (golden-angle spokes) or "none"."""
    interleaves_per_frame: int = 2
    """Spiral arms (or radial spokes) acquired per frame."""
    interleaves_full: int = 13
    """Spiral arms (or radial spokes) of a fully sampled set; sets the arm's turn spacing."""
    aliasing_residual: float = 0.6
    """Fraction of the zero-filled undersampling error left by the reconstruction, [0, 1]."""
    blur_px: float = 0.5
    """Std of the Gaussian point-spread function of the reconstruction, output pixels (>= 0)."""
    temporal_smoothing: float = 0.012
    """Time constant of the zero-phase exponential smoother along time, seconds (0 = off)."""
    off_resonance: float = 0.35
    """Strength in [0, 1] of blur and signal loss of tissue next to air or bone."""
    off_resonance_px: float = 1.0
    """Spatial extent (Gaussian std, output pixels) of the off-resonance effect (> 0)."""

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "intensity", _label_table("intensity", self.intensity, _DEFAULT_INTENSITY)
        )
        object.__setattr__(
            self, "texture_std", _label_table("texture_std", self.texture_std, _DEFAULT_TEXTURE)
        )
        if max(self.intensity.values()) <= 0:
            raise ValueError("MRIAppearance.intensity must give at least one label a value > 0")
        _check_range("texture_scale_px", self.texture_scale_px, 1e-6, 1e6)
        _check_range("coil_strength", self.coil_strength, 0.0, 1.0)
        if len(self.coil_position) != 2 or not all(
            isinstance(v, (int, float)) and math.isfinite(v) for v in self.coil_position
        ):
            raise ValueError(
                f"MRIAppearance.coil_position must be two finite (row, column) fractions, "
                f"got {self.coil_position!r}"
            )
        object.__setattr__(self, "coil_position", tuple(float(v) for v in self.coil_position))
        _check_range("coil_falloff", self.coil_falloff, 1e-6, 1e6)
        if not (isinstance(self.snr, (int, float)) and self.snr > 0):
            raise ValueError(
                f"MRIAppearance.snr must be > 0 (math.inf for no noise), got {self.snr!r}"
            )
        if self.trajectory not in TRAJECTORIES:
            raise ValueError(
                f"MRIAppearance.trajectory must be one of {TRAJECTORIES}, got {self.trajectory!r}"
            )
        for name in ("interleaves_per_frame", "interleaves_full"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"MRIAppearance.{name} must be an int >= 1, got {value!r}")
        if self.interleaves_per_frame > self.interleaves_full:
            raise ValueError(
                f"MRIAppearance.interleaves_per_frame ({self.interleaves_per_frame}) must not "
                f"exceed interleaves_full ({self.interleaves_full})"
            )
        _check_range("aliasing_residual", self.aliasing_residual, 0.0, 1.0)
        _check_range("blur_px", self.blur_px, 0.0, 1e6)
        _check_range("temporal_smoothing", self.temporal_smoothing, 0.0, 1e6)
        _check_range("off_resonance", self.off_resonance, 0.0, 1.0)
        _check_range("off_resonance_px", self.off_resonance_px, 1e-6, 1e6)

    @classmethod
    def clean(cls) -> MRIAppearance:
        """Label means with partial volume only: no texture, shading, artefacts or noise."""
        return cls(
            texture_std={name: 0.0 for name in LABEL_NAMES},
            coil_strength=0.0,
            snr=math.inf,
            trajectory="none",
            aliasing_residual=0.0,
            blur_px=0.0,
            temporal_smoothing=0.0,
            off_resonance=0.0,
        )

    @classmethod
    def realistic(cls) -> MRIAppearance:
        """Default look, calibrated by eye and by histogram against a USC 84x84 spiral frame."""
        return cls()

    @classmethod
    def calibrated(cls) -> MRIAppearance:
        """The look fitted to real USC-TIMIT / USC SPAN rtMRI by
        ``experiments/real_contours/realism.py --calibrate`` (seeded random search, then
        coordinate descent): the Fréchet distance between appearance features
        (:mod:`mrisynth.evaluation.realism`) of 30 real videos and of a phantom corpus, both
        prepared as users' recordings are, fell from 45.4 (``realistic``) to 10.0. Darker
        soft tissue with a coarser texture, brighter teeth and palate (marrow and fat
        partial-volume), less noise and aliasing, stronger off-resonance blur at air
        boundaries. The realism measure of the held-out ``F2_400.avi`` is in README."""
        return cls(
            intensity={
                "airway": 0.0845,
                "tongue": 0.613,
                "lips": 0.569,
                "jaw_teeth": 0.52,
                "velum": 0.917,
                "hard_palate": 0.442,
                "pharyngeal_wall": 0.61,
                "other_tissue": 0.3,
            },
            texture_std={
                "tongue": 0.226,
                "lips": 0.282,
                "jaw_teeth": 0.564,
                "velum": 0.226,
                "hard_palate": 0.564,
                "pharyngeal_wall": 0.282,
                "other_tissue": 0.658,
            },
            texture_scale_px=2.81,
            coil_strength=0.53,
            coil_falloff=0.107,
            snr=72.4,
            aliasing_residual=0.131,
            blur_px=0.161,
            off_resonance=0.758,
            off_resonance_px=2.17,
        )

    @classmethod
    def preset(cls, name: str, **overrides: object) -> MRIAppearance:
        """A named look (:data:`APPEARANCE_PRESETS`) with some fields replaced.

        Args:
            name: preset name, e.g. ``"realistic"`` or ``"clean"``.
            overrides: field values that replace the preset's (``intensity`` and
                ``texture_std`` tables are merged label by label with the preset's).

        Raises:
            ValueError: an unknown preset or field name (the known ones are listed).
        """
        if name not in APPEARANCE_PRESETS:
            raise ValueError(
                f"unknown MRI appearance {name!r}; known: {', '.join(APPEARANCE_PRESETS)}"
            )
        base = APPEARANCE_PRESETS[name]()
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(
                f"MRIAppearance has no field(s) {unknown}; known: {', '.join(sorted(known))}"
            )
        merged = dict(overrides)
        for table in ("intensity", "texture_std"):
            if table in merged:
                given = merged[table]
                if not isinstance(given, Mapping):
                    raise ValueError(f"MRIAppearance.{table} must be a mapping label -> value")
                unknown_labels = sorted(set(given) - set(LABEL_NAMES))
                if unknown_labels:
                    raise ValueError(
                        f"MRIAppearance.{table}: unknown label(s) {unknown_labels}; "
                        f"known: {', '.join(LABEL_NAMES)}"
                    )
                merged[table] = {**getattr(base, table), **given}
        if "coil_position" in merged:
            merged["coil_position"] = tuple(merged["coil_position"])  # YAML gives a list
        return dataclasses.replace(base, **merged)

    @property
    def reference_intensity(self) -> float:
        """Brightest label mean; the noise std is ``reference_intensity / snr``."""
        return max(self.intensity.values())

    def to_dict(self) -> dict:
        """Plain-python copy of all fields (for configs and provenance)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["intensity"] = dict(self.intensity)
        out["texture_std"] = dict(self.texture_std)
        out["coil_position"] = list(self.coil_position)
        return out


#: Named looks of :meth:`MRIAppearance.preset` (``PhantomConfig.appearance``).
APPEARANCE_PRESETS: dict[str, Callable[[], MRIAppearance]] = {
    "realistic": MRIAppearance.realistic,
    "clean": MRIAppearance.clean,
    "calibrated": MRIAppearance.calibrated,
}


# ----------------------------------------------------------------------------- static fields


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], scale_px: float) -> np.ndarray:
    """Unit-std Gaussian random field ``(H, W)`` float32 with correlation length ``scale_px``."""
    noise = rng.standard_normal(shape)
    # Two scales: fine texture plus slow patches (fat/brain/spine-like variation).
    fine = ndimage.gaussian_filter(noise, scale_px, mode="wrap")
    coarse = ndimage.gaussian_filter(noise, 3.0 * scale_px, mode="wrap")
    out = 0.3 * fine / (fine.std() + 1e-12) + coarse / (coarse.std() + 1e-12)
    return (out / (out.std() + 1e-12)).astype(np.float32)


def _coil_map(shape: tuple[int, int], app: MRIAppearance) -> np.ndarray:
    """Receive sensitivity ``(H, W)`` float32, 1 at the coil centre.

    On-axis field of a circular loop falls as ``(1 + (d/a)^2)^(-3/2)``.
    """
    h, w = shape
    rows = (np.arange(h) + 0.5) / h - app.coil_position[0]
    cols = (np.arange(w) + 0.5) / w - app.coil_position[1]
    dist2 = rows[:, None] ** 2 + cols[None, :] ** 2
    sens = (1.0 + dist2 / app.coil_falloff**2) ** -1.5
    return ((1.0 - app.coil_strength) + app.coil_strength * sens).astype(np.float32)


def _trajectory_points(kind: str, angle: float, n_full: int, shape: tuple[int, int]) -> np.ndarray:
    """Cartesian grid indices ``(2, n)`` (row, col; DC at ``N // 2``) hit by one arm/spoke."""
    h, w = shape
    kmax = 0.5  # cycles per pixel
    if kind == "spiral":
        # Archimedean arm; turns spaced by n_full grid steps so that n_full arms reach Nyquist.
        turns = kmax * max(h, w) / n_full
        n = int(16 * math.pi * turns * max(h, w) * kmax) + 64
        tau = np.linspace(0.0, 1.0, n)
        radius = kmax * tau
        phi = 2.0 * math.pi * turns * tau + angle
    else:  # radial spoke through the centre
        n = 8 * max(h, w)
        radius = np.linspace(-kmax, kmax, n)
        phi = np.full(n, angle)
    ky = np.rint(radius * np.sin(phi) * h).astype(int) + h // 2
    kx = np.rint(radius * np.cos(phi) * w).astype(int) + w // 2
    keep = (ky >= 0) & (ky < h) & (kx >= 0) & (kx < w)
    return np.stack([ky[keep], kx[keep]])


@functools.lru_cache(maxsize=8)
def _kspace_weights(
    shape: tuple[int, int],
    trajectory: str,
    per_frame: int,
    n_full: int,
    residual: float,
    blur_px: float,
) -> np.ndarray:
    """Per-frame k-space weights ``(P, H, W)`` float32 in FFT (unshifted) order.

    ``W_p = apod * ((1 - r_k) * support + r_k * M_p / density)``: ``M_p`` the cells hit by
    frame ``p``'s arms, ``density`` their mean over the pool (density compensation), ``support``
    the cells any frame hits (a disk for spiral/radial), ``r_k = residual * |k| / kmax`` and
    ``apod`` a Gaussian PSF of std ``blur_px``.
    Read-only (cached).
    """
    h, w = shape
    if trajectory == "none":
        masks = np.ones((1, h, w), np.float32)
    else:
        # Golden-angle increments: spiral arms repeat every 2*pi, radial spokes every pi.
        period = 2.0 * math.pi if trajectory == "spiral" else math.pi
        step = period / _GOLDEN_RATIO
        masks = np.zeros((_MASK_POOL, h, w), np.float32)
        for p in range(_MASK_POOL):
            for j in range(per_frame):
                ky, kx = _trajectory_points(trajectory, (p * per_frame + j) * step, n_full, shape)
                masks[p, ky, kx] = 1.0
    density = masks.mean(axis=0)
    support = (density > 0).astype(np.float32)
    compensated = np.divide(masks, density, out=np.zeros_like(masks), where=density > 0)
    fy = np.fft.fftshift(np.fft.fftfreq(h))[:, None]
    fx = np.fft.fftshift(np.fft.fftfreq(w))[None, :]
    kr2 = (fy**2 + fx**2) / 0.25  # squared |k| / kmax
    # A temporally regularised recon recovers the slowly varying low frequencies from
    # neighbouring frames; what is left is fine, streaky aliasing from the outer k-space.
    kept = residual * np.sqrt(np.minimum(kr2, 1.0))
    weights = (1.0 - kept) * support + kept * compensated
    weights = np.fft.ifftshift(weights, axes=(-2, -1)) * _apodisation(shape, blur_px)
    weights = weights.astype(np.float32)
    weights.setflags(write=False)
    return weights


@functools.lru_cache(maxsize=8)
def _apodisation(shape: tuple[int, int], blur_px: float) -> np.ndarray:
    """k-space transfer function ``(H, W)`` float32 (FFT order) of a Gaussian PSF, std px."""
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.fftfreq(shape[1])[None, :]
    apod = np.exp(-2.0 * math.pi**2 * blur_px**2 * (fy**2 + fx**2)).astype(np.float32)
    apod.setflags(write=False)
    return apod


def _temporal_variance_gain(alpha: float) -> float:
    """Variance gain of :func:`_temporal_smooth` on white noise (long-sequence limit).

    Forward-backward smoothing has impulse response ``(1-a)/(1+a) * a^|n|``.
    """
    return ((1.0 - alpha) / (1.0 + alpha)) ** 2 * (1.0 + alpha**2) / (1.0 - alpha**2)


# ----------------------------------------------------------------------------- per-frame steps


def _check_labels(label_maps_hr: np.ndarray, supersample: int) -> np.ndarray:
    labels = np.asarray(label_maps_hr)
    if not isinstance(supersample, (int, np.integer)) or supersample < 1:
        raise ValueError(f"supersample must be an int >= 1, got {supersample!r}")
    if labels.ndim != 3:
        raise ValueError(f"label_maps_hr must have shape (T, H*s, W*s), got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"label_maps_hr must be an integer array, got dtype {labels.dtype}")
    if labels.shape[1] % supersample or labels.shape[2] % supersample:
        raise ValueError(
            f"label_maps_hr spatial shape {labels.shape[1:]} is not divisible by "
            f"supersample={supersample}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= N_LABELS):
        raise ValueError(
            f"label_maps_hr holds ids outside [0, {N_LABELS - 1}] "
            f"(min {labels.min()}, max {labels.max()}); see mrisynth.phantom.labels"
        )
    return labels.astype(np.uint8, copy=False)


def _block_average(
    labels: np.ndarray, table: np.ndarray, s: int, dtype: np.dtype | None = None
) -> np.ndarray:
    """Mean of ``table[labels]`` over ``s x s`` blocks: ``(T, H*s, W*s)`` -> ``(T, H, W)``.

    Fast path: the ``s`` labels of a block row form one base-9 key into a table of their
    averaged values, so only ``1/s`` of the high-resolution pixels are looked up. With an
    integer ``dtype`` the result is the exact block *sum* instead of the mean.
    """
    t, hs, ws = labels.shape
    h, w = hs // s, ws // s
    if s == 1:
        return table[labels]
    integer = dtype is not None and np.issubdtype(dtype, np.integer)
    scaled = table if integer else table / (s * s)
    if s <= _MAX_KEY_SUPERSAMPLE:
        digits = np.indices((N_LABELS,) * s).reshape(s, -1)  # (s, 9**s), row-major key order
        row_table = scaled[digits].sum(axis=0, dtype=dtype).astype(dtype or table.dtype)
        cols = labels.reshape(t, hs, w, s)
        key = np.multiply(cols[..., 0], N_LABELS ** (s - 1), dtype=np.uint16)
        for j in range(1, s):
            key += np.multiply(cols[..., j], N_LABELS ** (s - 1 - j), dtype=np.uint16)
        rows = row_table[key].reshape(t, h, s, w)  # block-row sums
        out = rows[:, :, 0].copy()
        for j in range(1, s):
            out += rows[:, :, j]
        return out
    return scaled[labels].reshape(t, h, s, w, s).sum(axis=(2, 4))


def _off_resonance(image: np.ndarray, inv_ref: np.ndarray | float, app: MRIAppearance) -> None:
    """Blur and darken tissue next to dark (air/bone) pixels, in place; ``(T, H, W)``.

    Susceptibility jumps at air-tissue boundaries shift the local frequency, which a spiral
    readout turns into blur and dephasing. The field map is not simulated: dark neighbours of
    bright tissue stand in for it. ``inv_ref`` is ``1 / (reference intensity * coil)``, so
    darkness is judged before coil shading.
    """
    sigma = (0.0, app.off_resonance_px, app.off_resonance_px)
    blurred = ndimage.gaussian_filter(image, sigma, mode="nearest", truncate=2.5)
    # Tissue side of a boundary: bright here, dark nearby (the blurred image is dimmer).
    weight = np.clip(1.0 - blurred * inv_ref, 0.0, 1.0)
    weight *= np.clip(image * inv_ref, 0.0, 1.0)
    weight *= app.off_resonance
    blurred *= 0.6  # blur plus ~40 % signal loss at full weight
    blurred -= image
    blurred *= weight
    image += blurred


def _temporal_smooth(frames: np.ndarray, alpha: float) -> np.ndarray:
    """Zero-phase (forward + backward) exponential smoothing along axis 0, in place."""
    # A one-pass filter would delay fast motion and break audio/video alignment.
    beta = 1.0 - alpha
    for t in range(1, frames.shape[0]):
        frames[t] *= beta
        frames[t] += alpha * frames[t - 1]
    for t in range(frames.shape[0] - 2, -1, -1):
        frames[t] *= beta
        frames[t] += alpha * frames[t + 1]
    return frames


# ----------------------------------------------------------------------------- public API


def downsample_labels(label_maps_hr: np.ndarray, supersample: int) -> np.ndarray:
    """Majority label of every ``s x s`` block: the labels written next to rendered frames.

    Args:
        label_maps_hr: ``(T, H*s, W*s)`` integer label ids in ``[0, N_LABELS)``.
        supersample: block size ``s`` (int >= 1).

    Returns:
        ``(T, H, W)`` uint8. Ties go to the lowest label id (air before tissue).

    Raises:
        ValueError: wrong shape/dtype, ids out of range, or shape not divisible by ``s``.
    """
    labels = _check_labels(label_maps_hr, supersample)
    s = int(supersample)
    if s == 1:
        return labels.copy()
    t, hs, ws = labels.shape
    h, w = hs // s, ws // s
    best = np.zeros((t, h, w), np.uint8)
    best_count = np.full(best.shape, -1, np.int64)
    if s <= _MAX_KEY_SUPERSAMPLE:
        # Pack the per-label counts of a block into one uint64, 5 bits per label (<= 16 each),
        # so one block average of a packed table gives all nine histograms at once.
        packed_one = np.uint64(1) << (np.uint64(5) * np.arange(N_LABELS, dtype=np.uint64))
        packed = _block_average(labels, packed_one, s, dtype=np.uint64)  # block sums
        counts = [(packed >> np.uint64(5 * lab)) & np.uint64(31) for lab in range(N_LABELS)]
    else:
        blocks = labels.reshape(t, h, s, w, s)
        counts = [(blocks == lab).sum(axis=(2, 4)) for lab in range(N_LABELS)]
    for label, count in enumerate(counts):  # ascending, strict '>' keeps the lowest id on ties
        count = count.astype(np.int64)
        better = count > best_count
        best[better] = label
        best_count[better] = count[better]
    return best


def render_mri(
    label_maps_hr: np.ndarray,
    *,
    supersample: int,
    appearance: MRIAppearance,
    rng: np.random.Generator,
    fps: float,
) -> np.ndarray:
    """Render supersampled phantom label maps as rtMRI-like magnitude frames.

    Args:
        label_maps_hr: ``(T, H*s, W*s)`` integer label ids (:mod:`mrisynth.phantom.labels`),
            face left, superior up.
        supersample: ``s``, the label map's supersampling factor; frames are ``(H, W)``.
        appearance: the look; :meth:`MRIAppearance.realistic` or :meth:`MRIAppearance.clean`.
        rng: source of all randomness (texture, sampling-pattern phase, noise); the same seed
            gives the same frames.
        fps: frame rate in Hz (sets the temporal smoothing in frames).

    Returns:
        ``(T, H, W)`` float32 magnitude, >= 0. Soft tissue sits at ~0.85 next to the coil and
        falls to ~0.1-0.3 far from it (realistic preset); air is at the noise floor
        (mean ~1.25 * reference_intensity / snr). Values are not clipped at 1: clipping would
        bias the Rician statistics, and textured tissue near the coil may exceed 1 slightly.
        Normalise per recording downstream if a fixed range is needed.

    Raises:
        ValueError: bad label maps, ``supersample`` or ``fps``.
    """
    labels = _check_labels(label_maps_hr, supersample)
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a finite number > 0, got {fps!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    s = int(supersample)
    t, hs, ws = labels.shape
    shape = (hs // s, ws // s)
    app = appearance

    # Static per-recording fields: texture and coil map.
    means = np.array([app.intensity[n] for n in LABEL_NAMES], np.float32)
    textured = any(v > 0 for v in app.texture_std.values())
    if textured:
        # Complex table: real = mean, imag = mean * texture std, so one block average gives
        # both the partial-volume mean and the local texture amplitude.
        amps = np.array([app.texture_std[n] for n in LABEL_NAMES], np.float32) * means
        table = (means + 1j * amps).astype(np.complex64)
        texture = _smooth_field(rng, shape, app.texture_scale_px)
    else:
        table = means
    coil = _coil_map(shape, app) if app.coil_strength > 0 else None

    pv = _block_average(labels, table, s)  # (T, H, W)
    if textured:
        shaded_texture = texture if coil is None else texture * coil
        image = pv.real * (1.0 if coil is None else coil)
        image += pv.imag * shaded_texture
        np.maximum(image, 0.0, out=image)
    else:
        image = pv if coil is None else pv * coil
    if app.off_resonance > 0:
        ref = app.reference_intensity
        _off_resonance(image, 1.0 / (ref if coil is None else ref * coil), app)

    alpha = 0.0
    if app.temporal_smoothing > 0 and t > 1:
        alpha = math.exp(-1.0 / (app.temporal_smoothing * fps))
    sigma = app.reference_intensity / app.snr if math.isfinite(app.snr) else 0.0
    if sigma > 0:
        # Noise enters before the reconstruction filters (k-space apodisation, temporal
        # smoother) so it comes out spatially and temporally correlated like a regularised
        # recon; it is pre-scaled so that its final std per channel is still ``sigma``.
        sigma_in = sigma / math.sqrt(_temporal_variance_gain(alpha))
        noise = rng.standard_normal((t, *shape, 2), dtype=np.float32).view(np.complex64)[..., 0]

    if app.trajectory != "none" or app.blur_px > 0:
        weights = _kspace_weights(
            shape,
            app.trajectory,
            app.interleaves_per_frame,
            app.interleaves_full,
            app.aliasing_residual,
            app.blur_px,
        )
        index = (int(rng.integers(len(weights))) + np.arange(t)) % len(weights)
        kspace = scipy.fft.fft2(image, axes=(-2, -1), workers=1)  # complex64 (T, H, W)
        kspace *= weights[index]
        if sigma > 0:
            # White complex noise of std s per channel in k-space is white with std
            # s * rms(apod) / sqrt(H*W) in the image after the (1/N-normalised) inverse FFT.
            apod = _apodisation(shape, app.blur_px)
            scale = sigma_in * math.sqrt(shape[0] * shape[1] / float(np.mean(apod**2)))
            noise *= apod * np.float32(scale)
            kspace += noise
        image = scipy.fft.ifft2(kspace, axes=(-2, -1), workers=1)
    elif sigma > 0:
        noise *= np.float32(sigma_in)
        noise += image
        image = noise

    if alpha > 0:
        image = _temporal_smooth(image.reshape(t, -1), alpha).reshape(t, *shape)
    return np.abs(image).astype(np.float32, copy=False)
