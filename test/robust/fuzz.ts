/**
 * Seeded mutation fuzzer over the good fixtures (the four official-code fixtures and the corpus's
 * tiny model in both checkpoint formats), run through the readers in a pool of capped child
 * processes (pool.ts). Only success or a typed LabError is allowed; every case must end within
 * 5 s and allocate at most 2x its file's size + the model's float32 weight bytes (+ ENGINE_ALLOWANCE).
 *
 *   npm run fuzz                       # FUZZ_CASES=200000 by default there; FUZZ_SEED, FUZZ_WORKERS
 *   node out/test/robust/fuzz.js --cases 20000 --seed 7
 *
 * The unit suite runs 10,000 cases (test/unit/robust.test.ts).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadModel } from '../../extension/core/pipeline';
import type { ChildResult, FuzzSeed } from './child';
import { tinyPair } from './corpus';
import { tinyClipNpy, writeTinyHfFolder } from './corpus-hf';
import { runPool } from './pool';

export const CASE_LIMIT_MS = 5000;
/**
 * Memory a case may allocate on top of 2x its file + the model's float32 weight bytes: the JS
 * engine's own working set for one read (code compiled on first use, parser and zip-directory
 * objects), measured at up to ~3.5 MiB over 2,000 cases of the fixtures.
 */
export const ENGINE_ALLOWANCE = 4 * 2 ** 20;

export interface FuzzSummary {
  cases: number;
  seed: number;
  wallMs: number;
  byOutcome: Record<string, number>;
  crashes: ChildResult[];
  hangs: ChildResult[];
  memoryKills: ChildResult[];
  /** Cases over their memory limit (2x file + model weight bytes). */
  overMemory: { result: ChildResult; limit: number }[];
  worstTime: { result: ChildResult; seed: string };
  worstMemory: { result: ChildResult; seed: string; limit: number };
  worstRssGrowth: { result: ChildResult; seed: string };
  /** Cases per seed file (a HF folder's file as folder/file). */
  bySeed: Record<string, number>;
}

interface WeightedSeed extends FuzzSeed {
  weight: number;
  /** The model's float32 weight bytes (the memory allowance on top of 2x the file). */
  modelBytes: number;
}

const FIXTURES = path.resolve(__dirname, '../../../test/fixtures');

/** The seeds: fixtures and the tiny model (written to `dir`), with how often each is picked. */
export async function fuzzSeeds(dir: string): Promise<WeightedSeed[]> {
  const tiny = tinyPair();
  const tw = path.join(dir, 'tiny.pyth');
  const tl = path.join(dir, 'tiny_legacy.pyth');
  const td = path.join(dir, 'tiny_test_data.p');
  fs.writeFileSync(tw, tiny.weights);
  fs.writeFileSync(tl, tiny.legacy);
  fs.writeFileSync(td, tiny.data);
  const fx = (n: string) => path.join(FIXTURES, n);
  const list: [string, 'weights' | 'data', number, string?][] = [
    [tw, 'weights', 3], [tl, 'weights', 2], [td, 'data', 3, tw],
    [fx('d3_half_weights.pyth'), 'weights', 2], [fx('d3_half_weights_test_data.p'), 'data', 2, fx('d3_half_weights.pyth')],
    [fx('d2_legacy.pyth'), 'weights', 1], [fx('d2_legacy_test_data.p'), 'data', 2, fx('d2_legacy.pyth')],
    [fx('d1_outlier.pyth'), 'weights', 1], [fx('d1_outlier_test_data.p'), 'data', 1, fx('d1_outlier.pyth')],
    [fx('d4_geometry.pyth'), 'weights', 1], [fx('d4_geometry_test_data.p'), 'data', 0.5, fx('d4_geometry.pyth')],
  ];
  // HuggingFace folders (each file mutated in place: config.json, preprocessor_config.json,
  // safetensors headers, index files, shards) and a .npy clip (its header)
  const hf: [string, number][] = [];
  for (const kind of ['safetensors', 'safetensors-sharded', 'bin-sharded'] as const) {
    for (const f of writeTinyHfFolder(path.join(dir, `hf-${kind}`), kind)) {
      const name = path.basename(f);
      const weight = name === 'config.json' ? 0.5 : name === 'preprocessor_config.json' ? 0.25 : name.endsWith('.index.json') ? 1 : kind === 'bin-sharded' ? 0.25 : 1;
      hf.push([f, weight]);
    }
  }
  const npy = path.join(dir, 'tiny_clip.npy');
  fs.writeFileSync(npy, tinyClipNpy());
  const bytes = new Map<string, number>();
  const modelBytes = async (w: string) => {
    if (!bytes.has(w)) bytes.set(w, (await loadModel(w)).base.params * 4);
    return bytes.get(w) as number;
  };
  const out: WeightedSeed[] = [];
  for (const [file, stage, weight, model] of list) out.push({ file, stage, weight, model, modelBytes: await modelBytes(stage === 'weights' ? file : (model as string)) });
  const tinyBytes = await modelBytes(tw);
  for (const [file, weight] of hf) out.push({ file, stage: 'weights', folder: path.dirname(file), weight, modelBytes: tinyBytes });
  out.push({ file: npy, stage: 'clip', model: tw, weight: 1.5, modelBytes: tinyBytes });
  return out;
}

