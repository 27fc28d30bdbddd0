/**
 * Issue 12, hostile and broken files: the corpus (test/fixtures/bad, regenerated from its recipe),
 * the seeded mutation fuzzer, and no telemetry. Cases run in child processes with a heap cap, a
 * resident-memory watchdog and a 5 s limit per case (test/robust/pool.ts), so that a regression
 * shows up as a failed case (HANG, MEMORY, CRASH), not as a dead test run.
 */
import { strict as assert } from 'assert';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { ChildResult } from '../robust/child';
import { generateCorpus, type CorpusCase } from '../robust/corpus';
import { SECRET } from '../robust/corpus-hf';
import { CASE_LIMIT_MS, formatSummary, runFuzz } from '../robust/fuzz';
import { runPool } from '../robust/pool';

const ROOT = path.resolve(__dirname, '../../..');

/**
 * Issue 20, item 11, over the whole unit suite: root hooks (they wrap every test file of the run)
 * point onnxruntime's telemetry folders at a folder of the suite's own (XDG_CACHE_HOME, TMPDIR,
 * inherited by every process and worker the tests start) and take away the CI variables that make
 * onnxruntime keep quiet by itself; after the suite, nothing may be in them.
 */
const SUITE_TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'unit-suite-'));
const SUITE_ENV = /^(CI|TF_BUILD|GITHUB_ACTIONS|GITLAB_CI|CIRCLECI|TRAVIS|JENKINS_URL|CODEBUILD_BUILD_ID|BUILDKITE|TEAMCITY_VERSION|APPVEYOR|BITBUCKET_BUILD_NUMBER|SYSTEM_TEAMFOUNDATIONCOLLECTIONURI|ORT_RUNNING_UNIT_TESTS|XDG_CACHE_HOME|TMPDIR|ORT_DISABLE_TELEMETRY)$/;
const savedEnv: Record<string, string | undefined> = {};
before(() => {
  for (const k of Object.keys(process.env)) if (SUITE_ENV.test(k)) savedEnv[k] = process.env[k];
  for (const k of Object.keys(savedEnv)) delete process.env[k];
  process.env.XDG_CACHE_HOME = path.join(SUITE_TMP, 'cache');
  process.env.TMPDIR = path.join(SUITE_TMP, 'tmp');
  fs.mkdirSync(process.env.XDG_CACHE_HOME);
  fs.mkdirSync(process.env.TMPDIR);
});
after(() => {
  const telemetry = [
    ...(fs.existsSync(path.join(SUITE_TMP, 'cache', 'Microsoft')) ? ['cache/Microsoft (onnxruntime.db, deviceid)'] : []),
    ...fs.readdirSync(path.join(SUITE_TMP, 'tmp')).filter((n) => /^mat-debug-\d+\.log$|^\.ses$/.test(n)),
  ];
  delete process.env.XDG_CACHE_HOME;
  delete process.env.TMPDIR;
  Object.assign(process.env, savedEnv);
  fs.rmSync(SUITE_TMP, { recursive: true, force: true });
  assert.deepEqual(telemetry, [], 'a process of the unit suite loaded onnxruntime with its telemetry on');
});
const BAD = path.join(ROOT, 'test/fixtures/bad');
const manifest: CorpusCase[] = JSON.parse(fs.readFileSync(path.join(BAD, 'manifest.json'), 'utf8'));
const WORKERS = Math.max(1, Math.min(2, os.cpus().length));

describe('hostile and broken files: every corpus case gives its expected answer (loaded in a capped child process, 5 s per case)', function () {
  this.timeout(300_000);
  let dir = '';
  let generated: CorpusCase[] = [];
  const results = new Map<string, ChildResult>();
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corpus-'));
    generated = generateCorpus(dir);
    const abs = (p?: string) => (p === undefined ? undefined : path.isAbsolute(p) ? p : path.join(dir, p));
    const out = await runPool(
      manifest.map((c) => ({ input: { stage: c.stage, weights: abs(c.weights), data: abs(c.data) } })),
      { workers: WORKERS, caseTimeoutMs: CASE_LIMIT_MS, rssCapBytes: 2 ** 30, heapMB: 512 },
    );
    manifest.forEach((c, i) => results.set(c.id, out[i]));
  });
  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('test/fixtures/bad/manifest.json is what the generator writes (node out/test/robust/corpus.js)', () => {
    assert.deepEqual(JSON.parse(JSON.stringify(generated)), manifest);
    assert.ok(manifest.length >= 90, `${manifest.length} cases`);
    for (const d of [1, 2, 3, 4, 5, 6, 7, 8, 10]) assert.ok(manifest.some((c) => c.defect === d), `defect ${d} has a case`);
    for (const n of [1, 2, 3, 4, 5, 6, 7, 8, 9]) assert.ok(manifest.some((c) => c.item === n), `issue 20 item ${n} has a case`);
  });

  for (const c of manifest) {
    it(`${c.defect ? `defect ${c.defect}, ` : ''}${c.item ? `round 2 item ${c.item}, ` : ''}${c.id}: ${c.what} -> ${c.expect}`, () => {
      const r = results.get(c.id);
      assert.ok(r, 'the case ran');
      assert.equal(r.outcome, c.expect, r.message);
      // no error quotes what a link out of a model folder leads to (nor, here, any file's first line)
      for (const secret of SECRET.split('\n').filter(Boolean)) assert.ok(!(r.message ?? '').includes(secret.slice(0, 8)), `the message quotes the linked file: ${r.message}`);
      assert.ok(r.ms < CASE_LIMIT_MS, `${r.ms.toFixed(0)} ms`);
      // Nothing in the corpus may make a reader allocate more than a few tens of MB (the bombs
      // declare up to 2 GiB; the audit saw 2-8 GB).
      assert.ok(r.allocated < 64 * 2 ** 20, `${(r.allocated / 2 ** 20).toFixed(1)} MiB allocated`);
    });
  }
});

