"""Model artifacts: one self-describing file format for the generator, sync expert, segmenter
and face landmark regressor.

Training, evaluation, synthesis and the CLI load models only through this module, so a model
file loads the same way everywhere. A file (``generator.pt``, ``expert.pt``, ``segmenter.pt``)
is a plain dict read with ``torch.load(weights_only=True)``::

    {"format": "mrisynth.artifact/2",
     "kind": "generator" | "sync_expert" | "segmenter" | "landmarks",
     "weights": {model name: state_dict},      # e.g. generator + its discriminators
     "model_config": {...},                     # ModelConfig / SegmenterConfig as a dict
     "data_spec": {...},                        # DataSpec: fps, sample rate, size, channels, mm
     "mask": bool tensor (H, W) | None,         # the region a generator paints
     "info": {...},                             # small stable facts (mask kind, clip frames)
     "train_config": {...}, "metrics": {...}, "step": int, "package_version": "0.1.0"}

What changes from run to run although the weights do not — the git commit, the paths of the
files a run started from, the trainer checkpoint it was exported from — is written beside it
as ``<file>.run.json`` (see :func:`run_info_path`), never into the weight bytes: identical
training writes byte-identical model files, so ``dvc.lock`` stays stable.

Older files still load: ``mrisynth.model/1`` (generator/expert exports), ``mrisynth.segmenter/1``
and trainer checkpoints of the generator and expert solvers (``best.pt``, ``step_*.pt``);
:func:`upgrade_artifact` rewrites one in the current format.

Example::

    generator, art = load_model("runs/finetune/generator.pt", "generator",
                                expect=DataSpec(fps=83.28, sample_rate=16000, img_size=48,
                                                channels=1))
    mask = art.mask                              # (H, W) bool
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from mrisynth import __version__
from mrisynth.config.schema import from_dict
from mrisynth.data.spec import DataSpec
from mrisynth.models.builders import ModelConfig, build_generator, build_sync_expert
from mrisynth.models.landmarks import LandmarkConfig, build_landmark_regressor
from mrisynth.models.segmenter import SegmenterConfig, build_segmenter
from mrisynth.utils.state_files import (
    CheckpointError,
    load_checkpoint,
    load_model_state,
    save_checkpoint,
)

logger = logging.getLogger(__name__)

__all__ = [
    "ARTIFACT_FORMAT",
    "Artifact",
    "ArtifactKind",
    "save_artifact",
    "read_artifact",
    "load_model",
    "load_generator",
    "load_sync_expert",
    "load_segmenter",
    "generator_mask",
    "upgrade_artifact",
    "run_info_path",
    "check_same_front_end",
    "is_artifact",
    "save_segmenter",
    "save_landmark_regressor",
    "load_landmark_regressor",
]

ArtifactKind = Literal["generator", "sync_expert", "segmenter", "landmarks"]

FORMAT_NAME = "mrisynth.artifact"
FORMAT_VERSION = 2
ARTIFACT_FORMAT = f"{FORMAT_NAME}/{FORMAT_VERSION}"
#: The model inside a file that :func:`load_model` rebuilds, by kind.
MAIN_MODEL = {
    "generator": "generator",
    "sync_expert": "expert",
    "segmenter": "segmenter",
    "landmarks": "landmarks",
}
#: Formats of earlier releases that still load.
_LEGACY_EXPORT = "mrisynth.model/1"
_LEGACY_SEGMENTER = "mrisynth.segmenter/1"
_LEGACY_TRAINER = "mrisynth.trainer/1"
_FORMAT_RE = re.compile(r"^mrisynth\.artifact/(\d+)$")


@dataclasses.dataclass
class Artifact:
    """A model file's contents.

    Attributes:
        kind: ``generator``, ``sync_expert``, ``segmenter`` or ``landmarks`` (face landmark
            regressor).
        weights: state dicts by model name (``generator``, ``quality_disc``, ``temporal_disc``;
            ``expert``; ``segmenter``).
        model_config: the architecture config as a plain dict (see :meth:`config`).
        data_spec: what the model's data must be.
        mask: ``(H, W)`` bool region a generator paints; None for other kinds.
        info: small facts that do not vary between identical runs (``mask_kind``,
            ``clip_frames``...).
        train_config: the resolved training config of the run (plain dict), where known.
        metrics: validation metrics of these weights (``valid/...``).
        step: the training step of these weights.
        package_version: the mrisynth version that wrote the file.
        run: run metadata kept outside the weight file (``git_commit``, ``sources``...).
        path: where it was read from (None for a new artifact).
    """

    kind: ArtifactKind
    weights: dict[str, dict[str, torch.Tensor]]
    model_config: dict[str, Any]
    data_spec: DataSpec
    mask: np.ndarray | None = None
    info: dict[str, Any] = dataclasses.field(default_factory=dict)
    train_config: dict[str, Any] | None = None
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    step: int = 0
    package_version: str = __version__
    run: dict[str, Any] = dataclasses.field(default_factory=dict)
    path: Path | None = None

    def __post_init__(self) -> None:
        if self.kind not in MAIN_MODEL:
            raise ValueError(f"Artifact.kind must be one of {sorted(MAIN_MODEL)}, got {self.kind}")
        if MAIN_MODEL[self.kind] not in self.weights:
            raise ValueError(
                f"a {self.kind} artifact needs weights[{MAIN_MODEL[self.kind]!r}]; "
                f"got {sorted(self.weights)}"
            )

    @property
    def source(self) -> str:
        """How messages name this artifact (its path, where known)."""
        return f"checkpoint {self.path}" if self.path is not None else f"{self.kind} artifact"

    def config(self) -> ModelConfig | SegmenterConfig | LandmarkConfig:
        """The typed architecture config (``SegmenterConfig`` for segmenters,
        ``LandmarkConfig`` for landmark regressors).

        Raises:
            ConfigError: a stored segmenter value the current code no longer accepts (named).
            CheckpointError: a stored model config the current code no longer accepts.
        """
        if self.kind == "segmenter":
            return from_dict(SegmenterConfig, self.model_config, where=f"{self.source}: config")
        if self.kind == "landmarks":
            return from_dict(LandmarkConfig, self.model_config, where=f"{self.source}: config")
        try:
            return ModelConfig(**self.model_config)
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"{self.source}: invalid model config ({e})") from e

    def build(self, map_location: str | torch.device = "cpu") -> nn.Module:
        """The main model with these weights, in eval mode, on ``map_location``."""
        cfg = self.config()
        build = {
            "generator": build_generator,
            "sync_expert": build_sync_expert,
            "segmenter": build_segmenter,
            "landmarks": build_landmark_regressor,
        }[self.kind]
        model = build(cfg)
        name = MAIN_MODEL[self.kind]
        load_model_state(model, self.weights[name], source=f"{self.path or self.kind} [{name}]")
        return model.to(map_location).eval()


# ---------------------------------------------------------------------------------- writing
def run_info_path(path: str | Path) -> Path:
    """The run-metadata file beside a model file: ``generator.pt`` → ``generator.run.json``."""
    path = Path(path)
    return path.with_name(path.stem + ".run.json")


def _plain(value: Any) -> Any:
    """JSON-safe copy (tuples → lists, numpy scalars → Python)."""
    return json.loads(
        json.dumps(value, default=lambda o: o.item() if hasattr(o, "item") else str(o))
    )


def save_artifact(path: str | Path, artifact: Artifact) -> Path:
    """Write ``artifact`` to ``path`` atomically, and its ``run`` metadata beside it.

    The weight file holds only what identical training reproduces exactly, so two identical
    runs write byte-identical files; ``artifact.run`` goes to :func:`run_info_path` (also
    written atomically; removed when ``run`` is empty, so no stale file survives).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    mask = None
    if artifact.mask is not None:
        mask = torch.from_numpy(np.ascontiguousarray(np.asarray(artifact.mask, dtype=bool)))
    state = {
        "format": ARTIFACT_FORMAT,
        "kind": artifact.kind,
        "weights": {
            name: {k: v.detach().cpu() for k, v in sd.items()}
            for name, sd in artifact.weights.items()
        },
        "model_config": _plain(artifact.model_config),
        "data_spec": artifact.data_spec.to_dict(),
        "mask": mask,
        "info": _plain(artifact.info),
        "train_config": None if artifact.train_config is None else _plain(artifact.train_config),
        "metrics": {k: float(v) for k, v in artifact.metrics.items()},
        "step": int(artifact.step),
        "package_version": str(artifact.package_version),
    }
    save_checkpoint(path, state)
    sidecar = run_info_path(path)
    if artifact.run:
        text = json.dumps(_plain(artifact.run), indent=2, sort_keys=True) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=f".{sidecar.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, sidecar)
    else:
        sidecar.unlink(missing_ok=True)
    return path


