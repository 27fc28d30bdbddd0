/**
 * `timesformer-lab sweep`: every clip of a folder or list against the model's own FP32 (core/sweep),
 * progress with an ETA on stderr, the ranking, headroom and covering fix on stdout, and
 * clips.jsonl + sweep.json + sweep.md in --out (a rerun into the same folder resumes).
 * Exit code: 0 every clip passes; 1 a clip fails; 2 bad input or options, a clip that could not
 * be read (listed; the sweep went on), or cancelled (Ctrl-C: what was done is kept).
 */
import * as path from 'path';
import { parseArgs } from 'util';
import { LabError } from './core/errors';
import { fmtNum } from './core/markdown';
import { checkTolerance, validateOptions } from './core/options';
import { ACCUMULATE, EP_CHOICES, LAYERNORM_MODES, PRECISIONS, type Accumulate, type EpChoice, type LayerNormMode, type Precision } from './core/report';
import { CLIP_EXTENSIONS, CLIPS_FILE, MARKDOWN_FILE, RESULT_FILE, sweep, type SweepResult } from './core/sweep';

export const SWEEP_USAGE = `usage: timesformer-lab sweep --weights CHECKPOINT|HF_FOLDER --clips DIR|FILE... --out DIR [options]

  --weights PATH          the checkpoint (.pyth, .pth, .pt) or a HuggingFace folder
  --clips DIR|FILE...     a folder of clips (${CLIP_EXTENSIONS.join(' ')}), files, or synthetic:SEED;
                          more clips may follow as arguments. A test_data.p clip is also its own reference;
                          the others are compared with this model's FP32
  --out DIR               clips.jsonl (one line per clip, as it finishes), sweep.json and sweep.md;
                          a rerun into the same folder skips the clips already done with the same model and options
  --precision P           ${PRECISIONS.join(' | ')} (default fp16)
  --layernorm M           ${LAYERNORM_MODES.join(' | ')} (default plain)
  --fix-layernorms A,B    LayerNorms kept in FP32 on top of the mode
  --accumulate A          ${ACCUMULATE.join(' | ')} (default fp32)
  --ep E                  ${EP_CHOICES.join(' | ')} (default cpu): the engine under test
  --reference-ep E        where the FP32 reference runs (default: the engine's EP)
  --compare M             graph: the engine and its reference as one graph that compares the blocks
                          inside it (a clip reads back kilobytes; the reference on the engine's EP);
                          host: two sessions, every block output compared here
                          (default: graph on webgpu and cuda, host elsewhere)
  --batch N               clips a run of the paired graph (default 8 on webgpu and cuda, else 1)
  --heads N               attention heads (default: the checkpoint's config, else detected from a test_data.p clip)
  --tolerance X           a block passes when its rel L2 error is at most X (default per precision)
  --mean R,G,B --std R,G,B   uint8 frames: normalization (default: the checkpoint's, else 0.45 / 0.225)
  --prescale-shift K      prescaled LayerNorm: divide by 2^K (default 3)
  --device-id N           GPU for the CUDA and TensorRT providers (default 0)
  --no-confirm            do not re-run the set with the covering fix
  --quiet                 no progress on stderr
  -h, --help              this help

exit code: 0 every clip passes; 1 a clip fails; 2 bad input or options, a clip that could not be read
(listed in the results; the sweep goes on past it), or cancelled (Ctrl-C keeps what was done).`;

function num(flag: string, v: string | undefined, integer = false): number | undefined {
  if (v === undefined) return undefined;
  const n = v.trim() === '' ? NaN : Number(v);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) throw new LabError('BAD_OPTION', `${flag} expects ${integer ? 'a whole number' : 'a number'}; got '${v}'`);
  return n;
}

