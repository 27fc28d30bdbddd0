/** Report -> Markdown summary, and the compact number format every view shares. Pure. */
import type { LayerNormStats, Report } from './report';
export { reportToJson } from './report';

/** Compact number: `digits` significant digits, exponent outside [1e-2, 1e4), inf/NaN spelled out. */
export function fmtNum(x: number, digits = 3): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return '0';
  const a = Math.abs(x);
  return a >= 1e-2 && a < 1e4 ? String(Number(x.toPrecision(digits))) : x.toExponential(digits - 1);
}

/** Line breaks (\r\n, \n, \r, and Unicode's) as spaces: a file name never ends a table row or starts a heading. */
const oneLine = (s: string) => s.replace(/\r\n|[\r\n\u2028\u2029]/g, ' ');

/**
 * Text taken from files or the user (paths, labels, messages) as Markdown that shows it as typed:
 * on one line, Markdown's punctuation escaped (`*`, `_`, `[`, `<`…: never emphasis, links or HTML)
 * and `|` escaped, so that a table row keeps its columns.
 */
export function mdText(s: string): string {
  return oneLine(s).replace(/[\\`*_[\]<>|~]/g, '\\$&');
}

/**
 * Text as a code span: fenced by more backticks than any run inside it (a backtick in a file name
 * does not end it), `|` escaped (GFM tables read `\|` as `|` inside code spans too), on one line.
 */
export function mdCode(s: string): string {
  const flat = oneLine(s);
  const fence = '`'.repeat(Math.max(0, ...(flat.match(/`+/g) ?? []).map((r) => r.length)) + 1);
  const pad = flat.startsWith('`') || flat.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${flat.replace(/\|/g, '\\|')}${pad}${fence}`;
}

function lnRow(l: LayerNormStats): string {
  const top = l.topChannels[0];
  const hits = (l.mechanisms ?? []).filter((m) => m.wouldHit).map((m) => `${m.kind}${m.fires || m.observed ? (m.observed ? ' (seen)' : ' (fires)') : ' (not exposed)'}`).join(', ') || '–';
  return `| ${mdCode(l.name)} | ${l.mode ?? ''} | ${fmtNum(l.maxSq)} | ${l.overFp16Count} | ${fmtNum(l.maxSumSq)} | ${fmtNum(l.maxAbsSum)} | ${l.infCount} | ${l.nanCount} | ${top ? `${top.channel} (${fmtNum(top.maxAbs)})` : '–'} | ${hits} | ${l.overflowed ? '**yes**' : 'no'} |`;
}

export function reportToMarkdown(r: Report): string {
  const c = r.config;
  const out: string[] = [];
  out.push(`# TimeSformer precision report — ${r.diagnosis.verdict === 'pass' ? 'PASS' : 'FAIL'}`, '');
  out.push(mdText(r.diagnosis.sentence), '');
  out.push('| | |', '|---|---|');
  out.push(`| Run | ${mdText(r.run.label)} |`);
  out.push(`| LayerNorm mode | \`${r.run.layerNorm}\`${Object.keys(r.run.layerNormOverrides ?? {}).length ? `, overridden: ${Object.entries(r.run.layerNormOverrides).map(([n, m]) => `${mdCode(n)} ${m}`).join(', ')}` : ''} |`);
  out.push(`| Accumulation | ${r.run.accumulate ?? 'fp32'} |`);
  out.push(`| Execution provider | ${r.run.ep}${r.run.requestedEp !== r.run.ep ? ` (asked for ${r.run.requestedEp})` : ''} |`);
  out.push(`| Checkpoint | ${mdCode(r.inputs.weights)} (${mdText(r.inputs.weightsFormat)}, ${mdText(r.inputs.weightsDtype)}) |`);
  out.push(`| Reference | ${mdText(r.inputs.reference.label)} |`);
  out.push(`| Input | ${mdText(r.inputs.input.label)} (${r.inputs.input.shape.join('×')}) |`);
  out.push(`| Model | ${c.depth} blocks, width ${c.embedDim}, ${c.heads} heads (${c.headsSource}), ${c.frames} frames of ${c.imageSize}², patch ${c.patchSize}, ${c.numClasses} classes |`);
  out.push(`| Tolerance | ${fmtNum(r.tolerance)} (rel L2 of the patch tokens per block; ${r.toleranceSource === 'option' ? 'as given' : `the default for ${r.run.precision.toUpperCase()}`}) |`);
  out.push(`| Probabilities | rel err ${fmtNum(r.probs.relL2)}, top-1 ${r.probs.top1} vs reference ${r.probs.refTop1} (${r.probs.top1Agree ? 'agrees' : 'differs'}) |`);
  out.push(`| Time | ${(r.run.timings.totalMs / 1000).toFixed(2)} s |`);
  out.push(`| Created | ${mdText(r.createdAt)} |`, '');
  for (const f of r.run.fallbacks) out.push(`- Fallback from ${f.ep}: ${mdText(f.reason)}`);
  if (r.run.fallbacks.length) out.push('');

  out.push('## Blocks', '', '| block | rel L2 | max abs | cosine | status | overflowed LayerNorms |', '|---:|---:|---:|---:|---|---|');
  for (const b of r.blocks) {
    const over = b.layerNorms.filter((l) => l.overflowed).map((l) => mdCode(l.name)).join(', ') || '–';
    out.push(`| ${b.index}${b.jump ? ' ⚑' : ''} | ${fmtNum(b.relL2)} | ${fmtNum(b.maxAbs)} | ${b.cosine.toFixed(5)} | ${b.passed ? 'pass' : '**FAIL**'} | ${over} |`);
  }
  out.push('');

  const risky = [...r.blocks.flatMap((b) => b.layerNorms), ...(r.finalNorm ? [r.finalNorm] : [])].filter((l) => l.overflowed || (l.mechanisms ?? []).some((m) => m.wouldHit));
  if (risky.length) {
    out.push('## LayerNorms past FP16 range', '',
      'Mechanisms: `square` one (x−mean)² > 65504; `sumSquares` Σ(x−mean)² (C × variance) > 65504 in a 16-bit accumulator; `sumX` |Σx| > 65504; `nonFiniteInput` inf/NaN in the input. "fires": this engine\'s realization is exposed and the value passes its limit.', '',
      '| LayerNorm | mode | max (x−mean)² | values > 65504 | max Σ(x−mean)² | max \\|Σx\\| | inf | NaN | top channel (max abs) | would hit | overflowed |', '|---|---|---:|---:|---:|---:|---:|---:|---|---|---|');
    out.push(...risky.map(lnRow), '');
  }
  if (r.diagnosis.causes?.length) out.push('## Causes at or before the first failing block', '', ...r.diagnosis.causes.map((c) => `- ${mdText(c.text)} (${c.evidence})`), '');
  if (r.diagnosis.candidates?.length) out.push('## Candidates (nothing measured explains the failure)', '', ...r.diagnosis.candidates.map((c) => `- ${mdText(c.text)}`), '');
  if (r.diagnosis.fixes.length) out.push(`Fixes: ${r.diagnosis.fixes.map((f) => `\`${f}\``).join(', ')}${r.diagnosis.accumulateFix ? ', or `--accumulate fp32`' : ''}.`, '');
  const mf = r.diagnosis.minimalFix;
  if (mf) {
    out.push(`Minimal fix: ${mf.layerNorms.map(mdCode).join(', ')} in FP32${mf.confirmed ? ` — confirmed by one run: ${mf.confirmed.verdict}, worst ${fmtNum(mf.confirmed.worstRelL2)} at block ${mf.confirmed.worstBlock}` : ''}.`, '');
  }
  if (r.diagnosis.trtexec) out.push('TensorRT, keeping the LayerNorms its FP16 would overflow in FP32:', '', '```', r.diagnosis.trtexec, '```', '');
  return out.join('\n');
}
