/**
 * The readers review (findings/readers.md 4, 5, 6, 9): TensorRT outputs, bundle manifests, logs and
 * inputs.bin that are not what they claim — FIFOs, directories, devices, nested or short Polygraphy
 * arrays, JSON that is not JSON. Each hostile input is made here, in a temporary folder. A check that
 * could block (a FIFO opened without O_NONBLOCK blocks the whole thread) runs in a child process
 * with a time limit, so that a regression fails the test instead of hanging the suite.
 */
import { strict as assert } from 'assert';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { LabError } from '../../extension/core/errors';
import { cli } from './helpers/cli';
import { D, W } from './helpers/trtexec';
import { MAX_MANIFEST, readManifest } from '../../extension/core/trt/bundle';
import type { BundleManifest } from '../../extension/core/trt/manifest';
import { checkFreshOutputs, checkSameClip } from '../../extension/core/trt/import';
import { parseJsonFile, readPolygraphyOutputs, readTrtexecOutputs, sniffTool } from '../../extension/core/trt/outputs';

const OUT = path.join(__dirname, '..', '..');
const posix = process.platform !== 'win32';

/** Run `body` (JS, with `req(rel)` requiring from out/) in a child; its LabError as { code, file, message }. */
export function inChild(body: string, ms = 4000): { code?: string; file?: string; message?: string; ok?: unknown } {
  const script = `const path = require('path'); const req = (r) => require(path.join(${JSON.stringify(OUT)}, r));
    (async () => { try { const ok = await (async () => { ${body} })(); console.log(JSON.stringify({ ok: ok === undefined ? null : ok })); }
    catch (e) { console.log(JSON.stringify({ code: e.code, file: e.file, message: e.message })); } })();`;
  const r = spawnSync(process.execPath, ['-e', script], { timeout: ms, encoding: 'utf8', killSignal: 'SIGKILL' });
  if (r.error || r.signal) throw new Error(`the child did not finish in ${ms} ms (${r.error?.message ?? r.signal}): it blocked`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

export function mkfifo(f: string): void {
  execFileSync('mkfifo', [f]);
}

function labError(f: () => unknown, code: string, file: string, re?: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof LabError, `not a LabError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.equal(e.file, file);
    if (re) assert.match(e.message, re);
    return true;
  });
}

describe('hostile TensorRT outputs: FIFOs and directories are refused before they are opened (readers finding 4)', function () {
  this.timeout(20000);
  let tmp: string;
  before(function () {
    if (!posix) this.skip();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-hostile-trt-'));
  });
  after(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));

  it('a FIFO named like outputs: sniffTool and parseJsonFile say NOT_A_FILE naming it, without blocking', () => {
    const fifo = path.join(tmp, 'fifo.json');
    mkfifo(fifo);
    for (const call of [`req('extension/core/trt/outputs').sniffTool(${JSON.stringify(fifo)})`, `req('extension/core/trt/json-stream').parseJsonFile(${JSON.stringify(fifo)}, 1e6, 'x')`,
      `req('extension/core/trt/outputs').readTrtexecOutputs(${JSON.stringify(fifo)}, 1e6)`]) {
      const r = inChild(`return ${call};`);
      assert.equal(r.code, 'NOT_A_FILE', JSON.stringify(r));
      assert.equal(r.file, fifo);
      assert.match(r.message!, /FIFO/);
    }
  });

  it('a directory named like outputs: NOT_A_FILE naming it, not INTERNAL EISDIR', () => {
    const dir = path.join(tmp, 'dirout.json');
    fs.mkdirSync(dir);
    labError(() => sniffTool(dir), 'NOT_A_FILE', dir, /a directory/);
    labError(() => parseJsonFile(dir, 1e6, 'x'), 'NOT_A_FILE', dir, /a directory/);
    labError(() => readPolygraphyOutputs(dir, 1e6), 'NOT_A_FILE', dir);
    labError(() => readTrtexecOutputs(path.join(tmp, 'none.json'), 1e6), 'FILE_NOT_FOUND', path.join(tmp, 'none.json'));
  });

  it('the CLI: import of a directory or a FIFO says NOT_A_FILE before it reads the checkpoint', async () => {
    const dir = path.join(tmp, 'dir2.json');
    fs.mkdirSync(dir);
    const r = await cli(['import', '--weights', W, '--data', D, dir]);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /NOT_A_FILE.*dir2\.json: a directory/);
    assert.doesNotMatch(r.err, /reading checkpoint/);
    const fifo = path.join(tmp, 'fifo2.json');
    mkfifo(fifo);
    const c = inChild(`return await req('extension/cli').main(['import', '--weights', ${JSON.stringify(W)}, '--data', ${JSON.stringify(D)}, ${JSON.stringify(fifo)}]);`, 4500);
    assert.equal(c.ok, 2, JSON.stringify(c));
  });
});

describe('hostile Polygraphy arrays: typed errors naming the file and the output (readers finding 6)', function () {
  this.timeout(20000);
  let tmp: string;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-hostile-pg-'))));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const pg = (name: string, probs: string): string => {
    const f = path.join(tmp, name);
    fs.writeFileSync(f, `{"lst": [["trt-runner", [{"outputs": {"probs": ${probs}}}]]]}`);
    return f;
  };
  const npy = (major: number, total: number) => {
    const b = Buffer.alloc(total);
    Buffer.from('\x93NUMPY', 'latin1').copy(b);
    b[6] = major;
    return b.toString('base64');
  };

  it('LazyArrays nested 100,000 deep: BAD_OUTPUTS, not "Maximum call stack size exceeded"', () => {
    const n = 100000;
    const f = pg('deep.json', `${'{"values": '.repeat(n)}{"array": "${npy(1, 10)}"}${'}'.repeat(n)}`);
    labError(() => readPolygraphyOutputs(f, 64 << 20), 'BAD_OUTPUTS', f, /output 'probs' nests more than 4 LazyArrays/);
  });

  it('one LazyArray level (as Polygraphy writes) is still read through', () => {
    const f = pg('one.json', `{"values": {"array": "${npy(1, 10)}"}}`);
    // unwrapped to the ndarray: its (empty) header is what is wrong now
    labError(() => readPolygraphyOutputs(f, 1 << 20), 'BAD_OUTPUTS', f, /output 'probs': /);
  });

  for (const [what, major, total, re] of [
    ['a v2 header of 10 bytes (the review file)', 2, 10, /output 'probs': its array is truncated \(10 bytes/],
    ['a v3 header of 11 bytes', 3, 11, /output 'probs': its array is truncated \(11 bytes/],
    ['np.save version 9', 9, 16, /output 'probs': its array is np\.save format version 9/],
  ] as const) {
    it(`${what}: BAD_OUTPUTS naming the output, not "offset out of range"`, () => {
      const f = pg(`v${major}-${total}.json`, `{"array": "${npy(major, total)}"}`);
      labError(() => readPolygraphyOutputs(f, 1 << 20), 'BAD_OUTPUTS', f, re);
    });
  }
});

describe('hostile bundle files beside the outputs: bounded reads of regular files only (readers finding 5)', function () {
  this.timeout(20000);
  let tmp: string;
  before(function () {
    if (!posix) this.skip();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-hostile-bundle-'));
  });
  after(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));
  const folder = (name: string) => {
    const d = path.join(tmp, name);
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, 'trt_fp16.json'), '[]');
    return d;
  };
  const J = JSON.stringify;

  it('bundle.json a FIFO: NOT_A_FILE naming it, without blocking', () => {
    const d = folder('fifo');
    mkfifo(path.join(d, 'bundle.json'));
    const r = inChild(`return req('extension/core/trt/bundle').readManifest(${J(d)});`);
    assert.equal(r.code, 'NOT_A_FILE', J(r));
    assert.equal(r.file, path.join(d, 'bundle.json'));
  });

  it('bundle.json larger than 4 MiB (sparse): LIMIT_EXCEEDED, unread', () => {
    const d = folder('big');
    const f = path.join(d, 'bundle.json');
    fs.writeFileSync(f, '{');
    fs.truncateSync(f, MAX_MANIFEST + 1);
    labError(() => readManifest(d), 'LIMIT_EXCEEDED', f, /a bundle manifest/);
  });

  it('bundle.json that is not JSON: BAD_OUTPUTS without an excerpt of it', () => {
    const d = folder('text');
    fs.writeFileSync(path.join(d, 'bundle.json'), 'root:x:0:0:root:/root:/bin/bash');
    labError(() => readManifest(d), 'BAD_OUTPUTS', path.join(d, 'bundle.json'), /a JSON syntax error/);
    assert.throws(() => readManifest(d), (e: Error) => !/root:x/.test(e.message));
  });

  for (const [what, make] of [
    ['linked to /dev/zero', (f: string) => fs.symlinkSync('/dev/zero', f)],
    ['a FIFO', mkfifo],
  ] as const) {
    it(`the run's log ${what}: NOT_A_FILE naming the log, read no further (not 16 GB of zeros, not blocked)`, () => {
      const d = folder(what.replace(/\W/g, '_'));
      const log = path.join(d, 'trt_fp16.log');
      make(log);
      const m = { id: 'abc', exportedAt: new Date().toISOString() };
      const r = inChild(`return req('extension/core/trt/import').checkFreshOutputs([${J(path.join(d, 'trt_fp16.json'))}], ${J(d)}, ${J(m)});`);
      assert.equal(r.code, 'NOT_A_FILE', J(r));
      assert.equal(r.file, log);
    });

    it(`inputs.bin ${what}: NOT_A_FILE naming it, never read whole`, () => {
      const d = folder(`in_${what.replace(/\W/g, '_')}`);
      const f = path.join(d, 'inputs.bin');
      make(f);
      const r = inChild(`return req('extension/core/trt/import').checkSameClip(new Float32Array(4), ${J(d)});`);
      assert.equal(r.code, 'NOT_A_FILE', J(r));
      assert.equal(r.file, f);
    });
  }

  it('the log stamped with the bundle id is still read (its first line), and a missing log is no error', () => {
    const d = folder('stamped');
    const out = path.join(d, 'trt_fp16.json');
    const m = { id: 'abc', exportedAt: new Date(Date.now() + 3600e3).toISOString() } as unknown as BundleManifest;
    // no log and older than the bundle: refused by its time
    assert.throws(() => checkFreshOutputsOf(out, d, m), /before this folder's bundle was exported/);
    fs.writeFileSync(path.join(d, 'trt_fp16.log'), `# bundle abc\n${'x'.repeat(1 << 20)}`);
    checkFreshOutputsOf(out, d, m);
    fs.writeFileSync(path.join(d, 'trt_fp16.log'), '# bundle other\n');
    assert.throws(() => checkFreshOutputsOf(out, d, m), /names bundle other/);
  });

  it('inputs.bin is compared chunk by chunk: equal passes, one differing byte past the first MiB is MISMATCH, another size is MISMATCH', () => {
    const d = folder('inputs');
    const v = new Float32Array((3 << 20) / 4 + 5).map((_, i) => i * 0.5);
    const f = path.join(d, 'inputs.bin');
    const bytes = Buffer.from(v.buffer);
    fs.writeFileSync(f, bytes);
    checkSameClip(v, d);
    const other = Buffer.from(bytes);
    other[(2 << 20) + 7] ^= 1;
    fs.writeFileSync(f, other);
    labError(() => checkSameClip(v, d), 'MISMATCH', f);
    fs.writeFileSync(f, bytes.subarray(4));
    labError(() => checkSameClip(v, d), 'MISMATCH', f);
  });
});

