/**
 * Your own model (issue 9, the extension's side): a workspace holding only a HuggingFace folder and
 * no test data. The scan offers the folder as the checkpoint, the sidebar says the reference is
 * the model's own FP32 graph on the CPU, a palette run draws the colored graph with that reference
 * named, and the inspector opens on a block.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { VSCodeSession, closeAfter, openView, runCommand, startVSCode, waitForCondition } from './harness';
import { EXTENSION_DIR, FIXTURES, blocks, clearNotifications, graphFrame, heldValue, outcome, sidebarFrame } from './lab';

describe('a workspace with only an HF folder and no test data', function () {
  let tmp: string;
  let ws: string;
  let vs: VSCodeSession | undefined;

  before(async function () {
    this.timeout(240_000);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'e2e-hf-'));
    ws = path.join(tmp, 'workspace');
    fs.mkdirSync(ws);
    fs.cpSync(path.join(FIXTURES, 'hf_outlier'), path.join(ws, 'hf_outlier'), { recursive: true });
    vs = await startVSCode({ workspace: ws, extensionDir: EXTENSION_DIR, name: 'hf', settings: { 'timesformerLab.executionProvider': 'cpu', 'timesformerLab.precision': 'fp16' } });
  });

  closeAfter('hf', () => ({ vs, tmp }));

  it('offers the HF folder as the checkpoint, with no test data: the reference is the model\'s own FP32', async function () {
    this.timeout(120_000);
    const { page } = vs!;
    await openView(page, 'TimeSformer Lab');
    const sb = await sidebarFrame(page);
    const folder = path.join(ws, 'hf_outlier');
    await waitForCondition(async () => (await heldValue(sb, 'checkpoint')) === folder, 60_000, 'the HF folder as checkpoint');
    assert.deepStrictEqual(await sb.$$eval('#checkpoint option', (els) => els.map((e) => e.textContent)), ['hf_outlier/ — HF folder']);
    assert.strictEqual(await heldValue(sb, 'testData'), '', 'no test data');
    await waitForCondition(async () => (await sb.getAttribute('#pairing', 'data-status')) === 'self', 10_000, 'the self reference');
    assert.match(await sb.$eval('#pairing', (e) => e.textContent ?? ''), /No test data: the reference is the FP32 graph of this model on the CPU/);
    await vs!.screenshot('hf-01-sidebar');
  });

  it('a palette run draws the colored graph, names the reference, and the inspector opens on a block', async function () {
    this.timeout(180_000);
    const { page } = vs!;
    await runCommand(page, 'TimeSformer: Build & Run Engine');
    const frame = await graphFrame(page, 'run-1', 5, 120_000);
    const b = await blocks(frame, 'run-1');
    assert.strictEqual(b.length, 6);
    // every block is judged against FP16's 0.025 and colored by its judgment: no pass shares a color with a fail
    for (const x of b) {
      assert.strictEqual(x.status, x.error <= 0.025 ? 'pass' : 'fail', `block ${x.block}: error ${x.error}`);
      assert.match(x.color, /^(rgb\(|#)/, `block ${x.block} is colored`);
    }
    const colors = (s: string) => new Set(b.filter((x) => x.status === s).map((x) => x.color));
    assert.ok([...colors('pass')].every((c) => !colors('fail').has(c)), 'a failing block never has a passing block\'s color');
    assert.ok(b.some((x) => x.status === 'fail'), 'FP16 with a plain LayerNorm breaks after the planted activation');
    assert.match(await frame.$eval('#graph g.lane[data-run="run-1"] .lane-title', (e) => e.textContent ?? ''), /#1 hf_outlier · FP16 plain · cpu +reference: FP32 of this model \(CPU\)/);
    assert.match((await outcome(await sidebarFrame(page))).text, /#1 hf_outlier \+ own FP32 · FP16 · LayerNorm plain · cpu/);
    const broken = b.find((x) => x.isBreak)!;
    await frame.click(`g.node.block[data-run="run-1"][data-block="${broken.block}"]`);
    await frame.waitForSelector(`#inspector[data-block="${broken.block}"] tr.ln-row`, { timeout: 15_000 });
    await clearNotifications(page);
    await page.mouse.move(5, 5);
    await vs!.screenshot('hf-02-graph-inspector');
  });
});
