#!/usr/bin/env bash
# Issue 21, video input, checked against the reference implementations on the GPU machine
# (python3 with torch, torchvision, transformers, opencv, and PyAV when installed; Node and the
# bundled ffmpeg travel in .carry):
#   bash scripts/device/device-prep.sh      # here, once: .carry/ with node, node_modules (+ @ffmpeg-installer/linux-x64), out/
#   run(command="bash scripts/device/device-video.sh", carry=[".carry"], timeout_s=300)
#
# 1. our clips: node out/scripts/device/video-clip.js preprocesses every committed clip of
#    test/fixtures/video (h264/mp4, vp9/webm, mpeg4/avi, mjpeg/mkv, VFR, 37 frames, a JPEG and a
#    PNG frames folder) for d1_outlier.pyth (official cfg: 8 frames × SAMPLING_RATE 32, short side
#    64, centre crop), and two of them for an HF folder (hf_base + a preprocessor_config.json with
#    shortest_edge 40, crop 32) -> <clip>.ours.npy/.json;
# 2. the references: scripts/device/video_device_compare.py -> PyAV + the official torch transform
#    (decoder.py's selective decoding, to_rgb), OpenCV's VideoCapture as a second decoder, Pillow
#    and cv2.imread for the folders, transformers' VideoMAEImageProcessor for the HF config; per
#    clip max |ours − reference| (model units and 0-255 levels; target ≤ 1 level = 1/255);
# 3. d1's model (the lab's CLI, CPU EP, fp16 plain) on three clips, ours (--input clip.mp4) and the
#    reference's (--input <clip>.ref.npy): per-block relative errors and verdicts compared.
# Writes $OUT/video.txt (the summary), $OUT/video.jsonl (every comparison), $OUT/log.txt.
# Kept under BUDGET_S (default 120 s).
#
# In three phases when PyAV is wanted (the GPU machine lacks it, and its 36 MB wheel does not fit in
# one call beside the node carry), PHASE=ours | refs | models:
#   PHASE=ours bash scripts/device/device-video.sh        # here: step 1 into .carry-video/ (the lab's
#                                                           # clips, the same bundled ffmpeg), and the av wheel into .whl/
#   run(command="PHASE=refs bash scripts/device/device-video.sh", carry=[".carry-video", ".whl"], timeout_s=300)
#   PHASE=models REFS=<files_at>/refs.tar.xz bash scripts/device/device-video.sh   # here: step 3 + the summary
PHASE="${PHASE:-all}"
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
OUT="${OUT:-/tmp/device-video-out}"
mkdir -p "$OUT"
BUDGET_S="${BUDGET_S:-120}"
FIX="$ROOT/test/fixtures"
V="$FIX/video"
W=/tmp/video21
LOG="$OUT/log.txt"
TAG=device-video
source "$ROOT/scripts/device/device-lib.sh"
: > "$LOG"
[ "$PHASE" = models ] || { rm -rf "$W"; mkdir -p "$W/clips" "$W/runs" "$W/hf"; }
say "host $(hostname), $(nproc) CPUs, OUT=$OUT, budget ${BUDGET_S}s"
python3 - <<'PY' 2>&1 | tee -a "$LOG"
import importlib
for m in ('torch', 'torchvision', 'transformers', 'av', 'cv2', 'PIL', 'numpy'):
    try:
        mod = importlib.import_module(m)
        print(f'{m} {getattr(mod, "__version__", "?")}')
    except Exception as e:
        print(f'{m} MISSING ({type(e).__name__})')
PY
if [ "$PHASE" = refs ]; then
  # the wheel's files, xz-packed here (a wheel is its install tree; xz keeps the call under 64 MiB)
  mkdir -p /tmp/site && tar -xJf .whl/av-site.tar.xz -C /tmp/site
  export PYTHONPATH=/tmp/site
  python3 -c 'import av; print("PyAV", av.__version__)' 2>&1 | tee -a "$LOG"
  cp -r .carry-video/clips .carry-video/hfclips .carry-video/hf "$W/"
