"""Articulatory planning: timed phones -> smooth articulator trajectories (task dynamics).

Every articulatory parameter follows a critically damped point attractor
``z'' + 2 w z' + w^2 (z - z0) = 0`` (Saltzman & Munhall 1989) whose target ``z0`` switches at
gesture onsets.  Two layers set the targets:

- a *vowel layer* (V-to-V, Ohman 1966): vowels set every articulator; during consonants it already
  aims at the next vowel, so articulators a consonant does not use follow the neighbouring vowels
  (coarticulation); long silences relax to a rest posture;
- a *consonant layer* that overrides only the articulators of the consonant's place and manner
  (lips for /p b m/, tongue tip for dentals/alveolars/retroflexes, dorsum for palatals/velars,
  velum for nasals and oral obstruents) with stiffer gestures whose targets lie beyond contact
  (negative lip aperture, tongue pressed into the palate; Lofqvist & Gracco).  Their onsets are
  anticipatory and solved so that contact (or the fricative gap) is reached at the labelled
  segment start.

The solution is piecewise closed-form, so planning is far faster than real time.

The state layout (:data:`ARTICULATORY_PARAMS`) and the reference postures (:func:`neutral_state`,
:func:`rest_state`) live in :mod:`mrisynth.phantom.articulatory_state`, below both this module and
:mod:`mrisynth.phantom.geometry`; they are re-exported here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from mrisynth.phantom.anatomy import SpeakerAnatomy
from mrisynth.phantom.articulatory_state import (
    ARTICULATORY_PARAMS,
    N_PARAMS,
    PARAM_INDEX,
    neutral_state,
    rest_state,
)
from mrisynth.phantom.geometry import VocalTractGeometry
from mrisynth.phantom.inventory import SILENCE, Phoneme, PhoneSegment

__all__ = [
    "ARTICULATORY_PARAMS",
    "Trajectory",
    "plan_trajectory",
    "neutral_state",
    "rest_state",
    "vowel_targets",
    "VOWEL_CORNERS",
    "consonant_gestures",
    "critically_damped_step",
]

_I = PARAM_INDEX
_P = N_PARAMS

#: Natural frequencies w (1/s): vowel-layer (soft) and consonant-gesture (stiff) values.
_W_VOWEL = dict(
    jaw_open_mm=28.0, lip_aperture_mm=30.0, lip_protrusion_mm=25.0, lip_width_mm=25.0,
    tongue_body_back_mm=28.0, tongue_body_height_mm=28.0, tongue_tip_back_mm=32.0,
    tongue_tip_height_mm=32.0, tongue_tip_curl=35.0, velum_port_mm=22.0, larynx_height_mm=15.0,
    voicing=300.0, aspiration=200.0,
)  # fmt: skip
_W_CONS = dict(
    jaw_open_mm=45.0, lip_aperture_mm=60.0, lip_protrusion_mm=40.0, lip_width_mm=40.0,
    tongue_body_back_mm=45.0, tongue_body_height_mm=45.0, tongue_tip_back_mm=60.0,
    tongue_tip_height_mm=60.0, tongue_tip_curl=60.0, velum_port_mm=30.0, larynx_height_mm=25.0,
    voicing=300.0, aspiration=200.0,
)  # fmt: skip

#: Gap (mm) of the consonant's constriction by manner; negative = target beyond contact.
_GAP = dict(stop=-2.0, nasal=-2.0, affricate=-2.0, tap=-1.0, trill=-1.0, fricative=1.0, lateral=1.5,
            approximant=4.0)  # fmt: skip
#: How close (mm) the key articulator must be to its target at the labelled segment start.
_REACH_TOL = dict(stop=2.0, nasal=2.0, affricate=2.0, tap=1.0, trill=1.0, fricative=0.6, lateral=0.8,
                  approximant=1.5)  # fmt: skip
_CLOSURE = ("stop", "nasal", "affricate")


def critically_damped_step(
    t: np.ndarray, z0: float, target: float, omega: float, v0: float = 0.0
) -> np.ndarray:
    """Closed-form solution of ``z'' + 2w z' + w^2 (z - target) = 0`` from ``(z0, v0)`` at t = 0."""
    e0 = z0 - target
    b = v0 + omega * e0
    return target + (e0 + b * t) * np.exp(-omega * t)


