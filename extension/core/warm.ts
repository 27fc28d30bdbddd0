/**
 * Warm engines: what the engine process (extension/worker.ts) keeps between run requests, so that
 * running a mode again on the same inputs — toggling "Expose LayerNorm entries" off and on in the
 * sidebar — answers without reading the checkpoint again or building a session again.
 *
 * Kept: one preparation (core/pipeline's Prepared: the weights in their WeightStore, the clip, the
 * head count, the FP32 reference and probe run) keyed by its inputs — the checkpoint's, test data's
 * and clip's paths with their size, mtime and inode (a folder: each of its entries'), the heads,
 * mean/std and the options that shape the probe graph — and the engines its modes built (the mode's
 * and its minimal fix's confirmation), keyed as the TensorRT engine cache is (engineCacheKey of the
 * graph options) plus the provider, device and cache folder. A new mode on the same inputs reuses
 * the preparation; a mode already built also its session (engine-run.ts asks the preparation's
 * shelf before building).
 *
 * Bounds (checked after each request, least recently used engine first):
 *   - at most TIMESFORMER_LAB_WARM_SESSIONS engines (default 4; 0 keeps none: each is released
 *     after its run, as before);
 *   - at most TIMESFORMER_LAB_WARM_MIB MiB (default 4096) counting the weight store's files (RAM in
 *     /dev/shm), the clip, the test data, the FP32 probe run's outputs, and each kept session's
 *     weights (its graph's initializer bytes; a segmented CPU engine holds no session between runs,
 *     counted 0). Over it with no engine left, the preparation goes too.
 * The comparison's worker threads are kept with the preparation (Prepared.pool) and go with it.
 * Released: all of it on a request for other inputs (a checkpoint switch, a file changed on disk),
 * after a failed request, before a sweep (which reads its own), after TIMESFORMER_LAB_STORE_IDLE_MS
 * idle (default 60 s), and on Cancel (the process is killed; its store folder goes with it).
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Engine } from './engine/session';
import type { BuiltGraph } from './model/timesformer';
import { WeightStore } from './model/weight-store';
import { comparePool } from './compare/blocks';
import { defaultThreads } from './parallel';
import { buildEngine, engineCacheKey, graphOptions, intendedSpec, prepare, runModes, type LayerNormChoice, type ModeHooks, type Prepared } from './pipeline';
import { validateOptions } from './options';
import type { PipelineHooks, PipelineOptions, Report } from './report';

export interface WarmLimits {
  /** Engines kept at most. */
  sessions: number;
  /** Bytes kept at most: the preparation (store, clip, test data, probe outputs) and the sessions. */
  bytes: number;
  /** Everything released after this long without a request. */
  idleMs: number;
}

export function warmLimits(env: NodeJS.ProcessEnv = process.env): WarmLimits {
  const num = (v: string | undefined, d: number) => (v !== undefined && /^\d+(\.\d+)?$/.test(v) ? Number(v) : d);
  return {
    sessions: Math.floor(num(env.TIMESFORMER_LAB_WARM_SESSIONS, 4)),
    bytes: num(env.TIMESFORMER_LAB_WARM_MIB, 4096) * 2 ** 20,
    idleMs: num(env.TIMESFORMER_LAB_STORE_IDLE_MS, 60_000) || 60_000,
  };
}

interface Kept {
  engine: Engine;
  g: BuiltGraph;
  bytes: number;
  used: number;
}

interface Held {
  key: string;
  stamps: string;
  p: Prepared;
  engines: Map<string, Kept>;
  /** Prepared at (for the log). */
  at: number;
}

/** What identifies a file or folder's contents cheaply: size, mtime, inode (a folder: its own and each entry's). */
export function stampOf(file: string | undefined): string {
  if (!file || /^synthetic/.test(file)) return file ?? '';
  const st = fs.statSync(file, { throwIfNoEntry: false });
  if (!st) return `${file}:missing`;
  const one = (s: fs.Stats) => `${s.size}:${s.mtimeMs}:${s.ino}`;
  if (!st.isDirectory()) return `${file}:${one(st)}`;
  const entries = fs.readdirSync(file).sort().map((f) => {
    const s = fs.statSync(path.join(file, f), { throwIfNoEntry: false });
    return `${f}=${s ? one(s) : 'missing'}`;
  });
  return `${file}:${one(st)}[${entries.join(',')}]`;
}

