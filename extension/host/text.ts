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
import type { Report } from '../core/report';

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
export function layerNormTableNote(r: Pick<Report, 'run'>): string | undefined {
  const { precision, layerNorm } = r.run;
  // TensorRT gives no LayerNorm statistics of its own: the table is our FP32 run's, judged by its limits
  if (precision === 'fp16' && r.run.realization === 'tensorrt') {
    return `TensorRT gives no LayerNorm statistics of its own: these are our FP32 run's, judged by TensorRT's FP16 limits for the '${layerNorm}' export; ⚠ (△ in the graph) is a prediction, the engine's own values are not seen.`;
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
    case 'prescaled':
      return 'LayerNorm prescaled: the input is scaled by 2⁻³ first, so (x−mean)² overflows only past 65504 × 64; "> 65504" counts the values an unscaled FP16 LayerNorm would overflow.';
    default:
      return kept ? `Minimal fix: ${kept} LayerNorm${kept > 1 ? 's are' : ' is'} kept in FP32 in this run (their counts are what plain FP16 would overflow); the others are plain FP16, where "> 65504" overflows.` : undefined;
  }
}
