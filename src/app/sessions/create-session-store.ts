import type { Store } from 'express-session';
import { createClient } from 'redis';
import type { Logger } from '../../platform/logger.ts';
import type { AppDatabase } from '../app-database.ts';
import type { RedisClient } from '../redis-rate-limit-store.ts';
import { ThrottledRedisStore } from './redis-session-store.ts';
import { KyselySessionStore } from './session-store.ts';

export const REDIS_SESSION_PREFIX = 'accord:sess:';
const DEFAULT_PRUNE_INTERVAL_MS = 15 * 60 * 1000;

export interface SessionStoreOptions {
  /** redis://… puts sessions in Redis; otherwise they live in the app's database. */
  redisUrl?: string | undefined;
  /** Their keys there: `<prefix><sid>`. Default REDIS_SESSION_PREFIX. */
  redisPrefix?: string;
  database: AppDatabase;
  logger?: Logger;
  /** How often the database store deletes expired rows; 0 turns pruning off. Default 15 minutes. */
  pruneIntervalMs?: number;
}

export interface SessionStoreHandle {
  store: Store;
  /** The Redis client the sessions live in, when they do: the app's shared rate limits count there too. */
  redis?: RedisClient;
  /** Quits the Redis client or stops the prune timer; the app database is the caller's to close. */
  close(): Promise<void>;
}

/**
 * Synchronous, so the app can build its middleware at once: node-redis queues commands issued
 * while it is still connecting, and a Redis that cannot be reached shows in the log.
 */
export function createSessionStore(options: SessionStoreOptions): SessionStoreHandle {
  if (options.redisUrl) {
    const client = createClient({ url: options.redisUrl });
    // node-redis emits 'error' on every failed (re)connect; unhandled, it would end the process.
    client.on('error', (err: unknown) => options.logger?.warn({ event: 'session_redis_error', err }, 'session Redis connection error'));
    client.connect().catch((err: unknown) => options.logger?.error({ event: 'session_redis_unavailable', err }, 'could not connect to the session Redis'));
    const store = new ThrottledRedisStore({ client, prefix: options.redisPrefix ?? REDIS_SESSION_PREFIX });
    return {
      store,
      redis: client,
      async close() {
        if (!client.isOpen) return;
        // close() lets pending commands finish; a client still connecting has none worth waiting for.
        if (client.isReady) await client.close();
        else client.destroy();
      },
    };
  }
  const store = new KyselySessionStore({
    db: options.database.db,
    pruneIntervalMs: options.pruneIntervalMs ?? DEFAULT_PRUNE_INTERVAL_MS,
    ...(options.logger ? { logger: options.logger } : {}),
  });
  return {
    store,
    async close() {
      store.close();
    },
  };
}
