/**
 * Reference: what the engine is compared with — the test data's blocks and probabilities (PyTorch),
 * or, without test data, our own FP32 graph on the CPU EP — and that FP32 run itself (the probe
 * run: the self-reference, the LayerNorm statistics of engines that carry none, the healthy
 * statistics the minimal fix is read from), run once on this thread or beside a GPU engine.
 */
import type { TestData } from '../formats/testdata';
import type { BuiltGraph, GraphOptions } from '../model/timesformer';
import { Tensor } from '../tensor';
import type { ModelConfig, PipelineHooks, ReferenceInfo, Stage, TensorStats } from '../report';
import { toShared } from '../parallel';
import { runFp32OnCpu, runFp32OnCpuThread } from './cpu-run';
import { cpuGraph } from './graph';
import type { LoadedModel } from './load';
import { basename } from './clip';
import type { Voice } from './progress';

/** The per-block outputs and probabilities the engine is compared with. */
export interface Reference {
  info: ReferenceInfo;
  /** One (B, 1 + S*T, C) array per block, tokens in the official (patch, frame) order. */
  blocks: Float32Array[];
  blockShape: number[];
  probs: Float32Array;
  /** Statistics of each reference block, computed by the first mode that compares and reused. */
  stats: (TensorStats | undefined)[];
}

/** Where the fp32 probe run goes: `beside` a GPU engine on a worker thread, or on the calling thread. */
export interface ProbeHow {
  beside?: boolean;
}

/** The fp32 probe run's graph and outputs. */
export interface ProbeRun {
  g: BuiltGraph;
  out: Map<string, Float32Array>;
}

/** The reference and the fp32 probe run of one preparation, each computed once, on first use. */
export interface References {
  /** The reference, or a promise of it (the self-reference is computed on first use; `beside`: see fp32Probe). */
  reference(how?: ProbeHow): Promise<Reference>;
  /**
   * Outputs of our FP32 graph on the CPU EP with LayerNorm statistics, run once and kept: the
   * self-reference, the statistics of engines that carry none (TensorRT), and the healthy
   * statistics the minimal fix is read from. The first call decides where it runs: `beside`, on a
   * worker thread (while this thread builds a GPU engine), else on this thread.
   */
  fp32Probe(how?: ProbeHow): Promise<ProbeRun>;
  /** Whether fp32Probe() has run (or started). */
  hasProbe(): boolean;
  /**
   * fp32Probe()'s run while it runs beside an engine (undefined when it does not, or has ended):
   * the last segment it finished, and a listener for the next ones (besideWait).
   */
  besideRun(): { what: string; segment?: [number, number]; listen(f?: (done: number, total: number) => void): void } | undefined;
  /**
   * Take a mode's own run as fp32Probe()'s: a mode that builds that very graph on the CPU EP
   * (FP32, plain) is the same computation, so it is not run twice.
   */
  adoptProbe(g: BuiltGraph, out: Map<string, Float32Array>): void;
}

export interface ReferenceInputs {
  model: LoadedModel;
  data?: TestData;
  video: Tensor<'float32'>;
  config: ModelConfig;
  /** The probe run's graph (prepare: FP32, plain, with statistics). */
  probeGraphOptions: GraphOptions;
  /** Where the probe run's time is added (the first mode's Report charges it). */
  pending: { referenceMs: number };
  voice: Pick<Voice, 'say' | 'stage'>;
  hooks: PipelineHooks;
}

