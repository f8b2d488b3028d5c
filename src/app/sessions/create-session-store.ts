import type { Store } from 'express-session';
import type { Logger } from '../../platform/logger.ts';
import type { AppDatabase } from '../app-database.ts';
import type { RedisClient } from '../redis-rate-limit-store.ts';
import { connectRedis, type RedisTimeouts } from './redis-client.ts';
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
  /** Redis' connect and command timeouts; unset fields take the defaults (README). */
  redisTimeouts?: Partial<RedisTimeouts> | undefined;
}

export interface SessionStoreHandle {
  store: Store & SessionRevoker;
  /** "Only once" claims, in the same backend as the sessions (so shared by every app process). */
  claims: OnceClaims;
  /** The Redis client the sessions live in, when they do: the app's shared rate limits count there too. */
  redis?: RedisClient;
  /** With Redis: resolves if it answers a PING now (readiness). */
  pingRedis?: () => Promise<void>;
  /** With Redis: whether the client is connected now. */
  redisConnected?: () => boolean;
  /** Quits the Redis client or stops the prune timers; the app database is the caller's to close. */
  close(): Promise<void>;
}

/**
 * Opens the session store. With Redis, connects first (see connectRedis): a Redis that cannot be
 * reached within its connect timeout is a failed start, said in words.
 */
export async function createSessionStore(options: SessionStoreOptions): Promise<SessionStoreHandle> {
  const sessionTtlMs = options.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS;
  if (options.redisUrl) {
    const redis = await connectRedis({ url: options.redisUrl, timeouts: options.redisTimeouts, logger: options.logger });
    const client = redis.client;
    const keyPrefix = options.redisKeyPrefix ?? REDIS_KEY_PREFIX;
    const store = new ThrottledRedisStore({ client, keyPrefix, revocationTtlSeconds: Math.ceil(sessionTtlMs / 1000) });
    return {
      store,
      claims: new RedisOnceClaims(client, keyPrefix),
      redis: client,
      pingRedis: () => redis.ping(),
      redisConnected: () => redis.connected(),
      close: () => redis.close(),
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
      await Promise.all([store.close(), claims.close()]);
    },
  };
}
