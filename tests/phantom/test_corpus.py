"""The assembled phantom: one trajectory drives images, labels, measures, audio and face."""

import csv

import numpy as np
import pytest

from mrisynth.data.manifest import load_manifest_sequences, read_manifest
from mrisynth.metrics.formants import estimate_formants
from mrisynth.phantom.acoustics import synthesize_speech
from mrisynth.phantom.anatomy import sample_anatomy
from mrisynth.phantom.articulation import ARTICULATORY_PARAMS, plan_trajectory
from mrisynth.phantom.corpus import (
    LANGUAGES,
    PhantomConfig,
    Utterance,
    build_corpus,
    plan_corpus,
    render_utterance_mri,
    synthesize_utterance,
)
from mrisynth.phantom.geometry import VocalTractGeometry
from mrisynth.phantom.labels import LABELS, MEASURE_NAMES
from mrisynth.phantom.text import parse_phonemes


def _utt(sentence_index: int, language="en", seed=5) -> Utterance:
    return Utterance(f"u{sentence_index}", "spk00", 0, language, sentence_index, "test", seed)


@pytest.fixture(scope="module")
def bread_and_butter():
    """'Please pass me the bread and butter.': /p p b b/ closures, vowels, nasals."""
    return synthesize_utterance(PhantomConfig(face=True), _utt(1))


def test_plan_has_every_language_in_every_split():
    cfg = PhantomConfig()
    plan = plan_corpus(cfg)
    for split in ("pretrain", "adapt", "test"):
        assert {u.language for u in plan if u.split == split} == set(LANGUAGES)
    speakers = {u.speaker for u in plan}
    assert len(speakers) >= 8
    targets = {u.speaker for u in plan if u.split in ("adapt", "test")}
    assert not targets & {u.speaker for u in plan if u.split == "pretrain"}
    # adaptation and test utterances of a target speaker never share a sentence
    for spk in targets:
        adapt = {
            (u.language, u.sentence_index) for u in plan if u.speaker == spk and u.split == "adapt"
        }
        test = {
            (u.language, u.sentence_index) for u in plan if u.speaker == spk and u.split == "test"
        }
        assert not adapt & test
    assert plan == plan_corpus(cfg)  # deterministic


def test_bilabial_closure_is_silent_in_the_audio(bread_and_butter):
    res = bread_and_butter
    seq = res["sequence"]
    lips = res["measures"]["lips_degree_mm"]
    fps = seq.fps
    closed = [k for k in range(seq.n_frames) if lips[k] < 0.3]
    assert closed, "the lips never close in a sentence with /p/ and /b/"
    oral_stops = [s for s in res["segments"] if s.symbol in ("p", "b")]
    in_stop = [
        k for k in closed if any(s.start_s <= (k + 0.5) / fps < s.end_s - 0.01 for s in oral_stops)
    ]
    assert len(in_stop) >= 4

    def rms_db(frames):
        x = np.concatenate([seq.audio_for_frames(k, k + 1) for k in frames])
        return 20 * np.log10(np.sqrt(np.mean(x**2)) + 1e-9)

    vowels = [s for s in res["segments"] if s.symbol in ("iː", "æ", "ɛ", "ʌ")]
    vowel_frames = [
        k
        for k in range(seq.n_frames)
        if any(s.start_s <= (k + 0.5) / fps < s.end_s for s in vowels)
    ]
    assert rms_db(in_stop) < rms_db(vowel_frames) - 20


def test_labels_match_the_image(bread_and_butter):
    seq = bread_and_butter["sequence"]
    img = seq.frames.astype(np.float64)
    lab = seq.labels
    mean = {name: img[lab == i].mean() for name, i in LABELS.items() if (lab == i).sum() > 50}
    soft = np.mean([mean["tongue"], mean["other_tissue"], mean["velum"]])
    for dark in ("airway", "background", "jaw_teeth", "hard_palate"):
        assert mean[dark] < 0.5 * soft, (dark, mean)
    # every frame has tongue, lips and airway where the geometry says
    for name in ("tongue", "lips", "airway"):
        assert (lab == LABELS[name]).any(axis=(1, 2)).all()


