#!/usr/bin/env bash
# Run ON the GPU machine: where a sweep's time goes (bench-paired.ts: the paired graph against its
# parts, its ~200 outputs packed into one against apart, onnxruntime's profile of one run), the
# sweep's per-clip split between the paired runs and judging on the host (bench-sweep.ts, batches
# 4/8/16, with 4 clips compared on the host as the check that packing changed nothing), and the warm
# toggle with its stages (bench-warm.ts).
# AFTER=1: the second call (after packing every single run's outputs and landing a run before its fix's
# confirmation): the warm toggle (default threads and 12), the sweep beside PyTorch eager.
#   NO_PEER=1 NO_OPTIONAL=1 bash scripts/device/device-prep.sh; run(command="bash scripts/device/device-session19.sh", carry=[".carry"])
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
OUT="${OUT:-/tmp/device-out}"
mkdir -p "$OUT"
LOG="$OUT/log.txt"; TAG=s19; BUDGET_S="${BUDGET_S:-540}"
: > "$LOG"
# shellcheck source=scripts/device/device-lib.sh
source "$ROOT/scripts/device/device-lib.sh"
say "host $(hostname), $(nproc) CPUs, budget ${BUDGET_S}s"
unpack_carry
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee -a "$LOG"
if [ -n "${WARM_ONLY:-}" ]; then
  # the warm toggle alone: default comparison threads (rounds 3) and 12 (rounds 2)
  step 200 node out/scripts/bench/bench-warm.js --size full --ep webgpu --rounds 3 --json "$OUT/bench-warm.json"
  step 150 env TIMESFORMER_LAB_THREADS=12 node out/scripts/bench/bench-warm.js --size full --ep webgpu --rounds 2 --json "$OUT/bench-warm-t12.json"
  say "done"
  pack_out
  exit 0
fi
if [ -n "${AFTER:-}" ]; then
  # the second call: the warm toggle with packed outputs and the graph colored before the fix's confirmation,
  # with 12 comparison threads beside the default 8, and the sweep with PyTorch eager in the same run
  step 150 node out/scripts/bench/bench-warm.js --size full --ep webgpu --rounds 2 --json "$OUT/bench-warm.json"
  step 100 env TIMESFORMER_LAB_THREADS=12 node out/scripts/bench/bench-warm.js --size full --ep webgpu --rounds 1 --json "$OUT/bench-warm-t12.json"
  step 200 node out/scripts/bench/bench-sweep.js --size full --clips 32 --ep webgpu --host-clips 4 --batches 8,16 --rss-clips 0 --out /tmp/bench-sweep --json "$OUT/bench-sweep.json"
  say "done"
  pack_out
  exit 0
fi
step 200 node out/scripts/bench/bench-paired.js --size full --ep webgpu --batches "${PAIRED_BATCHES:-8}" --runs 5 --profile --json "$OUT/bench-paired.json"
step 60 node out/scripts/bench/bench-paired.js --size full --ep webgpu --batches 1 --runs 5 --only '^paired' --json "$OUT/bench-paired-b1.json"
step 150 node out/scripts/bench/bench-sweep.js --size full --clips 32 --ep webgpu --host-clips 4 --batches 8,16 --rss-clips 0 --no-torch --out /tmp/bench-sweep --json "$OUT/bench-sweep.json"
step 120 node out/scripts/bench/bench-warm.js --size full --ep webgpu --rounds 2 --json "$OUT/bench-warm.json"
say "done"
pack_out
