// Throwaway: onnxruntime's verbose log of one WebGPU session creation (timestamps per phase).
const path = require('path');
const OUTD = path.join(__dirname, '..', 'out', 'extension', 'core');
const { ort } = require(path.join(OUTD, 'engine/session'));
(async () => {
  const { prepare } = require(path.join(OUTD, 'pipeline'));
  const { buildTimeSformer } = require(path.join(OUTD, 'model/timesformer'));
  const p = await prepare({ weights: process.argv[2], heads: 12, precision: 'fp16', ep: 'webgpu' });
  const base = { config: p.config, batch: 1, precision: 'fp16', realization: 'native', prescaleShift: 3, accumulate: 'fp32', fp32Ops: [] };
  const O = ort();
  // warm the device first
  const g0 = buildTimeSformer(p.model.weights, { ...base, layerNorm: 'fused', probes: false });
  let s = await O.InferenceSession.create(g0.source, { executionProviders: [{ name: 'webgpu' }], logSeverityLevel: 3 });
  await s.release();
  for (const [ln, probes] of [['fused', false], ['plain', true], ['fp32', true], ['fp32', false]]) {
    const g = buildTimeSformer(p.model.weights, { ...base, layerNorm: ln, probes });
    const t0 = performance.now();
    s = await O.InferenceSession.create(g.source, { executionProviders: [{ name: 'webgpu' }], logSeverityLevel: 3, graphOptimizationLevel: 'all' });
    console.log(`session ${ln} probes=${probes} ${g.nodeCount} nodes: ${(performance.now() - t0).toFixed(0)} ms`);
    await s.release();
  }
  O.env.logLevel = 'verbose';
  const g = buildTimeSformer(p.model.weights, { ...base, layerNorm: 'plain', probes: true });
  const t0 = performance.now();
  console.error('CREATE START', new Date().toISOString());
  s = await O.InferenceSession.create(g.source, { executionProviders: [{ name: 'webgpu' }], logSeverityLevel: 0, logVerbosityLevel: 0 });
  console.error('CREATE END', new Date().toISOString(), (performance.now() - t0).toFixed(0));
  await s.release();
  p.close();
})().catch((e) => { console.log('ERROR', e); process.exit(1); });
