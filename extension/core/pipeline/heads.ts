/**
 * Heads: the one number the weights do not hold. Given (--heads), from the checkpoint's
 * configuration, detected from the test data's block 0, or assumed (head dim 64).
 */
import { LabError } from '../errors';
import type { TestData } from '../formats/testdata';
import { headCandidatesFor } from '../model/validate';
import { buildTimeSformer } from '../model/timesformer';
import { diff } from '../compare/metrics';
import type { ModelConfig, PipelineOptions } from '../report';
import { runFp32OnCpu } from './cpu-run';
import type { LoadedModel } from './load';
import type { Voice } from './progress';

export type HeadsTried = { heads: number; block0RelL2: number }[];

/**
 * Heads are not in the weights: build block 0 alone for each candidate head count, run it in fp32
 * on the CPU and keep the one whose output matches the reference block 0.
 */
export async function detectHeads(m: LoadedModel, d: TestData, log?: (s: string) => void): Promise<{ heads: number; tried: { heads: number; block0RelL2: number }[] }> {
  if (d.blocks.length === 0) throw new LabError('HEADS_UNDETECTED', 'the test data has no block outputs to detect the head count from; pass --heads', d.path);
  const tried: { heads: number; block0RelL2: number }[] = [];
  const B = d.video.shape[0];
  for (const heads of headCandidatesFor(m.base.embedDim, m.weightsPath)) {
    const config: ModelConfig = { ...m.base, heads, headsSource: 'detected', headsTried: [] };
    const g = buildTimeSformer(m.weights, { config, batch: B, precision: 'fp32', realization: 'fp32', layerNorm: 'plain', depthLimit: 1, probes: false, prescaleShift: 0 });
    const { out } = await runFp32OnCpu(g, d.video);
    const e = diff(out.get('blocks.0.out')!, d.blocks[0].data, 0).relL2;
    tried.push({ heads, block0RelL2: e });
    log?.(`heads ${heads} (head dim ${m.base.embedDim / heads}): block 0 rel err ${e.toExponential(2)}`);
    if (e < 1e-4) return { heads, tried };
  }
  const best = tried.reduce((a, b) => (b.block0RelL2 < a.block0RelL2 ? b : a));
  if (best.block0RelL2 < 1e-2) return { heads: best.heads, tried };
  throw Object.assign(
    new LabError('HEADS_UNDETECTED', `no head count reproduces block 0 of the test data (best: ${best.heads} heads, rel err ${best.block0RelL2.toExponential(2)}); the checkpoint and test data may not belong together, or pass --heads`, d.path),
    { tried },
  );
}

/** The head count of this run and where it comes from (the order: option, configuration, detection, assumption). */
export async function settleHeads(
  m: LoadedModel, o: Pick<PipelineOptions, 'heads' | 'weights'>, data: TestData | undefined, v: Pick<Voice, 'say' | 'stage'>,
): Promise<{ heads: number; headsSource: ModelConfig['headsSource']; headsTried: HeadsTried }> {
  const { say, stage } = v;
  let heads = o.heads;
  let headsSource: ModelConfig['headsSource'] = 'option';
  let headsTried: HeadsTried = [];
  if (heads !== undefined) {
    if (m.base.embedDim % heads !== 0) throw new LabError('BAD_OPTION', `embed dim ${m.base.embedDim} is not divisible by ${heads} heads`, o.weights);
  } else if (m.heads !== undefined) {
    // the checkpoint's own configuration (HF num_attention_heads) is authoritative
    heads = m.heads;
    headsSource = 'config';
    say(`heads: ${heads} (from the checkpoint's configuration)`);
  } else if (data) {
    // test data without block outputs is no evidence for a head count: detectHeads says so (HEADS_UNDETECTED)
    stage('detecting heads');
    const r = await detectHeads(m, data, say);
    heads = r.heads;
    headsTried = r.tried;
    headsSource = 'detected';
    say(`heads: ${heads} (detected: block 0 matches the reference)`);
  } else {
    heads = headCandidatesFor(m.base.embedDim, o.weights)[0];
    headsSource = 'assumed';
    say(`heads: ${heads} (assumed: head dim ${m.base.embedDim / heads}; no test data to detect it from, pass --heads to set it)`);
  }
  return { heads, headsSource, headsTried };
}

/**
 * Block 0's error for every head count (head detection), also when the count was given: the
 * diagnosis's evidence for a wrong head count. Empty without test data.
 */
export async function headsEvidenceOf(m: LoadedModel, data: TestData | undefined, tried: HeadsTried, say: (s: string) => void): Promise<HeadsTried> {
  if (!data || !data.blocks.length) return [];
  if (tried.length) return tried;
  try {
    return (await detectHeads(m, data, say)).tried;
  } catch (e) {
    // no head count reproduces block 0: the list of what each gives is still the evidence
    const t = (e as { tried?: HeadsTried }).tried;
    if (t) return t;
    throw e;
  }
}
