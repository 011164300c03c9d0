"""Text front end: espeak-ng G2P, IPA normalisation, phoneme parsing, HTS labels, sentences."""

import json

import numpy as np
import pytest
import soundfile as sf

from mrisynth.phantom import text
from mrisynth.phantom.inventory import PHONEMES, SILENCE, phoneme
from mrisynth.phantom.text import (
    LANGUAGES,
    G2PUnavailableError,
    UnknownPhonemeError,
    build_sentence_file,
    load_sentences,
    normalize_espeak_phone,
    parse_phonemes,
    read_hts_labels,
    sentence_segments,
    text_to_phonemes,
    text_to_segments,
    tokenize_phonemes,
)

RETROFLEX = {"ʈ", "ʈʰ", "ɖ", "ɖʰ", "ɳ", "ɭ", "ɻ", "ɽ", "ʂ"}


def _espeak_ok() -> bool:
    try:
        text._engine()
    except G2PUnavailableError:
        return False
    return True


needs_espeak = pytest.mark.skipif(not _espeak_ok(), reason="espeak-ng (espeakng-loader) missing")


def _contiguous(segs):
    return all(a.end_s == pytest.approx(b.start_s) for a, b in zip(segs[:-1], segs[1:]))


# --- normaliser -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token, language, expected",
    [
        ("ˈæ", "en", ["æ"]),
        ("ˈɑːɹ", "en", ["ɑː", "ɹ"]),
        ("ˈeɪ", "en", ["e", "ɪ"]),
        ("əl", "en", ["ə", "l"]),
        ("t", "en", ["t"]),  # English t stays alveolar
        ("t", "te", ["t̪"]),  # Indian t is dental
        ("n", "ta", ["n̪"]),
        ("dʰ", "hi", ["d̪ʰ"]),
        ("tʃ", "hi", ["tʃ"]),  # longest match: the affricate is not dentalised
        ("t͡ʃ", "en", ["tʃ"]),
        ("ɡʰ", "hi", ["gʰ"]),
        ("bʱ", "hi", ["bʰ"]),
        ("r.", "hi", ["ɽ"]),  # raw espeak-ng mnemonic: Hindi ड़
        ("r.", "ml", ["ɻ"]),  # Malayalam ഴ
        ("ɹ", "ta", ["ɾ"]),  # Tamil ர printed as ɹ
        ("r", "ta", ["r"]),  # Tamil ற
        ("ˈẽ", "hi", ["e"]),  # nasalisation dropped
        ("ˌɛ̃", "hi", ["ɛ"]),
        ("ʲ", "ta", ["j"]),
        ("ᵻ", "en", ["ɪ"]),
        ("", "te", [SILENCE]),
        ("lː", "ml", ["l"]),  # geminate length lives in the timing
    ],
)
def test_normalize_espeak_phone(token, language, expected):
    out = normalize_espeak_phone(token, language)
    assert out == expected
    assert all(s in PHONEMES for s in out)


def test_normalizer_unknown_symbol_names_symbol_and_language():
    with pytest.raises(UnknownPhonemeError, match=r"'ʕ'.*language 'hi'|language 'hi'.*'ʕ'"):
        normalize_espeak_phone("ʕa", "hi")
    with pytest.raises(ValueError, match="language 'xx'"):
        normalize_espeak_phone("a", "xx")


def test_tokenize_longest_match():
    assert tokenize_phonemes("t̪ʰaːɳ") == ["t̪ʰ", "aː", "ɳ"]
    assert tokenize_phonemes("t̪ a m i ɻ") == ["t̪", "a", "m", "i", "ɻ"]


# --- espeak-ng G2P ----------------------------------------------------------------------------


@needs_espeak
@pytest.mark.parametrize(
    "language, word, must_contain",
    [
        ("en", "map", ["m", "æ", "p"]),
        ("ta", "தமிழ்", ["t̪", "m", "ɻ"]),
        ("hi", "ठंडा", ["ʈʰ", "ɳ", "ɖ"]),
        ("hi", "पढ़ना", ["ɽ", "n̪"]),
        ("te", "తెలుగు", ["t̪", "l", "g"]),
        ("kn", "ಕನ್ನಡ", ["k", "n̪", "ɖ"]),
        ("ml", "മലയാളം", ["m", "ɭ"]),
    ],
)
def test_g2p_known_words(language, word, must_contain):
    phones = text_to_phonemes(word, language)
    assert all(p in PHONEMES for p in phones)
    for p in must_contain:
        assert p in phones, (word, phones)


@needs_espeak
def test_g2p_english_map_exact_and_timed():
    assert text_to_phonemes("map", "en") == ["m", "æ", "p"]
    segs = text_to_segments("map", "en", pad_s=0.1)
    assert [s.symbol for s in segs] == ["_", "m", "æ", "p", "_"]
    assert _contiguous(segs) and segs[0].start_s == 0.0
    assert segs[0].duration_s == pytest.approx(0.1)
    # espeak-ng gives the vowel more time than the closure of /p/
    assert segs[2].duration_s > segs[3].duration_s > 0.03
    fast = text_to_segments("map", "en", rate=2.0, pad_s=0.1)
    assert fast[2].duration_s == pytest.approx(segs[2].duration_s / 2)


