#!/usr/bin/env bash
# Run ON the GPU machine, from the repo root, after scripts/device/device-prep.sh filled .carry/ here:
#   run(command="bash scripts/device/device-run.sh", carry=[".carry"], timeout_s=600)      (npm run bench:gpu)
#
# 1. unpacks .carry: node -> /tmp/node/bin, node_modules and out/ into the repo root, the Vulkan/EGL
#    loader .debs into / (dpkg -x, ldconfig); VK_DRIVER_FILES points at NVIDIA's ICD;
# 2. generates the full-size checkpoint into /tmp (gen-checkpoint.js) and checks it (check_checkpoint.py);
# 3. WebGPU correctness on the fixtures (the CLI: fp16 plain, fp16 with each LayerNorm fix, fp32);
# 4. PyTorch eager baseline, fp32 + fp16 (bench_torch.py) -> torch.json;
# 5. our engine vs that baseline and the peer model (bench.js --baseline) -> bench.json;
# 6. the PyTorch baseline again if time allows (batch 1 is launch-bound and noisy) -> torch_after.json.
# Everything lands in $OUT (at most 8 files come back): log.txt (all output, the tables included),
# torch.json, torch_after.json, bench.json, cli_webgpu.json (every CLI report).
# Whole run kept under ~9 minutes (BUDGET_S); progress lines carry the wall time and seconds elapsed.
# MODE=fullsize runs scripts/device/fullsize-check.sh after step 1 instead of steps 2-6.
# MODE=e2e runs scripts/device/device-e2e.sh after step 1 instead (end to end at full size, under 8 minutes).
# MODE=memory runs scripts/device/store-memory.js after step 1 instead (RSS + weight store, idle and during a run; EP=webgpu for the GPU).
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
OUT="${OUT:-/tmp/device-out}"
mkdir -p "$OUT"
if [ "${MODE:-}" = e2e ]; then BUDGET_S="${BUDGET_S:-430}"; else BUDGET_S="${BUDGET_S:-530}"; fi
DEBS_ROOT="${DEBS_ROOT:-/}"          # where the loader .debs are unpacked (tests elsewhere use a scratch folder)
CKPT="${CKPT:-/tmp/timesformer_full_seed1.pyth}"
FIX="$ROOT/test/fixtures"
LOG="$OUT/log.txt"
TAG=device-run
source "$ROOT/scripts/device/device-lib.sh"

: > "$LOG"
say "host $(hostname), $(uname -srm), $(nproc) CPUs, repo $ROOT, OUT=$OUT, budget ${BUDGET_S}s"
[ -d .carry ] || { say "no .carry/ here: run scripts/device/device-prep.sh first and name .carry in carry"; exit 1; }
head -2 .carry/MANIFEST 2>/dev/null | tee -a "$LOG"

# ---- 1. unpack (node, node_modules, out/, the Vulkan/EGL loaders)
unpack_carry
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>&1 | tee -a "$LOG"
python3 -c 'import torch, transformers; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(), "transformers", transformers.__version__)' 2>&1 | tail -1 | tee -a "$LOG"

# MODE=memory: the engine process's RSS and weight store (/dev/shm) at full size, idle, during an
# FP16 run and an Export ONNX for TensorRT, and after the idle release (scripts/device/store-memory.ts)
if [ "${MODE:-}" = memory ]; then
  [ -f "$CKPT" ] || step 120 node out/scripts/fixtures/gen-checkpoint.js --out "$CKPT" --outlier-block 3 --outlier-channel 400 --outlier-value 300
  step 300 node out/scripts/device/store-memory.js --weights "$CKPT" --ep "${EP:-cpu}" --heads 12 --out "$OUT/memory.json"
  exit 0
fi
# MODE=fullsize: the full-size numerics check instead (scripts/device/fullsize-check.sh), then stop
if [ "${MODE:-}" = fullsize ]; then
  # shellcheck source=scripts/device/fullsize-check.sh
  . scripts/device/fullsize-check.sh
  exit 0
fi
# MODE=e2e: end to end at full size instead (scripts/device/device-e2e.sh), then stop
if [ "${MODE:-}" = e2e ]; then
  # shellcheck source=scripts/device/device-e2e.sh
  . scripts/device/device-e2e.sh
  exit 0
fi

# ---- 2. the full-size checkpoint
step 120 node out/scripts/fixtures/gen-checkpoint.js --out "$CKPT" --manifest /tmp/ckpt_manifest.json
step 60 python3 scripts/device/check_checkpoint.py "$CKPT" --manifest /tmp/ckpt_manifest.json --like "$FIX/d1_outlier.pyth"

# ---- 3. WebGPU correctness on the fixtures (the CLI), reports merged into one file
rm -rf /tmp/cli; mkdir -p /tmp/cli
cli() { # name, then CLI arguments
  local name=$1; shift
  step 90 node out/extension/cli.js run "$@" --json "/tmp/cli/$name.json"
}
if [ -n "${CLI_ONLY_FUSED:-}" ] || [ -n "${CLI_BOTH:-}" ]; then
  cli d1_fp16_mha --weights "$FIX/d1_outlier.pyth" --data "$FIX/d1_outlier_test_data.p" --ep webgpu --precision fp16 --layernorm plain,fp32,fused --attention fused
  cli d4_fp16_mha --weights "$FIX/d4_geometry.pyth" --data "$FIX/d4_geometry_test_data.p" --ep webgpu --precision fp16 --layernorm plain,fused --attention fused
  cli d1_fp32_mha --weights "$FIX/d1_outlier.pyth" --data "$FIX/d1_outlier_test_data.p" --ep webgpu --precision fp32 --attention fused
