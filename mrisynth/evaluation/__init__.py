"""Evaluation: methods over recordings, scored against the recordings, and reports.

- :mod:`~mrisynth.evaluation.methods`: the :class:`~mrisynth.evaluation.methods.Method`
  protocol (``predict(recording, reference) -> frames``) shared by the model and every
  baseline (:mod:`~mrisynth.evaluation.baselines`), and the
  :class:`~mrisynth.evaluation.methods.Recording` whose audio is analysed once;
- :mod:`~mrisynth.evaluation.scoring`: one recording scored — the recording itself, then every
  method × condition (:mod:`~mrisynth.evaluation.anatomy`, :mod:`~mrisynth.evaluation.phones`);
- :mod:`~mrisynth.evaluation.metrics_registry`: every reported metric (name, source,
  direction, unit, meaning);
- :mod:`~mrisynth.evaluation.evaluate`: the run (load the model files, fit the baselines,
  score every test recording, write the report); :mod:`~mrisynth.evaluation.report`: tables,
  ``metrics.json``, plots; :mod:`~mrisynth.evaluation.config`: :class:`EvalConfig`.
"""
