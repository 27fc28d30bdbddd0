#!/usr/bin/env bash
# The full-size export checks of issues 17 and 19 on a machine without a GPU and without Python
# onnxruntime (this project's CI kind): Debian's python3-onnx runs onnx.checker (full_check) and
# onnxruntime-node runs every graph on the CPU. One clip (.npy, seed 0) for every step.
#   npm run build && bash scripts/device/fullsize-exports-cpu.sh [DIR]
# Writes DIR/summary.txt. About 5 minutes and 6 GB of disk on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
D="${1:-/tmp/fullsize-exports}"; mkdir -p "$D"
CKPT="${FS_CKPT:-$D/full_outlier5.pyth}"
PY=/usr/bin/python3
[ -f "$CKPT" ] || node out/scripts/fixtures/gen-checkpoint.js --out "$CKPT" --outlier-block 5 --outlier-channel 21 --outlier-value 300
"$PY" -c "import numpy as np,sys; np.save(sys.argv[1], np.random.default_rng(0).standard_normal((1,3,8,224,224)).astype(np.float32))" "$D/clip.npy"
LAB=(--weights "$CKPT" --input "$D/clip.npy" --heads 12)
node out/extension/cli.js run "${LAB[@]}" --precision fp32 --save-onnx "$D/fp32-as-run.onnx" --quiet --json "$D/fp32.json" | tail -n 2
node out/extension/cli.js export-onnx "${LAB[@]}" --layernorm minimal --out "$D/trt-cli.onnx" --quiet
node -e "
const { WorkerClient } = require('./out/extension/host/runner');
const [w, clip, out] = process.argv.slice(1);
(async () => {
  const c = new WorkerClient({ script: 'out/extension/worker.js' });
  try {
    const x = await c.exportForTensorRt({ weights: w, input: clip, heads: 12, precision: 'fp16' }, 'minimal', out);
    console.log('engine process wrote', out, (x.bytes / 2 ** 20).toFixed(1), 'MiB,', x.fixed.length, 'LayerNorms in FP32');
  } finally { await c.cancel(); }
})().catch((e) => { console.error(e.message); process.exit(2); });" "$CKPT" "$D/clip.npy" "$D/trt-extension.onnx"
node out/extension/cli.js export-trt "${LAB[@]}" --out "$D/bundle" --quiet
for f in trt-cli.onnx trt-extension.onnx fp32-as-run.onnx bundle/model.onnx bundle/model_marked.onnx; do
  echo "== onnx.checker (full_check): $f"; "$PY" scripts/device/check_export.py "$D/$f" --check-only | tail -n 2
done
node - "$D" <<'JS' | tee "$D/summary.txt"
// every graph run by onnxruntime-node on the same clip; outputs compared with our FP32 graph as run
const ort = require('onnxruntime-node');
const fs = require('fs');
const path = require('path');
const d = process.argv[2];
const npy = fs.readFileSync(path.join(d, 'clip.npy'));
const hl = npy.readUInt16LE(8);
const x = new Float32Array(npy.buffer.slice(npy.byteOffset + 10 + hl, npy.byteOffset + npy.length));
const rel = (a, b, dropCls) => {
  // rel L2 over the patch tokens (class token dropped) for block outputs, whole tensor otherwise
  let n = 0, s = 0; const c = 768; const start = dropCls ? c : 0;
  for (let i = start; i < a.length; i++) { const e = a[i] - b[i]; n += e * e; s += b[i] * b[i]; }
  return Math.sqrt(n / s);
};
(async () => {
  const run = async (f) => {
    const s = await ort.InferenceSession.create(path.join(d, f));
    const r = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x, [1, 3, 8, 224, 224]) });
    const o = {}; for (const k of s.outputNames) o[k] = r[k].data; await s.release(); return o;
  };
  const ref = await run('fp32-as-run.onnx');
  for (const f of ['trt-cli.onnx', 'trt-extension.onnx', 'bundle/model.onnx', 'bundle/model_marked.onnx']) {
    const o = await run(f);
    const blocks = Object.keys(o).filter((k) => /^blocks\.\d+\.out$/.test(k)).sort((a, b) => parseInt(a.split('.')[1]) - parseInt(b.split('.')[1]));
    const per = blocks.map((k) => rel(o[k], ref[k], true));
    console.log(`${f}: outputs ${Object.keys(o).length}; probs rel L2 vs our FP32 graph ${rel(o.probs, ref.probs, false).toExponential(2)}` +
      (per.length ? `; blocks ${per.map((v) => v.toExponential(1)).join(' ')} (worst ${Math.max(...per).toExponential(2)})` : ''));
  }
})().catch((e) => { console.error(e); process.exit(2); });
JS
