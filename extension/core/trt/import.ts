/**
 * TensorRT's outputs as runs (issue 19, part 2): trtexec --exportOutput and Polygraphy
 * --save-outputs files (outputs.ts reads them) are checked against this model, and each becomes a
 * Report through the pipeline's own runMode — the imported outputs are its engine (a GivenEngine,
 * as the GPU helper's outputs are), so the comparison, the colors and the diagnosis (from our FP32
 * statistics of the same clip: the imported engine carries none) are the pipeline's, not a copy.
 * A deployed engine's outputs (its final output only: `probs`, or `features` for a model without a
 * classifier) are compared on it; with a marked engine's outputs of the same build (tool, precision,
 * fix), the two engines' final outputs are compared: whether marking
 * outputs changed what TensorRT built (the observer effect). No vscode import.
 */
import * as fs from 'fs';
import * as path from 'path';
import { LabError } from '../errors';
import { fileError, openRegularFileSync, readAtSync, readHeadSync } from '../formats/file';
import { diff } from '../compare/metrics';
import { defaultTolerance } from '../compare/verdict';
import { ranEngine, runMode, type Prepared } from '../pipeline';
import type { BuiltGraph } from '../model/graph-options';
import type { EpName, PipelineHooks, PipelineOptions, Precision, Realization, Report } from '../report';
import { readManifest, type BundleManifest } from './bundle';
import { readPolygraphyOutputs, readTrtexecOutputs, sniffTool, type RawRun } from './outputs';
import { OUTPUT_NAME } from './scripts';

/** One imported set of outputs, checked against the model. */
export interface ImportedRun {
  file: string;
  /** e.g. "TensorRT FP16 · imported from trt_fp16_marked.json". */
  identity: string;
  tool: 'trtexec' | 'polygraphy';
  backend: 'trt' | 'onnxrt';
  precision: Precision;
  fix: boolean;
  marked: boolean;
  runner?: string;
  iteration?: number;
  outputs: Map<string, Float32Array>;
  /** The model's final output among them: `probs`, or `features` for a model without a classifier (finalOutputName). */
  final: string;
  /** "blocks.5.out: 12 NaN, 3 inf" for every output with non-finite values (they are the engine's result, not refused). */
  nonFinite: string[];
}

/** A deployed engine's outputs (probs only) against the reference. */
export interface DeployedResult {
  run: ImportedRun;
  relL2: number;
  maxAbs: number;
  top1: number;
  refTop1: number;
  tolerance: number;
  passed: boolean;
}

/** The deployed and the marked engine of one build, compared on probs. */
export interface ObserverEffect {
  deployed: string;
  marked: string;
  /** rel L2 of the deployed engine's probs against the marked one's. */
  relL2: number;
  deployedVsRef: number;
  markedVsRef: number;
  changed: boolean;
  sentence: string;
}

export interface ImportResult {
  runs: ImportedRun[];
  /** One per marked run, in file order. */
  reports: Report[];
  deployed: DeployedResult[];
  observer: ObserverEffect[];
}

export interface ImportOptions {
  /** The engines' precision when a file's name does not say it (default fp16 for TensorRT, fp32 for ONNX Runtime). */
  precision?: Precision;
  tolerance?: number;
  /** The bundle's manifest (the fix); read from bundle.json beside the first file when not given. */
  manifest?: BundleManifest;
  /** A file may hold at most this many runs (Polygraphy: runners × iterations). Default 8. */
  maxRuns?: number;
  /** The LayerNorms a fixed engine kept in FP32, when no manifest says (trtexec-run.ts knows them). */
  fixLayerNorms?: readonly string[];
}

/**
 * The name of the model's final output, as model/timesformer.ts builds it: `probs` (the classifier's
 * softmax), or `features` (the final LayerNorm's class token) for a model without a classifier (an HF
 * TimesformerModel, numClasses 0).
 */
export function finalOutputName(c: { numClasses: number }): 'probs' | 'features' {
  return c.numClasses > 0 ? 'probs' : 'features';
}

/** The outputs this model's deployed and marked graphs have, with their shapes (the final output first). */
export function expectedOutputs(p: Prepared): Map<string, number[]> {
  const c = p.config;
  const B = p.video.shape[0];
  const m = new Map<string, number[]>([[finalOutputName(c), [B, c.numClasses > 0 ? c.numClasses : c.embedDim]]]);
  for (let i = 0; i < c.depth; i++) m.set(`blocks.${i}.out`, [B, 1 + c.numPatches * c.frames, c.embedDim]);
  return m;
}

