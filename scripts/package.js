#!/usr/bin/env node
/**
 * Platform-specific .vsix files, one per platform onnxruntime-node ships binaries for, each
 * carrying only that platform's binaries (VS Code installs the one that matches the machine; see
 * "Platform-specific extensions" in VS Code's publishing guide). Run after `npm run build`
 * (`npm run package` does both).
 *
 * Each target is staged in .package/<target>/ with exactly what ships:
 *   package.json (the manifest without scripts and dependencies), README.md, LICENSE, media/,
 *   docs/*.md and docs/*.schema.json (the README links to them and shows
 *   media/screenshot-graph.png; vsce keeps these relative links as they are,
 *   --no-rewrite-relative-links: the manifest names no repository; links to ../README.md become
 *   ../readme.md, the name vsce gives it),
 *   dist/ (the esbuild bundles: extension, worker, CLI, webviews), scripts/make_test_data.py
 *   when present (the "Make Test Data from PyTorch…" command opens it), and
 *   dist/node_modules/{onnxruntime-node,onnxruntime-common}: the one runtime dependency, a native
 *   module, with this platform's runtime binaries only (scripts/package-files.js: no CUDA/TensorRT
 *   provider libraries its install script may have downloaded). It sits under dist/ so that the bundles find it by
 *   Node's resolution and `vsce --no-dependencies` needs no npm tree; its install script and the
 *   packages only that script uses are left out; and dist/node_modules/@ffmpeg-installer/<platform>/
 *   (ffmpeg, package.json, a NOTICE): the video decoder, run as a child process (docs/video.md).
 * then `vsce package --target <target> --no-dependencies` writes vsix/<name>-<target>-<version>.vsix.
 *
 * Usage: node scripts/package.js [--target linux-x64[,win32-x64...]] [--out DIR]
 */
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const { ORT_RUNTIME_FILE, SHIPPED_DOC, shippedDocText } = require('./package-files');

const root = path.join(__dirname, '..');
const ORT = path.join(root, 'node_modules', 'onnxruntime-node');
const ORT_COMMON = path.join(root, 'node_modules', 'onnxruntime-common');
/** vsce target -> onnxruntime-node's bin folder (napi-v6/<platform>/<arch>). */
const TARGETS = {
  'linux-x64': 'linux/x64',
  'linux-arm64': 'linux/arm64',
  'darwin-arm64': 'darwin/arm64',
  'win32-x64': 'win32/x64',
  'win32-arm64': 'win32/arm64',
};

