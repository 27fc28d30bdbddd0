/**
 * Across a set of clips: per LayerNorm, how far each overflow mechanism stays from FP16's 65504
 * (as a factor, 65504 / the largest value of any clip) and which clips come closest; the minimal
 * fix that covers every clip (the union of what fires on any); the clips ranked worst first. Pure.
 */
import { firingUnder } from '../compare/diagnosis';
import type { LnLimits } from '../model/realization';
import type { LayerNormStats } from '../report';
import { FP16_MAX } from '../tensor';
import { SWEEP_MECHANISMS, type ClipLayerNorm, type ClipResult, type LayerNormHeadroom, type LayerNormPlace, type MechanismHeadroom, type SweepMechanism } from './types';

export function placeOf(name: string): LayerNormPlace {
  if (name.endsWith('temporal_norm1')) return 'temporal';
  if (name.endsWith('norm1')) return 'spatial';
  if (name.endsWith('norm2')) return 'mlp';
  return 'final';
}

/** One clip's LayerNorm statistics (healthy: from the FP32 run) and what fires under `limits`. */
export function clipLayerNorms(stats: readonly LayerNormStats[], limits: LnLimits): ClipLayerNorm[] {
  return stats.map((s) => ({
    name: s.name, block: s.block, place: placeOf(s.name),
    square: s.maxSq, sumSquares: s.maxSumSq, sumX: s.maxAbsSum,
    fires: firingUnder(s, limits).map((f) => f.mechanism),
  }));
}

/** 65504 / value; null for a value of 0 (nothing to overflow); 0 for inf/NaN. */
export function factorOf(value: number): number | null {
  if (!Number.isFinite(value)) return 0;
  return value > 0 ? FP16_MAX / value : null;
}

const minFactor = (fs: (number | null)[]): number | null => fs.reduce<number | null>((m, f) => (f === null ? m : m === null ? f : Math.min(m, f)), null);

/** Per LayerNorm over the done clips, in the order the first clip lists them. */
export function headroomOf(clips: readonly ClipResult[], limits: LnLimits): LayerNormHeadroom[] {
  const done = clips.filter((c) => c.status === 'done' && c.layerNorms);
  const names: ClipLayerNorm[] = [];
  const seen = new Set<string>();
  for (const c of done) for (const l of c.layerNorms!) if (!seen.has(l.name)) (seen.add(l.name), names.push(l));
  const applies = (m: SweepMechanism) => limits[m] !== null;
  return names.map(({ name, block, place }) => {
    const per = done.map((c) => ({ clip: c.clip, l: c.layerNorms!.find((x) => x.name === name) })).filter((x): x is { clip: string; l: ClipLayerNorm } => !!x.l);
    const mech = (m: SweepMechanism): MechanismHeadroom => {
      let best: { clip: string; v: number } | undefined;
      for (const { clip, l } of per) if (!best || !(l[m] <= best.v)) best = { clip, v: l[m] };
      return { max: best?.v ?? 0, clip: best?.clip ?? null, factor: best ? factorOf(best.v) : null, applies: applies(m) };
    };
    const h = { square: mech('square'), sumSquares: mech('sumSquares'), sumX: mech('sumX') };
    const clipFactor = (l: ClipLayerNorm) => minFactor(SWEEP_MECHANISMS.filter(applies).map((m) => factorOf(l[m])));
    const closest = per.map(({ clip, l }) => ({ clip, factor: clipFactor(l) }))
      .filter((x) => x.factor !== null)
      .sort((a, b) => a.factor! - b.factor!)
      .slice(0, 3);
    return {
      name, block, place, ...h,
      factor: minFactor(SWEEP_MECHANISMS.filter(applies).map((m) => h[m].factor)),
      closest,
      firesOn: per.filter(({ l }) => l.fires.length).map(({ clip }) => clip),
    };
  });
}

/** The LayerNorms to keep in FP32 so that no clip overflows: the union of every clip's own fix, in graph order. */
export function coveringFix(clips: readonly ClipResult[]): { layerNorms: string[]; neededBy: Record<string, string[]> } {
  const neededBy: Record<string, string[]> = {};
  const order: string[] = [];
  for (const c of clips) {
    for (const l of c.layerNorms ?? []) if (!order.includes(l.name)) order.push(l.name);
    for (const n of c.fix ?? []) (neededBy[n] ??= []).push(c.clip);
  }
  const layerNorms = Object.keys(neededBy).sort((a, b) => rank(order, a) - rank(order, b));
  return { layerNorms, neededBy: Object.fromEntries(layerNorms.map((n) => [n, neededBy[n]])) };
}

const rank = (order: string[], n: string) => (order.includes(n) ? order.indexOf(n) : order.length);

/** Done clips worst first (failing before passing, then the largest worst block error), then the bad clips in the order given. */
export function rankClips(clips: readonly ClipResult[]): ClipResult[] {
  const done = clips.filter((c) => c.status === 'done');
  const bad = clips.filter((c) => c.status !== 'done');
  const err = (c: ClipResult) => (Number.isNaN(c.worstRelL2) ? Infinity : c.worstRelL2 ?? 0);
  done.sort((a, b) => Number(b.verdict === 'fail') - Number(a.verdict === 'fail') || err(b) - err(a) || a.clip.localeCompare(b.clip));
  return [...done, ...bad];
}
