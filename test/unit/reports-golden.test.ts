/**
 * Issue 18's constraint: the same Reports, bit for bit, across the refactor of the pipeline. Each case
 * of helpers/reports-golden.ts (d1–d4 and the HF fixtures over the modes users run) is run again and
 * compared with its golden file, every number exactly (JSON's shortest round-trip form), with only
 * what changes from run to run stripped (times, dates, memory, absolute paths). A difference names
 * the case and the first paths that differ. Regenerate (on purpose only): test/tools/gen-reports-golden.ts.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import { CASES, goldenFile, goldenText, runCase } from './helpers/reports-golden';
import { parseReportJson } from '../../extension/core/report';

/** The first few paths where two JSON values differ (a readable failure before deepEqual's). */
function differences(a: unknown, b: unknown, at = '$', out: string[] = []): string[] {
  if (out.length >= 8) return out;
  if (typeof a !== typeof b || Array.isArray(a) !== Array.isArray(b) || (a === null) !== (b === null)) {
    out.push(`${at}: ${JSON.stringify(a)?.slice(0, 120)} vs ${JSON.stringify(b)?.slice(0, 120)}`);
  } else if (a && typeof a === 'object') {
    const ka = Object.keys(a as object);
    const kb = Object.keys(b as object);
    for (const k of new Set([...ka, ...kb])) differences((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${at}.${k}`, out);
  } else if (!Object.is(a, b)) {
    out.push(`${at}: ${JSON.stringify(a)?.slice(0, 120)} vs ${JSON.stringify(b)?.slice(0, 120)}`);
  }
  return out;
}

describe('reports golden: the same Reports bit for bit on d1–d4 and the HF fixtures', function () {
  this.timeout(120_000);
  for (const c of CASES) {
    it(`${c.name}: ${c.o.precision ?? 'fp32'} ${c.modes.join(', ')}${c.helper ? ' (GPU helper process)' : ''}`, async () => {
      const file = goldenFile(c);
      assert.ok(fs.existsSync(file), `no golden file ${file}: run node out/test/tools/gen-reports-golden.js ${c.name}`);
      const want = parseReportJson<unknown>(fs.readFileSync(file, 'utf8'));
      const got = parseReportJson<unknown>(goldenText(await runCase(c)));
      const diff = differences(got, want);
      assert.deepEqual(diff, [], `${c.name} differs from ${file} (got vs golden)`);
      assert.deepStrictEqual(got, want);
    });
  }
});
