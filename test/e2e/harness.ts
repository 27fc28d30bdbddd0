/**
 * E2E harness: drive a real VS Code (code-server 4.100.3 = VS Code 1.100.3) in headless Chromium
 * through playwright-core, from mocha tests. (Over ~400 lines: the session's start, its logs and
 * the workbench helpers share its process bookkeeping and waits, and this header is their one
 * manual; the lab's own helpers are in lab.ts.)
 *
 * Prerequisites (CI does both, see .ci/run):
 *   bash scripts/install-system-deps.sh   # Debian chromium at /usr/bin/chromium
 *   bash scripts/install-code-server.sh   # code-server in $HOME/.cache/code-server-4.100.3
 * Run:  npx tsc -p . && npx mocha --timeout 300000 'out/test/e2e/**\/*.e2e.test.js'
 *
 * Environment overrides:
 *   CODE_SERVER_DIR   where install-code-server.sh put code-server (default above)
 *   CHROMIUM_PATH     browser executable (default /usr/bin/chromium)
 *   E2E_ARTIFACTS_DIR screenshots and logs (default <repo>/artifacts/e2e, git-ignored)
 *   E2E_HEADED=1      show the browser (needs a display)
 *
 * API
 * ---
 *   const vs = await startVSCode({ workspace, extensionDir, settings? , ...StartOptions })
 *     workspace     folder opened in VS Code (must exist)
 *     extensionDir  folder of an unpacked extension (its package.json at the root, `main`
 *                   already built), or a list of them. Installed into a fresh extensions dir as
 *                   <publisher>.<name>-<version> (symlink by default, `install: 'copy'` copies).
 *     vsix          alternatively/additionally, .vsix files installed with --install-extension
 *     settings      merged over DEFAULT_SETTINGS into <user-data-dir>/User/settings.json
 *   returns VSCodeSession:
 *     page, browser, context        Playwright objects (page shows the workbench, already loaded)
 *     port, url                     code-server address (127.0.0.1)
 *     userDataDir, extensionsDir    temp dirs (deleted by stop() unless E2E_KEEP_TMP=1)
 *     logs()                        code-server's stdout+stderr so far
 *     screenshot(name)              -> path of artifacts/e2e/<name>.png
 *     readOutputChannel(name, opts) text of an extension's output channel (read from the log
 *                                   files VS Code writes under the user-data-dir)
 *     stop()                        closes the browser and kills code-server's process group;
 *                                   idempotent, never throws. ALWAYS call it in after()/finally.
 *     saveFailureArtifacts(name)    screenshot + code-server, extension host and output channel
 *                                   logs + browser console, for afterEach
 *   Helpers taking the page:
 *     runCommand(page, 'Category: Title')      command palette (F1), exact title, Enter
 *     findWebviewFrame(page, selector | (frame) => Promise<boolean>, timeoutMs)
 *                                   -> the Playwright Frame (webview content) that matches
 *     openView(page, 'Explorer')    click an activity bar item by its aria-label (title)
 *     waitForNotification(page, /regex/, timeoutMs) -> the notification's text
 *     waitForCondition(fn, timeoutMs, what)   generic poll
 *
 * Typical test:
 *   let vs: VSCodeSession;
 *   before(async function () { this.timeout(180_000);
 *     vs = await startVSCode({ workspace: ws, extensionDir: repoRoot }); });
 *   closeAfter('lab', () => ({ vs }));   // failure artifacts after each test, stop() after all
 *   it('opens the panel', async () => {
 *     await runCommand(vs.page, 'TimeSformer: Open Lab');
 *     const frame = await findWebviewFrame(vs.page, '#root');
 *     assert.match(await frame.textContent('#root') ?? '', /ready/);
 *   });
 *
 * Notes on robustness (why things are done the way they are):
 *  - Webviews are nested iframes (outer iframe.webview -> inner #active-frame). Playwright lists
 *    every frame in page.frames(), so findWebviewFrame polls all frames, ignoring frames that
 *    detach while being queried (webviews are re-created when moved or restored).
 *  - A command contributed by an extension appears in the palette only once the extension host
 *    has scanned the extension, which can be after the workbench shows; runCommand re-opens the
 *    palette until the exact title is listed.
 *  - Chromium is started with --disable-background-networking etc.: the machine's network is
 *    closed and Chromium otherwise keeps trying to reach Google's hosts.
 *  - code-server is spawned in its own process group (detached) so stop() can kill it with its
 *    extension host and pty host; a process 'exit' hook kills leftovers if a test forgets.
 */
