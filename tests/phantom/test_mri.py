"""Tests for the MRI appearance model (mrisynth.phantom.mri)."""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest
from scipy import ndimage

from mrisynth.phantom.labels import LABEL_NAMES, LABELS
from mrisynth.phantom.mri import MRIAppearance, downsample_labels, render_mri

FPS = 83.28
L = LABELS


def make_test_head(n_frames: int = 6, size: int = 84, s: int = 3) -> np.ndarray:
    """Crude midsagittal head ``(T, size*s, size*s)`` uint8, face left, with a moving tongue.

    Coordinates are in output pixels (``size`` = 84 layout scaled), so any ``s`` draws the
    same anatomy.
    """
    n = size * s
    k = size / 84.0
    rr, cc = (np.mgrid[0:n, 0:n] + 0.5) / s / k  # output-pixel coordinates in an 84 layout

    def ellipse(r0, c0, ar, ac):
        return ((rr - r0) / ar) ** 2 + ((cc - c0) / ac) ** 2 <= 1.0

    def box(r0, r1, c0, c1):
        return (rr >= r0) & (rr < r1) & (cc >= c0) & (cc < c1)

    static = np.zeros((n, n), np.uint8)
    static[ellipse(28, 44, 26, 32)] = L["other_tissue"]  # skull and face
    static[ellipse(46, 30, 14, 20)] = L["other_tissue"]  # chin and floor of mouth
    static[box(28, 84, 36, 68)] = L["other_tissue"]  # neck and spine
    static[box(22, 29, 14, 40)] = L["airway"]  # nasal cavity
    static[box(33, 38, 12, 42)] = L["airway"]  # oral cavity
    static[box(28, 76, 40, 45)] = L["airway"]  # pharynx
    static[box(29, 33, 16, 35)] = L["hard_palate"]
    static[box(53, 57, 15, 35)] = L["jaw_teeth"]  # mandible
    static[box(29, 33, 13, 17)] = L["jaw_teeth"]  # upper incisors
    static[box(38, 42, 13, 17)] = L["jaw_teeth"]  # lower incisors
    static[ellipse(31.5, 9.5, 2.5, 3.5)] = L["lips"]
    static[ellipse(39.5, 9.5, 2.5, 3.5)] = L["lips"]
    static[box(28, 76, 45, 48)] = L["pharyngeal_wall"]
    frames = np.empty((n_frames, n, n), np.uint8)
    for t in range(n_frames):
        phase = 2 * math.pi * t / max(n_frames, 1)
        frame = static.copy()
        frame[ellipse(33.5, 38, 2.0, 4.5)] = L["velum"]
        frame[ellipse(44 - 2.5 * math.sin(phase), 29 + 2 * math.cos(phase), 9, 11)] = L["tongue"]
        frames[t] = frame
    return frames


def _clean(**kwargs) -> MRIAppearance:
    return dataclasses.replace(MRIAppearance.clean(), **kwargs)


