/**
 * The host's command decisions that need no VS Code (extension/host/commands/): the one Restricted
 * Mode guard (issue 22.2), the Make Test Data checks and the script's header (22.7), and the Compare
 * picker's preselection and rows (22.8).
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { comparePair, runRows } from '../../extension/host/commands/compare-pick';
import { checkPython, copyScript, headerFor, missingText, type PythonCheck } from '../../extension/host/commands/make-test-data';
import { MANAGE_TRUST, RUN_ONCE, consent, consentMessage, type TrustUi } from '../../extension/host/commands/trust';
import type { StoredRun } from '../../extension/host/state';

const ROOT = path.join(__dirname, '..', '..', '..');
const SCRIPT = path.join(ROOT, 'scripts', 'make_test_data.py');

function ui(trusted: boolean, answer?: string): TrustUi & { asked: string[]; managed: number } {
  const u = {
    asked: [] as string[], managed: 0,
    isTrusted: () => trusted,
    ask: async (m: string, ...actions: string[]) => {
      u.asked.push(`${m} [${actions.join('|')}]`);
      return answer;
    },
    manage: () => void u.managed++,
  };
  return u;
}

describe('Restricted Mode: one guard for every command that reads the workspace or starts a program', function () {
  const what = { action: 'Export ONNX (For TensorRT)', reads: ['/ws/models/a.pyth', '/ws/models/a_test_data.p'], runs: 'ONNX Runtime in a separate process' };

  it('trusted: goes on without asking', async () => {
    const u = ui(true);
    assert.equal(await consent(u, what), true);
    assert.deepEqual(u.asked, []);
  });

  it('untrusted: asks, naming the command and the files, and goes on only on "Run Once"', async () => {
    for (const [answer, ok] of [[RUN_ONCE, true], [undefined, false], [MANAGE_TRUST, false]] as const) {
      const u = ui(false, answer);
      assert.equal(await consent(u, what), ok, `answer ${answer}`);
      assert.equal(u.asked.length, 1);
      assert.equal(u.asked[0], `TimeSformer: this workspace is in Restricted Mode. Export ONNX (For TensorRT) reads a.pyth and a_test_data.p and runs ONNX Runtime in a separate process on them. Run once anyway? [${RUN_ONCE}|${MANAGE_TRUST}]`);
      assert.equal(u.managed, answer === MANAGE_TRUST ? 1 : 0, 'Manage Workspace Trust opens the trust editor');
    }
  });

  it('one file is "it", not "them"; an HF folder is named by its folder', () => {
    assert.equal(consentMessage({ action: 'Check FP16 with TimeSformer Lab', reads: ['/ws/hf_base/'], runs: 'ONNX Runtime in a separate process' }),
      'TimeSformer: this workspace is in Restricted Mode. Check FP16 with TimeSformer Lab reads hf_base and runs ONNX Runtime in a separate process on it. Run once anyway?');
  });
});

describe('Make Test Data: python3 and torch looked for, the script copied with a header that works where it is', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-mtd-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('asks python3 itself: its version, and each module (torch is not installed on this machine)', async function () {
    if (spawnSync('python3', ['--version']).status !== 0) this.skip();
    const c = await checkPython();
    assert.equal(c.error, undefined);
    assert.match(c.version!, /^3\.\d+/);
    const hasTorch = spawnSync('python3', ['-c', 'import torch']).status === 0;
    assert.equal(c.modules.torch !== null, hasTorch);
    if (!hasTorch) assert.match(missingText(c)!, /torch .*not installed.*python3 -m pip install torch/);
  });

  it('a python3 that is not there, or does not answer in time, is said in words', async () => {
    const none = await checkPython(path.join(dir, 'no-python3'));
    assert.match(none.error!, /was not found on the PATH/);
    assert.match(missingText(none)!, /Install Python 3/);
    const slow = path.join(dir, 'slow-python');
    fs.writeFileSync(slow, '#!/bin/sh\nsleep 5\n', { mode: 0o755 });
    const s = await checkPython(slow, 300);
    assert.match(s.error!, /did not answer within 0.3 s/);
  });

  it('missingText names what is missing and the pip line; nothing when torch and numpy are there', () => {
    const c = (m: Record<string, string | null>): PythonCheck => ({ python: 'python3', version: '3.11.2', modules: { torch: null, numpy: null, transformers: null, yaml: null, ...m } });
    assert.equal(missingText(c({ torch: '2.3.0', numpy: '1.26' })), undefined);
    assert.equal(missingText(c({ numpy: '1.26', yaml: 'found' })), 'python3 3.11.2 is here, but torch is not installed for it. Install with: python3 -m pip install torch transformers (for a GPU build of torch, see pytorch.org)');
    assert.match(missingText(c({}))!, /torch and numpy are not installed/);
  });

  it('the copy\'s header runs the copy itself and the installed extension\'s CLI, and the script still parses', () => {
    const cli = path.join(dir, 'ext', 'dist', 'cli.js');
    const { path: copy, kept } = copyScript(SCRIPT, dir, { cli });
    assert.equal(kept, false);
    const text = fs.readFileSync(copy, 'utf8');
    const header = text.slice(0, text.indexOf('\nimport '));
    assert.ok(header.includes(`python3 ${copy} --weights MODEL --out test_data.p`), header);
    assert.ok(header.includes(`\`node ${cli} run --weights MODEL --data test_data.p\``), header);
    assert.ok(!/python3 scripts\/make_test_data\.py|`timesformer-lab/.test(header), 'no line that works only in the repository');
    assert.ok(header.includes(`from ${SCRIPT}`));
    if (spawnSync('python3', ['--version']).status === 0) {
      const r = spawnSync('python3', ['-c', 'import ast,sys; ast.parse(open(sys.argv[1]).read())', copy], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    }
  });

  it('a copy the user edited is kept; an earlier copy of ours is refreshed', () => {
    const cli = '/x/dist/cli.js';
    const first = copyScript(SCRIPT, dir, { cli });
    assert.equal(copyScript(SCRIPT, dir, { cli, check: { python: 'python3', version: '3.11.2', modules: {} } }).kept, false, 'only the note differs');
    fs.appendFileSync(first.path, '\n# my change\n');
    const again = copyScript(SCRIPT, dir, { cli });
    assert.equal(again.kept, true);
    assert.match(fs.readFileSync(first.path, 'utf8'), /# my change/);
  });

  it('a path with spaces is quoted in the header', () => {
    const h = headerFor(fs.readFileSync(SCRIPT, 'utf8'), { copy: '/my ws/make_test_data.py', cli: '/ext dir/dist/cli.js', from: SCRIPT });
    assert.ok(h.includes(`python3 '/my ws/make_test_data.py' --weights`));
    assert.ok(h.includes(`\`node '/ext dir/dist/cli.js' run`));
  });
});

describe('Compare picker: two runs of one model preselected, labels whole', function () {
  const run = (n: number, checkpoint: string, testData: string | null, depth = 12): StoredRun => ({
    id: `run-${n}`, n, inputs: { checkpoint, testData }, label: `#${n} ${path.basename(checkpoint)} + ${testData ? path.basename(testData) : 'own FP32'} · FP16 · LayerNorm plain · cpu · 05:0${n}:00`,
    short: `#${n} ${path.basename(checkpoint)} · FP16 plain · cpu`,
    report: { blocks: new Array(depth).fill({}), diagnosis: { verdict: n % 2 ? 'fail' : 'pass', firstBadBlock: n % 2 ? 4 : null } },
  } as unknown as StoredRun);

  it('prefers the newest two runs of the same checkpoint and test data over the two newest runs', () => {
    const runs = [run(1, '/a.pyth', '/a.p'), run(2, '/a.pyth', '/a.p'), run(3, '/b.pyth', null), run(4, '/a.pyth', '/a.p')];
    assert.deepEqual(comparePair(runs), ['run-2', 'run-4']);
  });

  it('then the same checkpoint with other test data; never a pair of different models', () => {
    assert.deepEqual(comparePair([run(1, '/a.pyth', null), run(2, '/b.pyth', null), run(3, '/a.pyth', '/a.p')]), ['run-1', 'run-3']);
    assert.deepEqual(comparePair([run(1, '/a.pyth', null), run(2, '/b.pyth', null)]), ['run-2']);
    assert.deepEqual(comparePair([]), []);
  });

  it('rows: newest first, the verdict leading the whole label (never cut), where it fails and its depth beside it', () => {
    const rows = runRows([run(1, '/a.pyth', '/a.p'), run(2, '/a.pyth', '/a.p')], ['run-1']);
    assert.deepEqual(rows.map((r) => [r.label, r.description, r.picked]), [
      ['#2 ✓ PASS · a.pyth + a.p · FP16 · LayerNorm plain · cpu · 05:02:00', '12 blocks', false],
      ['#1 ✗ FAIL · a.pyth + a.p · FP16 · LayerNorm plain · cpu · 05:01:00', 'fails at block 4 · 12 blocks', true],
    ]);
  });
});
