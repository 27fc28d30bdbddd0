/** A request's peak memory in the long-lived engine process is its own (core/peak-rss.ts). */
import { strict as assert } from 'assert';
import { execFileSync } from 'child_process';
import * as path from 'path';

const MODULE = path.join(__dirname, '..', '..', 'extension', 'core', 'peak-rss.js');

describe('peak RSS per request (core/peak-rss.ts)', () => {
  it('after a reset, the peak is what came after it, not an earlier request\'s 256 MiB', function () {
    if (process.platform !== 'linux') this.skip();
    const script = `
      const { resetPeakRss, peakRssBytes } = require(${JSON.stringify(MODULE)});
      let big = Buffer.alloc(256 * 2 ** 20, 1);
      const during = peakRssBytes();
      big = undefined; global.gc();
      const reset = resetPeakRss();
      const after = peakRssBytes();
      process.stdout.write(JSON.stringify({ during, reset, after }));`;
    const r = JSON.parse(execFileSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' })) as { during: number; reset: boolean; after: number };
    assert.equal(r.reset, true);
    assert.ok(r.during > 256 * 2 ** 20, `the 256 MiB counted: ${r.during}`);
    assert.ok(r.after < r.during - 200 * 2 ** 20, `the earlier peak is gone: ${(r.after / 2 ** 20).toFixed(0)} MiB after, ${(r.during / 2 ** 20).toFixed(0)} MiB before`);
  });
});
