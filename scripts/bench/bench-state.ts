/**
 * What a change of the extension host's state costs before the views hear of it (LabState.save):
 * a run landing, an option toggled, a run shown — with `--runs` kept runs of golden Reports. Each
 * is printed against serializing every kept run once, which every persisted change did twice
 * before the runs had their own workspace-state key and each run's text was kept (session 20:
 * 57-98 ms a run landing and 85-100 ms a toggle with 20 d1 runs, 2.5 MiB).
 *
 *   node out/scripts/bench/bench-state.js [--runs 20] [--changes 10]
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseArgs } from 'util';
import { parseReportJson, reportToJson, type Report } from '../../extension/core/report';
import { LabState, type Memento, type SettingsDefaults } from '../../extension/host/state';
import { median } from './median';

function main(): void {
  const { values } = parseArgs({ options: { runs: { type: 'string' }, changes: { type: 'string' } }, strict: true });
  const keep = Number(values.runs ?? 20);
  const changes = Number(values.changes ?? 10);
  const golden = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'reports-golden', 'd1-fp16-all-modes.json');
  const reports = parseReportJson<{ reports: Report[] }>(fs.readFileSync(golden, 'utf8')).reports;
  const data = new Map<string, unknown>();
  // VS Code's workspace state: the value handed over as JSON
  const memento: Memento = { get: <T>(k: string) => data.get(k) as T | undefined, update: (k, v) => (data.set(k, JSON.stringify(v)), Promise.resolve()) };
  const defaults: SettingsDefaults = { precision: 'fp16', accumulate: 'fp32', layerNorm: 'plain', exposeLayerNorm: false, ep: 'cpu', heads: null, tolerance: null, deviceId: 0, trtCacheDir: '' };
  const s = new LabState(memento, () => defaults, keep);
  const inputs = { checkpoint: '/w/a.pyth', testData: '/w/a_test_data.p' };
  const options = { precision: 'fp16', layerNorm: 'plain' } as Parameters<LabState['runFinished']>[1];
  for (let i = 0; i < keep; i++) s.runFinished(reports[i % reports.length], options, undefined, inputs);
  const timed = (f: (i: number) => void) => median(Array.from({ length: changes }, (_, i) => {
    const t = performance.now();
    f(i);
    return performance.now() - t;
  }));
  const landing = timed((i) => s.runFinished(reports[i % reports.length], options, undefined, inputs));
  const toggle = timed((i) => s.setOption('exposeLayerNorm', i % 2 === 0));
  const show = timed((i) => s.show([s.all[i % s.all.length].id]));
  const all = timed(() => reportToJson(s.all, 0));
  const bytes = (data.get('timesformerLab.runs') as string | undefined)?.length ?? 0;
  console.log(`[bench-state] ${s.all.length} runs kept, ${(bytes / 2 ** 20).toFixed(1)} MiB persisted; serializing them all once: ${all.toFixed(1)} ms`);
  for (const [what, ms] of [['a run landing', landing], ['an option toggled', toggle], ['a run shown', show]] as const) {
    console.log(`[bench-state] ${what.padEnd(18)} ${ms.toFixed(2).padStart(7)} ms (median of ${changes}), ${(ms / all).toFixed(3)}× serializing every run once`);
  }
}

main();
