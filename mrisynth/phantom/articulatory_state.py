"""Articulatory state vector: parameter layout and the reference postures.

This is the lowest module of the phantom's articulatory chain; it depends only on the speaker
anatomy.  :mod:`mrisynth.phantom.geometry` turns a state into midsagittal geometry and
:mod:`mrisynth.phantom.articulation` plans state trajectories (using the geometry for contact
landmarks), so the import order is ``articulatory_state -> geometry -> articulation`` with no
cycle.

A *state* is a ``(P,)`` float array in :data:`ARTICULATORY_PARAMS` order; batches are ``(T, P)``.
"""

from __future__ import annotations

import numpy as np

from mrisynth.phantom.anatomy import SpeakerAnatomy

__all__ = [
    "ARTICULATORY_PARAMS",
    "PARAM_INDEX",
    "N_PARAMS",
    "neutral_state",
    "rest_state",
]

#: Articulatory state vector layout (mm unless stated).
ARTICULATORY_PARAMS: tuple[str, ...] = (
    "jaw_open_mm",  # lower-incisor drop from occlusion, 0..~25
    "lip_aperture_mm",  # vertical lip opening; < 0 = compressed (bilabial closure)
    "lip_protrusion_mm",  # forward lip displacement (rounding)
    "lip_width_mm",  # horizontal mouth opening, 35..55 (face, lip area)
    "tongue_body_back_mm",  # dorsum displacement, + = retracted (posterior)
    "tongue_body_height_mm",  # dorsum displacement, + = raised
    "tongue_tip_back_mm",  # tip displacement, + = retracted
    "tongue_tip_height_mm",  # tip displacement, + = raised
    "tongue_tip_curl",  # 0..1 retroflex curl
    "velum_port_mm",  # velopharyngeal gap, 0 = closed (< 0: pressed shut)
    "larynx_height_mm",  # vertical larynx displacement, + = raised
    "voicing",  # 0..1 vocal-fold vibration
    "aspiration",  # 0..1 glottal frication (h, aspirated release)
    "f0_hz",  # fundamental frequency
)
#: Parameter name -> column in a state vector.
PARAM_INDEX: dict[str, int] = {n: i for i, n in enumerate(ARTICULATORY_PARAMS)}
#: Length ``P`` of a state vector.
N_PARAMS: int = len(ARTICULATORY_PARAMS)

_I = PARAM_INDEX


def neutral_state(anatomy: SpeakerAnatomy) -> np.ndarray:
    """Neutral schwa-like state ``(P,)`` (also the relaxation target of idle articulators)."""
    x = np.zeros(N_PARAMS)
    x[_I["jaw_open_mm"]] = 7.0
    x[_I["lip_aperture_mm"]] = 8.0
    x[_I["lip_width_mm"]] = 45.0
    x[_I["velum_port_mm"]] = -1.5
    x[_I["f0_hz"]] = anatomy.f0_mean_hz
    return x


def rest_state(anatomy: SpeakerAnatomy) -> np.ndarray:
    """Silence posture ``(P,)``: jaw and lips nearly closed, velum open (nasal breathing)."""
    x = neutral_state(anatomy)
    x[_I["jaw_open_mm"]] = 4.0
    x[_I["lip_aperture_mm"]] = 1.5
    x[_I["tongue_tip_height_mm"]] = 1.0
    x[_I["velum_port_mm"]] = 5.0
    return x
