/**
 * Words the host decides (pure: no `vscode`): the inspector's note on what its LayerNorm counts
 * mean in the run's realization (the fixes' titles and the LayerNorm help, which the sidebar
 * renders too, are in protocol.ts, the one module the webviews share with the host).
 *
 * Text from files (names, keys, dtype strings, error details) shown by VS Code's own widgets must
 * stay text. Notifications turn `[label](command:…)` / `(https:…)` / `(file:…)` into clickable links
 * (VS Code's parseLinkedText), and quick picks and the status bar turn `$(name)` into icons. A zero-width space
 * after `]` and after `$` breaks both patterns while the text reads exactly the same. Webviews need
 * nothing: they set text with textContent, never as HTML.
 */
import type { LayerNormStats, Report } from '../core/report';

const ZWSP = '\u200b';

/** The text as plain text for notifications, quick picks and the status bar. */
export function plain(text: string): string {
  return text.replace(/\]\s*\(/g, (m) => `]${ZWSP}${m.slice(1)}`).replace(/\$\(/g, `$${ZWSP}(`);
}

/** What a user reads (the zero-width spaces removed): for tests and logs. */
export function visible(text: string): string {
  return text.split(ZWSP).join('');
}

/**
 * The inspector's note under its LayerNorm table: the "> 65504" counts are measured on the
 * statistics, so where this run does not square in FP16 they are what a plain FP16 LayerNorm
 * would overflow, not overflows of this run. Undefined for a plain FP16 run (the counts are its own).
 */
export function layerNormTableNote(r: Pick<Report, 'run' | 'blocks' | 'finalNorm'>): string | undefined {
  const { precision, layerNorm } = r.run;
  const stats = [...r.blocks.flatMap((b) => b.layerNorms), ...(r.finalNorm ? [r.finalNorm] : [])];
  // An engine that gives no LayerNorm statistics of its own (TensorRT; a run without statistics
  // outputs): the table is our FP32 run's, judged by this engine's limits (the graph's hollow marks)
  if (precision === 'fp16' && stats.some((l) => l.source === 'fp32-probe')) {
    const prediction = '⚠ (△ in the graph) is a prediction, the engine\'s own values are not seen.';
    return r.run.realization === 'tensorrt'
      ? `TensorRT gives no LayerNorm statistics of its own: these are our FP32 run's, judged by TensorRT's FP16 limits for the '${layerNorm}' export; ${prediction}`
      : `This engine was built without LayerNorm statistics outputs: these are our FP32 run's, judged by this engine's FP16 limits for LayerNorm '${layerNorm}'; ${prediction}`;
  }
  const kept = Object.values(r.run.layerNormOverrides ?? {}).filter((m) => m !== layerNorm).length;
  const would = '"> 65504" counts the values a plain FP16 LayerNorm would overflow';
  if (precision !== 'fp16') return `${precision.toUpperCase()} keeps FP32's range: nothing overflows in this run; ${would}.`;
  switch (layerNorm) {
    case 'expose':
      return `LayerNorm expose: the difference, mean and std are graph outputs, computed and kept in FP32 in this run; ${would} — none overflowed here.`;
    case 'fp32':
      return `LayerNorm fp32: every LayerNorm is computed in FP32 in this run; ${would} — none overflowed here.`;
    case 'fused':
      return `LayerNorm fused: one LayerNormalization op with FP32 internals in this run; ${would} — none overflowed here.`;
    case 'prescaled': {
      const k = prescaleShiftOf(stats);
      const by = k === undefined ? 'by 2⁻ᵏ (--prescale-shift)' : `by 2^-${k}`;
      const past = k === undefined ? '65504 × 4ᵏ' : `65504 × ${4 ** k}`;
      return `LayerNorm prescaled: the input is scaled ${by} first, so (x−mean)² overflows only past ${past}; "> 65504" counts the values an unscaled FP16 LayerNorm would overflow.`;
    }
    default:
      return kept ? `Minimal fix: ${kept} LayerNorm${kept > 1 ? 's are' : ' is'} kept in FP32 in this run (their counts are what plain FP16 would overflow); the others are plain FP16, where "> 65504" overflows.` : undefined;
  }
}

/** k of a prescaled run's 2^-k, read back from its square limit (65504 · 4^k); undefined when none says. */
function prescaleShiftOf(stats: readonly LayerNormStats[]): number | undefined {
  for (const l of stats) {
    if (l.mode !== 'prescaled') continue;
    const limit = l.mechanisms.find((m) => m.kind === 'square')?.limit;
    if (!limit) continue;
    const k = Math.round(Math.log(limit / 65504) / Math.log(4));
    if (k >= 0 && Math.abs(65504 * 4 ** k - limit) <= 1e-6 * limit) return k;
  }
  return undefined;
}
