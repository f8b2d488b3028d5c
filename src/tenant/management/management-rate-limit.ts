import type { Database } from '../tenant-database.ts';
import type { Logger } from '../../platform/logger.ts';
import { RateLimitCounters } from '../../platform/rate-limit-counters.ts';
import { FixedWindowLimiter, SharedWindowLimiter, type WindowLimiter } from '../../platform/rate-limit.ts';

/** Shared-counter failures are logged at most this often (a database outage would otherwise log every request). */
const ERROR_LOG_EVERY_MS = 10_000;

/**
 * The Management API's per-client limit, per minute. On PostgreSQL, where several tenant
 * processes serve one tenant, it is counted in the tenant's `rate_limit_hits` table (in small
 * batches, see SharedWindowLimiter), so all of them together allow the limit; with SQLite (one
 * process) in memory.
 */
export function managementRateLimiter(database: Database, perMinute: number, logger: Logger): { limiter: WindowLimiter; close(): Promise<void> } {
  if (database.dialect !== 'postgres') return { limiter: new FixedWindowLimiter(perMinute, 60_000), close: async () => {} };
  let loggedAt = 0;
  const limiter = new SharedWindowLimiter(perMinute, 60_000, {
    counters: new RateLimitCounters(database, 'rate_limit_hits'),
    name: 'management-client',
    onError: (err) => {
      if (Date.now() - loggedAt < ERROR_LOG_EVERY_MS) return;
      loggedAt = Date.now();
      logger.warn({ event: 'rate_limit_counter_unavailable', err }, 'the shared Management API rate limit could not be counted; counting in this process');
    },
  });
  return { limiter, close: () => limiter.close() };
}
