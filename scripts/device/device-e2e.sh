# End to end at full size, sourced by scripts/device/device-run.sh (MODE=e2e) once it has unpacked .carry
# (node, node_modules, out/, the Vulkan loaders): uses its say / step / left, $OUT and $LOG.
#
#   bash scripts/device/device-prep.sh                      # on this machine: fills .carry/
#   run(command="MODE=e2e bash scripts/device/device-run.sh", carry=[".carry"], timeout_s=540)
#
# 1. the full-size checkpoint (gen-checkpoint: C=768, 12 heads, 121.6 M params, 486 MB) with the
#    massive activation planted in block 5 (fc2 bias 300 in channel 21);
# 2. PyTorch eager on the GPU, fp32 and fp16, batch 1 (bench_torch.py) -> torch.json: the
#    same-run baseline for "inference / PyTorch";
# 3. test data from PyTorch for that checkpoint (make_test_data.py, transformers on the GPU,
#    synthetic clip seed 0, ~15 s) -> /tmp, so that runs with `@data` compare with PyTorch itself
#    and the reference costs nothing, as in issue 11's "before" table;
# 4. bench-e2e.js: one CLI process per configuration, from start to Report, with that test data
#    (@data) and without (the reference is then our FP32 graph on the CPU EP: extra work by design):
#    WebGPU fp16 with the FP32 LayerNorm fix (passes: one engine), fp16 plain (fails at block 6:
#    the minimal fix's confirmation run is timed apart), all five modes, fp32; the same on the CPU
#    EP; WebGPU fp16 with the worker threads off (@threads=0) for their effect;
#    E2E_REPEAT rounds (default 2) -> e2e.json.
# Budget: BUDGET_S (device-run.sh sets 430 s for MODE=e2e), about 7 minutes with the unpacking.

E2E_CKPT="${E2E_CKPT:-/tmp/timesformer_full_outlier5.pyth}"
E2E_DATA="${E2E_DATA:-/tmp/timesformer_full_outlier5_test_data.p}"
E2E_RUNS="${E2E_RUNS:-webgpu:fp16:fp32@data,webgpu:fp16:plain@data,webgpu:fp16:all@data,webgpu:fp32:plain@data,cpu:fp16:plain@data,cpu:fp32:plain@data,cpu:fp16:all@data,webgpu:fp16:fp32,webgpu:fp16:plain,webgpu:fp16:all,webgpu:fp32:plain,cpu:fp16:plain,cpu:fp32:plain,webgpu:fp16:fp32@data@threads=0}"
say "end to end: budget $(left)s left"
[ -f "$E2E_CKPT" ] || step 150 node out/scripts/fixtures/gen-checkpoint.js --out "$E2E_CKPT" --outlier-block 5 --outlier-channel 21 --outlier-value 300
if [ ! -f "$E2E_CKPT" ]; then say "no full-size checkpoint: nothing to measure"; return 0; fi
step 150 python3 scripts/bench/bench_torch.py --device cuda --precisions fp32,fp16 --iters 30 --warmup 10 --json "$OUT/torch.json"
BASE=()
[ -f "$OUT/torch.json" ] && BASE=(--baseline "$OUT/torch.json")
[ -f "$E2E_DATA" ] || step 120 python3 scripts/make_test_data.py --weights "$E2E_CKPT" --heads 12 --input synthetic:0 --device cuda --out "$E2E_DATA"
DATA=()
if [ -f "$E2E_DATA" ]; then DATA=(--data "$E2E_DATA"); else say "no test data from PyTorch: the @data runs are dropped"; E2E_RUNS="$(echo "$E2E_RUNS" | tr ',' '\n' | grep -v '@data' | paste -sd,)"; fi
step $(( $(left) - 10 )) node out/scripts/bench/bench-e2e.js --weights "$E2E_CKPT" --heads 12 --repeat "${E2E_REPEAT:-2}" --timeout-s 120 \
  --runs "$E2E_RUNS" "${DATA[@]}" "${BASE[@]}" --json "$OUT/e2e.json"
say "end to end done; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