def test_measures_and_face_follow_the_same_trajectory(bread_and_butter):
    res = bread_and_butter
    seq, face = res["sequence"], res["face"]
    assert set(res["measures"]) == set(MEASURE_NAMES)
    assert all(len(v) == seq.n_frames for v in res["measures"].values())
    # lip closures on the MRI clock appear as closed mouths on the face clock
    lips = res["measures"]["lips_degree_mm"]
    t_mri = (np.arange(seq.n_frames) + 0.5) / seq.fps
    t_face = (np.arange(len(face.frames)) + 0.5) / face.fps
    lips_at_face = np.interp(t_face, t_mri, lips)
    opening = face.mouth_opening_px
    assert np.corrcoef(lips_at_face, opening)[0, 1] > 0.6
    assert abs(len(face.frames) / face.fps - seq.duration_s) < 0.05


def test_deterministic_for_a_seed():
    cfg = PhantomConfig(face=False)
    a = synthesize_utterance(cfg, _utt(0))
    b = synthesize_utterance(cfg, _utt(0))
    np.testing.assert_array_equal(a["sequence"].frames, b["sequence"].frames)
    np.testing.assert_array_equal(a["sequence"].audio, b["sequence"].audio)
    c = synthesize_utterance(cfg, _utt(0, seed=6))
    assert not np.array_equal(a["sequence"].audio, c["sequence"].audio)


def _vowel_formants(vowel: str) -> np.ndarray:
    rng = np.random.default_rng(0)
    anatomy = sample_anatomy(np.random.default_rng(3), sex="male")
    segs = parse_phonemes([vowel], durations=[0.6])
    traj = plan_trajectory(segs, anatomy, rng=rng)
    geom = VocalTractGeometry(anatomy)
    areas, sec, nasal = geom.area_function(traj.params)
    p = {n: traj.params[:, i] for i, n in enumerate(ARTICULATORY_PARAMS)}
    audio = synthesize_speech(
        areas,
        sec,
        nasal,
        p["voicing"],
        p["f0_hz"],
        p["aspiration"],
        control_rate_hz=1000.0,
        rng=rng,
    )
    mid = audio[int(0.45 * 16000) : int(0.65 * 16000)]  # steady part of the vowel
    return estimate_formants(mid, 16000, n_formants=2)


def test_formants_follow_the_articulators():
    """Geometry → area function → tube: /a/ has a higher F1 and lower F2 than /i/."""
    fa, fi = _vowel_formants("a"), _vowel_formants("i")
    assert fa[0] > fi[0] + 150
    assert fi[1] > fa[1] + 400


def _tiny_corpus(**overrides) -> PhantomConfig:
    """Two speakers, English, one utterance per split: a corpus written in seconds."""
    base = dict(
        n_pretrain_speakers=1,
        n_target_speakers=1,
        languages=("en",),
        pretrain_utterances_per_language=1,
        adapt_utterances_per_language=1,
        test_utterances_per_language=1,
        workers=1,
    )
    return PhantomConfig(**{**base, **overrides})


def test_written_corpus_reads_back_like_real_data(tmp_path):
    cfg = _tiny_corpus(max_audio_offset_s=0.05, scanner_noise=True)
    manifest = build_corpus(cfg, tmp_path, progress=False)
    entries = read_manifest(manifest)
    assert [e.split for e in entries].count("test") == 1
    seqs = load_manifest_sequences(manifest)
    for entry, seq in zip(entries, seqs):
        assert seq.labels is not None and seq.labels.shape == seq.frames.shape
        assert seq.fps == pytest.approx(83.28) and seq.spacing_mm == (2.4, 2.4)
        assert abs(seq.audio_offset_s) <= 0.05
        # audio covers the video once the recorded offset is applied
        assert abs(seq.audio_offset_s + seq.audio_duration_s - seq.duration_s) < 1e-3
        with open(tmp_path / entry.extra["measures_path"], newline="") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == seq.n_frames
        assert (tmp_path / entry.extra["face_path"]).stat().st_size > 1000
        # scanner-noise version is louder than the clean audio; the denoised one is in between
        from mrisynth.io import read_audio

        clean, sr = read_audio(tmp_path / entry.audio_path)
        noisy, _ = read_audio(tmp_path / entry.extra["noisy_audio_path"])
        den, _ = read_audio(tmp_path / entry.extra["denoised_audio_path"])
        n = min(len(clean), len(noisy), len(den))
        err_noisy = np.mean((noisy[:n] - clean[:n]) ** 2)
        assert err_noisy > 0 and np.mean((den[:n] - clean[:n]) ** 2) < err_noisy


