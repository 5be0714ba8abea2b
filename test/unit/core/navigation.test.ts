import { strict as assert } from 'node:assert';
import { HeaderList, type HeaderEntry } from '../../../src/core/header-list';
import { isCorsPreflight, isPageNavigation } from '../../../src/core/navigation';

const HTML_ACCEPT = 'text/html,application/xhtml+xml,*/*;q=0.8';

describe('isPageNavigation', () => {
  const cases: readonly [
    name: string,
    method: string,
    headers: HeaderEntry[],
    expected: boolean,
  ][] = [
    ['a GET with Sec-Fetch-Mode navigate', 'GET', [['sec-fetch-mode', 'navigate']], true],
    ['a HEAD with Sec-Fetch-Mode navigate', 'HEAD', [['sec-fetch-mode', 'navigate']], true],
    ['a GET accepting text/html without Sec-Fetch-Mode', 'GET', [['accept', HTML_ACCEPT]], true],
    [
      'a GET with Sec-Fetch-Mode cors even when it accepts HTML',
      'GET',
      [
        ['accept', HTML_ACCEPT],
        ['sec-fetch-mode', 'cors'],
      ],
      false,
    ],
    [
      'a GET with Sec-Fetch-Mode navigate even when Accept lacks HTML',
      'GET',
      [
        ['accept', '*/*'],
        ['sec-fetch-mode', 'navigate'],
      ],
      true,
    ],
    [
      'a POST form submission',
      'POST',
      [
        ['accept', HTML_ACCEPT],
        ['sec-fetch-mode', 'navigate'],
      ],
      false,
    ],
    [
      'an XMLHttpRequest',
      'GET',
      [
        ['accept', HTML_ACCEPT],
        ['x-requested-with', 'XMLHttpRequest'],
      ],
      false,
    ],
    ['an XMLHttpRequest in lower case', 'GET', [['x-requested-with', 'xmlhttprequest']], false],
    [
      'a WebSocket upgrade',
      'GET',
      [
        ['upgrade', 'websocket'],
        ['sec-fetch-mode', 'navigate'],
      ],
      false,
    ],
    [
      'a request with Sec-WebSocket-Key',
      'GET',
      [
        ['sec-websocket-key', 'dGhlIHNhbXBsZSBub25jZQ=='],
        ['accept', HTML_ACCEPT],
      ],
      false,
    ],
    [
      'a gRPC call',
      'GET',
      [
        ['content-type', 'application/grpc+proto'],
        ['accept', HTML_ACCEPT],
      ],
      false,
    ],
    ['a GET accepting JSON only', 'GET', [['accept', 'application/json']], false],
    ['a GET without Accept', 'GET', [], false],
  ];
  for (const [name, method, headers, expected] of cases) {
    it(`${expected ? 'is' : 'is not'} a page navigation: ${name}`, () => {
      assert.equal(isPageNavigation(method, new HeaderList(headers)), expected);
    });
  }
});

describe('isCorsPreflight', () => {
  const cases: readonly [
    name: string,
    method: string,
    headers: HeaderEntry[],
    expected: boolean,
  ][] = [
    [
      'OPTIONS with Access-Control-Request-Method',
      'OPTIONS',
      [['access-control-request-method', 'PUT']],
      true,
    ],
    [
      'OPTIONS without Access-Control-Request-Method',
      'OPTIONS',
      [['origin', 'https://a.example']],
      false,
    ],
    [
      'GET with Access-Control-Request-Method',
      'GET',
      [['access-control-request-method', 'PUT']],
      false,
    ],
  ];
  for (const [name, method, headers, expected] of cases) {
    it(`${expected ? 'is' : 'is not'} a CORS preflight: ${name}`, () => {
      assert.equal(isCorsPreflight(method, new HeaderList(headers)), expected);
    });
  }
});
