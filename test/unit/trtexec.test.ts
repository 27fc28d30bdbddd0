/**
 * Issue 19, part 3: trtexec driven by us (core/trt/trtexec.ts, trtexec-run.ts; the CLI's trt-run;
 * the host's wiring is trtexec-host.test.ts's). trtexec here is a STAND-IN (test/fixtures/trt/trtexec-standin.js: trtexec's
 * real log lines and --exportOutput format, the outputs computed by onnxruntime-node in FP32 from
 * the ONNX it is given; its "engine" is a copy of that ONNX; no TensorRT on this machine). What is
 * checked: the version and flags read from --help; the arguments; the log read as progress; the
 * engine cache (miss, hit, key, no partial entry after a failure or a cancel); Cancel kills the
 * process group (no orphan); an error names the command line and the last log lines; the imported
 * outputs give the per-block errors of our own FP32 graph (the stand-in computes FP32).
 */
import { strict as assert } from 'assert';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { diff } from '../../extension/core/compare/metrics';
import { LabError } from '../../extension/core/errors';
import { prepare, type Prepared } from '../../extension/core/pipeline';
import type { Stage } from '../../extension/core/report';
import {
  cacheKey, commandLine, EngineCache, locateTrtexec, parseHelp, parseLogLine, parseTrtVersion, probeTrtexec, trtexecArgs, trtexecRefusal, type TrtexecInfo,
} from '../../extension/core/trt/trtexec';
import { trtexecRun } from '../../extension/core/trt/trtexec-run';
import { cli } from './helpers/cli';
import { rejects } from './helpers/errors';

import { D, ROOT, STANDIN, W, alive, until, withEnv } from './helpers/trtexec';

