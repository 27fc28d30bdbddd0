/**
 * A fix notification outlives its fix (VS Code cannot close it): the store tells whether the fix it
 * offers has run since (fixRunOf), so that its button shows that run instead of running it again
 * (views/fix-offers.ts). Runs made by the store as the extension makes them: the failing run, the
 * fix adopted, what Run would run then.
 */
import { strict as assert } from 'assert';
import type { RunInputs } from '../../extension/host/state';
import type { RunOptions } from '../../extension/protocol';
import { D1_FIXED_ERRORS, D1_FP16_ERRORS } from './helpers/report';
import { W, report, withMinimalFix, workspace } from './helpers/state';

type Req = { options: RunOptions; inputs: RunInputs };

describe('a fix offer whose fix has run since', () => {
  it('finds the run its fix made (FP32, the minimal fix), and only a later one of the same inputs and options', async () => {
    const { s } = await workspace();
    const req = s.request() as Req;
    const failing = s.runFinished(withMinimalFix(report(D1_FP16_ERRORS, { overflowFrom: 4 })), req.options, 1, req.inputs);
    assert.deepEqual(failing.offers.slice(0, 2), ['minimal', 'fp32']);
    assert.equal(s.fixRunOf(failing.id, 'fp32'), undefined, 'not run yet: the button runs it');
    // the fix clicked in the sidebar: adopted, run as Run runs it
    assert.equal(typeof s.adoptFix(failing.id, 'fp32'), 'object');
    const fixReq = s.request() as Req;
    assert.equal(fixReq.options.layerNorm, 'fp32');
    const fixed = s.runFinished(report(D1_FIXED_ERRORS, { layerNorm: 'fp32' }), fixReq.options, 2, fixReq.inputs);
    assert.equal(s.fixRunOf(failing.id, 'fp32')?.id, fixed.id, 'the stale button shows this run');
    assert.equal(s.fixRunOf(failing.id, 'minimal'), undefined, 'another fix has not run');
    assert.equal(s.fixRunOf(fixed.id, 'fp32'), undefined, 'a run before the offer is no answer to it');
    // the minimal fix run too; the newest of two is the one shown
    s.adoptFix(failing.id, 'minimal');
    const minReq = s.request() as Req;
    const m1 = s.runFinished(report(D1_FIXED_ERRORS), minReq.options, 3, minReq.inputs);
    const m2 = s.runFinished(report(D1_FIXED_ERRORS), minReq.options, 4, minReq.inputs);
    assert.notEqual(m1.id, m2.id);
    assert.equal(s.fixRunOf(failing.id, 'minimal')?.id, m2.id);
  });

  it('the same fix on another model, or other options, is not that fix', async () => {
    const { s } = await workspace();
    const req = s.request() as Req;
    const failing = s.runFinished(withMinimalFix(report(D1_FP16_ERRORS, { overflowFrom: 4 })), req.options, 1, req.inputs);
    s.runFinished(report(D1_FIXED_ERRORS, { layerNorm: 'fp32' }), { ...req.options, layerNorm: 'fp32' }, 2, { checkpoint: `${W}/c_model.pyth`, testData: `${W}/c_test_data.p` });
    s.runFinished(report(D1_FIXED_ERRORS, { layerNorm: 'fp32' }), { ...req.options, layerNorm: 'fp32', ep: 'webgpu' }, 3, req.inputs);
    assert.equal(s.fixRunOf(failing.id, 'fp32'), undefined);
    assert.equal(s.fixRunOf('run-99', 'fp32'), undefined, 'an offer of a run no longer kept');
  });
});
