/**
 * Two Report JSON files (the CLI's --json: one Report or an array of them, one per mode) side by
 * side: per-block rel L2, the probabilities' and the verdict, and whether every number of the
 * stripped Reports (reports-golden.ts's stripReport: no times, dates, memory or paths) is equal.
 * For issue 18's full-size check: the baseline18-*.json of scripts/device/device-checks.sh from main and
 * from the refactor.   node out/test/tools/compare-reports.js BEFORE.json AFTER.json
 * Exit 0 when the stripped Reports are equal, 1 when they differ, 2 on bad arguments.
 */
import * as fs from 'fs';
import { isDeepStrictEqual } from 'util';
import { parseReportJson, type Report } from '../../extension/core/report';
import { stripReport } from '../unit/helpers/reports-golden';

function reports(file: string): Report[] {
  const v = parseReportJson<Report | Report[]>(fs.readFileSync(file, 'utf8'));
  return Array.isArray(v) ? v : [v];
}

function main(): number {
  const [a, b] = process.argv.slice(2);
  if (!a || !b) {
    console.error('usage: compare-reports BEFORE.json AFTER.json');
    return 2;
  }
  const ra = reports(a);
  const rb = reports(b);
  let same = ra.length === rb.length;
  if (!same) console.log(`${ra.length} Report(s) vs ${rb.length}`);
  const e = (x: number | undefined) => (x === undefined ? '-' : x.toExponential(6));
  for (let i = 0; i < Math.min(ra.length, rb.length); i++) {
    const [x, y] = [ra[i], rb[i]];
    console.log(`mode ${i + 1}: ${x.run.label} LayerNorm ${x.run.layerNorm} | ${y.run.label} LayerNorm ${y.run.layerNorm}`);
    for (let k = 0; k < Math.max(x.blocks.length, y.blocks.length); k++) {
      const [p, q] = [x.blocks[k]?.relL2, y.blocks[k]?.relL2];
      console.log(`  block ${k}: ${e(p)} ${e(q)}${Object.is(p, q) ? '' : '  DIFFERS'}`);
    }
    console.log(`  probs: ${e(x.probs.relL2)} ${e(y.probs.relL2)}${Object.is(x.probs.relL2, y.probs.relL2) ? '' : '  DIFFERS'}`);
    console.log(`  verdict: ${x.diagnosis.verdict} ${y.diagnosis.verdict}; total ${x.run.timings.totalMs.toFixed(0)} ms vs ${y.run.timings.totalMs.toFixed(0)} ms, warm run ${x.run.timings.warmRunMs?.toFixed(1) ?? '-'} ms vs ${y.run.timings.warmRunMs?.toFixed(1) ?? '-'} ms`);
    const eq = isDeepStrictEqual(stripReport(x, '/nonexistent'), stripReport(y, '/nonexistent'));
    console.log(`  stripped Reports ${eq ? 'equal' : 'differ'}`);
    same &&= eq;
  }
  return same ? 0 : 1;
}

process.exitCode = main();
