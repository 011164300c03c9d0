"""Physics tests of the phantom's speech acoustics (KL tube, sources, gating, formants)."""

from __future__ import annotations

import numpy as np
import pytest

from mrisynth.metrics.formants import estimate_formants, formant_track
from mrisynth.phantom.acoustics import (
    AcousticParams,
    denoise,
    frication_gain,
    kl_transfer_function,
    reflection_coefficients,
    scanner_noise,
    synthesize_speech,
    tube_formants,
)

SR = 16000
RATE = 100.0  # control steps per second
S = 44  # input sections
LENGTH = 17.5  # cm
C = AcousticParams().speed_of_sound_cm_s


def _shape(points: list[tuple[float, float]], n: int = S, length: float = LENGTH) -> np.ndarray:
    """Piecewise-linear area function (cm²) through (distance from glottis cm, area) points."""
    x = (np.arange(n) + 0.5) / n * length
    xs, areas = zip(*points)
    return np.interp(x, xs, areas)


# Fant-style vowel shapes: /a/ narrow pharynx + wide mouth, /i/ wide pharynx + palatal
# constriction, /u/ velar constriction + rounded lips.
VOWELS = {
    "a": _shape([(0, 1.5), (2, 1.0), (3, 0.6), (8, 0.7), (10, 3), (12, 6), (15, 7), (17.5, 5)]),
    "i": _shape(
        [(0, 1.5), (2, 6), (4, 8), (8, 8), (10, 3), (11, 0.8), (14, 0.8), (15.5, 1.5), (17.5, 2.5)]
    ),
    "u": _shape(
        [
            (0, 1.5),
            (2, 5),
            (8, 5),
            (9.5, 1),
            (10.5, 0.5),
            (11.5, 1),
            (13, 6),
            (16, 6),
            (16.5, 0.6),
            (17.5, 0.4),
        ]
    ),  # fmt: skip
}


def _synth(areas: np.ndarray, *, voicing=1.0, f0=110.0, aspiration=0.0, port=0.0, seed=0, **kw):
    """Synthesise (N, S) areas with per-step or constant controls."""
    n = areas.shape[0]

    def full(v):
        return np.broadcast_to(np.asarray(v, dtype=float), (n,)).copy()

    return synthesize_speech(
        areas,
        LENGTH / areas.shape[1],
        full(port),
        full(voicing),
        full(f0),
        full(aspiration),
        control_rate_hz=RATE,
        sample_rate=SR,
        rng=np.random.default_rng(seed),
        **kw,
    )


def _static(area: np.ndarray, seconds: float) -> np.ndarray:
    return np.repeat(area[None], int(round(seconds * RATE)), axis=0)


def _rms_db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(np.asarray(x, float) ** 2) + 1e-20)


def _segment(y: np.ndarray, t0: float, t1: float) -> np.ndarray:
    return y[int(t0 * SR) : int(t1 * SR)]


def _hf_fraction(x: np.ndarray, cutoff: float = 3000.0) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
    f = np.fft.rfftfreq(x.size, 1 / SR)
    return float(spec[f > cutoff].sum() / (spec.sum() + 1e-30))


# --------------------------------------------------------------------------- uniform tubes


@pytest.mark.parametrize("length", [17.7, 14.1])
def test_uniform_tube_resonances_odd_quarter_wave(length):
    expected = np.array([(2 * n - 1) * C / (4 * length) for n in (1, 2, 3)])
    areas = np.full(20, 3.0)
    chain = tube_formants(areas, length / 20, radiation=False)[:3]
    np.testing.assert_allclose(chain, expected, rtol=0.01)
    # The synthesiser's own KL tube: length quantised to c/fs (≤ 2.1 % here) plus the small
    # end correction of the lip low-pass.
    kl = tube_formants(areas, length / 20, method="kl")[:3]
    np.testing.assert_allclose(kl, expected, rtol=0.05)
    # Radiation lengthens the tube a little, lowering every resonance by 2-8 %.
    rad = tube_formants(areas, length / 20, radiation=True)[:3]
    assert np.all((rad < chain * 0.98) & (rad > chain * 0.92))


def test_uniform_tube_literature_numbers_from_synthesised_audio():
    # Reference: 500/1500/2500 Hz at 17.7 cm, 630/1880/3140 Hz at 14.1 cm.
    for length, ref in ((17.7, [500, 1500, 2500]), (14.1, [630, 1880, 3140])):
        n = 60
        y = synthesize_speech(
            np.full((n, 20), 3.0),
            length / 20,
            np.zeros(n),
            np.ones(n),
            np.full(n, 100.0),
            np.zeros(n),
            control_rate_hz=RATE,
            rng=np.random.default_rng(1),
        )
        f = estimate_formants(y[int(0.1 * SR) :], SR)[:3]
        # LPC on a harmonic source is pulled toward harmonics; 7 % covers that bias.
        np.testing.assert_allclose(f, ref, rtol=0.07)


