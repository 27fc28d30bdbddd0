/**
 * The decoder: an ffmpeg executable run as a child process, reading one file and writing raw RGB
 * frames (rgb24) to a pipe. Found in this order: TIMESFORMER_LAB_FFMPEG (a path), the binary of
 * the npm package @ffmpeg-installer/<platform>-<arch> (shipped inside each platform's .vsix under
 * dist/node_modules, see scripts/package.js; in a source tree, node_modules), then `ffmpeg` on
 * PATH. Why a child process and this package: docs/video.md.
 *
 * A child process keeps every budget enforceable from here: it is killed on a timeout or a
 * cancel, its output is counted as it arrives (never more than one frame is held), and a decoder
 * crash on a hostile file is an exit code, not a crash of the extension host.
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as nodePath from 'path';
import { LabError, excerpt } from '../errors';

export interface Decoder {
  /** The executable. */
  path: string;
  /** e.g. "ffmpeg 4.1 (@ffmpeg-installer/linux-x64)", "ffmpeg 5.1.9 (PATH)". */
  label: string;
}

/** What ffmpeg reports about a file's first video stream (from `ffmpeg -i`, before any frame is decoded). */
export interface Probe {
  /** Demuxer names, e.g. "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi", "png_pipe". */
  container: string;
  codec: string;
  pixelFormat: string;
  width: number;
  height: number;
  /** Average frame rate (PyAV's stream.average_rate), as ffmpeg prints it (2 decimals); tbr when there is none. */
  fps?: number;
  /** Seconds, from the container's header. */
  durationS?: number;
}

/** Every child process gets at most this long (a hostile file cannot make a decode hang). */
export const DECODE_TIMEOUT_MS = 120_000;

const BINARY = process.platform === 'win32' ? 'ffmpeg.exe' : 'ffmpeg';

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** The folders holding node_modules/@ffmpeg-installer/<platform>: beside the bundle (dist/node_modules), above it (a source tree), NODE_PATH. */
function packageDirs(platform: string): string[] {
  const out: string[] = [];
  for (let d = __dirname; ; d = nodePath.dirname(d)) {
    out.push(nodePath.join(d, 'node_modules', '@ffmpeg-installer', platform));
    if (nodePath.dirname(d) === d) break;
  }
  for (const p of (process.env.NODE_PATH ?? '').split(nodePath.delimiter).filter(Boolean)) out.push(nodePath.join(p, '@ffmpeg-installer', platform));
  return out;
}

let found: Decoder | undefined;

/** The decoder to use; LabError PROVIDER_UNAVAILABLE when there is none. */
export function findDecoder(env: NodeJS.ProcessEnv = process.env): Decoder {
  const given = env.TIMESFORMER_LAB_FFMPEG;
  if (given) {
    if (!isFile(given)) throw new LabError('PROVIDER_UNAVAILABLE', 'TIMESFORMER_LAB_FFMPEG names no file: it must be the path of an ffmpeg executable', given);
    return { path: given, label: `${versionOf(given)} (TIMESFORMER_LAB_FFMPEG)` };
  }
  if (found) return found;
  // Windows on ARM runs the x64 build under emulation (the package has no arm64 build)
  const platform = `${process.platform}-${process.platform === 'win32' ? 'x64' : process.arch}`;
  for (const dir of packageDirs(platform)) {
    const bin = nodePath.join(dir, BINARY);
    if (!isFile(bin)) continue;
    executable(bin);
    let version = '';
    try {
      version = ` ${JSON.parse(fs.readFileSync(nodePath.join(dir, 'package.json'), 'utf8')).version}`;
    } catch {
      // the label only
    }
    return (found = { path: bin, label: `${versionOf(bin)} (@ffmpeg-installer/${platform}${version})` });
  }
  const onPath = spawnSync('ffmpeg', ['-hide_banner', '-version'], { encoding: 'utf8', timeout: 10_000 });
  if (onPath.status === 0) return (found = { path: 'ffmpeg', label: `${firstVersion(onPath.stdout)} (PATH)` });
  throw new LabError('PROVIDER_UNAVAILABLE', `no video decoder: the package @ffmpeg-installer/${platform} is not installed beside the lab and there is no ffmpeg on PATH (or set TIMESFORMER_LAB_FFMPEG to an ffmpeg executable)`);
}

/** The package's install script only sets the executable bit (chmod u+x): an archive that lost it (a .vsix unpacked without modes) gets it back here. */
function executable(bin: string): void {
  if (process.platform === 'win32') return;
  try {
    fs.accessSync(bin, fs.constants.X_OK);
  } catch {
    try {
      fs.chmodSync(bin, 0o755);
    } catch {
      // versionOf names the failure
    }
  }
}

function firstVersion(text: string): string {
  const m = /ffmpeg version (\S+)/.exec(text);
  return m ? `ffmpeg ${m[1].replace(/-static$/, '')}` : 'ffmpeg';
}

