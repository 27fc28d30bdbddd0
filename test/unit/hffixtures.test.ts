/**
 * The HuggingFace fixtures made by transformers on the GPU machine (scripts/fixtures/make_hf_fixtures.py;
 * test/fixtures/hf_*, test data from transformers' own forward): nobody here computed them.
 * Each has a massive activation planted in one block: plain FP16 breaks at the next block.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { readNpy } from '../../extension/core/formats/npy';
import { readTestData } from '../../extension/core/formats/testdata';
import { clipFromArray, clipNormalization, loadModel, runModes, runPipeline } from '../../extension/core/pipeline';
import type { Report } from '../../extension/core/report';
import { formatTable } from '../../extension/core/table';

const FIX = path.join(__dirname, '..', '..', '..', 'test', 'fixtures');
/** What make_hf_fixtures.py builds (its FIXTURES table). */
const EXPECT = [
  { name: 'hf_outlier', format: 'safetensors', heads: 3, depth: 6, outlier: [2, 7], head: true, eps: 1e-6 },
  { name: 'hf_sharded', format: /^safetensors \(\d+ shards\)$/, heads: 2, depth: 4, outlier: [1, 3], head: true, eps: 1e-5 },
  { name: 'hf_bin', format: 'pytorch_model.bin', heads: 2, depth: 4, outlier: [2, 5], head: true, eps: 1e-6 },
  { name: 'hf_base', format: 'safetensors', heads: 4, depth: 3, outlier: [0, 9], head: false, eps: 1e-6 },
] as const;
const KINETICS_LIKE = ['abseiling', 'air drumming', 'answering questions', 'applauding', 'applying cream',
  'archery', 'arm wrestling', 'arranging flowers', 'assembling computer', 'auctioning'];
const present = EXPECT.filter((f) => fs.existsSync(path.join(FIX, f.name)));
const errs = (r: Report) => r.blocks.map((b) => b.relL2.toExponential(2)).join(' ');

describe('HuggingFace fixtures made by transformers', function () {
  this.timeout(300000);
  before(function () {
    if (present.length === 0) {
      console.log('      test/fixtures/hf_* are not here yet (scripts/device/device-hf.sh makes them on the GPU machine): skipped');
      this.skip();
    }
    assert.equal(present.length, EXPECT.length, `some HF fixtures are missing: ${EXPECT.filter((f) => !present.includes(f)).map((f) => f.name).join(', ')}`);
  });
  for (const f of EXPECT) {
    const weights = () => path.join(FIX, f.name);
    const data = () => path.join(FIX, `${f.name}_test_data.p`);
    it(`${f.name}: FP32 within 1e-5 of transformers on every block and the ${f.head ? 'probabilities' : 'final LayerNorm'}; config.json read`, async () => {
      const { report: r } = await runPipeline({ weights: weights(), data: data(), ep: 'cpu', precision: 'fp32' });
      console.log(`      ${f.name} fp32: ${errs(r)} | final ${r.probs.relL2.toExponential(2)}`);
      for (const b of r.blocks) assert.ok(b.relL2 <= 1e-5, `block ${b.index}: ${b.relL2}`);
      assert.ok(r.probs.relL2 <= 1e-5, `final ${r.probs.relL2}`);
      assert.equal(r.blocks.length, f.depth);
      assert.equal(r.config.heads, f.heads);
      assert.equal(r.config.headsSource, 'config');
      assert.equal(r.config.layerNormEps, f.eps);
      if (typeof f.format === 'string') assert.equal(r.inputs.weightsFormat, f.format);
      else assert.match(r.inputs.weightsFormat, f.format);
      assert.equal(r.inputs.model?.head, f.head);
      assert.equal(r.probs.kind, f.head ? 'probabilities' : 'features');
      if (f.name === 'hf_outlier') {
        assert.equal(r.probs.top1Label, KINETICS_LIKE[r.probs.refTop1]);
        assert.match(formatTable(r), new RegExp(`top-1 \\d+ "${KINETICS_LIKE[r.probs.top1]}"`));
      }
    });
    it(`${f.name}: FP16 plain breaks at block ${f.outlier[0] + 1} (the activation is planted in block ${f.outlier[0]}, channel ${f.outlier[1]}) and every LayerNorm fix passes`, async () => {
      const [plain, ...fixes] = await runModes({ weights: weights(), data: data(), ep: 'cpu', precision: 'fp16' }, ['plain', 'expose', 'fp32', 'fused', 'prescaled']);
      console.log(`      ${f.name} fp16 plain: ${errs(plain)}`);
      assert.equal(plain.diagnosis.firstBadBlock, f.outlier[0] + 1, errs(plain));
      assert.equal(plain.diagnosis.culprit?.layerNorm, `blocks.${f.outlier[0] + 1}.temporal_norm1`);
      assert.equal(plain.diagnosis.culprit?.channel, f.outlier[1]);
      for (const r of fixes) assert.equal(r.diagnosis.verdict, 'pass', `${r.run.layerNorm}: ${errs(r)} | ${r.probs.relL2}`);
    });
    it(`${f.name}: without test data, the same verdicts (errors within 10 %)`, async () => {
      const withData = (await runPipeline({ weights: weights(), data: data(), ep: 'cpu', precision: 'fp16' })).report;
      const self = (await runPipeline({ weights: weights(), input: data(), ep: 'cpu', precision: 'fp16' })).report;
      assert.equal(self.inputs.reference.kind, 'self');
      assert.equal(self.diagnosis.firstBadBlock, withData.diagnosis.firstBadBlock);
      assert.deepEqual(self.blocks.map((b) => b.passed), withData.blocks.map((b) => b.passed));
      self.blocks.forEach((b, i) => assert.ok(Math.abs(b.relL2 - withData.blocks[i].relL2) <= 0.1 * withData.blocks[i].relL2, `block ${i}: ${b.relL2} vs ${withData.blocks[i].relL2}`));
    });
  }
  it('hf_outlier frames: the lab normalizes the uint8 frames (preprocessor_config.json) to exactly the video transformers was given', async () => {
    const m = await loadModel(path.join(FIX, 'hf_outlier'));
    const norm = clipNormalization(m, {});
    assert.equal(norm.source, 'preprocessor_config.json');
    const { video } = clipFromArray(await readNpy(path.join(FIX, 'hf_outlier_frames.npy')), m, 'hf_outlier_frames.npy', norm);
    const d = await readTestData(path.join(FIX, 'hf_outlier_frames_test_data.p'));
    assert.deepEqual([...video.shape], [...d.video.shape]);
    assert.deepEqual(video.data, d.video.data);
  });
});
