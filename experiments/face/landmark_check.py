"""How the phantom-trained face landmark regressor reads held-out phantom faces.

On 6 phantom speakers the regressor never saw (10-s clips, smooth random articulation, 20
blinks/min, head motion), each quantity of the face evaluation through the regressor and from
the ground-truth landmarks: mouth/face LMD of a frozen first frame against the clip (plain and
pose-aligned), the regressor's own error, mouth CPBD sharp and after a 1-px Gaussian blur, blink
rate and duration, head-roll amplitude. Prints per-speaker values, then the means (README,
"Faces: landmarks, ..."). The crop is experiments/face's face box of the 96-px video.

    OMP_NUM_THREADS=1 python experiments/face/landmark_check.py runs/landmarks/landmarks.pt
"""

import json
import sys

import numpy as np
from scipy.ndimage import gaussian_filter1d
from skimage.filters import gaussian

from mrisynth.metrics.face_motion import blink_stats, eye_openness, head_motion
from mrisynth.metrics.landmarks import FACE_LANDMARKS, landmark_distance
from mrisynth.metrics.sharpness import mouth_sharpness
from mrisynth.models.artifacts import load_landmark_regressor
from mrisynth.models.landmarks import predict_landmarks
from mrisynth.phantom.face import render_face, sample_face_identity

model, cfg = load_landmark_regressor(sys.argv[1])
top, left, side = 20, 16, 64
res = {
    k: []
    for k in [
        "gt_frozen_mouth",
        "gt_frozen_mouth_aligned",
        "gt_frozen_face",
        "reg_frozen_mouth",
        "reg_frozen_mouth_aligned",
        "reg_frozen_face",
        "reg_err_mouth",
        "reg_err_face",
        "cpbd_real",
        "cpbd_blur1",
        "cpbd_gt_real",
        "cpbd_gt_blur1",
        "blink_gt",
        "blink_reg",
        "blinkdur_gt",
        "blinkdur_reg",
        "roll_gt",
        "roll_reg",
        "n_true_blinks",
    ]
}
fps, n = 25.0, 250  # 10 s clips
for s in range(2000, 2006):
    rng = np.random.default_rng([0, s])

    def smooth(lo, hi, rng=rng):
        x = gaussian_filter1d(rng.standard_normal(n), 2.0)
        x = (x - x.min()) / (x.max() - x.min())
        return lo + (hi - lo) * x

    v = render_face(
        smooth(0, 12),
        smooth(-3, 15),
        smooth(20, 50),
        smooth(-3, 8),
        fps=fps,
        identity=sample_face_identity(np.random.default_rng([0, 3000 + s])),
        rng=rng,
        size=96,
        blink_rate_per_min=20.0,
    )
    fr = v.frames[:, top : top + side, left : left + side]
    gt = v.landmarks - np.array([left, top], np.float32)
    frozen_fr = np.repeat(fr[:1], n, 0)
    frozen_gt = np.repeat(gt[:1], n, 0)
    reg = predict_landmarks(model, fr)
    reg_frozen = predict_landmarks(model, frozen_fr)
    for name, a, b in (("gt", gt, frozen_gt), ("reg", reg, reg_frozen)):
        res[f"{name}_frozen_mouth"].append(np.nanmean(landmark_distance(a, b, normalize=True)))
        res[f"{name}_frozen_mouth_aligned"].append(
            np.nanmean(landmark_distance(a, b, align=True, normalize=True))
        )
        res[f"{name}_frozen_face"].append(
            np.nanmean(landmark_distance(a, b, FACE_LANDMARKS, normalize=True))
        )
    res["reg_err_mouth"].append(np.nanmean(landmark_distance(gt, reg, normalize=True)))
    res["reg_err_face"].append(
        np.nanmean(landmark_distance(gt, reg, FACE_LANDMARKS, normalize=True))
    )
    blur = np.stack(
        [
            (gaussian(f, 1.0, channel_axis=-1, preserve_range=True) + 0.5).astype(np.uint8)
            for f in fr
        ]
    )
    res["cpbd_real"].append(np.nanmean(mouth_sharpness(fr, reg)))
    res["cpbd_blur1"].append(np.nanmean(mouth_sharpness(blur, predict_landmarks(model, blur))))
    res["cpbd_gt_real"].append(np.nanmean(mouth_sharpness(fr, gt)))
    res["cpbd_gt_blur1"].append(np.nanmean(mouth_sharpness(blur, gt)))
    bg, br = blink_stats(eye_openness(gt), fps), blink_stats(eye_openness(reg), fps)
    res["blink_gt"].append(bg.rate_per_min)
    res["blink_reg"].append(br.rate_per_min)
    res["blinkdur_gt"].append(bg.duration_s)
    res["blinkdur_reg"].append(br.duration_s)
    res["n_true_blinks"].append(len(v.blinks) * 6.0)
    res["roll_gt"].append(head_motion(gt, fps).stats()["roll_std_deg"])
    res["roll_reg"].append(head_motion(reg, fps).stats()["roll_std_deg"])
print(json.dumps({k: [round(float(x), 4) for x in v] for k, v in res.items()}))
print(json.dumps({k: round(float(np.nanmean(v)), 4) for k, v in res.items()}))
