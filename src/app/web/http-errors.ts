import type { ErrorRequestHandler, RequestHandler } from 'express';
import { isAccordError, type ErrorCode } from '../../platform/errors.ts';
import type { Logger } from '../../platform/logger.ts';

/** The one place the app turns an error code into an HTTP status. */
const STATUS: Partial<Record<ErrorCode, number>> = {
  invalid_body: 400,
  csrf_invalid: 403,
  forbidden_origin: 403,
  sign_in_required: 401,
  recent_login_required: 403,
  not_found: 404,
  inexistent_user: 404,
  inexistent_identity: 404,
  link_not_in_progress: 400,
  link_wrong_account: 400,
  link_login_stale: 400,
  link_proof_invalid: 400,
  link_email_unverified: 400,
  link_candidate_unknown: 400,
  link_already_linked: 400,
  link_secondary_has_identities: 400,
  link_identity_in_use: 409,
  unlink_main_identity: 400,
  link_failed: 502,
  too_many_requests: 429,
  management_unavailable: 503,
  management_unauthorized: 502,
  management_error: 502,
};

const TITLES: Partial<Record<number, string>> = {
  400: 'That did not work', 401: 'Please sign in', 403: 'Request refused', 404: 'Page not found',
  409: 'Already linked elsewhere', 429: 'Too many attempts', 502: 'Something went wrong', 503: 'Try again in a moment',
};

export const notFound: RequestHandler = (_req, res) => {
  res.status(404).render('app/error', { title: TITLES[404], message: 'There is no page at this address.', status: 404 });
};

/** Renders every error as a page in words; never a stack trace. Unexpected errors are logged. */
export function errorPage(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    let status = 500;
    let message = 'Something went wrong on our side. Nothing was changed; please try again.';
    if (isAccordError(err)) {
      status = STATUS[err.code] ?? 500;
      message = err.message;
      if (status >= 500) logger.warn({ code: err.code, details: err.details, path: req.path }, 'request failed');
    } else if (typeof (err as { status?: unknown })?.status === 'number' && (err as { status: number }).status < 500) {
      // Body parsers and similar: a bad request, described without internals.
      status = (err as { status: number }).status;
      message = status === 413 ? 'The form sent too much data.' : 'The request could not be read.';
    } else {
      logger.error({ err, path: req.path }, 'unexpected error');
    }
    if (res.headersSent) return;
    res.status(status).render('app/error', { title: TITLES[status] ?? 'Something went wrong', message, status });
  };
}
