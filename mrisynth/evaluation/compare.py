"""A learner's articulation against a reference's, phone by phone (``mrisynth compare``).

Both recordings of the same text drive the same speaker model with the same reference frame,
so the synthesized anatomy is identical and what differs is articulation:

1. **synthesize** each recording's rtMRI (:func:`mrisynth.synthesis.synthesize`, the model's
   ROI) and **segment** it (the articulator segmenter) → constriction degree and location per
   place over time (:func:`mrisynth.metrics.constriction.measure_constrictions`);
2. **align** the learner to the reference in time: DTW (``librosa.sequence.dtw``) on
   per-utterance normalised MFCCs, 10 ms hop;
3. **per reference phone** (a phones file, text through the phantom's g2p spread over the
   speech by the phones' default durations, or fixed time segments named by time) compare the
   learner's aligned frames with the reference's over the central half of the phone, at the
   places the phone uses, and **flag** a phone where a constriction's degree or location
   differs by more than ``threshold_mm``; a plain-language note says what differs.

Two audio-only flaggers score the same phones for comparison: the **acoustic** one (mean MFCC
distance along the DTW path) and the **LPC area-function** one (Wakita's area function from
each recording, :mod:`mrisynth.metrics.lpc_area`: mean RMS difference of relative log areas
along the path).

Locations are ``(x, y)`` mm from the ROI's top-left corner, x running from the lips towards
the pharynx (anterior → posterior) and y downwards.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mrisynth.phantom.labels import CONSTRICTION_PLACES

__all__ = [
    "CompareConfig",
    "PhoneSpan",
    "Articulation",
    "Alignment",
    "PhoneResult",
    "Comparison",
    "check_recordings",
    "speech_span",
    "read_phone_spans",
    "phones_from_text",
    "time_segments",
    "audio_features",
    "align",
    "relevant_places",
    "articulate",
    "despeckle",
    "compare_articulations",
    "substitute",
]

#: How places are named in notes.
PLACE_NAMES = {
    "lips": "lips",
    "tongue_tip": "tongue tip",
    "tongue_body": "tongue body",
    "velum": "velum",
    "pharynx": "tongue root",
}
#: Audio quieter than this peak (dBFS) is refused as silence.
SILENCE_DBFS = -60.0
#: Less speech than this (s) cannot be compared.
MIN_SPEECH_S = 0.2


@dataclasses.dataclass(frozen=True)
class CompareConfig:
    """How two recordings are compared.

    Args:
        threshold_mm: a phone is flagged where the learner's constriction degree or location
            at a place the phone uses differs from the reference's by more than this (mm).
        acoustic_threshold: the acoustic flagger's threshold on the mean MFCC distance
            (per-utterance normalised MFCCs, divided by sqrt(n_mfcc)).
        lpc_threshold: the LPC flagger's threshold on the RMS log-area difference.
        segment_s: length of the fixed time segments used without phones (s).
        n_mfcc: MFCC coefficients of the alignment features.
        hop_s: hop of the audio features (s).
        core: the central fraction of each phone that is compared (its edges are
            coarticulated with the neighbours).
        location_gate_mm: locations are compared only where the reference's constriction is
            at most this open: the closest point of a wide constriction jumps along the
            tract from frame to frame (a vowel's tongue body against the palate or the
            velum), so only a near-closure has a location worth comparing.
        tolerance_s: the learner's matched frames may shift by up to this (s) to meet the
            reference's (the alignment's accuracy).
    """

    threshold_mm: float = 4.0
    acoustic_threshold: float = 0.6
    lpc_threshold: float = 0.6
    segment_s: float = 0.25
    n_mfcc: int = 13
    hop_s: float = 0.01
    core: float = 0.5
    location_gate_mm: float = 3.0
    tolerance_s: float = 0.025

    def __post_init__(self) -> None:
        for name in ("threshold_mm", "acoustic_threshold", "lpc_threshold", "segment_s", "hop_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0 < self.core <= 1:
            raise ValueError(f"core must be in (0, 1], got {self.core}")


@dataclasses.dataclass(frozen=True)
class PhoneSpan:
    """One reference phone (or time segment) ``[start_s, end_s)`` named ``label``; ``symbol``
    is its inventory phoneme (None for a time segment or an unknown symbol)."""

    start_s: float
    end_s: float
    label: str
    symbol: str | None = None


# ---------------------------------------------------------------------------------- inputs
def check_recordings(
    learner: str | Path, reference: str | Path
) -> tuple[tuple[np.ndarray, int], tuple[np.ndarray, int]]:
    """Read both recordings and refuse what cannot be compared.

    Returns:
        ``((learner_audio, sr), (reference_audio, sr))``, mono float32.

    Raises:
        FileNotFoundError: a missing file (named).
        ValueError: unreadable audio, different sample rates (both named: resampling one of
            them silently would change what the comparison hears), silence, too little speech.
    """
    from mrisynth.io.audio import read_audio

    out = []
    for path in (learner, reference):
        audio, sr = read_audio(path)
        peak = float(np.abs(audio).max())
        if peak <= 10 ** (SILENCE_DBFS / 20):
            db = 20 * math.log10(max(peak, 1e-12))
            raise ValueError(f"{Path(path).name}: the recording is silent (peak {db:.0f} dBFS)")
        start, end = speech_span(audio, sr)
        if end - start < MIN_SPEECH_S:
            raise ValueError(
                f"{Path(path).name}: only {1000 * (end - start):.0f} ms of speech; need at "
                f"least {1000 * MIN_SPEECH_S:.0f} ms"
            )
        out.append((audio, sr))
    (_, lsr), (_, rsr) = out
    if lsr != rsr:
        raise ValueError(
            f"sample rates differ: {Path(learner).name} is {lsr} Hz, {Path(reference).name} is "
            f"{rsr} Hz; resample one (e.g. ffmpeg -i in.wav -ar {rsr} out.wav) so that both "
            "are heard alike"
        )
    return out[0], out[1]


def speech_span(audio: np.ndarray, sr: int, floor_db: float = -35.0) -> tuple[float, float]:
    """``(start_s, end_s)`` of the speech: the first and last 10 ms frame whose RMS lies
    within ``floor_db`` of the loud frames' level (the 95th percentile of the frames' RMS,
    not the loudest: a single release burst can be 30 dB above the vowels)."""
    hop = max(1, int(round(0.01 * sr)))
    x = np.asarray(audio, dtype=np.float64)
    n = len(x) // hop
    if n == 0:
        return 0.0, 0.0
    rms = np.sqrt(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1))
    level = float(np.percentile(rms, 95))
    if level <= 0:
        return 0.0, 0.0
    loud = np.flatnonzero(rms >= level * 10 ** (floor_db / 20))
    return float(loud[0] * hop / sr), float((loud[-1] + 1) * hop / sr)


def _span_of(start: float, end: float, raw: str) -> PhoneSpan:
    from mrisynth.phantom.inventory import SILENCE, canonical

    try:
        symbol: str | None = canonical(raw)
    except KeyError:
        symbol = SILENCE if raw.lower() in ("sil", "pau", "sp", "") else None
    return PhoneSpan(float(start), float(end), raw, symbol)


def read_phone_spans(path: str | Path) -> list[PhoneSpan]:
    """Reference phones from a file: an HTS ``.lab`` (ARPAbet, 100 ns units), a phones CSV
    (``start_s,end_s,phone``) or plain lines ``start end phone`` (seconds).

    Raises:
        FileNotFoundError: missing file. ValueError: a bad line (file and line named), no
        phones, or times that do not increase.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"phones file not found: {path}")
    if path.suffix.lower() == ".lab":
        from mrisynth.phantom.text import read_hts_labels

        spans = [_span_of(s.start_s, s.end_s, s.symbol) for s in read_hts_labels(path)]
    else:
        text = path.read_text(encoding="utf-8")
        first = text.lstrip().split("\n", 1)[0]
        if "," in first and "start" in first:
            from mrisynth.evaluation.phones import read_phones

            spans = [_span_of(a, b, p) for a, b, p in read_phones(path)]
        else:
            spans = []
            for n, line in enumerate(text.splitlines(), 1):
                parts = line.replace(",", " ").split()
                if not parts or parts[0].startswith("#"):
                    continue
                try:
                    spans.append(_span_of(float(parts[0]), float(parts[1]), " ".join(parts[2:])))
                except (ValueError, IndexError):
                    raise ValueError(
                        f"{path.name}: line {n} is not 'start end phone' (seconds): {line!r}"
                    ) from None
    if not spans:
        raise ValueError(f"{path.name}: no phones")
    for s in spans:
        if not s.end_s > s.start_s >= 0:
            raise ValueError(f"{path.name}: phone {s.label!r} has times {s.start_s}..{s.end_s}")
    return spans


