"""Reader throughput (frames/s) of mrisynth.io for DICOM, NIfTI, HDF5, PNG and MP4, against the
frames/s that training consumes.

Run: ``python benchmarks/bench_data.py [--seconds 4] [--steps 3]``.

A phantom utterance (84×84 px MRI at 83.28 fps, with audio) is written with the package's own
writers (:func:`mrisynth.io.write_sequence`) and read back with :func:`mrisynth.io.read_sequence`
(audio included, as ``mrisynth prepare`` reads), the median of ``--repeat`` reads. Against it,
the frames per second two training loops take in, measured in the same run with the timed
steps of ``bench_train.py``:

- mrisynth's CPU recipe (``configs/generator/pretrain_cpu.yaml``: ``mri_small``, batches of 20
  clips of 2 frames, 0.8 L1 + 0.1 temporal): target + reference frames = 4 frames per clip,
  indexed from the device bank (decoded once, not per step);
- the Wav2Lip-style reference loop of ``bench_train.py`` (``face_small``, batch 16, T = 5):
  10 frames per sample, each decoded from JPEG at every step.

A reader faster than a loop's consumption could feed it from files at every step; mrisynth reads
each recording once (``mrisynth prepare``), so its readers only set the start-up time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_train as bt  # noqa: E402  (a sibling script, not a package)

FORMATS = {
    "DICOM series": ("dicom", "dicom"),
    "NIfTI (.nii.gz)": ("seq.nii.gz", None),
    "HDF5 (USC layout)": ("seq.h5", None),
    "PNG frames": ("png", "png"),
    "MP4 (H.264 + AAC)": ("seq.mp4", None),
}


def phantom_sequence(seconds: float) -> Any:
    """A phantom MRI utterance of at least ``seconds`` s (utterances concatenated)."""
    import numpy as np

    from mrisynth.phantom.corpus import PhantomConfig, Utterance, synthesize_utterance

    parts = []
    i = 0
    while sum(p.n_frames for p in parts) / 83.28 < seconds:
        utt = Utterance(f"u{i}", "spk00", 0, "en", i, "test", 3)
        parts.append(synthesize_utterance(PhantomConfig(face=False), utt)["sequence"])
        i += 1
    first = parts[0]
    frames = np.concatenate([p.frames for p in parts])
    audio = np.concatenate([p.audio for p in parts])
    return first.replace(frames=frames, audio=audio, labels=None)


def reader_rates(seq: Any, folder: Path, repeat: int) -> dict[str, float]:
    """frames/s of :func:`read_sequence` per format (median of ``repeat`` reads)."""
    from mrisynth.io import read_sequence, write_sequence

    out = {}
    for name, (fname, fmt) in FORMATS.items():
        path = folder / fname
        write_sequence(seq, path, format=fmt) if fmt else write_sequence(seq, path)
        times = []
        # an MP4 file stores no pixel spacing: given here as a user would (--spacing)
        extra = {"spacing_mm": seq.spacing_mm} if name.startswith("MP4") else {}
        for _ in range(repeat):
            t0 = time.perf_counter()
            got = read_sequence(path, **extra)
            times.append(time.perf_counter() - t0)
        out[name] = got.n_frames / statistics.median(times)
    return out


def consumption(args: argparse.Namespace, folder: Path) -> dict[str, float]:
    """frames/s taken in by the CPU recipe's and the reference loop's generator steps."""
    from mrisynth.losses.weights import GeneratorLossWeights
    from mrisynth.models.builders import ModelConfig

    device = torch.device("cpu")
    out = {}
    # mrisynth's CPU recipe: mri_small, 2-frame clips x 20, 0.8 L1 + 0.1 temporal
    cfg = ModelConfig.preset("mri_small")
    corpus = bt.make_corpus(4, args.seconds, cfg.img_size, 1, cfg.fps)
    weights = GeneratorLossWeights(recon=0.8, sync=0.0, gan=0.0, temporal=0.1, ssim=0.0)
    tc = bt.train_config(folder / "recipe", 20, 0, device, False, False, args.steps + 2)
    trainer, bank = bt.generator_trainer(cfg, corpus, tc, n_frames=2, weights=weights)
    trainer.fit(bank)
    step = statistics.median(trainer.clocks[-1].steps(skip=1)[0])
    out["mrisynth CPU recipe (mri_small, 20 x 2-frame clips)"] = 20 * 2 * 2 / step
    # the reference loop: face_small, batch 16, T = 5, target + reference decoded per sample
    cfg = ModelConfig.preset("face_small")
    corpus = bt.make_corpus(4, args.seconds, cfg.img_size, cfg.channels, cfg.fps)
    layout = folder / "wav2lip_layout"
    bt.write_wav2lip_layout(corpus, layout, 2 * cfg.img_size)
    ref = bt.ReferenceLoop(cfg, device)
    data = bt.RefGeneratorData(layout, cfg, 10**7, 2)
    clock = bt.StepClock(bt._loader(data, 16, args.workers, device), device)
    for _ in range(args.steps + 2):
        ref.generator_step(next(clock))
    step = statistics.median(clock.steps(skip=1)[0])
    out["Wav2Lip-style reference (face_small, 16 x 5-frame clips)"] = 16 * 2 * cfg.n_frames / step
    return out


def main(argv: list[str] | None = None) -> None:
    import os

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="length of the test recording")
    parser.add_argument("--repeat", type=int, default=3, help="reads per format")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per loop")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        seq = phantom_sequence(args.seconds)
        rates = reader_rates(seq, Path(tmp), args.repeat)
        eats = consumption(args, Path(tmp))
    h, w = seq.frames.shape[1:3]
    print(f"readers: {seq.n_frames} frames of {h}x{w} px ({seq.duration_s:.1f} s at {seq.fps} fps)")
    print(f"machine: {bt.machine()}")
    print(table(rates, eats))


def table(rates: dict[str, float], eats: dict[str, float]) -> str:
    """Readers' frames/s and their ratio to each loop's consumption, then the consumptions."""
    short = [f"x {name.split(' (')[0].split(' ')[-1]}" for name in eats]  # "x recipe", ...
    lines = [f"{'source':<72} {'frames/s':>9} " + " ".join(f"{s:>11}" for s in short)]
    for name, r in rates.items():
        ratios = " ".join(f"{r / e:>11.1f}" for e in eats.values())
        lines.append(f"{'read ' + name:<72} {r:>9.0f} {ratios}")
    for name, e in eats.items():
        lines.append(f"{'training eats: ' + name:<72} {e:>9.0f}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
