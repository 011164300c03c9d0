"""Validation of ``mrisynth compare`` on the phantom, where the truth is known (issue 16).

Learner utterances are made by substituting one phoneme in a built-in sentence (retroflex →
dental, /r/ → /l/, vowel backing or fronting, missing lip rounding; aspiration, which has no
midsagittal correlate, is scored separately). Learner and reference are different phantom
speakers that no model has seen (speaker indices 8 and up of the quickstart's corpus seed;
the quickstart trains on speakers 0–7), every language; a control pair per sentence has no
substitution. Both utterances go through what the command does (synthesis with one model and
one frame, segmentation, DTW, per-phone comparison against the reference's phones).

Flaggers, each scoring every reference phone: (a) ``rtmri``, the synthesized-rtMRI
comparison (largest constriction difference, mm); (b) ``acoustic``, the MFCC distance
along the DTW path; (c) ``lpc``, the LPC (Wakita) area-function difference; and, as an upper
bound, ``oracle``: (a) measured on the phantom's ground-truth label maps instead of the
segmented synthesis. Thresholds are fixed on the development pairs (best F1) and applied to
the test pairs. A flagged phone is a hit when it lies within the substituted phone ± 1;
precision counts flagged phones (controls' flags are all false), recall counts substitution
pairs with a hit. 95 % CIs and the F1 differences by bootstrap over pairs.

    python experiments/compare/validate.py --no-model --oracle --out R0
    python experiments/compare/validate.py --models experiments/quickstart/models \\
        --out R --renders R0/renders --merge R0/scores.jsonl

``experiments/compare/dvc.yaml`` runs every validation README reports (``dvc repro
experiments/compare/dvc.yaml``). Scores are cached per pair in ``<out>/scores.jsonl``: a
rerun resumes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


LANGUAGES = ("en", "te", "ta", "kn", "ml", "hi")
#: (reference speaker, learner speaker) per split: indices beyond the quickstart's 8.
SPLITS = {"dev": (8, 9), "test": (10, 11)}
#: The speaker whose first frame both recordings are synthesized on (unseen too).
FRAME_SPEAKER = 12
SUBSTITUTIONS: dict[str, dict[str, str]] = {
    "retroflex_to_dental": {
        "ʈ": "t̪", "ɖ": "d̪", "ʈʰ": "t̪ʰ", "ɖʰ": "d̪ʰ", "ɳ": "n̪", "ɭ": "l", "ʂ": "s", "ɽ": "ɾ",
        "ɻ": "ɹ",
    },
    "r_to_l": {"ɹ": "l", "r": "l", "ɾ": "l"},
    "vowel_backing_fronting": {
        "i": "ɯ", "ɪ": "ɯ", "æ": "ɑ", "a": "ɑ", "aː": "ɑː", "ɛ": "ʌ", "ɑ": "æ", "ɑː": "aː",
        "ʌ": "ɛ", "ɐ": "ɛ", "u": "ʉ", "ʊ": "ɪ",
    },
    "missing_lip_rounding": {"u": "ɯ", "uː": "ɯ", "ʊ": "ɯ", "o": "ʌ", "oː": "ʌ", "ɔ": "ʌ",
                             "ɔː": "ʌ", "ʉ": "ɨ"},
    "aspiration": {
        "t̪ʰ": "t̪", "kʰ": "k", "pʰ": "p", "ʈʰ": "ʈ", "bʰ": "b", "gʰ": "g", "d̪ʰ": "d̪",
        "t̪": "t̪ʰ", "k": "kʰ", "p": "pʰ",
    },
}  # fmt: skip
#: Error types inside the target (aspiration is reported on its own).
TARGET = ("retroflex_to_dental", "r_to_l", "vowel_backing_fronting", "missing_lip_rounding")
FLAGGERS = ("rtmri", "acoustic", "lpc", "oracle")


@dataclasses.dataclass(frozen=True)
class Pair:
    split: str
    language: str
    sentence: int
    kind: str  # an error type or "control"
    index: int  # substituted phone in the reference's segments (-1: control)
    old: str
    new: str

    @property
    def key(self) -> str:
        return f"{self.split}/{self.language}{self.sentence:02d}/{self.kind}/{self.index}"


def plan(n_sentences: int, seed: int = 0) -> list[Pair]:
    """Substitution pairs: per split, language and sentence, one phone per error type."""
    from mrisynth.phantom.text import load_sentences

    rng = np.random.default_rng(seed)
    pairs = []
    for split in SPLITS:
        for lang in LANGUAGES:
            sentences = load_sentences(lang)
            # the same sentences in both splits would make them less independent: offset
            offset = 0 if split == "dev" else n_sentences
            for s in range(offset, min(len(sentences), offset + n_sentences)):
                sym = list(sentences[s].phonemes)
                pairs.append(Pair(split, lang, s, "control", -1, "", ""))
                for kind, table in SUBSTITUTIONS.items():
                    # segment index = phoneme index + 1 (the leading silence)
                    cands = [i for i, p in enumerate(sym) if p in table and 0 < i < len(sym) - 1]
                    if not cands:
                        continue
                    # place errors are the headline: up to two retroflexes per sentence
                    n = 2 if kind == "retroflex_to_dental" else 1
                    for i in sorted(rng.choice(cands, size=min(n, len(cands)), replace=False)):
                        i = int(i)
                        pairs.append(Pair(split, lang, s, kind, i + 1, sym[i], table[sym[i]]))
    return pairs


def _utterance(speaker: int, lang: str, sentence: int):
    from mrisynth.phantom.corpus import Utterance

    seed = 100_000 * speaker + 1000 * LANGUAGES.index(lang) + sentence
    return Utterance(f"spk{speaker:02d}_{lang}_{sentence:02d}", f"spk{speaker:02d}", speaker,
                     lang, sentence, "test", seed)  # fmt: skip


def _gt(out):
    from mrisynth.evaluation.compare import Articulation
    from mrisynth.metrics.constriction import measure_constrictions

    seq = out["sequence"]
    return Articulation(
        frames=np.zeros((0,), np.float32),
        labels=seq.labels,
        measures=measure_constrictions(seq.labels, seq.spacing_mm, contact_centre=True),
        fps=seq.fps,
        spacing_mm=seq.spacing_mm,
        audio=seq.audio,
        sample_rate=seq.sample_rate,
    )


def _render(ctx: dict, name: str, utt, edit=None, need_labels: bool = False) -> dict:
    """A phantom utterance's audio and phones, from the render cache when there (a scored
    utterance keeps its audio in ``<out>/renders``: a later run with a model needs no
    re-rendering); ``need_labels`` always renders (the ground truth is not cached)."""
    from mrisynth.phantom.corpus import synthesize_utterance
    from mrisynth.phantom.inventory import PhoneSegment

    path = ctx["renders"] / f"{name.replace('/', '_')}.npz"
    if path.exists() and not need_labels:
        z = np.load(path)
        segs = json.loads(str(z["segments"]))
        return {
            "audio": z["audio"],
            "sr": int(z["sr"]),
            "segments": [PhoneSegment(*s) for s in segs],
            "out": None,
        }
    out = synthesize_utterance(ctx["phantom"], utt, edit)
    seq = out["sequence"]
    segs = [[s.symbol, s.start_s, s.end_s] for s in out["segments"]]
    np.savez(path, audio=seq.audio, sr=seq.sample_rate, segments=json.dumps(segs))
    return {"audio": seq.audio, "sr": seq.sample_rate, "segments": out["segments"], "out": out}


def _articulation(r: dict, ctx: dict):
    """The synthesized articulation, or without a model the ground truth (which only the
    audio flaggers then use: across two anatomies the label maps differ everywhere)."""
    from mrisynth.evaluation.compare import articulate

    if ctx["model"] is None:
        return _gt(r["out"])
    return articulate(r["audio"], r["sr"], ctx["frame"], ctx["model"], ctx["segmenter"],
                      progress=False)  # fmt: skip


def score_pair(pair: Pair, ctx: dict, cache: dict) -> dict:
    """Per reference phone: its segment index and each flagger's score."""
    from mrisynth.evaluation.compare import PhoneSpan, compare_articulations, substitute
    from mrisynth.phantom.corpus import synthesize_utterance

    cfg = ctx["phantom"]
    a, b = SPLITS[pair.split]
    if ctx.get("same_speaker"):
        b = a  # the diagnostic: the reference's own utterance, one phone substituted
    learner_utt = _utterance(b, pair.language, pair.sentence)
    if ctx.get("same_voice"):
        # the diagnostic: the learner's utterance (its own timing draws) spoken by the
        # reference speaker, so voice and anatomy are the reference's and only the token differs
        learner_utt = dataclasses.replace(learner_utt, speaker=f"spk{a:02d}", speaker_index=a)
    labels = ctx["model"] is None or ctx["oracle"]
    rkey = (pair.split, pair.language, pair.sentence)
    if rkey not in cache:
        utt = _utterance(a, pair.language, pair.sentence)
        ref = _render(ctx, f"ref_{pair.split}_{pair.language}{pair.sentence:02d}", utt,
                      need_labels=labels)  # fmt: skip
        cache.clear()  # one reference at a time (pairs come sorted by sentence)
        cache[rkey] = (ref, _articulation(ref, ctx))
    ref, ref_art = cache[rkey]
    edit = None if pair.kind == "control" else substitute(pair.index, pair.new)
    # the diagnostics' learners get their own cache names: renders may be shared between runs
    name = pair.key + ("_same" if ctx.get("same_speaker") else "")
    name += "_voice" if ctx.get("same_voice") else ""
    lrn = _render(ctx, name, learner_utt, edit, need_labels=labels)
    if edit is not None:
        assert lrn["segments"][pair.index].symbol == pair.new
        assert ref["segments"][pair.index].symbol == pair.old
    if ctx.get("equalise") and ctx["model"] is not None:
        from mrisynth.evaluation.compare import match_spectrum

        lrn = {**lrn, "audio": match_spectrum(lrn["audio"], ref["audio"], lrn["sr"])}
    lrn_art = _articulation(lrn, ctx)
    spans = [PhoneSpan(s.start_s, s.end_s, s.symbol, s.symbol) for s in ref["segments"]]
    index = {id(s): i for i, s in enumerate(spans)}
    syn = compare_articulations(lrn_art, ref_art, spans)
    ora = syn
    if ctx["oracle"]:
        # the learner's utterance (its timing draws) spoken with the reference's anatomy:
        # ground-truth labels of one anatomy, what (a) could reach with a perfect model and
        # segmenter (across anatomies the label maps differ everywhere)
        same = dataclasses.replace(_utterance(b, pair.language, pair.sentence),
                                   speaker=f"spk{a:02d}", speaker_index=a)  # fmt: skip
        ora = compare_articulations(
            _gt(synthesize_utterance(cfg, same, edit)), _gt(ref["out"]), spans
        )
    rows = []
    for p, o in zip(syn.phones, ora.phones):
        rows.append({
            "index": index[id(p.span)],
            "phone": p.span.label,
            "rtmri": _z(p.score_mm) if ctx["model"] is not None else None,
            "acoustic": _z(p.acoustic),
            "lpc": _z(p.lpc),
            "oracle": _z(o.score_mm) if ctx["oracle"] else None,
            "note": p.notes[0] if p.notes else "",
            # per place (degree and location differences, mm), for calibrating a rule offline
            "places": {"rtmri": _places(p) if ctx["model"] is not None else None,
                       "oracle": _places(o) if ctx["oracle"] else None},
        })  # fmt: skip
    return {**dataclasses.asdict(pair), "key": pair.key, "phones": rows}


