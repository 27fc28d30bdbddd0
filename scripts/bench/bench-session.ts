/**
 * Where a new mode's session time goes (issue 21: a new mode on the same checkpoint ≤ 1.5 s, of
 * which session creation was 869-902 ms on the H100). With the plain FP16 session kept, as the
 * warm engine process keeps it, the expose mode's engine is built the way the pipeline builds it
 * (buildEngine) under each variant: onnxruntime's graph optimization level, and session config
 * entries. Each variant prints its graph build, session creation, first run (shaders compiled) and
 * steady run, and its outputs' largest difference from the default's, which must be 0 for a
 * variant to be usable without a numerics review.
 *
 *   node out/scripts/bench/bench-session.js [--size full|small] [--ep webgpu] [--rounds 2] [--profile] [--json F]
 *
 * --profile: one more default build with onnxruntime's profiler on, its session events printed.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { prepare } from '../../extension/core/pipeline';
import { buildEngine } from '../../extension/core/pipeline/engine-run';
import { unpackOutputs } from '../../extension/core/model/packed-outputs';
import type { EpChoice, PipelineOptions } from '../../extension/core/report';
import { writeSweepFixture } from '../fixtures/gen-sweep-fixture';
import { median } from './median';

interface Variant {
  name: string;
  env: Record<string, string>;
}

const VARIANTS: Variant[] = [
  { name: 'default', env: {} },
  { name: 'optimization basic', env: { TIMESFORMER_LAB_GRAPH_OPT: 'basic' } },
  { name: 'optimization extended', env: { TIMESFORMER_LAB_GRAPH_OPT: 'extended' } },
  { name: 'optimization disabled', env: { TIMESFORMER_LAB_GRAPH_OPT: 'disabled' } },
  { name: 'initializers by the device allocator', env: { TIMESFORMER_LAB_SESSION_EXTRA: JSON.stringify({ 'session.use_device_allocator_for_initializers': '1' }) } },
  { name: 'no constant folding', env: { TIMESFORMER_LAB_SESSION_EXTRA: JSON.stringify({ 'optimization.disable_specified_optimizers': 'ConstantFolding' }) } },
];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { size: { type: 'string' }, ep: { type: 'string' }, rounds: { type: 'string' }, profile: { type: 'boolean' }, only: { type: 'string' }, json: { type: 'string' } },
    strict: true,
  });
  const size = values.size ?? 'full';
  const ep = (values.ep ?? 'cpu') as EpChoice;
  const rounds = Number(values.rounds ?? 2);
  const only = values.only ? new RegExp(values.only) : undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-session-'));
  const full = { embed: 768, depth: 12, frames: 8, image: 224, classes: 400, outlierValue: 200 };
  const fx = writeSweepFixture(dir, 0, size === 'full' ? full : {});
  const po = {
    weights: fx.weights, input: 'synthetic:1', precision: 'fp16', layerNorm: 'plain', accumulate: 'fp32', ep, heads: size === 'full' ? 12 : undefined,
    probes: true, confirmMinimalFix: false,
  } as PipelineOptions;
  const p = await prepare(po, {});
  const say = (s: string) => { if (process.env.BENCH_VERBOSE) console.log(`  ${s}`); };
  const rows: Record<string, unknown>[] = [];
  // the plain mode's session, kept as the warm engine process keeps it while the toggle's mode is built
  const plain = await buildEngine(p, po, say);
  const feeds = { [plain.g.inputName]: p.video.data };
  const dims = { [plain.g.inputName]: [...p.video.shape] };
  await plain.engine.run(feeds, dims);
  let ref: Map<string, Float32Array> | undefined;
  try {
    for (let r = 0; r < rounds; r++) {
      for (const v of VARIANTS) {
        if (only && !only.test(v.name)) continue;
        const row = await timeVariant(p, { ...po, layerNorm: 'expose' }, v.env, say, (out) => {
          if (!ref) { ref = out; return 0; }
          return maxDiff(ref, out);
        });
        rows.push({ round: r, variant: v.name, ...row });
        console.log(`[bench-session] ${v.name.padEnd(38)} ${row.ep}: graph ${row.graphMs.toFixed(0).padStart(5)} ms, session ${row.sessionMs.toFixed(0).padStart(5)} ms, first run ${row.firstRunMs.toFixed(0).padStart(5)} ms, steady ${row.steadyMs.toFixed(0).padStart(5)} ms; build to first answer ${row.totalMs.toFixed(0)} ms; outputs differ by ${row.diff === null ? 'n/a' : row.diff.toExponential(2)}`);
      }
    }
    if (values.profile) {
      const prefix = path.join(dir, 'ort-profile');
      await timeVariant(p, { ...po, layerNorm: 'expose' }, { TIMESFORMER_LAB_ORT_PROFILE: prefix }, say, () => null);
      for (const f of fs.readdirSync(dir).filter((n) => n.startsWith('ort-profile') && n.endsWith('.json'))) sessionEvents(path.join(dir, f));
    }
  } finally {
    await plain.engine.release();
    p.close();
  }
  if (values.json) fs.writeFileSync(values.json, JSON.stringify({ size, ep, rounds, rows, node: process.version }, null, 1));
}

interface Timed { ep: string; graphMs: number; sessionMs: number; firstRunMs: number; steadyMs: number; totalMs: number; diff: number | null }

async function timeVariant(
  p: Awaited<ReturnType<typeof prepare>>, o: PipelineOptions, env: Record<string, string>, say: (s: string) => void,
  diffOf: (out: Map<string, Float32Array>) => number | null,
): Promise<Timed> {
  Object.assign(process.env, env);
  try {
    const t0 = performance.now();
    const { engine, g } = await buildEngine(p, o, say);
    const feeds = { [g.inputName]: p.video.data };
    const dims = { [g.inputName]: [...p.video.shape] };
    try {
      const t1 = performance.now();
      const out = unpackOutputs(await engine.run(feeds, dims), g.packed);
      const firstRunMs = performance.now() - t1;
      const totalMs = performance.now() - t0;
      const steady: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t = performance.now();
        await engine.run(feeds, dims);
        steady.push(performance.now() - t);
      }
      return { ep: engine.ep, graphMs: engine.buildGraphMs, sessionMs: engine.sessionMs, firstRunMs, steadyMs: median(steady), totalMs, diff: diffOf(out) };
    } finally {
      await engine.release();
    }
  } finally {
    for (const k of Object.keys(env)) delete process.env[k];
  }
}

function maxDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let m = 0;
  for (const [k, x] of a) {
    const y = b.get(k);
    if (!y || y.length !== x.length) return Infinity;
    for (let i = 0; i < x.length; i++) {
      const nx = Number.isNaN(x[i]);
      const ny = Number.isNaN(y[i]);
      if (nx !== ny) return Infinity;
      if (!nx) m = Math.max(m, Math.abs(x[i] - y[i]));
    }
  }
  return m;
}

interface TraceEvent { cat?: string; name?: string; dur?: number }

/** The profile's session events (model loading, session initialization) and their durations. */
function sessionEvents(file: string): void {
  const ev = JSON.parse(fs.readFileSync(file, 'utf8')) as TraceEvent[];
  console.log(`[bench-session] profile ${path.basename(file)}: session events`);
  for (const e of ev) {
    if (e.cat === 'Session' && typeof e.dur === 'number') console.log(`    ${(e.name ?? '').padEnd(40)} ${(e.dur / 1000).toFixed(1).padStart(8)} ms`);
  }
}

main().catch((e) => {
  console.error(`bench-session: ${e instanceof Error ? e.stack : String(e)}`);
  process.exit(1);
});
