#!/usr/bin/env bash
# Run ON the GPU machine (issue 21, session 19). MODE picks what runs:
#   profile (default)  where a sweep's time goes (bench-paired.ts: the paired graph against its parts, its
#                      outputs packed against apart, onnxruntime's profile of one run), the sweep's per-clip
#                      split between the paired runs and judging (bench-sweep.ts, batches 4/8/16, 4 clips
#                      compared on the host as the check), and the warm toggle with its stages (bench-warm.ts)
#   after              the warm toggle (8 and 12 comparison threads) and the sweep beside PyTorch eager
#   warm               the warm toggle alone: 8 threads (3 rounds) and 12 (2 rounds)
#   ahead              the warm toggle with the expose toggle's other mode built ahead: at once, after a
#                      user's 1.5 s pause, and with it off (ROUNDS rounds each, default 2)
#   rss                peak RSS over 1,000 full-size clips
#   session            where a new mode's session time goes (bench-session.ts: optimization levels,
#                      session config entries, onnxruntime's session events)
#   kernels            the paired graph's GPU kernels by graph and op (profile), and onnxruntime's node
#                      placements (which provider runs each node: TIMESFORMER_LAB_ORT_LOG=0)
#   sweep              the sweep beside PyTorch eager alone (32 clips, 8 a run, then 4 and 16), and at 8 a run
#                      with the paired sessions in this process instead of the GPU helper process
# MODE may list several, comma-separated (MODE=ahead,session), run in that order.
#   NO_PEER=1 NO_OPTIONAL=1 bash scripts/device/device-prep.sh; run(command="MODE=warm bash scripts/device/device-session19.sh", carry=[".carry"])
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
OUT="${OUT:-/tmp/device-out}"
mkdir -p "$OUT"
LOG="$OUT/log.txt"; TAG=s19; BUDGET_S="${BUDGET_S:-540}"
: > "$LOG"
# shellcheck source=scripts/device/device-lib.sh
source "$ROOT/scripts/device/device-lib.sh"
say "host $(hostname), $(nproc) CPUs, budget ${BUDGET_S}s, mode ${MODE:-profile}"
unpack_carry
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee -a "$LOG"
warm() { step "$1" env TIMESFORMER_LAB_THREADS="$2" node out/scripts/bench/bench-warm.js --size full --ep webgpu --rounds "$3" --json "$OUT/bench-warm-t$2.json"; }
run_mode() {
case "$1" in
  profile)
    step 200 node out/scripts/bench/bench-paired.js --size full --ep webgpu --batches 8 --runs 5 --profile --json "$OUT/bench-paired.json"
    step 60 node out/scripts/bench/bench-paired.js --size full --ep webgpu --batches 1 --runs 5 --only '^paired' --json "$OUT/bench-paired-b1.json"
    step 150 node out/scripts/bench/bench-sweep.js --size full --clips 32 --ep webgpu --host-clips 4 --batches 8,16 --rss-clips 0 --no-torch --out /tmp/bench-sweep --json "$OUT/bench-sweep.json"
    warm 120 8 2 ;;
  after)
    warm 150 8 2
    warm 100 12 1
    step 200 node out/scripts/bench/bench-sweep.js --size full --clips 32 --ep webgpu --host-clips 4 --batches 8,16 --rss-clips 0 --out /tmp/bench-sweep --json "$OUT/bench-sweep.json" ;;
  warm)
    warm 200 8 3
    warm 150 12 2 ;;
  ahead)
    step 120 node out/scripts/bench/bench-warm.js --size full --ep webgpu --rounds "${ROUNDS:-2}" --json "$OUT/bench-warm-ahead.json"
    step 100 node out/scripts/bench/bench-warm.js --size full --ep webgpu --rounds "${ROUNDS:-2}" --think-ms 1500 --json "$OUT/bench-warm-ahead-think.json"
    step 100 env TIMESFORMER_LAB_BUILD_AHEAD=0 node out/scripts/bench/bench-warm.js --size full --ep webgpu --rounds "${ROUNDS:-2}" --json "$OUT/bench-warm-no-ahead.json" ;;
  rss)
    step 420 node out/scripts/bench/bench-sweep.js --size full --clips 1 --ep webgpu --rss-clips 1000 --rss-size full --no-torch --out /tmp/bench-rss --json "$OUT/bench-sweep-rss.json" ;;
  session)
    step 200 node out/scripts/bench/bench-session.js --size full --ep webgpu --rounds "${ROUNDS:-2}" --profile --json "$OUT/bench-session.json"
    # onnxruntime's own log of one expose session's creation, timestamped line by line
    step 60 bash -c "TIMESFORMER_LAB_ORT_LOG=1 node out/scripts/bench/bench-session.js --size full --ep webgpu --rounds 1 --only '^default$' > '$OUT/ort-session-log.txt' 2>&1; tail -3 '$OUT/ort-session-log.txt'" ;;
  sweep)
    step 260 node out/scripts/bench/bench-sweep.js --size full --clips 32 --ep webgpu --batches 4,16 --rss-clips 0 --in-process --out /tmp/bench-sweep --json "$OUT/bench-sweep.json" ;;
  kernels)
    step 120 node out/scripts/bench/bench-paired.js --size full --ep webgpu --batches 8 --runs 3 --only '^paired [(]the sweep[)]$' --profile --json "$OUT/bench-paired-kernels.json"
    step 90 bash -c "TIMESFORMER_LAB_ORT_LOG=0 node out/scripts/bench/bench-paired.js --size full --ep webgpu --batches 8 --runs 1 --only '^paired [(]the sweep[)]$' 2>&1 | grep -i -E -A30 'placed on|placement|not assigned' | head -150" ;;
  *) say "unknown MODE $1" ;;
esac
}
IFS=, read -r -a MODES <<< "${MODE:-profile}"
for m in "${MODES[@]}"; do run_mode "$m"; done
say "done"
pack_out
