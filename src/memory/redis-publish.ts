// Appends an operator's changes to the Redis stream the replicas follow, as a replica of its own
// would (the forget command when no admin token is set but redis_url is): every replica applies
// them as a peer's. One connection, closed after; every step has a deadline.

import { randomUUID } from 'node:crypto';
import type { RedisConfig } from '../config/redis-config';
import { encodeChange, WIRE_FIELD } from './memory-change-wire';
import { createRedisClient, loadRedis } from './redis-client';
import { describeRedisError, withTimeout } from './redis-sync';
import type { MemoryChange } from './verdict-memory';

/** How long Redis may take to answer one XADD. */
const REPLY_TIMEOUT_MS = 3000;

/**
 * Appends `changes`, trimming the stream as the replicas do (about `maxEntries` entries).
 * @throws an Error saying why (never the password) when Redis cannot be reached, refuses the
 *   login, or does not answer in time
 */
export async function publishChanges(
  settings: RedisConfig,
  changes: readonly MemoryChange[],
  maxEntries: number,
): Promise<void> {
  const client = createRedisClient(await loadRedis(), settings);
  let failure: unknown;
  // An 'error' event without a listener would be thrown out of the client.
  client.on('error', (err: unknown) => (failure ??= err));
  try {
    await client.connect();
    // Not any replica's id: every replica applies what it did not send itself.
    const from = `forget-${randomUUID()}`;
    const trim = { strategy: 'MAXLEN', strategyModifier: '~', threshold: maxEntries } as const;
    for (const change of changes) {
      const text = encodeChange(change, from, Date.now());
      await withTimeout(
        client.xAdd(settings.stream, '*', { [WIRE_FIELD]: text }, { TRIM: trim }),
        REPLY_TIMEOUT_MS,
        'XADD',
      );
    }
  } catch (err: unknown) {
    throw new Error(describeRedisError(settings, failure ?? err));
  } finally {
    // Destroyed, not quit: a stopped Redis would never answer QUIT.
    if (client.isOpen) client.destroy();
  }
}
