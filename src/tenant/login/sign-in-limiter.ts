import type { NextFunction, Request, Response } from 'express';
import { ipKeyGenerator, rateLimit, type RateLimitRequestHandler } from 'express-rate-limit';
import type { Database } from '../tenant-database.ts';
import { tenantError } from '../tenant-errors.ts';
import { DatabaseRateLimitStore, RateLimitCounters } from '../../platform/rate-limit-counters.ts';

export interface SignInLimiterOptions {
  /** Names the limit's counters in a shared store (`login-ip`). */
  name: string;
  /** On PostgreSQL the counters live there, shared by every tenant process. */
  database: Database;
  limit: number;
  windowMs: number;
  /** What the person reads when refused. */
  message: string;
  /** Default: the client address (IPv6 by /56, as express-rate-limit recommends). */
  key?: (req: Request) => string;
  skip?: (req: Request) => boolean;
  /** Count only responses that failed (status ≥ 400). */
  failuresOnly?: boolean;
  /** Default: a too_many_requests error, shown by the interaction router as a page in words. */
  refuse?: (req: Request, res: Response, next: NextFunction, message: string) => void;
}

/**
 * One rate limit of a sign-in form. On PostgreSQL, where several tenant processes may serve
 * one tenant, it is counted in the database; on SQLite (one process) in memory.
 */
export function signInLimiter(options: SignInLimiterOptions): RateLimitRequestHandler {
  const refuse = options.refuse ?? ((_req, _res, next, message) => next(tenantError('too_many_requests', message)));
  return rateLimit({
    windowMs: options.windowMs,
    limit: options.limit,
    legacyHeaders: false,
    standardHeaders: 'draft-7',
    skipSuccessfulRequests: options.failuresOnly ?? false,
    keyGenerator: options.key ?? ((req: Request) => ipKeyGenerator(req.ip ?? '')),
    ...(options.skip ? { skip: options.skip } : {}),
    handler: (req, res, next) => refuse(req, res, next, options.message),
    ...(options.database.dialect === 'postgres'
      ? { store: new DatabaseRateLimitStore(new RateLimitCounters(options.database, 'rate_limit_hits'), options.name) }
      : {}),
  });
}
