/**
 * What onnxruntime loads, as a type of its own: the graph builder (timesformer.ts) makes it, the
 * engine (engine/session.ts) and the worker threads (parallel.ts) take it. Kept apart so that
 * parallel.ts — which the weight store uses — needs nothing from the builder (that import closed
 * the cycle parallel → timesformer → onnx-builder → weight-store → parallel).
 */

/** A model's path (its weights external data next to it) or its bytes. */
export type ModelFile = string | Uint8Array;
/**
 * One model, or a chain of segments run one after the other, each session created just before its
 * run and released right after it; a segment's inputs are named after the outputs of the segments
 * before it (or the first one's feeds).
 */
export type ModelSource = ModelFile | { segments: readonly ModelFile[] };
