#!/usr/bin/env node
/**
 * One bundled build (esbuild) of everything that ships, into dist/:
 *   dist/extension.js   the extension host (main in package.json)
 *   dist/worker.js      the engine process it forks
 *   dist/cli.js         the CLI (bin in package.json)
 *   dist/lab-worker.js  the worker threads' script (extension/core/parallel.ts starts it from the
 *                       folder of the bundle that runs: reading and comparing at full size)
 *   dist/gpu-helper.js  the second process that runs half the GPU sessions of a multi-mode run
 *                       (extension/core/helper.ts starts it from the same folder)
 *   dist/webview/{graph,sidebar,sweep}.js   the webviews, with d3, for the browser
 * onnxruntime-node stays external: a native module, loaded from node_modules at run time with the
 * binaries of the platform the .vsix is built for (scripts/package.js). `vscode` is the host's.
 * onnx-proto's own protobufjs 6 is replaced by the project's protobufjs 7 (its generated code
 * uses only protobufjs/minimal, which is compatible), so one copy ships.
 * The webviews are type-checked first with webview/tsconfig.json (DOM lib); the node side is
 * type-checked by `tsc -p .` in `npm run build`.
 * Usage: node scripts/bundle.js [--watch] [--only=node|webview]
 */
const { spawnSync } = require('child_process');
const path = require('path');
const esbuild = require('esbuild');

const root = path.join(__dirname, '..');
const watch = process.argv.includes('--watch');
const only = (process.argv.find((a) => a.startsWith('--only=')) ?? '').slice('--only='.length);

/** Every `protobufjs` import (onnx-proto asks for its nested 6.x) resolves to the top-level copy. */
const oneProtobuf = {
  name: 'one-protobufjs',
  setup(build) {
    build.onResolve({ filter: /^protobufjs(\/.*)?$/ }, (args) => ({ path: require.resolve(args.path, { paths: [root] }) }));
  },
};

const common = { bundle: true, minify: !watch, sourcemap: watch ? 'inline' : false, logLevel: 'warning', metafile: true };
const builds = [];
if (only !== 'node') {
  const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'webview', 'tsconfig.json')], { stdio: 'inherit' });
  if (tsc.status !== 0) process.exit(tsc.status ?? 1);
  builds.push({
    ...common,
    entryPoints: ['graph', 'sidebar', 'sweep'].map((n) => path.join(root, 'webview', `${n}.ts`)),
    outdir: path.join(root, 'dist', 'webview'),
    format: 'iife', platform: 'browser', target: 'es2022', legalComments: 'none',
  });
}
if (only !== 'webview') {
  builds.push({
    ...common,
    entryPoints: {
      extension: path.join(root, 'extension', 'host', 'extension.ts'), worker: path.join(root, 'extension', 'worker.ts'), cli: path.join(root, 'extension', 'cli.ts'),
      'lab-worker': path.join(root, 'extension', 'core', 'lab-worker.ts'),
      'gpu-helper': path.join(root, 'extension', 'core', 'gpu-helper.ts'),
    },
    outdir: path.join(root, 'dist'),
    format: 'cjs', platform: 'node', target: 'node20',
    external: ['vscode', 'onnxruntime-node'],
    // Keep names readable in stack traces of the log; the licenses of what is bundled stay in the files.
    minify: false, keepNames: true, legalComments: 'eof',
    plugins: [oneProtobuf],
  });
}

(async () => {
  if (watch) {
    for (const o of builds) await (await esbuild.context(o)).watch();
    console.log('watching extension/ and webview/ ...');
    return;
  }
  for (const o of builds) {
    const r = await esbuild.build(o);
    for (const [file, out] of Object.entries(r.metafile.outputs)) console.log(`${path.relative(root, file)}  ${(out.bytes / 1024).toFixed(0)} KiB`);
    const protobufs = new Set(Object.keys(r.metafile.inputs).filter((f) => /node_modules\/(.*\/)?protobufjs\/package\.json$|node_modules\/(.*\/)?protobufjs\/src\/writer\.js$/.test(f)).map((f) => f.replace(/\/src\/writer\.js$|\/package\.json$/, '')));
    if (protobufs.size > 1) throw new Error(`more than one protobufjs bundled: ${[...protobufs].join(', ')}`);
  }
})().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
