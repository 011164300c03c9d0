"""Solvers: the per-model-family training logic (models, optimisers, ``run_step``) run by
:class:`mrisynth.engine.trainer.Trainer`; one module per model family."""
