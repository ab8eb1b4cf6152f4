import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane, type ControlPlane, type ControlPlaneDeps } from '../../src/app.js';
import { DEFAULT_CONFIG, type ControlPlaneConfig } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { uniquePrefix, type Servers } from './servers.js';

export interface TestPlane {
  plane: ControlPlane;
  config: ControlPlaneConfig;
  stop(): Promise<void>;
}

/** An in-process control plane on the test's servers, with its own key prefix and state dir. */
export async function startTestPlane(
  servers: Servers,
  overrides: Partial<ControlPlaneConfig> = {},
  deps: Partial<ControlPlaneDeps> = {},
): Promise<TestPlane> {
  const stateDir = overrides.stateDir ?? mkdtempSync(join(tmpdir(), 'leasehold-test-'));
  const config: ControlPlaneConfig = {
    ...DEFAULT_CONFIG,
    redisUrl: servers.redis.url,
    natsUrl: servers.nats.url,
    keyPrefix: uniquePrefix(),
    httpPort: 0,
    stateDir,
    blockTimeoutSeconds: 1,
    reaperIntervalMs: 100,
    renewTickMs: 100,
    teardownGraceMs: 1_000,
    ...overrides,
  };
  const plane = await startControlPlane(config, { log: silentLogger, ...deps });
  return {
    plane,
    config,
    async stop() {
      await plane.stop();
      if (!overrides.stateDir) rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