function versionOf(bin: string): string {
  const r = spawnSync(bin, ['-hide_banner', '-version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new LabError('PROVIDER_UNAVAILABLE', `the ffmpeg executable does not run (${r.error?.message ?? `exit ${r.status}`})`, bin);
  return firstVersion(r.stdout);
}

/** ffmpeg's error lines (its context's address dropped: `[matroska,webm @ 0x55…] Read error` → `matroska,webm: Read error`), the file named <file>. */
function errorLines(stderr: string, file: string): string[] {
  // ffmpeg names the input as it was given to it: file: and the absolute path (inputArgs)
  const given = `file:${nodePath.resolve(file)}`;
  return stderr.split(/\r?\n/).map((l) => l.split(given).join('<file>').replace(file, '<file>').replace(/^\[([^\]@]+?) @ 0x[0-9a-f]+\]\s*/, '$1: ').trim())
    .filter((l) => l && !/^(At least one output file|Input #|Stream #|Duration:|Metadata:)/.test(l));
}

/** ffmpeg's last error line, quoted safely (a file name or bytes of the file may be in it). */
function lastError(stderr: string, file: string): string {
  const lines = errorLines(stderr, file);
  return lines.length ? excerpt(lines[lines.length - 1], 160) : 'no message';
}

/** What a truncated or damaged file makes ffmpeg say first ("File ended prematurely", "Read error", "partial file", "header damaged"), quoted safely. */
function firstError(stderr: string, file: string): string {
  const lines = errorLines(stderr, file);
  const cut = lines.find((l) => /ended prematurely|read error|partial file|truncat|end of file|damaged/i.test(l));
  return excerpt(cut ?? lines[0] ?? 'no message', 160);
}

/** Parses `ffmpeg -hide_banner -i FILE` (stderr) for its container and first video stream. */
export function parseProbe(stderr: string, file: string): Probe {
  const input = /^Input #0, (.+?), from '/m.exec(stderr);
  const video = /^\s*Stream #0:\d+(?:\[0x[0-9a-f]+\])?(?:\([^)]*\))?: Video: (.*)$/m.exec(stderr);
  const refused = /^\[([\w,]+) @ 0x[0-9a-f]+\] Format not on whitelist/m.exec(stderr);
  if (refused) {
    const image = /^(\w+)_pipe$/.exec(refused[1].split(',')[0]);
    if (image) throw new LabError('BAD_CLIP', `an image (${image[1]}), not a video: a clip of one image is a folder holding it`, file);
    throw new LabError('BAD_CLIP', `its format is ${refused[1].split(',')[0]}, not one the lab reads (a playlist or stream format can name other files or addresses): clips are MP4/MOV/M4V, MKV/WebM or AVI`, file);
  }
  if (!input || !video) {
    throw new LabError('BAD_CLIP', input
      ? 'the file holds no video stream'
      : `not a video the decoder can read (cut short, or not a video format): ${lastError(stderr, file)}`, file);
  }
  const v = video[1];
  const codec = /^([\w-]+)/.exec(v)?.[1] ?? 'unknown';
  const dims = /(?:^|[ ,])(\d+)x(\d+)(?=[ ,]|$)/.exec(v);
  if (!dims) throw new LabError('BAD_CLIP', `the video stream (${codec}) has no frame size`, file);
  const pixelFormat = /, ([a-z0-9_]+)(?:\(|,)/.exec(v)?.[1] ?? 'unknown';
  const rate = (what: string) => {
    const m = new RegExp(`([\\d.]+)(k?) ${what}`).exec(v);
    return m ? Number(m[1]) * (m[2] ? 1000 : 1) : undefined;
  };
  const d = /Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)/.exec(stderr);
  return {
    container: input[1],
    codec,
    pixelFormat,
    width: Number(dims[1]),
    height: Number(dims[2]),
    fps: rate('fps') ?? rate('tbr'),
    durationS: d ? Number(d[1]) * 3600 + Number(d[2]) * 60 + Number(d[3]) : undefined,
  };
}

function run(dec: Decoder, args: string[], file: string, signal: AbortSignal | undefined, onStdout?: (chunk: Buffer) => boolean): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new LabError('CANCELLED', 'cancelled', file));
    const child = spawn(dec.path, args, { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
    let stderr = '';
    let stopped = false;
    let cancelled = false;
    let timedOut = false;
    const stop = () => {
      stopped = true;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, DECODE_TIMEOUT_MS);
    const onAbort = () => {
      cancelled = true;
      stop();
    };
    signal?.addEventListener('abort', onAbort);
    child.stderr.on('data', (b: Buffer) => {
      if (stderr.length < 65536) stderr += b.toString('utf8');
    });
    child.stdout.on('data', (b: Buffer) => {
      if (stopped) return;
      try {
        if (onStdout && !onStdout(b)) stop();
      } catch (e) {
        stop();
        reject(e);
      }
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new LabError('PROVIDER_UNAVAILABLE', `the decoder did not start (${e.message})`, dec.path, { cause: e }));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (cancelled) return reject(new LabError('CANCELLED', 'cancelled', file));
      if (timedOut) return reject(new LabError('LIMIT_EXCEEDED', `decoding took longer than ${DECODE_TIMEOUT_MS / 1000} s`, file));
      resolve({ code: stopped ? 0 : code, stderr });
    });
  });
}

