// docs/operations.md states the protected share as the alert rules compute it: from the one list
// of protected reasons in the core (the README once left not_enforced out).

import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROTECTED_REASONS } from '../../../src/core/protected-reasons';
import { DOCS_DIR, fencedBlocks } from '../../helpers/doc-recipes';

const PAGE = readFileSync(join(DOCS_DIR, 'operations.md'), 'utf8');

describe('docs/operations.md protected share', () => {
  it('names every protected reason in its prose', () => {
    const paragraph = /^\*\*Protected share\*\*[\s\S]*?\n\n/m.exec(PAGE)?.[0] ?? '';
    assert.ok(paragraph !== '', 'a **Protected share** paragraph');
    for (const reason of PROTECTED_REASONS) assert.ok(paragraph.includes(`\`${reason}\``), reason);
  });

  it('counts exactly the protected reasons in its query', () => {
    const [query = ''] = fencedBlocks(PAGE, 'promql');
    const selectors = [...query.matchAll(/reason=~"([^"]*)"/g)].map(match => match[1]);
    assert.ok(selectors.length > 0, 'a reason selector');
    for (const selector of selectors) assert.equal(selector, PROTECTED_REASONS.join('|'));
  });
});