def phones_from_text(text: str, language: str, audio: np.ndarray, sr: int) -> list[PhoneSpan]:
    """Phones of ``text`` (the phantom's espeak-ng g2p) spread over the recording's speech
    (:func:`speech_span`) in proportion to their default durations: an even alignment, good to
    a phone or so, no better."""
    from mrisynth.phantom.inventory import SILENCE
    from mrisynth.phantom.text import default_duration_s, text_to_phonemes

    symbols = text_to_phonemes(text, language)
    if not symbols:
        raise ValueError(f"--text {text!r}: no phonemes")
    start, end = speech_span(audio, sr)
    d = np.array([default_duration_s(s) for s in symbols])
    edges = start + np.concatenate([[0.0], np.cumsum(d)]) / d.sum() * (end - start)
    spans = [PhoneSpan(0.0, start, SILENCE, SILENCE)] if start > 0 else []
    spans += [PhoneSpan(float(a), float(b), s, s) for s, a, b in zip(symbols, edges, edges[1:])]
    return spans


def time_segments(duration_s: float, segment_s: float) -> list[PhoneSpan]:
    """Fixed segments of ``segment_s`` named by their times, e.g. ``0.25–0.50 s``."""
    n = max(1, int(math.ceil(duration_s / segment_s - 1e-9)))
    edges = [min(duration_s, i * segment_s) for i in range(n + 1)]
    return [PhoneSpan(a, b, f"{a:.2f}–{b:.2f} s") for a, b in zip(edges, edges[1:]) if b > a]


