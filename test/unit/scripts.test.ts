/**
 * scripts/make_test_data.py and make_hf_fixtures.py run where PyTorch is (the GPU machine); what
 * they share with the lab is checked here with numpy alone: the same synthetic clip value for
 * value, test data the lab reads back, frames normalized to the same float32 values, the same
 * official → transformers names, the same cfg mean/std, the same metric.
 * Needs python3 with numpy (scripts/install-system-deps.sh installs Debian's python3-numpy).
 */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { diff } from '../../extension/core/compare/metrics';
import { readTestData } from '../../extension/core/formats/testdata';
import { readCheckpoint } from '../../extension/core/formats/torch';
import { officialConfig } from '../../extension/core/model/load';
import { mapHfWeights } from '../../extension/core/model/hf';
import { clipFromArray, syntheticVideo } from '../../extension/core/pipeline';
import { Tensor } from '../../extension/core/tensor';
import type { LazyTensor } from '../../extension/core/formats/torch';

const ROOT = path.join(__dirname, '..', '..', '..');
const SCRIPTS = path.join(ROOT, 'scripts');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-py-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The first Python with numpy and yaml: the one on PATH, else Debian's (python3-numpy, python3-yaml). */
const PYTHON = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import numpy, yaml'], { encoding: 'utf8' }).status === 0);

