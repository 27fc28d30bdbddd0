/**
 * Option validation shared by the CLI, the extension host and the pipeline: every value a user can
 * type is checked here once, with one wording, before anything is read or built. A bad value is a
 * LabError('BAD_OPTION') that names the option and says what is allowed.
 */
import * as fs from 'fs';
import * as path from 'path';
import { LabError } from './errors';
import { ACCUMULATE, EP_CHOICES, LAYERNORM_MODES, PRECISIONS, type PipelineOptions } from './report';

/** Largest prescale shift: 2^-10 already pushes (x−mean)² of typical activations into fp16 subnormals. */
export const MAX_PRESCALE_SHIFT = 10;
/** Heads beyond this are not a TimeSformer (the full-size model has 12). */
export const MAX_HEADS = 1024;

/**
 * Op types that `--fp32-ops` can keep in fp32 on a true fp16 graph: the ops the graph builder
 * (model/timesformer.ts) emits through its precision policy. Gemm stands for MatMul + bias (a
 * Linear) and Gelu for the erf-based GELU, as the builder reads them.
 */
export const FP32_OP_NAMES: readonly string[] = [
  'Conv', 'MatMul', 'Gemm', 'Gelu', 'Softmax', 'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Sqrt', 'ReduceMean',
  'LayerNormalization', 'MultiHeadAttention',
];

function bad(detail: string): never {
  throw new LabError('BAD_OPTION', detail);
}

function oneOf(name: string, v: unknown, allowed: readonly string[]): void {
  if (v !== undefined && !allowed.includes(v as string)) bad(`${name} must be one of ${allowed.join(', ')}; got '${String(v)}'`);
}

/** How each option is called where the user set it (CLI flags, settings); defaults to plain words. */
export type OptionNames = Partial<Record<keyof PipelineOptions, string>>;

const PLAIN_NAMES: Record<string, string> = {
  precision: 'precision', layerNorm: 'LayerNorm mode', ep: 'execution provider', attention: 'attention', tolerance: 'tolerance',
  heads: 'heads', prescaleShift: 'prescale shift', deviceId: 'device id', fp32Ops: 'fp32 ops', accumulate: 'accumulate', repeat: 'repeat',
};

/** More engine runs than this is no timing a user waits for. */
export const MAX_REPEAT = 10_000;

/** Tolerance: a finite number > 0 (a block passes when its rel L2 is at most this). */
export function checkTolerance(v: unknown, name = 'tolerance'): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) bad(`${name} must be a finite number greater than 0; got ${String(v)}`);
  return v;
}

/** Checks every option a user can set; returns the same object so that calls can be chained. */
export function validateOptions<T extends Partial<PipelineOptions>>(o: T, names: OptionNames = {}): T {
  const n = (k: keyof PipelineOptions) => names[k] ?? PLAIN_NAMES[k] ?? k;
  oneOf(n('precision'), o.precision, PRECISIONS);
  oneOf(n('layerNorm'), o.layerNorm, LAYERNORM_MODES);
  oneOf(n('ep'), o.ep, EP_CHOICES);
  oneOf(n('attention'), o.attention, ['decomposed', 'fused']);
  oneOf(n('accumulate'), o.accumulate, ACCUMULATE);
  if (o.repeat !== undefined && (!Number.isInteger(o.repeat) || o.repeat < 1 || o.repeat > MAX_REPEAT)) bad(`${n('repeat')} must be a whole number from 1 to ${MAX_REPEAT}; got ${String(o.repeat)}`);
  if (o.tolerance !== undefined) checkTolerance(o.tolerance, n('tolerance'));
  if (o.heads !== undefined && (!Number.isInteger(o.heads) || o.heads < 1 || o.heads > MAX_HEADS)) {
    bad(`${n('heads')} must be a whole number from 1 to ${MAX_HEADS}; got ${String(o.heads)}`);
  }
  if (o.prescaleShift !== undefined && (!Number.isInteger(o.prescaleShift) || o.prescaleShift < 0 || o.prescaleShift > MAX_PRESCALE_SHIFT)) {
    bad(`${n('prescaleShift')} must be a whole number from 0 to ${MAX_PRESCALE_SHIFT} (the LayerNorm input is divided by 2^k); got ${String(o.prescaleShift)}`);
  }
  if (o.deviceId !== undefined && (!Number.isInteger(o.deviceId) || o.deviceId < 0)) bad(`${n('deviceId')} must be a whole number ≥ 0; got ${String(o.deviceId)}`);
  if (o.fp32Ops !== undefined) {
    const unknown = o.fp32Ops.filter((op) => !FP32_OP_NAMES.includes(op));
    if (unknown.length) bad(`${n('fp32Ops')}: unknown op type${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `'${u}'`).join(', ')} (known: ${FP32_OP_NAMES.join(', ')})`);
  }
  return o;
}

/**
 * A file we are asked to write (a report, an ONNX graph): its folder must exist and the path must
 * not be a folder. Checked before a run, so that a typo does not cost the whole run.
 */
export function checkOutputPath(file: string, what: string): void {
  const dir = path.dirname(path.resolve(file));
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(dir);
  } catch {
    throw new LabError('BAD_OPTION', `${what}: the folder ${dir} does not exist (create it first)`, file);
  }
  if (!st.isDirectory()) throw new LabError('BAD_OPTION', `${what}: ${dir} is not a folder`, file);
  try {
    if (fs.statSync(file).isDirectory()) throw new LabError('BAD_OPTION', `${what}: this is a folder; give a file name`, file);
  } catch (e) {
    if (e instanceof LabError) throw e;
  }
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch {
    throw new LabError('BAD_OPTION', `${what}: the folder ${dir} is not writable`, file);
  }
}