# ---------------------------------------------------------------------------------- alignment
def audio_features(audio: np.ndarray, sr: int, cfg: CompareConfig) -> np.ndarray:
    """``(n, n_mfcc)`` MFCCs every ``hop_s`` (frame ``i`` centred at ``i · hop_s``), each
    coefficient normalised to zero mean and unit variance over the speech of the recording
    (speakers differ in level and timbre; what is compared is how the sound changes)."""
    import librosa

    hop = max(1, int(round(cfg.hop_s * sr)))
    mfcc = librosa.feature.mfcc(
        y=np.asarray(audio, np.float32), sr=sr, n_mfcc=cfg.n_mfcc, hop_length=hop, n_fft=512
    ).T
    start, end = speech_span(audio, sr)
    i0, i1 = int(start / cfg.hop_s), max(int(start / cfg.hop_s) + 2, int(end / cfg.hop_s))
    speech = mfcc[i0:i1]
    return (mfcc - speech.mean(0)) / (speech.std(0) + 1e-6)


@dataclasses.dataclass(frozen=True)
class Alignment:
    """A DTW path between the reference's and the learner's feature frames.

    Attributes:
        path: ``(P, 2)`` pairs ``(reference index, learner index)``, increasing.
        hop_s: seconds per feature frame.
    """

    path: np.ndarray
    hop_s: float

    def learner_time(self, t_ref: np.ndarray | float) -> np.ndarray:
        """The learner's time (s) matched to reference times ``t_ref`` (mean of the learner
        frames the path pairs with the nearest reference frame)."""
        ref, lrn = self.path[:, 0], self.path[:, 1]
        n = int(ref.max()) + 1
        mean_l = np.bincount(ref, weights=lrn, minlength=n) / np.maximum(
            np.bincount(ref, minlength=n), 1
        )
        i = np.clip(np.rint(np.asarray(t_ref, float) / self.hop_s).astype(int), 0, n - 1)
        return mean_l[i] * self.hop_s

    def pairs_in(self, start_s: float, end_s: float) -> np.ndarray:
        """The path's pairs whose reference frame lies in ``[start_s, end_s)``."""
        t = self.path[:, 0] * self.hop_s
        sel = (t >= start_s) & (t < end_s)
        if not sel.any():  # a phone shorter than a hop: the pair nearest its centre
            sel = np.abs(t - (start_s + end_s) / 2) == np.abs(t - (start_s + end_s) / 2).min()
        return self.path[sel]


