/**
 * What of a source folder goes into a .vsix (scripts/package.js), kept apart so that unit tests
 * check the rules (test/unit/package-files.test.ts).
 */

/**
 * The files of onnxruntime-node's bin/napi-v6/<platform>/<arch> the lab runs: the binding and the
 * CPU runtime (with WebGPU built in), and on Windows DirectML and its shader compiler. The CUDA and
 * TensorRT provider libraries its install script may have downloaded (libonnxruntime_providers_*)
 * are not shipped: the lab does not use them (README, Limits).
 */
const ORT_RUNTIME_FILE = /^(onnxruntime_binding\.node|libonnxruntime\.so\.1|libonnxruntime\.[\d.]*dylib|onnxruntime\.dll|DirectML\.dll|dxil\.dll|dxcompiler\.dll)$/;

/** The docs a .vsix carries: the pages and the JSON schemas they link to. */
const SHIPPED_DOC = /\.(md|schema\.json)$/;

/**
 * A doc page as shipped: vsce stores README.md as readme.md, so links to ../README.md would break on
 * case-sensitive file systems.
 */
function shippedDocText(text) {
  return text.replace(/\]\(\.\.\/README\.md(#[^)]*)?\)/g, (_m, anchor) => `](../readme.md${anchor ?? ''})`);
}

module.exports = { ORT_RUNTIME_FILE, SHIPPED_DOC, shippedDocText };
