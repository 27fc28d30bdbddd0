/**
 * The sweep (core/sweep, `timesformer-lab sweep`) on a checkpoint whose massive activation grows
 * with the clip's brightness (scripts/fixtures/gen-sweep-fixture.ts, made here): the bright clips overflow,
 * the dark ones and the synthetic ones do not; each clip's errors are a single run's; the sessions
 * are built once per sweep; the covering fix passes on every clip; Cancel keeps what was done and a
 * rerun resumes; bad clips are listed and the sweep goes on; sweep.json validates against
 * docs/sweep.schema.json (ajv, strict) and sweep.md renders (markdown-it).
 */
import { strict as assert } from 'assert';
import Ajv from 'ajv';
import MarkdownIt from 'markdown-it';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { sweep, CLIPS_FILE, MARKDOWN_FILE, RESULT_FILE, SWEEP_VERSION, type ClipResult, type SweepResult } from '../../extension/core/sweep';
import { runPipeline } from '../../extension/core/pipeline';
import { parseReportJson } from '../../extension/core/report';
import { writeSweepFixture, writeNpyU8, frames, LEVELS, type SweepFixture } from '../../scripts/fixtures/gen-sweep-fixture';
import { checkpointSpec, genOptionsFrom } from '../../scripts/fixtures/gen-checkpoint';
import { cli } from './helpers/cli';
import { withEnv } from './helpers/env';

const ROOT = path.join(__dirname, '..', '..', '..');
const FIX = path.join(ROOT, 'test', 'fixtures');
const SCHEMA = JSON.parse(fs.readFileSync(path.join(ROOT, 'docs', 'sweep.schema.json'), 'utf8'));
const ajv = new Ajv({ allErrors: true, strict: true });
const validate = ajv.compile(SCHEMA);
const base = (c: string) => path.basename(c);
const levelOf = (c: string) => Number(/level(\d+)/.exec(c)?.[1] ?? NaN);

