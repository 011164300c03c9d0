"""Settings of an evaluation run: :class:`EvalConfig`, the conditions it can run and the
references anatomy can be scored against."""

from __future__ import annotations

import dataclasses

__all__ = ["CONDITIONS", "GROUND_TRUTH", "PSEUDO_LABELS", "ANATOMY_REFERENCES", "EvalConfig"]

#: ``image_audio``: one frame of another (adapt) utterance of the speaker, frozen;
#: ``video_audio``: a whole adapt utterance, cycled. Never the ground truth.
CONDITIONS = ("image_audio", "video_audio")

#: Anatomy reference of a recording with label maps: segmenter(video) vs its labels.
GROUND_TRUTH = "ground_truth"
#: Anatomy reference of a recording without labels (real rtMRI): segmenter(video) vs
#: segmenter(real frames). Also the prefix of its ``metrics.json`` keys, so that the two are
#: never averaged into one number.
PSEUDO_LABELS = "pseudo_labels"
#: What each anatomy reference is called in the report.
ANATOMY_REFERENCES = {
    GROUND_TRUTH: "ground-truth labels",
    PSEUDO_LABELS: "segmenter(real) pseudo-labels",
}


@dataclasses.dataclass
class EvalConfig:
    """Settings of :func:`mrisynth.evaluation.evaluate.evaluate`.

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
    pause_min_s: float = 0.3
    """Pauses at least this long score the articulators' motion in silence (s)."""
    pause_trim_s: float = 0.1
    """Time dropped at each end of a pause before scoring it (s)."""
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
        if not self.pause_min_s > 0 or self.pause_trim_s < 0:
            raise ValueError("EvalConfig: pause_min_s must be > 0 and pause_trim_s >= 0")
        if self.regression_alpha < 0 or self.flicker_static_std <= 0:
            raise ValueError("EvalConfig: regression_alpha must be >= 0, flicker_static_std > 0")
        if not self.conditions or any(c not in CONDITIONS for c in self.conditions):
            raise ValueError(
                f"EvalConfig.conditions must be a non-empty subset of {CONDITIONS}, "
                f"got {self.conditions}"
            )
