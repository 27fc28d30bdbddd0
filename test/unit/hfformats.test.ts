/**
 * The readers behind "your own model": safetensors (lazy, by byte range, nothing in the header
 * trusted), .npy clips, HuggingFace folders (single file, sharded, pytorch_model.bin) and the
 * transformers → official key mapping.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { LabError } from '../../extension/core/errors';
import { openSafetensors, scanHeader } from '../../extension/core/formats/safetensors';
import { readNpy } from '../../extension/core/formats/npy';
import { readCheckpoint } from '../../extension/core/formats/torch';
import { openModelSource, officialConfig } from '../../extension/core/model/load';
import { mapHfWeights, readHfConfig } from '../../extension/core/model/hf';
import { loadModel } from '../../extension/core/pipeline';
import { makeHfFolder, safetensorsBytes, type StTensor } from './helpers/hf';

const FIX = path.join(__dirname, '..', '..', '..', 'test', 'fixtures');
const D1 = path.join(FIX, 'd1_outlier.pyth');
const tmpDirs: string[] = [];
const tmpDir = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-hf-'));
  tmpDirs.push(d);
  return d;
};
after(() => tmpDirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

const f32 = (v: number[]) => new Uint8Array(Float32Array.from(v).buffer);
async function expectLabError(p: Promise<unknown>, code: string, file: string, re?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof LabError, `not a LabError: ${e instanceof Error ? e.stack : String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.ok(e.message.includes(file), `the message names ${file}: ${e.message}`);
    if (re) assert.match(e.message, re);
    return true;
  });
}
function write(name: string, bytes: Uint8Array): string {
  const p = path.join(tmpDir(), name);
  fs.writeFileSync(p, bytes);
  return p;
}

describe('safetensors: read lazily by byte range, nothing in the header trusted', function () {
  const tensors: StTensor[] = [
    { name: 'a', dtype: 'F32', shape: [2, 3], data: f32([1, 2, 3, 4, 5, 6]) },
    { name: 'h', dtype: 'F16', shape: [2], data: new Uint8Array(new Uint16Array([0x3c00, 0xc000]).buffer) },
    { name: 'b', dtype: 'BF16', shape: [1], data: new Uint8Array(new Uint16Array([0x4049]).buffer) },
  ];
  it('reads every tensor with its dtype and shape, and the metadata', async () => {
    const f = await openSafetensors(write('m.safetensors', safetensorsBytes(tensors, { format: 'pt' })));
    try {
      assert.deepEqual(f.metadata, { format: 'pt' });
      assert.deepEqual([...f.tensors.keys()], ['a', 'h', 'b']);
      const a = await f.tensors.get('a')!.load();
      assert.deepEqual(a.shape, [2, 3]);
      assert.deepEqual([...a.toFloat32()], [1, 2, 3, 4, 5, 6]);
      assert.deepEqual([...(await f.tensors.get('h')!.load()).toFloat32()], [1, -2]);
      assert.equal((await f.tensors.get('b')!.load()).toFloat32()[0], 3.140625);
    } finally {
      await f.close();
    }
  });
  it('opens a 1 GiB file by reading its header only, and reads one small tensor from its end', async () => {
    const big = 1 << 30;
    const body = safetensorsBytes([{ name: 'w', dtype: 'F32', shape: [big / 4 - 2], data: new Uint8Array(0) }, { name: 'tail', dtype: 'F32', shape: [2], data: f32([7, 8]) }], undefined, {
      header: (h) => ({ ...h, w: { dtype: 'F32', shape: [big / 4 - 2], data_offsets: [0, big - 8] }, tail: { dtype: 'F32', shape: [2], data_offsets: [big - 8, big] } }),
    });
    const headerLen = 8 + Number(body.readBigUInt64LE(0));
    const p = path.join(tmpDir(), 'big.safetensors');
    const fd = fs.openSync(p, 'w');
    fs.writeSync(fd, body.subarray(0, headerLen), 0, headerLen, 0);
    fs.writeSync(fd, Buffer.from(f32([7, 8])), 0, 8, headerLen + big - 8);
    fs.closeSync(fd); // sparse: the 1 GiB in between is never written nor read
    const rss0 = process.memoryUsage().rss;
    const f = await openSafetensors(p);
    try {
      assert.deepEqual([...(await f.tensors.get('tail')!.load()).toFloat32()], [7, 8]);
      assert.ok(process.memoryUsage().rss - rss0 < 64 << 20, 'no gigabyte was read');
      assert.equal(f.tensors.get('w')!.numel, big / 4 - 2);
    } finally {
      await f.close();
    }
  });
  const hostile: [string, (b: Buffer) => Buffer, RegExp][] = [
    ['a header length past the end of the file', (b) => { const c = Buffer.from(b); c.writeBigUInt64LE(BigInt(b.length)); return c; }, /header claims \d+ bytes but the file holds/],
    ['a header length of 2^63', (b) => { const c = Buffer.from(b); c.writeBigUInt64LE(1n << 63n); return c; }, /header claims/],
    ['a file of 5 bytes', (b) => b.subarray(0, 5), /shorter than the 8-byte header length/],
    ['a header that is not JSON', (b) => { const c = Buffer.from(b); c.write('{"a":[', 8); return c; }, /not valid JSON/],
    ['a tensor reaching past the data', (b) => b.subarray(0, b.length - 2), /reaches byte \d+ of the data, but the file holds/],
  ];
  for (const [what, mutate, re] of hostile) {
    it(`refuses ${what} with a typed error naming the file`, async () => {
      const p = write('bad.safetensors', mutate(safetensorsBytes(tensors)));
      await expectLabError(openSafetensors(p), 'BAD_WEIGHTS', p, re);
    });
  }
  const headers: [string, (h: Record<string, unknown>) => unknown, RegExp][] = [
    ['a shape that disagrees with the byte span', (h) => ({ ...h, a: { dtype: 'F32', shape: [2, 4], data_offsets: [0, 24] } }), /needs 32 bytes, data_offsets span 24/],
    ['overlapping tensors', (h) => ({ ...h, h: { dtype: 'F16', shape: [2], data_offsets: [20, 24] } }), /overlap/],
    ['a negative dimension', (h) => ({ ...h, a: { dtype: 'F32', shape: [-2, 3], data_offsets: [0, 24] } }), /not a list of non-negative integers/],
    ['an unknown dtype', (h) => ({ ...h, a: { dtype: 'Q4', shape: [2, 3], data_offsets: [0, 24] } }), /unknown dtype 'Q4'/],
    ['offsets that end before they begin', (h) => ({ ...h, a: { dtype: 'F32', shape: [0], data_offsets: [24, 0] } }), /end before they begin/],
    ['a list instead of a dict', () => [1, 2], /the header does not start with '\{'/],
  ];
  for (const [what, header, re] of headers) {
    it(`refuses ${what}`, async () => {
      const p = write('bad.safetensors', safetensorsBytes(tensors, undefined, { header }));
      await expectLabError(openSafetensors(p), 'BAD_WEIGHTS', p, re);
    });
  }
  it('an fp8 tensor opens (its bounds checked) and fails only when read, naming the dtype', async () => {
    const p = write('fp8.safetensors', safetensorsBytes([{ name: 'q', dtype: 'F8_E4M3', shape: [4], data: new Uint8Array(4) }]));
    const f = await openSafetensors(p);
    try {
      await expectLabError(f.tensors.get('q')!.load(), 'UNSUPPORTED_DTYPE', p, /tensor q has dtype F8_E4M3/);
    } finally {
      await f.close();
    }
  });
});

describe('safetensors header scanning (issue 20): entry by entry, as strict as JSON.parse', function () {
  const scan = (text: string): Record<string, unknown> | string => {
    const out: Record<string, unknown> = {};
    try {
      scanHeader(text, (m) => {
        throw new Error(m);
      }, (k, v) => {
        if (Object.prototype.hasOwnProperty.call(out, k)) throw new Error(`twice: ${k}`);
        Object.defineProperty(out, k, { value: v, enumerable: true });
      });
      return out;
    } catch (e) {
      return 'refused';
    }
  };
  const parse = (text: string): Record<string, unknown> | string => {
    try {
      const v = JSON.parse(text);
      return typeof v === 'object' && v !== null && !Array.isArray(v) ? v : 'refused';
    } catch {
      return 'refused';
    }
  };
  const cases = [
    '{}', ' {} ', '{"a":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]}}   ', '{"__metadata__":{"format":"pt","x":"}{,\\""},"b\\u0041":{"s":"[]"}}',
    '{"a":1,}', '{"a":1}x', '{"a" 1}', '{a:1}', '{"a":[1,2}', '{"a":"\u0001"}', '{"a":1 "b":2}', '[1,2]', '{"a":{"b":[{"c":"]"}]}, "d" : -1.5e3 }', '{"a":', '{"a":"unterminated}',
    '{"k":{}}\n', '{"\\"quoted\\"":{"x":null}}',
  ];
  for (const text of cases) {
    it(`${JSON.stringify(text)}: ${typeof parse(text) === 'string' ? 'refused' : 'read'} as JSON.parse reads it`, () => {
      assert.deepEqual(scan(text), parse(text));
    });
  }
  it('a name given twice is seen twice (JSON.parse keeps the last)', () => {
    assert.equal(scan('{"a":1,"a":2}'), 'refused');
  });
});

describe('links in a model folder (issue 20, item 1)', function () {
  it('a folder the user reaches through a link of their own loads; inside it, a link to the same file in a sibling folder is refused naming the link', async () => {
    const { writeTinyHfFolder } = await import('../robust/corpus-hf');
    const root = tmpDir();
    writeTinyHfFolder(path.join(root, 'real'), 'safetensors');
    fs.symlinkSync('real', path.join(root, 'via-link'));
    const m = await loadModel(path.join(root, 'via-link'));
    assert.equal(m.base.depth, 2);
    writeTinyHfFolder(path.join(root, 'other'), 'safetensors');
    fs.rmSync(path.join(root, 'real', 'config.json'));
    fs.symlinkSync('../other/config.json', path.join(root, 'real', 'config.json'));
    await expectLabError(loadModel(path.join(root, 'via-link')), 'LINK_OUTSIDE_MODEL', path.join('via-link', 'config.json'), /outside the model's folder/);
  });
});

describe('.npy clips', function () {
  function npy(descr: string, shape: number[], data: Uint8Array, o: { fortran?: boolean; version?: 1 | 2 } = {}): Buffer {
    const dict = `{'descr': '${descr}', 'fortran_order': ${o.fortran ? 'True' : 'False'}, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
    const v = o.version ?? 1;
    const pre = v === 1 ? 10 : 12;
    let h = dict;
    while ((pre + h.length + 1) % 64) h += ' ';
    h += '\n';
    const head = Buffer.alloc(pre);
    head.write('\x93NUMPY', 0, 'latin1');
    head[6] = v;
    if (v === 1) head.writeUInt16LE(h.length, 8);
    else head.writeUInt32LE(h.length, 8);
    return Buffer.concat([head, Buffer.from(h, 'latin1'), Buffer.from(data)]);
  }
  it('reads float32 in C order, Fortran order and format 2.0, and uint8 frames', async () => {
    const c = await readNpy(write('c.npy', npy('<f4', [2, 3], f32([1, 2, 3, 4, 5, 6]))));
    assert.deepEqual([...c.shape], [2, 3]);
    assert.deepEqual([...c.toFloat32()], [1, 2, 3, 4, 5, 6]);
    const fo = await readNpy(write('f.npy', npy('<f4', [2, 3], f32([1, 4, 2, 5, 3, 6]), { fortran: true })));
    assert.deepEqual([...fo.toFloat32()], [1, 2, 3, 4, 5, 6]);
    const v2 = await readNpy(write('v2.npy', npy('<f8', [2], new Uint8Array(Float64Array.from([0.5, -1]).buffer), { version: 2 })));
    assert.deepEqual([...v2.toFloat32()], [0.5, -1]);
    const u8 = await readNpy(write('u8.npy', npy('|u1', [1, 1, 2, 3], Uint8Array.from([0, 1, 2, 253, 254, 255]))));
    assert.equal(u8.dtype, 'uint8');
    assert.deepEqual([...u8.data as Uint8Array], [0, 1, 2, 253, 254, 255]);
  });
  const cases: [string, () => Buffer, string, RegExp][] = [
    ['a truncated array', () => npy('<f4', [2, 3], f32([1, 2, 3])), 'BAD_CLIP', /\(2, 3\) of <f4: 24 bytes of data, but the file holds 12/],
    ['trailing bytes', () => npy('<f4', [1], f32([1, 2])), 'BAD_CLIP', /4 bytes of data, but the file holds 8/],
    ['a big-endian array', () => npy('>f4', [1], f32([1])), 'UNSUPPORTED_DTYPE', /big-endian/],
    ['an object array', () => npy('|O', [1], new Uint8Array(8)), 'UNSUPPORTED_DTYPE', /'O' is not supported/],
    ['another file type', () => Buffer.from('PK\x03\x04 not numpy'), 'BAD_CLIP', /not a NumPy \.npy file/],
    ['a header claiming a huge shape', () => npy('<f4', [1e15, 1e15], new Uint8Array(0)), 'BAD_CLIP', /bytes of data, but the file holds 0/],
  ];
  for (const [what, make, code, re] of cases) {
    it(`refuses ${what} with ${code} naming the file`, async () => {
      const p = write('x.npy', make());
      await expectLabError(readNpy(p), code, p, re);
    });
  }
});

describe('HuggingFace folders: transformers keys mapped onto the official model', function () {
  this.timeout(120000);
  const labels = Array.from({ length: 400 }, (_, i) => `class ${i}`);
  for (const format of ['safetensors', 'safetensors-sharded', 'bin', 'bin-sharded'] as const) {
    it(`${format}: every weight reads back equal to d1_outlier.pyth's, under the official names; heads, eps, labels from config.json`, async () => {
      const dir = path.join(tmpDir(), `hf_${format}`);
      await makeHfFolder(D1, dir, { format, heads: 4, labels, config: { layer_norm_eps: 1e-5 } });
      const hf = await loadModel(dir);
      const off = await loadModel(D1);
      assert.equal(hf.source.kind, 'huggingface');
      assert.equal(hf.source.architecture, 'TimesformerForVideoClassification');
      assert.equal(hf.format, { safetensors: 'safetensors', 'safetensors-sharded': 'safetensors (3 shards)', bin: 'pytorch_model.bin', 'bin-sharded': 'pytorch_model.bin (3 shards)' }[format]);
      assert.equal(hf.source.files.length, format.endsWith('sharded') ? 3 : 1);
      assert.equal(hf.heads, 4);
      assert.equal(hf.base.layerNormEps, 1e-5);
      assert.equal(hf.labels?.[171], 'class 171');
      assert.deepEqual({ ...hf.base, layerNormEps: 0 }, { ...off.base, layerNormEps: 0 });
      assert.deepEqual([...hf.weights.keys()].sort(), [...off.weights.keys()].sort());
      for (const [k, v] of off.weights) assert.deepEqual(hf.weights.get(k), v, k);
    });
  }
  it('the folder, its config.json and its weight file all name the same model', async () => {
    const dir = path.join(tmpDir(), 'hf');
    await makeHfFolder(D1, dir, { format: 'safetensors', heads: 4 });
    for (const p of [dir, path.join(dir, 'config.json'), path.join(dir, 'model.safetensors')]) {
      const m = await loadModel(p);
      assert.equal(m.source.kind, 'huggingface', p);
      assert.equal(m.heads, 4, p);
    }
  });
  it('a lone .safetensors file (no config.json) loads by its keys, heads left to detection', async () => {
    const dir = path.join(tmpDir(), 'lone');
    await makeHfFolder(D1, dir, { format: 'safetensors', heads: 4 });
    const lone = path.join(tmpDir(), 'weights.safetensors');
    fs.copyFileSync(path.join(dir, 'model.safetensors'), lone);
    const m = await loadModel(lone);
    assert.equal(m.heads, undefined);
    assert.equal(m.base.depth, 12);
    assert.equal(m.source.config, undefined);
  });
  it('TimesformerModel (no classifier): loads with numClasses 0 and no head weights', async () => {
    const dir = path.join(tmpDir(), 'base');
    await makeHfFolder(D1, dir, { format: 'safetensors', heads: 4, head: false });
    const m = await loadModel(dir);
    assert.equal(m.base.numClasses, 0);
    assert.equal(m.source.head, false);
    assert.equal(m.source.architecture, 'TimesformerModel');
    assert.ok(!m.weights.has('head.weight'));
  });

  const refusals: [string, Partial<Parameters<typeof makeHfFolder>[2]>, (dir: string) => void, string, string, RegExp][] = [
    ['attention_type space_only', { config: { attention_type: 'space_only' } }, () => undefined, 'UNSUPPORTED_MODEL', 'config.json', /attention_type 'space_only' is not supported/],
    ['hidden_act gelu_new', { config: { hidden_act: 'gelu_new' } }, () => undefined, 'UNSUPPORTED_MODEL', 'config.json', /hidden_act 'gelu_new'/],
    ['another model_type', { config: { model_type: 'videomae' } }, () => undefined, 'UNSUPPORTED_MODEL', 'config.json', /model_type 'videomae' is not a TimeSformer/],
    ['a config.json from another model size', { config: { num_frames: 16, hidden_size: 768 } }, () => undefined, 'MISMATCH', 'config.json', /hidden_size 768, the weights have 64; num_frames 16, the weights have 8/],
    ['heads that do not divide the width', { heads: 5 }, () => undefined, 'BAD_WEIGHTS', 'config.json', /num_attention_heads 5 does not divide hidden_size 64/],
    ['a shard named outside the folder', { format: 'safetensors-sharded' }, (dir) => {
      const idx = path.join(dir, 'model.safetensors.index.json');
      const j = JSON.parse(fs.readFileSync(idx, 'utf8'));
      j.weight_map['timesformer.layernorm.weight'] = '../../etc/passwd';
      fs.writeFileSync(idx, JSON.stringify(j));
    }, 'BAD_WEIGHTS', 'model.safetensors.index.json', /not a plain file name/],
    ['an index that names a key its shard lacks', { format: 'safetensors-sharded' }, (dir) => {
      const idx = path.join(dir, 'model.safetensors.index.json');
      const j = JSON.parse(fs.readFileSync(idx, 'utf8'));
      j.weight_map['timesformer.layernorm.weight'] = 'model-00001-of-00003.safetensors';
      fs.writeFileSync(idx, JSON.stringify(j));
    }, 'BAD_WEIGHTS', 'model.safetensors.index.json', /not in their shard: timesformer\.layernorm\.weight \(model-00001-of-00003\.safetensors\)/],
    ['a weight the graph would not apply (fc_norm)', {}, (dir) => {
      // rewrite the file with one more tensor (older transformers' fc_norm, which mean pooling used)
      const p = path.join(dir, 'model.safetensors');
      const buf = fs.readFileSync(p);
      const n = Number(buf.readBigUInt64LE(0));
      const h = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
      const data = buf.subarray(8 + n);
      const tensors: StTensor[] = Object.entries(h).filter(([k]) => k !== '__metadata__').map(([name, e]) => {
        const x = e as { dtype: 'F32'; shape: number[]; data_offsets: [number, number] };
        return { name, dtype: x.dtype, shape: x.shape, data: data.subarray(x.data_offsets[0], x.data_offsets[1]) };
      });
      fs.writeFileSync(p, safetensorsBytes([...tensors, { name: 'timesformer.fc_norm.weight', dtype: 'F32', shape: [64], data: new Uint8Array(256) }]));
    }, 'UNSUPPORTED_MODEL', 'model.safetensors', /1 weight\(s\) the TimeSformer graph would not apply: timesformer\.fc_norm\.weight/],
    ['a folder whose config.json has no weights beside it', {}, (dir) => fs.rmSync(path.join(dir, 'model.safetensors')), 'MISSING_WEIGHTS', 'hf', /config\.json but no weights/],
  ];
  for (const [what, opts, mutate, code, file, re] of refusals) {
    it(`refuses ${what}: ${code}, naming ${file}`, async () => {
      const dir = path.join(tmpDir(), 'hf');
      await makeHfFolder(D1, dir, { format: 'safetensors', heads: 4, ...opts });
      mutate(dir);
      await expectLabError(loadModel(dir), code, file, re);
    });
  }
  it('a folder with weights but no config.json says what is missing', async () => {
    const dir = path.join(tmpDir(), 'hf');
    await makeHfFolder(D1, dir, { format: 'safetensors', heads: 4 });
    fs.rmSync(path.join(dir, 'config.json'));
    await expectLabError(loadModel(dir), 'NOT_A_CHECKPOINT', dir, /has model\.safetensors but no config\.json/);
  });
  it('qkv_bias false: the attention qkv Linears get zero biases, nothing else is invented', async () => {
    const sd = new Map([['embeddings.cls_token', { name: 'x', dtype: 'float32' as const, shape: [1, 1, 4], numel: 4, load: async () => { throw new Error('not read'); } }],
      ['encoder.layer.0.attention.attention.qkv.weight', { name: 'q', dtype: 'float32' as const, shape: [12, 4], numel: 48, load: async () => { throw new Error('not read'); } }]]);
    const { entries, head } = mapHfWeights(sd, 'f', { qkvBias: false });
    assert.equal(head, false);
    const b = await entries.get('blocks.0.attn.qkv.bias')!.load();
    assert.deepEqual([...b.shape], [12]);
    assert.ok((b.data as Float32Array).every((v) => v === 0));
    assert.ok(!entries.has('blocks.0.temporal_attn.qkv.bias'), 'no bias for a weight that is not there');
  });
  it('config.json: labels from id2label unless they are transformers\' LABEL_n defaults', () => {
    assert.deepEqual(readHfConfig({ model_type: 'timesformer', id2label: { 0: 'abseiling', 1: 'air drumming' } }, 'c').labels, ['abseiling', 'air drumming']);
    assert.equal(readHfConfig({ id2label: { 0: 'LABEL_0', 1: 'LABEL_1' } }, 'c').labels, undefined);
    assert.equal(readHfConfig({}, 'c').qkvBias, true);
  });
});

describe('the official checkpoint\'s cfg', function () {
  it('DATA.MEAN/STD set the frames normalization; ATTENTION_TYPE other than divided_space_time is refused', () => {
    const yaml = 'DATA:\n  MEAN:\n  - 0.4\n  - 0.5\n  - 0.6\n  STD:\n  - 0.2\n  - 0.25\n  - 0.3\nTIMESFORMER:\n  ATTENTION_TYPE: divided_space_time\n';
    assert.deepEqual(officialConfig(yaml, 'w').normalization, { mean: [0.4, 0.5, 0.6], std: [0.2, 0.25, 0.3], source: "DATA.MEAN / DATA.STD in the checkpoint's cfg" });
    assert.equal(officialConfig('TIMESFORMER:\n  ATTENTION_TYPE: divided_space_time\n', 'w').normalization, undefined);
    assert.throws(() => officialConfig('TIMESFORMER:\n  ATTENTION_TYPE: joint_space_time\n', 'w.pyth'), (e: unknown) => e instanceof LabError && e.code === 'UNSUPPORTED_MODEL' && /'joint_space_time'/.test(e.message) && e.message.startsWith('w.pyth'));
  });
  it('the fixtures\' cfg names divided_space_time and no mean/std', async () => {
    const src = await openModelSource(D1);
    try {
      assert.equal(src.info.kind, 'official');
      assert.equal(src.info.config, 'cfg in the checkpoint');
      assert.equal(src.normalization, undefined);
    } finally {
      await src.close();
    }
    const c = await readCheckpoint(D1);
    assert.match(String(c.meta.cfg), /divided_space_time/);
    await c.close();
  });
});
