export { workloadSpecSchema, workloadFieldsSchema, MAX_ID_LENGTH, DNS1123_LABEL, WORKLOAD_MODES, type WorkloadMode, type WorkloadSpec, type WorkloadSubmission } from './schema.js';
export { parseSubmission, describeIssues, DEFAULT_MAX_PAYLOAD_BYTES, type ParseResult, type RefusalKind } from './parse.js';
export { SESSION_KEEPER_ARGV, workloadArgv, isSession } from './session.js';
