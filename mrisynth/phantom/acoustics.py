"""Speech acoustics of the phantom: audio synthesised from the same area functions as the frames.

The vocal tract is a Kelly–Lochbaum (KL) tube of cylindrical sections, glottis → lips, with a
nasal branch joined at the velum by a 3-way junction. Each section delays a pressure wave by one
internal sample per direction, so the section length is ``Δx = c / fs_internal``; the tube runs
at ``oversampling × sample_rate`` (default 3 × 16 kHz = 48 kHz, Δx ≈ 0.73 cm, 24 sections for
17.5 cm) and is decimated with a polyphase filter. Sources: a Rosenberg glottal pulse train
with jitter/shimmer (gated by voicing and by closure), aspiration noise at the glottis, and
frication noise injected just downstream of the narrowest constriction, plus a short noise
burst when a complete closure (with pressure built up behind it) is released. Lip and nostril
volume velocities are summed and differentiated (radiation, +6 dB/oct).

References:

- Kelly, J. L. & Lochbaum, C. C. (1962), "Speech synthesis", Proc. 4th International Congress
  on Acoustics, Copenhagen, paper G42: the tube of cylindrical sections and the junction
  reflection ``r = (A_{i-1} − A_i)/(A_{i-1} + A_i)`` (pressure waves).
- Thapen, N. (2017), *Pink Trombone* (interactive KL vocal-tract synthesiser; C port in
  P. Batchelor's ``voc``, 2017): glottal/lip reflections +0.75/−0.85, a per-section loss and a
  3-way junction joining the nasal branch.
- Rosenberg, A. E. (1971), "Effect of glottal pulse shape on the quality of natural vowels",
  J. Acoust. Soc. Am. 49(2B), 583–590: the glottal pulse.
- Stevens, K. N. (1998), *Acoustic Phonetics*, MIT Press: voicing stops once the supraglottal
  area falls below 0.07 cm²; frication needs a constriction below ~0.2 cm²; voiced fricatives
  are ~7 dB weaker than voiceless ones; radiation rises ~+6 dB/oct.

Modelling choices worth knowing:

- The number of KL sections is fixed per call from the median tract length; each frame's area
  function is mapped onto it by *fraction of length*, so length changes act on shape, not on
  total delay. Areas are resampled with an overlap-weighted harmonic mean, which keeps the
  acoustic mass ``∫dx/A`` of a narrow constriction that is shorter than one section.
- An area of exactly 0 means complete closure (it is floored at ``min_area_cm2`` internally);
  negative areas are rejected.
- With the lips closed nothing radiates, so a voice bar during a voiced oral stop is silent
  (no wall radiation); a nasal murmur radiates through the nostrils.
- Relative source levels (pulse : aspiration : frication : burst) are set so that /h/ and /s/
  come out ~10 dB and a labial burst ~5–15 dB below a voiced /a/.
- Output is peak-normalised to ``AcousticParams.peak_dbfs`` (default −3 dBFS); an all-silent
  result stays all zeros.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import librosa
import numpy as np
from numba import njit
from scipy import signal

logger = logging.getLogger(__name__)

__all__ = [
    "AcousticParams",
    "synthesize_speech",
    "tube_transfer_function",
    "tube_formants",
    "kl_transfer_function",
    "reflection_coefficients",
    "frication_gain",
    "scanner_noise",
    "denoise",
]


@dataclasses.dataclass(frozen=True)
class AcousticParams:
    """Constants of the tube, sources and radiation. Validated on construction.

    Args:
        speed_of_sound_cm_s: c in cm/s.
        air_density_g_cm3: ρ in g/cm³ (characteristic impedance ρc/A in the transfer function).
        oversampling: internal rate = oversampling × sample_rate; Δx = c / internal rate.
        block_size: internal samples between area-function (reflection coefficient) updates.
        glottal_reflection: pressure reflection at the glottis, in (−1, 1).
        lip_reflection: pressure reflection at the lips (low-frequency value), in (−1, 0].
        lip_lowpass_hz: the lip reflection falls off above this (radiation grows with
            frequency), which also adds a small end correction; 0 disables.
        nostril_reflection: pressure reflection at the nostrils, in (−1, 0].
        section_loss: amplitude kept per internal sample per oral section, in (0, 1].
        nasal_section_loss: same for the nasal branch (heat losses are larger there).
        nasal_length_cm: length of the nasal branch.
        velum_position: where the nasal branch joins, as a fraction of tract length from glottis.
        open_quotient: open phase / period of the Rosenberg pulse.
        speed_quotient: opening / closing duration of the pulse.
        jitter: relative SD of the period, per period.
        shimmer: relative SD of the amplitude, per period.
        aspiration_level: glottal noise amplitude at ``aspiration = 1`` (pulse peak = 1).
        frication_level: frication noise amplitude for a voiceless fricative.
        voiced_frication_db: level change of frication when fully voiced (dB, ≤ 0).
        burst_level: noise amplitude of a release burst after a full pressure build-up.
        burst_s: decay time constant of the burst after release (s).
        pressure_buildup_s: time constant of the intraoral pressure build-up during closure (s).
        frication_area_cm2: frication is gated on below this minimum constriction area.
        frication_full_area_cm2: frication reaches full strength at or below this area.
        closure_area_cm2: below this the constriction counts as closing; frication fades to 0
            at area 0 (no flow through a complete closure).
        voicing_stop_area_cm2: voicing stops when the supraglottal outlet area falls below this.
        voice_bar_s: decay time constant of voicing after closure (voice bar).
        voicing_onset_s: rise time constant of voicing after release.
        frication_cutoff_hz: high-pass corner of the frication noise.
        aspiration_cutoff_hz: high-pass corner of the aspiration noise.
        aspiration_tilt_hz: aspiration noise falls 6 dB/oct above this (glottal noise tilt).
        min_area_cm2: floor applied to areas (0 = closure) to keep reflections finite.
        peak_dbfs: peak level of the returned waveform.
    """

    speed_of_sound_cm_s: float = 35000.0
    air_density_g_cm3: float = 1.14e-3
    oversampling: int = 3
    block_size: int = 16
    glottal_reflection: float = 0.75
    lip_reflection: float = -0.85
    lip_lowpass_hz: float = 6000.0
    nostril_reflection: float = -0.85
    section_loss: float = 0.9995
    nasal_section_loss: float = 0.99
    nasal_length_cm: float = 11.0
    velum_position: float = 0.5
    open_quotient: float = 0.6
    speed_quotient: float = 2.5
    jitter: float = 0.01
    shimmer: float = 0.04
    aspiration_level: float = 0.012
    frication_level: float = 0.07
    voiced_frication_db: float = -7.0
    burst_level: float = 0.05
    burst_s: float = 0.008
    pressure_buildup_s: float = 0.02
    frication_area_cm2: float = 0.2
    frication_full_area_cm2: float = 0.05
    closure_area_cm2: float = 0.02
    voicing_stop_area_cm2: float = 0.07
    voice_bar_s: float = 0.02
    voicing_onset_s: float = 0.005
    frication_cutoff_hz: float = 1000.0
    aspiration_cutoff_hz: float = 400.0
    aspiration_tilt_hz: float = 1500.0
    min_area_cm2: float = 1e-4
    peak_dbfs: float = -3.0

    def __post_init__(self) -> None:
        def need(ok: bool, name: str, why: str) -> None:
            if not ok:
                raise ValueError(f"AcousticParams.{name}={getattr(self, name)!r}: {why}")

        for name in (
            "speed_of_sound_cm_s",
            "air_density_g_cm3",
            "nasal_length_cm",
            "open_quotient",
            "speed_quotient",
            "frication_area_cm2",
            "frication_full_area_cm2",
            "closure_area_cm2",
            "voicing_stop_area_cm2",
            "voice_bar_s",
            "burst_s",
            "pressure_buildup_s",
            "voicing_onset_s",
            "frication_cutoff_hz",
            "aspiration_cutoff_hz",
            "aspiration_tilt_hz",
            "min_area_cm2",
        ):
            need(
                math.isfinite(getattr(self, name)) and getattr(self, name) > 0, name, "must be > 0"
            )
        need(
            isinstance(self.oversampling, int) and self.oversampling >= 1, "oversampling", "int ≥ 1"
        )
        need(isinstance(self.block_size, int) and self.block_size >= 1, "block_size", "int ≥ 1")
        need(-1 < self.glottal_reflection < 1, "glottal_reflection", "must be in (−1, 1)")
        need(-1 < self.lip_reflection <= 0, "lip_reflection", "must be in (−1, 0]")
        need(-1 < self.nostril_reflection <= 0, "nostril_reflection", "must be in (−1, 0]")
        need(self.lip_lowpass_hz >= 0, "lip_lowpass_hz", "must be ≥ 0 (0 disables)")
        need(0 < self.section_loss <= 1, "section_loss", "must be in (0, 1]")
        need(0 < self.nasal_section_loss <= 1, "nasal_section_loss", "must be in (0, 1]")
        need(0 < self.velum_position < 1, "velum_position", "must be in (0, 1)")
        need(self.open_quotient < 1, "open_quotient", "must be in (0, 1)")
        for name in ("jitter", "shimmer", "aspiration_level", "frication_level", "burst_level"):
            need(getattr(self, name) >= 0, name, "must be ≥ 0")
        need(self.voiced_frication_db <= 0, "voiced_frication_db", "must be ≤ 0 dB")
        need(
            self.frication_full_area_cm2 < self.frication_area_cm2,
            "frication_full_area_cm2",
            "must be below frication_area_cm2",
        )
        need(self.peak_dbfs <= 0, "peak_dbfs", "must be ≤ 0 dBFS")


# --------------------------------------------------------------------------- numba kernels


@njit(cache=True)
def _rosenberg_flow(f0, fs, oq, sq, jitter_draws, shimmer_draws):  # pragma: no cover - numba
    """Glottal volume velocity (peak 1) for per-sample f0 (Hz); one draw per period."""
    n = f0.size
    out = np.empty(n)
    tp = oq * sq / (1.0 + sq)  # opening phase, fraction of period
    tn = oq / (1.0 + sq)  # closing phase
    nd = jitter_draws.size
    k = 0
    jit = jitter_draws[0]
    shim = shimmer_draws[0]
    phase = 0.0
    for i in range(n):
        phase += f0[i] / fs / jit
        if phase >= 1.0:
            phase -= math.floor(phase)
            k += 1
            jit = jitter_draws[k % nd]
            shim = shimmer_draws[k % nd]
        if phase < tp:
            u = 0.5 * (1.0 - math.cos(math.pi * phase / tp))
        elif phase < tp + tn:
            u = math.cos(0.5 * math.pi * (phase - tp) / tn)
        else:
            u = 0.0
        out[i] = u * shim
    return out


@njit(cache=True)
def _asymmetric_smooth(target, up, down):  # pragma: no cover - numba
    """One-pole smoothing with different coefficients for rising and falling input."""
    out = np.empty(target.size)
    g = target[0]
    for i in range(target.size):
        a = up if target[i] > g else down
        g = a * g + (1.0 - a) * target[i]
        out[i] = g
    return out


@njit(cache=True)
def _kelly_lochbaum(
    areas,  # (n_blocks, M) oral areas per block, cm²
    port,  # (n_blocks,) velopharyngeal port area, cm²
    nasal_areas,  # (K,) nasal areas after the port, cm²
    fric_idx,  # (n_blocks,) oral section holding the narrowest constriction
    source,  # (n,) glottal volume velocity
    fric,  # (n,) frication pressure source
    block,
    velum,
    glottal_refl,
    lip_refl,
    lip_pole,
    nostril_refl,
    loss,
    nasal_loss,
):  # pragma: no cover - numba
    """Run the KL tube; returns lip + nostril volume velocity per internal sample, (n,)."""
    n = source.size
    m = areas.shape[1]
    kn = nasal_areas.size + 1  # nasal section 0 is the port itself
    r = np.zeros(m)
    lft = np.zeros(m)
    jr = np.zeros(m + 1)
    jl = np.zeros(m + 1)
    refl = np.zeros(m + 1)
    nr = np.zeros(kn)
    nl = np.zeros(kn)
    njr = np.zeros(kn + 1)
    njl = np.zeros(kn + 1)
    nrefl = np.zeros(kn + 1)
    na = np.empty(kn)
    na[1:] = nasal_areas
    for j in range(2, kn):
        nrefl[j] = (na[j - 1] - na[j]) / (na[j - 1] + na[j])
    out = np.zeros(n)
    lp = 0.0
    for i in range(n):
        b = i // block
        if i % block == 0:
            a = areas[b]
            for j in range(1, m):
                refl[j] = (a[j - 1] - a[j]) / (a[j - 1] + a[j])
            na[0] = port[b]
            nrefl[1] = (na[0] - na[1]) / (na[0] + na[1])
            a_l = a[velum - 1]
            a_r = a[velum]
            a_sum = a_l + a_r + na[0]
            lip_area = a[m - 1]
            nose_area = na[kn - 1]
            fj = fric_idx[b] + 1
        # glottis and lips
        jr[0] = glottal_refl * lft[0] + source[i]
        lp = (1.0 - lip_pole) * r[m - 1] + lip_pole * lp
        jl[m] = lip_refl * lp
        # 2-way junctions: w = r (p+ − p−) in pressure waves
        for j in range(1, m):
            if j == velum:
                continue
            w = refl[j] * (r[j - 1] - lft[j])
            jr[j] = r[j - 1] + w
            jl[j] = lft[j] + w
        # 3-way velum junction: common pressure weighted by admittances (∝ area)
        pj = 2.0 * (a_l * r[velum - 1] + a_r * lft[velum] + na[0] * nl[0]) / a_sum
        jr[velum] = pj - lft[velum]
        jl[velum] = pj - r[velum - 1]
        njr[0] = pj - nl[0]
        # frication: series pressure source just downstream of the constriction
        f = fric[i]
        direct = 0.0
        if f != 0.0:
            if fj < m:
                jr[fj] += 0.5 * f
                jl[fj] -= 0.5 * f
            else:
                direct = f  # constriction at the lips radiates directly
        # nasal branch
        for j in range(1, kn):
            w = nrefl[j] * (nr[j - 1] - nl[j])
            njr[j] = nr[j - 1] + w
            njl[j] = nl[j] + w
        njl[kn] = nostril_refl * nr[kn - 1]
        # outputs: volume velocity ∝ A (p+ − p−)
        out[i] = lip_area * (r[m - 1] - jl[m]) + nose_area * (nr[kn - 1] - njl[kn]) + direct
        for j in range(m):
            r[j] = jr[j] * loss
            lft[j] = jl[j + 1] * loss
        for j in range(kn):
            nr[j] = njr[j] * nasal_loss
            nl[j] = njl[j + 1] * nasal_loss
    return out


# --------------------------------------------------------------------------- helpers


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def reflection_coefficients(areas_cm2: np.ndarray) -> np.ndarray:
    """KL junction reflection coefficients for pressure waves.

    Args:
        areas_cm2: ``(..., S)`` positive section areas, glottis → lips (cm²).

    Returns:
        ``(..., S−1)`` coefficients ``r_i = (A_{i−1} − A_i)/(A_{i−1} + A_i)``, all in (−1, 1).
    """
    a = np.asarray(areas_cm2, dtype=np.float64)
    if np.any(~np.isfinite(a)) or np.any(a <= 0):
        raise ValueError("reflection_coefficients: areas_cm2 must be finite and > 0")
    return (a[..., :-1] - a[..., 1:]) / (a[..., :-1] + a[..., 1:])


def frication_gain(
    min_area_cm2: np.ndarray, voicing: np.ndarray, params: AcousticParams | None = None
) -> np.ndarray:
    """Frication noise amplitude from the narrowest constriction (flow proxy included).

    Zero above ``frication_area_cm2``; rises to full strength at ``frication_full_area_cm2``;
    fades to zero as the area goes to 0 (no flow through a complete closure). Voicing lowers it
    by ``voiced_frication_db`` (part of the pressure drop is spent at the glottis).

    Args:
        min_area_cm2: ``(n,)`` minimum oral area (cm², ≥ 0).
        voicing: ``(n,)`` effective voicing 0..1.
        params: constants; defaults if None.

    Returns:
        ``(n,)`` amplitude ≥ 0 (``frication_level`` at full strength, voiceless).
    """
    p = params or AcousticParams()
    a = np.asarray(min_area_cm2, dtype=np.float64)
    narrow = _smoothstep(
        (p.frication_area_cm2 - a) / (p.frication_area_cm2 - p.frication_full_area_cm2)
    )
    flow = _smoothstep(a / p.closure_area_cm2)  # flow proxy: 0 at complete closure
    voiced_gain = 10.0 ** (p.voiced_frication_db / 20.0)
    vgain = 1.0 - np.clip(voicing, 0.0, 1.0) * (1.0 - voiced_gain)
    return p.frication_level * narrow * flow * vgain


def _check_inputs(
    areas: np.ndarray,
    section_length: np.ndarray | float,
    nasal_port: np.ndarray,
    voicing: np.ndarray,
    f0: np.ndarray,
    aspiration: np.ndarray,
    control_rate_hz: float,
    sample_rate: int,
) -> tuple[np.ndarray, ...]:
    areas = np.asarray(areas, dtype=np.float64)
    if areas.ndim != 2 or areas.shape[0] < 1 or areas.shape[1] < 2:
        raise ValueError(f"areas_cm2 must have shape (N, S) with S ≥ 2, got {areas.shape}")
    n = areas.shape[0]
    out = [areas]
    seclen = np.asarray(section_length, dtype=np.float64)
    if seclen.ndim == 0:
        seclen = np.full(n, float(seclen))
    named = {
        "section_length_cm": seclen,
        "nasal_port_cm2": nasal_port,
        "voicing": voicing,
        "f0_hz": f0,
        "aspiration": aspiration,
    }
    for name, arr in named.items():
        arr = np.asarray(arr, dtype=np.float64)
        if arr.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},) to match areas_cm2, got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or inf")
        out.append(arr)
    if not np.all(np.isfinite(areas)):
        raise ValueError("areas_cm2 contains NaN or inf")
    if np.any(areas < 0):
        raise ValueError("areas_cm2 must be ≥ 0 (0 = complete closure); found negative areas")
    if np.any(areas[:, 0] <= 0):
        raise ValueError("areas_cm2[:, 0] (glottal end) must be > 0")
    seclen, port, voi, f0, asp = out[1:]
    if np.any(seclen <= 0):
        raise ValueError("section_length_cm must be > 0")
    if np.any(port < 0):
        raise ValueError("nasal_port_cm2 must be ≥ 0 (0 = velum closed)")
    for name, arr in (("voicing", voi), ("aspiration", asp)):
        if np.any((arr < 0) | (arr > 1)):
            raise ValueError(f"{name} must lie in [0, 1]")
    if np.any(f0[voi > 0] <= 0):
        raise ValueError("f0_hz must be > 0 wherever voicing > 0")
    if not (math.isfinite(control_rate_hz) and control_rate_hz > 0):
        raise ValueError(f"control_rate_hz must be > 0, got {control_rate_hz}")
    if not (isinstance(sample_rate, int | np.integer) and sample_rate >= 4000):
        raise ValueError(f"sample_rate must be an int ≥ 4000 Hz, got {sample_rate!r}")
    return areas, seclen, port, voi, f0, asp


def _overlap_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) fraction of each output section covered by each (equal) input section."""
    return _overlap_weights_edges(np.linspace(0.0, 1.0, n_in + 1), n_out)