def align(reference: np.ndarray, learner: np.ndarray, hop_s: float) -> Alignment:
    """DTW of ``(n_ref, d)`` and ``(n_learner, d)`` features (Euclidean), whole sequences."""
    import librosa

    _, wp = librosa.sequence.dtw(X=reference.T, Y=learner.T, metric="euclidean")
    return Alignment(np.ascontiguousarray(wp[::-1]).astype(np.int64), hop_s)


# ---------------------------------------------------------------------------------- places
def relevant_places(symbol: str | None) -> tuple[str, ...]:
    """The places whose constriction a phone is made with (all five for a time segment or
    an unknown symbol, none for silence)."""
    from mrisynth.phantom.inventory import phoneme

    if symbol is None:
        return CONSTRICTION_PLACES
    try:
        p = phoneme(symbol)
    except KeyError:
        return CONSTRICTION_PLACES
    if p.kind == "silence":
        return ()
    if p.kind == "vowel":
        return ("lips", "tongue_body", "pharynx")
    by_place = {
        "bilabial": ("lips",),
        "labiodental": ("lips",),
        "dental": ("tongue_tip",),
        "alveolar": ("tongue_tip",),
        "postalveolar": ("tongue_tip", "tongue_body"),
        "retroflex": ("tongue_tip",),
        "palatal": ("tongue_body",),
        "velar": ("tongue_body",),
        "glottal": (),
    }
    places = by_place.get(p.place or "", CONSTRICTION_PLACES)
    if p.manner == "nasal":
        places = (*places, "velum")
    if p.rounded and "lips" not in places:
        places = (*places, "lips")
    return places


def match_spectrum(
    audio: np.ndarray,
    target: np.ndarray,
    sr: int,
    *,
    n_fft: int = 1024,
    smooth_hz: float = 250.0,
    max_gain_db: float = 20.0,
    floor_db: float = -35.0,
) -> np.ndarray:
    """``audio`` filtered so that its long-term average spectrum over speech matches
    ``target``'s: the two voices' level, spectral tilt and average resonances are equalised
    before synthesis, so that what remains between two speakers is articulation, not voice.

    ``mrisynth compare`` does not use it: in the validation (``experiments/compare/validate.py
    --equalise``) it did not make the synthesized-rtMRI flags better (README, "Compare a
    learner with a reference"); the voices differ in more than an average spectrum.

    Args:
        audio, target: ``(N,)`` / ``(M,)`` mono samples at ``sr``.
        n_fft: STFT size; the gain curve has ``n_fft // 2 + 1`` bins.
        smooth_hz: Gaussian smoothing of the gain curve across frequency (a formant is a few
            hundred Hz wide: finer detail would be harmonics of one voice's pitch).
        max_gain_db: the gain is clipped to ± this.
        floor_db: frames quieter than this below the loudest frame are not speech and do not
            enter the average.

    Returns:
        ``(N,)`` float32: the filtered ``audio``.
    """
    import librosa
    from scipy.ndimage import gaussian_filter1d

    def ltas(x: np.ndarray) -> np.ndarray:
        power = np.abs(librosa.stft(np.asarray(x, np.float32), n_fft=n_fft)) ** 2
        energy = 10 * np.log10(power.sum(0) + 1e-12)
        speech = energy >= energy.max() + floor_db
        return power[:, speech].mean(1) + 1e-10

    gain_db = 10 * np.log10(ltas(target) / ltas(audio))
    gain_db = gaussian_filter1d(gain_db, smooth_hz / (sr / n_fft), mode="nearest")
    gain = 10 ** (np.clip(gain_db, -max_gain_db, max_gain_db) / 20)
    spec = librosa.stft(np.asarray(audio, np.float32), n_fft=n_fft)
    out = librosa.istft(spec * gain[:, None], n_fft=n_fft, length=len(audio))
    return out.astype(np.float32)


