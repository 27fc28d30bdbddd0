/**
 * The bundle's run_trtexec.sh, run_polygraphy.sh and README.txt (bundle.ts writes them). bash,
 * every path and name quoted; they run from any folder (they cd to their own).
 *
 * trtexec flags, from NVIDIA/TensorRT samples/common/sampleOptions.cpp:
 *   - TensorRT 10.x (release 10.16, commit 52399f55): `--fp16` (line 1277), `--precisionConstraints`
 *     (1350), `--layerPrecisions` (1368), `--loadInputs` (1756), `--exportOutput` (1818).
 *   - TensorRT 11 (main, a892d22): networks are strongly typed only (`--stronglyTyped` is a no-op,
 *     help at line 2752) and `--fp16` / `--layerPrecisions` are gone; `--loadRefOutputs` (1747),
 *     `--accuracyAlgorithm` l0|l1|l2|lInf|cos (1767-1781) and the required `--accuracyThreshold`
 *     (2013-2017) are new.
 * The script asks `trtexec --help` which of them this trtexec has.
 * Polygraphy flags (tools/Polygraphy/polygraphy/tools/args): `--fp16` (backend/trt/config.py:191),
 * `--precision-constraints` (config.py:221), `--layer-precisions NAME:float32 ...` (backend/trt/
 * loader.py:197), `--load-inputs` (comparator/data_loader.py:116), `--save-outputs`
 * (comparator/comparator.py:66), runners `--trt` / `--onnxrt` (backend/runner_select.py:85).
 * TensorRT 11's BuilderFlag has no FP16 (nor OBEY_PRECISION_CONSTRAINTS: include/NvInfer.h a892d22
 * enum class BuilderFlag, 9958 on), and Polygraphy sets `--fp16` as `config.set_flag(getattr(trt.
 * BuilderFlag, "FP16"))`, an AttributeError it reports as unavailable (backend/trt/config.py a892d22:
 * 537-551): run_polygraphy.sh asks the Python that runs polygraphy whether trt.BuilderFlag has FP16,
 * and without it runs --trt in FP32 and without the fix, as run_trtexec.sh does.
 */
import type { BundleManifest } from './manifest';

/** Single-quoted for sh (a ' inside becomes '\''). */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** trtexec's accuracy threshold for `cos` (1 − cosine) that matches a rel L2 tolerance t: 1 − cos ≈ t²/2. */
export function cosThreshold(t: number): string {
  return (t * t / 2).toPrecision(2);
}

/** The output files the scripts write, and what each is (the importer reads the same names: import.ts outputIdentity). */
export const OUTPUT_NAME = /^(trt|polygraphy)_(?:(trt|onnxrt)_)?(fp16|fp32)(_fix)?(_marked)?\.json$/;

