"""Evaluate a trained generator against baselines and the real video on the target speakers.

:func:`evaluate` reads a prepared corpus (``prepared.csv``, :mod:`mrisynth.data.prepare`), and for
every target speaker (one with ``test`` utterances):

1. fits the baselines of :mod:`mrisynth.evaluation.baselines` on the speaker's ``adapt``
   utterances (features: the generator's per-frame mel windows, flattened);
2. for every ``test`` utterance and condition (``image_audio``: one frame of another (adapt)
   utterance of the speaker; ``video_audio``: a whole adapt utterance, cycled; never the ground
   truth) runs the model and every baseline on the same clip and scores each against the
   recording:

   - image: L1, SSIM, MS-SSIM, PSNR (:mod:`mrisynth.metrics.image`), L1 inside the generator's
     mask;
   - sync: LSE-D, LSE-C, AV offset with the **evaluation expert** over ±``sync_span_ms``, and
     that expert's sync loss on the in-sync windows (``sync_bce``, :mod:`mrisynth.metrics.sync`);
   - anatomy: the segmenter labels the frames → per-articulator Dice and HD95 (mm), constriction
     degree and location errors (mm) and their trajectory correlation, tongue-contour distance
     (mm), all vs the ground-truth labels (:mod:`mrisynth.metrics.anatomy`,
     :mod:`mrisynth.metrics.constriction`);
   - temporal: warping error (flows computed once per recording), temporal-gradient
     difference, flicker (:mod:`mrisynth.metrics.temporal`);

3. scores the recording itself with the same expert (``real``), the recording with another test
   utterance's audio (``shuffled``, must be clearly worse), the recording with its audio shifted
   by ``offset_test_frames`` (the recovered offset must equal the shift) and the segmenter on the
   recorded frames (``segmenter``: its own accuracy vs the labels);
4. groups per-frame errors by phoneme class (phones CSV of the recording) and checks that the
   tongue-tip constriction of retroflex phones lies behind that of dentals;
5. writes the report (:func:`mrisynth.evaluation.report.write_report`) and side-by-side MP4s.

Videos whose frame rate, pixel spacing, frame size or length differ are rejected with an error
naming both values (:func:`check_videos_comparable`): nothing is resampled silently.

Without a segmenter (``segmenter_ckpt=None``, e.g. talking faces, which have no articulator
labels) the anatomical metrics, the phoneme-class table and the retroflex check are left out;
everything else is scored the same way. Colour (RGB) videos are scored in colour for the image
metrics and the sync expert, and on their luminance for the temporal metrics (optical flow).
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import warnings
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mrisynth.data.sequence import SpeechMRISequence
from mrisynth.evaluation.baselines import (
    NearestNeighbourBaseline,
    RegressionBaseline,
    StaticFrameBaseline,
)
from mrisynth.metrics.anatomy import (
    constriction_errors,
    contour_distance_mm,
    dice_per_class,
    hd95_per_class,
    trajectory_correlation,
)
from mrisynth.metrics.constriction import constriction_location_error, measure_constrictions
from mrisynth.metrics.image import ms_ssim, psnr, ssim
from mrisynth.metrics.sync import SyncScore, lse_scores, max_offset_frames
from mrisynth.metrics.temporal import (
    flicker,
    reference_flows,
    temporal_gradient_difference,
    warping_error,
)
from mrisynth.phantom.labels import CONSTRICTION_PLACES, LABEL_NAMES, LABELS, N_LABELS

logger = logging.getLogger(__name__)

__all__ = [
    "CONDITIONS",
    "ARTICULATORS",
    "EvalConfig",
    "check_videos_comparable",
    "read_phones",
    "frame_phones",
    "tongue_contours",
    "evaluate",
]

CONDITIONS = ("image_audio", "video_audio")
#: Labels scored per articulator (background and other tissue are not articulators).
ARTICULATORS = tuple(n for n in LABEL_NAMES if n not in ("background", "other_tissue"))
#: Places whose per-frame degree errors are grouped by phoneme class.
CLASS_PLACES = ("tongue_tip", "lips", "tongue_body")


@dataclasses.dataclass
class EvalConfig:
    """Settings of :func:`evaluate`.

    Raises:
        ValueError: on an out-of-range value; the message names the field.
    """

    sync_span_ms: float = 600.0
    """AV offsets searched on each side (ms), converted to frames at the video's fps."""
    warp_stride: int = 4
    """Frame pairs between warping-error samples (flows are the expensive part)."""
    offset_test_frames: tuple[int, ...] = (-6, 6)
    """Deliberate audio shifts (frames, positive = audio later) applied to the real video."""
    n_videos: int = 4
    """Side-by-side MP4s (reference | synthesized | |difference|) to write."""
    batch_size: int = 64
    """Frames per generator / segmenter / expert forward pass."""
    regression_components: int = 32
    """PCA components of the regression baseline."""
    regression_alpha: float = 10.0
    """Ridge penalty of the regression baseline."""
    conditions: tuple[str, ...] = CONDITIONS
    """Conditions to run: ``image_audio`` and/or ``video_audio``."""
    hd95_stride: int = 4
    """Score HD95 on every ``hd95_stride``-th frame only (MONAI's surface distances are the
    slowest metric by far); Dice and the constriction measures use every frame."""
    flicker_static_std: float = 0.02
    """Reference temporal std below which a pixel counts as static for the flicker metric."""
    max_test_utterances: int = 0
    """Score at most this many test utterances (evenly spread; 0 = all)."""
    device: str = "cpu"
    """Torch device of the models."""
    seed: int = 0
    """Seed of the reference choice (which adapt utterance / frame)."""

    def __post_init__(self) -> None:
        self.offset_test_frames = tuple(int(o) for o in self.offset_test_frames)
        self.conditions = tuple(self.conditions)
        if not self.sync_span_ms > 0:
            raise ValueError(f"EvalConfig.sync_span_ms must be > 0, got {self.sync_span_ms}")
        for name in ("warp_stride", "batch_size", "regression_components", "hd95_stride"):
            if getattr(self, name) < 1:
                raise ValueError(f"EvalConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("n_videos", "max_test_utterances"):
            if getattr(self, name) < 0:
                raise ValueError(f"EvalConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.regression_alpha < 0 or self.flicker_static_std <= 0:
            raise ValueError("EvalConfig: regression_alpha must be >= 0, flicker_static_std > 0")
        if not self.conditions or any(c not in CONDITIONS for c in self.conditions):
            raise ValueError(
                f"EvalConfig.conditions must be a non-empty subset of {CONDITIONS}, "
                f"got {self.conditions}"
            )


# ---------------------------------------------------------------------------------- checks
def check_videos_comparable(
    reference: SpeechMRISequence,
    other: SpeechMRISequence,
    what: str = "synthesized",
    *,
    same_length: bool = True,
) -> None:
    """Refuse to compare videos on different grids (never resample silently).

    Args:
        reference: the recording (ground truth).
        other: the video compared with it.
        what: name of ``other`` for messages.
        same_length: also require the same number of frames (False for identity references,
            which may be any length).

    Raises:
        ValueError: different fps, pixel spacing, frame size or number of frames, naming both.
    """
    name = reference.utterance_id or "reference"
    if not math.isclose(reference.fps, other.fps, rel_tol=1e-6):
        raise ValueError(
            f"{name}: {what} video is at {other.fps:g} fps but the reference at "
            f"{reference.fps:g} fps; resample one of them explicitly before comparing"
        )
    if not np.allclose(reference.spacing_mm, other.spacing_mm, rtol=1e-6):
        raise ValueError(
            f"{name}: {what} pixel spacing {other.spacing_mm} mm != reference spacing "
            f"{reference.spacing_mm} mm"
        )
    if reference.frames.shape[1:] != other.frames.shape[1:]:
        raise ValueError(
            f"{name}: {what} frames are {other.frames.shape[1:]} px, reference frames "
            f"{reference.frames.shape[1:]} px"
        )
    if same_length and len(reference.frames) != len(other.frames):
        raise ValueError(
            f"{name}: {what} video has {len(other.frames)} frames, the reference "
            f"{len(reference.frames)}"
        )


# ---------------------------------------------------------------------------------- phones
def read_phones(path: str | Path) -> list[tuple[float, float, str]]:
    """Timed phones ``(start_s, end_s, symbol)`` of a phones CSV (``start_s,end_s,phone``).

    Raises:
        FileNotFoundError: missing file. ValueError: missing columns (file named).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"phones file not found: {path}")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"start_s", "end_s", "phone"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: phones CSV lacks column(s) {sorted(missing)}")
        return [(float(r["start_s"]), float(r["end_s"]), r["phone"].strip()) for r in reader]


def frame_phones(
    phones: Sequence[tuple[float, float, str]], n_frames: int, fps: float
) -> list[str | None]:
    """Phone symbol at the centre time ``(k + 0.5) / fps`` of every frame (None: no phone)."""
    out: list[str | None] = [None] * n_frames
    for k in range(n_frames):
        t = (k + 0.5) / fps
        for start, end, sym in phones:
            if start <= t < end:
                out[k] = sym
                break
    return out


def _phone_info(symbol: str | None) -> tuple[str | None, str | None]:
    """``(phoneme_class, place)`` of a symbol; unknown symbols and silence give None."""
    from mrisynth.phantom.inventory import phoneme

    if symbol is None:
        return None, None
    try:
        p = phoneme(symbol)
    except KeyError:
        return None, None
    return p.phoneme_class, p.place


# ---------------------------------------------------------------------------------- anatomy
def tongue_contours(labels: np.ndarray, spacing_mm: tuple[float, float]) -> list[np.ndarray | None]:
    """Longest iso-contour of the tongue label per frame as ``(N, 2)`` ``(x, y)`` in mm.

    Args:
        labels: ``(T, H, W)`` label maps; spacing_mm: ``(row, col)`` pixel spacing (mm).

    Returns:
        One polyline per frame, or None where the frame has no tongue.
    """
    from skimage.measure import find_contours

    out: list[np.ndarray | None] = []
    for lab in labels:
        mask = np.pad((lab == LABELS["tongue"]).astype(np.float32), 1)  # closed contours
        cs = find_contours(mask, 0.5) if mask.any() else []
        if not cs:
            out.append(None)
            continue
        c = max(cs, key=len) - 1.0  # undo the padding
        out.append(np.stack([c[:, 1] * spacing_mm[1], c[:, 0] * spacing_mm[0]], 1))
    return out


@dataclasses.dataclass
class _Recording:
    """One test recording and everything computed once on it (shared by all methods)."""

    seq: SpeechMRISequence
    frames: np.ndarray  # (T, H, W[, 3]) float [0, 1]
    labels: np.ndarray | None  # (T, H, W) ground-truth label ids (None: no anatomy scored)
    measures: dict[str, np.ndarray] | None
    contours: list[np.ndarray | None] | None
    flows: list
    phones: list[str | None]
    sync_offset_s: float  # audio offset on the video clock (s)


def _anatomy(
    pred_labels: np.ndarray, rec: _Recording, hd95_stride: int = 1
) -> tuple[dict[str, float], dict]:
    """Anatomical metrics of label maps vs the recording's labels, plus per-frame arrays."""
    sp = rec.seq.spacing_mm
    row: dict[str, float] = {}
    dice = dice_per_class(pred_labels, rec.labels, N_LABELS)  # (T, K)
    sub = slice(None, None, hd95_stride)
    ids = [LABELS[a] for a in ARTICULATORS]
    with warnings.catch_warnings():
        # a class missing from one side is scored by the anatomy module's empty-mask rule
        warnings.filterwarnings("ignore", message=".* is all 0", category=UserWarning)
        hd = hd95_per_class(pred_labels[sub], rec.labels[sub], N_LABELS, sp, ids)  # (T/s, K) mm
    with np.errstate(all="ignore"):
        for a, k in zip(ARTICULATORS, ids):
            row[f"dice_{a}"] = _nanmean(dice[:, k])
            row[f"hd95_{a}_mm"] = _nanmean(hd[:, k])
        row["dice_mean"] = _nanmean(dice[:, ids])
        row["hd95_mean_mm"] = _nanmean(hd[:, ids])
        # a class present on one side only scores the image diagonal (anatomy module), so a
        # few such frames can move the mean; the median over frames is the robust companion
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # frames where all are empty
            hd_per_frame = np.nanmean(hd[:, ids], axis=1)
        row["hd95_median_mm"] = _nanmedian(hd_per_frame)
    measures = measure_constrictions(pred_labels, sp)
    degree = [f"{p}_degree_mm" for p in CONSTRICTION_PLACES]
    deg_err = constriction_errors(
        {k: measures[k] for k in degree}, {k: rec.measures[k] for k in degree}
    )
    loc_err = constriction_location_error(measures, rec.measures)
    corr = trajectory_correlation(
        {k: measures[k] for k in degree}, {k: rec.measures[k] for k in degree}
    )
    for p in CONSTRICTION_PLACES:
        row[f"{p}_degree_err_mm"] = deg_err[f"{p}_degree_mm"]
        row[f"{p}_location_err_mm"] = loc_err[f"{p}_location_mm"]
        row[f"traj_r_{p}"] = corr[f"{p}_degree_mm"]
    row["degree_err_mean_mm"] = _nanmean([deg_err[k] for k in degree])
    row["location_err_mean_mm"] = _nanmean(list(loc_err.values()))
    row["traj_r_mean"] = _nanmean(list(corr.values()))
    dists = [
        contour_distance_mm(a, b)
        for a, b in zip(tongue_contours(pred_labels, sp), rec.contours)
        if a is not None and b is not None
    ]
    row["tongue_contour_mm"] = _nanmean(dists)
    per_frame = {
        f"{p}_degree_err_mm": np.abs(measures[f"{p}_degree_mm"] - rec.measures[f"{p}_degree_mm"])
        for p in CLASS_PLACES
    }
    per_frame["tongue_tip_x_mm"] = measures["tongue_tip_location_mm"][:, 0]
    return row, {"per_frame": per_frame, "measures": measures}


def _finite(v) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    return a[np.isfinite(a)]


def _nanmean(v) -> float:
    a = _finite(v)
    return float(a.mean()) if a.size else float("nan")


def _nanmedian(v) -> float:
    a = _finite(v)
    return float(np.median(a)) if a.size else float("nan")


# ---------------------------------------------------------------------------------- scoring
@dataclasses.dataclass
class _Models:
    generator: Any
    gen_cfg: Any
    mask: np.ndarray  # (H, W) bool
    expert: Any
    expert_cfg: Any
    segmenter: Any  # None: no anatomical metrics
    seg_size: int


def _sync(
    models: _Models,
    cfg: EvalConfig,
    frames: np.ndarray,
    audio: np.ndarray,
    sr: int,
    offset_s: float,
    max_off: int,
) -> SyncScore:
    from mrisynth.synthesis import sync_embeddings

    v, a = sync_embeddings(
        models.expert,
        models.expert_cfg,
        frames,
        audio,
        sr,
        audio_offset_s=offset_s,
        batch_size=cfg.batch_size,
        device=cfg.device,
    )
    return lse_scores(v, a, min(max_off, len(v) - 1))


def _sync_row(score: SyncScore) -> dict[str, float]:
    """The per-clip sync columns of a score."""
    return {
        "lse_d": score.lse_d,
        "lse_c": score.lse_c,
        "sync_bce": score.sync_bce,
        "offset": float(score.offset),
        "abs_offset": float(abs(score.offset)),
    }


def _max_offset(cfg: EvalConfig, fps: float, n_frames: int, tv: int, name: str) -> int:
    k = max_offset_frames(fps, cfg.sync_span_ms)
    n_windows = n_frames - tv + 1
    if k >= n_windows:
        logger.warning(
            "%s: %d frames allow offsets up to ±%d frames only (asked ±%d = %g ms)",
            name,
            n_frames,
            n_windows - 1,
            k,
            cfg.sync_span_ms,
        )
        k = n_windows - 1
    return k


def _score_video(
    pred: np.ndarray, rec: _Recording, models: _Models, cfg: EvalConfig, max_off: int
) -> tuple[dict[str, float], dict]:
    """All metrics of one synthesized video ``(T, H, W)`` float [0, 1] vs the recording."""
    seq = rec.seq
    check_videos_comparable(
        seq, seq.replace(frames=pred.astype(np.float32), labels=None, fps=models.gen_cfg.fps)
    )
    gt = rec.frames
    mask = models.mask
    row: dict[str, float] = {
        "n_frames": float(len(gt)),
        "l1": float(np.abs(pred - gt).mean()),
        "l1_mask": float(np.abs(pred - gt)[:, mask].mean()),
        "ssim": float(ssim(gt, pred).mean()),
        "ms_ssim": float(ms_ssim(gt, pred).mean()),
        "psnr": float(psnr(gt, pred).mean()),
    }
    s = _sync(models, cfg, pred, seq.audio, seq.sample_rate, rec.sync_offset_s, max_off)
    row.update(_sync_row(s))
    extra: dict[str, Any] = {"per_frame": {}}
    if models.segmenter is not None:
        from mrisynth.models.segmenter import segment

        labels = segment(
            models.segmenter, np.clip(pred, 0, 1), cfg.batch_size, img_size=models.seg_size
        )
        anat, extra = _anatomy(labels, rec, cfg.hd95_stride)
        row.update(anat)
    gt_y, pred_y = _luminance(gt), _luminance(pred)
    row["warp_error"] = warping_error(gt_y, pred_y, stride=cfg.warp_stride, flows=rec.flows)
    row["temporal_grad_diff"] = temporal_gradient_difference(gt_y, pred_y)
    row["flicker"] = flicker(gt_y, pred_y, cfg.flicker_static_std)
    err = np.abs(pred - gt)
    extra["per_frame"]["l1_mask"] = err[:, mask].reshape(len(err), -1).mean(1)
    extra["sync"] = s
    return row, extra


def _class_rows(
    per_frame: Mapping[str, np.ndarray], phones: Sequence[str | None], base: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Per-class means of per-frame errors for one clip."""
    classes = np.array([_phone_info(p)[0] for p in phones], dtype=object)
    out = []
    for cls in sorted({c for c in classes if c is not None}):
        sel = classes == cls
        row = {**base, "phoneme_class": cls, "n_frames": float(sel.sum())}
        for k in ("l1_mask", *(f"{p}_degree_err_mm" for p in CLASS_PLACES)):
            if k in per_frame:
                row[k] = _nanmean(np.asarray(per_frame[k])[sel])
        out.append(row)
    return out


# ---------------------------------------------------------------------------------- loading
def _load_models(generator_ckpt, eval_expert_ckpt, segmenter_ckpt, device: str) -> _Models:
    from mrisynth.engine.train import (
        check_compatible,
        generator_mask,
        load_generator,
        load_sync_expert,
    )

    generator, gen_cfg = load_generator(generator_ckpt, map_location=device)
    mask = generator_mask(generator_ckpt)
    expert, expert_cfg = load_sync_expert(eval_expert_ckpt, map_location=device)
    check_compatible(
        expert_cfg, gen_cfg, f"evaluation expert {eval_expert_ckpt} vs generator {generator_ckpt}"
    )
    if segmenter_ckpt is None:
        return _Models(generator, gen_cfg, mask, expert, expert_cfg, None, 0)
    from mrisynth.engine.solvers.segmenter import load_segmenter

    segmenter, seg_cfg = load_segmenter(segmenter_ckpt, map_location=device)
    return _Models(generator, gen_cfg, mask, expert, expert_cfg, segmenter, seg_cfg.img_size)


def _check_data(seq: SpeechMRISequence, models: _Models, name: str) -> None:
    cfg = models.gen_cfg
    if not math.isclose(seq.fps, cfg.fps, rel_tol=1e-6):
        raise ValueError(
            f"{name}: data at {seq.fps:g} fps but the generator synthesizes {cfg.fps:g} fps; "
            "prepare the data at the model's frame rate (prepare --set fps=...)"
        )
    if seq.frames.shape[1:3] != (cfg.img_size, cfg.img_size) or seq.channels != cfg.channels:
        raise ValueError(
            f"{name}: frames are {seq.frames.shape[1:3]} px with {seq.channels} channel(s), "
            f"the generator's are {cfg.img_size} px with {cfg.channels}"
        )
    if seq.audio is None:
        raise ValueError(f"{name}: has no audio")
    if seq.labels is None and models.segmenter is not None:
        raise ValueError(f"{name}: has no ground-truth labels (labels_path) to score anatomy")


def _features(seq: SpeechMRISequence, model_cfg) -> np.ndarray:
    """Per-frame generator mel windows, flattened: ``(T, n_mels * n_win)``."""
    from mrisynth.transforms.mel import frames_to_mel_windows, log_mel

    mel = log_mel(seq.audio, seq.sample_rate, model_cfg.mel)
    w = frames_to_mel_windows(
        mel,
        seq.n_frames,
        model_cfg.fps,
        model_cfg.audio_window_ms,
        model_cfg.mel,
        center=model_cfg.audio_window_center,
        audio_offset_s=seq.audio_offset_s,
    )
    return w.reshape(len(w), -1)


def _float(frames: np.ndarray) -> np.ndarray:
    f = np.asarray(frames)
    return f.astype(np.float32) / 255.0 if f.dtype == np.uint8 else f.astype(np.float32)


def _luminance(frames: np.ndarray) -> np.ndarray:
    """``(T, H, W)`` grey frames as they are; RGB ``(T, H, W, 3)`` → luminance (BT.709)."""
    from skimage.color import rgb2gray

    return frames if frames.ndim == 3 else rgb2gray(frames).astype(np.float32)


# ---------------------------------------------------------------------------------- main
def evaluate(
    prepared_csv: str | Path,
    generator_ckpt: str | Path,
    eval_expert_ckpt: str | Path,
    segmenter_ckpt: str | Path,
    out_dir: str | Path,
    cfg: EvalConfig | None = None,
    tracker: Any = None,
) -> dict[str, float]:
    """Evaluate the generator, the baselines and the real videos; write the report.

    Args:
        prepared_csv: ``prepared.csv`` of :func:`mrisynth.data.prepare.prepare_manifest`
            (splits ``adapt`` and ``test`` of the target speakers, with labels and phones).
        generator_ckpt: ``generator.pt`` (:func:`mrisynth.engine.train.load_generator`).
        eval_expert_ckpt: the evaluation sync expert (trained separately from the generator's).
        segmenter_ckpt: articulator segmenter (:func:`~mrisynth.engine.solvers.segmenter.
            load_segmenter`), or None: no anatomical metrics (e.g. face video).
        out_dir: report folder (see :mod:`mrisynth.evaluation.report`).
        cfg: settings (default :class:`EvalConfig`).
        tracker: an open :class:`~mrisynth.engine.tracking.Tracker` (metrics and artifacts are
            logged to it) or None.

    Returns:
        The flat metrics written to ``out_dir/metrics.json``.

    Raises:
        ValueError: no test utterances, a target speaker without adapt utterances, data that do
            not match the models, or videos on different grids (names both values).
    """
    from mrisynth.data.manifest import read_manifest
    from mrisynth.evaluation.report import write_report
    from mrisynth.io import write_mp4
    from mrisynth.models.syncnet import frames_in_window
    from mrisynth.synthesis import side_by_side, synthesize_frames

    cfg = cfg or EvalConfig()
    prepared_csv = Path(prepared_csv)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    root = prepared_csv.parent
    entries = read_manifest(prepared_csv)
    for e in entries:
        if not _prepared_path(e).endswith(".npz"):
            raise ValueError(
                f"{prepared_csv}: row {e.id!r} points to {_prepared_path(e)!r}, not a prepared "
                ".npz (run `mrisynth prepare` first)"
            )
    tests = [e for e in entries if e.split == "test"]
    if not tests:
        raise ValueError(f"{prepared_csv}: no utterances in split 'test'")
    if cfg.max_test_utterances and len(tests) > cfg.max_test_utterances:
        pick = np.linspace(0, len(tests) - 1, cfg.max_test_utterances).round().astype(int)
        tests = [tests[i] for i in np.unique(pick)]
    models = _load_models(generator_ckpt, eval_expert_ckpt, segmenter_ckpt, cfg.device)
    gen_cfg = models.gen_cfg
    tv = frames_in_window(models.expert_cfg.sync_window_ms, models.expert_cfg.fps)
    rng = np.random.default_rng(cfg.seed)

    def load(e) -> SpeechMRISequence:
        seq = SpeechMRISequence.load(root / _prepared_path(e))
        seq = seq.replace(
            utterance_id=e.id, speaker=e.speaker or seq.speaker, language=e.language or seq.language
        )
        _check_data(seq, models, f"{prepared_csv.name}: {e.id}")
        return seq

    # ---- baselines per target speaker, fitted on its adapt utterances
    adapt: dict[str, list[SpeechMRISequence]] = {}
    baselines: dict[str, dict[str, Any]] = {}
    for spk in sorted({e.speaker for e in tests}, key=str):
        seqs = [load(e) for e in entries if e.split == "adapt" and e.speaker == spk]
        if not seqs:
            raise ValueError(
                f"{prepared_csv}: target speaker {spk!r} has test but no 'adapt' utterances "
                "(references and baselines come from them)"
            )
        adapt[spk] = seqs
        feats = np.concatenate([_features(s, gen_cfg) for s in seqs])
        frames = np.concatenate([_float(s.frames) for s in seqs])
        baselines[spk] = {
            "static": StaticFrameBaseline().fit(feats, frames),
            "nearest_neighbour": NearestNeighbourBaseline().fit(feats, frames),
            "regression": RegressionBaseline(cfg.regression_components, cfg.regression_alpha).fit(
                feats, frames
            ),
        }
        logger.info("speaker %s: baselines fitted on %d adapt frames", spk, len(frames))

    test_seqs = [load(e) for e in tests]
    rows: list[dict[str, Any]] = []
    class_rows: list[dict[str, Any]] = []
    tip_x: dict[str, list[tuple[np.ndarray, list]]] = defaultdict(list)
    curves: dict[str, list[np.ndarray]] = defaultdict(list)
    curve_k: int | None = None
    videos: list[str] = []
    trajectories = None
    first_cond = cfg.conditions[0]
    for i, (entry, seq) in enumerate(zip(tests, test_seqs)):
        name = entry.id
        gt = _float(seq.frames)
        phones_path = entry.extra.get("phones_path")
        phones = (
            frame_phones(read_phones(root / phones_path), seq.n_frames, seq.fps)
            if phones_path
            else [None] * seq.n_frames
        )
        anatomy = models.segmenter is not None
        rec = _Recording(
            seq=seq,
            frames=gt,
            labels=np.asarray(seq.labels) if anatomy else None,
            measures=measure_constrictions(seq.labels, seq.spacing_mm) if anatomy else None,
            contours=tongue_contours(seq.labels, seq.spacing_mm) if anatomy else None,
            flows=reference_flows(_luminance(gt), cfg.warp_stride),
            phones=phones,
            sync_offset_s=seq.audio_offset_s,
        )
        base = {"utterance": name, "speaker": seq.speaker, "language": seq.language}
        max_off = _max_offset(cfg, seq.fps, seq.n_frames, tv, name)
        if anatomy:
            tip_x["reference"].append((rec.measures["tongue_tip_location_mm"][:, 0], phones))

        # ---- the recording itself: real, shifted audio, shuffled audio, segmenter
        real = _sync(models, cfg, gt, seq.audio, seq.sample_rate, seq.audio_offset_s, max_off)
        real_row = {**base, "method": "real", "condition": "real", "n_frames": float(len(gt))}
        real_row.update(_sync_row(real))
        for shift in cfg.offset_test_frames:
            s = _sync(
                models,
                cfg,
                gt,
                seq.audio,
                seq.sample_rate,
                seq.audio_offset_s + shift / seq.fps,
                max_off,
            )
            err = abs(s.offset - shift) if abs(shift) <= max_off else float("nan")
            real_row[f"shift_{shift}_offset"] = float(s.offset)
            real_row[f"shift_{shift}_offset_error"] = float(err)
        real_row["av_offset_error"] = _nanmean(
            [real_row[f"shift_{s}_offset_error"] for s in cfg.offset_test_frames]
        )
        rows.append(real_row)
        # offset curves are averaged over clips with the same offset range (short clips differ)
        curve_k = max_off if curve_k is None else curve_k
        if max_off == curve_k:
            curves["real"].append(real.distances)
        if len(test_seqs) > 1:
            other = test_seqs[(i + 1) % len(test_seqs)]
            sh = _sync(
                models, cfg, gt, other.audio, other.sample_rate, other.audio_offset_s, max_off
            )
            rows.append(
                {
                    **base,
                    "method": "shuffled",
                    "condition": "real",
                    "audio_from": other.utterance_id,
                    **_sync_row(sh),
                }
            )
            if max_off == curve_k:
                curves["shuffled"].append(sh.distances)
        else:
            logger.warning("only one test utterance: no shuffled-audio control")
        if anatomy:
            from mrisynth.models.segmenter import segment

            seg_labels = segment(models.segmenter, gt, cfg.batch_size, img_size=models.seg_size)
            seg_row, seg_extra = _anatomy(seg_labels, rec, cfg.hd95_stride)
            rows.append({**base, "method": "segmenter", "condition": "real", **seg_row})
            tip_x["segmenter"].append((seg_extra["per_frame"]["tongue_tip_x_mm"], phones))

        # ---- model and baselines per condition
        refs = adapt[seq.speaker]
        feats = _features(seq, gen_cfg)
        for cond in cfg.conditions:
            ref_seq = refs[int(rng.integers(len(refs)))]
            check_videos_comparable(
                seq, ref_seq, f"reference {ref_seq.utterance_id}", same_length=False
            )
            if cond == "image_audio":
                reference = ref_seq.frames[int(rng.integers(ref_seq.n_frames))][None]
            else:
                reference = ref_seq.frames
            preds = {
                "model": synthesize_frames(
                    models.generator,
                    gen_cfg,
                    reference,
                    seq.audio,
                    seq.sample_rate,
                    seq.n_frames,
                    models.mask,
                    audio_offset_s=seq.audio_offset_s,
                    batch_size=cfg.batch_size,
                    device=cfg.device,
                )
            }
            ref_f = _float(reference)
            for bname, b in baselines[seq.speaker].items():
                if bname == "static":
                    # image+audio: the reference frame frozen; video+audio: the reference video
                    # played back (cycled), both ignoring the audio
                    p = ref_f[np.arange(seq.n_frames) % len(ref_f)]
                else:
                    p = b.predict(feats, ref_f[0])
                preds[f"baseline_{bname}"] = np.asarray(p, np.float32)
            for method, pred in preds.items():
                row, extra = _score_video(pred, rec, models, cfg, max_off)
                row = {
                    **base,
                    "method": method,
                    "condition": cond,
                    "reference_utterance": ref_seq.utterance_id,
                    **row,
                }
                rows.append(row)
                class_rows += _class_rows(
                    extra["per_frame"], phones, {**base, "method": method, "condition": cond}
                )
                if anatomy:
                    tip_x[f"{method}.{cond}"].append(
                        (extra["per_frame"]["tongue_tip_x_mm"], phones)
                    )
                if method == "model" and cond == first_cond:
                    if max_off == curve_k:
                        curves["model"].append(extra["sync"].distances)
                    if trajectories is None and anatomy:
                        trajectories = {
                            "utterance": name,
                            "condition": cond,
                            "places": list(CONSTRICTION_PLACES),
                            "time_s": (np.arange(seq.n_frames) + 0.5) / seq.fps,
                            "reference": {
                                p: rec.measures[f"{p}_degree_mm"] for p in CONSTRICTION_PLACES
                            },
                            "synthesized": {
                                p: extra["measures"][f"{p}_degree_mm"] for p in CONSTRICTION_PLACES
                            },
                        }
                    if len(videos) < cfg.n_videos:
                        rel = f"videos/{name}_{cond}.mp4"
                        write_mp4(
                            side_by_side(gt, pred),
                            out / rel,
                            fps=seq.fps,
                            audio=seq.audio_for_frames(0, seq.n_frames),
                            sr=seq.sample_rate,
                        )
                        videos.append(rel)
        logger.info("evaluated %s (%d/%d)", name, i + 1, len(tests))

    retroflex = [_retroflex_check(src, items) for src, items in sorted(tip_x.items())]
    extra_metrics: dict[str, float] = {}
    for r in retroflex:
        prefix = f"retroflex_check.{r['source']}"
        for k in ("retroflex_x_mm", "dental_x_mm"):
            extra_metrics[f"{prefix}.{k}"] = r[k]
        if r["retroflex_behind_dental"] is not None:
            extra_metrics[f"{prefix}.retroflex_behind_dental"] = float(r["retroflex_behind_dental"])
    offset_curve = None
    if curve_k is not None and curves.get("real"):
        offset_curve = {"offset_ms": np.arange(-curve_k, curve_k + 1) * 1000.0 / test_seqs[0].fps}
        for k, v in curves.items():
            offset_curve[k] = np.mean(v, axis=0)
    metrics = write_report(
        out,
        rows,
        conditions=cfg.conditions,
        class_rows=class_rows,
        retroflex=retroflex,
        offset_curve=offset_curve,
        trajectories=trajectories,
        extra_metrics=extra_metrics,
        videos=videos,
        config=dataclasses.asdict(cfg),
    )
    if tracker is not None:
        tracker.log_params({"evaluate": dataclasses.asdict(cfg)})
        tracker.log_metrics({f"eval/{k}": v for k, v in metrics.items()}, step=0)
        tracker.log_artifact(out, "evaluation")
    return metrics


def _prepared_path(entry) -> str:
    # prepared.csv names the .npz in image_path (older versions: an extra prepared_path column)
    return entry.extra.get("prepared_path") or entry.image_path


def _retroflex_check(source: str, items: Sequence[tuple[np.ndarray, list]]) -> dict[str, Any]:
    """Mean tongue-tip constriction x (mm) during retroflex vs dental phones of ``source``."""
    x_r, x_d = [], []
    for x, phones in items:
        for k, sym in enumerate(phones):
            place = _phone_info(sym)[1]
            if place == "retroflex":
                x_r.append(x[k])
            elif place == "dental":
                x_d.append(x[k])
    r, d = _nanmean(x_r), _nanmean(x_d)
    behind = bool(r > d) if math.isfinite(r) and math.isfinite(d) else None
    return {
        "source": source,
        "retroflex_x_mm": r,
        "dental_x_mm": d,
        "n_retroflex_frames": int(np.isfinite(np.asarray(x_r, float)).sum()),
        "n_dental_frames": int(np.isfinite(np.asarray(x_d, float)).sum()),
        "retroflex_behind_dental": behind,
    }
