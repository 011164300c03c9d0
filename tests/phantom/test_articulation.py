"""Articulatory planning: targets, task dynamics, coarticulation, timing against phone labels."""

from __future__ import annotations

import time

import numpy as np
import pytest

from mrisynth.phantom.anatomy import SpeakerAnatomy, sample_anatomy
from mrisynth.phantom.articulation import (
    ARTICULATORY_PARAMS,
    Trajectory,
    critically_damped_step,
    plan_trajectory,
    vowel_targets,
)
from mrisynth.phantom.geometry import VocalTractGeometry
from mrisynth.phantom.inventory import Phoneme, PhoneSegment


def _v(sym, h, b, r=False):
    return Phoneme(sym, "vowel", voiced=True, height=h, backness=b, rounded=r)


def _c(sym, place, manner, voiced=False, aspirated=False):
    return Phoneme(sym, "consonant", place, manner, voiced, aspirated)


# Own small table, so these tests do not depend on the shared inventory's contents.
TABLE = {
    "_": Phoneme("_", "silence"),
    "a": _v("a", 0.0, 0.6),
    "i": _v("i", 1.0, 0.0),
    "u": _v("u", 1.0, 1.0, True),
    "ə": _v("ə", 0.5, 0.5),
    "p": _c("p", "bilabial", "stop"),
    "b": _c("b", "bilabial", "stop", True),
    "m": _c("m", "bilabial", "nasal", True),
    "t": _c("t", "alveolar", "stop"),
    "d": _c("d", "alveolar", "stop", True),
    "n": _c("n", "alveolar", "nasal", True),
    "t̪": _c("t̪", "dental", "stop"),
    "ʈ": _c("ʈ", "retroflex", "stop"),
    "ɳ": _c("ɳ", "retroflex", "nasal", True),
    "k": _c("k", "velar", "stop"),
    "g": _c("g", "velar", "stop", True),
    "s": _c("s", "alveolar", "fricative"),
    "kʰ": _c("kʰ", "velar", "stop", aspirated=True),
    "h": _c("h", "glottal", "fricative"),
}
IDX = {n: i for i, n in enumerate(ARTICULATORY_PARAMS)}


def segments(spec: str, dur: float = 0.12, pause: float = 0.3) -> list[PhoneSegment]:
    out, t = [], 0.0
    for sym in spec.split():
        d = pause if sym == "_" else (0.08 if TABLE[sym].kind == "consonant" else dur)
        out.append(PhoneSegment(sym, t, t + d))
        t += d
    return out


def plan(spec: str, seed: int = 0, anatomy: SpeakerAnatomy | None = None, **kw) -> Trajectory:
    return plan_trajectory(
        segments(spec, **kw),
        anatomy or SpeakerAnatomy(),
        rng=np.random.default_rng(seed),
        lookup=TABLE,
    )


def at(traj: Trajectory, seg: PhoneSegment, frac: float = 0.5) -> np.ndarray:
    return traj.sample(np.array([seg.start_s + frac * seg.duration_s]))[0]


@pytest.fixture(scope="module")
def geom() -> VocalTractGeometry:
    return VocalTractGeometry(SpeakerAnatomy())


def test_params_contract():
    for name in ("jaw_open_mm", "lip_aperture_mm", "lip_protrusion_mm", "lip_width_mm", "tongue_tip_curl",
                 "velum_port_mm", "larynx_height_mm", "voicing", "aspiration", "f0_hz"):  # fmt: skip
        assert name in ARTICULATORY_PARAMS
    assert len(set(ARTICULATORY_PARAMS)) == len(ARTICULATORY_PARAMS)