# --------------------------------------------------------------------------- vowels


@pytest.fixture(scope="module")
def vowel_formants():
    """F1-F3 per vowel from the KL tube and from LPC of synthesised audio."""
    out = {}
    for name, area in VOWELS.items():
        y = _synth(_static(area, 0.5))
        out[name] = {
            "kl": tube_formants(area, LENGTH / S, method="kl")[:3],
            "chain": tube_formants(area, LENGTH / S)[:3],
            "lpc": estimate_formants(y[int(0.1 * SR) :], SR)[:3],
        }
    return out


@pytest.mark.parametrize("source", ["kl", "chain", "lpc"])
def test_vowel_formant_order(vowel_formants, source):
    f = {v: vowel_formants[v][source] for v in VOWELS}
    assert f["a"][0] > f["i"][0] + 200
    assert f["a"][0] > f["u"][0] + 200
    assert f["i"][1] > f["a"][1] + 500
    assert f["u"][1] < f["a"][1]  # /u/ has the lowest F2
    assert f["u"][1] < f["i"][1]


@pytest.mark.parametrize("source", ["kl", "lpc"])
def test_vowel_formants_in_plausible_ranges(vowel_formants, source):
    ranges = {  # broad adult-male ranges (Hz) around Hillenbrand/Peterson-Barney means
        "a": [(600, 900), (950, 1450), (2200, 3000)],
        "i": [(180, 450), (1800, 2600), (2400, 3400)],
        "u": [(200, 450), (600, 1150), (1900, 2700)],
    }
    for vowel, bounds in ranges.items():
        for k, (lo, hi) in enumerate(bounds):
            fk = vowel_formants[vowel][source][k]
            assert lo <= fk <= hi, f"/{vowel}/ F{k + 1}={fk:.0f} Hz outside [{lo}, {hi}]"


def test_formant_track_follows_vowel_change():
    areas = np.concatenate([_static(VOWELS["a"], 0.4), _static(VOWELS["i"], 0.4)])
    y = _synth(areas)
    track = formant_track(y, SR, 0.03, 0.01)
    assert track.shape[1] == 4
    assert track.shape[0] == 1 + (int(0.8 * 11000) - 330) // 110
    t = np.arange(track.shape[0]) * 0.01
    first = np.nanmedian(track[(t > 0.1) & (t < 0.3)], axis=0)
    second = np.nanmedian(track[(t > 0.5) & (t < 0.7)], axis=0)
    assert first[0] > second[0] + 200  # F1 falls from /a/ to /i/
    assert second[1] > first[1] + 500  # F2 rises


# --------------------------------------------------------------------------- gating


def test_reflection_coefficients_stay_open_interval():
    rng = np.random.default_rng(3)
    areas = np.concatenate([rng.uniform(1e-4, 20, (50, S)), np.full((1, S), 1e-9)])
    areas[0, :5] = [1e-6, 50, 1e-6, 50, 1e-6]
    r = reflection_coefficients(areas)
    assert r.shape == (51, S - 1)
    assert np.all(np.abs(r) < 1)
    assert reflection_coefficients(np.array([1.0, 3.0]))[0] == pytest.approx(-0.5)
    with pytest.raises(ValueError, match="> 0"):
        reflection_coefficients(np.array([1.0, 0.0]))


def test_frication_gain_gated_by_constriction():
    voiceless = np.zeros(5)
    g = frication_gain(np.array([1.0, 0.3, 0.21, 0.1, 0.0]), voiceless)
    assert g[0] == g[1] == g[2] == 0.0  # open tract
    assert g[3] > 0  # fricative constriction
    assert g[4] == 0.0  # complete closure: no flow
    narrow = frication_gain(np.array([0.15, 0.1, 0.05]), np.zeros(3))
    assert narrow[0] < narrow[1] <= narrow[2]  # stronger as the constriction narrows
    voiced = frication_gain(np.array([0.1]), np.ones(1))[0]
    assert 20 * np.log10(voiced / narrow[1]) == pytest.approx(-7.0, abs=0.01)


def _alveolar(min_area: float) -> np.ndarray:
    a = VOWELS["a"].copy()
    a[36:39] = min_area  # ~1.2 cm constriction behind the teeth
    return a


@pytest.mark.parametrize("min_area, expect_noise", [(0.1, True), (0.3, False), (0.0, False)])
def test_frication_only_with_narrow_constriction(min_area, expect_noise):
    y = _synth(_static(_alveolar(min_area), 0.3), voicing=0.0)
    if expect_noise:
        assert np.max(np.abs(y)) > 0.5
        assert _hf_fraction(y) > 0.5  # noise dominated by > 3 kHz energy
    else:
        assert np.all(y == 0)  # no glottal source, no frication source


