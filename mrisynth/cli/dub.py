"""``mrisynth dub``: a face image or video + speech audio → a talking-face MP4 with the audio.

Example (after ``dvc repro experiments/face/dvc.yaml``)::

    mrisynth dub --face portrait.png --audio speech.wav \\
        --model experiments/face/models/lipsync --out dubbed.mp4

- face: an image (PNG, JPEG...: image+audio) or a video (MP4...: video+audio, its own head
  motion; played forward and backward when the audio is longer);
- an image is animated by default: head motion and blinks sampled from fitted statistics and
  the speech's energy (``--motion``, ``--seed``; :mod:`mrisynth.synthesis.motion`), or head
  motion copied from a driving video (``--drive``); ``--still`` keeps the head still and the
  eyes open (:mod:`mrisynth.synthesis.animate`);
- audio: WAV, FLAC, MP3 or a video's audio track;
- faces are found with OpenCV's shipped Haar cascade, boxes smoothed across frames, and the
  synthesized lower face is blended back without a seam (:mod:`mrisynth.synthesis.face`);
- a frame range without a face longer than ``--max-gap-s`` is an error naming its frames; no
  output is left behind on any error.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mrisynth.cli.face_crop import add_face_crop_arguments

__all__ = ["add_arguments", "run", "read_face"]

#: Single-image face files.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--face", required=True, help="a face image (PNG, JPEG...) or video (MP4...)"
    )
    parser.add_argument(
        "--audio", required=True, help="speech: WAV, FLAC, MP3, or a video's audio track"
    )
    parser.add_argument(
        "--model",
        help="face generator file or a folder holding generator.pt (default: the face "
        "pipeline's lip-sync model for any face, experiments/face/models/lipsync)",
    )
    parser.add_argument("--out", required=True, type=Path, help="output video (.mp4, with audio)")
    parser.add_argument(
        "--still",
        action="store_true",
        help="a still head: no head motion or blinks for an image; a video's first frame only",
    )
    parser.add_argument(
        "--drive",
        help="image mode: copy the head motion of this video (its tracked face) instead of "
        "sampling it",
    )
    parser.add_argument(
        "--motion",
        type=Path,
        help="image mode: fitted head-motion/blink statistics (JSON from `mrisynth fit-motion`; "
        "default: the phantom's, speech-independent)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the sampled head motion/blinks"
    )
    parser.add_argument(
        "--fps", type=float, help="output frame rate (default: the video's, else the model's)"
    )
    add_face_crop_arguments(parser, "the face model's training framing")
    parser.add_argument(
        "--face-box",
        type=float,
        nargs=4,
        metavar=("X", "Y", "W", "H"),
        help="the face's box in px for every frame, where the detector misses it (still camera)",
    )
    parser.add_argument(
        "--max-gap-s",
        type=float,
        default=1.0,
        help="longest stretch without a detected face that is bridged (s)",
    )
    parser.add_argument(
        "--side-by-side", action="store_true", help="MP4 shows the input | the dubbed face"
    )
    parser.add_argument("--batch-size", type=int, default=32, help="generator batch (frames)")
    parser.add_argument(
        "--chunk-s", type=float, default=4.0, help="seconds synthesized per chunk (memory)"
    )
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def read_face(path: str | Path) -> tuple[np.ndarray, float | None]:
    """A face image or video as ``(T, H, W, 3)`` uint8 RGB frames and its frame rate (None for
    an image).

    Raises:
        FileNotFoundError: missing file. ValueError: unreadable (naming the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"face not found: {path}")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        import imageio.v3 as iio

        try:
            image = np.asarray(iio.imread(path, plugin="pillow"))
        except Exception as e:  # Pillow raises many types for truncated/corrupt files
            raise ValueError(f"{path.name}: unreadable image ({e})") from e
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=-1)
        if image.ndim != 3 or image.shape[-1] not in (3, 4):
            raise ValueError(f"{path.name}: not an RGB or grey image (shape {image.shape})")
        if image.dtype != np.uint8:  # 16-bit PNG
            image = np.rint(image / np.iinfo(image.dtype).max * 255).astype(np.uint8)
        return image[None, ..., :3], None
    from mrisynth.data.sequence import SequenceError
    from mrisynth.io import read_sequence

    try:
        seq = read_sequence(path, audio=False, rgb=True, spacing_mm=1.0, strict_av=False)
    except SequenceError as e:
        raise ValueError(str(e)) from e
    frames = np.asarray(seq.frames)
    if frames.ndim == 3:  # a grey video
        frames = np.repeat(frames[..., None], 3, axis=-1)
    if frames.dtype != np.uint8:
        frames = np.clip(np.rint(frames.astype(np.float32)), 0, 255).astype(np.uint8)
    return frames, float(seq.fps) if seq.fps else None


def run(args: argparse.Namespace) -> int:
    from mrisynth.io import read_audio
    from mrisynth.synthesis import Mp4Writer, StagedOutputs
    from mrisynth.synthesis.animate import animate_stream
    from mrisynth.synthesis.face import FaceCropConfig, dub
    from mrisynth.synthesis.motion import MotionStats

    if args.out.suffix.lower() != ".mp4":
        raise ValueError(f"--out {args.out}: the video must be an .mp4 file")
    crop = FaceCropConfig(scale=args.crop_scale, shift=args.crop_shift, max_gap_s=args.max_gap_s)
    face, face_fps = read_face(args.face)
    image_mode = face_fps is None
    if (args.drive or args.motion) and (not image_mode or args.still):
        raise ValueError("--drive and --motion animate a face image; drop --still or them")
    stats = MotionStats.load(args.motion) if args.motion else None
    drive = read_face(args.drive) if args.drive else None
    if drive is not None and drive[1] is None:
        raise ValueError(f"--drive {args.drive}: a video is needed, not an image")
    audio, sr = read_audio(args.audio)
    stream = dub(
        face,
        face_fps,
        audio,
        sr,
        args.model,
        crop=crop,
        fps=args.fps,
        still=args.still,
        face_box=args.face_box,
        chunk_s=args.chunk_s,
        batch_size=args.batch_size,
        device=args.device,
        progress=not args.no_progress,
        name=Path(args.face).name,
        audio_name=Path(args.audio).name,
    )
    if image_mode and not args.still:
        stream = animate_stream(
            stream,
            face[0],
            stats=stats,
            drive=drive,  # type: ignore[arg-type]
            seed=args.seed,
            face_box=args.face_box,
            crop=crop,
            name=Path(args.face).name,
            drive_name=Path(args.drive).name if args.drive else "",
        )
    h, w = stream.frame_shape
    panel = (h, 2 * w + 2) if args.side_by_side else (h, w)
    with StagedOutputs() as staged:
        mp4 = staged.stage(args.out)
        with Mp4Writer(mp4, stream.fps, panel, stream.audio, stream.sample_rate, rgb=True) as out:
            k0 = 0
            for chunk in stream:
                k1 = k0 + len(chunk)
                if args.side_by_side:
                    chunk = _side_by_side(stream.source_frames(k0, k1), chunk)
                out.write(chunk)
                k0 = k1
    print(
        f"wrote {args.out}: {stream.n_frames} frames at {stream.fps:g} fps "
        f"({stream.duration_s:.2f} s), {h}x{w} px"
    )
    return 0


def _side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``(t, H, W, 3)`` + ``(t, H, W, 3)`` → ``(t, H, 2W + 2, 3)`` with a black separator."""
    gap = np.zeros((*left.shape[:2], 2, 3), np.uint8)
    return np.concatenate([left, gap, right], axis=2)
