"""Evaluate a trained generator against baselines and the real video on the target speakers.

:func:`evaluate` reads a prepared corpus (``prepared.csv``, :mod:`mrisynth.data.prepare`) and
the model files (:mod:`mrisynth.models.artifacts`), then:

1. analyses the audio of every recording once (:class:`~mrisynth.evaluation.methods.Recording`)
   and fits the baselines of :mod:`mrisynth.evaluation.baselines` on each target speaker's
   ``adapt`` utterances (features: the generator's per-frame mel windows, flattened);
2. for every ``test`` utterance draws the identity reference of each condition
   (``image_audio``: one frame of another (adapt) utterance of the speaker; ``video_audio``: a
   whole adapt utterance, cycled; never the ground truth) and scores it with
   :func:`~mrisynth.evaluation.scoring.score_recording`: the recording itself (``real``,
   shifted and ``shuffled`` audio, ``segmenter``) and every method — the model and each
   baseline, all :class:`~mrisynth.evaluation.methods.Method` — per condition:

   - image: the image metrics of :mod:`mrisynth.evaluation.metrics_registry` (L1, L1 inside
     the generator's mask, SSIM with a 7×7 window, MS-SSIM, PSNR);
   - sync: LSE-D, LSE-C, AV offset with the **evaluation expert** over ±``sync_span_ms``, and
     that expert's sync loss on the in-sync windows (``sync_bce``, :mod:`mrisynth.metrics.sync`);
   - anatomy: the segmenter labels the frames → per-articulator Dice and HD95 (mm), constriction
     degree and location errors (mm) and their trajectory correlation, tongue-contour distance
     (mm), all vs the recording's reference labels (:mod:`mrisynth.evaluation.anatomy`, see
     *Recordings without labels*);
   - temporal: warping error (flows computed once per recording), temporal-gradient
     difference, flicker (:mod:`mrisynth.metrics.temporal`);

3. groups per-frame errors by phoneme class (phones CSV of the recording) and checks that the
   tongue-tip constriction of retroflex phones lies behind that of dentals
   (:mod:`mrisynth.evaluation.phones`);
4. writes the report (:func:`mrisynth.evaluation.report.write_report`) and side-by-side MP4s.

Data are checked against the generator's :class:`~mrisynth.data.spec.DataSpec`, and videos
whose frame rate, pixel spacing, frame size or length differ are rejected with an error naming
both values (:func:`check_videos_comparable`): nothing is resampled silently.

Without a segmenter (``segmenter_ckpt=None``, e.g. talking faces, which have no articulator
labels) the anatomical metrics, the phoneme-class table and the retroflex check are left out;
everything else is scored the same way. Colour (RGB) videos are scored in colour for the image
metrics and the sync expert, and on their luminance for the temporal metrics (optical flow).

**Recordings without labels** (real rtMRI comes without them) are scored per recording
against the segmenter's labels of their real frames (pseudo-labels): anatomy is then
segmenter(synthesized) vs segmenter(real), agreement with the segmenter's reading of the real
video rather than anatomical truth. The ``segmenter`` row is left out for them (it would be a
perfect self-comparison), and the report keeps their anatomy apart from that of labelled
recordings (``metrics.json`` keys ``pseudo_labels.<method>.<condition>.<metric>``, see
:mod:`mrisynth.evaluation.report`). The segmenter's own accuracy on real contour-labelled data
is read from a small JSON file (``segmenter_accuracy``, :func:`read_segmenter_accuracy`) and
shown beside it::

    {
      "symmetric_mm": 1.85,   # required: symmetric mean air-tissue boundary distance (mm)
      "hd95_mm": 7.36,        # required: HD95 of the boundary distance (mm)
      "source": "experiments/real_contours/metrics/loso.md, phantom + all real",  # optional
      "pred_to_ref_mm": 1.69, "ref_to_pred_mm": 2.00,  # optional: directed means (mm)
      "pred_scored": 0.96,    # optional: fraction of the predicted boundary scored
      "n_clips": 27           # optional: contour-labelled clips behind the numbers
    }

The numbers are those of :func:`mrisynth.evaluation.boundary.clip_boundary_scores` (``mean``,
``hd95``, ``pred_to_ref``, ``ref_to_pred``, ``pred_scored``), e.g. one row of the
leave-one-speaker-out table of ``experiments/real_contours/loso.py``; other keys are rejected.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from mrisynth.data.intensity import to_unit
from mrisynth.data.sequence import SpeechMRISequence
from mrisynth.data.spec import DataSpec
from mrisynth.evaluation.anatomy import ARTICULATORS, tongue_contours
from mrisynth.evaluation.config import ANATOMY_REFERENCES, CONDITIONS, PSEUDO_LABELS, EvalConfig
from mrisynth.evaluation.methods import Method, ModelMethod, Recording, fit_baselines
from mrisynth.evaluation.phones import frame_phones, read_phones, retroflex_check
from mrisynth.evaluation.scoring import (
    RecordingScores,
    Reference,
    Scorer,
    Truth,
    check_videos_comparable,
    score_recording,
)

logger = logging.getLogger(__name__)

__all__ = [
    "CONDITIONS",
    "ARTICULATORS",
    "EvalConfig",
    "Models",
    "SegmenterAccuracy",
    "read_segmenter_accuracy",
    "load_models",
    "check_videos_comparable",
    "draw_references",
    "read_phones",
    "frame_phones",
    "tongue_contours",
    "evaluate",
]


# ---------------------------------------------------------------------------------- loading
@dataclasses.dataclass
class Models:
    """The models of an evaluation, loaded from their files.

    Attributes:
        generator: the generator (eval mode), gen_cfg: its ``ModelConfig``, mask: the
            ``(H, W)`` bool region it paints.
        expert: the evaluation sync expert (eval mode), expert_cfg: its ``ModelConfig``.
        segmenter: the articulator segmenter, or None (no anatomy); seg_size: its frame size.
    """

    generator: nn.Module
    gen_cfg: Any
    mask: np.ndarray
    expert: nn.Module
    expert_cfg: Any
    segmenter: nn.Module | None = None
    seg_size: int = 0


def load_models(
    generator_ckpt: str | Path,
    eval_expert_ckpt: str | Path,
    segmenter_ckpt: str | Path | None,
    device: str = "cpu",
) -> Models:
    """Load the generator, the evaluation expert and (optionally) the segmenter.

    Raises:
        CheckpointError: a missing or wrong file, or a generator file without a mask.
        ValueError: the expert's data spec (fps, sample rate, size, channels) differs from the
            generator's.
    """
    from mrisynth.models.artifacts import load_model
    from mrisynth.utils.state_files import CheckpointError

    generator, gen = load_model(generator_ckpt, "generator", map_location=device)
    if gen.mask is None:
        raise CheckpointError(f"{gen.source}: generator file without a mask")
    expert, exp = load_model(eval_expert_ckpt, "sync_expert", map_location=device)
    exp.data_spec.check_matches(
        gen.data_spec,
        f"evaluation expert {eval_expert_ckpt} vs generator {generator_ckpt}",
        mine="expert",
        theirs="generator",
    )
    models = Models(generator, gen.config(), gen.mask, expert, exp.config())
    if segmenter_ckpt is not None:
        models.segmenter, seg = load_model(segmenter_ckpt, "segmenter", map_location=device)
        models.seg_size = seg.config().img_size
    return models


def _check_data(seq: SpeechMRISequence, models: Models, name: str) -> None:
    """The recording fits the generator's data spec (a recording without labels is scored
    against the segmenter's pseudo-labels, see the module docstring)."""
    cfg = models.gen_cfg
    DataSpec.of_model(cfg).check_sequence(seq, name, audio_resample=cfg.mel.resample)


