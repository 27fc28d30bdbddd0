/**
 * `timesformer-lab trt-run` (also `run --ep trtexec`): the user's TensorRT through trtexec, as a run
 * (issue 19, part 3). Thin over core/trt/trtexec-run.ts: arguments -> prepare -> trtexecRun -> table,
 * JSON, exit code. Progress lines on stderr ("  [building engine] trtexec: …") are what the
 * extension's Run with "TensorRT (trtexec)" shows (host/trtexec.ts).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { LabError } from './core/errors';
import { checkOutputPath } from './core/options';
import { prepare } from './core/pipeline';
import { reportToJson } from './core/report';
import { formatTable } from './core/table';
import { trtexecRefusal, trtexecRun, TRTEXEC_LAYERNORMS, type TrtexecLayerNorm } from './core/trt/trtexec-run';
import { locateTrtexec, probeTrtexec } from './core/trt/trtexec';

export const TRT_RUN_USAGE = `usage: timesformer-lab trt-run --weights CHECKPOINT [--data TEST_DATA | --input CLIP] [options]
       (the same as: timesformer-lab run --ep trtexec …)
  builds a TensorRT engine of the marked graph with trtexec (or takes it from the engine cache), runs it
  once on the clip and compares every block with the reference, as a run of our own engines
  --trtexec PATH          the trtexec to use (default: trtexec on PATH)
  --trt-cache DIR         the engine cache (default: $XDG_CACHE_HOME/timesformer-lab/trtexec-engines)
  --precision P           fp16 | fp32 (default fp16; TensorRT 11 has no --fp16: choose fp32 there)
  --layernorm M           plain | fp32 | minimal (default plain): the fix as --precisionConstraints=obey --layerPrecisions
  --tolerance X           a block passes when its rel L2 error is at most X (default: the precision's)
  --json FILE             write the Report
  --heads N, --quiet
exit code: 0 PASS; 1 FAIL; 2 bad input, or trtexec failed (the message has its command line and last log lines).`;

function bad(m: string): never {
  throw new LabError('BAD_OPTION', m);
}

/** The engine cache when none is given: the user's cache folder. */
export function defaultTrtCache(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME || path.join(env.HOME || os.homedir(), '.cache');
  return path.join(base, 'timesformer-lab', 'trtexec-engines');
}

export async function cmdTrtRun(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${TRT_RUN_USAGE}\n`);
    return 0;
  }
  const { values } = parseArgs({
    args: argv,
    options: {
      weights: { type: 'string' }, data: { type: 'string' }, input: { type: 'string' }, heads: { type: 'string' },
      trtexec: { type: 'string' }, 'trt-cache': { type: 'string' }, precision: { type: 'string' }, layernorm: { type: 'string' },
      tolerance: { type: 'string' }, json: { type: 'string' }, quiet: { type: 'boolean' }, ep: { type: 'string' },
    },
    strict: true,
  });
  if (values.ep !== undefined && values.ep !== 'trtexec') bad(`trt-run runs trtexec; --ep ${values.ep} is a run of ours (timesformer-lab run --ep ${values.ep})`);
  if (!values.weights) bad('trt-run needs --weights');
  if (values.data && values.input) bad("--input is the clip to use without test data; with --data, the test data's video is the clip");
  const precision = values.precision ?? 'fp16';
  const layerNorm = values.layernorm ?? 'plain';
  const early = trtexecRefusal({ precision, layerNorm });
  if (early) bad(early.replace(/^TensorRT \(trtexec\)/, '--ep trtexec'));
  const tolerance = values.tolerance === undefined ? undefined : Number(values.tolerance);
  if (tolerance !== undefined && !(tolerance > 0)) bad(`--tolerance expects a positive number; got '${values.tolerance}'`);
  let heads: number | undefined;
  if (values.heads !== undefined) {
    heads = Number(values.heads);
    if (!Number.isInteger(heads) || heads <= 0) bad(`--heads expects a positive whole number; got '${values.heads}'`);
  }
  if (values.json) checkOutputPath(values.json, '--json');
  // the cache is a folder (created when missing): a file there is refused now, not after the export
  const cacheDir = path.resolve(values['trt-cache'] ?? defaultTrtCache());
  if (fs.existsSync(cacheDir) && !fs.statSync(cacheDir).isDirectory()) throw new LabError('BAD_OPTION', '--trt-cache names a file; the engine cache is a folder (give a folder, or a path that does not exist yet)', cacheDir);
  const exe = locateTrtexec(values.trtexec);
  if (!exe) throw new LabError('PROVIDER_UNAVAILABLE', 'trtexec is not on PATH (give --trtexec PATH; it ships with TensorRT: <TensorRT>/bin/trtexec). Without TensorRT here: timesformer-lab export-trt writes a bundle to run where it is');
  const info = await probeTrtexec(exe);
  const refusal = trtexecRefusal({ precision, layerNorm }, info);
  if (refusal) bad(refusal);
  const log = values.quiet ? undefined : (l: string) => process.stderr.write(`  ${l}\n`);
  log?.(`trtexec: ${exe} (TensorRT ${info.version}); engine cache ${cacheDir}`);
  const p = await prepare({ weights: values.weights, data: values.data, input: values.input, heads }, { log });
  try {
    const r = await trtexecRun(p, { trtexec: info, cacheDir, precision: precision as 'fp16' | 'fp32', layerNorm: layerNorm as TrtexecLayerNorm, tolerance }, {
      log,
      onProgress: (stage, detail) => log?.(`[${stage}]${detail ? ` ${detail}` : ''}`),
    });
    process.stdout.write(`${r.report.run.label}\n${formatTable(r.report)}\n${r.report.diagnosis.sentence}\n`);
    process.stdout.write(`engine: ${r.engine ? `${r.engine}${r.cacheHit ? ' (from the cache)' : ' (built, now cached)'}` : `${r.key} (built, not cached: trtexec ran on another GPU than the key's)`} for ${r.gpu.name} (compute capability ${r.gpu.computeCapability})\n`);
    if (values.json) fs.writeFileSync(values.json, reportToJson(r.report));
    return r.report.diagnosis.verdict === 'fail' ? 1 : 0;
  } finally {
    p.close();
  }
}

export { TRTEXEC_LAYERNORMS };