def _places(p) -> dict[str, list[float]]:
    """A phone's per-place ``[degree difference, location distance]`` (mm; 0 where NaN)."""
    return {k: [_z(r["degree_diff_mm"]), _z(r["location_mm"])] for k, r in p.places.items()}


def _z(v: float) -> float:
    return float(v) if math.isfinite(v) else 0.0


# ---------------------------------------------------------------------------------- scoring
def counts(records: list[dict], flagger: str, thr: float) -> np.ndarray:
    """Per pair ``(true flags, all flags, is a substitution, has a hit)``."""
    out = np.zeros((len(records), 4))
    for i, r in enumerate(records):
        flagged = [p["index"] for p in r["phones"] if p[flagger] > thr]
        hits = [k for k in flagged if r["index"] >= 0 and abs(k - r["index"]) <= 1]
        out[i] = (len(hits), len(flagged), r["index"] >= 0, bool(hits))
    return out


def prf(c: np.ndarray) -> tuple[float, float, float]:
    tp, fl, sub, hit = c.sum(0)
    p = tp / fl if fl else float("nan")
    r = hit / sub if sub else float("nan")
    f = 2 * p * r / (p + r) if fl and sub and (p + r) > 0 else 0.0
    return float(p), float(r), float(f)


def tune(records: list[dict], flagger: str) -> float:
    """The threshold with the best F1 on ``records`` (ties: the higher threshold)."""
    scores = sorted({p[flagger] for r in records for p in r["phones"]})
    grid = np.unique(np.quantile(scores, np.linspace(0.5, 0.999, 120))) if scores else [0.0]
    best = max(grid, key=lambda t: (prf(counts(records, flagger, t))[2], t))
    return float(best)


