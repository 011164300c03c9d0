"""CSV dataset manifests: one row per recording, paths relative to the manifest file.

Columns (:data:`MANIFEST_COLUMNS`); ``id`` and ``image_path`` are required, the others may be
empty (then the value is read from the files) or absent from the header::

    id, image_path, audio_path, speaker, language, split, fps, spacing_mm, audio_offset_s,
    transcript

``spacing_mm`` is one number or ``row;col`` (mm). An optional ``dataset`` column names a
preset of :mod:`mrisynth.io.datasets` (``usc75``, ``usc-timit``...) filling the fps / spacing
that the row and the file leave unstated (see :func:`load_sequence`). Any extra columns
(``labels_path``, ``measures_path``, ``face_path``...) are kept in :attr:`ManifestEntry.extra` and written back;
``labels_path`` (a NIfTI of integer labels, see :mod:`mrisynth.io.nifti`) is loaded into
``SpeechMRISequence.labels`` by :func:`load_sequence`.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path
from typing import Any

from mrisynth.data.sequence import SpeechMRISequence

__all__ = [
    "MANIFEST_COLUMNS",
    "REQUIRED_COLUMNS",
    "ManifestError",
    "ManifestEntry",
    "read_manifest",
    "write_manifest",
    "write_manifest_rows",
    "load_sequence",
    "load_manifest_sequences",
]

MANIFEST_COLUMNS = (
    "id",
    "image_path",
    "audio_path",
    "speaker",
    "language",
    "split",
    "fps",
    "spacing_mm",
    "audio_offset_s",
    "transcript",
)
REQUIRED_COLUMNS = ("id", "image_path")


class ManifestError(ValueError):
    """A manifest file is malformed; the message names the file, row and column."""


@dataclasses.dataclass
class ManifestEntry:
    """One recording of a manifest (paths relative to the manifest's folder).

    Args:
        id: unique recording id (also the sequence's ``utterance_id``).
        image_path: recording (file or folder) in any format of :func:`mrisynth.io.read_sequence`.
        audio_path: audio file, or None for embedded/sibling audio.
        speaker, language, split, transcript: descriptive metadata (None if empty).
        fps: frame rate override (fps), spacing_mm: ``(row, col)`` override (mm),
        audio_offset_s: audio start relative to the first frame (s); None = from the files.
        extra: any additional columns, as strings (empty cells are left out).
    """

    id: str
    image_path: str
    audio_path: str | None = None
    speaker: str | None = None
    language: str | None = None
    split: str | None = None
    fps: float | None = None
    spacing_mm: tuple[float, float] | None = None
    audio_offset_s: float | None = None
    transcript: str | None = None
    extra: dict[str, str] = dataclasses.field(default_factory=dict)

    def to_row(self) -> dict[str, str]:
        """The entry as CSV cells (``None`` -> empty)."""
        row = {
            "id": self.id,
            "image_path": self.image_path,
            "audio_path": self.audio_path or "",
            "speaker": self.speaker or "",
            "language": self.language or "",
            "split": self.split or "",
            "fps": "" if self.fps is None else repr(float(self.fps)),
            "spacing_mm": ""
            if self.spacing_mm is None
            else ";".join(repr(float(v)) for v in self.spacing_mm),
            "audio_offset_s": ""
            if self.audio_offset_s is None
            else repr(float(self.audio_offset_s)),
            "transcript": self.transcript or "",
        }
        return {**row, **self.extra}


def _positive(cell: str, where: str, *, allow_zero_negative: bool = False) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise ManifestError(f"{where}: {cell!r} is not a number") from None
    if not math.isfinite(value) or (not allow_zero_negative and value <= 0):
        raise ManifestError(f"{where}: {cell!r} must be a positive finite number")
    return value


def _parse_row(row: dict[str, str], where: str) -> ManifestEntry:
    def cell(col: str) -> str:
        return (row.get(col) or "").strip()

    for col in REQUIRED_COLUMNS:
        if not cell(col):
            raise ManifestError(f"{where}, column '{col}': required value is empty")
    spacing = None
    if cell("spacing_mm"):
        parts = [p for p in cell("spacing_mm").replace("x", ";").split(";") if p.strip()]
        if len(parts) not in (1, 2):
            raise ManifestError(
                f"{where}, column 'spacing_mm': {cell('spacing_mm')!r} must be 'mm' or 'row;col'"
            )
        vals = [_positive(p, f"{where}, column 'spacing_mm'") for p in parts]
        spacing = (vals[0], vals[-1])
    return ManifestEntry(
        id=cell("id"),
        image_path=cell("image_path"),
        audio_path=cell("audio_path") or None,
        speaker=cell("speaker") or None,
        language=cell("language") or None,
        split=cell("split") or None,
        fps=_positive(cell("fps"), f"{where}, column 'fps'") if cell("fps") else None,
        spacing_mm=spacing,
        audio_offset_s=_positive(
            cell("audio_offset_s"), f"{where}, column 'audio_offset_s'", allow_zero_negative=True
        )
        if cell("audio_offset_s")
        else None,
        transcript=row.get("transcript") or None,
        extra={
            k: v.strip() for k, v in row.items() if k not in MANIFEST_COLUMNS and v and v.strip()
        },
    )


def read_manifest(path: str | Path) -> list[ManifestEntry]:
    """Read and validate a CSV manifest.

    Raises:
        FileNotFoundError: missing manifest.
        ManifestError: missing required columns, duplicate/empty column names, empty required
            cells, bad numbers, duplicate ids; messages name the file, line and column.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path}")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in (reader.fieldnames or [])]
        if not header:
            raise ManifestError(f"{path.name}: empty manifest (no header row)")
        if len(set(header)) != len(header) or "" in header:
            raise ManifestError(f"{path.name}: header has empty or duplicate column names")
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise ManifestError(f"{path.name}: missing required column(s) {missing}")
        reader.fieldnames = header
        entries: list[ManifestEntry] = []
        seen: dict[str, int] = {}
        for row in reader:
            line = reader.line_num
            where = f"{path.name}, line {line}"
            if None in row:
                raise ManifestError(f"{where}: more cells than header columns")
            entry = _parse_row(row, where)
            if entry.id in seen:
                raise ManifestError(
                    f"{where}, column 'id': duplicate id {entry.id!r} (first on line {seen[entry.id]})"
                )
            seen[entry.id] = line
            entries.append(entry)
    return entries


def write_manifest(entries: list[ManifestEntry], path: str | Path) -> Path:
    """Write ``entries`` as CSV: the standard columns then the union of extra columns."""
    path = Path(path)
    extras: list[str] = []
    for e in entries:
        extras += [k for k in e.extra if k not in extras]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=[*MANIFEST_COLUMNS, *extras], restval="")
        writer.writeheader()
        for e in entries:
            writer.writerow(e.to_row())
    return path


