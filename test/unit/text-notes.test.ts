/**
 * The inspector's note under its LayerNorm table (host/text.ts layerNormTableNote): it says where
 * the statistics come from whenever the engine gave none of its own, and a prescaled run's limit
 * with the run's own shift.
 */
import { strict as assert } from 'assert';
import { layerNormTableNote } from '../../extension/host/text';
import { D1_FP16_ERRORS, makeReport } from './helpers/report';
import type { Report } from '../../extension/core/report';

function probed(r: Report): Report {
  for (const l of [...r.blocks.flatMap((b) => b.layerNorms), r.finalNorm!]) l.source = 'fp32-probe';
  return r;
}

describe('the LayerNorm table\'s note (host/text.ts)', () => {
  it('an FP16 engine without statistics outputs: the table is our FP32 run\'s, its marks predictions, whatever the realization', () => {
    const cpu = probed(makeReport(D1_FP16_ERRORS, { overflowFrom: 4 }));
    assert.equal(layerNormTableNote(cpu), "This engine was built without LayerNorm statistics outputs: these are our FP32 run's, judged by this engine's FP16 limits for LayerNorm 'plain'; ⚠ (△ in the graph) is a prediction, the engine's own values are not seen.");
    const trt = probed(makeReport(D1_FP16_ERRORS, { overflowFrom: 4 }));
    trt.run.realization = 'tensorrt';
    assert.match(layerNormTableNote(trt)!, /^TensorRT gives no LayerNorm statistics of its own: these are our FP32 run's, judged by TensorRT's FP16 limits for the 'plain' export; ⚠ \(△ in the graph\) is a prediction/);
    // the same runs with statistics measured in the engine: a plain FP16 run's counts are its own
    assert.equal(layerNormTableNote(makeReport(D1_FP16_ERRORS, { overflowFrom: 4 })), undefined);
    // a single probed LayerNorm (the final norm) is enough to say so
    const one = makeReport(D1_FP16_ERRORS, { overflowFrom: 4 });
    one.finalNorm!.source = 'fp32-probe';
    assert.match(layerNormTableNote(one)!, /^This engine was built without LayerNorm statistics outputs/);
    // BF16 and FP32 keep FP32's range: that is their note, probed or not
    const bf = probed(makeReport(D1_FP16_ERRORS));
    bf.run.precision = 'bf16';
    assert.match(layerNormTableNote(bf)!, /^BF16 keeps FP32's range/);
  });

  it('prescaled: the limit is the run\'s own 65504 × 4^k, read from its square limit', () => {
    const at = (k: number | null) => {
      const r = makeReport(D1_FP16_ERRORS.map(() => 1e-3));
      r.run.layerNorm = 'prescaled';
      for (const l of r.blocks.flatMap((b) => b.layerNorms)) {
        l.mode = 'prescaled';
        l.mechanisms.find((m) => m.kind === 'square')!.limit = k === null ? null : 65504 * 4 ** k;
      }
      return layerNormTableNote(r);
    };
    assert.equal(at(3), 'LayerNorm prescaled: the input is scaled by 2^-3 first, so (x−mean)² overflows only past 65504 × 64; "> 65504" counts the values an unscaled FP16 LayerNorm would overflow.');
    assert.match(at(5)!, /scaled by 2\^-5 first, so \(x−mean\)² overflows only past 65504 × 1024;/);
    assert.match(at(0)!, /scaled by 2\^-0 first, so \(x−mean\)² overflows only past 65504 × 1;/);
    assert.match(at(null)!, /scaled by 2⁻ᵏ \(--prescale-shift\) first, so \(x−mean\)² overflows only past 65504 × 4ᵏ;/);
  });
});
