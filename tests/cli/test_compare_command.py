"""`mrisynth compare` end to end with tiny random models: the whole path (synthesis,
segmentation, alignment, outputs) runs and writes every output at once; bad input gives one
clear line, a non-zero exit and nothing written.

Random weights cannot articulate, so the flags themselves are tested on the phantom's ground
truth (tests/evaluation/test_compare.py); here the command's plumbing is.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from mrisynth.cli.main import main


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, adapt_pretrained):
    """Random tiny models in the quickstart layout, a phantom frame (NIfTI) and speech."""
    import librosa

    from mrisynth.io import write_audio, write_sequence
    from mrisynth.phantom.corpus import PhantomConfig, Utterance, synthesize_utterance

    root = tmp_path_factory.mktemp("compare")
    models = adapt_pretrained(root / "models", segmenter=True)
    seq = synthesize_utterance(
        PhantomConfig(face=False), Utterance("u", "spk06", 6, "te", 0, "test", 3)
    )["sequence"]
    frame = write_sequence(
        seq.replace(frames=seq.frames[:1], labels=None, audio=None, sample_rate=None),
        root / "frame.nii.gz",
    )
    sr = seq.sample_rate
    reference = write_audio(root / "reference.wav", seq.audio, sr)
    slower = librosa.effects.time_stretch(seq.audio.astype(np.float32), rate=0.8)
    learner = write_audio(root / "learner.wav", slower, sr)
    phones = root / "phones.txt"
    phones.write_text("0.0 0.2 sil\n0.2 0.35 a\n0.35 0.45 ʈ\n0.45 0.6 a\n")
    return {
        "root": root,
        "model": models / "pretrain",
        "frame": frame,
        "reference": reference,
        "learner": learner,
        "phones": phones,
        "sr": sr,
        "audio": seq.audio,
    }


def _args(inputs, out, **over):
    args = {
        "--learner": inputs["learner"],
        "--reference": inputs["reference"],
        "--model": inputs["model"],
        "--frame": inputs["frame"],
        "--out": out,
    }
    args.update(over)
    flat = ["compare", "--no-progress"]
    for k, v in args.items():
        if v is not None:
            flat += [k] if v == "" else [k, str(v)]
    return flat


def test_compare_writes_every_output(inputs, tmp_path, capsys):
    import imageio_ffmpeg

    out = tmp_path / "cmp"
    assert main(_args(inputs, out, **{"--phones": inputs["phones"]})) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"wrote {out}:") and "of 3 phones flagged" in said
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "areagram_learner.png", "areagram_reference.png", "metrics.json", "report.html",
        "report.md", "side_by_side.mp4",
    ]  # fmt: skip
    m = json.loads((out / "metrics.json").read_text())
    assert m["named_by"] == "phones" and m["n_phones"] == 3
    assert [p["phone"] for p in m["phones"]] == ["a", "ʈ", "a"]
    assert m["segmenter"].endswith("segmenter/segmenter.pt")  # found beside the model
    assert m["phones"][1]["learner_start_s"] > m["phones"][1]["start_s"]  # the learner is slower
    assert "ʈ" in (out / "report.md").read_text() and "<table>" in (out / "report.html").read_text()
    # the video: reference frames at the model's rate, with the reference's audio
    probe = imageio_ffmpeg.count_frames_and_secs(str(out / "side_by_side.mp4"))
    assert abs(probe[1] - len(inputs["audio"]) / inputs["sr"]) < 0.15
    import subprocess

    info = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-i", str(out / "side_by_side.mp4")],
        capture_output=True, text=True,
    ).stderr  # fmt: skip
    assert "Audio:" in info


def _fails(capsys, argv, *parts):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("mrisynth compare: error: ")
    for part in parts:
        assert part in err, err
    return err


def test_bad_input_is_one_line_and_writes_nothing(inputs, tmp_path, capsys):
    from mrisynth.io import write_audio

    sr = inputs["sr"]
    out = tmp_path / "out"
    other = write_audio(tmp_path / "at8k.wav", inputs["audio"][::2], sr // 2)
    _fails(capsys, _args(inputs, out, **{"--learner": other}), "at8k.wav is 8000 Hz",
           f"reference.wav is {sr} Hz")  # fmt: skip
    silent = write_audio(tmp_path / "quiet.wav", np.zeros(sr, np.float32), sr)
    _fails(capsys, _args(inputs, out, **{"--reference": silent}), "quiet.wav", "silent")
    _fails(capsys, _args(inputs, out, **{"--learner": tmp_path / "gone.wav"}), "gone.wav")
    _fails(capsys, _args(inputs, out, **{"--segmenter": tmp_path / "nope.pt"}), "nope.pt")
    _fails(capsys, _args(inputs, out, **{"--frame": tmp_path / "noframe.nii.gz"}), "noframe")
    long = tmp_path / "long.txt"
    long.write_text("0 0.5 a\n0.5 9.0 b\n")
    _fails(capsys, _args(inputs, out, **{"--phones": long}), "long.txt", "9.00 s")
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mrisynth")]
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("keep")
    _fails(capsys, _args(inputs, full), "not an empty folder")
    assert [p.name for p in full.iterdir()] == ["x"]
