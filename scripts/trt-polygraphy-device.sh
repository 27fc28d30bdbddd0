#!/usr/bin/env bash
# On the GPU machine (no TensorRT): the bundle's ONNX files pass onnx.checker and run in Python
# onnxruntime; real Polygraphy runs the bundle's run_polygraphy.sh with its ONNX Runtime backend
# (POLYGRAPHY_BACKEND=--onnxrt). Everything it wrote comes back under $OUT.
# Prepared by scripts/trt-prep.sh; run as:
#   run(command="bash scripts/trt-polygraphy-device.sh", carry=[".carry/trt_d1", ".carry/Polygraphy"])
# Then: cp <files_at>/polygraphy_onnxrt_fp32*.json test/fixtures/trt/ (the test in
# test/unit/trt.test.ts imports them and compares them per block with our own FP32 run).
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUNDLE="${BUNDLE:-$ROOT/.carry/trt_d1}"
POLY_SRC="${POLY_SRC:-$ROOT/.carry/Polygraphy}"
OUT="${OUT:-/tmp/trt-out}"
mkdir -p "$OUT"
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
cp -r "$BUNDLE" "$OUT/bundle_run" 2>/dev/null || true
cd "$OUT/bundle_run" || exit 2
rm -f ./*.onnx.data
POLYGRAPHY="python3 $POLY_SRC/bin/polygraphy" POLYGRAPHY_BACKEND=--onnxrt bash ./run_polygraphy.sh 2>&1 | tee "$OUT/run_polygraphy.txt"
cp polygraphy_*.json polygraphy_*.log "$OUT/" 2>/dev/null
cat "$POLY_SRC/SOURCE" >> "$OUT/run_polygraphy.txt" 2>/dev/null
# the copies of the bundle's big files need not come back
rm -rf "$OUT/bundle_run"
ls -la "$OUT"
