"""Tiny models, synthetic datasets and solvers for the engine tests (CPU, milliseconds)."""

from __future__ import annotations

import random

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from mrisynth.engine import Solver


class SimulatedKill(RuntimeError):
    """Raised by a toy solver to emulate a process dying mid-run."""


class RegressionSet(Dataset):
    """``x`` (4,) ~ N(0, 1), ``y`` (1,) = x @ w + 0.05 noise; fixed by ``seed``; with ``index``."""

    def __init__(self, n: int = 64, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 4, generator=g)
        w = torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
        self.y = self.x @ w + 0.05 * torch.randn(n, 1, generator=g)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "y": self.y[i], "index": torch.tensor(i)}


class RegressionSource:
    """:class:`RegressionSet` as an indexed batch source: ``get_batch(indices, seed)`` builds
    the whole batch by tensor indexing and adds seed-drawn input jitter (like a device bank's
    reference draws)."""

    def __init__(self, n: int = 64, seed: int = 0) -> None:
        self.data = RegressionSet(n, seed)
        self.seeds: list[int] = []

    def __len__(self) -> int:
        return len(self.data)

    def get_batch(self, indices, seed: int) -> dict[str, torch.Tensor]:
        self.seeds.append(int(seed))
        idx = torch.as_tensor(indices, dtype=torch.long)
        g = torch.Generator().manual_seed(int(seed))
        x = self.data.x[idx] + 0.01 * torch.randn(len(idx), 4, generator=g)
        return {"x": x, "y": self.data.y[idx], "index": idx}


class ImageSet(Dataset):
    """``x`` (2, 8, 8) noise images, target ``y`` = 3x3 box blur of ``x`` (2, 8, 8)."""

    def __init__(self, n: int = 32, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 2, 8, 8, generator=g)
        self.y = F.avg_pool2d(self.x, 3, stride=1, padding=1)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "y": self.y[i]}


class MLPSolver(Solver):
    """MLP regression; its augmentation draws from Python, NumPy and torch RNGs (plus dropout),
    so an exact resume needs every RNG state restored."""

    def __init__(
        self,
        lr: float = 1e-2,
        dropout: float = 0.1,
        kill_at: int | None = None,
        nan_at: int | None = None,
        noise: bool = True,
    ) -> None:
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Dropout(dropout), nn.Linear(16, 1))
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=lr, weight_decay=0.01)
        self.kill_at, self.nan_at, self.noise = kill_at, nan_at, noise
        self.calls = 0  # training calls made in this process (not checkpointed on purpose)
        self.seen: list[list[int]] = []
        self.out_dtypes: list[torch.dtype] = []
        self.updates = torch.zeros((), dtype=torch.int64)  # extra solver state

    def models(self):
        return {"net": self.net}

    def optimizers(self):
        return {"main": self.opt}

    def run_step(self, batch, train):
        x = batch["x"]  # (B, 4)
        if train:
            self.calls += 1
            if self.kill_at is not None and self.calls == self.kill_at:
                raise SimulatedKill(f"killed at call {self.calls}")
            self.seen.append(batch["index"].tolist())
            if self.noise:
                x = x + 0.01 * torch.randn_like(x) + 0.01 * float(np.random.randn())
                x = x * (1.0 + 0.01 * random.random())
        pred = self.net(x)  # (B, 1)
        self.out_dtypes.append(pred.dtype)
        loss = F.mse_loss(pred.float(), batch["y"])
        if train and self.nan_at is not None and self.calls == self.nan_at:
            loss = loss * float("nan")
        if train:
            self.optimize(loss)
            self.updates += 1
        return {"loss": loss, "mae": (pred.float() - batch["y"]).abs().mean()}

    def state_dict(self):
        return {"updates": self.updates.clone()}

    def load_state_dict(self, state):
        self.updates = state["updates"].clone()


class ConvSolver(Solver):
    """Two 3x3 convs learning a box blur; records the memory format it sees."""

    def __init__(self, lr: float = 1e-2) -> None:
        self.net = nn.Sequential(
            nn.Conv2d(2, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 2, 3, padding=1)
        )
        self.opt = torch.optim.Adam(self.net.parameters(), lr=lr)
        self.input_channels_last: list[bool] = []

    def models(self):
        return {"net": self.net}

    def optimizers(self):
        return {"main": self.opt}

    def run_step(self, batch, train):
        x = batch["x"]  # (B, 2, 8, 8)
        self.input_channels_last.append(
            x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        )
        loss = F.mse_loss(self.net(x).float(), batch["y"])
        if train:
            self.optimize(loss)
        return {"loss": loss}


def flat_params(solver: Solver) -> torch.Tensor:
    """All parameters of all models, concatenated (1-D)."""
    return torch.cat(
        [p.detach().reshape(-1).float() for m in solver.models().values() for p in m.parameters()]
    )