# ---------------------------------------------------------------------------------- reading
def _spec_from_meta(meta: Mapping[str, Any], model_cfg: Mapping[str, Any]) -> DataSpec:
    mel = model_cfg.get("mel") or {}
    return DataSpec(
        fps=meta.get("fps", model_cfg.get("fps")),
        sample_rate=meta.get("sample_rate", mel.get("sample_rate")),
        img_size=meta.get("img_size", model_cfg.get("img_size")),
        channels=meta.get("channels", model_cfg.get("channels")),
    )


def _mask_array(mask: Any) -> np.ndarray | None:
    if mask is None:
        return None
    return np.asarray(mask.cpu().numpy() if hasattr(mask, "cpu") else mask, dtype=bool)


def _from_meta(path: Path, state: Mapping[str, Any], meta: Mapping[str, Any]) -> Artifact:
    """An artifact from the ``meta`` dict of a legacy export or a trainer checkpoint."""
    kind = meta.get("kind")
    if kind not in ("generator", "sync_expert"):
        raise CheckpointError(
            f"checkpoint {path}: holds a {kind!r} model, expected a sync expert or generator"
        )
    model_cfg = dict(meta.get("model_config") or {})
    skip = {"kind", "model_config", "fps", "sample_rate", "img_size", "channels", "mask", "sources"}
    return Artifact(
        kind=kind,
        weights=dict(state["models"]),
        model_config=model_cfg,
        data_spec=_spec_from_meta(meta, model_cfg),
        mask=_mask_array(meta.get("mask")),
        info={k: v for k, v in meta.items() if k not in skip},
        train_config=state.get("train_config", state.get("config")),
        metrics=dict(state.get("metrics") or {}),
        step=int(state.get("step", 0)),
        package_version=str(state.get("package_version", "0.1.0")),
        run={
            k: v
            for k, v in {
                "git_commit": state.get("git_commit"),
                "sources": meta.get("sources"),
                "exported_from": state.get("source"),
            }.items()
            if v is not None
        },
        path=path,
    )