def test_a_has_open_jaw_and_low_tongue_vs_i(geom):
    an = SpeakerAnatomy()
    a, i = vowel_targets(TABLE["a"], an), vowel_targets(TABLE["i"], an)
    assert a[IDX["jaw_open_mm"]] > i[IDX["jaw_open_mm"]] + 8
    assert a[IDX["tongue_body_height_mm"]] < i[IDX["tongue_body_height_mm"]] - 8
    m = geom.measures(np.stack([a, i]))
    # /i/ is a (pre)palatal constriction (narrow), /a/ is pharyngeal: open mouth, narrow pharynx
    oral = np.minimum(m["tongue_body_degree_mm"], m["tongue_tip_degree_mm"])
    assert oral[1] < 5.0 and oral[0] > 12.0
    assert m["pharynx_degree_mm"][0] < 3.0 < m["pharynx_degree_mm"][1]
    # the tongue root follows the dorsum: /i/ widens the mid pharynx, /a/ narrows it
    d = geom.distances(np.stack([a, i]))[:, 5:12].mean(1)
    assert d[1] > 18.0 > 9.0 > d[0]
    u = vowel_targets(TABLE["u"], an)
    assert u[IDX["lip_protrusion_mm"]] > 3 and u[IDX["lip_width_mm"]] < i[IDX["lip_width_mm"]]


def test_closures_reach_zero_degree_at_their_place(geom):
    traj = plan("_ a p a t a k a n a b a d a g a _")
    segs = traj.segments
    want = {"p": "lips", "b": "lips", "t": "tongue_tip", "d": "tongue_tip", "n": "tongue_tip",
            "k": "tongue_body", "g": "tongue_body"}  # fmt: skip
    for sg in segs:
        if sg.symbol in want:
            m = geom.measures(traj.sample(np.linspace(sg.start_s, sg.end_s - 0.01, 8)))
            assert m[f"{want[sg.symbol]}_degree_mm"].min() == 0.0, sg
            assert m[f"{want[sg.symbol]}_degree_mm"].max() < 0.5, sg
        if sg.symbol == "a":  # vowels are open at every place
            m = geom.measures(at(traj, sg)[None])
            assert m["lips_degree_mm"][0] > 5 and m["tongue_tip_degree_mm"][0] > 3


def test_retroflex_is_behind_alveolar_and_curled(geom):
    traj = plan("_ a ʈ a t a t̪ a _")
    seg = {s.symbol: s for s in traj.segments}
    st = {k: at(traj, seg[k], 0.7) for k in ("ʈ", "t", "t̪")}
    m = {k: geom.measures(v[None]) for k, v in st.items()}
    for k in st:
        assert m[k]["tongue_tip_degree_mm"][0] == 0.0, k
    # location is measured from the glottis: further back = smaller
    assert m["ʈ"]["tongue_tip_location_mm"][0] < m["t"]["tongue_tip_location_mm"][0] - 2
    assert m["t"]["tongue_tip_location_mm"][0] < m["t̪"]["tongue_tip_location_mm"][0]
    assert st["ʈ"][IDX["tongue_tip_curl"]] > 0.5 > st["t"][IDX["tongue_tip_curl"]]
    assert st["ʈ"][IDX["larynx_height_mm"]] < st["t"][IDX["larynx_height_mm"]] - 1.5
    # the curled blade bulges in front of the tip point
    tc = geom.tongue_circles(np.stack([st["ʈ"], st["t"]]))
    blade_front = tc[:, -4:-1, 0].min(1) - tc[:, -1, 0]
    assert blade_front[0] < -1.0 and blade_front[0] < blade_front[1] - 1.0


def test_velum_open_for_nasals_closed_for_oral_stops(geom):
    traj = plan("_ a m a p a n a t a ɳ a k a _")
    _, _, nasal = geom.area_function(traj.params)
    port = geom.measures(traj.params)["velum_degree_mm"]
    for sg in traj.segments:
        win = (traj.times_s >= sg.start_s) & (traj.times_s < sg.end_s)
        if sg.symbol in ("m", "n", "ɳ"):
            assert port[win].min() > 1.0, sg
            assert nasal[win].min() >= 0.2, sg  # cm^2 (reference: 0.2-0.8 during nasals)
        if sg.symbol in ("p", "t", "k"):
            assert port[win].max() == 0.0 and nasal[win].max() == 0.0, sg


