import { strict as assert } from 'node:assert';
import { HeaderList } from '../../../src/core/header-list';
import { renderDenyBody } from '../../../src/core/deny-body';

function render(accept: string | undefined, requestId: string | undefined) {
  return renderDenyBody(
    new HeaderList(accept === undefined ? [] : [['accept', accept]]),
    requestId,
  );
}

describe('renderDenyBody', () => {
  it('renders HTML for a browser and names the request id', () => {
    const body = render('text/html,application/xhtml+xml,*/*;q=0.8', 'req-1');
    assert.equal(body.contentType, 'text/html; charset=utf-8');
    assert.match(body.text, /^<!doctype html>/);
    assert.match(body.text, /Access denied/);
    assert.match(body.text, /Reference: req-1\./);
  });

  it('escapes the request id in HTML', () => {
    const body = render('text/html', `<script>alert("x")</script>&'`);
    assert.equal(body.text.includes('<script>'), false);
    assert.equal(body.text.includes('"x"'), false);
    assert.match(body.text, /&#60;script&#62;alert\(&#34;x&#34;\)&#60;\/script&#62;&#38;&#39;/);
  });

  it('renders HTML without a reference when there is no request id', () => {
    const body = render('text/html', undefined);
    assert.equal(body.text.includes('Reference'), false);
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
