"""Training datasets for the generator and the sync expert, and a GPU-resident batch bank.

All of them are built on a list of sequences: :class:`~mrisynth.data.sequence.SpeechMRISequence`
(frames ``(T, H, W)``, one channel) or any object with the same attributes (``frames``, ``fps``,
``audio``, ``sample_rate``, ``audio_offset_s``) whose frames are ``(T, H, W, C)`` (e.g. RGB face
video). Frames are kept as uint8; float frames in [0, 1] are scaled by 255, other ranges
min–max per sequence (as :meth:`SpeechMRISequence.to_uint8`). Each sequence's log-mel is
computed once; the window for every frame comes from
:func:`mrisynth.transforms.mel.frames_to_mel_windows` (the function inference uses too).

One batch definition: a generator training batch is ``get_batch(indices, seed)``, the *indexed
batch source* protocol of :class:`~mrisynth.engine.trainer.Trainer`, and
:meth:`AVClipDataset.get_batch` (host, per-clip NumPy work: the reference implementation) and
:meth:`DeviceClipBank.get_batch` (tensor indexing on the device) return the same batch, bit for
bit: floats in [0, 1], with the references of the whole batch drawn by
:func:`draw_reference_frames` from a CPU generator seeded by ``seed``. So a run trains on the
same data with or without the device bank.

Single items (``dataset[i]``, uint8, for inspection and plain DataLoaders) draw their reference
by the same rule from the seed ``derive_seed(seed, epoch, index)`` (call ``set_epoch`` each
epoch), so an item is reproducible regardless of worker or order; the sync-pair dataset draws
from ``(seed, epoch, index)`` as well.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from mrisynth.data.intensity import to_uint8, unit_tensor
from mrisynth.transforms.mel import (
    MelConfig,
    PadMode,
    frame_window_start_s,
    frames_in_window,
    frames_to_mel_windows,
    log_mel,
    mel_step_of_time,
    mel_window,
    window_steps,
)
from mrisynth.utils.seed import derive_seed

logger = logging.getLogger(__name__)

__all__ = [
    "ClipIndex",
    "AVClipDataset",
    "SyncPairDataset",
    "DeviceClipBank",
    "vocal_tract_mask",
    "lower_half_mask",
    "pick_reference_start",
    "draw_reference_frames",
]

MaskSpec = Literal["lower_half", "vocal_tract"] | np.ndarray


# ---------------------------------------------------------------------------------- helpers
def _name(seq: Any, i: int) -> str:
    uid = getattr(seq, "utterance_id", None)
    return f"sequence {i}" + (f" ({uid})" if uid else "")


def _frames_uint8(seq: Any, i: int) -> np.ndarray:
    """``(T, C, H, W)`` uint8 from ``(T, H, W)`` or ``(T, H, W, C)`` frames."""
    f = np.asarray(seq.frames)
    if f.ndim == 3:
        f = f[:, None]
    elif f.ndim == 4:
        f = np.moveaxis(f, -1, 1)
    else:
        raise ValueError(
            f"{_name(seq, i)}: frames must be (T, H, W) or (T, H, W, C), got {f.shape}"
        )
    return np.ascontiguousarray(to_uint8(f))


def lower_half_mask(height: int, width: int) -> np.ndarray:
    """``(H, W)`` bool, True on rows ``H//2:`` (Wav2Lip's masked mouth region)."""
    m = np.zeros((height, width), dtype=bool)
    m[height // 2 :] = True
    return m


def vocal_tract_mask(frames: np.ndarray, dilation_px: int = 2, min_size_px: int = 16) -> np.ndarray:
    """Region of the moving articulators in an MRI sequence.

    Pixels whose temporal standard deviation is above Otsu's threshold (of the std map),
    small specks removed, dilated by ``dilation_px`` and holes filled.

    Args:
        frames: ``(T, H, W)`` with ``T >= 2`` (any numeric dtype).
        dilation_px: dilation radius in pixels (margin around the moving region).
        min_size_px: connected components smaller than this (pixels) are dropped.

    Returns:
        ``(H, W)`` bool mask.

    Raises:
        ValueError: wrong shape, fewer than 2 frames, or no temporal variation at all.
    """
    from scipy import ndimage
    from skimage.filters import threshold_otsu
    from skimage.morphology import disk, remove_small_objects

    f = np.asarray(frames, dtype=np.float32)
    if f.ndim != 3 or f.shape[0] < 2:
        raise ValueError(f"vocal_tract_mask: frames must be (T>=2, H, W), got {f.shape}")
    std = f.std(axis=0)
    if float(std.max()) <= 0:
        raise ValueError("vocal_tract_mask: frames do not change over time (no moving region)")
    mask = std > threshold_otsu(std)
    if min_size_px > 1 and mask.sum() > min_size_px:
        mask = remove_small_objects(mask, max_size=min_size_px - 1)
    if dilation_px > 0:
        mask = ndimage.binary_dilation(mask, structure=disk(dilation_px))
    return ndimage.binary_fill_holes(mask)


def pick_reference_start(
    start: torch.Tensor, max_start: torch.Tensor, n_frames: int, u: torch.Tensor
) -> torch.Tensor:
    """Reference clip starts from uniforms ``u`` in [0, 1), avoiding overlap with the target.

    Draws uniformly among starts ``r`` in ``0..max_start`` with ``|r − start| >= n_frames``;
    where no such start exists, uniformly among all ``0..max_start``. Works elementwise on
    tensors of any shape and device (shared by the Dataset and the device bank).
    """
    n_all = max_start + 1
    ex_lo = torch.clamp(start - n_frames + 1, min=0)
    ex_hi = torch.minimum(max_start, start + n_frames - 1)
    n_ex = ex_hi - ex_lo + 1
    n_ok = n_all - n_ex
    r_ok = torch.floor(u * n_ok.clamp(min=1)).long()
    r_ok = r_ok + (r_ok >= ex_lo).long() * n_ex  # skip over the excluded interval
    r_any = torch.floor(u * n_all).long()
    return torch.where(n_ok > 0, r_ok, r_any)


def draw_reference_frames(
    start: torch.Tensor | np.ndarray,
    max_start: torch.Tensor | np.ndarray,
    n_frames: int,
    reference: Literal["random_other_time", "first"],
    seed: int,
) -> torch.Tensor:
    """The reference frames of a batch of clips: THE rule of the Dataset and the device bank.

    ``"first"``: frame 0, repeated. ``"random_other_time"``: one uniform ``u`` per clip, drawn
    in batch order as ``torch.rand(B, dtype=float64)`` from a CPU ``torch.Generator`` seeded by
    ``seed`` (the CPU stream, whatever device the batch is built on), mapped to a start by
    :func:`pick_reference_start`; the reference is ``T`` consecutive frames from there.

    Args:
        start: ``(B,)`` clip start frames (sequence-local).
        max_start: ``(B,)`` last valid clip start of each clip's sequence (``length - T``).
        n_frames: clip length ``T``.
        reference: ``"random_other_time"`` or ``"first"``.
        seed: the batch's seed.

    Returns:
        ``(B, T)`` int64 sequence-local frame indices, on the CPU.
    """
    start = torch.as_tensor(start, dtype=torch.long).cpu().reshape(-1)
    t = torch.arange(n_frames)
    if reference == "first":
        return torch.zeros(start.numel(), n_frames, dtype=torch.long)
    g = torch.Generator().manual_seed(int(seed))
    u = torch.rand(start.numel(), generator=g, dtype=torch.float64)
    max_start = torch.as_tensor(max_start, dtype=torch.long).cpu().reshape(-1)
    r0 = pick_reference_start(start, max_start, n_frames, u)
    return r0[:, None] + t


def _clip_ids(indices: Sequence[int] | torch.Tensor | np.ndarray, n: int) -> torch.Tensor:
    """``(B,)`` int64 CPU clip indices, checked against ``0..n-1``."""
    ids = torch.as_tensor(np.asarray(indices) if isinstance(indices, range) else indices)
    ids = ids.to(device="cpu", dtype=torch.long).reshape(-1)
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= n):
        bad = ids[(ids < 0) | (ids >= n)][0]
        raise IndexError(f"clip index {int(bad)} out of range for {n} clips")
    return ids