function py(code: string): string {
  const r = spawnSync(PYTHON!, ['-c', `import sys; sys.path.insert(0, ${JSON.stringify(SCRIPTS)})\nimport make_test_data as m\nimport numpy as np\n${code}`], { encoding: 'utf8', timeout: 120000 });
  if (r.status !== 0) throw new Error(`python3 failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}
const f32file = (p: string) => {
  const b = fs.readFileSync(p);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
};

describe('the Python scripts agree with the lab', function () {
  this.timeout(120000);
  before(function () {
    if (!PYTHON) {
      // CI installs them (scripts/install-system-deps.sh); a machine without them cannot run these checks
      console.log('      no python3 with numpy and yaml here (apt-get install python3-numpy python3-yaml): skipped');
      this.skip();
    }
  });
  it('both scripts compile', () => {
    const r = spawnSync(PYTHON!, ['-m', 'py_compile', path.join(SCRIPTS, 'make_test_data.py'), path.join(SCRIPTS, 'fixtures', 'make_hf_fixtures.py')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });
  for (const [shape, seed] of [[[1, 3, 8, 64, 64], 0], [[1, 3, 4, 32, 32], 7], [[2, 3, 2, 16, 16], 123456789]] as [number[], number][]) {
    it(`synthetic clip (${shape.join('×')}, seed ${seed}): the same float32 values as the lab's --input synthetic:${seed}`, () => {
      const out = path.join(tmp, `syn${seed}.bin`);
      py(`m.synthetic_video(${JSON.stringify(shape)}, ${seed}).tofile(${JSON.stringify(out)})`);
      const a = syntheticVideo(shape, seed).data;
      const b = f32file(out);
      assert.equal(b.length, a.length);
      let mismatches = 0;
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) mismatches++;
      assert.equal(mismatches, 0);
    });
  }
  it('write_test_data writes the seed\'s format (protocol 4): the lab reads the same video, probabilities and blocks', async () => {
    const out = path.join(tmp, 'td.p');
    py(`
rng = np.random.default_rng(0)
video = rng.standard_normal((1, 3, 2, 32, 32)).astype(np.float32)
probs = rng.random((1, 10)).astype(np.float32)
blocks = [rng.standard_normal((1, 9, 16)).astype(np.float32) for _ in range(3)]
m.write_test_data(${JSON.stringify(out)}, video, probs, blocks)
np.concatenate([video.ravel(), probs.ravel()] + [b.ravel() for b in blocks]).tofile(${JSON.stringify(out + '.bin')})
v2, p2, b2 = m.read_test_data(${JSON.stringify(out)})
assert (v2 == video).all() and (p2 == probs).all() and all((x == y).all() for x, y in zip(b2, blocks))
`);
    assert.equal(fs.readFileSync(out)[1], 4, 'pickle protocol 4');
    const d = await readTestData(out);
    const all = f32file(out + '.bin');
    assert.deepEqual([...d.video.shape], [1, 3, 2, 32, 32]);
    assert.deepEqual([...d.probs.shape], [1, 10]);
    assert.equal(d.blocks.length, 3);
    const got = Float32Array.from([...d.video.data, ...d.probs.data, ...d.blocks.flatMap((b) => [...b.data])]);
    assert.deepEqual(got, all);
  });
  it('uint8 frames: the same normalized float32 values, in the same (B, 3, T, H, W) layout', () => {
    const frames = path.join(tmp, 'frames.bin');
    const out = path.join(tmp, 'norm.bin');
    py(`
f = np.random.default_rng(1).integers(0, 256, size=(4, 8, 8, 3), dtype=np.uint8)
f.tofile(${JSON.stringify(frames)})
v, kind = m.clip_from_array(f, 4, 8, {'mean': [0.43, 0.45, 0.47], 'std': [0.22, 0.225, 0.23]}, 'f.npy')
assert kind == 'frames' and v.shape == (1, 3, 4, 8, 8) and v.dtype == np.float32
v.tofile(${JSON.stringify(out)})
`);
    const u8 = new Uint8Array(fs.readFileSync(frames));
    const m = { weightsPath: 'w', base: { frames: 4, imageSize: 8 } } as Parameters<typeof clipFromArray>[1];
    const { video } = clipFromArray(new Tensor('uint8', [4, 8, 8, 3], u8), m, 'f.npy', { mean: [0.43, 0.45, 0.47], std: [0.22, 0.225, 0.23], source: 't' });
    assert.deepEqual(video.data, f32file(out));
  });
  it('official → transformers names: the lab maps the script\'s names back to every official weight of d1_outlier', async () => {
    const ckpt = await readCheckpoint(path.join(ROOT, 'test', 'fixtures', 'd1_outlier.pyth'));
    const keys = [...ckpt.stateDict.keys()];
    await ckpt.close();
    const out = path.join(tmp, 'names.json');
    py(`import json\njson.dump({k: m.official_to_hf_key(k) for k in ${JSON.stringify(keys)}}, open(${JSON.stringify(out)}, 'w'))`);
    const names = JSON.parse(fs.readFileSync(out, 'utf8')) as Record<string, string>;
    const fake = (n: string): LazyTensor => ({ name: n, dtype: 'float32', shape: [1], numel: 1, load: async () => { throw new Error('not read'); } });
    const sd = new Map(Object.values(names).map((n) => [n, fake(n)]));
    const { entries, head } = mapHfWeights(sd, 'x', { qkvBias: true });
    assert.ok(head);
    for (const [official, hf] of Object.entries(names)) {
      assert.equal((entries.get(official.replace(/^model\./, '')) as LazyTensor | undefined)?.name, hf, `${official} -> ${hf} -> back`);
    }
    assert.equal(entries.size, keys.length);
    assert.equal(names['model.blocks.3.mlp.fc2.bias'], 'timesformer.encoder.layer.3.output.dense.bias');
    assert.equal(names['model.head.weight'], 'classifier.weight');
  });
  it('the official cfg: the same DATA.MEAN/STD, and the same refusal of another attention type', () => {
    const yaml = 'DATA:\n  MEAN:\n  - 0.4\n  - 0.5\n  - 0.6\n  STD: [0.2, 0.25, 0.3]\nTIMESFORMER:\n  ATTENTION_TYPE: divided_space_time\n';
    const out = JSON.parse(py(`import json\nprint(json.dumps(m.official_cfg_normalization(${JSON.stringify(yaml)})))`));
    assert.deepEqual(out, officialConfig(yaml, 'w').normalization);
    const r = spawnSync(PYTHON!, ['-c', `import sys; sys.path.insert(0, ${JSON.stringify(SCRIPTS)}); import make_test_data as m; m.official_cfg_normalization('TIMESFORMER:\\n  ATTENTION_TYPE: space_only\\n')`], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /ATTENTION_TYPE 'space_only': only divided_space_time is supported/);
  });
  it('rel_l2: the lab\'s metric (patch tokens, class token dropped)', () => {
    const out = path.join(tmp, 'metric.bin');
    const res = JSON.parse(py(`
rng = np.random.default_rng(2)
ref = rng.standard_normal((1, 9, 16)).astype(np.float32)
out = (ref + 0.01 * rng.standard_normal((1, 9, 16))).astype(np.float32)
out[0, 0, :] += 100  # the class token: dropped
np.concatenate([out.ravel(), ref.ravel()]).tofile(${JSON.stringify(out)})
print(m.rel_l2(out, ref))`));
    const both = f32file(out);
    const e = diff(both.subarray(0, 144), both.subarray(144), 16).relL2;
    assert.ok(Math.abs(res - e) <= 1e-6 * e, `${res} vs ${e}`);
  });
});