#: Tongue-body displacement (mm, before the speaker's oral scale) at the corners of the vowel
#: quadrilateral, as ``(back, height)``: close front /i/ (forward and up, a long palatal
#: constriction and a wide pharynx), close back /u/ (up and back towards the velum), open front
#: /ae/ and open back /A/ (down and back into the pharynx).  Intermediate vowels interpolate
#: bilinearly in (height, backness).  Tuned so that the tube formants of the area function fall
#: near the Hillenbrand (1995) means (see tests/phantom/test_vowel_formants.py).
VOWEL_CORNERS: dict[str, tuple[float, float]] = {
    "close_front": (-9.5, 4.0),
    "close_back": (3.0, 1.0),
    "open_front": (3.8, -10.5),
    "open_back": (5.0, -10.5),
}


def _corner_blend(h: float, b: float, k: int) -> float:
    c = VOWEL_CORNERS
    close = (1.0 - b) * c["close_front"][k] + b * c["close_back"][k]
    open_ = (1.0 - b) * c["open_front"][k] + b * c["open_back"][k]
    return h * close + (1.0 - h) * open_


def vowel_targets(ph: Phoneme, anatomy: SpeakerAnatomy) -> np.ndarray:
    """Full target state ``(P,)`` of a vowel from height/backness/rounding (Maeda-like presets:
    /i/ high-front with a small jaw, spread lips and a raised larynx; /a/ low with a large jaw and
    the dorsum pushed down and back into the pharynx; /u/ high-back with protruded, narrow lips
    and a lowered larynx)."""
    if ph.kind != "vowel":
        raise ValueError(f"vowel_targets: {ph.symbol!r} is not a vowel")
    h = 0.5 if ph.height is None else float(ph.height)
    b = 0.5 if ph.backness is None else float(ph.backness)
    s = anatomy.oral_scale
    front_close = h * (1.0 - b)
    x = neutral_state(anatomy)
    jaw = 2.5 + 13.0 * (1.0 - h)
    x[_I["jaw_open_mm"]] = jaw
    x[_I["tongue_body_back_mm"]] = _corner_blend(h, b, 0) * s
    x[_I["tongue_body_height_mm"]] = _corner_blend(h, b, 1) * s
    # the tip rests behind the lower incisors (it rides on the jaw); front vowels keep it low
    x[_I["tongue_tip_back_mm"]] = 0.2 * x[_I["tongue_body_back_mm"]] + 2.0 * (1.0 - h)
    x[_I["tongue_tip_height_mm"]] = (
        -0.8 * (jaw - 7.0) + 0.3 * x[_I["tongue_body_height_mm"]] - 3.5 * front_close
    )
    ap = 3.0 + 0.85 * jaw
    if ph.rounded:
        x[_I["lip_aperture_mm"]] = min((0.5 - 0.1 * h) * ap, 7.0)
        x[_I["lip_protrusion_mm"]] = 6.0 * (0.5 + 0.5 * h)
        x[_I["lip_width_mm"]] = 37.0 - 7.0 * h
    else:
        x[_I["lip_aperture_mm"]] = ap
        x[_I["lip_protrusion_mm"]] = -3.0 * front_close  # spread lips
        x[_I["lip_width_mm"]] = 44.0 + 8.0 * front_close
    x[_I["larynx_height_mm"]] = -2.0 * float(ph.rounded) + 3.0 * front_close
    x[_I["voicing"]] = 1.0
    return x


@dataclasses.dataclass
class _Gesture:
    """One consonant gesture: targets for some params over ``[t_on, t_off)``.

    ``key``/``reach`` (optional): the param whose value must cross ``reach`` at ``t_c``; the onset
    ``t_on`` is solved for that.
    """

    t_on: float
    t_c: float
    t_off: float
    targets: dict[str, float]
    key: str | None = None
    reach: float | None = None