def _expected_block_mean(labels_hr: np.ndarray, s: int, app: MRIAppearance) -> np.ndarray:
    means = np.array([app.intensity[name] for name in LABEL_NAMES], np.float64)
    t, hs, ws = labels_hr.shape
    return means[labels_hr].reshape(t, hs // s, s, ws // s, s).mean(axis=(2, 4))


@pytest.mark.parametrize("s", [1, 2, 3, 4, 5])
def test_clean_preset_is_label_means_with_partial_volume(s):
    labels = make_test_head(3, size=24, s=s)
    app = MRIAppearance.clean()
    out = render_mri(labels, supersample=s, appearance=app, rng=np.random.default_rng(0), fps=FPS)
    assert out.shape == (3, 24, 24) and out.dtype == np.float32
    np.testing.assert_allclose(out, _expected_block_mean(labels, s, app), atol=1e-6)
    # Pure blocks carry exactly the label mean.
    low = downsample_labels(labels, s)
    pure = ndimage.binary_erosion(low == L["tongue"], np.ones((1, 3, 3)))
    np.testing.assert_allclose(out[pure], app.intensity["tongue"], atol=1e-6)


def test_realistic_air_bone_and_teeth_darker_than_soft_tissue():
    s = 3
    labels = make_test_head(8, s=s)
    low = downsample_labels(labels, s)
    out = render_mri(
        labels,
        supersample=s,
        appearance=MRIAppearance.realistic(),
        rng=np.random.default_rng(1),
        fps=FPS,
    )

    def interior_mean(names):
        mask = np.isin(low, [L[n] for n in names])
        mask = ndimage.binary_erosion(mask, np.ones((1, 3, 3)))
        assert mask.sum() > 20, names
        return float(out[mask].mean())

    soft = interior_mean(["tongue", "other_tissue"])
    for dark in (["airway"], ["jaw_teeth"], ["hard_palate"], ["background"]):
        assert interior_mean(dark) < 0.45 * soft, dark
    assert 0.1 < soft < 1.0


@pytest.mark.parametrize("snr", [5.0, 20.0])
def test_background_noise_is_rician_at_configured_snr(snr):
    labels = np.zeros((16, 64, 64), np.uint8)
    labels[:, 20:44, 20:44] = L["tongue"]
    app = _clean(snr=snr)
    out = render_mri(labels, supersample=1, appearance=app, rng=np.random.default_rng(2), fps=FPS)
    sigma = app.reference_intensity / snr
    bg = out[labels == 0]
    # Rayleigh magnitude of complex N(0, sigma^2) noise.
    assert bg.mean() == pytest.approx(sigma * math.sqrt(math.pi / 2), rel=0.03)
    assert bg.std() == pytest.approx(sigma * math.sqrt(2 - math.pi / 2), rel=0.05)
    # Inside the object the magnitude mean is the Rician mean (~ the signal at these SNRs).
    tissue = out[:, 22:42, 22:42]
    a = app.intensity["tongue"]
    assert tissue.mean() == pytest.approx(math.sqrt(a**2 + sigma**2), rel=0.02)


def test_noise_std_is_calibrated_after_recon_filters():
    # Noise passes the k-space apodisation and the temporal smoother, yet keeps its std.
    labels = np.zeros((40, 48, 48), np.uint8)
    labels[:, 20:28, 20:28] = L["tongue"]
    app = _clean(snr=10.0, blur_px=1.0, temporal_smoothing=0.03)
    out = render_mri(labels, supersample=1, appearance=app, rng=np.random.default_rng(4), fps=FPS)
    sigma = app.reference_intensity / app.snr
    far = np.ones((48, 48), bool)
    far[12:36, 12:36] = False
    bg = out[10:-10][:, far]  # interior frames, pixels far from the object
    assert bg.mean() == pytest.approx(sigma * math.sqrt(math.pi / 2), rel=0.06)
    # ...and is correlated in time and space like a regularised reconstruction.
    raw = render_mri(
        labels, supersample=1, appearance=_clean(snr=10.0), rng=np.random.default_rng(4), fps=FPS
    )
    assert np.abs(np.diff(out, axis=0)).mean() < 0.7 * np.abs(np.diff(raw, axis=0)).mean()
    assert np.abs(np.diff(out, axis=2)).mean() < 0.85 * np.abs(np.diff(raw, axis=2)).mean()


def _high_freq_energy(frames: np.ndarray, cutoff: float = 0.25) -> float:
    spec = np.abs(np.fft.fft2(frames)) ** 2
    fy = np.fft.fftfreq(frames.shape[1])[:, None]
    fx = np.fft.fftfreq(frames.shape[2])[None, :]
    return float(spec[:, np.hypot(fy, fx) > cutoff].sum() / spec.sum())


@pytest.mark.parametrize("trajectory", ["spiral", "radial"])
def test_undersampling_adds_streaks_outside_object_and_blurs(trajectory):
    s = 2
    labels = make_test_head(6, s=s)
    low = downsample_labels(labels, s)
    # Background pixels well away from the head, where only streaks can put energy.
    head = ndimage.binary_dilation(low > 0, np.ones((1, 7, 7)))
    base = _clean(texture_std={"other_tissue": 0.2})
    rng_seed = 3
    clean = render_mri(
        labels, supersample=s, appearance=base, rng=np.random.default_rng(rng_seed), fps=FPS
    )
    under_app = dataclasses.replace(
        base,
        trajectory=trajectory,
        interleaves_per_frame=2 if trajectory == "spiral" else 13,
        interleaves_full=13 if trajectory == "spiral" else 132,
        aliasing_residual=1.0,
        blur_px=0.7,
    )
    under = render_mri(
        labels, supersample=s, appearance=under_app, rng=np.random.default_rng(rng_seed), fps=FPS
    )
    outside_clean = float((clean[~head] ** 2).mean())
    outside_under = float((under[~head] ** 2).mean())
    assert outside_clean < 1e-12
    assert outside_under > 1e-4
    assert _high_freq_energy(under) < 0.8 * _high_freq_energy(clean)


def test_undersampling_pattern_changes_from_frame_to_frame():
    labels = np.repeat(make_test_head(1, s=2), 4, axis=0)  # static anatomy
    app = _clean(trajectory="spiral", aliasing_residual=1.0)
    out = render_mri(labels, supersample=2, appearance=app, rng=np.random.default_rng(0), fps=FPS)
    assert np.abs(np.diff(out, axis=0)).mean() > 1e-3


def test_temporal_smoothing_reduces_frame_differences_without_lag():
    n, t = 40, 24
    rr, cc = np.mgrid[0:n, 0:n]
    centres = 20 + 8 * np.sin(2 * math.pi * np.arange(t) / t)
    labels = np.stack(
        [((rr - 20) ** 2 + (cc - c) ** 2 <= 36).astype(np.uint8) * 2 for c in centres]
    )
    sharp = render_mri(
        labels, supersample=1, appearance=_clean(), rng=np.random.default_rng(0), fps=FPS
    )
    smooth = render_mri(
        labels,
        supersample=1,
        appearance=_clean(temporal_smoothing=0.03),
        rng=np.random.default_rng(0),
        fps=FPS,
    )
    diff = lambda x: np.abs(np.diff(x, axis=0)).mean()  # noqa: E731
    assert diff(smooth) < 0.8 * diff(sharp)

    def centroid_col(x):
        return (x * cc).sum(axis=(1, 2)) / x.sum(axis=(1, 2))

    # Zero-phase: the centroid is not delayed (the extreme frames stay in place).
    lag = np.argmax(np.correlate(centroid_col(smooth) - 20, centroid_col(sharp) - 20, "full"))
    assert lag - (t - 1) == 0
    np.testing.assert_allclose(smooth.sum(axis=(1, 2)), sharp.sum(axis=(1, 2)), rtol=0.03)


def test_same_seed_same_frames_other_seed_differs():
    labels = make_test_head(4, s=3)
    app = MRIAppearance.realistic()

    def run(seed):
        return render_mri(
            labels, supersample=3, appearance=app, rng=np.random.default_rng(seed), fps=FPS
        )

    a, b, c = run(7), run(7), run(8)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).mean() > 1e-3


