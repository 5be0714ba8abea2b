// The configuration reference as a Markdown table, rendered from the schema so the README
// cannot drift from the code (a test compares them; `npm run docs` rewrites the README).

import { schema } from './schema';

function formatDefault(value: unknown): string {
  if (Array.isArray(value)) return value.length === 0 ? 'empty' : `\`${value.join(',')}\``;
  if (value === '') return 'empty';
  return `\`${String(value)}\``;
}

export function renderConfigReference(): string {
  const settings = schema as Record<
    string,
    { doc: string; env: string; arg?: string; default: unknown }
  >;
  const rows = Object.entries(settings).map(([key, setting]) => {
    const doc = setting.doc.replace(/\|/g, '\\|');
    const flag = setting.arg === undefined ? 'none' : `\`--${setting.arg}\``;
    return `| \`${key}\` | \`${setting.env}\` | ${flag} | ${formatDefault(setting.default)} | ${doc} |`;
  });
  return [
    '| setting (file key) | environment | flag | default | meaning |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}
