/**
 * The CLI run in this process as a user runs it (extension/cli.ts `main`), its stdout and stderr
 * captured: one helper for every test file that checks what the CLI prints and returns.
 */
import { main } from '../../../extension/cli';

export async function cli(args: string[]): Promise<{ code: number; out: string; err: string; ms: number }> {
  let out = '';
  let err = '';
  const o = process.stdout.write.bind(process.stdout);
  const e = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  const t0 = Date.now();
  try {
    return { code: await main(args), out, err, ms: Date.now() - t0 };
  } finally {
    process.stdout.write = o;
    process.stderr.write = e;
  }
}
