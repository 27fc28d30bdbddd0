/**
 * End to end at full size: the CLI, from process start to the Report, on the generated full-size
 * checkpoint with a massive activation planted, for one LayerNorm mode and for all five.
 *
 *   node out/scripts/bench/bench-e2e.js [--weights CKPT.pyth] [--data test_data.p] [--runs cpu:fp32:plain,cpu:fp16:plain,cpu:fp16:all]
 *     [--repeat 1] [--baseline torch.json] [--json e2e.json] [--heads 12] [--timeout-s 300]
 *
 * Each run is one CLI process (`cli.js run --weights CKPT --ep EP --precision P --layernorm MODES`),
 * timed from spawn to exit. Without test data the reference is our FP32 graph on the CPU EP, on a
 * synthetic clip: extra work by design. With `@data` the run is given --data (a PyTorch
 * test_data.p of the same checkpoint, scripts/make_test_data.py): the reference then costs
 * nothing, as in issue 11's "before" table — but a failing FP16 mode still runs our FP32 graph on
 * the CPU once, for the healthy LayerNorm statistics its diagnosis and minimal fix are read from.
 * It prints, per run: wall time; each stage (summed over the modes); the minimal fix's
 * confirmation run apart (a failing plain mode runs a second engine by design, issue 8) and the wall
 * time without it; peak RSS (the process's maxRSS, from the Report, before the confirmation run)
 * against the checkpoint's weight bytes (and the GPU helper process's own peak, where a multi-mode
 * GPU run used it: a second process, not in the first); end to end against session + inference; the bytes of
 * outputs that left the engine; and inference against PyTorch eager measured in the same device
 * run (bench_torch.py's JSON, --baseline). The inference here is the engine's first run, as the
 * CLI does it (on WebGPU it includes shader compilation).
 *
 * Flags after `@`: `@data` passes --data; `@no-confirm` passes --no-confirm (a failing FP16 mode
 * then skips the run that confirms the minimal fix); `@gpu-outputs` sets
 * TIMESFORMER_LAB_GPU_OUTPUTS=gpu (WebGPU outputs left on the GPU and read back one by one: it
 * ended the process natively with onnxruntime-node 1.30 on the H200, so it is no longer the
 * default); `@one-process` sets TIMESFORMER_LAB_GPU_HELPER=0 (several modes on a GPU provider
 * then run in the CLI's process only, without the GPU helper process); `@threads=N` sets TIMESFORMER_LAB_THREADS=N (worker threads for reading the weights
 * and comparing; 0: all on the main thread).
 *
 * Without --weights the checkpoint is generated once (gen-checkpoint.ts: full size, seed 1,
 * blocks.5.mlp.fc2.bias[21] = 300) into the temporary folder and reused (the same file as
 * scripts/device/fullsize-check.sh's).
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { parseReportJson, type Report } from '../../extension/core/report';
import { FULL_SIZE, writeCheckpoint } from '../fixtures/gen-checkpoint';

interface RunSpec {
  ep: string;
  precision: string;
  /** One mode, a comma list, or 'all'. */
  layerNorm: string;
  /** `@data`: with the test data given by --data. */
  data: boolean;
  /** `@no-confirm`: no minimal-fix confirmation run. */
  noConfirm: boolean;
  /** `@gpu-outputs`: WebGPU outputs left on the GPU (TIMESFORMER_LAB_GPU_OUTPUTS=gpu). */
  gpuOutputs: boolean;
  /** `@one-process`: no GPU helper process (TIMESFORMER_LAB_GPU_HELPER=0). */
  oneProcess: boolean;
  /** `@threads=N`: TIMESFORMER_LAB_THREADS=N. */
  threads?: number;
}

interface Outcome {
  spec: RunSpec;
  label: string;
  repeat: number;
  code: number | null;
  wallMs: number;
  error?: string;
  reports: Report[];
}

const DEFAULT_RUNS = 'cpu:fp32:plain,cpu:fp16:plain,cpu:fp16:all';

