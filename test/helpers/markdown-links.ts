// What GitHub makes of a Markdown file's headings and relative links, so a test can hold every
// link of the documentation to a file and heading that exist.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

/**
 * GitHub's anchor for a heading's text (github-slugger): lower-cased, every character but
 * letters, marks, digits, `_`, `-` and space dropped, spaces turned into hyphens.
 */
export function githubSlug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** The lines of `markdown` outside fenced code blocks, each with its 1-based line number. */
function proseLines(markdown: string): { line: number; text: string }[] {
  const lines: { line: number; text: string }[] = [];
  let fence: string | undefined;
  markdown.split('\n').forEach((text, index) => {
    const opening = /^ {0,3}(`{3,}|~{3,})/.exec(text)?.[1];
    if (fence === undefined && opening !== undefined) fence = opening;
    else if (fence !== undefined) {
      if (opening !== undefined && opening[0] === fence[0] && opening.length >= fence.length) {
        fence = undefined;
      }
    } else lines.push({ line: index + 1, text });
  });
  return lines;
}

/** A heading's text as GitHub renders it: link targets, code ticks and emphasis marks dropped. */
function renderedText(heading: string): string {
  return heading.replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/[`*]/g, '');
}

/** The anchors GitHub gives the headings of `markdown` (a repeated slug gets `-1`, `-2`, ...). */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text } of proseLines(markdown)) {
    const heading = /^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/.exec(text)?.[1];
    if (heading !== undefined) {
      const slug = githubSlug(renderedText(heading));
      const count = seen.get(slug) ?? 0;
      seen.set(slug, count + 1);
      anchors.add(count === 0 ? slug : `${slug}-${count}`);
    }
    for (const match of text.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(match[1]!);
  }
  return anchors;
}

export interface MarkdownLink {
  readonly line: number;
  /** The target as written, e.g. `docs/nginx.md#the-endpoint`. */
  readonly target: string;
}

/** The links and images of `markdown` that point into the repository (no scheme, no `//`). */
export function relativeLinks(markdown: string): MarkdownLink[] {
  const links: MarkdownLink[] = [];
  for (const { line, text } of proseLines(markdown)) {
    const prose = text.replace(/(`+)[\s\S]*?\1/g, '');
    for (const match of prose.matchAll(/\]\(<?([^)\s>]+)>?(?:\s+"[^"]*")?\)/g)) {
      const target = match[1]!;
      if (!/^([a-z][a-z0-9+.-]*:|\/\/)/i.test(target)) links.push({ line, target });
    }
  }
  return links;
}

/**
 * Every relative link of the Markdown file at `path` that names no existing file, or no heading
 * of the Markdown file it names, as `file:line: target: why` (paths relative to `root`).
 */
export function linkProblems(path: string, root: string): string[] {
  const problems: string[] = [];
  for (const { line, target } of relativeLinks(readFileSync(path, 'utf8'))) {
    const hash = target.indexOf('#');
    const file = hash < 0 ? target : target.slice(0, hash);
    const anchor = hash < 0 ? undefined : target.slice(hash + 1);
    const resolved = file === '' ? path : join(dirname(path), decodeURIComponent(file));
    const where = `${relative(root, path)}:${line}: ${target}`;
    if (!existsSync(resolved)) problems.push(`${where}: no such file`);
    else if (anchor === undefined) continue;
    else if (statSync(resolved).isDirectory() || !resolved.endsWith('.md')) {
      problems.push(`${where}: an anchor into a file that is not Markdown`);
    } else if (!headingAnchors(readFileSync(resolved, 'utf8')).has(anchor)) {
      problems.push(`${where}: no such heading`);
    }
  }
  return problems;
}
