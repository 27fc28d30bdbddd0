/**
 * The memory users do not see (issue 22.3): the weight store's bytes (RAM in /dev/shm) are counted
 * beside the RSS in the Report and the log, with where they are; a store left open is released
 * when the engine process is idle; a /dev/shm without room for the weights is not used.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { WeightStore, chooseParent, isMemoryFs, roomNeeded } from '../../extension/core/model/weight-store';
import { memoryText, runPipeline } from '../../extension/core/pipeline';
import { WorkerClient } from '../../extension/host/runner';

const ROOT = path.join(__dirname, '..', '..', '..');
const FIX = path.join(ROOT, 'test', 'fixtures');
const D1 = { weights: path.join(FIX, 'd1_outlier.pyth'), data: path.join(FIX, 'd1_outlier_test_data.p') };
const WORKER = path.join(ROOT, 'out', 'extension', 'worker.js');
const MiB = 2 ** 20;
/** What the folder's files take on the file system (`du`): allocated blocks. */
const filesBytes = (dir: string) => fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).blocks * 512, 0);

describe('weight store: the memory it holds, where, and for how long', function () {
  this.timeout(60_000);
  let parent: string;
  beforeEach(() => (parent = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-mem-'))));
  afterEach(() => fs.rmSync(parent, { recursive: true, force: true }));

  it('usage() is the bytes its files hold on the file system, and says whether they are RAM', async () => {
    const s = WeightStore.create({ parent });
    try {
      await s.add('a', [300, 200], new Float32Array(60_000).fill(1.5), false, ['f16']);
      await s.add('b', [1000], new Float32Array(1000).fill(-2));
      s.ref('b', { kind: 'f32.f16' });
      const u = s.usage();
      assert.equal(u.dir, s.dir);
      assert.equal(u.bytes, filesBytes(s.dir), 'what the files take, as du counts it');
      const data = 60_000 * 4 + 60_000 * 2 + 1000 * 4 + 1000 * 4;
      assert.ok(u.bytes >= data && u.bytes < data + 4 * 8192, `${u.bytes} for ${data} bytes of values (alignment gaps are holes)`);
      assert.equal(u.inMemory, false, `${os.tmpdir()} is on disk here`);
    } finally {
      s.close();
    }
    if (fs.existsSync('/dev/shm') && isMemoryFs('/dev/shm')) {
      const m = WeightStore.create({ parent: '/dev/shm' });
      try {
        assert.equal(m.usage().inMemory, true, 'a store in /dev/shm is RAM');
      } finally {
        m.close();
      }
    }
  });

  it('falls back to the temporary folder when the "shm" folder has less room than the weights want, and says why', () => {
    const saved = process.env.TIMESFORMER_LAB_WEIGHTS_DIR;
    delete process.env.TIMESFORMER_LAB_WEIGHTS_DIR;
    try {
      const shm = fs.mkdtempSync(path.join(parent, 'shm-'));
      const ckpt = 486 * MiB;
      const small = chooseParent(ckpt, { shm, freeBytes: () => 64 * MiB });
      assert.equal(small.dir, os.tmpdir());
      assert.match(small.why, /has 64 MiB free, 1458 MiB wanted/);
      const roomy = chooseParent(ckpt, { shm, freeBytes: () => roomNeeded(ckpt) });
      assert.equal(roomy.dir, shm, 'exactly the room wanted is enough');
      assert.equal(chooseParent(ckpt, { shm, freeBytes: () => roomNeeded(ckpt) - 1 }).dir, os.tmpdir());
      assert.equal(chooseParent(ckpt, { shm: path.join(parent, 'none') }).dir, os.tmpdir(), 'no such folder');
      const s = WeightStore.create({ expectBytes: ckpt, probe: { shm, freeBytes: () => 10 * MiB } });
      try {
        assert.equal(path.dirname(s.dir), os.tmpdir());
        assert.match(s.why, /10 MiB free/);
      } finally {
        s.close();
      }
    } finally {
      if (saved !== undefined) process.env.TIMESFORMER_LAB_WEIGHTS_DIR = saved;
    }
  });

  it('releaseAll() closes every store still open and removes its folder, saying what it held', async () => {
    const a = WeightStore.create({ parent });
    const b = WeightStore.create({ parent });
    await a.add('w', [1000], new Float32Array(1000));
    const released = WeightStore.releaseAll();
    // (with them, any store an earlier test of this process left open)
    assert.ok([a.dir, b.dir].every((d) => released.some((u) => u.dir === d)), released.map((u) => u.dir).join(', '));
    const held = released.find((u) => u.dir === a.dir)!.bytes;
    assert.ok(held >= 4000 && held <= 8192, `${held} bytes for 4000 bytes of values`);
    assert.ok(!fs.existsSync(a.dir) && !fs.existsSync(b.dir));
    assert.deepEqual(WeightStore.openStores(), []);
  });

  it('a run\'s Report and log count the store beside the peak RSS, and say where it is', async () => {
    const logs: string[] = [];
    const r = (await runPipeline({ ...D1, ep: 'cpu', heads: 4, precision: 'fp16', layerNorm: 'fp32' }, { log: (l) => logs.push(l) })).report;
    const t = r.run.timings;
    const w = r.inputs.weightBytes!;
    // d1: 2.4 MB of float32 weights, FP16 emulated on the CPU: the float32 file and the rounded one
    assert.ok(t.storeBytes! >= 2 * w && t.storeBytes! < 2.5 * w, `${t.storeBytes} bytes for ${w} of weights`);
    const where = logs.find((l) => l.startsWith('weight store: '));
    assert.ok(where, logs.join('\n'));
    const dir = /^weight store: (\S+) /.exec(where)![1];
    assert.equal(t.storeInMemory, isMemoryFs(path.dirname(dir)));
    assert.ok(!fs.existsSync(dir), 'removed when the run ended');
    const peak = logs.find((l) => l.startsWith('peak RSS'))!;
    assert.ok(peak.includes(memoryText(t.peakRssBytes!, { bytes: t.storeBytes!, inMemory: t.storeInMemory!, dir })), peak);
  });

  it('memoryText: in RAM, RSS + store is stated (an upper bound); on disk the store is not counted as RAM', () => {
    assert.equal(memoryText(1000 * MiB, { bytes: 930 * MiB, inMemory: true, dir: '/dev/shm/x' }), 'weight store 930 MiB of RAM in /dev/shm/x (not in the RSS): RSS + store 1930 MiB at most');
    assert.equal(memoryText(1000 * MiB, { bytes: 930 * MiB, inMemory: false, dir: '/tmp/x' }), 'weight store 930 MiB on disk in /tmp/x (page cache, not RAM the run holds)');
  });

  it('the engine process releases a store a request left open once idle (TIMESFORMER_LAB_STORE_IDLE_MS)', async () => {
    const logs: string[] = [];
    const shm = fs.mkdtempSync(path.join(parent, 'w-'));
    const client = new WorkerClient({ script: WORKER, env: { ...process.env, TIMESFORMER_LAB_STORE_IDLE_MS: '800', TIMESFORMER_LAB_WEIGHTS_DIR: shm }, log: (l) => logs.push(l) });
    try {
      // an export for TensorRT reads the checkpoint into a store of the engine process
      await client.exportForTensorRt({ ...D1, ep: 'cpu', heads: 4, precision: 'fp16' }, 'plain', path.join(parent, 'x.onnx'));
      const stores = () => fs.readdirSync(shm).filter((n) => n.startsWith(`tsf-lab-w-${client.pid}-`));
      const t0 = Date.now();
      while (stores().length && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(stores(), [], 'no store of the engine process is left once it is idle');
      assert.ok(client.pid, 'the engine process is still there (idle, not ended)');
    } finally {
      client.dispose();
    }
  });
});
