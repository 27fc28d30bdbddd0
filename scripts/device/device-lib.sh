# Sourced (not run) by the GPU-machine scripts (device-run.sh, device-hf.sh), from the repo root,
# after they set ROOT, OUT, LOG, BUDGET_S and TAG (the log prefix). Defines:
#   elapsed, left           seconds since sourcing, seconds left of BUDGET_S
#   say MSG                 a timestamped line on stdout and in $LOG
#   step LIMIT CMD...       CMD with a time limit (never past the budget), its output in $LOG; a
#                           failure or a timeout is logged and never stops the caller
#   unpack_carry            unpacks .carry/ (made here by scripts/device/device-prep.sh): node ->
#                           /tmp/node/bin (put on PATH), node_modules and out/ into the repo root,
#                           Debian's Vulkan/EGL loader .debs into $DEBS_ROOT (default /; dpkg -x,
#                           ldconfig); VK_DRIVER_FILES points at NVIDIA's ICD.
#   pack_out                at most 8 files come back from $OUT: packs every file under $OUT
#                           (but the tarball) into $OUT/all.tar.xz, keeping the small ones beside it
T0=$(date +%s)
DEBS_ROOT="${DEBS_ROOT:-/}"
elapsed() { echo $(( $(date +%s) - T0 )); }
left() { echo $(( BUDGET_S - $(elapsed) )); }
say() { echo "[$TAG $(date +%H:%M:%S) +$(elapsed)s] $*" | tee -a "$LOG"; }
step() {
  local limit=$1; shift
  local l; l=$(left)
  [ "$l" -lt "$limit" ] && limit=$l
  if [ "$limit" -le 5 ]; then say "SKIPPED (budget spent): $*"; return 0; fi
  say "\$ $*"
  timeout -k 10 "$limit" "$@" 2>&1 | tee -a "$LOG"
  local rc=${PIPESTATUS[0]}
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then say "stopped at its ${limit}s limit: $1"
  elif [ "$rc" != 0 ]; then say "exit status $rc: $*"; fi
  return 0
}
unxz_stream() {
  if command -v xz >/dev/null; then xz -dc "$1"
  else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"; fi
}
unpack_carry() {
  mkdir -p /tmp/node/bin
  unxz_stream .carry/node.xz > /tmp/node/bin/node && chmod +x /tmp/node/bin/node
  export PATH="/tmp/node/bin:$PATH"
  unxz_stream .carry/node_modules.tar.xz | tar -xf - -C "$ROOT"
  unxz_stream .carry/out.tar.xz | tar -xf - -C "$ROOT"
  if command -v dpkg >/dev/null; then
    mkdir -p "$DEBS_ROOT"
    for f in .carry/debs/*.deb; do dpkg -x "$f" "$DEBS_ROOT"; done
    [ "$DEBS_ROOT" = / ] && ldconfig
  else
    say "no dpkg: Vulkan/EGL loaders not unpacked (WebGPU will report no adapter if libvulkan.so.1 is missing)"
  fi
  export VK_DRIVER_FILES="${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}"
  export __EGL_VENDOR_LIBRARY_FILENAMES="${__EGL_VENDOR_LIBRARY_FILENAMES:-/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json}"
  export PYTHONUNBUFFERED=1
  say "node $(command -v node) $(node --version); libvulkan: $(ldconfig -p 2>/dev/null | grep -c 'libvulkan.so.1') entries; ICD $VK_DRIVER_FILES $([ -f "$VK_DRIVER_FILES" ] && echo present || echo MISSING)"
}
pack_out() {
  ( cd "$OUT" && find . -type f ! -name all.tar.xz -size -16M -print0 | tar --null -cJf all.tar.xz -T - ) 2>&1 | tail -2
  say "packed $(cd "$OUT" && find . -type f ! -name all.tar.xz | wc -l) files of $OUT into all.tar.xz ($(du -h "$OUT/all.tar.xz" | cut -f1))"
}
