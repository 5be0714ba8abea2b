// The decision service: the decision chain of the configuration in use over the RTI endpoints
// (a pool and a breaker each) and this process's load state, with their metrics. It applies a
// reloaded configuration, closes the endpoints no site uses any more once the checks that may
// still call them are done, and gets ready (connections ahead, warm-up). It opens no listener.

import type { Registry } from 'prom-client';
import { Agent } from 'undici';
import { ReplayGuard } from './challenge/replay-guard';
import { ConfigReloader } from './config/config-reloader';
import { servedSites, type AppConfig } from './config/load-config';
import { DEFAULT_SITE, NO_SITE } from './config/sites';
import type { Decide } from './core/decide';
import { InFlightLimit, MAX_CAPTCHA_VERIFY_CALLS } from './core/in-flight-limit';
import { buildDecisionChain, endpointsOf, type ChainDeps } from './decision-chain';
import { AdmissionLine } from './load/admission-line';
import { EventLoopMonitor } from './load/event-loop-monitor';
import {
  applyForget,
  type ForgetOutcome,
  type ForgetRequest,
  memorySitesOf,
} from './memory/forget-request';
import { startRedisSync, type RedisSync } from './memory/redis-sync';
import { VerdictMemory, type MemoryChange } from './memory/verdict-memory';
import type { Logger } from './observability/logger';
import {
  createMetrics,
  type Metrics,
  type RtiReadings,
  type SiteChallengeProvider,
} from './observability/metrics';
import { observeDecisions } from './observability/observe-decisions';
import { CircuitBreaker } from './rti/circuit-breaker';
import { RtiEndpoints } from './rti/rti-endpoints';
import { VERSION } from './version';
import { getReady } from './warmup/get-ready';
import type { WarmUpTarget } from './warmup/warm-up';

/** Answers larger than this are not RTI verdicts. */
const MAX_RTI_RESPONSE_BYTES = 64 * 1024;
/** After a reload, how long an RTI endpoint no site uses any more stays open for older checks. */
const ENDPOINT_LINGER_MS = 30_000;
/** Idle connections to a captcha provider's verify endpoint close after this. */
const SITEVERIFY_KEEP_ALIVE_MS = 30_000;
/** How often expired verdict memory entries are swept (a bounded number each time). */
const MEMORY_SWEEP_INTERVAL_MS = 1000;

export interface DecisionServiceOptions {
  /** Where its metrics are registered. */
  readonly registry: Registry;
  readonly log: Logger;
  /** Node's process metrics in the registry (default true); false for warm-up's throwaway one. */
  readonly processMetrics?: boolean;
  /** Reads the configuration again from its sources; without it, nothing reloads. */
  readonly load?: () => AppConfig;
}

export class DecisionService {
  /** Every check goes through this: the chain in use, counted and logged. */
  readonly decide: Decide;
  readonly metrics: Metrics;
  /** RTI's recent blocks: one store for the process's life, kept across reloads. */
  readonly memory: VerdictMemory;
  private readonly memorySweep: NodeJS.Timeout;
  private readonly memorySync: RedisSync | undefined;
  // How responsive this process is (the breaker's evidence); its samples also expire the line.
  private readonly loop = new EventLoopMonitor();
  private readonly admission: AdmissionLine | undefined;
  private readonly endpoints: RtiEndpoints;
  private readonly chainDeps: ChainDeps;
  private readonly reloader: ConfigReloader | undefined;
  /** Swapped whole by a reload: a check keeps the chain it started on. */
  private chain: Decide;
  private inUse: AppConfig;
  private linger: NodeJS.Timeout | undefined;
  private closed: Promise<void> | undefined;

  constructor(
    config: AppConfig,
    private readonly options: DecisionServiceOptions,
  ) {
    const { rti } = config;
    this.inUse = config;
    this.loop.start();
    this.memory = new VerdictMemory({ maxEntries: config.verdictMemory.maxEntries });
    this.memorySweep = setInterval(() => this.memory.sweep(), MEMORY_SWEEP_INTERVAL_MS).unref();
    this.admission = config.server.overloadShedding
      ? new AdmissionLine({ limit: Math.min(rti.connections, rti.maxInFlight) }, this.loop)
      : undefined;
    this.metrics = createMetrics(
      options.registry,
      {
        version: VERSION,
        sites: [config.defaultSite ? DEFAULT_SITE : NO_SITE, ...config.sites.map(s => s.name)],
        overloadShedding: this.admission !== undefined,
        processMetrics: options.processMetrics,
        challengeProviders: challengeProvidersOf(config),
        verdictMemory: this.memory,
      },
      // Read at scrape time.
      () => this.readings(),
    );
    // Sharing the memory with the other replicas starts here, after the metrics; close() stops it.
    // Each endpoint opens its pool and breaker on first use, by the chain built below.
    this.endpoints = new RtiEndpoints({
      connections: rti.connections,
      maxInFlight: rti.maxInFlight,
      maxResponseBytes: MAX_RTI_RESPONSE_BYTES,
      newBreaker: url => this.newBreaker(config, url),
      onDropped: breaker => this.metrics.circuitStateChanged(breaker?.current, undefined),
    });
    this.chainDeps = {
      endpoints: this.endpoints,
      loop: this.loop,
      admission: this.admission,
      onLaggingTimeout: () => this.metrics.rtiCircuitIgnoredTimeouts.inc(),
      replayGuard: new ReplayGuard(),
      verifyCalls: new InFlightLimit(MAX_CAPTCHA_VERIFY_CALLS),
      siteverify: new Agent({ keepAliveTimeout: SITEVERIFY_KEEP_ALIVE_MS }),
      memory: this.memory,
    };
    this.chain = buildDecisionChain(config, this.chainDeps);
    this.metrics.configInUse(describeConfig(config));
    this.decide = observeDecisions(
      (attrs, opts) => this.chain(attrs, opts),
      this.metrics,
      options.log,
    );
    this.memorySync =
      config.redis &&
      startRedisSync({
        memory: this.memory,
        settings: config.redis,
        maxTtlMs: () => this.longestTtlMs(),
        log: options.log,
        registry: options.registry,
      });
    this.reloader =
      options.load &&
      new ConfigReloader({
        initial: config,
        load: options.load,
        apply: next => this.apply(next),
        onRefused: () => this.metrics.configReloadFailures.inc(),
        log: options.log,
      });
  }