import { spawn, spawnSync, ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { chromium, Browser, BrowserContext, Frame, Page } from 'playwright-core';

export const CODE_SERVER_VERSION = '4.100.3';

export function codeServerDir(): string {
  return process.env.CODE_SERVER_DIR || path.join(os.homedir(), '.cache', `code-server-${CODE_SERVER_VERSION}`);
}

export function codeServerEntry(): string {
  return path.join(codeServerDir(), 'node_modules', 'code-server', 'out', 'node', 'entry.js');
}

/** Repository root: the first folder above this file that has a package.json (works from out/). */
export function repoRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

export function artifactsDir(): string {
  const dir = process.env.E2E_ARTIFACTS_DIR || path.join(repoRoot(), 'artifacts', 'e2e');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** User settings that keep the workbench quiet and deterministic. `settings` is merged over these. */
export const DEFAULT_SETTINGS: Readonly<Record<string, unknown>> = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'workbench.reduceMotion': 'on',
  'workbench.colorTheme': 'Default Dark Modern',
  'workbench.layoutControl.enabled': false,
  'workbench.localHistory.enabled': false,
  'window.commandCenter': false,
  'window.restoreWindows': 'none',
  'chat.commandCenter.enabled': false,
  'chat.disableAIFeatures': true,
  'security.workspace.trust.enabled': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'extensions.ignoreRecommendations': true,
  'extensions.verifySignature': false,
  'git.enabled': false,
  'git.autoRepositoryDetection': false,
  'npm.autoDetect': 'off',
  'typescript.tsc.autoDetect': 'off',
  'files.hotExit': 'off',
  'editor.accessibilitySupport': 'off',
  'accessibility.signals.onDebugBreak': { sound: 'off' },
};

export interface StartOptions {
  /** Folder to open (must exist). */
  workspace: string;
  /** Unpacked extension folder(s), each with package.json at its root. */
  extensionDir?: string | string[];
  /** .vsix file(s) to install with `code-server --install-extension` before starting. */
  vsix?: string | string[];
  /** How to put extensionDir into the extensions dir: 'symlink' (default) or 'copy'. */
  install?: 'symlink' | 'copy';
  /** User settings, merged over DEFAULT_SETTINGS. */
  settings?: Record<string, unknown>;
  /** Browser viewport (default 1400x900). */
  viewport?: { width: number; height: number };
  /** Extra environment for code-server (and so for the extension host). */
  env?: Record<string, string>;
  /** Max time for code-server + workbench to come up (default 120 s). */
  startTimeoutMs?: number;
  /** Label used in log file names (default 'vscode'). */
  name?: string;
  /**
   * Workspace Trust on, the folder NOT trusted (Restricted Mode, no startup prompt). Default off:
   * code-server gets --disable-workspace-trust and every folder is trusted.
   */
  untrusted?: boolean;
}

export interface VSCodeSession {
  page: Page;
  browser: Browser;
  context: BrowserContext;
  port: number;
  url: string;
  workspace: string;
  userDataDir: string;
  extensionsDir: string;
  /** code-server stdout + stderr so far. */
  logs(): string;
  /** Browser console messages and page errors so far. */
  consoleLog(): string[];
  /** Saves artifacts/e2e/<name>.png and returns its path. */
  screenshot(name: string): Promise<string>;
  /** Screenshot, code-server log, console log, extension host log and output channels under artifacts/e2e/, best effort. */
  saveFailureArtifacts(name: string): Promise<void>;
  /**
   * Text of the output channel `name` created by an extension. Waits (default 10 s) until the
   * channel's log file exists and, if `contains` is given, until it matches.
   */
  readOutputChannel(name: string, opts?: { contains?: string | RegExp; timeoutMs?: number }): Promise<string>;
  /** Close browser, kill code-server (process group), remove temp dirs. Idempotent; never throws. */
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Process bookkeeping: kill every code-server we started if the test process exits abruptly.

const liveGroups = new Set<number>();
function killLiveGroups(): void {
  for (const pgid of liveGroups) {
    try { process.kill(-pgid, 'SIGKILL'); } catch { /* already gone */ }
  }
  liveGroups.clear();
}
process.on('exit', killLiveGroups);
// Ctrl+C / CI cancellation: 'exit' does not run on signals, so kill the servers here too and,
// unless someone else (mocha) handles the signal, exit the way the default handler would.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  const onSignal = (): void => {
    killLiveGroups();
    if (process.listenerCount(sig) === 1) process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
  };
  process.on(sig, onSignal);
}

