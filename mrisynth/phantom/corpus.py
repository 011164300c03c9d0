"""Build a phantom speech-MRI corpus: MRI + labels + measures + audio + face from one model.

For every (speaker, sentence): phone segments → articulatory trajectory (task dynamics) →
sampled at the MRI frame rate → geometry label maps → MRI appearance → frames; the area
function at the control rate → tube acoustics → audio; the same trajectory sampled at the face
frame rate → face video. Everything is written through :mod:`mrisynth.io` as real formats
with a manifest, so the pipeline reads the phantom exactly like real data.

Splits (column ``split`` of the manifest):

- ``pretrain``: all utterances of the pretraining speakers.
- ``adapt``: the target speakers' adaptation utterances (fine-tuning, fitting baselines).
- ``test``: the target speakers' held-out test utterances.

Every language appears in every split.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from mrisynth.phantom.labels import MEASURE_NAMES

if TYPE_CHECKING:
    from mrisynth.phantom.inventory import PhoneSegment
    from mrisynth.phantom.mri import MRIAppearance

__all__ = [
    "PhantomConfig",
    "Utterance",
    "plan_corpus",
    "synthesize_utterance",
    "render_utterance_mri",
    "build_corpus",
]

logger = logging.getLogger(__name__)

LANGUAGES = ("en", "te", "ta", "kn", "ml", "hi")
ACOUSTIC_CONTROL_S = 0.0025  # geometry → area function every 2.5 ms for the tube model


@dataclasses.dataclass
class PhantomConfig:
    """What phantom corpus to build.

    Args:
        n_pretrain_speakers: speakers used only for pretraining (split ``pretrain``).
        n_target_speakers: speakers held out from pretraining (splits ``adapt`` and ``test``).
        languages: language codes; each speaker speaks sentences of every language.
        pretrain_utterances_per_language: sentences per pretraining speaker and language.
        adapt_utterances_per_language: adaptation sentences per target speaker and language.
        test_utterances_per_language: test sentences per target speaker and language.
        fps: MRI frame rate (frames/s); 83.28 is the USC 75-speaker rate.
        matrix: MRI matrix size (pixels, square).
        spacing_mm: MRI pixel spacing (mm).
        supersample: sub-pixel factor of the geometry rasterisation (partial volume).
        appearance: MRI appearance preset (:data:`~mrisynth.phantom.mri.APPEARANCE_PRESETS`:
            ``"realistic"``, ``"clean"``...).
        appearance_overrides: :class:`~mrisynth.phantom.mri.MRIAppearance` fields replacing
            the preset's, e.g. ``{snr: 17, intensity: {tongue: 0.4}, blur_px: 1.0}``: how an
            unseen scanner / contrast domain is made (``configs/phantom/unseen_domain.yaml``).
        snr: override of the preset's signal-to-noise ratio (None = preset).
        sample_rate: audio rate (Hz).
        scanner_noise: also write the audio with MRI gradient noise (and a denoised version).
        max_audio_offset_s: each recording gets a random audio/video offset in ±this (s),
            recorded in the manifest.
        speaking_rate: (min, max) random speaking-rate factor per utterance.
        pause_s: silence before and after each sentence (s); longer pauses score the
            articulators' rest in silence (``EvalConfig.pause_min_s``, 0.3 s).
        face: also render the frontal face video.
        face_fps: face video frame rate (frames/s).
        face_size: face video size (pixels).
        image_format: ``"nifti"`` (default) or ``"dicom"`` (a de-identified series folder).
        seed: corpus seed; the same seed gives the same corpus bit for bit.
        workers: processes used to synthesise utterances (0 = all cores).
    """

    n_pretrain_speakers: int = 6
    n_target_speakers: int = 2
    languages: tuple[str, ...] = LANGUAGES
    pretrain_utterances_per_language: int = 3
    adapt_utterances_per_language: int = 2
    test_utterances_per_language: int = 1
    fps: float = 83.28
    matrix: int = 84
    spacing_mm: float = 2.4
    supersample: int = 2
    appearance: str = "realistic"
    appearance_overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    snr: float | None = None
    sample_rate: int = 16000
    scanner_noise: bool = False
    max_audio_offset_s: float = 0.0
    speaking_rate: tuple[float, float] = (0.9, 1.1)
    pause_s: float = 0.2
    face: bool = True
    face_fps: float = 25.0
    face_size: int = 96
    image_format: Literal["nifti", "dicom"] = "nifti"
    seed: int = 0
    workers: int = 0

    def __post_init__(self) -> None:
        if self.n_pretrain_speakers < 1 or self.n_target_speakers < 1:
            raise ValueError("need at least one pretraining and one target speaker")
        unknown = sorted(set(self.languages) - set(LANGUAGES))
        if unknown or not self.languages:
            raise ValueError(f"languages must be a non-empty subset of {LANGUAGES}, got {unknown}")
        for name in ("fps", "spacing_mm", "face_fps"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if not 16 <= self.matrix <= 256:
            raise ValueError(f"matrix must be 16..256 pixels, got {self.matrix}")
        if self.supersample < 1:
            raise ValueError("supersample must be >= 1")
        if not 0 <= self.pause_s <= 5:
            raise ValueError(f"pause_s must be 0..5 s, got {self.pause_s}")
        if not 8000 <= self.sample_rate <= 48000:
            raise ValueError(f"sample_rate must be 8000..48000 Hz, got {self.sample_rate}")
        lo, hi = self.speaking_rate
        if not 0.3 <= lo <= hi <= 3.0:
            raise ValueError(
                f"speaking_rate must be (min, max) within 0.3..3, got {self.speaking_rate}"
            )
        if self.max_audio_offset_s < 0:
            raise ValueError("max_audio_offset_s must be >= 0")
        self.mri_appearance()  # an unknown preset, field or label fails here, by name

    def mri_appearance(self) -> MRIAppearance:
        """The MRI look: the preset, its overrides, then ``snr`` where given."""
        from mrisynth.phantom.mri import MRIAppearance

        overrides = dict(self.appearance_overrides)
        if self.snr is not None:
            overrides["snr"] = self.snr
        return MRIAppearance.preset(self.appearance, **overrides)


@dataclasses.dataclass(frozen=True)
class Utterance:
    """One recording to synthesise."""

    id: str
    speaker: str
    speaker_index: int
    language: str
    sentence_index: int
    split: str
    seed: int


def plan_corpus(cfg: PhantomConfig) -> list[Utterance]:
    """Which speaker says which sentence in which split (deterministic for ``cfg.seed``)."""
    from mrisynth.phantom.text import load_sentences

    rng = np.random.default_rng(cfg.seed)
    n_spk = cfg.n_pretrain_speakers + cfg.n_target_speakers
    plan: list[Utterance] = []
    for s in range(n_spk):
        speaker = f"spk{s:02d}"
        target = s >= cfg.n_pretrain_speakers
        for lang in cfg.languages:
            n_sent = len(load_sentences(lang))
            if target:
                counts = [
                    ("adapt", cfg.adapt_utterances_per_language),
                    ("test", cfg.test_utterances_per_language),
                ]
            else:
                counts = [("pretrain", cfg.pretrain_utterances_per_language)]
            need = sum(c for _, c in counts)
            if need > n_sent:
                raise ValueError(
                    f"{lang}: {need} sentences per speaker requested, only {n_sent} built in"
                )
            order = rng.permutation(n_sent)
            k = 0
            for split, count in counts:
                for _ in range(count):
                    idx = int(order[k])
                    k += 1
                    plan.append(
                        Utterance(
                            id=f"{speaker}_{lang}_{idx:02d}",
                            speaker=speaker,
                            speaker_index=s,
                            language=lang,
                            sentence_index=idx,
                            split=split,
                            seed=int(rng.integers(2**31)),
                        )
                    )
    return plan


def _speaker_rng(cfg: PhantomConfig, speaker_index: int) -> np.random.Generator:
    return np.random.default_rng([cfg.seed, 1000 + speaker_index])


def render_utterance_mri(
    cfg: PhantomConfig, utt: Utterance, labels_hr: np.ndarray, appearance=None
) -> np.ndarray:
    """The MRI frames of an utterance's supersampled label maps, as the corpus stores them.

    Args:
        cfg: the corpus config (supersampling, frame rate, seed, and the appearance unless
            ``appearance`` is given).
        utt: the utterance (its speaker and seed fix the texture, coil map and noise draws).
        labels_hr: ``(T, H * s, W * s)`` label ids (``synthesize_utterance(...)["labels_hr"]``).
        appearance: an :class:`~mrisynth.phantom.mri.MRIAppearance` to render with instead of
            the config's (the same anatomy and noise draws in another look).

    Returns:
        ``(T, H, W)`` uint16 frames, 12-bit like scanners.
    """
    from mrisynth.phantom.mri import render_mri

    # per-speaker tissue texture and coil map: seeded by the speaker, so they stay fixed
    frames = render_mri(
        labels_hr,
        supersample=cfg.supersample,
        appearance=appearance if appearance is not None else cfg.mri_appearance(),
        rng=np.random.default_rng([cfg.seed, 2000 + utt.speaker_index, utt.seed]),
        fps=cfg.fps,
    )
    return np.clip(np.rint(frames * 4095.0), 0, 4095).astype(np.uint16)


def synthesize_utterance(
    cfg: PhantomConfig,
    utt: Utterance,
    edit: Callable[[list[PhoneSegment]], list[PhoneSegment]] | None = None,
) -> dict:
    """Synthesise one utterance in memory.

    ``edit`` changes the timed phones before they are articulated (e.g. a learner's
    substituted phoneme, or times scaled for a slower copy); the speaker, the sentence and
    every random draw stay those of ``utt``, so what differs is only what was edited.

    Returns a dict with ``sequence`` (SpeechMRISequence with labels, audio at offset 0),
    ``measures`` (dict of ``(T,)`` arrays, mm), ``tongue_contours`` ``(T, K, 2)`` mm,
    ``segments`` (phone segments), ``transcript``, ``face`` (FaceVideo or None) and
    ``labels_hr`` (the supersampled label maps the MRI was rendered from: re-rendering them
    with another appearance and the same seed, :func:`render_utterance_mri`, changes the look
    and nothing else).
    """
    from mrisynth.data.sequence import SpeechMRISequence
    from mrisynth.phantom.acoustics import synthesize_speech
    from mrisynth.phantom.anatomy import sample_anatomy
    from mrisynth.phantom.articulation import ARTICULATORY_PARAMS, plan_trajectory
    from mrisynth.phantom.geometry import VocalTractGeometry
    from mrisynth.phantom.mri import downsample_labels
    from mrisynth.phantom.text import load_sentences, sentence_segments

    spk_rng = _speaker_rng(cfg, utt.speaker_index)
    anatomy = sample_anatomy(spk_rng)
    rng = np.random.default_rng(utt.seed)
    sentence = load_sentences(utt.language)[utt.sentence_index]
    rate = float(rng.uniform(*cfg.speaking_rate))
    segments = sentence_segments(sentence, rate=rate, rng=rng, pad_s=cfg.pause_s)
    if edit is not None:
        segments = edit(list(segments))
    traj = plan_trajectory(segments, anatomy, rng=rng)
    geometry = VocalTractGeometry(anatomy)

    # MRI: frame k covers [k/fps, (k+1)/fps); sample the articulators at the frame centre
    duration = float(traj.times_s[-1])
    n_frames = int(np.floor(duration * cfg.fps))
    t_frames = (np.arange(n_frames) + 0.5) / cfg.fps
    states = traj.sample(t_frames)
    pose = _sample_pose(traj, t_frames)
    labels_hr = geometry.rasterize(
        states,
        matrix=cfg.matrix,
        spacing_mm=cfg.spacing_mm,
        supersample=cfg.supersample,
        head_pose=pose,
    )
    frames = render_utterance_mri(cfg, utt, labels_hr)
    labels = downsample_labels(labels_hr, cfg.supersample)
    measures = geometry.measures(states)
    contours = geometry.tongue_contours(states)

    # audio from the same trajectory; the tube model interpolates its control steps, so the
    # geometry is evaluated every 2.5 ms (fast enough for bursts) instead of every 1 ms
    step = max(1, int(round(ACOUSTIC_CONTROL_S / float(traj.times_s[1] - traj.times_s[0]))))
    ctrl = traj.params[::step]
    areas, sec_len, nasal = geometry.area_function(ctrl)
    p = {name: ctrl[:, i] for i, name in enumerate(ARTICULATORY_PARAMS)}
    control_rate = 1.0 / float(traj.times_s[step] - traj.times_s[0])
    audio = synthesize_speech(
        areas,
        sec_len,
        nasal,
        p["voicing"],
        p["f0_hz"],
        p["aspiration"],
        control_rate_hz=control_rate,
        sample_rate=cfg.sample_rate,
        rng=rng,
    )
    n_audio = int(round(n_frames / cfg.fps * cfg.sample_rate))
    audio = _fit_length(audio, n_audio)

    seq = SpeechMRISequence(
        frames=frames,
        fps=cfg.fps,
        spacing_mm=(cfg.spacing_mm, cfg.spacing_mm),
        audio=audio,
        sample_rate=cfg.sample_rate,
        speaker=utt.speaker,
        language=utt.language,
        utterance_id=utt.id,
        transcript=sentence.text,
        labels=labels,
        provenance={"reader": "phantom", "seed": utt.seed},
    )
    face = None
    if cfg.face:
        face = _render_face(cfg, traj, utt, duration)
    return {
        "sequence": seq,
        "measures": measures,
        "tongue_contours": contours,
        "labels_hr": labels_hr,
        "segments": segments,
        "transcript": sentence.text,
        "face": face,
        "rate": rate,
    }


def _sample_pose(traj, t: np.ndarray) -> np.ndarray:
    return np.stack(
        [np.interp(t, traj.times_s, traj.head_pose[:, i]) for i in range(traj.head_pose.shape[1])],
        1,
    )


def _fit_length(audio: np.ndarray, n: int) -> np.ndarray:
    if len(audio) >= n:
        return audio[:n]
    return np.concatenate([audio, np.zeros(n - len(audio), audio.dtype)])


def _render_face(cfg: PhantomConfig, traj, utt: Utterance, duration: float):
    from mrisynth.phantom.articulation import ARTICULATORY_PARAMS
    from mrisynth.phantom.face import render_face, sample_face_identity

    n = int(np.floor(duration * cfg.face_fps))
    t = (np.arange(n) + 0.5) / cfg.face_fps
    st = traj.sample(t)
    col = {name: st[:, i] for i, name in enumerate(ARTICULATORY_PARAMS)}
    identity = sample_face_identity(np.random.default_rng([cfg.seed, 3000 + utt.speaker_index]))
    return render_face(
        col["jaw_open_mm"],
        col["lip_aperture_mm"],
        col["lip_width_mm"],
        col["lip_protrusion_mm"],
        fps=cfg.face_fps,
        identity=identity,
        rng=np.random.default_rng([utt.seed, 7]),
        size=cfg.face_size,
    )


def _write_utterance(cfg: PhantomConfig, utt: Utterance, out_dir: Path) -> dict:
    """Synthesise and write one utterance; returns its manifest row."""
    from mrisynth.io import (
        write_audio,
        write_dicom_series,
        write_labels_nifti,
        write_mp4,
        write_nifti,
    )

    res = synthesize_utterance(cfg, utt)
    seq = res["sequence"]
    rng = np.random.default_rng([utt.seed, 11])
    offset = (
        float(rng.uniform(-cfg.max_audio_offset_s, cfg.max_audio_offset_s))
        if cfg.max_audio_offset_s
        else 0.0
    )
    audio = _apply_offset(seq.audio, seq.sample_rate, offset)

    rel = Path(utt.speaker) / utt.id
    base = out_dir / rel
    base.parent.mkdir(parents=True, exist_ok=True)
    if cfg.image_format == "dicom":
        image_path = rel.with_name(utt.id + "_dicom")
        write_dicom_series(seq, out_dir / image_path)
    else:
        image_path = rel.with_name(utt.id + ".nii.gz")
        write_nifti(seq, out_dir / image_path)
    labels_path = rel.with_name(utt.id + "_labels.nii.gz")
    write_labels_nifti(seq, out_dir / labels_path)
    audio_path = rel.with_name(utt.id + ".wav")
    write_audio(out_dir / audio_path, audio, seq.sample_rate)
    row = {
        "id": utt.id,
        "image_path": image_path.as_posix(),
        "audio_path": audio_path.as_posix(),
        "speaker": utt.speaker,
        "language": utt.language,
        "split": utt.split,
        "fps": f"{cfg.fps:g}",
        "spacing_mm": f"{cfg.spacing_mm:g}",
        "audio_offset_s": f"{offset:.6f}",
        "transcript": res["transcript"],
        "labels_path": labels_path.as_posix(),
    }
    if cfg.scanner_noise:
        from mrisynth.phantom.acoustics import denoise, scanner_noise

        noise = scanner_noise(len(audio), seq.sample_rate, rng=rng)
        noisy = (audio + noise).astype(np.float32)
        noisy_path = rel.with_name(utt.id + "_scanner.wav")
        den_path = rel.with_name(utt.id + "_denoised.wav")
        write_audio(out_dir / noisy_path, noisy, seq.sample_rate)
        write_audio(out_dir / den_path, denoise(noisy, seq.sample_rate, noise), seq.sample_rate)
        row["noisy_audio_path"] = noisy_path.as_posix()
        row["denoised_audio_path"] = den_path.as_posix()

    measures_path = rel.with_name(utt.id + "_measures.csv")
    _write_measures(out_dir / measures_path, res["measures"], cfg.fps)
    np.save(
        out_dir / rel.with_name(utt.id + "_tongue.npy"), res["tongue_contours"].astype(np.float32)
    )
    phones_path = rel.with_name(utt.id + "_phones.csv")
    with open(out_dir / phones_path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["start_s", "end_s", "phone"])
        for s in res["segments"]:
            w.writerow([f"{s.start_s:.5f}", f"{s.end_s:.5f}", s.symbol])
    row["measures_path"] = measures_path.as_posix()
    row["phones_path"] = phones_path.as_posix()
    if res["face"] is not None:
        face = res["face"]
        face_path = rel.with_name(utt.id + "_face.mp4")
        # the face video gets the same (offset-free) audio so it plays in sync
        write_mp4(
            face.frames, out_dir / face_path, fps=cfg.face_fps, audio=seq.audio, sr=seq.sample_rate
        )
        np.savez_compressed(
            out_dir / rel.with_name(utt.id + "_face_truth.npz"),
            landmarks=face.landmarks,
            pose=face.pose,
            eyelid_open=face.eyelid_open,
        )
        row["face_path"] = face_path.as_posix()
    return row


def _apply_offset(audio: np.ndarray, sr: int, offset_s: float) -> np.ndarray:
    """Audio as a recorder with this offset would have stored it (positive: starts later)."""
    k = int(round(abs(offset_s) * sr))
    if offset_s > 0:
        return audio[k:]
    if offset_s < 0:
        return np.concatenate([np.zeros(k, audio.dtype), audio])
    return audio


def _write_measures(path: Path, measures: dict, fps: float) -> None:
    n = len(next(iter(measures.values())))
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["frame", "time_s", *MEASURE_NAMES])
        for k in range(n):
            w.writerow(
                [
                    k,
                    f"{(k + 0.5) / fps:.5f}",
                    *(f"{float(measures[m][k]):.3f}" for m in MEASURE_NAMES),
                ]
            )


def _worker(args):
    cfg, utt, out_dir = args
    return _write_utterance(cfg, utt, Path(out_dir))


def build_corpus(cfg: PhantomConfig, out_dir: str | Path, *, progress: bool = True) -> Path:
    """Synthesise the whole corpus into ``out_dir``; returns the path of ``manifest.csv``."""
    from tqdm import tqdm

    from mrisynth.data.manifest import write_manifest_rows

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = plan_corpus(cfg)
    workers = cfg.workers or os.cpu_count() or 1
    jobs = [(cfg, u, str(out_dir)) for u in plan]
    rows = []
    bar = tqdm(total=len(jobs), desc="phantom", unit="utt", disable=not progress)
    if workers == 1:
        for job in jobs:
            rows.append(_worker(job))
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for row in pool.map(_worker, jobs):
                rows.append(row)
                bar.update()
    bar.close()
    manifest = out_dir / "manifest.csv"
    write_manifest_rows(rows, manifest)
    (out_dir / "phantom_config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2))
    return manifest