/** The options that decide a preparation (everything prepare() reads or settles, and the probe graph's shape). */
export function inputsKey(o: PipelineOptions): string {
  return JSON.stringify({
    weights: path.resolve(o.weights), data: o.data && path.resolve(o.data), input: o.input && !/^synthetic/.test(o.input) ? path.resolve(o.input) : o.input,
    heads: o.heads, mean: o.mean, std: o.std,
    attention: o.attention ?? 'decomposed', accumulate: o.accumulate ?? 'fp32', prescaleShift: o.prescaleShift ?? 3, fp32Ops: o.fp32Ops ?? [],
  });
}

const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;

/** The engine process's kept preparation and engines (see the top of this file). */
export class WarmEngines {
  private held: Held | undefined;
  private current: PipelineHooks = {};
  private idle: NodeJS.Timeout | undefined;
  private request = { reused: 0, built: 0 };
  /** Test seam and log: preparations made (checkpoint reads), engines built and reused, engines built ahead, evicted, releases. */
  readonly counts = { prepared: 0, built: 0, reused: 0, ahead: 0, evicted: 0, released: 0 };

  constructor(private readonly limits: WarmLimits = warmLimits(), private readonly log: (line: string) => void = () => undefined) {}

  /** The weight store folder kept (the worker's release of left-over stores spares it). */
  get storeDir(): string | undefined {
    const w = this.held?.p.model.weights;
    return w instanceof WeightStore ? w.dir : undefined;
  }

  /** What is kept now: engines and bytes (see bytes()). */
  async usage(): Promise<{ prepared: boolean; sessions: number; bytes: number }> {
    return { prepared: !!this.held, sessions: this.held?.engines.size ?? 0, bytes: this.held ? await this.bytes(this.held) : 0 };
  }

  /** One run request's mode, on the kept preparation when its inputs are the same. */
  async run(o: PipelineOptions, mode: LayerNormChoice, hooks: ModeHooks = {}): Promise<Report> {
    this.stopIdle();
    validateOptions(o); // prepare() checks them on a cold request
    const key = inputsKey(o);
    const stamps = [o.weights, o.data, o.data ? undefined : o.input].map(stampOf).join('|');
    if (this.held && (this.held.key !== key || this.held.stamps !== stamps)) {
      await this.release(this.held.key !== key ? 'another checkpoint or other inputs were asked for' : 'a file of its inputs changed on disk');
    }
    const warm = !!this.held;
    this.current = hooks;
    this.request = { reused: 0, built: 0 };
    try {
      if (this.held) {
        // said by the preparation: the host's log now, and the first lines of this run's Report log
        this.held.p.say(`warm: the checkpoint, clip and FP32 reference prepared ${((Date.now() - this.held.at) / 1000).toFixed(0)} s ago are kept by the engine process: nothing read again (${this.held.engines.size} session${this.held.engines.size === 1 ? '' : 's'} kept)`);
      } else {
        // the preparation speaks to whichever request is using it (its stages: a later mode's probe run)
        const now = () => this.current;
        const relay: PipelineHooks = {
          onProgress: (s, d) => now().onProgress?.(s, d),
          log: (l) => now().log?.(l),
          get signal() { return now().signal; },
        };
        const p = await prepare(o, relay);
        this.counts.prepared++;
        const held: Held = { key, stamps, p, engines: new Map(), at: Date.now() };
        p.engines = this.shelf(held);
        // the comparison's threads too: started once, for every request on these inputs
        const { depth, numPatches, frames, embedDim } = p.config;
        p.pool = comparePool(depth * p.video.shape[0] * (1 + numPatches * frames) * embedDim, defaultThreads());
        this.held = held;
      }
      const warmOf = () => ({ prepared: warm, sessionsReused: this.request.reused, sessionsBuilt: this.request.built });
      // the mode's Report before its fix's confirmation says what was kept so far
      const onModeReport = hooks.onModeReport && ((r: Report) => hooks.onModeReport!(Object.assign(r, { run: Object.assign(r.run, { warm: warmOf() }) })));
      const [report] = await runModes(o, [mode], { ...hooks, onModeReport }, this.held!.p);
      report.run.warm = warmOf();
      return report;
    } catch (e) {
      await this.release('after a failed run');
      throw e;
    } finally {
      this.current = {};
    }
  }