@needs_espeak
def test_english_t_alveolar_hindi_t_dental():
    assert "t" in text_to_phonemes("tea", "en")
    assert "t̪" in text_to_phonemes("तीन", "hi") and "t" not in text_to_phonemes("तीन", "hi")


def test_g2p_unavailable_error_is_clear(monkeypatch):
    import espeakng_loader

    monkeypatch.setattr(text, "_ENGINE", None)
    monkeypatch.setattr(espeakng_loader, "get_library_path", lambda: "/nonexistent/libespeak-ng.so")
    with pytest.raises(G2PUnavailableError) as info:
        text_to_phonemes("map", "en")
    msg = str(info.value)
    assert "/nonexistent/libespeak-ng.so" in msg
    assert "pip install espeakng-loader" in msg and "parse_phonemes" in msg


def test_g2p_rejects_unknown_language():
    with pytest.raises(ValueError, match="'fr'"):
        text_to_phonemes("bonjour", "fr")


# --- typed phonemes ---------------------------------------------------------------------------


def test_parse_phonemes_default_durations_and_padding():
    segs = parse_phonemes("t̪ aː m i ɻ", pad_s=0.2)
    assert [s.symbol for s in segs] == ["_", "t̪", "aː", "m", "i", "ɻ", "_"]
    assert _contiguous(segs)
    d = {s.symbol: s.duration_s for s in segs[1:-1]}
    assert 0.06 <= d["t̪"] <= 0.09
    assert 0.08 <= d["i"] <= 0.15
    assert d["aː"] == pytest.approx(1.6 * d["i"])
    assert segs[0].duration_s == pytest.approx(0.2) and segs[-1].duration_s == pytest.approx(0.2)
    assert 0.09 <= parse_phonemes(["s"], pad_s=0)[0].duration_s <= 0.12


def test_parse_phonemes_rate_and_explicit_durations():
    base = parse_phonemes(["p", "a"], [0.08, 0.12], pad_s=0)
    fast = parse_phonemes(["p", "a"], [0.08, 0.12], rate=2.0, pad_s=0)
    assert base[-1].end_s == pytest.approx(0.2)
    assert fast[-1].end_s == pytest.approx(0.1)


def test_parse_phonemes_jitter_is_seeded():
    a = parse_phonemes("k a ʈ a", rng=np.random.default_rng(3), pad_s=0)
    b = parse_phonemes("k a ʈ a", rng=np.random.default_rng(3), pad_s=0)
    c = parse_phonemes("k a ʈ a", rng=np.random.default_rng(4), pad_s=0)
    plain = parse_phonemes("k a ʈ a", pad_s=0)
    assert a == b and a != c and a != plain
    ratio = np.array([x.duration_s / y.duration_s for x, y in zip(a, plain)])
    assert np.all((ratio > 0.5) & (ratio < 2.0))


def test_parse_phonemes_errors():
    with pytest.raises(UnknownPhonemeError, match="'ʕ'"):
        parse_phonemes("a ʕ a")
    with pytest.raises(UnknownPhonemeError, match="'xyz'"):
        parse_phonemes(["a", "xyz"])
    with pytest.raises(ValueError, match="2 durations for 3 phonemes"):
        parse_phonemes("p a m", [0.1, 0.1])
    with pytest.raises(ValueError, match="milliseconds"):
        parse_phonemes("p a", [80, 120])
    with pytest.raises(ValueError, match="rate"):
        parse_phonemes("p a", rate=0)


# --- HTS labels -------------------------------------------------------------------------------


def test_read_hts_labels_real_arctic(shared_data):
    real = shared_data("data/real-speech")
    segs = read_hts_labels(real / "arctic_a0009_phone.lab")
    # 40 labelled phones; the two /ey/ diphthongs split into e + ɪ
    assert len(segs) == 42
    assert [s.symbol for s in segs[:6]] == ["_", "h", "iː", "t", "ɝ", "n"]
    assert segs[0].start_s == 0.0 and segs[-1].symbol == SILENCE
    assert segs[-1].end_s == pytest.approx(3.075)
    assert _contiguous(segs)
    audio_s = sf.info(str(real / "arctic_a0009.wav")).duration
    assert abs(audio_s - segs[-1].end_s) < 0.05
    bilabial = [
        (s.symbol, s.start_s, s.end_s) for s in segs if phoneme(s.symbol).place == "bilabial"
    ]
    # "sharply" /p/ and "table" /b/ at their labelled times (100 ns units in the file)
    assert bilabial == [
        ("p", pytest.approx(0.815), pytest.approx(0.905)),
        ("b", pytest.approx(2.68), pytest.approx(2.75)),
    ]
    assert all(s.symbol in PHONEMES for s in segs)