# ---------------------------------------------------------------------------------- articulation
def despeckle(labels: np.ndarray, min_px: int = 6) -> np.ndarray:
    """Label maps without the segmenter's speckles: connected pieces of an articulator
    smaller than ``min_px`` pixels become airway.

    A stray lip pixel across the frame would otherwise be read as the second lip and open
    the lips by tens of millimetres (constrictions are measured between components).

    Args:
        labels: ``(T, H, W)`` label ids.

    Returns:
        ``(T, H, W)``, a cleaned copy.
    """
    from scipy import ndimage

    from mrisynth.phantom.labels import LABELS

    out = np.array(labels, copy=True)
    ids = [LABELS[k] for k in ("tongue", "lips", "velum")]
    for t in range(len(out)):
        for k in ids:
            comp, n = ndimage.label(out[t] == k)
            if n == 0:
                continue
            sizes = ndimage.sum(np.ones_like(comp), comp, index=np.arange(1, n + 1))
            small = np.flatnonzero(sizes < min_px) + 1
            if small.size:
                out[t][np.isin(comp, small)] = LABELS["airway"]
    return out


@dataclasses.dataclass
class Articulation:
    """One recording's synthesized articulation.

    Attributes:
        frames: ``(T, S, S)`` float32 synthesized ROI frames in [0, 1].
        labels: ``(T, S, S)`` uint8 articulator labels of the frames.
        measures: :func:`~mrisynth.metrics.constriction.measure_constrictions` of the labels.
        fps: frame rate; ``spacing_mm``: the ROI's pixel spacing.
        audio: mono samples at ``sample_rate`` (the recording's own rate).
    """

    frames: np.ndarray
    labels: np.ndarray
    measures: dict[str, np.ndarray]
    fps: float
    spacing_mm: tuple[float, float]
    audio: np.ndarray
    sample_rate: int


def articulate(
    audio: np.ndarray,
    sr: int,
    frame: Any,
    model: Any,
    segmenter: Any,
    *,
    progress: bool = True,
    name: str = "audio",
    batch_size: int = 64,
    device: str = "cpu",
) -> Articulation:
    """Synthesize ``audio``'s rtMRI with ``model`` and the one reference ``frame`` (a
    one-frame :class:`~mrisynth.data.SpeechMRISequence`), segment it and measure it.

    The model's ROI is kept (not pasted back): the segmenter was trained on that field of
    view, and the constrictions are measured on it.
    """
    from mrisynth.metrics.constriction import measure_constrictions
    from mrisynth.models.segmenter import segment
    from mrisynth.synthesis import synthesize

    stream = synthesize(
        audio, sr, frame, model, roi_only=True, progress=progress, audio_name=name,
        batch_size=batch_size, device=device,
    )  # fmt: skip
    lo, hi = stream.reference.intensity
    frames = np.concatenate(list(stream), axis=0)
    unit = np.clip((frames - lo) / max(hi - lo, 1e-12), 0.0, 1.0).astype(np.float32)
    labels = despeckle(segment(segmenter, unit))
    return Articulation(
        frames=unit,
        labels=labels,
        measures=measure_constrictions(labels, stream.spacing_mm, contact_centre=True),
        fps=stream.fps,
        spacing_mm=stream.spacing_mm,
        audio=np.asarray(audio, np.float32),
        sample_rate=sr,
    )


