"""Per-speaker anatomy of the speech-production phantom (all lengths in mm).

Speakers differ in vocal-tract length, oral-cavity length, palate shape, velum size, head size and
head position in the field of view.  Defaults follow the reference numbers (Stevens 1998;
Lammert & Narayanan 2015): tract length ~141 mm (female) and ~169-177 mm (male), oral cavity
~78 (F) / 81 (M) mm, palate concavity varies between speakers (Lammert 2013).
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["SpeakerAnatomy", "sample_anatomy"]


@dataclasses.dataclass(frozen=True)
class SpeakerAnatomy:
    """Static anatomy of one speaker.

    Args:
        sex: ``"male"`` or ``"female"`` (sets defaults of the sampler and the f0 mean).
        vocal_tract_length_mm: glottis-to-lips centreline length of the neutral (schwa) posture;
            the geometry places the glottis so that this length is met.
        oral_length_mm: lips-to-posterior-pharyngeal-wall distance at the palate level.
        palate_length_mm: upper-incisor tip to posterior nasal spine (PNS).
        palate_dome_height_mm: vault height of the hard palate above the incisor-tip level.
        velum_length_mm: PNS to uvula tip.
        velum_thickness_mm: thickness of the velum near its root.
        tongue_radius_mm: radius of the tongue-body (dorsum) circle.
        pharynx_wall_mm: thickness of the posterior pharyngeal wall (prevertebral soft tissue).
        head_scale: size of skull/face/neck relative to a reference adult head.
        head_offset_mm: (dx, dy) shift of the head in the field of view (x anterior->posterior,
            y superior->inferior).
        f0_mean_hz: speaker mean fundamental frequency.
    """

    sex: str = "male"
    vocal_tract_length_mm: float = 168.0
    oral_length_mm: float = 80.0
    palate_length_mm: float = 46.0
    palate_dome_height_mm: float = 17.0
    velum_length_mm: float = 32.0
    velum_thickness_mm: float = 9.0
    tongue_radius_mm: float = 22.0
    pharynx_wall_mm: float = 5.0
    head_scale: float = 1.0
    head_offset_mm: tuple[float, float] = (0.0, 0.0)
    f0_mean_hz: float = 120.0

    def __post_init__(self) -> None:
        if self.sex not in ("male", "female"):
            raise ValueError(f"SpeakerAnatomy.sex must be 'male' or 'female', got {self.sex!r}")
        if not 120.0 <= self.vocal_tract_length_mm <= 200.0:
            raise ValueError(
                f"SpeakerAnatomy.vocal_tract_length_mm={self.vocal_tract_length_mm} is outside "
                "the adult range 120..200 mm"
            )
        if not 60.0 <= self.oral_length_mm <= 95.0:
            raise ValueError(f"SpeakerAnatomy.oral_length_mm={self.oral_length_mm} not in 60..95")
        if not 0.8 <= self.head_scale <= 1.2:
            raise ValueError(f"SpeakerAnatomy.head_scale={self.head_scale} not in 0.8..1.2")

    @property
    def oral_scale(self) -> float:
        """Scale of the oral structures relative to the 80-mm reference oral cavity."""
        return self.oral_length_mm / 80.0

    @property
    def pharynx_length_mm(self) -> float:
        """Approximate pharynx length: tract length minus oral length (velum level to glottis)."""
        return self.vocal_tract_length_mm - self.oral_length_mm


def sample_anatomy(rng: np.random.Generator, sex: str | None = None) -> SpeakerAnatomy:
    """Draw a random adult speaker.

    Args:
        rng: numpy generator (seed it for reproducible speakers).
        sex: ``"male"``, ``"female"`` or None (drawn with equal probability).

    Returns:
        A :class:`SpeakerAnatomy` with tract length 140-180 mm.
    """
    if sex is None:
        sex = "male" if rng.random() < 0.5 else "female"
    if sex not in ("male", "female"):
        raise ValueError(f"sample_anatomy: sex must be 'male', 'female' or None, got {sex!r}")
    male = sex == "male"
    vtl = float(
        np.clip(
            rng.normal(169.0 if male else 146.0, 5.0), 155 if male else 140, 180 if male else 160
        )
    )
    oral = float(np.clip(rng.normal(81.0 if male else 76.0, 2.5), 72.0, 88.0))
    size = oral / 80.0
    palate = float(46.0 * size * rng.uniform(0.95, 1.05))
    naso_depth = oral - 12.0 * size - palate  # PNS to posterior pharyngeal wall
    return SpeakerAnatomy(
        sex=sex,
        vocal_tract_length_mm=vtl,
        oral_length_mm=oral,
        palate_length_mm=palate,
        palate_dome_height_mm=float(np.clip(rng.normal(17.0, 2.0), 12.0, 22.0) * size),
        velum_length_mm=float(1.5 * naso_depth * rng.uniform(1.0, 1.1)),
        velum_thickness_mm=float(rng.uniform(8.0, 10.0) * size),
        tongue_radius_mm=float(22.0 * size * rng.uniform(0.95, 1.05)),
        pharynx_wall_mm=float(rng.uniform(4.0, 6.0)),
        head_scale=float(np.clip(size * rng.normal(1.0, 0.03), 0.85, 1.15)),
        head_offset_mm=(float(rng.normal(0.0, 3.0)), float(rng.normal(0.0, 3.0))),
        f0_mean_hz=float(rng.normal(120.0, 12.0) if male else rng.normal(210.0, 18.0)),
    )
