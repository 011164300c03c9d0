"""One-shot image animation (``mrisynth dub`` image mode) measured on phantom faces.

Reference videos: phantom corpus face clips (96 px, 25 fps, with their speech; every
``--every``-th utterance of the seed-0 corpus). They are written as MP4s and fitted the way a
user's videos would be (``mrisynth fit-motion``: the landmark regressor on each frame), then
each clip's first frame is animated with its own speech (seed = clip index) and the generated
clips are tracked with the same regressor. Printed:

1. the fitted statistics (through the regressor, and from the phantom's ground truth);
2. blink rate and duration and head-motion amplitude per clip, generated against the
   reference clips (``--seeds`` animations of each): medians, the generated mean's percentile
   rank among the reference clips and whether it lies in their central 95 %
   (``metrics.stats.within_range``, as ``evaluation.face.plausibility`` judges), and the pooled
   blink rates (all blinks over all minutes);
3. identity over a long clip: SSIM of the pose-aligned area above the nose (generated frame
   mapped onto the reference image by the similarity fitted on the regressor's rigid
   landmarks) to the reference image, per second, against the first second;
4. with ``--model`` (a face generator): mouth LMD after pose alignment against the reference
   video, animated (the first seed) and still head, and their paired difference; with
   ``--expert`` too: LSE-D of both (the expert's crop of the 96-px frame) and of the real clip.

Without ``--model`` the frames are the warped image only (no lip-sync painted): blinks, head
motion and identity do not depend on the generator (it paints the lower half of the face box).

    OMP_NUM_THREADS=1 python experiments/face/animation_check.py --landmarks LM.pt \\
        [--model generator.pt --expert eval_expert.pt] [--every 6] [--seeds 4] [--long-s 60]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from mrisynth.data.face_landmarks import LANDMARK_INDEX
from mrisynth.metrics.face_motion import blink_stats, eye_openness, head_motion
from mrisynth.metrics.image import ssim
from mrisynth.metrics.landmarks import (
    MOUTH_LANDMARKS,
    UPPER_FACE_LANDMARKS,
    landmark_distance,
    similarity_fit,
)
from mrisynth.metrics.stats import percentile_rank, summarize, within_range
from mrisynth.models.artifacts import load_landmark_regressor
from mrisynth.models.landmarks import predict_landmarks
from mrisynth.synthesis.animate import AnimatedFace, animate_stream, face_geometry
from mrisynth.synthesis.face import FaceCropConfig, dub
from mrisynth.synthesis.motion import (
    MotionClip,
    fit_motion_stats,
    fit_motion_stats_from_videos,
    sample_tracks,
    speech_energy,
)

#: the regressor's (and the face model's) crop of the phantom's 96-px video: top, left, side
BOX = (20, 16, 64)


def landmarks_of(reg, frames: np.ndarray) -> np.ndarray:
    """``(T, K, 2)`` landmarks of 96-px frames in their own pixels (the regressor reads BOX)."""
    top, left, side = BOX
    lm = predict_landmarks(reg, frames[:, top : top + side, left : left + side])
    return lm + np.array([left, top], np.float32)


def face_box_of(frames: np.ndarray):
    """The cascade's face box in the first frame where it finds one (None: in no frame)."""
    from mrisynth.synthesis.face import detect_faces

    for k in range(0, len(frames), 5):
        det = detect_faces(frames[k : k + 1])[0]
        if np.isfinite(det).all():
            return tuple(float(v) for v in det)
    return None


def reference_clips(every: int):
    """Phantom corpus face clips: (frames, ground-truth landmarks, audio, sample rate, fps)."""
    from mrisynth.phantom.corpus import PhantomConfig, plan_corpus, synthesize_utterance

    cfg = PhantomConfig(face=True)
    out = []
    for utt in plan_corpus(cfg)[::every]:
        res = synthesize_utterance(cfg, utt)
        face, seq = res["face"], res["sequence"]
        out.append((np.asarray(face.frames), face.landmarks, seq.audio, seq.sample_rate, face.fps))
    return out


def clip_stats(lm: np.ndarray, fps: float) -> dict[str, float]:
    b = blink_stats(eye_openness(lm), fps)
    m = head_motion(lm, fps).stats()
    return {
        "blink_rate_per_min": b.rate_per_min,
        "blink_duration_s": b.duration_s,
        "roll_std_deg": m["roll_std_deg"],
        "translation_std_iod": m["translation_std_iod"],
        "minutes": len(lm) / fps / 60.0,
    }


def render(image, box, audio, sr, fps, n, stats, seed, model=None, still=False):
    """Generated frames of one clip: the warped image (no model) or the dubbed video; ``box``
    the face box (x, y, w, h)."""
    if model is None:
        geom = face_geometry(image, box)
        tracks = sample_tracks(stats, n, fps, energy_db=speech_energy(audio, sr, fps, n), seed=seed)
        if still:
            from mrisynth.synthesis.motion import MotionTracks

            tracks = MotionTracks.still(n, fps)
        anim = AnimatedFace(image, geom, tracks, FaceCropConfig())
        return anim(np.arange(n))[0]
    stream = dub(
        image[None], None, audio, sr, model, fps=fps, still=True, face_box=box, progress=False
    )
    if not still:
        stream = animate_stream(stream, image, stats=stats, seed=seed, face_box=box)
    return np.concatenate(list(stream))[:n]


