/**
 * Sweep Clips… in real VS Code (code-server + Chromium, see harness.ts), on a workspace holding
 * the content-dependent checkpoint (scripts/fixtures/gen-sweep-fixture.ts: its massive activation grows with
 * the clip's brightness) and a folder of clips of eight brightnesses: swept from the palette, the
 * view shows the two bright clips failing and the headroom below 65504 where they overflow, the
 * covering fix passes on every clip, and a clip clicked opens as a single run in the graph. While it
 * sweeps, the sidebar's Run is disabled and says why.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Frame } from 'playwright-core';
import { VSCodeSession, closeAfter, findWebviewFrame, readOutputChannelFile, runCommand, startVSCode, waitForCondition, waitForNotification } from './harness';
import { EXTENSION_DIR, ROOT, graphFrame, openSidebar, quickPickLabels, blocks } from './lab';
import { writeSweepFixture, LEVELS } from '../../scripts/fixtures/gen-sweep-fixture';

describe('Sweep Clips… (a folder of clips, one model)', function () {
  let tmp: string;
  let vs: VSCodeSession | undefined;
  let view: Frame;
  let workspace: string;

  before(async function () {
    this.timeout(240_000);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'e2e-sweep-'));
    workspace = path.join(tmp, 'workspace');
    writeSweepFixture(workspace);
    assert.ok(fs.existsSync(path.join(ROOT, 'dist', 'webview', 'sweep.js')), 'build first: npm run build');
    vs = await startVSCode({
      workspace,
      extensionDir: EXTENSION_DIR,
      name: 'sweep',
      settings: {
        'timesformerLab.checkpoint': 'content.pyth', 'timesformerLab.precision': 'fp16', 'timesformerLab.layerNorm': 'plain',
        'timesformerLab.executionProvider': 'cpu', 'timesformerLab.heads': 4,
      },
    });
  });

  closeAfter('sweep', () => ({ vs, tmp }));

  it('swept from the palette: the bright clips fail, the others pass, with the tolerance line; Run waits while it sweeps', async function () {
    this.timeout(240_000);
    const page = vs!.page;
    // the sidebar, watched from before the sweep: what its Run button and why-not line said meanwhile
    const sb = await openSidebar(page);
    await sb.waitForSelector('#run:not([disabled])', { timeout: 60_000 });
    await sb.evaluate(() => {
      const g = globalThis as unknown as { document: { getElementById(id: string): { hasAttribute(a: string): boolean; hidden: boolean; textContent: string | null } | null; body: unknown }; MutationObserver: new (f: () => void) => { observe(n: unknown, o: object): void }; seen: string[] };
      g.seen = [];
      const note = () => {
        const run = g.document.getElementById('run')!;
        const why = g.document.getElementById('why-not')!;
        const line = `${run.hasAttribute('disabled') ? 'disabled' : 'enabled'}|${why.hidden ? '' : why.textContent ?? ''}`;
        if (g.seen[g.seen.length - 1] !== line) g.seen.push(line);
      };
      new g.MutationObserver(note).observe(g.document.body, { subtree: true, childList: true, attributes: true, characterData: true });
    });
    await runCommand(page, 'TimeSformer: Sweep Clips…');
    await waitForCondition(async () => (await quickPickLabels(page)).includes('clips'), 60_000, 'the clip folders offered');
    await page.keyboard.type('clips');
    await waitForCondition(async () => (await quickPickLabels(page))[0] === 'clips', 10_000, 'the clips folder first');
    await page.keyboard.press('Enter');
    view = await findWebviewFrame(page, '.summary[data-status="done"]', 180_000);
    const clips = await view.$$eval('rect.clip', (els) => els.map((e) => ({ clip: e.getAttribute('data-clip') ?? '', status: e.getAttribute('data-status'), error: Number(e.getAttribute('data-error')) })));
    assert.equal(clips.length, LEVELS.length);
    const failing = clips.filter((c) => c.status === 'fail').map((c) => path.basename(c.clip)).sort();
    assert.deepEqual(failing, ['clip0006_level200.npy', 'clip0007_level245.npy'], JSON.stringify(clips));
    // worst first, and the failing clips above the tolerance line, the passing ones below it
    const tol = Number(await view.getAttribute('line#tolerance', 'data-tolerance'));
    assert.equal(tol, 0.025);
    for (const c of clips) assert.equal(c.error > tol, c.status === 'fail', `${c.clip}: ${c.error}`);
    assert.ok(clips[0].status === 'fail' && clips[1].status === 'fail');
    assert.equal(await view.getAttribute('.summary', 'data-verdict'), 'fail');
    // how it ran: the CPU EP here compares on the host, two sessions
    assert.match((await view.textContent('.timing')) ?? '', /^\d+\.\d s, \d+\.\d\d clips\/s · the engine and its FP32 reference as two sessions, blocks compared on the host · \d+ KiB read back a clip$/);
    await vs!.screenshot('sweep-view');
    // while it swept, Run was disabled and said why (a run queued behind the sweep, and its Cancel, killed both); after, Run is back
    await sb.waitForSelector('#run:not([disabled])', { timeout: 10_000 });
    const seen = await sb.evaluate(() => (globalThis as unknown as { seen: string[] }).seen);
    assert.ok(seen.includes('disabled|Run waits: a sweep of content.pyth is running (cancel it from its notification).'), seen.join('\n'));
    assert.match(seen[seen.length - 1], /^enabled\|$/, seen.join('\n'));
    await vs!.screenshot('sweep-sidebar-after');
  });

  it('the headroom per LayerNorm: the 65504 line, below 1× from block 1 on (where the bright clips overflow), far above in block 0', async () => {
    assert.ok(await view.$('line#fp16max'), 'the 65504 line');
    const lns = await view.$$eval('rect.ln', (els) => els.map((e) => ({ ln: e.getAttribute('data-ln')!, factor: Number(e.getAttribute('data-factor')), overflow: e.getAttribute('data-overflow') === 'true' })));
    const by = new Map(lns.map((l) => [l.ln, l]));
    for (const n of ['blocks.1.temporal_norm1', 'blocks.1.norm1', 'blocks.1.norm2']) assert.ok(by.get(n)?.overflow && by.get(n)!.factor < 1, `${n}: ${JSON.stringify(by.get(n))}`);
    for (const n of ['blocks.0.temporal_norm1', 'blocks.0.norm1', 'blocks.0.norm2']) assert.ok(!by.get(n)?.overflow && by.get(n)!.factor > 10, `${n}: ${JSON.stringify(by.get(n))}`);
  });

  it('the covering fix passes on every clip', async () => {
    assert.equal(await view.getAttribute('.fix', 'data-confirmed'), 'pass');
    const fix = (await view.getAttribute('.fix', 'data-layernorms'))!.split(',');
    assert.ok(fix.includes('blocks.1.temporal_norm1') && fix.every((n) => !n.startsWith('blocks.0.')), fix.join(','));
    assert.match((await view.textContent('.fix')) ?? '', /Confirmed: the set re-run with it passes on all 8 clips/);
    // each clip's row says its own run with the fix
    assert.deepEqual(await view.$$eval('tr.cliprow', (els) => els.map((e) => e.getAttribute('data-confirmed'))), Array(8).fill('pass'));
  });

  it('a clip clicked opens as a single run: the graph shows its blocks, block 1 failing', async function () {
    this.timeout(180_000);
    await view.click('rect.clip[data-clip$="clip0007_level245.npy"]');
    const frame = await graphFrame(vs!.page, 'run-1', 2, 120_000);
    const b = await blocks(frame, 'run-1');
    assert.deepEqual(b.map((x) => x.status === 'fail'), [false, true, true], JSON.stringify(b));
  });

  it('its view closed while it sweeps: the sweep goes on and ends as usual, and "Show Sweep" reopens the view with the result', async function () {
    this.timeout(300_000);
    const page = vs!.page;
    // the clip opened above may still be confirming its minimal fix: the sweep would wait for it
    await (await openSidebar(page)).waitForSelector('#run:not([disabled])', { timeout: 120_000 });
    // a folder of 480 clips (the 8 levels, 60 times): seconds of sweeping, time to close the view meanwhile
    const many = path.join(workspace, 'many');
    fs.mkdirSync(many);
    const clips = fs.readdirSync(path.join(workspace, 'clips')).filter((f) => f.endsWith('.npy')).sort();
    for (let i = 0; i < 60; i++) for (const c of clips) fs.copyFileSync(path.join(workspace, 'clips', c), path.join(many, `r${String(i).padStart(2, '0')}_${c}`));
    await runCommand(page, 'TimeSformer: Sweep Clips…');
    await waitForCondition(async () => (await quickPickLabels(page)).includes('many'), 60_000, 'the folder of 480 clips offered');
    await page.keyboard.type('many');
    await waitForCondition(async () => (await quickPickLabels(page))[0] === 'many', 10_000, 'the many folder first');
    await page.keyboard.press('Enter');
    await findWebviewFrame(page, '.summary[data-status="running"][data-total="480"]', 60_000);
    // closed at once from its tab (middle click), while it sweeps: the log has not said its end yet
    await page.locator('.tabs-container .tab', { hasText: 'TimeSformer Sweep' }).first().click({ button: 'middle' });
    await waitForCondition(async () => {
      for (const f of page.frames()) if (!f.isDetached() && (await f.$('.summary').catch(() => null))) return false;
      return true;
    }, 10_000, 'the sweep view closed');
    const log = await readOutputChannelFile(vs!.userDataDir, 'TimeSformer Lab', { contains: 'over many' });
    assert.ok(!/^sweep: FAIL — 360\/480/m.test(log), 'the sweep ended before its view was closed: this test checks nothing (give it more clips)');
    // the sweep's end is in the log; its message may have left the toasts by then: read the notification center
    await readOutputChannelFile(vs!.userDataDir, 'TimeSformer Lab', { contains: /^sweep: FAIL — 360\/480 pass/m, timeoutMs: 240_000 });
    await runCommand(page, 'Notifications: Show Notifications');
    // (under load the workbench draws the message, and the progress notification's end, seconds after the log line)
    const said = await waitForNotification(page, /the sweep is done/, 90_000);
    assert.match(said, /^TimeSformer: the sweep is done: FAIL — 360\/480 pass, 120 fail, 0 could not be read; fix \d+ LayerNorm\(s\) \(pass\)\.$/);
    const messages = await page.locator('.notifications-toasts .notification-list-item-message, .notifications-center .notification-list-item-message').allTextContents();
    assert.ok(!messages.some((m) => /failed/.test(m)), messages.join('\n'));
    await page.locator('.notifications-toasts .monaco-button, .notifications-center .monaco-button').filter({ hasText: /^Show Sweep$/ }).first().click();
    const again = await findWebviewFrame(page, '.summary[data-status="done"][data-total="480"]', 30_000);
    assert.equal(await again.getAttribute('.summary', 'data-done'), '480');
    assert.equal(await again.getAttribute('.fix', 'data-confirmed'), 'pass');
    assert.equal(await again.$$eval('rect.clip', (els) => els.length), 480);
    await vs!.screenshot('sweep-reopened');
  });
});