def _check_kind(artifact: Artifact, kind: str | None) -> Artifact:
    if kind is not None and artifact.kind != kind:
        raise CheckpointError(
            f"{artifact.source}: holds a {artifact.kind!r} model, expected {kind!r}"
        )
    return artifact


def is_artifact(path: str | Path) -> bool:
    """True if ``path`` holds a model file (any format :func:`read_artifact` reads, trainer
    checkpoints excepted)."""
    fmt = str(load_checkpoint(path).get("format"))
    return bool(_FORMAT_RE.match(fmt)) or fmt in (_LEGACY_EXPORT, _LEGACY_SEGMENTER)


def read_artifact(path: str | Path, kind: ArtifactKind | None = None) -> Artifact:
    """Read a model file of any supported format (``torch.load(weights_only=True)``).

    Args:
        path: a model file (``generator.pt``, ``expert.pt``, ``segmenter.pt``) or a trainer
            checkpoint of the generator or expert solvers.
        kind: the kind expected (None: any).

    Returns:
        The :class:`Artifact`, with ``run`` filled from the ``.run.json`` beside it, if any.

    Raises:
        CheckpointError: missing or unreadable file, a file of a newer format than this
            mrisynth reads, not a model file, or another kind than ``kind``.
    """
    path = Path(path)
    state = load_checkpoint(path)
    fmt = state.get("format")
    m = _FORMAT_RE.match(str(fmt))
    if m and int(m.group(1)) > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path}: written in {fmt}, a newer format than this mrisynth "
            f"({__version__}) reads ({ARTIFACT_FORMAT}); upgrade mrisynth to load it"
        )
    if fmt == ARTIFACT_FORMAT:
        spacing = state["data_spec"]
        artifact = Artifact(
            kind=state["kind"],
            weights=dict(state["weights"]),
            model_config=dict(state["model_config"]),
            data_spec=DataSpec.from_dict(spacing),
            mask=_mask_array(state.get("mask")),
            info=dict(state.get("info") or {}),
            train_config=state.get("train_config"),
            metrics=dict(state.get("metrics") or {}),
            step=int(state.get("step", 0)),
            package_version=str(state.get("package_version", "")),
            path=path,
        )
        sidecar = run_info_path(path)
        if sidecar.is_file():
            artifact.run = json.loads(sidecar.read_text())
    elif fmt == _LEGACY_EXPORT:
        artifact = _from_meta(path, state, state["meta"])
    elif fmt == _LEGACY_TRAINER and isinstance((state.get("solver") or {}).get("meta"), dict):
        artifact = _from_meta(path, state, state["solver"]["meta"])
    elif fmt == _LEGACY_SEGMENTER:
        cfg = dict(state.get("config") or {})
        artifact = Artifact(
            kind="segmenter",
            weights={"segmenter": state["model"]},
            model_config=cfg,
            data_spec=DataSpec(
                fps=None, sample_rate=None, img_size=int(cfg.get("img_size", 64)), channels=1
            ),
            path=path,
        )
    else:
        raise CheckpointError(
            f"checkpoint {path}: not a model file (format {fmt!r}; expected {ARTIFACT_FORMAT}, "
            "a sync expert, generator or segmenter file)"
        )
    return _check_kind(artifact, kind)


