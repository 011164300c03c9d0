"""mrisynth.utils: seeding/RNG state and git provenance helpers."""

from mrisynth.utils.git import git_commit, source_commit
from mrisynth.utils.seed import derive_seed, rng_state, seed_everything, set_rng_state

__all__ = [
    "derive_seed",
    "git_commit",
    "rng_state",
    "seed_everything",
    "set_rng_state",
    "source_commit",
]
