/**
 * The diagnosis on real runs of models made to break in particular ways (hf_outlier with one bias
 * value changed, run by the CLI on the CPU's FP16 emulation): what the verdict explains, and that
 * the minimal fix it offers is the set the one-click 'minimal' mode runs.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseReportJson, type Report } from '../../extension/core/report';
import { cli } from './helpers/cli';

const HF = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'hf_outlier');

/** A copy of hf_outlier with `key[index] = value` in its model.safetensors (F32). */
function withBias(dir: string, key: string, index: number, value: number): string {
  fs.cpSync(HF, dir, { recursive: true });
  const file = path.join(dir, 'model.safetensors');
  const b = fs.readFileSync(file);
  const n = Number(b.readBigUInt64LE(0));
  const header = JSON.parse(b.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; data_offsets: [number, number] }>;
  const t = header[key];
  assert.equal(t.dtype, 'F32', key);
  b.writeFloatLE(value, 8 + n + t.data_offsets[0] + 4 * index);
  fs.writeFileSync(file, b);
  return dir;
}

async function run(weights: string, modes: string, tmp: string): Promise<Report[]> {
  const json = path.join(tmp, `${path.basename(weights)}-${modes}.json`);
  const r = await cli(['run', '--weights', weights, '--precision', 'fp16', '--layernorm', modes, '--json', json, '--quiet']);
  assert.ok(r.code === 0 || r.code === 1, r.err);
  const v = parseReportJson<Report | Report[]>(fs.readFileSync(json, 'utf8'));
  return Array.isArray(v) ? v : [v];
}

describe('diagnosis on models made to break (hf_outlier with one bias changed)', function () {
  this.timeout(240_000);
  let tmp: string;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'diag-models-'))));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('an activation past 65504 before a LayerNorm (temporal_fc bias 7e4): upstream, out of range; no LayerNorm fix, minimal fix or trtexec line', async () => {
    const w = withBias(path.join(tmp, 'tfc'), 'timesformer.encoder.layer.2.temporal_dense.bias', 7, 70000);
    const [plain] = await run(w, 'plain', tmp);
    const d = plain.diagnosis;
    assert.equal(d.firstBadBlock, 2);
    assert.deepEqual([...new Set(d.causes.map((c) => c.mechanism))], ['nonFiniteInput']);
    assert.deepEqual([d.fixes, d.minimalFix, d.trtexec], [[], undefined, undefined]);
    assert.match(d.sentence, /blocks\.2\.norm1\): its input already holds \d+ inf\/NaN values — .*; it went inf in block 2's temporal attention, its temporal_fc and their residual add \(blocks\.2\.temporal_norm1's input was still finite\); in FP32 that input reaches 7\.0e\+4 in channel 7, past FP16's 65504/);
    assert.ok(!plain.blocks[2].layerNorms.find((l) => l.name === 'blocks.2.norm1')!.overflowed, 'not drawn as its own overflow');
  });

  it('an MLP output past 65504 (output.dense bias 7e4): the block\'s output leaves FP16\'s range, listed first', async () => {
    const w = withBias(path.join(tmp, 'mlp'), 'timesformer.encoder.layer.2.output.dense.bias', 7, 70000);
    const [plain] = await run(w, 'plain', tmp);
    assert.equal(plain.diagnosis.firstBadBlock, 2);
    assert.deepEqual(plain.diagnosis.candidates.map((c) => c.kind), ['range']);
    assert.match(plain.diagnosis.candidates[0].text, /^block 2's output leaves FP16's range: the FP32 reference reaches 7\.0e\+4 in channel 7, past FP16's 65504/);
  });

  it('one overflow whose collapse pushes the next LayerNorm over: the minimal fix offered is the set the one-click minimal mode runs, and it passes', async () => {
    const w = withBias(path.join(tmp, 'edge'), 'timesformer.encoder.layer.2.output.dense.bias', 7, 258.65);
    const [plain, minimal] = await run(w, 'plain,minimal', tmp);
    const offered = plain.diagnosis.minimalFix?.layerNorms;
    assert.deepEqual(offered, ['blocks.3.norm2']);
    assert.ok(plain.diagnosis.causes.some((c) => c.layerNorm === 'blocks.4.temporal_norm1'), 'the damaged one is still named as seen');
    assert.deepEqual(Object.keys(minimal.run.layerNormOverrides ?? {}).sort(), offered);
    assert.equal(minimal.diagnosis.verdict, 'pass');
    assert.equal(plain.diagnosis.minimalFix?.confirmed?.verdict, 'pass');
  });
});
