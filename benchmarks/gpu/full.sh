#!/usr/bin/env bash
# experiments/full, shortened, through the CLI: every stage of its dvc.yaml with its params.yaml
# (the GPU presets: bf16, channels-last, torch.compile, fused Adam) on a small corpus and a few
# hundred steps. Called by benchmarks/gpu/session.sh (env: PY, DEVICE, SMOKE, OUT, WORK);
# metrics and step timings go to $OUT/full_*.
set -euo pipefail
cd "$(dirname "$0")/../.."
P=experiments/full/params.yaml
F=$WORK/full
M="$PY -m mrisynth"
if [ "$SMOKE" = 1 ]; then  # a CPU rehearsal: tiny corpus, 2 steps, no compile
    SIZE="n_pretrain_speakers=2 n_target_speakers=1 pretrain_utterances_per_language=1"
    SIZE+=" adapt_utterances_per_language=1 test_utterances_per_language=1"
    EXPERT=2 EVAL_EXPERT=2 PRETRAIN=2 FINETUNE=2 SEGMENTER=2 EXTRA="train.compile=false"
    EVAL="max_test_utterances=1"  # mri_base's evaluation takes minutes per clip on a CPU
else
    SIZE="n_pretrain_speakers=6 n_target_speakers=2 pretrain_utterances_per_language=2"
    SIZE+=" adapt_utterances_per_language=2 test_utterances_per_language=1"
    # torch.compile's first compilations come on top of these (not measured yet: no GPU lent)
    EXPERT=200 EVAL_EXPERT=100 PRETRAIN=200 FINETUNE=100 SEGMENTER=100 EXTRA=""
    EVAL="max_test_utterances=0"
fi
steps() {  # a training stage's --set: its steps, the device, one checkpoint at the end
    echo "train.max_steps=$1 train.eval_interval=$1 train.ckpt_interval=$1" \
        "train.device=$DEVICE train.progress=false $EXTRA"
}
D=$F/prepared/prepared.csv
# shellcheck disable=SC2086  # word splitting of the --set lists is meant
{
    $M phantom --params $P --out "$F/phantom" --no-progress --set $SIZE
    $M prepare --params $P --manifest "$F/phantom/manifest.csv" --out "$F/prepared"
    $M train expert --params $P --stage expert --manifest "$D" --split-train pretrain \
        --split-val adapt --out "$F/expert" --set $(steps $EXPERT)
    $M train expert --params $P --stage eval_expert --manifest "$D" \
        --split-train pretrain,adapt --split-val adapt --out "$F/eval_expert" \
        --set $(steps $EVAL_EXPERT)
    $M train generator --params $P --stage pretrain --manifest "$D" --split-train pretrain \
        --split-val adapt --expert "$F/expert/expert.pt" --out "$F/pretrain" \
        --set $(steps $PRETRAIN)
    $M train generator --params $P --stage finetune --manifest "$D" --split-train adapt \
        --split-val adapt --expert "$F/expert/expert.pt" --init-from "$F/pretrain/generator.pt" \
        --out "$F/finetune" --set $(steps $FINETUNE)
    $M train segmenter --params $P --stage segmenter --manifest "$D" --split-train pretrain \
        --split-val adapt --out "$F/segmenter" --set $(steps $SEGMENTER)
    $M evaluate --params $P --prepared "$D" --generator "$F/finetune/generator.pt" \
        --eval-expert "$F/eval_expert/expert.pt" --segmenter "$F/segmenter/segmenter.pt" \
        --out "$F/reports" --metrics "$OUT/full_evaluate.json" \
        --set device=$DEVICE n_videos=1 $EVAL
}
for s in expert eval_expert pretrain finetune segmenter; do
    cp "$F/$s/metrics.json" "$OUT/full_$s.json"
    cp "$F/$s/timing.jsonl" "$OUT/full_${s}_timing.jsonl" 2> /dev/null || true
done
echo "experiments/full (shortened): every stage ran on $DEVICE"