# ---------------------------------------------------------------------------------- accuracy
#: Keys of a segmenter-accuracy file: required numbers, then optional ones (module docstring).
_ACCURACY_REQUIRED = ("symmetric_mm", "hd95_mm")
_ACCURACY_OPTIONAL = ("pred_to_ref_mm", "ref_to_pred_mm", "pred_scored", "n_clips")


@dataclasses.dataclass(frozen=True)
class SegmenterAccuracy:
    """The segmenter's own accuracy on real contour-labelled data, shown beside the anatomy
    scored against its pseudo-labels.

    Attributes:
        file: the JSON file the numbers come from (the report names it as their source).
        symmetric_mm: symmetric mean air–tissue boundary distance (mm, lower is better).
        hd95_mm: HD95 of the boundary distance (mm, lower is better).
        source: what the numbers are, in words (e.g. which segmenter and data), or None.
        pred_to_ref_mm, ref_to_pred_mm: directed mean distances (mm), or None.
        pred_scored: fraction of the predicted boundary inside the scored band, or None.
        n_clips: contour-labelled clips behind the numbers, or None.
    """

    file: str
    symmetric_mm: float
    hd95_mm: float
    source: str | None = None
    pred_to_ref_mm: float | None = None
    ref_to_pred_mm: float | None = None
    pred_scored: float | None = None
    n_clips: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The given fields (None left out), for the report."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


