/**
 * What a sweep produces: one ClipResult per clip (written as it finishes, one JSON line each, so
 * that Cancel keeps what was done and a rerun resumes), and the SweepResult over the set
 * (docs/sweep.schema.json describes it; test/unit/sweep.test.ts validates it with ajv).
 */
import type { LabErrorCode } from '../errors';
import type { Accumulate, EpChoice, EpName, LayerNormMode, Precision, Realization } from '../report';

export const SWEEP_VERSION = 1;

/** The three 16-bit overflow mechanisms of a LayerNorm, in the Report's names. */
export const SWEEP_MECHANISMS = ['square', 'sumSquares', 'sumX'] as const;
export type SweepMechanism = (typeof SWEEP_MECHANISMS)[number];

/** Where a LayerNorm sits: a block's temporal (temporal_norm1), spatial (norm1) or MLP (norm2) LayerNorm, or the final norm. */
export type LayerNormPlace = 'temporal' | 'spatial' | 'mlp' | 'final';

export interface SweepOptions {
  weights: string;
  precision?: Precision;
  layerNorm?: LayerNormMode;
  /** LayerNorms kept in FP32 on top of the mode (as run's --fix-layernorms). */
  layerNormOverrides?: Record<string, LayerNormMode>;
  accumulate?: Accumulate;
  ep?: EpChoice;
  /** Where the FP32 self-reference runs (default: where the engine runs; a single run's is the CPU EP's). */
  referenceEp?: EpChoice;
  /**
   * Where the blocks are compared with the self-reference: 'graph' (one graph holds both,
   * model/paired-graph.ts, a clip reads back kilobytes; needs the reference on the engine's EP) or
   * 'host' (two sessions, every block output read back and compared on threads). Default: 'graph'
   * on the WebGPU and CUDA EPs with the reference there, else 'host'.
   */
  compare?: 'graph' | 'host';
  /**
   * Clips a run of the paired graph (DEFAULT_GPU_BATCH, 8, on the WebGPU and CUDA EPs; 1 elsewhere): on a GPU a
   * batch amortizes each kernel's dispatch over several clips; each clip is still judged on its own rows.
   */
  batch?: number;
  tolerance?: number;
  heads?: number;
  prescaleShift?: number;
  mean?: number[];
  std?: number[];
  deviceId?: number;
  /** Re-run the set with the covering fix (default true). */
  confirm?: boolean;
}

/** One LayerNorm's statistics on one clip, from the FP32 run (inputs no 16-bit failure has damaged). */
export interface ClipLayerNorm {
  name: string;
  block: number | null;
  place: LayerNormPlace;
  /** max (x−mean)², max over rows of Σ(x−mean)², max over rows of |Σx|. */
  square: number;
  sumSquares: number;
  sumX: number;
  /** The mechanisms that pass their limit in this sweep's realization of a plain LayerNorm. */
  fires: SweepMechanism[];
}

export interface ClipError {
  code: LabErrorCode | 'INTERNAL';
  message: string;
}

export interface ClipResult {
  /** The clip as given (a path, or synthetic:SEED). */
  clip: string;
  /** Model hash + options + the clip's identity: a rerun skips clips whose key is already written. */
  key: string;
  status: 'done' | 'error';
  error?: ClipError;
  /** The input's label and shape (done clips). */
  label?: string;
  shape?: number[];
  reference?: 'self' | 'test-data';
  verdict?: 'pass' | 'fail';
  /** rel L2 per block, in block order. */
  blockErrors?: number[];
  worstBlock?: number;
  worstRelL2?: number;
  /** The first failing block (the diagnosis's firstBadBlock; null: none, or only the probabilities fail). */
  firstFailingBlock?: number | null;
  probsRelL2?: number;
  top1Agree?: boolean;
  /** The diagnosis's sentence. */
  sentence?: string;
  layerNorms?: ClipLayerNorm[];
  /** The LayerNorms that would fire on this clip (its own minimal fix). */
  fix?: string[];
  ms: number;
}

/** A clip's run with the covering fix (the confirmation). */
export interface ConfirmedClip {
  clip: string;
  key: string;
  fixKey: string;
  status: 'done' | 'error';
  error?: ClipError;
  verdict?: 'pass' | 'fail';
  worstBlock?: number;
  worstRelL2?: number;
  firstFailingBlock?: number | null;
  ms: number;
}

export interface MechanismHeadroom {
  /** The largest value over the set, and the clip it came from (null: no clip measured). */
  max: number;
  clip: string | null;
  /** 65504 / max: how many times the worst clip's value fits under FP16's largest number (null when max is 0). */
  factor: number | null;
  /** Whether this realization of a plain LayerNorm can overflow by this mechanism at all (16-bit accumulation for the sums). */
  applies: boolean;
}

export interface LayerNormHeadroom {
  name: string;
  block: number | null;
  place: LayerNormPlace;
  square: MechanismHeadroom;
  sumSquares: MechanismHeadroom;
  sumX: MechanismHeadroom;
  /** The smallest factor over the mechanisms that apply (null: none applies or every value is 0). */
  factor: number | null;
  /** The clips that come closest (smallest factor over the applying mechanisms), closest first, at most 3. */
  closest: { clip: string; factor: number | null }[];
  /** Clips on which it fires. */
  firesOn: string[];
}

export interface SweepResult {
  version: typeof SWEEP_VERSION;
  tool: 'timesformer-precision-lab';
  createdAt: string;
  weights: string;
  modelSha256: string;
  options: {
    precision: Precision;
    layerNorm: LayerNormMode;
    layerNormOverrides: Record<string, LayerNormMode>;
    accumulate: Accumulate;
    ep: EpChoice;
    referenceEp: EpChoice;
    /** Where the blocks were compared with the self-reference (SweepOptions.compare; per-clip test data is always compared on the host). */
    compare: 'graph' | 'host';
    tolerance: number;
    heads: number;
    prescaleShift: number;
  };
  /** The engine that ran (known once a clip ran). */
  engine: { ep: EpName; realization: Realization; label: string } | null;
  /** Every clip given, done ones ranked worst first (largest worst block error), then the bad ones. */
  clips: ClipResult[];
  /** Per LayerNorm over the done clips, in graph order. */
  headroom: LayerNormHeadroom[];
  fix: {
    /** The union of what fires on any clip: the LayerNorms to keep in FP32 (empty: none needed). */
    layerNorms: string[];
    /** Per LayerNorm of the fix, the clips that need it. */
    neededBy: Record<string, string[]>;
    /** The set re-run with the fix (null: not run — nothing to fix, --no-confirm, cancelled, or another mode than plain). */
    confirmed: { verdict: 'pass' | 'fail'; clips: ConfirmedClip[] } | null;
    /** Why confirmed is null, in words; or, beside it, that the sweep's own runs already had the fix (--fix-layernorms). */
    note?: string;
  };
  summary: { clips: number; done: number; passed: number; failed: number; bad: number; skipped: number; verdict: 'pass' | 'fail' | 'incomplete' };
  cancelled: boolean;
  /** readBackBytesPerClip: what the engine(s) returned per clip, on average (graph: kilobytes; host: every block output of both runs). */
  timings: {
    totalMs: number; clipsPerSecond: number; sessionsBuilt: number; peakRssBytes: number; readBackBytesPerClip: number; batch: number;
    /** Paired graph: milliseconds in its runs (all clips, outputs read back included) and judging its clips on the host (runMode on their rows). */
    pairedRunMs?: number; judgeMs?: number;
    /** Peak resident memory of the GPU helper process that held the paired sessions (a process of its own: not in peakRssBytes). */
    helperPeakRssBytes?: number;
  };
}
