"""``mrisynth train {expert,generator}``: train the sync expert or the generator from a manifest.

Examples::

    mrisynth train expert --manifest data/phantom/manifest.csv --split-train pretrain \\
        --split-val test --model-preset mri_small --out runs/expert --set train.max_steps=2000
    mrisynth train generator --manifest data/phantom/manifest.csv --split-train pretrain \\
        --split-val test --model-preset mri_small --expert runs/expert/expert.pt \\
        --out runs/generator
    mrisynth train generator ... --split-train adapt --init-from runs/generator/generator.pt \\
        --freeze generator.audio_encoder --out runs/finetune

Each recording is read, optionally cropped to ``--roi-mm`` (top left height width, mm from the
top-left corner of the frame), normalised (1st–99th percentile → [0, 1]) and resized to the
model's ``img_size`` (:func:`~mrisynth.engine.train.prepare_for_model`). ``--set`` overrides
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

__all__ = ["add_arguments", "run", "build_configs", "load_split"]

logger = logging.getLogger(__name__)

_SECTIONS = ("train", "model", "opt", "loss")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", choices=("expert", "generator"), help="what to train")
    parser.add_argument("--manifest", required=True, help="dataset manifest (CSV)")
    parser.add_argument("--split-train", default="pretrain", help="manifest split to train on")
    parser.add_argument(
        "--split-val", required=True, help="manifest split to validate on (held-out speakers)"
    )
    parser.add_argument("--model-preset", default="mri_small", help="face96 | mri_small | mri_base")
    parser.add_argument("--out", required=True, help="run folder (checkpoints, metrics, model)")
    parser.add_argument("--expert", help="generator: trained sync expert (expert.pt)")
    parser.add_argument("--init-from", help="generator: pretrained generator to fine-tune")
    parser.add_argument(
        "--freeze", nargs="*", default=[], metavar="PREFIX", help="parameter prefixes to freeze"
    )
    parser.add_argument(
        "--loss-preset",
        choices=("mri", "face"),
        help="generator loss weights (default: mri for 1 channel, face for 3)",
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
    parser.add_argument(
        "--set",
        dest="overrides",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="overrides: train.max_steps=500 model.img_size=48 opt.lr=3e-4 loss.sync=0",
    )
    parser.add_argument("--mlflow", action="store_true", help="log the run to MLflow")


def build_configs(model: str, preset: str, overrides: list[str], out: str) -> dict[str, Any]:
    """Resolve ``--model-preset`` and ``--set`` into typed configs.

    Returns:
        ``{"model": ModelConfig, "train": TrainConfig, "opt": ExpertOptions |
        GeneratorOptions, "loss": dict of GeneratorLossWeights overrides}``.

    Raises:
        ConfigError: an unknown section or key, or a bad value (the dotted key is named).
    """
    from mrisynth.config.schema import ConfigError, deep_merge, from_dict, parse_overrides
    from mrisynth.engine.train import ExpertOptions, GeneratorOptions
    from mrisynth.engine.trainer import TrainConfig
    from mrisynth.models.builders import ModelConfig

    sets = parse_overrides(overrides)
    unknown = sorted(set(sets) - set(_SECTIONS))
    if unknown:
        raise ConfigError(
            f"--set {unknown[0]}: unknown section; use one of {', '.join(_SECTIONS)} "
            "(e.g. train.max_steps=100)"
        )
    if model == "expert" and sets.get("loss"):
        raise ConfigError("--set loss.*: loss weights apply to the generator only")
    base = dataclasses.asdict(ModelConfig.preset(preset))
    model_cfg = from_dict(ModelConfig, deep_merge(base, sets.get("model", {})), where="model")
    train = dict(sets.get("train", {}))
    if "out_dir" in train:
        raise ConfigError("--set train.out_dir: use --out")
    train_cfg = from_dict(TrainConfig, {**train, "out_dir": out}, where="train")
    opt_cls = ExpertOptions if model == "expert" else GeneratorOptions
    opt = from_dict(opt_cls, sets.get("opt", {}), where="opt")
    return {"model": model_cfg, "train": train_cfg, "opt": opt, "loss": sets.get("loss", {})}


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
    from mrisynth.engine.train import prepare_for_model

    seqs = load_manifest_sequences(manifest, split)
    if not seqs:
        have = sorted({e.split or "" for e in read_manifest(manifest)})
        raise ValueError(f"{manifest}: no recordings in split {split!r}; splits are {have}")
    out = []
    for seq in seqs:
        if roi_mm is not None:
            seq = seq.crop_mm(*roi_mm)
        seq = seq.normalize()
        out.append(
            prepare_for_model(seq, model_cfg.img_size, fps=model_cfg.fps, resample_fps=resample_fps)
        )
    return out


def run(args: argparse.Namespace) -> int:
    from mrisynth.engine.tracking import NullTracker, Tracker
    from mrisynth.engine.train import train_generator, train_sync_expert
    from mrisynth.losses.weights import GeneratorLossWeights

    if args.model == "expert" and (args.expert or args.init_from or args.freeze):
        raise ValueError("--expert, --init-from and --freeze apply to 'train generator' only")
    cfgs = build_configs(args.model, args.model_preset, args.overrides, args.out)
    model_cfg = cfgs["model"]
    if model_cfg.channels != 1:
        raise ValueError(
            f"model preset {args.model_preset!r} has {model_cfg.channels} channels; this command "
            "trains on MRI recordings (1 channel); call mrisynth.engine.train from Python for faces"
        )
    kw = dict(roi_mm=args.roi_mm, resample_fps=args.resample_fps)
    train_seqs = load_split(args.manifest, args.split_train, model_cfg, **kw)
    val_seqs = load_split(args.manifest, args.split_val, model_cfg, **kw)
    logger.info("%d training and %d validation recordings", len(train_seqs), len(val_seqs))

    main_rank = int(os.environ.get("RANK", "0")) == 0
    tracker = Tracker() if args.mlflow and main_rank else NullTracker()
    tracker.start(f"train-{args.model}", experiment="mrisynth-train")
    try:
        if args.model == "expert":
            result = train_sync_expert(
                train_seqs, val_seqs, model_cfg, cfgs["train"], options=cfgs["opt"], tracker=tracker
            )
        else:
            preset = args.loss_preset or "mri"
            base = GeneratorLossWeights.mri() if preset == "mri" else GeneratorLossWeights.face()
            from mrisynth.config.schema import from_dict

            weights = from_dict(
                GeneratorLossWeights, {**dataclasses.asdict(base), **cfgs["loss"]}, where="loss"
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
                freeze=args.freeze,
                tracker=tracker,
            )
    except BaseException:
        tracker.end("FAILED")
        raise
    tracker.end("FINISHED")
    if main_rank:  # one writer under torchrun
        out = Path(args.out) / "metrics.json"
        out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps(result, sort_keys=True))
    return 0
