export { readCheckpoint, describeBytes, toPlain, MAX_PICKLE_BYTES } from './torch';
export type { Checkpoint, LazyTensor } from './torch';
export { readTestData } from './testdata';
export type { TestData, TestDataExpectation } from './testdata';
export { openZip } from './zip';
export type { ZipArchive, ZipEntry, ByteRange } from './zip';
export { openRegularFile } from './file';
export {
  unpickle, unpickleAt, unpickleFrom, BASE_GLOBALS, NUMPY_GLOBALS, MAX_DEPTH, PyObject, PyDictObject, NdArray, LazyBytes, MemorySource,
  TruncatedPickleError, bytesToTensor, gatherStrided, contiguousStrides, typedArrayFromBytes, viewAs,
} from './pickle';
export type { PyCallable, UnpickleOptions, ByteSource } from './pickle';
