"""The face landmark scheme shared by the phantom's faces, the landmark regressor and the face
metrics: 35 named points in a fixed order.

It lives here, below every layer that uses it, so that loading a landmark model or computing
LMD does not import the phantom's face renderer (and a DVC stage that loads a model does not
depend on the renderer's code).
"""

from __future__ import annotations

__all__ = ["LANDMARK_INDEX", "LANDMARK_NAMES"]

#: Landmark names, in the order of ``FaceVideo.landmarks[:, k]``. ``l``/``r`` = image left/right.
LANDMARK_NAMES: tuple[str, ...] = (
    *(f"jaw_{i}" for i in range(9)),  # face outline from image-left cheek over chin to right
    "brow_l",
    "brow_r",
    "eye_l_outer",
    "eye_l_inner",
    "eye_l_upper",
    "eye_l_lower",
    "eye_r_inner",
    "eye_r_outer",
    "eye_r_upper",
    "eye_r_lower",
    "nose_bridge",
    "nose_tip",
    "nose_ala_l",
    "nose_ala_r",
    "mouth_l",  # outer lip corners
    "mouth_r",
    "lip_upper_outer",
    "lip_lower_outer",
    "lip_upper_outer_l",
    "lip_upper_outer_r",
    "lip_lower_outer_l",
    "lip_lower_outer_r",
    "mouth_inner_l",  # inner lip corners
    "mouth_inner_r",
    "lip_upper_inner",
    "lip_lower_inner",
)
LANDMARK_INDEX: dict[str, int] = {name: i for i, name in enumerate(LANDMARK_NAMES)}
