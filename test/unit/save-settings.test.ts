/**
 * "Save Choices as Workspace Settings": what it writes reads back as the same choices (test data
 * "none" included, and a file of a second workspace folder), and the configuration event its own
 * writes raise does not forget the test data chosen for the other checkpoints. The store is driven
 * as the extension drives it: the settings change, then settingsChanged with the keys touched.
 */
import { strict as assert } from 'assert';
import { NO_TEST_DATA, readTestDataSetting, resolveSettingPath, settingPath, testDataSetting } from '../../extension/host/setting-paths';
import { W, workspace } from './helpers/state';

describe('Save as Workspace Settings: the path settings written and read back', () => {
  it('a file of the first folder is written relative to it, another folder\'s absolutely: both read back as the same file', () => {
    for (const p of [`${W}/a_model.pyth`, `${W}/models/hf1`, '/other-root/b_model.pyth', '/ws2/a_test_data.p']) {
      const written = settingPath(p, W);
      assert.equal(resolveSettingPath(written, W), p, `${p} written as ${written}`);
    }
    assert.equal(settingPath(`${W}/models/a.pyth`, W), 'models/a.pyth');
    assert.equal(settingPath('/ws2/a.pyth', W), '/ws2/a.pyth', 'not "../ws2/a.pyth", not "a.pyth" relative to its own folder');
    assert.equal(settingPath('/ws/a.pyth', undefined), '/ws/a.pyth');
  });

  it('no test data is written as "none" and read back as none; empty is "pair by shape"', () => {
    assert.equal(testDataSetting(null, W), NO_TEST_DATA);
    assert.equal(readTestDataSetting(NO_TEST_DATA, W), null);
    assert.equal(readTestDataSetting(' None ', W), null);
    assert.equal(readTestDataSetting('', W), undefined);
    assert.equal(readTestDataSetting(undefined, W), undefined);
    assert.equal(readTestDataSetting(testDataSetting(`${W}/a_test_data.p`, W), W), `${W}/a_test_data.p`);
  });
});

describe('Save as Workspace Settings: the store after its own writes', () => {
  it('a_model with none saved: none runs after the save, and b_model keeps the test data chosen for it', async () => {
    const { s, settings } = await workspace();
    s.chooseCheckpoint(`${W}/b_model.pyth`);
    s.chooseTestData(null);
    s.chooseCheckpoint(`${W}/a_model.pyth`);
    s.chooseTestData(null);
    assert.equal(s.testData, null);
    // what saveSettings writes, as settingsDefaults reads it back, then the events of its writes
    settings.checkpoint = resolveSettingPath(settingPath(s.checkpoint!, W), W);
    settings.testData = readTestDataSetting(testDataSetting(s.testData!, W), W);
    s.saved();
    s.settingsChanged(['checkpoint']);
    s.settingsChanged(['testData']);
    assert.equal(s.checkpoint, `${W}/a_model.pyth`);
    assert.equal(s.testData, null, 'none saved, none runs (not a_test_data.p paired by shape)');
    assert.equal(s.sidebar().testDataPath, null);
    s.chooseCheckpoint(`${W}/b_model.pyth`);
    assert.equal(s.testData, null, 'b_model\'s own choice survives the save (not b_test_data.p paired again)');
  });

  it('a test-data setting the user edits wins for its checkpoint; with no checkpoint setting, for every checkpoint', async () => {
    const { s, settings } = await workspace();
    s.chooseCheckpoint(`${W}/b_model.pyth`);
    s.chooseTestData(null);
    s.chooseCheckpoint(`${W}/a_model.pyth`);
    s.chooseTestData(null);
    settings.checkpoint = `${W}/a_model.pyth`;
    settings.testData = `${W}/c_test_data.p`;
    s.settingsChanged(['testData']);
    assert.equal(s.testData, `${W}/c_test_data.p`, 'the edited setting wins over the sidebar\'s none for a_model');
    s.chooseCheckpoint(`${W}/b_model.pyth`);
    assert.equal(s.testData, null, 'b_model\'s choice is not the setting\'s');
    settings.checkpoint = undefined;
    settings.testData = readTestDataSetting(NO_TEST_DATA, W);
    s.chooseTestData(`${W}/b_test_data.p`);
    s.settingsChanged(['testData']);
    assert.equal(s.testData, null, 'a test-data setting for every checkpoint wins over each choice');
  });
});
