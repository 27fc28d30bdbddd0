/**
 * `timesformer-lab export-trt` and `timesformer-lab import` (issue 19): thin over core/trt —
 * arguments -> prepare -> writeBundle | readImports + compareImports -> table, JSON, exit code.
 *   export-trt --weights W [--data D | --input CLIP] [--heads N] --out DIR
 *   import --weights W [--data D | --input CLIP] [--heads N] [--precision P] [--tolerance X] [--json FILE] OUTPUTS...
 * Exit codes as `run`: 0 every imported run passes, 1 one fails, 2 bad input (the file named).
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseArgs } from 'util';
import { LabError } from './core/errors';
import { openRegularFileSync } from './core/formats/file';
import { checkOutputPath } from './core/options';
import { prepare } from './core/pipeline';
import { PRECISIONS, reportToJson, type Precision } from './core/report';
import { formatTable } from './core/table';
import { readManifest, writeBundle } from './core/trt/bundle';
import { checkFreshOutputs, checkSameClip, compareImports, readImports } from './core/trt/import';

export const EXPORT_TRT_USAGE = `usage: timesformer-lab export-trt --weights CHECKPOINT [--data TEST_DATA | --input CLIP] [--heads N] --out DIR
  a folder for a machine with TensorRT: model.onnx, model_marked.onnx, inputs.bin/.json/.npy, reference/,
  run_trtexec.sh, run_polygraphy.sh, README.txt (see docs/tensorrt.md)`;

export const IMPORT_USAGE = `usage: timesformer-lab import --weights CHECKPOINT [--data TEST_DATA | --input CLIP] [options] OUTPUTS.json...
  OUTPUTS: trtexec --exportOutput or Polygraphy --save-outputs files (e.g. a bundle's trt_*.json)
  --precision P     the engines' precision where a file's name does not say it (${PRECISIONS.join(' | ')})
  --tolerance X     a block passes when its rel L2 error is at most X (default: the precision's)
  --json FILE       write the Reports of the marked runs (a JSON list)
  --heads N, --quiet
  Without --data or --input, the clip is the bundle's (bundle.json and inputs.npy beside the first file);
  with neither and no bundle, import refuses (the engine's outputs compare only with the clip it ran on).
exit code: 0 every imported run passes; 1 one fails; 2 bad input (the message names the file).`;

function bad(m: string): never {
  throw new LabError('BAD_OPTION', m);
}

function intOpt(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) bad(`${flag} expects a positive whole number; got '${v}'`);
  return n;
}

export async function cmdExportTrt(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${EXPORT_TRT_USAGE}\n`);
    return 0;
  }
  const { values } = parseArgs({
    args: argv,
    options: { weights: { type: 'string' }, data: { type: 'string' }, input: { type: 'string' }, heads: { type: 'string' }, out: { type: 'string' }, quiet: { type: 'boolean' } },
    strict: true,
  });
  if (!values.weights) bad('export-trt needs --weights');
  if (!values.out) bad('export-trt needs --out DIR (the bundle folder)');
  if (values.data && values.input) bad("--input is the clip to use without test data; with --data, the test data's video is the clip");
  if (fs.existsSync(values.out) && !fs.statSync(values.out).isDirectory()) bad(`--out ${values.out} is a file; export-trt writes a folder`);
  const p = await prepare(
    { weights: values.weights, data: values.data, input: values.input, heads: intOpt('--heads', values.heads) },
    { log: values.quiet ? undefined : (l) => process.stderr.write(`  ${l}\n`) },
  );
  try {
    const r = await writeBundle(p, values.out);
    process.stdout.write(r.summary.join('\n') + '\n');
  } finally {
    p.close();
  }
  return 0;
}

export async function cmdImport(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${IMPORT_USAGE}\n`);
    return 0;
  }
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      weights: { type: 'string' }, data: { type: 'string' }, input: { type: 'string' }, heads: { type: 'string' }, precision: { type: 'string' },
      tolerance: { type: 'string' }, json: { type: 'string' }, quiet: { type: 'boolean' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (!values.weights) bad('import needs --weights');
  if (!positionals.length) bad('import needs one or more output files (trtexec --exportOutput or Polygraphy --save-outputs JSON)');
  if (values.data && values.input) bad("--input is the clip to use without test data; with --data, the test data's video is the clip");
  if (values.precision !== undefined && !PRECISIONS.includes(values.precision as Precision)) bad(`--precision must be one of ${PRECISIONS.join(', ')}; got '${values.precision}'`);
  const tolerance = values.tolerance === undefined ? undefined : Number(values.tolerance);
  if (tolerance !== undefined && !(tolerance > 0)) bad(`--tolerance expects a positive number; got '${values.tolerance}'`);
  if (values.json) checkOutputPath(values.json, '--json');
  // each output a regular file, said before the model is read (a FIFO or a folder is NOT_A_FILE, never opened)
  for (const f of positionals) fs.closeSync(openRegularFileSync(f).fd);
  // without a clip, the bundle's: its test data, else its inputs.npy
  const dir = path.dirname(positionals[0]);
  const manifest = readManifest(dir);
  let { data, input } = values;
  if (!data && !input && manifest) {
    if (manifest.data && fs.existsSync(manifest.data)) data = manifest.data;
    else if (fs.existsSync(path.join(dir, 'inputs.npy'))) input = path.join(dir, 'inputs.npy');
  }
  // never a clip of our own making: the outputs are compared with what the engine ran on, or not at all
  if (!data && !input) {
    bad(manifest
      ? `give --data or --input: the clip the engine ran on (the bundle.json beside ${positionals[0]} ${manifest.data ? `names test data ${manifest.data}, not found here,` : 'names no test data'} and its inputs.npy is missing)`
      : `give --data or --input: the clip the engine ran on (no bundle.json beside ${positionals[0]} to take it from)`);
  }
  if (manifest) checkFreshOutputs(positionals, dir, manifest);
  const log = values.quiet ? undefined : (l: string) => process.stderr.write(`  ${l}\n`);
  const p = await prepare({ weights: values.weights, data, input, heads: intOpt('--heads', values.heads) ?? manifest?.heads }, { log });
  let failed = 0;
  try {
    checkSameClip(p.video.data, dir);
    const o = { precision: values.precision as Precision | undefined, tolerance, manifest };
    const runs = readImports(p, positionals, o);
    const r = await compareImports(p, runs, o, { log });
    for (const rep of r.reports) {
      process.stdout.write(`${rep.run.label}\n${formatTable(rep)}\n\n`);
      if (rep.diagnosis.verdict === 'fail') failed++;
    }
    for (const d of r.deployed) {
      // a model without a classifier gives features: no class to name
      const top1 = d.run.final === 'probs' ? `, top-1 ${d.top1}${d.top1 === d.refTop1 ? ' = ' : ' ≠ '}reference ${d.refTop1}` : '';
      process.stdout.write(`${d.run.identity}: ${d.run.final} rel L2 ${d.relL2.toExponential(2)} (max |diff| ${d.maxAbs.toExponential(2)})${top1}: ${d.passed ? 'PASS' : 'FAIL'} (tolerance ${d.tolerance})\n`);
      if (!d.passed) failed++;
    }
    for (const ob of r.observer) process.stdout.write(`observer effect: ${ob.sentence}\n`);
    for (const run of r.runs) for (const n of run.nonFinite) process.stdout.write(`${path.basename(run.file)}: non-finite values in ${n}\n`);
    if (values.json) fs.writeFileSync(values.json, reportToJson(r.reports));
  } finally {
    p.close();
  }
  return failed ? 1 : 0;
}