const PREC: Record<Precision, string> = { fp32: 'FP32', fp16: 'FP16', bf16: 'BF16' };

/** Read, check and name every run of `files`. */
export function readImports(p: Prepared, files: readonly string[], o: ImportOptions = {}): ImportedRun[] {
  const expected = expectedOutputs(p);
  const final = finalOutputName(p.config);
  const values = [...expected.values()].reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);
  const maxRuns = o.maxRuns ?? 8;
  // trtexec prints each value in at most 13 characters and ", " (sampleUtils.cpp:574-589); Polygraphy: base64 of np.save per run
  const budget = { trtexec: values * 16 + (1 << 20), polygraphy: maxRuns * Math.ceil(values * 4 * 4 / 3 + 64 * 1024) + (1 << 20) };
  const runs: ImportedRun[] = [];
  for (const file of files) {
    const tool = sniffTool(file);
    const raw: RawRun[] = tool === 'trtexec' ? [readTrtexecOutputs(file, budget.trtexec)] : readPolygraphyOutputs(file, budget.polygraphy);
    if (raw.length > maxRuns) throw new LabError('LIMIT_EXCEEDED', `${raw.length} runs (runners × iterations) in one file; at most ${maxRuns} are imported`, file);
    for (const r of raw) runs.push(checkRun(r, file, expected, final, raw.length > 1, o));
  }
  return runs;
}

function checkRun(r: RawRun, file: string, expected: Map<string, number[]>, final: string, several: boolean, o: ImportOptions): ImportedRun {
  const where = r.runner === undefined ? '' : `runner ${r.runner}${several ? `, iteration ${r.iteration}` : ''}: `;
  const bad = (why: string): never => {
    throw new LabError('MISMATCH', `${where}${why}`, file);
  };
  const outputs = new Map<string, Float32Array>();
  const nonFinite: string[] = [];
  const unknown = r.outputs.filter((x) => !expected.has(x.name)).map((x) => x.name);
  if (unknown.length) {
    bad(`output(s) ${unknown.slice(0, 4).map((n) => `'${n}'`).join(', ')}${unknown.length > 4 ? ` and ${unknown.length - 4} more` : ''} are not outputs of this model ` +
      `(its outputs: ${final}, blocks.0.out … blocks.${expected.size - 2}.out): the outputs of another model, or of an ONNX file not from export-trt?`);
  }
  for (const x of r.outputs) {
    const want = expected.get(x.name)!;
    if (x.dims.join('x') !== want.join('x')) bad(`output '${x.name}' has dimensions ${x.dims.join('x') || '(scalar)'}, this model's is ${want.join('x')}: the outputs of another model (or another clip size)?`);
    const n = want.reduce((a, b) => a * b, 1);
    if (x.data.length !== n) bad(`output '${x.name}' holds ${x.data.length} values, its dimensions ${want.join('x')} need ${n} (truncated?)`);
    if (outputs.has(x.name)) bad(`output '${x.name}' appears twice`);
    let nan = 0;
    let inf = 0;
    for (const v of x.data) if (v !== v) nan++;
    else if (v === Infinity || v === -Infinity) inf++;
    if (nan || inf) nonFinite.push(`${x.name}: ${[nan ? `${nan} NaN` : '', inf ? `${inf} inf` : ''].filter(Boolean).join(', ')}`);
    outputs.set(x.name, x.data);
  }
  if (!outputs.has(final)) bad(`no '${final}' output (it has ${[...outputs.keys()].slice(0, 4).join(', ') || 'none'})`);
  const blocks = [...outputs.keys()].filter((n) => n !== final).length;
  const depth = expected.size - 1;
  if (blocks && blocks !== depth) {
    const missing = [...expected.keys()].filter((n) => !outputs.has(n));
    bad(`${blocks} of the ${depth} block outputs: ${missing.slice(0, 4).join(', ')} missing (a marked engine's outputs have every block)`);
  }
  const base = path.basename(file);
  const named = OUTPUT_NAME.exec(base);
  const backend: 'trt' | 'onnxrt' = r.runner ? (/^onnxrt/.test(r.runner) ? 'onnxrt' : 'trt') : named?.[2] === 'onnxrt' ? 'onnxrt' : 'trt';
  const precision: Precision = (named?.[3] as Precision | undefined) ?? o.precision ?? (backend === 'onnxrt' ? 'fp32' : 'fp16');
  const fix = !!named?.[4];
  const engine = backend === 'onnxrt' ? 'ONNX Runtime' : r.tool === 'trtexec' ? 'TensorRT (trtexec)' : 'TensorRT';
  const who = r.tool === 'polygraphy' ? `Polygraphy ${engine} ${PREC[precision]}` : `${engine} ${PREC[precision]}`;
  const runner = r.runner ? ` (${r.runner}${several ? `, iteration ${r.iteration}` : ''})` : '';
  const identity = `${who}${fix ? ' with the fix' : ''}${blocks ? ', marked' : ''}${runner} · imported from ${base}`;
  return { file, identity, tool: r.tool, backend, precision, fix, marked: blocks > 0, runner: r.runner, iteration: r.iteration, outputs, final, nonFinite };
}

