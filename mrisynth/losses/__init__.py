"""Losses for the generator, the sync expert and the discriminators."""

from mrisynth.losses.adversarial import discriminator_loss, generator_adversarial_loss
from mrisynth.losses.reconstruction import ReconstructionLoss, l1_loss
from mrisynth.losses.sync import expert_bce, sync_loss
from mrisynth.losses.temporal import temporal_difference_loss
from mrisynth.losses.weights import GeneratorLossWeights

__all__ = [
    "GeneratorLossWeights",
    "ReconstructionLoss",
    "discriminator_loss",
    "expert_bce",
    "generator_adversarial_loss",
    "l1_loss",
    "sync_loss",
    "temporal_difference_loss",
]
