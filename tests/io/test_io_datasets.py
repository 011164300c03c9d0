"""Dataset presets and unknown geometry: a preset fills only what the file does not state."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from mrisynth.data.sequence import UNKNOWN, SequenceError
from mrisynth.io import read_sequence, write_sequence
from mrisynth.io.datasets import DATASETS, DatasetPreset, get_dataset


def _png_folder(tmp_path, shape=(6, 68, 68), **sidecar):
    """PNG frames (no header: fps and spacing only from the sidecar, here ``sidecar``)."""
    import imageio.v3 as iio

    folder = tmp_path / "png"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for k in range(shape[0]):
        iio.imwrite(folder / f"{k}.png", rng.integers(0, 255, shape[1:]).astype(np.uint8))
    if sidecar:
        (folder / "sequence.json").write_text(json.dumps(sidecar))
    return folder


def test_presets_hold_the_documented_numbers():
    usc75, timit, span = DATASETS["usc75"], DATASETS["usc-timit"], DATASETS["usc-span"]
    assert usc75.matrix == (84, 84) and usc75.spacing_mm[0] == pytest.approx(2.381, abs=1e-3)
    assert usc75.fps == pytest.approx(83.28, abs=0.01) and usc75.fov_mm == pytest.approx((200, 200))
    for p in (timit, span):
        assert p.matrix == (68, 68) and p.fps == 23.18
        assert p.spacing_mm == pytest.approx((2.941, 2.941), abs=1e-3)
    assert get_dataset("USC-TIMIT") is timit and get_dataset(span) is span
    with pytest.raises(ValueError, match=r"unknown dataset preset 'usc'; known: usc-span, usc-t"):
        get_dataset("usc")
    with pytest.raises(AttributeError):  # frozen
        timit.fps = 30.0  # type: ignore[misc]
    assert isinstance(timit, DatasetPreset)


def test_preset_fills_only_what_the_recording_does_not_state(tmp_path):
    # nothing stated: the preset fills both
    folder = _png_folder(tmp_path)
    seq = read_sequence(folder, dataset_preset="usc-timit")
    assert seq.fps == 23.18 and seq.spacing_mm == pytest.approx((200 / 68,) * 2)
    assert seq.provenance["fps_source"] == "dataset preset usc-timit"
    assert seq.provenance["spacing_source"] == "dataset preset usc-timit"
    assert seq.provenance["warnings"] == []
    # the recording states fps (sidecar): it wins, and the disagreement is a warning
    (folder / "sequence.json").write_text('{"fps": 30}')
    seq = read_sequence(folder, dataset_preset="usc-timit")
    assert seq.fps == 30 and seq.provenance["fps_source"] == "sidecar"
    assert seq.provenance["spacing_source"] == "dataset preset usc-timit"
    (w,) = seq.provenance["warnings"]
    assert "30.0000 fps" in w and "usc-timit preset 23.1800 fps" in w and "recording's" in w
    # an explicit argument wins over both, without a warning
    seq = read_sequence(folder, dataset_preset="usc-timit", fps=25.0, spacing_mm=1.0)
    assert (seq.fps, seq.spacing_mm) == (25.0, (1.0, 1.0))
    assert seq.provenance["fps_source"] == seq.provenance["spacing_source"] == "argument"
    assert seq.provenance["warnings"] == []


def test_preset_matrix_mismatch_is_a_warning(tmp_path):
    seq = read_sequence(_png_folder(tmp_path, (4, 84, 84)), dataset_preset="usc-timit")
    assert any("matrix 84 x 84 differs from the usc-timit preset's 68 x 68" in w
               for w in seq.provenance["warnings"])  # fmt: skip


def test_hdf5_default_preset_gives_way_to_a_named_one(tmp_path):
    with h5py.File(tmp_path / "r.h5", "w") as f:
        f["recon"] = np.zeros((5, 84, 84), np.float32) + 1
    seq = read_sequence(tmp_path / "r.h5")  # the USC files state nothing: usc75 (format default)
    assert seq.provenance["spacing_source"] == "dataset preset usc75"
    seq = read_sequence(tmp_path / "r.h5", dataset_preset="usc-timit")
    assert seq.fps == 23.18 and seq.provenance["fps_source"] == "dataset preset usc-timit"
    assert any("differs from the usc-timit preset" in w for w in seq.provenance["warnings"])
    # the HDF5 reader's own `dataset` option (the image dataset's name) is not the preset
    with h5py.File(tmp_path / "r.h5", "a") as f:
        f["images"] = np.ones((3, 84, 84), np.float32)
    assert read_sequence(tmp_path / "r.h5", dataset="images").n_frames == 3


def test_unknown_spacing_and_fps_only_for_description(tmp_path):
    folder = _png_folder(tmp_path, fps=10)
    with pytest.raises(SequenceError, match=r"png: pixel spacing unknown.*--spacing.*--dataset"):
        read_sequence(folder)
    seq = read_sequence(folder, require_spacing=False)
    assert seq.spacing_mm is None and seq.provenance["spacing_source"] == UNKNOWN
    assert seq.summary()["spacing_mm"] is None and seq.summary()["duration_s"] == 0.6
    # everything that needs the spacing refuses clearly, naming the recording
    for use in (
        lambda: seq.crop_mm(0, 0, 10, 10),
        lambda: seq.resample(fps=5),
        lambda: seq.save(tmp_path / "x.npz"),
        lambda: write_sequence(seq, tmp_path / "x.nii"),
    ):
        with pytest.raises(SequenceError, match=r"^png: pixel spacing unknown"):
            use()
    assert seq.clip(1, 3).spacing_mm is None  # what does not need it still works
    # fps unknown too
    (folder / "sequence.json").unlink()
    seq = read_sequence(folder, require_fps=False, require_spacing=False)
    assert seq.fps is None and seq.provenance["fps_source"] == UNKNOWN
    assert seq.summary()["duration_s"] is None
    with pytest.raises(SequenceError, match=r"^png: frame rate unknown.*the duration"):
        _ = seq.duration_s


def test_real_avi_has_no_spacing(shared_data):
    avi = shared_data("data/real-rtmri-unlabelled/F2_400.avi")
    with pytest.raises(SequenceError, match=r"F2_400\.avi: pixel spacing unknown"):
        read_sequence(avi)
    seq = read_sequence(avi, require_spacing=False)
    assert seq.frames.shape == (69, 68, 68) and seq.fps == pytest.approx(23.18)
    assert seq.spacing_mm is None and seq.provenance["fps_source"] == "container"
    seq = read_sequence(avi, dataset_preset="usc-timit")
    assert seq.spacing_mm == pytest.approx((2.941, 2.941), abs=1e-3)
    assert seq.provenance["fps_source"] == "container" and seq.provenance["warnings"] == []
