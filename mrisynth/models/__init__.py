"""Models: generator, sync expert, discriminators and their builders."""

from mrisynth.models.builders import (
    ModelConfig,
    build_discriminators,
    build_generator,
    build_sync_expert,
    count_parameters,
)
from mrisynth.models.discriminator import QualityDiscriminator, TemporalDiscriminator
from mrisynth.models.generator import Generator
from mrisynth.models.syncnet import SyncExpert, cosine_probability, frames_in_window

__all__ = [
    "Generator",
    "ModelConfig",
    "QualityDiscriminator",
    "SyncExpert",
    "TemporalDiscriminator",
    "build_discriminators",
    "build_generator",
    "build_sync_expert",
    "cosine_probability",
    "count_parameters",
    "frames_in_window",
]
