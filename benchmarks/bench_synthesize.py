"""End-to-end speed and memory of ``mrisynth synthesize`` and ``dub``, on a CPU or a GPU.

Run: ``python benchmarks/bench_synthesize.py [--durations 10 60] [--threads 2] [--command
synthesize|dub] [--preset mri_small|mri_base] [--device cuda] [--batch-size N]``. For each
audio duration a fresh process runs the whole command path in-process — audio decode (WAV),
reference read (a phantom NIfTI clip, 84×84 px at 2.4 mm, temporal-variance ROI), log-mel
features, the ``mri_small`` (or ``--preset mri_base``) generator (random weights: speed does not
depend on training) at 83.28 fps, paste-back into the full frame and H.264/AAC MP4 writing — and reports:

- real-time factor: synthesis wall time ÷ audio duration (< 1 is faster than real time;
  issue 14 asks for ≤ 0.5 on 2 cores);
- peak RSS of that process (``resource.getrusage``), which should stay flat with duration
  (the video path is streamed in chunks; only the decoded audio, 64 kB per second at
  16 kHz, grows).

``--command dub``: the talking-face path instead — a still face photo (scikit-image's
astronaut, 512×512 px, Haar-cascade detection), the ``face96`` generator (random weights) at
25 fps, feathered paste-back into the 512 px frame and an RGB H.264/AAC MP4.

The inputs are made in the parent process; the child times Python's imports apart
("imports s"), then the command itself (the first log-mel call includes librosa's JIT).
On a machine shared with other jobs use ``--threads 1``: oversubscribed OpenMP threads make
the generator several times slower.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
#: real speech from the shared data (never copied into the repository): $MRISYNTH_SHARED or ../shared
SPEECH = (
    Path(os.environ.get("MRISYNTH_SHARED") or ROOT.parent / "shared")
    / "data"
    / "real-speech"
    / "arctic_a0009.wav"
)


def _face_inputs(folder: Path) -> None:
    """A random-weights ``face96`` generator (lower-half mask) and a face photo."""
    import imageio.v3 as iio
    import torch
    from skimage.data import astronaut

    from mrisynth.data.spec import DataSpec
    from mrisynth.models.artifacts import Artifact, save_artifact
    from mrisynth.models.builders import ModelConfig, build_generator

    torch.manual_seed(0)
    cfg = ModelConfig.preset("face96")
    mask = np.zeros((cfg.img_size,) * 2, bool)
    mask[cfg.img_size // 2 :] = True
    weights = {"generator": build_generator(cfg).state_dict()}
    config, spec = dataclasses.asdict(cfg), DataSpec.of_model(cfg)
    save_artifact(folder / "generator.pt", Artifact("generator", weights, config, spec, mask=mask))
    iio.imwrite(folder / "face.png", astronaut())


def _inputs(
    folder: Path, duration_s: float, command: str = "synthesize", preset: str = "mri_small"
) -> None:
    """A random-weights ``preset`` generator file, a phantom reference clip (or, for
    ``dub``, :func:`_face_inputs`) and a WAV of ``duration_s`` seconds of real speech
    (CMU ARCTIC a0009 repeated)."""
    import torch

    from mrisynth.data.spec import DataSpec
    from mrisynth.io import read_audio, write_audio, write_sequence
    from mrisynth.models.artifacts import Artifact, save_artifact
    from mrisynth.models.builders import ModelConfig, build_generator
    from mrisynth.phantom.corpus import PhantomConfig, Utterance, synthesize_utterance

    speech, sr = read_audio(SPEECH)
    reps = int(np.ceil(duration_s * sr / len(speech)))
    write_audio(folder / "speech.wav", np.tile(speech, reps)[: int(duration_s * sr)], sr)
    if command == "dub":
        _face_inputs(folder)
        return
    torch.manual_seed(0)
    cfg = ModelConfig.preset(preset)
    size = cfg.img_size
    yy, xx = np.mgrid[:size, :size] / size
    mask = (yy - 0.55) ** 2 + (xx - 0.45) ** 2 < 0.3**2
    save_artifact(
        folder / "generator.pt",
        Artifact(
            kind="generator",
            weights={"generator": build_generator(cfg).state_dict()},
            model_config=dataclasses.asdict(cfg),
            data_spec=DataSpec.of_model(cfg, spacing_mm=(120 / size, 120 / size)),
            mask=mask,
        ),
    )
    utt = Utterance("ref", "spk00", 0, "en", 1, "test", 3)
    seq = synthesize_utterance(PhantomConfig(face=False), utt)["sequence"]
    write_sequence(seq.replace(labels=None, audio=None, sample_rate=None), folder / "ref.nii.gz")


def run_one(
    folder: Path,
    duration_s: float,
    threads: int,
    command: str = "synthesize",
    device: str = "cpu",
    batch_size: int | None = None,
) -> dict[str, float]:
    """Time one end-to-end run on the inputs in ``folder`` in this process; returns seconds,
    real-time factor, peak RSS (MiB) and, on a GPU, peak CUDA memory (MiB)."""
    t0 = time.perf_counter()
    import librosa  # noqa: F401  (the imports are start-up, timed apart)
    import torch

    import mrisynth.cli.dub  # noqa: F401
    import mrisynth.cli.synthesize  # noqa: F401
    import mrisynth.models.artifacts  # noqa: F401
    import mrisynth.synthesis.face  # noqa: F401
    from mrisynth.cli.main import main

    startup = time.perf_counter() - t0
    torch.set_num_threads(threads)
    argv = [command, "--audio", str(folder / "speech.wav"), "--model", str(folder / "generator.pt")]
    if command == "dub":
        argv += ["--face", str(folder / "face.png")]
    else:
        argv += ["--reference", str(folder / "ref.nii.gz")]
    argv += ["--out", str(folder / "out.mp4"), "--no-progress", "--device", device]
    if batch_size is not None:
        argv += ["--batch-size", str(batch_size)]
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    rc = main(argv)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"{command} failed with exit code {rc}")
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "duration_s": duration_s,
        "startup_s": startup,
        "seconds": seconds,
        "rtf": seconds / duration_s,
        "peak_rss_mib": rss_kib / 1024,
        "peak_cuda_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--durations", type=float, nargs="+", default=[10.0, 60.0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--command", choices=("synthesize", "dub"), default="synthesize")
    parser.add_argument(
        "--preset",
        choices=("mri_small", "mri_base"),
        default="mri_small",
        help="synthesize's model",
    )
    parser.add_argument("--device", default="cpu", help="the commands' --device (cpu, cuda)")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="the commands' --batch-size (frames)"
    )
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)  # child: FOLDER DURATION
    args = parser.parse_args()
    if args.one is not None:
        row = run_one(
            Path(args.one[0]),
            float(args.one[1]),
            args.threads,
            args.command,
            args.device,
            args.batch_size,
        )
        print(json.dumps(row))
        return
    rows = []
    for d in args.durations:
        with tempfile.TemporaryDirectory() as tmp:
            # here, so that the child's peak RSS is synthesis only
            _inputs(Path(tmp), d, args.command, args.preset)
            cmd = [sys.executable, __file__, "--one", tmp, str(d), "--threads", str(args.threads)]
            cmd += ["--command", args.command, "--device", args.device]
            cmd += [] if args.batch_size is None else ["--batch-size", str(args.batch_size)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    what = (
        "mrisynth dub, face96 @ 25 fps, a 512x512 face photo"
        if args.command == "dub"
        else f"mrisynth synthesize, {args.preset} @ 83.28 fps, 84x84 phantom reference"
    )
    import torch

    where = (
        f"GPU {torch.cuda.get_device_name(0)}"
        if args.device.startswith("cuda") and torch.cuda.is_available()
        else "CPU"
    )
    print(f"{what}, {where}, {args.threads} torch thread(s)")
    print(
        f"{'audio s':>8} {'imports s':>10} {'wall s':>8} {'RTF':>6} {'peak RSS MiB':>13} "
        f"{'peak CUDA MiB':>14}"
    )
    for r in rows:
        print(
            f"{r['duration_s']:8.0f} {r['startup_s']:10.2f} {r['seconds']:8.2f} "
            f"{r['rtf']:6.3f} {r['peak_rss_mib']:13.0f} {r['peak_cuda_mib']:14.0f}"
        )


if __name__ == "__main__":
    main()
