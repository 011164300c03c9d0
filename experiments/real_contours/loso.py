"""Leave-one-speaker-out air–tissue boundary distance on real USC-TIMIT contours.

The protocol (what is compared, how untraced regions are treated) is
:mod:`mrisynth.evaluation.boundary`. For each of the 6 speakers held out in turn:

- ``otsu``: the threshold baseline on the same prepared ROIs;
- each phantom-trained segmenter given with ``--segmenter NAME=PATH`` (zero-shot);
- ``<base> + N real``: the segmenter ``--finetune-from`` fine-tuned on N manually contoured
  frames of the *other five* speakers (drawn spread over their clips, ``--draws`` draws with
  different seeds), with the air/tissue loss of
  :class:`mrisynth.engine.solvers.segmenter.SegmenterSolver`. ``N = all`` uses every traced
  frame of the five.

Scores per frame -> mean per clip -> mean per speaker (the held-out one). The table reports,
per method, the mean over the 6 held-out speakers ± the sd over speakers (zero-shot) or over
draws (fine-tuned: the speaker mean of each draw, then mean ± sd over draws).

Run (from the repository root; shared data from ``$MRISYNTH_SHARED``, default ``../shared``)::

    python experiments/real_contours/loso.py \\
        --segmenter phantom=experiments/quickstart/models/segmenter/segmenter.pt \\
        --finetune-from phantom --out experiments/real_contours/metrics

Writes ``loso.json`` (every number, per speaker and draw) and ``loso.md`` (the table).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mrisynth.config.schema import from_dict
from mrisynth.data.prepare import PrepareConfig
from mrisynth.engine.trainer import TrainConfig
from mrisynth.evaluation.boundary import (
    BAND_MM,
    ContourClip,
    clip_boundary_scores,
    load_contour_clips,
    otsu_air,
    segmenter_air,
)
from mrisynth.models.artifacts import load_segmenter, read_artifact
from mrisynth.models.segmenter import SegmenterConfig, segment

SCORES = ("mean", "hd95", "pred_to_ref", "ref_to_pred", "pred_scored")


def shared_root() -> Path:
    env = os.environ.get("MRISYNTH_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared"


def speaker_scores(air_of, clips: list[ContourClip], band_mm: float) -> dict[str, float]:
    """Mean over the speaker's clips of each clip's mean over traced frames."""
    per_clip = []
    for clip in clips:
        s = clip_boundary_scores(air_of(clip), clip, band_mm=band_mm)
        per_clip.append([float(np.nanmean(s[k])) for k in SCORES])
    return dict(zip(SCORES, np.mean(per_clip, 0).tolist()))


def draw_frames(clips: list[ContourClip], n: int | None, rng: np.random.Generator):
    """``n`` traced frames spread over ``clips`` (round robin over shuffled clips); None: all."""
    pools = [
        [(c, t) for t in range(c.annotation.n_frames) if c.annotation.is_traced(t)] for c in clips
    ]
    if n is None:
        return [x for pool in pools for x in pool]
    order = rng.permutation(len(pools))
    for pool in pools:
        rng.shuffle(pool)
    picked, i = [], 0
    while len(picked) < n:
        pool = pools[order[i % len(order)]]
        if pool:
            picked.append(pool.pop())
        i += 1
    return picked


def finetune(base: Path, picks, steps: int, seed: int, out_dir: Path):
    from mrisynth.engine.solvers.segmenter import train_segmenter

    cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for c, _ in picks:
        if c.name not in cache:
            cache[c.name] = (c.unit_frames(), c.labels())
    frames = np.stack([cache[c.name][0][t] for c, t in picks])
    labels = np.stack([cache[c.name][1][t] for c, t in picks])
    saved = read_artifact(base, "segmenter").model_config
    cfg = from_dict(SegmenterConfig, {**saved, "lr": 1e-3}, where="segmenter")
    train_cfg = TrainConfig(
        max_steps=steps,
        batch_size=min(16, len(frames)),
        log_interval=steps,
        eval_interval=steps,
        ckpt_interval=steps,
        device="cpu",
        seed=seed,
        progress=False,
        out_dir=str(out_dir),
        resume=False,
        best_metric="valid/dice",
        best_mode="max",
    )
    model, _ = train_segmenter(
        frames,
        labels,
        frames,
        labels,
        cfg=cfg,
        train_cfg=train_cfg,
        init_from=base,
        air_tissue=True,
    )
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--contours",
        default="",
        help="folder of <SPK>_<NNN>.avi + .mat (default $MRISYNTH_SHARED/data/real-rtmri-contours)",
    )
    ap.add_argument(
        "--segmenter",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="phantom-trained segmenter to score zero-shot (repeatable)",
    )
    ap.add_argument(
        "--finetune-from",
        default=None,
        metavar="NAME",
        help="which --segmenter to fine-tune on real frames",
    )
    ap.add_argument("--n-frames", default="5,15,50,all", help="labelled-frame counts")
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--steps", type=int, default=100, help="fine-tuning steps")
    ap.add_argument("--img-size", type=int, default=48)
    ap.add_argument("--roi-size-mm", type=float, default=120.0)
    ap.add_argument("--band-mm", type=float, default=BAND_MM)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--work",
        type=Path,
        default=None,
        help="scratch folder for the fine-tuning runs (default: a new temp folder)",
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    work = args.work or Path(tempfile.mkdtemp(prefix="mrisynth-loso-"))
    folder = (
        Path(args.contours) if args.contours else shared_root() / "data" / "real-rtmri-contours"
    )
    if not folder.is_dir():
        raise SystemExit(f"contour clips not found: {folder} (set MRISYNTH_SHARED)")
    seg_paths = dict(s.split("=", 1) for s in args.segmenter)
    cfg = PrepareConfig(img_size=args.img_size, roi_size_mm=args.roi_size_mm)
    clips = load_contour_clips(folder, cfg)
    speakers = sorted({c.speaker for c in clips})
    by_spk = {s: [c for c in clips if c.speaker == s] for s in speakers}
    t0 = time.time()

    results: dict[str, dict] = {}
    results["otsu"] = {
        s: speaker_scores(lambda c: otsu_air(c.unit_frames()), by_spk[s], args.band_mm)
        for s in speakers
    }
    models = {name: load_segmenter(path)[0] for name, path in seg_paths.items()}
    for name, model in models.items():
        results[name] = {
            s: speaker_scores(
                lambda c, m=model: segmenter_air(segment(m, c.unit_frames())),
                by_spk[s],
                args.band_mm,
            )
            for s in speakers
        }

    finetuned: dict[str, dict] = {}
    if args.finetune_from:
        base = Path(seg_paths[args.finetune_from])
        counts = [None if n == "all" else int(n) for n in args.n_frames.split(",")]
        jobs = [(n, d, s) for n in counts for d in range(args.draws if n else 1) for s in speakers]
        for n, draw, held in tqdm(jobs, desc="fine-tuning"):
            train_clips = [c for c in clips if c.speaker != held]
            rng = np.random.default_rng(1000 * draw + (n or 0))
            picks = draw_frames(train_clips, n, rng)
            run = work / f"{held}_n{n or 'all'}_d{draw}"
            model = finetune(base, picks, args.steps, seed=draw, out_dir=run)
            key = f"{args.finetune_from} + {n or 'all'} real"
            finetuned.setdefault(key, {}).setdefault(f"draw{draw}", {})[held] = speaker_scores(
                lambda c, m=model: segmenter_air(segment(m, c.unit_frames())),
                by_spk[held],
                args.band_mm,
            )

    rows = []
    for name, per in results.items():
        vals = np.array([[per[s][k] for k in SCORES] for s in speakers])
        rows.append((name, vals.mean(0), vals[:, 0].std(), vals[:, 0]))
    for name, draws in finetuned.items():
        per_draw = np.array(
            [[np.mean([d[s][k] for s in speakers]) for k in SCORES] for d in draws.values()]
        )
        per_spk = np.array([[np.mean([d[s]["mean"] for d in draws.values()]) for s in speakers]])
        rows.append((name, per_draw.mean(0), per_draw[:, 0].std(), per_spk[0]))

    args.out.mkdir(parents=True, exist_ok=True)
    meta = {
        "clips": len(clips),
        "speakers": speakers,
        "band_mm": args.band_mm,
        "img_size": args.img_size,
        "roi_size_mm": args.roi_size_mm,
        "steps": args.steps,
        "draws": args.draws,
        "segmenters": seg_paths,
        "files": {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file()},
    }
    (args.out / "loso.json").write_text(
        json.dumps({"meta": meta, "zero_shot": results, "finetuned": finetuned}, indent=2) + "\n"
    )
    head = (
        "| method | symmetric mean (mm) | ± sd | HD95 (mm) | pred→manual | manual→pred "
        "| pred. edge scored | " + " | ".join(speakers) + " |"
    )
    lines = [head, "|" + "---|" * (7 + len(speakers))]
    for name, m, sd, per in rows:
        lines.append(
            f"| {name} | {m[0]:.2f} | {sd:.2f} | {m[1]:.2f} | {m[2]:.2f} | {m[3]:.2f} | "
            f"{m[4]:.0%} | " + " | ".join(f"{v:.2f}" for v in per) + " |"
        )
    table = "\n".join(lines) + "\n"
    (args.out / "loso.md").write_text(table)
    print(table)
    print(f"{time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
