"""README's picture of ``mrisynth compare`` (``docs/compare_example.png``) from one validation pair.

Writes the pair's inputs (``validate.py --export``), runs ``mrisynth compare`` on them with the
given models, and stacks two frames of its ``side_by_side.mp4`` (the substituted phone and the
first flagged phone, or the middle of the recording when none is flagged) over its two
areagrams:

    python experiments/compare/figure.py --models experiments/quickstart/models \\
        --out docs/compare_example.png
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

#: Telugu, test split: the reference's first retroflex ʈ said as the dental t̪ by the learner.
PAIR = "test/te03/retroflex_to_dental/10"


def video_frames(path: Path, indices: list[int]) -> list[np.ndarray]:
    """The RGB frames ``indices`` of an MP4."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    wanted, out, n = set(indices), {}, 0
    for n, raw in enumerate(reader, start=1):
        if n - 1 in wanted:
            out[n - 1] = np.frombuffer(raw, np.uint8).reshape(h, w, 3)
        if len(out) == len(wanted):
            break
    reader.close()
    missing = sorted(wanted - set(out))
    if missing:
        raise ValueError(f"{path}: has no frame {missing[0]} (it has {n} frames)")
    return [out[i] for i in indices]


def stack(frames: list[np.ndarray], areagrams: list[Path], gap: int = 8) -> np.ndarray:
    """Frames side by side on top, each areagram scaled to the same width below."""
    from PIL import Image

    top = np.concatenate(
        [np.pad(f, ((0, 0), (0, gap if i < len(frames) - 1 else 0), (0, 0)), constant_values=255)
         for i, f in enumerate(frames)], axis=1,
    )  # fmt: skip
    rows = [top]
    for path in areagrams:
        img = Image.open(path).convert("RGB")
        h = round(img.height * top.shape[1] / img.width)
        rows += [np.full((gap, top.shape[1], 3), 255, np.uint8),
                 np.asarray(img.resize((top.shape[1], h), Image.LANCZOS))]  # fmt: skip
    return np.concatenate(rows, axis=0)


def main(argv: list[str] | None = None) -> int:
    import validate
    from PIL import Image

    from mrisynth.cli.main import main as mrisynth

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", type=Path, default=ROOT / "experiments/quickstart/models")
    ap.add_argument("--generator", default="finetune", help="the generator's folder in --models")
    ap.add_argument("--pair", default=PAIR, help="a validation pair's key (validate.py's plan)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs/compare_example.png")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        pair, result = Path(tmp) / "pair", Path(tmp) / "compare"
        validate.export_pair(args.pair, pair)
        rc = mrisynth([
            "compare", "--learner", str(pair / "learner.wav"),
            "--reference", str(pair / "reference.wav"),
            "--phones", str(pair / "reference_phones.txt"), "--frame", str(pair / "frame.nii.gz"),
            "--model", str(args.models / args.generator),
            "--segmenter", str(args.models / "segmenter/segmenter.pt"),
            "--out", str(result), "--no-progress",
        ])  # fmt: skip
        if rc:
            return rc
        metrics = json.loads((result / "metrics.json").read_text(encoding="utf-8"))
        fps, phones = metrics["fps"], metrics["phones"]
        # the substituted phone: the pair's index counts the reference's segments, silences too
        start = float((pair / "reference_phones.txt").read_text(encoding="utf-8")
                      .splitlines()[int(args.pair.split("/")[-1])].split()[0])  # fmt: skip
        substituted = min(phones, key=lambda p: abs(p["start_s"] - start))
        flagged = [p for p in phones if p["flagged"] and p is not substituted]
        times = [(p["start_s"] + p["end_s"]) / 2 for p in [substituted, *flagged[:1]]]
        if len(times) == 1:
            times.append((phones[0]["start_s"] + phones[-1]["end_s"]) / 2)
        indices = [int(t * fps) for t in times]
        frames = video_frames(result / "side_by_side.mp4", indices)
        picture = stack(
            frames, [result / "areagram_learner.png", result / "areagram_reference.png"]
        )
        args.out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(picture).save(args.out, optimize=True)
        print(f"wrote {args.out}: frames at {', '.join(f'{t:.2f} s' for t in times)}; "
              f"{metrics['n_flagged']} of {metrics['n_phones']} phones flagged "
              f"({', '.join(metrics['flagged']) or 'none'}); the substituted "
              f"{substituted['phone']} {'flagged' if substituted['flagged'] else 'not flagged'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
