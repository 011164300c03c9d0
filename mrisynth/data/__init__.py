"""Data containers, manifests and datasets."""

from mrisynth.data.sequence import SequenceError, SpeechMRISequence, audio_sample_index

__all__ = ["SequenceError", "SpeechMRISequence", "audio_sample_index"]