def test_critically_damped_step_no_overshoot_and_95_percent_time():
    for w in (20.0, 50.0, 80.0):
        t = np.linspace(0, 1, 20001)
        z = critically_damped_step(t, 0.0, 10.0, w)
        assert z.max() <= 10.0 and np.all(np.diff(z) >= -1e-12)
        t95 = t[np.argmax(z >= 9.5)]
        assert t95 == pytest.approx(4.74 / w, rel=0.01)


def test_planner_gestures_do_not_overshoot():
    traj = plan("_ a i a _", dur=0.4)
    a_seg, i_seg = traj.segments[1], traj.segments[2]
    jaw = traj.param("jaw_open_mm")
    lo, hi = sorted(
        [at(traj, a_seg, 0.95)[IDX["jaw_open_mm"]], at(traj, i_seg, 0.95)[IDX["jaw_open_mm"]]]
    )
    win = (traj.times_s >= a_seg.start_s + 0.3) & (traj.times_s <= i_seg.end_s)
    assert jaw[win].min() >= lo - 1e-3 and jaw[win].max() <= hi + 1e-3
    closing = (traj.times_s >= i_seg.start_s - 0.01) & (traj.times_s <= i_seg.end_s - 0.03)
    assert np.all(np.diff(jaw[closing]) <= 1e-3)  # monotonic approach to the /i/ target


def test_coarticulation_tongue_follows_vowels_during_bilabial():
    ti, ta = plan("_ i p i _"), plan("_ a p a _")
    pi_, pa = ti.segments[2], ta.segments[2]
    si, sa = at(ti, pi_), at(ta, pa)
    # /p/ does not use the tongue: its dorsum stays close to the vowel context
    assert si[IDX["tongue_body_height_mm"]] > sa[IDX["tongue_body_height_mm"]] + 8
    assert si[IDX["lip_aperture_mm"]] < 0 and sa[IDX["lip_aperture_mm"]] < 0


def _closure_errors(traj: Trajectory, is_bilabial_closure) -> list[float]:
    ap, t = traj.param("lip_aperture_mm"), traj.times_s
    errs = []
    segs = traj.segments
    for k, sg in enumerate(segs):
        if not is_bilabial_closure(sg.symbol):
            continue
        if k > 0 and is_bilabial_closure(segs[k - 1].symbol):
            continue  # lips already shut by the previous bilabial
        w = np.flatnonzero((t >= sg.start_s - 0.1) & (t < sg.end_s))
        shut = ap[w] <= 0
        onset = np.flatnonzero(shut[1:] & ~shut[:-1])
        assert len(onset), f"lips never close for {sg}"
        errs.append(float(t[w[onset[0] + 1]] - sg.start_s))
    return errs


def test_lips_close_within_25ms_of_bilabial_closures_hand_written():
    rng = np.random.default_rng(3)
    syms = ["_"] + [s for _ in range(12) for s in (rng.choice(["a", "i", "u", "ə"]), rng.choice(["p", "b", "m", "t", "k", "s"]))] + ["a", "_"]  # fmt: skip
    segs, t = [], 0.0
    for s in syms:
        d = 0.25 if s == "_" else float(rng.uniform(0.04, 0.12))
        segs.append(PhoneSegment(str(s), t, t + d))
        t += d
    traj = plan_trajectory(segs, sample_anatomy(rng), rng=rng, lookup=TABLE)
    errs = _closure_errors(traj, lambda s: s in ("p", "b", "m"))
    assert len(errs) >= 3
    assert max(abs(e) for e in errs) <= 0.025, errs


def test_lips_close_within_25ms_on_real_phone_labels(shared_data):
    from mrisynth.phantom.inventory import phoneme
    from mrisynth.phantom.text import read_hts_labels

    segs = read_hts_labels(shared_data("data/real-speech/arctic_a0009_phone.lab"))
    traj = plan_trajectory(segs, SpeakerAnatomy(), rng=np.random.default_rng(0))

    def bilabial_closure(sym: str) -> bool:
        ph = phoneme(sym)
        return ph.place == "bilabial" and ph.manner in ("stop", "nasal")

    errs = _closure_errors(traj, bilabial_closure)
    assert len(errs) >= 2
    assert max(abs(e) for e in errs) <= 0.025, errs


