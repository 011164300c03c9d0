"""Phones of a recording: per-frame phone symbols, per-class error tables, the retroflex check.

A phones CSV (``start_s,end_s,phone``) times the phones of a recording; every frame gets the
phone at its centre time. Per-frame errors are then grouped by phoneme class
(:func:`class_rows`), and the tongue-tip constriction of retroflex phones is compared with that
of dentals (:func:`retroflex_check`: retroflexes must lie behind).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mrisynth.evaluation.anatomy import nanmean

__all__ = ["read_phones", "frame_phones", "phone_info", "class_rows", "retroflex_check"]


def read_phones(path: str | Path) -> list[tuple[float, float, str]]:
    """Timed phones ``(start_s, end_s, symbol)`` of a phones CSV (``start_s,end_s,phone``).

    Raises:
        FileNotFoundError: missing file. ValueError: missing columns (file named).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"phones file not found: {path}")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"start_s", "end_s", "phone"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: phones CSV lacks column(s) {sorted(missing)}")
        return [(float(r["start_s"]), float(r["end_s"]), r["phone"].strip()) for r in reader]


def frame_phones(
    phones: Sequence[tuple[float, float, str]], n_frames: int, fps: float
) -> list[str | None]:
    """Phone symbol at the centre time ``(k + 0.5) / fps`` of every frame (None: no phone)."""
    out: list[str | None] = [None] * n_frames
    for k in range(n_frames):
        t = (k + 0.5) / fps
        for start, end, sym in phones:
            if start <= t < end:
                out[k] = sym
                break
    return out


def phone_info(symbol: str | None) -> tuple[str | None, str | None]:
    """``(phoneme_class, place)`` of a symbol; unknown symbols and silence give None."""
    from mrisynth.phantom.inventory import phoneme

    if symbol is None:
        return None, None
    try:
        p = phoneme(symbol)
    except KeyError:
        return None, None
    return p.phoneme_class, p.place


def class_rows(
    per_frame: Mapping[str, np.ndarray], phones: Sequence[str | None], base: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Per-phoneme-class means of per-frame errors of one clip.

    Args:
        per_frame: ``{column: (T,) errors}`` (e.g. ``l1_mask``, ``tongue_tip_degree_err_mm``).
        phones: the phone of every frame (:func:`frame_phones`).
        base: the columns every row starts with (utterance, method, condition...).

    Returns:
        One row per class present: ``{**base, phoneme_class, n_frames, <column>: mean}``.
    """
    classes = np.array([phone_info(p)[0] for p in phones], dtype=object)
    out = []
    for cls in sorted({c for c in classes if c is not None}):
        sel = classes == cls
        row = {**base, "phoneme_class": cls, "n_frames": float(sel.sum())}
        for k, v in per_frame.items():
            row[k] = nanmean(np.asarray(v)[sel])
        out.append(row)
    return out


def retroflex_check(source: str, items: Sequence[tuple[np.ndarray, list]]) -> dict[str, Any]:
    """Mean tongue-tip constriction x (mm) during retroflex vs dental phones of ``source``.

    Args:
        source: what was measured (``reference``, ``segmenter``, ``model.image_audio``...).
        items: per clip, ``((T,) tongue-tip x in mm, the phone of every frame)``.

    Returns:
        ``{source, retroflex_x_mm, dental_x_mm, n_retroflex_frames, n_dental_frames,
        retroflex_behind_dental}`` (the last None when either mean is undefined).
    """
    x_r, x_d = [], []
    for x, phones in items:
        for k, sym in enumerate(phones):
            place = phone_info(sym)[1]
            if place == "retroflex":
                x_r.append(x[k])
            elif place == "dental":
                x_d.append(x[k])
    r, d = nanmean(x_r), nanmean(x_d)
    behind = bool(r > d) if math.isfinite(r) and math.isfinite(d) else None
    return {
        "source": source,
        "retroflex_x_mm": r,
        "dental_x_mm": d,
        "n_retroflex_frames": int(np.isfinite(np.asarray(x_r, float)).sum()),
        "n_dental_frames": int(np.isfinite(np.asarray(x_d, float)).sum()),
        "retroflex_behind_dental": behind,
    }
