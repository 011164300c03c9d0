"""Realism of the phantom's MRI appearance against held-out real rtMRI, and its calibration.

The measure is :mod:`mrisynth.evaluation.realism`: a real-vs-phantom domain classifier on
fixed appearance features (group-wise cross-validated ROC AUC; 0.5 = indistinguishable) and
the Fréchet distance of those features (0 = same statistics). Lower is more realistic.

Frames on both sides are prepared as users' recordings are (:mod:`mrisynth.data.prepare`:
per speaker the automatic 120 mm vocal-tract ROI, resized to 48 px = 2.5 mm/px,
percentile-scaled), from acquisitions of the same geometry: the phantom is rendered like
USC-TIMIT (68 x 68 px over 200 mm, 23.18 fps).

- **Held out** (the measurement): ``real-rtmri-unlabelled/F2_400.avi``, 69 frames of speaker F2,
  grouped in blocks of 10 consecutive frames. The phantom side is an evaluation corpus
  (``--eval-seed``, 12 English utterances of 6 speakers), grouped the same way.
  ``real (calibration set)`` scores the calibration set's real frames in the phantom's place:
  how far *other real clips* are from F2_400 on this measure (its practical floor).
  The calibration set holds F2's contour clips, so F2_400 is a held-out video, not a
  held-out speaker.
- **Calibration set**: the 27 contour clips and the unlabelled videos except F2_400 (every 3rd
  frame of the three long SPAN videos). ``--calibrate`` fits the ``"calibrated"`` preset of
  :data:`mrisynth.phantom.mri.APPEARANCE_PRESETS` on it: a seeded random search, then
  coordinate descent, minimising the feature distance between these real frames and a
  separate phantom corpus (``--calib-seed``), with the same phantom anatomy and noise draws
  for every candidate (common random numbers). It prints the fitted preset. The columns
  ``calib AUC`` / ``calib dist`` score each preset on the calibration set (in-sample for the
  calibrated preset).

Two AUCs per look. ``transfer AUC`` (the headline): a classifier of the calibration set's real
frames against the fit's phantom corpus in that look, tested on the held-out video against the
measurement's phantom corpus, neither seen in training (sd: group bootstrap). ``CV AUC vs
F2_400``: cross-validated on the held-out video and the measurement corpus alone; with one real
video it learns that video's look and errs towards separability (other real videos score
~0.99 against it: row ``real (calibration set)``). ``feature dist.``: the Fréchet distance to the
held-out video's features, z-scored with the calibration set's spread (the same yardstick for
every row, the real calibration set included).

The classifier uses the same features the calibration fits, so a lower AUC after calibration
partly reflects having matched those statistics; the held-out video and the separate phantom
corpus guard against fitting noise, not against that.

Run (from the repository root; shared data from ``$MRISYNTH_SHARED``, default ``../shared``)::

    python experiments/real_contours/realism.py --out experiments/real_contours/metrics
    python experiments/real_contours/realism.py --calibrate   # refit the preset (prints it)

Writes ``realism.json``: ``{preset: {"auc", "auc_sd", "feature_distance", ...}}``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from mrisynth.data.prepare import PrepareConfig, find_vocal_tract_roi, prepare_sequence
from mrisynth.data.sequence import SpeechMRISequence
from mrisynth.evaluation.boundary import USC_TIMIT_SPACING_MM, load_contour_clips
from mrisynth.evaluation.realism import (
    contiguous_groups,
    domain_classifier_auc,
    domain_transfer_auc,
    feature_distance,
    feature_gaps,
    frechet_distance,
    image_features,
)
from mrisynth.io import read_sequence
from mrisynth.phantom.corpus import (
    PhantomConfig,
    Utterance,
    plan_corpus,
    render_utterance_mri,
    synthesize_utterance,
)
from mrisynth.phantom.labels import LABEL_NAMES
from mrisynth.phantom.mri import APPEARANCE_PRESETS, MRIAppearance

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loso import shared_root  # noqa: E402  (the experiment's shared-data root)

HELD_OUT = "F2_400.avi"
#: USC SPAN / USC-TIMIT frame rates of the unlabelled videos (not in every header).
UNLABELLED_FPS = {"s2_study6_3.avi": 22.41}
BLOCK_FRAMES = 10
#: The looks compared (those of APPEARANCE_PRESETS; "calibrated" once fitted).
PRESETS = tuple(p for p in ("clean", "realistic", "calibrated") if p in APPEARANCE_PRESETS)


# ----------------------------------------------------------------------------- real frames


def prepared_unit(seqs: list[SpeechMRISequence], cfg: PrepareConfig) -> list[np.ndarray]:
    """One speaker's sequences -> ``(T, S, S)`` float frames in [0, 1] (one ROI for all)."""
    box = find_vocal_tract_roi(seqs, cfg.roi_size_mm, cfg.roi_top_fraction)
    return [prepare_sequence(s, box, cfg).frames.astype(np.float64) / 255.0 for s in seqs]


