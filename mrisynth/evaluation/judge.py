"""Can a sync expert judge these recordings? Real vs shuffled audio, and shifted audio.

An evaluation expert is only a judge where it tells a recording's own audio from another
recording's. :func:`judge_sync` measures that on recordings alone (no generator): per clip,

- ``real``: LSE-D / LSE-C of the recorded frames with their own audio;
- ``shuffled``: the same frames with the next clip's audio (the clips are cycled);
- ``shift_<k>``: the own audio deliberately shifted by ``k`` frames (``EvalConfig.
  offset_test_frames``, positive = audio later); the expert's recovered AV offset must equal
  ``k``, and ``|recovered - k|`` is the error, in frames and in ms.

:class:`SyncJudgement` summarises them as a mean with a 95% t-interval over clips
(:func:`mrisynth.metrics.stats.summarize`). The expert *separates* real from shuffled when the
two LSE-D intervals do not overlap and real is the lower; it *recovers* the shifts when every
clip's error is within a tolerance (issue 13: ±2 frames). The clips should be long enough for
the searched offsets (``sync_span_ms``) and there should be several of them: an interval over
two clips is wide by construction.

Used by ``mrisynth adapt`` (zero-shot expert vs the adapted one, in the speaker report) and by
``experiments/real_template`` (the unseen appearance domain).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mrisynth.data.sequence import SpeechMRISequence
from mrisynth.data.spec import DataSpec
from mrisynth.evaluation.config import EvalConfig
from mrisynth.evaluation.methods import Recording
from mrisynth.evaluation.scoring import Scorer
from mrisynth.metrics.stats import Summary, intervals_overlap, summarize

__all__ = ["SyncJudgement", "judge_sync"]


@dataclasses.dataclass(frozen=True)
class SyncJudgement:
    """How one sync expert (or one per speaker) scored a set of recordings.

    Attributes:
        per_clip: ``(n_clips,)`` values per measure: ``real_lse_d``, ``shuffled_lse_d``,
            ``real_lse_c``, ``shuffled_lse_c``.
        shift_errors: ``(n_clips,)`` ``|recovered - shift|`` offset errors (frames) per shift
            (NaN where the shift lies outside the searched offsets).
        fps: the clips' frame rate (for the errors in ms).
        clips: the clip names, in order.
    """

    per_clip: dict[str, np.ndarray]
    shift_errors: dict[int, np.ndarray]
    fps: float
    clips: tuple[str, ...]

    @classmethod
    def pooled(cls, judgements: Sequence[SyncJudgement]) -> SyncJudgement:
        """The clips of several judgements (e.g. each speaker's own adapted judge) as one.

        Raises:
            ValueError: no judgements, or different frame rates or shifts.
        """
        if not judgements:
            raise ValueError("pooling needs at least one judgement")
        first = judgements[0]
        for j in judgements[1:]:
            if j.fps != first.fps or set(j.shift_errors) != set(first.shift_errors):
                raise ValueError("pooled judgements must share the frame rate and the shifts")
        return cls(
            per_clip={
                k: np.concatenate([j.per_clip[k] for j in judgements]) for k in first.per_clip
            },
            shift_errors={
                s: np.concatenate([j.shift_errors[s] for j in judgements])
                for s in first.shift_errors
            },
            fps=first.fps,
            clips=tuple(c for j in judgements for c in j.clips),
        )

    @property
    def real_lse_d(self) -> Summary:
        return summarize(self.per_clip["real_lse_d"])

    @property
    def shuffled_lse_d(self) -> Summary:
        return summarize(self.per_clip["shuffled_lse_d"])

    @property
    def real_lse_c(self) -> Summary:
        return summarize(self.per_clip["real_lse_c"])

    @property
    def shuffled_lse_c(self) -> Summary:
        return summarize(self.per_clip["shuffled_lse_c"])

    @property
    def separates(self) -> bool:
        """Real audio scores clearly better (lower LSE-D) than shuffled: disjoint 95% CIs."""
        r, s = self.real_lse_d, self.shuffled_lse_d
        return r.n > 1 and s.n > 1 and not intervals_overlap(r, s) and r.mean < s.mean

    def max_shift_error(self) -> float:
        """The largest shift-recovery error over shifts and clips (frames; NaN if none)."""
        errs = np.concatenate([e[np.isfinite(e)] for e in self.shift_errors.values()] or [[]])
        return float(errs.max()) if errs.size else float("nan")

    def recovers_shifts(self, tolerance_frames: float = 2.0) -> bool:
        """Every deliberately shifted clip is recovered within ``tolerance_frames``."""
        worst = self.max_shift_error()
        return bool(np.isfinite(worst) and worst <= tolerance_frames)

    def as_dict(self) -> dict[str, float]:
        """Flat numbers for metrics files (``real.lse_d``, ``real.lse_d_low``...,
        ``shift_-6.offset_error_max``, ``..._ms``, ``separates`` as 0/1)."""
        out: dict[str, float] = {}
        for name, s in (
            ("real.lse_d", self.real_lse_d),
            ("shuffled.lse_d", self.shuffled_lse_d),
            ("real.lse_c", self.real_lse_c),
            ("shuffled.lse_c", self.shuffled_lse_c),
        ):
            out[name], out[f"{name}_low"], out[f"{name}_high"] = s.mean, s.low, s.high
        ms = 1000.0 / self.fps
        for shift, err in self.shift_errors.items():
            finite = err[np.isfinite(err)]
            mean = float(finite.mean()) if finite.size else float("nan")
            worst = float(finite.max()) if finite.size else float("nan")
            out[f"shift_{shift}.offset_error"] = mean
            out[f"shift_{shift}.offset_error_max"] = worst
            out[f"shift_{shift}.offset_error_max_ms"] = worst * ms
        out["separates"] = float(self.separates)
        out["max_shift_error"] = self.max_shift_error()
        out["n_clips"] = float(len(self.clips))
        return out

    def markdown(self, title: str) -> str:
        """A small Markdown table of the judgement under a ``title`` heading."""
        ms = 1000.0 / self.fps
        lines = [
            f"### {title}",
            "",
            "| | LSE-D (lower = in sync) | LSE-C (higher = confident) |",
            "|---|---|---|",
            f"| own audio | {self.real_lse_d.format()} | {self.real_lse_c.format()} |",
            f"| shuffled audio | {self.shuffled_lse_d.format()} | {self.shuffled_lse_c.format()} |",
            "",
            f"Real vs shuffled: **{'separated' if self.separates else 'NOT separated'}** "
            f"(95% CIs over {len(self.clips)} clips).",
        ]
        for shift, err in self.shift_errors.items():
            finite = err[np.isfinite(err)]
            worst = (
                f"{finite.max():.0f} frames ({finite.max() * ms:.0f} ms)" if finite.size else "n/a"
            )
            lines.append(
                f"Audio shifted {shift:+d} frames ({shift * ms:+.0f} ms): worst error {worst}."
            )
        return "\n".join(lines) + "\n"


def judge_sync(
    recordings: Sequence[SpeechMRISequence],
    expert_ckpt: str | Path,
    cfg: EvalConfig | None = None,
) -> SyncJudgement:
    """Score ``recordings`` with a sync expert: own vs shuffled audio, and shifted audio.

    Args:
        recordings: at least two prepared clips ``(T, H, W)`` with audio, on the expert's grid
            (fps, frame size); each must be longer than the expert's window.
        expert_ckpt: a sync-expert model file (:mod:`mrisynth.models.artifacts`).
        cfg: the offsets searched (``sync_span_ms``), the shifts (``offset_test_frames``),
            batch size and device; default :class:`EvalConfig`.

    Returns:
        The :class:`SyncJudgement`.

    Raises:
        ValueError: fewer than two recordings (no shuffled control) or recordings that do not
            fit the expert (names the clip and both values).
    """
    from mrisynth.data.intensity import to_unit
    from mrisynth.models.artifacts import load_model

    cfg = cfg or EvalConfig()
    if len(recordings) < 2:
        raise ValueError(
            f"judging a sync expert needs at least 2 clips (one's audio is another's shuffled "
            f"control), got {len(recordings)}"
        )
    expert, art = load_model(expert_ckpt, "sync_expert", map_location=cfg.device)
    expert_cfg = art.config()
    spec = DataSpec.of_model(expert_cfg)
    recs: list[Recording] = []
    for i, seq in enumerate(recordings):
        spec.check_sequence(seq, seq.utterance_id or f"clip {i}", audio_resample=True)
        recs.append(Recording.of(seq, expert_cfg))
    scorer = Scorer(expert=expert, expert_cfg=expert_cfg, mask=None, fps=expert_cfg.fps, cfg=cfg)
    names = ("real_lse_d", "real_lse_c", "shuffled_lse_d", "shuffled_lse_c")
    rows: dict[str, list[float]] = {name: [] for name in names}
    errors: dict[int, list[float]] = {s: [] for s in cfg.offset_test_frames}
    for i, rec in enumerate(recs):
        seq = rec.seq
        frames = to_unit(seq.frames)
        k = scorer.max_offset(seq)
        real = scorer.sync(frames, rec, seq.audio_offset_s, k)
        other = recs[(i + 1) % len(recs)]
        shuffled = scorer.sync(frames, other, other.seq.audio_offset_s, k)
        rows["real_lse_d"].append(real.lse_d)
        rows["real_lse_c"].append(real.lse_c)
        rows["shuffled_lse_d"].append(shuffled.lse_d)
        rows["shuffled_lse_c"].append(shuffled.lse_c)
        for shift in cfg.offset_test_frames:
            s = scorer.sync(frames, rec, seq.audio_offset_s + shift / seq.fps, k)
            errors[shift].append(abs(s.offset - shift) if abs(shift) <= k else float("nan"))
    return SyncJudgement(
        per_clip={k: np.asarray(v, dtype=np.float64) for k, v in rows.items()},
        shift_errors={s: np.asarray(v, dtype=np.float64) for s, v in errors.items()},
        fps=float(expert_cfg.fps),
        clips=tuple(r.name for r in recs),
    )