export function parseRuns(s: string): RunSpec[] {
  return s.split(',').map((r) => r.trim()).filter(Boolean).map((r) => {
    const [spec, ...flags] = r.split('@');
    const [ep, precision, layerNorm] = spec.split(':');
    const threads = flags.find((f) => /^threads=\d+$/.test(f));
    if (!ep || !precision || !layerNorm || flags.some((f) => !['data', 'no-confirm', 'gpu-outputs', 'one-process'].includes(f) && f !== threads)) {
      throw new Error(`--runs: '${r}' is not ep:precision:layernorm[@data][@no-confirm][@gpu-outputs][@one-process][@threads=N] (e.g. webgpu:fp16:all@data)`);
    }
    return {
      ep, precision, layerNorm: layerNorm.replace(/\+/g, ','), data: flags.includes('data'), noConfirm: flags.includes('no-confirm'),
      gpuOutputs: flags.includes('gpu-outputs'), oneProcess: flags.includes('one-process'), ...(threads ? { threads: Number(threads.slice('threads='.length)) } : {}),
    };
  });
}

/** How a run reads in the tables: `webgpu fp16 plain data no-confirm threads=0`. */
export function runLabel(spec: RunSpec): string {
  return [spec.ep, spec.precision, spec.layerNorm, spec.data ? 'data' : '', spec.noConfirm ? 'no-confirm' : '', spec.gpuOutputs ? 'gpu-outputs' : '', spec.oneProcess ? 'one-process' : '',
    spec.threads !== undefined ? `threads=${spec.threads}` : ''].filter(Boolean).join(' ');
}

