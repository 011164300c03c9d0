"""Dataset presets: the frame rate and pixel spacing of public rtMRI corpora whose files omit them.

Real rtMRI files often do not state their geometry (AVI and MP4 have no pixel spacing; the
USC HDF5 files have neither spacing nor timing). A preset fills in **only what the file does
not state**; the precedence in :func:`mrisynth.io.read_sequence` is::

    explicit argument (fps=, spacing_mm=; CLI --fps, --spacing)
      > the recording's own metadata (sidecar JSON, then the file header / container)
      > the dataset preset (dataset_preset=; CLI --dataset)
      > the format's default preset (USC HDF5: usc75)

Where a preset disagrees with what the file states (by more than :data:`AGREE_REL`), or the
matrix differs from the preset's, the file's value is kept and a warning names both values.

Where the numbers come from (``shared/reference/real-rtmri-notes.md``, "File facts", measured
on real files; and the datasets' own descriptions):

- ``usc75`` -- USC 75-speaker speech MRI database: 84 x 84, MPEG-4 video at 83.28 fps
  (container timescale 65040 with 781 per frame; the protocol's two TRs of 6.004 ms per
  frame give ``1000 / 12.008`` = 83.278 fps), spacing not in the file: 200 mm FOV / 84 px =
  2.381 mm.
- ``usc-timit`` -- USC-TIMIT AVIs: 68 x 68, 23.18 fps, no audio stream (audio separate, 20 kHz
  WAV), spacing not in the file: 200 mm / 68 = 2.941 mm. One header (M3_394) wrongly states
  30 fps: the preset cannot override it (the file wins), but the warning shows the mismatch.
- ``usc-span`` -- USC SPAN AVIs: same acquisition as USC-TIMIT (68 x 68, 2.941 mm,
  23.18 fps); one SPAN study runs at 22.41 fps, which its container states.

Example::

    preset = get_dataset("usc-timit")    # DatasetPreset(name='usc-timit', matrix=(68, 68), ...)
    seq = read_sequence("F1_001.avi", dataset_preset="usc-timit")
"""

from __future__ import annotations

import dataclasses

__all__ = ["AGREE_REL", "DATASETS", "DatasetPreset", "get_dataset", "dataset_names"]

#: Relative difference below which a file's value and a preset's value agree (0.5 %: the
#: 83.28 fps of a container against 83.278 fps of the protocol agree; 22.41 vs 23.18 do not).
AGREE_REL = 0.005


@dataclasses.dataclass(frozen=True)
class DatasetPreset:
    """Acquisition facts of one rtMRI corpus.

    Args:
        name: preset name (``--dataset NAME``).
        matrix: ``(H, W)`` frame size in pixels of the corpus' files.
        spacing_mm: ``(row, col)`` pixel spacing in mm (field of view / matrix).
        fps: frame rate in frames per second.
        description: one line: corpus and where the numbers come from.
    """

    name: str
    matrix: tuple[int, int]
    spacing_mm: tuple[float, float]
    fps: float
    description: str = ""

    @property
    def fov_mm(self) -> tuple[float, float]:
        """Field of view ``(rows, cols)`` in mm."""
        return (self.matrix[0] * self.spacing_mm[0], self.matrix[1] * self.spacing_mm[1])


DATASETS: dict[str, DatasetPreset] = {
    p.name: p
    for p in (
        DatasetPreset(
            "usc75",
            (84, 84),
            (200.0 / 84, 200.0 / 84),
            1000.0 / (2 * 6.004),
            "USC 75-speaker database (MP4, HDF5): 200 mm / 84 px, 2 TRs of 6.004 ms per frame",
        ),
        DatasetPreset(
            "usc-timit",
            (68, 68),
            (200.0 / 68, 200.0 / 68),
            23.18,
            "USC-TIMIT AVIs: 200 mm / 68 px, 23.18 fps, audio separate (20 kHz WAV)",
        ),
        DatasetPreset(
            "usc-span",
            (68, 68),
            (200.0 / 68, 200.0 / 68),
            23.18,
            "USC SPAN AVIs: as USC-TIMIT (one study at 22.41 fps, stated by its container)",
        ),
    )
}


def dataset_names() -> list[str]:
    """Names of the known presets, sorted."""
    return sorted(DATASETS)


def get_dataset(name: str | DatasetPreset) -> DatasetPreset:
    """The preset called ``name`` (case-insensitive; a :class:`DatasetPreset` is returned as is).

    Raises:
        ValueError: unknown name; the message lists the known ones.
    """
    if isinstance(name, DatasetPreset):
        return name
    preset = DATASETS.get(str(name).strip().lower())
    if preset is None:
        raise ValueError(f"unknown dataset preset {name!r}; known: {', '.join(dataset_names())}")
    return preset
