// Finding A9 of the attacker's read of issue #20's work (fixed; a regression test): the shipped
// gateway configs excluded paths themselves, before any request reaches the server's canonical path, with the
// very patterns issue #20 rows 1-2 closed on our side. Istio's CUSTOM policy skips ext_authz for
// notPaths `*.css`, `*.js`, ... and `/static/*`; envoy.yaml disables ext_authz on prefix
// /static/. Envoy's normalize_path resolves only real dot segments (`..;` is not one), so
// `/checkout;x.css`, `/checkout/x.css` and `/static/..;/checkout` are never checked, and
// Tomcat/Spring-style backends route them to /checkout. Not run in a real Envoy or Istio (no
// binary here): this test reads the files as each proxy matches paths. Safe: no gateway-level
// exclusion matches a target the app may route to a protected page (leave exclusions to
// uri_exclusion, which reads every target's canonical path).

import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

const DEPLOY = join(__dirname, '..', '..', '..', 'deploy');

/** Targets Envoy's normalize_path and merge_slashes leave as they are; Tomcat reads /checkout. */
const ATTACKS = ['/checkout;x.css', '/checkout/x.css', '/checkout;.js', '/static/..;/checkout'];

/** Istio's path match: exact, `prefix*`, `*suffix`, or `*`. */
function istioPathMatches(pattern: string, path: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return path.startsWith(pattern.slice(0, -1));
  if (pattern.startsWith('*')) return path.endsWith(pattern.slice(1));
  return path === pattern;
}

function yamlDocuments(file: string): unknown[] {
  return parseAllDocuments(readFileSync(join(DEPLOY, file), 'utf8')).map(
    doc => doc.toJS() as unknown,
  );
}

/** Every value under `key` anywhere in `node`. */
function valuesOf(node: unknown, key: string): unknown[] {
  if (Array.isArray(node)) return node.flatMap(item => valuesOf(item, key));
  if (node === null || typeof node !== 'object') return [];
  return Object.entries(node as Record<string, unknown>).flatMap(([k, v]): unknown[] => [
    ...(k === key ? [v] : []),
    ...valuesOf(v, key),
  ]);
}

describe('A9: gateway-level exclusions in the shipped Istio and Envoy configs', () => {
  const notPaths = yamlDocuments('istio/authorization-policy.yaml')
    .flatMap(doc => valuesOf(doc, 'notPaths'))
    .flat() as string[];

  it('reads the Istio policy (control: it has notPaths)', () => {
    assert.ok(notPaths.length > 0);
  });

  for (const target of ATTACKS) {
    it(`Istio checks ${target}`, () => {
      const skipped = notPaths.filter(pattern => istioPathMatches(pattern, target));
      assert.deepEqual(skipped, [], `notPaths ${skipped.join(', ')} skip ext_authz for it`);
    });
  }

  for (const file of ['envoy/envoy.yaml', 'envoy/envoy-http.yaml']) {
    for (const target of ATTACKS) {
      it(`${file} checks ${target}`, () => {
        // A route whose ext_authz per-route config says disabled: true, matched by prefix.
        const routes = yamlDocuments(file)
          .flatMap(doc => valuesOf(doc, 'routes'))
          .flat() as {
          match?: { prefix?: string; path?: string };
          typed_per_filter_config?: Record<string, { disabled?: boolean }>;
        }[];
        const first = routes.find(route =>
          route.match?.prefix !== undefined
            ? target.startsWith(route.match.prefix)
            : route.match?.path === target,
        );
        const disabled = Object.values(first?.typed_per_filter_config ?? {}).some(
          config => config.disabled === true,
        );
        assert.equal(disabled, false, `route ${JSON.stringify(first?.match)} disables ext_authz`);
      });
    }
  }
});

