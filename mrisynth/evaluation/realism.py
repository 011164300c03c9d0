"""How far phantom frames look from real rtMRI: a domain classifier and a feature distance.

Both measures compare two sets of frames of the **same ROI size and pixel spacing**, e.g. real
clips and phantom clips prepared the same way (:mod:`mrisynth.data.prepare`: the automatic
vocal-tract ROI, resized, percentile-scaled to [0, 1]). They look at appearance, not anatomy:
every frame is summarised by :func:`image_features`, fixed statistics pooled over the whole
frame (:data:`FEATURE_NAMES`):

- intensity histogram: quantiles 5, 10, 25, 50, 75, 90, 95 %, mean, std, the dark (< 0.2) and
  bright (> 0.8) fractions and the entropy of a 32-bin histogram;
- noise: the robust std (1.4826 x MAD) of the residual after a Gaussian smoothing of 1 px,
  over the frame and over its dark (air) pixels only;
- sharpness: mean, std and 90 % quantile of the Sobel gradient magnitude, the Laplacian
  variance;
- texture: the share of the (mean-removed) power spectrum in 6 equal radial-frequency bands
  up to Nyquist, as log10.

:func:`domain_classifier_auc` trains a real-vs-phantom classifier on these features
(standardised, L2 logistic regression) and reports its cross-validated ROC AUC: **0.5 = the
two sets cannot be told apart, 1.0 = trivially separable; lower is more realistic.**
:func:`domain_transfer_auc` trains the same classifier on one pair of sets (e.g. many real
calibration videos against one phantom corpus) and tests it on another (a held-out real video
against another phantom corpus), with a group-bootstrap sd.
:func:`feature_distance` is the Fréchet distance between Gaussian fits of the two feature sets
(features z-scored with the mean and std of the real set or of a given reference set, so
distances of several phantom sets to one real set are comparable; 0 = same mean and
covariance; lower is more realistic).

Why the folds are split by group: frames of one video are strongly correlated (the same head,
coil and scanner; neighbouring frames nearly identical), so a per-frame split puts near-copies
of every test frame in the training set and the AUC measures memorisation, not a domain gap.
Folds are therefore split by **group** (a clip, or a block of consecutive frames of a clip:
:func:`contiguous_groups`); no group is ever in both the training and the test part of a fold.
Use one group per video where each set has at least ``n_splits`` videos. Blocks of one video
still share its head, coil and noise, so the classifier learns that video's look from its
other blocks: with a single real video the cross-validated AUC measures the distance to *that*
video and errs towards separability (on USC-TIMIT even other real videos score ~0.99 against
one real video). :func:`domain_transfer_auc` with many training videos avoids this.

Example::

    groups = contiguous_groups([len(a), len(b)], block_frames=10)
    res = domain_classifier_auc(real, synth, synth_groups=groups, seed=0)
    res.auc, res.auc_sd, feature_distance(real, synth)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
from scipy import linalg, ndimage
from scipy.stats import rankdata

__all__ = [
    "FEATURE_NAMES",
    "DomainAUC",
    "image_features",
    "contiguous_groups",
    "roc_auc",
    "domain_classifier_auc",
    "domain_transfer_auc",
    "feature_distance",
    "frechet_distance",
    "feature_gaps",
]

_QUANTILES = (0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95)
_N_BANDS = 6
_DARK, _BRIGHT = 0.2, 0.8

#: Names of the :func:`image_features` columns, in order.
FEATURE_NAMES: tuple[str, ...] = (
    *(f"q{round(q * 100):02d}" for q in _QUANTILES),
    "mean",
    "std",
    "dark_fraction",
    "bright_fraction",
    "entropy",
    "noise_mad",
    "dark_noise_mad",
    "grad_mean",
    "grad_std",
    "grad_q90",
    "laplacian_var",
    *(f"log_power_band{b}" for b in range(_N_BANDS)),
)


def _check_frames(name: str, frames: np.ndarray, min_frames: int = 1) -> np.ndarray:
    x = np.asarray(frames)
    if x.ndim != 3:
        raise ValueError(f"{name} must be frames of shape (N, H, W), got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{name} must be floats in [0, 1] (e.g. uint8 / 255), got dtype {x.dtype}")
    if x.shape[0] < min_frames:
        raise ValueError(f"{name} needs at least {min_frames} frames, got {x.shape[0]}")
    if min(x.shape[1:]) < 8:
        raise ValueError(f"{name} frames must be at least 8 x 8 px, got {x.shape[1:]}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got values in [{lo:.3g}, {hi:.3g}]")
    return x.astype(np.float64, copy=False)


def _band_index(shape: tuple[int, int]) -> np.ndarray:
    """Radial-frequency band (0.._N_BANDS-1, or -1 for DC and beyond Nyquist) per FFT cell."""
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.fftfreq(shape[1])[None, :]
    r = np.sqrt(fy**2 + fx**2) / 0.5  # 1 = Nyquist
    band = np.floor(r * _N_BANDS).astype(int)
    band[(r == 0) | (band >= _N_BANDS)] = -1
    return band


def image_features(frames: np.ndarray) -> np.ndarray:
    """Appearance statistics of every frame (the module docstring lists them).

    Args:
        frames: ``(N, H, W)`` floats in [0, 1].

    Returns:
        ``(N, F)`` float64, columns :data:`FEATURE_NAMES`.

    Raises:
        ValueError: wrong shape, dtype or range (the message says which).
    """
    x = _check_frames("frames", frames)
    n = len(x)
    flat = x.reshape(n, -1)
    quant = np.quantile(flat, _QUANTILES, axis=1).T  # (N, 7)
    hist = np.stack([np.histogram(f, bins=32, range=(0.0, 1.0))[0] for f in flat]) / flat.shape[1]
    entropy = -(hist * np.log(np.where(hist > 0, hist, 1.0))).sum(1)

    smooth = ndimage.gaussian_filter(x, (0, 1.0, 1.0), mode="nearest")
    resid = (x - smooth).reshape(n, -1)
    dark = smooth.reshape(n, -1) < _DARK

    def mad(r: np.ndarray) -> float:
        return 1.4826 * float(np.median(np.abs(r - np.median(r)))) if r.size else 0.0

    noise = np.array([mad(r) for r in resid])
    dark_noise = np.array([mad(r[d]) for r, d in zip(resid, dark)])

    gy = ndimage.sobel(x, axis=1, mode="nearest") / 8.0
    gx = ndimage.sobel(x, axis=2, mode="nearest") / 8.0
    grad = np.hypot(gy, gx).reshape(n, -1)
    lap = ndimage.laplace(x, mode="nearest")[:, 1:-1, 1:-1].reshape(n, -1)

    power = np.abs(np.fft.fft2(x - x.mean(axis=(1, 2), keepdims=True))) ** 2
    band = _band_index(x.shape[1:])
    total = power.reshape(n, -1).sum(1) + 1e-12
    bands = np.stack([power[:, band == b].sum(1) / total for b in range(_N_BANDS)], 1)

    out = np.column_stack(
        [
            quant,
            flat.mean(1),
            flat.std(1),
            (flat < _DARK).mean(1),
            (flat > _BRIGHT).mean(1),
            entropy,
            noise,
            dark_noise,
            grad.mean(1),
            grad.std(1),
            np.quantile(grad, 0.9, axis=1),
            lap.var(1),
            np.log10(bands + 1e-12),
        ]
    )
    assert out.shape[1] == len(FEATURE_NAMES)
    return out


def contiguous_groups(lengths: Sequence[int], block_frames: int) -> np.ndarray:
    """Group ids for clips stored one after the other: each clip cut into blocks of frames.

    Args:
        lengths: frame count of every clip, in the order the frames are concatenated.
        block_frames: consecutive frames per group (>= 1); a clip's last block may be
            shorter. Use a value larger than every clip for one group per clip.

    Returns:
        ``(sum(lengths),)`` int64 group ids, unique across clips.

    Example::

        contiguous_groups([3, 2], block_frames=2)  # -> [0, 0, 1, 2, 2]
    """
    if not isinstance(block_frames, (int, np.integer)) or block_frames < 1:
        raise ValueError(f"block_frames must be an int >= 1, got {block_frames!r}")
    out, offset = [], 0
    for n in lengths:
        if n < 0:
            raise ValueError(f"clip lengths must be >= 0, got {list(lengths)}")
        ids = np.arange(n) // block_frames
        out.append(ids + offset)
        offset += int(ids.max()) + 1 if n else 0
    return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)


def roc_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """ROC AUC of scores, via the Mann–Whitney U statistic (ties count 1/2).

    Args:
        positive: ``(P,)`` scores of the positive class (here: phantom).
        negative: ``(Q,)`` scores of the negative class (here: real).

    Returns:
        P(score of a random positive > score of a random negative), in [0, 1].

    Raises:
        ValueError: an empty class.
    """
    pos = np.asarray(positive, np.float64).ravel()
    neg = np.asarray(negative, np.float64).ravel()
    if not pos.size or not neg.size:
        raise ValueError(f"roc_auc needs both classes, got {pos.size} and {neg.size} scores")
    ranks = rankdata(np.concatenate([pos, neg]))
    u = ranks[: pos.size].sum() - pos.size * (pos.size + 1) / 2.0
    return float(u / (pos.size * neg.size))


@dataclasses.dataclass(frozen=True)
class DomainAUC:
    """Real-vs-phantom ROC AUC (0.5 = indistinguishable, 1 = separable; lower is better).

    Attributes:
        auc: cross-validation: mean of the test-fold AUCs over all folds and repeats;
            transfer: the AUC on the test sets.
        auc_sd: cross-validation: sd of the fold AUCs (their spread across test groups);
            transfer: sd of the group-bootstrap AUCs. Not a confidence interval.
        samples: the fold AUCs (repeat by repeat) or the bootstrap AUCs.
        n_real: real frames scored; n_synth: phantom frames scored.
        n_real_groups: their real groups; n_synth_groups: their phantom groups.
    """

    auc: float
    auc_sd: float
    samples: tuple[float, ...]
    n_real: int
    n_synth: int
    n_real_groups: int
    n_synth_groups: int

    def to_dict(self, samples: bool = False) -> dict:
        """Plain-python copy (for JSON); the samples only if asked for."""
        out = dataclasses.asdict(self)
        out["samples"] = list(self.samples)
        if not samples:
            del out["samples"]
        return out


def _classifier(c: float):
    """Standardisation + balanced L2 logistic regression (scikit-learn, imported lazily)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if not (isinstance(c, (int, float)) and c > 0 and math.isfinite(c)):
        raise ValueError(f"c must be a finite number > 0, got {c!r}")
    return make_pipeline(
        StandardScaler(), LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
    )


