"""Text and phoneme front end of the speech-production phantom.

Three ways to get timed phones (:class:`~mrisynth.phantom.inventory.PhoneSegment`, seconds):

* **Text** via espeak-ng (:func:`text_to_segments`). The library comes from the PyPI package
  ``espeakng-loader`` and is driven through ctypes: its phoneme events give each phone's start
  (ms of synthesised audio) and IPA spelling. :func:`normalize_espeak_phone` maps that spelling
  to inventory symbols (stress marks, ties, ``r.`` mnemonics, unmarked dentals ...).
* **Phonemes** typed by hand (:func:`parse_phonemes`) with a per-class duration model; needs no
  espeak-ng.
* **Labels**: HTS full-context or mono label files with ARPAbet phones (:func:`read_hts_labels`).

Built-in sentences (:func:`load_sentences`) ship as JSON with phonemes and espeak-ng durations,
so corpus generation never needs espeak-ng at run time. Rebuild them with
``python -m mrisynth.phantom.text`` (calls :func:`build_sentence_file` for every language).

Speaking ``rate`` is a tempo factor everywhere: durations are divided by it (2.0 = twice as
fast).
"""

from __future__ import annotations

import ctypes
import dataclasses
import importlib.resources
import json
import logging
import re
import threading
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mrisynth.phantom.inventory import ALIASES, PHONEMES, SILENCE, PhoneSegment, phoneme

logger = logging.getLogger(__name__)

__all__ = [
    "ARPABET_TO_IPA",
    "G2PUnavailableError",
    "LANGUAGES",
    "Sentence",
    "UnknownPhonemeError",
    "build_sentence_file",
    "default_duration_s",
    "load_sentences",
    "normalize_espeak_phone",
    "parse_phonemes",
    "read_hts_labels",
    "sentence_segments",
    "text_to_phonemes",
    "text_to_segments",
    "tokenize_phonemes",
]

#: Supported language codes → espeak-ng voice names.
LANGUAGES: dict[str, str] = {
    "en": "en-us",
    "te": "te",
    "ta": "ta",
    "kn": "kn",
    "ml": "ml",
    "hi": "hi",
}
_INDIAN = frozenset({"te", "ta", "kn", "ml", "hi"})

_INSTALL_HINT = (
    "install it with `pip install espeakng-loader` (it bundles libespeak-ng and its data). "
    "Phoneme input (parse_phonemes, load_sentences/sentence_segments, read_hts_labels) "
    "works without it."
)


class G2PUnavailableError(RuntimeError):
    """espeak-ng (via ``espeakng-loader``) cannot be loaded, so text cannot become phonemes."""


class UnknownPhonemeError(ValueError):
    """A phone symbol has no entry (or alias) in the inventory."""


# ---------------------------------------------------------------------------------------------
# Symbol handling
# ---------------------------------------------------------------------------------------------

# Longest spellings first so that "t̪ʰ" wins over "t̪" and "t".
_SPELLINGS: dict[str, str] = {
    unicodedata.normalize("NFC", k): v for k, v in {**{s: s for s in PHONEMES}, **ALIASES}.items()
}
_MAX_LEN = max(len(s) for s in _SPELLINGS)

# espeak-ng prints retroflexes it has no IPA for as the raw mnemonic (notes §5); ``r.`` is
# Hindi ड़/ढ़ (a flap) but Malayalam ഴ (the approximant).
_MNEMONICS = {"t.": "ʈ", "d.": "ɖ", "n.": "ɳ", "l.": "ɭ", "s.": "ʂ", "z.": "ʐ", "r.": "ɻ"}
_MNEMONICS_BY_LANG = {"hi": {"r.": "ɽ"}}

# Indian coronal stops and nasals are dental; espeak-ng leaves them unmarked. Its rhotic ``ɹ``
# in the Dravidian voices (Tamil ர, Kannada ರ) is an alveolar tap in those languages.
_INDIAN_MAP = {"t": "t̪", "d": "d̪", "n": "n̪", "tʰ": "t̪ʰ", "dʰ": "d̪ʰ", "ɹ": "ɾ"}

