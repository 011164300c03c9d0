"""Typed presets in ``configs/<section>/<name>.yaml`` and experiment ``params.yaml`` files.

An experiment's ``params.yaml`` picks a preset per section and overrides fields with the same
schema as the preset files (one source of truth)::

    presets:
      phantom: small              # configs/phantom/small.yaml      (PhantomConfig)
      model: mri_small            # configs/model/mri_small.yaml    (ModelConfig)
      expert: expert/cpu          # configs/expert/cpu.yaml         ({train, opt})
      pretrain: generator/pretrain_cpu   # configs/generator/...    ({train, opt, loss})
      evaluate: cpu               # configs/evaluate/cpu.yaml       (EvalConfig)
    phantom:
      n_target_speakers: 3        # overrides a PhantomConfig field
    pretrain:
      train: {max_steps: 500}     # overrides a TrainConfig field of that stage

The sections are turned into dataclasses by :func:`mrisynth.config.schema.from_dict`, so a wrong
key or value fails with its dotted name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mrisynth.config.schema import ConfigError, deep_merge, load_yaml

__all__ = ["configs_dir", "load_preset", "load_section", "list_presets"]


def configs_dir() -> Path:
    """The presets folder: ``$MRISYNTH_CONFIGS``, else ``configs/`` of the source checkout."""
    env = os.environ.get("MRISYNTH_CONFIGS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "configs"


def list_presets(section: str) -> list[str]:
    """Names of the presets available for ``section``."""
    folder = configs_dir() / section
    return sorted(p.stem for p in folder.glob("*.yaml"))


def load_preset(section: str, name: str) -> dict[str, Any]:
    """The mapping stored in ``configs/<section>/<name>.yaml``.

    ``name`` may also be ``"<folder>/<name>"`` (a preset of another folder: the stages
    ``pretrain`` and ``finetune`` both pick from ``generator/``) or a path to a YAML file.
    """
    path = Path(name)
    folder = section
    if path.suffix not in (".yaml", ".yml"):
        if "/" in name:
            folder, name = name.split("/", 1)
        path = configs_dir() / folder / f"{name}.yaml"
    if not path.is_file():
        available = ", ".join(list_presets(folder)) or "none"
        raise ConfigError(
            f"{section}: unknown preset {name!r} in configs/{folder}/ (available: {available})"
        )
    return load_yaml(path)


def load_section(
    section: str, preset: str | None = None, *, params: str | Path | None = None
) -> dict[str, Any]:
    """Resolved mapping for one section: preset (from ``params.yaml`` or ``preset``) + overrides.

    Args:
        section: e.g. ``"phantom"``, ``"model"``.
        preset: preset name used when ``params`` does not pick one (None: no preset).
        params: an experiment ``params.yaml``; its ``presets.<section>`` and ``<section>`` keys
            are applied.
    """
    overrides: dict[str, Any] = {}
    if params is not None:
        p = load_yaml(params)
        picks = p.get("presets") or {}
        if not isinstance(picks, dict):
            raise ConfigError(f"{params}: 'presets' must be a mapping of section -> preset name")
        preset = picks.get(section, preset)
        overrides = p.get(section) or {}
        if not isinstance(overrides, dict):
            raise ConfigError(f"{params}: section {section!r} must be a mapping")
    base = load_preset(section, preset) if preset else {}
    return deep_merge(base, overrides)