  /** After a request (its answer sent): the bounds kept, the idle timer started. */
  async settle(): Promise<void> {
    // a request without a run (a probe, a header) settles too: the timer of the request before it
    // must not release the preparation in the middle of the next run
    this.stopIdle();
    const h = this.held;
    if (h) {
      const byUse = () => [...h.engines].sort((a, b) => a[1].used - b[1].used);
      while (h.engines.size > this.limits.sessions) await this.evict(h, byUse()[0][0], `more than ${this.limits.sessions} sessions`);
      let bytes = await this.bytes(h);
      while (bytes > this.limits.bytes && h.engines.size) {
        await this.evict(h, byUse()[0][0], `${mib(bytes)} kept, more than ${mib(this.limits.bytes)}`);
        bytes = await this.bytes(h);
      }
      if (bytes > this.limits.bytes) await this.release(`its ${mib(bytes)} are more than the ${mib(this.limits.bytes)} the engine process keeps (TIMESFORMER_LAB_WARM_MIB)`);
      else this.log(`warm: keeping the preparation and ${h.engines.size} session${h.engines.size === 1 ? '' : 's'}, ${mib(bytes)} (at most ${this.limits.sessions} sessions, ${mib(this.limits.bytes)})`);
    }
    if (this.held) {
      this.idle = setTimeout(() => void this.release(`after ${this.limits.idleMs / 1000} s idle`), this.limits.idleMs);
      this.idle.unref();
    }
  }

  /**
   * After a run of `o` (its answer sent), while the engine process waits for the next request: the
   * engine of the mode the sidebar's "Expose LayerNorm entries" toggle asks for next (expose after
   * plain, plain after expose), built, run once on the held clip (a session's first run is its
   * slowest; not when `waiting()` says a request came meanwhile) and kept — when the bounds leave
   * room for it and it is not kept already. So the toggle answers as a mode already built (~0.4 s at
   * full size on the H100) instead of building a session (~0.9 s of its ~1.5 s); a request that
   * comes while it is being built waits for it (the requests are served one at a time), no longer
   * than building and running it itself would take. Only where a kept session skips the session's
   * creation: a GPU provider (the CPU EP's engines are segmented: each run creates its segments'
   * sessions), unless TIMESFORMER_LAB_BUILD_AHEAD=1 (tests, a CPU engine in one session); =0 never.
   */
  async buildAhead(o: PipelineOptions, env: NodeJS.ProcessEnv = process.env, waiting: () => boolean = () => false, ranOn?: string): Promise<void> {
    const h = this.held;
    const switched = env.TIMESFORMER_LAB_BUILD_AHEAD;
    // `ranOn`: the provider the run landed on — a GPU choice that fell back to the CPU builds nothing ahead either
    const cpu = (o.ep ?? 'cpu') === 'cpu' || ranOn === 'cpu';
    if (!h || switched === '0' || (switched !== '1' && cpu) || inputsKey(o) !== h.key) return;
    const layerNorm = o.layerNorm === 'expose' ? 'plain' : o.layerNorm === 'plain' || o.layerNorm === undefined ? 'expose' : undefined;
    if (!layerNorm || Object.keys(o.layerNormOverrides ?? {}).length || o.saveOnnx || o.repeat) return;
    const next: PipelineOptions = { ...o, layerNorm };
    const key = this.engineKey(h, next);
    if (h.engines.has(key) || h.engines.size >= this.limits.sessions) return;
    const t0 = performance.now();
    // its build's own lines (graph, session) are not a request's: the one line below says it
    const built = await buildEngine(h.p, next, () => undefined).catch((e: Error) => {
      this.log(`warm: building the ${layerNorm} session ahead failed (${e.message}); it is built when asked for`);
      return undefined;
    });
    if (!built) return;
    // room for its weights (its graph's initializers, as a kept session is counted), on inputs still held
    if (this.held !== h || (await this.bytes(h)) + built.g.initializerBytes > this.limits.bytes) {
      await built.engine.release().catch(() => undefined);
      return;
    }
    // one run on the held clip, its outputs dropped: a session's first run compiles its kernels and
    // allocates its buffers (full size on the H100, session 22: an expose session's first run took
    // 642-786 ms, its later ones 452-491), so the toggle's run is a later one
    // — unless a request came while it was built (the messages that came meanwhile are counted
    // first): that one is served now and runs it itself
    const t1 = performance.now();
    const input = built.g.inputName;
    await new Promise((resolve) => setImmediate(resolve));
    const run = !waiting();
    const warmed = !run || await built.engine.run({ [input]: h.p.video.data }, { [input]: [...h.p.video.shape] }).then(() => true, (e: Error) => {
      this.log(`warm: the ${layerNorm} session built ahead failed its first run (${e.message}); it is built when asked for`);
      return false;
    });
    if (!warmed || this.held !== h) {
      await built.engine.release().catch(() => undefined);
      return;
    }
    h.engines.set(key, { ...built, bytes: built.g.initializerBytes, used: performance.now() });
    this.counts.ahead++;
    this.log(`warm: built the ${built.engine.ep} session of LayerNorm ${layerNorm} ahead (the sidebar's expose toggle) in ${(t1 - t0).toFixed(0)} ms${run ? ` and ran it once on the clip in ${(performance.now() - t1).toFixed(0)} ms` : ' (not run: a request waits)'}; kept`);
  }