def bootstrap(cs: dict[str, np.ndarray], primary: str, n: int = 2000, seed: int = 0) -> dict:
    """95 % CIs of each flagger's P/R/F1 and of F1 differences against ``primary``."""
    rng = np.random.default_rng(seed)
    m = len(next(iter(cs.values())))
    draws: dict[str, list] = {k: [] for k in cs}
    for _ in range(n):
        idx = rng.integers(0, m, m)
        for k, c in cs.items():
            draws[k].append(prf(c[idx]))
    out = {}
    for k, d in draws.items():
        a = np.array(d)
        out[k] = {name: [float(np.nanpercentile(a[:, j], 2.5)), float(np.nanpercentile(a[:, j], 97.5))]
                  for j, name in enumerate(("precision", "recall", "f1"))}  # fmt: skip
        if k != primary:
            diff = np.array(draws[primary])[:, 2] - a[:, 2]
            out[k]["f1_primary_minus_this"] = [float(np.percentile(diff, 2.5)),
                                              float(np.percentile(diff, 97.5))]  # fmt: skip
    return out


def evaluate(records: list[dict]) -> dict:
    flaggers = [f for f in FLAGGERS if all(r["phones"][0][f] is not None for r in records)]
    dev = [r for r in records if r["split"] == "dev" and r["kind"] != "aspiration"]
    test = [r for r in records if r["split"] == "test"]
    thresholds = {f: tune(dev, f) for f in flaggers}
    primary = "rtmri" if "rtmri" in flaggers else "oracle"
    result: dict = {"thresholds": thresholds, "primary": primary, "n_pairs": {}, "tables": {}}
    subsets = {
        "all target errors": [r for r in test if r["kind"] in TARGET + ("control",)],
        "place errors (retroflex → dental, vowel backing/fronting)": [
            r
            for r in test
            if r["kind"] in ("retroflex_to_dental", "vowel_backing_fronting", "control")
        ],
    }
    for kind in TARGET + ("aspiration",):
        subsets[kind] = [r for r in test if r["kind"] in (kind, "control")]
    for name, rs in subsets.items():
        cs = {f: counts(rs, f, thresholds[f]) for f in flaggers}
        ci = bootstrap(cs, result["primary"])
        result["n_pairs"][name] = {
            "substitutions": int(sum(r["index"] >= 0 for r in rs)),
            "controls": int(sum(r["index"] < 0 for r in rs)),
        }
        result["tables"][name] = {
            f: {"precision": prf(cs[f])[0], "recall": prf(cs[f])[1], "f1": prf(cs[f])[2],
                "ci": ci[f]}
            for f in flaggers
        }  # fmt: skip
    result["response"] = {f: response(test, f) for f in flaggers if f in ("rtmri", "oracle")}
    return result


