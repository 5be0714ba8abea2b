// Every relative link of the documentation (README, docs/, deploy/, bench/) names a file that
// exists and, with an anchor, a heading of that file by GitHub's rules, so moving a section or
// renaming a heading cannot leave a dead link behind.

import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../helpers/doc-recipes';
import {
  githubSlug,
  headingAnchors,
  linkProblems,
  relativeLinks,
} from '../../helpers/markdown-links';

/** The Markdown files under `dir`, recursively. */
function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter(name => name.endsWith('.md'))
    .map(name => join(dir, name));
}

describe('links of the documentation', () => {
  const files = [
    join(REPO_ROOT, 'README.md'),
    ...['docs', 'deploy', 'bench'].flatMap(dir => markdownFiles(join(REPO_ROOT, dir))),
  ];

  it('finds the README, the docs pages and the deploy READMEs', () => {
    for (const page of ['README.md', 'docs/configuration.md', 'deploy/README.md']) {
      assert.ok(files.includes(join(REPO_ROOT, page)), page);
    }
  });

  it('every relative link names an existing file and heading', () => {
    assert.deepEqual(
      files.flatMap(file => linkProblems(file, REPO_ROOT)),
      [],
    );
  });
});

describe('GitHub anchors and links, as the link check reads them', () => {
  it('slugs headings as GitHub does', () => {
    const cases: [string, string][] = [
      ['Checking a configuration: check-config', 'checking-a-configuration-check-config'],
      ['Envoy HTTP mode, Traefik and Caddy', 'envoy-http-mode-traefik-and-caddy'],
      ["The image's Node flags.", 'the-images-node-flags'],
      ['Load, soak — and shutdown', 'load-soak--and-shutdown'],
      ['rti_circuit_* (advanced)', 'rti_circuit_-advanced'],
      ['Café 2.0', 'café-20'],
    ];
    for (const [heading, slug] of cases) assert.equal(githubSlug(heading), slug, heading);
  });

  it('reads headings outside code blocks, numbering repeated ones, without markup', () => {
    const anchors = headingAnchors(
      '# Title\n## `check` and [links](x.md)\n```yaml\n# not a heading\n```\n## Title\n',
    );
    assert.deepEqual([...anchors], ['title', 'check-and-links', 'title-1']);
  });

  it('takes relative links and images, not URLs nor links inside code', () => {
    const links = relativeLinks(
      '[a](docs/a.md#x) ![i](img.png) [w](https://example.com) `[c](c.md)`\n```\n[d](d.md)\n```\n',
    );
    assert.deepEqual(
      links.map(link => link.target),
      ['docs/a.md#x', 'img.png'],
    );
  });

  it('reports a missing file, a missing heading and an anchor into a directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'md-links-'));
    try {
      writeFileSync(join(dir, 'other.md'), '# Other\n## Present\n');
      writeFileSync(
        join(dir, 'page.md'),
        '# Page\n[ok](other.md#present) [self](#page)\n[gone](gone.md)\n' +
          '[moved](other.md#absent)\n[dir](./#x)\n',
      );
      assert.deepEqual(linkProblems(join(dir, 'page.md'), dir), [
        'page.md:3: gone.md: no such file',
        'page.md:4: other.md#absent: no such heading',
        'page.md:5: ./#x: an anchor into a file that is not Markdown',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
