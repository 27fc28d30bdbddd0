#!/usr/bin/env bash
# Run ON the GPU machine: the warm toggle benchmark of issue 21 item 4 (scripts/bench/bench-warm.ts) at
# full size, on WebGPU and on the CPU EP. Prepared here by
#   bash scripts/device/device-prep.sh      # .carry/: node, node_modules, out/ (tsc, with out/scripts/bench/bench-warm.js)
# then: run(command="bash scripts/device/device-warm.sh", carry=[".carry"], timeout_s=600)
#
# Writes into $OUT: log.txt (everything printed: each request's time, the medians, the ratios to
# cold, "today" with nothing kept, and whether the warm Reports are the cold ones), and
# bench-warm-webgpu.json / bench-warm-cpu.json (every request's row and the medians).
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
OUT="${OUT:-/tmp/device-out}"
mkdir -p "$OUT"
LOG="$OUT/log.txt"; TAG=warm; BUDGET_S="${BUDGET_S:-570}"
: > "$LOG"
# shellcheck source=scripts/device/device-lib.sh
source "$ROOT/scripts/device/device-lib.sh"
say "host $(hostname), $(nproc) CPUs, budget ${BUDGET_S}s"
unpack_carry
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee -a "$LOG"
ROUNDS="${ROUNDS:-3}"
step 330 node out/scripts/bench/bench-warm.js --size full --ep webgpu --rounds "$ROUNDS" --json "$OUT/bench-warm-webgpu.json"
step 200 node out/scripts/bench/bench-warm.js --size full --ep cpu --rounds 1 --json "$OUT/bench-warm-cpu.json"
say "done"
pack_out
