"""Speech-production phantom: text → articulation → MRI + labels + measures + audio + face.

Start with :func:`mrisynth.phantom.corpus.build_corpus` (or ``mrisynth phantom``); the modules
hold the parts: ``text`` (phonemes), ``articulation`` (task dynamics), ``geometry`` (vocal
tract, labels, measures, area function), ``mri`` (appearance), ``acoustics`` (tube model),
``face`` (frontal face video), ``labels`` (label ids and measure definitions).
"""