def read_segmenter_accuracy(path: str | Path) -> SegmenterAccuracy:
    """Read and check a segmenter-accuracy JSON file (schema in the module docstring).

    Raises:
        ValueError: an unreadable file, invalid JSON, not an object, a missing or unknown key,
            or a value of the wrong type or range; one line naming the file and the problem.
    """
    name = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise ValueError(
            f"{name}: cannot read the segmenter accuracy file ({e.strerror})"
        ) from None
    except UnicodeDecodeError:
        raise ValueError(f"{name}: segmenter accuracy file is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise ValueError(
            f"{name}: segmenter accuracy file is not valid JSON ({e.msg}, line {e.lineno} "
            f"column {e.colno})"
        ) from None
    expected = ", ".join(f'"{k}": <mm>' for k in _ACCURACY_REQUIRED)
    if not isinstance(data, dict):
        raise ValueError(
            f"{name}: segmenter accuracy must be a JSON object {{{expected}}}, "
            f"got {type(data).__name__}"
        )
    missing = [k for k in _ACCURACY_REQUIRED if k not in data]
    if missing:
        raise ValueError(
            f"{name}: segmenter accuracy lacks key(s) {', '.join(missing)} (expected {{{expected}}})"
        )
    allowed = (*_ACCURACY_REQUIRED, *_ACCURACY_OPTIONAL, "source")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValueError(
            f"{name}: unknown segmenter accuracy key(s) {', '.join(unknown)} "
            f"(allowed: {', '.join(allowed)})"
        )
    values: dict[str, Any] = {}
    for key in (*_ACCURACY_REQUIRED, *_ACCURACY_OPTIONAL):
        if key not in data:
            continue
        v = data[key]
        # bool is an int to Python but never a distance or a count
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ValueError(f"{name}: {key} must be a finite number >= 0, got {v!r}")
        if key == "pred_scored" and v > 1:
            raise ValueError(f"{name}: pred_scored is a fraction in [0, 1], got {v!r}")
        if key == "n_clips" and v != int(v):
            raise ValueError(f"{name}: n_clips must be a whole number, got {v!r}")
        values[key] = int(v) if key == "n_clips" else float(v)
    source = data.get("source")
    if source is not None and not isinstance(source, str):
        raise ValueError(f"{name}: source must be a string, got {source!r}")
    return SegmenterAccuracy(file=name, source=source, **values)


def _prepared_path(entry) -> str:
    # prepared.csv names the .npz in image_path (older versions: an extra prepared_path column)
    return entry.extra.get("prepared_path") or entry.image_path


def _read_entries(prepared_csv: Path, cfg: EvalConfig) -> tuple[list, list]:
    """``(all entries, the test entries to score)`` of a prepared manifest."""
    from mrisynth.data.manifest import read_manifest

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
    return entries, tests


# ---------------------------------------------------------------------------------- inputs
def draw_references(
    seq: SpeechMRISequence,
    adapt: Sequence[SpeechMRISequence],
    conditions: Sequence[str],
    rng: np.random.Generator,
) -> list[Reference]:
    """The identity input of each condition for one test recording.

    Per condition, one adapt utterance of the speaker is drawn; ``image_audio`` takes one of
    its frames (``Tr = 1``), ``video_audio`` the whole video (cycled by the methods).

    Returns:
        One :class:`~mrisynth.evaluation.scoring.Reference` per condition, frames
        ``(Tr, H, W[, C])`` float32 in [0, 1].

    Raises:
        ValueError: a reference on another grid than the recording (fps, spacing, size).
    """
    out = []
    for cond in conditions:
        ref_seq = adapt[int(rng.integers(len(adapt)))]
        check_videos_comparable(
            seq, ref_seq, f"reference {ref_seq.utterance_id}", same_length=False
        )
        if cond == "image_audio":
            frames = ref_seq.frames[int(rng.integers(ref_seq.n_frames))][None]
        else:
            frames = ref_seq.frames
        out.append(Reference(cond, to_unit(frames), ref_seq.utterance_id))
    return out


def _phones(root: Path, entry, seq: SpeechMRISequence) -> list[str | None]:
    phones_path = entry.extra.get("phones_path")
    if not phones_path:
        return [None] * seq.n_frames
    return frame_phones(read_phones(root / phones_path), seq.n_frames, seq.fps)