# ---------------------------------------------------------------------------------- comparison
@dataclasses.dataclass
class PhoneResult:
    """The comparison of one reference phone.

    Attributes:
        span: the phone; ``learner_s``: its matched time span in the learner's recording.
        places: per compared place: reference and learner degree (mm), their difference,
            and the location difference ``(dx, dy)`` and its length (mm; NaN when not
            compared).
        score_mm: the largest difference over the phone's places (mm); ``flagged``: above
            the threshold; ``notes``: plain-language notes for what is off.
        acoustic: mean MFCC distance along the path; ``acoustic_flag``: above its threshold.
        lpc: RMS log-area difference along the path; ``lpc_flag``: above its threshold.
    """

    span: PhoneSpan
    learner_s: tuple[float, float]
    places: dict[str, dict[str, float]]
    score_mm: float
    flagged: bool
    notes: list[str]
    acoustic: float
    acoustic_flag: bool
    lpc: float
    lpc_flag: bool

    def row(self) -> dict[str, Any]:
        """A flat JSON-able row."""
        out: dict[str, Any] = {
            "phone": self.span.label,
            "symbol": self.span.symbol,
            "start_s": round(self.span.start_s, 4),
            "end_s": round(self.span.end_s, 4),
            "learner_start_s": round(self.learner_s[0], 4),
            "learner_end_s": round(self.learner_s[1], 4),
            "score_mm": _num(self.score_mm),
            "flagged": self.flagged,
            "notes": self.notes,
            "acoustic": _num(self.acoustic),
            "acoustic_flag": self.acoustic_flag,
            "lpc": _num(self.lpc),
            "lpc_flag": self.lpc_flag,
        }
        out["places"] = {p: {k: _num(v) for k, v in d.items()} for p, d in self.places.items()}
        return out


def _num(v: float) -> float | None:
    return round(float(v), 3) if np.isfinite(v) else None


@dataclasses.dataclass
class Comparison:
    """Everything :func:`compare_articulations` found.

    Attributes:
        phones: one :class:`PhoneResult` per non-silent reference phone.
        alignment: the DTW path (reference, learner).
        learner_frame: ``(T_ref,)`` the learner's video frame matched to each reference frame.
        lpc_learner, lpc_reference: ``(n, sections)`` LPC log areas every ``hop_s``.
        named_by: ``"phones"`` or ``"time"`` (no phones given).
        config: the :class:`CompareConfig` used.
    """

    phones: list[PhoneResult]
    alignment: Alignment
    learner_frame: np.ndarray
    lpc_learner: np.ndarray
    lpc_reference: np.ndarray
    named_by: str
    config: CompareConfig

    @property
    def flagged(self) -> list[PhoneResult]:
        return [p for p in self.phones if p.flagged]


def _mean(a: np.ndarray) -> float:
    a = np.asarray(a, float)
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else float("nan")


def _place_row(
    reference: Articulation,
    learner: Articulation,
    place: str,
    core: np.ndarray,
    kl: np.ndarray,
    gate_mm: float,
) -> dict[str, float]:
    deg_r = _mean(reference.measures[f"{place}_degree_mm"][core])
    deg_l = _mean(learner.measures[f"{place}_degree_mm"][kl])
    loc_r = reference.measures[f"{place}_location_mm"][core]
    loc_l = learner.measures[f"{place}_location_mm"][kl]
    dxy = np.array([_mean(loc_l[:, i] - loc_r[:, i]) for i in range(2)])
    if not (np.isfinite(deg_r) and deg_r <= gate_mm):
        dxy[:] = np.nan
    return {
        "reference_degree_mm": deg_r,
        "learner_degree_mm": deg_l,
        "degree_diff_mm": deg_l - deg_r,
        "dx_mm": float(dxy[0]),
        "dy_mm": float(dxy[1]),
        "location_mm": float(np.hypot(*dxy)),
    }


