/**
 * How fast a checkpoint loads (readCheckpoint + the weights the graph uses as float32, checked
 * finite: pipeline.loadModel), and how much memory that takes, as ratios: MB/s of file read and
 * peak RSS / file size. Each run is a fresh process, so the page cache is the only thing shared.
 *
 *   node out/scripts/fixtures/gen-checkpoint.js --out /tmp/full.pyth      # the full-size 486 MB checkpoint
 *   node out/scripts/bench/bench-load.js --weights /tmp/full.pyth [--runs 5]
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import { parseArgs } from 'util';
import { loadModel } from '../../extension/core/pipeline';

async function once(weights: string): Promise<void> {
  const t0 = performance.now();
  const m = await loadModel(weights);
  const ms = performance.now() - t0;
  process.stdout.write(JSON.stringify({ ms, params: m.base.params, maxRssKB: process.resourceUsage().maxRSS }) + '\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { weights: { type: 'string' }, runs: { type: 'string' }, once: { type: 'boolean' } } });
  if (!values.weights) throw new Error('--weights CHECKPOINT is required');
  if (values.once) return once(values.weights);
  const size = fs.statSync(values.weights).size;
  const runs = Number(values.runs ?? 5);
  const rows: { ms: number; params: number; maxRssKB: number }[] = [];
  for (let i = 0; i < runs; i++) {
    const out = execFileSync(process.execPath, [__filename, '--weights', values.weights, '--once'], { encoding: 'utf8' });
    rows.push(JSON.parse(out.trim().split('\n').pop() as string));
  }
  const ms = rows.map((r) => r.ms).sort((a, b) => a - b);
  const median = ms[Math.floor(ms.length / 2)];
  const rss = Math.max(...rows.map((r) => r.maxRssKB)) * 1024;
  process.stdout.write(
    `${values.weights}: ${(size / 1e6).toFixed(1)} MB, ${rows[0].params.toLocaleString('en-US')} params\n` +
      `load: median ${median.toFixed(0)} ms (runs ${ms.map((x) => x.toFixed(0)).join(', ')}) = ${(size / 1e6 / (median / 1000)).toFixed(0)} MB/s\n` +
      `peak RSS ${(rss / 1e6).toFixed(0)} MB = ${(rss / size).toFixed(2)} x the file\n`,
  );
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(2);
});