export function trtexecScript(m: BundleManifest): string {
  const refSpec = (names: string[]) => names.map((n) => `${n}:reference/${m.reference[n]}`).join(',');
  const marked = Object.keys(m.outputs.marked);
  return `#!/usr/bin/env bash
# run_trtexec.sh: written by timesformer-lab export-trt (see README.txt).
# Builds TensorRT engines of model.onnx (deployed: only ${Object.keys(m.outputs.deployed)[0]}) and model_marked.onnx (every block
# output marked), FP16 plain and FP16 with the proposed fix (LayerNorms kept in FP32 by
# --layerPrecisions ... --precisionConstraints=obey), runs each on inputs.bin and writes its outputs
# to trt_<variant>.json (--exportOutput), its log to trt_<variant>.log.
# TensorRT 11 has no --fp16 (strongly typed networks only): there it builds FP32 engines instead.
# Where trtexec has --loadRefOutputs (TensorRT 11), it also checks each engine against reference/.
# TRTEXEC=/path/to/trtexec overrides the trtexec on PATH.
set -u
cd -- "$(dirname -- "$0")" || exit 2
TRTEXEC="\${TRTEXEC:-trtexec}"
if ! command -v "$TRTEXEC" >/dev/null 2>&1; then
  echo "run_trtexec.sh: trtexec not found (put it on PATH or set TRTEXEC=/path/to/trtexec)" >&2
  exit 127
fi
help_text="$("$TRTEXEC" --help 2>&1 || true)"
has() { case "$help_text" in *"$1"*) return 0 ;; *) return 1 ;; esac; }

# the input's name in single quotes: trtexec takes an unquoted name:file pair apart at its LAST ':'
# (sampleOptions.cpp splitNameAndValue); quoted, the name is taken whole
INPUTS=${shq(`'${m.input.name}':${m.input.file}`)}
BUNDLE_ID=${shq(m.id ?? '')}
FIX_LAYERS=${shq(m.fix.layers.map((l) => `${l}:fp32`).join(','))}
REF_DEPLOYED=${shq(refSpec(Object.keys(m.outputs.deployed)))}
REF_MARKED=${shq(refSpec(marked))}
status=0

# run NAME ONNX REFSPEC THRESHOLD [trtexec flags...]
run() {
  local name=$1 onnx=$2 ref=$3 threshold=$4
  shift 4
  set -- --onnx="$onnx" "$@" --loadInputs="$INPUTS" --exportOutput="$name.json" --saveEngine="$name.plan" --iterations=1 --warmUp=0 --duration=0
  if has --loadRefOutputs; then
    set -- "$@" --loadRefOutputs="$ref" --accuracyAlgorithm=cos --accuracyThreshold="$threshold"
  fi
  echo "+ $TRTEXEC $*" >&2
  rm -f -- "$name.json"
  # the log's first line names this bundle: the importer tells outputs of an earlier export by it
  if { echo "# bundle $BUNDLE_ID"; "$TRTEXEC" "$@"; } >"$name.log" 2>&1; then
    echo "$name: wrote $name.json"
  elif [ -s "$name.json" ] && grep -q 'Accuracy validation FAILED' -- "$name.log"; then
    # trtexec writes --exportOutput before it fails the accuracy check (trtexec.cpp a892d22:730, 788-791)
    echo "$name: trtexec's accuracy check against reference/ failed (cos threshold $threshold); its outputs are in $name.json: import them to see which block departs" >&2
    status=1
  else
    echo "$name: trtexec failed (exit $?); the last lines of $name.log:" >&2
    tail -n 5 -- "$name.log" >&2
    status=1
  fi
}

if has --fp16; then
  run trt_fp16 model.onnx "$REF_DEPLOYED" ${cosThreshold(m.tolerance.fp16)} --fp16
  run trt_fp16_marked model_marked.onnx "$REF_MARKED" ${cosThreshold(m.tolerance.fp16)} --fp16
  run trt_fp16_fix model.onnx "$REF_DEPLOYED" ${cosThreshold(m.tolerance.fp16)} --fp16 --precisionConstraints=obey --layerPrecisions="$FIX_LAYERS"
  run trt_fp16_fix_marked model_marked.onnx "$REF_MARKED" ${cosThreshold(m.tolerance.fp16)} --fp16 --precisionConstraints=obey --layerPrecisions="$FIX_LAYERS"
else
  echo "run_trtexec.sh: this trtexec has no --fp16 (TensorRT 11 builds strongly typed networks: the ONNX types decide); building FP32 engines" >&2
  run trt_fp32 model.onnx "$REF_DEPLOYED" ${cosThreshold(m.tolerance.fp32)}
  run trt_fp32_marked model_marked.onnx "$REF_MARKED" ${cosThreshold(m.tolerance.fp32)}
fi
echo "import them: timesformer-lab import --weights WEIGHTS [--data TEST_DATA] $(pwd)/trt_*.json"
exit "$status"
`;
}

