"""Can the evaluation expert judge these recordings? Zero-shot vs adapted, every speaker.

For each speaker folder written by ``mrisynth adapt`` (``speakers/<spk>/``), the held-out
pieces (``work/pieces.csv``, split ``test``) are judged by

- ``zero_shot``: the pretrained evaluation expert (``<pretrained>/eval_expert/expert.pt``);
- ``adapted``: the speaker's own adapted one (``speakers/<spk>/eval_expert.pt``),

with :func:`mrisynth.evaluation.judge.judge_sync`: LSE-D of the real audio vs another piece's
(shuffled) audio, and the recovery of deliberately shifted audio. The speakers' clips are
pooled into one judgement per expert kind (each clip judged by its own speaker's expert).
The criterion (issue 13): zero-shot, the real and shuffled 95% CIs overlap; adapted, they do
not, and every shifted clip is recovered within ``tolerance_frames``.

Run (from experiments/real_template, after the adapt stages)::

    python judge.py --speakers speakers --pretrained ../quickstart/models --params params.yaml \\
        --out metrics

Writes ``judge.json`` (flat numbers per expert kind, pooled and per speaker) and ``judge.md``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from mrisynth.data.manifest import read_manifest
from mrisynth.data.sequence import SpeechMRISequence
from mrisynth.evaluation.config import EvalConfig
from mrisynth.evaluation.judge import SyncJudgement, judge_sync
from mrisynth.recipes.adapt import find_pretrained


def held_out(folder: Path) -> list[SpeechMRISequence]:
    """The held-out pieces of a speaker folder."""
    pieces = folder / "work" / "pieces.csv"
    if not pieces.is_file():
        raise SystemExit(f"{folder}: no work/pieces.csv (not a folder of `mrisynth adapt`)")
    return [
        SpeechMRISequence.load(pieces.parent / e.image_path).replace(utterance_id=e.id)
        for e in read_manifest(pieces)
        if e.split == "test"
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--speakers", type=Path, required=True, help="folder of speaker folders")
    ap.add_argument("--pretrained", type=Path, required=True, help="the pretrained models")
    ap.add_argument("--params", type=Path, help="params.yaml with a 'judge' section")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    settings = (
        (yaml.safe_load(args.params.read_text()) or {}).get("judge", {}) if args.params else {}
    )
    tolerance = float(settings.get("tolerance_frames", 2))
    cfg = EvalConfig(offset_test_frames=tuple(settings.get("offset_test_frames", (-6, 6))))
    zero_shot_expert = find_pretrained(args.pretrained).eval_expert

    folders = sorted(p for p in args.speakers.iterdir() if (p / "speaker.json").is_file())
    if not folders:
        raise SystemExit(f"{args.speakers}: no speaker folders (run the adapt stages first)")
    judged: dict[str, dict[str, SyncJudgement]] = {"zero_shot": {}, "adapted": {}}
    for folder in folders:
        clips = held_out(folder)
        judged["zero_shot"][folder.name] = judge_sync(clips, zero_shot_expert, cfg)
        judged["adapted"][folder.name] = judge_sync(clips, folder / "eval_expert.pt", cfg)

    result: dict[str, dict] = {}
    lines = [
        "# Sync judges on the held-out recordings: zero-shot vs adapted",
        "",
        f"Speakers: {', '.join(f.name for f in folders)}. Shifts recovered means every shifted "
        f"clip within ±{tolerance:g} frames.",
        "",
    ]
    for kind, per_speaker in judged.items():
        pooled = SyncJudgement.pooled(list(per_speaker.values()))
        flat = pooled.as_dict()
        flat["recovers_shifts"] = float(pooled.recovers_shifts(tolerance))
        result[kind] = {
            "pooled": flat,
            "speakers": {spk: j.as_dict() for spk, j in per_speaker.items()},
        }
        title = "Pretrained (zero-shot) judge" if kind == "zero_shot" else "Adapted judges"
        lines.append(pooled.markdown(f"{title}, {len(pooled.clips)} clips pooled"))
        lines.append(
            f"Shifts recovered within ±{tolerance:g} frames: "
            f"**{'yes' if pooled.recovers_shifts(tolerance) else 'no'}**.\n"
        )
    criterion = (
        result["zero_shot"]["pooled"]["separates"] == 0.0
        and result["adapted"]["pooled"]["separates"] == 1.0
        and result["adapted"]["pooled"]["recovers_shifts"] == 1.0
    )
    result["criterion_met"] = float(criterion)
    lines.append(
        "Criterion (zero-shot CIs overlap; adapted CIs disjoint and shifts recovered): "
        f"**{'met' if criterion else 'NOT met'}**."
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "judge.json").write_text(json.dumps(_finite(result), indent=2) + "\n")
    (args.out / "judge.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _finite(value):
    """JSON-safe: NaN (a shift outside the searched offsets) becomes null."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, float) and value != value:
        return None
    return value


if __name__ == "__main__":
    main()
