"""``mrisynth train {expert,generator,segmenter}``: train a model from a manifest.

Examples::

    mrisynth train expert --manifest data/phantom/manifest.csv --split-train pretrain \\
        --split-val test --model-preset mri_small --out runs/expert --set train.max_steps=2000
    mrisynth train generator --manifest data/phantom/manifest.csv --split-train pretrain \\
        --split-val test --model-preset mri_small --expert runs/expert/expert.pt \\
        --out runs/generator
    mrisynth train generator ... --split-train adapt --init-from runs/generator/generator.pt \\
        --freeze generator.audio_encoder --out runs/finetune

Each recording is read, optionally cropped to ``--roi-mm`` (top left height width, mm from the
top-left corner of the frame), normalised (1st–99th percentile → [0, 1]; not again for
recordings that ``mrisynth prepare`` already normalised, nor for colour video) and resized to
the model's ``img_size`` (:func:`~mrisynth.data.prepare.prepare_for_model`). The model's
channels decide the data: 1 for MRI, 3 for RGB face video (``prepare --set source=face``). ``--set`` overrides
``train.<TrainConfig field>``, ``model.<ModelConfig field>``, ``opt.<ExpertOptions or
GeneratorOptions field>`` and ``loss.<GeneratorLossWeights field>``. The run is resumable: the
same command continues from the newest checkpoint in ``--out``. Writes ``<out>/expert.pt`` or
``<out>/generator.pt`` and ``<out>/metrics.json`` (the validation metrics of that model).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Any

from mrisynth.cli.common import add_set_argument

__all__ = ["add_arguments", "run", "build_configs", "load_split"]

logger = logging.getLogger(__name__)

_SECTIONS = ("train", "model", "opt", "loss")
#: Stage keys that are not config sections: parameter prefixes to freeze, the loss preset.
_STAGE_KEYS = ("freeze", "loss_preset")
LOSS_PRESETS = ("mri", "face")


def loss_preset_for(channels: int, chosen: str | None = None) -> str:
    """The generator loss preset: ``chosen`` if given, else ``mri`` (1 channel) or ``face`` (3).

    Raises:
        ConfigError: an unknown preset name.
    """
    from mrisynth.config.schema import ConfigError

    preset = chosen or ("face" if channels == 3 else "mri")
    if preset not in LOSS_PRESETS:
        raise ConfigError(f"loss_preset: {preset!r} is not one of {', '.join(LOSS_PRESETS)}")
    return preset


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", choices=("expert", "generator", "segmenter"), help="what to train")
    parser.add_argument("--manifest", required=True, help="dataset manifest (CSV)")
    parser.add_argument(
        "--split-train", default="pretrain", help="manifest split(s) to train on, comma-separated"
    )
    parser.add_argument(
        "--split-val", required=True, help="manifest split(s) to validate on (held-out speakers)"
    )
    parser.add_argument(
        "--model-preset",
        default="mri_small",
        help="a configs/model/ preset (mri_small, mri_base, face_small, face96) or a YAML path",
    )
    parser.add_argument(
        "--params",
        help="experiment params.yaml: 'presets.model' + 'model' give the model config and the "
        "--stage section gives train/opt/loss settings (then --set applies on top)",
    )
    parser.add_argument(
        "--stage", help="section of --params for this run, e.g. expert, pretrain, finetune"
    )
    parser.add_argument("--out", required=True, help="run folder (checkpoints, metrics, model)")
    parser.add_argument("--expert", help="generator: trained sync expert (expert.pt)")
    parser.add_argument(
        "--init-from",
        help="a trained model file of the same kind to start from: fine-tune a generator, adapt "
        "a sync expert to new recordings, fine-tune a segmenter",
    )
    parser.add_argument(
        "--freeze", nargs="*", default=[], metavar="PREFIX", help="parameter prefixes to freeze"
    )
    parser.add_argument(
        "--loss-preset",
        choices=LOSS_PRESETS,
        help="generator loss weights the loss.* values apply on top of (default: the stage's "
        "loss_preset in --params, else mri for 1 channel, face for 3)",
    )
    parser.add_argument(
        "--roi-mm",
        type=float,
        nargs=4,
        metavar=("TOP", "LEFT", "HEIGHT", "WIDTH"),
        help="crop this ROI (mm from the top-left corner) before resizing",
    )
    parser.add_argument(
        "--resample-fps", action="store_true", help="resample recordings to the model's fps"
    )
    add_set_argument(parser, "train.max_steps=500 model.img_size=48 opt.lr=3e-4 loss.sync=0")
    parser.add_argument(
        "--metrics", help="where to write the validation metrics JSON (default: <out>/metrics.json)"
    )
    parser.add_argument("--mlflow", action="store_true", help="log the run to MLflow")


def stage_sections(params: str | None, stage: str | None, model_preset: str) -> tuple[str, dict]:
    """Model preset and ``{train, model, opt, loss, freeze}`` base sections of one stage.

    ``params.yaml`` layout (one schema with the preset files and ``--set``)::

        presets:
          model: mri_small                  # configs/model/mri_small.yaml
          expert: expert/cpu                # configs/expert/cpu.yaml: {train, opt}
          finetune: generator/finetune_cpu  # {train, opt, loss, freeze}
        model: {img_size: 48}               # ModelConfig fields
        expert:                             # one section per stage, over its preset
          train: {max_steps: 600}           # TrainConfig fields
          opt: {lr: 5.0e-4}                 # ExpertOptions / GeneratorOptions fields
        finetune:
          loss_preset: mri                  # mri | face: the loss weights loss.* apply to
          loss: {temporal: 0.2}             # GeneratorLossWeights fields
    """
    from mrisynth.config.presets import load_preset
    from mrisynth.config.schema import ConfigError, deep_merge, load_yaml

    if params is None:
        if stage:
            raise ConfigError("--stage needs --params")
        return model_preset, {}
    p = load_yaml(params)
    picks = p.get("presets") or {}
    if not isinstance(picks, dict):
        raise ConfigError(f"{params}: 'presets' must be a mapping of section -> preset name")
    preset = picks.get("model", model_preset)
    sections: dict[str, Any] = {"model": p.get("model") or {}}
    if stage:
        if stage not in p and stage not in picks:
            raise ConfigError(f"{params}: no section or preset {stage!r} for --stage")
        base = load_preset(stage, picks[stage]) if picks.get(stage) else {}
        own = p.get(stage) or {}
        allowed = (*_SECTIONS, *_STAGE_KEYS)
        for where, body in ((f"presets.{stage}", base), (stage, own)):
            unknown = sorted(set(body) - set(allowed))
            if unknown:
                raise ConfigError(
                    f"{where}.{unknown[0]}: unknown key; valid keys are: {', '.join(allowed)}"
                )
        body = deep_merge(base, own)  # mappings merge; lists (freeze) replace
        sections.update({k: v for k, v in body.items() if k != "model"})
        sections["model"] = {**sections["model"], **(body.get("model") or {})}
    return preset, sections


def build_configs(
    model: str,
    preset: str,
    overrides: list[str],
    out: str,
    base: dict | None = None,
    loss_preset: str | None = None,
) -> dict[str, Any]:
    """Resolve ``--model-preset``, the ``--params`` stage sections and ``--set`` into configs.

    Args:
        model: ``expert``, ``generator`` or ``segmenter``.
        preset: the model preset (``configs/model/``).
        overrides: ``--set`` items.
        out: the run folder.
        base: the stage's sections (:func:`stage_sections`; may hold ``loss_preset``).
        loss_preset: ``--loss-preset``, over the stage's ``loss_preset``.

    Returns:
        ``{"model": ModelConfig, "train": TrainConfig, "opt": ExpertOptions |
        GeneratorOptions | SegmenterConfig, "loss": GeneratorLossWeights (generator) or None,
        "loss_preset": the preset the loss weights apply to (generator) or None}``.

    Raises:
        ConfigError: an unknown section or key, or a bad value (the dotted key is named).
    """
    from mrisynth.config.schema import ConfigError, deep_merge, from_dict, parse_overrides
    from mrisynth.engine.solvers.generator import GeneratorOptions
    from mrisynth.engine.solvers.sync_expert import ExpertOptions
    from mrisynth.engine.trainer import TrainConfig
    from mrisynth.models.builders import ModelConfig

    base = dict(base or {})
    loss_preset = loss_preset or base.pop("loss_preset", None)
    if model != "generator" and loss_preset:
        raise ConfigError("loss_preset: loss weights apply to the generator only")
    sets = deep_merge(base, parse_overrides(overrides))
    unknown = sorted(set(sets) - set(_SECTIONS))
    if unknown:
        raise ConfigError(
            f"--set {unknown[0]}: unknown section; use one of {', '.join(_SECTIONS)} "
            "(e.g. train.max_steps=100)"
        )
    if model != "generator" and sets.get("loss"):
        raise ConfigError("loss.*: loss weights apply to the generator only")
    base = dataclasses.asdict(ModelConfig.preset(preset))
    model_cfg = from_dict(ModelConfig, deep_merge(base, sets.get("model", {})), where="model")
    train = dict(sets.get("train", {}))
    if "out_dir" in train:
        raise ConfigError("--set train.out_dir: use --out")
    train_cfg = from_dict(TrainConfig, {**train, "out_dir": out}, where="train")
    if model == "segmenter":
        from mrisynth.models.segmenter import SegmenterConfig

        opt_cls = SegmenterConfig
        opt_data = {"img_size": model_cfg.img_size, **sets.get("opt", {})}
    else:
        opt_cls = ExpertOptions if model == "expert" else GeneratorOptions
        opt_data = sets.get("opt", {})
    opt = from_dict(opt_cls, opt_data, where="opt")
    loss = None
    if model == "generator":
        from mrisynth.losses.weights import GeneratorLossWeights

        loss_preset = loss_preset_for(model_cfg.channels, loss_preset)
        preset_weights = getattr(GeneratorLossWeights, loss_preset)()
        loss = from_dict(
            GeneratorLossWeights,
            {**dataclasses.asdict(preset_weights), **sets.get("loss", {})},
            where="loss",
        )
    return {
        "model": model_cfg,
        "train": train_cfg,
        "opt": opt,
        "loss": loss,
        "loss_preset": loss_preset if model == "generator" else None,
    }


def load_split(
    manifest: str | Path,
    split: str,
    model_cfg: Any,
    *,
    roi_mm: tuple[float, float, float, float] | None = None,
    resample_fps: bool = False,
) -> list[Any]:
    """Read one split of a manifest and prepare every recording for ``model_cfg``.

    Raises:
        ValueError: the split has no recordings (names the splits that exist).
    """
    from mrisynth.data.manifest import load_manifest_sequences, read_manifest
    from mrisynth.data.prepare import prepare_for_model

    seqs = load_manifest_sequences(manifest, split)
    if not seqs:
        have = sorted({e.split or "" for e in read_manifest(manifest)})
        raise ValueError(f"{manifest}: no recordings in split {split!r}; splits are {have}")
    out = []
    for seq in seqs:
        if roi_mm is not None:
            seq = seq.crop_mm(*roi_mm)
        # prepared recordings (and colour video) are already on their 0..255 scale: a second
        # percentile stretch would make training see other intensities than evaluation
        if "normalized" not in seq.provenance and seq.channels == 1:
            seq = seq.normalize()
        out.append(
            prepare_for_model(seq, model_cfg.img_size, fps=model_cfg.fps, resample_fps=resample_fps)
        )
    return out


def run(args: argparse.Namespace) -> int:
    from mrisynth.engine.solvers.generator import train_generator
    from mrisynth.engine.solvers.sync_expert import train_sync_expert
    from mrisynth.engine.tracking import NullTracker, Tracker

    if args.model != "generator" and (args.expert or args.freeze):
        raise ValueError("--expert and --freeze apply to 'train generator' only")
    preset, base = stage_sections(args.params, args.stage, args.model_preset)
    freeze = list(args.freeze) or list(base.pop("freeze", None) or [])
    cfgs = build_configs(args.model, preset, args.overrides, args.out, base, args.loss_preset)
    model_cfg = cfgs["model"]
    kw = dict(roi_mm=args.roi_mm, resample_fps=args.resample_fps)
    train_seqs = [
        s
        for split in args.split_train.split(",")
        for s in load_split(args.manifest, split, model_cfg, **kw)
    ]
    val_seqs = [
        s
        for split in args.split_val.split(",")
        for s in load_split(args.manifest, split, model_cfg, **kw)
    ]
    logger.info("%d training and %d validation recordings", len(train_seqs), len(val_seqs))

    main_rank = int(os.environ.get("RANK", "0")) == 0
    tracker = Tracker() if args.mlflow and main_rank else NullTracker()
    # under a dvc pipeline: a child of the pipeline's run (engine/tracking.py, the key)
    tracker.start_stage(args.stage or args.model, params=args.params, tags={"model": args.model})
    try:
        if args.model == "segmenter":
            result = _train_segmenter(train_seqs, val_seqs, cfgs, args.init_from, tracker)
        elif args.model == "expert":
            result = train_sync_expert(
                train_seqs,
                val_seqs,
                model_cfg,
                cfgs["train"],
                options=cfgs["opt"],
                init_from=args.init_from,
                tracker=tracker,
            )
        else:
            weights = cfgs["loss"]
            logger.info(
                "generator loss preset %r with loss.* on top: %s", cfgs["loss_preset"], weights
            )
            result = train_generator(
                train_seqs,
                val_seqs,
                model_cfg,
                cfgs["train"],
                args.expert,
                loss_weights=weights,
                options=cfgs["opt"],
                init_from=args.init_from,
                freeze=freeze,
                tracker=tracker,
            )
    except BaseException:
        tracker.end("FAILED")
        raise
    tracker.end("FINISHED")
    if main_rank:  # one writer under torchrun
        out = Path(args.metrics) if args.metrics else Path(args.out) / "metrics.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps(result, sort_keys=True))
    return 0


def _train_segmenter(train_seqs, val_seqs, cfgs, init_from, tracker) -> dict[str, Any]:
    """Segmenter on the labelled frames of the prepared recordings (every 2nd frame)."""
    import numpy as np

    from mrisynth.data.intensity import to_unit
    from mrisynth.engine.solvers.segmenter import train_segmenter

    def stack(seqs, what):
        missing = [s.utterance_id for s in seqs if s.labels is None]
        if missing:
            raise ValueError(f"{what} recordings without labels: {missing[:3]}")
        frames = to_unit(np.concatenate([s.frames[::2] for s in seqs]))
        labels = np.concatenate([s.labels[::2] for s in seqs]).astype(np.int64)
        return frames, labels

    tf, tl = stack(train_seqs, "training")
    vf, vl = stack(val_seqs, "validation")
    _, metrics = train_segmenter(
        tf,
        tl,
        vf,
        vl,
        cfg=cfgs["opt"],
        train_cfg=cfgs["train"],
        tracker=tracker,
        init_from=init_from,
    )
    return {k: float(v) for k, v in metrics.items()}