def response(records: list[dict], flagger: str) -> dict:
    """How far a substitution moves ``flagger``'s score at its phone against how far the
    phones of the control pairs (nothing substituted) lie: the flagger's signal and noise."""
    out = {}
    for kind in TARGET:
        at = [p[flagger] for r in records if r["kind"] == kind for p in r["phones"]
              if p["index"] == r["index"]]  # fmt: skip
        out[kind] = float(np.median(at)) if at else float("nan")
    ctl = [p[flagger] for r in records if r["kind"] == "control" for p in r["phones"]]
    out["controls_median"] = float(np.median(ctl)) if ctl else float("nan")
    out["controls_p90"] = float(np.percentile(ctl, 90)) if ctl else float("nan")
    return out


def markdown(result: dict, meta: dict) -> str:
    names = {"rtmri": "(a) synthesized rtMRI", "acoustic": "(b) acoustic (MFCC after DTW)",
             "lpc": "(c) LPC area function", "oracle": "(a) on ground-truth labels (bound)"}  # fmt: skip
    th = result["thresholds"]
    flaggers = list(th)
    lines = [
        "Thresholds fixed on the development pairs: "
        + ", ".join(f"{names[f]} {th[f]:.3g}" for f in flaggers)
        + ".",
        "",
        "| test pairs | flagger | precision [95% CI] | recall [95% CI] | F1 [95% CI] | "
        f"F1 of {names[result['primary']]} minus this [95% CI] |",
        "|---|---|---|---|---|---|",
    ]
    for name, table in result["tables"].items():
        n = result["n_pairs"][name]
        for f in flaggers:
            row = table[f]
            ci = row["ci"]
            diff = ci.get("f1_primary_minus_this")
            lines.append(
                f"| {name} ({n['substitutions']} + {n['controls']} controls) | {names[f]} | "
                f"{row['precision']:.2f} [{ci['precision'][0]:.2f}, {ci['precision'][1]:.2f}] | "
                f"{row['recall']:.2f} [{ci['recall'][0]:.2f}, {ci['recall'][1]:.2f}] | "
                f"{row['f1']:.2f} [{ci['f1'][0]:.2f}, {ci['f1'][1]:.2f}] | "
                + (f"[{diff[0]:+.2f}, {diff[1]:+.2f}]" if diff else "—")
                + " |"
            )
    if result.get("response"):
        lines += [
            "",
            "Score at the substituted phone (median over the test pairs) against the control "
            "pairs' phones (nothing substituted; median and 90th percentile), mm:",
            "",
            "| flagger | " + " | ".join(TARGET) + " | controls median | controls 90th pct |",
            "|---|" + "---|" * (len(TARGET) + 2),
        ]
        for f, row in result["response"].items():
            cells = [row[k] for k in TARGET] + [row["controls_median"], row["controls_p90"]]
            lines.append(f"| {names[f]} | " + " | ".join(f"{v:.1f}" for v in cells) + " |")
    lines += ["", f"Models: {meta['models']}; {meta['n_records']} pairs."]
    return "\n".join(lines) + "\n"


