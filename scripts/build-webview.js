#!/usr/bin/env node
/**
 * Bundles the webviews (webview/graph.ts, webview/sidebar.ts, with d3 and the webview UI toolkit)
 * into out/webview/*.js with esbuild, after type-checking them with webview/tsconfig.json (DOM lib).
 * Usage: node scripts/build-webview.js [--watch]
 */
const { spawnSync } = require('child_process');
const path = require('path');
const esbuild = require('esbuild');

const root = path.join(__dirname, '..');
const watch = process.argv.includes('--watch');

const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'webview', 'tsconfig.json')], { stdio: 'inherit' });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

const options = {
  entryPoints: ['graph', 'sidebar'].map((n) => path.join(root, 'webview', `${n}.ts`)),
  outdir: path.join(root, 'out', 'webview'),
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: 'es2022',
  minify: !watch,
  sourcemap: watch ? 'inline' : false,
  legalComments: 'none',
  logLevel: 'warning',
};

(async () => {
  if (watch) {
    const ctx = await esbuild.context(options);
    await ctx.watch();
    console.log('watching webview/ ...');
  } else {
    const r = await esbuild.build({ ...options, metafile: true });
    for (const [file, o] of Object.entries(r.metafile.outputs)) console.log(`${path.relative(root, file)}  ${(o.bytes / 1024).toFixed(0)} KiB`);
  }
})().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
