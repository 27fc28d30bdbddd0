/**
 * Test data: a pickle of `(video, [probs, [block_0, ..., block_{depth-1}]])` written by the
 * reference PyTorch run — numpy arrays (any protocol 2..5), lists or tuples.
 *   video  (B, 3, T, H, W)   the input clip
 *   probs  (B, K)            the reference class probabilities
 *   block  (B, 1 + S*T, C)   each block's output, all the same shape (the list may be empty)
 * Every array comes back as float32.
 */
import { promises as fsp } from 'fs';
import { LabError } from '../errors';
import { Tensor } from '../tensor';
import { BASE_GLOBALS, NUMPY_GLOBALS, typeName, unpickle } from './pickle';

export interface TestData {
  path: string;
  video: Tensor<'float32'>;
  probs: Tensor<'float32'>;
  blocks: Tensor<'float32'>[];
}

const TEST_DATA_GLOBALS: ReadonlyMap<string, unknown> = new Map([...BASE_GLOBALS, ...NUMPY_GLOBALS]);

export async function readTestData(path: string): Promise<TestData> {
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new LabError('FILE_NOT_FOUND', 'file not found', path, { cause: e });
    throw new LabError('FILE_UNREADABLE', `cannot read the file (${code ?? String(e)})`, path, { cause: e });
  }
  const bad = (what: string): LabError => new LabError('BAD_TEST_DATA', what, path);
  if (bytes.length === 0) throw bad('the file is empty');
  if (bytes[0] === 0x50 && bytes[1] === 0x4b) throw bad('this is a zip archive (a checkpoint?), not a test-data pickle');
  if (bytes[0] !== 0x80) throw bad(`not a pickle (protocol 2+): it starts with bytes ${bytes.subarray(0, 4).toString('hex')}`);

  let root: unknown;
  try {
    root = unpickle(bytes, { globals: TEST_DATA_GLOBALS, file: path });
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
  const array = (v: unknown, what: string, ndim: number): Tensor<'float32'> => {
    if (!(v instanceof Tensor)) throw bad(`${what} should be a numpy array, got a ${typeName(v)}`);
    if (v.shape.length !== ndim) throw bad(`${what} should be ${ndim}-D, got shape (${v.shape.join(', ')})`);
    return v.asFloat32();
  };

  const [videoV, outputs] = pair(root, 'the top level (video, [probs, blocks])');
  const [probsV, blocksV] = pair(outputs, 'the second item [probs, blocks]');
  const video = array(videoV, 'the video', 5);
  if (video.shape[1] !== 3) throw bad(`the video should be (B, 3, T, H, W), got (${video.shape.join(', ')}): ${video.shape[1]} channels`);
  const probs = array(probsV, 'probs', 2);
  if (!Array.isArray(blocksV)) throw bad(`the block outputs should be a list, got a ${typeName(blocksV)}`);
  // An empty list is read as is: the pipeline says what that means (no head-count detection).
  const blocks = blocksV.map((b, i) => array(b, `block output ${i}`, 3));
  blocks.forEach((b, i) => {
    if (b.shape.join(', ') !== blocks[0].shape.join(', ')) throw bad(`block output ${i} has shape (${b.shape.join(', ')}), block 0 has (${blocks[0].shape.join(', ')})`);
  });
  const batch = video.shape[0];
  if (probs.shape[0] !== batch || (blocks.length > 0 && blocks[0].shape[0] !== batch)) {
    throw bad(`batch sizes disagree: video ${batch}, probs ${probs.shape[0]}, blocks ${blocks[0]?.shape[0]}`);
  }
  return { path, video, probs, blocks };
}
