/**
 * The Heads field's placeholder says what an empty field means for the chosen checkpoint and test
 * data, as the pipeline settles the count (core/pipeline/heads.ts): an HF folder's config.json
 * gives it (listed by the scan, or browsed to and read as one), test data detects it, and without
 * test data (or with a video) it is assumed. Headers read by core's inspectCheckpoint, as the
 * extension reads them.
 */
import { strict as assert } from 'assert';
import * as path from 'path';
import { inspectCheckpoint } from '../../extension/core/inspect';
import { FIX, W, file, workspace } from './helpers/state';

describe('the Heads placeholder follows the chosen checkpoint and test data', () => {
  it('test data: detected; none or a video: assumed; an HF folder (scanned or browsed): from its config.json', async () => {
    const { s } = await workspace();
    assert.equal(s.sidebar().headsPlaceholder, 'detect from test data');
    s.chooseTestData(null);
    assert.equal(s.sidebar().headsPlaceholder, 'auto (assumed without test data)');
    s.chooseTestData(`${W}/clip.mp4`, 'clip.mp4');
    assert.equal(s.sidebar().headsPlaceholder, 'auto (assumed without test data)', 'a video is compared with the model\'s own FP32: nothing detects the count');
    // the scan lists an HF folder (hf: true)
    const hf = { path: `${W}/hf_base`, label: 'hf_base/', hf: true };
    s.setScan([...['a_model.pyth', 'b_model.pyth'].map(file), hf], ['a_test_data.p', 'hf_base_test_data.p'].map(file));
    s.chooseCheckpoint(hf.path);
    s.chooseTestData(`${W}/hf_base_test_data.p`);
    assert.equal(s.sidebar().headsPlaceholder, 'from the checkpoint\'s config.json', 'with test data too: the config wins');
    s.chooseTestData(null);
    assert.equal(s.sidebar().headsPlaceholder, 'from the checkpoint\'s config.json');
    // an HF folder browsed to: its header says HF, and it is a folder
    const browsed = path.join(FIX, 'hf_bin');
    const sig = await inspectCheckpoint(browsed);
    assert.equal(sig.hf, true);
    s.chooseCheckpoint(browsed, 'hf_bin');
    s.chooseTestData(null);
    assert.equal(s.sidebar().headsPlaceholder, 'auto (assumed without test data)', 'not read yet: nothing says it is an HF folder');
    s.setInspections(new Map([[browsed, { state: 'ok', signature: sig }]]));
    assert.equal(s.sidebar().headsPlaceholder, 'from the checkpoint\'s config.json');
    // an official checkpoint's header (hf: false) keeps the test data's rule
    s.chooseCheckpoint(`${W}/a_model.pyth`);
    assert.equal(s.testData, `${W}/clip.mp4`, 'a_model keeps its video');
    s.chooseTestData(`${W}/a_test_data.p`);
    assert.equal(s.sidebar().headsPlaceholder, 'detect from test data');
  });
});
