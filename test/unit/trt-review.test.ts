/**
 * The TensorRT review's defects (findings/trt.md), each read back by its real reader: the
 * --loadInputs pair as trtexec's splitNameAndValue parses it (ported into test/fixtures/trt/
 * trtexec-spec.js, which the stand-in trtexec uses), a model without a classifier through the bundle,
 * the scripts (stand-in) and the importer, an import without its clip, a re-export over a bundle with
 * outputs, and a failed export.
 */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { LabError } from '../../extension/core/errors';
import { prepare, type Prepared } from '../../extension/core/pipeline';
import { readManifest, writeBundle } from '../../extension/core/trt/bundle';
import { inputNotLoaded, loadInputsSpec, probeTrtexec, type TrtexecInfo } from '../../extension/core/trt/trtexec';
import { trtexecRun } from '../../extension/core/trt/trtexec-run';
import { parseJsonFile, readPolygraphyOutputs } from '../../extension/core/trt/outputs';
import { cli } from './helpers/cli';
import { D, FIX, STANDIN, W, withEnv } from './helpers/trtexec';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const spec = require(path.join(FIX, 'trt', 'trtexec-spec.js')) as {
  parseSpecList(list: string): Map<string, string>;
  findPlausible(m: Map<string, string>, name: string): string | undefined;
};

const HB = path.join(FIX, 'hf_base');
const HBD = path.join(FIX, 'hf_base_test_data.p');