def test_fricative_noise_in_vowel_context():
    areas = np.concatenate(
        [_static(VOWELS["a"], 0.3), _static(_alveolar(0.1), 0.2), _static(VOWELS["a"], 0.3)]
    )
    voicing = np.r_[np.ones(30), np.zeros(20), np.ones(30)]
    y = _synth(areas, voicing=voicing)
    vowel, fric = _segment(y, 0.1, 0.25), _segment(y, 0.35, 0.45)
    assert _hf_fraction(fric) > 0.5 > _hf_fraction(vowel) + 0.3
    assert -30 < _rms_db(fric) - _rms_db(vowel) < 0


def test_bilabial_closure_silent_then_burst():
    closed = VOWELS["a"].copy()
    closed[-3:] = 0.0  # lips closed
    areas = np.concatenate([_static(VOWELS["a"], 0.3), _static(closed, 0.15)])
    release = np.linspace(0.0, 1.0, 6)[1:]  # lips open over 50 ms
    opening = [np.where(np.arange(S) >= S - 3, VOWELS["a"] * r, VOWELS["a"]) for r in release]
    areas = np.concatenate([areas, np.stack(opening), _static(VOWELS["a"], 0.25)])
    voicing = np.r_[np.ones(30), np.zeros(15), np.zeros(5), np.ones(25)]  # /apa/
    y = _synth(areas, voicing=voicing)  # no aspiration: the burst must come from the release
    assert y.size == int(round(areas.shape[0] / RATE * SR))
    vowel = _rms_db(_segment(y, 0.1, 0.28))
    closure = _rms_db(_segment(y, 0.36, 0.44))
    burst = _rms_db(_segment(y, 0.445, 0.465))
    after = _rms_db(_segment(y, 0.48, 0.495))  # burst decayed, voicing not yet on
    assert closure < vowel - 30
    assert vowel - 25 < burst < vowel
    assert after < burst - 15
    assert _hf_fraction(_segment(y, 0.445, 0.465)) > 0.5


def test_voicing_stops_at_closure_but_nasal_murmur_continues():
    closed = VOWELS["a"].copy()
    closed[-3:] = 0.0
    areas = np.concatenate([_static(VOWELS["a"], 0.3), _static(closed, 0.3)])
    port = np.r_[np.zeros(30), np.full(30, 0.5)]  # /am/: velum lowers with the lip closure
    y_m = _synth(areas, port=port)
    y_b = _synth(areas, port=0.0)  # /ab/: voiced but no outlet
    vowel_m, murmur = _rms_db(_segment(y_m, 0.1, 0.28)), _rms_db(_segment(y_m, 0.4, 0.58))
    vowel_b, bar = _rms_db(_segment(y_b, 0.1, 0.28)), _rms_db(_segment(y_b, 0.4, 0.58))
    assert bar < vowel_b - 30  # voicing stopped: outlet < 0.07 cm²
    assert murmur > vowel_m - 25  # the nose radiates
    f1 = tube_formants(closed, LENGTH / S, method="kl", nasal_port_cm2=0.5)[0]
    assert 200 < f1 < 400  # nasal murmur resonance


def test_nasal_port_changes_spectrum():
    f, h0 = kl_transfer_function(VOWELS["a"], LENGTH / S, nasal_port_cm2=0.0)
    band = (f > 100) & (f < 4000)

    def lsd(port):
        _, h = kl_transfer_function(VOWELS["a"], LENGTH / S, nasal_port_cm2=port)
        return np.sqrt(np.mean((20 * np.log10(np.abs(h0[band]) / np.abs(h[band]))) ** 2))

    assert lsd(1e-9) < 0.01  # a closed port leaves the oral tube alone
    assert 3.0 < lsd(1.0)
    assert lsd(0.1) < lsd(0.3) < lsd(1.0)  # coupling grows with port area
    # In synthesised audio the nasalised vowel differs as well (same seed, same source).
    y0 = _synth(_static(VOWELS["a"], 0.4), port=0.0)[int(0.1 * SR) :]
    y1 = _synth(_static(VOWELS["a"], 0.4), port=1.0)[int(0.1 * SR) :]
    s0, s1 = (np.abs(np.fft.rfft(y * np.hanning(y.size))) + 1e-9 for y in (y0, y1))
    freqs = np.fft.rfftfreq(y0.size, 1 / SR)
    sel = (freqs > 100) & (freqs < 4000)
    assert np.sqrt(np.mean((20 * np.log10(s0[sel] / s1[sel])) ** 2)) > 2.0  # ~0 if port tiny


# --------------------------------------------------------------------------- contract