  /** An operator's forget, over the sites of the configuration in use (told to the peers). */
  forget(request: ForgetRequest): ForgetOutcome {
    return applyForget(this.memory, request, memorySitesOf(this.inUse));
  }

  /** A peer's change; its block is kept at most the longest site TTL in use (none: dropped). */
  applyPeerChange(change: MemoryChange): void {
    this.memory.apply(change, 'peer', this.longestTtlMs());
  }

  /** The longest verdict memory TTL of the sites in use; 0 when every site has it off. */
  private longestTtlMs(): number {
    return Math.max(0, ...servedSites(this.inUse).map(site => site.core.verdictMemoryTtlMs));
  }

  /** Reads the configuration again and applies it when valid (SIGHUP); see ConfigReloader. */
  reload(trigger: string): void {
    this.reloader?.reload(trigger);
  }

  /**
   * Puts a new configuration in use for the checks that start from now on (its restart-only
   * settings are ignored: the reloader refuses a configuration that changes them).
   */
  apply(next: AppConfig): void {
    this.inUse = next;
    this.chain = buildDecisionChain(next, this.chainDeps);
    this.metrics.configInUse(describeConfig(next));
    // An endpoint no site uses any more closes once the checks that may still call it are done.
    clearTimeout(this.linger);
    this.linger = setTimeout(() => {
      this.endpoints.keepOnly(endpointsOf(this.inUse)).catch((err: unknown) => {
        this.options.log.warn({ err }, 'closing unused RTI connections failed');
      });
    }, ENDPOINT_LINGER_MS).unref();
  }

  /**
   * Opens connections to RTI ahead of traffic and runs the warm-up checks through the target
   * `startWarmUpTarget` starts; never rejects. Checks are answered meanwhile.
   */
  getReady(startWarmUpTarget: (emulator: URL) => Promise<WarmUpTarget>): Promise<void> {
    const { inUse: config, endpoints: rti, metrics } = this;
    return getReady({ config, rti, metrics, log: this.options.log, startWarmUpTarget });
  }

  /** Stops watching the configuration files (the process is stopping); close() does it too. */
  stopWatching(): void {
    this.reloader?.close();
  }

  /** Closes the RTI endpoints (idempotent): once the listeners have answered their checks. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.stopWatching();
      clearTimeout(this.linger);
      clearInterval(this.memorySweep);
      await Promise.all([
        this.endpoints.close(),
        this.chainDeps.siteverify.close(),
        this.memorySync?.close(),
      ]);
      this.loop.stop();
    })();
    return this.closed;
  }

  private newBreaker(config: AppConfig, url: URL): CircuitBreaker | undefined {
    const { circuit } = config.rti;
    if (!circuit) return undefined;
    const { log } = this.options;
    const rtiEndpoint = url.origin;
    this.metrics.circuitStateChanged(undefined, 'closed');
    return new CircuitBreaker({
      ...circuit,
      onStateChange: (state, previous) => {
        this.metrics.circuitStateChanged(previous, state);
        const fields = { state, previous, openMs: circuit.openMs, rtiEndpoint };
        if (state === 'closed') log.info(fields, 'RTI circuit closed: calling RTI again');
        else log.warn(fields, `RTI circuit ${state}`);
      },
    });
  }

  private readings(): RtiReadings {
    return {
      inFlight: this.endpoints.inFlight,
      pool: this.endpoints.poolStats,
      admissionWaiting: this.admission?.waiting,
    };
  }
}

function describeConfig(config: AppConfig): Parameters<Metrics['configInUse']>[0] {
  return { hash: config.hash, mode: config.core.mode, rtiTimeoutMs: config.core.timeoutMs };
}

/** Each served site and its challenge_provider. */
function challengeProvidersOf(config: AppConfig): SiteChallengeProvider[] {
  return servedSites(config).map(site => [site.name, site.core.challengeProvider]);
}
