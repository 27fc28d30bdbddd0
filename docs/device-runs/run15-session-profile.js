// Throwaway device profile (not committed): what a WebGPU session's creation costs, by graph and optimization level,
// and whether two sessions can be created on two threads at once.
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');
const path = require('path');
const OUTD = path.join(__dirname, '..', 'out', 'extension', 'core');
const { ort } = require(path.join(OUTD, 'engine/session'));
const t = () => performance.now();
const opts = (level) => ({ graphOptimizationLevel: level, executionProviders: [{ name: 'webgpu' }], logSeverityLevel: 3 });
async function createRun(src, level, feeds) {
  const O = ort();
  let t0 = t();
  const s = await O.InferenceSession.create(src, opts(level));
  const create = t() - t0;
  t0 = t();
  const out = await s.run({ video: new O.Tensor('float32', feeds, [1, 3, 8, 224, 224]) });
  const run1 = t() - t0;
  t0 = t();
  await s.run({ video: new O.Tensor('float32', feeds, [1, 3, 8, 224, 224]) });
  const run2 = t() - t0;
  const b11 = out['blocks.11.out'].data;
  let h = 0; for (let i = 0; i < b11.length; i += 997) h = (h * 31 + Math.round(b11[i] * 1e4)) | 0;
  t0 = t();
  await s.release();
  return { create, run1, run2, release: t() - t0, hash: h };
}
if (!isMainThread) {
  (async () => {
    const r = await createRun(workerData.src, 'all', workerData.video);
    parentPort.postMessage(r);
  })().catch((e) => parentPort.postMessage({ error: String(e) }));
} else {
  (async () => {
    const { prepare } = require(path.join(OUTD, 'pipeline'));
    const { buildTimeSformer } = require(path.join(OUTD, 'model/timesformer'));
    let t0 = t();
    const p = await prepare({ weights: process.argv[2], heads: 12, precision: 'fp16', ep: 'webgpu' });
    console.log('prepare', (t() - t0).toFixed(0));
    const video = p.video.data;
    const base = { config: p.config, batch: 1, precision: 'fp16', realization: 'native', probes: true, prescaleShift: 3, accumulate: 'fp32', fp32Ops: [] };
    const graphs = {};
    for (const ln of ['fp32', 'plain', 'expose', 'fused', 'prescaled']) {
      t0 = t();
      graphs[ln] = buildTimeSformer(p.model.weights, { ...base, layerNorm: ln });
      console.log('build', ln, (t() - t0).toFixed(0), 'ms', graphs[ln].nodeCount, 'nodes');
    }
    // the first session pays the WebGPU device's creation
    console.log('first session (device init)', JSON.stringify(await createRun(graphs.fp32.source, 'all', video)));
    for (const ln of Object.keys(graphs)) console.log('session', ln, 'all', JSON.stringify(await createRun(graphs[ln].source, 'all', video)));
    for (const level of ['disabled', 'basic', 'extended', 'all']) console.log('session fp32-LN', level, JSON.stringify(await createRun(graphs.fp32.source, level, video)));
    // two threads at once
    const seq = [await createRun(graphs.plain.source, 'all', video), await createRun(graphs.prescaled.source, 'all', video)];
    t0 = t();
    const par = await Promise.all(['plain', 'prescaled'].map((ln) => new Promise((res) => {
      const w = new Worker(__filename, { workerData: { src: graphs[ln].source, video } });
      w.on('message', (m) => { res(m); w.terminate(); });
      w.on('error', (e) => res({ error: String(e) }));
    })));
    console.log('two threads wall', (t() - t0).toFixed(0), 'ms', JSON.stringify(par), 'same hash as sequential:', par.map((r, i) => r.hash === seq[i].hash));
    p.close();
  })().catch((e) => { console.log('ERROR', e); process.exit(1); });
}
