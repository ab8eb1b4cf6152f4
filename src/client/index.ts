export { Leasehold, type ConnectOptions } from './leasehold.js';
export type { CallOptions } from './deadline.js';
export type { Submitted } from './submit.js';
export type { WorkloadEnd } from './wait.js';
export { TransitionWatch, type WatchFilter, type WatchOptions, type WatchStarted } from './watch.js';
export {
  CancelRefusedError,
  ClientTimeoutError,
  ControlPlaneUnavailableError,
  DuplicateIdError,
  InvalidIdError,
  InvalidSpecError,
  NatsPermissionError,
  SessionEndedError,
  SubmissionRefusedError,
  WorkloadNotFoundError,
} from './errors.js';
export { workloadJsonSchema } from './json-schema.js';
export { ExecFailedError, type ExecHandle, type ExecOptions, type ExecResult } from './exec.js';
export { SessionHandle } from './session.js';
export {
  DEFAULT_READ_MAX_BYTES,
  FileError,
  FileNotFoundError,
  FileOperationError,
  FilePermissionError,
  FileTooLargeError,
  IsADirectoryError,
  NotADirectoryError,
  type DirEntry,
  type ReadFileOptions,
  type WriteFileOptions,
} from './files.js';