def test_downsample_labels_majority_and_ties():
    hr = np.array(
        [
            [
                [2, 2, 0, 1],
                [2, 0, 1, 1],
                [5, 5, 8, 3],
                [4, 4, 3, 8],
            ]
        ],
        np.uint8,
    )
    expected = np.array([[[2, 1], [4, 3]]], np.uint8)  # [5,5,4,4] and [8,3,3,8] tie -> lower id
    out = downsample_labels(hr, 2)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(downsample_labels(hr, 1), hr)


def test_downsample_labels_of_uniform_blocks_is_exact():
    low = np.random.default_rng(0).integers(0, 9, (2, 5, 7)).astype(np.uint8)
    hr = low.repeat(3, axis=1).repeat(3, axis=2)
    np.testing.assert_array_equal(downsample_labels(hr, 3), low)


@pytest.mark.parametrize("s", [2, 3, 4, 5])
def test_downsample_labels_matches_brute_force_majority(s):
    hr = np.random.default_rng(s).integers(0, 9, (3, 6 * s, 5 * s)).astype(np.uint8)
    blocks = hr.reshape(3, 6, s, 5, s)
    counts = np.stack([(blocks == lab).sum(axis=(2, 4)) for lab in range(9)])
    np.testing.assert_array_equal(downsample_labels(hr, s), counts.argmax(axis=0))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"snr": 0.0}, "snr"),
        ({"snr": -3.0}, "snr"),
        ({"coil_strength": 1.5}, "coil_strength"),
        ({"coil_position": (0.1,)}, "coil_position"),
        ({"coil_falloff": 0.0}, "coil_falloff"),
        ({"trajectory": "cartesian"}, "trajectory"),
        ({"interleaves_per_frame": 0}, "interleaves_per_frame"),
        ({"interleaves_per_frame": 20, "interleaves_full": 13}, "interleaves_per_frame"),
        ({"aliasing_residual": -0.1}, "aliasing_residual"),
        ({"blur_px": float("nan")}, "blur_px"),
        ({"temporal_smoothing": -1.0}, "temporal_smoothing"),
        ({"off_resonance": 2.0}, "off_resonance"),
        ({"texture_scale_px": 0.0}, "texture_scale_px"),
        ({"intensity": {"tounge": 0.5}}, "unknown label"),
        ({"intensity": {"tongue": -0.5}}, "tongue"),
        ({"texture_std": {"lips": float("inf")}}, "lips"),
        ({"intensity": dict.fromkeys(LABEL_NAMES, 0.0)}, "at least one"),
    ],
)
def test_invalid_appearance_raises(kwargs, name):
    with pytest.raises(ValueError, match=name):
        MRIAppearance(**kwargs)


