"""Training datasets and the device bank on synthetic moving-bar sequences."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mrisynth.data.dataset import (
    AVClipDataset,
    ClipIndex,
    DeviceClipBank,
    SyncPairDataset,
    draw_reference_frames,
    pick_reference_start,
    vocal_tract_mask,
)
from mrisynth.data.sequence import SpeechMRISequence
from mrisynth.transforms.mel import MelConfig, frames_to_mel_windows, log_mel, mel_window

SR = 16000
CFG = MelConfig.mri()


def bar_sequence(duration_s=1.5, fps=83.28, size=32, offset_s=0.0, seed=0, uid="u"):
    """A bar whose row follows the amplitude envelope of a 300 Hz tone; columns 20+ static."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * fps)
    t_a = np.arange(int(duration_s * SR)) / SR
    env = lambda t: 0.5 + 0.5 * np.sin(2 * np.pi * 1.7 * t + seed)  # noqa: E731
    audio = (env(t_a + offset_s) * np.sin(2 * np.pi * 300 * t_a)).astype(np.float32)
    frames = np.full((n, size, size), 40, np.uint8)
    frames[:, :, 20:] = 120  # static tissue
    for k in range(n):
        r = int(round(4 + (size - 10) * env(k / fps)))
        frames[k, r : r + 3, 4:16] = 230
    frames = (frames + rng.integers(0, 3, frames.shape)).astype(np.uint8)
    return SpeechMRISequence(
        frames=frames,
        fps=fps,
        spacing_mm=2.0,
        audio=audio,
        sample_rate=SR,
        audio_offset_s=offset_s,
        utterance_id=uid,
    )


@pytest.fixture(scope="module")
def seqs():
    return [bar_sequence(seed=0, uid="a"), bar_sequence(1.2, seed=1, offset_s=0.02, uid="b")]


def test_av_clip_dataset_items(seqs):
    ds = AVClipDataset(seqs, n_frames=5, window_ms=200, mel_cfg=CFG, mask="lower_half", seed=3)
    assert len(ds) == sum(s.n_frames - 4 for s in seqs)
    it = ds[len(ds) - 1]  # last clip of the second sequence
    assert it["frames"].shape == it["reference"].shape == it["masked"].shape == (5, 1, 32, 32)
    assert it["frames"].dtype == torch.uint8 and it["mel"].dtype == torch.float32
    assert it["mel"].shape == (5, 1, 80, 20)
    s, k0 = int(it["sequence"]), int(it["start"])
    assert s == 1 and k0 == seqs[1].n_frames - 5
    np.testing.assert_array_equal(it["frames"][:, 0].numpy(), seqs[1].frames[k0 : k0 + 5])
    expect = frames_to_mel_windows(
        log_mel(seqs[1].audio, SR, CFG),
        5,
        seqs[1].fps,
        200,
        CFG,
        audio_offset_s=0.02,
        first_frame=k0,
    )
    np.testing.assert_array_equal(it["mel"].numpy(), expect)
    # The masked input is cut from the reference (what inference has), never from the target.
    assert (it["masked"][:, :, 16:] == 0).all() and (
        it["masked"][:, :, :16] == it["reference"][:, :, :16]
    ).all()
    assert not torch.equal(it["masked"][:, :, :16], it["frames"][:, :, :16])
    dub = AVClipDataset(
        seqs, n_frames=5, window_ms=200, mel_cfg=CFG, mask="lower_half", masked_from="target"
    )[len(ds) - 1]
    assert (dub["masked"][:, :, :16] == dub["frames"][:, :, :16]).all()
    assert (dub["masked"][:, :, 16:] == 0).all()
    # Reference: consecutive, other time (no overlap with the clip), reproducible per epoch.
    ref = it["ref_frames"].numpy()
    assert np.all(np.diff(ref) == 1) and abs(ref[0] - k0) >= 5
    np.testing.assert_array_equal(it["reference"][:, 0].numpy(), seqs[1].frames[ref])
    np.testing.assert_array_equal(ds[len(ds) - 1]["ref_frames"].numpy(), ref)
    draws = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        draws.add(int(ds.reference_frames(7)[0]))
    assert len(draws) > 1
    first = AVClipDataset(seqs, n_frames=5, window_ms=200, mel_cfg=CFG, reference="first")
    assert (first[10]["ref_frames"] == 0).all()


