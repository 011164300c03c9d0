"""The per-language table (``mrisynth evaluate-languages``) from per-clip rows."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from mrisynth.evaluation.languages import language_report, read_rows


def _write_rows(path, rows):
    cols = sorted({k for r in rows for k in r})
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)


def _rows():
    rng = np.random.default_rng(0)
    rows = []
    for lang, ssim in (("te", 0.8), ("en", 0.6)):
        for k in range(4):
            utt = f"{lang}{k}"
            base = {"utterance": utt, "speaker": "s", "language": lang}
            rows.append({**base, "method": "real", "condition": "real", "lse_d": 0.7 + 0.01 * k})
            for cond in ("image_audio", "video_audio"):
                rows.append({
                    **base, "method": "model", "condition": cond, "ssim": ssim + 0.01 * k,
                    "lse_d": 0.9, "dice_mean": rng.uniform(0.7, 0.8),
                })  # fmt: skip
                rows.append({**base, "method": "baseline_static", "condition": cond, "ssim": 0.1})
    return rows


def test_language_report_lists_every_language_with_cis(tmp_path):
    _write_rows(tmp_path / "per_utterance.csv", _rows())
    flat = language_report(tmp_path, languages=["te", "ta", "en"])
    table = (tmp_path / "languages.md").read_text()
    lines = {
        ln.split("|")[1].strip() + "/" + ln.split("|")[2].strip(): ln
        for ln in table.splitlines()
        if ln.startswith("| ")
    }
    # Telugu's model SSIM: mean of 0.80..0.83 with its 95% CI; Tamil has no clip: n/a, 0 clips
    assert "0.815 [" in lines["Telugu/image+audio"] and lines["Telugu/image+audio"].endswith(
        "| 4 |"
    )
    assert "n/a" in lines["Tamil/video+audio"] and lines["Tamil/video+audio"].endswith("| 0 |")
    assert "0.715 [" in lines["English/recording"]  # the recording's LSE-D beside the model's
    assert flat["te.model.image_audio.ssim"] == pytest.approx(0.815)
    assert flat["en.model.video_audio.ssim"] == pytest.approx(0.615)
    assert flat["en.real.lse_d"] == pytest.approx(0.715)
    assert not any(k.startswith("ta.") for k in flat)
    assert "baseline_static" not in table  # the model and the recording only
    assert (tmp_path / "languages.png").stat().st_size > 1000
    assert json.loads((tmp_path / "languages.json").read_text()) == pytest.approx(flat)
    with open(tmp_path / "languages.csv") as f:
        assert len(list(csv.reader(f))) == 1 + 3 * 3  # header + 3 languages x 3 sources


def test_language_report_refuses_languages_without_clips(tmp_path):
    _write_rows(tmp_path / "per_utterance.csv", _rows())
    with pytest.raises(ValueError, match="no test clips in kn, ml .*has en, te"):
        language_report(tmp_path, languages=["kn", "ml"])
    with pytest.raises(FileNotFoundError, match="run `mrisynth evaluate` first"):
        read_rows(tmp_path / "nope.csv")


def test_evaluate_languages_cli_end_to_end(untrained, tmp_path):
    """``mrisynth evaluate-languages`` evaluates, then writes the table of the languages asked
    for; a language list none of whose languages has test utterances is refused before any
    evaluation."""
    from mrisynth.cli.main import main

    prepared, gen, expert, _, _ = untrained
    args = ["evaluate-languages", "--prepared", str(prepared), "--generator", str(gen)]
    args += ["--eval-expert", str(expert), "--set", "n_videos=0", "--set", "hd95_stride=50"]
    assert main([*args, "--out", str(tmp_path / "bad"), "--languages", "kn,ml"]) != 0
    assert not (tmp_path / "bad").exists()
    out = tmp_path / "langs"
    assert main([*args, "--out", str(out), "--languages", "ta,en,hi"]) == 0
    table = (out / "languages.md").read_text()
    for name in ("Tamil", "English", "Hindi"):
        assert name in table
    flat = json.loads((out / "languages.json").read_text())
    # one test utterance per language in the tiny corpus: its own numbers, Hindi has none
    for lang in ("ta", "en"):
        assert 0.0 <= flat[f"{lang}.model.image_audio.ssim"] <= 1.0
        assert flat[f"{lang}.real.lse_d"] > 0
    assert not any(k.startswith("hi.") for k in flat)
    assert (out / "metrics.json").is_file()  # the evaluation's own report is there too


def test_anatomy_against_pseudo_labels_gets_its_own_lines(tmp_path):
    """A language with labelled and unlabelled test recordings: their anatomy is never
    averaged together; the unlabelled one's goes on lines marked 'vs pseudo-labels'."""
    rows = []
    for utt, dice, ref in (("a", 0.9, "ground_truth"), ("b", 0.1, "pseudo_labels")):
        base = {"utterance": utt, "speaker": "s", "language": "te", "method": "model"}
        rows.append({**base, "condition": "image_audio", "ssim": 0.5, "dice_mean": dice,
                     "anatomy_reference": ref})  # fmt: skip
        rows.append({**base, "method": "real", "condition": "real", "lse_d": 0.7})
    _write_rows(tmp_path / "per_utterance.csv", rows)
    flat = language_report(tmp_path, languages=["te"], conditions=["image_audio"])
    assert flat["te.model.image_audio.dice_mean"] == pytest.approx(0.9)  # not 0.5
    assert flat["pseudo_labels.te.model.image_audio.dice_mean"] == pytest.approx(0.1)
    assert flat["te.model.image_audio.ssim"] == pytest.approx(0.5)  # both clips' SSIM
    assert "image+audio vs pseudo-labels" in (tmp_path / "languages.md").read_text()


def test_face_columns_appear_only_when_the_rows_have_them(tmp_path):
    rows = _rows()
    _write_rows(tmp_path / "per_utterance.csv", rows)
    language_report(tmp_path, languages=["te", "en"])
    assert "LMD" not in (tmp_path / "languages.md").read_text()  # MRI: no face columns
    for r in rows:
        if r["method"] == "model":
            r.update(lmd_mouth=0.05, mouth_cpbd=0.7)
        elif r["method"] == "real":
            r.update(mouth_cpbd=0.75)  # the recording's sharpness (it has no LMD to itself)
    face = tmp_path / "face"
    face.mkdir()
    _write_rows(face / "per_utterance.csv", rows)
    flat = language_report(face, languages=["te", "en"])
    table = (face / "languages.md").read_text()
    assert "| SSIM ↑ | mouth LMD ↓ | mouth CPBD ↑ |" in table
    assert flat["te.model.image_audio.lmd_mouth"] == pytest.approx(0.05)
    assert flat["en.real.mouth_cpbd"] == pytest.approx(0.75) and "en.real.lmd_mouth" not in flat