/**
 * Outputs in a bundle's folder must be of that export, not of an earlier one into the same folder
 * (they ran on its clip, against its reference). The scripts start each run's log (<name>.log beside
 * <name>.json) with "# bundle <id>" (bundle.json's id); a file whose log names another id, or — without
 * a stamped log — one written before the bundle was exported, is refused (MISMATCH, naming it).
 */
export function checkFreshOutputs(files: readonly string[], dir: string, m: BundleManifest): void {
  const exported = m.exportedAt ? Date.parse(m.exportedAt) : NaN;
  for (const f of files) {
    if (path.resolve(path.dirname(f)) !== path.resolve(dir)) continue;
    const again = 'outputs of an earlier export into this folder (they ran on its clip, against its reference, not this bundle\'s): run run_trtexec.sh or run_polygraphy.sh of this bundle again';
    const log = f.replace(/\.json$/i, '') + '.log';
    let stamped: string | undefined;
    try {
      // only the first line is looked at: 200 bytes of a regular file (a log linked to /dev/zero or a FIFO is NOT_A_FILE)
      stamped = /^# bundle (\S*)/.exec(readHeadSync(log, 200).toString('utf8'))?.[1];
    } catch (e) {
      if (!(e instanceof LabError && e.code === 'FILE_NOT_FOUND')) throw e; // else no log beside it
    }
    if (stamped !== undefined && m.id) {
      if (stamped !== m.id) throw new LabError('MISMATCH', `its log ${path.basename(log)} names bundle ${stamped || '(none)'}, this folder's bundle.json is ${m.id}: ${again}`, f);
      continue;
    }
    const t = fs.statSync(f).mtimeMs;
    // 2 s of slack: file systems that keep mtimes to the second or two
    if (t < exported - 2000) throw new LabError('MISMATCH', `written ${new Date(t).toISOString()}, before this folder's bundle was exported (${m.exportedAt}): ${again}`, f);
  }
}

/** The bundle's inputs.bin, where there is one beside the outputs, must be the clip compared with. */
export function checkSameClip(video: Float32Array, dir: string): void {
  const f = path.join(dir, 'inputs.bin');
  if (!fs.existsSync(f)) return;
  // a regular file (never a FIFO or /dev/zero), its size first, then compared in 1 MiB chunks: never read whole
  const file = openRegularFileSync(f);
  let same = file.size === video.byteLength;
  try {
    const want = Buffer.from(video.buffer, video.byteOffset, video.byteLength);
    const chunk = Buffer.alloc(Math.min(1 << 20, file.size));
    for (let at = 0; same && at < file.size; at += chunk.length) {
      const part = chunk.subarray(0, Math.min(chunk.length, file.size - at));
      let got: number;
      try {
        got = readAtSync(file.fd, part, at);
      } catch (e) {
        throw fileError(e, f);
      }
      same = got === part.length && part.equals(want.subarray(at, at + part.length));
    }
  } finally {
    fs.closeSync(file.fd);
  }
  if (!same) throw new LabError('MISMATCH', `the engines ran on this bundle's inputs.bin, which is not the clip given here (--data/--input): their outputs cannot be compared with its reference`, f);
}

/** A graph description of the imported outputs for runMode (nothing to build: the engine has run). */
function importedGraph(p: Prepared): BuiltGraph {
  const depth = p.config.depth;
  return {
    model: new Uint8Array(0), source: new Uint8Array(0),
    writeOnnx: () => {
      throw new LabError('BAD_OPTION', 'an imported run has no graph of ours to save; the bundle has its ONNX files');
    },
    inputName: 'video', probsName: finalOutputName(p.config), blockNames: Array.from({ length: depth }, (_, i) => `blocks.${i}.out`),
    layerNorms: [], nodeCount: 0, initializerBytes: 0, extraOutputs: [],
  };
}

/**
 * Compare imported runs with the preparation's reference: marked runs through runMode (one Report
 * each), deployed runs on probs, and each deployed/marked pair of one build for the observer effect.
 */
