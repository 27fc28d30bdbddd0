/**
 * The golden Reports of issue 18's refactor: the pipeline run on every fixture (d1–d4, the HF
 * folders) over the modes users run, each Report stripped of what changes from run to run (times,
 * dates, memory, absolute paths, the weight store's folder, which holds a pid) and nothing else.
 * test/tools/gen-reports-golden.ts writes them (test/fixtures/reports-golden/*.json) from the code
 * of the day; test/unit/reports-golden.test.ts runs the same cases and asks for the same JSON, every
 * number equal to the last bit.
 *
 * The cases walk every stage: reading (.pyth zip and legacy, fp16 weights, HF safetensors, sharded
 * and .bin), heads (detected, given, from config.json, assumed, a wrong count's evidence), the clip
 * (test data, synthetic, a test_data.p as the clip, uint8 frames .npy with the folder's
 * normalization), the reference (test data, our own FP32: adopted from an FP32 mode or computed),
 * the engine in every precision and LayerNorm mode, the comparison (blocks, exposed tensors), the
 * diagnosis (with the healthy statistics and the minimal fix's confirmation run), saving the ONNX
 * (run and saveOnnxOf, by sha256), the scheduler with the GPU helper process (on the CPU EP:
 * TIMESFORMER_LAB_GPU_HELPER=1), and the errors of a clip or test data that disagree.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runModes, saveOnnxOf, type LayerNormChoice } from '../../../extension/core/pipeline';
import { reportToJson, type PipelineOptions, type Report, type Stage } from '../../../extension/core/report';
import { withEnv } from './env';

export const ROOT = path.join(__dirname, '..', '..', '..', '..');
export const FIX = path.join(ROOT, 'test', 'fixtures');
export const GOLDEN_DIR = path.join(FIX, 'reports-golden');

export interface GoldenCase {
  name: string;
  /** Options with paths relative to test/fixtures (weights, data, input). */
  o: Omit<PipelineOptions, 'saveOnnx'>;
  modes: LayerNormChoice[];
  /** Save each mode's ONNX and record its sha256 (and saveOnnxOf's of the first Report: the same bytes). */
  onnx?: boolean;
  /** Run the modes through the GPU helper process (CPU EP: TIMESFORMER_LAB_GPU_HELPER=1). */
  helper?: boolean;
}

const d = (name: string) => ({ weights: `${name}.pyth`, data: `${name}_test_data.p` });

export const CASES: GoldenCase[] = [
  // d1: the outlier; every LayerNorm mode in FP16, the minimal fix and its confirmation, expose, ONNX
  { name: 'd1-fp16-all-modes', o: { ...d('d1_outlier'), ep: 'cpu', precision: 'fp16' }, modes: ['plain', 'fp32', 'minimal', 'expose', 'fused', 'prescaled'], onnx: true },
  { name: 'd1-fp32', o: { ...d('d1_outlier'), ep: 'cpu', precision: 'fp32', heads: 4 }, modes: ['plain'] },
  { name: 'd1-bf16', o: { ...d('d1_outlier'), ep: 'cpu', precision: 'bf16', heads: 4 }, modes: ['plain', 'fp32'] },
  { name: 'd1-fp16-accumulate-fp16-tolerance', o: { ...d('d1_outlier'), ep: 'cpu', precision: 'fp16', heads: 4, accumulate: 'fp16', tolerance: 0.5, confirmMinimalFix: false }, modes: ['plain'] },
  { name: 'd1-wrong-heads', o: { ...d('d1_outlier'), ep: 'cpu', precision: 'fp32', heads: 1 }, modes: ['plain'] },
  // no test data: the reference is our FP32 (adopted from the FP32 mode, or its own probe run)
  { name: 'd1-synthetic-fp32', o: { weights: 'd1_outlier.pyth', input: 'synthetic:1', ep: 'cpu', precision: 'fp32', heads: 4 }, modes: ['plain'] },
  { name: 'd1-synthetic-fp16', o: { weights: 'd1_outlier.pyth', ep: 'cpu', precision: 'fp16', heads: 4 }, modes: ['plain', 'minimal'] },
  { name: 'd1-testdata-as-clip', o: { weights: 'd1_outlier.pyth', input: 'd1_outlier_test_data.p', ep: 'cpu', precision: 'fp16', heads: 4, confirmMinimalFix: false }, modes: ['plain'] },
  // the scheduler's GPU helper process (here on the CPU EP)
  { name: 'd2-helper-modes', o: { ...d('d2_legacy'), ep: 'cpu', precision: 'fp16', heads: 3 }, modes: ['plain', 'fp32', 'expose'], helper: true },
  { name: 'd2-fp32-repeat', o: { ...d('d2_legacy'), ep: 'cpu', precision: 'fp32', repeat: 1 }, modes: ['plain'] },
  { name: 'd3-fp16', o: { ...d('d3_half_weights'), ep: 'cpu', precision: 'fp16' }, modes: ['plain', 'fp32'] },
  { name: 'd4-fp16', o: { ...d('d4_geometry'), ep: 'cpu', precision: 'fp16' }, modes: ['plain', 'minimal'] },
  // HuggingFace folders: heads from config.json, labels, no classifier, sharded, .bin, frames .npy
  { name: 'hf_base-fp16', o: { weights: 'hf_base', data: 'hf_base_test_data.p', ep: 'cpu', precision: 'fp16' }, modes: ['plain', 'fp32'] },
  { name: 'hf_bin-fp32', o: { weights: 'hf_bin', data: 'hf_bin_test_data.p', ep: 'cpu', precision: 'fp32' }, modes: ['plain'] },
  { name: 'hf_sharded-bf16', o: { weights: 'hf_sharded', data: 'hf_sharded_test_data.p', ep: 'cpu', precision: 'bf16' }, modes: ['plain'] },
  { name: 'hf_outlier-fp16', o: { weights: 'hf_outlier', data: 'hf_outlier_test_data.p', ep: 'cpu', precision: 'fp16' }, modes: ['plain', 'minimal'] },
  { name: 'hf_outlier-frames-npy', o: { weights: 'hf_outlier', input: 'hf_outlier_frames.npy', ep: 'cpu', precision: 'fp16' }, modes: ['plain', 'fp32'] },
  { name: 'hf_outlier-frames-npy-mean-std', o: { weights: 'hf_outlier', input: 'hf_outlier_frames.npy', ep: 'cpu', precision: 'fp32', mean: [0.5], std: [0.25, 0.25, 0.25] }, modes: ['plain'] },
  // what disagrees is refused, by code and words
  { name: 'error-data-mismatch', o: { weights: 'd1_outlier.pyth', data: 'd2_legacy_test_data.p', ep: 'cpu' }, modes: ['plain'] },
  { name: 'error-clip-mismatch', o: { weights: 'd1_outlier.pyth', input: 'hf_outlier_frames.npy', ep: 'cpu' }, modes: ['plain'] },
];

