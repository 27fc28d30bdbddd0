/**
 * Runs cases in a few child processes (child.ts), each capped in heap (--max-old-space-size) and
 * watched: a case that runs past `caseTimeoutMs` is a HANG, a child whose resident memory passes
 * `rssCapBytes` is killed (MEMORY), a child that dies on its own is a CRASH for the case it was
 * running. The pool restarts a child after each of these and goes on with the next case.
 */
import { fork, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { CaseBody, ChildCase, ChildResult } from './child';

export interface PoolOptions {
  workers: number;
  caseTimeoutMs: number;
  rssCapBytes: number;
  heapMB: number;
  /** Called after each case (progress). */
  onResult?: (r: ChildResult) => void;
}


interface Worker {
  proc: ChildProcess;
  current?: { i: number; started: number };
  ready: Promise<void>;
  stderr: string[];
  killedFor?: 'HANG' | 'MEMORY';
}

function rssOf(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const statm = fs.readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ');
    return Number(statm[1]) * 4096;
  } catch {
    return 0;
  }
}

export async function runPool(specs: CaseBody[], o: PoolOptions): Promise<ChildResult[]> {
  const results: ChildResult[] = new Array(specs.length);
  let next = 0;
  const childJs = path.join(__dirname, 'child.js');
  const workers = new Set<Worker>();
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'robust-pool-'));
  let spawned = 0;

  const spawn = (): Worker => {
    const proc = fork(childJs, [], {
      execArgv: [`--max-old-space-size=${o.heapMB}`, '--expose-gc'],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: { ...process.env, ORT_DISABLE_TELEMETRY: '1', ROBUST_SCRATCH: path.join(scratch, String(spawned++)) },
    });
    const w: Worker = { proc, stderr: [], ready: Promise.resolve() };
    workers.add(w);
    proc.on('exit', () => workers.delete(w));
    proc.stderr?.on('data', (d: Buffer) => {
      w.stderr.push(d.toString());
      if (w.stderr.length > 20) w.stderr.shift();
    });
    w.ready = new Promise((resolve) => {
      proc.on('message', function first(m: { type: string }) {
        if (m.type === 'ready') {
          proc.off('message', first);
          resolve();
        }
      });
    });
    return w;
  };

  const drive = async (): Promise<void> => {
    let w = spawn();
    await w.ready;
    for (;;) {
      const i = next++;
      if (i >= specs.length) break;
      const result = await new Promise<ChildResult>((resolve) => {
        const started = Date.now();
        w.current = { i, started };
        const onMessage = (m: { type: string; result?: ChildResult }) => {
          if (m.type === 'done' && m.result?.i === i) finish(m.result);
        };
        const onExit = (code: number | null, signal: string | null) => {
          const why = w.killedFor;
          finish({
            i, outcome: why ?? 'CRASH', ms: Date.now() - started, allocated: 0, rssGrowth: 0, fileBytes: 0,
            message: why === 'HANG' ? `no answer within ${o.caseTimeoutMs} ms` : why === 'MEMORY' ? `resident memory passed ${o.rssCapBytes} bytes` : `the process ended (code ${code}, signal ${signal}): ${w.stderr.join('').slice(-600)}`,
          });
        };
        const finish = (r: ChildResult) => {
          w.proc.off('message', onMessage);
          w.proc.off('exit', onExit);
          w.current = undefined;
          resolve(r);
        };
        w.proc.on('message', onMessage);
        w.proc.on('exit', onExit);
        w.proc.send({ ...specs[i], i } as ChildCase);
      });
      results[i] = result;
      o.onResult?.(result);
      if (w.proc.exitCode !== null || w.proc.signalCode !== null || w.killedFor) {
        w = spawn();
        await w.ready;
      }
    }
    w.proc.disconnect();
  };

  const watchdog = setInterval(() => {
    for (const w of workers) {
      if (!w.current || w.killedFor) continue;
      if (Date.now() - w.current.started > o.caseTimeoutMs) w.killedFor = 'HANG';
      else if (rssOf(w.proc.pid) > o.rssCapBytes) w.killedFor = 'MEMORY';
      if (w.killedFor) w.proc.kill('SIGKILL');
    }
  }, 50);
  try {
    await Promise.all(Array.from({ length: o.workers }, () => drive()));
  } finally {
    clearInterval(watchdog);
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  return results;
}
