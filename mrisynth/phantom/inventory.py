"""Shared phoneme inventory (IPA) for English and Indian languages, as phonological features.

Everything that turns phonemes into articulation, audio or evaluation tables reads these
features; nothing else keeps its own list of phonemes.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

__all__ = ["Phoneme", "PLACES", "MANNERS", "PHONEMES", "SILENCE", "phoneme", "PHONEME_CLASSES"]

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
    return Phoneme(symbol, "vowel", voiced=True, height=height, backness=backness, rounded=rounded, long=long)


# The table is filled in below; keep it the single source of truth.
PHONEMES: dict[str, Phoneme] = {SILENCE: Phoneme(SILENCE, "silence")}


def phoneme(symbol: str) -> Phoneme:
    """Look up a canonical IPA symbol; raises KeyError naming the symbol if unknown."""
    try:
        return PHONEMES[symbol]
    except KeyError:
        raise KeyError(f"phoneme {symbol!r} is not in the mrisynth inventory") from None