def export_pair(key: str, out: Path) -> None:
    """Write one planned pair as ``mrisynth compare`` inputs: ``learner.wav``,
    ``reference.wav``, ``reference_phones.txt`` and ``frame.nii.gz`` (the frame speaker's)."""
    from mrisynth.evaluation.compare import substitute
    from mrisynth.io import write_audio, write_sequence
    from mrisynth.phantom.corpus import PhantomConfig, synthesize_utterance

    pairs = {p.key: p for p in plan(int(key.split("#")[1]) if "#" in key else 2)}
    pair = pairs[key.split("#")[0]]
    cfg = PhantomConfig(face=False, seed=0)
    a, b = SPLITS[pair.split]
    edit = None if pair.kind == "control" else substitute(pair.index, pair.new)
    ref = synthesize_utterance(cfg, _utterance(a, pair.language, pair.sentence))
    lrn = synthesize_utterance(cfg, _utterance(b, pair.language, pair.sentence), edit)
    frame = synthesize_utterance(cfg, _utterance(FRAME_SPEAKER, "en", 0))["sequence"]
    out.mkdir(parents=True, exist_ok=True)
    for name, o in (("learner", lrn), ("reference", ref)):
        write_audio(out / f"{name}.wav", o["sequence"].audio, o["sequence"].sample_rate)
    lines = [f"{s.start_s:.4f} {s.end_s:.4f} {s.symbol}" for s in ref["segments"]]
    (out / "reference_phones.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_sequence(
        frame.replace(frames=frame.frames[:1], labels=None, audio=None, sample_rate=None),
        out / "frame.nii.gz",
    )
    print(f"wrote {out}: {pair.old} -> {pair.new} at phone {pair.index} ({pair.key})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", type=Path, default=ROOT / "experiments/quickstart/models")
    ap.add_argument(
        "--generator",
        default="finetune",
        help="the generator's folder under --models (segmenter: <models>/segmenter)",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "experiments/compare/results")
    ap.add_argument("--sentences", type=int, default=2, help="sentences per language and split")
    ap.add_argument("--limit", type=int, default=0, help="score at most this many new pairs")
    ap.add_argument("--every", type=int, default=1, help="score every k-th pair of the plan only")
    ap.add_argument("--merge", type=Path, help="another run's scores.jsonl: fill its flaggers in")
    ap.add_argument(
        "--no-model",
        action="store_true",
        help="score only the audio flaggers and the ground-truth bound (no synthesis)",
    )
    ap.add_argument(
        "--oracle", action="store_true", help="also score ground-truth labels (one more render)"
    )
    ap.add_argument(
        "--same-speaker",
        action="store_true",
        help="diagnostic: the learner is the reference speaker itself (only the substituted "
        "phone differs), which separates the model's sensitivity from speaker variation",
    )
    ap.add_argument(
        "--same-voice",
        action="store_true",
        help="diagnostic: the learner's utterance spoken by the reference speaker (voice and "
        "anatomy the reference's, timing its own): the synthesized counterpart of the bound",
    )
    ap.add_argument(
        "--equalise",
        action="store_true",
        help="match the learner's long-term spectrum to the reference's before synthesis",
    )
    ap.add_argument(
        "--renders",
        type=Path,
        help="the phantom renders' cache (default <out>/renders); another run's renders are "
        "reused as they are (the same pairs have the same audio)",
    )
    ap.add_argument("--export", metavar="KEY", help="write this pair's inputs to --out and stop")
    args = ap.parse_args(argv)
    if args.same_speaker and args.same_voice:
        ap.error("--same-speaker and --same-voice are two different diagnostics: pick one")
    if args.export:
        export_pair(args.export, args.out)
        return 0

    import torch
    from tqdm import tqdm

    from mrisynth.models.artifacts import load_model
    from mrisynth.phantom.corpus import PhantomConfig, synthesize_utterance
    from mrisynth.synthesis import SynthesisModel

    torch.set_num_threads(2)
    args.out.mkdir(parents=True, exist_ok=True)
    phantom = PhantomConfig(face=False, seed=0)
    seq = synthesize_utterance(phantom, _utterance(FRAME_SPEAKER, "en", 0))["sequence"]
    ctx = {
        "phantom": phantom,
        "frame": seq.replace(frames=seq.frames[:1], labels=None, audio=None, sample_rate=None),
        "model": None if args.no_model else SynthesisModel.load(args.models / args.generator),
        "segmenter": (
            None
            if args.no_model
            else load_model(args.models / "segmenter/segmenter.pt", "segmenter")[0]
        ),
        "oracle": args.oracle,
        "same_speaker": args.same_speaker,
        "same_voice": args.same_voice,
        "equalise": args.equalise,
        "renders": args.renders or args.out / "renders",
    }
    ctx["renders"].mkdir(parents=True, exist_ok=True)
    cache_path = args.out / "scores.jsonl"
    done = {}
    if cache_path.exists():
        for line in cache_path.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            done[r["key"]] = r
    pairs = plan(args.sentences)[:: args.every]
    # languages in turn, dev and test of each together: a run stopped early still has both
    order = sorted(pairs, key=lambda p: (LANGUAGES.index(p.language), p.split != "dev"))
    todo = [p for p in order if p.key not in done]
    if args.limit:
        todo = todo[: args.limit]
    t0 = time.time()
    cache: dict = {}
    with open(cache_path, "a", encoding="utf-8") as f:
        for pair in tqdm(todo, desc="pairs", unit="pair"):
            rec = score_pair(pair, ctx, cache)
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            f.flush()
            done[pair.key] = rec
    records = [done[p.key] for p in pairs if p.key in done]
    if args.merge is not None:
        # flaggers another run scored (e.g. the ground-truth bound of a --no-model run)
        other = {}
        for line in args.merge.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            other[r["key"]] = r
        for r in records:
            if r["key"] in other:
                for mine, theirs in zip(r["phones"], other[r["key"]]["phones"]):
                    assert mine["index"] == theirs["index"]
                    for f in FLAGGERS:
                        if mine[f] is None:
                            mine[f] = theirs[f]
    result = evaluate(records)
    models = args.models.resolve() / args.generator
    if args.no_model:
        models_name = "none (audio flaggers and ground truth only)"
    elif models.is_relative_to(ROOT):
        models_name = str(models.relative_to(ROOT))
    else:
        models_name = str(models)
    # no timing in the files: identical inputs give identical outputs, and `dvc repro -f`
    # leaves dvc.lock unchanged
    meta = {"models": models_name, "n_records": len(records)}
    result["meta"] = meta
    (args.out / "validation.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    (args.out / "validation.md").write_text(markdown(result, meta), encoding="utf-8")
    print(markdown(result, meta))
    print(f"{len(todo)} pairs scored in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
