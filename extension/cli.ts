#!/usr/bin/env node
/**
 * timesformer-lab: a thin CLI over the same pipeline the extension runs.
 *   timesformer-lab run --weights W|HF_FOLDER [--data D | --input CLIP] [options]   (see RUN_USAGE, or `run --help`)
 *   timesformer-lab export-onnx --weights W [--data D | --input …] [--heads N] [--layernorm MODE|minimal] [--fix-layernorms a,b] [--form fused|decomposed] --out F
 *   timesformer-lab export-trt … --out DIR | import … OUTPUTS…   (trt-cli.ts: the TensorRT bundle and its outputs)
 *   timesformer-lab sweep --weights W --clips DIR|FILES… --out DIR [options]   (sweep-cli.ts: many clips, one model)
 *   timesformer-lab trt-run … | run --ep trtexec …   (trtexec-cli.ts: the user's TensorRT through trtexec; run-only options refused here)
 *   timesformer-lab providers
 * Exit code (as Polygraphy's: a failed comparison is not a success):
 *   0  every LayerNorm mode run PASSes (and stays within --max-block-error)
 *   1  at least one mode FAILs, or exceeds --max-block-error
 *   2  bad input or options, or the run could not be done (the message names the file and the cause)
 */
import * as fs from 'fs';
import { parseArgs } from 'util';
import { escapeControls, isLabError, LabError } from './core/errors';
import { plain } from './host/text';
import { checkOutputPath, checkTolerance, FP32_OP_NAMES, MAX_PRESCALE_SHIFT, validateOptions, type OptionNames } from './core/options';
import { DEFAULT_TOLERANCE } from './core/compare/verdict';
import { runModes, type LayerNormChoice } from './core/pipeline';
import { ACCUMULATE, EP_CHOICES, LAYERNORM_MODES, PRECISIONS, reportToJson, type Accumulate, type EpChoice, type LayerNormMode, type PipelineOptions, type Precision, type Report } from './core/report';
import { formatTable } from './core/table';

/** The valid --layernorm values, in the help's order. */
const LAYERNORM_CHOICES = [...LAYERNORM_MODES, 'minimal', 'all'];
/** What `all` runs. */
const ALL_MODES: readonly LayerNormChoice[] = LAYERNORM_MODES;

const RUN_USAGE = `usage: timesformer-lab run --weights CHECKPOINT|HF_FOLDER [--data TEST_DATA | --input CLIP] [options]

  --weights PATH          the checkpoint (.pyth, .pth, .pt) or a HuggingFace folder (config.json + weights)
  --data PATH             test data (test_data.p): the video, the reference probabilities and block outputs;
                          without it, the reference is this model's own FP32 graph on the CPU
  --input CLIP            without --data, the clip to run: synthetic[:SEED] (default synthetic:0), a
                          test_data.p (its video), a .npy (B,3,T,H,W floats or T,H,W,3 uint8 frames),
                          a video (.mp4 .m4v .avi .mkv .webm .mov) or a folder of .jpg/.png frames: sampled
                          and preprocessed as the checkpoint's cfg or preprocessor_config.json says
                          (the official test view; docs/video.md); decoder: the bundled ffmpeg, else
                          ffmpeg on PATH, or TIMESFORMER_LAB_FFMPEG
  --mean R,G,B --std R,G,B   uint8 frames: normalization (default: the checkpoint's, else 0.45 / 0.225)
  --precision P           ${PRECISIONS.join(' | ')} (default fp32)
  --layernorm M[,M...]    ${LAYERNORM_CHOICES.join(' | ')} (default plain); several modes run one after another.
                          minimal: plain, with only the LayerNorms whose overflow the statistics predict in FP32.
                          all: ${ALL_MODES.join(', ')} — every mode but minimal (a failing plain FP16 run
                          already confirms its minimal fix with one more run); all,minimal adds it
  --fix-layernorms A,B    LayerNorms kept in FP32 on top of the mode (blocks.4.norm1, norm)
  --accumulate A          ${ACCUMULATE.join(' | ')}: where 16-bit engines accumulate reductions (default fp32)
  --ep E                  ${EP_CHOICES.join(' | ')} (default cpu); one that cannot load falls back to the next;
                          trtexec: the user's TensorRT through trtexec (trt-run --help for its options)
  --heads N               attention heads (default: the checkpoint's config, else detected from the test data)
  --tolerance X           a block passes when its rel L2 error is at most X (default ${Object.entries(DEFAULT_TOLERANCE).map(([p, t]) => `${p.toUpperCase()} ${t}`).join(', ')})
  --max-block-error X     also fail when any block or the probabilities exceed X
  --json FILE             write the Report (one object; an array of them for several modes)
  --save-onnx FILE        write the ONNX graph as run (FILE.<mode>.onnx for several modes)
  --prescale-shift K      prescaled LayerNorm: divide by 2^K, K in 0..${MAX_PRESCALE_SHIFT} (default 3)
  --fp32-ops A,B,...      native fp16 graphs: op types kept in fp32 (${FP32_OP_NAMES.join(', ')})
  --attention A           decomposed | fused (default decomposed)
  --device-id N           GPU for the CUDA and TensorRT providers (default 0)
  --trt-cache DIR         TensorRT engine cache folder
  --no-stats              no LayerNorm statistics outputs in the engine graph
  --repeat N              timing: after the run, run the engine N more times; their median is on the
                          time line (warm median X ms (N more runs)), the first run's warm-up left out
  --no-confirm            minimal: do not re-run to confirm the minimal fix
  --quiet                 no progress log on stderr
  -h, --help              this help

exit code: 0 every mode passes; 1 a mode fails (FAIL verdict, or --max-block-error exceeded) — a
multi-mode run such as --layernorm plain,fp32 exits 1 when plain fails even if the fix passes;
2 bad input, bad options or an engine failure (the message names the file and the cause).`;

