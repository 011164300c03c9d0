"""Consistency of the shared phoneme inventory."""

import pytest

from mrisynth.phantom.inventory import (
    ALIASES,
    MANNERS,
    PHONEME_CLASSES,
    PHONEMES,
    PLACES,
    SILENCE,
    PhoneSegment,
    canonical,
    phoneme,
)


def test_keys_match_symbols_and_kinds_are_valid():
    for key, p in PHONEMES.items():
        assert key == p.symbol
        assert p.kind in ("vowel", "consonant", "silence")
    assert PHONEMES[SILENCE].kind == "silence"


def test_consonants_have_valid_place_and_manner_and_no_vowel_quality():
    consonants = [p for p in PHONEMES.values() if p.kind == "consonant"]
    assert len(consonants) > 50
    for p in consonants:
        assert p.place in PLACES, p
        assert p.manner in MANNERS, p
        assert p.height is None and p.backness is None, p
        assert not p.long


def test_vowels_have_quality_in_range_and_no_place():
    vowels = [p for p in PHONEMES.values() if p.kind == "vowel"]
    assert len(vowels) > 20
    for p in vowels:
        assert p.place is None and p.manner is None
        assert 0.0 <= p.height <= 1.0 and 0.0 <= p.backness <= 1.0, p
        assert p.voiced
    # the cardinal corners
    assert phoneme("i").height > phoneme("e").height > phoneme("a").height
    assert phoneme("i").backness < phoneme("a").backness < phoneme("u").backness
    assert phoneme("u").rounded and not phoneme("i").rounded


def test_long_vowels_mirror_short_ones():
    for sym, p in PHONEMES.items():
        if sym.endswith("ː"):
            short = PHONEMES[sym[:-1]]
            assert p.long and not short.long
            assert (p.height, p.backness, p.rounded) == (
                short.height,
                short.backness,
                short.rounded,
            )


@pytest.mark.parametrize(
    "symbol, place, manner, voiced, aspirated",
    [
        ("t̪", "dental", "stop", False, False),
        ("t", "alveolar", "stop", False, False),
        ("ʈ", "retroflex", "stop", False, False),
        ("ɖʰ", "retroflex", "stop", True, True),
        ("n̪", "dental", "nasal", True, False),
        ("ɳ", "retroflex", "nasal", True, False),
        ("ɭ", "retroflex", "lateral", True, False),
        ("ɻ", "retroflex", "approximant", True, False),
        ("ɽ", "retroflex", "tap", True, False),
        ("ɾ", "alveolar", "tap", True, False),
        ("r", "alveolar", "trill", True, False),
        ("ɹ", "alveolar", "approximant", True, False),
        ("tʃ", "postalveolar", "affricate", False, False),
        ("kʰ", "velar", "stop", False, True),
        ("ʋ", "labiodental", "approximant", True, False),
        ("ɦ", "glottal", "fricative", True, False),
    ],
)
def test_key_features(symbol, place, manner, voiced, aspirated):
    p = phoneme(symbol)
    assert (p.place, p.manner, p.voiced, p.aspirated) == (place, manner, voiced, aspirated)


def test_required_symbols_present():
    required = (
        "a aː ə ɐ e eː ɛ i iː ɪ o oː ɔ u uː ʊ æ ɑ ʌ ɜ ɝ "
        "p b m pʰ bʰ f v ʋ t̪ d̪ n̪ t̪ʰ d̪ʰ θ ð t d n s z l r ɾ ɹ ʃ ʒ tʃ dʒ "
        "ʈ ɖ ɳ ɭ ʂ ɻ ɽ ʈʰ ɖʰ c ɟ ɲ j ç k g ŋ kʰ gʰ x h ɦ"
    ).split()
    missing = [s for s in required if s not in PHONEMES]
    assert not missing


def test_aspirated_have_plain_counterparts():
    for sym, p in PHONEMES.items():
        if p.aspirated:
            plain = PHONEMES[sym.replace("ʰ", "")]
            assert (plain.place, plain.manner, plain.voiced) == (p.place, p.manner, p.voiced)


def test_aliases_resolve_to_inventory_and_lookup_errors_name_symbol():
    for alias, target in ALIASES.items():
        assert target in PHONEMES, alias
        assert alias not in PHONEMES, alias
    assert canonical("ɡ") == "g" and phoneme("bʱ").symbol == "bʰ"
    with pytest.raises(KeyError, match="'ʕ'"):
        phoneme("ʕ")


def test_phoneme_classes():
    assert phoneme("m").phoneme_class == "bilabial"
    assert phoneme("t̪").phoneme_class == "dental"
    assert phoneme("ʈ").phoneme_class == "retroflex"
    assert phoneme("ʃ").phoneme_class == "palatal"
    assert phoneme("aː").phoneme_class == "vowel"
    assert phoneme("h").phoneme_class is None
    assert {p.phoneme_class for p in PHONEMES.values()} - {None} == set(PHONEME_CLASSES)


def test_phone_segment_duration():
    assert PhoneSegment("a", 0.25, 0.4).duration_s == pytest.approx(0.15)