def _overlap_weights_edges(edges_in: np.ndarray, n_out: int) -> np.ndarray:
    """(n_out, n_in) overlap fractions; ``edges_in`` are input section edges in [0, 1]."""
    edges_out = np.linspace(0.0, 1.0, n_out + 1)
    lo = np.maximum(edges_out[:-1, None], edges_in[None, :-1])
    hi = np.minimum(edges_out[1:, None], edges_in[None, 1:])
    w = np.clip(hi - lo, 0.0, None)
    return w / w.sum(axis=1, keepdims=True)


def _nasal_profile(n_sections: int) -> np.ndarray:
    """Fixed nasal-cavity areas (cm²) from just above the port to the nostrils, ≈ 25 cm³."""
    x = (np.arange(n_sections) + 0.5) / n_sections
    return np.interp(x, [0.0, 0.25, 0.75, 1.0], [1.5, 3.0, 2.5, 1.0])


def _filtered_noise(
    rng: np.random.Generator, n: int, fs: float, low_hz: float, high_hz: float | None = None
) -> np.ndarray:
    """Unit-variance white noise, 2nd-order high-passed at ``low_hz`` and, if given,
    1st-order low-passed at ``high_hz`` (a gentle tilt, as in glottal noise)."""
    x = signal.sosfilt(
        signal.butter(2, min(low_hz, 0.45 * fs), btype="highpass", fs=fs, output="sos"),
        rng.standard_normal(n),
    )
    if high_hz is not None:
        x = signal.sosfilt(
            signal.butter(1, min(high_hz, 0.45 * fs), btype="lowpass", fs=fs, output="sos"), x
        )
    return x


