import type { ErrorRequestHandler, Response } from 'express';
import { isDependencyError, RETRY_AFTER_SECONDS } from '../platform/dependency-errors.ts';
import type { Logger } from '../platform/logger.ts';

/** The words of every page that says the tenant cannot sign anyone in right now. */
export const UNAVAILABLE_PAGE = {
  title: 'Sign-in is unavailable',
  message: 'Sign-in is unavailable right now. Nothing was lost: try again in a minute.',
};

const FAILED_PAGE = {
  title: 'Something went wrong',
  message: 'Something went wrong on our side. Go back to the application and try again.',
};

/** Sets the status and headers of a dependency outage's answer (503, Retry-After, never cached). */
export function markUnavailable(res: Response): void {
  res.status(503).set('Retry-After', String(RETRY_AFTER_SECONDS)).set('Cache-Control', 'no-store');
}

/**
 * The last handler of the tenant's Express app: whatever a route or router passes on ends here
 * as a page in words (a 503 with Retry-After when a dependency is down), never as Express's
 * default page with its stack trace and the database's address. If the page itself cannot be
 * rendered, the words go out as plain text.
 */
export function finalErrorHandler(options: { logger: Logger; tenantName: string }): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const unavailable = isDependencyError(err);
    const status = unavailable ? 503 : (clientErrorStatus(err) ?? 500);
    // Outages are logged once by the pool or client that saw them, not once per request.
    if (status === 500) options.logger.error({ err, method: req.method, path: req.path }, 'request failed');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (unavailable) markUnavailable(res);
    else res.status(status).set('Cache-Control', 'no-store');
    const page = unavailable
      ? UNAVAILABLE_PAGE
      : status === 500
        ? FAILED_PAGE
        : { title: 'That did not work', message: 'The request could not be read. Go back to the application and try again.' };
    res.render('tenant/message', { tenantName: options.tenantName, confirming: false, ...page }, (renderError: Error | null, html?: string) => {
      if (renderError) {
        options.logger.error({ err: renderError }, 'error page could not be rendered');
        res.type('text/plain').send(`${page.title}\n\n${page.message}\n`);
        return;
      }
      res.type('html').send(html);
    });
  };
}

/** Body parsers and similar mark a bad request with a 4xx `status`. */
function clientErrorStatus(err: unknown): number | undefined {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}