describe('the CLI prints what files say escaped (issue 20, item 9): control sequences, OSC-8 links, BEL, bidi overrides and command links never reach the terminal raw', function () {
  this.timeout(120_000);
  let dir = '';
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corpus-cli-'));
    generateCorpus(dir);
  });
  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
  for (const c of manifest.filter((x) => x.item === 9)) {
    it(`${c.id}: error [${c.expect}], the sequences shown as \\u001b, \\u0007, \\u202e and the link broken`, () => {
      const at = (p: string) => path.join(dir, p);
      const args = c.stage === 'clip' ? ['--weights', at(c.weights!), '--input', at(c.data!)] : ['--weights', at(c.weights!)];
      const r = spawnSync(process.execPath, [path.join(ROOT, 'out/extension/cli.js'), 'run', '--quiet', ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' } });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`^error \\[${c.expect}\\]: `));
      assert.doesNotMatch(r.stderr + r.stdout, /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/, 'no raw control character');
      assert.doesNotMatch(r.stderr, /\]\(command:/, 'no markdown command link');
      assert.match(r.stderr, /\\u001b\[2J/, 'the clear-screen is shown escaped');
    });
  }
});

describe('scratch (issue 20, item 10): the weights folder is removed when the CLI is stopped by a signal', function () {
  this.timeout(180_000);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    it(`${sig} in the middle of a run: the process ends by ${sig} and its tsf-lab-w-<pid>-* folder is gone`, async () => {
      const base = fs.mkdtempSync(path.join(os.tmpdir(), 'scratch-signal-'));
      try {
        const fx = (n: string) => path.join(ROOT, 'test/fixtures', n);
        const child = spawn(process.execPath, [path.join(ROOT, 'out/extension/cli.js'), 'run', '--ep', 'cpu', '--repeat', '1000',
          '--weights', fx('d3_half_weights.pyth'), '--data', fx('d3_half_weights_test_data.p')], {
          env: { ...process.env, TIMESFORMER_LAB_WEIGHTS_DIR: base, ORT_DISABLE_TELEMETRY: '1' }, stdio: ['ignore', 'ignore', 'pipe'],
        });
        let stderr = '';
        const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
        // the run is under way: the weights are in the folder and the model was described
        await new Promise<void>((resolve, reject) => {
          child.stderr.setEncoding('utf8').on('data', (d: string) => {
            stderr += d;
            if (/\n {2}model: /.test(stderr)) resolve();
          });
          void ended.then(() => reject(new Error(`the run ended before the signal: ${stderr.slice(-800)}`)));
        });
        const folders = fs.readdirSync(base).filter((n) => n.startsWith(`tsf-lab-w-${child.pid}-`));
        assert.equal(folders.length, 1, `the run's folder is there while it runs: ${fs.readdirSync(base).join(', ')}`);
        assert.ok(fs.readdirSync(path.join(base, folders[0])).length > 0, 'it holds the weights');
        child.kill(sig);
        const { signal } = await ended;
        assert.equal(signal, sig, `the process ends as ${sig} ends it (${stderr.slice(-400)})`);
        assert.deepEqual(fs.readdirSync(base), [], 'nothing left in the scratch parent');
      } finally {
        fs.rmSync(base, { recursive: true, force: true });
      }
    });
  }
});