class ClipIndex:
    """All valid clip starts ``(sequence, start_frame)`` over sequences of given lengths.

    Args:
        lengths: frames per sequence.
        n_frames: clip length ``T`` in frames.
        stride: step between clip starts (frames).

    Sequences shorter than ``n_frames`` are skipped (logged); none left raises ValueError.
    """

    def __init__(self, lengths: Sequence[int], n_frames: int, stride: int = 1) -> None:
        if n_frames < 1 or stride < 1:
            raise ValueError(
                f"ClipIndex: n_frames and stride must be >= 1, got {n_frames}, {stride}"
            )
        seqs, starts = [], []
        for s, n in enumerate(lengths):
            k = np.arange(0, n - n_frames + 1, stride)
            if k.size == 0:
                logger.warning(
                    "sequence %d has %d frames < clip length %d: skipped", s, n, n_frames
                )
            seqs.append(np.full(k.size, s, dtype=np.int64))
            starts.append(k.astype(np.int64))
        self.sequence = np.concatenate(seqs) if seqs else np.zeros(0, np.int64)
        self.start = np.concatenate(starts) if starts else np.zeros(0, np.int64)
        if self.sequence.size == 0:
            raise ValueError(
                f"clip length {n_frames} frames is longer than every sequence "
                f"(longest: {max(lengths, default=0)} frames)"
            )
        self.n_frames = n_frames

    def __len__(self) -> int:
        return int(self.sequence.size)

    def __getitem__(self, i: int) -> tuple[int, int]:
        return int(self.sequence[i]), int(self.start[i])