def _same_size(real: np.ndarray, synth: np.ndarray) -> None:
    if real.shape[1:] != synth.shape[1:]:
        raise ValueError(
            f"real and synth frames must have the same size (same ROI and spacing), got "
            f"{real.shape[1:]} and {synth.shape[1:]}"
        )


def _groups(name: str, groups: np.ndarray | None, n: int, block_frames: int) -> np.ndarray:
    if groups is None:
        return contiguous_groups([n], block_frames)
    g = np.asarray(groups)
    if g.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) (one id per frame), got {g.shape}")
    return g


def domain_classifier_auc(
    real: np.ndarray,
    synth: np.ndarray,
    *,
    real_groups: np.ndarray | None = None,
    synth_groups: np.ndarray | None = None,
    block_frames: int = 10,
    n_splits: int = 5,
    n_repeats: int = 5,
    c: float = 1.0,
    seed: int = 0,
) -> DomainAUC:
    """Group-wise cross-validated ROC AUC of a real-vs-phantom classifier on appearance features.

    The classifier is standardisation + L2 logistic regression (``C = c``, balanced class
    weights) on :func:`image_features`; the folds are stratified and split by group (see the
    module docstring). Each of ``n_repeats`` repeats shuffles the groups into folds anew.

    Args:
        real: ``(N, H, W)`` real frames in [0, 1].
        synth: ``(M, H, W)`` phantom frames in [0, 1], same ``H, W`` (and spacing) as ``real``.
        real_groups: ``(N,)`` group id per real frame (a clip, or a block of one:
            :func:`contiguous_groups`). None: ``real`` is one video in time order, grouped
            in blocks of ``block_frames`` consecutive frames.
        synth_groups: ``(M,)`` the same for ``synth``.
        block_frames: block length used where groups are None.
        n_splits: folds (each class needs at least this many groups).
        n_repeats: repeats of the group shuffle.
        c: inverse L2 regularisation strength of the logistic regression.
        seed: seed of the fold assignment; the same seed gives the same result.

    Returns:
        :class:`DomainAUC`.

    Raises:
        ValueError: bad frames (shape, dtype, range), mismatched frame sizes, groups of the
            wrong length, or fewer than ``n_splits`` groups in a class.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    real = _check_frames("real", real)
    synth = _check_frames("synth", synth)
    _same_size(real, synth)
    _classifier(c)  # checks c
    if not isinstance(n_splits, int) or n_splits < 2:
        raise ValueError(f"n_splits must be an int >= 2, got {n_splits!r}")
    if not isinstance(n_repeats, int) or n_repeats < 1:
        raise ValueError(f"n_repeats must be an int >= 1, got {n_repeats!r}")
    g_real = _groups("real_groups", real_groups, len(real), block_frames)
    g_synth = _groups("synth_groups", synth_groups, len(synth), block_frames)
    for name, g in (("real", g_real), ("synth", g_synth)):
        if len(np.unique(g)) < n_splits:
            raise ValueError(
                f"{name} has {len(np.unique(g))} groups, fewer than n_splits={n_splits}: "
                "use more clips, shorter blocks or fewer splits"
            )
    # Groups of the two classes must never share an id.
    _, g_real = np.unique(g_real, return_inverse=True)
    _, g_synth = np.unique(g_synth, return_inverse=True)
    groups = np.concatenate([g_real, g_synth + g_real.max() + 1])
    x = np.concatenate([image_features(real), image_features(synth)])
    y = np.r_[np.zeros(len(real), int), np.ones(len(synth), int)]  # 1 = phantom

    aucs = []
    for r in range(n_repeats):
        folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed + r)
        for train, test in folds.split(x, y, groups):
            if len(np.unique(y[test])) < 2 or len(np.unique(y[train])) < 2:
                continue  # cannot happen with >= n_splits groups per class; kept as a guard
            model = _classifier(c)
            model.fit(x[train], y[train])
            score = model.decision_function(x[test])
            aucs.append(roc_auc(score[y[test] == 1], score[y[test] == 0]))
    aucs_a = np.array(aucs)
    return DomainAUC(
        auc=float(aucs_a.mean()),
        auc_sd=float(aucs_a.std(ddof=1)) if len(aucs_a) > 1 else 0.0,
        samples=tuple(float(a) for a in aucs_a),
        n_real=len(real),
        n_synth=len(synth),
        n_real_groups=int(g_real.max()) + 1,
        n_synth_groups=int(g_synth.max()) + 1,
    )


def domain_transfer_auc(
    train_real: np.ndarray,
    train_synth: np.ndarray,
    test_real: np.ndarray,
    test_synth: np.ndarray,
    *,
    test_real_groups: np.ndarray | None = None,
    test_synth_groups: np.ndarray | None = None,
    block_frames: int = 10,
    n_boot: int = 200,
    c: float = 1.0,
    seed: int = 0,
) -> DomainAUC:
    """ROC AUC on held-out sets of a real-vs-phantom classifier trained on other sets.

    The classifier is that of :func:`domain_classifier_auc`, fitted once on
    ``train_real`` / ``train_synth`` and scored on ``test_real`` / ``test_synth``; none of
    the test frames should come from a training video. Its sd comes from ``n_boot``
    bootstrap resamples of the test groups (each class resampled group-wise, with
    replacement), which keeps correlated frames together.

    Args:
        train_real: ``(N, H, W)`` real training frames in [0, 1].
        train_synth: ``(M, H, W)`` phantom training frames in [0, 1].
        test_real: ``(N', H, W)`` held-out real frames in [0, 1].
        test_synth: ``(M', H, W)`` held-out phantom frames in [0, 1].
        test_real_groups: ``(N',)`` group ids of the held-out real frames; None: one video
            in blocks of ``block_frames`` consecutive frames.
        test_synth_groups: ``(M',)`` the same for the held-out phantom frames.
        block_frames: block length used where groups are None.
        n_boot: bootstrap resamples for ``auc_sd`` (0: sd 0).
        c: inverse L2 regularisation strength of the logistic regression.
        seed: bootstrap seed.

    Returns:
        :class:`DomainAUC` (``samples`` = the bootstrap AUCs).

    Raises:
        ValueError: bad frames, mismatched sizes or groups of the wrong length.
    """
    sets = {
        "train_real": train_real,
        "train_synth": train_synth,
        "test_real": test_real,
        "test_synth": test_synth,
    }
    sets = {k: _check_frames(k, v) for k, v in sets.items()}
    for v in sets.values():
        _same_size(sets["train_real"], v)
    if not isinstance(n_boot, int) or n_boot < 0:
        raise ValueError(f"n_boot must be an int >= 0, got {n_boot!r}")
    model = _classifier(c)
    x = np.concatenate([image_features(sets["train_real"]), image_features(sets["train_synth"])])
    y = np.r_[np.zeros(len(sets["train_real"]), int), np.ones(len(sets["train_synth"]), int)]
    model.fit(x, y)
    s_real = model.decision_function(image_features(sets["test_real"]))
    s_synth = model.decision_function(image_features(sets["test_synth"]))
    g_real = np.unique(
        _groups("test_real_groups", test_real_groups, len(s_real), block_frames),
        return_inverse=True,
    )[1]
    g_synth = np.unique(
        _groups("test_synth_groups", test_synth_groups, len(s_synth), block_frames),
        return_inverse=True,
    )[1]
    by_real = [s_real[g_real == g] for g in range(g_real.max() + 1)]
    by_synth = [s_synth[g_synth == g] for g in range(g_synth.max() + 1)]
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(n_boot):
        pick_r = rng.integers(len(by_real), size=len(by_real))
        pick_s = rng.integers(len(by_synth), size=len(by_synth))
        boot.append(
            roc_auc(
                np.concatenate([by_synth[i] for i in pick_s]),
                np.concatenate([by_real[i] for i in pick_r]),
            )
        )
    return DomainAUC(
        auc=roc_auc(s_synth, s_real),
        auc_sd=float(np.std(boot, ddof=1)) if len(boot) > 1 else 0.0,
        samples=tuple(float(a) for a in boot),
        n_real=len(s_real),
        n_synth=len(s_synth),
        n_real_groups=len(by_real),
        n_synth_groups=len(by_synth),
    )


def _zscore(
    fr: np.ndarray, fs: np.ndarray, ref: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    ref = fr if ref is None else ref
    mu, sd = ref.mean(0), ref.std(0)
    sd = np.where(sd > 1e-9, sd, 1.0)  # a constant reference feature: raw differences
    return (fr - mu) / sd, (fs - mu) / sd


def frechet_distance(
    real_features: np.ndarray,
    synth_features: np.ndarray,
    reference_features: np.ndarray | None = None,
) -> float:
    """:func:`feature_distance` on precomputed features (to reuse the real set's).

    Args:
        real_features: ``(N, F)`` features of the real frames, N >= 2.
        synth_features: ``(M, F)`` features of the phantom frames, M >= 2.
        reference_features: ``(K, F)`` features whose mean and std z-score both sets;
            None: ``real_features``.

    Raises:
        ValueError: not 2-D arrays with the same F and at least 2 rows each.
    """
    fr = np.asarray(real_features, np.float64)
    fs = np.asarray(synth_features, np.float64)
    ref = None if reference_features is None else np.asarray(reference_features, np.float64)
    shapes = [a.shape for a in (fr, fs, ref) if a is not None]
    if any(len(sh) != 2 or sh[1] != fr.shape[-1] for sh in shapes):
        raise ValueError(f"features must be (N, F) arrays with one F, got {shapes}")
    if min(sh[0] for sh in shapes) < 2:
        raise ValueError(f"need at least 2 frames per set, got {shapes}")
    zr, zs = _zscore(fr, fs, ref)
    cr, cs = np.cov(zr, rowvar=False), np.cov(zs, rowvar=False)
    root = np.real(linalg.sqrtm(cr @ cs))  # numerical noise gives tiny imaginary parts
    d = float(((zr.mean(0) - zs.mean(0)) ** 2).sum() + np.trace(cr + cs - 2.0 * root))
    return max(d, 0.0)


def feature_distance(
    real: np.ndarray, synth: np.ndarray, reference: np.ndarray | None = None
) -> float:
    """Fréchet distance between Gaussian fits of the two sets' :func:`image_features`.

    ``|mu_r - mu_s|^2 + tr(S_r + S_s - 2 (S_r S_s)^(1/2))`` on features z-scored with the
    mean and std of ``reference`` (default ``real``), so the reference set has unit variance
    per feature. 0 = same mean and covariance; lower is more realistic. Frames are not
    grouped: it is a distance between the two sets, not a test. A single video varies little,
    so as ``real`` (and reference) it inflates every distance: z-score with a set of many
    videos where there is one.

    Args:
        real: ``(N, H, W)`` real frames in [0, 1], N >= 2.
        synth: ``(M, H, W)`` phantom frames in [0, 1], M >= 2, same ``H, W``.
        reference: ``(K, H, W)`` frames in [0, 1] that set the feature scale; None: ``real``.

    Raises:
        ValueError: as :func:`domain_classifier_auc`, or fewer than 2 frames in a set.
    """
    real = _check_frames("real", real, min_frames=2)
    synth = _check_frames("synth", synth, min_frames=2)
    _same_size(real, synth)
    ref = None
    if reference is not None:
        reference = _check_frames("reference", reference, min_frames=2)
        _same_size(real, reference)
        ref = image_features(reference)
    return frechet_distance(image_features(real), image_features(synth), ref)


def feature_gaps(real: np.ndarray, synth: np.ndarray) -> dict[str, float]:
    """Per feature, ``(mean synth - mean real) / sd real``: which statistics differ, and how.

    Args:
        real: ``(N, H, W)`` real frames in [0, 1].
        synth: ``(M, H, W)`` phantom frames in [0, 1].

    Returns:
        ``{name: gap}`` in :data:`FEATURE_NAMES` order (positive: the phantom is higher).
    """
    real = _check_frames("real", real)
    synth = _check_frames("synth", synth)
    zr, zs = _zscore(image_features(real), image_features(synth))
    return {k: float(v) for k, v in zip(FEATURE_NAMES, zs.mean(0) - zr.mean(0))}