def test_read_hts_labels_errors(tmp_path):
    bad = tmp_path / "bad.lab"
    bad.write_text("0 100 x^sil-zz+a=b@\n")
    with pytest.raises(ValueError, match=r"bad.lab:1.*'zz'"):
        read_hts_labels(bad)
    bad.write_text("0 100\n")
    with pytest.raises(ValueError, match="bad.lab:1"):
        read_hts_labels(bad)
    mono = tmp_path / "mono.lab"
    mono.write_text("0 1000000 pau\n1000000 2000000 m\n")
    assert [s.symbol for s in read_hts_labels(mono)] == ["_", "m"]


# --- built-in sentences -----------------------------------------------------------------------


@pytest.fixture
def no_espeak(monkeypatch):
    def fail():
        raise G2PUnavailableError("espeak-ng disabled by the test")

    monkeypatch.setattr(text, "_ENGINE", None)
    monkeypatch.setattr(text, "_engine", fail)


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_sentence_files_complete_without_espeak(language, no_espeak):
    sentences = load_sentences(language)
    assert 12 <= len(sentences) <= 20
    assert len({s.id for s in sentences}) == len(sentences)
    symbols = set()
    for s in sentences:
        assert s.text.strip() and len(s.phonemes) == len(s.durations_ms) > 5
        assert all(p in PHONEMES for p in s.phonemes)
        assert all(d > 0 for d in s.durations_ms)
        assert s.phonemes[0] != SILENCE and s.phonemes[-1] != SILENCE
        assert 0.5 < s.duration_s < 6.0
        symbols.update(s.phonemes)
    if language == "en":
        assert {"t", "d", "n"} <= symbols
        assert not symbols & ({"t̪", "d̪", "n̪"} | RETROFLEX)
    else:
        assert {"t̪", "d̪", "n̪"} <= symbols
        assert not symbols & {"t", "d", "n"}, "Indian coronals must be canonical dentals"
        expected = {
            "hi": {"ʈ", "ɖ", "ɳ", "ɽ"},
            "te": {"ʈ", "ɖ", "ɳ", "ɭ"},
            "kn": {"ʈ", "ɖ", "ɳ", "ɭ"},
            "ta": {"ʈ", "ɖ", "ɳ", "ɭ", "ɻ"},
            "ml": {"ʈ", "ɖ", "ɳ", "ɭ", "ɻ"},
        }[language]
        assert expected <= symbols, expected - symbols
    with pytest.raises(G2PUnavailableError):
        text_to_phonemes("a", language)


def test_sentences_use_native_script():
    ranges = {"hi": (0x900, 0x97F), "te": (0xC00, 0xC7F), "kn": (0xC80, 0xCFF)}
    ranges |= {"ta": (0xB80, 0xBFF), "ml": (0xD00, 0xD7F)}
    for lang, (lo, hi) in ranges.items():
        for s in load_sentences(lang):
            letters = [c for c in s.text if c.isalpha()]
            assert letters and all(lo <= ord(c) <= hi for c in letters), s.text


def test_sentence_segments_rate_and_jitter(no_espeak):
    s = load_sentences("ta")[0]
    segs = sentence_segments(s, pad_s=0.2)
    assert [x.symbol for x in segs[1:-1]] == list(s.phonemes)
    assert segs[-1].end_s == pytest.approx(s.duration_s + 0.4)
    fast = sentence_segments(s, rate=1.5, pad_s=0.0)
    assert fast[-1].end_s == pytest.approx(s.duration_s / 1.5)
    j1 = sentence_segments(s, rng=np.random.default_rng(0), jitter=0.1, pad_s=0.0)
    j2 = sentence_segments(s, rng=np.random.default_rng(0), jitter=0.1, pad_s=0.0)
    assert j1 == j2 and abs(j1[-1].end_s - s.duration_s) < 0.3 * s.duration_s


def test_load_sentences_rejects_bad_file(tmp_path, monkeypatch):
    bad = tmp_path / "hi.json"
    bad.write_text(
        json.dumps([{"id": "x", "text": "t", "phonemes": ["a", "ʕ"], "durations_ms": [1, 2]}])
    )
    monkeypatch.setattr(text, "_sentence_path", lambda language: bad)
    with pytest.raises(ValueError, match=r"'x'.*ʕ"):
        load_sentences("hi")


@needs_espeak
def test_build_sentence_file_matches_packaged(tmp_path):
    packaged = load_sentences("kn")[:2]
    out = build_sentence_file("kn", [s.text for s in packaged], tmp_path / "kn.json")
    rebuilt = json.loads(out.read_text(encoding="utf-8"))
    assert [e["phonemes"] for e in rebuilt] == [list(s.phonemes) for s in packaged]
    for e, s in zip(rebuilt, packaged):  # espeak-ng timings may differ by a ms between runs
        np.testing.assert_allclose(e["durations_ms"], s.durations_ms, atol=2.0)
