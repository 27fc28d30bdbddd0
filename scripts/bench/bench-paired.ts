/**
 * Where a sweep's time goes (issue 21, ≥ 10 clips/s): the sweep's paired graph (FP16 engine + FP32
 * reference + the comparison inside it) timed against its parts at the same batch — the graph
 * under test alone and the reference alone (each with its statistics outputs), and each without
 * any (bare), with decomposed and fused attention — and, with --profile, onnxruntime's own profile
 * of one paired run summed by operator type (the node events; on WebGPU, the GPU kernel events
 * where the provider gives them).
 *
 *   node out/scripts/bench/bench-paired.js [--size full|small] [--ep webgpu] [--batches 1,8] [--runs 5] [--profile] [--json F]
 *
 * Every variant is built through the sweep's own SweepEngines, so it is the graph a sweep runs.
 * Times are the engine's run() (outputs read back included), median of --runs after 2 warm-ups.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { graphOptions, prepare, type LoadedModel } from '../../extension/core/pipeline';
import { createEngine } from '../../extension/core/engine/session';
import { buildTimeSformer, type BuiltGraph } from '../../extension/core/model/timesformer';
import { pairGraphs } from '../../extension/core/model/paired-graph';
import { WeightStore } from '../../extension/core/model/weight-store';
import { SweepEngines, type Kept } from '../../extension/core/sweep/engines';
import type { EpChoice, ModelConfig, PipelineOptions } from '../../extension/core/report';
import { writeSweepFixture } from '../fixtures/gen-sweep-fixture';
import { median } from './median';

interface Variant {
  name: string;
  kind: 'paired' | 'mode' | 'reference' | 'apart';
  o: Partial<PipelineOptions>;
}

const VARIANTS: Variant[] = [
  { name: 'paired (the sweep)', kind: 'paired', o: {} },
  { name: 'paired, outputs apart (before)', kind: 'apart', o: {} },
  { name: 'paired, fused attention', kind: 'paired', o: { attention: 'fused' } },
  { name: 'test graph with statistics', kind: 'mode', o: {} },
  { name: 'reference with statistics', kind: 'reference', o: {} },
  { name: 'test graph bare', kind: 'mode', o: { probes: false } },
  { name: 'reference bare', kind: 'mode', o: { precision: 'fp32', probes: false } },
  { name: 'test graph bare, fused attention', kind: 'mode', o: { probes: false, attention: 'fused' } },
  { name: 'reference bare, fused attention', kind: 'mode', o: { precision: 'fp32', probes: false, attention: 'fused' } },
];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { size: { type: 'string' }, ep: { type: 'string' }, batches: { type: 'string' }, runs: { type: 'string' }, profile: { type: 'boolean' }, only: { type: 'string' }, json: { type: 'string' } },
    strict: true,
  });
  const size = values.size ?? 'full';
  const ep = (values.ep ?? 'cpu') as EpChoice;
  const runs = Number(values.runs ?? 5);
  const batches = (values.batches ?? '8').split(',').map(Number);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-paired-'));
  const full = { embed: 768, depth: 12, frames: 8, image: 224, classes: 400, outlierValue: 200 };
  const fx = writeSweepFixture(dir, 0, size === 'full' ? full : {});
  const po: PipelineOptions = {
    weights: fx.weights, input: 'synthetic:1', precision: 'fp16', layerNorm: 'plain', accumulate: 'fp32', ep, heads: size === 'full' ? 12 : undefined,
    probes: true, confirmMinimalFix: false,
  } as PipelineOptions;
  const p = await prepare(po, {});
  const config = p.config;
  const one = p.video.data;
  const rows: Record<string, unknown>[] = [];
  const only = values.only ? new RegExp(values.only) : undefined;
  try {
    for (const B of batches) {
      const feed = new Float32Array(B * one.length);
      for (let b = 0; b < B; b++) feed.set(one, b * one.length);
      for (const v of VARIANTS) {
        if (only && !only.test(v.name)) continue;
        const engines = new SweepEngines(p.model);
        const o: PipelineOptions = { ...po, ...v.o };
        const t0 = performance.now();
        let k: Kept;
        try {
          k = v.kind === 'apart' ? await apart(p.model, config, B, o)
            : v.kind === 'paired' ? await engines.paired(config, B, o, 'bench') : v.kind === 'reference' ? await engines.reference(config, B, o, ep) : await engines.mode(config, B, o, 'bench');
        } catch (e) {
          console.log(`[bench-paired] B=${B} ${v.name}: not built (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
          await engines.close();
          continue;
        }
        const buildMs = performance.now() - t0;
        const dims = { [k.g.inputName]: [B, ...p.video.shape.slice(1)] };
        const times: number[] = [];
        let outputs = 0;
        for (let i = 0; i < runs + 2; i++) {
          const t = performance.now();
          const out = await k.engine.run({ [k.g.inputName]: feed }, dims);
          if (i >= 2) times.push(performance.now() - t);
          outputs = out.size;
        }
        const ms = median(times);
        const row = { batch: B, variant: v.name, ms, msPerClip: ms / B, minMs: Math.min(...times), buildMs, outputs, outputBytes: k.engine.outputBytes };
        rows.push(row);
        console.log(`[bench-paired] B=${B} ${v.name.padEnd(34)} ${ms.toFixed(1).padStart(8)} ms (${(ms / B).toFixed(1)} ms/clip, min ${row.minMs.toFixed(1)}); ${outputs} outputs, ${(k.engine.outputBytes / 1024).toFixed(0)} KiB; built in ${(buildMs / 1000).toFixed(1)} s`);
        await engines.close();
        if (v.kind === 'apart') await k.engine.release();
      }
    }
    if (values.profile) {
      // one paired run profiled: onnxruntime writes its trace when the session ends
      const B = batches[batches.length - 1];
      const prefix = path.join(dir, 'ort-profile');
      process.env.TIMESFORMER_LAB_ORT_PROFILE = prefix;
      const engines = new SweepEngines(p.model);
      const k = await engines.paired(config, B, po, 'profile');
      const feed = new Float32Array(B * one.length);
      for (let b = 0; b < B; b++) feed.set(one, b * one.length);
      for (let i = 0; i < 3; i++) await k.engine.run({ [k.g.inputName]: feed }, { [k.g.inputName]: [B, ...p.video.shape.slice(1)] });
      await engines.close();
      delete process.env.TIMESFORMER_LAB_ORT_PROFILE;
      const files = fs.readdirSync(dir).filter((f) => f.startsWith('ort-profile') && f.endsWith('.json'));
      if (!files.length) console.log('[bench-paired] profile: onnxruntime wrote no trace');
      for (const f of files) summarize(path.join(dir, f), 3);
    }
  } finally {
    p.close();
  }
  if (values.json) fs.writeFileSync(values.json, JSON.stringify({ size, ep, runs, rows, node: process.version }, null, 1));
}

/** The paired graph as SweepEngines builds it, but with its ~200 outputs apart (pairGraphs' pack: false). */
async function apart(model: LoadedModel, config: ModelConfig, B: number, o: PipelineOptions): Promise<Kept> {
  const w = model.weights;
  let g: BuiltGraph | undefined;
  const engine = await createEngine({
    ep: o.ep ?? 'cpu', precision: o.precision ?? 'fp16', layerNorm: 'plain', probes: true, layerNormModes: ['plain'],
    buildModel: (realization) => {
      const perClip = { probesPerClip: true };
      const test = buildTimeSformer(w, graphOptions(config, B, o, realization, perClip));
      const ro: PipelineOptions = { ...o, precision: 'fp32', layerNorm: 'plain', layerNormOverrides: undefined, probes: true };
      g = pairGraphs(test, buildTimeSformer(w, graphOptions(config, B, ro, 'fp32', perClip)), w instanceof WeightStore ? w : undefined, { pack: false }).test;
      return g.source;
    },
  });
  return { engine, g: g!, batch: B };
}

