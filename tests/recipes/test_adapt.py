"""``mrisynth adapt``: one speaker's recordings + pretrained models → a speaker folder.

The end-to-end tests use the tiny model config and random-weight "pretrained" models (the
plumbing, splits, folder layout and errors do not depend on training); what adaptation
achieves is measured in experiments/real_template (README, "Adapting to a new domain").
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from mrisynth.recipes.adapt import AdaptConfig, find_pretrained, hold_out, recordings_manifest


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models gain nothing from more threads; spinning ones slow a busy machine."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_hold_out_takes_the_last_pieces_round_robin():
    assert hold_out([5], 2) == [{3, 4}]
    assert hold_out([3, 4], 3) == [{1, 2}, {3}]
    assert hold_out([1, 1], 1) == [{0}, set()]
    assert hold_out([2], 5) == [{0, 1}]  # never more than there are


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"min_test_pieces": 1}, "shuffled control"),
        ({"piece_s": 1.0, "min_piece_s": 2.0}, "min_piece_s"),
        ({"expert_steps": 0}, "expert_steps"),
    ],
)
def test_adapt_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AdaptConfig(**kwargs)


def test_find_pretrained_reads_the_quickstart_layout_and_says_what_is_missing(tmp_path):
    for rel in ("pretrain/generator.pt", "finetune/generator.pt", "expert/expert.pt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match=r"no eval_expert model .*make quickstart"):
        find_pretrained(tmp_path)
    (tmp_path / "eval_expert").mkdir()
    (tmp_path / "eval_expert/expert.pt").write_bytes(b"x")
    found = find_pretrained(tmp_path)
    assert found.generator == tmp_path / "pretrain/generator.pt"  # not the fine-tuned one
    assert found.eval_expert == tmp_path / "eval_expert/expert.pt"
    assert found.segmenter is None
    with pytest.raises(FileNotFoundError, match="not a folder"):
        find_pretrained(tmp_path / "nope")


def test_recordings_manifest_checks_files(tmp_path):
    rec = tmp_path / "a.mp4"
    rec.write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match="b.mp4: no such recording"):
        recordings_manifest([rec, tmp_path / "b.mp4"], tmp_path / "m.csv", speaker="s")
    with pytest.raises(ValueError, match="one each"):
        recordings_manifest([rec], tmp_path / "m.csv", speaker="s", audio=[rec, rec])
    out = recordings_manifest([rec, rec], tmp_path / "m.csv", speaker="s", fps=20.0)
    from mrisynth.data.manifest import read_manifest

    entries = read_manifest(out)
    assert [e.id for e in entries] == ["a", "a_1"] and entries[0].fps == 20.0


# ---------------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def speaker_recordings(tmp_path_factory, adapt_pretrained):
    """One phantom speaker in the unseen appearance domain (68 px, 2.94 mm, 23.18 fps): its
    recordings as NIfTI + WAV files, and the pretrained tiny models."""
    from mrisynth.config.presets import load_preset
    from mrisynth.data.manifest import read_manifest
    from mrisynth.phantom.corpus import PhantomConfig, build_corpus

    root = tmp_path_factory.mktemp("adapt")
    body = {
        **load_preset("phantom", "unseen_domain"),
        "n_target_speakers": 1,
        "languages": ["en"],
        "adapt_utterances_per_language": 4,
        "test_utterances_per_language": 1,
        "workers": 1,
    }
    manifest = build_corpus(PhantomConfig(**body), root / "phantom", progress=False)
    target = [e for e in read_manifest(manifest) if e.split in ("adapt", "test")]
    return root, manifest, target, adapt_pretrained(root / "models")


def test_adapt_cli_writes_a_complete_speaker_folder(
    speaker_recordings, tmp_path, capsys, adapt_fast_presets
):
    from mrisynth.cli.main import main

    root, manifest, target, models = speaker_recordings
    recs = [str(manifest.parent / e.image_path) for e in target]
    audio = [str(manifest.parent / e.audio_path) for e in target]
    presets = adapt_fast_presets(tmp_path)
    out = tmp_path / "speakers" / "spk01"
    sets = [f"{k}={v}" for k, v in presets.items()]
    sets += ["piece_s=1.0", "min_piece_s=0.8", "expert_steps=4", "generator_steps=4"]
    args = [
        "adapt", *recs, "--audio", *audio, "--fps", "23.18", "--spacing", "2.94",
        "--pretrained", str(models), "--out", str(out), "--no-progress", "--set", *sets,
    ]  # fmt: skip
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["speaker_folder"] == str(out)
    for name in ("generator.pt", "expert.pt", "eval_expert.pt", "roi.json", "speaker.json"):
        assert (out / name).is_file(), name
    assert not (out.parent / ".spk01.partial").exists()

    info = json.loads((out / "speaker.json").read_text())
    # the held-out part: the last pieces, at least two, never used for training
    test, adapt = info["pieces"]["test"], info["pieces"]["adapt"]
    assert len(test) >= 2 and len(adapt) >= 2 and not set(test) & set(adapt)
    assert info["model"]["fps"] == 25.0 and info["model"]["img_size"] == 32
    # the ROI is the generator's 120 mm field of view, inside the 68 x 2.94 mm frame
    t, left, h, w = json.loads((out / "roi.json").read_text())["roi_mm"]
    assert h == pytest.approx(120.0, abs=3.0) and w == pytest.approx(120.0, abs=3.0)
    assert 0 <= t and t + h <= 68 * 2.94 + 1e-6 and 0 <= left and left + w <= 68 * 2.94 + 1e-6
    assert info["roi"]["source_spacing_mm"] == pytest.approx([2.94, 2.94], rel=1e-3)

    # the report: the model and every baseline on the held-out pieces, and both judges
    metrics = json.loads((out / "report" / "metrics.json").read_text())
    for method in ("model", "baseline_static", "baseline_nearest_neighbour"):
        assert np.isfinite(metrics[f"{method}.image_audio.l1"]), method
    judges = (out / "report" / "sync_judges.md").read_text()
    assert "Pretrained judge" in judges and "Adapted judge" in judges
    assert set(info["sync_judge"]) == {"pretrained", "adapted"}
    assert info["sync_judge"]["adapted"]["n_clips"] == len(test)

    # the adapted generator is a different model from the pretrained one, of the same spec
    from mrisynth.models.artifacts import read_artifact

    new = read_artifact(out / "generator.pt", "generator")
    old = read_artifact(models / "pretrain/generator.pt", "generator")
    assert new.data_spec.fps == old.data_spec.fps
    assert any(
        not np.array_equal(new.weights["generator"][k].numpy(), v.numpy())
        for k, v in old.weights["generator"].items()
    )

    # a finished folder is never overwritten
    assert main(args) == 2
    assert "exists" in capsys.readouterr().err


def test_adapt_refuses_too_little_speech_and_leaves_nothing(speaker_recordings, tmp_path, capsys):
    from mrisynth.cli.main import main

    root, manifest, target, models = speaker_recordings
    e = target[0]
    out = tmp_path / "spk"
    args = [
        "adapt", str(manifest.parent / e.image_path), "--audio", str(manifest.parent / e.audio_path),
        "--fps", "23.18", "--spacing", "2.94", "--pretrained", str(models), "--out", str(out),
        "--no-progress",
    ]  # fmt: skip
    assert main(args) == 2
    errors = [ln for ln in capsys.readouterr().err.splitlines() if "error" in ln]
    assert len(errors) == 1 and "adapt needs at least 4" in errors[0]
    assert errors[0].startswith("mrisynth adapt: error: ")
    assert not out.exists() and not (tmp_path / ".spk.partial").exists()
    assert main(["adapt", "--pretrained", str(models), "--out", str(out)]) == 2
    assert "give the speaker's recordings or --manifest" in capsys.readouterr().err