function checkFreshOutputsOf(out: string, dir: string, m: BundleManifest): void {
  checkFreshOutputs([out], dir, m);
}

describe('engine-output JSON is JSON (plus the nan/inf words): no hex, no booleans as numbers, no re-prototyping (readers finding 9)', function () {
  this.timeout(20000);
  let tmp: string;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-hostile-json-'))));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  let n = 0;
  const file = (text: string): string => {
    const f = path.join(tmp, `o${n++}.json`);
    fs.writeFileSync(f, text);
    return f;
  };
  /** A trtexec file whose probs hold `v` 400 times (the fast path takes all but the last). */
  const trtexec = (v: string) => file(`[{"name":"probs","dimensions":"1x400","values":[${Array(400).fill(v).join(',')}]}]`);

  for (const w of ['0x10', '+1', '01', '.5', '1.', '1e', '0b1', 'Infinity0']) {
    it(`'${w}' in a list of values: BAD_OUTPUTS naming it (not the number JavaScript's Number() makes of it)`, () => {
      const f = trtexec(w);
      labError(() => readTrtexecOutputs(f, 1 << 20), 'BAD_OUTPUTS', f, new RegExp(`'${w.replace(/[.+]/g, '\\$&')}' is not a value`));
      const last = file(`[1, ${w}]`);
      labError(() => parseJsonFile(last, 1 << 20, 'x'), 'BAD_OUTPUTS', last, /is not a value/);
    });
  }

  it('true/false are booleans, not 1/0: a list of them is not a list of numeric values', () => {
    const f = trtexec('true');
    labError(() => readTrtexecOutputs(f, 1 << 20), 'BAD_OUTPUTS', f, /no list of numeric values/);
    assert.deepEqual(parseJsonFile(file('[true, false, null]'), 1 << 20, 'x'), [true, false, null]);
  });

  it('"__proto__" is an own key, not a new prototype: the entry it hides behind is not an output', () => {
    const inner = `{"name":"probs","dimensions":"1x400","values":[${Array(400).fill('0.0025').join(',')}]}`;
    const f = file(`[{"__proto__":${inner}}]`);
    labError(() => readTrtexecOutputs(f, 1 << 20), 'BAD_OUTPUTS', f, /entry 0 is not \{ "name", "dimensions", "values" \}/);
    const o = parseJsonFile(file('{"__proto__": {"polluted": 1}, "a": 2}'), 1 << 20, 'x') as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(o), Object.prototype);
    assert.equal(o.polluted, undefined);
    assert.deepEqual(Object.keys(o), ['__proto__', 'a']);
  });

  it('what the tools write still reads: JSON numbers and nan, -nan, inf, -inf, NaN, Infinity, in the fast path and last', () => {
    const words = ['0', '-0', '1', '-2.5', '1e-05', '3.4E+38', '0.0025', 'nan', '-nan', 'inf', '-inf', 'NaN', '-Infinity', ' 7 ', '\n8'];
    const v = parseJsonFile(file(`[${words.join(',')},${words.join(',')}]`), 1 << 20, 'x') as Float32Array;
    assert.ok(v instanceof Float32Array);
    const want = [0, -0, 1, -2.5, 1e-5, 3.4e38, 0.0025, NaN, NaN, Infinity, -Infinity, NaN, -Infinity, 7, 8].map(Math.fround);
    assert.deepEqual([...v], [...want, ...want]);
  });
});
