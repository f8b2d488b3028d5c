import { STATUS_CODES } from 'node:http';
import type { ErrorRequestHandler, Response } from 'express';
import { z } from 'zod';
import { AccordError, type ErrorCode } from '../../platform/errors.ts';
import type { Logger } from '../../platform/logger.ts';

/** The one place where Accord's error codes become HTTP statuses. */
const STATUS: Record<ErrorCode, number> = {
  invalid_body: 400,
  invalid_query_string: 400,
  invalid_json: 400,
  payload_too_large: 413,
  invalid_token: 401,
  insufficient_scope: 403,
  subject_mismatch: 403,
  inexistent_user: 404,
  inexistent_identity: 404,
  inexistent_connection: 400,
  operation_not_supported: 400,
  user_exists: 409,
  password_required: 400,
  password_strength_error: 400,
  link_self: 400,
  link_secondary_not_found: 400,
  link_secondary_has_identities: 400,
  link_identity_in_use: 409,
  link_with_invalid: 400,
  link_with_alg: 400,
  link_with_aud: 400,
  link_with_iss: 400,
  link_body_ambiguous: 400,
  unlink_main_identity: 400,
  inexistent_client: 404,
  conflict: 409,
  csrf_invalid: 403,
  user_blocked: 403,
  invalid_credentials: 401,
  too_many_requests: 429,
  // Raised by the app only; listed so every code has one status.
  management_unavailable: 503,
  management_unauthorized: 502,
  management_error: 502,
  forbidden_origin: 403,
  sign_in_required: 401,
  sign_in_failed: 400,
  recent_login_required: 403,
  link_not_in_progress: 400,
  link_wrong_account: 400,
  link_login_stale: 400,
  link_proof_invalid: 400,
  link_email_unverified: 400,
  link_candidate_unknown: 400,
  link_already_linked: 400,
  link_failed: 502,
  not_found: 404,
  internal_error: 500,
};

export function httpStatusOf(code: ErrorCode): number {
  return STATUS[code];
}

/** Auth0's error body: `{statusCode, error, message, errorCode}`. */
export const auth0ErrorBody = z.object({
  statusCode: z.number().int(),
  error: z.string(),
  message: z.string(),
  errorCode: z.string(),
});

export function sendAuth0Error(res: Response, err: AccordError): void {
  const statusCode = STATUS[err.code];
  if (statusCode === 401) res.set('WWW-Authenticate', 'Bearer realm="api/v2"');
  res.status(statusCode).json({ statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message: err.message, errorCode: err.code });
}

/** Turns anything thrown below into Auth0's error body; unknown errors are logged, never shown. */
export function auth0ErrorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) return next(err);
    if (err instanceof AccordError) return sendAuth0Error(res, err);
    const e = err as { type?: string; status?: number } | null;
    if (e?.type === 'entity.too.large') return sendAuth0Error(res, new AccordError('payload_too_large', 'Request body larger than 100 kB.'));
    if (e?.type === 'entity.parse.failed') return sendAuth0Error(res, new AccordError('invalid_json', 'Invalid request payload JSON format'));
    if (e?.status && e.status >= 400 && e.status < 500) {
      return sendAuth0Error(res, new AccordError('invalid_body', 'The request could not be read.'));
    }
    logger.error({ err, method: req.method, path: req.path }, 'management api request failed');
    return sendAuth0Error(res, new AccordError('internal_error'));
  };
}
