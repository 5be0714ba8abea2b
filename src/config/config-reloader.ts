// Live reload: on SIGHUP, and when the config file or an API key file changes on disk, the
// configuration is read again. A valid one is swapped in whole (checks in flight finish on the
// one they started with); an invalid one, or one that changes a setting only a restart can
// apply, is refused with the same messages as at start while the old one keeps serving.

import type { Logger } from '../observability/logger';
import { ConfigWatcher } from './config-watcher';
import { ConfigError, type AppConfig } from './load-config';
import { schema, type SettingSpec } from './schema';
import { RESTART_ONLY_SETTINGS } from './setting-lists';

/**
 * The restart-only settings (the schema says which) whose resolved values (AppConfig.effective)
 * differ between two configurations, except those of a feature off in both (the schema's
 * `while`): a circuit breaker's tuning while there is no breaker, TLS timings without TLS.
 */
export function restartOnlyChanges(from: AppConfig, to: AppConfig): string[] {
  return RESTART_ONLY_SETTINGS.filter(setting => {
    const spec: SettingSpec = schema[setting];
    const feature = spec.while;
    if (feature !== undefined && !isOn(from, feature) && !isOn(to, feature)) return false;
    return JSON.stringify(from.effective[setting]) !== JSON.stringify(to.effective[setting]);
  });
}

/** A feature's switch is on: a true flag, a file name that is set. */
function isOn(config: AppConfig, setting: string): boolean {
  const value = config.effective[setting];
  return value === true || (typeof value === 'string' && value !== '');
}

export interface ReloaderOptions {
  readonly initial: AppConfig;
  /** Reads the configuration again, from the same sources; throws ConfigError. */
  readonly load: () => AppConfig;
  /** Puts a valid configuration in use. */
  readonly apply: (config: AppConfig) => void;
  /** Told of every refused reload. */
  readonly onRefused: () => void;
  readonly log: Logger;
}

export class ConfigReloader {
  private current: AppConfig;
  private readonly watcher: ConfigWatcher;

  constructor(private readonly options: ReloaderOptions) {
    this.current = options.initial;
    this.watcher = new ConfigWatcher({
      onChange: changed => this.reload('file change', changed),
      onError: err => options.log.error({ err }, 'configuration reload failed'),
    });
    this.watcher.watch(this.current.files);
  }

  /** Reads the configuration again and swaps it in when it is valid and can be applied live. */
  reload(trigger: string, changed: readonly string[] = []): void {
    const { log } = this.options;
    let next: AppConfig;
    try {
      next = this.options.load();
    } catch (err: unknown) {
      const problems = err instanceof ConfigError ? err.problems : [String(err)];
      this.refuse(trigger, changed, problems);
      return;
    }
    const restartOnly = restartOnlyChanges(this.current, next);
    if (restartOnly.length > 0) {
      this.refuse(trigger, changed, [`${restartOnly.join(', ')}: cannot change without a restart`]);
      return;
    }
    const previous = this.current.hash;
    if (next.hash === previous) {
      log.info({ trigger, changed, hash: previous }, 'configuration unchanged');
      return;
    }
    this.current = next;
    this.options.apply(next);
    this.watcher.watch(next.files);
    for (const warning of next.warnings) log.warn(warning);
    log.info(
      {
        trigger,
        changed,
        hash: next.hash,
        previous,
        sites: next.sites.map(site => site.name),
      },
      'configuration reloaded',
    );
  }

  close(): void {
    this.watcher.close();
  }

  private refuse(trigger: string, changed: readonly string[], problems: readonly string[]): void {
    this.options.onRefused();
    this.options.log.error(
      { trigger, changed, problems, hash: this.current.hash },
      'configuration reload refused: the previous configuration keeps serving',
    );
  }
}
