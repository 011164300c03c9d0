"""What ``mrisynth compare`` writes: side-by-side MP4, areagrams, report and metrics.

- ``side_by_side.mp4``: learner | reference on the reference's clock (each reference frame
  beside the learner frame DTW matched to it), the model's ROI enlarged 4×, a dot at each
  place's constriction (colours in :data:`PLACE_COLOURS`), the current reference phone under
  the frames, and a red frame and note while a flagged phone plays; the reference's audio.
- ``areagram_learner.png``, ``areagram_reference.png``: the area function over time, two
  rows: (1) the constriction degree (mm) at the five places from glottis to lips, measured on
  the segmented synthesis: a five-section midsagittal distance function, not a full area
  function; (2) the LPC (Wakita) relative log area of 10 tube sections from the audio.
- ``report.md`` / ``report.html``: the flagged phones with their numbers and notes, then
  every phone with the three flaggers' scores.
- ``metrics.json``: the same, for batch use.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mrisynth.evaluation.compare import PLACE_NAMES, Articulation, Comparison
from mrisynth.phantom.labels import CONSTRICTION_PLACES

__all__ = ["PLACE_COLOURS", "write_outputs", "comparison_metrics"]

#: Dot colours (RGB) of the places in the video.
PLACE_COLOURS = {
    "lips": (255, 80, 80),
    "tongue_tip": (255, 220, 0),
    "tongue_body": (0, 200, 255),
    "velum": (200, 120, 255),
    "pharynx": (60, 220, 90),
}
#: Enlargement of the ROI in the video.
SCALE = 4
#: Places from glottis to lips (the areagram's rows, bottom to top).
GLOTTIS_TO_LIPS = ("pharynx", "velum", "tongue_body", "tongue_tip", "lips")


def comparison_metrics(comparison: Comparison, meta: dict[str, Any]) -> dict[str, Any]:
    """The comparison as a JSON-able dict (``metrics.json``)."""
    cfg = comparison.config
    phones = comparison.phones
    return {
        **meta,
        "named_by": comparison.named_by,
        "threshold_mm": cfg.threshold_mm,
        "acoustic_threshold": cfg.acoustic_threshold,
        "lpc_threshold": cfg.lpc_threshold,
        "n_phones": len(phones),
        "n_flagged": sum(p.flagged for p in phones),
        "n_flagged_acoustic": sum(p.acoustic_flag for p in phones),
        "n_flagged_lpc": sum(p.lpc_flag for p in phones),
        "flagged": [p.span.label for p in phones if p.flagged],
        "phones": [p.row() for p in phones],
    }


def _font(size: int):
    from matplotlib import font_manager
    from PIL import ImageFont

    # DejaVu Sans (shipped with matplotlib) has the IPA symbols; PIL's default font does not
    return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)


def _rgb(frames: np.ndarray) -> np.ndarray:
    g = np.rint(np.clip(frames, 0, 1) * 255).astype(np.uint8)
    g = np.repeat(np.repeat(g, SCALE, axis=1), SCALE, axis=2)
    return np.repeat(g[..., None], 3, axis=-1)


def _phone_at(comparison: Comparison, t: float):
    for p in comparison.phones:
        if p.span.start_s <= t < p.span.end_s:
            return p
    return None


def _write_video(
    path: Path, learner: Articulation, reference: Articulation, comparison: Comparison
) -> None:
    from PIL import Image, ImageDraw

    from mrisynth.synthesis import Mp4Writer

    s = reference.frames.shape[1] * SCALE
    strip, gap = 40, 4
    shape = (s + strip, 2 * s + gap)
    font, small = _font(14), _font(11)
    fps = reference.fps
    with Mp4Writer(path, fps, shape, reference.audio, reference.sample_rate, rgb=True) as video:
        for k0 in range(0, len(reference.frames), 64):
            k1 = min(len(reference.frames), k0 + 64)
            out = np.zeros((k1 - k0, *shape, 3), np.uint8)
            kl = comparison.learner_frame[k0:k1]
            out[:, :s, :s] = _rgb(learner.frames[kl])
            out[:, :s, s + gap :] = _rgb(reference.frames[k0:k1])
            for i, k in enumerate(range(k0, k1)):
                img = Image.fromarray(out[i])
                draw = ImageDraw.Draw(img)
                for art, frame, left in ((learner, kl[i], 0), (reference, k, s + gap)):
                    for place in CONSTRICTION_PLACES:
                        x, y = art.measures[f"{place}_location_mm"][frame]
                        if np.isfinite(x):
                            cx = left + (x / art.spacing_mm[1] + 0.5) * SCALE
                            cy = (y / art.spacing_mm[0] + 0.5) * SCALE
                            draw.ellipse(
                                (cx - 3, cy - 3, cx + 3, cy + 3), fill=PLACE_COLOURS[place]
                            )
                draw.text((4, 2), "learner", fill=(255, 255, 255), font=small)
                draw.text((s + gap + 4, 2), "reference", fill=(255, 255, 255), font=small)
                phone = _phone_at(comparison, (k + 0.5) / fps)
                if phone is not None:
                    colour = (255, 60, 60) if phone.flagged else (230, 230, 230)
                    draw.text((4, s + 2), phone.span.label, fill=colour, font=font)
                    if phone.flagged:
                        draw.rectangle((0, 0, s - 1, s - 1), outline=(255, 60, 60), width=3)
                        note = phone.notes[0] if phone.notes else "differs"
                        draw.text((4, s + 21), note[:70], fill=(255, 120, 120), font=small)
                out[i] = np.asarray(img)
            video.write(out)


def _areagram(path: Path, art: Articulation, lpc: np.ndarray, comparison: Comparison,
              title: str, spans: list[tuple[float, float, str, bool]], hop_s: float) -> None:  # fmt: skip
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    degrees = np.stack([art.measures[f"{p}_degree_mm"] for p in GLOTTIS_TO_LIPS])  # (5, T)
    dur = len(art.labels) / art.fps
    fig, axes = plt.subplots(2, 1, figsize=(max(6.0, 2.5 * dur), 4.6), sharex=True)
    im = axes[0].imshow(
        np.clip(degrees, 0, 20), aspect="auto", origin="lower", cmap="magma",
        extent=(0, dur, -0.5, len(GLOTTIS_TO_LIPS) - 0.5), vmin=0, vmax=20,
    )  # fmt: skip
    axes[0].set_yticks(range(len(GLOTTIS_TO_LIPS)))
    axes[0].set_yticklabels([PLACE_NAMES[p] for p in GLOTTIS_TO_LIPS], fontsize=7)
    axes[0].set_title(
        f"{title}: constriction degree (mm) from the segmented synthesis", fontsize=9, pad=24
    )
    fig.colorbar(im, ax=axes[0], pad=0.01, label="mm")
    lpc_dur = len(lpc) * hop_s
    im2 = axes[1].imshow(
        lpc.T, aspect="auto", origin="lower", cmap="viridis",
        extent=(0, lpc_dur, 0.5, lpc.shape[1] + 0.5), vmin=-2, vmax=2,
    )  # fmt: skip
    axes[1].set_ylabel("section\n(glottis → lips)", fontsize=7)
    axes[1].set_title("LPC (Wakita) relative log area from the audio (blank: silence)", fontsize=9)
    fig.colorbar(im2, ax=axes[1], pad=0.01, label="log area")
    for i, (a, b, label, flagged) in enumerate(spans):
        for ax in axes:
            ax.axvline(a, color="white", lw=0.4, alpha=0.6)
        # phone names above the plot, on two alternating lines so short phones fit
        axes[0].text(
            (a + b) / 2, 1.02 + 0.1 * (i % 2), label, ha="center", va="bottom", fontsize=7,
            transform=axes[0].get_xaxis_transform(), color="red" if flagged else "black",
            fontweight="bold" if flagged else "normal",
        )  # fmt: skip
    axes[1].set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _report(metrics: dict[str, Any], comparison: Comparison) -> tuple[str, str]:
    import html

    from mrisynth.evaluation.report import html_table, markdown_table

    thr = comparison.config.threshold_mm
    unit = "phone" if comparison.named_by == "phones" else "time segment"
    flag_rows = []
    for p in comparison.flagged:
        worst = max(
            p.places.items(),
            key=lambda kv: max(
                abs(kv[1]["degree_diff_mm"]) if np.isfinite(kv[1]["degree_diff_mm"]) else 0,
                kv[1]["location_mm"] if np.isfinite(kv[1]["location_mm"]) else 0,
            ),
        )
        place, d = worst
        flag_rows.append([
            p.span.label,
            f"{p.span.start_s:.2f}–{p.span.end_s:.2f}",
            f"{p.learner_s[0]:.2f}–{p.learner_s[1]:.2f}",
            PLACE_NAMES[place],
            _fmt(d["degree_diff_mm"]),
            _fmt(d["dx_mm"]),
            _fmt(d["dy_mm"]),
            "; ".join(p.notes),
        ])  # fmt: skip
    all_rows = [
        [
            p.span.label, f"{p.span.start_s:.2f}", _fmt(p.score_mm), "**yes**" if p.flagged else "",
            _fmt(p.acoustic, 2), "yes" if p.acoustic_flag else "", _fmt(p.lpc, 2),
            "yes" if p.lpc_flag else "",
        ]
        for p in comparison.phones
    ]  # fmt: skip
    flag_head = [
        unit, "reference s", "learner s", "place", "Δ degree mm", "Δ x mm (+ back)",
        "Δ y mm (+ down)", "note",
    ]  # fmt: skip
    all_head = [
        unit, "start s", "rtMRI Δ mm", "flagged", "acoustic (MFCC)", "flag", "LPC area", "flag",
    ]  # fmt: skip
    intro = (
        f"Learner `{metrics['learner']}` against reference `{metrics['reference']}`, both "
        f"synthesized with `{metrics['model']}` from one reference frame (same anatomy) and "
        f"segmented with `{metrics['segmenter']}`. {metrics['n_flagged']} of "
        f"{metrics['n_phones']} {unit}s differ by more than {thr:g} mm in the constriction "
        f"degree or location at a place the {unit} uses. Δ = learner − reference; x runs from "
        "the lips towards the pharynx, y downwards; locations are compared only where the "
        f"reference's constriction is at most {comparison.config.location_gate_mm:g} mm open."
    )
    caveat = (
        "The articulation shown is what the model infers from each recording's audio, "
        "not a measurement of the speaker: a difference is worth a listen, not a diagnosis. "
        "The acoustic and LPC columns are audio-only baselines (MFCC distance along the time "
        "alignment; Wakita's LPC area function, valid for vowel-like sounds only)."
    )
    warn = metrics.get("warnings") or []
    md = [f"# Articulation comparison\n\n{intro}\n"]
    if warn:
        md.append("**Warnings:** " + " ".join(warn) + "\n")
    md.append("## Flagged\n")
    md.append(
        markdown_table(flag_head, flag_rows) if flag_rows else "Nothing beyond the threshold.\n"
    )
    md.append(f"\n## Every {unit}\n")
    md.append(markdown_table(all_head, all_rows))
    md.append(
        f"\n{caveat}\n\n![learner](areagram_learner.png)\n![reference](areagram_reference.png)\n"
        "\nVideo: [side_by_side.mp4](side_by_side.mp4) (learner | reference, time-aligned).\n"
    )
    body = [f"<h1>Articulation comparison</h1><p>{html.escape(intro)}</p>"]
    if warn:
        body.append(f"<p><b>Warnings:</b> {html.escape(' '.join(warn))}</p>")
    body.append("<h2>Flagged</h2>")
    body.append(
        html_table(flag_head, flag_rows) if flag_rows else "<p>Nothing beyond the threshold.</p>"
    )
    body.append(f"<h2>Every {unit}</h2>")
    body.append(html_table(all_head, [[str(c).replace("**", "") for c in r] for r in all_rows]))
    body.append(f"<p>{html.escape(caveat)}</p>")
    body.append('<video controls src="side_by_side.mp4" width="600"></video>')
    body.append('<p><img src="areagram_learner.png"><br><img src="areagram_reference.png"></p>')
    page = (
        '<!doctype html><html><head><meta charset="utf-8"><title>compare</title><style>'
        "body{font-family:sans-serif;max-width:1100px}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}</style></head><body>"
        + "".join(body)
        + "</body></html>"
    )
    return "\n".join(md), page


def _fmt(v: float, digits: int = 1) -> str:
    return (
        f"{v:+.{digits}f}"
        if digits == 1 and np.isfinite(v)
        else (f"{v:.{digits}f}" if np.isfinite(v) else "—")
    )


def write_outputs(
    out: Path,
    learner: Articulation,
    reference: Articulation,
    comparison: Comparison,
    meta: dict[str, Any],
    *,
    video: bool = True,
) -> dict[str, Any]:
    """Write everything into the folder ``out`` (created; it must not hold files) at once:
    the files are made in a staging folder beside it and moved into place at the end, so a
    failure leaves nothing behind.

    Returns:
        The metrics written to ``metrics.json``.
    """
    from mrisynth.synthesis import StagedOutputs

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"--out {out}: exists and is not an empty folder")
    metrics = comparison_metrics(comparison, meta)
    hop = comparison.config.hop_s
    ref_spans = [(p.span.start_s, p.span.end_s, p.span.label, p.flagged) for p in comparison.phones]
    lrn_spans = [(*p.learner_s, p.span.label, p.flagged) for p in comparison.phones]
    with StagedOutputs() as staged:
        folder = staged.stage(out)
        folder.mkdir()
        if video:
            _write_video(folder / "side_by_side.mp4", learner, reference, comparison)
        _areagram(folder / "areagram_learner.png", learner, comparison.lpc_learner, comparison,
                  "learner", lrn_spans, hop)  # fmt: skip
        _areagram(folder / "areagram_reference.png", reference, comparison.lpc_reference,
                  comparison, "reference", ref_spans, hop)  # fmt: skip
        md, page = _report(metrics, comparison)
        (folder / "report.md").write_text(md, encoding="utf-8")
        (folder / "report.html").write_text(page, encoding="utf-8")
        (folder / "metrics.json").write_text(
            json.dumps(metrics, indent=1, ensure_ascii=False), encoding="utf-8"
        )
        if out.exists():
            out.rmdir()  # empty: the staged folder takes its place
    return metrics
