/**
 * One engine process, one request at a time: the store knows when a run or a sweep holds it
 * (LabState.sweepStarted / whyBusy), and the sidebar, the context keys the menus read and the
 * commands (Run, the fixes, Check FP16, Open Swept Clip as a Run, another sweep) all read that, so
 * nothing queues behind a sweep where its Cancel would kill both. The menus' when-clauses are
 * checked in package.json.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { W, workspace } from './helpers/state';

const ROOT = path.join(__dirname, '..', '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { contributes: { menus: Record<string, { command: string; when?: string }[]> } };

describe('the store holds a sweep in progress: Run waits, and says why', () => {
  it('a sweep makes the store busy: Run disabled with its why-not line, another sweep refused, nothing else changed; its end frees Run', async () => {
    const { s, memento } = await workspace();
    assert.equal(s.whyBusy(), undefined);
    assert.equal(s.sidebar().canRun, true);
    const changes: number[] = [];
    s.onDidChange(() => changes.push(1));
    const writes = memento.writes;
    assert.equal(s.sweepStarted(`${W}/a_model.pyth`), undefined);
    assert.equal(s.sweeping, true);
    assert.equal(s.running, false, 'a sweep is not a run: Cancel of a run is not offered for it');
    assert.equal(s.whyBusy(), 'a sweep of a_model.pyth is running');
    const v = s.sidebar();
    assert.equal(v.canRun, false);
    assert.equal(v.sweeping, true);
    assert.equal(v.whyNot, 'Run waits: a sweep of a_model.pyth is running (cancel it from its notification).');
    // a second sweep (or a run's command) is refused by the store itself: the first one stays
    assert.equal(s.sweepStarted(`${W}/b_model.pyth`), 'a sweep of a_model.pyth is running');
    assert.equal(s.whyBusy(), 'a sweep of a_model.pyth is running');
    assert.equal(changes.length, 1, 'one change for the start, none for the refusal');
    s.sweepEnded();
    assert.equal(s.sweeping, false);
    assert.equal(s.whyBusy(), undefined);
    assert.equal(s.sidebar().canRun, true);
    assert.equal(s.sidebar().whyNot, undefined);
    assert.equal(changes.length, 2);
    s.sweepEnded();
    assert.equal(changes.length, 2, 'ending no sweep changes nothing');
    assert.equal(memento.writes, writes, 'a sweep in progress is not persisted');
  });

  it('a run in progress refuses a sweep; a sweep leaves the choices free (it read them when it started)', async () => {
    const { s } = await workspace();
    const req = s.request() as { options: never; inputs: never };
    s.runStarted(req.inputs, req.options);
    assert.equal(s.whyBusy(), 'a run is in progress');
    assert.equal(s.sweepStarted(`${W}/a_model.pyth`), 'a run is in progress');
    assert.equal(s.sweeping, false);
    s.runCancelled(req.inputs);
    assert.equal(s.sweepStarted(`${W}/a_model.pyth`), undefined);
    s.chooseCheckpoint(`${W}/b_model.pyth`);
    assert.equal(s.checkpoint, `${W}/b_model.pyth`);
    assert.equal(s.sidebar().canRun, false, 'another model waits for the sweep too');
    assert.match(s.sidebar().whyNot!, /a sweep of a_model\.pyth is running/);
  });

  it('the menus that start something in the engine process are hidden during a run and a sweep; Check FP16 too', () => {
    const m = pkg.contributes.menus;
    const guarded = (when: string | undefined) => !!when && /!timesformerLab\.running\b/.test(when) && /!timesformerLab\.sweeping\b/.test(when);
    for (const id of ['run', 'applyFix', 'sweepClips', 'exportOnnx']) {
      const e = m.commandPalette.find((x) => x.command === `timesformerLab.${id}`)!;
      assert.ok(guarded(e.when), `palette ${id}: ${e.when}`);
    }
    const title = m['view/title'].find((x) => x.command === 'timesformerLab.run')!;
    assert.ok(guarded(title.when), title.when);
    const explorer = m['explorer/context'];
    assert.equal(explorer.length, 3);
    for (const e of explorer) assert.ok(guarded(e.when), `explorer ${e.command}: ${e.when}`);
  });
});
