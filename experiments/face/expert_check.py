"""Held-out accuracy of face sync experts on speakers that no stage of the pipeline saw.

The pipeline's own figure (``valid/accuracy`` of the exported expert) is measured on the 2
target speakers and is the best of its evaluations, so it is chosen on the data it reports.
This check scores experts on a second phantom built with another seed (other faces and voices),
with the training recipe's protocol: balanced in-sync / off-sync pairs, negatives shifted by
0.2–1 s, up to 3000 pairs spread evenly over the recordings. The 95 % CI resamples recordings
(overlapping windows of one recording are not independent). README, "Talking faces".

    cd experiments/face
    mrisynth phantom --params params.yaml --out /tmp/unseen --set seed=5 n_pretrain_speakers=4
    mrisynth prepare --params params.yaml --manifest /tmp/unseen/manifest.csv --out /tmp/unseen_p
    python expert_check.py /tmp/unseen_p/prepared.csv pretrain,adapt models/expert/expert.pt \\
        models/eval_expert/expert.pt
"""

import sys

import numpy as np
import torch
from torch.utils.data import DataLoader

from mrisynth.cli.train import load_split
from mrisynth.data.intensity import unit_tensor
from mrisynth.engine.solvers.sync_expert import balanced_subset, sync_pairs
from mrisynth.models.artifacts import load_sync_expert

MAX_PAIRS = 3000
NEGATIVE_SHIFT_S = (0.2, 1.0)


def pair_correctness(expert_path: str, manifest: str, splits: list[str]) -> tuple[np.ndarray, ...]:
    """``(correct, recording)``: per pair, whether ``P(sync) > 0.5`` matches the label, and the
    index of the recording the pair comes from."""
    model, cfg = load_sync_expert(expert_path)
    seqs = [s for split in splits for s in load_split(manifest, split, cfg)]
    pairs = sync_pairs(seqs, cfg, seed=11, shift_s=NEGATIVE_SHIFT_S)
    balanced = balanced_subset(pairs, MAX_PAIRS)
    correct, recording = [], []
    with torch.no_grad():
        for batch in DataLoader(balanced, batch_size=128):
            prob = model.sync_probability(unit_tensor(batch["frames"]), batch["mel"].float())
            correct += ((prob > 0.5) == (batch["label"] > 0.5)).tolist()
            recording += batch["sequence"].tolist()
    return np.asarray(correct, float), np.asarray(recording)


def recording_bootstrap_ci(correct: np.ndarray, recording: np.ndarray, n: int = 2000) -> tuple:
    """95 % percentile CI of the accuracy, resampling whole recordings."""
    groups = [correct[recording == r] for r in np.unique(recording)]
    rng = np.random.default_rng(0)
    means = [
        np.concatenate([groups[i] for i in rng.integers(0, len(groups), len(groups))]).mean()
        for _ in range(n)
    ]
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def main(manifest: str, splits: str, *experts: str) -> None:
    torch.set_num_threads(2)
    print("| expert | held-out accuracy [95% CI] | pairs | recordings |")
    print("|---|---|---|---|")
    for path in experts:
        correct, recording = pair_correctness(path, manifest, splits.split(","))
        lo, hi = recording_bootstrap_ci(correct, recording)
        n_rec = len(np.unique(recording))
        print(f"| {path} | {correct.mean():.3f} [{lo:.3f}, {hi:.3f}] | {len(correct)} | {n_rec} |")


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit("usage: python expert_check.py PREPARED_CSV SPLITS EXPERT [EXPERT ...]")
    main(*sys.argv[1:])