def _row_score(row: dict[str, float]) -> float:
    v = [abs(row["degree_diff_mm"]), row["location_mm"]]
    v = [x for x in v if np.isfinite(x)]
    return max(v) if v else float("nan")


def _place_difference(
    reference: Articulation,
    learner: Articulation,
    place: str,
    core: np.ndarray,
    kl: np.ndarray,
    cfg: CompareConfig,
) -> dict[str, float]:
    """The learner's difference at ``place`` over the reference frames ``core`` and their
    matched learner frames ``kl``, at the shift of the learner's frames within
    ``±tolerance_s`` that differs least: the alignment is good to about a frame, and in a fast
    transition one frame moves an articulator by millimetres. A substitution changes the
    whole phone, so no shift hides it."""
    n = len(learner.labels)
    k = int(round(cfg.tolerance_s * learner.fps))
    best: dict[str, float] | None = None
    for shift in sorted(range(-k, k + 1), key=abs):
        row = _place_row(
            reference, learner, place, core, np.clip(kl + shift, 0, n - 1), cfg.location_gate_mm
        )
        if best is None or (
            np.isfinite(_row_score(row))
            and not (_row_score(row) >= _row_score(best))  # NaN-safe "smaller"
        ):
            best = row
    assert best is not None
    return best


def _notes(label: str, place: str, d: dict[str, float], thr: float, rounded: bool) -> list:
    name = PLACE_NAMES[place]
    out = []
    dx, dy, dist = d["dx_mm"], d["dy_mm"], d["location_mm"]
    if np.isfinite(dist) and dist > thr:
        # each direction beyond the threshold gets its own words; else the larger one
        show_x, show_y = abs(dx) > thr, abs(dy) > thr
        if not (show_x or show_y):
            show_x, show_y = abs(dx) >= abs(dy), abs(dx) < abs(dy)
        if show_x:
            way, rel = ("too far back", "behind") if dx > 0 else ("too far forward", "in front of")
            out.append(f"{name} {way} for {label} ({abs(dx):.1f} mm {rel} the reference's)")
        if show_y:
            way, rel = ("too low", "below") if dy > 0 else ("too high", "above")
            out.append(f"{name} {way} for {label} ({abs(dy):.1f} mm {rel} the reference's)")
    diff = d["degree_diff_mm"]
    if np.isfinite(diff) and abs(diff) > thr:
        if diff > 0:
            extra = " (lip rounding missing?)" if place == "lips" and rounded else ""
            out.append(
                f"{name} too open for {label} ({diff:.1f} mm wider than the "
                f"reference's constriction){extra}"
            )
        else:
            out.append(
                f"{name} too closed for {label} ({-diff:.1f} mm narrower than the "
                "reference's constriction)"
            )
    return out