def read_video(path: Path) -> SpeechMRISequence:
    fps = UNLABELLED_FPS.get(path.name, 23.18)
    return read_sequence(path, fps=fps, spacing_mm=USC_TIMIT_SPACING_MM, strict_av=False)


def real_sets(root: Path, cfg: PrepareConfig):
    """``(held_out, calibration)``, each ``(frames (N, S, S), groups (N,), names)``."""
    unl = root / "data" / "real-rtmri-unlabelled"
    con = root / "data" / "real-rtmri-contours"
    for d in (unl, con):
        if not d.is_dir():
            raise SystemExit(f"shared data not found: {d} (set MRISYNTH_SHARED)")
    held = prepared_unit([read_video(unl / HELD_OUT)], cfg)
    clips = [c.unit_frames().astype(np.float64) for c in load_contour_clips(con, cfg)]
    names = [p.name for p in sorted(con.glob("*.avi"))]
    # the two lac* videos are one session (one ROI); s2_study6_3 is another
    sessions: dict[str, list[Path]] = {}
    for p in sorted(unl.glob("*.avi")):
        if p.name != HELD_OUT:
            sessions.setdefault(p.name.split("_")[0], []).append(p)
    for paths in sessions.values():
        frames = prepared_unit([read_video(p) for p in paths], cfg)
        clips += [f[::3] for f in frames]
        names += [p.name for p in paths]

    def pack(frames: list[np.ndarray]):
        groups = contiguous_groups([len(f) for f in frames], BLOCK_FRAMES)
        return np.concatenate(frames), groups

    return (*pack(held), [HELD_OUT]), (*pack(clips), names)


# ----------------------------------------------------------------------------- phantom frames


def phantom_config(seed: int) -> PhantomConfig:
    """12 English utterances of 6 speakers, acquired like USC-TIMIT (68 px, 200 mm, 23.18 fps)."""
    return PhantomConfig(
        n_pretrain_speakers=5,
        n_target_speakers=1,
        languages=("en",),
        pretrain_utterances_per_language=2,
        adapt_utterances_per_language=1,
        test_utterances_per_language=1,
        fps=23.18,
        matrix=68,
        spacing_mm=USC_TIMIT_SPACING_MM,
        face=False,
        workers=1,
        seed=seed,
    )


@dataclasses.dataclass
class PhantomClip:
    """One phantom utterance: its sequence and the supersampled label maps it was rendered from."""

    utterance: Utterance
    sequence: SpeechMRISequence
    labels_hr: np.ndarray


def phantom_clips(cfg: PhantomConfig) -> list[PhantomClip]:
    """Synthesise the corpus' utterances, keeping the label maps their MRI was rendered from,
    so that :func:`render` re-renders exactly the corpus' anatomy and noise in any look."""
    out = []
    for utt in plan_corpus(cfg):
        res = synthesize_utterance(cfg, utt)
        out.append(PhantomClip(utt, res["sequence"], res["labels_hr"]))
    return out


def render(cfg: PhantomConfig, clip: PhantomClip, app: MRIAppearance) -> SpeechMRISequence:
    """The clip in the look ``app`` (the corpus' render call and seed)."""
    return clip.sequence.replace(
        frames=render_utterance_mri(cfg, clip.utterance, clip.labels_hr, app)
    )


def phantom_frames(cfg, clips, app, prep: PrepareConfig) -> tuple[np.ndarray, np.ndarray]:
    """Render, prepare per speaker (one ROI per speaker), stack: ``(M, S, S)``, groups ``(M,)``."""
    by_spk: dict[int, list[SpeechMRISequence]] = {}
    for c in clips:
        by_spk.setdefault(c.utterance.speaker_index, []).append(render(cfg, c, app))
    frames = [f for seqs in by_spk.values() for f in prepared_unit(seqs, prep)]
    return np.concatenate(frames), contiguous_groups([len(f) for f in frames], BLOCK_FRAMES)


# ----------------------------------------------------------------------------- calibration

