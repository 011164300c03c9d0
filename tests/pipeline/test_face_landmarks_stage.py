"""experiments/face/landmarks.py: the landmark regressor reads the evaluation's geometry."""

import importlib.util
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stage():
    spec = importlib.util.spec_from_file_location(
        "face_landmarks_stage", REPO / "experiments" / "face" / "landmarks.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_shipped_params_crop_the_face_box_of_the_96_px_video(stage):
    params = yaml.safe_load((REPO / "experiments" / "face" / "params.yaml").read_text())
    kw = stage.settings(params)
    box = params["prepare"]["roi_box_mm"]
    assert kw["size"] == 96 and kw["crop"] == (box[0], box[1], box[2])
    assert kw["crop"][2] == params["model"]["img_size"]  # what the evaluation scores
    # its training identities lie past the corpus's speakers (the faces it measures)
    assert kw["first_train_speaker"] >= 8


def test_a_smaller_model_size_renders_the_same_geometry_smaller(stage):
    whole = stage.settings({"model": {"img_size": 32}})  # no face box: the whole frame
    assert whole["size"] == 32 and whole["crop"] is None
    half = stage.settings({"model": {"img_size": 32}, "prepare": {"roi_box_mm": [20, 16, 64, 64]}})
    assert half["size"] == 48 and half["crop"] == (10, 8, 32)


@pytest.mark.parametrize(
    "params, words",
    [
        ({"landmarks": {"stpes": 3}}, "landmarks.stpes: unknown key"),
        ({"prepare": {"roi_box_mm": [20, 16, 64, 48]}}, "must be square"),
    ],
)
def test_bad_params_name_the_key(stage, params, words):
    with pytest.raises(ValueError, match=words):
        stage.settings(params)