const USAGE = `usage:
  timesformer-lab run --weights CHECKPOINT [--data TEST_DATA] [options]  (run --help for the options)
  timesformer-lab export-onnx --weights CHECKPOINT [--data TEST_DATA | --input CLIP] [--layernorm MODE|minimal]
                      [--fix-layernorms a,b] [--form fused|decomposed] --out OUT.onnx
                                                                         the FP32 graph for TensorRT and its trtexec line
  timesformer-lab export-trt --weights CHECKPOINT [--data TEST_DATA] --out DIR   a bundle for trtexec and Polygraphy
  timesformer-lab import --weights CHECKPOINT [--data TEST_DATA] OUTPUTS.json...  their outputs as runs (import --help)
  timesformer-lab sweep --weights CHECKPOINT --clips DIR|FILE... --out DIR [--precision fp16] [--layernorm MODE]
                                                                         every clip against FP32: ranking, headroom, one fix (sweep --help)
  timesformer-lab trt-run --weights CHECKPOINT [--data TEST_DATA] [--trtexec PATH]   a run of trtexec's engine (trt-run --help;
                                                                         also: run --ep trtexec)
  timesformer-lab providers                                              which execution providers load here
  timesformer-lab --help`;

/** The CLI's names of the options, so that a validation error names the flag the user typed. */
const FLAG_NAMES: OptionNames = {
  precision: '--precision', layerNorm: '--layernorm', ep: '--ep', attention: '--attention', tolerance: '--tolerance',
  heads: '--heads', prescaleShift: '--prescale-shift', deviceId: '--device-id', fp32Ops: '--fp32-ops', accumulate: '--accumulate', repeat: '--repeat',
};

/**
 * What the CLI prints carries text from files (model_type, tensor names, dtypes, shard names,
 * labels, error details): control characters and terminal escapes are shown escaped, and
 * `[label](command:…)` links broken as the extension's notifications break them (host/text.ts plain).
 */
export function printable(text: string): string {
  return plain(escapeControls(text));
}
const out = (text: string) => process.stdout.write(printable(text));
const err = (text: string) => process.stderr.write(printable(text));

/** A usage error: the message, then where to find help. */
class UsageError extends Error {}

function num(flag: string, v: string | undefined, integer = false): number | undefined {
  if (v === undefined) return undefined;
  const n = v.trim() === '' ? NaN : Number(v);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) throw new LabError('BAD_OPTION', `${flag} expects ${integer ? 'a whole number' : 'a number'}; got '${v}'`);
  return n;
}

