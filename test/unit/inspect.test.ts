/**
 * Pairing needs each file's geometry before any run: a checkpoint's from its pickle (shapes only)
 * or an HF folder's config.json, test data's from its arrays' headers — cheap, and with the
 * pipeline's own words for a pair that does not belong together.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { describeSignature, disagreements, inspectCheckpoint, inspectTestData, isHfCheckpointFolder, type DataSignature } from '../../extension/core/inspect';
import { readTestData } from '../../extension/core/formats/testdata';
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

  it('reads test data as shapes only: arrays the full reader refuses (NaN) still give their shapes, unread', async () => {
    const file = path.join(tmp, 'nan_test_data.p');
    const nan = (n: number) => f32bytes(Array.from({ length: n }, () => NaN));
    fs.writeFileSync(file, pickle2([
      npArray('f4', [1, 3, 8, 64, 64], nan(3 * 8 * 64 * 64)),
      [npArray('f4', [1, 400], nan(400)), { $list: [npArray('f4', [1, 129, 64], nan(129 * 64))] }],
    ]));
    await assert.rejects(readTestData(file), { code: 'NON_FINITE' });
    assert.deepEqual(await inspectTestData(file), { kind: 'test-data', batch: 1, frames: 8, height: 64, width: 64, numClasses: 400, depth: 1, tokens: 129, embedDim: 64 });
  });

  it('an HF folder is read as the pipeline reads it (shapes from its safetensors or .bin, no tensor loaded), and the scan knows it', async () => {
    const expected: Record<string, string> = {
      hf_base: '2×32², width 32, 3 blocks, no classifier',
      hf_bin: '4×32², width 32, 4 blocks, 5 classes',
      hf_sharded: '4×32², width 32, 4 blocks, 5 classes',
      hf_outlier: '4×32², width 48, 6 blocks, 10 classes',
    };
    for (const [n, words] of Object.entries(expected)) {
      const m = await inspectCheckpoint(fx(n));
      assert.equal(describeSignature(m), words, n);
      assert.ok(m.hf, n);
      assert.deepEqual(disagreements(m, await inspectTestData(fx(`${n}_test_data.p`))), [], n);
      assert.ok(await isHfCheckpointFolder(fx(n)), n);
    }
    assert.equal((await inspectCheckpoint(fx('hf_sharded'))).format, 'safetensors (9 shards)');
    assert.ok(!(await isHfCheckpointFolder(FIX)), 'the fixtures folder is no model');
    const bert = path.join(tmp, 'bert');
    fs.mkdirSync(bert);
    fs.writeFileSync(path.join(bert, 'config.json'), JSON.stringify({ model_type: 'bert' }));
    fs.writeFileSync(path.join(bert, 'model.safetensors'), '');
    assert.ok(!(await isHfCheckpointFolder(bert)), 'another model type is not offered');
    await assert.rejects(inspectCheckpoint(bert), { code: 'UNSUPPORTED_MODEL' });
  });

  it('names the file and the cause when a file is not what its role needs', async () => {
    await assert.rejects(inspectTestData(fx('d1_outlier.pyth')), { code: 'BAD_TEST_DATA', message: `${fx('d1_outlier.pyth')}: this is a zip archive (a checkpoint?), not a test-data pickle` });
    await assert.rejects(inspectCheckpoint(fx('d1_outlier_test_data.p')), { code: 'NOT_A_CHECKPOINT' });
    await assert.rejects(inspectTestData(path.join(tmp, 'nope.p')), { code: 'FILE_NOT_FOUND' });
  });
});
