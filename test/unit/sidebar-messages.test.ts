/**
 * The sidebar's message queue (extension/host/views/sidebar-messages.ts): handled in order, but a
 * run — Run, or a fix with its run and confirmation — does not hold it: the messages sent during
 * the run are answered at once, and the run's failure is still said.
 */
import { strict as assert } from 'assert';
import { SidebarMessages, type SidebarActions, type SidebarStore } from '../../extension/host/views/sidebar-messages';

/** Actions that record what was asked; `run` and `applyFix` stay pending until `finish` is called. */
function fakes() {
  const calls: string[] = [];
  const errors: unknown[] = [];
  let finish: (e?: Error) => void = () => undefined;
  const actions: SidebarActions = {
    ready: () => void calls.push('ready'),
    findTrtexec: () => void calls.push('findTrtexec'),
    command: (id, ...args) => {
      calls.push([id, ...args].join(' '));
      if (id !== 'run' && id !== 'applyFix') return Promise.resolve();
      return new Promise((resolve, reject) => (finish = (e) => (e ? reject(e) : resolve(undefined))));
    },
    browse: async (kind) => void calls.push(`browse ${kind}`),
    copyTrtexec: async (id) => void calls.push(`copy ${id}`),
    error: (e) => void errors.push(e),
    log: (l) => void calls.push(`log ${l}`),
  };
  const store = { running: true, isListed: () => true, setOption: () => undefined, chooseCheckpoint: () => undefined, chooseTestData: () => undefined } as unknown as SidebarStore;
  return { calls, errors, actions, store, finish: (e?: Error) => finish(e) };
}

const settle = () => new Promise((r) => setTimeout(r, 10));

describe('sidebar messages: a run does not hold the queue', () => {
  for (const [what, first, asked] of [
    ['a fix', { type: 'fix', runId: 'run-1', mode: 'fp32' }, 'applyFix run-1 fp32'],
    ['Run', { type: 'run' }, 'run'],
  ] as const) {
    it(`during ${what}'s run, Compare, Save as workspace settings, Export for TensorRT… and a reloaded sidebar's ready are answered`, async () => {
      const f = fakes();
      const m = new SidebarMessages(f.store, f.actions);
      m.receive(first);
      for (const type of ['compare', 'saveSettings', 'exportTrt', 'ready', 'showGraph']) m.receive({ type });
      await settle();
      assert.deepEqual(f.calls, [asked, 'compareRuns', 'saveSettings', 'exportTrt', 'ready', 'showGraph']);
      // the run's failure is said (the action's error), not lost
      f.finish(new Error('the engine process crashed'));
      await settle();
      assert.deepEqual(f.errors.map((e) => (e as Error).message), ['the engine process crashed']);
    });
  }

  it('the other messages keep their order: Compare waits for an export before it', async () => {
    const f = fakes();
    let done: () => void = () => undefined;
    f.actions.command = (id) => {
      f.calls.push(id);
      return id === 'exportTrt' ? new Promise<void>((r) => (done = r)) : Promise.resolve();
    };
    const m = new SidebarMessages(f.store, f.actions);
    m.receive({ type: 'exportTrt' });
    m.receive({ type: 'compare' });
    await settle();
    assert.deepEqual(f.calls, ['exportTrt']);
    done();
    await settle();
    assert.deepEqual(f.calls, ['exportTrt', 'compareRuns']);
  });

  it('a malformed message is logged and ignored', () => {
    const f = fakes();
    new SidebarMessages(f.store, f.actions).receive({ type: 'fix', runId: 7 });
    assert.match(f.calls[0], /^log ignored a malformed sidebar message: /);
  });
});