/**
 * The demuxers ffmpeg may use on a video clip (its own names): MP4/MOV/M4V, Matroska/WebM, AVI (a
 * frame of a folder is read by image2 alone, inputArgs). Anything else a file may claim to be — an HLS or concat playlist that names
 * other files or URLs, an image2 pattern, a network stream — is refused by ffmpeg unread.
 */
export const CLIP_FORMATS = 'mov,matroska,webm,avi';

/**
 * ffmpeg's input for `file`: the local file and nothing else. A name like `tcp:host:port.mp4` or
 * `http:…` is a URL to ffmpeg: `file:` and its absolute path make it a file, and the protocol
 * whitelist keeps any demuxer from opening another protocol; the format whitelist keeps playlists
 * (which would read other files) out.
 */
export function inputArgs(file: string): string[] {
  const input = `file:${nodePath.resolve(file)}`;
  // a frame of a folder: one image, read by the image2 demuxer with no pattern (a name with % or *
  // is that file alone; ffmpeg's probe may not take a JPEG behind large EXIF segments for one)
  if (/\.(png|jpe?g)$/i.test(file)) return ['-protocol_whitelist', 'file', '-format_whitelist', 'image2', '-f', 'image2', '-pattern_type', 'none', '-i', input];
  return ['-protocol_whitelist', 'file', '-format_whitelist', CLIP_FORMATS, '-i', input];
}

/** The container and first video stream of a file, without decoding a frame. */
export async function probe(dec: Decoder, file: string, signal?: AbortSignal): Promise<Probe> {
  const r = await run(dec, ['-hide_banner', '-nostdin', ...inputArgs(file)], file, signal);
  return parseProbe(r.stderr, file);
}

/**
 * Decodes the first video stream in order as rgb24 frames of width × height (no rotation applied,
 * as PyAV), calling onFrame(index, rgb) for each until it returns false or `maxFrames` were read.
 * The buffer passed to onFrame is reused: copy what must be kept. Returns how many frames were read.
 */
export async function decodeFrames(
  dec: Decoder, file: string, p: Pick<Probe, 'width' | 'height'>, maxFrames: number,
  onFrame: (index: number, rgb: Uint8Array) => boolean, signal?: AbortSignal,
  /** Another output than rgb24 (a JPEG's own planes), its frame size, and decoder options before -i. */
  raw?: { pixFmt: string; frameBytes: number; inputArgs: string[] },
): Promise<number> {
  const frameBytes = raw?.frameBytes ?? p.width * p.height * 3;
  const frame = new Uint8Array(frameBytes);
  let filled = 0;
  let index = 0;
  let more = true;
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'error', '-noautorotate', ...(raw?.inputArgs ?? []), ...inputArgs(file), '-map', '0:v:0', '-vsync', '0',
    '-frames:v', String(maxFrames), '-sws_flags', 'bilinear', '-f', 'rawvideo', '-pix_fmt', raw?.pixFmt ?? 'rgb24', 'pipe:1'];
  const r = await run(dec, args, file, signal, (chunk) => {
    let off = 0;
    while (off < chunk.length && more) {
      const n = Math.min(frameBytes - filled, chunk.length - off);
      frame.set(chunk.subarray(off, off + n), filled);
      filled += n;
      off += n;
      if (filled === frameBytes) {
        filled = 0;
        more = onFrame(index++, frame) && index < maxFrames;
      }
    }
    return more;
  });
  if (more && r.code !== 0 && index === 0) throw new LabError('BAD_CLIP', `the decoder failed before the first frame: ${lastError(r.stderr, file)}`, file);
  // The decoder ended on its own before the frames asked for: the end of a whole clip (nothing on
  // stderr at -loglevel error, exit 0), or a file cut short or damaged (a copy interrupted, a
  // download that stopped), which ffmpeg reports ("File ended prematurely", "Read error", "partial
  // file", "header damaged") while still exiting 0 with the frames before the cut. The official
  // loader (PyAV) raises on those; read as a shorter clip they would pass with the wrong frames.
  if (more && index > 0 && (r.code !== 0 || errorLines(r.stderr, file).length)) {
    throw new LabError('BAD_CLIP', `the file is cut short or damaged: the decoder stopped after ${index} frame(s)${r.code ? ` with exit code ${r.code}` : ''} (${firstError(r.stderr, file)})`, file);
  }
  return index;
}