# Marks that carry no segment: stress, syllable break, tie bars, nasalisation (nasal vowels
# become oral: the phantom's velum follows nasal consonants only), extra-short, half-long.
_DROP = dict.fromkeys(map(ord, "ˈˌ.‿͜͡ ̃̆ˑ'-"), None)


def tokenize_phonemes(text: str, *, extra: dict[str, str] | None = None) -> list[str]:
    """Split a string of IPA into canonical inventory symbols (greedy longest match).

    Whitespace separates nothing special: ``"t̪ a m"`` and ``"t̪am"`` give the same result.
    A length mark after a consonant is dropped (geminate length lives in the timing); after a
    vowel with no long form in the inventory it is dropped too.

    Args:
        text: IPA string, aliases allowed (``ɡ``, ``t͡ʃ``, ``bʱ``).
        extra: additional spellings → canonical symbols, taking precedence (language rules).

    Returns:
        Canonical symbols, in order.

    Raises:
        UnknownPhonemeError: naming the first unknown symbol and its position.
    """
    text = unicodedata.normalize("NFC", text)
    spellings = {**_SPELLINGS, **(extra or {})}
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        for n in range(min(_MAX_LEN, len(text) - i), 0, -1):
            if text[i : i + n] in spellings:
                out.append(spellings[text[i : i + n]])
                i += n
                break
        else:
            if text[i] == "ː" and out and out[-1] != SILENCE:
                i += 1  # geminate consonant or a vowel without a long entry
                continue
            raise UnknownPhonemeError(
                f"symbol {text[i]!r} (U+{ord(text[i]):04X}) at position {i} of {text!r} is not "
                "in the mrisynth inventory (mrisynth.phantom.inventory.PHONEMES/ALIASES)"
            )
    return out


def normalize_espeak_phone(token: str, language: str) -> list[str]:
    """Map one espeak-ng IPA phoneme name to inventory symbols.

    Handles stress/syllable marks, tie bars, ``ʱ``, nasalised vowels (made oral), raw
    retroflex mnemonics (``r.`` → ``ɽ`` in Hindi, ``ɻ`` elsewhere), a standalone palatal glide
    ``ʲ`` (→ ``j``), multi-symbol names (``ɑːɹ`` → ``ɑː ɹ``, ``eɪ`` → ``e ɪ``) and, for Indian
    languages, unmarked dentals (``t`` → ``t̪``, ``n`` → ``n̪``) and ``ɹ`` → ``ɾ``. English keeps
    alveolar ``t d n``. Known limits of espeak-ng output: Malayalam/Tamil alveolar ``n`` and
    dental ``n̪`` both come out as ``n`` (→ ``n̪``); Malayalam alveolar ``റ്റ`` comes out as ``ʈ``.

    Args:
        token: one phoneme name from an espeak-ng phoneme event; ``""`` is a pause.
        language: one of :data:`LANGUAGES`.

    Returns:
        One or more canonical symbols (``["_"]`` for a pause).

    Raises:
        UnknownPhonemeError: naming the token, the symbol and the language.
    """
    _check_language(language)
    if token.strip() == "":
        return [SILENCE]
    text = unicodedata.normalize("NFD", token)
    mnemonics = {**_MNEMONICS, **_MNEMONICS_BY_LANG.get(language, {})}
    for raw, ipa in mnemonics.items():
        text = text.replace(raw, ipa)
    # A lone palatalisation mark is espeak-ng's onset glide (Tamil/Malayalam initial e → je).
    text = "j" if text == "ʲ" else text.replace("ʲ", "")
    text = unicodedata.normalize("NFC", text.translate(_DROP))
    try:
        symbols = tokenize_phonemes(text, extra=_INDIAN_MAP if language in _INDIAN else None)
    except UnknownPhonemeError as err:
        raise UnknownPhonemeError(
            f"espeak-ng phone {token!r} for language {language!r}: {err}"
        ) from None
    return symbols