# ---------------------------------------------------------------------------------- collecting
@dataclasses.dataclass
class _Collected:
    """What the report needs, gathered over the recordings."""

    rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    class_rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    tip_x: dict[str, list[tuple[np.ndarray, list]]] = dataclasses.field(
        default_factory=lambda: defaultdict(list)
    )
    curves: dict[str, list[np.ndarray]] = dataclasses.field(
        default_factory=lambda: defaultdict(list)
    )
    curve_k: int | None = None
    trajectories: dict[str, Any] | None = None

    def add(self, scores: RecordingScores, phones: list[str | None]) -> None:
        self.rows += scores.rows
        self.class_rows += scores.class_rows
        for source, x in scores.tongue_tip_x.items():
            self.tip_x[source].append((x, phones))
        # offset curves are averaged over clips with the same offset range (short clips differ)
        self.curve_k = scores.max_offset if self.curve_k is None else self.curve_k
        if scores.max_offset == self.curve_k:
            for name, curve in scores.curves.items():
                self.curves[name].append(curve)
        if self.trajectories is None:
            self.trajectories = scores.trajectories

    def offset_curve(self, fps: float) -> dict[str, np.ndarray] | None:
        if self.curve_k is None or not self.curves.get("real"):
            return None
        k = self.curve_k
        curve = {"offset_ms": np.arange(-k, k + 1) * 1000.0 / fps}
        for name, v in self.curves.items():
            curve[name] = np.mean(v, axis=0)
        return curve


