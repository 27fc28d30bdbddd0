#!/usr/bin/env bash
# Run ON the GPU machine: the sweep benchmark of issue 21 (scripts/bench/bench-sweep.ts) at full size on
# WebGPU, next to PyTorch eager on the same clips. Prepared here by
#   bash scripts/device/device-prep.sh      # .carry/: node, node_modules, out/ (tsc, with out/scripts/bench/bench-sweep.js)
# then: run(command="bash scripts/device/device-sweep.sh", carry=[".carry"], timeout_s=600)
#
# Writes into $OUT: log.txt (everything printed), bench-sweep-webgpu.json (FP16 WebGPU engine, FP32
# reference on WebGPU), bench-sweep-cpu-ref.json (the FP32 reference on the CPU EP, as a single run's),
# each with clips/s (steady and overall), peak RSS, the RSS growth over 1,000 small clips and the
# PyTorch eager numbers (torch key) of the same run.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
OUT="${OUT:-/tmp/device-out}"
mkdir -p "$OUT"
LOG="$OUT/log.txt"; TAG=sweep; BUDGET_S="${BUDGET_S:-570}"
: > "$LOG"
# shellcheck source=scripts/device/device-lib.sh
source "$ROOT/scripts/device/device-lib.sh"
say "host $(hostname), $(nproc) CPUs, budget ${BUDGET_S}s"
unpack_carry
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee -a "$LOG"
CLIPS="${CLIPS:-100}"
step 300 node out/scripts/bench/bench-sweep.js --size full --clips "$CLIPS" --ep webgpu --reference-ep webgpu --rss-clips 1000 --out /tmp/bench-sweep --json "$OUT/bench-sweep-webgpu.json"
step 200 node out/scripts/bench/bench-sweep.js --size full --clips 20 --ep webgpu --reference-ep cpu --rss-clips 0 --no-torch --out /tmp/bench-sweep-cpu --json "$OUT/bench-sweep-cpu-ref.json"
say "done"
pack_out
