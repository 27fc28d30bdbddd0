/**
 * The UI flows issue 23 found without a test, each against the promise a user relies on, in one
 * VS Code session (code-server + Chromium, harness.ts) on a workspace holding d1_outlier, a copy
 * of it under a name full of markup (`$(x)`, `<b>`, backticks), one with a newline in its name,
 * and an HF folder:
 *  - Select Checkpoint / Select Test Data from the palette (files listed as written, "none",
 *    Browse… through VS Code's own file dialog), the file watcher, settings.json edits;
 *  - the sidebar's heads and provider fields, Show Log on an error;
 *  - Show Graph and the sidebar's links, the graph panel's run chips, Choose runs…, zoom buttons,
 *    arrow keys and Escape; Copy trtexec line (read back from the browser's clipboard);
 *  - Remove Runs…, escaping in the run picker's labels and titles and in the status bar;
 *  - Explorer → Check FP16 on an HF folder.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Frame } from 'playwright-core';
import { VSCodeSession, closeAfter, openView, runCommand, startVSCode, waitForCondition, waitForNotification } from './harness';
import {
  EXTENSION_DIR, FIXTURES, acceptOpenDialog, choose, clearNotifications, clickRun, graphFrame, heldValue, outcome, pickItem, pickMany,
  quickInputState, sidebarFrame, statusBarText,
} from './lab';

const ODD = 'odd $(x) <b> `t`.pyth';
const NEWLINE = 'new\nline.pyth';
const ZWSP = /\u200b/g;

describe('UI flows: pickers, watcher, settings, sidebar fields, graph panel, clipboard, escaping (issue 23)', function () {
  let tmp: string;
  let ws: string;
  let elsewhere: string;
  let vs: VSCodeSession | undefined;
  const p = (f: string) => path.join(ws, 'models', f);
  const log = () => vs!.readOutputChannel('TimeSformer Lab');
  /** The checkpoint the sidebar holds when nothing was chosen (the workspace's first). */
  let initial = '';

  async function sidebar(): Promise<Frame> {
    await openView(vs!.page, 'TimeSformer Lab');
    return sidebarFrame(vs!.page);
  }

  /** Options of a sidebar select: [value, label]. */
  function options(sb: Frame, id: string): Promise<string[][]> {
    return sb.$$eval(`#${id} option`, (els) => els.map((e) => [e.getAttribute('value') ?? '', e.textContent ?? '']));
  }

  /** Run from the sidebar and wait for the new run's outcome and graph; returns its id. */
  async function runFromSidebar(depth: number): Promise<string> {
    const sb = await sidebarFrame(vs!.page);
    const before = await sb.getAttribute('#last', 'data-run');
    await clickRun(vs!.page);
    await sb.waitForSelector('body[data-running="true"]', { timeout: 30_000 }).catch(() => undefined);
    const id = await waitForCondition(async () => {
      const now = await sb.getAttribute('#last', 'data-run');
      return (await sb.getAttribute('body', 'data-running')) === 'false' && now && now !== before ? now : false;
    }, 150_000, 'the new run');
    await graphFrame(vs!.page, id, depth - 1, 30_000);
    return id;
  }

  before(async function () {
    this.timeout(240_000);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'e2e-flows-'));
    ws = path.join(tmp, 'workspace');
    elsewhere = path.join(tmp, 'elsewhere');
    fs.mkdirSync(path.join(ws, 'models'), { recursive: true });
    fs.mkdirSync(elsewhere);
    for (const f of ['d1_outlier.pyth', 'd1_outlier_test_data.p']) fs.copyFileSync(path.join(FIXTURES, f), p(f));
    fs.copyFileSync(path.join(FIXTURES, 'd1_outlier.pyth'), p(ODD));
    fs.copyFileSync(path.join(FIXTURES, 'd2_legacy.pyth'), p(NEWLINE));
    fs.cpSync(path.join(FIXTURES, 'hf_outlier'), path.join(ws, 'hf_outlier'), { recursive: true });
    for (const f of ['d2_legacy.pyth', 'd2_legacy_test_data.p']) fs.copyFileSync(path.join(FIXTURES, f), path.join(elsewhere, f));
    vs = await startVSCode({
      workspace: ws, extensionDir: EXTENSION_DIR, name: 'flows',
      settings: { 'timesformerLab.precision': 'fp16', 'timesformerLab.layerNorm': 'plain', 'timesformerLab.executionProvider': 'cpu' },
    });
    // The page may read what the extension writes to the clipboard (Copy trtexec line).
    await vs.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: vs.url.replace(/\/$/, '') });
  });

  closeAfter('flows', () => ({ vs, tmp }));

  it('Select Checkpoint lists every checkpoint and the HF folder by name as written (no icon from $(x), no markup from <b>, a newline kept in one row); the one picked is what the sidebar holds', async function () {
    this.timeout(120_000);
    const { page } = vs!;
    const sb = await sidebar();
    initial = await waitForCondition(async () => (await heldValue(sb, 'checkpoint')) || false, 60_000, 'the first checkpoint');
    await runCommand(page, 'TimeSformer: Select Checkpoint');
    const labels = await waitForCondition(async () => {
      const s = await quickInputState(page);
      return s.visible && s.title === 'TimeSformer: select the checkpoint' && s.rows.some((r) => r.label === 'Browse…') ? s.rows.map((r) => r.label.replace(ZWSP, '')) : false;
    }, 15_000, 'the checkpoint picker');
    // every file as the user named it, plus Browse…; the newline of a name never splits it into two rows
    assert.ok(labels.includes('models/d1_outlier.pyth'), JSON.stringify(labels));
    assert.ok(labels.includes(`models/${ODD}`), `the name with markup is listed as written: ${JSON.stringify(labels)}`);
    assert.ok(labels.includes('hf_outlier/'), JSON.stringify(labels));
    assert.ok(!labels.some((l) => l === 'models/new' || l === 'line.pyth'), `no row for half a name: ${JSON.stringify(labels)}`);
    const nl = labels.filter((l) => l.includes('line.pyth'));
    assert.ok(nl.length <= 1 && nl.every((l) => l.startsWith('models/new')), `the name with a newline is one row or none: ${JSON.stringify(labels)}`);
    const odd = page.locator('.quick-input-widget .quick-input-list .monaco-list-row').filter({ hasText: 'odd' }).first();
    assert.strictEqual(await odd.locator('.label-name .codicon').count(), 0, '$(x) in a name is no icon');
    assert.strictEqual(await odd.locator('b').count(), 0, '<b> in a name is no markup');
    assert.match(await odd.locator('.label-description').first().textContent().catch(() => '') ?? '', /^$/, 'not the chosen one');
    await vs!.screenshot('flows-01-select-checkpoint');
    await pickItem(page, `models/${ODD.replace('$(', '$\u200b(')}`, { title: 'TimeSformer: select the checkpoint' });
    await waitForCondition(async () => (await heldValue(sb, 'checkpoint')) === p(ODD), 10_000, 'the picked checkpoint held by the sidebar');
    // marked chosen the next time
    await runCommand(page, 'TimeSformer: Select Checkpoint');
    await waitForCondition(async () => (await page.locator('.quick-input-widget .monaco-list-row').filter({ hasText: 'odd' }).first().locator('.label-description').textContent()) === 'chosen', 15_000, 'the held checkpoint marked chosen');
    await pickItem(page, 'models/d1_outlier.pyth', { title: 'TimeSformer: select the checkpoint' });
    await waitForCondition(async () => (await heldValue(sb, 'checkpoint')) === p('d1_outlier.pyth'), 10_000, 'd1 held again');
  });

  it('Select Test Data offers "none" first and each file with whether it matches; picking none, then a file, is what the sidebar holds', async function () {
    this.timeout(120_000);
    const { page } = vs!;
    const sb = await sidebar();
    await choose(sb, 'checkpoint', p('d1_outlier.pyth'));
    await runCommand(page, 'TimeSformer: Select Test Data');
    const rows = await waitForCondition(async () => {
      const s = await quickInputState(page);
      return s.visible && s.title === 'TimeSformer: select the test data' && s.rows.some((r) => r.label === 'Browse…') ? s.rows : false;
    }, 15_000, 'the test data picker');
    assert.strictEqual(rows[0].label, 'none: compare with FP32 of this model', 'none comes first');
    const d1 = page.locator('.quick-input-widget .monaco-list-row').filter({ hasText: 'd1_outlier_test_data.p' }).first();
    assert.strictEqual(await d1.locator('.label-description').textContent(), 'chosen · matches the checkpoint');
    await pickItem(page, 'none: compare with FP32 of this model', { title: 'TimeSformer: select the test data' });
    await waitForCondition(async () => (await heldValue(sb, 'testData')) === '', 10_000, 'no test data held');
    await waitForCondition(async () => (await sb.getAttribute('#pairing', 'data-status')) === 'self', 10_000, 'the own-FP32 reference said');
    await runCommand(page, 'TimeSformer: Select Test Data');
    await pickItem(page, 'models/d1_outlier_test_data.p', { title: 'TimeSformer: select the test data' });
    await waitForCondition(async () => (await heldValue(sb, 'testData')) === p('d1_outlier_test_data.p'), 10_000, 'd1\'s test data held');
    await waitForCondition(async () => (await sb.getAttribute('#pairing', 'data-status')) === 'agree', 30_000, 'the pair checked');
  });

  it('Browse… in both pickers opens VS Code\'s file dialog; the files chosen there, outside the workspace, are held', async function () {
    this.timeout(120_000);
    const { page } = vs!;
    const sb = await sidebar();
    for (const [command, title, file, id] of [
      ['TimeSformer: Select Checkpoint', 'TimeSformer: select the checkpoint', 'd2_legacy.pyth', 'checkpoint'],
      ['TimeSformer: Select Test Data', 'TimeSformer: select the test data', 'd2_legacy_test_data.p', 'testData'],
    ]) {
      await runCommand(page, command);
      await pickItem(page, 'Browse…', { title });
      await waitForCondition(async () => /^Select the (checkpoint|test data)/.test((await quickInputState(page)).title), 10_000, 'the open dialog');
      await acceptOpenDialog(page, path.join(elsewhere, file));
      await waitForCondition(async () => (await heldValue(sb, id)) === path.join(elsewhere, file), 10_000, `${file} held`);
    }
    await waitForCondition(async () => (await sb.getAttribute('#pairing', 'data-status')) === 'agree', 30_000, 'the browsed pair checked');
    assert.strictEqual(await sb.$eval('#checkpoint', (e) => (e as unknown as { value: string }).value), path.join(elsewhere, 'd2_legacy.pyth'), 'and shown');
    await choose(sb, 'checkpoint', p('d1_outlier.pyth'));
    await waitForCondition(async () => (await heldValue(sb, 'testData')) === p('d1_outlier_test_data.p'), 10_000, 'd1 re-paired');
  });

  it('the file watcher: a checkpoint copied into the workspace is offered, one deleted is no longer', async function () {
    this.timeout(120_000);
    const sb = await sidebar();
    const added = p('added_model.pyth');
    fs.copyFileSync(path.join(FIXTURES, 'd2_legacy.pyth'), added);
    await waitForCondition(async () => (await options(sb, 'checkpoint')).some(([v]) => v === added), 30_000, 'the added checkpoint in the sidebar');
    fs.rmSync(added);
    await waitForCondition(async () => !(await options(sb, 'checkpoint')).some(([v]) => v === added), 30_000, 'the deleted checkpoint gone from the sidebar');
    assert.strictEqual(await heldValue(sb, 'checkpoint'), p('d1_outlier.pyth'), 'the chosen checkpoint kept');
  });

  it('settings.json edited by hand takes effect at once, over a sidebar choice; removed, the user settings hold again', async function () {
    this.timeout(120_000);
    const sb = await sidebar();
    await choose(sb, 'precision', 'fp32');
    const settings = path.join(ws, '.vscode', 'settings.json');
    fs.mkdirSync(path.dirname(settings), { recursive: true });
    fs.writeFileSync(settings, JSON.stringify({ 'timesformerLab.precision': 'bf16', 'timesformerLab.layerNorm': 'fused', 'timesformerLab.checkpoint': `models/${ODD}` }, null, 2));
    await waitForCondition(async () => (await heldValue(sb, 'precision')) === 'bf16', 20_000, 'the edited precision held');
    await waitForCondition(async () => (await heldValue(sb, 'layerNorm')) === 'fused', 10_000, 'the edited LayerNorm mode held');
    await waitForCondition(async () => (await heldValue(sb, 'checkpoint')) === p(ODD), 10_000, 'the edited checkpoint held');
    fs.rmSync(settings);
    await waitForCondition(async () => (await heldValue(sb, 'precision')) === 'fp16', 20_000, 'the user\'s precision again');
    await waitForCondition(async () => (await heldValue(sb, 'layerNorm')) === 'plain', 10_000, 'the user\'s LayerNorm mode again');
    await waitForCondition(async () => (await heldValue(sb, 'checkpoint')) === initial, 10_000, 'the first checkpoint again');
    await choose(sb, 'checkpoint', p('d1_outlier.pyth'));
  });

  it('the sidebar\'s heads field is what runs (8 heads on a 4-head model: block 0 fails, the verdict names 8 heads), a bad value is refused; the provider chosen is the one asked for (webgpu, not loadable here, said in the log, the run on the CPU); an error\'s Show Log opens the log', async function () {
    this.timeout(240_000);
    const { page } = vs!;
    const sb = await sidebar();
    await waitForCondition(async () => (await sb.getAttribute('#pairing', 'data-status')) === 'agree', 30_000, 'd1 paired');
    await sb.fill('#heads', 'abc');
    await sb.press('#heads', 'Tab');
    await waitForCondition(async () => (await sb.$eval('#heads', (e) => (e as unknown as { value: string }).value)) === '', 10_000, 'a bad head count refused');
    assert.strictEqual(await heldValue(sb, 'heads'), '');
    await sb.fill('#heads', '8');
    await sb.press('#heads', 'Tab');
    await sb.waitForSelector('#heads[data-value="8"]', { timeout: 10_000 });
    const eight = await runFromSidebar(12);
    await sb.waitForSelector(`#last[data-run="${eight}"]`, { timeout: 10_000 });
    const o = await outcome(sb);
    assert.match(o.text, /Block 0 fails/);
    assert.match(o.text, /with 8 heads \(given\) block 0 is off/);
    await sb.fill('#heads', '');
    await sb.press('#heads', 'Tab');
    await sb.waitForSelector('#heads[data-value=""]', { timeout: 10_000 });
    const plainRun = await runFromSidebar(12);
    await sb.waitForSelector(`#last[data-run="${plainRun}"]`, { timeout: 10_000 });
    assert.match((await outcome(sb)).text, /Block 4 fails|block 4/);

    // The provider: the one chosen is the one asked for; webgpu does not load here, so the run says
    // why in the log and runs on the CPU, labelled cpu (never a provider it could not load).
    const eps = await options(sb, 'ep');
    assert.ok(eps.some(([v, l]) => v === 'webgpu' && /not available here/.test(l)), JSON.stringify(eps));
    await choose(sb, 'ep', 'webgpu');
    const fellBack = await runFromSidebar(12);
    const text = await log();
    assert.match(text, /--- run: d1_outlier\.pyth \+ d1_outlier_test_data\.p, fp16, LayerNorm plain, webgpu/);
    assert.match(text, /webgpu: .*; falling back/);
    assert.match((await outcome(sb)).text, new RegExp(`#${fellBack.split('-')[1]} d1_outlier\\.pyth \\+ d1_outlier_test_data\\.p · FP16 · LayerNorm plain · cpu · `));
    await choose(sb, 'ep', 'cpu');

    // A head count the model cannot have: an error, whose Show Log opens the lab's log at it.
    await clearNotifications(page);
    await sb.fill('#heads', '7');
    await sb.press('#heads', 'Tab');
    await sb.waitForSelector('#heads[data-value="7"]', { timeout: 10_000 });
    await clickRun(page);
    await waitForCondition(async () => (await outcome(sb)).kind === 'error', 120_000, 'the run to end in an error');
    const toast = page.locator('.notifications-toasts .notification-list-item').filter({ hasText: 'not divisible by 7 heads' }).first();
    await toast.waitFor({ state: 'visible', timeout: 30_000 });
    await toast.locator('.monaco-button', { hasText: /^Show Log$/ }).click();
    await waitForCondition(async () => {
      const shown = ((await page.locator('.part.panel .monaco-editor .view-lines').first().textContent().catch(() => '')) ?? '').replace(/\u00a0/g, ' ');
      return /error \[?BAD_OPTION\]?.*not divisible by 7 heads/.test(shown);
    }, 20_000, 'the Output panel showing the TimeSformer Lab log with the error');
    await vs!.screenshot('flows-02-show-log');
    await sb.fill('#heads', '');
    await sb.press('#heads', 'Tab');
    await sb.waitForSelector('#heads[data-value=""]', { timeout: 10_000 });
    await runCommand(page, 'View: Hide Panel');
    await clearNotifications(page);
  });

  it('the sidebar\'s "Compare…" opens the run picker; the chosen runs are the graph\'s lanes and chips; a chip\'s × takes its run out (kept when Show Graph opens it again); "Choose runs…" picks again; the sidebar\'s "Show graph" reopens it', async function () {
    this.timeout(120_000);
    const { page } = vs!;
    const sb = await sidebar();
    await sb.click('#compare');
    await waitForCondition(async () => (await quickInputState(page)).title.startsWith('TimeSformer: runs to compare'), 15_000, 'the compare picker');
    await pickMany(page, [/^#1 /, /^#2 /]);
    const g = await graphFrame(page, 'run-1', 11);
    const lanes = () => g.$$eval('#graph g.lane', (els) => els.map((e) => e.getAttribute('data-run')).join());
    const chips = () => g.$$eval('#run-chips .chip', (els) => els.map((e) => e.getAttribute('data-run')).join());
    await waitForCondition(async () => (await lanes()) === 'run-1,run-2', 15_000, 'two lanes');
    assert.strictEqual(await chips(), 'run-1,run-2', 'one chip per lane');
    assert.match(await g.$eval('#run-chips .chip[data-run="run-1"]', (e) => e.textContent ?? ''), /^✗ #1 d1_outlier · FP16/);
    await g.click('#run-chips .chip[data-run="run-2"] .chip-close');
    await waitForCondition(async () => (await lanes()) === 'run-1', 10_000, 'run-2 taken out');
    assert.strictEqual(await chips(), 'run-1');
    assert.strictEqual(await g.$$eval('#run-chips .chip-close', (els) => els.length), 0, 'no × on the last run');
    // The host keeps what the panel shows: closed and shown again from the palette, still run-1 alone.
    await runCommand(page, 'View: Close All Editors');
    await waitForCondition(async () => !page.frames().some((f) => !f.isDetached() && f.url().includes('graph')), 10_000, 'the panel closed').catch(() => undefined);
    await runCommand(page, 'TimeSformer: Show Graph');
    const g2 = await graphFrame(page, 'run-1', 11);
    await waitForCondition(async () => (await g2.$$eval('#graph g.lane', (els) => els.map((e) => e.getAttribute('data-run')).join())) === 'run-1', 10_000, 'run-1 alone again');
    // "Choose runs…" opens the same picker, the shown run checked.
    await g2.click('#pick-runs');
    await waitForCondition(async () => (await quickInputState(page)).title.startsWith('TimeSformer: runs to compare'), 15_000, 'the compare picker from the panel');
    await pickMany(page, [/^#1 /, /^#2 /]);
    await waitForCondition(async () => (await g2.$$eval('#graph g.lane', (els) => els.map((e) => e.getAttribute('data-run')).join())) === 'run-1,run-2', 15_000, 'the lanes chosen');
    await vs!.screenshot('flows-03-chips');
    // The sidebar's "Show graph" opens the panel again, on the runs chosen.
    await runCommand(page, 'View: Close All Editors');
    await (await sidebar()).click('#show-graph');
    const g3 = await graphFrame(page, 'run-2', 11);
    await waitForCondition(async () => (await g3.$$eval('#graph g.lane', (els) => els.map((e) => e.getAttribute('data-run')).join())) === 'run-1,run-2', 15_000, 'the sidebar\'s Show graph: the chosen lanes');
  });

  it('the graph panel\'s zoom buttons scale by 1.25 and back by 0.8, Fit fits again; arrow keys move along a lane and between lanes; Enter inspects, Escape closes the inspector', async function () {
    this.timeout(60_000);
    const { page } = vs!;
    const g = await graphFrame(page, 'run-2', 11);
    const scale = async () => Number(await g.getAttribute('#graph', 'data-scale'));
    await g.click('#fit');
    const fitted = await waitForCondition(async () => (await scale()) || false, 5000, 'a scale');
    await g.click('#zoom-in');
    await waitForCondition(async () => Math.abs((await scale()) / fitted - 1.25) < 0.01, 5000, `zoom in: ${fitted} × 1.25`);
    await g.click('#zoom-out');
    await waitForCondition(async () => Math.abs((await scale()) / fitted - 1) < 0.01, 5000, `zoom out: back to ${fitted}`);
    await g.click('#zoom-in');
    await g.click('#zoom-in');
    await waitForCondition(async () => Math.abs((await scale()) / fitted - 1.5625) < 0.01, 5000, `zoom in twice: ${fitted} × 1.25²`);
    await g.click('#zoom-out');
    await waitForCondition(async () => Math.abs((await scale()) / fitted - 1.25) < 0.01, 5000, `zoom out: ${fitted} × 1.25`);
    await g.click('#fit');
    await waitForCondition(async () => Math.abs((await scale()) / fitted - 1) < 0.01, 5000, 'Fit: the fitted scale again');
    const focused = () => g.evaluate<string>('document.activeElement && document.activeElement.getAttribute("data-key") || ""');
    await g.focus('g.node.block[data-run="run-1"][data-block="0"]');
    assert.strictEqual(await focused(), 'run-1:0');
    for (const [key, want] of [['ArrowRight', 'run-1:1'], ['ArrowRight', 'run-1:2'], ['ArrowDown', 'run-2:2'], ['ArrowLeft', 'run-2:1'], ['ArrowUp', 'run-1:1']]) {
      await g.press(':focus', key);
      await waitForCondition(async () => (await focused()) === want, 5000, `${key} to focus ${want} (focused: ${await focused()})`);
    }
    await g.press(':focus', 'Enter');
    await g.waitForSelector('#inspector[data-run="run-1"][data-block="1"]:not([hidden])', { timeout: 10_000 });
    await g.focus('#inspector');
    await g.press('#inspector', 'Escape');
    await g.waitForSelector('#inspector[hidden]', { state: 'attached', timeout: 5000 });
    assert.strictEqual(await g.$$eval('g.node.block.selected', (els) => els.length), 0, 'no block left selected');
  });

  it('Copy trtexec line puts the minimal fix\'s line on the clipboard, as the button shows it', async function () {
    this.timeout(60_000);
    const { page } = vs!;
    const sb = await sidebar();
    const runId = await sb.getAttribute('#copy-trtexec', 'data-run');
    const line = (await sb.getAttribute('#copy-trtexec', 'title')) ?? '';
    assert.match(line, new RegExp(`^trtexec --onnx=timesformer-${runId}-tensorrt\\.onnx --fp16 .*--layerPrecisions=/model/blocks\\.4/temporal_norm1/LayerNormalization:fp32`));
    await page.evaluate('navigator.clipboard.writeText("before")');
    await sb.click('#copy-trtexec');
    await waitForNotification(page, /trtexec line copied: the \d+ overflowing LayerNorm\(s\) in FP32, the rest FP16/, 15_000);
    const clip = await waitForCondition(async () => {
      const t = await page.evaluate<string>('navigator.clipboard.readText()');
      return t !== 'before' && t;
    }, 10_000, 'the clipboard to change');
    assert.strictEqual(clip, line);
  });

  it('a run of the file named with markup: its name is text in the run picker\'s rows and titles and leaves the status bar alone; Remove Runs… removes the runs picked, and only those', async function () {
    this.timeout(240_000);
    const { page } = vs!;
    const sb = await sidebar();
    await choose(sb, 'checkpoint', p(ODD));
    await waitForCondition(async () => (await sb.getAttribute('#pairing', 'data-status')) === 'agree', 30_000, 'the odd file paired');
    const odd = await runFromSidebar(12);
    const n = odd.split('-')[1];
    await waitForCondition(async () => /block 4 fails/.test(await statusBarText(page)), 10_000, 'the verdict in the status bar');
    const item = page.locator('.statusbar-item').filter({ hasText: 'TimeSformer' }).first();
    assert.strictEqual(((await item.textContent()) ?? '').replace(/\s+/g, ' ').trim(), 'TimeSformer: block 4 fails');
    assert.strictEqual(await item.locator('.codicon').count(), 1, 'the verdict\'s icon only');
    await runCommand(page, 'TimeSformer: Export ONNX');
    const oddLabel = await waitForCondition(async () => {
      const s = await quickInputState(page);
      return s.visible && s.title === 'TimeSformer: which run?' ? s.rows.find((r) => r.label.startsWith(`#${n} `))?.label ?? false : false;
    }, 15_000, 'the run picker');
    assert.match(oddLabel.replace(ZWSP, ''), new RegExp(`^#${n} ✗ FAIL · odd \\$\\(x\\) <b> \`t\`\\.pyth \\+ d1_outlier_test_data\\.p · FP16`));
    const row = page.locator('.quick-input-widget .monaco-list-row').filter({ hasText: `#${n} ` }).first();
    assert.strictEqual(await row.locator('.label-name .codicon').count(), 0, 'no icon from the name');
    assert.strictEqual(await row.locator('b').count(), 0, 'no markup from the name');
    await pickItem(page, oddLabel, { title: 'TimeSformer: which run?' });
    const title = await waitForCondition(async () => {
      const s = await quickInputState(page);
      return s.visible && s.title.startsWith(`TimeSformer: export #${n} `) ? s.title : false;
    }, 15_000, 'the export picker');
    assert.ok(title.replace(ZWSP, '').startsWith(`TimeSformer: export #${n} odd $(x) <b> \`t\` · FP16 `), title);
    assert.strictEqual(await page.locator('.quick-input-widget .quick-input-title .codicon').count(), 0, 'no icon in the title');
    await vs!.screenshot('flows-04-escaped-title');
    await page.keyboard.press('Escape');

    // Remove Runs…: the odd run goes; the others stay, and the sidebar counts them.
    const before = Number(/(\d+) runs? kept/.exec(await sb.$eval('#runs', (e) => e.textContent ?? ''))![1]);
    await runCommand(page, 'TimeSformer: Remove Runs…');
    await waitForCondition(async () => (await quickInputState(page)).title === 'TimeSformer: runs to remove', 15_000, 'the remove picker');
    await pickMany(page, [new RegExp(`^#${n} `)]);
    await waitForCondition(async () => new RegExp(`^${before - 1} runs? kept`).test(await sb.$eval('#runs', (e) => e.textContent ?? '')), 10_000, `${before - 1} runs kept`);
    await vs!.readOutputChannel('TimeSformer Lab', { contains: new RegExp(`removed #${n} odd`) });
    await runCommand(page, 'TimeSformer: Compare Runs');
    const left = await waitForCondition(async () => {
      const s = await quickInputState(page);
      return s.visible && s.title.startsWith('TimeSformer: runs to compare') && s.rows.length ? s.rows.map((r) => r.label.split(' ')[0]) : false;
    }, 15_000, 'the runs left');
    await page.keyboard.press('Escape');
    assert.deepStrictEqual(left.sort(), Array.from({ length: Number(n) }, (_, i) => `#${i + 1}`).filter((x) => x !== `#${n}`).sort(), 'exactly the picked run removed');
  });

  it('Explorer → Check FP16 on an HF folder chooses the folder, switches to FP16 and runs it', async function () {
    this.timeout(240_000);
    const { page } = vs!;
    let sb = await sidebar();
    await choose(sb, 'precision', 'fp32');
    await openView(page, 'Explorer');
    const folder = page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'hf_outlier' }).first();
    await folder.waitFor({ state: 'visible', timeout: 20_000 });
    await folder.click({ button: 'right' });
    const item = page.locator('.context-view .action-menu-item', { hasText: 'Check FP16 with TimeSformer Lab' }).first();
    await item.waitFor({ state: 'visible', timeout: 10_000 });
    await item.hover();
    await page.keyboard.press('Enter');
    sb = await sidebarFrame(page);
    await waitForCondition(async () => (await heldValue(sb, 'checkpoint')) === path.join(ws, 'hf_outlier'), 20_000, 'the HF folder chosen');
    await waitForCondition(async () => (await heldValue(sb, 'precision')) === 'fp16', 10_000, 'FP16 chosen');
    const id = await waitForCondition(async () => {
      const o = await outcome(sb);
      return o.kind === 'run' && /hf_outlier/.test(o.text) ? await sb.getAttribute('#last', 'data-run') : false;
    }, 150_000, 'the HF folder\'s run');
    assert.match((await outcome(sb)).text, /#\d+ hf_outlier.* · FP16 · LayerNorm plain · cpu · /);
    const g = await graphFrame(page, id!, 0, 30_000);
    assert.ok((await g.$$eval(`#graph g.node.block[data-run="${id}"]`, (els) => els.length)) > 0, 'its blocks drawn');
  });
});