def _tube_layout(length_cm: float, fs: float, p: AcousticParams) -> tuple[int, int, int]:
    """(oral sections M, velum junction index, nasal sections incl. port) for Δx = c / fs."""
    dx = p.speed_of_sound_cm_s / fs
    m = max(4, int(round(length_cm / dx)))
    velum = int(np.clip(round(p.velum_position * m), 1, m - 1))
    k_nasal = max(2, int(round(p.nasal_length_cm / dx)))
    return m, velum, k_nasal


def _run_tube(
    kl_areas: np.ndarray,
    port: np.ndarray,
    fric_idx: np.ndarray,
    source: np.ndarray,
    fric: np.ndarray,
    velum: int,
    k_nasal: int,
    fs: float,
    p: AcousticParams,
) -> np.ndarray:
    """Lip + nostril volume velocity ``(n,)`` at the internal rate ``fs``."""
    lip_pole = math.exp(-2 * math.pi * p.lip_lowpass_hz / fs) if p.lip_lowpass_hz > 0 else 0.0
    return _kelly_lochbaum(
        np.ascontiguousarray(kl_areas, dtype=np.float64),
        np.ascontiguousarray(port, dtype=np.float64),
        _nasal_profile(k_nasal - 1),
        np.ascontiguousarray(fric_idx, dtype=np.int64),
        np.ascontiguousarray(source, dtype=np.float64),
        np.ascontiguousarray(fric, dtype=np.float64),
        p.block_size,
        velum,
        p.glottal_reflection,
        p.lip_reflection,
        lip_pole,
        p.nostril_reflection,
        p.section_loss,
        p.nasal_section_loss,
    )