def load_model(
    path: str | Path,
    kind: ArtifactKind,
    *,
    expect: DataSpec | Mapping[str, Any] | None = None,
    model_cfg: ModelConfig | None = None,
    map_location: str | torch.device = "cpu",
) -> tuple[nn.Module, Artifact]:
    """Rebuild the main model of a file (eval mode) and check it against the caller's data.

    Args:
        path: the model file.
        kind: the kind expected.
        expect: the data it will be used with: a :class:`DataSpec` or loose values
            (``{"fps": 25.0}``; None = not compared); they must match the file's
            (``checkpoint fps 25.0 != expected fps 50.0``).
        model_cfg: a config the file's data spec must agree with (``... != model config ...``).
        map_location: device for the model.

    Raises:
        CheckpointError: see :func:`read_artifact`.
        ValueError: a data-spec mismatch, naming both values.
    """
    artifact = read_artifact(path, kind)
    if model_cfg is not None:
        artifact.data_spec.check_matches(DataSpec.of_model(model_cfg), artifact.source)
    if isinstance(expect, DataSpec):
        artifact.data_spec.check_matches(expect, artifact.source, theirs="expected")
    elif expect:
        artifact.data_spec.check_values(artifact.source, **expect)
    return artifact.build(map_location), artifact


def _model_and_config(
    path: str | Path,
    kind: ArtifactKind,
    model_cfg: ModelConfig | None,
    map_location: str | torch.device,
    expected: Mapping[str, Any],
) -> tuple[nn.Module, Any]:
    model, art = load_model(
        path, kind, expect=dict(expected), model_cfg=model_cfg, map_location=map_location
    )
    return model, art.config()


def load_sync_expert(
    path: str | Path,
    *,
    model_cfg: ModelConfig | None = None,
    map_location: str | torch.device = "cpu",
    **expected: Any,
) -> tuple[nn.Module, ModelConfig]:
    """A trained sync expert (eval mode) and its config.

    Args:
        path, model_cfg, map_location: as :func:`load_model`.
        expected: values the data has (``fps=``, ``sample_rate=``, ``img_size=``,
            ``channels=``; None = not checked), as ``expect`` of :func:`load_model`.
    """
    return _model_and_config(path, "sync_expert", model_cfg, map_location, expected)


def load_generator(
    path: str | Path,
    *,
    model_cfg: ModelConfig | None = None,
    map_location: str | torch.device = "cpu",
    **expected: Any,
) -> tuple[nn.Module, ModelConfig]:
    """A trained generator (eval mode) and its config; arguments as :func:`load_sync_expert`.
    The mask it paints: :func:`generator_mask` (or ``read_artifact(path).mask``)."""
    return _model_and_config(path, "generator", model_cfg, map_location, expected)


