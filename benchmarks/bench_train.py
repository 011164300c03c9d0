"""Training throughput: mrisynth's trainer against a Wav2Lip-style reference loop, side by side.

Run: ``python benchmarks/bench_train.py`` (CPU, small sizes, ~2-4 min on 2 cores) or
``python benchmarks/bench_train.py --full --device cuda`` (Wav2Lip's sizes on a GPU: ``face96``,
bf16 autocast, channels-last, ``torch.compile`` and fused Adam on mrisynth's side).

Both sides train the SAME modules (mrisynth's generator, sync expert and quality
discriminator of one preset, ``face96`` = Wav2Lip's 96 px RGB, T = 5, widths 16…512) on the
same clips with the same per-sample work, so the ratio measures the training path, not the
architecture:

- reference (written here after Wav2Lip's published training, no code taken from it): fp32,
  eager, Adam; a torch ``DataLoader`` with ``workers`` processes whose items decode JPEG frames
  from a folder per utterance (Wav2Lip's preprocessed layout: ``<utt>/<i>.jpg`` +
  ``<utt>/audio.wav``; crops stored larger than the model's input and resized on load), read
  the WAV and compute the log-mel of the whole utterance per sample. Per stage: an expert
  step (batch 64, in-sync or shifted windows, BCE), a generator step (batch 16, loss
  0.9·L1 + 0.03·sync from a frozen expert + 0.07·GAN) and a quality-discriminator step on real
  vs generated frames. ``loss.item()`` every step, as Wav2Lip logs.
- mrisynth: :class:`~mrisynth.engine.trainer.Trainer` with
  :class:`~mrisynth.engine.solvers.sync_expert.SyncExpertSolver` (pairs from
  :class:`~mrisynth.data.dataset.SyncPairDataset` through ``workers`` DataLoader workers) and
  :class:`~mrisynth.engine.solvers.generator.GeneratorSolver` (the same three loss terms, sync
  on from the first step, batches from the uint8
  :class:`~mrisynth.data.dataset.DeviceClipBank`), frames decoded once up front; channels-last
  as the ``*_gpu`` configs train, and on a CPU with ``--channels-last`` (an opt-in there).
- shortcut row (labelled, NOT a like-for-like speed-up): mrisynth's CPU recipe's generator
  settings, 2-frame clips and no GAN and no sync term (``configs/generator/pretrain_cpu.yaml``).

Reference and mrisynth blocks are interleaved (``--rounds`` rounds of ``--steps`` timed steps
each, after one untimed warm-up step per block), so load from other jobs hits both. Step time is
the wall time between successive batch requests (CUDA synchronised), data wait the time spent
inside the request: the same measurement on both sides, printed on any device. FLOPs per step
are counted with ``torch.utils.flop_counter`` on one reference step; on CUDA the model FLOPs
utilisation (MFU) against the GPU's dense bf16 peak is printed too.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

ROOT = Path(__file__).resolve().parents[1]
#: real speech from the shared data (never copied into the repository): $MRISYNTH_SHARED or ../shared
SPEECH = (
    Path(os.environ.get("MRISYNTH_SHARED") or ROOT.parent / "shared")
    / "data"
    / "real-speech"
    / "arctic_a0009.wav"
)

# Dense bf16 tensor-core peaks (TFLOP/s) by GPU name, from the vendors' data sheets.
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100 PCIe": 756.0, "H100": 989.0, "A100": 312.0, "L4": 121.0}


# ---------------------------------------------------------------------------------- corpus
@dataclasses.dataclass
class Clip:
    """An in-memory utterance: ``frames`` uint8 ``(T, H, W, C)`` (or ``(T, H, W)``), audio."""

    name: str
    frames: np.ndarray
    fps: float
    audio: np.ndarray
    sample_rate: int
    audio_offset_s: float = 0.0


def make_corpus(
    n_utterances: int, seconds: float, size: int, channels: int, fps: float, seed: int = 0
) -> list[Clip]:
    """Smooth moving test images (a drifting blob over a gradient, like a face crop's JPEG
    cost) with real speech (CMU ARCTIC a0009, repeated), ``size`` px."""
    from mrisynth.io import read_audio

    speech, sr = read_audio(SPEECH)
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fps))
    yy, xx = np.mgrid[:size, :size] / size
    out = []
    for u in range(n_utterances):
        phase = rng.uniform(0, 2 * np.pi, 3)
        t = np.arange(n)[:, None, None] / fps
        frames = []
        for c in range(channels):
            cy = 0.5 + 0.2 * np.sin(2 * np.pi * 1.3 * t + phase[c])
            blob = np.exp(-((yy - cy) ** 2 + (xx - 0.5) ** 2) / 0.02)
            frames.append(0.4 * (yy + xx) / 2 + 0.6 * blob)
        img = np.stack(frames, -1) + rng.normal(0, 0.02, (n, size, size, channels))
        img = (np.clip(img, 0, 1) * 255).astype(np.uint8)
        if channels == 1:
            img = img[..., 0]
        start = int(rng.integers(0, len(speech) // 2))
        audio = np.tile(speech, 1 + int(seconds * sr) // len(speech) + 1)[start:]
        out.append(Clip(f"utt{u:03d}", img, fps, audio[: int(seconds * sr)].copy(), sr))
    return out


def write_wav2lip_layout(corpus: list[Clip], folder: Path, stored_px: int) -> None:
    """Wav2Lip's preprocessed layout: ``folder/<utt>/<i>.jpg`` (crops stored at ``stored_px``,
    larger than the model input, as face-detector crops are) and ``folder/<utt>/audio.wav``."""
    from PIL import Image

    from mrisynth.io import write_audio

    for clip in corpus:
        d = folder / clip.name
        d.mkdir(parents=True)
        for i, f in enumerate(clip.frames):
            img = Image.fromarray(f).resize((stored_px, stored_px), Image.BILINEAR)
            img.save(d / f"{i}.jpg", quality=95)
        write_audio(d / "audio.wav", clip.audio, clip.sample_rate)


# ---------------------------------------------------------------------------------- reference
class _RefBase(Dataset):
    """Shared per-sample work of the reference loaders: JPEG decode + resize, WAV + mel."""

    def __init__(self, folder: Path, cfg: Any, length: int, seed: int) -> None:
        self.dirs = sorted(p for p in folder.iterdir() if p.is_dir())
        self.n_frames = [len(list(d.glob("*.jpg"))) for d in self.dirs]
        self.cfg, self.length, self.seed = cfg, length, seed

    def __len__(self) -> int:
        return self.length

    def read_frames(self, d: Path, start: int, n: int) -> np.ndarray:
        """``(n, C, H, W)`` float32 in [0, 1]: decode, resize to the model's size."""
        import cv2

        flag = cv2.IMREAD_COLOR if self.cfg.channels == 3 else cv2.IMREAD_GRAYSCALE
        size = self.cfg.img_size
        out = []
        for i in range(start, start + n):
            img = cv2.imread(str(d / f"{i}.jpg"), flag)
            if img is None:
                raise FileNotFoundError(f"{d / f'{i}.jpg'}: unreadable frame")
            img = cv2.resize(img, (size, size))
            img = img[..., ::-1] if img.ndim == 3 else img[..., None]  # BGR -> RGB
            out.append(img.transpose(2, 0, 1))
        return np.stack(out).astype(np.float32) / 255.0

    def read_mel(self, d: Path) -> np.ndarray:
        """The whole utterance's log-mel, recomputed per sample as Wav2Lip's loader does."""
        from mrisynth.io import read_audio
        from mrisynth.transforms.mel import log_mel

        audio, sr = read_audio(d / "audio.wav")
        return log_mel(audio, sr, self.cfg.mel)


