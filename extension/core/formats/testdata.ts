/**
 * Test data: a pickle of `(video, [probs, [block_0, ..., block_{depth-1}]])` written by the
 * reference PyTorch run — numpy arrays (any protocol 2..5), lists or tuples.
 *   video  (B, 3, T, H, W)   the input clip
 *   probs  (B, K)            the reference class probabilities
 *   block  (B, 1 + S*T, C)   each block's output, all the same shape (the list may be empty)
 * Every array comes back as float32.
 *
 * The file is read by range (formats/file.ts), never whole: the pickle's structure is parsed first
 * with the arrays' bytes left in the file (pickle.ts LazyBytes / NdArray); the structure and every
 * shape are checked — against the model when the caller passes one — and only then are the arrays
 * read, each distinct array once however many times the pickle refers to it. NaN and infinity are
 * refused, naming the array and the element.
 */
import { LabError } from '../errors';
import { Tensor, findNonFinite, unravelIndex } from '../tensor';
import { FileSource, openRegularFile } from './file';
import { NdArray } from './arrays';
import { NUMPY_GLOBALS } from './numpy-pickle';
import { unpickleFrom } from './pickle';
import { BASE_GLOBALS } from './pickle-globals';
import { typeName } from './pickle-values';

export interface TestData {
  path: string;
  video: Tensor<'float32'>;
  probs: Tensor<'float32'>;
  blocks: Tensor<'float32'>[];
}

/** What the model says the test data must look like (a ModelConfig has these fields). */
export interface TestDataExpectation {
  depth: number;
  frames: number;
  imageSize: number;
  numPatches: number;
  embedDim: number;
  numClasses: number;
}

/** The "probs" slot: the class probabilities, or the final LayerNorm's class token for a model without a classifier. */
const finalWidth = (e: TestDataExpectation) => (e.numClasses > 0 ? e.numClasses : e.embedDim);

const TEST_DATA_GLOBALS: ReadonlyMap<string, unknown> = new Map([...BASE_GLOBALS, ...NUMPY_GLOBALS]);

const dims = (shape: readonly number[]) => `(${shape.join(', ')})`;

/** Read the test data; with `expect`, arrays larger than the model needs are refused (MISMATCH) before any is read. */
export async function readTestData(path: string, expect?: TestDataExpectation): Promise<TestData> {
  const file = await openRegularFile(path);
  try {
    return read(path, new FileSource(file.handle.fd, file.size, path), expect);
  } finally {
    await file.handle.close();
  }
}

/** The shapes of the test data's arrays, none of them read: pairing a checkpoint with its test data needs only these. */
export interface TestDataShapes {
  video: readonly number[];
  probs: readonly number[];
  blocks: (readonly number[])[];
}

/** The test data's structure and shapes, checked as readTestData checks them, without reading an array. */
export async function readTestDataShapes(path: string): Promise<TestDataShapes> {
  const file = await openRegularFile(path);
  try {
    const p = parse(path, new FileSource(file.handle.fd, file.size, path), undefined);
    return { video: p.video.shape, probs: p.probs.shape, blocks: p.blocks.map((b) => b.shape) };
  } finally {
    await file.handle.close();
  }
}

function read(path: string, source: FileSource, expect: TestDataExpectation | undefined): TestData {
  const { video, probs, blocks } = parse(path, source, expect);
  // Read each distinct array once (a pickle may list the same array many times), as float32.
  const loaded = new Map<NdArray, Tensor<'float32'>>();
  const load = (a: NdArray, what: string): Tensor<'float32'> => {
    let t = loaded.get(a);
    if (!t) {
      t = a.load().asFloat32();
      const nf = findNonFinite(t.data);
      if (nf) {
        throw new LabError('NON_FINITE', `${what} holds ${nf.value} at ${dims(unravelIndex(nf.index, t.shape))}${nf.count > 1 ? ` (${nf.count.toLocaleString('en-US')} non-finite values in all)` : ''}: the reference run itself went wrong`, path);
      }
      loaded.set(a, t);
    }
    return t;
  };
  return {
    path,
    video: load(video, 'the video'),
    probs: load(probs, 'probs'),
    blocks: blocks.map((b, i) => load(b, `block output ${i}`)),
  };
}

