"""Arguments shared by the subcommands: ``--params`` (an experiment's params.yaml) and ``--set``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TypeVar

from mrisynth.config.presets import load_section
from mrisynth.config.schema import deep_merge, from_dict, parse_overrides

__all__ = ["add_config_arguments", "add_set_argument", "resolve_section"]

T = TypeVar("T")


def add_set_argument(parser: argparse.ArgumentParser, example: str) -> None:
    """``--set KEY=VALUE [KEY=VALUE ...]`` (repeatable), collected in ``args.overrides``."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help=f"override config fields, e.g. --set {example}",
    )


def add_config_arguments(parser: argparse.ArgumentParser, section: str, example: str) -> None:
    """``--params FILE`` (use its ``section``) and ``--set`` for a single-section command."""
    parser.add_argument(
        "--params", type=Path, help=f"experiment params.yaml; its '{section}' section is used"
    )
    add_set_argument(parser, example)


def resolve_section(
    cls: type[T], section: str, args: argparse.Namespace, preset: str | None = None
) -> T:
    """Config ``cls`` from the preset / ``--params`` section, then ``--set`` on top."""
    data = load_section(section, preset, params=getattr(args, "params", None))
    data = deep_merge(data, parse_overrides(args.overrides))
    return from_dict(cls, data, where=section)
