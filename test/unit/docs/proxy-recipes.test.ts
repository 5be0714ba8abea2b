// The proxy recipes of docs/ against the endpoint's own verdict header list, so a header added
// to the server cannot be left out of a recipe (or forged through it). Traefik cannot run here;
// Caddy's recipe also runs in the real Caddy (test/integration/caddy.test.ts).

import { strict as assert } from 'node:assert';
import { parse } from 'yaml';
import { FORWARD_AUTH_PATH } from '../../../src/adapters/http/forward-auth';
import { schema } from '../../../src/config/schema';
import { RTI_RESULT_HEADER, verdictHeaderNames } from '../../../src/core/verdict-headers';
import { recipeBlock } from '../../helpers/doc-recipes';

const NAMES: string[] = [
  ...Object.values<string>({ ...verdictHeaderNames(schema.verdict_header_prefix.default) }),
  RTI_RESULT_HEADER,
];
/** Headers a recipe must leave alone: RTI and the app need them. */
const OTHER_HEADERS = ['Cookie', 'User-Agent', 'X-Forwarded-For', 'Authorization', 'Set-Cookie'];

/** Go's http.CanonicalHeaderKey, which Traefik matches its regex against. */
function canonical(name: string): string {
  return name
    .split('-')
    .map(part => part.charAt(0).toUpperCase() + part.slice(1).toLowerCase())
    .join('-');
}

/** An Envoy StringMatcher or Istio header pattern (`x-*`, `*-x`, exact) against a name. */
function covers(pattern: unknown, name: string): boolean {
  if (typeof pattern === 'string') {
    if (pattern.endsWith('*')) return name.startsWith(pattern.slice(0, -1));
    if (pattern.startsWith('*')) return name.endsWith(pattern.slice(1));
    return name === pattern;
  }
  const matcher = pattern as { exact?: string; prefix?: string };
  return (
    name === matcher.exact || (matcher.prefix !== undefined && name.startsWith(matcher.prefix))
  );
}

describe('proxy recipes of docs/ against the verdict header list', () => {
  describe('Traefik ForwardAuth', () => {
    const config = parse(recipeBlock('traefik.md', 'yaml', 'forwardAuth')) as {
      http: { middlewares: Record<string, { forwardAuth: Record<string, unknown> }> };
    };
    const [forwardAuth] = Object.values(config.http.middlewares).map(m => m.forwardAuth);

    it('asks the forward-auth endpoint', () => {
      assert.match(String(forwardAuth?.['address']), new RegExp(`${FORWARD_AUTH_PATH}$`));
    });

    it('deletes every client-sent verdict header and copies ours (authResponseHeadersRegex)', () => {
      const source = forwardAuth?.['authResponseHeadersRegex'];
      assert.equal(typeof source, 'string', 'authResponseHeadersRegex is set');
      // Traefik's RE2 and JavaScript read a pattern without flags, groups or escapes the same way.
      assert.doesNotMatch(source as string, /[(\\]/, 'keep the pattern plain');
      const regex = new RegExp(source as string);
      for (const name of [...NAMES, 'x-cheq-anything', 'x-cheq_decision']) {
        assert.match(canonical(name), regex, `${canonical(name)} is stripped and copied`);
      }
      for (const name of OTHER_HEADERS) assert.doesNotMatch(name, regex, name);
    });

    it('lists no headers one by one (a list deletes only what it names)', () => {
      assert.equal(forwardAuth?.['authResponseHeaders'], undefined);
    });

    it('never takes the original request from client-sent X-Forwarded-* headers', () => {
      assert.equal(forwardAuth?.['trustForwardHeader'], false);
    });
  });

  describe('Caddy forward_auth', () => {
    const caddyfile = recipeBlock('caddy.md', 'caddy', 'forward_auth');

    it('copies every verdict header', () => {
      const copied = /^\s*copy_headers (.+)$/m.exec(caddyfile)?.[1]?.split(/\s+/) ?? [];
      assert.deepEqual(copied.map(name => name.toLowerCase()).sort(), [...NAMES].sort());
    });

    it('deletes client-sent verdict headers first, inside a route that keeps that order', () => {
      const lineAt = (directive: string): number =>
        caddyfile.split('\n').findIndex(line => line.trimStart().startsWith(directive));
      const strip = lineAt(`request_header -${canonical(schema.verdict_header_prefix.default)}*`);
      assert.ok(lineAt('route {') >= 0, 'a route block');
      assert.ok(strip > lineAt('route {'), 'request_header -X-Cheq-* inside the route');
      assert.ok(strip < lineAt('forward_auth '), 'before forward_auth');
    });
  });

  describe('Envoy HTTP mode and Istio', () => {
    it('Envoy passes every verdict header to the upstream (allowed_upstream_headers)', () => {
      const [filter] = parse(recipeBlock('envoy.md', 'yaml', 'allowed_upstream_headers')) as {
        typed_config: {
          http_service: { authorization_response: { allowed_upstream_headers: { patterns: [] } } };
        };
      }[];
      const patterns =
        filter?.typed_config.http_service.authorization_response.allowed_upstream_headers.patterns;
      for (const name of NAMES)
        assert.ok(
          patterns?.some(p => covers(p, name)),
          name,
        );
    });

    it('Istio passes every verdict header to the upstream (headersToUpstreamOnAllow)', () => {
      const [provider] = parse(recipeBlock('istio.md', 'yaml', 'headersToUpstreamOnAllow')) as {
        envoyExtAuthzHttp: { headersToUpstreamOnAllow: string[] };
      }[];
      const patterns = provider?.envoyExtAuthzHttp.headersToUpstreamOnAllow;
      for (const name of NAMES)
        assert.ok(
          patterns?.some(p => covers(p, name)),
          name,
        );
    });
  });

  it('fails when a page lacks the recipe, rather than checking nothing', () => {
    assert.throws(() => recipeBlock('caddy.md', 'caddy', 'no such directive'), /0 ```caddy blocks/);
    assert.throws(() => recipeBlock('no-such-proxy.md', 'yaml', 'x'), /does not exist/);
  });
});