def test_three_channel_face_like_sequences():
    base = bar_sequence(1.0, fps=25.0)
    rgb = SimpleNamespace(
        frames=np.repeat(base.frames[..., None], 3, axis=-1),
        fps=25.0,
        audio=base.audio,
        sample_rate=SR,
        audio_offset_s=0.0,
    )
    ds = AVClipDataset([rgb], n_frames=5, window_ms=200, mel_cfg=MelConfig.wav2lip(), center=False)
    it = ds[0]
    assert it["frames"].shape == (5, 3, 32, 32) and it["mel"].shape == (5, 1, 80, 16)
    with pytest.raises(ValueError, match="1 channel.*expected 3"):
        AVClipDataset([base], n_frames=5, window_ms=200, mel_cfg=CFG, channels=3)


def test_vocal_tract_mask_finds_the_moving_bar(seqs):
    m = vocal_tract_mask(seqs[0].frames)
    assert m.shape == (32, 32) and m.dtype == bool
    assert m[10:25, 6:14].all()  # bar path
    assert not m[:, 22:].any()  # static tissue
    with pytest.raises(ValueError, match="do not change"):
        vocal_tract_mask(np.zeros((4, 8, 8)))
    ds = AVClipDataset(seqs, n_frames=5, window_ms=200, mel_cfg=CFG, mask="vocal_tract")
    assert ds[0]["mask"][0, 15, 10] and not ds[0]["mask"][0, 15, 25]
    with pytest.raises(ValueError, match="mask array must be bool"):
        AVClipDataset(seqs, n_frames=5, window_ms=200, mel_cfg=CFG, mask=np.ones((8, 8), bool))


def test_sync_pairs_balanced_and_shift_range(seqs):
    ds = SyncPairDataset(seqs, window_ms=200, mel_cfg=CFG, negative_shift_s=(0.2, 1.0), seed=1)
    assert ds.n_frames == 17
    items = [ds[i] for i in range(0, len(ds), 3)]
    labels = np.array([float(it["label"]) for it in items])
    full = np.array([float(ds[i]["label"]) for i in range(len(ds))])
    assert full.sum() * 2 == len(ds)  # exactly balanced
    shifts = np.array([float(it["shift_s"]) for it in items])
    neg = shifts[labels == 0]
    assert np.all(np.abs(neg) >= 0.2 - 1e-6) and np.all(np.abs(neg) <= 1.0 + 1e-6)
    assert (neg > 0).any() and (neg < 0).any()
    assert np.all(shifts[labels == 1] == 0)
    for it in items[:20]:
        s, k0 = int(it["sequence"]), int(it["start"])
        seq = seqs[s]
        assert it["frames"].shape == (17, 1, 32, 32) and it["mel"].shape == (1, 80, 20)
        mel = log_mel(seq.audio, SR, CFG)
        want = mel_window(
            mel, k0 / seq.fps + float(it["shift_s"]), 200, CFG, audio_offset_s=seq.audio_offset_s
        )
        np.testing.assert_array_equal(it["mel"][0].numpy(), want)
        # Negatives stay inside the audio: no silence padding in the shifted window.
        if it["label"] == 0:
            assert (it["mel"] > CFG.silence_value).any(dim=1).all()
    # In-sync windows of the dataset are the inference windows of the first visual frame.
    pos = ds[0]
    inf = frames_to_mel_windows(
        log_mel(seqs[0].audio, SR, CFG), 1, seqs[0].fps, 200, CFG, center=False
    )
    np.testing.assert_array_equal(pos["mel"].numpy(), inf[0])


