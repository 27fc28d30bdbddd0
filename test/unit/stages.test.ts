/**
 * Progress that says what runs (issue 22.4): each stage the user waits on has its own line, in the
 * order it comes, and only when it happens — "reading test data" only with test data, the FP32
 * reference as its own stage, the minimal fix's confirmation as a stage of its own with its own
 * engine and run, each mode of a multi-mode run named — and long stages say how far they are.
 */
import { strict as assert } from 'assert';
import * as path from 'path';
import { runModes } from '../../extension/core/pipeline';
import type { LayerNormChoice } from '../../extension/core/pipeline';
import type { PipelineOptions, Stage } from '../../extension/core/report';

const FIX = path.join(__dirname, '..', '..', '..', 'test', 'fixtures');
const weights = path.join(FIX, 'd1_outlier.pyth');
const data = path.join(FIX, 'd1_outlier_test_data.p');

interface Seen { stage: Stage; detail?: string }

async function stagesOf(o: Partial<PipelineOptions>, modes: LayerNormChoice[] = ['plain']): Promise<{ seen: Seen[]; lines: Stage[] }> {
  const seen: Seen[] = [];
  await runModes({ weights, ep: 'cpu', heads: 4, precision: 'fp16', ...o } as PipelineOptions, modes, { onProgress: (stage, detail) => seen.push({ stage, detail }) });
  // the lines the user sees: a stage repeated with its progress is one line
  const lines = seen.map((s) => s.stage).filter((s, i, a) => i === 0 || a[i - 1] !== s);
  return { seen, lines };
}

describe('progress: the stage list says what runs', function () {
  this.timeout(120_000);

  it('FP16 plain with test data that fails: the FP32 statistics run, the engine, the comparison, then the minimal fix\'s confirmation with its own engine and run', async () => {
    const { seen, lines } = await stagesOf({ data });
    assert.deepEqual(lines, ['reading checkpoint', 'reading test data', 'computing the FP32 reference', 'building graph', 'building engine', 'running', 'comparing', 'confirming the minimal fix']);
    const confirm = seen.filter((s) => s.stage === 'confirming the minimal fix').map((s) => s.detail ?? '');
    assert.match(confirm[0], /^\d+ LayerNorms? in FP32$/);
    for (const inner of ['building engine', 'running', 'comparing']) assert.ok(confirm.some((d) => d.includes(`: ${inner}`)), `the confirmation shows its ${inner}: ${confirm.join(' | ')}`);
    assert.ok(!seen.some((s) => s.stage === 'comparing' && seen.indexOf(s) > seen.findIndex((x) => x.stage === 'confirming the minimal fix')), 'no "comparing" line hides the confirmation run');
  });

  it('without test data: no "reading test data" (nothing is read); the FP32 reference is its own stage, with its progress', async () => {
    const { seen, lines } = await stagesOf({ confirmMinimalFix: false });
    assert.deepEqual(lines, ['reading checkpoint', 'computing the FP32 reference', 'building graph', 'building engine', 'running', 'comparing']);
    const ref = seen.filter((s) => s.stage === 'computing the FP32 reference').map((s) => s.detail ?? '');
    assert.ok(ref.length > 2 && /segment 1\/\d+$/.test(ref[1]) && ref.at(-1)!.match(/segment (\d+)\/\1$/), `segments counted to the last: ${ref.join(' | ')}`);
  });

  it('the engine\'s run says how far it is (segment k/n, up to n/n); the engine stage names the precision and LayerNorm mode', async () => {
    const { seen } = await stagesOf({ data, confirmMinimalFix: false, precision: 'fp32', layerNorm: 'fp32' }, ['fp32']);
    const running = seen.filter((s) => s.stage === 'running').map((s) => s.detail ?? '');
    const counts = running.slice(1).map((d) => /segment (\d+)\/(\d+)$/.exec(d)!);
    assert.ok(counts.length >= 2 && counts.every(Boolean), running.join(' | '));
    assert.deepEqual(counts.map((m) => Number(m[1])), counts.map((_, i) => i + 1));
    assert.equal(Number(counts.at(-1)![1]), Number(counts.at(-1)![2]));
    assert.equal(seen.find((s) => s.stage === 'building engine')?.detail, 'cpu, FP32 LayerNorm fp32');
    assert.ok(!seen.some((s) => s.stage === 'computing the FP32 reference'), 'FP32 with test data needs no FP32 run of ours');
  });

  it('several modes: each mode\'s stages name the mode (k/n), the shared reading comes once', async () => {
    const { seen, lines } = await stagesOf({ data, confirmMinimalFix: false }, ['plain', 'fp32']);
    assert.equal(lines.filter((s) => s === 'reading checkpoint').length, 1);
    const engines = seen.filter((s) => s.stage === 'building engine').map((s) => s.detail);
    assert.deepEqual(engines, ['mode 1/2 plain: cpu, FP16 LayerNorm plain', 'mode 2/2 fp32: cpu, FP16 LayerNorm fp32']);
    assert.equal(lines.filter((s) => s === 'comparing').length, 2);
  });

  it('a clip file without test data is read as "reading the clip"; a synthetic clip shows no reading stage', async () => {
    const { lines } = await stagesOf({ input: data, confirmMinimalFix: false, precision: 'fp32' });
    assert.deepEqual(lines.slice(0, 2), ['reading checkpoint', 'reading the clip']);
    const syn = await stagesOf({ input: 'synthetic:1', confirmMinimalFix: false, precision: 'fp32' });
    assert.ok(!syn.lines.some((s) => /^reading (test data|the clip)$/.test(s)), syn.lines.join(', '));
  });
});
