/**
 * The benchmark's checkpoint generator writes what our reader reads: the official keys and
 * shapes, the values it drew, the planted massive activation, and the full-size parameter count.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { checkpointSpec, FULL_SIZE, FULL_SIZE_PARAMS, generateWeights, paramCount, writeCheckpoint, type GenOptions } from '../../scripts/fixtures/gen-checkpoint';
import { loadModel } from '../../extension/core/pipeline';

describe('benchmark checkpoint generator', function () {
  let tmp: string;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-gen-'))));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('describes the released full-size model: 121,566,352 parameters', () => {
    assert.equal(paramCount(checkpointSpec(FULL_SIZE)), FULL_SIZE_PARAMS);
  });

  it('writes a torch.save zip that our reader loads back value for value, deterministically', async () => {
    const o: GenOptions = { ...FULL_SIZE, embed: 32, depth: 2, frames: 4, image: 32, patch: 16, classes: 5, outlierBlock: 1, outlierChannel: 7, outlierValue: 300 };
    const file = path.join(tmp, 'small.pyth');
    writeCheckpoint(o, file);
    const m = await loadModel(file);
    assert.equal(m.format, 'zip');
    assert.deepEqual(
      { C: m.base.embedDim, depth: m.base.depth, T: m.base.frames, img: m.base.imageSize, K: m.base.numClasses, hidden: m.base.mlpHidden },
      { C: 32, depth: 2, T: 4, img: 32, K: 5, hidden: 128 },
    );
    const drawn = generateWeights(o);
    assert.equal(m.weights.size, drawn.size);
    for (const [k, v] of drawn) assert.deepEqual(m.weights.get(k.replace(/^model\./, '')), v.data, k);
    assert.equal(m.weights.get('blocks.1.mlp.fc2.bias')![7], 300);
    fs.mkdirSync(path.join(tmp, 'again'));
    const again = path.join(tmp, 'again', 'small.pyth'); // same stem: torch names the records after it
    writeCheckpoint(o, again);
    assert.ok(fs.readFileSync(file).equals(fs.readFileSync(again)), 'same options, same bytes');
  });
});
