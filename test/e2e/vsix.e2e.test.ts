/**
 * The platform .vsix for this machine, built as `npm run package` builds it (scripts/package.js):
 * what it holds and leaves out, then installed into a fresh VS Code (code-server + Chromium,
 * harness.ts) with a light theme, where it runs d1 from the palette, fixes it and compares runs.
 * Screenshots go to artifacts/e2e/.
 */
import * as assert from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as yauzl from 'yauzl';
import { VSCodeSession, closeAfter, runCommand, startVSCode, waitForCondition } from './harness';
import { FIXTURES, ROOT, clearNotifications, graphFrame, pickItem, pickMany, quickPickLabels, waitForRun } from './lab';

describe('the platform .vsix for this machine (scripts/package.js, as npm run package) installs into a fresh VS Code and runs', function () {
  let tmp: string;
  let vs: VSCodeSession | undefined;
  const target = `${process.platform}-${process.arch}`;

  before(async function () {
    this.timeout(300_000);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'e2e-vsix-'));
    execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'package.js'), '--target', target, '--out', tmp], { cwd: ROOT, stdio: 'pipe' });
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
    const vsix = path.join(tmp, `${pkg.name}-${target}-${pkg.version}.vsix`);
    const files = await zipEntries(vsix);
    const ort = 'extension/dist/node_modules/onnxruntime-node';
    for (const f of ['extension/docs/report.schema.json', 'extension/docs/sweep.schema.json', 'extension/dist/extension.js', 'extension/dist/worker.js', 'extension/dist/cli.js', 'extension/dist/lab-worker.js', 'extension/dist/gpu-helper.js', 'extension/dist/webview/graph.js', 'extension/LICENSE.txt', `${ort}/dist/index.js`, `${ort}/bin/napi-v6/${process.platform}/${process.arch}/onnxruntime_binding.node`, 'extension/dist/node_modules/onnxruntime-common/dist/cjs/index.js']) {
      assert.ok(files.includes(f), `${f} in the vsix`);
    }
    // One bundle: no sources, no other platform's binaries, no protobufjs, d3 or toolkit as separate packages.
    for (const re of [/node_modules\/(protobufjs|onnx-proto|yauzl|d3|@vscode)/, new RegExp(`napi-v6/(?!${process.platform}/${process.arch}/)`), /^extension\/(extension|webview|test|out|scripts\/(?!make_test_data))\//, /\.ts$/, /\.map$/, /onnxruntime-node\/script/, /onnxruntime_providers_/]) {
      assert.ok(!files.some((f) => re.test(f)), `nothing matching ${re} in the vsix: ${files.filter((f) => re.test(f)).slice(0, 3)}`);
    }
    // the docs link to the README by the name vsce gives it (readme.md: case-sensitive file systems)
    assert.match(await zipText(vsix, 'extension/docs/guide.md'), /\]\(\.\.\/readme\.md/);
    assert.doesNotMatch(await zipText(vsix, 'extension/docs/guide.md'), /\]\(\.\.\/README\.md/);
    const manifest = await zipText(vsix, 'extension.vsixmanifest');
    assert.match(manifest, new RegExp(`TargetPlatform="${target}"`));
    const workspace = path.join(tmp, 'workspace');
    fs.mkdirSync(workspace);
    for (const f of ['d1_outlier.pyth', 'd1_outlier_test_data.p']) fs.copyFileSync(path.join(FIXTURES, f), path.join(workspace, f));
    // A light theme here (the other suites run dark): the webviews follow the theme's colors.
    vs = await startVSCode({ workspace, vsix, name: 'vsix', settings: { 'timesformerLab.executionProvider': 'cpu', 'workbench.colorTheme': 'Default Light Modern' } });
  });

  closeAfter('vsix', () => ({ vs, tmp }));

  it('runs d1 from the palette (FP16 and plain LayerNorm by default): block 4 fails; the graph follows the light theme', async function () {
    this.timeout(180_000);
    const { page } = vs!;
    await runCommand(page, 'TimeSformer: Build & Run Engine');
    const { frame, blocks: b } = await waitForRun(page, 'run-1', 12);
    assert.deepEqual(b.map((x) => x.status), [...Array(4).fill('pass'), ...Array(8).fill('fail')]);
    const background = await frame.evaluate<string>('getComputedStyle(document.body).backgroundColor');
    const [r, g, bl] = (background.match(/\d+/g) ?? []).map(Number);
    assert.ok(r + g + bl > 600, `a light background, got ${background}`);
    await clearNotifications(page);
    await vs!.screenshot('vsix-01-graph-single-light');
    await frame.click('g.node.block[data-run="run-1"][data-block="4"]');
    await frame.waitForSelector('#inspector[data-block="4"] tr.ln-row[data-overflow="true"]', { timeout: 15_000 });
    await vs!.screenshot('vsix-02-inspector-light');
  });

  it('the fix from the palette (its offers to pick, the minimal fix first), then Compare Runs: FP16 plain against the minimal fix, in the light theme', async function () {
    this.timeout(180_000);
    const { page } = vs!;
    await runCommand(page, 'TimeSformer: Fix LayerNorm Overflow and Run Again');
    await waitForCondition(async () => (await quickPickLabels(page)).filter((l) => l.startsWith('Fix')).length === 5, 10_000, 'the fixes offered');
    assert.deepStrictEqual((await quickPickLabels(page)).filter((l) => l.startsWith('Fix')), [
      'Fix: only the 25 overflowing LayerNorms in FP32', 'Fix: FP32 LayerNorm', 'Fix: fused', 'Fix: prescaled', 'Fix: expose LayerNorm entries',
    ]);
    await pickItem(page, 'Fix: only the 25 overflowing LayerNorms in FP32', { title: /^TimeSformer: fix #1 / });
    const { blocks: b } = await waitForRun(page, 'run-2', 12);
    assert.ok(b.every((x) => x.status === 'pass'), JSON.stringify(b));
    await runCommand(page, 'TimeSformer: Compare Runs');
    await pickMany(page, [/^#1 /, /^#2 /]);
    const frame = await graphFrame(page, 'run-1', 11);
    await waitForCondition(async () => (await frame.$$eval('#graph g.lane', (els) => els.length)) === 2, 10_000, 'two lanes');
    await frame.click('#inspector-close').catch(() => undefined);
    await frame.click('g.node.block[data-run="run-1"][data-block="4"] .expander');
    await clearNotifications(page);
    await page.mouse.move(5, 5);
    await vs!.screenshot('vsix-03-graph-compare-light');
  });
});

/** Entry names of a zip (the .vsix), with yauzl (a dependency already). */
function zipEntries(file: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: false, autoClose: true }, (err, zip) => {
      if (err || !zip) return reject(err);
      const names: string[] = [];
      zip.on('entry', (e: yauzl.Entry) => names.push(e.fileName));
      zip.on('end', () => resolve(names));
      zip.on('error', reject);
    });
  });
}


/** One entry of a zip as text. */
function zipText(file: string, name: string): Promise<string> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true, autoClose: true }, (err, zip) => {
      if (err || !zip) return reject(err);
      zip.on('entry', (e: yauzl.Entry) => {
        if (e.fileName !== name) return zip.readEntry();
        zip.openReadStream(e, (er, stream) => {
          if (er || !stream) return reject(er);
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        });
      });
      zip.on('end', () => reject(new Error(`${name} not in ${file}`)));
      zip.readEntry();
    });
  });
}
