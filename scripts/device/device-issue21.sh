#!/usr/bin/env bash
# Run ON the GPU machine: issue 21's full-size numbers in one call —
#  1. the sweep (scripts/bench/bench-sweep.ts): CLIPS clips of the content-dependent checkpoint on
#     WebGPU, the engine and its FP32 reference as one graph compared inside it; HOST_CLIPS of them
#     the old way (two sessions, every block output read back, compared on the host); PyTorch eager
#     (fp32 + fp16 forwards of the same clips) in the same run;
#  2. the warm toggle (scripts/bench/bench-warm.ts): cold, warm new mode, warm same mode, "today";
#  3. peak RSS over RSS_CLIPS full-size clips (a line every 10 %), in what time is left.
# (It replaces device-sweep.sh, device-warm.sh and device-after18.sh; issue 18's after-run was done
# on the CPU EP instead: docs/device-runs/session17-refactor-fullsize-cpu.md.)
# Prepared here by `NO_PEER=1 NO_OPTIONAL=1 bash scripts/device/device-prep.sh` (the tree must stay
# under 64 MiB); then
#   run(command="bash scripts/device/device-issue21.sh", carry=[".carry"], timeout_s=600)
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
OUT="${OUT:-/tmp/device-out}"
mkdir -p "$OUT"
LOG="$OUT/log.txt"; TAG=issue21; BUDGET_S="${BUDGET_S:-565}"
: > "$LOG"
# shellcheck source=scripts/device/device-lib.sh
source "$ROOT/scripts/device/device-lib.sh"
say "host $(hostname), $(nproc) CPUs, budget ${BUDGET_S}s, commit $(git rev-parse --short HEAD 2>/dev/null || echo ?)"
unpack_carry
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee -a "$LOG"
CLIPS="${CLIPS:-32}"; HOST_CLIPS="${HOST_CLIPS:-8}"; RSS_CLIPS="${RSS_CLIPS:-1000}"
step 260 node out/scripts/bench/bench-sweep.js --size full --clips "$CLIPS" --ep webgpu --host-clips "$HOST_CLIPS" --batches 1,8 --rss-clips 0 --out /tmp/bench-sweep --json "$OUT/bench-sweep-webgpu.json"
step 160 node out/scripts/bench/bench-warm.js --size full --ep webgpu --rounds 2 --json "$OUT/bench-warm-webgpu.json"
step "$(( $(left) - 25 ))" node out/scripts/bench/bench-sweep.js --size full --clips 1 --ep webgpu --rss-clips "$RSS_CLIPS" --rss-size full --no-torch --out /tmp/bench-rss --json "$OUT/bench-sweep-rss.json"
say "done"
pack_out
