import { strict as assert } from 'node:assert';
import { redactUrl } from '../../../src/config/redact-url';

describe('redactUrl', () => {
  const CASES: readonly [string, string][] = [
    [
      'https://user:pw@rti.example/v1?apiKey=k&mode=x#frag',
      'https://<redacted>@rti.example/v1?apiKey=<redacted>&mode=<redacted>#<redacted>',
    ],
    ['https://token@host.example/', 'https://<redacted>@host.example/'],
    ['https://www.example.com/blocked', 'https://www.example.com/blocked'],
    ['http://127.0.0.1:8080', 'http://127.0.0.1:8080'],
    ['/blocked?ref=shop&debug&empty=', '/blocked?ref=<redacted>&debug&empty='],
    ['/verify#step-2', '/verify#<redacted>'],
    ['/blocked', '/blocked'],
    ['https://host.example/?a=b=c', 'https://host.example/?a=<redacted>'],
    // The path keeps an @ that is not user info.
    ['https://host.example/@user?x=1', 'https://host.example/@user?x=<redacted>'],
    // Not a URL: as it is.
    ['monitoring', 'monitoring'],
    ['{"/checkout?x":"purchase"}', '{"/checkout?x":"purchase"}'],
    ['', ''],
  ];
  for (const [given, shown] of CASES) {
    it(`shows ${JSON.stringify(given)} as ${JSON.stringify(shown)}`, () => {
      assert.equal(redactUrl(given), shown);
    });
  }
});
