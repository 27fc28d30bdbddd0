/**
 * `timesformer-lab export-onnx`: the FP32 graph for TensorRT (see core/export.ts), with the trtexec
 * line that keeps its FP32 LayerNorms in FP32. Thin: arguments -> prepare -> exportForTensorRt -> file.
 */
import * as path from 'path';
import { parseArgs } from 'util';
import { LabError } from './core/errors';
import { exportForTensorRt } from './core/export';
import { checkOutputPath } from './core/options';
import { prepare } from './core/pipeline';
import { LAYERNORM_MODES, type LayerNormMode } from './core/report';

export async function cmdExportOnnx(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      weights: { type: 'string' }, data: { type: 'string' }, input: { type: 'string' }, heads: { type: 'string' }, layernorm: { type: 'string' },
      'fix-layernorms': { type: 'string' }, form: { type: 'string' }, out: { type: 'string' }, 'prescale-shift': { type: 'string' }, quiet: { type: 'boolean' },
    },
    strict: true,
  });
  const bad = (m: string): never => {
    throw new LabError('BAD_OPTION', m);
  };
  if (!values.weights) bad('export-onnx needs --weights');
  if (!values.out) bad('export-onnx needs --out FILE.onnx');
  // the folder is checked before the checkpoint is read (--out F and --out=F alike): a typo must not cost the export
  checkOutputPath(values.out!, '--out');
  if (values.data && values.input) bad("--input is the clip to use without test data; with --data, the test data's video is the clip");
  const ln = values.layernorm ?? 'plain';
  if (![...LAYERNORM_MODES, 'minimal'].includes(ln)) bad(`--layernorm must be one of ${LAYERNORM_MODES.join(', ')}, minimal; got '${ln}'`);
  const form = values.form ?? 'fused';
  if (form !== 'fused' && form !== 'decomposed') bad(`--form must be fused or decomposed; got '${form}'`);
  const heads = values.heads === undefined ? undefined : Number(values.heads);
  if (heads !== undefined && !Number.isInteger(heads)) bad(`--heads expects an integer, got '${values.heads}'`);
  const shift = values['prescale-shift'] === undefined ? undefined : Number(values['prescale-shift']);
  const p = await prepare(
    { weights: values.weights!, data: values.data, input: values.input, heads, prescaleShift: shift },
    { log: values.quiet ? undefined : (l) => process.stderr.write(`  ${l}\n`) },
  );
  let x: Awaited<ReturnType<typeof exportForTensorRt>>;
  let bytes: number;
  try {
    x = await exportForTensorRt(p, {
      layerNorm: ln as LayerNormMode | 'minimal', form: form as 'fused' | 'decomposed', prescaleShift: shift, onnxName: path.basename(values.out!),
      fixLayerNorms: values['fix-layernorms']?.split(',').map((s) => s.trim()).filter(Boolean),
    });
    bytes = x.write(values.out!);
  } finally {
    p.close();
  }
  process.stdout.write(`wrote ${values.out} (${(bytes / 2 ** 20).toFixed(1)} MiB, ${x.nodeNames.length} nodes, LayerNorm ${x.layerNorm}` +
    `${x.fixed.length ? `, ${x.fixed.length} in FP32: ${x.fixed.join(', ')}` : ''}; outputs ${x.outputs.join(', ')})\n`);
  if (x.trtexec) process.stdout.write(`trtexec: ${x.trtexec}\n`);
  return 0;
}