@pytest.mark.parametrize("masked_from", ["reference", "target"])
@pytest.mark.parametrize("pad", ["silence", "edge"])
def test_device_bank_matches_dataset(seqs, masked_from, pad):
    ds = AVClipDataset(
        seqs,
        n_frames=4,
        window_ms=200,
        mel_cfg=CFG,
        mask="lower_half",
        seed=5,
        masked_from=masked_from,
        sync_window_ms=200,
        pad=pad,
    )
    bank = DeviceClipBank(ds, device="cpu")
    ids = [0, 1, 57, len(ds) - 1, len(ds) - 60]
    items = [ds[i] for i in ids]
    refs = torch.stack([it["ref_frames"] for it in items])
    out = bank.gather(torch.tensor(ids), refs)
    for key in ("frames", "masked", "reference"):
        want = torch.stack([it[key] for it in items]).float() / 255
        torch.testing.assert_close(out[key], want, rtol=0, atol=0)
    for key in ("mel", "sync_mel"):
        want = torch.stack([it[key] for it in items])
        torch.testing.assert_close(out[key], want, rtol=0, atol=0)
    assert out["sync_mel"].shape == (5, 1, 80, 20)
    assert torch.equal(out["mask"], torch.stack([it["mask"] for it in items]))
    b = bank.sample(16, torch.Generator().manual_seed(0))
    assert b["frames"].shape == (16, 4, 1, 32, 32) and b["mel"].shape == (16, 4, 1, 80, 20)
    assert b["frames"].dtype == torch.float32 and 0 <= b["frames"].min() and b["frames"].max() <= 1


def test_device_bank_get_batch_is_deterministic(seqs):
    ds = AVClipDataset(seqs, n_frames=4, window_ms=200, mel_cfg=CFG, mask="lower_half")
    bank = DeviceClipBank(ds, device="cpu")
    a, b = bank.get_batch([3, 40, 9], seed=11), bank.get_batch([3, 40, 9], seed=11)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert torch.equal(a["index"], torch.tensor([3, 40, 9]))
    # a new seed draws new references, never overlapping the clip
    refs = {int(bank.get_batch([40], seed=s)["reference"][0, 0].sum()) for s in range(8)}
    assert len(refs) > 1
    c = bank.get_batch([40] * 16, seed=2)
    t0 = int(ds.index.start[40])
    for r in c["reference"]:
        hit = [
            k
            for k in range(seqs[0].n_frames)
            if torch.equal(r[0, 0], torch.from_numpy(seqs[0].frames[k]).float() / 255)
        ]
        assert hit and abs(hit[0] - t0) >= 4


BATCH_CASES = {
    "default": {},
    "masked_from_target": {"masked_from": "target"},
    "reference_first": {"reference": "first"},
    "sync_window": {"sync_window_ms": 200},
    "sync_edge_target_vocal": {
        "sync_window_ms": 200,
        "pad": "edge",
        "masked_from": "target",
        "mask": "vocal_tract",
        "stride": 2,
    },
}


