import { STATUS_CODES } from 'node:http';
import type { ErrorRequestHandler, Response } from 'express';
import { z } from 'zod';
import { isDependencyError, RETRY_AFTER_SECONDS } from '../../platform/dependency-errors.ts';
import { AccordError } from '../../platform/errors.ts';
import { tenantError } from '../tenant-errors.ts';
import type { Logger } from '../../platform/logger.ts';

/** Auth0's error body: `{statusCode, error, message, errorCode}`. */
export const auth0ErrorBody = z.object({
  statusCode: z.number().int(),
  error: z.string(),
  message: z.string(),
  errorCode: z.string(),
});

export function sendAuth0Error(res: Response, err: AccordError): void {
  const statusCode = err.status;
  if (statusCode === 401) res.set('WWW-Authenticate', 'Bearer realm="api/v2"');
  if (statusCode === 503) res.set('Retry-After', String(RETRY_AFTER_SECONDS));
  res.status(statusCode).json({ statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message: err.message, errorCode: err.code });
}

/** Turns anything thrown below into Auth0's error body; unknown errors are logged, never shown. */
export function auth0ErrorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) return next(err);
    if (err instanceof AccordError) return sendAuth0Error(res, err);
    // The database (or another dependency) is down or too slow: logged once per outage where it is noticed.
    if (isDependencyError(err)) return sendAuth0Error(res, tenantError('temporarily_unavailable'));
    const e = err as { type?: string; status?: number } | null;
    if (e?.type === 'entity.too.large') return sendAuth0Error(res, tenantError('payload_too_large', 'Request body larger than 100 kB.'));
    if (e?.type === 'entity.parse.failed') return sendAuth0Error(res, tenantError('invalid_json', 'Invalid request payload JSON format'));
    if (e?.status && e.status >= 400 && e.status < 500) {
      return sendAuth0Error(res, tenantError('invalid_body', 'The request could not be read.'));
    }
    logger.error({ err, method: req.method, path: req.path }, 'management api request failed');
    return sendAuth0Error(res, tenantError('internal_error'));
  };
}
