"""A phantom reference for a real recording: the same sentence spoken by a phantom speaker.

Writes into ``--out``: ``reference.wav`` (the phantom's speech, 16 kHz), ``reference_phones.txt``
(its phones, ``start end phone`` in seconds) and ``frame.nii.gz`` (its first MRI frame: the
frame both recordings are synthesized on). The phones come from espeak-ng's own durations
(``text_to_segments``), not from the real recording, so the time alignment has work to do.

    python experiments/compare/real_pair.py --out out/real_pair \\
        --text "He turned sharply, and faced Gregson across the table."
    mrisynth compare --learner ../shared/data/real-speech/arctic_a0009.wav \\
        --reference out/real_pair/reference.wav --phones out/real_pair/reference_phones.txt \\
        --frame out/real_pair/frame.nii.gz --model experiments/quickstart/models/finetune \\
        --out out/compare_real
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--text", default="He turned sharply, and faced Gregson across the table.")
    ap.add_argument("--language", default="en")
    ap.add_argument("--speaker", type=int, default=12, help="phantom speaker index (12: unseen)")
    args = ap.parse_args(argv)

    from mrisynth.io import write_audio, write_sequence
    from mrisynth.phantom.corpus import PhantomConfig, Utterance, synthesize_utterance
    from mrisynth.phantom.text import text_to_segments

    segments = text_to_segments(args.text, args.language)
    utt = Utterance("real_pair", f"spk{args.speaker:02d}", args.speaker, args.language, 0,
                    "test", 7)  # fmt: skip
    out = synthesize_utterance(PhantomConfig(face=False), utt, lambda _: list(segments))
    seq = out["sequence"]
    args.out.mkdir(parents=True, exist_ok=True)
    write_audio(args.out / "reference.wav", seq.audio, seq.sample_rate)
    lines = [f"{s.start_s:.4f} {s.end_s:.4f} {s.symbol}" for s in out["segments"]]
    (args.out / "reference_phones.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_sequence(
        seq.replace(frames=seq.frames[:1], labels=None, audio=None, sample_rate=None),
        args.out / "frame.nii.gz",
    )
    print(f"wrote {args.out}: {len(segments)} phones, {seq.n_frames / seq.fps:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
