/**
 * Proves the e2e harness end to end with a tiny probe extension written to a temp dir:
 * a palette command that opens a webview panel, a notification, an output channel, and a
 * webview view in its own activity bar container.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  VSCodeSession, closeAfter, findWebviewFrame, openView, runCommand, startVSCode, waitForNotification,
} from './harness';

const PROBE_PACKAGE = {
  name: 'probe',
  displayName: 'E2E Probe',
  publisher: 'e2e',
  version: '0.0.1',
  engines: { vscode: '^1.100.0' },
  main: './extension.js',
  activationEvents: [],
  contributes: {
    commands: [{ command: 'probe.hello', title: 'Hello', category: 'Probe' }],
    viewsContainers: {
      activitybar: [{ id: 'probe-lab', title: 'Probe Lab', icon: 'probe.svg' }],
    },
    views: {
      'probe-lab': [{ type: 'webview', id: 'probe.view', name: 'Probe View' }],
    },
  },
};

const PROBE_EXTENSION_JS = `
const vscode = require('vscode');
exports.activate = function (context) {
  const out = vscode.window.createOutputChannel('Probe');
  out.appendLine('probe activated');
  context.subscriptions.push(out);
  context.subscriptions.push(vscode.commands.registerCommand('probe.hello', () => {
    const panel = vscode.window.createWebviewPanel('probe', 'Probe Panel', vscode.ViewColumn.One, { enableScripts: true });
    panel.webview.html = '<!DOCTYPE html><html><body><h1>Probe panel</h1><div id="probe">hello</div></body></html>';
    out.appendLine('hello command ran');
    vscode.window.showInformationMessage('Probe: panel opened');
  }));
  context.subscriptions.push(vscode.window.registerWebviewViewProvider('probe.view', {
    resolveWebviewView(view) {
      view.webview.html = '<!DOCTYPE html><html><body><div id="probe-view">view ok</div></body></html>';
    },
  }));
};
exports.deactivate = function () {};
`;

const PROBE_ICON = '<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24" viewBox="0 0 24 24">'
  + '<circle cx="12" cy="12" r="8" fill="none" stroke="currentColor" stroke-width="2"/></svg>';

describe('e2e harness (probe extension in code-server)', function () {
  let tmp: string;
  let vs: VSCodeSession | undefined;

  before(async function () {
    this.timeout(240_000);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'e2e-probe-'));
    const extDir = path.join(tmp, 'probe-ext');
    const workspace = path.join(tmp, 'workspace');
    fs.mkdirSync(extDir, { recursive: true });
    fs.mkdirSync(workspace, { recursive: true });
    fs.writeFileSync(path.join(extDir, 'package.json'), JSON.stringify(PROBE_PACKAGE, null, 2));
    fs.writeFileSync(path.join(extDir, 'extension.js'), PROBE_EXTENSION_JS);
    fs.writeFileSync(path.join(extDir, 'probe.svg'), PROBE_ICON);
    fs.writeFileSync(path.join(workspace, 'README.md'), '# probe workspace\n');
    vs = await startVSCode({ workspace, extensionDir: extDir, name: 'probe' });
  });

  closeAfter('probe', () => ({ vs, tmp }));

  it('runs a palette command that opens a webview panel', async function () {
    this.timeout(120_000);
    const session = vs!;
    await runCommand(session.page, 'Probe: Hello');
    const frame = await findWebviewFrame(session.page, '#probe');
    assert.strictEqual((await frame.textContent('#probe'))?.trim(), 'hello');
    assert.match(await waitForNotification(session.page, /panel opened/), /Probe: panel opened/);
    const out = await session.readOutputChannel('Probe', { contains: 'hello command ran' });
    assert.match(out, /probe activated/);
    const shot = await session.screenshot('probe-panel');
    assert.ok(fs.statSync(shot).size > 10_000, `screenshot ${shot} looks empty`);
  });

  it('opens a view container from the activity bar and finds its webview view', async function () {
    this.timeout(120_000);
    const session = vs!;
    await openView(session.page, 'Probe Lab');
    const frame = await findWebviewFrame(session.page, '#probe-view');
    assert.strictEqual((await frame.textContent('#probe-view'))?.trim(), 'view ok');
    await session.screenshot('probe-view');
  });

  it('runs a command while keyboard focus is inside a webview', async function () {
    this.timeout(120_000);
    const session = vs!;
    const frame = await findWebviewFrame(session.page, '#probe');
    await frame.click('#probe');
    const tab = session.page.locator('.tabs-container .tab', { hasText: 'Probe Panel' });
    assert.strictEqual(await tab.count(), 1, 'the Probe Panel tab should be open');
    await runCommand(session.page, 'View: Close All Editors');
    await tab.waitFor({ state: 'detached', timeout: 15_000 });
  });
});
