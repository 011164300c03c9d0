"""One batch definition through the Trainer: the host Dataset path (DataLoader workers over
``AVClipDataset.get_batch``) feeds exactly the batches of the device bank (CPU, seconds)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Subset

from mrisynth.data.dataset import AVClipDataset, DeviceClipBank
from mrisynth.data.sequence import SpeechMRISequence
from mrisynth.engine import Solver, StepBatchSampler, TrainConfig, Trainer
from mrisynth.engine.trainer import _VALID_STREAM
from mrisynth.transforms.mel import MelConfig
from mrisynth.utils.seed import derive_seed

FPS, SR, SIZE = 25.0, 16000, 16
CFG = MelConfig.wav2lip()


def bar_sequence(seed: int, duration_s: float = 3.0) -> SpeechMRISequence:
    """A bar whose row follows a random loudness; noise makes every frame distinct."""
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * FPS))
    level = rng.uniform(0, 1, n)
    t = np.arange(int(duration_s * SR)) / SR
    audio = np.repeat(level, int(np.ceil(t.size / n)))[: t.size] * np.sin(2 * np.pi * 440 * t)
    frames = rng.integers(0, 40, (n, SIZE, SIZE)).astype(np.uint8)
    for k, r in enumerate(np.rint(2 + level * (SIZE - 6)).astype(int)):
        frames[k, r : r + 2, 2:-2] = 220
    return SpeechMRISequence(
        frames=frames,
        fps=FPS,
        spacing_mm=(2.0, 2.0),
        audio=audio.astype(np.float32),
        sample_rate=SR,
        utterance_id=f"utt{seed}",
    )


SEQS = [bar_sequence(0), bar_sequence(1, 2.0)]
VAL_SEQS = [bar_sequence(7)]


def clips(seqs, **kw) -> AVClipDataset:
    return AVClipDataset(seqs, n_frames=3, window_ms=200, mel_cfg=CFG, sync_window_ms=200, **kw)


class Picked:
    """Indexed batch source over chosen clips of a bank (as the generator recipe's subset)."""

    def __init__(self, source, keep) -> None:
        self.source, self.keep = source, torch.as_tensor(keep, dtype=torch.long)

    def __len__(self) -> int:
        return int(self.keep.numel())

    def get_batch(self, indices, seed):
        return self.source.get_batch(self.keep[torch.as_tensor(indices, dtype=torch.long)], seed)


class RecordingSolver(Solver):
    """One weight; keeps a CPU copy of every training and validation batch it is given."""

    def __init__(self) -> None:
        self.net = nn.Linear(1, 1)
        self.opt = torch.optim.SGD(self.net.parameters(), lr=0.1)
        self.train_batches: list[dict[str, torch.Tensor]] = []
        self.valid_batches: list[dict[str, torch.Tensor]] = []

    def models(self):
        return {"net": self.net}

    def optimizers(self):
        return {"main": self.opt}

    def run_step(self, batch, train):
        (self.train_batches if train else self.valid_batches).append(
            {k: v.detach().cpu().clone() for k, v in batch.items()}
        )
        x = (batch["frames"].mean() + batch["reference"].mean() + batch["mel"].mean() / 10).view(1)
        loss = self.net(x.view(1, 1).float()).square().mean()
        if train:
            self.optimize(loss)
        return {"loss": loss}


def run(tmp_path, name, train, valid, **kw) -> RecordingSolver:
    cfg = TrainConfig(
        max_steps=6,
        batch_size=4,
        out_dir=str(tmp_path / name),
        device="cpu",
        seed=11,
        log_interval=2,
        eval_interval=3,
        ckpt_interval=3,
        progress=False,
        **kw,
    )
    solver = RecordingSolver()
    Trainer(cfg, solver).fit(train, valid)
    return solver


def assert_same_batches(got, want) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.keys() == b.keys()
        for key in a:
            assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("num_workers", [0, 2])
def test_trainer_dataset_path_gives_the_bank_batches(tmp_path, num_workers):
    train_set, val_set = clips(SEQS, seed=1), clips(VAL_SEQS, seed=2)
    keep = [0, 3, 5, 8, 13, 21, 34, 40]
    bank = run(tmp_path, "bank", DeviceClipBank(train_set), Picked(DeviceClipBank(val_set), keep))
    host = run(tmp_path, "host", train_set, Subset(val_set, keep), num_workers=num_workers)
    assert len(bank.train_batches) == 6 and len(bank.valid_batches) == 2 * 2  # 2 evaluations
    assert_same_batches(host.train_batches, bank.train_batches)
    assert_same_batches(host.valid_batches, bank.valid_batches)
    assert host.train_batches[0]["frames"].dtype == torch.float32
    # ... and they are the step-seeded batches of the indexed batch source protocol
    sampler = StepBatchSampler(len(train_set), 4, seed=11, start_step=0, stop_step=6)
    for step, batch in enumerate(host.train_batches):
        want = train_set.get_batch(sampler.indices(step), derive_seed(11, 0, step))
        assert_same_batches([batch], [want])
    val0 = val_set.get_batch(keep[:4], derive_seed(11, _VALID_STREAM, 0))
    assert_same_batches(host.valid_batches[:1], [val0])


def test_dataset_path_resumes_with_the_same_batches(tmp_path):
    train_set = clips(SEQS, seed=1)
    straight = run(tmp_path, "straight", train_set, None, num_workers=2)
    cfg = TrainConfig(
        max_steps=6,
        batch_size=4,
        out_dir=str(tmp_path / "sliced"),
        device="cpu",
        seed=11,
        log_interval=2,
        ckpt_interval=3,
        progress=False,
        num_workers=2,
    )
    first, second = RecordingSolver(), RecordingSolver()
    Trainer(cfg, first).fit(train_set, until_step=3)
    Trainer(cfg, second).fit(train_set)
    assert_same_batches(first.train_batches + second.train_batches, straight.train_batches)


def test_generator_trains_identically_with_and_without_the_device_bank(tmp_path):
    from mrisynth.engine.solvers.generator import GeneratorOptions, train_generator
    from mrisynth.losses import GeneratorLossWeights
    from mrisynth.models.builders import ModelConfig

    model_cfg = ModelConfig(
        name="tiny",
        channels=1,
        img_size=SIZE,
        fps=FPS,
        n_frames=3,
        mel=CFG,
        gen_base_width=4,
        gen_max_width=8,
        gen_embed_dim=8,
        gen_audio_base_width=4,
        disc_base_width=4,
        disc_layers=2,
    )
    weights = dataclasses.replace(GeneratorLossWeights.mri(), sync=0.0, gan=0.0)
    outputs = {}
    for device_data, workers in ((True, 0), (False, 2)):
        out = tmp_path / f"device_data_{device_data}"
        cfg = TrainConfig(
            max_steps=4,
            batch_size=4,
            out_dir=str(out),
            device="cpu",
            progress=False,
            lr_schedule="constant",
            log_interval=2,
            eval_interval=2,
            num_workers=workers,
            seed=3,
        )
        options = GeneratorOptions(max_val_clips=4, device_data=device_data, mask="lower_half")
        train_generator(SEQS, VAL_SEQS, model_cfg, cfg, None, loss_weights=weights, options=options)
        outputs[device_data] = (
            (out / "metrics.jsonl").read_bytes(),
            torch.load(out / "generator.pt", weights_only=True)["weights"],
        )
    (log_bank, w_bank), (log_host, w_host) = outputs[True], outputs[False]
    assert log_host == log_bank  # same losses at every step, bit for bit
    assert w_bank.keys() == w_host.keys()
    for model in w_bank:
        for name, t in w_bank[model].items():
            assert torch.equal(t, w_host[model][name]), (model, name)