function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 120) || 'shot';
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value (returned) or throws on timeout. Errors in fn are retried. */
export async function waitForCondition<T>(
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs: number,
  what: string,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as T;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      const detail = lastErr instanceof Error ? ` (last error: ${lastErr.message.split('\n')[0]})` : '';
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await sleep(intervalMs);
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
    req.on('error', () => resolve(0));
    req.setTimeout(2000, () => { req.destroy(); resolve(0); });
  });
}

interface ExtManifest { name: string; publisher: string; version: string }

function readManifest(dir: string): ExtManifest {
  const file = path.join(dir, 'package.json');
  if (!fs.existsSync(file)) throw new Error(`extensionDir ${dir} has no package.json`);
  const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<ExtManifest>;
  if (!pkg.name || !pkg.publisher || !pkg.version) {
    throw new Error(`${file} needs name, publisher and version to be installed as an extension`);
  }
  return pkg as ExtManifest;
}

function asList<T>(v: T | T[] | undefined): T[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

// ---------------------------------------------------------------------------------------------

export async function startVSCode(opts: StartOptions): Promise<VSCodeSession> {
  const entry = codeServerEntry();
  if (!fs.existsSync(entry)) {
    throw new Error(`code-server not found at ${entry}; run: bash scripts/install-code-server.sh`);
  }
  const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  if (!fs.existsSync(chromiumPath)) {
    throw new Error(`Chromium not found at ${chromiumPath}; run: bash scripts/install-system-deps.sh`);
  }
  const workspace = path.resolve(opts.workspace);
  if (!fs.statSync(workspace).isDirectory()) throw new Error(`workspace ${workspace} is not a folder`);
  const label = safeName(opts.name ?? 'vscode');
  const startTimeout = opts.startTimeoutMs ?? 120_000;

  const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), `e2e-${label}-`));
  const userDataDir = path.join(tmpRoot, 'user-data');
  const extensionsDir = path.join(tmpRoot, 'extensions');
  fs.mkdirSync(path.join(userDataDir, 'User'), { recursive: true });
  fs.mkdirSync(extensionsDir, { recursive: true });

  // 1. Extensions: unpacked folders go in as <publisher>.<name>-<version>; VS Code scans the
  //    folder when the extensions dir has no extensions.json manifest yet (a fresh dir).
  for (const dir of asList(opts.extensionDir)) {
    const src = path.resolve(dir);
    const m = readManifest(src);
    const target = path.join(extensionsDir, `${m.publisher}.${m.name}-${m.version}`.toLowerCase());
    if (opts.install === 'copy') {
      fs.cpSync(src, target, { recursive: true, filter: (p) => path.basename(p) !== '.git' });
    } else {
      fs.symlinkSync(src, target, 'dir');
    }
  }

  // 2. Settings.
  const trust = opts.untrusted ? { 'security.workspace.trust.enabled': true, 'security.workspace.trust.startupPrompt': 'never', 'security.workspace.trust.banner': 'never' } : {};
  const settings = { ...DEFAULT_SETTINGS, ...trust, ...(opts.settings ?? {}) };
  fs.writeFileSync(path.join(userDataDir, 'User', 'settings.json'), JSON.stringify(settings, null, 2));

  const baseArgs = [
    '--extensions-dir', extensionsDir,
    '--user-data-dir', userDataDir,
    '--disable-telemetry',
    '--disable-update-check',
    ...(opts.untrusted ? [] : ['--disable-workspace-trust']),
    '--disable-getting-started-override',
  ];
  const env: NodeJS.ProcessEnv = { ...process.env, ...(opts.env ?? {}) };
  // A code-server started from inside another VS Code terminal would otherwise talk to that one.
  delete env.VSCODE_IPC_HOOK_CLI;
  delete env.VSCODE_PROXY_URI;
  delete env.PASSWORD;
  delete env.HASHED_PASSWORD;

  // 3. .vsix installs (synchronous, before the server starts).
  for (const vsix of asList(opts.vsix)) {
    const r = spawnSync(process.execPath, [entry, ...baseArgs, '--install-extension', path.resolve(vsix)], {
      env, encoding: 'utf8', timeout: 120_000,
    });
    if (r.status !== 0) {
      throw new Error(`--install-extension ${vsix} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
    }
  }

  let log = '';
  const consoleLines: string[] = [];
  let proc: ChildProcess | undefined;
  let browser: Browser | undefined;
  let stopped = false;
  let exited = false;

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (browser) {
      // Bounded wait; the timer is cleared so it cannot keep mocha's process alive afterwards.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        browser.close().catch(() => undefined),
        new Promise<void>((r) => { timer = setTimeout(r, 10_000); }),
      ]);
      clearTimeout(timer);
    }
    if (proc?.pid && !exited) {
      const pgid = proc.pid;
      try { process.kill(-pgid, 'SIGTERM'); } catch { /* gone */ }
      const deadline = Date.now() + 5000;
      while (!exited && Date.now() < deadline) await sleep(100);
      // Children (extension host, pty host) may outlive the main process: kill the whole group.
      try { process.kill(-pgid, 'SIGKILL'); } catch { /* gone */ }
      liveGroups.delete(pgid);
    }
    if (!process.env.E2E_KEEP_TMP) {
      try { fs.rmSync(tmpRoot, { recursive: true, force: true, maxRetries: 3 }); } catch { /* best effort */ }
    }
  };

  try {
    // 4. code-server on a free port. The port could be taken between freePort() and bind, so a
    //    bind failure is retried with a new port.
    let port = 0;
    for (let attempt = 0; ; attempt++) {
      port = await freePort();
      exited = false;
      const child = spawn(process.execPath, [
        entry, '--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, ...baseArgs, workspace,
      ], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      proc = child;
      if (child.pid) liveGroups.add(child.pid);
      child.stdout?.on('data', (d: Buffer) => { log += d.toString(); });
      child.stderr?.on('data', (d: Buffer) => { log += d.toString(); });
      child.on('exit', () => { exited = true; });
      const healthy = await waitForCondition(async () => {
        if (exited) return 'exited';
        return (await httpStatus(`http://127.0.0.1:${port}/healthz`)) === 200 ? 'ok' : false;
      }, startTimeout, `code-server on port ${port}`);
      if (healthy === 'ok') break;
      if (child.pid) liveGroups.delete(child.pid);
      if (attempt >= 2 || !/EADDRINUSE/.test(log)) {
        throw new Error(`code-server exited during startup:\n${log.slice(-4000)}`);
      }
    }

    // 5. Browser.
    browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: !process.env.E2E_HEADED,
      args: [
        '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
        '--disable-background-networking', '--disable-component-update', '--no-first-run',
        '--disable-sync', '--disable-quic', '--disable-features=Translate,MediaRouter',
      ],
    });
    const context = await browser.newContext({
      viewport: opts.viewport ?? { width: 1400, height: 900 },
      deviceScaleFactor: 1,
      bypassCSP: false,
    });
    const page = await context.newPage();
    page.on('console', (m) => { consoleLines.push(`[${m.type()}] ${m.text()}`); });
    page.on('pageerror', (e) => { consoleLines.push(`[pageerror] ${e.message}`); });

    const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`;
    await page.goto(url, { waitUntil: 'domcontentloaded', timeout: startTimeout });
    await page.locator('.monaco-workbench').first().waitFor({ state: 'visible', timeout: startTimeout });
    // The status bar and activity bar are among the last parts laid out on startup.
    await page.locator('.monaco-workbench .part.statusbar').first().waitFor({ state: 'visible', timeout: startTimeout });
    await page.locator('.monaco-workbench .part.activitybar').first().waitFor({ state: 'visible', timeout: startTimeout });

    const session: VSCodeSession = {
      page, browser, context, port, url: `http://127.0.0.1:${port}/`, workspace, userDataDir, extensionsDir,
      logs: () => log,
      consoleLog: () => consoleLines.slice(),
      screenshot: async (name: string) => {
        const file = path.join(artifactsDir(), `${safeName(name)}.png`);
        await page.screenshot({ path: file });
        return file;
      },
      saveFailureArtifacts: async (name: string) => {
        const base = path.join(artifactsDir(), safeName(name));
        try { await page.screenshot({ path: `${base}.png`, timeout: 10_000 }); } catch { /* page gone */ }
        try { fs.writeFileSync(`${base}.code-server.log`, log); } catch { /* ignore */ }
        try { fs.writeFileSync(`${base}.console.log`, consoleLines.join('\n')); } catch { /* ignore */ }
        try {
          const ext = findLogFiles(path.join(userDataDir, 'logs'), /exthost\.log$/);
          if (ext.length) fs.copyFileSync(ext[ext.length - 1], `${base}.exthost.log`);
        } catch { /* ignore */ }
        try {
          // the extensions' output channels (what an extension logged up to the failure)
          for (const f of findLogFiles(path.join(userDataDir, 'logs'), /output_logging_[^/\\]*[/\\][^/\\]+\.log$/)) {
            fs.copyFileSync(f, `${base}.channel-${safeName(path.basename(f, '.log'))}.log`);
          }
        } catch { /* ignore */ }
      },
      readOutputChannel: (name, o) => readOutputChannelFile(userDataDir, name, o),
      stop,
    };
    return session;
  } catch (err) {
    const tail = log ? `\n--- code-server log (tail) ---\n${log.slice(-3000)}` : '';
    await stop();
    if (err instanceof Error) err.message += tail;
    throw err;
  }
}