fi
if [ -z "${CLI_ONLY_FUSED:-}" ]; then
cli d1_fp16_plain --weights "$FIX/d1_outlier.pyth" --data "$FIX/d1_outlier_test_data.p" --ep webgpu --precision fp16 --layernorm plain
cli d1_fp16_fixes --weights "$FIX/d1_outlier.pyth" --data "$FIX/d1_outlier_test_data.p" --ep webgpu --precision fp16 --layernorm fp32,expose,fused,prescaled
cli d1_fp32 --weights "$FIX/d1_outlier.pyth" --data "$FIX/d1_outlier_test_data.p" --ep webgpu --precision fp32 --layernorm plain
cli d1_auto_fp16_plain --weights "$FIX/d1_outlier.pyth" --data "$FIX/d1_outlier_test_data.p" --ep auto --precision fp16 --layernorm plain
cli d4_fp32 --weights "$FIX/d4_geometry.pyth" --data "$FIX/d4_geometry_test_data.p" --ep webgpu --precision fp32 --layernorm plain
cli d4_fp16_fixes --weights "$FIX/d4_geometry.pyth" --data "$FIX/d4_geometry_test_data.p" --ep webgpu --precision fp16 --layernorm fp32,expose,fused,prescaled
for d in d2_legacy d3_half_weights d4_geometry; do
  [ -f "$FIX/$d.pyth" ] && cli "${d}_fp16_plain" --weights "$FIX/$d.pyth" --data "$FIX/${d}_test_data.p" --ep webgpu --precision fp16 --layernorm plain
done
fi
node - /tmp/cli "$OUT/cli_webgpu.json" <<'EOF' 2>&1 | tee -a "$LOG"
// merge the CLI reports and print one line per run: which EP really ran, per-block errors, verdict
const fs = require('fs');
const path = require('path');
const [dir, out] = process.argv.slice(2);
const all = {};
for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
  try { all[f.replace(/\.json$/, '')] = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')); } catch (e) { all[f] = { error: String(e) }; }
}
fs.writeFileSync(out, JSON.stringify(all));
const num = (x) => (typeof x === 'number' ? x.toExponential(1) : String(x));
for (const [name, v] of Object.entries(all)) {
  for (const r of Array.isArray(v) ? v : [v]) {
    if (!r || !r.run) { console.log(`${name}: ${JSON.stringify(r).slice(0, 200)}`); continue; }
    const fb = (r.run.fallbacks || []).map((f) => `${f.ep}: ${f.reason}`).join('; ');
    console.log(`${name} ${r.run.precision}/${r.run.layerNorm}: ran on ${r.run.ep} (${r.run.realization})${fb ? ` after fallbacks [${fb}]` : ''}; ` +
      `blocks ${r.blocks.map((b) => num(b.relL2)).join(' ')}; probs ${num(r.probs && r.probs.relL2)}; ${r.diagnosis && r.diagnosis.verdict}; ` +
      `session ${Math.round(r.run.timings.sessionMs)} ms, run ${Math.round(r.run.timings.runMs)} ms`);
  }
}
EOF

if [ -n "${SKIP_BENCH:-}" ]; then say "SKIP_BENCH set: fixture checks only"; say "done; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"; exit 0; fi

# ---- 4. PyTorch baseline
step 180 python3 scripts/bench/bench_torch.py --device cuda --precisions fp32,fp16 --iters 50 --warmup 10 --json "$OUT/torch.json"
BASE=()
[ -f "$OUT/torch.json" ] && BASE=(--baseline "$OUT/torch.json")

# ---- 5. our engine (and the peer) on WebGPU and CPU
PEER=()
[ -f .carry/peer/timesformer_k400_torch_export.onnx ] && PEER=(--peer .carry/peer/timesformer_k400_torch_export.onnx)
BENCH_S=$(( $(left) - 75 ))
[ "$BENCH_S" -gt 360 ] && BENCH_S=360
say "bench budget ${BENCH_S}s"
# BENCH_SEL picks the configurations (default: every provider, precision, LayerNorm mode and attention form below)
read -r -a SEL <<< "${BENCH_SEL:---ep webgpu,cpu --precision fp32,fp16 --layernorm plain,fp32,fused --attention decomposed,fused --variants base,capture}"
step $(( BENCH_S + 30 )) node out/scripts/bench/bench.js --weights "$CKPT" "${SEL[@]}" --iters 30 --warmup 5 --cpu-iters 3 --cpu-fp16-iters 1 --heads 12 "${PEER[@]}" "${BASE[@]}" \
  --json "$OUT/bench.json" --deadline-s $(( BENCH_S - 60 )) --job-timeout-s 150

# ---- 6. the baseline again, if there is time
if [ "$(left)" -gt 60 ]; then
  step $(( $(left) - 10 )) python3 scripts/bench/bench_torch.py --device cuda --precisions fp32,fp16 --iters 50 --warmup 10 --json "$OUT/torch_after.json"
else
  say "no time left for the second PyTorch baseline"
fi
say "done; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
