import type { Store } from 'express-session';
import { createClient } from 'redis';
import type { Logger } from '../../platform/logger.ts';
import type { AppDatabase } from '../app-database.ts';
import type { RedisClient } from '../redis-rate-limit-store.ts';
import { RedisOnceClaims, SqlOnceClaims, type OnceClaims } from './once-claims.ts';
import { ThrottledRedisStore } from './redis-session-store.ts';
import type { SessionRevoker } from './session-owner.ts';
import { DEFAULT_SESSION_TTL_MS, KyselySessionStore } from './session-store.ts';

/** The default start of every Redis key of the app. */
export const REDIS_KEY_PREFIX = 'accord:';
export const REDIS_SESSION_PREFIX = `${REDIS_KEY_PREFIX}sess:`;
const DEFAULT_PRUNE_INTERVAL_MS = 15 * 60 * 1000;

export interface SessionStoreOptions {
  /** redis://… puts sessions in Redis; otherwise they live in the app's database. */
  redisUrl?: string | undefined;
  database: AppDatabase;
  logger?: Logger;
  /** How often the database store deletes expired rows; 0 turns pruning off. Default 15 minutes. */
  pruneIntervalMs?: number;
  /** The sessions' lifetime (SESSION_TTL): how long a back-channel revocation is remembered. Default 1 day. */
  sessionTtlMs?: number;
  /** Start of every Redis key (REDIS_PREFIX); default `accord:`. */
  redisKeyPrefix?: string;
}

export interface SessionStoreHandle {
  store: Store & SessionRevoker;
  /** "Only once" claims, in the same backend as the sessions (so shared by every app process). */
  claims: OnceClaims;
  /** The Redis client the sessions live in, when they do: the app's shared rate limits count there too. */
  redis?: RedisClient;
  /** Quits the Redis client or stops the prune timers; the app database is the caller's to close. */
  close(): Promise<void>;
}

/**
 * Synchronous, so the app can build its middleware at once: node-redis queues commands issued
 * while it is still connecting, and a Redis that cannot be reached shows in the log.
 */
export function createSessionStore(options: SessionStoreOptions): SessionStoreHandle {
  const sessionTtlMs = options.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS;
  if (options.redisUrl) {
    const client = createClient({ url: options.redisUrl });
    // node-redis emits 'error' on every failed (re)connect; unhandled, it would end the process.
    client.on('error', (err: unknown) => options.logger?.warn({ event: 'session_redis_error', err }, 'session Redis connection error'));
    client.connect().catch((err: unknown) => options.logger?.error({ event: 'session_redis_unavailable', err }, 'could not connect to the session Redis'));
    const keyPrefix = options.redisKeyPrefix ?? REDIS_KEY_PREFIX;
    const store = new ThrottledRedisStore({ client, keyPrefix, revocationTtlSeconds: Math.ceil(sessionTtlMs / 1000) });
    return {
      store,
      claims: new RedisOnceClaims(client, keyPrefix),
      redis: client,
      async close() {
        if (!client.isOpen) return;
        // close() lets pending commands finish; a client still connecting has none worth waiting for.
        if (client.isReady) await client.close();
        else client.destroy();
      },
    };
  }
  const pruneIntervalMs = options.pruneIntervalMs ?? DEFAULT_PRUNE_INTERVAL_MS;
  const store = new KyselySessionStore({
    db: options.database.db,
    pruneIntervalMs,
    revocationTtlMs: sessionTtlMs,
    ...(options.logger ? { logger: options.logger } : {}),
  });
  const claims = new SqlOnceClaims({ db: options.database.db, pruneIntervalMs, ...(options.logger ? { logger: options.logger } : {}) });
  return {
    store,
    claims,
    async close() {
      store.close();
      claims.close();
    },
  };
}