#: Searched fields: (name, low, high, log-scale). ``intensity.*`` are label means,
#: ``texture_gain`` scales every label's default texture std.
SEARCH: tuple[tuple[str, float, float, bool], ...] = (
    ("intensity.tongue", 0.3, 1.0, False),
    ("intensity.lips", 0.3, 1.0, False),
    ("intensity.other_tissue", 0.3, 1.0, False),
    ("intensity.velum", 0.3, 1.0, False),
    ("intensity.pharyngeal_wall", 0.3, 1.0, False),
    ("intensity.jaw_teeth", 0.0, 0.8, False),
    ("intensity.hard_palate", 0.0, 0.8, False),
    ("intensity.airway", 0.0, 0.15, False),
    ("intensity.background", 0.0, 0.15, False),
    ("texture_gain", 0.0, 3.0, False),
    ("texture_scale_px", 1.0, 8.0, True),
    ("coil_strength", 0.0, 1.0, False),
    ("coil_falloff", 0.1, 1.5, True),
    ("snr", 5.0, 200.0, True),
    ("aliasing_residual", 0.0, 1.0, False),
    ("blur_px", 0.0, 1.5, False),
    ("off_resonance", 0.0, 1.0, False),
    ("off_resonance_px", 0.5, 2.5, True),
)


def appearance_of(values: dict[str, float]) -> MRIAppearance:
    """Searched values -> an :class:`MRIAppearance` (other fields: the realistic preset's)."""
    base = MRIAppearance.realistic()
    intensity = {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith("intensity.")}
    gain = values.get("texture_gain", 1.0)
    fields = {k: v for k, v in values.items() if "." not in k and k != "texture_gain"}
    return MRIAppearance.preset(
        "realistic",
        intensity=intensity,
        texture_std={n: base.texture_std[n] * gain for n in LABEL_NAMES},
        **fields,
    )


def _to_unit(values: dict[str, float]) -> np.ndarray:
    out = []
    for name, lo, hi, log in SEARCH:
        v = values[name]
        out.append((math.log(v / lo) / math.log(hi / lo)) if log else (v - lo) / (hi - lo))
    return np.clip(np.array(out), 0.0, 1.0)


def _from_unit(u: np.ndarray) -> dict[str, float]:
    out = {}
    for (name, lo, hi, log), x in zip(SEARCH, np.clip(u, 0.0, 1.0)):
        out[name] = float(lo * (hi / lo) ** x if log else lo + x * (hi - lo))
    return out


def realistic_values() -> dict[str, float]:
    base = MRIAppearance.realistic()
    out = {}
    for name, *_ in SEARCH:
        if name.startswith("intensity."):
            out[name] = base.intensity[name.split(".", 1)[1]]
        elif name == "texture_gain":
            out[name] = 1.0
        else:
            out[name] = float(getattr(base, name))
    return out


def calibrate(objective, n_random: int, n_rounds: int, seed: int):
    """Random search in the unit cube of :data:`SEARCH`, then coordinate descent.

    ``objective(values) -> float`` is minimised; returns ``(best values, best score, trace)``.
    """
    rng = np.random.default_rng(seed)
    best_u = _to_unit(realistic_values())
    best = objective(_from_unit(best_u))
    trace = [("realistic", best)]
    for _ in range(n_random):
        u = rng.random(len(SEARCH))
        score = objective(_from_unit(u))
        if score < best:
            best, best_u = score, u
    trace.append(("random search", best))
    step = 0.2
    for r in range(n_rounds):
        for i in rng.permutation(len(SEARCH)):
            for sign in (1.0, -1.0):
                u = best_u.copy()
                u[i] = np.clip(u[i] + sign * step, 0.0, 1.0)
                if u[i] == best_u[i]:
                    continue
                score = objective(_from_unit(u))
                if score < best:
                    best, best_u = score, u
                    break
        trace.append((f"descent round {r + 1} (step {step:.3f})", best))
        step /= 2.0
    return _from_unit(best_u), best, trace


def _round(values: dict[str, float]) -> dict[str, float]:
    return {k: float(f"{v:.3g}") for k, v in values.items()}


def print_preset(values: dict[str, float]) -> None:
    """The fitted values as the ``APPEARANCE_PRESETS["calibrated"]`` entry (to paste)."""
    app = appearance_of(_round(values))
    d = app.to_dict()
    base = MRIAppearance.realistic().to_dict()
    print('    "calibrated": functools.partial(\n        MRIAppearance,')
    for k, v in d.items():
        if v != base[k]:
            if isinstance(v, dict):
                v = {n: float(f"{x:.3g}") for n, x in v.items()}
            print(f"        {k}={v!r},")
    print("    ),")


# ----------------------------------------------------------------------------- main


