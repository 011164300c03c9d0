"""experiments/compare/validate.py: how flags are scored against the substitutions made."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def validate():
    path = REPO / "experiments" / "compare" / "validate.py"
    spec = importlib.util.spec_from_file_location("compare_validate", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["compare_validate"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _record(kind: str, index: int, scores: list[float], split: str = "test") -> dict:
    phones = [{"index": i + 1, "rtmri": s, "oracle": s / 2} for i, s in enumerate(scores)]
    return {"split": split, "kind": kind, "index": index, "phones": phones}


def test_a_flag_hits_within_one_phone_of_the_substitution_and_controls_only_miss(validate):
    records = [
        _record("retroflex_to_dental", 3, [0, 0, 0, 9, 0]),  # flag at phone 4: a hit (3 ± 1)
        _record("retroflex_to_dental", 2, [0, 0, 0, 0, 9]),  # flag at phone 5: a false flag
        _record("control", -1, [9, 0, 0, 0, 0]),  # any flag on a control is false
    ]
    c = validate.counts(records, "rtmri", 5.0)
    assert c.tolist() == [[1, 1, 1, 1], [0, 1, 1, 0], [0, 1, 0, 0]]
    precision, recall, f1 = validate.prf(c)
    assert (precision, recall) == pytest.approx((1 / 3, 1 / 2))
    assert f1 == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    # a threshold above every score flags nothing: F1 0, not NaN
    assert validate.prf(validate.counts(records, "rtmri", 10.0))[2] == 0.0


def test_tuning_picks_the_threshold_that_separates_the_development_pairs(validate):
    dev = [_record("r_to_l", 2, [1, 6, 1, 1]), _record("control", -1, [1, 4, 1, 1])]
    thr = validate.tune(dev, "rtmri")
    assert 4 <= thr < 6
    assert validate.prf(validate.counts(dev, "rtmri", thr)) == (1.0, 1.0, 1.0)


def test_response_is_the_score_at_the_substituted_phone_against_the_controls(validate):
    records = [
        _record("retroflex_to_dental", 2, [0, 7, 0]),
        _record("retroflex_to_dental", 1, [3, 0, 0]),
        _record("control", -1, [1, 2, 3]),
    ]
    out = validate.response(records, "rtmri")
    assert out["retroflex_to_dental"] == pytest.approx(5.0)  # median of 7 and 3
    assert np.isnan(out["r_to_l"])  # no such pair
    assert out["controls_median"] == pytest.approx(2.0)
    assert validate.response(records, "oracle")["retroflex_to_dental"] == pytest.approx(2.5)


def test_the_figure_reads_the_frames_it_asks_for_and_names_a_missing_one(tmp_path):
    from mrisynth.synthesis import Mp4Writer

    path = REPO / "experiments" / "compare" / "figure.py"
    spec = importlib.util.spec_from_file_location("compare_figure", path)
    figure = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(figure)
    video = tmp_path / "v.mp4"
    frames = np.zeros((6, 32, 48, 3), np.uint8)
    for k in range(6):
        frames[k] = 40 * k  # each frame its own grey level
    with Mp4Writer(video, 25.0, (32, 48), rgb=True) as writer:
        writer.write(frames)
    got = figure.video_frames(video, [4, 1])
    assert [g.shape for g in got] == [(32, 48, 3)] * 2
    assert abs(float(got[0].mean()) - 160) < 4 and abs(float(got[1].mean()) - 40) < 4
    with pytest.raises(ValueError, match=r"v\.mp4: has no frame 9 \(it has 6 frames\)"):
        figure.video_frames(video, [2, 9])