def consonant_gestures(
    ph: Phoneme, geom: VocalTractGeometry, t_start: float, t_end: float
) -> list[_Gesture]:
    """Gestures of one consonant segment ``[t_start, t_end)`` (oral, velum and source).

    Constriction targets are placed at the geometry's contact landmarks
    (:attr:`VocalTractGeometry.landmarks`, computed once per geometry).
    """
    s = geom.scale
    marks = geom.landmarks
    place, manner = ph.place, ph.manner or "stop"
    gap = _GAP.get(manner, 0.0)
    tol = _REACH_TOL.get(manner, 1.0)
    dur = t_end - t_start
    release = t_start + 0.6 * dur if (ph.aspirated and manner in ("stop", "affricate")) else t_end
    out: list[_Gesture] = []
    tg: dict[str, float] = {}
    key: str | None = None
    reach: float | None = None
    if place == "bilabial":
        ap = -4.0 if manner in _CLOSURE else max(gap, 0.5)
        tg = {"lip_aperture_mm": ap, "jaw_open_mm": 5.0}
        if ph.rounded:
            tg.update(lip_protrusion_mm=6.0, lip_width_mm=37.0)
        key, reach = "lip_aperture_mm", ap + (4.0 if manner in _CLOSURE else tol)
    elif place == "labiodental":
        tg = {"lip_aperture_mm": 1.0, "lip_protrusion_mm": -2.0, "jaw_open_mm": 4.0}
        key, reach = "lip_aperture_mm", 1.0 + tol
    elif place in ("dental", "alveolar", "postalveolar", "retroflex"):
        p, n = marks[place]
        g = gap - (1.0 if place == "retroflex" and manner in _CLOSURE else 0.0)
        c = p + n * (geom.tip_radius + g)
        back, height = c[0] - geom.tip0[0], -(c[1] - geom.tip0[1])
        tg = {"tongue_tip_back_mm": back, "tongue_tip_height_mm": height, "tongue_tip_curl": 0.0,
              "jaw_open_mm": 2.5 if manner in ("fricative", "affricate") else 3.5}  # fmt: skip
        if place == "retroflex":
            # tip raised, curled and retracted behind the ridge; lower larynx (Kochetov 2023)
            tg.update(tongue_tip_curl=1.0 if manner == "approximant" else 0.8, larynx_height_mm=-3.0,
                      jaw_open_mm=4.0)  # fmt: skip
        if place == "postalveolar":
            tg["tongue_body_height_mm"] = 3.0 * s
            tg["lip_protrusion_mm"] = 3.0
        key, reach = "tongue_tip_height_mm", height - (abs(g) if g < 0 else tol)
    elif place in ("palatal", "velar"):
        p, n = marks[place]
        c = p + n * (geom.tongue_radius + gap)
        back, height = c[0] - geom.body0[0], -(c[1] - geom.body0[1])
        tg = {"tongue_body_back_mm": back, "tongue_body_height_mm": height,
              "jaw_open_mm": 4.0 if place == "palatal" else 6.0}  # fmt: skip
        if place == "palatal":
            tg["tongue_tip_height_mm"] = -1.0
        key, reach = "tongue_body_height_mm", height - (abs(gap) if gap < 0 else tol)
    if tg:
        out.append(_Gesture(t_start, t_start, release, tg, key, reach))
    # velum: open for nasals (anticipated), firmly shut for oral obstruents
    if manner == "nasal":
        out.append(
            _Gesture(t_start, t_start, t_end, {"velum_port_mm": 4.0 * s}, "velum_port_mm", 1.5)
        )
    elif manner in ("stop", "fricative", "affricate") and place != "glottal":
        out.append(_Gesture(t_start, t_start, t_end, {"velum_port_mm": -2.0}, "velum_port_mm", 0.0))
    # source: no anticipation (voicing/aspiration follow the labels)
    src = {"voicing": 1.0 if ph.voiced else 0.0, "aspiration": 0.0}
    if place == "glottal":
        src["aspiration"] = 1.0
    out.append(_Gesture(t_start, t_start, release, src))
    if release < t_end:
        asp = {"aspiration": 0.6 if ph.voiced else 1.0, "voicing": 1.0 if ph.voiced else 0.0}
        out.append(_Gesture(release, release, t_end + 0.01, asp))
    return out


