#!/usr/bin/env bash
# Full-size check of the ONNX exports (docs/exports.md), for a machine with Python numpy + onnx +
# onnxruntime: the TensorRT export from the CLI and from the extension's engine process (the same
# request Export ONNX → For TensorRT sends), and the FP32 "as run" export, each through
# scripts/device/check_export.py (onnx.checker full check, then onnxruntime against our FP32 graph).
#
#   npm run build && bash scripts/device/export-fullsize.sh [OUT_DIR]
#
# Env: FS_CKPT (default: a full-size checkpoint from gen-checkpoint, outlier in block 5), FS_HEADS (12),
# FS_GEN (gen-checkpoint's size options, for a small dry run), FS_DATA (a test_data.p of FS_CKPT from
# scripts/make_test_data.py: then the per-block errors against PyTorch are printed too).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-/tmp/export-fullsize}"
mkdir -p "$OUT"
CKPT="${FS_CKPT:-$OUT/full_outlier5.pyth}"
HEADS="${FS_HEADS:-12}"
PY="${PYTHON:-python3}"
# shellcheck disable=SC2086
[ -f "$CKPT" ] || node out/scripts/fixtures/gen-checkpoint.js --out "$CKPT" --outlier-block 5 --outlier-channel 21 --outlier-value 300 ${FS_GEN:-}
if [ -n "${FS_DATA:-}" ]; then SRC=(--data "$FS_DATA"); PYSRC=(--test-data "$FS_DATA"); else
  # one clip for the lab and for Python: the model's input as float32 (B, 3, T, H, W)
  read -r T S < <(node -e "const {inspectCheckpoint}=require('./out/extension/core/inspect');inspectCheckpoint(process.argv[1]).then(s=>console.log(s.frames, s.imageSize))" "$CKPT")
  "$PY" -c "import numpy as np,sys; np.save(sys.argv[1], np.random.default_rng(0).standard_normal((1,3,$T,$S,$S)).astype(np.float32))" "$OUT/clip.npy"
  SRC=(--input "$OUT/clip.npy"); PYSRC=(--input "$OUT/clip.npy")
fi
LAB=(--weights "$CKPT" "${SRC[@]}" --heads "$HEADS")

echo "== our FP32 graph, as run (block outputs, statistics, probs)"
node out/extension/cli.js run "${LAB[@]}" --precision fp32 --save-onnx "$OUT/fp32-as-run.onnx" --quiet | tail -n 3
echo "== CLI: export-onnx --layernorm minimal"
node out/extension/cli.js export-onnx "${LAB[@]}" --layernorm minimal --out "$OUT/trt-cli.onnx" --quiet
echo "== the extension's engine process: Export ONNX → For TensorRT (minimal fix)"
node -e "
const { WorkerClient } = require('./out/extension/host/runner');
const [w, src, s, heads, out] = process.argv.slice(1);
(async () => {
  const c = new WorkerClient({ script: 'out/extension/worker.js' });
  try {
    const x = await c.exportForTensorRt({ weights: w, [src.slice(2)]: s, heads: Number(heads), precision: 'fp16' }, 'minimal', out);
    console.log('wrote', out, (x.bytes / 2 ** 20).toFixed(1), 'MiB,', x.fixed.length, 'LayerNorms in FP32');
    const { defaultParent } = require('./out/extension/core/model/weight-store');
    const left = require('fs').readdirSync(defaultParent()).filter((n) => n.startsWith('tsf-lab-w-' + c.pid + '-'));
    console.log('weight stores the engine process (still running) left behind:', left.length);
  } finally { await c.cancel(); }
})().catch((e) => { console.error(e.message); process.exit(2); });" "$CKPT" "${SRC[0]}" "${SRC[1]}" "$HEADS" "$OUT/trt-extension.onnx"

for f in trt-cli trt-extension; do
  echo "== check_export: $f.onnx against our FP32 graph (probs)"
  "$PY" scripts/device/check_export.py "$OUT/$f.onnx" "${PYSRC[@]}" --ref-model "$OUT/fp32-as-run.onnx" --tolerance 1e-5
done
echo "== check_export: fp32-as-run.onnx (checker; against PyTorch when FS_DATA is given)"
"$PY" scripts/device/check_export.py "$OUT/fp32-as-run.onnx" "${PYSRC[@]}" --ref-model "$OUT/fp32-as-run.onnx" | tail -n 3