/**
 * The hooks every suite shares: after a failed test its artifacts (named `<prefix>-FAILED-<title>`),
 * after the suite the session stopped and its temporary folder removed. `get` reads the suite's
 * variables when the hooks run (they are set in its before()).
 */
export function closeAfter(prefix: string, get: () => { vs?: VSCodeSession; tmp?: string }): void {
  afterEach(async function () {
    const t = this.currentTest;
    if (t?.state === 'failed') await get().vs?.saveFailureArtifacts(`${prefix}-FAILED-${t.title}`);
  });
  after(async function () {
    this.timeout(60_000);
    const { vs, tmp } = get();
    await vs?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });
}

// ---------------------------------------------------------------------------------------------
// Output channels: VS Code writes each extension output channel to a log file under
// <user-data-dir>/logs/<session>/exthost*/output_logging_*/<n>-<Channel>.log (plain channels) or
// .../exthost*/<publisher.name>/<Channel>.log (LogOutputChannel, createOutputChannel(.., {log:true})).

function findLogFiles(dir: string, re: RegExp): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries: fs.Dirent[];
    try { entries = fs.readdirSync(d, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (re.test(p)) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export async function readOutputChannelFile(
  userDataDir: string,
  name: string,
  opts: { contains?: string | RegExp; timeoutMs?: number } = {},
): Promise<string> {
  const re = new RegExp(`(^|[/\\\\]|\\d-)${escapeRe(name)}\\.log$`);
  const matches = (text: string) =>
    opts.contains === undefined ? true
      : typeof opts.contains === 'string' ? text.includes(opts.contains) : opts.contains.test(text);
  return waitForCondition(() => {
    const files = findLogFiles(path.join(userDataDir, 'logs'), re);
    for (const f of files.reverse()) {
      const text = fs.readFileSync(f, 'utf8');
      if (matches(text)) return text;
    }
    return false;
  }, opts.timeoutMs ?? 10_000, `output channel "${name}"${opts.contains ? ` containing ${String(opts.contains)}` : ''}`, 250);
}

// ---------------------------------------------------------------------------------------------
// Workbench helpers.

const QUICK_INPUT = '.quick-input-widget';
const QUICK_INPUT_BOX = `${QUICK_INPUT} .quick-input-box input`;
const QUICK_INPUT_ROW = `${QUICK_INPUT} .quick-input-list .monaco-list-row`;

async function closeQuickInput(page: Page): Promise<void> {
  const widget = page.locator(QUICK_INPUT).first();
  for (let i = 0; i < 3 && (await widget.isVisible().catch(() => false)); i++) {
    await page.keyboard.press('Escape');
    await sleep(100);
  }
}

/** Label of a quick-pick row without keybinding / "recently used" decorations. */
async function rowLabel(row: ReturnType<Page['locator']>): Promise<string> {
  const label = row.locator('.label-name').first();
  const text = (await label.count()) ? await label.textContent() : await row.getAttribute('aria-label');
  return (text ?? '').replace(/\s+/g, ' ').trim();
}

/**
 * Runs a command from the command palette by its full title as shown there ("Category: Title").
 * Waits (up to timeoutMs) until the command is listed: commands contributed by extensions
 * appear only once the extension host has registered them.
 */
export async function runCommand(page: Page, title: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let attempt = 0;
  for (;;) {
    attempt++;
    await closeQuickInput(page);
    // F1 first; Ctrl+Shift+P as an alternative on retries (both are bound in the web workbench).
    await page.keyboard.press(attempt % 2 === 1 ? 'F1' : 'Control+Shift+P');
    const box = page.locator(QUICK_INPUT_BOX).first();
    try {
      await box.waitFor({ state: 'visible', timeout: 5000 });
    } catch {
      // Focus may be inside a webview iframe that does not forward the key: move focus back to
      // the workbench (blurring the iframe element) and retry. (A string, as tsconfig has no DOM lib.)
      await page.evaluate('document.activeElement && document.activeElement.blur && document.activeElement.blur()')
        .catch(() => undefined);
      if (Date.now() > deadline) throw new Error(`command palette did not open for "${title}"`);
      continue;
    }
    try {
      // the palette can close between showing and typing (focus taken by a webview or a
      // notification on a loaded machine): open it again rather than wait on a hidden box
      await box.fill(`>${title}`, { timeout: 5000 });
    } catch {
      if (Date.now() > deadline) throw new Error(`command palette closed before "${title}" could be typed`);
      continue;
    }
    const found = await waitForCondition(async () => {
      const rows = page.locator(QUICK_INPUT_ROW);
      const n = await rows.count();
      for (let i = 0; i < n; i++) {
        const row = rows.nth(i);
        if ((await rowLabel(row)) === title) return { row, index: i };
      }
      return false;
    }, Math.min(5000, Math.max(500, deadline - Date.now())), `"${title}" in the command palette`).catch(() => undefined);
    if (found) {
      const focused = (await found.row.getAttribute('class'))?.includes('focused');
      if (focused) await page.keyboard.press('Enter');
      else await found.row.click();
      await page.locator(QUICK_INPUT).first().waitFor({ state: 'hidden', timeout: 10_000 }).catch(() => undefined);
      return;
    }
    if (Date.now() > deadline) {
      const listed = await page.locator(QUICK_INPUT_ROW).allTextContents().catch(() => [] as string[]);
      await closeQuickInput(page);
      throw new Error(`command "${title}" not found in the palette after ${timeoutMs} ms; listed: ${JSON.stringify(listed.slice(0, 10))}`);
    }
  }
}

/**
 * Finds the webview frame whose document contains `selector` (or for which `predicate` returns
 * true). Webviews are nested iframes: the outer one (iframe.webview) hosts VS Code's glue, the
 * inner `#active-frame` holds the extension's HTML; the frame returned is the inner one.
 */
export async function findWebviewFrame(
  page: Page,
  selectorOrPredicate: string | ((frame: Frame) => Promise<boolean>),
  timeoutMs = 30_000,
): Promise<Frame> {
  const test = typeof selectorOrPredicate === 'string'
    ? async (f: Frame) => (await f.$(selectorOrPredicate)) !== null
    : selectorOrPredicate;
  return waitForCondition(async () => {
    for (const f of page.frames()) {
      if (f === page.mainFrame() || f.isDetached()) continue;
      try {
        if (await test(f)) return f;
      } catch { /* frame navigated or detached meanwhile */ }
    }
    return false;
  }, timeoutMs, `a webview frame with ${typeof selectorOrPredicate === 'string' ? selectorOrPredicate : 'the predicate'}`, 250);
}

/**
 * Opens a view container from the activity bar by its title (the item's aria-label starts with
 * it, e.g. "Explorer" for "Explorer (Ctrl+Shift+E)"). Falls back to the "Open View" quick pick
 * when the item is hidden in the activity bar's overflow.
 */
export async function openView(page: Page, viewContainerTitle: string, timeoutMs = 30_000): Promise<void> {
  const sel = `.part.activitybar .action-item a[aria-label^="${viewContainerTitle.replace(/"/g, '\\"')}"]`;
  const item = page.locator(sel).first();
  try {
    await item.waitFor({ state: 'visible', timeout: timeoutMs });
  } catch {
    await closeQuickInput(page);
    await page.keyboard.press('Control+Q').catch(() => undefined);
    await page.keyboard.press('F1');
    const box = page.locator(QUICK_INPUT_BOX).first();
    await box.waitFor({ state: 'visible', timeout: 5000 });
    await box.fill(`view ${viewContainerTitle}`);
    await page.locator(QUICK_INPUT_ROW).first().waitFor({ state: 'visible', timeout: 5000 });
    await page.keyboard.press('Enter');
    return;
  }
  // Clicking an already-open container would close the side bar: only click when not checked.
  const li = item.locator('xpath=..');
  const checked = (await li.getAttribute('aria-selected')) === 'true' || ((await li.getAttribute('class')) ?? '').includes('checked');
  if (!checked) await item.click();
  await waitForCondition(async () => {
    const cls = (await li.getAttribute('class')) ?? '';
    return cls.includes('checked') || (await li.getAttribute('aria-selected')) === 'true';
  }, 10_000, `view container "${viewContainerTitle}" to open`);
}

/** Waits for a notification toast (or notification center entry) matching `text`; returns its text. */
export async function waitForNotification(page: Page, text: RegExp | string, timeoutMs = 30_000): Promise<string> {
  const re = typeof text === 'string' ? new RegExp(escapeRe(text)) : text;
  return waitForCondition(async () => {
    const msgs = await page.locator('.notifications-toasts .notification-list-item-message, .notifications-center .notification-list-item-message').allTextContents();
    return msgs.find((m) => re.test(m)) ?? false;
  }, timeoutMs, `a notification matching ${re}`, 250);
}
