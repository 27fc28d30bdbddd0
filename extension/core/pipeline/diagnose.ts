/**
 * Diagnose: the verdict and its cause from a mode's judged results (compare/diagnosis.ts), with
 * more evidence where the first verdict asks for it — the healthy LayerNorm statistics of the fp32
 * probe run for a failing FP16 mode, every head count's block 0 for a block 0 that fails — and
 * 'minimal', the plain mode with only the LayerNorms whose mechanism fires kept in FP32.
 */
import { lnLimits } from '../model/realization';
import { diagnose, firingUnder, inputOutOfRange, type DiagnoseInput } from '../compare/diagnosis';
import type { Diagnosis, LayerNormStats, PipelineHooks, PipelineOptions } from '../report';
import { statsFrom, type Judged } from './compare';
import { intendedSpec } from './graph';
import type { Prepared } from './prepare';
import type { Voice } from './progress';
import { besideWait } from './reference';

/** LayerNorm statistics of our FP32 graph on the CPU: inputs no 16-bit failure has damaged yet. */
export async function healthyStats(p: Pick<Prepared, 'fp32Probe'>): Promise<LayerNormStats[]> {
  const { g, out } = await p.fp32Probe();
  const none = { square: null, sumSquares: null, sumX: null };
  return [...statsFrom(g, out, 'fp32-probe', () => none, () => 'plain').values()];
}

/**
 * 'minimal': plain LayerNorms, with those whose mechanism fires under the intended realization on
 * the healthy statistics in FP32 — read from the statistics, proved by the run that follows.
 */
export async function minimalOptions(p: Pick<Prepared, 'fp32Probe' | 'say'>, o: PipelineOptions): Promise<Pick<PipelineOptions, 'layerNorm' | 'layerNormOverrides'>> {
  const spec = intendedSpec(o);
  const shift = o.prescaleShift ?? 3;
  // (an input already past FP16's range: no precision of the LayerNorm helps it; diagnosis.ts minimal())
  const fire = (await healthyStats(p)).filter((h) => !inputOutOfRange(h) && firingUnder(h, lnLimits(spec, 'plain', shift)).length);
  p.say(fire.length
    ? `minimal fix: ${fire.length} LayerNorm(s) in FP32, from the statistics: ${fire.map((h) => h.name).join(', ')}`
    : 'minimal fix: no LayerNorm overflows in this realization; plain everywhere');
  return { layerNorm: 'plain', layerNormOverrides: { ...(o.layerNormOverrides ?? {}), ...Object.fromEntries(fire.map((h) => [h.name, 'fp32' as const])) } };
}

/** The diagnosis of a mode's results, with the evidence its first verdict asks for. */
export async function diagnoseRun(p: Prepared, o: PipelineOptions, j: Judged, v: Voice, hooks: PipelineHooks): Promise<Diagnosis> {
  const { config } = p;
  const input: DiagnoseInput = {
    ...j, channels: config.embedDim,
    heads: { heads: config.heads, source: config.headsSource, tried: config.headsTried },
  };
  const first = diagnose(input);
  // more evidence where the first verdict asks for it: a LayerNorm cause (the minimal fix, the
  // trtexec line) or an inf input (whether the activation itself leaves FP16's range in FP32)
  if (first.verdict === 'fail' && first.causes.length && (o.precision ?? 'fp32') === 'fp16') {
    input.healthy = await besideWait(p, healthyStats(p), v.stage, hooks);
    return diagnose(input);
  }
  if (first.firstBadBlock === 0 && !first.causes.length && config.headsSource !== 'detected' && p.data) {
    v.say('block 0 fails: trying every head count on block 0 for evidence');
    input.heads = { heads: config.heads, source: config.headsSource, tried: await p.headsEvidence() };
    return diagnose(input);
  }
  return first;
}
