// Warm-up's target: gRPC and HTTP listeners on loopback over a decision service of its own that
// asks the built-in RTI emulator, so that the warm-up checks run the whole check path of this
// configuration without reaching the configured RTI or the server's metrics.

import { Registry } from 'prom-client';
import { startCheckListeners } from '../check-listeners';
import type { AppConfig } from '../config/load-config';
import { DecisionService } from '../decision-service';
import { createLogger } from '../observability/logger';
import type { WarmUpTarget } from './warm-up';

export async function startWarmUpTarget(config: AppConfig, emulator: URL): Promise<WarmUpTarget> {
  const target = warmUpConfig(config, emulator);
  // Logging at the same level into nothing: the log calls of a check are part of its path, the
  // lines themselves would be noise.
  const log = createLogger(config.logLevel, { write: () => undefined });
  const service = new DecisionService(target, {
    registry: new Registry(),
    log,
    processMetrics: false,
  });
  const listeners = await startCheckListeners(target.server, service, log).catch(
    async (err: unknown) => {
      await service.close();
      throw err;
    },
  );
  return {
    grpcPort: listeners.grpcPort,
    httpPort: listeners.httpPort,
    async close() {
      await listeners.close();
      await service.close();
    },
  };
}

/**
 * Entries of the warm-up chain's verdict memory: lru-cache allocates its index for the whole cap
 * up front (about 28 bytes an entry), and the warm-up's few blocks need no more than this.
 */
export const WARM_UP_MEMORY_ENTRIES = 1000;

/**
 * The configuration of the warm-up chain: this one's top-level decision settings, but asking
 * the emulator (with a made-up key: the real ones go nowhere else), on loopback ports of its
 * own, plaintext. Sites are left out: they run the same code.
 */
export function warmUpConfig(config: AppConfig, emulator: URL): AppConfig {
  return {
    ...config,
    warnings: [],
    // Its blocks are the emulator's: never told to the other replicas.
    redis: undefined,
    verdictMemory: { maxEntries: WARM_UP_MEMORY_ENTRIES },
    sites: [],
    defaultSite: {
      name: 'default',
      hosts: [],
      core: config.core,
      endpoint: emulator,
      apiKey: 'warm-up',
      tagHash: 'warm-up',
      // Never a captcha provider's: the warm-up calls nothing but the emulator.
      siteverify: undefined,
      effective: {},
    },
    rti: {
      ...config.rti,
      endpoint: emulator,
      apiKey: 'warm-up',
      tagHash: 'warm-up',
      preconnect: 0,
      // The emulator's first, cold answers may time out: an open circuit would then keep the
      // rest of the warm-up off the RTI call path.
      circuit: undefined,
    },
    server: {
      ...config.server,
      host: '127.0.0.1',
      grpcPort: 0,
      httpPort: 0,
      grpcTls: undefined,
      warmupChecks: 0,
      shutdownDelayMs: 0,
      shutdownGraceMs: 1000,
    },
  };
}
