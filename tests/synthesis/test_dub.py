"""Talking-face dubbing (``mrisynth dub``): face detection, tracking, crops, paste-back and the
command end to end."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mrisynth.synthesis.face import (
    FaceCropConfig,
    crop_boxes,
    detect_faces,
    dub,
    source_frame_index,
    track_faces,
)


@pytest.fixture(scope="module")
def phantom_face():
    """A phantom face video (96 px, 25 fps) and its speech."""
    from mrisynth.phantom.corpus import PhantomConfig, Utterance, synthesize_utterance

    res = synthesize_utterance(PhantomConfig(face=True), Utterance("u1", "spk00", 0, "en", 1, "test", 5))  # fmt: skip
    seq = res["sequence"]
    return np.asarray(res["face"].frames), res["face"].fps, seq.audio, seq.sample_rate


@pytest.fixture(scope="module")
def face_model(tmp_path_factory):
    """A random-weight 3-channel generator file (tiny sizes, 25 fps, lower-half mask)."""
    import torch

    from mrisynth.data.spec import DataSpec
    from mrisynth.models.artifacts import Artifact, save_artifact
    from mrisynth.models.builders import ModelConfig, build_generator

    cfg = dataclasses.replace(ModelConfig.preset("tiny"), channels=3, fps=25.0)
    torch.manual_seed(0)
    mask = np.zeros((cfg.img_size,) * 2, bool)
    mask[cfg.img_size // 2 :] = True
    path = tmp_path_factory.mktemp("face_model") / "generator.pt"
    state = {"generator": build_generator(cfg).state_dict()}
    save_artifact(path, Artifact("generator", state, dataclasses.asdict(cfg), DataSpec.of_model(cfg), mask=mask))  # fmt: skip
    return path


def test_detector_finds_a_real_photo_and_the_phantom_face(phantom_face):
    from skimage.data import astronaut

    (x, y, w, h), = detect_faces(astronaut()[None])  # fmt: skip
    # the astronaut's face: about x 177, y 66, 95 px (the cascade's own box on this photo)
    assert abs(x - 177) < 12 and abs(y - 66) < 12 and 80 < w < 115
    frames = phantom_face[0]
    found = ~np.isnan(detect_faces(frames)).any(axis=1)
    assert found.mean() > 0.9


def test_crops_frame_the_face_as_the_face_model_was_trained():
    """experiments/face trains on a fixed 64 px box (rows 20-84, columns 16-80) of the
    phantom's 96 px face videos; the default crop around the detected face recovers it."""
    from mrisynth.phantom.corpus import PhantomConfig, plan_corpus, synthesize_utterance

    cfg, crop = PhantomConfig(face=True), FaceCropConfig()
    first = {}
    for utt in plan_corpus(cfg):
        first.setdefault(utt.speaker, utt)
    ious = []
    for speaker in ("spk03", "spk05", "spk06"):
        face = synthesize_utterance(cfg, first[speaker])["face"]
        frames = np.asarray(face.frames)[::4]
        boxes = crop_boxes(track_faces(detect_faces(frames), face.fps / 4, crop), (96, 96), crop)
        top, left, side, _ = np.median(boxes, axis=0)
        rows = max(0.0, min(84, top + side) - max(20, top))
        cols = max(0.0, min(80, left + side) - max(16, left))
        ious.append(rows * cols / (64 * 64 + side * side - rows * cols))
    assert np.median(ious) > 0.75, ious


def test_tracking_bridges_short_gaps_smooths_jitter_and_names_long_gaps():
    rng = np.random.default_rng(0)
    n, fps = 50, 25.0
    det = np.tile([40.0, 30.0, 20.0, 20.0], (n, 1))
    det[:, :2] += rng.normal(0, 2.0, (n, 2))  # detector jitter of 2 px
    det[10:14] = np.nan  # 0.16 s without a face
    cfg = FaceCropConfig()
    track = track_faces(det, fps, cfg)
    assert not np.isnan(track).any()
    assert np.std(np.diff(track[:, 0])) < 0.5 * np.std(np.diff(det[~np.isnan(det[:, 0]), 0]))
    det[20:50] = np.nan  # 1.2 s: too long to bridge
    with pytest.raises(ValueError, match=r"clip.mp4: no face in frames 20-49 \(1.2 s"):
        track_faces(det, fps, cfg, "clip.mp4")
    with pytest.raises(ValueError, match=r"me.png: no face found in its only frame \(0\)"):
        track_faces(np.full((1, 4), np.nan), fps, cfg, "me.png")


def test_crop_boxes_stay_inside_the_frame():
    cfg = FaceCropConfig()
    track = np.array([[2.0, 2.0, 20.0], [95.0, 60.0, 20.0], [30.0, 30.0, 500.0]])
    boxes = crop_boxes(track, (64, 96), cfg)
    for top, left, side, side2 in boxes:
        assert side == side2 and top >= 0 and left >= 0 and top + side <= 64
        assert left + side <= 96
    assert boxes[2, 2] == 64  # larger than the frame: shrunk to it


