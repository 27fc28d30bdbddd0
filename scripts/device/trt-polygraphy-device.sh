#!/usr/bin/env bash
# On the GPU machine (no TensorRT): the bundle's ONNX files pass onnx.checker and run in Python
# onnxruntime; real Polygraphy runs the bundle's run_polygraphy.sh with its ONNX Runtime backend
# (POLYGRAPHY_BACKEND=--onnxrt). Everything it wrote comes back under $OUT.
# Prepared by scripts/device/trt-prep.sh; run as:
#   run(command="bash scripts/device/trt-polygraphy-device.sh", carry=[".carry/trt_d1", ".carry/Polygraphy"])
# Then: cp <files_at>/polygraphy_onnxrt_fp32*.json test/fixtures/trt/ (the test in
# test/unit/trt.test.ts imports them and compares them per block with our own FP32 run).
#
# FULL=1: at full size instead (ViT-B TimeSformer, 8x224², the generated checkpoint with an outlier
# channel; no test data, so the reference is our FP32 graph): needs node, node_modules and out/ from
# scripts/device/device-prep.sh as well:
#   bash scripts/device/device-prep.sh && bash scripts/device/trt-prep.sh
#   run(command="FULL=1 bash scripts/device/trt-polygraphy-device.sh", carry=[".carry"], timeout_s=600)
# It exports the bundle there (export-trt), runs real Polygraphy (onnxrt) on it and imports its
# outputs (import): the per-block table against our FP32 run is in $OUT/import_full.txt.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUNDLE="${BUNDLE:-$ROOT/.carry/trt_d1}"
POLY_SRC="${POLY_SRC:-$ROOT/.carry/Polygraphy}"
OUT="${OUT:-/tmp/trt-out}"
mkdir -p "$OUT"
if [ "${FULL:-}" = 1 ]; then
  cd "$ROOT" || exit 2
  LOG="$OUT/log.txt"; TAG=trt-full; BUDGET_S="${BUDGET_S:-560}"
  : > "$LOG"
  # shellcheck source=scripts/device/device-lib.sh
  source "$ROOT/scripts/device/device-lib.sh"
  unpack_carry
  CKPT=/tmp/timesformer_full_outlier.pyth
  BUNDLE=/tmp/trt_full
  step 120 node out/scripts/fixtures/gen-checkpoint.js --out "$CKPT" --outlier-block 3 --outlier-channel 21 --outlier-value 300
  step 180 node out/extension/cli.js export-trt --weights "$CKPT" --input synthetic:0 --out "$BUNDLE"
  cp "$BUNDLE/README.txt" "$BUNDLE/bundle.json" "$OUT/" 2>/dev/null
fi
python3 - "$BUNDLE" <<'PY' 2>&1 | tee "$OUT/onnx_check.txt"
import sys, json, numpy as np, onnx, onnxruntime as ort
d = sys.argv[1]
x = np.fromfile(f"{d}/inputs.bin", dtype="<f4")
m = json.load(open(f"{d}/bundle.json"))
x = x.reshape(m["input"]["shape"])
for name in ("model.onnx", "model_marked.onnx"):
    onnx.checker.check_model(f"{d}/{name}", full_check=True)
    s = ort.InferenceSession(f"{d}/{name}", providers=["CPUExecutionProvider"])
    outs = s.run(None, {m["input"]["name"]: x})
    for o, v in zip(s.get_outputs(), outs):
        ref = np.fromfile(f"{d}/reference/{m['reference'][o.name]}", dtype="<f4").reshape(v.shape)
        rel = float(np.linalg.norm((v - ref).ravel()) / np.linalg.norm(ref.ravel()))
        print(f"{name} {o.name} {list(v.shape)} rel L2 vs reference {rel:.3e}")
print("onnx", onnx.__version__, "onnxruntime", ort.__version__, "numpy", np.__version__)
PY
cd "$BUNDLE" || exit 2
POLYGRAPHY="python3 $POLY_SRC/bin/polygraphy" POLYGRAPHY_BACKEND=--onnxrt bash ./run_polygraphy.sh 2>&1 | tee "$OUT/run_polygraphy.txt"
[ "${FULL:-}" = 1 ] || cp polygraphy_*.json "$OUT/" 2>/dev/null
cp polygraphy_*.log "$OUT/" 2>/dev/null
cat "$POLY_SRC/SOURCE" >> "$OUT/run_polygraphy.txt" 2>/dev/null
if [ "${FULL:-}" = 1 ]; then
  # our import of real Polygraphy's outputs, against our own FP32 run of the same clip
  node "$ROOT/out/extension/cli.js" import --weights "$CKPT" --quiet --json "$OUT/import_full.json" polygraphy_onnxrt_fp32.json polygraphy_onnxrt_fp32_marked.json 2>&1 | tee "$OUT/import_full.txt"
  # (the outputs themselves stay in $BUNDLE: hundreds of MiB at full size)
fi
ls -la "$OUT"
