/**
 * "Your own model", end to end on the CPU: a HuggingFace folder holding d1_outlier's weights under
 * transformers' names runs against the official test data exactly as the .pyth does; runs without
 * test data agree with runs with it; a model without a classifier compares its final LayerNorm;
 * .npy clips (the model's input, or uint8 frames normalized as the official loader does).
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { LabError } from '../../extension/core/errors';
import { readTestData } from '../../extension/core/formats/testdata';
import { clipFromArray, loadModel, runModes, runPipeline } from '../../extension/core/pipeline';
import type { PipelineOptions, Report } from '../../extension/core/report';
import { formatTable } from '../../extension/core/table';
import { Tensor } from '../../extension/core/tensor';
import { main as cli } from '../../extension/cli';
import { makeHfFolder, testDataPickle } from './helpers/hf';

const FIX = path.join(__dirname, '..', '..', '..', 'test', 'fixtures');
const D1 = path.join(FIX, 'd1_outlier.pyth');
const D1_DATA = path.join(FIX, 'd1_outlier_test_data.p');
const LABELS = Array.from({ length: 400 }, (_, i) => `class ${i}`);
const tmpDirs: string[] = [];
const tmpDir = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-hfp-'));
  tmpDirs.push(d);
  return d;
};
after(() => tmpDirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
const errs = (r: Report) => r.blocks.map((b) => b.relL2.toExponential(2)).join(' ');
const maxBlock = (r: Report) => Math.max(...r.blocks.map((b) => b.relL2));

/** The same verdicts, errors within 10 %: what a run without test data promises. */
function assertAgree(self: Report, withData: Report): void {
  assert.equal(self.inputs.reference.kind, 'self');
  assert.equal(withData.inputs.reference.kind, 'test-data');
  assert.equal(self.diagnosis.firstBadBlock, withData.diagnosis.firstBadBlock);
  assert.deepEqual(self.blocks.map((b) => b.passed), withData.blocks.map((b) => b.passed));
  self.blocks.forEach((b, i) => {
    const w = withData.blocks[i].relL2;
    assert.ok(Math.abs(b.relL2 - w) <= 0.1 * w, `block ${i}: self ${b.relL2} vs test data ${w}`);
  });
}

let HF: string;
before(async function () {
  this.timeout(60000);
  HF = path.join(tmpDir(), 'hf_d1');
  await makeHfFolder(D1, HF, { format: 'safetensors', heads: 4, labels: LABELS });
});

describe('HuggingFace folder + test data: the same promises as the official checkpoint', function () {
  this.timeout(300000);
  it('FP32: every block and the probabilities within 1e-5; heads from config.json; the top-1 line names the class', async () => {
    const { report: r } = await runPipeline({ weights: HF, data: D1_DATA, ep: 'cpu', precision: 'fp32' });
    for (const b of r.blocks) assert.ok(b.relL2 <= 1e-5, `block ${b.index}: ${b.relL2}`);
    assert.ok(r.probs.relL2 <= 1e-5, `probs ${r.probs.relL2}`);
    assert.equal(r.config.heads, 4);
    assert.equal(r.config.headsSource, 'config');
    assert.deepEqual(r.config.headsTried, [], 'nothing detected: config.json says');
    assert.equal(r.inputs.model?.kind, 'huggingface');
    assert.equal(r.inputs.model?.architecture, 'TimesformerForVideoClassification');
    assert.equal(r.inputs.model?.head, true);
    assert.equal(r.inputs.weightsFormat, 'safetensors');
    assert.equal(r.probs.kind, 'probabilities');
    assert.equal(r.probs.top1Label, 'class 171');
    assert.equal(r.probs.refTop1Label, 'class 171');
    assert.match(formatTable(r), /^probs .* top-1 171 "class 171" \(ref 171 "class 171"\) agrees$/m);
    assert.match(formatTable(r), /— 4 heads \(config\)/);
    assert.ok(r.log.some((l) => /model: HuggingFace TimesformerForVideoClassification, 12 blocks, C=64/.test(l)), r.log.join('\n'));
  });
  it('FP16 plain breaks at block 4 (the block after the planted activation) and every LayerNorm fix passes', async () => {
    const reports = await runModes({ weights: HF, data: D1_DATA, ep: 'cpu', precision: 'fp16' }, ['plain', 'expose', 'fp32', 'fused', 'prescaled']);
    const [plain, ...fixes] = reports;
    console.log(`      hf d1 fp16 plain: ${errs(plain)}`);
    assert.equal(plain.diagnosis.firstBadBlock, 4, errs(plain));
    assert.ok(plain.blocks.slice(0, 4).every((b) => b.relL2 <= 5e-3), errs(plain));
    assert.ok(plain.blocks[4].relL2 >= 0.1 && plain.blocks[4].jump);
    assert.equal(plain.diagnosis.culprit?.layerNorm, 'blocks.4.temporal_norm1');
    assert.equal(plain.diagnosis.culprit?.channel, 21);
    for (const r of fixes) {
      assert.ok(maxBlock(r) <= 5e-3 && r.probs.relL2 <= 5e-3, `${r.run.layerNorm}: ${errs(r)} | ${r.probs.relL2}`);
      assert.equal(r.diagnosis.verdict, 'pass', r.run.layerNorm);
    }
  });
  it('a TensorRT engine-cache key comes from the folder\'s weight files (a folder is not a file to hash)', async () => {
    const { report: r } = await runPipeline({ weights: HF, data: D1_DATA, ep: 'tensorrt', trtCacheDir: tmpDir(), precision: 'fp32' });
    assert.equal(r.run.requestedEp, 'tensorrt');
    assert.ok(r.blocks.every((b) => b.relL2 <= 1e-5), errs(r));
  });
  for (const format of ['safetensors-sharded', 'bin'] as const) {
    it(`${format}: FP32 within 1e-5 of the official test data`, async () => {
      const dir = path.join(tmpDir(), format);
      await makeHfFolder(D1, dir, { format, heads: 4 });
      const { report: r } = await runPipeline({ weights: dir, data: D1_DATA, ep: 'cpu', precision: 'fp32' });
      assert.ok(maxBlock(r) <= 1e-5 && r.probs.relL2 <= 1e-5, errs(r));
    });
  }
});

