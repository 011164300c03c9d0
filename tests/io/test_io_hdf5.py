"""USC 75-speaker HDF5 layout: defaults, MATLAB transpose, discard_frames alignment."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from io_factories import make_sequence

from mrisynth.data.sequence import SequenceError
from mrisynth.io import USC_FPS, USC_SPACING_MM, read_sequence, write_audio, write_hdf5_usc


def _usc_file(tmp_path, t=40):
    """A file as the USC database ships it: /recon (T, 84, 84) column-major, WAV beside it."""
    frames = np.random.default_rng(0).random((t, 84, 84)).astype(np.float32)
    with h5py.File(tmp_path / "sub001_2drt_01.h5", "w") as f:
        f["recon"] = np.swapaxes(frames, 1, 2)  # MATLAB writes each frame transposed
    sr = 20000
    audio = np.random.default_rng(1).uniform(-0.5, 0.5, int(round(t / USC_FPS * sr)))
    write_audio(tmp_path / "sub001_2drt_01.wav", audio.astype(np.float32), sr)
    return tmp_path / "sub001_2drt_01.h5", frames


def test_usc_defaults_and_transpose(tmp_path):
    path, frames = _usc_file(tmp_path)
    seq = read_sequence(path)
    np.testing.assert_array_equal(seq.frames, frames)
    assert seq.fps == pytest.approx(83.28, abs=0.01)
    assert seq.spacing_mm == pytest.approx((USC_SPACING_MM,) * 2)
    assert seq.provenance["audio_source"] == "sub001_2drt_01.wav"
    assert any("usc75 dataset preset" in w for w in seq.provenance["warnings"])
    assert seq.provenance["fps_source"] == "dataset preset usc75"


def test_discard_frames_keeps_audio_aligned(tmp_path):
    path, frames = _usc_file(tmp_path)
    full = read_sequence(path)
    cut = read_sequence(path, discard_frames=5)
    assert cut.n_frames == full.n_frames - 5
    np.testing.assert_array_equal(cut.frames, frames[5:])
    assert cut.audio_offset_s == pytest.approx(-5 / USC_FPS)
    # the audio under frame k of the cut sequence is the audio under frame k + 5 of the full one
    np.testing.assert_array_equal(cut.audio_for_frames(3, 9), full.audio_for_frames(8, 14))
    with pytest.raises(SequenceError, match="discard_frames=40"):
        read_sequence(path, discard_frames=40)


def test_round_trip(tmp_path):
    seq = make_sequence(h=10, w=14)
    write_hdf5_usc(seq, tmp_path / "r.h5")
    back = read_sequence(tmp_path / "r.h5")
    np.testing.assert_array_equal(back.frames, seq.frames)
    assert back.fps == seq.fps and back.spacing_mm == seq.spacing_mm
    with h5py.File(tmp_path / "r.h5") as f:
        assert f["recon"].shape == (12, 14, 10)  # stored transposed, as MATLAB would


def test_bad_hdf5(tmp_path):
    with h5py.File(tmp_path / "no_recon.h5", "w") as f:
        f["images"] = np.zeros((2, 4, 4))
    with pytest.raises(SequenceError, match=r"no_recon\.h5: no dataset '/recon'"):
        read_sequence(tmp_path / "no_recon.h5")
    (tmp_path / "corrupt.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 20)
    with pytest.raises(SequenceError, match=r"corrupt\.h5: not a readable HDF5"):
        read_sequence(tmp_path / "corrupt.h5")
    with pytest.raises(ValueError, match="not understood by the hdf5 reader"):
        read_sequence(tmp_path / "no_recon.h5", bogus_option=1)