describe('fuzzer: seeded mutations of the good fixtures give only success or typed errors, each within 5 s and its memory limit', function () {
  this.timeout(900_000);
  it(`${Number(process.env.FUZZ_CASES ?? 10_000).toLocaleString('en-US')} cases (FUZZ_CASES, FUZZ_SEED) over ${WORKERS} capped child processes`, async () => {
    const cases = Number(process.env.FUZZ_CASES ?? 10_000);
    const s = await runFuzz({ cases, seed: Number(process.env.FUZZ_SEED ?? 1), workers: WORKERS });
    process.stdout.write(`${formatSummary(s).replace(/^/gm, '      ')}\n`);
    assert.equal(s.cases, cases);
    assert.deepEqual(s.crashes.map((r) => `${r.i}: ${r.message}`), [], 'crashes');
    assert.deepEqual(s.hangs.map((r) => r.i), [], 'hangs');
    assert.deepEqual(s.memoryKills.map((r) => r.i), [], 'killed for memory');
    assert.deepEqual(s.overMemory.map(({ result, limit }) => `${result.i}: ${result.allocated} > ${limit}`), [], 'over the memory limit');
    assert.ok(s.worstTime.result.ms < CASE_LIMIT_MS, `worst case ${s.worstTime.result.ms} ms`);
    for (const outcome of Object.keys(s.byOutcome)) assert.match(outcome, /^(OK|[A-Z_]+)$/);
    // The mutations reach past the zip layer: pickles, tensors and values get exercised too, and .npy headers (BAD_CLIP).
    for (const code of ['OK', 'BAD_ZIP', 'BAD_PICKLE', 'BAD_TEST_DATA', 'BAD_WEIGHTS', 'BAD_CLIP']) assert.ok((s.byOutcome[code] ?? 0) > 0, `${code} among the outcomes`);
  });
});

/** An empty HOME, TMPDIR and working folder under `base`, and an environment that uses them with no CI variable and ORT_DISABLE_TELEMETRY=0. */
function userEnv(base: string): { env: NodeJS.ProcessEnv; home: string; tmp: string; cwd: string } {
  const home = path.join(base, 'home');
  const tmp = path.join(base, 'tmp');
  const cwd = path.join(base, 'cwd');
  for (const d of [home, tmp, cwd]) fs.mkdirSync(d);
  const env: NodeJS.ProcessEnv = {};
  // onnxruntime suppresses its telemetry by itself when it sees a CI variable: leave none, so the test sees what a user's machine does.
  const ci = /^(CI|TF_BUILD|GITHUB_ACTIONS|GITLAB_CI|CIRCLECI|TRAVIS|JENKINS_URL|CODEBUILD_BUILD_ID|BUILDKITE|TEAMCITY_VERSION|APPVEYOR|BITBUCKET_BUILD_NUMBER|SYSTEM_TEAMFOUNDATIONCOLLECTIONURI|ORT_RUNNING_UNIT_TESTS|XDG_CACHE_HOME|ORT_DISABLE_TELEMETRY)$/;
  for (const [k, v] of Object.entries(process.env)) if (!ci.test(k)) env[k] = v;
  Object.assign(env, { HOME: home, TMPDIR: tmp, ORT_DISABLE_TELEMETRY: '0' }); // a user's 0 is overridden too
  return { env, home, tmp, cwd };
}

/** Everything under `base`, relative. */
function everything(base: string): string[] {
  const left: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      left.push(path.relative(base, p));
      if (e.isDirectory()) walk(p);
    }
  };
  walk(base);
  return left.sort();
}

describe('no telemetry: a run leaves no files but those the user asked for', function () {
  this.timeout(120_000);
  it('a worker thread of the pool and the GPU helper process load onnxruntime with telemetry off too (a worker\'s process.env never reaches onnxruntime\'s getenv: the pool sets it on the thread that starts it)', () => {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'telemetry-'));
    try {
      const { env, cwd } = userEnv(base);
      const r = spawnSync(process.execPath, [path.join(ROOT, 'out/test/robust/telemetry-probe.js')], { cwd, env, encoding: 'utf8', timeout: 100_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /worker thread and in the GPU helper/);
      assert.deepEqual(everything(base), ['cwd', 'home', 'tmp']);
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  });

  it('the CLI, run with an empty HOME, TMPDIR and working folder and no CI variables, writes nothing there (onnxruntime would write ~/.cache/Microsoft/DeveloperTools/.onnxruntime and mat-debug-<pid>.log)', () => {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'telemetry-'));
    try {
      const { env, cwd } = userEnv(base);
      const r = spawnSync(process.execPath, [
        path.join(ROOT, 'out/extension/cli.js'), 'run', '--quiet', '--ep', 'cpu',
        '--weights', path.join(ROOT, 'test/fixtures/d3_half_weights.pyth'), '--data', path.join(ROOT, 'test/fixtures/d3_half_weights_test_data.p'),
      ], { cwd, env, encoding: 'utf8', timeout: 100_000 });
      assert.ok(r.status === 0 || r.status === 1, `the run ends with a verdict: ${r.status} ${r.stderr}`);
      assert.match(r.stdout, /verdict:/);
      assert.deepEqual(everything(base), ['cwd', 'home', 'tmp']);
      assert.ok(!fs.existsSync(path.join(os.tmpdir(), `mat-debug-${r.pid}.log`)), 'no mat-debug log in the system temp folder either');
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  });
});