elif [ -d .carry ] && [ "$PHASE" = all ]; then unpack_carry; else say "node from PATH, out/ built here"; fi
export NODE_PATH="$ROOT/node_modules${NODE_PATH:+:$NODE_PATH}"
say "decoder: $(node -e "try { console.log(require('./out/extension/core/video/ffmpeg.js').findDecoder().label) } catch (e) { console.log('NONE: ' + e.message) }")"

CLIPS=(h264_96x72_30fps.mp4 vp9_80x60_25fps.webm mpeg4_72x96_24fps.avi mjpeg_67x45_41frames.mkv h264_vfr_96x72.mp4 h264_64x64_37frames.mp4 frames frames_png)
if [ "$PHASE" = all ] || [ "$PHASE" = ours ]; then
# ---- 1. our clips
for c in "${CLIPS[@]}"; do
  step 20 node out/scripts/device/video-clip.js --weights "$FIX/d1_outlier.pyth" --input "$V/$c" --out "$W/clips/$c.ours.npy" --json "$W/clips/$c.ours.json"
done
# an HF folder whose preprocessor_config.json resizes and crops (VideoMAEImageProcessor's path)
cp "$FIX/hf_base/config.json" "$FIX/hf_base/model.safetensors" "$W/hf/"
cat > "$W/hf/preprocessor_config.json" <<'JSON'
{"image_processor_type": "VideoMAEImageProcessor", "do_resize": true, "size": {"shortest_edge": 40}, "resample": 2,
 "do_center_crop": true, "crop_size": {"height": 32, "width": 32}, "do_rescale": true, "rescale_factor": 0.00392156862745098,
 "do_normalize": true, "image_mean": [0.45, 0.45, 0.45], "image_std": [0.225, 0.225, 0.225]}
JSON
mkdir -p "$W/hfclips"
for c in h264_96x72_30fps.mp4 mpeg4_72x96_24fps.avi; do
  step 20 node out/scripts/device/video-clip.js --weights "$W/hf" --input "$V/$c" --out "$W/hfclips/$c.ours.npy" --json "$W/hfclips/$c.ours.json"
done
if [ "$PHASE" = ours ]; then
  rm -rf .carry-video; mkdir -p .carry-video; cp -r "$W/clips" "$W/hfclips" "$W/hf" .carry-video/
  rm -f .carry-video/hf/model.safetensors .carry-video/hf/config.json   # the references read only preprocessor_config.json
  if [ ! -f .whl/av-site.tar.xz ]; then
    mkdir -p .whl /tmp/avwhl /tmp/avsite; python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d /tmp/avwhl av
    ( cd /tmp/avsite && python3 -m zipfile -e /tmp/avwhl/av-*.whl . && tar -cf - . | xz -9 -T2 > "$ROOT/.whl/av-site.tar.xz" )
  fi
  say "ready: .carry-video ($(du -sh .carry-video | cut -f1)), .whl ($(du -sh .whl | cut -f1))"; exit 0
fi
fi

