import type { Request, RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit, type Store } from 'express-rate-limit';
import { appError } from '../app-errors.ts';
import { DatabaseRateLimitStore, RateLimitCounters } from '../../platform/rate-limit-counters.ts';
import type { AppDatabase } from '../app-database.ts';
import { RedisRateLimitStore, type RedisClient } from '../redis-rate-limit-store.ts';

const WINDOW_MS = 15 * 60_000;

/**
 * Where link attempts are counted: in the session store's backend, which every app process
 * serving these sessions already shares — Redis, or the app's PostgreSQL database. With SQLite
 * (one process) in memory.
 */
export function linkAttemptStore(options: { redis?: { client: RedisClient; prefix: string } | undefined; database?: AppDatabase }): Store | undefined {
  if (options.redis) return new RedisRateLimitStore(options.redis.client, options.redis.prefix);
  if (options.database?.dialect === 'postgres')
    return new DatabaseRateLimitStore(new RateLimitCounters(options.database, 'app_rate_limit_hits'), 'link-attempts');
  return undefined;
}

/** Link attempts per signed-in user (else per address) per 15 minutes; then a 429 page in words. */
export function linkAttemptLimiter(options: { limit: number; store: Store | undefined }): RequestHandler {
  return rateLimit({
    windowMs: WINDOW_MS,
    limit: options.limit,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    keyGenerator: (req: Request) => req.user?.user_id ?? ipKeyGenerator(req.ip ?? ''),
    handler: (_req, _res, next) => next(appError('too_many_requests', 'Too many link attempts. Wait 15 minutes, then try again.')),
    // The store is the session store's backend: if it is down, the request has no session to
    // act on anyway. Let it through to say so rather than failing here first.
    passOnStoreError: true,
    ...(options.store ? { store: options.store } : {}),
  });
}
