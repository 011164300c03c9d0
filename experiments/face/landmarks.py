"""The face pipeline's landmark regressor: the DVC stage ``landmarks`` of ``experiments/face``.

No offline face-landmark detector ships, so the evaluation's landmark metrics (LMD, mouth
CPBD, blinks, head motion) read the faces with a regressor trained here on the phantom's
ground-truth landmarks (:func:`mrisynth.engine.solvers.landmarks.train_phantom_landmark_regressor`).
It must read frames of exactly the evaluation's geometry, so the crop comes from the ``prepare``
section's face box (px of the phantom's face video) and the frame side from ``model.img_size``
(a model smaller than the box gets faces rendered at the matching smaller scale). Its training
identities start past the corpus's speakers, so it has not seen the faces it measures.

    python landmarks.py --params params.yaml --out models/landmarks

writes ``<out>/landmarks.pt`` and ``<out>/heldout.json`` (its own error on held-out speakers,
the figure to compare LMD differences with) and copies the latter to ``--metrics``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

#: ``landmarks:`` keys of params.yaml and their defaults (the README's recipe).
DEFAULTS: dict[str, Any] = {
    "steps": 1500,
    "train_speakers": 24,
    "val_speakers": 6,
    "frames_per_speaker": 80,
    "first_train_speaker": 100,
    "seed": 0,
}


def settings(params: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of ``train_phantom_landmark_regressor`` from a params.yaml mapping.

    The render size and crop are scaled so that the crop's side is ``model.img_size``: the
    regressor then reads frames of the evaluation's geometry.

    Raises:
        ValueError: an unknown ``landmarks`` key, or a face box that is not square.
    """
    own = params.get("landmarks") or {}
    unknown = sorted(set(own) - set(DEFAULTS))
    if unknown:
        raise ValueError(
            f"landmarks.{unknown[0]}: unknown key; valid keys are: {', '.join(DEFAULTS)}"
        )
    face_size = int((params.get("phantom") or {}).get("face_size", 96))
    img_size = int((params.get("model") or {}).get("img_size", face_size))
    box = (params.get("prepare") or {}).get("roi_box_mm")
    kw = {**DEFAULTS, **own, "size": face_size, "crop": None}
    if box is not None:
        top, left, height, width = (int(v) for v in box)
        if height != width:
            raise ValueError(f"prepare.roi_box_mm {box}: the face box must be square")
        kw["crop"] = (top, left, width)
        side = width
    else:
        side = face_size
    if side != img_size:
        # the evaluation resizes its crop to model.img_size; the regressor reads its own side
        kw["size"] = round(face_size * img_size / side)
        kw["crop"] = None if box is None else tuple(round(v * img_size / side) for v in kw["crop"])
    return kw


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=Path, required=True, help="the pipeline's params.yaml")
    ap.add_argument("--out", type=Path, required=True, help="run folder (landmarks.pt)")
    ap.add_argument("--metrics", type=Path, help="also write the held-out error here (JSON)")
    args = ap.parse_args(argv)

    from mrisynth.config.schema import load_yaml
    from mrisynth.engine.solvers.landmarks import train_phantom_landmark_regressor

    kw = settings(load_yaml(args.params))
    errors = train_phantom_landmark_regressor(args.out, **kw)
    if args.metrics is not None:
        args.metrics.parent.mkdir(parents=True, exist_ok=True)
        args.metrics.write_text(json.dumps(errors, indent=2, sort_keys=True) + "\n")
    print(json.dumps(errors, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
