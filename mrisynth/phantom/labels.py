"""Label ids and articulatory-measure definitions of the phantom — the one place they are defined.

Label maps are ``(T, H, W)`` integer arrays aligned with the MRI frames.

Measures (all in mm, per frame):

- constriction **degree** at a place = the smallest midsagittal distance between the two
  surfaces that form that constriction (0 = contact/closure; never negative).
- constriction **location** = distance along the vocal-tract centreline *from the glottis* to the
  point of that smallest distance (mm).
- places: ``lips`` (upper vs lower lip), ``tongue_tip`` (tongue tip/blade vs alveolar ridge and
  front palate), ``tongue_body`` (tongue dorsum vs hard/soft palate), ``velum`` (velopharyngeal
  port: velum vs posterior pharyngeal wall; 0 = closed, i.e. oral), ``pharynx`` (tongue root vs
  posterior pharyngeal wall).
"""

from __future__ import annotations

__all__ = ["LABELS", "LABEL_NAMES", "N_LABELS", "CONSTRICTION_PLACES", "MEASURE_NAMES"]

#: name -> integer id used in every label map the package writes or reads.
LABELS: dict[str, int] = {
    "background": 0,  # air outside the head
    "airway": 1,  # vocal-tract lumen, nasal cavity and other air inside the head
    "tongue": 2,
    "lips": 3,
    "jaw_teeth": 4,  # mandible, upper and lower teeth (bone/enamel: dark in MRI)
    "velum": 5,
    "hard_palate": 6,
    "pharyngeal_wall": 7,
    "other_tissue": 8,  # face, skull, spine, neck soft tissue...
}
LABEL_NAMES: tuple[str, ...] = tuple(sorted(LABELS, key=LABELS.get))
N_LABELS: int = len(LABELS)

CONSTRICTION_PLACES: tuple[str, ...] = ("lips", "tongue_tip", "tongue_body", "velum", "pharynx")

#: Column names of the per-frame measures table (CSV written next to every phantom recording).
MEASURE_NAMES: tuple[str, ...] = tuple(
    f"{place}_{kind}_mm" for place in CONSTRICTION_PLACES for kind in ("degree", "location")
)
