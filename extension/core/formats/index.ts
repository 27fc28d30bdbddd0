export { readCheckpoint, describeBytes, toPlain } from './torch';
export type { Checkpoint, LazyTensor } from './torch';
export { readTestData } from './testdata';
export type { TestData } from './testdata';
export { openZip } from './zip';
export type { ZipArchive, ZipEntry, ByteRange } from './zip';
export {
  unpickle, unpickleAt, BASE_GLOBALS, NUMPY_GLOBALS, PyObject, PyDictObject, TruncatedPickleError,
  bytesToTensor, gatherStrided, contiguousStrides, typedArrayFromBytes,
} from './pickle';
export type { PyCallable, UnpickleOptions } from './pickle';
