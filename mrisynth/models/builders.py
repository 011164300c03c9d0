"""Model configuration and builders — the only place that reads a model config.

Presets are YAML files in ``configs/model/`` (:meth:`ModelConfig.preset`); trainable
parameters, pinned by ``tests/models/test_models.py``:

============  ==  ===  =====  =========  ===========  =========  ==========
preset        C   px   fps    generator  sync expert  quality D  temporal D
============  ==  ===  =====  =========  ===========  =========  ==========
face96        3   96   25     46.39 M    24.38 M      0.98 M     0.28 M
face_small    3   64   25     0.61 M     1.10 M       0.061 M    0.072 M
mri_small     1   64   83.28  0.59 M     1.05 M       0.061 M    0.072 M
mri_base      1   96   83.28  13.30 M    8.25 M       0.24 M     0.072 M
============  ==  ===  =====  =========  ===========  =========  ==========

Wav2Lip's reference sizes are ~36 M / ~16 M / ~14 M; face96 keeps its widths (16…512) but
uses deeper residual stages and a lighter PatchGAN. ``mri_small`` runs ~790 frames/s (64 px)
and ~350 frames/s (96 px) on 2 CPU threads, batch 64 — well above 83.28 fps real time.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from mrisynth.models.discriminator import QualityDiscriminator, TemporalDiscriminator
from mrisynth.models.generator import Generator
from mrisynth.models.syncnet import AUDIO_NORMS, VISUAL_INPUTS, SyncExpert, frames_in_window
from mrisynth.transforms.mel import MelConfig, window_steps

__all__ = [
    "ModelConfig",
    "build_generator",
    "build_sync_expert",
    "build_discriminators",
    "count_parameters",
]


@dataclasses.dataclass
class ModelConfig:
    """Everything needed to build the generator, sync expert and discriminators."""

    name: str = "custom"
    """Preset or experiment name (for logs)."""
    channels: int = 1
    """Image channels: 1 (MRI) or 3 (RGB faces)."""
    img_size: int = 64
    """Square frame size in pixels (>= 16)."""
    fps: float = 83.28
    """Video frame rate; sets the frames per sync window."""
    n_frames: int = 5
    """Frames per generator clip ``T`` (folded into the batch; the temporal losses use them)."""
    mel: MelConfig = dataclasses.field(default_factory=MelConfig.mri)
    """Audio front end (a dict is converted)."""
    audio_window_ms: float = 200.0
    """Generator audio window per frame in ms."""
    audio_window_center: bool = True
    """Centre the generator's window on the frame (True) or start it at the frame (False)."""
    sync_window_ms: float = 200.0
    """Sync expert window in ms (visual ``Tv = round(ms·fps/1000)`` frames, same audio span)."""
    norm: str = "batch"
    """Normalisation in generator and expert: ``batch`` or ``group``."""
    gen_base_width: int = 8
    gen_max_width: int = 64
    gen_embed_dim: int = 64
    gen_audio_base_width: int = 8
    gen_res_blocks: int = 0
    sync_base_width: int = 16
    sync_max_width: int = 128
    sync_embed_dim: int = 128
    sync_res_blocks: int = 0
    sync_crop: str = "full"
    """``full`` (MRI) or ``lower_half`` (faces)."""
    sync_visual_input: str = "frames"
    """Expert visual input: ``frames``, ``minus_mean`` (window mean removed: no static anatomy,
    the MRI presets' choice) or ``diff``; see :func:`mrisynth.models.syncnet.visual_features`.
    The default stays ``frames`` so checkpoints written before the field existed load as
    trained."""
    sync_audio_norm: str = "none"
    """Expert mel window standardisation: ``none`` or ``window``."""
    disc_base_width: int = 16
    disc_layers: int = 3
    disc_crop: str = "full"
    temporal_disc_base_width: int = 16
    temporal_disc_layers: int = 3

    def __post_init__(self) -> None:
        if isinstance(self.mel, dict):
            self.mel = MelConfig(**self.mel)
        if not isinstance(self.mel, MelConfig):
            raise ValueError(f"ModelConfig.mel must be a MelConfig or dict, got {type(self.mel)}")
        if self.channels not in (1, 3):
            raise ValueError(f"ModelConfig.channels must be 1 or 3, got {self.channels}")
        if self.img_size < 16:
            raise ValueError(f"ModelConfig.img_size must be >= 16 px, got {self.img_size}")
        if not self.fps > 0:
            raise ValueError(f"ModelConfig.fps must be > 0, got {self.fps}")
        if self.n_frames < 1:
            raise ValueError(f"ModelConfig.n_frames must be >= 1, got {self.n_frames}")
        for f in ("audio_window_ms", "sync_window_ms"):
            ms = getattr(self, f)
            if ms < self.mel.hop_ms:
                raise ValueError(
                    f"ModelConfig.{f}={ms} ms is shorter than one mel step ({self.mel.hop_ms} ms)"
                )
        if self.norm not in ("batch", "group"):
            raise ValueError(f"ModelConfig.norm must be 'batch' or 'group', got {self.norm!r}")
        for f in ("sync_crop", "disc_crop"):
            if getattr(self, f) not in ("full", "lower_half"):
                raise ValueError(f"ModelConfig.{f} must be 'full' or 'lower_half'")
        if self.sync_visual_input not in VISUAL_INPUTS:
            raise ValueError(
                f"ModelConfig.sync_visual_input must be one of {VISUAL_INPUTS}, "
                f"got {self.sync_visual_input!r}"
            )
        if self.sync_audio_norm not in AUDIO_NORMS:
            raise ValueError(
                f"ModelConfig.sync_audio_norm must be one of {AUDIO_NORMS}, "
                f"got {self.sync_audio_norm!r}"
            )
        for f in dataclasses.fields(self):
            if f.name.endswith(("_width", "_dim", "_layers")) and getattr(self, f.name) < 1:
                raise ValueError(f"ModelConfig.{f.name} must be >= 1, got {getattr(self, f.name)}")
            if f.name.endswith("_res_blocks") and getattr(self, f.name) < 0:
                raise ValueError(f"ModelConfig.{f.name} must be >= 0")

    # ------------------------------------------------------------------ derived sizes
    @property
    def audio_window_steps(self) -> int:
        """Mel steps in the generator's window."""
        return window_steps(self.audio_window_ms, self.mel)

    @property
    def sync_window_steps(self) -> int:
        """Mel steps in the sync expert's window."""
        return window_steps(self.sync_window_ms, self.mel)

    @property
    def sync_frames(self) -> int:
        """Frames ``Tv`` in the sync expert's visual window."""
        return frames_in_window(self.sync_window_ms, self.fps)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    # ------------------------------------------------------------------ presets
    @classmethod
    def preset(cls, name: str, **overrides: Any) -> ModelConfig:
        """The preset ``configs/model/<name>.yaml`` (or a YAML path) with field overrides.

        A preset lists only the fields that differ from the dataclass defaults; nested
        ``mel`` fields merge into the default front end.

        Raises:
            ConfigError: unknown preset (the available ones are listed), or an unknown field
                or bad value in the preset or the overrides (named with its dotted key).
        """
        from mrisynth.config.presets import load_preset
        from mrisynth.config.schema import deep_merge, from_dict

        data = deep_merge(load_preset("model", name), overrides)
        return from_dict(cls, deep_merge(dataclasses.asdict(cls()), data), where="model")


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def build_generator(cfg: ModelConfig) -> Generator:
    """The generator for ``cfg`` (input windows of ``cfg.audio_window_steps`` mel steps)."""
    return Generator(
        img_size=cfg.img_size,
        channels=cfg.channels,
        base_width=cfg.gen_base_width,
        max_width=cfg.gen_max_width,
        embed_dim=cfg.gen_embed_dim,
        audio_window_steps=cfg.audio_window_steps,
        n_mels=cfg.mel.n_mels,
        audio_base_width=cfg.gen_audio_base_width,
        res_blocks=cfg.gen_res_blocks,
        norm=cfg.norm,
    )


