/**
 * Tabulates a full-size check (scripts/device/fullsize-check.sh): every CLI Report in a folder, and
 * PyTorch's own fp16/bf16 errors when make_test_data.py wrote them, into one JSON and a Markdown
 * table — per run, each block's rel L2, the verdict and what was named; our error against the CPU
 * emulation's and against PyTorch fp16's; the minimal fix; the statistics' effect on the numbers;
 * and the per-clip time of fp32 vs fp16 accumulation on WebGPU.
 *
 *   node out/scripts/device/fullsize-table.js --dir REPORTS_DIR [--torch torch_errors.json] --json OUT.json --md OUT.md
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseArgs } from 'util';
import { parseReportJson, type Report } from '../../extension/core/report';

export interface Row {
  id: string;
  file: string;
  ep: string;
  realization: string;
  precision: string;
  accumulate: string;
  layerNorm: string;
  /** 'minimal' when run with the minimal fix's overrides. */
  variant: string;
  stats: boolean;
  reference: string;
  blocks: number[];
  probs: number;
  verdict: string;
  firstBadBlock: number | null;
  jumpBlock: number | null;
  named: string;
  minimalFix?: { layerNorms: string[]; confirmed?: string };
  warmRunMs?: number;
  runMs: number;
}

interface TorchErrors {
  precisions?: Record<string, { blocks?: number[]; final?: number; error?: string }>;
  device_name?: string;
  torch?: string;
}

export function rowsOf(file: string, reports: Report[]): Row[] {
  return reports.map((r) => {
    const over = Object.keys(r.run.layerNormOverrides ?? {}).length;
    const variant = over ? `minimal (${over} in FP32)` : r.run.layerNorm;
    const c = r.diagnosis.causes?.[0];
    const named = c ? `${c.mechanism} at ${c.layerNorm} (${c.evidence})` : r.diagnosis.candidates?.length ? `candidates: ${r.diagnosis.candidates.map((x) => x.kind).join(', ')}` : '';
    const mf = r.diagnosis.minimalFix;
    return {
      id: `${file}:${variant}${r.run.extraOutputs === 0 && r.run.ep !== 'tensorrt' ? ':no-stats' : ''}`,
      file, ep: r.run.ep, realization: r.run.realization, precision: r.run.precision, accumulate: r.run.accumulate ?? 'fp32',
      layerNorm: r.run.layerNorm, variant, stats: r.run.extraOutputs > 0, reference: r.inputs.reference.kind,
      blocks: r.blocks.map((b) => b.relL2), probs: r.probs.relL2, verdict: r.diagnosis.verdict, firstBadBlock: r.diagnosis.firstBadBlock,
      jumpBlock: r.diagnosis.jumpBlock ?? null, named,
      minimalFix: mf && { layerNorms: mf.layerNorms, confirmed: mf.confirmed && `${mf.confirmed.verdict}, worst ${mf.confirmed.worstRelL2.toExponential(2)} at block ${mf.confirmed.worstBlock}` },
      warmRunMs: r.run.timings.warmRunMs, runMs: r.run.timings.runMs,
    };
  });
}

const e = (x: number | undefined) => (x === undefined ? '–' : Number.isFinite(x) ? x.toExponential(1) : String(x));