@dataclasses.dataclass
class Trajectory:
    """Articulator trajectories at a fixed control rate.

    Attributes:
        times_s: ``(N,)`` sample times (s).
        params: ``(N, P)`` float32 in :data:`ARTICULATORY_PARAMS` order.
        segments: the phone segments that drove it.
        head_pose: ``(N, 3)`` small rigid head motion: dx_mm, dy_mm, rotation_deg.
    """

    times_s: np.ndarray
    params: np.ndarray
    segments: list[PhoneSegment]
    head_pose: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.times_s)
        if self.params.shape != (n, _P):
            raise ValueError(f"Trajectory.params must be ({n}, {_P}), got {self.params.shape}")
        if self.head_pose.shape != (n, 3):
            raise ValueError(f"Trajectory.head_pose must be ({n}, 3), got {self.head_pose.shape}")

    def param(self, name: str) -> np.ndarray:
        """One parameter's ``(N,)`` trajectory."""
        if name not in _I:
            raise KeyError(f"unknown articulatory parameter {name!r}; known: {ARTICULATORY_PARAMS}")
        return self.params[:, _I[name]]

    def sample(self, times_s: np.ndarray) -> np.ndarray:
        """Linear interpolation at ``times_s (M,)`` -> ``(M, P)`` float32 (clamped at the ends)."""
        t = np.asarray(times_s, dtype=np.float64)
        pos = np.interp(t, self.times_s, np.arange(len(self.times_s), dtype=np.float64))
        i0 = np.clip(np.floor(pos).astype(int), 0, len(self.times_s) - 1)
        i1 = np.minimum(i0 + 1, len(self.times_s) - 1)
        w = (pos - i0)[:, None]
        return ((1 - w) * self.params[i0] + w * self.params[i1]).astype(np.float32)


def _evaluate(
    times: np.ndarray, t_ev: np.ndarray, tgt: np.ndarray, om: np.ndarray, z0: float
) -> np.ndarray:
    """Piecewise critically damped response: target ``tgt[k]`` with ``om[k]`` from ``t_ev[k]``."""
    n = len(t_ev)
    z_s = np.empty(n)
    v_s = np.empty(n)
    z, v = z0, 0.0
    for k in range(n):
        if k > 0:
            dt = t_ev[k] - t_ev[k - 1]
            e0 = z - tgt[k - 1]
            b = v + om[k - 1] * e0
            ex = np.exp(-om[k - 1] * dt)
            z, v = tgt[k - 1] + (e0 + b * dt) * ex, (b - om[k - 1] * (e0 + b * dt)) * ex
        z_s[k], v_s[k] = z, v
    k = np.clip(np.searchsorted(t_ev, times, side="right") - 1, 0, n - 1)
    tau = np.maximum(times - t_ev[k], 0.0)
    e0 = z_s[k] - tgt[k]
    b = v_s[k] + om[k] * e0
    return tgt[k] + (e0 + b * tau) * np.exp(-om[k] * tau)


def _compose(
    base: list[tuple[float, float, float]], overrides: list[tuple[float, float, float, float]]
):
    """Merge vowel-layer events ``(t, target, w)`` with override windows ``(t_on, t_off, target, w)``.

    Later overrides cut earlier ones; after a window the vowel-layer target resumes with the
    gesture's stiffness (release).  Returns sorted arrays ``(t, target, w)``.
    """
    base = sorted(base)
    bt = np.array([b[0] for b in base])
    ov = sorted(overrides)
    for i in range(len(ov) - 1):
        if ov[i][1] > ov[i + 1][0]:
            ov[i] = (ov[i][0], ov[i + 1][0], ov[i][2], ov[i][3])
    events = [b for b in base if not any(o[0] <= b[0] < o[1] for o in ov)]
    for t_on, t_off, target, w in ov:
        events.append((t_on, target, w))
        if not any(o[0] <= t_off < o[1] for o in ov):
            k = max(int(np.searchsorted(bt, t_off, side="right")) - 1, 0)
            events.append((t_off, base[k][1], w))
    events.sort(key=lambda e: e[0])
    ev = np.array(events, dtype=np.float64)
    return ev[:, 0], ev[:, 1], ev[:, 2]