/** What a case gives: its Reports (stripped), the stages it went through, its ONNX digests, or its error. */
export interface GoldenResult {
  reports?: unknown[];
  stages?: Stage[];
  /** With the GPU helper process: every Report's log lines, sorted (their Reports' logs are left empty). */
  logLines?: string[];
  onnx?: Record<string, string>;
  error?: { code?: string; message: string };
}

const abs = (f: string | undefined) => (f === undefined ? undefined : /^synthetic/.test(f) ? f : path.join(FIX, f));

/** Paths, the weight store's folder (it holds a pid), durations and memory, as placeholders. */
function scrub(s: string, tmp: string): string {
  return s
    .split(tmp).join('<tmp>')
    .split(FIX).join('<fixtures>')
    .replace(/\/[^\s()]*tsf-lab-w-[A-Za-z0-9_-]+/g, '<store>')
    .replace(/\d+(\.\d+)? ms\b/g, '<n> ms');
}

/** Log lines about memory (peak RSS, free space of the store's file system) say this machine, not the run. */
const MEMORY_LINE = /^(\s*\(minimal fix run\) )?(peak RSS |weight store: )/;

/** A Report without what changes from run to run: createdAt, timings; paths and durations in words as placeholders. */
export function stripReport(r: Report, tmp: string): unknown {
  const { createdAt: _c, ...rest } = r;
  const run = { ...r.run, timings: undefined };
  const log = r.log.filter((l) => !MEMORY_LINE.test(l));
  const json = reportToJson({ ...rest, run, log }, 1);
  return JSON.parse(scrub(json, tmp));
}

export async function runCase(c: GoldenCase): Promise<GoldenResult> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-golden-'));
  try {
    return await withEnv({ TIMESFORMER_LAB_GPU_HELPER: c.helper ? '1' : '0' }, () => caseIn(c, tmp));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** One case run with its files in `tmp`. */
async function caseIn(c: GoldenCase, tmp: string): Promise<GoldenResult> {
  const o: PipelineOptions = {
    ...c.o, weights: abs(c.o.weights)!, data: abs(c.o.data), input: abs(c.o.input),
    ...(c.onnx ? { saveOnnx: path.join(tmp, 'model.onnx') } : {}),
  };
  if (o.data === undefined) delete o.data;
  if (o.input === undefined) delete o.input;
  const seen: Stage[] = [];
  let reports: Report[];
  try {
    reports = await runModes(o, c.modes, { onProgress: (s) => void (seen[seen.length - 1] !== s && seen.push(s)) });
  } catch (e) {
    const x = e as { code?: string; message: string };
    return { error: { code: x.code, message: scrub(x.message, tmp) } };
  }
  const out: GoldenResult = { reports: reports.map((r) => stripReport(r, tmp)) };
  // two processes' stages interleave as they come: only one process's order is the case's
  if (!c.helper) out.stages = seen;
  else {
    // and the preparation's lines open the log of whichever mode reaches its comparison first
    // (this process's, or the first the helper process finishes): the lines, not their Report
    const stripped = out.reports as { log: string[] }[];
    out.logLines = stripped.flatMap((r) => r.log).sort();
    for (const r of stripped) r.log = [];
  }
  if (c.onnx) {
    const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
    out.onnx = Object.fromEntries(fs.readdirSync(tmp).sort().map((f) => [f, sha(path.join(tmp, f))]));
    const again = path.join(tmp, 'saveOnnxOf.onnx');
    await saveOnnxOf(reports[0], o, again);
    out.onnx['saveOnnxOf(first report)'] = sha(again);
  }
  return JSON.parse(reportToJson(out)) as GoldenResult;
}

export const goldenFile = (c: GoldenCase) => path.join(GOLDEN_DIR, `${c.name}.json`);

/** The golden file's text for a result: inf and NaN kept as strings, every number as JSON writes it (shortest round-trip form). */
export const goldenText = (r: GoldenResult) => reportToJson(r, 1) + '\n';