export function pollyScript(m: BundleManifest): string {
  return `#!/usr/bin/env bash
# run_polygraphy.sh: written by timesformer-lab export-trt (see README.txt).
# Runs model.onnx and model_marked.onnx with Polygraphy on inputs.json and saves the outputs
# (--save-outputs) as polygraphy_<backend>_<variant>.json, the log as .log beside it.
#   POLYGRAPHY_BACKEND=--trt (default): TensorRT FP16, plain and with the proposed fix; where TensorRT's
#     Python API has no BuilderFlag.FP16 (TensorRT 11: strongly typed networks only), FP32 without the fix
#   POLYGRAPHY_BACKEND=--onnxrt: ONNX Runtime FP32 (no TensorRT needed: checks the bundle itself)
#   POLYGRAPHY='python3 /path/to/TensorRT/tools/Polygraphy/bin/polygraphy' overrides polygraphy on PATH.
#   POLYGRAPHY_PYTHON=/path/to/python: the Python whose tensorrt is asked (default: the one POLYGRAPHY
#     names, else the #! line of polygraphy on PATH, else python3).
set -u
cd -- "$(dirname -- "$0")" || exit 2
BACKEND="\${POLYGRAPHY_BACKEND:---trt}"
if [ -n "\${POLYGRAPHY:-}" ]; then
  read -r -a poly <<<"$POLYGRAPHY"
elif command -v polygraphy >/dev/null 2>&1; then
  poly=(polygraphy)
else
  echo "run_polygraphy.sh: polygraphy not found (pip install polygraphy, or set POLYGRAPHY='python3 /path/to/TensorRT/tools/Polygraphy/bin/polygraphy')" >&2
  exit 127
fi
FIX_LAYERS=(${m.fix.layers.map((l) => shq(`${l}:float32`)).join(' ')})
BUNDLE_ID=${shq(m.id ?? '')}
status=0

# run NAME ONNX [polygraphy flags...]
run() {
  local name=$1 onnx=$2
  shift 2
  echo "+ \${poly[*]} run $onnx $BACKEND $* --load-inputs inputs.json --save-outputs $name.json" >&2
  rm -f -- "$name.json"
  if { echo "# bundle $BUNDLE_ID"; "\${poly[@]}" run "$onnx" "$BACKEND" "$@" --load-inputs inputs.json --save-outputs "$name.json"; } >"$name.log" 2>&1; then
    echo "$name: wrote $name.json"
  else
    echo "$name: polygraphy failed (exit $?); the last lines of $name.log:" >&2
    tail -n 5 -- "$name.log" >&2
    status=1
  fi
}

# the Python that runs polygraphy (its tensorrt is the one Polygraphy uses)
poly_python() {
  if [ -n "\${POLYGRAPHY_PYTHON:-}" ]; then echo "$POLYGRAPHY_PYTHON"; return; fi
  case "$(basename -- "\${poly[0]}")" in python*) echo "\${poly[0]}"; return ;; esac
  local exe line
  exe="$(command -v -- "\${poly[0]}" 2>/dev/null || true)"
  if [ -n "$exe" ] && [ -f "$exe" ]; then
    line="$(head -c 256 -- "$exe" 2>/dev/null | head -n 1 | tr -d '\\r\\0')"
    case "$line" in '#!'*python*) echo "\${line#'#!'}"; return ;; esac
  fi
  echo python3
}

# 0: TensorRT has BuilderFlag.FP16 (TensorRT <= 10); 3: it has not (TensorRT 11); else: no answer
trt_has_fp16() {
  local py
  read -r -a py <<<"$(poly_python)"
  trt_version="$("\${py[@]}" -c 'import sys, tensorrt as trt
print(trt.__version__)
sys.exit(0 if hasattr(trt.BuilderFlag, "FP16") else 3)' 2>"$probe_err")"
}

case "$BACKEND" in
  --trt)
    probe_err="$(mktemp)"
    trt_has_fp16
    has_fp16=$?
    if [ "$has_fp16" -eq 3 ]; then
      echo "run_polygraphy.sh: TensorRT $trt_version has no BuilderFlag.FP16 (TensorRT 11 builds strongly typed networks: the ONNX types decide); running --trt in FP32, without the fix (no --fp16, --precision-constraints or --layer-precisions)" >&2
      rm -f -- "$probe_err"
      run polygraphy_trt_fp32 model.onnx
      run polygraphy_trt_fp32_marked model_marked.onnx
      echo "import them: timesformer-lab import --weights WEIGHTS [--data TEST_DATA] $(pwd)/polygraphy_*.json"
      exit "$status"
    fi
    if [ "$has_fp16" -ne 0 ]; then
      echo "run_polygraphy.sh: could not ask $(poly_python)'s tensorrt whether it has BuilderFlag.FP16 ($(tail -n 1 -- "$probe_err")); running FP16 as for TensorRT <= 10 (set POLYGRAPHY_PYTHON to the Python that runs polygraphy)" >&2
    fi
    rm -f -- "$probe_err"
    run polygraphy_trt_fp16 model.onnx --fp16
    run polygraphy_trt_fp16_marked model_marked.onnx --fp16
    run polygraphy_trt_fp16_fix model.onnx --fp16 --precision-constraints obey --layer-precisions "\${FIX_LAYERS[@]}"
    run polygraphy_trt_fp16_fix_marked model_marked.onnx --fp16 --precision-constraints obey --layer-precisions "\${FIX_LAYERS[@]}"
    ;;
  --onnxrt)
    run polygraphy_onnxrt_fp32 model.onnx
    run polygraphy_onnxrt_fp32_marked model_marked.onnx
    ;;
  *)
    echo "run_polygraphy.sh: POLYGRAPHY_BACKEND must be --trt or --onnxrt, got '$BACKEND'" >&2
    exit 2
    ;;
esac
echo "import them: timesformer-lab import --weights WEIGHTS [--data TEST_DATA] $(pwd)/polygraphy_*.json"
exit "$status"
`;
}

