// The README's recipes as the tests read them: a `## ` section and its fenced code blocks.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const README_PATH = join(__dirname, '..', '..', '..', 'README.md');

/** The text of the `## <heading>` section, up to the next `## ` heading. */
export function readmeSection(heading: string): string {
  const readme = readFileSync(README_PATH, 'utf8');
  const start = readme.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`README has no section "## ${heading}"`);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

/** The bodies of the ```<lang> blocks in `text`, in order. */
export function fencedBlocks(text: string, lang: string): string[] {
  return [...text.matchAll(/^```(\S*)\n([\s\S]*?)^```$/gm)]
    .filter(match => match[1] === lang)
    .map(match => match[2] ?? '');
}

/** The one ```<lang> block of the section that contains `marker`. */
export function readmeBlock(heading: string, lang: string, marker: string): string {
  const blocks = fencedBlocks(readmeSection(heading), lang).filter(b => b.includes(marker));
  if (blocks.length !== 1) {
    throw new Error(`README "## ${heading}": ${blocks.length} \`\`\`${lang} blocks hold ${marker}`);
  }
  return blocks[0]!;
}