def score(real, real_groups, synth, synth_groups, seed: int, scale=None) -> dict:
    """CV AUC and feature distance; ``scale``: the frames whose feature spread z-scores the
    distance (default ``real``; one video's spread is too narrow a yardstick)."""
    res = domain_classifier_auc(
        real, synth, real_groups=real_groups, synth_groups=synth_groups, seed=seed
    )
    return {
        "auc": res.auc,
        "auc_sd": res.auc_sd,
        "feature_distance": feature_distance(real, synth, reference=scale),
        "n_real": res.n_real,
        "n_synth": res.n_synth,
        "n_real_groups": res.n_real_groups,
        "n_synth_groups": res.n_synth_groups,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", type=Path, default=None, help="default $MRISYNTH_SHARED")
    ap.add_argument("--out", type=Path, default=None, help="folder for realism.json")
    ap.add_argument("--calibrate", action="store_true", help="fit and print the preset")
    ap.add_argument("--n-random", type=int, default=120)
    ap.add_argument("--n-rounds", type=int, default=4)
    ap.add_argument("--eval-seed", type=int, default=0, help="phantom corpus of the measurement")
    ap.add_argument("--calib-seed", type=int, default=1, help="phantom corpus of the fit")
    ap.add_argument("--seed", type=int, default=0, help="fold assignment and search seed")
    ap.add_argument("--img-size", type=int, default=48)
    ap.add_argument("--roi-size-mm", type=float, default=120.0)
    args = ap.parse_args()
    t0 = time.time()
    prep = PrepareConfig(img_size=args.img_size, roi_size_mm=args.roi_size_mm)
    (held, held_g, _), (calib, calib_g, calib_names) = real_sets(args.shared or shared_root(), prep)
    print(
        f"real: held-out {len(held)} frames, calibration {len(calib)} frames "
        f"({len(calib_names)} videos) [{time.time() - t0:.0f} s]"
    )
    cal_cfg = phantom_config(args.calib_seed)
    cal_clips = phantom_clips(cal_cfg)

    if args.calibrate:
        calib_features = image_features(calib)  # computed once for the whole search

        def objective(values):
            synth, _ = phantom_frames(cal_cfg, cal_clips, appearance_of(values), prep)
            return frechet_distance(calib_features, image_features(synth))

        values, best, trace = calibrate(objective, args.n_random, args.n_rounds, args.seed)
        for step, s in trace:
            print(f"{step:36s} feature distance {s:8.2f}")
        print_preset(values)
        print(f"{time.time() - t0:.0f} s")
        return

    ev_cfg = phantom_config(args.eval_seed)
    ev_clips = phantom_clips(ev_cfg)
    results: dict[str, dict] = {}
    for name in PRESETS:
        app = MRIAppearance.preset(name)
        synth, synth_g = phantom_frames(ev_cfg, ev_clips, app, prep)
        results[name] = score(held, held_g, synth, synth_g, args.seed, scale=calib)
        cs, cs_g = phantom_frames(cal_cfg, cal_clips, app, prep)
        cal = score(calib, calib_g, cs, cs_g, args.seed)
        # the headline: a classifier of real (many videos) vs this look, tested on a real
        # video and a phantom corpus it has never seen
        transfer = domain_transfer_auc(
            calib, cs, held, synth, test_real_groups=held_g, test_synth_groups=synth_g
        )
        results[name]["transfer_auc"] = transfer.auc
        results[name]["transfer_auc_sd"] = transfer.auc_sd
        results[name]["calibration_set"] = {
            k: cal[k] for k in ("auc", "auc_sd", "feature_distance")
        }
        gaps = feature_gaps(held, synth)
        results[name]["largest_feature_gaps"] = dict(
            sorted(gaps.items(), key=lambda kv: -abs(kv[1]))[:5]
        )
    ref = score(held, held_g, calib, calib_g, args.seed, scale=calib)
    results["real (calibration set)"] = ref

    lines = [
        "| look | transfer AUC | ± sd | CV AUC vs F2_400 | ± sd | feature dist. | calib AUC "
        "| calib dist. |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        c = r.get("calibration_set")
        head = (
            f"{r['transfer_auc']:.3f} | {r['transfer_auc_sd']:.3f}"
            if "transfer_auc" in r
            else "- | -"
        )
        tail = f"{c['auc']:.3f} | {c['feature_distance']:.1f}" if c else "- | -"
        lines.append(
            f"| {name} | {head} | {r['auc']:.3f} | {r['auc_sd']:.3f} | "
            f"{r['feature_distance']:.1f} | {tail} |"
        )
    print("\n".join(lines))
    for name in PRESETS:
        gaps = ", ".join(f"{k} {v:+.1f}" for k, v in results[name]["largest_feature_gaps"].items())
        print(f"{name}: largest gaps (phantom - real, real sd): {gaps}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "realism.json").write_text(json.dumps(results, indent=2) + "\n")
        (args.out / "realism.md").write_text("\n".join(lines) + "\n")
    print(f"{time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
