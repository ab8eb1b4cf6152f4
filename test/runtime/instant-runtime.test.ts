import { InstantRuntime } from '../../src/runtime/instant/instant-runtime.js';
import { runtimeConformance } from './conformance.js';

// The benchmark's double passes the same contract as the real adapters.
runtimeConformance('instant (benchmark double)', async () => ({ runtime: new InstantRuntime(), cleanup: async () => undefined }));
