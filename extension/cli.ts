#!/usr/bin/env node
/**
 * timesformer-lab: a thin CLI over the same pipeline the extension runs.
 *   timesformer-lab run --weights W|HF_FOLDER [--data D | --input synthetic[:seed]|test_data.p|clip.npy [--mean R,G,B --std R,G,B]] [--heads N] [--precision fp32|fp16|bf16]
 *       [--layernorm plain|expose|fp32|fused|prescaled[,...]|all] [--ep auto|tensorrt|cuda|webgpu|cpu]
 *       [--json out.json] [--save-onnx out.onnx] [--max-block-error X] [--tolerance X]
 *       [--device-id N] [--trt-cache DIR] [--prescale-shift K] [--accumulate fp32|fp16] [--fix-layernorms a,b] [--no-stats] [--repeat N]
 *   timesformer-lab export-onnx --weights W [--data D | --input …] [--heads N] [--layernorm MODE|minimal] [--fix-layernorms a,b] [--form fused|decomposed] --out F
 *   timesformer-lab providers
 * Exit code: 0 done; 1 a block or the probabilities exceed --max-block-error; 2 bad input or failure.
 */
import * as fs from 'fs';
import { parseArgs } from 'util';
import { isLabError, LabError } from './core/errors';
import { runModes, type LayerNormChoice } from './core/pipeline';
import { ACCUMULATE, EP_CHOICES, LAYERNORM_MODES, PRECISIONS, reportToJson, type EpChoice, type LayerNormMode, type Precision, type Report } from './core/report';
import { formatTable } from './core/table';

const USAGE = `usage:
  timesformer-lab run --weights CHECKPOINT|HF_FOLDER [--data TEST_DATA | --input synthetic[:SEED]|TEST_DATA|CLIP.npy] [--mean R,G,B] [--std R,G,B]
                      [--heads N] [--precision ${PRECISIONS.join('|')}]
                      [--layernorm ${LAYERNORM_MODES.join('|')}[,...]|all] [--ep ${EP_CHOICES.join('|')}]
                      [--json OUT.json] [--save-onnx OUT.onnx] [--max-block-error X] [--tolerance X]
                      [--device-id N] [--trt-cache DIR] [--prescale-shift K] [--fp32-ops Gemm,MatMul,...] [--attention decomposed|fused] [--quiet]
                      [--accumulate ${ACCUMULATE.join('|')}] [--layernorm minimal] [--fix-layernorms blocks.4.norm1,...] [--no-stats] [--repeat N] [--no-confirm]
  timesformer-lab export-onnx --weights CHECKPOINT [--data TEST_DATA | --input CLIP] [--heads N] [--layernorm ${LAYERNORM_MODES.join('|')}|minimal]
                      [--fix-layernorms a,b] [--form fused|decomposed] --out OUT.onnx
  timesformer-lab providers`;

function fail(msg: string): never {
  throw new LabError('BAD_OPTION', msg);
}

function num(name: string, v: string | undefined, integer = false): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) fail(`--${name} expects ${integer ? 'an integer' : 'a number'}, got '${v}'`);
  return n;
}

/** `0.45,0.45,0.45` -> numbers (the pipeline checks how many). */
function numList(name: string, v: string | undefined): number[] | undefined {
  if (v === undefined) return undefined;
  return v.split(',').map((x) => (x.trim() === '' ? fail(`--${name} expects numbers separated by commas, got '${v}'`) : num(name, x.trim())!));
}

function pick<T extends string>(name: string, v: string | undefined, allowed: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  if (!(allowed as readonly string[]).includes(v)) fail(`--${name} must be one of ${allowed.join(', ')}; got '${v}'`);
  return v as T;
}

