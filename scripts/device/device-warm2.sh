#!/usr/bin/env bash
# Run ON the GPU machine: the warm toggle again after the comparison threads were kept with the
# preparation (bench-warm.ts), and the sweep at batch 16 beside batch 8 (bench-sweep.ts --batches).
#   NO_PEER=1 NO_OPTIONAL=1 bash scripts/device/device-prep.sh; run(command="bash scripts/device/device-warm2.sh", carry=[".carry"])
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
OUT="${OUT:-/tmp/device-out}"
mkdir -p "$OUT"
LOG="$OUT/log.txt"; TAG=warm2; BUDGET_S="${BUDGET_S:-300}"
: > "$LOG"
# shellcheck source=scripts/device/device-lib.sh
source "$ROOT/scripts/device/device-lib.sh"
say "host $(hostname), $(nproc) CPUs, budget ${BUDGET_S}s"
unpack_carry
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee -a "$LOG"
step 150 node out/scripts/bench/bench-warm.js --size full --ep webgpu --rounds "${ROUNDS:-3}" --json "$OUT/bench-warm-webgpu.json"
[ -n "${WARM_ONLY:-}" ] || step 130 node out/scripts/bench/bench-sweep.js --size full --clips 32 --ep webgpu --batches 8,16 --rss-clips 0 --no-torch --out /tmp/bench-sweep --json "$OUT/bench-sweep-batch.json"
say "done"
pack_out
