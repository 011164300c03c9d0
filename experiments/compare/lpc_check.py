"""How well Wakita's LPC area function recovers the phantom's own tube on sustained vowels.

For /a/, /i/, /u/ of one phantom speaker: the tube acoustics' area function at mid-vowel
(interpolated to the LPC's sections, log, minus its mean) against the LPC estimate from the
synthesized audio (mean of 10 frames around mid-vowel); prints their correlation.

    python experiments/compare/lpc_check.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> int:
    from mrisynth.metrics.lpc_area import lpc_area_track
    from mrisynth.phantom.acoustics import synthesize_speech
    from mrisynth.phantom.anatomy import sample_anatomy
    from mrisynth.phantom.articulation import ARTICULATORY_PARAMS, plan_trajectory
    from mrisynth.phantom.geometry import VocalTractGeometry
    from mrisynth.phantom.text import parse_phonemes

    rng = np.random.default_rng(0)
    anatomy = sample_anatomy(rng)
    geometry = VocalTractGeometry(anatomy)
    for vowel in ("a", "i", "u"):
        traj = plan_trajectory(
            parse_phonemes([vowel], durations=[0.6]), anatomy, rng=np.random.default_rng(1)
        )
        step = max(1, int(round(0.0025 / float(traj.times_s[1] - traj.times_s[0]))))
        ctrl = traj.params[::step]
        areas, sec_len, nasal = geometry.area_function(ctrl)
        p = {n: ctrl[:, i] for i, n in enumerate(ARTICULATORY_PARAMS)}
        rate = 1.0 / float(traj.times_s[step] - traj.times_s[0])
        audio = synthesize_speech(areas, sec_len, nasal, p["voicing"], p["f0_hz"],
                                  p["aspiration"], control_rate_hz=rate, sample_rate=16000,
                                  rng=rng)  # fmt: skip
        track = lpc_area_track(audio, 16000)
        mid = len(track) // 2
        est = np.nanmean(track[mid - 5 : mid + 5], axis=0)
        truth = np.log(areas[len(areas) // 2])
        truth = np.interp(np.linspace(0, 1, len(est)), np.linspace(0, 1, len(truth)), truth)
        r = np.corrcoef(est, truth - truth.mean())[0, 1]
        print(f"/{vowel}/: correlation of LPC and tube log areas {r:+.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