function arg(name) {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  if (a) return a.slice(name.length + 3);
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function fail(msg) {
  console.error(`package: ${msg}`);
  process.exit(1);
}

const shipped = Object.keys(TARGETS).filter((t) => fs.existsSync(path.join(ORT, 'bin', 'napi-v6', TARGETS[t])));
const wanted = arg('target') ? arg('target').split(',') : shipped;
for (const t of wanted) {
  if (!TARGETS[t]) fail(`unknown target '${t}' (known: ${Object.keys(TARGETS).join(', ')})`);
  if (!shipped.includes(t)) fail(`onnxruntime-node has no binaries for ${t} in ${path.join(ORT, 'bin', 'napi-v6', TARGETS[t])}`);
}
/**
 * vsce target -> the @ffmpeg-installer platform package whose ffmpeg executable decodes videos
 * (docs/video.md). Windows on ARM gets the x64 build (Windows runs it under emulation; the package
 * has no arm64 build). npm installs only this machine's package; another target's is fetched here
 * with `npm pack` at the version @ffmpeg-installer/ffmpeg pins (packaging time, never install time).
 */
const FFMPEG = { 'linux-x64': 'linux-x64', 'linux-arm64': 'linux-arm64', 'darwin-arm64': 'darwin-arm64', 'win32-x64': 'win32-x64', 'win32-arm64': 'win32-x64' };
function ffmpegPackage(target) {
  const name = `@ffmpeg-installer/${FFMPEG[target]}`;
  const local = path.join(root, 'node_modules', name);
  if (fs.existsSync(path.join(local, 'package.json'))) return local;
  const wrapper = path.join(root, 'node_modules', '@ffmpeg-installer', 'ffmpeg', 'package.json');
  if (!fs.existsSync(wrapper)) fail(`${wrapper} is missing: npm install (the video decoder's package)`);
  const version = JSON.parse(fs.readFileSync(wrapper, 'utf8')).optionalDependencies[name];
  const cache = path.join(root, '.package', 'cache', `${FFMPEG[target]}-${version}`);
  if (!fs.existsSync(path.join(cache, 'package', 'package.json'))) {
    fs.mkdirSync(cache, { recursive: true });
    const tgz = execFileSync('npm', ['pack', `${name}@${version}`, '--silent', '--pack-destination', cache], { encoding: 'utf8', shell: process.platform === 'win32' }).trim().split('\n').pop();
    execFileSync('tar', ['-xzf', path.join(cache, tgz), '-C', cache]);
  }
  return path.join(cache, 'package');
}
const outDir = path.resolve(arg('out') ?? path.join(root, 'vsix'));
for (const f of ['dist/extension.js', 'dist/worker.js', 'dist/cli.js', 'dist/lab-worker.js', 'dist/gpu-helper.js', 'dist/webview/graph.js', 'dist/webview/sidebar.js', 'LICENSE', 'README.md']) {
  if (!fs.existsSync(path.join(root, f))) fail(`${f} is missing: run npm run build first`);
}

const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
/** The manifest as shipped: no scripts (vsce would run vscode:prepublish), no dependency lists. */
function manifest() {
  const m = { ...pkg };
  for (const k of ['scripts', 'dependencies', 'devDependencies', 'overrides']) delete m[k];
  return m;
}

/** Copies a tree without source maps and type declarations (nothing runs them). */
const copy = (from, to, filter = () => true) => fs.cpSync(from, to, { recursive: true, filter: (src) => !/\.(map|d\.ts)$/.test(src) && filter(src) });

fs.mkdirSync(outDir, { recursive: true });
const made = [];
for (const target of wanted) {
  const stage = path.join(root, '.package', target);
  fs.rmSync(stage, { recursive: true, force: true });
  fs.mkdirSync(stage, { recursive: true });
  fs.writeFileSync(path.join(stage, 'package.json'), JSON.stringify(manifest(), null, 2));
  for (const f of ['README.md', 'LICENSE']) fs.copyFileSync(path.join(root, f), path.join(stage, f));
  copy(path.join(root, 'media'), path.join(stage, 'media'));
  copy(path.join(root, 'docs'), path.join(stage, 'docs'), (src) => fs.statSync(src).isDirectory() ? src === path.join(root, 'docs') : SHIPPED_DOC.test(src));
  for (const f of fs.readdirSync(path.join(stage, 'docs')).filter((n) => n.endsWith('.md'))) {
    const at = path.join(stage, 'docs', f);
    fs.writeFileSync(at, shippedDocText(fs.readFileSync(at, 'utf8')));
  }
  copy(path.join(root, 'dist'), path.join(stage, 'dist'), (src) => !src.includes(`${path.sep}node_modules`));
  const script = path.join(root, 'scripts', 'make_test_data.py');
  if (fs.existsSync(script)) {
    fs.mkdirSync(path.join(stage, 'scripts'));
    fs.copyFileSync(script, path.join(stage, 'scripts', 'make_test_data.py'));
  }
  const nm = path.join(stage, 'dist', 'node_modules');
  const ortTo = path.join(nm, 'onnxruntime-node');
  fs.mkdirSync(ortTo, { recursive: true });
  fs.copyFileSync(path.join(ORT, 'package.json'), path.join(ortTo, 'package.json'));
  copy(path.join(ORT, 'dist'), path.join(ortTo, 'dist'));
  const ortBin = path.join(ORT, 'bin', 'napi-v6', TARGETS[target]);
  copy(ortBin, path.join(ortTo, 'bin', 'napi-v6', TARGETS[target]), (src) => src === ortBin || ORT_RUNTIME_FILE.test(path.basename(src)));
  const commonTo = path.join(nm, 'onnxruntime-common');
  fs.mkdirSync(commonTo, { recursive: true });
  fs.copyFileSync(path.join(ORT_COMMON, 'package.json'), path.join(commonTo, 'package.json'));
  copy(path.join(ORT_COMMON, 'dist', 'cjs'), path.join(commonTo, 'dist', 'cjs'));
  // the video decoder: the ffmpeg executable of this platform (a separate program, run as a child process)
  const ff = ffmpegPackage(target);
  const ffTo = path.join(nm, '@ffmpeg-installer', FFMPEG[target]);
  fs.mkdirSync(ffTo, { recursive: true });
  for (const f of ['package.json', 'README.md', 'ffmpeg', 'ffmpeg.exe']) {
    if (fs.existsSync(path.join(ff, f))) fs.copyFileSync(path.join(ff, f), path.join(ffTo, f));
  }
  if (fs.existsSync(path.join(ffTo, 'ffmpeg'))) fs.chmodSync(path.join(ffTo, 'ffmpeg'), 0o755);
  fs.writeFileSync(path.join(ffTo, 'NOTICE.txt'), 'FFmpeg (https://ffmpeg.org), a static build licensed under the GPL (see `ffmpeg -L`), shipped unmodified\n' +
    `from the npm package ${path.basename(path.dirname(ffTo))}/${FFMPEG[target]} as a separate program that the lab runs to decode videos.\n` +
    'Its source: https://ffmpeg.org/download.html (the build is described by `ffmpeg -version`).\n');
  fs.writeFileSync(path.join(stage, '.vscodeignore'), '# Staged by scripts/package.js: everything here ships.\n');
  const file = path.join(outDir, `${pkg.name}-${target}-${pkg.version}.vsix`);
  execFileSync(process.execPath, [require.resolve('@vscode/vsce/vsce'), 'package', '--target', target, '--no-dependencies', '--allow-missing-repository', '--no-rewrite-relative-links', '-o', file], {
    cwd: stage, stdio: ['ignore', 'inherit', 'inherit'],
  });
  made.push({ target, file, bytes: fs.statSync(file).size });
}
for (const m of made) console.log(`${path.relative(process.cwd(), m.file)}  ${(m.bytes / 2 ** 20).toFixed(1)} MiB`);
