/**
 * Warm engines in real VS Code (issue 21 item 4): toggling the sidebar's "Expose LayerNorm entries"
 * off and on twice on d1_outlier (FP16, CPU EP). The first run reads the checkpoint and builds its
 * engines; the expose run that follows reuses the preparation (nothing read again); the plain and
 * expose runs after that reuse their sessions too (no engine built), and draw the same blocks as
 * the first time. Asserted on the TimeSformer Lab log (the engine process's lines), not on timing.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { VSCodeSession, closeAfter, openView, startVSCode, waitForCondition } from './harness';
import { EXTENSION_DIR, ROOT, copyD1, waitForD1, clickRun, sidebarFrame, waitForRun, type BlockAttrs } from './lab';

const REUSED = /engine: the cpu session built for these options by an earlier request, kept by the engine process/;
const PREPARED = /warm: the checkpoint, clip and FP32 reference prepared \d+ s ago are kept by the engine process: nothing read again/;

describe('warm engines: toggling expose off and on answers from what the engine process kept (d1_outlier)', function () {
  let tmp: string;
  let vs: VSCodeSession | undefined;
  const depth = 12;

  before(async function () {
    this.timeout(240_000);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'e2e-warm-'));
    const workspace = path.join(tmp, 'workspace');
    copyD1(workspace);
    assert.ok(fs.existsSync(path.join(ROOT, 'dist', 'webview', 'graph.js')), 'build first: npm run build');
    vs = await startVSCode({
      workspace, extensionDir: EXTENSION_DIR, name: 'warm',
      settings: { 'timesformerLab.precision': 'fp16', 'timesformerLab.layerNorm': 'plain', 'timesformerLab.executionProvider': 'cpu' },
    });
  });

  closeAfter('warm', () => ({ vs, tmp }));

  /** The log's lines of run k (1-based): from its "--- run:" line to the next. */
  async function runLog(k: number, until: RegExp): Promise<string[]> {
    let seen = '';
    try {
      return await waitForCondition(async () => {
        const text = await vs!.readOutputChannel('TimeSformer Lab');
        seen = text;
        const runs = text.split(/^.*--- run: .*$/m).slice(1);
        const lines = (runs[k - 1] ?? '').split('\n');
        return runs.length >= k && lines.some((l) => until.test(l)) ? lines : false;
      }, 30_000, `run ${k}'s log lines`);
    } catch (e) {
      fs.mkdirSync(path.join(ROOT, 'artifacts', 'e2e'), { recursive: true });
      fs.writeFileSync(path.join(ROOT, 'artifacts', 'e2e', `warm-log-run-${k}.txt`), seen);
      throw new Error(`${(e as Error).message} (the log: artifacts/e2e/warm-log-run-${k}.txt)`);
    }
  }

  async function toggleAndRun(expose: boolean, k: number): Promise<BlockAttrs[]> {
    const sidebar = await sidebarFrame(vs!.page);
    if ((await sidebar.getAttribute('#expose', 'data-value')) !== String(expose)) {
      await sidebar.click('#expose');
      await sidebar.waitForSelector(`#expose[data-value="${expose}"]`, { timeout: 10_000 });
    }
    await clickRun(vs!.page);
    await sidebar.waitForSelector(`#last[data-run="run-${k}"]`, { timeout: 120_000 });
    return (await waitForRun(vs!.page, `run-${k}`, depth)).blocks;
  }

  it('plain, expose, plain, expose: the second plain and expose runs build no engine and read nothing', async function () {
    this.timeout(300_000);
    const { page } = vs!;
    await openView(page, 'TimeSformer Lab');
    const sidebar = await sidebarFrame(page);
    await waitForD1(sidebar);

    const plain1 = await toggleAndRun(false, 1);
    const log1 = await runLog(1, /Block 4 fails/);
    assert.ok(log1.some((l) => /\[reading checkpoint\]/.test(l)), 'the first run reads the checkpoint');
    assert.ok(!log1.some((l) => PREPARED.test(l) || REUSED.test(l)), log1.join('\n'));

    const expose1 = await toggleAndRun(true, 2);
    const log2 = await runLog(2, PREPARED);
    assert.ok(!log2.some((l) => /\[reading (checkpoint|test data)\]/.test(l)), `a new mode reads nothing again:\n${log2.join('\n')}`);
    assert.ok(log2.some((l) => /\[building engine\]/.test(l)), 'a new mode builds its engine');

    const plain2 = await toggleAndRun(false, 3);
    const log3 = await runLog(3, REUSED);
    assert.ok(log3.some((l) => PREPARED.test(l)));
    assert.ok(!log3.some((l) => /\[(reading checkpoint|reading test data|building graph|building engine)\]/.test(l)), `nothing read or built:\n${log3.join('\n')}`);
    // the plain mode's engine and its minimal fix's confirmation engine, both kept
    await waitForCondition(async () => (await runLog(3, REUSED)).filter((l) => REUSED.test(l)).length === 2 || false, 30_000, 'two sessions reused');

    const expose2 = await toggleAndRun(true, 4);
    const log4 = await runLog(4, REUSED);
    assert.ok(!log4.some((l) => /\[(reading checkpoint|reading test data|building graph|building engine)\]/.test(l)), `nothing read or built:\n${log4.join('\n')}`);

    // the same results as the first time, block by block
    assert.deepStrictEqual(plain2, plain1);
    assert.deepStrictEqual(expose2, expose1);
    assert.strictEqual(plain1[4].status, 'fail');
    assert.ok(expose1.every((b) => b.status === 'pass'));
    // the plain mode failed twice the same way: one fix offer, #1's (host/views/open-offers.ts), in the toasts or the notification center
    const offers = (await page.locator('.notifications-toasts .notification-list-item-message, .notifications-center .notification-list-item-message').allTextContents())
      .filter((t) => /block 4 LayerNorm overflows FP16/.test(t));
    assert.strictEqual(offers.length, 1, offers.join('\n'));
    assert.match(offers[0], /^TimeSformer: #1 d1_outlier · FP16 plain · cpu: /);
    await vs!.screenshot('warm-01-expose-toggled-twice');
  });
});
