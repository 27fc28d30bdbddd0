/**
 * inTurn (core/sweep/batch.ts): a sweep's groups of clips in turn, each launched while the one
 * before is judged — the order of launches and judging, Cancel, and no run left in flight when it
 * returns (the engines are released after it).
 */
import { strict as assert } from 'assert';
import { inTurn, type ClipRunOrError, type Launched } from '../../extension/core/sweep/batch';
import { LabError } from '../../extension/core/errors';

/** A group's fake launch: its run resolves after `ms`; what happened, in order, goes to `events`. */
function fake(events: string[], ms: number, fail?: (g: number) => unknown) {
  return (g: number): Promise<Launched> => {
    events.push(`launch ${g}`);
    const ran = new Promise<void>((resolve, reject) => setTimeout(() => {
      events.push(`ran ${g}`);
      const e = fail?.(g);
      if (e) reject(e);
      else resolve();
    }, ms));
    ran.catch(() => undefined);
    return Promise.resolve({
      finish: async () => {
        await ran;
        events.push(`judged ${g}`);
        return [{ error: undefined }] as ClipRunOrError[];
      },
      settled: async () => {
        await ran.catch(() => undefined);
        events.push(`settled ${g}`);
      },
    });
  };
}

describe('inTurn: groups of clips, the next launched while this one is judged', () => {
  it('group j+1 is launched before group j is judged, every group judged in order, reads told one group ahead', async () => {
    const events: string[] = [];
    const afters: (number | undefined)[] = [];
    const launch = fake(events, 5);
    const each: number[] = [];
    const cancelled = await inTurn([0, 1, 2], (g, after) => {
      afters.push(after);
      return launch(g);
    }, undefined, (g) => events.push(`start ${g}`), (g) => each.push(g));
    assert.equal(cancelled, false);
    assert.deepEqual(each, [0, 1, 2]);
    assert.deepEqual(afters, [1, 2, undefined]);
    for (const g of [0, 1]) assert.ok(events.indexOf(`launch ${g + 1}`) < events.indexOf(`judged ${g}`), `group ${g + 1} launched before group ${g} is judged: ${events.join(', ')}`);
    assert.ok(events.indexOf('launch 0') < events.indexOf('start 0'));
  });

  it('Cancel: the signal before a group ends it, and the group launched ahead has settled when it returns', async () => {
    const events: string[] = [];
    const ac = new AbortController();
    const cancelled = await inTurn([0, 1, 2], (g) => fake(events, 20)(g), ac.signal, () => undefined, (g) => g === 0 && ac.abort());
    assert.equal(cancelled, true);
    assert.ok(!events.includes('judged 1'), 'group 1 was not judged');
    assert.ok(events.includes('launch 1') && events.includes('settled 1'), `the launched group 1 settled before inTurn returned: ${events.join(', ')}`);
    assert.ok(!events.includes('launch 2'));
  });

  it('a CANCELLED run ends it as cancelled; any other error is thrown, after the group ahead has settled', async () => {
    const events: string[] = [];
    assert.equal(await inTurn([0, 1], fake(events, 5, (g) => g === 0 && new LabError('CANCELLED', 'cancelled')), undefined, () => undefined, () => undefined), true);
    assert.ok(events.includes('settled 1'));
    const ev2: string[] = [];
    await assert.rejects(inTurn([0, 1], fake(ev2, 5, (g) => g === 0 && new Error('boom')), undefined, () => undefined, () => undefined), /boom/);
    assert.ok(ev2.includes('settled 1'), ev2.join(', '));
  });
});
