/**
 * A run of the user's own TensorRT through trtexec (issue 19, part 3), the same flow as every other
 * engine: export the marked ONNX (every block output an engine output, as the bundle's
 * model_marked.onnx), build the engine with trtexec — or load it from the engine cache, keyed by
 * (model hash, precision, fix, TensorRT version, GPU; an entry trtexec cannot load is dropped and
 * built again, once) —, run it once on the clip (--loadInputs), read
 * its --exportOutput through the import path (import.ts) and return a Report like any run's.
 * The fix is the bundle scripts' (--precisionConstraints=obey --layerPrecisions=…:fp32 over the
 * decomposed LayerNorms' nodes). trtexec.ts has the process, the log and the cache. No vscode import.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { LabError } from '../errors';
import { exportForTensorRt, layerNormNames } from '../export';
import { torchDecomposedNodeNames } from '../compare/diagnosis';
import type { Prepared } from '../pipeline';
import type { PipelineHooks, Report } from '../report';
import { f32Bytes } from './bundle';
import { compareImports, readImports } from './import';
import { cacheKey, EngineCache, fileHash } from './engine-cache';
import { detectGpu, gpuLabel, type DetectedGpu, parseDeviceLines, sameGpu } from './gpu';
import { commandLine, inputNotLoaded, onAbnormalExit, parseLogLine, runProcess, trtexecArgs, trtexecRefusal, type TrtexecInfo, type TrtexecLayerNorm } from './trtexec';

export { trtexecRefusal, TRTEXEC_LAYERNORMS, type TrtexecLayerNorm } from './trtexec';

export interface TrtexecRunOptions {
  trtexec: TrtexecInfo;
  /** The engine cache folder (created). */
  cacheDir: string;
  precision: 'fp16' | 'fp32';
  layerNorm: TrtexecLayerNorm;
  tolerance?: number;
  /** Lines of trtexec's log an error quotes (default 12). */
  tailLines?: number;
}

export interface TrtexecRunResult {
  report: Report;
  /** The trtexec command line that ran. */
  command: string;
  cacheHit: boolean;
  key: string;
  /** The cached engine; undefined when trtexec ran on a GPU of another compute capability than the key's (not cached). */
  engine?: string;
  /** The GPU the key names (gpu.ts). */
  gpu: DetectedGpu;
  /** LayerNorms kept in FP32 by the fix (empty for plain). */
  fixed: string[];
}

const cap = (s: string) => s.toUpperCase();

