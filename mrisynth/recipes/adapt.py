"""``mrisynth adapt``: a new speaker from their own recordings → one self-contained model folder.

The seed study's "fine-tune a pretrained Wav2Lip on MRI", as one job:

1. **Prepare** the recordings on the pretrained generator's grid
   (:func:`mrisynth.data.prepare.prepare_manifest`): the speaker's vocal-tract ROI found from
   temporal variance, sized to the generator's field of view (``img_size × spacing``),
   resampled to its frame rate and pixel size, the non-steady-state start trimmed, intensities
   scaled by percentiles.
2. **Cut** every recording into pieces of ``piece_s`` seconds and **hold out** the last pieces
   (``test_fraction``, at least ``min_test_pieces``; a manifest's own ``test`` rows instead,
   where it has them). The held-out part is only used by the report.
3. **Adapt both sync experts** from their pretrained weights on the speaker's own adapt pieces
   (self-supervised: in-sync vs shifted audio windows are free labels): the evaluation expert
   (seed 1) on every other piece, the generator's expert (seed 0) on the others, so the judge
   never sees the generator's expert's data (:func:`~mrisynth.engine.solvers.sync_expert.
   train_sync_expert` with ``init_from``).
4. **Fine-tune the generator** from the pretrained one on all adapt pieces, with the adapted
   expert's sync loss (``configs/generator/finetune_cpu.yaml``).
5. **Report** on the held-out pieces (:func:`mrisynth.evaluation.evaluate.evaluate`): the
   model against the static, nearest-neighbour and regression baselines, plus how the
   pretrained and the adapted evaluation expert judge the real recording
   (:func:`mrisynth.evaluation.judge.judge_sync`): a sync number only means something where
   the judge separates real from shuffled audio.

The speaker folder (written under a temporary name and renamed when complete; an interrupted
run resumes from the temporary folder's checkpoints)::

    <out>/generator.pt  expert.pt  eval_expert.pt  [segmenter.pt]
         roi.json        {"roi_mm": [top, left, height, width]} in the recording's frame
         speaker.json    ROI, spacing, fps, intensity scaling, sources, pieces, timings
         report/         report.md/.html, metrics.json, sync_judges.md, videos/
         work/           prepared recordings, pieces, training runs (checkpoints, logs)

``mrisynth synthesize --model <out>`` uses the folder as it is (generator and ROI).
The segmenter is copied unchanged: adapting it needs labelled frames (``mrisynth train
segmenter --init-from``; ``experiments/real_contours``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mrisynth.data.sequence import SpeechMRISequence

logger = logging.getLogger(__name__)

__all__ = [
    "AdaptConfig",
    "PretrainedModels",
    "find_pretrained",
    "recordings_manifest",
    "hold_out",
    "adapt_speaker",
]


@dataclasses.dataclass
class AdaptConfig:
    """Settings of :func:`adapt_speaker`.

    Raises:
        ValueError: an out-of-range value (the field is named).
    """

    piece_s: float = 5.5
    """Length of the pieces recordings are cut into (s)."""
    min_piece_s: float = 1.0
    """A recording's remainder shorter than this is dropped (s); longer ones are a piece."""
    test_fraction: float = 0.25
    """Share of the pieces held out for the report (the last ones of each recording)."""
    min_test_pieces: int = 2
    """At least this many held-out pieces (two: one's audio is the other's shuffled control)."""
    trim_transient: bool = True
    """Drop each recording's brighter non-steady-state start before anything else."""
    dataset: str | None = None
    """Dataset preset (``usc75``, ``usc-timit``...) for what the files do not state."""
    expert_preset: str = "expert/cpu"
    """Training preset of both experts (``configs/expert/``)."""
    expert_steps: int = 300
    """Adaptation steps of each expert."""
    expert_lr: float = 5.0e-4
    """Learning rate of the expert adaptation (the pretraining preset's is 1e-3)."""
    generator_preset: str = "generator/finetune_cpu"
    """Fine-tuning preset of the generator (``configs/generator/``)."""
    generator_steps: int = 800
    """Fine-tuning steps of the generator."""
    evaluate_preset: str = "cpu"
    """Evaluation preset of the report (``configs/evaluate/``)."""
    device: str = "cpu"
    """Torch device of training and evaluation (``cpu``, ``cuda``, ``auto``)."""
    progress: bool = True
    """Show progress bars."""

    def __post_init__(self) -> None:
        if not self.piece_s > 0 or not 0 < self.min_piece_s <= self.piece_s:
            raise ValueError(
                f"AdaptConfig: need piece_s > 0 and 0 < min_piece_s <= piece_s, got "
                f"{self.piece_s} and {self.min_piece_s}"
            )
        if not 0 < self.test_fraction < 1:
            raise ValueError(
                f"AdaptConfig.test_fraction must be in (0, 1), got {self.test_fraction}"
            )
        if self.min_test_pieces < 2:
            raise ValueError("AdaptConfig.min_test_pieces must be >= 2 (a shuffled control)")
        for name in ("expert_steps", "generator_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"AdaptConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not self.expert_lr > 0:
            raise ValueError(f"AdaptConfig.expert_lr must be > 0, got {self.expert_lr}")


# ---------------------------------------------------------------------------------- models
@dataclasses.dataclass(frozen=True)
class PretrainedModels:
    """The model files a speaker is adapted from.

    Attributes:
        generator: the pretrained generator (``generator.pt``).
        expert: the generator's sync expert; eval_expert: the separately trained judge.
        segmenter: the articulator segmenter, or None.
    """

    generator: Path
    expert: Path
    eval_expert: Path
    segmenter: Path | None = None


#: Where each model lies in a pretrained folder: the quickstart's ``models/`` layout first
#: (``pretrain/`` before ``finetune/``: the multi-speaker generator, not one fine-tuned on the
#: phantom's target speakers), then a speaker folder's own flat layout.
_CANDIDATES = {
    "generator": ("pretrain/generator.pt", "generator.pt", "finetune/generator.pt"),
    "expert": ("expert/expert.pt", "expert.pt"),
    "eval_expert": ("eval_expert/expert.pt", "eval_expert.pt"),
    "segmenter": ("segmenter/segmenter.pt", "segmenter.pt"),
}


def find_pretrained(folder: str | Path) -> PretrainedModels:
    """The models of a pretrained folder: the quickstart's ``models/`` or a speaker folder.

    Raises:
        FileNotFoundError: the folder or a required model is missing (lists what was looked
            for, and how to get the models).
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(
            f"--pretrained {root}: not a folder; pass the quickstart's models folder "
            "(`make quickstart` writes experiments/quickstart/models)"
        )
    found: dict[str, Path | None] = {}
    for name, candidates in _CANDIDATES.items():
        found[name] = next((root / c for c in candidates if (root / c).is_file()), None)
        if found[name] is None and name != "segmenter":
            raise FileNotFoundError(
                f"--pretrained {root}: no {name} model (looked for {', '.join(candidates)}); "
                "`make quickstart` writes them to experiments/quickstart/models"
            )
    return PretrainedModels(**found)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------- inputs
def recordings_manifest(
    recordings: Sequence[str | Path],
    out_csv: Path,
    *,
    speaker: str,
    fps: float | None = None,
    spacing_mm: tuple[float, float] | None = None,
    audio: Sequence[str | Path] | None = None,
) -> Path:
    """Write a manifest of one speaker's recordings (absolute paths, no split).

    Args:
        recordings: recording files or folders (any format :func:`mrisynth.io.read_sequence`
            reads; the audio may be embedded, e.g. MP4).
        out_csv: where to write it.
        speaker: the speaker's name.
        fps, spacing_mm: values for recordings that do not state them.
        audio: one audio file per recording (None: embedded or sibling audio).

    Raises:
        FileNotFoundError: a recording or audio file that does not exist.
        ValueError: a different number of audio files than recordings, or duplicate names.
    """
    from mrisynth.data.manifest import ManifestEntry, write_manifest

    if audio is not None and len(audio) != len(recordings):
        raise ValueError(
            f"--audio: {len(audio)} audio files for {len(recordings)} recordings (one each)"
        )
    entries, seen = [], set()
    for i, rec in enumerate(recordings):
        path = Path(rec)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such recording")
        sound = None
        if audio is not None:
            sound = Path(audio[i])
            if not sound.is_file():
                raise FileNotFoundError(f"{sound}: no such audio file")
        rec_id = path.name.split(".")[0] or f"recording{i}"
        if rec_id in seen:
            rec_id = f"{rec_id}_{i}"
        seen.add(rec_id)
        entries.append(
            ManifestEntry(
                id=rec_id,
                image_path=str(path.resolve()),
                audio_path=None if sound is None else str(sound.resolve()),
                speaker=speaker,
                fps=fps,
                spacing_mm=spacing_mm,
            )
        )
    return write_manifest(entries, out_csv)


def hold_out(pieces_per_recording: Sequence[int], n_test: int) -> list[set[int]]:
    """Which pieces of each recording are held out: the last ones, taken round-robin.

    Args:
        pieces_per_recording: the number of pieces of each recording.
        n_test: how many pieces to hold out in all.

    Returns:
        Per recording, the indices of its held-out pieces (its last ones).
    """
    left = list(pieces_per_recording)
    held: list[set[int]] = [set() for _ in left]
    taken = 0
    while taken < n_test and any(left):
        for r in range(len(left)):
            if taken < n_test and left[r] > 0:
                left[r] -= 1
                held[r].add(left[r])
                taken += 1
    return held


def _cut(seq: SpeechMRISequence, cfg: AdaptConfig) -> list[SpeechMRISequence]:
    """Consecutive pieces of ``piece_s`` (a last one of at least ``min_piece_s`` kept)."""
    n = max(1, round(cfg.piece_s * seq.fps))
    starts = list(range(0, seq.n_frames, n))
    pieces = []
    for k, start in enumerate(starts):
        stop = min(start + n, seq.n_frames)
        if (stop - start) / seq.fps >= cfg.min_piece_s:
            piece = seq.clip(start, stop)
            pieces.append(piece.replace(utterance_id=f"{seq.utterance_id}_p{k:02d}"))
    return pieces


# ---------------------------------------------------------------------------------- stages
def _stage_configs(preset: str, section: str, out_dir: Path, **train: Any) -> dict[str, Any]:
    """A training preset (``{train, opt[, loss, freeze]}``) with ``train`` fields replaced."""
    from mrisynth.config.presets import load_preset

    body = load_preset(section, preset)
    return {**body, "train": {**(body.get("train") or {}), **train, "out_dir": str(out_dir)}}


def _adapt_expert(
    name: str,
    init_from: Path,
    train: list[SpeechMRISequence],
    val: list[SpeechMRISequence],
    out_dir: Path,
    cfg: AdaptConfig,
    seed: int,
) -> Path:
    from mrisynth.config.schema import from_dict
    from mrisynth.engine.solvers.sync_expert import ExpertOptions, train_sync_expert
    from mrisynth.engine.trainer import TrainConfig
    from mrisynth.models.artifacts import read_artifact

    steps = cfg.expert_steps
    body = _stage_configs(
        cfg.expert_preset,
        "expert",
        out_dir,
        max_steps=steps,
        eval_interval=steps,
        ckpt_interval=max(1, steps // 2),
        warmup_steps=0,
        seed=seed,
        device=cfg.device,
        progress=cfg.progress,
    )
    train_cfg = from_dict(TrainConfig, body["train"], where=f"{name}.train")
    opts = from_dict(ExpertOptions, {**body.get("opt", {}), "lr": cfg.expert_lr}, where=name)
    model_cfg = read_artifact(init_from, "sync_expert").config()
    logger.info("adapting %s from %s (%d steps)", name, init_from, steps)
    train_sync_expert(
        train, val, model_cfg, train_cfg, options=opts, init_from=init_from, tracker=None
    )
    return out_dir / "expert.pt"


def _finetune_generator(
    init_from: Path,
    expert: Path,
    train: list[SpeechMRISequence],
    out_dir: Path,
    cfg: AdaptConfig,
) -> Path:
    from mrisynth.config.schema import from_dict
    from mrisynth.engine.solvers.generator import GeneratorOptions, train_generator
    from mrisynth.engine.trainer import TrainConfig
    from mrisynth.losses.weights import GeneratorLossWeights
    from mrisynth.models.artifacts import read_artifact

    steps = cfg.generator_steps
    body = _stage_configs(
        cfg.generator_preset,
        "generator",
        out_dir,
        max_steps=steps,
        eval_interval=steps,
        ckpt_interval=max(1, steps // 2),
        device=cfg.device,
        progress=cfg.progress,
    )
    train_cfg = from_dict(TrainConfig, body["train"], where="generator.train")
    opts = from_dict(GeneratorOptions, body.get("opt"), where="generator.opt")
    weights = from_dict(
        GeneratorLossWeights,
        {**dataclasses.asdict(GeneratorLossWeights.mri()), **(body.get("loss") or {})},
        where="generator.loss",
    )
    model_cfg = read_artifact(init_from, "generator").config()
    logger.info("fine-tuning the generator from %s (%d steps)", init_from, steps)
    train_generator(
        train,
        train,
        model_cfg,
        train_cfg,
        expert,
        loss_weights=weights,
        options=opts,
        init_from=init_from,
        freeze=list(body.get("freeze") or []),
    )
    return out_dir / "generator.pt"


@dataclasses.dataclass
class _SpeakerData:
    """The speaker's recordings prepared on the generator's grid and cut into pieces."""

    speaker: str
    sources: list[str]
    recordings: list[SpeechMRISequence]
    adapt: list[SpeechMRISequence]
    test: list[SpeechMRISequence]
    pieces_csv: Path
    box_px: list[int] | None
    spec: Any
    prepare: Any


def _speaker_data(
    manifest: Path, speaker: str | None, generator: Path, work: Path, cfg: AdaptConfig
) -> _SpeakerData:
    """Steps 1 and 2: prepare the speaker's recordings, cut them, hold out the last pieces."""
    from mrisynth.data.manifest import ManifestEntry, read_manifest, write_manifest
    from mrisynth.data.prepare import PrepareConfig, prepare_manifest
    from mrisynth.models.artifacts import read_artifact

    manifest = Path(manifest)
    entries = read_manifest(manifest)
    speakers = sorted({e.speaker or e.id for e in entries})
    if speaker is None and len(speakers) > 1:
        raise ValueError(
            f"{manifest}: {len(speakers)} speakers ({', '.join(speakers[:5])}...); adapt makes "
            "one speaker folder: choose one with --speaker"
        )
    speaker = speaker or speakers[0]
    chosen = [e for e in entries if (e.speaker or e.id) == speaker]
    if not chosen:
        raise ValueError(f"{manifest}: no recordings of speaker {speaker!r} ({speakers})")
    own = work / "recordings.csv"
    write_manifest(
        [
            dataclasses.replace(
                e,
                speaker=speaker,
                image_path=str((manifest.parent / e.image_path).resolve()),
                audio_path=None
                if not e.audio_path
                else str((manifest.parent / e.audio_path).resolve()),
                extra={
                    k: str((manifest.parent / v).resolve()) if k.endswith("_path") else v
                    for k, v in e.extra.items()
                },
            )
            for e in chosen
        ],
        own,
    )
    gen_art = read_artifact(generator, "generator")
    spec = gen_art.data_spec
    model_spacing = tuple(spec.spacing_mm) if spec.spacing_mm is not None else None
    fov_mm = spec.img_size * max(model_spacing) if model_spacing else 120.0
    prep_cfg = PrepareConfig(
        img_size=spec.img_size,
        roi="auto",
        roi_size_mm=fov_mm,
        fps=spec.fps,
        dataset=cfg.dataset,
        trim_transient=cfg.trim_transient,
    )
    prepared_csv = prepare_manifest(own, work / "prepared", prep_cfg)
    rois = json.loads((work / "prepared" / "rois.json").read_text())["rois_px"]
    box_px = rois.get(speaker)

    # ---- 2. pieces, and the held-out part
    prepared = read_manifest(prepared_csv)
    recs = [SpeechMRISequence.load(prepared_csv.parent / e.image_path) for e in prepared]
    recs = [s.replace(utterance_id=e.id, speaker=speaker) for s, e in zip(recs, prepared)]
    pieces = [_cut(s, cfg) for s in recs]
    total = sum(len(p) for p in pieces)
    manifest_tests = any(e.split == "test" for e in prepared)
    if manifest_tests:
        held = [
            set(range(len(p))) if e.split == "test" else set() for p, e in zip(pieces, prepared)
        ]
    else:
        n_test = max(cfg.min_test_pieces, round(cfg.test_fraction * total))
        if total < n_test + 2:
            seconds = sum(s.duration_s for s in recs)
            raise ValueError(
                f"{manifest}: {seconds:.1f} s of speech give {total} pieces of {cfg.piece_s:g} s; "
                f"adapt needs at least {n_test + 2} ({n_test} held out for the report, 2 to "
                f"adapt the two experts on): give more or longer recordings, or a smaller "
                f"--piece-s"
            )
        held = hold_out([len(p) for p in pieces], n_test)
    adapt, test, rows = [], [], []
    for r, (e, group) in enumerate(zip(prepared, pieces)):
        for k, piece in enumerate(group):
            split = "test" if k in held[r] else "adapt"
            rel = Path("pieces") / f"{piece.utterance_id}.npz"
            piece.save(work / rel)
            (test if split == "test" else adapt).append(piece)
            rows.append(
                ManifestEntry(
                    id=piece.utterance_id,
                    image_path=rel.as_posix(),
                    speaker=speaker,
                    language=e.language,
                    split=split,
                    extra={
                        "source": e.id,
                        "clip_frames": ":".join(map(str, piece.provenance["clip"])),
                    },
                )
            )
    if len(adapt) < 2 or len(test) < 2:
        raise ValueError(
            f"{manifest}: {len(adapt)} adapt and {len(test)} held-out pieces; adapt needs at "
            "least 2 of each"
        )
    pieces_csv = write_manifest(rows, work / "pieces.csv")
    logger.info(
        "speaker %s: %d adapt pieces (%.1f s), %d held out (%.1f s)",
        speaker,
        len(adapt),
        sum(p.duration_s for p in adapt),
        len(test),
        sum(p.duration_s for p in test),
    )

    return _SpeakerData(
        speaker=speaker,
        sources=[Path(e.image_path).name for e in chosen],
        recordings=recs,
        adapt=adapt,
        test=test,
        pieces_csv=pieces_csv,
        box_px=box_px,
        spec=spec,
        prepare=prep_cfg,
    )


# ---------------------------------------------------------------------------------- main
def adapt_speaker(
    manifest: str | Path,
    pretrained: str | Path | PretrainedModels,
    out_dir: str | Path,
    cfg: AdaptConfig | None = None,
    *,
    speaker: str | None = None,
) -> dict[str, Any]:
    """Adapt the pretrained models to one speaker; write the speaker folder ``out_dir``.

    Args:
        manifest: a manifest of the speaker's recordings (:mod:`mrisynth.data.manifest`;
            :func:`recordings_manifest` writes one for plain files). Rows with split ``test``,
            where there are any, are the held-out part; otherwise the last pieces are.
        pretrained: a pretrained models folder (:func:`find_pretrained`) or the files.
        out_dir: the speaker folder to write; it must not exist (a finished folder is never
            overwritten).
        cfg: settings (default :class:`AdaptConfig`).
        speaker: which speaker of a multi-speaker manifest (None: the manifest must have one).

    Returns:
        The content of ``speaker.json`` (ROI, spacing, pieces, timings, the report's headline
        numbers).

    Raises:
        FileExistsError: ``out_dir`` exists.
        ValueError: no or several speakers, too little speech for the held-out part and two
            expert halves, or recordings the models cannot use (named).
    """
    from mrisynth.config.presets import load_preset
    from mrisynth.config.schema import from_dict
    from mrisynth.evaluation.config import EvalConfig
    from mrisynth.evaluation.evaluate import evaluate
    from mrisynth.evaluation.judge import judge_sync

    cfg = cfg or AdaptConfig()
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    out = Path(out_dir)
    if out.exists():
        raise FileExistsError(f"{out}: exists; choose a new speaker folder (nothing was changed)")
    models = pretrained if isinstance(pretrained, PretrainedModels) else find_pretrained(pretrained)
    stage = out.with_name(f".{out.name}.partial")  # resumable: reused by a rerun
    work = stage / "work"

    # ---- 1, 2. prepared recordings, pieces and the held-out part; bad input leaves nothing
    resuming = stage.exists()
    work.mkdir(parents=True, exist_ok=True)
    try:
        data = _speaker_data(Path(manifest), speaker, models.generator, work, cfg)
    except BaseException:
        if not resuming:
            shutil.rmtree(stage, ignore_errors=True)
        raise
    timings["prepare_s"] = time.perf_counter() - t0
    speaker, recs, adapt, test = data.speaker, data.recordings, data.adapt, data.test
    spec, box_px, pieces_csv = data.spec, data.box_px, data.pieces_csv
    model_spacing = tuple(spec.spacing_mm) if spec.spacing_mm is not None else None

    # ---- 3. both experts, on disjoint halves, from their pretrained weights
    half_a, half_b = adapt[0::2], adapt[1::2]
    t = time.perf_counter()
    eval_expert = _adapt_expert(
        "eval_expert", models.eval_expert, half_a, half_b, work / "eval_expert", cfg, seed=1
    )
    expert = _adapt_expert("expert", models.expert, half_b, half_a, work / "expert", cfg, seed=0)
    timings["experts_s"] = time.perf_counter() - t

    # ---- 4. the generator
    t = time.perf_counter()
    generator = _finetune_generator(models.generator, expert, adapt, work / "generator", cfg)
    timings["generator_s"] = time.perf_counter() - t

    # ---- 5. the report on the held-out pieces
    t = time.perf_counter()
    eval_cfg = from_dict(
        EvalConfig,
        {**load_preset("evaluate", cfg.evaluate_preset), "device": cfg.device},
        where="evaluate",
    )
    labelled = all(p.labels is not None for p in adapt + test)
    segmenter = models.segmenter if labelled else None
    if models.segmenter is not None and not labelled:
        logger.info("recordings without labels: the report has no anatomy")
    report = stage / "report"
    metrics = evaluate(pieces_csv, generator, eval_expert, segmenter, report, eval_cfg)
    zero_shot = judge_sync(test, models.eval_expert, eval_cfg)
    adapted = judge_sync(test, eval_expert, eval_cfg)
    (report / "sync_judges.md").write_text(
        "## Can the evaluation expert judge this speaker?\n\n"
        "LSE-D/LSE-C of the held-out recording with its own audio and with another piece's "
        "audio, and the recovery of deliberately shifted audio. A sync number means something "
        "only where the judge separates own from shuffled audio.\n\n"
        + zero_shot.markdown(f"Pretrained judge ({models.eval_expert})")
        + "\n"
        + adapted.markdown("Adapted judge (eval_expert.pt)")
    )
    timings["report_s"] = time.perf_counter() - t

    # ---- 6. the speaker folder
    for src, name in (
        (generator, "generator.pt"),
        (expert, "expert.pt"),
        (eval_expert, "eval_expert.pt"),
    ):
        shutil.copy2(src, stage / name)
    if models.segmenter is not None:
        shutil.copy2(models.segmenter, stage / "segmenter.pt")
    roi_info: dict[str, Any] = {"roi_px": box_px}
    if box_px is not None:
        # the box in the recording's own pixels; its spacing follows from the prepared ROI's
        # (prepare resizes box_px rows to img_size)
        roi_spacing = recs[0].spacing_mm
        source_spacing = [
            roi_spacing[0] * spec.img_size / box_px[2],
            roi_spacing[1] * spec.img_size / box_px[3],
        ]
        roi_info["source_spacing_mm"] = source_spacing
        roi_info["roi_mm"] = [
            box_px[0] * source_spacing[0],
            box_px[1] * source_spacing[1],
            box_px[2] * source_spacing[0],
            box_px[3] * source_spacing[1],
        ]
        (stage / "roi.json").write_text(json.dumps({"roi_mm": roi_info["roi_mm"]}, indent=2) + "\n")
    timings["total_s"] = time.perf_counter() - t0
    headline = {
        k: metrics[k]
        for k in sorted(metrics)
        if k.split(".")[-1] in ("l1", "ssim", "lse_d", "lse_c")
        and (
            k.startswith("model.")
            or k.startswith("baseline_")
            or k.startswith("real.")
            or k.startswith("shuffled.")
        )
    }
    info = {
        "speaker": speaker,
        "sources": data.sources,
        "pretrained": {k: str(v) for k, v in dataclasses.asdict(models).items() if v is not None},
        "model": {"fps": spec.fps, "img_size": spec.img_size, "spacing_mm": model_spacing},
        "roi": roi_info,
        "intensity": {
            "percentiles": list(data.prepare.percentiles),
            "recordings": {s.utterance_id: s.provenance.get("normalized") for s in recs},
        },
        "transient_frames": {s.utterance_id: s.provenance.get("transient_frames", 0) for s in recs},
        "pieces": {
            "piece_s": cfg.piece_s,
            "adapt": [p.utterance_id for p in adapt],
            "test": [p.utterance_id for p in test],
            "adapt_s": sum(p.duration_s for p in adapt),
            "test_s": sum(p.duration_s for p in test),
        },
        "config": dataclasses.asdict(cfg),
        "report": headline,
        "sync_judge": {"pretrained": zero_shot.as_dict(), "adapted": adapted.as_dict()},
        "timings_s": timings,
    }
    (stage / "speaker.json").write_text(json.dumps(_plain(info), indent=2) + "\n")
    stage.rename(out)
    logger.info("speaker folder %s written in %.0f s", out, timings["total_s"])
    return info


def _plain(value: Any) -> Any:
    """JSON-safe copy: paths and tuples become strings and lists, NaN/Inf become null."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