describe('trtexec: finding it, its version, its arguments and its log (issue 19)', () => {
  it('reads the version from the banner (NV_TENSORRT_VERSION, both encodings) and from "TensorRT version:"', () => {
    assert.deepEqual(parseTrtVersion('&&&& RUNNING TensorRT.trtexec [TensorRT v101600] [b12] # trtexec --help'), { version: '10.16.0', major: 10 });
    assert.deepEqual(parseTrtVersion('&&&& RUNNING TensorRT.trtexec [TensorRT v110100] [b3] # trtexec'), { version: '11.1.0', major: 11 });
    assert.deepEqual(parseTrtVersion('&&&& RUNNING TensorRT.trtexec [TensorRT v8601] # trtexec'), { version: '8.6.1', major: 8 });
    assert.deepEqual(parseTrtVersion('[12/07/2026-09:44:02] [I] TensorRT version: 10.3.0'), { version: '10.3.0', major: 10 });
    assert.equal(parseTrtVersion('usage: something else'), undefined);
  });

  it('asks the (stand-in) trtexec\'s --help which flags it has: TensorRT 10 has --fp16 and --layerPrecisions, 11 has neither but --loadRefOutputs', async () => {
    const v10 = await withEnv({ STANDIN_TRT_VERSION: '10' }, () => probeTrtexec(STANDIN));
    assert.deepEqual({ ...v10, path: '' }, { path: '', version: '10.16.0', major: 10, fp16: true, layerPrecisions: true, loadRefOutputs: false });
    const v11 = await withEnv({ STANDIN_TRT_VERSION: '11' }, () => probeTrtexec(STANDIN));
    assert.deepEqual({ ...v11, path: '' }, { path: '', version: '11.1.0', major: 11, fp16: false, layerPrecisions: false, loadRefOutputs: true });
    assert.throws(() => parseHelp('/bin/ls', 'ls: usage'), (e: LabError) => e.code === 'PROVIDER_UNAVAILABLE' && /does not look like trtexec/.test(e.message));
  });

  it('finds trtexec by the setting (an error naming the path when it is missing or not executable), else on PATH, else says it is not there', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-locate-'));
    try {
      assert.throws(() => locateTrtexec(path.join(tmp, 'nope')), (e: LabError) => e.code === 'FILE_NOT_FOUND' && e.message.includes(path.join(tmp, 'nope')));
      fs.writeFileSync(path.join(tmp, 'plain'), 'x', { mode: 0o644 });
      assert.throws(() => locateTrtexec(path.join(tmp, 'plain')), (e: LabError) => e.code === 'PROVIDER_UNAVAILABLE' && /not an executable/.test(e.message));
      assert.equal(locateTrtexec(undefined, { PATH: tmp }), undefined);
      fs.symlinkSync(STANDIN, path.join(tmp, 'trtexec'));
      assert.equal(locateTrtexec(undefined, { PATH: `/nonexistent${path.delimiter}${tmp}` }), path.join(tmp, 'trtexec'));
      assert.equal(locateTrtexec(`  ${STANDIN}  `), STANDIN);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('builds trtexec\'s arguments: build (--fp16, the fix with --precisionConstraints=obey), cached engine (--loadEngine, no build flags), one inference; refuses what this TensorRT lacks', () => {
    const v10 = { fp16: true, layerPrecisions: true, version: '10.16.0' };
    const base = { inputName: 'video', inputFile: '/w/inputs.bin', exportOutput: '/w/out.json' };
    assert.deepEqual(trtexecArgs({ ...base, onnx: '/w/m.onnx', saveEngine: '/c/k.plan.partial-1', precision: 'fp16', fp32Layers: ['/model/blocks.4/temporal_norm1/Pow', '/model/norm/Add_1'] }, v10), [
      '--onnx=/w/m.onnx', '--fp16', '--precisionConstraints=obey', '--layerPrecisions=/model/blocks.4/temporal_norm1/Pow:fp32,/model/norm/Add_1:fp32',
      '--saveEngine=/c/k.plan.partial-1', "--loadInputs='video':/w/inputs.bin", '--exportOutput=/w/out.json', '--iterations=1', '--warmUp=0', '--duration=0',
    ]);
    assert.deepEqual(trtexecArgs({ ...base, loadEngine: '/c/k.plan', precision: 'fp16', fp32Layers: ['/x'] }, v10), [
      '--loadEngine=/c/k.plan', "--loadInputs='video':/w/inputs.bin", '--exportOutput=/w/out.json', '--iterations=1', '--warmUp=0', '--duration=0',
    ]);
    assert.deepEqual(trtexecArgs({ ...base, onnx: '/w/m.onnx', precision: 'fp32', fp32Layers: [] }, { fp16: false, layerPrecisions: false, version: '11.1.0' }).slice(0, 2), ['--onnx=/w/m.onnx', "--loadInputs='video':/w/inputs.bin"]);
    assert.throws(() => trtexecArgs({ ...base, onnx: '/w/m.onnx', precision: 'fp16', fp32Layers: [] }, { fp16: false, layerPrecisions: false, version: '11.1.0' }), /TensorRT 11.1.0's trtexec has no --fp16/);
    assert.equal(commandLine('/opt/trt/bin/trtexec', ['--onnx=/a b/m.onnx', '--fp16']), "/opt/trt/bin/trtexec '--onnx=/a b/m.onnx' --fp16");
  });

  it('refuses before a run what trtexec cannot realize (BF16, our own LayerNorm realizations, fp16 accumulation, FP16 on TensorRT 11)', () => {
    assert.equal(trtexecRefusal({ precision: 'fp16', layerNorm: 'minimal' }), undefined);
    assert.match(trtexecRefusal({ precision: 'bf16' })!, /BF16/);
    assert.match(trtexecRefusal({ precision: 'fp16', layerNorm: 'prescaled' })!, /'prescaled' is a realization of ours/);
    assert.match(trtexecRefusal({ precision: 'fp16', accumulate: 'fp16' })!, /accumulation/);
    assert.match(trtexecRefusal({ precision: 'fp16' }, { fp16: false, layerPrecisions: false, version: '11.1.0' })!, /no --fp16/);
    assert.equal(trtexecRefusal({ precision: 'fp32', layerNorm: 'fp32' }, { fp16: false, layerPrecisions: false, version: '11.1.0' }), undefined);
  });

  it('reads trtexec\'s log lines (logging.h format, sampleEngines.cpp / trtexec.cpp texts) as progress; other lines say nothing', () => {
    const at = '[12/07/2026-09:44:02] ';
    assert.deepEqual(parseLogLine('&&&& RUNNING TensorRT.trtexec [TensorRT v101600] [b12] # trtexec --onnx=m.onnx'), { kind: 'version', version: '10.16.0' });
    assert.deepEqual(parseLogLine(`${at}[I] TensorRT version: 10.16.0`), { kind: 'version', version: '10.16.0' });
    assert.deepEqual(parseLogLine(`${at}[I] Start parsing network model.`), { kind: 'stage', stage: 'parsing' });
    assert.deepEqual(parseLogLine(`${at}[I] Finished parsing network model. Parse time: 0.0421`), { kind: 'stage', stage: 'building', detail: 'parsed in 0.04 s' });
    assert.deepEqual(parseLogLine(`${at}[I] Created engine with size: 12.5 MiB`), { kind: 'engine size', sizeMiB: 12.5 });
    assert.deepEqual(parseLogLine(`${at}[I] Engine built in 41.3 sec.`), { kind: 'built', seconds: 41.3 });
    assert.deepEqual(parseLogLine(`${at}[I] Engine deserialized in 0.0123 sec.`), { kind: 'stage', stage: 'loading engine' });
    assert.deepEqual(parseLogLine(`${at}[I] Starting inference`), { kind: 'stage', stage: 'running' });
    assert.deepEqual(parseLogLine(`${at}[E] Engine could not be created from network`), { kind: 'error', text: 'Engine could not be created from network' });
    assert.deepEqual(parseLogLine('&&&& FAILED TensorRT.trtexec [TensorRT v101600] [b12] # trtexec'), { kind: 'result', passed: false });
    assert.equal(parseLogLine(`${at}[I] [TRT] Detected 1 inputs and 13 output network tensors.`), undefined);
    assert.equal(parseLogLine(`${at}[W] Start parsing network model.`), undefined, 'a warning is not a stage');
    assert.equal(parseLogLine('Start parsing network model.'), undefined, 'not a log line');
  });

  it('keys the engine cache by model hash, precision, fix (in any order), TensorRT version and GPU (name and compute capability)', () => {
    const k = { modelHash: 'a'.repeat(64), precision: 'fp16' as const, fp32Layers: ['/b', '/a'], trtVersion: '10.16.0', gpu: { name: 'NVIDIA H100 80GB HBM3', computeCapability: '9.0' } };
    const key = cacheKey(k);
    assert.match(key, /^[0-9a-f]{32}$/);
    assert.equal(cacheKey({ ...k, fp32Layers: ['/a', '/b', '/a'] }), key);
    const others = [{ modelHash: 'b'.repeat(64) }, { precision: 'fp32' as const }, { fp32Layers: ['/a'] }, { fp32Layers: [] }, { trtVersion: '10.16.1' },
      { gpu: { name: 'NVIDIA H100 80GB HBM3', computeCapability: '8.9' } }, { gpu: { name: 'NVIDIA H100 PCIe', computeCapability: '9.0' } }].map((x) => cacheKey({ ...k, ...x }));
    assert.equal(new Set([key, ...others]).size, 8, 'every part changes the key');
    assert.equal(cacheKey({ ...k, gpu: { name: ' nvidia  H100 80GB HBM3', computeCapability: '9.0' } }), key, 'the name read by nvidia-smi or trtexec, spacing and case aside');
  });

  it('the cache sweeps partial builds of processes that are gone, keeps those of live ones, and refuses to commit an empty engine', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-cache-'));
    try {
      const c = new EngineCache(dir);
      const dead = spawnSync('true').pid!;
      fs.writeFileSync(path.join(dir, `${'a'.repeat(32)}.plan.partial-${dead}`), 'x');
      fs.writeFileSync(path.join(dir, `${'b'.repeat(32)}.plan.partial-${process.pid}`), 'x');
      assert.deepEqual(c.sweep(), [`${'a'.repeat(32)}.plan.partial-${dead}`]);
      const p = c.partial('c'.repeat(32));
      fs.writeFileSync(p, '');
      assert.throws(() => c.commit('c'.repeat(32), p, {}), (e: LabError) => e.code === 'ENGINE_FAILED');
      assert.equal(c.lookup('c'.repeat(32)), undefined);
      fs.writeFileSync(p, 'engine');
      assert.equal(c.commit('c'.repeat(32), p, { precision: 'fp16' }), path.join(dir, `${'c'.repeat(32)}.plan`));
      assert.deepEqual(c.entries(), [{ key: 'c'.repeat(32), bytes: 6 }]);
      assert.equal(JSON.parse(fs.readFileSync(path.join(dir, `${'c'.repeat(32)}.json`), 'utf8')).precision, 'fp16');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('trtexec: a run with the stand-in on d1 (build, cache, fix, failure, cancel)', function () {
  this.timeout(180000);
  let tmp: string;
  let cacheDir: string;
  let argLog: string;
  let p: Prepared;
  let v10: TrtexecInfo;
  let ours: Map<string, Float32Array>;
  const calls = () => fs.readFileSync(argLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as string[]).filter((a) => !a.includes('--help') && !a.some((x) => x.includes('gpu-probe-no-engine')));
  const partials = (dir = cacheDir) => fs.readdirSync(dir).filter((n) => n.includes('.partial-'));
  const run = (o: { layerNorm?: 'plain' | 'fp32' | 'minimal'; env?: Record<string, string>; signal?: AbortSignal; onProgress?: (s: Stage, d?: string) => void; cache?: string } = {}) =>
    withEnv({ STANDIN_LOG: argLog, ...o.env }, () => trtexecRun(p, { trtexec: v10, cacheDir: o.cache ?? cacheDir, precision: 'fp16', layerNorm: o.layerNorm ?? 'plain' }, { signal: o.signal, onProgress: o.onProgress }));

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-trtexec-run-'));
    cacheDir = path.join(tmp, 'cache');
    argLog = path.join(tmp, 'args.jsonl');
    fs.writeFileSync(argLog, '');
    v10 = await withEnv({ STANDIN_TRT_VERSION: '10' }, () => probeTrtexec(STANDIN));
    p = await prepare({ weights: W, data: D });
    ours = (await p.fp32Probe()).out;
  });
  after(() => {
    p?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('a miss builds the engine (--onnx, --fp16, --saveEngine under a partial name), caches it, and the Report has the per-block errors of the engine\'s real outputs', async () => {
    const stages: string[] = [];
    const r = await run({ onProgress: (s, d) => stages.push(`${s}: ${d ?? ''}`) });
    assert.equal(r.cacheHit, false);
    const args = calls().at(-1)!;
    assert.ok(args[0].startsWith('--onnx=') && args[0].endsWith('model_marked.onnx'), args[0]);
    assert.ok(args.includes('--fp16'));
    assert.ok(args.some((a) => new RegExp(`^--saveEngine=.*${r.key}\\.plan\\.partial-${process.pid}$`).test(a)), args.join(' '));
    assert.ok(!args.some((a) => a.startsWith('--layerPrecisions')));
    assert.equal(r.engine, path.join(cacheDir, `${r.key}.plan`));
    assert.ok(fs.statSync(r.engine).size > 0);
    assert.deepEqual(partials(), []);
    // progress from the log: export, parsing, building, running, comparing
    for (const want of [/^building graph: exporting/, /^building engine: trtexec: parsing the ONNX/, /^building engine: trtexec: building the FP16 engine \(TensorRT 10\.16\.0\)/, /^running: trtexec/, /^comparing/]) {
      assert.ok(stages.some((s) => want.test(s)), `${want} in ${stages.join(' | ')}`);
    }
    // the stand-in ran the marked ONNX in FP32: every block's error is our FP32 graph's against the test data,
    // up to trtexec's printing of 6 significant digits (sampleUtils.cpp: `os << float`), ~1e-6 relative
    const ref = await p.reference();
    assert.equal(r.report.blocks.length, 12);
    const seen: string[] = [];
    for (const b of r.report.blocks) {
      const want = diff(ours.get(`blocks.${b.index}.out`)!, ref.blocks[b.index]).relL2;
      seen.push(`${b.index}: ${b.relL2.toExponential(2)} (ours ${want.toExponential(2)})`);
      assert.ok(Math.abs(b.relL2 - want) <= 3e-6, `block ${b.index}: ${b.relL2} vs our FP32 graph's ${want}`);
    }
    console.log(`      trtexec (stand-in, FP32 onnxruntime) per-block rel L2 vs the test data: ${seen.join(', ')}`);
    assert.equal(r.report.diagnosis.verdict, 'pass');
    assert.equal(r.report.run.ep, 'tensorrt');
    assert.equal(r.report.run.precision, 'fp16');
    assert.match(r.report.run.label!, /^TensorRT 10\.16\.0 \(trtexec\) FP16, marked · engine [0-9a-f]{8}$/);
    assert.ok(r.report.log[0].startsWith(`trtexec: ${STANDIN} --onnx=`));
  });

  it('the same model, precision and fix again is a hit: --loadEngine of the cached engine, no build flags, the same numbers', async () => {
    const first = await run();
    const n = calls().length;
    const again = await run();
    assert.equal(calls().length, n + 1);
    assert.equal(again.cacheHit, true);
    assert.equal(again.key, first.key);
    const args = calls().at(-1)!;
    assert.equal(args[0], `--loadEngine=${path.join(cacheDir, `${first.key}.plan`)}`);
    assert.ok(!args.some((a) => a === '--fp16' || a.startsWith('--onnx') || a.startsWith('--saveEngine')), args.join(' '));
    assert.deepEqual(again.report.blocks.map((b) => b.relL2), first.report.blocks.map((b) => b.relL2));
    assert.match(again.report.run.label!, /\(cached\)$/);
  });

  it('the minimal fix is another engine: --precisionConstraints=obey and --layerPrecisions over the LayerNorms the statistics name (blocks 4 on), its own cache entry', async () => {
    const plain = await run();
    const r = await run({ layerNorm: 'minimal' });
    assert.notEqual(r.key, plain.key);
    assert.equal(r.fixed[0], 'blocks.4.temporal_norm1');
    const args = calls().at(-1)!;
    assert.ok(args.includes('--precisionConstraints=obey'));
    const lp = args.find((a) => a.startsWith('--layerPrecisions='))!;
    assert.ok(lp.includes('/model/blocks.4/temporal_norm1/Pow:fp32'), lp);
    assert.equal(lp.split(',').length, r.fixed.length * 9, 'nine decomposed nodes per LayerNorm');
    assert.match(r.report.run.label!, /with \d+ LayerNorm\(s\) in FP32 \(--layerPrecisions\)/);
    assert.equal(new EngineCache(cacheDir).entries().length >= 2, true);
  });

  it('a failed build is an ENGINE_FAILED error with the command line and trtexec\'s last log lines, and leaves no cache entry', async () => {
    const before = new EngineCache(cacheDir).entries().length;
    const e = await rejects(run({ layerNorm: 'fp32', env: { STANDIN_FAIL: 'build' } }), 'ENGINE_FAILED', 'trtexec exited with code 1', `command: ${STANDIN} --onnx=`, '--layerPrecisions=', 'Engine could not be created from network', 'Engine set up failed', '&&&& FAILED TensorRT.trtexec');
    assert.ok(e.message.split('\n').length <= 16, 'the last lines, not the whole log');
    assert.equal(new EngineCache(cacheDir).entries().length, before);
    assert.deepEqual(partials(), []);
  });

  it('a slow build shows its elapsed time while TensorRT builds (its builder logs nothing per layer at [I])', async () => {
    const details: string[] = [];
    await run({ layerNorm: 'fp32', env: { STANDIN_BUILD_MS: '4500' }, onProgress: (_s, d) => d && details.push(d) });
    assert.ok(details.some((d) => /^trtexec: building the FP16 engine with 37 LayerNorm\(s\) in FP32 \(TensorRT 10\.16\.0\), [2-9] s$/.test(d)), details.join(' | '));
  });

  it('Cancel kills trtexec\'s process group (its child too: no orphan), rejects CANCELLED, and leaves no partial engine nor scratch', async () => {
    const pids = path.join(tmp, 'pids');
    fs.rmSync(pids, { force: true });
    const ac = new AbortController();
    const scratchBefore = fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('tsl-trtexec-')).length;
    const cache = path.join(tmp, 'cache-cancel'); // empty: a build (the stand-in hangs while building)
    const pending = run({ env: { STANDIN_HANG: '1', STANDIN_PIDS: pids }, signal: ac.signal, cache });
    await until(() => fs.existsSync(pids) && fs.readFileSync(pids, 'utf8').includes(' '), 60000, 'the stand-in to start building');
    const [standin, child] = fs.readFileSync(pids, 'utf8').trim().split(' ').map(Number);
    assert.ok(alive(standin) && alive(child));
    assert.equal(partials(cache).length, 1, 'the build writes under a partial name');
    ac.abort();
    await rejects(pending, 'CANCELLED', 'its engine was not cached');
    await until(() => !alive(standin) && !alive(child), 5000, 'trtexec and its child to end');
    assert.deepEqual(fs.readdirSync(cache), [], 'no partial engine, no entry');
    assert.equal(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('tsl-trtexec-')).length, scratchBefore);
  });

  it('the CLI (trt-run, as the extension runs it) ended by SIGTERM kills trtexec\'s group and removes the partial engine before it ends', async () => {
    const pids = path.join(tmp, 'pids-cli');
    const cache2 = path.join(tmp, 'cache-cli');
    const cliJs = path.join(ROOT, 'out', 'extension', 'cli.js');
    const child = spawn(process.execPath, [cliJs, 'trt-run', '--weights', W, '--data', D, '--trtexec', STANDIN, '--trt-cache', cache2, '--quiet'], {
      env: { ...process.env, STANDIN_HANG: '1', STANDIN_PIDS: pids }, stdio: 'ignore',
    });
    const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
    await until(() => fs.existsSync(pids) && fs.readFileSync(pids, 'utf8').includes(' '), 90000, 'the stand-in to start building');
    const [standin, grandchild] = fs.readFileSync(pids, 'utf8').trim().split(' ').map(Number);
    assert.equal(fs.readdirSync(cache2).filter((n) => n.includes('.partial-')).length, 1);
    child.kill('SIGTERM');
    const how = await ended;
    assert.equal(how.signal, 'SIGTERM', `ended by the signal (${JSON.stringify(how)})`);
    await until(() => !alive(standin) && !alive(grandchild), 5000, 'trtexec and its child to end');
    assert.deepEqual(fs.readdirSync(cache2).filter((n) => !n.startsWith('.')), [], 'no partial engine, no entry');
  });

  it('the CLI: run --ep trtexec is trt-run; its table and exit code; without trtexec it says where to get it and offers export-trt', async () => {
    const r = await withEnv({ STANDIN_LOG: argLog }, () => cli(['run', '--ep', 'trtexec', '--weights', W, '--data', D, '--trtexec', STANDIN, '--trt-cache', cacheDir, '--precision', 'fp32', '--quiet']));
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^TensorRT 10\.16\.0 \(trtexec\) FP32, marked · engine/m);
    assert.match(r.out, /engine: .*\.plan \(built, now cached\)/);
    assert.ok(!calls().at(-1)!.includes('--fp16'));
    const none = await withEnv({ PATH: '/nonexistent' }, () => cli(['trt-run', '--weights', W, '--data', D]));
    assert.equal(none.code, 2);
    assert.match(none.err, /PROVIDER_UNAVAILABLE.*trtexec is not on PATH.*export-trt/);
    const bf = await cli(['trt-run', '--weights', W, '--precision', 'bf16', '--trtexec', STANDIN]);
    assert.equal(bf.code, 2);
    assert.match(bf.err, /--ep trtexec builds FP16 or FP32 engines/);
    const v11 = await withEnv({ STANDIN_TRT_VERSION: '11' }, () => cli(['trt-run', '--weights', W, '--trtexec', STANDIN]));
    assert.equal(v11.code, 2);
    assert.match(v11.err, /TensorRT 11\.1\.0's trtexec has no --fp16/);
  });
});