describe('sweep: many clips, one model', function () {
  this.timeout(300_000);
  let tmp: string;
  let fx: SweepFixture;
  let first: SweepResult;
  const out = () => path.join(tmp, 'out');
  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-sweep-'));
    fx = writeSweepFixture(tmp);
    first = await sweep(fx.weights, [fx.clipsDir, 'synthetic:1', 'synthetic:2'], { precision: 'fp16', heads: 4, out: out() });
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('the content-dependent checkpoint: no outlier bias; the detector and the fc2 weight that feeds the outlier are in place', () => {
    const spec = checkpointSpec(fx.options);
    const fc2b = spec.find((t) => t.key === 'model.blocks.0.mlp.fc2.bias')!;
    assert.equal(fc2b.overrides, undefined, 'the outlier comes from no bias');
    const H = fx.options.embed * fx.options.mlpRatio;
    assert.deepEqual(spec.find((t) => t.key === 'model.blocks.0.mlp.fc2.weight')!.overrides, [[21 * H + 5, 75]]);
    assert.throws(() => genOptionsFrom({ 'outlier-source': 'weights' }), /--outlier-source must be bias or content/);
    assert.throws(() => checkpointSpec({ ...fx.options, detectorChannel: 21 }), /must differ/);
    assert.equal(genOptionsFrom({ 'outlier-source': 'content', 'outlier-block': '1' }).outlierSource, 'content');
  });

  it('only the bright clips overflow: they fail, the dark and synthetic ones pass, ranked worst first', () => {
    const done = first.clips.filter((c) => c.status === 'done');
    assert.equal(done.length, LEVELS.length + 2);
    const failing = done.filter((c) => c.verdict === 'fail').map((c) => levelOf(c.clip));
    assert.deepEqual(failing.sort((a, b) => a - b), [200, 245], first.clips.map((c) => `${base(c.clip)} ${c.worstRelL2}`).join('\n'));
    for (const c of done) assert.equal(c.fix!.length > 0, c.verdict === 'fail', `${c.clip}: overflowing LayerNorms ${c.fix} and verdict ${c.verdict}`);
    // worst first: the failing clips lead, then by worst block error
    assert.ok(done.slice(0, 2).every((c) => c.verdict === 'fail'));
    for (let i = 3; i < done.length; i++) assert.ok(done[i - 1].worstRelL2! >= done[i].worstRelL2!, `rank ${i}`);
    assert.ok(done[0].worstRelL2! > 0.1 && done.at(-1)!.worstRelL2! < 0.01, `${done[0].worstRelL2} ${done.at(-1)!.worstRelL2}`);
    assert.equal(first.summary.verdict, 'fail');
    assert.deepEqual([first.summary.passed, first.summary.failed, first.summary.bad], [LEVELS.length, 2, 0]);
  });

  it('headroom per LayerNorm: below 1× where bright clips overflow, the closest clips the brightest, falling with brightness', () => {
    const h = first.headroom.find((x) => x.name === 'blocks.1.temporal_norm1')!;
    assert.equal(h.place, 'temporal');
    assert.ok(h.factor! < 1 && h.factor! > 0.3, `factor ${h.factor}`);
    assert.deepEqual(h.closest.map((c) => levelOf(c.clip)), [245, 200, 160]);
    assert.ok(Math.abs(h.square.factor! - 65504 / h.square.max) < 1e-9);
    assert.ok(h.square.applies && !h.sumSquares.applies, 'fp32 accumulation: only the square can overflow');
    assert.deepEqual(h.firesOn.map(levelOf).sort(), [200, 245]);
    // per clip, the square grows with the brightness over the bright half of the levels
    const sq = first.clips.filter((c) => levelOf(c.clip) >= 130).sort((a, b) => levelOf(a.clip) - levelOf(b.clip))
      .map((c) => c.layerNorms!.find((l) => l.name === h.name)!.square);
    for (let i = 1; i < sq.length; i++) assert.ok(sq[i] > sq[i - 1], `squares ${sq}`);
    // block 0 is before the outlier: far from 65504
    assert.ok(first.headroom.find((x) => x.name === 'blocks.0.norm1')!.factor! > 10);
    assert.deepEqual(first.headroom.map((x) => x.place).slice(0, 3), ['temporal', 'spatial', 'mlp']);
  });

  it('the fix that covers every clip is the union of what overflows, and the set re-run with it passes on every clip', () => {
    const union = [...new Set(first.clips.flatMap((c) => c.fix ?? []))].sort();
    assert.deepEqual([...first.fix.layerNorms].sort(), union);
    assert.ok(union.length >= 3);
    const c = first.fix.confirmed!;
    assert.equal(c.verdict, 'pass');
    assert.equal(c.clips.length, LEVELS.length + 2);
    assert.ok(c.clips.every((x) => x.verdict === 'pass' && x.worstRelL2! < 0.025), JSON.stringify(c.clips.map((x) => x.worstRelL2)));
  });

  it('the sessions are built once per sweep (reference, engine, fix; the CPU EP compares on the host by default), not per clip', () => {
    assert.equal(first.options.compare, 'host');
    assert.equal(first.timings.sessionsBuilt, 3);
  });

  let graph: SweepResult;
  it('blocks compared inside the graph = compared on the host: same verdicts, first failing blocks, fix; errors within 1e-5; a clip reads back a fraction', async () => {
    graph = await sweep(fx.weights, [fx.clipsDir, 'synthetic:1', 'synthetic:2'], { precision: 'fp16', heads: 4, compare: 'graph' });
    const host = first;
    assert.equal(graph.options.compare, 'graph');
    assert.equal(graph.timings.sessionsBuilt, 2, 'graph: the engine paired with its reference, the fix paired with its');
    for (const g of graph.clips) {
      const h = host.clips.find((c) => c.clip === g.clip)!;
      assert.deepEqual([g.verdict, g.firstFailingBlock, g.worstBlock, g.top1Agree, g.fix], [h.verdict, h.firstFailingBlock, h.worstBlock, h.top1Agree, h.fix], g.clip);
      assert.equal(g.sentence, h.sentence);
      g.blockErrors!.forEach((e, i) => assert.ok(Math.abs(e - h.blockErrors![i]) <= 1e-5 * h.blockErrors![i], `${base(g.clip)} block ${i}: ${e} vs ${h.blockErrors![i]}`));
      assert.equal(g.probsRelL2, h.probsRelL2, 'the same probabilities, compared on the host in both');
    }
    assert.deepEqual(graph.fix.layerNorms, host.fix.layerNorms);
    assert.equal(graph.fix.confirmed!.verdict, host.fix.confirmed!.verdict);
    const [gb, hb] = [graph.timings.readBackBytesPerClip, host.timings.readBackBytesPerClip];
    assert.ok(gb > 0 && gb * 3 < hb, `read back per clip: graph ${gb} B, host ${hb} B`);
  });

  let batched: SweepResult;
  it('a batch of clips in one run of the paired graph = one clip a run: same verdicts, first failing blocks, headroom and fix; the padded last group too', async () => {
    const b = batched = await sweep(fx.weights, [fx.clipsDir, 'synthetic:1', 'synthetic:2'], { precision: 'fp16', heads: 4, compare: 'graph', batch: 4 });
    assert.equal(b.timings.batch, 4);
    assert.equal(graph.timings.batch, 1, 'the CPU EP runs one clip a run');
    assert.equal(b.timings.sessionsBuilt, 2);
    assert.equal(b.clips.length, graph.clips.length);
    for (const g of b.clips) {
      const one = graph.clips.find((c) => c.clip === g.clip)!;
      assert.deepEqual([g.verdict, g.firstFailingBlock, g.worstBlock, g.fix], [one.verdict, one.firstFailingBlock, one.worstBlock, one.fix], g.clip);
      g.blockErrors!.forEach((e, i) => assert.ok(Math.abs(e - one.blockErrors![i]) <= 1e-3 * one.blockErrors![i], `${base(g.clip)} block ${i}: batch ${e}, alone ${one.blockErrors![i]}`));
      g.layerNorms!.forEach((l, i) => assert.ok(Math.abs(l.square - one.layerNorms![i].square) <= 1e-4 * one.layerNorms![i].square, `${base(g.clip)} ${l.name}: its own statistics, not the batch's`));
    }
    assert.deepEqual(b.fix.layerNorms, graph.fix.layerNorms);
    assert.equal(b.fix.confirmed!.verdict, 'pass');
    assert.deepEqual(b.fix.confirmed!.clips.map((c) => c.clip), graph.fix.confirmed!.clips.map((c) => c.clip), 'confirmed in the order of the clips');
    await assert.rejects(sweep(fx.weights, [fx.clips[0]], { precision: 'fp16', heads: 4, batch: 0 }), /batch 0/);
    await assert.rejects(sweep(fx.weights, [fx.clips[0]], { precision: 'fp16', heads: 4, compare: 'graph', referenceEp: 'webgpu' }), /needs the reference on the engine's EP/);
  });

  it('the paired sessions in the GPU helper process (the default on a GPU; TIMESFORMER_LAB_GPU_HELPER=1 here on the CPU EP), the next group run while this one is judged: the same results to the bit', async () => {
    const logs: string[] = [];
    const h = await withEnv({ TIMESFORMER_LAB_GPU_HELPER: '1' }, () => sweep(fx.weights, [fx.clipsDir, 'synthetic:1', 'synthetic:2'], { precision: 'fp16', heads: 4, compare: 'graph', batch: 4 }, { log: (l) => logs.push(l) }));
    assert.equal(logs.filter((l) => /built once for the sweep in the GPU helper process/.test(l)).length, 2, 'the mode\'s and the fix\'s paired sessions, both in the helper');
    assert.ok(h.timings.helperPeakRssBytes! > 0 && !batched.timings.helperPeakRssBytes);
    assert.ok(validate(JSON.parse(JSON.stringify(h))), `the helper's memory in sweep.json's schema: ${ajv.errorsText(validate.errors)}`);
    const fields = (r: SweepResult) => r.clips.map((c) => [c.clip, c.verdict, c.firstFailingBlock, c.blockErrors, c.probsRelL2, c.layerNorms, c.fix, c.sentence]);
    assert.deepEqual(fields(h), fields(batched));
    assert.deepEqual(h.headroom, batched.headroom);
    assert.deepEqual(h.fix.layerNorms, batched.fix.layerNorms);
    assert.deepEqual(h.fix.confirmed!.clips.map((c) => [c.clip, c.verdict, c.worstRelL2]), batched.fix.confirmed!.clips.map((c) => [c.clip, c.verdict, c.worstRelL2]));
  });

  it('the GPU helper process killed mid-sweep: its sessions are built again in this process and the sweep ends with the same results', async () => {
    const logs: string[] = [];
    let killed = 0;
    const h = await withEnv({ TIMESFORMER_LAB_GPU_HELPER: '1' }, () => sweep(fx.weights, [fx.clipsDir, 'synthetic:1', 'synthetic:2'], { precision: 'fp16', heads: 4, compare: 'graph', batch: 4 }, {
      log: (l) => logs.push(l),
      onClip: (_c, p) => {
        if (p.index !== 0) return;
        const pid = Number(/in the GPU helper process \(pid (\d+)\)/.exec(logs.join('\n'))?.[1]);
        assert.ok(pid > 0, logs.join('\n'));
        process.kill(pid, 'SIGKILL');
        killed = pid;
      },
    }));
    assert.ok(killed > 0);
    assert.ok(logs.some((l) => /^sweep: the GPU helper process (ended \(SIGKILL\)|is gone).*; the paired sessions are built again in this process$/.test(l)), logs.join('\n'));
    assert.ok(logs.some((l) => /built once for the sweep$/.test(l)), 'a paired session in this process');
    assert.equal(h.summary.bad, 0, 'no clip lost');
    const fields = (r: SweepResult) => r.clips.map((c) => [c.clip, c.verdict, c.firstFailingBlock, c.blockErrors, c.layerNorms, c.fix]);
    assert.deepEqual(fields(h), fields(batched));
    assert.equal(h.fix.confirmed!.verdict, 'pass');
  });

  it('a clip\'s errors are a single run\'s (runPipeline with that clip as --input)', async () => {
    const bright = first.clips.find((c) => levelOf(c.clip) === 245)!;
    const dark = first.clips.find((c) => levelOf(c.clip) === 40)!;
    for (const c of [bright, dark]) {
      const r = (await runPipeline({ weights: fx.weights, input: c.clip, heads: 4, precision: 'fp16', confirmMinimalFix: false })).report;
      assert.equal(r.diagnosis.verdict, c.verdict);
      assert.equal(r.diagnosis.firstBadBlock, c.firstFailingBlock);
      r.blocks.forEach((b, i) => assert.ok(Math.abs(b.relL2 - c.blockErrors![i]) <= 1e-6 * Math.max(1, b.relL2), `${base(c.clip)} block ${i}: ${b.relL2} vs ${c.blockErrors![i]}`));
    }
  });

  it('sweep.json validates against docs/sweep.schema.json, and the schema refuses what is not a sweep', () => {
    const json = JSON.parse(fs.readFileSync(path.join(out(), RESULT_FILE), 'utf8')) as Record<string, unknown> & { clips: Record<string, unknown>[] };
    assert.ok(validate(json), ajv.errorsText(validate.errors));
    assert.equal(SCHEMA.definitions.SweepResult.properties.version.const, SWEEP_VERSION);
    assert.equal(validate({ ...json, version: 2 }), false);
    const { fix: _f, ...noFix } = json;
    assert.equal(validate(noFix), false);
    const doneWithoutErrors = { ...json, clips: [{ ...json.clips[0], blockErrors: undefined }] };
    assert.equal(validate(JSON.parse(JSON.stringify(doneWithoutErrors))), false, 'a done clip must carry its block errors');
    for (const line of fs.readFileSync(path.join(out(), CLIPS_FILE), 'utf8').trim().split('\n')) {
      const l = JSON.parse(line);
      const sub = ajv.getSchema(`${SCHEMA.$id}#/definitions/${l.kind === 'clip' ? 'ClipResult' : 'ConfirmedClip'}`)!;
      assert.ok(sub(l.result), ajv.errorsText(sub.errors));
    }
  });

  it('sweep.md renders: a clip table row per clip with its columns, the headroom table, the fix confirmed', () => {
    const md = fs.readFileSync(path.join(out(), MARKDOWN_FILE), 'utf8');
    const html = new MarkdownIt().render(md);
    const tables = html.split('<table>').slice(1);
    assert.equal(tables.length, 2);
    const rows = tables[0].split('<tr>').slice(2);
    assert.equal(rows.length, LEVELS.length + 2);
    assert.ok(rows.every((r) => (r.match(/<td/g) ?? []).length === 7));
    assert.match(rows[0], /<strong>FAIL<\/strong>/);
    assert.equal(tables[1].split('<tr>').slice(2).length, first.headroom.length);
    assert.match(html, /Confirmed: the set re-run with them in FP32 passes on all 10 clips/);
    assert.match(html, /clips\/s, the engine and its FP32 reference as two sessions \(blocks compared on the host\), 3 session\(s\) built/);
  });

  it('Cancel keeps the clips done; a rerun into the same folder skips them and gives the same result', async () => {
    const dir = path.join(tmp, 'cancel');
    const ac = new AbortController();
    const part = await sweep(fx.weights, [fx.clipsDir], { precision: 'fp16', heads: 4, out: dir }, {
      signal: ac.signal,
      onClip: (_c, p) => p.index === 2 && ac.abort(),
    });
    assert.equal(part.cancelled, true);
    assert.equal(part.summary.verdict, 'incomplete');
    assert.equal(part.summary.done, 3);
    assert.equal(part.fix.confirmed, null);
    assert.equal(fs.readFileSync(path.join(dir, CLIPS_FILE), 'utf8').trim().split('\n').length, 3);
    const seen: boolean[] = [];
    const rest = await sweep(fx.weights, [fx.clipsDir], { precision: 'fp16', heads: 4, out: dir }, { onClip: (_c, p) => seen.push(p.skipped) });
    assert.deepEqual(seen, [true, true, true, ...Array(LEVELS.length - 3).fill(false)]);
    assert.equal(rest.summary.skipped, 3);
    const byClip = (r: SweepResult) => Object.fromEntries(r.clips.map((c) => [base(c.clip), c.blockErrors]));
    const firstOnes = Object.fromEntries(Object.entries(byClip(first)).filter(([k]) => k.startsWith('clip')));
    assert.deepEqual(byClip(rest), firstOnes);
    // other options are another sweep: nothing is skipped
    const again = await sweep(fx.weights, [fx.clips[0]], { precision: 'fp16', heads: 4, tolerance: 0.03, out: dir });
    assert.equal(again.summary.skipped, 0);
  });

  it('bad clips are listed with their error and the sweep goes on past them', async () => {
    const dir = path.join(tmp, 'bad');
    fs.mkdirSync(dir);
    fs.copyFileSync(fx.clips[7], path.join(dir, 'a_good.npy'));
    const good = fs.readFileSync(fx.clips[0]);
    fs.writeFileSync(path.join(dir, 'b_truncated.npy'), good.subarray(0, good.length - 100));
    writeNpyU8(path.join(dir, 'c_zero_frames.npy'), [0, 32, 32, 3], new Uint8Array(0));
    writeNpyU8(path.join(dir, 'd_wrong_size.npy'), [4, 48, 48, 3], frames(4, 48, 100, 1));
    fs.writeFileSync(path.join(dir, 'e_not_a_video.mp4'), 'this is text, not a container');
    const outside = path.join(tmp, 'outside.npy');
    fs.copyFileSync(fx.clips[1], outside);
    fs.symlinkSync(outside, path.join(dir, 'f_link_out.npy'));
    const r = await sweep(fx.weights, [dir, path.join(tmp, 'no_such_clip.npy')], { precision: 'fp16', heads: 4, out: path.join(tmp, 'bad-out') });
    const byName = new Map<string, ClipResult>(r.clips.map((c) => [base(c.clip), c]));
    assert.equal(byName.get('a_good.npy')!.status, 'done');
    assert.equal(byName.get('a_good.npy')!.verdict, 'fail');
    const codes = Object.fromEntries([...byName].filter(([, c]) => c.status === 'error').map(([n, c]) => [n, c.error!.code]));
    assert.deepEqual(Object.keys(codes).sort(), ['b_truncated.npy', 'c_zero_frames.npy', 'd_wrong_size.npy', 'e_not_a_video.mp4', 'f_link_out.npy', 'no_such_clip.npy']);
    assert.equal(codes['f_link_out.npy'], 'LINK_OUTSIDE_MODEL');
    assert.equal(codes['no_such_clip.npy'], 'FILE_NOT_FOUND');
    for (const [n, c] of byName) if (c.status === 'error') assert.ok(c.error!.message.includes(n), `${n}: the message names the file: ${c.error!.message}`);
    assert.equal(r.summary.bad, 6);
    assert.deepEqual(r.clips.slice(0, 1).map((c) => base(c.clip)), ['a_good.npy'], 'done clips first, then the bad ones');
  });

  it('per-clip test data is the clip\'s reference (d1: the heads detected from it, block 4 fails as in a single run)', async () => {
    const r = await sweep(path.join(FIX, 'd1_outlier.pyth'), [path.join(FIX, 'd1_outlier_test_data.p'), 'synthetic:1'], { precision: 'fp16', confirm: false });
    assert.equal(r.options.heads, 4);
    const d = r.clips.find((c) => c.reference === 'test-data')!;
    assert.equal(d.firstFailingBlock, 4);
    const single = (await runPipeline({ weights: path.join(FIX, 'd1_outlier.pyth'), data: path.join(FIX, 'd1_outlier_test_data.p'), precision: 'fp16', confirmMinimalFix: false })).report;
    single.blocks.forEach((b, i) => assert.ok(Math.abs(b.relL2 - d.blockErrors![i]) <= 1e-6 * Math.max(1, b.relL2), `block ${i}`));
    assert.equal(r.clips.find((c) => c.clip === 'synthetic:1')!.reference, 'self');
  });

  it('the CLI: exit 1 when a clip fails, 0 when all pass, 2 for bad input; progress with an ETA on stderr', async () => {
    const o = path.join(tmp, 'cli');
    const fail = await cli(['sweep', '--weights', fx.weights, '--clips', fx.clips[7], fx.clips[0], fx.clips[1], '--heads', '4', '--out', o]);
    assert.equal(fail.code, 1, fail.err);
    assert.match(fail.err, /\[1\/3\] clip0007_level245\.npy FAIL worst .* clips\/s, ETA \d+ s/);
    assert.match(fail.out, /covering fix: \d+ LayerNorm\(s\) in FP32: blocks\.1\.temporal_norm1/);
    assert.match(fail.out, /confirmed on the set: PASS \(3\/3 clips pass\)/);
    assert.match(fail.out, /clips\/s \(the engine and its FP32 reference as two sessions, blocks compared here; \d+ KiB read back a clip\)/);
    const inGraph = await cli(['sweep', '--weights', fx.weights, '--clips', fx.clips[7], '--heads', '4', '--out', path.join(tmp, 'cli6'), '--quiet', '--no-confirm', '--compare', 'graph', '--batch', '2']);
    assert.equal(inGraph.code, 1, inGraph.err);
    assert.match(inGraph.out, /clips\/s \(the engine and its FP32 reference as one graph, blocks compared inside it, 1 clip\(s\) a run; \d+ KiB read back a clip\)/, 'a batch of 2 for one clip: one clip a run');
    const badCompare = await cli(['sweep', '--weights', fx.weights, '--clips', fx.clips[7], '--out', path.join(tmp, 'cli7'), '--compare', 'gpu']);
    assert.equal(badCompare.code, 2);
    assert.match(badCompare.err, /--compare must be graph or host/);
    const written = parseReportJson<SweepResult>(fs.readFileSync(path.join(o, RESULT_FILE), 'utf8'));
    assert.ok(validate(JSON.parse(fs.readFileSync(path.join(o, RESULT_FILE), 'utf8'))));
    assert.equal(written.summary.failed, 1);
    const pass = await cli(['sweep', '--weights', fx.weights, '--clips', fx.clips[0], 'synthetic:4', '--heads', '4', '--out', path.join(tmp, 'cli2'), '--quiet']);
    assert.equal(pass.code, 0, pass.err);
    assert.equal(pass.err, '');
    const fixed = await cli(['sweep', '--weights', fx.weights, '--clips', fx.clips[7], '--heads', '4', '--out', path.join(tmp, 'cli3'), '--quiet',
      '--fix-layernorms', first.fix.layerNorms.join(',')]);
    assert.equal(fixed.code, 0, `the covering fix passes: ${fixed.out}`);
    const none = await cli(['sweep', '--weights', fx.weights, '--clips', path.join(tmp, 'empty-nothing'), '--out', path.join(tmp, 'cli4')]);
    assert.equal(none.code, 2);
    assert.match(none.err, /FILE_NOT_FOUND|no clips/);
    const bad = await cli(['sweep', '--weights', fx.weights, '--clips', fx.clipsDir, '--out', path.join(tmp, 'cli5'), '--precision', 'fp8']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--precision/);
    const noOut = await cli(['sweep', '--weights', fx.weights, '--clips', fx.clipsDir]);
    assert.equal(noOut.code, 2);
    assert.match(noOut.err, /--out/);
    const help = await cli(['sweep', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.out, /usage: timesformer-lab sweep/);
  });
});