_VOWEL_S = 0.11
_REDUCED_VOWELS = frozenset({"ə", "ɐ", "ɨ", "ʉ", "ɪ", "ʊ", "ɚ"})
_MANNER_S = {
    "stop": 0.075,  # closure + burst
    "nasal": 0.07,
    "fricative": 0.10,
    "affricate": 0.10,
    "approximant": 0.06,
    "lateral": 0.065,
    "trill": 0.06,
    "tap": 0.035,
}
_PAUSE_S = 0.15


def default_duration_s(symbol: str) -> float:
    """Default duration of one phone at rate 1, in seconds.

    Vowels 110 ms (reduced ``ə ɐ ɪ ʊ ɨ ʉ ɚ`` 80 ms; long ×1.6), stops 75 ms including closure
    (+15 ms aspirated), fricatives/affricates 100 ms (``h ɦ`` 70 ms), nasals 70 ms, laterals
    65 ms, approximants 60 ms, trills 60 ms, taps 35 ms, pauses ``_`` 150 ms.
    """
    p = phoneme(symbol)
    if p.kind == "silence":
        return _PAUSE_S
    if p.kind == "vowel":
        base = 0.08 if p.symbol in _REDUCED_VOWELS else _VOWEL_S
        return base * (1.6 if p.long else 1.0)
    if p.place == "glottal" and p.manner == "fricative":
        return 0.07
    return _MANNER_S[p.manner] + (0.015 if p.aspirated else 0.0)


# ---------------------------------------------------------------------------------------------
# Durations → segments
# ---------------------------------------------------------------------------------------------


def _segments(
    symbols: Sequence[str],
    durations_s: Sequence[float],
    *,
    rate: float,
    rng: np.random.Generator | None,
    jitter: float,
    pad_s: float,
    min_s: float = 0.015,
) -> list[PhoneSegment]:
    """Scale by ``1/rate``, jitter (log-normal, sd ``jitter``), pad with silence, accumulate."""
    if not rate > 0:
        raise ValueError(f"rate must be > 0 (tempo factor), got {rate}")
    if jitter < 0 or pad_s < 0:
        raise ValueError(f"jitter and pad_s must be >= 0, got jitter={jitter}, pad_s={pad_s}")
    d = np.asarray(durations_s, dtype=float) / rate
    if rng is not None and jitter > 0 and len(d):
        d = d * np.exp(rng.normal(0.0, jitter, size=len(d)))
    d = np.maximum(d, min_s)
    symbols = list(symbols)
    if pad_s > 0 and symbols:
        if symbols[0] != SILENCE:
            symbols.insert(0, SILENCE)
            d = np.concatenate([[pad_s], d])
        if symbols[-1] != SILENCE:
            symbols.append(SILENCE)
            d = np.concatenate([d, [pad_s]])
    edges = np.concatenate([[0.0], np.cumsum(d)])
    return [PhoneSegment(s, float(a), float(b)) for s, a, b in zip(symbols, edges[:-1], edges[1:])]