if [ "$PHASE" = all ] || [ "$PHASE" = refs ]; then
# ---- 2. the references
say "references (one python process)"
: > "$OUT/video.jsonl"
# shellcheck disable=SC2046
step 60 python3 scripts/device/video_device_compare.py "$OUT/video.jsonl" "$W/clips" $(printf "$V/%s " "${CLIPS[@]}")
step 30 python3 scripts/device/video_device_compare.py "$OUT/video.jsonl" "$W/hfclips" "$V/h264_96x72_30fps.mp4" "$V/mpeg4_72x96_24fps.avi"
if [ "$PHASE" = refs ]; then
  ( cd "$W" && tar -cJf "$OUT/refs.tar.xz" clips/*.ref.npy hfclips/*.ref.npy 2>/dev/null ); say "done in $(elapsed)s: $OUT/refs.tar.xz, $OUT/video.jsonl"; exit 0
fi
fi
if [ "$PHASE" = models ]; then
  tar -xJf "$REFS" -C "$W"; cp "$(dirname "$REFS")/video.jsonl" "$OUT/video.jsonl"
fi

# ---- 3. d1 on ours and on the reference's clip
for c in h264_96x72_30fps.mp4 vp9_80x60_25fps.webm mpeg4_72x96_24fps.avi; do
  [ -f "$W/clips/$c.ref.npy" ] || { say "no reference clip for $c: model comparison skipped"; continue; }
  step 30 node out/extension/cli.js run --weights "$FIX/d1_outlier.pyth" --input "$V/$c" --precision fp16 --no-confirm --quiet --json "$W/runs/$c.ours.json"
  step 30 node out/extension/cli.js run --weights "$FIX/d1_outlier.pyth" --input "$W/clips/$c.ref.npy" --precision fp16 --no-confirm --quiet --json "$W/runs/$c.ref.json"
done

# ---- summary
node - "$OUT/video.jsonl" "$W/runs" > "$OUT/video.txt" <<'JS'
const fs = require('fs');
const path = require('path');
const [jsonl, runs] = process.argv.slice(2);
const rows = fs.readFileSync(jsonl, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
const out = [];
const env = rows.find((r) => r.env);
if (env) out.push(`references available: ${Object.entries(env.env).map(([k, v]) => `${k} ${v ? 'yes' : 'NO'}`).join(', ')}`);
out.push('', 'frames after preprocessing: max |ours − reference| (0-255 levels; target ≤ 1 = 1/255), indices equal');
for (const r of rows.filter((x) => x.clip)) {
  if (r.error) { out.push(`  ${r.clip.padEnd(26)} ${String(r.reference).padEnd(8)} ERROR ${r.error}`); continue; }
  const same = JSON.stringify(r.indices_ours) === JSON.stringify(r.indices_ref);
  out.push(`  ${r.clip.padEnd(26)} ${r.reference.padEnd(8)} ${r.transform.padEnd(12)} max ${r.max_levels.toFixed(3)} levels (${r.max_abs.toExponential(2)} model units), mean ${(r.mean_abs).toExponential(2)}, >1 level ${(100 * r.frac_over_1_level).toFixed(2)} %  ${r.within_1_255 ? 'OK' : 'OVER'}  indices ${same ? 'equal' : `DIFFER ours ${r.indices_ours} ref ${r.indices_ref}`}${r.notes && r.notes.length ? `  [${r.notes.join('; ')}]` : ''}`);
}
out.push('', "d1 fp16 (CPU EP, plain): per-block rel L2, ours (the CLI on the video) vs the PyAV reference's clip");
for (const f of fs.existsSync(runs) ? fs.readdirSync(runs).filter((x) => x.endsWith('.ours.json')) : []) {
  const clip = f.replace(/\.ours\.json$/, '');
  const refFile = path.join(runs, `${clip}.ref.json`);
  if (!fs.existsSync(refFile)) { out.push(`  ${clip}: no run on the reference clip`); continue; }
  const a = JSON.parse(fs.readFileSync(path.join(runs, f), 'utf8'));
  const b = JSON.parse(fs.readFileSync(refFile, 'utf8'));
  const A = Array.isArray(a) ? a[0] : a;
  const B = Array.isArray(b) ? b[0] : b;
  let worst = 0;
  A.blocks.forEach((blk, i) => { worst = Math.max(worst, Math.abs(blk.relL2 - B.blocks[i].relL2) / Math.max(B.blocks[i].relL2, 1e-12)); });
  const firstFail = (R) => (R.blocks.find((x) => !x.passed) || { index: 'none' }).index;
  const verdicts = A.blocks.every((blk, i) => blk.passed === B.blocks[i].passed);
  out.push(`  ${clip.padEnd(26)} blocks ${A.blocks.map((x) => x.relL2.toExponential(2)).join(' ')}`);
  out.push(`  ${''.padEnd(26)} ref    ${B.blocks.map((x) => x.relL2.toExponential(2)).join(' ')}`);
  out.push(`  ${''.padEnd(26)} worst relative difference ${(100 * worst).toFixed(2)} %; pass/fail per block ${verdicts ? 'same' : 'DIFFERENT'}; first failing block ${firstFail(A)} vs ${firstFail(B)}; top-1 ${A.probs.top1} vs ${B.probs.top1}`);
}
console.log(out.join('\n'));
JS
cat "$OUT/video.txt" | tee -a "$LOG"
say "done in $(elapsed)s"
