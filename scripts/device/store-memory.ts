/**
 * The memory a run holds, measured from outside as the extension runs it (issue 22.3): the engine
 * process forked by WorkerClient (out/extension/worker.js), its RSS (VmRSS, and RssShmem: the
 * store pages it has mapped, also in the store's figure) and its weight store's folders (allocated
 * bytes, as du counts them) sampled every 100 ms — idle before a run, during an FP16 run (plain,
 * with its minimal fix's confirmation), idle after it, during an Export ONNX for TensorRT and idle
 * after it, until the idle release (TIMESFORMER_LAB_STORE_IDLE_MS, set to 3 s here).
 *
 *   node out/scripts/device/store-memory.js --weights CKPT [--data test_data.p] [--ep cpu] [--heads 12] [--out memory.json]
 *
 * On the GPU machine, full size: MODE=memory bash scripts/device/device-run.sh (see there).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { WorkerClient } from '../../extension/host/runner';
import type { EpChoice } from '../../extension/core/report';

const MiB = 2 ** 20;
const IDLE_MS = 3000;

interface Sample { t: number; phase: string; rss: number; rssShmem: number; store: number; storeDirs: string[] }

function procStatus(pid: number): { rss: number; rssShmem: number } {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), rssShmem: kb('RssShmem') };
  } catch {
    return { rss: 0, rssShmem: 0 };
  }
}

function storeOf(pid: number, parents: string[]): { bytes: number; dirs: string[] } {
  let bytes = 0;
  const dirs: string[] = [];
  for (const p of parents) {
    let names: string[] = [];
    try {
      names = fs.readdirSync(p).filter((n) => n.startsWith(`tsf-lab-w-${pid}-`));
    } catch {
      continue;
    }
    for (const n of names) {
      const d = path.join(p, n);
      dirs.push(d);
      try {
        for (const f of fs.readdirSync(d)) bytes += fs.statSync(path.join(d, f)).blocks * 512;
      } catch {
        /* removed meanwhile */
      }
    }
  }
  return { bytes, dirs };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { weights: { type: 'string' }, data: { type: 'string' }, ep: { type: 'string', default: 'cpu' }, heads: { type: 'string', default: '12' }, out: { type: 'string' } } });
  if (!values.weights) throw new Error('--weights CKPT is required');
  const script = path.join(__dirname, '..', '..', 'extension', 'worker.js');
  const lines: string[] = [];
  const client = new WorkerClient({ script, env: { ...process.env, TIMESFORMER_LAB_STORE_IDLE_MS: String(IDLE_MS) }, log: (l) => lines.push(l) });
  const parents = [...new Set(['/dev/shm', os.tmpdir(), process.env.TIMESFORMER_LAB_WEIGHTS_DIR].filter((x): x is string => !!x))];
  const samples: Sample[] = [];
  let phase = 'idle before';
  const t0 = Date.now();
  const sample = () => {
    const pid = client.pid;
    if (!pid) return;
    const p = procStatus(pid);
    const s = storeOf(pid, parents);
    samples.push({ t: Date.now() - t0, phase, rss: p.rss, rssShmem: p.rssShmem, store: s.bytes, storeDirs: s.dirs });
  };
  const timer = setInterval(sample, 100);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const options = { weights: values.weights, ...(values.data ? { data: values.data } : {}), ep: values.ep as EpChoice, heads: Number(values.heads), precision: 'fp16' as const, layerNorm: 'plain' as const };
  try {
    await client.probe(); // the engine process, up and idle
    await sleep(1000);
    phase = 'FP16 run';
    const { report } = await client.run(options, { onLog: (l) => lines.push(l) });
    phase = 'idle after the run';
    await sleep(2000);
    phase = 'Export ONNX for TensorRT';
    const onnx = path.join(os.tmpdir(), `store-memory-${process.pid}.onnx`);
    await client.exportForTensorRt(options, 'minimal', onnx, { onLog: (l) => lines.push(l) });
    fs.rmSync(onnx, { force: true });
    phase = 'idle after the export';
    await sleep(IDLE_MS + 2000);
    clearInterval(timer);
    sample();
    const phases = [...new Set(samples.map((s) => s.phase))].map((name) => {
      const ss = samples.filter((s) => s.phase === name);
      const peak = ss.reduce((a, s) => (s.rss + s.store > a.rss + a.store ? s : a), ss[0]);
      const last = ss[ss.length - 1];
      return {
        phase: name, samples: ss.length,
        peak_rss_mb: Math.max(...ss.map((s) => s.rss)) / MiB, peak_store_mb: Math.max(...ss.map((s) => s.store)) / MiB,
        peak_rss_plus_store_mb: (peak.rss + peak.store) / MiB, rss_shmem_at_that_peak_mb: peak.rssShmem / MiB,
        last_rss_mb: last.rss / MiB, last_store_mb: last.store / MiB, last_store_dirs: last.storeDirs,
      };
    });
    const t = report.run.timings;
    const result = {
      weights: values.weights, weight_bytes: report.inputs.weightBytes, verdict: report.diagnosis.verdict,
      report: { peak_rss_mb: (t.peakRssBytes ?? 0) / MiB, store_mb: (t.storeBytes ?? 0) / MiB, store_in_memory: t.storeInMemory },
      phases, log: lines.filter((l) => /weight store|peak RSS|released/.test(l)),
    };
    console.log(JSON.stringify(result, null, 2));
    const cols = ['phase', 'peak_rss_mb', 'peak_store_mb', 'peak_rss_plus_store_mb', 'rss_shmem_at_that_peak_mb', 'last_rss_mb', 'last_store_mb'] as const;
    console.log(cols.join('\t'));
    for (const p of phases) console.log(cols.map((c) => (typeof p[c] === 'number' ? (p[c] as number).toFixed(0) : p[c])).join('\t'));
    if (values.out) fs.writeFileSync(values.out, JSON.stringify(result, null, 2));
  } finally {
    clearInterval(timer);
    client.dispose();
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack ?? e.message : String(e));
  process.exit(1);
});
