/**
 * A run lands before its minimal fix's confirmation run (the graph is colored while it confirms):
 * cancelling, or an error in, that confirmation run is said as such — "confirmation cancelled" —
 * never as a cancelled re-run of the run that just landed, nor as a fix "the run skipped".
 */
import { strict as assert } from 'assert';
import { confirmationText } from '../../extension/host/protocol';
import { afterNote } from '../../extension/host/state';
import { D1_FP16_ERRORS } from './helpers/report';
import { report, withMinimalFix, workspace } from './helpers/state';

describe('the minimal fix\'s confirmation run cancelled or failed', () => {
  for (const end of ['cancelled', 'error'] as const) {
    it(`${end}: the landed run stays, its note says its confirmation ${end === 'cancelled' ? 'was cancelled' : 'failed'}, the status bar "confirmation ${end === 'cancelled' ? 'cancelled' : 'failed'}"`, async () => {
      const { s } = await workspace();
      const req = s.request() as { options: never; inputs: never };
      s.runStarted(req.inputs, req.options);
      const run = s.runFinished(withMinimalFix(report(D1_FP16_ERRORS, { overflowFrom: 4 }), 'none'), req.options, 1, req.inputs, Date.now(), true);
      if (end === 'cancelled') s.runCancelled(req.inputs);
      else s.runFailed(req.inputs, 'WORKER_DIED', 'the engine process exited');
      const o = s.sidebar().outcome;
      assert.ok(o?.kind === 'run');
      assert.equal(o.runId, run.id, 'the landed run is the verdict');
      assert.equal(o.after?.kind, end);
      assert.equal(o.after?.confirmation, true, 'said as its confirmation run, not a re-run');
      assert.equal(o.minimal?.stopped, end);
      assert.equal(o.minimal?.confirming, undefined);
      const text = confirmationText(o.minimal?.confirmed, o.minimal?.confirming, o.minimal?.stopped);
      assert.equal(text, end === 'cancelled' ? 'not confirmed: its confirmation run was cancelled' : 'not confirmed: its confirmation run failed');
      assert.doesNotMatch(text, /skipped/);
      const att = s.currentAttempt(s.get(run.id));
      assert.ok(att);
      assert.equal(afterNote(att, run), end === 'cancelled' ? 'confirmation cancelled' : 'confirmation failed');
    });
  }

  it('a cancelled re-run of a run that had confirmed is still a cancelled re-run', async () => {
    const { s } = await workspace();
    const req = s.request() as { options: never; inputs: never };
    s.runStarted(req.inputs, req.options);
    const first = s.runFinished(withMinimalFix(report(D1_FP16_ERRORS, { overflowFrom: 4 }), 'pass'), req.options, 1, req.inputs);
    s.runStarted(req.inputs, req.options);
    s.runCancelled(req.inputs);
    const o = s.sidebar().outcome;
    assert.ok(o?.kind === 'run');
    assert.equal(o.runId, first.id);
    assert.equal(o.after?.kind, 'cancelled');
    assert.equal(o.after?.confirmation, undefined);
    assert.equal(o.minimal?.stopped, undefined);
    assert.equal(o.minimal?.confirmed?.verdict, 'pass');
    assert.equal(afterNote(s.currentAttempt(first)!, first), 're-run cancelled');
  });
});
