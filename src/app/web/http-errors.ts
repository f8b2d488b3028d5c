import type { ErrorRequestHandler, RequestHandler } from 'express';
import { isDependencyError, RETRY_AFTER_SECONDS } from '../../platform/dependency-errors.ts';
import { AccordError } from '../../platform/errors.ts';
import type { Logger } from '../../platform/logger.ts';
import { appError } from '../app-errors.ts';
import { backPath, errorPageContent, type LinkAgain } from './error-pages.ts';

/** What a page says while the tenant, Redis or the app's database cannot be reached. */
export const UNAVAILABLE_MESSAGE = 'Sign-in is unavailable right now. Nothing was lost: try again in a minute.';

export const notFound: RequestHandler = (req, res) => {
  const error = appError('not_found', 'There is no page at this address.');
  const page = errorPageContent(error, {
    signedIn: Boolean(req.user),
    back: undefined,
    again: undefined,
    retry: undefined,
  });
  res.status(error.status).render('app/error', { ...page, code: error.code });
};

/**
 * The app's one mapping from an error to a page in words: the status from the error table
 * (app-errors.ts), the heading and the ways on from error-pages.ts; never a stack trace.
 * Unexpected errors are logged.
 */
export function errorPage(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    let status = 500;
    let code: string | undefined;
    let message = 'Something went wrong on our side. Nothing was changed; please try again.';
    if (isDependencyError(err) && !(err instanceof AccordError)) {
      // Redis, the app database or the tenant is down or too slow; logged once per outage where it was noticed.
      status = 503;
      message = UNAVAILABLE_MESSAGE;
    } else if (err instanceof AccordError) {
      status = err.status;
      code = err.code;
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
    const again = err instanceof AccordError ? (err.details?.again as LinkAgain | undefined) : undefined;
    const page = errorPageContent(
      { code, status, message },
      {
        signedIn: Boolean(req.user),
        back: backPath(req.get('referer'), req.get('host'), req.path),
        again,
        retry: req.method === 'GET' ? req.originalUrl : undefined,
      },
    );
    const { title } = page;
    res.status(status).set('Cache-Control', 'no-store');
    res.render('app/error', { ...page, code }, (renderError: Error | null, html?: string) => {
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
