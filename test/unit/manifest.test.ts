/**
 * What the manifest promises VS Code, and what the bundle ships: every contributed command is
 * registered, Restricted Mode is declared with the path settings restricted, checkpoints and HF
 * folders get an explorer entry, and the esbuild bundle (one protobufjs) builds the same ONNX
 * bytes as the TypeScript output.
 */
import { strict as assert } from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import Module from 'module';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.join(__dirname, '..', '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const FIX = path.join(ROOT, 'test', 'fixtures');

/**
 * Activates the compiled extension against a stand-in for the `vscode` module (no VS Code in unit
 * tests; the e2e suite runs the real one): every API object is an inert stub, settings read their
 * defaults, `commands.registerCommand` records the id and handler. Returns what was registered.
 */
function activateWithFakeVscode(): { registered: Map<string, unknown>; calls: string[]; dispose: () => void } {
  const registered = new Map<string, unknown>();
  const calls: string[] = [];
  const stub = (p: string): unknown => {
    const cache = new Map<PropertyKey, unknown>();
    return new Proxy(function () {}, {
      get(_t, k) {
        if (k === 'then') return undefined; // not a promise
        if (k === Symbol.iterator) return function* () {};
        if (k === Symbol.toPrimitive) return () => 0;
        if (k === 'workspaceFolders' || k === 'activeTextEditor') return undefined;
        if (p === 'vscode.commands' && k === 'registerCommand') {
          return (id: string, handler: unknown) => (calls.push(id), registered.set(id, handler), { dispose() {} });
        }
        if (!cache.has(k)) cache.set(k, stub(`${p}.${String(k)}`));
        return cache.get(k);
      },
      apply: (_t, _this, args: unknown[]) => (p.endsWith('.get') ? args[1] : stub(`${p}()`)), // configuration.get(key, default)
      construct: () => stub(`new ${p}`) as object,
    });
  };
  const vscode = stub('vscode');
  const M = Module as unknown as { _load: (req: string, ...rest: unknown[]) => unknown };
  const load = M._load;
  M._load = function (this: unknown, req: string, ...rest: unknown[]) {
    return req === 'vscode' ? vscode : load.call(this, req, ...rest);
  };
  const memento = new Map<string, unknown>();
  const context = new Proxy({
    subscriptions: [] as { dispose(): void }[],
    asAbsolutePath: (p: string) => path.join(ROOT, p),
    workspaceState: { get: (k: string, d?: unknown) => memento.get(k) ?? d, update: async (k: string, v: unknown) => void memento.set(k, v), keys: () => [...memento.keys()] },
  }, { get: (t, k) => (k in t ? t[k as keyof typeof t] : stub(`context.${String(k)}`)) });
  try {
    const ext = require(path.join(ROOT, 'out', 'extension', 'host', 'extension.js')) as { activate(c: unknown): void };
    ext.activate(context);
  } finally {
    M._load = load;
  }
  return { registered, calls, dispose: () => context.subscriptions.forEach((d) => d.dispose()) };
}

describe('manifest', () => {
  it('every contributed command is registered by the extension when it activates, once (no two command groups claim one id), and every registered one is contributed', () => {
    const { registered, calls, dispose } = activateWithFakeVscode();
    try {
      const contributed = (pkg.contributes.commands as { command: string }[]).map((c) => c.command).sort();
      assert.deepEqual([...registered.keys()].sort(), contributed);
      assert.deepEqual([...calls].sort(), contributed, 'a command registered twice');
      for (const [id, handler] of registered) assert.equal(typeof handler, 'function', `${id} has a handler`);
    } finally {
      dispose();
    }
  });

  it('declares limited support in Restricted Mode, with the path settings restricted', () => {
    const u = pkg.capabilities.untrustedWorkspaces;
    assert.equal(u.supported, 'limited');
    assert.deepEqual(u.restrictedConfigurations, ['timesformerLab.checkpoint', 'timesformerLab.testData', 'timesformerLab.tensorrtCacheDir', 'timesformerLab.trtexecPath']);
    assert.match(u.description, /runs nothing without asking/);
  });

  it('offers "Check FP16 with TimeSformer Lab" on checkpoints and HF folders in the explorer only', () => {
    const entries = pkg.contributes.menus['explorer/context'] as { command: string; when: string }[];
    assert.deepEqual(entries.map((e) => e.command), ['timesformerLab.checkFile', 'timesformerLab.checkFile', 'timesformerLab.runOnVideo']);
    const re = /resourceExtname =~ \/(.*)\/$/.exec(entries[0].when)![1];
    for (const f of ['.pyth', '.pth', '.pt', '.ckpt']) assert.match(f, new RegExp(re));
    for (const f of ['.p', '.pthx', '.json']) assert.doesNotMatch(f, new RegExp(re));
    assert.match(entries[1].when, /explorerResourceIsFolder && resourcePath in timesformerLab\.hfFolders/);
    const palette = (pkg.contributes.menus.commandPalette as { command: string; when: string }[]).find((e) => e.command === 'timesformerLab.checkFile');
    assert.equal(palette?.when, 'false');
  });

  it('offers "Run TimeSformer Lab on this Video" on video files in the explorer only', () => {
    const entry = (pkg.contributes.menus['explorer/context'] as { command: string; when: string }[]).find((e) => e.command === 'timesformerLab.runOnVideo')!;
    const m = /resourceExtname =~ \/(.*)\/(i?)/.exec(entry.when)!;
    const re = new RegExp(m[1], m[2]);
    for (const f of ['.mp4', '.avi', '.mkv', '.webm', '.MOV', '.m4v']) assert.match(f, re);
    for (const f of ['.p', '.mp3', '.npy', '.mp4x']) assert.doesNotMatch(f, re);
    assert.match(entry.when, /!explorerResourceIsFolder/);
    const palette = (pkg.contributes.menus.commandPalette as { command: string; when: string }[]).find((e) => e.command === 'timesformerLab.runOnVideo');
    assert.equal(palette?.when, 'false');
  });

  it('runs the bundles: main, worker and CLI from dist/', () => {
    assert.equal(pkg.main, './dist/extension.js');
    assert.equal(pkg.bin['timesformer-lab'], './dist/cli.js');
    assert.equal(pkg.license, 'MIT');
    assert.match(fs.readFileSync(path.join(ROOT, 'LICENSE'), 'utf8'), /^MIT License/);
  });
});

describe('bundle (dist/, npm run build)', function () {
  this.timeout(60_000);
  let tmp: string;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-bundle-'))));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('holds one protobufjs, and the bundled CLI writes the same ONNX bytes as the TypeScript build', () => {
    const cli = path.join(ROOT, 'dist', 'cli.js');
    assert.ok(fs.existsSync(cli), 'run npm run build first');
    const text = fs.readFileSync(cli, 'utf8');
    assert.ok(!text.includes('onnx-proto/node_modules/protobufjs'), 'onnx-proto\'s own protobufjs is not bundled');
    assert.ok(text.includes('node_modules/protobufjs/src/writer.js'));
    const run = (script: string, out: string) => {
      try {
        execFileSync(process.execPath, [script, 'run', '--weights', path.join(FIX, 'd3_half_weights.pyth'), '--data', path.join(FIX, 'd3_half_weights_test_data.p'), '--precision', 'fp16', '--quiet', '--save-onnx', out], { stdio: 'pipe' });
      } catch (e) {
        // Exit code 1 is a FAIL verdict; the graph is written either way.
        if ((e as { status?: number }).status !== 1) throw e;
      }
      return fs.readFileSync(out);
    };
    const bundled = run(cli, path.join(tmp, 'bundled.onnx'));
    const plain = run(path.join(ROOT, 'out', 'extension', 'cli.js'), path.join(tmp, 'tsc.onnx'));
    assert.ok(bundled.length > 100_000);
    assert.ok(bundled.equals(plain), 'identical ONNX');
  });
});
