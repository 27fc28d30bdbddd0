#!/usr/bin/env bash
# Prepare, on this (CPU, x86-64) machine, the folder .carry/ (git-ignored) with what the GPU machine
# needs for scripts/device/device-run.sh and lacks: it has Python, PyTorch, CUDA and transformers, but no
# Node, no node_modules, no compiled out/, no Vulkan/EGL loader and no copy of ../shared.
#
#   bash scripts/device/device-prep.sh          # then: run(command="bash scripts/device/device-run.sh", carry=[".carry"])
#                                        # or:   run(command="bash scripts/device/device-hf.sh", carry=[".carry"])
#                                        # or:   run(command="MODE=e2e bash scripts/device/device-run.sh", carry=[".carry"], timeout_s=420)
#
# .carry/ holds:
#   node.xz             this machine's node binary, xz-compressed (reused while `node --version` is unchanged)
#   node_modules.tar.xz only the run-time closure of onnxruntime-node (Linux x64 binaries only),
#                       and package.json's other run-time dependencies (onnx-proto, protobufjs, yauzl, js-yaml)
#   out.tar.xz          the compiled out/ (tsc), without source maps
#   debs/*.deb          Debian's Vulkan/EGL loaders (libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2), amd64
#   peer/               the peer model (official TimeSformer as torch.onnx.export writes it), from ../shared/peers
#   MANIFEST            what is inside, sizes, node and onnxruntime versions
# The whole working tree that travels (tracked files + .carry) must stay under 64 MiB; this checks it.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
CARRY="$ROOT/.carry"
SHARED="${SHARED:-$(cd "$ROOT/.." && pwd)/shared}"
LIMIT_MIB=60
mkdir -p "$CARRY/debs" "$CARRY/peer"
ts() { date +%H:%M:%S; }
say() { echo "[device-prep $(ts)] $*"; }

if [ "$(uname -m)" != x86_64 ]; then
  echo "device-prep: this machine is $(uname -m); the GPU machine is x86-64: its node binary and native modules must be x86-64" >&2
  exit 1
fi

# ---- 1. node binary
NODE_BIN="$(command -v node)"
NODE_VER="$(node --version)"
if [ -f "$CARRY/node.xz" ] && [ "$(cat "$CARRY/node.version" 2>/dev/null)" = "$NODE_VER" ]; then
  say "node $NODE_VER: reusing .carry/node.xz"
else
  say "compressing $NODE_BIN ($NODE_VER, $(du -h "$NODE_BIN" | cut -f1)) with xz -9 (about a minute)"
  xz -9 -T0 -c "$NODE_BIN" > "$CARRY/node.xz.tmp"
  mv "$CARRY/node.xz.tmp" "$CARRY/node.xz"
  echo "$NODE_VER" > "$CARRY/node.version"
fi

# ---- 2. compiled out/
say "compiling (tsc -p .)"
if ! npx --no-install tsc -p . > "$CARRY/tsc.log" 2>&1; then
  say "tsc reported errors (JavaScript is emitted anyway); first lines:"
  head -5 "$CARRY/tsc.log" | sed 's/^/    /'
fi
for f in out/scripts/bench/bench.js out/scripts/bench/bench-e2e.js out/scripts/fixtures/gen-checkpoint.js out/extension/cli.js; do
  [ -f "$f" ] || { echo "device-prep: $f is missing after tsc" >&2; exit 1; }
done
tar -C "$ROOT" --exclude='*.map' -cf - out | xz -9 -T0 > "$CARRY/out.tar.xz"