const seconds = (s: number) => (s >= 90 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${Math.round(s)} s`);

/** `usage`: the CLI's usage error (the caller prints it with the help's pointer). */
export async function cmdSweep(argv: string[], print: { out: (s: string) => void; err: (s: string) => void }, usage: (m: string) => Error): Promise<number> {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: {
        weights: { type: 'string' }, clips: { type: 'string', multiple: true }, out: { type: 'string' },
        precision: { type: 'string' }, layernorm: { type: 'string' }, 'fix-layernorms': { type: 'string' }, accumulate: { type: 'string' },
        ep: { type: 'string' }, 'reference-ep': { type: 'string' }, heads: { type: 'string' }, tolerance: { type: 'string' },
        mean: { type: 'string' }, std: { type: 'string' }, 'prescale-shift': { type: 'string' }, 'device-id': { type: 'string' },
        compare: { type: 'string' }, batch: { type: 'string' }, 'no-confirm': { type: 'boolean' }, quiet: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: true,
    }));
  } catch (e) {
    throw usage(e instanceof Error ? e.message : String(e));
  }
  if (values.help) {
    print.out(`${SWEEP_USAGE}\n`);
    return 0;
  }
  if (!values.weights) throw usage('sweep needs --weights');
  const clips = [...(values.clips ?? []), ...positionals];
  if (!clips.length) throw usage('sweep needs --clips (a folder, files, or synthetic:SEED)');
  if (!values.out) throw usage('sweep needs --out DIR (its results, and what a rerun resumes from)');
  const list = (flag: string, v?: string) => v?.split(',').map((x) => num(flag, x)!);
  const fix = values['fix-layernorms']?.split(',').map((s) => s.trim()).filter(Boolean);
  const o = {
    precision: (values.precision ?? 'fp16') as Precision,
    layerNorm: (values.layernorm ?? 'plain') as LayerNormMode,
    layerNormOverrides: fix && Object.fromEntries(fix.map((n) => [n, 'fp32' as LayerNormMode])),
    accumulate: (values.accumulate ?? 'fp32') as Accumulate,
    ep: (values.ep ?? 'cpu') as EpChoice,
    referenceEp: (values['reference-ep'] ?? values.ep ?? 'cpu') as EpChoice,
    compare: values.compare as 'graph' | 'host' | undefined,
    batch: num('--batch', values.batch, true),
    heads: num('--heads', values.heads, true),
    tolerance: values.tolerance === undefined ? undefined : checkTolerance(num('--tolerance', values.tolerance), '--tolerance'),
    mean: list('--mean', values.mean), std: list('--std', values.std),
    prescaleShift: num('--prescale-shift', values['prescale-shift'], true),
    deviceId: num('--device-id', values['device-id'], true),
    confirm: !values['no-confirm'],
    out: values.out,
  };
  validateOptions({ ...o, ep: o.ep }, { precision: '--precision', layerNorm: '--layernorm', ep: '--ep', heads: '--heads', prescaleShift: '--prescale-shift', deviceId: '--device-id', accumulate: '--accumulate' });
  if (o.compare !== undefined && o.compare !== 'graph' && o.compare !== 'host') throw usage(`--compare must be graph or host, not '${o.compare}'`);
  validateOptions({ ep: o.referenceEp }, { ep: '--reference-ep' });

  const ac = new AbortController();
  // process.on, not once: a once listener is removed before it runs, and the weight store's own
  // SIGINT hook (weight-store-dir.ts), seeing no other handler left, would end the process at once.
  // A second Ctrl-C stops now: this handler leaves, and the signal is raised again for the default end.
  const onInt = () => {
    if (ac.signal.aborted) {
      print.err('\nstopping now (clips.jsonl keeps the clips done; a rerun resumes)\n');
      process.removeListener('SIGINT', onInt);
      process.kill(process.pid, 'SIGINT');
      return;
    }
    print.err('\ncancelling after the clip in progress (what is done is kept; a rerun resumes; Ctrl-C again stops now)\n');
    ac.abort();
  };
  process.on('SIGINT', onInt);
  const t0 = performance.now();
  let ran = 0;
  const quiet = values.quiet;
  try {
    const r = await sweep(values.weights, clips, o, {
      signal: ac.signal,
      onClip: (c, p) => {
        if (!p.skipped) ran++;
        if (quiet) return;
        const left = p.total - p.index - 1;
        const rate = ran / ((performance.now() - t0) / 1000);
        const what = c.status === 'done' ? `${c.verdict === 'pass' ? 'pass' : 'FAIL'} worst ${fmtNum(c.worstRelL2 ?? NaN)} (block ${c.worstBlock})` : `ERROR ${c.error?.code}: ${c.error?.message}`;
        print.err(`[${p.index + 1}/${p.total}] ${path.basename(c.clip)} ${what}${p.skipped ? ' (done before)' : ''}${ran && left ? ` — ${fmtNum(rate)} clips/s, ETA ${seconds(left / rate)}` : ''}\n`);
      },
      onConfirm: (c, p) => {
        if (!quiet) print.err(`[fix ${p.index + 1}/${p.total}] ${path.basename(c.clip)} ${c.status === 'done' ? (c.verdict === 'pass' ? 'pass' : 'FAIL') : `ERROR ${c.error?.message}`} with the covering fix\n`);
      },
      onStage: (s, d) => {
        if (!quiet && s !== 'sweeping' && s !== 'confirming the fix') print.err(`  [${s}]${d ? ' ' + d : ''}\n`);
      },
    });
    print.out(summary(r, values.out));
    if (r.cancelled) return 2;
    return r.summary.failed ? 1 : r.summary.bad ? 2 : 0;
  } finally {
    process.removeListener('SIGINT', onInt);
  }
}

/** What stdout says: the verdict, the worst clips, the tightest LayerNorms, the covering fix, the files. */
/** A clip's LayerNorms that a plain FP16 LayerNorm would overflow, and how many of them this sweep kept in FP32. */
function overflowWords(fix: readonly string[], kept: Readonly<Record<string, string>>): string {
  const k = fix.filter((n) => kept[n] === 'fp32').length;
  if (!k) return `${fix.length} LayerNorm(s) overflow`;
  return k === fix.length ? `${fix.length} LayerNorm(s) would overflow, all kept in FP32 here` : `${fix.length - k} LayerNorm(s) overflow, ${k} more kept in FP32 here`;
}

export function summary(r: SweepResult, out: string): string {
  const s = r.summary;
  const lines = [`sweep: ${s.verdict.toUpperCase()} — ${s.passed} of ${s.done} clips pass, ${s.failed} fail, ${s.bad} could not be read${s.skipped ? ` (${s.skipped} done before)` : ''}${r.cancelled ? '; cancelled' : ''}`];
  lines.push(`${r.engine?.label ?? r.options.ep}; tolerance ${fmtNum(r.options.tolerance)}`, 'clips, worst first:');
  for (const c of r.clips.slice(0, 10)) {
    lines.push(c.status === 'done'
      ? `  ${c.verdict === 'pass' ? 'pass' : 'FAIL'}  ${fmtNum(c.worstRelL2 ?? NaN).padEnd(9)} block ${String(c.worstBlock).padEnd(3)} ${c.clip}${c.fix?.length ? ` (${overflowWords(c.fix, r.options.layerNormOverrides)})` : ''}`
      : `  ERROR ${c.clip}: ${c.error?.code}: ${c.error?.message}`);
  }
  if (r.clips.length > 10) lines.push(`  … ${r.clips.length - 10} more in ${path.join(out, MARKDOWN_FILE)}`);
  const tight = r.headroom.filter((h) => h.factor !== null).sort((a, b) => a.factor! - b.factor!).slice(0, 5);
  if (tight.length) {
    lines.push('headroom (65504 / the largest value over the set; < 1 overflows a plain FP16 LayerNorm), tightest LayerNorms:');
    for (const h of tight) lines.push(`  ${h.name.padEnd(24)} ${fmtNum(h.factor!)}×  closest: ${h.closest.map((c) => `${path.basename(c.clip)} ${fmtNum(c.factor ?? NaN)}×`).join(', ')}${r.options.layerNormOverrides[h.name] === 'fp32' ? '  (kept in FP32 here)' : ''}`);
  }
  const f = r.fix;
  if (f.layerNorms.length) {
    lines.push(`covering fix: ${f.layerNorms.length} LayerNorm(s) in FP32: ${f.layerNorms.join(', ')}`);
    lines.push(f.confirmed ? `  confirmed on the set: ${f.confirmed.verdict.toUpperCase()} (${f.confirmed.clips.filter((c) => c.verdict === 'pass').length}/${f.confirmed.clips.length} clips pass)${f.note ? `; ${f.note}` : ''}` : `  ${f.note ?? 'not confirmed'}`);
    lines.push(`  run with: --fix-layernorms ${f.layerNorms.join(',')}`);
  } else lines.push(`covering fix: none — ${f.note ?? ''}`);
  const how = r.options.compare === 'graph'
    ? `the engine and its FP32 reference as one graph, blocks compared inside it, ${r.timings.batch} clip(s) a run`
    : 'the engine and its FP32 reference as two sessions, blocks compared here';
  const kib = r.timings.readBackBytesPerClip / 1024;
  lines.push(`${fmtNum(r.timings.clipsPerSecond)} clips/s (${how}; ${kib >= 1024 ? `${(kib / 1024).toFixed(1)} MiB` : `${kib.toFixed(0)} KiB`} read back a clip), ` +
    `${r.timings.sessionsBuilt} session(s) built, peak RSS ${Math.round(r.timings.peakRssBytes / 2 ** 20)} MiB`);
  lines.push(`wrote ${path.join(out, RESULT_FILE)}, ${path.join(out, MARKDOWN_FILE)}, ${path.join(out, CLIPS_FILE)}`);
  return lines.join('\n') + '\n';
}