def test_a_video_shorter_than_the_audio_plays_back_and_forth():
    assert source_frame_index(np.arange(7), 3).tolist() == [0, 1, 2, 1, 0, 1, 2]
    assert source_frame_index(np.arange(5, 7), 3).tolist() == [1, 2]  # a chunk of the same
    assert source_frame_index(np.arange(4), 1).tolist() == [0, 0, 0, 0]


def test_dub_pastes_only_the_painted_region_without_a_seam_and_streams_exactly(
    phantom_face, face_model
):
    frames, fps, audio, sr = phantom_face
    stream = dub(frames, fps, audio, sr, face_model, chunk_s=0.5, batch_size=4, progress=False)
    out = np.concatenate(list(stream))
    assert out.shape == (stream.n_frames, 96, 96, 3) and out.dtype == np.uint8
    assert stream.n_frames == round(len(audio) / sr * 25)
    src = stream.source_frames(0, stream.n_frames).astype(int)
    changed = np.abs(out.astype(int) - src).max(axis=3) > 2  # (T, H, W)
    index = source_frame_index(np.arange(stream.n_frames), len(stream.frames))
    for k, (top, left, side, _) in enumerate(stream.boxes[index]):
        inside = np.zeros((96, 96), bool)
        inside[top + 1 : top + side - 1, left + 1 : left + side - 1] = True
        # outside the box, on its edge and above the painted lower half: the source, exactly
        assert not changed[k][~inside].any()
        assert not changed[k][: top + side // 2 - side // 8].any()
    assert changed.any()  # the (random) generator painted the lower face
    one_chunk = dub(frames, fps, audio, sr, face_model, chunk_s=60, batch_size=4, progress=False)
    assert np.array_equal(np.concatenate(list(one_chunk)), out)  # chunking changes nothing


def test_dub_refuses_an_mri_model_and_a_picture_without_a_face(tmp_path, face_model):
    import torch

    from mrisynth.cli.main import main
    from mrisynth.data.spec import DataSpec
    from mrisynth.models.artifacts import Artifact, save_artifact
    from mrisynth.models.builders import ModelConfig, build_generator

    cfg = ModelConfig.preset("tiny")
    torch.manual_seed(0)
    state = {"generator": build_generator(cfg).state_dict()}
    mri = tmp_path / "mri.pt"
    save_artifact(mri, Artifact("generator", state, dataclasses.asdict(cfg), DataSpec.of_model(cfg)))  # fmt: skip
    grey = np.full((1, 96, 96, 3), 128, np.uint8)
    audio = np.zeros(16000, np.float32) + 0.01 * np.sin(np.arange(16000))
    with pytest.raises(ValueError, match="mri.pt: a 1-channel .MRI. generator; dub needs"):
        dub(grey, None, audio, 16000, mri, progress=False)
    with pytest.raises(ValueError, match="no face found in its only frame"):
        dub(grey, None, audio, 16000, face_model, progress=False)
    # a box given by hand stands in for the detector
    stream = dub(grey, None, audio, 16000, face_model, face_box=(20, 20, 50, 50), progress=False)
    assert stream.boxes[0].tolist() == [26, 19, 52, 52]  # 1.05 x 50 px, 0.13 x 50 px lower
    with pytest.raises(ValueError, match="not inside the 96x96 frame"):
        dub(grey, None, audio, 16000, face_model, face_box=(200, 20, 50, 50), progress=False)
    import imageio.v3 as iio

    iio.imwrite(tmp_path / "wall.png", grey[0])
    from mrisynth.io import write_audio

    write_audio(tmp_path / "a.wav", audio, 16000)
    args = ["dub", "--face", str(tmp_path / "wall.png"), "--audio", str(tmp_path / "a.wav")]
    args += ["--model", str(face_model), "--out", str(tmp_path / "out.mp4"), "--no-progress"]
    assert main(args) != 0
    assert not (tmp_path / "out.mp4").exists()


def test_dub_cli_writes_a_talking_face_mp4_with_audio(tmp_path, phantom_face, face_model):
    import imageio.v3 as iio

    from mrisynth.cli.main import main
    from mrisynth.io import read_sequence, write_audio

    frames, fps, audio, sr = phantom_face
    iio.imwrite(tmp_path / "face.png", frames[0])
    write_audio(tmp_path / "speech.wav", audio, sr)
    out = tmp_path / "dubbed.mp4"
    args = ["dub", "--face", str(tmp_path / "face.png"), "--audio", str(tmp_path / "speech.wav")]
    assert main([*args, "--model", str(face_model), "--out", str(out), "--side-by-side",
                 "--no-progress"]) == 0  # fmt: skip
    seq = read_sequence(out, rgb=True, spacing_mm=1.0, strict_av=False)
    assert seq.frames.shape[1:] == (96, 2 * 96 + 2, 3)  # input | dubbed
    assert abs(seq.n_frames - round(len(audio) / sr * 25)) <= 1
    assert seq.audio is not None and abs(len(seq.audio) / seq.sample_rate - len(audio) / sr) < 0.1
