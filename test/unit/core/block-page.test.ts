import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import {
  blockPageTemplate,
  incidentIds,
  renderBlockAnswer,
  type BlockPageTemplate,
} from '../../../src/core/block-page';
import { HeaderList, type HeaderEntry } from '../../../src/core/header-list';

function answer(
  accept: string | undefined,
  requestId: string | undefined,
  more: { rayId?: string; cookie?: string; template?: BlockPageTemplate } = {},
) {
  const entries: HeaderEntry[] = [];
  if (accept !== undefined) entries.push(['accept', accept]);
  if (more.cookie !== undefined) entries.push(['cookie', more.cookie]);
  const headers = new HeaderList(entries);
  return renderBlockAnswer(headers, incidentIds(headers, requestId, more.rayId), more.template);
}

function render(accept: string | undefined, requestId: string | undefined) {
  return answer(accept, requestId).body;
}

/** The hashes a CSP must list to allow exactly the page's inline elements of `tag`. */
function inlineHashes(html: string, tag: 'style' | 'script'): string[] {
  const pattern = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g');
  return [...html.matchAll(pattern)].map(
    ([, content]) =>
      `'sha256-${createHash('sha256')
        .update(content ?? '')
        .digest('base64')}'`,
  );
}

describe('block page', () => {
  it('renders the block page for a browser with the request id, ray id and session id', () => {
    const { body, clientHeaders } = answer('text/html,application/xhtml+xml,*/*;q=0.8', 'req-1', {
      rayId: 'ray-9',
      cookie: 'a=1; x_cq_duid=not-this; _cq_duid=duid-7; _cq_duidx=other',
    });
    assert.equal(body.contentType, 'text/html; charset=utf-8');
    assert.match(body.text, /^<!doctype html>/);
    assert.match(body.text, /Access denied/);
    assert.match(body.text, /<dt>Request id<\/dt><dd>req-1<\/dd>/);
    assert.match(body.text, /<dt>Ray id<\/dt><dd>ray-9<\/dd>/);
    assert.match(body.text, /<dt>Session id<\/dt><dd>duid-7<\/dd>/);
    const headers = new Map(clientHeaders);
    assert.equal(headers.get('x-frame-options'), 'DENY');
    assert.equal(headers.get('x-content-type-options'), 'nosniff');
    assert.equal(headers.get('referrer-policy'), 'no-referrer');
    const csp = headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /frame-ancestors 'none'/);
    const styles = inlineHashes(body.text, 'style');
    assert.equal(styles.length, 1);
    assert.ok(csp.includes(`style-src ${styles.join(' ')};`), csp);
    assert.ok(csp.includes(`script-src 'none';`), csp);
  });

  it('shows no session id without CHEQ cookies', () => {
    const { body } = answer('text/html', 'req-1', { cookie: 'x_cq_duid=not-cheq' });
    assert.equal(body.text.includes('Session id'), false);
    assert.equal(body.text.includes('not-cheq'), false);
  });

  it('escapes the request id in HTML', () => {
    const body = render('text/html', `<script>alert("x")</script>&'`);
    assert.equal(body.text.includes('<script>'), false);
    assert.equal(body.text.includes('"x"'), false);
    assert.match(body.text, /&#60;script&#62;alert\(&#34;x&#34;\)&#60;\/script&#62;&#38;&#39;/);
  });

  it('renders HTML without ids when there are none', () => {
    const body = render('text/html', undefined);
    assert.equal(body.text.includes('<dt>'), false);
  });

  it('fills a template, escaping every value a client can choose', () => {
    const template = blockPageTemplate(
      '<html><head><style>p{color:red}</style></head><body><p>{{status}} {{request_id}}</p>' +
        '<a title="{{session_id}}">{{ray_id}}</a><script>console.log(1)</script></body></html>',
    );
    const { body, clientHeaders } = answer('text/html', '<img src=x onerror=alert(1)>', {
      rayId: 'r"ay',
      cookie: '_cq_duid="><script>alert(2)</script>\'`',
      template,
    });
    assert.equal(
      body.text,
      '<html><head><style>p{color:red}</style></head><body><p>403 &#60;img src=x ' +
        'onerror=alert(1)&#62;</p><a title="&#34;&#62;&#60;script&#62;alert(2)&#60;/script&#62;' +
        '&#39;&#96;">r&#34;ay</a><script>console.log(1)</script></body></html>',
    );
    const csp = new Map(clientHeaders).get('content-security-policy') ?? '';
    assert.ok(csp.includes(`script-src ${inlineHashes(template.html, 'script')[0]};`), csp);
    assert.ok(csp.includes(`style-src ${inlineHashes(template.html, 'style')[0]};`), csp);
  });

  it('cuts an id a client chose to 128 characters', () => {
    const { body } = answer('text/html', 'r', { cookie: `_cq_duid=${'d'.repeat(500)}` });
    assert.match(body.text, new RegExp(`<dd>${'d'.repeat(128)}</dd>`));
    assert.equal(body.text.includes('d'.repeat(129)), false);
  });

  it('renders JSON for a client that accepts JSON', () => {
    const body = render('application/json', 'req-2');
    assert.equal(body.contentType, 'application/json');
    assert.deepEqual(JSON.parse(body.text), { error: 'access_denied', requestId: 'req-2' });
  });

  it('renders JSON for a +json media type and keeps quotes in the id valid JSON', () => {
    const body = render('application/problem+json', 'a"b');
    assert.equal(body.contentType, 'application/json');
    assert.deepEqual(JSON.parse(body.text), { error: 'access_denied', requestId: 'a"b' });
  });

  it('renders JSON without requestId when there is none', () => {
    assert.deepEqual(JSON.parse(render('application/json', undefined).text), {
      error: 'access_denied',
    });
  });

  it('prefers HTML when both HTML and JSON are accepted', () => {
    assert.equal(
      render('application/json, text/html', 'r').contentType,
      'text/html; charset=utf-8',
    );
  });

  const plain: readonly [string, string | undefined][] = [
    ['no Accept', undefined],
    ['Accept */*', '*/*'],
    ['Accept text/plain', 'text/plain'],
    ['Accept image/png', 'image/png'],
  ];
  for (const [name, accept] of plain) {
    it(`renders plain text for ${name}`, () => {
      const body = render(accept, 'req-3');
      assert.equal(body.contentType, 'text/plain; charset=utf-8');
      assert.equal(body.text, 'Access denied. Reference: req-3.\n');
    });
  }

  it('renders plain text without a reference when there is no request id', () => {
    assert.equal(render(undefined, undefined).text, 'Access denied.\n');
  });
});
