// The configuration reference as Markdown, rendered from the schema so the documentation cannot
// drift from the code (a test compares them; `npm run docs` rewrites the generated part). The
// everyday settings come first; the advanced ones (tuning knobs) in a table apart.

import { schema, type SettingSpec } from './schema';

/** A table cell's code span; `|` escaped, or it would end the cell (GFM reads `\|` as `|`). */
function formatDefault(value: unknown): string {
  if (Array.isArray(value) && value.length === 0) return 'empty';
  if (value === '') return 'empty';
  const text = Array.isArray(value) ? value.join(',') : String(value);
  return `\`${text.replace(/\|/g, '\\|')}\``;
}

function envCell(spec: SettingSpec): string {
  if (spec.cheqAlias !== undefined) {
    return `\`${spec.env}\` (CHEQ's name \`${spec.cheqAlias.env}\`)`;
  }
  return spec.legacyEnv === undefined
    ? `\`${spec.env}\``
    : `\`${spec.env}\` (old name \`${spec.legacyEnv}\`)`;
}

function onReload(spec: SettingSpec): string {
  return spec.while === undefined ? spec.applies : `${spec.applies} (while ${spec.while} is on)`;
}

function row(cells: readonly string[]): string {
  return `| ${cells.join(' | ')} |`;
}

export function renderConfigReference(): string {
  const entries = Object.entries(schema) as [string, SettingSpec][];
  const doc = (spec: SettingSpec): string => spec.doc.replace(/\|/g, '\\|');
  const everyday = entries
    .filter(([, spec]) => !spec.advanced)
    .map(([key, spec]) =>
      row([
        `\`${key}\``,
        envCell(spec),
        spec.arg === undefined ? 'none' : `\`--${spec.arg}\``,
        formatDefault(spec.default),
        spec.scope,
        onReload(spec),
        doc(spec),
      ]),
    );
  const advanced = entries
    .filter(([, spec]) => spec.advanced)
    .map(([key, spec]) =>
      row([`\`${key}\``, envCell(spec), formatDefault(spec.default), onReload(spec), doc(spec)]),
    );
  return [
    'Scope `site`: a site in `sites` may set its own. On reload: `live` applies at once, `restart` ' +
      'is refused until a restart; `restart (while X is on)` is refused only when X is on (true, ' +
      'or a file set) before or after the reload: while X is off, the setting is unused.',
    '',
    row(['setting (file key)', 'environment', 'flag', 'default', 'scope', 'on reload', 'meaning']),
    row(Array(7).fill('---')),
    ...everyday,
    '',
    'Advanced settings: tuning knobs whose defaults suit nearly every deployment. In the config ' +
      'file they go under `advanced:` (`advanced: { rti_preconnect: 8 }`); in the environment ' +
      'they have their CHEQ_ names; they have no command-line flag of their own (the old ones, ' +
      '`--rti-preconnect 8`, are read for now, with a warning).',
    '',
    row(['setting (under `advanced:`)', 'environment', 'default', 'on reload', 'meaning']),
    row(Array(5).fill('---')),
    ...advanced,
  ].join('\n');
}
