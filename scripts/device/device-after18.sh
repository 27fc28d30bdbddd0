#!/usr/bin/env bash
# Run ON the GPU machine: issue 18's full-size check after the refactor (the same runs as
# device-checks.sh's baseline on main 4dd7581, compared number for number with its Reports in
# docs/device-runs/session17-h100-baseline/ by test/tools/compare-reports.ts), then the sweep
# benchmark of issue 21 (scripts/bench/bench-sweep.ts, CLIPS full-size clips on WebGPU beside
# PyTorch eager) and the warm toggle (scripts/bench/bench-warm.ts). Prepared here by `NO_OPTIONAL=1 bash scripts/device/device-prep.sh` (no video
# decoder, no Polygraphy: the tree must stay under 64 MiB); then
#   run(command="bash scripts/device/device-after18.sh", carry=[".carry"], timeout_s=600)
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
OUT="${OUT:-/tmp/device-out}"
mkdir -p "$OUT"
LOG="$OUT/log.txt"; TAG=after18; BUDGET_S="${BUDGET_S:-560}"
: > "$LOG"
# shellcheck source=scripts/device/device-lib.sh
source "$ROOT/scripts/device/device-lib.sh"
say "host $(hostname), $(nproc) CPUs, budget ${BUDGET_S}s, commit $(git rev-parse --short HEAD 2>/dev/null || echo ?)"
unpack_carry
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee -a "$LOG"
CKPT=/tmp/full_outlier5.pyth
BASE="$ROOT/docs/device-runs/session17-h100-baseline"
step 150 node out/scripts/fixtures/gen-checkpoint.js --out "$CKPT" --outlier-block 5 --outlier-channel 21 --outlier-value 300
R="node out/extension/cli.js run --weights $CKPT --heads 12"
step 60 bash -c "$R --ep webgpu --precision fp16 --layernorm plain,fp32 --no-confirm --repeat 5 --json '$OUT/after18-webgpu-fp16.json' > '$OUT/after18-webgpu-fp16.txt' 2>&1; true"
step 40 bash -c "$R --ep webgpu --precision fp32 --repeat 5 --json '$OUT/after18-webgpu-fp32.json' > '$OUT/after18-webgpu-fp32.txt' 2>&1; true"
step 40 bash -c "/usr/bin/time -v $R --ep cpu --precision fp16 --no-confirm --json '$OUT/after18-cpu-fp16.json' > '$OUT/after18-cpu-fp16.txt' 2>&1; true"
for k in webgpu-fp16 webgpu-fp32 cpu-fp16; do
  xz -dc "$BASE/baseline18-$k.json.xz" > "/tmp/baseline18-$k.json" 2>/dev/null || python3 -c 'import lzma,sys; sys.stdout.buffer.write(lzma.open(sys.argv[1]).read())' "$BASE/baseline18-$k.json.xz" > "/tmp/baseline18-$k.json"
  step 20 bash -c "node out/test/tools/compare-reports.js '/tmp/baseline18-$k.json' '$OUT/after18-$k.json' > '$OUT/compare18-$k.txt' 2>&1; echo \"compare $k: exit \$?\"; cat '$OUT/compare18-$k.txt'"
done
grep -hE "more runs|^time:" "$OUT"/after18-*.txt | tee -a "$LOG"
# issue 21.4: the warm toggle (bench-warm.ts: cold, warm same mode, warm new mode, from the request to the Report)
step 150 node out/scripts/bench/bench-warm.js --size full --ep webgpu --rounds 2 --weights "$CKPT" --json "$OUT/bench-warm-webgpu.json"
CLIPS="${CLIPS:-50}"
step "$(( $(left) - 30 ))" node out/scripts/bench/bench-sweep.js --size full --clips "$CLIPS" --ep webgpu --reference-ep webgpu --rss-clips 1000 --out /tmp/bench-sweep --json "$OUT/bench-sweep-webgpu.json"
say "done"
pack_out