@pytest.mark.parametrize("n, rate, sr", [(83, 83.28, 16000), (7, 50.0, 22050), (1, 23.18, 16000)])
def test_output_length_dtype_peak(n, rate, sr):
    y = synthesize_speech(
        np.full((n, 10), 3.0), 1.75, np.zeros(n), np.ones(n), np.full(n, 120.0), np.zeros(n),
        control_rate_hz=rate, sample_rate=sr, rng=np.random.default_rng(0),
    )  # fmt: skip
    assert y.shape == (int(round(n / rate * sr)),)
    assert y.dtype == np.float32
    assert np.max(np.abs(y)) == pytest.approx(10 ** (-3 / 20), rel=1e-4)


def test_deterministic_for_seed():
    areas = _static(VOWELS["i"], 0.2)
    a = _synth(areas, aspiration=0.3, seed=5)
    b = _synth(areas, aspiration=0.3, seed=5)
    c = _synth(areas, aspiration=0.3, seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"areas_cm2": np.full((10, 4), np.nan)}, "areas_cm2 contains NaN"),
        ({"areas_cm2": np.full((10, 4), -1.0)}, "areas_cm2 must be ≥ 0"),
        ({"areas_cm2": np.full(10, 1.0)}, r"shape \(N, S\)"),
        ({"voicing": np.ones(9)}, r"voicing must have shape \(10,\)"),
        ({"f0_hz": np.zeros(10)}, "f0_hz must be > 0 wherever voicing > 0"),
        ({"f0_hz": np.full(10, np.nan)}, "f0_hz contains NaN"),
        ({"nasal_port_cm2": np.full(10, -0.1)}, "nasal_port_cm2"),
        ({"aspiration": np.full(10, 2.0)}, r"aspiration must lie in \[0, 1\]"),
        ({"section_length_cm": 0.0}, "section_length_cm must be > 0"),
        ({"control_rate_hz": 0.0}, "control_rate_hz"),
    ],
)
def test_bad_inputs_raise(change, match):
    kwargs = dict(
        areas_cm2=np.full((10, 4), 2.0),
        section_length_cm=4.0,
        nasal_port_cm2=np.zeros(10),
        voicing=np.ones(10),
        f0_hz=np.full(10, 100.0),
        aspiration=np.zeros(10),
        control_rate_hz=100.0,
        rng=np.random.default_rng(0),
    )
    kwargs.update(change)
    with pytest.raises(ValueError, match=match):
        synthesize_speech(**kwargs)


def test_unvoiced_f0_may_be_zero():
    voicing = np.r_[np.zeros(5), np.ones(5)]
    f0 = np.r_[np.zeros(5), np.full(5, 100.0)]
    y = _synth(np.full((10, S), 3.0), voicing=voicing, f0=f0)
    assert np.all(np.isfinite(y)) and np.max(np.abs(_segment(y, 0.0, 0.04))) < 1e-3


def test_params_validated():
    with pytest.raises(ValueError, match="lip_reflection"):
        AcousticParams(lip_reflection=0.5)
    with pytest.raises(ValueError, match="oversampling"):
        AcousticParams(oversampling=0)
    with pytest.raises(ValueError, match="frication_full_area_cm2"):
        AcousticParams(frication_full_area_cm2=0.3)


# --------------------------------------------------------------------------- scanner noise


def test_scanner_noise_harmonics_and_level():
    rng = np.random.default_rng(0)
    n = SR * 2
    noise = scanner_noise(n, SR, tr_s=0.006004, rng=rng, level_db=-20.0)
    assert noise.shape == (n,) and noise.dtype == np.float32
    assert _rms_db(noise) == pytest.approx(-20.0, abs=0.1)
    spec = np.abs(np.fft.rfft(noise * np.hanning(n)))
    f = np.fft.rfftfreq(n, 1 / SR)
    f_rep = 1 / 0.006004
    on = [spec[np.argmin(np.abs(f - k * f_rep))] for k in range(4, 9)]  # ~666-1332 Hz
    off = [spec[np.argmin(np.abs(f - (k + 0.5) * f_rep))] for k in range(4, 9)]
    assert np.median(on) > 10 * np.median(off)


def test_denoise_improves_snr():
    y = _synth(_static(VOWELS["a"], 1.0)).astype(np.float64)
    noise = scanner_noise(y.size, SR, rng=np.random.default_rng(1), level_db=_rms_db(y))
    reference = scanner_noise(SR, SR, rng=np.random.default_rng(2), level_db=_rms_db(y))
    noisy = y + noise
    clean = denoise(noisy, SR, reference)
    assert clean.shape == y.shape and clean.dtype == np.float32

    def snr(x):
        return _rms_db(y) - _rms_db(x - y)

    assert snr(clean) > snr(noisy) + 3.0
    with pytest.raises(ValueError, match="noise_reference"):
        denoise(noisy, SR, reference[:100])
