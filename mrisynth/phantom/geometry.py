"""Midsagittal vocal-tract geometry: articulatory state -> contours, label maps, measures, areas.

One model drives everything, so images, labels, measures and audio agree:

- The tongue is a chain of circles (root -> dorsum circle -> blade -> tip) and the velum a chain
  of circles hanging from the posterior nasal spine (PNS); the jaw is a rotation about the
  condyle plus a small forward slide; the lips are polygons whose edges follow the lip aperture.
- A Maeda-style semipolar grid of rays (Maeda 1990: linear pharyngeal lines, polar velar lines,
  palato-dental lines) crosses the tract from the tongue side to the outer wall (hard palate,
  velum, posterior pharyngeal wall).  Along every ray the tongue surface is the exit point of the
  union of tongue circles and the outer wall is the first hit of the palate/wall polyline or the
  velum.  Their difference is the midsagittal distance ``d`` (mm), which gives the constriction
  measures (:data:`mrisynth.phantom.labels.MEASURE_NAMES`) and, with ``A = alpha * d**beta``
  (Maeda VTCalcs coefficients, cm), the area function; the lips are an ellipse
  ``pi/4 * aperture * width``.
- The label maps are drawn from the same rays: the airway is the region between the tongue
  surface and the outer wall, the tongue the region between the grid origins and its surface.

Coordinates (mm): ``x`` anterior -> posterior (face on the LEFT), ``y`` superior -> inferior (like
image rows).  Contours are returned in a nominal 200 x 200 mm field of view whose top-left corner
is (0, 0); :meth:`VocalTractGeometry.rasterize` centres that FOV in a ``matrix * spacing_mm`` one.
Internally the "head frame" has its origin at the upper-incisor tip.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numba
import numpy as np
from skimage.draw import ellipse as _draw_ellipse

from mrisynth.phantom.anatomy import SpeakerAnatomy
from mrisynth.phantom.articulatory_state import ARTICULATORY_PARAMS, PARAM_INDEX, neutral_state
from mrisynth.phantom.labels import LABELS, MEASURE_NAMES

__all__ = ["VocalTractGeometry", "NOMINAL_FOV_MM", "MIN_AREA_CM2"]

NOMINAL_FOV_MM = 200.0
#: Area used for closed sections (cm^2): keeps acoustics finite.
MIN_AREA_CM2 = 1e-4

#: Tongue-root shift (mm per mm) with the dorsum: retraction and lowering push the root back.
_ROOT_BACK, _ROOT_LOW = 0.9, 0.9
#: Deepest the pharyngeal tongue surface sits from the wall (mm, x oral scale) along the
#: fraction k of the pharynx above the glottis: a ~7-mm epilaryngeal tube up to k = 0.2, then
#: free to widen (up to 37 mm) by k = 0.65, so front vowels get a wide pharynx (Story 1996).
_EPILARYNX_MM, _PHARYNX_EXTRA_MM, _EPILARYNX_K, _OPENING_K = 7.0, 30.0, 0.2, 0.45
_I = PARAM_INDEX
_N_PHAR, _N_POLAR, _N_PAL = 14, 11, 8
_N_BLADE, _N_ROOT, _N_VELUM = 8, 5, 9
#: Region of each ray for the measures: pharynx / tongue body / tongue tip.
_PHAR, _BODY, _TIP = 0, 1, 2


@numba.njit(cache=True, nogil=True)
def _fill_polygon(
    img: np.ndarray, cols: np.ndarray, rows: np.ndarray, label: int
) -> None:  # pragma: no cover
    """Even-odd scanline fill of a closed polygon (vertex coords in pixel units, pixel centres at
    integers) -- oc(rows x edges), unlike a per-pixel point-in-polygon test."""
    n = len(rows)
    h, w = img.shape
    r0 = max(int(np.ceil(rows.min())), 0)
    r1 = min(int(np.floor(rows.max())), h - 1)
    xs = np.empty(n, np.float64)
    for r in range(r0, r1 + 1):
        k = 0
        for i in range(n):
            j = i - 1 if i > 0 else n - 1
            ya, yb = rows[i], rows[j]
            if (ya <= r < yb) or (yb <= r < ya):
                xs[k] = cols[i] + (r - ya) * (cols[j] - cols[i]) / (yb - ya)
                k += 1
        xk = np.sort(xs[:k])
        for m in range(0, k - 1, 2):
            c0 = max(int(np.ceil(xk[m])), 0)
            c1 = min(int(np.ceil(xk[m + 1])) - 1, w - 1)
            for c in range(c0, c1 + 1):
                img[r, c] = label


def _draw_polygon(img: np.ndarray, cols: np.ndarray, rows: np.ndarray, label: int) -> None:
    _fill_polygon(
        img, np.ascontiguousarray(cols, np.float64), np.ascontiguousarray(rows, np.float64), label
    )


def _rot(points: np.ndarray, angle: np.ndarray | float, centre: np.ndarray) -> np.ndarray:
    """Rotate ``points (..., 2)`` by ``angle`` rad (image coords: +angle turns +x towards +y)."""
    c, s = np.cos(angle), np.sin(angle)
    dx, dy = points[..., 0] - centre[..., 0], points[..., 1] - centre[..., 1]
    return np.stack([centre[..., 0] + c * dx - s * dy, centre[..., 1] + s * dx + c * dy], -1)


def _ray_polyline(orig: np.ndarray, dirs: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Distance along rays ``(K, 2)`` to their first hit of the polyline ``(M, 2)`` (inf if none)."""
    a, b = poly[:-1], poly[1:]
    e = b - a  # (S, 2)
    o = orig[:, None, :]
    u = dirs[:, None, :]
    denom = u[..., 0] * e[..., 1] - u[..., 1] * e[..., 0]  # (K, S)
    w = a[None] - o
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (w[..., 0] * e[..., 1] - w[..., 1] * e[..., 0]) / denom
        v = (w[..., 0] * u[..., 1] - w[..., 1] * u[..., 0]) / denom
    ok = (np.abs(denom) > 1e-12) & (t > 0) & (v >= 0) & (v <= 1)
    return np.where(ok, t, np.inf).min(1)


