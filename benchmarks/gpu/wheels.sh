#!/usr/bin/env bash
# The Python packages mrisynth needs that the lent GPU machines' image lacks, as wheels in .whl/
# (git-ignored), for benchmarks/gpu/session.sh. The image has Python 3.12 with CUDA PyTorch,
# numpy, scipy, scikit-image, scikit-learn, numba, h5py, opencv, matplotlib, pandas, tqdm and
# pyyaml (the device tool's KINDS.md); nothing can be downloaded there, and what travels with
# the working tree is capped at 64 MiB. dvc and mlflow are left out (the session runs the CLI
# without --mlflow), and imageio-ffmpeg's 173 MB ffmpeg binary travels xz-compressed (~48 MB)
# beside its small Python package instead of as its 68 MB wheel.
#
#   bash benchmarks/gpu/wheels.sh          # from the repository root; ~3 min (xz)
set -euo pipefail
cd "$(dirname "$0")/../.."
DEST=.whl
rm -rf "$DEST" && mkdir -p "$DEST/site"
PLATFORM=(--python-version 3.12 --only-binary=:all: --no-deps --platform manylinux_2_28_x86_64
          --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any)
# the versions the test suite passes with here (pip list of the project's venv, 2026-12-07):
# an unpinned download took librosa 1.0, a major version the package was never tested on
python3 -m pip download -q "${PLATFORM[@]}" -d "$DEST" \
    monai==1.6.1 nibabel==5.4.2 pydicom==3.0.2 librosa==0.11.0 audioread==3.1.0 soxr==1.1.0 \
    pooch==1.9.0 platformdirs==4.14.9 decorator==5.3.2 soundfile==0.14.0 cffi==2.1.1 \
    pycparser==3.12
python3 -m pip download -q "${PLATFORM[@]}" -d "$DEST/ffmpeg-wheel" imageio-ffmpeg==0.8.1
(cd "$DEST/ffmpeg-wheel" && python3 -m zipfile -e imageio_ffmpeg-*.whl unpacked)
binary=$(ls "$DEST"/ffmpeg-wheel/unpacked/imageio_ffmpeg/binaries/ffmpeg-*)
xz -9 -T0 -c "$binary" > "$DEST/ffmpeg.xz"
rm -f "$DEST"/ffmpeg-wheel/unpacked/imageio_ffmpeg/binaries/ffmpeg-*
mv "$DEST/ffmpeg-wheel/unpacked/imageio_ffmpeg" "$DEST/site/"
rm -rf "$DEST/ffmpeg-wheel"
# the benchmarks' real speech: ../shared does not travel to the device (not committed: .whl/ is
# git-ignored; session.sh points MRISYNTH_SHARED here)
speech=${MRISYNTH_SHARED:-../shared}/data/real-speech/arctic_a0009.wav
mkdir -p "$DEST/shared/data/real-speech" && cp "$speech" "$DEST/shared/data/real-speech/"
du -sh "$DEST"
echo "carry .whl: run(command='bash benchmarks/gpu/session.sh', carry=['.whl'], timeout_s=590)"
