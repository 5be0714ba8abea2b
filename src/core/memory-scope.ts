// The name a site's blocks are remembered under: the site's name and a digest of the policy that
// turns RTI's answers into blocks. A reload that changes which answers block starts that site's
// memory afresh (its old entries are never recalled and age out), so nobody is refused from memory
// by a policy no longer in force; replicas share entries only while their policies agree.
// Imports only ./ and node: builtins.

import { createHash } from 'node:crypto';
import type { PolicyConfig } from './policy';

/** What decides which answers block: the generation's defaults, the rules, the block lists. */
type BlockingPolicy = Pick<
  PolicyConfig,
  'apiVersion' | 'rules' | 'blockRedirectCodes' | 'blockReasons'
>;

export function memoryScope(site: string, policy: BlockingPolicy): string {
  const { apiVersion, rules, blockRedirectCodes, blockReasons } = policy;
  const text = JSON.stringify([apiVersion, rules, blockRedirectCodes, blockReasons], setsSorted);
  return `${site}#${createHash('sha256').update(text).digest('base64url').slice(0, 12)}`;
}

/** Sets (rule conditions, code and reason lists) as sorted lists: the same policy, one text. */
function setsSorted(_key: string, value: unknown): unknown {
  if (!(value instanceof Set)) return value;
  return [...(value as Set<string | number>)].map(String).sort();
}
