/**
 * Where a weight store's folder goes (/dev/shm when it has room, else the OS temporary folder, or
 * $TIMESFORMER_LAB_WEIGHTS_DIR) and how folders are removed: by close(), when the process exits or
 * is signalled, and, for a process that was killed, by the next store's sweep.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** Store folders are named <PREFIX><pid>-<random>, so a sweep can tell a dead process's folder. */
export const PREFIX = 'tsf-lab-w-';

/** Where a store is and what it holds (the files' sizes, padding included). */
export interface StoreUsage {
  dir: string;
  /** Bytes the files take (allocated blocks). */
  bytes: number;
  /** In a memory file system (tmpfs, e.g. /dev/shm): the bytes are RAM, beside the process's RSS. */
  inMemory: boolean;
}

/** The Linux tmpfs magic number (statfs f_type). */
const TMPFS_MAGIC = 0x01021994;

/** Whether `dir` is on a memory file system (tmpfs); false where statfs cannot say. */
export function isMemoryFs(dir: string): boolean {
  try {
    return Number(fs.statfsSync(dir).type) === TMPFS_MAGIC;
  } catch {
    return false;
  }
}

/** Free bytes for an unprivileged writer in `dir`'s file system (statfs bavail × bsize). */
function freeBytesOf(dir: string): number {
  const st = fs.statfsSync(dir);
  return Number(st.bavail) * Number(st.bsize);
}

/** A parent folder choice (defaultParent): the /dev/shm to try, and how its free bytes are read (test seams). */
export interface ParentProbe {
  shm?: string;
  freeBytes?: (dir: string) => number;
}

/** The room a store wants: its float32 file and two derived forms can reach about 3 × the checkpoint (at least 256 MiB). */
export function roomNeeded(expectBytes: number): number {
  return Math.max(3 * expectBytes, 256 * 2 ** 20);
}

/**
 * Where the folder goes: $TIMESFORMER_LAB_WEIGHTS_DIR; else /dev/shm when it is a writable memory
 * file system with room for three times the weights (writing there cost 0.3 s of CPU per 486 MB
 * here, against 0.95 s on the ext4 disk: no journal, no writeback); else the OS temporary folder.
 * Containers often give /dev/shm 64 MB: then it is not used.
 */
export function defaultParent(expectBytes = 0, probe: ParentProbe = {}): string {
  return chooseParent(expectBytes, probe).dir;
}

/** defaultParent with why: for the log line that says where the weights went. */
export function chooseParent(expectBytes = 0, probe: ParentProbe = {}): { dir: string; why: string } {
  const env = process.env.TIMESFORMER_LAB_WEIGHTS_DIR;
  if (env) return { dir: env, why: 'TIMESFORMER_LAB_WEIGHTS_DIR' };
  const shm = probe.shm ?? '/dev/shm';
  const need = roomNeeded(expectBytes);
  let why: string;
  try {
    const free = (probe.freeBytes ?? freeBytesOf)(shm);
    fs.accessSync(shm, fs.constants.W_OK);
    if (free >= need) return { dir: shm, why: `${mib(free)} free there, ${mib(need)} wanted` };
    why = `${shm} has ${mib(free)} free, ${mib(need)} wanted`;
  } catch (e) {
    /* no /dev/shm (macOS, Windows), or not writable */
    why = `${shm} cannot be used (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
  return { dir: os.tmpdir(), why };
}

function mib(n: number): string {
  return `${(n / 2 ** 20).toFixed(0)} MiB`;
}

/** What the exit and signal hooks close: the open stores. */
export interface Closable {
  close(): void;
}

let open: ReadonlySet<Closable> = new Set();
let exitHook = false;

/** Close every member of `stores` (the open stores, a live set) when the process exits or is ended by a signal; installed once. */
export function closeOnExit(stores: ReadonlySet<Closable>): void {
  open = stores;
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const x of open) x.close();
  });
  for (const sig of CLEANUP_SIGNALS) process.on(sig, onSignal);
}

/** Signals that end a process by default: its folders are removed first (SIGKILL cannot be caught: the next store's sweep removes those). */
const CLEANUP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Remove the open stores' folders; then, when nothing else in the process handles the signal (the
 * CLI), end the process as the signal would have (re-raised with the default action), and
 * otherwise leave the decision to that handler (the extension host's, an engine process's).
 */
function onSignal(sig: NodeJS.Signals): void {
  for (const x of open) x.close();
  if (process.listenerCount(sig) > 1) return;
  for (const s of CLEANUP_SIGNALS) process.off(s, onSignal);
  process.kill(process.pid, sig);
}

/** Remove store folders left by processes that no longer run (killed on Cancel, crashed). */
export function sweepStale(parent: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.startsWith(PREFIX)) continue;
    const pid = Number(n.slice(PREFIX.length).split('-')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || alive(pid)) continue;
    fs.rmSync(path.join(parent, n), { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