  /** Everything released: the sessions, then the preparation's weight store. */
  async release(why: string): Promise<void> {
    this.stopIdle();
    const h = this.held;
    if (!h) return;
    this.held = undefined;
    const bytes = await this.bytes(h).catch(() => 0);
    for (const k of h.engines.values()) await k.engine.release().catch(() => undefined);
    const n = h.engines.size;
    h.engines.clear();
    void h.p.pool?.close();
    h.p.pool = undefined;
    h.p.close();
    this.counts.released++;
    this.log(`warm: released the kept preparation and ${n} session${n === 1 ? '' : 's'} (${mib(bytes)}) ${why}`);
  }

  private stopIdle(): void {
    if (this.idle) clearTimeout(this.idle);
    this.idle = undefined;
  }

  private async evict(h: Held, key: string, why: string): Promise<void> {
    const k = h.engines.get(key)!;
    h.engines.delete(key);
    await k.engine.release().catch(() => undefined);
    this.counts.evicted++;
    this.log(`warm: released the least recently used session (${k.engine.ep}, ${mib(k.bytes)}): ${why}`);
  }

  /** The bytes a held preparation and its sessions keep. */
  private async bytes(h: Held): Promise<number> {
    const { p } = h;
    const w = p.model.weights;
    let n = w instanceof WeightStore ? w.usage().bytes : 0;
    n += p.video.data.byteLength;
    if (p.data) n += p.data.video.data.byteLength + p.data.probs.data.byteLength + p.data.blocks.reduce((s, b) => s + b.data.byteLength, 0);
    if (p.hasProbe()) {
      const probe = await p.fp32Probe().catch(() => undefined);
      for (const a of probe?.out.values() ?? []) n += a.byteLength;
    }
    for (const k of h.engines.values()) n += k.bytes;
    return n;
  }

  /** The key of a mode's engine: as the TensorRT engine cache's (the graph's options), and where it runs. */
  private engineKey(h: Held, o: PipelineOptions): string {
    const overrides = Object.keys(o.layerNormOverrides ?? {}).length ? o.layerNormOverrides : undefined;
    const go = graphOptions(h.p.config, h.p.video.shape[0], { ...o, layerNormOverrides: overrides }, intendedSpec(o).realization);
    return `${engineCacheKey(h.key, go)}|${o.ep ?? 'cpu'}|${o.deviceId ?? 0}|${o.trtCacheDir ?? ''}|${o.repeat ? 'whole' : ''}`;
  }

  private shelf(h: Held): NonNullable<Prepared['engines']> {
    return {
      take: (o) => {
        const k = h.engines.get(this.engineKey(h, o));
        if (!k) return undefined;
        k.used = performance.now();
        this.request.reused++;
        this.counts.reused++;
        return lend(k, false);
      },
      keep: (o, built) => {
        this.request.built++;
        this.counts.built++;
        if (this.limits.sessions <= 0) return built;
        const source = built.g.source;
        const segmented = typeof source === 'object' && 'segments' in source;
        const k: Kept = { ...built, bytes: segmented ? 0 : built.g.initializerBytes, used: performance.now() };
        const key = this.engineKey(h, o);
        const old = h.engines.get(key);
        h.engines.set(key, k);
        if (old) void old.engine.release().catch(() => undefined);
        return lend(k, true);
      },
    };
  }
}

/**
 * A view of a kept engine that a mode may release without ending its session, and whose times are
 * this request's: no graph built, the sessions its run created (a segmented CPU engine creates its
 * segments' in each run; a whole session none).
 */
function lend(k: Kept, fresh: boolean): { engine: Engine; g: BuiltGraph } {
  const e = k.engine;
  const sessionAtLend = e.sessionMs;
  const view: Engine = {
    get ep() { return e.ep; },
    get realization() { return e.realization; },
    get fallbacks() { return e.fallbacks; },
    get cache() { return e.cache; },
    get sessionMs() { return fresh ? e.sessionMs : e.sessionMs - sessionAtLend; },
    get lastRunMs() { return e.lastRunMs; },
    get buildGraphMs() { return fresh ? e.buildGraphMs : 0; },
    get outputBytes() { return e.outputBytes; },
    run: (feeds, dims) => e.run(feeds, dims),
    release: async () => undefined,
  };
  return { engine: view, g: k.g };
}
