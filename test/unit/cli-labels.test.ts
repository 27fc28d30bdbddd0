/**
 * What the CLI says about what it ran (issue 17 items 7 and 9): --layernorm lists every valid value
 * (minimal and all included) and the help says what `all` runs; a minimal run is labelled as the
 * minimal fix; the cost line names the FP32 run for what it is (the reference without test data,
 * the probe run with it); the peak memory's ratio to the weights is printed only where it informs.
 */
import { strict as assert } from 'assert';
import * as path from 'path';
import { formatCost, layerNormChoices, RATIO_MIN_WEIGHT_BYTES } from '../../extension/cli';
import { makeReport } from './helpers/report';
import { cli } from './helpers/cli';

const FIX = path.join(__dirname, '..', '..', '..', 'test', 'fixtures');
const W = path.join(FIX, 'd1_outlier.pyth');
const D = path.join(FIX, 'd1_outlier_test_data.p');


describe('cli: what it says about what it ran', function () {
  this.timeout(120_000);

  it('a mistyped --layernorm lists every valid value, minimal and all included, before anything runs', async () => {
    const r = await cli(['run', '--weights', W, '--data', D, '--layernorm', 'fussed']);
    assert.equal(r.code, 2);
    assert.match(r.err, /^error \[BAD_OPTION\]: --layernorm must be one of plain, expose, fp32, fused, prescaled, minimal, all \(or several, comma-separated\); got 'fussed'$/m);
    const bad = await cli(['run', '--weights', W, '--data', D, '--layernorm', 'plain,minimall']);
    assert.match(bad.err, /got 'minimall'/);
  });

  it('the help says what `all` runs and that it leaves minimal out (all,minimal adds it); each mode runs once, in order', async () => {
    const h = await cli(['run', '--help']);
    assert.match(h.out, /--layernorm M\[,M\.\.\.\] +plain \| expose \| fp32 \| fused \| prescaled \| minimal \| all/);
    assert.match(h.out, /all: plain, expose, fp32, fused, prescaled — every mode but minimal[^]*all,minimal adds it/);
    assert.deepEqual(layerNormChoices('all'), ['plain', 'expose', 'fp32', 'fused', 'prescaled']);
    assert.deepEqual(layerNormChoices('fp32,all,minimal'), ['fp32', 'plain', 'expose', 'fused', 'prescaled', 'minimal']);
    const r = await cli(['run', '--weights', W, '--data', D, '--heads', '4', '--precision', 'fp16', '--layernorm', 'all,minimal', '--quiet', '--no-confirm']);
    assert.equal(r.code, 1, r.err);
    const ran = [...r.out.matchAll(/^FP16 emulated .* — LayerNorm (\S+)/gm)].map((m) => m[1]);
    assert.deepEqual(ran, ['plain', 'expose', 'fp32', 'fused', 'prescaled', 'minimal'], r.out);
    assert.match(r.out, /^overall: FAIL — fails: plain; passes: expose, fp32, fused, prescaled, minimal$/m);
  });

  it('a --layernorm minimal run is labelled as the minimal fix (its LayerNorms in FP32, the others plain), not as "LayerNorm plain"', async () => {
    const r = await cli(['run', '--weights', W, '--data', D, '--heads', '4', '--precision', 'fp16', '--layernorm', 'minimal', '--quiet']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^FP16 emulated .* — LayerNorm minimal fix \(fp32: 25 LayerNorms, blocks\.4\.temporal_norm1, blocks\.4\.norm1 … norm; the others plain\) — 4 heads$/m);
    assert.doesNotMatch(r.out, /LayerNorm plain/);
    // with test data the FP32 run is the probe the statistics come from, not the reference
    assert.match(r.out, /^time: read \d+\.\d\d s, (heads \d+\.\d\d s, )?fp32 probe run \d+\.\d\d s, graph /m);
    assert.doesNotMatch(r.out, /reference \d/);
  });

  it('without test data the FP32 run is the reference, and the cost line says so', async () => {
    const r = await cli(['run', '--weights', W, '--heads', '4', '--precision', 'fp16', '--layernorm', 'fp32', '--quiet']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^time: read \d+\.\d\d s, reference \(fp32 run\) \d+\.\d\d s, graph /m);
  });

  it('the peak memory is set against the weights only from 64 MiB of weights; never a ratio to ~0 MiB', () => {
    const r = makeReport([0.001]);
    r.run.timings.peakRssBytes = 146 * 2 ** 20;
    for (const w of [0, 235_000, 4 * 2 ** 20, RATIO_MIN_WEIGHT_BYTES - 1]) {
      r.inputs.weightBytes = w;
      assert.match(formatCost(r), /; peak RSS 146 MiB(;|$)/, `${w} bytes of weights`);
      assert.doesNotMatch(formatCost(r), /×/);
    }
    r.inputs.weightBytes = 486 * 2 ** 20;
    r.run.timings.peakRssBytes = 900 * 2 ** 20;
    assert.match(formatCost(r), /; peak RSS 900 MiB \(1\.85× the checkpoint's 486 MiB of weights\)/);
  });
});