def build_sync_expert(cfg: ModelConfig) -> SyncExpert:
    """The sync expert for ``cfg`` (``cfg.sync_frames`` frames, ``cfg.sync_window_steps`` steps)."""
    return SyncExpert(
        channels=cfg.channels,
        img_size=cfg.img_size,
        n_frames_window=cfg.sync_frames,
        audio_window_steps=cfg.sync_window_steps,
        n_mels=cfg.mel.n_mels,
        embed_dim=cfg.sync_embed_dim,
        base_width=cfg.sync_base_width,
        max_width=cfg.sync_max_width,
        res_blocks=cfg.sync_res_blocks,
        norm=cfg.norm,
        crop=cfg.sync_crop,
        visual_input=cfg.sync_visual_input,
        audio_norm=cfg.sync_audio_norm,
    )


def build_discriminators(cfg: ModelConfig) -> tuple[QualityDiscriminator, TemporalDiscriminator]:
    """``(quality, temporal)`` discriminators for ``cfg``."""
    quality = QualityDiscriminator(
        cfg.channels, cfg.disc_base_width, cfg.disc_layers, norm="group", crop=cfg.disc_crop
    )
    temporal = TemporalDiscriminator(
        cfg.channels, cfg.temporal_disc_base_width, cfg.temporal_disc_layers
    )
    return quality, temporal