def parse_phonemes(
    phonemes: str | Sequence[str],
    durations: Sequence[float] | None = None,
    *,
    rate: float = 1.0,
    rng: np.random.Generator | None = None,
    jitter: float = 0.1,
    pad_s: float = 0.2,
) -> list[PhoneSegment]:
    """Timed phones from typed phonemes, without espeak-ng.

    Args:
        phonemes: IPA string (``"t̪ a m i ɻ"``; split by :func:`tokenize_phonemes`) or a list of
            symbols (aliases allowed; each item must be one inventory symbol).
        durations: per-phone durations in **seconds** (one per symbol after tokenising), or
            None for :func:`default_duration_s`.
        rate: tempo factor; durations are divided by it.
        rng: seeded generator for duration jitter; None = no jitter (deterministic).
        jitter: standard deviation of the log-duration jitter (0.1 ≈ ±10 %).
        pad_s: leading/trailing silence ``_`` added unless the input already starts/ends with
            ``_``; 0 disables.

    Returns:
        Contiguous segments from 0 s.

    Raises:
        UnknownPhonemeError: an unknown symbol (named).
        ValueError: durations length mismatch, non-positive or implausibly long (> 5 s)
            durations, non-positive rate.
    """
    if isinstance(phonemes, str):
        symbols = tokenize_phonemes(phonemes)
    else:
        symbols = []
        for s in phonemes:
            try:
                symbols.append(phoneme(s).symbol)
            except KeyError:
                raise UnknownPhonemeError(
                    f"phoneme {s!r} is not in the mrisynth inventory (PHONEMES/ALIASES)"
                ) from None
    if not symbols:
        raise ValueError("parse_phonemes: no phonemes given")
    if durations is None:
        durs = [default_duration_s(s) for s in symbols]
    else:
        durs = [float(x) for x in durations]
        if len(durs) != len(symbols):
            raise ValueError(
                f"parse_phonemes: {len(durs)} durations for {len(symbols)} phonemes {symbols}"
            )
        bad = [x for x in durs if not 0 < x <= 5.0]
        if bad:
            raise ValueError(
                f"parse_phonemes: durations must be in (0, 5] seconds, got {bad[:3]} "
                "(milliseconds given by mistake?)"
            )
    return _segments(symbols, durs, rate=rate, rng=rng, jitter=jitter, pad_s=pad_s)


