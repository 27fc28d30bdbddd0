/**
 * What users hit (issue 17: 2, 3, 5, 6, 7, 8; issue 22: 5, 8), in the layout users have: HF folders
 * each holding its own test_data.p (hf1 = hf_outlier, hf3 = hf_bin) beside an official checkpoint
 * and its test data (d1_outlier), and a loose test-data file with hf3's shapes but another model's
 * values (clip_test_data.p = hf_sharded's). Each test names the item it covers; each fails on main
 * (run it against main's build with E2E_EXTENSION_DIR=<folder>). Screenshots: artifacts/e2e/users-*.png.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Frame } from 'playwright-core';
import { VSCodeSession, closeAfter, runCommand, startVSCode, waitForCondition } from './harness';
import {
  EXTENSION_DIR, FIXTURES, choose, clearNotifications, clickRun, graphFrame, heldValue, openSidebar, outcome, pickItem, quickPickLabels, sleep, statusBarText,
} from './lab';

describe('what users hit: HF folders with their own test data beside official checkpoints (issues 17 and 22)', function () {
  let tmp: string;
  let ws: string;
  let vs: VSCodeSession | undefined;
  const p = (name: string) => path.join(ws, name);
  /** Runs are numbered in order; cancels and errors make none. */
  let runs = 0;

  before(async function () {
    this.timeout(240_000);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'e2e-users-'));
    ws = path.join(tmp, 'workspace');
    fs.mkdirSync(ws);
    const fx = (name: string) => path.join(FIXTURES, name);
    for (const [folder, hf] of [['hf1', 'hf_outlier'], ['hf3', 'hf_bin']]) {
      fs.cpSync(fx(hf), p(folder), { recursive: true });
      fs.copyFileSync(fx(`${hf}_test_data.p`), p(path.join(folder, 'test_data.p')));
    }
    fs.copyFileSync(fx('hf_sharded_test_data.p'), p('clip_test_data.p'));
    fs.copyFileSync(fx('d1_outlier.pyth'), p('d1_outlier.pyth'));
    fs.copyFileSync(fx('d1_outlier_test_data.p'), p('d1_outlier_test_data.p'));
    assert.ok(fs.existsSync(path.join(EXTENSION_DIR, 'package.json')), 'build first: npm run build');
    vs = await startVSCode({
      workspace: ws,
      extensionDir: EXTENSION_DIR,
      name: 'users',
      settings: { 'timesformerLab.executionProvider': 'cpu', 'timesformerLab.precision': 'fp16' },
      env: { TIMESFORMER_LAB_TEST_DELAY_MS: '1200' },
    });
  });

  closeAfter('users', () => ({ vs, tmp }));

  const sidebar = (): Promise<Frame> => openSidebar(vs!.page);

  /** Runs from the sidebar with what it shows and waits until the sidebar shows the new run; returns its id. */
  async function run(sb: Frame): Promise<string> {
    const id = `run-${++runs}`;
    await clickRun(vs!.page);
    await sb.waitForSelector(`#last[data-run="${id}"][data-kind="run"]`, { timeout: 120_000 });
    return id;
  }

  const lastText = async (sb: Frame) => (await outcome(sb)).text;

  it('17.2: an HF folder is paired with its own test_data.p, not with a file of the same shapes beside it; the names say which folder', async function () {
    this.timeout(180_000);
    const sb = await sidebar();
    await waitForCondition(async () => (await sb.$$eval('#checkpoint option', (els) => els.length)) === 3, 60_000, 'three checkpoints');
    await choose(sb, 'checkpoint', p('hf3'));
    await waitForCondition(async () => (await sb.getAttribute('#pairing', 'data-status')) === 'agree', 60_000, 'the pair checked');
    assert.strictEqual(await heldValue(sb, 'testData'), p('hf3/test_data.p'), 'hf3 runs with its own test data');
    assert.strictEqual(await sb.$eval('#pairing', (e) => e.textContent ?? ''), 'hf3/test_data.p matches hf3: 4×32², width 32, 4 blocks, 5 classes');
    await choose(sb, 'precision', 'fp32');
    await run(sb);
    const text = await lastText(sb);
    assert.match(text, /✓ PASS/, 'the right pair passes in FP32 (the sibling file fails every block from block 0)');
    assert.match(text, /#1 hf3 \+ hf3\/test_data\.p · FP32 · LayerNorm plain · cpu/);
    assert.match(text, /reference: hf3\/test_data\.p/);
    await clearNotifications(vs!.page);
    await vs!.screenshot('users-01-hf-folder-own-test-data');
  });

  it('17.3: changing precision or LayerNorm mode replaces the verdict (sidebar and status bar) with the latest run of the new options, or none', async function () {
    this.timeout(240_000);
    const { page } = vs!;
    const sb = await sidebar();
    await choose(sb, 'checkpoint', p('d1_outlier.pyth'));
    await waitForCondition(async () => (await heldValue(sb, 'testData')) === p('d1_outlier_test_data.p'), 30_000, 'd1\'s test data');
    await choose(sb, 'precision', 'fp16');
    await choose(sb, 'layerNorm', 'plain');
    const fp16 = await run(sb);
    assert.match(await lastText(sb), /✗ FAIL/);
    await waitForCondition(async () => /block 4 fails/.test(await statusBarText(page)), 10_000, 'the status bar verdict');
    await choose(sb, 'precision', 'bf16');
    await waitForCondition(async () => (await outcome(sb)).kind === 'none', 10_000, 'no verdict for BF16, which never ran');
    await waitForCondition(async () => !/fails|pass/.test(await statusBarText(page)), 10_000, 'no verdict in the status bar');
    await vs!.screenshot('users-02-bf16-no-stale-verdict');
    // The LayerNorm help speaks of the precision chosen (17.7).
    assert.doesNotMatch(await sb.$eval('#layerNorm-note', (e) => e.textContent ?? ''), /FP16/);
    await choose(sb, 'precision', 'fp16');
    await sb.waitForSelector(`#last[data-run="${fp16}"]`, { timeout: 10_000 });
    await waitForCondition(async () => /block 4 fails/.test(await statusBarText(page)), 10_000, 'FP16\'s verdict back in the status bar');
    await choose(sb, 'layerNorm', 'fused');
    await waitForCondition(async () => (await outcome(sb)).kind === 'none', 10_000, 'no verdict for fused');
    await choose(sb, 'layerNorm', 'plain');
    await sb.waitForSelector(`#last[data-run="${fp16}"]`, { timeout: 10_000 });
  });

  it('17.5 + 17.7: the confirmation is said once, every fix the palette offers is a button, the trtexec line names the exported file, nothing is cut', async function () {
    this.timeout(180_000);
    const { page } = vs!;
    const sb = await sidebar();
    const fp16 = `run-${runs}`;
    await sb.waitForSelector(`#fix-minimal[data-run="${fp16}"]`, { timeout: 10_000 });
    assert.strictEqual(((await lastText(sb)).match(/onfirmed by one run/g) ?? []).length, 1, 'said once');
    const buttons = (await sb.$$eval('button.fix', (els) => els.map((e) => e.textContent ?? ''))).map((t) => t.trim());
    await runCommand(page, 'TimeSformer: Fix LayerNorm Overflow and Run Again');
    const picks = await waitForCondition(async () => {
      const l = (await quickPickLabels(page)).filter((x) => x.startsWith('Fix'));
      // the list is whole once it holds as many rows as the sidebar has buttons, the last of them included
      // (rows render as they come: on a loaded machine the last row alone was seen first)
      return l.length >= buttons.length && l.includes('Fix: expose LayerNorm entries') ? l : false;
    }, 10_000, 'the palette\'s fixes');
    assert.deepStrictEqual(buttons, picks, 'one set of fixes, titled alike');
    assert.ok(buttons.includes('Fix: expose LayerNorm entries'));
    await page.keyboard.press('Escape');
    // The trtexec line names the file Export ONNX → For TensorRT writes by default.
    const trtexec = (await sb.getAttribute('#copy-trtexec', 'title')) ?? '';
    assert.match(trtexec, new RegExp(`^trtexec --onnx=timesformer-${fp16}-tensorrt\\.onnx `));
    await runCommand(page, 'TimeSformer: Export ONNX');

    // The run pickers lead with the verdict, so it is never cut (rows render as they come: wait for every label).
    const labels = await waitForCondition(async () => {
      const l = await quickPickLabels(page);
      // (the palette's own rows stay listed until the command's picker replaces them)
      return l.length === runs && l.every((x) => /^#\d+ /.test(x)) ? l : false;
    }, 10_000, 'the list of runs');
    assert.match(labels[0], new RegExp(`^#${runs} ✗ FAIL · d1_outlier\\.pyth \\+ d1_outlier_test_data\\.p · FP16`));
    assert.match(labels[1], /^#1 ✓ PASS · hf3 \+ hf3\/test_data\.p/);
    await vs!.screenshot('users-03-run-picker-verdict-first');
    await pickItem(page, labels[0], { title: 'TimeSformer: which run?' });
    await pickItem(page, 'For TensorRT', { title: new RegExp(`^TimeSformer: export #${runs} `) });
    const input = page.locator('.quick-input-widget .quick-input-box input').first();
    await waitForCondition(async () => (await input.inputValue()).endsWith(`timesformer-${fp16}-tensorrt.onnx`), 10_000, 'the save dialog with the name the trtexec line names');
    await page.keyboard.press('Escape');
    // The test-data select's "none" label fits the select.
    const fit = await sb.$eval('#testData', (e) => {
      // (runs in the webview: the DOM's globals, not in this file's Node types)
      const g = globalThis as unknown as { document: { createElement(t: string): { getContext(k: string): { font: string; measureText(t: string): { width: number } } } }; getComputedStyle(e: unknown): { font: string } };
      const sel = e as unknown as { options: ArrayLike<{ text: string; value: string }>; clientWidth: number };
      const none = Array.from(sel.options).find((o) => o.value === '')!;
      const ctx = g.document.createElement('canvas').getContext('2d');
      ctx.font = g.getComputedStyle(e).font;
      // the select's padding (8 px) and its arrow (about 20 px) take room from the text
      return { text: none.text, width: ctx.measureText(none.text).width, room: sel.clientWidth - 28 };
    });
    assert.ok(fit.width <= fit.room, `"${fit.text}" is ${fit.width.toFixed(0)} px in ${fit.room} px`);
    await sb.$eval('#show-graph', (e) => e.scrollIntoView());
    await vs!.screenshot('users-04-sidebar-fail-offers');
  });

  it('22.5 + 22.8: a cancelled re-run keeps the previous verdict and its fixes, the cancel beside it named with its precision and mode; switching back shows the model\'s runs', async function () {
    this.timeout(180_000);
    const { page } = vs!;
    const sb = await sidebar();
    const fp16 = `run-${runs}`;
    await clearNotifications(page);
    await clickRun(page);
    await sb.waitForSelector('body[data-running="true"]', { timeout: 10_000 });
    await sb.click('#cancel');
    await waitForCondition(async () => (await sb.getAttribute('#last', 'data-after')) === 'cancelled', 10_000, 'the cancel beside the verdict');
    assert.strictEqual(await sb.getAttribute('#last', 'data-run'), fp16, 'the previous verdict stays');
    assert.match(await sb.$eval('#after', (e) => e.textContent ?? ''), /^⊘ Cancelled d1_outlier\.pyth \+ d1_outlier_test_data\.p · FP16 · LayerNorm plain · cpu · \d\d:\d\d:\d\d\./);
    assert.ok((await sb.$$eval('button.fix', (els) => els.length)) >= 4, 'its fixes stay');
    await waitForCondition(async () => /block 4 fails · re-run cancelled/.test(await statusBarText(page)), 10_000, 'the status bar');
    await vs!.screenshot('users-05-cancel-beside-verdict');
    await choose(sb, 'checkpoint', p('hf3'));
    await choose(sb, 'precision', 'fp32');
    await sb.waitForSelector('#last[data-run="run-1"]', { timeout: 10_000 });
    await choose(sb, 'precision', 'fp16');
    await choose(sb, 'checkpoint', p('d1_outlier.pyth'));
    await sb.waitForSelector(`#last[data-run="${fp16}"][data-after="cancelled"]`, { timeout: 10_000 });
  });

  it('17.6: after the minimal fix, another model runs with the LayerNorm mode the user chose; back on the fixed model too', async function () {
    this.timeout(240_000);
    const { page } = vs!;
    const sb = await sidebar();
    const id = `run-${++runs}`;
    await sb.click('#fix-minimal');
    await sb.waitForSelector(`#last[data-run="${id}"]`, { timeout: 120_000 });
    assert.strictEqual(await heldValue(sb, 'layerNorm'), 'minimal', 'the fix ran');
    assert.match(await lastText(sb), /✓ PASS/);
    await choose(sb, 'checkpoint', p('hf1'));
    await waitForCondition(async () => (await heldValue(sb, 'layerNorm')) === 'plain', 10_000, 'hf1 with the user\'s plain mode');
    await choose(sb, 'checkpoint', p('d1_outlier.pyth'));
    await waitForCondition(async () => (await heldValue(sb, 'layerNorm')) === 'plain', 10_000, 'd1 with the user\'s plain mode');
    assert.match(await lastText(sb), /✗ FAIL/, 'd1\'s plain run again');
    await clearNotifications(page);
  });

  it('17.8 + 22.8: without test data the sidebar says the head count was assumed; in expose mode the inspector says its LayerNorm values are kept in FP32', async function () {
    this.timeout(240_000);
    const { page } = vs!;
    const sb = await sidebar();
    await choose(sb, 'testData', '');
    await waitForCondition(async () => (await sb.getAttribute('#pairing', 'data-status')) === 'self', 10_000, 'no test data');
    await sb.click('#expose');
    await sb.waitForSelector('#expose[data-value="true"]', { timeout: 10_000 });
    const id = await run(sb);
    const heads = await sb.$eval('#heads-note', (e) => e.textContent ?? '');
    assert.match(heads, /^Heads: \d+, assumed \(head dim \d+\): without test data the count cannot be detected\./);
    assert.doesNotMatch(heads, /--heads/);
    const g = await graphFrame(page, id, 4, 60_000);
    await g.click(`g.node.block[data-run="${id}"][data-block="4"]`);
    await g.waitForSelector(`#inspector[data-block="4"] tr.ln-row`, { timeout: 15_000 });
    assert.match(await g.$eval('#ln-note', (e) => e.textContent ?? ''), /^LayerNorm expose: the difference, mean and std are graph outputs, computed and kept in FP32 in this run; "> 65504" counts/);
    await clearNotifications(page);
    await page.mouse.move(5, 5);
    await sleep(300);
    await vs!.screenshot('users-06-expose-inspector-note');
    await sb.click('#expose');
    await sb.waitForSelector('#expose[data-value="false"]', { timeout: 10_000 });
  });
});
