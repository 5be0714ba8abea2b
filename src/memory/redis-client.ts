// A node-redis client for the redis_* settings, made the same way for the sharing (redis-sync) and
// for anything else that writes to the stream: TLS files, AUTH and database as configured; no
// reconnects of its own (the caller decides) and no queue while disconnected. node-redis itself
// is imported only when a client is wanted, so that a process without redis_url never pays for
// it (about 4 MB of heap; 2-4 MB of the idle server's RSS, 18 MB of a bare node's).

import type * as NodeRedis from 'redis';
import type { RedisConfig } from '../config/redis-config';

export type RedisModule = typeof NodeRedis;
export type RedisClient = ReturnType<RedisModule['createClient']>;

/** node-redis; imported on the first call (Node keeps it after). */
export function loadRedis(): Promise<RedisModule> {
  return import('redis');
}

/** Connecting, TLS and AUTH included. */
export const CONNECT_TIMEOUT_MS = 3000;

/** A client not yet connected; give it an 'error' listener before connect(). */
export function createRedisClient(redis: RedisModule, settings: RedisConfig): RedisClient {
  return redis.createClient({
    socket: {
      host: settings.host,
      port: settings.port,
      connectTimeout: CONNECT_TIMEOUT_MS,
      // The caller reconnects (redis-sync's run), so that a silent Redis is dropped the same way.
      reconnectStrategy: false,
      ...(settings.tls ? { tls: true, ...definedOnly(settings.tls) } : {}),
    },
    ...definedOnly({ username: settings.username, password: settings.password }),
    database: settings.database,
    // A command while disconnected fails at once instead of waiting for a reconnect.
    disableOfflineQueue: true,
    maintNotifications: 'disabled',
  });
}

/** The object without its undefined properties (exactOptionalPropertyTypes). */
function definedOnly<T extends object>(value: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
}
