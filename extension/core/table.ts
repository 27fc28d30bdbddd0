/** The seed-style text table of a Report, for the CLI and the output channel. Pure. */
import type { LayerNormStats, Report } from './report';

const e = (x: number) => (Number.isFinite(x) ? x.toExponential(2) : String(x));

/** What overflowed in a LayerNorm, briefly: `temporal_norm1 (ch 21, 128 > 65504)`, `norm2 (Σ(x−mean)² 7.1e+4)`. */
function overflowTag(l: LayerNormStats): string {
  const short = l.name.replace(/^blocks\.\d+\./, '');
  const parts = (l.mechanisms ?? []).filter((m) => m.kind !== 'nonFiniteInput' && (m.fires || m.observed)).map((m) =>
    m.kind === 'square' ? `ch ${l.topChannels[0]?.channel}, ${l.overFp16Count} > 65504` : m.kind === 'sumSquares' ? `Σ(x−mean)² ${e(m.value)}` : `Σx ${e(m.value)}`);
  return `${short} (${parts.join('; ') || `ch ${l.topChannels[0]?.channel}, ${l.overFp16Count} > 65504`})`;
}

/** `choice`: the --layernorm value the run was asked for ('minimal' runs plain with overrides: it is labelled as what was asked). */
export function formatTable(r: Report, o: { choice?: string } = {}): string {
  const lines: string[] = [];
  const heads = `${r.config.heads} heads${r.config.headsSource === 'option' ? '' : ` (${r.config.headsSource})`}`;
  const over = Object.entries(r.run.layerNormOverrides ?? {});
  const names = (ns: string[]) => (ns.length > 4 ? `${ns.length} LayerNorms, ${ns.slice(0, 2).join(', ')} … ${ns[ns.length - 1]}` : ns.join(', '));
  const overText = over.length ? ` (${[...new Set(over.map(([, m]) => m))].map((m) => `${m}: ${names(over.filter(([, x]) => x === m).map(([n]) => n))}`).join('; ')})` : '';
  const ln = o.choice === 'minimal' ? `LayerNorm minimal fix${overText ? `${overText.slice(0, -1)}; the others ${r.run.layerNorm})` : ` (none overflows: all ${r.run.layerNorm})`}` : `LayerNorm ${r.run.layerNorm}${overText}`;
  lines.push(`${r.run.label} — ${ln} — ${heads}`);
  lines.push(`reference: ${r.inputs.reference.label}; input: ${r.inputs.input.label}`);
  for (const f of r.run.fallbacks) lines.push(`  fallback: ${f.ep}: ${f.reason}`);
  lines.push('block   rel L2     max abs    cosine     LayerNorm overflow');
  for (const b of r.blocks) {
    const ov = b.layerNorms.filter((l) => l.overflowed).map(overflowTag);
    const inf = b.layerNorms.filter((l) => !l.overflowed && l.inputNonFinite > 0).map((l) => `${l.name.replace(/^blocks\.\d+\./, '')} (inf/NaN in)`);
    ov.push(...inf);
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
  const mf = r.diagnosis.minimalFix;
  if (mf) {
    const c = mf.confirmed;
    lines.push(`minimal fix: ${mf.layerNorms.join(', ')} in FP32` + (c ? ` — one run: ${c.verdict.toUpperCase()}, worst block ${c.worstBlock} at ${e(c.worstRelL2)}` : ''));
  }
  if (r.diagnosis.trtexec && r.diagnosis.verdict === 'fail') lines.push(`trtexec: ${r.diagnosis.trtexec}`);
  return lines.join('\n');
}