// Finding B4 of the second attacker's read (fixed; a regression test): A9's event-type sibling.
// envoy.yaml tells the server `cheq_event_type: purchase` on the route `prefix: /checkout`;
// Envoy's normalize_path leaves `..;` and `.;` segments alone, so /x/..;/checkout and
// /.;/checkout take the catch-all route and are judged as page_load, while Tomcat/Spring-style
// backends serve /checkout. Safe: every target a backend may route to /checkout gets the
// event type /checkout gets (the same context_extensions, or none and the server's
// route_to_event_type, which maps such a path by its readings).
describe('B4: the event type the shipped envoy.yaml gives by route', () => {
  interface Route {
    match?: { prefix?: string; path?: string };
    typed_per_filter_config?: Record<
      string,
      { check_settings?: { context_extensions?: { cheq_event_type?: string } } }
    >;
  }
  const routes = yamlDocuments('envoy/envoy.yaml')
    .flatMap(doc => valuesOf(doc, 'routes'))
    .flat() as Route[];
  const eventTypeOf = (target: string): string | undefined => {
    const first = routes.find(route =>
      route.match?.prefix !== undefined
        ? target.startsWith(route.match.prefix)
        : route.match?.path === target,
    );
    return Object.values(first?.typed_per_filter_config ?? {})
      .map(config => config.check_settings?.context_extensions?.cheq_event_type)
      .find(type => type !== undefined);
  };

  for (const target of ['/x/..;/checkout', '/.;/checkout']) {
    it(`gives ${target} the event type of /checkout`, () => {
      assert.equal(eventTypeOf(target), eventTypeOf('/checkout'));
    });
  }
});

// Finding B6 of the second attacker's read (fixed; a regression test): in HTTP mode the server
// sees only the headers Envoy is allowed to forward, and neither envoy-http.yaml nor the Istio
// HTTP provider forwards a client's `x-cheq_decision` (or other `x-cheq_` name), so the server
// cannot list it in x-envoy-auth-headers-to-remove; headersToUpstreamOnAllow / allowed upstream
// headers overwrite only the dashed names it sets. Envoy allows underscores in header names by
// default, so the forged look-alike reaches the app, which CGI-style stacks (uWSGI, Puma before
// 6.4.3, Werkzeug) read as x-cheq-decision. docs/envoy.md says the Envoy paths remove it.
// Safe: the HTTP-mode configs forward every name under the prefix (and its `_` look-alike) to
// the server, or drop or reject names with underscores.
describe('B6: a forged x-cheq_ look-alike in the shipped HTTP-mode Envoy and Istio configs', () => {
  /** Dashed names the server sets or removes on every allow; their look-alikes it must see. */
  const FORGED = ['x-cheq_decision', 'x-cheq_invalid', 'x-cheq_challenge'];

  /** Envoy's StringMatcher on a lower-case header name. */
  function envoyMatches(pattern: Record<string, string>, name: string): boolean {
    if (pattern['exact'] !== undefined) return name === pattern['exact'];
    if (pattern['prefix'] !== undefined) return name.startsWith(pattern['prefix']);
    if (pattern['suffix'] !== undefined) return name.endsWith(pattern['suffix']);
    if (pattern['contains'] !== undefined) return name.includes(pattern['contains']);
    return false;
  }

  it('envoy-http.yaml lets the server see or drops each of them', () => {
    const docs = yamlDocuments('envoy/envoy-http.yaml');
    const underscores = valuesOf(docs, 'headers_with_underscores_action');
    const dropped = underscores.some(
      action => action === 'DROP_HEADER' || action === 'REJECT_REQUEST',
    );
    const patterns = valuesOf(docs, 'allowed_headers').flatMap(
      allowed => (allowed as { patterns?: Record<string, string>[] }).patterns ?? [],
    );
    assert.ok(patterns.length > 0, 'no allowed_headers found');
    const unseen = FORGED.filter(
      name =>
        !(dropped && name.includes('_')) && !patterns.some(pattern => envoyMatches(pattern, name)),
    );
    assert.deepEqual(unseen, [], 'reach the app, unseen by the server');
  });

  for (const file of ['istio/extension-providers.yaml', 'istio/istiod-values.yaml']) {
    it(`${file} lets the server see each of them`, () => {
      const included = valuesOf(
        yamlDocuments(file),
        'includeRequestHeadersInCheck',
      ).flat() as string[];
      assert.ok(included.length > 0, 'no includeRequestHeadersInCheck found');
      const unseen = FORGED.filter(
        name => !included.some(pattern => istioPathMatches(pattern, name)),
      );
      assert.deepEqual(unseen, [], 'reach the app, unseen by the server');
    });
  }
});