def load_segmenter(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, SegmenterConfig]:
    """A trained segmenter (eval mode) and its :class:`SegmenterConfig`."""
    return _model_and_config(path, "segmenter", None, map_location, {})


def generator_mask(path: str | Path) -> np.ndarray:
    """The ``(H, W)`` bool region a generator file was trained to paint."""
    mask = read_artifact(path, "generator").mask
    if mask is None:
        raise CheckpointError(f"checkpoint {path}: generator file without a mask")
    return mask


#: ModelConfig fields beyond the data spec that a generator and its sync expert must share
#: (the expert judges the generator's frames with its own audio front end and window).
FRONT_END_FIELDS = ("mel", "sync_window_ms", "sync_crop")


def check_same_front_end(saved: ModelConfig, current: ModelConfig, source: str) -> None:
    """Raise ``ValueError`` unless two model configs agree on the data spec and front end.

    Args:
        saved: the config of a model file (e.g. the sync expert a generator trains against).
        current: this run's config.
        source: the file, for messages (``"<source>: checkpoint mel ... != model config ..."``).
    """
    DataSpec.of_model(saved).check_matches(DataSpec.of_model(current), source)
    for f in FRONT_END_FIELDS:
        a, b = getattr(saved, f), getattr(current, f)
        if a != b:
            raise ValueError(f"{source}: checkpoint {f} {a} != model config {f} {b}")


def _save_image_model(
    path: str | Path,
    kind: str,
    model: nn.Module,
    cfg: SegmenterConfig | LandmarkConfig,
    channels: int,
    *,
    metrics: Mapping[str, float] | None,
    step: int,
    train_config: dict[str, Any] | None,
    run: dict[str, Any] | None,
) -> Path:
    """An image-only model (no audio, no frame rate) as an artifact of ``kind`` at ``path``."""
    model = getattr(model, "module", model)  # DDP
    model = getattr(model, "_orig_mod", model)  # torch.compile
    artifact = Artifact(
        kind=kind,
        weights={kind: model.state_dict()},
        model_config=dataclasses.asdict(cfg),
        data_spec=DataSpec(fps=None, sample_rate=None, img_size=cfg.img_size, channels=channels),
        train_config=train_config,
        metrics=dict(metrics or {}),
        step=step,
        run=dict(run or {}),
    )
    return save_artifact(path, artifact)


def save_segmenter(
    path: str | Path,
    model: nn.Module,
    cfg: SegmenterConfig,
    *,
    metrics: Mapping[str, float] | None = None,
    step: int = 0,
    train_config: dict[str, Any] | None = None,
    run: dict[str, Any] | None = None,
) -> Path:
    """Write a segmenter (weights + :class:`SegmenterConfig`) as an artifact at ``path``."""
    return _save_image_model(
        path,
        "segmenter",
        model,
        cfg,
        1,
        metrics=metrics,
        step=step,
        train_config=train_config,
        run=run,
    )


def save_landmark_regressor(
    path: str | Path,
    model: nn.Module,
    cfg: LandmarkConfig,
    *,
    metrics: Mapping[str, float] | None = None,
    step: int = 0,
    train_config: dict[str, Any] | None = None,
    run: dict[str, Any] | None = None,
) -> Path:
    """Write a face landmark regressor (weights + :class:`LandmarkConfig`) at ``path``."""
    return _save_image_model(
        path,
        "landmarks",
        model,
        cfg,
        3,
        metrics=metrics,
        step=step,
        train_config=train_config,
        run=run,
    )


def load_landmark_regressor(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, LandmarkConfig]:
    """A trained face landmark regressor (eval mode) and its :class:`LandmarkConfig`."""
    return _model_and_config(path, "landmarks", None, map_location, {})


def upgrade_artifact(src: str | Path, dst: str | Path) -> Path:
    """Rewrite a model file of an older format (or a trainer checkpoint) as ``dst`` in the
    current format; its run metadata goes to ``dst``'s ``.run.json``."""
    return save_artifact(dst, read_artifact(src))
