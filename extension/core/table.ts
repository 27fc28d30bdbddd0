/** The seed-style text table of a Report, for the CLI and the output channel. Pure. */
import type { Report } from './report';

const e = (x: number) => (Number.isFinite(x) ? x.toExponential(2) : String(x));

export function formatTable(r: Report): string {
  const lines: string[] = [];
  const heads = `${r.config.heads} heads${r.config.headsSource === 'option' ? '' : ` (${r.config.headsSource})`}`;
  lines.push(`${r.run.label} — LayerNorm ${r.run.layerNorm} — ${heads}`);
  lines.push(`reference: ${r.inputs.reference.label}; input: ${r.inputs.input.label}`);
  for (const f of r.run.fallbacks) lines.push(`  fallback: ${f.ep}: ${f.reason}`);
  lines.push('block   rel L2     max abs    cosine     LayerNorm overflow');
  for (const b of r.blocks) {
    const ov = b.layerNorms.filter((l) => l.overflowed).map((l) => `${l.name.replace(/^blocks\.\d+\./, '')} (ch ${l.topChannels[0]?.channel}, ${l.overFp16Count} > 65504)`);
    const mark = b.jump ? ' <-- jump' : '';
    lines.push(`${String(b.index).padEnd(7)} ${e(b.relL2).padEnd(10)} ${e(b.maxAbs).padEnd(10)} ${b.cosine.toFixed(6).padEnd(10)} ${ov.join(', ') || '-'}${mark}`);
  }
  if (r.probs.kind === 'features') {
    lines.push(`final   ${e(r.probs.relL2).padEnd(10)} ${e(r.probs.maxAbs).padEnd(10)} final LayerNorm, class token (no classifier: no probabilities)`);
  } else {
    const name = (i: number, label?: string) => (label ? `${i} "${label}"` : String(i));
    lines.push(`probs   ${e(r.probs.relL2).padEnd(10)} ${e(r.probs.maxAbs).padEnd(10)} top-1 ${name(r.probs.top1, r.probs.top1Label)} (ref ${name(r.probs.refTop1, r.probs.refTop1Label)}) ${r.probs.top1Agree ? 'agrees' : 'DIFFERS'}`);
  }
  lines.push(`verdict: ${r.diagnosis.verdict.toUpperCase()} — ${r.diagnosis.sentence}`);
  if (r.diagnosis.trtexec && r.diagnosis.verdict === 'fail') lines.push(`trtexec: ${r.diagnosis.trtexec}`);
  return lines.join('\n');
}
