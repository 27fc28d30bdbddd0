# Sourced (not run) by the GPU-machine scripts (device-run.sh, device-hf.sh) from the repo root:
# unpacks .carry/ (made here by scripts/device-prep.sh): node -> /tmp/node/bin (put on PATH),
# node_modules and out/ into the repo root, Debian's Vulkan/EGL loader .debs into $DEBS_ROOT
# (default /; dpkg -x, ldconfig), and points VK_DRIVER_FILES at NVIDIA's ICD.
# Expects ROOT and a `say` function; defines unxz_stream.
DEBS_ROOT="${DEBS_ROOT:-/}"
unxz_stream() {
  if command -v xz >/dev/null; then xz -dc "$1"
  else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"; fi
}

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