def test_source_voicing_aspiration_and_f0():
    traj = plan("_ a p a b a kʰ a h a _")
    seg = {}
    for s in traj.segments:
        seg.setdefault(s.symbol, s)
    v = lambda s, f=0.5: at(traj, s, f)  # noqa: E731
    assert v(seg["a"])[IDX["voicing"]] > 0.95
    assert v(seg["p"])[IDX["voicing"]] < 0.05 and v(seg["b"])[IDX["voicing"]] > 0.95
    assert v(seg["_"])[IDX["voicing"]] < 0.05
    assert v(seg["kʰ"], 0.9)[IDX["aspiration"]] > 0.8  # after the release
    assert v(seg["kʰ"], 0.3)[IDX["aspiration"]] < 0.1  # during the closure
    assert v(seg["p"])[IDX["aspiration"]] < 0.1 and v(seg["h"])[IDX["aspiration"]] > 0.8
    male = plan("_ a a a a _", anatomy=sample_anatomy(np.random.default_rng(1), "male"))
    female = plan("_ a a a a _", anatomy=sample_anatomy(np.random.default_rng(1), "female"))
    fm, ff = male.param("f0_hz").mean(), female.param("f0_hz").mean()
    assert 90 < fm < 160 and 160 < ff < 270
    speech = male.param("f0_hz")[(male.times_s > 0.3) & (male.times_s < 0.78)]
    assert speech[:50].mean() > speech[-50:].mean()  # declination


def test_determinism_and_seed_dependence():
    a, b, c = (
        plan("_ a m i t u _", seed=5),
        plan("_ a m i t u _", seed=5),
        plan("_ a m i t u _", seed=6),
    )
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a.head_pose, b.head_pose)
    assert not np.array_equal(a.head_pose, c.head_pose)
    assert a.params.dtype == np.float32 and a.params.shape == (
        len(a.times_s),
        len(ARTICULATORY_PARAMS),
    )
    assert np.abs(a.head_pose[:, :2]).max() < 3.0 and np.abs(a.head_pose[:, 2]).max() < 2.0
    assert a.times_s[1] - a.times_s[0] == pytest.approx(1e-3)


def test_trajectory_sample_and_param():
    traj = plan("_ a p a _")
    q = np.array([0.0, 0.1005, traj.times_s[-1] + 1.0])
    s = traj.sample(q)
    col = traj.param("jaw_open_mm")
    assert s[1, IDX["jaw_open_mm"]] == pytest.approx(0.5 * (col[100] + col[101]), abs=1e-5)
    assert s[2, IDX["jaw_open_mm"]] == pytest.approx(col[-1])
    with pytest.raises(KeyError, match="unknown articulatory parameter"):
        traj.param("tongue_size")


def test_fast_planning():
    segs = segments(" ".join(["_"] + ["a p i t u k ə m a s"] * 12 + ["_"]))
    t0 = time.perf_counter()
    traj = plan_trajectory(segs, SpeakerAnatomy(), rng=np.random.default_rng(0), lookup=TABLE)
    dt = time.perf_counter() - t0
    assert traj.times_s[-1] / dt >= 100.0, f"planning {traj.times_s[-1] / dt:.0f}x real time"


def test_bad_input():
    with pytest.raises(ValueError, match="empty"):
        plan_trajectory([], SpeakerAnatomy(), rng=np.random.default_rng(0))
    with pytest.raises(KeyError, match="zz"):
        plan_trajectory(
            [PhoneSegment("zz", 0, 0.1)],
            SpeakerAnatomy(),
            rng=np.random.default_rng(0),
            lookup=TABLE,
        )
    with pytest.raises(ValueError, match="sorted"):
        plan_trajectory(
            [PhoneSegment("a", 0.2, 0.3), PhoneSegment("a", 0.0, 0.1)],
            SpeakerAnatomy(),
            rng=np.random.default_rng(0),
            lookup=TABLE,
        )