def test_render_rejects_bad_input():
    app = MRIAppearance.clean()
    rng = np.random.default_rng(0)
    good = np.zeros((2, 6, 6), np.uint8)
    with pytest.raises(ValueError, match="divisible"):
        render_mri(good, supersample=4, appearance=app, rng=rng, fps=FPS)
    with pytest.raises(ValueError, match="outside"):
        render_mri(good + 9, supersample=3, appearance=app, rng=rng, fps=FPS)
    with pytest.raises(ValueError, match="integer"):
        render_mri(good.astype(float), supersample=3, appearance=app, rng=rng, fps=FPS)
    with pytest.raises(ValueError, match=r"\(T, H\*s, W\*s\)"):
        render_mri(good[0], supersample=3, appearance=app, rng=rng, fps=FPS)
    with pytest.raises(ValueError, match="fps"):
        render_mri(good, supersample=3, appearance=app, rng=rng, fps=0.0)
    with pytest.raises(ValueError, match="supersample"):
        downsample_labels(good, 0)


def test_presets_and_partial_overrides():
    realistic = MRIAppearance.realistic()
    assert realistic.intensity["jaw_teeth"] < 0.2 < realistic.intensity["tongue"]
    custom = MRIAppearance(intensity={"tongue": 0.5})
    assert custom.intensity["tongue"] == 0.5
    assert custom.intensity["lips"] == realistic.intensity["lips"]
    assert set(custom.to_dict()["intensity"]) == set(LABEL_NAMES)


def test_preset_overrides_merge_label_tables_and_reject_unknown_names():
    from mrisynth.phantom.corpus import PhantomConfig

    look = MRIAppearance.preset("realistic", snr=12.0, intensity={"tongue": 0.3})
    base = MRIAppearance.realistic()
    assert look.snr == 12.0 and look.intensity["tongue"] == 0.3
    assert look.intensity["lips"] == base.intensity["lips"]  # merged, not replaced
    cfg = PhantomConfig(appearance="clean", appearance_overrides={"blur_px": 1.5}, snr=20.0)
    assert cfg.mri_appearance() == MRIAppearance.preset("clean", blur_px=1.5, snr=20.0)
    for bad, words in (
        (dict(appearance="dark"), "unknown MRI appearance 'dark'"),
        (dict(appearance_overrides={"contrast": 2}), "no field(s) ['contrast']"),
        (dict(appearance_overrides={"intensity": {"tounge": 1.0}}), "unknown label(s)"),
        (dict(appearance_overrides={"snr": -1.0}), "snr must be > 0"),
    ):
        with pytest.raises(ValueError, match=re.escape(words)):
            PhantomConfig(**bad)