export function readmeText(m: BundleManifest): string {
  const final = Object.keys(m.outputs.deployed)[0];
  const fix = m.fix.source === 'statistics'
    ? `the LayerNorm(s) TensorRT's FP16 would overflow on this clip, read from the FP32 statistics: ${m.fix.layerNorms.join(', ')}`
    : 'every LayerNorm (none overflows FP16 on this clip by the FP32 statistics)';
  return `TensorRT bundle of ${m.weights}${m.data ? ` (test data ${m.data})` : ''}, written by timesformer-lab export-trt.

model.onnx           FP32 ONNX of the deployed model (node names as torch.onnx.export writes them), output: ${final}
model_marked.onnx    the same graph with each block output marked as an output (blocks.0.out ...), to localize errors
                     (marking outputs can change what TensorRT builds: compare the two engines' ${final})
inputs.bin           the input ${m.input.name} (${m.input.shape.join('x')}, float32, raw little-endian): trtexec --loadInputs="'${m.input.name}':inputs.bin"
inputs.json          the same for Polygraphy: polygraphy run ... --load-inputs inputs.json
inputs.npy           the same as np.save writes it (timesformer-lab import reads it)
reference/           FP32 reference outputs (${m.referenceLabel}), raw float32: trtexec --loadRefOutputs=${final}:reference/${m.reference[final]}
                     --accuracyAlgorithm=cos --accuracyThreshold=${cosThreshold(m.tolerance.fp32)} (TensorRT 11: it refuses reference outputs without a threshold)
run_trtexec.sh       FP16 engines, plain and with the proposed fix, deployed and marked -> trt_*.json (--exportOutput)
run_polygraphy.sh    the same with Polygraphy -> polygraphy_*.json (--save-outputs); POLYGRAPHY_BACKEND=--onnxrt runs ONNX Runtime FP32;
                     where TensorRT's Python API has no BuilderFlag.FP16 (TensorRT 11), --trt runs FP32 without the fix
bundle.json          what the importer reads back (outputs and shapes, the fix)

The proposed fix keeps in FP32 ${fix}:
  trtexec ... --fp16 --precisionConstraints=obey --layerPrecisions=<the ${m.fix.layers.length} layers in run_trtexec.sh>

TensorRT versions: --fp16 and --layerPrecisions are TensorRT <= 10 flags; TensorRT 11 builds strongly
typed networks only (the ONNX types decide the precision), so run_trtexec.sh then builds FP32 engines
and checks them against reference/ with --loadRefOutputs.

A failed accuracy check (TensorRT 11) still writes trt_*.json: import it to see which block departs.
Each run's log (trt_*.log) starts with this bundle's id (${m.id ?? 'none'}): the importer refuses outputs
of an earlier export. Exporting again into this folder moves it, with its outputs, to <folder>.previous-<time>.

Then, where timesformer-lab is:
  timesformer-lab import --weights ${m.weights}${m.data ? ` --data ${m.data}` : ''} THIS_FOLDER/trt_*.json
`;
}
