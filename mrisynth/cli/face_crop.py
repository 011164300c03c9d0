"""``--crop-scale`` and ``--crop-shift``, shared by the face commands (``dub``, ``fit-motion``).

Kept out of ``cli/common.py``, which every command imports: a DVC stage's code deps are its
command's imports, and a face option should not put the MRI pipelines' stages out of date.
"""

from __future__ import annotations

import argparse

__all__ = ["FACE_CROP_SCALE", "FACE_CROP_SHIFT", "add_face_crop_arguments"]


#: ``FaceCropConfig``'s defaults (``mrisynth.synthesis.face``), repeated here so that building
#: the parser does not import torch; ``tests/cli`` holds the two equal.
FACE_CROP_SCALE, FACE_CROP_SHIFT = 1.05, 0.13


def add_face_crop_arguments(parser: argparse.ArgumentParser, framing: str) -> None:
    """``--crop-scale`` and ``--crop-shift``: how a detected face box becomes the crop a model
    sees; ``framing`` names the model whose training framing the defaults reproduce."""
    parser.add_argument(
        "--crop-scale",
        type=float,
        default=FACE_CROP_SCALE,
        help=f"crop side / detected face width (default: {framing})",
    )
    parser.add_argument(
        "--crop-shift",
        type=float,
        default=FACE_CROP_SHIFT,
        help="crop centre below the face-box centre, in face widths",
    )
