#!/usr/bin/env bash
# Prepare, on this (CPU) machine, what the real-Polygraphy check of issue 19 needs on the GPU machine
# (which has python3, numpy, onnx, onnxruntime, but no TensorRT and no Node):
#   .carry/trt_d1/     the TensorRT bundle of the d1 fixture (timesformer-lab export-trt)
#   .carry/Polygraphy/ Polygraphy's source (tools/Polygraphy of NVIDIA/TensorRT: polygraphy/ and bin/)
# Usage: bash scripts/device/trt-prep.sh [TENSORRT_GIT_DIR]
#   TENSORRT_GIT_DIR: a git directory of NVIDIA/TensorRT (default: the fetch tool's mirror)
# then on the GPU machine: run(command="bash scripts/device/trt-polygraphy-device.sh", carry=[".carry/trt_d1", ".carry/Polygraphy"])
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
GIT_DIR_TRT="${1:-/work/.mirror/NVIDIA+TensorRT/repo}"
[ -f out/extension/cli.js ] || npx tsc -p .
rm -rf .carry/trt_d1 .carry/Polygraphy
node out/extension/cli.js export-trt --weights test/fixtures/d1_outlier.pyth --data test/fixtures/d1_outlier_test_data.p --out .carry/trt_d1 --quiet
mkdir -p .carry/Polygraphy
git --git-dir="$GIT_DIR_TRT" archive HEAD tools/Polygraphy/polygraphy tools/Polygraphy/bin | tar -x -C .carry/Polygraphy --strip-components=2
git --git-dir="$GIT_DIR_TRT" log -1 --format='Polygraphy from NVIDIA/TensorRT %H (%cd)' > .carry/Polygraphy/SOURCE
du -sh .carry/trt_d1 .carry/Polygraphy