# ---------------------------------------------------------------------------------------------
# espeak-ng through ctypes
# ---------------------------------------------------------------------------------------------

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_PHONEME_IPA = 0x0002
_INIT_DONT_EXIT = 0x8000
_EVENT_LIST_TERMINATED, _EVENT_END, _EVENT_MSG_TERMINATED, _EVENT_PHONEME = 0, 5, 6, 7
_POS_CHARACTER, _CHARS_UTF8 = 1, 1


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """``espeak_EVENT`` from ``speak_lib.h``; ``audio_position`` is in ms."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


def _espeak_paths() -> tuple[str, str]:
    """(library, data folder) from ``espeakng-loader``."""
    import espeakng_loader

    return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()


class _Espeak:
    """One initialised libespeak-ng (process-global state, so calls are serialised)."""

    def __init__(self) -> None:
        try:
            lib_path, data_path = _espeak_paths()
        except Exception as err:  # ImportError, missing data folder
            raise G2PUnavailableError(
                f"espeak-ng is not available ({err}); {_INSTALL_HINT}"
            ) from err
        try:
            lib = ctypes.CDLL(lib_path)
        except OSError as err:
            raise G2PUnavailableError(
                f"cannot load libespeak-ng from {lib_path!r} ({err}); {_INSTALL_HINT}"
            ) from err
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Info.restype = ctypes.c_char_p
        options = _INIT_PHONEME_EVENTS | _INIT_PHONEME_IPA | _INIT_DONT_EXIT
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), options)
        if rate <= 0:
            raise G2PUnavailableError(
                f"libespeak-ng failed to initialise with data {data_path!r}; {_INSTALL_HINT}"
            )
        self.version = lib.espeak_Info(None).decode()
        self._lib = lib
        self._lock = threading.Lock()
        self._events: list[tuple[int, int, str]] = []
        self._callback = _SynthCallback(self._on_synth)  # keep a reference: C holds the pointer
        lib.espeak_SetSynthCallback(self._callback)

    def _on_synth(self, wav, n_samples, events) -> int:
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            name = ev.id.string.decode("utf-8", "replace") if ev.type == _EVENT_PHONEME else ""
            self._events.append((ev.type, ev.audio_position, name))
            i += 1
        return 0

    def phone_events(self, text: str, voice: str) -> list[tuple[str, float]]:
        """[(IPA name, start ms), ...] ending with ("", end ms)."""
        data = text.encode("utf-8") + b"\0"
        with self._lock:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise G2PUnavailableError(f"espeak-ng has no voice {voice!r}; {_INSTALL_HINT}")
            self._events = []
            err = self._lib.espeak_Synth(
                data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            self._lib.espeak_Synchronize()
            events, self._events = self._events, []
        if err != 0:
            raise RuntimeError(f"espeak_Synth failed with code {err} for text {text!r}")
        phones = [(name, float(t)) for kind, t, name in events if kind == _EVENT_PHONEME]
        ends = [float(t) for kind, t, _ in events if kind in (_EVENT_END, _EVENT_MSG_TERMINATED)]
        if phones:
            phones.append(("", max(ends + [phones[-1][1]])))
        return phones


_ENGINE: _Espeak | None = None
_ENGINE_LOCK = threading.Lock()


def _engine() -> _Espeak:
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            _ENGINE = _Espeak()
            logger.debug("loaded espeak-ng %s", _ENGINE.version)
        return _ENGINE


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"language {language!r} is not supported; use one of {sorted(LANGUAGES)}")


def _espeak_phones(text: str, language: str) -> tuple[list[str], list[float]]:
    """Canonical symbols and durations (ms) for ``text``; no leading/trailing silence."""
    _check_language(language)
    if not text.strip():
        raise ValueError("text is empty")
    events = _engine().phone_events(text, LANGUAGES[language])
    symbols: list[str] = []
    durations: list[float] = []
    for (name, start), (_, end) in zip(events[:-1], events[1:]):
        parts = normalize_espeak_phone(name, language)
        if end <= start:
            continue  # zero-length event (end marker duplicates)
        # Split a multi-symbol phone (ɑːɹ, eɪ) in proportion to the default durations.
        weights = np.array([default_duration_s(p) for p in parts])
        for p, w in zip(parts, weights / weights.sum()):
            if p == SILENCE and symbols and symbols[-1] == SILENCE:
                durations[-1] += (end - start) * w
            else:
                symbols.append(p)
                durations.append((end - start) * w)
    # Leading/trailing pauses are espeak-ng's own padding; callers choose theirs (pad_s).
    lo = next((i for i, s in enumerate(symbols) if s != SILENCE), len(symbols))
    hi = len(symbols) - next((i for i, s in enumerate(reversed(symbols)) if s != SILENCE), 0)
    return symbols[lo:hi], durations[lo:hi]


def text_to_phonemes(text: str, language: str) -> list[str]:
    """Canonical phonemes of ``text`` via espeak-ng.

    Args:
        text: text in the language's own script (English in Latin script).
        language: one of :data:`LANGUAGES` (``"en"`` uses the ``en-us`` voice).

    Returns:
        Inventory symbols; pauses inside the text (punctuation) appear as ``"_"``, no silence
        at either end.

    Raises:
        G2PUnavailableError: espeak-ng cannot be loaded (says how to install it).
        UnknownPhonemeError: espeak-ng printed a phone with no inventory entry.
        ValueError: unsupported language or empty text.
    """
    return _espeak_phones(text, language)[0]


def text_to_segments(
    text: str, language: str, *, rate: float = 1.0, pad_s: float = 0.2
) -> list[PhoneSegment]:
    """Timed phones of ``text`` with espeak-ng's own durations (its default voice speed).

    Args:
        text: text in the language's script.
        language: one of :data:`LANGUAGES`.
        rate: tempo factor; espeak-ng durations are divided by it.
        pad_s: leading/trailing silence in seconds.

    Returns:
        Contiguous segments from 0 s (see :func:`text_to_phonemes` for errors).
    """
    symbols, durations_ms = _espeak_phones(text, language)
    durations_s = [d / 1000.0 for d in durations_ms]
    return _segments(symbols, durations_s, rate=rate, rng=None, jitter=0.0, pad_s=pad_s)


# ---------------------------------------------------------------------------------------------
# HTS / ARPAbet labels
# ---------------------------------------------------------------------------------------------

#: CMU/ARPAbet phones (lower case) → inventory symbols (General American; diphthongs split).
ARPABET_TO_IPA: dict[str, tuple[str, ...]] = {
    "aa": ("ɑ",),
    "ae": ("æ",),
    "ah": ("ʌ",),
    "ao": ("ɔ",),
    "aw": ("a", "ʊ"),
    "ax": ("ə",),
    "axr": ("ɚ",),
    "ay": ("a", "ɪ"),
    "eh": ("ɛ",),
    "er": ("ɝ",),
    "ey": ("e", "ɪ"),
    "ih": ("ɪ",),
    "ix": ("ɪ",),
    "iy": ("iː",),
    "ow": ("o", "ʊ"),
    "oy": ("ɔ", "ɪ"),
    "uh": ("ʊ",),
    "uw": ("uː",),
    "ux": ("uː",),
    "b": ("b",),
    "ch": ("tʃ",),
    "d": ("d",),
    "dh": ("ð",),
    "dx": ("ɾ",),
    "el": ("ə", "l"),
    "em": ("ə", "m"),
    "en": ("ə", "n"),
    "f": ("f",),
    "g": ("g",),
    "hh": ("h",),
    "jh": ("dʒ",),
    "k": ("k",),
    "l": ("l",),
    "m": ("m",),
    "n": ("n",),
    "ng": ("ŋ",),
    "nx": ("ɾ",),
    "p": ("p",),
    "q": ("ʔ",),
    "r": ("ɹ",),
    "s": ("s",),
    "sh": ("ʃ",),
    "t": ("t",),
    "th": ("θ",),
    "v": ("v",),
    "w": ("w",),
    "y": ("j",),
    "z": ("z",),
    "zh": ("ʒ",),
    "sil": (SILENCE,),
    "pau": (SILENCE,),
    "ssil": (SILENCE,),
    "h#": (SILENCE,),
}

_HTS_PHONE = re.compile(r"^[^-+]*-([^+]+)\+")


def read_hts_labels(path: str | Path) -> list[PhoneSegment]:
    """Read an HTS label file (full-context or mono) with ARPAbet phones.

    Each line is ``start end label`` with times in 100 ns units. For full-context labels the
    phone is the token between ``-`` and ``+`` of the label (``x^sil-hh+iy=t@...`` → ``hh``);
    a mono label is the phone itself. Phones map through :data:`ARPABET_TO_IPA`; diphthongs
    and syllabic consonants become two segments splitting the labelled interval in proportion to
    :func:`default_duration_s`. Stress digits (``iy1``) are ignored.

    Args:
        path: label file.

    Returns:
        Segments in seconds, in file order.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: a malformed line or an unknown phone (names file and line).
    """
    path = Path(path)
    segments: list[PhoneSegment] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) < 3:
            raise ValueError(f"{path}:{lineno}: expected 'start end label', got {line!r}")
        try:
            start, end = int(fields[0]) * 1e-7, int(fields[1]) * 1e-7
        except ValueError:
            raise ValueError(
                f"{path}:{lineno}: times must be integers (100 ns), got {line!r}"
            ) from None
        if end < start:
            raise ValueError(f"{path}:{lineno}: end {fields[1]} before start {fields[0]}")
        m = _HTS_PHONE.match(fields[2])
        name = (m.group(1) if m else fields[2]).lower().rstrip("012")
        if name not in ARPABET_TO_IPA:
            raise ValueError(f"{path}:{lineno}: unknown ARPAbet phone {name!r}")
        parts = ARPABET_TO_IPA[name]
        weights = np.array([default_duration_s(p) for p in parts])
        edges = start + (end - start) * np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
        segments += [
            PhoneSegment(p, float(a), float(b)) for p, a, b in zip(parts, edges[:-1], edges[1:])
        ]
    if not segments:
        raise ValueError(f"{path}: no labels")
    return segments


# ---------------------------------------------------------------------------------------------
# Built-in sentences
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Sentence:
    """A built-in sentence with stored phonemes and espeak-ng durations.

    Args:
        id: ``"<lang>_<nn>"``.
        language: language code.
        text: the sentence in its own script.
        phonemes: canonical symbols (inner pauses ``_``, none at the ends).
        durations_ms: one duration per phoneme, milliseconds at rate 1.
    """

    id: str
    language: str
    text: str
    phonemes: tuple[str, ...]
    durations_ms: tuple[float, ...]

    @property
    def duration_s(self) -> float:
        """Total duration at rate 1, seconds (no padding)."""
        return float(sum(self.durations_ms)) / 1000.0


def _sentence_path(language: str) -> Path:
    _check_language(language)
    return (
        Path(str(importlib.resources.files("mrisynth.phantom") / "sentences")) / f"{language}.json"
    )


def load_sentences(language: str) -> list[Sentence]:
    """Built-in sentences of ``language`` (no espeak-ng needed).

    Raises:
        ValueError: unsupported language, or a file entry that is incomplete, has mismatched
            lengths or holds a symbol outside the inventory (names the file and id).
    """
    path = _sentence_path(language)
    entries = json.loads(path.read_text(encoding="utf-8"))
    sentences = []
    for e in entries:
        sid = e.get("id", "?")
        missing = {"id", "text", "phonemes", "durations_ms"} - set(e)
        if missing:
            raise ValueError(f"{path}: sentence {sid!r} lacks {sorted(missing)}; rebuild it")
        if len(e["phonemes"]) != len(e["durations_ms"]) or not e["phonemes"]:
            raise ValueError(
                f"{path}: sentence {sid!r}: phonemes and durations_ms differ in length"
            )
        unknown = [p for p in e["phonemes"] if p not in PHONEMES]
        if unknown:
            raise ValueError(f"{path}: sentence {sid!r}: symbols {unknown} not in the inventory")
        sentences.append(
            Sentence(sid, language, e["text"], tuple(e["phonemes"]), tuple(e["durations_ms"]))
        )
    return sentences


def sentence_segments(
    sentence: Sentence,
    *,
    rate: float = 1.0,
    rng: np.random.Generator | None = None,
    jitter: float = 0.1,
    pad_s: float = 0.2,
) -> list[PhoneSegment]:
    """Timed phones of a built-in sentence: stored durations ÷ ``rate``, jittered if ``rng``.

    Args:
        sentence: from :func:`load_sentences`.
        rate: tempo factor.
        rng: seeded generator for log-normal duration jitter (sd ``jitter``); None = none.
        jitter: standard deviation of the log-duration jitter.
        pad_s: leading/trailing silence, seconds.
    """
    durations_s = [d / 1000.0 for d in sentence.durations_ms]
    return _segments(sentence.phonemes, durations_s, rate=rate, rng=rng, jitter=jitter, pad_s=pad_s)


def build_sentence_file(
    language: str, texts: Sequence[str] | None = None, path: str | Path | None = None
) -> Path:
    """(Re)generate a sentence file with espeak-ng phonemes and durations.

    Args:
        language: one of :data:`LANGUAGES`.
        texts: sentences; None re-uses the texts already in the file (add a new sentence by
            appending ``{"id": ..., "text": ...}`` to the file and rebuilding).
        path: output file; default is the packaged ``sentences/<language>.json``.

    Returns:
        The written path. The file is a JSON list of
        ``{"id", "text", "phonemes", "durations_ms"}`` (durations rounded to 0.1 ms).

    Raises:
        G2PUnavailableError: espeak-ng cannot be loaded.
    """
    path = Path(path) if path is not None else _sentence_path(language)
    if texts is None:
        texts = [e["text"] for e in json.loads(path.read_text(encoding="utf-8"))]
    entries = []
    for i, text in enumerate(texts, start=1):
        symbols, durations = _espeak_phones(text, language)
        entries.append(
            {
                "id": f"{language}_{i:02d}",
                "text": text,
                "phonemes": symbols,
                "durations_ms": [round(d, 1) for d in durations],
            }
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    # One sentence per line keeps diffs of a rebuild readable.
    lines = ",\n".join(" " + json.dumps(e, ensure_ascii=False) for e in entries)
    path.write_text("[\n" + lines + "\n]\n", encoding="utf-8")
    return path


if __name__ == "__main__":  # python -m mrisynth.phantom.text [lang ...]
    import sys

    for lang in sys.argv[1:] or list(LANGUAGES):
        out = build_sentence_file(lang)
        n = len(load_sentences(lang))
        print(f"{lang}: {n} sentences -> {out} (espeak-ng {_engine().version})")