/** The pickle's structure and every shape, checked; the arrays' bytes are left in the file. */
function parse(path: string, source: FileSource, expect: TestDataExpectation | undefined): { video: NdArray; probs: NdArray; blocks: NdArray[] } {
  const bad = (what: string): LabError => new LabError('BAD_TEST_DATA', what, path);
  const size = source.size;
  if (size === 0) throw bad('the file is empty');
  const first = source.read(0, Math.min(4, size));
  if (first[0] === 0x50 && first[1] === 0x4b) throw bad('this is a zip archive (a checkpoint?), not a test-data pickle');
  if (first[0] !== 0x80) throw bad(`not a pickle (protocol 2+): it starts with bytes ${Buffer.from(first).toString('hex')}`);

  let root: unknown;
  try {
    const r = unpickleFrom(source, 0, { globals: TEST_DATA_GLOBALS, file: path });
    if (r.end !== size) throw bad(`the file holds ${(size - r.end).toLocaleString('en-US')} bytes after the end of its pickle (byte ${r.end} of ${size})`);
    root = r.value;
  } catch (e) {
    // A forbidden global or an unsupported dtype says more than "bad test data": keep those codes.
    if (e instanceof LabError && (e.code === 'BAD_PICKLE' || e.code === 'BAD_TENSOR')) {
      throw new LabError('BAD_TEST_DATA', `unreadable pickle: ${e.detail}`, path, { cause: e });
    }
    throw e;
  }

  const pair = (v: unknown, what: string): unknown[] => {
    if (!Array.isArray(v) || v.length !== 2) throw bad(`${what} should be a pair (tuple or list of 2), got ${Array.isArray(v) ? `${v.length} items` : `a ${typeName(v)}`}`);
    return v;
  };
  const array = (v: unknown, what: string, ndim: number): NdArray => {
    if (!(v instanceof NdArray)) throw bad(`${what} should be a numpy array, got a ${typeName(v)}`);
    if (v.shape.length !== ndim) throw bad(`${what} should be ${ndim}-D, got shape ${dims(v.shape)}`);
    return v;
  };

  const [videoV, outputs] = pair(root, 'the top level (video, [probs, blocks])');
  const [probsV, blocksV] = pair(outputs, 'the second item [probs, blocks]');
  const video = array(videoV, 'the video', 5);
  if (video.shape[1] !== 3) throw bad(`the video should be (B, 3, T, H, W), got ${dims(video.shape)}: ${video.shape[1]} channels`);
  const batch = video.shape[0];
  if (batch === 0) throw bad(`the video holds no clip (batch size 0, shape ${dims(video.shape)}): there is nothing to compare`);
  const probs = array(probsV, 'probs', 2);
  if (!Array.isArray(blocksV)) throw bad(`the block outputs should be a list, got a ${typeName(blocksV)}`);
  if (expect && blocksV.length > expect.depth) {
    throw new LabError('MISMATCH', `the test data lists ${blocksV.length.toLocaleString('en-US')} block outputs, the checkpoint has ${expect.depth} blocks`, path);
  }
  // An empty list is read as is: the pipeline says what that means (no head-count detection).
  const blocks = blocksV.map((b, i) => array(b, `block output ${i}`, 3));
  blocks.forEach((b, i) => {
    if (dims(b.shape) !== dims(blocks[0].shape)) throw bad(`block output ${i} has shape ${dims(b.shape)}, block 0 has ${dims(blocks[0].shape)}`);
  });
  if (probs.shape[0] !== batch || (blocks.length > 0 && blocks[0].shape[0] !== batch)) {
    throw bad(`batch sizes disagree: video ${batch}, probs ${probs.shape[0]}, blocks ${blocks[0]?.shape[0]}`);
  }
  if (expect) {
    // Arrays larger than this model needs for this batch are refused before they are read; smaller
    // disagreements are left to the pipeline's agreement check, which says more.
    const distinct = new Set([video, probs, ...blocks]);
    const have = [...distinct].reduce((sum, a) => sum + a.numel, 0);
    const e = expect;
    const need = batch * (3 * e.frames * e.imageSize ** 2 + finalWidth(e) + blocks.length * (1 + e.numPatches * e.frames) * e.embedDim);
    if (have > need) {
      checkShapes(path, expect, video, probs, blocks);
      throw new LabError('MISMATCH', `the test data holds ${have.toLocaleString('en-US')} values, more than the ${need.toLocaleString('en-US')} the checkpoint needs for ${batch} clip(s)`, path);
    }
  }

  return { video, probs, blocks };
}

/** Every shape against what the model needs for this batch size; the differences in one MISMATCH. */
function checkShapes(path: string, e: TestDataExpectation, video: NdArray, probs: NdArray, blocks: NdArray[]): void {
  const B = video.shape[0];
  const want: [string, readonly number[], readonly number[]][] = [
    ['the video', video.shape, [B, 3, e.frames, e.imageSize, e.imageSize]],
    [e.numClasses > 0 ? 'probs' : `the final slot (a model without a classifier outputs its final LayerNorm's class token (${e.embedDim}) there, not probabilities)`, probs.shape, [B, finalWidth(e)]],
  ];
  if (blocks.length) want.push(['each block output', blocks[0].shape, [B, 1 + e.numPatches * e.frames, e.embedDim]]);
  const problems = want.filter(([, got, need]) => dims(got) !== dims(need)).map(([what, got, need]) => `${what} has shape ${dims(got)}, the checkpoint needs ${dims(need)}`);
  if (problems.length) throw new LabError('MISMATCH', `the test data does not fit the checkpoint: ${problems.join('; ')}`, path);
}
