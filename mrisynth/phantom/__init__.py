"""Speech-production phantom: text → articulation → MRI + labels + measures + audio + face.

Start with :func:`mrisynth.phantom.corpus.build_corpus` (or ``mrisynth phantom``); the modules
hold the parts: ``text`` (phonemes), ``articulatory_state`` (state vector layout and reference
postures), ``articulation`` (task dynamics), ``geometry`` (vocal tract, labels, measures, area
function), ``mri`` (appearance), ``acoustics`` (tube model), ``face`` (frontal face video),
``labels`` (label ids and measure definitions).

Imports go one way: ``articulatory_state`` -> ``geometry`` -> ``articulation`` -> ``corpus``
(``tests/phantom/test_module_graph.py`` checks that the package has no import cycle).
"""