export async function compareImports(p: Prepared, runs: readonly ImportedRun[], o: ImportOptions = {}, hooks: PipelineHooks = {}): Promise<ImportResult> {
  const manifest = o.manifest ?? (runs[0] ? readManifest(path.dirname(runs[0].file)) : undefined);
  const ref = await p.reference();
  const reports: Report[] = [];
  const deployed: DeployedResult[] = [];
  for (const run of runs) {
    const tolerance = o.tolerance ?? defaultTolerance(run.precision);
    for (const n of run.nonFinite) p.say(`${path.basename(run.file)}: non-finite values in ${n} (the engine's own result: compared as they are)`);
    if (!run.marked) {
      const d = diff(run.outputs.get(run.final)!, ref.probs);
      const argmax = (a: Float32Array) => a.reduce((bi, v, i, arr) => (v > arr[bi] ? i : bi), 0);
      deployed.push({ run, relL2: d.relL2, maxAbs: d.maxAbs, top1: argmax(run.outputs.get(run.final)!), refTop1: argmax(ref.probs), tolerance, passed: d.relL2 <= tolerance });
      continue;
    }
    const fixLns = o.fixLayerNorms ?? manifest?.fix.layerNorms;
    if (run.fix && !fixLns) p.say(`${path.basename(run.file)}: no bundle.json beside it, so the fix's LayerNorms are unknown: diagnosed as plain`);
    const overrides = run.fix && fixLns ? Object.fromEntries(fixLns.map((n) => [n, 'fp32' as const])) : {};
    const ep: EpName = run.backend === 'onnxrt' ? 'cpu' : 'tensorrt';
    const realization: Realization = run.backend === 'onnxrt' ? 'fp32' : 'tensorrt';
    const opts: PipelineOptions = {
      ...p.options, precision: run.precision, ep, layerNorm: 'plain', layerNormOverrides: overrides, tolerance: o.tolerance,
      confirmMinimalFix: false, saveOnnx: undefined, repeat: 0, probes: false,
    };
    const bytes = [...run.outputs.values()].reduce((n, a) => n + a.byteLength, 0);
    const engine = ranEngine({ ep, realization, fallbacks: [], cache: 'none' }, run.outputs, bytes, 0, 0, 0);
    const { report } = await runMode(p, opts, hooks, { engine, g: importedGraph(p) });
    report.run.label = run.identity;
    report.log.unshift(`imported: ${run.identity} (${run.file})`);
    reports.push(report);
  }
  return { runs: [...runs], reports, deployed, observer: observerEffects(runs, ref.probs, o) };
}

/** Pairs of a deployed and a marked run of the same build (tool, backend, precision, fix, runner kind). */
export function observerEffects(runs: readonly ImportedRun[], refProbs: Float32Array, o: Pick<ImportOptions, 'tolerance'> = {}): ObserverEffect[] {
  const key = (r: ImportedRun) => `${r.tool}|${r.backend}|${r.precision}|${r.fix}|${r.iteration ?? 0}|${(r.runner ?? '').replace(/-N\d+-.*$/, '')}`;
  const out: ObserverEffect[] = [];
  for (const d of runs.filter((r) => !r.marked)) {
    const m = runs.find((r) => r.marked && key(r) === key(d));
    if (!m) continue;
    const a = d.outputs.get(d.final)!;
    const b = m.outputs.get(m.final)!;
    const relL2 = diff(a, b).relL2;
    const deployedVsRef = diff(a, refProbs).relL2;
    const markedVsRef = diff(b, refProbs).relL2;
    const tol = o.tolerance ?? defaultTolerance(d.precision);
    // Rebuilding the same graph may pick other kernels (FP16 rounding noise, far below the tolerance);
    // marking outputs changed the engine when the probs move by a tenth of the tolerance, or one
    // engine passes where the other fails.
    const changed = !(relL2 <= tol / 10) || (deployedVsRef <= tol) !== (markedVsRef <= tol);
    const e = (x: number) => x.toExponential(2);
    const sentence = `${path.basename(d.file)} vs ${path.basename(m.file)}: ${d.final} differ by rel L2 ${e(relL2)} (deployed vs reference ${e(deployedVsRef)}, marked vs reference ${e(markedVsRef)}, tolerance ${tol}): ` +
      (changed
        ? 'marking the block outputs changed the engine — the marked run\'s per-block errors describe another engine than the deployed one'
        : 'marking the block outputs did not change the engine beyond rounding — its per-block errors describe the deployed engine');
    out.push({ deployed: d.file, marked: m.file, relL2, deployedVsRef, markedVsRef, changed, sentence });
  }
  return out;
}
