/**
 * Pairing needs each file's geometry before any run: a checkpoint's from its pickle (shapes only)
 * or an HF folder's config.json, test data's from its arrays' headers — cheap, and with the
 * pipeline's own words for a pair that does not belong together.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { describeSignature, disagreements, inspectCheckpoint, inspectTestData, type DataSignature } from '../../extension/core/inspect';
import { f32bytes, npArray, pickle2 } from './helpers/pyfiles';

const FIX = path.join(__dirname, '..', '..', '..', 'test', 'fixtures');
const fx = (n: string) => path.join(FIX, n);

describe('inspect: geometry from headers, for pairing', () => {
  let tmp: string;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-inspect-'))));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('reads each fixture pair\'s geometry, and each pair agrees', async () => {
    const expected: Record<string, string> = {
      d1_outlier: '8×64², width 64, 12 blocks, 400 classes',
      d2_legacy: '4×48², width 48, 3 blocks, 7 classes',
      d3_half_weights: '8×32², width 32, 2 blocks, 10 classes',
      d4_geometry: '8×224², width 48, 2 blocks, 400 classes',
    };
    for (const [n, words] of Object.entries(expected)) {
      const m = await inspectCheckpoint(fx(`${n}.pyth`));
      const d = await inspectTestData(fx(`${n}_test_data.p`));
      assert.equal(describeSignature(m), words, n);
      assert.equal(describeSignature(d), words, n);
      assert.deepEqual(disagreements(m, d), [], n);
    }
    assert.equal((await inspectCheckpoint(fx('d2_legacy.pyth'))).format, 'legacy');
  });

  it('says why a pair disagrees: frames, size, width, depth, classes', async () => {
    const d1 = await inspectCheckpoint(fx('d1_outlier.pyth'));
    assert.deepEqual(disagreements(d1, await inspectTestData(fx('d4_geometry_test_data.p'))), [
      '224×224 video, the checkpoint expects 64×64', 'width 48, the checkpoint has 64',
    ]);
    assert.deepEqual(disagreements(d1, await inspectTestData(fx('d2_legacy_test_data.p'))), [
      '4 frames, the checkpoint has 8', '48×48 video, the checkpoint expects 64×64', 'width 48, the checkpoint has 64', '7 classes, the checkpoint has 400',
    ]);
    const d3 = await inspectCheckpoint(fx('d3_half_weights.pyth'));
    const deeper: DataSignature = { ...(await inspectTestData(fx('d3_half_weights_test_data.p'))), depth: 5 };
    assert.deepEqual(disagreements(d3, deeper), ['5 block outputs, the checkpoint has 2 blocks']);
  });

  it('reads test data as headers: an array whose bytes are missing still gives its shape', async () => {
    // The video claims 1×3×8×64×64 float32 (393 KB) but carries 4 bytes: reading it as data would fail.
    const file = path.join(tmp, 'headers_only.p');
    fs.writeFileSync(file, pickle2([
      npArray('f4', [1, 3, 8, 64, 64], f32bytes([0])),
      [npArray('f4', [1, 400], f32bytes([0])), { $list: [npArray('f4', [1, 129, 64], f32bytes([0]))] }],
    ]));
    assert.deepEqual(await inspectTestData(file), { kind: 'test-data', batch: 1, frames: 8, height: 64, width: 64, numClasses: 400, depth: 1, tokens: 129, embedDim: 64 });
  });

  it('an HF folder is read from its config.json', async () => {
    const hf = path.join(tmp, 'hf-k400');
    fs.mkdirSync(hf);
    fs.writeFileSync(path.join(hf, 'config.json'), JSON.stringify({ model_type: 'timesformer', num_frames: 8, image_size: 224, patch_size: 16, hidden_size: 768, num_hidden_layers: 12, id2label: { 0: 'a', 1: 'b', 2: 'c' } }));
    fs.writeFileSync(path.join(hf, 'model.safetensors'), '');
    assert.deepEqual(await inspectCheckpoint(hf), { kind: 'checkpoint', format: 'hf', frames: 8, imageSize: 224, patchSize: 16, embedDim: 768, depth: 12, numClasses: 3 });
    const other = path.join(tmp, 'bert');
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, 'config.json'), JSON.stringify({ model_type: 'bert' }));
    await assert.rejects(inspectCheckpoint(other), (e: Error) => /NOT_A_CHECKPOINT/.test((e as { code?: string }).code ?? '') && e.message.includes('not a TimeSformer HF folder'));
  });

  it('names the file and the cause when a file is not what its role needs', async () => {
    await assert.rejects(inspectTestData(fx('d1_outlier.pyth')), { code: 'BAD_TEST_DATA', message: `${fx('d1_outlier.pyth')}: this is a zip archive (a checkpoint?), not a test-data pickle` });
    await assert.rejects(inspectCheckpoint(fx('d1_outlier_test_data.p')), { code: 'NOT_A_CHECKPOINT' });
    await assert.rejects(inspectTestData(path.join(tmp, 'nope.p')), { code: 'FILE_NOT_FOUND' });
  });
});
