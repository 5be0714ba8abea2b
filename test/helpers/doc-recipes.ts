// The recipes of docs/ as the tests read them: the fenced code blocks of a page, so what the tests
// run is what the documentation shows.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const REPO_ROOT = join(__dirname, '..', '..', '..');
export const DOCS_DIR = join(REPO_ROOT, 'docs');

/** The bodies of the ```<lang> blocks in `text`, in order. */
export function fencedBlocks(text: string, lang: string): string[] {
  return [...text.matchAll(/^```(\S*)\n([\s\S]*?)^```$/gm)]
    .filter(match => match[1] === lang)
    .map(match => match[2] ?? '');
}

/** The one ```<lang> block of docs/<page> that contains `marker`; throws when there is not one. */
export function recipeBlock(page: string, lang: string, marker: string): string {
  const path = join(DOCS_DIR, page);
  if (!existsSync(path)) throw new Error(`docs/${page} does not exist`);
  const blocks = fencedBlocks(readFileSync(path, 'utf8'), lang).filter(b => b.includes(marker));
  if (blocks.length !== 1) {
    throw new Error(`docs/${page}: ${blocks.length} \`\`\`${lang} blocks hold ${marker}, not 1`);
  }
  return blocks[0]!;
}
