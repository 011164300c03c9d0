"""Evaluating recordings without labels (real rtMRI): anatomy against the segmenter's
pseudo-labels, kept apart from anatomy against ground truth, with the segmenter's accuracy on
real data beside it."""

from __future__ import annotations

import json
import shutil

import pytest

from mrisynth.evaluation.config import EvalConfig

_CFG = EvalConfig(n_videos=0, offset_test_frames=(-2,), hd95_stride=50, warp_stride=16)
_ACCURACY = {"symmetric_mm": 1.85, "hd95_mm": 7.36, "n_clips": 27, "source": "loso, +all real"}


def _without_test_labels(prepared):
    """A copy of the prepared corpus (beside it: its paths into the phantom are relative) whose
    test recordings lost their label maps, as real rtMRI comes."""
    from mrisynth.data.manifest import read_manifest
    from mrisynth.data.sequence import SpeechMRISequence

    dst = prepared.parent.with_name("prep_unlabelled")
    shutil.copytree(prepared.parent, dst)
    for entry in read_manifest(dst / prepared.name):
        if entry.split == "test":
            path = dst / entry.image_path
            SpeechMRISequence.load(path).replace(labels=None).save(path)
    return dst / prepared.name


@pytest.fixture(scope="module")
def unlabelled_run(untrained, tmp_path_factory):
    from mrisynth.evaluation.evaluate import evaluate

    prepared, gen, expert, seg, _ = untrained
    root = tmp_path_factory.mktemp("unlabelled")
    (root / "accuracy.json").write_text(json.dumps(_ACCURACY))
    csv = _without_test_labels(prepared)
    out = root / "eval"
    metrics = evaluate(csv, gen, expert, seg, out, _CFG, segmenter_accuracy=root / "accuracy.json")
    return metrics, out


def test_unlabelled_recordings_are_scored_against_pseudo_labels_under_their_own_keys(
    unlabelled_run,
):
    metrics, out = unlabelled_run
    # anatomy exists, but only under the pseudo-label keys: never mixed with ground truth
    assert "pseudo_labels.model.image_audio.dice_mean" in metrics
    assert "pseudo_labels.baseline_static.video_audio.hd95_mean_mm" in metrics
    assert not [k for k in metrics if k.startswith("model.") and "dice" in k]
    # no segmenter self-comparison (it would be a perfect 1.0)
    assert not [k for k in metrics if k.startswith(("segmenter.", "pseudo_labels.segmenter"))]
    # the image and sync metrics do not need labels and stay where they were
    assert "model.image_audio.ssim" in metrics and "real.lse_d" in metrics
    ref = json.loads((out / "anatomy_reference.json").read_text())
    assert list(ref["references"]) == ["pseudo_labels"]
    assert len(ref["references"]["pseudo_labels"]["utterances"]) == 2
    assert ref["segmenter_accuracy"]["symmetric_mm"] == 1.85
    tables = (out / "tables.md").read_text()
    assert "not anatomical truth" in tables
    assert "Segmenter accuracy on real data" in tables and "1.85" in tables


def test_the_pseudo_label_reference_is_the_segmenter_reading_of_the_real_frames(unlabelled_run):
    """The real frames scored against their own pseudo-labels would agree perfectly; every
    method's pseudo-label Dice is an agreement in [0, 1] and the per-utterance rows say which
    reference they used."""
    import csv

    metrics, out = unlabelled_run
    for k, v in metrics.items():
        if k.startswith("pseudo_labels.") and k.endswith("dice_mean"):
            assert 0.0 <= v <= 1.0, k
    with open(out / "per_utterance.csv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["condition"] != "real"]
    assert rows and {r["anatomy_reference"] for r in rows} == {"pseudo_labels"}


def test_split_by_anatomy_reference_never_averages_the_two():
    from mrisynth.evaluation.report import aggregate, flat_metrics, split_by_anatomy_reference

    base = {"method": "model", "condition": "image_audio", "ssim": 0.5}
    rows = [
        {**base, "utterance": "a", "dice_mean": 0.9, "anatomy_reference": "ground_truth"},
        {**base, "utterance": "b", "dice_mean": 0.1, "anatomy_reference": "pseudo_labels"},
        {"utterance": "b", "method": "segmenter", "condition": "real", "dice_mean": 1.0,
         "anatomy_reference": "pseudo_labels"},
    ]  # fmt: skip
    kept, pseudo = split_by_anatomy_reference(rows)
    gt = flat_metrics(aggregate(kept))
    assert gt["model.image_audio.dice_mean"] == pytest.approx(0.9)  # not (0.9 + 0.1) / 2
    assert gt["model.image_audio.ssim"] == pytest.approx(0.5)  # both clips keep their SSIM
    assert "segmenter.dice_mean" not in gt  # the self-comparison is dropped
    assert [r["utterance"] for r in pseudo] == ["b"] and "ssim" not in pseudo[0]
    assert flat_metrics(aggregate(pseudo))["model.image_audio.dice_mean"] == pytest.approx(0.1)


@pytest.mark.parametrize(
    "content, problem",
    [
        ("{", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"symmetric_mm": 2.0}', "lacks key"),
        ('{"symmetric_mm": 2.0, "hd95_mm": 7, "dice": 1}', "unknown segmenter accuracy key"),
        ('{"symmetric_mm": -1, "hd95_mm": 7}', "symmetric_mm must be a finite number >= 0"),
        ('{"symmetric_mm": 2, "hd95_mm": 7, "pred_scored": 3}', "pred_scored is a fraction"),
    ],
)
def test_a_bad_segmenter_accuracy_file_is_one_line_naming_it(tmp_path, content, problem):
    from mrisynth.evaluation.evaluate import read_segmenter_accuracy

    path = tmp_path / "acc.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=problem) as e:
        read_segmenter_accuracy(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_cli_rejects_an_accuracy_file_without_a_segmenter_before_any_work(untrained, tmp_path):
    from mrisynth.cli.main import main

    prepared, gen, expert, _, _ = untrained
    (tmp_path / "acc.json").write_text(json.dumps(_ACCURACY))
    args = ["evaluate", "--prepared", str(prepared), "--generator", str(gen)]
    args += ["--eval-expert", str(expert), "--out", str(tmp_path / "out")]
    args += ["--segmenter-accuracy", str(tmp_path / "acc.json")]
    assert main(args) != 0
    assert not (tmp_path / "out").exists()
