/**
 * One fix-offer notification per finding (host/views/open-offers.ts): the same failing mode run
 * again while its notification is unanswered adds none; another finding, or the same once answered
 * or closed, gets its own. Runs made by the host's store, as the extension makes them.
 */
import { strict as assert } from 'assert';
import { findingKey, OpenOffers } from '../../extension/host/views/open-offers';
import { D1_FIXED_ERRORS, D1_FP16_ERRORS } from './helpers/report';
import { W, report, withMinimalFix, workspace } from './helpers/state';

/** A notification the test answers when it likes. */
function toast(): { show: () => Promise<string | undefined>; answer: (pick?: string) => void; shown: number } {
  const t = {
    shown: 0,
    answers: [] as ((pick?: string) => void)[],
    show: () => {
      t.shown++;
      return new Promise<string | undefined>((done) => t.answers.push(done));
    },
    answer: (pick?: string) => t.answers.shift()?.(pick),
  };
  return t;
}

const settle = () => new Promise((done) => setImmediate(done));

describe('fix offers: one notification per finding', () => {
  it('the same plain mode run three times (the expose toggle off and on): one notification, until it is answered', async () => {
    const { s } = await workspace();
    const req = s.request() as { options: never; inputs: { checkpoint: string; testData: string | null } };
    const failing = () => s.runFinished(withMinimalFix(report(D1_FP16_ERRORS, { overflowFrom: 4 })), req.options, 1, req.inputs);
    const offers = new OpenOffers();
    const t = toast();
    const [r1, r2] = [failing(), failing()];
    assert.notEqual(r1.short, r2.short, 'two runs, two names');
    assert.equal(findingKey(r1), findingKey(r2), 'one finding');
    assert.equal(offers.offer(r1, t.show), true);
    assert.equal(offers.offer(r2, t.show), false, 'the second run adds no notification');
    assert.equal(t.shown, 1);
    // a passing run of the fix, and another model's failing run, are other findings
    const fixed = s.runFinished(report(D1_FIXED_ERRORS, { layerNorm: 'fp32' }), { ...(req.options as object), layerNorm: 'fp32' } as never, 2, req.inputs);
    const other = s.runFinished(withMinimalFix(report(D1_FP16_ERRORS, { overflowFrom: 4 })), req.options, 3, { checkpoint: `${W}/b_model.pyth`, testData: null });
    assert.notEqual(findingKey(fixed), findingKey(r1));
    assert.equal(offers.offer(other, t.show), true, 'another model: its own notification');
    assert.equal(t.shown, 2);
    // answered (closed without a pick): the next run of the same finding is offered again
    t.answer(undefined);
    await settle();
    assert.equal(offers.offer(failing(), t.show), true);
    assert.equal(t.shown, 3);
    assert.equal(offers.size, 2, 'the other model\'s and the new one are open');
  });

  it('another confirmation of the minimal fix, or other options, is another finding', async () => {
    const { s } = await workspace();
    const req = s.request() as { options: never; inputs: { checkpoint: string; testData: string | null } };
    const base = report(D1_FP16_ERRORS, { overflowFrom: 4 });
    const pass = s.runFinished(withMinimalFix(base, 'pass'), req.options, 1, req.inputs);
    const fail = s.runFinished(withMinimalFix(base, 'fail'), req.options, 2, req.inputs);
    const onGpu = s.runFinished(withMinimalFix(base, 'pass'), { ...(req.options as object), ep: 'webgpu' } as never, 3, req.inputs);
    assert.equal(new Set([pass, fail, onGpu].map(findingKey)).size, 3);
  });

  it('a notification that fails to show frees its finding', async () => {
    const { s } = await workspace();
    const req = s.request() as { options: never; inputs: { checkpoint: string; testData: string | null } };
    const run = s.runFinished(withMinimalFix(report(D1_FP16_ERRORS, { overflowFrom: 4 })), req.options, 1, req.inputs);
    const offers = new OpenOffers();
    assert.equal(offers.offer(run, () => Promise.reject(new Error('no window'))), true);
    await settle();
    assert.equal(offers.size, 0);
    assert.equal(offers.offer(run, () => new Promise(() => undefined)), true);
  });
});
