"""Recipes: multi-stage jobs over the engine and the evaluation, one per user task.

A recipe strings the lower layers together the way a user would by hand (prepare → train →
evaluate), with its own typed config, and is what a CLI command of the same name calls.
``adapt``: a new speaker from their own recordings (:mod:`mrisynth.recipes.adapt`).
"""

from mrisynth.recipes.adapt import AdaptConfig, PretrainedModels, adapt_speaker

__all__ = ["AdaptConfig", "PretrainedModels", "adapt_speaker"]