def test_label_based_constrictions_track_the_geometry(bread_and_butter):
    """Measuring on label maps (what evaluation does for synthesized frames) recovers the
    phantom's own lip and tongue constrictions."""
    from mrisynth.metrics.constriction import measure_constrictions

    res = bread_and_butter
    seq = res["sequence"]
    measured = measure_constrictions(seq.labels, seq.spacing_mm)
    for place in ("lips", "tongue_body"):
        truth = res["measures"][f"{place}_degree_mm"]
        got = measured[f"{place}_degree_mm"]
        ok = np.isfinite(got)
        assert ok.mean() > 0.9
        assert np.corrcoef(truth[ok], got[ok])[0, 1] > 0.7, place
        # closures in the geometry are (near-)closures on the label map, within ~1 pixel
        closed = ok & (truth < 0.2)
        if closed.any():
            assert np.median(got[closed]) < 2.5


def test_preview_strip_and_video(tmp_path):
    import imageio.v3 as iio

    from mrisynth.phantom.preview import preview_sentence

    png, mp4 = preview_sentence(tmp_path, "ta", 0, size=84)
    strip = iio.imread(png)
    assert strip.shape == (3 * 84, 8 * 84, 3)  # rows: MRI, labels, face; 8 instants
    from mrisynth.io import read_sequence

    video = read_sequence(mp4, spacing_mm=1.0)
    assert video.audio is not None and video.audio_duration_s > 0.5  # audio is muxed in
    assert video.fps == pytest.approx(83.28, rel=1e-3)


def test_written_corpus_is_byte_identical_across_runs(tmp_path):
    """DVC hashes the phantom stage's output: a re-run must not change a single byte (no
    timestamps in npz/WAV/MP4 headers), or every downstream stage's hash changes with it."""
    cfg = _tiny_corpus(adapt_utterances_per_language=0)
    digests = []
    for run in ("a", "b"):
        build_corpus(cfg, tmp_path / run, progress=False)
        files = sorted(p for p in (tmp_path / run).rglob("*") if p.is_file())
        digests.append({p.relative_to(tmp_path / run): p.read_bytes() for p in files})
    assert digests[0].keys() == digests[1].keys() and len(digests[0]) > 5
    differing = [str(k) for k in digests[0] if digests[0][k] != digests[1][k]]
    assert not differing, differing


def test_rerendering_an_utterance_changes_its_look_and_nothing_else(bread_and_butter):
    """The supersampled labels an utterance returns re-render its MRI bit for bit; another look
    (the calibrated one) changes the frames, never the anatomy or the audio."""
    from mrisynth.phantom.mri import MRIAppearance

    cfg, utt = PhantomConfig(face=True), _utt(1)
    seq, labels_hr = bread_and_butter["sequence"], bread_and_butter["labels_hr"]
    assert labels_hr.shape == (seq.n_frames, *(n * cfg.supersample for n in seq.frames.shape[1:]))
    assert np.array_equal(render_utterance_mri(cfg, utt, labels_hr), seq.frames)
    other = render_utterance_mri(cfg, utt, labels_hr, MRIAppearance.preset("calibrated"))
    assert other.shape == seq.frames.shape and other.dtype == seq.frames.dtype
    tongue, tissue = seq.labels == LABELS["tongue"], seq.labels == LABELS["other_tissue"]

    def contrast(frames):  # tongue against the surrounding soft tissue, same pixels
        return frames[tongue].mean() / frames[tissue].mean()

    # the calibrated look sets the tongue off its surroundings (0.61 vs 0.30 label means)
    assert contrast(other) > 1.3 * contrast(seq.frames)
