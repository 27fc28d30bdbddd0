/** What the trtexec tests share: the fixtures, the stand-in trtexec, and waiting on processes and the environment. */
import * as path from 'path';

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
/** The stand-in's environment for one call (the core passes process.env to trtexec). */
export async function withEnv<T>(env: Record<string, string>, f: () => Promise<T>): Promise<T> {
  const old = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return await f();
  } finally {
    for (const [k, v] of Object.entries(old)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}
