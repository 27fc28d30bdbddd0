/**
 * The workspace the host-state tests share: four models with their test data (d1, d2, d4
 * geometries) and a broken file, a memento that stores JSON as VS Code does, Reports shaped as
 * core writes them, and d1's minimal fix with its confirmation.
 */
import * as path from 'path';
import { inspectCheckpoint, inspectTestData } from '../../../extension/core/inspect';
import type { Report } from '../../../extension/core/report';
import type { Inspection } from '../../../extension/host/pairing';
import { LabState, type Memento, type SettingsDefaults } from '../../../extension/host/state';
import { makeReport } from './report';

export const FIX = path.join(__dirname, '..', '..', '..', '..', 'test', 'fixtures');
export const W = '/ws';
export const file = (name: string) => ({ path: `${W}/${name}`, label: name });

export class FakeMemento implements Memento {
  readonly data = new Map<string, unknown>();
  writes = 0;
  readonly writesOf = new Map<string, number>();
  get<T>(key: string): T | undefined {
    return this.data.get(key) as T | undefined;
  }
  update(key: string, value: unknown): Thenable<void> {
    this.writes++;
    this.writesOf.set(key, (this.writesOf.get(key) ?? 0) + 1);
    // VS Code stores mementos as JSON.
    this.data.set(key, JSON.parse(JSON.stringify(value)));
    return Promise.resolve();
  }
}

export const DEFAULTS: SettingsDefaults = { precision: 'fp16', accumulate: 'fp32', layerNorm: 'plain', exposeLayerNorm: false, ep: 'cpu', heads: null, tolerance: null, deviceId: 0, trtCacheDir: '' };

/**
 * A workspace like the issue's: a_model (d1's geometry, 12 blocks), b_model (d2's, 3 blocks),
 * c_model (d1's geometry again), d4 (224², 2 blocks), each with its test data, plus broken.p.
 */
export async function workspace(memento = new FakeMemento(), defaults: Partial<SettingsDefaults> = {}): Promise<{ s: LabState; memento: FakeMemento; settings: SettingsDefaults }> {
  const settings = { ...DEFAULTS, ...defaults };
  const s = new LabState(memento, () => settings, 5);
  const ck = ['a_model.pyth', 'b_model.pyth', 'c_model.pyth', 'd4.pyth'].map(file);
  const td = ['a_test_data.p', 'b_test_data.p', 'broken.p', 'c_test_data.p', 'd4_test_data.p'].map(file);
  s.setScan(ck, td);
  const src: Record<string, string> = { a_model: 'd1_outlier', b_model: 'd2_legacy', c_model: 'd1_outlier', d4: 'd4_geometry' };
  const insp = new Map<string, Inspection>();
  for (const [name, fx] of Object.entries(src)) {
    insp.set(`${W}/${name}.pyth`, { state: 'ok', signature: await inspectCheckpoint(path.join(FIX, `${fx}.pyth`)) });
    insp.set(`${W}/${name.replace('_model', '')}_test_data.p`, { state: 'ok', signature: await inspectTestData(path.join(FIX, `${fx}_test_data.p`)) });
  }
  insp.set(`${W}/broken.p`, { state: 'error', code: 'BAD_TEST_DATA', message: 'not a pickle' });
  s.setInspections(insp);
  return { s, memento, settings };
}

export function report(errors: number[], o: { overflowFrom?: number; layerNorm?: 'plain' | 'fp32' } = {}): Report {
  const r = makeReport(errors, { overflowFrom: o.overflowFrom });
  r.run.layerNorm = o.layerNorm ?? 'plain';
  if (o.overflowFrom !== undefined) {
    r.diagnosis = { ...r.diagnosis, verdict: 'fail', firstBadBlock: o.overflowFrom, culprit: { layerNorm: `blocks.${o.overflowFrom}.temporal_norm1`, block: o.overflowFrom, channel: 21, maxSq: 9.7e4, overFp16Count: 128 }, fixes: ['fp32', 'fused', 'prescaled', 'expose'] };
  }
  return r;
}

/** d1's 25 LayerNorms from block 4 on (and the final norm): the ones its minimal fix keeps in FP32. */
export const D1_MINIMAL = [...Array.from({ length: 8 }, (_, i) => ['temporal_norm1', 'norm1', 'norm2'].map((k) => `blocks.${i + 4}.${k}`)).flat(), 'norm'];

/** d1's FP16 plain failure with the diagnosis' minimal fix (as core's diagnosis writes it) and its confirmation run. */
export function withMinimalFix(r: Report, confirmed: 'pass' | 'fail' | 'none' = 'pass'): Report {
  r.diagnosis.minimalFix = {
    layerNorms: D1_MINIMAL, mode: 'fp32',
    reasons: D1_MINIMAL.map((n) => ({ layerNorm: n, mechanism: 'square' as const, value: 9.7e4, limit: 65504 })),
    trtexec: `trtexec --onnx=timesformer.onnx --fp16 --precisionConstraints=obey --layerPrecisions=${D1_MINIMAL.map((n) => `/model/${n.replace(/^blocks\.(\d+)\./, 'blocks.$1/')}/LayerNormalization:fp32`).join(',')} --saveEngine=timesformer_fp16.plan`,
    ...(confirmed === 'none' ? {} : {
      confirmed: confirmed === 'pass'
        ? { verdict: 'pass' as const, firstBadBlock: null, worstBlock: 2, worstRelL2: 3.75e-3, probsRelL2: 2.5e-4 }
        : { verdict: 'fail' as const, firstBadBlock: 6, worstBlock: 6, worstRelL2: 0.2, probsRelL2: 0.1 },
    }),
  };
  return r;
}
