// Reads the configuration once: defaults < config file < environment < command-line flags.
// Three steps, each in its own module: read the sources (read-sources), read and validate every
// setting with convict and report every problem at once (validate-settings, convict-settings,
// sites, tls-files), then build the frozen AppConfig (build-app-config). The types and loadConfig
// are the API the rest of the code uses.

import { buildAppConfig, type ResolvedSite } from './build-app-config';
import { resolveChallengeSecrets, resolveSiteChallenge } from './challenge-config';
import { ConfigError, type ConfigProblem } from './config-error';
import { readSources, type ConfigSources } from './read-sources';
import { resolveRedisConfig } from './redis-config';
import { resolveApiKey } from './resolve-api-key';
import { readSites, resolveSiteSettings } from './sites';
import { grpcTlsProblems } from './tls-files';
import { crossFieldProblems, settingsOf } from './validate-settings';
import type { AppConfig } from './app-config';
import type { SettingName } from './schema';

export type { AppConfig, CircuitSettings, LogLevel, SiteConfig } from './app-config';
export { REDACTED, servedSites } from './app-config';
export { KNOWN_RTI_ENDPOINTS } from './build-app-config';
export { ConfigError, type ConfigProblem } from './config-error';
export type { ConfigSources } from './read-sources';

/** @throws ConfigError naming every problem found */
export function loadConfig(sources: ConfigSources): AppConfig {
  const raw = readSources(sources);
  const problems: ConfigProblem[] = [...raw.problems];
  const settings = settingsOf(raw, problems);
  const siteEntries = readSites(settings.sites, problems);
  // With sites, the top level may have no tag hash: it then serves no request itself.
  const servesTopLevel = siteEntries.length === 0 || String(settings.tag_hash).trim() !== '';
  const apiKey = servesTopLevel ? resolveApiKey(settings, problems) : '';
  problems.push(...crossFieldProblems(settings, servesTopLevel ? 'top level' : 'optional'));
  problems.push(...grpcTlsProblems(settings));
  const secrets = resolveChallengeSecrets(settings, problems);
  const redis = resolveRedisConfig(settings, problems);
  const topLevel = resolveSiteChallenge(settings, servesTopLevel ? problems : []);
  const sites: ResolvedSite[] = [];
  for (const entry of siteEntries) {
    const siteProblems: ConfigProblem[] = [];
    const siteSettings = resolveSiteSettings(entry, settings, siteProblems);
    if (siteSettings) {
      const siteKey = resolveApiKey(siteSettings, siteProblems);
      siteProblems.push(...crossFieldProblems(siteSettings, 'site'));
      const challenge = resolveSiteChallenge(siteSettings, siteProblems);
      sites.push({ entry, settings: siteSettings, apiKey: siteKey, challenge });
    }
    problems.push(...siteProblems.map(problem => ({ ...problem, site: entry.label })));
  }
  if (problems.length > 0) {
    throw new ConfigError(problems.map(withOldNames(raw.legacyEnv, raw.cheqEnv)));
  }
  return buildAppConfig(
    settings,
    apiKey,
    servesTopLevel,
    sites,
    raw.configFile,
    raw.warnings,
    {
      secrets,
      topLevel,
    },
    redis,
  );
}

/**
 * Names the old variable (or CHEQ's name) of each top-level setting a problem is about that was
 * read from one, so that every check (convict's, the TLS files', the cross-setting rules) names
 * what the operator set.
 */
function withOldNames(
  legacyEnv: ReadonlyMap<SettingName, string>,
  cheqEnv: ReadonlyMap<SettingName, string>,
): (problem: ConfigProblem) => ConfigProblem {
  const oldName = (setting: string | undefined): string | undefined =>
    setting === undefined ? undefined : legacyEnv.get(setting as SettingName);
  return problem => {
    if (problem.site !== undefined) return problem;
    const first = oldName(problem.setting);
    const others = (problem.with?.settings ?? []).flatMap(setting => {
      const old = oldName(setting);
      return old === undefined ? [] : [[setting, old] as const];
    });
    const settings = [problem.setting, ...(problem.with?.settings ?? [])];
    const cheqNames = settings.flatMap(setting => {
      const name = setting === undefined ? undefined : cheqEnv.get(setting as SettingName);
      return setting === undefined || name === undefined ? [] : [[setting, name] as const];
    });
    return {
      ...problem,
      ...(first === undefined ? {} : { legacyEnv: first }),
      ...(others.length === 0 ? {} : { withLegacyEnv: Object.fromEntries(others) }),
      ...(cheqNames.length === 0 ? {} : { cheqEnv: Object.fromEntries(cheqNames) }),
    };
  };
}
