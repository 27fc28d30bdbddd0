# Full-size numerics check, sourced by scripts/device/device-run.sh (MODE=fullsize) once it has unpacked
# .carry (node, node_modules, out/, the Vulkan loaders): uses its say / step / left, $OUT and $LOG.
#
#   bash scripts/device/device-prep.sh                      # on this machine: fills .carry/
#   run(command="MODE=fullsize BUDGET_S=470 bash scripts/device/device-run.sh", carry=[".carry"], timeout_s=600)
#
# 1. a full-size TimeSformer from gen-checkpoint (C=768, 12 heads, 8x224², 121.6 M params) with
#    the massive activation planted in block 5 (fc2 bias 300 in channel 21): a plain FP16
#    LayerNorm should break at block 6;
# 2. the reference: our own FP32 graph on the CPU for the same clip (synthetic:0; no --data), and,
#    when scripts/make_test_data.py is there, PyTorch's fp32 on the GPU plus PyTorch's own
#    fp16 / bf16 / autocast errors on the same clip (torch_errors.json);
# 3. one CLI call per precision x accumulation, each running every LayerNorm mode and the minimal
#    fix over one preparation, on WebGPU (10 warm runs per mode for the per-clip time), and the CPU
#    emulation for comparison; statistics off once (they must not change the numbers);
# 4. fullsize.md / fullsize.json: the tables (scripts/device/fullsize-table.ts).
# Every step is time-limited; optional ones are skipped when the budget runs low. Into $OUT:
# log.txt, fullsize.md, fullsize.json, torch_errors.json, fullsize_reports.tar.xz (every Report).

# FS_GEN (gen-checkpoint's size options) and FS_HEADS make a small dry run possible on any machine.
FS_CKPT="${FS_CKPT:-/tmp/timesformer_full_outlier5.pyth}"
FS_GEN="${FS_GEN:-}"
FS_HEADS="${FS_HEADS:-12}"
FS_DIR=/tmp/fullsize-reports
FS_DATA=/tmp/fullsize_test_data.p
rm -rf "$FS_DIR"; mkdir -p "$FS_DIR"
say "full-size check: budget $(left)s left"

# shellcheck disable=SC2086
step 150 node out/scripts/fixtures/gen-checkpoint.js --out "$FS_CKPT" --outlier-block 5 --outlier-channel 21 --outlier-value 300 $FS_GEN
if [ ! -f "$FS_CKPT" ]; then say "no full-size checkpoint: nothing to check"; return 0; fi

SELF=(--weights "$FS_CKPT" --input synthetic:0 --heads "$FS_HEADS" --quiet)
# fs_cli NAME LIMIT_S NEED_S ARGS...: one CLI call, its Reports into $FS_DIR/NAME.json, skipped when less than NEED_S is left
fs_cli() {
  local name=$1 limit=$2 need=$3; shift 3
  if [ "$(left)" -lt "$need" ]; then say "skipped $name: $(left)s left, it needs ~${need}s"; return 0; fi
  [ "$limit" -gt "$(( $(left) - 20 ))" ] && limit=$(( $(left) - 20 ))
  step "$limit" node out/extension/cli.js run "$@" --json "$FS_DIR/$name.json"
}
MODES=plain,fp32,fused,prescaled,expose,minimal

# in order of what the issue needs most; each call rewrites its JSON after every mode
fs_cli gpu_fp32 90 40 "${SELF[@]}" --ep webgpu --precision fp32 --repeat 10
fs_cli gpu_fp16_acc32 150 90 "${SELF[@]}" --ep webgpu --precision fp16 --accumulate fp32 --layernorm "$MODES" --repeat 10
fs_cli gpu_fp16_acc16 150 90 "${SELF[@]}" --ep webgpu --precision fp16 --accumulate fp16 --layernorm "$MODES" --repeat 10
fs_cli cpu_fp16_acc32 150 60 "${SELF[@]}" --ep cpu --precision fp16 --accumulate fp32 --layernorm fp32,plain,fused,prescaled,expose --no-confirm

if [ -f scripts/make_test_data.py ] && [ "$(left)" -gt 100 ]; then
  step 90 python3 scripts/make_test_data.py --weights "$FS_CKPT" --heads "$FS_HEADS" --input synthetic:0 --device cuda --out "$FS_DATA" \
    --compare-precisions fp16,bf16,autocast-fp16,autocast-bf16 --errors-json "$OUT/torch_errors.json"
else
  say "no PyTorch reference: scripts/make_test_data.py $([ -f scripts/make_test_data.py ] && echo "present, but too little time left" || echo "not in this tree")"
fi
fs_cli gpu_fp16_nostats 60 40 "${SELF[@]}" --ep webgpu --precision fp16 --accumulate fp32 --layernorm fused,plain --no-stats --no-confirm
if [ -f "$FS_DATA" ]; then
  PT=(--weights "$FS_CKPT" --data "$FS_DATA" --heads "$FS_HEADS" --quiet)
  fs_cli gpu_fp16_acc32_pytorch 100 60 "${PT[@]}" --ep webgpu --precision fp16 --accumulate fp32 --layernorm fp32,fused,minimal
  fs_cli gpu_fp32_pytorch 60 30 "${PT[@]}" --ep webgpu --precision fp32
fi
fs_cli cpu_fp16_acc16 90 50 "${SELF[@]}" --ep cpu --precision fp16 --accumulate fp16 --layernorm plain --no-confirm
fs_cli cpu_bf16 60 40 "${SELF[@]}" --ep cpu --precision bf16 --layernorm plain --no-confirm

step 30 node out/scripts/device/fullsize-table.js --dir "$FS_DIR" --torch "$OUT/torch_errors.json" --json "$OUT/fullsize.json" --md "$OUT/fullsize.md"
if command -v xz >/dev/null; then tar -C "$FS_DIR" -cf - . | xz -6 > "$OUT/fullsize_reports.tar.xz"; else tar -C "$FS_DIR" -czf "$OUT/fullsize_reports.tar.gz" .; fi
say "full-size check done; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