export async function trtexecRun(p: Prepared, o: TrtexecRunOptions, hooks: PipelineHooks = {}): Promise<TrtexecRunResult> {
  const refusal = trtexecRefusal({ precision: o.precision, layerNorm: o.layerNorm }, o.trtexec);
  if (refusal) throw new LabError('BAD_OPTION', refusal);
  const progress = (stage: 'building graph' | 'building engine' | 'running' | 'comparing', detail?: string) => {
    if (hooks.signal?.aborted) throw new LabError('CANCELLED', 'cancelled');
    hooks.onProgress?.(stage, detail);
  };
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsl-trtexec-'));
  const cache = new EngineCache(o.cacheDir);
  let partial: string | undefined;
  // killed by a signal mid-run (the extension's Cancel ends the CLI): no half-written engine, no scratch
  const unhook = onAbnormalExit(() => {
    if (partial) cache.discard(partial);
    fs.rmSync(work, { recursive: true, force: true });
  });
  try {
    progress('building graph', 'exporting model_marked.onnx for trtexec');
    const onnx = path.join(work, 'model_marked.onnx');
    const exp = await exportForTensorRt(p, { layerNorm: 'plain', form: 'decomposed', onnxName: 'model_marked.onnx', markBlocks: true });
    exp.write(onnx);
    let fixed: string[] = [];
    if (o.layerNorm === 'fp32') fixed = layerNormNames(p.config.depth);
    else if (o.layerNorm === 'minimal') {
      fixed = (await exportForTensorRt(p, { layerNorm: 'minimal', form: 'decomposed' })).fixed;
      p.say(`trtexec: the minimal fix keeps ${fixed.length} LayerNorm(s) in FP32, read from our FP32 statistics of this clip: ${fixed.join(', ') || 'none'}`);
    }
    // the fix only applies to an FP16 build; an FP32 engine has nothing to keep in FP32
    const fp32Layers = o.precision === 'fp16' ? fixed.flatMap((n) => torchDecomposedNodeNames(n)) : [];
    const missing = fp32Layers.filter((l) => !exp.nodeNames.includes(l));
    if (missing.length) throw new LabError('ENGINE_FAILED', `the fix names layers the exported graph lacks: ${missing.slice(0, 3).join(', ')}`);

    const { onnx: proto } = await import('onnx-proto');
    const inputName = proto.ModelProto.decode(exp.model).graph!.input![0].name!;
    const inputs = path.join(work, 'inputs.bin');
    fs.writeFileSync(inputs, f32Bytes(p.video.data));

    const modelHash = await fileHash(onnx);
    // a plan is specific to the GPU (its compute capability and model): part of the key (gpu.ts)
    const gpu = await detectGpu(o.trtexec.path, work, { signal: hooks.signal });
    p.say(`trtexec: GPU ${gpuLabel(gpu)}, read from ${gpu.source === 'nvidia-smi' ? 'nvidia-smi' : `trtexec's device lines (${gpu.why})`}`);
    const keyParts = { modelHash, precision: o.precision, fp32Layers, trtVersion: o.trtexec.version, gpu: { name: gpu.name, computeCapability: gpu.computeCapability } };
    const key = cacheKey(keyParts);
    for (const n of cache.sweep()) p.say(`trtexec: removed ${n} from the engine cache (a build whose process is gone)`);
    const fixTag = fp32Layers.length ? '_fix' : '';
    const exported = path.join(work, `trt_${o.precision}${fixTag}_marked.json`);
    const what = `the ${cap(o.precision)}${fp32Layers.length ? ` engine with ${fixed.length} LayerNorm(s) in FP32` : ' engine'} (TensorRT ${o.trtexec.version})`;

    /** One trtexec run: load the cached engine `hit`, or build (into the cache's partial name). */
    const runTrtexec = async (hit: string | undefined) => {
      partial = hit ? undefined : cache.partial(key);
      fs.rmSync(exported, { force: true });
      const args = trtexecArgs({
        ...(hit ? { loadEngine: hit } : { onnx, saveEngine: partial }),
        // trtexec runs in `work`: the input is named by a relative path (no drive letter, ',' or quote of a
        // temporary folder's path can reach --loadInputs' parsing; loadInputsSpec)
        inputName, inputFile: path.basename(inputs), exportOutput: exported, precision: o.precision, fp32Layers,
      }, o.trtexec);
      // (run in its scratch folder, where inputs.bin is)
      const command = commandLine(o.trtexec.path, args);
      p.say(`trtexec (TensorRT ${o.trtexec.version}): ${hit ? `engine ${key} from the cache ${o.cacheDir}` : `building engine ${key} (not in the cache ${o.cacheDir})`}`);
      p.say(`+ ${command}`);
      progress('building engine', hit ? `loading the cached ${what.slice(4)}` : `trtexec: starting (${what.slice(4)})`);
      const t0 = Date.now();
      let building = false;
      const ticker = setInterval(() => {
        if (building) hooks.onProgress?.('building engine', `trtexec: building ${what}, ${Math.round((Date.now() - t0) / 1000)} s`);
      }, 2000);
      let logVersion: string | undefined;
      let loaded = false;
      const inputLines: string[] = [];
      const deviceLines: string[] = [];
      const errors: string[] = [];
      let result: Awaited<ReturnType<typeof runProcess>>;
      try {
        result = await runProcess(o.trtexec.path, args, {
          signal: hooks.signal, tailLines: o.tailLines ?? 12, cwd: work,
          onLine: (line) => {
            if (/\[I\] Using (values loaded from|random values for input)/.test(line)) inputLines.push(line);
            if (/\[I\] (Selected Device|Compute Capability): /.test(line)) deviceLines.push(line);
            const e = parseLogLine(line);
            if (!e) return;
            if (e.kind === 'version') logVersion = e.version;
            else if (e.kind === 'stage') {
              building = e.stage === 'building';
              if (e.stage === 'loading engine') loaded = true;
              if (e.stage === 'parsing') hooks.onProgress?.('building engine', 'trtexec: parsing the ONNX');
              else if (e.stage === 'building') hooks.onProgress?.('building engine', `trtexec: building ${what}${e.detail ? ` (${e.detail})` : ''}`);
              else if (e.stage === 'loading engine') hooks.onProgress?.('building engine', 'trtexec: engine loaded');
              else hooks.onProgress?.('running', 'trtexec: one inference on the clip');
            } else if (e.kind === 'built') {
              building = false;
              p.say(`trtexec: engine built in ${e.seconds} s`);
            } else if (e.kind === 'error') {
              errors.push(e.text);
              p.say(`trtexec: [E] ${e.text}`);
            }
          },
        });
      } finally {
        clearInterval(ticker);
      }
      if (result.cancelled) throw new LabError('CANCELLED', 'cancelled (trtexec was stopped; its engine was not cached)');
      // a cached engine trtexec could not load (another TensorRT build, a damaged file, another GPU): the caller rebuilds it
      const loadFailed = !!hit && result.code !== 0 && !result.timedOut && !result.signal && !loaded;
      return { result, command, logVersion, inputLines, deviceLines, errors, loadFailed };
    };

    let hit = cache.lookup(key);
    let run = await runTrtexec(hit);
    if (run.loadFailed) {
      cache.drop(key);
      const why = run.errors.filter((l) => !/^(Engine|Inference) set up failed/.test(l)).slice(-2).join(' / ') || `exit code ${run.result.code}`;
      p.say(`trtexec: the cached engine ${key} could not be loaded (${why}): removed it from the cache ${o.cacheDir}; building it again`);
      hit = undefined;
      run = await runTrtexec(undefined);
    }
    const { result, command } = run;
    if (result.code !== 0) {
      const how = result.timedOut ? 'ran past its time limit' : result.signal ? `ended by ${result.signal}` : `exited with code ${result.code}`;
      throw new LabError('ENGINE_FAILED', `trtexec ${how}.\ncommand: ${command}\nits last log lines:\n${result.tail.filter((l) => l.trim()).map((l) => `  ${l}`).join('\n') || '  (none)'}`);
    }
    const notLoaded = inputNotLoaded(run.inputLines, inputName);
    if (notLoaded) throw new LabError('ENGINE_FAILED', `${notLoaded}.\ncommand: ${command}`);
    if (run.logVersion && run.logVersion !== o.trtexec.version) p.say(`trtexec: its log says TensorRT ${run.logVersion}, its --help said ${o.trtexec.version}`);
    // the run's own device lines against the key's GPU: an engine built on another compute capability is not cached under this key
    const ran = parseDeviceLines(run.deviceLines);
    const otherCc = !!ran && ran.computeCapability !== gpu.computeCapability;
    if (ran && !sameGpu(ran, gpu)) {
      p.say(`trtexec: it ran on ${gpuLabel(ran)}, ${gpu.source} said ${gpuLabel(gpu)}${otherCc && !hit ? ': its engine is not cached' : ''}`);
    }
    let engine = hit;
    if (!hit && !otherCc) {
      engine = cache.commit(key, partial!, { ...keyParts, fixed, trtexec: o.trtexec.path, weights: p.options.weights });
      partial = undefined;
    }
    if (!fs.existsSync(exported)) throw new LabError('ENGINE_FAILED', `trtexec succeeded but wrote no --exportOutput file.\ncommand: ${command}\nits last log lines:\n${result.tail.map((l) => `  ${l}`).join('\n')}`, exported);

    progress('comparing', 'the engine\'s outputs against the reference');
    const runs = readImports(p, [exported], { precision: o.precision, tolerance: o.tolerance });
    const r = await compareImports(p, runs, { precision: o.precision, tolerance: o.tolerance, fixLayerNorms: fixed }, { log: hooks.log, signal: hooks.signal });
    const report = r.reports[0];
    if (!report) throw new LabError('ENGINE_FAILED', 'trtexec\'s outputs held no block outputs (the marked graph\'s engine should have every one)', exported);
    report.run.label = `TensorRT ${o.trtexec.version} (trtexec) ${cap(o.precision)}${fp32Layers.length ? ` with ${fixed.length} LayerNorm(s) in FP32 (--layerPrecisions)` : ''}, marked · engine ${key.slice(0, 8)}${hit ? ' (cached)' : ''}`;
    report.log.unshift(`trtexec: ${command}`);
    return { report, command, cacheHit: !!hit, key, engine, gpu, fixed };
  } finally {
    if (partial) cache.discard(partial);
    fs.rmSync(work, { recursive: true, force: true });
    unhook();
  }
}
