"""``mrisynth synthesize`` end to end: outputs, durations, audio track, references, failures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from synth_inputs import REAL_FRAME, REAL_SPEECH, needs

from mrisynth.cli.main import main
from mrisynth.io import read_audio, read_sequence, write_audio
from mrisynth.io.video import read_video
from mrisynth.synthesis import border_jump


def _run(capsys, *args: str | Path) -> tuple[int, str, str]:
    rc = main(["synthesize", "--no-progress", *map(str, args)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _leftovers(folder: Path) -> list[str]:
    """Staging or scratch folders left behind (there must be none)."""
    return [p.name for p in folder.iterdir() if p.name.startswith(".mrisynth-")]


def test_phantom_clip_to_mp4_nifti_and_dicom(tmp_path, capsys, tiny_model_dir, phantom_files):
    audio, sr = read_audio(needs(REAL_SPEECH))
    duration = len(audio) / sr
    out = tmp_path / "out" / "speech.mp4"
    rc, stdout, err = _run(
        capsys,
        "--audio", needs(REAL_SPEECH),
        "--reference", phantom_files["reference"],
        "--model", tiny_model_dir,
        "--out", out,
        "--nifti", tmp_path / "out" / "speech.nii.gz",
        "--dicom", tmp_path / "out" / "dicom",
    )  # fmt: skip
    assert rc == 0, err
    assert "wrote" in stdout and not _leftovers(tmp_path / "out")
    fps = 83.28  # the reference clip's rate
    video = read_video(out)
    assert video.fps == pytest.approx(fps, rel=1e-3)
    assert abs(len(video.frames) - duration * fps) <= 1  # audio duration ± 1 frame
    assert video.frames.shape[1:] == (84, 84)
    # the audio track is there and decodes to the speech (AAC: within a few packets)
    assert video.audio is not None and video.sample_rate == 16000
    assert abs(len(video.audio) / video.sample_rate - duration) < 0.1
    nifti = read_sequence(tmp_path / "out" / "speech.nii.gz")
    assert nifti.spacing_mm == pytest.approx((2.4, 2.4)) and nifti.fps == pytest.approx(fps)
    assert nifti.frames.dtype == np.uint16 and nifti.n_frames == len(video.frames)
    assert nifti.audio is not None  # the audio sidecar travelled with it
    dicom = read_sequence(tmp_path / "out" / "dicom", audio=False)
    assert dicom.n_frames == nifti.n_frames and dicom.spacing_mm == pytest.approx((2.4, 2.4))
    assert np.array_equal(dicom.frames, nifti.frames)
    # no visible box: the step across the ROI's border is the reference's own (+ tolerance)
    ref = read_sequence(phantom_files["reference"]).frames.astype(np.float32)
    from mrisynth.synthesis.roi import find_reference_roi

    box, _ = find_reference_roi(read_sequence(phantom_files["reference"]), 120.0)
    n = min(len(ref), nifti.n_frames)
    tol = 0.02 * float(np.subtract(*np.percentile(ref, [99.5, 1])))
    assert border_jump(nifti.frames[:n], box) <= border_jump(ref[:n], box) + tol


def test_fps_spacing_side_by_side_and_mp4_audio_input(
    tmp_path, capsys, tiny_model_dir, phantom_files
):
    first = tmp_path / "a.mp4"
    rc, _, err = _run(
        capsys, "--audio", phantom_files["audio"], "--reference", phantom_files["reference"],
        "--model", tiny_model_dir, "--out", first,
    )  # fmt: skip
    assert rc == 0, err
    # an MP4's audio track as the audio; another rate and spacing; side by side
    out = tmp_path / "b.mp4"
    rc, _, err = _run(
        capsys, "--audio", first, "--reference", phantom_files["reference"],
        "--model", tiny_model_dir, "--out", out, "--nifti", tmp_path / "b.nii.gz",
        "--fps", "50", "--out-spacing", "3.0", "--side-by-side",
    )  # fmt: skip
    assert rc == 0, err
    audio, sr = read_audio(first)  # what the second run heard
    video = read_video(out)
    assert video.fps == pytest.approx(50.0)
    assert abs(len(video.frames) - len(audio) / sr * 50) <= 1
    assert video.frames.shape[1:] == (68, 3 * 67 + 2 + 1)  # 67 px panels, padded to even
    nifti = read_sequence(tmp_path / "b.nii.gz")
    assert nifti.spacing_mm == pytest.approx((84 * 2.4 / 67,) * 2) and nifti.width == 67


def test_stereo_odd_rate_audio_and_roi_only(tmp_path, capsys, tiny_model_dir, phantom_files):
    speech, sr = read_audio(needs(REAL_SPEECH))
    t = np.arange(int(len(speech) * 22050 / sr)) / 22050
    left = np.interp(t, np.arange(len(speech)) / sr, speech).astype(np.float32)
    wav = write_audio(tmp_path / "stereo.wav", np.stack([left, 0.5 * left], 1), 22050)
    rc, _, err = _run(
        capsys, "--audio", wav, "--reference", phantom_files["reference"],
        "--model", tiny_model_dir, "--out", tmp_path / "roi.mp4",
        "--nifti", tmp_path / "roi.nii.gz", "--roi-only", "--roi-mm", "24", "12", "120", "120",
    )  # fmt: skip
    assert rc == 0, err
    roi = read_sequence(tmp_path / "roi.nii.gz")
    assert roi.frames.shape[1:] == (32, 32)
    assert roi.spacing_mm == pytest.approx((120 / 32, 120 / 32))
    assert abs(roi.n_frames - len(t) / 22050 * 83.28) <= 1


def test_16_bit_png_reference_needs_spacing(tmp_path, capsys, tiny_model_dir, phantom_clip):
    import imageio.v3 as iio

    png = tmp_path / "frame16.png"
    frame = phantom_clip.frames[50].astype(np.uint16) * 16  # 12-bit values spread over 16 bits
    iio.imwrite(png, frame, plugin="pillow")
    assert np.asarray(iio.imread(png)).dtype == np.uint16
    args = ["--audio", needs(REAL_SPEECH), "--reference", png, "--model", tiny_model_dir]
    rc, _, err = _run(capsys, *args, "--out", tmp_path / "x.mp4")
    assert rc == 2 and err.count("\n") == 1 and "frame16.png" in err and "--spacing" in err
    assert not (tmp_path / "x.mp4").exists()
    rc, _, err = _run(
        capsys,
        *args,
        "--spacing",
        "2.4",
        "--out",
        tmp_path / "x.mp4",
        "--nifti",
        tmp_path / "x.nii",
    )
    assert rc == 0, err
    out = read_sequence(tmp_path / "x.nii")
    assert out.frames.dtype == np.uint16 and out.frames.max() > 4095  # its own 16-bit scale
    assert out.fps == pytest.approx(25.0)  # one frame: the model's rate
    assert not _leftovers(tmp_path)


def test_real_a_frame_and_real_speech(tmp_path, capsys, tiny_model_dir):
    """The real /a/ frame (513 px, spacing given) driven by real speech from ../shared."""
    frame_png, speech = needs(REAL_FRAME), needs(REAL_SPEECH)
    out = tmp_path / "aa.mp4"
    rc, _, err = _run(
        capsys, "--audio", speech, "--reference", frame_png, "--spacing", "0.5",
        "--model", tiny_model_dir, "--out", out, "--nifti", tmp_path / "aa.nii.gz",
    )  # fmt: skip
    assert rc == 0, err
    audio, sr = read_audio(speech)
    video = read_video(out)
    assert abs(len(video.frames) - len(audio) / sr * 25.0) <= 1  # the tiny model's 25 fps
    assert video.frames.shape[1:] == (514, 514) and video.audio is not None
    seq = read_sequence(tmp_path / "aa.nii.gz")
    assert seq.frames.shape[1:] == (513, 513) and seq.frames.dtype == np.uint8
    assert seq.spacing_mm == pytest.approx((0.5, 0.5))
    from PIL import Image

    from mrisynth.synthesis import find_roi_in_frame

    ref = np.array(Image.open(frame_png).convert("L")).astype(np.float32)
    box = find_roi_in_frame(ref, (0.5, 0.5), 120.0)
    assert box[2:] == (240, 240)
    tol = 0.02 * float(np.subtract(*np.percentile(ref, [99.5, 1])))
    assert border_jump(seq.frames, box) <= border_jump(ref, box) + tol
    # outside the box the frame is the reference itself
    t, left, h, w = box
    outside = np.ones(ref.shape, bool)
    outside[t : t + h, left : left + w] = False
    assert np.array_equal(
        seq.frames[:, outside], np.repeat(ref[None], len(seq.frames), 0)[:, outside]
    )


def _empty_wav(path: Path) -> Path:
    from scipy.io import wavfile

    wavfile.write(path, 16000, np.zeros(0, np.float32))
    return path


@pytest.mark.parametrize(
    "case, expect",
    [
        ("unreadable audio", "bad.wav: unreadable audio file"),
        ("empty audio", "empty.wav: audio file is empty"),
        ("missing audio", "audio file not found"),
        ("missing model", "no generator model at"),
        ("no model", "make quickstart"),
        ("bad model", "bad.pt: cannot be read"),
        ("missing reference", "reference not found"),
        ("bad output", "must be an .mp4 file"),
    ],
)
def test_failures_give_one_line_and_no_output(
    tmp_path, capsys, monkeypatch, tiny_model_dir, phantom_files, case, expect
):
    (tmp_path / "bad.wav").write_text("not audio at all")
    (tmp_path / "bad.pt").write_bytes(b"\x00" * 64)
    audio = {
        "unreadable audio": tmp_path / "bad.wav",
        "empty audio": _empty_wav(tmp_path / "empty.wav"),
        "missing audio": tmp_path / "nope.wav",
    }.get(case, needs(REAL_SPEECH))
    model = {
        "missing model": ["--model", tmp_path / "no_such_model"],
        "no model": [],
        "bad model": ["--model", tmp_path / "bad.pt"],
    }.get(case, ["--model", tiny_model_dir])
    reference = (
        tmp_path / "nope.nii.gz" if case == "missing reference" else phantom_files["reference"]
    )
    out = tmp_path / ("out.avi" if case == "bad output" else "out.mp4")
    monkeypatch.chdir(tmp_path)  # no experiments/quickstart here
    rc, stdout, err = _run(
        capsys, "--audio", audio, "--reference", reference, *model, "--out", out,
        "--nifti", tmp_path / "out.nii.gz",
    )  # fmt: skip
    assert rc != 0
    assert err.startswith("mrisynth synthesize: error: ") and err.count("\n") == 1, err
    assert expect in err
    assert not out.exists() and not (tmp_path / "out.nii.gz").exists()
    assert not _leftovers(tmp_path)


def test_a_failure_while_writing_leaves_nothing(
    tmp_path, capsys, monkeypatch, tiny_model_dir, phantom_files
):
    import mrisynth.synthesis.output as output

    def broken(self, frames):
        raise ValueError("disk full (simulated)")

    monkeypatch.setattr(output.Mp4Writer, "write", broken)
    out = tmp_path / "o.mp4"
    rc, _, err = _run(
        capsys, "--audio", needs(REAL_SPEECH), "--reference", phantom_files["reference"],
        "--model", tiny_model_dir, "--out", out, "--nifti", tmp_path / "o.nii.gz",
    )  # fmt: skip
    assert rc == 2 and "disk full" in err
    assert list(tmp_path.iterdir()) == []