describe('without test data: verdicts agree with the test-data run', function () {
  this.timeout(300000);
  for (const [name, weights] of [['official .pyth', () => D1], ['HuggingFace folder', () => HF]] as const) {
    it(`${name}: FP16 plain — same failing blocks, errors within 10 %, the same culprit`, async () => {
      const o: PipelineOptions = { weights: weights(), ep: 'cpu', precision: 'fp16', layerNorm: 'plain', heads: 4 };
      const withData = (await runPipeline({ ...o, data: D1_DATA })).report;
      const self = (await runPipeline({ ...o, input: D1_DATA })).report;
      assertAgree(self, withData);
      assert.equal(self.diagnosis.culprit?.layerNorm, 'blocks.4.temporal_norm1');
      assert.match(formatTable(self), /^reference: FP32 of this model \(CPU EP\); input: video of d1_outlier_test_data\.p$/m);
    });
  }
});

describe('a model without a classifier (HF TimesformerModel)', function () {
  this.timeout(300000);
  let BASE: string;
  let DATA: string;
  before(async () => {
    BASE = path.join(tmpDir(), 'hf_base');
    await makeHfFolder(D1, BASE, { format: 'safetensors', heads: 4, head: false });
    // its test data: the official blocks, and the final LayerNorm of the last block's class token
    // (last_hidden_state[:, 0]), computed here in float64 from the norm's weights
    const d = await readTestData(D1_DATA);
    const m = await loadModel(D1);
    const C = 64;
    const last = d.blocks[d.blocks.length - 1].data.subarray(0, C);
    const mean = last.reduce((s, v) => s + v, 0) / C;
    const v = last.reduce((s, x) => s + (x - mean) ** 2, 0) / C;
    const w = m.weights.get('norm.weight')!;
    const b = m.weights.get('norm.bias')!;
    const feats = Float32Array.from(last, (x, i) => ((x - mean) / Math.sqrt(v + 1e-6)) * w[i] + b[i]);
    DATA = path.join(tmpDir(), 'hf_base_test_data.p');
    fs.writeFileSync(DATA, testDataPickle({ shape: [...d.video.shape], data: d.video.data }, { shape: [1, C], data: feats }, d.blocks.map((x) => ({ shape: [...x.shape], data: x.data }))));
  });
  it('FP32: the blocks and the final LayerNorm output within 1e-5; the Report and the table say there are no probabilities', async () => {
    const { report: r } = await runPipeline({ weights: BASE, data: DATA, ep: 'cpu', precision: 'fp32' });
    assert.ok(maxBlock(r) <= 1e-5, errs(r));
    assert.equal(r.probs.kind, 'features');
    assert.ok(r.probs.relL2 <= 1e-5, `final LayerNorm ${r.probs.relL2}`);
    assert.equal(r.config.numClasses, 0);
    assert.equal(r.inputs.model?.head, false);
    assert.match(formatTable(r), /^final .*final LayerNorm, class token \(no classifier: no probabilities\)$/m);
    assert.doesNotMatch(formatTable(r), /top-1/);
    assert.match(r.diagnosis.sentence, /final LayerNorm output \(the model has no classifier\) rel err/);
  });
  it('FP16 plain still breaks at block 4, with and without test data alike', async () => {
    const withData = (await runPipeline({ weights: BASE, data: DATA, ep: 'cpu', precision: 'fp16' })).report;
    const self = (await runPipeline({ weights: BASE, input: DATA, ep: 'cpu', precision: 'fp16' })).report;
    assert.equal(withData.diagnosis.firstBadBlock, 4, errs(withData));
    assertAgree(self, withData);
  });
  it('test data with probabilities does not fit a model without a classifier', async () => {
    await assert.rejects(runPipeline({ weights: BASE, data: D1_DATA, ep: 'cpu' }), (e: unknown) =>
      e instanceof LabError && e.code === 'MISMATCH' && /a model without a classifier outputs its final LayerNorm's class token \(64\)/.test(e.message));
  });
});

describe('.npy clips', function () {
  this.timeout(300000);
  function npy(descr: string, shape: number[], data: Uint8Array): Buffer {
    let h = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}), }`;
    while ((10 + h.length + 1) % 64) h += ' ';
    h += '\n';
    const head = Buffer.alloc(10);
    head.write('\x93NUMPY', 0, 'latin1');
    head[6] = 1;
    head.writeUInt16LE(h.length, 8);
    return Buffer.concat([head, Buffer.from(h, 'latin1'), Buffer.from(data)]);
  }
  it('the model\'s input (B, 3, T, H, W) float32 gives exactly the run the test data\'s video gives', async () => {
    const d = await readTestData(D1_DATA);
    const clip = path.join(tmpDir(), 'clip.npy');
    fs.writeFileSync(clip, npy('<f4', [...d.video.shape], new Uint8Array(d.video.data.buffer, d.video.data.byteOffset, d.video.data.byteLength)));
    const o: PipelineOptions = { weights: D1, heads: 4, ep: 'cpu', precision: 'fp16' };
    const a = (await runPipeline({ ...o, input: clip })).report;
    const b = (await runPipeline({ ...o, input: D1_DATA })).report;
    assert.equal(a.inputs.input.kind, 'npy');
    assert.equal(a.inputs.input.label, 'clip.npy (the model\'s input, float32)');
    assert.deepEqual(a.blocks.map((x) => x.relL2), b.blocks.map((x) => x.relL2));
  });
  const frames = (T: number, H: number, W: number) => Uint8Array.from({ length: T * H * W * 3 }, (_, i) => (i * 37 + (i >> 5)) % 256);
  it('uint8 frames (T, H, W, 3) are normalized as the official loader does, in float32, and laid out (B, 3, T, H, W)', () => {
    const m = { weightsPath: 'w', base: { frames: 2, imageSize: 4 } } as Parameters<typeof clipFromArray>[1];
    const x = frames(2, 4, 4);
    const norm = { mean: [0.45, 0.45, 0.45], std: [0.225, 0.225, 0.225], source: 'default' };
    const { video, input } = clipFromArray(new Tensor('uint8', [2, 4, 4, 3], x), m, '/c/frames.npy', norm);
    assert.deepEqual([...video.shape], [1, 3, 2, 4, 4]);
    assert.equal(input.kind, 'frames');
    assert.deepEqual(input.normalization, norm);
    // frame 1, row 2, column 3, channel 2 -> video[0, 2, 1, 2, 3]; float32 step by step, as torch computes it
    const src = x[((1 * 4 + 2) * 4 + 3) * 3 + 2];
    const f = Math.fround;
    const want = f(f(f(src / 255) - f(0.45)) / f(0.225));
    assert.equal(video.data[((0 * 3 + 2) * 2 + 1) * 16 + 2 * 4 + 3], want);
    assert.ok(Math.abs(want - (src / 255 - 0.45) / 0.225) < 1e-6);
  });
  it('mean/std come from --mean/--std, else preprocessor_config.json, else the official default; the Report says which', async () => {
    const dir = path.join(tmpDir(), 'hf_pre');
    await makeHfFolder(D1, dir, { format: 'safetensors', heads: 4, preprocessor: { image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5], do_normalize: true } });
    const clip = path.join(tmpDir(), 'frames.npy');
    fs.writeFileSync(clip, npy('|u1', [8, 64, 64, 3], frames(8, 64, 64)));
    const hf = (await runPipeline({ weights: dir, input: clip, ep: 'cpu', precision: 'fp32' })).report;
    assert.deepEqual(hf.inputs.input.normalization, { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], source: 'preprocessor_config.json' });
    assert.match(hf.inputs.input.label, /^frames of frames\.npy \(\/255, mean 0\.5, 0\.5, 0\.5, std 0\.5, 0\.5, 0\.5: preprocessor_config\.json\)$/);
    const official = (await runPipeline({ weights: D1, input: clip, ep: 'cpu', precision: 'fp32', heads: 4 })).report;
    assert.equal(official.inputs.input.normalization?.source, 'default (mean 0.45, std 0.225, as the official loader)');
    const given = (await runPipeline({ weights: D1, input: clip, ep: 'cpu', precision: 'fp32', heads: 4, mean: [0.4, 0.5, 0.6], std: [0.2] })).report;
    assert.deepEqual(given.inputs.input.normalization, { mean: [0.4, 0.5, 0.6], std: [0.2, 0.2, 0.2], source: '--mean/--std' });
  });
  it('a clip of another size is refused, naming the clip, the sizes and what to do — never resized', async () => {
    const clip = path.join(tmpDir(), 'big.npy');
    fs.writeFileSync(clip, npy('|u1', [8, 72, 96, 3], new Uint8Array(8 * 72 * 96 * 3)));
    await assert.rejects(runPipeline({ weights: D1, input: clip, ep: 'cpu', heads: 4 }), (e: unknown) =>
      e instanceof LabError && e.code === 'MISMATCH' && e.file === clip && /72×96 pixels, the model takes 64×64 \(resize the short side and crop the centre first/.test(e.message));
    const floats = path.join(tmpDir(), 'floats.npy');
    fs.writeFileSync(floats, npy('<f4', [8, 64, 64, 3], new Uint8Array(8 * 64 * 64 * 3 * 4)));
    await assert.rejects(runPipeline({ weights: D1, input: floats, ep: 'cpu', heads: 4 }), (e: unknown) =>
      e instanceof LabError && e.code === 'BAD_CLIP' && /frames \(T, H, W, 3\) must be uint8 to be normalized here/.test(e.message));
  });
});

describe('CLI with a HuggingFace folder', function () {
  this.timeout(120000);
  const capture = async (argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const wo = process.stdout.write.bind(process.stdout);
    const we = process.stderr.write.bind(process.stderr);
    process.stdout.write = ((s: string) => (out.push(String(s)), true)) as typeof process.stdout.write;
    process.stderr.write = ((s: string) => (err.push(String(s)), true)) as typeof process.stderr.write;
    try {
      const code = await cli(argv);
      return { code, out: out.join(''), err: err.join('') };
    } finally {
      process.stdout.write = wo;
      process.stderr.write = we;
    }
  };
  it('run --weights <folder> --data <test data>: exit 0, the table names the class', async () => {
    const r = await capture(['run', '--weights', HF, '--data', D1_DATA, '--quiet']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /top-1 171 "class 171" \(ref 171 "class 171"\) agrees/);
    assert.match(r.out, /verdict: PASS/);
  });
  it('an unsupported attention type: exit 2, the message names config.json and the attention type', async () => {
    const dir = path.join(tmpDir(), 'space_only');
    await makeHfFolder(D1, dir, { format: 'safetensors', heads: 4, config: { attention_type: 'space_only' } });
    const r = await capture(['run', '--weights', dir, '--quiet']);
    assert.equal(r.code, 2);
    assert.match(r.err, /error \[UNSUPPORTED_MODEL\]: .*config\.json: attention_type 'space_only' is not supported/);
  });
  it('--mean/--std with --data is refused (the test data\'s video is already normalized)', async () => {
    const r = await capture(['run', '--weights', HF, '--data', D1_DATA, '--mean', '0.5']);
    assert.equal(r.code, 2);
    assert.match(r.err, /--mean\/--std normalize uint8 frames/);
  });
});
