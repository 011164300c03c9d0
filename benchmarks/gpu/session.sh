#!/usr/bin/env bash
# Issue 17's GPU checks as one prepared run, for a session that is lent a GPU machine (the
# `device` tool: about 15 minutes of device time, one command of at most 10 minutes). In the
# issue's order of rank, each with a time cap so that a slow one cannot starve the rest:
#   1. experiments/full, shortened, through the CLI: every stage (phantom, prepare, both
#      experts, pretrain, fine-tune, segmenter, evaluate) with the GPU presets (bf16,
#      channels-last, torch.compile, fused Adam) on a small corpus and a few hundred steps;
#   2. the training step against the Wav2Lip-style reference (bench_train.py --full): the ≥ 3×
#      goal and MFU;
#   3. end-to-end real-time factor and peak CUDA memory of `mrisynth synthesize` (mri_small,
#      mri_base) and `mrisynth dub` (face96), batched.
# Logs and metrics go to $OUT/gpu_results.tar.gz (the device tool brings $OUT back); a summary
# prints at the end.
#
#   here, once:  bash benchmarks/gpu/wheels.sh        (packages the GPU image lacks -> .whl/)
#   there:       run(command="bash benchmarks/gpu/session.sh", carry=[".whl"], timeout_s=590)
#   rehearsal on a CPU (checks every command, tiny sizes, minutes):
#                DEVICE=cpu SMOKE=1 OUT=/tmp/gpu_rehearsal bash benchmarks/gpu/session.sh
set -u
cd "$(dirname "$0")/../.."
RESULTS=${OUT:-gpu_out}  # the device tool brings back at most 8 files: one archive + summary
DEVICE=${DEVICE:-cuda}
SMOKE=${SMOKE:-0}
PY=${PY:-python3}
WORK=${WORK:-$(mktemp -d)}
OUT=$WORK/results  # every log and metrics file, archived into $RESULTS at the end
mkdir -p "$OUT" "$RESULTS"
export OUT DEVICE SMOKE PY WORK

# -- environment: the carried wheels, the package from this tree, ffmpeg for MP4 writing
if ls .whl/*.whl > /dev/null 2>&1; then
    $PY -m pip install -q --no-index --no-deps .whl/*.whl > "$OUT/install.log" 2>&1 \
        || echo "wheel install failed: see $OUT/install.log"
fi
export PYTHONPATH="$PWD:$PWD/.whl/site${PYTHONPATH:+:$PYTHONPATH}"
# the benchmarks' real speech (copied beside the wheels: ../shared does not travel)
[ -d .whl/shared ] && export MRISYNTH_SHARED="$PWD/.whl/shared"
if [ -f .whl/ffmpeg.xz ]; then
    xz -dc .whl/ffmpeg.xz > "$WORK/ffmpeg" && chmod +x "$WORK/ffmpeg"
    export IMAGEIO_FFMPEG_EXE="$WORK/ffmpeg"
fi
{
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || true
    $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
    $PY -c "import mrisynth, monai, librosa, nibabel; print('imports ok')" 2>&1 | tail -1
    echo "device $DEVICE, smoke $SMOKE, cores $(nproc)"
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

# step NAME CAP_SECONDS COMMAND...: run with a cap, log to $OUT/NAME.log, print its tail
step() {
    local name=$1 cap=$2
    shift 2
    local t0=$SECONDS
    timeout "$cap" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    echo "== $name: exit $rc after $((SECONDS - t0)) s (cap $cap s)" | tee -a "$OUT/summary.txt"
    tail -n 15 "$OUT/$name.log"
    return $rc
}

# -- 1. experiments/full, shortened, every stage through the CLI
# (a CPU rehearsal needs far longer: mri_base at 96 px trains and evaluates slowly there)
[ "$SMOKE" = 1 ] && FULL_CAP=${FULL_CAP:-1200} || FULL_CAP=${FULL_CAP:-320}
step full "$FULL_CAP" bash benchmarks/gpu/full.sh

# -- 2. training step against the Wav2Lip-style reference
if [ "$SMOKE" = 1 ]; then
    step bench_train 150 $PY benchmarks/bench_train.py --device "$DEVICE" --preset tiny \
        --gen-batch 2 --expert-batch 4 --steps 1 --rounds 1 --utterances 2 --no-compile
else
    step bench_train 170 $PY benchmarks/bench_train.py --full --device "$DEVICE" --steps 10 \
        --rounds 2 --workers "$(nproc)"
fi

# -- 3. end-to-end real-time factor and memory
if [ "$SMOKE" = 1 ]; then
    step rtf_small 60 $PY benchmarks/bench_synthesize.py --device "$DEVICE" --durations 2
else
    step rtf_small 30 $PY benchmarks/bench_synthesize.py --device "$DEVICE" --durations 10 60 \
        --batch-size 512
    step rtf_base 30 $PY benchmarks/bench_synthesize.py --device "$DEVICE" --preset mri_base \
        --durations 10 60 --batch-size 256
    step rtf_dub 25 $PY benchmarks/bench_synthesize.py --device "$DEVICE" --command dub \
        --durations 10 --batch-size 128
fi
tar -czf "$RESULTS/gpu_results.tar.gz" -C "$OUT" .
cp "$OUT/summary.txt" "$OUT/env.txt" "$RESULTS/"
echo "---- summary ($RESULTS/gpu_results.tar.gz has every log)"
cat "$OUT/summary.txt"