async function cmdRun(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      weights: { type: 'string' }, data: { type: 'string' }, input: { type: 'string' }, heads: { type: 'string' },
      precision: { type: 'string' }, layernorm: { type: 'string' }, ep: { type: 'string' },
      json: { type: 'string' }, 'save-onnx': { type: 'string' }, 'max-block-error': { type: 'string' },
      tolerance: { type: 'string' }, 'device-id': { type: 'string' }, 'trt-cache': { type: 'string' },
      'prescale-shift': { type: 'string' }, 'fp32-ops': { type: 'string' }, attention: { type: 'string' }, quiet: { type: 'boolean' },
      mean: { type: 'string' }, std: { type: 'string' },
      accumulate: { type: 'string' }, 'fix-layernorms': { type: 'string' }, 'no-stats': { type: 'boolean' }, repeat: { type: 'string' }, 'no-confirm': { type: 'boolean' },
    },
    strict: true,
  });
  if (!values.weights) fail('run needs --weights');
  if (values.data && values.input) fail('--input is the clip to use without test data; with --data, the test data\'s video is the clip');
  if (values.data && (values.mean || values.std)) fail('--mean/--std normalize uint8 frames given with --input; with --data, the test data\'s video is already the model\'s input');
  const precision = pick<Precision>('precision', values.precision, PRECISIONS, 'fp32');
  const ep = pick<EpChoice>('ep', values.ep, EP_CHOICES, 'cpu');
  const lnArg = values.layernorm ?? 'plain';
  const modes: LayerNormChoice[] = lnArg === 'all' ? [...LAYERNORM_MODES] : lnArg.split(',').map((m) => pick<LayerNormChoice>('layernorm', m.trim(), [...LAYERNORM_MODES, 'minimal'], 'plain'));
  const fix = values['fix-layernorms']?.split(',').map((s) => s.trim()).filter(Boolean);
  const maxBlockError = num('max-block-error', values['max-block-error']);
  let exceeded = false;
  const done: Report[] = [];
  const reports = await runModes(
    {
      weights: values.weights, data: values.data, input: values.input, heads: num('heads', values.heads, true), precision, ep,
      tolerance: num('tolerance', values.tolerance), deviceId: num('device-id', values['device-id'], true),
      trtCacheDir: values['trt-cache'], saveOnnx: values['save-onnx'],
      prescaleShift: num('prescale-shift', values['prescale-shift'], true),
      attention: pick('attention', values.attention, ['decomposed', 'fused'] as const, 'decomposed'),
      fp32Ops: values['fp32-ops']?.split(',').map((s) => s.trim()).filter(Boolean),
      mean: numList('mean', values.mean), std: numList('std', values.std),
      accumulate: pick('accumulate', values.accumulate, ACCUMULATE, 'fp32'), probes: values['no-stats'] ? false : undefined,
      repeat: num('repeat', values.repeat, true), layerNormOverrides: fix && Object.fromEntries(fix.map((n) => [n, 'fp32' as LayerNormMode])),
      confirmMinimalFix: values['no-confirm'] ? false : undefined,
    },
    modes,
    {
      log: values.quiet ? undefined : (l) => process.stderr.write(`  ${l}\n`),
      onResult: ({ report }) => {
        process.stdout.write(formatTable(report) + '\n' + formatCost(report) + '\n\n');
        done.push(report);
        // rewritten after every mode: a long multi-mode run that is stopped keeps what it finished
        if (values.json && modes.length > 1) fs.writeFileSync(values.json, reportToJson(done));
        if (maxBlockError !== undefined) {
          const worst = Math.max(...report.blocks.map((b) => b.relL2), report.probs.relL2);
          if (!(worst <= maxBlockError)) {
            exceeded = true;
            process.stdout.write(`max error ${worst.toExponential(2)} exceeds --max-block-error ${maxBlockError}\n`);
          }
        }
      },
    },
  );
  if (values.json) fs.writeFileSync(values.json, reportToJson(reports.length === 1 ? reports[0] : reports));
  return exceeded ? 1 : 0;
}

/** What the run cost: each stage's seconds, the peak memory against the checkpoint's weights, and what left the engine. */
export function formatCost(r: Report): string {
  const t = r.run.timings;
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const MiB = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  const parts = [`read ${s(t.readMs)}`, ...(t.headsMs >= 1 ? [`heads ${s(t.headsMs)}`] : []), ...(t.referenceMs >= 1 ? [`reference ${s(t.referenceMs)}`] : []),
    `graph ${s(t.buildGraphMs)}`, `session ${s(t.sessionMs)}`, `run ${s(t.runMs)}`, `compare ${s(t.compareMs)}`];
  let line = `time: ${parts.join(', ')}; total ${s(t.totalMs)}`;
  if (t.peakRssBytes) {
    const w = r.inputs.weightBytes;
    line += `; peak RSS ${MiB(t.peakRssBytes)}${w ? ` (${(t.peakRssBytes / w).toFixed(2)}× the checkpoint's ${MiB(w)} of weights)` : ''}`;
  }
  if (r.run.outputBytes !== undefined) line += `; ${MiB(r.run.outputBytes)} of outputs left the engine`;
  if (t.confirmMs !== undefined) line += `; then the minimal fix's confirmation run ${s(t.confirmMs)}${t.confirmPeakRssBytes ? ` (peak RSS ${MiB(t.confirmPeakRssBytes)})` : ''}`;
  return line;
}

async function cmdProviders(): Promise<number> {
  const { probeProviders } = await import('./core/engine/session');
  for (const p of await probeProviders()) process.stdout.write(`${p.ep.padEnd(9)} ${p.available ? 'available' : 'unavailable: ' + p.reason}\n`);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === 'run') return await cmdRun(rest);
    if (cmd === 'providers') return await cmdProviders();
    if (cmd === 'export-onnx') return await (await import('./export-cli')).cmdExportOnnx(rest);
    process.stderr.write(`${USAGE}\n`);
    return cmd === undefined || cmd === '--help' || cmd === '-h' ? 0 : 2;
  } catch (e) {
    if (isLabError(e)) process.stderr.write(`error [${e.code}]: ${e.message}\n`);
    else if (e instanceof TypeError && /ERR_PARSE_ARGS/.test((e as NodeJS.ErrnoException).code ?? '')) process.stderr.write(`error: ${e.message}\n${USAGE}\n`);
    else process.stderr.write(`error: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    return 2;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
