"""Seeding and random-number-generator state for reproducible, resumable runs.

Every RNG that training code may touch (Python ``random``, NumPy's legacy global generator,
torch CPU and all CUDA devices) is captured by :func:`rng_state` as *tensors and plain ints*, so
the state can be stored in a checkpoint that loads with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

__all__ = [
    "seed_everything",
    "seed_model_init",
    "derive_seed",
    "rng_state",
    "set_rng_state",
]


def derive_seed(*keys: int) -> int:
    """Mix integer keys, e.g. ``(seed, step, rank)``, into one well-spread 63-bit seed.

    Uses :class:`numpy.random.SeedSequence` so that nearby keys (step 10 vs 11, rank 0 vs 1)
    give unrelated streams, which a plain ``seed + step`` does not.

    Raises:
        ValueError: if no key is given or a key is negative.
    """
    if not keys:
        raise ValueError("derive_seed: give at least one integer key")
    if any(int(k) < 0 for k in keys):
        raise ValueError(f"derive_seed: keys must be >= 0, got {keys}")
    state = np.random.SeedSequence([int(k) for k in keys]).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1]))


def seed_everything(seed: int) -> None:
    """Seed Python ``random``, NumPy's global RNG, torch CPU and every CUDA device.

    Args:
        seed: non-negative integer; NumPy only accepts 32 bits, so it gets ``seed % 2**32``.
    """
    if int(seed) < 0:
        raise ValueError(f"seed_everything: seed must be >= 0, got {seed}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds all CUDA devices


_INIT_STREAM = 2**31 - 2  # derive_seed key of model initialisation (apart from rank streams)


def seed_model_init(seed: int) -> None:
    """Seed the global RNGs before models are built, from the run's seed alone.

    Initial weights then depend on the seed only — not on what the process drew before —
    so two runs with one seed train identically, and every DDP rank starts from the same
    weights. Call it right before building the models of a run.
    """
    seed_everything(derive_seed(int(seed), _INIT_STREAM))


def rng_state() -> dict[str, Any]:
    """Capture all global RNG states as tensors/ints (``weights_only``-loadable).

    Returns:
        ``{"python": int64 tensor (627,), "numpy": {...}, "torch": uint8 tensor,
        "cuda": [uint8 tensor per device]}``; ``"cuda"`` is empty when CUDA is not initialised.
    """
    version, internal, gauss_next = random.getstate()
    # Python's Mersenne-Twister state: version, 625 words, cached gaussian (None or float).
    py = torch.tensor([version, *internal, 0 if gauss_next is None else 1], dtype=torch.int64)
    np_state = np.random.get_state(legacy=False)
    if np_state["bit_generator"] != "MT19937":  # pragma: no cover - numpy's global is MT19937
        raise RuntimeError(f"unsupported numpy global bit generator {np_state['bit_generator']}")
    cuda = []
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        cuda = torch.cuda.get_rng_state_all()
    return {
        "python": py,
        "python_gauss": float(gauss_next) if gauss_next is not None else 0.0,
        "numpy": {
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
        "cuda": cuda,
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the RNG states captured by :func:`rng_state`.

    CUDA states are restored only when CUDA is available and the number of devices matches;
    otherwise they are skipped (a CPU resume of a GPU run cannot be bit-exact anyway).

    Raises:
        KeyError: if ``state`` lacks one of ``"python"``, ``"numpy"``, ``"torch"``.
    """
    missing = [k for k in ("python", "numpy", "torch") if k not in state]
    if missing:
        raise KeyError(f"set_rng_state: RNG state lacks {missing}")
    py = [int(v) for v in state["python"].tolist()]
    gauss = float(state.get("python_gauss", 0.0)) if py[-1] else None
    random.setstate((py[0], tuple(py[1:-1]), gauss))
    npst = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": npst["key"].numpy().astype(np.uint32), "pos": int(npst["pos"])},
            "has_gauss": int(npst["has_gauss"]),
            "gauss": float(npst["gauss"]),
        }
    )
    torch.set_rng_state(state["torch"].to(torch.uint8))
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.to(torch.uint8) for s in cuda])
