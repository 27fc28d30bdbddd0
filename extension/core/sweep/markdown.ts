/** SweepResult -> Markdown (sweep.md, the CLI's --out folder): verdict, clips worst first, headroom per LayerNorm, the covering fix. Pure. */
import { fmtNum, mdCode, mdText } from '../markdown';
import type { LayerNormHeadroom, MechanismHeadroom, SweepResult } from './types';

const factor = (f: number | null) => (f === null ? '—' : `${fmtNum(f)}×`);
const mech = (m: MechanismHeadroom) => (m.applies ? `${fmtNum(m.max)} (${factor(m.factor)})` : `${fmtNum(m.max)} (n/a)`);
const name = (clip: string) => mdCode(clip.split(/[\\/]/).pop() ?? clip);

export function sweepMarkdown(r: SweepResult): string {
  const s = r.summary;
  const o = r.options;
  const lines: string[] = [];
  lines.push('# TimeSformer sweep', '');
  lines.push(`**${s.verdict.toUpperCase()}** — ${s.passed} of ${s.done} clips pass, ${s.failed} fail${s.bad ? `, ${s.bad} could not be read` : ''}${r.cancelled ? ' (cancelled: the clips not listed were not run)' : ''}.`, '');
  lines.push(`Model ${mdCode(r.weights)} (sha256 ${r.modelSha256.slice(0, 12)}…), ${o.precision.toUpperCase()} LayerNorm ${o.layerNorm}${Object.keys(o.layerNormOverrides).length ? ` (+${Object.keys(o.layerNormOverrides).length} in FP32)` : ''}, ${mdText(r.engine?.label ?? o.ep)}; tolerance ${fmtNum(o.tolerance)}; ${o.heads} heads.`, '');
  lines.push('## Clips, worst first', '');
  lines.push('| # | clip | verdict | worst block | worst rel L2 | first failing | LayerNorms that overflow |', '|---|---|---|---|---|---|---|');
  r.clips.forEach((c, i) => {
    if (c.status !== 'done') {
      lines.push(`| ${i + 1} | ${name(c.clip)} | ERROR | | | | ${mdText(`${c.error?.code}: ${c.error?.message}`)} |`);
      return;
    }
    const first = c.firstFailingBlock === null || c.firstFailingBlock === undefined ? '—' : String(c.firstFailingBlock);
    lines.push(`| ${i + 1} | ${name(c.clip)} | ${c.verdict === 'pass' ? 'pass' : '**FAIL**'} | ${c.worstBlock} | ${fmtNum(c.worstRelL2 ?? NaN)} | ${first} | ${c.fix?.length ? mdText(c.fix.join(', ')) : '—'} |`);
  });
  lines.push('', '## Headroom per LayerNorm', '');
  const kept = Object.entries(r.options.layerNormOverrides).filter(([, m]) => m === 'fp32').length;
  lines.push(`The largest value over the set of each overflow mechanism, and 65504 / it (below 1×: it overflows a plain FP16 LayerNorm; n/a: this realization cannot overflow that way).${kept ? ` ${kept} LayerNorm(s) are kept in FP32 in this sweep (--fix-layernorms): they do not overflow in its engine.` : ''}`, '');
  lines.push('| LayerNorm | max (x−mean)² | max Σ(x−mean)² | max \\|Σx\\| | headroom | closest clips |', '|---|---|---|---|---|---|');
  for (const h of r.headroom) lines.push(headroomRow(h));
  lines.push('', '## The fix that covers every clip', '');
  const f = r.fix;
  if (!f.layerNorms.length) lines.push(mdText(f.note ?? 'No LayerNorm overflows on any clip.'));
  else {
    lines.push(`${f.layerNorms.length} LayerNorm(s) in FP32: ${f.layerNorms.map(mdCode).join(', ')}.`, '');
    if (f.confirmed) {
      const bad = f.confirmed.clips.filter((c) => c.verdict !== 'pass');
      const how = f.note ? 'the set run with them in FP32' : 'the set re-run with them in FP32';
      lines.push(f.confirmed.verdict === 'pass'
        ? `Confirmed: ${how} passes on all ${f.confirmed.clips.length} clips (worst ${fmtNum(Math.max(...f.confirmed.clips.map((c) => c.worstRelL2 ?? 0)))}).`
        : `Not enough: with them in FP32, ${bad.length} clip(s) still fail: ${bad.map((c) => name(c.clip)).join(', ')}.`);
      if (f.note) lines.push('', mdText(`(${f.note}.)`));
    } else lines.push(mdText(f.note ?? 'Not confirmed.'));
  }
  const t = r.timings;
  const how = r.options.compare === 'graph' ? `the engine and its FP32 reference as one graph (blocks compared inside it, ${t.batch} clip(s) a run)` : 'the engine and its FP32 reference as two sessions (blocks compared on the host)';
  lines.push('', `${fmtNum(t.totalMs / 1000)} s, ${fmtNum(t.clipsPerSecond)} clips/s, ${how}, ${t.sessionsBuilt} session(s) built, peak RSS ${Math.round(t.peakRssBytes / 2 ** 20)} MiB${s.skipped ? `; ${s.skipped} clip(s) resumed from an earlier run` : ''}.`, '');
  return lines.join('\n');
}

function headroomRow(h: LayerNormHeadroom): string {
  const closest = h.closest.map((c) => `${name(c.clip)} ${factor(c.factor)}`).join(', ') || '—';
  const head = h.factor === null ? '—' : h.factor < 1 ? `**${factor(h.factor)}**` : factor(h.factor);
  return `| ${mdCode(h.name)} | ${mech(h.square)} | ${mech(h.sumSquares)} | ${mech(h.sumX)} | ${head} | ${closest} |`;
}
