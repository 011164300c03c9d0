"""read_sequence / write_sequence: format detection, A/V checks, provenance paths, sidecars."""

from __future__ import annotations

import json

import numpy as np
import pytest
from io_factories import make_sequence

from mrisynth.data.sequence import SequenceError
from mrisynth.io import detect_format, read_sequence, write_audio, write_nifti, write_sequence


def _nifti_with_audio(tmp_path, audio_s, sr=8000):
    seq = make_sequence(t=50, fps=25.0)  # 2.0 s of video
    write_nifti(seq, tmp_path / "rec.nii.gz")
    audio = (0.1 * np.sin(np.arange(int(audio_s * sr)) / 5)).astype(np.float32)
    write_audio(tmp_path / "speech.wav", audio, sr)
    return tmp_path / "rec.nii.gz", tmp_path / "speech.wav"


@pytest.mark.parametrize("audio_s, word", [(1.0, "shorter"), (3.5, "longer")])
def test_large_av_mismatch_is_an_error(tmp_path, audio_s, word):
    img, wav = _nifti_with_audio(tmp_path, audio_s)
    with pytest.raises(SequenceError) as e:
        read_sequence(img, audio=wav)
    msg = str(e.value)
    assert "speech.wav" in msg and "rec.nii.gz" in msg and word in msg
    assert f"{audio_s:.3f} s" in msg and "2.000 s" in msg
    # lenient mode (used by `mrisynth info`) reports it as a warning instead
    seq = read_sequence(img, audio=wav, strict_av=False)
    assert any("exceeds allowed" in w for w in seq.provenance["warnings"])
    # a wider tolerance accepts it
    read_sequence(img, audio=wav, av_tolerance_s=2.0)


def test_small_mismatch_warns(tmp_path):
    img, wav = _nifti_with_audio(tmp_path, 2.2)
    seq = read_sequence(img, audio=wav)
    assert any("0.200 s longer" in w for w in seq.provenance["warnings"])
    img, wav = _nifti_with_audio(tmp_path, 2.0)
    assert not any("longer" in w for w in read_sequence(img, audio=wav).provenance["warnings"])


def test_provenance_paths_are_relative(tmp_path):
    img, wav = _nifti_with_audio(tmp_path / "data" / "spk1", 2.0)
    seq = read_sequence(img, audio=wav, data_root=tmp_path / "data")
    assert seq.provenance["source"] == "spk1/rec.nii.gz"
    assert seq.provenance["audio_source"] == "spk1/speech.wav"
    default = read_sequence(img, audio=wav)
    assert default.provenance["source"] == "rec.nii.gz"
    assert str(tmp_path) not in json.dumps(default.provenance)


def test_write_sequence_restores_offset_and_metadata(tmp_path, seq):
    s = seq.replace(audio_offset_s=0.02, language="de", transcript="hallo")
    for name, fmt in [("a.nii", None), ("b.h5", None), ("dcm", "dicom"), ("x.npz", None)]:
        write_sequence(s, tmp_path / name, format=fmt)
        back = read_sequence(tmp_path / name)
        assert back.audio_offset_s == pytest.approx(0.02)
        assert (back.language, back.transcript, back.speaker) == ("de", "hallo", "s1")
    with pytest.raises(ValueError, match="cannot choose a format"):
        write_sequence(s, tmp_path / "folder")


def test_explicit_arguments_override(tmp_path, seq):
    write_nifti(seq, tmp_path / "a.nii")
    back = read_sequence(
        tmp_path / "a.nii", fps=50, spacing_mm=(2.0, 3.0), orientation="transpose", audio=False
    )
    assert back.fps == 50 and back.spacing_mm == (2.0, 3.0)
    np.testing.assert_array_equal(back.frames, np.swapaxes(seq.frames, 1, 2))
    assert back.provenance["fps_source"] == "argument" and back.audio is None


def test_unsupported_dtype_and_unknown_inputs(tmp_path, seq):
    import nibabel as nib

    img = nib.Nifti1Image(np.zeros((3, 3, 1, 2), np.int64), np.eye(4), dtype=np.int64)
    img.header.set_xyzt_units("mm", "sec")
    img.to_filename(tmp_path / "i64.nii")
    with pytest.raises(SequenceError, match=r"i64\.nii: unsupported pixel dtype int64"):
        read_sequence(tmp_path / "i64.nii")
    with pytest.raises(FileNotFoundError):
        read_sequence(tmp_path / "nothing.nii")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(SequenceError, match=r"notes\.txt: unrecognised"):
        detect_format(tmp_path / "notes.txt")
    write_nifti(seq, tmp_path / "a.nii")
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        read_sequence(tmp_path / "a.nii", audio=tmp_path / "missing.wav")
    write_nifti(make_sequence(t=50), tmp_path / "long.nii")  # 2 s of video
    write_audio(tmp_path / "short.wav", np.zeros(10, np.float32), 8000)
    with pytest.raises(SequenceError, match=r"short\.wav .* shorter than video long\.nii"):
        read_sequence(tmp_path / "long.nii", audio=tmp_path / "short.wav")