function pick(seeds: WeightedSeed[], n: number, seed: number): WeightedSeed {
  // A hash of (seed, n) in [0, 1): the same case number always mutates the same seed file.
  let h = Math.imul(n ^ Math.imul(seed, 0x9e3779b1), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  let x = ((h ^ (h >>> 16)) >>> 0) / 4294967296 * seeds.reduce((s, w) => s + w.weight, 0);
  for (const s of seeds) {
    x -= s.weight;
    if (x < 0) return s;
  }
  return seeds[seeds.length - 1];
}

export async function runFuzz(o: { cases: number; seed: number; workers: number; onProgress?: (done: number) => void }): Promise<FuzzSummary> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fuzz-seeds-'));
  try {
    const seeds = await fuzzSeeds(dir);
    const chosen = Array.from({ length: o.cases }, (_, n) => pick(seeds, n, o.seed));
    const t0 = Date.now();
    let done = 0;
    const results = await runPool(
      chosen.map((s, n) => ({ fuzz: { seed: { file: s.file, stage: s.stage, model: s.model, folder: s.folder }, n: o.seed * 1_000_003 + n } })),
      { workers: o.workers, caseTimeoutMs: CASE_LIMIT_MS, rssCapBytes: 2 * 2 ** 30, heapMB: 1024, onResult: () => o.onProgress?.(++done) },
    );
    const wallMs = Date.now() - t0;
    const byOutcome: Record<string, number> = {};
    const seedName = (w: WeightedSeed) => (w.folder ? `${path.basename(w.folder)}/${path.basename(w.file)}` : path.basename(w.file));
    const bySeed: Record<string, number> = {};
    for (const c of chosen) bySeed[seedName(c)] = (bySeed[seedName(c)] ?? 0) + 1;
    for (const r of results) byOutcome[r.outcome] = (byOutcome[r.outcome] ?? 0) + 1;
    const limitOf = (r: ChildResult) => 2 * r.fileBytes + chosen[r.i].modelBytes + ENGINE_ALLOWANCE;
    const worst = (key: (r: ChildResult) => number) => results.reduce((a, b) => (key(b) > key(a) ? b : a));
    const wt = worst((r) => r.ms);
    const wm = worst((r) => r.allocated / limitOf(r));
    const wr = worst((r) => r.rssGrowth);
    return {
      cases: results.length,
      seed: o.seed,
      wallMs,
      byOutcome,
      crashes: results.filter((r) => r.outcome === 'CRASH'),
      hangs: results.filter((r) => r.outcome === 'HANG'),
      memoryKills: results.filter((r) => r.outcome === 'MEMORY'),
      overMemory: results.filter((r) => r.allocated > limitOf(r)).map((result) => ({ result, limit: limitOf(result) })),
      worstTime: { result: wt, seed: seedName(chosen[wt.i]) },
      worstMemory: { result: wm, seed: seedName(chosen[wm.i]), limit: limitOf(wm) },
      worstRssGrowth: { result: wr, seed: seedName(chosen[wr.i]) },
      bySeed,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

export function formatSummary(s: FuzzSummary): string {
  const lines = [
    `fuzz: ${s.cases} cases (seed ${s.seed}) in ${(s.wallMs / 1000).toFixed(1)} s`,
    `  outcomes: ${Object.entries(s.byOutcome).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `  crashes ${s.crashes.length}, hangs ${s.hangs.length}, killed for memory ${s.memoryKills.length}, over the memory limit ${s.overMemory.length}`,
    `  worst time: ${s.worstTime.result.ms.toFixed(0)} ms (case ${s.worstTime.result.i}, ${s.worstTime.seed}, ${s.worstTime.result.outcome}; ${(s.worstTime.result.ops ?? []).join(', ')})`,
    `  by seed: ${Object.entries(s.bySeed).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `  worst memory: ${mb(s.worstMemory.result.allocated)} allocated of ${mb(s.worstMemory.limit)} allowed (2x file + model weights + ${mb(ENGINE_ALLOWANCE)}; case ${s.worstMemory.result.i}, ${s.worstMemory.seed}, ${s.worstMemory.result.outcome})`,
    `  largest peak-RSS growth in one case: ${mb(s.worstRssGrowth.result.rssGrowth)} (case ${s.worstRssGrowth.result.i}, ${s.worstRssGrowth.seed})`,
  ];
  for (const r of [...s.crashes, ...s.hangs, ...s.memoryKills].slice(0, 10)) lines.push(`  ${r.outcome} case ${r.i}: ${r.message ?? ''} [${(r.ops ?? []).join(', ')}]`);
  return lines.join('\n');
}

if (require.main === module) {
  const arg = (name: string, env: string, dflt: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return Number(i > 0 ? process.argv[i + 1] : process.env[env] ?? dflt);
  };
  const cases = arg('cases', 'FUZZ_CASES', 200_000);
  const seed = arg('seed', 'FUZZ_SEED', 1);
  const workers = arg('workers', 'FUZZ_WORKERS', Math.max(1, Math.min(4, os.cpus().length)));
  let last = Date.now();
  runFuzz({
    cases, seed, workers,
    onProgress: (done) => {
      if (Date.now() - last > 10_000) {
        last = Date.now();
        process.stderr.write(`  ${done}/${cases}\n`);
      }
    },
  }).then((s) => {
    process.stdout.write(formatSummary(s) + '\n');
    process.exit(s.crashes.length + s.hangs.length + s.memoryKills.length + s.overMemory.length === 0 ? 0 : 1);
  });
}
