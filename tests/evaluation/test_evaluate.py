"""Evaluation: aggregation and report files on hand-made rows, input checks, and one end-to-end
run on a tiny phantom with tiny trained models (``-m slow``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re

import numpy as np
import pytest

from mrisynth.config.schema import ConfigError
from mrisynth.data.sequence import SpeechMRISequence
from mrisynth.evaluation.anatomy import AnatomyTruth, score_anatomy
from mrisynth.evaluation.evaluate import (
    ARTICULATORS,
    EvalConfig,
    check_videos_comparable,
    frame_phones,
    read_phones,
    tongue_contours,
)
from mrisynth.evaluation.metrics_registry import find_metric
from mrisynth.evaluation.phones import retroflex_check
from mrisynth.evaluation.report import (
    aggregate,
    compare_methods,
    flat_metrics,
    language_lse_table,
    markdown_table,
    parse_metrics_key,
    write_report,
)
from mrisynth.phantom.labels import LABELS


def _row(utt, method, condition, lang="ta", **metrics):
    return {
        "utterance": utt,
        "speaker": "spk02",
        "language": lang,
        "method": method,
        "condition": condition,
        **metrics,
    }


def _fake_rows():
    """Two conditions, model clearly better than one baseline and tied with another."""
    rows = []
    for i in range(4):
        lang = "ta" if i < 2 else "en"
        rows.append(_row(f"u{i}", "real", "real", lang, lse_d=6.0 + 0.1 * i, lse_c=3.0))
        rows.append(_row(f"u{i}", "shuffled", "real", lang, lse_d=9.0, lse_c=0.5))
        rows.append(_row(f"u{i}", "segmenter", "real", lang, dice_mean=0.9))
        for cond in ("image_audio", "video_audio"):
            rows.append(
                _row(f"u{i}", "model", cond, lang, dice_mean=0.80 + 0.01 * i, lse_d=7.0 + i % 2)
            )
            rows.append(
                _row(f"u{i}", "baseline_static", cond, lang, dice_mean=0.50 + 0.01 * i, lse_d=9.0)
            )
            rows.append(
                _row(
                    f"u{i}",
                    "baseline_regression",
                    cond,
                    lang,
                    dice_mean=0.79 + 0.02 * (i % 2),
                    lse_d=float("nan"),
                )
            )
    return rows


# ---------------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sync_span_ms": 0}, "sync_span_ms must be > 0"),
        ({"warp_stride": 0}, "warp_stride must be >= 1"),
        ({"n_videos": -1}, "n_videos must be >= 0"),
        ({"conditions": ("audio_only",)}, "conditions must be a non-empty subset"),
        ({"hd95_stride": 0}, "hd95_stride must be >= 1"),
    ],
)
def test_eval_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EvalConfig(**kwargs)


def test_cli_config_from_params_and_overrides(tmp_path):
    from mrisynth.cli import evaluate as cli

    params = tmp_path / "params.yaml"
    params.write_text("evaluate:\n  n_videos: 2\n  offset_test_frames: [-3, 3]\n")
    cfg = cli.build_config(params, ["sync_span_ms=400", "conditions=[image_audio]"])
    assert cfg.n_videos == 2 and cfg.offset_test_frames == (-3, 3)
    assert cfg.sync_span_ms == 400.0 and cfg.conditions == ("image_audio",)
    with pytest.raises(ConfigError, match="evaluate.n_video: unknown key"):
        cli.build_config(None, ["n_video=1"])
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(
        ["--prepared", str(tmp_path / "missing.csv"), "--generator", "g.pt"]
        + ["--eval-expert", "e.pt", "--segmenter", "s.pt", "--out", str(tmp_path / "o")]
    )
    with pytest.raises(FileNotFoundError, match="--prepared: .*missing.csv does not exist"):
        cli.run(args)


# ---------------------------------------------------------------------------------- aggregation
def test_aggregate_means_cis_and_flat_keys():
    rows = _fake_rows()
    cells = aggregate(rows)
    model = cells[("model", "image_audio")]
    assert model["dice_mean"].mean == pytest.approx(np.mean([0.80, 0.81, 0.82, 0.83]))
    assert model["dice_mean"].n == 4 and model["n_clips"].n == 4
    assert model["dice_mean"].low < model["dice_mean"].mean < model["dice_mean"].high
    # NaN entries are skipped: no regression LSE at all
    assert cells[("baseline_regression", "image_audio")]["lse_d"].n == 0
    flat = flat_metrics(cells)
    assert flat["model.image_audio.dice_mean"] == pytest.approx(0.815)
    assert flat["real.lse_d"] == pytest.approx(6.15)  # reference methods carry no condition
    assert flat["segmenter.dice_mean"] == pytest.approx(0.9)
    assert "baseline_regression.image_audio.lse_d" not in flat  # dropped, never NaN
    assert all(math.isfinite(v) for v in flat.values())
    with pytest.raises(ValueError, match="lacks grouping column"):
        aggregate([{"method": "model"}])


def test_comparisons_state_direction_and_ci_overlap():
    comp = compare_methods(aggregate(_fake_rows()), metrics=("dice_mean", "lse_d"))
    by = {(c["condition"], c["metric"], c["baseline"]): c for c in comp}
    static = by[("image_audio", "dice_mean", "baseline_static")]
    assert static["model_better"] and not static["ci_overlap"]
    assert "do not overlap" in static["verdict"]
    reg = by[("image_audio", "dice_mean", "baseline_regression")]
    assert reg["ci_overlap"] and "not a clear difference" in reg["verdict"]
    # lse_d: lower is better, model (7.5) beats static (9.0)
    assert by[("video_audio", "lse_d", "baseline_static")]["model_better"]
    assert ("image_audio", "lse_d", "baseline_regression") not in by  # no data, no claim


def test_language_lse_table_has_seed_study_rows():
    headers, table = language_lse_table(_fake_rows(), ("image_audio", "video_audio"))
    assert [r[0] for r in table] == ["Telugu", "Tamil", "Kannada", "Malayalam", "Hindi", "English"]
    assert headers[1:5] == [
        "image_audio LSE-D",
        "image_audio LSE-C",
        "video_audio LSE-D",
        "video_audio LSE-C",
    ]
    tamil = table[1]
    assert tamil[1].startswith("7.500") and tamil[5].startswith("6.050") and tamil[-1] == "2"
    assert table[0][1] == "n/a" and table[0][-1] == "0"


def test_markdown_table_escapes_pipes():
    md = markdown_table(["a", "b"], [["x|y", 1]])
    assert md.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | 1 |"]


def test_write_report_files(tmp_path):
    rows = _fake_rows()
    curve = {
        "offset_ms": np.array([-40.0, 0.0, 40.0]),
        "real": np.array([2.0, 1.0, 2.0]),
        "model": np.array([2.0, 1.5, 2.0]),
        "shuffled": np.array([2.0, 2.0, 2.0]),
    }
    traj = {
        "utterance": "u0",
        "condition": "image_audio",
        "places": ["lips", "tongue_tip"],
        "time_s": np.arange(5) / 25.0,
        "reference": {"lips": np.arange(5.0), "tongue_tip": np.ones(5)},
        "synthesized": {"lips": np.arange(5.0) + 1, "tongue_tip": np.full(5, np.nan)},
    }
    class_rows = [
        {**_row("u0", "model", "image_audio"), "phoneme_class": "retroflex", "l1_mask": 0.1},
        {**_row("u0", "model", "image_audio"), "phoneme_class": "dental", "l1_mask": 0.2},
    ]
    retro = [
        {
            "source": "reference",
            "retroflex_x_mm": 50.0,
            "dental_x_mm": 40.0,
            "retroflex_behind_dental": True,
        }
    ]
    metrics = write_report(
        tmp_path,
        rows,
        conditions=("image_audio", "video_audio"),
        class_rows=class_rows,
        retroflex=retro,
        offset_curve=curve,
        trajectories=traj,
        extra_metrics={"retroflex_check.reference.retroflex_behind_dental": 1.0, "bad": math.nan},
    )
    for name in (
        "metrics.json",
        "summary.json",
        "per_utterance.csv",
        "per_class.csv",
        "comparisons.csv",
        "offset_curve.csv",
        "trajectories.csv",
        "tables.md",
        "report.html",
        "plots/metric_distributions.png",
        "plots/offset_curve.png",
        "plots/trajectories.png",
    ):
        assert (tmp_path / name).is_file(), name

    def no_nan(token):
        raise AssertionError(f"metrics.json holds {token}")

    on_disk = json.loads((tmp_path / "metrics.json").read_text(), parse_constant=no_nan)
    assert on_disk == metrics and "bad" not in on_disk
    assert on_disk["retroflex_check.reference.retroflex_behind_dental"] == 1.0
    assert (tmp_path / "offset_curve.csv").read_text().splitlines()[0] == (
        "offset_ms,real,model,shuffled"
    )
    md = (tmp_path / "tables.md").read_text()
    assert "not comparable" in md and "public SyncNet" in md
    assert "| Tamil |" in md and "do not overlap" in md and "retroflex" in md
    html = (tmp_path / "report.html").read_text()
    assert "<table>" in html and "plots/offset_curve.png" in html
    with pytest.raises(ValueError, match="no evaluation rows"):
        write_report(tmp_path / "empty", [], conditions=("image_audio",))


# ---------------------------------------------------------------------------------- checks
def _seq(t=10, fps=25.0, spacing=2.0, size=16):
    return SpeechMRISequence(
        frames=np.zeros((t, size, size), np.float32),
        fps=fps,
        spacing_mm=spacing,
        utterance_id="utt",
    )


@pytest.mark.parametrize(
    ("other", "message"),
    [
        (_seq(fps=83.28), "utt: synthesized fps 83.28 != reference fps 25.0; resample one"),
        (_seq(spacing=2.4), r"synthesized spacing_mm \(2.4, 2.4\) != reference spacing_mm \(2.0"),
        (_seq(size=32), r"frames are \(32, 32\) px, reference frames \(16, 16\)"),
        (_seq(t=9), "video has 9 frames, the reference 10"),
    ],
)
def test_videos_on_other_grids_are_rejected(other, message):
    check_videos_comparable(_seq(), _seq())
    with pytest.raises(ValueError, match=message):
        check_videos_comparable(_seq(), other)


def test_phones_per_frame_and_retroflex_check(tmp_path):
    path = tmp_path / "p_phones.csv"
    path.write_text("start_s,end_s,phone\n0.0,0.09,_\n0.09,0.19,ʈ\n0.19,0.29,t̪\n")
    phones = read_phones(path)
    assert phones[1] == (0.09, 0.19, "ʈ")
    per_frame = frame_phones(phones, 8, fps=25.0)  # centres 0.02, 0.06, ..., 0.30
    assert per_frame == ["_", "_", "ʈ", "ʈ", "ʈ", "t̪", "t̪", None]
    x = np.array([0, 0, 50.0, 52.0, np.nan, 40.0, np.nan, 0])
    check = retroflex_check("reference", [(x, per_frame)])
    assert check["retroflex_x_mm"] == 51.0 and check["dental_x_mm"] == 40.0
    assert check["retroflex_behind_dental"] is True and check["n_dental_frames"] == 1
    front = retroflex_check("model", [(100 - x, per_frame)])
    assert front["retroflex_behind_dental"] is False
    (tmp_path / "bad.csv").write_text("start,end,phone\n")
    with pytest.raises(ValueError, match="bad.csv: phones CSV lacks column"):
        read_phones(tmp_path / "bad.csv")


def test_tongue_contour_in_mm():
    labels = np.zeros((2, 20, 20), np.uint8)
    labels[0, 5:10, 4:14] = LABELS["tongue"]  # rows 5..9, cols 4..13
    contours = tongue_contours(labels, (2.0, 1.0))
    assert contours[1] is None
    c = contours[0]
    assert c[:, 0].min() == pytest.approx(3.5) and c[:, 0].max() == pytest.approx(13.5)  # x, col
    assert c[:, 1].min() == pytest.approx(9.0) and c[:, 1].max() == pytest.approx(19.0)  # y, 2 mm


def test_anatomy_of_the_reference_itself_and_one_lost_tongue():
    """Labels scored against themselves: Dice 1, HD95 0, no constriction error; erasing the
    tongue in one frame costs that frame the image diagonal in HD95: the mean moves, the median
    over frames does not."""
    from mrisynth.phantom.corpus import PhantomConfig, Utterance, synthesize_utterance

    seq = synthesize_utterance(
        PhantomConfig(face=False), Utterance("u0", "spk00", 0, "en", 0, "test", 5)
    )["sequence"]
    labels = np.asarray(seq.labels)
    truth = AnatomyTruth.of(labels, seq.spacing_mm)
    same = score_anatomy(labels, truth, hd95_stride=4).row
    assert same["dice_mean"] == 1.0 and same["hd95_mean_mm"] == 0.0
    assert same["hd95_median_mm"] == 0.0 and same["degree_err_mean_mm"] == 0.0
    lost = labels.copy()
    lost[8][lost[8] == LABELS["tongue"]] = LABELS["airway"]  # frame 8: scored at stride 4
    row = score_anatomy(lost, truth, hd95_stride=4).row
    n_scored = len(range(0, len(labels), 4))
    diagonal = np.hypot(*(n * s for n, s in zip(labels.shape[1:], seq.spacing_mm)))
    assert row["hd95_tongue_mm"] == pytest.approx(diagonal / n_scored, rel=1e-6)
    assert row["hd95_mean_mm"] >= diagonal / (len(ARTICULATORS) * n_scored) - 1e-9
    assert row["hd95_median_mm"] == 0.0 and row["dice_mean"] < 1.0


# ---------------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_model_cfg, tiny_seg_cfg, tiny_prepared):
    """Tiny trained models evaluated on a tiny phantom: ``(metrics, out_dir, tracker)``."""
    import torch

    from mrisynth.data.prepare import load_prepared
    from mrisynth.engine import TrainConfig
    from mrisynth.engine.solvers.generator import GeneratorOptions, train_generator
    from mrisynth.engine.solvers.segmenter import train_segmenter
    from mrisynth.engine.solvers.sync_expert import ExpertOptions, train_sync_expert
    from mrisynth.evaluation.evaluate import evaluate
    from mrisynth.losses import GeneratorLossWeights
    from mrisynth.models.artifacts import save_segmenter

    tmp_path = tmp_path_factory.mktemp("tiny_run")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    prepared = tiny_prepared(tmp_path, pretrain_speakers=2, adapt_per_language=2)
    pre, adapt = load_prepared(prepared, "pretrain"), load_prepared(prepared, "adapt")
    model_cfg = tiny_model_cfg

    def run_cfg(name, **kw):
        base = dict(
            max_steps=20,
            batch_size=8,
            out_dir=str(tmp_path / name),
            device="cpu",
            progress=False,
            lr_schedule="constant",
            log_interval=100,
            eval_interval=10**6,
            ckpt_interval=10**6,
        )
        return TrainConfig(**{**base, **kw})

    # the evaluation expert sees all non-test data; the generator is trained without it
    train_sync_expert(
        pre + adapt,
        adapt[:1],
        model_cfg,
        run_cfg("expert", max_steps=EXPERT_STEPS, batch_size=16, eval_interval=EXPERT_STEPS),
        options=ExpertOptions(lr=1e-3, max_val_pairs=64),
    )
    weights = dataclasses.replace(GeneratorLossWeights.mri(), sync=0.0, sync_enable_below=None)
    train_generator(
        pre,
        adapt[:1],
        model_cfg,
        run_cfg("gen", eval_interval=20),
        None,
        loss_weights=weights,
        options=GeneratorOptions(lr=3e-3, max_val_clips=4),
    )
    frames = np.concatenate([s.frames for s in pre]).astype(np.float32) / 255
    labels = np.concatenate([s.labels for s in pre])
    seg_cfg = dataclasses.replace(tiny_seg_cfg, lr=1e-2)
    seg, _ = train_segmenter(
        frames,
        labels,
        frames[::10],
        labels[::10],
        cfg=seg_cfg,
        train_cfg=run_cfg("seg", max_steps=60, batch_size=16, eval_interval=60),
    )
    save_segmenter(tmp_path / "seg.pt", seg, seg_cfg)

    out = tmp_path / "eval"
    cfg = EvalConfig(n_videos=1, offset_test_frames=(-4, 4), hd95_stride=8)
    tracker = _RecordingTracker()
    metrics = evaluate(
        prepared, tmp_path / "gen/generator.pt", tmp_path / "expert/expert.pt", tmp_path / "seg.pt",
        out, cfg, tracker=tracker,
    )  # fmt: skip
    return metrics, out, tracker


@pytest.mark.slow
def test_evaluate_end_to_end_on_tiny_phantom(tiny_run):
    metrics, out, tracker = tiny_run
    assert tracker.metrics == {f"eval/{k}": v for k, v in metrics.items()}
    assert tracker.artifacts == [out] and tracker.params["evaluate"]["n_videos"] == 1
    # MLflow accepts only these characters in metric names
    assert all(re.fullmatch(r"[\w\-. /]+", k) for k in tracker.metrics)

    for name in ("metrics.json", "per_utterance.csv", "tables.md", "report.html",
                 "offset_curve.csv", "plots/offset_curve.png", "plots/trajectories.png"):  # fmt: skip
        assert (out / name).is_file(), name
    assert len(list((out / "videos").glob("*.mp4"))) == 1
    on_disk = json.loads((out / "metrics.json").read_text(), parse_constant=float.__call__)
    assert all(math.isfinite(v) for v in on_disk.values())
    for method in ("model", "baseline_static", "baseline_nearest_neighbour", "baseline_regression"):
        for cond in ("image_audio", "video_audio"):
            for m in ("l1", "ssim", "ms_ssim", "psnr", "lse_d", "lse_c", "dice_mean",
                      "hd95_mean_mm", "degree_err_mean_mm", "warp_error", "temporal_grad_diff"):  # fmt: skip
                assert math.isfinite(metrics[f"{method}.{cond}.{m}"]), (method, cond, m)
            assert metrics[f"{method}.{cond}.n_clips"] == 2
    for key in ("real.lse_d", "real.lse_c", "shuffled.lse_d", "segmenter.dice_mean",
                "real.shift_-4_offset", "real.shift_4_offset", "real.av_offset_error",
                "retroflex_check.reference.retroflex_x_mm"):  # fmt: skip
        assert key in metrics, key
    assert 0 <= metrics["segmenter.dice_mean"] <= 1
    # a frozen reference frame has no temporal high-pass at all, and its temporal-gradient
    # difference is the recording's own motion
    assert metrics.get("baseline_static.image_audio.flicker", 0.0) == 0.0
    assert metrics["baseline_static.image_audio.temporal_grad_diff"] > 0
    # sync sanity of the evaluation expert (per clip, see the note at EXPERT_STEPS)
    rows = [r for r in _csv(out / "per_utterance.csv") if r["method"] in ("real", "shuffled")]
    real = {r["utterance"]: r for r in rows if r["method"] == "real"}
    shuffled = {r["utterance"]: r for r in rows if r["method"] == "shuffled"}
    assert set(real) == set(shuffled) and len(real) == 2
    assert metrics["real.lse_d"] < metrics["shuffled.lse_d"]
    assert metrics["real.lse_c"] > metrics["shuffled.lse_c"]
    for r in real.values():
        if float(r["lse_c"]) > LSE_C_CLEAR:
            # the tiny 32-px expert locates offsets to within ~2 frames (80 ms at 25 fps); the
            # direction and size of a ±4-frame shift must still come out
            assert abs(float(r["offset"])) <= 2, r
            assert abs(float(r["shift_4_offset"]) - 4) <= 2, r
            assert abs(float(r["shift_-4_offset"]) + 4) <= 2, r


@pytest.mark.slow
def test_metric_registry_covers_every_key_of_metrics_json(tiny_run):
    _assert_registry_covers(tiny_run[1] / "metrics.json")


def _assert_registry_covers(metrics_json):
    """Every key of a ``metrics.json`` parses and names a metric of the registry."""
    from mrisynth.evaluation.config import CONDITIONS

    keys = json.loads(metrics_json.read_text())
    assert keys
    missing = []
    for key in keys:
        _, condition, name = parse_metrics_key(key)
        assert condition is None or condition in CONDITIONS, key
        if find_metric(name) is None:
            missing.append(key)
    assert not missing, f"metrics.json keys without a metric_registry entry: {missing}"


_UNTRAINED_CFG = EvalConfig(n_videos=1, offset_test_frames=(-2, 2), hd95_stride=50, warp_stride=16)


@pytest.mark.parametrize("anatomy", [pytest.param(True, marks=pytest.mark.slow), False])
def test_metric_registry_covers_metrics_of_an_evaluation(untrained, anatomy):
    """evaluate() end to end on untrained models, with and without a segmenter (the anatomy
    one is slow; the trained run covers it too): every key of its metrics.json is in the metric
    registry, for every method × condition."""
    from mrisynth.evaluation.evaluate import evaluate

    prepared, gen, expert, seg, root = untrained
    out = root / f"eval_{anatomy}"
    metrics = evaluate(prepared, gen, expert, seg if anatomy else None, out, _UNTRAINED_CFG)
    _assert_registry_covers(out / "metrics.json")
    for method in ("model", "baseline_static", "baseline_nearest_neighbour", "baseline_regression"):
        for cond in ("image_audio", "video_audio"):
            assert metrics[f"{method}.{cond}.n_clips"] == 2
            for m in ("l1", "ssim", "lse_d", "warp_error"):
                assert math.isfinite(metrics[f"{method}.{cond}.{m}"]), (method, cond, m)
            assert (f"{method}.{cond}.dice_mean" in metrics) == anatomy
    assert "real.shift_-2_offset_error" in metrics and "shuffled.lse_d" in metrics
    assert ("segmenter.dice_mean" in metrics) == anatomy
    assert metrics.get("baseline_static.image_audio.flicker", 0.0) == 0.0  # a frozen frame
    assert len(list((out / "videos").glob("*.mp4"))) == 1
    assert "SSIM with a 7×7 uniform window" in (out / "tables.md").read_text()


def test_evaluate_checks_models_and_data_against_the_data_spec(
    untrained, tiny_model_cfg, save_untrained
):
    from mrisynth.evaluation.evaluate import evaluate

    prepared, gen, expert, seg, root = untrained
    _, expert_50 = save_untrained(root / "fps50", tiny_model_cfg, fps=50.0)
    with pytest.raises(ValueError, match=r"evaluation expert .* vs generator .*: expert fps 50.0 "
                       r"!= generator fps 25.0"):  # fmt: skip
        evaluate(prepared, gen, expert_50, seg, root / "bad", _UNTRAINED_CFG)
    gen_50, _ = save_untrained(root / "fps50", tiny_model_cfg, fps=50.0)
    with pytest.raises(ValueError, match=r"prepared.csv: .*: data fps 25 != model fps 50"):
        evaluate(prepared, gen_50, expert_50, seg, root / "bad", _UNTRAINED_CFG)


#: Steps of the tiny evaluation expert of the end-to-end test (~35 s)
#: and the per-clip LSE-C above which its offsets on the real video are asserted: a weak expert
#: (flat offset curve, LSE-C ≈ 0.1 as for shuffled audio) cannot locate the offset. With 1000
#: steps the real clips measured LSE-C ≈ 0.28, offset 0 and shifts of ±6 frames recovered exactly.
EXPERT_STEPS = 2000
LSE_C_CLEAR = 0.15


class _RecordingTracker:
    """Records what :func:`evaluate` logs (same calls as the MLflow Tracker)."""

    def __init__(self):
        self.metrics, self.params, self.artifacts = {}, {}, []

    def log_params(self, config):
        self.params.update(config)

    def log_metrics(self, metrics, step):
        self.metrics.update(metrics)

    def log_artifact(self, path, artifact_path=None):
        self.artifacts.append(path)


def _csv(path):
    import csv

    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))
