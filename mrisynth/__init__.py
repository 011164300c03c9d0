"""mrisynth: audio-driven speech-MRI synthesis.

Layers, bottom first. A module imports only from its own layer or the layers below it
(``tests/test_layers.py`` reads every import and fails on one that goes up):

1. ``utils``, ``config`` — seeding, git, state files (atomic save, ``weights_only`` load),
   typed config loading
2. ``data.intensity``, ``data.spec``, ``data.sequence`` — uint8 ↔ unit-float conversions, the
   :class:`~mrisynth.data.spec.DataSpec` a model's data must fit, and
   :class:`~mrisynth.data.SpeechMRISequence`, the one sequence type
3. ``io`` — readers/writers (DICOM de-identified, NIfTI, HDF5, PNG, video, audio)
4. ``transforms`` — audio features (one time → mel-window function)
5. ``data`` (manifests, preparation, datasets, data checks)
6. ``phantom`` — the speech-production phantom
7. ``modules`` → ``models`` (networks, builders, and ``models.artifacts``: the one model-file
   format of the generator, sync expert and segmenter)
8. ``losses``, ``metrics``
9. ``synthesis`` — inference: audio + reference frames + a model file → video
10. ``engine`` — trainer, checkpoints, DDP, MLflow, solvers with their training recipes
11. ``evaluation`` — methods (model and baselines), scoring, metric registry, reports; it loads
    models through ``models.artifacts`` and imports nothing from ``engine``
12. ``recipes`` — multi-stage user jobs over the engine and the evaluation (``adapt``: a new
    speaker from their own recordings)
13. ``cli`` — the ``mrisynth`` command
"""

__version__ = "0.1.0"
