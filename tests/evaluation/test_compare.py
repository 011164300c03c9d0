"""The learner-vs-reference comparison on the phantom's ground truth (``mrisynth compare``'s
core): alignment, per-phone flags and notes, phone files, input checks.

The phantom's own label maps stand in for the segmented synthesis here: its articulation is
known, so a substituted phone has a known place and the flags can be checked exactly. The
command's whole path (synthesis, segmentation, outputs) is tested in tests/cli/test_compare_command.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from mrisynth.evaluation.compare import (
    Articulation,
    CompareConfig,
    PhoneSpan,
    check_recordings,
    compare_articulations,
    match_spectrum,
    phones_from_text,
    read_phone_spans,
    relevant_places,
    speech_span,
    substitute,
    time_segments,
)
from mrisynth.metrics.constriction import measure_constrictions

#: A Telugu sentence of the built-in corpus with one ʈ (phone 8 once padded with silence).
UTT = ("u", "spk06", 6, "te", 4, "test", 11)


def _articulation(labels, fps, spacing, audio, sr) -> Articulation:
    return Articulation(
        frames=np.zeros(labels.shape, np.float32),
        labels=labels,
        measures=measure_constrictions(labels, spacing, contact_centre=True),
        fps=fps,
        spacing_mm=spacing,
        audio=np.asarray(audio, np.float32),
        sample_rate=sr,
    )


def _of(out) -> Articulation:
    seq = out["sequence"]
    return _articulation(seq.labels, seq.fps, seq.spacing_mm, seq.audio, seq.sample_rate)


def _spans(out) -> list[PhoneSpan]:
    return [PhoneSpan(s.start_s, s.end_s, s.symbol, s.symbol) for s in out["segments"]]


@pytest.fixture(scope="module")
def phantom_ref():
    from mrisynth.phantom.corpus import PhantomConfig, Utterance, synthesize_utterance

    return synthesize_utterance(PhantomConfig(face=False), Utterance(*UTT))


def test_single_substituted_retroflex_is_flagged_at_its_phone(phantom_ref):
    from mrisynth.phantom.corpus import PhantomConfig, Utterance, synthesize_utterance

    symbols = [s.symbol for s in phantom_ref["segments"]]
    index = symbols.index("ʈ")
    assert symbols.count("ʈ") == 1
    learner = synthesize_utterance(
        PhantomConfig(face=False), Utterance(*UTT), substitute(index, "t̪")
    )
    assert [s.symbol for s in learner["segments"]][index] == "t̪"
    result = compare_articulations(_of(learner), _of(phantom_ref), _spans(phantom_ref))
    flagged = [p for p in result.phones if p.flagged]
    assert [p.span.label for p in flagged] == ["ʈ"]
    (hit,) = flagged
    assert hit.span.start_s == phantom_ref["segments"][index].start_s
    tip = hit.places["tongue_tip"]
    assert tip["dx_mm"] < -3.0  # a dental tip lies in front of a retroflex one
    assert any("tongue tip too far forward for ʈ" in n for n in hit.notes)
    # the same recording against itself flags nothing and differs by nothing
    same = compare_articulations(_of(phantom_ref), _of(phantom_ref), _spans(phantom_ref))
    assert not same.flagged
    assert max(p.score_mm for p in same.phones) == 0.0


def test_time_stretched_copy_of_itself_gives_no_flags(phantom_ref):
    """The learner says the same, 25 % slower (phase-vocoder stretch of the audio, the label
    maps resampled in time): only the alignment stands between them."""
    import librosa

    seq = phantom_ref["sequence"]
    rate = 0.8
    audio = librosa.effects.time_stretch(seq.audio.astype(np.float32), rate=rate)
    n = int(round(len(audio) / seq.sample_rate * seq.fps))
    src = np.minimum(
        ((np.arange(n) + 0.5) / seq.fps * rate * seq.fps).astype(int), seq.n_frames - 1
    )
    learner = _articulation(seq.labels[src], seq.fps, seq.spacing_mm, audio, seq.sample_rate)
    reference = _of(phantom_ref)
    result = compare_articulations(learner, reference, _spans(phantom_ref))
    assert len(result.phones) == len(phantom_ref["segments"]) - 2  # silences skipped
    assert not result.flagged, [(p.span.label, p.score_mm, p.notes) for p in result.flagged]
    # the path maps each reference time to ~1.25x it (the phase vocoder smears onsets over
    # its 128 ms window: measured 19 ms mean, 68 ms worst error)
    t = np.linspace(0.3, seq.n_frames / seq.fps - 0.3, 40)
    err = np.abs(result.alignment.learner_time(t) - t / rate)
    assert err.mean() < 0.03 and err.max() < 0.1
    # without the alignment (frame k against frame k) the same pair is flagged all over
    unaligned = _articulation(
        seq.labels[np.minimum(np.arange(seq.n_frames), n - 1)], seq.fps, seq.spacing_mm,
        seq.audio, seq.sample_rate,
    )  # fmt: skip
    unaligned.labels = learner.labels[: seq.n_frames]
    unaligned.measures = measure_constrictions(
        unaligned.labels, seq.spacing_mm, contact_centre=True
    )
    assert len(compare_articulations(unaligned, reference, _spans(phantom_ref)).flagged) >= 3


def test_the_same_sentence_spoken_slower_gives_no_flags(phantom_ref):
    """The phantom speaker says the same sentence at 0.8x the tempo (every phone 25 % longer,
    its articulation re-planned: a speaker's own slower copy)."""
    import dataclasses

    from mrisynth.phantom.corpus import PhantomConfig, Utterance, synthesize_utterance

    def slower(segments):
        return [
            dataclasses.replace(s, start_s=s.start_s * 1.25, end_s=s.end_s * 1.25) for s in segments
        ]

    learner = synthesize_utterance(PhantomConfig(face=False), Utterance(*UTT), slower)
    result = compare_articulations(_of(learner), _of(phantom_ref), _spans(phantom_ref))
    assert not result.flagged, [(p.span.label, p.score_mm, p.notes) for p in result.flagged]
    t = np.linspace(0.3, 1.6, 14)
    assert np.abs(result.alignment.learner_time(t) - 1.25 * t).max() < 0.03


def test_without_phones_time_segments_are_named_by_time(phantom_ref):
    ref = _of(phantom_ref)
    result = compare_articulations(ref, ref, None, CompareConfig(segment_s=0.5))
    assert result.named_by == "time"
    assert result.phones[0].span.label == "0.00–0.50 s"
    assert set(result.phones[0].places) == {"lips", "tongue_tip", "tongue_body", "velum", "pharynx"}
    assert time_segments(1.1, 0.5)[-1].label == "1.00–1.10 s"


def test_relevant_places():
    assert relevant_places("ʈ") == ("tongue_tip",)
    assert relevant_places("m") == ("lips", "velum")
    assert relevant_places("u") == ("lips", "tongue_body", "pharynx")
    assert relevant_places("_") == ()
    assert len(relevant_places(None)) == 5


def test_phone_files(tmp_path):
    plain = tmp_path / "phones.txt"
    plain.write_text("# start end phone\n0.0 0.1 sil\n0.1 0.25 ʈ\n0.25 0.4 a\n")
    spans = read_phone_spans(plain)
    assert [(s.label, s.symbol) for s in spans] == [("sil", "_"), ("ʈ", "ʈ"), ("a", "a")]
    csv = tmp_path / "phones.csv"
    csv.write_text("start_s,end_s,phone\n0.0,0.2,t̪\n")
    assert read_phone_spans(csv)[0].symbol == "t̪"
    bad = tmp_path / "bad.txt"
    bad.write_text("0.0 0.1 a\nzero one b\n")
    with pytest.raises(ValueError, match="bad.txt: line 2"):
        read_phone_spans(bad)
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        read_phone_spans(tmp_path / "nope.txt")


def test_phone_files_read_hts_labels(shared_data):
    lab = read_phone_spans(shared_data("data/real-speech/arctic_a0009_phone.lab"))
    assert lab[0].symbol == "_" and all(s.end_s > s.start_s for s in lab)


def test_phones_from_text_spread_over_the_speech(monkeypatch):
    # the g2p itself is tested in tests/phantom/test_text.py; calling espeak-ng here would
    # change the timing it reports to the tests that run after this one
    import mrisynth.phantom.text as text

    monkeypatch.setattr(text, "text_to_phonemes", lambda t, lang: ["t", "a"])
    sr = 16000
    audio = np.zeros(sr, np.float32)
    audio[4000:12000] = 0.3 * np.sin(np.arange(8000) * 0.2)
    start, end = speech_span(audio, sr)
    assert abs(start - 0.25) < 0.015 and abs(end - 0.75) < 0.015
    spans = phones_from_text("ta", "en", audio, sr)
    assert spans[0].symbol == "_" and spans[1].symbol == "t"
    assert abs(spans[1].start_s - start) < 1e-9 and abs(spans[-1].end_s - end) < 1e-9


def test_bad_recordings_are_refused_by_name(tmp_path):
    from mrisynth.io import write_audio

    sr = 16000
    t = np.arange(sr) / sr
    speech = (0.3 * np.sin(2 * np.pi * 150 * t) * (t > 0.2)).astype(np.float32)
    good = write_audio(tmp_path / "good.wav", speech, sr)
    other = write_audio(tmp_path / "other.wav", speech[::2], sr // 2)
    silent = write_audio(tmp_path / "silent.wav", np.zeros(sr, np.float32), sr)
    with pytest.raises(ValueError, match="other.wav is 8000 Hz, good.wav is 16000 Hz"):
        check_recordings(other, good)
    with pytest.raises(ValueError, match="silent.wav: the recording is silent"):
        check_recordings(good, silent)
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        check_recordings(tmp_path / "missing.wav", good)
    (a, sa), (b, sb) = check_recordings(good, good)
    assert sa == sb == sr and len(a) == len(b) == sr


def test_despeckle_removes_stray_pieces_only():
    from mrisynth.evaluation.compare import despeckle
    from mrisynth.phantom.labels import LABELS

    lab = np.full((1, 20, 20), LABELS["airway"], np.uint8)
    lab[0, 2:6, 2:6] = LABELS["lips"]  # a lip: 16 px, kept
    lab[0, 15, 15] = LABELS["lips"]  # a stray lip pixel
    lab[0, 10:12, 10:12] = LABELS["tongue"]  # 4 px of tongue: below 6, removed
    out = despeckle(lab)
    assert (out[0, 2:6, 2:6] == LABELS["lips"]).all()
    assert out[0, 15, 15] == LABELS["airway"] and (out[0, 10:12, 10:12] == LABELS["airway"]).all()
    assert lab[0, 15, 15] == LABELS["lips"]  # the input is left alone
    closed = measure_constrictions(out, (2.5, 2.5))["lips_degree_mm"][0]
    assert closed == 0.0  # one lip component left: closed, not 30 mm open


def _ltas_db(x: np.ndarray) -> np.ndarray:
    import librosa

    return 10 * np.log10((np.abs(librosa.stft(x, n_fft=1024)) ** 2).mean(1) + 1e-10)


def test_match_spectrum_undoes_a_tilt_and_leaves_a_match_alone(phantom_ref):
    from scipy.signal import lfilter

    seq = phantom_ref["sequence"]
    voice = seq.audio.astype(np.float32)
    tilted = lfilter([1.0, -0.9], [1.0], voice).astype(np.float32) * 0.3  # brighter, quieter
    band = slice(5, 250)  # ~80 Hz to 4 kHz at 16 kHz: where speech has energy
    before = np.abs(_ltas_db(tilted) - _ltas_db(voice))[band].mean()
    matched = match_spectrum(tilted, voice, seq.sample_rate)
    after = np.abs(_ltas_db(matched) - _ltas_db(voice))[band].mean()
    assert matched.shape == tilted.shape and matched.dtype == np.float32
    # (the residual is the voice's fine harmonic structure, below the gain's 250 Hz smoothing)
    assert before > 10.0 and after < before / 4, (before, after)
    # a recording matched to itself is (up to the STFT round trip) unchanged
    same = match_spectrum(voice, voice, seq.sample_rate)
    assert np.abs(same - voice).max() < 1e-3 * np.abs(voice).max()
