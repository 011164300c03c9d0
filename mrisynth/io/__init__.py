"""Readers and writers for real rtMRI formats (DICOM, NIfTI, USC HDF5, PNG, video) and audio.

Start with :func:`read_sequence` / :func:`write_sequence`; the per-format modules hold the
details (conventions, defaults, de-identification).
"""

from mrisynth.io.audio import AudioError, read_audio, resample_audio, write_audio
from mrisynth.io.checks import av_mismatch_s, check_audio_video, sequence_warnings
from mrisynth.io.dicom import deidentify_dataset, header_summary, write_dicom_series
from mrisynth.io.dispatch import detect_format, read_sequence, write_sequence
from mrisynth.io.hdf5 import USC_FPS, USC_SPACING_MM, write_hdf5_usc
from mrisynth.io.nifti import read_labels_nifti, write_labels_nifti, write_nifti
from mrisynth.io.orientation import ORIENTATION_OPS, apply_orientation, invert_orientation
from mrisynth.io.png import write_png_sequence
from mrisynth.io.video import write_gif, write_mp4, write_png_strip

__all__ = [
    "AudioError",
    "ORIENTATION_OPS",
    "USC_FPS",
    "USC_SPACING_MM",
    "apply_orientation",
    "av_mismatch_s",
    "check_audio_video",
    "deidentify_dataset",
    "detect_format",
    "header_summary",
    "invert_orientation",
    "read_audio",
    "read_labels_nifti",
    "read_sequence",
    "resample_audio",
    "sequence_warnings",
    "write_audio",
    "write_dicom_series",
    "write_gif",
    "write_hdf5_usc",
    "write_labels_nifti",
    "write_mp4",
    "write_nifti",
    "write_png_sequence",
    "write_png_strip",
    "write_sequence",
]