def _ray_circles(
    orig: np.ndarray, dirs: np.ndarray, circles: np.ndarray, exit_: bool
) -> np.ndarray:
    """Exit (or entry) distance of rays ``(T, K, 2)`` through circles ``(T, N, 3)``.

    Returns ``(T, K)``: the farthest exit (``exit_``) or the nearest positive entry over circles;
    -inf / +inf where a ray misses all circles.
    """
    c = circles[:, None, :, :2] - orig[:, :, None, :]  # (T, K, N, 2)
    b = (c * dirs[:, :, None, :]).sum(-1)
    h2 = (c * c).sum(-1) - b * b
    r2 = circles[:, None, :, 2] ** 2
    hit = h2 < r2
    root = np.sqrt(np.where(hit, r2 - h2, 0.0))
    if exit_:
        return np.where(hit, b + root, -np.inf).max(-1)
    entry = b - root
    return np.where(hit & (entry > 0), entry, np.inf).min(-1)


def _bezier(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Quadratic Bezier; ``p* (T, 2)``, ``u (N,)`` -> ``(T, N, 2)``."""
    u = u[None, :, None]
    return (1 - u) ** 2 * p0[:, None] + 2 * (1 - u) * u * p1[:, None] + u**2 * p2[:, None]


def _offset_outline(centre: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Closed outline ``(2N, 2)`` of a thick polyline ``centre (N, 2)`` with half-widths ``(N,)``."""
    tang = np.gradient(centre, axis=0)
    tang /= np.linalg.norm(tang, axis=1, keepdims=True) + 1e-9
    nrm = np.stack([-tang[:, 1], tang[:, 0]], 1)
    return np.concatenate([centre + nrm * radius[:, None], (centre - nrm * radius[:, None])[::-1]])


class VocalTractGeometry:
    """Articulatory state -> midsagittal geometry for one speaker.

    Args:
        anatomy: the speaker (see :class:`~mrisynth.phantom.anatomy.SpeakerAnatomy`).

    A *state* is a ``(P,)`` array in
    :data:`~mrisynth.phantom.articulatory_state.ARTICULATORY_PARAMS` order (or a dict name ->
    value; missing names take :attr:`neutral` values); batches are ``(T, P)``.

    Derived data (:attr:`neutral`, :attr:`landmarks`, the static label maps) is cached on the
    instance, never in a module-level table, so it is freed with the geometry.
    """

    def __init__(self, anatomy: SpeakerAnatomy) -> None:
        self.anatomy = a = anatomy
        s = a.oral_scale
        self.scale = s
        #: head-frame origin (upper-incisor tip) in nominal-FOV mm
        self.origin = np.array([45.0 + a.head_offset_mm[0], 92.0 + a.head_offset_mm[1]])
        # Posterior pharyngeal wall x(y): nearly vertical, curving forward into the nasopharynx roof.
        xw0 = a.oral_length_mm - 12.0 * s
        self._wall_y = np.array([-40.0, -30.0, -20.0, -10.0, 0.0, 30.0, 60.0, 90.0, 160.0]) * s
        self._wall_x = xw0 + np.array([-22.0, -9.0, -3.5, -1.0, 0.0, -1.0, -2.5, -3.5, -6.0]) * s
        # Upper incisor lingual surface, alveolar ridge, domed hard palate up to the PNS.
        self.incisor_lingual = np.array([[0.0, 0.0], [1.5, -0.8], [4.0, -5.0], [6.5, -9.0]]) * s
        ridge = np.array([9.5, -11.5]) * s
        pns = np.array([a.palate_length_mm, -14.0 * s])
        u = np.linspace(0.0, 1.0, 14)[1:]
        base_y = ridge[1] + u * (pns[1] - ridge[1])
        bump = a.palate_dome_height_mm - 12.75 * s
        pal = np.stack(
            [ridge[0] + u * (pns[0] - ridge[0]), base_y - bump * np.sin(np.pi * u) ** 0.7], 1
        )
        self.palate = np.concatenate([ridge[None], pal])  # ridge -> PNS, oral surface
        self.ridge, self.pns = ridge, pns
        y_port = -10.0 * s  # where the raised velum meets the wall
        wall_keep = self._wall_y > y_port
        wall = np.stack([self._wall_x[wall_keep], self._wall_y[wall_keep]], 1)
        self.outer_wall = np.concatenate(
            [self.incisor_lingual, self.palate, [[self.wall_x(y_port), y_port]], wall]
        )
        # Jaw: rotation about the condyle plus a forward slide (Edwards & Harris 1990).
        self.condyle = np.array([xw0, -25.0 * s])
        self.lower_incisor0 = np.array([1.5, 2.5]) * s
        self._jaw_lever = self.condyle[0] - self.lower_incisor0[0]
        self.lip_contact_y = 1.5 * s
        # a velum too short for this nasopharynx could never close the port: lengthen it
        self.velum_length = float(
            np.clip(
                a.velum_length_mm,
                1.45 * (xw0 - a.palate_length_mm),
                1.7 * (xw0 - a.palate_length_mm),
            )
        )
        self.velum_radii = np.linspace(
            a.velum_thickness_mm / 2, 0.33 * a.velum_thickness_mm, _N_VELUM
        )
        self._velum_table()
        # Tongue: neutral (schwa) dorsum circle ~9 mm below the dome and ~10 mm from the wall,
        # then pushed away from the resting velum until the velar gap is >= 8 mm: with a high
        # dome or a long velum the schwa dorsum would otherwise already touch the soft palate
        # and no back vowel could keep an open velar passage.
        self.tongue_radius = R = a.tongue_radius_mm
        y_b = -a.palate_dome_height_mm + 9.0 * s + R
        body = np.array([self.wall_x(y_b) - 10.0 * s - R, y_b])
        vel = self.velum_circles(np.array([-1.5]))[0]
        for _ in range(6):
            off = body - vel[:, :2]
            dist = np.linalg.norm(off, axis=1)
            gap = dist - vel[:, 2] - R
            j = int(np.argmin(gap))
            if gap[j] >= 8.0 * s - 1e-6:
                break
            body = body + (8.0 * s - gap[j]) * off[j] / dist[j]
        self.body0 = body
        self.tip0 = np.array([8.0, 5.0]) * s
        self.tip_radius = 3.0 * s
        self.polar_centre = self.body0.copy()
        # Static rays (polar velar + palato-dental); pharyngeal rays move with the larynx.
        oc = self.polar_centre
        th = np.deg2rad(np.arange(_N_POLAR) * 11.25)
        pol_dir = np.stack([np.cos(th), -np.sin(th)], 1)
        pol_org = np.repeat(oc[None], _N_POLAR, 0)
        t_last = _ray_polyline(pol_org[-1:], pol_dir[-1:], self.outer_wall)[0]
        hit_last = oc + t_last * pol_dir[-1]
        # palato-dental rays aim at evenly spaced wall points from that hit forward to the incisor tip
        front = np.concatenate([self.incisor_lingual, self.palate])
        seg = np.linalg.norm(np.diff(front, axis=0), axis=1)
        arc = np.concatenate([[0.0], np.cumsum(seg)])
        a_last = arc[np.argmin(np.linalg.norm(front - hit_last, axis=1))]
        a_tg = np.linspace(a_last, 0.8 * s, _N_PAL + 1)[1:]  # last ray just above the edge
        tgt = np.stack([np.interp(a_tg, arc, front[:, 0]), np.interp(a_tg, arc, front[:, 1])], 1)
        m = np.arange(1, _N_PAL + 1)[:, None] / _N_PAL
        pal_org = (oc + np.array([-4.0, 4.0]) * s) * (1 - m) + np.array([9.0, 19.0]) * s * m
        pal_dir = tgt - pal_org
        pal_dir /= np.linalg.norm(pal_dir, axis=1, keepdims=True)
        self._static_org = np.concatenate([pol_org, pal_org])
        self._static_dir = np.concatenate([pol_dir, pal_dir])
        self._static_hit = _ray_polyline(self._static_org, self._static_dir, self.outer_wall)
        if not np.all(np.isfinite(self._static_hit)):
            raise RuntimeError(
                "vocal-tract grid: a ray misses the palate/pharynx wall (bad anatomy)"
            )
        self.n_rays = _N_PHAR + _N_POLAR + _N_PAL
        # measure regions and d->A coefficients (Maeda VTCalcs, glottis -> lips)
        hit_pts = self._static_org + self._static_hit[:, None] * self._static_dir
        split_x = ridge[0] + 10.0 * s
        region = np.full(self.n_rays, _BODY)
        region[: _N_PHAR + 3] = _PHAR
        region[_N_PHAR + _N_POLAR :][hit_pts[_N_POLAR:, 0] < split_x] = _TIP
        self._region = region
        self._alpha = np.where(region == _PHAR, 1.8, np.where(region == _BODY, 1.7, 1.9))
        self._beta = np.where(region == _PHAR, 1.2, np.where(region == _BODY, 1.4, 1.5))
        #: static label maps per raster size (n, pixel mm, FOV shift); a handful per geometry
        self._static_maps: dict[tuple[int, float, float], np.ndarray] = {}
        self._calibrate_glottis()

    # ------------------------------------------------------------------ small helpers
    def wall_x(self, y: np.ndarray | float) -> np.ndarray:
        """x (mm, head frame) of the posterior pharyngeal wall at height ``y``."""
        return np.interp(y, self._wall_y, self._wall_x)

    @functools.cached_property
    def neutral(self) -> np.ndarray:
        """Neutral (schwa-like) state ``(P,)``."""
        return neutral_state(self.anatomy)

    @functools.cached_property
    def landmarks(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Consonant contact landmarks: place -> (point, unit normal into the tract), head-frame mm.

        Places: ``dental`` (upper-incisor lingual surface), ``alveolar``, ``postalveolar``,
        ``retroflex``, ``palatal`` (on the hard palate) and ``velar`` (on the velum, raised as
        for an oral stop).  Computed once per geometry and cached on the instance.
        """
        s = self.scale

        def on_poly(poly: np.ndarray, arc_mm: float) -> tuple[np.ndarray, np.ndarray]:
            seg = np.linalg.norm(np.diff(poly, axis=0), axis=1)
            arc = np.concatenate([[0.0], np.cumsum(seg)])
            p = np.array([np.interp(arc_mm, arc, poly[:, 0]), np.interp(arc_mm, arc, poly[:, 1])])
            k = min(int(np.searchsorted(arc, arc_mm)), len(poly) - 1)
            tang = poly[k] - poly[max(k - 1, 0)]
            n = np.array([-tang[1], tang[0]])
            return p, n / np.linalg.norm(n)

        marks = {
            "dental": on_poly(self.incisor_lingual, 4.5 * s),
            "alveolar": on_poly(self.palate, 0.5 * s),
            "postalveolar": on_poly(self.palate, 5.0 * s),
            "retroflex": on_poly(self.palate, 8.0 * s),
        }
        pal_len = np.linalg.norm(np.diff(self.palate, axis=0), axis=1).sum()
        marks["palatal"] = on_poly(self.palate, 0.42 * pal_len)
        vel = self.velum_circles(np.array([-2.0]))[0]  # velum as raised for an oral stop
        to_body = self.body0 - vel[:, :2]
        dist = np.linalg.norm(to_body, axis=1) - vel[:, 2]
        j = int(np.argmin(dist[2:])) + 2
        n = to_body[j] / np.linalg.norm(to_body[j])
        marks["velar"] = (vel[j, :2] + n * vel[j, 2], n)
        return marks

    def as_states(self, states: np.ndarray | Mapping[str, float]) -> np.ndarray:
        """Coerce a state dict / ``(P,)`` / ``(T, P)`` to ``(T, P)`` float64."""
        if isinstance(states, Mapping):
            unknown = set(states) - set(ARTICULATORY_PARAMS)
            if unknown:
                raise KeyError(f"unknown articulatory parameter(s) {sorted(unknown)}")
            x = self.neutral.copy()
            for k, v in states.items():
                x[_I[k]] = v
            states = x
        x = np.asarray(states, dtype=np.float64)
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2 or x.shape[1] != len(ARTICULATORY_PARAMS):
            raise ValueError(
                f"states must have shape (T, {len(ARTICULATORY_PARAMS)}) "
                f"(ARTICULATORY_PARAMS order), got {np.shape(states)}"
            )
        return x

    def jaw(self, jaw_open: np.ndarray, pts: np.ndarray) -> np.ndarray:
        """Carry head-frame points ``(N, 2)`` with the jaw: ``jaw_open (T,)`` -> ``(T, N, 2)``."""
        ang = -(np.asarray(jaw_open, float) / self._jaw_lever)  # lower incisor moves down
        p = _rot(pts[None], ang[:, None], self.condyle[None, None])
        p[..., 0] -= 0.3 * jaw_open[:, None]  # condylar slide forward
        return p

    # ------------------------------------------------------------------ velum
    def _velum_chain(self, lowering: np.ndarray) -> np.ndarray:
        """Velum circles ``(T, N, 3)`` for a lowering scalar (0 ~ raised, 1 ~ fully lowered).

        The midline is a quadratic Bezier PNS -> knee -> uvula, so the velum bends smoothly.
        """
        L = self.velum_length
        low = np.asarray(lowering, float)
        a1 = np.deg2rad(12.0 + 55.0 * low)
        a2 = np.deg2rad(75.0 + 15.0 * low)
        p0 = np.broadcast_to(self.pns, (len(low), 2))
        knee = p0 + 0.65 * L * np.stack([np.cos(a1), np.sin(a1)], 1)
        tip = knee + 0.45 * L * np.stack([np.cos(a2), np.sin(a2)], 1)
        c = _bezier(p0, knee, tip, np.linspace(0.0, 1.0, _N_VELUM))
        r = np.broadcast_to(self.velum_radii, c.shape[:2])
        return np.concatenate([c, r[..., None]], -1)

    def _port_signed(self, circles: np.ndarray) -> np.ndarray:
        """Velopharyngeal gap (mm): dorsal velum (upper two thirds) to the pharyngeal wall."""
        c = circles[..., : 2 * _N_VELUM // 3 + 1, :]
        gap = self.wall_x(c[..., 1]) - c[..., 0] - c[..., 2]
        return gap.min(-1)

    def _velum_table(self) -> None:
        """Lookup port gap (mm) -> lowering; the raised end is pressed into the wall."""
        lw = np.linspace(-0.6, 1.4, 401)
        port = self._port_signed(self._velum_chain(lw))
        k = int(np.argmin(port))  # from the most closed posture on, the gap grows with lowering
        if port[k] > -2.0:
            raise ValueError(
                f"velum of length {self.anatomy.velum_length_mm:.1f} mm cannot close the port "
                f"(min gap {port[k]:.1f} mm): anatomy inconsistent"
            )
        self._vt_low = lw[k:]
        self._vt_port = np.maximum.accumulate(port[k:])

    def velum_circles(self, port_mm: np.ndarray) -> np.ndarray:
        """Velum circles ``(T, N, 3)`` whose gap to the pharyngeal wall equals ``port_mm``
        (negative = pressed into the wall, i.e. firmly closed)."""
        low = np.interp(port_mm, self._vt_port, self._vt_low)
        return self._velum_chain(low)

    # ------------------------------------------------------------------ tongue
    def tongue_circles(self, x: np.ndarray) -> np.ndarray:
        """Tongue circles ``(T, N, 3)`` (root -> dorsum -> blade -> tip), head frame mm."""
        s, R = self.scale, self.tongue_radius
        B = self.body0 + np.stack(
            [x[:, _I["tongue_body_back_mm"]], -x[:, _I["tongue_body_height_mm"]]], 1
        )
        Tp = self.tip0 + np.stack(
            [x[:, _I["tongue_tip_back_mm"]], -x[:, _I["tongue_tip_height_mm"]]], 1
        )
        curl = np.clip(x[:, _I["tongue_tip_curl"]], 0.0, 1.0)[:, None]
        yg = self.glottis_y(x)
        H = np.stack([self.wall_x(yg - 18 * s) - 22.0 * s, yg - 18.0 * s], 1)
        # the root follows the dorsum (and bulges back when the dorsum is lowered: the tongue is
        # incompressible), so front vowels widen and low/back vowels narrow the pharynx
        H[:, 0] += (
            _ROOT_BACK * x[:, _I["tongue_body_back_mm"]]
            - _ROOT_LOW * x[:, _I["tongue_body_height_mm"]]
        )
        ur = np.linspace(1.0, 0.2, _N_ROOT)[None, :, None]
        root_c = H[:, None] * ur + B[:, None] * (1 - ur)
        root_r = np.broadcast_to(
            7.0 * s * ur[..., 0] + 0.8 * R * (1 - ur[..., 0]), root_c.shape[:2]
        )
        d = np.array([-0.906, -0.423])
        S = B + 0.55 * R * d
        mid = 0.5 * (S + Tp) + np.array([0.0, 1.5 * s])
        C = (1 - curl) * mid + curl * (Tp + np.array([-9.0, 7.0]) * s)
        ub = np.linspace(0.0, 1.0, _N_BLADE)
        blade_c = _bezier(S, C, Tp, ub)
        blade_r = np.broadcast_to(
            0.45 * R + (self.tip_radius - 0.45 * R) * ub**0.7, blade_c.shape[:2]
        )
        cx = np.concatenate([root_c[..., 0], B[:, :1], blade_c[..., 0]], 1)
        cy = np.concatenate([root_c[..., 1], B[:, 1:], blade_c[..., 1]], 1)
        r = np.concatenate([root_r, np.full((len(x), 1), R), blade_r], 1)
        return np.stack([cx, cy, r], -1)

    def glottis_y(self, x: np.ndarray) -> np.ndarray:
        """Glottis height ``(T,)`` in head-frame mm (raising the larynx lowers y)."""
        return self._glottis_y0 - x[:, _I["larynx_height_mm"]]

    # ------------------------------------------------------------------ rays
    def _rays(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Solve the grid for states ``(T, P)``: origins/directions, tongue & wall distances."""
        T = len(x)
        s = self.scale
        oc = self.polar_centre
        yg = self.glottis_y(x)
        k = np.arange(_N_PHAR)[None] / _N_PHAR
        ph_y = yg[:, None] * (1 - k) + oc[1] * k  # (T, NA)
        ph_org = np.stack([np.full_like(ph_y, oc[0]), ph_y], -1)
        ph_dir = np.broadcast_to(np.array([1.0, 0.0]), ph_org.shape)
        org = np.concatenate(
            [ph_org, np.broadcast_to(self._static_org, (T, *self._static_org.shape))], 1
        )
        dirs = np.concatenate(
            [ph_dir, np.broadcast_to(self._static_dir, (T, *self._static_dir.shape))], 1
        )
        s_static = np.concatenate(
            [
                self.wall_x(ph_y) - oc[0],
                np.broadcast_to(self._static_hit, (T, len(self._static_hit))),
            ],
            1,
        )
        tongue = self.tongue_circles(x)
        velum = self.velum_circles(x[:, _I["velum_port_mm"]])
        s_out = np.minimum(s_static, _ray_circles(org, dirs, velum, exit_=False))
        # floor: deepest the tongue surface can sit along each ray (mouth floor / larynx tube)
        opening = np.clip((k - _EPILARYNX_K) / _OPENING_K, 0.0, 1.0)
        depth = (_EPILARYNX_MM + _PHARYNX_EXTRA_MM * opening) * s
        floor_ph = s_static[:, :_N_PHAR] - depth
        jaw_tip = self.jaw(x[:, _I["jaw_open_mm"]], self.lower_incisor0[None])[:, 0]  # (T, 2)
        y_floor = jaw_tip[:, 1] + 6.0 * s
        po = self._static_org[_N_POLAR:]
        pdir = self._static_dir[_N_POLAR:]
        floor_pal = np.maximum(0.0, (y_floor[:, None] - po[None, :, 1]) / pdir[None, :, 1])
        floor = np.concatenate([floor_ph, np.zeros((T, _N_POLAR)), floor_pal], 1)
        s_in = np.maximum(_ray_circles(org, dirs, tongue, exit_=True), floor)
        return {
            "org": org,
            "dir": dirs,
            "s_in": s_in,
            "s_out": s_out,
            "tongue": tongue,
            "velum": velum,
        }

    def _lips(self, x: np.ndarray) -> dict[str, np.ndarray]:
        ap = x[:, _I["lip_aperture_mm"]]
        return {
            "aperture": ap,
            "y_upper": self.lip_contact_y - 0.35 * ap,
            "y_lower": self.lip_contact_y + 0.65 * ap,
            "protrusion": x[:, _I["lip_protrusion_mm"]],
            "width": x[:, _I["lip_width_mm"]],
        }

    def _centreline(
        self, x: np.ndarray, rays: dict, lips: dict, hug_mm: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Centreline points ``(T, K+2, 2)`` (rays, lip back, lip front) and arc length from the
        glottis ``(T, K+2)`` mm.  With ``hug_mm`` the line keeps within ``hug_mm / 2`` of the
        outer wall, so its arc does not zigzag between a wide ray and a closed one (used for the
        constriction locations)."""
        s = self.scale
        s_in = np.minimum(rays["s_in"], rays["s_out"])
        half = 0.5 * (rays["s_out"] - s_in)
        if hug_mm is not None:
            half = np.minimum(half, 0.5 * hug_mm)
        mid = rays["org"] + (rays["s_out"] - half)[..., None] * rays["dir"]
        ym = 0.5 * (lips["y_upper"] + lips["y_lower"])
        back = np.stack([np.full_like(ym, -1.0 * s), ym], 1)
        front = np.stack([-11.0 * s - lips["protrusion"], ym], 1)
        pts = np.concatenate([mid, back[:, None], front[:, None]], 1)
        arc = np.concatenate(
            [np.zeros((len(x), 1)), np.cumsum(np.linalg.norm(np.diff(pts, axis=1), axis=-1), 1)], 1
        )
        return pts, arc

    def _calibrate_glottis(self) -> None:
        """Place the glottis so the neutral centreline length equals the anatomy's tract length."""
        self._glottis_y0 = self.body0[1] + 0.5 * self.anatomy.pharynx_length_mm
        for _ in range(4):
            x = self.neutral[None]
            rays = self._rays(x)
            _, arc = self._centreline(x, rays, self._lips(x))
            self._glottis_y0 += self.anatomy.vocal_tract_length_mm - arc[0, -1]

    # ------------------------------------------------------------------ public API
    def tract_length_mm(self, states: np.ndarray | Mapping[str, float]) -> np.ndarray:
        """Glottis-to-lips centreline length ``(T,)`` mm."""
        x = self.as_states(states)
        rays = self._rays(x)
        return self._centreline(x, rays, self._lips(x))[1][:, -1]

    def distances(self, states: np.ndarray | Mapping[str, float]) -> np.ndarray:
        """Midsagittal distances ``(T, K)`` mm along the grid rays, glottis -> incisors (>= 0)."""
        x = self.as_states(states)
        rays = self._rays(x)
        return np.maximum(rays["s_out"] - rays["s_in"], 0.0)

    def area_function(
        self, states: np.ndarray, n_sections: int = 44
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Area function for acoustics.

        Args:
            states: ``(T, P)`` articulatory states.
            n_sections: number of equal-length tube sections, glottis -> lips.

        Returns:
            ``areas_cm2 (T, S)`` (>= :data:`MIN_AREA_CM2`; a section containing a closure is
            exactly that), ``section_length_cm (T,)`` and ``nasal_port_cm2 (T,)``
            (velopharyngeal port, ``1.84 * d**0.93`` with ``d`` the port gap in cm, Soquet 2002).
        """
        if n_sections < 4:
            raise ValueError(f"area_function: n_sections must be >= 4, got {n_sections}")
        x = self.as_states(states)
        rays = self._rays(x)
        lips = self._lips(x)
        pts, arc = self._centreline(x, rays, lips)
        d_cm = np.maximum(rays["s_out"] - rays["s_in"], 0.0) / 10.0
        a_rays = self._alpha * d_cm**self._beta
        a_lip = np.pi / 4 * np.maximum(lips["aperture"], 0.0) * lips["width"] / 100.0
        area_pts = np.concatenate([a_rays, a_lip[:, None], a_lip[:, None]], 1)
        L = arc[:, -1]
        n_sub = 4
        q = (np.arange(n_sections * n_sub) + 0.5) / (n_sections * n_sub)
        T = len(x)
        closed = np.concatenate([d_cm <= 0, (lips["aperture"] <= 0)[:, None].repeat(2, 1)], 1)
        # one flattened interp: shift every frame's arc axis by a per-frame offset (monotonic)
        big = 2.0 * float(L.max()) + 1.0
        shift = (np.arange(T) * big)[:, None]
        fine = np.interp(
            (q[None] * L[:, None] + shift).ravel(), (arc + shift).ravel(), area_pts.ravel()
        )
        areas = fine.reshape(T, n_sections, n_sub).mean(2)
        sec = np.minimum((arc / L[:, None] * n_sections).astype(int), n_sections - 1)
        tt, kk = np.nonzero(closed)
        shut = np.zeros((T, n_sections), bool)
        shut[tt, sec[tt, kk]] = True
        areas = np.where(shut, MIN_AREA_CM2, np.maximum(areas, MIN_AREA_CM2))
        port = np.maximum(self._port_signed(rays["velum"]), 0.0) / 10.0
        nasal = np.where(port > 0, 1.84 * port**0.93, 0.0)
        return areas, L / 10.0 / n_sections, nasal

    def measures(self, states: np.ndarray) -> dict[str, np.ndarray]:
        """Constriction degree/location per place (:data:`~mrisynth.phantom.labels.MEASURE_NAMES`).

        Returns:
            dict name -> ``(T,)`` float array, mm.  Degrees are >= 0 (0 = contact); locations are
            distances from the glottis along a line that follows the outer wall (palate,
            pharyngeal wall) at <= 3 mm, so they do not jump with the width of the open parts.
        """
        x = self.as_states(states)
        rays = self._rays(x)
        lips = self._lips(x)
        pts, arc = self._centreline(x, rays, lips, hug_mm=6.0 * self.scale)
        # express the wall-hugging arc on the true centreline length (the tube's length)
        arc = arc * (self._centreline(x, rays, lips)[1][:, -1:] / arc[:, -1:])
        d = np.maximum(rays["s_out"] - rays["s_in"], 0.0)
        out: dict[str, np.ndarray] = {}
        rows = np.arange(len(x))
        for place, reg in (("pharynx", _PHAR), ("tongue_body", _BODY), ("tongue_tip", _TIP)):
            idx = np.flatnonzero(self._region == reg)
            j = idx[np.argmin(d[:, idx], axis=1)]
            out[f"{place}_degree_mm"] = d[rows, j]
            out[f"{place}_location_mm"] = arc[rows, j]
        out["lips_degree_mm"] = np.maximum(lips["aperture"], 0.0)
        out["lips_location_mm"] = 0.5 * (arc[:, -2] + arc[:, -1])
        vel = rays["velum"][:, : 2 * _N_VELUM // 3 + 1]  # dorsal part, as in _port_signed
        gap = self.wall_x(vel[..., 1]) - vel[..., 0] - vel[..., 2]
        jv = np.argmin(gap, axis=1)
        out["velum_degree_mm"] = np.maximum(gap[rows, jv], 0.0)
        vp = vel[rows, jv, :2] + np.stack([vel[rows, jv, 2], np.zeros(len(x))], 1)
        near = np.argmin(np.linalg.norm(pts[:, :-2] - vp[:, None], axis=-1), axis=1)
        out["velum_location_mm"] = arc[rows, near]
        return {k: out[k].astype(np.float64) for k in MEASURE_NAMES}

    def tongue_contours(self, states: np.ndarray | Mapping[str, float]) -> np.ndarray:
        """Tongue surfaces ``(T, K, 2)`` in nominal-FOV mm, tip to root (K = rays + 1)."""
        x = self.as_states(states)
        rays = self._rays(x)
        surf = rays["org"] + np.minimum(rays["s_in"], rays["s_out"])[..., None] * rays["dir"]
        tip = rays["tongue"][:, -1]  # (T, 3): centre x, y and radius of the tip circle
        tip_pt = tip[:, :2] - np.stack([tip[:, 2], np.zeros(len(x))], 1)
        return np.concatenate([tip_pt[:, None], surf[:, ::-1]], axis=1) + self.origin

    def tongue_contour(self, state: np.ndarray | Mapping[str, float]) -> np.ndarray:
        """Tongue surface ``(K, 2)`` of one state (see :meth:`tongue_contours`)."""
        x = self.as_states(state)
        if len(x) != 1:
            raise ValueError("tongue_contour takes one state; use tongue_contours() for frames")
        return self.tongue_contours(x)[0]

    def contours(self, state: np.ndarray | Mapping[str, float]) -> dict[str, np.ndarray]:
        """Polylines ``(N, 2)`` in nominal-FOV mm (x anterior->posterior, y downwards).

        Keys: ``upper_lip``, ``lower_lip``, ``tongue`` (tip -> root), ``hard_palate`` (oral
        surface, alveolar ridge -> PNS), ``upper_incisor``, ``lower_incisor`` (jaw-carried),
        ``velum`` (closed outline), ``pharyngeal_wall``, ``glottis`` (a point).
        """
        x = self.as_states(state)
        if len(x) != 1:
            raise ValueError("contours takes one state")
        poly = self._frame_polygons(x)
        o = self.origin
        return {
            "upper_lip": poly["upper_lip"][0] + o,
            "lower_lip": poly["lower_lip"][0] + o,
            "tongue": self.tongue_contour(x[0]),
            "hard_palate": self.palate + o,
            "upper_incisor": self.incisor_lingual + o,
            "lower_incisor": poly["mandible"][0][:4] + o,
            "velum": poly["velum"][0] + o,
            "pharyngeal_wall": np.stack([self._wall_x, self._wall_y], 1) + o,
            "glottis": np.array(
                [[self.wall_x(self.glottis_y(x)[0]) - 8 * self.scale, self.glottis_y(x)[0]]]
            )
            + o,
        }

    # ------------------------------------------------------------------ drawing
    def _frame_polygons(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Moving polygons per frame (head frame mm): name -> ``(T, N, 2)``."""
        s = self.scale
        T = len(x)
        rays = self._rays(x)
        lips = self._lips(x)
        jaw = x[:, _I["jaw_open_mm"]]
        oc = self.polar_centre
        s_in = np.minimum(rays["s_in"], rays["s_out"])
        outer = rays["org"] + rays["s_out"][..., None] * rays["dir"]
        surf = rays["org"] + s_in[..., None] * rays["dir"]
        base = np.concatenate(
            [
                rays["org"][:, _N_PHAR + _N_POLAR :][:, ::-1],
                np.broadcast_to(oc, (T, 1, 2)),
                rays["org"][:, :_N_PHAR][:, ::-1],
            ],
            1,
        )
        out = {
            "envelope": np.concatenate([outer, base], 1),
            "tongue": np.concatenate([surf, base], 1),
        }
        # below the hyoid the anterior pharynx wall is larynx/epiglottis tissue, not tongue
        nl = _N_PHAR // 3
        out["larynx"] = np.concatenate([surf[:, :nl], rays["org"][:, :nl][:, ::-1]], 1)
        prot = lips["protrusion"][:, None]
        yu, yl = lips["y_upper"][:, None], lips["y_lower"][:, None]
        one = np.ones((T, 1))
        jp = self.jaw(jaw, np.array([[-9.0, 14.0], [-1.0, 12.0], [1.5, 5.0]]) * s)
        out["upper_lip"] = np.stack(
            [
                np.stack([-13 * s * one, -18 * s * one], -1)[:, 0],
                np.concatenate([-14.5 * s - prot, -9 * s * one], 1),
                np.concatenate([-13.5 * s - prot, yu - 3 * s], 1),
                np.concatenate([-10.5 * s - prot, yu], 1),
                np.concatenate([0.5 * s * one, yu], 1),
                np.concatenate([2.5 * s * one, -10 * s * one], 1),
                np.concatenate([-4 * s * one, -15 * s * one], 1),
            ],
            1,
        )
        out["lower_lip"] = np.concatenate(
            [
                np.stack(
                    [
                        np.concatenate([1.0 * s * one, yl], 1),
                        np.concatenate([-10.0 * s - prot, yl + 0.5 * s], 1),
                        np.concatenate([-12.0 * s - prot, yl + 5.0 * s], 1),
                    ],
                    1,
                ),
                jp,
            ],
            1,
        )
        out["vestibule"] = np.stack(
            [
                np.concatenate([6.0 * s * one, yu], 1),
                np.concatenate([-11.0 * s - prot, yu], 1),
                np.concatenate([-10.5 * s - prot, np.maximum(yl, yu)], 1),
                np.concatenate([6.0 * s * one, np.maximum(yl, yu)], 1),
            ],
            1,
        )
        mand = np.array(
            [[1.5, 2.5], [3.0, 12.0], [-1.0, 22.0], [-3.0, 32.0], [3.0, 42.0], [12.0, 40.0],
             [14.0, 28.0], [9.0, 16.0], [6.5, 11.0], [3.5, 2.5]]
        ) * s  # fmt: skip
        out["mandible"] = self.jaw(jaw, mand)
        face_front = self.jaw(
            jaw, np.array([[2.0, 6.0], [-8.0, 14.0], [-12.5, 30.0], [-5.0, 46.0], [12.0, 51.0]]) * s
        )
        hs = self.anatomy.head_scale
        stat = np.array(
            [[30.0 * hs, 62.0 * hs], [self.wall_x(62.0 * hs) - 1.0, 62.0 * hs],
             [self.wall_x(12.0 * s) - 1.0, 12.0 * s], [oc[0], oc[1]], [10.0 * s, 8.0 * s]]
        )  # fmt: skip
        out["lower_face"] = np.concatenate([face_front, np.broadcast_to(stat, (T, *stat.shape))], 1)
        vel = rays["velum"]
        centre = vel[..., :2]
        out["velum"] = np.stack([_offset_outline(centre[t], vel[t, :, 2]) for t in range(T)])
        yg = self.glottis_y(x)[:, None]
        xw = self.wall_x(yg)
        out["trachea"] = np.stack(
            [
                np.concatenate([xw - 17 * s, yg + 3 * s], 1),
                np.concatenate([xw - 4 * s, yg + 3 * s], 1),
                np.concatenate([xw - 10 * s, yg + 80 * s], 1),
                np.concatenate([xw - 27 * s, yg + 80 * s], 1),
            ],
            1,
        )
        return out

    # static polygons (head frame) ------------------------------------------------------
    @functools.cached_property
    def _static_polygons(self) -> list[tuple[int, np.ndarray]]:
        """(label, polygon) drawn once per raster size, in painting order."""
        s, hs = self.scale, self.anatomy.head_scale
        L = LABELS
        head = np.array(
            [[-20, -200], [-20, -110], [-19, -84], [-15, -68], [-22, -47], [-30, -30], [-27, -23],
             [-13, -18], [-6, -12], [3, 2], [10, 20], [18, 45], [30, 62], [38, 90], [42, 200],
             [118, 200], [112, 70], [116, 25], [128, -20], [134, -60], [130, -110], [112, -160],
             [60, -200]], float
        ) * hs  # fmt: skip
        pal = self.palate
        u = np.linspace(0, 1, len(pal))[:, None]
        nasal_floor = pal - np.concatenate([np.zeros_like(u), (9.0 - 5.0 * u) * s], 1)
        hard_palate = np.concatenate(
            [
                pal,
                [[self.pns[0] + 1.0, self.pns[1] - 4.0 * s]],
                nasal_floor[::-1],
                [[6.0 * s, -22.0 * s], [5.0 * s, -11.0 * s]],
            ]
        )
        incisor = (
            np.array(
                [[0.0, 0.0], [2.5, -10.0], [4.0, -20.0], [8.0, -19.0], [6.5, -9.0], [1.5, -0.8]]
            )
            * s
        )
        pns = self.pns
        nasal = np.concatenate(
            [
                [[-10.0 * s, -27.0 * s], [-4.0 * s, -22.0 * s]],
                nasal_floor[::2] - np.array([0.0, 0.5]),
                [[pns[0] + 3.0 * s, -20.0 * s], [pns[0] + 2.0 * s, -40.0 * s], [30.0 * s, -46.0 * s],
                 [8.0 * s, -45.0 * s], [-5.0 * s, -38.0 * s]],
            ]
        )  # fmt: skip
        wy = np.linspace(-36.0 * s, -6.0 * s, 8)
        naso = np.concatenate(
            [
                [[pns[0] + 1.0 * s, -19.0 * s]],
                np.stack([self.wall_x(wy) - 0.5, wy], 1),
                [[pns[0] + 6.0 * s, -6.0 * s], [pns[0], pns[1]]],
            ]
        )
        wy = np.linspace(-40.0 * s, 200.0, 30)
        wall = np.concatenate(
            [
                np.stack([self.wall_x(wy), wy], 1),
                np.stack([self.wall_x(wy) + self.anatomy.pharynx_wall_mm, wy], 1)[::-1],
            ]
        )
        return [
            (L["other_tissue"], head),
            (L["airway"], nasal),
            (L["airway"], naso),
            (L["hard_palate"], hard_palate),
            (L["jaw_teeth"], incisor),
            (L["pharyngeal_wall"], wall),
        ]

    def _static_ellipses(self) -> list[tuple[int, tuple[float, float, float, float]]]:
        """Air sinuses: (label, (cx, cy, ry, rx)) head frame mm."""
        s, hs = self.scale, self.anatomy.head_scale
        return [
            (
                LABELS["airway"],
                (self.pns[0] + 8.0 * s, -58.0 * hs, 8.0 * hs, 11.0 * hs),
            ),  # sphenoid
            (LABELS["airway"], (-12.0 * hs, -92.0 * hs, 9.0 * hs, 4.0 * hs)),  # frontal
        ]

    def _static_map(self, n: int, h: float, shift: float) -> np.ndarray:
        """Label map ``(n, n)`` of the static anatomy, cached per raster size on the instance."""
        key = (n, h, shift)
        img = self._static_maps.get(key)
        if img is None:
            img = self._static_maps[key] = self._draw_static_map(n, h, shift)
        return img

    def _draw_static_map(self, n: int, h: float, shift: float) -> np.ndarray:
        img = np.zeros((n, n), np.uint8)
        off = self.origin + shift
        for lab, poly in self._static_polygons:
            p = (poly + off) / h - 0.5
            _draw_polygon(img, p[:, 0], p[:, 1], lab)
        for lab, (cx, cy, ry, rx) in self._static_ellipses():
            rr, cc = _draw_ellipse(
                (cy + off[1]) / h - 0.5, (cx + off[0]) / h - 0.5, ry / h, rx / h, (n, n)
            )
            img[rr, cc] = lab
        return img

    @staticmethod
    def _draw(img: np.ndarray, poly: np.ndarray, lab: int, off: np.ndarray, h: float, tf) -> None:
        """Fill a head-frame polygon; ``tf`` = (rotation, pivot, shift) of the head pose or None."""
        p = poly + off
        if tf is not None:
            p = (p - tf[1]) @ tf[0].T + tf[1] + tf[2]
        p = p / h - 0.5
        _draw_polygon(img, p[:, 0], p[:, 1], lab)

    def rasterize(
        self,
        states: np.ndarray,
        *,
        matrix: int = 84,
        spacing_mm: float = 2.4,
        supersample: int = 3,
        head_pose: np.ndarray | None = None,
    ) -> np.ndarray:
        """Label maps of the whole head.

        Args:
            states: ``(T, P)`` articulatory states.
            matrix: output matrix size of the MRI (the label maps are ``matrix * supersample``).
            spacing_mm: MRI pixel size (mm); FOV = ``matrix * spacing_mm``, head centred as in a
                200-mm FOV.
            supersample: sub-pixel factor (partial-volume rendering downstream).
            head_pose: ``(T, 3)`` (dx_mm, dy_mm, rotation_deg) rigid head motion, or None.

        Returns:
            ``(T, matrix*supersample, matrix*supersample)`` uint8 label maps
            (:data:`~mrisynth.phantom.labels.LABELS`), face left, superior up.
        """
        x = self.as_states(states)
        if matrix < 8 or supersample < 1 or spacing_mm <= 0:
            raise ValueError(
                f"rasterize: bad raster matrix={matrix}, supersample={supersample}, spacing_mm={spacing_mm}"
            )
        T = len(x)
        n = matrix * supersample
        h = spacing_mm / supersample
        shift = 0.5 * (matrix * spacing_mm - NOMINAL_FOV_MM)
        if head_pose is None:
            head_pose = np.zeros((T, 3))
        head_pose = np.asarray(head_pose, float)
        if head_pose.shape != (T, 3):
            raise ValueError(
                f"rasterize: head_pose must have shape ({T}, 3), got {head_pose.shape}"
            )
        static = self._static_map(n, h, shift)
        polys = self._frame_polygons(x)
        L = LABELS
        order = [
            ("lower_face", L["other_tissue"]),
            ("mandible", L["jaw_teeth"]),
            ("envelope", L["airway"]),
            ("tongue", L["tongue"]),
            ("larynx", L["other_tissue"]),
            ("trachea", L["airway"]),
            ("vestibule", L["airway"]),
            ("upper_lip", L["lips"]),
            ("lower_lip", L["lips"]),
            ("mandible", L["jaw_teeth"]),
            ("velum", L["velum"]),
        ]
        redraw = [(lab, p) for lab, p in self._static_polygons[3:]]  # palate, incisor, wall on top
        off = self.origin + shift
        pivot = self.origin + np.array([self.anatomy.oral_length_mm, 40.0]) + shift  # upper neck
        out = np.empty((T, n, n), np.uint8)
        centres = (np.arange(n) + 0.5) * h
        for t in range(T):
            dx, dy, rot = head_pose[t]
            moved = abs(dx) > 1e-6 or abs(dy) > 1e-6 or abs(rot) > 1e-6
            img = out[t]
            if moved:
                # inverse-map output pixel centres into the static map (nearest neighbour)
                c, sn = np.cos(np.deg2rad(rot)), np.sin(np.deg2rad(rot))
                qx = centres[None, :] - pivot[0] - dx
                qy = centres[:, None] - pivot[1] - dy
                sx = c * qx + sn * qy + pivot[0]
                sy = -sn * qx + c * qy + pivot[1]
                ix = np.clip((sx / h).astype(np.int32), 0, n - 1)
                iy = np.clip((sy / h).astype(np.int32), 0, n - 1)
                img[:] = static[iy, ix]
                rmat = np.array([[c, -sn], [sn, c]])
            else:
                img[:] = static
                rmat = None

            tf = (rmat, pivot, np.array([dx, dy])) if moved else None
            for name, lab in order:
                self._draw(img, polys[name][t], lab, off, h, tf)
            for lab, p in redraw:
                self._draw(img, p, lab, off, h, tf)
        return out