describe('trt review: --loadInputs as trtexec parses it (finding 1)', function () {
  this.timeout(180000);
  let tmp: string;
  let p: Prepared;
  let v10: TrtexecInfo;
  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-trt-review-'));
    v10 = await withEnv({ STANDIN_TRT_VERSION: '10' }, () => probeTrtexec(STANDIN));
    p = await prepare({ weights: W, data: D });
  });
  after(() => {
    p?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('a Windows path: unquoted, trtexec names the input "video:C" (random inputs); our quoted pair gives the name and the whole path', () => {
    const win = 'C:\\Users\\me\\AppData\\Local\\Temp\\tsl-trtexec-1\\inputs.bin';
    assert.deepEqual([...spec.parseSpecList(`video:${win}`)], [['video:C', '\\Users\\me\\AppData\\Local\\Temp\\tsl-trtexec-1\\inputs.bin']]);
    assert.equal(spec.findPlausible(spec.parseSpecList(`video:${win}`), 'video'), undefined);
    assert.equal(loadInputsSpec('video', win), `'video':${win}`);
    assert.deepEqual([...spec.parseSpecList(loadInputsSpec('video', win))], [['video', win]]);
    assert.deepEqual([...spec.parseSpecList(loadInputsSpec('Input:0', 'inputs.bin'))], [['Input:0', 'inputs.bin']]);
    for (const [n, f] of [['video', "C:\\O'Brien\\inputs.bin"], ['video', 'a,b.bin'], ["vid'eo", 'inputs.bin']]) {
      assert.throws(() => loadInputsSpec(n, f), (e: unknown) => e instanceof LabError && e.code === 'BAD_OPTION' && /cannot be passed/.test(e.message));
    }
  });

  it('the run\'s log must say trtexec loaded the clip: "Using random values for input video" (the stand-in, fed an unquoted pair with a drive-like ":") is an error', () => {
    const odd = path.join(tmp, 'C:');
    fs.mkdirSync(odd, { recursive: true });
    fs.writeFileSync(path.join(odd, 'inputs.bin'), Buffer.from(p.video.data.buffer, p.video.data.byteOffset, p.video.data.byteLength));
    const onnx = path.join(tmp, 'm.onnx');
    return (async () => {
      const { exportForTensorRt } = await import('../../extension/core/export');
      (await exportForTensorRt(p, { form: 'decomposed' })).write(onnx);
      const runWith = (pair: string) => spawnSync('node', [STANDIN, `--onnx=${onnx}`, `--loadInputs=${pair}`], { encoding: 'utf8' }).stdout.split('\n');
      const unquoted = runWith(`video:${path.join(odd, 'inputs.bin')}`);
      assert.match(inputNotLoaded(unquoted, 'video') ?? '', /ran on random values, not the clip: its log says "Using random values for input video"/);
      assert.equal(inputNotLoaded(runWith(loadInputsSpec('video', path.join(odd, 'inputs.bin'))), 'video'), undefined);
      assert.match(inputNotLoaded(['[I] Starting inference'], 'video') ?? '', /never says "Using values loaded from/);
    })();
  });

  it('trt-run with a temporary folder whose path has a ":" (as C:\\ on Windows): trtexec loads the clip (quoted name, relative file) and the run passes', async () => {
    const tdir = path.join(tmp, 'D:', 'temp');
    fs.mkdirSync(tdir, { recursive: true });
    const argLog = path.join(tmp, 'args.jsonl');
    const r = await withEnv({ TMPDIR: tdir, STANDIN_LOG: argLog }, () => trtexecRun(p, { trtexec: v10, cacheDir: path.join(tmp, 'cache'), precision: 'fp32', layerNorm: 'plain' }));
    const args = fs.readFileSync(argLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as string[]).at(-1)!;
    assert.ok(args.includes("--loadInputs='video':inputs.bin"), args.join(' '));
    assert.equal(r.report.diagnosis.verdict, 'pass');
    assert.ok(r.report.blocks.every((b) => b.relL2 < 1e-4), 'the engine ran on the clip');
  });
});

describe('trt review: bundles (findings 2-5)', function () {
  this.timeout(300000);
  let tmp: string;
  let bin: string;
  const env = (extra: Record<string, string> = {}) => ({ ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH}`, ...extra });
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-trt-review-b-'));
    bin = path.join(tmp, 'bin');
    fs.mkdirSync(bin);
    fs.symlinkSync(STANDIN, path.join(bin, 'trtexec'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('a model without a classifier (HF TimesformerModel): the bundle\'s final output is features, the scripts check it, import compares it', async () => {
    const dir = path.join(tmp, 'hb');
    const r = await cli(['export-trt', '--weights', HB, '--data', HBD, '--out', dir, '--quiet']);
    assert.equal(r.code, 0, r.err);
    const m = readManifest(dir)!;
    assert.deepEqual(Object.keys(m.outputs.deployed), ['features']);
    assert.ok(fs.existsSync(path.join(dir, 'reference', 'features.bin')) && !fs.existsSync(path.join(dir, 'reference', 'probs.bin')));
    const log = path.join(tmp, 'hb11.log');
    // TensorRT 11: --loadRefOutputs names features (the stand-in refuses a name that is not an output)
    const s = spawnSync('bash', [path.join(dir, 'run_trtexec.sh')], { env: env({ STANDIN_TRT_VERSION: '11', STANDIN_LOG: log }), encoding: 'utf8' });
    assert.equal(s.status, 0, s.stderr);
    const calls = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as string[]).filter((a) => !a.includes('--help'));
    assert.ok(calls[0].includes('--loadRefOutputs=features:reference/features.bin'), calls[0].join(' '));
    const imp = await cli(['import', '--weights', HB, '--quiet', path.join(dir, 'trt_fp32.json'), path.join(dir, 'trt_fp32_marked.json')]);
    assert.equal(imp.code, 0, imp.err + imp.out);
    assert.match(imp.out, /^TensorRT \(trtexec\) FP32 · imported from trt_fp32\.json: features rel L2 \d\.\d\de-\d+ \(max \|diff\| [^)]*\): PASS/m);
    assert.match(imp.out, /^observer effect: trt_fp32\.json vs trt_fp32_marked\.json: features differ/m);
  });

  it('import without --data/--input and no bundle.json beside the outputs refuses (BAD_OPTION), never a synthetic clip', async () => {
    const dir = path.join(tmp, 'hb');
    const lone = path.join(tmp, 'lone');
    fs.mkdirSync(lone);
    fs.copyFileSync(path.join(dir, 'trt_fp32.json'), path.join(lone, 'trt_fp32.json'));
    const r = await cli(['import', '--weights', HB, '--quiet', path.join(lone, 'trt_fp32.json')]);
    assert.equal(r.code, 2, r.out);
    assert.match(r.err, /BAD_OPTION.*give --data or --input: the clip the engine ran on \(no bundle\.json beside/);
    const ok = await cli(['import', '--weights', HB, '--data', HBD, '--quiet', path.join(lone, 'trt_fp32.json')]);
    assert.equal(ok.code, 0, ok.err + ok.out);
  });

  it('a re-export over a bundle with outputs moves the old one aside whole; old outputs copied back are refused by their log\'s bundle id, or by their age', async () => {
    const dir = path.join(tmp, 'd1');
    assert.equal((await cli(['export-trt', '--weights', W, '--data', D, '--out', dir, '--quiet'])).code, 0);
    assert.equal(spawnSync('bash', [path.join(dir, 'run_trtexec.sh')], { env: env({ STANDIN_TRT_VERSION: '11' }), encoding: 'utf8' }).status, 0);
    const first = readManifest(dir)!;
    assert.match(fs.readFileSync(path.join(dir, 'trt_fp32_marked.log'), 'utf8'), new RegExp(`^# bundle ${first.id}\n`));
    const again = await cli(['export-trt', '--weights', W, '--input', 'synthetic:7', '--out', dir]);
    assert.equal(again.code, 0, again.err);
    const aside = fs.readdirSync(tmp).filter((n) => n.startsWith('d1.previous-'));
    assert.equal(aside.length, 1);
    assert.match(again.out, new RegExp(`moved to .*${aside[0]}`));
    assert.equal(readManifest(path.join(tmp, aside[0]))!.id, first.id);
    assert.ok(fs.existsSync(path.join(tmp, aside[0], 'trt_fp32_marked.json')), 'the old outputs stay beside their bundle');
    assert.deepEqual(fs.readdirSync(dir).filter((n) => n.startsWith('trt_')), [], 'the new bundle has no old outputs');
    // the old bundle, imported where it now is, still passes
    const old = await cli(['import', '--weights', W, '--quiet', path.join(tmp, aside[0], 'trt_fp32_marked.json')]);
    assert.equal(old.code, 0, old.err + old.out);
    // copied back (with its log): refused by the id in the log
    for (const f of ['trt_fp32_marked.json', 'trt_fp32_marked.log']) fs.copyFileSync(path.join(tmp, aside[0], f), path.join(dir, f));
    const stale = await cli(['import', '--weights', W, '--quiet', path.join(dir, 'trt_fp32_marked.json')]);
    assert.equal(stale.code, 2);
    assert.match(stale.err, /MISMATCH.*trt_fp32_marked\.json: its log trt_fp32_marked\.log names bundle [0-9a-f]{16}, this folder's bundle\.json is [0-9a-f]{16}: outputs of an earlier export/);
    // without its log: by its time, older than the export
    fs.rmSync(path.join(dir, 'trt_fp32_marked.log'));
    const t = new Date(Date.parse(readManifest(dir)!.exportedAt!) - 60_000);
    fs.utimesSync(path.join(dir, 'trt_fp32_marked.json'), t, t);
    const aged = await cli(['import', '--weights', W, '--quiet', path.join(dir, 'trt_fp32_marked.json')]);
    assert.equal(aged.code, 2);
    assert.match(aged.err, /MISMATCH.*trt_fp32_marked\.json: written .*, before this folder's bundle was exported/);
  });

  it('a failed export leaves the previous bundle as it was (no mixed files, no partial folder); a bundle folder that cannot be written is a BAD_OPTION naming it', async () => {
    const dir = path.join(tmp, 'fail');
    assert.equal((await cli(['export-trt', '--weights', W, '--data', D, '--out', dir, '--quiet'])).code, 0);
    const before = Object.fromEntries(fs.readdirSync(dir).filter((n) => n !== 'reference').map((n) => [n, fs.readFileSync(path.join(dir, n)).toString('base64')]));
    const q = await prepare({ weights: W, input: 'synthetic:3' });
    try {
      q.reference = async () => {
        throw new LabError('BAD_TEST_DATA', 'stand-in failure of the reference');
      };
      await assert.rejects(writeBundle(q, dir), /stand-in failure/);
    } finally {
      q.close();
    }
    const after = Object.fromEntries(fs.readdirSync(dir).filter((n) => n !== 'reference').map((n) => [n, fs.readFileSync(path.join(dir, n)).toString('base64')]));
    assert.deepEqual(Object.keys(after), Object.keys(before));
    for (const n of Object.keys(before)) assert.ok(after[n] === before[n], `${n} unchanged`);
    assert.deepEqual(fs.readdirSync(tmp).filter((n) => n.includes('.partial-')), []);
    // a folder of other files is not replaced
    const other = path.join(tmp, 'other');
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, 'notes.txt'), 'mine');
    const r = await cli(['export-trt', '--weights', W, '--data', D, '--out', other, '--quiet']);
    assert.equal(r.code, 2);
    assert.match(r.err, /BAD_OPTION.*other: holds files \(notes\.txt\) and no bundle\.json/);
    // a path under a file: the OS error as BAD_OPTION naming the folder, not INTERNAL
    const under = path.join(tmp, 'other', 'notes.txt', 'b');
    const u = await cli(['export-trt', '--weights', W, '--data', D, '--out', under, '--quiet']);
    assert.equal(u.code, 2);
    assert.match(u.err, /BAD_OPTION.*notes\.txt.*cannot write the bundle here \(ENOTDIR: not a directory/);
  });
});

describe('trt review: errors that name their cause and place (findings 8, 9, 11, 12)', function () {
  this.timeout(180000);
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-trt-review-e-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('a Polygraphy array of a dtype we do not read says which, whole (the cause is not cut at its first ": ")', () => {
    const j = JSON.parse(fs.readFileSync(path.join(FIX, 'trt', 'polygraphy_onnxrt_fp32.json'), 'utf8'));
    const values = j.lst[0][1][0].outputs.probs.values;
    const npy = Buffer.from(values.array, 'base64');
    const hl = npy.readUInt16LE(8);
    const header = npy.subarray(10, 10 + hl).toString('latin1').replace("'<f4'", "'<c8'");
    values.array = Buffer.concat([npy.subarray(0, 10), Buffer.from(header, 'latin1'), npy.subarray(10 + hl), npy.subarray(10 + hl)]).toString('base64');
    const f = path.join(tmp, 'polygraphy_onnxrt_fp32.json');
    fs.writeFileSync(f, JSON.stringify(j));
    assert.throws(() => readPolygraphyOutputs(f, 1 << 30), (e: unknown) => e instanceof LabError && e.code === 'BAD_OUTPUTS' &&
      e.message === `${f}: output 'probs': numpy dtype 'c8' is not supported (supported: f4, f2, f8, i8, i4, i2, i1, u1, b1)`);
  });

  it('a JSON syntax error names its byte, not the start of its 4 MiB chunk', () => {
    const f = path.join(tmp, 'bad.json');
    fs.writeFileSync(f, '[1, 2, 3, , 4]');
    assert.throws(() => parseJsonFile(f, 1 << 20, 'x'), /bad\.json: not valid JSON at byte ~10: unexpected ','/);
    fs.writeFileSync(f, `[${'1, '.repeat(2_000_000)}1 2]`); // past the first chunk
    assert.throws(() => parseJsonFile(f, 1 << 24, 'x'), /at byte ~6000003: /);
  });

  it('trt-run --trt-cache naming a file is a BAD_OPTION naming it, before any export', async () => {
    const file = path.join(tmp, 'a-file');
    fs.writeFileSync(file, 'x');
    const r = await cli(['trt-run', '--weights', W, '--data', D, '--trtexec', STANDIN, '--trt-cache', file, '--precision', 'fp32']);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, new RegExp(`BAD_OPTION.*${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: --trt-cache names a file`));
    assert.doesNotMatch(r.err, /exporting|trtexec \(TensorRT/, 'refused before the work');
  });

  it('TensorRT 11: an accuracy check that fails still writes the outputs; run_trtexec.sh says so, and they import', async () => {
    const bin = path.join(tmp, 'bin');
    fs.mkdirSync(bin);
    fs.symlinkSync(STANDIN, path.join(bin, 'trtexec'));
    const dir = path.join(tmp, 'b');
    assert.equal((await cli(['export-trt', '--weights', W, '--data', D, '--out', dir, '--quiet'])).code, 0);
    assert.match(fs.readFileSync(path.join(dir, 'README.txt'), 'utf8'), /--loadRefOutputs=probs:reference\/probs\.bin\n\s+--accuracyAlgorithm=cos --accuracyThreshold=\d/);
    const s = spawnSync('bash', [path.join(dir, 'run_trtexec.sh')], { env: { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH}`, STANDIN_TRT_VERSION: '11', STANDIN_ACCURACY: 'fail' }, encoding: 'utf8' });
    assert.equal(s.status, 1);
    assert.match(s.stderr, /trt_fp32: trtexec's accuracy check against reference\/ failed \(cos threshold [\d.e-]+\); its outputs are in trt_fp32\.json: import them/);
    assert.doesNotMatch(s.stderr, /trt_fp32: trtexec failed/);
    const imp = await cli(['import', '--weights', W, '--quiet', path.join(dir, 'trt_fp32_marked.json')]);
    assert.equal(imp.code, 0, imp.err + imp.out);
  });
});