def write_manifest_rows(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Validate plain dict rows (CSV cell values, extras allowed) and write them as a manifest.

    Raises:
        ManifestError: a row fails the same checks as :func:`read_manifest` (row number named).
    """
    path = Path(path)
    entries = []
    for i, row in enumerate(rows):
        cells = {str(k): "" if v is None else str(v) for k, v in row.items()}
        entries.append(_parse_row(cells, f"{path.name}, row {i + 1}"))
    return write_manifest(entries, path)


def load_sequence(
    entry: ManifestEntry, manifest_dir: str | Path, **read_options: Any
) -> SpeechMRISequence:
    """Read the recording of ``entry`` (paths resolved against ``manifest_dir``).

    Non-empty manifest values override what the files say; provenance paths are relative to
    ``manifest_dir``. ``labels_path`` (extra column) is loaded into ``labels``. A ``dataset``
    cell (extra column) names the preset for this row, over
    ``read_options["dataset_preset"]``.

    Args:
        read_options: passed to :func:`mrisynth.io.read_sequence` (orientation, target_sr,
            dataset_preset...).
    """
    from mrisynth.io import read_labels_nifti, read_sequence

    root = Path(manifest_dir)
    if entry.extra.get("dataset"):
        read_options = {**read_options, "dataset_preset": entry.extra["dataset"]}
    seq = read_sequence(
        root / entry.image_path,
        audio=root / entry.audio_path if entry.audio_path else None,
        fps=entry.fps,
        spacing_mm=entry.spacing_mm,
        audio_offset_s=entry.audio_offset_s,
        data_root=root,
        **read_options,
    )
    labels = None
    if entry.extra.get("labels_path"):
        labels = read_labels_nifti(
            root / entry.extra["labels_path"], expected_shape=seq.frames.shape
        )
    return seq.replace(
        utterance_id=entry.id,
        speaker=entry.speaker or seq.speaker,
        language=entry.language or seq.language,
        transcript=entry.transcript or seq.transcript,
        labels=labels if labels is not None else seq.labels,
        provenance={**seq.provenance, "manifest_id": entry.id, "split": entry.split},
    )


def load_manifest_sequences(
    path: str | Path, split: str | None = None, **read_options: Any
) -> list[SpeechMRISequence]:
    """All sequences of a manifest (optionally only ``split``), in manifest order."""
    path = Path(path)
    entries = read_manifest(path)
    if split is not None:
        entries = [e for e in entries if e.split == split]
    return [load_sequence(e, path.parent, **read_options) for e in entries]
