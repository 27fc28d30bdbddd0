/**
 * A worker of the robustness pool (pool.ts): runs cases it is sent, one at a time, and reports each
 * outcome with its time and memory. A fuzz case names a seed file and a case number; the mutated
 * file is made and written here, so that the parent never moves megabytes through IPC.
 *
 * Memory per case: after a GC before the case (--expose-gc), the heap and array buffers in use
 * right after it (what it allocated, garbage included unless a GC ran meanwhile), and the growth of
 * the process's peak RSS during it. The parent's watchdog kills a child past the RSS cap or the
 * time limit, so a runaway case is reported, not waited for.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { execute, prepare, type CaseInput } from './execute';
import { mutate, structureOf, type Structure } from './mutate';

export interface FuzzSeed {
  file: string;
  stage: 'weights' | 'data' | 'clip';
  /** For test data and clips: the checkpoint whose model it must fit. */
  model?: string;
  /** A file of a HuggingFace folder (config.json, an index, a shard): the case is the folder with this file mutated. */
  folder?: string;
}

export type CaseBody = { input: CaseInput } | { fuzz: { seed: FuzzSeed; n: number } };
export type ChildCase = CaseBody & { i: number };

export interface ChildResult {
  i: number;
  outcome: string;
  message?: string;
  ms: number;
  /** Bytes of heap + array buffers in use after the case, over what was in use before it (after a GC). */
  allocated: number;
  /** Growth of the process's peak RSS during the case, bytes. */
  rssGrowth: number;
  /** Size of the input file(s), bytes. */
  fileBytes: number;
  ops?: string[];
}

const gc = (globalThis as { gc?: (o?: { type: 'minor' | 'major' }) => void }).gc;
const seeds = new Map<string, { bytes: Uint8Array; structure: Structure }>();
/** A seed folder's files, read once. */
const folders = new Map<string, [string, Buffer][]>();
// The pool gives each child a folder of its own and removes it, also after killing the child.
const scratch = process.env.ROBUST_SCRATCH ?? fs.mkdtempSync(path.join(os.tmpdir(), 'robust-child-'));
fs.mkdirSync(scratch, { recursive: true });
process.on('exit', () => fs.rmSync(scratch, { recursive: true, force: true }));

function seedOf(file: string) {
  let s = seeds.get(file);
  if (!s) {
    const bytes = fs.readFileSync(file);
    s = { bytes, structure: structureOf(bytes) };
    seeds.set(file, s);
  }
  return s;
}

const inUse = () => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
const sizeOf = (p?: string): number => {
  try {
    if (!p) return 0;
    const st = fs.statSync(p);
    // a HF folder: its files
    return st.isDirectory() ? fs.readdirSync(p).reduce((n, f) => n + sizeOf(path.join(p, f)), 0) : st.size;
  } catch {
    return 0;
  }
};

async function run(c: ChildCase): Promise<ChildResult> {
  let input: CaseInput;
  let ops: string[] | undefined;
  if ('fuzz' in c) {
    const { seed, n } = c.fuzz;
    const m = mutate(seedOf(seed.file).bytes, seedOf(seed.file).structure, n);
    ops = m.ops;
    if (seed.folder) {
      // the folder again, with this one file mutated
      let members = folders.get(seed.folder);
      if (!members) {
        members = fs.readdirSync(seed.folder).map((n): [string, Buffer] => [n, fs.readFileSync(path.join(seed.folder!, n))]);
        folders.set(seed.folder, members);
      }
      const dir = path.join(scratch, 'case-hf');
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(dir);
      for (const [n, b] of members) fs.writeFileSync(path.join(dir, n), n === path.basename(seed.file) ? m.bytes : b);
      input = { stage: 'weights', weights: dir };
    } else {
      const file = path.join(scratch, seed.stage === 'weights' ? 'case.pyth' : seed.stage === 'clip' ? 'case.npy' : 'case_test_data.p');
      fs.writeFileSync(file, m.bytes);
      input = seed.stage === 'weights' ? { stage: 'weights', weights: file } : { stage: seed.stage, data: file, weights: seed.model };
    }
  } else {
    input = c.input;
  }
  await prepare(input);
  gc?.({ type: 'minor' });
  const before = inUse();
  const rssBefore = process.resourceUsage().maxRSS;
  const t0 = performance.now();
  const o = await execute(input);
  const ms = performance.now() - t0;
  const allocated = Math.max(0, inUse() - before);
  const rssGrowth = (process.resourceUsage().maxRSS - rssBefore) * 1024;
  const fileBytes = input.stage === 'data' || input.stage === 'clip' ? sizeOf(input.data) : sizeOf(input.weights) + (input.stage === 'weights' ? 0 : sizeOf(input.data));
  return { i: c.i, outcome: o.outcome, message: o.message, ms, allocated, rssGrowth, fileBytes, ops };
}

if (require.main === module) {
  if (!process.send) throw new Error('child.ts runs forked by pool.ts');
  let queue = Promise.resolve();
  process.on('message', (m: ChildCase) => {
    queue = queue.then(async () => {
      process.send?.({ type: 'start', i: m.i });
      process.send?.({ type: 'done', result: await run(m) });
    });
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ type: 'ready' });
}