# ---- 3. node_modules: the run-time closure only
say "collecting the run-time node_modules closure"
node - "$ROOT" > "$CARRY/node_modules.list" <<'EOF'
// Walk package.json dependencies the way Node resolves them (nested node_modules first, then up).
const fs = require('fs');
const path = require('path');
const root = process.argv[2];
// every run-time dependency of package.json (js-yaml reads official cfgs), and onnxruntime-common
const roots = [...new Set([...Object.keys(require(path.join(root, 'package.json')).dependencies || {}), 'onnxruntime-common'])];
// install-time only (onnxruntime-node's script/install downloads GPU providers): not needed to run
const skip = new Set(['adm-zip', 'global-agent']);
const seen = new Set();
function find(name, fromDir) {
  let d = fromDir;
  for (;;) {
    const c = path.join(d, 'node_modules', name);
    if (fs.existsSync(path.join(c, 'package.json'))) return c;
    if (d === root) return null;
    const up = path.dirname(d);
    if (up === d) return null;
    d = up;
  }
}
function visit(dir) {
  if (seen.has(dir)) return;
  seen.add(dir);
  const pj = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  for (const dep of Object.keys(pj.dependencies || {})) {
    if (skip.has(dep) || dep.startsWith('@types/')) continue;
    const c = find(dep, dir);
    if (!c) throw new Error(`${dep} (needed by ${path.relative(root, dir)}) is not installed`);
    visit(c);
  }
  // an optional dependency travels when npm installed it here (@ffmpeg-installer/ffmpeg's
  // linux-x64 package: the video decoder, ffmpeg)
  // (NO_OPTIONAL=1: left out, for a call that decodes no video and needs the room)
  for (const dep of process.env.NO_OPTIONAL ? [] : Object.keys(pj.optionalDependencies || {})) {
    const c = find(dep, dir);
    if (c) visit(c);
  }
}
for (const r of roots) {
  const c = find(r, root);
  if (!c) throw new Error(`${r} is not installed: run npm ci`);
  visit(c);
}
const dirs = [...seen].map((d) => path.relative(root, d)).sort();
// a package nested inside another one travels with its parent
const top = dirs.filter((d) => !dirs.some((p) => p !== d && d.startsWith(p + '/')));
console.log(top.join('\n'));
EOF
sed 's/^/    /' "$CARRY/node_modules.list"
# shellcheck disable=SC2046
tar -C "$ROOT" \
  --exclude='node_modules/onnxruntime-node/bin/napi-v*/darwin' \
  --exclude='node_modules/onnxruntime-node/bin/napi-v*/win32' \
  --exclude='node_modules/onnxruntime-node/bin/napi-v*/linux/arm64' \
  --exclude='*.map' --exclude='*.md' --exclude='*.d.ts' --exclude='*.ts' \
  -cf - $(cat "$CARRY/node_modules.list") | xz -9 -T0 > "$CARRY/node_modules.tar.xz"

# ---- 4. Vulkan/EGL loaders (amd64 .debs)
DEBS="libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2"
missing=""
for p in $DEBS; do ls "$CARRY/debs/${p}_"*.deb >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  say "downloading Debian packages:$missing"
  mkdir -p /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  # shellcheck disable=SC2086
  apt-get $o update -qq
  # shellcheck disable=SC2086
  (cd "$CARRY/debs" && apt-get $o download $missing)
else
  say "Debian packages already in .carry/debs"
fi

# ---- 5. the peer model (../shared does not travel to the GPU machine)
# (NO_PEER=1: left out, for a call that runs no peer comparison and needs the room)
PEER="$SHARED/peers/timesformer_k400_torch_export.onnx"
rm -f "$CARRY/peer/"*
if [ -n "${NO_PEER:-}" ]; then
  say "peer model left out (NO_PEER)"
elif [ -f "$PEER" ]; then
  cp -f "$PEER" "$CARRY/peer/"
else
  say "no peer model at $PEER: the bench will run without --peer"
fi

# ---- 6. manifest and size checks
ORT_VER="$(node -p "require('./node_modules/onnxruntime-node/package.json').version")"
{
  echo "prepared $(date -u +%FT%TZ) on $(uname -srm)"
  echo "node $NODE_VER, onnxruntime-node $ORT_VER, commit $(git rev-parse --short HEAD)"
  (cd "$CARRY" && find . -type f ! -name MANIFEST ! -name tsc.log -printf '%s\t%p\n' | sort -k2)
} > "$CARRY/MANIFEST"
TOTAL=$(du -sb "$CARRY" | cut -f1)
TRACKED=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
UNTRACKED=$(git ls-files --others --exclude-standard -z | xargs -0 -r du -cb 2>/dev/null | tail -1 | cut -f1)
UNTRACKED=${UNTRACKED:-0}
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
say "contents:"
(cd "$CARRY" && du -h node.xz node_modules.tar.xz out.tar.xz debs peer | sed 's/^/    /')
say ".carry total $(mib "$TOTAL") (limit here ${LIMIT_MIB} MiB); with the tracked files ($(mib "$TRACKED")) and untracked ones ($(mib "$UNTRACKED")) the tree that travels is $(mib $((TOTAL + TRACKED + UNTRACKED))) of 64 MiB"
# the run tool's limit is 64 MiB; TRAVEL_KIB (default 63 MiB) keeps a margin under it
if [ "$TOTAL" -gt $((LIMIT_MIB * 1048576)) ] || [ $((TOTAL + TRACKED + UNTRACKED)) -gt $(( ${TRAVEL_KIB:-64512} * 1024)) ]; then
  echo "device-prep: too large to travel" >&2
  exit 1
fi
say "ready: run(command=\"bash scripts/device/device-run.sh\", carry=[\".carry\"])"