/** `0.45,0.45,0.45` -> numbers (the pipeline checks how many). */
function numList(flag: string, v: string | undefined): number[] | undefined {
  if (v === undefined) return undefined;
  return v.split(',').map((x) => num(flag, x)!);
}

/** `--tolerance -1` reads as the value -1 (parseArgs would call it ambiguous): negative numbers are values. */
function joinNegativeValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (/^--[\w-]+$/.test(a) && /^-(\d|\.\d|Infinity)/.test(argv[i + 1] ?? '')) out.push(`${a}=${argv[++i]}`);
    else out.push(a);
  }
  return out;
}

async function cmdRun(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: joinNegativeValues(argv),
      options: {
        weights: { type: 'string' }, data: { type: 'string' }, input: { type: 'string' }, heads: { type: 'string' },
        mean: { type: 'string' }, std: { type: 'string' },
        precision: { type: 'string' }, layernorm: { type: 'string' }, ep: { type: 'string' },
        json: { type: 'string' }, 'save-onnx': { type: 'string' }, 'max-block-error': { type: 'string' },
        tolerance: { type: 'string' }, 'device-id': { type: 'string' }, 'trt-cache': { type: 'string' },
        'prescale-shift': { type: 'string' }, 'fp32-ops': { type: 'string' }, attention: { type: 'string' },
        accumulate: { type: 'string' }, 'fix-layernorms': { type: 'string' }, 'no-stats': { type: 'boolean' }, repeat: { type: 'string' }, 'no-confirm': { type: 'boolean' },
        quiet: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  if (values.help) {
    process.stdout.write(`${RUN_USAGE}\n`);
    return 0;
  }
  if (!values.weights) throw new UsageError('run needs --weights');
  if (values.data && values.input) throw new UsageError('--input is the clip to use without test data; with --data, the test data\'s video is the clip');
  if (values.data && (values.mean || values.std)) throw new UsageError('--mean/--std normalize uint8 frames given with --input; with --data, the test data\'s video is already the model\'s input');
  const modes = layerNormChoices(values.layernorm ?? 'plain');
  const fix = values['fix-layernorms']?.split(',').map((s) => s.trim()).filter(Boolean);
  const base: PipelineOptions = {
    weights: values.weights, data: values.data, input: values.input,
    heads: num('--heads', values.heads, true),
    precision: (values.precision ?? 'fp32') as Precision,
    ep: (values.ep ?? 'cpu') as EpChoice,
    tolerance: num('--tolerance', values.tolerance),
    deviceId: num('--device-id', values['device-id'], true),
    trtCacheDir: values['trt-cache'], saveOnnx: values['save-onnx'],
    prescaleShift: num('--prescale-shift', values['prescale-shift'], true),
    attention: (values.attention ?? 'decomposed') as 'decomposed' | 'fused',
    fp32Ops: values['fp32-ops']?.split(',').map((s) => s.trim()).filter(Boolean),
    mean: numList('--mean', values.mean), std: numList('--std', values.std),
    accumulate: (values.accumulate ?? 'fp32') as Accumulate,
    probes: values['no-stats'] ? false : undefined,
    repeat: num('--repeat', values.repeat, true),
    layerNormOverrides: fix && Object.fromEntries(fix.map((n) => [n, 'fp32' as LayerNormMode])),
    confirmMinimalFix: values['no-confirm'] ? false : undefined,
  };
  // Everything is checked before the first run: a typo must not cost a whole run.
  validateOptions(base, FLAG_NAMES);
  for (const m of modes) if (m !== 'minimal') validateOptions({ layerNorm: m }, { layerNorm: '--layernorm' });
  const maxBlockError = values['max-block-error'] === undefined ? undefined : checkTolerance(num('--max-block-error', values['max-block-error']), '--max-block-error');
  if (values.json) checkOutputPath(values.json, '--json');
  if (values['save-onnx']) checkOutputPath(values['save-onnx'], '--save-onnx');

  const failed: string[] = [];
  const done: Report[] = [];
  const reports = await runModes(base, modes, {
    log: values.quiet ? undefined : (l) => err(`  ${l}\n`),
    onResult: ({ report }) => {
      out(formatTable(report, { choice: modes[done.length] }) + '\n' + formatCost(report, base.repeat) + '\n\n');
      done.push(report);
      // rewritten after every mode: a long multi-mode run that is stopped keeps what it finished
      if (values.json && modes.length > 1) fs.writeFileSync(values.json, reportToJson(done));
      let bad = report.diagnosis.verdict === 'fail';
      if (maxBlockError !== undefined) {
        const worst = Math.max(...report.blocks.map((b) => b.relL2), report.probs.relL2);
        if (!(worst <= maxBlockError)) {
          bad = true;
          out(`max error ${worst.toExponential(2)} exceeds --max-block-error ${maxBlockError}\n`);
        }
      }
      if (bad) failed.push(modes[done.length - 1] ?? report.run.layerNorm);
    },
  });
  if (values.json) fs.writeFileSync(values.json, reportToJson(reports.length === 1 ? reports[0] : reports));
  if (modes.length > 1) {
    const passed = modes.filter((m) => !failed.includes(m));
    process.stdout.write(`overall: ${failed.length ? 'FAIL' : 'PASS'} — ${failed.length ? `fails: ${failed.join(', ')}` : ''}${failed.length && passed.length ? '; ' : ''}${passed.length ? `passes: ${passed.join(', ')}` : ''}\n`);
  }
  return failed.length ? 1 : 0;
}

/** Below this many bytes of weights the peak memory is onnxruntime's and Node's own, and a ratio to the weights says nothing. */
export const RATIO_MIN_WEIGHT_BYTES = 64 * 2 ** 20;

/** `--layernorm plain,all,minimal` -> the modes to run, in order, each once; an unknown name is refused with the valid ones. */
export function layerNormChoices(arg: string): LayerNormChoice[] {
  const out: LayerNormChoice[] = [];
  for (const m of arg.split(',').map((x) => x.trim())) {
    if (!LAYERNORM_CHOICES.includes(m)) throw new LabError('BAD_OPTION', `--layernorm must be one of ${LAYERNORM_CHOICES.join(', ')} (or several, comma-separated); got '${m}'`);
    for (const c of m === 'all' ? ALL_MODES : [m as LayerNormChoice]) if (!out.includes(c)) out.push(c);
  }
  return out;
}

/**
 * What the run cost: each stage's seconds (with --repeat, the median of the `repeat` runs after the
 * first), the peak memory against the checkpoint's weights, and what left the engine.
 */
export function formatCost(r: Report, repeat?: number): string {
  const t = r.run.timings;
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const MiB = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  // referenceMs is our FP32 graph's run on the CPU: the reference itself without test data; with test data, the probe run the statistics come from
  const fp32Run = r.inputs.reference.kind === 'self' ? 'reference (fp32 run)' : 'fp32 probe run';
  const parts = [`read ${s(t.readMs)}`, ...(t.headsMs >= 1 ? [`heads ${s(t.headsMs)}`] : []), ...(t.referenceMs >= 1 ? [`${fp32Run} ${s(t.referenceMs)}`] : []),
    `graph ${s(t.buildGraphMs)}`, `session ${s(t.sessionMs)}`, `run ${s(t.runMs)}`,
    ...(t.warmRunMs !== undefined ? [`warm median ${t.warmRunMs.toFixed(1)} ms${repeat ? ` (${repeat} more run${repeat > 1 ? 's' : ''})` : ''}`] : []),
    `compare ${s(t.compareMs)}`];
  let line = `time: ${parts.join(', ')}; total ${s(t.totalMs)}`;
  if (t.peakRssBytes) {
    const w = r.inputs.weightBytes;
    // the ratio only where it informs: for a small model the runtime's own memory is most of the peak
    line += `; peak RSS ${MiB(t.peakRssBytes)}${w && w >= RATIO_MIN_WEIGHT_BYTES ? ` (${(t.peakRssBytes / w).toFixed(2)}× the checkpoint's ${MiB(w)} of weights)` : ''}`;
    // the weight store in /dev/shm is RAM the RSS does not count: both, and their sum (an upper bound)
    if (t.storeBytes && t.storeInMemory) line += ` + weight store ${MiB(t.storeBytes)} in RAM (a tmpfs) = ${MiB(t.peakRssBytes + t.storeBytes)} at most`;
  }
  if (t.helperPeakRssBytes) line += `; the GPU helper process (half the modes' sessions) peaked at ${MiB(t.helperPeakRssBytes)} of its own`;
  if (r.run.outputBytes !== undefined) line += `; ${MiB(r.run.outputBytes)} of outputs left the engine`;
  if (t.confirmMs !== undefined) line += `; then the minimal fix's confirmation run ${s(t.confirmMs)}${t.confirmPeakRssBytes ? ` (peak RSS ${MiB(t.confirmPeakRssBytes)})` : ''}`;
  return line;
}

async function cmdProviders(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write('usage: timesformer-lab providers\n  lists the execution providers (tensorrt, cuda, webgpu, cpu) and whether each loads here, with the reason when not\n');
    return 0;
  }
  if (argv.length) throw new UsageError(`providers takes no arguments; got '${argv[0]}'`);
  const { probeProviders } = await import('./core/engine/session');
  for (const p of await probeProviders()) process.stdout.write(`${p.ep.padEnd(9)} ${p.available ? 'available' : 'unavailable: ' + p.reason}\n`);
  return 0;
}

/**
 * `run` options that trtexec's run (trt-run) does not take: `run --ep trtexec` refuses them by name
 * here, before handing over, rather than trt-run's parser calling them unknown while `run --help`
 * lists them.
 */
export const RUN_ONLY_OPTIONS = ['mean', 'std', 'save-onnx', 'max-block-error', 'device-id', 'prescale-shift', 'fp32-ops', 'attention', 'accumulate', 'fix-layernorms', 'no-stats', 'repeat', 'no-confirm'] as const;

function refuseRunOnly(argv: string[]): void {
  const given = RUN_ONLY_OPTIONS.filter((o) => argv.some((a) => a === `--${o}` || a.startsWith(`--${o}=`)));
  if (given.length) {
    throw new LabError('BAD_OPTION', `${given.map((o) => `--${o}`).join(', ')}: not with --ep trtexec (trtexec's run takes --weights, --data or --input, --heads, --precision, --layernorm, --tolerance, --json, --trtexec, --trt-cache and --quiet; see timesformer-lab trt-run --help)`);
  }
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const trtexec = cmd === 'trt-run' || (cmd === 'run' && rest.some((a, i) => a === '--ep=trtexec' || (a === '--ep' && rest[i + 1] === 'trtexec')));
  try {
    // `run --ep trtexec` is trtexec's run (trtexec-cli.ts): another engine than the pipeline's providers
    if (trtexec) {
      if (cmd === 'run' && !rest.includes('--help') && !rest.includes('-h')) refuseRunOnly(rest);
      return await (await import('./trtexec-cli')).cmdTrtRun(rest);
    }
    if (cmd === 'run') return await cmdRun(rest);
    if (cmd === 'providers') return await cmdProviders(rest);
    if (cmd === 'sweep') return await (await import('./sweep-cli')).cmdSweep(rest, { out, err }, (m) => new UsageError(m));
    if (cmd === 'export-onnx') {
      if (rest.includes('--help') || rest.includes('-h')) {
        process.stdout.write(`${USAGE}\n`);
        return 0;
      }
      return await (await import('./export-cli')).cmdExportOnnx(rest);
    }
    if (cmd === 'export-trt') return await (await import('./trt-cli')).cmdExportTrt(rest);
    if (cmd === 'import') return await (await import('./trt-cli')).cmdImport(rest);
    if (cmd === '--help' || cmd === '-h' || cmd === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if (cmd === undefined) throw new UsageError('no command given');
    throw new UsageError(`unknown command '${cmd}' (the commands are run, sweep, export-onnx, export-trt, import, trt-run and providers)`);
  } catch (e) {
    if (e instanceof UsageError || (e instanceof TypeError && /ERR_PARSE_ARGS/.test((e as NodeJS.ErrnoException).code ?? ''))) {
      err(`error: ${e.message}\n${trtexec ? 'see: timesformer-lab trt-run --help' : cmd === 'run' || cmd === 'sweep' ? `see: timesformer-lab ${cmd} --help` : USAGE}\n`);
    } else if (isLabError(e)) err(`error [${e.code}]: ${e.message}\n`);
    else err(`error [INTERNAL]: ${e instanceof Error ? e.message : String(e)} (an internal error: please report it with the command line)\n`);
    return 2;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