# --------------------------------------------------------------------------- public API


def synthesize_speech(
    areas_cm2: np.ndarray,
    section_length_cm: np.ndarray | float,
    nasal_port_cm2: np.ndarray,
    voicing: np.ndarray,
    f0_hz: np.ndarray,
    aspiration: np.ndarray,
    *,
    control_rate_hz: float,
    sample_rate: int = 16000,
    rng: np.random.Generator,
    params: AcousticParams | None = None,
) -> np.ndarray:
    """Synthesise speech audio from a time-varying area function.

    Control step ``k`` describes the interval ``[k, k+1) / control_rate_hz``; values are
    linearly interpolated between step centres (held at the ends).

    Args:
        areas_cm2: ``(N, S)`` cross-sectional areas glottis → lips (cm², ≥ 0; 0 = closure).
        section_length_cm: ``(N,)`` or scalar length of each of the S sections (cm).
        nasal_port_cm2: ``(N,)`` velopharyngeal port area (cm², 0 = closed).
        voicing: ``(N,)`` 0..1 vocal-fold vibration (gated off further by closure).
        f0_hz: ``(N,)`` fundamental frequency (Hz), > 0 wherever voicing > 0.
        aspiration: ``(N,)`` 0..1 glottal noise (/h/, aspirated stops).
        control_rate_hz: control steps per second (e.g. the MRI frame rate).
        sample_rate: output rate (Hz).
        rng: source of all randomness (jitter, shimmer, noise): same seed → same audio.
        params: constants; defaults if None.

    Returns:
        ``(round(N / control_rate_hz * sample_rate),)`` float32 waveform whose peak is
        ``params.peak_dbfs`` (−3 dBFS by default), or all zeros if nothing was excited.

    Raises:
        ValueError: shape mismatch, NaN/inf, negative areas, out-of-range gates, f0 ≤ 0 where
            voiced, or bad rates.
    """
    p = params or AcousticParams()
    areas, seclen, port, voi, f0, asp = _check_inputs(
        areas_cm2, section_length_cm, nasal_port_cm2, voicing, f0_hz, aspiration,
        control_rate_hz, sample_rate,
    )  # fmt: skip
    n_ctrl, n_in = areas.shape
    n_out = int(round(n_ctrl / control_rate_hz * sample_rate))
    if n_out == 0:
        return np.zeros(0, dtype=np.float32)
    fs = float(sample_rate * p.oversampling)
    n_int = n_out * p.oversampling
    bs = p.block_size
    n_blocks = -(-n_int // bs)

    # Tube geometry: fixed section count from the median length (Δx = c / fs).
    length = float(np.median(seclen) * n_in)
    m, velum, k_nasal = _tube_layout(length, fs, p)
    logger.debug("KL tube: %d sections (tract %.2f cm), nasal %d", m, length, k_nasal)

    # Control values at step centres → blocks / samples.
    t_ctrl = (np.arange(n_ctrl) + 0.5) / control_rate_hz
    t_blk = (np.arange(n_blocks) * bs + 0.5 * bs) / fs
    t_smp = np.arange(n_int) / fs
    idx = np.interp(t_blk, t_ctrl, np.arange(n_ctrl))
    i0 = np.floor(idx).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_ctrl - 1)
    frac = (idx - i0)[:, None]
    blk_areas = (1.0 - frac) * areas[i0] + frac * areas[i1]  # (n_blocks, S)
    blk_port = np.interp(t_blk, t_ctrl, port)

    # Narrowest constriction and outlet area per block, from the input resolution.
    v_in = int(np.clip(round(p.velum_position * n_in), 1, n_in - 1))
    supra = blk_areas[:, 1:]  # section 0 is the glottal end
    j_min = np.argmin(supra, axis=1) + 1
    a_min = supra[np.arange(n_blocks), j_min - 1]
    below = blk_areas[:, 1:v_in].min(axis=1) if v_in > 1 else np.full(n_blocks, np.inf)
    outlet = np.minimum(below, blk_areas[:, v_in:].min(axis=1) + blk_port)

    # Internal areas: overlap-weighted harmonic mean keeps ∫dx/A of short constrictions.
    w = _overlap_weights(n_in, m)
    a_floor = np.maximum(blk_areas, p.min_area_cm2)
    kl_areas = 1.0 / ((1.0 / a_floor) @ w.T)  # (n_blocks, M)
    # Hold the constriction place while the tract is open, so a release burst is injected
    # where the closure was, not at whatever section happens to be narrowest afterwards.
    narrow = a_min < p.frication_area_cm2
    last = np.maximum.accumulate(np.where(narrow, np.arange(n_blocks), -1))
    j_src = np.where(last >= 0, j_min[np.maximum(last, 0)], j_min)
    fric_idx = np.minimum((j_src + 0.5) / n_in * m, m - 1).astype(np.int64)

    # Voicing: input gate × closure gate with voice-bar decay.
    closure_target = (outlet >= p.voicing_stop_area_cm2).astype(np.float64)
    closure_gate = _asymmetric_smooth(
        np.repeat(closure_target, bs)[:n_int],
        math.exp(-1.0 / (p.voicing_onset_s * fs)),
        math.exp(-1.0 / (p.voice_bar_s * fs)),
    )
    voicing_s = np.interp(t_smp, t_ctrl, voi) * closure_gate
    voiced_ctrl = voi > 0
    f0_fill = (
        np.interp(np.arange(n_ctrl), np.flatnonzero(voiced_ctrl), f0[voiced_ctrl])
        if voiced_ctrl.any()
        else np.full(n_ctrl, 100.0)
    )
    f0_s = np.interp(t_smp, t_ctrl, f0_fill)

    # Sources (all randomness from rng, drawn in a fixed order).
    n_periods = int(np.sum(f0_s) / fs * 1.5) + 8
    jit = np.clip(1.0 + p.jitter * rng.standard_normal(n_periods), 0.5, 1.5)
    shim = np.clip(1.0 + p.shimmer * rng.standard_normal(n_periods), 0.0, 2.0)
    asp_noise = _filtered_noise(rng, n_int, fs, p.aspiration_cutoff_hz, p.aspiration_tilt_hz)
    fric_noise = _filtered_noise(rng, n_int, fs, p.frication_cutoff_hz)
    flow = _rosenberg_flow(f0_s, fs, p.open_quotient, p.speed_quotient, jit, shim)
    source = flow * voicing_s + p.aspiration_level * np.interp(t_smp, t_ctrl, asp) * asp_noise
    fric_amp = frication_gain(a_min, np.interp(t_blk, t_ctrl, voi), p)
    # Release burst: pressure builds up behind a closure and vents as a short noise transient.
    fs_blk = fs / bs
    pressure = _asymmetric_smooth(
        (a_min < p.closure_area_cm2).astype(np.float64),
        math.exp(-1.0 / (p.pressure_buildup_s * fs_blk)),
        math.exp(-1.0 / (p.burst_s * fs_blk)),
    )
    fric_amp = fric_amp + p.burst_level * pressure * _smoothstep(a_min / p.closure_area_cm2)
    fric = fric_noise * np.interp(t_smp, t_blk, fric_amp)

    u_out = _run_tube(kl_areas, blk_port, fric_idx, source, fric, velum, k_nasal, fs, p)
    radiated = np.diff(u_out, prepend=0.0)  # radiation: pressure ∝ dU/dt
    y = signal.resample_poly(radiated, 1, p.oversampling) if p.oversampling > 1 else radiated
    y = y[:n_out]
    peak = float(np.max(np.abs(y)))
    if peak < 1e-12:
        return np.zeros(n_out, dtype=np.float32)
    return (y * (10.0 ** (p.peak_dbfs / 20.0) / peak)).astype(np.float32)