export function tabulate(rows: Row[], torch?: TorchErrors): { md: string; checks: Record<string, unknown> } {
  const out: string[] = [];
  const depth = Math.max(0, ...rows.map((r) => r.blocks.length));
  const head = `| run | ${Array.from({ length: depth }, (_, i) => `b${i}`).join(' | ')} | probs | verdict | named | warm ms |`;
  const sep = `|---|${'---:|'.repeat(depth)}---:|---|---|---:|`;
  out.push('## Per-block rel L2 (patch tokens) against the reference', '', head, sep);
  for (const r of rows) {
    const verdict = r.verdict === 'pass' ? 'PASS' : `FAIL at ${r.firstBadBlock ?? 'probs'}${r.jumpBlock !== null ? ` (jump ${r.jumpBlock})` : ''}`;
    out.push(`| ${r.id} (${r.ep}, ${r.precision} ${r.realization}${r.precision !== 'fp32' ? `, ${r.accumulate} acc` : ''}, ref ${r.reference}) | ${r.blocks.map(e).join(' | ')} | ${e(r.probs)} | ${verdict} | ${r.named} | ${r.warmRunMs?.toFixed(1) ?? '–'} |`);
  }
  const pt = torch?.precisions ?? {};
  for (const [p, v] of Object.entries(pt)) {
    if (v.blocks) out.push(`| PyTorch ${p} (${torch?.device_name ?? 'GPU'}, vs its fp32) | ${v.blocks.map(e).join(' | ')} | ${e(v.final)} | – | – | – |`);
    else out.push(`| PyTorch ${p} | ${v.error ?? 'no data'} |`);
  }
  out.push('');

  const checks: Record<string, unknown> = {};
  const find = (f: (r: Row) => boolean) => rows.filter(f);
  // by the call's name (gpu_*, cpu_*): the EP column says where it really ran (a GPU call may fall back)
  const gpu16 = (acc: string) => find((r) => r.file.startsWith('gpu_') && r.precision === 'fp16' && r.accumulate === acc && r.reference === 'self' && r.stats);
  const cpu16 = find((r) => r.file.startsWith('cpu_') && r.precision === 'fp16' && r.accumulate === 'fp32' && r.reference === 'self');
  const cpuFp32Ln = cpu16.find((r) => r.variant === 'fp32');
  // 1. every fix on the GPU, fp32 accumulation: PASS, within 1.5x the CPU emulation's error (same mode; else LayerNorm in FP32)
  const fixes = gpu16('fp32').filter((r) => r.layerNorm !== 'plain' || r.variant.startsWith('minimal'));
  if (fixes.length) {
    out.push('## FP16 fixes on the GPU (fp32 accumulation) against the CPU emulation', '');
    out.push('| run | verdict | worst block error | CPU emulation compared with | max ratio per block | ≤ 1.5× |', '|---|---|---:|---|---:|---|');
    checks.fixes = fixes.map((r) => {
      const cpu = cpu16.find((c) => c.variant === r.variant) ?? cpuFp32Ln;
      const ratio = cpu ? Math.max(...r.blocks.map((b, i) => b / cpu.blocks[i])) : undefined;
      const ok = r.verdict === 'pass' && ratio !== undefined && ratio <= 1.5;
      out.push(`| ${r.id} | ${r.verdict} | ${e(Math.max(...r.blocks))} | ${cpu ? `${cpu.variant} (worst ${e(Math.max(...cpu.blocks))})` : 'no CPU run'} | ${ratio?.toFixed(2) ?? '–'} | ${ok ? 'yes' : '**no**'} |`);
      return { id: r.id, verdict: r.verdict, comparedWith: cpu?.id, maxRatio: ratio, ok };
    });
    out.push('');
  }
  // 2. plain: where it fails and what is named there
  const plains = find((r) => r.layerNorm === 'plain' && !r.variant.startsWith('minimal') && r.precision === 'fp16');
  if (plains.length) {
    out.push('## Plain LayerNorm: the first failing block and its named cause', '');
    for (const r of plains) out.push(`- ${r.id}: ${r.verdict === 'pass' ? 'PASS' : `fails at block ${r.firstBadBlock}`}; ${r.named || 'nothing named'}` +
      (r.minimalFix ? `; minimal fix ${r.minimalFix.layerNorms.length} LayerNorm(s) (${r.minimalFix.layerNorms.slice(0, 4).join(', ')}${r.minimalFix.layerNorms.length > 4 ? ', …' : ''}), one run: ${r.minimalFix.confirmed ?? 'not run'}` : ''));
    out.push('');
    checks.plain = plains.map((r) => ({ id: r.id, firstBadBlock: r.firstBadBlock, named: r.named, minimalFix: r.minimalFix }));
  }
  // 3. our error / PyTorch fp16's, per block
  const torch16 = pt.fp16?.blocks;
  if (torch16) {
    out.push('## Our error / PyTorch fp16\'s, per block', '', `| run | ${Array.from({ length: torch16.length }, (_, i) => `b${i}`).join(' | ')} |`, `|---|${'---:|'.repeat(torch16.length)}`);
    for (const r of [...fixes, ...(cpuFp32Ln ? [cpuFp32Ln] : [])]) out.push(`| ${r.id} | ${r.blocks.map((b, i) => (b / torch16[i]).toFixed(2)).join(' | ')} |`);
    out.push('');
  }
  // 4. statistics on or off: the same numbers
  const pairs = find((r) => !r.stats).map((n) => [n, rows.find((s) => s.stats && s.ep === n.ep && s.precision === n.precision && s.accumulate === n.accumulate && s.variant === n.variant && s.reference === n.reference)] as const)
    .filter((p): p is readonly [Row, Row] => !!p[1]);
  if (pairs.length) {
    out.push('## Statistics in the graph change nothing on the main path', '');
    checks.stats = pairs.map(([n, s]) => {
      const d = Math.max(...n.blocks.map((b, i) => Math.abs(b - s.blocks[i]) / Math.max(s.blocks[i], 1e-30)));
      out.push(`- ${s.variant} (${s.ep}, ${s.accumulate} acc): max relative difference of the block errors without/with statistics ${d.toExponential(1)}`);
      return { variant: s.variant, ep: s.ep, maxRelDiff: d };
    });
    out.push('');
  }
  // 5. speed of fp32 vs fp16 accumulation on the GPU
  const a32 = gpu16('fp32');
  const a16 = gpu16('fp16');
  const speed = a32.map((r) => [r, a16.find((x) => x.variant === r.variant)] as const).filter(([r, x]) => r.warmRunMs !== undefined && x?.warmRunMs !== undefined);
  if (speed.length) {
    out.push('## Per-clip time on the GPU: fp32 vs fp16 accumulation (median of warm runs)', '', '| LayerNorm | fp32 acc (ms) | fp16 acc (ms) | cost of fp32 accumulation |', '|---|---:|---:|---:|');
    checks.speed = speed.map(([r, x]) => {
      const ratio = r.warmRunMs! / x!.warmRunMs!;
      out.push(`| ${r.variant} | ${r.warmRunMs!.toFixed(1)} | ${x!.warmRunMs!.toFixed(1)} | ${ratio.toFixed(2)}× |`);
      return { variant: r.variant, fp32AccMs: r.warmRunMs, fp16AccMs: x!.warmRunMs, ratio };
    });
    out.push('');
  }
  // 6. fp16 accumulation: which accumulator failures were named
  const accNamed = a16.filter((r) => /^(sumSquares|sumX)/.test(r.named));
  checks.accumulatorNamed = accNamed.map((r) => ({ id: r.id, named: r.named }));
  return { md: out.join('\n'), checks };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { dir: { type: 'string' }, torch: { type: 'string' }, json: { type: 'string' }, md: { type: 'string' } } });
  if (!values.dir) throw new Error('--dir is required');
  const rows: Row[] = [];
  const ORDER = ['gpu_fp32', 'gpu_fp16_acc32', 'gpu_fp16_acc16', 'gpu_fp16_nostats', 'cpu_fp16_acc32', 'cpu_fp16_acc16', 'cpu_bf16'];
  const rank = (f: string) => (ORDER.indexOf(f.replace(/\.json$/, '')) + 1 || ORDER.length + 1);
  for (const f of fs.readdirSync(values.dir).filter((f) => f.endsWith('.json')).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))) {
    try {
      const v = parseReportJson<Report | Report[]>(fs.readFileSync(path.join(values.dir, f), 'utf8'));
      rows.push(...rowsOf(f.replace(/\.json$/, ''), Array.isArray(v) ? v : [v]));
    } catch (err) {
      process.stderr.write(`fullsize-table: ${f}: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
  const torch = values.torch && fs.existsSync(values.torch) ? (JSON.parse(fs.readFileSync(values.torch, 'utf8')) as TorchErrors) : undefined;
  const { md, checks } = tabulate(rows, torch);
  const doc = `# Full-size check\n\n${md}\n`;
  if (values.md) fs.writeFileSync(values.md, doc);
  if (values.json) fs.writeFileSync(values.json, JSON.stringify({ rows, torch: torch?.precisions, checks }, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 1));
  process.stdout.write(doc);
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`fullsize-table: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
