"""Scoring one recording: every method in every condition, and the recording itself.

:func:`score_recording` is the unit of an evaluation: for one test :class:`~mrisynth.evaluation.
methods.Recording` it scores

- the recording itself with the evaluation expert (``real``), with its audio shifted by each
  of ``offset_test_frames`` (the recovered offset must equal the shift), with another test
  recording's audio (``shuffled``, must be clearly worse), and the segmenter on the recorded
  frames (``segmenter``: its own accuracy vs the labels; left out for a recording without
  labels, where it would be compared with itself);
- every :class:`~mrisynth.evaluation.methods.Method` in every condition against the recording
  (:meth:`Scorer.score_video`): the image metrics of the metric registry, sync with the
  evaluation expert, anatomy of the segmented frames, temporal coherence.

What depends on the recording only — its frames as floats and their luminance, the optical
flows, the phones, the reference anatomy — is computed once (:class:`Truth`). The rows'
columns are the names of :mod:`mrisynth.evaluation.metrics_registry`.

The reference anatomy is the recording's labels or, without labels (real rtMRI), the
segmenter's labels of its real frames (pseudo-labels): anatomy is then segmenter(synthesized)
vs segmenter(real). Every row with anatomy columns carries ``anatomy_reference``
(``"ground_truth"`` or ``"pseudo_labels"``) so that the report keeps the two apart.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mrisynth.data.intensity import to_unit
from mrisynth.data.sequence import SpeechMRISequence
from mrisynth.data.spec import DataSpec
from mrisynth.evaluation.anatomy import AnatomyTruth, nanmean, score_anatomy
from mrisynth.evaluation.config import GROUND_TRUTH, PSEUDO_LABELS, EvalConfig
from mrisynth.evaluation.methods import Method, Recording
from mrisynth.evaluation.metrics_registry import METRICS
from mrisynth.evaluation.phones import class_rows
from mrisynth.metrics.constriction import pause_frames, pause_motion_mm
from mrisynth.metrics.sync import SyncScore, lse_scores, max_offset_frames
from mrisynth.metrics.temporal import (
    flicker,
    reference_flows,
    temporal_gradient_difference,
    warping_error,
)
from mrisynth.phantom.inventory import SILENCE
from mrisynth.phantom.labels import CONSTRICTION_PLACES

logger = logging.getLogger(__name__)

__all__ = [
    "Reference",
    "Truth",
    "VideoScore",
    "RecordingScores",
    "Scorer",
    "check_videos_comparable",
    "score_recording",
]

#: Image metrics computed per clip from the registry (``fn(reference, prediction, mask)``).
_IMAGE_METRICS = tuple(m for m in METRICS if m.group == "image" and m.fn is not None)


# ---------------------------------------------------------------------------------- checks
def _grid(seq: SpeechMRISequence) -> DataSpec:
    """The frame rate and pixel spacing of a video as a :class:`DataSpec` (its other fields
    are not compared here)."""
    return DataSpec(
        fps=seq.fps,
        sample_rate=None,
        img_size=int(np.shape(seq.frames)[1]),
        channels=seq.channels,
        spacing_mm=seq.spacing_mm,
    )


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
    try:
        _grid(other).check_matches(
            _grid(reference), name, mine=what, theirs="reference", fields=("fps", "spacing_mm")
        )
    except ValueError as e:
        raise ValueError(f"{e}; resample one of them explicitly before comparing") from None
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


# ---------------------------------------------------------------------------------- inputs
def _luminance(frames: np.ndarray) -> np.ndarray:
    """``(T, H, W)`` grey frames as they are; RGB ``(T, H, W, 3)`` → luminance (BT.709)."""
    from skimage.color import rgb2gray

    return frames if frames.ndim == 3 else rgb2gray(frames).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Reference:
    """The identity input of one condition.

    Attributes:
        condition: ``image_audio`` or ``video_audio``.
        frames: ``(Tr, H, W[, C])`` float32 in [0, 1] (``Tr = 1`` for ``image_audio``).
        utterance: the (adapt) utterance they come from.
    """

    condition: str
    frames: np.ndarray
    utterance: str


@dataclasses.dataclass(frozen=True)
class Truth:
    """What every video of one recording is scored against, computed once.

    Attributes:
        frames: ``(T, H, W[, C])`` the recorded frames, float32 in [0, 1].
        luminance: ``(T, H, W)`` their luminance (the temporal metrics' input).
        flows: optical flows of the luminance (:func:`mrisynth.metrics.temporal.reference_flows`).
        phones: the phone symbol of every frame (None: none).
        anatomy: the reference anatomy (the labels, or the segmenter's pseudo-labels of a
            recording without labels), or None where anatomy is not scored.
        pauses: ``(T,)`` bool, the frames inside long pauses
            (:func:`mrisynth.metrics.constriction.pause_frames`; none without phones).
        landmarks: ``(T, K, 2)`` face landmarks of the recorded frames (the scorer's landmark
            regressor), or None: no face metrics.
    """

    frames: np.ndarray
    luminance: np.ndarray
    flows: list
    phones: list[str | None]
    anatomy: AnatomyTruth | None
    pauses: np.ndarray | None = None
    landmarks: np.ndarray | None = None

    @classmethod
    def of(
        cls,
        seq: SpeechMRISequence,
        phones: list[str | None],
        warp_stride: int,
        anatomy: bool,
        segment: Callable[[np.ndarray], np.ndarray] | None = None,
        pause: tuple[float, float] = (0.3, 0.1),
        landmarks: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> Truth:
        """Prepare a recording for scoring.

        Args:
            seq: the recording; phones: the phone of every frame.
            warp_stride: frame pairs between warping-error flows.
            anatomy: measure its reference anatomy too: its labels, or for a recording without
                labels the labels ``segment`` gives its frames (pseudo-labels).
            segment: ``(T, H, W[, C])`` float frames in [0, 1] → ``(T, H, W)`` label ids
                (:meth:`Scorer.segment`); only used without labels.
            pause: ``(min_pause_s, trim_s)`` of the pause frames
                (:func:`mrisynth.metrics.constriction.pause_frames`).
            landmarks: ``(T, H, W, 3)`` float frames → ``(T, K, 2)`` face landmarks
                (:meth:`Scorer.face_landmarks`), or None: no face metrics.

        Raises:
            ValueError: anatomy asked of a recording without labels and no ``segment``.
        """
        frames = to_unit(seq.frames)
        luminance = _luminance(frames)
        truth = None
        if anatomy and seq.labels is not None:
            truth = AnatomyTruth.of(seq.labels, seq.spacing_mm, GROUND_TRUTH)
        elif anatomy:
            if segment is None:
                raise ValueError(
                    f"{seq.utterance_id}: no labels to score anatomy and no segmenter to "
                    "pseudo-label the real frames"
                )
            truth = AnatomyTruth.of(segment(frames), seq.spacing_mm, PSEUDO_LABELS)
        silence = np.array([p == SILENCE for p in phones], bool)
        return cls(
            frames=frames,
            luminance=luminance,
            flows=reference_flows(luminance, warp_stride),
            phones=phones,
            anatomy=truth,
            pauses=pause_frames(silence, seq.fps, *pause),
            landmarks=None if landmarks is None else landmarks(frames),
        )


@dataclasses.dataclass
class VideoScore:
    """The metrics of one video against its recording.

    Attributes:
        row: the metric columns (names in the registry).
        per_frame: ``(T,)`` errors grouped by phoneme class (``l1_mask``, degree errors).
        sync: the evaluation expert's score (with its offset-distance curve).
        measures: constriction measures of the segmented video (None without anatomy).
        tongue_tip_x: ``(T,)`` tongue-tip constriction x in mm (None without anatomy).
    """

    row: dict[str, float]
    per_frame: dict[str, np.ndarray]
    sync: SyncScore
    measures: dict[str, np.ndarray] | None = None
    tongue_tip_x: np.ndarray | None = None


@dataclasses.dataclass
class RecordingScores:
    """Everything :func:`score_recording` measured on one recording.

    Attributes:
        rows: per-clip rows (``real``, ``shuffled``, ``segmenter`` with ground-truth labels
            only, then method × condition).
        class_rows: per-phoneme-class rows of every method × condition.
        tongue_tip_x: ``(T,)`` tongue-tip constriction x (mm) by source (``reference``,
            ``segmenter``, ``<method>.<condition>``), for the retroflex check.
        max_offset: the AV offsets searched (± frames).
        curves: offset-distance curves ``(2 * max_offset + 1,)`` of ``real``, ``shuffled`` and
            the focus method in the first condition (under ``"model"``).
        sample: ``(T, H, W[, C])`` the focus method's frames in the first condition.
        trajectories: constriction-degree trajectories of that video vs the recording (None
            without anatomy).
        pause_reference_mm: the segmented recording's articulator motion in pauses (None:
            no anatomy or no long pause).
    """

    rows: list[dict[str, Any]]
    class_rows: list[dict[str, Any]]
    tongue_tip_x: dict[str, np.ndarray]
    max_offset: int
    curves: dict[str, np.ndarray]
    sample: np.ndarray | None = None
    trajectories: dict[str, Any] | None = None
    pause_reference_mm: float | None = None


# ---------------------------------------------------------------------------------- scorer
@dataclasses.dataclass
class Scorer:
    """The models and settings every video is scored with.

    Attributes:
        expert: the evaluation sync expert (eval mode) and expert_cfg: its ``ModelConfig``.
        mask: ``(H, W)`` bool region the generator paints (``l1_mask``).
        fps: frame rate of the methods' output (the generator's).
        cfg: the evaluation settings.
        segmenter: the articulator segmenter, or None: no anatomy; seg_size: its frame size.
        landmarks: the face landmark regressor, or None: no face metrics
            (:mod:`mrisynth.evaluation.face`).
    """

    expert: Any
    expert_cfg: Any
    mask: np.ndarray
    fps: float
    cfg: EvalConfig
    segmenter: Any = None
    seg_size: int = 0
    landmarks: Any = None

    @property
    def anatomy(self) -> bool:
        """Whether anatomy is scored (there is a segmenter)."""
        return self.segmenter is not None

    def max_offset(self, seq: SpeechMRISequence) -> int:
        """AV offsets searched on each side (frames): ``±sync_span_ms``, fewer on short clips."""
        from mrisynth.models.syncnet import frames_in_window

        tv = frames_in_window(self.expert_cfg.sync_window_ms, self.expert_cfg.fps)
        k = max_offset_frames(seq.fps, self.cfg.sync_span_ms)
        n_windows = seq.n_frames - tv + 1
        if k >= n_windows:
            logger.warning(
                "%s: %d frames allow offsets up to ±%d frames only (asked ±%d = %g ms)",
                seq.utterance_id,
                seq.n_frames,
                n_windows - 1,
                k,
                self.cfg.sync_span_ms,
            )
            k = n_windows - 1
        return k

    def sync(
        self, frames: np.ndarray, audio_of: Recording, offset_s: float, max_offset: int
    ) -> SyncScore:
        """Evaluation-expert score of ``(T, H, W[, C])`` frames with the audio of ``audio_of``
        at ``offset_s`` (s, the audio's offset on the video clock), searching offsets up to
        ``±max_offset`` frames."""
        from mrisynth.synthesis import sync_embeddings

        seq = audio_of.seq
        same_front_end = audio_of.features.mel_cfg == self.expert_cfg.mel
        v, a = sync_embeddings(
            self.expert,
            self.expert_cfg,
            frames,
            seq.audio,
            seq.sample_rate,
            audio_offset_s=offset_s,
            batch_size=self.cfg.batch_size,
            device=self.cfg.device,
            mel=audio_of.features.mel if same_front_end else None,  # analysed once
        )
        return lse_scores(v, a, min(max_offset, len(v) - 1))

    def segment(self, frames: np.ndarray) -> np.ndarray:
        """``(T, H, W)`` label ids of float frames in [0, 1]."""
        from mrisynth.models.segmenter import segment

        return segment(self.segmenter, frames, self.cfg.batch_size, img_size=self.seg_size)

    def face_landmarks(self, frames: np.ndarray) -> np.ndarray:
        """``(T, K, 2)`` face landmarks of ``(T, H, W, 3)`` float frames in [0, 1]."""
        from mrisynth.evaluation.face import face_landmarks

        return face_landmarks(self.landmarks, frames, self.cfg.batch_size)

    def score_video(
        self,
        pred: np.ndarray,
        recording: Recording,
        truth: Truth,
        max_offset: int,
        pause_reference_mm: float | None = None,
    ) -> VideoScore:
        """All metrics of one video ``(T, H, W[, C])`` float [0, 1] vs its recording
        (``pause_reference_mm``: the segmented recording's motion in pauses, for the ratio)."""
        seq = recording.seq
        check_videos_comparable(
            seq, seq.replace(frames=pred.astype(np.float32), labels=None, fps=self.fps)
        )
        gt = truth.frames
        row: dict[str, float] = {"n_frames": float(len(gt))}
        for m in _IMAGE_METRICS:
            row[m.name] = m.fn(gt, pred, self.mask)
        s = self.sync(pred, recording, seq.audio_offset_s, max_offset)
        row.update(_sync_row(s))
        err = np.abs(pred - gt)
        per_frame = {"l1_mask": err[:, self.mask].reshape(len(err), -1).mean(1)}
        score = VideoScore(row=row, per_frame=per_frame, sync=s)
        if self.anatomy:
            anat = score_anatomy(
                self.segment(np.clip(pred, 0, 1)), truth.anatomy, self.cfg.hd95_stride
            )
            row.update(anat.row)
            per_frame.update(anat.per_frame)
            score.measures, score.tongue_tip_x = anat.measures, anat.tongue_tip_x
            if truth.pauses is not None and truth.pauses.any():
                row["pause_motion_mm"] = pause_motion_mm(anat.measures, truth.pauses)
                if pause_reference_mm:
                    row["pause_motion_ratio"] = row["pause_motion_mm"] / pause_reference_mm
        pred_y = _luminance(pred)
        gt_y = truth.luminance
        row["warp_error"] = warping_error(
            gt_y, pred_y, stride=self.cfg.warp_stride, flows=truth.flows
        )
        row["temporal_grad_diff"] = temporal_gradient_difference(gt_y, pred_y)
        row["flicker"] = flicker(gt_y, pred_y, self.cfg.flicker_static_std)
        if self.landmarks is not None and truth.landmarks is not None:
            from mrisynth.evaluation.face import face_row

            row.update(face_row(self.face_landmarks(pred), truth.landmarks, pred, self.fps))
        return score


def _sync_row(score: SyncScore) -> dict[str, float]:
    """The per-clip sync columns of a score."""
    return {
        "lse_d": score.lse_d,
        "lse_c": score.lse_c,
        "sync_bce": score.sync_bce,
        "offset": float(score.offset),
        "abs_offset": float(abs(score.offset)),
    }


# ---------------------------------------------------------------------------------- recording
def _real_rows(
    recording: Recording,
    truth: Truth,
    scorer: Scorer,
    shuffled: Recording | None,
    base: dict[str, Any],
    out: RecordingScores,
) -> None:
    """The rows of the recording itself: ``real`` (with the shift tests), ``shuffled`` and
    ``segmenter`` (only against ground-truth labels: against its own pseudo-labels it would
    score a perfect self-comparison)."""
    seq, gt, k = recording.seq, truth.frames, out.max_offset
    real = scorer.sync(gt, recording, seq.audio_offset_s, k)
    real_row = {**base, "method": "real", "condition": "real", "n_frames": float(len(gt))}
    real_row.update(_sync_row(real))
    shifts = scorer.cfg.offset_test_frames
    for shift in shifts:
        s = scorer.sync(gt, recording, seq.audio_offset_s + shift / seq.fps, k)
        err = abs(s.offset - shift) if abs(shift) <= k else float("nan")
        real_row[f"shift_{shift}_offset"] = float(s.offset)
        real_row[f"shift_{shift}_offset_error"] = float(err)
    real_row["av_offset_error"] = nanmean([real_row[f"shift_{s}_offset_error"] for s in shifts])
    if truth.landmarks is not None:  # the recordings' blinks and head motion: the reference
        from mrisynth.evaluation.face import face_stats_row

        real_row.update(face_stats_row(truth.landmarks, gt, seq.fps))
    out.rows.append(real_row)
    out.curves["real"] = real.distances
    if shuffled is not None:
        sh = scorer.sync(gt, shuffled, shuffled.seq.audio_offset_s, k)
        out.rows.append(
            {
                **base,
                "method": "shuffled",
                "condition": "real",
                "audio_from": shuffled.seq.utterance_id,
                **_sync_row(sh),
            }
        )
        out.curves["shuffled"] = sh.distances
    else:
        logger.warning("only one test utterance: no shuffled-audio control")
    segmented = None  # constriction measures of segmenter(real frames)
    if truth.anatomy is not None and truth.anatomy.is_pseudo:
        # the pseudo-labels are the segmenter's reading of these very frames: its tongue tip
        # is the segmenter's, never the reference's (the retroflex check keeps them apart)
        out.tongue_tip_x["segmenter"] = truth.anatomy.tongue_tip_x
        segmented = truth.anatomy.measures
    elif truth.anatomy is not None:
        out.tongue_tip_x["reference"] = truth.anatomy.tongue_tip_x
        seg = score_anatomy(scorer.segment(gt), truth.anatomy, scorer.cfg.hd95_stride)
        cell = {**base, "method": "segmenter", "condition": "real"}
        out.rows.append({**cell, "anatomy_reference": GROUND_TRUTH, **seg.row})
        out.tongue_tip_x["segmenter"] = seg.tongue_tip_x
        segmented = seg.measures
    if segmented is not None and truth.pauses is not None and truth.pauses.any():
        # the recording through the same segmenter as every method: its own label jitter
        # is the floor a resting mouth is compared with
        out.pause_reference_mm = pause_motion_mm(segmented, truth.pauses)
        real_row["pause_motion_mm"] = out.pause_reference_mm


def _trajectories(
    recording: Recording, truth: Truth, condition: str, score: VideoScore
) -> dict[str, Any]:
    """Constriction-degree trajectories of a scored video vs the recording's reference labels."""
    seq = recording.seq
    return {
        "utterance": seq.utterance_id,
        "condition": condition,
        "anatomy_reference": truth.anatomy.reference,
        "places": list(CONSTRICTION_PLACES),
        "time_s": (np.arange(seq.n_frames) + 0.5) / seq.fps,
        "reference": {p: truth.anatomy.measures[f"{p}_degree_mm"] for p in CONSTRICTION_PLACES},
        "synthesized": {p: score.measures[f"{p}_degree_mm"] for p in CONSTRICTION_PLACES},
    }


def score_recording(
    recording: Recording,
    truth: Truth,
    methods: Sequence[Method],
    references: Sequence[Reference],
    scorer: Scorer,
    *,
    shuffled: Recording | None = None,
    focus: str = "model",
) -> RecordingScores:
    """Score one test recording: the recording itself, then every method × condition.

    Args:
        recording: the test recording and its audio features.
        truth: what it is scored against (:meth:`Truth.of`).
        methods: the methods to run (the model and the speaker's baselines).
        references: the identity input of each condition, in condition order.
        scorer: models and settings.
        shuffled: another test recording whose audio drives the ``shuffled`` control (None:
            no control, e.g. a single test utterance).
        focus: the method whose first-condition video gives the offset curve ``"model"``,
            the sample video and the trajectories.

    Returns:
        The rows and the per-recording data the report aggregates; rows with anatomy columns
        (and their phoneme-class rows) carry ``anatomy_reference``.
    """
    seq = recording.seq
    base = {"utterance": seq.utterance_id, "speaker": seq.speaker, "language": seq.language}
    out = RecordingScores(
        rows=[], class_rows=[], tongue_tip_x={}, max_offset=scorer.max_offset(seq), curves={}
    )
    _real_rows(recording, truth, scorer, shuffled, base, out)
    for i, ref in enumerate(references):
        for method in methods:
            pred = np.asarray(method.predict(recording, ref.frames), np.float32)
            score = scorer.score_video(
                pred, recording, truth, out.max_offset, out.pause_reference_mm
            )
            cell = {**base, "method": method.name, "condition": ref.condition}
            if truth.anatomy is not None:
                cell["anatomy_reference"] = truth.anatomy.reference
            out.rows.append({**cell, "reference_utterance": ref.utterance, **score.row})
            out.class_rows += class_rows(score.per_frame, truth.phones, cell)
            if score.tongue_tip_x is not None:
                out.tongue_tip_x[f"{method.name}.{ref.condition}"] = score.tongue_tip_x
            if method.name == focus and i == 0:
                out.curves["model"] = score.sync.distances
                out.sample = pred
                if score.measures is not None:
                    out.trajectories = _trajectories(recording, truth, ref.condition, score)
    return out
