/**
 * Issue 12, hostile and broken files: the corpus (test/fixtures/bad, regenerated from its recipe),
 * the seeded mutation fuzzer, and no telemetry. Cases run in child processes with a heap cap, a
 * resident-memory watchdog and a 5 s limit per case (test/robust/pool.ts), so that a regression
 * shows up as a failed case (HANG, MEMORY, CRASH), not as a dead test run.
 */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { ChildResult } from '../robust/child';
import { generateCorpus, type CorpusCase } from '../robust/corpus';
import { CASE_LIMIT_MS, formatSummary, runFuzz } from '../robust/fuzz';
import { runPool } from '../robust/pool';

const ROOT = path.resolve(__dirname, '../../..');
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
  });

  for (const c of manifest) {
    it(`${c.defect ? `defect ${c.defect}, ` : ''}${c.id}: ${c.what} -> ${c.expect}`, () => {
      const r = results.get(c.id);
      assert.ok(r, 'the case ran');
      assert.equal(r.outcome, c.expect, r.message);
      assert.ok(r.ms < CASE_LIMIT_MS, `${r.ms.toFixed(0)} ms`);
      // Nothing in the corpus may make a reader allocate more than a few tens of MB (the bombs
      // declare up to 2 GiB; the audit saw 2-8 GB).
      assert.ok(r.allocated < 64 * 2 ** 20, `${(r.allocated / 2 ** 20).toFixed(1)} MiB allocated`);
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
    // The mutations reach past the zip layer: pickles, tensors and values get exercised too.
    for (const code of ['OK', 'BAD_ZIP', 'BAD_PICKLE', 'BAD_TEST_DATA', 'BAD_WEIGHTS']) assert.ok((s.byOutcome[code] ?? 0) > 0, `${code} among the outcomes`);
  });
});

describe('no telemetry: a run leaves no files but those the user asked for', function () {
  this.timeout(120_000);
  it('the CLI, run with an empty HOME, TMPDIR and working folder and no CI variables, writes nothing there (onnxruntime would write ~/.cache/Microsoft/DeveloperTools/.onnxruntime and mat-debug-<pid>.log)', () => {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'telemetry-'));
    try {
      const home = path.join(base, 'home');
      const tmp = path.join(base, 'tmp');
      const cwd = path.join(base, 'cwd');
      for (const d of [home, tmp, cwd]) fs.mkdirSync(d);
      const env: NodeJS.ProcessEnv = {};
      // onnxruntime suppresses its telemetry by itself when it sees a CI variable: leave none, so the test sees what a user's machine does.
      const ci = /^(CI|TF_BUILD|GITHUB_ACTIONS|GITLAB_CI|CIRCLECI|TRAVIS|JENKINS_URL|CODEBUILD_BUILD_ID|BUILDKITE|TEAMCITY_VERSION|APPVEYOR|BITBUCKET_BUILD_NUMBER|SYSTEM_TEAMFOUNDATIONCOLLECTIONURI|ORT_RUNNING_UNIT_TESTS|XDG_CACHE_HOME)$/;
      for (const [k, v] of Object.entries(process.env)) if (!ci.test(k)) env[k] = v;
      Object.assign(env, { HOME: home, TMPDIR: tmp, ORT_DISABLE_TELEMETRY: '0' }); // a user's 0 is overridden too
      const r = spawnSync(process.execPath, [
        path.join(ROOT, 'out/extension/cli.js'), 'run', '--quiet', '--ep', 'cpu',
        '--weights', path.join(ROOT, 'test/fixtures/d3_half_weights.pyth'), '--data', path.join(ROOT, 'test/fixtures/d3_half_weights_test_data.p'),
      ], { cwd, env, encoding: 'utf8', timeout: 100_000 });
      assert.ok(r.status === 0 || r.status === 1, `the run ends with a verdict: ${r.status} ${r.stderr}`);
      assert.match(r.stdout, /verdict:/);
      const left: string[] = [];
      const walk = (d: string) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
          const p = path.join(d, e.name);
          left.push(path.relative(base, p));
          if (e.isDirectory()) walk(p);
        }
      };
      walk(base);
      assert.deepEqual(left.sort(), ['cwd', 'home', 'tmp']);
      assert.ok(!fs.existsSync(path.join(os.tmpdir(), `mat-debug-${r.pid}.log`)), 'no mat-debug log in the system temp folder either');
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  });
});
