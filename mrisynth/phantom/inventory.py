"""Shared phoneme inventory (IPA) for English and Indian languages, as phonological features.

Everything that turns phonemes into articulation, audio or evaluation tables reads these
features; nothing else keeps its own list of phonemes.

Conventions of the canonical symbols:

* **Dentals carry the dental diacritic**: ``t̪ d̪ n̪ t̪ʰ d̪ʰ`` (Hindi, Telugu, Tamil, Kannada,
  Malayalam coronal stops are laminal dentals). Plain ``t d n`` are *alveolar* (English, and
  Malayalam/Tamil alveolars), so place of articulation is never ambiguous.
* Aspiration is written ``ʰ`` for voiceless and voiced (breathy) aspirates alike
  (``bʰ``, ``ɖʰ``); ``ʱ`` is accepted as an alias.
* The velar voiced stop is ASCII ``g``; IPA ``ɡ`` (U+0261, what espeak-ng prints) is an alias.
* Diphthongs are sequences of two vowels (``a ɪ``), so every vowel has one articulatory target.
* ``w`` is filed under ``bilabial`` approximant (rounded): the lips are what the phantom draws.
* Long consonants (geminates) are repeated symbols; their length lives in the segment timing.

:data:`ALIASES` maps other spellings to canonical symbols; :func:`phoneme` resolves them.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

__all__ = [
    "ALIASES",
    "MANNERS",
    "PHONEMES",
    "PHONEME_CLASSES",
    "PLACES",
    "PhoneSegment",
    "Phoneme",
    "SILENCE",
    "canonical",
    "phoneme",
]

PLACES = (
    "bilabial",
    "labiodental",
    "dental",
    "alveolar",
    "postalveolar",
    "retroflex",
    "palatal",
    "velar",
    "glottal",
)
MANNERS = ("stop", "nasal", "fricative", "affricate", "approximant", "lateral", "trill", "tap")

#: Classes used in per-place evaluation tables.
PHONEME_CLASSES = ("bilabial", "dental", "alveolar", "retroflex", "palatal", "velar", "vowel")

SILENCE = "_"


@dataclasses.dataclass(frozen=True)
class Phoneme:
    """One phoneme of the shared inventory.

    Args:
        symbol: canonical IPA symbol (e.g. ``"ʈ"``, ``"tʰ"``, ``"aː"``); ``"_"`` is silence.
        kind: ``"vowel"``, ``"consonant"`` or ``"silence"``.
        place: place of articulation for consonants (one of :data:`PLACES`), else None.
        manner: manner for consonants (one of :data:`MANNERS`), else None.
        voiced: vocal folds vibrate.
        aspirated: aspirated stop/affricate (Hindi/Telugu ``kʰ`` etc.).
        height: vowel height 0 (open, /a/) .. 1 (close, /i/, /u/); None for consonants.
        backness: vowel backness 0 (front, /i/) .. 1 (back, /u/); None for consonants.
        rounded: lips rounded (vowels, /w/).
        long: long vowel (``ː``).
    """

    symbol: str
    kind: Literal["vowel", "consonant", "silence"]
    place: str | None = None
    manner: str | None = None
    voiced: bool = False
    aspirated: bool = False
    height: float | None = None
    backness: float | None = None
    rounded: bool = False
    long: bool = False

    @property
    def phoneme_class(self) -> str | None:
        """Evaluation class (:data:`PHONEME_CLASSES`) or None (e.g. glottal, silence)."""
        if self.kind == "vowel":
            return "vowel"
        if self.place in ("dental", "labiodental"):
            return "dental"
        if self.place == "postalveolar":
            return "palatal"
        return self.place if self.place in PHONEME_CLASSES else None


def _c(symbol, place, manner, voiced=False, aspirated=False, rounded=False) -> Phoneme:
    return Phoneme(symbol, "consonant", place, manner, voiced, aspirated, rounded=rounded)


def _v(symbol, height, backness, rounded=False, long=False) -> Phoneme:
    return Phoneme(
        symbol, "vowel", voiced=True, height=height, backness=backness, rounded=rounded, long=long
    )


@dataclasses.dataclass(frozen=True)
class PhoneSegment:
    """One timed phone: canonical IPA ``symbol`` from :data:`PHONEMES` over ``[start_s, end_s)``."""

    symbol: str
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def _long(p: Phoneme) -> Phoneme:
    return dataclasses.replace(p, symbol=p.symbol + "ː", long=True)


# Vowel quality: height 0 (open) .. 1 (close), backness 0 (front) .. 1 (back); cardinal values
# placed on the IPA chart, not measured formants.
_SHORT_VOWELS = [
    _v("i", 1.0, 0.0),
    _v("ɪ", 0.85, 0.15),
    _v("e", 0.7, 0.05),
    _v("ɛ", 0.45, 0.1),
    _v("æ", 0.2, 0.1),
    _v("a", 0.0, 0.4),  # Indian /a/ and English diphthong onsets: open central
    _v("ɐ", 0.25, 0.5),
    _v("ə", 0.5, 0.5),
    _v("ɜ", 0.45, 0.5),
    _v("ɨ", 1.0, 0.5),  # Malayalam word-final "half u" (samvruthokaram)
    _v("ʉ", 1.0, 0.5, rounded=True),  # Tamil word-final /u/ as espeak-ng prints it
    _v("ʌ", 0.35, 0.7),
    _v("ɑ", 0.0, 0.85),
    _v("ɒ", 0.05, 0.9, rounded=True),
    _v("ɔ", 0.35, 0.9, rounded=True),
    _v("o", 0.7, 0.95, rounded=True),
    _v("ʊ", 0.85, 0.85, rounded=True),
    _v("u", 1.0, 1.0, rounded=True),
    _v("ɯ", 1.0, 0.9),
]
_LONG_OF = ("i", "e", "ɛ", "a", "ə", "ɜ", "ɑ", "ɔ", "o", "u")
_VOWELS = (
    _SHORT_VOWELS
    + [_long(v) for v in _SHORT_VOWELS if v.symbol in _LONG_OF]
    + [
        _v("ɝ", 0.45, 0.5),  # r-coloured stressed (GA "bird")
        _v("ɚ", 0.5, 0.5),  # r-coloured schwa (GA "butter")
    ]
)

_CONSONANTS = [
    # bilabial
    _c("p", "bilabial", "stop"),
    _c("b", "bilabial", "stop", voiced=True),
    _c("pʰ", "bilabial", "stop", aspirated=True),
    _c("bʰ", "bilabial", "stop", voiced=True, aspirated=True),
    _c("m", "bilabial", "nasal", voiced=True),
    _c("ɸ", "bilabial", "fricative"),
    _c("β", "bilabial", "fricative", voiced=True),
    _c("w", "bilabial", "approximant", voiced=True, rounded=True),
    # labiodental
    _c("f", "labiodental", "fricative"),
    _c("v", "labiodental", "fricative", voiced=True),
    _c("ʋ", "labiodental", "approximant", voiced=True),
    # dental (laminal; the canonical Indian coronal stops)
    _c("t̪", "dental", "stop"),
    _c("d̪", "dental", "stop", voiced=True),
    _c("t̪ʰ", "dental", "stop", aspirated=True),
    _c("d̪ʰ", "dental", "stop", voiced=True, aspirated=True),
    _c("n̪", "dental", "nasal", voiced=True),
    _c("θ", "dental", "fricative"),
    _c("ð", "dental", "fricative", voiced=True),
    # alveolar
    _c("t", "alveolar", "stop"),
    _c("d", "alveolar", "stop", voiced=True),
    _c("n", "alveolar", "nasal", voiced=True),
    _c("s", "alveolar", "fricative"),
    _c("z", "alveolar", "fricative", voiced=True),
    _c("ts", "alveolar", "affricate"),
    _c("dz", "alveolar", "affricate", voiced=True),
    _c("l", "alveolar", "lateral", voiced=True),
    _c("r", "alveolar", "trill", voiced=True),
    _c("ɾ", "alveolar", "tap", voiced=True),
    _c("ɹ", "alveolar", "approximant", voiced=True),
    # postalveolar
    _c("ʃ", "postalveolar", "fricative"),
    _c("ʒ", "postalveolar", "fricative", voiced=True),
    _c("tʃ", "postalveolar", "affricate"),
    _c("dʒ", "postalveolar", "affricate", voiced=True),
    _c("tʃʰ", "postalveolar", "affricate", aspirated=True),
    _c("dʒʰ", "postalveolar", "affricate", voiced=True, aspirated=True),
    # retroflex (apical/subapical post-alveolar)
    _c("ʈ", "retroflex", "stop"),
    _c("ɖ", "retroflex", "stop", voiced=True),
    _c("ʈʰ", "retroflex", "stop", aspirated=True),
    _c("ɖʰ", "retroflex", "stop", voiced=True, aspirated=True),
    _c("ɳ", "retroflex", "nasal", voiced=True),
    _c("ʂ", "retroflex", "fricative"),
    _c("ʐ", "retroflex", "fricative", voiced=True),
    _c("ɭ", "retroflex", "lateral", voiced=True),
    _c("ɻ", "retroflex", "approximant", voiced=True),
    _c("ɽ", "retroflex", "tap", voiced=True),
    _c("ɽʰ", "retroflex", "tap", voiced=True, aspirated=True),
    # palatal (ɕ: Telugu/Kannada/Malayalam ś as espeak-ng prints it)
    _c("c", "palatal", "stop"),
    _c("ɟ", "palatal", "stop", voiced=True),
    _c("cʰ", "palatal", "stop", aspirated=True),
    _c("ɟʰ", "palatal", "stop", voiced=True, aspirated=True),
    _c("ɲ", "palatal", "nasal", voiced=True),
    _c("ç", "palatal", "fricative"),
    _c("ɕ", "palatal", "fricative"),
    _c("j", "palatal", "approximant", voiced=True),
    _c("ʎ", "palatal", "lateral", voiced=True),
    # velar
    _c("k", "velar", "stop"),
    _c("g", "velar", "stop", voiced=True),
    _c("kʰ", "velar", "stop", aspirated=True),
    _c("gʰ", "velar", "stop", voiced=True, aspirated=True),
    _c("ŋ", "velar", "nasal", voiced=True),
    _c("x", "velar", "fricative"),
    _c("ɣ", "velar", "fricative", voiced=True),
    # glottal
    _c("h", "glottal", "fricative"),
    _c("ɦ", "glottal", "fricative", voiced=True),
    _c("ʔ", "glottal", "stop"),
]

# Keep the table the single source of truth: everything else looks symbols up here.
PHONEMES: dict[str, Phoneme] = {SILENCE: Phoneme(SILENCE, "silence")}
PHONEMES.update((p.symbol, p) for p in _VOWELS + _CONSONANTS)

#: Other spellings of inventory phonemes (espeak-ng, X-SAMPA-ish habits) → canonical symbol.
ALIASES: dict[str, str] = {
    "ɡ": "g",
    "ɡʰ": "gʰ",
    "ɡʱ": "gʰ",
    "t͡ʃ": "tʃ",
    "d͡ʒ": "dʒ",
    "t͡s": "ts",
    "d͡z": "dz",
    "ʧ": "tʃ",
    "ʤ": "dʒ",
    "ɫ": "l",
    "ᵻ": "ɪ",
    "ɜ˞": "ɝ",
    "ə˞": "ɚ",
    "ʁ": "ɣ",
    "q": "k",
    "ʍ": "w",
}
# Voiced aspirates as Indologists write them (bʱ) → the inventory's ʰ spelling.
ALIASES.update(
    (p.symbol.replace("ʰ", "ʱ"), p.symbol) for p in _CONSONANTS if p.voiced and p.aspirated
)


def canonical(symbol: str) -> str:
    """Canonical inventory spelling of ``symbol`` (resolving :data:`ALIASES`).

    Raises:
        KeyError: naming the symbol, if it is neither canonical nor an alias.
    """
    if symbol in PHONEMES:
        return symbol
    if symbol in ALIASES:
        return ALIASES[symbol]
    raise KeyError(f"phoneme {symbol!r} is not in the mrisynth inventory")


def phoneme(symbol: str) -> Phoneme:
    """Look up a canonical IPA symbol (or an alias); raises KeyError naming the symbol if unknown."""
    return PHONEMES[canonical(symbol)]
