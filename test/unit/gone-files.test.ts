/**
 * A checkpoint deleted or renamed after its run offered a fix: the fix is refused with the file's
 * name ("x.pyth no longer exists"), and changes nothing; a file browsed to that is gone leaves the
 * lists at the next scan, in the workspace state too — no ghost entry that nothing removes.
 */
import { strict as assert } from 'assert';
import { LabState, type RunInputs } from '../../extension/host/state';
import { D1_FP16_ERRORS } from './helpers/report';
import { DEFAULTS, W, file, report, workspace } from './helpers/state';

const SCAN = {
  checkpoints: ['a_model.pyth', 'b_model.pyth', 'c_model.pyth', 'd4.pyth'].map(file),
  testData: ['a_test_data.p', 'b_test_data.p', 'broken.p', 'c_test_data.p', 'd4_test_data.p'].map(file),
};

describe('files gone since: no ghost entries', () => {
  it('the fix of a run whose checkpoint was deleted is refused, naming the file, and nothing changes', async () => {
    const { s } = await workspace();
    const x = '/elsewhere/x.pyth';
    s.chooseCheckpoint(x, 'x.pyth');
    s.chooseTestData(null);
    const req = s.request() as { options: never; inputs: never };
    const run = s.runFinished(report(D1_FP16_ERRORS, { overflowFrom: 4 }), req.options, 1, req.inputs);
    assert.ok(run.offers.includes('fp32'));
    s.chooseCheckpoint(`${W}/a_model.pyth`);
    // x.pyth deleted: the next scan drops it from the lists
    const exists = (p: string) => p !== x;
    s.setScan(SCAN.checkpoints, SCAN.testData, exists);
    assert.equal(s.isListed('checkpoint', x), false);
    const before = JSON.stringify(s.sidebar());
    const why = s.adoptFix(run.id, 'fp32', exists);
    assert.equal(why, `x.pyth no longer exists (${x}): the fix offered by ${run.short} has nothing to run on`);
    assert.equal(s.isListed('checkpoint', x), false, 'not listed again');
    assert.equal(s.checkpoint, `${W}/a_model.pyth`);
    assert.equal(JSON.stringify(s.sidebar()), before, 'nothing changed');
    // a file that is there: the fix holds as before
    assert.equal(typeof s.adoptFix(run.id, 'fp32', () => true), 'object');
    assert.equal(s.checkpoint, x);
  });

  it('a test-data file gone refuses the fix too', async () => {
    const { s } = await workspace();
    const req = s.request() as { options: never; inputs: RunInputs };
    const run = s.runFinished(report(D1_FP16_ERRORS, { overflowFrom: 4 }), req.options, 1, req.inputs);
    assert.match(s.adoptFix(run.id, 'fused', (p) => p !== req.inputs.testData) as string, /^a_test_data\.p no longer exists/);
  });

  it('a browsed file gone leaves the lists at the next scan, and the workspace state: a reload does not list it again', async () => {
    const { s, memento } = await workspace();
    s.chooseCheckpoint('/elsewhere/x.pyth', 'x.pyth');
    s.chooseTestData('/elsewhere/x_data.p', 'x_data.p');
    s.chooseCheckpoint('/elsewhere/y.pyth', 'y.pyth');
    s.setScan(SCAN.checkpoints, SCAN.testData, () => true);
    assert.ok(s.isListed('checkpoint', '/elsewhere/x.pyth'), 'still there: kept');
    s.setScan(SCAN.checkpoints, SCAN.testData, (p) => !p.startsWith('/elsewhere/x'));
    assert.equal(s.isListed('checkpoint', '/elsewhere/x.pyth'), false);
    assert.equal(s.isListed('testData', '/elsewhere/x_data.p'), false);
    assert.ok(s.isListed('checkpoint', '/elsewhere/y.pyth'));
    const again = new LabState(memento, () => DEFAULTS, 5);
    again.setScan(SCAN.checkpoints, SCAN.testData);
    assert.deepEqual(again.checkpointList().map((f) => f.path).filter((p) => p.startsWith('/elsewhere')), ['/elsewhere/y.pyth']);
    assert.equal(again.isListed('testData', '/elsewhere/x_data.p'), false);
  });
});
