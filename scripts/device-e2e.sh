# End to end at full size, sourced by scripts/device-run.sh (MODE=e2e) once it has unpacked .carry
# (node, node_modules, out/, the Vulkan loaders): uses its say / step / left, $OUT and $LOG.
#
#   bash scripts/device-prep.sh                      # on this machine: fills .carry/
#   run(command="MODE=e2e bash scripts/device-run.sh", carry=[".carry"], timeout_s=420)
#
# 1. the full-size checkpoint (gen-checkpoint: C=768, 12 heads, 121.6 M params, 486 MB) with the
#    massive activation planted in block 5 (fc2 bias 300 in channel 21);
# 2. PyTorch eager on the GPU, fp32 and fp16, batch 1 (bench_torch.py) -> torch.json: the
#    same-run baseline for "inference / PyTorch";
# 3. bench-e2e.js: one CLI process per configuration, from start to Report, no test data (the
#    reference is our FP32 graph on the CPU EP): WebGPU fp32 and fp16 one LayerNorm mode, fp16
#    all five, the CPU emulation, the same on the CPU EP, and WebGPU with CPU outputs and without
#    the minimal-fix confirmation run for comparison; E2E_REPEAT rounds (default 2) -> e2e.json.
# Budget: BUDGET_S (device-run.sh sets 340 s for MODE=e2e), about 5 minutes with the unpacking.

E2E_CKPT="${E2E_CKPT:-/tmp/timesformer_full_outlier5.pyth}"
E2E_RUNS="${E2E_RUNS:-webgpu:fp32:plain,webgpu:fp16:plain,webgpu:fp16:all,cpu:fp16:plain,cpu:fp32:plain,webgpu:fp16:plain@no-confirm,webgpu:fp16:plain@cpu-outputs@no-confirm,cpu:fp16:all}"
say "end to end: budget $(left)s left"
[ -f "$E2E_CKPT" ] || step 150 node out/scripts/gen-checkpoint.js --out "$E2E_CKPT" --outlier-block 5 --outlier-channel 21 --outlier-value 300
if [ ! -f "$E2E_CKPT" ]; then say "no full-size checkpoint: nothing to measure"; return 0; fi
step 150 python3 scripts/bench_torch.py --device cuda --precisions fp32,fp16 --iters 30 --warmup 10 --json "$OUT/torch.json"
BASE=()
[ -f "$OUT/torch.json" ] && BASE=(--baseline "$OUT/torch.json")
step $(( $(left) - 10 )) node out/scripts/bench-e2e.js --weights "$E2E_CKPT" --heads 12 --repeat "${E2E_REPEAT:-2}" --timeout-s 120 \
  --runs "$E2E_RUNS" "${BASE[@]}" --json "$OUT/e2e.json"
say "end to end done; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