def tube_transfer_function(
    areas_cm2: np.ndarray,
    section_length_cm: float | np.ndarray,
    sample_rate: int = 16000,
    *,
    n_freqs: int = 4097,
    radiation: bool = True,
    attenuation_per_cm: float = 0.002,
    params: AcousticParams | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Volume-velocity transfer function U_lips / U_glottis of a static tube (chain matrices).

    An independent frequency-domain reference for the KL simulation: exact section lengths,
    a small uniform attenuation (``k = ω/c − jα``; α = 0.002 /cm gives B ≈ αc/π ≈ 22 Hz, close
    to B1 of a 17.7 cm tube) and optionally a baffled-piston radiation impedance (adds an end
    correction ≈ 0.85 × lip radius). No nasal branch.

    Args:
        areas_cm2: ``(S,)`` positive areas glottis → lips (cm²).
        section_length_cm: scalar or ``(S,)`` section lengths (cm).
        sample_rate: the frequency grid spans 0 … sample_rate/2 (Hz).
        n_freqs: number of grid points.
        radiation: include the radiation impedance at the lips (else an ideal open end).
        attenuation_per_cm: α in 1/cm (≥ 0).
        params: speed of sound and air density; defaults if None.

    Returns:
        ``(freqs (n_freqs,) Hz, H (n_freqs,) complex)``.
    """
    p = params or AcousticParams()
    a = np.asarray(areas_cm2, dtype=np.float64)
    if a.ndim != 1 or a.size < 1 or np.any(~np.isfinite(a)) or np.any(a <= 0):
        raise ValueError("tube_transfer_function: areas_cm2 must be (S,) finite and > 0")
    lens = np.broadcast_to(np.asarray(section_length_cm, dtype=np.float64), a.shape)
    if np.any(~np.isfinite(lens)) or np.any(lens <= 0):
        raise ValueError("tube_transfer_function: section_length_cm must be finite and > 0")
    if attenuation_per_cm < 0:
        raise ValueError("tube_transfer_function: attenuation_per_cm must be ≥ 0")
    rho_c = p.air_density_g_cm3 * p.speed_of_sound_cm_s
    freqs = np.linspace(0.0, sample_rate / 2.0, n_freqs)
    k = 2 * np.pi * freqs / p.speed_of_sound_cm_s - 1j * attenuation_per_cm
    # Running chain product [[A, B], [C, D]] per frequency.
    ma, mb = np.ones_like(k), np.zeros_like(k)
    mc, md = np.zeros_like(k), np.ones_like(k)
    for area, length in zip(a, lens):
        z = rho_c / area
        cs, sn = np.cos(k * length), np.sin(k * length)
        ka, kb, kc, kd = cs, 1j * z * sn, 1j * sn / z, cs
        ma, mb, mc, md = ma * ka + mb * kc, ma * kb + mb * kd, mc * ka + md * kc, mc * kb + md * kd
    if radiation:
        kr = 2 * np.pi * freqs / p.speed_of_sound_cm_s * math.sqrt(a[-1] / math.pi)
        z_rad = rho_c / a[-1] * (0.5 * kr**2 + 1j * 8.0 / (3.0 * math.pi) * kr)
    else:
        z_rad = np.zeros_like(k)
    return freqs, 1.0 / (mc * z_rad + md)


def kl_transfer_function(
    areas_cm2: np.ndarray,
    section_length_cm: float | np.ndarray,
    sample_rate: int = 16000,
    *,
    nasal_port_cm2: float = 0.0,
    duration_s: float = 0.5,
    params: AcousticParams | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Transfer function of the time-domain KL tube used by :func:`synthesize_speech`.

    A unit volume-velocity impulse enters at the glottis of the static tube (same section
    mapping, nasal branch and losses as the synthesiser); the lip + nostril volume velocity
    is Fourier-transformed. No radiation differentiator.

    Args:
        areas_cm2: ``(S,)`` areas glottis → lips (cm², ≥ 0).
        section_length_cm: scalar or ``(S,)`` section lengths (cm); their sum is the length.
        sample_rate: output rate the synthesiser would use (Hz); internal rate is
            ``oversampling`` times higher.
        nasal_port_cm2: velopharyngeal port area (cm²).
        duration_s: impulse-response length (s); sets the frequency resolution.
        params: constants; defaults if None.

    Returns:
        ``(freqs (F,) Hz up to sample_rate/2, H (F,) complex)``.
    """
    p = params or AcousticParams()
    a = np.asarray(areas_cm2, dtype=np.float64)
    if a.ndim != 1 or a.size < 2 or np.any(~np.isfinite(a)) or np.any(a < 0):
        raise ValueError("kl_transfer_function: areas_cm2 must be (S,), S ≥ 2, finite, ≥ 0")
    lens = np.broadcast_to(np.asarray(section_length_cm, dtype=np.float64), a.shape)
    if np.any(~np.isfinite(lens)) or np.any(lens <= 0):
        raise ValueError("kl_transfer_function: section_length_cm must be finite and > 0")
    if not nasal_port_cm2 >= 0:
        raise ValueError("kl_transfer_function: nasal_port_cm2 must be ≥ 0")
    fs = float(sample_rate * p.oversampling)
    n = int(round(duration_s * fs))
    m, velum, k_nasal = _tube_layout(float(lens.sum()), fs, p)
    # Map by length fraction, as the synthesiser does (harmonic mean over the overlap).
    edges = np.concatenate([[0.0], np.cumsum(lens)]) / lens.sum()
    w = _overlap_weights_edges(edges, m)
    kl_areas = 1.0 / ((1.0 / np.maximum(a, p.min_area_cm2)) @ w.T)
    n_blocks = -(-n // p.block_size)
    source = np.zeros(n)
    source[0] = 1.0
    u = _run_tube(
        np.repeat(kl_areas[None], n_blocks, axis=0),
        np.full(n_blocks, float(nasal_port_cm2)),
        np.zeros(n_blocks, dtype=np.int64),
        source,
        np.zeros(n),
        velum,
        k_nasal,
        fs,
        p,
    )
    h = np.fft.rfft(u)
    freqs = np.fft.rfftfreq(n, 1.0 / fs)
    keep = freqs <= sample_rate / 2.0
    return freqs[keep], h[keep]


def _peak_frequencies(freqs: np.ndarray, h: np.ndarray, n_peaks: int) -> np.ndarray:
    """The lowest ``n_peaks`` local maxima of |h| above 100 Hz (Hz, parabolic refinement)."""
    mag = np.log(np.abs(h) + 1e-30)
    peaks, _ = signal.find_peaks(mag)
    peaks = peaks[(freqs[peaks] > 100.0) & (peaks < mag.size - 1)]
    out = np.full(n_peaks, np.nan)
    for i, pk in enumerate(peaks[:n_peaks]):
        y0, y1, y2 = mag[pk - 1], mag[pk], mag[pk + 1]
        den = y0 - 2 * y1 + y2
        shift = 0.5 * (y0 - y2) / den if den != 0 else 0.0
        out[i] = freqs[pk] + shift * (freqs[1] - freqs[0])
    return out


def tube_formants(
    areas_cm2: np.ndarray,
    section_length_cm: float | np.ndarray,
    n_formants: int = 4,
    *,
    method: str = "chain",
    radiation: bool = True,
    nasal_port_cm2: float = 0.0,
    params: AcousticParams | None = None,
) -> np.ndarray:
    """Resonance frequencies (Hz) of a static tube: the lowest peaks of |H| above 100 Hz.

    Args:
        areas_cm2: ``(S,)`` areas glottis → lips (cm²).
        section_length_cm: scalar or ``(S,)`` lengths (cm).
        n_formants: how many to return.
        method: ``"chain"`` (:func:`tube_transfer_function`, exact lengths, oral only) or
            ``"kl"`` (:func:`kl_transfer_function`, the synthesiser's own tube).
        radiation: chain method only; see :func:`tube_transfer_function`.
        nasal_port_cm2: KL method only.
        params: constants; defaults if None.

    Returns:
        ``(n_formants,)`` Hz, NaN-padded if fewer peaks lie below 8 kHz.
    """
    if method == "chain":
        freqs, h = tube_transfer_function(
            areas_cm2, section_length_cm, 16000, n_freqs=16001, radiation=radiation, params=params
        )
    elif method == "kl":
        freqs, h = kl_transfer_function(
            areas_cm2, section_length_cm, 16000, nasal_port_cm2=nasal_port_cm2, duration_s=1.0,
            params=params,
        )  # fmt: skip
    else:
        raise ValueError(f"tube_formants: method must be 'chain' or 'kl', got {method!r}")
    return _peak_frequencies(freqs, h, n_formants)


def scanner_noise(
    n_samples: int,
    sample_rate: int,
    *,
    tr_s: float = 0.006004,
    rng: np.random.Generator,
    level_db: float = -20.0,
) -> np.ndarray:
    """MRI gradient noise as heard by an in-bore microphone.

    Periodic part: harmonics of the repetition rate ``1/TR`` (166.6 Hz for USC's 6.004 ms),
    random phases, shaped by a smooth envelope peaking near 1 and 2.5 kHz (gradient coil
    mechanical resonances), with a slow ±10 % amplitude wobble. Broadband part: pink-ish
    noise 10 dB below the periodic part.

    Args:
        n_samples: output length.
        sample_rate: Hz.
        tr_s: repetition time in s (> 0).
        rng: randomness source.
        level_db: RMS level of the result in dBFS.

    Returns:
        ``(n_samples,)`` float32.
    """
    if n_samples < 0 or sample_rate <= 0 or not tr_s > 0:
        raise ValueError(
            f"scanner_noise: need n_samples ≥ 0, sample_rate > 0, tr_s > 0; "
            f"got {n_samples}, {sample_rate}, {tr_s}"
        )
    if n_samples == 0:
        return np.zeros(0, dtype=np.float32)
    t = np.arange(n_samples) / sample_rate
    f_rep = 1.0 / tr_s
    harmonics = np.arange(1, int(0.5 * sample_rate / f_rep) + 1) * f_rep
    harmonics = harmonics[harmonics < 0.48 * sample_rate]
    env = (
        np.exp(-0.5 * ((harmonics - 1000.0) / 500.0) ** 2)
        + 0.6 * np.exp(-0.5 * ((harmonics - 2500.0) / 700.0) ** 2)
        + 0.05
    )
    phases = rng.uniform(0, 2 * np.pi, harmonics.size)
    periodic = np.zeros(n_samples)
    for f, e, ph in zip(harmonics, env, phases):
        periodic += e * np.cos(2 * np.pi * f * t + ph)
    periodic *= 1.0 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t + rng.uniform(0, 6.3))
    white = rng.standard_normal(n_samples)
    pink = signal.lfilter([1.0], [1.0, -0.9], white)
    pink *= np.std(periodic) / (np.std(pink) + 1e-12) * 10 ** (-10 / 20)
    noise = periodic + pink
    noise *= 10 ** (level_db / 20.0) / (np.sqrt(np.mean(noise**2)) + 1e-12)
    return noise.astype(np.float32)


def denoise(
    noisy: np.ndarray,
    sample_rate: int,
    noise_reference: np.ndarray,
    *,
    n_fft: int = 1024,
    hop_length: int = 256,
    over_subtraction: float = 1.5,
    floor: float = 0.05,
) -> np.ndarray:
    """Spectral subtraction with a noise-only reference (e.g. scanner noise before speech).

    The reference's mean magnitude spectrum is scaled by ``over_subtraction`` and subtracted
    from each STFT frame's magnitude; the gain is floored at ``floor`` (limits musical noise)
    and smoothed over 3 frames; the noisy phase is kept.

    Args:
        noisy: ``(n,)`` waveform.
        sample_rate: Hz (only for validation; the method is rate-agnostic).
        noise_reference: ``(m,)`` noise-only waveform, m ≥ n_fft.
        n_fft, hop_length: STFT parameters (samples).
        over_subtraction: α ≥ 1.
        floor: minimum gain in (0, 1].

    Returns:
        ``(n,)`` float32 denoised waveform.
    """
    x = np.asarray(noisy, dtype=np.float32)
    ref = np.asarray(noise_reference, dtype=np.float32)
    if x.ndim != 1 or ref.ndim != 1:
        raise ValueError("denoise: noisy and noise_reference must be 1-D")
    if sample_rate <= 0:
        raise ValueError(f"denoise: sample_rate must be > 0, got {sample_rate}")
    if ref.size < n_fft:
        raise ValueError(f"denoise: noise_reference needs ≥ n_fft={n_fft} samples, got {ref.size}")
    if not np.all(np.isfinite(x)) or not np.all(np.isfinite(ref)):
        raise ValueError("denoise: inputs contain NaN or inf")
    if x.size == 0:
        return x
    noise_mag = np.abs(librosa.stft(ref, n_fft=n_fft, hop_length=hop_length)).mean(axis=1)
    spec = librosa.stft(x, n_fft=n_fft, hop_length=hop_length)
    mag = np.abs(spec)
    gain = np.clip(1.0 - over_subtraction * noise_mag[:, None] / (mag + 1e-12), floor, 1.0)
    gain = signal.lfilter(np.ones(3) / 3, [1.0], gain, axis=1)  # soften frame-to-frame jumps
    gain = np.maximum(gain, floor)
    out = librosa.istft(spec * gain, hop_length=hop_length, n_fft=n_fft, length=x.size)
    return out.astype(np.float32)