export function references(x: ReferenceInputs): References {
  const { model: m, data, video, config, probeGraphOptions, pending, hooks } = x;
  const { say, stage } = x.voice;
  let probe: Promise<ProbeRun> | undefined;
  // the probe run beside an engine, while it runs: how far it is, and who waits for it (besideWait)
  type BesideRun = { what: string; segment?: [number, number]; listener?: (k: number, n: number) => void };
  let beside: BesideRun | undefined;
  const fp32Probe = (how: ProbeHow = {}) => {
    probe ??= (async () => {
      // waited on unless it runs beside an engine (then the engine's stages are what the user sees,
      // and besideWait's stage once the engine is done before it)
      const what = data ? 'LayerNorm statistics: FP32 of this model on the CPU EP' : 'FP32 of this model on the CPU EP';
      if (!how.beside) stage('computing the FP32 reference', what);
      const run: BesideRun | undefined = how.beside ? (beside = { what }) : undefined;
      const onSegment = run
        ? (k: number, n: number) => { run.segment = [k, n]; run.listener?.(k, n); }
        : (k: number, n: number) => hooks.onProgress?.('computing the FP32 reference', `${what}, segment ${k}/${n}`);
      const t = performance.now();
      try {
        const g = cpuGraph(m.weights, probeGraphOptions);
        const onThread = how.beside ? await runFp32OnCpuThread(g, video, say, onSegment) : undefined;
        const { out, sessionMs, runMs, bytes } = onThread ?? (await runFp32OnCpu(g, video, onSegment));
        pending.referenceMs += performance.now() - t;
        say(`fp32 probe run on the CPU EP${onThread ? ' (on a worker thread, beside the engine)' : ''}: ${out.size} outputs (${(bytes / 2 ** 20).toFixed(1)} MiB), session ${sessionMs.toFixed(0)} ms, run ${runMs.toFixed(0)} ms`);
        return { g, out };
      } finally {
        if (run) beside = undefined;
      }
    })();
    return probe;
  };
  let reference: Promise<Reference> | undefined;
  return {
    fp32Probe,
    hasProbe: () => !!probe,
    besideRun: () => beside && { what: beside.what, segment: beside.segment, listen: (f) => void (beside && (beside.listener = f)) },
    adoptProbe: (g, out) => {
      if (probe) throw new Error('the fp32 probe run exists already');
      probe = Promise.resolve({ g, out });
    },
    reference: (how?: ProbeHow) => {
      reference ??= data
        ? Promise.resolve({
          info: { kind: 'test-data', label: `test data ${basename(data.path)} (PyTorch)`, path: data.path },
          // in shared memory: every mode (and every request of a warm engine process) sends them to the comparison's threads
          blocks: data.blocks.map((b, i) => {
            const t = new Tensor('float32', b.shape, toShared(b.data));
            data.blocks[i] = t; // the read arrays released
            return t.data;
          }),
          blockShape: [...(data.blocks[0]?.shape ?? [])], probs: data.probs.data, stats: [],
        })
        : (async () => {
          const { g, out } = await fp32Probe(how);
          const B = video.shape[0];
          const tokens = 1 + config.numPatches * config.frames;
          return {
            info: { kind: 'self', label: 'FP32 of this model (CPU EP)' },
            // in shared memory (the run's own arrays released): sent to the comparison's threads by every mode, no copy
            blocks: g.blockNames.map((n) => {
              const s = toShared(out.get(n)!);
              out.set(n, s);
              return s;
            }),
            blockShape: [B, tokens, config.embedDim], probs: out.get(g.probsName!)!, stats: [],
          };
        })();
      return reference;
    },
  };
}

/**
 * `what` (the self-reference, the probe) from the fp32 run beside the engine: when that run is still
 * going — the engine was done first — the wait is a stage of its own, with the run's segments.
 */
export async function besideWait<T>(r: Pick<References, 'besideRun'>, what: Promise<T>, stage: (s: Stage, detail?: string) => void, hooks: PipelineHooks): Promise<T> {
  const run = r.besideRun();
  if (!run) return what;
  const detail = (seg?: [number, number]) => `${run.what}, on a worker thread${seg ? `, segment ${seg[0]}/${seg[1]}` : ''}`;
  stage('waiting for the FP32 reference (CPU)', detail(run.segment));
  run.listen((k, n) => hooks.onProgress?.('waiting for the FP32 reference (CPU)', detail([k, n])));
  try {
    return await what;
  } finally {
    run.listen(undefined);
  }
}