class _Prepared:
    """Sequences as uint8 ``(T, C, H, W)`` arrays + mel, with shared checks."""

    def __init__(
        self,
        sequences: Sequence[Any],
        mel_cfg: MelConfig,
        fps: float | None,
        channels: int | None,
    ) -> None:
        if len(sequences) == 0:
            raise ValueError("no sequences given")
        self.frames, self.mels, self.offsets = [], [], []
        ref_fps = float(fps) if fps else float(sequences[0].fps)
        shape = None
        for i, seq in enumerate(sequences):
            if abs(float(seq.fps) - ref_fps) > 1e-6 * ref_fps:
                raise ValueError(
                    f"{_name(seq, i)}: fps {seq.fps} differs from {ref_fps}; resample all "
                    "sequences to one frame rate first (SpeechMRISequence.resample)"
                )
            if getattr(seq, "audio", None) is None:
                raise ValueError(f"{_name(seq, i)}: has no audio")
            f = _frames_uint8(seq, i)
            if channels is not None and f.shape[1] != channels:
                raise ValueError(
                    f"{_name(seq, i)}: frames have {f.shape[1]} channel(s), expected {channels}"
                )
            if shape is None:
                shape = f.shape[1:]
            elif f.shape[1:] != shape:
                raise ValueError(
                    f"{_name(seq, i)}: frame shape (C, H, W) {f.shape[1:]} differs from {shape}; "
                    "crop/resample all sequences to one size"
                )
            self.frames.append(f)
            self.mels.append(log_mel(seq.audio, seq.sample_rate, mel_cfg))
            self.offsets.append(float(getattr(seq, "audio_offset_s", 0.0)))
        self.fps = ref_fps
        self.channels, self.height, self.width = (int(x) for x in shape)
        self.lengths = [f.shape[0] for f in self.frames]


def _rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, index])