@pytest.mark.parametrize("case", sorted(BATCH_CASES))
def test_dataset_and_device_bank_yield_identical_batches(seqs, case):
    # One batch definition: the host Dataset path and the device bank, same indices and seed.
    ds = AVClipDataset(seqs, n_frames=5, window_ms=200, mel_cfg=CFG, seed=3, **BATCH_CASES[case])
    bank = DeviceClipBank(ds, device="cpu")
    n = len(ds)
    for indices, seed in (
        (range(8), 123),
        ([0, n - 1, 40, 40, 17, 3], 7),
        (torch.tensor([n // 2, 1]), 2**62 + 5),
        (np.arange(0, n, 11), 0),
    ):
        a, b = ds.get_batch(indices, seed), bank.get_batch(indices, seed)
        assert a.keys() == b.keys()
        assert ("sync_mel" in a) == ("sync_window_ms" in BATCH_CASES[case])
        for key in a:
            assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
            assert torch.equal(a[key], b[key]), (case, key)
    for key in ("frames", "masked", "reference"):
        assert a[key].dtype == torch.float32 and a[key].dim() == 5
        assert 0 <= float(a[key].min()) and float(a[key].max()) <= 1
    assert a["mask"].dtype == torch.bool and a["mask"].shape == (len(a["index"]), 1, 32, 32)


def test_batch_references_follow_the_one_rule(seqs):
    ds = AVClipDataset(seqs, n_frames=5, window_ms=200, mel_cfg=CFG)
    ids = torch.tensor([40, 3, len(ds) - 1, 40])
    refs = ds.draw_references(ids, seed=9)
    # the rule: u ~ torch.rand(B, float64) of a CPU generator seeded by the batch seed
    u = torch.rand(4, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    lengths = torch.tensor(ds.data.lengths)[torch.from_numpy(ds.index.sequence[ids.numpy()])]
    r0 = pick_reference_start(torch.from_numpy(ds.index.start[ids.numpy()]), lengths - 5, 5, u)
    assert torch.equal(refs, r0[:, None] + torch.arange(5))
    assert not torch.equal(refs[0], refs[3])  # one draw per batch position, not per clip index
    batch = ds.get_batch(ids, seed=9)
    for b, (i, r) in enumerate(zip(ids.tolist(), refs)):
        s = int(ds.index.sequence[i])
        want = torch.from_numpy(seqs[s].frames[r.numpy()]).float().div_(255)
        assert torch.equal(batch["reference"][b, :, 0], want)
        assert (r[0] - int(ds.index.start[i])).abs() >= 5  # no overlap with the clip
    zero = draw_reference_frames([4, 9], [50, 50], 3, "first", seed=1)
    assert torch.equal(zero, torch.zeros(2, 3, dtype=torch.long))


def test_item_is_the_uint8_view_of_a_batch_of_one(seqs):
    ds = AVClipDataset(seqs, n_frames=5, window_ms=200, mel_cfg=CFG, seed=4, sync_window_ms=200)
    ds.set_epoch(2)
    for i in (0, 57, len(ds) - 1):
        item, batch = ds[i], ds.get_batch([i], ds.item_seed(i))
        for key in ("frames", "masked", "reference"):
            assert item[key].dtype == torch.uint8
            assert torch.equal(item[key].float().div_(255), batch[key][0]), key
        for key in ("mel", "mask", "sync_mel"):
            assert torch.equal(item[key], batch[key][0]), key
        assert int(item["index"]) == int(batch["index"][0]) == i


def test_get_batch_rejects_bad_indices(seqs):
    ds = AVClipDataset(seqs, n_frames=5, window_ms=200, mel_cfg=CFG)
    bank = DeviceClipBank(ds)
    for source in (ds, bank):
        with pytest.raises(IndexError, match="out of range"):
            source.get_batch([0, len(ds)], seed=0)
        with pytest.raises(IndexError, match="out of range"):
            source.get_batch([-1], seed=0)


def test_bad_inputs(seqs):
    with pytest.raises(ValueError, match="longer than every sequence"):
        SyncPairDataset(seqs, window_ms=5000, mel_cfg=CFG)
    with pytest.raises(ValueError, match="longer than every sequence"):
        AVClipDataset(seqs, n_frames=1000, window_ms=200, mel_cfg=CFG)
    with pytest.raises(ValueError, match=r"sequence 1 \(x\): fps 25.0 differs"):
        AVClipDataset(
            [seqs[0], bar_sequence(1.0, fps=25.0, uid="x")], n_frames=5, window_ms=200, mel_cfg=CFG
        )
    with pytest.raises(ValueError, match="has no audio"):
        AVClipDataset(
            [seqs[0].replace(audio=None, sample_rate=None)], n_frames=5, window_ms=200, mel_cfg=CFG
        )
    with pytest.raises(ValueError, match="frame shape"):
        AVClipDataset([seqs[0], bar_sequence(size=24)], n_frames=5, window_ms=200, mel_cfg=CFG)
    with pytest.raises(ValueError, match="no whole mel step|0 < min"):
        SyncPairDataset(seqs, window_ms=200, mel_cfg=CFG, negative_shift_s=(0.0, 0.5))
    with pytest.raises(ValueError, match="ClipIndex"):
        ClipIndex([10], 0)
