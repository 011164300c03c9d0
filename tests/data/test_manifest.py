"""CSV manifests: round trip, validation messages, loading sequences and labels."""

from __future__ import annotations

import numpy as np
import pytest

from mrisynth.data.manifest import (
    ManifestEntry,
    ManifestError,
    load_manifest_sequences,
    read_manifest,
    write_manifest,
    write_manifest_rows,
)
from mrisynth.data.sequence import SpeechMRISequence
from mrisynth.io import write_audio, write_labels_nifti, write_nifti, write_png_sequence


def _seq(t=10, fps=20.0, sr=8000):
    frames = np.random.default_rng(0).integers(0, 255, (t, 6, 7)).astype(np.uint8)
    audio = np.random.default_rng(1).uniform(-0.3, 0.3, int(t / fps * sr)).astype(np.float32)
    return SpeechMRISequence(frames=frames, fps=fps, spacing_mm=2.0, audio=audio, sample_rate=sr)


def test_round_trip_keeps_extra_columns(tmp_path):
    entries = [
        ManifestEntry("a", "img/a.nii.gz", "wav/a.wav", "spk1", "en", "train", 83.28,
                      (2.4, 2.5), -0.01, 'say "hi", please', {"labels_path": "lab/a.nii.gz"}),
        ManifestEntry("b", "img/b", split="test", extra={"face_path": "f.png"}),
    ]  # fmt: skip
    write_manifest(entries, tmp_path / "m.csv")
    back = read_manifest(tmp_path / "m.csv")
    assert back[0] == entries[0]
    assert back[1].extra == {"face_path": "f.png"}  # its empty labels_path cell is left out
    assert "labels_path,face_path" in (tmp_path / "m.csv").read_text().splitlines()[0]
    assert back[1].fps is None and back[1].spacing_mm is None


@pytest.mark.parametrize(
    "body, pattern",
    [
        ("id,audio_path\na,x.wav\n", r"missing required column\(s\) \['image_path'\]"),
        ("id,image_path,fps\na,x.nii,fast\n", r"line 2, column 'fps': 'fast' is not a number"),
        ("id,image_path,fps\na,x.nii,-3\n", r"line 2, column 'fps'.*positive"),
        ("id,image_path\na,x.nii\n,y.nii\n", r"line 3, column 'id': required value is empty"),
        ("id,image_path\na,x.nii\na,y.nii\n", r"line 3, column 'id': duplicate id 'a'"),
        ("id,image_path,spacing_mm\na,x.nii,1;2;3\n", r"line 2, column 'spacing_mm'"),
        ("id,image_path\na,x.nii,extra\n", r"line 2: more cells than header"),
    ],
)
def test_validation_names_row_and_column(tmp_path, body, pattern):
    (tmp_path / "m.csv").write_text(body)
    with pytest.raises(ManifestError, match=pattern):
        read_manifest(tmp_path / "m.csv")


def test_load_sequences_with_labels_and_split(tmp_path):
    seq = _seq()
    write_nifti(seq, tmp_path / "img" / "a.nii.gz")
    write_audio(tmp_path / "wav" / "a.wav", seq.audio, seq.sample_rate)
    labels = (seq.frames % 5).astype(np.uint8)
    write_labels_nifti(seq.replace(labels=labels), tmp_path / "lab" / "a.nii.gz")
    write_png_sequence(seq, tmp_path / "img" / "b")
    (tmp_path / "img" / "b" / "sequence.json").unlink()  # fps/spacing come from the manifest
    entries = [
        ManifestEntry("a", "img/a.nii.gz", "wav/a.wav", "spk1", "en", "train",
                      extra={"labels_path": "lab/a.nii.gz"}),
        ManifestEntry("b", "img/b", None, "spk2", "ja", "test", fps=27.0, spacing_mm=(1.0, 1.0),
                      transcript="konnichiwa"),
    ]  # fmt: skip
    write_manifest(entries, tmp_path / "manifest.csv")
    train = load_manifest_sequences(tmp_path / "manifest.csv", split="train")
    assert len(train) == 1
    a = train[0]
    np.testing.assert_array_equal(a.frames, seq.frames)
    np.testing.assert_array_equal(a.labels, labels)
    np.testing.assert_array_equal(a.audio, seq.audio)
    assert (a.utterance_id, a.speaker, a.language) == ("a", "spk1", "en")
    assert a.provenance["source"] == "img/a.nii.gz"
    assert a.provenance["audio_source"] == "wav/a.wav"
    (b,) = load_manifest_sequences(tmp_path / "manifest.csv", split="test")
    assert b.fps == 27.0 and b.transcript == "konnichiwa" and b.labels is None
    assert len(load_manifest_sequences(tmp_path / "manifest.csv")) == 2


def test_write_manifest_rows_validates_dict_rows(tmp_path):
    rows = [{"id": "u1", "image_path": "a.nii.gz", "fps": "83.28", "spacing_mm": "2.4",
             "audio_offset_s": "-0.012000", "labels_path": "a_labels.nii.gz"}]  # fmt: skip
    write_manifest_rows(rows, tmp_path / "m.csv")
    (e,) = read_manifest(tmp_path / "m.csv")
    assert (e.fps, e.spacing_mm, e.audio_offset_s) == (83.28, (2.4, 2.4), -0.012)
    assert e.extra == {"labels_path": "a_labels.nii.gz"}
    with pytest.raises(ManifestError, match=r"row 1, column 'fps'"):
        write_manifest_rows([{"id": "u1", "image_path": "a", "fps": "0"}], tmp_path / "n.csv")
