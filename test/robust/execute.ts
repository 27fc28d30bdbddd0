/**
 * One case through the CLI-level entry points, in this process: the pipeline's own load functions
 * (loadModel, readTestData against the model, checkAgreement) or, for stage 'run', the whole
 * pipeline on the CPU. The outcome is 'OK', a LabError code, or 'CRASH' (anything untyped).
 */
import { isLabError } from '../../extension/core/errors';
import { readTestData } from '../../extension/core/formats/testdata';
import { checkAgreement, loadModel, readClip, runPipeline, type LoadedModel } from '../../extension/core/pipeline';

export type Stage = 'weights' | 'data' | 'pair' | 'run' | 'clip';

export interface CaseInput {
  stage: Stage;
  /** The checkpoint (weights, pair, run) or, for stages 'data' and 'clip', the model the data must fit. */
  weights?: string;
  data?: string;
}

export interface Outcome {
  outcome: string;
  message?: string;
}

const models = new Map<string, LoadedModel>();
/** The model a test-data case is checked against, loaded once per process. */
async function modelFor(path: string): Promise<LoadedModel> {
  let m = models.get(path);
  if (!m) {
    m = await loadModel(path);
    models.set(path, m);
  }
  return m;
}

/** Load what a case needs besides its own input (the model a test-data case is checked against), so it is not measured with the case. */
export async function prepare(c: CaseInput): Promise<void> {
  if ((c.stage === 'data' || c.stage === 'clip') && c.weights) await modelFor(c.weights);
}

export async function execute(c: CaseInput): Promise<Outcome> {
  try {
    if (c.stage === 'weights') {
      await loadModel(need(c.weights));
    } else if (c.stage === 'data') {
      const m = await modelFor(need(c.weights));
      checkAgreement(m, await readTestData(need(c.data), m.base));
    } else if (c.stage === 'clip') {
      // a --input clip (.npy) against the model, as the pipeline reads it
      await readClip(need(c.data), await modelFor(need(c.weights)), { weights: need(c.weights) });
    } else if (c.stage === 'pair') {
      const m = await loadModel(need(c.weights));
      checkAgreement(m, await readTestData(need(c.data), m.base));
    } else {
      await runPipeline({ weights: need(c.weights), data: need(c.data), ep: 'cpu', precision: 'fp32' });
    }
    return { outcome: 'OK' };
  } catch (e) {
    if (isLabError(e)) return { outcome: e.code, message: e.message };
    return { outcome: 'CRASH', message: e instanceof Error ? (e.stack ?? e.message).split('\n').slice(0, 4).join(' | ') : String(e) };
  }
}

function need(p: string | undefined): string {
  if (!p) throw new Error('the case names no file for this stage');
  return p;
}