def compare_articulations(
    learner: Articulation,
    reference: Articulation,
    spans: Sequence[PhoneSpan] | None,
    cfg: CompareConfig | None = None,
) -> Comparison:
    """Compare ``learner`` with ``reference`` phone by phone (module docstring).

    Args:
        learner, reference: the two recordings' articulation (same frame rate and spacing:
            the same model made both).
        spans: the reference's phones; None names fixed time segments instead.
        cfg: thresholds and features.

    Returns:
        A :class:`Comparison`.
    """
    from mrisynth.metrics.lpc_area import lpc_area_track
    from mrisynth.phantom.inventory import SILENCE, phoneme

    cfg = cfg or CompareConfig()
    if learner.sample_rate != reference.sample_rate:
        raise ValueError(
            f"sample rates differ ({learner.sample_rate} vs {reference.sample_rate} Hz)"
        )
    sr = reference.sample_rate
    f_ref = audio_features(reference.audio, sr, cfg)
    f_lrn = audio_features(learner.audio, sr, cfg)
    alignment = align(f_ref, f_lrn, cfg.hop_s)
    fps = reference.fps
    n_ref, n_lrn = len(reference.labels), len(learner.labels)
    t_ref = (np.arange(n_ref) + 0.5) / fps
    learner_frame = np.clip(
        np.floor(alignment.learner_time(t_ref) * learner.fps).astype(int), 0, n_lrn - 1
    )
    lpc_r = lpc_area_track(reference.audio, sr, hop_s=cfg.hop_s)
    lpc_l = lpc_area_track(learner.audio, sr, hop_s=cfg.hop_s)
    named_by = "phones"
    if spans is None:
        spans = time_segments(n_ref / fps, cfg.segment_s)
        named_by = "time"
    results = []
    for span in spans:
        if span.symbol == SILENCE:
            continue
        places = relevant_places(span.symbol)
        pad = (1 - cfg.core) / 2 * (span.end_s - span.start_s)
        core = np.flatnonzero((t_ref >= span.start_s + pad) & (t_ref < span.end_s - pad))
        if core.size == 0:
            centre = (span.start_s + span.end_s) / 2
            core = np.array([min(n_ref - 1, max(0, int(centre * fps)))])
        rows = {
            place: _place_difference(reference, learner, place, core, learner_frame[core], cfg)
            for place in places
        }
        diffs = [abs(r["degree_diff_mm"]) for r in rows.values()]
        diffs += [r["location_mm"] for r in rows.values()]
        finite = [v for v in diffs if np.isfinite(v)]
        score = max(finite) if finite else float("nan")
        rounded = False
        if span.symbol is not None:
            try:
                rounded = phoneme(span.symbol).rounded
            except KeyError:
                pass
        notes = []
        for place, r in rows.items():
            notes += _notes(span.label, place, r, cfg.threshold_mm, rounded)
        pairs = alignment.pairs_in(span.start_s, span.end_s)
        pr = np.clip(pairs[:, 0], 0, len(f_ref) - 1)
        pl = np.clip(pairs[:, 1], 0, len(f_lrn) - 1)
        acoustic = float(
            np.mean(np.linalg.norm(f_ref[pr] - f_lrn[pl], axis=1)) / math.sqrt(cfg.n_mfcc)
        )
        ar = lpc_r[np.clip(pairs[:, 0], 0, len(lpc_r) - 1)]
        al = lpc_l[np.clip(pairs[:, 1], 0, len(lpc_l) - 1)]
        lpc = _mean(np.sqrt(np.mean((ar - al) ** 2, axis=1)))
        results.append(
            PhoneResult(
                span=span,
                learner_s=tuple(float(v) for v in alignment.learner_time(
                    np.array([span.start_s, max(span.start_s, span.end_s - cfg.hop_s)])
                )),  # type: ignore[arg-type]
                places=rows,
                score_mm=score,
                flagged=bool(np.isfinite(score) and score > cfg.threshold_mm),
                notes=notes,
                acoustic=acoustic,
                acoustic_flag=bool(acoustic > cfg.acoustic_threshold),
                lpc=lpc,
                lpc_flag=bool(np.isfinite(lpc) and lpc > cfg.lpc_threshold),
            )
        )  # fmt: skip
    return Comparison(results, alignment, learner_frame, lpc_l, lpc_r, named_by, cfg)


def substitute(index: int, symbol: str) -> Callable[[list[Any]], list[Any]]:
    """A phantom ``edit`` (:func:`mrisynth.phantom.corpus.synthesize_utterance`) replacing
    the phone at ``index`` by ``symbol``: how validation makes a learner's utterance."""

    def edit(segments: list[Any]) -> list[Any]:
        segments[index] = dataclasses.replace(segments[index], symbol=symbol)
        return segments

    return edit
