"""mrisynth: audio-driven speech-MRI synthesis.

Subpackages, lower layers first (a module imports only from layers before it):

1. ``utils``, ``config`` — seeding, git, typed config loading
2. ``data.sequence`` — :class:`~mrisynth.data.SpeechMRISequence`, the one sequence type
3. ``transforms`` — audio features (one time → mel-window function)
4. ``data`` (manifests, datasets, preparation), ``io`` (readers/writers)
5. ``phantom`` — the speech-production phantom
6. ``modules`` → ``models`` → ``losses``, ``metrics``
7. ``engine`` — trainer, checkpoints, DDP, MLflow, solvers
8. ``synthesis``, ``evaluation`` — inference, baselines, evaluation and reports
9. ``cli`` — the ``mrisynth`` command
"""

__version__ = "0.1.0"
