#!/usr/bin/env bash
# Run ON the GPU machine: the full-size checks of issues 17, 19 and 22 in one call (the device is
# lent for minutes, and each fresh start costs minutes). Prepared here by
#   bash scripts/device/device-prep.sh && bash scripts/device/trt-prep.sh   # .carry/: node, node_modules, out/, Polygraphy
# then: run(command="bash scripts/device/device-checks.sh", carry=[".carry"], timeout_s=600)
#
# 1. unpack .carry once; one full-size checkpoint (gen-checkpoint, outlier in block 5, channel 21);
# 2. issue 19: the d1 bundle through real Polygraphy (ONNX Runtime backend) -> the committed fixture
#    test/fixtures/trt/polygraphy_onnxrt_fp32_marked.json; then at full size: export-trt, onnx.checker
#    and Python onnxruntime on both graphs against the bundle's reference/, Polygraphy on the bundle,
#    and our import of its outputs against our own FP32 run (the per-block table);
# 3. issue 17: the TensorRT export from the CLI and from the engine process (the extension's
#    request), and the FP32 as-run export, through scripts/device/check_export.py (onnx.checker full check,
#    Python onnxruntime against our FP32 graph);
# 4. issue 22: RSS + weight store of the engine process, idle and during a run (store-memory.js),
#    on the CPU EP and on WebGPU.
# Each step has its own time limit (device-lib.sh's step); everything lands in $OUT.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
OUT="${OUT:-/tmp/device-out}"
mkdir -p "$OUT"
LOG="$OUT/log.txt"; TAG=checks; BUDGET_S="${BUDGET_S:-570}"
: > "$LOG"
# shellcheck source=scripts/device/device-lib.sh
source "$ROOT/scripts/device/device-lib.sh"
say "host $(hostname), $(nproc) CPUs, budget ${BUDGET_S}s"
unpack_carry
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee -a "$LOG"
python3 -c 'import numpy, onnx, onnxruntime; print("numpy", numpy.__version__, "onnx", onnx.__version__, "onnxruntime", onnxruntime.__version__)' 2>&1 | tail -1 | tee -a "$LOG"
POLY="$ROOT/.carry/Polygraphy"
CKPT=/tmp/full_outlier5.pyth
FIX="$ROOT/test/fixtures"

# ---- 1. the full-size checkpoint (in the background while d1 goes through Polygraphy)
( node out/scripts/fixtures/gen-checkpoint.js --out "$CKPT.part" --outlier-block 5 --outlier-channel 21 --outlier-value 300 > "$OUT/gen.txt" 2>&1 && mv "$CKPT.part" "$CKPT" ) &
GEN=$!

# ---- 2a. d1 through real Polygraphy (the fixture)
step 60 node out/extension/cli.js export-trt --weights "$FIX/d1_outlier.pyth" --data "$FIX/d1_outlier_test_data.p" --out /tmp/trt_d1 --quiet
step 120 env OUT="$OUT/d1" BUNDLE=/tmp/trt_d1 POLY_SRC="$POLY" bash scripts/device/trt-polygraphy-device.sh
wait "$GEN"; say "checkpoint: $(ls -la "$CKPT" 2>&1)"
[ -f "$CKPT" ] || { say "no full-size checkpoint: $(tail -3 "$OUT/gen.txt")"; exit 0; }

# ---- 2c. issue 18: the full-size baseline the refactor must reproduce (per-block errors to the last
#      digit, end-to-end times): WebGPU FP16 plain + fp32 LayerNorm (5 warm runs each), FP32, and the CPU emulation.
step 150 bash -c "node out/extension/cli.js run --weights '$CKPT' --heads 12 --ep webgpu --precision fp16 --layernorm plain,fp32 --no-confirm --repeat 5 --json '$OUT/baseline18-webgpu-fp16.json' > '$OUT/baseline18-webgpu-fp16.txt' 2>&1; node out/extension/cli.js run --weights '$CKPT' --heads 12 --ep webgpu --precision fp32 --repeat 5 --json '$OUT/baseline18-webgpu-fp32.json' > '$OUT/baseline18-webgpu-fp32.txt' 2>&1; /usr/bin/time -v node out/extension/cli.js run --weights '$CKPT' --heads 12 --ep cpu --precision fp16 --no-confirm --json '$OUT/baseline18-cpu-fp16.json' > '$OUT/baseline18-cpu-fp16.txt' 2>&1; true"

# ---- 3. issue 17: the exports at full size (CLI, engine process, as run) through check_export.py
step 200 env FS_CKPT="$CKPT" PYTHON=python3 bash scripts/device/export-fullsize.sh /tmp/export-fullsize
cp /tmp/export-fullsize/*.txt "$OUT/" 2>/dev/null

# ---- 4. issue 22: RSS + store at full size, CPU EP then WebGPU
step 100 node out/scripts/device/store-memory.js --weights "$CKPT" --ep cpu --heads 12 --out "$OUT/memory-cpu.json"
step 100 node out/scripts/device/store-memory.js --weights "$CKPT" --ep webgpu --heads 12 --out "$OUT/memory-webgpu.json"

# ---- 4b. issue 22.4: the stages of a WebGPU FP16 run without test data (the FP32 CPU run beside the engine)
step 60 bash -c "node out/extension/cli.js run --weights '$CKPT' --heads 12 --ep webgpu --precision fp16 --no-confirm 2>&1 | grep -E '^\\[|^verdict|^time' | tee '$OUT/stages-webgpu.txt'"

# ---- 2b. issue 19 at full size: export-trt, checker + onnxruntime, Polygraphy, import
step 120 node out/extension/cli.js export-trt --weights "$CKPT" --input synthetic:0 --heads 12 --out /tmp/trt_full
cp /tmp/trt_full/README.txt /tmp/trt_full/bundle.json "$OUT/" 2>/dev/null
mkdir -p "$OUT/full"
( cd "$ROOT" && OUT="$OUT/full" BUNDLE=/tmp/trt_full POLY_SRC="$POLY" timeout -k 5 "$(( $(left) - 60 ))" bash scripts/device/trt-polygraphy-device.sh ) 2>&1 | tail -40 | tee -a "$LOG"
rm -f "$OUT"/full/polygraphy_*.json
cd /tmp/trt_full && step "$(( $(left) - 5 ))" node "$ROOT/out/extension/cli.js" import --weights "$CKPT" --heads 12 --json "$OUT/import_full.json" \
  polygraphy_onnxrt_fp32.json polygraphy_onnxrt_fp32_marked.json
pack_out
say "done; files in $OUT: $(cd "$OUT" && find . -type f | tr '\n' ' ')"
