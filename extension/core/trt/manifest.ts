/**
 * The bundle's manifest type (bundle.json), apart from the code that writes it (bundle.ts) and the
 * scripts rendered from it (scripts.ts), so that neither of those imports the other both ways.
 */

/** What bundle.json holds: the importer reads the fix and the expected outputs from it. */
export interface BundleManifest {
  tool: 'timesformer-precision-lab';
  kind: 'tensorrt-bundle';
  version: 1;
  /** This export's own id (random): the scripts stamp it into each run's log, so the importer can tell outputs of an earlier bundle (absent before it was added). */
  id?: string;
  /** When the bundle was exported (ISO 8601): outputs older than this are of an earlier bundle. */
  exportedAt?: string;
  /** Absolute paths of the checkpoint and test data the bundle was made from. */
  weights: string;
  data?: string;
  /** The head count the graphs were built with (not in the weights: the importer builds the same). */
  heads: number;
  /** sha256: of inputs.bin, hex. */
  input: { name: string; shape: number[]; file: string; json: string; sha256?: string };
  /** Outputs of model.onnx (deployed: its one final output, `probs` or `features`) and model_marked.onnx, with their shapes. */
  outputs: { deployed: Record<string, number[]>; marked: Record<string, number[]> };
  /** LayerNorms the proposed fix keeps in FP32, and how it was chosen. */
  fix: { layerNorms: string[]; source: 'statistics' | 'all'; layers: string[] };
  /** reference/<file> per output name. */
  reference: Record<string, string>;
  referenceLabel: string;
  tolerance: { fp16: number; fp32: number };
}
