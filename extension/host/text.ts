/**
 * Words the user reads, decided in one place for the host and the webviews (pure: no `vscode`, no
 * DOM): the fixes' titles (the sidebar's buttons and the palette's pick), the LayerNorm modes'
 * help for the chosen precision, and the inspector's note on what its LayerNorm counts mean in
 * the run's realization.
 *
 * Text from files (names, keys, dtype strings, error details) shown by VS Code's own widgets must
 * stay text. Notifications turn `[label](command:…)` / `(https:…)` / `(file:…)` into clickable links
 * (VS Code's parseLinkedText), and quick picks and the status bar turn `$(name)` into icons. A zero-width space
 * after `]` and after `$` breaks both patterns while the text reads exactly the same. Webviews need
 * nothing: they set text with textContent, never as HTML.
 */
import type { Precision, Report } from '../core/report';
import { minimalFixTitle, type FixMode, type LayerNormChoice } from './protocol';

const ZWSP = '\u200b';

/** The text as plain text for notifications, quick picks and the status bar. */
export function plain(text: string): string {
  return text.replace(/\]\s*\(/g, (m) => `]${ZWSP}${m.slice(1)}`).replace(/\$\(/g, `$${ZWSP}(`);
}

/** What a user reads (the zero-width spaces removed): for tests and logs. */
export function visible(text: string): string {
  return text.split(ZWSP).join('');
}

/** A fix's title, the same on the sidebar's button and in the palette: "Fix: only the 25 overflowing LayerNorms in FP32", "Fix: FP32 LayerNorm", … */
export function fixLabel(mode: FixMode, minimalCount: number): string {
  if (mode === 'minimal') return minimalFixTitle(minimalCount);
  return { fp32: 'Fix: FP32 LayerNorm', fused: 'Fix: fused', prescaled: 'Fix: prescaled', expose: 'Fix: expose LayerNorm entries' }[mode];
}

/** What a LayerNorm mode does, for the precision chosen (only FP16 has a range to overflow). */
export function layerNormHelp(mode: LayerNormChoice, precision: Precision): string {
  const fp16 = precision === 'fp16';
  switch (mode) {
    case 'plain':
      return fp16 ? 'as exported: overflows in FP16 when (x−mean)² passes 65504'
        : `as exported (${precision.toUpperCase()} has FP32's range: nothing overflows)`;
    case 'expose':
      return 'difference/mean/std become outputs, computed in FP32 (the seed\'s workaround)';
    case 'fp32':
      return 'LayerNorm computed in FP32';
    case 'fused':
      return 'one LayerNormalization op, accumulated in FP32';
    case 'prescaled':
      return fp16 ? 'input scaled by 2⁻³ so (x−mean)² stays in range' : 'input scaled by 2⁻³ (for FP16\'s range; nothing to overflow here)';
    case 'minimal':
      return fp16 ? 'plain, with only the LayerNorms that overflow here in FP32 (read from an FP32 run)'
        : `plain (in ${precision.toUpperCase()} no LayerNorm overflows, so none is kept in FP32)`;
  }
}

/**
 * The inspector's note under its LayerNorm table: the "> 65504" counts are measured on the
 * statistics, so where this run does not square in FP16 they are what a plain FP16 LayerNorm
 * would overflow, not overflows of this run. Undefined for a plain FP16 run (the counts are its own).
 */
export function layerNormTableNote(r: Pick<Report, 'run'>): string | undefined {
  const { precision, layerNorm } = r.run;
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
