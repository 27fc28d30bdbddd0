/**
 * Writes test/fixtures/reports-golden/*.json: the golden Reports (test/unit/helpers/reports-golden.ts)
 * from the code as it is now. Run on the code a refactor starts from, commit, then refactor:
 * test/unit/reports-golden.test.ts asks every later build for the same Reports, bit for bit.
 *   npm run build:core && node out/test/tools/gen-reports-golden.js [case-name…]
 */
import * as fs from 'fs';
import { CASES, GOLDEN_DIR, goldenFile, goldenText, runCase } from '../unit/helpers/reports-golden';

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  fs.mkdirSync(GOLDEN_DIR, { recursive: true });
  for (const c of CASES.filter((x) => !only.length || only.includes(x.name))) {
    const t = performance.now();
    const r = await runCase(c);
    fs.writeFileSync(goldenFile(c), goldenText(r));
    const what = r.error ? `error ${r.error.code}` : `${r.reports!.length} report(s)`;
    console.log(`${c.name}: ${what} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
