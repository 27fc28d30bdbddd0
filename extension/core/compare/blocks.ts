/**
 * Every block output against its reference (compareBlock), spread over worker threads where the
 * machine has cores to spare: at full size a mode compares 12 × 1.2 M values, ~0.5 s of one core
 * (0.6 s of the H200 machine's 4.9 s WebGPU run). This thread works through the blocks from the
 * last while the pool's threads take them from the first, so a pool that starts late (or not at
 * all) costs nothing over doing it here; a thread that fails leaves its block to this one.
 */
import { compareBlock, type BlockComparison } from './metrics';
import { startPool, type WorkerPool } from '../parallel';

/** What one block's comparison needs. `refName` undefined: the reference's statistics are known already. */
export interface BlockJob {
  out: Float32Array;
  ref: Float32Array;
  outName: string;
  refName?: string;
}

/** Below this many values in all (small models, the test fixtures) threads cost more than they save. */
export const PARALLEL_COMPARE_MIN_VALUES = 4 * 2 ** 20;

/**
 * Worker threads for comparing `values` values, or undefined where this thread should do it alone:
 * small comparisons, and machines with fewer than three cores (one thread beside this one gained
 * nothing measurable on the 2-core development machine, where other work competes for the cores).
 */
export function comparePool(values: number, threads: number): WorkerPool | undefined {
  return values >= PARALLEL_COMPARE_MIN_VALUES && threads >= 2 ? startPool(threads) : undefined;
}

/** `onBlock`: how many blocks are compared, of all, each time one is (on this thread or a pool's). */
export async function compareBlocks(
  jobs: readonly BlockJob[], dims: { S: number; T: number; C: number; shape: readonly number[] }, pool?: WorkerPool,
  onBlock?: (done: number, total: number) => void,
): Promise<BlockComparison[]> {
  const { S, T, C, shape } = dims;
  const here = (j: BlockJob) => compareBlock(j.out, j.ref, S, T, C, shape, j.outName, j.refName);
  const results: BlockComparison[] = new Array(jobs.length);
  let done = 0;
  const compared = () => onBlock?.(++done, jobs.length);
  const sent: Promise<void>[] = [];
  let lo = 0;
  let hi = jobs.length;
  // keep each started thread one block ahead, so that it never waits for this one to hand it work
  const deal = () => {
    if (!pool) return;
    for (let room = pool.room(2); room > 0 && lo < hi; room--) {
      const i = lo++;
      const j = jobs[i];
      sent.push(
        pool.run<BlockComparison>({ type: 'compare', out: j.out, ref: j.ref, S, T, C, shape: [...shape], outName: j.outName, refName: j.refName })
          .then((r) => void (results[i] = r), () => void (results[i] = here(j))).then(compared),
      );
    }
  };
  deal();
  while (lo < hi) {
    const i = --hi;
    results[i] = here(jobs[i]);
    compared();
    // let finished threads report and take the next block
    await new Promise<void>((resolve) => setImmediate(resolve));
    deal();
  }
  await Promise.all(sent);
  return results;
}