function log(s: string): void {
  process.stderr.write(`[bench-e2e ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
}

function runCli(cli: string, args: string[], timeoutS: number, env: NodeJS.ProcessEnv): Promise<{ code: number | null; wallMs: number; stderr: string }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutS * 1000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, wallMs: performance.now() - t0, stderr });
    });
  });
}

const sum = (rs: Report[], f: (r: Report) => number) => rs.reduce((a, r) => a + f(r), 0);
const sec = (ms: number) => (ms / 1000).toFixed(2);

/** One row per run: the numbers the issue asks for. */
export function summarize(o: Outcome, torch: { fp32_ms?: number; fp16_ms?: number } | null): Record<string, number | string | undefined> {
  const rs = o.reports;
  const t = (k: Exclude<keyof Report['run']['timings'], 'warmRunMs' | 'storeInMemory'>) => sum(rs, (r) => r.run.timings[k] ?? 0);
  // the weight store (RAM when in /dev/shm, not in the RSS): one per pipeline call, shared by its modes
  const store = Math.max(0, ...rs.map((r) => (r.run.timings.storeInMemory ? r.run.timings.storeBytes ?? 0 : 0)));
  const weightBytes = rs[0]?.inputs.weightBytes;
  const peak = Math.max(0, ...rs.map((r) => r.run.timings.peakRssBytes ?? 0));
  const sessionRun = t('sessionMs') + t('runMs');
  const confirm = t('confirmMs');
  const torchMs = o.spec.precision === 'fp32' ? torch?.fp32_ms : torch?.fp16_ms;
  const ran = rs[0]?.run.ep;
  return {
    run: ran && ran !== o.spec.ep ? `${o.label} (ran on ${ran})` : o.label,
    modes: rs.length,
    wall_s: o.wallMs / 1000,
    confirm_s: confirm / 1000,
    wall_without_confirm_s: (o.wallMs - confirm) / 1000,
    read_s: t('readMs') / 1000,
    reference_s: t('referenceMs') / 1000,
    graph_s: t('buildGraphMs') / 1000,
    session_s: t('sessionMs') / 1000,
    inference_s: t('runMs') / 1000,
    compare_s: t('compareMs') / 1000,
    peak_rss_mb: peak / 2 ** 20,
    store_mb: store / 2 ** 20,
    rss_plus_store_mb: (peak + store) / 2 ** 20,
    rss_over_weights: weightBytes ? peak / weightBytes : undefined,
    confirm_peak_rss_mb: Math.max(0, ...rs.map((r) => r.run.timings.confirmPeakRssBytes ?? 0)) / 2 ** 20 || undefined,
    helper_rss_mb: Math.max(0, ...rs.map((r) => r.run.timings.helperPeakRssBytes ?? 0)) / 2 ** 20 || undefined,
    e2e_over_session_inference: sessionRun ? (o.wallMs - confirm) / sessionRun : undefined,
    output_mb: sum(rs, (r) => r.run.outputBytes ?? 0) / 2 ** 20,
    inference_over_torch: torchMs && rs.length ? t('runMs') / rs.length / torchMs : undefined,
  };
}

function table(rows: Record<string, number | string | undefined>[]): string {
  const cols: [string, string, number][] = [
    ['run', 'run', 0], ['modes', 'modes', 0], ['wall_s', 'wall s', 2], ['confirm_s', 'confirm', 2], ['wall_without_confirm_s', 'wall-confirm', 2], ['read_s', 'read', 2], ['reference_s', 'ref', 2], ['graph_s', 'graph', 2],
    ['session_s', 'session', 2], ['inference_s', 'infer', 2], ['compare_s', 'compare', 2], ['peak_rss_mb', 'peak RSS MB', 0], ['store_mb', 'store MB', 0], ['rss_plus_store_mb', 'RSS+store MB', 0],
    ['rss_over_weights', 'RSS/weights', 2], ['helper_rss_mb', 'helper MB', 0], ['e2e_over_session_inference', 'e2e/(sess+inf)', 2], ['output_mb', 'out MB', 0], ['inference_over_torch', 'inf/torch', 1],
  ];
  const cell = (v: number | string | undefined, d: number) => (v === undefined ? '-' : typeof v === 'number' ? v.toFixed(d) : v);
  const body = rows.map((r) => cols.map(([k, , d]) => cell(r[k], d)));
  const w = cols.map(([, h], i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (c: string[]) => c.map((s, i) => (i === 0 ? s.padEnd(w[i]) : s.padStart(w[i]))).join('  ');
  return [line(cols.map(([, h]) => h)), w.map((n) => '-'.repeat(n)).join('  '), ...body.map(line)].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      weights: { type: 'string' }, data: { type: 'string' }, runs: { type: 'string' }, repeat: { type: 'string' }, baseline: { type: 'string' }, json: { type: 'string' },
      heads: { type: 'string' }, 'timeout-s': { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(fs.readFileSync(__filename, 'utf8').split('*/')[0]);
    return;
  }
  const runs = parseRuns(values.runs ?? DEFAULT_RUNS);
  if (runs.some((r) => r.data) && !(values.data && fs.existsSync(values.data))) {
    throw new Error(`runs with @data need --data TEST_DATA.p (an existing file; scripts/make_test_data.py makes one from PyTorch)${values.data ? `: ${values.data} does not exist` : ''}`);
  }
  const repeat = Math.max(1, Number(values.repeat ?? 1) || 1);
  const timeoutS = Number(values['timeout-s'] ?? 300) || 300;
  const cli = path.join(__dirname, '..', '..', 'extension', 'cli.js');
  let weights = values.weights;
  if (!weights) {
    weights = path.join(os.tmpdir(), 'timesformer_full_outlier5.pyth');
    if (!fs.existsSync(weights)) {
      log(`generating the full-size checkpoint with a massive activation (blocks.5.mlp.fc2.bias[21] = 300) into ${weights}`);
      const tmp = `${weights}.part`;
      writeCheckpoint({ ...FULL_SIZE, outlierBlock: 5, outlierChannel: 21, outlierValue: 300 }, tmp);
      fs.renameSync(tmp, weights);
    }
  }
  const torch = values.baseline && fs.existsSync(values.baseline) ? (JSON.parse(fs.readFileSync(values.baseline, 'utf8')) as { fp32_ms?: number; fp16_ms?: number; device?: string }) : null;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsf-e2e-'));
  const outcomes: Outcome[] = [];
  log(`node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}, weights ${weights} (${(fs.statSync(weights).size / 1e6).toFixed(0)} MB)`);
  try {
    for (let k = 0; k < repeat; k++) {
      for (const spec of runs) {
        const label = runLabel(spec);
        const json = path.join(tmp, 'report.json');
        fs.rmSync(json, { force: true });
        const args = ['run', '--weights', weights, '--ep', spec.ep, '--precision', spec.precision, '--layernorm', spec.layerNorm, '--json', json, '--quiet'];
        if (values.heads) args.push('--heads', values.heads);
        if (spec.noConfirm) args.push('--no-confirm');
        if (spec.data) args.push('--data', values.data!);
        const env: NodeJS.ProcessEnv = { ...process.env };
        if (spec.gpuOutputs) env.TIMESFORMER_LAB_GPU_OUTPUTS = 'gpu';
        if (spec.oneProcess) env.TIMESFORMER_LAB_GPU_HELPER = '0';
        if (spec.threads !== undefined) env.TIMESFORMER_LAB_THREADS = String(spec.threads);
        log(`start ${label}${repeat > 1 ? ` (#${k + 1})` : ''}`);
        const r = await runCli(cli, args, timeoutS, env);
        const o: Outcome = { spec, label, repeat: k, code: r.code, wallMs: r.wallMs, reports: [] };
        if (fs.existsSync(json)) {
          const v = parseReportJson<Report | Report[]>(fs.readFileSync(json, 'utf8'));
          o.reports = Array.isArray(v) ? v : [v];
        } else o.error = `exit ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`;
        outcomes.push(o);
        if (values.json) writeJson(values.json, weights, values.data, torch, outcomes);
        log(`done  ${label}: ${sec(r.wallMs)} s wall${o.error ? `; ${o.error}` : ''}`);
        for (const rep of o.reports) {
          const t = rep.run.timings;
          log(`        ${rep.run.layerNorm.padEnd(9)} on ${rep.run.ep}: read ${sec(t.readMs)}, reference ${sec(t.referenceMs)}, graph ${sec(t.buildGraphMs)}, ` +
            `session ${sec(t.sessionMs)}, inference ${sec(t.runMs)}, compare ${sec(t.compareMs)}, total ${sec(t.totalMs)} s; ` +
            `peak RSS ${((t.peakRssBytes ?? 0) / 2 ** 20).toFixed(0)} MB; ${((rep.run.outputBytes ?? 0) / 2 ** 20).toFixed(0)} MB out; ` +
            `${t.confirmMs !== undefined ? `confirmation run ${sec(t.confirmMs)} s (peak RSS ${((t.confirmPeakRssBytes ?? 0) / 2 ** 20).toFixed(0)} MB); ` : ''}${rep.diagnosis.verdict}` +
            `${rep.diagnosis.firstBadBlock !== null ? ` at block ${rep.diagnosis.firstBadBlock}` : ''}`);
        }
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const rows = outcomes.map((o) => summarize(o, torch));
  console.log(table(rows));
  if (torch) console.log(`PyTorch eager (same run, ${torch.device ?? '?'}): fp32 ${torch.fp32_ms?.toFixed(2) ?? '-'} ms, fp16 ${torch.fp16_ms?.toFixed(2) ?? '-'} ms per clip`);
  const weightBytes = outcomes.find((o) => o.reports.length)?.reports[0].inputs.weightBytes;
  if (weightBytes) {
    console.log(`checkpoint weights: ${(weightBytes / 2 ** 20).toFixed(0)} MiB; wall = CLI process start to exit; stages summed over the modes of a run; ` +
      'confirm = the minimal fix\'s confirmation run (peak RSS is before it); e2e/(sess+inf) without it');
  }
  for (const o of outcomes) if (o.error) console.log(`${o.label}: ${o.error}`);
  if (values.json) writeJson(values.json, weights, values.data, torch, outcomes);
  if (outcomes.some((o) => o.error)) process.exitCode = 1;
}

/** Everything measured so far (rewritten after each run, so that a run cut short keeps the earlier ones). */
function writeJson(file: string, weights: string, data: string | undefined, torch: { fp32_ms?: number; fp16_ms?: number } | null, outcomes: Outcome[]): void {
  fs.writeFileSync(file, JSON.stringify({
    date: new Date().toISOString(), host: os.hostname(), cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, load: os.loadavg(), weights, data, torch,
    rows: outcomes.map((o) => summarize(o, torch)),
    runs: outcomes.map((o) => ({ ...o, reports: o.reports.map((r) => ({ run: r.run, inputs: r.inputs, blocks: r.blocks.map((b) => b.relL2), probs: r.probs, diagnosis: r.diagnosis.sentence })) })),
  }, null, 1));
}

if (require.main === module) {
  main().catch((e) => {
    console.error(`bench-e2e: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    process.exit(1);
  });
}