class RefGeneratorData(_RefBase):
    """Wav2Lip-style generator items: a T-frame target window, a random other window of the
    same utterance (identity reference), the target with its lower half zeroed, per-frame mel
    windows and the expert's mel window."""

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        from mrisynth.transforms.mel import frame_window_start_s, frames_to_mel_windows, mel_window

        cfg, t = self.cfg, self.cfg.n_frames
        rng = np.random.default_rng([self.seed, index])
        u = int(rng.integers(len(self.dirs)))
        d, n = self.dirs[u], self.n_frames[u]
        start = int(rng.integers(0, n - t + 1))
        other = int(rng.integers(0, n - t + 1))
        while abs(other - start) < t and n >= 3 * t:
            other = int(rng.integers(0, n - t + 1))
        frames = self.read_frames(d, start, t)
        reference = self.read_frames(d, other, t)
        masked = frames.copy()
        masked[..., cfg.img_size // 2 :, :] = 0.0
        mel = self.read_mel(d)
        windows = frames_to_mel_windows(
            mel,
            t,
            cfg.fps,
            cfg.audio_window_ms,
            cfg.mel,
            center=cfg.audio_window_center,
            first_frame=start,
        )
        s0 = float(frame_window_start_s(start, cfg.fps, cfg.sync_window_ms, False))
        sync_mel = mel_window(mel, s0, cfg.sync_window_ms, cfg.mel)[None]
        return {
            "frames": torch.from_numpy(frames),
            "masked": torch.from_numpy(masked),
            "reference": torch.from_numpy(reference),
            "mel": torch.from_numpy(windows),
            "sync_mel": torch.from_numpy(sync_mel),
        }


class RefExpertData(_RefBase):
    """Wav2Lip-style expert items: Tv frames and an audio window in sync (label 1) or taken
    at another random frame of the utterance (label 0), half and half."""

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        from mrisynth.transforms.mel import frame_window_start_s, mel_window

        cfg, tv = self.cfg, self.cfg.sync_frames
        rng = np.random.default_rng([self.seed, index])
        u = int(rng.integers(len(self.dirs)))
        d, n = self.dirs[u], self.n_frames[u]
        start = int(rng.integers(0, n - tv + 1))
        label = float(rng.random() < 0.5)
        audio_at = start
        if label == 0.0:
            while audio_at == start:
                audio_at = int(rng.integers(0, n - tv + 1))
        frames = self.read_frames(d, start, tv)
        mel = self.read_mel(d)
        s0 = float(frame_window_start_s(audio_at, cfg.fps, cfg.sync_window_ms, False))
        return {
            "frames": torch.from_numpy(frames),
            "mel": torch.from_numpy(mel_window(mel, s0, cfg.sync_window_ms, cfg.mel)[None]),
            "label": torch.tensor(label),
        }


class ReferenceLoop:
    """fp32 eager training of the expert, the generator and the quality discriminator,
    written after Wav2Lip's published training (Adam 1e-4; generator loss 0.9 L1 + 0.03 sync
    + 0.07 GAN; the discriminator's gradients from the generator's GAN term cleared before
    its own step)."""

    def __init__(self, cfg: Any, device: torch.device, seed: int = 0) -> None:
        from mrisynth.models.builders import (
            build_discriminators,
            build_generator,
            build_sync_expert,
        )

        torch.manual_seed(seed)
        self.device = device
        self.expert = build_sync_expert(cfg).to(device)
        self.frozen = build_sync_expert(cfg).to(device).eval().requires_grad_(False)
        self.gen = build_generator(cfg).to(device)
        self.disc = build_discriminators(cfg)[0].to(device)
        self.opt_e = torch.optim.Adam(self.expert.parameters(), lr=1e-4)
        self.opt_g = torch.optim.Adam(self.gen.parameters(), lr=1e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=1e-4, betas=(0.5, 0.999))

    def _to(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    def expert_step(self, batch: dict[str, torch.Tensor]) -> float:
        from mrisynth.losses.sync import expert_bce

        b = self._to(batch)
        v, a = self.expert(b["frames"], b["mel"])  # (B, D) each
        loss = expert_bce(v, a, b["label"])
        self.opt_e.zero_grad()
        loss.backward()
        self.opt_e.step()
        return loss.item()

    def generator_step(self, batch: dict[str, torch.Tensor]) -> float:
        from mrisynth.losses.adversarial import discriminator_loss, generator_adversarial_loss
        from mrisynth.losses.sync import sync_loss

        b = self._to(batch)
        fake = self.gen(b["mel"], b["masked"], b["reference"])  # (B, T, C, H, W)
        l1 = (fake - b["frames"]).abs().mean()
        sync = sync_loss(self.frozen, fake[:, : self.frozen.n_frames_window], b["sync_mel"])
        gan = generator_adversarial_loss(self.disc(fake))
        loss = 0.9 * l1 + 0.03 * sync + 0.07 * gan
        self.opt_g.zero_grad()
        loss.backward()
        self.opt_g.step()
        self.opt_d.zero_grad()  # drop what the GAN term left in the discriminator
        d_loss = discriminator_loss(self.disc(b["frames"]), self.disc(fake.detach()))
        d_loss.backward()
        self.opt_d.step()
        return loss.item() + d_loss.item()


# ---------------------------------------------------------------------------------- timing
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StepClock:
    """Wraps a batch iterator: per batch, the time spent waiting for it and the wall time
    between successive requests (= one training step including its data wait)."""

    def __init__(self, batches: Iterator[Any], device: torch.device) -> None:
        self.batches, self.device = batches, device
        self.waits: list[float] = []
        self.starts: list[float] = []

    def __iter__(self) -> StepClock:
        return self

    def __next__(self) -> Any:
        _sync(self.device)  # the previous step's kernels belong to the previous step
        t0 = time.perf_counter()
        batch = next(self.batches)
        self.waits.append(time.perf_counter() - t0)
        self.starts.append(t0)
        return batch

    def steps(self, skip: int = 1) -> tuple[list[float], list[float]]:
        """(step times, data waits) of all but the first ``skip`` batches; the last batch has
        no successor and no step time."""
        steps = [b - a for a, b in zip(self.starts, self.starts[1:])]
        return steps[skip:], self.waits[skip : len(steps)]


def _timed_trainer_class() -> type:
    from mrisynth.engine.trainer import Trainer

    class TimedTrainer(Trainer):
        """The trainer with its training batches timed (:class:`StepClock`); nothing else."""

        clocks: list[StepClock]

        def _train_batches(self, data: Any, start: int, stop: int) -> Iterator[Any]:
            clock = StepClock(super()._train_batches(data, start, stop), self.device)
            self.clocks.append(clock)
            return clock

    return TimedTrainer


@dataclasses.dataclass
class Measure:
    """Timed steps of one row (gathered over rounds)."""

    batch: int
    steps: list[float] = dataclasses.field(default_factory=list)
    waits: list[float] = dataclasses.field(default_factory=list)

    def add(self, steps: list[float], waits: list[float]) -> None:
        self.steps += steps
        self.waits += waits

    @property
    def step_s(self) -> float:
        return statistics.median(self.steps)

    @property
    def samples_s(self) -> float:
        return self.batch / self.step_s

    @property
    def wait_frac(self) -> float:
        return sum(self.waits) / max(sum(self.steps), 1e-12)


# ---------------------------------------------------------------------------------- mrisynth side
def train_config(
    out: Path,
    batch: int,
    workers: int,
    device: torch.device,
    gpu_opts: bool,
    compile_models: bool,
    total_steps: int,
    seed: int = 0,
    channels_last: bool = False,
    precision: str = "fp32",
) -> Any:
    """The trainer settings of the timed runs: no logging, evaluation or checkpoint inside the
    timed steps (the last step's checkpoint comes after them), constant learning rate;
    channels-last with the GPU settings (as the ``*_gpu`` configs) or when asked for (on a CPU
    an opt-in ``train.channels_last=true``; the ``*_cpu`` configs leave it off); bf16 autocast
    with the GPU settings or ``precision="bf16"`` (on a CPU, ``train.precision=bf16``)."""
    from mrisynth.engine.trainer import TrainConfig

    return TrainConfig(
        max_steps=total_steps,
        batch_size=batch,
        num_workers=workers,
        lr_schedule="constant",
        precision="bf16" if gpu_opts else precision,
        channels_last=gpu_opts or channels_last,
        compile=compile_models,
        device=device.type,
        log_interval=10**6,
        eval_interval=10**6,
        ckpt_interval=10**6,
        keep_last=1,
        out_dir=str(out),
        progress=False,
        resume=False,
        seed=seed,
    )


def fused(opt: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """The same optimiser with Adam's fused CUDA kernel (one launch per step, not per tensor)."""
    import inspect

    params = [p for g in opt.param_groups for p in g["params"]]
    accepted = inspect.signature(type(opt)).parameters  # AdamW's defaults hold more keys
    kwargs = {k: v for k, v in opt.defaults.items() if k in accepted}
    return type(opt)(params, **{**kwargs, "foreach": None, "fused": True})


def generator_trainer(
    cfg: Any,
    corpus: list[Any],
    train_cfg: Any,
    *,
    n_frames: int,
    weights: Any,
    gpu_opts: bool = False,
    seed: int = 0,
) -> tuple[Any, Any]:
    """A timed Trainer with a :class:`GeneratorSolver` (the quality discriminator, and a frozen
    random expert when ``weights.sync > 0``) and its :class:`DeviceClipBank` of ``corpus``.

    Clips are Wav2Lip's set-up: the lower half hidden, cut from the target (``masked_from``
    ``"target"``). Returns ``(trainer, bank)``; the trainer's ``clocks`` time its batches.
    """
    from mrisynth.data.dataset import AVClipDataset, DeviceClipBank
    from mrisynth.engine.solvers.generator import GeneratorSolver
    from mrisynth.models.builders import build_discriminators, build_generator, build_sync_expert

    torch.manual_seed(seed)
    clips = AVClipDataset(
        corpus,
        n_frames=n_frames,
        window_ms=cfg.audio_window_ms,
        mel_cfg=cfg.mel,
        mask="lower_half",
        masked_from="target",
        center=cfg.audio_window_center,
        sync_window_ms=cfg.sync_window_ms,
        seed=seed,
        fps=cfg.fps,
        channels=cfg.channels,
    )
    solver = GeneratorSolver(
        build_generator(cfg),
        weights=weights,
        expert=build_sync_expert(cfg) if weights.sync > 0 else None,
        quality_disc=build_discriminators(cfg)[0] if weights.gan > 0 else None,
        lr=1e-4,
        disc_lr=1e-4,
    )
    if gpu_opts:
        solver.opts = {k: fused(o) for k, o in solver.opts.items()}
    trainer = _timed_trainer_class()(train_cfg, solver)
    trainer.clocks = []
    return trainer, DeviceClipBank(clips, trainer.device)


def wav2lip_weights() -> Any:
    """Wav2Lip's generator loss (0.9 L1 + 0.03 sync + 0.07 GAN), the sync term on from step 0."""
    from mrisynth.losses.weights import GeneratorLossWeights

    return dataclasses.replace(GeneratorLossWeights.face(), sync_enable_below=None)


class OursLoop:
    """mrisynth's trainer path on the same clips: one Trainer per stage, run block by block
    (``fit(until_step=...)`` continues in memory; its end-of-block checkpoint is untimed)."""

    def __init__(
        self,
        cfg: Any,
        corpus: list[Clip],
        out: Path,
        *,
        gen_batch: int,
        expert_batch: int,
        workers: int,
        device: torch.device,
        gpu_opts: bool,
        compile_models: bool,
        shortcut: bool,
        total_steps: int,
        seed: int = 0,
        channels_last: bool = False,
        precision: str = "fp32",
    ) -> None:
        from mrisynth.engine.solvers.sync_expert import SyncExpertSolver, sync_pairs
        from mrisynth.losses.weights import GeneratorLossWeights
        from mrisynth.models.builders import build_sync_expert

        def tc(name: str, batch: int) -> Any:
            return train_config(
                out / name,
                batch,
                workers,
                device,
                gpu_opts,
                compile_models,
                total_steps,
                seed,
                channels_last=channels_last,
                precision=precision,
            )

        torch.manual_seed(seed)
        self.pairs = sync_pairs(corpus, cfg, seed=seed)
        expert_solver = SyncExpertSolver(build_sync_expert(cfg), lr=1e-4)
        if gpu_opts:
            expert_solver.opt = fused(expert_solver.opt)
        self.expert = _timed_trainer_class()(tc("expert", expert_batch), expert_solver)
        self.expert.clocks = []
        self.gen, self.bank = generator_trainer(
            cfg,
            corpus,
            tc("generator", gen_batch),
            n_frames=cfg.n_frames,
            weights=wav2lip_weights(),
            gpu_opts=gpu_opts,
            seed=seed,
        )
        self.short = self.short_bank = None
        if shortcut:
            self.short, self.short_bank = generator_trainer(
                cfg,
                corpus,
                tc("shortcut", gen_batch),
                n_frames=2,
                weights=GeneratorLossWeights(recon=1.0, sync=0.0, gan=0.0),
                gpu_opts=gpu_opts,
                seed=seed,
            )

    @staticmethod
    def block(trainer: Any, data: Any, steps: int) -> tuple[list[float], list[float]]:
        """Train ``steps`` + 2 steps: a warm-up, ``steps`` timed ones and one that ends the
        last timed step; returns (step times, data waits) of the timed ones."""
        trainer.fit(data, until_step=trainer.step + steps + 2)
        clock = trainer.clocks[-1]
        clock.batches = iter(())  # let the block's DataLoader workers exit now
        return clock.steps(skip=1)


# ---------------------------------------------------------------------------------- FLOPs
def count_flops(step: Callable[[Any], Any], batch: Any) -> int:
    """FLOPs of one training step ``step(batch)`` (forward + backward), counted by
    ``torch.utils.flop_counter``."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step(batch)
    return int(counter.get_total_flops())


def peak_tflops(device: torch.device, override: float | None) -> float | None:
    """Dense bf16 peak of the GPU (table above), ``override`` if given, None on a CPU."""
    if override is not None:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, value in PEAK_BF16_TFLOPS.items():
        if key in name:
            return value
    return None


# ---------------------------------------------------------------------------------- main
def _loader(ds: Dataset, batch: int, workers: int, device: torch.device) -> Iterator[Any]:
    loader = DataLoader(
        ds,
        batch_size=batch,
        # in order: each index already draws a random utterance and frame from its own seed,
        # and shuffling 10^7 indices would only add a large permutation per epoch
        shuffle=False,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        drop_last=True,
        persistent_workers=workers > 0,
    )
    while True:  # epochs, as a training script loops
        yield from loader


def machine() -> str:
    """CPU model and cores (and the GPU's name) of this machine."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    text = f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"
    if torch.cuda.is_available():
        text += f", GPU {torch.cuda.get_device_name()}"
    return text


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build both loops, interleave their blocks, return the measured rows."""
    from mrisynth.models.builders import ModelConfig

    device = torch.device(args.device)
    cfg = ModelConfig.preset(args.preset)
    corpus = make_corpus(args.utterances, args.seconds, cfg.img_size, cfg.channels, cfg.fps)
    total = args.rounds * (args.steps + 2)
    rows: dict[str, Measure] = {
        "expert, reference": Measure(args.expert_batch),
        "expert, mrisynth": Measure(args.expert_batch),
        "generator+disc, reference": Measure(args.gen_batch),
        "generator+disc, mrisynth": Measure(args.gen_batch),
    }
    if args.shortcut:
        rows["generator, mrisynth CPU recipe (2-frame clips, no GAN, no sync)"] = Measure(
            args.gen_batch
        )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "wav2lip_layout"
        write_wav2lip_layout(corpus, folder, args.stored_px or 2 * cfg.img_size)
        n_items = 10**7  # items are random draws seeded by their index: effectively endless
        ref = ReferenceLoop(cfg, device)
        ref_e = _loader(
            RefExpertData(folder, cfg, n_items, 1), args.expert_batch, args.workers, device
        )
        ref_g = _loader(
            RefGeneratorData(folder, cfg, n_items, 2), args.gen_batch, args.workers, device
        )
        ours = OursLoop(
            cfg,
            corpus,
            Path(tmp) / "runs",
            gen_batch=args.gen_batch,
            expert_batch=args.expert_batch,
            workers=args.workers,
            device=device,
            gpu_opts=args.gpu_opts,
            compile_models=args.compile,
            shortcut=args.shortcut,
            total_steps=total,
            channels_last=args.channels_last,
            precision=args.precision,
        )
        flops: dict[str, int] = {}
        for r in range(args.rounds):
            for what, batches, step in (
                ("expert", ref_e, ref.expert_step),
                ("generator+disc", ref_g, ref.generator_step),
            ):
                clock = StepClock(batches, device)
                if r == 0:  # the warm-up step, counted (the counter's overhead is untimed)
                    flops[what] = count_flops(step, next(clock))
                else:
                    step(next(clock))
                for _ in range(args.steps + 1):  # the last one only ends the timed ones
                    step(next(clock))
                rows[f"{what}, reference"].add(*clock.steps(skip=1))
                if what == "expert":
                    rows["expert, mrisynth"].add(*ours.block(ours.expert, ours.pairs, args.steps))
                else:
                    rows["generator+disc, mrisynth"].add(
                        *ours.block(ours.gen, ours.bank, args.steps)
                    )
                    if ours.short is not None:
                        key = next(k for k in rows if "CPU recipe" in k)
                        rows[key].add(*ours.block(ours.short, ours.short_bank, args.steps))
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    return {"rows": rows, "flops": flops, "cfg": cfg, "device": device}


def report(result: dict[str, Any], args: argparse.Namespace) -> str:
    """The table: step time, samples/s, data wait and the ratio to the reference row."""
    rows: dict[str, Measure] = result["rows"]
    device, cfg, flops = result["device"], result["cfg"], result["flops"]
    peak = peak_tflops(device, args.peak_tflops)
    ours_opts = (
        "bf16, channels-last, fused Adam"
        if args.gpu_opts
        else args.precision + (", channels-last" if args.channels_last else "")
    )
    if args.compile:
        ours_opts += ", torch.compile"
    lines = [
        f"training throughput, preset {cfg.name} ({cfg.img_size} px, {cfg.channels} ch, "
        f"T={cfg.n_frames}, expert window {cfg.sync_frames} frames), device {device}",
        f"machine: {machine()}",
        f"reference: fp32 eager, JPEG + WAV + mel per sample, {args.workers} workers; "
        f"mrisynth: Trainer, {ours_opts}, {args.workers} workers (expert) / device bank "
        f"(generator); {args.rounds} rounds x {args.steps} timed steps",
        "",
        f"{'row':<66} {'batch':>5} {'step s':>8} {'samples/s':>10} {'data wait':>9} {'x ref':>6}",
    ]
    for name, m in rows.items():
        stage = "expert" if name.startswith("expert") else "generator+disc"
        base = rows[f"{stage}, reference"]
        ratio = m.samples_s / base.samples_s
        lines.append(
            f"{name:<66} {m.batch:>5} {m.step_s:>8.4f} {m.samples_s:>10.1f} "
            f"{100 * m.wait_frac:>8.1f}% {ratio:>6.2f}"
        )
    lines.append("")
    for stage in ("expert", "generator+disc"):
        f = flops.get(stage)
        if not f:
            continue
        text = f"{stage}: {f / 1e9:.1f} GFLOP per step (batch {rows[f'{stage}, reference'].batch})"
        if peak is not None:
            mfu = {
                who: f / rows[f"{stage}, {who}"].step_s / (peak * 1e12)
                for who in ("reference", "mrisynth")
            }
            text += (
                f"; MFU vs {peak:.0f} TFLOP/s bf16 peak: reference {100 * mfu['reference']:.1f} %, "
                f"mrisynth {100 * mfu['mrisynth']:.1f} %"
            )
        lines.append(text)
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--full",
        action="store_true",
        help="Wav2Lip's sizes (face96, batch 16 / expert 64), bf16 + channels-last + compile "
        "+ fused Adam on mrisynth's side, more steps (for a GPU)",
    )
    parser.add_argument(
        "--preset", default=None, help="model preset (default face_small; face96 with --full)"
    )
    parser.add_argument("--gen-batch", type=int, default=16, help="generator batch (Wav2Lip: 16)")
    parser.add_argument("--expert-batch", type=int, default=64, help="expert batch (Wav2Lip: 64)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per block")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="data workers")
    parser.add_argument("--utterances", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each utterance")
    parser.add_argument("--stored-px", type=int, default=None, help="JPEG size (default 2x input)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (CPU)")
    parser.add_argument("--no-shortcut", dest="shortcut", action="store_false")
    parser.add_argument(
        "--channels-last",
        action="store_true",
        help="mrisynth's side channels-last on a CPU too (train.channels_last=true; the *_cpu "
        "configs leave it off; the GPU settings always use it)",
    )
    parser.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        default="fp32",
        help="mrisynth's side on a CPU: bf16 autocast (train.precision=bf16) or fp32 as the "
        "*_cpu configs; the reference stays fp32 (the GPU settings always use bf16)",
    )
    parser.add_argument("--no-compile", dest="no_compile", action="store_true")
    parser.add_argument("--peak-tflops", type=float, default=None, help="GPU peak for MFU")
    args = parser.parse_args(argv)
    args.preset = args.preset or ("face96" if args.full else "face_small")
    args.steps = args.steps or (20 if args.full else 3)
    args.rounds = args.rounds or (3 if args.full else 2)
    args.gpu_opts = args.full and args.device.startswith("cuda")
    args.compile = args.gpu_opts and not args.no_compile
    if min(args.steps, args.rounds, args.gen_batch, args.expert_batch) < 1 or args.workers < 0:
        parser.error("steps, rounds and batch sizes must be >= 1, workers >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print(report(run(args), args), flush=True)


if __name__ == "__main__":
    main()