def _f0_contour(times: np.ndarray, segments: Sequence[PhoneSegment], f0_mean: float,
                rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    """Phrase-wise declination (+8 % -> -10 %) with a smooth seeded wobble; resets after pauses."""
    f0 = np.full_like(times, f0_mean)
    bounds = [0.0]
    for sg in segments:
        if sg.symbol == SILENCE and sg.duration_s >= 0.15:
            bounds += [sg.start_s, sg.end_s]
    bounds.append(float(times[-1]) + 1e-9)
    for a, b in zip(bounds[::2], bounds[1::2]):
        m = (times >= a) & (times < b)
        if b > a:
            f0[m] = f0_mean * (1.08 - 0.18 * (times[m] - a) / (b - a))
    ph = rng.uniform(0, 2 * np.pi, 3)
    fr = rng.uniform(0.8, 3.0, 3)
    wob = sum(0.015 * np.sin(2 * np.pi * f * times + p) for f, p in zip(fr, ph))
    return f0 * (1.0 + wob)


def _head_motion(times: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Slow seeded rigid head motion ``(N, 3)``: sub-mm translations, sub-degree rotation."""
    out = np.zeros((len(times), 3))
    amp = np.array([0.6, 0.6, 0.4])
    for j in range(3):
        fr = rng.uniform(0.03, 0.4, 3)
        ph = rng.uniform(0, 2 * np.pi, 3)
        w = rng.normal(0, 1, 3)
        out[:, j] = (
            amp[j]
            * (np.sin(2 * np.pi * fr[:, None] * times[None] + ph[:, None]) * w[:, None]).sum(0)
            / 2.0
        )
    return out


def plan_trajectory(
    segments: Sequence[PhoneSegment],
    anatomy: SpeakerAnatomy,
    *,
    rng: np.random.Generator,
    control_rate_hz: float = 1000.0,
    rate: float = 1.0,
    lookup: Callable[[str], Phoneme] | Mapping[str, Phoneme] | None = None,
) -> Trajectory:
    """Plan articulator trajectories for timed phones.

    Args:
        segments: contiguous or gapped phone segments (s); symbols from the inventory.
        anatomy: the speaker.
        rng: seeded generator (head motion, f0 wobble).
        control_rate_hz: sample rate of the trajectory (default 1 kHz).
        rate: speaking-rate factor; scales every gesture stiffness ``w`` (faster speech -> stiffer).
        lookup: symbol -> :class:`Phoneme` (mapping or function); default the shared inventory.

    Returns:
        :class:`Trajectory` from t = 0 to the end of the last segment.

    Raises:
        ValueError: empty/unsorted segments or bad rates; KeyError: unknown phoneme symbol.
    """
    if not segments:
        raise ValueError("plan_trajectory: segments is empty")
    if control_rate_hz <= 0 or rate <= 0:
        raise ValueError(
            f"plan_trajectory: control_rate_hz ({control_rate_hz}) and rate ({rate}) must be > 0"
        )
    segs = list(segments)
    for a, b in zip(segs, segs[1:]):
        if b.start_s < a.start_s - 1e-9 or a.end_s < a.start_s:
            raise ValueError(
                f"plan_trajectory: segments must be sorted and non-negative, got {a} then {b}"
            )
    if lookup is None:
        from mrisynth.phantom.inventory import phoneme as lookup_fn
    elif isinstance(lookup, Mapping):
        table = lookup

        def lookup_fn(sym: str) -> Phoneme:
            try:
                return table[sym]
            except KeyError:
                raise KeyError(f"phoneme {sym!r} is not in the given lookup table") from None
    else:
        lookup_fn = lookup
    phones = [lookup_fn(sg.symbol) for sg in segs]
    geom = VocalTractGeometry(anatomy)
    t_end = max(sg.end_s for sg in segs)
    times = np.arange(int(np.floor(t_end * control_rate_hz)) + 1) / control_rate_hz
    rest = rest_state(anatomy)

    # ---- vowel layer: (t, target vector)
    base_ev: list[tuple[float, np.ndarray]] = [
        (-1.0, rest if phones[0].kind == "silence" else neutral_state(anatomy))
    ]
    for i, (sg, ph) in enumerate(zip(segs, phones)):
        if ph.kind == "vowel":
            j = i
            while j > 0 and phones[j - 1].kind == "consonant":
                j -= 1
            if j < i:
                t_sw = segs[j].start_s
            elif i > 0 and phones[i - 1].kind == "silence":
                t_sw = sg.start_s - 0.08
            else:
                t_sw = sg.start_s - 0.02
            base_ev.append((t_sw, vowel_targets(ph, anatomy)))
        elif ph.kind == "silence" and sg.duration_s >= 0.12:
            base_ev.append((sg.start_s + 0.05, rest))
        if ph.kind == "silence":
            # source off in every pause
            base_ev.append((sg.start_s, None))
    # resolve "source off" markers into full vectors
    resolved: list[tuple[float, np.ndarray]] = []
    cur = base_ev[0][1]
    for t, v in sorted(base_ev[1:], key=lambda e: e[0]):
        if v is None:
            v = cur.copy()
            v[_I["voicing"]] = 0.0
            v[_I["aspiration"]] = 0.0
        cur = v
        resolved.append((t, v))
    resolved.insert(0, base_ev[0])

    # ---- consonant layer
    gestures: list[_Gesture] = []
    for sg, ph in zip(segs, phones):
        if ph.kind == "consonant":
            gestures += consonant_gestures(ph, geom, sg.start_s, sg.end_s)
        elif ph.kind == "vowel":
            gestures.append(
                _Gesture(sg.start_s, sg.start_s, sg.end_s, {"voicing": 1.0, "aspiration": 0.0})
            )

    names = [n for n in ARTICULATORY_PARAMS if n != "f0_hz"]
    w_scale = float(rate)

    def pieces(name: str):
        j = _I[name]
        base = [(t, float(v[j]), _W_VOWEL[name] * w_scale) for t, v in resolved]
        ov = [
            (g.t_on, g.t_off, g.targets[name], _W_CONS[name] * w_scale)
            for g in gestures
            if name in g.targets
        ]
        return _compose(base, ov)

    def run(name: str) -> np.ndarray:
        return _evaluate(times, *pieces(name), z0=float(resolved[0][1][_I[name]]))

    # ---- solve anticipatory onsets so key articulators reach contact at the labelled start
    keyed = [g for g in gestures if g.key is not None]
    for g in keyed:
        z_prev = float(
            np.interp(g.t_c, [t for t, _ in resolved], [v[_I[g.key]] for _, v in resolved])
        )
        w = _W_CONS[g.key] * w_scale
        tgt = g.targets[g.key]
        frac = (g.reach - tgt) / (z_prev - tgt) if abs(z_prev - tgt) > 1e-6 else 0.0
        if 0.0 < frac < 1.0:
            xs = np.linspace(0, 12, 1201)
            lead = xs[np.argmax((1 + xs) * np.exp(-xs) <= frac)] / w
        else:
            lead = 0.0
        g.t_on = g.t_c - min(lead, 0.3)
    for _ in range(4):
        worst = 0.0
        for key in sorted({g.key for g in keyed}):
            z = run(key)
            for g in (g for g in keyed if g.key == key):
                tgt = g.targets[key]
                i0 = int(np.searchsorted(times, g.t_on))
                i1 = int(np.searchsorted(times, g.t_off))
                seg_z = z[i0 : i1 + 1]
                if len(seg_z) < 2:
                    continue
                sign = 1.0 if seg_z[0] > tgt else -1.0
                crossed = np.flatnonzero(sign * (seg_z - g.reach) <= 0)
                t_cross = times[i0 + crossed[0]] if len(crossed) else g.t_off
                if len(crossed) and crossed[0] == 0:
                    t_cross = min(t_cross, g.t_c)
                err = t_cross - g.t_c
                worst = max(worst, abs(err))
                prev_on = max(
                    (h.t_on for h in keyed if h.key == key and h.t_c < g.t_c), default=-np.inf
                )
                g.t_on = float(np.clip(g.t_on - err, max(prev_on + 0.005, g.t_c - 0.3), g.t_c))
        if worst < 1.5 / control_rate_hz:
            break

    params = np.empty((len(times), _P), np.float32)
    for name in names:
        params[:, _I[name]] = run(name)
    params[:, _I["voicing"]] = np.clip(params[:, _I["voicing"]], 0.0, 1.0)
    params[:, _I["aspiration"]] = np.clip(params[:, _I["aspiration"]], 0.0, 1.0)
    params[:, _I["tongue_tip_curl"]] = np.clip(params[:, _I["tongue_tip_curl"]], 0.0, 1.0)
    params[:, _I["f0_hz"]] = _f0_contour(times, segs, anatomy.f0_mean_hz, rng)
    return Trajectory(
        times_s=times,
        params=params,
        segments=segs,
        head_pose=_head_motion(times, rng).astype(np.float32),
    )
