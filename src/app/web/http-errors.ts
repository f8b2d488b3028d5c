import type { ErrorRequestHandler, RequestHandler } from 'express';
import { isDependencyError, RETRY_AFTER_SECONDS } from '../../platform/dependency-errors.ts';
import { AccordError } from '../../platform/errors.ts';
import type { Logger } from '../../platform/logger.ts';

const TITLES: Partial<Record<number, string>> = {
  400: 'That did not work',
  401: 'Please sign in',
  403: 'Request refused',
  404: 'Page not found',
  409: 'Already linked elsewhere',
  429: 'Too many attempts',
  502: 'Something went wrong',
  503: 'Try again in a moment',
};

/** What a page says while the tenant, Redis or the app's database cannot be reached. */
export const UNAVAILABLE_MESSAGE = 'Sign-in is unavailable right now. Nothing was lost: try again in a minute.';

export const notFound: RequestHandler = (_req, res) => {
  res.status(404).render('app/error', { title: TITLES[404], message: 'There is no page at this address.', status: 404 });
};

/** Renders every error as a page in words; never a stack trace. Unexpected errors are logged. */
export function errorPage(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    let status = 500;
    let message = 'Something went wrong on our side. Nothing was changed; please try again.';
    if (isDependencyError(err) && !(err instanceof AccordError)) {
      // Redis, the app database or the tenant is down or too slow; logged once per outage where it was noticed.
      status = 503;
      message = UNAVAILABLE_MESSAGE;
    } else if (err instanceof AccordError) {
      status = err.status;
      message = err.message;
      if (status >= 500) logger.warn({ code: err.code, details: err.details, path: req.path }, 'request failed');
    } else if (typeof (err as { status?: unknown })?.status === 'number' && (err as { status: number }).status < 500) {
      // Body parsers and similar: a bad request, described without internals.
      status = (err as { status: number }).status;
      message = status === 413 ? 'The form sent too much data.' : 'The request could not be read.';
    } else {
      logger.error({ err, path: req.path }, 'unexpected error');
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (status === 503) res.set('Retry-After', String(RETRY_AFTER_SECONDS));
    const title = TITLES[status] ?? 'Something went wrong';
    res.status(status).set('Cache-Control', 'no-store');
    res.render('app/error', { title, message, status }, (renderError: Error | null, html?: string) => {
      // Never Express's default page (a stack trace): the same words as text.
      if (renderError) {
        logger.error({ err: renderError }, 'error page could not be rendered');
        res.type('text/plain').send(`${title}\n\n${message}\n`);
        return;
      }
      res.type('html').send(html);
    });
  };
}