def aligned_identity_ssim(frames, lm, ref_image, ref_lm) -> np.ndarray:
    """Per-frame SSIM of the area above the nose after mapping each frame onto the reference
    image by the similarity fitted on the rigid landmarks (grey, [0, 1])."""
    idx = list(UPPER_FACE_LANDMARKS)
    nose = ref_lm[LANDMARK_INDEX["nose_tip"], 1]
    xl = ref_lm[LANDMARK_INDEX["eye_l_outer"], 0]
    xr = ref_lm[LANDMARK_INDEX["eye_r_outer"], 0]
    pad = 0.25 * (xr - xl)
    rows = slice(max(0, int(nose - 2.2 * (xr - xl))), int(nose))
    cols = slice(max(0, int(xl - pad)), int(xr + pad) + 1)
    grey_ref = cv2.cvtColor(ref_image, cv2.COLOR_RGB2GRAY)[rows, cols] / 255.0
    out = []
    h, w = ref_image.shape[:2]
    for frame, points in zip(frames, lm):
        a, t = similarity_fit(points[idx], ref_lm[idx])
        m = np.column_stack([a, t])
        warped = cv2.warpAffine(
            frame, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        out.append(cv2.cvtColor(warped, cv2.COLOR_RGB2GRAY)[rows, cols] / 255.0)
    return ssim(np.repeat(grey_ref[None], len(out), 0), np.stack(out))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--landmarks", required=True, help="landmark regressor (whole 96-px frames)")
    p.add_argument("--model", help="face generator (generator.pt): mouth LMD")
    p.add_argument("--expert", help="evaluation sync expert (expert.pt): LSE-D")
    p.add_argument("--every", type=int, default=6, help="every n-th corpus utterance")
    p.add_argument("--long-s", type=float, default=60.0, help="identity clip length (s)")
    p.add_argument("--seeds", type=int, default=4, help="animations per clip for the statistics")
    p.add_argument("--json", type=Path, help="also write the numbers here")
    args = p.parse_args()
    t0 = time.time()
    print(
        "$ OMP_NUM_THREADS=1 python experiments/face/animation_check.py " + shlex.join(sys.argv[1:])
    )
    reg, reg_cfg = load_landmark_regressor(args.landmarks)
    clips = reference_clips(args.every)
    seconds = sum(len(c[0]) / c[4] for c in clips)
    print(f"{len(clips)} reference clips, {seconds:.1f} s")
    result: dict = {"clips": len(clips), "seconds": seconds}

    # 1. fit: through the regressor from MP4s (the user's path), and from ground truth
    from mrisynth.io.video import write_mp4

    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, (frames, _, audio, sr, fps) in enumerate(clips):
            paths.append(
                write_mp4(frames, Path(tmp) / f"clip{i:03d}.mp4", fps=fps, audio=audio, sr=sr)
            )
        stats = fit_motion_stats_from_videos(paths, args.landmarks, box=BOX, progress=False)
    gt = fit_motion_stats(
        [
            MotionClip(lm, fps, speech_energy(a, sr, fps, len(f)), f"gt{i}")
            for i, (f, lm, a, sr, fps) in enumerate(clips)
        ],
        source="ground truth",
    )
    print("fitted (regressor on MP4s):", stats)
    print("fitted (ground truth):     ", gt)
    result["fit_regressor"], result["fit_truth"] = vars(stats), vars(gt)

    # 2. generated against reference, both through the regressor
    model = None
    if args.model:
        from mrisynth.synthesis import SynthesisModel

        model = SynthesisModel.load(args.model, "cpu", True)
    ref_rows, gen_rows, lmd = [], [], {"animated": [], "still": []}
    lse = {"real": [], "animated": [], "still": []}
    expert = None
    if args.expert:
        from mrisynth.models.artifacts import load_sync_expert

        expert, expert_cfg = load_sync_expert(args.expert)
    for i, (frames, _, audio, sr, fps) in enumerate(clips):
        n = len(frames)
        ref_lm = landmarks_of(reg, frames)
        ref_rows.append(clip_stats(ref_lm, fps))  # every reference clip counts
        box = face_box_of(frames)
        if box is None:
            print(f"  clip {i}: the cascade finds no face in it; skipped")
            continue
        for j in range(args.seeds):  # several animations of each clip: more blinks to count
            video = render(frames[0], box, audio, sr, fps, n, stats, 100 * j + i, model=model)
            gen_rows.append(clip_stats(landmarks_of(reg, video), fps))
            if j == 0:
                gen = video
        if model is not None:
            still = render(frames[0], box, audio, sr, fps, n, stats, i, model=model, still=True)
            for name, video in (("animated", gen), ("still", still)):
                m = landmark_distance(
                    ref_lm,
                    landmarks_of(reg, video),
                    MOUTH_LANDMARKS,
                    align=True,
                    normalize=True,
                )
                lmd[name].append(float(np.nanmean(m)))
            if expert is not None:
                from mrisynth.metrics.sync import lse_scores, max_offset_frames
                from mrisynth.synthesis import sync_embeddings

                for name, video in (("real", frames), ("animated", gen), ("still", still)):
                    crop = video[:, 20:84, 16:80].astype(np.float32) / 255.0  # the prepared ROI
                    v, a = sync_embeddings(expert, expert_cfg, crop, audio, sr)
                    k = min(max_offset_frames(fps), len(v) - 1)
                    lse[name].append(lse_scores(v, a, k).lse_d)
    print(
        "\nper clip, through the regressor: reference median [2.5-97.5 %] | generated median; "
        "generated mean: percentile rank among the reference clips, within their central 95 %"
    )
    result["plausibility"] = {}
    for key in [k for k in ref_rows[0] if k != "minutes"]:
        r = np.array([row[key] for row in ref_rows])
        g = np.array([row[key] for row in gen_rows])
        gm = float(np.nanmean(g))
        q = np.nanpercentile(r, [2.5, 50, 97.5])
        ok = within_range(gm, r)
        rank = percentile_rank(gm, r)
        print(
            f"  {key:22s} ref {q[1]:.3f} [{q[0]:.3f}-{q[2]:.3f}] mean {np.nanmean(r):.3f} | "
            f"gen median {np.nanmedian(g):.3f} mean {gm:.3f}: rank {rank:.0f}, within {ok}"
        )
        result["plausibility"][key] = {
            "ref_mean": float(np.nanmean(r)), "ref_q": q.tolist(), "gen_mean": gm,
            "rank": rank, "within": bool(ok),
        }  # fmt: skip
    for name, rows in (("reference", ref_rows), ("generated", gen_rows)):
        # the pooled rate: all blinks over all minutes (per-clip rates of 2-s clips are coarse)
        minutes = sum(row["minutes"] for row in rows)
        blinks = sum(row["blink_rate_per_min"] * row["minutes"] for row in rows)
        print(
            f"  pooled blink rate {name}: {blinks:.0f} blinks in {minutes * 60:.0f} s = "
            f"{blinks / minutes:.1f}/min"
        )
        result[f"pooled_blink_rate_{name}"] = blinks / minutes
    if model is not None:
        for name, v in lmd.items():
            s = summarize(v)
            print(f"  mouth LMD (aligned, IOD) {name:8s} {s.mean:.4f} [{s.low:.4f}, {s.high:.4f}]")
            result[f"mouth_lmd_{name}"] = [s.mean, s.low, s.high]
        d = summarize(np.subtract(lmd["animated"], lmd["still"]))
        print(f"  mouth LMD animated - still, paired: {d.mean:+.4f} [{d.low:+.4f}, {d.high:+.4f}]")
        result["mouth_lmd_animated_minus_still"] = [d.mean, d.low, d.high]
        if lse["animated"]:
            d = summarize(np.subtract(lse["animated"], lse["still"]))
            print(f"  LSE-D animated - still, paired: {d.mean:+.3f} [{d.low:+.3f}, {d.high:+.3f}]")
            result["lse_d_animated_minus_still"] = [d.mean, d.low, d.high]
        for name, v in lse.items():
            if v:
                s = summarize(v)
                print(f"  LSE-D {name:8s} {s.mean:.3f} [{s.low:.3f}, {s.high:.3f}]")
                result[f"lse_d_{name}"] = [s.mean, s.low, s.high]

    # 3. identity over a long clip: the first clip's image, the corpus speech looped
    frames0, _, _, sr, fps = clips[0]
    speech = np.concatenate([c[2] for c in clips])
    need = int(args.long_s * sr)
    speech = np.tile(speech, int(np.ceil(need / len(speech))))[:need]
    n = int(args.long_s * fps)
    t1 = time.time()
    long = render(frames0[0], face_box_of(frames0), speech, sr, fps, n, stats, 1000, model)
    render_s = time.time() - t1
    lm = landmarks_of(reg, long)
    ref_lm = landmarks_of(reg, frames0[:1])[0]
    per_frame = aligned_identity_ssim(long, lm, frames0[0], ref_lm)
    per_s = per_frame[: int(len(per_frame) // fps * fps)].reshape(-1, int(fps)).mean(1)
    ratio = per_s / per_s[0]
    print(
        f"\nidentity SSIM above the nose, {args.long_s:g} s ({render_s:.0f} s to render): first "
        f"second {per_s[0]:.4f}; per-second ratio to it min {ratio.min():.3f}, last {ratio[-1]:.3f}; "
        f"10-s means {np.round(per_s.reshape(-1, 10).mean(1) if len(per_s) % 10 == 0 else per_s, 4).tolist()}"
    )
    result["identity_ssim"] = {"first_s": float(per_s[0]), "min_ratio": float(ratio.min()),
                               "last_ratio": float(ratio[-1]), "per_s": per_s.tolist()}  # fmt: skip
    print(f"\n{time.time() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=float))


if __name__ == "__main__":
    main()
