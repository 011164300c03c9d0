"""The face commands' shared crop arguments."""

from __future__ import annotations

import argparse

from mrisynth.cli import dub, fit_motion
from mrisynth.cli.face_crop import FACE_CROP_SCALE, FACE_CROP_SHIFT
from mrisynth.synthesis.face import FaceCropConfig


def test_face_crop_defaults_are_the_crop_configs():
    # the parser repeats FaceCropConfig's defaults (to build without torch): they must agree
    assert (FACE_CROP_SCALE, FACE_CROP_SHIFT) == (FaceCropConfig().scale, FaceCropConfig().shift)
    for command in (dub, fit_motion):
        parser = argparse.ArgumentParser()
        command.add_arguments(parser)
        args = parser.parse_known_args(
            ["--face", "f.png", "--audio", "a.wav", "--out", "o.mp4", "--videos", "v",
             "--landmarks", "l.pt"]
        )[0]  # fmt: skip
        assert (args.crop_scale, args.crop_shift) == (
            FaceCropConfig().scale,
            FaceCropConfig().shift,
        )
