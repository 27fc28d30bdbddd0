/** What the trtexec tests share: the fixtures, the stand-in trtexec, and waiting on processes (the environment for one call: env.ts). */
import * as path from 'path';

export { withEnv } from './env';

export const ROOT = path.join(__dirname, '..', '..', '..', '..');
export const FIX = path.join(ROOT, 'test', 'fixtures');
export const W = path.join(FIX, 'd1_outlier.pyth');
export const D = path.join(FIX, 'd1_outlier_test_data.p');
export const STANDIN = path.join(FIX, 'trt', 'trtexec-standin.js');

export const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
export async function until(f: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!f()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
