export { workloadSpecSchema, MAX_ID_LENGTH, DNS1123_LABEL, type WorkloadSpec, type WorkloadSubmission } from './schema.js';
export { parseSubmission, describeIssues, DEFAULT_MAX_PAYLOAD_BYTES, type ParseResult, type RefusalKind } from './parse.js';