/**
 * A GPU kernel event's name is "node&op&program" (WebGPU EP): keyed by the graph it belongs to
 * (the model under test, the reference, the comparison) and its op and program; other names by
 * their scope alone.
 */
function kernelKey(name: string): string {
  const n = name.replace(/_kernel_time$/, '');
  const scope = n.startsWith('/ref/') ? 'ref' : n.startsWith('/compare') ? 'compare' : n.startsWith('/model') ? 'model' : 'other';
  const parts = n.split('&');
  return parts.length > 1 ? `${scope} ${parts.slice(1).join('&')}` : n.replace(/[/.]blocks\.\d+.*$/, '');
}

interface TraceEvent { cat?: string; name?: string; dur?: number; args?: Record<string, string> }

/** The trace's events summed by category and operator (last run of `runs`: each total divided by runs). */
function summarize(file: string, runs: number): void {
  const ev = JSON.parse(fs.readFileSync(file, 'utf8')) as TraceEvent[];
  const byCat = new Map<string, Map<string, { us: number; n: number }>>();
  for (const e of ev) {
    if (typeof e.dur !== 'number' || !e.cat) continue;
    if (e.cat === 'Session') continue;
    const op = e.args?.op_name ?? e.args?.op_type ?? kernelKey(e.name ?? '');
    const m = byCat.get(e.cat) ?? new Map();
    const a = m.get(op) ?? { us: 0, n: 0 };
    a.us += e.dur;
    a.n++;
    m.set(op, a);
    byCat.set(e.cat, m);
  }
  console.log(`[bench-paired] profile ${path.basename(file)}: ${ev.length} events; per run (of ${runs}, the first with the shaders' compilation):`);
  for (const [cat, m] of byCat) {
    const all = [...m.entries()].sort((a, b) => b[1].us - a[1].us);
    const total = all.reduce((s, [, a]) => s + a.us, 0);
    console.log(`  ${cat}: ${(total / runs / 1000).toFixed(1)} ms over ${all.reduce((s, [, a]) => s + a.n, 0) / runs} events a run`);
    for (const [op, a] of all.slice(0, 40)) console.log(`    ${op.slice(0, 60).padEnd(60)} ${(a.us / runs / 1000).toFixed(2).padStart(9)} ms  ${String(a.n / runs).padStart(6)}×`);
  }
}

main().catch((e) => {
  console.error(`bench-paired: ${e instanceof Error ? e.stack : String(e)}`);
  process.exit(1);
});
