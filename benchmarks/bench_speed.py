"""Speed benchmarks, each a ratio measured side by side in one run.

Run: ``python benchmarks/bench_speed.py [--device cuda] [--quick]``. Prints a table:

- phantom: seconds of speech synthesised per second of compute (MRI + labels + audio), >1 = faster
  than real time;
- acoustics: tube-model audio, real-time factor;
- generator inference: synthesized frames per second ÷ 83.28 fps (real-time factor) for
  ``mri_small`` and ``mri_base``;
- data path: batches/s of the on-device uint8 bank ÷ batches/s of the DataLoader path;
- training step (GPU only): bf16 + channels-last ÷ fp32 steps per second for the generator.

Numbers depend on the machine; only ratios measured in the same run are compared.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def _timeit(fn, repeat: int = 3) -> float:
    """Median wall time (s) of ``fn()`` after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def bench_phantom() -> tuple[str, float]:
    from mrisynth.phantom.corpus import PhantomConfig, Utterance, synthesize_utterance

    cfg = PhantomConfig(face=False)
    utt = Utterance("b", "spk00", 0, "en", 1, "test", 3)
    duration = synthesize_utterance(cfg, utt)["sequence"].duration_s
    t = _timeit(lambda: synthesize_utterance(cfg, utt), repeat=2)
    return "phantom (MRI+labels+audio), x real time", duration / t


def bench_acoustics() -> tuple[str, float]:
    from mrisynth.phantom.acoustics import synthesize_speech

    n = 5000  # 5 s at 1 kHz control rate
    rng = np.random.default_rng(0)
    areas = np.full((n, 44), 3.0) + rng.uniform(0, 0.5, (n, 44))
    ones = np.ones(n)

    def run():
        synthesize_speech(
            areas, 0.4, 0 * ones, ones, 120 * ones, 0 * ones, control_rate_hz=1000.0, rng=rng
        )

    return "acoustics (KL tube, 16 kHz), x real time", 5.0 / _timeit(run)


def bench_generator(preset: str, device: str) -> tuple[str, float]:
    from mrisynth.models.builders import ModelConfig, build_generator

    cfg = ModelConfig.preset(preset)
    gen = build_generator(cfg).to(device).eval()
    b = 83  # about one second of video at 83.28 fps
    a = torch.randn(b, 1, 1, cfg.mel.n_mels, cfg.audio_window_steps, device=device)
    x = torch.rand(b, 1, cfg.channels, cfg.img_size, cfg.img_size, device=device)

    @torch.no_grad()
    def run():
        gen(a, x, x)

    fps = b / _timeit(run)
    return f"generator {preset} inference, x real time (83.28 fps)", fps / 83.28


def bench_data_path(device: str) -> tuple[str, float]:
    from torch.utils.data import DataLoader

    from mrisynth.data.dataset import AVClipDataset, DeviceClipBank
    from mrisynth.data.sequence import SpeechMRISequence
    from mrisynth.transforms.mel import MelConfig

    rng = np.random.default_rng(0)
    seqs = [
        SpeechMRISequence(
            rng.integers(0, 255, (400, 64, 64), dtype=np.uint8),
            fps=83.28,
            spacing_mm=2.0,
            audio=rng.normal(0, 0.1, int(400 / 83.28 * 16000)).astype(np.float32),
            sample_rate=16000,
        )
        for _ in range(4)
    ]
    ds = AVClipDataset(seqs, n_frames=5, window_ms=200, mel_cfg=MelConfig.mri())
    bank = DeviceClipBank(ds, device)
    loader = DataLoader(ds, batch_size=32, shuffle=True)
    n = 20

    def via_loader():
        it = iter(loader)
        for _ in range(n):
            batch = next(it)
            {k: v.to(device) for k, v in batch.items()}

    gen = torch.Generator(device=device).manual_seed(0)

    def via_bank():
        for _ in range(n):
            bank.sample(32, gen)

    return "data: device uint8 bank / DataLoader (batches/s)", _timeit(via_loader, 2) / _timeit(
        via_bank, 2
    )


def bench_amp(device: str) -> tuple[str, float]:
    from mrisynth.models.builders import ModelConfig, build_generator

    cfg = ModelConfig.preset("mri_base")

    def step_fn(amp: bool):
        gen = build_generator(cfg).to(device)
        if amp:
            gen = gen.to(memory_format=torch.channels_last)
        opt = torch.optim.Adam(gen.parameters(), 1e-4)
        b = 32
        a = torch.randn(b, 1, 1, cfg.mel.n_mels, cfg.audio_window_steps, device=device)
        x = torch.rand(b, 1, 1, cfg.img_size, cfg.img_size, device=device)

        def run():
            for _ in range(5):
                with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=amp):
                    loss = (gen(a, x, x) - x).abs().mean()
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)

        return run

    return "train step bf16+channels-last / fp32 (GPU)", _timeit(step_fn(False)) / _timeit(
        step_fn(True)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="skip the phantom benchmark")
    args = parser.parse_args()
    rows = []
    if not args.quick:
        rows.append(bench_phantom())
    rows.append(bench_acoustics())
    rows.append(bench_generator("mri_small", args.device))
    rows.append(bench_generator("mri_base", args.device))
    rows.append(bench_data_path(args.device))
    if args.device.startswith("cuda"):
        rows.append(bench_amp(args.device))
    width = max(len(r[0]) for r in rows)
    print(
        f"{'benchmark':<{width}}  ratio   (device: {args.device}, threads: {torch.get_num_threads()})"
    )
    for name, ratio in rows:
        print(f"{name:<{width}}  {ratio:6.2f}")


if __name__ == "__main__":
    main()
