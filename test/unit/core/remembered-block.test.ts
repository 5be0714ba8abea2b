import { strict as assert } from 'node:assert';
import type { BlockMemory, Visitor } from '../../../src/core/block-memory';
import { BucketKey } from '../../../src/core/enforcement';
import type { PolicyOutcome } from '../../../src/core/policy';
import {
  learnFrom,
  recallBlock,
  rememberedOutcome,
  visitorOfAttributes,
} from '../../../src/core/remembered-block';
import { TrustedProxies } from '../../../src/core/trusted-proxies';
import { makeAttributes } from './make-attributes';

const VISITOR: Visitor = {
  site: 'shop',
  clientIp: '203.0.113.7',
  userAgent: 'ua',
  duid: undefined,
};
const KEY = new BucketKey(Buffer.from('test-enforce-key'));
const REMEMBERED = { key: 'ip_ua', expiresAtMs: 1_000 } as const;

/** A memory that records what it is told and recalls what the test says. */
function spyMemory(recalls = true) {
  const told: string[] = [];
  const memory: BlockMemory = {
    recall: () => (recalls ? REMEMBERED : undefined),
    remember: (_visitor, ttlMs) => told.push(`remember ${ttlMs}`),
    forget: () => told.push('forget'),
  };
  return { memory, told };
}

function outcome(fields: Partial<PolicyOutcome>): PolicyOutcome {
  return { action: 'allow', reason: 'valid', rule: 'r', challenge: false, ...fields };
}

describe('remembered-block rules', () => {
  describe('learnFrom (what an RTI answer teaches the memory)', () => {
    const cases: [string, PolicyOutcome, string[]][] = [
      [
        'a block, carried out',
        outcome({ action: 'deny', reason: 'threat_block' }),
        ['remember 60'],
      ],
      [
        'a block whose strategy serves the challenge',
        outcome({ action: 'challenge', reason: 'threat_block' }),
        ['remember 60'],
      ],
      [
        "monitoring's would-block",
        outcome({ reason: 'monitoring', would: { action: 'deny', reason: 'threat_block' } }),
        ['remember 60'],
      ],
      [
        'a block outside enforce_percent',
        outcome({ reason: 'not_enforced', would: { action: 'deny', reason: 'threat_block' } }),
        [],
      ],
      ['benign', outcome({}), ['forget']],
      ['invalid but unlisted', outcome({ reason: 'threat_unlisted' }), ['forget']],
      ['a challenge', outcome({ action: 'challenge', reason: 'threat_challenge' }), ['forget']],
      ['a redirect rule', outcome({ action: 'redirect', reason: 'threat_redirect' }), ['forget']],
      [
        "monitoring's would-challenge",
        outcome({
          reason: 'monitoring',
          would: { action: 'challenge', reason: 'threat_challenge' },
        }),
        ['forget'],
      ],
    ];
    for (const [name, answer, expected] of cases) {
      it(`${name}: ${expected.join(', ') || 'nothing'}`, () => {
        const { memory, told } = spyMemory();
        learnFrom(answer, memory, VISITOR, 60);
        assert.deepEqual(told, expected);
      });
    }
  });

  describe('recallBlock (when the memory may answer)', () => {
    it('answers for every cause but a bug of ours', () => {
      const { memory } = spyMemory();
      assert.deepEqual(
        recallBlock(memory, VISITOR, 'rti_timeout', 'blocking', 100, KEY),
        REMEMBERED,
      );
      assert.deepEqual(
        recallBlock(memory, VISITOR, 'overloaded', 'monitoring', 0, KEY),
        REMEMBERED,
      );
      assert.equal(recallBlock(memory, VISITOR, 'internal_error', 'blocking', 100, KEY), undefined);
    });

    it('in blocking mode, only for a visitor in the share enforced now', () => {
      const { memory } = spyMemory();
      assert.equal(recallBlock(memory, VISITOR, 'rti_timeout', 'blocking', 0, KEY), undefined);
      const noIp = { ...VISITOR, clientIp: undefined };
      assert.deepEqual(recallBlock(memory, noIp, 'rti_timeout', 'blocking', 0, KEY), REMEMBERED);
    });

    it('answers nothing for a visitor not remembered', () => {
      const { memory } = spyMemory(false);
      assert.equal(recallBlock(memory, VISITOR, 'rti_timeout', 'blocking', 100, KEY), undefined);
    });
  });

  describe('rememberedOutcome (what a remembered block does)', () => {
    const navigation = () => true;
    const fetch = () => false;
    const redirect = { blockStrategy: 'redirect', redirectUrl: '/blocked' } as const;

    it('in blocking mode, what block_strategy does to a block of RTI', () => {
      const denied = { blockStrategy: 'access_denied', redirectUrl: undefined } as const;
      assert.deepEqual(rememberedOutcome(denied, 'blocking', navigation), {
        action: 'deny',
        challenge: false,
        reason: 'remembered_block',
      });
      assert.equal(rememberedOutcome(redirect, 'blocking', navigation).location, '/blocked');
      assert.equal(rememberedOutcome(redirect, 'blocking', fetch).action, 'deny');
      const hidden = { blockStrategy: 'not_found', redirectUrl: undefined } as const;
      assert.equal(rememberedOutcome(hidden, 'blocking', fetch).httpStatus, 404);
      const served = { blockStrategy: 'challenge', redirectUrl: undefined } as const;
      assert.equal(rememberedOutcome(served, 'blocking', navigation).action, 'challenge');
    });

    it('in monitoring mode, a fail-open saying what blocking would do', () => {
      assert.deepEqual(rememberedOutcome(redirect, 'monitoring', navigation), {
        action: 'allow',
        reason: 'fail_open',
        challenge: false,
        would: { action: 'redirect', reason: 'remembered_block' },
      });
    });
  });

  describe('visitorOfAttributes', () => {
    it('reads the trusted client IP, the User-Agent and the _cq_duid cookie', () => {
      const attrs = makeAttributes({
        peerAddress: '10.0.0.5',
        headers: [
          ['user-agent', 'bot/1'],
          ['x-forwarded-for', '192.0.2.1, 198.51.100.20'],
          ['cookie', 'x_cq_duid=no; _cq_duid=dev-1'],
        ],
      });
      const config = {
        trustedIpHeader: undefined,
        trustedProxies: TrustedProxies.parse(['10.0.0.0/8']),
      };
      assert.deepEqual(visitorOfAttributes('shop', attrs, config), {
        site: 'shop',
        clientIp: '198.51.100.20',
        userAgent: 'bot/1',
        duid: 'dev-1',
      });
    });
  });
});