# ---------------------------------------------------------------------------------- main
def evaluate(
    prepared_csv: str | Path,
    generator_ckpt: str | Path,
    eval_expert_ckpt: str | Path,
    segmenter_ckpt: str | Path | None,
    out_dir: str | Path,
    cfg: EvalConfig | None = None,
    tracker: Any = None,
    segmenter_accuracy: str | Path | SegmenterAccuracy | None = None,
    landmarks_ckpt: str | Path | None = None,
) -> dict[str, float]:
    """Evaluate the generator, the baselines and the real videos; write the report.

    Args:
        prepared_csv: ``prepared.csv`` of :func:`mrisynth.data.prepare.prepare_manifest`
            (splits ``adapt`` and ``test`` of the target speakers, with phones; test
            recordings without labels are scored against segmenter pseudo-labels).
        generator_ckpt: the generator's model file (:mod:`mrisynth.models.artifacts`).
        eval_expert_ckpt: the evaluation sync expert (trained separately from the generator's).
        segmenter_ckpt: articulator segmenter file, or None: no anatomical metrics (e.g. face
            video).
        out_dir: report folder (see :mod:`mrisynth.evaluation.report`).
        cfg: settings (default :class:`EvalConfig`).
        tracker: an open MLflow tracker (``log_params``, ``log_metrics``, ``log_artifact``;
            metrics and the report are logged to it) or None.
        segmenter_accuracy: the segmenter's accuracy on real contour-labelled data (a JSON
            file, module docstring, or its :class:`SegmenterAccuracy`), shown beside the
            pseudo-label anatomy; None: not known.
        landmarks_ckpt: a face landmark regressor file (RGB face video of its frame size):
            adds the ``face`` metrics (LMD, mouth CPBD, blinks, head motion;
            :mod:`mrisynth.evaluation.face`) to every row; None: none.

    Returns:
        The flat metrics written to ``out_dir/metrics.json``.

    Raises:
        ValueError: no test utterances, a target speaker without adapt utterances, data that do
            not match the models, videos on different grids (names both values), or a bad
            segmenter accuracy file or one given without a segmenter.
    """
    from tqdm import tqdm

    from mrisynth.evaluation.report import retroflex_metrics, write_report
    from mrisynth.io import write_mp4
    from mrisynth.synthesis import side_by_side

    cfg = cfg or EvalConfig()
    if segmenter_accuracy is not None and segmenter_ckpt is None:
        raise ValueError("segmenter accuracy given without a segmenter (no anatomy is scored)")
    if isinstance(segmenter_accuracy, (str, Path)):
        segmenter_accuracy = read_segmenter_accuracy(segmenter_accuracy)  # fail before any work
    prepared_csv = Path(prepared_csv)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    root = prepared_csv.parent
    entries, tests = _read_entries(prepared_csv, cfg)
    models = load_models(generator_ckpt, eval_expert_ckpt, segmenter_ckpt, cfg.device)
    regressor = None
    if landmarks_ckpt is not None:
        from mrisynth.models.artifacts import load_landmark_regressor

        regressor, lm_cfg = load_landmark_regressor(landmarks_ckpt, map_location=cfg.device)
        if models.gen_cfg.channels != 3 or models.gen_cfg.img_size != lm_cfg.img_size:
            raise ValueError(
                f"{landmarks_ckpt}: the landmark regressor reads {lm_cfg.img_size}-px RGB "
                f"frames, the generator makes {models.gen_cfg.img_size}-px frames with "
                f"{models.gen_cfg.channels} channel(s)"
            )

    def load(e) -> Recording:
        seq = SpeechMRISequence.load(root / _prepared_path(e))
        seq = seq.replace(
            utterance_id=e.id, speaker=e.speaker or seq.speaker, language=e.language or seq.language
        )
        _check_data(seq, models, f"{prepared_csv.name}: {e.id}")
        return Recording.of(seq, models.gen_cfg)

    # ---- the methods per target speaker: the model and the baselines fitted on its adapt data
    model = ModelMethod(models.generator, models.gen_cfg, models.mask, cfg.batch_size, cfg.device)
    adapt: dict[str, list[SpeechMRISequence]] = {}
    methods: dict[str, list[Method]] = {}
    for spk in sorted({e.speaker for e in tests}, key=str):
        recs = [load(e) for e in entries if e.split == "adapt" and e.speaker == spk]
        if not recs:
            raise ValueError(
                f"{prepared_csv}: target speaker {spk!r} has test but no 'adapt' utterances "
                "(references and baselines come from them)"
            )
        adapt[spk] = [r.seq for r in recs]
        methods[spk] = [
            model,
            *fit_baselines(recs, cfg.regression_components, cfg.regression_alpha),
        ]
        logger.info(
            "speaker %s: baselines fitted on %d adapt frames",
            spk,
            sum(len(s.frames) for s in adapt[spk]),
        )

    # ---- every test recording: the recording itself, then every method × condition
    test_recs = [load(e) for e in tests]
    scorer = Scorer(
        expert=models.expert,
        expert_cfg=models.expert_cfg,
        mask=models.mask,
        fps=models.gen_cfg.fps,
        cfg=cfg,
        segmenter=models.segmenter,
        seg_size=models.seg_size,
        landmarks=regressor,
    )
    rng = np.random.default_rng(cfg.seed)
    collected = _Collected()
    videos: list[str] = []
    n_pseudo = 0
    for i, (entry, rec) in enumerate(
        tqdm(list(zip(tests, test_recs)), desc="evaluate", unit="utt", disable=None)
    ):
        seq = rec.seq
        phones = _phones(root, entry, seq)
        truth = Truth.of(
            seq,
            phones,
            cfg.warp_stride,
            anatomy=scorer.anatomy,
            segment=scorer.segment,
            pause=(cfg.pause_min_s, cfg.pause_trim_s),
            landmarks=scorer.face_landmarks if regressor is not None else None,
        )
        n_pseudo += truth.anatomy is not None and truth.anatomy.is_pseudo
        refs = draw_references(seq, adapt[seq.speaker], cfg.conditions, rng)
        shuffled = test_recs[(i + 1) % len(test_recs)] if len(test_recs) > 1 else None
        scores = score_recording(rec, truth, methods[seq.speaker], refs, scorer, shuffled=shuffled)
        collected.add(scores, phones)
        if scores.sample is not None and len(videos) < cfg.n_videos:
            rel = f"videos/{entry.id}_{cfg.conditions[0]}.mp4"
            write_mp4(
                side_by_side(truth.frames, scores.sample),
                out / rel,
                fps=seq.fps,
                audio=seq.audio_for_frames(0, seq.n_frames),
                sr=seq.sample_rate,
            )
            videos.append(rel)
        logger.info("evaluated %s (%d/%d)", entry.id, i + 1, len(tests))

    if n_pseudo:
        logger.info(
            "%d of %d test recordings have no labels: their anatomy is scored against %s",
            n_pseudo,
            len(tests),
            ANATOMY_REFERENCES[PSEUDO_LABELS],
        )
    retroflex = [retroflex_check(src, items) for src, items in sorted(collected.tip_x.items())]
    metrics = write_report(
        out,
        collected.rows,
        conditions=cfg.conditions,
        class_rows=collected.class_rows,
        retroflex=retroflex,
        offset_curve=collected.offset_curve(test_recs[0].seq.fps),
        trajectories=collected.trajectories,
        extra_metrics=retroflex_metrics(retroflex),
        videos=videos,
        config=dataclasses.asdict(cfg),
        segmenter_accuracy=None if segmenter_accuracy is None else segmenter_accuracy.as_dict(),
    )
    if tracker is not None:
        tracker.log_params({"evaluate": dataclasses.asdict(cfg)})
        tracker.log_metrics({f"eval/{k}": v for k, v in metrics.items()}, step=0)
        tracker.log_artifact(out, "evaluation")
    return metrics
