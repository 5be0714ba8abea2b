// The response headers every page we serve carries (block page, challenge page): never cached,
// never framed, no referrer leaked, and a CSP that allows exactly the page's own inline script
// and style by hash. Imports only node: builtins.

import { createHash } from 'node:crypto';
import type { ClientHeader } from './decision';

const INLINE = /<(script|style)\b[^>]*>([\s\S]*?)<\/\1\s*>/gi;

/**
 * A CSP for `html` that allows its inline <script> and <style> elements by SHA-256 hash, plus
 * the `extra` directives (a captcha provider's origins), and nothing else.
 */
export function contentSecurityPolicy(
  html: string,
  extra: { readonly script?: readonly string[]; readonly frame?: readonly string[] } = {},
): string {
  const hashes: Record<'script' | 'style', string[]> = { script: [], style: [] };
  for (const [, tag, content] of html.matchAll(INLINE)) {
    const digest = createHash('sha256')
      .update(content ?? '')
      .digest('base64');
    hashes[tag?.toLowerCase() === 'script' ? 'script' : 'style'].push(`'sha256-${digest}'`);
  }
  const sources = (list: readonly string[]): string => (list.length ? list.join(' ') : "'none'");
  return [
    "default-src 'none'",
    `script-src ${sources([...hashes.script, ...(extra.script ?? [])])}`,
    `style-src ${sources(hashes.style)}`,
    `frame-src ${sources(extra.frame ?? [])}`,
    `connect-src ${sources(extra.script ?? [])}`,
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The headers of a page whose CSP is `csp`; content-type and cache-control are the adapters'. */
export function pageHeaders(csp: string): readonly ClientHeader[] {
  return [
    ['content-security-policy', csp],
    ['referrer-policy', 'no-referrer'],
    ['x-frame-options', 'DENY'],
    // The block page echoes client-chosen ids (escaped): never read as anything but its type.
    ['x-content-type-options', 'nosniff'],
  ];
}
