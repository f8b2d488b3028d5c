import type { ErrorRequestHandler, RequestHandler } from 'express';
import { httpStatusOf, isAccordError } from '../../platform/errors.ts';
import type { Logger } from '../../platform/logger.ts';

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
      status = httpStatusOf(err.code);
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