# ---------------------------------------------------------------------------------- datasets
class AVClipDataset(Dataset):
    """Clips of ``T`` frames with per-frame audio windows and identity references (generator).

    Args:
        sequences: sequences with audio, one frame rate and frame size.
        n_frames: clip length ``T``.
        window_ms: audio window per frame in ms (``n_win = round(window_ms / hop_ms)``).
        mel_cfg: audio front end.
        reference: ``"random_other_time"`` (``T`` consecutive frames of the same utterance
            not overlapping the clip, where it is long enough) or ``"first"`` (frame 0,
            repeated; what inference from a single rest frame looks like).
        mask: region to hide from the generator: ``"lower_half"``, ``"vocal_tract"``
            (:func:`vocal_tract_mask` per sequence) or an ``(H, W)`` bool array.
        center: audio window centred on each frame (True) or starting at it.
        stride: step between clip starts (frames).
        seed: base seed of single items (``dataset[i]`` draws from ``(seed, epoch, index)``);
            :meth:`get_batch` takes its seed per call.
        fps: expected frame rate (default: the first sequence's); others raise.
        channels: expected channels (default: inferred); mismatches raise.
        pad: mel padding outside the audio: ``"silence"`` or ``"edge"``.
        masked_from: which frames the ``masked`` input is cut from: ``"reference"`` (what
            inference has: :func:`mrisynth.synthesis.synthesize_frames` never sees the target)
            or ``"target"`` (Wav2Lip's dubbing set-up, where the target video's pose is known;
            on MRI it lets the generator read the target's articulators from undersampling
            streaks outside the mask, a cue that does not exist at inference).
        sync_window_ms: the sync expert's window (ms), or None. When given, items carry
            ``sync_mel``: the audio of the clip's first ``Tv`` frames, starting at the first
            frame (``center=False``, as :class:`SyncPairDataset`), for the sync loss.

    Training batch (:meth:`get_batch`, what the trainer uses; identical to
    :meth:`DeviceClipBank.get_batch`): ``frames``, ``masked``, ``reference`` float32 in [0, 1]
    ``(B, T, C, H, W)``; ``mel`` float32 ``(B, T, 1, n_mels, n_win)``; ``mask`` bool
    ``(B, 1, H, W)``; ``index`` int64 ``(B,)``; with ``sync_window_ms``: ``sync_mel`` float32
    ``(B, 1, n_mels, n_win_sync)``.

    Item (``dataset[i]``, dict of tensors, for inspection): ``frames`` uint8 ``(T, C, H, W)``;
    ``masked`` uint8 ``(T, C, H, W)`` (mask zeroed); ``reference`` uint8 ``(T, C, H, W)``;
    ``mel`` float32 ``(T, 1, n_mels, n_win)``; ``mask`` bool ``(1, H, W)``; ``index``,
    ``sequence``, ``start`` int64 scalars; ``ref_frames`` int64 ``(T,)`` frame indices of the
    reference in the same sequence; with ``sync_window_ms``: ``sync_mel`` float32
    ``(1, n_mels, n_win_sync)``. Its reference is that of ``get_batch([i], item_seed(i))``.
    """

    def __init__(
        self,
        sequences: Sequence[Any],
        *,
        n_frames: int,
        window_ms: float,
        mel_cfg: MelConfig,
        reference: Literal["random_other_time", "first"] = "random_other_time",
        mask: MaskSpec = "lower_half",
        center: bool = True,
        stride: int = 1,
        seed: int = 0,
        fps: float | None = None,
        channels: int | None = None,
        pad: PadMode = "silence",
        masked_from: Literal["reference", "target"] = "reference",
        sync_window_ms: float | None = None,
    ) -> None:
        if reference not in ("random_other_time", "first"):
            raise ValueError(f"reference must be 'random_other_time' or 'first', got {reference!r}")
        if masked_from not in ("reference", "target"):
            raise ValueError(f"masked_from must be 'reference' or 'target', got {masked_from!r}")
        self.data = _Prepared(sequences, mel_cfg, fps, channels)
        self.masked_from = masked_from
        self.sync_window_ms = None if sync_window_ms is None else float(sync_window_ms)
        self.n_win_sync = None if sync_window_ms is None else window_steps(sync_window_ms, mel_cfg)
        self.index = ClipIndex(self.data.lengths, n_frames, stride)
        self.n_frames, self.window_ms, self.mel_cfg = n_frames, float(window_ms), mel_cfg
        self.n_win = window_steps(window_ms, mel_cfg)
        self.reference, self.center, self.seed, self.pad, self.epoch = (
            reference,
            center,
            seed,
            pad,
            0,
        )
        H, W = self.data.height, self.data.width
        if isinstance(mask, np.ndarray):
            if mask.shape != (H, W) or mask.dtype != bool:
                raise ValueError(
                    f"mask array must be bool ({H}, {W}), got {mask.dtype} {mask.shape}"
                )
            masks = [mask] * len(self.data.frames)
        elif mask == "lower_half":
            masks = [lower_half_mask(H, W)] * len(self.data.frames)
        elif mask == "vocal_tract":
            masks = [vocal_tract_mask(f.mean(axis=1)) for f in self.data.frames]
        else:
            raise ValueError(
                f"mask must be 'lower_half', 'vocal_tract' or a bool array, got {mask!r}"
            )
        self.masks = np.stack(masks)  # (S, H, W)

    def set_epoch(self, epoch: int) -> None:
        """Change the random draws (references) of single items for a new epoch."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.index)

    def item_seed(self, index: int) -> int:
        """The reference seed of item ``index`` this epoch: ``derive_seed(seed, epoch, index)``."""
        return derive_seed(self.seed, self.epoch, index)

    def draw_references(
        self, indices: Sequence[int] | torch.Tensor | np.ndarray, seed: int
    ) -> torch.Tensor:
        """``(B, T)`` int64 reference frame indices of clips ``indices`` for batch seed ``seed``
        (:func:`draw_reference_frames`; the same draws as :meth:`DeviceClipBank.get_batch`)."""
        ids = _clip_ids(indices, len(self)).numpy()
        lengths = np.asarray(self.data.lengths, dtype=np.int64)
        max_start = lengths[self.index.sequence[ids]] - self.n_frames
        return draw_reference_frames(
            self.index.start[ids], max_start, self.n_frames, self.reference, seed
        )

    def reference_frames(self, index: int) -> np.ndarray:
        """``(T,)`` frame indices of the reference for item ``index`` (this epoch)."""
        return self.draw_references([index], self.item_seed(index))[0].numpy()

    def mel_windows(self, sequence: int, start: int) -> np.ndarray:
        """``(T, 1, n_mels, n_win)`` windows of frames ``start .. start + T - 1``."""
        return frames_to_mel_windows(
            self.data.mels[sequence],
            self.n_frames,
            self.data.fps,
            self.window_ms,
            self.mel_cfg,
            center=self.center,
            audio_offset_s=self.data.offsets[sequence],
            first_frame=start,
            pad=self.pad,
        )

    def _clip(self, index: int, ref_idx: np.ndarray) -> dict[str, np.ndarray]:
        """NumPy pieces of clip ``index`` with reference frames ``ref_idx`` ``(T,)``."""
        s, k0 = self.index[index]
        frames = self.data.frames[s][k0 : k0 + self.n_frames]
        reference = self.data.frames[s][ref_idx]
        mask = self.masks[s]
        source = reference if self.masked_from == "reference" else frames
        out = {
            "frames": frames,
            "masked": np.where(mask, 0, source).astype(np.uint8),
            "reference": reference,
            "mel": self.mel_windows(s, k0),
            "mask": mask[None],
        }
        if self.sync_window_ms is not None:
            start_s = float(frame_window_start_s(k0, self.data.fps, self.sync_window_ms, False))
            mel = mel_window(
                self.data.mels[s],
                start_s,
                self.sync_window_ms,
                self.mel_cfg,
                audio_offset_s=self.data.offsets[s],
                pad=self.pad,
            )
            out["sync_mel"] = mel[None]
        return out

    def get_batch(
        self, indices: Sequence[int] | torch.Tensor | np.ndarray, seed: int
    ) -> dict[str, torch.Tensor]:
        """The training batch of clips ``indices`` with references drawn from ``seed``.

        The *indexed batch source* protocol of :class:`~mrisynth.engine.trainer.Trainer`,
        built on the host clip by clip; it equals :meth:`DeviceClipBank.get_batch` (same keys,
        shapes, dtypes and values, see the class docstring). A pure function of
        ``(indices, seed)``, so DataLoader workers can build batches in any order.

        Raises:
            IndexError: an index outside ``0 .. len - 1``.
        """
        ids = _clip_ids(indices, len(self))
        refs = self.draw_references(ids, seed).numpy()
        parts = [self._clip(i, refs[j]) for j, i in enumerate(ids.tolist())]

        def stack(key: str) -> torch.Tensor:
            return torch.from_numpy(np.stack([p[key] for p in parts]))

        out = {
            "frames": unit_tensor(stack("frames")),  # (B, T, C, H, W)
            "masked": unit_tensor(stack("masked")),
            "reference": unit_tensor(stack("reference")),
            "mel": stack("mel"),  # (B, T, 1, n_mels, n_win)
            "mask": stack("mask"),  # (B, 1, H, W)
            "index": ids,
        }
        if self.sync_window_ms is not None:
            out["sync_mel"] = stack("sync_mel")  # (B, 1, n_mels, n_win_sync)
        return out

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} clips")
        s, k0 = self.index[index]
        ref_idx = self.reference_frames(index)
        part = self._clip(index, ref_idx)
        item = {
            "frames": torch.from_numpy(part["frames"].copy()),
            "masked": torch.from_numpy(part["masked"]),
            "reference": torch.from_numpy(part["reference"]),
            "mel": torch.from_numpy(part["mel"]),
            "mask": torch.from_numpy(part["mask"].copy()),
            "index": torch.tensor(index),
            "sequence": torch.tensor(s),
            "start": torch.tensor(k0),
            "ref_frames": torch.from_numpy(ref_idx),
        }
        if "sync_mel" in part:
            item["sync_mel"] = torch.from_numpy(part["sync_mel"])
        return item


class SyncPairDataset(Dataset):
    """Balanced in-sync / off-sync pairs for the sync expert.

    Item ``2p`` is the in-sync pair at window position ``p`` (label 1), item ``2p + 1`` an
    off-sync pair (label 0): the visual window at ``p`` (or, where no valid shift exists there,
    a random position of the same utterance that has one) with the audio window shifted by a
    whole number of mel steps ``d``, ``negative_shift_s[0] <= |d · hop| <= negative_shift_s[1]``,
    staying inside the utterance's audio. The visual window is ``Tv = frames_in_window`` frames
    from frame ``k``; the audio window starts at ``k / fps`` and lasts ``window_ms``.

    Args:
        sequences, mel_cfg, fps, channels, seed: as in :class:`AVClipDataset`.
        window_ms: sync window in ms.
        negative_shift_s: ``(min, max)`` absolute audio shift of negatives in seconds.
        stride: step between window positions (frames).

    Item: ``frames`` uint8 ``(Tv, C, H, W)``, ``mel`` float32 ``(1, n_mels, n_win)``,
    ``label`` float32 scalar, ``shift_s`` float32 (0 for positives), ``index``, ``sequence``,
    ``start``.
    """

    def __init__(
        self,
        sequences: Sequence[Any],
        *,
        window_ms: float = 200.0,
        mel_cfg: MelConfig,
        negative_shift_s: tuple[float, float] = (0.2, 1.0),
        seed: int = 0,
        stride: int = 1,
        fps: float | None = None,
        channels: int | None = None,
    ) -> None:
        lo, hi = (float(x) for x in negative_shift_s)
        if not 0 < lo <= hi:
            raise ValueError(
                f"negative_shift_s must satisfy 0 < min <= max, got {negative_shift_s}"
            )
        self.data = _Prepared(sequences, mel_cfg, fps, channels)
        self.mel_cfg, self.window_ms, self.seed, self.epoch = mel_cfg, float(window_ms), seed, 0
        self.n_frames = frames_in_window(window_ms, self.data.fps)
        self.n_win = window_steps(window_ms, mel_cfg)
        self.index = ClipIndex(self.data.lengths, self.n_frames, stride)
        hop_s = mel_cfg.hop_length / mel_cfg.sample_rate
        self.d_lo, self.d_hi = int(np.ceil(lo / hop_s - 1e-9)), int(np.floor(hi / hop_s + 1e-9))
        if self.d_hi < self.d_lo:
            raise ValueError(f"negative_shift_s {negative_shift_s} contains no whole mel step")
        # First mel step of each position's in-sync window and the room for shifts.
        self.step0 = np.array(
            [
                mel_step_of_time(k / self.data.fps, mel_cfg, self.data.offsets[s])
                for s, k in zip(self.index.sequence, self.index.start)
            ],
            dtype=np.int64,
        )
        last = np.array([self.data.mels[s].shape[1] for s in self.index.sequence]) - self.n_win
        self.room_fwd = np.minimum(self.d_hi, last - self.step0)  # max positive shift
        self.room_back = np.minimum(self.d_hi, self.step0)  # max negative shift magnitude
        self.has_negative = (self.room_fwd >= self.d_lo) | (self.room_back >= self.d_lo)
        if not self.has_negative.any():
            raise ValueError(
                f"no utterance is long enough for off-sync pairs shifted by >= {lo} s with a "
                f"{window_ms} ms window"
            )

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return 2 * len(self.index)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} pairs")
        p, negative = divmod(index, 2)
        shift_steps = 0
        if negative:
            rng = _rng(self.seed, self.epoch, index)
            if not self.has_negative[p]:
                same = self.index.sequence == self.index.sequence[p]
                cand = np.flatnonzero(self.has_negative & same)
                if cand.size == 0:
                    cand = np.flatnonzero(self.has_negative)
                p = int(rng.choice(cand))
            options = []
            if self.room_fwd[p] >= self.d_lo:
                options += [d for d in range(self.d_lo, self.room_fwd[p] + 1)]
            if self.room_back[p] >= self.d_lo:
                options += [-d for d in range(self.d_lo, self.room_back[p] + 1)]
            shift_steps = int(rng.choice(options))
        s, k0 = self.index[p]
        shift_s = shift_steps * self.mel_cfg.hop_length / self.mel_cfg.sample_rate
        start_s = float(frame_window_start_s(k0, self.data.fps, self.window_ms, center=False))
        mel = mel_window(
            self.data.mels[s],
            start_s + shift_s,
            self.window_ms,
            self.mel_cfg,
            audio_offset_s=self.data.offsets[s],
        )
        return {
            "frames": torch.from_numpy(self.data.frames[s][k0 : k0 + self.n_frames].copy()),
            "mel": torch.from_numpy(mel[None]),
            "label": torch.tensor(0.0 if negative else 1.0),
            "shift_s": torch.tensor(shift_s, dtype=torch.float32),
            "index": torch.tensor(index),
            "sequence": torch.tensor(s),
            "start": torch.tensor(k0),
        }


# ---------------------------------------------------------------------------------- device bank
class DeviceClipBank:
    """All frames and mels of an :class:`AVClipDataset` on one device; batches by indexing.

    Frames live in ONE uint8 tensor ``(N_total, C, H, W)``, mels in one ``(n_mels, S_total + 1)``
    tensor (the last column is silence, used for padding), and the first mel step of every
    frame's window is precomputed with the same time → step functions as the Dataset. A batch
    is pure tensor indexing on the device, with no Python work per frame and no host → device
    copy: on a GPU the training loop never waits for data.

    The trainer uses it as an *indexed batch source* (:meth:`get_batch`): the clip indices of a
    step come from its step-indexed sampler and the reference draws from a seed derived from the
    step, so a resumed run repeats the uninterrupted one exactly. Its batches equal
    :meth:`AVClipDataset.get_batch` of the same indices and seed: the references are drawn on
    the host by :func:`draw_reference_frames` (a few numbers per batch, then copied to the
    device), so the device's random stream never enters a batch.

    Args:
        dataset: the dataset whose sequences, masks, windows, clip index, ``masked_from`` and
            ``sync_window_ms`` to use.
        device: where to keep everything (e.g. ``"cuda"``).

    Outputs of :meth:`gather`/:meth:`sample`/:meth:`get_batch` (floats in [0, 1]): ``frames``,
    ``masked``, ``reference`` ``(B, T, C, H, W)``, ``mel`` ``(B, T, 1, n_mels, n_win)``,
    ``mask`` ``(B, 1, H, W)`` bool, ``index`` ``(B,)``, and ``sync_mel`` ``(B, 1, n_mels,
    n_win_sync)`` when the dataset has a sync window.
    """

    def __init__(self, dataset: AVClipDataset, device: str | torch.device = "cpu") -> None:
        d = dataset.data
        self.device = torch.device(device)
        self.n_frames, self.n_win, self.pad = dataset.n_frames, dataset.n_win, dataset.pad
        self.reference, self.masked_from = dataset.reference, dataset.masked_from
        self.n_win_sync = dataset.n_win_sync
        lengths = np.array(d.lengths, dtype=np.int64)
        frame_off = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        mel_len = np.array([m.shape[1] for m in d.mels], dtype=np.int64)
        mel_off = np.concatenate([[0], np.cumsum(mel_len)[:-1]])

        def first_steps(window_ms: float, center: bool) -> np.ndarray:
            return np.concatenate(
                [
                    mel_step_of_time(
                        frame_window_start_s(np.arange(n), d.fps, window_ms, center),
                        dataset.mel_cfg,
                        off,
                    )
                    for n, off in zip(lengths, d.offsets)
                ]
            )

        silence = np.full((dataset.mel_cfg.n_mels, 1), dataset.mel_cfg.silence_value, np.float32)

        def dev(x: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(x)).to(self.device)

        self.frames = dev(np.concatenate(d.frames))  # (N_total, C, H, W) uint8
        self.mel = dev(np.concatenate([*d.mels, silence], axis=1))  # (n_mels, S_total + 1)
        self.silence_col = int(self.mel.shape[1] - 1)
        # per frame, sequence-local first mel step of its window
        self.first_step = dev(first_steps(dataset.window_ms, dataset.center))  # (N_total,)
        self.first_step_sync = None
        if dataset.sync_window_ms is not None:
            self.first_step_sync = dev(first_steps(dataset.sync_window_ms, False))
        self.frame_off, self.lengths = dev(frame_off), dev(lengths)
        self.mel_off, self.mel_len = dev(mel_off), dev(mel_len)
        self.masks = dev(dataset.masks)  # (S, H, W) bool
        self.clip_seq, self.clip_start = dev(dataset.index.sequence), dev(dataset.index.start)
        self._t = torch.arange(self.n_frames, device=self.device)
        # host copies for the reference draws (draw_reference_frames runs on the CPU)
        self._host_start = torch.from_numpy(dataset.index.start.astype(np.int64))
        self._host_max_start = torch.from_numpy(lengths[dataset.index.sequence] - self.n_frames)

    def __len__(self) -> int:
        return int(self.clip_seq.numel())

    def _mel_windows(self, seq: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
        """``(..., n_mels, n)`` windows from sequence-local steps ``(B, ..., n)`` of ``seq (B,)``."""
        shape = (-1,) + (1,) * (steps.dim() - 1)
        n = self.mel_len[seq].view(shape)
        off = self.mel_off[seq].view(shape)
        if self.pad == "edge":
            cols = off + steps.clamp(min=0).minimum(n - 1)
        else:
            inside = (steps >= 0) & (steps < n)
            cols = torch.where(inside, off + steps, self.silence_col)
        return self.mel[:, cols].movedim(0, -2)  # (B, ..., n_mels, n)

    def gather(self, clip_ids: torch.Tensor, ref_frames: torch.Tensor) -> dict[str, torch.Tensor]:
        """Batch for clip indices ``(B,)`` with reference frame indices ``(B, T)`` (per sequence)."""
        clip_ids = clip_ids.to(self.device)
        seq = self.clip_seq[clip_ids]  # (B,)
        local = self.clip_start[clip_ids, None] + self._t  # (B, T)
        glob = self.frame_off[seq, None] + local
        frames = unit_tensor(self.frames[glob])  # (B, T, C, H, W)
        ref = unit_tensor(self.frames[self.frame_off[seq, None] + ref_frames.to(self.device)])
        mask = self.masks[seq][:, None]  # (B, 1, H, W)
        source = ref if self.masked_from == "reference" else frames
        w = torch.arange(self.n_win, device=self.device)
        steps = self.first_step[glob][..., None] + w  # (B, T, n_win)
        out = {
            "frames": frames,
            "masked": source.masked_fill(mask[:, None], 0.0),
            "reference": ref,
            "mel": self._mel_windows(seq, steps).unsqueeze(2),  # (B, T, 1, n_mels, n_win)
            "mask": mask,
            "index": clip_ids,
        }
        if self.first_step_sync is not None:
            ws = torch.arange(self.n_win_sync, device=self.device)
            steps = self.first_step_sync[glob[:, 0]][:, None] + ws  # (B, n_win_sync)
            out["sync_mel"] = self._mel_windows(seq, steps).unsqueeze(1)  # (B, 1, n_mels, n)
        return out

    def sample(
        self, batch_size: int, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """A random batch: clips uniform over the index, then :meth:`get_batch` with a seed
        drawn from ``generator`` (on the bank's device or the CPU; default: the global RNG)."""
        dev = generator.device if generator is not None else self.device
        clip_ids = torch.randint(len(self), (batch_size,), device=dev, generator=generator)
        seed = int(torch.randint(2**62, (1,), device=dev, generator=generator))
        return self.get_batch(clip_ids, seed)

    def get_batch(
        self, indices: Sequence[int] | torch.Tensor | np.ndarray, seed: int
    ) -> dict[str, torch.Tensor]:
        """The batch of clips ``indices`` with references drawn from ``seed`` (deterministic).

        This is the *indexed batch source* protocol of :class:`~mrisynth.engine.trainer.Trainer`;
        it equals :meth:`AVClipDataset.get_batch` (values moved to the bank's device).
        """
        ids = _clip_ids(indices, len(self))
        refs = draw_reference_frames(
            self._host_start[ids], self._host_max_start[ids], self.n_frames, self.reference, seed
        )
        return self.gather(ids.to(self.device), refs.to(self.device))
